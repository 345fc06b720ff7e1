"""Time conventions: the local time zone, the issue-time parser and the run stamp.

Stored times are UTC; days, issue times, bulletins and schedules are local (DESIGN.md, Time).
The local zone is the ``timezone`` key of ``configs/settings.yaml`` (environment override
``AIRWARN_TIMEZONE``), default ``Asia/Shanghai``; it is read once, directly from the YAML (the
ground floor imports no package). Every module that needs the zone uses :data:`LOCAL_TZ` (a
name, for pandas) or :data:`LOCAL_ZONE` (a ``ZoneInfo``).

An *issue time* is a tz-aware ``pandas.Timestamp`` in the local zone, on the hour
(:func:`parse_issue_time`); its *stamp* ``YYYYMMDDTHHMM`` (local) names every file of the run
(:func:`issue_stamp`, :func:`parse_stamp`).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from airwarn.core.pollutants import config_dir

__all__ = [
    "DEFAULT_TZ",
    "LOCAL_TZ",
    "LOCAL_ZONE",
    "STAMP_FORMAT",
    "IssueTime",
    "settings_timezone",
    "to_local",
    "parse_issue_time",
    "issue_stamp",
    "parse_stamp",
    "LOCAL_OFFSET_H",
    "utc_offset_hours",
]

DEFAULT_TZ = "Asia/Shanghai"
#: strftime format of the run stamp (local time)
STAMP_FORMAT = "%Y%m%dT%H%M"
_STAMP_RE = re.compile(r"^\d{8}T\d{4}$")

#: A tz-aware pandas Timestamp in the local zone, on the hour (what :func:`parse_issue_time` returns).
IssueTime: TypeAlias = pd.Timestamp


def settings_timezone(path: Path | str | None = None) -> str:
    """The ``timezone`` of ``settings.yaml`` (``AIRWARN_TIMEZONE`` wins), default Asia/Shanghai.

    Raises
    ------
    ValueError
        The configured name is not an IANA time zone (names the file and the value).
    """
    name = os.environ.get("AIRWARN_TIMEZONE")
    p = Path(path) if path is not None else config_dir() / "settings.yaml"
    if not name:
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            raw = {}
        name = str(raw.get("timezone") or DEFAULT_TZ) if isinstance(raw, dict) else DEFAULT_TZ
    try:
        ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{p}: timezone {name!r} is not an IANA time zone name "
                         f"(expected e.g. {DEFAULT_TZ})") from exc
    return name


#: The local time zone name (settings.yaml ``timezone``), for pandas ``tz_convert``.
LOCAL_TZ: str = settings_timezone()
#: The local time zone as a ``zoneinfo.ZoneInfo``, for ``datetime``.
LOCAL_ZONE: ZoneInfo = ZoneInfo(LOCAL_TZ)


def to_local(value: Any) -> pd.Timestamp:
    """Any time (str, datetime, Timestamp) as a tz-aware local Timestamp; naive = local."""
    ts = pd.Timestamp(value)
    return ts.tz_localize(LOCAL_TZ) if ts.tzinfo is None else ts.tz_convert(LOCAL_TZ)


def parse_issue_time(value: str | datetime | pd.Timestamp) -> IssueTime:
    """Parse an issue time: ISO 8601 text, a run stamp or a datetime; naive = local.

    Parameters
    ----------
    value : str, datetime or Timestamp
        e.g. ``"2026-11-28T15:00"`` (local), ``"2026-11-28T07:00Z"``, ``"20261128T1500"`` (a run
        stamp, local) or an aware datetime.

    Returns
    -------
    pandas.Timestamp
        Tz-aware in the local zone, on the hour.

    Raises
    ------
    ValueError
        Unparseable text or a time not on the hour (names the value and the expected form).
    """
    if isinstance(value, str) and _STAMP_RE.match(value.strip()):
        return parse_stamp(value.strip())
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"issue time {value!r}: expected ISO 8601, e.g. 2026-11-28T15:00 "
                         f"({LOCAL_TZ}) or 2026-11-28T07:00Z") from exc
    if ts is pd.NaT:
        raise ValueError(f"issue time {value!r}: expected ISO 8601, e.g. 2026-11-28T15:00")
    ts = ts.tz_localize(LOCAL_TZ) if ts.tzinfo is None else ts.tz_convert(LOCAL_TZ)
    if ts != ts.floor("h"):
        raise ValueError(f"issue time {value!r}: must be on the hour (e.g. 15:00)")
    return ts


def issue_stamp(issue_time: Any) -> str:
    """Run stamp ``YYYYMMDDTHHMM`` of an issue time in local time (naive input = local).

    The name of every file a run writes (``forecasts/<stamp>.nc``, ``warnings/<stamp>.json``,
    ``products/<stamp>/``, ``locks/<stamp>.lock``).
    """
    return to_local(issue_time).strftime(STAMP_FORMAT)


def parse_stamp(stamp: str) -> IssueTime:
    """The local issue time of a run stamp ``YYYYMMDDTHHMM``.

    Raises
    ------
    ValueError
        Not a stamp (names the value and the expected form).
    """
    if not _STAMP_RE.match(str(stamp)):
        raise ValueError(f"run stamp {stamp!r}: expected YYYYMMDDTHHMM, e.g. 20260120T1500")
    try:
        t = datetime.strptime(stamp, STAMP_FORMAT)
    except ValueError as exc:
        raise ValueError(f"run stamp {stamp!r}: not a valid date/time ({exc})") from None
    return pd.Timestamp(t).tz_localize(LOCAL_TZ)


# added by w2-store (issue 17: the zone once) ------------------------------------------------
def utc_offset_hours(name: str) -> int:
    """The fixed UTC offset of a time zone, whole hours (Asia/Shanghai: 8).

    The local-day arithmetic on hourly arrays (``features.build``, ``features.cf``,
    ``models``, ``products.meteorology``) shifts UTC hours by this offset, so the zone must have
    one: no daylight saving time and a whole-hour offset.

    Raises
    ------
    ValueError
        The zone changes its offset within a year (daylight saving) or is not whole hours
        (names the zone and what was found).
    """
    zone = ZoneInfo(name)
    offsets = {zone.utcoffset(datetime(y, m, 1)) for y in (2000, 2010, 2020, 2030) for m in (1, 7)}
    if len(offsets) != 1:
        raise ValueError(f"timezone {name!r} has daylight saving time (UTC offsets "
                         f"{sorted(str(o) for o in offsets)}); airwarn's local days need a fixed "
                         f"offset, e.g. {DEFAULT_TZ} or Etc/GMT-8")
    (offset,) = offsets
    hours, rest = divmod(offset.total_seconds(), 3600)
    if rest:
        raise ValueError(f"timezone {name!r}: UTC offset {offset} is not whole hours; airwarn's "
                         f"local days need a whole-hour offset")
    return int(hours)


def _local_offset_hours() -> int:
    try:
        return utc_offset_hours(LOCAL_TZ)
    except ValueError:  # configs.schema.Settings rejects such a zone with a clear message
        return int(ZoneInfo(LOCAL_TZ).utcoffset(datetime(2000, 1, 1)).total_seconds() // 3600)


#: The local zone's fixed UTC offset, hours (8 for Asia/Shanghai, UTC+08:00).
LOCAL_OFFSET_H: int = _local_offset_hours()
