"""The claims of a report: one family, controlled as a family.

Every inferential statement the report can make is a claim: an estimate of one contrast
between cells, with a t reference (``pyrl.stats.estimators.Estimate``), a two-sided test of
"no difference" (0, or a ratio of 1 on the log scale) and its interval. The report weighs them
all at once, so it controls the family-wise error rate: Holm's step-down procedure at alpha
over every claim that can be tested. A claim is *shown* only when its Holm-adjusted p is below
alpha and its interval at the matching level (1 - alpha / (m - r + 1) for the claim ranked r
of m by p) excludes the null; for a t statistic the two agree by construction, and both are
checked. Claims that cannot be tested (too few runs, an undefined CV) stay in the list with
the reason, outside the family.

Kinds (T treatment, C control; a "change" is one factor at a non-baseline level, the others at
baseline; means are means of run means, the run being the unit):

gap           T - C per configuration; with several configurations also their average
effect        a change averaged over both methods and the other factors' levels (the
              factorial's main effect: every cell counts, so it is the most powerful question)
change        a change, per method (the study's "removing a component")
contribution  gap(baseline) - gap(changed): what the baseline level adds to T's lead; > 0 means
              it helps T more than C (the study's contribution, in score units)
interaction   two changes on the gap: (base - only B) - (only A - both)
stability     the CV across trained models (one per A3C run, one per independent learner, each
              scored by the same fixed-policy evaluation; over the models that did not
              diverge), on the log scale: T / C per configuration, and its geometric mean over
              the configurations (the headline, the most powerful); per method changed /
              baseline; the two methods' ratios divided (whose CV rises more: the one
              definition of "suffers more"); and the CV interaction per method (plain scale).
              Not the study's CV over workers: an A3C run's workers act with one model, so
              their spread is mostly episode noise and would favour A3C by construction
convergence   normalised AUC: T - C per configuration; per method changed - baseline

``favours``: the method (or level) the estimate puts in the better light: the higher score,
the lower CV, the faster learner; for contributions, the method the baseline level helps more;
for "whose CV suffers more", the method whose CV suffers less; None for interactions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from pyrl.stats.estimators import Estimate, combine, holm

KINDS = ("gap", "effect", "change", "contribution", "interaction", "stability", "convergence")
MODEL_CV = "CV of models"  # the measure of the stability claims: the CV across trained models


@dataclass
class Claim:
    kind: str
    measure: str                      # score | CV | AUC
    question: str
    statements: tuple[str, str]       # (estimate above the null, below it)
    favours: tuple[str | None, str | None]
    configs: list[str]
    methods: list[str]
    contrast: str
    est: Estimate | None
    untested: str | None = None       # why there is no test (est is None)
    scale: str = "difference"         # difference | ratio (est on the log scale) | probability (est - 0.5)
    test: str = "Welch t on run means"
    component: str | None = None
    level: Any = None
    n_runs: int | None = None
    verdicts: tuple[str, str] | None = None  # interactions: (above, below)
    key: tuple = ()                   # how the analysis finds it: (kind tag, what it is about)

    @property
    def id(self) -> str:
        parts = [self.kind, self.measure, " / ".join(self.configs), ",".join(self.methods)]
        if self.component is not None:
            parts.append(f"{self.component}={self.level}")
        return "|".join(parts)


NULLS = {"difference": 0.0, "ratio": 1.0, "probability": 0.5}
"""The null of each scale, as reported. An estimate holds its value minus the null on a scale
where the null is 0: the log of a ratio, a probability minus one half."""


def _out(v: float, scale: str) -> float:
    return math.exp(v) if scale == "ratio" else v + 0.5 if scale == "probability" else v


def _excludes_null(ci: list[float] | None, scale: str) -> bool:
    null = NULLS[scale]
    return ci is not None and not ci[0] <= null <= ci[1]


def family(claims: list[Claim], alpha: float, others: Sequence[float] = (),
           scope: str = "") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The claims as JSON, with Holm's adjustment over the testable ones, and the family's
    summary. ``others``: the p-values of the rest of a larger family these claims belong to (a
    suite's report: every task's claims and the claims across tasks); Holm then runs over all of
    them, ``scope`` naming that family in the summary line."""
    docs = [_doc(c) for c in claims]
    tested = [i for i, d in enumerate(docs) if d["p"] is not None]
    ps = [docs[i]["p"] for i in tested] + [float(p) for p in others]
    m = len(ps)
    adj = holm(ps)
    ranks = sorted(range(m), key=lambda j: ps[j])
    for r, j in enumerate(ranks):
        if j >= len(tested):
            continue  # another part of the family
        i, c = tested[j], claims[tested[j]]
        d, level = docs[i], 1 - alpha / (m - r)
        d["p_adj"], d["ci_level"] = adj[j], level
        d["ci"] = [_out(v, c.scale) for v in c.est.ci(level)]
        # the interval is centred on the bias-corrected estimate (jackknife): it must also lie on
        # the point estimate's side of the null, so that the statement never contradicts it
        agrees = _excludes_null(d["ci"], c.scale) and (c.est.ci(level)[0] > 0) == (c.est.value > 0)
        d["shown"] = adj[j] < alpha and agrees
        if d["shown"]:
            d["why_not"] = None
            if c.verdicts is not None:
                d["verdict"] = c.verdicts[0 if c.est.value > 0 else 1]
        elif adj[j] >= alpha:
            d["why_not"] = f"Holm-adjusted p = {adj[j]:.3g} >= {alpha:g} ({m} claims tested{scope and ' in ' + scope})"
        elif not _excludes_null(d["ci"], c.scale):
            d["why_not"] = f"its {100 * level:.2f}% interval (the Holm level) covers {NULLS[c.scale]:g}"
        else:
            d["why_not"] = "its bias-corrected interval lies on the other side of the null from the estimate"
    shown = sum(d["shown"] for d in docs)
    line = (f"{shown} of {len(docs)} claims shown: Holm's procedure over the {m} tested"
            + (f" in {scope}" if scope else "") + f", family-wise error {alpha:g}, runs as the unit"
            + (f"; {len(docs) - len(tested)} not testable" if len(docs) > len(tested) else "") + ".")
    return docs, {"method": "Holm", "alpha": alpha, "weighed": len(docs), "tested": m, "shown": shown,
                  "line": line, **({"scope": scope} if scope else {})}


def _doc(c: Claim) -> dict[str, Any]:
    e = c.est
    p = None if e is None else e.p()
    side = 0 if e is None or e.value >= 0 else 1  # the statement follows the point estimate
    doc = {
        "id": c.id, "kind": c.kind, "measure": c.measure, "question": c.question,
        "statement": c.question if e is None else c.statements[side], "configs": c.configs, "methods": c.methods,
        "component": c.component, "level": c.level, "contrast": c.contrast, "scale": c.scale,
        "estimate": None if e is None else _out(e.value, c.scale),
        "ci95": None if e is None or p is None else [_out(v, c.scale) for v in e.ci(0.95)],
        "ci": None, "ci_level": None, "p": p, "p_adj": None, "test": c.test,
        "df": None if e is None or math.isinf(e.df) else e.df, "n_runs": c.n_runs,
        "favours": None if e is None or e.value == 0 else c.favours[side],
        "verdict": None,
        "shown": False,
        "why_not": c.untested if e is None else ("no test: the contrast has no variation (every run scored the "
                                                 "same) and no difference" if p is None else None),
    }
    return doc


# --------------------------------------------------------------------------- the claims of an ablation


def _terms(a, parts: list[tuple[float, tuple, str]], attr: str) -> tuple[Estimate | None, str | None, int | None]:
    """sum coef x cell.<attr> over (coef, cfg, method) parts: (estimate, why untested, min runs).
    ``attr``: mean_est, model_logcv_est or model_cv_est of a ``Cell``, or auc (a dict key -> Estimate)."""
    st, ests, why = a.st, [], None
    runs = []
    for coef, cfg, m in parts:
        cell = a.cell(cfg, m)
        runs.append(cell.n_runs)
        e = a.auc.get((cfg, m)) if attr == "auc" else getattr(cell, attr)
        if e is None and why is None:
            name = f"{st.label(cfg)} / {m}"
            if attr == "mean_est" or attr == "auc":
                why = f"not tested: {name} has {cell.n_runs} run(s); a t interval needs at least 2 in every cell"
            elif cell.models.cv is None:
                why = f"not tested: the CV across trained models is undefined in {name} ({cell.models.cv_note})"
            else:
                why = f"not tested: {cell.models.cv_ci_note()} ({name} has {cell.models.n_runs} runs)"
        ests.append((coef, e))
    return (combine(ests) if why is None else None), why, min(runs)


def _have(a, cfgs: list[tuple], methods: list[str]) -> bool:
    return all(a.cell(cfg, m) is not None for cfg in cfgs for m in methods)


def _claim(a, kind, measure, parts, attr, **kw) -> Claim:
    est, why, n = _terms(a, parts, attr)
    scale = "ratio" if attr == "model_logcv_est" else "difference"
    test = {"mean_est": "Welch t on run means", "auc": "Welch t on the runs' normalised AUC",
            "model_logcv_est": "t on log CV of trained models, cluster jackknife over runs (bias-corrected)",
            "model_cv_est": "t on CV of trained models, cluster jackknife over runs (bias-corrected)"}[attr]
    return Claim(kind=kind, measure=measure, est=est, untested=why, n_runs=n, scale=scale, test=test, **kw)


def build(a) -> list[Claim]:
    """Every claim of the ablation ``a`` (``pyrl.stats.analysis.Ablation``), in report order."""
    return (_gaps(a) + _effects(a) + _changes(a) + _contributions(a) + _interactions(a) + _stability(a)
            + _convergence(a))


def _gaps(a, attr: str = "mean_est", measure: str = "score", kind: str = "gap") -> list[Claim]:
    st = a.st
    T, C = st.treatment, st.control
    verb = {"score": "scores higher than", "AUC": "learns faster than"}[measure]
    q = {"score": f"Does {T} score higher than {C}", "AUC": f"Does {T} converge faster than {C}"}[measure]
    cfgs = [cfg for cfg in a.present if _have(a, [cfg], [T, C])
            and (attr != "auc" or ((cfg, T) in a.auc and (cfg, C) in a.auc))]
    out = []
    for cfg in cfgs:
        lab = st.label(cfg)
        out.append(_claim(a, kind, measure, [(1.0, cfg, T), (-1.0, cfg, C)], attr,
                          question=f"{q} in {lab}?", statements=(f"{T} {verb} {C} in {lab}", f"{C} {verb} {T} in {lab}"),
                          favours=(T, C), configs=[lab], methods=[T, C], contrast=f"{T} - {C}", key=(kind, cfg)))
    if attr == "mean_est" and len(a.all_cfgs) > 1 and len(cfgs) == len(a.all_cfgs):
        k = len(cfgs)
        parts = [p for cfg in cfgs for p in ((1.0 / k, cfg, T), (-1.0 / k, cfg, C))]
        out.append(_claim(a, kind, measure, parts, attr,
                          question=f"{q}, averaged over the {k} configurations?",
                          statements=(f"{T} {verb} {C}, averaged over the {k} configurations",
                                      f"{C} {verb} {T}, averaged over the {k} configurations"),
                          favours=(T, C), configs=["all configurations"], methods=[T, C],
                          contrast=f"mean over configurations of ({T} - {C})", key=(kind, "all")))
    return out


def _cap(text: str) -> str:
    """The first letter upper case, the rest as given (factor names and levels keep their case)."""
    return text[:1].upper() + text[1:]


def _level_name(st, name: str, level) -> str:
    if isinstance(level, bool):
        return name if level else f"no {name}"
    return f"{name}={level}"


def _what(st, name, level) -> str:
    """'removing rnn' / 'norm=rmsnorm instead of layernorm'."""
    base = st.factors[name][0]
    if isinstance(level, bool):
        return f"{'adding' if level else 'removing'} {name}"
    return f"{name}={level} instead of {base}"


def _effects(a) -> list[Claim]:
    """Main effects: every cell at the level against every cell at the baseline level."""
    st, out = a.st, []
    methods = [st.treatment, st.control]
    for name, level in st.level_changes():
        i, base = st.names.index(name), st.factors[name][0]
        at = [cfg for cfg in a.all_cfgs if cfg[i] == level]
        ref = [cfg for cfg in a.all_cfgs if cfg[i] == base]
        if not _have(a, at + ref, methods):
            continue
        w = 1.0 / (len(at) * len(methods))
        parts = [(w, cfg, m) for cfg in at for m in methods] + [(-w, cfg, m) for cfg in ref for m in methods]
        what = _what(st, name, level)
        others = " and the other factors' levels" if len(st.factors) > 1 else ""
        out.append(_claim(a, "effect", "score", parts, "mean_est", component=name, level=level,
                          question=f"What does {what} do to the score, averaged over both methods{others}?",
                          statements=(f"{_cap(what)} raises the score (averaged over both methods)",
                                      f"{_cap(what)} lowers the score (averaged over both methods)"),
                          favours=(_level_name(st, name, level), _level_name(st, name, base)),
                          configs=[f"{name} at {_level_name(st, name, level)} vs {_level_name(st, name, base)}"],
                          methods=methods, contrast=f"mean of the cells at {_level_name(st, name, level)} - "
                                                    f"mean of the cells at {_level_name(st, name, base)}",
                          key=("effect", name, level)))
    return out


def _changes(a, attr: str = "mean_est", measure: str = "score", kind: str = "change") -> list[Claim]:
    st, out = a.st, []
    noun = {"mean_est": "score", "model_logcv_est": "CV across trained models", "auc": "normalised AUC"}[attr]
    up, down = {"mean_est": ("raises", "lowers"), "model_logcv_est": ("raises", "lowers"),
                "auc": ("speeds up", "slows")}[attr]
    for name, level in st.level_changes():
        cfg, base = st.changed(name, level), st.baseline
        what = _what(st, name, level)
        lv, bl = _level_name(st, name, level), _level_name(st, name, st.factors[name][0])
        for m in (st.treatment, st.control):
            if not _have(a, [cfg, base], [m]) or (attr == "auc" and ((cfg, m) not in a.auc or (base, m) not in a.auc)):
                continue
            if attr == "model_logcv_est":  # a lower CV is the better side
                fav = (bl, lv)
            else:
                fav = (lv, bl)
            tail = "convergence" if attr == "auc" else noun
            out.append(_claim(a, kind, measure, [(1.0, cfg, m), (-1.0, base, m)], attr, component=name, level=level,
                              question=f"What does {what} do to {m}'s {noun}?",
                              statements=(f"{_cap(what)} {up} {m}'s {tail}",
                                          f"{_cap(what)} {down} {m}'s {tail}"),
                              favours=fav, configs=[st.label(cfg), st.label(base)], methods=[m],
                              contrast=f"{st.label(cfg)} - {st.label(base)}" if attr != "model_logcv_est"
                              else f"{st.label(cfg)} / {st.label(base)}", key=(f"change:{attr}", name, level, m)))
    return out


def _contributions(a, attr: str = "mean_est") -> list[Claim]:
    st, out = a.st, []
    T, C = st.treatment, st.control
    for name, level in st.level_changes():
        cfg, base = st.changed(name, level), st.baseline
        if not _have(a, [cfg, base], [T, C]):
            continue
        bl = _level_name(st, name, st.factors[name][0])
        who = bl if isinstance(level, bool) else f"{bl} (vs {level})"
        if attr == "mean_est":
            parts = [(1.0, base, T), (-1.0, base, C), (-1.0, cfg, T), (1.0, cfg, C)]
            out.append(_claim(a, "contribution", "score", parts, attr, component=name, level=level,
                              question=f"Does {who} help {T} more than {C} (widen the gap)?",
                              statements=(f"{who} widens {T}'s lead over {C} (helps {T} more)",
                                          f"{who} narrows {T}'s lead over {C} (helps {C} more)"),
                              favours=(T, C), configs=[st.label(base), st.label(cfg)], methods=[T, C],
                              contrast=f"gap in {st.label(base)} - gap in {st.label(cfg)}",
                              key=("contribution", name, level)))
        else:  # whose CV suffers more from the change: the one definition, a ratio of CV ratios
            what = _what(st, name, level)
            parts = [(1.0, cfg, T), (-1.0, base, T), (-1.0, cfg, C), (1.0, base, C)]
            out.append(_claim(a, "stability", MODEL_CV, parts, attr, component=name, level=level,
                              question=f"Whose stability (CV across trained models) suffers more from {what}?",
                              statements=(f"{_cap(what)} raises {T}'s CV across trained models relative to {C}'s",
                                          f"{_cap(what)} raises {C}'s CV across trained models relative to {T}'s"),
                              favours=(C, T), configs=[st.label(cfg), st.label(base)], methods=[T, C],
                              contrast=f"({T}'s CV ratio {st.label(cfg)} / {st.label(base)}) / ({C}'s)",
                              key=("suffers", name, level)))
    return out


def _interactions(a, attr: str = "mean_est") -> list[Claim]:
    st, out = a.st, []
    T, C = st.treatment, st.control
    for fa, la, fb, lb in st.pairs():
        corners = st.corners(fa, la, fb, lb)
        pair = f"{_what(st, fa, la)} and {_what(st, fb, lb)}"
        coef = {"base": 1.0, "b": -1.0, "a": -1.0, "ab": 1.0}
        labels = [st.label(corners[k]) for k in ("base", "a", "b", "ab")]
        if attr == "mean_est":
            if not _have(a, list(corners.values()), [T, C]):
                continue
            parts = [(s * coef[k], corners[k], m) for k in coef for s, m in ((1.0, T), (-1.0, C))]
            out.append(_claim(a, "interaction", "score", parts, attr, component=fa, level=la,
                              question=f"Do {pair} interact on the gap?",
                              statements=(f"{_cap(pair)} interact on the gap: synergistic",
                                          f"{_cap(pair)} interact on the gap: antagonistic"),
                              favours=(None, None), verdicts=("synergistic", "antagonistic"),
                              configs=labels, methods=[T, C], contrast="(base - only B) - (only A - both), on the gap",
                              key=("interaction", fa, la, fb, lb)))
        else:
            for m in (T, C):
                if not _have(a, list(corners.values()), [m]):
                    continue
                parts = [(coef[k], corners[k], m) for k in coef]
                out.append(_claim(a, "stability", MODEL_CV, parts, attr, component=fa, level=la,
                                  question=f"Do {pair} interact on {m}'s CV across trained models?",
                                  statements=(f"{_cap(pair)} interact on {m}'s CV across trained models: "
                                              f"antagonistic (less stable together)",
                                              f"{_cap(pair)} interact on {m}'s CV across trained models: "
                                              f"synergistic (more stable together)"),
                                  favours=(None, None), verdicts=("antagonistic", "synergistic"), configs=labels,
                                  methods=[m], contrast="(base - only B) - (only A - both), on the CV",
                                  key=("cv_interaction", fa, la, fb, lb, m)))
    return out


def _stability(a) -> list[Claim]:
    st, out = a.st, []
    T, C = st.treatment, st.control
    for cfg in a.present:
        if not _have(a, [cfg], [T, C]):
            continue
        lab = st.label(cfg)
        out.append(_claim(a, "stability", MODEL_CV, [(1.0, cfg, T), (-1.0, cfg, C)], "model_logcv_est",
                          question=f"Is {T} more stable (lower CV across trained models) than {C} in {lab}?",
                          statements=(f"{C}'s trained models vary less than {T}'s in {lab} (CV; {C} steadier)",
                                      f"{T}'s trained models vary less than {C}'s in {lab} (CV; {T} steadier)"),
                          favours=(C, T), configs=[lab], methods=[T, C], contrast=f"CV {T} / CV {C}",
                          key=("stability", cfg)))
    cfgs = [cfg for cfg in a.present if _have(a, [cfg], [T, C])]
    if len(a.all_cfgs) > 1 and len(cfgs) == len(a.all_cfgs):  # the headline question, with every cell's models
        k = len(cfgs)
        parts = [p for cfg in cfgs for p in ((1.0 / k, cfg, T), (-1.0 / k, cfg, C))]
        out.append(_claim(a, "stability", MODEL_CV, parts, "model_logcv_est",
                          question=f"Is {T} more stable (lower CV across trained models) than {C}, averaged over "
                                   f"the {k} configurations?",
                          statements=(f"{C}'s trained models vary less than {T}'s (CV, geometric mean over the {k} "
                                      f"configurations; {C} steadier)",
                                      f"{T}'s trained models vary less than {C}'s (CV, geometric mean over the {k} "
                                      f"configurations; {T} steadier)"),
                          favours=(C, T), configs=["all configurations"], methods=[T, C],
                          contrast=f"geometric mean over configurations of CV {T} / CV {C}", key=("stability", "all")))
    out += _changes(a, "model_logcv_est", MODEL_CV, "stability")
    out += _contributions(a, "model_logcv_est")
    out += _interactions(a, "model_cv_est")
    return out


def _convergence(a) -> list[Claim]:
    if not a.auc:
        return []
    return _gaps(a, "auc", "AUC", "convergence") + _changes(a, "auc", "AUC", "convergence")
