"""``pyrl bench kernel``: the fused norm-GRU sequence op against what a user would write.

Per case (T, B, I, H) and norm (LayerNorm, RMSNorm, none), forward and forward+backward,
medians of ``torch.utils.benchmark.Timer.blocked_autorange``:

- ``fused``: ``pyrl.ops.lngru_sequence`` (pyrl._C),
- ``eager``: the pure-PyTorch reference ``lngru_sequence_reference`` (one step per t),
- ``compile``: ``torch.compile`` of that reference (optional: slow to compile),
- ``floor``: the matrix products alone (input projection, T recurrent products, and in
  backward the T recurrent products plus the three weight/input gradient products), called
  from Python: an implementation that does the products and nothing else. The same for every
  norm, so it is timed once per case.

- ``baseline`` (optional): the same fused op from another build of ``pyrl._C`` (a ``.so``
  built from another commit with the same op signatures), to measure a change side by side.

The alternatives are timed interleaved, in ``rounds`` rounds (each round times every one of
them once, for ``min_run_time / rounds`` seconds), and each time reported is the median of
its rounds: on a shared machine a burst of load then hits all of them alike, not one.
``clock="cpu"`` times with the thread's CPU time instead of the wall clock: on a machine
shared with other work it leaves out the time the core spent on other processes (one
torch thread, so CPU time is the op's time when the core is free).

Targets on one CPU thread, float32: forward+backward at A3C size at least 3x faster than
eager; at the larger size within 1.3x of the floor; faster than torch.compile in forward and
in forward+backward at both sizes.
"""
from __future__ import annotations

import functools
import importlib.util
import platform
import statistics
import sys
import time
import types
from typing import Any, Optional

import torch
from torch.utils.benchmark import Timer

from pyrl import ops

# (T, B, I, H): the A3C size, and a larger one.
CASES = [(20, 8, 64, 128), (32, 16, 128, 256)]
NORMS = ("layernorm", "rmsnorm", "none")
FWD = "with torch.no_grad(): f(x, h0, reset, *p)"
FWD_BWD = "o, h = f(x, h0, reset, *p); (o.sum() + h.sum()).backward()"
TARGETS = {"speedup_vs_eager_fwd_bwd_at_a3c_size": 3.0, "over_floor_fwd_bwd_at_large": 1.3,
           "over_compile_fwd_and_fwd_bwd_at_both_sizes": 1.0}


def _inputs(T, B, I, H, device, seed=0, norm="layernorm"):
    """x [T,B,I], h0 [B,H], reset [T,B] and the six parameters (gains None without a norm)."""
    g = torch.Generator().manual_seed(seed)
    G = 3 * H
    x = torch.randn(T, B, I, generator=g).to(device).requires_grad_()
    h0 = torch.zeros(B, H, device=device, requires_grad=True)
    reset = (torch.rand(T, B, generator=g) < 0.05).to(device)  # a few episode starts
    params = [
        torch.randn(G, I, generator=g) / I**0.5, torch.randn(G, H, generator=g) / H**0.5,
        torch.zeros(G), torch.zeros(G), torch.ones(G), torch.ones(G),
    ]
    params = [p.to(device).requires_grad_() for p in params]
    if norm == "none":
        params[4:] = [None, None]
    return x, h0, reset, params


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _time(stmt: str, env: dict, min_run_time: float, clock: str = "wall") -> float:
    return Timer(stmt, globals=env, timer=CLOCKS[clock]).blocked_autorange(min_run_time=min_run_time).median


def load_build(path: str):
    """Another build of pyrl._C (a .so file) as a module of its own, beside the installed one."""
    name = f"_pyrl_baseline_{abs(hash(path))}"
    if f"{name}._C" in sys.modules:
        return sys.modules[f"{name}._C"]
    sys.modules.setdefault(name, types.ModuleType(name))  # the .so's init function is PyInit__C
    spec = importlib.util.spec_from_file_location(f"{name}._C", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[f"{name}._C"] = module
    return module


def _fused_from(build, norm: str):
    """ops.lngru_sequence running on `build` (a pyrl._C module) instead of the installed one."""
    def f(*args):
        installed = ops._ext
        ops._ext = lambda: build
        try:
            return ops.lngru_sequence(*args, norm=norm)
        finally:
            ops._ext = installed

    return f


def _floor_fns(T, B, I, H, device):
    """The matrix products alone: (forward, forward+backward) as functions."""
    G = 3 * H
    w_ih, w_hh = torch.randn(G, I, device=device), torch.randn(G, H, device=device)
    x2 = torch.randn(T * B, I, device=device)           # [T*B,I]
    h = torch.randn(B, H, device=device)                # [B,H]
    d3 = torch.randn(T * B, G, device=device)           # [T*B,3H]
    hs = torch.randn(T * B, H, device=device)           # [T*B,H]

    def fwd():
        x2 @ w_ih.t()
        for _ in range(T):
            h @ w_hh.t()

    def fwd_bwd():
        fwd()
        for t in range(T):
            d3[t * B:(t + 1) * B] @ w_hh
        d3 @ w_ih
        d3.t() @ x2
        d3.t() @ hs

    return fwd, fwd_bwd


def _floor(T, B, I, H, device, min_run_time):
    """Time of the matrix products alone (forward, and forward+backward), in seconds."""
    fwd, fwd_bwd = _floor_fns(T, B, I, H, device)
    return _time("f()", {"f": fwd}, min_run_time), _time("f()", {"f": fwd_bwd}, min_run_time)


def run(cases=None, with_compile: bool = False, threads: int = 1, min_run_time: float = 0.5,
        device: str = "cpu", norms=NORMS, rounds: int = 3, clock: str = "wall",
        baseline: Optional[str] = None) -> dict[str, Any]:
    """Measure every case and norm; returns a JSON-ready dict (times in microseconds).
    `baseline`: path of another pyrl._C build to time beside the installed one."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    base_build = load_build(baseline) if baseline else None
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    per_round = min_run_time / rounds
    try:
        results = []
        compiled: Optional[Any] = None
        for T, B, I, H in cases or CASES:
            if with_compile:
                # One case's graphs at a time (3 norms x grad on/off), all kept for the
                # interleaved rounds: fewer than dynamo's recompile limit (8), so none of
                # them silently falls back to eager.
                torch._dynamo.reset()
                compiled = torch.compile(ops.lngru_sequence_reference, dynamic=False)
            # Every timing of this case: (row, key, stmt, env); rows share the floor.
            timings: list[tuple[dict, str, str, dict]] = []
            rows = []
            floor_fwd, floor_fwd_bwd = _floor_fns(T, B, I, H, device)
            floor_row: dict[str, Any] = {}
            timings += [(floor_row, "floor_fwd_us", "f()", {"f": floor_fwd}),
                        (floor_row, "floor_fwd_bwd_us", "f()", {"f": floor_fwd_bwd})]
            for norm in norms:
                x, h0, reset, p = _inputs(T, B, I, H, device, norm=norm)
                impls = {"fused": functools.partial(ops.lngru_sequence, norm=norm),
                         "eager": functools.partial(ops.lngru_sequence_reference, norm=norm)}
                if compiled is not None:
                    impls["compile"] = functools.partial(compiled, norm=norm)
                if base_build is not None:
                    impls["baseline"] = _fused_from(base_build, norm)
                row: dict[str, Any] = {"T": T, "B": B, "I": I, "H": H, "norm": norm}
                rows.append(row)
                for name, f in impls.items():
                    env = {"f": f, "x": x, "h0": h0, "reset": reset, "p": p, "torch": torch}
                    with torch.no_grad():  # warm-up (and compilation of both graphs)
                        f(x, h0, reset, *p)
                    o, h = f(x, h0, reset, *p)
                    (o.sum() + h.sum()).backward()
                    timings += [(row, f"{name}_fwd_us", FWD, env), (row, f"{name}_fwd_bwd_us", FWD_BWD, env)]
            samples: dict[tuple[int, str], list[float]] = {}
            for _ in range(rounds):  # interleaved: each round times every alternative once
                for target, key, stmt, env in timings:
                    samples.setdefault((id(target), key), []).append(
                        _time(stmt, env, per_round, clock) * 1e6)
            for target, key, _, _ in timings:
                target[key] = statistics.median(samples[(id(target), key)])
            for row in rows:
                row.update(floor_row)
                for key in ("fwd", "fwd_bwd"):
                    row[f"speedup_vs_eager_{key}"] = row[f"eager_{key}_us"] / row[f"fused_{key}_us"]
                    row[f"over_floor_{key}"] = row[f"fused_{key}_us"] / row[f"floor_{key}_us"]
                    if f"compile_{key}_us" in row:  # > 1: the fused op is faster
                        row[f"over_compile_{key}"] = row[f"compile_{key}_us"] / row[f"fused_{key}_us"]
                    if f"baseline_{key}_us" in row:  # > 1: the installed build is faster
                        row[f"over_baseline_{key}"] = row[f"baseline_{key}_us"] / row[f"fused_{key}_us"]
                results.append(row)
    finally:
        torch.set_num_threads(prev_threads)
    ext = ops._ext()
    return {
        "bench": "kernel", "device": device, "threads": threads, "dtype": "float32",
        "rounds": rounds, "clock": clock, "baseline": baseline,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__,
                    "cpu_capability": ext.cpu_capability() if hasattr(ext, "cpu_capability") else None,
                    "cpu_blas": ext.lngru_cpu_blas() if hasattr(ext, "lngru_cpu_blas") else None},
        "cases": results,
        "targets": TARGETS,
    }


def render(result: dict[str, Any], console) -> None:
    from rich.table import Table

    base = result.get("baseline")
    table = Table(title=f"fused norm-GRU sequence (LN-GRU, RMSNorm-GRU, GRU), {result['device']}, "
                        f"{result['threads']} thread(s), float32, {result.get('clock', 'wall')} clock "
                        f"(median µs)")
    cols = ["T,B,I,H", "norm", "pass", "fused", *(["baseline"] if base else []), "eager", "compile",
            "floor", "vs eager", "vs floor", "vs compile", *(["vs baseline"] if base else [])]
    for col in cols:
        table.add_column(col, justify="right")
    for row in result["cases"]:
        shape = f"{row['T']},{row['B']},{row['I']},{row['H']}"
        for key, label in (("fwd", "fwd"), ("fwd_bwd", "fwd+bwd")):
            fused = row[f"fused_{key}_us"]
            comp = row.get(f"compile_{key}_us")
            cells = [shape, row["norm"], label, f"{fused:,.0f}"]
            if base:
                cells.append(f"{row[f'baseline_{key}_us']:,.0f}")
            cells += [
                f"{row[f'eager_{key}_us']:,.0f}", f"{comp:,.0f}" if comp is not None else "-",
                f"{row[f'floor_{key}_us']:,.0f}", f"{row[f'eager_{key}_us'] / fused:.2f}x",
                f"{fused / row[f'floor_{key}_us']:.2f}x", f"{comp / fused:.2f}x" if comp is not None else "-",
            ]
            if base:
                cells.append(f"{row[f'baseline_{key}_us'] / fused:.2f}x")
            table.add_row(*cells)
    console.print(table)
    console.print("vs eager: eager time / fused time (higher is better); vs floor: fused time / "
                  "matrix products alone (1.0 is the limit); vs compile: torch.compile time / fused "
                  "time (above 1: fused is faster). Targets: fwd+bwd >= 3x eager at 20,8,64,128; "
                  "<= 1.3x floor at 32,16,128,256; faster than torch.compile in fwd and fwd+bwd at "
                  "both sizes." + (f" baseline: {base} (vs baseline: its time / fused time)." if base else ""))
