"""Claims that hold (issue 21): the report's family of claims and its intervals, checked by simulation.

A simulated study is a full factorial: rnn x layernorm (on/off components, the baseline both on)
x method (a3c, individual), ``runs`` runs per cell and ``workers`` workers per run. Under the
normal model a worker's score is

    score = mean + sd z,   z = sqrt(rho) u_run + sqrt(1 - rho) e_worker,   u, e ~ N(0, 1),

with rho per method (A3C's workers share one model: rho_t = 0.9; independent learners: rho_c = 0).
Under the skewed (lognormal) model, score = mean exp(0.5 z) with the same correlated z. ``effect``
lowers z, in every run of every cell where ``factor`` is off, by ``effect`` run-level standard
deviations, sd_run = sqrt(rho + (1 - rho) / workers) (in score units under the normal model:
effect x sd x that). Null: effect 0, and every cell of a method has the same distribution.

Two checks, each through ``analyze`` exactly as ``pyrl report`` calls it:

- **The family** (``family``): the share of simulated studies whose report shows any claim
  (``doc["answer"]["claims"]``, ``shown``), per kind, and under an effect the share that shows
  the factor's effect on the score (kind effect or change, measure score, component the factor)
  and the share that shows a claim surely null under it (``is_null_under_effect``). Targets
  (issue 21): on the null at 5 runs x 2 workers at most 7% of reports show any claim; an effect
  of 1.5 run-level sd on one factor at 10 runs x 2 workers is shown in at least 70%.
- **Coverage** (``coverage``): on null studies with known truth, the share of 95% intervals that
  cover it: a cell's mean, CV, IQM and median, the gap, P(a3c > individual), the gap and CV
  interactions, and every claim's interval (whose truth is its null value in a null study). An
  interval that is None counts as "no interval", apart from hits and misses. Targets: at least 93%
  from 5 runs, at least 90% at 3 runs (or no interval).

``--old PATH`` measures the code of another checkout (e.g. ``git worktree add /tmp/pyrl_old
a7076c6``) instead: this file re-executes itself in a subprocess with ``PYTHONPATH=PATH``, so the
two ``pyrl`` packages never mix. That code's ``analyze`` takes ``n_boot`` and ``seed`` and has no
claims list; a report "shows a claim in the Answer" as its Answer did (``old_flags``).

Every study draws from its own stream, ``default_rng([seed, crc32(scenario), study])``, so the
figures do not depend on ``--jobs``.

    python -m pyrl.benchmarks.claims [--sims 1000] [--coverage-sims 2000] [--part all|family|coverage]
                                     [--seed 0] [--jobs 2] [--json | --markdown]
                                     [--old /tmp/pyrl_old [--n-boot 2000]]
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import subprocess
import sys
import time
import zlib
from typing import Any, Callable, Iterable, Sequence

import numpy as np

FACTORS = ["rnn", "layernorm"]
METHODS = ("a3c", "individual")
# pyrl.stats.claims.KINDS, spelled out: --old runs this file against a pyrl that has no claims module
KINDS = ("gap", "effect", "change", "contribution", "interaction", "stability", "convergence")
LOG_SIGMA = 0.5  # the lognormal model: score = mean exp(LOG_SIGMA z)
MODELS = ("normal", "lognormal")
RHO_T, RHO_C = 0.9, 0.0

# (name, runs, workers, effect in run-level sd on FAMILY_FACTOR, target)
FAMILY = [
    ("null", 3, 2, 0.0, None),
    ("null", 5, 2, 0.0, ("anywhere", "<=", 0.07)),
    ("null", 10, 4, 0.0, None),
    ("effect 1.5 sd", 5, 2, 1.5, None),
    ("effect 1.5 sd", 10, 2, 1.5, ("factor", ">=", 0.70)),
]
FAMILY_FACTOR = "rnn"
COVERAGE_RUNS = (3, 5, 10)
COVERAGE_WORKERS = 2
TRUTH_DRAWS = 2_000_000  # Monte Carlo draws of run means per method for the skewed model's truths


def coverage_target(runs: int) -> float:
    """At least 93% from 5 runs, at least 90% below (issue 21)."""
    return 0.93 if runs >= 5 else 0.90


# --------------------------------------------------------------------------- simulation


def run_sd(rho: float, workers: int) -> float:
    """The standard deviation of a run's mean z (z has unit variance, workers correlated rho)."""
    return math.sqrt(rho + (1 - rho) / workers)


def simulate_factorial(rng: np.random.Generator, runs: int, workers: int, rho_t: float = RHO_T,
                       rho_c: float = RHO_C, effect: float = 0.0, factor: str = "rnn", mean: float = 50.0,
                       sd: float = 10.0, model: str = "normal") -> list[dict]:
    """One simulated rnn x layernorm x {a3c, individual} study as sample dicts (config
    {"rnn": bool, "layernorm": bool}, method, seed, worker, score); see the module docstring."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    out = []
    for rnn in (True, False):
        for ln in (True, False):
            cfg = {"rnn": rnn, "layernorm": ln}
            for method, rho in (("a3c", rho_t), ("individual", rho_c)):
                u = rng.standard_normal((runs, 1))
                e = rng.standard_normal((runs, workers))
                z = math.sqrt(rho) * u + math.sqrt(1 - rho) * e
                if effect and not cfg[factor]:
                    z = z - effect * run_sd(rho, workers)
                scores = mean + sd * z if model == "normal" else mean * np.exp(LOG_SIGMA * z)
                out += [{"config": dict(cfg), "method": method, "seed": r, "worker": w,
                         "score": float(scores[r, w])} for r in range(runs) for w in range(workers)]
    return out


@functools.lru_cache(maxsize=None)
def truths(model: str, workers: int, rho_t: float = RHO_T, rho_c: float = RHO_C, mean: float = 50.0,
           sd: float = 10.0, draws: int = TRUTH_DRAWS) -> dict[str, Any]:
    """The true values the null study's intervals estimate, per method: the mean and CV of a
    worker's score, the median and IQM (25%-trimmed mean) of the distribution of run means, and
    P(run mean of a3c > run mean of individual). Closed form under the normal model; under the
    lognormal the mean and CV in closed form, the rest by Monte Carlo (``draws`` run means per
    method, a fixed seed)."""
    from scipy import stats as sps

    rhos = {"a3c": rho_t, "individual": rho_c}
    if model == "normal":
        per = {m: {"mean": mean, "cv": sd / mean, "median": mean, "iqm": mean} for m in METHODS}
        return {"methods": per, "prob_improvement": 0.5, "method": "closed form"}
    s2 = LOG_SIGMA ** 2
    per = {}
    rng = np.random.default_rng(20240521)
    run_means = {}
    for m in METHODS:
        rho = rhos[m]
        z = math.sqrt(rho) * rng.standard_normal((draws, 1)) + math.sqrt(1 - rho) * rng.standard_normal(
            (draws, workers))
        rm = (mean * np.exp(LOG_SIGMA * z)).mean(axis=1)
        run_means[m] = rm
        per[m] = {"mean": mean * math.exp(s2 / 2), "cv": math.sqrt(math.expm1(s2)),
                  "median": float(np.median(rm)), "iqm": float(sps.trim_mean(rm, 0.25))}
    c = np.sort(run_means["individual"])
    p = float(np.searchsorted(c, run_means["a3c"], side="left").mean() / len(c))  # continuous: no ties
    return {"methods": per, "prob_improvement": p, "method": f"Monte Carlo, {draws:,} run means per method"}


# --------------------------------------------------------------------------- reading a report


def excludes(ci: Sequence[float] | None, value: float = 0.0) -> bool:
    return ci is not None and not ci[0] <= value <= ci[1]


def covers(ci: Sequence[float] | None, value: float) -> bool | None:
    """True / False, or None when there is no interval."""
    return None if ci is None else bool(ci[0] <= value <= ci[1])


def null_value(claim: dict) -> float:
    return 1.0 if claim.get("scale") == "ratio" else 0.0


def is_factor_effect(claim: dict, factor: str) -> bool:
    """A claim about the factor's effect on the score (the effect the simulation plants)."""
    return (claim["kind"] in ("effect", "change") and claim.get("measure") == "score"
            and claim.get("component") == factor)


def is_null_under_effect(claim: dict, factor: str) -> bool:
    """Whether a claim's contrast is surely null when the simulation plants an effect on
    ``factor`` alone: anything about another factor (its effect, changes, contributions, CV
    changes) and every interaction (the planted shift is the same at each level of the other
    factor). Not every other claim is null: the shift is per method (effect x that method's
    run-level sd), so where the factor is off the gap, its contribution and the CV ratio move too."""
    comp = claim.get("component")
    cv_interaction = claim["kind"] == "stability" and len(claim.get("configs") or []) >= 4
    return claim["kind"] == "interaction" or cv_interaction or (comp is not None and comp != factor)


def claim_flags(doc: dict, factor: str | None = None) -> dict[str, Any]:
    """What the report (after issue 21) shows: any claim, per kind, and under an effect on
    ``factor`` whether that effect is shown and whether a claim surely null under it is."""
    claims = doc["answer"]["claims"]
    shown = [c for c in claims if c["shown"]]
    kinds = {k: any(c["kind"] == k for c in shown) for k in KINDS}
    out = {"answer": bool(shown), "anywhere": bool(shown), "kinds": kinds, "kinds_answer": kinds,
           "weighed": len(claims), "n_shown": len(shown)}
    if factor is not None:
        out["factor"] = any(is_factor_effect(c, factor) for c in shown)
        out["null"] = any(is_null_under_effect(c, factor) for c in shown)
    return out


def old_flags(doc: dict, factor: str | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """What a report before issue 21 (commit a7076c6: no claims list) shows. In its Answer: the
    baseline gap with gap_ci95 excluding 0 and Welch p < alpha; the baseline stability winner
    (cv_diff_ci95 excluding 0); a removal with mean_change_ci95 excluding 0 and mean_change_p <
    alpha; a contribution with gap_pct_points_ci95 excluding 0; whose CV suffers more with
    cv_change_diff_ci95 excluding 0; a gap interaction judged synergistic or antagonistic.
    Anywhere in the report adds the gap (same rule) and cv_diff_ci95 of every configuration,
    the removals' cv_change_ci95 excluding 0, and the CV interactions' verdicts. Kinds follow
    the claims list's: removals are "change", CV comparisons and CV interactions "stability"."""
    def gap_shown(cp):
        return excludes(cp["gap_ci95"]) and cp["welch_p"] is not None and cp["welch_p"] < alpha

    def judged(v):
        return bool(v) and v["verdict"] in ("synergistic", "antagonistic")

    cps, rem = doc["comparisons"], doc["removals"]
    base = cps[0] if cps else None
    answer = {k: False for k in KINDS}
    answer["gap"] = base is not None and gap_shown(base)
    answer["stability"] = (base is not None and excludes(base["cv_diff_ci95"])) or any(
        excludes(s.get("cv_change_diff_ci95")) for s in doc["cv_suffers_more"])
    answer["change"] = any(excludes(r["mean_change_ci95"]) and r["mean_change_p"] is not None
                           and r["mean_change_p"] < alpha for r in rem)
    answer["contribution"] = any(excludes(c["gap_pct_points_ci95"]) for c in doc["contributions"])
    answer["interaction"] = any(judged(i["gap"]) for i in doc["interactions"])
    anywhere = dict(answer)
    anywhere["gap"] = answer["gap"] or any(gap_shown(cp) for cp in cps)
    anywhere["stability"] = (answer["stability"] or any(excludes(cp["cv_diff_ci95"]) for cp in cps)
                             or any(excludes(r["cv_change_ci95"]) for r in rem)
                             or any(judged(v) for i in doc["interactions"] for v in i["cv"].values()))
    out = {"answer": any(answer.values()), "anywhere": any(anywhere.values()), "kinds": anywhere,
           "kinds_answer": answer, "weighed": None, "n_shown": None}
    if factor is not None:
        out["factor"] = any(r["component"] == factor and excludes(r["mean_change_ci95"])
                            and r["mean_change_p"] is not None and r["mean_change_p"] < alpha for r in rem)
        # claims surely null under the planted effect (see is_null_under_effect): the other
        # factors' changes and contributions, and every interaction verdict
        def is_other(r, key):
            return r["component"] != factor and excludes(r[key])
        s_other = [s for s in doc["cv_suffers_more"] if s["component"] != factor]
        out["null"] = (any(is_other(r, "mean_change_ci95") and r["mean_change_p"] is not None
                            and r["mean_change_p"] < alpha for r in rem)
                        or any(is_other(r, "cv_change_ci95") for r in rem)
                        or any(excludes(s.get("cv_change_diff_ci95")) for s in s_other)
                        or any(is_other(c, "gap_pct_points_ci95") for c in doc["contributions"])
                        or any(judged(i["gap"]) or any(judged(v) for v in i["cv"].values())
                               for i in doc["interactions"]))
    return out


def coverage_outcomes(doc: dict, truth: dict, claims: bool = True) -> dict[str, list[int]]:
    """{measure: [covered, missed, no interval]} for one null study's report. A measure whose
    key the report does not have at all is left out (the old code has no IQM interval)."""
    out: dict[str, list[int]] = {}

    def add(name, ci_present, ci, value):
        if not ci_present:
            return
        row = out.setdefault(name, [0, 0, 0])
        hit = covers(ci, value)
        row[0 if hit else 1 if hit is False else 2] += 1

    per = truth["methods"]
    for cell in doc["cells"]:
        m = cell["method"]
        add(f"mean ({m})", "mean_ci95" in cell, cell.get("mean_ci95"), per[m]["mean"])
        add(f"CV ({m})", "cv_ci95" in cell, cell.get("cv_ci95"), per[m]["cv"])
        add(f"IQM ({m})", "iqm_ci95" in cell, cell.get("iqm_ci95"), per[m]["iqm"])
        add(f"median ({m})", "median_ci95" in cell, cell.get("median_ci95"), per[m]["median"])
    for cp in doc["comparisons"]:
        add("gap", "gap_ci95" in cp, cp.get("gap_ci95"), 0.0)
        add("P(a3c > individual)", "prob_improvement_ci95" in cp, cp.get("prob_improvement_ci95"),
            truth["prob_improvement"])
        add("CV ratio a3c/individual", "cv_ratio_ci95" in cp, cp.get("cv_ratio_ci95"),
            per["a3c"]["cv"] / per["individual"]["cv"])
    inter = doc.get("interaction")
    if inter:
        if inter.get("gap") is not None:
            add("gap interaction", True, inter["gap"].get("ci95"), 0.0)
        for m, v in (inter.get("cv") or {}).items():
            add(f"CV interaction ({m})", True, None if v is None else v.get("ci95"), 0.0)
    if claims and "answer" in doc:
        for c in doc["answer"]["claims"]:
            add(f"claims: {c['kind']} ({c.get('measure')})", True, c.get("ci95"), null_value(c))
    return out


# --------------------------------------------------------------------------- running the studies


def _analyze(engine: tuple, samples: list[dict], i: int) -> dict:
    from pyrl.stats import analyze

    if engine[0] == "old":
        return analyze(samples, FACTORS, n_boot=engine[1], seed=i)
    return analyze(samples, FACTORS)


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def _family_study(task: tuple) -> dict:
    engine, seed, name, runs, workers, effect, i = task
    rng = np.random.default_rng([seed, _key(f"family {name} {runs}x{workers}"), i])
    doc = _analyze(engine, simulate_factorial(rng, runs, workers, effect=effect, factor=FAMILY_FACTOR), i)
    factor = FAMILY_FACTOR if effect else None
    return old_flags(doc, factor) if engine[0] == "old" else claim_flags(doc, factor)


def _coverage_study(task: tuple) -> dict:
    engine, seed, model, runs, workers, i = task
    rng = np.random.default_rng([seed, _key(f"coverage {model}"), runs, workers, i])
    doc = _analyze(engine, simulate_factorial(rng, runs, workers, model=model), i)
    return coverage_outcomes(doc, truths(model, workers), claims=engine[0] != "old")


def _map(fn: Callable, tasks: list, jobs: int) -> list:
    if jobs <= 1 or len(tasks) < 2:
        return [fn(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as ex:
        return list(ex.map(fn, tasks, chunksize=max(1, len(tasks) // (8 * jobs))))


def family(sims: int, seed: int = 0, engine: tuple = ("new",), jobs: int = 1,
           scenarios: Iterable[tuple] = FAMILY, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Shares of ``sims`` simulated studies per scenario that show any claim (in the Answer,
    anywhere), per kind, and under an effect the factor's effect (and any claim surely null under it)."""
    rows = []
    for name, runs, workers, effect, target in scenarios:
        if progress:
            progress(f"family: {name}, {runs} runs x {workers} workers")
        t0 = time.perf_counter()
        flags = _map(_family_study, [(engine, seed, name, runs, workers, effect, i) for i in range(sims)], jobs)
        n = len(flags)
        row = {"scenario": name, "runs": runs, "workers": workers, "rho_t": RHO_T, "rho_c": RHO_C,
               "effect_sd": effect, "factor": FAMILY_FACTOR if effect else None, "sims": n,
               "answer": sum(f["answer"] for f in flags) / n,
               "anywhere": sum(f["anywhere"] for f in flags) / n,
               "kinds": {k: sum(f["kinds"][k] for f in flags) / n for k in KINDS},
               "kinds_answer": {k: sum(f["kinds_answer"][k] for f in flags) / n for k in KINDS},
               "seconds": time.perf_counter() - t0}
        weighed = [f["weighed"] for f in flags if f["weighed"] is not None]
        row["weighed"] = float(np.mean(weighed)) if weighed else None
        row["mean_shown"] = float(np.mean([f["n_shown"] for f in flags])) if weighed else None
        if effect:
            row["factor_shown"] = sum(f["factor"] for f in flags) / n
            row["null_shown"] = sum(f["null"] for f in flags) / n
        if target is not None:
            key, op, bound = target
            value = row["factor_shown"] if key == "factor" else row[key]
            row["target"] = {"measure": key, "op": op, "bound": bound,
                             "met": bool(value <= bound if op == "<=" else value >= bound)}
        p = row["factor_shown"] if effect else row["anywhere"]  # the headline share, and its Monte Carlo error
        row["mc_se"] = math.sqrt(p * (1 - p) / n)
        rows.append(row)
    return rows


def coverage(sims: int, seed: int = 0, engine: tuple = ("new",), jobs: int = 1,
             runs_list: Sequence[int] = COVERAGE_RUNS, workers: int = COVERAGE_WORKERS,
             models: Sequence[str] = MODELS, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Coverage of the report's 95% intervals on null studies, per model and runs per cell."""
    out = []
    for model in models:
        truth = truths(model, workers)  # before any fork: the workers inherit the cache
        for runs in runs_list:
            if progress:
                progress(f"coverage: {model}, {runs} runs x {workers} workers")
            t0 = time.perf_counter()
            results = _map(_coverage_study, [(engine, seed, model, runs, workers, i) for i in range(sims)], jobs)
            tot: dict[str, list[int]] = {}
            for r in results:
                for k, v in r.items():
                    t = tot.setdefault(k, [0, 0, 0])
                    for j in range(3):
                        t[j] += v[j]
            target = coverage_target(runs)
            measures = {}
            for k, (hit, miss, none) in tot.items():
                given = hit + miss
                cov = hit / given if given else None
                measures[k] = {"covered": hit, "missed": miss, "no_interval": none,
                               "coverage": cov, "no_interval_share": none / (given + none),
                               "mc_se": math.sqrt(cov * (1 - cov) / given) if given else None,
                               "met": cov is None or cov >= target}
            out.append({"model": model, "runs": runs, "workers": workers, "rho_t": RHO_T, "rho_c": RHO_C,
                        "sims": sims, "target": target, "truth": truth, "measures": measures,
                        "seconds": time.perf_counter() - t0})
    return out


def stats_digest(stats_dir: str) -> str:
    """A short sha256 of the pyrl/stats sources measured (which version of the code these are)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(os.listdir(stats_dir)):
        if name.endswith(".py"):
            with open(os.path.join(stats_dir, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()[:12]


def machine() -> dict[str, Any]:
    import scipy

    return {"platform": platform.platform(), "machine": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__}


def run(sims: int = 1000, coverage_sims: int | None = None, seed: int = 0, part: str = "all", jobs: int = 1,
        engine: tuple = ("new",), progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The family checks and/or the coverage simulation, with this interpreter's ``pyrl.stats``."""
    if part not in ("all", "family", "coverage"):
        raise ValueError(f"part must be all, family or coverage, got {part!r}")
    import pyrl.stats

    t0 = time.perf_counter()
    coverage_sims = sims if coverage_sims is None else coverage_sims
    out: dict[str, Any] = {"bench": "stats", "code": "before" if engine[0] == "old" else "after",
                           "stats_module": os.path.dirname(pyrl.stats.__file__),
                           "stats_digest": stats_digest(os.path.dirname(pyrl.stats.__file__)),
                           "n_boot": engine[1] if engine[0] == "old" else None,
                           "seed": seed, "sims": sims, "coverage_sims": coverage_sims, "part": part,
                           "factors": FACTORS, "machine": machine()}
    if part in ("all", "family"):
        out["family"] = family(sims, seed, engine, jobs, progress=progress)
    if part in ("all", "coverage"):
        out["coverage"] = coverage(coverage_sims, seed, engine, jobs, progress=progress)
    out["seconds"] = time.perf_counter() - t0
    return out


def run_old(old: str, sims: int = 1000, coverage_sims: int | None = None, seed: int = 0, part: str = "all",
            jobs: int = 1, n_boot: int = 2000, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``run`` with the ``pyrl`` of the checkout at ``old``, in a subprocess (PYTHONPATH=old)."""
    import collections
    import tempfile

    old = os.path.realpath(old)
    if not os.path.isfile(os.path.join(old, "pyrl", "stats", "__init__.py")):
        raise ValueError(f"{old} holds no pyrl/stats (a checkout of pyrl, e.g. git worktree add {old} a7076c6)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        argv = [__file__, "--inner-old", old, "--inner-out", out, "--sims", str(sims), "--seed", str(seed),
                "--part", part, "--jobs", str(jobs), "--n-boot", str(n_boot)]
        if coverage_sims is not None:
            argv += ["--coverage-sims", str(coverage_sims)]
        code = "import runpy, sys; sys.argv = " + repr(argv) + "; runpy.run_path(sys.argv[0], run_name='__main__')"
        env = {**os.environ, "PYTHONPATH": old + os.pathsep + os.environ.get("PYTHONPATH", "")}
        tail: collections.deque = collections.deque(maxlen=60)
        with subprocess.Popen([sys.executable, "-c", code], cwd=old, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) as proc:
            for line in proc.stderr:
                if line.startswith(_PROGRESS) and progress is not None:
                    progress(line[len(_PROGRESS):].rstrip())
                else:
                    tail.append(line)
        if proc.returncode != 0:
            raise RuntimeError(f"the old code's run failed (exit {proc.returncode}):\n{''.join(tail)[-3000:]}")
        with open(out) as f:
            return json.load(f)


_PROGRESS = "progress: "


# --------------------------------------------------------------------------- rendering


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def _met(ok: bool, rich: bool) -> str:
    word = "met" if ok else "missed"
    return (f"[green]{word}[/]" if ok else f"[red]{word}[/]") if rich else word


def family_table(rows: list[dict], rich: bool = False) -> list[list[str]]:
    """Per scenario: reports showing a claim in the Answer, anywhere, the planted effect, any
    false claim under it, and the target."""
    out = [["scenario", "runs x workers", "in Answer", "anywhere", "effect shown", "null claim shown", "target"]]
    for r in rows:
        t = r.get("target")
        tgt = "" if t is None else f"{t['op']} {_pct(t['bound'], 0)} {_met(t['met'], rich)}"
        out.append([r["scenario"], f"{r['runs']} x {r['workers']}", _pct(r["answer"]), _pct(r["anywhere"]),
                    _pct(r.get("factor_shown")), _pct(r.get("null_shown")), tgt])
    return out


def kinds_table(rows: list[dict]) -> list[list[str]]:
    """Per scenario and kind: reports showing at least one claim of the kind (anywhere)."""
    kinds = [k for k in KINDS if k != "convergence"]  # simulated studies have no learning curves
    out = [["scenario", "runs x workers"] + kinds]
    for r in rows:
        out.append([r["scenario"], f"{r['runs']} x {r['workers']}"] + [_pct(r["kinds"][k]) for k in kinds])
    return out


MEASURE_ORDER = ["mean", "CV", "IQM", "median", "gap", "P(a3c > individual)", "CV ratio", "gap interaction",
                 "CV interaction", "claims"]


def _measure_order(name: str) -> tuple:
    heads = [m for m in MEASURE_ORDER if name == m or name.startswith(m + " ")]
    head = MEASURE_ORDER.index(max(heads, key=len)) if heads else len(MEASURE_ORDER)
    return (head, name)


def coverage_table(blocks: list[dict], rich: bool = False) -> list[list[str]]:
    """Per measure (rows) and model x runs (columns): the share of intervals that cover the
    truth, the share with no interval, and '<' where the target is missed."""
    nl = "\n" if rich else " "
    cols = [(b["model"], b["runs"]) for b in blocks]
    names: list[str] = []
    for b in blocks:
        names += [k for k in b["measures"] if k not in names]
    names.sort(key=_measure_order)
    out = [["measure"] + [f"{m}{nl}n={n}" for m, n in cols]]
    for k in names:
        row = [k]
        for b in blocks:
            v = b["measures"].get(k)
            if v is None:
                row.append("-")
                continue
            if v["coverage"] is None:
                row.append("no interval")
                continue
            cell = _pct(v["coverage"])
            if v["no_interval"]:
                cell += f" ({_pct(v['no_interval_share'], 0)} none)"
            if not v["met"]:
                cell += " [red]<[/]" if rich else " <"
            row.append(cell)
        out.append(row)
    return out


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def render(result: dict[str, Any], console) -> None:
    """Rich tables of the family checks and the coverage."""
    from rich.table import Table

    who = f"{result['code']} ({result['stats_module']}" + (
        f", n_boot {result['n_boot']})" if result.get("n_boot") else ")")
    if "family" in result:
        for title, rows in ((f"reports showing claims: {who}, rho a3c {RHO_T} / individual {RHO_C}",
                             family_table(result["family"], rich=True)),
                            ("reports showing a claim of each kind", kinds_table(result["family"]))):
            table = Table(title=title)
            for j, col in enumerate(rows[0]):
                table.add_column(col, justify="left" if j < 2 else "right", no_wrap=j == 0)
            for r in rows[1:]:
                table.add_row(*r)
            console.print(table)
        f = result["family"][0]
        console.print(f"{f['sims']} studies per scenario. Effect: {FAMILY_FACTOR} off lowers every run by 1.5 "
                      f"run-level sd; effect shown: its effect on the score; null claim shown: any claim "
                      f"about the other factor or an interaction; kinds: studies showing at least one claim of the kind"
                      + (f"; claims weighed per report: {f['weighed']:.0f}" if f.get("weighed") else ""))
    if "coverage" in result:
        rows = coverage_table(result["coverage"], rich=True)
        table = Table(title=f"coverage of 95% intervals on null studies: {who}")
        for j, col in enumerate(rows[0]):
            table.add_column(col, justify="left" if j == 0 else "right", no_wrap=j == 0)
        for r in rows[1:]:
            table.add_row(*r)
        console.print(table)
        b = result["coverage"][0]
        console.print(f"{b['sims']} studies per column, {b['workers']} workers per run; targets >= 93% from 5 runs, "
                      f">= 90% at 3 (or no interval); '<': missed; (x% none): intervals not given, not misses")
    m = result["machine"]
    console.print(f"{m['cores']} cores {m['machine']}, Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}; "
                  f"{result['seconds']:.0f} s")


def markdown(result: dict[str, Any]) -> str:
    parts = []
    if "family" in result:
        parts.append(_markdown(family_table(result["family"])))
        parts.append(_markdown(kinds_table(result["family"])))
    if "coverage" in result:
        parts.append(_markdown(coverage_table(result["coverage"])))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000, help="simulated studies per family scenario")
    ap.add_argument("--coverage-sims", type=int, default=None, help="simulated studies per coverage column "
                    "[default: --sims]")
    ap.add_argument("--part", choices=("all", "family", "coverage"), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="processes (the figures do not depend on it)")
    ap.add_argument("--old", metavar="PATH", help="measure the pyrl of this checkout (before issue 21) instead")
    ap.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the old code's analyze")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--inner-old", help=argparse.SUPPRESS)
    ap.add_argument("--inner-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inner_old:  # inside the subprocess of run_old: this interpreter's pyrl is the old one
        import pyrl.stats

        here = os.path.realpath(pyrl.stats.__file__)
        if not here.startswith(os.path.realpath(args.inner_old) + os.sep):
            print(f"pyrl.stats came from {here}, not from {args.inner_old}", file=sys.stderr)
            return 1
        result = run(args.sims, args.coverage_sims, args.seed, args.part, args.jobs, ("old", args.n_boot),
                     progress=lambda msg: print(_PROGRESS + msg, file=sys.stderr, flush=True))
        with open(args.inner_out, "w") as f:
            json.dump(result, f, allow_nan=False)
        return 0
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.old:
        result = run_old(args.old, args.sims, args.coverage_sims, args.seed, args.part, args.jobs, args.n_boot,
                         progress=progress)
    else:
        result = run(args.sims, args.coverage_sims, args.seed, args.part, args.jobs, progress=progress)
    emit(result, args.json, args.markdown, markdown, render)
    return 0


def emit(result: dict[str, Any], as_json: bool, as_markdown: bool, to_markdown: Callable, to_console: Callable
         ) -> None:
    """A simulation's result on stdout: one JSON object, Markdown tables, or rich tables."""
    if as_json:
        json.dump(result, sys.stdout, allow_nan=False)
        print()
    elif as_markdown:
        print(to_markdown(result))
    else:
        from rich.console import Console

        to_console(result, Console())


if __name__ == "__main__":
    sys.exit(main())
