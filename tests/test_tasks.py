"""Per-task defaults (issue 23): an env's row of tuned settings is where `pyrl train` and `pyrl
ablate` start; a flag overrides it; the run records what came from it."""
from __future__ import annotations

import json

from pyrl.cli import cli
from pyrl.cli.ablate import _settings
from pyrl.train import tasks
from pyrl.train.config import TrainConfig

NO_FLAGS = dict(preset=None, env=None, seeds=None, steps=None, workers=None, envs_per_worker=None, rollout=None,
                hidden=None, lr=None, optimizer=None, gamma=None, gae_lambda=None, ent_coef=None, vf_coef=None,
                max_grad_norm=None, score_episodes=None, eval_episodes=None, reward_scale=None, obs_norm=None,
                lr_schedule=None, suite=None, device="cpu", backend="local")


def test_every_row_is_a_valid_configuration_of_a_known_env():
    from pyrl.envs import known_ids

    for env, row in tasks.TASKS.items():
        assert row.env == env and env in known_ids() and set(row.settings) <= set(tasks.OPTIONS)
        TrainConfig(env=env, **row.settings).check()
        assert row.evidence and (row.reference is None or row.reference_source)


def test_train_starts_from_the_row_and_a_flag_overrides_it(runner, tmp_path):
    row = tasks.TASKS["CartPoleNoVel-v1"].settings
    args = ["train", "--env", "CartPoleNoVel-v1", "--workers", "1", "--envs-per-worker", "2", "--steps", "512",
            "--rollout", "8", "--eval-episodes", "0", "--json", "--out"]
    result = runner.invoke(cli, [*args, str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)["config"]
    assert (cfg["gamma"], cfg["gae_lambda"], cfg["lr"]) == (row["gamma"], row["gae_lambda"], row["lr"])
    assert (cfg["rollout"], cfg["steps"], cfg["envs_per_worker"]) == (8, 512, 2)  # the flags given
    assert cfg["extra"]["task_defaults"] == {k: v for k, v in row.items()
                                             if k not in ("rollout", "steps", "envs_per_worker")}
    assert json.loads((tmp_path / "a" / "result.json").read_text())["config"] == cfg
    # the terminal says which values came from the row
    result = runner.invoke(cli, [*args[:-2], "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "CartPoleNoVel-v1 defaults (pyrl.train.tasks): gamma 0.98, gae-lambda 0.8" in result.output
    # an env without a row: the trainer's defaults, nothing recorded
    result = runner.invoke(cli, ["train", "--env", "CartPole-v1", *args[3:], str(tmp_path / "c")])
    cfg = json.loads(result.output)["config"]
    assert cfg["gamma"] == TrainConfig().gamma and cfg["extra"] == {}


def test_ablate_takes_the_row_under_the_presets_sizes_and_the_flags():
    row = tasks.TASKS["CartPoleNoVel-v1"].settings
    s = _settings({"rnn": [True, False]}, ["a3c", "individual"], NO_FLAGS, {})
    assert s["steps"] == 80_000 and s["seeds"] == 5  # the quick preset's sizes
    assert all(s[k] == row[k] for k in ("rollout", "gamma", "gae_lambda", "lr", "hidden"))
    assert "steps" not in s["task_defaults"] and s["task_defaults"]["gamma"] == row["gamma"]
    s = _settings({"rnn": [True, False]}, ["a3c"], dict(NO_FLAGS, gamma=0.9, lr=1e-3), {})
    assert (s["gamma"], s["lr"]) == (0.9, 1e-3) and "gamma" not in s["task_defaults"]
    s = _settings({"lr": [1e-3, 3e-4]}, ["a3c"], NO_FLAGS, {})  # a factor is never a row's value
    assert "lr" not in s and "lr" not in s["task_defaults"]
    s = _settings({"rnn": [True, False]}, ["a3c"], dict(NO_FLAGS, env="CartPole-v1"), {})
    assert s["task_defaults"] == {} and "gamma" not in s


def test_reward_scale_must_be_positive(runner, tmp_path):
    import pytest

    with pytest.raises(ValueError, match="reward_scale must be positive"):
        TrainConfig(reward_scale=0.0).check()
    result = runner.invoke(cli, ["train", "--reward-scale", "0", "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "--reward-scale" in result.output


def test_a_flag_turns_off_what_a_row_turns_on(runner, tmp_path):
    # LunarLander's row normalises observations, Pendulum's decays the lr: --no-obs-norm and
    # --lr-schedule constant win over them, and the run records only what it took from the row
    args = ["--workers", "1", "--envs-per-worker", "2", "--steps", "512", "--rollout", "8", "--eval-episodes", "0",
            "--json", "--out"]
    result = runner.invoke(cli, ["train", "--env", "LunarLanderNoVel-v3", "--no-obs-norm", *args, str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)["config"]
    assert cfg["obs_norm"] is False and "obs_norm" not in cfg["extra"]["task_defaults"]
    assert cfg["reward_scale"] == tasks.TASKS["LunarLanderNoVel-v3"].settings["reward_scale"]
    result = runner.invoke(cli, ["train", "--env", "PendulumNoVel-v1", *args[:-2], "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the terminal wraps the line
    assert "reward-scale 0.01, lr-schedule linear;" in said and "obs-norm" not in said
    result = runner.invoke(cli, ["train", "--env", "PendulumNoVel-v1", "--lr-schedule", "constant", *args,
                                 str(tmp_path / "c")])
    cfg = json.loads(result.output)["config"]
    assert cfg["lr_schedule"] == "constant" and "lr_schedule" not in cfg["extra"]["task_defaults"]


def test_a_sweep_made_before_its_row_changed_says_which_flag_resumes_it(runner, tmp_path):
    out = tmp_path / "p"
    base = ["ablate", "--env", "PendulumNoVel-v1", "--workers", "1", "--envs-per-worker", "2", "--rollout", "8",
            "--steps", "512", "--seeds", "1", "--components", "rnn", "--methods", "a3c", "--eval-episodes", "0",
            "--out", str(out), "--no-report"]
    assert runner.invoke(cli, base).exit_code == 0
    # as a sweep made before the row set lr_schedule: its manifest has no such option
    manifest = out / "sweep.json"
    doc = json.loads(manifest.read_text())
    del doc["config"]["lr_schedule"]
    doc["task_defaults"].pop("lr_schedule")
    manifest.write_text(json.dumps(doc))
    result = runner.invoke(cli, base)
    assert result.exit_code == 2 and "lr_schedule" in result.output
    assert "came from the env's row of tuned settings" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, [*base, "--lr-schedule", "constant"])  # what the older sweep meant
    assert result.exit_code == 0, result.output
    assert json.loads(manifest.read_text())["config"]["lr_schedule"] == "constant"


def test_obs_norm_on_an_image_env_is_refused_before_any_run(runner, tmp_path):
    result = runner.invoke(cli, ["ablate", "--env", "Pong-v5", "--obs-norm", "--components", "rnn", "--seeds", "1",
                                 "--steps", "1000", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "obs_norm normalises vector observations; Pong-v5 has images" in result.output
    assert not list((tmp_path / "p").glob("*/result.json"))
