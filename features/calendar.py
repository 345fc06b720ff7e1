"""Calendar features for the forecast models: hour, weekday, season, Chinese public holidays.

Holidays come from ``chinese_calendar`` (the official State Council schedule, including the
adjusted working weekends 调休) for the years it knows (through 2026 in version 1.11), and from
the ``holidays`` package (``holidays.China``, which extrapolates the statutory holidays by the
lunar calendar) for later years. :func:`holiday_source` says which one each date used, so the
model card can record it.

All dates are local (Asia/Shanghai) natural days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["LOCAL_TZ", "is_holiday", "holiday_source", "spring_festival", "calendar_features",
           "local_times"]



@lru_cache(maxsize=4096)
def _day_info(day: dt.date) -> tuple[bool, bool, str]:
    """(is_holiday, is_workday, source) for one local date."""
    try:
        import chinese_calendar

        return (bool(chinese_calendar.is_holiday(day)), bool(chinese_calendar.is_workday(day)),
                "chinese_calendar")
    except (NotImplementedError, ImportError):

        hol = day in _china_holidays(day.year)
        weekend = day.weekday() >= 5
        return (hol or weekend, not (hol or weekend), "holidays.China")


@lru_cache(maxsize=64)
def _china_holidays(year: int) -> dict[dt.date, str]:
    import holidays

    return dict(holidays.China(years=[year]).items())


def is_holiday(day: dt.date) -> bool:
    """True on a public holiday or a weekend that is not an adjusted working day (local date)."""
    return _day_info(day)[0]


def holiday_source(days: Iterable[dt.date]) -> str:
    """Which holiday calendar covered the dates: ``chinese_calendar``, ``holidays.China``, or both
    joined by ``+`` (the later years from the fallback)."""
    srcs = sorted({_day_info(d)[2] for d in days})
    return "+".join(srcs) if srcs else "chinese_calendar"


@lru_cache(maxsize=64)
def spring_festival(year: int) -> dt.date:
    """Date of the Spring Festival (Chinese New Year's day, 正月初一) of a Gregorian year."""
    for d, name in sorted(_china_holidays(year).items()):
        if "Spring Festival" in name and "observed" not in name:
            return d
    raise ValueError(f"no Spring Festival date known for {year}")


def local_times(times: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Convert tz-aware times (or naive UTC) to naive Asia/Shanghai wall-clock times."""
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.tz_convert(LOCAL_TZ).tz_localize(None)


def calendar_features(local: pd.DatetimeIndex | pd.Series, prefix: str = "") -> pd.DataFrame:
    """Calendar features of local (Asia/Shanghai, naive) times or dates.

    Parameters
    ----------
    local : DatetimeIndex or Series of naive local datetimes
    prefix : str
        Prepended to every column name.

    Returns
    -------
    DataFrame
        ``hour`` (0–23), ``weekday`` (0 = Monday), ``month`` (1–12), ``doy_sin``, ``doy_cos``
        (annual cycle), ``holiday`` (1 on a public holiday or a non-working weekend), ``workday``,
        ``sf_days`` (days from the nearest Spring Festival, −30…30, clipped), row-aligned with
        the input.
    """
    idx = pd.DatetimeIndex(local)
    days = idx.normalize()
    uniq = pd.DatetimeIndex(days.unique())
    info = {d: _day_info(d.date()) for d in uniq}
    sf = {}
    for d in uniq:
        dd = d.date()
        cands = [spring_festival(y) for y in (dd.year - 1, dd.year, dd.year + 1)]
        diffs = [(dd - c).days for c in cands]
        off = min(diffs, key=abs)
        sf[d] = float(np.clip(off, -30, 30))
    doy = idx.day_of_year.to_numpy() - 1
    out = pd.DataFrame({
        f"{prefix}hour": idx.hour.to_numpy(),
        f"{prefix}weekday": idx.day_of_week.to_numpy(),
        f"{prefix}month": idx.month.to_numpy(),
        f"{prefix}doy_sin": np.sin(2 * np.pi * doy / 365.25),
        f"{prefix}doy_cos": np.cos(2 * np.pi * doy / 365.25),
        f"{prefix}holiday": np.array([info[d][0] for d in days], dtype="int8"),
        f"{prefix}workday": np.array([info[d][1] for d in days], dtype="int8"),
        f"{prefix}sf_days": np.array([sf[d] for d in days]),
    })
    if isinstance(local, pd.Series):
        out.index = local.index
    return out
