"""Daily products from hourly concentrations: natural-day means, 8-h means, daily max 8-h O3.

Hourly input is the canonical observation table (DESIGN.md): ``time`` tz-aware UTC, an id column
(station or unit), ``pm25 pm10 o3 no2 so2`` in µg/m³ and ``co`` in mg/m³, NaN = missing. Hours are
taken as the source labels them (no shift between hour-beginning and hour-ending conventions);
a natural day is the 24 hour labels 00…23 of an Asia/Shanghai calendar date (UTC 16:00 of the
previous day is local midnight).

Validity rules (GB 3095-2026 §3 and 表4, domain-spec T1.11; V1 unless marked U):

* daily mean: ≥ 20 valid hourly values in the natural day (:data:`MIN_HOURS_DAILY`);
* 8-h mean stamped at hour *t*: mean of hours *t−7 … t*, ≥ 6 of the 8 valid (:data:`MIN_HOURS_8H`);
* daily maximum 8-h mean (MDA8): maximum over the 17 windows ending 08:00…24:00 local (i.e. stamped
  at hours 07…23, windows starting 00…16 h), valid with ≥ 14 valid windows (:data:`MIN_WINDOWS_MDA8`;
  HJ 663 reading, U);
* daily maximum 1-h O3 (HJ 633-2012 daily indicator): ≥ 20 valid hours (:data:`MIN_HOURS_O3_1H_MAX`;
  U, same rule as the daily mean).

Everything is vectorised with numpy over a regular (hour × id) grid, so 30 units × 2 years take well
under a second.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from airwarn.alerts.aqi import LOCAL_TZ, compute, compute_by_date

import airwarn.core.daily as core_daily
from airwarn.core.pollutants import observed as registry_observed
from airwarn.core.pollutants import pollutant as registry_pollutant

__all__ = [
    "POLLUTANT_COLUMNS",
    "MIN_HOURS_DAILY",
    "MIN_HOURS_8H",
    "MDA8_WINDOW_END_HOURS",
    "MIN_WINDOWS_MDA8",
    "MIN_HOURS_O3_1H_MAX",
    "HourlyGrid",
    "hourly_grid",
    "moving_mean",
    "daily_products",
    "daily_aqi",
]

#: Canonical pollutant columns (µg/m³; ``co`` mg/m³), from the pollutant registry.
POLLUTANT_COLUMNS: tuple[str, ...] = registry_observed()
#: Validity constants of the one implementation, :mod:`airwarn.core.daily` (GB 3095-2026 表4).
MIN_HOURS_DAILY = core_daily.MIN_HOURS_DAILY
MIN_HOURS_8H = core_daily.MIN_HOURS_8H
MDA8_WINDOW_END_HOURS: tuple[int, ...] = core_daily.MDA8_WINDOW_END_HOURS
MIN_WINDOWS_MDA8 = core_daily.MIN_WINDOWS_MDA8
MIN_HOURS_O3_1H_MAX = core_daily.MIN_HOURS_1H_MAX

_HOUR = pd.Timedelta(hours=1)


class HourlyGrid(NamedTuple):
    """Hourly values on a regular (hour × id) grid covering whole local days."""

    start: pd.Timestamp  # local (Asia/Shanghai) midnight of the first day; row k = start + k h
    ndays: int  # number of natural days; the grid has ndays * 24 rows
    ids: pd.Index  # ids in order of first appearance (grid columns)
    grids: dict[str, np.ndarray]  # (ndays * 24, len(ids)) float arrays per column, NaN = none
    rows: np.ndarray  # grid row of every input row
    cols: np.ndarray  # grid column of every input row


def hourly_grid(hourly: pd.DataFrame, id_col: str = "station_id",
                columns: tuple[str, ...] = POLLUTANT_COLUMNS) -> HourlyGrid:
    """Place hourly rows on a regular grid of whole local days × ids.

    Parameters
    ----------
    hourly : pandas.DataFrame
        ``time`` (tz-aware UTC, on the hour), ``id_col`` and concentration columns (µg/m³, CO
        mg/m³). Absent concentration columns are all NaN. Duplicate (time, id) rows are refused.
    id_col : str
        Name of the station / unit id column.
    columns : tuple of str
        Concentration columns to grid.

    Returns
    -------
    HourlyGrid
        ``start`` (local midnight of the first day), ``ndays``, ``ids``, ``grids`` (per column a
        ``(ndays * 24, len(ids))`` float array, same units as the input, NaN where no value),
        ``rows`` / ``cols`` (grid position of every input row).
    """
    if "time" not in hourly.columns or id_col not in hourly.columns:
        raise ValueError(f"hourly table needs columns 'time' and {id_col!r}")
    t = pd.DatetimeIndex(hourly["time"])
    if t.tz is None:
        raise ValueError("hourly 'time' must be tz-aware UTC (DESIGN.md: stored times are UTC)")
    if len(t) == 0:
        raise ValueError("hourly table is empty")
    if t.isna().any():
        raise ValueError(f"hourly 'time' has missing values (first at row {int(np.argmax(t.isna()))})")
    t = t.tz_convert("UTC")
    off = t != t.floor("h")
    if off.any():
        raise ValueError(f"hourly 'time' must be on the hour; row {int(np.argmax(off))} is {t[off][0]}")
    start = t.min().tz_convert(LOCAL_TZ).normalize()
    pos = np.asarray((t - start.tz_convert("UTC")) // _HOUR, dtype=np.int64)
    ndays = int(pos.max() // 24 + 1)
    codes, ids = pd.factorize(hourly[id_col], sort=False)
    if (codes < 0).any():
        raise ValueError(f"column {id_col!r} has missing ids")
    flat = pos * len(ids) + codes
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        bad = int(uniq[counts > 1][0])
        raise ValueError(f"duplicate rows for {id_col}={ids[bad % len(ids)]!r} at "
                         f"{start + (bad // len(ids)) * _HOUR}")
    grids: dict[str, np.ndarray] = {}
    for col in columns:
        g = np.full((ndays * 24, len(ids)), np.nan)
        if col in hourly.columns:
            g[pos, codes] = pd.to_numeric(hourly[col]).to_numpy(dtype=float, na_value=np.nan)
        grids[col] = g
    return HourlyGrid(start, ndays, pd.Index(ids), grids, pos, codes)


def _window_mean(grid: np.ndarray, window: int, min_valid: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing moving mean over ``window`` rows (:func:`airwarn.core.daily.trailing_mean`)."""
    return core_daily.trailing_mean(grid, window, min_valid)


def moving_mean(hourly: pd.DataFrame, column: str, window_hours: int, min_valid: int,
                id_col: str = "station_id") -> pd.Series:
    """Trailing moving mean stamped at the window end, aligned with the rows of ``hourly``.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Canonical hourly table (``time`` tz-aware UTC, ``id_col``, ``column``).
    column : str
        Concentration column (µg/m³; CO mg/m³).
    window_hours : int
        Window length; the value at hour *t* averages hours *t−window+1 … t* (8 for O3 8-h
        means, 24 for PM 24-h moving means of the HJ 633-2012 real-time report).
    min_valid : int
        Minimum valid hourly values in the window (O3 8-h: :data:`MIN_HOURS_8H`).

    Returns
    -------
    pandas.Series
        Moving means (same unit as ``column``), index of ``hourly``, NaN when too few hours.
    """
    hg = hourly_grid(hourly, id_col, (column,))
    mean, _ = _window_mean(hg.grids[column], window_hours, min_valid)
    return pd.Series(mean[hg.rows, hg.cols], index=hourly.index, name=f"{column}_{window_hours}h")


def daily_products(hourly: pd.DataFrame, id_col: str = "station_id") -> pd.DataFrame:
    """Natural-day indicators (Asia/Shanghai days) from hourly UTC concentrations.

    Parameters
    ----------
    hourly : pandas.DataFrame
        ``time`` (tz-aware UTC, on the hour), ``id_col``, ``pm25 pm10 o3 no2 so2`` (µg/m³) and
        ``co`` (mg/m³). Absent pollutant columns are treated as all missing.
    id_col : str
        Station or unit id column (``station_id``, ``unit_id``, …).

    Returns
    -------
    pandas.DataFrame
        One row per id and natural day of the covered range (sorted by id, then date):
        ``date`` (datetime64, local calendar day), ``id_col``, daily means ``pm25 pm10 so2 no2``
        (µg/m³) and ``co`` (mg/m³) — NaN with fewer than :data:`MIN_HOURS_DAILY` valid hours —,
        ``o3_8h_max`` (µg/m³, MDA8, NaN with fewer than :data:`MIN_WINDOWS_MDA8` valid windows),
        ``o3_1h_max`` (µg/m³), ``n_hours_<p>`` (valid hours per pollutant) and
        ``n_windows_o3_8h`` (valid 8-h windows among the 17 MDA8 windows).
    """
    start, ndays, ids, grids, _, _ = hourly_grid(hourly, id_col)
    nid = len(ids)
    out: dict[str, np.ndarray] = {
        "date": np.repeat(
            pd.date_range(start.tz_localize(None), periods=ndays, freq="D").to_numpy()[None, :],
            nid, axis=0).ravel(),
        id_col: np.repeat(ids.to_numpy(dtype=object), ndays),
    }

    def per_id(a: np.ndarray) -> np.ndarray:  # (ndays, nid) → id-major flat
        return a.T.ravel()

    counts: dict[str, np.ndarray] = {}
    mda8 = [p for p in POLLUTANT_COLUMNS if registry_pollutant(p).daily_statistic == "mda8"]
    for p in [q for q in POLLUTANT_COLUMNS if q not in mda8]:
        mean, n = core_daily.daily_mean_cube(grids[p].reshape(ndays, 24, nid))
        out[p] = per_id(mean)
        counts[f"n_hours_{p}"] = per_id(n)
    for p in mda8:  # O3: MDA8 and the daily 1-h maximum (HJ 633 daily indicators)
        cube = grids[p].reshape(ndays, 24, nid)
        m8, nw = core_daily.mda8_cube(cube)
        m1, n1 = core_daily.max_1h_cube(cube)
        out[f"{p}_8h_max"] = per_id(m8)
        out[f"{p}_1h_max"] = per_id(m1)
        counts[f"n_hours_{p}"] = per_id(n1)
        counts[f"n_windows_{p}_8h"] = per_id(nw)
    return pd.DataFrame({**out, **counts})


def daily_aqi(hourly: pd.DataFrame, ruleset: str | None = None, id_col: str = "station_id",
              **kwargs: object) -> pd.DataFrame:
    """Daily AQI report per id and natural day: :func:`daily_products` + :func:`alerts.aqi.compute`.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Canonical hourly table (``time`` tz-aware UTC; µg/m³, CO mg/m³).
    ruleset : {"HJ633_2012", "HJ633_2026"}, optional
        Default: chosen per row by the date (≤ 2026-02-28 → 2012, else 2026).
    id_col : str
        Station or unit id column.
    **kwargs
        Passed to :func:`alerts.aqi.compute` (e.g. ``publication_gate``).

    Returns
    -------
    pandas.DataFrame
        The daily products with ``iaqi_<p>``, ``aqi``, ``level``, ``category``, ``primary``,
        ``published``, ``ruleset`` (see :func:`alerts.aqi.compute`).
    """
    table = daily_products(hourly, id_col)
    if ruleset is None:
        return compute_by_date("daily", table, table["date"], **kwargs)  # type: ignore[arg-type]
    return compute(ruleset, "daily", table, **kwargs)  # type: ignore[arg-type]
