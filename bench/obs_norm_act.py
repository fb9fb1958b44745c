"""The act step with and without --obs-norm, side by side (bench/README.md, "Observation
normalisation and a linear learning-rate schedule"): the same model (N envs, hidden 64, LN-GRU,
separate critic) acting on one thread, the two interleaved batch by batch; medians.

    .venv/bin/python bench/obs_norm_act.py [--n 8] [--batches 15] [--steps 2000]
"""
import argparse
import statistics
import time

import gymnasium
import torch

from pyrl.nn import ActorCritic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--batches", type=int, default=15)
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = {}
    for on in (True, False):
        torch.manual_seed(0)
        models[on] = ActorCritic((5,), gymnasium.spaces.Discrete(4), hidden=64, rnn=True, norm="layernorm",
                                 separate_critic=True, obs_norm=on)
    obs = torch.randn(args.n, 5)                                  # [N,I]
    state = models[True].initial_state(args.n)                    # [N,S]
    reset = torch.zeros(args.n, dtype=torch.bool)                 # [N]
    gen = torch.Generator().manual_seed(0)
    us = {True: [], False: []}
    with torch.no_grad():
        for _ in range(args.batches):
            for on, model in models.items():
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    model.act(obs, state, reset, generator=gen)
                us[on].append((time.perf_counter() - t0) / args.steps * 1e6)
    with_, without = statistics.median(us[True]), statistics.median(us[False])
    print(f"act step, N={args.n}: obs_norm {with_:.1f} us, without {without:.1f} us, ratio {with_ / without:.2f}")


if __name__ == "__main__":
    main()
