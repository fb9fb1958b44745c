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
            "--envs", "4"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "train" and doc["steps"] == 2000 and doc["target_vs_sb3"] == 2.0
    rows = {(r["lib"], r["method"], r["workers"]): r for r in doc["rows"]}
    assert set(rows) == {("sb3", "a2c", 1), ("pyrl", "a3c", 1), ("pyrl", "a3c", 2)}
    sb3 = rows[("sb3", "a2c", 1)]["sps_median"]
    for r in rows.values():
        assert len(r["sps"]) == 1 and r["sps_median"] > 0
        assert r["vs_sb3"] == pytest.approx(r["sps_median"] / sb3)
    assert rows[("pyrl", "a3c", 2)]["scaling"] == pytest.approx(
        rows[("pyrl", "a3c", 2)]["sps_median"] / rows[("pyrl", "a3c", 1)]["sps_median"])


@pytest.mark.parametrize("args, message", [
    (["--methods", "a3c,ppo"], "--methods"),
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


def test_bench_profile_json_phases_add_up(runner):
    result = runner.invoke(cli, ["bench", "profile", "--json", "--steps", "2000", "--repeats", "1",
                                 "--models", "ff,lngru", "--workers", "2", "--envs", "4"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bench"] == "profile" and [r["model"] for r in doc["rows"]] == ["ff", "lngru"]
    for row in doc["rows"]:
        us = row["us_per_step"]
        assert set(us) == {"act", "env", "advantages", "learn", "step", "sync", "report", "loop"}
        assert all(v >= 0 for v in us.values()) and us["act"] > 0 and us["env"] > 0 and us["learn"] > 0
        assert row["total_us"] == pytest.approx(sum(us.values()))
        # a worker's time per step cannot be less than the run's wall time per step per worker allows
        assert row["total_us"] <= 1e6 * doc["workers"] / row["sps_median"] * 1.01


@pytest.mark.parametrize("args, message", [
    (["--models", "ff,transformer"], "--models"),
    (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["--steps", "10"], "--steps"),
])
def test_bench_profile_bad_usage_exits_2(runner, args, message):
    result = runner.invoke(cli, ["bench", "profile", "--repeats", "1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
