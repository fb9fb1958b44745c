"""The closed-form intervals and tests of pyrl.stats.estimators, against scipy and by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from pyrl.stats.estimators import (
    Estimate,
    combine,
    cv_jackknife,
    holm,
    iqm,
    iqm_ci,
    mean_estimate,
    median_ci,
    prob_improvement,
    prob_improvement_ci,
    ratio_ci,
    welch_mde,
    welch_p,
    welch_power,
)


def test_mean_and_welch_are_scipys_t():
    rng = np.random.default_rng(0)
    a, b = rng.normal(5, 1, 7), rng.normal(4, 3, 5)
    e = combine([(1.0, mean_estimate(a)), (-1.0, mean_estimate(b))])
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert e.p() == pytest.approx(ref.pvalue, rel=1e-12) == welch_p(a, b)
    assert e.ci(0.95) == pytest.approx(list(ref.confidence_interval()), rel=1e-12)
    assert mean_estimate(a).ci(0.9) == pytest.approx(list(sps.ttest_1samp(a, 0).confidence_interval(0.9)), rel=1e-12)
    assert mean_estimate(np.array([1.0])) is None and combine([(1.0, None)]) is None


def test_a_contrast_of_four_cells_has_welch_satterthwaite_df():
    rng = np.random.default_rng(1)
    xs = [rng.normal(0, s, k) for s, k in ((1, 5), (2, 4), (3, 6), (1, 3))]
    es = [mean_estimate(x) for x in xs]
    e = combine([(1.0, es[0]), (-1.0, es[1]), (-1.0, es[2]), (1.0, es[3])])
    v = [x.var(ddof=1) / len(x) for x in xs]
    assert e.se == pytest.approx(math.sqrt(sum(v)))
    assert e.df == pytest.approx(sum(v) ** 2 / sum(vi**2 / (len(x) - 1) for vi, x in zip(v, xs)))
    assert e.value == pytest.approx(xs[0].mean() - xs[1].mean() - xs[2].mean() + xs[3].mean())


@settings(max_examples=60, deadline=None)
@given(st.floats(-5, 5), st.floats(0.01, 3), st.floats(1, 50), st.floats(0.5, 0.999))
def test_the_test_and_the_interval_agree_at_every_level(value, se, df, level):
    # the duality every shown claim relies on: p < 1 - level exactly when the interval excludes 0
    e = Estimate(value, se, df)
    lo, hi = e.ci(level)
    p = e.p()
    if abs(p - (1 - level)) > 1e-9:
        assert (p < 1 - level) == (not lo <= 0 <= hi)


def test_zero_variance_estimates():
    assert Estimate(2.0, 0.0, 3).p() == 0.0 and Estimate(0.0, 0.0, 3).p() is None
    assert welch_p([1.0, 1.0], [1.0, 1.0]) is None and welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0


def test_cv_jackknife_by_hand():
    rng = np.random.default_rng(2)
    runs = [rng.normal(50, 10, w) for w in (2, 3, 2, 2, 1)]
    k = len(runs)
    cv = lambda x: x.std(ddof=1) / x.mean()  # noqa: E731
    full = cv(np.concatenate(runs))
    loo = np.array([math.log(cv(np.concatenate(runs[:j] + runs[j + 1:]))) for j in range(k)])
    e, plain = cv_jackknife(runs)
    assert e.value == pytest.approx(math.log(full), rel=1e-12) and e.df == k - 1
    assert e.se == pytest.approx(math.sqrt((k - 1) / k * ((loo - loo.mean()) ** 2).sum()), rel=1e-10)
    assert e.bias == pytest.approx((k - 1) * (loo.mean() - math.log(full)), rel=1e-10)
    assert plain.value == pytest.approx(full, rel=1e-12)
    # runs are the unit: fewer than 3 runs, no interval; a leave-one-out CV undefined, none either
    assert cv_jackknife(runs[:2]) == (None, None)
    assert cv_jackknife([np.array([5.0]), np.array([5.0]), np.array([1.0, 2.0])]) == (None, None)
    # the order of runs does not matter
    assert cv_jackknife(runs[::-1])[0].se == pytest.approx(e.se, rel=1e-12)


def test_iqm_interval_is_yuens():
    x = np.array([3.0, 9.0, 1.0, 4.0, 7.0, 2.0, 12.0, 5.0])  # n 8: g = 2, h = 4
    s = np.sort(x)
    w = s.copy()
    w[:2], w[-2:] = s[2], s[-3]
    se = math.sqrt(7 * w.var(ddof=1) / (4 * 3))
    lo, hi = iqm_ci(x)
    assert (lo + hi) / 2 == pytest.approx(iqm(x)) == pytest.approx(s[2:6].mean())
    assert (hi - lo) / 2 == pytest.approx(sps.t.ppf(0.975, 3) * se)
    # at 3 runs nothing is trimmed: Student's interval of the mean
    assert iqm_ci([1.0, 2.0, 4.0]) == pytest.approx(list(sps.ttest_1samp([1.0, 2.0, 4.0], 0).confidence_interval()))


def test_median_interval_by_order_statistics():
    assert median_ci(np.arange(4.0)) is None  # below 5 runs no order statistics reach 90%
    ci, level = median_ci([5.0, 1.0, 4.0, 2.0, 3.0])
    assert ci == [1.0, 5.0] and level == pytest.approx(1 - 2 / 32)
    ci, level = median_ci(np.arange(10.0))
    assert ci == [1.0, 8.0] and level == pytest.approx(1 - 2 * 11 / 1024)  # x_(2), x_(9)
    ci, _ = median_ci([1.0, 2.0, 3.0, math.inf, math.inf])  # censored runs need no arithmetic
    assert ci == [1.0, math.inf]


def test_probability_of_improvement_interval():
    lo, hi = prob_improvement_ci(1.0, 5, 5)  # complete separation: not degenerate
    assert hi == 1.0 and 0.5 < lo < 1.0
    assert prob_improvement_ci(1.0, 3, 5) is None  # below 5 runs a side no interval holds 90%
    lo, hi = prob_improvement_ci(0.5, 10, 10)
    assert lo < 0.5 < hi and lo == pytest.approx(1 - hi, abs=1e-9)
    assert prob_improvement_ci(0.5, 1, 5) is None
    # coverage, simulated: normal run means one sd apart, 5 runs each
    rng = np.random.default_rng(3)
    truth, hits = sps.norm.cdf(1 / math.sqrt(2)), 0
    for _ in range(2000):
        a, b = rng.normal(1, 1, 5), rng.normal(0, 1, 5)
        lo, hi = prob_improvement_ci(prob_improvement(a, b), 5, 5)
        hits += lo <= truth <= hi
    assert hits / 2000 >= 0.93


def test_fieller_ratio_interval():
    rng = np.random.default_rng(4)
    num, den = mean_estimate(rng.normal(60, 5, 6)), mean_estimate(rng.normal(40, 5, 6))
    (lo, hi), note = ratio_ci(num, den)
    assert note is None and lo < num.value / den.value < hi
    q = sps.t.ppf(0.975, min(num.df, den.df))
    for r in (lo, hi):  # the two roots of (a - r b)^2 = q^2 (v_a + r^2 v_b)
        assert (num.value - r * den.value) ** 2 == pytest.approx(q * q * (num.se**2 + r * r * den.se**2))
    ci, note = ratio_ci(num, mean_estimate(np.array([1.0, -1.0, 2.0])))
    assert ci is None and "towards 0" in note


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5] and holm([]) == []
    assert holm([0.9, 0.9, 0.9]) == [1.0, 1.0, 1.0]


def test_power_in_the_far_tail_is_not_nan():
    # scipy's noncentral t returns NaN for a far lower tail (large nc, few df): at Holm's first
    # level of a 26-claim family and 3-5 runs the detectable gap came out too large and rose with n
    level = 0.05 / 26
    mdes = [welch_mde(1.0, 1.0, n, level) for n in (3, 4, 5, 10)]
    assert all(a > b for a, b in zip(mdes, mdes[1:]))
    for n, d in zip((3, 4, 5, 10), mdes):
        assert welch_power(d, 1.0, 1.0, n, level) == pytest.approx(0.8, abs=1e-6)
    assert mdes[2] == pytest.approx(3.57, abs=0.01)
    assert welch_power(40.0, 1.0, 1.0, 3, level) == pytest.approx(1.0)


def test_minimum_detectable_gap():
    d = welch_mde(10.0, 10.0, 17)
    assert welch_power(d, 10.0, 10.0, 17) == pytest.approx(0.8, abs=1e-6)
    assert d == pytest.approx(10.0, rel=0.03)  # d = 1 sd needs 17 per group at power 0.8
    assert welch_mde(10.0, 10.0, 17, alpha=0.001) > d and welch_mde(1.0, 1.0, 1) is None
