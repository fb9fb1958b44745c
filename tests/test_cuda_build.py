"""The CUDA norm-GRU (LayerNorm, RMSNorm, none): its kernels compile (wherever nvcc is), and
on a GPU build the CUDA op matches the pure-PyTorch reference.

- Compile checks need only nvcc: every ``csrc/cuda/*.cu`` builds with ``nvcc -c`` for sm_80
  and sm_90 (the kernels use the CUDA runtime alone, no torch headers, so this runs on
  machines without a GPU or a CUDA torch). Skipped, with the reason, without nvcc.
- Op checks need a GPU and ``pyrl._C`` built with CUDA (``PYRL_CUDA=1``): values and
  gradients against the reference (float64, every norm, resets), gradcheck, bad inputs
  (mixed devices too). Skipped elsewhere; ``scripts/gpu-check`` runs them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from lngru_cases import NORMS, grads, make_inputs, make_params
from pyrl import ops

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "csrc" / "cuda"
CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc") or (
    str(Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc")
    if os.environ.get("CUDA_HOME") and (Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc").exists()
    else None
)
ARCH_FLAGS = ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (PATH or CUDA_HOME): CUDA kernels not compiled")


def _with_cuda_build() -> bool:
    try:
        from pyrl import _C
    except ImportError:
        return False
    return bool(getattr(_C, "with_cuda", False))


needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or not _with_cuda_build(),
    reason="needs a CUDA GPU and pyrl._C built with CUDA (PYRL_CUDA=1; scripts/gpu-check)",
)


# ---- compile checks (nvcc only) ----

def test_cuda_sources_exist():
    assert CU_FILES, f"no .cu files under {CUDA_DIR}"
    assert (CUDA_DIR / "lngru_cuda.cpp").exists()


@pytest.mark.parametrize("path", CU_FILES, ids=[p.name for p in CU_FILES])
def test_kernels_use_no_torch_headers(path):
    # The kernels build with nvcc alone (as haste's lib/): no framework header in them.
    for src in [path, *sorted(CUDA_DIR.glob("*.h"))]:
        includes = re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', src.read_text(), re.M)
        bad = [i for i in includes if i.split("/")[0] in ("torch", "ATen", "c10", "pybind11")
               or i in ("pyrl.h", "Python.h")]
        assert not bad, f"{src.name} includes framework headers: {bad}"


@needs_nvcc
@pytest.mark.parametrize("path", CU_FILES, ids=[p.name for p in CU_FILES])
def test_cu_compiles_for_sm80_and_sm90(path, tmp_path):
    cmd = [NVCC, "-c", "-std=c++17", "-O3", f"-I{ROOT / 'csrc'}", *ARCH_FLAGS, str(path),
           "-o", str(tmp_path / (path.stem + ".o"))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print(proc.stderr)
    assert proc.returncode == 0, f"nvcc failed on {path.name}:\n{' '.join(cmd)}\n{proc.stderr}"
    assert (tmp_path / (path.stem + ".o")).stat().st_size > 0


@needs_nvcc
def test_kernel_header_is_plain_host_cpp(tmp_path):
    # lngru_cuda.cpp includes the header under the host compiler: it must be plain C++ there.
    # `nvcc -x c++` runs only the host compiler, with CUDA's include path, no __CUDACC__.
    src = tmp_path / "use_header.cpp"
    src.write_text('#include "lngru_kernels.h"\n#ifdef __CUDACC__\n#error not a host build\n#endif\n'
                   "int main() { return 0; }\n")
    proc = subprocess.run([NVCC, "-x", "c++", "-std=c++17", f"-I{CUDA_DIR}", "-c", str(src),
                           "-o", str(tmp_path / "use_header.o")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


@needs_nvcc
@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available() and _with_cuda_build(),
                    reason="this machine builds and runs the CUDA op itself")
def test_cuda_build_compiles_and_links_against_a_cuda_torch():
    # The launcher and bindings with PYRL_WITH_CUDA, compiled against the ATen/c10 CUDA headers
    # of the GPU image's torch (a wheel fetched, never imported) and linked with --no-undefined:
    # what only a GPU machine's build would otherwise find (torch 2.11's headers, for one, made
    # Tensor::sum({0, 1}) ambiguous). The wheel is reused from build/ once fetched.
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "cuda-build-check")], capture_output=True,
                          text=True, timeout=1200, env={**os.environ, "PYRL_PYTHON": sys.executable})
    if proc.returncode == 3:
        pytest.skip(f"could not fetch the CUDA torch wheel: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "cuda-build-check: OK" in proc.stdout


# ---- the CUDA op against the reference (GPU + CUDA build) ----

def _params(*args, device="cuda", **kwargs):
    return make_params(*args, device=device, **kwargs)


def _inputs(*args, device="cuda", **kwargs):
    return make_inputs(*args, device=device, **kwargs)


_grads = grads


def _cpu_copy(tensors):
    return [t.detach().cpu().requires_grad_() if t is not None else None for t in tensors]


# (T, B, I, H): tiny, a row wider than one block (H > 256: several units per thread), a
# 3H that is no multiple of 32, and B large enough for many blocks.
SHAPES = [(7, 4, 5, 6), (1, 1, 1, 1), (3, 2, 5, 257), (4, 3, 7, 33), (5, 70, 3, 8)]


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cuda_matches_reference_float64(norm, shape):
    T, B, I, H = shape
    p = _params(I, H, norm)
    x, h0, reset = _inputs(T, B, I, H, reset_p=0.3 if T > 1 else 1.0)
    out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    assert out.is_cuda and hT.is_cuda
    # The reference on the CPU, from the same values: the truth is device-independent.
    xc, h0c, *pc = _cpu_copy([x, h0, *p])
    ref_out, ref_hT = ops.lngru_sequence_reference(xc, h0c, reset.cpu(), *pc, norm=norm)
    assert_close(out.cpu(), ref_out, rtol=1e-11, atol=1e-11)
    assert_close(hT.cpu(), ref_hT, rtol=1e-11, atol=1e-11)
    got = _grads([out, hT], [x, h0, *p])
    want = _grads([ref_out, ref_hT], [xc, h0c, *pc])
    for name, a, b in zip(["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "gamma_ih",
                           "gamma_hh"], got, want):
        assert_close(a.cpu(), b, rtol=1e-9, atol=1e-10, msg=lambda m, name=name: f"d{name}: {m}")


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("reset_p", [0.0, 1.0])
def test_cuda_no_resets_and_all_resets(norm, reset_p):
    T, B, I, H = 5, 3, 4, 9
    p = _params(I, H, norm)
    x, h0, reset = _inputs(T, B, I, H, reset_p=reset_p)
    out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    xc, h0c, *pc = _cpu_copy([x, h0, *p])
    ref_out, ref_hT = ops.lngru_sequence_reference(xc, h0c, reset.cpu(), *pc, norm=norm)
    assert_close(out.cpu(), ref_out, rtol=1e-11, atol=1e-11)
    for a, b in zip(_grads([out, hT], [x, h0, *p]), _grads([ref_out, ref_hT], [xc, h0c, *pc])):
        assert_close(a.cpu(), b, rtol=1e-9, atol=1e-10)
    if reset_p == 1.0:  # nothing reaches h0 through a reset at step 0
        out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
        g = torch.autograd.grad(out.sum() + hT.sum(), h0)[0]
        assert torch.count_nonzero(g) == 0


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_float32_close_to_float64_reference(norm):
    T, B, I, H = 20, 8, 64, 128
    p64 = _params(I, H, norm, device="cpu")
    x64, h064, reset = _inputs(T, B, I, H, device="cpu")
    p32 = [t.detach().float().cuda().requires_grad_() if t is not None else None for t in p64]
    x32 = x64.detach().float().cuda().requires_grad_()
    h032 = h064.detach().float().cuda().requires_grad_()
    out, hT = ops.lngru_sequence(x32, h032, reset.cuda(), *p32, norm=norm)
    assert out.dtype == torch.float32
    ref_out, ref_hT = ops.lngru_sequence_reference(x64, h064, reset, *p64, norm=norm)
    assert_close(out.double().cpu(), ref_out, rtol=0, atol=2e-5)
    for got, want in zip(_grads([out, hT], [x32, h032, *p32]), _grads([ref_out, ref_hT], [x64, h064, *p64])):
        scale = want.abs().max().item()
        assert_close(got.double().cpu(), want, rtol=0, atol=2e-5 * max(1.0, scale))


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_matches_cpu_fused_op(norm):
    T, B, I, H = 6, 5, 4, 40
    p = _params(I, H, norm)
    x, h0, reset = _inputs(T, B, I, H)
    out, hT = ops.lngru_sequence(x, h0, reset, *p, norm=norm)
    xc, h0c, *pc = _cpu_copy([x, h0, *p])
    cpu_out, cpu_hT = ops.lngru_sequence(xc, h0c, reset.cpu(), *pc, norm=norm)
    assert_close(out.cpu(), cpu_out, rtol=1e-12, atol=1e-12)
    assert_close(hT.cpu(), cpu_hT, rtol=1e-12, atol=1e-12)


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_gradcheck_sequence(norm):
    T, B, I, H = 4, 3, 3, 4
    p = _params(I, H, norm)
    x, h0, reset = _inputs(T, B, I, H)
    inputs = [t for t in (x, h0, *p) if t is not None]

    def f(x, h0, *params):
        full = list(params) + [None, None] if norm == "none" else list(params)
        return ops.lngru_sequence(x, h0, reset, *full, norm=norm)

    assert torch.autograd.gradcheck(f, inputs)


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_gradcheck_cell(norm):
    B, I, H = 3, 4, 5
    p = _params(I, H, norm)
    x, h, _ = _inputs(1, B, I, H)
    inputs = [t for t in (x[0].detach().requires_grad_(), h, *p) if t is not None]

    def f(x, h, *params):
        full = list(params) + [None, None] if norm == "none" else list(params)
        return ops.lngru_cell(x, h, *full, norm=norm)

    assert torch.autograd.gradcheck(f, inputs)


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_reset_discards_an_inf_or_nan_state(norm):
    # As on the CPU: h0 rows that are inf/NaN and reset at t = 0 give the outputs and
    # gradients of zeroed rows (the saved state is built with a select, not h * (1 - reset)).
    T, B, I, H = 5, 4, 3, 6
    p = _params(I, H, norm)
    x, h0, reset = _inputs(T, B, I, H)
    reset[0] = torch.tensor([True, False, True, True], device="cuda")
    bad = h0.detach().clone()
    bad[0], bad[2], bad[3] = float("inf"), float("-inf"), float("nan")
    zeroed = h0.detach().clone()
    zeroed[reset[0]] = 0.0
    results = []
    for start in (bad, zeroed):
        start = start.requires_grad_()
        out, hT = ops.lngru_sequence(x, start, reset, *p, norm=norm)
        results.append((out, _grads([out, hT], [x, start, *p])))
    (out, g), (want_out, want_g) = results
    assert torch.isfinite(out).all()
    assert_close(out, want_out, rtol=0, atol=0)
    for got, want in zip(g, want_g):
        assert torch.isfinite(got).all()
        assert_close(got, want, rtol=0, atol=0)


@needs_gpu
def test_cuda_on_a_side_stream_and_other_current_device():
    # Work is enqueued on the current stream; a result read after that stream is synced.
    T, B, I, H = 9, 6, 5, 12
    p = _params(I, H, "layernorm")
    x, h0, reset = _inputs(T, B, I, H)
    want = ops.lngru_sequence(x, h0, reset, *p)[0].detach().cpu()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        got = ops.lngru_sequence(x, h0, reset, *p)[0]
    s.synchronize()
    assert_close(got.detach().cpu(), want, rtol=1e-12, atol=1e-12)
    if torch.cuda.device_count() > 1:  # tensors on cuda:1 while cuda:0 is current: the guard
        xs, h0s, rs, *ps = [t.detach().to("cuda:1") if t is not None else None for t in (x, h0, reset, *p)]
        with torch.cuda.device(0):
            got1 = ops.lngru_sequence(xs, h0s, rs, *ps)[0]
        assert got1.device == torch.device("cuda:1")
        assert_close(got1.cpu(), want, rtol=1e-12, atol=1e-12)


@needs_gpu
@pytest.mark.parametrize("norm", NORMS)
def test_cuda_module_uses_fused_op(monkeypatch, norm):
    from pyrl.nn import LNGRU

    def no_eager(*args, **kwargs):
        raise AssertionError("LNGRU on CUDA fell back to the eager reference")

    monkeypatch.setattr(ops, "lngru_sequence_reference", no_eager)
    monkeypatch.setattr(ops, "lngru_cell_reference", no_eager)
    torch.manual_seed(0)
    mod = LNGRU(3, 5, norm=norm).cuda()
    x = torch.randn(4, 2, 3, device="cuda")
    out, hT = mod(x)
    h1 = mod.step(x[0], hT)
    (out.sum() + hT.sum() + h1.sum()).backward()
    assert out.is_cuda and h1.is_cuda
    for name, prm in mod.named_parameters():
        assert prm.grad is not None and torch.isfinite(prm.grad).all(), name


def _good_cuda(dtype=torch.float32, norm="layernorm"):
    T, B, I, H = 3, 2, 4, 5
    kw = dict(device="cuda", dtype=dtype)
    return dict(norm=norm,
        x=torch.randn(T, B, I, **kw), h0=torch.zeros(B, H, **kw),
        reset=torch.zeros(T, B, dtype=torch.bool, device="cuda"),
        weight_ih=torch.randn(3 * H, I, **kw), weight_hh=torch.randn(3 * H, H, **kw),
        bias_ih=torch.zeros(3 * H, **kw), bias_hh=torch.zeros(3 * H, **kw),
        gamma_ih=torch.ones(3 * H, **kw), gamma_hh=torch.ones(3 * H, **kw),
    )


BAD = [
    # (argument, how to spoil it, message)
    ("h0", lambda a: a["h0"].cpu(), r"h0 is on cpu but x is on cuda:0"),
    ("reset", lambda a: a["reset"].cpu(), r"reset is on cpu but x is on cuda:0"),
    ("weight_hh", lambda a: a["weight_hh"].cpu(), r"weight_hh is on cpu but x is on cuda:0"),
    ("gamma_ih", lambda a: a["gamma_ih"].cpu(), r"gamma_ih is on cpu but x is on cuda:0"),
    ("bias_ih", lambda a: a["bias_ih"].cpu(), r"bias_ih is on cpu but x is on cuda:0"),
    ("h0", lambda a: a["h0"][:1], r"h0 must have shape"),
    ("x", lambda a: a["x"][0], r"x must have 3 dimensions"),
    ("weight_ih", lambda a: a["weight_ih"][:, :-1].contiguous(), r"weight_ih must have shape"),
    ("weight_hh", lambda a: a["weight_hh"].double(), r"weight_hh has dtype"),
    ("x", lambda a: a["x"].half(), r"x must be float32 or float64"),
    ("x", lambda a: a["x"].transpose(0, 1).contiguous().transpose(0, 1), r"x must be contiguous"),
    ("weight_ih", lambda a: a["weight_ih"].t().contiguous().t(), r"weight_ih must be contiguous"),
    ("gamma_hh", lambda a: None, r"both gamma_ih and gamma_hh"),
    ("reset", lambda a: torch.zeros(4, 2, dtype=torch.bool, device="cuda"), r"reset must have shape"),
]


@needs_gpu
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
@pytest.mark.parametrize("name, spoil, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_cuda_bad_input_names_the_argument(name, spoil, message, norm):
    args = _good_cuda(norm=norm)
    args[name] = spoil(args)
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        ops.lngru_sequence(**args)


@needs_gpu
def test_cpu_x_with_cuda_h0_is_refused_by_the_cpu_op():
    args = _good_cuda()
    args["x"] = args["x"].cpu()
    with pytest.raises(RuntimeError, match=r"h0 is on cuda:0 but x is on cpu"):
        ops.lngru_sequence(**args)


@needs_gpu
def test_cuda_backward_checks_saved_and_upstream_tensors():
    from pyrl import _C
    args = _good_cuda()
    ga, gh = args["gamma_ih"], args["gamma_hh"]
    fwd = _C.lngru_forward(args["x"], args["h0"], args["reset"], args["weight_ih"], args["weight_hh"],
                           args["bias_ih"], args["bias_hh"], ga, gh, 1e-5, "layernorm")
    out = fwd[0]
    with pytest.raises(RuntimeError, match=r"grad_out is on cpu but x is on cuda:0"):
        _C.lngru_backward(torch.ones_like(out).cpu(), torch.ones_like(out[0]), args["x"], args["h0"],
                          args["reset"], args["weight_ih"], args["weight_hh"], args["bias_hh"],
                          ga, gh, *fwd, "layernorm")
    with pytest.raises(RuntimeError, match=r"rstd must have shape"):
        _C.lngru_backward(torch.ones_like(out), torch.ones_like(out[0]), args["x"], args["h0"],
                          args["reset"], args["weight_ih"], args["weight_hh"], args["bias_hh"],
                          ga, gh, *fwd[:3], fwd[3][:, :, :1].contiguous(), fwd[4], "layernorm")
