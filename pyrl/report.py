"""Renderings of a ``pyrl.stats.analyze`` document: rich tables, Markdown.

Every table of the ablation study (DESIGN.md, "The report") comes from the same document, so
the terminal, the Markdown and the JSON always say the same thing.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional

INF = float("inf")


# ---- number formatting (None means "not computable", and says so) ----

def num(v: Optional[float], digits: int = 2, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, str):
        return v
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def pct(v: Optional[float], digits: int = 1, signed: bool = True) -> str:
    s = num(v, digits, signed)
    return s if s in ("n/a", "∞", "-∞") else s + "%"


def ci(pair: Optional[Iterable[float]], digits: int = 2) -> str:
    if not pair:
        return "n/a"
    lo, hi = pair
    if lo is None or hi is None:
        return "n/a"
    return f"[{num(lo, digits, True)}, {num(hi, digits, True)}]"


def share_ci(pair) -> str:
    """A proportion's CI in percent: '[3%, 56%]'."""
    return "n/a" if not pair else f"[{100 * pair[0]:.0f}%, {100 * pair[1]:.0f}%]"


def pval(p: Optional[float]) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ---- the tables, as (title, header, rows) so that rich and Markdown share them ----

def _cell(doc, config_label, method):
    for c in doc["cells"]:
        if c["label"] == config_label and c["method"] == method:
            return c
    return None


def _runs_x_workers(cell) -> str:
    """'10x4': runs x workers per run ('10x2-4' when runs differ)."""
    if cell is None:
        return "n/a"
    ws = cell.get("workers_per_run") or []
    w = "?" if not ws else (str(ws[0]) if len(ws) == 1 else f"{ws[0]}-{ws[-1]}")
    return f"{cell['n_runs']}x{w}"


def _diverged(cell) -> str:
    """'2/6' diverged learners (and '+1 failed' runs), or '' when none."""
    if cell is None:
        return "n/a"
    out = f"{cell['n_diverged']}/{cell['n_learners']}" if cell["n_diverged"] else "0"
    return out + (f" +{cell['n_failed']} failed" if cell["n_failed"] else "")


def _performance(doc, T, C):
    rows = []
    for cmp in doc["comparisons"]:
        ct, cc = _cell(doc, cmp["label"], T), _cell(doc, cmp["label"], C)
        rows.append([
            cmp["label"],
            f"{num(cmp['mean_treatment'])} ± {num(cmp['std_treatment'])}",
            f"{num(cmp['mean_control'])} ± {num(cmp['std_control'])}",
            num(cmp["gap"], 2, True), pct(cmp["gap_pct"]), ci(cmp["gap_ci95"]), pval(cmp["welch_p"]),
            num(cmp.get("prob_improvement"), 2),
            f"{_runs_x_workers(ct)} / {_runs_x_workers(cc)}",
            f"{_diverged(ct)} / {_diverged(cc)}",
        ] + _speed_cells(doc, cmp, "diff"))
    return ("1. Performance per configuration (mean ± std over workers; CI, p and P over runs)",
            ["configuration", T, C, "gap", "gap %", "gap 95% CI", "Welch p", f"P({T}>{C})",
             "runs x workers", "diverged"] + _speed_header(doc, "diff"), rows)


def _has_speed(doc) -> bool:
    return bool((doc["meta"].get("convergence") or {}).get("available"))


def _speed_header(doc, kind: str) -> list[str]:
    return [f"steps to thr. {kind} (95% CI)", f"AUC {kind} (95% CI)"] if _has_speed(doc) else []


def steps(v) -> str:
    if v is None:
        return "n/a"
    return "never" if math.isinf(v) and v > 0 else ("-∞" if math.isinf(v) else f"{v:,.0f}")


def steps_ci(pair) -> str:
    return "n/a" if not pair else f"[{steps(pair[0])}, {steps(pair[1])}]"


def _speed_cells(doc, row, kind: str) -> list[str]:
    if not _has_speed(doc):
        return []
    d = row.get(f"steps_to_threshold_{kind}")
    sd = steps(d) if d is None or math.isinf(d) else f"{d:+,.0f}"
    return [f"{sd} {steps_ci(row.get(f'steps_to_threshold_{kind}_ci95'))}",
            f"{num(row.get(f'auc_norm_{kind}'), 3, True)} {ci(row.get(f'auc_norm_{kind}_ci95'), 3)}"]


def _variance(doc, T, C):
    rows = []
    for cmp in doc["comparisons"]:
        ct, cc = _cell(doc, cmp["label"], T), _cell(doc, cmp["label"], C)
        adv = cmp.get("stability_advantage_pct")
        winner = cmp.get("more_stable")
        win = f"{winner} ({num(abs(adv), 0)}% better)" if winner and adv is not None else "n/a"
        rows.append([
            cmp["label"], num(cmp["std_treatment"]), num(cmp["cv_treatment"], 3),
            num(cmp["std_control"]), num(cmp["cv_control"], 3), win, ci(cmp.get("cv_diff_ci95"), 3),
            "; ".join(x for x in ((ct or {}).get("cv_note"), (cc or {}).get("cv_note")) if x) or "",
        ])
    return ("2. Variance (CV = std / mean, lower is more stable)",
            ["configuration", f"{T} std", f"{T} CV", f"{C} std", f"{C} CV", "stability winner",
             "CV diff 95% CI", "note"], rows)


def _changed(r) -> str:
    """The change a row describes: 'rnn' (removed) or 'norm=rmsnorm'."""
    level = r.get("level", False)
    return r["component"] if isinstance(level, bool) else f"{r['component']}={level}"


def _removals(doc):
    rows = []
    for r in doc["removals"]:
        rows.append([
            _changed(r), r["method"],
            f"{num(r['mean_change'], 2, True)} ({pct(r['mean_change_pct'])})",
            f"{num(r['std_change'], 2, True)} ({pct(r['std_change_pct'])})",
            f"{num(r['cv_change'], 3, True)} ({pct(r['cv_change_pct'])})",
            f"{num(r['worst_change'], 2, True)} ({pct(r['worst_change_pct'])})",
            ci(r.get("mean_change_ci95")), pval(r.get("mean_change_p")),
        ] + _speed_cells(doc, r, "change"))
    return ("3. Removing a component (without it minus baseline; a level: that level minus the baseline level)",
            ["removed / changed", "method", "mean change", "std change", "CV change", "worst change",
             "mean change 95% CI", "Welch p"] + _speed_header(doc, "change"), rows)


def _suffers(doc, T, C):
    rows = [[_changed(s), s.get("method_that_suffers_more") or "n/a",
             num(s.get("factor"), 1) + ("x" if s.get("factor") is not None else ""),
             pct(s.get("treatment_cv_change_pct")), pct(s.get("control_cv_change_pct"))]
            for s in doc.get("cv_suffers_more", [])]
    return ("3b. Whose CV suffers more when a component is removed",
            ["removed / changed", "suffers more", "factor", f"{T} CV change", f"{C} CV change"], rows)


def _worst(doc, T, C):
    rows = []
    for cmp in doc["comparisons"]:
        ct, cc = _cell(doc, cmp["label"], T), _cell(doc, cmp["label"], C)
        ratio = cmp.get("robustness_ratio")
        rows.append([
            cmp["label"], num(cmp["worst_treatment"]), num(cmp["worst_control"]),
            (num(ratio, 1) + ("×" if ratio is not None and not math.isinf(ratio) else "")) if ratio is not None
            else (cmp.get("robustness_note") or "n/a"),
            num((ct or {}).get("cvar10")), num((cc or {}).get("cvar10")),
        ])
    return ("4. Worst case (robustness ratio = worst_T / worst_C; CVaR10 = mean of the worst 10%)",
            ["configuration", f"{T} worst", f"{C} worst", "robustness ratio", f"{T} CVaR10", f"{C} CVaR10"], rows)


def _factorial(doc, T, C):
    rows = []
    if len(doc["meta"]["components"]) >= 1 and len(doc["comparisons"]) > 1:
        for cmp in doc["comparisons"]:
            adv = cmp.get("stability_advantage_pct")
            rows.append([cmp["label"], num(cmp["cv_treatment"], 3), num(cmp["cv_control"], 3),
                         (f"{num(abs(adv), 0)}% " + ("better" if adv >= 0 else "worse")) if adv is not None else "n/a"])
    return (f"5. Combined factorial: CV per configuration ({T} advantage = 1 - CV_T / CV_C)",
            ["configuration", f"{T} CV", f"{C} CV", f"{T} advantage"], rows)


def _interaction_rows(inter):
    pair = " x ".join(f"{c}={lv}" if not isinstance(lv, bool) else c
                      for c, lv in zip(inter["components"], inter.get("levels", [False, False])))
    gap = inter.get("gap")  # None when a corner lacks one of the methods (e.g. a one-method sweep)
    rows = [[pair, "gap", num(gap["value"], 2, True), ci(gap["ci95"]), num(gap["margin"], 2), gap["verdict"]]
            if gap else [pair, "gap", "n/a", "n/a", "n/a",
                         next((n for n in inter.get("notes", []) if n.startswith("gap")), "not computed")]]
    for method, v in (inter.get("cv") or {}).items():
        if v:
            rows.append([pair, f"{method} CV", num(v["value"], 3, True), ci(v["ci95"], 3), num(v["margin"], 3),
                         v["verdict"]])
    return rows


def _interactions(doc):
    inters = doc.get("interactions") or ([doc["interaction"]] if doc.get("interaction") else [])
    rows = [row for inter in inters for row in _interaction_rows(inter)]
    definition = inters[0]["definition"] if len(inters) == 1 else "(baseline - only B changed) - (only A changed - both)"
    return (f"5b. Interaction: {definition}; additive only when the CI lies within +-margin "
            f"(half the larger main effect)",
            ["factors", "on", "difference of differences", "95% CI", "margin", "verdict"], rows)


def _share(c) -> str:
    if c["share_of_gap_pct"] is None:
        return "n/a" + (f" ({c['share_note']})" if c.get("share_note") else "")
    return pct(c["share_of_gap_pct"]) + (" (unchecked)" if c.get("share_note") else "")


def _contributions_table(doc):
    rows = [[_changed(c), f"{num(c['gap_pct_points'], 1, True)} pp", _share(c), ci(c.get("gap_pct_points_ci95"), 1)]
            for c in doc["contributions"]]
    return ("6. Contribution of each component to the gap",
            ["component", "gap % points", "share of gap", "95% CI (pp)"], rows)


def _per_cell(doc):
    rows = [[c["label"], c["method"], _runs_x_workers(c), str(c["n"]), num(c["mean"]), ci(c["mean_ci95"]),
             num(c["median"]), num(c["iqm"]), num(c["worst"]), _diverged(c),
             share_ci(c["divergence_rate_ci95"]) if c["n_diverged"] else "",
             c.get("warning") or ""] for c in doc["cells"]]
    return ("8. Per cell: n (runs x workers), cluster bootstrap CI of the mean, median, IQM, divergence",
            ["configuration", "method", "runs x workers", "n", "mean", "mean 95% CI", "median", "IQM", "worst",
             "diverged", "rate 95% CI", "warning"], rows)


def _convergence(doc):
    conv = doc["meta"].get("convergence") or {}
    if not conv.get("available"):
        return ("9. Convergence speed: not available", ["reason"], [[conv.get("reason") or "no learning curves"]])
    rows = [[c["label"], c["method"], str(c["n_curves"]),
             f"{steps(c['steps_to_threshold'])} {steps_ci(c['steps_to_threshold_ci95'])}",
             f"{c['never_reached']}/{c['n_curves']} {share_ci(c['never_reached_ci95'])}",
             f"{num(c['auc_norm'], 3)} {ci(c['auc_norm_ci95'], 3)}"]
            for c in doc["cells"] if c.get("n_curves")]
    return (f"9. Convergence speed: threshold {conv['threshold']:.4g} ({conv['threshold_rule']}); medians over runs, "
            f"a run that never reaches it counts as never",
            ["configuration", "method", "runs", "steps to threshold (95% CI)", "never reached (95% CI)",
             "normalised AUC (95% CI)"], rows)


def tables(doc: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The numbered tables, in the order they are printed (7, the CV bars, is drawn between
    6 and 8 by ``render`` and ``markdown``)."""
    T, C = doc["meta"]["treatment"], doc["meta"]["control"]
    out = [_performance(doc, T, C), _variance(doc, T, C), _removals(doc)]
    if doc["removals"]:
        out.append(_suffers(doc, T, C))
    out += [_worst(doc, T, C), _factorial(doc, T, C), _interactions(doc), _contributions_table(doc), _per_cell(doc),
            _convergence(doc)]
    return [t for t in out if t[2]]  # a one-method sweep has no method comparisons to tabulate


def cv_bars(doc: dict[str, Any]) -> list[tuple[str, str, Optional[float]]]:
    """(configuration, method, cv) per cell, for bar charts."""
    return [(c["label"], c["method"], c["cv"]) for c in doc["cells"]]


def bar_lines(doc: dict[str, Any]) -> list[tuple[str, str, Optional[float]]]:
    """Table 7 as text: (label, bar, value) per cell with a CV, bars scaled to 30 blocks."""
    bars = [b for b in cv_bars(doc) if b[2] is not None]
    if not bars:
        return []
    top = max(b[2] for b in bars) or 1.0
    return [(f"{label} / {method}", "█" * (max(1, round(30 * cv / top)) if cv > 0 else 0), cv)
            for label, method, cv in bars]


BARS_TITLE = "7. CV per configuration (lower is more stable)"
NO_BARS = "no CV can be shown (scores negative or means near zero; see --score-range)"


def header_lines(doc: dict[str, Any]) -> list[str]:
    """What n counts, and how diverged learners were scored: one line each."""
    meta = doc["meta"]
    out = [meta["n_counts"]]
    if any(c.get("n_diverged") for c in doc["cells"]):
        out.append(f"Diverged learners: policy '{meta['diverged_policy']}' (--diverged); see Key findings.")
    return out


def _split(doc):
    """The tables before the CV bars (1-6) and after them (8 on)."""
    ts = tables(doc)
    i = next((k for k, t in enumerate(ts) if t[0].startswith("8.")), len(ts))
    return ts[:i], ts[i:]


def render(doc: dict[str, Any], console) -> None:
    from rich.text import Text

    console.print(Text("Answer", style="bold"))
    for line in doc.get("answers", []):
        console.print(Text("• " + line))
    for line in header_lines(doc)[1:]:
        console.print(Text(line))
    before, after = _split(doc)
    for t in before:
        _rich_table(console, *t)
    console.print(Text(BARS_TITLE, style="bold"))
    lines = bar_lines(doc)
    width = max((len(label) for label, _, _ in lines), default=0)
    for label, bar, cv in lines:
        line = Text(label.ljust(width) + "  ")
        line.append(bar, style="cyan" if label.endswith(" / " + doc["meta"]["treatment"]) else "magenta")
        line.append(f" {cv:.3f}")
        console.print(line)
    if not lines:
        console.print("  " + NO_BARS)
    for t in after:
        _rich_table(console, *t)
    console.print(Text("Key findings", style="bold"))
    for f in doc["findings"]:
        style = "yellow" if f.startswith(("Warning", "Divergence", "Failed", "Left out")) or "Caution" in f else None
        console.print(Text("• " + f, style=style))
    for s in doc.get("skipped", []):
        if f"Skipped: {s}." not in doc["findings"]:
            console.print(Text(f"• skipped: {s}", style="dim"))


def _rich_table(console, title, header, rows) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _md_table(title, header, rows) -> list[str]:
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def markdown(doc: dict[str, Any]) -> str:
    """The same report as Markdown, ending with a paragraph of findings to paste into a paper."""
    meta = doc["meta"]
    lines = [f"# {meta['treatment']} vs {meta['control']}: ablation report", ""]
    factors = ", ".join(f"{k} ({'/'.join(_level_name(k, v) for v in lv)})" for k, lv in meta["factors"].items())
    lines += [f"Factors (baseline level first): {factors or 'none (one configuration)'}. "
              f"Samples: {meta['n_samples']}. Bootstrap: {meta['n_boot']} resamples over runs, seed {meta['seed']}; "
              f"CIs at {int(round(meta['ci_level'] * 100))}%.", ""]
    lines += ["## Answer", ""] + [f"- {a}" for a in doc.get("answers", [])] + [""]
    lines += [f"{line}" for line in header_lines(doc)[1:]] + [""]
    before, after = _split(doc)
    for t in before:
        lines += _md_table(*t)
    bars = bar_lines(doc)
    width = max((len(label) for label, _, _ in bars), default=0)
    lines += [f"## {BARS_TITLE}", "", "```"]
    lines += [f"{label.ljust(width)}  {bar} {cv:.3f}" for label, bar, cv in bars] or [NO_BARS]
    lines += ["```", ""]
    for t in after:
        lines += _md_table(*t)
    lines += ["## Findings", ""] + [f"- {f}" for f in doc["findings"]] + [""]
    lines += ["## Summary paragraph", "", summary_paragraph(doc), ""]
    return "\n".join(lines)


def _level_name(factor: str, level) -> str:
    if isinstance(level, bool):
        return "on" if level else "off"
    return str(level)


def summary_paragraph(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    T, C = meta["treatment"], meta["control"]
    parts = []
    base = doc["comparisons"][0] if doc["comparisons"] else None
    if base:
        sig = base["welch_p"] is not None and base["welch_p"] < (1 - meta["ci_level"])
        parts.append(
            f"In the {base['label']} configuration, {T} reached a mean score of {num(base['mean_treatment'])} "
            f"(± {num(base['std_treatment'])}, {base['n_runs_treatment']} runs, {base['n_treatment']} workers) "
            f"against {num(base['mean_control'])} (± {num(base['std_control'])}, {base['n_runs_control']} runs, "
            f"{base['n_control']} workers) for {C}, a gap of {num(base['gap'], 2, True)} "
            f"({pct(base['gap_pct'])}; 95% cluster bootstrap CI over runs {ci(base['gap_ci95'])}; Welch's t-test on "
            f"run means p = {pval(base['welch_p'])})"
            + ("." if sig else ", which is not statistically significant at this sample size."))
        if base.get("stability_advantage_pct") is not None:
            parts.append(
                f"Its coefficient of variation was {num(base['cv_treatment'], 3)} vs {num(base['cv_control'], 3)} "
                f"(95% CI of the difference {ci(base.get('cv_diff_ci95'), 3)}).")
        if base.get("seeds_needed"):
            parts.append(f"Detecting a gap of this size with power 0.8 at alpha 0.05 would take about "
                         f"{base['seeds_needed']} runs per method.")
    for c in doc["contributions"]:
        parts.append(f"{_action(c)} changed the gap by {num(-c['gap_pct_points'], 1, True)} percentage "
                     f"points (95% CI {ci(_neg(c.get('gap_pct_points_ci95')), 1)}).")
    if not base:  # one method: what removing each component did to it
        for r in doc["removals"]:
            parts.append(f"{_action(r)} changed {r['method']}'s mean score by "
                         f"{num(r['mean_change'], 2, True)} ({pct(r['mean_change_pct'])}; 95% CI "
                         f"{ci(r.get('mean_change_ci95'))}).")
    inter = doc.get("interaction")
    if inter and inter.get("gap"):
        parts.append(f"The interaction of {' and '.join(inter['components'])} on the gap: "
                     f"{inter['gap']['verdict']} ({num(inter['gap']['value'], 2, True)}, 95% CI {ci(inter['gap']['ci95'])}).")
    return " ".join(parts)


def _action(r) -> str:
    level = r.get("level", False)
    if isinstance(level, bool):
        return f"{'Adding' if level else 'Removing'} {r['component']}"
    return f"Switching {r['component']} to {level}"


def _neg(pair):
    return None if not pair else [-pair[1], -pair[0]]


# ---- inputs: a results directory of runs ----

def _levels(levels: list) -> list:
    """A factor's levels as the statistics take them: on/off stays bool, anything else (a
    string, a number such as a hidden size) becomes its string."""
    return list(levels) if all(isinstance(v, bool) for v in levels) else [str(v) for v in levels]


def load_runs(root) -> tuple[list[dict], dict[str, list], list[str]]:
    """(runs, factors, notes) of a results directory, through ``pyrl.results.load_results``:
    every ``result.json`` under ``root`` (any status, each with "_dir" and "factors"), the
    factors (factor -> levels, baseline first) and notes on unreadable files. Raises
    ScoresError when there is no run, ResultsError when runs disagree with their sweep."""
    from pyrl.results import load_results
    from pyrl.stats import ScoresError

    res = load_results(root)
    if not res.runs:
        raise ScoresError(f"no runs (result.json) under {root}")
    return res.runs, {f: _levels(lv) for f, lv in res.factors.items()}, list(res.problems)


def run_config(run: dict, factors: dict[str, list]) -> dict:
    """The run's level of each factor (from its "factors", else its config)."""
    given = run.get("factors") or {}
    out = {}
    for f, levels in factors.items():
        v = given[f] if f in given else run.get("config", {}).get(f)
        out[f] = bool(v) if all(isinstance(x, bool) for x in levels) else str(v)
    return out


def samples_from_runs(runs: list[dict], factors: dict[str, list]) -> tuple[list, list[str]]:
    """One Sample per worker of every run, with its status: ok, diverged (a learning
    outcome: scored by the analysis's policy) or failed (failed or interrupted runs: not
    learning outcomes, counted and listed). A worker's status is its own ("status" in its
    entry; "stopped", a worker its run ended early, counts as failed) or, in older
    result.json files without one, the run's. An ok worker without a
    score (no finished episode) is noted and left out."""
    from pathlib import Path

    from pyrl.stats import Sample

    samples, notes = [], []
    for r in runs:
        config, status, name = run_config(r, factors), r.get("status", "ok"), Path(r["_dir"]).name
        workers = r.get("workers") or [{"worker": 0}]
        if status not in ("ok", "diverged"):
            notes.append(f"{name}: {status} ({r.get('error') or 'no error text'}): not a learning outcome, "
                         f"left out of the statistics")
            samples += [Sample(config, r["method"], int(r["seed"]), int(w["worker"]), None, "failed") for w in workers]
            continue
        for w in workers:
            ws = w.get("status") or status
            ws = "failed" if ws not in ("ok", "diverged") else ws  # 'stopped': its run did not finish
            if ws == "ok" and w.get("score") is None:
                notes.append(f"{name} worker {w['worker']}: no completed episode, no score")
                continue
            samples.append(Sample(config, r["method"], int(r["seed"]), int(w["worker"]), w.get("score"), ws))
    return samples, notes


def samples_from_dir(root) -> tuple[list, dict[str, list], list[str], list[dict]]:
    """(samples, factors, notes, runs) from every ``result.json`` under ``root``: every run
    counted (see ``samples_from_runs``)."""
    runs, factors, notes = load_runs(root)
    samples, more = samples_from_runs(runs, factors)
    return samples, factors, notes + more, runs


def curves_from_runs(runs: list[dict], factors: dict[str, list], notes: list[str] | None = None) -> list:
    """A ``pyrl.stats.convergence.RunCurve`` for every ok or diverged run with a curve.csv
    (columns worker, step, episode_return; step: that worker's env steps so far). The budget
    is the run's configured total steps; k its score_episodes (10 when not recorded). An
    unreadable curve.csv is left out, with a line in ``notes``."""
    from pathlib import Path

    import numpy as np

    from pyrl.stats.convergence import RunCurve, WorkerCurve

    out = []
    for r in runs:
        path = Path(r["_dir"]) / "curve.csv"
        if r.get("status", "ok") not in ("ok", "diverged") or not path.exists():
            continue
        try:
            rows = _read_curve(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if notes is not None:
                notes.append(f"{path}: unreadable curve ({type(exc).__name__}: {exc}); left out of convergence speed")
            continue
        cfg = r.get("config") or {}
        entries = r.get("workers") or [{"worker": w} for w in sorted(rows)]
        workers = {}
        for w in entries:
            pts = sorted(rows.get(int(w["worker"]), []))
            status = w.get("status") or r.get("status", "ok")
            workers[int(w["worker"])] = WorkerCurve(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]),
                                                   status == "diverged", w.get("diverged_at"))
        budget = int(cfg.get("steps") or r.get("steps") or 0)
        out.append(RunCurve(run_config(r, factors), r["method"], int(r["seed"]), budget,
                            int(cfg.get("score_episodes") or 10), workers))
    return out


def _read_curve(path) -> dict[int, list[tuple[float, float]]]:
    """worker -> [(its env steps, episode return)] from a curve.csv."""
    import csv

    rows: dict[int, list] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(int(row["worker"]), []).append((float(row["step"]), float(row["episode_return"])))
    return rows
