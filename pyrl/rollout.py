"""The rollout store and the collection loop (the path every environment step takes).

Next-step autoreset (see ``pyrl.envs``): the step after an episode's end is a *reset step*;
it ignores the action, returns reward 0 and the next episode's first observation, and is no
learning sample. A rollout of T steps over N envs therefore carries two flags across
rollouts: ``prev_done`` (the previous rollout's last step ended an episode, so step 0 is a
reset step) and ``prev_reset_step`` (the previous rollout's last step was a reset step, so
step 0 starts a new episode and the recurrent state entering it is zeroed).

A trainer's loop::

    store = RolloutStore.for_env(env, T)
    stats = EpisodeStats(env.num_envs, worker=w)
    obs, _ = env.reset(); store.start(obs)
    while ...:
        collect(env, policy_fn, store, value_fn=value_fn)  # fills obs, actions, ..., values[T]
        episodes = stats.update(store.rewards, store.terminated, store.truncated)
        adv, ret, valid = store.advantages(gamma, lam)
        ... loss over valid steps, feeding store.reset to the recurrent core ...

Shapes: T time, N envs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from pyrl import ops

__all__ = ["RolloutStore", "collect", "EpisodeStats", "Episodes", "PolicyFn", "ValueFn"]

# policy_fn(obs [N,...], reset [N] bool) -> (actions [N,...], values [N], logprobs [N]), called
# under torch.no_grad(). obs, reset and the actions are CPU tensors (the env's side); values
# and logprobs may be on the store's device. reset[n] means: zero env n's recurrent state
# before this step. The policy keeps its own recurrent state.
PolicyFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
# value_fn(obs [N,...], reset [N] bool) -> values [N]: the value of the observation after the
# rollout, WITHOUT advancing the policy's recurrent state (it bootstraps values[T]).
ValueFn = Callable[[Tensor, Tensor], Tensor]


def _torch_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype


class RolloutStore:
    """Preallocated tensors of one rollout of T steps over N envs.

    obs [T+1,N,...] (obs[T] is the observation after the rollout), actions [T,N,...],
    rewards [T,N] float32, terminated/truncated [T,N] bool, values [T+1,N] float32 (values[T]
    bootstraps), logprobs [T,N] float32, reset_step [T,N] bool (step t is a reset step: not
    valid), reset [T,N] bool (the mask for the recurrent core: zero the state entering step t),
    and the flags carried in: prev_done [N], prev_reset_step [N]. After ``advantages``:
    advantages, returns [T,N] float32 and valid [T,N] bool.
    """

    def __init__(self, T: int, N: int, obs_shape: Sequence[int], obs_dtype=torch.float32,
                 action_shape: Sequence[int] = (), action_dtype=torch.int64,
                 device: torch.device | str = "cpu"):
        if int(T) < 1 or int(N) < 1:
            raise ValueError(f"RolloutStore needs T >= 1 and N >= 1, got T={T}, N={N}")
        self.T, self.N = int(T), int(N)
        self.device = torch.device(device)
        kw = dict(device=self.device)
        f32, b = torch.float32, torch.bool
        self.obs = torch.zeros((T + 1, N, *obs_shape), dtype=_torch_dtype(obs_dtype), **kw)
        self.actions = torch.zeros((T, N, *action_shape), dtype=_torch_dtype(action_dtype), **kw)
        self.rewards = torch.zeros((T, N), dtype=f32, **kw)
        self.terminated = torch.zeros((T, N), dtype=b, **kw)
        self.truncated = torch.zeros((T, N), dtype=b, **kw)
        self.values = torch.zeros((T + 1, N), dtype=f32, **kw)
        self.logprobs = torch.zeros((T, N), dtype=f32, **kw)
        self.reset_step = torch.zeros((T, N), dtype=b, **kw)
        self.reset = torch.zeros((T, N), dtype=b, **kw)
        self.advantages_ = torch.zeros((T, N), dtype=f32, **kw)
        self.returns = torch.zeros((T, N), dtype=f32, **kw)
        self.valid = torch.zeros((T, N), dtype=b, **kw)
        # Carried across rollouts; kept on the CPU (the C++ ops read them).
        self.prev_done = torch.zeros(N, dtype=b)
        self.prev_reset_step = torch.ones(N, dtype=b)
        self._started = False
        self._filled = False
        # Off the CPU the env's arrays land in CPU buffers first, copied over once per rollout
        # (a test sets it on a CPU store to run that path where there is no GPU).
        self.staged = self.device.type != "cpu"
        self._staging: Optional[_Staging] = None  # made by the first collect

    @classmethod
    def for_env(cls, env, T: int, device: torch.device | str = "cpu") -> "RolloutStore":
        """A store shaped for ``env`` (a ``pyrl.envs.VecEnv``): its one-env spaces."""
        obs_space, act_space = env.observation_space, env.action_space
        return cls(T, env.num_envs, obs_space.shape, obs_space.dtype,
                   act_space.shape or (), act_space.dtype, device)

    def start(self, obs: np.ndarray | Tensor) -> None:
        """Begins from freshly reset envs: obs [N,...] from ``env.reset()``."""
        self.obs[0].copy_(torch.as_tensor(obs))
        self.prev_done.zero_()
        self.prev_reset_step.fill_(True)  # step 0 begins an episode: zero state entering it
        self._started = True
        self._filled = False

    def _roll(self) -> None:
        """Makes the last rollout's end the next one's beginning."""
        self.obs[0].copy_(self.obs[self.T])
        self.prev_done.copy_((self.terminated[-1] | self.truncated[-1]).cpu())
        self.prev_reset_step.copy_(self.reset_step[-1].cpu())
        self._filled = False

    @property
    def next_reset(self) -> Tensor:
        """reset [N] for the step after the rollout (the one whose obs is obs[T])."""
        return self.reset_step[-1] if self._filled else self.prev_reset_step

    def advantages(self, gamma: float, lam: float, reward_scale: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
        """GAE under next-step autoreset (``pyrl.ops.gae``) over the filled rollout; values[T]
        must hold the bootstrap value. ``reward_scale`` multiplies the rewards the values learn
        (the stored rewards, and so the episode returns, stay raw). Returns (advantages,
        returns, valid) [T,N], also kept as ``advantages_``, ``returns``, ``valid``."""
        if not self._filled:
            raise RuntimeError("advantages() needs a collected rollout (call collect first)")
        rewards = self.rewards.cpu() if reward_scale == 1.0 else self.rewards.cpu() * reward_scale  # [T,N]
        adv, ret, valid = ops.gae(rewards, self.values.cpu(), self.terminated.cpu(),
                                  self.truncated.cpu(), self.prev_done, gamma, lam)
        self.advantages_.copy_(adv)
        self.returns.copy_(ret)
        self.valid.copy_(valid)
        return self.advantages_, self.returns, self.valid


class _Staging:
    """CPU buffers the loop writes into step by step, with per-step numpy and torch views made
    once (indexing a tensor costs about a microsecond; a list lookup does not)."""

    def __init__(self, store: RolloutStore):
        T, N = store.T, store.N
        # page-locked for a CUDA store: its host-to-device copies then run at full speed
        pin = store.device.type == "cuda"
        mk = (lambda t: torch.zeros_like(t, device="cpu", pin_memory=pin)) if store.staged else (lambda t: t)
        self.obs, self.rewards = mk(store.obs), mk(store.rewards)
        self.terminated, self.truncated = mk(store.terminated), mk(store.truncated)
        self.done = torch.zeros((T, N), dtype=torch.bool)
        self.obs_np = list(self.obs.numpy())            # T+1 views [N,...]
        self.obs_t = list(self.obs.unbind(0))           # T+1 views [N,...]
        self.rewards_np = list(self.rewards.numpy())
        self.terminated_np = list(self.terminated.numpy())
        self.truncated_np = list(self.truncated.numpy())
        self.done_np = list(self.done.numpy())
        self.done_t = list(self.done.unbind(0))


def _send_recv(env):
    """The env's step in two halves; an env with only ``step`` gets them emulated."""
    if hasattr(env, "send") and hasattr(env, "recv"):
        return env.send, env.recv
    pending = []
    return pending.append, lambda: env.step(pending.pop())


@torch.no_grad()
def collect(env, policy_fn: PolicyFn, store: RolloutStore,
            value_fn: Optional[ValueFn] = None) -> RolloutStore:
    """Steps ``env`` T times with ``policy_fn`` and fills ``store`` (see the module docstring).

    Per step the loop calls the policy and the env and copies the env's arrays into
    preallocated views; policy outputs are stacked once after the loop, so the policy must
    return tensors it does not mutate later. The masks come from ``pyrl.ops.rollout_masks``
    (C++); ``reset`` handed to the policy at step t equals ``store.reset[t]``, and the obs it
    gets is a view of ``store.obs[t]`` (valid until the next rollout), or for a store off the
    CPU, of the CPU buffer it is copied from. If ``value_fn`` is
    given, values[T] = value_fn(obs[T], next_reset).
    """
    if not store._started:
        raise RuntimeError("store.start(obs) must be called after env.reset() first")
    if store._filled:
        store._roll()
    st = store._staging
    if st is None:
        st = store._staging = _Staging(store)
    if st.obs is not store.obs:
        st.obs[0].copy_(store.obs[0])
    T = store.T
    obs_np, obs_t, done_np, done_t = st.obs_np, st.obs_t, st.done_np, st.done_t
    rew_np, term_np, trunc_np = st.rewards_np, st.terminated_np, st.truncated_np
    act_l: list = []
    val_l: list = []
    logp_l: list = []
    # reset[0] = prev_reset_step, reset[1] = prev_done, reset[t] = done[t-2]
    resets = [store.prev_reset_step.clone(), store.prev_done.clone()]
    send, recv = _send_recv(env)
    r = te = tr = None
    for t in range(T):
        action, value, logprob = policy_fn(obs_t[t], resets[t] if t < 2 else done_t[t - 2])
        send(action.numpy())
        # Bookkeeping of step t-1 while the env simulates step t: on a 2-core machine work
        # between recv and send costs several times its own time (envpool's threads wait
        # spinning), work between send and recv overlaps the simulation.
        act_l.append(action)
        val_l.append(value)
        logp_l.append(logprob)
        if t > 0:
            rew_np[t - 1][...] = r
            term_np[t - 1][...] = te
            trunc_np[t - 1][...] = tr
            np.logical_or(te, tr, out=done_np[t - 1])
        o, r, te, tr, _ = recv()
        obs_np[t + 1][...] = o  # the policy reads it next
    rew_np[T - 1][...] = r
    term_np[T - 1][...] = te
    trunc_np[T - 1][...] = tr
    np.logical_or(te, tr, out=done_np[T - 1])

    if st.obs is not store.obs:  # a store on another device: one copy per field
        for name in ("obs", "rewards", "terminated", "truncated"):
            getattr(store, name).copy_(getattr(st, name))
    if store.device.type == "cpu":
        torch.stack(act_l, out=store.actions)
    else:
        store.actions.copy_(torch.stack(act_l))
    store.values[:T].copy_(torch.stack(val_l))
    store.logprobs.copy_(torch.stack(logp_l))
    reset_step, reset = ops.rollout_masks(st.terminated, st.truncated, store.prev_done,
                                          store.prev_reset_step)
    store.reset_step.copy_(reset_step)
    store.reset.copy_(reset)
    store._filled = True
    if value_fn is not None:
        store.values[T].copy_(value_fn(obs_t[T], store.next_reset))
    return store


# ---- episode statistics -------------------------------------------------------------------

@dataclass
class Episodes:
    """Episodes completed in one chunk, in stream order: ``worker`` and, per episode (K),
    env index, step (per-env step index since ``EpisodeStats`` began), return, length."""
    worker: int
    env: Tensor      # [K] int64
    step: Tensor     # [K] int64
    returns: Tensor  # [K] float64
    lengths: Tensor  # [K] int64

    def __len__(self) -> int:
        return int(self.env.numel())

    def __iter__(self) -> Iterator[tuple[int, int, int, float, int]]:
        """(worker, env, step, return, length) per episode."""
        for e, s, r, l in zip(self.env.tolist(), self.step.tolist(), self.returns.tolist(),
                              self.lengths.tolist()):
            yield self.worker, e, s, r, l


class EpisodeStats:
    """Per-env running return (float64) and length (int64) across chunks, bookkept in C++
    exactly like ``gymnasium.wrappers.vector.RecordEpisodeStatistics`` under next-step
    autoreset (a reset step is not counted)."""

    def __init__(self, num_envs: int, worker: int = 0):
        self.num_envs, self.worker = int(num_envs), int(worker)
        self.prev_done = torch.zeros(self.num_envs, dtype=torch.bool)
        self.ep_return = torch.zeros(self.num_envs, dtype=torch.float64)
        self.ep_length = torch.zeros(self.num_envs, dtype=torch.int64)
        self.steps = 0  # per-env steps seen

    def reset(self) -> None:
        """After ``env.reset()``: every episode starts afresh."""
        self.prev_done.zero_()
        self.ep_return.zero_()
        self.ep_length.zero_()

    def update(self, rewards: Tensor, terminated: Tensor, truncated: Tensor) -> Episodes:
        """Feeds a [T,N] chunk; returns the episodes it completed."""
        env, step, ret, length = ops.episode_stats(
            rewards.cpu(), terminated.cpu(), truncated.cpu(), self.prev_done, self.ep_return,
            self.ep_length, self.steps)
        self.steps += int(rewards.shape[0])
        return Episodes(self.worker, env, step, ret, length)
