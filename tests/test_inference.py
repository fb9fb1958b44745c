"""The run as the unit of inference: cluster bootstrap, run-level tests, and the null
simulation of issue 12 (false-positive rate and power, through ``analyze`` itself)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from pyrl.benchmarks.inference import rate, simulate
from pyrl.stats import Sample, analyze, expanded_alpha, prob_improvement, welch_seeds_needed
from pyrl.stats.estimators import cluster_replicates, percentile_ci

T, C = "a3c", "individual"


def runs_of(method, scores, seed0=0, config=None):
    """Samples from a (runs x workers) array."""
    scores = np.asarray(scores, dtype=float)
    return [Sample(config or {}, method, seed0 + r, w, float(scores[r, w]))
            for r in range(scores.shape[0]) for w in range(scores.shape[1])]


# --------------------------------------------------------------------------- cluster bootstrap


def test_cluster_bootstrap_keeps_each_run_whole():
    # runs [1, 1] and [3, 3, 3, 3]: a replicate pools two whole runs -> means 1 (AA), 14/6 (AB), 3 (BB);
    # resampling workers would give many other values (e.g. 1.5, 2, 2.5)
    means, _ = cluster_replicates([np.array([1.0, 1.0]), np.array([3.0, 3, 3, 3])],
                                  np.random.default_rng(0), 400, want_cv=False)
    values = set(np.round(means, 12))
    assert values == {1.0, round(14 / 6, 12), 3.0}


def test_cluster_replicates_are_the_pooled_statistics_of_the_drawn_runs():
    rng = np.random.default_rng(4)
    runs = [rng.normal(50, 10, size) for size in (2, 4, 3, 4, 1)]
    means, cvs = cluster_replicates(runs, np.random.default_rng(9), 50, want_cv=True)
    idx = np.random.default_rng(9).integers(0, len(runs), size=(50, len(runs)))
    for b in range(50):
        pooled = np.concatenate([runs[i] for i in idx[b]])
        assert means[b] == pytest.approx(pooled.mean(), rel=1e-12)
        assert cvs[b] == pytest.approx(pooled.std(ddof=1) / pooled.mean(), rel=1e-9)


def test_expanded_percentile_interval_by_hand():
    # n = 10 runs, alpha 0.05: alpha' = 2 Phi(-sqrt(10/9) t_{0.975, 9}) = 2 Phi(-2.3845) = 0.0171
    a = expanded_alpha(0.05, 10)
    assert a == pytest.approx(2 * sps.norm.cdf(-math.sqrt(10 / 9) * sps.t.ppf(0.975, 9)), rel=1e-12)
    assert a == pytest.approx(0.0171, abs=1e-4)
    reps = np.random.default_rng(0).normal(size=5000)
    assert percentile_ci(reps, 0.05, 10) == pytest.approx(list(np.percentile(reps, [50 * a, 100 - 50 * a])))
    plain = np.percentile(reps, [2.5, 97.5])
    lo, hi = percentile_ci(reps, 0.05, 10)
    assert lo < plain[0] and hi > plain[1]  # wider than the plain percentile interval
    assert expanded_alpha(0.05, 1000) == pytest.approx(0.05, abs=5e-4)  # large n: the plain interval
    assert percentile_ci(reps, 0.05, 1) is None  # one run: no interval


# --------------------------------------------------------------------------- run-level statistics


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(11)
    xt = 55 + 8 * rng.normal(size=(8, 1)) + 3 * rng.normal(size=(8, 3))
    xc = 45 + 4 * rng.normal(size=(7, 1)) + 6 * rng.normal(size=(7, 3))
    return xt, xc, analyze(runs_of(T, xt) + runs_of(C, xc), [], n_boot=2000)


def test_point_estimates_over_workers_inference_over_runs(correlated):
    xt, xc, doc = correlated
    (cp,) = doc["comparisons"]
    mt, mc = xt.mean(1), xc.mean(1)
    assert cp["mean_treatment"] == pytest.approx(xt.mean()) and cp["std_treatment"] == pytest.approx(xt.std(ddof=1))
    assert cp["n_treatment"] == 24 and cp["n_runs_treatment"] == 8 and cp["n_runs_control"] == 7
    assert cp["welch_p"] == pytest.approx(sps.ttest_ind(mt, mc, equal_var=False).pvalue, rel=1e-12)
    assert cp["prob_improvement"] == pytest.approx(prob_improvement(mt, mc))
    assert cp["seeds_needed"] == welch_seeds_needed(cp["gap"], mt.std(ddof=1), mc.std(ddof=1))
    cell = doc["cells"][0]
    assert cell["n"] == 24 and cell["n_runs"] == 8 and cell["workers_per_run"] == [3]


def test_copies_of_a_worker_add_no_evidence():
    # The same 10 runs per method, once with one worker each and once with four identical
    # workers each: the workers add no information, so p, the CIs and the probability of
    # improvement must not change (the worker-level code narrowed the CI by half).
    rng = np.random.default_rng(2)
    xt, xc = rng.normal(52, 10, (10, 1)), rng.normal(48, 10, (10, 1))
    one = analyze(runs_of(T, xt) + runs_of(C, xc), [], n_boot=2000)["comparisons"][0]
    four = analyze(runs_of(T, np.repeat(xt, 4, 1)) + runs_of(C, np.repeat(xc, 4, 1)), [], n_boot=2000)
    four = four["comparisons"][0]
    assert four["n_treatment"] == 40 and one["n_treatment"] == 10
    for key in ("gap", "welch_p", "prob_improvement", "seeds_needed"):
        assert four[key] == pytest.approx(one[key], rel=1e-12), key
    assert four["gap_ci95"] == pytest.approx(one["gap_ci95"], rel=1e-12)


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
    r = rate(analyze, sims=500, seed=seed, n_boot=1000, rho_t=rho_t, rho_c=rho_c)
    assert r <= 0.07, r


def test_power_under_a_real_gap():
    # a gap of one worker-level standard deviation, rho 0.5, 10 runs x 4 workers: detected in
    # about 3 of 4 studies (74% in bench/README.md); the null test above cannot pass by never
    # calling anything significant
    r = rate(analyze, sims=200, seed=7, n_boot=1000, rho_t=0.5, rho_c=0.5, gap=1.0)
    assert r >= 0.6, r


def test_simulation_has_the_stated_correlation():
    rng = np.random.default_rng(0)
    s = [simulate(rng, runs=400, workers=2, rho_t=0.9, rho_c=0.0) for _ in range(1)][0]
    a = np.array([x["score"] for x in s if x["method"] == T]).reshape(400, 2)
    c = np.array([x["score"] for x in s if x["method"] == C]).reshape(400, 2)
    assert np.corrcoef(a[:, 0], a[:, 1])[0, 1] == pytest.approx(0.9, abs=0.03)
    assert np.corrcoef(c[:, 0], c[:, 1])[0, 1] == pytest.approx(0.0, abs=0.1)
    assert a.std() == pytest.approx(10, rel=0.1)
