"""``pyrl bench learn``: sample efficiency and wall-clock time to a score, pyrl against
Stable-Baselines3 (and, on a POMDP, sb3-contrib's RecurrentPPO), over seeds.

The measure, the same for every method: a run's episodes in the order they ended; the run
reaches the threshold at the first episode after which the mean return of the last ``window``
(10) episodes, across all its envs and workers, is at least the threshold. Its steps to
threshold are the run's env steps at that episode, its seconds the wall-clock time from the
start of the run (making the envs and the model included) until the trainer saw it.

- SB3 (``sb3-a2c``, ``sb3-rppo``): the episodes are its ``Monitor`` episodes in the order its
  callback sees them (env index order within a step); the steps are ``num_timesteps`` then.
  A callback ends ``learn`` at the crossing.
- pyrl (``individual``: 1 worker; ``a3c``: W workers): the episodes of ``curve.csv``, ordered
  by (worker step, worker); a run's steps at an episode are W x the worker's own step count
  (the workers share the budget evenly, so W x s is the budget that has been spent when each
  worker is at step s). The run ends early through ``train(until=...)`` once the crossing is
  final, i.e. every worker has reported past it (no earlier episode can still arrive). Step
  counts are those of ``curve.csv``: the worker's steps at the end of the rollout in which
  the episode ended (at most T x N = 40 per worker later than the step itself).

On a task with a row (``pyrl.train.tasks``), pyrl's runs start from the row (as ``pyrl train
--env`` does), the threshold defaults to the row's reference score (RL Zoo's published
RecurrentPPO score), and each method's budget defaults to its own: pyrl's row budget,
RecurrentPPO's RL Zoo budget with RL Zoo's settings and number of envs for that task
(``RPPO_ZOO``). With ``--no-stop`` every run spends its budget, and ``final_score_median`` is
the score at the budget (the mean of the run's last 10 episodes).

Runs never reaching the threshold within ``--max-steps`` count as infinitely many steps: the
median and its CI stay defined while fewer than half the runs miss. The CI of the median is
the order-statistic (binomial, distribution-free) interval ``[x_(l), x_(n+1-l)]`` with the
largest l whose coverage is at least 95%; with n < 6 no such interval exists and the full
range is given with its coverage (n = 5: 93.75%). Runs alternate across methods seed by seed,
so the load of a shared machine hits all methods alike.
"""
from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import fields
from typing import Any, Callable, Optional

import numpy as np
import torch

from pyrl.benchmarks.rollout import _machine

WINDOW = 10
CI_LEVEL = 0.95
SB3_METHODS = ("sb3-a2c", "sb3-rppo")
PYRL_METHODS = ("individual", "a3c")
ALL_METHODS = SB3_METHODS + PYRL_METHODS
LABELS = {
    "sb3-a2c": "SB3 A2C (defaults)",
    "sb3-rppo": "sb3-contrib RecurrentPPO (RL Zoo)",
    "individual": "pyrl individual",
    "a3c": "pyrl a3c",
}

# RL Zoo's hyperparameters for RecurrentPPO (rl-baselines3-zoo, hyperparams/ppo_lstm.yml, the
# "Tuned" rows), per task: n_envs, budget, VecNormalize (obs and reward, with the task's gamma), the
# learning rate and clip range ("lin": decayed linearly to 0 over the run's budget), gSDE. The
# LunarLanderNoVel-v3 row is RL Zoo's LunarLanderNoVel-v2 (the same task on Box2D's v3 physics fixes).
_ZOO_POLICY = dict(lstm_hidden_size=64, net_arch=dict(pi=[64], vf=[64]), activation="relu", log_std_init=0.0)
RPPO_ZOO: dict[str, dict[str, Any]] = {
    "CartPoleNoVel-v1": dict(n_envs=8, n_timesteps=100_000, normalize=True, n_steps=32, batch_size=256,
                             gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, lr=1e-3, lr_schedule="lin",
                             clip_range=0.2, clip_schedule="lin", **_ZOO_POLICY),
    "PendulumNoVel-v1": dict(n_envs=4, n_timesteps=100_000, normalize=True, n_steps=1024, batch_size=128,
                             gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, lr=1e-3, lr_schedule="constant",
                             clip_range=0.2, clip_schedule="constant", use_sde=True, sde_sample_freq=4, **_ZOO_POLICY),
    "MountainCarContinuousNoVel-v0": dict(
        n_envs=8, n_timesteps=300_000, normalize=True, n_steps=1024, batch_size=256, gae_lambda=0.9, gamma=0.9999,
        n_epochs=10, ent_coef=0.00429, lr=7.77e-05, lr_schedule="constant", clip_range=0.1, clip_schedule="constant",
        max_grad_norm=5.0, vf_coef=0.19, use_sde=True, sde_sample_freq=8,
        **{**_ZOO_POLICY, "lstm_hidden_size": 32, "activation": "tanh"}),
    "LunarLanderNoVel-v3": dict(n_envs=32, n_timesteps=5_000_000, normalize=True, n_steps=512, batch_size=128,
                                gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01, lr=3e-4,
                                lr_schedule="constant", clip_range=0.2, clip_schedule="constant", **_ZOO_POLICY),
}
RPPO_ZOO_SOURCE = "rl-baselines3-zoo hyperparams/ppo_lstm.yml"


def budgets(env_id: str, methods, max_steps: Optional[int]) -> dict[str, int]:
    """Each method's budget of env steps: ``max_steps`` when given; else pyrl's from the task's row
    (``pyrl.train.tasks``; 300k without one), RecurrentPPO's from RL Zoo's row, SB3 A2C pyrl's."""
    from pyrl.train.tasks import task

    if max_steps is not None:
        return {m: int(max_steps) for m in methods}
    row = task(env_id)
    pyrl_steps = int(row.settings.get("steps", 300_000)) if row is not None else 300_000
    return {m: RPPO_ZOO[env_id]["n_timesteps"] if m == "sb3-rppo" and env_id in RPPO_ZOO else pyrl_steps
            for m in methods}


def default_threshold(env_id: str) -> float:
    """The task's reference score (its row's: RL Zoo's RecurrentPPO score where RL Zoo publishes
    one), else 475 (CartPole's)."""
    from pyrl.train.tasks import task

    row = task(env_id)
    return float(row.reference) if row is not None and row.reference is not None else 475.0


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def sb3_contrib_available() -> bool:
    try:
        import sb3_contrib  # noqa: F401
    except ImportError:
        return False
    return True


def is_pomdp(env_id: str) -> bool:
    from pyrl.envs import POMDP_ENVS

    return env_id in POMDP_ENVS


# ---- the measure -----------------------------------------------------------------------------

class Crossing:
    """Finds where a run's mean of the last ``window`` episodes first reaches ``threshold``,
    fed incrementally. ``add(episodes, final_step)``: episodes ``(step, key, return)`` whose
    step is at most ``final_step`` are final (none with a smaller step can still come); they
    are merged in (step, key) order, keeping arrival order among equals. ``steps`` (the step
    of the crossing episode times ``scale``) and ``seconds`` are set at the crossing; ``last``
    holds the last ``window`` final returns."""

    def __init__(self, threshold: float, window: int = WINDOW, scale: int = 1, t0: Optional[float] = None):
        self.threshold, self.window, self.scale = float(threshold), int(window), int(scale)
        self.t0 = time.perf_counter() if t0 is None else t0
        self.pending: list[tuple[int, int, float]] = []
        self.last: deque[float] = deque(maxlen=self.window)
        self.episodes = 0
        self.steps: Optional[int] = None
        self.seconds: Optional[float] = None

    @property
    def reached(self) -> bool:
        return self.steps is not None

    def add(self, episodes, final_step: float = math.inf) -> bool:
        """Feeds episodes; True once the threshold is reached (and final)."""
        self.pending.extend(episodes)
        ready = [e for e in self.pending if e[0] <= final_step]
        if ready:
            self.pending = [e for e in self.pending if e[0] > final_step]
            ready.sort(key=lambda e: (e[0], e[1]))  # stable: arrival order among equals
            for step, _key, ret in ready:
                self.episodes += 1
                self.last.append(float(ret))
                if (not self.reached and len(self.last) == self.window
                        and sum(self.last) / self.window >= self.threshold):
                    self.steps = int(step) * self.scale
                    self.seconds = time.perf_counter() - self.t0
        return self.reached

    @property
    def last_mean(self) -> Optional[float]:
        """Mean of the last ``window`` final returns (fewer at the start), None before any."""
        return sum(self.last) / len(self.last) if self.last else None


def steps_to_threshold(curve, workers: int, threshold: float, window: int = WINDOW) -> Optional[int]:
    """From a finished run's ``curve`` rows ``(worker, step, return)`` (as in curve.csv): the
    run's steps (W x worker step) at the crossing, or None if it never reached ``threshold``."""
    c = Crossing(threshold, window, scale=workers)
    c.add([(step, w, ret) for w, step, ret in curve])
    return c.steps


def median_ci(x, level: float = CI_LEVEL) -> tuple[float, list[float], float]:
    """(median, [lo, hi], coverage): the order-statistic CI of the median (see the module
    docstring). ``x`` may hold inf (never reached)."""
    from scipy.stats import binom

    a = np.sort(np.asarray(x, dtype=float))
    n = len(a)
    if n == 0:
        return math.nan, [math.nan, math.nan], 0.0
    med = float(np.median(a)) if np.isfinite(a).all() else _median_with_inf(a)
    best = 1
    for lo in range(1, n // 2 + 1):
        if 1 - 2 * binom.cdf(lo - 1, n, 0.5) >= level:
            best = lo
    coverage = float(1 - 2 * binom.cdf(best - 1, n, 0.5))
    return med, [float(a[best - 1]), float(a[n - best])], coverage


def _median_with_inf(a: np.ndarray) -> float:
    n = len(a)
    mid = a[(n - 1) // 2], a[n // 2]
    return math.inf if math.isinf(mid[1]) else float((mid[0] + mid[1]) / 2)


# ---- SB3 ---------------------------------------------------------------------------------------

def _gym_factory(env_id: str) -> Callable:
    """A Gymnasium env for SB3: ``env_id`` itself, or for a pyrl POMDP id the same filter of
    its base env's observation (the components pyrl's ``envs.make`` keeps)."""
    import gymnasium

    from pyrl.envs import POMDP_ENVS

    pomdp = POMDP_ENVS.get(env_id)
    if pomdp is None:
        return lambda: gymnasium.make(env_id)
    keep = list(pomdp.keep)

    class KeepObs(gymnasium.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            box = env.observation_space
            self.observation_space = gymnasium.spaces.Box(box.low[keep], box.high[keep], dtype=box.dtype)

        def observation(self, obs):
            return obs[keep]

    return lambda: KeepObs(gymnasium.make(pomdp.base))


def check_gym_env(env_id: str) -> None:
    """ValueError unless SB3 can make ``env_id`` with Gymnasium."""
    import gymnasium

    from pyrl.envs import POMDP_ENVS

    try:
        gymnasium.spec(POMDP_ENVS[env_id].base if env_id in POMDP_ENVS else env_id)
    except gymnasium.error.Error:
        raise ValueError(f"SB3 makes its envs with Gymnasium, which has no {env_id!r} (or pass --no-sb3)") from None


def _run_sb3(method: str, env_id: str, num_envs: int, seed: int, max_steps: int, threshold: float,
             stop_early: bool) -> dict[str, Any]:
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecNormalize

    if method == "sb3-rppo":
        from sb3_contrib import RecurrentPPO

    class Watch(BaseCallback):
        def __init__(self, crossing: Crossing):
            super().__init__()
            self.crossing = crossing

        def _on_step(self) -> bool:
            eps = [(self.num_timesteps, i, info["episode"]["r"])
                   for i, info in enumerate(self.locals["infos"]) if "episode" in info]
            return not (self.crossing.add(eps) and stop_early)

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        crossing = Crossing(threshold, t0=t0)
        if method == "sb3-a2c":
            env = make_vec_env(_gym_factory(env_id), n_envs=num_envs, seed=seed)
            model = A2C("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
        else:
            z = RPPO_ZOO[env_id]
            env = make_vec_env(_gym_factory(env_id), n_envs=z["n_envs"], seed=seed)  # RL Zoo's number of envs
            if z["normalize"]:
                env = VecNormalize(env, gamma=z["gamma"])  # Monitor sits below: its returns are raw
            lr, clip = z["lr"], z["clip_range"]
            model = RecurrentPPO(
                "MlpLstmPolicy", env, n_steps=z["n_steps"], batch_size=z["batch_size"],
                gae_lambda=z["gae_lambda"], gamma=z["gamma"], n_epochs=z["n_epochs"], ent_coef=z["ent_coef"],
                learning_rate=(lambda p: p * lr) if z["lr_schedule"] == "lin" else lr,
                clip_range=(lambda p: p * clip) if z["clip_schedule"] == "lin" else clip,
                max_grad_norm=z.get("max_grad_norm", 0.5), vf_coef=z.get("vf_coef", 0.5),
                use_sde=z.get("use_sde", False), sde_sample_freq=z.get("sde_sample_freq", -1),
                policy_kwargs=dict(ortho_init=False,
                                   activation_fn=torch.nn.ReLU if z["activation"] == "relu" else torch.nn.Tanh,
                                   lstm_hidden_size=z["lstm_hidden_size"], enable_critic_lstm=True,
                                   net_arch=z["net_arch"], log_std_init=z["log_std_init"]),
                seed=seed, device="cpu", verbose=0)
        model.set_logger(Logger(None, []))  # SB3's default logger makes a /tmp/SB3-* folder per run
        model.learn(total_timesteps=max_steps, callback=Watch(crossing))
        wall = time.perf_counter() - t0
        steps = int(model.num_timesteps)
        env.close()
    finally:
        torch.set_num_threads(prev)
    return {"steps_to_threshold": crossing.steps, "seconds_to_threshold": crossing.seconds,
            "steps": steps, "wall_s": wall, "sps": steps / wall, "status": "ok",
            "episodes": crossing.episodes, "last_mean": crossing.last_mean}


# ---- pyrl --------------------------------------------------------------------------------------

def pyrl_config(method: str, env_id: str, num_envs: Optional[int], workers: int, seed: int, max_steps: int,
                rnn: bool, overrides: dict[str, Any]):
    """The run's TrainConfig: the env's row of tuned settings (``pyrl.train.tasks``) where it has
    one, as ``pyrl train --env`` starts from it, under the benchmark's sizes and ``overrides``
    (``num_envs`` None: the row's envs per worker, else 8)."""
    from pyrl.train import tasks
    from pyrl.train.config import TrainConfig

    row = tasks.defaults(env_id, given=set(overrides) | {"steps"} | ({"envs_per_worker"} if num_envs else set()))
    cfg = TrainConfig(method=method, env=env_id, workers=1 if method == "individual" else workers,
                      envs_per_worker=num_envs or 8, steps=max_steps, seed=seed, rnn=rnn,
                      norm="layernorm" if rnn else "none",
                      eval_episodes=0)  # timed to the threshold: no evaluation after training
    for k, v in {**row, **overrides}.items():
        setattr(cfg, k, v)
    cfg.check()
    return cfg


def _run_pyrl(cfg, threshold: float, stop_early: bool) -> dict[str, Any]:
    from pyrl.train.run import train

    t0 = time.perf_counter()
    crossing = Crossing(threshold, scale=cfg.workers, t0=t0)
    seen = 0

    def until(curve, steps) -> bool:
        nonlocal seen
        new = [(step, w, ret) for w, step, ret in curve[seen:]]
        seen = len(curve)
        return crossing.add(new, final_step=min(steps)) and stop_early

    result = train(cfg, None, until=until)
    wall = time.perf_counter() - t0
    if result["status"] != "ok":
        raise RuntimeError(f"pyrl {cfg.method} seed {cfg.seed}: run ended {result['status']}: {result['error']}")
    crossing.add([], math.inf)  # the rest is final now (a crossing found only here is timed at the end)
    steps = int(result["steps"])
    if crossing.steps is not None and crossing.seconds is not None and crossing.seconds > wall:
        crossing.seconds = wall
    return {"steps_to_threshold": crossing.steps, "seconds_to_threshold": crossing.seconds,
            "steps": steps, "wall_s": wall, "sps": steps / wall, "status": result["status"],
            "episodes": crossing.episodes, "last_mean": crossing.last_mean}


# ---- the benchmark -----------------------------------------------------------------------------

def parse_overrides(items) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> TrainConfig fields, typed like the field; ValueError naming the
    mistake."""
    from pyrl.train.config import TrainConfig

    types = {f.name: f.type for f in fields(TrainConfig)}
    fixed = {"method", "env", "workers", "envs_per_worker", "steps", "seed", "extra"}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise ValueError(f"{item!r}: expected FIELD=VALUE with a TrainConfig field "
                             f"({', '.join(k for k in types if k not in fixed)})")
        if key in fixed:
            raise ValueError(f"{key} is set by the benchmark's own options")
        t = types[key]
        raw = raw.strip()
        try:
            if t in ("bool", bool):
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                val: Any = raw.lower() in ("true", "1")
            elif t in ("int", int):
                val = int(raw)
            elif t in ("float", float):
                val = float(raw)
            else:
                val = raw
        except ValueError:
            raise ValueError(f"{item!r}: {key} takes a {t}") from None
        out[key] = val
    return out


def default_methods(env_id: str, with_sb3: bool) -> tuple[str, ...]:
    m = (("sb3-a2c",) if with_sb3 else ()) + PYRL_METHODS
    if with_sb3 and is_pomdp(env_id) and env_id in RPPO_ZOO and sb3_contrib_available():
        m = ("sb3-a2c", "sb3-rppo") + PYRL_METHODS
    return m


def run(env_id: str = "CartPole-v1", threshold: Optional[float] = None, seeds: int = 5, seed_start: int = 0,
        max_steps: Optional[int] = None, methods: tuple[str, ...] = ("sb3-a2c", "individual", "a3c"),
        num_envs: Optional[int] = None, workers: int = 2, rnn: Optional[bool] = None,
        overrides: Optional[dict] = None, stop_early: bool = True,
        progress: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Every method on every seed, interleaved seed by seed; see the module docstring.
    ``threshold`` None: the task's reference score (``default_threshold``); ``max_steps`` None:
    each method's own budget (``budgets``); ``num_envs`` None: pyrl's from the task's row (else 8),
    SB3 A2C 8; RecurrentPPO always takes RL Zoo's."""
    overrides = dict(overrides or {})
    rnn = is_pomdp(env_id) if rnn is None else rnn
    threshold = default_threshold(env_id) if threshold is None else float(threshold)
    budget = budgets(env_id, methods, max_steps)
    pyrl_cfgs = {m: pyrl_config(m, env_id, num_envs, workers, 0, budget[m], rnn, overrides)
                 for m in methods if m in PYRL_METHODS}  # checks the settings before any run
    a2c_envs = num_envs or 8
    # untimed warm-ups: the first run of a process starts pyrl's fork server (~2 s of imports)
    # and pays SB3's lazy first-use costs; no timed run should carry them
    if pyrl_cfgs:
        from pyrl.train.run import train

        warm = pyrl_config("individual", env_id, num_envs, 1, 0, 10**6, rnn, overrides)
        warm.steps = warm.rollout * warm.envs_per_worker * 4
        train(warm, None)
    for m in methods:
        if m in SB3_METHODS:  # at least 256 steps per env, and a whole rollout of RL Zoo's RecurrentPPO
            z = RPPO_ZOO[env_id] if m == "sb3-rppo" else {"n_steps": 256, "n_envs": a2c_envs}
            _run_sb3(m, env_id, a2c_envs, 0, max(256, z["n_steps"]) * z["n_envs"], threshold, stop_early)
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for seed in range(seed_start, seed_start + seeds):
        for m in methods:
            if progress is not None:
                progress(f"seed {seed}: {LABELS[m]}")
            if m in SB3_METHODS:
                r = _run_sb3(m, env_id, a2c_envs, seed, budget[m], threshold, stop_early)
            else:
                cfg = pyrl_config(m, env_id, num_envs, workers, seed, budget[m], rnn, overrides)
                r = _run_pyrl(cfg, threshold, stop_early)
            r["seed"] = seed
            r["reached"] = r["steps_to_threshold"] is not None
            runs[m].append(r)
    rows = []
    for m in methods:
        rs = runs[m]
        st = [r["steps_to_threshold"] if r["reached"] else math.inf for r in rs]
        sec = [r["seconds_to_threshold"] if r["reached"] else math.inf for r in rs]
        med_s, ci_s, cov = median_ci(st)
        med_t, ci_t, _ = median_ci(sec)
        cfg = pyrl_cfgs.get(m)
        finals = [r["last_mean"] for r in rs if r["last_mean"] is not None]
        rows.append({
            "method": m, "label": LABELS[m], "lib": "sb3" if m in SB3_METHODS else "pyrl",
            "workers": cfg.workers if cfg is not None else 1,
            "envs_per_worker": cfg.envs_per_worker if cfg is not None else
            RPPO_ZOO[env_id]["n_envs"] if m == "sb3-rppo" else a2c_envs,
            "budget": budget[m],
            "config": _pyrl_config_summary(cfg) if cfg is not None else _sb3_summary(m, env_id),
            "runs": rs, "median_steps": med_s, "ci_steps": ci_s, "ci_coverage": cov,
            "median_seconds": med_t, "ci_seconds": ci_t,
            "never_reached": sum(not r["reached"] for r in rs) / len(rs),
            # the mean of the last 10 episodes where the run ended: the score at the budget with
            # --no-stop (with --stop, where it stopped)
            "final_score_median": statistics.median(finals) if finals else None,
            "sps_median": statistics.median(r["sps"] for r in rs)})
    by = {r["method"]: r for r in rows}
    comparisons = []
    pairs = [("individual", "sb3-a2c"), ("a3c", "sb3-a2c"), ("a3c", "individual"), ("a3c", "sb3-rppo"),
             ("individual", "sb3-rppo")]
    for a, b in pairs:
        if a in by and b in by:
            comparisons.append({"a": a, "b": b,
                                "steps_ratio": _ratio(by[a]["median_steps"], by[b]["median_steps"]),
                                "seconds_ratio": _ratio(by[a]["median_seconds"], by[b]["median_seconds"])})
    return {"bench": "learn", "machine": _machine(), "env_id": env_id, "threshold": threshold,
            "window": WINDOW, "seeds": list(range(seed_start, seed_start + seeds)),
            "max_steps": max(budget.values()), "budgets": budget,
            "envs_per_worker": num_envs, "rnn": rnn, "overrides": overrides, "stop_early": stop_early,
            "ci": {"kind": "order-statistic (binomial) CI of the median", "level": CI_LEVEL},
            "methods": rows, "comparisons": comparisons}


def _ratio(a: float, b: float) -> Optional[float]:
    """a / b, None when undefined (a median that is inf or nan, or b = 0)."""
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return None
    return a / b


def _pyrl_config_summary(cfg) -> dict[str, Any]:
    d = cfg.to_dict()
    for k in ("env", "steps", "seed", "extra", "score_episodes", "device"):
        d.pop(k, None)
    return d


def _sb3_summary(method: str, env_id: str) -> dict[str, Any]:
    if method == "sb3-a2c":
        return {"algo": "A2C", "policy": "MlpPolicy", "defaults": True}
    return {"algo": "RecurrentPPO", "policy": "MlpLstmPolicy", "source": RPPO_ZOO_SOURCE, **RPPO_ZOO[env_id]}


def render(result: dict[str, Any], console) -> None:
    from rich.table import Table

    t = Table(title=f"pyrl bench learn: {result['env_id']}, steps and seconds until the mean of the last "
                    f"{result['window']} episodes reaches {result['threshold']:g} "
                    f"({len(result['seeds'])} seeds)", title_justify="left")
    final = "score at the budget" if not result["stop_early"] else "score where it stopped"
    for col in ("method", "W x N", "budget", "steps to threshold (median)", "CI", "seconds (median)", "CI",
                "never reached", f"{final} (median)", "steps/s"):
        t.add_column(col, justify="left" if col == "method" else "right")

    def n(x, fmt):
        return "never" if isinstance(x, float) and math.isinf(x) else format(x, fmt)

    for row in result["methods"]:
        t.add_row(row["label"], f"{row['workers']} x {row['envs_per_worker']}", f"{row['budget']:,}",
                  n(row["median_steps"], ",.0f"), f"[{n(row['ci_steps'][0], ',.0f')}, {n(row['ci_steps'][1], ',.0f')}]",
                  n(row["median_seconds"], ".1f"),
                  f"[{n(row['ci_seconds'][0], '.1f')}, {n(row['ci_seconds'][1], '.1f')}]",
                  f"{row['never_reached']:.0%}",
                  "-" if row["final_score_median"] is None else f"{row['final_score_median']:.1f}",
                  f"{row['sps_median']:,.0f}")
    console.print(t)
    for c in result["comparisons"]:
        s = "-" if c["steps_ratio"] is None else f"{c['steps_ratio']:.2f}x"
        w = "-" if c["seconds_ratio"] is None else f"{c['seconds_ratio']:.2f}x"
        console.print(f"{LABELS[c['a']]} / {LABELS[c['b']]}: steps {s}, seconds {w}")
    m = result["machine"]
    cov = result["methods"][0]["ci_coverage"] if result["methods"] else 0
    console.print(f"{m['cores']} cores, {m['cpu']}, torch {m['torch']}; CI: {result['ci']['kind']}, "
                  f"coverage {cov:.1%}; runs interleaved seed by seed")
