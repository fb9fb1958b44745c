"""SharedOptimizer: the functional Adam/RMSProp that A3C workers step lock-free."""
import pytest
import torch

from pyrl.train.optim import SharedOptimizer


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64)]


@pytest.mark.parametrize("kind, make_reference", [
    ("adam", lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.9, 0.999), eps=1e-5)),
    ("rmsprop", lambda ps: torch.optim.RMSprop(ps, lr=3e-3, alpha=0.99, eps=1e-5)),
])
def test_matches_torch_optim(kind, make_reference):
    ours = [p.clone() for p in _params(0)]
    ref = [p.clone().requires_grad_() for p in _params(0)]
    opt = SharedOptimizer(ours, kind=kind, lr=3e-3)
    ref_opt = make_reference(ref)
    g = torch.Generator().manual_seed(1)
    for _ in range(25):
        grads = [torch.randn(p.shape, generator=g, dtype=p.dtype) * 10 ** torch.randint(-4, 2, (), generator=g)
                 for p in ours]
        opt.step(grads)
        for r, gr in zip(ref, grads):
            r.grad = gr.clone()
        ref_opt.step()
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-12)
    assert opt.step_count.item() == 25


class RacedBuffer(torch.Tensor):
    """A shared first-moment buffer into which another worker's large update lands right
    after every in-place write of this worker (the worst interleaving Hogwild allows)."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        name = getattr(func, "__name__", "")
        written = args[0] if args and isinstance(args[0], (list, tuple)) else args[:1]  # _foreach ops take lists
        if name.endswith("_") and not name.startswith("__"):
            for t in written:
                if isinstance(t, cls):
                    with torch._C.DisableTorchFunctionSubclass():
                        t.add_(1.0)  # another worker's moment, 100 times this one's gradient
        return out


def test_each_step_uses_its_own_moments():
    # With a consistent (m, v) pair Adam's first step is lr * sign(g), whatever another
    # worker writes into the shared buffers meanwhile. Stepping with the shared m re-read
    # after the write would divide the other worker's moment by this worker's tiny v.
    p = torch.zeros(4, dtype=torch.float64)
    opt = SharedOptimizer([p], kind="adam", lr=0.1)
    opt.exp_avg[0] = opt.exp_avg[0].as_subclass(RacedBuffer)
    g = torch.tensor([1e-2, 1e-2, -1e-2, 1e-2], dtype=torch.float64)
    opt.step([g])
    torch.testing.assert_close(p, -0.1 * torch.sign(g), rtol=2e-3, atol=0)
    assert (opt.exp_avg[0].as_subclass(torch.Tensor) > 0.5).all()  # the race did happen


def test_share_memory_moves_every_state_tensor():
    opt = SharedOptimizer(_params(0), kind="adam").share_memory_()
    assert all(t.is_shared() for t in [opt.step_count, *opt.exp_avg, *opt.sq_avg])
