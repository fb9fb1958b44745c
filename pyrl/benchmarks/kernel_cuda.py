"""``pyrl bench kernel --device cuda``: the fused LN-GRU on a GPU against the alternatives.

Per case (T, B, I, H), float32, forward (under no_grad) and forward+backward, medians of
``torch.utils.benchmark.Timer.blocked_autorange`` (the Timer synchronises the GPU):

- ``fused``: ``pyrl.ops.lngru_sequence`` (pyrl._C built with CUDA),
- ``eager``: the pure-PyTorch reference ``lngru_sequence_reference`` (one step per t),
- ``compile``: ``torch.compile`` of that reference (skipped once compiling has taken more
  than ``compile_budget_s``: at T=64 the unrolled graph takes long to build),
- ``cudnn``: ``torch.nn.GRU`` (cuDNN; no LayerNorm, no resets: the speed a plain GRU gets),
- ``floor``: the matrix products alone (as in ``pyrl.benchmarks.kernel``).

Run as ``python -m pyrl.benchmarks.kernel_cuda [--json FILE]`` (scripts/gpu-check does).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any, Optional

import torch
from torch.utils.benchmark import Timer

from pyrl import ops
from pyrl.benchmarks.kernel import _floor, _inputs

# (T, B, I, H): the A3C size, a mid size, and a large batch where the products dominate.
CASES = [(20, 8, 64, 128), (32, 16, 128, 256), (64, 256, 256, 512)]
IMPLS = ("fused", "eager", "compile", "cudnn")
FWD = "with torch.no_grad(): f(x, h0, reset, *p)"
FWD_BWD = "o, h = f(x, h0, reset, *p); (o.sum() + h.sum()).backward()"


def _time(stmt: str, env: dict, min_run_time: float) -> float:
    return Timer(stmt, globals=env).blocked_autorange(min_run_time=min_run_time).median


def _cudnn_gru(I, H, device):
    """nn.GRU wrapped to the LN-GRU call signature (gains and resets are ignored)."""
    gru = torch.nn.GRU(I, H, device=device)

    def f(x, h0, reset, *params):
        out, h = gru(x, h0.unsqueeze(0))
        return out, h[0]

    return f


def machine(device: str = "cuda") -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "torch": torch.__version__,
                            "torch_cuda": torch.version.cuda,
                            "cudnn": torch.backends.cudnn.version()}
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, sm=f"{props.major}.{props.minor}",
                    gpu_memory_gib=round(props.total_memory / 2**30, 1))
        try:
            free, _ = torch.cuda.mem_get_info()
            info["gpu_free_gib"] = round(free / 2**30, 1)
        except RuntimeError:
            pass
    info["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return info


def run(device: str = "cuda", cases=None, with_compile: bool = True, min_run_time: float = 0.2,
        compile_budget_s: float = 180.0, log=None) -> dict[str, Any]:
    """Measure every case; returns a JSON-ready dict (times in microseconds)."""
    if device == "cuda" and not (torch.cuda.is_available() and ops.fused_available("cuda")):
        raise RuntimeError("needs a GPU and pyrl._C built with CUDA (PYRL_CUDA=1)")
    results = []
    compile_spent = 0.0
    compiled: Optional[Any] = None
    for T, B, I, H in cases or CASES:
        x, h0, reset, p = _inputs(T, B, I, H, device)
        impls: dict[str, Any] = {"fused": ops.lngru_sequence, "eager": ops.lngru_sequence_reference}
        if with_compile and compile_spent < compile_budget_s:
            torch._dynamo.reset()  # one case's graphs at a time
            compiled = torch.compile(ops.lngru_sequence_reference, dynamic=False)
            impls["compile"] = compiled
        impls["cudnn"] = _cudnn_gru(I, H, device)
        row: dict[str, Any] = {"T": T, "B": B, "I": I, "H": H}
        for name, f in impls.items():
            env = {"f": f, "x": x, "h0": h0, "reset": reset, "p": p, "torch": torch}
            try:
                t0 = time.perf_counter()
                with torch.no_grad():
                    f(x, h0, reset, *p)  # warm-up (and compilation of both graphs)
                o, h = f(x, h0, reset, *p)
                (o.sum() + h.sum()).backward()
                if device == "cuda":
                    torch.cuda.synchronize()
                if name == "compile":
                    row["compile_s"] = time.perf_counter() - t0
                    compile_spent += row["compile_s"]
                row[f"{name}_fwd_us"] = _time(FWD, env, min_run_time) * 1e6
                row[f"{name}_fwd_bwd_us"] = _time(FWD_BWD, env, min_run_time) * 1e6
            except Exception as exc:  # noqa: BLE001 - a failed alternative is reported, not fatal
                row[f"{name}_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                if name == "fused":
                    raise
        floor_f, floor_fb = _floor(T, B, I, H, device, min_run_time)
        row["floor_fwd_us"], row["floor_fwd_bwd_us"] = floor_f * 1e6, floor_fb * 1e6
        for key in ("fwd", "fwd_bwd"):
            row[f"speedup_vs_eager_{key}"] = row[f"eager_{key}_us"] / row[f"fused_{key}_us"]
            row[f"over_floor_{key}"] = row[f"fused_{key}_us"] / row[f"floor_{key}_us"]
        results.append(row)
        if log is not None:
            log(_row_line(row))
        del x, h0, reset, p
        if device == "cuda":
            torch.cuda.empty_cache()
    return {"bench": "kernel_cuda", "device": device, "dtype": "float32",
            "machine": machine(device), "cases": results}


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _row_line(row: dict[str, Any]) -> str:
    parts = [f"{row['T']},{row['B']},{row['I']},{row['H']}:"]
    for key in ("fwd", "fwd_bwd"):
        parts.append(f"{key} " + " ".join(f"{n}={_fmt(row.get(f'{n}_{key}_us'))}us"
                                         for n in (*IMPLS, "floor")))
    return "  ".join(parts)


def table_lines(result: dict[str, Any]) -> list[str]:
    """A plain-text table (scripts/gpu-check prints it last)."""
    head = ["T,B,I,H", "pass", *IMPLS, "floor", "vs eager", "vs compile", "vs cudnn", "vs floor"]
    rows = []
    for row in result["cases"]:
        shape = f"{row['T']},{row['B']},{row['I']},{row['H']}"
        for key, label in (("fwd", "fwd"), ("fwd_bwd", "fwd+bwd")):
            fused = row[f"fused_{key}_us"]

            def ratio(name, fused=fused, key=key):
                v = row.get(f"{name}_{key}_us")
                return "-" if v is None else f"{v / fused:.2f}x"

            rows.append([shape, label, *(_fmt(row.get(f"{n}_{key}_us")) for n in IMPLS),
                         _fmt(row[f"floor_{key}_us"]), ratio("eager"), ratio("compile"),
                         ratio("cudnn"), f"{fused / row[f'floor_{key}_us']:.2f}x"])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    m = result["machine"]
    lines = [f"fused LN-GRU sequence on {m.get('gpu', result['device'])}, float32, median µs "
             f"(torch {m['torch']}, CUDA {m['torch_cuda']})", fmt(head), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in rows]
    lines.append("vs X: X's time / fused time (above 1: fused is faster); vs floor: fused / matrix "
                 "products alone (1.0 is the limit). cudnn is nn.GRU without LayerNorm or resets.")
    errors = [f"  {r['T']},{r['B']},{r['I']},{r['H']} {k}: {v}" for r in result["cases"]
              for k, v in r.items() if k.endswith("_error")]
    return lines + (["errors:", *errors] if errors else [])


def render(result: dict[str, Any], console) -> None:
    """For ``pyrl bench kernel --device cuda`` (a rich Console)."""
    from rich.table import Table

    m = result["machine"]
    table = Table(title=f"fused LN-GRU sequence, {m.get('gpu', result['device'])}, float32 (median µs)")
    for col in ("T,B,I,H", "pass", *IMPLS, "floor", "vs eager", "vs compile", "vs cudnn", "vs floor"):
        table.add_column(col, justify="right")
    for row in result["cases"]:
        shape = f"{row['T']},{row['B']},{row['I']},{row['H']}"
        for key, label in (("fwd", "fwd"), ("fwd_bwd", "fwd+bwd")):
            fused = row[f"fused_{key}_us"]
            rel = [("-" if row.get(f"{n}_{key}_us") is None else f"{row[f'{n}_{key}_us'] / fused:.2f}x")
                   for n in ("eager", "compile", "cudnn")]
            table.add_row(shape, label, *(_fmt(row.get(f"{n}_{key}_us")) for n in IMPLS),
                          _fmt(row[f"floor_{key}_us"]), *rel, f"{fused / row[f'floor_{key}_us']:.2f}x")
    console.print(table)
    console.print("vs X: X's time / fused time (above 1: fused is faster); vs floor: fused / matrix "
                  "products alone (1.0 is the limit). cudnn is nn.GRU without LayerNorm or resets.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--min-run-time", type=float, default=0.2)
    ap.add_argument("--compile-budget", type=float, default=180.0,
                    help="stop compiling new cases after this many seconds of compilation")
    args = ap.parse_args(argv)
    result = run("cuda", with_compile=not args.no_compile, min_run_time=args.min_run_time,
                 compile_budget_s=args.compile_budget, log=lambda s: print(s, flush=True))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    print("\n".join(table_lines(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
