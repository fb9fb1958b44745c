"""Plain-English findings and warnings of an ablation analysis (text only, no statistics)."""
from __future__ import annotations

import math
from typing import Any

from pyrl.stats.cells import Cell, Settings


def fmt_p(p: float | None) -> str:
    """'= 0.123' or '< 0.001', to follow 'p '."""
    if p is None:
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def fmt_ci(ci: list[float] | None, fmt: str = "+.2f") -> str:
    return "n/a" if ci is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _covers0(ci) -> bool:
    return ci is not None and ci[0] <= 0 <= ci[1]


# --------------------------------------------------------------------------- names of changes


def _is_removal(st: Settings, name: str, level: Any) -> bool:
    return isinstance(level, bool) and st.factors[name][0] is True and level is False


def change_noun(st: Settings, name: str, level: Any, contribution: bool = False) -> str:
    """'removal of rnn' / 'rnn' (contribution) for an on/off component, else
    'norm=rmsnorm (vs none)' / 'norm=none (vs rmsnorm)'."""
    base = st.factors[name][0]
    if _is_removal(st, name, level):
        return name if contribution else f"removal of {name}"
    if contribution:
        return f"{name}={base} (vs {level})"
    return f"{name}={level} (vs {base})"


def change_action(st: Settings, name: str, level: Any) -> str:
    base = st.factors[name][0]
    if _is_removal(st, name, level):
        return f"Removing {name}"
    if isinstance(level, bool):
        return f"{'Adding' if level else 'Removing'} {name}"
    return f"Switching {name} from {base} to {level}"


# --------------------------------------------------------------------------- warnings


def comparison_warning(doc: dict, t: Cell, c: Cell, st: Settings) -> str | None:
    warn = []
    if min(t.n_runs, c.n_runs) < st.min_n:
        warn.append(f"n is too small ({st.treatment} {t.n_runs} runs, {st.control} {c.n_runs} runs; "
                    f"want at least {st.min_n} runs per cell)")
    p = doc["welch_p"]
    if p is None or p >= st.alpha:
        warn.append(f"the gap is not statistically significant (Welch p on run means {fmt_p(p)})")
    if _covers0(doc["gap_ci95"]):
        warn.append(f"the {st.pct_ci} of the gap covers 0")
    if _covers0(doc["cv_diff_ci95"]):
        warn.append(f"the {st.pct_ci} of the CV difference covers 0: no stability winner can be claimed")
    need, have = doc["seeds_needed"], min(t.n_runs, c.n_runs)
    if need is not None and need > have:
        warn.append(f"detecting this gap with power {st.power:g} needs about {need} runs per method (have {have})")
    return "; ".join(warn) or None


def change_warning(d: dict, b: Cell, w: Cell, st: Settings) -> str | None:
    warn = []
    if min(b.n_runs, w.n_runs) < st.min_n:
        warn.append(f"n is too small ({b.n_runs} and {w.n_runs} runs; want at least {st.min_n} per cell)")
    if d["mean_change_p"] is None or d["mean_change_p"] >= st.alpha:
        warn.append(f"the mean change is not statistically significant (Welch p on run means {fmt_p(d['mean_change_p'])})")
    if _covers0(d["cv_change_ci95"]):
        warn.append(f"the {st.pct_ci} of the CV change covers 0")
    return "; ".join(warn) or None


def small_cells(cells, st: Settings) -> str | None:
    n = min(c.n_runs for c in cells)
    return f"n = {n} runs < {st.min_n} in some cell: too few runs to support the verdict" if n < st.min_n else None


# --------------------------------------------------------------------------- whose CV suffers more


def suffers_more(st: Settings, name: str, level: Any, rt: dict, rc: dict) -> dict[str, Any]:
    T, C = st.treatment, st.control
    pt, pc = rt["cv_change_pct"], rc["cv_change_pct"]
    out = {"component": name, "level": level, "method_that_suffers_more": None, "factor": None,
           "ratio_t_over_c": None, "treatment_cv_change_pct": pt, "control_cv_change_pct": pc,
           "statement": f"{change_action(st, name, level)}: CV change not computable for both methods."}
    if pt is None or pc is None:
        return out
    worse = None if pt == pc else (T if pt > pc else C)
    factor = max(pt, pc) / min(pt, pc) if pt > 0 and pc > 0 else None
    act = change_action(st, name, level)
    if pt <= 0 and pc <= 0:
        worse = None  # both CVs fall: nobody suffers from the change
        stmt = f"{act} lowers both CVs ({T} {pt:+.1f}%, {C} {pc:+.1f}%): neither method's stability suffers."
    elif factor is not None:
        stmt = f"{act} raises {T}'s CV by {pt:.1f}% and {C}'s by {pc:.1f}%: {worse}'s CV suffers {factor:.1f}x more."
    elif worse is None:
        stmt = f"{act} changes both methods' CV by {pt:+.1f}%."
    else:
        other = C if worse == T else T
        stmt = (f"{act} changes {worse}'s CV by {max(pt, pc):+.1f}% and {other}'s by {min(pt, pc):+.1f}%: "
                f"{worse}'s CV suffers more (no ratio: the changes are not both increases).")
    if any(r["cv_change_ci95"] is None or _covers0(r["cv_change_ci95"]) for r in (rt, rc)):
        stmt += f" Caution: the {st.pct_ci} of a CV change covers 0 (or could not be computed)."
    out.update(method_that_suffers_more=worse, factor=factor, ratio_t_over_c=pt / pc if pc != 0 else None,
               statement=stmt)
    return out


# --------------------------------------------------------------------------- interactions


def interaction_text(st: Settings, fa, la, fb, lb) -> dict[str, str]:
    if _is_removal(st, fa, la) and _is_removal(st, fb, lb):
        definition = f"(both on - only {fa} on) - (only {fb} on - neither)"
    else:
        lab = lambda **kw: st.label(tuple(kw.get(f, b) for f, b in zip(st.factors, st.baseline)))  # noqa: E731
        definition = (f"(baseline - '{lab(**{fb: lb})}') - ('{lab(**{fa: la})}' - '{lab(**{fa: la, fb: lb})}')")
    meaning = ("synergistic: the combination is better than the sum of the separate effects (gap: value > 0; "
               "CV: value < 0); antagonistic: worse; additive: the CI covers 0 and lies within +-margin, half "
               "the larger main effect (each averaged over the other factor's two levels); no evidence of "
               "interaction: the CI covers 0 but reaches beyond that margin, too wide to call the effects additive")
    return {"definition": definition, "meaning": meaning}


_GAP_TAIL = {
    "synergistic": " (the gap with both on is larger than their separate effects predict).",
    "antagonistic": " (the gap with both on is smaller than their separate effects predict).",
    "undetermined": " (no CI: too few runs or no bootstrap).",
}
_CV_TAIL = {
    "synergistic": " (the CV with both on is lower than their separate effects predict).",
    "antagonistic": " (the CV with both on is higher than their separate effects predict).",
    "undetermined": " (no CI: too few runs or no bootstrap).",
}


def _tail(v: dict, tails: dict, fmt: str) -> str:
    if v["verdict"] == "additive":
        return f" (the CI lies within +-{v['margin']:{fmt[1:]}}, half the larger main effect: their effects add up)."
    if v["verdict"] == "no evidence of interaction":
        return (f" (the CI covers 0 but reaches beyond +-{v['margin']:{fmt[1:]}}, half the larger main effect: "
                f"the data cannot tell additive from interacting).")
    return tails[v["verdict"]]


def _pair_name(inter: dict) -> str:
    (fa, fb), (la, lb) = inter["components"], inter["levels"]
    if isinstance(la, bool) and isinstance(lb, bool):
        return f"{fa} and {fb}"
    name = lambda f, lv: f if isinstance(lv, bool) else f"{f}={lv}"  # noqa: E731
    return f"{name(fa, la)} and {name(fb, lb)}"


def interaction_statements(st: Settings, inter: dict) -> list[str]:
    out, pair = [], _pair_name(inter)
    g = inter["gap"]
    if g is not None:
        out.append(f"Interaction of {pair} on the gap: {g['value']:+.2f}, {st.pct_ci} {fmt_ci(g['ci95'])}: "
                   f"{g['verdict']}" + _tail(g, _GAP_TAIL, "+.2f"))
    for m, v in inter["cv"].items():
        if v is not None:
            out.append(f"Interaction of {pair} on {m}'s CV: {v['value']:+.3f}, {st.pct_ci} "
                       f"{fmt_ci(v['ci95'], '+.3f')}: {v['verdict']}" + _tail(v, _CV_TAIL, "+.3f"))
    out += [f"Interaction: {note}." for note in inter["notes"]]
    return out


# --------------------------------------------------------------------------- n, divergence


def _workers(cells: list[Cell]) -> str:
    ws = sorted({len(r) for c in cells for r in c.run_scores})
    if not ws:
        return "none"
    return str(ws[0]) if len(ws) == 1 else f"{ws[0]}-{ws[-1]}"


def n_counts_line(a) -> str:
    """One line: what n counts."""
    st = a.st
    per = ", ".join(f"{m} {_workers([c for (cfg, mm), c in a.cells.items() if mm == m])}" for m in a.methods)
    over = "run means" if st.unit == "seed" else "workers, as the study defines them"
    return (f"n counts runs (one seed each), the independent unit of every CI and test; workers per run: {per}; "
            f"point estimates (mean, std, CV, worst) are over {over}.")


def _rate(c: Cell) -> str:
    lo_hi = c.doc["divergence_rate_ci95"]
    ci = "" if lo_hi is None else f", 95% CI [{100 * lo_hi[0]:.0f}%, {100 * lo_hi[1]:.0f}%]"
    return f"{100 * c.n_diverged / c.n_learners:.0f}%{ci}" if c.n_learners else "n/a"


def divergence_findings(a, floor: float | None) -> list[str]:
    st, out = a.st, []
    for key in a.cell_order():
        c = a.cells[key]
        label = f"{st.label(c.cfg)} / {c.method}"
        if c.n_diverged:
            unit = "runs (one shared model each)" if c.method in st.shared else "learners (workers)"
            out.append(f"Divergence ({label}): {c.n_diverged} of {c.n_learners} {unit} diverged ({_rate(c)}; "
                       f"{c.n_diverged_runs} of {c.n_live_runs} runs affected).")
        if c.failed:
            out.append(f"Failed ({label}): {len(c.failed)} runs failed (seeds {', '.join(map(str, c.failed))}): "
                       f"not learning outcomes, left out of the statistics.")
    if any(c.n_diverged for c in a.cells.values()):
        out.append(policy_line(a, floor))
    return out


def policy_line(a, floor: float | None) -> str:
    st = a.st
    cells = a.cells.values()
    if st.diverged == "exclude":
        n = sum(c.n_excluded for c in cells)
        per = ", ".join(f"{m} {sum(c.n_excluded for c in cells if c.method == m)}" for m in a.methods)
        return (f"Left out at the user's request (--diverged exclude): {n} diverged worker scores ({per}); the "
                f"statistics describe only the learners that did not diverge, a selected subset.")
    fl = "n/a" if floor is None else f"{floor:.2f}"
    line = {"floor": f"Diverged learners score the floor, the lowest score in the analysis ({fl}), so "
                     f"diverging can never make a method look better.",
            "last": "Diverged learners score their own mean return of their last episodes before divergence "
                    "(--diverged last): a method that diverges late keeps its good scores."}[st.diverged]
    n_floored, n_unscored = sum(c.n_floored for c in cells), sum(c.n_unscored for c in cells)
    if n_floored:
        line += f" {n_floored} diverged worker scores without a finished episode took the floor ({fl})."
    if n_unscored:
        line += f" {n_unscored} diverged worker scores could not be scored (no score anywhere) and are left out."
    return line


# --------------------------------------------------------------------------- the findings


def _comparison_findings(a, cfg, cp) -> list[str]:
    st = a.st
    T, C = st.treatment, st.control
    t, c = a.cells[(cfg, T)], a.cells[(cfg, C)]
    sd = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    gp = "n/a" if cp["gap_pct"] is None else f"{cp['gap_pct']:+.1f}%"
    out = [f"{cp['label']}: {T} {t.mean:.2f} ± {sd(t.std)} vs {C} {c.mean:.2f} ± {sd(c.std)} "
           f"(runs {t.n_runs}/{c.n_runs}); gap {cp['gap']:+.2f} ({gp}), {st.pct_ci} {fmt_ci(cp['gap_ci95'])}, "
           f"Welch p {fmt_p(cp['welch_p'])}; P({T} > {C}) = {cp['prob_improvement']:.2f} (run means)."]
    if cp["stability_advantage_pct"] is not None:
        who = cp["more_stable"] or "neither"
        out.append(f"{cp['label']}: CV {T} {t.cv:.3f} vs {C} {c.cv:.3f}: {who} is more stable by "
                   f"{abs(cp['stability_advantage_pct']):.0f}% (1 - CV ratio); {st.pct_ci} of the CV difference "
                   f"{fmt_ci(cp['cv_diff_ci95'], '+.3f')}.")
    else:
        out.append(f"{cp['label']}: CV not reported: {t.cv_note or c.cv_note or 'control CV is 0'}.")
    rr = cp["robustness_ratio"]
    rrs = "n/a" if rr is None else ("inf" if rr == math.inf else f"{rr:.1f}x")
    out.append(f"{cp['label']}: worst run {T} {t.worst:.2f} vs {C} {c.worst:.2f}: robustness ratio {rrs}"
               + (f" ({cp['robustness_note']})." if cp["robustness_note"] and rr != math.inf else "."))
    if cp["warning"]:
        out.append(f"Warning ({cp['label']}): {cp['warning']}.")
    return out


def _contribution_finding(st: Settings, ct: dict) -> str:
    share = "n/a" if ct["share_of_gap_pct"] is None else f"{ct['share_of_gap_pct']:.1f}%"
    note = f"; share {ct['share_note']}" if ct["share_note"] else ""
    who = change_noun(st, ct["component"], ct["level"], contribution=True)
    return (f"{who} contributes {ct['gap_pct_points']:+.1f} percentage points of the {ct['gap_pct_baseline']:.1f}% "
            f"gap ({share} of it{note}), {st.pct_ci} {fmt_ci(ct['gap_pct_points_ci95'], '+.1f')}.")


def findings(a, doc: dict, n_out: int, floor: float | None) -> list[str]:
    st = a.st
    out = []
    if n_out:
        out.append(f"Note: {n_out} scores fall outside score_range {list(st.score_range)}; "
                   f"they were mapped, not clipped.")
    out += divergence_findings(a, floor)
    for cfg, cp in a.comparisons.items():
        out += _comparison_findings(a, cfg, cp)
    out += [s["statement"] for s in doc["cv_suffers_more"]]
    out += [_contribution_finding(st, ct) for ct in doc["contributions"]]
    for inter in doc["interactions"]:
        out += inter["_statements"]
    out += [f"Skipped: {s}." for s in a.skipped]
    return out


# --------------------------------------------------------------------------- convergence speed


def fmt_steps(v: float | None) -> str:
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "never" if v > 0 else "-inf"
    return f"{v:,.0f}"


def fmt_steps_ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{fmt_steps(ci[0])}, {fmt_steps(ci[1])}]"


def speed_findings(a, doc: dict, conv: dict) -> list[str]:
    if not conv.get("available"):
        return [f"Convergence speed: not available ({conv.get('reason', 'no learning curves')})."]
    st, out = a.st, [f"Convergence threshold: {conv['threshold']:.4g} ({conv['threshold_rule']})."]
    cells = {(c["label"], c["method"]): c for c in doc["cells"]}
    for cp in doc["comparisons"]:
        t, c = cells.get((cp["label"], st.treatment)), cells.get((cp["label"], st.control))
        if not t or not c or not t["n_curves"] or not c["n_curves"]:
            continue
        out.append(
            f"{cp['label']}: median steps to the threshold {st.treatment} {fmt_steps(t['steps_to_threshold'])} vs "
            f"{st.control} {fmt_steps(c['steps_to_threshold'])} (never reached: {t['never_reached']}/{t['n_curves']} "
            f"vs {c['never_reached']}/{c['n_curves']} runs), difference {st.pct_ci} "
            f"{fmt_steps_ci(cp['steps_to_threshold_diff_ci95'])}; normalised AUC "
            f"{_f(t['auc_norm'])} vs {_f(c['auc_norm'])}, difference {st.pct_ci} {fmt_ci(cp['auc_norm_diff_ci95'], '+.3f')}.")
    return out


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "n/a" if v is None else f"{v:{fmt}}"
