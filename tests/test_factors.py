"""Factors with levels (issue 14): the full product, each level against the baseline level,
contributions and interactions per level pair; on/off components stay exactly as they were."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from pyrl import report as rep
from pyrl import results
from pyrl.cli import cli
from pyrl.stats import Sample, ScoresError, analyze, config_label, load_scores_csv

T, C = "a3c", "individual"
FACTORS = {"norm": ["none", "layernorm", "rmsnorm"], "rnn": [True, False]}
T_MEANS = {("none", True): 60, ("layernorm", True): 55, ("rmsnorm", True): 50,
           ("none", False): 45, ("layernorm", False): 42, ("rmsnorm", False): 30}
Q = sps.norm.ppf((np.arange(8) + 0.5) / 8)  # a fixed zero-mean pattern: each cell's mean is exact


def level_samples(skip=()):
    out = []
    for k, ((norm, rnn), mu) in enumerate(T_MEANS.items()):
        if (norm, rnn) in skip:
            continue
        config = {"norm": norm, "rnn": rnn}
        out += [Sample(config, T, 10 * k + i, 0, mu + 5 * q) for i, q in enumerate(Q)]
        out += [Sample(config, C, 10 * k + i, 0, 30 + 5 * q) for i, q in enumerate(Q)]
    return out


@pytest.fixture(scope="module")
def doc():
    return analyze(level_samples(), FACTORS)


def test_labels():
    base = {"norm": "none", "rnn": True}
    assert config_label(base, base) == "baseline (norm=none, rnn)"
    assert config_label({"norm": "rmsnorm", "rnn": True}, base) == "norm=rmsnorm"
    assert config_label({"norm": "rmsnorm", "rnn": False}, base) == "norm=rmsnorm, no rnn"
    # on/off components: as before
    assert config_label({"rnn": True, "layernorm": True}) == "baseline (rnn+layernorm)"
    assert config_label({"rnn": True, "layernorm": False}) == "no layernorm"


def test_cells_cover_the_full_product_baseline_first(doc):
    labels = [c["label"] for c in doc["comparisons"]]
    assert labels == ["baseline (norm=none, rnn)", "no rnn", "norm=layernorm", "norm=layernorm, no rnn",
                      "norm=rmsnorm", "norm=rmsnorm, no rnn"]
    assert doc["comparisons"][0]["config"] == {"norm": "none", "rnn": True}
    assert doc["skipped"] == [] and doc["meta"]["factors"] == FACTORS
    assert doc["meta"]["baseline"] == {"norm": "none", "rnn": True}


def test_each_level_against_the_baseline_level(doc):
    rows = {(r["component"], r["level"], r["method"]): r for r in doc["removals"]}
    assert set(rows) == {(f, lv, m) for f, lv in [("norm", "layernorm"), ("norm", "rmsnorm"), ("rnn", False)]
                         for m in (T, C)}
    assert rows[("norm", "rmsnorm", T)]["mean_change"] == pytest.approx(50 - 60)
    assert rows[("norm", "rmsnorm", T)]["label"] == "norm=rmsnorm"
    assert rows[("rnn", False, T)]["mean_change"] == pytest.approx(45 - 60)
    assert rows[("norm", "layernorm", C)]["mean_change"] == pytest.approx(0.0, abs=1e-9)
    cons = {(c["component"], c["level"]): c for c in doc["contributions"]}
    # gap % at baseline 100 (30 over 30), with rmsnorm 66.7 (20 over 30): 33.3 points
    assert cons[("norm", "rmsnorm")]["gap_pct_points"] == pytest.approx(100 - 200 / 3)
    assert cons[("norm", "rmsnorm")]["baseline_level"] == "none"
    suffer = {(s["component"], s["level"]) for s in doc["cv_suffers_more"]}
    assert suffer == {("norm", "layernorm"), ("norm", "rmsnorm"), ("rnn", False)}
    assert any(s["statement"].startswith("Switching norm from none to rmsnorm") for s in doc["cv_suffers_more"])
    (claim,) = [c for c in doc["answer"]["claims"] if c["kind"] == "contribution" and c["level"] == "rmsnorm"]
    assert claim["question"] == "Does norm=none (vs rmsnorm) help a3c more than individual (widen the gap)?"
    assert claim["estimate"] == pytest.approx(30 - 20)  # gap at baseline - gap with rmsnorm


def test_interaction_of_every_level_pair(doc):
    assert doc["interaction"] is None  # the study's single 2x2 needs two two-level factors
    inters = {tuple(i["levels"]): i for i in doc["interactions"]}
    assert set(inters) == {("layernorm", False), ("rmsnorm", False)}
    # (baseline - only rnn off) - (only norm changed - both): gaps 30, 15, 25, 12 and 30, 15, 20, 0
    assert inters[("layernorm", False)]["gap"]["value"] == pytest.approx((30 - 15) - (25 - 12))
    assert inters[("rmsnorm", False)]["gap"]["value"] == pytest.approx((30 - 15) - (20 - 0))
    assert inters[("rmsnorm", False)]["definition"] == (
        "(baseline - 'no rnn') - ('norm=rmsnorm' - 'norm=rmsnorm, no rnn')")
    # main effects: norm ((30-20) + (15-0)) / 2 = 12.5, rnn ((30-15) + (20-0)) / 2 = 17.5 -> margin 8.75;
    # with sd 5 and 8 runs a cell the CI (about +-10) covers 0 and reaches beyond the margin
    g = inters[("rmsnorm", False)]["gap"]
    assert g["margin"] == pytest.approx(8.75)
    assert g["ci95"][0] < -8.75 and 0 < g["ci95"][1] and g["verdict"] == "no evidence of interaction"
    (claim,) = [c for c in doc["answer"]["claims"] if c["kind"] == "interaction" and c["level"] == "rmsnorm"]
    assert claim["estimate"] == pytest.approx(-5.0) and not claim["shown"] and claim["ci95"] == g["ci95"]


def test_two_level_mapping_is_the_component_list():
    rng = np.random.default_rng(3)
    s = [Sample({"rnn": r, "layernorm": ln}, m, seed, w, float(rng.uniform(0, 100)))
         for r in (True, False) for ln in (True, False) for m in (T, C) for seed in range(5) for w in range(2)]
    a = analyze(s, ["rnn", "layernorm"])
    b = analyze(s, {"rnn": [True, False], "layernorm": [True, False]})
    assert json.dumps(a, default=str) == json.dumps(b, default=str)
    assert a["interaction"] is not None and a["interactions"] == [a["interaction"]]


def test_missing_level_cells_are_skipped_and_said():
    d = analyze(level_samples(skip=[("rmsnorm", False)]), FACTORS)
    assert "configuration 'norm=rmsnorm, no rnn' has no samples" in d["skipped"]
    inter = next(i for i in d["interactions"] if i["levels"] == ["rmsnorm", False])
    assert inter["gap"] is None and any("'norm=rmsnorm, no rnn'" in n for n in inter["notes"])


def test_undeclared_levels_raise():
    s = level_samples() + [Sample({"norm": "batchnorm", "rnn": True}, T, 999, 0, 1.0)]
    with pytest.raises(ScoresError, match=r"norm='batchnorm' is not one of the levels \['none', 'layernorm', 'rmsnorm'\]"):
        analyze(s, FACTORS)
    with pytest.raises(ScoresError, match="distinct levels"):
        analyze(level_samples(), {"norm": ["none", "none"], "rnn": [True, False]})


def write_csv(path, rows):
    path.write_text("method,seed,worker,score,norm,rnn\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def csv_rows():
    rows = []
    for k, ((norm, rnn), mu) in enumerate(T_MEANS.items()):
        for i, q in enumerate(Q):
            rows.append([T, 10 * k + i, 0, round(mu + 5 * q, 6), norm, int(rnn)])
            rows.append([C, 10 * k + i, 0, round(30 + 5 * q, 6), norm, int(rnn)])
    return rows


def test_csv_levels_first_seen_is_the_baseline(tmp_path):
    samples, factors = load_scores_csv(write_csv(tmp_path / "s.csv", csv_rows()))
    assert factors == FACTORS  # norm: string levels in the order first seen; rnn: 0/1 -> on/off
    rows = csv_rows()
    rows.sort(key=lambda r: r[4] != "rmsnorm")  # rmsnorm rows first: rmsnorm becomes the baseline
    _, factors = load_scores_csv(write_csv(tmp_path / "t.csv", rows))
    assert factors["norm"][0] == "rmsnorm"


def test_cli_report_of_levels(runner, tmp_path):
    p = write_csv(tmp_path / "s.csv", csv_rows())
    result = runner.invoke(cli, ["report", "--scores", str(p), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["meta"]["factors"] == {"norm": ["none", "layernorm", "rmsnorm"], "rnn": [True, False]}
    text = runner.invoke(cli, ["report", "--scores", str(p)]).output
    assert "baseline (norm=none, rnn)" in text and "norm=rmsnorm x rnn" in text
    table3 = next(t for t in rep.tables(doc) if t[0].startswith("3."))
    assert {r[0] for r in table3[2]} == {"norm=layernorm", "norm=rmsnorm", "no rnn"}


def test_results_directory_with_levels(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "sweep.json").write_text(json.dumps({"format": 2, "factors": {"norm": ["none", "rmsnorm"], "rnn": [True, False]},
                                                 "methods": [T, C], "seeds": 1, "config": {"hidden": 64}}))
    for k, (norm, rnn) in enumerate([("none", True), ("rmsnorm", True), ("none", False), ("rmsnorm", False)]):
        for m in (T, C):
            d = root / f"{m}_{k}"
            d.mkdir()
            (d / "result.json").write_text(json.dumps({
                "status": "ok", "method": m, "seed": 0,
                "config": {"rnn": rnn, "norm": norm, "hidden": 64, "method": m, "seed": 0},
                "factors": {"norm": norm, "rnn": rnn}, "workers": [{"worker": 0, "status": "ok", "score": 10.0 + k}]}))
    samples, factors, notes, runs = results.samples_from_dir(root)
    assert factors == {"norm": ["none", "rmsnorm"], "rnn": [True, False]} and len(samples) == 8
    assert {s.config_dict["norm"] for s in samples} == {"none", "rmsnorm"}
    d = analyze(samples, factors)
    assert d["interaction"] is not None and d["interaction"]["levels"] == ["rmsnorm", False]


def test_the_answer_says_what_each_change_does_run_by_run(doc):
    # T: rnn off costs 15 (60 -> 45, sd 5 over 8 runs: shown); rmsnorm costs 10 (shown);
    # C scores 30 in every cell (its change is 0: not shown)
    changes = {(c["component"], c["level"], c["methods"][0]): c for c in doc["answer"]["claims"]
               if c["kind"] == "change" and c["measure"] == "score"}
    assert set(changes) == {(f, lv, m) for f, lv in [("norm", "layernorm"), ("norm", "rmsnorm"), ("rnn", False)]
                            for m in (T, C)}
    rnn = changes[("rnn", False, T)]
    assert rnn["shown"] and rnn["estimate"] == pytest.approx(-15.0) and rnn["statement"] == "Removing rnn lowers a3c's score"
    assert not changes[("rnn", False, C)]["shown"] and changes[("norm", "rmsnorm", T)]["shown"]
    assert any(line.startswith("Removing rnn lowers a3c's score: -15") for line in doc["answer"]["lines"])
    rows = {(r["component"], r["level"], r["method"]): r for r in doc["removals"]}
    assert rows[("rnn", False, T)]["mean_change_p"] < 0.05 < rows[("rnn", False, C)]["mean_change_p"]


def test_the_answer_names_the_levels_it_contrasts(doc):
    questions = "\n".join(c["question"] for c in doc["answer"]["claims"])
    for level in ("layernorm", "rmsnorm"):
        assert f"Do norm={level} instead of none and removing rnn interact on the gap?" in questions
        assert f"Whose stability (CV across trained models) suffers more from norm={level} instead of none?" in questions


def test_a_cell_whose_scores_are_all_equal_is_reported_not_a_crash():
    # a CV of 0 (every run of a cell scored the same, as tiny runs can) has no ratio of CV
    # ratios: the report says so instead of dividing by zero (seen in a real 400-step sweep)
    samples = [s if (dict(s.config)["norm"], dict(s.config)["rnn"], s.method) != ("layernorm", True, C)
               else Sample(s.config, s.method, s.seed, s.worker, 30.0) for s in level_samples()]
    out = analyze(samples, FACTORS)
    row = next(r for r in out["cv_suffers_more"] if r["level"] == "layernorm")
    assert row["relative"] is None and "CV of 0" in row["statement"]
    assert rep.markdown(out)  # and the whole report renders
