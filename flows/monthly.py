"""The monthly 会商 (joint consultation) verification run.

``monthly_review(month)`` scores the month's archived forecasts and warnings against the
observations (``models.verify.verify_archive``) and renders the 会商 verification report
(``products.monthly_report``) to ``<data_dir>/reports/monthly/<YYYY-MM>/``. Scheduled on the 2nd
of each month at 09:00 Asia/Shanghai for the previous month (the daily AQI of the last day of a
month is final by 12:00 of the 1st, HJ 633-2026 §4.2).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airwarn.flows.daily import LOCAL_TZ, config_for
from airwarn.flows.stages import NOT_AVAILABLE, StageRecord, StageUnavailable, timed, write_manifest
from airwarn.products.monthly_report import month_period, render_monthly_report
from prefect import flow

from airwarn.core.runstore import RunStore

__all__ = ["previous_month", "run_monthly", "monthly_review"]


def previous_month(now: datetime | None = None) -> str:
    """``YYYY-MM`` of the month before ``now`` (Asia/Shanghai; default today)."""
    now = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def run_monthly(month: str, data_dir: str | Path | None = None, *, pdf: bool = True,
                bootstrap: bool = True) -> dict[str, Any]:
    """Verification and the monthly report of one month (plain function).

    Calls ``products.monthly_report.render_monthly_report`` (which scores the month's forecast
    archive with ``models.verify``) and writes ``reports/monthly/<month>/manifest.json``.

    Returns
    -------
    dict
        ``month, status, stages`` (list of stage records), ``outputs`` (paths).
    """
    config = config_for(data_dir)
    ddir = Path(config.settings.data_dir)
    start, end = month_period(month)
    store = RunStore(ddir)
    out_dir = store.monthly_report(month)
    records: list[StageRecord] = []
    report = StageRecord("monthly_report")
    records.append(report)
    with timed(report):
        try:
            render = render_monthly_report
            paths = render(month, data_dir=ddir, config=config, out_dir=out_dir, pdf=pdf,
                           bootstrap=bootstrap)
            report.set_outputs(ddir, [Path(p) for p in paths.values()])
            report.detail = f"scored {start:%Y-%m-%d} … {end:%Y-%m-%d}: " + \
                ", ".join(Path(p).name for p in paths.values())
        except StageUnavailable as exc:
            report.status, report.detail = NOT_AVAILABLE, str(exc)
    status = "complete" if all(r.status == "ok" for r in records) else "partial"
    result = {"month": month, "status": status, "stages": [r.to_dict() for r in records],
              "outputs": [o for r in records for o in r.outputs]}
    write_manifest(store.monthly_manifest(month), result)
    return result


@flow(name="monthly-review", log_prints=False, validate_parameters=False)
def monthly_review(month: str | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """The monthly 会商 verification report (Prefect flow).

    Parameters
    ----------
    month : str, optional
        ``YYYY-MM``; default the previous month (Asia/Shanghai).
    data_dir : str, optional
    """
    return run_monthly(month or previous_month(), data_dir)
