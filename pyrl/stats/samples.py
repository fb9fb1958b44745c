"""Samples (one worker of one run), factors and their levels, labels, and the scores CSV."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

STATUSES = ("ok", "diverged", "failed")
_REQUIRED = ("method", "seed", "worker", "score")
_OPTIONAL = ("status", "model", "floor")
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


class ScoresError(ValueError):
    """Bad scores input: a one-line message naming the problem (and the line, for a CSV)."""


def level_of(name: str, value: Any) -> bool | str:
    """A factor level: on/off (bool, or the integers 0/1) or a non-empty string."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ScoresError(f"level of {name!r} must be on/off (bool or 0/1) or a non-empty string, got {value!r}")


def _config_pairs(config) -> tuple[tuple[str, bool | str], ...]:
    """A configuration (a mapping or (name, level) pairs) as a sorted tuple of pairs, so it hashes."""
    items = config.items() if isinstance(config, Mapping) else config
    pairs = [(str(name), level_of(str(name), v)) for name, v in items]
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ScoresError(f"factor named twice in config {names}")
    return tuple(sorted(pairs))


def _outcome(status: str, score: float | None, what: str) -> float | None:
    """The score of an outcome with this status: ok needs one; a diverged or failed outcome's
    non-finite score is no score."""
    if status not in STATUSES:
        raise ScoresError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    score = None if score is None else float(score)
    if status != "ok" and score is not None and not math.isfinite(score):
        score = None
    if status == "ok" and score is None:
        raise ScoresError(f"{what} is ok but has no score")
    return score


@dataclass(frozen=True)
class Sample:
    """One worker of one run (``seed`` identifies the run within its configuration and method).

    ``config`` maps factor -> level (a mapping or (name, level) pairs; a level is a bool for
    an on/off component, else a string; stored as a sorted tuple of pairs so samples hash).
    ``status``: "ok" (``score`` is its final score), "diverged" (a learning outcome; ``score``
    is the mean return of its last episodes before divergence, or None without one) or
    "failed" (its run crashed or was killed: not a learning outcome; ``score`` is ignored).
    ``model``: which trained model of its run the worker acted with (the A3C workers of a run
    share one), or None when not known."""

    config: tuple[tuple[str, bool | str], ...]
    method: str
    seed: int
    worker: int
    score: float | None
    status: str = "ok"
    model: int | None = None

    def __post_init__(self) -> None:
        score = _outcome(self.status, self.score,
                         f"sample (method {self.method}, seed {self.seed}, worker {self.worker})")
        object.__setattr__(self, "config", _config_pairs(self.config))
        object.__setattr__(self, "method", str(self.method))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "worker", int(self.worker))
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "model", None if self.model is None else int(self.model))

    @property
    def config_dict(self) -> dict[str, bool | str]:
        return dict(self.config)


@dataclass(frozen=True)
class TrainedModel:
    """One trained model of one run: the training outcome the stability measures compare (one
    per A3C run, one per independent learner). ``score``: the mean return of its fixed-policy
    evaluation (``source`` "evaluation", with the episode returns in ``rollouts``), or, without
    one, the mean of the training-time scores of the workers that acted with it (``source``
    "training scores"). ``status`` as a Sample's: a diverged model's score is its workers'
    last scores before divergence (or None), a failed one is not a learning outcome."""

    config: tuple[tuple[str, bool | str], ...]
    method: str
    seed: int
    model: int
    score: float | None
    status: str = "ok"
    source: str = "evaluation"
    rollouts: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        score = _outcome(self.status, self.score, f"model (method {self.method}, seed {self.seed}, "
                                                  f"model {self.model})")
        object.__setattr__(self, "config", _config_pairs(self.config))
        object.__setattr__(self, "method", str(self.method))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "model", int(self.model))
        object.__setattr__(self, "score", score)
        if self.rollouts is not None:
            object.__setattr__(self, "rollouts", tuple(float(v) for v in self.rollouts))

    @property
    def config_dict(self) -> dict[str, bool | str]:
        return dict(self.config)


def models_from_samples(samples: Iterable[Sample]) -> tuple[list[TrainedModel], bool]:
    """The trained models behind worker samples, and whether any was assumed: the samples of
    one run with the same ``model`` are one model, scored by the mean of their scores (source
    "training scores"); a sample without a model is assumed to be its own model. A model is
    failed if any of its workers failed, else diverged if any diverged (its score the mean of
    its workers' last scores, None without one)."""
    groups: dict[tuple, list[Sample]] = {}
    assumed = False
    for s in samples:
        assumed |= s.model is None
        key = (s.config, s.method, s.seed, ("worker", s.worker) if s.model is None else ("model", s.model))
        groups.setdefault(key, []).append(s)
    out = []
    for (config, method, seed, (kind, ident)), ss in groups.items():
        statuses = {s.status for s in ss}
        status = "failed" if "failed" in statuses else "diverged" if "diverged" in statuses else "ok"
        scores = [s.score for s in ss if s.score is not None]
        score = None if status == "failed" or not scores else float(np.mean(scores))
        out.append(TrainedModel(config, method, seed, ident, score, status, "training scores"))
    return out, assumed


def as_sample(s: Sample | Mapping[str, Any]) -> Sample:
    if isinstance(s, Sample):
        return s
    try:
        return Sample(s["config"], s["method"], s["seed"], s["worker"], s["score"], s.get("status", "ok"),
                      s.get("model"))
    except KeyError as e:
        raise ScoresError(f"sample {dict(s)!r} lacks key {e.args[0]!r}") from None


# --------------------------------------------------------------------------- factors


def normalize_factors(factors: Sequence[str] | Mapping[str, Sequence[Any]]) -> dict[str, list]:
    """An ordered mapping factor -> levels, the first level the baseline. A sequence of
    names means on/off components: levels [True, False] (the baseline has every one on)."""
    if isinstance(factors, Mapping):
        out = {}
        for name, levels in factors.items():
            lv = [level_of(str(name), v) for v in levels]
            if not lv or len(set(lv)) != len(lv):
                raise ScoresError(f"factor {name!r} needs distinct levels, got {list(levels)!r}")
            out[str(name)] = lv
        return out
    if isinstance(factors, str):
        raise ScoresError(f"factors must be a list of names or a mapping, got the string {factors!r}")
    names = [str(c) for c in factors]
    if len(set(names)) != len(names):
        raise ScoresError(f"components named twice: {names}")
    return {c: [True, False] for c in names}


def _part(name: str, level: bool | str) -> str:
    if isinstance(level, bool):
        return name if level else f"no {name}"
    return f"{name}={level}"


def config_label(config: Mapping[str, bool | str], baseline: Mapping[str, bool | str] | None = None) -> str:
    """A configuration's name. The baseline (every factor at its first level; on for an
    on/off component when ``baseline`` is not given) is 'baseline (rnn+layernorm)', or
    'baseline (norm=none, rnn)' when some factor has string levels. Any other configuration
    names what differs from the baseline: 'no rnn, no layernorm', 'norm=rmsnorm, no rnn'.
    'single configuration' when there are no factors."""
    if not config:
        return "single configuration"
    base = dict(baseline) if baseline is not None else {k: True for k, v in config.items() if isinstance(v, bool)}
    changed = [_part(k, v) for k, v in config.items() if k not in base or v != base[k]]
    if changed:
        return ", ".join(changed)
    sep = "+" if all(v is True for v in config.values()) else ", "
    return "baseline (" + sep.join(_part(k, v) for k, v in config.items()) + ")"


# --------------------------------------------------------------------------- CSV


def _read_rows(p: Path) -> tuple[list[str], int, list[tuple[int, list[str]]]]:
    """(header, header line, [(line number, fields)]) of a CSV, blank lines skipped."""
    if not p.is_file():
        raise ScoresError(f"scores file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ScoresError(f"cannot read scores file {p}: {e}") from None
    if not text.strip():
        raise ScoresError(f"scores file is empty: {p}")
    reader = csv.reader(text.splitlines(keepends=True))
    rows = [(reader.line_num, [f.strip() for f in row]) for row in reader if any(f.strip() for f in row)]
    (hline, header), body = rows[0], rows[1:]
    return header, hline, body


def _columns(p: Path, header: list[str], hline: int) -> tuple[dict[str, int], list[tuple[int, str]]]:
    lower = [h.lower() for h in header]
    for i, h in enumerate(header):
        if not h:
            raise ScoresError(f"{p}: line {hline}: column {i + 1} has no name")
    if len(set(lower)) != len(lower):
        dup = sorted({h for h in lower if lower.count(h) > 1})
        raise ScoresError(f"{p}: line {hline}: column named twice: {', '.join(dup)}")
    for req in _REQUIRED:
        if req not in lower:
            raise ScoresError(f"{p}: missing required column '{req}' (columns found: {', '.join(header)})")
    col = {name: lower.index(name) for name in (*_REQUIRED, *_OPTIONAL) if name in lower}
    factors = [(i, h) for i, h in enumerate(header) if h.lower() not in col]
    return col, factors


def _status_and_score(p: Path, line: int, f: list[str], col: dict[str, int]) -> tuple[str, float | None]:
    status = f[col["status"]].lower() if "status" in col else "ok"
    if status not in STATUSES:
        raise ScoresError(f"{p}: line {line}: status {f[col['status']]!r} is not one of {', '.join(STATUSES)}")
    raw = f[col["score"]]
    if status != "ok" and raw == "":
        return status, None
    try:
        score = float(raw)
    except ValueError:
        raise ScoresError(f"{p}: line {line}: score {raw!r} is not a number") from None
    if not math.isfinite(score):
        if status != "ok":
            return status, None
        raise ScoresError(f"{p}: line {line}: score {raw!r} is not a finite number")
    return status, score


def _factor_levels(p: Path, body, factors) -> dict[str, list]:
    """Each factor column's levels: on/off when every value is 0/1/true/false (baseline on),
    else string levels in the order first seen (the first is the baseline)."""
    out = {}
    for i, name in factors:
        values = [(line, f[i]) for line, f in body]
        for line, v in values:
            if not v:
                raise ScoresError(f"{p}: line {line}: factor '{name}' has no value")
        if all(v.lower() in _TRUE | _FALSE for _, v in values):
            out[name] = [True, False]
        else:
            out[name] = list(dict.fromkeys(v for _, v in values))
    return out


def _level(v: str, levels: list) -> bool | str:
    return v.lower() in _TRUE if levels == [True, False] else v


def load_scores_csv(
    path: str | Path, treatment: str = "a3c", control: str = "individual"
) -> tuple[list[Sample], list[str] | dict[str, list]]:
    """(samples, factors) of a scores CSV (``read_scores_csv``, without its floor)."""
    got = read_scores_csv(path, treatment, control)
    return got.samples, got.factors


@dataclass
class ScoresFile:
    samples: list[Sample]
    factors: list[str] | dict[str, list]
    floor: float | None  # the file's ``floor`` column (one value for every row), else None


def read_scores_csv(path: str | Path, treatment: str = "a3c", control: str = "individual") -> ScoresFile:
    """Read long-format scores: columns ``method, seed, worker, score`` (any order, names
    case-insensitive), optional ``status`` (ok, diverged, failed; default ok), ``model`` (an
    integer: the rows of one run with the same model acted with one trained model, as an A3C
    run's workers do; without the column every row is its own model) and ``floor`` (the
    environment's divergence floor, fixed before the analysis: one number, the same on every
    row), and one column per factor (every other column). ``seed`` identifies the run (within
    its configuration and method), ``worker`` the worker within it. A factor column whose
    values are all 0/1/true/false (case-insensitive) is an on/off component; any other column
    holds string levels, the first level seen being its baseline. A diverged or failed row may
    leave ``score`` empty. Blank lines are skipped.

    ``factors`` is the list of component names, in column order, when every factor is on/off,
    else an ordered mapping factor -> levels. Raises ScoresError (one line, with the line
    number where one applies) for a missing or empty file, a missing column, a bad score,
    status, model or floor, a non-integer seed/worker, a factor without a value, a row of the
    wrong width, a duplicate (config, method, seed, worker), or when treatment or control is
    absent."""
    p = Path(path)
    header, hline, body = _read_rows(p)
    col, factor_cols = _columns(p, header, hline)
    for line, f in body:
        if len(f) != len(header):
            raise ScoresError(f"{p}: line {line}: expected {len(header)} fields, found {len(f)}")
    levels = _factor_levels(p, body, factor_cols)
    samples, seen = [], {}
    for line, f in body:
        s = _sample_of_row(p, line, f, col, factor_cols, levels)
        key = (s.config, s.method, s.seed, s.worker)
        if key in seen:
            raise ScoresError(f"{p}: line {line}: duplicate of line {seen[key]} (same factors, method, seed, worker)")
        seen[key] = line
        samples.append(s)
    if not samples:
        raise ScoresError(f"{p}: no data rows after the header")
    _check_methods(p, samples, treatment, control)
    factors = list(levels) if all(lv == [True, False] for lv in levels.values()) else levels
    return ScoresFile(samples, factors, _floor_column(p, body, col))


def _floor_column(p: Path, body, col: dict[str, int]) -> float | None:
    if "floor" not in col:
        return None
    values = {}
    for line, f in body:
        try:
            v = float(f[col["floor"]])
        except ValueError:
            raise ScoresError(f"{p}: line {line}: floor {f[col['floor']]!r} is not a number") from None
        if not math.isfinite(v):
            raise ScoresError(f"{p}: line {line}: floor {f[col['floor']]!r} is not a finite number")
        values.setdefault(v, line)
    if len(values) > 1:
        (a, la), (b, lb) = list(values.items())[:2]
        raise ScoresError(f"{p}: the floor must be one value for the whole file (the environment's); "
                          f"line {la} has {a:g}, line {lb} has {b:g}")
    return next(iter(values))


def _sample_of_row(p, line, f, col, factor_cols, levels) -> Sample:
    method = f[col["method"]]
    if not method:
        raise ScoresError(f"{p}: line {line}: empty method")
    status, score = _status_and_score(p, line, f, col)
    ints = {}
    for name in ("seed", "worker", "model"):
        if name == "model" and ("model" not in col or f[col["model"]] == ""):
            ints[name] = None
            continue
        try:
            ints[name] = int(f[col[name]])
        except ValueError:
            raise ScoresError(f"{p}: line {line}: {name} {f[col[name]]!r} is not an integer") from None
    config = {name: _level(f[i], levels[name]) for i, name in factor_cols}
    return Sample(config, method, ints["seed"], ints["worker"], score, status, ints["model"])


def _check_methods(p: Path, samples: list[Sample], treatment: str, control: str) -> None:
    found = sorted({s.method for s in samples})
    missing = [m for m in (treatment, control) if m not in found]
    if missing:
        raise ScoresError(
            f"{p}: scores need both treatment '{treatment}' and control '{control}'; "
            f"missing {', '.join(repr(m) for m in missing)}; methods found: {', '.join(repr(m) for m in found)}"
        )
