"""Small helpers shared by the products: decisions as plain dicts, warning-level names and colours,
local-time formatting, pollutant labels.

Times: stored UTC, shown in Asia/Shanghai (北京时间, UTC+08:00), as DESIGN.md fixes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from airwarn.core.timeutil import LOCAL_OFFSET_H
from airwarn.core.timeutil import LOCAL_ZONE as LOCAL_TZ

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "LOCAL_TZ",
    "WARNING_LEVELS",
    "WARNING_NAMES",
    "WARNING_COLOURS",
    "RESPONSE_LEVELS",
    "SYNTHETIC_LABEL_ZH",
    "SYNTHETIC_LABEL_EN",
    "decision_dict",
    "to_local",
    "fmt_local",
    "iso_local",
    "pollutant_label",
    "pollutant_code",
    "is_synthetic",
    "forecast_inputs",
    "issue_time_of",
]


#: Warning levels in rising order (docs/INTERFACES.md, ``WarningDecision.level``).
WARNING_LEVELS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
#: Level → (中文, English) as printed on bulletins (预警级别).
WARNING_NAMES: dict[str, tuple[str, str]] = {
    "none": ("无预警", "no warning"),
    "blue": ("蓝色", "Blue"),
    "yellow": ("黄色", "Yellow"),
    "orange": ("橙色", "Orange"),
    "red": ("红色", "Red"),
}
#: Edge colours of warning outlines on maps and of bulletin banners (the four warning colours of
#: the national emergency-plan convention; display choice, not a regulated value).
WARNING_COLOURS: dict[str, str] = {
    "blue": "#1565C0",
    "yellow": "#FFD600",
    "orange": "#FF8F00",
    "red": "#D50000",
}
#: Response level of each warning level: Yellow → Ⅲ级, Orange → Ⅱ级, Red → Ⅰ级
#: (domain-spec T2.1 "Response levels", V2: S12 Sichuan 2024 plan, S17). Blue has none.
RESPONSE_LEVELS: dict[str, tuple[str, str]] = {
    "yellow": ("Ⅲ级响应", "Level III response"),
    "orange": ("Ⅱ级响应", "Level II response"),
    "red": ("Ⅰ级响应", "Level I response"),
}
SYNTHETIC_LABEL_ZH = "演习/示例（合成演示数据 synthetic demo）"
SYNTHETIC_LABEL_EN = "Exercise / example (synthetic demo)"

_POLLUTANTS = {
    "pm25": ("PM2.5", "PM2.5", "pm25"),
    "pm2.5": ("PM2.5", "PM2.5", "pm25"),
    "pm10": ("PM10", "PM10", "pm10"),
    "o3": ("O₃", "O3", "o3"),
    "o3_8h": ("O₃-8h", "O3 (8-h)", "o3"),
    "o3_1h": ("O₃-1h", "O3 (1-h)", "o3"),
    "no2": ("NO₂", "NO2", "no2"),
    "so2": ("SO₂", "SO2", "so2"),
    "co": ("CO", "CO", "co"),
}


def decision_dict(decision: Any) -> dict[str, Any]:
    """A warning decision as a plain dict (``WarningDecision.to_dict()``, or a mapping copied).

    Raises
    ------
    TypeError
        If ``decision`` is neither a mapping nor has ``to_dict()``.
    ValueError
        If the keys ``decision_id``, ``level`` or ``unit_ids`` are missing.
    """
    if hasattr(decision, "to_dict"):
        d = dict(decision.to_dict())
    elif isinstance(decision, Mapping):
        d = dict(decision)
    else:
        raise TypeError(f"expected a WarningDecision or a dict, got {type(decision).__name__}")
    missing = [k for k in ("decision_id", "level", "unit_ids") if k not in d]
    if missing:
        raise ValueError(f"warning decision {d.get('decision_id', '?')!r} lacks keys {missing}")
    d.setdefault("action", "issue")
    d.setdefault("control_orders", [])
    d.setdefault("references", [])
    d.setdefault("daily_aqi", {})
    d.setdefault("degraded_inputs", [])
    d["control_orders"] = [o.to_dict() if hasattr(o, "to_dict") else
                           (o if isinstance(o, Mapping) else vars(o)) for o in d["control_orders"]]
    return d


def to_local(t: Any) -> dt.datetime:
    """A time (ISO string, datetime, numpy/pandas timestamp) as an aware Asia/Shanghai datetime.

    Naive values are taken as UTC (stored times are UTC, DESIGN.md) unless they are strings
    without offset, which are local by the bulletin convention (``start``/``end`` are local ISO).
    """
    if isinstance(t, str):
        ts = pd.Timestamp(t)
        if ts.tzinfo is None:
            ts = ts.tz_localize(LOCAL_TZ)
    else:
        ts = pd.Timestamp(t)
        if ts.tzinfo is None:
            ts = ts.tz_localize("UTC")
    return ts.tz_convert(LOCAL_TZ).to_pydatetime()


def fmt_local(t: Any, lang: str = "zh", with_minutes: bool = True) -> str:
    """Human form of a local time: ``2026年11月29日 00时`` / ``2026-11-29 00:00 (UTC+8)``."""
    lt = to_local(t)
    if lang == "zh":
        s = f"{lt.year}年{lt.month}月{lt.day}日 {lt.hour:02d}时"
        return s + (f"{lt.minute:02d}分" if with_minutes and lt.minute else "")
    return lt.strftime("%Y-%m-%d %H:%M") + f" (UTC{LOCAL_OFFSET_H:+d})"


def iso_local(t: Any) -> str:
    """ISO 8601 with the +08:00 offset and seconds, e.g. ``2026-11-28T15:00:00+08:00`` (CAP form)."""
    return to_local(t).replace(microsecond=0).isoformat()


def pollutant_label(primary: Any, lang: str = "zh") -> str:
    """Display label of a primary-pollutant string (``"PM2.5"``, ``"O3_8h"``, ``"PM2.5,PM10"``).

    Empty / None / NaN → ``"—"`` (no primary pollutant when AQI ≤ 50, T1.7).
    """
    if primary is None or (isinstance(primary, float) and np.isnan(primary)):
        return "—"
    parts = [p.strip() for p in str(primary).replace("，", ",").replace("/", ",").split(",")]
    out = []
    for p in parts:
        if not p or p.lower() in ("none", "nan", "-", "—"):
            continue
        hit = _POLLUTANTS.get(p.lower())
        out.append(hit[0 if lang == "zh" else 1] if hit else p)
    return ("、" if lang == "zh" else ", ").join(out) or "—"


def pollutant_code(primary: Any) -> str | None:
    """Pollutant code (``pm25 o3 pm10 no2 so2 co``) of the first listed primary pollutant."""
    if primary is None:
        return None
    first = str(primary).replace("/", ",").split(",")[0].strip().lower()
    hit = _POLLUTANTS.get(first)
    return hit[2] if hit else None


def is_synthetic(source: Any) -> bool:
    """True when a ``source`` attribute marks synthetic demo data (``"synthetic demo"``)."""
    return source is not None and "synthetic" in str(source).lower()


def forecast_inputs(ds: xr.Dataset) -> dict[str, Any]:
    """The forecast file's ``inputs`` attribute (JSON string) as a dict; ``{}`` when absent.

    Raises
    ------
    ValueError
        If the attribute is present but not valid JSON (names the attribute).
    """
    raw = ds.attrs.get("inputs")
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        val = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"forecast attribute 'inputs' is not valid JSON: {exc}") from None
    return val if isinstance(val, dict) else {"inputs": val}


def issue_time_of(ds: xr.Dataset) -> dt.datetime:
    """Issue time of a forecast dataset (attribute ``issue_time``) as local aware datetime.

    Raises
    ------
    ValueError
        If the attribute is missing.
    """
    raw = ds.attrs.get("issue_time")
    if not raw:
        raise ValueError("forecast dataset lacks the 'issue_time' attribute (ISO, +08:00)")
    return to_local(raw)
