"""µs per ``ActorCritic.act`` call, eager (op by op) vs fused (``pyrl.ops.act_step``, one call
into pyrl._C), side by side in one process, one torch thread, under ``torch.no_grad`` as the
rollout acts. CartPole sizes (I 4, A 2), hidden 64, separate critic (the training default).

    python bench/act_step.py [--n 8 32] [--repeats 5] [--min-run 0.3] [--clock cpu|wall]

Each figure is the median over ``--repeats`` interleaved rounds of the median of
``torch.utils.benchmark.Timer.blocked_autorange``. ``--clock cpu`` (the default) times with
the thread's CPU time, which a machine shared with other jobs inflates far less than the wall
clock (it still counts cache and frequency effects).
"""
import argparse
import statistics
import time
import timeit

import gymnasium
import torch
from torch.utils.benchmark import Timer

from pyrl.nn import ActorCritic

ARCHS = {"ff": dict(rnn=False, norm="none"), "LN-GRU": dict(rnn=True, norm="layernorm")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-run", type=float, default=0.3)
    ap.add_argument("--discrete", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = gymnasium.spaces.Discrete(2) if args.discrete else gymnasium.spaces.Box(-1, 1, (2,))
    cases = []
    for arch, kw in ARCHS.items():
        for n in args.n:
            torch.manual_seed(0)
            model = ActorCritic((4,), space, hidden=64, separate_critic=True, **kw)
            env = dict(model=model, obs=torch.randn(n, 4), state=model.initial_state(n),
                       reset=torch.zeros(n, dtype=torch.bool), gen=torch.Generator().manual_seed(0))
            cases.append((arch, n, env))
    clock = time.thread_time if args.clock == "cpu" else timeit.default_timer
    times = {}
    for _ in range(args.repeats):  # interleaved: drift on a shared machine hits both alike
        for arch, n, env in cases:
            for path, stmt in (("eager", "model._act_eager(obs, state, reset, gen)"),
                               ("fused", "model.act(obs, state, reset, gen)")):
                t = Timer(f"with torch.no_grad(): {stmt}", globals={**env, "torch": torch},
                          num_threads=1, timer=clock).blocked_autorange(min_run_time=args.min_run)
                times.setdefault((arch, n, path), []).append(t.median * 1e6)
    print(f"torch {torch.__version__}, {args.clock} clock, {args.repeats} repeats, "
          f"{'categorical' if args.discrete else 'Gaussian'} A=2, I=4, H=64, separate critic")
    print(f"| model | N | eager µs | fused µs | speed-up |\n| --- | ---: | ---: | ---: | ---: |")
    for arch, n, _ in cases:
        e = statistics.median(times[arch, n, "eager"])
        f = statistics.median(times[arch, n, "fused"])
        print(f"| {arch} | {n} | {e:.1f} | {f:.1f} | {e / f:.1f}x |")


if __name__ == "__main__":
    main()
