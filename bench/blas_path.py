"""The CPU ops' matrix products, one choice isolated: torch's sgemm_/dgemm_ called directly
(after the 32-bit-integer self-test) against at::mm (``PYRL_CPU_BLAS=aten``), side by side
in one process, one torch thread, the switch flipped between interleaved rounds.

    python bench/blas_path.py [--repeats 5] [--min-run 0.3] [--clock cpu|wall]

Cases: the LN-GRU sequence forward+backward (A3C's training size and a larger one), one
LN-GRU cell step (acting through ``LNGRU.step``) and the fused act step of a separate-critic
LN-GRU ActorCritic (N 8, H 64). Each figure is the median over rounds of
``torch.utils.benchmark.Timer.blocked_autorange``'s median; thread CPU time by default.
"""
import argparse
import statistics
import time
import timeit

import gymnasium
import torch
from torch.utils.benchmark import Timer

from pyrl import ops
from pyrl.nn import LNGRU, ActorCritic


def _cases():
    cases = {}
    for T, B, H in ((16, 8, 64), (20, 8, 128)):
        torch.manual_seed(0)
        gru = LNGRU(H, H)
        x = torch.randn(T, B, H, requires_grad=True)
        h0 = torch.zeros(B, H)
        reset = torch.zeros(T, B, dtype=torch.bool)
        cases[f"LN-GRU sequence fwd+bwd T={T} B={B} H={H}"] = (
            "out, h = gru(x, h0, reset); (out.sum() + h.sum()).backward()", dict(gru=gru, x=x, h0=h0, reset=reset))
    gru = LNGRU(64, 64)
    cases["LN-GRU cell step B=8 H=64"] = (
        "with torch.no_grad(): gru.step(x, h)", dict(gru=gru, x=torch.randn(8, 64), h=torch.randn(8, 64), torch=torch))
    torch.manual_seed(0)
    model = ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=64, rnn=True, norm="layernorm",
                        separate_critic=True)
    cases["act step (ActorCritic.act, LN-GRU, separate critic) N=8 H=64"] = (
        "with torch.no_grad(): model.act(obs, state, reset, gen)",
        dict(model=model, obs=torch.randn(8, 4), state=model.initial_state(8), reset=torch.zeros(8, dtype=torch.bool),
             gen=torch.Generator().manual_seed(0), torch=torch))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-run", type=float, default=0.3)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ext = ops._ext()
    if ext.lngru_cpu_blas() != "direct":
        raise SystemExit("the direct path is not in use here (PYRL_CPU_BLAS, or the self-test failed)")
    clock = time.thread_time if args.clock == "cpu" else timeit.default_timer
    cases = _cases()
    times = {}
    for _ in range(args.repeats):  # interleaved: drift on a shared machine hits both alike
        for path in ("direct", "aten"):
            ext.set_lngru_cpu_blas(path)
            for name, (stmt, env) in cases.items():
                t = Timer(stmt, globals=env, num_threads=1, timer=clock).blocked_autorange(min_run_time=args.min_run)
                times.setdefault((name, path), []).append(t.median * 1e6)
    ext.set_lngru_cpu_blas("direct")
    print(f"torch {torch.__version__}, {args.clock} clock, {args.repeats} rounds, one thread")
    print("| case | direct µs | at::mm µs | at::mm / direct |\n| --- | ---: | ---: | ---: |")
    for name in cases:
        d = statistics.median(times[name, "direct"])
        a = statistics.median(times[name, "aten"])
        print(f"| {name} | {d:.1f} | {a:.1f} | {a / d:.2f}x |")


if __name__ == "__main__":
    main()
