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

The suite's report (``pyrl.stats.suite``: every task's analysis and the claims across tasks,
one Holm family) is checked the same way on simulated factorials (SUITE_SCENARIOS: the three
tasks x rnn x layernorm x both methods): how often any claim across tasks is shown, how often
any claim of the whole report is, each kind's unadjusted rejection rate (the size of its
test: 5% when the test is right) where its null holds, and the power of the averaged gap.

    python -m pyrl.benchmarks.aggregate [--sims 400] [--boot 1000] [--jobs 2] [--suite] [--markdown]
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


def _studies(study, tasks: list, jobs: int) -> list[dict]:
    """``study`` over ``tasks`` (argument tuples), in ``jobs`` processes."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return list(pool.map(study, tasks, chunksize=4))
    return [study(t) for t in tasks]


def run(sims: int = 400, n_boot: int = 1000, seed: int = 0, jobs: int = 1) -> list[dict]:
    rows = []
    for i, (name, runs, width, shift, diverge) in enumerate(SCENARIOS):
        truth = (_true_iqm_difference(shift, diverge, np.random.default_rng(99)), _true_pi(shift, diverge))
        tasks = [(seed * 1_000_003 + i * 10_007 + s, runs, width, shift, diverge, n_boot, truth) for s in range(sims)]
        t0 = time.perf_counter()
        res = _studies(_study, tasks, jobs)
        rows.append({"scenario": name, "runs": runs, "models_per_individual_run": width, "shift": shift,
                     "diverge": diverge, "sims": sims, "truth": {"iqm_difference": truth[0], "pi": truth[1]},
                     **{k: float(np.mean([r[k] for r in res])) for k in res[0]},
                     "seconds": round(time.perf_counter() - t0, 1)})
    return rows


# (name, runs per cell per task, A3C shift on every task and configuration, rnn-off shift of both methods)
SUITE_SCENARIOS = [
    ("null", 3, 0.0, 0.0),
    ("null", 5, 0.0, 0.0),
    ("factor only (rnn off -0.2)", 5, 0.0, -0.2),
    ("a3c +0.1", 5, 0.1, 0.0),
    ("a3c +0.2", 5, 0.2, 0.0),
]
WORKERS = 2


def _suite_task(rng, name: str, mean: float, runs: int, shift: float, rnn_shift: float):
    """One simulated task of the factorial, in normalised units (floor 0, reference 1): an A3C
    run is one model its W workers score with episode noise, an independent run W models."""
    from pyrl.stats.suite import TaskInputs

    samples = []
    for rnn in (True, False):
        for ln in (True, False):
            mu = mean + (0.0 if rnn else rnn_shift)
            config = {"rnn": rnn, "layernorm": ln}
            for seed in range(runs):
                a3c = float(_models(rng, mu + shift, 1, 1, 0.0)[0][0])
                ind = _models(rng, mu, 1, WORKERS, 0.0)[0]
                for w in range(WORKERS):
                    samples.append(dict(config=config, method="a3c", seed=seed, worker=w, model=0,
                                        score=a3c + 0.02 * rng.standard_normal()))
                    samples.append(dict(config=config, method="individual", seed=seed, worker=w, model=w,
                                        score=float(ind[w])))
    return TaskInputs(name, samples, ["rnn", "layernorm"], floor=0.0, floor_source="simulated", reference=1.0,
                      reference_source="simulated")


def _suite_study(args):
    from pyrl.stats.suite import analyze_suite

    seed, runs, shift, rnn_shift, n_boot = args
    rng = np.random.default_rng(seed)
    tasks = [_suite_task(rng, f"task{k}", m, runs, shift, rnn_shift) for k, m in enumerate(TASK_MEANS)]
    doc = analyze_suite(tasks, n_boot=n_boot, seed=seed)
    across = doc["across_tasks"]["answer"]["claims"]
    own = holm([c["p"] for c in across if c["p"] is not None])
    # where each kind's null holds: gaps and interactions without an A3C shift; changes of layernorm
    # always (it does nothing), of rnn without an rnn shift
    nulls = {"gap": shift == 0, "interaction": True, "change layernorm": True, "change rnn": rnn_shift == 0}
    size: dict[str, list[bool]] = {}
    for c in across:
        kind = c["kind"] if c["kind"] != "change" else f"change {c['component']}"
        if nulls[kind] and c["p"] is not None:
            size.setdefault(f"{kind} {c['measure']}", []).append(c["p"] < 0.05)
    avg = {c["measure"]: c for c in across if c["kind"] == "gap" and c["configs"] == ["all configurations"]}
    return {
        "any_across_shown": any(c["shown"] for c in across),
        "any_shown": doc["family"]["shown"] > 0,
        "any_across_own_family": any(p < 0.05 for p in own),
        "size": {k: float(np.mean(v)) for k, v in size.items()},
        "averaged_gap_iqm_shown": avg["normalised IQM"]["shown"] and avg["normalised IQM"]["estimate"] > 0,
        "averaged_gap_pi_shown": avg["P(improvement)"]["shown"] and avg["P(improvement)"]["estimate"] > 0.5,
    }


def run_suite(sims: int = 400, n_boot: int = 1000, seed: int = 0, jobs: int = 1) -> list[dict]:
    rows = []
    for i, (name, runs, shift, rnn_shift) in enumerate(SUITE_SCENARIOS):
        tasks = [(seed * 1_000_003 + i * 10_007 + s, runs, shift, rnn_shift, n_boot) for s in range(sims)]
        t0 = time.perf_counter()
        res = _studies(_suite_study, tasks, jobs)
        kinds = sorted({k for r in res for k in r["size"]})
        rows.append({"scenario": name, "runs": runs, "shift": shift, "rnn_shift": rnn_shift, "sims": sims,
                     **{k: float(np.mean([r[k] for r in res])) for k in res[0] if k != "size"},
                     "size": {k: float(np.mean([r["size"][k] for r in res if k in r["size"]])) for k in kinds},
                     "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def markdown_suite(rows: list[dict]) -> str:
    lines = ["| scenario | runs per cell per task | any claim across tasks | any claim of the report | "
             "across tasks as their own family | averaged gap shown (IQM / P) | largest size of a test (kind) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        worst = max(r["size"].items(), key=lambda kv: kv[1]) if r["size"] else ("-", float("nan"))
        lines.append(f"| {r['scenario']} | {r['runs']} | {100 * r['any_across_shown']:.1f}% | "
                     f"{100 * r['any_shown']:.1f}% | {100 * r['any_across_own_family']:.1f}% | "
                     f"{100 * r['averaged_gap_iqm_shown']:.0f}% / {100 * r['averaged_gap_pi_shown']:.0f}% | "
                     f"{100 * worst[1]:.1f}% ({worst[0]}) |")
    return "\n".join(lines)


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
    ap.add_argument("--suite", action="store_true", help="the suite's report on simulated factorials")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    if args.suite:
        rows = run_suite(args.sims, args.boot, args.seed, args.jobs)
        print(markdown_suite(rows) if args.markdown else json.dumps(rows, indent=1))
        return 0
    rows = run(args.sims, args.boot, args.seed, args.jobs)
    print(markdown(rows) if args.markdown else json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
