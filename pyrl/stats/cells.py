"""One cell of an ablation (configuration x method): its runs, learners, scores and summary.

Learners. In a run of a *shared* method (A3C) the W workers act with one model: the run is
one learner, and it diverged when that model did (all its workers count as diverged). In a
run of any other method each worker is its own learner. Divergence rates count learners,
with a Wilson interval (runs are independent; so are the separate learners of one run).

Divergence policies (how a diverged learner's workers are scored):

floor    (default) the environment's floor, fixed before any analysis (a uniformly random
         policy's mean return, measured once with fixed seeds and stored in sweep.json; for a
         scores CSV, --floor or a ``floor`` column), or the learner's own last score where
         that is lower. A diverged learner is a failure of the method; its score never rises
         by diverging, so a method's mean, worst and CVaR can never look better for diverging
         more, and no cell's numbers depend on which other cells are analysed. Without a
         floor the analysis falls back to ``last`` and says so.
last     its own score: the mean return of its last episodes before it diverged (a method
         that diverges late keeps its good scores); without one it is left out, counted.
exclude  left out, only when asked; the cell says how many learners were left out.

Dispersion across trained models (CV, IQR) is over the models that did not diverge, beside
the divergence rate; risk (CVaR, worst) carries the divergences (``pyrl.stats.models``).

Failed runs (crashes, kills) are not learning outcomes: counted and listed, not analysed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pyrl.stats.estimators import (MIN_RUNS_JACKKNIFE, cv_jackknife, cv_refusal, cvar, iqm, iqm_ci, mean_estimate,
                                   median_ci, wilson_ci)
from pyrl.stats.models import ModelCell, diverged_value
from pyrl.stats.samples import Sample, TrainedModel

POLICIES = ("floor", "last", "exclude")


@dataclass(frozen=True)
class Settings:
    """Everything a cell and the analysis need besides the samples."""

    factors: dict[str, list]
    treatment: str
    control: str
    alpha: float
    power: float
    min_n: int
    unit: str
    diverged: str
    shared: frozenset
    score_range: tuple[float, float] | None
    floor: float | None = None          # the fixed floor, in analysed units (after score_range)
    diverged_asked: str | None = None   # the policy asked for, when ``diverged`` fell back from it

    @property
    def names(self) -> list[str]:
        return list(self.factors)

    @property
    def baseline(self) -> tuple:
        return tuple(lv[0] for lv in self.factors.values())

    @property
    def pct_ci(self) -> str:
        return f"{100 * (1 - self.alpha):g}% CI"

    def config(self, cfg: tuple) -> dict[str, Any]:
        return dict(zip(self.factors, cfg))

    def label(self, cfg: tuple) -> str:
        from pyrl.stats.samples import config_label

        return config_label(self.config(cfg), self.config(self.baseline))

    # ---- the factorial's geometry

    def changed(self, name: str, level: Any) -> tuple:
        """The baseline configuration with one factor set to ``level``."""
        return tuple(level if f == name else b for f, b in zip(self.factors, self.baseline))

    def level_changes(self) -> list[tuple[str, Any]]:
        """(factor, level) for every non-baseline level of every factor."""
        return [(name, lv) for name, levels in self.factors.items() for lv in levels[1:]]

    def pairs(self) -> list[tuple]:
        """(A, level of A, B, level of B) for every two factors and non-baseline levels."""
        names = self.names
        return [(fa, la, fb, lb) for i, fa in enumerate(names) for fb in names[i + 1:]
                for la in self.factors[fa][1:] for lb in self.factors[fb][1:]]

    def corners(self, fa, la, fb, lb) -> dict[str, tuple]:
        """The four configurations of an interaction: base, only A changed, only B, both."""
        both = tuple(la if f == fa else lb if f == fb else b for f, b in zip(self.factors, self.baseline))
        return {"base": self.baseline, "a": self.changed(fa, la), "b": self.changed(fb, lb), "ab": both}


class Cell:
    """One (configuration, method) cell. ``runs`` maps seed -> that run's samples (sorted by
    worker). Attributes: ``run_scores`` (one array per analysed run, seed order), ``x`` (the
    pooled worker scores), ``run_means``, summary statistics, the estimates the claims use
    (``mean_est``: t on run means; ``logcv_est``, ``cv_est``: the cluster jackknife of the
    CV over runs, log and plain scale; None where they cannot be made), ``models`` (its
    trained models: ``pyrl.stats.models.ModelCell``), and ``doc``, the cell's JSON."""

    def __init__(self, cfg: tuple, method: str, runs: dict[int, list[Sample]], st: Settings,
                 models: dict[int, list[TrainedModel]]):
        self.cfg, self.method, self.runs_in = cfg, method, runs
        self.failed = sorted(seed for seed, ss in runs.items() if any(s.status == "failed" for s in ss))
        live = {seed: ss for seed, ss in runs.items() if seed not in self.failed}
        self._count_learners(live, method in st.shared)
        self._score(live, method in st.shared, st)
        if st.unit == "seed":
            self.run_scores = [np.array([r.mean()]) for r in self.run_scores]
        self._summarise(st)
        self.models = ModelCell(models, st.diverged, st.floor, st.alpha)
        self.doc = self._doc(st)
        self.doc["models"] = self.models.doc(st.alpha)

    @property
    def model_logcv_est(self):
        return self.models.logcv_est

    @property
    def model_cv_est(self):
        return self.models.cv_est

    # ---- learners and their scores

    def _count_learners(self, live: dict[int, list[Sample]], shared: bool) -> None:
        div_runs = [seed for seed, ss in live.items() if any(s.status == "diverged" for s in ss)]
        self.n_diverged_runs, self.n_live_runs = len(div_runs), len(live)
        if shared:
            self.n_learners, self.n_diverged = len(live), len(div_runs)
        else:
            self.n_learners = sum(len(ss) for ss in live.values())
            self.n_diverged = sum(s.status == "diverged" for ss in live.values() for s in ss)

    def _score(self, live: dict[int, list[Sample]], shared: bool, st: Settings) -> None:
        self.n_excluded = self.n_floored = self.n_unscored = 0
        self.seeds, self.run_scores = [], []
        for seed, ss in sorted(live.items()):
            run_diverged = shared and any(s.status == "diverged" for s in ss)
            xs = [v for v in (self._one(s, run_diverged, st) for s in ss) if v is not None]
            if xs:
                self.seeds.append(seed)
                self.run_scores.append(np.array(xs, dtype=float))

    def _one(self, s: Sample, run_diverged: bool, st: Settings) -> float | None:
        if s.status == "ok" and not run_diverged:
            return s.score
        if st.diverged == "exclude":
            self.n_excluded += 1
            return None
        value = diverged_value(s.score, st.diverged, st.floor)
        self.n_floored += st.diverged == "floor" and value is not None and value == st.floor
        self.n_unscored += value is None
        return value

    # ---- summary and the estimates

    def _summarise(self, st: Settings) -> None:
        self.n_runs = len(self.run_scores)
        self.x = np.concatenate(self.run_scores) if self.run_scores else np.empty(0)
        self.n = len(self.x)
        self.run_means = np.array([r.mean() for r in self.run_scores])
        self.mean = float(self.x.mean()) if self.n else None
        self.std = float(self.x.std(ddof=1)) if self.n >= 2 else None
        self.cv_note = cv_refusal(self.x) if self.n else "no scores"
        self.cv = None if self.cv_note else self.std / self.mean
        self.worst = float(self.x.min()) if self.n else None
        self.mean_est = mean_estimate(self.run_means)
        self.logcv_est = self.cv_est = None
        if self.cv is not None:
            self.logcv_est, self.cv_est = cv_jackknife(self.run_scores)

    @property
    def run_std(self) -> float | None:
        """Standard deviation of the run means (the unit of inference)."""
        return float(self.run_means.std(ddof=1)) if self.n_runs >= 2 else None

    def cv_ci_note(self) -> str | None:
        if self.cv is None:
            return self.cv_note
        if self.logcv_est is None:
            return (f"no interval: the CV's jackknife needs at least {MIN_RUNS_JACKKNIFE} runs"
                    if self.n_runs < MIN_RUNS_JACKKNIFE else
                    "no interval: leaving a run out makes the CV 0 or undefined (runs with equal scores)")
        return None

    def _doc(self, st: Settings) -> dict[str, Any]:
        x, has, rm = self.x, self.n > 0, self.run_means
        rate = self.n_diverged / self.n_learners if self.n_learners else None
        level = 1 - st.alpha
        med = median_ci(rm, st.alpha) if has else None
        return {
            "config": st.config(self.cfg), "label": st.label(self.cfg), "method": self.method,
            "n": self.n, "n_runs": self.n_runs, "n_seeds": self.n_runs,
            "workers_per_run": sorted({len(r) for r in self.run_scores}),
            "run_means": [float(v) for v in rm],
            "mean": self.mean, "std": self.std, "cv": self.cv, "cv_note": self.cv_note,
            "worst": self.worst, "best": float(x.max()) if has else None,
            "median": float(np.median(rm)) if has else None,
            "median_ci95": None if med is None else med[0], "median_ci_level": None if med is None else med[1],
            "iqm": iqm(rm) if has else None, "iqm_ci95": iqm_ci(rm, st.alpha) if has else None,
            "cvar10": cvar(x) if has else None,
            "mean_of_runs": float(rm.mean()) if has else None,  # the estimand of mean_ci95 and the claims
            "mean_ci95": None if self.mean_est is None else self.mean_est.ci(level),
            "cv_ci95": None if self.logcv_est is None else [float(np.exp(v)) for v in self.logcv_est.ci(level)],
            "cv_ci_note": self.cv_ci_note(),
            "n_learners": self.n_learners, "n_diverged": self.n_diverged,
            "n_diverged_runs": self.n_diverged_runs, "divergence_rate": rate,
            "divergence_rate_ci95": wilson_ci(self.n_diverged, self.n_learners, st.alpha),
            "n_failed": len(self.failed), "failed_seeds": self.failed,
            "n_excluded": self.n_excluded, "n_unscored": self.n_unscored, "n_floored": self.n_floored,
            "warning": self._warning(st),
        }

    def _warning(self, st: Settings) -> str | None:
        if self.n == 0:
            return "no scores to analyse in this cell"
        if self.n_runs < st.min_n:
            return f"n = {self.n_runs} < {st.min_n}: too few runs to support a claim"
        return None
