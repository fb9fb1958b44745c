"""``pyrl bench profile``: where one worker's time goes, per env step, phase by phase.

Trains real runs (``pyrl.train.run.train(..., profile=True)``: the worker loop times its own
phases) for each model, and reports microseconds per env step of a worker:

- ``act``: the policy's forward for the N envs (and the bootstrap value), transfers included;
- ``env``: the rest of collection: envpool's step and the store's bookkeeping;
- ``advantages``: GAE and episode statistics (C++);
- ``learn``: the training pass over the rollout, the loss, backward and gradient clipping;
- ``step``: the optimizer step on the model the worker steps (shared under A3C);
- ``sync``: refreshing the worker's copy of the parameters and checking it is finite;
- ``report``, ``loop``: progress messages to the parent, and the loop's own bookkeeping.

Models are interleaved over repeats; figures are medians over repeats of the mean over workers.
"""
from __future__ import annotations

import statistics
from typing import Any, Optional

from pyrl.benchmarks.rollout import _machine

PHASES = ("act", "env", "advantages", "learn", "step", "sync", "report", "loop")
MODELS = {  # name -> TrainConfig options
    "ff": dict(rnn=False, norm="none"),
    "ff+ln": dict(rnn=False, norm="layernorm"),
    "lngru": dict(rnn=True, norm="layernorm"),
}


def _profile(model: str, method: str, env_id: str, workers: int, num_envs: int, steps: int, seed: int) -> dict:
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    cfg = TrainConfig(method=method, env=env_id, workers=workers, envs_per_worker=num_envs, steps=steps,
                      seed=seed, **MODELS[model])
    result = train(cfg, None, profile=True)
    if result["status"] != "ok":
        raise RuntimeError(f"{model}: run ended {result['status']}: {result['error']}")
    per_worker = []
    for w, spent in result["profile"].items():
        n = result["workers"][int(w)]["steps"]
        us = {p: 1e6 * spent.get(p, 0.0) / n for p in ("act", "advantages", "learn", "step", "sync", "report", "loop")}
        us["env"] = 1e6 * (spent["collect"] - spent["act"]) / n  # collect's laps include act
        per_worker.append(us)
    return {"sps": result["sps"], "us": {p: statistics.mean(u[p] for u in per_worker) for p in PHASES}}


def run(models=("ff", "lngru"), method: str = "a3c", env_id: str = "CartPole-v1", workers: int = 2,
        num_envs: int = 8, steps: int = 100_000, repeats: int = 3, progress: Optional[Any] = None) -> dict[str, Any]:
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)} (choose from {', '.join(MODELS)})")
    if progress is not None:
        progress("warm-up")
    _profile(models[0], method, env_id, 1, num_envs, num_envs * 5 * 10, seed=0)  # starts the fork server
    runs: dict[str, list[dict]] = {m: [] for m in models}
    for r in range(repeats):
        for m in models:
            if progress is not None:
                progress(f"repeat {r + 1}/{repeats}: {m}")
            runs[m].append(_profile(m, method, env_id, workers, num_envs, steps, seed=r))
    rows = []
    for m in models:
        us = {p: statistics.median(x["us"][p] for x in runs[m]) for p in PHASES}
        rows.append({"model": m, "sps_median": statistics.median(x["sps"] for x in runs[m]),
                     "us_per_step": us, "total_us": sum(us.values())})
    return {"bench": "profile", "machine": _machine(), "method": method, "env_id": env_id, "workers": workers,
            "envs_per_worker": num_envs, "steps": steps, "repeats": repeats, "rows": rows}


def render(result: dict[str, Any], console) -> None:
    """One row per phase, a column pair (µs per env step, share) per model."""
    from rich.table import Table

    t = Table(title=f"pyrl bench profile: {result['method']}, {result['workers']} workers x "
                    f"{result['envs_per_worker']} envs, {result['env_id']}, {result['steps']:,} steps: "
                    "µs per env step of a worker", title_justify="left")
    t.add_column("phase")
    for row in result["rows"]:
        t.add_column(f"{row['model']} µs", justify="right")
        t.add_column("share", justify="right")
    for p in PHASES:
        t.add_row(p, *(c for row in result["rows"]
                       for c in (f"{row['us_per_step'][p]:.1f}", f"{100 * row['us_per_step'][p] / row['total_us']:.0f}%")))
    t.add_row("total", *(c for row in result["rows"] for c in (f"{row['total_us']:.1f}", "")), style="bold")
    t.add_row("steps/s (run)", *(c for row in result["rows"] for c in (f"{row['sps_median']:,.0f}", "")))
    console.print(t)
    m = result["machine"]
    console.print(f"{m['cores']} cores, {m['cpu']}, torch {m['torch']}; medians of {result['repeats']} repeats")
