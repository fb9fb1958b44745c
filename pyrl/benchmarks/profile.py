"""``pyrl bench profile``: where one worker's time goes, per env step, phase by phase.

Trains real runs (``pyrl.train.run.train(..., profile=True)``: the worker loop times its own
phases) for each model, and reports microseconds per env step of a worker:

- ``act``: the policy's forward for the N envs (and the bootstrap value), transfers included;
- ``env``: the rest of collection: envpool's step and the store's bookkeeping;
- ``advantages``: GAE and episode statistics (C++);
- ``learn``: the training pass over the rollout, the loss, backward and gradient clipping;
- ``step``: the optimizer step on the model the worker steps (shared under A3C);
- ``sync``: refreshing the worker's copy of the parameters and checking it is finite;
- ``report``, ``loop``: progress messages to the parent, and the loop's own bookkeeping.

Models are interleaved over repeats; figures are medians over repeats of the mean over workers.

Beside the runs, each model's compiled ops alone (``compiled_ops_us``): what one worker calls
in pyrl._C per rollout, timed in this process on one thread with nothing around the calls: the
act step (T calls and the bootstrap value), each recurrent core's sequence op forward and
backward at the training shape [T,N], and the update (optimizer step, clipping, refresh). It is
the least a worker of that model can spend per env step in its compiled arithmetic, whatever
the framework around it costs. What a model's ops add to feed-forward's then bounds its steps/s
relative to feed-forward: even if the model paid no other cost of its own, a worker would take
feed-forward's measured time plus that difference per env step (``vs_ff_bound``).
"""
from __future__ import annotations

import statistics
from typing import Any, Optional

from pyrl.benchmarks.rollout import _machine, met
from pyrl.benchmarks.train import TARGET_VS_FF

PHASES = ("act", "env", "advantages", "learn", "step", "sync", "report", "loop")
MODELS = {  # name -> TrainConfig options
    "ff": dict(rnn=False, norm="none"),
    "ff+ln": dict(rnn=False, norm="layernorm"),
    "lngru": dict(rnn=True, norm="layernorm"),
}


COMPILED_PARTS = ("act", "core", "update")


def _profile(model: str, method: str, env_id: str, workers: int, num_envs: int, steps: int, seed: int,
             separate_critic: bool = True) -> dict:
    from pyrl.train.config import TrainConfig
    from pyrl.train.run import train

    cfg = TrainConfig(method=method, env=env_id, workers=workers, envs_per_worker=num_envs, steps=steps,
                      seed=seed, separate_critic=separate_critic, eval_episodes=0, **MODELS[model])
    result = train(cfg, None, profile=True)
    if result["status"] != "ok":
        raise RuntimeError(f"{model}: run ended {result['status']}: {result['error']}")
    per_worker = []
    for w, spent in result["profile"].items():
        n = result["workers"][int(w)]["steps"]
        us = {p: 1e6 * spent.get(p, 0.0) / n for p in ("act", "advantages", "learn", "step", "sync", "report", "loop")}
        us["env"] = 1e6 * (spent["collect"] - spent["act"]) / n  # collect's laps include act
        per_worker.append(us)
    return {"sps": result["sps"], "us": {p: statistics.mean(u[p] for u in per_worker) for p in PHASES}}


def compiled_ops_us(models, env_id: str = "CartPole-v1", num_envs: int = 8, separate_critic: bool = True,
                    min_run_time: float = 0.3, rounds: int = 3) -> dict[str, dict[str, float]]:
    """Per model, µs per env step of its compiled ops alone (see the module's docstring): ``act``,
    ``core`` (0 without a recurrent core), ``update`` and their ``total``; None for image
    observations, which act on the eager path (the fused act step takes vector observations).
    The models are built as a worker builds them (``TrainConfig``'s defaults, ``MODELS``'
    options); float32 on the CPU, one thread, as a worker runs. Each part is timed in ``rounds``
    interleaved rounds (``torch.utils.benchmark``), medians."""
    import torch
    from torch.utils.benchmark import Timer

    from pyrl import ops
    from pyrl.envs import make
    from pyrl.train.config import TrainConfig
    from pyrl.train.worker import build_model, make_optimizer

    env = make(env_id, 1)
    obs_shape, action_space = env.observation_space.shape, env.action_space
    env.close()
    if len(obs_shape) == 3:  # images: no fused act step to time
        return {m: None for m in models}
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        calls: dict[str, dict[str, tuple[Any, float]]] = {}  # model -> part -> (fn, calls per env step)
        for m in models:
            cfg = TrainConfig(env=env_id, envs_per_worker=num_envs, separate_critic=separate_critic, **MODELS[m])
            T, N = cfg.rollout, num_envs
            model = build_model(cfg, obs_shape, action_space, seed=0)
            local = build_model(cfg, obs_shape, action_space, seed=1)  # the worker's copy, for refresh
            opt = make_optimizer(cfg, model)
            g = torch.Generator().manual_seed(0)
            obs = torch.randn(N, *obs_shape, generator=g).reshape(N, -1)  # [N,I]
            state = model.initial_state(N)                                # [N,S]
            reset = torch.zeros(N, dtype=torch.bool)
            # drawn as the act step's caller draws it: u [N,1] (categorical) or eps [N,A] (Gaussian)
            noise = (torch.rand(N, 1, generator=g) if model.discrete
                     else torch.randn(N, model.policy.out_features, generator=g))
            act_args = (obs, state, reset, noise, *model._act_params())
            params = list(model.parameters())
            grads = [torch.randn(p.shape, generator=g) * 1e-3 for p in params]
            local_state, target_state = list(local.parameters()) + list(local.buffers()), params + list(model.buffers())

            def act(act_args=act_args):
                ops.act_step(*act_args)

            def update(opt=opt, grads=grads, dst=local_state, src=target_state, max_norm=cfg.max_grad_norm):
                ops.clip_grad_norm(grads, max_norm)
                opt.step(grads)
                ops.refresh(dst, src)

            parts = {"act": (act, (T + 1) / (T * N)),  # T steps and the bootstrap value per rollout
                     "update": (update, 1 / (T * N))}
            cores = [core for _, _, core, _ in model._trunks() if core is not None]
            if cores:
                ext = ops._ext()
                H = cfg.hidden
                x = torch.randn(T, N, H, generator=g)         # [T,N,H]: the encoder's features
                h0 = torch.randn(N, H, generator=g) * 0.1     # [N,H]
                core_reset = torch.zeros(T, N, dtype=torch.bool)
                grad_out, grad_hT = torch.randn(T, N, H, generator=g), torch.zeros(N, H)

                core_args = [(core.eps, core.norm, *(p.detach() if p is not None else None for p in core._params()))
                             for core in cores]

                def core_fwd_bwd(core_args=core_args, x=x, h0=h0, reset=core_reset, grad_out=grad_out,
                                 grad_hT=grad_hT):
                    for eps, norm, w_ih, w_hh, b_ih, b_hh, g_ih, g_hh in core_args:
                        out, xhat, hhat, rstd, gates = ext.lngru_forward(x, h0, reset, w_ih, w_hh, b_ih, b_hh,
                                                                         g_ih, g_hh, eps, norm)
                        ext.lngru_backward(grad_out, grad_hT, x, h0, reset, w_ih, w_hh, b_hh, g_ih, g_hh,
                                           out, xhat, hhat, rstd, gates, norm)

                parts["core"] = (core_fwd_bwd, 1 / (T * N))
            calls[m] = parts
        samples: dict[tuple[str, str], list[float]] = {}
        with torch.no_grad():
            for m in models:  # warm-up: first calls allocate and look up the BLAS
                for fn, _ in calls[m].values():
                    fn()
            for _ in range(rounds):  # interleaved, so a burst of load hits every part alike
                for m in models:
                    for part, (fn, _) in calls[m].items():
                        t = Timer("f()", globals={"f": fn}).blocked_autorange(min_run_time=min_run_time / rounds)
                        samples.setdefault((m, part), []).append(t.median)
    finally:
        torch.set_num_threads(prev_threads)
    result = {}
    for m in models:
        us = {part: 1e6 * statistics.median(samples[(m, part)]) * calls[m][part][1] if part in calls[m] else 0.0
              for part in COMPILED_PARTS}
        result[m] = {**us, "total": sum(us.values())}
    return result


def run(models=("ff", "lngru"), method: str = "a3c", env_id: str = "CartPole-v1", workers: int = 2,
        num_envs: int = 8, steps: int = 100_000, repeats: int = 3, separate_critic: bool = True,
        progress: Optional[Any] = None) -> dict[str, Any]:
    """Profiled runs of every model, interleaved, and each model's compiled ops alone. With
    ``ff`` among the models, every other model's steps/s against feed-forward's (``vs_ff``)
    and the bound on it that its compiled ops leave (``vs_ff_bound``)."""
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {', '.join(unknown)} (choose from {', '.join(MODELS)})")
    if progress is not None:
        progress("warm-up")
    _profile(models[0], method, env_id, 1, num_envs, num_envs * 5 * 10, seed=0,  # starts the fork server
             separate_critic=separate_critic)
    runs: dict[str, list[dict]] = {m: [] for m in models}
    for r in range(repeats):
        for m in models:
            if progress is not None:
                progress(f"repeat {r + 1}/{repeats}: {m}")
            runs[m].append(_profile(m, method, env_id, workers, num_envs, steps, seed=r,
                                    separate_critic=separate_critic))
    if progress is not None:
        progress("the compiled ops alone")
    compiled = compiled_ops_us(models, env_id, num_envs, separate_critic)
    rows = []
    for m in models:
        us = {p: statistics.median(x["us"][p] for x in runs[m]) for p in PHASES}
        rows.append({"model": m, "sps_median": statistics.median(x["sps"] for x in runs[m]),
                     "us_per_step": us, "total_us": sum(us.values()), "compiled_us": compiled[m]})
    ff = next((row for row in rows if row["model"] == "ff"), None)
    for row in rows:
        row["vs_ff"] = row["vs_ff_bound"] = None
        if ff is None or row is ff:
            continue
        row["vs_ff"] = row["sps_median"] / ff["sps_median"]
        if row["compiled_us"] is not None:
            # feed-forward's time per env step plus what this model's compiled ops add to it
            extra = row["compiled_us"]["total"] - ff["compiled_us"]["total"]
            row["vs_ff_bound"] = ff["total_us"] / (ff["total_us"] + max(extra, 0.0))
    return {"bench": "profile", "machine": _machine(), "method": method, "env_id": env_id, "workers": workers,
            "envs_per_worker": num_envs, "steps": steps, "repeats": repeats,
            "separate_critic": separate_critic, "target_vs_ff": TARGET_VS_FF, "rows": rows}


def render(result: dict[str, Any], console) -> None:
    """One row per phase, a column pair (µs per env step, share) per model."""
    from rich.table import Table

    t = Table(title=f"pyrl bench profile: {result['method']}, {result['workers']} workers x "
                    f"{result['envs_per_worker']} envs, {result['env_id']}, {result['steps']:,} steps: "
                    "µs per env step of a worker", title_justify="left")
    t.add_column("phase")
    for row in result["rows"]:
        t.add_column(f"{row['model']} µs", justify="right")
        t.add_column("share", justify="right")
    for p in PHASES:
        t.add_row(p, *(c for row in result["rows"]
                       for c in (f"{row['us_per_step'][p]:.1f}", f"{100 * row['us_per_step'][p] / row['total_us']:.0f}%")))
    t.add_row("total", *(c for row in result["rows"] for c in (f"{row['total_us']:.1f}", "")), style="bold")
    t.add_row("steps/s (run)", *(c for row in result["rows"] for c in (f"{row['sps_median']:,.0f}", "")))
    console.print(t)
    if any(row["compiled_us"] is None for row in result["rows"]):
        console.print("the compiled ops alone: not timed (image observations act on the eager path)")
    else:
        _render_compiled(result, console)
    m = result["machine"]
    critic = "" if result.get("separate_critic", True) else "; one trunk for both heads"
    console.print(f"{m['cores']} cores, {m['cpu']}, torch {m['torch']}; medians of {result['repeats']} repeats{critic}")


def _render_compiled(result: dict[str, Any], console) -> None:
    """The compiled ops alone per model, and each model's measured and bounded ratio to ff."""
    from rich.table import Table

    c = Table(title="the compiled ops alone (one thread, nothing around the calls): µs per env step",
              title_justify="left")
    c.add_column("part")
    for row in result["rows"]:
        c.add_column(f"{row['model']} µs", justify="right")
    names = {"act": "act step (and bootstrap value)", "core": "recurrent core fwd+bwd", "update": "update"}
    for part in COMPILED_PARTS:
        c.add_row(names[part], *(f"{row['compiled_us'][part]:.1f}" for row in result["rows"]))
    c.add_row("total", *(f"{row['compiled_us']['total']:.1f}" for row in result["rows"]), style="bold")
    console.print(c)
    for row in result["rows"]:
        if row.get("vs_ff") is None:
            continue
        target = ""
        if row["model"] == "lngru":  # the issue's model
            target = f" (target >= {result['target_vs_ff']:.2f}x: {met(row['vs_ff'] >= result['target_vs_ff'])})"
        console.print(f"{row['model']}: {row['vs_ff']:.2f}x feed-forward's steps/s{target}; its compiled ops "
                      f"alone allow at most {row['vs_ff_bound']:.2f}x")
