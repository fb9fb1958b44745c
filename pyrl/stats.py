"""Statistics of an ablation: treatment (Hogwild A3C) vs control (independent workers).

Pure numpy/scipy (no torch), so ``pyrl report`` and ``--scores FILE.csv`` stay light.

The unit of a sample is one worker of one run (seed): its score is the mean return of its
last training episodes. ``analyze(..., unit="seed")`` averages the workers of each run first,
for readers who want one independent sample per seed (A3C workers share one model, so they
are not independent of each other).

Definitions (T = treatment, C = control, x a cell's scores, n = len(x)):

per cell (configuration x method)
    mean, std          sample mean; sample standard deviation with ddof=1 (None when n < 2)
    cv                 std / mean; None (with ``cv_note``) when any score is negative, when
                       mean <= CV_EPS * std (zero or near zero relative to the spread), or n < 2
    worst, best        min(x), max(x)
    median             the median
    iqm                interquartile mean, as rliable: scipy.stats.trim_mean(x, 0.25)
                       (drops int(0.25 n) scores at each end, then averages)
    cvar10             lower CVaR: mean of the k = max(1, n // 10) smallest scores
    mean_ci95, cv_ci95 percentile bootstrap CI (level 1 - alpha, 95% by default) of the mean
                       and of the CV: n_boot resamples of the cell, with replacement

per configuration, T vs C
    gap                      mean_T - mean_C
    gap_pct                  100 gap / |mean_C|  (= 100 gap / mean_C for positive scores; the
                             sign is always that of the gap; None when mean_C = 0)
    stability_advantage_pct  100 (1 - cv_T / cv_C); positive: T is more stable (lower CV).
                             None when either CV is None or cv_C = 0
    robustness_ratio         worst_T / worst_C, defined for non-negative worst scores only:
                             inf when worst_C = 0 < worst_T; None when both are 0 (0/0: the
                             ratio cannot rank them; see worst_diff) or when either is negative
                             (use score_range to map scores onto [0, 1] first)
    worst_diff               worst_T - worst_C (always defined)
    welch_p                  two-sided Welch t-test, scipy.stats.ttest_ind(equal_var=False)
    gap_ci95, gap_pct_ci95   bootstrap CI of the gap (T and C cells resampled independently)
    cv_diff, cv_diff_ci95    cv_T - cv_C and its bootstrap CI
    prob_improvement         P(X_T > X_C) + 0.5 P(X_T = X_C) = Mann-Whitney U_T / (n_T n_C)
    seeds_needed             samples per method for a two-sided Welch test at level alpha to
                             detect |gap| with the given power (0.8), the observed stds taken as
                             the true ones (Colas et al. 2018); noncentral t, smallest n found by
                             doubling then bisection. None when gap = 0 or it exceeds 10**6.
                             Counted in samples: workers when unit="worker", runs when "seed"
    warning                  plain-English reasons not to trust a claim, or None: n < min_n,
                             fewer than min_n seeds (unit="worker"), p >= alpha, a CI of the
                             gap or of the CV difference covering 0, seeds_needed > n

per component c (removal = c off, the others on) and method
    X_change      X(without c) - X(baseline, all on)  for X in mean, std, cv, worst
    X_change_pct  100 X_change / |X(baseline)|  (None when the baseline value is 0)
    cv_suffers_more  (separate top-level list) the method whose cv_change_pct is larger
                     (its CV rises more); ``ratio_t_over_c`` = cv_change_pct_T / cv_change_pct_C;
                     ``factor`` = larger / smaller when both CVs rise, else None

per component c, contribution to the gap
    gap_pct_points    gap_pct(baseline) - gap_pct(without c)
    share_of_gap_pct  100 gap_pct_points / gap_pct(baseline)

interaction of two components A = components[0], B = components[1] (only with exactly two)
    value = (both on - only A on) - (only B on - neither)
          = joint effect of turning both on - the sum of their separate effects,
    of the gap and of each method's CV, with a bootstrap CI. Verdict: "additive" when the CI
    covers 0; otherwise "synergistic" when the combination is better than additive (gap:
    value > 0, the two together widen the gap more than their separate effects add up to;
    CV: value < 0, together they lower the CV more) and "antagonistic" when it is worse.

Bootstrap: percentile intervals from ``n_boot`` resamples. Each cell's resampling stream is
``numpy.random.default_rng([seed, crc32(cell key)])``, so a cell's CI does not depend on which
other cells are present, and every derived CI (gap, CV difference, changes, interaction) is
computed from the same per-cell replicates (cells are independent samples). Scores are put in
(seed, worker) order first, so results do not depend on input order. Replicates whose statistic
is undefined (e.g. a resample of all zeros has no CV) are dropped; if more than 1% are, the CI
is None.

JSON: ``analyze`` returns plain python (dict, list, str, int, float, bool, None); undefined
values are None, never NaN; the only non-finite float is ``math.inf`` (robustness ratio),
which the CLI writes as "inf".
"""
from __future__ import annotations

import csv
import math
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as _st

__all__ = [
    "CV_EPS",
    "Sample",
    "ScoresError",
    "analyze",
    "bootstrap_ci",
    "config_label",
    "cvar",
    "iqm",
    "load_scores_csv",
    "prob_improvement",
    "welch_power",
    "welch_seeds_needed",
]

CV_EPS = 1e-9
"""CV is refused when mean <= CV_EPS * std (a mean that is zero relative to the spread)."""

_MAX_SEEDS = 10**6
_REQUIRED = ("method", "seed", "worker", "score")
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


class ScoresError(ValueError):
    """Bad scores input: a one-line message naming the problem (and the line, for a CSV)."""


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One worker of one run: ``config`` maps component -> on/off (a mapping or (name, bool)
    pairs; stored as a sorted tuple of pairs so samples hash), ``score`` its final score."""

    config: tuple[tuple[str, bool], ...]
    method: str
    seed: int
    worker: int
    score: float

    def __post_init__(self) -> None:
        items = self.config.items() if isinstance(self.config, Mapping) else self.config
        pairs = []
        for name, on in items:
            if isinstance(on, (bool, np.bool_)) or (isinstance(on, (int, np.integer)) and on in (0, 1)):
                pairs.append((str(name), bool(on)))
            else:
                raise ScoresError(f"component {name!r} must be on/off (bool or 0/1), got {on!r}")
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise ScoresError(f"component named twice in config {names}")
        object.__setattr__(self, "config", tuple(sorted(pairs)))
        object.__setattr__(self, "method", str(self.method))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "worker", int(self.worker))
        object.__setattr__(self, "score", float(self.score))

    @property
    def config_dict(self) -> dict[str, bool]:
        return dict(self.config)


def _as_sample(s: Sample | Mapping[str, Any]) -> Sample:
    if isinstance(s, Sample):
        return s
    try:
        return Sample(s["config"], s["method"], s["seed"], s["worker"], s["score"])
    except KeyError as e:
        raise ScoresError(f"sample {dict(s)!r} lacks key {e.args[0]!r}") from None


def config_label(config: Mapping[str, bool]) -> str:
    """'baseline (rnn+layernorm)' when all are on, else 'no rnn, no layernorm' (the ones off);
    'single configuration' when there are no components."""
    if not config:
        return "single configuration"
    off = [c for c, on in config.items() if not on]
    if not off:
        return "baseline (" + "+".join(config) + ")"
    return ", ".join(f"no {c}" for c in off)


# --------------------------------------------------------------------------- CSV


def load_scores_csv(
    path: str | Path, treatment: str = "a3c", control: str = "individual"
) -> tuple[list[Sample], list[str]]:
    """Read long-format scores: columns ``method, seed, worker, score`` (any order, names
    case-insensitive) and one column per component (every other column), valued 0/1 or
    true/false (case-insensitive). Blank lines are skipped. Returns (samples, components),
    components in column order. Raises ScoresError (one line, with the line number where one
    applies) for a missing or empty file, a missing column, a non-numeric or non-finite score,
    a non-integer seed/worker, a bad component value, a row of the wrong width, a duplicate
    (config, method, seed, worker), or when treatment or control is absent."""
    p = Path(path)
    if not p.is_file():
        raise ScoresError(f"scores file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ScoresError(f"cannot read scores file {p}: {e}") from None
    if not text.strip():
        raise ScoresError(f"scores file is empty: {p}")
    reader = csv.reader(text.splitlines(keepends=True))
    header: list[str] | None = None
    for row in reader:
        if any(f.strip() for f in row):
            header = [f.strip() for f in row]
            break
    assert header is not None
    hline = reader.line_num
    lower = [h.lower() for h in header]
    for i, h in enumerate(header):
        if not h:
            raise ScoresError(f"{p}: line {hline}: column {i + 1} has no name")
    if len(set(lower)) != len(lower):
        dup = sorted({h for h in lower if lower.count(h) > 1})
        raise ScoresError(f"{p}: line {hline}: column named twice: {', '.join(dup)}")
    for req in _REQUIRED:
        if req not in lower:
            raise ScoresError(
                f"{p}: missing required column '{req}' (columns found: {', '.join(header)})"
            )
    col = {req: lower.index(req) for req in _REQUIRED}
    comp_cols = [(i, h) for i, h in enumerate(header) if h.lower() not in _REQUIRED]
    components = [h for _, h in comp_cols]

    samples: list[Sample] = []
    seen: dict[tuple, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(f.strip() for f in row):
            continue
        if len(row) != len(header):
            raise ScoresError(f"{p}: line {line}: expected {len(header)} fields, found {len(row)}")
        f = [v.strip() for v in row]
        method = f[col["method"]]
        if not method:
            raise ScoresError(f"{p}: line {line}: empty method")
        try:
            score = float(f[col["score"]])
        except ValueError:
            raise ScoresError(f"{p}: line {line}: score {f[col['score']]!r} is not a number") from None
        if not math.isfinite(score):
            raise ScoresError(f"{p}: line {line}: score {f[col['score']]!r} is not a finite number")
        ints = {}
        for name in ("seed", "worker"):
            try:
                ints[name] = int(f[col[name]])
            except ValueError:
                raise ScoresError(f"{p}: line {line}: {name} {f[col[name]]!r} is not an integer") from None
        config = {}
        for i, name in comp_cols:
            v = f[i].lower()
            if v in _TRUE:
                config[name] = True
            elif v in _FALSE:
                config[name] = False
            else:
                raise ScoresError(
                    f"{p}: line {line}: component '{name}' has value {f[i]!r}; expected 0/1 or true/false"
                )
        s = Sample(config, method, ints["seed"], ints["worker"], score)
        key = (s.config, s.method, s.seed, s.worker)
        if key in seen:
            raise ScoresError(
                f"{p}: line {line}: duplicate of line {seen[key]} (same components, method, seed, worker)"
            )
        seen[key] = line
        samples.append(s)
    if not samples:
        raise ScoresError(f"{p}: no data rows after the header")
    found = sorted({s.method for s in samples})
    missing = [m for m in (treatment, control) if m not in found]
    if missing:
        raise ScoresError(
            f"{p}: scores need both treatment '{treatment}' and control '{control}'; "
            f"missing {', '.join(repr(m) for m in missing)}; methods found: {', '.join(repr(m) for m in found)}"
        )
    return samples, components


# --------------------------------------------------------------------------- small statistics


def iqm(x: Sequence[float]) -> float:
    """Interquartile mean (rliable): scipy.stats.trim_mean(x, 0.25)."""
    return float(_st.trim_mean(np.asarray(x, dtype=float), 0.25))


def cvar(x: Sequence[float], frac: float = 0.1) -> float:
    """Lower CVaR: mean of the k smallest scores, k = max(1, floor(frac n)) (computed in
    integers for frac = 0.1: n // 10)."""
    a = np.sort(np.asarray(x, dtype=float))
    k = max(1, len(a) // 10) if frac == 0.1 else max(1, int(math.floor(frac * len(a) + 1e-12)))
    return float(a[:k].mean())


def prob_improvement(xt: Sequence[float], xc: Sequence[float]) -> float:
    """P(X_T > X_C) with ties counting half = Mann-Whitney U_T / (n_T n_C)."""
    xt, xc = np.asarray(xt, dtype=float), np.asarray(xc, dtype=float)
    u = _st.mannwhitneyu(xt, xc, alternative="two-sided").statistic
    return float(u) / (len(xt) * len(xc))


def bootstrap_ci(
    x: Sequence[float], stat: str = "mean", n_boot: int = 10000, seed: int = 0, alpha: float = 0.05
) -> list[float] | None:
    """Percentile bootstrap CI (level 1 - alpha) of the mean or CV of one sample, resampling
    with ``numpy.random.default_rng(seed)``. None when n < 2, n_boot = 0, or (for the CV)
    when the CV is refused (negative scores, zero mean)."""
    if stat not in ("mean", "cv"):
        raise ValueError(f"stat must be 'mean' or 'cv', got {stat!r}")
    a = np.asarray(x, dtype=float)
    if len(a) < 2 or n_boot <= 0 or (stat == "cv" and _cv_refusal(a)):
        return None
    means, cvs = _resample(a, np.random.default_rng(seed), n_boot, want_cv=(stat == "cv"))
    return _ci(cvs if stat == "cv" else means, alpha)


def welch_power(gap: float, std_t: float, std_c: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided Welch t-test with n samples per group when the true difference
    is ``gap`` and the true stds are std_t, std_c: noncentral t with
    nc = |gap| / sqrt((s_T^2 + s_C^2) / n) and Welch-Satterthwaite
    df = (n - 1)(s_T^2 + s_C^2)^2 / (s_T^4 + s_C^4)."""
    v = std_t**2 + std_c**2
    if v == 0:
        return 1.0 if gap != 0 else alpha
    nc = abs(gap) / math.sqrt(v / n)
    df = (n - 1) * v**2 / (std_t**4 + std_c**4)
    tc = _st.t.ppf(1 - alpha / 2, df)
    return float(_st.nct.sf(tc, df, nc) + _st.nct.cdf(-tc, df, nc))


def welch_seeds_needed(
    gap: float, std_t: float, std_c: float, alpha: float = 0.05, power: float = 0.8,
    max_n: int = _MAX_SEEDS,
) -> int | None:
    """Smallest n >= 2 per group with welch_power(gap, std_t, std_c, n, alpha) >= power
    (Colas et al. 2018). None when gap = 0 (nothing to detect) or n would exceed max_n."""
    if gap == 0 or not math.isfinite(gap):
        return None
    ok = lambda n: welch_power(gap, std_t, std_c, n, alpha) >= power  # noqa: E731
    if ok(2):
        return 2
    lo, hi = 2, 4
    while not ok(hi):
        lo, hi = hi, hi * 2
        if lo > max_n:
            return None
    while hi - lo > 1:  # ok(hi) and not ok(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi if hi <= max_n else None


# --------------------------------------------------------------------------- internals


def _num(x: Any) -> Any:
    """Python float/None for JSON: NaN -> None; +-inf kept."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _cv_refusal(x: np.ndarray) -> str | None:
    if len(x) < 2:
        return "n < 2: no standard deviation, so no CV"
    if (x < 0).any():
        return ("scores include negative values; CV = std/mean is only meaningful for "
                "non-negative scores (normalise with score_range)")
    if x.mean() <= CV_EPS * x.std(ddof=1) or x.mean() == 0:
        return "mean is zero or near zero relative to the spread: CV undefined"
    return None


def _resample(x: np.ndarray, rng: np.random.Generator, n_boot: int, want_cv: bool):
    """Bootstrap replicates of the mean (and CV) of x, in chunks of <= ~2M drawn values."""
    n = len(x)
    chunk = max(1, 2_000_000 // n)
    means = np.empty(n_boot)
    cvs = np.empty(n_boot) if want_cv else None
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        xb = x[rng.integers(0, n, size=(stop - start, n))]
        m = xb.mean(axis=1)
        means[start:stop] = m
        if want_cv:
            sd = xb.std(axis=1, ddof=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                cvs[start:stop] = np.where(m > CV_EPS * sd, sd / m, np.nan)
    return means, cvs


def _ci(reps: np.ndarray | None, alpha: float) -> list[float] | None:
    if reps is None:
        return None
    ok = np.isfinite(reps)
    if ok.sum() < 0.99 * len(reps) or not ok.any():
        return None
    lo, hi = np.percentile(reps[ok], [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return [float(lo), float(hi)]


def _covers0(ci: list[float] | None) -> bool:
    return ci is not None and ci[0] <= 0 <= ci[1]


def _pct(change: float | None, base: float | None) -> float | None:
    if change is None or base is None or base == 0:
        return None
    return 100.0 * change / abs(base)


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _fmt_p(p: float | None) -> str:
    """'= 0.123' or '< 0.001', to follow 'p '."""
    if p is None:
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _fmt_ci(ci: list[float] | None, fmt: str = "+.2f") -> str:
    return "n/a" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _welch(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. precision loss on constant data
        p = _st.ttest_ind(a, b, equal_var=False).pvalue
    return _num(p)


class _Cell:
    """One (configuration, method) cell: scores, summary, bootstrap replicates."""

    def __init__(self, cfg: tuple[bool, ...], method: str, x: np.ndarray, n_seeds: int,
                 components: list[str], n_boot: int, seed: int, alpha: float, min_n: int):
        self.cfg, self.method, self.x = cfg, method, x
        self.config = dict(zip(components, cfg))
        n = len(x)
        self.n = n
        self.mean = float(x.mean())
        self.std = float(x.std(ddof=1)) if n >= 2 else None
        self.cv_note = _cv_refusal(x)
        self.cv = None if self.cv_note else self.std / self.mean
        self.worst = float(x.min())
        key = "|".join(f"{c}={int(v)}" for c, v in zip(components, cfg)) + "|" + method
        self.means = self.cvs = None
        if n >= 2 and n_boot > 0:
            rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
            self.means, cvs = _resample(x, rng, n_boot, want_cv=self.cv is not None)
            self.cvs = cvs
        warn = []
        if n < min_n:
            warn.append(f"n = {n} < {min_n}: too few samples to support a claim")
        self.doc = {
            "config": self.config,
            "label": config_label(self.config),
            "method": method,
            "n": n,
            "n_seeds": n_seeds,
            "mean": self.mean,
            "std": self.std,
            "cv": self.cv,
            "cv_note": self.cv_note,
            "worst": self.worst,
            "best": float(x.max()),
            "median": float(np.median(x)),
            "iqm": iqm(x),
            "cvar10": cvar(x),
            "mean_ci95": _ci(self.means, alpha),
            "cv_ci95": _ci(self.cvs, alpha),
            "warning": "; ".join(warn) or None,
        }


def _robustness(wt: float, wc: float) -> tuple[float | None, str | None]:
    if wt < 0 or wc < 0:
        return None, ("a worst score is negative: the ratio is only defined for non-negative "
                      "scores (normalise with score_range); see worst_diff")
    if wc == 0:
        if wt == 0:
            return None, "both worst scores are 0: the ratio is 0/0, undefined; see worst_diff"
        return math.inf, "control's worst score is 0 < treatment's: ratio is infinite"
    return wt / wc, None


# --------------------------------------------------------------------------- analyze


def analyze(
    samples: Iterable[Sample | Mapping[str, Any]],
    components: Sequence[str],
    treatment: str = "a3c",
    control: str = "individual",
    score_range: tuple[float, float] | None = None,
    n_boot: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    min_n: int = 5,
    unit: str = "worker",
) -> dict[str, Any]:
    """Analyse an ablation; returns one JSON-ready document (see the module docstring for
    every definition) with keys ``cells, comparisons, removals, cv_suffers_more,
    contributions, interaction, findings, skipped, meta``.

    ``samples``: Sample objects or dicts with keys config, method, seed, worker, score; each
    config must name exactly ``components`` (which may be empty: one configuration).
    ``score_range=(lo, hi)`` maps every score to (score - lo) / (hi - lo) before anything else
    (not clipped). ``unit``: "worker" (each worker of each run is a sample) or "seed" (the
    workers of a run are averaged into one sample). Cells with n < ``min_n``, CIs covering 0 and
    p >= alpha produce warning strings. Missing cells are skipped and listed in ``skipped``.
    """
    components = [str(c) for c in components]
    if len(set(components)) != len(components):
        raise ScoresError(f"components named twice: {components}")
    if treatment == control:
        raise ScoresError("treatment and control must differ")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 0):
        raise ScoresError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ScoresError(f"seed must be a non-negative integer, got {seed!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ScoresError("alpha and power must lie in (0, 1)")
    if unit not in ("worker", "seed"):
        raise ScoresError(f"unit must be 'worker' or 'seed', got {unit!r}")
    lo = hi = None
    if score_range is not None:
        lo, hi = (float(v) for v in score_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ScoresError(f"score_range must be (lo, hi) with lo < hi, got {score_range!r}")

    want = set(components)
    rows: dict[tuple[tuple[bool, ...], str], list[tuple[int, int, float]]] = {}
    seen = set()
    n_out = 0
    for raw in samples:
        s = _as_sample(raw)
        cfg = s.config_dict
        if set(cfg) != want:
            raise ScoresError(
                f"sample (method {s.method}, seed {s.seed}, worker {s.worker}) has components "
                f"{sorted(cfg)}, expected {sorted(want)}"
            )
        if not math.isfinite(s.score):
            raise ScoresError(f"sample (method {s.method}, seed {s.seed}, worker {s.worker}): score {s.score} is not finite")
        key = (s.config, s.method, s.seed, s.worker)
        if key in seen:
            raise ScoresError(f"duplicate sample: {config_label(cfg)}, method {s.method}, seed {s.seed}, worker {s.worker}")
        seen.add(key)
        score = s.score
        if lo is not None:
            n_out += not (lo <= score <= hi)
            score = (score - lo) / (hi - lo)
        rows.setdefault((tuple(cfg[c] for c in components), s.method), []).append((s.seed, s.worker, score))
    if not rows:
        raise ScoresError("no samples")

    skipped: list[str] = []
    findings: list[str] = []
    if n_out:
        findings.append(f"Note: {n_out} scores fall outside score_range {list(score_range)}; they were mapped, not clipped.")

    cells: dict[tuple[tuple[bool, ...], str], _Cell] = {}
    for (cfg, method), r in rows.items():
        r.sort()
        if unit == "seed":
            by_seed: dict[int, list[float]] = {}
            for sd, _, v in r:
                by_seed.setdefault(sd, []).append(v)
            x = np.array([np.mean(v) for _, v in sorted(by_seed.items())])
        else:
            x = np.array([v for _, _, v in r])
        cells[(cfg, method)] = _Cell(cfg, method, x, len({sd for sd, _, _ in r}), components,
                                     n_boot, seed, alpha, min_n)

    order = lambda cfg: tuple(not b for b in cfg)  # noqa: E731  baseline (all on) first
    all_cfgs = sorted({tuple(b) for b in _product(len(components))}, key=order)
    present = sorted({cfg for cfg, _ in cells}, key=order)
    methods = [m for m in (treatment, control) if any(k[1] == m for k in cells)]
    methods += sorted({m for _, m in cells} - {treatment, control})
    label = lambda cfg: config_label(dict(zip(components, cfg)))  # noqa: E731
    for cfg in all_cfgs:
        if cfg not in present:
            skipped.append(f"configuration '{label(cfg)}' has no samples")
        else:
            for m in (treatment, control):
                if (cfg, m) not in cells:
                    skipped.append(f"configuration '{label(cfg)}' has no samples for {m}")
    pct_ci = f"{100 * (1 - alpha):g}% CI"

    # ---- comparisons
    comparisons: dict[tuple[bool, ...], dict[str, Any]] = {}
    for cfg in present:
        t, c = cells.get((cfg, treatment)), cells.get((cfg, control))
        if t is None or c is None:
            continue
        gap = t.mean - c.mean
        gap_pct = _pct(gap, c.mean)
        adv = None
        if t.cv is not None and c.cv is not None and c.cv != 0:
            adv = 100.0 * (1 - t.cv / c.cv)
        rr, rr_note = _robustness(t.worst, c.worst)
        gap_reps = gap_pct_reps = cvd_reps = None
        if t.means is not None and c.means is not None:
            gap_reps = t.means - c.means
            with np.errstate(divide="ignore", invalid="ignore"):
                gap_pct_reps = 100.0 * gap_reps / np.abs(c.means)
        if t.cvs is not None and c.cvs is not None:
            cvd_reps = t.cvs - c.cvs
        p = _welch(t.x, c.x)
        gap_ci = _ci(gap_reps, alpha)
        cvd_ci = _ci(cvd_reps, alpha)
        need = None
        if t.std is not None and c.std is not None:
            need = welch_seeds_needed(gap, t.std, c.std, alpha, power)
        warn = []
        if min(t.n, c.n) < min_n:
            warn.append(f"n is too small ({treatment} {t.n}, {control} {c.n}; want at least {min_n} per cell)")
        ns = min(t.doc["n_seeds"], c.doc["n_seeds"])
        if unit == "worker" and ns < min_n:
            warn.append(f"only {ns} seeds per method: workers of one run are not independent, so CIs and p-values are optimistic")
        if p is None or p >= alpha:
            warn.append(f"the gap is not statistically significant (Welch p {_fmt_p(p)})")
        if _covers0(gap_ci):
            warn.append(f"the {pct_ci} of the gap covers 0")
        if _covers0(cvd_ci):
            warn.append(f"the {pct_ci} of the CV difference covers 0: no stability winner can be claimed")
        if need is not None and need > min(t.n, c.n):
            warn.append(f"detecting this gap with power {power:g} needs about {need} samples per method (have {min(t.n, c.n)})")
        comparisons[cfg] = {
            "config": dict(zip(components, cfg)),
            "label": label(cfg),
            "n_treatment": t.n,
            "n_control": c.n,
            "mean_treatment": t.mean,
            "mean_control": c.mean,
            "std_treatment": t.std,
            "std_control": c.std,
            "gap": gap,
            "gap_pct": gap_pct,
            "gap_ci95": gap_ci,
            "gap_pct_ci95": _ci(gap_pct_reps, alpha),
            "welch_p": p,
            "cv_treatment": t.cv,
            "cv_control": c.cv,
            "cv_diff": _sub(t.cv, c.cv),
            "cv_diff_ci95": cvd_ci,
            "stability_advantage_pct": adv,
            "more_stable": None if adv is None or adv == 0 else (treatment if adv > 0 else control),
            "worst_treatment": t.worst,
            "worst_control": c.worst,
            "worst_diff": t.worst - c.worst,
            "robustness_ratio": rr,
            "robustness_note": rr_note,
            "prob_improvement": prob_improvement(t.x, c.x),
            "seeds_needed": need,
            "warning": "; ".join(warn) or None,
            "_reps": (gap_reps, gap_pct_reps),
        }

    # ---- removals, cv_suffers_more, contributions
    base = tuple([True] * len(components))
    removals, suffers, contributions = [], [], []
    for i, comp in enumerate(components):
        wo = tuple(False if j == i else True for j in range(len(components)))
        pcts, unsure = {}, {}
        for m in (treatment, control):
            b, w = cells.get((base, m)), cells.get((wo, m))
            if b is None or w is None:
                skipped.append(f"removal of {comp} for {m}: needs cells '{label(base)}' and '{label(wo)}'")
                continue
            d = {"component": comp, "method": m, "label": label(wo)}
            for stat in ("mean", "std", "cv", "worst"):
                ch = _sub(getattr(w, stat), getattr(b, stat))
                d[f"{stat}_change"] = ch
                d[f"{stat}_change_pct"] = _pct(ch, getattr(b, stat))
            d["mean_change_ci95"] = _ci(None if b.means is None or w.means is None else w.means - b.means, alpha)
            d["cv_change_ci95"] = _ci(None if b.cvs is None or w.cvs is None else w.cvs - b.cvs, alpha)
            d["mean_change_p"] = _welch(w.x, b.x)
            d["cv_note"] = b.cv_note or w.cv_note
            warn = []
            if min(b.n, w.n) < min_n:
                warn.append(f"n is too small ({b.n} and {w.n}; want at least {min_n} per cell)")
            if d["mean_change_p"] is None or d["mean_change_p"] >= alpha:
                warn.append(f"the mean change is not statistically significant (Welch p {_fmt_p(d['mean_change_p'])})")
            if _covers0(d["cv_change_ci95"]):
                warn.append(f"the {pct_ci} of the CV change covers 0")
            d["warning"] = "; ".join(warn) or None
            removals.append(d)
            pcts[m] = d["cv_change_pct"]
            unsure[m] = d["cv_change_ci95"] is None or _covers0(d["cv_change_ci95"])
        pt, pc = pcts.get(treatment), pcts.get(control)
        if pt is not None and pc is not None:
            worse = None if pt == pc else (treatment if pt > pc else control)
            factor = max(pt, pc) / min(pt, pc) if pt > 0 and pc > 0 else None
            if pt <= 0 and pc <= 0:
                # Both CVs fall without the component: nobody suffers from removing it.
                worse = None
                stmt = (f"Removing {comp} lowers both CVs ({treatment} {pt:+.1f}%, {control} {pc:+.1f}%): "
                        f"neither method's stability suffers.")
            elif factor is not None:
                stmt = (f"Removing {comp} raises {treatment}'s CV by {pt:.1f}% and {control}'s by {pc:.1f}%: "
                        f"{worse}'s CV suffers {factor:.1f}x more.")
            elif worse is None:
                stmt = f"Removing {comp} changes both methods' CV by {pt:+.1f}%."
            else:
                other = control if worse == treatment else treatment
                stmt = (f"Removing {comp} changes {worse}'s CV by {max(pt, pc):+.1f}% and {other}'s by "
                        f"{min(pt, pc):+.1f}%: {worse}'s CV suffers more (no ratio: the changes are not both increases).")
            if any(unsure.values()):
                stmt += f" Caution: the {pct_ci} of a CV change covers 0 (or could not be computed)."
            suffers.append({
                "component": comp,
                "method_that_suffers_more": worse,
                "factor": factor,
                "ratio_t_over_c": pt / pc if pc != 0 else None,
                "treatment_cv_change_pct": pt,
                "control_cv_change_pct": pc,
                "statement": stmt,
            })
        cb, cw = comparisons.get(base), comparisons.get(wo)
        if cb is None or cw is None or cb["gap_pct"] is None or cw["gap_pct"] is None:
            skipped.append(f"contribution of {comp}: needs T and C in '{label(base)}' and '{label(wo)}'")
            continue
        pp = cb["gap_pct"] - cw["gap_pct"]
        pp_reps = None
        if cb["_reps"][1] is not None and cw["_reps"][1] is not None:
            pp_reps = cb["_reps"][1] - cw["_reps"][1]
        ci = _ci(pp_reps, alpha)
        contributions.append({
            "component": comp,
            "gap_pct_baseline": cb["gap_pct"],
            "gap_pct_without": cw["gap_pct"],
            "gap_change": cw["gap"] - cb["gap"],
            "gap_pct_points": pp,
            "gap_pct_points_ci95": ci,
            "share_of_gap_pct": 100.0 * pp / cb["gap_pct"] if cb["gap_pct"] != 0 else None,
            "warning": (f"the {pct_ci} of the contribution covers 0" if _covers0(ci) else None),
        })

    # ---- interaction
    interaction = None
    if len(components) == 2:
        interaction = _interaction(components, cells, comparisons, treatment, control, alpha, min_n, pct_ci)

    # ---- findings
    for cfg, cp in comparisons.items():
        t, c = cells[(cfg, treatment)], cells[(cfg, control)]
        sd = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        gp = "n/a" if cp["gap_pct"] is None else f"{cp['gap_pct']:+.1f}%"
        findings.append(
            f"{cp['label']}: {treatment} {t.mean:.2f} ± {sd(t.std)} vs {control} {c.mean:.2f} ± {sd(c.std)} "
            f"(n = {t.n}/{c.n}); gap {cp['gap']:+.2f} ({gp}), {pct_ci} {_fmt_ci(cp['gap_ci95'])}, "
            f"Welch p {_fmt_p(cp['welch_p'])}; P({treatment} > {control}) = {cp['prob_improvement']:.2f}."
        )
        if cp["stability_advantage_pct"] is not None:
            adv = cp["stability_advantage_pct"]
            who = cp["more_stable"] or "neither"
            findings.append(
                f"{cp['label']}: CV {treatment} {t.cv:.3f} vs {control} {c.cv:.3f}: {who} is more stable by "
                f"{abs(adv):.0f}% (1 - CV ratio); {pct_ci} of the CV difference {_fmt_ci(cp['cv_diff_ci95'], '+.3f')}."
            )
        else:
            findings.append(f"{cp['label']}: CV not reported: {t.cv_note or c.cv_note or 'control CV is 0'}.")
        rr = cp["robustness_ratio"]
        rrs = "n/a" if rr is None else ("inf" if rr == math.inf else f"{rr:.1f}x")
        findings.append(
            f"{cp['label']}: worst run {treatment} {t.worst:.2f} vs {control} {c.worst:.2f}: robustness ratio {rrs}"
            + (f" ({cp['robustness_note']})." if cp["robustness_note"] and rr != math.inf else ".")
        )
        if cp["warning"]:
            findings.append(f"Warning ({cp['label']}): {cp['warning']}.")
    for s in suffers:
        findings.append(s["statement"])
    for ct in contributions:
        share = "n/a" if ct["share_of_gap_pct"] is None else f"{ct['share_of_gap_pct']:.1f}%"
        findings.append(
            f"{ct['component']} contributes {ct['gap_pct_points']:+.1f} percentage points of the "
            f"{ct['gap_pct_baseline']:.1f}% gap ({share} of it), {pct_ci} {_fmt_ci(ct['gap_pct_points_ci95'], '+.1f')}."
        )
    if interaction is not None:
        findings.extend(interaction.pop("_statements"))
    findings.extend(f"Skipped: {s}." for s in skipped)

    for cp in comparisons.values():
        del cp["_reps"]
    return {
        "cells": [cells[(cfg, m)].doc for cfg in present for m in methods if (cfg, m) in cells],
        "comparisons": list(comparisons.values()),
        "removals": removals,
        "cv_suffers_more": suffers,
        "contributions": contributions,
        "interaction": interaction,
        "findings": findings,
        "skipped": skipped,
        "meta": {
            "components": components,
            "treatment": treatment,
            "control": control,
            "n_boot": int(n_boot),
            "seed": int(seed),
            "alpha": float(alpha),
            "ci_level": 1 - float(alpha),
            "power": float(power),
            "min_n": int(min_n),
            "unit": unit,
            "score_range": None if score_range is None else [lo, hi],
            "n_samples": len(seen),
        },
    }


def _product(k: int) -> list[tuple[bool, ...]]:
    return [tuple(bool((i >> (k - 1 - j)) & 1) for j in range(k)) for i in range(2**k)]


def _interaction(components, cells, comparisons, treatment, control, alpha, min_n, pct_ci):
    a, b = components
    corners = {"both": (True, True), "only_a": (True, False), "only_b": (False, True), "neither": (False, False)}
    names = {k: config_label(dict(zip(components, v))) for k, v in corners.items()}
    out: dict[str, Any] = {
        "components": [a, b],
        "definition": f"(both on - only {a} on) - (only {b} on - neither)",
        "meaning": ("synergistic: the combination is better than the sum of the separate effects "
                    "(gap: value > 0; CV: value < 0); antagonistic: worse; additive: the CI covers 0"),
        "gap": None,
        "cv": {},
        "notes": [],
    }
    statements = []

    def dod(v):
        return (v["both"] - v["only_a"]) - (v["only_b"] - v["neither"])

    def verdict(ci, higher_is_better):
        if ci is None:
            return "undetermined"
        if ci[0] <= 0 <= ci[1]:
            return "additive"
        better = ci[0] > 0 if higher_is_better else ci[1] < 0
        return "synergistic" if better else "antagonistic"

    def small(cs):
        n = min(c.n for c in cs)
        return f"n = {n} < {min_n} in some cell: too few samples to support the verdict" if n < min_n else None

    cps = {k: comparisons.get(v) for k, v in corners.items()}
    if all(cps.values()):
        val = dod({k: cp["gap"] for k, cp in cps.items()})
        reps = {k: cp["_reps"][0] for k, cp in cps.items()}
        ci = _ci(dod(reps), alpha) if all(r is not None for r in reps.values()) else None
        v = verdict(ci, True)
        cs = [cells[(corners[k], m)] for k in corners for m in (treatment, control)]
        out["gap"] = {"value": val, "ci95": ci, "verdict": v, "warning": small(cs)}
        statements.append(
            f"Interaction of {a} and {b} on the gap: {val:+.2f}, {pct_ci} {_fmt_ci(ci)}: {v}"
            + {"synergistic": " (the gap with both on is larger than their separate effects predict).",
               "antagonistic": " (the gap with both on is smaller than their separate effects predict).",
               "additive": " (no evidence of interaction: their effects add up).",
               "undetermined": " (no CI: too few samples or no bootstrap)."}[v]
        )
    else:
        miss = [names[k] for k, cp in cps.items() if cp is None]
        out["notes"].append(f"gap interaction not computed: no {treatment}/{control} comparison in {'; '.join(repr(x) for x in miss)}")
    for m in (treatment, control):
        cs = {k: cells.get((v, m)) for k, v in corners.items()}
        if not all(cs.values()):
            miss = [names[k] for k, c in cs.items() if c is None]
            out["notes"].append(f"{m} CV interaction not computed: no samples in {'; '.join(repr(x) for x in miss)}")
            out["cv"][m] = None
            continue
        if any(c.cv is None for c in cs.values()):
            out["notes"].append(f"{m} CV interaction not computed: CV undefined in some cell")
            out["cv"][m] = None
            continue
        val = dod({k: c.cv for k, c in cs.items()})
        reps = {k: c.cvs for k, c in cs.items()}
        ci = _ci(dod(reps), alpha) if all(r is not None for r in reps.values()) else None
        v = verdict(ci, False)
        out["cv"][m] = {"value": val, "ci95": ci, "verdict": v, "warning": small(cs.values())}
        statements.append(
            f"Interaction of {a} and {b} on {m}'s CV: {val:+.3f}, {pct_ci} {_fmt_ci(ci, '+.3f')}: {v}"
            + {"synergistic": " (the CV with both on is lower than their separate effects predict).",
               "antagonistic": " (the CV with both on is higher than their separate effects predict).",
               "additive": " (no evidence of interaction: their effects add up).",
               "undetermined": " (no CI: too few samples or no bootstrap)."}[v]
        )
    for note in out["notes"]:
        statements.append(f"Interaction: {note}.")
    out["_statements"] = statements
    return out
