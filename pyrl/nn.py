"""Modules: the fused LayerNorm-GRU and the actor-critic built on it."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from pyrl import ops

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class LNGRU(nn.Module):
    """A GRU layer over sequences, with optional LayerNorm gains (Ba et al. 2016).

    Parameters follow ``nn.GRUCell`` (``weight_ih [3H,I]``, ``weight_hh [3H,H]``,
    ``bias_ih [3H]``, ``bias_hh [3H]``, gate order r, z, n), plus ``gamma_ih [3H]`` and
    ``gamma_hh [3H]`` when ``layer_norm``. Without LayerNorm it is exactly ``nn.GRUCell``
    applied over time, and a GRUCell's ``state_dict`` loads into it.

    ``forward(x[T,B,I], h0[B,H] | None, reset[T,B] | None) -> (out[T,B,H], h_T[B,H])``;
    ``reset[t, b]`` zeroes the state entering step t (an episode starts there).
    """

    def __init__(self, input_size: int, hidden_size: int, layer_norm: bool = True, eps: float = 1e-5):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"LNGRU: sizes must be positive, got input {input_size}, hidden {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.layer_norm = layer_norm
        self.eps = eps
        G = 3 * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(G))
        self.bias_hh = nn.Parameter(torch.empty(G))
        if layer_norm:
            self.gamma_ih = nn.Parameter(torch.empty(G))
            self.gamma_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("gamma_ih", None)
            self.register_parameter("gamma_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.GRUCell's initialisation, and unit gains.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            nn.init.uniform_(p, -bound, bound)
        if self.layer_norm:
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
            return ops.lngru_sequence(x.contiguous(), h0.contiguous(), reset, *self._params(), eps=self.eps)
        # A device this build has no kernel for (e.g. CUDA in a CPU-only build): same maths, eager.
        return ops.lngru_sequence_reference(x, h0, reset, *self._params(), eps=self.eps)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: x[B,I], h[B,H] -> h'[B,H] (acting, one env step at a time)."""
        if ops.fused_available(x.device):
            return ops.lngru_cell(x.contiguous(), h.contiguous(), *self._params(), eps=self.eps)
        return ops.lngru_cell_reference(x, h, *self._params(), eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, layer_norm={self.layer_norm}"


class ActorCritic(nn.Module):
    """Encoder -> [LayerNorm] -> [LN-GRU core] -> policy head and value head.

    The encoder is an MLP (two tanh layers) for vector observations and the Nature-DQN CNN
    for image observations ``[C,H,W]`` (uint8, scaled by 1/255). ``layer_norm`` puts a
    LayerNorm after the encoder and gains in the GRU: LayerNorm everywhere the model has it.
    Discrete actions: a categorical policy; Box actions: a diagonal Gaussian with a learned,
    state-independent log std. The recurrent state is ``[N,H]``; without a core it is empty.
    """

    def __init__(self, obs_shape, action_space, hidden: int = 64, rnn: bool = False, layer_norm: bool = False,
                 separate_critic: bool = False):
        super().__init__()
        import gymnasium

        self.obs_shape = tuple(obs_shape)
        self.hidden = hidden
        self.rnn = rnn
        self.layer_norm = layer_norm
        self.image = len(self.obs_shape) == 3
        self.encoder = self._make_encoder()
        self.norm = nn.LayerNorm(hidden) if layer_norm else nn.Identity()
        self.core = LNGRU(hidden, hidden, layer_norm=layer_norm) if rnn else None
        # a separate critic: the value head reads its own encoder, norm and core (SB3's
        # MlpPolicy; RecurrentPPO's enable_critic_lstm); the state is then [N,2H], actor first
        self.separate_critic = separate_critic
        if separate_critic:
            self.critic_encoder = self._make_encoder()
            self.critic_norm = nn.LayerNorm(hidden) if layer_norm else nn.Identity()
            self.critic_core = LNGRU(hidden, hidden, layer_norm=layer_norm) if rnn else None
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

    def _make_encoder(self) -> nn.Module:
        hidden = self.hidden
        if self.image:
            c, h, w = self.obs_shape
            conv = nn.Sequential(
                nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
            with torch.no_grad():
                flat = conv(torch.zeros(1, c, h, w)).shape[1]
            return nn.Sequential(conv, nn.Linear(flat, hidden), nn.ReLU())
        in_dim = int(math.prod(self.obs_shape)) if self.obs_shape else 1
        return nn.Sequential(nn.Flatten(), nn.Linear(in_dim, hidden), nn.Tanh(),
                             nn.Linear(hidden, hidden), nn.Tanh())

    def initial_state(self, n: int) -> Tensor:
        """The state [N,S] of N fresh episodes, on the model's device: S = H, or 2H with a
        separate critic (the actor's first), or 0 without a core."""
        size = (2 if self.separate_critic else 1) * self.hidden if self.rnn else 0
        return torch.zeros(n, size, device=self.value_head.weight.device)

    def _encode(self, obs: Tensor, critic: bool = False) -> Tensor:  # obs [M,...] -> [M,hidden]
        x = obs.float()
        if self.image:
            x = x / 255.0
        return self.critic_norm(self.critic_encoder(x)) if critic else self.norm(self.encoder(x))

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
        H = self.hidden
        keep = (~reset).unsqueeze(-1).to(state.dtype) if self.core is not None else None
        x = self._encode(obs)
        if self.core is not None:
            x = self.core.step(x, state[:, :H] * keep)
        if not self.separate_critic:
            return x, x, x if self.core is not None else state
        v = self._encode(obs, critic=True)
        if self.critic_core is None:
            return x, v, state
        v = self.critic_core.step(v, state[:, H:] * keep)
        return x, v, torch.cat([x, v], -1)

    def act(self, obs: Tensor, state: Tensor, reset: Tensor, generator: Optional[torch.Generator] = None):
        """(action [N,...], value [N], logprob [N], new state [N,S]), all on the model's device;
        ``generator`` (on that device) draws the actions."""
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
        _, vfeats, _ = self.step(obs, state, reset)
        return self.value_head(vfeats).squeeze(-1)

    def evaluate(self, obs: Tensor, state0: Tensor, reset: Tensor, actions: Tensor):
        """Training: the rollout again, with gradients. obs [T,N,...], state0 [N,S] (the state
        before step 0), reset [T,N], actions [T,N,...] -> logprob, entropy, value, all [T,N].
        The recurrent core runs once over the sequence (the fused LN-GRU op)."""
        T, N = reset.shape
        H = self.hidden
        flat = obs.reshape(T * N, *obs.shape[2:])
        x = self._encode(flat)
        if self.core is not None:
            x, _ = self.core(x.view(T, N, -1), state0[:, :H], reset)
            x = x.reshape(T * N, -1)
        v = x
        if self.separate_critic:
            v = self._encode(flat, critic=True)
            if self.critic_core is not None:
                v, _ = self.critic_core(v.view(T, N, -1), state0[:, H:], reset)
                v = v.reshape(T * N, -1)
        logp, ent = self._logp_entropy(self._heads(x), actions.reshape(T * N, *actions.shape[2:]))
        return logp.view(T, N), ent.view(T, N), self.value_head(v).view(T, N)
