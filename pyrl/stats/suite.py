"""The study over a suite of tasks (issue 23): each task's analysis, then the answer across
tasks, all of it one family of claims.

Each task is analysed as a single-task report analyses it (``pyrl.stats.analysis``). Across
tasks (``pyrl.stats.aggregate``), every trained model's score is normalised on its task, 0 a
uniformly random policy (the task's floor, measured when its sweep was made) and 1 the task's
reference score (its row's in ``pyrl.train.tasks``: RL Zoo's published RecurrentPPO score where
RL Zoo has one), and the contrasts are read from a bootstrap stratified by task
that resamples runs, a run's models together:

gap           T - C per configuration: the IQM difference and the probability of improvement;
              with several configurations also both averaged over them (the headline)
change        per method, a factor at a non-baseline level against the baseline (IQM difference)
interaction   two changes on the gap's IQM difference: (base - only B) - (only A - both)

Diverged learners are data: they enter with the score the divergence policy gives them (the
floor by default, 0 on the normalised scale or below), so a task on which a method's every
run diverges still counts. Failed runs (crashes) are not learning outcomes; a contrast that
needs a cell with fewer than 2 runs on some task is listed untested, with the reason.

The family. A suite's report weighs every task's claims and the claims across tasks at once:
Holm's procedure runs over all of them (``claims.family(..., others=)``), so the family-wise
error rate of the whole report is held at alpha. A task's own claims are therefore judged
more strictly in a suite than alone; its analysis says so in its family line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from pyrl.stats import claims as cl
from pyrl.stats.aggregate import N_BOOT, BootEstimate, SuiteBootstrap, _interval, normalise
from pyrl.stats.analysis import ablation, judge, p_values
from pyrl.stats.samples import ScoresError

PROFILE_TAUS = np.linspace(-0.25, 1.5, 141)
TEST = "stratified bootstrap over runs by task, expanded percentile"


@dataclass
class TaskInputs:
    """One task of a suite: what ``analyze`` takes, and its normalisation."""
    name: str                                  # the env id
    samples: list
    factors: dict
    models: Optional[list] = None
    curves: Optional[list] = None
    floor: Optional[float] = None              # a uniformly random policy's score: 0 normalised
    floor_source: Optional[str] = None
    reference: Optional[float] = None          # the task's reference score: 1 normalised
    reference_source: Optional[str] = None
    notes: list = field(default_factory=list)  # unreadable files, runs left out


def analyze_suite(tasks: Sequence[TaskInputs], treatment: str = "a3c", control: str = "individual",
                  alpha: float = 0.05, diverged: str = "floor", n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Every task's analysis (the result's ``tasks``: one JSON document each, as ``analyze``
    returns, with ``task``) and ``across_tasks`` (normalisation, per-cell IQMs, the claims and profiles), under
    one Holm family (``family``). ScoresError when the tasks do not share their factors."""
    if not tasks:
        raise ScoresError("a suite needs at least one task")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ScoresError(f"a task appears twice in the suite ({', '.join(names)})")
    kw = dict(treatment=treatment, control=control, alpha=alpha, diverged=diverged)
    ablations = []
    for t in tasks:
        try:
            ablations.append(ablation(t.samples, t.factors, curves=t.curves, models=t.models, floor=t.floor,
                                      floor_source=t.floor_source, **kw))
        except ScoresError as exc:
            raise ScoresError(f"{t.name}: {exc}") from None
    factors = [a.st.factors for a in ablations]
    if any(f != factors[0] for f in factors[1:]):
        shown = "; ".join(f"{t.name}: {f}" for t, f in zip(tasks, factors))
        raise ScoresError(f"the suite's tasks must share their factors and levels ({shown})")
    across, claims = _across(tasks, ablations, treatment, control, n_boot, seed)
    task_ps = [p_values(a) for a in ablations]
    across_ps = [p for c in claims if c.est is not None and (p := c.est.p()) is not None]
    scope = f"the suite's family ({len(tasks)} task{'s' if len(tasks) > 1 else ''} and the answer across them)"
    docs = []
    for i, (t, a) in enumerate(zip(tasks, ablations)):
        others = [p for j, ps in enumerate(task_ps) if j != i for p in ps] + across_ps
        doc = judge(a, others, scope)
        doc["task"] = t.name
        doc["skipped"] = list(doc.get("skipped", [])) + list(t.notes)
        docs.append(doc)
    claim_docs, fam = cl.family(claims, alpha, [p for ps in task_ps for p in ps], scope)
    across["answer"] = {"claims": claim_docs, "family": fam, "lines": _lines(across, claim_docs, fam)}
    shown = fam["shown"] + sum(d["answer"]["family"]["shown"] for d in docs)
    return {
        "suite": names, "treatment": treatment, "control": control, "tasks": docs, "across_tasks": across,
        "family": {"method": "Holm", "alpha": alpha, "scope": scope, "tested": fam["tested"], "shown": shown,
                   "line": f"{shown} claims shown in all: Holm's procedure over the {fam['tested']} tested in "
                           f"{scope}, family-wise error {alpha:g}, runs as the unit."},
    }


# --------------------------------------------------------------------------- across tasks


def _normalised_runs(cell, random: float, reference: float) -> list[np.ndarray]:
    """The cell's runs as arrays of normalised model scores (diverged models by the policy)."""
    return [normalise(r, random, reference) for r in cell.models.all_runs] if cell is not None else []


def _across(tasks, ablations, T: str, C: str, n_boot: int, seed: int) -> tuple[dict[str, Any], list[cl.Claim]]:
    missing = [t.name for t in tasks if t.floor is None or t.reference is None]
    if missing:
        why = (f"no answer across tasks: {', '.join(missing)} lack{'s' if len(missing) == 1 else ''} a random-policy "
               "score or a reference score to normalise by (a task's reference comes from its row in pyrl.train.tasks)")
        return {"available": False, "why": why}, []
    st = ablations[0].st
    cfgs = ablations[0].all_cfgs
    suite: dict[str, dict[tuple, list[np.ndarray]]] = {}
    for t, a in zip(tasks, ablations):
        suite[t.name] = {(cfg, m): _normalised_runs(a.cell(cfg, m), t.floor, t.reference)
                         for cfg in cfgs for m in (T, C)}
    runs = {k: {t: len(suite[t][k]) for t in suite} for k in suite[tasks[0].name]}
    ready = [k for k, per_task in runs.items() if min(per_task.values()) >= 2]
    boot = SuiteBootstrap({t: {k: suite[t][k] for k in ready} for t in suite}, ready, n_boot=n_boot, seed=seed) \
        if ready else None
    n_tasks = len(tasks)

    def shortfall(keys) -> Optional[str]:
        for k in keys:
            for task, n in runs[k].items():
                if n < 2:
                    return (f"not tested: {st.label(k[0])} / {k[1]} has {n} run(s) on {task}; the stratified "
                            "bootstrap needs 2 on every task")
        return None

    def expansion(*sides) -> tuple[int, int]:
        """(n, df) of the side with the fewest degrees of freedom: its runs over the suite, less
        its strata (tasks x cells)."""
        best = None
        for side in sides:
            n = sum(runs[k][t] for k in side for t in runs[k])
            df = n - n_tasks * len(side)
            if best is None or df < best[1]:
                best = (n, df)
        return best

    claims: list[cl.Claim] = []

    def add(kind, measure, sides, reps_fn, scale="difference", **kw):
        keys = [k for side in sides for k in side]
        why = shortfall(keys)
        est = None
        if why is None:
            n, df = expansion(*sides)
            est = BootEstimate(reps_fn(), n, df, null=cl.NULLS[scale], bounds=(0.0, 1.0) if scale == "probability"
                               else None)
        claims.append(cl.Claim(kind=kind, measure=measure, est=est, untested=why, scale=scale, test=TEST,
                               n_runs=min(min(runs[k].values()) for k in keys), **kw))

    iqm = (lambda *ks: boot.iqm(*ks))  # noqa: E731
    gap = (lambda cfg: iqm((cfg, T)) - iqm((cfg, C)))  # noqa: E731
    for cfg in cfgs:
        lab = st.label(cfg)
        common = dict(configs=[lab], methods=[T, C], favours=(T, C), key=("gap", cfg))
        add("gap", "normalised IQM", [[(cfg, T)], [(cfg, C)]], lambda cfg=cfg: gap(cfg),
            question=f"Does {T} score higher than {C} in {lab}, across tasks?",
            statements=(f"{T} scores higher than {C} in {lab} across tasks (IQM)",
                        f"{C} scores higher than {T} in {lab} across tasks (IQM)"),
            contrast=f"IQM {T} - IQM {C}", **common)
        add("gap", "P(improvement)", [[(cfg, T)], [(cfg, C)]],
            lambda cfg=cfg: boot.probability_of_improvement((cfg, T), (cfg, C)), scale="probability",
            question=f"Do {T}'s models beat {C}'s more often than not in {lab}, across tasks?",
            statements=(f"{T}'s models beat {C}'s more often than not in {lab} across tasks",
                        f"{C}'s models beat {T}'s more often than not in {lab} across tasks"),
            contrast=f"P({T} > {C})", **common)
    if len(cfgs) > 1:
        k = len(cfgs)
        sides = [[(cfg, T) for cfg in cfgs], [(cfg, C) for cfg in cfgs]]
        common = dict(configs=["all configurations"], methods=[T, C], favours=(T, C), key=("gap", "all"))
        add("gap", "normalised IQM", sides, lambda: iqm(*sides[0]) - iqm(*sides[1]),
            question=f"Does {T} score higher than {C} across tasks, over the {k} configurations?",
            statements=(f"{T} scores higher than {C} across tasks and the {k} configurations (IQM)",
                        f"{C} scores higher than {T} across tasks and the {k} configurations (IQM)"),
            contrast=f"IQM {T} - IQM {C}, configurations pooled", **common)
        pairs = [((cfg, T), (cfg, C)) for cfg in cfgs]
        add("gap", "P(improvement)", sides, lambda: boot.probability_of_improvement(*pairs[0], *pairs[1:]),
            scale="probability",
            question=f"Do {T}'s models beat {C}'s more often than not, across tasks and configurations?",
            statements=(f"{T}'s models beat {C}'s more often than not across tasks and the {k} configurations",
                        f"{C}'s models beat {T}'s more often than not across tasks and the {k} configurations"),
            contrast=f"P({T} > {C}), averaged over tasks and configurations", **common)
    for name, level in st.level_changes():
        what = cl._what(st, name, level)
        changed = st.changed(name, level)
        for m in (T, C):
            add("change", "normalised IQM", [[(changed, m)], [(st.baseline, m)]],
                lambda changed=changed, m=m: iqm((changed, m)) - iqm((st.baseline, m)),
                question=f"Does {what} change {m}'s score across tasks?",
                statements=(f"{cl._cap(what)} raises {m}'s score across tasks (IQM)",
                            f"{cl._cap(what)} lowers {m}'s score across tasks (IQM)"),
                favours=(cl._level_name(st, name, level), cl._level_name(st, name, st.factors[name][0])),
                configs=[st.label(changed), st.label(st.baseline)], methods=[m], contrast="changed - baseline",
                component=name, level=level, key=("change", name, level, m))
    for fa, la, fb, lb in st.pairs():
        c4 = st.corners(fa, la, fb, lb)
        keys = [(c4[x], m) for x in ("base", "a", "b", "ab") for m in (T, C)]
        add("interaction", "normalised IQM", [[k] for k in keys],
            lambda c4=c4: (gap(c4["base"]) - gap(c4["b"])) - (gap(c4["a"]) - gap(c4["ab"])),
            question=f"Do {cl._what(st, fa, la)} and {cl._what(st, fb, lb)} interact on the gap across tasks?",
            statements=(f"{cl._cap(cl._what(st, fa, la))} and {cl._what(st, fb, lb)} interact on the gap across "
                        "tasks: better than additive",
                        f"{cl._cap(cl._what(st, fa, la))} and {cl._what(st, fb, lb)} interact on the gap across "
                        "tasks: worse than additive"),
            favours=(None, None), configs=[st.label(c4[x]) for x in ("base", "a", "b", "ab")], methods=[T, C],
            contrast="(base - only B) - (only A - both), of IQM T - IQM C", component=f"{fa} x {fb}",
            level=f"{la} x {lb}", verdicts=("synergistic", "antagonistic"), key=("interaction", fa, la, fb, lb))
    doc = {
        "available": True,
        "tasks": [t.name for t in tasks],
        "normalisation": {t.name: {"random": t.floor, "random_source": t.floor_source, "reference": t.reference,
                                   "reference_source": t.reference_source} for t in tasks},
        "level": 0.95, "n_boot": n_boot,
        "cells": [_cell_doc(st, boot, runs, cfg, m, ready, n_tasks) for cfg in cfgs for m in (T, C)],
        "profiles": [_profile_doc(st, boot, cfg, m) for cfg in cfgs for m in (T, C) if (cfg, m) in ready],
    }
    return doc, claims


def _cell_doc(st, boot, runs, cfg, m, ready, n_tasks) -> dict[str, Any]:
    doc = {"config": st.label(cfg), "method": m, "runs": runs[(cfg, m)], "iqm": None, "iqm_ci95": None}
    if (cfg, m) in ready:
        reps = boot.iqm((cfg, m))
        n = sum(runs[(cfg, m)].values())
        doc["iqm"], doc["iqm_ci95"] = float(reps[0]), _interval(reps, 0.95, n, n - n_tasks)
    return doc


def _profile_doc(st, boot, cfg, m) -> dict[str, Any]:
    """The profile and its pointwise 2.5-97.5% percentile band over the replicates: descriptive
    (plain percentiles cover 87-92% at 3-5 runs per task; no claim rests on it)."""
    reps = boot.profile((cfg, m), PROFILE_TAUS)
    lo, hi = np.quantile(reps[1:], [0.025, 0.975], axis=0)
    return {"config": st.label(cfg), "method": m, "tau": PROFILE_TAUS.tolist(), "fraction": reps[0].tolist(),
            "band": [lo.tolist(), hi.tolist()], "band_kind": "pointwise 2.5-97.5% percentiles (descriptive)"}


def _lines(across: dict[str, Any], claims: list[dict[str, Any]], fam: dict[str, Any]) -> list[str]:
    """The answer across tasks in words: the claims shown, then the family."""
    shown = [c for c in claims if c["shown"]]
    out = []
    for c in shown:
        ci = c["ci"]
        out.append(f"{c['statement']}: {c['estimate']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] "
                   f"({100 * c['ci_level']:.2f}% interval, Holm-adjusted p {c['p_adj']:.3g})"
                   if c["scale"] == "difference" else
                   f"{c['statement']}: {c['estimate']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] "
                   f"({100 * c['ci_level']:.2f}% interval, Holm-adjusted p {c['p_adj']:.3g})")
    if not shown:
        out.append("No claim across tasks holds at the family's error rate: the tasks' pooled evidence does not "
                   "separate the methods or the factors' levels.")
    out.append(fam["line"])
    return out
