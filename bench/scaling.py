"""Training steps/s against envs per worker (N) and workers (W), feed-forward and LN-GRU.

    .venv/bin/python bench/scaling.py --steps 100000 --repeats 3 --out /tmp/scaling

A3C on CartPole-v1 with the trainer's defaults (separate critic, rollout 5), N in 8, 32, 128
and W in 1, 2, each case a whole `pyrl.train.run.train` run timed from forking the workers to
their exit (as `pyrl bench train` times it). Repeats alternate every case, so a shared
machine's noise hits each alike; figures are medians. Writes OUT/scaling.json and
OUT/scaling.png, and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ENVS = (8, 32, 128)
WORKERS = (1, 2)


def main() -> None:
    from pyrl.benchmarks.rollout import _machine
    from pyrl.benchmarks.train import MODELS, _pyrl_sps

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cases = [(m, n, w) for m in MODELS for n in ENVS for w in WORKERS]
    _pyrl_sps("a3c", "CartPole-v1", 1, 8, 8 * 5 * 10, seed=0)  # starts the fork server, untimed
    sps: dict = {c: [] for c in cases}
    for r in range(a.repeats):
        for m, n, w in cases:
            sps[(m, n, w)].append(_pyrl_sps("a3c", "CartPole-v1", w, n, a.steps, seed=r, model=m))
            print(m, n, w, round(sps[(m, n, w)][-1]), flush=True)
    med = {c: statistics.median(v) for c, v in sps.items()}
    doc = {"machine": _machine(), "steps": a.steps, "repeats": a.repeats,
           "rows": [{"model": m, "envs_per_worker": n, "workers": w, "sps": sps[(m, n, w)], "sps_median": med[(m, n, w)]}
                    for m, n, w in cases]}
    (a.out / "scaling.json").write_text(json.dumps(doc, indent=1))
    print("| model | W | " + " | ".join(f"N={n}" for n in ENVS) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in ENVS) + " |")
    for m in MODELS:
        for w in WORKERS:
            print(f"| {m} | {w} | " + " | ".join(f"{med[(m, n, w)]:,.0f}" for n in ENVS) + " |")
    for w in WORKERS:
        print(f"LN-GRU / ff at W={w}: " + ", ".join(f"N={n} {med[('lngru', n, w)] / med[('ff', n, w)]:.2f}x" for n in ENVS))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=110)
    for m, color in zip(MODELS, ("tab:blue", "tab:orange")):
        for w, ls in zip(WORKERS, ("--", "-")):
            ax.plot(ENVS, [med[(m, n, w)] / 1e3 for n in ENVS], ls, color=color, marker="o", label=f"{m}, W={w}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ENVS, [str(n) for n in ENVS])
    ax.set_xlabel("envs per worker N")
    ax.set_ylabel("steps/s (thousands)")
    ax.set_title("A3C on CartPole-v1, 2 cores")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out / "scaling.png")
    print(f"wrote {a.out / 'scaling.png'}")


if __name__ == "__main__":
    main()
