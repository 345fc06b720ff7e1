"""CF-1.8 attributes and NetCDF encodings shared by every file airwarn writes.

One place for what makes a file acceptable to CF tools (checked with ``compliance-checker
--test cf:1.8`` in ``tests/features/test_cf.py``):

* :func:`cf_met` — gridded meteorology (analyses and forecast cycles, ``features.store`` and the
  demo world): ``Conventions``, ``history``, ERA5 variable attributes with standard names and
  units, ``time``/``step`` (``forecast_period``) coordinate attributes, and for a cycle the
  ``forecast_reference_time`` scalar coordinate (the global attribute of the same name stays:
  it is the contract of ``met/cycles``).
* :func:`cf_forecast` — forecast and backtest files (``models.forecast``): a ``timeSeries``
  discrete-sampling geometry (``region`` is the ``timeseries_id``, unit centroids as
  ``lat(region)``/``lon(region)``), ``forecast_reference_time`` (scalar coordinate, or the
  standard name of the backtests' ``issue_time`` dimension), ``forecast_period`` leads,
  ``cell_methods`` of the daily statistics over ``day_time(day)``, the time coordinate of the
  daily values (start of the natural day in Asia/Shanghai, UTC).
* :func:`netcdf_encoding` — how the variables are stored: times as 32-bit integer hours since
  1970 (CF-1.8 has no 64-bit integers), floats compressed with NaN as ``_FillValue`` (none on
  coordinate variables, which CF forbids), strings as UTF-8 ``char`` arrays with a string-length
  dimension (``_Encoding = "utf-8"``), which every netCDF-3/4 reader and CF tool understands;
  xarray reads them back as ``str``.

Units: times hours since 1970-01-01 00:00:00 UTC; latitudes degrees_north, longitudes
degrees_east.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from airwarn.core.timeutil import (  # local − UTC, h (fixed; 8 = Asia/Shanghai)
    LOCAL_OFFSET_H,
    LOCAL_TZ,
)

__all__ = ["ERA5_VARS", "ERA5_ATTRS", "CONVENTIONS", "TIME_UNITS", "ERA5_CF_ATTRS", "cf_met", "cf_forecast",
           "netcdf_encoding", "history"]

#: The ``Conventions`` attribute of every file written.
CONVENTIONS = "CF-1.8"
#: Units of every stored time (32-bit integer hours; exact for hourly data until year 245 000).
TIME_UNITS = "hours since 1970-01-01 00:00:00"

#: CF attributes of the ERA5-named meteorology variables (units as DESIGN.md fixes them): the
#: readers' table, one source for both.
ERA5_VARS = ("t2m", "d2m", "u10", "v10", "sp", "tp", "blh", "ssrd", "tcc")
#: CF attributes of the output variables.
ERA5_ATTRS: dict[str, dict[str, str]] = {
    "t2m": {"units": "K", "long_name": "2 metre temperature", "standard_name": "air_temperature"},
    "d2m": {"units": "K", "long_name": "2 metre dewpoint temperature",
            "standard_name": "dew_point_temperature"},
    "u10": {"units": "m s-1", "long_name": "10 metre U wind component",
            "standard_name": "eastward_wind"},
    "v10": {"units": "m s-1", "long_name": "10 metre V wind component",
            "standard_name": "northward_wind"},
    "sp": {"units": "Pa", "long_name": "Surface pressure", "standard_name": "surface_air_pressure"},
    "tp": {"units": "mm h-1", "long_name": "Total precipitation rate over the past hour",
           "standard_name": "lwe_precipitation_rate"},
    "blh": {"units": "m", "long_name": "Boundary layer height",
            "standard_name": "atmosphere_boundary_layer_thickness"},
    "ssrd": {"units": "W m-2", "long_name": "Surface solar radiation downwards (hourly mean)",
             "standard_name": "surface_downwelling_shortwave_flux_in_air"},
    "tcc": {"units": "1", "long_name": "Total cloud cover (0-1)",
            "standard_name": "cloud_area_fraction"},
}
ERA5_CF_ATTRS: dict[str, dict[str, str]] = ERA5_ATTRS


def history(writer: str) -> str:
    """The ``history`` attribute: which airwarn function wrote the file (no clock time, so that
    rewriting the same data gives the same bytes)."""
    try:
        from importlib.metadata import version

        v = version("airwarn")
    except Exception:  # pragma: no cover - not installed
        v = "unknown"
    return f"written by airwarn {v} ({writer})"


def _time_attrs(da: xr.DataArray, standard_name: str, long_name: str) -> None:
    da.attrs.pop("units", None)  # set by the encoding
    da.attrs.pop("calendar", None)
    da.attrs.update({"standard_name": standard_name, "long_name": long_name})


def cf_met(ds: xr.Dataset, *, writer: str, reference_time: pd.Timestamp | None = None
           ) -> xr.Dataset:
    """Gridded meteorology with CF-1.8 attributes (a shallow copy; values unchanged).

    Parameters
    ----------
    ds : xr.Dataset
        ``(time, latitude, longitude)`` (or curvilinear ``latitude(y, x)``) with ERA5 names and
        units (``t2m d2m`` K, ``u10 v10`` m s-1, ``sp`` Pa, ``tp`` mm h-1, ``blh`` m, ``ssrd``
        W m-2, ``tcc`` 1); a variable without ``units`` gets these, one with ``units`` keeps
        them; other variables keep their attributes.
    writer : str
        Function that writes the file (``history``).
    reference_time : Timestamp, optional
        Cycle time (UTC) of a forecast cycle: adds the ``forecast_reference_time`` scalar
        coordinate, and ``step`` (hours) becomes a ``forecast_period`` coordinate.
    """
    out = ds.copy()
    for name, attrs in ERA5_CF_ATTRS.items():
        if name in out.data_vars:
            # standard and long names; the units stay those the data carries (a unit that
            # disagrees is for the plausibility checks to catch, never relabelled here)
            units = out[name].attrs.get("units") or attrs["units"]
            out[name].attrs = {**out[name].attrs, **attrs, "units": units}
    for name in out.variables:
        # stale encodings of a file read earlier (e.g. ``coordinates`` naming dropped variables);
        # xarray writes the coordinates actually present
        out[name].attrs.pop("_FillValue", None)
        out[name].attrs.pop("coordinates", None)
        out[name].encoding.pop("coordinates", None)
    if "time" in out.coords:
        _time_attrs(out["time"], "time", "valid time (UTC)")
        out["time"].attrs["axis"] = "T"
    for c, sn, units in (("latitude", "latitude", "degrees_north"),
                         ("longitude", "longitude", "degrees_east")):
        if c in out.coords:
            out[c].attrs.update({"standard_name": sn, "units": units})
            if out[c].ndim == 1 and c in out.dims:
                out[c].attrs["axis"] = "Y" if c == "latitude" else "X"
    if "step" in out.coords:
        out["step"].attrs.update({"standard_name": "forecast_period", "units": "hours",
                                  "long_name": "forecast lead time"})
    if reference_time is not None:
        ref = pd.Timestamp(reference_time)
        ref = ref.tz_convert("UTC").tz_localize(None) if ref.tzinfo is not None else ref
        out = out.assign_coords(forecast_reference_time=((), np.datetime64(ref, "ns"), {
            "standard_name": "forecast_reference_time",
            "long_name": "forecast cycle (reference) time (UTC)"}))
    what = ("forecast cycle " + out["forecast_reference_time"].dt.strftime("%Y-%m-%dT%H UTC").item()
            if reference_time is not None else "gridded analyses")
    out.attrs = {"title": f"airwarn meteorology, {what}", **out.attrs,
                 "Conventions": CONVENTIONS, "history": history(writer)}
    return out


def cf_forecast(ds: xr.Dataset, points: Mapping[str, tuple[float, float]] | None = None, *,
                writer: str = "airwarn.models.forecast") -> xr.Dataset:
    """Forecast or backtest Dataset with CF-1.8 attributes (a shallow copy; values unchanged).

    Parameters
    ----------
    ds : xr.Dataset
        The forecast-file contract (docs/INTERFACES.md): dims ``region``, ``lead``, ``day``,
        ``quantile``, ``pollutant`` and, for backtests, a leading ``issue_time``; an operational
        file holds its issue time in a ``forecast_reference_time`` scalar coordinate.
    points : dict unit id → (lat, lon), optional
        Unit centroids, degrees; they become ``lat(region)``/``lon(region)`` (NaN for a unit
        not listed).
    writer : str
        ``history``.
    """
    out = ds.copy()
    if points is not None:
        ids = [str(r) for r in out["region"].values]
        lat = np.array([points.get(r, (np.nan, np.nan))[0] for r in ids], dtype="float64")
        lon = np.array([points.get(r, (np.nan, np.nan))[1] for r in ids], dtype="float64")
        out = out.assign_coords(
            lat=("region", lat, {"standard_name": "latitude", "units": "degrees_north",
                                 "long_name": "unit centroid latitude"}),
            lon=("region", lon, {"standard_name": "longitude", "units": "degrees_east",
                                 "long_name": "unit centroid longitude"}))
    out["region"].attrs.update({"cf_role": "timeseries_id", "long_name": "forecast unit id"})
    if "lead" in out.coords:
        out["lead"].attrs.update({"standard_name": "forecast_period", "units": "hours"})
    if "valid_time" in out.coords:
        _time_attrs(out["valid_time"], "time", "valid time (UTC)")
    for c in ("issue_time", "forecast_reference_time"):
        if c in out.coords:
            _time_attrs(out[c], "forecast_reference_time", "issue time (UTC)")
    if "date" in out.coords and "day_time" not in out.coords:
        # the time coordinate of the daily statistics: start of the local natural day (UTC)
        start = (pd.to_datetime(out["date"].values.ravel().astype(str))
                 - pd.Timedelta(hours=LOCAL_OFFSET_H))
        out = out.assign_coords(day_time=(out["date"].dims,
                                          start.to_numpy().reshape(out["date"].shape)))
    if "day_time" in out.coords:
        _time_attrs(out["day_time"], "time", f"start of the natural day ({LOCAL_TZ} "
                                             "00:00) of the daily statistics, UTC")
    natural_day = f"natural day in {LOCAL_TZ}"
    methods = {
        "pm25_daily": f"day_time: mean (interval: 1 hour comment: {natural_day}, at least 20 "
                      f"valid hours)",
        "pm25_daily_q": f"day_time: mean (interval: 1 hour comment: {natural_day})",
        "o3_mda8": f"day_time: mean (interval: 1 hour comment: 8-hour running mean, at least 6 "
                   f"of 8 hours) day_time: maximum (interval: 1 hour comment: over the "
                   f"{natural_day})",
        "o3_mda8_q": f"day_time: mean (interval: 1 hour comment: 8-hour running mean) "
                     f"day_time: maximum (interval: 1 hour comment: over the {natural_day})",
    }
    for name, cm in methods.items():
        if name in out:
            out[name].attrs["cell_methods"] = cm
    out.attrs = {**out.attrs, "Conventions": CONVENTIONS, "featureType": "timeSeries",
                 "history": history(writer)}
    return out


def netcdf_encoding(ds: xr.Dataset, *, complevel: int = 4, float_dtype: str | None = None
                    ) -> dict[str, dict[str, Any]]:
    """NetCDF encoding of a Dataset as CF-1.8 wants it (see the module docstring).

    Parameters
    ----------
    ds : xr.Dataset
    complevel : int
        zlib level of the floating-point data variables.
    float_dtype : str, optional
        Store floating-point data variables as this dtype (e.g. ``"float32"`` for meteorology).
    """
    enc: dict[str, dict[str, Any]] = {}
    for k, v in ds.variables.items():
        is_coord = k in ds.coords
        if v.dtype.kind == "M":
            enc[k] = {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int32"}
        elif v.dtype.kind in "OUS":
            enc[k] = {"dtype": "S1"}
        elif v.dtype.kind == "f":
            if is_coord:
                enc[k] = {"_FillValue": None}
            else:
                enc[k] = {"zlib": True, "complevel": complevel, "_FillValue": np.nan}
                if float_dtype is not None:
                    enc[k]["dtype"] = float_dtype
                    enc[k]["_FillValue"] = np.dtype(float_dtype).type(np.nan)
    return enc
