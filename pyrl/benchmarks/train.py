"""``pyrl bench train``: training steps/s of pyrl against Stable-Baselines3 A2C, and how pyrl
scales from 1 to W workers.

- SB3 A2C with its defaults (``MlpPolicy``: separate 64-64 tanh policy and value MLPs;
  n_steps 5, RMSprop lr 7e-4), ``make_vec_env(env_id, n_envs=N)`` (Gymnasium envs stepped in
  its own process), one torch thread. Timed: ``learn(steps)``.
- pyrl: ``pyrl.train.run.train``, what ``pyrl train`` runs: feed-forward, hidden 64 (separate
  64-64 tanh policy and value MLPs), the trainer's defaults (rollout 5), N envs per worker,
  W = 1..max workers.
  Timed: the whole run, from forking the workers to their exit. An untimed short run first
  starts the fork server, as the first run of a sweep would.

- ``devices``: pyrl's runs on each of them (``cpu``, ``cuda``); "vs CPU" is a run's steps/s over
  the same method and W on the CPU. On a GPU each worker process starts its own CUDA context,
  inside the timed run, as it would in use.

Both sides see the same env id, N and total steps. Repeats alternate all the runs, so that the
noise of a shared machine hits each alike; every figure is a median over repeats.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Optional

import torch

from pyrl.benchmarks.rollout import _machine, met

TARGET_VS_SB3 = 4.0  # issue 15 (issue 4 asked 2x): feed-forward A3C with 2 workers on 2 cores, >= 4x SB3 A2C
TARGET_VS_FF = 0.85  # issue 15: LN-GRU A3C with 2 workers, >= 0.85x feed-forward's steps/s
MODELS = {  # name -> TrainConfig options of pyrl's runs
    "ff": dict(rnn=False, norm="none"),
    "lngru": dict(rnn=True, norm="layernorm"),
}


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def _sb3_sps(env_id: str, num_envs: int, steps: int, seed: int) -> float:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = make_vec_env(env_id, n_envs=num_envs, seed=seed)
        model = A2C("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
        model.set_logger(Logger(None, []))  # SB3's default logger makes a /tmp/SB3-* folder per run
        t0 = time.perf_counter()
        model.learn(total_timesteps=steps)
        wall = time.perf_counter() - t0
        done = model.num_timesteps  # learn rounds up to whole rollouts
        env.close()
    finally:
        torch.set_num_threads(prev)
    return done / wall


def _pyrl_sps(method: str, env_id: str, workers: int, num_envs: int, steps: int, seed: int,
              device: str = "cpu", model: str = "ff", separate_critic: bool = True) -> float:
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    cfg = TrainConfig(method=method, env=env_id, workers=workers, envs_per_worker=num_envs, steps=steps,
                      seed=seed, hidden=64, device=device, separate_critic=separate_critic, eval_episodes=0,
                      **MODELS[model])
    result = train(cfg, None)
    if result["status"] != "ok":
        raise RuntimeError(f"pyrl {method} {model} W={workers} on {device}: run ended {result['status']}: "
                           f"{result['error']}")
    return result["sps"]


def run(env_id: str = "CartPole-v1", num_envs: int = 8, steps: int = 100_000, max_workers: int = 2,
        methods: tuple[str, ...] = ("a3c", "individual"), repeats: int = 3, with_sb3: bool = True,
        devices: tuple[str, ...] = ("cpu",), models: tuple[str, ...] = ("ff",),
        separate_critic: bool = True, progress: Optional[Any] = None) -> dict[str, Any]:
    """Steps/s of SB3 A2C (if ``with_sb3``) and of every (model, method, W, device) in one
    interleaved run. ``separate_critic=False``: pyrl's models share one trunk between the
    heads (``--shared-critic``), one recurrent core instead of two."""
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {', '.join(unknown)} (choose from {', '.join(MODELS)})")
    # a case: (lib, method, workers, device, model)
    cases = [("sb3", "a2c", 1, "cpu", "ff")] if with_sb3 else []
    cases += [("pyrl", m, w, d, k) for k in models for d in devices for m in methods
              for w in range(1, max_workers + 1)]
    sps: dict[tuple, list[float]] = {c: [] for c in cases}
    if progress is not None:
        progress("warm-up")
    # untimed: the first run of a process starts the fork server (~2 s of imports), which every
    # later run reuses; no timed case should carry it
    _pyrl_sps(cases[-1][1], env_id, 1, num_envs, num_envs * 5 * 10, seed=0, device=cases[-1][3], model=cases[-1][4],
              separate_critic=separate_critic)
    for r in range(repeats):
        for case in cases:
            lib, method, workers, device, model = case
            if progress is not None:
                progress(f"repeat {r + 1}/{repeats}: {lib} {method} {model} W={workers} {device}")
            if lib == "sb3":
                sps[case].append(_sb3_sps(env_id, num_envs, steps, seed=r))
            else:
                sps[case].append(_pyrl_sps(method, env_id, workers, num_envs, steps, seed=r, device=device,
                                           model=model, separate_critic=separate_critic))
    med = {case: statistics.median(v) for case, v in sps.items()}
    sb3_median = med[("sb3", "a2c", 1, "cpu", "ff")] if with_sb3 else None
    rows = []
    for case in cases:
        lib, method, workers, device, model = case
        on_cpu = med.get((lib, method, workers, "cpu", model))
        ff = med.get((lib, method, workers, device, "ff"))
        rows.append({"lib": lib, "method": method, "workers": workers, "device": device, "model": model,
                     "sps": sps[case], "sps_median": med[case],
                     "vs_sb3": med[case] / sb3_median if sb3_median else None,
                     "scaling": med[case] / med[(lib, method, 1, device, model)],
                     "vs_cpu": med[case] / on_cpu if on_cpu and device != "cpu" else None,
                     "vs_ff": med[case] / ff if ff and lib == "pyrl" and model != "ff" else None})
    return {"bench": "train", "machine": _machine(), "env_id": env_id, "envs_per_worker": num_envs,
            "steps": steps, "repeats": repeats, "devices": list(devices), "models": list(models),
            "separate_critic": separate_critic, "target_vs_sb3": TARGET_VS_SB3, "target_vs_ff": TARGET_VS_FF,
            "rows": rows}


def render(result: dict[str, Any], console) -> None:
    from rich.table import Table

    critic = "" if result.get("separate_critic", True) else ", pyrl's critic shares the actor's trunk"
    t = Table(title=f"pyrl bench train: {result['env_id']}, {result['envs_per_worker']} envs per worker, "
                    f"{result['steps']:,} steps per run{critic}", title_justify="left")
    gpu = any(row.get("device", "cpu") != "cpu" for row in result["rows"])
    cols = ["run", "model", "device", "workers", "steps/s (median)", "vs SB3 A2C", "vs 1 worker", "vs ff"]
    cols += ["vs CPU"] if gpu else []
    for col in cols:
        t.add_column(col, justify="left" if col in ("run", "model", "device") else "right")
    for row in result["rows"]:
        name = "SB3 A2C (defaults)" if row["lib"] == "sb3" else f"pyrl {row['method']}"
        device = row.get("device", "cpu")
        vs = "-" if row["vs_sb3"] is None else f"{row['vs_sb3']:.2f}x"
        model = row.get("model", "ff")
        if (row["lib"] == "pyrl" and row["method"] == "a3c" and row["workers"] == 2 and device == "cpu"
                and model == "ff" and row["vs_sb3"] is not None):
            vs += f" (target >= {result['target_vs_sb3']:.0f}x: {met(row['vs_sb3'] >= result['target_vs_sb3'])})"
        vs_ff = "-" if row.get("vs_ff") is None else f"{row['vs_ff']:.2f}x"
        if (row["lib"] == "pyrl" and row["method"] == "a3c" and row["workers"] == 2 and device == "cpu"
                and model == "lngru" and row.get("vs_ff") is not None):
            target = result.get("target_vs_ff", TARGET_VS_FF)
            vs_ff += f" (target >= {target:.2f}x: {met(row['vs_ff'] >= target)})"
        cells = [name, "-" if row["lib"] == "sb3" else model, device, str(row["workers"]),
                 f"{row['sps_median']:,.0f}", vs, f"{row['scaling']:.2f}x", vs_ff]
        if gpu:
            cells.append("-" if row.get("vs_cpu") is None else f"{row['vs_cpu']:.2f}x")
        t.add_row(*cells)
    console.print(t)
    m = result["machine"]
    console.print(f"{m['cores']} cores, {m['cpu']}, torch {m['torch']}; medians of {result['repeats']} "
                  "repeats, runs interleaved; pyrl timed from forking the workers to their exit")
