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
    """Why the data may not support claims about this configuration (the claims list says
    which were shown): too few runs, an undefined CV, a percentage that is not reported."""
    warn = []
    if min(t.n_runs, c.n_runs) < st.min_n:
        warn.append(f"n is too small ({st.treatment} {t.n_runs} runs, {st.control} {c.n_runs} runs; "
                    f"want at least {st.min_n} runs per cell)")
    if t.cv is None or c.cv is None:
        warn.append(f"CV not reported: {t.cv_note or c.cv_note}")
    if doc["gap_pct_note"] and doc["gap_pct_note"].startswith("not reported"):
        warn.append(f"gap % {doc['gap_pct_note']}")
    return "; ".join(warn) or None


def change_warning(d: dict, b: Cell, w: Cell, st: Settings) -> str | None:
    warn = []
    if min(b.n_runs, w.n_runs) < st.min_n:
        warn.append(f"n is too small ({b.n_runs} and {w.n_runs} runs; want at least {st.min_n} per cell)")
    if d["mean_change_pct_note"] and d["mean_change_pct_note"].startswith("not reported"):
        warn.append(f"mean change % {d['mean_change_pct_note']}")
    if d["cv_note"]:
        warn.append(f"CV: {d['cv_note']}")
    return "; ".join(warn) or None


def small_cells(cells, st: Settings) -> str | None:
    n = min(c.n_runs for c in cells)
    return f"n = {n} runs < {st.min_n} in some cell: too few runs to support the verdict" if n < st.min_n else None


# --------------------------------------------------------------------------- whose CV suffers more


def suffers_more(st: Settings, name: str, level: Any, rt: dict, rc: dict) -> dict[str, Any]:
    """The study's figures of whose CV suffers more: each method's CV change in percent and
    their ratio ``factor`` (larger / smaller when both rise; descriptive: a ratio of two
    percentages says nothing about uncertainty). The report's verdict uses the one
    definition instead (``relative``, set by the analysis: the ratio of the CV ratios)."""
    T, C = st.treatment, st.control
    pt, pc = rt["cv_change_pct"], rc["cv_change_pct"]
    factor = max(pt, pc) / min(pt, pc) if pt is not None and pc is not None and pt > 0 and pc > 0 else None
    ratio = pt / pc if pt is not None and pc not in (None, 0) else None
    r_t, r_c = rt["cv_ratio"], rc["cv_ratio"]
    if r_t is None or r_c is None:
        stmt = f"{change_action(st, name, level)}: CV change not computable for both methods."
    elif min(r_t, r_c) <= 0:  # a cell whose scores are all equal has CV 0: no ratio of ratios
        stmt = (f"{change_action(st, name, level)} multiplies {T}'s CV by {r_t:.3g} and {C}'s by {r_c:.3g} "
                f"(a CV of 0: all of a cell's scores equal, so the two changes have no ratio).")
    else:
        worse, better = (T, C) if r_t >= r_c else (C, T)
        rel = max(r_t, r_c) / min(r_t, r_c)
        stmt = (f"{change_action(st, name, level)} multiplies {T}'s CV by {r_t:.3g} and {C}'s by {r_c:.3g}: "
                f"{worse}'s CV changes {rel:.3g}x more for the worse than {better}'s (the ratio of the two).")
    return {"component": name, "level": level, "factor": factor, "ratio_t_over_c": ratio,
            "treatment_cv_change_pct": pt, "control_cv_change_pct": pc, "statement": stmt}


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


def divergence_findings(a) -> list[str]:
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
    if any(c.n_diverged or c.models.n_diverged for c in a.cells.values()):
        out.append(policy_line(a))
    return out


def policy_line(a) -> str:
    st = a.st
    cells = a.cells.values()
    if st.diverged == "exclude":
        n = sum(c.n_excluded for c in cells)
        per = ", ".join(f"{m} {sum(c.n_excluded for c in cells if c.method == m)}" for m in a.methods)
        return (f"Left out at the user's request (--diverged exclude): {n} diverged worker scores ({per}); the "
                f"statistics describe only the learners that did not diverge, a selected subset.")
    models = ("Across trained models, dispersion (CV, IQR) is over the models that did not diverge, beside "
              "the divergence rate; risk (CVaR, worst) and the mean carry the divergences.")
    if st.diverged == "floor":
        line = (f"Diverged learners score the environment's floor, fixed before the analysis ({st.floor:.4g}), "
                f"or their own last score where that is lower, so diverging never raises a score and no cell's "
                f"numbers depend on which other cells are analysed. {models}")
    elif st.diverged_asked == "floor":
        line = ("No floor was given (--floor, a floor column, or sweep.json's random-policy score), so diverged "
                "learners keep their own last scores (policy 'last'): a method that diverges late keeps its good "
                f"scores. Give the environment's floor to score them as failures. {models}")
    else:
        line = ("Diverged learners score their own mean return of their last episodes before divergence "
                f"(--diverged last): a method that diverges late keeps its good scores. {models}")
    n_unscored = sum(c.n_unscored for c in cells)
    if n_unscored:
        line += f" {n_unscored} diverged worker scores could not be scored (no score of their own) and are left out."
    return line


# --------------------------------------------------------------------------- the findings


def findings(a, doc: dict, n_out: int) -> list[str]:
    """What the Answer and the tables do not say: notes on the input, divergence and failures,
    the warnings of each comparison, change, contribution and interaction, skipped cells."""
    st = a.st
    out = []
    if n_out:
        out.append(f"Note: {n_out} scores fall outside score_range {list(st.score_range)}; "
                   f"they were mapped, not clipped.")
    if doc["models"]["note"]:
        out.append(f"Note: {doc['models']['note']}.")
    out += divergence_findings(a)
    for cp in doc["comparisons"]:
        if cp["warning"]:
            out.append(f"Warning ({cp['label']}): {cp['warning']}.")
    for r in doc["removals"]:
        if r["warning"]:
            out.append(f"Warning ({change_noun(st, r['component'], r['level'])}, {r['method']}): {r['warning']}.")
    for ct in doc["contributions"]:
        if ct["share_note"]:
            out.append(f"Share of the gap ({change_noun(st, ct['component'], ct['level'], contribution=True)}): "
                       f"{ct['share_note']}.")
    for inter in doc["interactions"]:
        for v in [inter["gap"], *inter["cv"].values()]:
            if v is not None and v.get("warning"):
                out.append(f"Warning (interaction of {' and '.join(inter['components'])}): {v['warning']}.")
        out += [f"Interaction: {note}." for note in inter["notes"]]
    out += [f"Skipped: {s}." for s in a.skipped]
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- convergence speed


def fmt_steps(v: float | None) -> str:
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "never" if v > 0 else "-inf"
    return f"{v:,.0f}"


def fmt_steps_ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{fmt_steps(ci[0])}, {fmt_steps(ci[1])}]"
