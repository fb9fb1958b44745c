"""``pyrl bench kernel``: the fused LN-GRU sequence op against what a user would write.

Per case (T, B, I, H), forward and forward+backward, medians of
``torch.utils.benchmark.Timer.blocked_autorange``:

- ``fused``: ``pyrl.ops.lngru_sequence`` (pyrl._C),
- ``eager``: the pure-PyTorch reference ``lngru_sequence_reference`` (one step per t),
- ``compile``: ``torch.compile`` of that reference (optional: slow to compile),
- ``floor``: the matrix products alone (input projection, T recurrent products, and in
  backward the T recurrent products plus the three weight/input gradient products): no
  implementation can be faster than this, so at large sizes the fused op is measured
  against it.

Targets on one CPU thread, float32: forward+backward at A3C size at least 3x faster than
eager; at the larger size within 1.5x of the floor.
"""
from __future__ import annotations

import platform
from typing import Any, Optional

import torch
from torch.utils.benchmark import Timer

from pyrl import ops

# (T, B, I, H): the A3C size, and a larger one.
CASES = [(20, 8, 64, 128), (32, 16, 128, 256)]


def _inputs(T, B, I, H, device, seed=0):
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
    return x, h0, reset, params


def _time(stmt: str, env: dict, min_run_time: float) -> float:
    return Timer(stmt, globals=env).blocked_autorange(min_run_time=min_run_time).median


def _floor(T, B, I, H, device, min_run_time):
    """Time of the matrix products alone (forward, and forward+backward)."""
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

    return _time("f()", {"f": fwd}, min_run_time), _time("f()", {"f": fwd_bwd}, min_run_time)


def run(cases=None, with_compile: bool = False, threads: int = 1, min_run_time: float = 0.5,
        device: str = "cpu") -> dict[str, Any]:
    """Measure every case; returns a JSON-ready dict (times in microseconds)."""
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = []
        compiled: Optional[Any] = None
        if with_compile:
            compiled = torch.compile(ops.lngru_sequence_reference, dynamic=False)
        for T, B, I, H in cases or CASES:
            x, h0, reset, p = _inputs(T, B, I, H, device)
            impls = {"fused": ops.lngru_sequence, "eager": ops.lngru_sequence_reference}
            if compiled is not None:
                impls["compile"] = compiled
            row: dict[str, Any] = {"T": T, "B": B, "I": I, "H": H}
            for name, f in impls.items():
                env = {"f": f, "x": x, "h0": h0, "reset": reset, "p": p}
                fwd_stmt = "with torch.no_grad(): f(x, h0, reset, *p)"
                fb_stmt = "o, h = f(x, h0, reset, *p); (o.sum() + h.sum()).backward()"
                env["torch"] = torch
                f(x, h0, reset, *p)  # warm-up (and compilation)
                row[f"{name}_fwd_us"] = _time(fwd_stmt, env, min_run_time) * 1e6
                row[f"{name}_fwd_bwd_us"] = _time(fb_stmt, env, min_run_time) * 1e6
            floor_f, floor_fb = _floor(T, B, I, H, device, min_run_time)
            row["floor_fwd_us"], row["floor_fwd_bwd_us"] = floor_f * 1e6, floor_fb * 1e6
            row["speedup_vs_eager_fwd_bwd"] = row["eager_fwd_bwd_us"] / row["fused_fwd_bwd_us"]
            row["over_floor_fwd_bwd"] = row["fused_fwd_bwd_us"] / row["floor_fwd_bwd_us"]
            results.append(row)
    finally:
        torch.set_num_threads(prev_threads)
    return {
        "bench": "kernel", "device": device, "threads": threads, "dtype": "float32",
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__},
        "cases": results,
        "targets": {"speedup_vs_eager_fwd_bwd_at_a3c_size": 3.0, "over_floor_fwd_bwd_at_large": 1.5},
    }


def render(result: dict[str, Any], console) -> None:
    from rich.table import Table

    table = Table(title=f"fused LN-GRU sequence, {result['device']}, {result['threads']} thread(s), "
                        f"float32 (median µs)")
    for col in ("T,B,I,H", "pass", "fused", "eager", "compile", "floor", "vs eager", "vs floor"):
        table.add_column(col, justify="right")
    for row in result["cases"]:
        shape = f"{row['T']},{row['B']},{row['I']},{row['H']}"
        for key, label in (("fwd", "fwd"), ("fwd_bwd", "fwd+bwd")):
            fused = row[f"fused_{key}_us"]
            comp = row.get(f"compile_{key}_us")
            table.add_row(
                shape, label, f"{fused:,.0f}", f"{row[f'eager_{key}_us']:,.0f}",
                f"{comp:,.0f}" if comp is not None else "-", f"{row[f'floor_{key}_us']:,.0f}",
                f"{row[f'eager_{key}_us'] / fused:.2f}x", f"{fused / row[f'floor_{key}_us']:.2f}x",
            )
    console.print(table)
    console.print("vs eager: eager time / fused time (higher is better); vs floor: fused time / "
                  "matrix products alone (1.0 is the limit). Targets: fwd+bwd >= 3x eager at "
                  "20,8,64,128; <= 1.5x floor at 32,16,128,256.")
