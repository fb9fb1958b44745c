"""Convergence speed from learning curves: steps to a threshold and the normalised area under
the learning curve, one value per run (the unit of inference).

A run's learning curve (W workers, k = its ``score_episodes``). Worker w's curve c_w is the
mean return of its last k episodes at each of its episode ends, placed at *total* env steps t =
(that worker's env steps) x W: workers step at about the same rate, so this is the run's step
count when the episode ended. c_w holds its first value before its first episode ends and its
last value after its last one. A diverged learner's workers follow the divergence policy: under
``floor`` c_w drops to the environment's fixed floor (or its own last value where that is
lower) from the step it diverged at (``diverged_at`` x W, else its last episode); under
``last`` it keeps its last value; under ``exclude`` it is left out. The run's curve r(t) is the
mean of its workers' c_w: at the end of the budget it is the run's mean score as the statistics
see it. A worker without a finished episode has no curve and is left out (a diverged one under
floor: the floor throughout).

steps to threshold  the first episode end t (total env steps) at which r(t) >= threshold. A
                    run that never gets there within its budget is censored: counted as
                    never reaching it (``never``, with a Wilson CI of the share) and as +inf in
                    the cell's *median* over runs (inf when half the runs or more never
                    reach it). Medians, not means: a censored run has no finite value.
normalised AUC      (1 / budget) integral_0^budget r(t) dt / threshold: the curve's average
                    over the budget in units of the threshold (1 = at the threshold from the
                    first step on). Needs a positive threshold (use score_range otherwise).
threshold           by default 0.9 x the best cell's mean final score (the highest cell mean
                    in the analysis); ``threshold=`` sets it, in score units (after
                    score_range).
budget              the run's planned total env steps (its config "steps").

Intervals: the median steps by order statistics (distribution-free; censored runs need no
arithmetic; none below 5 runs); the AUC by Student's t over runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np


THRESHOLD_FRACTION = 0.9


@dataclass
class WorkerCurve:
    steps: np.ndarray            # the worker's own env steps at each episode end, ascending
    returns: np.ndarray          # the episodes' returns
    diverged: bool = False
    diverged_at: int | None = None  # the worker's env steps when its learner diverged


@dataclass
class RunCurve:
    """One run's curve data: ``config`` maps factor -> level, as in Sample."""

    config: Mapping[str, Any]
    method: str
    seed: int
    budget: int
    score_episodes: int
    workers: dict[int, WorkerCurve] = field(default_factory=dict)


def _worker_series(wc: WorkerCurve, k: int, n_workers: int, policy: str, floor: float | None,
                   budget: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(total steps, running mean) of one worker, divergence applied; None when left out."""
    if wc.diverged and policy == "exclude":
        return None
    if len(wc.returns) == 0:
        if wc.diverged and policy == "floor" and floor is not None:
            return np.array([0.0]), np.array([floor])
        return None
    c = np.cumsum(np.concatenate([[0.0], wc.returns]))
    j = np.arange(1, len(wc.returns) + 1)
    means = (c[j] - c[np.maximum(0, j - k)]) / np.minimum(j, k)
    times = np.asarray(wc.steps, dtype=float) * n_workers
    if wc.diverged and policy == "floor" and floor is not None:
        at = wc.diverged_at * n_workers if wc.diverged_at is not None else times[-1]
        keep = times < at
        # the floor, or the running mean's own last value where that is lower (as a score)
        drop = min(floor, means[keep][-1]) if keep.any() else floor
        times, means = np.append(times[keep], min(at, budget)), np.append(means[keep], drop)
    return times, means


def run_curve(rc: RunCurve, policy: str, floor: float | None, diverged_run: bool = False
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """The run's curve as (times, values): times t_0 = 0 < t_1 < ... (episode ends within the
    budget) and r on [t_i, t_{i+1}) (the last piece runs to the budget); None without a
    curve. ``diverged_run``: the run's one shared learner diverged (every worker did)."""
    n = len(rc.workers)
    series = []
    for wc in rc.workers.values():
        if diverged_run and not wc.diverged:
            wc = WorkerCurve(wc.steps, wc.returns, True, wc.diverged_at)
        s = _worker_series(wc, rc.score_episodes, n, policy, floor, rc.budget)
        if s is not None:
            series.append(s)
    if not series:
        return None
    events = np.unique(np.concatenate([[0.0]] + [t[t <= rc.budget] for t, _ in series]))
    values = np.zeros(len(events))
    for times, means in series:
        idx = np.searchsorted(times, events, side="right") - 1
        values += means[np.maximum(idx, 0)]
    return events, values / len(series)


def first_reach(events: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """The first event time after 0 with r >= threshold, inf when never."""
    hit = np.nonzero((values >= threshold) & (events > 0))[0]
    return float(events[hit[0]]) if len(hit) else math.inf


def auc_norm(events: np.ndarray, values: np.ndarray, budget: float, threshold: float) -> float | None:
    if threshold <= 0 or budget <= 0:
        return None
    widths = np.diff(np.append(events, budget))
    return float((values * widths).sum() / budget / threshold)


def run_metrics(curves: Sequence[RunCurve], policy: str, floor: float | None, threshold: float,
                shared: bool, diverged_seeds: set[int]) -> dict[int, tuple[float, float | None]]:
    """seed -> (steps to threshold, normalised AUC) for each run with a curve."""
    out = {}
    for rc in curves:
        rcurve = run_curve(rc, policy, floor, diverged_run=shared and rc.seed in diverged_seeds)
        if rcurve is None:
            continue
        events, values = rcurve
        out[rc.seed] = (first_reach(events, values, threshold), auc_norm(events, values, rc.budget, threshold))
    return out
