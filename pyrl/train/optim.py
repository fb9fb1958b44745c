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
        """One update of ``params`` from ``grads`` (a list aligned with params).

        Lock-free, yet each worker's step is self-consistent: it reads the shared statistics
        once, computes its new moments locally, writes them back, and steps with its *own*
        moments. Stepping with the shared tensors re-read after the write (the textbook
        in-place form) lets another worker's first moment land between this worker's second
        moment update and its step, so m/sqrt(v) is unbounded (m from a large gradient over v
        from a tiny one) and Hogwild Adam occasionally blows up early in training. Here a
        worker's step always pairs its own m and v. The shared state itself stays lock-free:
        two workers' write-backs can interleave (one's m, the other's v); later steps carry
        that pair forward and decay it like any other, as Hogwild accepts.
        """
        self.step_count += 1
        t = float(self.step_count.item())
        grads = list(grads)
        # One multi-tensor (_foreach) op per stage: the model has few, small parameters, so
        # per-tensor op dispatch would cost more than the arithmetic.
        if self.kind == "adam":
            b1, b2 = self.betas
            bc1, bc2 = 1 - b1**t, 1 - b2**t
            step_size = self.lr * math.sqrt(bc2) / bc1
            m_new = torch._foreach_lerp(self.exp_avg, grads, 1 - b1)
            v_new = torch._foreach_mul(self.sq_avg, b2)
            torch._foreach_addcmul_(v_new, grads, grads, value=1 - b2)
            torch._foreach_copy_(self.exp_avg, m_new)
            torch._foreach_copy_(self.sq_avg, v_new)
            denom = torch._foreach_sqrt(v_new)
            torch._foreach_add_(denom, self.eps * math.sqrt(bc2))
            torch._foreach_addcdiv_(self.params, m_new, denom, value=-step_size)
        else:  # RMSProp as in the A3C paper: shared running mean of squared gradients
            v_new = torch._foreach_mul(self.sq_avg, self.alpha)
            torch._foreach_addcmul_(v_new, grads, grads, value=1 - self.alpha)
            torch._foreach_copy_(self.sq_avg, v_new)
            denom = torch._foreach_sqrt(v_new)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(self.params, grads, denom, value=-self.lr)
