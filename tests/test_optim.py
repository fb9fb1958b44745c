"""SharedOptimizer: the functional Adam/RMSProp that A3C workers step lock-free; the compiled
training update (optimizer step, clipping, refresh: csrc/optim.cpp) against its references."""
import itertools
import math
import threading

import pytest
import torch

from lngru_cases import cpu_capabilities, cpu_capability
from pyrl import ops
from pyrl.train.optim import SharedOptimizer


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64)]


@pytest.mark.parametrize("fused", [True, False], ids=["compiled", "reference"])
@pytest.mark.parametrize("kind, make_reference", [
    ("adam", lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.9, 0.999), eps=1e-5)),
    ("rmsprop", lambda ps: torch.optim.RMSprop(ps, lr=3e-3, alpha=0.99, eps=1e-5)),
])
def test_matches_torch_optim(kind, make_reference, fused):
    ours = [p.clone() for p in _params(0)]
    ref = [p.clone().requires_grad_() for p in _params(0)]
    opt = SharedOptimizer(ours, kind=kind, lr=3e-3, fused=fused)
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
    # (The reference's ops, which the race hooks into; the compiled step keeps no tensor it
    # could re-read, and matches the reference below.)
    p = torch.zeros(4, dtype=torch.float64)
    opt = SharedOptimizer([p], kind="adam", lr=0.1, fused=False)
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
    opt = SharedOptimizer([p], kind="adam", lr=lr, fused=False)  # the reference's ops take the schedule
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


def _held_steps(who, grad, lr, m_bound, m, v, orders, turns, moved):
    """One worker process: for each order k, one compiled Adam step of its own parameter on
    the shared (m[k], v[k]), its four accesses held to orders[k]; moved[who, k] <- max |step|."""
    b1, b2, eps = SharedOptimizer([torch.zeros(1)]).betas + (1e-8,)
    ext = ops._ext()
    for k in range(orders.shape[0]):
        p = torch.zeros(m.shape[1], dtype=torch.float64)
        g = torch.full_like(p, grad)
        ext._optim_step_held(p, g, m[k], v[k], 1.0, lr, b1, b2, eps, m_bound, orders[k], turns[k:k + 1], who)
        moved[who, k] = p.abs().max()


@pytest.mark.parametrize("clamp", [False, True])
def test_every_interleaving_of_two_compiled_steps_from_two_processes_stays_within_an_adam_step(clamp):
    # The test above, on the compiled step (csrc/optim.cpp adam_tensor, the code optim_step
    # runs) in two real processes sharing the moments: each access to m or v waits for its
    # turn in the order (shared memory), so all 70 orders of the two steps' reads and writes
    # happen exactly. With m written before v, some order lets B step by ~1e5 lr.
    lr, G, g = 0.1, 1e3, 1e-3
    m_bound = SharedOptimizer([torch.zeros(1)]).m_bound if clamp else -1.0
    orders = torch.tensor([[0 if w == "A" else 1 for w in order] for order in _interleavings()], dtype=torch.int8)
    K = orders.shape[0]
    m = torch.zeros(K, 3, dtype=torch.float64).share_memory_()
    v = torch.zeros(K, 3, dtype=torch.float64).share_memory_()
    turns = torch.zeros(K, dtype=torch.int32).share_memory_()
    moved = torch.full((2, K), float("nan"), dtype=torch.float64).share_memory_()
    ctx = torch.multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_held_steps, args=(who, grad, lr, m_bound, m, v, orders, turns, moved))
             for who, grad in ((0, G), (1, g))]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert turns.tolist() == [8] * K  # every access of every order happened, in its turn
    assert torch.isfinite(moved).all()
    assert moved.max().item() <= 1.01 * lr, moved
    # where a worker ran all four accesses first, on fresh moments, it took Adam's first step: lr
    assert orders[0].tolist() == [0] * 4 + [1] * 4 and orders[-1].tolist() == [1] * 4 + [0] * 4
    assert moved[0, 0].item() == pytest.approx(lr, rel=1e-4)  # eps 1e-8 against |g| 1e-3
    assert moved[1, -1].item() == pytest.approx(lr, rel=1e-4)


@pytest.mark.parametrize("fused", [True, False], ids=["compiled", "reference"])
def test_the_clamp_bounds_a_step_from_an_inconsistent_shared_state(fused):
    # Two writers' write-backs can interleave so that the shared m holds a large gradient the
    # shared v lacks (A writes v, B writes v, B writes m, A writes m: B's m, A's v). The next
    # step from that state must still be bounded by K times Adam's step size.
    lr, b1, b2 = 0.1, 0.9, 0.999
    p = torch.zeros(3, dtype=torch.float64)
    opt = SharedOptimizer([p], kind="adam", lr=lr, fused=fused)
    opt.exp_avg[0].fill_((1 - b1) * 1e3)    # m from a gradient of 1e3 ...
    opt.sq_avg[0].fill_((1 - b2) * 1e-6)    # ... over a v from a gradient of 1e-3
    opt.step([torch.full((3,), 1e-3, dtype=torch.float64)])
    step_size = lr * math.sqrt(1 - b2) / (1 - b1)
    assert opt.m_bound == pytest.approx((1 - b1) / math.sqrt((1 - b2) * (1 - b1**2 / b2)))
    assert p.abs().max().item() <= opt.m_bound * step_size * (1 + 1e-9)
    unclamped = SharedOptimizer([torch.zeros(3, dtype=torch.float64)], kind="adam", lr=lr, fused=fused)
    unclamped.m_bound = None
    unclamped.exp_avg[0].fill_((1 - b1) * 1e3)
    unclamped.sq_avg[0].fill_((1 - b2) * 1e-6)
    unclamped.step([torch.full((3,), 1e-3, dtype=torch.float64)])
    assert unclamped.params[0].abs().max().item() > 1000 * lr  # what the clamp prevents


# ---- the compiled training update against its references ----

# 1, 255-257 and 700 elements: below, at and across the 256-element chunks of the compiled step
_SHAPES = [(1,), (5, 51), (256,), (257,), (7, 100)]


def _tensors(seed, dtype, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=dtype) * scale for s in _SHAPES]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_compiled_step_matches_the_reference(kind, dtype, capability):
    compiled = SharedOptimizer(_tensors(0, dtype), kind=kind, lr=3e-3, fused=True)
    reference = SharedOptimizer(_tensors(0, dtype), kind=kind, lr=3e-3, fused=False)
    g = torch.Generator().manual_seed(1)
    for k in range(30):
        grads = [torch.randn(s, generator=g, dtype=dtype) * 10.0 ** (k % 6 - 3) for s in _SHAPES]
        compiled.step(grads)
        reference.step(grads)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 1e-6}
    for name in ("params", "exp_avg", "sq_avg"):
        for a, b in zip(getattr(compiled, name), getattr(reference, name)):
            torch.testing.assert_close(a, b, **tol, msg=lambda m: f"{kind} {name}: {m}")
    assert compiled.step_count.item() == reference.step_count.item() == 30
    assert all(not torch.equal(a, b) for a, b in zip(compiled.params, _tensors(0, dtype)))  # it stepped


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_every_instruction_set_gives_the_same_bits(kind, dtype):
    # no FMA and no reassociation in the element loops (csrc/optim.cpp): the baseline, AVX and
    # AVX2 versions of the step, the clipping and the refresh agree bit for bit
    results = []
    for name in cpu_capabilities():
        with cpu_capability(name):
            opt = SharedOptimizer(_tensors(0, dtype), kind=kind, lr=3e-3, fused=True)
            g = torch.Generator().manual_seed(1)
            for k in range(10):
                grads = [torch.randn(s, generator=g, dtype=dtype) * 10.0 ** (k % 6 - 3) for s in _SHAPES]
                norm = ops.clip_grad_norm(grads, 1.0)
                opt.step(grads)
            copies = [torch.empty_like(p) for p in opt.params]
            ops.refresh(copies, opt.params)
            results.append((norm, [*opt.params, *opt.exp_avg, *opt.sq_avg, *copies]))
    for norm, tensors in results[1:]:
        assert norm == results[0][0]
        assert all(torch.equal(a, b) for a, b in zip(tensors, results[0][1]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_clamp_matches_the_reference(dtype):
    # an inconsistent shared state (m from a large gradient, v from a small one) in some
    # elements only: the compiled step clamps exactly those, as the reference does
    def state(opt):
        for m, v in zip(opt.exp_avg, opt.sq_avg):
            m.copy_(torch.linspace(-1e2, 1e2, m.numel(), dtype=dtype).view_as(m))
            v.fill_(1e-8)
        return opt
    compiled = state(SharedOptimizer(_tensors(2, dtype), lr=0.1, fused=True))
    reference = state(SharedOptimizer(_tensors(2, dtype), lr=0.1, fused=False))
    grads = _tensors(3, dtype, scale=1e-4)
    compiled.step(grads)
    reference.step(grads)
    for a, b, p0 in zip(compiled.params, reference.params, _tensors(2, dtype)):
        torch.testing.assert_close(a, b)
        step_size = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
        assert (a - p0).abs().max().item() <= compiled.m_bound * step_size * (1 + 1e-5)


def test_compiled_ops_move_the_version_of_what_they_write():
    # they write through raw pointers; a graph that saved a parameter must still see the change
    # (backward raises, as after any in-place op) instead of using the new values silently
    w = torch.randn(3, requires_grad=True)
    opt = SharedOptimizer([w.detach()], lr=0.1, fused=True)  # steps w's storage, as a worker does
    loss = (w * w).sum()  # saves w
    state_before = [t._version for t in [opt.step_count, *opt.exp_avg, *opt.sq_avg]]
    opt.step([torch.ones(3)])
    assert all(a > b for a, b in zip([t._version for t in [opt.step_count, *opt.exp_avg, *opt.sq_avg]],
                                     state_before))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    grads, dst = _tensors(7, torch.float32, scale=10.0), [torch.zeros(s) for s in _SHAPES]
    before = [t._version for t in grads + dst]
    assert ops.clip_grad_norm(grads, 0.5) > 0.5  # so the gradients were scaled
    ops.refresh(dst, _tensors(8, torch.float32))
    assert all(t._version > b for t, b in zip(grads + dst, before))


def test_non_contiguous_parameters_take_the_reference():
    # fused=None decides per optimizer; a transposed parameter is no flat buffer for the
    # compiled op, and must still be stepped right
    base = torch.randn(4, 3, dtype=torch.float64)
    ours = [base.clone().t()]
    ref = [base.clone().t().contiguous().requires_grad_()]
    opt = SharedOptimizer(ours, lr=3e-3)
    ref_opt = torch.optim.Adam(ref, lr=3e-3, eps=1e-5)
    for k in range(5):
        grad = torch.full((3, 4), 0.1 * (k + 1), dtype=torch.float64)
        opt.step([grad])
        ref[0].grad = grad.clone()
        ref_opt.step()
    torch.testing.assert_close(ours[0], ref[0].detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped, and left as they are
def test_clip_grad_norm_matches_torch(max_norm, dtype):
    grads = _tensors(4, dtype)
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    ref_grads = [g.clone() for g in grads]
    norm = ops.clip_grad_norm(grads, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    ref_norm = ops.clip_grad_norm_reference(ref_grads, max_norm)
    assert isinstance(norm, float) and norm == pytest.approx(torch_norm, rel=1e-6)
    assert norm == pytest.approx(ref_norm, rel=1e-12)
    for g, p, r in zip(grads, params, ref_grads):
        torch.testing.assert_close(g, p.grad)
        torch.testing.assert_close(g, r, rtol=1e-12 if dtype == torch.float64 else 1e-6, atol=0)
    if max_norm < 1:
        assert math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads)) == pytest.approx(max_norm, rel=1e-5)
    else:
        assert all(torch.equal(g, r) for g, r in zip(grads, _tensors(4, dtype)))


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_clip_grad_norm_reports_a_non_finite_norm_and_leaves_the_grads(bad):
    grads = _tensors(5, torch.float32)
    grads[2][7] = bad
    before = [g.clone() for g in grads]
    norm = ops.clip_grad_norm(grads, 0.5)
    assert not math.isfinite(norm)
    assert not math.isfinite(ops.clip_grad_norm_reference([g.clone() for g in before], 0.5))
    for g, b in zip(grads, before):
        torch.testing.assert_close(g, b, rtol=0, atol=0, equal_nan=True)


def test_refresh_copies_and_finds_the_first_non_finite_entry():
    # parameters (float32) and a float64 0-dim buffer, as RunningBatchNorm has
    src = [*_tensors(6, torch.float32), torch.tensor(3.0, dtype=torch.float64)]
    dst = [torch.zeros_like(t) for t in src]
    assert ops.refresh(dst, src) == -1
    assert all(torch.equal(d, s) for d, s in zip(dst, src))
    for index, value in ((3, math.nan), (1, -math.inf), (5, math.inf)):
        src[index].view(-1)[-1] = value
        got, ref_dst = ops.refresh(dst, src), [torch.zeros_like(t) for t in src]
        assert got == ops.refresh_reference(ref_dst, src) == min(i for i, t in enumerate(src)
                                                                    if not torch.isfinite(t).all())
        for d, r in zip(dst, ref_dst):
            torch.testing.assert_close(d, r, rtol=0, atol=0, equal_nan=True)


def _like(tensors):
    return [torch.zeros_like(t) for t in tensors]


@pytest.mark.parametrize("call, message", [
    (lambda a, b: ops.refresh(a, b[:-1]), "src has 1 tensors but dst has 2"),
    (lambda a, b: ops.refresh(a, [b[0], b[1][:3]]), r"src\[1\] \(Float, 3 elements\) does not match dst\[1\]"),
    (lambda a, b: ops.refresh(a, [b[0], b[1].double()]), r"src\[1\] \(Double, 5 elements\)"),
    (lambda a, b: ops.refresh([a[0], torch.zeros(5, dtype=torch.int64)], b), r"dst\[1\] must be float32 or float64"),
    (lambda a, b: ops.clip_grad_norm([a[0].t()], 1.0), r"grads\[0\] must be a contiguous CPU tensor"),
    (lambda a, b: ops.optim_step(a, b[:1], _like(a), _like(a), torch.zeros(1, dtype=torch.float64), "adam", 1e-3,
                                 (0.9, 0.999), 0.99, 1e-5, None), "grads has 1 tensors but params has 2"),
    (lambda a, b: ops.optim_step(a, b, _like(a), _like(a), torch.zeros(1), "adam", 1e-3, (0.9, 0.999), 0.99, 1e-5,
                                 None), "step_count must be a CPU float64 tensor"),
    (lambda a, b: ops.optim_step(a, b, _like(a), _like(a), torch.zeros(1, dtype=torch.float64), "sgd", 1e-3,
                                 (0.9, 0.999), 0.99, 1e-5, None), 'kind must be "adam" or "rmsprop"'),
    # the compiled loops take the four arrays as __restrict: shared memory is refused
    (lambda a, b: ops.optim_step(a, b, a, _like(a), torch.zeros(1, dtype=torch.float64), "adam", 1e-3, (0.9, 0.999),
                                 0.99, 1e-5, None), r"params\[0\] and exp_avg\[0\] share memory"),
    (lambda a, b: ops.optim_step(a, b, _like(a), [b[0], torch.zeros(5)], torch.zeros(1, dtype=torch.float64), "rmsprop",
                                 1e-3, (0.9, 0.999), 0.99, 1e-5, None), r"grads\[0\] and sq_avg\[0\] share memory"),
])
def test_compiled_update_rejects_mismatched_lists(call, message):
    a = [torch.zeros(4, 3), torch.zeros(5)]
    b = [torch.ones(4, 3), torch.ones(5)]
    with pytest.raises(RuntimeError, match=message):
        call(a, b)
