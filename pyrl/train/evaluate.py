"""Evaluation of saved models on fresh episodes (the same acting path as training)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from pyrl.train.config import TrainConfig

LEGACY = {"separate_critic": False}  # the architecture of runs saved before these fields existed


@torch.no_grad()
def evaluate_model(cfg: TrainConfig, state_dict, episodes: int, seed: int) -> list[float]:
    from pyrl.envs import make
    from pyrl.rollout import EpisodeStats
    from pyrl.train.worker import build_model

    n = min(episodes, 8)
    env = make(cfg.env, n, seed=seed, num_threads=1)
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
        returns: list[float] = []
        while len(returns) < episodes:
            action, _, _, state = model.act(torch.as_tensor(obs), state, prev_reset_step, generator=gen)
            prev_reset_step = prev_done
            obs, r, te, tr, _ = env.step(action.numpy())
            done = np.logical_or(te, tr)
            eps = stats.update(torch.as_tensor(r)[None], torch.as_tensor(te)[None], torch.as_tensor(tr)[None])
            returns.extend(float(ret) for _, _, _, ret, _ in eps)
            prev_done = torch.as_tensor(done)
        return returns[:episodes]
    finally:
        env.close()


def evaluate_run(run_dir: Path, episodes: int, seed: int) -> list[dict]:
    meta = json.loads((Path(run_dir) / "model_meta.json").read_text())
    # a field the run's config lacks predates it: the model then had what that field's absence
    # meant (a shared trunk before separate_critic), not today's default
    cfg = TrainConfig(**{**LEGACY, **meta["config"]})
    results = []
    for path in sorted(Path(run_dir).glob("model*.pt")):
        sd = torch.load(path, weights_only=True)
        rets = np.array(evaluate_model(cfg, sd, episodes, seed))
        results.append({"model": path.name, "mean": float(rets.mean()), "std": float(rets.std()),
                        "min": float(rets.min()), "max": float(rets.max()), "returns": rets.tolist()})
    if not results:
        raise ValueError("no model*.pt in the run directory")
    return results
