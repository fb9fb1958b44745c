"""The across-task aggregate (pyrl.stats.aggregate, issue 23): normalisation, the IQM and the
probability of improvement against their definitions, a bootstrap that is stratified by task
and keeps each run's models together, and its p-values."""
import numpy as np
import pytest
from scipy import stats as sps

from pyrl.stats.aggregate import SuiteBootstrap, across_tasks, normalise
from pyrl.stats.estimators import prob_improvement


def _suite(seed=0, runs=5, width=3, shift=0.0):
    rng = np.random.default_rng(seed)
    return {task: {"a3c": [np.array([mean + shift + 0.2 * rng.standard_normal()]) for _ in range(runs)],
                   "individual": [mean + 0.2 * rng.standard_normal(width) for _ in range(runs)]}
            for task, mean in (("easy", 0.9), ("mid", 0.5), ("hard", 0.2))}


def test_normalise_puts_the_random_policy_at_0_and_the_reference_at_1():
    assert normalise([19.16, 500.0, 259.58], 19.16, 500.0).tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert normalise([-1200.0], -1200.0, -218.0).tolist() == [0.0]  # negative scales too (Pendulum)
    with pytest.raises(ValueError, match="must differ"):
        normalise([1.0], 5.0, 5.0)


def test_the_point_estimates_are_the_definitions():
    suite = _suite()
    out = across_tasks(suite, "a3c", "individual", n_boot=200)
    for m in ("a3c", "individual"):
        pooled = np.concatenate([np.concatenate(suite[t][m]) for t in suite])
        assert out["iqm"][m]["value"] == pytest.approx(sps.trim_mean(pooled, 0.25))
    want_pi = np.mean([prob_improvement(np.concatenate(suite[t]["a3c"]), np.concatenate(suite[t]["individual"]))
                       for t in suite])
    assert out["probability_of_improvement"]["value"] == pytest.approx(want_pi)
    assert out["iqm_difference"]["value"] == pytest.approx(out["iqm"]["a3c"]["value"] - out["iqm"]["individual"]["value"])
    assert out["runs"] == {"a3c": {"easy": 5, "mid": 5, "hard": 5}, "individual": {"easy": 5, "mid": 5, "hard": 5}}


def test_replicates_resample_runs_within_each_task_and_keep_a_run_together():
    # every model carries its task and run in its value: task k, run r, model j -> 100 k + r + j / 10
    suite = {f"t{k}": {"a3c": [np.array([100.0 * k + r]) for r in range(4)],
                       "individual": [100.0 * k + r + np.arange(3) / 10 for r in range(4)]} for k in range(3)}
    boot = SuiteBootstrap(suite, ["a3c", "individual"], n_boot=300, seed=1)
    for k, task in enumerate(boot.tasks):
        reps = boot.draws[task, "individual"]  # [1 + B, 4 runs x 3 models]
        assert np.array_equal(reps[0], np.concatenate(suite[task]["individual"]))  # replicate 0: the data
        assert ((reps // 100) == k).all()  # drawn from its own task only
        runs = reps.reshape(len(reps), 4, 3)
        assert np.allclose(runs - runs[:, :, :1], np.arange(3) / 10)  # a run's three models stay together
        assert len(np.unique(runs[1:, :, 0])) == 4  # and every run gets drawn
    picks = boot.draws["t0", "a3c"][1:]
    assert 0.2 < (np.sort(picks, axis=1)[:, 1:] == np.sort(picks, axis=1)[:, :-1]).any(axis=1).mean()  # with replacement


def test_ragged_runs_count_only_their_models():
    suite = _suite(runs=4)
    suite["mid"]["individual"][2] = suite["mid"]["individual"][2][:1]  # a run with two failed learners
    out = across_tasks(suite, "a3c", "individual", n_boot=200)
    pooled = np.concatenate([np.concatenate(suite[t]["individual"]) for t in suite])
    assert out["iqm"]["individual"]["value"] == pytest.approx(sps.trim_mean(pooled, 0.25))
    assert all(np.isfinite(out["iqm"]["individual"]["ci"]))


def test_p_values_and_intervals_follow_the_data():
    same = across_tasks(_suite(seed=3), "a3c", "individual", n_boot=1000, seed=0)
    apart = across_tasks(_suite(seed=3, shift=1.0), "a3c", "individual", n_boot=1000, seed=0)
    assert apart["iqm_difference"]["p"] < 1e-6  # no replicate reaches 0: read from the normal approximation
    assert apart["probability_of_improvement"]["value"] > 0.99
    assert apart["iqm_difference"]["ci"][0] > 0.5
    assert same["iqm_difference"]["p"] > 0.05 and same["iqm_difference"]["ci"][0] < 0 < same["iqm_difference"]["ci"][1]
    again = across_tasks(_suite(seed=3), "a3c", "individual", n_boot=1000, seed=0)
    assert again["iqm_difference"] == same["iqm_difference"]  # a fixed stream: the same data, the same interval


def test_the_performance_profile_is_the_share_of_models_above_each_score():
    suite = _suite()
    out = across_tasks(suite, "a3c", "individual", n_boot=200, taus=[-1.0, 0.5, 2.0])
    for m in ("a3c", "individual"):
        pooled = np.concatenate([np.concatenate(suite[t][m]) for t in suite])
        prof = out["profile"][m]
        assert prof["fraction"] == pytest.approx([1.0, float((pooled > 0.5).mean()), 0.0])
        lo, hi = prof["band"]
        assert all(a <= f <= b for a, f, b in zip(lo, prof["fraction"], hi))


def test_a_method_missing_on_a_task_is_a_clear_error():
    suite = _suite()
    del suite["mid"]["individual"]
    with pytest.raises(ValueError, match="'individual' has no runs on task 'mid'"):
        across_tasks(suite, "a3c", "individual")


def test_one_run_on_a_task_is_refused_not_a_certain_interval():
    # one run per task: every replicate equals the data, a zero-width interval and p = 0
    suite = _suite(runs=2)
    suite["mid"]["a3c"] = suite["mid"]["a3c"][:1]
    with pytest.raises(ValueError, match="'a3c' has 1 run on task 'mid'"):
        across_tasks(suite, "a3c", "individual")


def test_many_tasks_of_two_runs_keep_the_false_positive_rate():
    # the stratified bootstrap shrinks each task's spread by (k - 1) / k: with 2 runs on each of
    # 10 tasks an uncorrected interval rejected a true null about 13% of the time (5% nominal)
    rejections = 0
    for seed in range(150):
        rng = np.random.default_rng(seed)
        suite = {f"t{k}": {m: [np.array([rng.standard_normal()]) for _ in range(2)] for m in ("a3c", "individual")}
                 for k in range(10)}
        rejections += across_tasks(suite, "a3c", "individual", n_boot=400, seed=seed)["iqm_difference"]["p"] < 0.05
    assert rejections / 150 <= 0.08
