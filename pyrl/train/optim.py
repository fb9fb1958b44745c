"""Adam and RMSProp as functional steps over (params, grads) with explicit state tensors.

For A3C the state is allocated once in the parent and put in shared memory, so every worker
updates the same statistics lock-free (Hogwild). The gradients are passed in explicitly: a
worker never writes its gradients into the shared parameters' ``.grad`` (two workers would
mix their gradients there, and aliasing a local ``.grad`` as the global one is the known
pitfall of popular A3C code).
"""
from __future__ import annotations

import math

import torch


class SharedOptimizer:
    def __init__(self, params, kind: str = "adam", lr: float = 7e-4, betas=(0.9, 0.999), alpha: float = 0.99,
                 eps: float = 1e-5):
        self.params = list(params)
        self.kind, self.lr, self.betas, self.alpha, self.eps = kind, lr, betas, alpha, eps
        self.step_count = torch.zeros(1, dtype=torch.float64)
        self.exp_avg = [torch.zeros_like(p) for p in self.params] if kind == "adam" else []
        self.sq_avg = [torch.zeros_like(p) for p in self.params]

    def share_memory_(self) -> "SharedOptimizer":
        for t in [self.step_count, *self.exp_avg, *self.sq_avg]:
            t.share_memory_()
        return self

    @torch.no_grad()
    def step(self, grads) -> None:
        """One update of ``params`` from ``grads`` (a list aligned with params)."""
        self.step_count += 1
        t = float(self.step_count.item())
        if self.kind == "adam":
            b1, b2 = self.betas
            bc1, bc2 = 1 - b1**t, 1 - b2**t
            step_size = self.lr * math.sqrt(bc2) / bc1
            for p, g, m, v in zip(self.params, grads, self.exp_avg, self.sq_avg):
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, v.sqrt().add_(self.eps * math.sqrt(bc2)), value=-step_size)
        else:  # RMSProp as in the A3C paper: shared running mean of squared gradients
            for p, g, v in zip(self.params, grads, self.sq_avg):
                v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
                p.addcdiv_(g, v.sqrt().add_(self.eps), value=-self.lr)
