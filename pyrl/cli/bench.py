"""``pyrl bench kernel | rollout | train``: benchmarks (speed claims live here, not in tests)."""
from __future__ import annotations

from contextlib import nullcontext

import click

from pyrl.cli.common import abort, console, print_json


@click.group()
def bench():
    """Microbenchmarks of pyrl's hot paths (medians; see bench/README.md)."""


@bench.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads (A3C workers use one each).")
@click.option("--compile/--no-compile", "with_compile", default=False, show_default=True,
              help="Also time torch.compile of the eager reference (compiles for a minute).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--min-time", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="Seconds of measurement per timing (split over the interleaved rounds).")
@click.option("--norms", default="layernorm,rmsnorm,none", show_default=True,
              help="Norms of the GRU to time, comma-separated (CPU).")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="wall: elapsed time; cpu: the thread's CPU time (steadier on a shared machine).")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Another build of pyrl._C (.so, e.g. from an earlier commit) to time side by side.")
def kernel(as_json, threads, with_compile, device, min_time, norms, clock, baseline):
    """Fused norm-GRU (LayerNorm, RMSNorm, none) vs eager PyTorch vs torch.compile, and the
    matrix-product floor."""
    import torch

    from pyrl import ops
    from pyrl.benchmarks import kernel as kb

    norm_list = [n.strip() for n in norms.split(",") if n.strip()]
    bad = [n for n in norm_list if n not in kb.NORMS]
    if bad or not norm_list:
        raise click.BadParameter(f"expected some of {', '.join(kb.NORMS)}, got {norms!r}",
                                 param_hint="--norms")

    if device == "cuda" and not (torch.cuda.is_available() and ops.fused_available("cuda")):
        abort("--device cuda needs a GPU and pyrl._C built with CUDA (PYRL_CUDA=1)", code=2)
    if device == "cuda":
        from pyrl.benchmarks import kernel_cuda

        result = kernel_cuda.run(device="cuda")
        print_json(result) if as_json else kernel_cuda.render(result, console)
        return
    with console.status("timing the LN-GRU kernels...", spinner="dots") if not as_json else nullcontext():
        try:
            result = kb.run(with_compile=with_compile, threads=threads, min_run_time=min_time,
                            norms=norm_list, clock=clock, baseline=baseline)
        except ImportError as exc:
            raise click.BadParameter(str(exc), param_hint="--baseline") from exc
    print_json(result) if as_json else kb.render(result, console)


@bench.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--quick", is_flag=True, help="Fewer repeats (a smoke run).")
@click.option("--env", "env_id", default="CartPole-v1", show_default=True)
@click.option("--envs", "num_envs", type=click.IntRange(min=1), default=8, show_default=True)
def rollout(as_json, quick, env_id, num_envs):
    """C++ gae vs numpy; collection loop vs raw envpool steps/s."""
    from pyrl.benchmarks import rollout as rb
    from pyrl.envs import EnvError

    try:
        with console.status("timing the rollout engine...", spinner="dots") if not as_json else nullcontext():
            result = rb.run(quick=quick, env_id=env_id, num_envs=num_envs)
    except EnvError as exc:
        abort(str(exc), code=2)
    print_json(result) if as_json else rb.render(result, console)


@bench.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--env", "env_id", default="CartPole-v1", show_default=True,
              help="A Gymnasium id (SB3 makes its envs with Gymnasium, pyrl with envpool).")
@click.option("--envs", "num_envs", type=click.IntRange(min=1), default=8, show_default=True,
              help="Envs per worker (and SB3's n_envs).")
@click.option("--steps", type=click.IntRange(min=1000), default=300_000, show_default=True,
              help="Total env steps of each run.")
@click.option("--max-workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="pyrl runs with 1..this many workers.")
@click.option("--methods", default="a3c,individual", show_default=True, help="pyrl methods, comma-separated.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--sb3/--no-sb3", "with_sb3", default=True, show_default=True,
              help="Time Stable-Baselines3 A2C alongside (pip install 'pyrl[bench]').")
@click.option("--devices", default="cpu", show_default=True,
              help="Where pyrl's models learn, comma-separated: cpu, cuda (e.g. cpu,cuda: CPU vs GPU).")
def train(as_json, env_id, num_envs, steps, max_workers, methods, repeats, with_sb3, devices):
    """Training steps/s: pyrl A3C and individual (1..W workers) vs Stable-Baselines3 A2C."""
    from pyrl.benchmarks import train as tb
    from pyrl.envs import EnvError
    from pyrl.train.config import METHODS, check_device

    try:
        chosen_devices = tuple(dict.fromkeys(check_device(d.strip()) for d in devices.split(",") if d.strip()))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--devices") from None
    if not chosen_devices:
        raise click.BadParameter("name at least one device", param_hint="--devices")
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(METHODS)}, got {methods!r}", param_hint="--methods")
    if with_sb3 and not tb.sb3_available():
        abort("the SB3 comparison needs stable-baselines3: pip install 'pyrl[bench]' (or pass --no-sb3)", code=2)
    if with_sb3:
        import gymnasium

        try:
            gymnasium.spec(env_id)
        except gymnasium.error.Error:
            abort(f"SB3 makes its envs with Gymnasium, which has no {env_id!r} (or pass --no-sb3)", code=2)
    try:
        with console.status("timing training runs...", spinner="dots") if not as_json else nullcontext() as st:
            result = tb.run(env_id=env_id, num_envs=num_envs, steps=steps, max_workers=max_workers,
                            methods=chosen, repeats=repeats, with_sb3=with_sb3, devices=chosen_devices,
                            progress=(lambda msg: st.update(f"timing {msg}")) if st is not None else None)
    except (EnvError, ValueError) as exc:  # EnvError is a ValueError; so are TrainConfig's checks
        abort(str(exc), code=2)
    except RuntimeError as exc:  # a timed run failed or diverged
        abort(str(exc), code=1)
    print_json(result) if as_json else tb.render(result, console)
