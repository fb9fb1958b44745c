"""``pyrl bench kernel | rollout | train | profile | learn | stats``: benchmarks (speed claims live here, not in tests)."""
from __future__ import annotations

from contextlib import nullcontext

import click
from rich.markdown import Markdown

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
@click.option("--models", default="ff", show_default=True,
              help="pyrl's models, comma-separated: ff (feed-forward), lngru (LN-GRU core, LayerNorm).")
@click.option("--shared-critic", is_flag=True,
              help="pyrl's value head reads the actor's trunk (one encoder and core, as before issue 13).")
def train(as_json, env_id, num_envs, steps, max_workers, methods, repeats, with_sb3, devices, models,
          shared_critic):
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
    chosen_models = tuple(dict.fromkeys(m.strip() for m in models.split(",") if m.strip()))
    if not chosen_models or any(m not in tb.MODELS for m in chosen_models):
        raise click.BadParameter(f"choose from {', '.join(tb.MODELS)}, got {models!r}", param_hint="--models")
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
                            models=chosen_models, separate_critic=not shared_critic,
                            progress=(lambda msg: st.update(f"timing {msg}")) if st is not None else None)
    except (EnvError, ValueError) as exc:  # EnvError is a ValueError; so are TrainConfig's checks
        abort(str(exc), code=2)
    except RuntimeError as exc:  # a timed run failed or diverged
        abort(str(exc), code=1)
    print_json(result) if as_json else tb.render(result, console)


@bench.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--models", default="ff,lngru", show_default=True,
              help="Comma-separated: ff (feed-forward), ff+ln, lngru (LN-GRU core).")
@click.option("--method", type=click.Choice(["a3c", "individual"]), default="a3c", show_default=True)
@click.option("--env", "env_id", default="CartPole-v1", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--envs", "num_envs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(min=1000), default=100_000, show_default=True,
              help="Total env steps of each run.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--shared-critic", is_flag=True,
              help="One trunk (one recurrent core) for both heads instead of the separate critic.")
def profile(as_json, models, method, env_id, workers, num_envs, steps, repeats, shared_critic):
    """Where a worker's time goes per env step: act, env, advantages, learn, step, sync, report;
    and each model's compiled ops alone, which bound its steps/s against feed-forward's."""
    from pyrl.benchmarks import profile as pb
    from pyrl.envs import EnvError

    chosen = tuple(m.strip() for m in models.split(",") if m.strip())
    unknown = [m for m in chosen if m not in pb.MODELS]
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(pb.MODELS)}, got {models!r}", param_hint="--models")
    try:
        with console.status("profiling training runs...", spinner="dots") if not as_json else nullcontext() as st:
            result = pb.run(models=chosen, method=method, env_id=env_id, workers=workers, num_envs=num_envs,
                            steps=steps, repeats=repeats, separate_critic=not shared_critic,
                            progress=(lambda msg: st.update(f"profiling {msg}")) if st is not None else None)
    except (EnvError, ValueError) as exc:
        abort(str(exc), code=2)
    except RuntimeError as exc:
        abort(str(exc), code=1)
    print_json(result) if as_json else pb.render(result, console)


@bench.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--env", "env_id", default="CartPole-v1", show_default=True,
              help="Environment id (a pyrl POMDP such as CartPoleNoVel-v1 too: SB3 gets the same filter).")
@click.option("--threshold", type=float, default=None,
              help="The score: mean return of the last 10 episodes of a run [default: the task's reference score "
                   "(pyrl.train.tasks: RL Zoo's RecurrentPPO score where it has one), else 475].")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True, help="Runs per method.")
@click.option("--seed-start", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option("--max-steps", type=click.IntRange(min=1000), default=None,
              help="Budget of env steps per run; a run that has not reached the threshold by then never did "
                   "[default: pyrl's from the task's row, else 300k; RecurrentPPO's from RL Zoo's row].")
@click.option("--methods", default=None,
              help="Comma-separated from sb3-a2c, sb3-rppo, individual, a3c "
                   "[default: sb3-a2c,individual,a3c; on a POMDP also sb3-rppo when sb3-contrib is installed].")
@click.option("--envs", "num_envs", type=click.IntRange(min=1), default=None,
              help="Envs per worker (and SB3 A2C's n_envs) [default: the task's row, else 8; RecurrentPPO always "
                   "takes RL Zoo's].")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Workers of the a3c runs (individual runs have one).")
@click.option("--rnn/--no-rnn", default=None,
              help="pyrl's runs with the LN-GRU core and LayerNorm [default: on for a POMDP env, else off].")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="A TrainConfig field for pyrl's runs, e.g. --set gae_lambda=1.0 (repeatable).")
@click.option("--sb3/--no-sb3", "with_sb3", default=True, show_default=True,
              help="Run the Stable-Baselines3 methods (pip install 'pyrl[bench]'; sb3-rppo: sb3-contrib).")
@click.option("--stop/--no-stop", "stop_early", default=True, show_default=True,
              help="End each run once it reaches the threshold (--no-stop: run every budget out).")
def learn(as_json, env_id, threshold, seeds, seed_start, max_steps, methods, num_envs, workers, rnn, settings,
          with_sb3, stop_early):
    """Env steps and seconds to a score over seeds: pyrl vs SB3 A2C (and RecurrentPPO on a POMDP)."""
    import math

    from pyrl.benchmarks import learn as lb
    from pyrl.envs import EnvError, make

    if threshold is not None and not math.isfinite(threshold):
        raise click.BadParameter(f"must be finite, got {threshold}", param_hint="--threshold")
    if methods is None:
        chosen = lb.default_methods(env_id, with_sb3)
    else:
        chosen = tuple(dict.fromkeys(m.strip() for m in methods.split(",") if m.strip()))
        unknown = [m for m in chosen if m not in lb.ALL_METHODS]
        if unknown or not chosen:
            raise click.BadParameter(f"choose from {', '.join(lb.ALL_METHODS)}, got {methods!r}",
                                     param_hint="--methods")
        if not with_sb3:
            chosen = tuple(m for m in chosen if m not in lb.SB3_METHODS)
            if not chosen:
                raise click.BadParameter("--no-sb3 leaves no method", param_hint="--methods")
    try:
        overrides = lb.parse_overrides(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    if any(m in lb.SB3_METHODS for m in chosen):
        if not lb.sb3_available():
            abort("the SB3 methods need stable-baselines3: pip install 'pyrl[bench]' (or pass --no-sb3)", code=2)
        if "sb3-rppo" in chosen and not lb.sb3_contrib_available():
            abort("sb3-rppo needs sb3-contrib: pip install sb3-contrib (or leave it out of --methods)", code=2)
        if "sb3-rppo" in chosen and env_id not in lb.RPPO_ZOO:
            abort(f"sb3-rppo runs with RL Zoo's settings, which pyrl has for {', '.join(lb.RPPO_ZOO)}, not "
                  f"{env_id}", code=2)
        try:
            lb.check_gym_env(env_id)
        except ValueError as exc:
            abort(str(exc), code=2)
    try:
        make(env_id, 1).close()  # an unknown id fails here, before any run
        budget = lb.budgets(env_id, chosen, max_steps)
        for m in chosen:
            if m in lb.PYRL_METHODS:
                lb.pyrl_config(m, env_id, num_envs, workers, 0, budget[m],
                               lb.is_pomdp(env_id) if rnn is None else rnn, overrides)
    except (EnvError, ValueError) as exc:  # EnvError is a ValueError; so are TrainConfig's checks
        abort(str(exc), code=2)
    try:
        with console.status("training...", spinner="dots") if not as_json else nullcontext() as st:
            result = lb.run(env_id=env_id, threshold=threshold, seeds=seeds, seed_start=seed_start,
                            max_steps=max_steps, methods=chosen, num_envs=num_envs, workers=workers, rnn=rnn,
                            overrides=overrides, stop_early=stop_early,
                            progress=(lambda msg: st.update(f"training {msg}")) if st is not None else None)
    except RuntimeError as exc:  # a run failed or diverged
        abort(str(exc), code=1)
    print_json(result) if as_json else lb.render(result, console)


@bench.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--sims", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Simulated studies per scenario of the family checks.")
@click.option("--coverage-sims", type=click.IntRange(min=1), default=None,
              help="Simulated studies per column of the coverage check [default: --sims].")
@click.option("--part", type=click.Choice(["all", "family", "coverage", "stability", "aggregate", "suite"]),
              default="all",
              show_default=True,
              help="family: how often reports show claims (null, and one real effect); coverage: how often "
                   "the 95% intervals cover the truth; stability: the stability claim across trained models "
                   "on a null where A3C's workers correlate 0.95, and its power (issue 22; not in all); "
                   "aggregate: the across-task IQM and probability of improvement with the bootstrap "
                   "stratified by task, on a null and under real differences (issue 23; not in all); suite: a "
                   "suite's whole report (every task's claims and those across tasks, one family) on simulated "
                   "factorials (issue 23; not in all).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes (the figures do not depend on it).")
@click.option("--old", type=click.Path(exists=True, file_okay=False), default=None,
              help="Measure the pyrl of this checkout instead (e.g. git worktree add /tmp/pyrl_old a7076c6), "
                   "in a subprocess.")
@click.option("--n-boot", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Bootstrap resamples of the old code's analyze (with --old).")
def stats_(as_json, sims, coverage_sims, part, seed, jobs, old, n_boot):
    """The report's statistics checked by simulation (issue 21): claims shown on null factorial
    studies and under one real effect, and the coverage of its 95% intervals."""
    from pyrl.benchmarks import claims as cb

    if part in ("aggregate", "suite"):
        from pyrl.benchmarks import aggregate

        if old is not None:
            raise click.BadParameter(f"the {part} part runs this checkout's code only", param_hint="--old")
        with console.status("simulating suites...", spinner="dots") if not as_json else nullcontext():
            run, md = (aggregate.run, aggregate.markdown) if part == "aggregate" else (aggregate.run_suite,
                                                                                     aggregate.markdown_suite)
            rows = run(sims=sims, seed=seed, jobs=jobs)
        print_json(rows) if as_json else console.print(Markdown(md(rows)))
        return
    if part == "stability":
        from pyrl.benchmarks import stability

        if old is not None:
            raise click.BadParameter("the stability part runs this checkout's code only; for the code before "
                                     "issue 22 run PYTHONPATH=OLD python pyrl/benchmarks/stability.py --engine "
                                     "worker", param_hint="--old")
        with console.status("simulating studies...", spinner="dots") if not as_json else nullcontext() as st:
            result = stability.run(sims=sims, seed=seed, jobs=jobs,
                                   progress=(lambda msg: st.update(f"simulating {msg}")) if st is not None else None)
        print_json(result) if as_json else stability.render(result, console)
        return
    if old is not None:
        try:
            with console.status("simulating studies with the old code...", spinner="dots") \
                    if not as_json else nullcontext() as st:
                result = cb.run_old(old, sims=sims, coverage_sims=coverage_sims, seed=seed, part=part, jobs=jobs,
                                    n_boot=n_boot,
                                    progress=(lambda msg: st.update(f"simulating {msg}")) if st is not None else None)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--old") from None
        except RuntimeError as exc:
            abort(str(exc), code=1)
    else:
        with console.status("simulating studies...", spinner="dots") if not as_json else nullcontext() as st:
            result = cb.run(sims=sims, coverage_sims=coverage_sims, seed=seed, part=part, jobs=jobs,
                            progress=(lambda msg: st.update(f"simulating {msg}")) if st is not None else None)
    print_json(result) if as_json else cb.render(result, console)
