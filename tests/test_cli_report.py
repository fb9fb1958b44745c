"""`pyrl report --scores FILE.csv`: tables, JSON schema, Markdown, plots, and input errors."""
import csv
import json
import re

import numpy as np
import pytest

from pyrl.cli import cli



def write_scores(path, rows=None, header=("method", "seed", "worker", "score", "rnn", "layernorm")):
    if rows is None:
        rng = np.random.default_rng(0)
        rows = []
        for rnn in (0, 1):
            for ln in (0, 1):
                for method, mu in (("a3c", 50.0), ("individual", 40.0)):
                    for seed in range(4):
                        for worker in range(2):
                            rows.append([method, seed, worker, round(abs(rng.normal(mu, 10)), 3), rnn, ln])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_report_from_scores_renders_every_table(runner, tmp_path):
    scores = write_scores(tmp_path / "s.csv")
    result = runner.invoke(cli, ["report", "--scores", str(scores)])
    assert result.exit_code == 0, result.output
    for title in ("1. Performance", "2. Variance", "3. Removing a component", "4. Worst case",
                  "5. Combined factorial", "6. Contribution", "7. CV per configuration", "Notes",
                  "no rnn, no layernorm"):
        assert title in result.output, title


def _table_blocks(text):
    """The terminal's tables: (title, lines under the header rule up to the next blank line)."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        if line and set(line.strip()) == {"─"}:
            title = next(lines[j] for j in range(i - 1, -1, -1) if re.match(r"\d+b?\. ", lines[j]))
            j = i + 1
            while j < len(lines) and lines[j].strip():
                j += 1
            out.append((title, lines[i + 1:j]))
    return out


@pytest.mark.parametrize("shape", ["quick", "levels"])
def test_the_terminal_report_fits_100_columns_without_wrapping_a_cell(tmp_path, shape):
    from rich.console import Console

    from pyrl import report as rep
    from pyrl.stats import analyze, load_scores_csv

    if shape == "quick":
        path = write_scores(tmp_path / "s.csv")
    else:  # four norms x rnn: the longest labels the CLI makes
        rng = np.random.default_rng(1)
        rows = [[m, seed, w, round(abs(rng.normal(mu, 30)), 3), norm, rnn]
                for norm in ("layernorm", "none", "rmsnorm", "batchnorm") for rnn in (1, 0)
                for m, mu in (("a3c", 200.0), ("individual", 120.0)) for seed in range(5) for w in range(2)]
        path = write_scores(tmp_path / "s.csv", rows, header=("method", "seed", "worker", "score", "norm", "rnn"))
    samples, factors = load_scores_csv(path)
    doc = analyze(samples, factors)
    console = Console(width=100, record=True, color_system=None)
    rep.render(doc, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    blocks = _table_blocks(text)
    assert len(blocks) >= 6
    for title, body in blocks:
        n_rows = len(next(t for t in rep.tables(doc, full=False) if title.startswith(t[0][:12]))[2])
        assert len(body) == n_rows, (title, body)  # one line per row: no cell wrapped
    # the answer opens the report: the family line, then the shown claims, one line each
    lines = text.splitlines()
    shown = [c for c in doc["answer"]["claims"] if c["shown"]]
    assert lines[1] == doc["answer"]["family"]["line"][:100].rstrip() or lines[1].startswith(f"{len(shown)} of ")
    for c in shown:
        assert any(line.startswith("✓ " + c["statement"]) for line in lines)


def test_normalised_scores_and_a_diverged_learner_fit_100_columns(tmp_path):
    # scores in [0, 1] with three-decimal intervals, 10 runs x 4 workers, one diverged learner
    # (the diverged column appears), a level whose name holds brackets (no markup)
    from rich.console import Console

    from pyrl import report as rep
    from pyrl.stats import analyze, load_scores_csv

    rng = np.random.default_rng(2)
    rows = []
    for rnn in (1, 0):
        for act in ("relu", "act[tanh]"):
            for m, mu in (("a3c", 0.55), ("individual", 0.45)):
                for seed in range(10):
                    u = rng.normal()
                    for w in range(4):
                        status = "diverged" if (m, rnn, act, seed, w) == ("individual", 1, "relu", 3, 2) else "ok"
                        rows.append([m, seed, w, round(float(np.clip(mu + 0.05 * u + 0.02 * rng.normal(), 0, 1)), 4),
                                     status, rnn, act])
    path = write_scores(tmp_path / "s.csv", rows, header=("method", "seed", "worker", "score", "status", "rnn", "act"))
    samples, factors = load_scores_csv(path)
    doc = analyze(samples, factors)
    console = Console(width=100, record=True, color_system=None)
    rep.render(doc, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100 and "act[tanh]" in text
    for title, body in _table_blocks(text):
        n_rows = len(next(t for t in rep.tables(doc, full=False) if title.startswith(t[0][:12]))[2])
        assert len(body) == n_rows, (title, body)
    assert "diverged" in next(t for t in rep.tables(doc, full=False) if t[0].startswith("1."))[1]


def test_unwritable_outputs_are_one_line_exit_2(runner, tmp_path):
    scores = write_scores(tmp_path / "s.csv")
    (tmp_path / "afile").write_text("x")
    for args in (["--markdown", str(tmp_path / "afile" / "r.md")], ["--plots", str(tmp_path / "afile" / "p")]):
        result = runner.invoke(cli, ["report", "--scores", str(scores), *args])
        assert result.exit_code == 2, result.output
        assert "cannot write the report" in result.output and "Traceback" not in result.output


def test_json_answer_claims_carry_every_field(runner, tmp_path):
    scores = write_scores(tmp_path / "s.csv")
    doc = json.loads(runner.invoke(cli, ["report", "--scores", str(scores), "--json"]).output)
    claims, fam = doc["answer"]["claims"], doc["answer"]["family"]
    keys = {"id", "kind", "measure", "question", "statement", "configs", "methods", "estimate", "ci95", "ci",
            "ci_level", "p", "p_adj", "favours", "shown", "why_not", "scale", "test"}
    assert all(keys <= set(c) for c in claims) and len({c["id"] for c in claims}) == len(claims)
    assert fam["weighed"] == len(claims) and fam["method"] == "Holm" and fam["shown"] == sum(c["shown"] for c in claims)
    kinds = {c["kind"] for c in claims}
    assert {"gap", "effect", "change", "contribution", "interaction", "stability"} <= kinds
    for c in claims:
        assert c["shown"] == (c["p_adj"] is not None and c["p_adj"] < 0.05 and not c["ci"][0] <= (
            1 if c["scale"] == "ratio" else 0) <= c["ci"][1])
        assert (c["why_not"] is None) == c["shown"]


def test_report_json_schema_and_strictness(runner, tmp_path):
    # worst_C = 0 < worst_T in the baseline: the robustness ratio is infinite, written "inf"
    rows = []
    for method, scores in (("a3c", [30.0, 40.0, 50.0, 60.0]), ("individual", [0.0, 20.0, 30.0, 40.0])):
        for i, s in enumerate(scores):
            rows.append([method, i, 0, s])
    scores = write_scores(tmp_path / "one.csv", rows, header=("method", "seed", "worker", "score"))
    result = runner.invoke(cli, ["report", "--scores", str(scores), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert {"cells", "comparisons", "removals", "contributions", "interaction"} <= set(doc)
    cell = doc["cells"][0]
    assert {"config", "method", "n", "mean", "std", "cv", "worst", "mean_ci95"} <= set(cell)
    cmp = doc["comparisons"][0]
    assert {"config", "gap", "gap_pct", "stability_advantage_pct", "robustness_ratio", "welch_p"} <= set(cmp)
    assert cmp["robustness_ratio"] == "inf"
    assert cmp["gap"] == pytest.approx(45.0 - 22.5)
    assert cmp["gap_pct"] == pytest.approx(100 * 22.5 / 22.5)


def test_report_factorial_json_has_removals_contributions_interaction(runner, tmp_path):
    scores = write_scores(tmp_path / "s.csv")
    result = runner.invoke(cli, ["report", "--scores", str(scores), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {(r["component"], r["method"]) for r in doc["removals"]} == {
        ("rnn", "a3c"), ("rnn", "individual"), ("layernorm", "a3c"), ("layernorm", "individual")}
    assert {c["component"] for c in doc["contributions"]} == {"rnn", "layernorm"}
    assert doc["interaction"]["gap"]["verdict"] in ("additive", "no evidence of interaction", "synergistic",
                                                    "antagonistic")
    assert all(set(c["config"]) == {"rnn", "layernorm"} for c in doc["cells"])


def test_markdown_and_plots_are_written(runner, tmp_path):
    scores = write_scores(tmp_path / "s.csv")
    md, plots = tmp_path / "report.md", tmp_path / "plots"
    result = runner.invoke(cli, ["report", "--scores", str(scores), "--markdown", str(md), "--plots", str(plots)])
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert "## 1. Performance per configuration" in text and "## Summary paragraph" in text
    # every claim, shown or not, with why (26, and the stability claim averaged over the configurations)
    assert "## Claims: all 27 weighed" in text
    for name in ("claims.png", "performance_profile.png", "cv_per_configuration.png", "score_distributions.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "header, rows, message",
    [
        (("method", "seed", "score"), [["a3c", 0, 1.0]], "worker"),
        (("method", "seed", "worker", "score"), [["a3c", 0, 0, "abc"], ["individual", 0, 0, 1.0]], "score"),
        (("method", "seed", "worker", "score"), [["a3c", 0, 0, 1.0], ["a3c", 1, 0, 2.0]], "individual"),
    ],
)
def test_bad_csv_is_one_line_exit_2(runner, tmp_path, header, rows, message):
    scores = write_scores(tmp_path / "bad.csv", rows, header=header)
    result = runner.invoke(cli, ["report", "--scores", str(scores)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_usage_errors_exit_2(runner, tmp_path):
    assert runner.invoke(cli, ["report"]).exit_code == 2
    scores = write_scores(tmp_path / "s.csv")
    assert runner.invoke(cli, ["report", str(tmp_path), "--scores", str(scores)]).exit_code == 2
    bad = runner.invoke(cli, ["report", "--scores", str(scores), "--score-range", "5"])
    assert bad.exit_code == 2 and "LO,HI" in bad.output
    missing = runner.invoke(cli, ["report", "--scores", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv" in missing.output
    empty_dir = runner.invoke(cli, ["report", str(tmp_path / "empty")])
    assert empty_dir.exit_code == 2
