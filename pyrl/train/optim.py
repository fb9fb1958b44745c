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
        b1, b2 = betas
        # |m| <= m_bound * sqrt(v) holds for every serial Adam sequence (see ``step``); none
        # exists when b1^2 >= b2
        self.m_bound = (1 - b1) / math.sqrt((1 - b2) * (1 - b1**2 / b2)) if b1**2 < b2 else None

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

        The ordering argument needs stores and loads to be seen in program order (x86-64's TSO);
        on weakly ordered CPUs only the clamp holds.
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
            m_new = torch._foreach_lerp(self.exp_avg, grads, 1 - b1)  # reads m first ...
            v_new = torch._foreach_mul(self.sq_avg, b2)               # ... then v
            torch._foreach_addcmul_(v_new, grads, grads, value=1 - b2)
            torch._foreach_copy_(self.sq_avg, v_new)                  # writes v first ...
            torch._foreach_copy_(self.exp_avg, m_new)                 # ... then m
            denom = torch._foreach_sqrt(v_new)
            if self.m_bound is not None:
                bound = torch._foreach_mul(denom, self.m_bound)
                m_new = torch._foreach_minimum(m_new, bound)
                m_new = torch._foreach_maximum(m_new, torch._foreach_neg(bound))
            torch._foreach_add_(denom, self.eps * math.sqrt(bc2))
            torch._foreach_addcdiv_(self.params, m_new, denom, value=-step_size)
        else:  # RMSProp as in the A3C paper: shared running mean of squared gradients
            # v_new holds this worker's own g^2, so |g| / sqrt(v_new) <= 1 / sqrt(1 - alpha)
            v_new = torch._foreach_mul(self.sq_avg, self.alpha)
            torch._foreach_addcmul_(v_new, grads, grads, value=1 - self.alpha)
            torch._foreach_copy_(self.sq_avg, v_new)
            denom = torch._foreach_sqrt(v_new)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(self.params, grads, denom, value=-self.lr)
