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

The daily run passes the meteorology it forecast with: :func:`run_unit_met` turns the run's met
source (the cycle it used, regenerated or read from ``met/cycles``) into the unit table of the
sentence, and :func:`run_cycle` returns the gridded cycle for the meteorology maps, whose daily
fields come from :func:`daily_met_fields`:

* 10-m wind: daily mean ``u10``, ``v10`` (m s-1);
* boundary-layer height: daily maximum ``blh`` (m), the afternoon mixing depth;
* precipitation: daily total ``tp`` (mm per day, from mm h-1 × 1 h);
* **stagnation index** ``stagnation_h``: the number of hours (h, 0–24) of the local natural day
  with 10-m wind speed below :data:`STAGNANT_WIND_MS` (2 m s-1) **and** boundary-layer height
  below :data:`STAGNANT_BLH_M` (500 m) — calm air under a shallow mixed layer, when emissions
  accumulate. A display index (U: forecaster practice, like the thresholds above); it decides
  nothing.

Days are natural days in Asia/Shanghai (D+1…D+3 of the issue); a day with fewer than
:data:`MIN_DAY_HOURS` forecast hours is NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from airwarn.configs import AirwarnConfig

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_OFFSET_H, LOCAL_TZ

if TYPE_CHECKING:
    import xarray as xr
    from airwarn.features.build import MetSource

__all__ = ["CALM_WIND_MS", "LOW_BLH_M", "WET_MM", "STAGNANT_WIND_MS", "STAGNANT_BLH_M",
           "MIN_DAY_HOURS", "meteorology_text", "unit_met_for_issue", "run_unit_met",
           "decision_meteorology", "run_cycle", "daily_met_fields", "stagnant_hours"]

log = logging.getLogger(__name__)

#: Wind speed below which an hour counts as calm / stagnant, m s-1 (display heuristic, U).
CALM_WIND_MS = 2.0
#: Mean daily maximum boundary-layer height below which mixing is poor, m (heuristic, U).
LOW_BLH_M = 800.0
#: Precipitation total from which wet scavenging is mentioned, mm (heuristic, U).
WET_MM = 5.0
#: Stagnation index: an hour is stagnant with 10-m wind below this, m s-1 (display index, U).
STAGNANT_WIND_MS = 2.0
#: … and the boundary-layer height below this, m (display index, U).
STAGNANT_BLH_M = 500.0
#: Forecast hours a local day needs for its daily meteorology fields (as the ≥ 20 h daily mean).
MIN_DAY_HOURS = 20


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
    from airwarn.features.met_sampling import sample_units

    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize(LOCAL_TZ) if issue.tzinfo is None else issue
    stamp = issue.tz_convert("UTC").strftime("%Y%m%d%H")
    files = sorted(p for p in RunStore(data_dir).met_cycles_dir.glob("*.nc") if p.stem <= stamp)
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


def stagnant_hours(u10: Any, v10: Any, blh: Any) -> Any:
    """1.0 for a stagnant hour (wind speed < :data:`STAGNANT_WIND_MS` m s-1 and boundary layer <
    :data:`STAGNANT_BLH_M` m), 0.0 otherwise, NaN where an input is missing.

    Parameters
    ----------
    u10, v10 : array-like
        10-m wind components, m s-1.
    blh : array-like
        Boundary-layer height, m.
    """
    ws = np.hypot(u10, v10)
    flag = ((ws < STAGNANT_WIND_MS) & (blh < STAGNANT_BLH_M)) * 1.0
    return flag.where(np.isfinite(ws) & np.isfinite(blh)) if hasattr(flag, "where") else \
        np.where(np.isfinite(ws) & np.isfinite(blh), flag, np.nan)


def daily_met_fields(cycle: xr.Dataset, issue_time: Any, days: Sequence[int] = (1, 2, 3)
                     ) -> xr.Dataset:
    """Daily fields of a gridded forecast cycle for the maps, per local day D+k.

    Parameters
    ----------
    cycle : xr.Dataset
        ``(time, …grid)`` with ERA5 names (``u10 v10`` m s-1, ``blh`` m, ``tp`` mm h-1); ``time``
        UTC.
    issue_time : time-like
        Issue time (naive = Asia/Shanghai); day k is the local natural day issue date + k.
    days : sequence of int

    Returns
    -------
    xr.Dataset
        Dims ``(day, …grid)``: ``u10``, ``v10`` daily mean (m s-1), ``blh`` daily maximum (m),
        ``tp`` daily total (mm), ``stagnation_h`` stagnant hours (h); coordinate ``date(day)``
        (ISO local date) and ``hours(day)`` (forecast hours found). Variables absent from the
        cycle are absent; a day with fewer than :data:`MIN_DAY_HOURS` hours is NaN.
    """
    import xarray as xr

    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize(LOCAL_TZ) if issue.tzinfo is None else issue
    d0 = issue.tz_convert(LOCAL_TZ).normalize().tz_localize(None)
    t = pd.DatetimeIndex(pd.to_datetime(cycle["time"].values))
    t = t.tz_localize(None) if t.tz is not None else t
    local = t + pd.Timedelta(hours=LOCAL_OFFSET_H)  # the local zone's fixed offset
    out = []
    for k in days:
        day = d0 + pd.Timedelta(days=int(k))
        sel = np.flatnonzero(local.normalize() == day)
        part = cycle.isel(time=sel)
        fields: dict[str, Any] = {}
        if "u10" in part and "v10" in part:
            fields["u10"] = part["u10"].mean("time")
            fields["v10"] = part["v10"].mean("time")
        if "blh" in part:
            fields["blh"] = part["blh"].max("time")
        if "tp" in part:
            fields["tp"] = part["tp"].sum("time", min_count=1)
        if {"u10", "v10", "blh"} <= set(part.data_vars):
            fields["stagnation_h"] = stagnant_hours(part["u10"], part["v10"],
                                                    part["blh"]).sum("time", min_count=1)
        ds = xr.Dataset(fields)
        if len(sel) < MIN_DAY_HOURS:
            ds = ds * np.nan
        out.append(ds.assign_coords(date=day.strftime("%Y-%m-%d"), hours=len(sel)))
    res = xr.concat(out, dim="day").assign_coords(day=list(days))
    attrs = {"u10": ("m s-1", "daily mean 10-m eastward wind"),
             "v10": ("m s-1", "daily mean 10-m northward wind"),
             "blh": ("m", "daily maximum boundary-layer height"),
             "tp": ("mm", "daily total precipitation"),
             "stagnation_h": ("h", f"hours with 10-m wind < {STAGNANT_WIND_MS:g} m s-1 and "
                                   f"boundary layer < {STAGNANT_BLH_M:g} m")}
    for v, (units, name) in attrs.items():
        if v in res:
            res[v].attrs = {"units": units, "long_name": name}
    res.attrs = {k: v for k, v in cycle.attrs.items()
                 if k in ("forecast_reference_time", "source")}
    return res


def run_cycle(config: AirwarnConfig, data_dir: Path | str, met_info: dict[str, Any] | None
              ) -> xr.Dataset | None:
    """The gridded forecast cycle a run used (``met_info``: the met source's ``describe``).

    ``met/cycles/YYYYMMDDHH.nc`` of the cycle when stored; in a demo world whose past cycles are
    not files, the cycle regenerated from the world's seed
    (``features.demo_world.forecast_cycle``). None when the run used no cycle (``none``,
    ``perfect``) or it cannot be read.
    """
    import xarray as xr

    ref = (met_info or {}).get("cycle")
    if not ref:
        return None
    ref_ts = pd.Timestamp(ref)
    ref_ts = ref_ts.tz_localize("UTC") if ref_ts.tzinfo is None else ref_ts.tz_convert("UTC")
    store = RunStore(data_dir)
    path = store.met_cycle(ref_ts)
    try:
        if path.exists():
            with xr.open_dataset(path) as ds:
                return ds.load()
        if store.demo_world.exists():
            from airwarn.features.demo_world import forecast_cycle, load_world

            return forecast_cycle(load_world(data_dir), ref_ts)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("meteorology maps: cycle %s unavailable: %s", ref, exc)
    return None


def run_unit_met(met_source: MetSource | None, issue_time: Any, units: Sequence[str]) -> pd.DataFrame | None:
    """The unit meteorology a run forecast with, as a table for :func:`meteorology_text`.

    Parameters
    ----------
    met_source : features.build.MetSource or None
        The run's source (``CycleMet`` over stored or regenerated cycles, ``PerfectMet``, …).
    issue_time : time-like
        Naive = Asia/Shanghai.
    units : sequence of str

    Returns
    -------
    DataFrame or None
        ``time`` (UTC), ``unit_id`` and the met variables (ERA5 names and units) from the issue
        time to the end of D+3; None without future meteorology.
    """
    if met_source is None:
        return None
    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize(LOCAL_TZ) if issue.tzinfo is None else issue
    t0 = issue.tz_convert("UTC").floor("h")
    end = (issue.tz_convert(LOCAL_TZ).normalize() + pd.Timedelta(days=4)
           - pd.Timedelta(hours=1)).tz_convert("UTC")
    try:
        panel = met_source.panel(t0, t0, end, list(units))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("meteorology for the bulletins unavailable: %s", exc)
        return None
    keep = [v for v in ("u10", "v10", "blh", "tp", "t2m", "d2m") if v in panel.data]
    if not keep:
        return None
    times = pd.DatetimeIndex(panel.times)
    n_t, n_u = len(times), len(panel.units)
    df = pd.DataFrame({"time": np.repeat(times, n_u),
                       "unit_id": np.tile(np.asarray(panel.units, dtype=object), n_t)})
    for v in keep:
        df[v] = np.asarray(panel.data[v], dtype=float).reshape(n_t * n_u)
    if not np.isfinite(df[keep].to_numpy()).any():
        return None
    return df


def decision_meteorology(decision: Any, unit_met: pd.DataFrame | None) -> tuple[str, str] | None:
    """气象条件 sentence of one decision (its units and window) from :func:`run_unit_met`."""
    from airwarn.products.common import decision_dict

    d = decision_dict(decision)
    return meteorology_text(unit_met, list(d["unit_ids"]), d.get("start"), d.get("end"))
