"""Primitive estimators: summaries, the cluster bootstrap, tests, power, proportions.

Nothing here knows about ablations; ``pyrl.stats.analysis`` composes these.

Runs are the independent unit. A *cluster* is one run: the scores of its workers. The
cluster bootstrap resamples a cell's runs with replacement and keeps each run's workers
together; it does not resample workers within a run. The between-run spread of run means
already contains the within-run variance, so a second stage would count it twice and widen
the intervals (Davison & Hinkley 1997, section 3.8). Each replicate computes the statistic on
the pooled workers of the resampled runs, the same quantity as the point estimate.

With about ten runs per cell a plain percentile interval is too narrow (its spread carries
a factor sqrt((n-1)/n), and it uses normal rather than t tails). ``expanded_alpha`` gives
Hesterberg's expanded percentile interval (Hesterberg 2015, "What teachers should know about
the bootstrap"): the percentiles are taken at alpha'/2 = Phi(-sqrt(n/(n-1)) t_{alpha/2, n-1})
and 1 - alpha'/2, n the number of runs (for a statistic of several cells: the smallest n).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
from scipy import special as _sp

CV_EPS = 1e-9
"""CV is refused when mean <= CV_EPS * std (a mean that is zero relative to the spread)."""

MAX_SEEDS = 10**6


# --------------------------------------------------------------------------- summaries


def iqm(x: Sequence[float]) -> float:
    """Interquartile mean (rliable), as scipy.stats.trim_mean(x, 0.25): drops int(0.25 n)
    scores at each end of the sorted scores and averages the rest."""
    a = np.sort(np.asarray(x, dtype=float))
    cut = int(0.25 * len(a))
    return float(a[cut:len(a) - cut].mean())


def cvar(x: Sequence[float], frac: float = 0.1) -> float:
    """Lower CVaR: mean of the k smallest scores, k = max(1, floor(frac n)) (computed in
    integers for frac = 0.1: n // 10)."""
    a = np.sort(np.asarray(x, dtype=float))
    k = max(1, len(a) // 10) if frac == 0.1 else max(1, int(math.floor(frac * len(a) + 1e-12)))
    return float(a[:k].mean())


def cv_refusal(x: np.ndarray) -> str | None:
    """Why CV = std / mean is not reported for x, or None when it is."""
    if len(x) < 2:
        return "n < 2: no standard deviation, so no CV"
    if (x < 0).any():
        return ("scores include negative values; CV = std/mean is only meaningful for "
                "non-negative scores (normalise with score_range)")
    if x.mean() <= CV_EPS * x.std(ddof=1) or x.mean() == 0:
        return "mean is zero or near zero relative to the spread: CV undefined"
    return None


def prob_improvement(xt: Sequence[float], xc: Sequence[float]) -> float:
    """P(X_T > X_C) with ties counting half = Mann-Whitney U_T / (n_T n_C), counted exactly:
    for each x_T, the x_C below it plus half those equal to it."""
    xt, xc = np.asarray(xt, dtype=float), np.sort(np.asarray(xc, dtype=float))
    below = np.searchsorted(xc, xt, side="left")
    at_or_below = np.searchsorted(xc, xt, side="right")
    return float((below.sum() + 0.5 * (at_or_below - below).sum()) / (len(xt) * len(xc)))


def wilson_ci(k: int, n: int, alpha: float = 0.05) -> list[float] | None:
    """Wilson score interval for a proportion k / n (level 1 - alpha); None when n = 0."""
    if n <= 0:
        return None
    z = float(_sp.ndtri(1 - alpha / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exactly 0 and 1 at the edges, where
    hi = 1.0 if k == n else min(1.0, centre + half)  # rounding would leave 1e-17 off
    return [lo, hi]


# --------------------------------------------------------------------------- cluster bootstrap


def cluster_replicates(runs: Sequence[np.ndarray], rng: np.random.Generator, n_boot: int,
                       want_cv: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Bootstrap replicates of the pooled mean (and CV) of ``runs`` (one array of worker
    scores per run): each replicate draws len(runs) runs with replacement and pools their
    workers. Returns (means, cvs); cvs is NaN where the CV of a replicate is undefined."""
    sizes = np.array([len(r) for r in runs], dtype=float)
    shift = float(np.concatenate(runs).mean())  # centred sums keep the variance accurate
    s1 = np.array([(r - shift).sum() for r in runs])
    s2 = np.array([((r - shift) ** 2).sum() for r in runs])
    k = len(runs)
    chunk = max(1, 2_000_000 // k)
    means = np.empty(n_boot)
    cvs = np.empty(n_boot) if want_cv else None
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, k, size=(stop - start, k))
        n, a, b = sizes[idx].sum(1), s1[idx].sum(1), s2[idx].sum(1)
        means[start:stop] = shift + a / n
        if want_cv:
            with np.errstate(divide="ignore", invalid="ignore"):
                sd = np.sqrt(np.maximum(b - a * a / n, 0.0) / (n - 1))
                m = means[start:stop]
                cvs[start:stop] = np.where((n >= 2) & (m > CV_EPS * sd) & (m != 0), sd / m, np.nan)
    return means, cvs


@functools.lru_cache(maxsize=256)
def expanded_alpha(alpha: float, n: int) -> float:
    """Hesterberg's expanded percentile level: 2 Phi(-sqrt(n/(n-1)) t_{alpha/2, n-1});
    the interval takes the percentiles at half of it and at one minus half of it."""
    t = _sp.stdtrit(n - 1, 1 - alpha / 2)
    return float(2 * _sp.ndtr(-math.sqrt(n / (n - 1)) * t))


def percentile_ci(reps: np.ndarray | None, alpha: float, n: int) -> list[float] | None:
    """Expanded percentile interval of bootstrap replicates, n the number of runs behind
    them (the smallest, for a statistic of several cells). None without replicates, with
    n < 2, or when more than 1% of the replicates are undefined (NaN)."""
    if reps is None or n < 2:
        return None
    ok = np.isfinite(reps)
    if not ok.any() or ok.sum() < 0.99 * len(reps):
        return None
    a = expanded_alpha(alpha, n)
    lo, hi = np.percentile(reps[ok], [100 * a / 2, 100 * (1 - a / 2)])
    return [float(lo), float(hi)]


def bootstrap_ci(
    x: Sequence[float], stat: str = "mean", n_boot: int = 10000, seed: int = 0, alpha: float = 0.05,
    runs: Sequence[int] | None = None,
) -> list[float] | None:
    """Bootstrap CI (level 1 - alpha) of the mean or CV of one sample, resampling with
    ``numpy.random.default_rng(seed)``: a cluster bootstrap over ``runs`` (the run id of
    each score; default: every score its own run) with the expanded percentile interval.
    None when there are fewer than 2 runs, n_boot = 0, or (for the CV) when the CV is
    refused (negative scores, zero mean)."""
    if stat not in ("mean", "cv"):
        raise ValueError(f"stat must be 'mean' or 'cv', got {stat!r}")
    a = np.asarray(x, dtype=float)
    ids = np.arange(len(a)) if runs is None else np.asarray(runs)
    clusters = [a[ids == r] for r in dict.fromkeys(ids.tolist())]
    if len(clusters) < 2 or n_boot <= 0 or (stat == "cv" and cv_refusal(a)):
        return None
    means, cvs = cluster_replicates(clusters, np.random.default_rng(seed), n_boot, stat == "cv")
    return percentile_ci(cvs if stat == "cv" else means, alpha, len(clusters))


# --------------------------------------------------------------------------- tests and power


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p-value, as scipy.stats.ttest_ind(a, b, equal_var=False):
    t = (mean_a - mean_b) / sqrt(v_a/n_a + v_b/n_b), Welch-Satterthwaite df. None with fewer
    than 2 values on a side or when both samples are constant and equal; 0 when both are
    constant and differ (as scipy)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    if va + vb == 0:
        return None if diff == 0 else 0.0
    t = diff / math.sqrt(va + vb)
    fa, fb = va / (va + vb), vb / (va + vb)  # shares: squares of tiny variances would underflow
    df = 1.0 / (fa * fa / (len(a) - 1) + fb * fb / (len(b) - 1))
    return float(2 * _sp.stdtr(df, -abs(t)))


def welch_power(gap: float, std_t: float, std_c: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided Welch t-test with n samples per group when the true difference
    is ``gap`` and the true stds are std_t, std_c: noncentral t with
    nc = |gap| / sqrt((s_T^2 + s_C^2) / n) and Welch-Satterthwaite
    df = (n - 1)(s_T^2 + s_C^2)^2 / (s_T^4 + s_C^4)."""
    v = std_t**2 + std_c**2
    if v == 0:
        return 1.0 if gap != 0 else alpha
    nc = abs(gap) / math.sqrt(v / n)
    a, b = std_t / max(std_t, std_c), std_c / max(std_t, std_c)  # scaled: s**4 may underflow
    df = (n - 1) * (a * a + b * b) ** 2 / (a**4 + b**4)
    tc = _sp.stdtrit(df, 1 - alpha / 2)  # = scipy.stats.t.ppf, without its overhead
    # P(T > tc) + P(T < -tc) for T ~ noncentral t(df, nc); P(T > tc) = P(-T < -tc), -T ~ nct(df, -nc)
    return float(_sp.nctdtr(df, -nc, -tc) + _sp.nctdtr(df, nc, -tc))


def welch_seeds_needed(
    gap: float, std_t: float, std_c: float, alpha: float = 0.05, power: float = 0.8,
    max_n: int = MAX_SEEDS,
) -> int | None:
    """Smallest n >= 2 per group with welch_power(gap, std_t, std_c, n, alpha) >= power
    (Colas et al. 2018). None when gap = 0 (nothing to detect) or n would exceed max_n.
    Given the stds of run means, n counts runs."""
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
