"""PNG figures of a report (matplotlib, Agg): learning curves as small multiples, CV per
configuration, scores. Configuration names run along the y axis, one row each, or title
their own panel, so they never overlap; each ``*_figure`` builds the figure (for tests) and
the function of the same name without it writes the PNG."""
from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path


def _labels(doc: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(c["label"] for c in doc["cells"]))


def _label(config, meta: dict[str, Any]) -> str:
    """The report's label of a configuration (factors in the analysis's order)."""
    from pyrl.stats import config_label

    config = dict(config)
    return config_label({f: config[f] for f in meta["factors"]}, meta.get("baseline"))


def _methods(doc: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([doc["meta"]["treatment"], doc["meta"]["control"]] + [c["method"] for c in doc["cells"]]))


# --------------------------------------------------------------------------- CV per configuration


def cv_figure(doc: dict[str, Any]):
    """Horizontal bars: one row per configuration, a bar per method, 95% CI whiskers."""
    plt = _plt()
    labels, methods = _labels(doc), _methods(doc)
    cells = {(c["label"], c["method"]): c for c in doc["cells"]}
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.5 * len(labels) * max(1, len(methods)) / 2))
    y = np.arange(len(labels))
    h = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals, errs = [], []
        for label in labels:
            c = cells.get((label, m))
            cv, ci = (c or {}).get("cv"), (c or {}).get("cv_ci95")
            vals.append(np.nan if cv is None else cv)
            errs.append((cv - ci[0], ci[1] - cv) if cv is not None and ci else (0, 0))
        ax.barh(y + (i - (len(methods) - 1) / 2) * h, vals, h, xerr=np.array(errs).T, capsize=3, label=m,
                color=COLORS[i % len(COLORS)])
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("CV (std / mean; lower is more stable)")
    ax.set_title("Coefficient of variation per configuration (95% CI over runs)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cv_per_configuration(doc: dict[str, Any], path: Path) -> Path:
    return _save(cv_figure(doc), path)


# --------------------------------------------------------------------------- scores


def scores_figure(doc: dict[str, Any], samples):
    """One horizontal box per configuration and method, each worker a dot (diverged: red x)."""
    plt = _plt()
    groups, diverged = defaultdict(list), defaultdict(list)
    for s in samples:
        if s.score is None or s.status == "failed":
            continue
        key = (_label(s.config_dict, doc["meta"]), s.method)
        (diverged if s.status == "diverged" else groups)[key].append(s.score)
    keys = [(label, m) for label in _labels(doc) for m in _methods(doc) if (label, m) in groups or (label, m) in diverged]
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.45 * len(keys)))
    pos = np.arange(1, len(keys) + 1)
    ax.boxplot([groups.get(k) or [np.nan] for k in keys], positions=pos, orientation="horizontal", showmeans=True)
    for p, k in zip(pos, keys):
        rng = np.random.default_rng(int(p))
        for ys, style in ((groups.get(k, []), dict(s=8, alpha=0.6)), (diverged.get(k, []), dict(s=20, marker="x", c="red"))):
            ax.scatter(ys, np.full(len(ys), p) + rng.uniform(-0.15, 0.15, len(ys)), **style)
    ax.set_yticks(pos, [f"{label} / {m}" for label, m in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("score (mean return of the last episodes)")
    ax.set_title("Score per worker (red x: a diverged learner's last score)", fontsize=10)
    fig.tight_layout()
    return fig


def score_distributions(doc: dict[str, Any], samples, path: Path) -> Path:
    return _save(scores_figure(doc, samples), path)


# --------------------------------------------------------------------------- learning curves


def _on_grid(curves, policy: str, floor, grid: np.ndarray, shared: bool, diverged_seeds) -> np.ndarray:
    """Each run's curve r(t) (pyrl.stats.convergence) evaluated on the grid; rows of runs."""
    from pyrl.stats.convergence import run_curve

    rows = []
    for rc in curves:
        rcurve = run_curve(rc, policy, floor, diverged_run=shared and rc.seed in diverged_seeds)
        if rcurve is None:
            continue
        times, values = rcurve
        row = values[np.maximum(np.searchsorted(times, grid, side="right") - 1, 0)]
        row[grid > rc.budget] = np.nan
        rows.append(row)
    return np.array(rows)


def _panel(ax, per_method: dict, grid: np.ndarray) -> None:
    for i, (m, rows) in enumerate(per_method.items()):
        if not len(rows):
            continue
        n = np.sum(~np.isnan(rows), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(rows, axis=0) if len(rows) else rows
            sem = np.nanstd(rows, axis=0, ddof=1) / np.sqrt(n) if len(rows) > 1 else np.zeros_like(mean)
        ax.plot(grid, mean, color=COLORS[i % len(COLORS)], label=f"{m} ({len(rows)} runs)")
        ax.fill_between(grid, mean - 1.96 * sem, mean + 1.96 * sem, color=COLORS[i % len(COLORS)], alpha=0.2)


def curves_figure(curves, doc: dict[str, Any], points: int = 200):
    """Small multiples: one panel per configuration with both methods (mean over runs, 95%
    band), a shared y axis, the convergence threshold dashed."""
    import warnings

    plt = _plt()
    meta = doc["meta"]
    labels, methods = _labels(doc), _methods(doc)
    floor, policy, shared = meta.get("floor_score"), meta["diverged_policy"], set(meta["shared_methods"])
    grid = np.linspace(0, max(rc.budget for rc in curves), points)
    by = defaultdict(list)
    for rc in curves:
        by[(_label(rc.config, meta), rc.method)].append(rc)
    ncol = min(3, len(labels))
    nrow = math.ceil(len(labels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, sharey=True, squeeze=False, figsize=(4.2 * ncol, 3.2 * nrow))
    thr = (meta.get("convergence") or {}).get("threshold")
    for ax, label in zip(axes.flat, labels):
        per = {m: _on_grid(by.get((label, m), []), policy, floor, grid, m in shared, _diverged_seeds(doc, by, label, m))
               for m in methods}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # grid points past a run's budget are NaN
            _panel(ax, per, grid)
        if thr is not None:
            ax.axhline(thr, ls="--", lw=1, color="gray", label="threshold")
        ax.set_title("\n".join(textwrap.wrap(label, 32, break_long_words=False)), fontsize=9)
        ax.set_xlabel("total env steps of the run", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("return: mean of the last episodes")
    fig.suptitle("Learning curves (mean over runs, 95% band)")
    fig.tight_layout()
    return fig


def _diverged_seeds(doc, by, label, method) -> set:
    return {rc.seed for rc in by.get((label, method), []) if any(w.diverged for w in rc.workers.values())}


def learning_curves(curves, doc: dict[str, Any], path: Path) -> Optional[Path]:
    """The small multiples of ``curves_figure`` as a PNG; None without curves."""
    if not curves:
        return None
    return _save(curves_figure(curves, doc), path)
