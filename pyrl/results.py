"""Results on disk: written safely (every file appears whole or not at all: temp file +
os.replace), and read back with their sweep's definition checked.

A results directory is one run (``DIR/result.json``, from ``pyrl train``) or a sweep
(``DIR/sweep.json`` and ``DIR/<run_id>/result.json``, from ``pyrl ablate``/``compare``), or a
directory holding such directories.
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
RESULT = "result.json"
LOCK = ".lock"
FINISHED = ("ok", "diverged")  # learning outcomes; failed and interrupted runs are not
# the factors pyrl knows when a directory has no sweep.json: those whose value varies
KNOWN_FACTORS = ("rnn", "layernorm")


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
        named = manifest.get("components") if manifest else None
        factors = {c: [True, False] for c in (named if named is not None else KNOWN_FACTORS)
                   if named is not None or len({bool(r.get("config", {}).get(c)) for r in runs}) > 1}
        for run in runs:
            run["factors"] = {c: bool(run.get("config", {}).get(c)) for c in factors}
    return Results(runs, factors, manifest, problems)


def _check_against(run: dict, manifest: dict, factors: dict[str, list]) -> None:
    name = Path(run["_dir"]).name
    levels = run.get("factors")
    if levels is None or set(levels) != set(factors) or any(levels[f] not in factors[f] for f in factors):
        raise ResultsError(f"{name}: its factor levels {levels} are not a cell of this sweep "
                           f"({factors}); the directory mixes sweeps")
    want = dict(manifest["config"], **levels, method=run.get("method"), seed=run.get("seed"))
    have = run.get("config") or {}
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if diff:
        shown = ", ".join(f"{k}: {json.dumps(have.get(k, 'unset'))} vs sweep {json.dumps(want.get(k, 'unset'))}"
                          for k in diff[:4])
        raise ResultsError(f"{name}: its configuration differs from sweep.json ({shown}); "
                           "the directory mixes settings, so it is not analysed")
