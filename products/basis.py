"""数据依据 / Data used: which meteorology cycle and observations a product rests on, and how
late they arrived — one or two lines for bulletins, from the forecast's ``inputs`` attribute.

Keys read (all optional): ``cycle``, ``cycle_age_h`` and ``stitched`` (``features.build.CycleMet.describe``),
``met_source``, ``obs_last_time`` (ISO time, or per pollutant), and ``arrival``
(``features.acquire.arrival_info``: ``met_source met_arrived met_late_h obs_arrived
obs_late_h``). Times are printed in Asia/Shanghai; lateness in hours after the feed's usual
publication time (``configs/sources.yaml`` ``expected_h``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["input_basis"]

_TZ = LOCAL_TZ


def _t(x: Any) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(x)
    except (TypeError, ValueError):
        return None
    if pd.isna(t):
        return None
    return (t.tz_localize("UTC") if t.tzinfo is None else t).tz_convert(_TZ)


def _late(h: Any, zh: bool) -> str:
    if not isinstance(h, int | float):
        return ""
    if h <= 0.05:
        return "，按时到达" if zh else ", on time"
    return f"，晚到 {h:.1f} 小时" if zh else f", {h:.1f} h late"


def input_basis(inputs: Mapping[str, Any] | None, lang: str = "zh") -> list[str]:
    """Lines naming the meteorology cycle and the observations used, and their lateness.

    Parameters
    ----------
    inputs : mapping
        The forecast's ``inputs`` (JSON-decoded).
    lang : {"zh", "en"}

    Returns
    -------
    list of str
        Empty when ``inputs`` names neither.
    """
    if not inputs:
        return []
    zh = lang == "zh"
    arr = inputs.get("arrival") or {}
    out = []
    cycle = _t(inputs.get("cycle"))
    src = arr.get("met_source") or ""
    if cycle is not None:
        age = inputs.get("cycle_age_h")
        age_s = (f"（发布时已 {age:.0f} 小时）" if zh else f" ({age:.0f} h old at issue)") \
            if isinstance(age, int | float) else ""
        utc = cycle.tz_convert("UTC")
        out.append((f"气象预报：{src + ' ' if src else ''}{utc:%Y-%m-%d %H} 时（世界时）起报"
                    f"{age_s}{_late(arr.get('met_late_h'), zh)}") if zh else
                   (f"Meteorology: {src + ' ' if src else ''}cycle {utc:%Y-%m-%d %H} UTC"
                    f"{age_s}{_late(arr.get('met_late_h'), zh)}"))
        for st in inputs.get("stitched") or []:  # a partial cycle's gaps from older cycles
            old, t1 = _t(st.get("cycle")), _t(st.get("from"))
            if old is None or t1 is None:
                continue
            t1 = t1.tz_convert(LOCAL_TZ)
            out.append((f"气象预报不完整：{t1:%Y-%m-%d %H:%M} 起 {st.get('hours')} 小时取自 "
                        f"{old.tz_convert('UTC'):%Y-%m-%d %H} 时（世界时）起报") if zh else
                       (f"Meteorology incomplete: {st.get('hours')} h from {t1:%Y-%m-%d %H:%M} "
                        f"(Beijing time) taken from cycle {old.tz_convert('UTC'):%Y-%m-%d %H} UTC"))
    elif "cycle" in inputs:
        out.append("气象预报：无可用预报（未使用未来气象）" if zh else
                   "Meteorology: no forecast cycle available (no future meteorology used)")
    last = inputs.get("obs_last_time")
    if isinstance(last, Mapping):
        times = [t for t in (_t(v) for v in last.values()) if t is not None]
        last_t = max(times) if times else None
    else:
        last_t = _t(last)
    if last_t is not None:
        out.append((f"观测：截至 {last_t:%Y-%m-%d %H:%M}{_late(arr.get('obs_late_h'), zh)}")
                   if zh else
                   (f"Observations: to {last_t:%Y-%m-%d %H:%M} (Beijing time)"
                    f"{_late(arr.get('obs_late_h'), zh)}"))
    return out
