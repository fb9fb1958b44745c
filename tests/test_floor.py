"""Issue 22: a divergence floor fixed before the analysis, diverging that never helps, and the
trained model as the unit of stability (model column, intra-run correlation)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pyrl.cli import cli
from pyrl.stats import Sample, ScoresError, analyze
from pyrl.stats.estimators import iqr
from pyrl.stats.samples import TrainedModel, read_scores_csv

T, C = "a3c", "individual"


def _study(rng, runs=6, workers=3, rnn=(True, False)):
    """rnn on/off x {a3c, individual}: an a3c run trains one model (its workers score alike), an
    individual run one model per worker; skewed positive scores."""
    s = []
    for on in rnn:
        for seed in range(runs):
            q = rng.gamma(3.0, 30.0)
            s += [Sample({"rnn": on}, T, seed, w, q + rng.normal(0, 3), "ok", 0) for w in range(workers)]
            s += [Sample({"rnn": on}, C, seed, w, rng.gamma(3.0, 30.0), "ok", w) for w in range(workers)]
    return s


def _diverge(samples, method, seed, model):
    """The same study with one learner (the model ``model`` of run ``seed``) diverged: its workers
    keep their scores as their last scores before divergence."""
    return [Sample(s.config, s.method, s.seed, s.worker, s.score, "diverged", s.model)
            if (s.method, s.seed, s.model) == (method, seed, model) else s for s in samples]


def _figures(doc, method):
    """Every figure of the method's baseline cell where higher is better."""
    cell = next(c for c in doc["cells"] if c["config"] == {"rnn": True} and c["method"] == method)
    m = cell["models"]
    return {"mean": cell["mean"], "mean of runs": cell["mean_of_runs"], "worst": cell["worst"],
            "cvar10": cell["cvar10"], "iqm": cell["iqm"], "median": cell["median"], "models mean": m["mean"],
            "models cvar10": m["cvar10"], "models worst": m["worst"]}


@pytest.mark.parametrize("case", range(24))
def test_diverging_never_moves_a_figure_in_the_diverging_methods_favour(case):
    rng = np.random.default_rng(case)
    samples = _study(rng)
    floor = float(rng.uniform(0, 150))  # anywhere, even above some learners' scores
    method = (T, C)[case % 2]
    seed, model = int(rng.integers(6)), 0 if method == T else int(rng.integers(3))
    before = analyze(samples, ["rnn"], floor=floor)
    after = analyze(_diverge(samples, method, seed, model), ["rnn"], floor=floor)
    fb, fa = _figures(before, method), _figures(after, method)
    for k in fb:
        assert fa[k] <= fb[k] + 1e-9, k
    gb, ga = before["comparisons"][0]["gap"], after["comparisons"][0]["gap"]
    assert (ga <= gb + 1e-9) if method == T else (ga >= gb - 1e-9)
    # dispersion across trained models is over the models that did not diverge, by definition: the same
    # as leaving that model out (beside a divergence rate that rose)
    cell = next(c for c in after["cells"] if c["config"] == {"rnn": True} and c["method"] == method)
    live = {}
    for s in samples:
        if s.config_dict == {"rnn": True} and s.method == method and (s.seed, s.model) != (seed, model):
            live.setdefault((s.seed, s.model), []).append(s.score)
    scores = np.array([np.mean(v) for v in live.values()])
    assert cell["models"]["cv"] == pytest.approx(scores.std(ddof=1) / scores.mean())
    assert cell["models"]["iqr"] == pytest.approx(iqr(scores))
    assert cell["models"]["n_diverged"] == 1 and cell["n_diverged"] == 1


def test_adding_cells_never_changes_another_cells_numbers():
    # the case: an a3c run diverged after reaching 430; the no-rnn cells score far lower
    rng = np.random.default_rng(3)
    base = [Sample({"rnn": True}, T, 0, w, 430.0, "diverged", 0) for w in range(2)]
    for seed in range(1, 6):
        q = 380 + 10 * seed
        base += [Sample({"rnn": True}, T, seed, w, q + w, "ok", 0) for w in range(2)]
        base += [Sample({"rnn": True}, C, seed - 1, w, 300 + 20 * rng.random(), "ok", w) for w in range(2)]
    no_rnn = [Sample({"rnn": False}, m, seed, w, 9.1 + seed + w, "ok", 0 if m == T else w)
              for m in (T, C) for seed in range(5) for w in range(2)]
    for floor in (22.0, None):  # a fixed floor, or none (each learner's own score): both independent of the cells
        alone = analyze(base, ["rnn"], floor=floor)
        both = analyze(base + no_rnn, ["rnn"], floor=floor)
        ca, cb = alone["comparisons"][0], both["comparisons"][0]
        assert ca["label"] == cb["label"] == "baseline (rnn)"
        for k in ("gap", "gap_ci95", "welch_p", "mean_treatment", "worst_treatment", "cv_treatment"):
            assert ca[k] == cb[k], k
        verdicts = ("stability_winner", "stability_claim_shown")  # shown or not: the family's size decides
        assert {k: v for k, v in ca["models"].items() if k not in verdicts} == \
            {k: v for k, v in cb["models"].items() if k not in verdicts}
        cells = lambda d: [c for c in d["cells"] if c["config"] == {"rnn": True}]  # noqa: E731
        assert json.dumps(cells(alone)) == json.dumps(cells(both))
    assert analyze(base + no_rnn, ["rnn"], floor=22.0)["cells"][0]["worst"] == 22.0


def test_stability_is_measured_across_trained_models_with_the_intra_run_correlation():
    rng = np.random.default_rng(0)
    doc = analyze(_study(rng, runs=8), ["rnn"])
    icc = doc["models"]["intra_run_correlation"]
    assert icc[T]["icc"] > 0.9 and abs(icc[C]["icc"]) < 0.3 and icc[T]["runs"] == 16
    assert "mostly episode noise" in doc["models"]["line"] and not doc["models"]["assumed"]
    a3c = next(c for c in doc["cells"] if c["config"] == {"rnn": True} and c["method"] == T)
    ind = next(c for c in doc["cells"] if c["config"] == {"rnn": True} and c["method"] == C)
    assert a3c["models"]["n_models"] == 8 and ind["models"]["n_models"] == 24
    claim = next(c for c in doc["answer"]["claims"] if c["kind"] == "stability" and c["configs"] == ["baseline (rnn)"])
    assert claim["measure"] == "CV of models" and claim["estimate"] == pytest.approx(
        a3c["models"]["cv"] / ind["models"]["cv"])
    # evaluations, when given, are what a model is scored by, and its rollouts give the dispersion across rollouts
    models = [TrainedModel({"rnn": on}, m, seed, k, 100.0 + seed + k, "ok", "evaluation", (90.0 + k, 110.0 + k + seed))
              for on in (True, False) for m in (T, C) for seed in range(8) for k in range(1 if m == T else 3)]
    doc = analyze(_study(rng, runs=8), ["rnn"], models=models)
    cell = next(c for c in doc["cells"] if c["config"] == {"rnn": True} and c["method"] == C)
    assert cell["models"]["source"] == "evaluation" and cell["models"]["n_models"] == 24
    assert cell["models"]["mean"] == pytest.approx(np.mean([100 + s + k for s in range(8) for k in range(3)]))
    assert cell["models"]["rollout_sd"] == pytest.approx(np.median([np.std([90 + k, 110 + k + s], ddof=1)
                                                                     for s in range(8) for k in range(3)]))


def test_without_a_model_column_every_row_is_its_own_model_and_the_report_says_so():
    s = [Sample({}, m, seed, w, 50.0 + seed + w) for m in (T, C) for seed in range(5) for w in range(2)]
    doc = analyze(s, [])
    assert doc["models"]["assumed"] and doc["cells"][0]["models"]["n_models"] == 10
    assert any(f.startswith("Note: trained models assumed") for f in doc["findings"])


def test_scores_csv_model_and_floor_columns(tmp_path, runner):
    p = tmp_path / "s.csv"
    rows = ["method,seed,worker,model,score,status,floor"]
    for seed in range(5):
        rows += [f"a3c,{seed},{w},0,{60 + seed + w},ok,20" for w in range(2)]
        rows += [f"individual,{seed},{w},{w},{40 + 3 * seed + w},ok,20" for w in range(2)]
    rows += ["a3c,5,0,0,400,diverged,20", "a3c,5,1,0,400,diverged,20"]
    p.write_text("\n".join(rows) + "\n")
    got = read_scores_csv(p)
    assert got.floor == 20.0 and got.factors == [] and {s.model for s in got.samples if s.method == T} == {0}
    res = runner.invoke(cli, ["report", "--scores", str(p), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    a3c = doc["cells"][0]
    assert a3c["models"]["n_models"] == 6 and a3c["worst"] == 20.0 and not doc["models"]["assumed"]
    assert doc["meta"]["floor"] == {"score": 20.0, "source": "the scores' floor column"}
    doc = json.loads(runner.invoke(cli, ["report", "--scores", str(p), "--json", "--floor", "5"]).output)
    assert doc["cells"][0]["worst"] == 5.0 and doc["meta"]["floor"]["source"] == "--floor"
    # one floor per file, a number; a model is an integer
    p.write_text("method,seed,worker,score,floor\na3c,0,0,1,2\nindividual,0,0,1,3\n")
    with pytest.raises(ScoresError, match="the floor must be one value for the whole file"):
        read_scores_csv(p)
    p.write_text("method,seed,worker,score,floor\na3c,0,0,1,x\nindividual,0,0,1,3\n")
    with pytest.raises(ScoresError, match="line 2: floor 'x' is not a number"):
        read_scores_csv(p)
    p.write_text("method,seed,worker,score,model\na3c,0,0,1,one\nindividual,0,0,1,0\n")
    with pytest.raises(ScoresError, match="line 2: model 'one' is not an integer"):
        read_scores_csv(p)
    res = runner.invoke(cli, ["report", "--scores", str(p), "--floor", "nan"])
    assert res.exit_code == 2 and "--floor" in res.output
