"""Learning curves on the POMDP (CartPoleNoVel-v1), recurrent vs feed-forward, to a budget.

    .venv/bin/python bench/pomdp_curves.py --seeds 3 --steps 1000000 --out /tmp/pomdp

Runs pyrl A3C (2 workers x 8 envs) with the settings bench/README.md recommends for the POMDP
(separate critic, rollout 16, gamma 0.98, GAE lambda 0.8), LN-GRU core with LayerNorm and
feed-forward, seed by seed. Writes OUT/runs.jsonl (one line per run: the score every 50k
steps, steps to 475) and OUT/curves.png (median over seeds and each seed), and prints a
Markdown table. A run's score at step s: the mean return of the last 10 episodes that ended
by s, over all its workers.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import tempfile
from pathlib import Path

POMDP = dict(rollout=16, gamma=0.98, gae_lambda=0.8)
VARIANTS = {
    "LN-GRU": dict(rnn=True, norm="layernorm"),
    "feed-forward": dict(rnn=False, norm="none"),
}
EVERY = 50_000


def scores_at(rows: list[tuple[int, int, float]], workers: int, marks: list[int]) -> list[float | None]:
    """Score at each mark: mean of the last 10 episodes that ended by it (None before 10)."""
    eps = sorted((step * workers, ret) for _, step, ret in rows)  # run steps: W x worker step
    out = []
    for m in marks:
        done = [r for s, r in eps if s <= m][-10:]
        out.append(sum(done) / len(done) if len(done) == 10 else None)
    return out


def main() -> None:
    from pyrl.benchmarks.learn import steps_to_threshold
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    marks = list(range(EVERY, a.steps + 1, EVERY))
    log = a.out / "runs.jsonl"
    done = {(r["variant"], r["seed"]) for r in map(json.loads, log.read_text().splitlines())} if log.exists() else set()
    for seed in range(a.seeds):
        for name, arch in VARIANTS.items():
            if (name, seed) in done:
                continue
            cfg = TrainConfig(method="a3c", env="CartPoleNoVel-v1", workers=2, envs_per_worker=8, steps=a.steps,
                              seed=seed, **arch, **POMDP)
            with tempfile.TemporaryDirectory() as tmp:
                res = train(cfg, Path(tmp))
                with open(Path(tmp) / "curve.csv") as f:
                    rows = [(int(w), int(s), float(r)) for w, s, r in list(csv.reader(f))[1:]]
            line = {"variant": name, "seed": seed, "status": res["status"], "steps": res["steps"],
                    "wall_s": res["wall_s"], "marks": marks, "scores": scores_at(rows, cfg.workers, marks),
                    "steps_to_475": steps_to_threshold(rows, cfg.workers, 475.0)}
            with open(log, "a") as f:
                f.write(json.dumps(line) + "\n")
            print(name, seed, res["status"], line["steps_to_475"], round(res["wall_s"], 1), flush=True)
    summarise(log, a.out / "curves.png")


def summarise(log: Path, png: Path) -> None:
    runs = [json.loads(x) for x in log.read_text().splitlines()]
    marks = runs[0]["marks"]
    show = [m for m in marks if m % 100_000 == 0]
    print("| model | seeds | " + " | ".join(f"{m // 1000}k" for m in show) + " | steps to 475 (each seed) |")
    print("| --- | ---: | " + " | ".join("---:" for _ in show) + " | --- |")
    medians = {}
    for name in VARIANTS:
        rs = [r for r in runs if r["variant"] == name]
        if not rs:
            continue
        med = []
        for i in range(len(marks)):
            vals = [r["scores"][i] for r in rs if r["scores"][i] is not None]
            med.append(statistics.median(vals) if vals else math.nan)
        medians[name] = med
        cells = [f"{med[marks.index(m)]:.0f}" for m in show]
        reach = ", ".join("never" if r["steps_to_475"] is None else f"{r['steps_to_475'] / 1000:.0f}k" for r in rs)
        print(f"| {name} | {len(rs)} | " + " | ".join(cells) + f" | {reach} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for (name, med), color in zip(medians.items(), ("tab:blue", "tab:orange")):
        for r in (r for r in runs if r["variant"] == name):
            ax.plot([m / 1e3 for m in marks], [math.nan if s is None else s for s in r["scores"]],
                    color=color, alpha=0.25, lw=1)
        ax.plot([m / 1e3 for m in marks], med, color=color, lw=2, label=f"{name} (median)")
    ax.axhline(475, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("env steps (thousands)")
    ax.set_ylabel("mean return, last 10 episodes")
    ax.set_title("A3C on CartPoleNoVel-v1 (2 workers x 8 envs)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
