"""Meteorology readers: gridded NetCDF (ERA5, WRF, other CF files) and station tables → ERA5 names.

Every reader returns the variables under their ERA5 short names and units (DESIGN.md):

======  ==========  =========================================================
name    units       meaning
======  ==========  =========================================================
t2m     K           2-m temperature
d2m     K           2-m dew-point temperature
u10     m s-1       10-m eastward wind (earth-relative)
v10     m s-1       10-m northward wind (earth-relative)
sp      Pa          surface pressure
tp      mm h-1      precipitation rate over the hour ending at ``time``
blh     m           boundary-layer height
ssrd    W m-2       surface solar radiation downwards (mean over the hour for ERA5)
tcc     1           total cloud cover, 0–1
======  ==========  =========================================================

Gridded readers return an ``xr.Dataset`` with a ``time`` dimension (UTC, naive datetime64 as
xarray/CF usually holds it) and either regular ``latitude``/``longitude`` dimensions (ERA5, CF)
or curvilinear 2-D ``latitude(y, x)``/``longitude(y, x)`` coordinates (WRF). Point readers
return a table ``(time, station_id, var…)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.features.cf import ERA5_ATTRS, ERA5_VARS
from airwarn.features.readers.common import FIXED_UTC8
from airwarn.features.readers.uci import COMPASS_DEG, relative_humidity

__all__ = [
    "ERA5_VARS", "ERA5_ATTRS", "MetReaderError", "read_era5", "read_wrf", "read_cf",
    "read_point_met", "dewpoint_from_mixing_ratio", "GFS_MAPPING", "CF_STANDARD_NAMES",
    "CF_NAMES", "reference_time_of",
]

# the store's meteorological variables and their CF attributes live in features.cf

#: Typical GFS / NCEP CF names (e.g. NOMADS or cfgrib NetCDF) → ERA5 names, for :func:`read_cf`.
GFS_MAPPING: dict[str, str] = {
    "TMP_2maboveground": "t2m", "DPT_2maboveground": "d2m", "UGRD_10maboveground": "u10",
    "VGRD_10maboveground": "v10", "PRES_surface": "sp", "PRATE_surface": "tp",
    "HPBL_surface": "blh", "DSWRF_surface": "ssrd", "TCDC_entireatmosphere": "tcc",
    "t2m": "t2m", "d2m": "d2m", "u10": "u10", "v10": "v10", "sp": "sp", "prate": "tp",
    "hpbl": "blh", "dswrf": "ssrd", "tcc": "tcc",
}

#: CF standard names → ERA5 names, matched before any name (:func:`read_cf`). Accumulated
#: amounts (``precipitation_amount`` …) are de-accumulated per ``accumulated``.
CF_STANDARD_NAMES: dict[str, str] = {
    "air_temperature": "t2m",
    "dew_point_temperature": "d2m",
    "eastward_wind": "u10", "x_wind": "u10",
    "northward_wind": "v10", "y_wind": "v10",
    "surface_air_pressure": "sp",
    "precipitation_flux": "tp", "lwe_precipitation_rate": "tp",
    "precipitation_amount": "tp", "lwe_thickness_of_precipitation_amount": "tp",
    "atmosphere_boundary_layer_thickness": "blh",
    "surface_downwelling_shortwave_flux_in_air": "ssrd",
    "integral_wrt_time_of_surface_downwelling_shortwave_flux_in_air": "ssrd",
    "cloud_area_fraction": "tcc",
}

#: Common names (CMIP/CORDEX, WRF post-processed, ERA5, GFS) → ERA5 names, tried after
#: standard names.
CF_NAMES: dict[str, str] = {
    **GFS_MAPPING, "tas": "t2m", "T2": "t2m", "tdps": "d2m", "uas": "u10", "vas": "v10",
    "U10": "u10", "V10": "v10", "ps": "sp", "PSFC": "sp", "pr": "tp", "prate": "tp",
    "rsds": "ssrd", "SWDOWN": "ssrd", "clt": "tcc", "PBLH": "blh", "blh": "blh",
    "ssrd": "ssrd", "tp": "tp", "2t": "t2m", "2d": "d2m", "10u": "u10", "10v": "v10",
}


class MetReaderError(ValueError):
    """Bad meteorology input: the message names the file, the variable and what was expected."""


# ------------------------------------------------------------------------------ helpers
def _open(path: Path | str | xr.Dataset) -> tuple[xr.Dataset, str]:
    if isinstance(path, xr.Dataset):
        return path, "<dataset>"
    p = Path(path)
    if not p.exists():
        raise MetReaderError(f"{p}: file not found")
    try:
        ds = xr.open_dataset(p, chunks={}, decode_timedelta=False)
    except Exception as exc:  # noqa: BLE001 - netCDF4/h5netcdf raise various types
        raise MetReaderError(f"{p}: not a readable NetCDF file ({exc})") from None
    return ds, str(p)


def _units(da: xr.DataArray) -> str:
    return str(da.attrs.get("units", "")).strip().replace("**", "").replace("^", "")


def _finish(ds: xr.Dataset, source: str, src_name: str,
            reference_time: pd.Timestamp | None = None) -> xr.Dataset:
    if reference_time is not None:
        ref = reference_time.tz_convert("UTC")
        ds = ds.assign_coords(forecast_reference_time=(
            (), np.datetime64(ref.tz_localize(None).to_datetime64(), "ns"),
            {"standard_name": "forecast_reference_time"}))
        ds.attrs["forecast_reference_time"] = ref.isoformat()
        if "time" in ds.coords:
            steps = (pd.DatetimeIndex(ds["time"].values) - ref.tz_localize(None)) \
                / pd.Timedelta("1h")
            if (np.asarray(steps) >= 0).all() and (np.asarray(steps) % 1 == 0).all():
                ds = ds.assign_coords(step=("time", np.asarray(steps, dtype=np.int32),
                                            {"units": "hours", "long_name": "forecast lead time",
                                             "standard_name": "forecast_period"}))
    for v in list(ds.data_vars):
        ds[v] = ds[v].astype("float32")
        ds[v].attrs = dict(ERA5_ATTRS[v])
    ds.attrs["source"] = source
    ds.attrs["history"] = f"read from {src_name} by airwarn features.readers.met"
    ds.attrs["Conventions"] = "CF-1.8"
    if "time" in ds.coords:
        ds["time"].attrs.update({"standard_name": "time", "long_name": "valid time (UTC)"})
    return ds


def reference_time_of(ds: xr.Dataset, name: str = "<dataset>",
                      override: object | None = None) -> pd.Timestamp | None:
    """The forecast reference time of a CF file (UTC, tz-aware), or None for analyses.

    Taken from ``override`` (``--reference-time``), else a ``forecast_reference_time``
    coordinate or variable (scalar, or one value), else a coordinate whose ``standard_name`` is
    ``forecast_reference_time``, else a ``forecast_reference_time`` attribute (ISO).

    Raises
    ------
    MetReaderError
        Several reference times in one file, or an unparseable one.
    """
    def _utc(v: object) -> pd.Timestamp:
        t = pd.Timestamp(v)  # type: ignore[arg-type]
        return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")

    try:
        if override is not None:
            return _utc(override)
        cands = [k for k in ds.variables
                 if k == "forecast_reference_time"
                 or ds[k].attrs.get("standard_name") == "forecast_reference_time"]
        if cands:
            vals = np.unique(np.asarray(ds[cands[0]].values).ravel())
            if vals.size != 1:
                raise MetReaderError(f"{name}: {cands[0]!r} holds {vals.size} reference times; "
                                     f"expected one forecast cycle per file")
            return _utc(vals[0])
        attr = ds.attrs.get("forecast_reference_time")
        return _utc(str(attr)) if attr else None
    except MetReaderError:
        raise
    except (ValueError, TypeError) as exc:
        raise MetReaderError(f"{name}: forecast reference time unreadable ({exc}); expected an "
                             f"ISO time such as 2026-01-20T00:00Z") from None


def _regular_grid(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Rename lat/lon/time variants, sort latitude ascending, longitudes to −180…180."""
    ren = {}
    for old, new in (("valid_time", "time"), ("lat", "latitude"), ("lon", "longitude")):
        if old in ds.dims or old in ds.coords:
            if new not in ds.coords:
                ren[old] = new
    ds = ds.rename(ren)
    for c in ("time", "latitude", "longitude"):
        if c not in ds.coords:
            raise MetReaderError(f"{name}: no {c!r} coordinate; expected (time|valid_time, "
                                 f"latitude|lat, longitude|lon)")
    if "time" not in ds.dims:
        ds = ds.expand_dims("time")
    if float(ds["longitude"].max()) > 180:
        ds = ds.assign_coords(longitude=((ds["longitude"] + 180) % 360) - 180).sortby("longitude")
    if ds["latitude"].size > 1 and float(ds["latitude"][0]) > float(ds["latitude"][-1]):
        ds = ds.sortby("latitude")
    drop = [c for c in ds.coords if c not in ("time", "latitude", "longitude")]
    ds = ds.drop_vars(drop)
    ds["latitude"].attrs.update({"units": "degrees_north", "standard_name": "latitude"})
    ds["longitude"].attrs.update({"units": "degrees_east", "standard_name": "longitude"})
    return ds.transpose("time", "latitude", "longitude", ...)


def _step_hours(time: xr.DataArray, name: str) -> xr.DataArray:
    t = pd.DatetimeIndex(time.values)
    if len(t) < 2:
        return xr.DataArray(np.array([np.nan]), dims="time", coords={"time": time})
    # units-safe: pandas 3 may hold these in µs (not ns), so never divide raw integers
    dt = np.r_[np.nan, ((t[1:] - t[:-1]) / pd.Timedelta(hours=1)).to_numpy(dtype=float)]
    if (dt[1:] <= 0).any():
        raise MetReaderError(f"{name}: time is not increasing; expected sorted valid times")
    return xr.DataArray(dt, dims="time", coords={"time": time})


def _deaccumulate(acc: xr.DataArray, name: str) -> xr.DataArray:
    """Rate per hour from a field accumulated since the start: Δacc / Δt (first step NaN,
    negative steps — bucket resets — NaN)."""
    d = acc.diff("time", label="upper")
    hours = _step_hours(acc["time"], name).isel(time=slice(1, None))
    rate = d / hours
    rate = rate.where(rate >= -1e-6).clip(min=0)
    first = acc.isel(time=[0]) * np.nan
    return xr.concat([first, rate], dim="time")


def _convert(da: xr.DataArray, var: str, name: str, accumulated: str) -> xr.DataArray:
    """Convert a variable to the ERA5 unit of ``var`` from its ``units`` attribute."""
    u = _units(da).lower().replace(" ", "")
    if var in ("t2m", "d2m"):
        if u in ("k", "kelvin", ""):
            return da
        if u in ("degc", "c", "°c", "celsius", "degreec", "degrees_celsius"):
            return da + 273.15
    elif var in ("u10", "v10"):
        if u in ("ms-1", "m/s", "ms**-1", "meterpersecond", ""):
            return da
        if u in ("kt", "knots", "knot"):
            return da * 0.514444
    elif var == "sp":
        if u in ("pa", ""):
            return da
        if u in ("hpa", "mb", "mbar", "millibar"):
            return da * 100.0
        if u == "kpa":
            return da * 1000.0
    elif var == "blh":
        if u in ("m", "metre", "meter", "meters", ""):
            return da
    elif var == "tcc":
        if u in ("1", "", "(0-1)", "0-1", "fraction"):
            return da
        if u in ("%", "percent"):
            return da / 100.0
    elif var == "tp":
        if u in ("mmh-1", "mm/h", "mm/hr", "mmhr-1"):
            return da
        if u in ("kgm-2s-1", "mms-1", "mm/s", "kg/m2/s"):
            return da * 3600.0
        if u in ("m", "kgm-2", "mm", "kg/m2"):
            scale = 1000.0 if u == "m" else 1.0
            if accumulated == "since_start":
                return _deaccumulate(da * scale, name)
            return da * scale / _hours_per_window(da, name, accumulated)
    elif var == "ssrd":
        if u in ("wm-2", "w/m2"):
            return da
        if u in ("jm-2", "j/m2"):
            if accumulated == "since_start":
                return _deaccumulate(da, name) / 3600.0
            return da / (3600.0 * _hours_per_window(da, name, accumulated))
    raise MetReaderError(f"{name}: variable for {var!r} has units {da.attrs.get('units')!r}; "
                         f"expected something convertible to {ERA5_ATTRS[var]['units']}")


def _hours_per_window(da: xr.DataArray, name: str, accumulated: str) -> float:
    if accumulated == "hourly":
        return 1.0
    m = re.fullmatch(r"(\d+)h", accumulated)
    if m:
        return float(m.group(1))
    raise MetReaderError(f"{name}: accumulated={accumulated!r}; expected 'hourly', "
                         f"'since_start' or '<N>h'")


# ------------------------------------------------------------------------------ ERA5
def read_era5(path: Path | str | xr.Dataset, *, accumulated: str = "hourly",
              reference_time: object | None = None) -> xr.Dataset:
    """Read an ERA5 single-levels NetCDF file from the Copernicus CDS.

    Handles both CDS layouts: the current one (``valid_time`` dimension, ``number``/``expver``
    coordinates) and the legacy one (``time``); ``latitude``/``longitude`` (descending latitude
    is sorted ascending; 0–360 longitudes become −180–180). Accumulated fields become rates:
    ``tp`` m per hour → mm h-1, ``ssrd`` J m-2 per hour → W m-2 (÷ 3600 s).

    Parameters
    ----------
    path : path-like or Dataset
        The NetCDF file (opened lazily with dask) or an opened Dataset.
    accumulated : {"hourly", "since_start", "<N>h"}
        How ``tp``/``ssrd`` are accumulated: over the hour ending at each time (ERA5 hourly
        reanalysis, the default), since the start of the file (forecast products; differenced),
        or over N hours.
    reference_time : time-like, optional
        Forecast reference time when the file is a forecast cycle without one
        (:func:`reference_time_of`).

    Returns
    -------
    xr.Dataset
        ``(time, latitude, longitude)`` with those of ``t2m d2m u10 v10 sp tp blh ssrd tcc`` that
        the file has, in K, K, m s-1, m s-1, Pa, mm h-1, m, W m-2, 0–1; attribute ``source``;
        for forecast cycles the scalar coordinate and attribute ``forecast_reference_time`` and
        a ``step`` coordinate (hours).

    Raises
    ------
    MetReaderError
        Unreadable file, missing coordinates, none of the ERA5 variables, or unknown units.
    """
    ds, name = _open(path)
    present = [v for v in ERA5_VARS if v in ds.data_vars]
    if not present:
        raise MetReaderError(f"{name}: none of the ERA5 variables {list(ERA5_VARS)} found; "
                             f"variables are {list(ds.data_vars)}")
    ref = reference_time_of(ds, name, reference_time)
    ds = _regular_grid(ds[present], name)
    out = xr.Dataset({v: _convert(ds[v], v, name, accumulated) for v in present})
    return _finish(out, "ECMWF ERA5 (Copernicus Climate Change Service)", name, ref)


# ------------------------------------------------------------------------------ WRF
def dewpoint_from_mixing_ratio(q: np.ndarray | xr.DataArray, p: np.ndarray | xr.DataArray
                               ) -> np.ndarray | xr.DataArray:
    """Dew point (K) from water-vapour mixing ratio (kg kg-1) and pressure (Pa).

    Vapour pressure ``e = q p / (ε + q)`` with ε = 0.622, then the inverse of Bolton (1980)
    ``e = 6.112 exp(17.67 Td / (Td + 243.5))`` (hPa, °C).
    """
    e_hpa = q * p / (0.622 + q) / 100.0
    e_hpa = np.maximum(e_hpa, 1e-6)
    ln = np.log(e_hpa / 6.112)
    return 243.5 * ln / (17.67 - ln) + 273.15


def _wrf_times(ds: xr.Dataset, name: str) -> pd.DatetimeIndex:
    if "Times" in ds:
        raw = ds["Times"].values
        strs = [b"".join(r).decode() if raw.dtype.kind == "S" and raw.ndim == 2
                else (r.decode() if isinstance(r, bytes) else str(r)) for r in raw]
        try:
            return pd.DatetimeIndex(pd.to_datetime(strs, format="%Y-%m-%d_%H:%M:%S"))
        except ValueError as exc:
            raise MetReaderError(f"{name}: variable 'Times' holds {strs[0]!r}; expected "
                                 f"YYYY-MM-DD_HH:MM:SS ({exc})") from None
    if "XTIME" in ds:
        return pd.DatetimeIndex(ds["XTIME"].values)
    raise MetReaderError(f"{name}: no 'Times' or 'XTIME' variable; expected a wrfout file")


def read_wrf(path: Path | str | xr.Dataset) -> xr.Dataset:
    """Read a WRF ``wrfout`` file to ERA5 names on its curvilinear grid.

    ``t2m`` = T2; ``d2m`` from Q2 (mixing ratio) and PSFC (:func:`dewpoint_from_mixing_ratio`);
    ``sp`` = PSFC; ``u10, v10`` = U10, V10 rotated to earth-relative with COSALPHA/SINALPHA when
    present (``u = U cosα − V sinα``, ``v = V cosα + U sinα``); ``tp`` = Δ(RAINC + RAINNC) / Δt
    (mm accumulated since the start → mm h-1; the first time NaN); ``blh`` = PBLH;
    ``ssrd`` = SWDOWN (instantaneous W m-2). No ``tcc`` (WRF writes only 3-D cloud fraction).

    Parameters
    ----------
    path : path-like or Dataset

    Returns
    -------
    xr.Dataset
        Dims ``(time, y, x)``, 2-D coordinates ``latitude(y, x)``, ``longitude(y, x)``
        (degrees); attributes ``source`` and ``forecast_reference_time`` (ISO UTC, from
        ``SIMULATION_START_DATE`` / ``START_DATE`` when present).
    """
    ds, name = _open(path)
    need = ["XLAT", "XLONG", "T2", "Q2", "PSFC", "U10", "V10"]
    missing = [v for v in need if v not in ds]
    if missing:
        raise MetReaderError(f"{name}: missing variable(s) {missing}; expected a wrfout file "
                             f"with {need}")
    times = _wrf_times(ds, name)
    tdim = "Time"

    def grid(v: str) -> xr.DataArray:
        da = ds[v]
        if tdim not in da.dims:
            da = da.expand_dims(tdim)
        da = da.rename({tdim: "time", "south_north": "y", "west_east": "x"})
        return da.assign_coords(time=times).drop_vars([c for c in da.coords if c != "time"])

    lat = grid("XLAT").isel(time=0).values
    lon = grid("XLONG").isel(time=0).values
    u, v = grid("U10"), grid("V10")
    if "COSALPHA" in ds and "SINALPHA" in ds:
        cosa, sina = grid("COSALPHA").isel(time=0), grid("SINALPHA").isel(time=0)
        u, v = u * cosa - v * sina, v * cosa + u * sina
    q2, psfc = grid("Q2"), grid("PSFC")
    out = {"t2m": grid("T2"), "d2m": dewpoint_from_mixing_ratio(q2, psfc), "u10": u, "v10": v,
           "sp": psfc}
    if "RAINNC" in ds or "RAINC" in ds:
        rain = sum(grid(r) for r in ("RAINC", "RAINNC", "RAINSH") if r in ds)
        out["tp"] = _deaccumulate(rain, name)  # type: ignore[arg-type]
    if "PBLH" in ds:
        out["blh"] = grid("PBLH")
    if "SWDOWN" in ds:
        out["ssrd"] = grid("SWDOWN")
    res = xr.Dataset(out).assign_coords(
        latitude=(("y", "x"), lat, {"units": "degrees_north", "standard_name": "latitude"}),
        longitude=(("y", "x"), lon, {"units": "degrees_east", "standard_name": "longitude"}))
    res = res.transpose("time", "y", "x")
    res = _finish(res, "WRF model output", name)
    start = ds.attrs.get("SIMULATION_START_DATE") or ds.attrs.get("START_DATE")
    if start:
        try:
            res.attrs["forecast_reference_time"] = pd.Timestamp(
                pd.to_datetime(str(start), format="%Y-%m-%d_%H:%M:%S")).tz_localize(
                "UTC").isoformat()
        except ValueError:
            pass
    return res


# ------------------------------------------------------------------------------ generic CF
def _is_field(da: xr.DataArray) -> bool:
    """A (time, lat, lon) field, extra dimensions allowed only when of length 1."""
    horiz = {"latitude", "longitude", "lat", "lon", "y", "x", "rlat", "rlon"}
    if len(horiz & set(da.dims)) < 2:
        return False
    extra = [d for d in da.dims if d not in horiz | {"time", "valid_time"}]
    return all(da.sizes[d] == 1 for d in extra)


def _match_cf(ds: xr.Dataset, name: str) -> dict[str, str]:
    """Source variable → ERA5 name: by ``standard_name`` first, then by name (:data:`CF_NAMES`)."""
    found: dict[str, str] = {}
    for target in ERA5_VARS:
        by_std = [v for v, da in ds.data_vars.items()
                  if CF_STANDARD_NAMES.get(str(da.attrs.get("standard_name", ""))) == target
                  and _is_field(da)]
        if len(by_std) > 1:  # e.g. air_temperature at 2 m and at the surface: prefer known names
            named = [v for v in by_std if CF_NAMES.get(str(v)) == target]
            if len(named) != 1:
                raise MetReaderError(f"{name}: several variables have the standard_name of "
                                     f"{target!r}: {sorted(map(str, by_std))}; pass a mapping")
            by_std = named
        if by_std:
            found[str(by_std[0])] = target
            continue
        by_name = [v for v in ds.data_vars if CF_NAMES.get(str(v)) == target
                   and str(v) not in found and _is_field(ds[v])]
        if by_name:
            found[str(by_name[0])] = target
    return found


def read_cf(path: Path | str | xr.Dataset, mapping: Mapping[str, str] | None = None, *,
            accumulated: str = "hourly", reference_time: object | None = None) -> xr.Dataset:
    """Read a CF NetCDF meteorology file (GFS/WRF converted, any CF source) to ERA5 names.

    Variables are matched by ``standard_name`` first (:data:`CF_STANDARD_NAMES`, e.g. ``tas``
    with ``air_temperature`` → ``t2m``, ``precipitation_flux`` → ``tp``), then by name
    (:data:`CF_NAMES`: GFS, CMIP, ERA5 names), unless ``mapping`` is given. Units are converted
    from each variable's ``units`` attribute (°C/K, hPa/Pa, %, kg m-2 s-1 → mm h-1, accumulated
    kg m-2 or m, J m-2, knots); unknown units are an error naming the variable.

    Parameters
    ----------
    path : path-like or Dataset
    mapping : dict, optional
        Source variable name → ERA5 name, replacing the automatic matching.
    accumulated : str
        As for :func:`read_era5`, for accumulated precipitation / radiation.
    reference_time : time-like, optional
        Forecast reference time (``--reference-time``) when the file has no
        ``forecast_reference_time`` coordinate or attribute (:func:`reference_time_of`).

    Returns
    -------
    xr.Dataset
        ``(time, latitude, longitude)`` with ERA5 names and units; attribute ``source``; for a
        forecast cycle the coordinate and attribute ``forecast_reference_time`` and ``step``.
    """
    ds, name = _open(path)
    if mapping is not None:
        mapping = dict(mapping)
        bad = [t for t in mapping.values() if t not in ERA5_VARS]
        if bad:
            raise MetReaderError(f"read_cf mapping targets {bad} are not ERA5 names "
                                 f"{list(ERA5_VARS)}")
        found = {src: dst for src, dst in mapping.items() if src in ds.data_vars}
        if not found:
            raise MetReaderError(f"{name}: none of the mapped variables {list(mapping)} found; "
                                 f"variables are {list(ds.data_vars)}")
    else:
        found = _match_cf(ds, name)
        if not found:
            raise MetReaderError(
                f"{name}: no meteorology variable recognised (by standard_name "
                f"{sorted(set(CF_STANDARD_NAMES))[:4]}… or by name); variables are "
                f"{list(ds.data_vars)}")
    dup = {d for d in found.values() if list(found.values()).count(d) > 1}
    if dup:
        raise MetReaderError(f"{name}: several source variables map to {sorted(dup)}")
    ref = reference_time_of(ds, name, reference_time)
    sub = ds[list(found)]
    extra = [d for d in sub.dims if d not in ("time", "valid_time", "latitude", "longitude",
                                              "lat", "lon")]
    if extra:
        sub = sub.isel({d: 0 for d in extra}, drop=True)
    sub = _regular_grid(sub, name)
    out = xr.Dataset({dst: _convert(sub[src], dst, f"{name} ({src})", accumulated)
                      for src, dst in found.items()})
    return _finish(out, str(ds.attrs.get("source", ds.attrs.get("title", "CF NetCDF"))), name,
                   ref)


# ------------------------------------------------------------------------------ point met
_COMPASS16 = list(COMPASS_DEG)
_COMPASS_DEG = COMPASS_DEG
_FIVE_DIR = {"NE": 45.0, "SE": 135.0, "SW": 225.0, "NW": 315.0, "cv": np.nan}
_POINT_COLUMNS = ["time", "station_id", "t2m", "d2m", "sp", "tp", "u10", "v10", "ws10", "rh"]
_STYLES = {
    "prsa": ["year", "month", "day", "hour", "TEMP", "DEWP", "PRES", "RAIN", "wd", "WSPM"],
    "five_cities": ["year", "month", "day", "hour", "TEMP", "DEWP", "HUMI", "PRES", "cbwd", "Iws",
                    "precipitation"],
}


def read_point_met(data: pd.DataFrame | Path | str, style: str, *,
                   station_id: str | None = None, tz: str = FIXED_UTC8) -> pd.DataFrame:
    """Station meteorology (UCI PRSA or five-cities style) → ERA5 names, as a table.

    Pure on a DataFrame (a path is read with ``pandas.read_csv``, ``NA`` = missing).

    * ``"prsa"``: ``TEMP`` °C, ``DEWP`` °C, ``PRES`` hPa, ``RAIN`` mm (hour), ``wd`` 16-point
      compass (direction the wind blows from), ``WSPM`` m s-1, ``station``.
    * ``"five_cities"``: ``TEMP`` °C, ``DEWP`` °C, ``HUMI`` %, ``PRES`` hPa, ``cbwd`` combined
      direction (NE/SE/SW/NW, ``cv`` calm and variable), ``Iws`` cumulated wind speed m s-1
      (restarts when the direction changes), ``precipitation`` mm (hour).

    Parameters
    ----------
    data : DataFrame or path
    style : {"prsa", "five_cities"}
    station_id : str, optional
        Station id (default: the ``station`` column for PRSA; required for five-cities).
    tz : str
        Zone of the ``year, month, day, hour`` columns (default fixed UTC+8).

    Returns
    -------
    DataFrame
        ``time`` (UTC), ``station_id``, ``t2m`` K, ``d2m`` K, ``sp`` Pa, ``tp`` mm h-1,
        ``u10``, ``v10``, ``ws10`` m s-1, ``rh`` % (0–100); calm → u = v = 0.
    """
    if style not in _STYLES:
        raise MetReaderError(f"read_point_met: style {style!r}; expected one of {list(_STYLES)}")
    name = "<DataFrame>"
    if not isinstance(data, pd.DataFrame):
        name = str(data)
        data = pd.read_csv(data, na_values=["NA", ""], keep_default_na=False)
    df = data
    missing = [c for c in _STYLES[style] if c not in df.columns]
    if missing:
        raise MetReaderError(f"{name}: missing column(s) {missing} for style {style!r}")
    num = [c for c in _STYLES[style] if c not in ("wd", "cbwd")]
    vals = {}
    for c in num:
        x = pd.to_numeric(df[c], errors="coerce")
        bad = x.isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise MetReaderError(f"{name}, row {i}, column {c!r}: {df[c].iloc[i]!r}; "
                                 f"expected a number or NA")
        vals[c] = x.to_numpy(dtype=float)
    local = pd.to_datetime(pd.DataFrame({k: vals[k] for k in ("year", "month", "day", "hour")}))
    time = local.dt.tz_localize(tz).dt.tz_convert("UTC")
    t_c, td_c = vals["TEMP"], vals["DEWP"]
    if style == "prsa":
        wd = df["wd"]
        bad = wd.notna() & ~wd.isin(_COMPASS16)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise MetReaderError(f"{name}, row {i}, column 'wd': {wd.iloc[i]!r}; expected a "
                                 f"16-point compass direction")
        direction = wd.map(_COMPASS_DEG).to_numpy(dtype=float)
        ws = vals["WSPM"]
        tp = vals["RAIN"]
        rh = _rh(t_c, td_c)
        if station_id is None:
            if "station" not in df.columns:
                raise MetReaderError(f"{name}: no 'station' column; pass station_id")
            sid = df["station"].astype(str).to_numpy(dtype=object)
        else:
            sid = np.full(len(df), station_id, dtype=object)
        # wind direction missing but speed present: direction unknown → components NaN
        calm = np.isnan(direction) & (ws == 0)
    else:
        cb = df["cbwd"]
        bad = cb.notna() & ~cb.isin(list(_FIVE_DIR))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise MetReaderError(f"{name}, row {i}, column 'cbwd': {cb.iloc[i]!r}; expected "
                                 f"NE, SE, SW, NW or cv")
        direction = cb.map(_FIVE_DIR).to_numpy(dtype=float)
        iws = vals["Iws"]
        same = (cb == cb.shift()).to_numpy()
        step = np.r_[np.nan, np.diff(iws)]
        ws = np.where(same & (step > 0), step, iws)
        calm = (cb == "cv").to_numpy()
        tp = vals["precipitation"]
        rh = np.clip(vals["HUMI"], 0, 100)
        if station_id is None:
            raise MetReaderError(f"{name}: five-cities files have no station column; "
                                 f"pass station_id")
        sid = np.full(len(df), station_id, dtype=object)
    rad = np.deg2rad(direction)
    u = -ws * np.sin(rad)
    v = -ws * np.cos(rad)
    u = np.where(calm, 0.0, u)
    v = np.where(calm, 0.0, v)
    return pd.DataFrame({"time": time.to_numpy(), "station_id": sid, "t2m": t_c + 273.15,
                         "d2m": td_c + 273.15, "sp": vals["PRES"] * 100.0, "tp": tp,
                         "u10": u, "v10": v, "ws10": ws, "rh": rh}).assign(
        time=lambda d: pd.to_datetime(d["time"], utc=True))[_POINT_COLUMNS]


def _rh(t_c: np.ndarray, td_c: np.ndarray) -> np.ndarray:
    """Relative humidity (%) from temperature and dew point (°C), clipped to 0–100."""
    return np.clip(relative_humidity(t_c, td_c), 0, 100)


#: NetCDF classic (CDF\x01/\x02/\x05) and NetCDF-4/HDF5 magic bytes.
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF")


def netcdf_kind(path: Path | str) -> str:
    """Which NetCDF meteorology reader fits ``path``: ``wrf``, ``era5`` or ``cf``.

    Raises
    ------
    ValueError
        When the file is not a readable NetCDF file.
    """
    try:
        with xr.open_dataset(path, decode_times=False) as ds:
            names = set(ds.variables)
    except Exception as exc:  # noqa: BLE001 - netCDF4 raises several types
        raise ValueError(f"{path}: not a readable NetCDF file ({exc})") from None
    if {"XLAT", "XLONG", "T2"} <= names:
        return "wrf"
    if names & {"t2m", "d2m", "u10", "v10", "sp", "tp", "blh", "ssrd", "tcc"}:
        return "era5"
    return "cf"


def _netcdf_sniffer(kind: str):  # noqa: ANN202 - a sniff callable
    def sniff(p: Path, head: bytes) -> bool:
        return head[:4] in _NETCDF_MAGIC and netcdf_kind(p) == kind

    sniff.__doc__ = f"True for a NetCDF file that the {kind!r} reader takes."
    return sniff


def _register_formats() -> None:
    from airwarn.features.readers.registry import InputFormat, register_format

    for name, reader, text, prio in (
            ("wrf", read_wrf, "WRF output (wrfout NetCDF), a forecast cycle", 20),
            ("era5", read_era5, "ERA5-named NetCDF (t2m, u10, …)", 10),
            ("cf", read_cf, "CF NetCDF meteorology (mapped by name)", 0)):
        register_format(InputFormat(name=name, kind="met_grid", sniff=_netcdf_sniffer(name),
                                    read=reader, description=text, priority=prio))


_register_formats()
