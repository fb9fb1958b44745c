"""Inputs shared by the norm-GRU tests on every device (tests/test_lngru.py, test_cuda_build.py)."""
from contextlib import contextmanager

import torch

NORMS = ("none", "layernorm", "rmsnorm")


def make_params(I, H, norm, dtype=torch.float64, seed=0, device="cpu"):
    """[weight_ih, weight_hh, bias_ih, bias_hh, gamma_ih, gamma_hh]; gains (in [0.5, 1.5))
    with a norm, None without ("none")."""
    assert norm in NORMS, norm
    g = torch.Generator().manual_seed(seed)
    G = 3 * H
    p = [
        torch.randn(G, I, generator=g, dtype=dtype) / I**0.5,
        torch.randn(G, H, generator=g, dtype=dtype) / H**0.5,
        torch.randn(G, generator=g, dtype=dtype) * 0.5,
        torch.randn(G, generator=g, dtype=dtype) * 0.5,
    ]
    if norm != "none":
        p += [torch.rand(G, generator=g, dtype=dtype) + 0.5, torch.rand(G, generator=g, dtype=dtype) + 0.5]
    else:
        p += [None, None]
    return [t.to(device).requires_grad_() if t is not None else None for t in p]


def make_inputs(T, B, I, H, dtype=torch.float64, reset_p=0.3, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=g, dtype=dtype).to(device).requires_grad_()
    h0 = torch.randn(B, H, generator=g, dtype=dtype).to(device).requires_grad_()
    reset = (torch.rand(T, B, generator=g) < reset_p).to(device)
    return x, h0, reset


def grads(outputs, inputs, seed=2):
    g = torch.Generator().manual_seed(seed)
    # weights drawn in float64 on the CPU and cast, so every dtype and device gets the same ones
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.device, o.dtype)).sum()
               for o in outputs)
    return torch.autograd.grad(loss, [t for t in inputs if t is not None])


# The CPU kernels are built per instruction set (baseline; AVX and AVX2+FMA on x86-64): the
# tests that hold values and gradients to the references run on each.
def cpu_capabilities():
    from pyrl import ops
    return ops._ext().cpu_capabilities()


@contextmanager
def _switched(get, set_, name):
    """A process-wide switch of pyrl._C set to `name` inside the block, restored after."""
    before = get()
    set_(name)
    try:
        yield
    finally:
        set_(before)


def cpu_capability(name):
    """Every CPU kernel on instruction set `name` inside the block (process-wide switch)."""
    from pyrl import ops
    ext = ops._ext()
    return _switched(ext.cpu_capability, ext.set_cpu_capability, name)


def cpu_blas(name):
    """The CPU kernels' matrix products through `name` ("direct" or "aten") inside the block."""
    from pyrl import ops
    ext = ops._ext()
    return _switched(ext.lngru_cpu_blas, ext.set_lngru_cpu_blas, name)


def make_actor_critic(discrete, separate, rnn, norm, seed=0, obs_size=5, actions=3, hidden=16):
    """An ActorCritic with every parameter and statistic away from its initial value, so that
    a swapped or ignored tensor shows (the act step's tests)."""
    import gymnasium

    from pyrl.nn import ActorCritic, RunningBatchNorm
    torch.manual_seed(seed)
    space = gymnasium.spaces.Discrete(actions) if discrete else gymnasium.spaces.Box(-1, 1, (actions,))
    model = ActorCritic((obs_size,), space, hidden=hidden, rnn=rnn, norm=norm, separate_critic=separate)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        for m in model.modules():
            if isinstance(m, RunningBatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 2.0)
    return model
