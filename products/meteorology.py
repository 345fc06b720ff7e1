"""The 气象条件 (meteorology) line of a bulletin, from the forecast meteorology at the units.

:func:`meteorology_text` summarises unit meteorology (ERA5 names: ``u10 v10`` m s-1, ``blh`` m,
``tp`` mm h-1, ``t2m d2m`` K) over a warning's units and period: mean 10-m wind speed and the
share of calm hours, the mean daily maximum boundary-layer height, total precipitation and mean
relative humidity, and a plain judgement of the dispersion conditions (扩散条件).
:func:`unit_met_for_issue` samples the newest stored forecast cycle (``<data_dir>/met/cycles/
YYYYMMDDHH.nc``) at or before an issue time at the units.

The thresholds of the judgement are display heuristics (U: not from a regulation; chosen from
common forecaster practice for the Sichuan basin) and only word the sentence; they decide
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airwarn.core.timeutil import LOCAL_TZ
from configs import AirwarnConfig

__all__ = ["CALM_WIND_MS", "LOW_BLH_M", "WET_MM", "meteorology_text", "unit_met_for_issue"]

log = logging.getLogger(__name__)

#: Wind speed below which an hour counts as calm / stagnant, m s-1 (display heuristic, U).
CALM_WIND_MS = 2.0
#: Mean daily maximum boundary-layer height below which mixing is poor, m (heuristic, U).
LOW_BLH_M = 800.0
#: Precipitation total from which wet scavenging is mentioned, mm (heuristic, U).
WET_MM = 5.0


def _rh(t2m: np.ndarray, d2m: np.ndarray) -> np.ndarray:
    """Relative humidity, % (Magnus formula over water; temperatures in K)."""
    t, d = t2m - 273.15, d2m - 273.15
    return 100 * np.exp(17.625 * d / (243.04 + d) - 17.625 * t / (243.04 + t))


def meteorology_text(met: pd.DataFrame | None, unit_ids: Sequence[str], start: Any = None,
                     end: Any = None) -> tuple[str, str] | None:
    """Chinese and English sentence on the meteorology of some units over a period.

    Parameters
    ----------
    met : DataFrame or None
        ``time`` (UTC) or ``valid_time``, ``unit_id``, and any of ``u10 v10`` (m s-1),
        ``blh`` (m), ``tp`` (mm h-1), ``t2m d2m`` (K).
    unit_ids : sequence of str
    start, end : time-like, optional
        Period (naive = Asia/Shanghai); whole table when absent.

    Returns
    -------
    (str, str) or None
        None when there is no meteorology for these units and times.
    """
    if met is None or len(met) == 0:
        return None
    df = met.rename(columns={"valid_time": "time"}) if "time" not in met else met
    df = df[df["unit_id"].isin(list(unit_ids))]
    t = pd.DatetimeIndex(pd.to_datetime(df["time"]))
    t = t.tz_localize("UTC") if t.tz is None else t
    keep = np.ones(len(df), dtype=bool)
    for bound, op in ((start, np.greater_equal), (end, np.less)):
        if bound is not None:
            b = pd.Timestamp(bound)
            b = b.tz_localize(LOCAL_TZ) if b.tzinfo is None else b
            keep &= op(t, b.tz_convert("UTC"))
    df = df[keep]
    t = t[keep]
    if len(df) == 0:
        return None
    zh: list[str] = []
    en: list[str] = []
    score = 0
    if {"u10", "v10"} <= set(df.columns):
        ws = np.hypot(df["u10"].to_numpy(float), df["v10"].to_numpy(float))
        if np.isfinite(ws).any():
            mean, calm = float(np.nanmean(ws)), float(np.nanmean(ws < CALM_WIND_MS))
            zh.append(f"平均风速{mean:.1f} m/s，{calm:.0%}的时次风速小于{CALM_WIND_MS:g} m/s")
            en.append(f"mean 10-m wind {mean:.1f} m/s, below {CALM_WIND_MS:g} m/s in "
                      f"{calm:.0%} of hours")
            score += (mean < CALM_WIND_MS) - (mean >= 1.5 * CALM_WIND_MS)
    if "blh" in df.columns and np.isfinite(df["blh"].to_numpy(float)).any():
        local_day = t.tz_convert(LOCAL_TZ).normalize()
        daily_max = df.groupby([df["unit_id"].to_numpy(), local_day])["blh"].max()
        blh = float(np.nanmean(daily_max.to_numpy(float)))
        zh.append(f"边界层高度日最大值平均约{blh:.0f} m")
        en.append(f"daily maximum boundary layer about {blh:.0f} m")
        score += (blh < LOW_BLH_M) - (blh >= 2 * LOW_BLH_M)
    if "tp" in df.columns and np.isfinite(df["tp"].to_numpy(float)).any():
        per_unit = df.groupby("unit_id")["tp"].sum(min_count=1)
        tp = float(np.nanmean(per_unit.to_numpy(float)))
        zh.append(f"累计降水{tp:.1f} mm" if tp >= 0.1 else "基本无降水")
        en.append(f"precipitation {tp:.1f} mm" if tp >= 0.1 else "little or no precipitation")
        score -= 2 if tp >= WET_MM else 0
    if {"t2m", "d2m"} <= set(df.columns):
        rh = _rh(df["t2m"].to_numpy(float), df["d2m"].to_numpy(float))
        if np.isfinite(rh).any():
            zh.append(f"平均相对湿度{np.nanmean(rh):.0f}%")
            en.append(f"mean relative humidity {np.nanmean(rh):.0f} %")
    if not zh:
        return None
    if score >= 2:
        verdict = ("静稳少动，扩散条件不利", "stagnant: poor dispersion")
    elif score <= -1:
        verdict = ("扩散条件较好", "fair to good dispersion")
    else:
        verdict = ("扩散条件一般", "moderate dispersion")
    return ("预报期间" + "，".join(zh) + f"；{verdict[0]}。",
            "Forecast period: " + "; ".join(en) + f" — {verdict[1]}.")


def unit_met_for_issue(config: AirwarnConfig, data_dir: Path | str, issue_time: Any) -> pd.DataFrame | None:
    """Unit meteorology of the newest stored forecast cycle at or before ``issue_time``.

    Reads ``<data_dir>/met/cycles/YYYYMMDDHH.nc`` (UTC cycle time) and samples it at the
    units (``features.met_sampling.sample_units``). None when no cycle file is there.
    """
    import xarray as xr

    from features.met_sampling import sample_units

    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize(LOCAL_TZ) if issue.tzinfo is None else issue
    stamp = issue.tz_convert("UTC").strftime("%Y%m%d%H")
    files = sorted(p for p in (Path(data_dir) / "met" / "cycles").glob("*.nc") if p.stem <= stamp)
    if not files:
        return None
    f = files[-1]
    key = (str(f.resolve()), f.stat().st_mtime_ns, tuple(config.region.unit_ids))
    if key not in _CACHE:
        try:
            with xr.open_dataset(f) as ds:
                met = sample_units(ds.load(), config.region, config.stations)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("meteorology for the bulletins unavailable from %s: %s", f.name, exc)
            return None
        _CACHE.clear()  # one cycle at a time: a run's bulletins share it
        _CACHE[key] = met
    return _CACHE[key]


_CACHE: dict[tuple, pd.DataFrame] = {}
