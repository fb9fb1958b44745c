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


def tables(doc: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    meta = doc["meta"]
    T, C = meta["treatment"], meta["control"]
    out = []

    rows = []
    for cmp in doc["comparisons"]:
        rows.append([
            cmp["label"],
            f"{num(cmp['mean_treatment'])} ± {num(cmp['std_treatment'])}",
            f"{num(cmp['mean_control'])} ± {num(cmp['std_control'])}",
            num(cmp["gap"], 2, True), pct(cmp["gap_pct"]), ci(cmp["gap_ci95"]), pval(cmp["welch_p"]),
            num(cmp.get("prob_improvement"), 2),
            f"{cmp['n_treatment']}/{cmp['n_control']}",
        ])
    out.append(("1. Performance per configuration (mean ± std)",
                ["configuration", T, C, "gap", "gap %", "gap 95% CI", "Welch p", f"P({T}>{C})", "n"], rows))

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
    out.append(("2. Variance (CV = std / mean, lower is more stable)",
                ["configuration", f"{T} std", f"{T} CV", f"{C} std", f"{C} CV", "stability winner",
                 "CV diff 95% CI", "note"], rows))

    rows = []
    for r in doc["removals"]:
        rows.append([
            r["component"], r["method"],
            f"{num(r['mean_change'], 2, True)} ({pct(r['mean_change_pct'])})",
            f"{num(r['std_change'], 2, True)} ({pct(r['std_change_pct'])})",
            f"{num(r['cv_change'], 3, True)} ({pct(r['cv_change_pct'])})",
            f"{num(r['worst_change'], 2, True)} ({pct(r['worst_change_pct'])})",
            ci(r.get("mean_change_ci95")),
        ])
    if rows:
        out.append(("3. Removing a component (without it minus baseline)",
                    ["removed", "method", "mean change", "std change", "CV change", "worst change",
                     "mean change 95% CI"], rows))
        rows = [[s["component"], s.get("method_that_suffers_more") or "n/a",
                 num(s.get("factor"), 1) + ("x" if s.get("factor") is not None else ""),
                 pct(s.get("treatment_cv_change_pct")), pct(s.get("control_cv_change_pct"))]
                for s in doc.get("cv_suffers_more", [])]
        out.append(("3b. Whose CV suffers more when a component is removed",
                    ["removed", "suffers more", "factor", f"{T} CV change", f"{C} CV change"], rows))

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
    out.append(("4. Worst case (robustness ratio = worst_T / worst_C; CVaR10 = mean of the worst 10%)",
                ["configuration", f"{T} worst", f"{C} worst", "robustness ratio", f"{T} CVaR10", f"{C} CVaR10"], rows))

    if len(meta["components"]) >= 1 and len(doc["comparisons"]) > 1:
        rows = []
        for cmp in doc["comparisons"]:
            adv = cmp.get("stability_advantage_pct")
            rows.append([cmp["label"], num(cmp["cv_treatment"], 3), num(cmp["cv_control"], 3),
                         (f"{num(abs(adv), 0)}% " + ("better" if adv >= 0 else "worse")) if adv is not None else "n/a"])
        out.append((f"5. Combined factorial: CV per configuration ({T} advantage = 1 - CV_T / CV_C)",
                    ["configuration", f"{T} CV", f"{C} CV", f"{T} advantage"], rows))

    if doc["contributions"]:
        rows = [[c["component"], f"{num(c['gap_pct_points'], 1, True)} pp", pct(c["share_of_gap_pct"]),
                 ci(c.get("gap_pct_points_ci95"), 1)] for c in doc["contributions"]]
        out.append(("6. Contribution of each component to the gap",
                    ["component", "gap % points", "share of gap", "95% CI (pp)"], rows))

    inter = doc.get("interaction")
    if inter:
        gap = inter.get("gap")  # None when a corner lacks one of the methods (e.g. a one-method sweep)
        rows = [["gap", num(gap["value"], 2, True), ci(gap["ci95"]), gap["verdict"]] if gap else
                ["gap", "n/a", "n/a", next((n for n in inter.get("notes", []) if n.startswith("gap")), "not computed")]]
        for method, v in (inter.get("cv") or {}).items():
            if v:
                rows.append([f"{method} CV", num(v["value"], 3, True), ci(v["ci95"], 3), v["verdict"]])
        out.append((f"5b. Interaction of {' and '.join(inter['components'])}: {inter['definition']}",
                    ["on", "difference of differences", "95% CI", "verdict"], rows))

    rows = [[c["label"], c["method"], str(c["n"]), str(c.get("n_seeds", "")), num(c["mean"]), ci(c["mean_ci95"]),
             num(c["median"]), num(c["iqm"]), num(c["worst"]), c.get("warning") or ""] for c in doc["cells"]]
    out.append(("8. Per cell: n, bootstrap CI of the mean, median, IQM",
                ["configuration", "method", "n", "seeds", "mean", "mean 95% CI", "median", "IQM", "worst", "warning"],
                rows))
    return [t for t in out if t[2]]  # a one-method sweep has no method comparisons to tabulate


def cv_bars(doc: dict[str, Any]) -> list[tuple[str, str, Optional[float]]]:
    """(configuration, method, cv) per cell, for bar charts."""
    return [(c["label"], c["method"], c["cv"]) for c in doc["cells"]]


def render(doc: dict[str, Any], console) -> None:
    from rich.table import Table
    from rich.text import Text

    for title, header, rows in tables(doc):
        table = Table(title=title, title_justify="left", show_lines=False)
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)

    bars = [b for b in cv_bars(doc) if b[2] is not None]
    console.print(Text("7. CV per configuration (lower is more stable)", style="bold"))
    if bars:
        top = max(b[2] for b in bars) or 1.0
        label_w = max(len(f"{b[0]} / {b[1]}") for b in bars)
        for label, method, cv in bars:
            n = max(1, round(30 * cv / top)) if cv > 0 else 0
            style = "cyan" if method == doc["meta"]["treatment"] else "magenta"
            line = Text(f"{label} / {method}".ljust(label_w) + "  ")
            line.append("█" * n, style=style)
            line.append(f" {cv:.3f}")
            console.print(line)
    else:
        console.print("  no CV can be shown (scores negative or means near zero; see --score-range)")

    console.print(Text("Key findings", style="bold"))
    for f in doc["findings"]:
        style = "yellow" if f.startswith("Warning") or "Caution" in f else None
        console.print(Text("• " + f, style=style))
    for s in doc.get("skipped", []):
        console.print(Text(f"• skipped: {s}", style="dim"))


def markdown(doc: dict[str, Any]) -> str:
    """The same report as Markdown, ending with a paragraph of findings to paste into a paper."""
    meta = doc["meta"]
    lines = [f"# {meta['treatment']} vs {meta['control']}: ablation report", ""]
    comps = ", ".join(meta["components"]) or "none (one configuration)"
    lines += [f"Components: {comps}. Samples: {meta['n_samples']} (unit: one {meta['unit']} of one run). "
              f"Bootstrap: {meta['n_boot']} resamples, seed {meta['seed']}; CIs at {int(meta['ci_level'] * 100)}%.", ""]
    for title, header, rows in tables(doc):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    lines += ["## Findings", ""] + [f"- {f}" for f in doc["findings"]] + [""]
    lines += ["## Summary paragraph", "", summary_paragraph(doc), ""]
    return "\n".join(lines)


def summary_paragraph(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    T, C = meta["treatment"], meta["control"]
    parts = []
    base = doc["comparisons"][0] if doc["comparisons"] else None
    if base:
        sig = base["welch_p"] is not None and base["welch_p"] < (1 - meta["ci_level"])
        parts.append(
            f"In the {base['label']} configuration, {T} reached a mean score of {num(base['mean_treatment'])} "
            f"(± {num(base['std_treatment'])}, n = {base['n_treatment']}) against {num(base['mean_control'])} "
            f"(± {num(base['std_control'])}, n = {base['n_control']}) for {C}, a gap of {num(base['gap'], 2, True)} "
            f"({pct(base['gap_pct'])}; 95% bootstrap CI {ci(base['gap_ci95'])}; Welch's t-test p = {pval(base['welch_p'])})"
            + ("." if sig else ", which is not statistically significant at this sample size."))
        if base.get("stability_advantage_pct") is not None:
            parts.append(
                f"Its coefficient of variation was {num(base['cv_treatment'], 3)} vs {num(base['cv_control'], 3)} "
                f"(95% CI of the difference {ci(base.get('cv_diff_ci95'), 3)}).")
        if base.get("seeds_needed"):
            parts.append(f"Detecting a gap of this size with power 0.8 at alpha 0.05 would take about "
                         f"{base['seeds_needed']} samples per method.")
    for c in doc["contributions"]:
        parts.append(f"Removing {c['component']} changed the gap by {num(c['gap_pct_points'], 1, True)} percentage "
                     f"points (95% CI {ci(c.get('gap_pct_points_ci95'), 1)}).")
    if not base:  # one method: what removing each component did to it
        for r in doc["removals"]:
            parts.append(f"Removing {r['component']} changed {r['method']}'s mean score by "
                         f"{num(r['mean_change'], 2, True)} ({pct(r['mean_change_pct'])}; 95% CI "
                         f"{ci(r.get('mean_change_ci95'))}).")
    inter = doc.get("interaction")
    if inter and inter.get("gap"):
        parts.append(f"The interaction of {' and '.join(inter['components'])} on the gap was "
                     f"{inter['gap']['verdict']} ({num(inter['gap']['value'], 2, True)}, 95% CI {ci(inter['gap']['ci95'])}).")
    return " ".join(parts)


# ---- inputs: a results directory of runs ----

def samples_from_dir(root) -> tuple[list, list[str], list[str], list[dict]]:
    """(samples, components, skipped, runs) from every ``result.json`` under ``root``
    (``pyrl.results.load_results``: a run that disagrees with its sweep is an error).

    One sample per worker of each finished run (status ok). Failed or diverged runs are listed
    in ``skipped``, not analysed.
    """
    from pathlib import Path

    from pyrl.results import ResultsError, load_results
    from pyrl.stats import Sample, ScoresError

    try:
        loaded = load_results(root)
    except ResultsError as exc:
        raise ScoresError(str(exc)) from None
    skipped = list(loaded.problems)
    runs = []
    for res in loaded.runs:
        if res.get("status", "ok") != "ok":
            skipped.append(f"{Path(res['_dir']).name}: status {res.get('status')} ({res.get('error') or 'no error text'})")
            continue
        runs.append(res)
    if not runs:
        raise ScoresError(f"no finished runs (result.json with status ok) under {root}")
    components = list(loaded.factors)
    samples = []
    for r in runs:
        for w in r["workers"]:
            if w.get("score") is None:
                skipped.append(f"{Path(r['_dir']).name} worker {w['worker']}: no completed episode, no score")
                continue
            samples.append(Sample(config=r["factors"], method=r["method"], seed=int(r["seed"]),
                                  worker=int(w["worker"]), score=float(w["score"])))
    return samples, components, skipped, runs
