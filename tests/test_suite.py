"""The study over a suite of tasks (issue 23): every task's analysis and the answer across tasks
as one family of claims (pyrl.stats.suite), and `pyrl ablate --env A,B` / `pyrl report` on a
suite directory."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from pyrl.cli import cli
from pyrl.stats import ScoresError
from pyrl.stats import claims as cl
from pyrl.stats.aggregate import BootEstimate
from pyrl.stats.estimators import Estimate, holm
from pyrl.stats.suite import TaskInputs, analyze_suite


def _task(name, rng, mean=100.0, span=50.0, runs=4, shift=0.0, diverge_a3c=False, factors=("rnn", "layernorm"),
          floor=None, reference=None, workers=2):
    """A simulated task: an A3C run is one model its workers share, an individual run W models."""
    samples = []
    for levels in itertools.product([True, False], repeat=len(factors)):
        config = dict(zip(factors, levels))
        for seed in range(runs):
            shared = mean + span * (0.2 * rng.standard_normal() + shift)
            for w in range(workers):
                status = "diverged" if diverge_a3c else "ok"
                samples.append(dict(config=config, method="a3c", seed=seed, worker=w, model=0, status=status,
                                    score=shared + 0.01 * span * rng.standard_normal()))
                samples.append(dict(config=config, method="individual", seed=seed, worker=w, model=w,
                                    score=mean + 0.2 * span * rng.standard_normal()))
    return TaskInputs(name, samples, list(factors), floor=mean - span if floor is None else floor,
                      floor_source="test", reference=mean + 0.2 * span if reference is None else reference,
                      reference_source="test")


def _claim(p_value_est):
    return cl.Claim(kind="gap", measure="score", question="q", statements=("up", "down"), favours=("a", "b"),
                    configs=["c"], methods=["a", "b"], contrast="a - b", est=p_value_est)


def test_holm_over_a_larger_family_is_holm_over_the_union():
    ests = [Estimate(v, 1.0, 10) for v in (3.5, 0.4, 2.6)]
    others = [0.001, 0.2, 0.04, 0.9]
    docs, fam = cl.family([_claim(e) for e in ests], 0.05, others, scope="the suite")
    own = [e.p() for e in ests]
    want = holm(own + others)[:3]
    assert [d["p_adj"] for d in docs] == pytest.approx(want)
    assert fam["tested"] == 7 and "in the suite" in fam["line"]
    # the interval is at the claim's rank in the whole family: the smallest own p ranks 2nd of 7
    first = min(range(3), key=lambda i: own[i])
    assert docs[first]["ci_level"] == pytest.approx(1 - 0.05 / 6)
    # alone, the same claims are judged against a family of 3
    alone, fam_alone = cl.family([_claim(e) for e in ests], 0.05)
    assert [d["p_adj"] for d in alone] == pytest.approx(holm(own)) and fam_alone["tested"] == 3
    assert sum(d["shown"] for d in alone) >= sum(d["shown"] for d in docs)


@pytest.mark.parametrize("distance", [1.5, 3.0, 4.5])  # the estimate's distance from the null, in replicate sds
def test_a_bootstrap_interval_excludes_the_null_exactly_when_p_is_below_its_level(distance):
    # at Holm's strict levels (0.9993 leaves under one replicate of 2000 per tail) too: the interval
    # once came from the extreme replicates there, excluding a null its own p-value kept
    rng = np.random.default_rng(int(10 * distance))
    reps = np.concatenate([[0.5 + 0.02 * distance], 0.5 + 0.02 * distance + 0.02 * rng.standard_normal(1999)])
    e = BootEstimate(reps, n=15, df=12, null=0.5)
    assert e.value == pytest.approx(0.02 * distance)
    p = e.p()
    for level in (0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9993, 0.99999):
        lo, hi = e.ci(level)
        if abs(p - (1 - level)) > 0.2 * (1 - level):  # away from the edge, where replicates are discrete
            assert (lo > 0) == (p < 1 - level), (level, p, lo, hi)
        assert lo < e.value < hi
    assert BootEstimate(np.full(10, 0.5), n=15, df=12, null=0.5).p() is None  # nothing varies: no test


def test_the_suite_is_one_family_over_every_task_and_the_answer_across_them():
    rng = np.random.default_rng(3)
    tasks = [_task("A", rng, shift=0.5), _task("B", rng, mean=-300, span=200, shift=0.5), _task("C", rng, shift=0.5)]
    doc = analyze_suite(tasks, n_boot=500)
    across = doc["across_tasks"]
    assert across["available"] and [t["task"] for t in doc["tasks"]] == ["A", "B", "C"]
    own = [[c["p"] for c in t["answer"]["claims"] if c["p"] is not None] for t in doc["tasks"]]
    mine = [c["p"] for c in across["answer"]["claims"] if c["p"] is not None]
    union = [p for ps in own for p in ps] + mine
    assert doc["family"]["tested"] == len(union) == across["answer"]["family"]["tested"]
    for t in doc["tasks"]:
        assert t["answer"]["family"]["tested"] == len(union) and "suite's family" in t["answer"]["family"]["line"]
    adjusted = holm(union)
    assert [c["p_adj"] for c in across["answer"]["claims"] if c["p"] is not None] == pytest.approx(adjusted[-len(mine):])
    kinds = {(c["kind"], c["measure"]) for c in across["answer"]["claims"]}
    assert kinds == {("gap", "normalised IQM"), ("gap", "P(improvement)"), ("change", "normalised IQM"),
                     ("interaction", "normalised IQM")}
    # a real gap on every task (0.5 task sd): the averaged contrast is found, on A3C's side
    avg = [c for c in across["answer"]["claims"] if c["configs"] == ["all configurations"]]
    assert len(avg) == 2 and all(c["shown"] and c["favours"] == "a3c" for c in avg)
    assert doc["family"]["shown"] == across["answer"]["family"]["shown"] + sum(
        t["answer"]["family"]["shown"] for t in doc["tasks"])
    # normalisation: 0 is the task's random policy, 1 its reference; profiles per cell
    assert across["normalisation"]["B"] == {"random": -500.0, "random_source": "test", "reference": -260.0,
                                            "reference_source": "test"}
    assert len(across["profiles"]) == 8 and len(across["cells"]) == 8
    for c in across["answer"]["claims"]:  # a probability's intervals stay within [0, 1]
        if c["scale"] == "probability":
            assert 0 <= c["ci95"][0] <= c["estimate"] <= c["ci95"][1] <= 1 and 0 <= c["ci"][0] <= c["ci"][1] <= 1
    json.dumps(doc, allow_nan=False)


def test_a_task_alone_and_in_a_suite_differ_only_by_the_family():
    from pyrl.stats import analyze

    rng = np.random.default_rng(4)
    tasks = [_task("A", rng, shift=0.4), _task("B", rng, shift=0.4)]
    doc = analyze_suite(tasks, n_boot=200)
    alone = analyze(tasks[0].samples, tasks[0].factors, floor=tasks[0].floor)
    in_suite = doc["tasks"][0]
    assert [c["p"] for c in in_suite["answer"]["claims"]] == [c["p"] for c in alone["answer"]["claims"]]
    assert in_suite["cells"] == alone["cells"]  # the family changes verdicts and design figures, not the data
    assert all(s["p_adj"] >= a["p_adj"] for s, a in zip(in_suite["answer"]["claims"], alone["answer"]["claims"])
               if a["p_adj"] is not None)


def test_a_task_where_every_a3c_learner_diverged_still_counts():
    rng = np.random.default_rng(5)
    tasks = [_task("A", rng), _task("B", rng, diverge_a3c=True)]
    doc = analyze_suite(tasks, n_boot=300)
    base = next(c for c in doc["across_tasks"]["cells"] if c["config"].startswith("baseline") and c["method"] == "a3c")
    assert base["runs"] == {"A": 4, "B": 4}  # B's diverged runs are data, scored by the floor (0 normalised)
    gaps = [c for c in doc["across_tasks"]["answer"]["claims"] if c["kind"] == "gap"]
    assert all(c["p"] is not None for c in gaps)
    assert all(c["estimate"] < (0 if c["scale"] == "difference" else 0.5) for c in gaps)


def test_too_few_runs_on_a_task_leaves_its_contrasts_untested_with_the_reason():
    rng = np.random.default_rng(6)
    short = _task("B", rng, runs=1)
    doc = analyze_suite([_task("A", rng), short], n_boot=200)
    claims = doc["across_tasks"]["answer"]["claims"]
    assert claims and all(c["p"] is None and "on B" in c["why_not"] for c in claims)


def test_a_task_without_a_reference_says_why_there_is_no_answer_across_tasks():
    rng = np.random.default_rng(7)
    b = _task("B", rng)
    b.reference = None
    doc = analyze_suite([_task("A", rng), b], n_boot=100)
    assert doc["across_tasks"]["available"] is False and "B lacks" in doc["across_tasks"]["why"]


def test_tasks_must_share_their_factors():
    rng = np.random.default_rng(8)
    with pytest.raises(ScoresError, match="share their factors"):
        analyze_suite([_task("A", rng), _task("B", rng, factors=("rnn",))])
    with pytest.raises(ScoresError, match="twice"):
        analyze_suite([_task("A", rng), _task("A", rng)])


# ---- the CLI on real runs

TINY = ["--workers", "1", "--envs-per-worker", "2", "--rollout", "8", "--steps", "1000", "--seeds", "2",
        "--components", "rnn", "--eval-episodes", "2", "--jobs", "2"]


def test_ablate_over_two_envs_makes_a_suite_that_resumes_and_reports(runner, tmp_path):
    out = tmp_path / "suite"
    args = ["ablate", "--env", "CartPoleNoVel-v1,PendulumNoVel-v1", *TINY, "--out", str(out)]
    result = runner.invoke(cli, [*args, "--no-report"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "suite.json").read_text())["envs"] == ["CartPoleNoVel-v1", "PendulumNoVel-v1"]
    for env in ("CartPoleNoVel-v1", "PendulumNoVel-v1"):
        manifest = json.loads((out / env / "sweep.json").read_text())
        assert manifest["config"]["env"] == env and manifest["floor"]["score"] is not None
        assert manifest["reference"]["score"] is not None  # both have rows with reference scores
    # each env took its own row's settings
    cart = json.loads((out / "CartPoleNoVel-v1" / "sweep.json").read_text())["config"]
    pend = json.loads((out / "PendulumNoVel-v1" / "sweep.json").read_text())["config"]
    assert cart["gamma"] != pend["gamma"] or cart["lr"] != pend["lr"]
    again = runner.invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    got = json.loads(again.output)
    assert got["sweep"]["skipped"] == 16 and got["sweep"]["ok"] == 0
    report = got["report"]
    assert [t["task"] for t in report["tasks"]] == ["CartPoleNoVel-v1", "PendulumNoVel-v1"]
    assert report["across_tasks"]["available"] and report["across_tasks"]["answer"]["claims"]
    # pyrl report on the directory: the same document, and the figures
    rep = runner.invoke(cli, ["report", str(out), "--json", "--plots", str(tmp_path / "plots"),
                              "--markdown", str(tmp_path / "r.md")])
    assert rep.exit_code == 0, rep.output
    doc = json.loads(rep.output)
    assert doc["across_tasks"]["answer"]["claims"] == report["across_tasks"]["answer"]["claims"]
    assert (tmp_path / "plots" / "performance_profile_across_tasks.png").stat().st_size > 0
    assert (tmp_path / "plots" / "PendulumNoVel-v1" / "claims.png").exists()
    md = (tmp_path / "r.md").read_text()
    assert "## Across tasks" in md and "# Task: PendulumNoVel-v1" in md
    text = runner.invoke(cli, ["report", str(out)])
    assert text.exit_code == 0 and "Task: CartPoleNoVel-v1" in text.output and "Across tasks" in text.output
    assert doc["family"]["line"] in " ".join(text.output.split())


def test_suite_mistakes_are_one_line_usage_errors(runner, tmp_path):
    out = tmp_path / "s"
    cases = [
        (["ablate", "--env", "CartPole-v1", "--suite", "memory", "--out", str(out)], "not both"),
        (["ablate", "--env", "CartPole-v1,CartPole-v1", "--out", str(out)], "each env once"),
        (["ablate", "--env", "CartPole-v1,NoSuchEnv-v9", *TINY, "--out", str(out)], "NoSuchEnv-v9"),
    ]
    for args, words in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2 and words in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # a suite directory is not reused for other envs, nor for a single-env sweep, and the reverse
    ok = runner.invoke(cli, ["ablate", "--env", "CartPole-v1,Acrobot-v1", *TINY, "--steps", "400", "--seeds", "1",
                             "--methods", "a3c", "--out", str(out), "--no-report"])
    assert ok.exit_code == 0, ok.output
    for args, words in [(["--env", "CartPole-v1,MountainCar-v0"], "other envs"),
                        (["--env", "CartPole-v1"], "holds a suite")]:
        result = runner.invoke(cli, ["ablate", *args, *TINY, "--steps", "400", "--out", str(out)])
        assert result.exit_code == 2 and words in result.output, result.output
    single = tmp_path / "single"
    runner.invoke(cli, ["ablate", "--env", "CartPole-v1", *TINY, "--steps", "400", "--seeds", "1", "--methods", "a3c",
                        "--out", str(single), "--no-report"])
    result = runner.invoke(cli, ["ablate", "--env", "CartPole-v1,Acrobot-v1", *TINY, "--out", str(single)])
    assert result.exit_code == 2 and "single-env sweep" in result.output
    result = runner.invoke(cli, ["report", str(out), "--floor", "3"])
    assert result.exit_code == 2 and "is a suite" in result.output


def test_a_suite_whose_later_env_cannot_resume_is_refused_before_any_run(runner, tmp_path):
    out = tmp_path / "s"
    base = ["ablate", *TINY, "--steps", "400", "--seeds", "1", "--methods", "a3c", "--out", str(out), "--no-report"]
    assert runner.invoke(cli, [*base, "--env", "CartPole-v1,Acrobot-v1"]).exit_code == 0
    # Acrobot's sweep.json now says other settings: the rerun must stop before CartPole trains again
    manifest = out / "Acrobot-v1" / "sweep.json"
    doc = json.loads(manifest.read_text())
    doc["config"]["lr"] = 0.123
    manifest.write_text(json.dumps(doc))
    (out / "CartPole-v1" / "a3c__rnn-on__seed0" / "result.json").unlink()  # would train again
    result = runner.invoke(cli, [*base, "--env", "CartPole-v1,Acrobot-v1"])
    assert result.exit_code == 2 and "Acrobot-v1" in result.output and "lr" in result.output
    assert not (out / "CartPole-v1" / "a3c__rnn-on__seed0" / "result.json").exists()
    (out / "suite.json").write_text("{not json")
    result = runner.invoke(cli, [*base, "--env", "CartPole-v1,Acrobot-v1"])
    assert result.exit_code == 2 and "unreadable" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["ablate", "--preset", "suite", "--env", "CartPole-v1", "--rollout", "100000",
                                 "--out", str(tmp_path / "t")])
    assert result.exit_code == 2 and "less than one rollout" in result.output


def test_a_suite_is_created_under_its_lock(tmp_path):
    # two first starts with other envs: the one that finds the folder locked stops, naming the holder,
    # and writes nothing; the next finds the first's suite.json and is refused for its other envs
    from pyrl.sweep import SweepError, locked, prepare_suite

    out = tmp_path / "s"
    with locked(out):
        with pytest.raises(SweepError, match="in use by another sweep"):
            prepare_suite(out, ["CartPole-v1", "Acrobot-v1"])
    assert not (out / "suite.json").exists()
    prepare_suite(out, ["CartPole-v1", "Acrobot-v1"])
    prepare_suite(out, ["CartPole-v1", "Acrobot-v1"])  # the same suite: resumes
    with pytest.raises(SweepError):
        prepare_suite(out, ["CartPole-v1", "Pendulum-v1"])
    assert json.loads((out / "suite.json").read_text())["envs"] == ["CartPole-v1", "Acrobot-v1"]
