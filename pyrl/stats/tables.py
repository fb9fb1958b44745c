"""The study's tables, each figure with its interval or labelled descriptive: T vs C per
configuration, each factor change per method, whose CV suffers more, contributions to the gap,
interactions (definitions in ``pyrl.stats``; their verdicts come from the claims). The
study's figures of spread are over workers, as it defines them; every stability verdict is
across trained models (``models`` entries)."""
from __future__ import annotations

import math
from typing import Any

from pyrl.stats import findings as fnd
from pyrl.stats.cells import Cell, Settings
from pyrl.stats.estimators import Estimate, combine, prob_improvement, prob_improvement_ci, ratio_ci


def comparison(a, cfg: tuple) -> dict[str, Any] | None:
    """T vs C in one configuration: the study's figures, each with its interval."""
    st = a.st
    t, c = a.cell(cfg, st.treatment), a.cell(cfg, st.control)
    if t is None or c is None:
        return None
    gap = t.mean - c.mean
    e = combine([(1.0, t.mean_est), (-1.0, c.mean_est)])
    gp_ci, gp_note = pct_ci(t.mean_est, c.mean_est, st)
    pi = prob_improvement(t.run_means, c.run_means)
    doc = {
        "config": st.config(cfg), "label": st.label(cfg),
        "n_treatment": t.n, "n_control": c.n, "n_runs_treatment": t.n_runs, "n_runs_control": c.n_runs,
        "mean_treatment": t.mean, "mean_control": c.mean, "std_treatment": t.std, "std_control": c.std,
        "gap": gap, "gap_of_runs": float(t.run_means.mean() - c.run_means.mean()),
        "gap_ci95": None if e is None else e.ci(1 - st.alpha), "welch_p": None if e is None else e.p(),
        "gap_pct": pct(gap, c.mean), "gap_pct_ci95": gp_ci, "gap_pct_note": gp_note,
        **_stability(t, c, st), **_robustness_doc(t, c), "models": _models(t, c, st),
        "prob_improvement": pi, "prob_improvement_ci95": prob_improvement_ci(pi, t.n_runs, c.n_runs, st.alpha),
        **_divergence_doc(t, c),
    }
    doc["warning"] = fnd.comparison_warning(doc, t, c, st)
    return doc


def pct_ci(num: Estimate | None, den: Estimate | None, st: Settings) -> tuple[list[float] | None, str | None]:
    """The interval of 100 (num - den) / |den| (Fieller's, for the ratio num / den of two
    independent means), or None with the reason: too few runs, or den's interval reaching
    half its value towards 0 (then the percentage can take any size, and is not printed)."""
    if num is None or den is None:
        return None, "no interval: too few runs"
    ci, note = ratio_ci(num, den, 1 - st.alpha)
    if ci is None:
        return None, f"not reported: {note}"
    sign = 1.0 if den.centre > 0 else -1.0
    return sorted(100.0 * sign * (v - 1.0) for v in ci), None


def _stability(t: Cell, c: Cell, st: Settings) -> dict[str, Any]:
    """The study's figures (stability advantage, the point-estimate winner) and the CV ratio
    T / C with its interval (the symmetric figure the claims test)."""
    adv = 100.0 * (1 - t.cv / c.cv) if t.cv is not None and c.cv is not None and c.cv != 0 else None
    e = combine([(1.0, t.logcv_est), (-1.0, c.logcv_est)])
    return {
        "cv_treatment": t.cv, "cv_control": c.cv,
        "cv_ratio": None if t.cv is None or not c.cv else t.cv / c.cv,
        "cv_ratio_ci95": None if e is None else [math.exp(v) for v in e.ci(1 - st.alpha)],
        "stability_advantage_pct": adv,
        "more_stable": None if adv is None or adv == 0 else (st.treatment if adv > 0 else st.control),
    }


def _models(t: Cell, c: Cell, st: Settings) -> dict[str, Any]:
    """T vs C across trained models: the CV ratio with its interval (the stability claim's
    figure; its verdict, ``stability_winner``, is set from the claim), and each side's
    dispersion and risk (``pyrl.stats.models``)."""
    mt, mc = t.models, c.models
    e = combine([(1.0, mt.logcv_est), (-1.0, mc.logcv_est)])
    out = {"cv_ratio": None if mt.cv is None or not mc.cv else mt.cv / mc.cv,
           "cv_ratio_ci95": None if e is None else [math.exp(v) for v in e.ci(1 - st.alpha)]}
    for side, m in (("treatment", t), ("control", c)):
        d = m.doc["models"]
        for k in ("cv", "cv_ci95", "iqr", "iqr_ci95", "cvar10", "worst", "n_models", "n_diverged",
                  "rollout_sd"):
            out[f"{k}_{side}"] = d[k]
    return out


def _robustness_doc(t: Cell, c: Cell) -> dict[str, Any]:
    rr, note = robustness(t.worst, c.worst)
    return {"worst_treatment": t.worst, "worst_control": c.worst, "worst_diff": t.worst - c.worst,
            "robustness_ratio": rr, "robustness_note": note}


def _divergence_doc(t: Cell, c: Cell) -> dict[str, Any]:
    out = {}
    for side, cell in (("treatment", t), ("control", c)):
        out[f"n_diverged_{side}"] = cell.n_diverged
        out[f"n_learners_{side}"] = cell.n_learners
        out[f"n_failed_{side}"] = len(cell.failed)
    return out


def robustness(wt: float, wc: float) -> tuple[float | None, str | None]:
    if wt < 0 or wc < 0:
        return None, ("a worst score is negative: the ratio is only defined for non-negative "
                      "scores (normalise with score_range); see worst_diff")
    if wc == 0:
        if wt == 0:
            return None, "both worst scores are 0: the ratio is 0/0, undefined; see worst_diff"
        return math.inf, "control's worst score is 0 < treatment's: ratio is infinite"
    return wt / wc, None


def pct(change: float | None, base: float | None) -> float | None:
    if change is None or base is None or base == 0:
        return None
    return 100.0 * change / abs(base)


def sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --------------------------------------------------------------------------- changes from the baseline


def changes(a) -> tuple[list, list]:
    """Each factor level against the baseline level (the others at baseline), per method."""
    st, removals, suffers = a.st, [], []
    base = st.baseline
    for name, level in st.level_changes():
        cfg = st.changed(name, level)
        rows = {}
        for m in (st.treatment, st.control):
            b, w = a.cell(base, m), a.cell(cfg, m)
            if b is None or w is None:
                a.skipped.append(f"{fnd.change_noun(st, name, level)} for {m}: needs cells "
                                 f"'{st.label(base)}' and '{st.label(cfg)}'")
                continue
            rows[m] = _change_row(st, name, level, m, b, w)
            removals.append(rows[m])
        if st.treatment in rows and st.control in rows:
            suffers.append(_suffers(a, name, level, cfg, rows[st.treatment], rows[st.control]))
    return removals, suffers


def _change_row(st: Settings, name: str, level: Any, m: str, b: Cell, w: Cell) -> dict[str, Any]:
    d = {"component": name, "level": level, "baseline_level": st.factors[name][0], "method": m,
         "label": st.label(st.changed(name, level))}
    for stat in ("mean", "std", "cv", "worst"):
        ch = sub(getattr(w, stat), getattr(b, stat))
        d[f"{stat}_change"] = ch
        d[f"{stat}_change_pct"] = pct(ch, getattr(b, stat))
    e = combine([(1.0, w.mean_est), (-1.0, b.mean_est)])
    d["mean_change_of_runs"] = float(w.run_means.mean() - b.run_means.mean())
    d["mean_change_ci95"] = None if e is None else e.ci(1 - st.alpha)
    d["mean_change_p"] = None if e is None else e.p()
    d["mean_change_pct_ci95"], d["mean_change_pct_note"] = pct_ci(w.mean_est, b.mean_est, st)
    r = combine([(1.0, w.logcv_est), (-1.0, b.logcv_est)])
    d["cv_ratio"] = None if w.cv is None or not b.cv else w.cv / b.cv
    d["cv_ratio_ci95"] = None if r is None else [math.exp(v) for v in r.ci(1 - st.alpha)]
    d["cv_change_pct_ci95"] = None if r is None else [100.0 * (math.exp(v) - 1) for v in r.ci(1 - st.alpha)]
    d["cv_note"] = b.cv_note or w.cv_note or b.cv_ci_note() or w.cv_ci_note()
    d["n_runs"] = [b.n_runs, w.n_runs]
    d["warning"] = fnd.change_warning(d, b, w, st)
    return d


def _suffers(a, name: str, level: Any, cfg: tuple, rt: dict, rc: dict) -> dict[str, Any]:
    """Whose CV suffers more from the change, by one definition everywhere: the ratio of the two
    methods' CV ratios (changed / baseline), > 1 when the treatment's CV rises relatively more;
    its interval from the log scale. ``factor`` keeps the study's figure (a ratio of percentage
    changes), descriptive only."""
    st = a.st
    T, C = st.treatment, st.control
    cs = [a.cell(c, m) for m in (T, C) for c in (cfg, st.baseline)]
    e = combine([(1.0, cs[0].logcv_est), (-1.0, cs[1].logcv_est), (-1.0, cs[2].logcv_est), (1.0, cs[3].logcv_est)])
    out = fnd.suffers_more(st, name, level, rt, rc)
    # no ratio of ratios where the control's CV ratio is 0 (a cell whose scores are all equal)
    rel = None if rt["cv_ratio"] is None or not rc["cv_ratio"] else rt["cv_ratio"] / rc["cv_ratio"]
    out.update(baseline_level=st.factors[name][0], relative=rel,
               relative_ci95=None if e is None else [math.exp(v) for v in e.ci(1 - st.alpha)],
               method_that_suffers_more=None if rel is None or rel == 1 else (T if rel > 1 else C))
    # the verdict's figure: across trained models (its ``shown`` set from the claim)
    ms = [c.models for c in cs]
    e = combine([(1.0, ms[0].logcv_est), (-1.0, ms[1].logcv_est), (-1.0, ms[2].logcv_est), (1.0, ms[3].logcv_est)])
    rel = None if any(m.cv is None for m in ms) or not ms[1].cv or not ms[2].cv or not ms[3].cv else \
        (ms[0].cv / ms[1].cv) / (ms[2].cv / ms[3].cv)
    out["models"] = {"relative": rel, "relative_ci95": None if e is None else [math.exp(v) for v in e.ci(1 - st.alpha)],
                     "method_that_suffers_more": None if rel is None or rel == 1 else (T if rel > 1 else C)}
    return out


def contributions(a) -> list[dict[str, Any]]:
    st, out = a.st, []
    base = st.baseline
    for name, level in st.level_changes():
        cfg = st.changed(name, level)
        cb, cw = a.comparisons.get(base), a.comparisons.get(cfg)
        if cb is None or cw is None:
            a.skipped.append(f"contribution of {fnd.change_noun(st, name, level, contribution=True)}: "
                             f"needs T and C in '{st.label(base)}' and '{st.label(cfg)}'")
            continue
        out.append(_contribution(a, name, level, cb, cw, cfg))
    return out


def _reported(cp: dict) -> bool:
    """Whether a comparison's gap % is printed (defined, and its control mean far from 0)."""
    return cp["gap_pct"] is not None and not (cp["gap_pct_note"] or "").startswith("not reported")


def _contribution(a, name, level, cb, cw, cfg) -> dict[str, Any]:
    """What the baseline level adds to the gap: gap(baseline) - gap(level) in score units, with
    its interval (the claim), and the study's figures in percentage points and as a share of
    the baseline gap (descriptive; None, with the reason, where a percentage behind them is
    not reported)."""
    st, base = a.st, a.st.baseline
    T, C = st.treatment, st.control
    e = combine([(1.0, a.cell(cfg, T).mean_est), (-1.0, a.cell(cfg, C).mean_est),
                 (-1.0, a.cell(base, T).mean_est), (1.0, a.cell(base, C).mean_est)])
    if _reported(cb) and _reported(cw):
        pp = cb["gap_pct"] - cw["gap_pct"]
        share, note = _share(pp, cb, st)
    else:
        bad = next(cp for cp in (cb, cw) if not _reported(cp))
        pp, share = None, None
        note = (f"not reported: the gap % in {bad['label']} is not reported "
                f"({bad['gap_pct_note'] or 'its control mean is 0'})")
    return {
        "component": name, "level": level, "baseline_level": st.factors[name][0],
        "gap_pct_baseline": cb["gap_pct"], "gap_pct_without": cw["gap_pct"],
        "gap_change": cw["gap"] - cb["gap"], "gap_change_ci95": None if e is None else e.ci(1 - st.alpha),
        "contribution_of_runs": cb["gap_of_runs"] - cw["gap_of_runs"],
        "gap_pct_points": pp, "share_of_gap_pct": share, "share_note": note,
        "warning": fnd.small_cells([a.cell(c, m) for c in (base, cfg) for m in (T, C)], st),
    }


def _share(pp: float, cb: dict, st: Settings) -> tuple[float | None, str | None]:
    """The contribution as a share of the baseline gap (descriptive): suppressed when the
    baseline gap's interval covers 0 (a share of a gap that may be 0 can take any size and
    either sign)."""
    if cb["gap_pct"] == 0:
        return None, "the baseline gap is 0"
    ci = cb["gap_ci95"]
    if ci is None:
        return None, "not reported: no interval of the baseline gap"
    if ci[0] <= 0 <= ci[1]:
        return None, (f"not reported: the {st.pct_ci} of the baseline gap {fnd.fmt_ci(ci)} covers 0, where a "
                      f"share of it can take any size and either sign")
    return 100.0 * pp / cb["gap_pct"], None


# --------------------------------------------------------------------------- interactions


def the_interaction(st: Settings, interactions: list) -> dict | None:
    """The study's interaction: defined when there are exactly two two-level factors."""
    if len(st.factors) == 2 and all(len(lv) == 2 for lv in st.factors.values()):
        return interactions[0]
    return None


def dod(v: dict) -> Any:
    """Difference of differences: (base - only B changed) - (only A changed - both changed)."""
    return (v["base"] - v["b"]) - (v["a"] - v["ab"])


def main_effects_margin(v: dict) -> float:
    """Half the larger main effect (each averaged over the other factor's two levels): an
    interaction whose interval lies within +-this margin is narrow enough to call additive."""
    ea = ((v["base"] - v["a"]) + (v["b"] - v["ab"])) / 2
    eb = ((v["base"] - v["b"]) + (v["a"] - v["ab"])) / 2
    return 0.5 * max(abs(ea), abs(eb))


def interaction(a, fa, la, fb, lb) -> dict[str, Any]:
    st = a.st
    corners = st.corners(fa, la, fb, lb)
    out: dict[str, Any] = {"components": [fa, fb], "levels": [la, lb],
                           "baseline_levels": [st.factors[fa][0], st.factors[fb][0]],
                           **fnd.interaction_text(st, fa, la, fb, lb), "gap": None, "cv": {}, "cv_models": {},
                           "notes": []}
    cps = {k: a.comparisons.get(v) for k, v in corners.items()}
    if all(cps.values()):
        cells = [a.cells[(cfg, m)] for cfg in corners.values() for m in (st.treatment, st.control)]
        gaps = {k: cp["gap"] for k, cp in cps.items()}
        out["gap"] = {"value": dod(gaps), "margin": main_effects_margin(gaps), "warning": fnd.small_cells(cells, st)}
    else:
        miss = [st.label(corners[k]) for k, cp in cps.items() if cp is None]
        out["notes"].append(f"gap interaction not computed: no {st.treatment}/{st.control} comparison in "
                            f"{'; '.join(repr(x) for x in miss)}")
    for m in (st.treatment, st.control):
        cs = {k: a.cell(v, m) for k, v in corners.items()}
        if not all(cs.values()):
            miss = [st.label(corners[k]) for k, c in cs.items() if c is None]
            out["notes"].append(f"{m} CV interaction not computed: no samples in {'; '.join(repr(x) for x in miss)}")
            out["cv"][m] = None
        elif any(c.cv is None for c in cs.values()):
            out["notes"].append(f"{m} CV interaction not computed: CV undefined in some cell")
            out["cv"][m] = None
        else:
            cvs = {k: c.cv for k, c in cs.items()}
            out["cv"][m] = {"value": dod(cvs), "margin": main_effects_margin(cvs),
                            "warning": fnd.small_cells(cs.values(), st)}
        # the verdict: on the CV across trained models (set from its claim)
        if all(cs.values()) and all(c.models.cv is not None for c in cs.values()):
            cvs = {k: c.models.cv for k, c in cs.items()}
            out["cv_models"][m] = {"value": dod(cvs), "margin": main_effects_margin(cvs)}
        else:
            out["cv_models"][m] = None
    return out
