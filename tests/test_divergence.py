"""Every run counted: diverged learners by a stated policy, failed runs listed, and the
report's wording (interaction verdict, share of the gap, numbering, what n counts)."""
from __future__ import annotations

import json
import re
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrl import report as rep
from pyrl.stats import Sample, ScoresError, analyze, load_scores_csv, wilson_ci

T, C = "a3c", "individual"


def run(method, seed, scores, status="ok", config=None):
    """One run's samples; ``status`` one for all workers or a list per worker."""
    statuses = [status] * len(scores) if isinstance(status, str) else status
    return [Sample(config or {}, method, seed, w, s, st_) for w, (s, st_) in enumerate(zip(scores, statuses))]


def strict_json(doc):
    def walk(o):
        if isinstance(o, float) and math.isinf(o):
            return "inf"
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o
    return json.dumps(walk(doc), allow_nan=False)


# --------------------------------------------------------------------------- the policy


def _diverging_study():
    """Both methods: the same 10 ok runs (one worker each). a3c also has 4 runs that
    diverged late, after scoring 90 (higher than any ok run)."""
    ok = np.linspace(40, 60, 10)
    s = []
    for i, v in enumerate(ok):
        s += run(T, i, [v]) + run(C, i, [v])
    for i in range(10, 14):
        s += run(T, i, [90.0], "diverged")
    return s


def test_default_floor_does_not_favour_the_method_that_diverges_more():
    s = _diverging_study()
    floor = analyze(s, [], floor=40.0)  # the environment's floor, fixed before the analysis
    cp = floor["comparisons"][0]
    assert floor["meta"]["diverged_policy"] == "floor" and floor["meta"]["floor_score"] == 40.0
    assert cp["gap"] < 0  # a3c diverged more: it cannot come out ahead
    assert cp["mean_treatment"] == pytest.approx((np.linspace(40, 60, 10).sum() + 4 * 40) / 14)
    assert cp["worst_treatment"] == 40.0
    # the alternatives would flatter the diverging method: 'last' keeps the 90s, 'exclude' hides them
    assert analyze(s, [], diverged="last")["comparisons"][0]["gap"] > 0
    assert analyze(s, [], diverged="exclude")["comparisons"][0]["gap"] == pytest.approx(0.0)
    # without a floor fixed before the analysis the policy falls back to each learner's own score, and says so
    doc = analyze(s, [])
    assert (doc["meta"]["diverged_policy"], doc["meta"]["diverged_policy_asked"]) == ("last", "floor")
    assert doc["comparisons"][0]["gap"] == analyze(s, [], diverged="last")["comparisons"][0]["gap"]
    assert any(f.startswith("No floor was given") for f in doc["findings"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=8),
       st.lists(st.floats(0, 100), min_size=1, max_size=5),
       st.lists(st.floats(0, 100), min_size=2, max_size=8), st.floats(0, 100))
def test_floor_never_scores_a_cell_above_last(ok, diverged, other, floor):
    # a diverged learner scores the floor or its own last score where lower: never above 'last'
    s = [x for i, v in enumerate(ok) for x in run(T, i, [v])]
    s += [x for i, v in enumerate(diverged) for x in run(T, 100 + i, [v], "diverged")]
    s += [x for i, v in enumerate(other) for x in run(C, i, [v])]
    means = {p: analyze(s, [], diverged=p, floor=floor)["cells"][0]["mean"] for p in ("floor", "last")}
    assert means["floor"] <= means["last"] + 1e-9


def test_an_a3c_run_is_one_learner_an_individual_worker_is_one():
    s = []
    for i in range(6):  # a3c: runs 0 and 1 diverged (all 4 workers share the model)
        s += run(T, i, [50.0 + i] * 4, "diverged" if i < 2 else "ok")
        # individual: in run 0 one worker of 4 diverged, the others finished
        s += run(C, i, [40.0 + i] * 4, ["diverged", "ok", "ok", "ok"] if i == 0 else "ok")
    doc = analyze(s, [], floor=40.0)
    a, c = doc["cells"]
    assert (a["n_learners"], a["n_diverged"], a["n_diverged_runs"]) == (6, 2, 2)
    assert (c["n_learners"], c["n_diverged"], c["n_diverged_runs"]) == (24, 1, 1)
    assert a["divergence_rate"] == pytest.approx(2 / 6) and a["divergence_rate_ci95"] == wilson_ci(2, 6)
    # Wilson by hand: k = 2, n = 6, z = 1.959964
    z, p, n = 1.959963984540054, 2 / 6, 6
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_ci(2, 6) == pytest.approx([centre - half, centre + half])
    assert wilson_ci(0, 6)[0] == 0.0 and wilson_ci(6, 6)[1] == pytest.approx(1.0)
    cp = doc["comparisons"][0]
    assert (cp["n_diverged_treatment"], cp["n_learners_treatment"], cp["n_diverged_control"]) == (2, 6, 1)
    text = "\n".join(doc["findings"])
    assert "Divergence (single configuration / a3c): 2 of 6 runs (one shared model each) diverged (33%" in text
    assert "Divergence (single configuration / individual): 1 of 24 learners (workers) diverged" in text
    assert "the environment's floor, fixed before the analysis (40)" in text


def test_an_ok_worker_of_a_diverged_a3c_run_counts_as_diverged():
    s = run(T, 0, [70.0, 70.0], ["diverged", "ok"]) + run(T, 1, [50.0, 52.0]) + run(C, 0, [45.0, 46.0])
    s += run(C, 1, [44.0, 48.0])
    cell = analyze(s, [], floor=44.0)["cells"][0]
    assert cell["n_diverged"] == 1 and cell["mean"] == pytest.approx((44 + 44 + 50 + 52) / 4)  # floor 44


def test_failed_runs_are_listed_not_analysed():
    s = run(T, 0, [None, None], "failed") + run(T, 1, [50.0, 51.0]) + run(T, 2, [55.0, 56.0])
    s += run(C, 0, [40.0, 41.0]) + run(C, 1, [42.0, 41.0])
    doc = analyze(s, [])
    a = doc["cells"][0]
    assert a["n_failed"] == 1 and a["failed_seeds"] == [0] and a["n_runs"] == 2 and a["n"] == 4
    assert a["n_learners"] == 2 and a["n_diverged"] == 0
    assert any(f.startswith("Failed (single configuration / a3c): 1 runs failed (seeds 0)") for f in doc["findings"])
    assert doc["comparisons"][0]["n_failed_treatment"] == 1


def test_exclude_says_what_it_left_out():
    s = _diverging_study()
    doc = analyze(s, [], diverged="exclude")
    a = doc["cells"][0]
    assert a["n_excluded"] == 4 and a["n_diverged"] == 4 and a["n_runs"] == 10 and a["n_learners"] == 14
    assert any(f.startswith("Left out at the user's request (--diverged exclude): 4 diverged worker scores "
                            "(a3c 4, individual 0)") for f in doc["findings"])


def test_last_keeps_its_score_and_without_one_it_is_left_out_and_counted():
    s = run(T, 0, [80.0], "diverged") + run(T, 1, [None], "diverged") + run(T, 2, [50.0]) + run(T, 3, [52.0])
    s += run(C, 0, [30.0]) + run(C, 1, [35.0])
    doc = analyze(s, [], diverged="last", floor=30.0)
    a = doc["cells"][0]
    assert a["mean"] == pytest.approx((80 + 50 + 52) / 3) and a["n_unscored"] == 1 and a["n_floored"] == 0
    assert any("1 diverged worker scores could not be scored" in f for f in doc["findings"])
    # under the floor policy the one without a score takes the floor, the other the floor as it is lower
    a = analyze(s, [], floor=30.0)["cells"][0]
    assert a["mean"] == pytest.approx((30 + 30 + 50 + 52) / 4) and a["n_floored"] == 2


def test_all_diverged_is_a_report_that_says_so():
    s = []
    for i in range(3):
        s += run(T, i, [20.0 + i, 21.0], "diverged") + run(C, i, [10.0 + i, 12.0], "diverged")
    doc = analyze(s, [], floor=10.0)
    for c in doc["cells"]:
        assert c["n_diverged"] == c["n_learners"] and c["divergence_rate"] == 1.0
        assert c["mean"] == 10.0 and c["std"] == 0.0  # every learner at the floor
    assert doc["comparisons"][0]["gap"] == 0.0
    strict_json(doc)
    # and without a single score anywhere: cells with counts, no statistics, no crash
    s = [Sample({}, m, i, 0, None, "diverged") for m in (T, C) for i in range(3)]
    doc = analyze(s, [])
    assert [c["n"] for c in doc["cells"]] == [0, 0] and doc["comparisons"] == []
    assert all(c["n_diverged"] == 3 and c["n_unscored"] == 3 for c in doc["cells"])
    assert any("could not be scored" in f for f in doc["findings"])
    strict_json(doc)


def test_bad_policy_and_status_raise():
    with pytest.raises(ScoresError, match="diverged must be one of floor, last, exclude"):
        analyze(run(T, 0, [1.0]), [], diverged="drop")
    with pytest.raises(ScoresError, match="status"):
        Sample({}, T, 0, 0, 1.0, "crashed")
    with pytest.raises(ScoresError, match="is ok but has no score"):
        Sample({}, T, 0, 0, None)


def test_csv_status_column(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("method,seed,worker,score,status\n"
                 "a3c,0,0,50,ok\na3c,1,0,,diverged\na3c,2,0,,failed\nindividual,0,0,40,OK\nindividual,1,0,41,ok\n")
    samples, comps = load_scores_csv(p)
    assert [s.status for s in samples] == ["ok", "diverged", "failed", "ok", "ok"] and samples[1].score is None
    a = analyze(samples, comps, floor=0.0)["cells"][0]
    assert (a["n_diverged"], a["n_failed"], a["n"]) == (1, 1, 2)
    p.write_text("method,seed,worker,score,status\na3c,0,0,50,maybe\n")
    with pytest.raises(ScoresError, match="line 2: status 'maybe' is not one of ok, diverged, failed"):
        load_scores_csv(p)
    p.write_text("method,seed,worker,score,status\na3c,0,0,,ok\n")
    with pytest.raises(ScoresError, match="line 2: score '' is not a number"):
        load_scores_csv(p)


# --------------------------------------------------------------------------- wording


def _factorial(gaps, sd, n=12, seed=0):
    """2x2 over (rnn, layernorm), n one-worker runs per cell; control ~ N(30, sd), a3c ~ N(30 + gap, sd)."""
    rng = np.random.default_rng(seed)
    s = []
    for k, cfg in enumerate([(True, True), (True, False), (False, True), (False, False)]):
        config = {"rnn": cfg[0], "layernorm": cfg[1]}
        for i in range(n):
            s += run(T, 100 * k + i, [30 + gaps[k] + sd * rng.normal()], config=config)
            s += run(C, 100 * k + i, [30 + sd * rng.normal()], config=config)
    return s


def test_wide_interaction_ci_is_no_evidence_not_additive():
    doc = analyze(_factorial([10, 8, 6, 4], sd=15), ["rnn", "layernorm"])
    g = doc["interaction"]["gap"]
    assert g["ci95"][0] < 0 < g["ci95"][1] and g["ci95"][1] - g["ci95"][0] > 4 * g["margin"]
    assert g["verdict"] == "no evidence of interaction"


def test_narrow_interaction_ci_is_additive():
    doc = analyze(_factorial([40, 30, 20, 10], sd=2, n=20), ["rnn", "layernorm"])
    g = doc["interaction"]["gap"]  # main effects 10 and 20: margin 10
    assert g["margin"] == pytest.approx(10.0, abs=1.5) and -g["margin"] <= g["ci95"][0] < 0 < g["ci95"][1] <= g["margin"]
    assert g["verdict"] == "additive"


def test_share_of_gap_suppressed_when_the_baseline_gap_is_not_established():
    doc = analyze(_factorial([0.5, -5, 3, 2], sd=5), ["rnn", "layernorm"])
    base = doc["comparisons"][0]
    assert base["gap_ci95"][0] < 0 < base["gap_ci95"][1]
    for ct in doc["contributions"]:
        assert ct["gap_pct_points"] is not None and ct["share_of_gap_pct"] is None
        assert "of the baseline gap" in ct["share_note"] and "covers 0" in ct["share_note"]
    rows = next(t for t in rep.tables(doc) if t[0].startswith("6."))[2]
    assert all(r[4] == "n/a" and r[5].startswith("not reported") for r in rows)


def test_tables_numbered_in_the_order_they_appear():
    from rich.console import Console

    doc = analyze(_factorial([10, 8, 6, 4], sd=5), ["rnn", "layernorm"])
    console = Console(width=200, record=True, color_system=None)
    rep.render(doc, console)
    text = console.export_text()
    titles = ["Answer", "1. Performance", "2. Variance", "3. Removing", "3b. Whose CV", "4. Worst case", "5. Combined",
              "6. Contribution", "7. CV per configuration"]
    where = [text.index(t) for t in titles]
    assert where == sorted(where)
    lines = text.splitlines()
    assert lines[0] == "Answer" and re.match(r"\d+ of \d+ claims shown: Holm's procedure", lines[1])
    assert text.index("• n counts runs") < text.index("1. Performance")  # the answer says what n counts
    md = rep.markdown(doc)
    where = [md.index("## " + t) for t in titles[1:] + ["8. Per cell"]]
    assert where == sorted(where)
