"""The ``airwarn`` command line: a thin layer over the flows and packages.

Each command lives in its own module under ``flows/commands/`` and adds itself through a
``register(app)`` function; this module discovers them, so ``airwarn --help`` lists exactly the
commands that exist.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import airwarn.flows.commands as _commands
import typer
from airwarn.flows.errors import debug_enabled, describe, guard_app, set_debug

app = typer.Typer(
    name="airwarn",
    help="airwarn — 成渝 air-quality forecasting and heavy-pollution early warning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    for mod in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"airwarn.flows.commands.{mod.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error "
                                     "instead of the one-line message (also AIRWARN_DEBUG=1).")
          ) -> None:
    """airwarn — 成渝 air-quality forecasting and heavy-pollution early warning."""
    set_debug(debug)


#: An error raised while the command modules were imported (some read configuration files at
#: import, e.g. configs/pollutants.yaml): :func:`main` reports it as one message.
_IMPORT_ERROR: list[Exception] = []
try:
    _register_commands()
except Exception as _exc:  # noqa: BLE001 - reported by main(), re-raised with --debug
    _IMPORT_ERROR.append(_exc)
guard_app(app)  # the error boundary (flows.errors): one message and an exit code, no traceback


def main() -> None:
    """Entry point of the ``airwarn`` console script (exit codes: ``flows.errors``)."""
    try:
        if _IMPORT_ERROR:
            raise _IMPORT_ERROR[0]
        app()
    except Exception as exc:  # only errors raised outside a command (option parsing, imports)
        if "--debug" in sys.argv[1:] or debug_enabled():
            raise
        message, code = describe(exc)
        typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
        sys.exit(code)


if __name__ == "__main__":
    main()
