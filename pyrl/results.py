"""Results on disk: written safely (every file appears whole or not at all: temp file +
os.replace), and read back with their sweep's definition checked.

A results directory is one run (``DIR/result.json``, from ``pyrl train``) or a sweep
(``DIR/sweep.json`` and ``DIR/<run_id>/result.json``, from ``pyrl ablate``/``compare``), or a
directory holding such directories; or a suite (``DIR/suite.json``, one sweep per env in
``DIR/<env>``, from ``pyrl ablate --env A,B`` or ``--suite``).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

MANIFEST = "sweep.json"
SUITE = "suite.json"
RESULT = "result.json"
LOCK = ".lock"
FINISHED = ("ok", "diverged")  # learning outcomes; failed and interrupted runs are not


class ResultsError(ValueError):
    """A results directory that cannot be analysed as it is (one line, naming the cause)."""


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def strict(obj: Any) -> Any:
    """JSON has no inf/nan: write them as strings so documents stay strict."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(strict(obj), indent=2, allow_nan=False) + "\n").encode())


@dataclass
class Results:
    runs: list[dict]             # every readable result.json (any status), each with "_dir" and "factors"
    factors: dict[str, list]     # factor -> levels, baseline first
    manifest: Optional[dict]     # sweep.json, if the directory is a sweep
    problems: list[str]          # result files that could not be read


def load_results(root: Path) -> Results:
    """Every run under ``root``, with its factor levels. In a sweep (format 2 sweep.json) each
    run's configuration must be the sweep's with that run's method, seed and levels: a run
    that differs raises ResultsError naming it and the keys, since analysing it would mix
    settings. Hidden directories (a store in progress) are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(f"{root} is not a directory")
    manifest = None
    if (root / MANIFEST).exists():
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise ResultsError(f"{root / MANIFEST}: unreadable ({exc})") from None
    runs, problems = [], []
    for path in sorted(root.rglob(RESULT)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{path.parent}: unreadable {RESULT} ({exc})")
            continue
        run["_dir"] = str(path.parent)
        runs.append(run)
    if manifest is not None and manifest.get("format") == 2:
        factors = {k: list(v) for k, v in manifest["factors"].items()}
        for run in runs:
            _check_against(run, manifest, factors)
    else:  # one run, a directory of runs, or an old sweep: the known factors that vary
        factors = _infer_factors(runs, manifest.get("components") if manifest else None)
        for run in runs:
            config = _normalized(run.get("config") or {})
            run["factors"] = {f: (config.get("norm") == "layernorm" if f == "layernorm" else config.get(f))
                              for f in factors}
    return Results(runs, factors, manifest, problems)


def _normalized(config: dict) -> dict:
    """A run's configuration with older spellings mapped (``layernorm: bool`` -> ``norm``)."""
    if "layernorm" in config and "norm" not in config:
        config = dict(config, norm="layernorm" if config["layernorm"] else "none")
    return config


def _infer_factors(runs: list[dict], named: Optional[list]) -> dict[str, list]:
    """rnn if it varies (or is named); the norm as the study's on/off ``layernorm`` when it
    varies between none and layernorm only (or is named so), else as ``norm`` with its levels."""
    from pyrl.train.config import NORMS

    configs = [_normalized(r.get("config") or {}) for r in runs]
    factors: dict[str, list] = {}
    if (named is not None and "rnn" in named) or (named is None and len({bool(c.get("rnn")) for c in configs}) > 1):
        factors["rnn"] = [True, False]
    norms = [n for n in NORMS if n in {c.get("norm", "none") for c in configs}]
    if (named is not None and "layernorm" in named) or (named is None and norms == ["none", "layernorm"]):
        factors["layernorm"] = [True, False]
    elif named is None and len(norms) > 1:
        factors["norm"] = norms
    return factors


def _check_against(run: dict, manifest: dict, factors: dict[str, list]) -> None:
    name = Path(run["_dir"]).name
    levels = run.get("factors")
    if levels is None or set(levels) != set(factors) or any(levels[f] not in factors[f] for f in factors):
        raise ResultsError(f"{name}: its factor levels {levels} are not a cell of this sweep "
                           f"({factors}); the directory mixes sweeps")
    from pyrl.train.config import at_default, factor_options

    want = dict(manifest["config"], **factor_options(levels), method=run.get("method"), seed=run.get("seed"))
    have = run.get("config") or {}
    # a run of an older pyrl lacks the options added since: it ran at their defaults
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k)
                  and not (k not in have and at_default(k, want[k])))
    if diff:
        shown = ", ".join(f"{k}: {json.dumps(have.get(k, 'unset'))} vs sweep {json.dumps(want.get(k, 'unset'))}"
                          for k in diff[:4])
        raise ResultsError(f"{name}: its configuration differs from sweep.json ({shown}); "
                           "the directory mixes settings, so it is not analysed")


# --------------------------------------------------------------------------- as the statistics take them

def _levels(levels: list) -> list:
    """A factor's levels as the statistics take them: on/off stays bool, anything else (a
    string, a number such as a hidden size) becomes its string."""
    return list(levels) if all(isinstance(v, bool) for v in levels) else [str(v) for v in levels]


def load_runs(root) -> tuple[list[dict], dict[str, list], list[str]]:
    """(runs, factors, notes) of a results directory, through ``pyrl.results.load_results``:
    every ``result.json`` under ``root`` (any status, each with "_dir" and "factors"), the
    factors (factor -> levels, baseline first) and notes on unreadable files. Raises
    ScoresError when there is no run, ResultsError when runs disagree with their sweep."""
    from pyrl.stats import ScoresError

    res = load_results(root)
    if not res.runs:
        raise ScoresError(f"no runs (result.json) under {root}")
    return res.runs, {f: _levels(lv) for f, lv in res.factors.items()}, list(res.problems)


def run_config(run: dict, factors: dict[str, list]) -> dict:
    """The run's level of each factor (from its "factors", else its config)."""
    given = run.get("factors") or {}
    out = {}
    for f, levels in factors.items():
        v = given[f] if f in given else run.get("config", {}).get(f)
        out[f] = bool(v) if all(isinstance(x, bool) for x in levels) else str(v)
    return out


def samples_from_runs(runs: list[dict], factors: dict[str, list]) -> tuple[list, list[str]]:
    """One Sample per worker of every run, with its status: ok, diverged (a learning
    outcome: scored by the analysis's policy) or failed (failed or interrupted runs: not
    learning outcomes, counted and listed). A worker's status is its own ("status" in its
    entry; "stopped", a worker its run ended early, counts as failed) or, in older
    result.json files without one, the run's. An ok worker without a
    score (no finished episode) is noted and left out."""
    from pyrl.stats import Sample

    samples, notes = [], []
    for r in runs:
        config, status, name = run_config(r, factors), r.get("status", "ok"), Path(r["_dir"]).name
        workers = r.get("workers") or [{"worker": 0}]
        if status not in ("ok", "diverged"):
            notes.append(f"{name}: {status} ({r.get('error') or 'no error text'}): not a learning outcome, "
                         f"left out of the statistics")
            samples += [Sample(config, r["method"], int(r["seed"]), int(w["worker"]), None, "failed", _model_of(r, w))
                        for w in workers]
            continue
        for w in workers:
            ws = w.get("status") or status
            ws = "failed" if ws not in ("ok", "diverged") else ws  # 'stopped': its run did not finish
            if ws == "ok" and w.get("score") is None:
                notes.append(f"{name} worker {w['worker']}: no completed episode, no score")
                continue
            samples.append(Sample(config, r["method"], int(r["seed"]), int(w["worker"]), w.get("score"), ws,
                                  _model_of(r, w)))
    return samples, notes


def _model_of(run: dict, worker: dict) -> int:
    """The trained model a worker acted with: its entry's "model", else (older result.json) the
    one shared model of an A3C run, or the worker's own."""
    if worker.get("model") is not None:
        return int(worker["model"])
    return 0 if run.get("method") == "a3c" else int(worker["worker"])


def models_from_runs(runs: list[dict], factors: dict[str, list]) -> list:
    """One ``TrainedModel`` per trained model of every run: scored by its fixed-policy
    evaluation ("models" in result.json, ``eval``), else by the mean training-time score of the
    workers that acted with it (a diverged model, never evaluated, by its workers' last scores;
    older result.json files without "models"). Models of failed or interrupted runs, and
    models stopped before their budget, are failed (not learning outcomes)."""
    from pyrl.stats.samples import TrainedModel

    out = []
    for r in runs:
        config, status = run_config(r, factors), r.get("status", "ok")
        workers = r.get("workers") or [{"worker": 0}]
        entries = r.get("models")
        if entries is None:
            ids = sorted({_model_of(r, w) for w in workers})
            entries = [{"model": m, "workers": [w["worker"] for w in workers if _model_of(r, w) == m]} for m in ids]
        by_worker = {int(w["worker"]): w for w in workers}
        for e in entries:
            ws = [by_worker[int(w)] for w in e.get("workers", []) if int(w) in by_worker]
            st = e.get("status") or next((w.get("status") for w in ws if w.get("status") == "diverged"), None) \
                or status
            st = st if status in ("ok", "diverged") and st in ("ok", "diverged") else "failed"
            ev = e.get("eval")
            if st == "ok" and ev and ev.get("returns"):
                out.append(TrainedModel(config, r["method"], int(r["seed"]), int(e["model"]), float(ev["mean"]), "ok",
                                        "evaluation", tuple(ev["returns"])))
                continue
            scores = [w["score"] for w in ws if w.get("score") is not None]
            score = sum(scores) / len(scores) if scores else None
            if st == "ok" and score is None:
                continue  # no finished episode and no evaluation: nothing to score (noted with the samples)
            out.append(TrainedModel(config, r["method"], int(r["seed"]), int(e["model"]),
                                    None if st == "failed" else score, st, "training scores"))
    return out


def floor_of(root, runs: list[dict]) -> tuple[float | None, str | None]:
    """The environment's divergence floor, fixed before any analysis, and where it came from:
    sweep.json's "floor" (a random policy's score, measured once when the sweep was made), else
    the runs' result.json "floor" when they all agree; (None, None) without one."""
    manifest = Path(root) / MANIFEST
    if manifest.exists():
        try:
            fl = json.loads(manifest.read_text()).get("floor")
        except (OSError, ValueError):
            fl = None
        if fl and fl.get("score") is not None:
            return float(fl["score"]), _floor_source("sweep.json", fl)
    floors = {(float(r["floor"]["score"]), r["floor"].get("policy"), r["floor"].get("episodes"))
              for r in runs if (r.get("floor") or {}).get("score") is not None}
    if len(floors) == 1:
        score, policy, episodes = next(iter(floors))
        return score, _floor_source("the runs' result.json", {"policy": policy, "episodes": episodes})
    return None, None


def _floor_source(where: str, fl: dict) -> str:
    what = fl.get("policy") or "given"
    eps = f", {fl['episodes']} episodes" if fl.get("episodes") else ""
    return f"{what} policy's mean return ({where}{eps})"


def samples_from_dir(root) -> tuple[list, dict[str, list], list[str], list[dict]]:
    """(samples, factors, notes, runs) from every ``result.json`` under ``root``: every run
    counted (see ``samples_from_runs``)."""
    runs, factors, notes = load_runs(root)
    samples, more = samples_from_runs(runs, factors)
    return samples, factors, notes + more, runs


@dataclass
class Inputs:
    """What ``pyrl.stats.analyze`` takes from a results directory."""
    samples: list          # one Sample per worker (samples_from_runs)
    factors: dict          # factor -> levels, baseline first
    models: list           # one TrainedModel per trained model (models_from_runs)
    curves: list           # learning curves (curves_from_runs)
    floor: Optional[float]  # the environment's divergence floor (floor_of), or None
    floor_source: Optional[str]
    notes: list            # unreadable files, runs left out


def inputs_from_dir(root) -> Inputs:
    """Everything the analysis of a results directory needs, read once."""
    samples, factors, notes, runs = samples_from_dir(root)
    curves = curves_from_runs(runs, factors, notes)
    floor, source = floor_of(root, runs)
    return Inputs(samples, factors, models_from_runs(runs, factors), curves, floor, source, notes)


def file_name(text: str) -> str:
    """``text`` as a portable file name: characters other than letters, digits and . + _ -
    become _ (a run's directory, a suite's env directory)."""
    import re

    return re.sub(r"[^A-Za-z0-9.+_-]", "_", str(text))


def suite_dir(root, env: str) -> Path:
    """Where a suite keeps the sweep of ``env``."""
    return Path(root) / file_name(env)


def is_suite(root) -> bool:
    return (Path(root) / SUITE).is_file()


def reference_of(root) -> tuple[float | None, str | None]:
    """The env's reference score recorded in sweep.json (from its row in pyrl.train.tasks when
    the sweep was made), else the row's now; (None, None) without either."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    ref = manifest.get("reference")
    if ref and ref.get("score") is not None:
        return float(ref["score"]), f"{ref.get('source') or 'given'} (sweep.json)"
    from pyrl.train.tasks import task

    row = task((manifest.get("config") or {}).get("env", ""))
    if row is not None and row.reference is not None:
        return row.reference, f"{row.reference_source} (pyrl.train.tasks now: not recorded in sweep.json)"
    return None, None


def suite_inputs(root) -> list:
    """A ``pyrl.stats.suite.TaskInputs`` for every env of the suite at ``root``, in suite.json's
    order; ResultsError for an env whose sweep has not started."""
    from pyrl.stats.suite import TaskInputs

    root = Path(root)
    try:
        envs = json.loads((root / SUITE).read_text())["envs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{root / SUITE}: unreadable ({exc})") from None
    out = []
    for env in envs:
        where = suite_dir(root, env)
        if not (where / MANIFEST).is_file():
            raise ResultsError(f"{where}: the suite's sweep of {env} has not started (rerun the sweep to run it)")
        inp = inputs_from_dir(where)
        ref, ref_source = reference_of(where)
        out.append(TaskInputs(env, inp.samples, inp.factors, inp.models, inp.curves, inp.floor, inp.floor_source,
                              ref, ref_source, inp.notes))
    return out


def curves_from_runs(runs: list[dict], factors: dict[str, list], notes: list[str] | None = None) -> list:
    """A ``pyrl.stats.convergence.RunCurve`` for every ok or diverged run with a curve.csv
    (columns worker, step, episode_return; step: that worker's env steps so far). The budget
    is the run's configured total steps; k its score_episodes (10 when not recorded). An
    unreadable curve.csv is left out, with a line in ``notes``."""
    import numpy as np

    from pyrl.stats.convergence import RunCurve, WorkerCurve

    out = []
    for r in runs:
        path = Path(r["_dir"]) / "curve.csv"
        if r.get("status", "ok") not in ("ok", "diverged") or not path.exists():
            continue
        try:
            rows = _read_curve(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if notes is not None:
                notes.append(f"{path}: unreadable curve ({type(exc).__name__}: {exc}); left out of convergence speed")
            continue
        cfg = r.get("config") or {}
        entries = r.get("workers") or [{"worker": w} for w in sorted(rows)]
        workers = {}
        for w in entries:
            pts = sorted(rows.get(int(w["worker"]), []))
            status = w.get("status") or r.get("status", "ok")
            workers[int(w["worker"])] = WorkerCurve(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]),
                                                   status == "diverged", w.get("diverged_at"))
        budget = int(cfg.get("steps") or r.get("steps") or 0)
        out.append(RunCurve(run_config(r, factors), r["method"], int(r["seed"]), budget,
                            int(cfg.get("score_episodes") or 10), workers))
    return out


def _read_curve(path) -> dict[int, list[tuple[float, float]]]:
    """worker -> [(its env steps, episode return)] from a curve.csv."""
    import csv

    rows: dict[int, list] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(int(row["worker"]), []).append((float(row["step"]), float(row["episode_return"])))
    return rows
