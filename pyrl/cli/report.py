"""``pyrl report``: the ablation study's tables from a results directory or a scores CSV."""
from __future__ import annotations

import math
from pathlib import Path

import click

from pyrl.cli.common import abort, console, print_json


def _score_range(ctx, param, value):
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LO,HI (two numbers), e.g. --score-range -21,21")
    if not hi > lo:
        raise click.BadParameter(f"HI must be greater than LO, got {value}")
    return lo, hi


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--scores", type=click.Path(dir_okay=False, path_type=Path),
              help="A long-format CSV (method, seed, worker, score; optional status, model and floor; one "
                   "column per factor) instead of a results directory; seed identifies the run, model the "
                   "trained model its workers share.")
@click.option("--treatment", default="a3c", show_default=True, help="Method treated as the treatment.")
@click.option("--control", default="individual", show_default=True, help="Method treated as the control.")
@click.option("--score-range", callback=_score_range, metavar="LO,HI",
              help="Normalise scores to [0, 1] first (needed for a meaningful CV when scores can be negative).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one strict JSON document.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as Markdown to this file.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write PNG figures into this directory.")
@click.option("--diverged", "diverged", type=click.Choice(["floor", "last", "exclude"]), default="floor",
              show_default=True,
              help="How a diverged learner is scored: floor (the environment's floor, or its own last score "
                   "where lower, so diverging never helps), last (its mean return before divergence), exclude "
                   "(left out, and said so).")
@click.option("--floor", "floor", type=float, default=None, metavar="SCORE",
              help="The environment's divergence floor in score units, fixed before the analysis (e.g. a "
                   "uniformly random policy's mean return). Default: sweep.json's random-policy score, or the "
                   "scores CSV's floor column; without one, diverged learners keep their last scores.")
@click.option("--threshold", type=float, default=None,
              help="Score a run must reach for convergence speed (steps to threshold, normalised AUC); "
                   "default 0.9 x the best cell's mean final score.")
def report(directory, scores, treatment, control, score_range, as_json, markdown_path, plots_dir, diverged, floor,
           threshold):
    """Render the report for DIRECTORY (a sweep or run directory) or for --scores FILE.csv."""
    from pyrl import report as rep
    from pyrl import results
    from pyrl.results import ResultsError
    from pyrl.stats import ScoresError, analyze
    from pyrl.stats.samples import read_scores_csv

    if (directory is None) == (scores is None):
        raise click.UsageError("give either a results DIRECTORY or --scores FILE.csv (exactly one)")
    if treatment == control:
        raise click.BadParameter("treatment and control must be different methods", param_hint="--treatment")
    if floor is not None and not math.isfinite(floor):
        raise click.BadParameter(f"must be a finite number, got {floor}", param_hint="--floor")
    if directory is not None and results.is_suite(directory):
        _suite(directory, treatment, control, score_range, floor, threshold, diverged, as_json, markdown_path,
               plots_dir)
        return
    curves, models, given = None, None, floor
    try:
        if scores is not None:
            got = read_scores_csv(scores, treatment=treatment, control=control)
            samples, components, skipped = got.samples, got.factors, []
            floor = given if given is not None else got.floor
            source = "--floor" if given is not None else "the scores' floor column" if floor is not None else None
        else:
            inp = results.inputs_from_dir(directory)
            samples, components, skipped, curves, models = inp.samples, inp.factors, inp.notes, inp.curves, inp.models
            floor = given if given is not None else inp.floor
            source = "--floor" if given is not None else inp.floor_source
        doc = analyze(samples, components, treatment=treatment, control=control, score_range=score_range,
                      diverged=diverged, curves=curves, threshold=threshold, models=models, floor=floor,
                      floor_source=source)
    except (ScoresError, ResultsError) as exc:
        abort(str(exc), code=2)
    doc["skipped"] = list(doc.get("skipped", [])) + skipped

    _emit(doc, as_json, markdown_path, plots_dir, rep.render, rep.markdown,
          lambda: _figures(doc, samples, curves, plots_dir))


def _suite(directory, treatment, control, score_range, floor, threshold, diverged, as_json, markdown_path,
           plots_dir) -> None:
    """The report of a suite (``pyrl ablate --env A,B`` / ``--suite``): each task's analysis and
    the answer across tasks, one family. Options that fix one task's units do not apply."""
    from pyrl import report as rep
    from pyrl import results
    from pyrl.results import ResultsError
    from pyrl.stats import ScoresError
    from pyrl.stats.suite import analyze_suite

    for name, value in (("--score-range", score_range), ("--floor", floor), ("--threshold", threshold)):
        if value is not None:
            raise click.BadParameter(f"{directory} is a suite: each task takes its own from its sweep (sweep.json)",
                                     param_hint=name)
    try:
        inputs = results.suite_inputs(directory)
        doc = analyze_suite(inputs, treatment=treatment, control=control, diverged=diverged)
    except (ScoresError, ResultsError) as exc:
        abort(str(exc), code=2)
    def figures():
        from pyrl import plots

        plots_dir.mkdir(parents=True, exist_ok=True)
        written = [plots.suite_profile(doc, plots_dir / "performance_profile_across_tasks.png")]
        for task, inp in zip(doc["tasks"], inputs):
            written += _figures(task, inp.samples, inp.curves, results.suite_dir(plots_dir, task["task"]))
        return written

    _emit(doc, as_json, markdown_path, plots_dir, rep.render_suite, rep.markdown_suite, figures)


def _emit(doc, as_json, markdown_path, plots_dir, render, markdown, figures) -> None:
    """The report on the terminal or as JSON, with its Markdown and figures where asked."""
    try:  # an unwritable path is the user's to fix: one line, exit 2
        if markdown_path is not None:
            _write_atomic(markdown_path, markdown(doc))
        if plots_dir is not None:
            doc["plots"] = [str(p) for p in figures()]
    except OSError as exc:
        abort(f"cannot write the report: {exc}", code=2)
    if as_json:
        print_json(doc)
    else:
        render(doc, console)
        if markdown_path is not None:
            console.print(f"Markdown written to {markdown_path}")
        for p in doc.get("plots", []):
            console.print(f"Figure written to {p}")


def _figures(doc, samples, curves, plots_dir: Path) -> list[Path]:
    from pyrl import plots

    plots_dir.mkdir(parents=True, exist_ok=True)
    written = [plots.claims(doc, plots_dir / "claims.png"),
               plots.performance_profile(doc, plots_dir / "performance_profile.png"),
               plots.cv_per_configuration(doc, plots_dir / "cv_per_configuration.png"),
               plots.score_distributions(doc, samples, plots_dir / "score_distributions.png")]
    if curves:
        curve = plots.learning_curves(curves, doc, plots_dir / "learning_curves.png")
        if curve is not None:
            written.append(curve)
    return written


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
