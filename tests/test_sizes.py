"""Every op of pyrl._C at empty, one and odd sizes, against its reference (issue 24): T, B, N
of 0 and 1, odd hidden sizes (1, 3, 7, 13, 33: none a multiple of a vector width), numels
across the optimizer's 256-element chunks, in float32 and float64. An empty size is accepted
with empty results, by the op and its reference alike."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from lngru_cases import NORMS, cpu_capabilities, cpu_capability, make_actor_critic, make_inputs, make_params
from pyrl import ops

ODD_H = [1, 3, 7, 13, 33]
DTYPES = [torch.float32, torch.float64]
CAPABILITIES = cpu_capabilities()


def grads(outputs, inputs, seed=2):
    """As lngru_cases.grads, where an input no output depends on (an empty sequence or batch)
    gets a zero gradient."""
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype)).sum() for o in outputs)
    inputs = [t for t in inputs if t is not None]
    if not loss.requires_grad:
        return [torch.zeros_like(t) for t in inputs]
    return torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True)


def _cast(ts, dtype):
    return [None if t is None else t.detach().to(dtype).requires_grad_() for t in ts]


@settings(max_examples=150, deadline=None)
@given(T=st.sampled_from([0, 1, 2, 5]), B=st.sampled_from([0, 1, 3, 9]), I=st.sampled_from([1, 3, 8]),
       H=st.sampled_from(ODD_H + [16]), norm=st.sampled_from(NORMS), dtype=st.sampled_from(DTYPES),
       capability=st.sampled_from(CAPABILITIES), seed=st.integers(0, 2**16))
def test_lngru_sequence_at_every_size(T, B, I, H, norm, dtype, capability, seed):
    with cpu_capability(capability):
        p64 = make_params(I, H, norm, seed=seed)
        x64, h064, reset = make_inputs(T, B, I, H, seed=seed + 1)
        want_out, want_hT = ops.lngru_sequence_reference(x64, h064, reset, *p64, norm=norm)
        x, h0, *p = _cast([x64, h064, *p64], dtype)
        out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
        got = grads([out, hT], [x, h0, *p])
    assert out.shape == (T, B, H) and hT.shape == (B, H) and out.dtype == dtype
    tol = 1e-11 if dtype == torch.float64 else 2e-5
    assert_close(out.double(), want_out, rtol=0, atol=tol)
    assert_close(hT.double(), want_hT, rtol=0, atol=tol)
    want = grads([want_out, want_hT], [x64, h064, *p64])
    for g, w in zip(got, want):
        assert g.shape == w.shape
        scale = max(1.0, w.abs().max().item()) if w.numel() else 1.0
        assert_close(g.double(), w, rtol=0, atol=(1e-9 if dtype == torch.float64 else 5e-5) * scale)


@pytest.mark.parametrize("B", [0, 1, 3])
@pytest.mark.parametrize("H", ODD_H)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lngru_cell_at_every_size(B, H, dtype):
    I = 5
    p64 = make_params(I, H, "layernorm", seed=H)
    g = torch.Generator().manual_seed(B + H)
    x64, h64 = torch.randn(B, I, generator=g, dtype=torch.float64), torch.randn(B, H, generator=g, dtype=torch.float64)
    want = ops.lngru_cell_reference(x64, h64, *p64, norm="layernorm")
    x, h, *p = _cast([x64, h64, *p64], dtype)
    got = ops.lngru_cell(x, h, *p, norm="layernorm")
    assert got.shape == (B, H)
    assert_close(got.double(), want, rtol=0, atol=1e-11 if dtype == torch.float64 else 2e-5)


@settings(max_examples=150, deadline=None)
@given(N=st.sampled_from([0, 1, 2, 5, 9]), H=st.sampled_from(ODD_H + [16]), discrete=st.booleans(),
       separate=st.booleans(), rnn=st.booleans(), norm=st.sampled_from(["none", "layernorm", "rmsnorm", "batchnorm"]),
       dtype=st.sampled_from(DTYPES), capability=st.sampled_from(CAPABILITIES), seed=st.integers(0, 2**16))
def test_act_step_at_every_size(N, H, discrete, separate, rnn, norm, dtype, capability, seed):
    model = make_actor_critic(discrete, separate, rnn, norm, seed, obs_size=4, hidden=H)
    trunks, heads, *rest = model._act_params()
    cast = lambda t: None if t is None else t.detach().to(dtype)  # noqa: E731
    args = (tuple(tuple(map(cast, tr)) for tr in trunks), tuple(map(cast, heads)), *rest)
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(N, 4, generator=g, dtype=torch.float64)
    state = torch.randn(N, model.initial_state(N).shape[1], generator=g, dtype=torch.float64)
    reset = torch.rand(N, generator=g) < 0.3
    noise = torch.rand(N, 1, generator=g, dtype=torch.float64) if discrete else \
        torch.randn(N, 3, generator=g, dtype=torch.float64)
    args64 = (tuple(tuple(None if t is None else t.double() for t in tr) for tr in args[0]),
              tuple(None if t is None else t.double() for t in args[1]), *rest)
    want = ops.act_step_reference(obs, state, reset, noise, *args64)
    with cpu_capability(capability):
        got = ops.act_step(obs.to(dtype), state.to(dtype), reset, noise.to(dtype), *args)
    assert got[0].shape == want[0].shape and got[3].shape == (N, state.shape[1])
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    if discrete:
        assert torch.equal(got[0], want[0])
    else:
        assert_close(got[0].double(), want[0], rtol=0, atol=tol)
    for i in (1, 2, 3):  # value, log-prob, new state
        assert_close(got[i].double(), want[i], rtol=0, atol=tol)


@pytest.mark.parametrize("T", [0, 1, 5, 17])
@pytest.mark.parametrize("N", [0, 1, 7, 33])
def test_rollout_ops_at_every_size(T, N):
    g = torch.Generator().manual_seed(T * 100 + N)
    rewards = torch.randn(T, N, generator=g)
    values = torch.randn(T + 1, N, generator=g)
    terminated = torch.rand(T, N, generator=g) < 0.2
    truncated = torch.rand(T, N, generator=g) < 0.1
    prev_done = torch.rand(N, generator=g) < 0.3
    got = ops.gae(rewards, values, terminated, truncated, prev_done, 0.99, 0.95)
    want = ops.gae_reference(rewards, values, terminated, truncated, prev_done, 0.99, 0.95)
    for a, b in zip(got, want):
        assert a.shape == (T, N)
        assert_close(a, b.to(a.dtype), rtol=1e-5, atol=1e-5)
    state = lambda: (prev_done.clone(), torch.randn(N, generator=torch.Generator().manual_seed(1), dtype=torch.float64),  # noqa: E731
                     torch.arange(N, dtype=torch.int64))
    s_got, s_want = state(), state()
    got = ops.episode_stats(rewards, terminated, truncated, *s_got, step_offset=3)
    want = ops.episode_stats_reference(rewards, terminated, truncated, *s_want, step_offset=3)
    for a, b in zip(got, want):
        assert_close(a, b.to(a.dtype), rtol=1e-9, atol=1e-9)
    for a, b in zip(s_got, s_want):
        assert_close(a, b)
    prev_reset_step = torch.rand(N, generator=g) < 0.5
    got = ops.rollout_masks(terminated, truncated, prev_done, prev_reset_step)
    want = ops.rollout_masks_reference(terminated, truncated, prev_done, prev_reset_step)
    for a, b in zip(got, want):
        assert a.shape == (T, N)
        assert torch.equal(a, b.to(a.dtype))


SIZES = [0, 1, 7, 33, 255, 257]


@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_update_ops_at_every_size(kind, dtype):
    def lists(seed):
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(n, generator=g, dtype=dtype) for n in SIZES]

    for impl in ("compiled", "reference"):
        params, grads_, m, v = lists(0), lists(1), [t.abs() for t in lists(2)], [t.abs() for t in lists(3)]
        count = torch.zeros(1, dtype=torch.float64)
        step = ops.optim_step if impl == "compiled" else ops.optim_step_reference
        step(params, grads_, m, v, count, kind, 1e-2, (0.9, 0.999), 0.99, 1e-8, 7.27)
        if impl == "compiled":
            compiled = (params, m, v)
        else:
            for a, b in zip([*compiled[0], *compiled[1], *compiled[2]], [*params, *m, *v]):
                assert_close(a, b, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=1e-7)
    for empty in ([], [torch.zeros(0, dtype=dtype)]):
        count = torch.zeros(1, dtype=torch.float64)
        ops.optim_step(empty, list(empty), list(empty), list(empty), count, kind, 1e-2, (0.9, 0.999), 0.99, 1e-8, None)
        ops.optim_step_reference(empty, list(empty), list(empty), list(empty), count, kind, 1e-2, (0.9, 0.999),
                                 0.99, 1e-8, None)
        assert count.item() == 2.0  # each call counts its step, empty or not
    g1, g2 = lists(4), lists(4)
    assert ops.clip_grad_norm(g1, 1.0) == pytest.approx(ops.clip_grad_norm_reference(g2, 1.0), rel=1e-12)
    for a, b in zip(g1, g2):
        assert_close(a, b)
    assert ops.clip_grad_norm([], 1.0) == ops.clip_grad_norm_reference([], 1.0) == 0.0
    src = lists(5)
    src[3][4] = float("nan")
    d1, d2 = [torch.empty_like(t) for t in src], [torch.empty_like(t) for t in src]
    assert ops.refresh(d1, src) == ops.refresh_reference(d2, src) == 3
    for a, b in zip(d1, d2):
        assert torch.equal(a.nan_to_num(), b.nan_to_num())
    for empty in ([], [torch.zeros(0, dtype=dtype)]):
        assert ops.refresh(empty, list(empty)) == ops.refresh_reference(list(empty), list(empty)) == -1
