"""The claims figure (every claim of the report's family, shown or not, on a common axis per
kind) and the performance profile (issue 21), on documents built by hand with the report's keys."""
from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from pyrl import plots

T, C = "a3c", "individual"
CONFIGS = ["baseline (rnn+layernorm)", "no rnn", "no layernorm", "no rnn, no layernorm"]


def claim(kind, est, ci95, ci=None, *, measure="score", scale="difference", shown=False, configs=None,
          methods=(T, C), component=None, level=None, statement=None, ci_level=0.995):
    """One claim with the spec's keys (the adjusted interval defaults to a widened ci95)."""
    if ci is None and ci95 is not None and est is not None:
        if scale == "ratio":
            ci = [est * (ci95[0] / est) ** 1.4, est * (ci95[1] / est) ** 1.4]
        else:
            ci = [est - 1.4 * (est - ci95[0]), est + 1.4 * (ci95[1] - est)]
    return {"id": f"{kind}-{measure}-{len(configs or [])}-{est}", "kind": kind, "measure": measure,
            "question": f"Does it hold ({kind})?", "statement": statement, "configs": list(configs or []),
            "methods": list(methods), "component": component, "level": level, "contrast": "by hand",
            "scale": scale, "estimate": est, "ci95": ci95, "ci": ci, "ci_level": ci_level if ci else None,
            "p": 0.01, "p_adj": 0.04 if shown else 0.5, "test": "Welch t", "n_runs": 5, "favours": None,
            "shown": shown, "why_not": None if shown else "adjusted p >= 0.05"}


def big_claims() -> list:
    """34 claims of a two-factor study: every kind, both scales, CV on a difference scale too,
    long statements, n/a and no-interval claims, a ratio interval spanning twenty decades."""
    rng = np.random.default_rng(1)
    out = []
    for i, cfg in enumerate(CONFIGS + ["average over configurations"]):
        e = float(rng.normal(5, 3))
        out.append(claim("gap", e, [e - 4, e + 4], shown=i == 0, configs=[cfg],
                         statement=f"{T} scores higher than {C} in {cfg}"))
    for comp in ("rnn", "layernorm"):
        out.append(claim("effect", -3.0, [-6.0, 0.5], component=comp, level=False,
                         statement=f"removing {comp} lowers the score, averaged over both methods and the "
                                   "other factor"))
        for m in (T, C):
            out.append(claim("change", -2.0, [-7.0, 3.0], component=comp, level=False, methods=[m],
                             configs=CONFIGS[:2]))
        out.append(claim("contribution", 1.5, [-2.0, 5.0], component=comp, configs=[CONFIGS[0]]))
    out.append(claim("interaction", 0.5, [-8.8, 9.8], component="rnn", configs=CONFIGS))
    for i, cfg in enumerate(CONFIGS):
        out.append(claim("stability", 0.6, [0.4, 0.9], measure="CV", scale="ratio", shown=i < 2, configs=[cfg],
                         statement=f"{T}'s CV is {1 / 0.6:.2g}x lower than {C}'s in {cfg}"))
    for comp in ("rnn", "layernorm"):
        for m in (T, C):
            out.append(claim("stability", 1.3, [0.7, 2.4], measure="CV", scale="ratio", component=comp, methods=[m]))
        out.append(claim("stability", 1.1, [1e-8, 1e12], measure="CV", scale="ratio", component=comp,
                         statement=f"whose stability suffers more from removing {comp}: the ratio of the CV ratios"))
    for m in (T, C):
        out.append(claim("stability", 0.02, [-0.05, 0.09], measure="CV", component="rnn", methods=[m]))
    for i, cfg in enumerate(CONFIGS):
        out.append(claim("convergence", 0.12, [-0.03, 0.28], measure="AUC", configs=[cfg]))
    out.append(claim("convergence", None, None, measure="AUC", configs=[CONFIGS[0]], methods=[T]))
    out.append(claim("convergence", 0.3, None, measure="AUC", configs=[CONFIGS[1]], methods=[T]))
    return out


def claims_doc(claims: list, method="Holm") -> dict:
    shown = sum(c["shown"] for c in claims)
    return {"answer": {"claims": claims, "lines": [],
                       "family": {"method": method, "alpha": 0.05, "weighed": len(claims),
                                  "tested": len(claims) - 1, "shown": shown,
                                  "line": f"{shown} of {len(claims)} claims shown ({method}, 5%)"}}}


def profile_doc(runs: dict) -> dict:
    """cells with run_means per (configuration, method); a missing key: no cell."""
    cells = [{"label": label, "method": m, "config": {}, "run_means": list(v)} for (label, m), v in runs.items()]
    return {"cells": cells, "meta": {"treatment": T, "control": C}}


def _overlaps(artists, renderer) -> list:
    boxes = [a.get_window_extent(renderer) for a in artists if a.get_visible() and a.get_text()]
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_yticklabels()]


def _null_lines(ax) -> list:
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(set(ln.get_xdata())) == 1]


def _interval_lines(ax) -> list:
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 2]


# --------------------------------------------------------------------------- claims figure


@pytest.fixture(scope="module")
def big():
    """The 34-claim figure (built once: a figure of this size takes seconds to lay out)."""
    claims = big_claims()
    fig = plots.claims_figure(claims_doc(claims))
    yield claims, fig
    plots._plt().close(fig)


def test_claims_figure_writes_a_png(tmp_path):
    path = plots.claims(claims_doc(big_claims()), tmp_path / "claims.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_panel_per_kind_measure_and_scale_in_kind_order(big):
    claims, fig = big
    panels = _panels(fig)
    titles = [ax.get_title(loc="left") for ax in panels]
    # stability splits into the CV ratios and the CV interaction (a difference of CVs)
    assert len(panels) == 8
    kinds = ["Gap", "Effect", "Change", "Contribution", "Interaction", "Stability", "Stability", "Convergence"]
    assert [t.split(":")[0].split()[0] for t in titles] == kinds
    assert "CV, ratio" in titles[5] and "CV, difference" in titles[6]
    # one row per claim, heights in proportion to the rows
    rows = [len(ax.get_yticks()) for ax in panels]
    assert rows == [5, 2, 4, 2, 1, 10, 2, 6] and sum(rows) == len(big_claims())
    heights = [ax.get_position().height for ax in panels]
    assert np.allclose(np.array(heights) / heights[0], np.array(rows) / rows[0], rtol=1e-6)


def test_ratio_panels_are_log_with_the_null_at_one_differences_linear_at_zero(big):
    claims, fig = big
    for ax in _panels(fig):
        ratio = "ratio" in ax.get_title(loc="left")
        assert ax.get_xscale() == ("log" if ratio else "linear")
        nulls = _null_lines(ax)
        assert len(nulls) == 1 and nulls[0].get_xdata()[0] == (1.0 if ratio else 0.0)
        lo, hi = ax.get_xlim()
        assert lo < nulls[0].get_xdata()[0] < hi


def test_a_ratio_interval_over_twenty_decades_is_clipped_not_flattening_the_others(big):
    claims, fig = big
    ax = [ax for ax in _panels(fig) if "ratio" in ax.get_title(loc="left")][0]
    lo, hi = ax.get_xlim()
    assert math.log10(hi / lo) < 8  # the typical intervals (0.4..2.4) stay readable
    arrows = [ln.get_marker() for ln in ax.get_lines() if ln.get_marker() in ("<", ">")]
    assert "<" in arrows and ">" in arrows  # the clipped ends are marked


def test_shown_claims_in_colour_the_others_grey(big):
    claims, fig = big
    gap = _panels(fig)[0]
    # per row: the adjusted interval (thick) and the marginal 95% (thin), both in the row's colour
    by_row = {}
    for ln in _interval_lines(gap):
        by_row.setdefault(ln.get_ydata()[0], []).append(ln)
    assert sorted(by_row) == [0, 1, 2, 3, 4]
    for y, lines in by_row.items():
        want = to_rgb(plots.SHOWN_COLOR if claims[int(y)]["shown"] else plots.NOT_SHOWN_COLOR)
        assert sorted(ln.get_linewidth() for ln in lines)[0] < sorted(ln.get_linewidth() for ln in lines)[1]
        assert all(to_rgb(ln.get_color()) == want for ln in lines)
    labels = gap.get_yticklabels()
    assert labels[0].get_fontweight() == "bold" and labels[1].get_fontweight() == "normal"
    assert fig._suptitle.get_text().startswith(f"Claims: {sum(c['shown'] for c in claims)} shown of {len(claims)}")
    assert "Holm" in fig._suptitle.get_text()


def test_thick_line_is_the_adjusted_interval_thin_the_marginal_95():
    c = claim("gap", 2.0, [0.5, 3.5], ci=[-0.5, 4.5], shown=False, configs=["x"])
    fig = plots.claims_figure(claims_doc([c]))
    ax = _panels(fig)[0]
    lines = sorted(_interval_lines(ax), key=lambda ln: ln.get_linewidth())
    assert [list(ln.get_xdata()) for ln in lines] == [[0.5, 3.5], [-0.5, 4.5]]
    assert "+2 [-0.5, +4.5] 99.5%" in [t.get_text() for t in ax.child_axes[0].get_yticklabels()]
    plots._plt().close(fig)


def test_claims_without_an_estimate_or_an_interval_say_so_and_draw_no_line():
    cs = [claim("gap", None, None, configs=["a"]), claim("gap", 1.0, None, configs=["b"]),
          claim("gap", 1.0, [0.2, 1.8], configs=["c"])]
    fig = plots.claims_figure(claims_doc(cs))
    ax = _panels(fig)[0]
    assert {ln.get_ydata()[0] for ln in _interval_lines(ax)} == {2}
    notes = [t.get_text() for t in ax.texts]
    assert "n/a" in notes and "no interval" in notes
    right = [t.get_text() for t in ax.child_axes[0].get_yticklabels()]
    assert right[0].startswith("n/a") and right[1].endswith("no interval")
    plots._plt().close(fig)


def test_only_not_shown_claims_none_values_and_a_single_claim(tmp_path):
    cs = [claim("stability", 0.8, [0.3, 2.0], measure="CV", scale="ratio"),
          {"kind": "interaction", "measure": "score", "scale": "difference", "estimate": None, "ci": None,
           "ci95": None, "shown": False, "configs": None, "methods": None, "component": None}]
    fig = plots.claims_figure(claims_doc(cs))
    assert all(to_rgb(ln.get_color()) == to_rgb(plots.NOT_SHOWN_COLOR)
               for ax in _panels(fig) for ln in _interval_lines(ax))
    assert fig._suptitle.get_text().startswith("Claims: 0 shown of 2")
    plots._plt().close(fig)
    assert plots.claims(claims_doc(cs[:1]), tmp_path / "one.png").exists()
    assert plots.claims({"answer": {"claims": []}}, tmp_path / "none.png").exists()
    assert plots.claims({}, tmp_path / "nodoc.png").exists()


def test_json_infinities_and_nonpositive_ratio_ends():
    # pyrl report --json writes inf as "inf"; a ratio interval may reach 0
    cs = [claim("stability", 2.0, [0.0, "inf"], ci=[0.0, "inf"], measure="CV", scale="ratio"),
          claim("gap", "-inf", ["-inf", "-inf"], ci=["-inf", "-inf"])]
    fig = plots.claims_figure(claims_doc(cs))
    ratio, gap = _panels(fig)[1], _panels(fig)[0]
    assert {ln.get_marker() for ln in ratio.get_lines()} >= {"<", ">"}
    assert _interval_lines(gap) == [] and [t.get_text() for t in gap.texts] == ["n/a"]
    plots._plt().close(fig)


def test_claim_labels_do_not_overlap_with_forty_claims():
    cs = big_claims() + [claim("gap", 1.0, [-1.0, 3.0], configs=[f"norm=rmsnorm, no rnn, lr={i}"],
                               statement="a3c scores higher than individual in norm=rmsnorm, no rnn, no "
                                         f"layernorm, optimiser=adam with a very long name {i}") for i in range(8)]
    assert len(cs) == 40
    fig = plots.claims_figure(claims_doc(cs))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [fig._suptitle] + [t for t in fig.legends[0].get_texts()]
    for ax in _panels(fig):
        texts += list(ax.get_yticklabels()) + list(ax.child_axes[0].get_yticklabels())
        texts += [ax.title, ax._left_title, ax.xaxis.label]
        texts += [t for t in ax.get_xticklabels() if ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert _overlaps(texts, renderer) == []
    # and every text inside the figure
    W, H = fig.bbox.width, fig.bbox.height
    for t in texts:
        if t.get_visible() and t.get_text():
            b = t.get_window_extent(renderer)
            assert b.x0 >= -1 and b.y0 >= -1 and b.x1 <= W + 1 and b.y1 <= H + 1, t.get_text()
    # a long statement is wrapped or shortened, two lines at most
    assert all(t.get_text().count("\n") <= 1 for ax in _panels(fig) for t in ax.get_yticklabels())
    plots._plt().close(fig)


def test_row_labels_shown_statement_not_shown_question_else_built():
    c = claim("gap", 3.0, [1.0, 5.0], shown=True, statement="a3c scores higher than individual in x")
    assert plots.claim_label(c) == "a3c scores higher than individual in x"
    # not shown: the question, not a statement of a direction the family did not establish
    assert plots.claim_label({**c, "shown": False}) == "Does it hold (gap)?"
    assert plots.claim_label({**c, "shown": False, "question": None}) == "a3c scores higher than individual in x"
    c = claim("change", -1.0, [-2.0, 0.0], component="layernorm", level=False, methods=[T], configs=["no rnn"])
    c["question"] = None
    assert plots.claim_label(c) == "change: layernorm=False, a3c, in no rnn"
    assert plots.claim_label({"kind": "gap"}) == "gap"


# --------------------------------------------------------------------------- performance profile


RUNS = {("baseline", T): [50.0, 61.0, 55.0, 70.0, 48.0], ("baseline", C): [40.0, 52.0, 45.0, 40.0, 38.0],
        ("no rnn", T): [30.0, 41.0, 35.0], ("no rnn", C): [33.0],  # a single run
        ("no layernorm", T): [44.0, None, 47.0, float("nan")]}  # no individual cell; None values


def _steps(ax) -> dict:
    return {ln.get_label().split(" (")[0]: ln for ln in ax.get_lines()}


def test_profile_writes_a_png(tmp_path):
    assert plots.performance_profile(profile_doc(RUNS), tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_profile_steps_are_the_fractions_above_tau_by_hand():
    fig = plots.profile_figure(profile_doc(RUNS))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["baseline", "no rnn", "no layernorm"]
    allscores = [v for v in RUNS.values() for v in v if v is not None and not math.isnan(v)]
    for ax, label in zip(panels, ["baseline", "no rnn", "no layernorm"]):
        steps = _steps(ax)
        for m in (T, C):
            runs = [v for v in RUNS.get((label, m), []) if v is not None and not math.isnan(v)]
            ln = steps[m]
            if not runs:
                assert len(ln.get_xdata()) == 0 and ln.get_label() == f"{m} (no runs)"
                continue
            assert ln.get_label() == f"{m} ({len(runs)} run{'s' if len(runs) > 1 else ''})"
            taus, ys = np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata())
            assert taus.min() < min(allscores) and taus.max() > max(allscores)  # spans every run score
            assert set(allscores) <= set(taus.tolist())
            for tau, y in zip(taus, ys):
                assert y == pytest.approx(sum(s > tau for s in runs) / len(runs))
            assert ln.get_drawstyle() == "steps-post"
    # shared axes
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[2])
    assert panels[0].get_shared_y_axes().joined(panels[0], panels[1])
    plots._plt().close(fig)


def test_profile_bands_are_wilson_intervals():
    from pyrl.stats.estimators import wilson_ci

    doc = profile_doc(RUNS)
    fig = plots.profile_figure(doc)
    ax = [ax for ax in fig.axes if ax.get_visible()][0]
    runs = RUNS[("baseline", T)]
    taus = plots.profile_grid(doc)
    band = ax.collections[0]  # the first method's band
    verts = {(round(x, 9), round(y, 9)) for x, y in band.get_paths()[0].vertices}
    for tau in taus[:-1]:
        lo, hi = wilson_ci(sum(s > tau for s in runs), len(runs))
        assert (round(tau, 9), round(lo, 9)) in verts and (round(tau, 9), round(hi, 9)) in verts
    # the helper's bands, too
    frac, lo, hi = plots.profile(runs, taus)
    assert [[a, b] for a, b in zip(lo, hi)] == [wilson_ci(int(round(f * 5)), 5) for f in frac]
    plots._plt().close(fig)


def test_profile_one_configuration_and_one_run(tmp_path):
    fig = plots.profile_figure(profile_doc({("single configuration", T): [3.0], ("single configuration", C): [3.0]}))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 1
    ln = _steps(panels[0])[T]
    assert ln.get_label() == "a3c (1 run)" and list(ln.get_ydata()) == [1.0, 0.0, 0.0]
    assert panels[0].get_xlim()[0] < 3.0 < panels[0].get_xlim()[1]
    assert panels[0].xaxis.label.get_text()  # the tau axis labelled
    plots._plt().close(fig)
    # no run scores at all, no cells
    assert plots.performance_profile(profile_doc({("x", T): []}), tmp_path / "empty.png").exists()
    assert plots.performance_profile(profile_doc({}), tmp_path / "nocells.png").exists()


def test_profile_labels_do_not_overlap():
    runs = {(lab, m): list(np.random.default_rng(i).normal(50, 10, 5))
            for i, lab in enumerate(["baseline (rnn+layernorm+a_longer_component_name)", "no rnn", "no layernorm",
                                     "no rnn, no layernorm, no a_longer_component_name", "no a_longer_component_name"])
            for m in (T, C)}
    fig = plots.profile_figure(profile_doc(runs))
    fig.canvas.draw()
    texts = [fig._suptitle]
    for ax in fig.axes:
        if ax.get_visible():
            texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    assert _overlaps(texts, fig.canvas.get_renderer()) == []
    plots._plt().close(fig)
