"""``pyrl bench rollout``: what the rollout engine costs.

1. ``gae`` in C++ (``pyrl.ops.gae``) vs a numpy loop over time vectorised over envs, at
   T=128, N=64 (target: at least 10x).
2. Env steps per second of the full collection loop (``pyrl.rollout.collect`` with a
   trivial policy: pre-drawn random actions, zero values) vs raw envpool stepping with the
   same pre-drawn random actions, same env, num_envs and envpool threads (target: collection
   at least 80% of raw on CartPole-v1 with 8 envs).

The two loops of (2) alternate rollout by rollout (T=128 steps each) on the same env, so that
the noise of a shared machine hits both alike; each figure is a median over repeats.
"""
from __future__ import annotations

import platform
import statistics
import time
from typing import Any

import numpy as np
import torch


def gae_numpy(rewards, values, terminated, truncated, prev_done, gamma, lam):
    """GAE under next-step autoreset as a numpy loop over t, vectorised over envs (the
    baseline of the benchmark; same rules as ``pyrl.ops.gae``)."""
    T, _ = rewards.shape
    done = terminated | truncated
    reset_step = np.concatenate([prev_done[None], done[:-1]])          # [T,N]
    bootstrap = gamma * values[1:] * ~terminated                        # [T,N]
    carry = gamma * lam * ~done
    adv = np.empty_like(rewards)
    last = np.zeros_like(rewards[0])
    for t in range(T - 1, -1, -1):
        last = rewards[t] + bootstrap[t] - values[t] + carry[t] * last
        last = np.where(reset_step[t], 0.0, last)
        adv[t] = last
    ret = np.where(reset_step, values[:-1], adv + values[:-1])
    return adv, ret, ~reset_step


def _gae_case(T: int, N: int, quick: bool) -> dict[str, Any]:
    from torch.utils.benchmark import Timer

    from pyrl import ops

    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(T, N, generator=g), torch.randn(T + 1, N, generator=g)
    te = torch.rand(T, N, generator=g) < 0.02
    tr = torch.rand(T, N, generator=g) < 0.01
    pd = torch.rand(N, generator=g) < 0.05
    rn, vn, ten, trn, pdn = r.numpy(), v.numpy(), te.numpy(), tr.numpy(), pd.numpy()
    # Same answer first: a benchmark of two different computations means nothing.
    a_np = gae_numpy(rn, vn, ten, trn, pdn, 0.99, 0.95)[0]
    a_c = ops.gae(r, v, te, tr, pd, 0.99, 0.95)[0]
    np.testing.assert_allclose(a_c.numpy(), a_np, rtol=1e-4, atol=1e-4)
    min_run = 0.05 if quick else 0.5
    env = {"ops": ops, "gae_numpy": gae_numpy, "r": r, "v": v, "te": te, "tr": tr, "pd": pd,
           "rn": rn, "vn": vn, "ten": ten, "trn": trn, "pdn": pdn}
    c = Timer("ops.gae(r, v, te, tr, pd, 0.99, 0.95)", globals=env, num_threads=1
              ).blocked_autorange(min_run_time=min_run)
    n = Timer("gae_numpy(rn, vn, ten, trn, pdn, 0.99, 0.95)", globals=env, num_threads=1
              ).blocked_autorange(min_run_time=min_run)
    return {"T": T, "N": N, "cpp_us": c.median * 1e6, "numpy_us": n.median * 1e6,
            "speedup": n.median / c.median, "target_speedup": 10.0}


def _sps_case(env_id: str, num_envs: int, T: int, steps: int, repeats: int,
              num_threads: int) -> dict[str, Any]:
    from pyrl import envs
    from pyrl.rollout import RolloutStore, collect

    env = envs.make(env_id, num_envs, seed=0, num_threads=num_threads, backend="envpool")
    raw = env._env  # the envpool object itself: raw stepping, no pyrl frame in between
    table = np.random.default_rng(0).integers(0, env.action_space.n, (1024, num_envs))
    actions_np = table.astype(np.int64)
    actions_t = list(torch.from_numpy(actions_np).unbind(0))  # a list: no tensor indexing
    zeros = torch.zeros(num_envs)
    k = [0]

    def policy(obs, reset):  # trivial: pre-drawn random actions, zero values and logprobs
        k[0] += 1
        return actions_t[k[0] & 1023], zeros, zeros

    store = RolloutStore.for_env(env, T)
    obs, _ = env.reset()
    store.start(obs)
    rollouts = max(1, steps // T)
    n_steps = rollouts * T

    step = raw.step
    pc = time.perf_counter

    def one_repeat() -> tuple[float, float]:
        # Alternate one raw block of T steps and one collected rollout, so that the noise of
        # a shared 2-core machine hits both alike; sum each side's time.
        t_raw = t_col = 0.0
        for _ in range(rollouts):
            t0 = pc()
            for i in range(T):
                step(actions_np[i])
            t1 = pc()
            collect(env, policy, store)
            t2 = pc()
            t_raw += t1 - t0
            t_col += t2 - t1
        n = rollouts * T * num_envs
        return n / t_raw, n / t_col

    one_repeat()  # warm up
    raw_sps, col_sps = [], []
    for _ in range(repeats):
        r, c = one_repeat()
        raw_sps.append(r)
        col_sps.append(c)
    env.close()
    ratios = [c / r for c, r in zip(col_sps, raw_sps)]
    return {"env_id": env_id, "num_envs": num_envs, "num_threads": num_threads, "T": T,
            "steps_per_repeat": n_steps, "repeats": repeats,
            "raw_sps": statistics.median(raw_sps), "collect_sps": statistics.median(col_sps),
            "ratio": statistics.median(ratios), "target_ratio": 0.8}


def run(repeats: int = 7, quick: bool = False, env_id: str = "CartPole-v1",
        num_envs: int = 8, num_threads: int = 1) -> dict[str, Any]:
    """Both measurements, one thread of torch (as in a worker). ``quick``: short runs for
    tests and smoke checks (numbers are noisier)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gae = _gae_case(128, 64, quick)
        sps = _sps_case(env_id, num_envs, T=128, steps=512 if quick else 8192,
                        repeats=max(1, repeats if not quick else min(repeats, 3)),
                        num_threads=num_threads)
    finally:
        torch.set_num_threads(prev)
    return {"bench": "rollout", "quick": quick, "machine": _machine(), "gae": gae,
            "collect": sps}


def _machine() -> dict[str, Any]:
    import os

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__}


def met(good: bool) -> str:
    """A target's verdict, as the benches' tables print it."""
    return "[green]met[/]" if good else "[red]missed[/]"


def render(result: dict[str, Any], console) -> None:
    """The two measurements as one rich table."""
    from rich.table import Table

    g, c = result["gae"], result["collect"]
    table = Table(title="pyrl bench rollout" + (" (quick)" if result.get("quick") else ""))
    for col in ("measure", "pyrl", "baseline", "ratio", "target"):
        table.add_column(col, justify="right" if col != "measure" else "left")
    table.add_row(f"gae T={g['T']} N={g['N']} (µs, C++ vs numpy loop)",
                  f"{g['cpp_us']:.1f}", f"{g['numpy_us']:.1f}", f"{g['speedup']:.1f}x",
                  f">= {g['target_speedup']:.0f}x {met(g['speedup'] >= g['target_speedup'])}")
    table.add_row(f"{c['env_id']} N={c['num_envs']} env steps/s (collect vs raw envpool)",
                  f"{c['collect_sps']:,.0f}", f"{c['raw_sps']:,.0f}", f"{c['ratio']:.1%}",
                  f">= {c['target_ratio']:.0%} {met(c['ratio'] >= c['target_ratio'])}")
    console.print(table)
    m = result["machine"]
    console.print(f"{m['cores']} cores, {m['cpu']}, torch {m['torch']}, one torch thread, "
                  f"envpool threads {c['num_threads']}, medians of {c['repeats']} repeats")
