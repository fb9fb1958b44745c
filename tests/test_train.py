"""Trainers: real worker processes, real envpool envs, tiny budgets."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import gymnasium
import pytest
import torch

from pyrl.cli import cli
from pyrl.train.config import TrainConfig
from pyrl.train.run import train
from pyrl.train.evaluate import evaluate_model
from pyrl.train.worker import build_model, eval_seed, model_seed


# The trainer tests that matter on a GPU run on every device this machine has (scripts/gpu-check
# runs them on one); elsewhere the cuda cases skip, saying why.
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu-check)")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def _ctrl_c_default():
    """In the child, before exec: SIGINT back to its default, as in a terminal's foreground job.
    A test run from a background job (``cmd &``) inherits SIGINT ignored, and Python then
    never installs its Ctrl-C handler: the Ctrl-C these tests send would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cfg(**over):
    c = dict(env="CartPole-v1", workers=1, envs_per_worker=4, steps=1600, rollout=10, hidden=16, seed=3)
    c.update(over)
    return TrainConfig(**c)


def load(path):
    return torch.load(path, weights_only=True)


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", [dict(rnn=False, norm="none"), dict(rnn=True, norm="layernorm"),
                                  dict(rnn=True, norm="layernorm", separate_critic=False)])
def test_one_worker_a3c_equals_individual(tmp_path, arch, device):
    ra = train(cfg(method="a3c", device=device, **arch), tmp_path / "a3c")
    ri = train(cfg(method="individual", device=device, **arch), tmp_path / "ind")
    assert ra["status"] == ri["status"] == "ok"
    a, i = load(tmp_path / "a3c" / "model.pt"), load(tmp_path / "ind" / "model_w0.pt")
    assert_same_params(a, i)
    fresh = train(cfg(method="individual", steps=40, rollout=10, envs_per_worker=4, device=device, **arch), None)
    assert fresh["status"] == "ok"
    assert ra["workers"][0]["score"] == ri["workers"][0]["score"]
    # one model, the same evaluation episodes (the eval seed is the seed's, not the method's)
    assert ra["models"][0]["eval"]["returns"] == ri["models"][0]["eval"]["returns"]


@pytest.mark.parametrize("device", DEVICES)
def test_individual_is_reproducible_and_seed_matters(tmp_path, device):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert train(cfg(method="individual", workers=2, seed=seed, device=device), tmp_path / name)["status"] == "ok"
    for w in (0, 1):
        assert_same_params(load(tmp_path / "a" / f"model_w{w}.pt"), load(tmp_path / "b" / f"model_w{w}.pt"))
    a, c = load(tmp_path / "a" / "model_w0.pt"), load(tmp_path / "c" / "model_w0.pt")
    assert any(not torch.equal(a[k], c[k]) for k in a)
    # the two workers of one run are different learners (own seeds, own models)
    w0, w1 = load(tmp_path / "a" / "model_w0.pt"), load(tmp_path / "a" / "model_w1.pt")
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)


@pytest.mark.parametrize("device", DEVICES)
def test_a3c_two_workers_writes_a_complete_run(tmp_path, device):
    shm_before = _shm()
    out = tmp_path / "run"
    c = cfg(method="a3c", workers=2, steps=8000, envs_per_worker=4, device=device)
    res = train(c, out)
    assert res["status"] == "ok" and res["error"] is None
    assert [w["worker"] for w in res["workers"]] == [0, 1]
    assert res["steps"] == 8000 and res["sps"] > 0
    assert all(w["episodes"] > 0 and w["score"] > 0 for w in res["workers"])
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["score_mean"] == pytest.approx(res["score_mean"])
    lines = (out / "curve.csv").read_text().splitlines()
    assert lines[0] == "worker,step,episode_return" and len(lines) - 1 == sum(w["episodes"] for w in res["workers"])
    model = load(out / "model.pt")
    assert "policy.weight" in model and not list(out.glob("model_w*.pt"))
    assert all(t.device.type == "cpu" for t in model.values())  # loads on a machine without a GPU
    # The workers stepped the one global model (shared memory, or CUDA IPC on a GPU): the
    # parent's copy, which it saved, moved away from the initialisation in every tensor.
    init = build_model(c, (4,), gymnasium.spaces.Discrete(2), model_seed(c, 0)).state_dict()
    assert [k for k in init if torch.equal(init[k], model[k])] == []
    assert multiprocessing.active_children() == []
    assert _shm() - shm_before == set()  # nothing shared (CUDA IPC's use counts too) is left


def test_worker_exception_fails_the_run_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRL_TEST_FAIL_AFTER", "2")
    t0 = time.time()
    res = train(cfg(method="a3c", workers=2, steps=80_000), tmp_path / "f")
    assert res["status"] == "failed"
    assert "worker 1" in res["error"] and "injected failure" in res["error"]
    assert time.time() - t0 < 60
    assert multiprocessing.active_children() == []
    assert json.loads((tmp_path / "f" / "result.json").read_text())["status"] == "failed"


def test_killed_worker_is_detected_within_seconds(tmp_path):
    killed = {}

    def progress(p):
        if not killed:
            child = multiprocessing.active_children()[0]
            killed["pid"], killed["t"] = child.pid, time.time()
            os.kill(child.pid, signal.SIGKILL)

    res = train(cfg(method="individual", workers=2, steps=400_000), tmp_path / "k", progress=progress)
    assert res["status"] == "failed" and "killed by signal 9" in res["error"], res["error"]
    assert time.time() - killed["t"] < 10
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("device", DEVICES)
def test_huge_learning_rate_diverges(tmp_path, device):
    res = train(cfg(method="a3c", workers=2, lr=1e30, steps=20_000, device=device), tmp_path / "d")
    assert res["status"] == "diverged", res
    assert "non-finite" in res["error"]


@pytest.mark.parametrize("device", DEVICES)
def test_recurrent_training_pass_matches_acting(tmp_path, device):
    # The values and log-probs recomputed over the rollout by the fused sequence op (with the
    # rollout engine's reset mask) equal those computed step by step while acting.
    from pyrl.envs import make
    from pyrl.rollout import RolloutStore, collect

    c = cfg(rnn=True, norm="layernorm", hidden=32, env="CartPoleNoVel-v1", envs_per_worker=6, rollout=40)
    env = make(c.env, c.envs_per_worker, seed=1)
    model = build_model(c, env.observation_space.shape, env.action_space, 0).to(device)
    store = RolloutStore.for_env(env, c.rollout, device)
    obs, _ = env.reset()
    store.start(obs)
    state = model.initial_state(c.envs_per_worker)
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(3):  # several rollouts, so episodes end inside them and across them
        state0 = state.clone()

        def policy(o, reset):
            nonlocal state
            a, v, lp, state = model.act(o.to(device), state, reset.to(device), generator=gen)
            return a.cpu(), v, lp

        collect(env, policy, store)
        logp, _, values = model.evaluate(store.obs[:-1], state0, store.reset, store.actions)
        torch.testing.assert_close(values.detach(), store.values[:-1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(logp.detach(), store.logprobs, rtol=1e-4, atol=1e-5)
    assert store.reset[1:].any(), "no episode started inside a rollout: the test checks too little"
    env.close()



@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers"),
    (["--steps", "10"], "--steps"),
    (["--lr", "-0.1"], "--lr"),
    (["--optimizer", "sgd"], "--optimizer"),
    (["--env", "NoSuchEnv-v3"], "NoSuchEnv-v3"),
    (["--device", "gpu"], "--device"),
    (["--eval-episodes", "-1"], "--eval-episodes"),
])
def test_train_cli_bad_arguments_exit_2(runner, tmp_path, args, message):
    result = runner.invoke(cli, ["train", "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_train_on_cuda_without_a_gpu_is_a_usage_error(runner, tmp_path, device):
    result = runner.invoke(cli, ["train", "--out", str(tmp_path / "x"), "--device", device])
    assert result.exit_code == 2, result.output
    assert f"device '{device}'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def train_json(runner, out, *args):
    """``pyrl train ... --out OUT --json``, which must succeed; its JSON document."""
    result = runner.invoke(cli, ["train", *args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_box_actions_train_a_gaussian_policy_and_evaluate(runner, tmp_path):
    out = tmp_path / "pendulum"
    doc = train_json(runner, out, "--env", "Pendulum-v1", "--workers", "2", "--envs-per-worker", "2",
                     "--steps", "1600", "--rollout", "10", "--hidden", "16")
    assert doc["status"] == "ok" and doc["steps"] == 1600
    assert all(w["episodes"] == 2 and w["score"] < 0 for w in doc["workers"])  # 200-step episodes, costs
    model = load(out / "model.pt")
    assert model["log_std"].shape == (1,) and model["policy.weight"].shape == (1, 16)
    ev = runner.invoke(cli, ["eval", str(out), "--episodes", "2", "--json"])
    assert ev.exit_code == 0, ev.output
    assert all(len(m["returns"]) == 2 for m in json.loads(ev.output)["models"])


@pytest.mark.parametrize("device", DEVICES)
def test_train_cli_json_then_eval(runner, tmp_path, device):
    # eval runs on the CPU: models trained on a GPU load there too
    out = tmp_path / "run"
    doc = train_json(runner, out, "--method", "individual", "--workers", "2", "--envs-per-worker", "4",
                     "--steps", "2000", "--rollout", "10", "--hidden", "16", "--device", device)
    assert doc["config"]["device"] == device
    assert set(doc) >= {"method", "env", "config", "seed", "steps", "wall_s", "sps", "workers", "score_mean"}
    assert doc["method"] == "individual" and len(doc["workers"]) == 2
    assert set(doc["workers"][0]) >= {"worker", "score", "episodes"}
    ev = runner.invoke(cli, ["eval", str(out), "--episodes", "3", "--json"])
    assert ev.exit_code == 0, ev.output
    models = json.loads(ev.output)["models"]
    assert [m["model"] for m in models] == ["model_w0.pt", "model_w1.pt"]
    assert all(len(m["returns"]) == 3 and m["min"] >= 1 for m in models)
    bad = runner.invoke(cli, ["eval", str(tmp_path)])
    assert bad.exit_code == 2 and "not a pyrl run directory" in bad.output


def test_eval_loads_a_run_saved_before_separate_critic_existed(runner, tmp_path):
    # a run saved by an older pyrl has no separate_critic in its config: it had a shared trunk
    # (nor eval_episodes: the default applies)
    out = tmp_path / "run"
    doc = train_json(runner, out, "--method", "a3c", "--workers", "1", "--envs-per-worker", "4", "--steps", "400",
                     "--hidden", "16", "--shared-critic")
    assert doc["config"]["separate_critic"] is False
    meta = json.loads((out / "model_meta.json").read_text())
    del meta["config"]["separate_critic"], meta["config"]["eval_episodes"]
    (out / "model_meta.json").write_text(json.dumps(meta))
    ev = runner.invoke(cli, ["eval", str(out), "--episodes", "2", "--json"])
    assert ev.exit_code == 0, ev.output


def test_tensorboard_scalars_have_cleanrl_names(runner, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    args = ["train", "--workers", "1", "--envs-per-worker", "2", "--steps", "2000", "--rollout", "10",
            "--hidden", "8", "--out", str(out), "--tensorboard", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"charts/episodic_return", "charts/SPS", "charts/learning_rate", "losses/value_loss",
            "losses/policy_loss", "losses/entropy"} <= tags, tags
    returns = [e.value for e in events.Scalars("charts/episodic_return")]
    assert len(returns) == json.loads(result.output)["workers"][0]["episodes"] and min(returns) >= 1


def test_tensorboard_flag_without_the_package_is_a_usage_error(runner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what `import tensorboard` sees when absent
    result = runner.invoke(cli, ["train", "--steps", "400", "--out", str(tmp_path / "x"), "--tensorboard"])
    assert result.exit_code == 2 and "pip install tensorboard" in result.output


# ---- the process tree: Ctrl-C and a killed parent, seen from outside as a user would ----

def _live_in_session(sid):
    """Pids of the processes of session ``sid`` that still run (zombies excluded)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()  # state ppid pgrp session ...
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(d))
    return pids


def _start_training(out, *extra):
    """``pyrl train`` in its own session (as a shell job), once its workers are training."""
    args = [sys.executable, "-m", "pyrl", "train", "--workers", "2", "--envs-per-worker", "4",
            "--steps", "50000000", "--hidden", "16", "--out", str(out), "--json", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_default)
    deadline = time.time() + 60
    # parent, resource tracker, fork server and two workers
    while len(_live_in_session(proc.pid)) < 5 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(3)  # let the workers finish some updates
    return proc


def _wait_until_gone(sid, timeout=15):
    deadline = time.time() + timeout
    while _live_in_session(sid) and time.time() < deadline:
        time.sleep(0.2)
    return _live_in_session(sid)


def _shm():
    """What multiprocessing (semaphores) and torch (file_system sharing) would leave in /dev/shm."""
    names = os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []
    return {n for n in names if n.startswith(("sem.mp-", "torch_"))}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["individual", "a3c"])
def test_ctrl_c_stops_every_process_and_keeps_what_was_finished(tmp_path, method, device):
    shm_before = _shm()
    out = tmp_path / "run"
    proc = _start_training(out, "--method", method, "--device", device)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C: the whole group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(stdout)
    assert doc["status"] == "interrupted" and doc["steps"] > 0
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["status"] == "interrupted" and on_disk["steps"] == doc["steps"]
    assert sum(w["episodes"] for w in on_disk["workers"]) > 0
    models = ["model_w0.pt", "model_w1.pt"] if method == "individual" else ["model.pt"]
    for name in models:
        assert "policy.weight" in load(out / name)
    assert _wait_until_gone(proc.pid) == []
    assert _shm() - shm_before == set()


@pytest.mark.parametrize("device", DEVICES)
def test_a_killed_parent_leaves_no_process_behind(tmp_path, device):
    shm_before = _shm()
    proc = _start_training(tmp_path / "run", "--method", "a3c", "--device", device)
    proc.kill()  # SIGKILL to the parent alone: nothing can clean up in it
    proc.communicate(timeout=30)
    assert _wait_until_gone(proc.pid) == []
    assert not (tmp_path / "run" / "result.json").exists()  # an unfinished run has no result
    time.sleep(1)  # the resource tracker unlinks what the parent left once the last holder is gone
    assert _shm() - shm_before == set()


def test_a_diverging_individual_learner_stops_alone(tmp_path, monkeypatch):
    # Worker 1's loss turns NaN at its 3rd update (the real detection path); worker 0, an
    # independent learner, finishes its budget, and result.json says which is which.
    monkeypatch.setenv("PYRL_TEST_DIVERGE_AFTER", "2")
    res = train(cfg(method="individual", workers=2, steps=3200, eval_episodes=3), tmp_path / "i")
    assert res["status"] == "diverged" and "worker 1: non-finite loss at update 2" in res["error"]
    w0, w1 = res["workers"]
    assert w0["status"] == "ok" and w0["steps"] == 1600 and w0["diverged_at"] is None
    assert w1["status"] == "diverged" and w1["diverged_at"] == w1["steps"] == 3 * 40
    assert (tmp_path / "i" / "model_w0.pt").exists() and not (tmp_path / "i" / "model_w1.pt").exists()
    on_disk = json.loads((tmp_path / "i" / "result.json").read_text())
    assert [w["status"] for w in on_disk["workers"]] == ["ok", "diverged"]
    # the diverged model (non-finite parameters) is not evaluated; the other one is
    m0, m1 = on_disk["models"]
    assert (m0["model"], m0["status"], m0["eval"]["episodes"]) == (0, "ok", 3)
    assert (m1["model"], m1["status"], m1["eval"]) == (1, "diverged", None)
    # in a3c the workers step one shared learner: its divergence is the whole run's
    res = train(cfg(method="a3c", workers=2, steps=3200, eval_episodes=3), tmp_path / "a")
    assert res["status"] == "diverged"
    assert [w["status"] for w in res["workers"]] == ["diverged", "diverged"]
    assert all(w["diverged_at"] is not None for w in res["workers"])
    assert [(m["status"], m["eval"]) for m in res["models"]] == [("diverged", None)] and res["eval_s"] == 0


def test_train_shows_a_progress_bar_and_each_workers_return(runner, tmp_path):
    result = runner.invoke(cli, ["train", "--env", "CartPole-v1", "--workers", "2", "--envs-per-worker", "2",
                                 "--steps", "4000", "--rollout", "10", "--hidden", "16", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    bar = next(line for line in lines if line.startswith("a3c CartPole-v1"))
    assert "4000/4000 steps" in bar and "ETA" in bar and "steps/s" in bar
    assert any("recent return (last 10)" in line for line in lines)
    assert lines[-1].startswith("ok: score_mean")  # the summary on a line of its own


def test_batchnorm_statistics_live_with_the_model_each_method_steps(tmp_path):
    # individual: each learner's own statistics, absorbed once per update; a3c: the one shared
    # model's, which every worker updates lock-free (a lost update now and then is Hogwild's).
    # The separate critic (the default) has its own BatchNorm, fed by its own features.
    res = train(cfg(method="individual", workers=2, norm="batchnorm"), tmp_path / "i")
    assert res["status"] == "ok"
    updates = 1600 // 2 // (10 * 4)
    for w in (0, 1):
        sd = load(tmp_path / "i" / f"model_w{w}.pt")
        for norm in ("norm", "critic_norm"):
            assert sd[f"{norm}.batches"].item() == updates and sd[f"{norm}.running_mean"].abs().sum() > 0
        assert not torch.equal(sd["norm.running_mean"], sd["critic_norm.running_mean"])
    res = train(cfg(method="a3c", workers=2, norm="batchnorm"), tmp_path / "a")
    assert res["status"] == "ok"
    sd = load(tmp_path / "a" / "model.pt")
    for norm in ("norm", "critic_norm"):
        assert updates < sd[f"{norm}.batches"].item() <= 2 * updates
        assert sd[f"{norm}.running_var"].min() < 0.99  # moved from its initial 1


def test_obs_norm_statistics_live_with_the_model_each_method_steps(tmp_path):
    # individual: each learner merges exactly the observations it learned on (T x N per update,
    # from VecNormalize's count 1e-4); a3c: every worker's into the one shared model, lock-free
    # (a race may lose a merge). The saved statistics are what the evaluation normalised with.
    T, N = 10, 4
    updates = 1600 // 2 // (T * N)
    c = cfg(method="individual", workers=2, obs_norm=True, eval_episodes=3)
    res = train(c, tmp_path / "i")
    assert res["status"] == "ok" and res["config"]["obs_norm"] is True
    means = []
    for w in (0, 1):
        sd = load(tmp_path / "i" / f"model_w{w}.pt")
        assert sd["obs_norm.count"].item() == pytest.approx(updates * T * N + 1e-4)
        assert sd["obs_norm.var"].min() < 0.5  # CartPole's positions and angles: far below 1
        means.append(sd["obs_norm.mean"])
        assert evaluate_model(c, sd, 3, eval_seed(c)) == res["models"][w]["eval"]["returns"]
    assert not torch.equal(*means)  # each learner its own
    c = cfg(method="a3c", workers=2, obs_norm=True, eval_episodes=3)
    res = train(c, tmp_path / "a")
    assert res["status"] == "ok"
    sd = load(tmp_path / "a" / "model.pt")
    assert updates * T * N < sd["obs_norm.count"].item() <= 2 * updates * T * N + 1e-4
    assert evaluate_model(c, sd, 3, eval_seed(c)) == res["models"][0]["eval"]["returns"]
    # a model trained without it evaluates without it
    plain = build_model(cfg(), (4,), gymnasium.spaces.Discrete(2), 0)
    assert plain.obs_norm is None


def test_a_linear_lr_schedule_decays_over_the_learners_own_updates(tmp_path):
    c = cfg(lr=1e-3, lr_schedule="linear", method="a3c", workers=2)
    U = c.updates_per_worker  # 1600 // 2 // 40 = 20 per worker; the shared model takes 2U
    assert (U, c.learner_updates) == (20, 40)
    assert [c.lr_at(k) for k in (0, 10, 20, 40, 41)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 0.0, 0.0])
    assert cfg(lr=1e-3).lr_at(39) == 1e-3  # constant
    with pytest.raises(ValueError, match="unknown lr_schedule 'cosine'"):
        cfg(lr_schedule="cosine").check()
    # an individual learner's last update (its 40th of 40) steps with lr / 40
    res = train(cfg(lr=1e-3, lr_schedule="linear", method="individual", workers=1, steps=1600), tmp_path / "i")
    assert res["status"] == "ok" and res["losses"]["lr"] == pytest.approx(1e-3 / 40)
    # a3c: the schedule runs over the shared model's updates, every worker's. The last report comes
    # from the worker that finished last, whose last update followed its own U - 1 and (nearly) all of
    # the other's: far below lr_at(U - 1), the lr a worker counting only its own updates would end on
    res = train(c, tmp_path / "a")
    assert res["status"] == "ok" and 1e-3 / 40 <= res["losses"]["lr"] <= c.lr_at(30)
    res = train(cfg(lr=1e-3, method="individual"), tmp_path / "c")
    assert res["losses"]["lr"] == 1e-3


def test_obs_norm_on_images_is_a_one_line_usage_error(runner, tmp_path):
    result = runner.invoke(cli, ["train", "--env", "Pong-v5", "--obs-norm", "--steps", "1000", "--out",
                                 str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "obs_norm normalises vector observations; Pong-v5 has images" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p" / "result.json").exists()


def test_every_trained_model_is_evaluated_after_training(tmp_path):
    # a3c: one model (every worker's), evaluated by the parent once the workers are done
    c = cfg(method="a3c", workers=2, steps=1600, eval_episodes=3)
    res = train(c, tmp_path / "a")
    assert res["status"] == "ok"
    assert [w["model"] for w in res["workers"]] == [0, 0]
    (model,) = res["models"]
    assert (model["model"], model["workers"], model["status"]) == (0, [0, 1], "ok")
    ev = model["eval"]
    assert ev["episodes"] == len(ev["returns"]) == 3 and all(r >= 1 for r in ev["returns"])
    assert ev["mean"] == pytest.approx(sum(ev["returns"]) / 3)
    assert ev["seed"] == eval_seed(c) and ev["action"] == "sampled" and ev["seconds"] > 0
    assert res["eval_s"] == ev["seconds"] and 0 < res["eval_s"] < res["wall_s"]
    assert 10 < res["floor"]["score"] < 40 and res["floor"]["policy"] == "uniform random"
    on_disk = json.loads((tmp_path / "a" / "result.json").read_text())
    assert on_disk["models"] == res["models"] and on_disk["floor"] == res["floor"]
    # the saved model is the evaluated one: its evaluation, redone here, gives the same returns
    assert evaluate_model(c, load(tmp_path / "a" / "model.pt"), 3, eval_seed(c)) == ev["returns"]

    # individual: one model per worker, each evaluated by its worker, at the same seed
    c = cfg(method="individual", workers=2, steps=1600, eval_episodes=4)
    res = train(c, tmp_path / "i")
    assert res["status"] == "ok"
    assert [w["model"] for w in res["workers"]] == [0, 1]
    assert [(m["model"], m["workers"], m["status"]) for m in res["models"]] == [(0, [0], "ok"), (1, [1], "ok")]
    evs = [m["eval"] for m in res["models"]]
    assert all(e["episodes"] == len(e["returns"]) == 4 and e["seed"] == eval_seed(c) for e in evs)
    assert res["eval_s"] == max(e["seconds"] for e in evs)
    for w in (0, 1):  # deterministic: the saved model, evaluated in this process, gives the same returns
        assert evaluate_model(c, load(tmp_path / "i" / f"model_w{w}.pt"), 4, eval_seed(c)) == evs[w]["returns"]


@pytest.mark.parametrize("method", ["a3c", "individual"])
def test_no_evaluation_with_eval_episodes_0(tmp_path, method):
    res = train(cfg(method=method, workers=2, steps=800, eval_episodes=0), tmp_path / method)
    assert res["status"] == "ok" and res["eval_s"] == 0
    assert [m["eval"] for m in res["models"]] == [None] * (1 if method == "a3c" else 2)
    assert all(m["status"] == "ok" for m in res["models"])
