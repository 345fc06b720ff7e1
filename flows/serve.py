"""Deployments and schedules: what ``airwarn serve`` runs, and when (Asia/Shanghai).

=====================  ============================  ====================================
deployment             schedule (Asia/Shanghai)       why
=====================  ============================  ====================================
acquire                ``0 4 * * *``, ``0 14 * * *``  ``settings.acquire.start_min_before``
                                                     (60 min) before each issue time: fetch,
                                                     wait for the newest complete cycle,
                                                     ingest (``flows.acquire``)
daily-forecast         ``0 5,15 * * *``               ``settings.issue_hours``; bulletins
                                                     well before the 20:00 deadline
                                                     (HJ 633-2026 §5.2.3)
inbox-watch            every 5 min                    files dropped in ``<data_dir>/inbox``
                                                     by hand or by other feeds
retrain                ``0 2 * * 0`` (Sunday 02:00)   weekly, outside the issue hours
monthly-review         ``0 9 2 * *`` (2nd, 09:00)     previous month, once its daily AQI
                                                     is final (12:00 of the 1st)
=====================  ============================  ====================================

:func:`build_deployments` builds them without serving (tests check the cron strings and the time
zone); :func:`serve_all` serves them with ``prefect.serve`` against the Prefect API in
``PREFECT_API_URL`` (``prefect server start`` on 127.0.0.1) or, when unset, a local server that
:func:`serve_all` starts in-process (Prefect's ephemeral mode cannot schedule on its own).
"""

from __future__ import annotations

from typing import Any

from airwarn.flows.acquire import acquire, acquire_crons
from airwarn.flows.daily import daily_forecast
from airwarn.flows.inbox import INBOX_INTERVAL_MIN, inbox
from airwarn.flows.monthly import monthly_review
from airwarn.flows.retrain import retrain
from prefect.schedules import Cron, Interval

from airwarn import configs
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["TIMEZONE", "RETRAIN_CRON", "MONTHLY_CRON", "daily_cron", "build_deployments",
           "serve_all"]

#: Time zone of every schedule (DESIGN: days, issue times and schedules are Asia/Shanghai).
TIMEZONE = LOCAL_TZ
#: Weekly retraining: Sunday 02:00.
RETRAIN_CRON = "0 2 * * 0"
#: Monthly 会商 review: the 2nd at 09:00.
MONTHLY_CRON = "0 9 2 * *"


def daily_cron(issue_hours: list[int]) -> str:
    """Cron string of the daily runs at the given local hours (e.g. ``"0 5,15 * * *"``)."""
    hours = sorted(set(int(h) for h in issue_hours))
    if not hours or any(h < 0 or h > 23 for h in hours):
        raise ValueError(f"issue_hours {issue_hours}: expected hours 0–23")
    return f"0 {','.join(str(h) for h in hours)} * * *"


def build_deployments(data_dir: str | None = None) -> list[Any]:
    """The deployments with their schedules (``RunnerDeployment`` objects, not served).

    Parameters
    ----------
    data_dir : str, optional
        Data directory passed to every run (default: the runs use ``AIRWARN_DATA_DIR``).
    """
    settings = configs.load_settings()
    params = {"data_dir": data_dir} if data_dir else {}
    daily = daily_forecast.to_deployment(
        name="daily-forecast",
        schedules=[Cron(daily_cron(settings.issue_hours), timezone=TIMEZONE)],
        parameters=dict(params),
        description="Daily forecast, warnings and bulletins for the 成渝 units (D+1…D+3).",
        tags=["airwarn", "daily"],
    )
    weekly = retrain.to_deployment(
        name="retrain-weekly",
        schedules=[Cron(RETRAIN_CRON, timezone=TIMEZONE)],
        parameters=dict(params),
        description="Weekly retraining; promoted only if no worse than the current models.",
        tags=["airwarn", "retrain"],
    )
    monthly = monthly_review.to_deployment(
        name="monthly-review",
        schedules=[Cron(MONTHLY_CRON, timezone=TIMEZONE)],
        parameters=dict(params),
        description="Monthly 会商 verification report of the previous month.",
        tags=["airwarn", "monthly"],
    )
    fetch = acquire.to_deployment(
        name="acquire",
        schedules=[Cron(c, timezone=TIMEZONE) for c in
                   acquire_crons(settings.issue_hours, settings.acquire.start_min_before)],
        parameters=dict(params),
        description="Fetch the configured feeds, wait for the newest complete forecast cycle "
                    "(then fall back), ingest the inbox — before each daily forecast.",
        tags=["airwarn", "acquire"],
    )
    watch = inbox.to_deployment(
        name="inbox-watch",
        schedules=[Interval(INBOX_INTERVAL_MIN * 60, timezone=TIMEZONE)],
        parameters=dict(params),
        description="Ingest files dropped in <data_dir>/inbox once each; quarantine bad ones.",
        tags=["airwarn", "inbox"],
    )
    return [daily, weekly, monthly, fetch, watch]


def serve_all(data_dir: str | None = None, limit: int | None = 1) -> None:  # pragma: no cover
    """Serve the deployments until interrupted (Ctrl-C).

    Parameters
    ----------
    data_dir : str, optional
        Data directory for the runs.
    limit : int, optional
        Flow runs at once (1: a retrain never overlaps a daily run on a small machine).
    """
    import os

    from prefect import serve

    deployments = build_deployments(data_dir)
    if os.environ.get("PREFECT_API_URL"):
        serve(*deployments, limit=limit)
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: server.api_url}):
            serve(*deployments, limit=limit)
    finally:
        server.stop()
