"""Vectorised environments: the one module that knows envpool and Gymnasium.

``make(env_id, num_envs, seed)`` returns a :class:`VecEnv` with the Gymnasium 5-tuple step API
``(obs, reward, terminated, truncated, info)``. It is backed by envpool for every id envpool
knows (Atari, MuJoCo, classic control, ...) and by ``gymnasium.make_vec`` for ids only
Gymnasium knows (including a user's own registered environments and ``"module:Env-v0"`` ids).
Both backends behave the same way:

- next-step autoreset: the step after the one that ended an episode resets that env, ignores
  its action and returns reward 0 and the first observation of the next episode; the step
  that ends an episode returns the episode's final observation;
- dtypes: observations in the observation space's dtype, rewards float32, flags bool;
- ``terminated`` and ``truncated`` are never both set. (An episode that terminates on its last
  allowed step is terminated on the Gymnasium backend; envpool reports it as truncated, its
  own convention, which pyrl cannot see past);
- ``observation_space`` and ``action_space`` are the spaces of ONE env (``[N, ...]`` batches).

``info`` is backend-specific; nothing in pyrl reads it.

Partially observable variants (for the recurrent ablation), selected by id like any other
environment (``--env CartPoleNoVel-v1``), on either backend:

- ``CartPoleNoVel-v1``: CartPole-v1 observing only cart position and pole angle (the two
  velocities are hidden, so a policy has to remember to infer them).
- ``PendulumNoVel-v1``: Pendulum-v1 without its angular velocity (cos and sin of the angle).
- ``LunarLanderNoVel-v3``: LunarLander-v3 without its linear and angular velocities (indices
  2, 3 and 5).
- ``MountainCarContinuousNoVel-v0``: MountainCarContinuous-v0 observing its position only.

The masks are RL Zoo's (``rl_zoo3.wrappers.MaskVelocityWrapper``), so scores compare with its
RecurrentPPO tables.
"""
from __future__ import annotations

import difflib
import functools
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["EnvError", "VecEnv", "make", "known_ids", "POMDP_ENVS"]


class EnvError(ValueError):
    """A user mistake in choosing or sizing an environment (unknown id, bad numbers)."""


@dataclass(frozen=True)
class _Pomdp:
    base: str                 # the fully observed id it filters
    keep: tuple[int, ...]     # observation components it keeps (last axis)
    doc: str


POMDP_ENVS: dict[str, _Pomdp] = {
    "CartPoleNoVel-v1": _Pomdp("CartPole-v1", (0, 2),
                               "CartPole-v1 with cart velocity and pole angular velocity hidden"),
    "PendulumNoVel-v1": _Pomdp("Pendulum-v1", (0, 1), "Pendulum-v1 with its angular velocity hidden"),
    "LunarLanderNoVel-v3": _Pomdp("LunarLander-v3", (0, 1, 4, 6, 7),
                                  "LunarLander-v3 with its linear and angular velocities hidden"),
    "MountainCarContinuousNoVel-v0": _Pomdp("MountainCarContinuous-v0", (0,),
                                            "MountainCarContinuous-v0 with its velocity hidden"),
}

BACKENDS = ("auto", "envpool", "gymnasium")
_SEED_LIMIT = 2**31  # envpool seeds are C++ ints


# gymnasium.spaces.Box warns when envpool hands it float64 bounds for a float32 space; the
# warning says nothing actionable and repeats for every env made.
_BOX_WARNING = r".*precision lowered by casting"


@functools.lru_cache(maxsize=None)
def _envpool_ids() -> frozenset[str]:
    try:
        import envpool
    except ImportError:  # envpool is Linux-only; Gymnasium still works
        return frozenset()
    return frozenset(envpool.list_all_envs())


def _gymnasium_ids() -> frozenset[str]:
    import gymnasium

    return frozenset(gymnasium.registry.keys())  # not cached: users register at run time


def known_ids() -> list[str]:
    """Every id ``make`` accepts (apart from ``"module:Env-v0"`` ids), sorted."""
    return sorted(_envpool_ids() | _gymnasium_ids() | set(POMDP_ENVS))


def check_obs_norm(env_id: str, obs_space: Any) -> None:
    """EnvError where ``env_id``'s observations are images: obs_norm normalises vectors."""
    if len(obs_space.shape) == 3:
        raise EnvError(f"obs_norm normalises vector observations; {env_id} has images {tuple(obs_space.shape)}")


def _check_int(value: Any, name: str, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise EnvError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value >= high):
        bound = f">= {low}" if high is None else f"in [{low}, {high})"
        raise EnvError(f"{name} must be {bound}, got {value}")
    return value


def _unknown(env_id: str, backend: str) -> EnvError:
    pool = {"envpool": _envpool_ids(), "gymnasium": _gymnasium_ids()}.get(backend)
    if pool is None:
        pool = _envpool_ids() | _gymnasium_ids()
    pool = set(pool) | set(POMDP_ENVS)
    close = difflib.get_close_matches(env_id, sorted(pool), n=6, cutoff=0.6)
    if not close:  # a case or separator slip ("cartpole") still deserves suggestions
        low = {i.lower(): i for i in pool}
        close = [low[i] for i in difflib.get_close_matches(env_id.lower(), sorted(low), n=6,
                                                           cutoff=0.5)]
    where = "" if backend == "auto" else f" for the {backend} backend"
    hint = (f"closest known ids: {', '.join(close)}" if close else
            "list them with `python -c 'import envpool; print(envpool.list_all_envs())'` "
            "or `gymnasium.pprint_registry()`")
    return EnvError(f"unknown environment id {env_id!r}{where}; {hint}")


class VecEnv:
    """N environments stepped together (next-step autoreset, float32 rewards, bool flags).

    Attributes: ``env_id``, ``num_envs``, ``backend`` ("envpool" | "gymnasium"),
    ``observation_space`` and ``action_space`` (one env's), ``seed``.
    """

    def __init__(self, env: Any, env_id: str, backend: str, num_envs: int, seed: int,
                 observation_space: Any, action_space: Any,
                 keep: Optional[Sequence[int]] = None):
        self._env = env
        self.env_id = env_id
        self.backend = backend
        self.num_envs = num_envs
        self.seed = seed
        self.observation_space = observation_space
        self.action_space = action_space
        self._keep = None if keep is None else np.asarray(keep, dtype=np.intp)
        self._seeded = False
        # The hot path: envpool already returns float32 rewards and bool flags, so a fully
        # observed envpool env steps with no Python frame of ours in between.
        self._pending: Optional[np.ndarray] = None
        # Box actions are clipped to the space's bounds (as gymnasium's ClipAction): a
        # Gaussian policy samples outside them, and not every env clips for itself.
        from gymnasium.spaces import Box

        self._clip = (action_space.low, action_space.high) if isinstance(action_space, Box) else None
        if backend == "envpool" and self._keep is None and self._clip is None:
            self.step = env.step  # type: ignore[method-assign]
            self.send = env.send  # type: ignore[method-assign]
            self.recv = env.recv  # type: ignore[method-assign]

    def reset(self) -> tuple[np.ndarray, dict]:
        """Resets every env; returns (obs [N, ...], info). The first reset uses ``seed``."""
        self._pending = None
        if self.backend == "gymnasium" and not self._seeded:
            obs, info = self._env.reset(seed=self.seed)
        else:
            obs, info = self._env.reset()
        self._seeded = True
        return self._observe(obs), info

    def step(self, actions: np.ndarray):
        """Steps every env with actions [N, ...] (numpy); returns
        (obs [N, ...], reward [N] float32, terminated [N] bool, truncated [N] bool, info)."""
        obs, reward, terminated, truncated, info = self._env.step(self._clipped(actions))
        if reward.dtype != np.float32:
            reward = reward.astype(np.float32)
        terminated = terminated.astype(bool, copy=False)
        truncated = truncated.astype(bool, copy=False)
        if self.backend == "gymnasium":
            # Gymnasium's TimeLimit sets both flags when an episode terminates on its last
            # allowed step; envpool never does. Keep them exclusive, the true end winning.
            truncated = truncated & ~terminated
        return self._observe(obs), reward, terminated, truncated, info

    def send(self, actions: np.ndarray) -> None:
        """``step`` in two halves: send starts the step (envpool simulates on its own threads
        meanwhile), ``recv`` returns what ``step`` would have. The collection loop does its
        bookkeeping in between."""
        if self.backend == "envpool":
            self._env.send(self._clipped(actions))
        else:
            if self._pending is not None:
                raise RuntimeError("send() twice without recv()")
            self._pending = actions

    def recv(self):
        """The result of the step begun by ``send``: the same 5-tuple as ``step``."""
        if self.backend == "envpool":
            obs, reward, terminated, truncated, info = self._env.recv()
            return self._observe(obs), reward, terminated, truncated, info
        if self._pending is None:
            raise RuntimeError("recv() without send()")
        actions, self._pending = self._pending, None
        return self.step(actions)

    def _clipped(self, actions: np.ndarray) -> np.ndarray:
        return actions if self._clip is None else np.clip(actions, *self._clip)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if self._keep is None:
            return obs
        return np.ascontiguousarray(obs[..., self._keep])  # [N, k]; torch views it as is

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> "VecEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VecEnv({self.env_id!r}, num_envs={self.num_envs}, backend={self.backend!r}, "
                f"obs={self.observation_space}, actions={self.action_space})")


def make(env_id: str, num_envs: int, seed: int = 0, *, num_threads: Optional[int] = None,
         max_episode_steps: Optional[int] = None, backend: str = "auto") -> VecEnv:
    """A vectorised environment of ``num_envs`` copies of ``env_id``, seeded with ``seed``.

    ``num_threads``: envpool's thread pool (default 1: W workers share the cores; 0 lets
    envpool pick). ``max_episode_steps`` overrides the time limit. ``backend``: "auto"
    (envpool when it knows the id, else Gymnasium), "envpool" or "gymnasium".
    Raises :class:`EnvError` for unknown ids (naming the closest known ones) and bad numbers.
    """
    if not isinstance(env_id, str) or not env_id.strip():
        raise EnvError(f"env_id must be a non-empty string, got {env_id!r}")
    num_envs = _check_int(num_envs, "num_envs", 1)
    seed = _check_int(seed, "seed", 0, _SEED_LIMIT)
    num_threads = 1 if num_threads is None else _check_int(num_threads, "num_threads", 0)
    if max_episode_steps is not None:
        max_episode_steps = _check_int(max_episode_steps, "max_episode_steps", 1)
    if backend not in BACKENDS:
        raise EnvError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")

    pomdp = POMDP_ENVS.get(env_id)
    base = pomdp.base if pomdp else env_id
    asked = backend
    if backend == "auto":
        backend = "envpool" if base in _envpool_ids() else "gymnasium"
    if backend == "envpool":
        if base not in _envpool_ids():
            raise _unknown(env_id, "envpool")
        env, obs_space, act_space = _make_envpool(base, num_envs, seed, num_threads,
                                                  max_episode_steps)
    else:
        if ":" not in base and base not in _gymnasium_ids():
            raise _unknown(env_id, asked)
        env, obs_space, act_space = _make_gymnasium(base, num_envs, max_episode_steps)
    keep = None
    if pomdp is not None:
        keep = pomdp.keep
        obs_space = _keep_box(obs_space, keep, env_id)
    return VecEnv(env, env_id, backend, num_envs, seed, obs_space, act_space, keep)


def _make_envpool(env_id: str, num_envs: int, seed: int, num_threads: int,
                  max_episode_steps: Optional[int]):
    import envpool

    kwargs: dict[str, Any] = dict(env_type="gymnasium", num_envs=num_envs, seed=seed,
                                  num_threads=min(num_threads, num_envs))
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BOX_WARNING)
        env = envpool.make(env_id, **kwargs)
        return env, env.observation_space, env.action_space  # built lazily: warns here


def _make_gymnasium(env_id: str, num_envs: int, max_episode_steps: Optional[int]):
    import gymnasium

    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    try:
        # "sync": one process, and the same next-step autoreset as envpool whatever the env
        # spec's own vector entry point would do.
        env = gymnasium.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP},
            **kwargs)
    except (gymnasium.error.NameNotFound, gymnasium.error.VersionNotFound,
            gymnasium.error.NamespaceNotFound, ModuleNotFoundError) as exc:
        raise EnvError(f"cannot make {env_id!r} with Gymnasium: {exc}") from exc
    return env, env.single_observation_space, env.single_action_space


def _keep_box(space: Any, keep: Sequence[int], env_id: str):
    from gymnasium.spaces import Box

    if not isinstance(space, Box) or len(space.shape) != 1:
        raise EnvError(f"{env_id}: the observation filter needs a 1-D Box, got {space}")
    idx = list(keep)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BOX_WARNING)
        return Box(low=space.low[idx], high=space.high[idx], dtype=space.dtype)
