"""Renderings of a ``pyrl.stats.analyze`` document: the terminal report and Markdown.

Both render the same document: the Answer and every verdict come from its claims list
(``doc["answer"]["claims"]``), so the two can never disagree. The terminal opens with the
claims shown, then the study's tables in a compact form that fits 100 columns; Markdown has
everything (every claim with its interval and why it was or was not shown, every table in
full, every note). Every figure carries its 95% interval or is labelled descriptive.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from pyrl.stats.answers import claim_numbers, fmt_interval, fmt_p, fmt_value

SHOWN, NOT_SHOWN = "✓", "·"


# ---- number formatting (None means "not computable", and says so) ----

def num(v: Optional[float], digits: int = 2, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def pct(v: Optional[float], digits: int = 1, signed: bool = True) -> str:
    s = num(v, digits, signed)
    return s if s in ("n/a", "∞", "-∞") else s + "%"


def with_ci(v: Optional[float], ci, signed: bool = False, ratio: bool = False, unit: str = "",
            compact: bool = False) -> str:
    """'136 [98, 174]': the value at the precision its interval warrants, then the interval.
    ``compact`` (the terminal): an interval symmetric about the value (every t interval) as
    '136 ±38', and one significant digit of its width, so that a row fits 100 columns."""
    if v is None:
        return "n/a"
    if ci is None:
        return fmt_value(v, None, signed, ratio) + unit + " (no CI)"
    if compact:
        half = (ci[1] - ci[0]) / 2
        d = 0 if half <= 0 or not math.isfinite(half) else max(0, min(4, -math.floor(math.log10(2 * half))))
        if not ratio and half > 0 and abs((ci[0] + ci[1]) / 2 - v) <= 1e-9 * max(1.0, abs(v), half):
            return f"{v + 0.0:{'+' if signed else ''}.{d}f}{unit} ±{half:.{d}f}"
        d = max(d, 2) if ratio else d
        sign = "+" if signed else ""
        return (f"{v:{sign}.{d}f}{'x' if ratio else unit} [{ci[0]:{sign}.{d}f}, {ci[1]:{sign}.{d}f}]")
    return f"{fmt_value(v, ci, signed, ratio)}{unit} {fmt_interval(ci, signed, ratio)}"


def steps(v) -> str:
    if v is None:
        return "n/a"
    return "never" if math.isinf(v) and v > 0 else ("-∞" if math.isinf(v) else f"{v:,.0f}")


def steps_ci(pair) -> str:
    return "n/a" if not pair else f"[{steps(pair[0])}, {steps(pair[1])}]"


def share_ci(pair) -> str:
    """A proportion's CI in percent: '[3%, 56%]'."""
    return "n/a" if not pair else f"[{100 * pair[0]:.0f}%, {100 * pair[1]:.0f}%]"


def _cell(doc, label, method):
    return next((c for c in doc["cells"] if c["label"] == label and c["method"] == method), None)


def _runs_x_workers(cell) -> str:
    """'10x4': runs x workers per run ('10x2-4' when runs differ)."""
    if cell is None:
        return "n/a"
    ws = cell.get("workers_per_run") or []
    w = "?" if not ws else (str(ws[0]) if len(ws) == 1 else f"{ws[0]}-{ws[-1]}")
    return f"{cell['n_runs']}x{w}"


def _diverged(cell) -> str:
    """'2/6' diverged learners (and '+1 failed' runs), or '0'."""
    if cell is None:
        return "n/a"
    out = f"{cell['n_diverged']}/{cell['n_learners']}" if cell["n_diverged"] else "0"
    return out + (f" +{cell['n_failed']} failed" if cell["n_failed"] else "")


def _changed(r) -> str:
    """The change a row describes: 'no rnn' (removed) or 'norm=rmsnorm'."""
    level = r.get("level", False)
    if isinstance(level, bool):
        return r["component"] if level else f"no {r['component']}"
    return f"{r['component']}={level}"


def _mark(shown: bool) -> str:
    return SHOWN if shown else NOT_SHOWN


def _claim(doc, kind, **match):
    for c in doc["answer"]["claims"]:
        if c["kind"] == kind and all(c.get(k) == v for k, v in match.items()):
            return c
    return None


# ---- the tables, as (title, header, rows): the compact ones for the terminal, all for Markdown ----

def _short(label: str, full: bool) -> str:
    """The compact tables call the baseline 'baseline' (the report says once what it is)."""
    return label if full or not label.startswith("baseline (") else "baseline"


def _runs_line(doc) -> str:
    """'5 runs x 2 workers per cell' (or the range)."""
    runs = sorted({c["n_runs"] for c in doc["cells"]})
    ws = sorted({w for c in doc["cells"] for w in c.get("workers_per_run") or []})
    r = str(runs[0]) if len(runs) == 1 else f"{runs[0]}-{runs[-1]}"
    w = "?" if not ws else (str(ws[0]) if len(ws) == 1 else f"{ws[0]}-{ws[-1]}")
    return f"{r} runs x {w} workers per cell"


def _performance(doc, T, C, full):
    rows = []
    for cp in doc["comparisons"]:
        ct, cc = _cell(doc, cp["label"], T), _cell(doc, cp["label"], C)
        c = not full
        row = [_short(cp["label"], full), with_ci(ct["mean_of_runs"], ct["mean_ci95"], compact=c),
               with_ci(cc["mean_of_runs"], cc["mean_ci95"], compact=c),
               with_ci(cp["gap_of_runs"], cp["gap_ci95"], signed=True, compact=c), _mark(cp.get("gap_claim_shown", False))]
        if full:
            gp = cp["gap_pct_note"] if cp["gap_pct_ci95"] is None and cp["gap_pct"] is not None else \
                with_ci(cp["gap_pct"], cp["gap_pct_ci95"], signed=True, unit="%")
            row += [num(cp["std_treatment"]), num(cp["std_control"]), gp, fmt_p(cp["welch_p"]),
                    with_ci(cp["prob_improvement"], cp["prob_improvement_ci95"]) if cp["prob_improvement_ci95"]
                    else f"{cp['prob_improvement']:.2f} (descr.: a CI needs 5 runs a side)",
                    f"{_runs_x_workers(ct)} / {_runs_x_workers(cc)}"]
        if full or any(c["n_diverged"] or c["n_failed"] for c in doc["cells"]):
            row.append(f"{_diverged(ct)} / {_diverged(cc)}")
        rows.append(row)
    header = ["configuration", T, C, "gap", "shown"]
    if full:
        header += [f"{T} std (descr.)", f"{C} std (descr.)", "gap % (Fieller CI)", "Welch p",
                   f"P({T}>{C}) (Newcombe CI)", "runs x workers"]
    if full or any(c["n_diverged"] or c["n_failed"] for c in doc["cells"]):
        header.append("diverged")
    return (f"1. Performance per configuration (mean of run means, 95% CI; {_runs_line(doc)})", header, rows)


def _variance(doc, T, C, full):
    rows = []
    for cp in doc["comparisons"]:
        ct, cc = _cell(doc, cp["label"], T), _cell(doc, cp["label"], C)
        c = not full
        row = [_short(cp["label"], full), with_ci(cp["cv_treatment"], ct["cv_ci95"], compact=c),
               with_ci(cp["cv_control"], cc["cv_ci95"], compact=c),
               with_ci(cp["cv_ratio"], cp["cv_ratio_ci95"], ratio=True, compact=c)]
        if full:
            adv = cp["stability_advantage_pct"]
            row += [num(cp["std_treatment"]), num(cp["std_control"]),
                    "n/a" if adv is None else f"{cp['more_stable']} by {abs(adv):.1f}%",
                    "; ".join(x for x in (ct.get("cv_note"), cc.get("cv_note"), ct.get("cv_ci_note"),
                                          cc.get("cv_ci_note")) if x) or ""]
        rows.append(row)
    header = ["configuration", f"{T} CV", f"{C} CV", "CV ratio"]
    if full:
        header += [f"{T} std (descr.)", f"{C} std (descr.)", "study's stability advantage (descr.)", "note"]
    return (f"2. Variance over workers, as the study defines it (CV = std / mean; ratio {T}/{C}; 95% CI: jackknife "
            f"over runs; no verdict: see 2b)", header, rows)


def _models(doc, T, C, full):
    """2b: stability, dispersion and risk across trained models, the stability verdict's table."""
    rows = []
    for cp in doc["comparisons"]:
        m = cp["models"]
        win = m.get("stability_winner")
        c = not full
        row = [_short(cp["label"], full), with_ci(m["cv_treatment"], m["cv_ci95_treatment"], compact=c),
               with_ci(m["cv_control"], m["cv_ci95_control"], compact=c),
               with_ci(m["cv_ratio"], m["cv_ratio_ci95"], ratio=True, compact=c),
               f"{win} {SHOWN}" if win else NOT_SHOWN]
        if full:
            row.append(f"{m['n_models_treatment']} / {m['n_models_control']}")
            row += [with_ci(m[f"iqr_{side}"], m[f"iqr_ci95_{side}"]) for side in ("treatment", "control")]
            row += [f"{num(m['cvar10_treatment'])} / {num(m['cvar10_control'])}",
                    f"{num(m['worst_treatment'])} / {num(m['worst_control'])}",
                    f"{m['n_diverged_treatment']} / {m['n_diverged_control']}",
                    f"{num(m['rollout_sd_treatment'])} / {num(m['rollout_sd_control'])}"]
        rows.append(row)
    header = ["configuration", f"{T} CV", f"{C} CV", "CV ratio", "steadier"]
    if full:
        header += ["models", f"{T} IQR (CI from 10 runs)", f"{C} IQR (CI from 10 runs)", "CVaR10 (descr.)", "worst (descr.)", "diverged models",
                   "SD across rollouts (descr.)"]
    scored = doc.get("models", {}).get("scored") or ""
    return (f"2b. Stability across trained models ({scored}): CV and IQR over the models that did not diverge "
            f"(95% CI: jackknife / bootstrap over runs); CVaR 10% and worst with the divergences", header, rows)


def _removals(doc, full):
    rows = []
    for r in doc["removals"]:
        mc = _claim(doc, "change", component=r["component"], level=r["level"], methods=[r["method"]], measure="score")
        c = not full
        row = [_changed(r), r["method"], with_ci(r["mean_change_of_runs"], r["mean_change_ci95"], True, compact=c),
               _mark(bool(mc and mc["shown"])),
               with_ci(r["cv_change_pct"], r["cv_change_pct_ci95"], True, unit="%", compact=c)]
        if full:
            mp = r["mean_change_pct_note"] if r["mean_change_pct_ci95"] is None and r["mean_change_pct"] is not None \
                else with_ci(r["mean_change_pct"], r["mean_change_pct_ci95"], True, unit="%")
            row += [mp, fmt_p(r["mean_change_p"]), f"{num(r['std_change'], 2, True)} ({pct(r['std_change_pct'])})",
                    f"{num(r['cv_change'], 3, True)}",
                    f"{num(r['worst_change'], 2, True)} ({pct(r['worst_change_pct'])})"]
            if r.get("auc_norm_change") is not None or r.get("auc_norm_change_ci95"):
                row.append(with_ci(r.get("auc_norm_change"), r.get("auc_norm_change_ci95"), True))
        rows.append(row)
    header = ["changed", "method", "mean change", "shown", "CV change %"]
    if full:
        header += ["mean change % (Fieller CI)", "Welch p", "std change (descr.)", "CV change (descr.)",
                   "worst change (descr.)"]
        if any(r.get("auc_norm_change") is not None for r in doc["removals"]):
            header.append("AUC change")
    return ("3. Removing a component (or changing its level): changed minus baseline, 95% CIs", header, rows)


def _suffers(doc, T, C, full):
    rows = []
    for s in doc["cv_suffers_more"]:
        m = s["models"]
        who = m.get("method_that_suffers_more")
        row = [_changed(s), with_ci(m.get("relative"), m.get("relative_ci95"), ratio=True, compact=not full),
               f"{who} {SHOWN}" if m.get("shown") and who else NOT_SHOWN]
        if full:
            row += [with_ci(s.get("relative"), s.get("relative_ci95"), ratio=True),
                    pct(s["treatment_cv_change_pct"]), pct(s["control_cv_change_pct"])]
        rows.append(row)
    header = ["changed", "ratio of CV ratios", "suffers more"]
    if full:  # (the study's ratio of the two percentages stays in the JSON, "factor": not a second verdict)
        header += ["over workers (descr.)", f"{T} CV change over workers (descr.)",
                   f"{C} CV change over workers (descr.)"]
    return (f"3b. Whose CV across trained models suffers more (> 1: the change raises {T}'s CV relatively more)",
            header, rows)


def _worst(doc, T, C, full):
    rows = []
    for cp in doc["comparisons"]:
        rr = cp["robustness_ratio"]
        rrs = "n/a" if rr is None else ("∞" if rr == math.inf else f"{rr:.1f}x")
        rows.append([_short(cp["label"], full), num(cp["worst_treatment"]), num(cp["worst_control"]), num(cp["worst_diff"], 2, True),
                     rrs])
    return ("4. Worst case (descriptive: the sample minimum over workers, no interval)",
            ["configuration", f"{T} worst", f"{C} worst", "difference", "robustness ratio"], rows)


def _interactions(doc, T, C, full):
    rows = []
    for inter in doc.get("interactions", []):
        pair = " x ".join(n if isinstance(lv, bool) else f"{n}={lv}" for n, lv in zip(inter["components"],
                                                                                   inter["levels"]))
        models = inter.get("cv_models", {})
        for what, v, study in [("gap", inter["gap"], None)] + [(f"{m} CV of models", models.get(m), inter["cv"].get(m))
                                                                for m in (T, C)]:
            if v is None:
                row = [pair, what, "n/a", "not computed"]
            else:
                row = [pair, what, with_ci(v.get("estimate", v["value"]), v.get("ci95"), signed=True, compact=not full),
                       v["verdict"] + (f" {SHOWN}" if v["verdict"] in ("synergistic", "antagonistic") else "")]
            if full:
                row.append("" if study is None else num(study["value"], 3, True))
            rows.append(row)
    header = ["factors", "on", "value", "verdict"] + (["CV over workers (descr.)"] if full else [])
    return ("5. Combined factorial: interactions, (base - only B) - (only A - both), 95% CI; verdict at the "
            "claim's Holm level (CV: across trained models)", header, rows)


def _contributions(doc, full):
    rows = []
    for ct in doc["contributions"]:
        share = "n/a" if ct["share_of_gap_pct"] is None else f"{ct['share_of_gap_pct']:.1f}%"
        ci = ct["gap_change_ci95"]
        who = ct["component"] if isinstance(ct["level"], bool) else \
            f"{ct['component']}={ct['baseline_level']} (vs {ct['level']})"
        row = [who, with_ci(ct["contribution_of_runs"], None if ci is None else [-ci[1], -ci[0]], signed=True,
                            compact=not full),
               _mark(ct.get("shown", False)), num(ct["gap_pct_points"], 1, True), share]
        if full:
            row.append(ct["share_note"] or "")
        rows.append(row)
    header = ["baseline level", "adds to the gap", "shown", "% points (descr.)", "share (descr.)"]
    if full:
        header.append("note")
    return ("6. Contribution to the gap: gap at baseline - gap without (or at the other level), 95% CI", header,
            rows)


def _per_cell(doc, full):
    rows = []
    for c in doc["cells"]:
        if not full:
            rows.append([_short(c["label"], full), c["method"], _runs_x_workers(c), with_ci(c["mean"], c["mean_ci95"]),
                         with_ci(c["cv"], c["cv_ci95"]), _diverged(c)])
            continue
        med = with_ci(c["median"], c["median_ci95"]) + f" ({100 * c['median_ci_level']:.1f}%)" \
            if c["median_ci95"] is not None else f"{num(c['median'])} (descr.: a CI needs 5 runs)"
        rows.append([c["label"], c["method"], _runs_x_workers(c), str(c["n"]), with_ci(c["mean"], c["mean_ci95"]),
                     med, with_ci(c["iqm"], c["iqm_ci95"]), num(c["cvar10"]), num(c["worst"]), _diverged(c),
                     share_ci(c["divergence_rate_ci95"]), c["warning"] or ""])
    if not full:
        return ("8. Per cell (mean and CV with 95% CIs over runs)",
                ["configuration", "method", "runs x workers", "mean", "CV", "diverged"], rows)
    return ("8. Per cell (mean: t over runs; median of run means: order statistics, exact coverage in brackets; "
            "IQM of run means: Yuen; CVaR 10% and worst over workers: descriptive; divergence: Wilson)",
            ["configuration", "method", "runs x workers", "n", "mean", "median", "IQM", "CVaR10 (descr.)",
             "worst (descr.)", "diverged", "rate 95% CI", "warning"], rows)


def _convergence(doc, full):
    conv = doc["meta"].get("convergence") or {}
    if not conv.get("available"):
        return ("9. Convergence speed: not available", ["reason"], [[conv.get("reason") or "no learning curves"]])
    rows = []
    for c in doc["cells"]:
        if not c.get("n_curves"):
            continue
        med = steps(c["steps_to_threshold"]) + ("" if not c["steps_to_threshold_ci95"] else
                                                f" {steps_ci(c['steps_to_threshold_ci95'])}")
        row = [_short(c["label"], full), c["method"], med, f"{c['never_reached']}/{c['n_curves']}",
               with_ci(c["auc_norm"], c["auc_norm_ci95"])]
        if full:
            row.append(share_ci(c["never_reached_ci95"]))
        rows.append(row)
    header = ["configuration", "method", "median steps to thr.", "never", "normalised AUC"]
    if full:
        header.append("never: 95% CI")
    return (f"9. Convergence speed: threshold {conv['threshold']:.4g} ({conv['threshold_rule']}); median steps over runs "
            f"(descriptive; order-statistic CI from 5 runs), AUC with its t CI", header, rows)


def tables(doc: dict[str, Any], full: bool = True) -> list[tuple[str, list[str], list[list[str]]]]:
    """The numbered tables, in the order they are printed (7, the CV bars, is drawn between
    6 and 8). ``full``: every column (Markdown); else the compact ones for the terminal."""
    T, C = doc["meta"]["treatment"], doc["meta"]["control"]
    out = [_performance(doc, T, C, full), _variance(doc, T, C, full), _models(doc, T, C, full), _removals(doc, full)]
    if doc["removals"]:
        out.append(_suffers(doc, T, C, full))
    out += [_worst(doc, T, C, full), _interactions(doc, T, C, full), _contributions(doc, full)]
    if full or not doc["comparisons"]:  # one method: the cells are what there is to show
        out.append(_per_cell(doc, full))
    out.append(_convergence(doc, full))
    return [t for t in out if t[2]]  # a one-method sweep has no method comparisons to tabulate


def _claim_row(c: dict[str, Any]) -> list[str]:
    """A claim as a row: shown, kind, the claim, estimate, 95% CI, the interval at its Holm level,
    p, adjusted p, why not shown (ratios as 0.67x; probabilities unsigned)."""
    ratio, signed = c["scale"] == "ratio", c["scale"] != "probability"
    level = "" if c["ci_level"] is None else f" ({100 * c['ci_level']:.2f}%)"
    return [_mark(c["shown"]), c["kind"], c["statement"] if c["shown"] else c["question"],
            fmt_value(c["estimate"], c["ci95"], signed, ratio), fmt_interval(c["ci95"], signed, ratio),
            (fmt_interval(c["ci"], signed, ratio) + level) if c["ci"] else "n/a", fmt_p(c["p"]), fmt_p(c["p_adj"]),
            c["why_not"] or ""]


def claims_table(doc: dict[str, Any]) -> tuple[str, list[str], list[list[str]]]:
    """Every claim the report weighed: estimate, 95% CI, the interval at its Holm level, p,
    adjusted p, and why it was not shown."""
    rows = [_claim_row(c) for c in doc["answer"]["claims"]]
    fam = doc["answer"]["family"]
    return (f"Claims: all {fam['weighed']} weighed ({fam['tested']} tested, Holm at {fam['alpha']:g}; "
            f"{fam['shown']} shown)",
            ["shown", "kind", "claim", "estimate", "95% CI", "CI at the Holm level", "p", "p_adj", "why not shown"], rows)


def cv_bars(doc: dict[str, Any]) -> list[tuple[str, str, Optional[float]]]:
    """(configuration, method, cv) per cell, for bar charts."""
    return [(c["label"], c["method"], c["cv"]) for c in doc["cells"]]


def bar_lines(doc: dict[str, Any], width: int = 30) -> list[tuple[str, str, Optional[float]]]:
    """Table 7 as text: (label, bar, value) per cell with a CV, bars scaled to ``width`` blocks."""
    bars = [b for b in cv_bars(doc) if b[2] is not None]
    if not bars:
        return []
    top = max(b[2] for b in bars) or 1.0
    return [(f"{label} / {method}", "█" * (max(1, round(width * cv / top)) if cv > 0 else 0), cv)
            for label, method, cv in bars]


BARS_TITLE = "7. CV per configuration (lower is steadier; descriptive, CIs in table 2)"
NO_BARS = "no CV can be shown (scores negative or means near zero; see --score-range)"


def _split(ts):
    """The tables before the CV bars (1-6) and after them (8 on)."""
    i = next((k for k, t in enumerate(ts) if t[0].startswith(("8.", "9."))), len(ts))
    return ts[:i], ts[i:]


# ---- the terminal ----

def answer_lines(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The Answer's lines tagged family (the first), claim (each shown claim) or note."""
    lines, n = doc["answer"]["lines"], doc["answer"]["family"]["shown"]
    return [("family" if i == 0 else "claim" if i <= n else "note", line) for i, line in enumerate(lines)]


def render(doc: dict[str, Any], console) -> None:
    """The terminal report: the Answer (shown claims first), compact tables, CV bars, notes."""
    from rich.text import Text

    T = doc["meta"]["treatment"]
    console.print(Text("Answer", style="bold"))
    for kind, line in answer_lines(doc):
        if kind == "claim":
            console.print(Text(f"{SHOWN} ", style="green").append(line))
        else:
            console.print(Text(line if kind == "family" else "• " + line,
                               style="dim" if line.startswith("n counts") else None))
    base = next((c["label"] for c in doc["comparisons"] if c["label"].startswith("baseline (")), None)
    if base:
        console.print(Text(f"• Baseline: {base[10:-1]} (every factor at its first level)"))
    before, after = _split(tables(doc, full=False))
    for t in before:
        _rich_table(console, *t)
        if t[0].startswith("2. "):
            console.print()
            console.print(Text(doc["models"]["line"], style="dim"))
    console.print()
    console.print(Text(BARS_TITLE, style="bold"))
    lines = bar_lines(doc, width=24)
    width = max((len(label) for label, _, _ in lines), default=0)
    for label, bar, cv in lines:
        line = Text(label.ljust(width) + "  ")
        line.append(bar, style="cyan" if label.endswith(" / " + T) else "magenta")
        line.append(f" {cv:.3f}")
        console.print(line)
    if not lines:
        console.print("  " + NO_BARS)
    for t in after:
        _rich_table(console, *t)
    notes = _notes(doc)
    if notes:
        console.print()
        console.print(Text("Notes", style="bold"))
        for f in notes:
            style = "yellow" if f.startswith(("Warning", "Divergence", "Failed", "Left out")) else None
            console.print(Text("• " + f, style=style))


def _notes(doc) -> list[str]:
    """The findings, and what was skipped that they do not name (a results directory's notes)."""
    return doc["findings"] + [f"Skipped: {s}." for s in doc.get("skipped", []) if f"Skipped: {s}." not in doc["findings"]]


def _rich_table(console, title, header, rows) -> None:
    from rich import box
    from rich.table import Table

    console.print()
    from rich.text import Text

    # Text, not markup: a level or a method may contain "[...]"
    table = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False)
    for i, h in enumerate(header):
        table.add_column(Text(h), justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


# ---- Markdown ----

def _md_table(title, header, rows) -> list[str]:
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def markdown(doc: dict[str, Any]) -> str:
    """The whole report as Markdown: the Answer, every claim, every table, every note, and a
    paragraph to paste into a paper."""
    meta = doc["meta"]
    lines = [f"# {meta['treatment']} vs {meta['control']}: ablation report", ""]
    factors = ", ".join(f"{k} ({'/'.join(_level_name(v) for v in lv)})" for k, lv in meta["factors"].items())
    lines += [f"Factors (baseline level first): {factors or 'none (one configuration)'}. "
              f"Samples: {meta['n_samples']}. Inference: {meta['inference']}. Intervals at "
              f"{int(round(meta['ci_level'] * 100))}% unless a claim's Holm level is given.", ""]
    lines += ["## Answer", ""]
    lines += [f"- {SHOWN} {line}" if kind == "claim" else f"- {line}" for kind, line in answer_lines(doc)] + [""]
    lines += _md_table(*claims_table(doc))
    before, after = _split(tables(doc, full=True))
    for t in before:
        lines += _md_table(*t)
        if t[0].startswith("2. "):
            lines += [doc["models"]["line"], ""]
    bars = bar_lines(doc)
    width = max((len(label) for label, _, _ in bars), default=0)
    lines += [f"## {BARS_TITLE}", "", "```"]
    lines += [f"{label.ljust(width)}  {bar} {cv:.3f}" for label, bar, cv in bars] or [NO_BARS]
    lines += ["```", ""]
    for t in after:
        lines += _md_table(*t)
    lines += ["## Notes", ""] + [f"- {f}" for f in _notes(doc)] + [""]
    lines += ["## Summary paragraph", "", summary_paragraph(doc), ""]
    return "\n".join(lines)


def _level_name(level) -> str:
    if isinstance(level, bool):
        return "on" if level else "off"
    return str(level)


def summary_paragraph(doc: dict[str, Any]) -> str:
    """A paragraph for a paper: the baseline comparison and every shown claim, each with its
    interval and adjusted p, and how the family was controlled."""
    meta, ans = doc["meta"], doc["answer"]
    T, C = meta["treatment"], meta["control"]
    parts = []
    base = doc["comparisons"][0] if doc["comparisons"] else None
    if base:
        parts.append(
            f"In the {base['label']} configuration, {T} reached a mean score of {num(base['mean_treatment'])} "
            f"({base['n_runs_treatment']} runs, {base['n_treatment']} workers) against {num(base['mean_control'])} "
            f"({base['n_runs_control']} runs, {base['n_control']} workers) for {C}: a gap of "
            f"{with_ci(base['gap'], base['gap_ci95'], signed=True)} (95% CI, Welch's t on run means).")
    fam = ans["family"]
    shown = [c for c in ans["claims"] if c["shown"]]
    parts.append(f"Of the {fam['tested']} claims tested together (Holm's procedure, family-wise error "
                 f"{fam['alpha']:g}), {len(shown)} held" + (":" if shown else "."))
    parts += [f"{c['statement']} ({claim_numbers(c)}, 95% CI; adjusted p {fmt_p(c['p_adj'])});" for c in shown]
    if shown:
        parts[-1] = parts[-1][:-1] + "."
    return " ".join(parts)


# ---- a suite: every task's report, then the answer across tasks ----

def suite_tables(doc: dict[str, Any], full: bool = True) -> list[tuple[str, list[str], list[list[str]]]]:
    """The across-task tables: normalisation, the IQM of every cell, and (``full``) every claim
    weighed."""
    across = doc["across_tasks"]
    if not across.get("available"):
        return []
    norm = [[t, num(n["random"]), num(n["reference"])] + ([n["reference_source"] or "", n["random_source"] or ""]
                                                         if full else [])
            for t, n in across["normalisation"].items()]
    cells = [[c["config"], c["method"], " + ".join(str(k) for k in c["runs"].values()),
              fmt_value(c["iqm"], c["iqm_ci95"]), fmt_interval(c["iqm_ci95"])] for c in across["cells"]]
    claims = [(row := _claim_row(c))[:2] + [c["measure"]] + row[2:] for c in across["answer"]["claims"]]
    return [("Normalisation per task (0: a uniformly random policy, 1: the reference)",
             ["task", "random", "reference"] + ["reference from", "random from"] * full, norm),
            (f"IQM of normalised model scores per cell (pooled over tasks; {across['n_boot']} stratified bootstrap "
             "replicates, runs resampled within each task)",
             ["configuration", "method", "runs (" + " + ".join(across["tasks"]) + ")" if full else "runs per task",
              "IQM", "95% CI"], cells),
            ] + [("Claims across tasks", ["shown", "kind", "measure", "claim", "estimate", "95% CI", "CI at the Holm level",
                                     "p", "p_adj", "why not shown"], claims)] * full


def render_suite(doc: dict[str, Any], console) -> None:
    """The terminal report of a suite: each task's report, then the answer across tasks."""
    from rich.rule import Rule
    from rich.text import Text

    for task in doc["tasks"]:
        console.print(Rule(Text(f"Task: {task['task']}", style="bold")))
        render(task, console)
    console.print(Rule(Text("Across tasks", style="bold")))
    across = doc["across_tasks"]
    if not across.get("available"):
        console.print(Text(across["why"], style="yellow"))
    else:
        n_shown = across["answer"]["family"]["shown"]
        for i, line in enumerate(across["answer"]["lines"]):
            console.print(Text(f"{SHOWN} ", style="green").append(line) if i < n_shown else Text(line))
        for t in suite_tables(doc, full=False):
            _rich_table(console, *t)
        console.print(Text("Every claim across tasks with its interval and why: --markdown, or --json "
                           "(across_tasks.answer.claims).", style="dim"))
    console.print()
    console.print(Text(doc["family"]["line"], style="bold"))


def markdown_suite(doc: dict[str, Any]) -> str:
    """A suite's report as Markdown: the answer across tasks first, then each task's report."""
    across = doc["across_tasks"]
    lines = [f"# {doc['treatment']} vs {doc['control']} across tasks: {', '.join(doc['suite'])}", "",
             doc["family"]["line"], "", "## Across tasks", ""]
    if not across.get("available"):
        lines += [across["why"], ""]
    else:
        n_shown = across["answer"]["family"]["shown"]
        lines += [f"- {SHOWN} {line}" if i < n_shown else f"- {line}"
                  for i, line in enumerate(across["answer"]["lines"])] + [""]
        for t in suite_tables(doc):
            lines += _md_table(*t)
    for task in doc["tasks"]:
        lines += [f"# Task: {task['task']}", ""] + markdown(task).split("\n")[1:]
    return "\n".join(lines)
