"""SharedOptimizer: the functional Adam/RMSProp that A3C workers step lock-free."""
import itertools
import math
import threading

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


# ---- Hogwild interleavings of two workers' steps on one shared Adam state ----

class _Schedule:
    """Lets two threads' operations on the shared moments run in a given order, one at a time."""

    def __init__(self, order):
        self.order, self.i = list(order), 0
        self.cv = threading.Condition()

    def run(self, who, op):
        with self.cv:
            self.cv.wait_for(lambda: self.order[self.i] == who, timeout=10)
            assert self.order[self.i] == who, "schedule stalled"
        try:
            return op()
        finally:
            with self.cv:
                self.i += 1
                self.cv.notify_all()


class SharedMoment(torch.Tensor):
    """A worker's view of a shared moment buffer: every op whose first argument is the buffer
    itself (a read of it, or a write into it) waits for its turn in the schedule."""

    schedule: _Schedule = None
    buffers: set = set()
    local = threading.local()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        first = args[0] if args else None
        touched = first if isinstance(first, (list, tuple)) else [first]
        call = lambda: super(SharedMoment, cls).__torch_function__(func, types, args, kwargs or {})  # noqa: E731
        if any(id(t) in cls.buffers for t in touched):
            return cls.schedule.run(cls.local.who, call)
        return call()


def _worker_view(shared, p, lr, m_bound):
    opt = SharedOptimizer([p], kind="adam", lr=lr)
    opt.exp_avg = [shared[0].as_subclass(SharedMoment)]
    opt.sq_avg = [shared[1].as_subclass(SharedMoment)]
    opt.m_bound = m_bound
    SharedMoment.buffers |= {id(opt.exp_avg[0]), id(opt.sq_avg[0])}
    return opt


def _interleavings(ops_each=4):
    for pos in itertools.combinations(range(2 * ops_each), ops_each):
        yield ["A" if i in pos else "B" for i in range(2 * ops_each)]


@pytest.mark.parametrize("clamp", [False, True])
def test_every_interleaving_of_two_steps_stays_within_an_adam_step(clamp):
    # Worker A steps with a huge gradient, worker B with a tiny one, on one shared (m, v). Each
    # step reads m, reads v, writes v, writes m; whatever the interleaving, a first Adam step
    # moves a parameter by about lr. Were m written before v, B could read A's m and the old v
    # and move by ~1e5 lr. The write/read order alone must hold this (clamp off), and the clamp
    # must not change a consistent step.
    lr, G, g = 0.1, 1e3, 1e-3
    m_bound = SharedOptimizer([torch.zeros(1)]).m_bound if clamp else None
    for order in _interleavings():
        shared = [torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)]  # m, v
        SharedMoment.buffers = set()
        SharedMoment.schedule = _Schedule(order)
        pa, pb = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
        views = {"A": (_worker_view(shared, pa, lr, m_bound), G), "B": (_worker_view(shared, pb, lr, m_bound), g)}

        def work(who):
            SharedMoment.local.who = who
            opt, grad = views[who]
            opt.step([torch.full((3,), grad, dtype=torch.float64)])

        threads = [threading.Thread(target=work, args=(w,)) for w in "AB"]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert SharedMoment.schedule.i == 8, order
        for who, p in (("A", pa), ("B", pb)):
            assert p.abs().max().item() <= 1.01 * lr, (order, who, p)


def test_the_clamp_bounds_a_step_from_an_inconsistent_shared_state():
    # Two writers' write-backs can interleave so that the shared m holds a large gradient the
    # shared v lacks (A writes v, B writes v, B writes m, A writes m: B's m, A's v). The next
    # step from that state must still be bounded by K times Adam's step size.
    lr, b1, b2 = 0.1, 0.9, 0.999
    p = torch.zeros(3, dtype=torch.float64)
    opt = SharedOptimizer([p], kind="adam", lr=lr)
    opt.exp_avg[0].fill_((1 - b1) * 1e3)    # m from a gradient of 1e3 ...
    opt.sq_avg[0].fill_((1 - b2) * 1e-6)    # ... over a v from a gradient of 1e-3
    opt.step([torch.full((3,), 1e-3, dtype=torch.float64)])
    step_size = lr * math.sqrt(1 - b2) / (1 - b1)
    assert opt.m_bound == pytest.approx((1 - b1) / math.sqrt((1 - b2) * (1 - b1**2 / b2)))
    assert p.abs().max().item() <= opt.m_bound * step_size * (1 + 1e-9)
    unclamped = SharedOptimizer([torch.zeros(3, dtype=torch.float64)], kind="adam", lr=lr)
    unclamped.m_bound = None
    unclamped.exp_avg[0].fill_((1 - b1) * 1e3)
    unclamped.sq_avg[0].fill_((1 - b2) * 1e-6)
    unclamped.step([torch.full((3,), 1e-3, dtype=torch.float64)])
    assert unclamped.params[0].abs().max().item() > 1000 * lr  # what the clamp prevents
