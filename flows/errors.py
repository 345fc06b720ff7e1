"""The command line's error boundary: every failure ends as one message and an exit code.

Every ``airwarn`` command is wrapped by :func:`guard` (``flows.cli`` does it for all of them),
so a bad argument, a bad input file or a broken store ends with one line on stderr naming what
was wrong and what was expected, and a non-zero exit — never a traceback. ``airwarn --debug …``
(or ``AIRWARN_DEBUG=1``) re-raises instead, so the traceback is there when a developer wants it.

Exit codes
----------
========  ==========================================================================
code      meaning
========  ==========================================================================
0         done
1         the run failed (a stage failed, no finite forecast, the store is not writable,
          an unexpected error)
2         bad input: an option, a configuration file or an input file (the message names
          the option / file / row / variable and what was expected)
3         another run of the same issue time holds the lock
========  ==========================================================================
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import typer

from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_BUSY",
    "UserError",
    "RunError",
    "debug_enabled",
    "set_debug",
    "describe",
    "guard",
    "guard_app",
    "parse_time_option",
    "check_choice",
    "require_writable",
]

try:  # typer ≥ 0.20 vendors click; older versions use click itself
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover
    from click import ClickException as _TyperClickException

_PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, _TyperClickException)
try:
    import click as _click

    _PASS_THROUGH += (_click.exceptions.Exit, _click.exceptions.Abort, _click.ClickException)
except ImportError:  # pragma: no cover
    pass

EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_BUSY = 3

_DEBUG = {"on": False}


class UserError(ValueError):
    """Bad input named for the user (option, file, row, variable); exit code 2."""

    exit_code = EXIT_INPUT


class RunError(RuntimeError):
    """A run could not produce what it must (e.g. no finite forecast for a unit); exit code 1."""

    exit_code = EXIT_FAILED


def debug_enabled() -> bool:
    """True with ``airwarn --debug`` or ``AIRWARN_DEBUG=1``: errors re-raise with a traceback."""
    return _DEBUG["on"] or os.environ.get("AIRWARN_DEBUG", "") not in ("", "0", "false")


def set_debug(on: bool) -> None:
    """Switch the traceback mode of this process (the ``--debug`` flag)."""
    _DEBUG["on"] = bool(on)


def _loaded_class(module: str, name: str) -> type | tuple[()]:
    """Class ``name`` of ``module`` if that module is already imported, else ``()``.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``airwarn.flows.daily``.
    name : str
        Class name in it.

    Returns
    -------
    type or tuple
        The class, or an empty tuple (``isinstance(x, ())`` is always False).
    """
    cls = getattr(sys.modules.get(module), name, None)
    return cls if isinstance(cls, type) else ()


def describe(exc: BaseException) -> tuple[str, int]:
    """One-line message and exit code of an exception escaping a command.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    message, code : str, int
        The message already names what it is about when the raising code did so (readers,
        configuration loaders and the flows name files, rows, variables and options); the
        classes below add what the bare exception lacks.
    """
    from airwarn.configs.schema import ConfigError

    # The classes of modules already imported: an exception of a class whose module was never
    # imported cannot exist, and importing flows.daily here would load the configuration (the
    # default ladder, via models.forecast) — a broken ladder would then raise inside the
    # error boundary and end in a traceback.
    LockBusy = _loaded_class("airwarn.flows.locks", "LockBusy")
    RunFailed = _loaded_class("airwarn.flows.daily", "RunFailed")

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ConfigError):
        return text, EXIT_INPUT
    if LockBusy and isinstance(exc, LockBusy):
        return text, EXIT_BUSY
    if RunFailed and isinstance(exc, RunFailed):
        return text, EXIT_FAILED
    if isinstance(exc, UserError | RunError):
        return text, exc.exit_code
    if isinstance(exc, sqlite3.OperationalError):
        low = text.lower()
        if "readonly" in low or "read-only" in low:
            return (f"the register is not writable ({text}): the data directory must be "
                    f"writable by this user"), EXIT_FAILED
        if "unable to open" in low:
            return (f"cannot open the register ({text}): the data directory must exist and be "
                    f"writable by this user"), EXIT_FAILED
        if "locked" in low or "busy" in low:
            return (f"the register is held by another writer ({text}); try again when it is "
                    f"free"), EXIT_FAILED
        return f"register (SQLite): {text}", EXIT_FAILED
    if isinstance(exc, sqlite3.DatabaseError):
        return f"register (SQLite) damaged or not a database: {text}", EXIT_FAILED
    if isinstance(exc, PermissionError) or (isinstance(exc, OSError)
                                            and exc.errno == errno.EROFS):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return (f"cannot write{where}: {exc.strerror or text} (the data directory must be "
                f"writable by this user)"), EXIT_FAILED
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"disk full while writing{where}: nothing was half written; free space and rerun", \
            EXIT_FAILED
    if isinstance(exc, IsADirectoryError):  # an output path (--out) naming a folder
        return f"{exc.filename or text}: {exc.strerror or text}", EXIT_INPUT
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or text}", EXIT_INPUT
    if isinstance(exc, KeyError):
        return f"unknown key {text}", EXIT_INPUT
    if isinstance(exc, ValueError):
        return text, EXIT_INPUT
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"I/O error{where}: {exc.strerror or text}", EXIT_FAILED
    return (f"internal error {type(exc).__name__}: {text} (rerun with `airwarn --debug …` for "
            f"the traceback)"), EXIT_FAILED


def _emit(message: str) -> None:
    lines = message.splitlines() or [message]
    typer.secho(f"error: {lines[0]}", err=True, fg=typer.colors.RED)
    for line in lines[1:]:
        typer.secho(line, err=True, fg=typer.colors.RED)


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command callback: exceptions become one message and an exit code.

    ``typer.Exit``, ``typer.Abort`` and click's usage errors (``BadParameter``: exit 2 with the
    option named) pass through unchanged; with :func:`debug_enabled` everything re-raises.
    """
    if getattr(fn, "__airwarn_guarded__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            message, code = describe(exc)
            _emit(message)
            raise typer.Exit(code) from None

    wrapper.__airwarn_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def guard_app(app: typer.Typer) -> None:
    """Wrap every command of a Typer app (and of its sub-apps) with :func:`guard`."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = guard(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)


def parse_time_option(value: str, option: str, tz: str = LOCAL_TZ) -> Any:
    """Parse a time option (ISO 8601, local ``tz`` when naive) or raise ``BadParameter``.

    Parameters
    ----------
    value : str
        e.g. ``2026-11-28T15:00`` or ``2026-11-28``.
    option : str
        The option's name for the message (``--until``).
    tz : str
        Time zone of naive values.

    Returns
    -------
    pandas.Timestamp
        Aware, in ``tz``.
    """
    import pandas as pd

    text = (value or "").strip()
    ts = None
    if text:
        try:
            ts = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            ts = None
    if ts is None or ts is pd.NaT:
        raise typer.BadParameter(f"expected an ISO 8601 time such as 2026-11-28T15:00 ({tz} if "
                                 f"no zone is given), got {value!r}", param_hint=option)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def check_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    """``value`` if it is one of ``choices``, else ``BadParameter`` naming the option."""
    if value not in choices:
        raise typer.BadParameter(f"expected one of {', '.join(choices)}, got {value!r}",
                                 param_hint=option)
    return value


def require_writable(data_dir: Any) -> None:
    """Refuse a store that cannot be written, before any work (names the directory and why).

    Creates the directory when missing, then creates and removes a probe file in it.

    Raises
    ------
    RunError
        The directory cannot be created or written (read-only file system, permissions).
    """
    import tempfile
    from pathlib import Path

    d = Path(data_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".airwarn-probe-"):
            pass
    except OSError as exc:
        raise RunError(f"data directory {d} is not writable ({exc.strerror or exc}); the command "
                       f"writes to the store: point AIRWARN_DATA_DIR at a writable directory") from None
