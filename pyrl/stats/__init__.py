"""Statistics of an ablation: treatment (Hogwild A3C) vs control (independent workers).

Pure numpy/scipy (no torch), so ``pyrl report`` and ``--scores FILE.csv`` stay light.

Modules: ``estimators`` (summaries, the cluster bootstrap, Welch's test, power, Wilson
intervals: nothing about ablations), ``samples`` (Sample, factors, labels, the scores CSV),
``cells`` (one configuration x method: learners, divergence policy, summary), ``analysis``
(``analyze``: the study's tables), ``convergence`` and ``speed`` (steps to threshold and
normalised AUC from learning curves), ``findings`` and ``answers`` (their words: the key
findings, and the short plain answer the report opens with).

Units. A sample is one worker of one run (seed): its score is the mean return of its last
training episodes. The point estimates keep the study's definitions, over workers. The
*run* is the unit of inference: the workers of an A3C run act with one shared model, so
their scores are correlated, and every interval, test, probability of improvement and
seeds-needed resamples or compares runs, keeping each run's workers together.
``analyze(..., unit="seed")`` averages each run's workers first for the point estimates too.

Definitions (T = treatment, C = control; a cell = one configuration x method; x its pooled
worker scores, n = len(x); its runs r = 1..k with run means m_r):

per cell
    n, n_runs          scores (workers) and runs analysed; n_seeds = n_runs; workers_per_run
    mean, std          sample mean of x; sample standard deviation with ddof=1 (None when n < 2)
    cv                 std / mean; None (with ``cv_note``) when any score is negative, when
                       mean <= CV_EPS * std (zero or near zero relative to the spread), or n < 2
    worst, best        min(x), max(x)
    median             the median
    iqm                interquartile mean, as rliable: scipy.stats.trim_mean(x, 0.25)
    cvar10             lower CVaR: mean of the k = max(1, n // 10) smallest scores
    mean_ci95, cv_ci95 cluster bootstrap CI (level 1 - alpha, 95% by default) of the mean and CV
    n_learners, n_diverged, n_diverged_runs, divergence_rate, divergence_rate_ci95 (Wilson):
                       learners are runs for a shared method (A3C), workers otherwise
    n_failed, failed_seeds  failed runs (crashed, killed): listed, not analysed
    n_excluded         diverged worker scores left out (only with diverged="exclude")

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
    welch_p                  two-sided Welch t-test on the run means (scipy, equal_var=False).
                             Welch, not a permutation test: the two methods' run means have
                             different variances (shared vs independent models), and a
                             permutation test assumes they are exchangeable under the null
    gap_ci95, gap_pct_ci95   cluster bootstrap CI of the gap (T and C cells resampled independently)
    cv_diff, cv_diff_ci95    cv_T - cv_C and its cluster bootstrap CI
    prob_improvement         P(M_T > M_C) + 0.5 P(M_T = M_C) over run means = U_T / (k_T k_C)
    seeds_needed             runs per method for a two-sided Welch test at level alpha to detect
                             |gap| with the given power (0.8), the stds of the run means taken as
                             the true ones (Colas et al. 2018); noncentral t, smallest n found by
                             doubling then bisection. None when gap = 0 or it exceeds 10**6
    n_runs_*, n_diverged_*, n_learners_*, n_failed_*   the two cells' counts
    warning                  plain-English reasons not to trust a claim, or None: fewer than min_n
                             runs, p >= alpha, a CI of the gap or of the CV difference covering 0,
                             seeds_needed > runs

per factor level l (the others at baseline) and method ("removals"; for an on/off component,
l = off: its removal)
    X_change      X(level l) - X(baseline)  for X in mean, std, cv, worst
    X_change_pct  100 X_change / |X(baseline)|  (None when the baseline value is 0)
    mean_change_ci95, cv_change_ci95, mean_change_p (Welch on run means)
    cv_suffers_more  (separate top-level list) the method whose cv_change_pct is larger
                     (its CV rises more); ``ratio_t_over_c`` = cv_change_pct_T / cv_change_pct_C;
                     ``factor`` = larger / smaller when both CVs rise, else None

per factor level l, contribution to the gap
    gap_pct_points    gap_pct(baseline) - gap_pct(level l)
    share_of_gap_pct  100 gap_pct_points / gap_pct(baseline); None (with ``share_note``) when
                      the CI of the baseline gap covers 0: a share of a gap that may be 0 can
                      take any size and sign (+1182.7% of a gap near 0 says nothing)

interaction of two factors A, B at non-baseline levels a, b (the others at baseline)
    value = (baseline - only B at b) - (only A at a - both changed); for two on/off components
          = (both on - only A on) - (only B on - neither)
          = joint effect of the two changes - the sum of their separate effects,
    of the gap and of each method's CV, with a cluster bootstrap CI. Verdict: "synergistic" /
    "antagonistic" when the CI excludes 0 (gap: value > 0 is better than additive; CV: value
    < 0 is); when it covers 0, "additive" only if the CI is narrow compared with the effects:
    inside +-margin, margin = half the larger main effect (|effect of A| and |effect of B|,
    each averaged over the other factor's two levels); otherwise "no evidence of
    interaction". ``interactions`` lists every pair; ``interaction`` is the study's one, when
    there are exactly two two-level factors.

Bootstrap (``estimators``): a cluster bootstrap over runs with Hesterberg's expanded percentile
interval, n_boot resamples; for a statistic of several cells the expansion uses the smallest
cell's number of runs. Each cell's resampling stream is ``numpy.random.default_rng([seed,
crc32(cell key)])``, so a cell's CI does not depend on which other cells are present, and every
derived CI (gap, CV difference, changes, contributions, interaction) is computed from the same
per-cell replicates (cells are independent samples). Runs are put in seed order and workers in
worker order first, so results do not depend on input order. Replicates whose statistic is
undefined (e.g. a resample of all zeros has no CV) are dropped; if more than 1% are, the CI is
None.

Diverged learners enter by a policy (``cells``: floor by default, last, exclude).

Convergence speed (``convergence``; with learning curves only): per cell the median over runs
of the steps to a threshold (a run that never reaches it counts as +inf; ``never_reached``
with a Wilson CI) and the mean normalised AUC, with bootstrap CIs over runs; their
differences in ``comparisons`` (``*_diff``) and ``removals`` (``*_change``).

JSON: ``analyze`` returns plain python (dict, list, str, int, float, bool, None); undefined
values are None, never NaN; the only non-finite float is ``math.inf`` (robustness ratio),
which the CLI writes as "inf".
"""
from __future__ import annotations

from pyrl.stats.analysis import analyze
from pyrl.stats.cells import POLICIES
from pyrl.stats.convergence import RunCurve, WorkerCurve
from pyrl.stats.estimators import (
    CV_EPS,
    bootstrap_ci,
    cvar,
    expanded_alpha,
    iqm,
    prob_improvement,
    welch_p,
    welch_power,
    welch_seeds_needed,
    wilson_ci,
)
from pyrl.stats.samples import Sample, ScoresError, config_label, load_scores_csv, normalize_factors

__all__ = [
    "CV_EPS",
    "POLICIES",
    "RunCurve",
    "Sample",
    "ScoresError",
    "analyze",
    "bootstrap_ci",
    "config_label",
    "cvar",
    "expanded_alpha",
    "iqm",
    "load_scores_csv",
    "normalize_factors",
    "prob_improvement",
    "welch_p",
    "welch_power",
    "welch_seeds_needed",
    "wilson_ci",
    "WorkerCurve",
]
