"""Readers for the UCI air-quality benchmark sets (real public data, CC BY 4.0).

* :func:`read_prsa` — "Beijing Multi-Site Air-Quality Data" (Zhang et al. 2017, Proc. R. Soc. A
  473: 20170457): ``PRSA_Data_<Station>_20130301-20160229.csv``, 12 stations, hourly.
* :func:`read_five_cities` — "PM2.5 Data of Five Chinese Cities" (Liang et al. 2016, JGR Atmos.
  121; Liang et al. 2015, Proc. R. Soc. A 471: 20150257): ``<City>PM<start>_<end>.csv``.

Both return the canonical observation table (DESIGN.md: ``time`` tz-aware UTC, ``station_id``,
``pm25 pm10 o3 no2 so2`` µg/m³, ``co`` mg/m³, ``qc``) and a point-meteorology table
``(time, station_id, t2m K, d2m K, sp Pa, tp mm h-1, u10 m s-1, v10 m s-1, ws10 m s-1, rh %)``.
The source files label hours in local time (UTC+8); times are converted to UTC without shifting
between hour-beginning and hour-ending conventions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.features.readers.common import FIXED_UTC8

__all__ = ["OBS_COLUMNS", "MET_COLUMNS", "read_prsa", "read_five_cities", "COMPASS_DEG",
           "wind_components", "relative_humidity"]

OBS_COLUMNS = ["time", "station_id", "pm25", "pm10", "o3", "no2", "so2", "co", "qc"]
MET_COLUMNS = ["time", "station_id", "t2m", "d2m", "sp", "tp", "u10", "v10", "ws10", "rh"]

#: Direction the wind blows FROM, degrees clockwise from north, for 16-point compass labels and
#: the five-cities combined directions (``cv`` = calm and variable → NaN direction).
COMPASS_DEG: dict[str, float] = {
    name: 22.5 * i
    for i, name in enumerate(
        ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW",
         "NW", "NNW"]
    )
}

_LOCAL_OFFSET = FIXED_UTC8  # fixed UTC+8 (the files carry no daylight saving)

_PRSA_REQUIRED = ["year", "month", "day", "hour", "PM2.5", "PM10", "SO2", "NO2", "CO", "O3",
                  "TEMP", "PRES", "DEWP", "RAIN", "wd", "WSPM", "station"]
_FIVE_REQUIRED = ["year", "month", "day", "hour", "DEWP", "HUMI", "PRES", "TEMP", "cbwd", "Iws",
                  "precipitation"]


def wind_components(speed: np.ndarray, direction_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward wind (m s-1) from speed (m s-1) and meteorological direction.

    Parameters
    ----------
    speed : array
        Wind speed, m s-1.
    direction_deg : array
        Direction the wind blows from, degrees clockwise from north; NaN = calm / variable
        (components 0).
    """
    rad = np.deg2rad(direction_deg)
    u = np.where(np.isnan(rad), 0.0, -speed * np.sin(rad))
    v = np.where(np.isnan(rad), 0.0, -speed * np.cos(rad))
    u = np.where(np.isnan(speed), np.nan, u)
    v = np.where(np.isnan(speed), np.nan, v)
    return u, v


def relative_humidity(t_c: np.ndarray, td_c: np.ndarray) -> np.ndarray:
    """Relative humidity (%) from temperature and dew point (°C), Magnus formula (Alduchov 1996)."""
    a, b = 17.625, 243.04
    return 100.0 * np.exp(a * td_c / (b + td_c) - a * t_c / (b + t_c))


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, na_values=["NA", ""], keep_default_na=False, low_memory=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected at least {required}")
    return df


def _numeric(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    for c in cols:
        conv = pd.to_numeric(df[c], errors="coerce")
        bad = conv.isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{path}, line {i + 2}, column {c!r}: expected a number or NA, got {df[c].iloc[i]!r}"
            )
        df[c] = conv.astype(float)


def _utc_times(df: pd.DataFrame, path: Path) -> pd.Series:
    _numeric(df, ["year", "month", "day", "hour"], path)
    try:
        local = pd.to_datetime(
            dict(year=df["year"], month=df["month"], day=df["day"], hour=df["hour"]),
            errors="raise",
        )
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{path}: invalid date/hour columns ({exc})") from None
    return local.dt.tz_localize(_LOCAL_OFFSET).dt.tz_convert("UTC")


def _check_labels(df: pd.DataFrame, col: str, known: dict, path: Path, what: str) -> None:
    bad = ~df[col].isna() & ~df[col].isin(list(known))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {i + 2}, column {col!r}: expected {what}, "
                         f"got {df[col].iloc[i]!r}")


def _nonneg(df: pd.DataFrame, cols: list[str]) -> None:
    for c in cols:
        df.loc[df[c] < 0, c] = np.nan


def read_prsa(paths: Iterable[Path | str] | Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read UCI Beijing multi-site files into canonical observations and point meteorology.

    Parameters
    ----------
    paths : path or iterable of paths
        ``PRSA_Data_<Station>_*.csv`` files (one station each).

    Returns
    -------
    obs : DataFrame
        ``time`` (UTC), ``station_id`` (the file's ``station`` column), ``pm25 pm10 o3 no2 so2``
        (µg/m³), ``co`` (mg/m³; the files give µg/m³), ``qc`` (0).
    met : DataFrame
        ``time, station_id, t2m (K), d2m (K), sp (Pa), tp (mm h-1), u10, v10, ws10 (m s-1),
        rh (%)``.

    Raises
    ------
    ValueError
        A missing column or a non-numeric value, naming the file, line and column.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    obs_parts, met_parts = [], []
    for p in map(Path, paths):
        df = _read_csv(p, _PRSA_REQUIRED)
        num = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]
        _numeric(df, num, p)
        _nonneg(df, ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "RAIN", "WSPM"])
        _check_labels(df, "wd", COMPASS_DEG, p, "a 16-point compass direction")
        time = _utc_times(df, p)
        sid = df["station"].astype(str)
        obs_parts.append(pd.DataFrame({
            "time": time, "station_id": sid, "pm25": df["PM2.5"], "pm10": df["PM10"],
            "o3": df["O3"], "no2": df["NO2"], "so2": df["SO2"], "co": df["CO"] / 1000.0,
            "qc": np.zeros(len(df), dtype="int64"),
        }))
        wdir = df["wd"].map(COMPASS_DEG).astype(float).to_numpy()
        ws = df["WSPM"].to_numpy()
        u, v = wind_components(ws, wdir)
        met_parts.append(pd.DataFrame({
            "time": time, "station_id": sid, "t2m": df["TEMP"] + 273.15,
            "d2m": df["DEWP"] + 273.15, "sp": df["PRES"] * 100.0, "tp": df["RAIN"],
            "u10": u, "v10": v, "ws10": ws,
            "rh": relative_humidity(df["TEMP"].to_numpy(), df["DEWP"].to_numpy()).clip(0, 100),
        }))
    if not obs_parts:
        raise ValueError("read_prsa: no files given")
    obs = pd.concat(obs_parts, ignore_index=True).sort_values(["station_id", "time"])
    met = pd.concat(met_parts, ignore_index=True).sort_values(["station_id", "time"])
    return obs.reset_index(drop=True)[OBS_COLUMNS], met.reset_index(drop=True)[MET_COLUMNS]


_FIVE_DIR = {"NE": 45.0, "SE": 135.0, "SW": 225.0, "NW": 315.0, "cv": np.nan}


def read_five_cities(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one UCI five-cities file (``<City>PM<start>_<end>.csv``).

    Every ``PM_<site>`` column becomes a station ``<city>_<site>`` (lower case, e.g.
    ``chengdu_us_post``, ``chengdu_caotangsi``) with PM2.5 only (other pollutants NaN).

    Parameters
    ----------
    path : path
        The CSV file.

    Returns
    -------
    obs : DataFrame
        Canonical observations (µg/m³), one row per station-hour.
    met : DataFrame
        Point meteorology of the city, repeated for each of its stations: ``t2m, d2m`` (K),
        ``sp`` (Pa), ``tp`` (mm h-1, the hourly ``precipitation``), ``u10, v10, ws10`` (m s-1;
        the speed is recovered from the cumulated ``Iws`` within runs of one direction), ``rh`` (%).
    """
    p = Path(path)
    df = _read_csv(p, _FIVE_REQUIRED)
    m = re.match(r"([A-Za-z]+)PM\d", p.name)
    city = (m.group(1) if m else p.stem).lower()
    pm_cols = [c for c in df.columns if c.startswith("PM_")]
    if not pm_cols:
        raise ValueError(f"{p}: no PM_<site> column; expected e.g. 'PM_US Post'")
    _numeric(df, pm_cols + ["DEWP", "HUMI", "PRES", "TEMP", "Iws", "precipitation"], p)
    _nonneg(df, pm_cols + ["Iws", "precipitation"])
    _check_labels(df, "cbwd", _FIVE_DIR, p, "NE/SE/SW/NW/cv")
    time = _utc_times(df, p)
    # hourly speed from the cumulated speed: Iws restarts when the direction changes
    iws = df["Iws"].to_numpy()
    same = (df["cbwd"] == df["cbwd"].shift()).to_numpy()
    diff = iws - np.roll(iws, 1)
    ws = np.where(same & (diff > 0), diff, iws)
    ws = np.where(df["cbwd"].eq("cv").to_numpy(), np.minimum(ws, 0.5), ws) * 1.0
    ws = np.minimum(ws, 30.0)
    u, v = wind_components(ws, df["cbwd"].map(_FIVE_DIR).astype(float).to_numpy())
    obs_parts, met_parts = [], []
    for c in pm_cols:
        site = re.sub(r"[^a-z0-9]+", "_", c[3:].lower()).strip("_")
        sid = f"{city}_{site}"
        n = len(df)
        obs_parts.append(pd.DataFrame({
            "time": time, "station_id": sid, "pm25": df[c], "pm10": np.nan, "o3": np.nan,
            "no2": np.nan, "so2": np.nan, "co": np.nan, "qc": np.zeros(n, dtype="int64"),
        }))
        met_parts.append(pd.DataFrame({
            "time": time, "station_id": sid, "t2m": df["TEMP"] + 273.15,
            "d2m": df["DEWP"] + 273.15, "sp": df["PRES"] * 100.0, "tp": df["precipitation"],
            "u10": u, "v10": v, "ws10": ws, "rh": df["HUMI"].clip(0, 100),
        }))
    obs = pd.concat(obs_parts, ignore_index=True)
    met = pd.concat(met_parts, ignore_index=True)
    for c in ["pm10", "o3", "no2", "so2", "co"]:
        obs[c] = obs[c].astype(float)
    return obs[OBS_COLUMNS], met[MET_COLUMNS]
