"""The actor-critic's policy heads against torch.distributions (the reference for the plain
tensor formulas it uses), values and gradients."""
import gymnasium
import pytest
import torch

from pyrl.nn import ActorCritic


@pytest.mark.parametrize("space", [gymnasium.spaces.Discrete(5), gymnasium.spaces.Box(-1, 1, (3,))],
                         ids=["categorical", "gaussian"])
def test_logp_and_entropy_match_torch_distributions(space):
    torch.manual_seed(0)
    model = ActorCritic((6,), space, hidden=16).double()
    if not model.discrete:
        with torch.no_grad():
            model.log_std.copy_(torch.tensor([-0.5, 0.0, 0.7]))
    feats = torch.randn(32, 16, dtype=torch.float64, requires_grad=True)       # [M,hidden]
    out = model.policy(feats)
    if model.discrete:
        ref = torch.distributions.Categorical(logits=out)
        actions = torch.randint(0, 5, (32,))
    else:
        ref = torch.distributions.Normal(out, model.log_std.exp().expand_as(out))
        actions = torch.randn(32, 3, dtype=torch.float64)
    want_logp, want_ent = ref.log_prob(actions), ref.entropy()
    if not model.discrete:
        want_logp, want_ent = want_logp.sum(-1), want_ent.sum(-1)
    logp, ent = model._logp_entropy(model._heads(feats), actions)
    torch.testing.assert_close(logp, want_logp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ent, want_ent, rtol=1e-12, atol=1e-12)
    params = [feats, *model.policy.parameters()] + ([] if model.discrete else [model.log_std])
    got = torch.autograd.grad((logp * 0.7 + ent * 0.3).sum(), params)
    want = torch.autograd.grad((want_logp * 0.7 + want_ent * 0.3).sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_act_samples_from_the_policy():
    # Sampled categorical actions follow softmax(logits): a chi-square-free check with a fixed
    # generator and many draws (the frequencies land within 0.01 of the probabilities).
    torch.manual_seed(1)
    model = ActorCritic((4,), gymnasium.spaces.Discrete(3), hidden=8)
    with torch.no_grad():
        model.policy.weight.zero_()
        model.policy.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    obs = torch.zeros(20000, 4)
    gen = torch.Generator().manual_seed(0)
    action, _, logp, _ = model.act(obs, model.initial_state(20000), torch.zeros(20000, dtype=torch.bool), gen)
    probs = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    freq = torch.bincount(action, minlength=3).float() / 20000
    torch.testing.assert_close(freq, probs, rtol=0, atol=0.01)
    torch.testing.assert_close(logp, probs.log()[action])


@pytest.mark.parametrize("obs_shape, space, arch", [
    ((4,), gymnasium.spaces.Discrete(3), dict()),
    ((4,), gymnasium.spaces.Discrete(3), dict(rnn=True, norm="layernorm")),
    ((5,), gymnasium.spaces.Box(-1, 1, (2,)), dict(rnn=True)),
    ((4, 84, 84), gymnasium.spaces.Discrete(6), dict(norm="layernorm")),
    ((4,), gymnasium.spaces.Discrete(3), dict(rnn=True, norm="rmsnorm")),
    ((4,), gymnasium.spaces.Discrete(3), dict(rnn=True, norm="batchnorm")),
    ((4,), gymnasium.spaces.Discrete(3), dict(separate_critic=True)),
    ((4,), gymnasium.spaces.Discrete(3), dict(rnn=True, norm="layernorm", separate_critic=True)),
    ((4,), gymnasium.spaces.Discrete(3), dict(rnn=True, norm="batchnorm", separate_critic=True)),
    ((4, 84, 84), gymnasium.spaces.Discrete(6), dict(separate_critic=True)),
], ids=["ff", "lngru", "gru-gaussian", "cnn", "rmsgru", "bn-gru", "ff-critic", "lngru-critic", "bn-gru-critic",
        "cnn-critic"])
def test_the_model_makes_every_tensor_on_its_device(obs_shape, space, arch):
    # On the meta device (shapes, no data) a tensor the model makes on the CPU meets the
    # model's own and raises, as it would on a GPU: acting, bootstrapping and the training pass
    # run end to end without one.
    model = ActorCritic(obs_shape, space, hidden=16, **arch).to("meta")
    N, T = 4, 3
    obs_dtype = torch.uint8 if len(obs_shape) == 3 else torch.float32
    obs = torch.zeros(N, *obs_shape, dtype=obs_dtype, device="meta")                  # [N,...]
    reset = torch.zeros(N, dtype=torch.bool, device="meta")                           # [N]
    state = model.initial_state(N)                                                    # [N,H]
    action, value, logp, state = model.act(obs, state, reset)
    value_again = model.value(obs, state, reset)
    actions = action.unsqueeze(0).expand(T, *action.shape)                           # [T,N,...]
    logps, ent, values = model.evaluate(obs.unsqueeze(0).expand(T, *obs.shape), state,
                                        reset.unsqueeze(0).expand(T, N), actions)
    for t in (state, action, value, logp, value_again, logps, ent, values):
        assert t.device.type == "meta"
    assert values.shape == logps.shape == ent.shape == (T, N)


@pytest.mark.parametrize("rnn", [False, True], ids=["ff", "lngru"])
def test_a_separate_critic_shares_nothing_with_the_policy(rnn):
    # The value reads only the critic's encoder (and core), the policy only its own; the state
    # [N,2H] carries the actor's half first, and acting, bootstrapping and the training pass
    # agree on both halves.
    torch.manual_seed(0)
    model = ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=8, rnn=rnn, norm="layernorm" if rnn else "none",
                        separate_critic=True)
    T, N = 3, 5
    obs = torch.randn(T, N, 4)
    reset = torch.zeros(T, N, dtype=torch.bool)
    reset[1, 2] = True                                                            # an episode starts there
    state0 = torch.randn(N, 16) if rnn else model.initial_state(N)
    assert model.initial_state(N).shape == (N, 16 if rnn else 0)
    state, values, logps = state0, [], []
    with torch.no_grad():
        for t in range(T):
            action = torch.zeros(N, dtype=torch.long)
            _, v, _, _ = model.act(obs[t], state, reset[t])
            torch.testing.assert_close(model.value(obs[t], state, reset[t]), v)
            feats, vfeats, state = model.step(obs[t], state, reset[t])
            values.append(v)
            logps.append(model._logp_entropy(model._heads(feats), action)[0])
    logp, _, value = model.evaluate(obs, state0, reset, torch.zeros(T, N, dtype=torch.long))
    torch.testing.assert_close(value, torch.stack(values))
    torch.testing.assert_close(logp, torch.stack(logps))
    actor = [p for n, p in model.named_parameters() if not n.startswith(("critic_", "value_head"))]
    critic = [p for n, p in model.named_parameters() if n.startswith(("critic_", "value_head"))]
    assert critic and actor
    for p, g in zip(actor, torch.autograd.grad(value.sum(), actor, allow_unused=True)):
        assert g is None or not g.any()
    for p, g in zip(critic, torch.autograd.grad(logp.sum(), critic, allow_unused=True)):
        assert g is None or not g.any()


# ---- BatchNorm for on-policy, asynchronous RL: which statistics acting and learning use ----

def _assert_learning_replays_acting(model, obs, state0, reset, g, atol):
    """Act T steps on obs [T,N,I] from state0 [N,S], then evaluate the rollout: the training pass
    must give the log-probs and values the policy acted with."""
    state, acted, values = state0, [], []
    with torch.no_grad():
        for t in range(obs.shape[0]):
            a, v, logp, state = model.act(obs[t], state, reset[t], generator=g)
            acted.append((a, logp))
            values.append(v)
    actions = torch.stack([a for a, _ in acted])
    logps, _, vals = model.evaluate(obs, state0, reset, actions)
    torch.testing.assert_close(logps, torch.stack([lp for _, lp in acted]), rtol=1e-5, atol=atol)
    torch.testing.assert_close(vals, torch.stack(values), rtol=1e-5, atol=atol)


def _bn_model(rnn=False):
    torch.manual_seed(0)
    model = ActorCritic((4,), gymnasium.spaces.Discrete(3), hidden=8, rnn=rnn, norm="batchnorm")
    with torch.no_grad():  # running statistics far from the batches' own, so a mix-up shows
        model.norm.running_mean.uniform_(-0.5, 0.5)
        model.norm.running_var.uniform_(0.1, 2.0)
    return model


@pytest.mark.parametrize("rnn", [False, True])
def test_batchnorm_acts_and_learns_with_the_running_statistics(rnn):
    from pyrl.nn import RunningBatchNorm

    model = _bn_model(rnn)
    assert isinstance(model.norm, RunningBatchNorm)
    assert model.core is None or model.core.gamma_ih is None  # the GRU core stays un-normalised
    T, N = 5, 6
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(T, N, 4, generator=g)
    reset = torch.zeros(T, N, dtype=torch.bool)
    state0 = model.initial_state(N)
    # acting: an env's action distribution does not depend on the other envs in its batch
    with torch.no_grad():
        alone = model.value(obs[0, :1], state0[:1], reset[0, :1])
        together = model.value(obs[0], state0, reset[0])
    torch.testing.assert_close(alone, together[:1])
    # ... and is the features normalised with the running statistics, by hand
    feats = model.encoder(obs[0])
    by_hand = model.value_head((feats - model.norm.running_mean) / torch.sqrt(model.norm.running_var + 1e-5)
                               * model.norm.weight + model.norm.bias).squeeze(-1)
    if not rnn:
        torch.testing.assert_close(together, by_hand.detach())
    # learning: the training pass reproduces the log-probs and values the policy acted with
    _assert_learning_replays_acting(model, obs, state0, reset, g, atol=1e-6)
    # the training pass recorded this batch's feature moments; absorbing them moves the statistics
    mean, var = model.norm.batch_moments
    feats = model.encoder(obs.reshape(T * N, 4)).detach()
    torch.testing.assert_close(mean, feats.mean(0))
    torch.testing.assert_close(var, feats.var(0, unbiased=False))
    target = _bn_model(rnn)
    target.absorb_batch_statistics(model)  # the first batch: a cumulative average, so equal to it
    torch.testing.assert_close(target.norm.running_mean, mean)
    torch.testing.assert_close(target.norm.running_var, var)
    target.absorb_batch_statistics(model)
    assert target.norm.batches.item() == 2


@pytest.mark.parametrize("norm, feature_norm, core_norm", [
    ("none", torch.nn.Identity, "none"), ("layernorm", torch.nn.LayerNorm, "layernorm"),
    ("rmsnorm", torch.nn.RMSNorm, "rmsnorm"), ("batchnorm", None, "none")])
def test_each_norm_sits_where_it_should(norm, feature_norm, core_norm):
    from pyrl.nn import RunningBatchNorm

    model = ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=8, rnn=True, norm=norm)
    assert isinstance(model.norm, feature_norm or RunningBatchNorm)
    assert model.core.norm == core_norm
    assert (model.core.gamma_ih is not None) == (core_norm != "none")


# ---- observation normalisation (VecNormalize's): its statistics, and which of them acting and learning use ----

def test_obs_norm_keeps_the_statistics_sb3_keeps():
    # the reference is SB3's own RunningMeanStd, fed the same batches (VecNormalize's start: count 1e-4)
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    from pyrl.nn import RunningObsNorm

    norm, ref = RunningObsNorm(3), RunningMeanStd(shape=(3,))
    g = torch.Generator().manual_seed(0)
    for m, loc, scale in ((16, 5.0, 3.0), (40, -2.0, 0.5), (1, 0.0, 1.0), (7, 100.0, 10.0)):
        batch = torch.randn(m, 3, generator=g, dtype=torch.float64) * scale + loc  # [M,I]
        norm(batch.float(), record=True)
        norm.absorb(*norm.batch_moments)
        ref.update(batch.float().double().numpy())
        torch.testing.assert_close(norm.mean, torch.as_tensor(ref.mean, dtype=torch.float32))
        torch.testing.assert_close(norm.var, torch.as_tensor(ref.var, dtype=torch.float32))
        assert norm.count.item() == pytest.approx(ref.count)
    # and VecNormalize's transform: (x - mean) / sqrt(var + 1e-8), clipped to +-10
    x = torch.tensor([[0.0, 1e6, -1e6], [1.0, 2.0, 3.0]])
    want = ((x.double().numpy() - ref.mean) / (ref.var + 1e-8) ** 0.5).clip(-10, 10)
    torch.testing.assert_close(norm(x), torch.as_tensor(want, dtype=torch.float32))
    assert norm(x)[0, 1] == 10 and norm(x)[0, 2] == -10


def _on_model(rnn, discrete=True):
    torch.manual_seed(0)
    space = gymnasium.spaces.Discrete(3) if discrete else gymnasium.spaces.Box(-1, 1, (2,))
    model = ActorCritic((4,), space, hidden=8, rnn=rnn, norm="layernorm", separate_critic=True, obs_norm=True)
    with torch.no_grad():  # statistics far from the identity, so a path that skips them shows
        model.obs_norm.mean.uniform_(-3, 3)
        model.obs_norm.var.uniform_(0.01, 9.0)
        model.obs_norm.count.fill_(50.0)
    return model


@pytest.mark.parametrize("rnn", [False, True])
@pytest.mark.parametrize("discrete", [True, False])
def test_obs_norm_acts_and_learns_with_the_running_statistics(rnn, discrete):
    model = _on_model(rnn, discrete)
    T, N = 5, 6
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(T, N, 4, generator=g) * 4 + 2  # raw observations [T,N,I]
    reset = torch.zeros(T, N, dtype=torch.bool)
    reset[2, 1] = True
    state0 = model.initial_state(N)
    st = model.obs_norm
    normalised = ((obs[0] - st.mean) / torch.sqrt(st.var + 1e-8)).clamp(-10, 10)
    # acting (the fused step and the eager one) sees the normalised observations: a model without
    # obs_norm, the same weights, given them by hand, acts the same
    space = gymnasium.spaces.Discrete(3) if discrete else gymnasium.spaces.Box(-1, 1, (2,))
    plain = ActorCritic((4,), space, hidden=8, rnn=rnn, norm="layernorm", separate_critic=True)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("obs_norm.")})
    with torch.no_grad():
        fused = model.act(obs[0], state0, reset[0], generator=torch.Generator().manual_seed(2))
        eager = model._act_eager(obs[0], state0, reset[0], generator=torch.Generator().manual_seed(2))
        by_hand = plain.act(normalised, state0, reset[0], generator=torch.Generator().manual_seed(2))
    for f, e, h in zip(fused, eager, by_hand):
        torch.testing.assert_close(f, e, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(f, h, rtol=1e-5, atol=1e-5)
    # learning: the training pass reproduces the log-probs and values the policy acted with
    _assert_learning_replays_acting(model, obs, state0, reset, g, atol=1e-5)
    # it recorded the raw observations' moments; absorbing them merges them into the target's
    mean, var, n = st.batch_moments
    flat = obs.reshape(T * N, 4)
    torch.testing.assert_close(mean, flat.mean(0))
    torch.testing.assert_close(var, flat.var(0, unbiased=False))
    assert n == T * N
    target = _on_model(rnn, discrete)
    before = target.obs_norm.mean.clone()
    target.absorb_batch_statistics(model)
    assert target.obs_norm.count.item() == 50.0 + T * N
    torch.testing.assert_close(target.obs_norm.mean, before + (mean - before) * (T * N / (50.0 + T * N)))


def test_obs_norm_is_for_vector_observations():
    with pytest.raises(ValueError, match="obs_norm normalises vector observations"):
        ActorCritic((4, 84, 84), gymnasium.spaces.Discrete(3), obs_norm=True)
    # without it a model has no statistics to save, and loads an older model's state_dict as before
    assert not any(k.startswith("obs_norm") for k in ActorCritic((4,), gymnasium.spaces.Discrete(3)).state_dict())
