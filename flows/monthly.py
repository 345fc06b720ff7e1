"""The monthly 会商 (joint consultation) verification run.

``monthly_review(month)`` scores the month's archived forecasts and warnings against the
observations (``models.verify.verify_archive``) and renders the 会商 verification report
(``products.monthly_report``) to ``<data_dir>/reports/monthly/<YYYY-MM>/``. Scheduled on the 2nd
of each month at 09:00 Asia/Shanghai for the previous month (the daily AQI of the last day of a
month is final by 12:00 of the 1st, HJ 633-2026 §4.2).
"""

from __future__ import annotations

import calendar
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow

from flows.daily import LOCAL_TZ, call_with, config_for, load_unit_obs
from flows.stages import NOT_AVAILABLE, StageRecord, StageUnavailable, lookup, timed, write_manifest

#: Days of observations before the month for the climatology reference of the skill scores, d.
CLIM_DAYS = 365

__all__ = ["CLIM_DAYS", "previous_month", "month_bounds", "run_monthly", "monthly_review"]


def previous_month(now: datetime | None = None) -> str:
    """``YYYY-MM`` of the month before ``now`` (Asia/Shanghai; default today)."""
    now = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last local day of ``YYYY-MM`` (Asia/Shanghai midnight, inclusive last day).

    Raises
    ------
    ValueError
        ``month`` is not ``YYYY-MM``.
    """
    try:
        y, m = (int(x) for x in month.split("-"))
        last = calendar.monthrange(y, m)[1]
    except (ValueError, calendar.IllegalMonthError) as exc:
        raise ValueError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11") from exc
    start = pd.Timestamp(year=y, month=m, day=1, tz=LOCAL_TZ)
    end = pd.Timestamp(year=y, month=m, day=last, tz=LOCAL_TZ)
    return start, end


def run_monthly(month: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Verification and the monthly report of one month (plain function).

    Returns
    -------
    dict
        ``month, status, stages`` (list of stage records), ``outputs`` (paths).
    """
    config = config_for(data_dir)
    ddir = Path(config.settings.data_dir)
    start, end = month_bounds(month)
    out_dir = ddir / "reports" / "monthly" / month
    records: list[StageRecord] = []
    scores: Any = None

    verify = StageRecord("verify")
    records.append(verify)
    with timed(verify):
        try:
            verify_archive = lookup("models.verify:verify_archive")
            utc0 = start.tz_convert("UTC")
            utc1 = (end + pd.Timedelta(days=1)).tz_convert("UTC")
            obs_units = load_unit_obs(config, utc0, utc1)
            clim = load_unit_obs(config, utc0 - pd.Timedelta(days=CLIM_DAYS), utc1)
            warn_dir = ddir / "warnings"
            scores = verify_archive(ddir / "forecasts", obs_units, region=config.region,
                                    warnings=warn_dir if warn_dir.exists() else None,
                                    clim_obs=clim, period=(start.date(), end.date()))
            verify.detail = f"verified {month}: {len(obs_units)} unit-hours observed"
        except StageUnavailable as exc:
            verify.status, verify.detail = NOT_AVAILABLE, str(exc)

    report = StageRecord("monthly_report")
    records.append(report)
    with timed(report):
        try:
            render = None
            for name in ("products.monthly_report:render_monthly_report",
                         "products.monthly_report:render_month"):
                try:
                    render = lookup(name)
                    break
                except StageUnavailable:
                    continue
            if render is None:
                raise StageUnavailable("products.monthly_report:render_monthly_report is not "
                                       "available yet")
            path = call_with(render, month=month, scores=scores, config=config, data_dir=ddir,
                             out_dir=out_dir)
            paths = path.values() if isinstance(path, dict) else \
                (path if isinstance(path, list | tuple) else [path])
            report.set_outputs(ddir, [Path(p) for p in paths if p is not None])
            report.detail = ", ".join(report.outputs)
        except StageUnavailable as exc:
            report.status, report.detail = NOT_AVAILABLE, str(exc)
    status = "complete" if all(r.status == "ok" for r in records) else "partial"
    result = {"month": month, "status": status, "stages": [r.to_dict() for r in records],
              "outputs": [o for r in records for o in r.outputs]}
    write_manifest(out_dir / "manifest.json", result)
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
