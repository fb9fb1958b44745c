"""Convergence speed in the analysis: per cell, per comparison and per change (definitions in
``pyrl.stats.convergence``)."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import numpy as np

from pyrl.stats import convergence as cv
from pyrl.stats.estimators import Estimate, combine, mean_estimate, median_ci, wilson_ci
from pyrl.stats.samples import ScoresError, level_of


@dataclasses.dataclass
class CellSpeed:
    steps: np.ndarray                # steps to threshold per run with a curve (inf: never)
    auc: np.ndarray | None           # normalised AUC per run (None: no positive threshold)

    @functools.cached_property
    def auc_est(self) -> Estimate | None:
        return None if self.auc is None else mean_estimate(self.auc)

    @property
    def n(self) -> int:
        return len(self.steps)


UNAVAILABLE = {"available": False, "reason": "no learning curves: --scores gives final scores only, so "
                                             "convergence speed is not available"}


def _mapped(rc: cv.RunCurve, score_range) -> cv.RunCurve:
    if score_range is None:
        return rc
    lo, hi = score_range
    ws = {w: dataclasses.replace(wc, returns=(np.asarray(wc.returns, dtype=float) - lo) / (hi - lo))
          for w, wc in rc.workers.items()}
    return dataclasses.replace(rc, workers=ws)


def _group(a, curves: Sequence[cv.RunCurve]) -> dict[tuple, list[cv.RunCurve]]:
    st, out = a.st, {}
    for rc in curves:
        cfg = tuple(level_of(f, rc.config[f]) if f in rc.config else None for f in st.factors)
        if set(rc.config) != set(st.factors):
            raise ScoresError(f"curve of {rc.method} seed {rc.seed}: factors {sorted(rc.config)}, "
                              f"expected {sorted(st.factors)}")
        out.setdefault((cfg, rc.method), []).append(_mapped(rc, st.score_range))
    return out


def _threshold(a, threshold: float | None) -> tuple[float | None, str]:
    st = a.st
    if threshold is not None:
        t = float(threshold)
        if st.score_range is not None:
            lo, hi = st.score_range
            t = (t - lo) / (hi - lo)
        return t, f"set to {threshold:g}" + (" (mapped by score_range)" if st.score_range else "")
    scored = [c for c in a.cells.values() if c.n > 0]
    if not scored:
        return None, "no scores: no threshold"
    best = max(scored, key=lambda c: c.mean)
    return (cv.THRESHOLD_FRACTION * best.mean,
            f"{cv.THRESHOLD_FRACTION:g} x the best cell's mean final score ({st.label(best.cfg)} / "
            f"{best.method}: {best.mean:.4g})")


def _cell_speed(a, key, curves, threshold, floor) -> CellSpeed | None:
    st, cell = a.st, a.cells.get(key)
    if cell is None:
        return None
    div = {s for s, ss in cell.runs_in.items() if any(x.status == "diverged" for x in ss)}
    keep = [rc for rc in curves if rc.seed in set(cell.seeds)]
    m = cv.run_metrics(keep, st.diverged, floor, threshold, key[1] in st.shared, div)
    if not m:
        return None
    steps = np.array([m[s][0] for s in sorted(m)])
    aucs = [m[s][1] for s in sorted(m)]
    return CellSpeed(steps, None if any(v is None for v in aucs) else np.array(aucs))


def _auc_diff(t: CellSpeed | None, c: CellSpeed | None, name: str, alpha: float) -> dict[str, Any]:
    """auc_norm_<name> (t minus c) and its Welch t interval."""
    e = None if t is None or c is None else combine([(1.0, t.auc_est), (-1.0, c.auc_est)])
    value = None if t is None or c is None or t.auc is None or c.auc is None else float(t.auc.mean() - c.auc.mean())
    return {f"auc_norm_{name}": value, f"auc_norm_{name}_ci95": None if e is None else e.ci(1 - alpha)}


def _cell_doc(st, sp: CellSpeed | None) -> dict[str, Any]:
    if sp is None:
        return {"n_curves": 0, "steps_to_threshold": None, "steps_to_threshold_ci95": None, "steps_ci_level": None,
                "never_reached": None, "never_reached_share": None, "never_reached_ci95": None, "auc_norm": None,
                "auc_norm_ci95": None}
    never = int(np.isinf(sp.steps).sum())
    med = median_ci(sp.steps, st.alpha)
    e = sp.auc_est
    return {"n_curves": sp.n, "steps_to_threshold": float(np.median(sp.steps)),
            "steps_to_threshold_ci95": None if med is None else med[0],
            "steps_ci_level": None if med is None else med[1],
            "never_reached": never, "never_reached_share": never / sp.n,
            "never_reached_ci95": wilson_ci(never, sp.n, st.alpha),
            "auc_norm": None if sp.auc is None else float(sp.auc.mean()),
            "auc_norm_ci95": None if e is None else e.ci(1 - st.alpha)}


def attach(a, doc: dict, curves: Sequence[cv.RunCurve] | None, threshold: float | None,
           floor: float | None) -> dict[str, Any]:
    """Adds the convergence fields to the cells, comparisons and removals of ``doc`` and each
    cell's AUC estimate to ``a.auc`` (for the claims); returns the meta block (threshold,
    its rule, the definitions)."""
    a.auc = {}
    if curves is None:
        return dict(UNAVAILABLE)
    if not curves:
        return {"available": False, "reason": "no run has a learning curve (curve.csv)"}
    thr, rule = _threshold(a, threshold)
    if thr is None:
        return {"available": False, "reason": rule}
    groups = _group(a, curves)
    speeds = {key: _cell_speed(a, key, groups.get(key, []), thr, floor) for key in a.cells}
    a.auc = {key: sp.auc_est for key, sp in speeds.items() if sp is not None and sp.auc_est is not None}
    for cdoc, key in zip(doc["cells"], a.cell_order()):
        cdoc.update(_cell_doc(a.st, speeds[key]))
    for cfg, cp in a.comparisons.items():
        cp.update(_auc_diff(speeds.get((cfg, a.st.treatment)), speeds.get((cfg, a.st.control)), "diff", a.st.alpha))
    for r in doc["removals"]:
        cfg = a.st.changed(r["component"], r["level"])
        r.update(_auc_diff(speeds.get((cfg, r["method"])), speeds.get((a.st.baseline, r["method"])), "change",
                           a.st.alpha))
    return {"available": any(s is not None for s in speeds.values()), "threshold": thr, "threshold_rule": rule,
            "threshold_fraction": cv.THRESHOLD_FRACTION if threshold is None else None,
            "auc_note": None if thr > 0 else "normalised AUC needs a positive threshold (use --score-range)",
            "definition": ("steps to threshold: the first total env steps (worker steps x workers) at which the "
                           "run's curve (mean over its workers of the mean of their last score_episodes "
                           "episodes) reaches the threshold; per cell the median over runs (descriptive: a "
                           "distribution-free interval from 5 runs), a run that never reaches it counting as "
                           "+inf (never_reached: how many). Normalised AUC: the curve's mean over the run's "
                           "budget divided by the threshold; the claims of kind convergence test it run by run.")}
