"""The ``pyrl`` command: a Click group with one module per command.

Commands are imported only when invoked, so ``pyrl --help`` does not import torch.
User mistakes are Click usage errors (exit 2) or one red line on stderr (exit 1), never
a traceback.
"""
from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" under pyrl.cli
COMMANDS = {
    "ablate": "pyrl.cli.ablate:ablate",
    "bench": "pyrl.cli.bench:bench",
    "compare": "pyrl.cli.ablate:compare",
    "eval": "pyrl.cli.eval:eval_cmd",
    "report": "pyrl.cli.report:report",
    "train": "pyrl.cli.train:train",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pyrl")
def cli():
    """pyrl: does sharing one model lock-free (Hogwild A3C) beat learning alone?"""


def main():
    cli(prog_name="pyrl")
