"""The run as the unit of inference: run-level intervals and tests, and the null simulation of
issue 12 (false-positive rate and power, through ``analyze`` itself). Since issue 21 every
interval is closed-form (t on run means, a cluster jackknife for the CV): no bootstrap."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from pyrl.benchmarks.inference import rate, simulate
from pyrl.stats import Sample, analyze, prob_improvement

T, C = "a3c", "individual"


def runs_of(method, scores, seed0=0, config=None):
    """Samples from a (runs x workers) array."""
    scores = np.asarray(scores, dtype=float)
    return [Sample(config or {}, method, seed0 + r, w, float(scores[r, w]))
            for r in range(scores.shape[0]) for w in range(scores.shape[1])]


# --------------------------------------------------------------------------- run-level statistics


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(11)
    xt = 55 + 8 * rng.normal(size=(8, 1)) + 3 * rng.normal(size=(8, 3))
    xc = 45 + 4 * rng.normal(size=(7, 1)) + 6 * rng.normal(size=(7, 3))
    return xt, xc, analyze(runs_of(T, xt) + runs_of(C, xc), [])


def test_point_estimates_over_workers_inference_over_runs(correlated):
    xt, xc, doc = correlated
    (cp,) = doc["comparisons"]
    mt, mc = xt.mean(1), xc.mean(1)
    assert cp["mean_treatment"] == pytest.approx(xt.mean()) and cp["std_treatment"] == pytest.approx(xt.std(ddof=1))
    assert cp["n_treatment"] == 24 and cp["n_runs_treatment"] == 8 and cp["n_runs_control"] == 7
    assert cp["welch_p"] == pytest.approx(sps.ttest_ind(mt, mc, equal_var=False).pvalue, rel=1e-12)
    assert cp["prob_improvement"] == pytest.approx(prob_improvement(mt, mc))
    cell = doc["cells"][0]
    assert cell["n"] == 24 and cell["n_runs"] == 8 and cell["workers_per_run"] == [3]


def test_intervals_are_t_intervals_on_run_means(correlated):
    # equal workers per run: the mean over workers is the mean of run means, and its interval
    # Student's t on the 8 run means; the gap's interval is Welch's on the two cells' run means
    xt, xc, doc = correlated
    mt, mc = xt.mean(1), xc.mean(1)
    cell = doc["cells"][0]
    h = sps.t.ppf(0.975, 7) * mt.std(ddof=1) / math.sqrt(8)
    assert cell["mean_ci95"] == pytest.approx([mt.mean() - h, mt.mean() + h], rel=1e-10)
    vt, vc = mt.var(ddof=1) / 8, mc.var(ddof=1) / 7
    df = (vt + vc) ** 2 / (vt ** 2 / 7 + vc ** 2 / 6)
    h = sps.t.ppf(0.975, df) * math.sqrt(vt + vc)
    gap = mt.mean() - mc.mean()
    assert doc["comparisons"][0]["gap_ci95"] == pytest.approx([gap - h, gap + h], rel=1e-10)


def test_copies_of_a_worker_add_no_evidence():
    # The same 10 runs per method, once with one worker each and once with four identical
    # workers each: the workers add no information, so p, the CIs and the probability of
    # improvement must not change (the worker-level code narrowed the CI by half).
    rng = np.random.default_rng(2)
    xt, xc = rng.normal(52, 10, (10, 1)), rng.normal(48, 10, (10, 1))
    one = analyze(runs_of(T, xt) + runs_of(C, xc), [])
    four = analyze(runs_of(T, np.repeat(xt, 4, 1)) + runs_of(C, np.repeat(xc, 4, 1)), [])
    c1, c4 = one["comparisons"][0], four["comparisons"][0]
    assert c4["n_treatment"] == 40 and c1["n_treatment"] == 10
    for key in ("gap", "welch_p", "prob_improvement"):
        assert c4[key] == pytest.approx(c1[key], rel=1e-12), key
    for key in ("gap_ci95", "prob_improvement_ci95"):
        assert c4[key] == pytest.approx(c1[key], rel=1e-12), key
    for a, b in zip(one["cells"], four["cells"]):
        for key in ("mean_ci95", "iqm_ci95", "median_ci95"):
            assert b[key] == pytest.approx(a[key], rel=1e-12), key


def test_report_says_what_n_counts(correlated):
    line = correlated[2]["meta"]["n_counts"]
    assert line.startswith("n counts runs") and "workers per run: a3c 3, individual 3" in line
    assert "\n" not in line


# --------------------------------------------------------------------------- the null simulation


@pytest.mark.parametrize("rho_t, rho_c, seed", [(0.5, 0.5, 1), (0.95, 0.95, 2), (0.9, 0.0, 3)])
def test_null_false_positive_rate_at_most_7_percent(rho_t, rho_c, seed):
    # 10 runs x 4 workers per cell, no true gap, workers of a run correlated at rho: the report
    # calls the gap significant (p < 0.05 or CI excluding 0) in at most 7% of 500 studies
    # (measured: bench/README.md, "Inference (issue 12)"; the old worker-level code: 23% to 31%)
    r = rate(analyze, sims=500, seed=seed, rho_t=rho_t, rho_c=rho_c)
    assert r <= 0.07, r


def test_power_under_a_real_gap():
    # a gap of one worker-level standard deviation, rho 0.5, 10 runs x 4 workers: detected in
    # about 3 of 4 studies (74% in bench/README.md); the null test above cannot pass by never
    # calling anything significant
    r = rate(analyze, sims=200, seed=7, rho_t=0.5, rho_c=0.5, gap=1.0)
    assert r >= 0.6, r


def test_simulation_has_the_stated_correlation():
    rng = np.random.default_rng(0)
    s = [simulate(rng, runs=400, workers=2, rho_t=0.9, rho_c=0.0) for _ in range(1)][0]
    a = np.array([x["score"] for x in s if x["method"] == T]).reshape(400, 2)
    c = np.array([x["score"] for x in s if x["method"] == C]).reshape(400, 2)
    assert np.corrcoef(a[:, 0], a[:, 1])[0, 1] == pytest.approx(0.9, abs=0.03)
    assert np.corrcoef(c[:, 0], c[:, 1])[0, 1] == pytest.approx(0.0, abs=0.1)
    assert a.std() == pytest.approx(10, rel=0.1)
