"""The ablation analysis: composes the estimators into the study's tables (see ``pyrl.stats``)."""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from pyrl.stats import answers, speed
from pyrl.stats import claims as cl
from pyrl.stats import findings as fnd
from pyrl.stats import tables as tb
from pyrl.stats.convergence import RunCurve
from pyrl.stats.cells import POLICIES, Cell, Settings
from pyrl.stats.estimators import Estimate, intra_run_correlation, welch_mde, welch_seeds_needed
from pyrl.stats.samples import (Sample, ScoresError, TrainedModel, as_sample, config_label, models_from_samples,
                                normalize_factors)


def analyze(
    samples: Iterable[Sample | Mapping[str, Any]],
    factors: Sequence[str] | Mapping[str, Sequence[Any]],
    treatment: str = "a3c",
    control: str = "individual",
    score_range: tuple[float, float] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    min_n: int = 5,
    unit: str = "worker",
    diverged: str = "floor",
    shared: Sequence[str] = ("a3c",),
    curves: Sequence[RunCurve] | None = None,
    threshold: float | None = None,
    models: Iterable[TrainedModel] | None = None,
    floor: float | None = None,
    floor_source: str | None = None,
    others: Sequence[float] = (),
    scope: str = "",
) -> dict[str, Any]:
    """Analyse an ablation; returns one JSON-ready document (see the ``pyrl.stats`` docstring
    for every definition) with keys ``cells, comparisons, removals, cv_suffers_more,
    contributions, interaction, interactions, skipped, findings, meta, answer``.

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
    mean); without them ``meta.convergence`` says it is not available. ``models``: the trained
    models (``TrainedModel``, each scored by its fixed-policy evaluation) that stability,
    dispersion and risk compare; without them each run's samples with one ``model`` are one
    model, and a sample without one is assumed to be its own (``meta.models`` says so).
    ``floor``: the environment's divergence floor in score units (fixed before the analysis,
    e.g. a random policy's score; ``floor_source`` says where it came from); without one, the
    floor policy falls back to ``last`` and says so. Missing cells are skipped and listed in
    ``skipped``. ``answer.claims`` holds every claim the report weighs (``pyrl.stats.claims``):
    the Answer and every verdict in the tables come from it. ``others``: the p-values of the
    rest of a larger family the report's claims belong to (a suite's report: the other tasks'
    claims and those across tasks; ``scope`` names it), for Holm's procedure over all of them."""
    return judge(ablation(samples, factors, treatment, control, score_range, alpha, power, min_n, unit, diverged,
                          shared, curves, threshold, models, floor, floor_source), others, scope)


def ablation(samples, factors, treatment="a3c", control="individual", score_range=None, alpha=0.05, power=0.8,
             min_n=5, unit="worker", diverged="floor", shared=("a3c",), curves=None, threshold=None, models=None,
             floor=None, floor_source=None) -> "Ablation":
    """``analyze`` up to its claims: the ``Ablation`` (its cells), with ``doc`` (the tables so
    far) and ``claims`` (built, not yet judged as a family). ``judge`` finishes the document;
    a suite reads every task's claims' p-values (``p_values``) before judging any."""
    samples = [as_sample(s) for s in samples]
    assumed = False
    if models is None:
        models, assumed = models_from_samples(samples)
    st = _settings(factors, treatment, control, score_range, alpha, power, min_n, unit, diverged, shared, floor)
    groups, n_out, n_samples = _collect(samples, st)
    model_groups = _collect_models(models, st)
    cells = {k: Cell(k[0], k[1], runs, st, model_groups.get(k, {})) for k, runs in groups.items()}
    a = Ablation(st, cells)
    a.comparisons = {cfg: cp for cfg in a.present if (cp := tb.comparison(a, cfg)) is not None}
    removals, suffers = tb.changes(a)
    doc = {
        "cells": [cells[k].doc for k in a.cell_order()],
        "comparisons": list(a.comparisons.values()),
        "removals": removals,
        "cv_suffers_more": suffers,
        "contributions": tb.contributions(a),
        "interactions": [tb.interaction(a, *pair) for pair in st.pairs()],
        "skipped": a.skipped,
    }
    convergence = speed.attach(a, doc, curves, threshold, st.floor)
    a.doc, a.claims = doc, cl.build(a)
    a.meta = {**_meta(st, a, n_samples, floor, floor_source), "convergence": convergence}
    a.assumed, a.n_out = assumed, n_out
    return a


def p_values(a: "Ablation") -> list[float]:
    """The p-values of the ablation's testable claims (what its part of a family adds)."""
    return [p for c in a.claims if c.est is not None and (p := c.est.p()) is not None]


def judge(a: "Ablation", others: Sequence[float] = (), scope: str = "") -> dict[str, Any]:
    """The claims of ``ablation(...)`` judged as a family (with ``others``, the rest of a larger
    one, ``scope`` naming it), and the document finished from them. Once per ablation: it
    completes ``a.doc`` in place."""
    doc, st = a.doc, a.st
    claim_docs, fam = cl.family(a.claims, st.alpha, others, scope)
    _verdicts(a, doc, {c.key: d for c, d in zip(a.claims, claim_docs)}, fam)
    doc["interaction"] = tb.the_interaction(st, doc["interactions"])
    doc["meta"] = a.meta
    doc["models"] = _models_doc(a, a.assumed)
    doc["findings"] = fnd.findings(a, doc, a.n_out)
    doc["answer"] = {"claims": claim_docs, "family": fam, "lines": answers.lines(doc, claim_docs, fam)}
    return doc


# --------------------------------------------------------------------------- input


def _settings(factors, treatment, control, score_range, alpha, power, min_n, unit, diverged, shared,
              floor) -> Settings:
    levels = normalize_factors(factors)
    if treatment == control:
        raise ScoresError("treatment and control must differ")
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
    if floor is not None:
        floor = float(floor)
        if not math.isfinite(floor):
            raise ScoresError(f"floor must be a finite number, got {floor!r}")
        if rng is not None:
            floor = (floor - rng[0]) / (rng[1] - rng[0])
    asked = None
    if diverged == "floor" and floor is None:  # no floor fixed before the analysis: each learner's own score
        diverged, asked = "last", "floor"
    return Settings(levels, str(treatment), str(control), float(alpha), float(power), int(min_n), unit, diverged,
                    frozenset(shared), rng, floor, asked)


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


def _collect_models(models: Iterable[TrainedModel], st: Settings) -> dict:
    """{(cfg, method): {seed: [trained models]}}, scores (and rollouts) mapped by score_range."""
    groups: dict = {}
    seen: set = set()
    for m in models:
        cfg = _cfg_of(Sample(m.config, m.method, m.seed, m.model, None, "failed"), st)
        key = (m.config, m.method, m.seed, m.model)
        if key in seen:
            raise ScoresError(f"duplicate model: {config_label(m.config_dict)}, method {m.method}, seed {m.seed}, "
                              f"model {m.model}")
        seen.add(key)
        if st.score_range is not None:
            lo, hi = st.score_range
            m = dataclasses.replace(
                m, score=None if m.score is None else (m.score - lo) / (hi - lo),
                rollouts=None if m.rollouts is None else tuple((v - lo) / (hi - lo) for v in m.rollouts))
        groups.setdefault((cfg, m.method), {}).setdefault(m.seed, []).append(m)
    return groups


# --------------------------------------------------------------------------- the ablation


class Ablation:
    """The cells, the configurations present, and the treatment-vs-control comparisons.
    ``auc`` maps (cfg, method) -> the AUC estimate of the cell's runs (set by
    ``speed.attach``; empty without learning curves). ``ablation`` then sets ``doc`` (the
    tables), ``claims`` (built, not yet judged), ``meta``, ``assumed`` (models assumed one per
    sample) and ``n_out`` (samples left out), which ``judge`` finishes the report from."""

    def __init__(self, st: Settings, cells: dict[tuple, Cell]):
        self.st, self.cells = st, cells
        self.skipped: list[str] = []
        self.auc: dict[tuple, Estimate] = {}
        self.all_cfgs = list(itertools.product(*st.factors.values()))
        self.present = [cfg for cfg in self.all_cfgs if any(k[0] == cfg for k in cells)]
        methods = [m for m in (st.treatment, st.control) if any(k[1] == m for k in cells)]
        self.methods = methods + sorted({m for _, m in cells} - {st.treatment, st.control})
        self._skip_missing()
        self.comparisons: dict[tuple, dict[str, Any]] = {}  # cfg -> T vs C (pyrl.stats.tables)

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


# --------------------------------------------------------------------------- verdicts from the claims


def _verdicts(a: Ablation, doc: dict, by_key: dict, fam: dict) -> None:
    """Every verdict in the tables, from the claims: intervals of the interactions, the
    stability winner and whose CV suffers more (across trained models), the design figures
    of each gap."""
    for inter in doc["interactions"]:
        fa, fb = inter["components"]
        la, lb = inter["levels"]
        if inter["gap"] is not None:
            _interaction_verdict(inter["gap"], by_key.get(("interaction", fa, la, fb, lb)))
        for m, v in inter["cv_models"].items():
            if v is not None:
                _interaction_verdict(v, by_key.get(("cv_interaction", fa, la, fb, lb, m)))
    for cfg, cp in a.comparisons.items():
        claim = by_key.get(("stability", cfg))
        cp["models"]["stability_claim_shown"] = bool(claim and claim["shown"])
        cp["models"]["stability_winner"] = claim["favours"] if claim and claim["shown"] else None
        cp["gap_claim_shown"] = bool((g := by_key.get(("gap", cfg))) and g["shown"])
        cp["design"] = _design(a, cfg, cp, fam)
    for s in doc["cv_suffers_more"]:
        claim = by_key.get(("suffers", s["component"], s["level"]))
        s["models"]["shown"] = bool(claim and claim["shown"])
    for ct in doc["contributions"]:
        claim = by_key.get(("contribution", ct["component"], ct["level"]))
        ct["shown"] = bool(claim and claim["shown"])


def _interaction_verdict(v: dict, claim: dict | None) -> None:
    """Shown: synergistic or antagonistic. Not shown: additive when the claim's interval at
    its Holm level lies within +-margin (narrow enough to say the effects add up), else no
    evidence of interaction; undetermined without a test."""
    v["ci95"] = None if claim is None else claim["ci95"]
    if claim is not None:
        v["estimate"] = claim["estimate"]  # of run means: the centre of its intervals
    v["ci"], v["ci_level"] = (None, None) if claim is None else (claim["ci"], claim["ci_level"])
    if claim is None or claim["ci"] is None:
        v["verdict"] = "undetermined"
    elif claim["shown"]:
        v["verdict"] = claim["verdict"]
    else:
        lo, hi = claim["ci"]
        narrow = v["margin"] > 0 and -v["margin"] <= lo and hi <= v["margin"]
        v["verdict"] = "additive" if narrow else "no evidence of interaction"


RUNS_CAP = 500  # beyond this, "more than 500": a run count for noise is not a plan


def _design(a: Ablation, cfg: tuple, cp: dict, fam: dict) -> dict[str, Any] | None:
    """The gap's design figures (no post-hoc power on the observed gap): the smallest gap the
    current runs detect with the report's power at the family's first Holm level (alpha / m:
    what a claim must pass when it is the only real effect), and the runs per method a gap at
    each end of its 95% interval would need (None at an end that reaches 0)."""
    st = a.st
    t, c = a.cell(cfg, st.treatment), a.cell(cfg, st.control)
    if t.run_std is None or c.run_std is None:
        return None
    level = st.alpha / max(1, fam["tested"])
    n = min(t.n_runs, c.n_runs)

    def runs(gap: float) -> int | None:  # RUNS_CAP + 1 stands for "more than RUNS_CAP"
        if gap == 0:
            return None
        return welch_seeds_needed(gap, t.run_std, c.run_std, level, st.power, max_n=RUNS_CAP) or RUNS_CAP + 1

    need, ci = [], cp["gap_ci95"]
    if ci is not None:
        near = 0.0 if ci[0] <= 0 <= ci[1] else min(abs(v) for v in ci)
        need = [runs(max(abs(v) for v in ci)), runs(near)]
    return {"mde": welch_mde(t.run_std, c.run_std, n, level, st.power), "alpha": level, "power": st.power, "n": n,
            "runs_needed": need, "runs_cap": RUNS_CAP}


# --------------------------------------------------------------------------- meta


def _models_doc(a: Ablation, assumed: bool) -> dict[str, Any]:
    """What the trained models are, and the intra-run correlation of worker scores per method
    (ok workers of every cell; the line beside the study's worker-level tables)."""
    st = a.st
    icc = {}
    for m in a.methods:
        groups = [[np.array([s.score for s in ss if s.status == "ok"]) for ss in c.runs_in.values()
                   if all(s.status != "failed" for s in ss)]
                  for (cfg, mm), c in a.cells.items() if mm == m]
        value, runs = intra_run_correlation(groups)
        icc[m] = {"icc": value, "runs": runs}
    sources = sorted({c.doc["models"]["source"] for c in a.cells.values() if c.doc["models"]["source"]})
    source = sources[0] if len(sources) == 1 else "mixed" if sources else None
    parts = [f"{m} " + ("n/a" if v["icc"] is None else f"{v['icc']:.2f}") for m, v in icc.items()]
    line = (f"Worker-level spread (the study's tables): the intra-run correlation of worker scores is "
            f"{', '.join(parts)}. " + " ".join(
                f"{m}'s runs each act with one shared model, so their workers' spread is mostly episode noise;"
                for m in a.methods if m in st.shared) +
            " stability, dispersion and risk verdicts compare trained models instead.")
    how = {"evaluation": "each scored by the same fixed-policy evaluation",
           "training scores": "each scored by the mean training-time score of the workers that acted with it",
           "mixed": "some scored by their fixed-policy evaluation, others by training-time scores"}.get(source, "")
    note = None
    if assumed:
        note = ("trained models assumed: the scores give no model column, so every row is taken as its own "
                "trained model (an A3C run's workers share one: give a model column)")
    elif source == "training scores" and len({_workers_per_model(c) for c in a.cells.values()} - {None}) > 1:
        note = ("unequal evaluation: with no evaluation after training, a model is scored by the mean of its "
                "workers' training scores, so a model shared by more workers is measured with less episode noise; "
                "pyrl's runs evaluate every model alike")
    return {"intra_run_correlation": icc, "line": line, "source": source, "scored": how, "assumed": assumed,
            "note": note}


def _workers_per_model(c: Cell) -> float | None:
    """The mean number of workers per trained model in a cell (None without models)."""
    n = c.models.n_models
    return round(sum(len(ss) for ss in c.runs_in.values()) / n, 6) if n else None


def _meta(st: Settings, a: Ablation, n_samples: int, floor: float | None, floor_source: str | None) -> dict[str, Any]:
    return {
        "components": st.names,
        "factors": {k: list(v) for k, v in st.factors.items()},
        "baseline": st.config(st.baseline),
        "treatment": st.treatment,
        "control": st.control,
        "alpha": st.alpha,
        "ci_level": 1 - st.alpha,
        "power": st.power,
        "min_n": st.min_n,
        "unit": st.unit,
        "inference": ("the run: Welch/Student t on run means for means and their contrasts; the cluster "
                      "jackknife over runs (t on k - 1 df) for the CV; order statistics for medians, Yuen's "
                      "interval for the IQM, Newcombe's for P(T > C); the claims controlled as one family "
                      "(Holm)"),
        "n_counts": fnd.n_counts_line(a),
        "diverged_policy": st.diverged,
        "diverged_policy_asked": st.diverged_asked or st.diverged,
        "floor_score": st.floor,
        "floor": None if floor is None else {"score": float(floor), "source": floor_source or "given"},
        "shared_methods": sorted(st.shared),
        "score_range": None if st.score_range is None else list(st.score_range),
        "n_samples": n_samples,
    }
