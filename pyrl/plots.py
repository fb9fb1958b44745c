"""PNG figures of a report (matplotlib, Agg): learning curves, CV per configuration, scores."""
from __future__ import annotations

import csv
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cv_per_configuration(doc: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    cells = [c for c in doc["cells"] if c["cv"] is not None]
    labels = sorted({c["label"] for c in cells}, key=lambda l: [c["label"] for c in doc["cells"]].index(l))
    methods = [doc["meta"]["treatment"], doc["meta"]["control"]]
    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(labels)), 3.5))
    x = np.arange(len(labels))
    for i, m in enumerate(methods):
        vals, errs = [], []
        for l in labels:
            c = next((c for c in cells if c["label"] == l and c["method"] == m), None)
            vals.append(c["cv"] if c else np.nan)
            lo, hi = (c.get("cv_ci95") or (None, None)) if c else (None, None)
            errs.append((c["cv"] - lo, hi - c["cv"]) if c and lo is not None and hi is not None else (0, 0))
        ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=m, yerr=np.array(errs).T, capsize=3)
    ax.set_xticks(x, labels, rotation=15, ha="right")
    ax.set_ylabel("CV (std / mean)")
    ax.set_title("Coefficient of variation per configuration (95% bootstrap CI)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def score_distributions(doc: dict[str, Any], samples, path: Path) -> Path:
    from pyrl.stats import config_label

    plt = _plt()
    groups = defaultdict(list)
    for s in samples:
        if s.score is None or getattr(s, "status", "ok") == "failed":
            continue
        groups[(config_label(s.config_dict if hasattr(s, "config_dict") else s.config), s.method)].append(s.score)
    keys = sorted(groups)
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(keys)), 3.5))
    ax.boxplot([groups[k] for k in keys], showmeans=True)
    for i, k in enumerate(keys, start=1):
        ys = groups[k]
        ax.scatter(np.full(len(ys), i) + np.random.default_rng(i).uniform(-0.1, 0.1, len(ys)), ys, s=8, alpha=0.6)
    ax.set_xticks(range(1, len(keys) + 1), [f"{l}\n{m}" for l, m in keys], fontsize=7)
    ax.set_ylabel("score (mean of last episodes)")
    ax.set_title("Score per worker (one dot per worker of a run)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def learning_curves(runs: list[dict], factors, path: Path, bins: int = 50) -> Optional[Path]:
    """Mean and 95% band over runs of the episodic return vs env steps, per configuration and
    method, from each run's curve.csv (columns worker, step, episode_return). ``factors``:
    factor -> levels (baseline first), or a list of on/off components."""
    from pyrl.report import run_config
    from pyrl.stats import config_label, normalize_factors

    factors = normalize_factors(factors)

    plt = _plt()
    series = defaultdict(list)  # (config label, method) -> list of (steps[], returns[]) per run
    max_step = 0
    for r in runs:
        f = Path(r["_dir"]) / "curve.csv"
        if not f.exists():
            continue
        with f.open() as fh:
            rows = [(float(row["step"]), float(row["episode_return"])) for row in csv.DictReader(fh)]
        if not rows:
            continue
        steps, rets = np.array(rows).T
        max_step = max(max_step, steps.max())
        label = config_label(run_config(r, factors), {f: lv[0] for f, lv in factors.items()})
        series[(label, r["method"])].append((steps, rets))
    if not series:
        return None
    edges = np.linspace(0, max_step, bins + 1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(figsize=(7, 4))
    for (label, method), per_run in sorted(series.items()):
        binned = []
        for steps, rets in per_run:
            idx = np.clip(np.digitize(steps, edges) - 1, 0, bins - 1)
            sums = np.bincount(idx, rets, bins)
            counts = np.bincount(idx, minlength=bins)
            with np.errstate(invalid="ignore"):
                binned.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
        arr = np.array(binned)
        n = np.sum(~np.isnan(arr), axis=0)
        with warnings.catch_warnings():  # bins no run reached are NaN, and are left out of the plot
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(arr, axis=0)
            sem = np.nanstd(arr, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)) if len(arr) > 1 else np.zeros_like(mean)
        line, = ax.plot(centers, mean, label=f"{label} / {method} (runs: {len(per_run)})")
        ax.fill_between(centers, mean - 1.96 * sem, mean + 1.96 * sem, alpha=0.2, color=line.get_color())
    ax.set_xlabel("env steps (per worker)")
    ax.set_ylabel("episodic return")
    ax.set_title("Learning curves (mean over runs, 95% band)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
