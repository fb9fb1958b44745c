"""Modules: the fused LayerNorm-GRU and the actor-critic built on it."""
from __future__ import annotations

import math
import os
import warnings
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pyrl import ops

_HALF_LOG_2PI = ops._HALF_LOG_2PI  # 0.5 * log(2 pi), as the fused act step's reference has it
# PYRL_FUSED_ACT=0 keeps acting on the eager path (to measure the fused step against it);
# read once, at import, so a run's workers all take one path
FUSED_ACT = os.environ.get("PYRL_FUSED_ACT", "1") != "0"


class LNGRU(nn.Module):
    """A GRU layer over sequences, with LayerNorm (Ba et al. 2016), RMSNorm (Zhang and
    Sennrich 2019) or no norm on its gate pre-activations.

    Parameters follow ``nn.GRUCell`` (``weight_ih [3H,I]``, ``weight_hh [3H,H]``,
    ``bias_ih [3H]``, ``bias_hh [3H]``, gate order r, z, n), plus the gains ``gamma_ih [3H]``
    and ``gamma_hh [3H]`` of either norm. ``norm`` is ``"layernorm"`` (the default),
    ``"rmsnorm"`` or ``"none"``; ``layer_norm=True/False`` is the older spelling of
    ``"layernorm"``/``"none"``. Without a norm it is exactly ``nn.GRUCell`` applied over
    time, and a GRUCell's ``state_dict`` loads into it.

    ``forward(x[T,B,I], h0[B,H] | None, reset[T,B] | None) -> (out[T,B,H], h_T[B,H])``;
    ``reset[t, b]`` zeroes the state entering step t (an episode starts there).
    """

    def __init__(self, input_size: int, hidden_size: int, layer_norm: Optional[bool] = None,
                 eps: float = 1e-5, norm: Optional[str] = None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"LNGRU: sizes must be positive, got input {input_size}, hidden {hidden_size}")
        if norm is None:
            norm = "none" if layer_norm is False else "layernorm"
        elif norm not in ops.NORMS:
            raise ValueError(f"LNGRU: norm must be one of {', '.join(map(repr, ops.NORMS))}, got {norm!r}")
        elif layer_norm is not None and layer_norm != (norm == "layernorm"):
            raise ValueError(f"LNGRU: layer_norm={layer_norm} contradicts norm={norm!r}; give norm alone")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.norm = norm
        self.eps = eps
        G = 3 * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(G))
        self.bias_hh = nn.Parameter(torch.empty(G))
        if norm != "none":
            self.gamma_ih = nn.Parameter(torch.empty(G))
            self.gamma_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("gamma_ih", None)
            self.register_parameter("gamma_hh", None)
        self.reset_parameters()

    @property
    def layer_norm(self) -> bool:
        """Whether the norm is LayerNorm (the older spelling of ``norm``)."""
        return self.norm == "layernorm"

    def reset_parameters(self) -> None:
        # nn.GRUCell's initialisation, and unit gains.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(p, -bound, bound)
        if self.norm != "none":
            nn.init.ones_(self.gamma_ih)
            nn.init.ones_(self.gamma_hh)

    def _params(self):
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.gamma_ih, self.gamma_hh)

    def forward(self, x: Tensor, h0: Optional[Tensor] = None, reset: Optional[Tensor] = None):
        if x.dim() != 3:
            raise ValueError(f"LNGRU: x must be [T,B,I], got shape {tuple(x.shape)}")
        if h0 is None:
            h0 = x.new_zeros(x.shape[1], self.hidden_size)
        if ops.fused_available(x.device):
            return ops.lngru_sequence(x.contiguous(), h0.contiguous(), reset, *self._params(),
                                      eps=self.eps, norm=self.norm)
        # A device this build has no kernel for (e.g. CUDA in a CPU-only build): same maths, eager.
        return ops.lngru_sequence_reference(x, h0, reset, *self._params(), eps=self.eps, norm=self.norm)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: x[B,I], h[B,H] -> h'[B,H] (acting, one env step at a time)."""
        if ops.fused_available(x.device):
            return ops.lngru_cell(x.contiguous(), h.contiguous(), *self._params(), eps=self.eps, norm=self.norm)
        return ops.lngru_cell_reference(x, h, *self._params(), eps=self.eps, norm=self.norm)

    def extra_repr(self) -> str:
        eps = f", eps={self.eps}" if self.eps != 1e-5 else ""
        return f"{self.input_size}, {self.hidden_size}, norm={self.norm!r}{eps}"


class RunningBatchNorm(nn.Module):
    """BatchNorm of features for on-policy, asynchronous RL: ``(x - mean) / sqrt(var + eps) *
    weight + bias`` with ``mean``/``var`` running averages of rollout batches, never the
    statistics of the batch at hand.

    Why: a worker acts on N envs at a time and learns on T x N samples. Normalising each with
    its own batch would act with one function and differentiate another (the act/learn
    mismatch that collapses PPO with BatchNorm), and make an env's action depend on the other
    envs in its batch. So acting and learning both use the running statistics as they stand
    when the rollout starts, and the training pass differentiates exactly the policy that
    acted. After the update the worker moves them toward the rollout's feature moments
    (``absorb``), which the training pass recorded (``batch_moments``): a cumulative average
    for the first 1/momentum batches, then an exponential one.

    Under A3C they are buffers of the one shared model, updated lock-free by every worker like
    its parameters (one model, one normalisation: per-worker statistics would make the workers
    act with different functions of the same parameters); under ``individual`` each learner's
    own. Workers read them into their local copy with the parameters."""

    def __init__(self, features: int, momentum: float = 0.01, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.register_buffer("batches", torch.zeros((), dtype=torch.float64))  # absorbed so far
        self.batch_moments: Optional[tuple[Tensor, Tensor]] = None

    def forward(self, x: Tensor, record: bool = False) -> Tensor:  # x [M,F]
        if record:  # the training pass: remember this batch's moments for absorb()
            xd = x.detach()
            self.batch_moments = (xd.mean(0), xd.var(0, unbiased=False))
        return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps) * self.weight + self.bias

    @torch.no_grad()
    def absorb(self, mean: Tensor, var: Tensor) -> None:
        """Move the running statistics toward one batch's moments (in place: shared under A3C)."""
        self.batches += 1
        w = max(self.momentum, 1.0 / float(self.batches))
        self.running_mean.lerp_(mean, w)
        self.running_var.lerp_(var, w)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, momentum={self.momentum}, eps={self.eps}"


class RunningObsNorm(nn.Module):
    """Observation normalisation as Stable-Baselines3's ``VecNormalize`` does it:
    ``clamp((x - mean) / sqrt(var + eps), -clip, clip)`` per feature, with ``mean`` and ``var``
    the moments of every observation absorbed so far (``count`` of them; a parallel merge, Chan
    et al. 1979, from SB3's start: mean 0, var 1, count 1e-4).

    As ``RunningBatchNorm``: acting and learning use the statistics as they stand when the rollout
    starts, so the training pass differentiates exactly the policy that acted; the training pass
    records the rollout's raw observation moments (``record``) and the worker merges them into
    the model it steps after the update (``absorb``). They are buffers of the model, so they are
    saved with it (an evaluation normalises as training did) and, under A3C, shared like its
    parameters: one model, one normalisation, merged lock-free by every worker (a merge that
    races another may lose one rollout's moments; what it writes is still a mean and a positive
    variance). Under ``individual`` each learner keeps its own."""

    def __init__(self, features: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("var", torch.ones(features))
        self.register_buffer("count", torch.full((), 1e-4, dtype=torch.float64))
        self.batch_moments: Optional[tuple[Tensor, Tensor, int]] = None

    def forward(self, x: Tensor, record: bool = False) -> Tensor:  # x [M,I] raw -> [M,I] normalised
        if record:  # the training pass: remember the raw observations' moments for absorb()
            xd = x.detach()
            self.batch_moments = (xd.mean(0), xd.var(0, unbiased=False), xd.shape[0])
        return self.normalise(x)

    def normalise(self, x: Tensor) -> Tensor:  # x [M,I] -> [M,I]
        """(x - mean) / sqrt(var + eps), clipped: batch_norm's inference kernel is that in one op
        (acting calls this once per env step, where each op costs microseconds)."""
        return F.batch_norm(x, self.mean, self.var, None, None, False, 0.0, self.eps).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def absorb(self, mean: Tensor, var: Tensor, n: int) -> None:
        """Merge the moments of ``n`` observations into the running ones (in place: shared under
        A3C). Reads a snapshot first, so a concurrent writer can only make this merge lost.
        Tensor ops only: on a GPU no update waits for a read of ``count``."""
        count, old_mean, old_var = self.count.clone(), self.mean.clone(), self.var.clone()  # [], [I], [I]
        total = count + n
        w_new, w_old = (n / total).to(old_mean.dtype), (count / total).to(old_mean.dtype)
        delta = mean - old_mean
        self.mean.copy_(old_mean + delta * w_new)
        self.var.copy_(old_var * w_old + var * w_new + delta.pow(2) * (w_old * w_new))
        self.count.copy_(total)

    def extra_repr(self) -> str:
        return f"{self.mean.numel()}, clip={self.clip}, eps={self.eps}"


# A count of parameter, buffer and submodule registrations in this process (a rebinding such as
# ``model.value_head = nn.Linear(...)`` is one): the fused act step's gathered arguments hold
# while it has not moved. Process-wide because torch offers these hooks only globally; any
# module built anywhere moves it too, which costs one re-gathering, never a wrong result.
_REGISTRATIONS = [0]


def _count_registration(module, name, value):
    _REGISTRATIONS[0] += 1


for _register in (nn.modules.module.register_module_parameter_registration_hook,
                  nn.modules.module.register_module_buffer_registration_hook,
                  nn.modules.module.register_module_module_registration_hook):
    _register(_count_registration)


def _global_forward_hooks() -> bool:
    """Whether forward hooks for every module are registered (torch keeps them module-level)."""
    m = nn.modules.module
    return bool(m._global_forward_hooks or m._global_forward_pre_hooks)


def _hooked(modules) -> bool:
    """Whether a forward hook would run on any of ``modules`` (their own, or global ones)."""
    if _global_forward_hooks():
        return True
    for m in modules:
        if m._forward_hooks or m._forward_pre_hooks:
            return True
    return False


class _FusedCache:
    """The fused act step's arguments for one model (None: refused), with what they assume:
    ``holds`` is False once any of it changed, and the model is looked at again."""

    __slots__ = ("args", "registrations", "modules", "hooked", "settings", "layers", "sizes")

    def __init__(self, model: "ActorCritic", refusal: Optional[str]):
        self.args = None if refusal is not None else model._gather_act_params()
        self.registrations = _REGISTRATIONS[0]
        self.modules = tuple(model._fused_modules())
        self.hooked = _hooked(self.modules)
        # plain attributes the arguments were read from: (holder's __dict__, name, value)
        holders = [model] + [m for m in self.modules if isinstance(m, (LNGRU, nn.LayerNorm, nn.RMSNorm,
                                                                       RunningBatchNorm))]
        self.settings = tuple((m.__dict__, k, m.__dict__[k]) for m in holders
                              for k in ("eps", "norm", "norm_kind", "rnn", "discrete", "separate_critic")
                              if k in m.__dict__)
        # the encoders' layer lists: Sequential.insert, pop and del edit them without a
        # registration hook
        self.layers = tuple((enc._modules, tuple(enc._modules.values())) for enc, _, _, _ in model._trunks())
        # attributes set on the instances (a method or forward of their own) grow their __dict__
        self.sizes = tuple((m.__dict__, len(m.__dict__)) for m in (model, *self.modules))

    def holds(self) -> bool:
        if self.registrations != _REGISTRATIONS[0] or _hooked(self.modules) != self.hooked:
            return False
        for d, k, v in self.settings:
            if d.get(k) is not v:
                return False
        for d, layers in self.layers:
            if tuple(d.values()) != layers:
                return False
        for d, size in self.sizes:
            if len(d) != size:
                return False
        return True


def _feature_norm(norm: str, hidden: int) -> nn.Module:
    """The normalisation after the encoder."""
    return {"none": nn.Identity, "layernorm": nn.LayerNorm, "rmsnorm": lambda h: nn.RMSNorm(h, eps=1e-5),
            "batchnorm": RunningBatchNorm}[norm](hidden)


class ActorCritic(nn.Module):
    """Encoder -> [norm] -> [GRU core] -> policy head, and the same again -> value head.

    The encoder is an MLP (two tanh layers) for vector observations and the Nature-DQN CNN
    for image observations ``[C,H,W]`` (uint8, scaled by 1/255). ``norm`` puts a normalisation
    after the encoder: ``layernorm`` or ``rmsnorm`` also normalise inside the GRU (the fused
    op's gains on both products); ``batchnorm`` (running statistics, ``RunningBatchNorm``)
    sits after the encoder only, and the core is then a plain GRU: per-step batch statistics
    inside a recurrence would need their own machinery (Cooijmans et al. 2017).

    ``separate_critic`` (the default of ``TrainConfig``) gives the value head its own encoder,
    norm and core (``critic_encoder``, ``critic_norm``, ``critic_core``), as SB3's MlpPolicy and
    RecurrentPPO's critic LSTM do; without it both heads read one trunk. The recurrent state is
    ``[N,S]``: S = H with one core, 2H with two (the actor's half first), 0 without a core.
    Discrete actions: a categorical policy; Box actions: a diagonal Gaussian with a learned,
    state-independent log std.

    ``obs_norm`` (vector observations) normalises the observations first, by their running
    moments (``RunningObsNorm``, as SB3's VecNormalize), for every head.
    """

    def __init__(self, obs_shape, action_space, hidden: int = 64, rnn: bool = False, norm: str = "none",
                 separate_critic: bool = False, obs_norm: bool = False):
        super().__init__()
        import gymnasium

        self.obs_shape = tuple(obs_shape)
        self.hidden = hidden
        self.rnn = rnn
        self.norm_kind = norm
        self.image = len(self.obs_shape) == 3
        self.separate_critic = separate_critic
        if obs_norm and self.image:
            raise ValueError("obs_norm normalises vector observations; image observations are scaled by 1/255")
        self.obs_norm = RunningObsNorm(int(math.prod(self.obs_shape)) if self.obs_shape else 1) if obs_norm else None
        self.encoder, self.norm, self.core = self._make_trunk()
        if separate_critic:
            self.critic_encoder, self.critic_norm, self.critic_core = self._make_trunk()
        self.discrete = isinstance(action_space, gymnasium.spaces.Discrete)
        if self.discrete:
            self.policy = nn.Linear(hidden, int(action_space.n))
        elif isinstance(action_space, gymnasium.spaces.Box):
            act_dim = int(math.prod(action_space.shape))
            self.policy = nn.Linear(hidden, act_dim)
            self.log_std = nn.Parameter(torch.zeros(act_dim))
        else:
            raise ValueError(f"unsupported action space {action_space}")
        self.value_head = nn.Linear(hidden, 1)
        # small policy init (near-uniform start), unit value init: the usual A2C/PPO choice
        nn.init.orthogonal_(self.policy.weight, 0.01)
        nn.init.zeros_(self.policy.bias)
        nn.init.orthogonal_(self.value_head.weight, 1.0)
        nn.init.zeros_(self.value_head.bias)
        self._act_cache = None  # the fused act step's arguments, gathered once (_fused_args)

    def _make_trunk(self):
        """(encoder, norm, core or None) of one head."""
        hidden, norm = self.hidden, self.norm_kind
        if self.image:
            c, h, w = self.obs_shape
            conv = nn.Sequential(
                nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
            with torch.no_grad():
                flat = conv(torch.zeros(1, c, h, w)).shape[1]
            encoder = nn.Sequential(conv, nn.Linear(flat, hidden), nn.ReLU())
        else:
            in_dim = int(math.prod(self.obs_shape)) if self.obs_shape else 1
            encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, hidden), nn.Tanh(),
                                    nn.Linear(hidden, hidden), nn.Tanh())
        core_norm = norm if norm in ("layernorm", "rmsnorm") else "none"  # batchnorm: a plain GRU core
        core = LNGRU(hidden, hidden, norm=core_norm) if self.rnn else None
        return encoder, _feature_norm(norm, hidden), core

    def _trunks(self):
        """(encoder, norm, core, state slice) per trunk: the actor's, then the critic's if separate."""
        H = self.hidden if self.rnn else 0
        yield self.encoder, self.norm, self.core, slice(0, H)
        if self.separate_critic:
            yield self.critic_encoder, self.critic_norm, self.critic_core, slice(H, 2 * H)

    def initial_state(self, n: int) -> Tensor:
        """The state [N,S] of N fresh episodes, on the model's device."""
        size = (2 if self.separate_critic else 1) * self.hidden if self.rnn else 0
        return torch.zeros(n, size, device=self.value_head.weight.device)

    def _encode(self, encoder, norm, obs: Tensor, record: bool = False) -> Tensor:  # obs [M,...] -> [M,hidden]
        x = obs.float()
        if self.image:
            x = x / 255.0
        if isinstance(norm, RunningBatchNorm):
            return norm(encoder(x), record=record)
        return norm(encoder(x))

    def _normalise_obs(self, obs: Tensor, record: bool = False) -> Tensor:  # obs [M,...] -> [M,I] or as it was
        """The observations as the encoders read them: normalised by ``obs_norm`` where the model
        has one (flattened: the encoder's Flatten), else untouched."""
        if self.obs_norm is None:
            return obs
        x = obs.reshape(obs.shape[0], -1) if obs.dim() != 2 else obs  # [M,I] (the encoder's Flatten)
        x = x if x.dtype == self.obs_norm.mean.dtype else x.to(self.obs_norm.mean.dtype)
        return self.obs_norm(x, record=True) if record else self.obs_norm.normalise(x)

    def absorb_batch_statistics(self, source: "ActorCritic") -> None:
        """Move this model's running statistics (BatchNorm's, the observation normalisation's)
        toward the moments that ``source``'s last training pass recorded (the worker's local
        copy -> the model it steps). Nothing to do for a model without either."""
        if self.obs_norm is not None and source.obs_norm.batch_moments is not None:
            self.obs_norm.absorb(*source.obs_norm.batch_moments)
        for (_, norm, _, _), (_, src, _, _) in zip(self._trunks(), source._trunks()):
            if isinstance(norm, RunningBatchNorm) and src.batch_moments is not None:
                norm.absorb(*src.batch_moments)

    def _heads(self, feats: Tensor):
        """Policy parameters from features [M,hidden]: log-probabilities [M,A] (categorical) or
        (mean [M,A], log std [A]) (Gaussian). Plain tensor ops rather than torch.distributions:
        acting runs once per env step, and the distribution objects cost more than the net."""
        out = self.policy(feats)
        return torch.log_softmax(out, -1) if self.discrete else (out, self.log_std)

    def _logp_entropy(self, pd, actions: Tensor):
        """(log-prob [M], entropy [M]) of ``actions`` under the policy ``pd`` from ``_heads``."""
        if self.discrete:
            logp_all = pd                                                        # [M,A]
            logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            return logp, -(logp_all.exp() * logp_all).sum(-1)
        mean, log_std = pd
        z = (actions - mean) * torch.exp(-log_std)
        logp = (-0.5 * z.pow(2) - log_std - _HALF_LOG_2PI).sum(-1)
        entropy = (0.5 + _HALF_LOG_2PI + log_std).sum(-1).expand(mean.shape[:-1])
        return logp, entropy

    def step(self, obs: Tensor, state: Tensor, reset: Tensor):
        """Acting: obs [N,...], state [N,S], reset [N] (zero the state first where set) ->
        (policy features [N,hidden], value features [N,hidden], new state [N,S])."""
        if self.core is not None:
            # a select, not state * keep: a non-finite state that a reset discards must not leak (inf * 0)
            state = state.masked_fill(reset.unsqueeze(-1), 0.0)
        obs = self._normalise_obs(obs)
        feats, halves = [], []
        for encoder, norm, core, part in self._trunks():
            x = self._encode(encoder, norm, obs)
            if core is not None:
                x = core.step(x, state[:, part])
                halves.append(x)
            feats.append(x)
        new_state = state if not halves else halves[0] if len(halves) == 1 else torch.cat(halves, -1)
        return feats[0], feats[-1], new_state

    def act(self, obs: Tensor, state: Tensor, reset: Tensor, generator: Optional[torch.Generator] = None):
        """(action [N,...], value [N], logprob [N], new state [N,S]), all on the model's device;
        ``generator`` (on that device) draws the actions.

        Without autograd (under ``torch.no_grad``/``inference_mode``, as the rollout collects),
        vector observations on the CPU in float32 take the fused step (``pyrl.ops.act_step``,
        one call into pyrl._C) when the model is exactly the one that step computes
        (``_fused_refusal``); everything else the eager one. Both draw the same random numbers
        from ``generator`` in the same order, so they pick the same actions."""
        if self._fused_applies(obs) and (generator is None or generator.device.type == "cpu"):
            args = self._fused_args()
            if args is not None:
                return self._act_fused(args, obs, state, reset, generator)
        return self._act_eager(obs, state, reset, generator)

    def _fused_applies(self, obs: Tensor) -> bool:
        """Whether the fused step computes what the eager one would: no autograd to record,
        vector observations, CPU, float32."""
        w = self.value_head.weight
        return (FUSED_ACT and not torch.is_grad_enabled() and not self.image and obs.device.type == "cpu"
                and w.device.type == "cpu" and w.dtype == torch.float32)

    def _act_fused(self, args, obs: Tensor, state: Tensor, reset: Tensor, generator: Optional[torch.Generator],
                   draw: bool = True):
        """``act`` as one fused op on ``args`` (``_fused_args``): the same random draws as
        ``_act_eager``, then pyrl._C. ``draw=False`` (``value``): no draws, the generator
        untouched, the action meaningless."""
        trunks, heads, feature_norm, core_norm, feature_eps, core_eps = args
        x = obs.reshape(obs.shape[0], -1) if obs.dim() != 2 else obs  # [N,I] (the encoder's Flatten)
        if x.dtype != torch.float32:
            x = x.float()
        x = self._normalise_obs(x)  # obs_norm only: one batch_norm op and a clamp before the fused call
        shape = (x.shape[0], 1 if self.discrete else heads[0].shape[0])  # [N,1] | [N,A]
        if not draw:
            noise = torch.zeros(shape)
        elif self.discrete:
            noise = torch.rand(shape, generator=generator)  # u [N,1], as _act_eager draws it
        else:
            noise = torch.randn(shape, generator=generator)  # eps [N,A]
        return ops.act_step(x.contiguous(), state.contiguous(), reset, noise, trunks, heads,
                            feature_norm, core_norm, feature_eps, core_eps)

    def _fused_args(self):
        """The fused step's arguments (``_act_params``), or None where it would not compute this
        model (the reason is warned once per model). Checked on every call, cheaply: the
        arguments are gathered once and kept while no parameter, buffer or submodule anywhere
        has been registered or rebound since (a process-wide count, ``_REGISTRATIONS``), no
        forward hook has been added, and no eps or norm setting has been rebound."""
        cache = self.__dict__.get("_act_cache")  # absent in a model unpickled from before it existed
        if cache is None or not cache.holds():
            refusal = self._fused_refusal()
            cache = _FusedCache(self, refusal)
            self._act_cache = cache
            if refusal is not None and self.__dict__.get("_act_refused") != refusal:
                self._act_refused = refusal  # say it once per model and reason
                warnings.warn(f"pyrl: the fused act step does not recognise this model ({refusal}); "
                              f"it acts on the eager path", RuntimeWarning, stacklevel=3)
        return cache.args

    def _act_params(self):
        """(trunks, heads, feature norm, core norm, their eps) for ``ops.act_step``: the parameter
        and buffer tensors themselves. Training updates them in place (optimizer steps, the
        worker's copy_, load_state_dict, BatchNorm's absorb), so the tuple stays current while
        ``_fused_args`` keeps it. Raises where the model is not one the fused step computes."""
        refusal = self._fused_refusal()
        if refusal is not None:
            raise ValueError(f"act_step: the fused act step does not compute this model: {refusal}")
        return self._gather_act_params()

    def _gather_act_params(self):
        """``_act_params`` of a model ``_fused_refusal`` has accepted."""
        trunks = []
        for encoder, norm, core, _ in self._trunks():
            lin1, lin2 = encoder[1], encoder[3]
            if isinstance(norm, RunningBatchNorm):
                feat = dict(norm_weight=norm.weight, norm_bias=norm.bias, running_mean=norm.running_mean,
                            running_var=norm.running_var)
            elif isinstance(norm, nn.LayerNorm):
                feat = dict(norm_weight=norm.weight, norm_bias=norm.bias)
            elif isinstance(norm, nn.RMSNorm):
                feat = dict(norm_weight=norm.weight)
            else:
                feat = {}
            gru = {} if core is None else dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "gamma_ih",
                                                    "gamma_hh"), core._params()))
            trunks.append(ops.ActTrunk(weight1=lin1.weight, bias1=lin1.bias, weight2=lin2.weight, bias2=lin2.bias,
                                       **feat, **gru))
        heads = ops.ActHeads(policy_weight=self.policy.weight, policy_bias=self.policy.bias,
                             log_std=None if self.discrete else self.log_std,
                             value_weight=self.value_head.weight, value_bias=self.value_head.bias)
        feature_norm = self.norm_kind
        eps = getattr(self.norm, "eps", None)  # nn.RMSNorm's None means float32's machine epsilon
        feature_eps = float(eps) if eps is not None else torch.finfo(torch.float32).eps
        core_norm = "none" if self.core is None else self.core.norm
        core_eps = 1e-5 if self.core is None else float(self.core.eps)
        return tuple(trunks), heads, feature_norm, core_norm, feature_eps, core_eps

    def _fused_modules(self):
        """The modules acting computes through: each trunk's encoder, its layers, norm and core,
        and the two heads."""
        for encoder, norm, core, _ in self._trunks():
            yield encoder
            yield from encoder
            yield norm
            if core is not None:
                yield core
        yield self.policy
        yield self.value_head

    def _fused_refusal(self) -> Optional[str]:
        """Why the fused step would not compute what ``_act_eager`` computes on this model, or
        None: the fused step reads the layers by position and their parameters by name, so the
        model must be exactly ActorCritic's own layout (module types exactly, so no subclass and
        no parametrization, which swaps a module's class), with no forward hooks and no
        overridden acting method."""
        cls = type(self)
        for name in ("step", "_encode", "_heads", "_logp_entropy", "_act_eager", "_trunks", "value"):
            if getattr(cls, name) is not getattr(ActorCritic, name):
                return f"{cls.__name__} overrides ActorCritic.{name}"
            if name in self.__dict__:
                return f"the model's own {name} (set on the instance)"
        for m in self._fused_modules():
            if "forward" in m.__dict__:
                return f"a {type(m).__name__} with its own forward (set on the instance)"
        want_norm = {"none": nn.Identity, "layernorm": nn.LayerNorm, "rmsnorm": nn.RMSNorm,
                     "batchnorm": RunningBatchNorm}.get(self.norm_kind)
        want_core = self.norm_kind if self.norm_kind in ("layernorm", "rmsnorm") else "none"
        layers = (nn.Flatten, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh)
        H = self.hidden
        for encoder, norm, core, _ in self._trunks():
            got = tuple(type(m) for m in encoder) if type(encoder) is nn.Sequential else (type(encoder),)
            if got != layers:
                return (f"an encoder of {', '.join(t.__name__ for t in got)}; the fused step computes "
                        f"{', '.join(t.__name__ for t in layers)}")
            flatten, lin1, _, lin2, _ = encoder
            if (flatten.start_dim, flatten.end_dim) != (1, -1):
                return "an encoder whose Flatten is not over all but the first dimension"
            if lin1.bias is None or lin2.bias is None or lin1.out_features != H or lin2.in_features != H \
                    or lin2.out_features != H:
                return f"an encoder that is not Linear(I, {H}), Linear({H}, {H}), both with bias"
            if type(norm) is not want_norm:
                return f"a feature norm of type {type(norm).__name__} where norm={self.norm_kind!r}"
            if isinstance(norm, nn.LayerNorm) and (norm.weight is None or norm.bias is None
                                                   or tuple(norm.normalized_shape) != (H,)):
                return "a LayerNorm without its affine weight and bias over the hidden features"
            if isinstance(norm, nn.RMSNorm) and (norm.weight is None or tuple(norm.normalized_shape) != (H,)):
                return "an RMSNorm without its weight over the hidden features"
            if (core is None) == self.rnn:
                return f"a core that {'is missing' if self.rnn else 'is there'} where rnn={self.rnn}"
            if core is not None and (type(core) is not LNGRU or core.norm != want_core
                                     or core.input_size != H or core.hidden_size != H):
                return f"a core that is not LNGRU({H}, {H}, norm={want_core!r})"
        for head in (self.policy, self.value_head):
            if type(head) is not nn.Linear or head.bias is None:
                return "a head that is not an nn.Linear with bias"
        # the fused step takes one eps per norm kind, the actor's: a critic with other eps is another model
        (_, norm, core, _), *critic = self._trunks()
        for _, c_norm, c_core, _ in critic:
            if getattr(c_norm, "eps", None) != getattr(norm, "eps", None) or \
                    (core is not None and c_core.eps != core.eps):
                return "a critic whose norm eps differs from the actor's"
        if _global_forward_hooks():
            return "global forward hooks"
        if _hooked(self._fused_modules()):
            return "a forward hook on one of its layers"
        return None

    def _apply(self, fn, *args, **kwargs):
        self._act_cache = None  # .to(), .double(), share_memory() may replace the tensors
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        self._act_cache = None  # assign=True replaces the tensors
        return super().load_state_dict(*args, **kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_act_cache"] = None  # a pickled or deep-copied model gathers its own tensors
        return state

    def _act_eager(self, obs: Tensor, state: Tensor, reset: Tensor, generator: Optional[torch.Generator] = None):
        """``act`` op by op (images, CUDA, autograd)."""
        feats, vfeats, state = self.step(obs, state, reset)
        pd = self._heads(feats)
        if self.discrete:
            # inverse-CDF sampling: a third of torch.multinomial's cost at these sizes
            cdf = pd.exp().cumsum(-1)                                                    # [N,A]
            # u scaled by the float total (not quite 1), so a last action of probability 0
            # cannot be drawn by a u beyond it
            u = torch.rand(pd.shape[0], 1, generator=generator, device=pd.device) * cdf[:, -1:]  # [N,1]
            action = torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=pd.shape[-1] - 1)
        else:
            mean, log_std = pd
            action = mean + log_std.exp() * torch.randn(mean.shape, generator=generator, device=mean.device)
        logp, _ = self._logp_entropy(pd, action)
        return action, self.value_head(vfeats).squeeze(-1), logp, state

    def value(self, obs: Tensor, state: Tensor, reset: Tensor) -> Tensor:
        """The value [N] of obs [N,...] from state [N,S] (reset [N] applied first); the state is
        not advanced (a rollout's bootstrap). Fused where ``act`` would be."""
        if self._fused_applies(obs):
            args = self._fused_args()
            if args is not None:
                return self._act_fused(args, obs, state, reset, None, draw=False)[1]
        _, vfeats, _ = self.step(obs, state, reset)
        return self.value_head(vfeats).squeeze(-1)

    def evaluate(self, obs: Tensor, state0: Tensor, reset: Tensor, actions: Tensor):
        """Training: the rollout again, with gradients. obs [T,N,...], state0 [N,S] (the state
        before step 0), reset [T,N], actions [T,N,...] -> logprob, entropy, value, all [T,N].
        Each recurrent core runs once over the sequence (the fused LN-GRU op)."""
        T, N = reset.shape
        flat = self._normalise_obs(obs.reshape(T * N, *obs.shape[2:]), record=True)
        feats = []
        for encoder, norm, core, part in self._trunks():
            x = self._encode(encoder, norm, flat, record=True)
            if core is not None:
                x, _ = core(x.view(T, N, -1), state0[:, part], reset)
                x = x.reshape(T * N, -1)
            feats.append(x)
        logp, ent = self._logp_entropy(self._heads(feats[0]), actions.reshape(T * N, *actions.shape[2:]))
        return logp.view(T, N), ent.view(T, N), self.value_head(feats[-1]).view(T, N)
