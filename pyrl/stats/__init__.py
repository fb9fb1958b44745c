"""Statistics of an ablation: treatment (Hogwild A3C) vs control (independent workers).

Pure numpy/scipy (no torch), so ``pyrl report`` and ``--scores FILE.csv`` stay light.

Modules: ``estimators`` (summaries, closed-form intervals with their tests, power, Holm:
nothing about ablations), ``samples`` (Sample, factors, labels, the scores CSV), ``cells``
(one configuration x method: learners, divergence policy, summary, the factorial's
geometry), ``analysis`` (``analyze``: the study's tables), ``claims`` (every inferential
claim of the report, controlled as one family: the seam between the analysis and its
renderings), ``convergence`` and ``speed`` (steps to threshold and normalised AUC from
learning curves), ``findings`` and ``answers`` (their words: notes and warnings, and the
Answer the report opens with, rendered from the claims), ``aggregate`` and ``suite`` (a suite of
tasks: each task's analysis, and the answer across tasks from normalised scores with a bootstrap
stratified by task; every task's claims and those across tasks are then one family).

Units. A sample is one worker of one run (seed): its score is the mean return of its last
training episodes. The point estimates keep the study's definitions, over workers. The
*run* is the unit of inference: the workers of an A3C run act with one shared model, so
their scores are correlated, and every interval, test and probability of improvement uses
one value per run (its run mean), or for the CV leaves whole runs out (the cluster
jackknife). ``analyze(..., unit="seed")`` averages each run's workers first for the point
estimates too.

The family. A report weighs many claims at once (``answer.claims``; kinds in
``pyrl.stats.claims``): every tested claim belongs to one family whose family-wise error
rate Holm's procedure holds at alpha (5%), under any dependence between the claims. A claim
is shown only when its Holm-adjusted p < alpha and its interval at the matching level (1 -
alpha / (m - r + 1) for the r-th smallest p of m) excludes the null. The Answer, the
verdicts in the tables and the claims figure all render from this one list. Measured by
simulation (``pyrl bench stats``; bench/README.md): on fully null factorials at most 7% of
reports show any claim, and a factor's real effect of 1.5 run-level standard deviations is
shown in most studies at 10 runs.

Definitions (T = treatment, C = control; a cell = one configuration x method; x its pooled
worker scores, n = len(x); its runs r = 1..k with run means m_r):

per cell
    n, n_runs          scores (workers) and runs analysed; n_seeds = n_runs; workers_per_run
    run_means          m_r, one per analysed run (seed order): the unit of inference
    mean, std          sample mean of x; sample standard deviation with ddof=1 (None when n < 2)
    mean_ci95          Student's t on the run means (k - 1 df; None below 2 runs)
    cv                 std / mean; None (with ``cv_note``) when any score is negative, when
                       mean <= CV_EPS * std (zero or near zero relative to the spread), or n < 2
    cv_ci95            exp of the t interval of log CV from the cluster jackknife over runs
                       (leave one run out; bias-corrected; k - 1 df); None below 3 runs (with
                       ``cv_ci_note``)
    worst, best        min(x), max(x): descriptive (a sample minimum has no interval)
    median, iqm        of the run means (rliable: one score per run); median_ci95 by order
                       statistics (exact coverage ``median_ci_level``; None below 5 runs),
                       iqm_ci95 Yuen's trimmed-mean interval (25% trimmed at each end)
    cvar10             lower CVaR of x: mean of the k = max(1, n // 10) smallest: descriptive
    n_learners, n_diverged, n_diverged_runs, divergence_rate, divergence_rate_ci95 (Wilson):
                       learners are runs for a shared method (A3C), workers otherwise
    n_failed, failed_seeds  failed runs (crashed, killed): listed, not analysed
    n_excluded         diverged worker scores left out (only with diverged="exclude")

per configuration, T vs C
    gap, gap_ci95            mean_T - mean_C; Welch's t interval on run means (the claim's test:
                             ``welch_p``, two-sided, on run means; Welch, not a permutation
                             test: the methods' run means have different variances)
    gap_pct, gap_pct_ci95    100 gap / |mean_C| (the study's figure); its interval from Fieller's
                             for mean_T / mean_C. Not reported (``gap_pct_note``) when the
                             interval of mean_C reaches half its value or beyond towards 0,
                             where a percentage of it can take any size
    cv_ratio, cv_ratio_ci95  cv_T / cv_C and its interval (jackknife, log scale: symmetric, so
                             "1.5x lower" and "1.5x higher" are equally far from 1)
    stability_advantage_pct  100 (1 - cv_T / cv_C), the study's figure (descriptive: capped at
                             100% one way, unbounded the other); ``more_stable`` its winner
                             (the study's figures of spread are over workers: no verdict)
    models                   T vs C across trained models: cv_ratio and its interval, each side's
                             CV, IQR, CVaR, worst, models, divergences and SD across rollouts;
                             ``stability_winner`` the winner of the stability claim when shown
    robustness_ratio         worst_T / worst_C (descriptive), defined for non-negative worst
                             scores only: inf when worst_C = 0 < worst_T; None when both are 0 or
                             either is negative; worst_diff = worst_T - worst_C
    prob_improvement         P(M_T > M_C) + 0.5 P(M_T = M_C) over run means = U_T / (k_T k_C),
                             with Newcombe's (2006) method-5 interval
    design                   no power computed from the observed gap: ``mde``, the smallest gap
                             the current runs detect with power 0.8 at the family's first Holm
                             level alpha / m; ``runs_needed``, the runs per method a gap at each
                             end of its 95% interval would need (None at an end reaching 0; above
                             ``runs_cap``, said as "more than")
    n_runs_*, n_diverged_*, n_learners_*, n_failed_*   the two cells' counts
    warning                  too few runs, an undefined CV, a percentage not reported

per factor level l (the others at baseline) and method ("removals"; for an on/off component,
l = off: its removal)
    X_change      X(level l) - X(baseline)  for X in mean, std, cv, worst (std and worst:
                  descriptive)
    X_change_pct  100 X_change / |X(baseline)|  (None when the baseline value is 0)
    mean_change_ci95, mean_change_p (Welch on run means), mean_change_pct_ci95 (Fieller)
    cv_ratio, cv_ratio_ci95, cv_change_pct_ci95   the CV ratio level / baseline (jackknife)
    cv_suffers_more  (top-level list) one definition of "whose CV suffers more": ``relative``
                     = the ratio of the two methods' CV ratios (> 1: T's CV rises relatively
                     more), with ``relative_ci95``; over workers as the study's, and in
                     ``models`` across trained models, the verdict's (``shown``); ``factor``
                     keeps the study's ratio of percentage changes as a descriptive figure

per factor level l, contribution to the gap
    gap_change, gap_change_ci95   gap(level l) - gap(baseline), Welch t on the four cells
    gap_pct_points    gap_pct(baseline) - gap_pct(level l) (descriptive)
    share_of_gap_pct  100 gap_pct_points / gap_pct(baseline) (descriptive); None (with
                      ``share_note``) when a gap % behind it is not reported or the interval of
                      the baseline gap covers 0

interaction of two factors A, B at non-baseline levels a, b (the others at baseline)
    value = (baseline - only B at b) - (only A at a - both changed)
          = joint effect of the two changes - the sum of their separate effects,
    of the gap (Welch t) and of each method's CV across trained models (``cv_models``,
    jackknife; ``cv`` keeps the study's over workers, no verdict), with its claim's intervals
    (``ci95``; ``ci`` at the claim's Holm level). Verdict, from the claim: "synergistic" /
    "antagonistic" when shown (gap: value > 0 is better than additive; CV: value < 0 is);
    otherwise "additive" only if the Holm-level interval lies inside +-margin, margin = half
    the larger main effect; else "no evidence of interaction". ``interactions`` lists every
    pair; ``interaction`` is the study's one, when there are exactly two two-level factors.

No interval depends on resampling: the same data always give the same report, and a cell's
intervals do not depend on which other cells are present.

per cell, across trained models (``models``; ``pyrl.stats.models``): one model per A3C run, one
per independent learner, each scored by its fixed-policy evaluation (else by the mean
training-time score of its workers; a scores CSV's ``model`` column says which rows share one)
    n_models, n_diverged, source   models, diverged ones, and what scored them
    cv, cv_ci95        over the models that did not diverge; cluster jackknife over runs (a run's
                       models left out together), log scale; the stability claims' measure
    iqr, iqr_ci95      over the models that did not diverge; percentile bootstrap over runs (none
                       below 10 runs: measured coverage 86-89% at 5)
    cvar10, worst      with the divergences (descriptive: no interval covers a tail this short)
    rollout_sd         median over models of the SD across their evaluation episodes: dispersion
                       across rollouts, kept apart from dispersion across models
and ``models.intra_run_correlation`` per method: ICC(1) of worker scores within runs (an A3C
run's workers act with one model: near 1, their spread mostly episode noise).

Diverged learners enter by a policy (``cells``: floor by default, last, exclude). The floor is
the environment's, fixed before any analysis (``analyze(..., floor=)``); a diverged learner
scores it, or its own last score where that is lower.

Convergence speed (``convergence``; with learning curves only): per cell the median over runs
of the steps to a threshold (a run that never reaches it counts as +inf; ``never_reached``
with a Wilson CI; the median's interval by order statistics) and the mean normalised AUC with
its t interval; AUC differences in ``comparisons`` (``auc_norm_diff``) and ``removals``
(``auc_norm_change``), tested as claims of kind convergence.

JSON: ``analyze`` returns plain python (dict, list, str, int, float, bool, None); undefined
values are None, never NaN; the only non-finite floats are ``math.inf`` (robustness ratio,
steps never reached), which the CLI writes as "inf".
"""
from __future__ import annotations

from pyrl.stats.analysis import analyze
from pyrl.stats.cells import POLICIES
from pyrl.stats.convergence import RunCurve, WorkerCurve
from pyrl.stats.estimators import (
    CV_EPS,
    cvar,
    holm,
    iqm,
    prob_improvement,
    welch_mde,
    welch_p,
    welch_power,
    welch_seeds_needed,
    wilson_ci,
)
from pyrl.stats.samples import (Sample, ScoresError, TrainedModel, config_label, load_scores_csv, normalize_factors,
                                read_scores_csv)

__all__ = [
    "CV_EPS",
    "POLICIES",
    "RunCurve",
    "Sample",
    "ScoresError",
    "TrainedModel",
    "analyze",
    "config_label",
    "cvar",
    "holm",
    "iqm",
    "load_scores_csv",
    "normalize_factors",
    "prob_improvement",
    "read_scores_csv",
    "welch_mde",
    "welch_p",
    "welch_power",
    "welch_seeds_needed",
    "wilson_ci",
    "WorkerCurve",
]
