"""`pyrl report DIR`: every run of a results directory counted (hand-written result.json
files in the trainer's format; nothing is trained here)."""
from __future__ import annotations

import json

import pytest

from pyrl import results
from pyrl.cli import cli


def write_run(root, method, seed, workers, status="ok", rnn=True, layernorm=True, error=None, factors=None):
    """A result.json as the trainer writes it; ``workers``: [(score, worker status or None)]."""
    name = f"{method}__rnn-{'on' if rnn else 'off'}_layernorm-{'on' if layernorm else 'off'}__seed{seed}"
    d = root / name
    d.mkdir(parents=True)
    ws = []
    for w, (score, wstatus) in enumerate(workers):
        entry = {"worker": w, "score": score, "episodes": 10, "steps": 1000}
        if wstatus is not None:
            entry.update(status=wstatus, diverged_at=500 if wstatus == "diverged" else None)
        ws.append(entry)
    res = {"status": status, "error": error, "method": method, "seed": seed,
           "config": {"rnn": rnn, "layernorm": layernorm, "workers": len(workers)}, "workers": ws,
           "steps": 1000 * len(workers), "wall_s": 1.0}
    if factors is not None:
        res["factors"] = factors
    (d / "result.json").write_text(json.dumps(res))
    return d


def sweep_dir(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "sweep.json").write_text(json.dumps({"components": ["layernorm"], "settings": {},
                                                 "floor": {"score": 30.0, "policy": "uniform random",
                                                           "episodes": 100, "seed": 0}}))
    for ln in (True, False):
        for seed in range(5):
            write_run(root, "a3c", seed, [(50.0 + seed, None), (52.0 + seed, None)], layernorm=ln)
            write_run(root, "individual", seed, [(40.0 + seed, None), (38.0 + seed, None)], layernorm=ln)
    # a3c diverged (old format: no worker status), an individual run with one diverged learner
    # (new format), a failed run
    write_run(root, "a3c", 5, [(90.0, None), (91.0, None)], status="diverged", error="non-finite loss")
    write_run(root, "individual", 5, [(45.0, "ok"), (None, "diverged")], status="diverged")
    write_run(root, "a3c", 6, [(None, None), (None, None)], status="failed", error="worker 1 died (SIGKILL)")
    return root


def test_every_run_is_counted(tmp_path):
    samples, factors, notes, runs = results.samples_from_dir(sweep_dir(tmp_path))
    assert factors == {"layernorm": [True, False]} and len(runs) == 23
    by = {(s.method, s.seed, s.worker): s for s in samples if s.config_dict == {"layernorm": True}}
    assert by[("a3c", 5, 0)].status == "diverged" and by[("a3c", 5, 1)].score == 91.0
    assert by[("individual", 5, 0)].status == "ok" and by[("individual", 5, 1)].status == "diverged"
    assert by[("a3c", 6, 0)].status == "failed"
    assert any("seed6: failed (worker 1 died (SIGKILL)): not a learning outcome" in n for n in notes)


def test_report_json_has_divergence_and_failures(runner, tmp_path):
    root = sweep_dir(tmp_path)
    result = runner.invoke(cli, ["report", str(root), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    a = next(c for c in doc["cells"] if c["method"] == "a3c" and c["config"] == {"layernorm": True})
    i = next(c for c in doc["cells"] if c["method"] == "individual" and c["config"] == {"layernorm": True})
    assert (a["n_diverged"], a["n_learners"], a["n_failed"], a["n_runs"]) == (1, 6, 1, 6)
    assert (i["n_diverged"], i["n_learners"], i["n_failed"]) == (1, 12, 0)
    assert a["worst"] == 30.0  # the diverged run's 90s took the environment's floor from sweep.json
    assert any(f.startswith("Divergence (baseline (layernorm) / a3c): 1 of 6 runs") for f in doc["findings"])
    assert doc["meta"]["diverged_policy"] == "floor"
    assert doc["meta"]["floor"] == {"score": 30.0, "source": "uniform random policy's mean return (sweep.json, "
                                                            "100 episodes)"}
    # --floor overrides it; the floor is the user's, not the lowest score of the cells analysed
    given = json.loads(runner.invoke(cli, ["report", str(root), "--json", "--floor", "20"]).output)
    assert next(c for c in given["cells"] if c["method"] == "a3c" and c["config"] == {"layernorm": True})["worst"] == 20
    assert given["meta"]["floor"] == {"score": 20.0, "source": "--floor"}
    last = json.loads(runner.invoke(cli, ["report", str(root), "--json",
                                          "--diverged", "last"]).output)
    a_last = next(c for c in last["cells"] if c["method"] == "a3c" and c["config"] == {"layernorm": True})
    assert a_last["worst"] == 50.0 and a_last["mean"] > a["mean"]


def test_report_tables_show_divergence_and_n(runner, tmp_path):
    result = runner.invoke(cli, ["report", str(sweep_dir(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Answer\n") and "• n counts runs (one seed each)" in result.output
    assert "workers per run: a3c 2, individual 2" in result.output
    assert "1/6 +1 failed" in result.output  # table 1's diverged column, a3c baseline
    assert "Failed (baseline (layernorm) / a3c): 1 runs failed (seeds 6)" in result.output


def test_a_directory_whose_runs_all_diverged_is_a_report(runner, tmp_path):
    root = tmp_path / "div"
    for m in ("a3c", "individual"):
        for seed in range(2):
            write_run(root, m, seed, [(None, None)], status="diverged", error="non-finite loss")
    result = runner.invoke(cli, ["report", str(root), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert all(c["n_diverged"] == c["n_learners"] == 2 for c in doc["cells"])
    text = runner.invoke(cli, ["report", str(root)]).output
    assert "Divergence (single configuration / a3c): 2 of 2 runs" in text and "no finished runs" not in text


def test_bad_directories_exit_2(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(cli, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no runs (result.json)" in result.output
    assert "Traceback" not in result.output


def _format2(root, factors, runs):
    """A format-2 sweep (pyrl.sweep's sweep.json) with runs [(method, seed, levels, scores, status)]."""
    root.mkdir()
    (root / "sweep.json").write_text(json.dumps({"format": 2, "factors": factors, "methods": ["a3c", "individual"],
                                                 "seeds": 2, "config": {"env": "CartPole-v1"}}))
    for k, (m, seed, levels, workers, status) in enumerate(runs):
        d = root / f"run{k}"
        d.mkdir()
        (d / "result.json").write_text(json.dumps({
            "status": status, "error": None, "method": m, "seed": seed, "factors": levels,
            "config": {"env": "CartPole-v1", "method": m, "seed": seed, **levels},
            "workers": [{"worker": w, "status": ws, "score": sc} for w, (sc, ws) in enumerate(workers)]}))


def test_numeric_levels_and_stopped_workers(tmp_path):
    runs = [(m, s, {"hidden": h}, [(30.0 + h / 64 + s, "ok")] * 2, "ok")
            for m in ("a3c", "individual") for s in range(2) for h in (64, 128)]
    runs.append(("a3c", 2, {"hidden": 64}, [(50.0, "ok"), (None, "stopped")], "failed"))
    _format2(tmp_path / "s", {"hidden": [64, 128]}, runs)
    samples, factors, notes, _ = results.samples_from_dir(tmp_path / "s")
    assert factors == {"hidden": ["64", "128"]}
    assert {s.config_dict["hidden"] for s in samples} == {"64", "128"}
    assert [s.status for s in samples if s.seed == 2] == ["failed", "failed"]
    from pyrl.stats import analyze

    doc = analyze(samples, factors)
    assert [c["label"] for c in doc["comparisons"]] == ["baseline (hidden=64)", "hidden=128"]
    assert doc["cells"][0]["n_failed"] == 1


def test_runs_that_disagree_with_their_sweep_exit_2(runner, tmp_path):
    _format2(tmp_path / "s", {"rnn": [True, False]}, [("a3c", 0, {"rnn": "maybe"}, [(1.0, "ok")], "ok")])
    result = runner.invoke(cli, ["report", str(tmp_path / "s")])
    assert result.exit_code == 2 and "not a cell of this sweep" in result.output
    assert "Traceback" not in result.output
