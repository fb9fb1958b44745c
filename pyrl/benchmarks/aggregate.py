"""The answer across tasks (issue 23): the stratified bootstrap of ``pyrl.stats.aggregate``
checked by simulation.

A simulated suite has TASKS tasks of different difficulty (normalised means TASK_MEANS). On
each, each method has ``runs`` runs: an A3C run trains one model, an independent run W
models with a small shared run effect (its learners share a seed). A model's normalised score
is its task's mean, plus the method's shift, plus N(0, SD) noise; with ``diverge`` a share of
models diverges and scores the floor (0, a random policy), as the divergence policy scores
them. Null: no shift. Power: A3C shifted up by ``shift`` on every task.

Measured over ``--sims`` studies: how often the aggregate's "A3C better" is shown (the IQM
difference and the probability of improvement as one Holm family of two, adjusted p < 0.05,
estimate on A3C's side; target at most 7% on the null), how often "individual better" is
shown, and the coverage of the two 95% intervals (the truth is known: the IQM difference is
the shift, the probability of improvement Phi(shift / (SD sqrt 2)) on the null and shifted
normals; with divergences it is computed from the mixture).

    python -m pyrl.benchmarks.aggregate [--sims 400] [--boot 1000] [--jobs 2] [--markdown]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import stats as sps

from pyrl.stats.aggregate import across_tasks
from pyrl.stats.estimators import holm

TASK_MEANS = (0.3, 0.6, 0.9)
SD = 0.2
RUN_SHARE = 0.05  # share of an independent model's variance from its run's shared effect

# (name, runs per method per task, models per independent run, A3C shift, divergence share)
SCENARIOS = [
    ("null", 3, 2, 0.0, 0.0),
    ("null", 5, 4, 0.0, 0.0),
    ("null", 10, 4, 0.0, 0.0),
    ("null, 10% diverge", 5, 4, 0.0, 0.1),
    ("a3c +0.1", 3, 2, 0.1, 0.0),
    ("a3c +0.1", 5, 4, 0.1, 0.0),
    ("a3c +0.1", 10, 4, 0.1, 0.0),
    ("a3c +0.2", 5, 4, 0.2, 0.0),
]


def _models(rng, mean, n_runs, width, diverge):
    """[n_runs] arrays of ``width`` model scores: a shared run effect, model noise, divergences."""
    run = rng.standard_normal((n_runs, 1)) * SD * math.sqrt(RUN_SHARE)
    own = rng.standard_normal((n_runs, width)) * SD * math.sqrt(1 - RUN_SHARE)
    scores = mean + run + own
    if diverge:
        scores = np.where(rng.random(scores.shape) < diverge, 0.0, scores)
    return list(scores)


def _true_pi(shift, diverge):
    """P(T > C), ties half, for one model of each on one task, from the model distribution."""
    if not diverge:
        return float(sps.norm.cdf(shift / (SD * math.sqrt(2))))
    # mixture: with probability d a model scores exactly 0; else N(mu + shift, SD) against N(mu, SD)
    d = diverge
    both = (1 - d) ** 2 * sps.norm.cdf(shift / (SD * math.sqrt(2)))
    t_only = (1 - d) * d * np.mean([sps.norm.sf(-m - shift, scale=SD) for m in TASK_MEANS])  # T > 0
    c_only = d * (1 - d) * np.mean([sps.norm.cdf(-m, scale=SD) for m in TASK_MEANS])  # 0 > C
    return float(both + t_only + c_only + 0.5 * d * d)


def _true_iqm_difference(shift, diverge, rng):
    """The population IQM difference, by a large sample (exact = shift without divergences)."""
    if not diverge:
        return shift
    pools = []
    for s in (shift, 0.0):
        x = np.concatenate([np.concatenate(_models(rng, m + s, 200_000, 1, diverge)) for m in TASK_MEANS])
        pools.append(float(sps.trim_mean(x, 0.25)))
    return pools[0] - pools[1]


def _study(args):
    seed, runs, width, shift, diverge, n_boot, truth = args
    rng = np.random.default_rng(seed)
    suite = {f"task{k}": {"a3c": _models(rng, m + shift, runs, 1, diverge),
                          "individual": _models(rng, m, runs, width, diverge)}
             for k, m in enumerate(TASK_MEANS)}
    out = across_tasks(suite, "a3c", "individual", n_boot=n_boot, seed=seed)
    d, pi = out["iqm_difference"], out["probability_of_improvement"]
    adj = holm([d["p"], pi["p"]])
    shown = [p < 0.05 for p in adj]
    a3c_side = [d["value"] > 0, pi["value"] > 0.5]
    return {
        "a3c_better": any(s and a for s, a in zip(shown, a3c_side)),
        "individual_better": any(s and not a for s, a in zip(shown, a3c_side)),
        "cover_iqm": d["ci"][0] <= truth[0] <= d["ci"][1],
        "cover_pi": pi["ci"][0] <= truth[1] <= pi["ci"][1],
    }


def run(sims: int = 400, n_boot: int = 1000, seed: int = 0, jobs: int = 1) -> list[dict]:
    rows = []
    for i, (name, runs, width, shift, diverge) in enumerate(SCENARIOS):
        truth = (_true_iqm_difference(shift, diverge, np.random.default_rng(99)), _true_pi(shift, diverge))
        tasks = [(seed * 1_000_003 + i * 10_007 + s, runs, width, shift, diverge, n_boot, truth) for s in range(sims)]
        t0 = time.perf_counter()
        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                res = list(pool.map(_study, tasks, chunksize=8))
        else:
            res = [_study(t) for t in tasks]
        rows.append({"scenario": name, "runs": runs, "models_per_individual_run": width, "shift": shift,
                     "diverge": diverge, "sims": sims, "truth": {"iqm_difference": truth[0], "pi": truth[1]},
                     **{k: float(np.mean([r[k] for r in res])) for k in res[0]},
                     "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| scenario | runs per method per task | A3C better shown | individual better shown | "
             "IQM difference CI covers | P(T > C) CI covers |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['runs']} (individual x {r['models_per_individual_run']}) | "
                     f"{100 * r['a3c_better']:.1f}% | {100 * r['individual_better']:.1f}% | "
                     f"{100 * r['cover_iqm']:.1f}% | {100 * r['cover_pi']:.1f}% |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    rows = run(args.sims, args.boot, args.seed, args.jobs)
    print(markdown(rows) if args.markdown else json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
