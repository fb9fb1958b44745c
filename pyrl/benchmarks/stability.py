"""Stability per trained model (issue 22): the stability claim checked by simulation.

A simulated study is the rnn x layernorm x {a3c, individual} factorial, ``runs`` runs per cell,
``workers`` workers per run. What a method produces is a distribution of trained models; a
model's quality is q. An A3C run trains one model (q_r), and its W workers' training-time
scores are q_r plus episode noise; an individual run trains W models (q_rw, with a small
shared run effect) and each worker's score is its own model's q plus episode noise:

    a3c:         q_r  = mean + sd_t z_r                                     (one model per run)
    individual:  q_rw = mean + sd_c (sqrt(rho) u_r + sqrt(1 - rho) e_rw)    (W models per run)
    worker score = q + sd_noise eps,  the mean return of its last 10 training episodes

sd_noise makes A3C's workers correlate RHO_T (0.95) when sd_t = SD_MODEL, and rho is set so
that individual workers correlate RHO_C (0.05). Every trained model then gets the same
fixed-policy evaluation: EVAL_EPISODES episode returns q + sd_episode eta (sd_episode =
sqrt(10) sd_noise), scored by their mean. Null: sd_t = sd_c = SD_MODEL in every cell (both
methods' trained models have one distribution). Power: one method's models scored with twice
the standard deviation (sd = 2 SD_MODEL) in every cell.

Measured, through ``analyze`` as ``pyrl report`` calls it: the share of studies whose report
shows the baseline's stability claim (a3c vs individual CV), shows any a3c-vs-individual
stability claim (per configuration, or averaged over them: the target, at most 7% on the
null), shows the averaged one (and, with a real difference, the right way), and whose baseline
claim favours a3c by its estimate (the target: 35-65% on the null); and the coverage of each cell's 95%
intervals of the CV, IQR and CVaR 10% across trained models. Engines: ``model`` (the
models' evaluations, as ``pyrl report DIR`` has them), ``scores`` (no evaluation: each model
scored by the mean training-time score of its workers, as ``pyrl report --scores`` with a
model column: an A3C model is then averaged over W workers, an individual one is not) and
``worker`` (the same call, for the code before issue 22, which measures stability over
workers: run this file with PYTHONPATH pointing at that checkout).

    python -m pyrl.benchmarks.stability [--sims 400] [--seed 0] [--jobs 2] [--engine model|scores|worker]
                                        [--json | --markdown]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from typing import Any

import numpy as np
from scipy import special

FACTORS = ["rnn", "layernorm"]
MEAN, SD_MODEL = 100.0, 10.0  # far enough from 0 that no simulated score is negative (CV undefined)
RHO_T, RHO_C = 0.95, 0.05
EVAL_EPISODES = 20
SD_NOISE = SD_MODEL * math.sqrt((1 - RHO_T) / RHO_T)  # A3C's workers correlate RHO_T under the null
RHO_MODELS_C = RHO_C / RHO_T  # individual models' shared run effect, so that its workers correlate RHO_C
SD_EPISODE = SD_NOISE * math.sqrt(10)

# (name, runs, workers, a3c model sd / SD_MODEL, individual model sd / SD_MODEL, target)
SCENARIOS = [
    ("null", 3, 2, 1.0, 1.0, None),
    ("null", 5, 2, 1.0, 1.0, None),
    ("null", 10, 4, 1.0, 1.0, ("any_shown", "<=", 0.07)),
    ("individual 2x sd", 5, 4, 1.0, 2.0, None),
    ("individual 2x sd", 10, 4, 1.0, 2.0, None),
    ("a3c 2x sd", 5, 4, 2.0, 1.0, None),
    ("a3c 2x sd", 10, 4, 2.0, 1.0, None),
]


def simulate(rng: np.random.Generator, runs: int, workers: int, k_t: float = 1.0, k_c: float = 1.0
             ) -> tuple[list[dict], list]:
    """(worker samples, trained models) of one simulated study (see the module docstring), as
    dicts (``TrainedModel`` fields), so that the code before issue 22 can read the samples."""
    samples, models = [], []
    for rnn in (True, False):
        for ln in (True, False):
            cfg = {"rnn": rnn, "layernorm": ln}
            for r in range(runs):
                q = MEAN + k_t * SD_MODEL * rng.standard_normal()
                for w in range(workers):
                    samples.append({"config": cfg, "method": "a3c", "seed": r, "worker": w, "model": 0,
                                    "score": float(q + SD_NOISE * rng.standard_normal())})
                rollouts = q + SD_EPISODE * rng.standard_normal(EVAL_EPISODES)
                models.append(_model(cfg, "a3c", r, 0, rollouts))
                u = rng.standard_normal()
                for w in range(workers):
                    q = MEAN + k_c * SD_MODEL * (math.sqrt(RHO_MODELS_C) * u
                                                 + math.sqrt(1 - RHO_MODELS_C) * rng.standard_normal())
                    samples.append({"config": cfg, "method": "individual", "seed": r, "worker": w, "model": w,
                                    "score": float(q + SD_NOISE * rng.standard_normal())})
                    rollouts = q + SD_EPISODE * rng.standard_normal(EVAL_EPISODES)
                    models.append(_model(cfg, "individual", r, w, rollouts))
    return samples, models


def _model(cfg: dict, method: str, seed: int, model: int, rollouts: np.ndarray) -> dict:
    return {"config": cfg, "method": method, "seed": seed, "model": model, "score": float(rollouts.mean()),
            "status": "ok", "source": "evaluation", "rollouts": tuple(rollouts)}


def truth(k: float) -> dict[str, float]:
    """CV, IQR and CVaR 10% of an evaluated model's score when its quality has sd k SD_MODEL."""
    sd = math.sqrt((k * SD_MODEL) ** 2 + SD_EPISODE ** 2 / EVAL_EPISODES)
    z10 = float(special.ndtri(0.1))
    phi = math.exp(-z10 * z10 / 2) / math.sqrt(2 * math.pi)
    return {"cv": sd / MEAN, "iqr": 2 * 0.6744897501960817 * sd, "cvar10": MEAN - sd * phi / 0.1}


def _baseline_claim(doc: dict) -> dict | None:
    base = next(c["label"] for c in doc["cells"] if c["label"].startswith("baseline ("))
    return next((c for c in doc["answer"]["claims"] if c["kind"] == "stability" and c["configs"] == [base]
                 and c["contrast"] == "CV a3c / CV individual"), None)


def _study(task: tuple) -> dict[str, Any]:
    from pyrl.stats import analyze

    engine, seed, name, runs, workers, k_t, k_c, i = task
    rng = np.random.default_rng([seed, zlib.crc32(f"{name} {runs}x{workers}".encode()), i])
    samples, models = simulate(rng, runs, workers, k_t, k_c)
    if engine == "model":  # every model's fixed-policy evaluation
        from pyrl.stats.samples import TrainedModel

        doc = analyze(samples, FACTORS, models=[TrainedModel(**m) for m in models])
    else:  # "scores": models from the samples' model column; "worker": the code before issue 22 (no models)
        doc = analyze(samples, FACTORS)
    claim = _baseline_claim(doc)
    per_cfg = [c for c in doc["answer"]["claims"] if c["kind"] == "stability" and c["contrast"] ==
               "CV a3c / CV individual"]  # one per configuration (the code before issue 22 had only these)
    averaged = next((c for c in doc["answer"]["claims"] if c["kind"] == "stability" and
                     c["configs"] == ["all configurations"]), None)
    steadier = None if k_t == k_c else ("a3c" if k_t < k_c else "individual")
    out = {"shown": bool(claim and claim["shown"]),
           "any_shown": any(c["shown"] for c in per_cfg) or bool(averaged and averaged["shown"]),
           "averaged_shown": None if averaged is None else averaged["shown"],
           "averaged_found": None if averaged is None else averaged["shown"] and averaged["favours"] == steadier,
           "favours_a3c": bool(claim and claim["favours"] == "a3c"),
           "shown_a3c": bool(claim and claim["shown"] and claim["favours"] == "a3c"),
           # the baseline claim's unadjusted 95% interval below 1 (a3c steadier): 2.5% on the null if unbiased
           "ci_a3c": bool(claim and claim["ci95"] and claim["ci95"][1] < 1),
           "shown_individual": bool(claim and claim["shown"] and claim["favours"] == "individual"),
           "coverage": {}}
    if engine == "model":
        from pyrl.stats.estimators import cluster_bootstrap_ci

        by_cell: dict = {}
        for m in models:
            key = (tuple(sorted(m["config"].items())), m["method"])
            by_cell.setdefault(key, {}).setdefault(m["seed"], []).append(m["score"])
        for cell in doc["cells"]:
            m, t = cell["models"], truth(k_t if cell["method"] == "a3c" else k_c)
            runs_ = [np.array(v) for _, v in sorted(by_cell[(tuple(sorted(cell["config"].items())),
                                                              cell["method"])].items())]
            # the report gives the CVaR no interval; this measures the one a bootstrap over runs would give
            m = dict(m, cvar10_ci95=cluster_bootstrap_ci(runs_, "cvar10") if len(runs_) >= 5 else None)
            for stat in ("cv", "iqr", "cvar10"):
                ci = m[f"{stat}_ci95"]
                key = f"{stat} ({cell['method']})"
                out["coverage"].setdefault(key, [0, 0, 0])
                out["coverage"][key][2 if ci is None else 0 if ci[0] <= t[stat] <= ci[1] else 1] += 1
    return out


def run(sims: int = 400, seed: int = 0, jobs: int = 1, engine: str = "model", progress=None) -> dict[str, Any]:
    from pyrl.benchmarks.claims import _map, machine

    t0 = time.perf_counter()
    rows = []
    for name, runs, workers, k_t, k_c, target in SCENARIOS:
        if progress:
            progress(f"{name}, {runs} runs x {workers} workers")
        res = _map(_study, [(engine, seed, name, runs, workers, k_t, k_c, i) for i in range(sims)], jobs)
        n = len(res)
        row = {"scenario": name, "runs": runs, "workers": workers, "sd_a3c": k_t, "sd_individual": k_c, "sims": n}
        for k in ("shown", "any_shown", "favours_a3c", "ci_a3c", "shown_a3c", "shown_individual", "averaged_shown",
                  "averaged_found"):
            row[k] = None if any(r[k] is None for r in res) else sum(r[k] for r in res) / n
        cov: dict[str, list[int]] = {}
        for r in res:
            for k, v in r["coverage"].items():
                c = cov.setdefault(k, [0, 0, 0])
                for j in range(3):
                    c[j] += v[j]
        row["coverage"] = {k: {"coverage": h / (h + m) if h + m else None, "no_interval": none / (h + m + none)}
                           for k, (h, m, none) in cov.items()}
        if target is not None:
            key, op, bound = target
            row["target"] = {"measure": key, "op": op, "bound": bound,
                             "met": bool(row[key] <= bound and 0.35 <= row["favours_a3c"] <= 0.65)}
        rows.append(row)
    return {"bench": "stability", "engine": engine, "seed": seed, "sims": sims, "rho_t": RHO_T, "rho_c": RHO_C,
            "eval_episodes": EVAL_EPISODES, "scenarios": rows, "machine": machine(),
            "seconds": time.perf_counter() - t0}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def table(result: dict[str, Any]) -> list[list[str]]:
    out = [["scenario", "runs x workers", "baseline claim shown", "favours a3c (estimate)",
            "95% CI below 1 (a3c steadier, unadjusted)", "shown for a3c",
            "shown for individual", "any a3c-vs-individual stability claim shown",
            "averaged claim shown (the right way)"]]
    for r in result["scenarios"]:
        found = "" if r["sd_a3c"] == r["sd_individual"] else f" ({_pct(r['averaged_found'])})"
        avg = "-" if r["averaged_shown"] is None else _pct(r["averaged_shown"]) + found
        out.append([r["scenario"], f"{r['runs']} x {r['workers']}", _pct(r["shown"]), _pct(r["favours_a3c"]),
                    _pct(r["ci_a3c"]), _pct(r["shown_a3c"]), _pct(r["shown_individual"]), _pct(r["any_shown"]), avg])
    return out


def coverage_table(result: dict[str, Any]) -> list[list[str]]:
    rows = [r for r in result["scenarios"] if r["coverage"]]
    keys = sorted({k for r in rows for k in r["coverage"]})
    out = [["interval"] + [f"{r['scenario']} {r['runs']}x{r['workers']}" for r in rows]]
    for k in keys:
        line = [k]
        for r in rows:
            c = r["coverage"].get(k)
            line.append("-" if c is None else _pct(c["coverage"]) + (f" ({_pct(c['no_interval'])} none)"
                                                                     if c["no_interval"] else ""))
        out.append(line)
    return out


def markdown(result: dict[str, Any]) -> str:
    from pyrl.benchmarks.claims import _markdown

    parts = [_markdown(table(result))]
    if any(r["coverage"] for r in result["scenarios"]):
        parts.append(_markdown(coverage_table(result)))
    return "\n\n".join(parts)


def render(result: dict[str, Any], console) -> None:
    from rich.table import Table

    for title, rows in ((f"the stability claim ({result['engine']} level), {result['sims']} studies per row",
                         table(result)), ("coverage of 95% intervals across trained models", coverage_table(result))):
        if len(rows) < 2 or len(rows[0]) < 2:
            continue
        t = Table(title=title)
        for j, col in enumerate(rows[0]):
            t.add_column(col, justify="left" if j < 2 else "right")
        for r in rows[1:]:
            t.add_row(*r)
        console.print(t)
    console.print(f"{result['seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--engine", choices=("model", "scores", "worker"), default="model")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.sims, args.seed, args.jobs, args.engine,
                 progress=None if args.json else (lambda m: print(m, file=sys.stderr, flush=True)))
    try:
        from pyrl.benchmarks.claims import emit
    except ImportError:  # the pyrl before issue 22 on PYTHONPATH (--engine worker): JSON only
        print(json.dumps(result, allow_nan=False))
        return 0
    emit(result, args.json, args.markdown, markdown, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
