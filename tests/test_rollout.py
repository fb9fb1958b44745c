"""The rollout store and collection loop on real envpool, and the C++ episode statistics
against Gymnasium's RecordEpisodeStatistics on the same stream."""
import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrl import envs, ops
from pyrl.rollout import EpisodeStats, RolloutStore, collect

N, T = 6, 16


class RandomPolicy:
    """Seeded random actions; values = a function of the obs (so values[t] can be checked);
    records what it was handed."""

    def __init__(self, seed=0):
        self.g = torch.Generator().manual_seed(seed)
        self.seen_obs, self.seen_reset = [], []

    def __call__(self, obs, reset):
        self.seen_obs.append(obs.clone())
        self.seen_reset.append(reset.clone())
        a = torch.randint(0, 2, (obs.shape[0],), generator=self.g)
        return a, obs.sum(-1), torch.full((obs.shape[0],), -0.69)


def _reference_stream(env_id, seed, actions, max_episode_steps=None):
    """Steps a twin env with the recorded actions: the stream collect should have stored."""
    env = envs.make(env_id, N, seed=seed, max_episode_steps=max_episode_steps)
    obs = [env.reset()[0]]
    rew, term, trunc = [], [], []
    for a in actions:
        o, r, te, tr, _ = env.step(a.numpy())
        obs.append(o), rew.append(r), term.append(te), trunc.append(tr)
    env.close()
    return np.stack(obs), np.stack(rew), np.stack(term), np.stack(trunc)


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "CartPoleNoVel-v1"])
def test_collect_stores_the_env_stream_across_rollouts(env_id, staged):
    # staged: the path of a store on a GPU (CPU buffers, copied over once per rollout), run
    # here on a CPU store
    rollouts, limit = 5, 12  # a short time limit: truncations inside and across rollouts
    env = envs.make(env_id, N, seed=21, max_episode_steps=limit)
    store = RolloutStore.for_env(env, T)
    store.staged = staged
    assert store.obs.shape == (T + 1, N, env.observation_space.shape[0])
    assert store.actions.shape == (T, N) and store.actions.dtype == torch.int64
    policy = RandomPolicy(1)
    obs, _ = env.reset()
    store.start(obs)
    got = {k: [] for k in ("obs", "rew", "term", "trunc", "act", "reset", "reset_step")}
    for i in range(rollouts):
        collect(env, policy, store, value_fn=lambda o, r: o.sum(-1) * 10)
        if i == 0:
            got["obs"].append(store.obs[:1].clone())
        got["obs"].append(store.obs[1:].clone())
        for k, v in (("rew", store.rewards), ("term", store.terminated),
                     ("trunc", store.truncated), ("act", store.actions),
                     ("reset", store.reset), ("reset_step", store.reset_step)):
            got[k].append(v.clone())
        # values[t] is what the policy returned at obs[t]; values[T] is value_fn's
        torch.testing.assert_close(store.values[:T], store.obs[:T].sum(-1))
        torch.testing.assert_close(store.values[T], store.obs[T].sum(-1) * 10)
        assert torch.all(store.logprobs == -0.69)
    env.close()
    obs_all = torch.cat(got["obs"]).numpy()
    actions = torch.cat(got["act"])
    ref_obs, ref_rew, ref_term, ref_trunc = _reference_stream(env_id, 21, actions, limit)
    np.testing.assert_array_equal(obs_all, ref_obs)
    np.testing.assert_array_equal(torch.cat(got["rew"]).numpy(), ref_rew)
    np.testing.assert_array_equal(torch.cat(got["term"]).numpy(), ref_term)
    np.testing.assert_array_equal(torch.cat(got["trunc"]).numpy(), ref_trunc)
    assert ref_trunc.any() and ref_term.any()

    # Masks over the whole stream, from the rules: reset_step[t] = done[t-1];
    # reset[t] = reset_step[t-1], with env.reset() counting as a reset before step 0.
    done = ref_term | ref_trunc
    reset_step = np.concatenate([np.zeros((1, N), bool), done[:-1]])
    reset = np.concatenate([np.ones((1, N), bool), reset_step[:-1]])
    np.testing.assert_array_equal(torch.cat(got["reset_step"]).numpy(), reset_step)
    np.testing.assert_array_equal(torch.cat(got["reset"]).numpy(), reset)
    # The policy was handed exactly store.reset[t] and store.obs[t], step by step.
    np.testing.assert_array_equal(torch.stack(policy.seen_reset).numpy(), reset)
    np.testing.assert_array_equal(torch.stack(policy.seen_obs).numpy(), ref_obs[:-1])
    # Reset steps carry reward 0 (the env's own reset step, not a pyrl convention).
    assert np.all(ref_rew[reset_step] == 0)
    assert (store._staging.obs is not store.obs) == staged


def test_store_advantages_use_the_carried_prev_done():
    env = envs.make("CartPole-v1", N, seed=4, max_episode_steps=7)
    store = RolloutStore.for_env(env, T)
    store.start(env.reset()[0])
    policy = RandomPolicy(2)
    with pytest.raises(RuntimeError, match="collect"):
        store.advantages(0.99, 0.95)
    for _ in range(3):
        collect(env, policy, store, value_fn=lambda o, r: o.sum(-1))
        prev_done = store.prev_done.clone()
        adv, ret, valid = store.advantages(0.99, 0.95)
        want = ops.gae_reference(store.rewards, store.values, store.terminated,
                                 store.truncated, prev_done, 0.99, 0.95)
        torch.testing.assert_close(adv, want[0])
        torch.testing.assert_close(ret, want[1])
        assert torch.equal(valid, want[2])
        assert torch.equal(valid, ~store.reset_step)
    env.close()


def test_collect_needs_start():
    env = envs.make("CartPole-v1", 2, seed=0)
    store = RolloutStore.for_env(env, 4)
    with pytest.raises(RuntimeError, match="start"):
        collect(env, RandomPolicy(), store)
    env.close()


def _stream_with_wrapper(env, steps, seed):
    """Steps a Gymnasium vector env wrapped in RecordEpisodeStatistics; returns the reward and
    flag stream and the episodes the wrapper reported, as (step, env, return, length)."""
    wrapped = RecordEpisodeStatistics(env)
    wrapped.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rew, term, trunc, episodes = [], [], [], []
    for t in range(steps):
        _, r, te, tr, info = wrapped.step(rng.integers(0, 2, env.num_envs))
        rew.append(r), term.append(te), trunc.append(tr)
        if "_episode" in info:
            for n in np.flatnonzero(info["_episode"]):
                episodes.append((t, int(n), float(info["episode"]["r"][n]),
                                 int(info["episode"]["l"][n])))
    return np.stack(rew), np.stack(term), np.stack(trunc), episodes


@pytest.mark.parametrize("chunks", [[300], [1, 7, 50, 100, 142], [13] * 23 + [1]])
def test_episode_stats_match_gymnasium_record_episode_statistics(chunks):
    env = gymnasium.make_vec(
        "CartPole-v1", num_envs=5, vectorization_mode="sync", max_episode_steps=15,
        vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP})
    rew, term, trunc, want = _stream_with_wrapper(env, sum(chunks), seed=3)
    env.close()
    assert trunc.any() and term.any() and len(want) > 20
    stats = EpisodeStats(5, worker=2)
    got, t0 = [], 0
    for c in chunks:
        eps = stats.update(torch.from_numpy(rew[t0:t0 + c]), torch.from_numpy(term[t0:t0 + c]),
                           torch.from_numpy(trunc[t0:t0 + c]))
        got += [(s, e, r, l) for w, e, s, r, l in eps]
        assert all(w == 2 for w, *_ in eps)
        t0 += c
    assert got == want


def test_episode_stats_on_the_envpool_stream():
    # envpool's own stream, through the same wrapper (envpool is a Gymnasium VectorEnv).
    env = envs.make("CartPole-v1", 4, seed=8, max_episode_steps=20)
    raw = env._env
    wrapped = RecordEpisodeStatistics(raw)
    assert wrapped._autoreset_mode == gymnasium.vector.AutoresetMode.NEXT_STEP
    wrapped.reset()
    rng = np.random.default_rng(0)
    rew, term, trunc, want = [], [], [], []
    for t in range(200):
        _, r, te, tr, info = wrapped.step(rng.integers(0, 2, 4))
        rew.append(r), term.append(te), trunc.append(tr)
        if "_episode" in info:
            want += [(t, int(n), float(info["episode"]["r"][n]), int(info["episode"]["l"][n]))
                     for n in np.flatnonzero(info["_episode"])]
    env.close()
    stats = EpisodeStats(4)
    eps = stats.update(torch.from_numpy(np.stack(rew)), torch.from_numpy(np.stack(term)),
                       torch.from_numpy(np.stack(trunc)))
    assert [(s, e, r, l) for _, e, s, r, l in eps] == want and len(want) > 10
    assert stats.steps == 200


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(1, 20), N=st.integers(1, 5),
       p=st.sampled_from([0.0, 0.1, 0.5]))
def test_episode_stats_match_reference(seed, T, N, p):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, N, generator=g)
    term, trunc = torch.rand(T, N, generator=g) < p, torch.rand(T, N, generator=g) < p / 2
    state = (torch.rand(N, generator=g) < 0.5, torch.randn(N, generator=g).double(),
             torch.randint(0, 9, (N,), generator=g))
    s_c = tuple(x.clone() for x in state)
    s_r = tuple(x.clone() for x in state)
    got = ops.episode_stats(rewards, term, trunc, *s_c, step_offset=100)
    want = ops.episode_stats_reference(rewards, term, trunc, *s_r, step_offset=100)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, check_dtype=True)
    for a, b in zip(s_c, s_r):
        torch.testing.assert_close(a, b)


def test_episode_stats_state_must_be_writable_tensors():
    with pytest.raises(TypeError, match="ep_return"):
        ops.episode_stats(torch.zeros(2, 3), torch.zeros(2, 3).bool(), torch.zeros(2, 3).bool(),
                          torch.zeros(3).bool(), torch.zeros(3), torch.zeros(3).long())


def test_bench_quick_runs_and_agrees():
    from rich.console import Console

    from pyrl.benchmarks import rollout as bench

    result = bench.run(repeats=1, quick=True)
    assert result["gae"]["cpp_us"] > 0 and result["gae"]["numpy_us"] > 0
    assert result["collect"]["raw_sps"] > 0 and result["collect"]["collect_sps"] > 0
    console = Console(width=120, record=True, color_system=None)
    bench.render(result, console)
    assert "gae" in console.export_text()


def test_reward_scale_scales_what_the_values_learn_not_the_rewards():
    env = envs.make("CartPole-v1", N, seed=5, max_episode_steps=7)
    store = RolloutStore.for_env(env, T)
    store.start(env.reset()[0])
    collect(env, RandomPolicy(2), store, value_fn=lambda o, r: o.sum(-1))
    rewards = store.rewards.clone()
    prev_done = store.prev_done.clone()
    adv, ret, valid = (t.clone() for t in store.advantages(0.9, 0.8, reward_scale=0.25))
    # GAE is linear in (rewards, values): scaled rewards with the values as they are
    want = ops.gae_reference(0.25 * rewards, store.values, store.terminated, store.truncated, prev_done, 0.9, 0.8)
    torch.testing.assert_close(adv, want[0])
    torch.testing.assert_close(ret, want[1])
    assert torch.equal(valid, want[2])
    assert torch.equal(store.rewards, rewards)  # the episode statistics read these: raw
    plain = store.advantages(0.9, 0.8)[0]
    assert not torch.allclose(plain, adv)
    env.close()
