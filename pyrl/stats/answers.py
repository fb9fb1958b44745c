"""A short answer in plain words to the study's questions, for this data: each claim with its
CI, and what the data cannot support. Text only, from an ``analyze`` document."""
from __future__ import annotations

import json
import math
from typing import Any

from pyrl.stats.findings import fmt_ci, fmt_p, fmt_steps, fmt_steps_ci


def _excludes0(ci) -> bool:
    return ci is not None and not ci[0] <= 0 <= ci[1]


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def _n(doc, cp) -> str:
    return f"{cp['n_runs_treatment']}/{cp['n_runs_control']} runs"


def _gap(doc: dict, cp: dict) -> str:
    m = doc["meta"]
    T, C, level = m["treatment"], m["control"], f"{100 * m['ci_level']:g}% CI"
    body = (f"{T} {cp['mean_treatment']:.2f} vs {C} {cp['mean_control']:.2f}: gap {cp['gap']:+.2f} "
            f"({_pct(cp['gap_pct'])}), {level} {fmt_ci(cp['gap_ci95'])}, Welch p on run means {fmt_p(cp['welch_p'])}, "
            f"{_n(doc, cp)}")
    if _excludes0(cp["gap_ci95"]) and cp["welch_p"] is not None and cp["welch_p"] < m["alpha"]:
        who = T if cp["gap"] > 0 else C
        return f"Does {T} score higher than {C}? In {cp['label']}, {who} does: {body}."
    need = f"; about {cp['seeds_needed']} runs per method would detect a gap this size (power {m['power']:g})" \
        if cp.get("seeds_needed") else ""
    return (f"Does {T} score higher than {C}? Not shown in {cp['label']}: {body}. The data cannot support a "
            f"claim either way{need}.")


def _others(doc: dict) -> str | None:
    rest = doc["comparisons"][1:]
    if not rest:
        return None
    parts = [f"{cp['label']} {cp['gap']:+.2f} {fmt_ci(cp['gap_ci95'])}" + ("" if _excludes0(cp["gap_ci95"]) else " (covers 0)")
             for cp in rest]
    return "The gap in the other configurations, with CIs: " + "; ".join(parts) + "."


def _stability(doc: dict, cp: dict) -> str:
    T, C = doc["meta"]["treatment"], doc["meta"]["control"]
    if cp["cv_diff"] is None:
        return f"Is {T} more stable? Cannot say in {cp['label']}: the CV is not defined there."
    body = f"CV {cp['cv_treatment']:.3f} vs {cp['cv_control']:.3f}, CI of the difference {fmt_ci(cp['cv_diff_ci95'], '+.3f')}"
    if _excludes0(cp["cv_diff_ci95"]):
        return f"Is {T} more stable? In {cp['label']}, {cp['more_stable']} is (lower CV): {body}."
    return f"Is {T} more stable? No winner can be claimed in {cp['label']}: {body} covers 0."


def _worst(doc: dict, cp: dict) -> str:
    T, C = doc["meta"]["treatment"], doc["meta"]["control"]
    return (f"Worst case: the worst worker scored {cp['worst_treatment']:.2f} ({T}) vs {cp['worst_control']:.2f} ({C}) "
            f"in {cp['label']}; a minimum is one worker, with no CI: it describes this sample and cannot support a "
            f"claim of robustness on its own.")


def _change(doc: dict, name: str, level, rows: list[dict]) -> str:
    """What one factor change does to each method's mean score, judged run by run: shown when
    the CI of the change excludes 0 and Welch's p on run means is below alpha."""
    alpha = doc["meta"]["alpha"]
    what = f"removing {name}" if isinstance(level, bool) else f"{name}={level} instead of {rows[0]['baseline_level']}"
    parts, shown = [], []
    for r in rows:
        p = r["mean_change_p"]
        sure = _excludes0(r["mean_change_ci95"]) and p is not None and p < alpha
        shown.append(sure)
        parts.append(f"{r['method']} {r['mean_change']:+.2f} ({_pct(r['mean_change_pct'])}), CI "
                     f"{fmt_ci(r['mean_change_ci95'])}, Welch p {fmt_p(p)}" + ("" if sure else " (not shown)"))
    verdict = "shown for " + " and ".join(r["method"] for r, s in zip(rows, shown) if s) if any(shown) \
        else "not shown for either method"
    return f"What does {what} do to the score? {verdict[0].upper() + verdict[1:]}: {'; '.join(parts)}."


def _changes(doc: dict) -> list[str]:
    groups: dict = {}
    for r in doc["removals"]:
        if r.get("mean_change") is not None:
            groups.setdefault((r["component"], json.dumps(r["level"])), []).append(r)
    return [_change(doc, rows[0]["component"], rows[0]["level"], rows) for rows in groups.values()]


def _contribution(c: dict) -> str:
    name = c["component"] if isinstance(c["level"], bool) else f"{c['component']}={c['baseline_level']} (vs {c['level']})"
    body = f"{c['gap_pct_points']:+.1f} percentage points of the gap, CI {fmt_ci(c['gap_pct_points_ci95'], '+.1f')}"
    if _excludes0(c["gap_pct_points_ci95"]):
        return f"What does {name} contribute to the gap? {body}."
    return f"What does {name} contribute to the gap? Cannot tell: {body} covers 0."


def _suffers(s: dict, T: str, C: str) -> str | None:
    ci = s.get("cv_change_diff_ci95")
    if s.get("cv_change_diff") is None:
        return None
    change = f"without {s['component']}" if isinstance(s["level"], bool) else \
        f"with {s['component']}={s['level']} instead of {s['baseline_level']}"
    body = f"{T}'s CV change minus {C}'s: {s['cv_change_diff']:+.3f}, CI {fmt_ci(ci, '+.3f')}"
    if _excludes0(ci):
        who = T if s["cv_change_diff"] > 0 else C
        return f"Whose stability suffers more {change}? {who}'s ({body})."
    return f"Whose stability suffers more {change}? Cannot tell: {body} covers 0."


def _interaction(inter: dict) -> str | None:
    g = inter.get("gap")
    if not g:
        return None
    # on/off components name themselves; a level names the pair of levels it contrasts
    pair = " and ".join(n if isinstance(lv, bool) else f"{n}={lv} (vs {base})"
                        for n, lv, base in zip(inter["components"], inter["levels"], inter["baseline_levels"]))
    words = {"additive": "additive: their effects add up (the CI lies within half the larger main effect)",
             "no evidence of interaction": "no evidence of interaction, but the CI is too wide to call them additive",
             "synergistic": "synergistic: together they widen the gap more than their separate effects",
             "antagonistic": "antagonistic: together they widen the gap less than their separate effects",
             "undetermined": "undetermined (no CI)"}[g["verdict"]]
    return f"Do {pair} interact on the gap? {words}; {g['value']:+.2f}, CI {fmt_ci(g['ci95'])}."


def _speed(doc: dict, cp: dict) -> str:
    conv, T = doc["meta"]["convergence"], doc["meta"]["treatment"]
    if not conv.get("available"):
        return f"Does {T} converge faster? Not available: {conv.get('reason')}."
    d, ci = cp.get("steps_to_threshold_diff"), cp.get("steps_to_threshold_diff_ci95")
    steps = fmt_steps(d) if d is None or math.isinf(d) else f"{d:+,.0f}"
    auc = cp.get("auc_norm_diff")
    body = (f"median steps to {conv['threshold']:.4g}, difference {steps} {fmt_steps_ci(ci)}; normalised AUC "
            f"difference {'n/a' if auc is None else f'{auc:+.3f}'} {fmt_ci(cp.get('auc_norm_diff_ci95'), '+.3f')}")
    if _excludes0(ci) and d is not None:
        return f"Does {T} converge faster? In {cp['label']}, {'no, slower' if d > 0 else 'yes'}: {body}."
    return f"Does {T} converge faster? Cannot tell in {cp['label']}: {body} (the steps' CI covers 0 or is open)."


def _divergence(doc: dict) -> str | None:
    cells = [c for c in doc["cells"] if c["n_diverged"] or c["n_failed"]]
    if not cells:
        return None
    parts = []
    for c in cells:
        ci = c["divergence_rate_ci95"]
        rate = "" if ci is None else f" (rate CI [{100 * ci[0]:.0f}%, {100 * ci[1]:.0f}%])"
        parts.append(f"{c['label']} / {c['method']}: {c['n_diverged']} of {c['n_learners']} learners diverged{rate}"
                     + (f", {c['n_failed']} runs failed" if c["n_failed"] else ""))
    return (f"Divergence and failures: {'; '.join(parts)}. Diverged learners are scored by the "
            f"'{doc['meta']['diverged_policy']}' policy; failed runs are left out.")


def answers(doc: dict[str, Any]) -> list[str]:
    """The plain answer, one sentence per question, baseline configuration first."""
    T, C = doc["meta"]["treatment"], doc["meta"]["control"]
    out = []
    if doc["comparisons"]:
        base = doc["comparisons"][0]
        out += [_gap(doc, base), _others(doc), _stability(doc, base), _worst(doc, base)]
    else:
        out.append(f"Does {T} score higher than {C}? Not answerable: no configuration has scores for both methods.")
    out += _changes(doc)
    out += [_contribution(c) for c in doc["contributions"]]
    out += [_suffers(s, T, C) for s in doc["cv_suffers_more"]]
    out += [_interaction(i) for i in doc.get("interactions", [])]
    if doc["comparisons"]:
        out.append(_speed(doc, doc["comparisons"][0]))
    out.append(_divergence(doc))
    out.append(doc["meta"]["n_counts"])
    return [s for s in out if s]
