"""The fused acting step (pyrl.ops.act_step, csrc/act.cpp) against its pure-PyTorch reference
and against ActorCritic's eager act: every head, trunk layout, core and norm, with resets."""
import itertools
import os

import gymnasium
import pytest
import torch

from lngru_cases import cpu_blas, make_actor_critic
from pyrl import ops
from pyrl.nn import ActorCritic

I, A, H = 5, 3, 16

CASES = list(itertools.product([True, False], [True, False], [False, True],
                               ["none", "layernorm", "rmsnorm", "batchnorm"]))
IDS = [f"{'cat' if d else 'gauss'}-{'sep' if s else 'shared'}-{'gru' if r else 'ff'}-{n}"
       for d, s, r, n in CASES]


def make_model(discrete, separate, rnn, norm, seed=0):
    return make_actor_critic(discrete, separate, rnn, norm, seed, obs_size=I, actions=A, hidden=H)


def inputs(model, n=7, seed=1, poison=True):
    """obs [N,I], state [N,S], reset [N]; a reset row's old state holds inf and NaN."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, I, generator=g)
    state = torch.randn(n, model.initial_state(n).shape[1], generator=g) * 0.5
    reset = torch.zeros(n, dtype=torch.bool)
    reset[1::3] = True
    if poison and state.shape[1] and n > 1:
        state[1, 0], state[1, -1] = float("inf"), float("nan")
    return obs, state, reset


def draw(model, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, generator=g) if model.discrete else torch.randn(n, A, generator=g)


def close(got, want, tol):
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("discrete, separate, rnn, norm", CASES, ids=IDS)
def test_fused_act_equals_the_eager_act(discrete, separate, rnn, norm):
    model = make_model(discrete, separate, rnn, norm)
    obs, state, reset = inputs(model)
    g_fused, g_eager = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with torch.no_grad():
        a, v, lp, s = model.act(obs, state, reset, generator=g_fused)
        ea, ev, elp, es = model._act_eager(obs, state, reset, generator=g_eager)
    if discrete:
        assert a.dtype == torch.int64 and a.shape == (7,)
        assert torch.equal(a, ea)  # the same uniforms pick the same actions
    else:
        assert a.shape == (7, A)
        close(a, ea, 1e-5)
    close(v, ev, 1e-5)
    close(lp, elp, 1e-5)
    close(s, es, 1e-5)
    assert s.shape == state.shape
    for t in (a, v, lp, s):
        assert torch.isfinite(t.float()).all()  # the poisoned state was reset, by a select
    # the same number of draws from the generator: the streams stay together
    assert torch.equal(g_fused.get_state(), g_eager.get_state())
    if not rnn:
        assert s is state  # no core: the state [N,0] goes back as it came


@pytest.mark.parametrize("discrete, separate, rnn, norm", CASES, ids=IDS)
def test_fused_act_equals_the_reference(discrete, separate, rnn, norm, capability):
    model = make_model(discrete, separate, rnn, norm)
    args = model._act_params()
    for n in (1, 4, 9):  # whole blocks of four rows and the remainder
        obs, state, reset = inputs(model, n, seed=n)
        noise = draw(model, n, seed=n)
        got = ops.act_step(obs, state, reset, noise, *args)
        want = ops.act_step_reference(obs, state, reset, noise, *args)
        if discrete:
            assert torch.equal(got[0], want[0])
        for g, w in zip(got, want):
            close(g.float(), w.float(), 1e-5)


@pytest.mark.parametrize("norm", ["none", "layernorm"])
def test_the_cores_products_through_the_aten_fallback_equal_the_reference(norm):
    # the GRU cell's two products go to torch's BLAS (gemm.h); where it is not found, through
    # at::mm on views of the same buffers: held to the reference the same way
    model = make_model(True, True, True, norm)
    args = model._act_params()
    with cpu_blas("aten"):
        for n in (1, 9):
            obs, state, reset = inputs(model, n, seed=n)
            noise = draw(model, n, seed=n)
            got = ops.act_step(obs, state, reset, noise, *args)
            want = ops.act_step_reference(obs, state, reset, noise, *args)
            assert torch.equal(got[0], want[0])
            for g, w in zip(got, want):
                close(g.float(), w.float(), 1e-5)


@pytest.mark.parametrize("discrete, separate, rnn, norm", CASES, ids=IDS)
def test_float64(discrete, separate, rnn, norm):
    # The op in float64 equals the float64 reference to rounding, and the float32 op is the
    # float64 maths to float32 accuracy.
    model = make_model(discrete, separate, rnn, norm)
    obs, state, reset = inputs(model, 9)
    noise = draw(model, 9, seed=3)
    args32 = model._act_params()
    want = ops.act_step_reference(obs.double(), state.double(), reset, noise.double(), *args_as(args32, torch.float64))
    got64 = ops.act_step(obs.double(), state.double(), reset, noise.double(), *args_as(args32, torch.float64))
    got32 = ops.act_step(obs, state, reset, noise, *args32)
    if discrete:
        assert torch.equal(got64[0], want[0]) and torch.equal(got32[0], want[0])
    for g64, g32, w in zip(got64, got32, want):
        assert g64.dtype == w.dtype
        close(g64, w, 1e-10)
        close(g32.double(), w.double(), 2e-5)


def args_as(args, dtype):
    trunks, heads, *rest = args
    cast = lambda t: None if t is None else t.detach().to(dtype)  # noqa: E731
    return (tuple(tuple(map(cast, tr)) for tr in trunks), tuple(map(cast, heads)), *rest)


@pytest.mark.parametrize("discrete, rnn", [(True, True), (False, True), (True, False)])
def test_a_rollout_acts_the_same_fused_and_eager(discrete, rnn):
    # Step after step from one generator seed, with episodes ending: the same actions, and
    # values and state to float accuracy (the state carries the small differences along).
    model = make_model(discrete, True, rnn, "layernorm")
    N, T = 8, 20
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(T, N, I, generator=g)
    reset = torch.rand(T, N, generator=g) < 0.2
    runs = []
    for path in (model.act, model._act_eager):
        gen = torch.Generator().manual_seed(11)
        state = model.initial_state(N)
        out = []
        with torch.no_grad():
            for t in range(T):
                a, v, lp, state = path(obs[t], state, reset[t], generator=gen)
                out.append((a, v, lp, state))
        runs.append(out)
    for (a, v, lp, s), (ea, ev, elp, es) in zip(*runs):
        if discrete:
            assert torch.equal(a, ea)
        else:
            close(a, ea, 1e-4)
        close(v, ev, 1e-4)
        close(lp, elp, 1e-4)
        close(s, es, 1e-4)


@pytest.mark.parametrize("discrete, separate, rnn, norm", CASES[::3], ids=IDS[::3])
def test_fused_value_equals_the_eager_value_and_draws_nothing(discrete, separate, rnn, norm):
    model = make_model(discrete, separate, rnn, norm)
    obs, state, reset = inputs(model)
    rng = torch.get_rng_state()
    with torch.no_grad():
        got = model.value(obs, state, reset)
    assert torch.equal(rng, torch.get_rng_state())
    _, vfeats, _ = model.step(obs, state, reset)
    close(got, model.value_head(vfeats).squeeze(-1).detach(), 1e-5)
    assert torch.isfinite(got).all()


def test_act_takes_the_fused_path_only_without_autograd(monkeypatch):
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    calls = []
    real = ops.act_step
    monkeypatch.setattr(ops, "act_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    _, v, _, _ = model.act(obs, state, reset)  # autograd on: eager, differentiable
    assert not calls and v.requires_grad
    assert model.value(obs, state, reset).requires_grad and not calls
    with torch.no_grad():
        model.act(obs, state, reset)
    with torch.inference_mode():
        model.act(obs, state, reset)
    assert len(calls) == 2
    image = ActorCritic((1, 36, 36), gymnasium.spaces.Discrete(A), hidden=H, rnn=True)
    with torch.no_grad():  # image observations: eager
        image.act(torch.zeros(2, 1, 36, 36, dtype=torch.uint8), image.initial_state(2), reset[:2])
    assert len(calls) == 2


def test_the_gathered_parameters_follow_updates_and_conversions():
    model = make_model(True, True, True, "batchnorm")
    obs, state, reset = inputs(model)
    other = make_model(True, True, True, "batchnorm", seed=3)

    def both():
        with torch.no_grad():
            got = model.act(obs, state, reset, generator=torch.Generator().manual_seed(0))
            want = model._act_eager(obs, state, reset, generator=torch.Generator().manual_seed(0))
        for g, w in zip(got, want):
            close(g.float(), w.float(), 1e-5)
        return got

    before = both()
    with torch.no_grad():  # in place, as the worker refreshes its copy and BatchNorm absorbs
        for p, q in zip(model.parameters(), other.parameters()):
            p.copy_(q)
    model.norm.absorb(torch.full((H,), 0.3), torch.full((H,), 1.7))
    after = both()
    assert not torch.allclose(before[1], after[1])
    model.load_state_dict(make_model(True, True, True, "batchnorm", seed=4).state_dict(), assign=True)
    both()
    model.double().float()  # conversions replace the tensors
    both()


BAD = [
    (dict(obs=torch.randn(7, I + 1)), RuntimeError, "weight1 must have shape"),
    (dict(obs=torch.randn(7, I, 1)), RuntimeError, "obs must have 2 dimensions"),
    (dict(obs=torch.randn(7, I, dtype=torch.float64)), RuntimeError, "dtype"),
    (dict(obs=torch.randn(7, I).int()), RuntimeError, "obs must be float32 or float64"),
    (dict(obs=torch.randn(I, 7).t()), RuntimeError, "obs must be contiguous"),
    (dict(state=torch.zeros(7, 2 * H + 1)), RuntimeError, "state must have shape"),
    (dict(state=torch.zeros(6, 2 * H)), RuntimeError, "state must have shape"),
    (dict(reset=torch.zeros(6, dtype=torch.bool)), RuntimeError, "reset must be a bool tensor of shape"),
    (dict(reset=torch.full((7,), 2)), ValueError, "reset must be bool or hold only 0/1"),
    (dict(noise=torch.rand(7)), RuntimeError, "noise"),
    (dict(noise=torch.rand(7, A)), RuntimeError, "noise"),
    (dict(feature_norm="groupnorm"), ValueError, "feature_norm must be one of"),
    (dict(core_norm="batchnorm"), ValueError, "core_norm must be one of"),
    (dict(feature_norm="none"), RuntimeError, "norm_weight must be None"),
    (dict(feature_norm="batchnorm"), RuntimeError, "running_mean is required"),
    (dict(core_norm="none"), RuntimeError, "gamma_ih must be None"),
    (dict(obs=[[0.0] * I] * 7), TypeError, "obs, state and noise must be torch.Tensors"),
]


@pytest.mark.parametrize("override, exc, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_a_python_error(override, exc, message):
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    trunks, heads, feature_norm, core_norm, feature_eps, core_eps = model._act_params()
    args = dict(obs=obs, state=state, reset=reset, noise=draw(model, 7, 0), trunks=trunks, heads=heads,
                feature_norm=feature_norm, core_norm=core_norm, feature_eps=feature_eps, core_eps=core_eps)
    args.update(override)
    with pytest.raises(exc, match=message):
        ops.act_step(**args)


def test_bad_parameters_are_a_python_error():
    model = make_model(False, True, True, "layernorm")
    obs, state, reset = inputs(model)
    trunks, heads, *rest = model._act_params()
    noise = draw(model, 7, 0)
    assert isinstance(trunks[1], ops.ActTrunk) and isinstance(heads, ops.ActHeads)  # by name, not position
    critic = trunks[1]._replace(weight_hh=torch.zeros(3 * H, H + 1))
    with pytest.raises(RuntimeError, match="critic weight_hh must have shape"):
        ops.act_step(obs, state, reset, noise, (trunks[0], critic), heads, *rest)
    with pytest.raises(RuntimeError, match="log_std"):
        ops.act_step(obs, state, reset, noise, trunks, heads._replace(log_std=torch.zeros(A + 1)), *rest)
    with pytest.raises(ValueError, match="trunks must be a sequence of 1"):
        ops.act_step(obs, state, reset, noise, trunks * 2, heads, *rest)
    with pytest.raises(ValueError, match="each trunk must be an ActTrunk"):
        ops.act_step(obs, state, reset, noise, (trunks[0][:-1], trunks[1]), heads, *rest)
    with pytest.raises(TypeError):
        ops.act_step(obs, state, reset, noise, ((1.0,) + trunks[0][1:], trunks[1]), heads, *rest)
    ff = make_model(True, False, False, "none")
    (trunk,), heads, *rest = ff._act_params()
    trunk = trunk._replace(weight_hh=torch.zeros(3 * H, H))
    with pytest.raises(RuntimeError, match="weight_hh must be None without a core"):
        ops.act_step(obs, torch.zeros(7, 0), reset, draw(ff, 7, 0), (trunk,), heads, *rest)


def test_pyrl_fused_act_0_keeps_the_eager_path():
    # the switch the benchmarks use to measure the fused step against the eager one
    import subprocess
    import sys

    code = ("import torch, gymnasium, pyrl.nn as n\n"
            "m = n.ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=8)\n"
            "called = []\n"
            "m._act_fused = lambda *a, **k: called.append(1)\n"
            "with torch.no_grad():\n"
            "    m.act(torch.zeros(3, 4), m.initial_state(3), torch.zeros(3, dtype=torch.bool))\n"
            "print(n.FUSED_ACT, bool(called))\n")
    for flag, expect in (("0", "False False"), ("1", "True True")):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYRL_FUSED_ACT": flag},
                             capture_output=True, text=True, check=True).stdout.split("\n")[0]
        assert out == expect


# ---- one model definition: the fused step acts only for a model it computes exactly (issue 24)

def _fused_and_eager(model, obs, state, reset, monkeypatch=None):
    """(act's results, the eager results, whether act called the fused op)."""
    calls = []
    real = ops.act_step
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ops, "act_step", lambda *a, **k: calls.append(1) or real(*a, **k))
        with torch.no_grad():
            got = model.act(obs, state, reset, generator=torch.Generator().manual_seed(0))
            want = model._act_eager(obs, state, reset, generator=torch.Generator().manual_seed(0))
            got_value = model.value(obs, state, reset)
    return got, want, got_value, bool(calls)


def _assert_same(got, want, got_value):
    for g, w in zip(got, want):
        close(g, w, 1e-5)
    close(got_value, want[1], 1e-5)


def test_rebinding_a_head_after_the_first_act_is_seen():
    # the reproduction: value_head rebound after the first act made the fused value differ by 0.85
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
        model.value_head = torch.nn.Linear(H, 1)
        torch.nn.init.normal_(model.value_head.weight, std=2.0)
    got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert fused
    _assert_same(got, want, value)


@pytest.mark.parametrize("where", ["policy.weight", "encoder.1.bias", "core.weight_hh", "norm.weight",
                                   "critic_core.gamma_ih"])
def test_rebinding_a_parameter_after_the_first_act_is_seen(where):
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    owner, name = where.rsplit(".", 1)
    module = model.get_submodule(owner)
    old = getattr(module, name)
    setattr(module, name, torch.nn.Parameter(old.detach() + torch.randn_like(old)))
    got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert fused
    _assert_same(got, want, value)


def test_rebinding_an_eps_after_the_first_act_is_seen():
    model = make_model(False, False, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    model.core.eps = 10.0
    model.norm.eps = 3.0
    got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert fused
    _assert_same(got, want, value)


def test_a_forward_hook_sends_acting_to_the_eager_path_and_says_so_once():
    # the reproduction: a forward hook on the encoder was ignored by the fused path
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    seen = []
    handle = model.encoder.register_forward_hook(lambda m, i, o: seen.append(1) or o * 0.5)
    with pytest.warns(RuntimeWarning, match="forward hook"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused and seen  # the hook ran in the act that acted
    _assert_same(got, want, value)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once: a second act does not warn again
        with torch.no_grad():
            model.act(obs, state, reset)
    handle.remove()
    got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert fused  # back on the fused path once the hook is gone
    _assert_same(got, want, value)


def test_a_global_forward_hook_sends_acting_to_the_eager_path():
    model = make_model(True, False, True, "none")
    obs, state, reset = inputs(model)
    seen = []
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: seen.append(1))
    try:
        with pytest.warns(RuntimeWarning, match="global forward hooks"):
            got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    finally:
        handle.remove()
    assert not fused and seen
    _assert_same(got, want, value)


def test_a_parametrization_sends_acting_to_the_eager_path():
    model = make_model(False, True, True, "rmsnorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    torch.nn.utils.parametrizations.weight_norm(model.encoder[3])
    with torch.no_grad():
        model.encoder[3].parametrizations.weight.original0.mul_(1.7)  # a weight the fused step would not see
    with pytest.warns(RuntimeWarning, match="encoder of"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused
    _assert_same(got, want, value)


def test_a_subclass_that_overrides_acting_maths_acts_eagerly():
    class Scaled(ActorCritic):
        def _heads(self, feats):
            return super()._heads(feats * 2.0)

    torch.manual_seed(0)
    model = Scaled((I,), gymnasium.spaces.Discrete(A), hidden=H, rnn=True, norm="layernorm")
    obs, state, reset = inputs(model)
    with pytest.warns(RuntimeWarning, match="overrides ActorCritic._heads"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused
    _assert_same(got, want, value)
    with pytest.raises(ValueError, match="overrides ActorCritic._heads"):
        model._act_params()


@pytest.mark.parametrize("change", ["relu encoder", "extra layer", "norm type", "core norm", "bias-free head"])
def test_a_rebuilt_layer_the_fused_step_does_not_compute_acts_eagerly(change):
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    if change == "relu encoder":
        model.encoder[2] = torch.nn.ReLU()
    elif change == "extra layer":
        model.encoder.append(torch.nn.Linear(H, H))
        model.encoder.append(torch.nn.Tanh())
    elif change == "norm type":
        model.norm = torch.nn.RMSNorm(H)
    elif change == "core norm":
        from pyrl.nn import LNGRU
        model.core = LNGRU(H, H, norm="rmsnorm")
    else:
        model.policy = torch.nn.Linear(H, A, bias=False)
    with pytest.warns(RuntimeWarning, match="does not recognise"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused
    _assert_same(got, want, value)


def test_a_critic_with_its_own_eps_acts_eagerly():
    # the fused step takes the actor's eps for both trunks
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    model.critic_core.eps = 1e-1
    with pytest.warns(RuntimeWarning, match="critic whose norm eps"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused
    _assert_same(got, want, value)


@pytest.mark.parametrize("change", ["insert", "pop", "instance _heads", "instance forward"])
def test_edits_without_a_registration_are_seen(change):
    model = make_model(True, True, True, "layernorm")
    obs, state, reset = inputs(model)
    with torch.no_grad():
        model.act(obs, state, reset)
    if change == "insert":  # Sequential.insert writes _modules directly
        model.encoder.insert(3, torch.nn.Identity())
    elif change == "pop":
        model.encoder.pop(4)
    elif change == "instance _heads":
        model._heads = lambda feats: ActorCritic._heads(model, feats * 2.0)
    else:
        model.value_head.forward = lambda x: torch.nn.functional.linear(x, model.value_head.weight) * 3.0
    with pytest.warns(RuntimeWarning, match="does not recognise"):
        got, want, value, fused = _fused_and_eager(model, obs, state, reset)
    assert not fused
    _assert_same(got, want, value)
