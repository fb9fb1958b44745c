"""What every command shares: the one rich Console, and how errors leave the CLI."""
from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from rich.console import Console

from pyrl.results import strict

console = Console()
err_console = Console(stderr=True)


def abort(message: str, code: int = 1) -> NoReturn:
    """One red line on stderr, then exit (1: the run failed; 2: a usage mistake)."""
    from rich.markup import escape  # a message is plain text: "pyrl[bench]" is not markup

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def dumps(obj: Any) -> str:
    return json.dumps(strict(obj), allow_nan=False)


def print_json(obj: Any) -> None:
    """One strict JSON document on stdout (for --json)."""
    click.echo(dumps(obj))


def device_option(ctx, param, value: str) -> str:
    """Click callback of --device: a device this machine can train on, else a usage error."""
    from pyrl.train.config import check_device

    try:
        return check_device(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def resolve_norm(norm, layernorm) -> str:
    """--norm, or its two-level spelling --layernorm/--no-layernorm (not both, unless they agree)."""
    if layernorm is None:
        return norm or "none"
    spelled = "layernorm" if layernorm else "none"
    if norm is not None and norm != spelled:
        raise click.UsageError(f"--norm {norm} and --{'' if layernorm else 'no-'}layernorm disagree: give one")
    return spelled


def given_options(ctx: click.Context, names) -> set[str]:
    """Which of ``names`` (parameter names) the user set, on the command line or through the
    environment, rather than leaving them at their defaults."""
    from click.core import ParameterSource

    return {n for n in names if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE,
                                                                 ParameterSource.ENVIRONMENT)}
