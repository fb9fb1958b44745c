"""``pyrl ablate`` (the full factorial) and ``pyrl compare`` (one configuration, both methods)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from pyrl.cli.common import abort, console, print_json, resolve_norm
from pyrl.sweep import SUITES
from pyrl.train.config import LR_SCHEDULES, NORMS, TrainConfig, check_device

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
TRAIN_OPTIONS = ("env", "seeds", "steps", "workers", "envs_per_worker", "rollout", "hidden", "lr", "lr_schedule",
                 "optimizer", "gamma", "gae_lambda", "ent_coef", "vf_coef", "reward_scale", "obs_norm", "max_grad_norm",
                 "score_episodes", "eval_episodes")


def sweep_options(f):
    """Options shared by ablate and compare."""
    opts = [
        click.option("--preset", type=click.Choice(["quick", "full", "suite"]), default=None,
                     help="Sizes for the question: quick (minutes on 2 cores), full (a study), or suite (the memory "
                          "suite, each task at its default budget)."),
        click.option("--env", "env", default=None,
                     help="Environment id, or several separated by commas: a suite, one sweep per env with its own "
                          "tuned settings, and an answer across them (default from the preset: CartPoleNoVel-v1)."),
        click.option("--suite", "suite", type=click.Choice(sorted(SUITES)), default=None,
                     help="A named suite of envs (memory: " + ", ".join(SUITES["memory"]) + ")."),
        click.option("--seeds", type=click.IntRange(min=1), default=None, help="Runs per cell."),
        click.option("--steps", type=click.IntRange(min=1), default=None, help="Total env steps of each run."),
        click.option("--workers", type=click.IntRange(min=1), default=None, help="Workers per run (W)."),
        click.option("--envs-per-worker", type=click.IntRange(min=1), default=None, help="Envs per worker (N)."),
        click.option("--rollout", type=click.IntRange(min=1), default=None, help=f"Rollout length T [{D.rollout}]."),
        click.option("--hidden", type=click.IntRange(min=1), default=None, help=f"Hidden size [{D.hidden}]."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                     help=f"Learning rate [{D.lr:g}]."),
        click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=None,
                     help=f"constant, or linear: decayed to 0 over the learner's updates [{D.lr_schedule}]."),
        click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=None,
                     help=f"Optimizer [{D.optimizer}]."),
        click.option("--gamma", type=click.FloatRange(0, 1), default=None, help=f"Discount [{D.gamma:g}]."),
        click.option("--gae-lambda", type=click.FloatRange(0, 1), default=None, help=f"GAE lambda [{D.gae_lambda:g}]."),
        click.option("--ent-coef", type=click.FloatRange(min=0), default=None, help=f"Entropy bonus [{D.ent_coef:g}]."),
        click.option("--vf-coef", type=click.FloatRange(min=0), default=None, help=f"Value loss weight [{D.vf_coef:g}]."),
        click.option("--reward-scale", type=click.FloatRange(min=0, min_open=True), default=None,
                     help=f"Rewards are multiplied by this before returns and advantages [{D.reward_scale:g}]."),
        click.option("--obs-norm/--no-obs-norm", "obs_norm", default=None,
                     help="Normalise observations by their running mean and variance, as SB3's VecNormalize "
                          f"[{'on' if D.obs_norm else 'off'}]."),
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


def _envs(options: dict) -> list[str]:
    """The envs of the sweep: --env (one, or several separated by commas), --suite, or the
    preset's."""
    from pyrl.sweep import PRESETS

    if options["env"] is not None and options["suite"] is not None:
        raise click.BadParameter("give --env or --suite, not both", param_hint="--suite")
    if options["suite"] is not None:
        return list(SUITES[options["suite"]])
    if options["env"] is not None:
        envs = [e.strip() for e in options["env"].split(",") if e.strip()]
        if not envs:
            raise click.BadParameter("no environment id given", param_hint="--env")
        if len(set(envs)) != len(envs):
            raise click.BadParameter("each env once", param_hint="--env")
        from pyrl.results import suite_dir

        if len(envs) > 1 and len({suite_dir("", e) for e in envs}) != len(envs):  # a/b and a_b: one folder
            raise click.BadParameter("two env ids map to one folder of the suite; rename one", param_hint="--env")
        return envs
    preset = PRESETS[options["preset"] or "quick"]
    return list(SUITES[preset["suite"]]) if "suite" in preset else [preset["env"]]


def _plan(factors, methods, options: dict, fixed: dict) -> list[tuple[str, dict]]:
    """(env, its sweep's settings) for every env of the sweep."""
    return [(env, _settings(factors, methods, {**options, "env": env}, fixed)) for env in _envs(options)]


def _settings(factors, methods, options: dict, fixed: dict):
    """The sweep's settings from the command line: the preset, the options given, and what
    this command fixes (compare's configuration)."""
    from pyrl.sweep import PRESETS

    from pyrl.train import tasks

    preset = {k: v for k, v in PRESETS[options["preset"] or "quick"].items() if k != "suite"}
    settings = dict(preset, factors=factors, methods=list(methods))
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
    per_rollout = (settings.get("rollout", D.rollout) * settings.get("envs_per_worker", D.envs_per_worker)
                   * settings.get("workers", D.workers))
    if settings.get("steps", D.steps) < per_rollout:
        raise click.BadParameter(
            f"--steps {settings.get('steps', D.steps)} is less than one rollout of every worker "
            f"(rollout x envs-per-worker x workers = {per_rollout})", param_hint="--steps")
    return settings


def _run(plan, out, backend, ray_address, jobs, as_json, show_report):
    """The sweep (one per env of ``plan``), then its report. Ctrl-C at any point exits 130,
    keeping finished runs."""
    try:
        _sweep_then_report(plan, out, backend, ray_address, jobs, as_json, show_report)
    except KeyboardInterrupt:
        abort(f"interrupted: finished runs are kept in {out}; rerun the same command to resume", code=130)


def _sweep_then_report(plan, out, backend, ray_address, jobs, as_json, show_report):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from pyrl import sweep as sw
    from pyrl.envs import EnvError, check_obs_norm, make
    from pyrl.results import suite_dir

    suite = len(plan) > 1
    where = {env: suite_dir(out, env) if suite else out for env, _ in plan}
    try:  # a directory in use, a bad env id: the user's mistakes, said before any run starts
        specs = []
        if suite:
            sw.check_suite(out, [env for env, _ in plan])
        for env, settings in plan:
            sw.check_free(where[env])
            probe = make(env, 1, 0)
            probe.close()
            grid = sw.grid(settings)
            if any(s.train_kwargs.get("obs_norm") for s in grid):  # else every such run would fail
                check_obs_norm(env, probe.observation_space)
            specs += grid
            sw.check_resumable(where[env], settings)  # every env's, before the first run of any
        if suite:
            sw.prepare_suite(out, [env for env, _ in plan])
        elif (out / sw.SUITE).exists():
            raise sw.SweepError(f"{out} holds a suite; use another --out for a single-env sweep")
    except (EnvError, sw.SweepError) as exc:
        abort(str(exc), code=2)
    if not as_json:
        from pyrl.train.tasks import describe

        for env, settings in plan:
            if settings.get("task_defaults"):
                console.print(describe(env, settings["task_defaults"]))
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
                progress.console.print(f"[yellow]{name(e)}: failed before, training it again[/] "
                                       f"({e.result.get('error') or 'no error text'})")
        elif e.kind == "start":
            running[name(e)] = time.time()
        else:
            running.pop(name(e), None)
            status = e.result.get("status", "failed")
            counts[status] = counts.get(status, 0) + 1
            progress.advance(task)
            if status != "ok" and not as_json:
                progress.console.print(f"[yellow]{name(e)}: {status}[/] {e.result.get('error') or ''}")
        now = ", ".join(sorted(running))
        progress.update(task, status=f"running: {now}" if now else "")

    def name(e):  # a run's name on the screen: in a suite, its env's too
        return f"{e.spec.train_kwargs['env']}/{e.spec.run_id}" if suite else e.spec.run_id

    try:
        with progress:
            for env, settings in plan:
                sw.sweep(settings, where[env], backend=backend, jobs=jobs, ray_address=ray_address,
                         on_event=on_event)
    except sw.SweepError as exc:
        abort(str(exc), code=2)
    summary = {"out": str(out), "runs": len(specs), "wall_s": time.time() - t0, **counts}
    doc = None
    if show_report or as_json:
        doc = _report(out, as_json)
    if as_json:
        print_json({"sweep": summary, "settings": plan[0][1] if not suite else {env: st for env, st in plan},
                    "report": doc})
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

    if results.is_suite(out):
        from pyrl.stats.suite import analyze_suite

        try:
            doc = analyze_suite(results.suite_inputs(out))
        except (ScoresError, ResultsError) as exc:
            if not quiet:
                console.print(f"[yellow]no report:[/] {exc}")
            return None
        if not quiet:
            rep.render_suite(doc, console)
        return doc
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
    _run(_plan(factors, methods, options, fixed={}), out, options["backend"], ray_address, jobs, as_json, show_report)


@click.command()
@click.option("--rnn/--no-rnn", default=False, show_default=True, help="Recurrent core (LN-GRU).")
@click.option("--norm", type=click.Choice(NORMS), default=None, help="Normalisation [default: none].")
@click.option("--layernorm/--no-layernorm", default=None, help="The two-level spelling: --norm layernorm / none.")
@click.option("--methods", callback=_csv_list(KNOWN_METHODS), default="a3c,individual", show_default=True)
@sweep_options
def compare(rnn, norm, layernorm, methods, out, jobs, ray_address, as_json, show_report, **options):
    """One configuration, both methods, N seeds, then the report."""
    plan = _plan({}, methods, options, fixed={"rnn": rnn, "norm": resolve_norm(norm, layernorm)})
    _run(plan, out, options["backend"], ray_address, jobs, as_json, show_report)
