"""Adam and RMSProp as functional steps over (params, grads) with explicit state tensors.

For A3C the state is allocated once in the parent and put in shared memory, so every worker
updates the same statistics lock-free (Hogwild). The gradients are passed in explicitly: a
worker never writes its gradients into the shared parameters' ``.grad`` (two workers would
mix their gradients there, and aliasing a local ``.grad`` as the global one is the known
pitfall of popular A3C code).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from pyrl import ops


class SharedOptimizer:
    def __init__(self, params, kind: str = "adam", lr: float = 7e-4, betas=(0.9, 0.999), alpha: float = 0.99,
                 eps: float = 1e-5, fused: Optional[bool] = None):
        """``fused``: step with the compiled op (True), the multi-tensor reference (False), or
        the compiled op wherever it applies (None: contiguous CPU float tensors)."""
        self.params = list(params)
        self.kind, self.lr, self.betas, self.alpha, self.eps = kind, lr, betas, alpha, eps
        self.step_count = torch.zeros(1, dtype=torch.float64)
        self.exp_avg = [torch.zeros_like(p) for p in self.params] if kind == "adam" else []
        self.sq_avg = [torch.zeros_like(p) for p in self.params]
        b1, b2 = betas
        # |m| <= m_bound * sqrt(v) holds for every serial Adam sequence (see ``step``); none
        # exists when b1^2 >= b2
        self.m_bound = (1 - b1) / math.sqrt((1 - b2) * (1 - b1**2 / b2)) if b1**2 < b2 else None
        self._fused = fused  # whether step takes the compiled op (None: decided at the first step)

    def share_memory_(self) -> "SharedOptimizer":
        for t in [self.step_count, *self.exp_avg, *self.sq_avg]:
            t.share_memory_()
        return self

    @torch.no_grad()
    def step(self, grads) -> None:
        """One update of ``params`` from ``grads`` (a list aligned with params).

        Lock-free, and each worker's step is self-consistent as far as memory order allows:

        - it reads the shared statistics once (m, then v), computes its new moments locally,
          writes them back (v, then m) and steps with its *own* pair, never with tensors re-read
          after the write (the textbook in-place form), which another worker may have changed;
        - writing v before m and reading m before v means a worker that reads another worker's
          m also reads that worker's v (or a newer one): the case where a large gradient's m
          lands over a v that lacks it (m/sqrt(v) unbounded) cannot arise from one writer;
        - two writers can still interleave their write-backs (one's v, the other's m: lost
          updates, which Hogwild accepts), so the step also clamps its m to the bound every
          serial Adam obeys, |m| <= K sqrt(v) with K = (1-b1) / sqrt((1-b2)(1-b1^2/b2))
          (Cauchy-Schwarz over the two moving sums; 7.27 for the default betas). A serial run
          never reaches it, so this is exactly Adam there; under any interleaving a step moves a
          parameter by at most K times what Adam's bias-corrected step size allows.

        The ordering argument needs the m-then-v reads and v-then-m writes to be seen in that
        order by other cores: the compiled op puts acquire and release fences between them
        (free on x86-64's TSO, `dmb` on aarch64); the reference has program order alone, which
        x86-64 keeps and weakly ordered CPUs need not (there only the clamp holds). The compiled
        op (csrc/optim.cpp) keeps the order chunk by chunk of each tensor, the reference
        (``ops.optim_step_reference``) stage by stage of the whole list; either way, per
        element, m is read before v and v written before m.
        """
        grads = list(grads)
        if self._fused is None:  # decided at the first step, when the gradients' layout is known
            self._fused = ops.update_fusable(self.params, grads, self.exp_avg, self.sq_avg)
        # one call into pyrl._C on the CPU; the reference's multi-tensor ops elsewhere (CUDA)
        step = ops.optim_step if self._fused else ops.optim_step_reference
        step(self.params, grads, self.exp_avg, self.sq_avg, self.step_count, self.kind, self.lr, self.betas,
             self.alpha, self.eps, self.m_bound)
