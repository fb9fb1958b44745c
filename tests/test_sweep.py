"""Sweeps: the grid, the results directory, resume after SIGKILL, and the Ray backend.

The end-to-end tests train real (tiny) runs on CartPole with real worker processes.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pyrl import sweep as sw
from pyrl.cli import cli

TINY = ["--env", "CartPole-v1", "--steps", "400", "--workers", "1", "--envs-per-worker", "2",
        "--rollout", "10", "--hidden", "16"]


def _ctrl_c_default():
    """In the child, before exec: SIGINT back to its default, as in a terminal's foreground job.
    A test run from a background job (``cmd &``) inherits SIGINT ignored, and Python then
    never installs its Ctrl-C handler: the Ctrl-C these tests send would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def settings(**over):
    # what `pyrl ablate *TINY` resolves: the quick preset (the CLI's default) under TINY's options
    s = dict(sw.PRESETS["quick"], components=["rnn", "layernorm"], methods=["a3c", "individual"], seeds=3,
             env="CartPole-v1", steps=400, workers=1, envs_per_worker=2, rollout=10, hidden=16)
    s.update(over)
    return s



def test_grid_is_the_full_factorial_with_the_neither_cell():
    specs = sw.grid(settings())
    assert len(specs) == 4 * 2 * 3
    assert len({s.run_id for s in specs}) == len(specs)
    combos = {tuple(sorted(s.factors.items())) for s in specs}
    assert (("layernorm", False), ("rnn", False)) in combos and len(combos) == 4
    for s in specs:
        assert s.train_kwargs["rnn"] == s.factors["rnn"]
        assert s.train_kwargs["method"] == s.method and s.train_kwargs["seed"] == s.seed


def test_one_configuration_grid():
    specs = sw.grid(settings(components=[], seeds=2, rnn=True, norm="none"))
    assert len(specs) == 4 and all(s.train_kwargs["rnn"] is True for s in specs)


def test_other_settings_into_the_same_directory_are_refused(tmp_path):
    sw.prepare(tmp_path, settings())
    sw.prepare(tmp_path, settings())  # the same sweep: fine (a resume)
    with pytest.raises(sw.SweepError, match="other settings.*steps"):
        sw.prepare(tmp_path, settings(steps=800))


def test_ablate_end_to_end_then_rerun_skips_everything(runner, tmp_path):
    out = tmp_path / "sweep"
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["sweep"]["runs"] == 8 and doc["sweep"]["ok"] == 8
    dirs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(dirs) == 8 and "a3c__rnn-off_layernorm-off__seed0" in dirs
    for d in dirs:
        res = json.loads((out / d / "result.json").read_text())
        assert res["status"] == "ok" and len(res["workers"]) == 1
        assert [m["eval"]["episodes"] for m in res["models"]] == [res["config"]["eval_episodes"]]
    # the random-policy floor, measured once when the sweep was made
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["floor"]["policy"] == "uniform random" and 10 < manifest["floor"]["score"] < 40
    assert manifest["floor"] == res["floor"]
    report = doc["report"]
    assert {c["method"] for c in report["cells"]} == {"a3c", "individual"}
    assert len({json.dumps(c["config"], sort_keys=True) for c in report["cells"]}) == 4
    plots = tmp_path / "plots"
    rep = runner.invoke(cli, ["report", str(out), "--plots", str(plots), "--markdown", str(tmp_path / "r.md")])
    assert rep.exit_code == 0, rep.output
    for name in ("learning_curves.png", "cv_per_configuration.png", "score_distributions.png", "claims.png",
                 "performance_profile.png"):
        assert (plots / name).read_bytes()[:4] == b"\x89PNG", name
    stamps = {d: (out / d / "result.json").stat().st_mtime_ns for d in dirs}
    # a sweep.json without the floor (made before it was recorded) resumes, and gets it
    del manifest["floor"]
    (out / "sweep.json").write_text(json.dumps(manifest))
    again = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(out), "--json", "--no-report"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["sweep"]["skipped"] == 8
    assert stamps == {d: (out / d / "result.json").stat().st_mtime_ns for d in dirs}
    assert json.loads((out / "sweep.json").read_text()) == dict(manifest, floor=res["floor"])


def test_clashing_rerun_is_refused_with_exit_2(runner, tmp_path):
    sw.prepare(tmp_path, settings(components=["rnn"], methods=["a3c"], seeds=1))
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "other settings" in result.output


def test_sweep_json_holds_the_whole_configuration_and_a_changed_default_is_refused(runner, tmp_path):
    # Options nobody gave (lr, gamma, ...) are in sweep.json too, with the pyrl version: a resume
    # after a default changed must not mix configurations. Simulated by editing the stored lr.
    from pyrl.train.config import TrainConfig

    sw.prepare(tmp_path, settings(seeds=1))
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    fields = set(TrainConfig.__dataclass_fields__) - {"method", "seed", "rnn", "norm"}
    assert set(manifest["config"]) == fields and manifest["config"]["lr"] == TrainConfig().lr
    assert manifest["pyrl"] and manifest["format"] == 2
    assert manifest["factors"] == {"rnn": [True, False], "layernorm": [True, False]}
    manifest["config"]["lr"] = 1e-3
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "other settings (differ: lr (0.001 -> 0.0007))" in " ".join(result.output.split())


def test_a_sweep_made_before_an_option_existed_resumes_at_its_default(tmp_path):
    # eval_episodes and the floor came with issue 22: a sweep.json without them is the same sweep at the
    # option's default; a run of that sweep is still one of its cells. A changed value is still refused.
    from pyrl import results

    sw.prepare(tmp_path, settings(seeds=1))
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    del manifest["config"]["eval_episodes"], manifest["floor"]
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    sw.prepare(tmp_path, settings(seeds=1))
    again = json.loads((tmp_path / "sweep.json").read_text())
    assert again["config"]["eval_episodes"] == 20 and again["floor"]["policy"] == "uniform random"
    assert {k: v for k, v in again.items() if k not in ("config", "floor")} == \
        {k: v for k, v in manifest.items() if k != "config"}
    run = {"_dir": str(tmp_path / "a3c__seed0"), "method": "a3c", "seed": 0,
           "factors": {"rnn": True, "layernorm": True},
           "config": dict(manifest["config"], method="a3c", seed=0, rnn=True, norm="layernorm")}
    results._check_against(run, again, again["factors"])  # an older run: no eval_episodes in its config
    run["config"]["eval_episodes"] = 3
    with pytest.raises(results.ResultsError, match="eval_episodes"):
        results._check_against(run, again, again["factors"])
    with pytest.raises(sw.SweepError, match="eval_episodes"):
        sw.prepare(tmp_path, settings(seeds=1, eval_episodes=3))


def test_an_old_sweep_without_its_configuration_is_not_resumed(runner, tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"components": ["rnn"], "settings": {"seeds": 1}}))
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "older pyrl" in result.output


def test_bad_sweep_arguments_exit_2(runner, tmp_path):
    for args in (["--components", "rnn,bogus"], ["--methods", "a3c,a3c"], ["--steps", "5"],
                 ["--env", "NoSuchEnv-v9"]):
        result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_failed_runs_are_recorded_and_do_not_stop_the_sweep(runner, tmp_path):
    # a learning rate this large makes every run diverge: each is recorded, the sweep completes
    out = tmp_path / "div"
    result = runner.invoke(cli, ["compare", *TINY, "--seeds", "1", "--lr", "1e30", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    statuses = [json.loads(p.read_text())["status"] for p in out.glob("*/result.json")]
    assert len(statuses) == 2 and all(s in ("diverged", "failed") for s in statuses), statuses


def _pool_process_of(pid):
    out = subprocess.run(["ps", "-o", "args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return "spawn_main" in out


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "pyrl", "ablate", *TINY, "--steps", "3000", "--seeds", "1", "--jobs", "1",
           "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_ctrl_c_default)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*/result.json")):
        time.sleep(0.2)
    first = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    assert first, "no run finished within 120 s"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(first) < 8, "the sweep finished before it could be killed"
    # the pool processes die with the driver (PR_SET_PDEATHSIG); give them a moment
    time.sleep(2)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    results = {p.parent.name: p for p in out.glob("*/result.json")}
    assert len(results) == 8
    for name, mtime in first.items():  # finished before the kill: untouched
        assert results[name].stat().st_mtime_ns == mtime
    assert all(json.loads(p.read_text())["status"] == "ok" for p in results.values())


def test_ctrl_c_keeps_finished_runs_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "stopped"
    cmd = [sys.executable, "-m", "pyrl", "ablate", *TINY, "--steps", "40000", "--seeds", "1", "--jobs", "1",
           "--methods", "individual", "--components", "rnn", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_default)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("sweep.json")):
        time.sleep(0.1)
    time.sleep(3)  # the first of the two runs is under way (each trains for seconds)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the driver, the pool and the workers all get it
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
    kept = list(out.glob("*/result.json"))
    assert len(kept) < 2, "the sweep finished before Ctrl-C"
    # a run stopped by Ctrl-C is not finished: only finished runs are marked done
    assert all(json.loads(p.read_text())["status"] == "ok" for p in kept)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    results = list(out.glob("*/result.json"))
    assert len(results) == 2 and all(json.loads(p.read_text())["status"] == "ok" for p in results)


def test_ctrl_c_while_a_run_starts_exits_at_once_and_leaves_nothing(tmp_path):
    # A Ctrl-C while the pool process starts (imports, the fork server) used to print its
    # traceback, or be lost so that the run trained to its end while the driver waited.
    from test_train import _wait_until_gone

    out = tmp_path / "early"
    cmd = [sys.executable, "-m", "pyrl", "ablate", *TINY, "--steps", "400000", "--seeds", "1", "--jobs", "1",
           "--methods", "individual", "--components", "rnn", "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_default)
    deadline = time.time() + 120
    while time.time() < deadline and not _pool_process_of(proc.pid):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # the pool process is importing
    _, stderr = proc.communicate(timeout=60)  # a 400k-step run takes minutes: it must not run on
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert _wait_until_gone(proc.pid) == []
    assert not list(out.glob("*/result.json"))


@pytest.mark.slow
def test_ray_backend_on_a_real_local_instance(runner, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        events = []
        results = sw.sweep(settings(components=[], seeds=1, rnn=False, norm="none"), tmp_path / "runs",
                           backend="ray", on_event=lambda e: events.append(e.kind))
        # GPU runs on a cluster without a GPU: a usage error at once, not tasks waiting forever.
        # The driver needs no GPU itself, and sweep.json records the device.
        gpu = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--backend", "ray", "--device", "cuda",
                                  "--out", str(tmp_path / "gpu"), "--no-report"])
    finally:
        ray.shutdown()
    assert len(results) == 2 and all(r["status"] == "ok" for r in results)
    assert events.count("start") == 2 and events.count("done") == 2
    # the driver alone wrote the directory: every run's files are here
    for d in (p for p in (tmp_path / "runs").iterdir() if p.is_dir()):
        assert (d / "result.json").exists() and (d / "curve.csv").exists()
    assert gpu.exit_code == 2 and "the Ray cluster has no GPU" in gpu.output, gpu.output
    assert json.loads((tmp_path / "gpu" / "sweep.json").read_text())["config"]["device"] == "cuda"
    assert not list((tmp_path / "gpu").glob("*/result.json"))


def test_one_method_sweep_reports_what_it_can(runner, tmp_path):
    # `ablate --methods a3c`: the components' effects and the cells, no method comparison
    out = tmp_path / "one"
    result = runner.invoke(cli, ["ablate", *TINY, "--methods", "a3c", "--seeds", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3. Removing a component" in result.output and "8. Per cell" in result.output
    assert "1. Performance" not in result.output  # nothing to compare a3c with
    md = runner.invoke(cli, ["report", str(out), "--markdown", str(tmp_path / "r.md")])
    assert md.exit_code == 0, md.output
    assert "## 8. Per cell" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--device", "gpu"], "unknown device 'gpu'"),
    (["--device", "cuda:1", "--backend", "ray"], "Ray gives each run its own GPU"),
] + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "device 'cuda'")]))
def test_sweep_device_mistakes_exit_2(runner, tmp_path, args, message):
    result = runner.invoke(cli, ["ablate", *TINY, "--out", str(tmp_path / "s"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_device_is_a_sweep_setting(runner, tmp_path):
    out = tmp_path / "cpu"
    result = runner.invoke(cli, ["compare", *TINY, "--seeds", "1", "--methods", "individual", "--device", "cpu",
                                 "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "sweep.json").read_text())["config"]["device"] == "cpu"
    specs = sw.grid(settings(components=["rnn"], seeds=1, device="cuda"))
    assert {s.train_kwargs["device"] for s in specs} == {"cuda"}
    # (the Ray test runs the CLI with --device cuda and reads sweep.json)


def test_a_second_sweep_on_a_directory_in_use_exits_2_and_the_first_completes(tmp_path):
    out = tmp_path / "busy"
    cmd = [sys.executable, "-m", "pyrl", "ablate", *TINY, "--steps", "2000", "--seeds", "1", "--jobs", "1",
           "--components", "rnn", "--out", str(out), "--no-report"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / ".lock").exists():
        time.sleep(0.1)
    time.sleep(0.5)  # the lock is taken right after the file appears
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid} on" in second.stderr and "in use by another sweep" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.poll() is None  # refused at once (flock never waits), while the first still runs
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 4 and not [p for p in out.iterdir() if p.name.startswith((".stage", ".old"))]
    for d in runs:  # each directory holds one run's files, and the result says which run
        res = json.loads((d / "result.json").read_text())
        assert res["run_id"] == d.name and res["status"] == "ok"
        assert (d / "curve.csv").exists() and list(d.glob("model*.pt"))
    # the lock dies with its holder: a rerun (even after a SIGKILL) takes it again
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_failed_runs_are_trained_again_by_a_rerun_and_diverged_ones_are_not(runner, tmp_path, monkeypatch):
    out = tmp_path / "f"
    args = ["compare", *TINY, "--workers", "2", "--steps", "800", "--seeds", "1", "--out", str(out),
            "--json", "--no-report"]
    monkeypatch.setenv("PYRL_TEST_FAIL_AFTER", "1")  # worker 1 of every run raises: a crash
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sweep"]["failed"] == 2
    monkeypatch.delenv("PYRL_TEST_FAIL_AFTER")
    again = runner.invoke(cli, args)
    summary = json.loads(again.output)["sweep"]
    assert summary["retried"] == 2 and summary["ok"] == 2 and summary["skipped"] == 0
    assert all(json.loads(p.read_text())["status"] == "ok" for p in out.glob("*/result.json"))
    # a diverged run is a learning outcome: kept, not trained again
    div = tmp_path / "d"
    first = runner.invoke(cli, ["compare", *TINY, "--seeds", "1", "--lr", "1e30", "--out", str(div), "--json",
                                "--no-report"])
    assert json.loads(first.output)["sweep"]["diverged"] == 2
    rerun = runner.invoke(cli, ["compare", *TINY, "--seeds", "1", "--lr", "1e30", "--out", str(div), "--json",
                                "--no-report"])
    assert json.loads(rerun.output)["sweep"]["skipped"] == 2


def test_results_whose_configuration_differs_from_their_sweep_are_refused(runner, tmp_path):
    from pyrl.results import ResultsError, load_results

    out = tmp_path / "s"
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--components", "rnn", "--methods", "individual",
                                 "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    loaded = load_results(out)
    assert loaded.factors == {"rnn": [True, False]} and len(loaded.runs) == 2
    assert {r["factors"]["rnn"] for r in loaded.runs} == {True, False}
    victim = out / "individual__rnn-off__seed0" / "result.json"
    res = json.loads(victim.read_text())
    res["config"]["gamma"] = 0.9  # as if trained by a rerun after a default changed
    victim.write_text(json.dumps(res))
    swept = json.loads((out / "sweep.json").read_text())["config"]["gamma"]
    with pytest.raises(ResultsError, match=r"individual__rnn-off__seed0: its configuration differs from "
                                            rf"sweep.json \(gamma: 0.9 vs sweep {swept}\)"):
        load_results(out)


@pytest.mark.slow
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1", "nosuchhost.invalid:6379"])
def test_ray_at_a_wrong_address_is_one_line_and_exit_2_within_seconds(runner, tmp_path, address):
    pytest.importorskip("ray")
    t0 = time.time()
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--backend", "ray", "--ray-address", address,
                                 "--out", str(tmp_path / "r"), "--no-report"])
    assert result.exit_code == 2, result.output
    assert f"no Ray cluster at {address}" in result.output and "Traceback" not in result.output
    assert time.time() - t0 < 60  # Ray alone would retry for minutes


@pytest.mark.parametrize("args, message", [
    (["--factor", "norm"], "expected NAME=LEVEL,LEVEL"),
    (["--factor", "norm=none"], "two levels at least"),
    (["--factor", "bogus=a,b"], "unknown factor 'bogus'"),
    (["--factor", "rnn=on,maybe"], "rnn is on/off"),
    (["--factor", "lr=fast,slow"], "lr takes float levels"),
    (["--factor", "norm=none,groupnorm"], "unknown norm 'groupnorm'"),
    (["--factor", "norm=none,rmsnorm", "--factor", "layernorm=on,off"], "both set norm"),
    (["--factor", "rnn=on,off", "--components", "rnn"], "given as a factor and a component"),
])
def test_bad_factors_exit_2(runner, tmp_path, args, message):
    result = runner.invoke(cli, ["ablate", *TINY, "--seeds", "1", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_factor_levels_sweep_the_full_product(runner, tmp_path):
    # issue 14's verification: norm x rnn x method end to end, resumable, with the report
    out = tmp_path / "levels"
    norms = ["none", "layernorm", "rmsnorm", "batchnorm"]
    args = ["ablate", *TINY, "--seeds", "2", "--factor", f"norm={','.join(norms)}", "--factor", "rnn=on,off",
            "--out", str(out), "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["sweep"]["ok"] == 4 * 2 * 2 * 2
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["factors"] == {"norm": norms, "rnn": [True, False]}
    for p in out.glob("*/result.json"):
        res = json.loads(p.read_text())
        assert res["config"]["norm"] == res["factors"]["norm"] and res["config"]["rnn"] == res["factors"]["rnn"]
        assert p.parent.name == f"{res['method']}__norm-{res['factors']['norm']}_rnn-" \
                                f"{'on' if res['factors']['rnn'] else 'off'}__seed{res['seed']}"
    cells = {(c["config"]["norm"], c["config"]["rnn"], c["method"]) for c in doc["report"]["cells"]}
    assert cells == {(n, r, m) for n in norms for r in (True, False) for m in ("a3c", "individual")}
    assert all(c["n_runs"] == 2 for c in doc["report"]["cells"])
    changed = {(r["component"], r.get("level"), r["method"]) for r in doc["report"]["removals"]}
    assert {("norm", n, m) for n in norms[1:] for m in ("a3c", "individual")} <= changed
    again = runner.invoke(cli, args[:-1] + ["--no-report", "--json"])
    assert json.loads(again.output)["sweep"]["skipped"] == 32
    report = runner.invoke(cli, ["report", str(out)])
    assert report.exit_code == 0 and "norm=rmsnorm" in report.output, report.output


def test_every_training_option_given_to_a_sweep_reaches_its_runs(runner, tmp_path):
    out = tmp_path / "opts"
    result = runner.invoke(cli, ["compare", *TINY, "--seeds", "1", "--methods", "individual", "--gamma", "0.9",
                                 "--gae-lambda", "0.8", "--ent-coef", "0.01", "--vf-coef", "0.25",
                                 "--max-grad-norm", "2", "--score-episodes", "3", "--lr", "1e-3",
                                 "--optimizer", "rmsprop", "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    want = dict(gamma=0.9, gae_lambda=0.8, ent_coef=0.01, vf_coef=0.25, max_grad_norm=2.0, score_episodes=3,
                lr=1e-3, optimizer="rmsprop", rollout=10, hidden=16, steps=400)
    (res,) = [json.loads(p.read_text()) for p in out.glob("*/result.json")]
    assert {k: res["config"][k] for k in want} == want
    assert {k: json.loads((out / "sweep.json").read_text())["config"][k] for k in want} == want
