"""The CLI shell and `pyrl bench`, through Click's CliRunner (exit code first)."""
import json
import subprocess
import sys

import pytest

from pyrl.cli import cli



def test_help_lists_commands_without_importing_torch():
    code = ("import sys; from pyrl.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='pyrl')\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'pyrl --help imported torch'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "bench" in proc.stdout and "train" in proc.stdout


def test_python_m_pyrl_runs():
    proc = subprocess.run([sys.executable, "-m", "pyrl", "bench", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kernel" in proc.stdout and "rollout" in proc.stdout


def test_bench_kernel_json(runner):
    result = runner.invoke(cli, ["bench", "kernel", "--json", "--min-time", "0.05"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "kernel" and doc["threads"] == 1
    assert [(c["T"], c["B"], c["I"], c["H"], c["norm"]) for c in doc["cases"]] == [
        (*shape, norm) for shape in [(20, 8, 64, 128), (32, 16, 128, 256)]
        for norm in ("layernorm", "rmsnorm", "none")]
    for case in doc["cases"]:
        for key in ("fused_fwd_us", "fused_fwd_bwd_us", "eager_fwd_bwd_us", "floor_fwd_bwd_us"):
            assert case[key] > 0
        assert case["speedup_vs_eager_fwd_bwd"] == pytest.approx(case["eager_fwd_bwd_us"] / case["fused_fwd_bwd_us"])
        assert case["over_floor_fwd_bwd"] == pytest.approx(case["fused_fwd_bwd_us"] / case["floor_fwd_bwd_us"])
    assert doc["targets"]["over_floor_fwd_bwd_at_large"] == 1.3


def test_bench_kernel_table(runner):
    result = runner.invoke(cli, ["bench", "kernel", "--min-time", "0.05", "--norms", "rmsnorm"])
    assert result.exit_code == 0, result.output
    assert "fused norm-GRU" in result.output and "fwd+bwd" in result.output
    assert "rmsnorm" in result.output and "layernorm" not in result.output


def test_bench_bad_usage_exits_2(runner):
    result = runner.invoke(cli, ["bench", "kernel", "--threads", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["bench", "kernel", "--norms", "layernorm,batchnorm"])
    assert result.exit_code == 2 and "--norms" in result.output, result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["bench", "rollout", "--env", "NoSuchEnv-v0", "--quick"])
    assert result.exit_code == 2, result.output
    assert "NoSuchEnv-v0" in result.output and "Traceback" not in result.output


def test_bench_train_json_against_sb3(runner):
    args = ["bench", "train", "--json", "--steps", "2000", "--repeats", "1", "--methods", "a3c",
            "--envs", "4", "--models", "ff,lngru"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "train" and doc["steps"] == 2000 and doc["target_vs_sb3"] == 4.0
    assert doc["separate_critic"] is True
    rows = {(r["lib"], r["method"], r["workers"], r["model"]): r for r in doc["rows"]}
    assert set(rows) == {("sb3", "a2c", 1, "ff"), *(("pyrl", "a3c", w, m) for w in (1, 2) for m in ("ff", "lngru"))}
    sb3 = rows[("sb3", "a2c", 1, "ff")]["sps_median"]
    for r in rows.values():
        assert len(r["sps"]) == 1 and r["sps_median"] > 0
        assert r["vs_sb3"] == pytest.approx(r["sps_median"] / sb3)
    for m in ("ff", "lngru"):
        assert rows[("pyrl", "a3c", 2, m)]["scaling"] == pytest.approx(
            rows[("pyrl", "a3c", 2, m)]["sps_median"] / rows[("pyrl", "a3c", 1, m)]["sps_median"])
    for w in (1, 2):  # the recurrent model against the feed-forward one, side by side
        assert rows[("pyrl", "a3c", w, "lngru")]["vs_ff"] == pytest.approx(
            rows[("pyrl", "a3c", w, "lngru")]["sps_median"] / rows[("pyrl", "a3c", w, "ff")]["sps_median"])
        assert rows[("pyrl", "a3c", w, "ff")]["vs_ff"] is None


def test_bench_train_shared_critic_runs_the_one_trunk_models(runner, monkeypatch):
    from pyrl.train import run as train_run

    seen = []
    real_train = train_run.train

    def recording_train(cfg, *args, **kwargs):  # the real trainer; records what it was asked
        seen.append((cfg.rnn, cfg.separate_critic))
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(train_run, "train", recording_train)
    args = ["bench", "train", "--json", "--steps", "2000", "--repeats", "1", "--methods", "a3c", "--max-workers",
            "1", "--envs", "4", "--models", "ff,lngru", "--no-sb3", "--shared-critic"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["separate_critic"] is False
    assert {(r["model"], r["workers"]) for r in doc["rows"]} == {("ff", 1), ("lngru", 1)}
    assert set(seen) == {(False, False), (True, False)}  # the warm-up and both timed runs: one trunk


@pytest.mark.parametrize("args, message", [
    (["--methods", "a3c,ppo"], "--methods"),
    (["--models", "ff,lstm"], "--models"),
    (["--env", "CartPoleNoVel-v1"], "Gymnasium"),
    (["--env", "NoSuchEnv-v0", "--no-sb3"], "NoSuchEnv-v0"),
    (["--steps", "10"], "--steps"),
    (["--steps", "1000", "--envs", "200", "--no-sb3"], "less than one rollout"),
])
def test_bench_train_bad_usage_exits_2(runner, args, message):
    result = runner.invoke(cli, ["bench", "train", "--repeats", "1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bench_train_without_sb3_says_how_to_get_it(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # what the import sees when absent
    result = runner.invoke(cli, ["bench", "train", "--repeats", "1"])
    assert result.exit_code == 2 and "pip install 'pyrl[bench]'" in result.output


@pytest.mark.parametrize("shared_critic", [False, True])
def test_bench_profile_json_phases_add_up(runner, monkeypatch, shared_critic):
    from pyrl.train import run as train_run
    from pyrl.train import worker

    seen = []  # separate_critic of every model the bench asked for: the runs' and the compiled ops'
    real_train, real_build = train_run.train, worker.build_model

    def recording_train(cfg, *args, **kwargs):
        seen.append(cfg.separate_critic)
        return real_train(cfg, *args, **kwargs)

    def recording_build(cfg, *args, **kwargs):
        seen.append(cfg.separate_critic)
        return real_build(cfg, *args, **kwargs)

    monkeypatch.setattr(train_run, "train", recording_train)
    monkeypatch.setattr(worker, "build_model", recording_build)  # the forked workers keep their own
    result = runner.invoke(cli, ["bench", "profile", "--json", "--steps", "2000", "--repeats", "1",
                                 "--models", "ff,lngru", "--workers", "2", "--envs", "4",
                                 *(["--shared-critic"] if shared_critic else [])])
    assert result.exit_code == 0, result.output
    assert len(seen) >= 3 + 4 and set(seen) == {not shared_critic}  # 3 runs; 2 models x (model, copy)
    doc = json.loads(result.output)
    assert doc["bench"] == "profile" and [r["model"] for r in doc["rows"]] == ["ff", "lngru"]
    assert doc["separate_critic"] is (not shared_critic) and doc["target_vs_ff"] == 0.85
    for row in doc["rows"]:
        us = row["us_per_step"]
        assert set(us) == {"act", "env", "advantages", "learn", "step", "sync", "report", "loop"}
        assert all(v >= 0 for v in us.values()) and us["act"] > 0 and us["env"] > 0 and us["learn"] > 0
        assert row["total_us"] == pytest.approx(sum(us.values()))
        # a worker's time per step cannot be less than the run's wall time per step per worker allows
        assert row["total_us"] <= 1e6 * doc["workers"] / row["sps_median"] * 1.01
        # the compiled ops alone: a part of what the run's phases did around them
        ops_us = row["compiled_us"]
        assert set(ops_us) == {"act", "core", "update", "total"}
        assert ops_us["act"] > 0 and ops_us["update"] > 0
        assert ops_us["total"] == pytest.approx(ops_us["act"] + ops_us["core"] + ops_us["update"])
        assert ops_us["act"] < us["act"]
        assert ops_us["core"] + ops_us["update"] < us["learn"] + us["step"] + us["sync"]
    ff, lngru = doc["rows"]
    assert ff["compiled_us"]["core"] == 0 and lngru["compiled_us"]["core"] > 0
    assert lngru["compiled_us"]["act"] > ff["compiled_us"]["act"]  # the GRU cells, on top of the same MLPs
    assert ff["vs_ff"] is None and ff["vs_ff_bound"] is None
    assert lngru["vs_ff"] == pytest.approx(lngru["sps_median"] / ff["sps_median"])
    extra = lngru["compiled_us"]["total"] - ff["compiled_us"]["total"]
    assert extra > 0 and lngru["vs_ff_bound"] == pytest.approx(ff["total_us"] / (ff["total_us"] + extra))


def test_compiled_ops_alone_gaussian_heads_and_images():
    from pyrl.benchmarks.profile import compiled_ops_us

    # a Box action space: the Gaussian act step, one GRU per trunk
    timed = compiled_ops_us(("ff", "lngru"), env_id="Pendulum-v1", num_envs=4, min_run_time=0.03)
    assert timed["ff"]["core"] == 0 and timed["lngru"]["core"] > 0
    assert all(t["act"] > 0 and t["update"] > 0 for t in timed.values())
    # image observations act on the eager path: nothing compiled to time, and no bound from it
    assert compiled_ops_us(("ff", "lngru"), env_id="Pong-v5", num_envs=2) == {"ff": None, "lngru": None}


def test_bench_profile_table_says_when_the_compiled_ops_were_not_timed():
    from rich.console import Console

    from pyrl.benchmarks import profile as pb

    us = dict.fromkeys(pb.PHASES, 10.0)
    rows = [{"model": m, "sps_median": 1000.0, "us_per_step": us, "total_us": 80.0, "compiled_us": None,
             "vs_ff": None if m == "ff" else 0.5, "vs_ff_bound": None} for m in ("ff", "lngru")]
    result = {"bench": "profile", "method": "a3c", "workers": 2, "envs_per_worker": 2, "env_id": "Pong-v5",
              "steps": 1000, "repeats": 1, "separate_critic": True, "target_vs_ff": 0.85, "rows": rows,
              "machine": {"cores": 2, "cpu": "x86_64", "torch": "2"}}
    console = Console(record=True, width=200)
    pb.render(result, console)
    text = console.export_text()
    assert "not timed (image observations" in text and "allow at most" not in text


@pytest.mark.parametrize("args, message", [
    (["--models", "ff,transformer"], "--models"),
    (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["--steps", "10"], "--steps"),
])
def test_bench_profile_bad_usage_exits_2(runner, args, message):
    result = runner.invoke(cli, ["bench", "profile", "--repeats", "1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def _check_learn_doc(doc, methods, seeds, budget, threshold):
    import math

    assert doc["bench"] == "learn" and doc["threshold"] == threshold and doc["window"] == 10
    assert doc["max_steps"] == budget and len(doc["seeds"]) == seeds
    assert doc["ci"]["kind"].startswith("order-statistic")
    rows = {r["method"]: r for r in doc["methods"]}
    assert list(rows) == methods
    for r in rows.values():
        assert len(r["runs"]) == seeds and [run["seed"] for run in r["runs"]] == doc["seeds"]
        steps = []
        for run in r["runs"]:
            assert run["status"] == "ok" and run["steps"] > 0 and run["sps"] > 0 and run["wall_s"] > 0
            if run["reached"]:
                # the crossing lies within the run, which lies within its budget, up to whole
                # rollouts (SB3 rounds up: n_steps x n_envs, at most 32 x 4; pyrl down: W x T x N)
                assert 0 < run["steps_to_threshold"] <= run["steps"] <= budget + 128
                assert 0 < run["seconds_to_threshold"] <= run["wall_s"]
                steps.append(run["steps_to_threshold"])
            else:
                assert run["steps_to_threshold"] is None and run["seconds_to_threshold"] is None
                assert budget - 128 <= run["steps"] <= budget + 128  # never stopped early
                steps.append(math.inf)
        never = sum(not run["reached"] for run in r["runs"]) / seeds
        assert r["never_reached"] == pytest.approx(never)
        steps.sort()
        med = r["median_steps"]
        med = math.inf if med == "inf" else med
        lo, hi = (math.inf if x == "inf" else x for x in r["ci_steps"])
        assert lo <= med <= hi and steps[0] <= lo and hi <= steps[-1]
        if seeds % 2 == 1:
            assert med == steps[seeds // 2]
        assert 0 <= r["ci_coverage"] <= 1  # one seed: [x, x], coverage 0
    return rows


@pytest.mark.slow
def test_bench_learn_json(runner):
    # a tiny budget and an easy threshold: some runs reach it, and the numbers must agree
    budget, threshold = 3000, 40.0
    args = ["bench", "learn", "--json", "--seeds", "3", "--max-steps", str(budget), "--threshold", str(threshold),
            "--envs", "4"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    rows = _check_learn_doc(doc, ["sb3-a2c", "individual", "a3c"], 3, budget, threshold)
    assert rows["individual"]["workers"] == 1 and rows["a3c"]["workers"] == 2
    assert rows["individual"]["config"]["rnn"] is False
    by = {(c["a"], c["b"]): c for c in doc["comparisons"]}
    assert set(by) == {("individual", "sb3-a2c"), ("a3c", "sb3-a2c"), ("a3c", "individual")}
    for (a, b), c in by.items():
        ma, mb = rows[a]["median_steps"], rows[b]["median_steps"]
        if "inf" in (ma, mb):
            assert c["steps_ratio"] is None
        else:
            assert c["steps_ratio"] == pytest.approx(ma / mb)


@pytest.mark.slow
def test_bench_learn_pomdp_with_recurrent_ppo(runner):
    pytest.importorskip("sb3_contrib")
    budget = 2000
    args = ["bench", "learn", "--json", "--env", "CartPoleNoVel-v1", "--seeds", "1", "--max-steps", str(budget),
            "--threshold", "30", "--envs", "4", "--methods", "sb3-rppo,a3c", "--set", "rollout=8"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    rows = _check_learn_doc(doc, ["sb3-rppo", "a3c"], 1, budget, 30.0)
    assert doc["rnn"] is True and rows["a3c"]["config"]["rnn"] and rows["a3c"]["config"]["rollout"] == 8


@pytest.mark.slow
def test_bench_learn_table(runner):
    result = runner.invoke(cli, ["bench", "learn", "--seeds", "1", "--max-steps", "1000", "--no-sb3",
                                 "--methods", "individual", "--threshold", "1e9"])
    assert result.exit_code == 0, result.output
    assert "pyrl individual" in result.output and "never" in result.output


def test_learn_crossing_is_the_first_full_window_at_threshold():
    from pyrl.benchmarks.learn import median_ci, steps_to_threshold

    # two workers: merged by (step, worker); W x step is the run's steps
    curve = [(0, 10, 100.0)] * 9 + [(1, 10, 100.0), (1, 20, 0.0), (0, 30, 100.0)]
    assert steps_to_threshold(curve, workers=2, threshold=100.0) == 20   # the 10th episode, step 10
    assert steps_to_threshold(curve[:9], workers=2, threshold=1.0) is None  # never a full window
    med, ci, cov = median_ci([5, 1, float("inf"), 3, 2])
    assert med == 3 and ci == [1, float("inf")] and cov == pytest.approx(1 - 2 / 32)
    med, ci, cov = median_ci(list(range(1, 11)))
    assert med == 5.5 and ci == [2, 9] and cov >= 0.95


@pytest.mark.parametrize("args, message", [
    (["--methods", "a3c,ppo"], "--methods"),
    (["--models", "ff,lstm"], "--models"),
    (["--methods", "sb3-a2c", "--no-sb3"], "--no-sb3"),
    (["--env", "NoSuchEnv-v0", "--no-sb3"], "NoSuchEnv-v0"),
    (["--max-steps", "10"], "--max-steps"),
    (["--seeds", "0"], "--seeds"),
    (["--threshold", "nan"], "--threshold"),
    (["--set", "lr=fast", "--no-sb3"], "lr"),
    (["--set", "nosuchfield=1", "--no-sb3"], "nosuchfield"),
    (["--set", "workers=3", "--no-sb3"], "workers"),
    (["--set", "lr=-1", "--no-sb3"], "lr must be positive"),
    (["--max-steps", "1000", "--envs", "200", "--no-sb3"], "less than one rollout"),
])
def test_bench_learn_bad_usage_exits_2(runner, args, message):
    result = runner.invoke(cli, ["bench", "learn", "--seeds", "1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bench_learn_without_sb3_contrib_says_how_to_get_it(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)
    result = runner.invoke(cli, ["bench", "learn", "--env", "CartPoleNoVel-v1", "--methods", "sb3-rppo"])
    assert result.exit_code == 2 and "pip install sb3-contrib" in result.output


def test_bench_stats_json(runner):
    # the simulations of issue 21 (tiny here: the measured figures are in bench/README.md)
    result = runner.invoke(cli, ["bench", "stats", "--json", "--part", "family", "--sims", "3"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "stats" and doc["code"] == "after" and doc["sims"] == 3 and "coverage" not in doc
    rows = {(r["scenario"], r["runs"], r["workers"]): r for r in doc["family"]}
    assert set(rows) == {("null", 3, 2), ("null", 5, 2), ("null", 10, 4), ("effect 1.5 sd", 5, 2),
                         ("effect 1.5 sd", 10, 2)}
    assert rows[("null", 5, 2)]["target"] == {"measure": "anywhere", "op": "<=", "bound": 0.07,
                                               "met": rows[("null", 5, 2)]["anywhere"] <= 0.07}
    assert rows[("effect 1.5 sd", 10, 2)]["target"]["measure"] == "factor"
    for r in rows.values():
        assert r["sims"] == 3 and 0 <= r["answer"] <= r["anywhere"] <= 1 and r["weighed"] > 0


def test_bench_stats_coverage_table(runner):
    result = runner.invoke(cli, ["bench", "stats", "--part", "coverage", "--coverage-sims", "2"])
    assert result.exit_code == 0, result.output
    assert "coverage of 95% intervals" in result.output and "lognormal" in result.output
    for measure in ("mean (a3c)", "CV (individual)", "gap interaction", "P(a3c > individual)"):
        assert measure in result.output, measure


def test_bench_stats_old_needs_a_checkout(runner, tmp_path):
    result = runner.invoke(cli, ["bench", "stats", "--old", str(tmp_path), "--sims", "1"])
    assert result.exit_code == 2 and "--old" in result.output, result.output
    assert "Traceback" not in result.output


def test_bench_stats_stability_json(runner):
    # issue 22's simulation (tiny here: the measured figures are in bench/README.md)
    result = runner.invoke(cli, ["bench", "stats", "--json", "--part", "stability", "--sims", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "stability" and doc["engine"] == "model" and doc["sims"] == 2
    rows = {(r["scenario"], r["runs"], r["workers"]): r for r in doc["scenarios"]}
    assert ("null", 10, 4) in rows and ("individual 2x sd", 10, 4) in rows and ("a3c 2x sd", 5, 4) in rows
    assert rows[("null", 10, 4)]["target"]["measure"] == "any_shown"
    for r in rows.values():
        assert 0 <= r["shown"] <= r["any_shown"] <= 1 and r["shown"] == r["shown_a3c"] + r["shown_individual"]
        assert 0 <= r["averaged_found"] <= r["averaged_shown"] <= r["any_shown"]
        assert {"cv (a3c)", "iqr (individual)", "cvar10 (a3c)"} <= set(r["coverage"])


def test_bench_stats_aggregate_json(runner):
    # issue 23's check of the stratified bootstrap (tiny here: the measured figures are in bench/README.md)
    result = runner.invoke(cli, ["bench", "stats", "--json", "--part", "aggregate", "--sims", "3"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["scenario"], r["runs"]) for r in rows} >= {("null", 3), ("null", 10), ("a3c +0.1", 10)}
    for r in rows:
        assert r["sims"] == 3 and 0 <= r["a3c_better"] <= 1 and 0 <= r["cover_pi"] <= 1
        assert r["truth"]["iqm_difference"] == pytest.approx(r["shift"], abs=0.02)


def test_bench_stats_suite_json(runner):
    # the suite's whole report on simulated factorials (tiny here: the measured figures are in bench/README.md)
    result = runner.invoke(cli, ["bench", "stats", "--json", "--part", "suite", "--sims", "2"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["scenario"] for r in rows][:2] == ["null", "null"]
    for r in rows:
        assert r["sims"] == 2 and 0 <= r["any_across_shown"] <= r["any_shown"] <= 1
        assert r["size"] and all(0 <= v <= 1 for v in r["size"].values())


def test_learn_takes_a_tasks_row_reference_and_budgets():
    from pyrl.benchmarks import learn as lb
    from pyrl.envs import POMDP_ENVS
    from pyrl.train import tasks

    for env, z in lb.RPPO_ZOO.items():  # RL Zoo's rows: pyrl's masked tasks, complete settings
        assert env in POMDP_ENVS and z["n_timesteps"] > 0 and z["lr_schedule"] in ("lin", "constant")
        assert {"n_envs", "n_steps", "batch_size", "gamma", "gae_lambda", "n_epochs", "ent_coef", "clip_range",
                "normalize", "lstm_hidden_size", "net_arch", "activation", "log_std_init"} <= set(z)
    row = tasks.task("PendulumNoVel-v1")
    assert lb.default_threshold("PendulumNoVel-v1") == row.reference and lb.default_threshold("CartPole-v1") == 475
    b = lb.budgets("PendulumNoVel-v1", ("sb3-rppo", "a3c", "sb3-a2c"), None)
    assert b == {"sb3-rppo": 100_000, "a3c": row.settings["steps"], "sb3-a2c": row.settings["steps"]}
    assert set(lb.budgets("PendulumNoVel-v1", ("sb3-rppo", "a3c"), 5000).values()) == {5000}
    cfg = lb.pyrl_config("a3c", "PendulumNoVel-v1", None, 2, 0, 4096, True, {"lr": 1e-3})
    assert (cfg.gamma, cfg.reward_scale, cfg.rollout) == (row.settings["gamma"], row.settings["reward_scale"],
                                                         row.settings["rollout"])
    assert cfg.lr == 1e-3 and cfg.steps == 4096 and cfg.envs_per_worker == row.settings["envs_per_worker"]
    assert lb.pyrl_config("a3c", "PendulumNoVel-v1", 4, 2, 0, 4096, True, {}).envs_per_worker == 4


def test_recurrent_ppo_needs_rl_zoos_row(runner):
    pytest.importorskip("sb3_contrib")
    result = runner.invoke(cli, ["bench", "learn", "--env", "CartPole-v1", "--methods", "sb3-rppo,a3c"])
    assert result.exit_code == 2 and "RL Zoo's settings" in result.output


@pytest.mark.slow
def test_bench_learn_runs_recurrent_ppo_with_rl_zoos_pendulum_row(runner):
    # RL Zoo's row: 4 envs, 1024 steps each per rollout, gSDE; one rollout here, to the budget
    pytest.importorskip("sb3_contrib")
    args = ["bench", "learn", "--json", "--env", "PendulumNoVel-v1", "--seeds", "1", "--max-steps", "4096",
            "--methods", "sb3-rppo", "--no-stop"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    row = doc["methods"][0]
    assert doc["threshold"] == pytest.approx(-217.933) and row["envs_per_worker"] == 4
    assert row["config"]["use_sde"] is True and row["runs"][0]["steps"] == 4096
    assert row["final_score_median"] is not None and row["final_score_median"] < 0
