"""One cell of an ablation (configuration x method): its runs, learners, scores and summary.

Learners. In a run of a *shared* method (A3C) the W workers act with one model: the run is
one learner, and it diverged when that model did (all its workers count as diverged). In a
run of any other method each worker is its own learner. Divergence rates count learners,
with a Wilson interval (runs are independent; so are the separate learners of one run).

Divergence policies (how a diverged learner's workers are scored):

floor    (default) the lowest score of any learner in the whole analysis (ok learners and
         diverged learners' last scores alike, after score_range). A diverged learner is a
         failure of the method, so it scores at or below every observed outcome, the same
         floor for both methods. Replacing a learner's score with a value no higher than any
         other can only lower its cell's mean, median, IQM, worst and CVaR, so a method can
         never look better for diverging more (under ``last`` it can: a learner that
         diverged after learning keeps its good score; under ``exclude`` the survivors of a
         method that diverges often are a selected, flattering subset).
last     its own score: the mean return of its last episodes before it diverged; a diverged
         learner without a finished episode gets the floor (and is counted as such).
exclude  left out, only when asked; the cell says how many learners were left out.

Failed runs (crashes, kills) are not learning outcomes: counted and listed, not analysed.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyrl.stats.estimators import cluster_replicates, cv_refusal, cvar, iqm, percentile_ci, wilson_ci
from pyrl.stats.samples import Sample

POLICIES = ("floor", "last", "exclude")


@dataclass(frozen=True)
class Settings:
    """Everything a cell and the analysis need besides the samples."""

    factors: dict[str, list]
    treatment: str
    control: str
    n_boot: int
    seed: int
    alpha: float
    power: float
    min_n: int
    unit: str
    diverged: str
    shared: frozenset
    score_range: tuple[float, float] | None

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


def floor_score(groups: dict, score_range) -> float | None:
    """The lowest score (ok and diverged samples) in the analysis, or None without one."""
    scores = [s.score for runs in groups.values() for ss in runs.values() for s in ss
              if s.status != "failed" and s.score is not None]
    return min(scores) if scores else None


class Cell:
    """One (configuration, method) cell. ``runs`` maps seed -> that run's samples (sorted by
    worker). Attributes: ``run_scores`` (one array per analysed run, seed order), ``x`` (the
    pooled worker scores), ``run_means``, summary statistics and bootstrap replicates
    (``means``, ``cvs``; None without them), and ``doc``, the cell's JSON."""

    def __init__(self, cfg: tuple, method: str, runs: dict[int, list[Sample]], st: Settings,
                 floor: float | None):
        self.cfg, self.method, self.runs_in = cfg, method, runs
        self.failed = sorted(seed for seed, ss in runs.items() if any(s.status == "failed" for s in ss))
        live = {seed: ss for seed, ss in runs.items() if seed not in self.failed}
        self._count_learners(live, method in st.shared)
        self._score(live, method in st.shared, st.diverged, floor)
        if st.unit == "seed":
            self.run_scores = [np.array([r.mean()]) for r in self.run_scores]
        self._summarise(st)
        self.doc = self._doc(st)

    # ---- learners and their scores

    def _count_learners(self, live: dict[int, list[Sample]], shared: bool) -> None:
        div_runs = [seed for seed, ss in live.items() if any(s.status == "diverged" for s in ss)]
        self.n_diverged_runs, self.n_live_runs = len(div_runs), len(live)
        if shared:
            self.n_learners, self.n_diverged = len(live), len(div_runs)
        else:
            self.n_learners = sum(len(ss) for ss in live.values())
            self.n_diverged = sum(s.status == "diverged" for ss in live.values() for s in ss)

    def _score(self, live: dict[int, list[Sample]], shared: bool, policy: str, floor: float | None) -> None:
        self.n_excluded = self.n_floored = self.n_unscored = 0
        self.seeds, self.run_scores = [], []
        for seed, ss in sorted(live.items()):
            run_diverged = shared and any(s.status == "diverged" for s in ss)
            xs = [v for v in (self._one(s, run_diverged, policy, floor) for s in ss) if v is not None]
            if xs:
                self.seeds.append(seed)
                self.run_scores.append(np.array(xs, dtype=float))

    def _one(self, s: Sample, run_diverged: bool, policy: str, floor: float | None) -> float | None:
        if s.status == "ok" and not run_diverged:
            return s.score
        if policy == "exclude":
            self.n_excluded += 1
            return None
        value = s.score if policy == "last" and s.score is not None else floor
        self.n_floored += policy == "last" and s.score is None and floor is not None
        self.n_unscored += value is None
        return value

    # ---- summary and bootstrap

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
        self.means = self.cvs = None
        if self.n_runs >= 2 and st.n_boot > 0:
            key = "|".join(f"{c}={int(v) if isinstance(v, bool) else v}" for c, v in zip(st.factors, self.cfg))
            rng = np.random.default_rng([st.seed, zlib.crc32(f"{key}|{self.method}".encode())])
            self.means, self.cvs = cluster_replicates(self.run_scores, rng, st.n_boot, self.cv is not None)

    @property
    def run_std(self) -> float | None:
        """Standard deviation of the run means (the unit of inference)."""
        return float(self.run_means.std(ddof=1)) if self.n_runs >= 2 else None

    def _doc(self, st: Settings) -> dict[str, Any]:
        x, has = self.x, self.n > 0
        rate = self.n_diverged / self.n_learners if self.n_learners else None
        return {
            "config": st.config(self.cfg), "label": st.label(self.cfg), "method": self.method,
            "n": self.n, "n_runs": self.n_runs, "n_seeds": self.n_runs,
            "workers_per_run": sorted({len(r) for r in self.run_scores}),
            "mean": self.mean, "std": self.std, "cv": self.cv, "cv_note": self.cv_note,
            "worst": self.worst, "best": float(x.max()) if has else None,
            "median": float(np.median(x)) if has else None,
            "iqm": iqm(x) if has else None, "cvar10": cvar(x) if has else None,
            "mean_ci95": percentile_ci(self.means, st.alpha, self.n_runs),
            "cv_ci95": percentile_ci(self.cvs, st.alpha, self.n_runs),
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
