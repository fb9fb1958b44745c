"""pyrl eval: fresh episodes of a saved policy, without favouring short episodes."""
import gymnasium
import numpy as np
import torch

from pyrl.envs import make
from pyrl.train.config import TrainConfig
from pyrl.train.evaluate import evaluate_model, random_policy_returns, random_policy_score
from pyrl.train.worker import build_model, eval_seed, worker_seed

ENV_ID = "PyrlVarLength-v0"


class _VarLength(gymnasium.Env):
    """Episodes of 2 steps (probability 0.8) or 100, drawn at each reset, reward 1 per step: the return is the
    length, whatever the actions. Run on several envs at once, the first episodes to end are
    the short ones."""

    observation_space = gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.left = 2 if self.np_random.random() < 0.8 else 100
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.left -= 1
        return np.zeros(2, np.float32), 1.0, self.left == 0, False, {}


def _single_env_returns(seed, episodes):
    """An env's first ``episodes`` returns, one env alone (the unbiased estimate)."""
    env = make(ENV_ID, 1, seed=seed)
    env.reset()
    out, ret, prev_done = [], 0.0, False
    while len(out) < episodes:
        _, r, te, tr, _ = env.step(np.zeros(1, np.int64))
        if not prev_done:  # a reset step (after an episode's end) is no part of an episode
            ret += float(r[0])
        prev_done = bool(te[0] or tr[0])
        if prev_done:
            out.append(ret)
            ret = 0.0
    env.close()
    return out


def test_each_env_gives_its_first_episodes_so_the_mean_matches_one_env_at_a_time():
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=_VarLength)
    cfg = TrainConfig(env=ENV_ID, hidden=8)
    model = build_model(cfg, (2,), gymnasium.spaces.Discrete(2), 0)
    episodes, seed = 12, 5  # 8 envs: env i owes (12 + i) // 8 episodes, 1 or 2 each
    got = evaluate_model(cfg, model.state_dict(), episodes, seed)
    want = [r for i in range(8) for r in _single_env_returns(seed + i, (episodes + i) // 8)]
    assert len(got) == episodes
    assert sorted(got) == sorted(want)  # the same episodes: each env's first ones
    # the estimate the old evaluation made (the first 12 completions across the 8 envs) is
    # biased low here: the short episodes end first (12 of 8 envs)
    first_done = _first_completions(seed, episodes)
    assert np.mean(first_done) < 0.8 * np.mean(want)


def _first_completions(seed, episodes):
    env = make(ENV_ID, 8, seed=seed)
    env.reset()
    ret, prev_done, out = np.zeros(8), np.zeros(8, bool), []
    while len(out) < episodes:
        _, r, te, tr, _ = env.step(np.zeros(8, np.int64))
        ret += np.where(prev_done, 0.0, r)
        prev_done = te | tr
        out += list(ret[prev_done])
        ret[prev_done] = 0.0
    env.close()
    return out[:episodes]


def test_random_policy_score_is_a_seeded_floor_of_exactly_its_episodes():
    random_policy_returns.cache_clear()
    a = random_policy_score("CartPole-v1", episodes=100, seed=0)
    assert a["policy"] == "uniform random" and a["episodes"] == 100 and a["seed"] == 0
    assert 10 < a["score"] < 40  # a random policy balances CartPole for about 22 steps
    random_policy_returns.cache_clear()
    assert random_policy_score("CartPole-v1", episodes=100, seed=0) == a  # measured again: the same
    assert random_policy_score("CartPole-v1", episodes=100, seed=1)["score"] != a["score"]
    for episodes in (3, 13):  # fewer episodes than envs; a count 8 does not divide
        returns = random_policy_returns("CartPole-v1", episodes, 0)
        assert len(returns) == episodes and all(r >= 1 for r in returns)
    # spread over the envs as evaluate_model spreads its episodes: each env's first ones
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=_VarLength)
    got = random_policy_returns(ENV_ID, 12, 5)
    assert sorted(got) == sorted(r for i in range(8) for r in _single_env_returns(5 + i, (12 + i) // 8))


def test_eval_seed_is_clear_of_every_training_env_seed():
    # training: worker w's N envs take seeds worker_seed + i; the evaluation's up to 8 envs eval_seed + i
    for seed in (0, 1, 2, 3, 17, 1000, 123_456, 2**20 + 5, 2**31 - 1):
        c = TrainConfig(seed=seed, method="a3c")
        train_seeds = {worker_seed(c, w) + i for w in range(64) for i in range(64)}
        assert not train_seeds & {eval_seed(c) + i for i in range(8)}, seed
        assert eval_seed(c) == eval_seed(TrainConfig(seed=seed, method="individual"))
        assert 0 <= eval_seed(c) < 2**31
