"""What torch.compile does to ActorCritic's acting step and training pass, beside pyrl's
fused path, in one process, one torch thread: LN-GRU, separate critic, CartPole sizes
(I 4, A 2), hidden 64.

    python bench/compile_model.py [--repeats 3] [--min-run 0.3]

act: ``model.act`` under no_grad, N envs: the fused act step (pyrl's path), the eager op-by-op
step, and ``torch.compile`` (inductor) of that eager step. learn: one training pass
(``model.evaluate`` over a T x N rollout, an A2C loss, backward): eager (the fused LN-GRU
sequence op inside) and compiled (inductor; the graph holds the registered op, so no break
at the GRU). Thread CPU time, medians of ``blocked_autorange`` medians over interleaved rounds;
compile time reported separately.
"""
import argparse
import statistics
import time

import gymnasium
import torch
from torch.utils.benchmark import Timer

from pyrl.nn import ActorCritic


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-run", type=float, default=0.3)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--t", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    N, T = args.n, args.t
    model = ActorCritic((4,), gymnasium.spaces.Discrete(2), hidden=64, rnn=True, norm="layernorm",
                        separate_critic=True)
    obs, state, reset = torch.randn(N, 4), model.initial_state(N), torch.zeros(N, dtype=torch.bool)

    def act_eager():
        with torch.no_grad():
            return model._act_eager(obs, state, reset)

    def act_fused():
        with torch.no_grad():
            return model.act(obs, state, reset)

    act_compiled_fn = torch.compile(model._act_eager)

    def act_compiled():
        with torch.no_grad():
            return act_compiled_fn(obs, state, reset)

    robs, rreset = torch.randn(T, N, 4), torch.rand(T, N) < 0.05
    actions, adv, ret = torch.randint(0, 2, (T, N)), torch.randn(T, N), torch.randn(T, N)

    def loss_fn(robs, state0, rreset, actions, adv, ret):
        logp, entropy, value = model.evaluate(robs, state0, rreset, actions)
        return -(logp * adv).mean() + 0.5 * (ret - value).pow(2).mean() - 0.01 * entropy.mean()

    compiled_loss = torch.compile(loss_fn, fullgraph=True)

    def learn(fn):
        model.zero_grad(set_to_none=True)
        fn(robs, state, rreset, actions, adv, ret).backward()

    cases = {"act: fused (pyrl)": act_fused, "act: eager": act_eager, "act: torch.compile(eager)": act_compiled,
             "learn: eager (fused LN-GRU op)": lambda: learn(loss_fn),
             "learn: torch.compile, fullgraph": lambda: learn(compiled_loss)}
    compile_s = {}
    for name, fn in cases.items():  # first calls: compilation
        t0 = time.perf_counter()
        fn()
        fn()
        compile_s[name] = time.perf_counter() - t0
    explain = torch._dynamo.explain(model._act_eager)(obs, state, reset)
    times = {}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            t = Timer("fn()", globals={"fn": fn}, num_threads=1, timer=time.thread_time).blocked_autorange(
                min_run_time=args.min_run)
            times.setdefault(name, []).append(t.median * 1e6)
    print(f"torch {torch.__version__}, N={N}, T={T}, H=64, LN-GRU, separate critic, thread CPU time, "
          f"{args.repeats} rounds; graph breaks in the compiled act step: {explain.graph_break_count}")
    print("| case | µs per call | vs pyrl's path | first two calls (s) |\n| --- | ---: | ---: | ---: |")
    base = {"act": statistics.median(times["act: fused (pyrl)"]),
            "learn": statistics.median(times["learn: eager (fused LN-GRU op)"])}
    for name in cases:
        m = statistics.median(times[name])
        print(f"| {name} | {m:.1f} | {m / base[name.split(':')[0]]:.2f}x | {compile_s[name]:.1f} |")


if __name__ == "__main__":
    main()
