"""``pyrl eval RUN_DIR``: the saved models of a run on fresh episodes."""
from __future__ import annotations

from pathlib import Path

import click

from pyrl.cli.common import abort, console, print_json


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the fresh episodes.")
@click.option("--json", "as_json", is_flag=True)
def eval_cmd(run_dir, episodes, seed, as_json):
    """Evaluate each saved model of RUN_DIR (sampling its policy) for --episodes episodes.

    Up to 8 envs run at once; each contributes a fixed share of the episodes, its first ones
    (as Stable-Baselines3's evaluate_policy), so short episodes are not over-represented."""
    from pyrl.train.evaluate import evaluate_run

    if not (run_dir / "model_meta.json").exists():
        abort(f"{run_dir} is not a pyrl run directory (no model_meta.json)", code=2)
    try:
        results = evaluate_run(run_dir, episodes, seed)
    except (OSError, ValueError, KeyError) as exc:
        abort(f"cannot evaluate {run_dir}: {exc}")
    if as_json:
        print_json({"run_dir": str(run_dir), "episodes": episodes, "models": results})
        return
    from rich.table import Table

    t = Table(title=f"evaluation of {run_dir} ({episodes} episodes each)")
    for c in ("model", "mean return", "std", "min", "max"):
        t.add_column(c, justify="right")
    for r in results:
        t.add_row(r["model"], f"{r['mean']:.1f}", f"{r['std']:.1f}", f"{r['min']:.1f}", f"{r['max']:.1f}")
    console.print(t)
