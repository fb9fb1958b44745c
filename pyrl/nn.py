"""Modules: the fused LayerNorm-GRU (and, later, the actor-critic built on it)."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from pyrl import ops


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
