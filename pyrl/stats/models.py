"""The trained models of one cell: stability, dispersion and risk across training outcomes.

A training outcome is a trained model (``TrainedModel``): one per A3C run (its workers act with
one shared model) and one per independent learner. Worker-level spread mixes two things: an
A3C run's W workers are W episode-noise draws of one model, an individual run's are W models.
Across trained models, each scored by the same fixed-policy evaluation, the two methods are
measured alike (Chan et al. 2020: dispersion and risk *across runs*, kept apart from
dispersion *across rollouts* of one fixed policy).

Diverged models (the stated policy, ``pyrl.stats.cells``):

- dispersion (CV, IQR) is over the models that did not diverge, reported beside the
  divergence rate: a floored model's score is a convention, not a draw of the method's
  outcome, and a cell whose good learners diverge would otherwise look steadier as its
  scores pile up at the floor;
- risk (CVaR at 10%, worst) and the mean carry the divergences: a diverged model scores the
  environment's fixed floor, or its own last score where that is lower, so diverging never
  raises a model's score.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pyrl.stats.estimators import (MIN_RUNS_BOOTSTRAP, MIN_RUNS_JACKKNIFE, cluster_bootstrap_ci, cv_jackknife,
                                   cv_refusal, cvar, iqr)
from pyrl.stats.samples import TrainedModel


def diverged_value(score: float | None, policy: str, floor: float | None) -> float | None:
    """A diverged learner's score under ``policy``: floor -> the fixed floor, or its own last
    score where that is lower (so the value never exceeds what it had); last -> its own last
    score; exclude -> None (left out). None also when there is nothing to score it by."""
    if policy == "exclude":
        return None
    if policy == "last" or floor is None:
        return score
    return floor if score is None else min(floor, score)


class ModelCell:
    """The trained models of one (configuration, method) cell. ``runs`` maps seed -> that
    run's models. Attributes: ``all_runs`` (per analysed run, the scores of its models,
    diverged ones scored by the policy), ``live_runs`` (per run with one, the scores of its
    models that did not diverge), the summary figures and ``logcv_est``/``cv_est`` (the CV's
    cluster jackknife over runs, over live models), and ``doc(alpha)``, its JSON."""

    def __init__(self, runs: dict[int, list[TrainedModel]], policy: str, floor: float | None, alpha: float):
        live = {seed: ms for seed, ms in runs.items() if not any(m.status == "failed" for m in ms)}
        self.n_failed_runs = len(runs) - len(live)
        self.all_runs, self.live_runs, self.rollout_sd = [], [], []
        self.n_diverged = self.n_unscored = 0
        self.sources = sorted({m.source for ms in live.values() for m in ms})
        for _, ms in sorted(live.items()):
            values, alive = [], []
            for m in ms:
                if m.status == "diverged":
                    self.n_diverged += 1
                    v = diverged_value(m.score, policy, floor)
                    self.n_unscored += v is None and policy != "exclude"
                else:
                    v = m.score
                    alive.append(v)
                    if m.rollouts is not None and len(m.rollouts) >= 2:
                        self.rollout_sd.append(float(np.std(m.rollouts, ddof=1)))
                if v is not None:
                    values.append(v)
            if values:
                self.all_runs.append(np.array(values, dtype=float))
            if alive:
                self.live_runs.append(np.array(alive, dtype=float))
        self.n_models = sum(len(ms) for ms in live.values())
        self._summarise(alpha)

    def _summarise(self, alpha: float) -> None:
        x = np.concatenate(self.all_runs) if self.all_runs else np.empty(0)
        live = np.concatenate(self.live_runs) if self.live_runs else np.empty(0)
        self.x, self.live = x, live
        self.n_runs = len(self.all_runs)
        self.mean = float(x.mean()) if len(x) else None
        self.cv_note = cv_refusal(live) if len(live) else "no model that did not diverge"
        self.cv = None if self.cv_note else float(live.std(ddof=1) / live.mean())
        self.logcv_est = self.cv_est = None
        if self.cv is not None:
            self.logcv_est, self.cv_est = cv_jackknife(self.live_runs)
        level = 1 - alpha
        self.iqr = iqr(live) if len(live) >= 2 else None
        self.iqr_ci = cluster_bootstrap_ci(self.live_runs, "iqr", level) if self.iqr is not None else None
        # descriptive: a lower tail from a handful of models has no interval that covers (the
        # bootstrap's measured 13-74% at 5-10 runs; bench/README.md)
        self.cvar10 = cvar(x) if len(x) else None
        self.worst = float(x.min()) if len(x) else None

    def cv_ci_note(self) -> str | None:
        if self.cv is None:
            return self.cv_note
        if self.logcv_est is None:
            return (f"no interval: the CV's jackknife needs at least {MIN_RUNS_JACKKNIFE} runs with a model "
                    f"that did not diverge" if len(self.live_runs) < MIN_RUNS_JACKKNIFE else
                    "no interval: leaving a run out makes the CV 0 or undefined (models with equal scores)")
        return None

    def doc(self, alpha: float) -> dict[str, Any]:
        level = 1 - alpha
        boot = f"no interval: the bootstrap over runs needs at least {MIN_RUNS_BOOTSTRAP} runs"
        return {
            "n_models": self.n_models, "n_runs": self.n_runs, "n_diverged": self.n_diverged,
            "n_live": int(len(self.live)), "n_unscored": self.n_unscored, "n_failed_runs": self.n_failed_runs,
            "source": self.sources[0] if len(self.sources) == 1 else "mixed" if self.sources else None,
            "mean": self.mean,
            "cv": self.cv, "cv_note": self.cv_note,
            "cv_ci95": None if self.logcv_est is None else [float(np.exp(v)) for v in self.logcv_est.ci(level)],
            "cv_ci_note": self.cv_ci_note(),
            "iqr": self.iqr, "iqr_ci95": self.iqr_ci, "iqr_ci_note": None if self.iqr_ci is not None else boot,
            "cvar10": self.cvar10,
            "worst": self.worst,
            # dispersion across rollouts: within one model, across its evaluation episodes
            "rollout_sd": float(np.median(self.rollout_sd)) if self.rollout_sd else None,
            "n_rollout_models": len(self.rollout_sd),
        }
