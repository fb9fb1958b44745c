"""Evaluation of saved models on fresh episodes (the same acting path as training), the
fixed-policy evaluation every trained model gets after training (``fixed_evaluation``), and
the random-policy floor of an env (``random_policy_score``)."""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyrl.train.config import TrainConfig


@torch.no_grad()
def evaluate_model(cfg: TrainConfig, state_dict, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` fresh episodes of the model's (sampling) policy, run on up to 8
    envs at once. Each env contributes a fixed share of the count, its *first* episodes
    (``(episodes + i) // n`` for env i, as Stable-Baselines3's ``evaluate_policy``): keeping
    the first completions across envs instead would over-represent short episodes.
    The env seeds are ``seed + i`` and the actions are drawn from a CPU generator seeded with
    ``seed``, on one thread (as a worker acts): the same returns in any process."""
    from pyrl.envs import make
    from pyrl.rollout import EpisodeStats
    from pyrl.train.worker import build_model

    n = min(episodes, 8)
    targets = [(episodes + i) // n for i in range(n)]  # per env; they sum to ``episodes``
    env = make(cfg.env, n, seed=seed, num_threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(cfg, env.observation_space.shape, env.action_space, 0)
        model.load_state_dict(state_dict)
        gen = torch.Generator().manual_seed(seed)
        stats = EpisodeStats(n)
        obs, _ = env.reset()
        state = model.initial_state(n)
        # the rollout engine's masks: a step after an episode's end is a reset step (it acts
        # on the final obs); the state is zeroed entering the step after it
        prev_done = torch.zeros(n, dtype=torch.bool)
        prev_reset_step = torch.ones(n, dtype=torch.bool)
        per_env: list[list[float]] = [[] for _ in range(n)]
        while any(len(r) < k for r, k in zip(per_env, targets)):
            action, _, _, state = model.act(torch.as_tensor(obs), state, prev_reset_step, generator=gen)
            prev_reset_step = prev_done
            obs, r, te, tr, _ = env.step(action.numpy())
            done = np.logical_or(te, tr)
            eps = stats.update(torch.as_tensor(r)[None], torch.as_tensor(te)[None], torch.as_tensor(tr)[None])
            for _, i, _, ret, _ in eps:
                if len(per_env[i]) < targets[i]:
                    per_env[i].append(float(ret))
            prev_done = torch.as_tensor(done)
        return [ret for rets in per_env for ret in rets]
    finally:
        torch.set_num_threads(threads)
        env.close()


def fixed_evaluation(cfg: TrainConfig, state_dict) -> dict[str, Any]:
    """The evaluation every trained model gets after training: ``cfg.eval_episodes`` episodes
    of its sampled policy (the policy that was trained, which the training scores describe),
    on the env seeds of ``eval_seed(cfg)``, disjoint from training's and the same for both
    methods of a seed. ``state_dict``: CPU tensors."""
    from pyrl.train.worker import eval_seed

    seed = eval_seed(cfg)
    t0 = time.perf_counter()
    # building the model seeds torch's global generator: the caller's is left as it was
    with torch.random.fork_rng(devices=[]):
        returns = evaluate_model(cfg, state_dict, cfg.eval_episodes, seed)
    return {"episodes": len(returns), "returns": returns, "mean": sum(returns) / len(returns), "seed": seed,
            "action": "sampled", "seconds": time.perf_counter() - t0}


def random_policy_score(env_id: str, episodes: int = 100, seed: int = 0) -> dict[str, Any]:
    """The mean return of a uniformly random policy on ``env_id``: a divergence floor fixed
    before any analysis. The actions are drawn from the action space with a numpy Generator
    seeded with ``seed`` (no model); the episodes are spread over up to 8 envs (seeds
    ``seed + i``) exactly as ``evaluate_model`` spreads them, each env contributing its first
    ones. Cached per (env_id, episodes, seed) within a process."""
    returns = random_policy_returns(str(env_id), int(episodes), int(seed))
    return {"score": sum(returns) / len(returns), "policy": "uniform random", "episodes": len(returns),
            "seed": int(seed)}


@functools.lru_cache(maxsize=None)
def random_policy_returns(env_id: str, episodes: int, seed: int) -> tuple[float, ...]:
    """The returns behind ``random_policy_score``: env i's first ``(episodes + i) // n``, in
    env order (cached)."""
    from pyrl.envs import make
    from pyrl.rollout import EpisodeStats

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    n = min(episodes, 8)
    targets = [(episodes + i) // n for i in range(n)]  # per env; they sum to ``episodes``
    rng = np.random.default_rng(seed)
    env = make(env_id, n, seed=seed, num_threads=1)
    try:
        stats = EpisodeStats(n)
        env.reset()
        per_env: list[list[float]] = [[] for _ in range(n)]
        while any(len(r) < k for r, k in zip(per_env, targets)):
            _, r, te, tr, _ = env.step(_uniform_actions(env.action_space, rng, n))
            eps = stats.update(torch.as_tensor(r)[None], torch.as_tensor(te)[None], torch.as_tensor(tr)[None])
            for _, i, _, ret, _ in eps:
                if len(per_env[i]) < targets[i]:
                    per_env[i].append(float(ret))
        return tuple(ret for rets in per_env for ret in rets)
    finally:
        env.close()


def _uniform_actions(space, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` actions drawn uniformly from one env's action ``space`` (a Box's unbounded sides as
    Gymnasium samples them: normal, or exponential from the one bound)."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return (int(space.start) + rng.integers(int(space.n), size=n)).astype(np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        return (space.start + rng.integers(space.nvec, size=(n, *space.nvec.shape))).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return rng.integers(2, size=(n, *space.shape)).astype(space.dtype)
    if isinstance(space, spaces.Box):
        shape = (n, *space.shape)
        low = np.broadcast_to(space.low.astype(np.float64), shape)
        high = np.broadcast_to(space.high.astype(np.float64), shape)
        lo_ok, hi_ok = np.isfinite(low), np.isfinite(high)
        both = lo_ok & hi_ok
        a = rng.normal(size=shape)
        a = np.where(lo_ok & ~hi_ok, np.where(lo_ok, low, 0.0) + rng.exponential(size=shape), a)
        a = np.where(hi_ok & ~lo_ok, np.where(hi_ok, high, 0.0) - rng.exponential(size=shape), a)
        a = np.where(both, rng.uniform(np.where(both, low, 0.0), np.where(both, high, 1.0)), a)
        return a.astype(space.dtype)
    raise TypeError(f"no uniform random policy for the action space {space}")


def evaluate_run(run_dir: Path, episodes: int, seed: int) -> list[dict]:
    meta = json.loads((Path(run_dir) / "model_meta.json").read_text())
    cfg = TrainConfig.from_dict(meta["config"])
    results = []
    for path in sorted(Path(run_dir).glob("model*.pt")):
        sd = torch.load(path, weights_only=True)
        rets = np.array(evaluate_model(cfg, sd, episodes, seed))
        results.append({"model": path.name, "mean": float(rets.mean()), "std": float(rets.std()),
                        "min": float(rets.min()), "max": float(rets.max()), "returns": rets.tolist()})
    if not results:
        raise ValueError("no model*.pt in the run directory")
    return results
