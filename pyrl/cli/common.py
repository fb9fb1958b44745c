"""What every command shares: the one rich Console, and how errors leave the CLI."""
from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import click
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def abort(message: str, code: int = 1) -> NoReturn:
    """One red line on stderr, then exit (1: the run failed; 2: a usage mistake)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _strict(obj: Any) -> Any:
    """JSON has no inf/nan: write them as strings so the document stays strict."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_strict(obj), allow_nan=False)


def print_json(obj: Any) -> None:
    """One strict JSON document on stdout (for --json)."""
    click.echo(dumps(obj))
