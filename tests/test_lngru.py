"""The fused norm-GRU (pyrl._C) against its pure-PyTorch reference in pyrl/ops.py, for
every norm: none (nn.GRUCell), LayerNorm and RMSNorm."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from lngru_cases import NORMS, cpu_blas, cpu_capabilities, cpu_capability, grads, make_inputs, make_params
from pyrl import ops
from pyrl.nn import LNGRU

PARAM_NAMES = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "gamma_ih", "gamma_hh"]
# The CPU kernels are built per instruction set (lngru_cases.cpu_capability): the tests that
# hold values and gradients to the reference run on each.
CAPABILITIES = cpu_capabilities()


def _float32(tensors):
    return [t.detach().float() if t is not None and t.is_floating_point() else t for t in tensors]


def test_norms_are_the_three_the_issue_names():
    assert ops.NORMS == NORMS


@pytest.mark.parametrize("norm", NORMS)
def test_sequence_matches_reference_float64(norm, capability):
    T, B, I, H = 7, 4, 5, 6
    p = make_params(I, H, norm)
    x, h0, reset = make_inputs(T, B, I, H)
    assert reset.any() and not reset.all()  # the case covers resets inside the sequence
    out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    ref_out, ref_hT = ops.lngru_sequence_reference(x, h0, reset, *p, norm=norm)
    assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    assert_close(hT, ref_hT, rtol=1e-12, atol=1e-12)
    inputs = [x, h0, *p]
    for name, got, want in zip(PARAM_NAMES, grads([out, hT], inputs), grads([ref_out, ref_hT], inputs)):
        assert_close(got, want, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"d{name}: {m}")


@pytest.mark.parametrize("norm", NORMS)
def test_cell_matches_reference_float64(norm, capability):
    B, I, H = 5, 4, 7
    p = make_params(I, H, norm)
    x, h, _ = make_inputs(1, B, I, H)
    x1 = x[0].detach().requires_grad_()
    got = ops.lngru_cell(x1, h, *p, norm=norm)
    want = ops.lngru_cell_reference(x1, h, *p, norm=norm)
    assert_close(got, want, rtol=1e-12, atol=1e-12)
    for got_g, want_g in zip(grads([got], [x1, h, *p]), grads([want], [x1, h, *p])):
        assert_close(got_g, want_g, rtol=1e-10, atol=1e-12)


def test_norm_defaults_to_layernorm_with_gains_and_none_without():
    T, B, I, H = 4, 3, 5, 6
    x, h0, reset = make_inputs(T, B, I, H)
    p = make_params(I, H, "layernorm")
    assert torch.equal(ops.lngru_sequence(x, h0, reset, *p)[0],
                       ops.lngru_sequence(x, h0, reset, *p, norm="layernorm")[0])
    p = make_params(I, H, "none")
    assert torch.equal(ops.lngru_sequence(x, h0, reset, *p)[0],
                       ops.lngru_sequence(x, h0, reset, *p, norm="none")[0])


def test_rmsnorm_reference_agrees_with_torch_rms_norm():
    # The reference is written from the definition; torch's own RMSNorm is an independent check.
    B, I, H = 6, 5, 8
    w_ih, w_hh, b_ih, b_hh, g_ih, g_hh = make_params(I, H, "rmsnorm")
    x, h, _ = make_inputs(1, B, I, H)
    a = F.rms_norm(x[0] @ w_ih.t(), (3 * H,), weight=g_ih, eps=1e-5) + b_ih
    c = F.rms_norm(h @ w_hh.t(), (3 * H,), weight=g_hh, eps=1e-5) + b_hh
    (a_r, a_z, a_n), (c_r, c_z, c_n) = a.chunk(3, -1), c.chunk(3, -1)
    r, z = torch.sigmoid(a_r + c_r), torch.sigmoid(a_z + c_z)
    want = (1 - z) * torch.tanh(a_n + r * c_n) + z * h
    got = ops.lngru_cell_reference(x[0], h, w_ih, w_hh, b_ih, b_hh, g_ih, g_hh, norm="rmsnorm")
    assert_close(got, want, rtol=1e-12, atol=1e-12)
    # and RMSNorm is not LayerNorm: the mean is not subtracted
    ln = ops.lngru_cell_reference(x[0], h, w_ih, w_hh, b_ih, b_hh, g_ih, g_hh, norm="layernorm")
    assert (got - ln).abs().max() > 1e-3


@pytest.mark.parametrize("norm", NORMS)
def test_float32_close_to_float64_reference(norm, capability):
    # The float32 kernel uses its own vectorised exp/tanh: hold it to the float64 truth.
    T, B, I, H = 20, 8, 64, 128
    p64 = make_params(I, H, norm)
    x64, h064, reset = make_inputs(T, B, I, H)
    p32 = [t.detach().float().requires_grad_() if t is not None else None for t in p64]
    x32 = x64.detach().float().requires_grad_()
    h032 = h064.detach().float().requires_grad_()
    out, hT = ops.lngru_sequence(x32, h032, reset, *p32, norm=norm)
    ref_out, ref_hT = ops.lngru_sequence_reference(x64, h064, reset, *p64, norm=norm)
    assert_close(out.double(), ref_out, rtol=0, atol=2e-5)
    g32 = grads([out, hT], [x32, h032, *p32])
    g64 = grads([ref_out, ref_hT], [x64, h064, *p64])
    for got, want in zip(g32, g64):
        scale = want.abs().max().item()
        assert_close(got.double(), want, rtol=0, atol=2e-5 * max(1.0, scale))


def _drop_none(params):
    return [t for t in params if t is not None]


def _full(params, norm):
    """The parameter list the ops take, from gradcheck's tensors (gains absent without a norm)."""
    return list(params) + [None, None] if norm == "none" else list(params)


@pytest.mark.parametrize("norm", NORMS)
def test_gradcheck_sequence(norm, capability):
    T, B, I, H = 4, 3, 3, 4
    p = make_params(I, H, norm)
    x, h0, reset = make_inputs(T, B, I, H)
    assert reset.any()

    def f(x, h0, *params):
        return ops.lngru_sequence(x, h0, reset, *_full(params, norm), norm=norm)

    assert torch.autograd.gradcheck(f, [x, h0, *_drop_none(p)])


@pytest.mark.parametrize("norm", NORMS)
def test_only_h_T_used_gets_gradients_and_double_backward_is_refused(norm):
    # the C++ autograd function: an unused output's gradient arrives as zeros (h_T alone feeds
    # the loss), and a graph of the backward, which is not differentiable, is an error rather
    # than silently zero second derivatives
    T, B, I, H = 3, 2, 3, 4
    p = [t.requires_grad_() for t in _drop_none(make_params(I, H, norm))]
    x, h0, reset = make_inputs(T, B, I, H)
    x.requires_grad_()
    _, h_T = ops.lngru_sequence(x, h0, reset, *_full(p, norm), norm=norm)
    ref_out = ops.lngru_sequence_reference(x, h0, reset, *_full(p, norm), norm=norm)[0]
    got = torch.autograd.grad(h_T.sum(), [x, *p])
    want = torch.autograd.grad(ref_out[-1].sum(), [x, *p])
    for a, b in zip(got, want):
        assert_close(a, b)
    out, _ = ops.lngru_sequence(x, h0, reset, *_full(p, norm), norm=norm)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(out.sum(), x, create_graph=True)


@pytest.mark.parametrize("norm", NORMS)
def test_gradcheck_cell(norm, capability):
    B, I, H = 3, 4, 5
    p = make_params(I, H, norm)
    x, h, _ = make_inputs(1, B, I, H)

    def f(x, h, *params):
        return ops.lngru_cell(x, h, *_full(params, norm), norm=norm)

    assert torch.autograd.gradcheck(f, [x[0].detach().requires_grad_(), h, *_drop_none(p)])


@settings(max_examples=30, deadline=None)
@given(
    T=st.integers(1, 6), B=st.integers(1, 5), I=st.integers(1, 7), H=st.integers(1, 9),
    norm=st.sampled_from(NORMS), reset_p=st.sampled_from([0.0, 0.3, 1.0]), seed=st.integers(0, 10_000),
    capability=st.sampled_from(CAPABILITIES),
)
def test_random_shapes_match_reference(T, B, I, H, norm, reset_p, seed, capability):
    # odd sizes: vector loops with remainders, H = 1, single rows and steps
    p = make_params(I, H, norm, seed=seed)
    x, h0, reset = make_inputs(T, B, I, H, reset_p=reset_p, seed=seed + 1)
    with cpu_capability(capability):
        out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    ref_out, ref_hT = ops.lngru_sequence_reference(x, h0, reset, *p, norm=norm)
    assert_close(out, ref_out, rtol=1e-11, atol=1e-11)
    assert_close(hT, ref_hT, rtol=1e-11, atol=1e-11)
    inputs = [x, h0, *p]
    with cpu_capability(capability):
        got_grads = grads([out, hT], inputs, seed)
    for got, want in zip(got_grads, grads([ref_out, ref_hT], inputs, seed)):
        assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("norm", NORMS)
def test_reset_zeroes_incoming_state(norm, capability):
    # A reset at t makes everything from t on independent of what came before it.
    T, B, I, H = 6, 2, 3, 4
    p = make_params(I, H, norm)
    x, h0, _ = make_inputs(T, B, I, H)
    reset = torch.zeros(T, B, dtype=torch.bool)
    reset[3, 0] = True
    out, _ = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    fresh, _ = ops.lngru_sequence(x[3:].detach(), torch.zeros(B, H, dtype=x.dtype), None, *p, norm=norm)
    assert_close(out[3:, 0], fresh[:, 0])
    assert not torch.allclose(out[3:, 1], fresh[:, 1])
    # and no gradient reaches h0 of the reset row through the steps after the reset
    g = torch.autograd.grad(out[3:, 0].sum(), h0)[0]
    assert torch.count_nonzero(g[0]) == 0


def test_reset_accepts_0_1_tensors():
    T, B, I, H = 5, 3, 2, 4
    p = make_params(I, H, "layernorm")
    x, h0, reset = make_inputs(T, B, I, H)
    want = ops.lngru_sequence(x, h0, reset, *p)[0]
    for as_type in (torch.uint8, torch.int64, torch.float32):
        assert_close(ops.lngru_sequence(x, h0, reset.to(as_type), *p)[0], want)
    with pytest.raises(ValueError, match="reset must be bool or hold only 0/1"):
        ops.lngru_sequence(x, h0, reset.to(torch.int64) * 2, *p)


@pytest.mark.parametrize("spelling", [dict(layer_norm=False), dict(norm="none")])
def test_without_gains_equals_grucell(spelling):
    torch.manual_seed(0)
    T, B, I, H = 5, 3, 4, 6
    cell = torch.nn.GRUCell(I, H)
    mod = LNGRU(I, H, **spelling)
    mod.load_state_dict(cell.state_dict())  # a GRUCell state_dict loads as it is
    x = torch.randn(T, B, I)
    h = torch.randn(B, H)
    out, hT = mod(x, h)
    want = []
    state = h
    for t in range(T):
        state = cell(x[t], state)
        want.append(state)
    assert_close(out, torch.stack(want), rtol=1e-5, atol=1e-6)
    assert_close(hT, state, rtol=1e-5, atol=1e-6)
    assert_close(mod.step(x[0], h), cell(x[0], h), rtol=1e-5, atol=1e-6)
    assert set(dict(mod.named_parameters())) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_module_with_a_norm_has_gains_and_trains(norm):
    torch.manual_seed(0)
    mod = LNGRU(3, 5, norm=norm)
    assert set(dict(mod.named_parameters())) == {
        "weight_ih", "weight_hh", "bias_ih", "bias_hh", "gamma_ih", "gamma_hh"}
    x = torch.randn(4, 2, 3)
    out, hT = mod(x)
    (out.sum() + hT.sum()).backward()
    for name, p in mod.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", NORMS)
def test_module_runs_the_op_with_its_norm(norm):
    torch.manual_seed(0)
    mod = LNGRU(3, 5, norm=norm).double()
    with torch.no_grad():  # gains away from 1, so a norm that ignored them would show
        for prm in mod.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    x, h0, reset = make_inputs(4, 2, 3, 5)
    params = [mod.weight_ih, mod.weight_hh, mod.bias_ih, mod.bias_hh, mod.gamma_ih, mod.gamma_hh]
    out, hT = mod(x, h0, reset)
    want_out, want_hT = ops.lngru_sequence_reference(x, h0, reset, *params, norm=norm)
    assert_close(out, want_out, rtol=1e-12, atol=1e-12)
    assert_close(mod.step(x[0], h0), ops.lngru_cell_reference(x[0], h0, *params, norm=norm),
                 rtol=1e-12, atol=1e-12)


def test_module_norm_spellings_and_repr():
    assert LNGRU(3, 5).norm == "layernorm"                       # the default, as before
    assert LNGRU(3, 5, layer_norm=True).norm == "layernorm"
    assert LNGRU(3, 5, True).norm == "layernorm"                 # positional, as before
    assert LNGRU(3, 5, layer_norm=False).norm == "none"
    rms = LNGRU(3, 5, norm="rmsnorm")
    assert rms.norm == "rmsnorm" and rms.layer_norm is False
    assert LNGRU(3, 5, norm="layernorm").layer_norm is True
    assert LNGRU(3, 5, layer_norm=True, norm="layernorm").norm == "layernorm"  # agreeing spellings
    assert "norm='rmsnorm'" in repr(rms)
    assert "norm='none'" in repr(LNGRU(3, 5, layer_norm=False))
    # the gains keep their names whichever norm, so a LayerNorm state_dict loads into RMSNorm
    rms.load_state_dict(LNGRU(3, 5).state_dict())
    with pytest.raises(ValueError, match="norm must be one of"):
        LNGRU(3, 5, norm="batchnorm")
    with pytest.raises(ValueError, match="contradicts"):
        LNGRU(3, 5, layer_norm=True, norm="rmsnorm")
    with pytest.raises(ValueError, match="contradicts"):
        LNGRU(3, 5, layer_norm=False, norm="layernorm")


def test_runs_from_threads_with_gil_released():
    # Users call the op from threads: results must be the same as a serial call.
    import threading
    T, B, I, H = 8, 4, 6, 16
    p = _float32(make_params(I, H, "layernorm"))
    x, h0, reset = _float32(make_inputs(T, B, I, H))
    want = ops.lngru_sequence(x, h0, reset, *p)[0]
    results = [None] * 4

    def work(i):
        results[i] = ops.lngru_sequence(x, h0, reset, *p)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert torch.equal(r, want)


@pytest.mark.parametrize("norm", NORMS)
def test_nan_input_gives_nan_output_float32(norm, capability):
    # NaN must come out of the float32 kernel's own exp/tanh as NaN (not clamped to a finite
    # value), only where it flows, and a reset must discard it.
    T, B, I, H = 6, 3, 5, 8
    p = _float32(make_params(I, H, norm))
    x, h0, _ = _float32(make_inputs(T, B, I, H))
    reset = torch.zeros(T, B, dtype=torch.bool)
    reset[4, 0] = True
    clean, _ = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    assert torch.isfinite(clean).all()
    x_nan = x.clone()
    x_nan[1, 0, 2] = float("nan")
    out, hT = ops.lngru_sequence(x_nan, h0, reset, *p, norm=norm)
    assert torch.isnan(out[1:4, 0]).all()          # from the NaN step until the reset
    assert torch.equal(out[4:, 0], clean[4:, 0])   # the reset discards the NaN state
    assert torch.equal(out[:, 1:], clean[:, 1:])   # other rows untouched
    assert torch.equal(out[:1], clean[:1])


@pytest.mark.parametrize("gate", ["r", "z", "n"])
def test_nan_through_each_gate_activation_float32(gate, capability):
    # A NaN bias of one gate of unit j reaches exactly one activation (sigmoid for r and z,
    # tanh for n) before it mixes: out[0, :, j] must be NaN and every other unit finite.
    T, B, I, H = 1, 4, 5, 8
    j = 3
    p = _float32(make_params(I, H, "none"))
    x, h0, reset = _float32(make_inputs(T, B, I, H))
    p[2] = p[2].clone()
    p[2][{"r": 0, "z": 1, "n": 2}[gate] * H + j] = float("nan")  # bias_ih
    out, _ = ops.lngru_sequence(x, h0, reset, *p)
    assert torch.isnan(out[0, :, j]).all()
    others = [k for k in range(H) if k != j]
    assert torch.isfinite(out[0][:, others]).all()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_reset_discards_an_inf_or_nan_state(norm, impl, capability):
    # Rows of h0 that are inf or NaN and reset at t = 0 are discarded: outputs and every
    # gradient are finite and equal to the same call with those rows zeroed.
    f = ops.lngru_sequence if impl == "fused" else ops.lngru_sequence_reference
    T, B, I, H = 5, 4, 3, 6
    p = make_params(I, H, norm)
    x, h0, reset = make_inputs(T, B, I, H)
    reset = reset.clone()
    reset[0] = torch.tensor([True, False, True, True])
    bad = h0.detach().clone()
    bad[0], bad[2], bad[3] = float("inf"), float("-inf"), float("nan")
    zeroed = h0.detach().clone()
    zeroed[reset[0]] = 0.0
    results = []
    for start in (bad, zeroed):
        start = start.requires_grad_()
        out, hT = f(x, start, reset, *p, norm=norm)
        inputs = [x, start, *p]
        results.append((out, hT, grads([out, hT], inputs)))
    (out, hT, g), (want_out, want_hT, want_g) = results
    assert torch.isfinite(out).all() and torch.isfinite(hT).all()
    assert_close(out, want_out, rtol=0, atol=0)
    assert_close(hT, want_hT, rtol=0, atol=0)
    for name, got, want in zip(PARAM_NAMES, g, want_g):
        assert torch.isfinite(got).all(), name
        assert_close(got, want, rtol=0, atol=0, msg=lambda m, name=name: f"d{name}: {m}")
    assert torch.count_nonzero(g[1][reset[0]]) == 0  # nothing reaches a discarded row


def test_cpu_capabilities_switch_and_refuse_unknown_names():
    ext = ops._ext()
    assert CAPABILITIES[0] == "default" and set(CAPABILITIES) <= {"default", "avx", "avx2"}
    assert ext.cpu_capability() == CAPABILITIES[-1]  # the best one is in use
    if ext.build_info["x86_sets"] and platform.machine() in ("x86_64", "AMD64"):
        assert len(CAPABILITIES) >= 2  # every x86-64 CPU since 2011 has AVX
    for name in CAPABILITIES:
        with cpu_capability(name):
            assert ext.cpu_capability() == name
    with pytest.raises(RuntimeError, match='cpu capability must be "default", "avx" or "avx2", got "sse9"'):
        ext.set_cpu_capability("sse9")


def test_float32_results_of_every_capability_agree():
    # Each set is held to the float64 reference above; here they agree with each other to
    # float32 rounding (FMA and vector order differ), and each is deterministic.
    T, B, I, H = 9, 5, 7, 33
    p = _float32(make_params(I, H, "layernorm"))
    x, h0, reset = _float32(make_inputs(T, B, I, H))
    outs = []
    for name in CAPABILITIES:
        with cpu_capability(name):
            first = ops.lngru_sequence(x, h0, reset, *p)[0]
            assert torch.equal(first, ops.lngru_sequence(x, h0, reset, *p)[0])
            outs.append(first)
    for out in outs[1:]:
        assert_close(out, outs[0], rtol=0, atol=1e-5)


def test_cpu_blas_is_torchs_own_where_torch_has_mkl():
    # The products call torch's sgemm_/dgemm_, found at run time in torch's CPU library;
    # the x86-64 wheels (MKL, linked in, 32-bit integers) export them and pass the
    # self-test, so the direct path is the one in use unless PYRL_CPU_BLAS says aten.
    ext = ops._ext()
    assert ext.lngru_cpu_blas() in ("direct", "aten")
    if torch.backends.mkl.is_available() and sys.platform.startswith("linux"):
        assert ext._cpu_blas_self_test("torch")
        want = "aten" if os.environ.get("PYRL_CPU_BLAS") == "aten" else "direct"
        assert ext.lngru_cpu_blas() == want
    with pytest.raises(RuntimeError, match='cpu blas must be "direct" or "aten", got "mkl"'):
        ext.set_lngru_cpu_blas("mkl")


def test_the_blas_self_test_refuses_a_blas_that_reads_64_bit_integers():
    # The self-test against naive stand-ins with the BLAS signature: one reading 32-bit
    # integers passes; one reading 64-bit integers (as MKL ILP64 or OpenBLAS INTERFACE64 would
    # behind the same name) sees the sentinels as negative sizes, refuses like xerbla, and
    # fails; one that ignores the transposes fails on the numbers.
    ext = ops._ext()
    assert ext._cpu_blas_self_test("lp64")
    assert not ext._cpu_blas_self_test("ilp64")
    assert not ext._cpu_blas_self_test("no-transpose")
    with pytest.raises(RuntimeError, match="against must be"):
        ext._cpu_blas_self_test("mkl")


_BLAS_PROBE = (
    "import torch\n"
    "from pyrl import ops\n"
    "from pyrl.nn import LNGRU\n"
    "torch.manual_seed(0)\n"
    "m = LNGRU(3, 5)\n"
    "out = m(torch.randn(4, 2, 3, dtype=torch.float64).float())[0]\n"
    "print(ops._ext().lngru_cpu_blas(), out.sum().item())\n")


def _probe(value):
    env = {**os.environ, "PYRL_CPU_BLAS": value}
    return subprocess.run([sys.executable, "-c", _BLAS_PROBE], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not (torch.backends.mkl.is_available() and sys.platform.startswith("linux")),
                    reason="the direct path needs torch's MKL")
def test_pyrl_cpu_blas_selects_the_path_and_both_agree():
    got = {}
    for value in ("aten", "direct", "auto", ""):
        proc = _probe(value)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""  # no fallback message where the self-test passes
        path, total = proc.stdout.split()
        got[value] = (path, float(total))
    assert [got[v][0] for v in ("aten", "direct", "auto", "")] == ["aten", "direct", "direct", "direct"]
    assert got["aten"][1] == pytest.approx(got["direct"][1], rel=1e-5, abs=1e-5)


def test_an_invalid_pyrl_cpu_blas_is_one_clear_error():
    proc = _probe("mkl")
    assert proc.returncode == 1
    assert 'PYRL_CPU_BLAS must be aten, direct or auto, got "mkl"' in proc.stderr
    assert "Segmentation" not in proc.stderr


@pytest.mark.parametrize("norm", NORMS)
def test_aten_products_fallback_matches_reference(norm):
    # Where torch's BLAS is not found the products go through at::mm on views of the same
    # buffers (strides, transposes, accumulation): held to the reference like the direct path.
    T, B, I, H = 5, 3, 4, 6
    p = make_params(I, H, norm)
    x, h0, reset = make_inputs(T, B, I, H, reset_p=0.3)
    inputs = [x, h0, *p]
    with cpu_blas("aten"):
        out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
        got = grads([out, hT], inputs)
    ref_out, ref_hT = ops.lngru_sequence_reference(x, h0, reset, *p, norm=norm)
    assert_close(out, ref_out, rtol=1e-11, atol=1e-11)
    assert_close(hT, ref_hT, rtol=1e-11, atol=1e-11)
    for g, want in zip(got, grads([ref_out, ref_hT], inputs)):
        assert_close(g, want, rtol=1e-9, atol=1e-10)


CXX = shutil.which("g++") or shutil.which("c++")


@pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the UBSan check")
def test_float_activations_nan_and_inf_without_undefined_behaviour(tmp_path):
    # The float activations alone, under UBSan: NaN in, NaN out, and no NaN-to-int
    # conversion on the way (undefined behaviour that happened to give NaN on x86).
    src = tmp_path / "act.cpp"
    src.write_text(r"""
#include <cmath>
#include <cstdio>
#include "lngru_activations.h"
using namespace pyrl::act;
int main() {
  volatile float nan = NAN, inf = INFINITY;  // volatile: evaluated at run time
  const bool ok = std::isnan(exp_fast(nan)) && std::isnan(sigmoid_fn(nan)) &&
                  std::isnan(tanh_fn(nan)) && std::isfinite(exp_fast(inf)) &&
                  exp_fast(-inf) >= 0.0f && exp_fast(-inf) < 1e-37f &&
                  sigmoid_fn(inf) == 1.0f && sigmoid_fn(-inf) < 1e-37f &&
                  tanh_fn(inf) == 1.0f && tanh_fn(-inf) == -1.0f;
  std::printf(ok ? "ok\n" : "wrong values\n");
  return ok ? 0 : 1;
}
""")
    csrc = Path(__file__).resolve().parents[1] / "csrc"
    exe = tmp_path / "act"
    flags = ["-std=c++17", "-O1", "-fno-trapping-math", "-fsanitize=undefined,float-cast-overflow",
             "-fno-sanitize-recover=all"]
    build = subprocess.run([CXX, *flags, f"-I{csrc}", str(src), "-o", str(exe)],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
