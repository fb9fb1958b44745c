"""PNG figures of a report (matplotlib, Agg): learning curves as small multiples, CV per
configuration, scores, the claims of the report's family (estimate and intervals, shown or
not, on a common axis per kind) and performance profiles. Configuration names and claims run
along the y axis, one row each, or title their own panel, so they never overlap; each
``*_figure`` builds the figure (for tests) and the function of the same name without it writes
the PNG."""
from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np

from pyrl.stats.claims import KINDS

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
DPI = 120


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
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


# --------------------------------------------------------------------------- claims

KIND_TITLES = {
    "gap": "Gap: treatment vs control",
    "effect": "Effect of a factor level (both methods)",
    "change": "Change from a factor level, per method",
    "contribution": "Contribution to the gap",
    "interaction": "Interaction of two factors",
    "stability": "Stability",
    "convergence": "Convergence",
}
SHOWN_COLOR = "tab:blue"
NOT_SHOWN_COLOR = "0.6"
ROW_IN = 0.3  # inches per claim row: room for a two-line label at 7.5 pt
LABEL_WIDTH = 50  # characters per line of a row label (two lines at most)


def _num(x) -> Optional[float]:
    """A float from a document value (JSON writes inf as "inf"); None for None, NaN, text."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _pair(v) -> Optional[tuple[float, float]]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        return None
    lo, hi = _num(v[0]), _num(v[1])
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def _shorten(text: str, width: int = LABEL_WIDTH, lines: int = 2) -> str:
    return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …", break_long_words=True))


def claim_label(c: dict[str, Any]) -> str:
    """A claim's row label: a shown claim's statement; a claim not shown is labelled with its
    question (its statement would assert the direction of an estimate the family did not
    establish); else a short label from kind, component, methods and configurations."""
    text = c.get("statement") if c.get("shown") else c.get("question") or c.get("statement")
    if text:
        return str(text)
    parts = [str(c.get("kind") or "claim")]
    if c.get("component"):
        level = c.get("level")
        parts.append(str(c["component"]) if level is None or level is True else f"{c['component']}={level}")
    methods = [str(m) for m in c.get("methods") or []]
    if methods:
        parts.append(" vs ".join(methods))
    configs = [str(x) for x in c.get("configs") or []]
    if configs:
        parts.append("in " + "; ".join(configs))
    return parts[0] + (": " + ", ".join(parts[1:]) if parts[1:] else "")


def _panels(claims: list[dict[str, Any]]) -> list[tuple[tuple, list[dict[str, Any]]]]:
    """Claims grouped by (kind, measure, scale), kinds in KINDS order, so one axis never mixes
    units; the document's order within a panel."""
    groups: dict[tuple, list] = {}
    for c in claims:
        groups.setdefault((c.get("kind"), c.get("measure"), c.get("scale") or "difference"), []).append(c)
    rank = {k: i for i, k in enumerate(KINDS)}
    order = list(groups)
    return [(k, groups[k]) for k in sorted(order, key=lambda k: (rank.get(k[0], len(KINDS)), order.index(k)))]


def _fwd(x: float, ratio: bool) -> float:
    """Value -> axis coordinate (log10 on a ratio axis; -inf for ratios <= 0)."""
    if not ratio:
        return x
    return math.log10(x) if x > 0 else -math.inf


def _limits(rows: list[dict[str, Any]], ratio: bool) -> tuple[float, float]:
    """The x range of a panel in axis coordinates: every estimate and the null, and the
    intervals as far as 2 typical widths beyond them (a far end is clipped, marked by an arrow),
    so one interval spanning many decades does not flatten the others."""
    null = 0.0
    pts = [null] + [_fwd(r["est"], ratio) for r in rows if r["est"] is not None]  # finite (_claim_rows)
    ends, widths = [], []
    for r in rows:
        for iv in (r["ci"], r["ci95"]):
            if iv is None:
                continue
            t = [_fwd(v, ratio) for v in iv]
            ends += [v for v in t if math.isfinite(v)]
            if all(math.isfinite(v) for v in t):
                widths.append(t[1] - t[0])
    lo, hi = min(pts), max(pts)
    w = max(hi - lo, float(np.median(widths)) if widths else 0.0)
    if w <= 0:
        w = 1.0 if ratio else max(abs(lo), abs(hi), 1.0)
    lo2 = max(min(pts + ends), lo - 2 * w)
    hi2 = min(max(pts + ends), hi + 2 * w)
    if hi2 - lo2 < w / 2:  # nothing but the null (claims n/a): a range around it
        lo2, hi2 = (lo2 + hi2 - w / 2) / 2, (lo2 + hi2 + w / 2) / 2
    pad = 0.06 * (hi2 - lo2 or 1.0)
    return lo2 - pad, hi2 + pad


def _fmt(x: float, ratio: bool) -> str:
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞"
    if ratio:
        return f"{x:.3g}"
    return f"{x:+.3g}" if x else "0"


def _value_text(r: dict[str, Any]) -> str:
    """The numbers beside a row: the estimate and its family-adjusted interval (the marginal 95%
    one where there is no adjusted interval)."""
    est, ratio = r["est"], r["ratio"]
    if est is None:
        why = r["claim"].get("why_not")
        return "n/a" + (": " + _shorten(str(why), 34, 1) if why and not r["shown"] else "")
    s = _fmt(est, ratio) + ("×" if ratio else "")
    iv = r["ci"] or r["ci95"]
    if iv is None:
        return s + "  no interval"
    level = r["level"] if r["ci"] else 0.95
    lv = f" {level * 100:.3g}%" if level else ""
    return f"{s} [{_fmt(iv[0], ratio)}, {_fmt(iv[1], ratio)}]{lv}"


def _segment(ax, y: float, iv, lim: tuple[float, float], ratio: bool, **style) -> None:
    """An interval as a horizontal line, clipped to the panel's x range; a clipped end is drawn
    as an arrow head at the edge."""
    a, b = (_fwd(v, ratio) for v in iv)
    lo, hi = max(a, lim[0]), min(b, lim[1])
    if lo > hi:
        return
    inv = (lambda t: 10 ** t) if ratio else (lambda t: t)
    ax.plot([inv(lo), inv(hi)], [y, y], solid_capstyle="butt", **style)
    for clipped, x, marker in ((a < lim[0], lo, "<"), (b > lim[1], hi, ">")):
        if clipped:
            ax.plot([inv(x)], [y], marker=marker, ms=5, color=style.get("color"), clip_on=False, zorder=4)


def _plain_log(**kw):
    """A log axis formatter: matplotlib's choice of which ticks to label, written as plain
    numbers (0.01, 0.5, 1, 100, 1e+06 rather than 10^-2, 5x10^-1)."""
    from matplotlib.ticker import LogFormatter

    class PlainLog(LogFormatter):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    return PlainLog(**kw)


def _claim_rows(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in claims:
        ratio = c.get("scale") == "ratio"
        est = _num(c.get("estimate"))
        if est is not None and not math.isfinite(_fwd(est, ratio)):
            est = None  # an infinite difference, or a ratio <= 0: nothing to place on the axis
        rows.append(dict(claim=c, ratio=ratio, est=est, ci=_pair(c.get("ci")), ci95=_pair(c.get("ci95")),
                         level=_num(c.get("ci_level")), shown=bool(c.get("shown"))))
    return rows


def _orientation(kind, ratio: bool, meta: dict[str, Any]) -> str:
    """Which way a panel's contrasts run (the report's definitions of the kinds)."""
    t, c = meta.get("treatment") or "treatment", meta.get("control") or "control"
    op = " / " if ratio else " − "
    return {
        "gap": f"{t}{op}{c}",
        "effect": f"changed level{op}baseline level, both methods",
        "change": f"changed{op}baseline",
        "contribution": f"gap at baseline{op}gap changed",
        "interaction": "difference of differences on the gap",
        "stability": (f"{t}{op}{c}; changed{op}baseline; {t}'s ratio{op}{c}'s" if ratio
                      else "difference of differences"),
        "convergence": f"{t}{op}{c}; changed{op}baseline",
    }.get(kind, "")


def _family_title(doc: dict[str, Any], claims: list[dict[str, Any]]) -> str:
    fam = (doc.get("answer") or {}).get("family") or {}
    weighed = fam.get("weighed", len(claims))
    shown = fam.get("shown", sum(bool(c.get("shown")) for c in claims))
    title = f"Claims: {shown} shown of {weighed} weighed"
    control = []
    if fam.get("method"):
        control.append(f"{fam['method']}")
    if fam.get("alpha") is not None:
        control.append(f"family-wise α = {fam['alpha']:g}")
    if fam.get("tested") is not None and fam.get("tested") != weighed:
        control.append(f"{fam['tested']} tested")
    return title + (f" ({', '.join(control)})" if control else "")


def claims_figure(doc: dict[str, Any]):
    """The figure a paper would carry: every claim the report weighed (``doc["answer"]["claims"]``),
    one row each, in panels per (kind, measure, scale) stacked vertically with heights in
    proportion to their rows. Per claim: the estimate (dot), the family-adjusted interval at its
    ``ci_level`` (thick, translucent) and the marginal 95% interval (thin); shown claims in
    blue, the others grey; the null dashed (0 for differences; 1 for ratios, on a log axis).
    A claim without an estimate or an interval is listed with an "n/a" note."""
    from matplotlib.lines import Line2D

    plt = _plt()
    claims = list((doc.get("answer") or {}).get("claims") or [])
    panels = _panels(claims)
    title = _family_title(doc, claims)
    nrows = sum(len(p) for _, p in panels)
    head_in, panel_in = 0.5, 0.85  # title + legend; each panel's title, x ticks and label
    height = max(3.0, head_in + panel_in * max(1, len(panels)) + ROW_IN * max(1, nrows))
    fig = plt.figure(figsize=(10, height), dpi=DPI)  # laid out at the PNG's resolution
    if not panels:
        fig.text(0.5, 0.5, "no claims weighed", ha="center", va="center")
        fig.suptitle(title, fontsize=10)
        return fig
    gs = fig.add_gridspec(len(panels), 1, height_ratios=[len(p) for _, p in panels])
    for i, ((kind, measure, scale), claims_k) in enumerate(panels):
        ax = fig.add_subplot(gs[i])
        rows = _claim_rows(claims_k)
        ratio = scale == "ratio"
        null = 1.0 if ratio else 0.0
        lim = _limits(rows, ratio)
        if ratio:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_plain_log())
            ax.xaxis.set_minor_formatter(_plain_log(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
        ax.set_xlim(*((10 ** lim[0], 10 ** lim[1]) if ratio else lim))
        ax.axvline(null, color="k", ls="--", lw=0.8, zorder=2.5)
        for y, r in enumerate(rows):
            color = SHOWN_COLOR if r["shown"] else NOT_SHOWN_COLOR
            if r["est"] is None or (r["ci"] is None and r["ci95"] is None):
                x = r["est"] if r["est"] is not None else null
                if r["est"] is not None:
                    ax.plot([x], [y], "o", ms=4.5, color=color, zorder=3)
                ax.annotate("n/a" if r["est"] is None else "no interval", (x, y), xytext=(6, 0),
                            textcoords="offset points", va="center", fontsize=6.5, style="italic", color="0.35")
                continue
            if r["ci"] is not None:
                _segment(ax, y, r["ci"], lim, ratio, color=color, lw=5, alpha=0.35, zorder=2)
            if r["ci95"] is not None:
                _segment(ax, y, r["ci95"], lim, ratio, color=color, lw=1.3, zorder=3)
            ax.plot([r["est"]], [y], "o", ms=4.5, color=color, markeredgecolor="white", markeredgewidth=0.6, zorder=4)
        ys = list(range(len(rows)))
        ax.set_yticks(ys, [_shorten(claim_label(r["claim"])) for r in rows], fontsize=7.5)
        for lab, r in zip(ax.get_yticklabels(), rows):
            lab.set_color("black" if r["shown"] else "0.35")
            lab.set_fontweight("bold" if r["shown"] else "normal")
        right = ax.secondary_yaxis("right")
        right.set_yticks(ys, [_value_text(r) for r in rows], fontsize=7)
        right.tick_params(length=0, pad=6)
        for lab, r in zip(right.get_yticklabels(), rows):
            lab.set_color("black" if r["shown"] else "0.35")
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.grid(axis="x", color="0.92", lw=0.6)
        ax.tick_params(axis="x", which="both", labelsize=7.5)
        unit = f"{measure}" if measure else "estimate"
        hint = _orientation(kind, ratio, doc.get("meta") or {})
        xlabel = f"ratio of {unit} (log scale)" if ratio else f"difference in {unit}"
        ax.set_xlabel(xlabel + (f": {hint}" if hint else ""), fontsize=8)
        ax.set_title(f"{KIND_TITLES.get(kind, str(kind))}: {unit}, {scale} ({len(rows)})", fontsize=9, loc="left")
    handles = [Line2D([], [], color=SHOWN_COLOR, marker="o", ls="", label="shown"),
               Line2D([], [], color=NOT_SHOWN_COLOR, marker="o", ls="", label="not shown"),
               Line2D([], [], color="0.3", lw=5, alpha=0.35, label="family-adjusted interval (its level at right)"),
               Line2D([], [], color="0.3", lw=1.3, label="marginal 95% interval"),
               Line2D([], [], color="k", ls="--", lw=0.8, label="no difference")]
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    fig.legend(handles=handles, loc="upper center", ncols=5, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / height))
    fig.tight_layout(rect=(0, 0, 1, 1 - head_in / height), h_pad=1.0)
    return fig


def claims(doc: dict[str, Any], path: Path) -> Path:
    """``claims_figure`` as a PNG."""
    return _save(claims_figure(doc), path)


# --------------------------------------------------------------------------- performance profile


def _run_scores(cell: Optional[dict[str, Any]]) -> np.ndarray:
    vals = [_num(v) for v in (cell or {}).get("run_means") or []]
    return np.array([v for v in vals if v is not None and math.isfinite(v)], dtype=float)


def profile_grid(doc: dict[str, Any]) -> np.ndarray:
    """The taus of the profiles: every distinct run score of the document (where the step
    functions change), one step below the lowest and above the highest."""
    scores = np.concatenate([_run_scores(c) for c in doc["cells"]] + [np.zeros(0)])
    if not len(scores):
        return np.array([0.0, 1.0])
    lo, hi = float(scores.min()), float(scores.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(0.05 * abs(hi), 1.0)
    return np.concatenate([[lo - pad], np.unique(scores), [hi + pad]])


def profile(scores, taus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rliable's performance profile: at each tau the fraction of runs scoring above it, with
    its pointwise 95% Wilson interval (lower, upper)."""
    from pyrl.stats.estimators import wilson_ci

    s = np.asarray(scores, dtype=float)
    k = np.array([int(np.sum(s > t)) for t in taus])
    bands = np.array([wilson_ci(int(ki), len(s)) for ki in k]) if len(s) else np.full((len(k), 2), np.nan)
    return k / max(len(s), 1), bands[:, 0], bands[:, 1]


def profile_figure(doc: dict[str, Any]):
    """Performance profiles (rliable): small multiples, one panel per configuration with shared
    axes; per method the fraction of runs whose score (``run_means``) exceeds tau, a step
    function over the range of all run scores, with a pointwise 95% Wilson band."""
    plt = _plt()
    labels, methods = _labels(doc), _methods(doc)
    cells = {(c["label"], c["method"]): c for c in doc["cells"]}
    taus = profile_grid(doc)  # one tau axis for every panel
    ncol = max(1, min(3, len(labels)))
    nrow = max(1, math.ceil(len(labels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False, figsize=(4.2 * ncol, 3.2 * nrow),
                             dpi=DPI)
    for ax, label in zip(axes.flat, labels):
        for i, m in enumerate(methods):
            color = COLORS[i % len(COLORS)]
            s = _run_scores(cells.get((label, m)))
            if not len(s):
                ax.plot([], [], color=color, label=f"{m} (no runs)")
                continue
            frac, lo, hi = profile(s, taus)
            ax.step(taus, frac, where="post", color=color, lw=1.5, label=f"{m} ({len(s)} run{'s' * (len(s) != 1)})")
            ax.fill_between(taus, lo, hi, step="post", color=color, alpha=0.18, lw=0)
        ax.set_title("\n".join(textwrap.wrap(label, 32, break_long_words=False)), fontsize=9)
        ax.set_xlim(taus[0], taus[-1])
        ax.set_ylim(-0.02, 1.02)
        ax.grid(color="0.92", lw=0.6)
        ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    if not labels:
        axes[0, 0].text(0.5, 0.5, "no runs", ha="center", va="center", transform=axes[0, 0].transAxes)
    for ax in list(axes.flat)[max(1, len(labels)):]:
        ax.set_visible(False)
    for col in range(ncol):  # the lowest visible panel of each column carries the tau axis
        ax = [a for a in axes[:, col] if a.get_visible()][-1]
        ax.tick_params(axis="x", labelbottom=True)
        ax.set_xlabel("run score τ", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of runs with score > τ", fontsize=8)
    fig.suptitle("Performance profiles (one score per run; 95% Wilson band)", fontsize=10)
    fig.tight_layout()
    return fig


def performance_profile(doc: dict[str, Any], path: Path) -> Path:
    """``profile_figure`` as a PNG."""
    return _save(profile_figure(doc), path)


def suite_profile_figure(doc: dict[str, Any]):
    """A suite's performance profiles across tasks: one panel per configuration; per method the
    fraction of its trained models (pooled over tasks) whose normalised score exceeds tau, with
    the stratified bootstrap's pointwise percentile band, descriptive (``across_tasks.profiles``)."""
    plt = _plt()
    across = doc["across_tasks"]
    profiles = across.get("profiles") or []
    labels = list(dict.fromkeys(p["config"] for p in profiles))
    methods = [doc["treatment"], doc["control"]]
    ncol = max(1, min(2, len(labels)))
    nrow = max(1, math.ceil(len(labels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False, figsize=(4.6 * ncol, 3.3 * nrow),
                             dpi=DPI)
    for ax, label in zip(axes.flat, labels):
        for i, m in enumerate(methods):
            p = next((p for p in profiles if p["config"] == label and p["method"] == m), None)
            color = COLORS[i % len(COLORS)]
            if p is None:
                ax.plot([], [], color=color, label=f"{m} (too few runs)")
                continue
            ax.step(p["tau"], p["fraction"], where="post", color=color, lw=1.5, label=m)
            ax.fill_between(p["tau"], p["band"][0], p["band"][1], step="post", color=color, alpha=0.18, lw=0)
        for x in (0.0, 1.0):
            ax.axvline(x, color="0.6", lw=0.7, ls=":")
        ax.set_title("\n".join(textwrap.wrap(label, 36, break_long_words=False)), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(color="0.92", lw=0.6)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
    if not labels:
        axes[0, 0].text(0.5, 0.5, across.get("why") or "no profiles", ha="center", va="center", wrap=True,
                        transform=axes[0, 0].transAxes, fontsize=8)
    for ax in list(axes.flat)[max(1, len(labels)):]:
        ax.set_visible(False)
    for col in range(ncol):
        ax = [a for a in axes[:, col] if a.get_visible()][-1]
        ax.tick_params(axis="x", labelbottom=True)
        ax.set_xlabel("normalised score τ (0: random policy, 1: reference)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of models > τ", fontsize=8)
    fig.suptitle(f"Performance profiles across {', '.join(doc['suite'])}\n(trained models pooled over tasks; band: "
                 "2.5-97.5% percentiles of a bootstrap stratified by task, runs resampled; descriptive)", fontsize=9)
    fig.tight_layout()
    return fig


def suite_profile(doc: dict[str, Any], path: Path) -> Path:
    """``suite_profile_figure`` as a PNG."""
    return _save(suite_profile_figure(doc), path)
