"""Prefect environment for airwarn: call :func:`configure_prefect` before importing ``prefect``.

Prefect reads its settings from the environment when it is first imported, so the CLI and the
tests call :func:`configure_prefect` first. What it sets (only where the operator has not set the
variable already — an explicit ``PREFECT_*`` in the environment always wins):

- ``PREFECT_HOME`` inside the data directory (``<data_dir>/prefect``), so the ephemeral server's
  SQLite database, logs and local results live beside the data they describe;
- telemetry and analytics off (``DO_NOT_TRACK=1``,
  ``PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY=false``, ``PREFECT_SERVER_ANALYTICS_ENABLED=false``);
- a raised ephemeral-server start-up timeout (90 s: the first start on an empty home migrates the
  database and takes about 20 s on a loaded 2-core machine);
- the server's background services reduced to what a run needs (no scheduler, late-run marker,
  foreman, trigger evaluation… in ``mode="run"``; ``mode="serve"`` keeps the scheduler and the
  late-run marker, which schedules need);
- logging at WARNING for Prefect's own loggers (airwarn prints its own progress), and no
  per-run console "View at" links.

Known behaviour: ephemeral mode works offline; schedules need a running server (``airwarn serve``
starts one in-process); a Dask task runner with worker processes starts one ephemeral server per
worker unless ``PREFECT_API_URL`` points at a real server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from airwarn.core.runstore import RunStore

__all__ = ["PREFECT_DEFAULTS", "configure_prefect", "prefect_home"]

#: Settings applied with ``setdefault`` (the environment wins). Values are strings, as in ``env``.
PREFECT_DEFAULTS: Mapping[str, str] = {
    # privacy: no telemetry, no analytics
    "DO_NOT_TRACK": "1",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # start-up: the first ephemeral start on an empty home migrates the database (~20 s)
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # quiet: airwarn prints its own progress
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_CLI_PROMPT": "false",
    # results stay in memory unless a task asks otherwise (products are files in <data_dir>)
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    # the ephemeral server's background services that a single run does not need
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
}

#: Services a schedule needs (kept on in ``mode="serve"``, off in ``mode="run"``).
_SCHEDULE_SERVICES = (
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED",
)


def prefect_home(data_dir: Path | str | None = None) -> Path:
    """The Prefect home for a data directory: ``<data_dir>/prefect`` (absolute path).

    Parameters
    ----------
    data_dir : path, optional
        The airwarn data directory; default :func:`configs.data_dir` (``AIRWARN_DATA_DIR`` or
        ``./data``).
    """
    if data_dir is None:
        from airwarn import configs

        data_dir = configs.data_dir()
    return RunStore(data_dir).prefect_home.resolve()


def configure_prefect(
    data_dir: Path | str | None = None,
    *,
    mode: Literal["run", "serve"] = "run",
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """Set Prefect's environment for airwarn (before ``import prefect``); return what was set.

    Parameters
    ----------
    data_dir : path, optional
        The airwarn data directory; ``PREFECT_HOME`` defaults to ``<data_dir>/prefect``.
    mode : {"run", "serve"}
        ``"run"`` (a single flow run, CLI or tests): scheduler services off. ``"serve"``
        (``airwarn serve``): the scheduler and late-run services on.
    env : dict, optional
        The environment to modify (default ``os.environ``).

    Returns
    -------
    dict
        The variables this call set (those already present in ``env`` are left unchanged and
        not listed).
    """
    target = os.environ if env is None else env
    wanted: dict[str, str] = dict(PREFECT_DEFAULTS)
    wanted["PREFECT_HOME"] = str(prefect_home(data_dir))
    flag = "true" if mode == "serve" else "false"
    for key in _SCHEDULE_SERVICES:
        wanted[key] = flag
    applied: dict[str, str] = {}
    for key, value in wanted.items():
        if key not in target:
            target[key] = value
            applied[key] = value
    Path(target["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return applied
