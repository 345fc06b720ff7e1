"""Backfill: rerun past issue times (for verification, or after a data correction).

``backfill(start, end)`` runs every scheduled issue time from ``start`` to ``end`` (Asia/Shanghai,
``settings.issue_hours``) in two passes:

1. **forecasts, fanned out** over issue times on a Dask task runner (local worker processes by
   default — see :mod:`flows.runners` —, an existing cluster with ``dask_address``): ingest → QC → aggregation → forecast, each under its
   issue-time lock, reusing forecasts whose inputs have not changed;
2. **warnings, in time order** (optional): a warning decision depends on the state the previous
   run left in the register, so they are made one issue time after the other, reusing the
   forecasts of pass 1. On a Dask runner the flow's process makes them while the workers are
   still forecasting: issue time *i*'s warnings as soon as its forecast is done (and those of
   every earlier issue time). Product stages (maps, report, bulletins; never delivery of the past) run
   only when asked for.

Each issue time gets its own manifest; the flow returns one summary row per issue time.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pandas as pd
from airwarn.flows.daily import (
    LOCAL_TZ,
    DailyRun,
    RunFailed,
    config_for,
    run_daily,
)
from airwarn.flows.locks import LockBusy
from airwarn.flows.runners import task_runner
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

__all__ = ["BACKFILL_PRODUCTS", "issue_times", "backfill_one", "backfill", "run_backfill"]

#: Product stages a backfill may render (delivery of past bulletins is never done).
BACKFILL_PRODUCTS = ("maps", "report", "bulletins")


def issue_times(start: str | datetime, end: str | datetime, issue_hours: list[int]) -> list[datetime]:
    """Scheduled issue times from ``start`` to ``end`` inclusive (Asia/Shanghai).

    Parameters
    ----------
    start, end : str or datetime
        Dates or times (naive = Asia/Shanghai). A bare date as ``end`` includes that whole day.
    issue_hours : list of int
        Local issue hours.

    Raises
    ------
    ValueError
        ``end`` before ``start`` (naming both).
    """
    t0 = pd.Timestamp(start)
    t1 = pd.Timestamp(end)
    t0 = t0.tz_localize(LOCAL_TZ) if t0.tzinfo is None else t0.tz_convert(LOCAL_TZ)
    end_is_date = isinstance(end, str) and len(end.strip()) <= 10
    t1 = t1.tz_localize(LOCAL_TZ) if t1.tzinfo is None else t1.tz_convert(LOCAL_TZ)
    if end_is_date:
        t1 = t1 + pd.Timedelta(hours=23, minutes=59)
    if t1 < t0:
        raise ValueError(f"backfill: end {end} is before start {start}")
    out: list[datetime] = []
    day = t0.normalize()
    while day <= t1:
        for h in sorted(issue_hours):
            t = day + pd.Timedelta(hours=h)
            if t0 <= t <= t1:
                out.append(t.to_pydatetime())
        day += pd.Timedelta(days=1)
    return out


def backfill_one(data_dir: str | None, issue_time: datetime, met: str = "auto",
                 products: tuple[str, ...] = (), warnings: bool = False,
                 lock_timeout: float = 600.0) -> dict[str, Any]:
    """Run one past issue time (plain stage functions); return a summary row.

    Returns
    -------
    dict
        ``issue_time, status, forecast`` (stage status), ``degraded`` (count), ``error``.
    """
    config = config_for(data_dir)
    run = DailyRun(config, issue_time, met=met, products=tuple(products), warnings=warnings,
                   observed_aqi=bool(products))
    try:
        manifest = run_daily(run, use_tasks=False, lock_timeout=lock_timeout)
        status, error = manifest["status"], None
    except (RunFailed, LockBusy) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # one bad issue time must not stop the backfill
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    rec = run.records.get("forecast")
    return {"issue_time": run.issue_time.isoformat(), "stamp": run.stamp, "status": status,
            "forecast": rec.status if rec else "not run", "degraded": len(run.degraded),
            "error": error}


backfill_task = task(backfill_one, name="backfill-issue", cache_policy=NO_CACHE,
                     persist_result=False)


@flow(name="backfill", log_prints=False, validate_parameters=False)
def backfill(
    start: str,
    end: str,
    data_dir: str | None = None,
    met: str = "auto",
    warnings: bool = True,
    products: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rerun past issue times: forecasts fanned out, then warnings in time order (Prefect flow).

    Parameters
    ----------
    start, end : str
        First and last issue time or date (Asia/Shanghai).
    data_dir : str, optional
        Data directory.
    met : str
        Meteorology source (``cycles``, ``demo``, ``perfect``, ``none``).
    warnings : bool
        Make the warning decisions (in time order) after the forecasts.
    products : list of str, optional
        Product stages to render for each issue time (``maps``, ``report``, ``bulletins``;
        default none: a verification backfill needs only the forecasts).

    Returns
    -------
    list of dict
        One summary row per issue time (see :func:`backfill_one`).
    """
    config = config_for(data_dir)
    times = issue_times(start, end, config.settings.issue_hours)
    prods = tuple(p for p in (products or ()) if p in BACKFILL_PRODUCTS)
    from airwarn.flows.progress import LineProgress

    futures = [backfill_task.submit(data_dir, t, met) for t in times]
    if (warnings or prods) and _tasks_in_processes():
        # pipelined: the warnings of each issue time, in time order, as soon as its forecast (and
        # every earlier one) is done, while the workers forecast the later issue times — the
        # same two passes, but this process no longer waits idle for the whole first one
        rows = []
        with LineProgress(f"backfill {start} … {end}: forecasts fanned out, warnings and "
                          f"products in time order", total=len(times)) as progress:
            for t, f in zip(times, futures, strict=True):
                f.result()
                rows.append(backfill_task(data_dir, t, met, prods, warnings))
                progress(f"{rows[-1]['stamp']} {rows[-1]['status']}")
        return rows
    rows = []
    with LineProgress(f"backfill forecasts {start} … {end}", total=len(times)) as progress:
        for f in futures:
            rows.append(f.result())
            progress(f"{rows[-1]['stamp']} {rows[-1]['status']}")
    if warnings or prods:
        rows = []
        with LineProgress("backfill warnings and products (in time order)",
                          total=len(times)) as progress:
            for t in times:
                rows.append(backfill_task(data_dir, t, met, prods, warnings))
                progress(f"{rows[-1]['stamp']} {rows[-1]['status']}")
    return rows


def _tasks_in_processes() -> bool:
    """True when the flow's tasks run in other processes (Dask), so that this process may make
    the warnings while they forecast (never beside a task thread of this process: NetCDF I/O is
    not thread-safe)."""
    from prefect.context import FlowRunContext
    from prefect_dask import DaskTaskRunner

    ctx = FlowRunContext.get()
    return ctx is not None and isinstance(ctx.task_runner, DaskTaskRunner)


def run_backfill(start: str, end: str, *, data_dir: str | None = None, met: str = "auto",
                 warnings: bool = True, products: list[str] | None = None,
                 dask_address: str | None = None, workers: int | None = None,
                 runner: str = "auto") -> list[dict[str, Any]]:
    """Run the :func:`backfill` flow on a Dask (or thread) task runner.

    Parameters
    ----------
    dask_address : str, optional
        ``tcp://host:port`` of an existing Dask scheduler (default: a local cluster).
    workers : int, optional
        Worker processes of the local cluster.
    runner : {"auto", "dask", "threads"}
        ``auto``: a local Dask cluster of processes when there are more issue times than twice
        the workers (its start-up, a few seconds per process, then pays off), else one thread
        (sequential; NetCDF I/O is not thread-safe, so never more than one).
    """
    if runner == "auto" and not dask_address:
        n = workers or min(os.cpu_count() or 1, 4)
        hours = config_for(data_dir).settings.issue_hours
        runner = "dask" if len(issue_times(start, end, hours)) > 2 * n else "threads"
        if runner == "threads":
            workers = 1
    flow_ = backfill.with_options(task_runner=task_runner(dask_address, workers, runner))
    return flow_(start=start, end=end, data_dir=data_dir, met=met, warnings=warnings,
                 products=products)

