"""pyrl.envs on real envpool and Gymnasium: same next-step autoreset semantics and dtypes on
both backends, the POMDP variant, a user's own registered env, and the user mistakes."""
import gymnasium
import numpy as np
import pytest

from pyrl import envs

BACKENDS = ["envpool", "gymnasium"]
N = 4


def _run(env, steps, policy):
    """Steps env with policy(obs) and records everything: lists of per-step arrays."""
    obs, _ = env.reset()
    rec = {"obs_before": [], "obs": [], "reward": [], "term": [], "trunc": [], "action": []}
    for _ in range(steps):
        a = policy(obs)
        o, r, te, tr, _ = env.step(a)
        for k, v in zip(rec, (obs, o, r, te, tr, a)):
            rec[k].append(v)
        obs = o
    return {k: np.stack(v) for k, v in rec.items()}


def _balance(obs):  # push toward the pole's lean: episodes that run into the time limit
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cartpole_dtypes_and_spaces(backend):
    with envs.make("CartPole-v1", N, seed=3, backend=backend) as env:
        assert env.backend == backend and env.num_envs == N
        assert env.observation_space.shape == (4,) and env.observation_space.dtype == np.float32
        assert env.action_space.n == 2
        obs, _ = env.reset()
        assert obs.shape == (N, 4) and obs.dtype == np.float32
        o, r, te, tr, info = env.step(np.zeros(N, dtype=np.int64))
        assert o.dtype == np.float32 and o.shape == (N, 4)
        assert r.dtype == np.float32 and r.shape == (N,)
        assert te.dtype == np.bool_ and tr.dtype == np.bool_ and te.shape == tr.shape == (N,)
        assert isinstance(info, dict)


@pytest.mark.parametrize("backend", BACKENDS)
def test_next_step_autoreset_semantics(backend):
    limit = 12
    with envs.make("CartPole-v1", N, seed=5, backend=backend, max_episode_steps=limit) as env:
        rng = np.random.default_rng(0)
        # Half balancing (reaches the time limit), half random (terminates): both kinds of end.
        pol = lambda o: np.where(rng.random(N) < 0.5, _balance(o), rng.integers(0, 2, N))
        rec = _run(env, 200, pol)
    done = rec["term"] | rec["trunc"]
    assert rec["term"].any() and rec["trunc"].any()
    assert not (rec["term"] & rec["trunc"]).any()
    reset_step = np.zeros_like(done)
    reset_step[1:] = done[:-1]
    # The reset step: reward 0, never itself an end, and the first obs of a new episode
    # (CartPole starts every component in [-0.05, 0.05]).
    assert np.all(rec["reward"][reset_step] == 0)
    assert not done[reset_step].any()
    assert np.all(np.abs(rec["obs"][reset_step]) <= 0.05)
    assert np.all(rec["reward"][~reset_step] == 1)
    # The ending step returns the FINAL observation: a terminated one is out of bounds.
    final = rec["obs"][rec["term"]]
    assert np.all((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 0.2095))
    # Truncation comes exactly at the time limit: count the counted steps of each episode.
    for n in range(N):
        length = 0
        for t in range(done.shape[0]):
            if reset_step[t, n]:
                length = 0
                continue
            length += 1
            if rec["trunc"][t, n]:
                assert length == limit
            assert length <= limit


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_step_ignores_the_action(backend):
    # Two identical envs, same seed; at each reset step give them opposite actions.
    with envs.make("CartPole-v1", 2, seed=9, backend=backend) as a, \
            envs.make("CartPole-v1", 2, seed=9, backend=backend) as b:
        oa, _ = a.reset()
        ob, _ = b.reset()
        assert np.array_equal(oa, ob)
        prev_done = np.zeros(2, dtype=bool)
        resets = 0
        for _ in range(120):
            act = np.zeros(2, dtype=np.int64)
            act_b = np.where(prev_done, 1, 0).astype(np.int64)
            resets += int(prev_done.sum())
            oa, ra, tea, tra, _ = a.step(act)
            ob, rb, teb, trb, _ = b.step(act_b)
            assert np.array_equal(oa, ob) and np.array_equal(ra, rb)
            prev_done = tea | tra
        assert resets > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_pomdp_cartpole_hides_velocities(backend):
    with envs.make("CartPole-v1", N, seed=11, backend=backend) as full, \
            envs.make("CartPoleNoVel-v1", N, seed=11, backend=backend) as part:
        assert part.observation_space.shape == (2,)
        assert part.observation_space.dtype == np.float32
        np.testing.assert_array_equal(part.observation_space.low,
                                      full.observation_space.low[[0, 2]])
        np.testing.assert_array_equal(part.observation_space.high,
                                      full.observation_space.high[[0, 2]])
        of, _ = full.reset()
        op, _ = part.reset()
        rng = np.random.default_rng(1)
        for _ in range(60):
            np.testing.assert_array_equal(op, of[:, [0, 2]])  # position and angle only
            assert op.flags["C_CONTIGUOUS"] and op.dtype == np.float32
            a = rng.integers(0, 2, N)
            of, rf, tef, trf, _ = full.step(a)
            op, rp, tep, trp, _ = part.step(a)
            assert np.array_equal(rf, rp) and np.array_equal(tef, tep)
            assert np.array_equal(trf, trp)


# the memory tasks beside CartPole's: RL Zoo's masks (the velocities hidden), both backends where
# gymnasium has the env (its LunarLander needs Box2D, not installed here: envpool only)
MEMORY_TASKS = [("PendulumNoVel-v1", "Pendulum-v1", [0, 1], BACKENDS),
                ("LunarLanderNoVel-v3", "LunarLander-v3", [0, 1, 4, 6, 7], ["envpool"]),
                ("MountainCarContinuousNoVel-v0", "MountainCarContinuous-v0", [0], BACKENDS)]


@pytest.mark.parametrize("backend,pomdp,base,keep",
                         [(b, p, base, keep) for p, base, keep, bs in MEMORY_TASKS for b in bs])
def test_memory_tasks_hide_the_velocities(backend, pomdp, base, keep):
    with envs.make(base, N, seed=5, backend=backend) as full, envs.make(pomdp, N, seed=5, backend=backend) as part:
        assert part.observation_space.shape == (len(keep),) and part.action_space == full.action_space
        np.testing.assert_array_equal(part.observation_space.low, full.observation_space.low[keep])
        of, _ = full.reset()
        op, _ = part.reset()
        full.action_space.seed(2)
        for _ in range(40):
            np.testing.assert_array_equal(op, of[:, keep])
            a = np.stack([full.action_space.sample() for _ in range(N)])
            of, rf, tef, trf, _ = full.step(a)
            op, rp, tep, trp, _ = part.step(a)
            assert np.array_equal(rf, rp) and np.array_equal(tef, tep) and np.array_equal(trf, trp)


def test_auto_backend_prefers_envpool_and_falls_back():
    with envs.make("CartPole-v1", 2) as env:
        assert env.backend == "envpool"
    with envs.make("CartPoleNoVel-v1", 2) as env:
        assert env.backend == "envpool"


class _Countdown(gymnasium.Env):
    """Terminates after 3 steps; reward = the step's action + 1 (so a reset step's 0 shows)."""
    observation_space = gymnasium.spaces.Box(0, 10, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.k += 1
        return np.array([self.k], np.float32), float(action) + 1.0, self.k >= 3, False, {}


def test_users_registered_env_uses_gymnasium_with_the_same_semantics():
    env_id = "PyrlTestCountdown-v0"
    if env_id not in gymnasium.registry:
        gymnasium.register(env_id, entry_point=_Countdown)
    with envs.make(env_id, 2, seed=0) as env:
        assert env.backend == "gymnasium"
        obs, _ = env.reset()
        assert obs.tolist() == [[0.0], [0.0]]
        seen = []
        for _ in range(8):
            o, r, te, tr, _ = env.step(np.array([1, 1]))
            assert r.dtype == np.float32 and te.dtype == np.bool_
            seen.append((o[0, 0], r[0], bool(te[0])))
    # 3 counted steps (the third returns the final obs 3 and terminates), then the reset step:
    # reward 0 and the first obs, whatever the action.
    assert seen[:5] == [(1, 2, False), (2, 2, False), (3, 2, True), (0, 0, False), (1, 2, False)]


class _Effort(gymnasium.Env):
    """Reward -sum(action^2), which an unclipped action would blow up (it does not clip)."""
    observation_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gymnasium.spaces.Box(-0.5, 2.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), -float(np.sum(np.square(action))), False, False, {}


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "PyrlTestEffort-v0"])
def test_box_actions_are_clipped_to_the_space(env_id):
    # envpool's HalfCheetah charges a control cost on the action as given; so does _Effort
    if env_id not in gymnasium.registry and env_id.startswith("Pyrl"):
        gymnasium.register(env_id, entry_point=_Effort)
    results = []
    for scale in (1.0, 100.0):
        with envs.make(env_id, 2, seed=1) as env:
            env.reset()
            high = env.action_space.high
            a = np.broadcast_to(high * scale, (2, *high.shape)).astype(np.float32)  # at, or far past, the bound
            o, r, *_ = env.step(a)
            env.send(-a)  # the split step clips too
            o2, r2, *_ = env.recv()
            results.append((o, r, o2, r2))
    for x, y in zip(*results):
        np.testing.assert_array_equal(x, y)
    with envs.make(env_id, 2, seed=1) as env:  # the backend itself, unclipped, from the same state
        env.reset()
        raw = env._env.step(a)[1]
    assert not np.allclose(raw, results[0][1]), "this env clips for itself: the test checks nothing"


@pytest.mark.parametrize("bad,close", [("Cartpole-v1", "CartPole-v1"),
                                       ("cartpole", "CartPole-v1"),
                                       ("CartPoleNoVel-v2", "CartPoleNoVel-v1"),
                                       ("Pong-v4", "Pong-v5")])
def test_unknown_id_lists_closest(bad, close):
    with pytest.raises(envs.EnvError, match="unknown environment id") as err:
        envs.make(bad, 2)
    assert close in str(err.value)


def test_unknown_id_without_close_match_says_where_to_look():
    with pytest.raises(envs.EnvError, match="list_all_envs"):
        envs.make("qqqqqqqqqqqqqq", 2)


def test_gymnasium_only_id_on_envpool_backend_is_an_error():
    env_id = "PyrlTestCountdown-v0"
    if env_id not in gymnasium.registry:
        gymnasium.register(env_id, entry_point=_Countdown)
    with pytest.raises(envs.EnvError, match="envpool backend"):
        envs.make(env_id, 2, backend="envpool")


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_envs=0), "num_envs must be >= 1"),
    (dict(num_envs=-3), "num_envs must be >= 1"),
    (dict(num_envs=1.5), "num_envs must be an integer"),
    (dict(num_envs=True), "num_envs must be an integer"),
    (dict(seed=-1), "seed must be in"),
    (dict(seed=2**40), "seed must be in"),
    (dict(num_threads=-1), "num_threads must be >= 0"),
    (dict(max_episode_steps=0), "max_episode_steps must be >= 1"),
    (dict(backend="ray"), "backend must be one of"),
    (dict(env_id=""), "env_id must be a non-empty string"),
])
def test_bad_numbers(kwargs, match):
    args = dict(env_id="CartPole-v1", num_envs=2)
    args.update(kwargs)
    with pytest.raises(envs.EnvError, match=match):
        envs.make(**args)


def test_env_error_is_a_value_error():
    assert issubclass(envs.EnvError, ValueError)
