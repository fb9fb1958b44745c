"""Convergence speed in numbers (issue 13): steps to threshold, normalised AUC, their run-level
CIs in the cell, gap and removal tables; the plain answer; plots whose labels do not overlap."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pyrl import plots
from pyrl import report as rep
from pyrl import results
from pyrl.cli import cli
from pyrl.stats import Sample, analyze
from pyrl.stats.convergence import RunCurve, WorkerCurve, auc_norm, first_reach, run_curve

T, C = "a3c", "individual"


def two_workers(diverged=False):
    # worker steps -> total steps x2; running means over the last k = 2 episodes
    w0 = WorkerCurve(np.array([10.0, 20, 30]), np.array([0.0, 10, 20]), diverged, 25 if diverged else None)
    w1 = WorkerCurve(np.array([15.0, 25]), np.array([4.0, 8]))
    return RunCurve({}, T, 0, 100, 2, {0: w0, 1: w1})


def test_run_curve_by_hand():
    times, values = run_curve(two_workers(), "floor", None)
    # w0 at total steps 20, 40, 60: means 0, 5, 15; w1 at 30, 50: means 4, 6; before its first
    # episode a worker holds its first value
    assert times.tolist() == [0, 20, 30, 40, 50, 60]
    assert values.tolist() == [2, 2, 2, 4.5, 5.5, 10.5]
    assert first_reach(times, values, 5.0) == 50 and first_reach(times, values, 11.0) == math.inf
    # area: 20*2 + 10*2 + 10*2 + 10*4.5 + 10*5.5 + 40*10.5 = 600 over a budget of 100, threshold 5
    assert auc_norm(times, values, 100, 5.0) == pytest.approx(600 / 100 / 5)
    assert auc_norm(times, values, 100, -1.0) is None


def test_a_diverged_learner_drops_to_the_floor_from_where_it_diverged():
    times, values = run_curve(two_workers(diverged=True), "floor", 1.0)
    # w0 diverged at its step 25 (total 50): its curve 0, 5 until 50, then the floor 1
    assert times.tolist() == [0, 20, 30, 40, 50]
    assert values.tolist() == [2, 2, 2, 4.5, (1 + 6) / 2]
    last = run_curve(two_workers(diverged=True), "last", 1.0)[1]
    assert last[-1] == (15 + 6) / 2  # 'last' keeps its last value
    times, excl = run_curve(two_workers(diverged=True), "exclude", 1.0)
    assert times.tolist() == [0, 30, 50] and excl.tolist() == [4, 4, 6]  # w1 alone (total steps: x2 workers)


def curve_study(reach_t, reach_c, budget=1000):
    """One-worker runs: a run jumps from 0 to 100 at its reach step (None: never, ends at 50)."""
    samples, curves = [], []
    for method, reach in ((T, reach_t), (C, reach_c)):
        for seed, r in enumerate(reach):
            final = 100.0 if r is not None else 50.0
            steps = [r / 2, r] if r is not None else [budget / 2, budget]
            rets = [0.0, 100.0] if r is not None else [0.0, 50.0]
            samples.append(Sample({}, method, seed, 0, final))
            curves.append(RunCurve({}, method, seed, budget, 1, {0: WorkerCurve(np.array(steps), np.array(rets))}))
    return samples, curves


def test_cells_gap_and_censoring():
    samples, curves = curve_study([100, 200, 300, 400, 500, 600], [300, 400, 500, None, None, None])
    doc = analyze(samples, [], curves=curves, threshold=90)
    a, c = doc["cells"]
    assert a["steps_to_threshold"] == 350 and a["never_reached"] == 0 and a["n_curves"] == 6
    assert c["steps_to_threshold"] == math.inf  # half the runs never reach it: the median run does not
    assert c["never_reached"] == 3 and c["never_reached_share"] == 0.5
    lo, hi = a["steps_to_threshold_ci95"]
    assert 100 <= lo <= 350 <= hi <= 600
    # AUC: a run at 100 from its reach step r on: (1000 - r) * 100 / 1000 / 90
    assert a["auc_norm"] == pytest.approx(np.mean([(1000 - r) / 900 for r in [100, 200, 300, 400, 500, 600]]))
    cp = doc["comparisons"][0]
    assert cp["auc_norm_diff"] > 0 and cp["auc_norm_diff_ci95"][0] < cp["auc_norm_diff"] < cp["auc_norm_diff_ci95"][1]
    assert "steps_to_threshold_diff" not in cp  # a difference of censored medians has no usable interval
    (claim,) = [c for c in doc["answer"]["claims"] if c["kind"] == "convergence"]
    assert claim["estimate"] == pytest.approx(cp["auc_norm_diff"]) and claim["ci95"] == cp["auc_norm_diff_ci95"]
    assert doc["meta"]["convergence"]["threshold"] == 90 and "set to 90" in doc["meta"]["convergence"]["threshold_rule"]
    json.dumps(_strict(doc), allow_nan=False)


def test_default_threshold_is_a_fraction_of_the_best_cell():
    samples, curves = curve_study([100, 200, 300], [100, 200, 300])
    doc = analyze(samples, [], curves=curves)
    conv = doc["meta"]["convergence"]
    assert conv["threshold"] == pytest.approx(90.0) and conv["threshold_fraction"] == 0.9
    assert "0.9 x the best cell's mean final score (single configuration / a3c: 100)" in conv["threshold_rule"]


def test_removal_rows_carry_the_change():
    s, cvs = [], []
    for rnn, shift in ((True, 0), (False, 300)):
        ss, cc = curve_study([100 + shift, 200 + shift, 300 + shift], [200, 300, 400])
        s += [Sample({"rnn": rnn}, x.method, x.seed, x.worker, x.score) for x in ss]
        cvs += [RunCurve({"rnn": rnn}, r.method, r.seed, r.budget, 1, r.workers) for r in cc]
    doc = analyze(s, ["rnn"], curves=cvs, threshold=90)
    r = next(r for r in doc["removals"] if r["method"] == T)
    base = next(c for c in doc["cells"] if c["method"] == T and c["config"] == {"rnn": True})
    off = next(c for c in doc["cells"] if c["method"] == T and c["config"] == {"rnn": False})
    assert off["steps_to_threshold"] - base["steps_to_threshold"] == 300
    assert r["auc_norm_change"] == pytest.approx(off["auc_norm"] - base["auc_norm"]) and r["auc_norm_change_ci95"]
    title, header, rows = next(t for t in rep.tables(doc) if t[0].startswith("3."))
    assert header[-1] == "AUC change" and rows[0][-1].startswith("-0.")


def test_scores_without_curves_say_convergence_is_not_available(runner, tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("method,seed,worker,score\n" + "".join(f"{m},{i},0,{40 + i + (5 if m == T else 0)}\n"
                                                       for m in (T, C) for i in range(6)))
    result = runner.invoke(cli, ["report", "--scores", str(p)])
    assert result.exit_code == 0, result.output
    assert "9. Convergence speed: not available" in result.output
    assert "no learning curves" in result.output
    doc = json.loads(runner.invoke(cli, ["report", "--scores", str(p), "--json"]).output,
                     parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["meta"]["convergence"]["available"] is False


def _strict(o):
    if isinstance(o, float) and math.isinf(o):
        return "inf" if o > 0 else "-inf"
    if isinstance(o, dict):
        return {k: _strict(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_strict(v) for v in o]
    return o


# --------------------------------------------------------------------------- a results directory


def write_run(root, method, seed, rnn, reach, status="ok"):
    d = root / f"{method}__rnn-{'on' if rnn else 'off'}__seed{seed}"
    d.mkdir(parents=True)
    rows = ["worker,step,episode_return"]
    for w in range(2):
        rows += [f"{w},{s},{100.0 if s >= reach else 10.0}" for s in range(50, 1001, 50)]
    (d / "curve.csv").write_text("\n".join(rows) + "\n")
    (d / "result.json").write_text(json.dumps({
        "status": status, "method": method, "seed": seed, "config": {"rnn": rnn, "steps": 2000, "workers": 2,
                                                                    "score_episodes": 2},
        "workers": [{"worker": w, "status": status, "score": 100.0, "diverged_at": None} for w in range(2)]}))


def test_report_directory_with_curves(runner, tmp_path):
    root = tmp_path / "sweep"
    for rnn in (True, False):
        for seed in range(4):
            write_run(root, T, seed, rnn, 200 + 50 * seed)
            write_run(root, C, seed, rnn, 400 + 100 * seed)
    result = runner.invoke(cli, ["report", str(root), "--json", "--threshold", "90"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    a = next(c for c in doc["cells"] if c["method"] == T and c["config"] == {"rnn": True})
    # each worker reaches 100 at its step `reach`: running mean of 2 episodes >= 90 one episode later
    # (reach + 50), at total steps 2 x that; median over seeds of 2 (reach + 50) for reach 200..350
    assert a["steps_to_threshold"] == np.median([2 * (200 + 50 * s + 50) for s in range(4)])
    assert a["never_reached"] == 0
    never = json.loads(runner.invoke(cli, ["report", str(root), "--json", "--threshold", "150"]).output,
                       parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert never["cells"][0]["steps_to_threshold"] == "inf" and never["cells"][0]["never_reached"] == 4
    plots_dir = tmp_path / "plots"
    text = runner.invoke(cli, ["report", str(root), "--plots", str(plots_dir)]).output
    assert "9. Convergence speed: threshold" in text and "normalised AUC" in text
    assert (plots_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- plots


def _overlaps(artists, renderer) -> list:
    boxes = [a.get_window_extent(renderer) for a in artists if a.get_text()]
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


@pytest.fixture(scope="module")
def eight():
    rng = np.random.default_rng(0)
    comps = ["rnn", "layernorm", "a_longer_component_name"]
    s, cvs = [], []
    for cfg in [(a, b, c) for a in (True, False) for b in (True, False) for c in (True, False)]:
        config = dict(zip(comps, cfg))
        for m in (T, C):
            for seed in range(3):
                reach = int(rng.integers(100, 900))
                s.append(Sample(config, m, seed, 0, float(rng.uniform(20, 100))))
                cvs.append(RunCurve(config, m, seed, 1000, 1, {0: WorkerCurve(np.array([reach, 1000.0]),
                                                                                np.array([10.0, 90.0]))}))
    return s, cvs, analyze(s, comps, curves=cvs)


def test_configuration_labels_do_not_overlap(eight):
    s, cvs, doc = eight
    for fig in (plots.scores_figure(doc, s), plots.cv_figure(doc)):
        fig.canvas.draw()
        ax = fig.axes[0]
        assert len(ax.get_yticklabels()) >= 8
        assert _overlaps(ax.get_yticklabels(), fig.canvas.get_renderer()) == []
        plots._plt().close(fig)


def test_learning_curves_are_small_multiples_with_a_shared_y_axis(eight):
    s, cvs, doc = eight
    fig = plots.curves_figure(cvs, doc)
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 8  # one per configuration
    assert all(len(ax.get_lines()) >= 2 for ax in panels)  # both methods (and the threshold) in each
    assert len({ax.get_ylim() for ax in panels}) == 1  # one y axis for all
    titles = [ax.title for ax in panels]
    assert {t.get_text().replace("\n", " ") for t in titles} == {c["label"] for c in doc["comparisons"]}
    assert _overlaps(titles, fig.canvas.get_renderer()) == []
    plots._plt().close(fig)


def test_an_unreadable_curve_is_left_out_and_said(tmp_path):
    root = tmp_path / "runs"
    write_run(root, T, 0, True, 200)
    write_run(root, C, 0, True, 300)
    (root / f"{C}__rnn-on__seed0" / "curve.csv").write_text("worker,step,episode_return\n0,abc,1\n")
    runs, factors, notes = results.load_runs(root)
    curves = results.curves_from_runs(runs, factors, notes)
    assert [c.method for c in curves] == [T]
    assert any("unreadable curve (ValueError" in n for n in notes)
