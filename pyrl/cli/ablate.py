"""``pyrl ablate`` (the full factorial) and ``pyrl compare`` (one configuration, both methods)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from pyrl.cli.common import abort, console, print_json, resolve_norm
from pyrl.train.config import NORMS, TrainConfig, check_device

D = TrainConfig()  # the trainer's defaults

KNOWN_COMPONENTS = ("rnn", "layernorm")
KNOWN_METHODS = ("a3c", "individual")


def _csv_list(known):
    def convert(ctx, param, value):
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in known]
        if bad:
            raise click.BadParameter(f"unknown {', '.join(bad)} (choose from {', '.join(known)})")
        if len(set(items)) != len(items):
            raise click.BadParameter("each name once")
        return items
    return convert


# The training options a sweep passes to every run; None: the preset's (env, seeds, steps,
# workers, envs-per-worker), else the trainer's default. sweep.json records them resolved.
TRAIN_OPTIONS = ("env", "seeds", "steps", "workers", "envs_per_worker", "rollout", "hidden", "lr", "optimizer",
                 "gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "score_episodes", "eval_episodes")


def sweep_options(f):
    """Options shared by ablate and compare."""
    opts = [
        click.option("--preset", type=click.Choice(["quick", "full"]), default=None,
                     help="Sizes for the question: quick (minutes on 2 cores) or full (a study)."),
        click.option("--env", "env", default=None, help="Environment id (default from the preset: CartPoleNoVel-v1)."),
        click.option("--seeds", type=click.IntRange(min=1), default=None, help="Runs per cell."),
        click.option("--steps", type=click.IntRange(min=1), default=None, help="Total env steps of each run."),
        click.option("--workers", type=click.IntRange(min=1), default=None, help="Workers per run (W)."),
        click.option("--envs-per-worker", type=click.IntRange(min=1), default=None, help="Envs per worker (N)."),
        click.option("--rollout", type=click.IntRange(min=1), default=None, help=f"Rollout length T [{D.rollout}]."),
        click.option("--hidden", type=click.IntRange(min=1), default=None, help=f"Hidden size [{D.hidden}]."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                     help=f"Learning rate [{D.lr:g}]."),
        click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=None,
                     help=f"Optimizer [{D.optimizer}]."),
        click.option("--gamma", type=click.FloatRange(0, 1), default=None, help=f"Discount [{D.gamma:g}]."),
        click.option("--gae-lambda", type=click.FloatRange(0, 1), default=None, help=f"GAE lambda [{D.gae_lambda:g}]."),
        click.option("--ent-coef", type=click.FloatRange(min=0), default=None, help=f"Entropy bonus [{D.ent_coef:g}]."),
        click.option("--vf-coef", type=click.FloatRange(min=0), default=None, help=f"Value loss weight [{D.vf_coef:g}]."),
        click.option("--max-grad-norm", type=click.FloatRange(min=0, min_open=True), default=None,
                     help=f"Gradient clipping (global norm) [{D.max_grad_norm:g}]."),
        click.option("--score-episodes", type=click.IntRange(min=1), default=None,
                     help=f"A worker's score: mean return of its last this-many episodes [{D.score_episodes}]."),
        click.option("--eval-episodes", type=click.IntRange(min=0), default=None,
                     help=f"Episodes of the evaluation of every trained model after training, 0: none "
                          f"[{D.eval_episodes}]."),
        click.option("--device", default=D.device, show_default=True,
                     help="Where the models learn: cpu, cuda or cuda:K (a Ray run takes one GPU)."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Results directory (a rerun of the same command resumes it)."),
        click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True),
        click.option("--ray-address", default=None, help="Ray cluster address (else RAY_ADDRESS, else a local Ray)."),
        click.option("--jobs", type=click.IntRange(min=1), default=None,
                     help="Local backend: runs at once (default: cores / workers)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON summary (with the report) on stdout."),
        click.option("--report/--no-report", "show_report", default=True, show_default=True,
                     help="Print the report when the sweep is done."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _settings(factors, methods, options: dict, fixed: dict):
    """The sweep's settings from the command line: the preset, the options given, and what
    this command fixes (compare's configuration)."""
    from pyrl.sweep import PRESETS

    from pyrl.train import tasks

    settings = dict(PRESETS[options["preset"] or "quick"], factors=factors, methods=list(methods))
    settings.update({k: options[k] for k in TRAIN_OPTIONS if options[k] is not None})
    # the env's tuned settings under the preset's sizes and the options given (and not for what the
    # factors or this command set)
    taken = tasks.defaults(settings["env"], set(settings) | set(factors) | set(fixed))
    settings.update(taken, task_defaults=taken)
    backend = options["backend"]
    try:  # the driver of a Ray sweep need not have the GPU its cluster has
        device = check_device(options["device"], here=backend == "local")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from None
    if backend == "ray" and device.startswith("cuda:"):
        raise click.BadParameter("Ray gives each run its own GPU: use --device cuda", param_hint="--device")
    settings["device"] = device
    settings.update(fixed)
    per_rollout = settings.get("rollout", D.rollout) * settings["envs_per_worker"] * settings["workers"]
    if settings["steps"] < per_rollout:
        raise click.BadParameter(
            f"--steps {settings['steps']} is less than one rollout of every worker "
            f"(rollout x envs-per-worker x workers = {per_rollout})", param_hint="--steps")
    return settings


def _run(settings, out, backend, ray_address, jobs, as_json, show_report):
    """The sweep, then its report. Ctrl-C at any point exits 130, keeping finished runs."""
    try:
        _sweep_then_report(settings, out, backend, ray_address, jobs, as_json, show_report)
    except KeyboardInterrupt:
        abort(f"interrupted: finished runs are kept in {out}; rerun the same command to resume", code=130)


def _sweep_then_report(settings, out, backend, ray_address, jobs, as_json, show_report):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from pyrl import sweep as sw
    from pyrl.envs import EnvError, make

    try:  # a directory in use, a bad env id: the user's mistakes, said before any run starts
        sw.check_free(out)
        make(settings["env"], 1, 0).close()
        specs = sw.grid(settings)
    except (EnvError, sw.SweepError) as exc:
        abort(str(exc), code=2)
    if settings.get("task_defaults") and not as_json:
        from pyrl.train.tasks import describe

        console.print(describe(settings["env"], settings["task_defaults"]))
    running: dict[str, float] = {}
    counts = {"ok": 0, "failed": 0, "diverged": 0, "interrupted": 0, "skipped": 0, "retried": 0}
    t0 = time.time()
    progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                        console=console, transient=False, disable=as_json)
    task = progress.add_task("runs", total=len(specs), status="")

    def on_event(e):
        if e.kind == "skip":
            counts["skipped"] += 1
            progress.advance(task)
        elif e.kind == "retry":  # failed before (a crash, a kill): not a learning outcome
            counts["retried"] += 1
            if not as_json:
                progress.console.print(f"[yellow]{e.spec.run_id}: failed before, training it again[/] "
                                       f"({e.result.get('error') or 'no error text'})")
        elif e.kind == "start":
            running[e.spec.run_id] = time.time()
        else:
            running.pop(e.spec.run_id, None)
            status = e.result.get("status", "failed")
            counts[status] = counts.get(status, 0) + 1
            progress.advance(task)
            if status != "ok" and not as_json:
                progress.console.print(f"[yellow]{e.spec.run_id}: {status}[/] {e.result.get('error') or ''}")
        now = ", ".join(sorted(running))
        progress.update(task, status=f"running: {now}" if now else "")

    try:
        with progress:
            sw.sweep(settings, out, backend=backend, jobs=jobs, ray_address=ray_address, on_event=on_event)
    except sw.SweepError as exc:
        abort(str(exc), code=2)
    summary = {"out": str(out), "runs": len(specs), "wall_s": time.time() - t0, **counts}
    doc = None
    if show_report or as_json:
        doc = _report(out, as_json)
    if as_json:
        print_json({"sweep": summary, "settings": settings, "report": doc})
    else:
        console.print(f"{summary['runs']} runs in {out}: {counts['ok']} ok, {counts['failed']} failed, "
                      f"{counts['diverged']} diverged, {counts['skipped']} already finished, "
                      f"{counts['retried']} retried ({summary['wall_s']:.0f} s)")
        if counts["failed"]:
            console.print(f"[yellow]{counts['failed']} runs failed (not learning outcomes): rerun the "
                          "same command to train them again[/]")


def _report(out, quiet):
    from pyrl import report as rep
    from pyrl import results
    from pyrl.results import ResultsError
    from pyrl.stats import ScoresError, analyze

    try:
        got = results.inputs_from_dir(out)
        doc = analyze(got.samples, got.factors, curves=got.curves, models=got.models, floor=got.floor,
                      floor_source=got.floor_source)
    except (ScoresError, ResultsError) as exc:
        if not quiet:
            console.print(f"[yellow]no report:[/] {exc}")
        return None
    doc["skipped"] = list(doc.get("skipped", [])) + got.notes
    if not quiet:
        rep.render(doc, console)
    return doc


_ON, _OFF = ("on", "true", "1", "yes"), ("off", "false", "0", "no")


def _factor(ctx, param, values):
    """--factor NAME=L1,L2,...: a training option and its levels, the first the baseline's."""
    from pyrl.train.config import FACTOR_ALIASES, TrainConfig

    defaults = TrainConfig()
    factors = {}
    for value in values:
        name, eq, levels = value.partition("=")
        name = name.strip().replace("-", "_")
        items = [v.strip() for v in levels.split(",") if v.strip()]
        if not eq or not name or len(items) < 2:
            raise click.BadParameter(f"expected NAME=LEVEL,LEVEL[,...] (two levels at least), got {value!r}")
        if name in factors:
            raise click.BadParameter(f"factor {name!r} given twice")
        if name in FACTOR_ALIASES or isinstance(getattr(defaults, name, None), bool):
            bad = [v for v in items if v.lower() not in _ON + _OFF]
            if bad:
                raise click.BadParameter(f"{name} is on/off: levels on, off (got {', '.join(bad)})")
            factors[name] = [v.lower() in _ON for v in items]
        elif not hasattr(defaults, name) or name in ("method", "seed", "extra"):
            raise click.BadParameter(f"unknown factor {name!r}: a factor is a training option "
                                     "(see pyrl train --help), e.g. norm, rnn, lr, rollout")
        else:
            kind = type(getattr(defaults, name))
            try:
                factors[name] = [kind(v) for v in items]
            except ValueError:
                raise click.BadParameter(f"{name} takes {kind.__name__} levels, got {', '.join(items)}") from None
    return factors


@click.command()
@click.option("--factor", "factors", multiple=True, callback=_factor, metavar="NAME=LEVEL,LEVEL,...",
              help="A factor and its levels, the first the baseline's (repeatable), e.g. "
                   "--factor norm=none,layernorm,rmsnorm,batchnorm --factor rnn=on,off.")
@click.option("--components", callback=_csv_list(KNOWN_COMPONENTS), default=None,
              help="On/off components (two-level factors, on first) [default: rnn,layernorm without --factor].")
@click.option("--methods", callback=_csv_list(KNOWN_METHODS), default="a3c,individual", show_default=True)
@sweep_options
def ablate(factors, components, methods, out, jobs, ray_address, as_json, show_report, **options):
    """Every combination of the factors' levels x methods x seeds, then the report."""
    if components is None:
        components = [] if factors else list(KNOWN_COMPONENTS)
    both = set(factors) & set(components)
    if both:
        raise click.BadParameter(f"{', '.join(sorted(both))} given as a factor and a component", param_hint="--factor")
    factors = {**factors, **{c: [True, False] for c in components}}
    settings = _settings(factors, methods, options, fixed={})
    _run(settings, out, options["backend"], ray_address, jobs, as_json, show_report)


@click.command()
@click.option("--rnn/--no-rnn", default=False, show_default=True, help="Recurrent core (LN-GRU).")
@click.option("--norm", type=click.Choice(NORMS), default=None, help="Normalisation [default: none].")
@click.option("--layernorm/--no-layernorm", default=None, help="The two-level spelling: --norm layernorm / none.")
@click.option("--methods", callback=_csv_list(KNOWN_METHODS), default="a3c,individual", show_default=True)
@sweep_options
def compare(rnn, norm, layernorm, methods, out, jobs, ray_address, as_json, show_report, **options):
    """One configuration, both methods, N seeds, then the report."""
    settings = _settings({}, methods, options, fixed={"rnn": rnn, "norm": resolve_norm(norm, layernorm)})
    _run(settings, out, options["backend"], ray_address, jobs, as_json, show_report)
