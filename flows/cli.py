"""The ``airwarn`` command line: a thin layer over the flows and packages.

Each command lives in its own module under ``flows/commands/`` and adds itself through a
``register(app)`` function; this module discovers them, so ``airwarn --help`` lists exactly the
commands that exist.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

import flows.commands as _commands
from configs.schema import ConfigError

app = typer.Typer(
    name="airwarn",
    help="airwarn — 成渝 air-quality forecasting and heavy-pollution early warning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    for mod in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"flows.commands.{mod.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


_register_commands()


def main() -> None:
    """Entry point of the ``airwarn`` console script; configuration errors exit with code 2."""
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()
