"""``pyrl train``: one run of A3C or independent learners, with a live display."""
from __future__ import annotations

from pathlib import Path

import click

from pyrl.cli.common import abort, console, device_option, given_options, print_json, resolve_norm
from pyrl.train.config import LR_SCHEDULES, NORMS, TrainConfig

D = TrainConfig()  # the defaults live in one place


@click.command()
@click.option("--method", type=click.Choice(["a3c", "individual"]), default=D.method, show_default=True,
              help="a3c: one shared model, lock-free; individual: each worker learns alone.")
@click.option("--env", "env", default=D.env, show_default=True,
              help="Environment id; one with tuned settings (pyrl.train.tasks) starts from them.")
@click.option("--workers", type=click.IntRange(min=1), default=D.workers, show_default=True, help="Worker processes W.")
@click.option("--envs-per-worker", type=click.IntRange(min=1), default=D.envs_per_worker, show_default=True,
              help="Envs per worker N.")
@click.option("--steps", type=click.IntRange(min=1), default=D.steps, show_default=True,
              help="Total env steps of the run, split over the workers.")
@click.option("--rollout", type=click.IntRange(min=1), default=D.rollout, show_default=True, help="Rollout length T.")
@click.option("--seed", type=int, default=D.seed, show_default=True)
@click.option("--rnn/--no-rnn", default=False, show_default=True, help="Recurrent core (fused LN-GRU).")
@click.option("--norm", type=click.Choice(NORMS), default=None,
              help="Normalisation after the encoder (layernorm, rmsnorm: also inside the GRU) [default: none].")
@click.option("--layernorm/--no-layernorm", default=None, help="The two-level spelling: --norm layernorm / none.")
@click.option("--hidden", type=click.IntRange(min=1), default=D.hidden, show_default=True)
@click.option("--separate-critic/--shared-critic", default=D.separate_critic, show_default=True,
              help="The value head on its own encoder (and core), or on the policy's.")
@click.option("--lr", type=float, default=D.lr, show_default=True)
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=D.lr_schedule, show_default=True,
              help="linear: decayed to 0 over the learner's updates (A3C: the shared model's, every worker's).")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default=D.optimizer, show_default=True)
@click.option("--gamma", type=click.FloatRange(0, 1), default=D.gamma, show_default=True)
@click.option("--gae-lambda", type=click.FloatRange(0, 1), default=D.gae_lambda, show_default=True)
@click.option("--ent-coef", type=click.FloatRange(min=0), default=D.ent_coef, show_default=True)
@click.option("--vf-coef", type=click.FloatRange(min=0), default=D.vf_coef, show_default=True)
@click.option("--reward-scale", type=click.FloatRange(min=0, min_open=True), default=D.reward_scale, show_default=True,
              help="Rewards are multiplied by this before returns and advantages (scores stay raw).")
@click.option("--obs-norm/--no-obs-norm", default=D.obs_norm, show_default=True,
              help="Normalise observations by their running mean and variance (as SB3's VecNormalize).")
@click.option("--max-grad-norm", type=click.FloatRange(min=0, min_open=True), default=D.max_grad_norm,
              show_default=True)
@click.option("--score-episodes", type=click.IntRange(min=1), default=D.score_episodes, show_default=True)
@click.option("--eval-episodes", type=click.IntRange(min=0), default=D.eval_episodes, show_default=True,
              help="Episodes of the evaluation of every trained model after training (0: none).")
@click.option("--device", default=D.device, show_default=True, callback=device_option,
              help="Where the models learn: cpu, cuda or cuda:K (the envs step on the CPU).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory.")
@click.option("--tensorboard", is_flag=True, help="Also write TensorBoard scalars to OUT/tb (pip install tensorboard).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def train(method, env, workers, envs_per_worker, steps, rollout, seed, rnn, norm, layernorm, hidden, separate_critic,
          lr, lr_schedule, optimizer, gamma, gae_lambda, ent_coef, vf_coef, reward_scale, obs_norm, max_grad_norm,
          score_episodes, eval_episodes, device, out, tensorboard, as_json):
    """Train one run and write result.json, curve.csv and the model(s) to --out. An environment
    with a row of tuned settings (pyrl.train.tasks) starts from it; a flag overrides it."""
    from pyrl.train import tasks

    norm = resolve_norm(norm, layernorm)
    opts = dict(rollout=rollout, gamma=gamma, gae_lambda=gae_lambda, lr=lr, ent_coef=ent_coef, hidden=hidden,
                envs_per_worker=envs_per_worker, steps=steps, score_episodes=score_episodes, reward_scale=reward_scale,
                obs_norm=obs_norm, lr_schedule=lr_schedule)
    taken = tasks.defaults(env, given_options(click.get_current_context(), tasks.OPTIONS))
    opts.update(taken)
    (rollout, gamma, gae_lambda, lr, ent_coef, hidden, envs_per_worker, steps, score_episodes, reward_scale,
     obs_norm, lr_schedule) = (opts[k] for k in tasks.OPTIONS)
    if not lr > 0:
        raise click.BadParameter(f"must be positive, got {lr}", param_hint="--lr")
    if steps < rollout * envs_per_worker * workers:
        raise click.BadParameter(
            f"{steps} is less than one rollout of every worker (rollout x envs-per-worker x workers = "
            f"{rollout * envs_per_worker * workers})", param_hint="--steps")
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401
        except ImportError:
            raise click.UsageError("--tensorboard needs the tensorboard package: pip install tensorboard")
    from functools import partial

    from pyrl.envs import EnvError
    from pyrl.train.run import train as run_train

    cfg = TrainConfig(method=method, env=env, workers=workers, envs_per_worker=envs_per_worker, steps=steps,
                      rollout=rollout, seed=seed, rnn=rnn, norm=norm, hidden=hidden,
                      separate_critic=separate_critic, lr=lr, lr_schedule=lr_schedule,
                      optimizer=optimizer, gamma=gamma, gae_lambda=gae_lambda, ent_coef=ent_coef, vf_coef=vf_coef,
                      reward_scale=reward_scale, obs_norm=obs_norm, max_grad_norm=max_grad_norm,
                      score_episodes=score_episodes, eval_episodes=eval_episodes,
                      device=device, extra={"task_defaults": taken} if taken else {})
    if taken and not as_json:
        console.print(tasks.describe(env, taken))
    run_train = partial(run_train, tensorboard=tensorboard)
    try:
        if as_json:
            result = run_train(cfg, out)
        else:
            result = _with_display(cfg, out, run_train)
    except EnvError as exc:
        abort(str(exc), code=2)
    if as_json:
        print_json({k: result[k] for k in ("status", "error", "method", "env", "config", "seed", "steps", "wall_s",
                                           "sps", "workers", "score_mean", "models", "eval_s", "floor")})
    else:
        _summary(result, out)
    if result["status"] != "ok":
        raise SystemExit(130 if result["status"] == "interrupted" else 1)  # 130: the shell's Ctrl-C code


def _with_display(cfg, out, run_train):
    """A progress bar with elapsed time and ETA (as the sweep's), and under it each worker's
    recent return."""
    from rich.console import Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    progress = Progress(TextColumn(f"[bold]{cfg.method}[/] {cfg.env}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        TextColumn("{task.fields[sps]}"), console=console)
    task = progress.add_task("train", total=cfg.updates_per_worker * cfg.rollout * cfg.envs_per_worker * cfg.workers,
                             sps="")
    recent = [None] * cfg.workers

    def workers():
        t = Table(title_justify="left", box=None, padding=(0, 2))
        t.add_column("worker", justify="right")
        t.add_column(f"recent return (last {cfg.score_episodes})", justify="right")
        for w, r in enumerate(recent):
            t.add_row(str(w), "-" if r is None else f"{r:.1f}")
        return t

    with Live(Group(progress, workers()), console=console, refresh_per_second=4, transient=False) as live:
        def on_progress(p):
            recent[:] = p["recent"]
            sps = p["steps"] / p["elapsed"] if p["elapsed"] else 0.0
            progress.update(task, completed=p["steps"], sps=f"{sps:,.0f} steps/s")
            live.update(Group(progress, workers()))
        result = run_train(cfg, out, on_progress)
    if not console.is_terminal:
        console.line()  # Live ends its last frame without a newline off a terminal
    return result


def _summary(result, out):
    evals = [m for m in result["models"] if m["eval"]]
    if evals:  # above the summary, which stays the last line
        means = ", ".join(f"{m['eval']['mean']:.1f}" for m in evals)
        console.print(f"evaluation ({evals[0]['eval']['episodes']} episodes of the sampled policy, "
                      f"{result['eval_s']:.1f} s): mean return {means} (model{'s' if len(evals) > 1 else ''} "
                      f"{', '.join(str(m['model']) for m in evals)}); a random policy's "
                      f"{result['floor']['score']:.1f}")
    style = "green" if result["status"] == "ok" else "red"
    score = result["score_mean"]
    console.print(f"[{style}]{result['status']}[/]: score_mean "
                  f"{'n/a' if score is None else f'{score:.1f}'}, {result['steps']:,} steps in "
                  f"{result['wall_s']:.1f} s ({result['sps']:,.0f} steps/s); results in {out}")
    if result["error"]:
        console.print(f"[red]{result['error']}[/]")
