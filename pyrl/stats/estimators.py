"""Primitive estimators: summaries, interval estimates with their tests, power, proportions.

Nothing here knows about ablations; ``pyrl.stats.analysis`` composes these.

Runs are the independent unit. Every interval here is a closed form over runs, chosen by the
coverage it measured at 3, 5 and 10 runs (``pyrl.benchmarks.claims``; bench/README.md), and
none depends on resampling (the same data always give the same interval):

- a mean, and any linear contrast of independent cells' means (gap, change, interaction):
  Student's t on run means, Welch-Satterthwaite degrees of freedom for a contrast;
- a statistic of pooled workers that is not a mean (the CV): the cluster jackknife over runs
  (leave one run out), bias-corrected, with t on k - 1 degrees of freedom; on the log scale
  for ratios (the CV), so that "1.5x lower" and "1.5x higher" are symmetric;
- the interquartile mean of run means: Yuen's trimmed-mean interval (25% trimming);
- the median of run means: order statistics (distribution-free; none below 5 runs);
- the probability of improvement: Newcombe's (2006) method 5, a score interval that stays
  inside [0, 1] and is not degenerate when every run of one method beats every run of the
  other;
- a proportion: Wilson's interval.

The percentile bootstrap these replaced reduces at 3 runs to the smallest and largest
replicate (a 95% label on a min..max interval: coverage 53-75%).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import special as _sp

CV_EPS = 1e-9
"""CV is refused when mean <= CV_EPS * std (a mean that is zero relative to the spread)."""

MAX_SEEDS = 10**6
MIN_RUNS_JACKKNIFE = 3   # the CV's interval: measured coverage >= 90% from 3 runs per cell
MIN_RUNS_MEDIAN = 5      # the median's order-statistic interval: 93.75% at 5 runs, less below
MIN_RUNS_PI = 5          # P(T > C): at 3 runs per method complete separation alone caps coverage near 90%


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


def iqr(x: Sequence[float]) -> float:
    """Interquartile range (numpy's linear interpolation): Chan et al.'s dispersion."""
    q1, q3 = np.percentile(np.asarray(x, dtype=float), [25, 75])
    return float(q3 - q1)


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


# --------------------------------------------------------------------------- t estimates


@functools.lru_cache(maxsize=4096)
def t_quantile(df: float, level: float) -> float:
    """The two-sided t critical value: P(|T_df| <= q) = level (normal when df is infinite)."""
    p = 1 - (1 - level) / 2
    return float(_sp.ndtri(p)) if math.isinf(df) else float(_sp.stdtrit(df, p))


@dataclass(frozen=True)
class Estimate:
    """An estimate with a t reference: ``value`` (the point estimate as defined), its standard
    error ``se`` on ``df`` degrees of freedom, and ``bias`` (a jackknife bias estimate; 0 for
    means). Intervals and tests are centred on value - bias; on the log scale for ratios."""

    value: float
    se: float
    df: float
    bias: float = 0.0

    @property
    def centre(self) -> float:
        return self.value - self.bias

    def ci(self, level: float = 0.95) -> list[float]:
        h = t_quantile(self.df, level) * self.se
        return [self.centre - h, self.centre + h]

    def p(self, null: float = 0.0) -> float | None:
        """Two-sided p of H0: the estimand = null. With se = 0: 0 when the centre differs
        from null (as scipy for two different constants), None when it equals it."""
        d = self.centre - null
        if self.se == 0:
            return None if d == 0 else 0.0
        z = abs(d) / self.se
        return float(2 * (_sp.ndtr(-z) if math.isinf(self.df) else _sp.stdtr(self.df, -z)))


ROUNDING = 1e-12
"""Relative size below which a spread or a difference is rounding, not data (identical runs)."""


def mean_estimate(run_means: np.ndarray) -> Estimate | None:
    """The mean of run means with Student's t (k - 1 df); None with fewer than 2 runs. Runs
    that differ only by rounding have se 0."""
    k = len(run_means)
    if k < 2:
        return None
    m, sd = float(run_means.mean()), float(run_means.std(ddof=1))
    if not (math.isfinite(m) and math.isfinite(sd)):  # scores near the float limit overflow
        return None
    return Estimate(m, 0.0 if sd <= ROUNDING * abs(m) else sd / math.sqrt(k), k - 1)


def combine(terms: Sequence[tuple[float, Estimate | None]]) -> Estimate | None:
    """sum c_i e_i of independent estimates (independent cells), Welch-Satterthwaite df:
    se^2 = sum c_i^2 se_i^2, df = se^4 / sum (c_i^2 se_i^2)^2 / df_i. None if any term is."""
    if any(e is None for _, e in terms):
        return None
    v = [c * c * e.se * e.se for c, e in terms]
    var = sum(v)
    den = sum(vi * vi / e.df for vi, (_, e) in zip(v, terms) if vi > 0 and not math.isinf(e.df))
    df = (var * var / den) if den > 0 else math.inf
    value, bias = sum(c * e.value for c, e in terms), sum(c * e.bias for c, e in terms)
    scale = sum(abs(c * e.value) for c, e in terms)
    if abs(value - bias) <= ROUNDING * scale:  # equal cells: no difference, not a 1e-17 one
        value, bias = 0.0, 0.0
    return Estimate(value, math.sqrt(var), df, bias)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p-value, as scipy.stats.ttest_ind(a, b, equal_var=False). None
    with fewer than 2 values on a side or when both samples are constant and equal; 0 when
    both are constant and differ (as scipy)."""
    e = combine([(1.0, mean_estimate(np.asarray(a, dtype=float))), (-1.0, mean_estimate(np.asarray(b, dtype=float)))])
    return None if e is None else e.p()


# --------------------------------------------------------------------------- the cluster jackknife


def _pooled_sums(runs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per run: worker count, centred sum and centred sum of squares (centred at the pooled
    mean, so that variances by subtraction stay accurate); and the centre."""
    shift = float(np.concatenate(runs).mean())
    n = np.array([len(r) for r in runs], dtype=float)
    s1 = np.array([(r - shift).sum() for r in runs])
    s2 = np.array([((r - shift) ** 2).sum() for r in runs])
    return n, s1, s2, shift


def _cv_of_sums(n, s1, s2, shift):
    """CV = sd / mean of the pooled workers from sums (arrays: one value per subset); NaN
    where it is undefined (fewer than 2 workers, a mean <= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = shift + s1 / n
        sd = np.sqrt(np.maximum(s2 - s1 * s1 / n, 0.0) / (n - 1))
        return np.where((n >= 2) & (mean > CV_EPS * sd) & (mean > 0), sd / mean, np.nan)


def cv_jackknife(runs: Sequence[np.ndarray]) -> tuple[Estimate | None, Estimate | None]:
    """The pooled workers' CV (sd / mean, ddof 1) with its cluster jackknife over runs, on the
    log scale and on the plain scale, from one pass: leave each run out, recompute; se^2 =
    (k-1)/k sum (theta_(j) - mean)^2, bias = (k-1)(mean of theta_(j) - theta), df = k - 1.
    (None, None) with fewer than MIN_RUNS_JACKKNIFE runs or when a leave-one-out CV is
    undefined."""
    k = len(runs)
    if k < MIN_RUNS_JACKKNIFE:
        return None, None
    n, s1, s2, shift = _pooled_sums(runs)
    full = _cv_of_sums(np.array([n.sum()]), np.array([s1.sum()]), np.array([s2.sum()]), shift)[0]
    loo = _cv_of_sums(n.sum() - n, s1.sum() - s1, s2.sum() - s2, shift)
    if not (np.isfinite(full) and np.isfinite(loo).all()) or full <= 0 or (loo <= 0).any():
        return None, None

    def jackknife(theta: float, th: np.ndarray) -> Estimate:
        se = math.sqrt((k - 1) / k * float(((th - th.mean()) ** 2).sum()))
        return Estimate(theta, se, k - 1, (k - 1) * float(th.mean() - theta))

    return jackknife(math.log(full), np.log(loo)), jackknife(float(full), loo)


# --------------------------------------------------------------------------- the cluster bootstrap


MIN_RUNS_BOOTSTRAP = 10  # the IQR's bootstrap interval: measured coverage 86-89% at 5 runs (bench/README.md)
N_BOOT = 2000


def _rowwise(a: np.ndarray, stat: str) -> np.ndarray:
    """``stat`` of each row of a [rows, n] array: "iqr" (as ``iqr``) or "cvar10" (as ``cvar``)."""
    if stat == "iqr":
        return np.percentile(a, 75, axis=1) - np.percentile(a, 25, axis=1)
    if stat == "cvar10":
        return np.sort(a, axis=1)[:, :max(1, a.shape[1] // 10)].mean(axis=1)
    raise ValueError(f"unknown statistic {stat!r}")


def cluster_bootstrap_ci(runs: Sequence[np.ndarray], stat: str, level: float = 0.95, n_boot: int = N_BOOT,
                         seed: int = 0) -> list[float] | None:
    """Percentile interval of ``stat`` ("iqr" or "cvar10" of the pooled values) from resampling
    whole runs with replacement (a run's values stay together: its learners are one draw of
    the run's seed). For statistics with no closed form here (the IQR and CVaR of trained
    models). The stream is fixed (``seed``), so the same data give the same interval. None
    below MIN_RUNS_BOOTSTRAP runs."""
    k = len(runs)
    if k < MIN_RUNS_BOOTSTRAP:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(n_boot, k))  # [n_boot, k] run indices
    if len({len(r) for r in runs}) == 1:  # equal runs (the usual case): every replicate in one array op
        vals = _rowwise(np.stack(runs)[picks].reshape(n_boot, -1), stat)  # [n_boot, k x values per run]
    else:
        vals = np.array([_rowwise(np.concatenate([runs[j] for j in row])[None], stat)[0] for row in picks])
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def intra_run_correlation(groups: Sequence[Sequence[np.ndarray]]) -> tuple[float | None, int]:
    """The intra-class correlation ICC(1) of worker scores within runs, from the one-way
    analysis of variance pooled over groups (cells: each a list of runs' worker scores; runs
    with fewer than 2 workers carry no within-run information and are skipped):
    (MSB - MSW) / (MSB + (k0 - 1) MSW), k0 the ANOVA's average run size. Near 1: a run's
    workers score alike (they act with one model); near 0: as unrelated as different runs'.
    Returns (icc or None when not estimable, runs used)."""
    ssb = ssw = dfb = dfw = k0w = 0.0
    used = 0
    for runs in groups:
        runs = [np.asarray(r, dtype=float) for r in runs if len(r) >= 2]
        if len(runs) < 2:
            continue
        n = np.array([len(r) for r in runs], dtype=float)
        grand = float(np.concatenate(runs).mean())
        ssb += float((n * (np.array([r.mean() for r in runs]) - grand) ** 2).sum())
        ssw += float(sum(((r - r.mean()) ** 2).sum() for r in runs))
        a, total = len(runs), n.sum()
        dfb += a - 1
        dfw += total - a
        k0w += (a - 1) * (total - (n * n).sum() / total) / (a - 1)
        used += a
    if dfb == 0 or dfw == 0:
        return None, used
    msb, msw, k0 = ssb / dfb, ssw / dfw, k0w / dfb
    if msb + (k0 - 1) * msw <= 0:
        return None, used
    return float((msb - msw) / (msb + (k0 - 1) * msw)), used


# --------------------------------------------------------------------------- IQM, median, P(T > C)


def iqm_ci(x: Sequence[float], alpha: float = 0.05) -> list[float] | None:
    """Yuen's interval for the 25%-trimmed mean (the IQM) of x (one value per run): g =
    int(0.25 n) trimmed at each end, h = n - 2g kept, se^2 = (n - 1) s_w^2 / (h (h - 1)) with
    s_w^2 the winsorised variance, t on h - 1 df (as scipy's trimmed t-test). None when h < 2."""
    a = np.sort(np.asarray(x, dtype=float))
    n = len(a)
    g = int(0.25 * n)
    h = n - 2 * g
    if h < 2:
        return None
    w = a.copy()
    w[:g], w[n - g:] = a[g], a[n - g - 1]
    se = math.sqrt((n - 1) * w.var(ddof=1) / (h * (h - 1)))
    m = float(a[g:n - g].mean())
    q = t_quantile(h - 1, 1 - alpha)
    return [m - q * se, m + q * se]


def median_ci(x: Sequence[float], alpha: float = 0.05) -> tuple[list[float], float] | None:
    """Distribution-free interval for the median of x (one value per run; +inf allowed): the
    order statistics x_(j), x_(n+1-j) with the largest j whose exact coverage
    1 - 2 P(Bin(n, 1/2) < j) is >= 1 - alpha, or j = 1 (the range) when none is; returns
    (interval, its exact coverage). None below MIN_RUNS_MEDIAN values."""
    a = np.sort(np.asarray(x, dtype=float))
    n = len(a)
    if n < MIN_RUNS_MEDIAN:
        return None
    cover = lambda j: 1 - 2 * float(_sp.bdtr(j - 1, n, 0.5))  # noqa: E731  P(x_(j) <= med <= x_(n+1-j))
    j = 1
    while j + 1 <= n // 2 and cover(j + 1) >= 1 - alpha:
        j += 1
    return [float(a[j - 1]), float(a[n - j])], cover(j)


def prob_improvement_ci(theta: float, m: int, n: int, alpha: float = 0.05) -> list[float] | None:
    """Newcombe's (2006) method 5 for P(X_T > X_C) from m and n runs: the thetas with
    (theta_hat - theta)^2 <= z^2 V(theta), V the Hanley-McNeil variance written in theta,
    V = theta (1 - theta) / (m n) [1 + (N - 1)((1 - theta)/(2 - theta) + theta/(1 + theta))],
    N = (m + n) / 2. None with fewer than MIN_RUNS_PI runs on a side: at 3 runs per method the
    20 orderings include 2 of complete separation, where any such interval excludes 0.5, and
    the measured coverage was 89.5%."""
    if m < MIN_RUNS_PI or n < MIN_RUNS_PI:
        return None
    z2 = float(_sp.ndtri(1 - alpha / 2)) ** 2
    big_n = (m + n) / 2

    def gap(th: float) -> float:  # < 0 inside the interval
        v = th * (1 - th) / (m * n) * (1 + (big_n - 1) * ((1 - th) / (2 - th) + th / (1 + th)))
        return (theta - th) ** 2 - z2 * v

    mid = min(max(theta, 1e-12), 1 - 1e-12)
    return [0.0 if gap(0.0) <= 0 else _bisect(gap, 0.0, mid), 1.0 if gap(1.0) <= 0 else _bisect(gap, mid, 1.0)]


def _bisect(f, lo: float, hi: float, tol: float = 1e-10) -> float:
    """The root of f between lo and hi (f changes sign there)."""
    flo = f(lo)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


# --------------------------------------------------------------------------- ratios of means


def ratio_ci(num: Estimate, den: Estimate, level: float = 0.95, near: float = 0.5
             ) -> tuple[list[float] | None, str | None]:
    """Fieller's interval for num / den (independent estimates; t on the smaller df), or None
    with the reason when den's interval comes near 0: its half-width is at least ``near``
    times |den| (g = (t se_den / den)^2 >= near^2), where the ratio can take any size."""
    df = min(num.df, den.df)
    q = t_quantile(df, level)
    a, b = num.centre, den.centre
    if b == 0 or (q * den.se / abs(b)) >= near:
        return None, (f"the {100 * level:g}% CI of the denominator ({b:.4g}) reaches {1 - near:.0%} of its "
                      f"value or beyond, towards 0, where a ratio to it can take any size")
    g = (q * den.se / b) ** 2
    r = a / b
    half = q / abs(b) * math.sqrt(num.se ** 2 + r * r * den.se ** 2 - g * num.se ** 2)
    return [(r - half) / (1 - g), (r + half) / (1 - g)], None


# --------------------------------------------------------------------------- power


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
    # P(T > tc) + P(T < -tc) for T ~ noncentral t(df, nc); P(T > tc) = P(-T < -tc), -T ~ nct(df, -nc).
    # scipy returns NaN for a far tail (large nc, small df) instead of its ~0 (or ~1)
    upper, lower = _sp.nctdtr(df, -nc, -tc), _sp.nctdtr(df, nc, -tc)
    upper = 1.0 if math.isnan(upper) else upper
    lower = 0.0 if math.isnan(lower) else lower
    return float(min(1.0, upper + lower))


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


def welch_mde(std_t: float, std_c: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest |gap| that a two-sided Welch test with n runs per group detects with the
    given power (the stds of run means taken as the true ones): the design's minimum
    detectable effect. None when n < 2 or both stds are 0."""
    if n < 2 or std_t == 0 and std_c == 0:
        return None
    lo, hi = 0.0, math.sqrt(std_t**2 + std_c**2)
    while welch_power(hi, std_t, std_c, n, alpha) < power:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if welch_power(mid, std_t, std_c, n, alpha) >= power else (mid, hi)
    return hi


# --------------------------------------------------------------------------- a family of tests


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control under any dependence):
    p_adj(i) = max over j <= i of min(1, (m - j + 1) p_(j)), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
