"""How often the report calls a gap significant: null and power simulations (issue 12).

A simulated study has one configuration, two methods, ``runs`` runs per method and
``workers`` workers per run. A worker's score is

    score = mean_m + sd (sqrt(rho) u_run + sqrt(1 - rho) e_worker),   u, e ~ N(0, 1),

so scores have standard deviation ``sd`` and workers of one run correlate at ``rho`` (the
intra-run correlation; per method). mean_T - mean_C = ``gap``: 0 under the null. A study
counts as "significant" when the report's Welch p < alpha or its gap CI excludes 0: the rate
over studies is the false-positive rate under the null and the power under a real gap.

Everything goes through ``analyze`` (or, with --stats-file, the ``analyze`` of another
version of pyrl/stats.py, e.g. the old worker-level code), exactly as ``pyrl report`` calls it.
The report's family of claims and its intervals over a whole factorial study (issue 21):
``pyrl.benchmarks.claims``.

    python -m pyrl.benchmarks.inference [--sims 1000] [--n-boot 2000] [--stats-file OLD.py] [--json]
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
from typing import Callable

import numpy as np

SCENARIOS = [  # (name, rho treatment, rho control, gap in units of sd)
    ("null, rho 0.5 both", 0.5, 0.5, 0.0),
    ("null, rho 0.95 both", 0.95, 0.95, 0.0),
    ("null, rho 0.9 a3c, 0 individual", 0.9, 0.0, 0.0),
    ("null, rho 0 both", 0.0, 0.0, 0.0),
    ("gap 1 sd, rho 0.5 both", 0.5, 0.5, 1.0),
    ("gap 1 sd, rho 0.95 both", 0.95, 0.95, 1.0),
]


def simulate(rng: np.random.Generator, runs: int = 10, workers: int = 4, rho_t: float = 0.5,
             rho_c: float = 0.5, gap: float = 0.0, mean: float = 50.0, sd: float = 10.0) -> list[dict]:
    """One simulated study as sample dicts (config {}, methods a3c and individual)."""
    out = []
    for method, mu, rho in (("a3c", mean + gap * sd, rho_t), ("individual", mean, rho_c)):
        u = rng.standard_normal((runs, 1))
        e = rng.standard_normal((runs, workers))
        scores = mu + sd * (np.sqrt(rho) * u + np.sqrt(1 - rho) * e)
        out += [{"config": {}, "method": method, "seed": r, "worker": w, "score": float(scores[r, w])}
                for r in range(runs) for w in range(workers)]
    return out


def calls(doc: dict, alpha: float = 0.05) -> tuple[bool, bool]:
    """(Welch p < alpha, gap CI excludes 0) for a one-configuration report."""
    cp = doc["comparisons"][0]
    p, ci = cp["welch_p"], cp["gap_ci95"]
    return (p is not None and p < alpha), (ci is not None and not ci[0] <= 0 <= ci[1])


def significant(doc: dict, alpha: float = 0.05) -> bool:
    """The report's gap is called real: Welch p < alpha, or the gap CI excludes 0."""
    return any(calls(doc, alpha))


def _call(analyze: Callable, samples: list[dict], n_boot: int | None, seed: int) -> dict:
    """``analyze`` of one configuration; ``n_boot`` and ``seed`` only for code that takes them
    (before issue 21 every interval was a bootstrap; after it none is)."""
    if "n_boot" in inspect.signature(analyze).parameters:
        return analyze(samples, [], n_boot=2000 if n_boot is None else n_boot, seed=seed)
    return analyze(samples, [])


def rates(analyze: Callable, sims: int, seed: int, n_boot: int | None = None, runs: int = 10, workers: int = 4,
          **scenario) -> dict[str, float]:
    """Shares of ``sims`` simulated studies (seeded by ``seed``) with p < 0.05 ("p"), with a gap
    CI excluding 0 ("ci") and with either ("either": called significant). ``n_boot``: the
    bootstrap resamples of an ``analyze`` that takes them (default 2000), else ignored."""
    rng = np.random.default_rng(seed)
    hits = np.array([calls(_call(analyze, simulate(rng, runs, workers, **scenario), n_boot, i))
                     for i in range(sims)])
    return {"p": hits[:, 0].mean(), "ci": hits[:, 1].mean(), "either": hits.any(axis=1).mean()}


def rate(analyze: Callable, sims: int, seed: int, n_boot: int | None = None, runs: int = 10, workers: int = 4,
         **scenario) -> float:
    """Share of ``sims`` simulated studies (seeded by ``seed``) whose gap is called significant."""
    return float(rates(analyze, sims, seed, n_boot, runs, workers, **scenario)["either"])


def _load_analyze(path: str | None) -> Callable:
    if path is None:
        from pyrl.stats import analyze

        return analyze
    spec = importlib.util.spec_from_file_location("pyrl_stats_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod.analyze


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000, help="simulated studies per scenario")
    ap.add_argument("--n-boot", type=int, default=None,
                    help="bootstrap resamples per study, for an analyze that takes them (code before issue 21; "
                         "default 2000)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stats-file", help="a pyrl/stats.py to measure instead of the installed pyrl.stats")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    analyze = _load_analyze(args.stats_file)
    rows = []
    for k, (name, rt, rc, gap) in enumerate(SCENARIOS):
        r = rates(analyze, args.sims, args.seed + k, args.n_boot, args.runs, args.workers, rho_t=rt, rho_c=rc, gap=gap)
        rows.append({"scenario": name, "rho_treatment": rt, "rho_control": rc, "gap_sd": gap,
                     **{k: float(v) for k, v in r.items()}})
        if not args.json:
            print(f"{name:36s} significant in {100 * r['either']:5.1f}% of {args.sims} studies "
                  f"(p < 0.05: {100 * r['p']:.1f}%, CI excludes 0: {100 * r['ci']:.1f}%)", flush=True)
    if args.json:
        json.dump({"sims": args.sims, "n_boot": args.n_boot, "runs": args.runs, "workers": args.workers,
                   "results": rows}, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
