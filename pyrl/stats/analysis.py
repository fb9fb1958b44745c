"""The ablation analysis: composes the estimators into the study's tables (see ``pyrl.stats``)."""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from pyrl.stats import answers, speed
from pyrl.stats import findings as fnd
from pyrl.stats.convergence import RunCurve
from pyrl.stats.cells import POLICIES, Cell, Settings, floor_score
from pyrl.stats.estimators import percentile_ci, prob_improvement, welch_p, welch_seeds_needed
from pyrl.stats.samples import Sample, ScoresError, as_sample, config_label, normalize_factors


def analyze(
    samples: Iterable[Sample | Mapping[str, Any]],
    factors: Sequence[str] | Mapping[str, Sequence[Any]],
    treatment: str = "a3c",
    control: str = "individual",
    score_range: tuple[float, float] | None = None,
    n_boot: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    min_n: int = 5,
    unit: str = "worker",
    diverged: str = "floor",
    shared: Sequence[str] = ("a3c",),
    curves: Sequence[RunCurve] | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Analyse an ablation; returns one JSON-ready document (see the ``pyrl.stats`` docstring
    for every definition) with keys ``cells, comparisons, removals, cv_suffers_more,
    contributions, interaction, interactions, skipped, findings, meta, answers``.

    ``samples``: Sample objects or dicts with keys config, method, seed, worker, score (and
    status). ``factors``: a list of on/off component names (each config maps every one to a
    bool; the baseline has all on) or an ordered mapping factor -> levels (the first level is
    the baseline); it may be empty (one configuration). ``score_range=(lo, hi)`` maps every
    score to (score - lo) / (hi - lo) before anything else (not clipped). ``unit``: "worker"
    (point estimates over workers, as the study) or "seed" (over run means); inference is
    over runs either way. ``diverged``: the policy for diverged learners (floor, last,
    exclude; ``pyrl.stats.cells``). ``shared``: methods whose workers share one model (a
    run is one learner). ``curves``: the runs' learning curves (``pyrl.stats.convergence``)
    for convergence speed, with ``threshold`` (score units; default 0.9 x the best cell's
    mean); without them ``meta.convergence`` says it is not available. Missing cells are
    skipped and listed in ``skipped``."""
    st = _settings(factors, treatment, control, score_range, n_boot, seed, alpha, power, min_n, unit,
                   diverged, shared)
    groups, n_out, n_samples = _collect(samples, st)
    floor = floor_score(groups, st.score_range)
    cells = {k: Cell(k[0], k[1], runs, st, floor) for k, runs in groups.items()}
    a = Ablation(st, cells)
    removals, suffers = _changes(a)
    contributions = _contributions(a)
    interactions = [_interaction(a, *pair) for pair in _pairs(st)]
    doc = {
        "cells": [cells[k].doc for k in a.cell_order()],
        "comparisons": list(a.comparisons.values()),
        "removals": removals,
        "cv_suffers_more": suffers,
        "contributions": contributions,
        "interaction": _the_interaction(st, interactions),
        "interactions": interactions,
        "skipped": a.skipped,
    }
    convergence = speed.attach(a, doc, curves, threshold, floor)
    doc["findings"] = fnd.findings(a, doc, n_out, floor) + fnd.speed_findings(a, doc, convergence)
    for inter in interactions:
        del inter["_statements"]
    doc["meta"] = {**_meta(st, a, n_samples, floor), "convergence": convergence}
    doc["answers"] = answers.answers(doc)
    return doc


# --------------------------------------------------------------------------- input


def _settings(factors, treatment, control, score_range, n_boot, seed, alpha, power, min_n, unit,
              diverged, shared) -> Settings:
    levels = normalize_factors(factors)
    if treatment == control:
        raise ScoresError("treatment and control must differ")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 0):
        raise ScoresError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ScoresError(f"seed must be a non-negative integer, got {seed!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ScoresError("alpha and power must lie in (0, 1)")
    if unit not in ("worker", "seed"):
        raise ScoresError(f"unit must be 'worker' or 'seed', got {unit!r}")
    if diverged not in POLICIES:
        raise ScoresError(f"diverged must be one of {', '.join(POLICIES)}, got {diverged!r}")
    rng = None
    if score_range is not None:
        lo, hi = (float(v) for v in score_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ScoresError(f"score_range must be (lo, hi) with lo < hi, got {score_range!r}")
        rng = (lo, hi)
    return Settings(levels, str(treatment), str(control), int(n_boot), int(seed), float(alpha), float(power),
                    int(min_n), unit, diverged, frozenset(shared), rng)


def _cfg_of(s: Sample, st: Settings) -> tuple:
    cfg = s.config_dict
    if set(cfg) != set(st.factors):
        raise ScoresError(f"sample (method {s.method}, seed {s.seed}, worker {s.worker}) has components "
                          f"{sorted(cfg)}, expected {sorted(st.factors)}")
    for name, levels in st.factors.items():
        v = cfg[name]
        if levels == [True, False] and not isinstance(v, bool):
            raise ScoresError(f"component {name!r} must be on/off (bool or 0/1), got {v!r}")
        if v not in levels or isinstance(v, bool) != isinstance(levels[levels.index(v)], bool):
            raise ScoresError(f"sample (method {s.method}, seed {s.seed}, worker {s.worker}): "
                              f"{name}={v!r} is not one of the levels {levels}")
    return tuple(cfg[name] for name in st.factors)


def _mapped(s: Sample, st: Settings) -> tuple[Sample, bool]:
    if s.status == "ok" and not math.isfinite(s.score):
        raise ScoresError(f"sample (method {s.method}, seed {s.seed}, worker {s.worker}): "
                          f"score {s.score} is not finite")
    if st.score_range is None or s.score is None:
        return s, False
    lo, hi = st.score_range
    return dataclasses.replace(s, score=(s.score - lo) / (hi - lo)), not (lo <= s.score <= hi)


def _collect(samples, st: Settings) -> tuple[dict, int, int]:
    """{(cfg, method): {seed: [samples by worker]}}, the count of scores outside
    score_range, and the number of samples."""
    groups: dict = {}
    seen: set = set()
    n_out = 0
    for raw in samples:
        s = as_sample(raw)
        cfg = _cfg_of(s, st)
        key = (s.config, s.method, s.seed, s.worker)
        if key in seen:
            raise ScoresError(f"duplicate sample: {config_label(s.config_dict)}, method {s.method}, "
                              f"seed {s.seed}, worker {s.worker}")
        seen.add(key)
        s, out = _mapped(s, st)
        n_out += out
        groups.setdefault((cfg, s.method), {}).setdefault(s.seed, []).append(s)
    if not groups:
        raise ScoresError("no samples")
    for runs in groups.values():
        for ss in runs.values():
            ss.sort(key=lambda s: s.worker)
    return groups, n_out, len(seen)


# --------------------------------------------------------------------------- the ablation


class Ablation:
    """The cells, the configurations present, and the treatment-vs-control comparisons."""

    def __init__(self, st: Settings, cells: dict[tuple, Cell]):
        self.st, self.cells = st, cells
        self.skipped: list[str] = []
        self.all_cfgs = list(itertools.product(*st.factors.values()))
        self.present = [cfg for cfg in self.all_cfgs if any(k[0] == cfg for k in cells)]
        methods = [m for m in (st.treatment, st.control) if any(k[1] == m for k in cells)]
        self.methods = methods + sorted({m for _, m in cells} - {st.treatment, st.control})
        self.reps: dict[tuple, tuple] = {}  # cfg -> (gap replicates, gap % replicates)
        self._skip_missing()
        self.comparisons = {cfg: cp for cfg in self.present if (cp := self._compare(cfg)) is not None}

    def cell_order(self) -> list[tuple]:
        return [(cfg, m) for cfg in self.present for m in self.methods if (cfg, m) in self.cells]

    def cell(self, cfg: tuple, method: str) -> Cell | None:
        """The cell, or None when absent or without scores."""
        c = self.cells.get((cfg, method))
        return c if c is not None and c.n > 0 else None

    def _skip_missing(self) -> None:
        st = self.st
        for cfg in self.all_cfgs:
            if cfg not in self.present:
                self.skipped.append(f"configuration '{st.label(cfg)}' has no samples")
                continue
            for m in (st.treatment, st.control):
                if (cfg, m) not in self.cells:
                    self.skipped.append(f"configuration '{st.label(cfg)}' has no samples for {m}")
                elif self.cells[(cfg, m)].n == 0:
                    self.skipped.append(f"configuration '{st.label(cfg)}' has no scores for {m} "
                                        f"(every run failed, or every learner was left out)")

    def _compare(self, cfg: tuple) -> dict[str, Any] | None:
        st = self.st
        t, c = self.cell(cfg, st.treatment), self.cell(cfg, st.control)
        if t is None or c is None:
            return None
        gap = t.mean - c.mean
        self.reps[cfg] = _gap_reps(t, c)
        n_ci = min(t.n_runs, c.n_runs)
        doc = {
            "config": st.config(cfg), "label": st.label(cfg),
            "n_treatment": t.n, "n_control": c.n, "n_runs_treatment": t.n_runs, "n_runs_control": c.n_runs,
            "mean_treatment": t.mean, "mean_control": c.mean, "std_treatment": t.std, "std_control": c.std,
            "gap": gap, "gap_pct": pct(gap, c.mean),
            "gap_ci95": percentile_ci(self.reps[cfg][0], st.alpha, n_ci),
            "gap_pct_ci95": percentile_ci(self.reps[cfg][1], st.alpha, n_ci),
            "welch_p": welch_p(t.run_means, c.run_means),
            **_stability(t, c, st), **_robustness_doc(t, c),
            "prob_improvement": prob_improvement(t.run_means, c.run_means),
            "seeds_needed": _seeds_needed(gap, t, c, st),
            **_divergence_doc(t, c),
        }
        doc["warning"] = fnd.comparison_warning(doc, t, c, st)
        return doc


def _gap_reps(t: Cell, c: Cell) -> tuple:
    if t.means is None or c.means is None:
        return None, None
    gap = t.means - c.means
    with np.errstate(divide="ignore", invalid="ignore"):
        return gap, 100.0 * gap / np.abs(c.means)


def _stability(t: Cell, c: Cell, st: Settings) -> dict[str, Any]:
    adv = 100.0 * (1 - t.cv / c.cv) if t.cv is not None and c.cv is not None and c.cv != 0 else None
    cvd = None if t.cvs is None or c.cvs is None else t.cvs - c.cvs
    return {
        "cv_treatment": t.cv, "cv_control": c.cv, "cv_diff": sub(t.cv, c.cv),
        "cv_diff_ci95": percentile_ci(cvd, st.alpha, min(t.n_runs, c.n_runs)),
        "stability_advantage_pct": adv,
        "more_stable": None if adv is None or adv == 0 else (st.treatment if adv > 0 else st.control),
    }


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


def _seeds_needed(gap: float, t: Cell, c: Cell, st: Settings) -> int | None:
    if t.run_std is None or c.run_std is None:
        return None
    return welch_seeds_needed(gap, t.run_std, c.run_std, st.alpha, st.power)


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


def covers0(ci: list[float] | None) -> bool:
    return ci is not None and ci[0] <= 0 <= ci[1]


# --------------------------------------------------------------------------- changes from the baseline


def changed(st: Settings, name: str, level: Any) -> tuple:
    """The baseline configuration with one factor set to ``level``."""
    return tuple(level if f == name else b for f, b in zip(st.factors, st.baseline))


def _level_changes(st: Settings) -> list[tuple[str, Any]]:
    return [(name, lv) for name, levels in st.factors.items() for lv in levels[1:]]


def _changes(a: Ablation) -> tuple[list, list]:
    """Each factor level against the baseline level (the others at baseline), per method."""
    st, removals, suffers = a.st, [], []
    base = st.baseline
    for name, level in _level_changes(st):
        cfg = changed(st, name, level)
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
            s = fnd.suffers_more(st, name, level, rows[st.treatment], rows[st.control])
            suffers.append({**s, "baseline_level": st.factors[name][0], **_cv_change_diff(a, cfg)})
    return removals, suffers


def _cv_change_diff(a: Ablation, cfg: tuple) -> dict[str, Any]:
    """The treatment's CV change minus the control's, with a CI: whose CV suffers more."""
    st = a.st
    cs = [a.cell(c, m) for c in (cfg, st.baseline) for m in (st.treatment, st.control)]
    wt, wc, bt, bc = cs
    value = None if None in (wt.cv, wc.cv, bt.cv, bc.cv) else (wt.cv - bt.cv) - (wc.cv - bc.cv)
    reps = None if any(c.cvs is None for c in cs) else (wt.cvs - bt.cvs) - (wc.cvs - bc.cvs)
    return {"cv_change_diff": value,
            "cv_change_diff_ci95": percentile_ci(reps, st.alpha, min(c.n_runs for c in cs))}


def _change_row(st: Settings, name: str, level: Any, m: str, b: Cell, w: Cell) -> dict[str, Any]:
    d = {"component": name, "level": level, "baseline_level": st.factors[name][0], "method": m,
         "label": st.label(changed(st, name, level))}
    for stat in ("mean", "std", "cv", "worst"):
        ch = sub(getattr(w, stat), getattr(b, stat))
        d[f"{stat}_change"] = ch
        d[f"{stat}_change_pct"] = pct(ch, getattr(b, stat))
    n_ci = min(b.n_runs, w.n_runs)
    d["mean_change_ci95"] = percentile_ci(None if b.means is None or w.means is None else w.means - b.means,
                                          st.alpha, n_ci)
    d["cv_change_ci95"] = percentile_ci(None if b.cvs is None or w.cvs is None else w.cvs - b.cvs, st.alpha, n_ci)
    d["mean_change_p"] = welch_p(w.run_means, b.run_means)
    d["cv_note"] = b.cv_note or w.cv_note
    d["n_runs"] = [b.n_runs, w.n_runs]
    d["warning"] = fnd.change_warning(d, b, w, st)
    return d


def _contributions(a: Ablation) -> list[dict[str, Any]]:
    st, out = a.st, []
    base = st.baseline
    for name, level in _level_changes(st):
        cfg = changed(st, name, level)
        cb, cw = a.comparisons.get(base), a.comparisons.get(cfg)
        if cb is None or cw is None or cb["gap_pct"] is None or cw["gap_pct"] is None:
            a.skipped.append(f"contribution of {fnd.change_noun(st, name, level, contribution=True)}: "
                             f"needs T and C in '{st.label(base)}' and '{st.label(cfg)}'")
            continue
        out.append(_contribution(a, name, level, cb, cw, cfg))
    return out


def _contribution(a: Ablation, name, level, cb, cw, cfg) -> dict[str, Any]:
    st, base = a.st, a.st.baseline
    pp = cb["gap_pct"] - cw["gap_pct"]
    rb, rw = a.reps[base][1], a.reps[cfg][1]
    n_ci = min(cb["n_runs_treatment"], cb["n_runs_control"], cw["n_runs_treatment"], cw["n_runs_control"])
    ci = percentile_ci(None if rb is None or rw is None else rb - rw, st.alpha, n_ci)
    share, note = _share(pp, cb, st)
    return {
        "component": name, "level": level, "baseline_level": st.factors[name][0],
        "gap_pct_baseline": cb["gap_pct"], "gap_pct_without": cw["gap_pct"],
        "gap_change": cw["gap"] - cb["gap"], "gap_pct_points": pp, "gap_pct_points_ci95": ci,
        "share_of_gap_pct": share, "share_note": note,
        "warning": (f"the {st.pct_ci} of the contribution covers 0" if covers0(ci) else None),
    }


def _share(pp: float, cb: dict, st: Settings) -> tuple[float | None, str | None]:
    """The contribution as a share of the baseline gap: suppressed when the baseline gap's CI
    covers 0 (a share of a gap that may be 0 can take any size and either sign)."""
    if cb["gap_pct"] == 0:
        return None, "the baseline gap is 0"
    if covers0(cb["gap_ci95"]):
        return None, f"not reported: the {st.pct_ci} of the baseline gap covers 0"
    note = None if cb["gap_ci95"] is not None else "unchecked: no CI of the baseline gap (no bootstrap)"
    return 100.0 * pp / cb["gap_pct"], note


# --------------------------------------------------------------------------- interactions


def _pairs(st: Settings) -> list[tuple]:
    """(A, level of A, B, level of B) for every two factors and non-baseline levels."""
    names = st.names
    return [(fa, la, fb, lb) for i, fa in enumerate(names) for fb in names[i + 1:]
            for la in st.factors[fa][1:] for lb in st.factors[fb][1:]]


def _the_interaction(st: Settings, interactions: list) -> dict | None:
    """The study's interaction: defined when there are exactly two two-level factors."""
    if len(st.factors) == 2 and all(len(lv) == 2 for lv in st.factors.values()):
        return interactions[0]
    return None


def _corners(st: Settings, fa, la, fb, lb) -> dict[str, tuple]:
    both = tuple(la if f == fa else lb if f == fb else b for f, b in zip(st.factors, st.baseline))
    return {"base": st.baseline, "a": changed(st, fa, la), "b": changed(st, fb, lb), "ab": both}


def dod(v: dict) -> Any:
    """Difference of differences: (base - only B changed) - (only A changed - both changed)."""
    return (v["base"] - v["b"]) - (v["a"] - v["ab"])


def main_effects_margin(v: dict) -> float:
    """Half the larger main effect (each averaged over the other factor's two levels): an
    interaction whose CI lies within +-this margin is narrow enough to call additive."""
    ea = ((v["base"] - v["a"]) + (v["b"] - v["ab"])) / 2
    eb = ((v["base"] - v["b"]) + (v["a"] - v["ab"])) / 2
    return 0.5 * max(abs(ea), abs(eb))


def verdict(ci: list[float] | None, higher_is_better: bool, margin: float) -> str:
    if ci is None:
        return "undetermined"
    if ci[0] <= 0 <= ci[1]:
        narrow = margin > 0 and -margin <= ci[0] and ci[1] <= margin
        return "additive" if narrow else "no evidence of interaction"
    better = ci[0] > 0 if higher_is_better else ci[1] < 0
    return "synergistic" if better else "antagonistic"


def _interaction(a: Ablation, fa, la, fb, lb) -> dict[str, Any]:
    st = a.st
    corners = _corners(st, fa, la, fb, lb)
    out: dict[str, Any] = {"components": [fa, fb], "levels": [la, lb],
                           "baseline_levels": [st.factors[fa][0], st.factors[fb][0]],
                           **fnd.interaction_text(st, fa, la, fb, lb), "gap": None, "cv": {}, "notes": []}
    cps = {k: a.comparisons.get(v) for k, v in corners.items()}
    if all(cps.values()):
        out["gap"] = _interaction_gap(a, corners, cps)
    else:
        miss = [st.label(corners[k]) for k, cp in cps.items() if cp is None]
        out["notes"].append(f"gap interaction not computed: no {st.treatment}/{st.control} comparison in "
                            f"{'; '.join(repr(x) for x in miss)}")
    for m in (st.treatment, st.control):
        out["cv"][m] = _interaction_cv(a, corners, m, out["notes"])
    out["_statements"] = fnd.interaction_statements(st, out)
    return out


def _interaction_gap(a: Ablation, corners: dict, cps: dict) -> dict[str, Any]:
    st = a.st
    cells = [a.cells[(cfg, m)] for cfg in corners.values() for m in (st.treatment, st.control)]
    reps = {k: a.reps[v][0] for k, v in corners.items()}
    ci = None if any(r is None for r in reps.values()) else percentile_ci(
        dod(reps), st.alpha, min(c.n_runs for c in cells))
    gaps = {k: cp["gap"] for k, cp in cps.items()}
    margin = main_effects_margin(gaps)
    return {"value": dod(gaps), "ci95": ci, "margin": margin, "verdict": verdict(ci, True, margin),
            "warning": fnd.small_cells(cells, st)}


def _interaction_cv(a: Ablation, corners: dict, m: str, notes: list) -> dict[str, Any] | None:
    st = a.st
    cs = {k: a.cell(v, m) for k, v in corners.items()}
    if not all(cs.values()):
        miss = [st.label(corners[k]) for k, c in cs.items() if c is None]
        notes.append(f"{m} CV interaction not computed: no samples in {'; '.join(repr(x) for x in miss)}")
        return None
    if any(c.cv is None for c in cs.values()):
        notes.append(f"{m} CV interaction not computed: CV undefined in some cell")
        return None
    reps = {k: c.cvs for k, c in cs.items()}
    ci = None if any(r is None for r in reps.values()) else percentile_ci(
        dod(reps), st.alpha, min(c.n_runs for c in cs.values()))
    cvs = {k: c.cv for k, c in cs.items()}
    margin = main_effects_margin(cvs)
    return {"value": dod(cvs), "ci95": ci, "margin": margin, "verdict": verdict(ci, False, margin),
            "warning": fnd.small_cells(cs.values(), st)}


# --------------------------------------------------------------------------- meta


def _meta(st: Settings, a: Ablation, n_samples: int, floor: float | None) -> dict[str, Any]:
    return {
        "components": st.names,
        "factors": {k: list(v) for k, v in st.factors.items()},
        "baseline": st.config(st.baseline),
        "treatment": st.treatment,
        "control": st.control,
        "n_boot": st.n_boot,
        "seed": st.seed,
        "alpha": st.alpha,
        "ci_level": 1 - st.alpha,
        "power": st.power,
        "min_n": st.min_n,
        "unit": st.unit,
        "inference": ("the run: cluster bootstrap over runs (workers kept together; expanded percentile "
                      "interval), Welch's t-test, probability of improvement and seeds needed on run means"),
        "n_counts": fnd.n_counts_line(a),
        "diverged_policy": st.diverged,
        "floor_score": floor,
        "shared_methods": sorted(st.shared),
        "score_range": None if st.score_range is None else list(st.score_range),
        "n_samples": n_samples,
    }
