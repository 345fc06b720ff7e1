"""Matching forecasts to observations by valid time (hourly) and local natural day (daily).

Forecasts come either as an archive of run files (``<data_dir>/forecasts/<stamp>.nc``, dims
``(region, lead)``) or as one backtest NetCDF (the same variables with a leading ``issue_time`` dim,
DESIGN.md). :func:`read_forecast_archive` brings both to one :class:`xarray.Dataset` with a leading
``issue_time`` dim (UTC) and 2-D ``valid_time(issue_time, lead)`` / ``date(issue_time, day)``.

Observations are hourly per unit (``features.aggregate.stations_to_units`` output: ``time`` UTC,
``unit_id``, ``pm25``, ``o3`` … µg/m³). Daily observed values follow the validity rules of
:func:`alerts.daily.daily_products` (≥ 20 valid hours for a daily mean, MDA8 from ≥ 14 of 17 valid
8-h windows, each ≥ 6 of 8 hours); the observed daily AQI is computed by :mod:`alerts.aqi` with the
rule set of each date.

Reference forecasts for skill scores (settings ``persistence``/``climatology`` in
``configs/verification.yaml``): hourly diurnal persistence = the observation at valid_time − k·24 h,
the latest such hour before the issue time (the run uses observations up to issue − 1 h); daily
persistence = the observed daily value of the last complete natural day before the issue day;
climatology = mean observation of the unit for the calendar month (and local hour, hourly).

Units: concentrations µg/m³, AQI dimensionless, times UTC unless named local.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.verification_schema import VerificationSettings

from airwarn.core.pollutants import pollutant as pollutant_info
from airwarn.core.pollutants import targets as registry_targets
from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "LOCAL_TZ",
    "POLLUTANTS",
    "DAILY_VARS",
    "ForecastArchiveError",
    "Matched",
    "read_forecast_archive",
    "observed_daily",
    "units_from_stations",
    "daily_from_hourly_arrays",
    "load_obs_units",
    "match_forecasts",
]

#: Hourly forecast variables scored (µg/m³).
POLLUTANTS: tuple[str, ...] = ("pm25", "o3")
#: Daily variables: name in the matched dataset → (forecast variable, observed column).
DAILY_VARS: dict[str, tuple[str, str]] = {
    "pm25": ("pm25_daily", "pm25"),
    "o3_mda8": ("o3_mda8", "o3_8h_max"),
    "aqi": ("aqi_daily", "aqi"),
}


class ForecastArchiveError(ValueError):
    """A forecast or backtest file does not follow the contract (names the file and variable)."""


# ----------------------------------------------------------------------------------------------
# Reading forecasts
# ----------------------------------------------------------------------------------------------


def _utc_index(values: Any, source: str) -> pd.DatetimeIndex:
    """Issue times as a tz-aware UTC index (naive datetime64 = UTC, DESIGN.md Time)."""
    arr = np.asarray(values)
    try:
        if np.issubdtype(arr.dtype, np.datetime64):
            idx = pd.DatetimeIndex(arr)
            return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        return pd.DatetimeIndex(pd.to_datetime([str(v) for v in arr.ravel()], utc=True))
    except (ValueError, TypeError) as exc:
        raise ForecastArchiveError(f"{source}: issue_time values are not times: {exc}") from None


def _naive_utc(idx: pd.DatetimeIndex) -> np.ndarray:
    # datetime64[ns] like valid_time and date below: pandas 3 parses the attribute strings to µs,
    # and run files must concatenate with in-memory archives in one unit
    return idx.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _open(path: Path) -> xr.Dataset:
    try:
        with xr.open_dataset(path) as ds:
            return ds.load()
    except (OSError, ValueError) as exc:
        # xarray's "no engine" answer runs over several lines of engine lists and URLs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(" .:")
        if "did not find a match" in first:
            first = "no NetCDF engine recognises its bytes"
        raise ForecastArchiveError(f"{path}: cannot read as NetCDF ({first}); expected a "
                                   f"forecast or backtest NetCDF file") from None


def _require(ds: xr.Dataset, source: str) -> None:
    for dim in ("region", "lead"):
        if dim not in ds.dims:
            raise ForecastArchiveError(f"{source}: missing dimension {dim!r}; expected dims "
                                       f"(region, lead) per the forecast contract")
    if not any(p in ds for p in POLLUTANTS):
        raise ForecastArchiveError(f"{source}: none of the variables {POLLUTANTS} present")


def _plain(ds: xr.Dataset) -> xr.Dataset:
    """Copy with time coords as variables (they vary per run) and provenance strings dropped."""
    ds = ds.copy()
    for name in ("valid_time", "date", "day_time", "forecast_reference_time"):
        if name in ds.coords:
            ds = ds.reset_coords(name)
    return ds.drop_vars([n for n in ("method", "fallback_reason") if n in ds])


def _single_run(ds: xr.Dataset, source: str) -> xr.Dataset:
    """A run file → one issue_time along a new leading dim; coords that vary become variables."""
    _require(ds, source)
    if "issue_time" not in ds.attrs:
        raise ForecastArchiveError(f"{source}: missing attribute 'issue_time' (ISO, +08:00)")
    it = _utc_index([ds.attrs["issue_time"]], source)
    ds = _plain(ds).expand_dims(issue_time=_naive_utc(it))
    ds["model_version"] = ("issue_time", [str(ds.attrs.get("model_version", "unknown"))])
    ds.attrs = {}
    return ds


def read_forecast_archive(source: str | Path | Sequence[str | Path] | xr.Dataset) -> xr.Dataset:
    """Read forecasts into one dataset with a leading ``issue_time`` dim.

    Parameters
    ----------
    source : path, sequence of paths, or xarray.Dataset
        A backtest NetCDF (has an ``issue_time`` dim), a directory of run files
        (``<stamp>.nc``), a list of run files, or an already opened dataset of either kind.

    Returns
    -------
    xarray.Dataset
        Dims ``issue_time`` (UTC, naive datetime64), ``region``, ``lead`` (h), and ``quantile`` /
        ``day`` when present; ``valid_time(issue_time, lead)`` (UTC), ``date(issue_time, day)``
        (local date, datetime64 at midnight) and ``model_version(issue_time)`` as variables; the
        forecast variables as in the contract (µg/m³, AQI, probabilities 0–1).

    Raises
    ------
    ForecastArchiveError
        Unreadable file, missing dims/variables, bad issue times, or no files found.
    """
    if isinstance(source, xr.Dataset):
        parts = [source]
        names = ["<dataset>"]
    else:
        if isinstance(source, (str, Path)):
            p = Path(source)
            if p.is_dir():
                paths = sorted(p.glob("*.nc"))
                if not paths:
                    raise ForecastArchiveError(f"{p}: no forecast files (*.nc) found")
            elif p.exists():
                paths = [p]
            else:
                raise ForecastArchiveError(f"{p}: no such file or directory")
        else:
            paths = [Path(x) for x in source]
            if not paths:
                raise ForecastArchiveError("no forecast files given")
        parts = [_open(x) for x in paths]
        names = [str(x) for x in paths]
    sources = sorted({str(ds.attrs["source"]) for ds in parts if ds.attrs.get("source")})
    runs: list[xr.Dataset] = []
    for ds, name in zip(parts, names, strict=True):
        if "issue_time" in ds.dims:
            _require(ds, name)
            ds = _plain(ds)
            ds["issue_time"] = _naive_utc(_utc_index(ds["issue_time"].values, name))
            if "model_version" not in ds:
                ds["model_version"] = ("issue_time", np.full(ds.sizes["issue_time"],
                                                             str(ds.attrs.get("model_version",
                                                                              "unknown"))))
            ds.attrs = {}
            runs.append(ds)
        else:
            runs.append(_single_run(ds, name))
    out = runs[0] if len(runs) == 1 else xr.concat(runs, dim="issue_time", join="outer",
                                                   data_vars="all", coords="minimal",
                                                   compat="override", combine_attrs="drop")
    out = out.sortby("issue_time")
    _, keep = np.unique(out["issue_time"].values, return_index=True)
    out = out.isel(issue_time=np.sort(keep))
    out.attrs = {"source": "; ".join(sources)} if sources else {}
    return _complete_times(out)


def _complete_times(ds: xr.Dataset) -> xr.Dataset:
    """Ensure ``valid_time(issue_time, lead)`` and ``date(issue_time, day)`` exist (UTC / local)."""
    it = pd.DatetimeIndex(ds["issue_time"].values)
    lead = ds["lead"].values.astype("int64")
    if "valid_time" in ds:
        vt = ds["valid_time"]
        if "issue_time" not in vt.dims:
            vt = vt.broadcast_like(ds["issue_time"])
        vt_vals = vt.transpose("issue_time", "lead").values
        if np.issubdtype(vt_vals.dtype, np.datetime64):
            vt_vals = vt_vals.astype("datetime64[ns]")
        else:
            vt_vals = np.asarray(pd.to_datetime(vt_vals.ravel().astype(str), utc=True)
                                 .tz_localize(None)).reshape(vt_vals.shape)
        # rows of runs that lacked the lead (outer join) get issue + lead
        calc = it.values[:, None] + (lead * np.timedelta64(1, "h"))[None, :]
        vt_vals = np.where(np.isnat(vt_vals), calc, vt_vals)
    else:
        vt_vals = it.values[:, None] + (lead * np.timedelta64(1, "h"))[None, :]
    ds["valid_time"] = (("issue_time", "lead"), vt_vals.astype("datetime64[ns]"))
    if "day" in ds.dims:
        days = ds["day"].values.astype("int64")
        local_issue = it.tz_localize("UTC").tz_convert(LOCAL_TZ).tz_localize(None).normalize()
        calc = local_issue.values[:, None] + (days * np.timedelta64(1, "D"))[None, :]
        ds["date"] = (("issue_time", "day"), calc.astype("datetime64[ns]"))
    return ds


# ----------------------------------------------------------------------------------------------
# Observations
# ----------------------------------------------------------------------------------------------


def observed_daily(obs_units: pd.DataFrame, settings: VerificationSettings) -> pd.DataFrame:
    """Observed daily values per unit and local day.

    Parameters
    ----------
    obs_units : pandas.DataFrame
        Hourly ``time`` (tz-aware UTC), ``unit_id``, ``pm25``, ``o3`` (µg/m³) and optionally the
        other pollutants.
    settings : VerificationSettings
        ``observed_aqi``: AQI from the forecast pollutants only (PM2.5 + O3-8h, default) or from
        all six (publication gate off).

    Returns
    -------
    pandas.DataFrame
        ``date`` (local day, datetime64), ``unit_id``, ``pm25`` (µg/m³, daily mean),
        ``o3_8h_max`` (µg/m³, MDA8), ``aqi``, ``level`` (1–6), ``primary`` (str), validity counts.
    """
    from airwarn.alerts.aqi import compute_by_date
    from airwarn.alerts.daily import daily_products

    if obs_units.empty:
        return pd.DataFrame(columns=["date", "unit_id", "pm25", "o3_8h_max", "aqi", "level",
                                     "primary"])
    daily = daily_products(obs_units, id_col="unit_id")
    if settings.observed_aqi == "all":
        cols = ["pm25", "pm10", "so2", "no2", "co", "o3_8h_max", "o3_1h_max"]
    else:  # the forecast targets' daily products (registry): PM2.5, PM10 (a target), O3-8h
        cols = [p if pollutant_info(p).daily_statistic == "mean" else f"{p}_8h_max"
                for p in registry_targets()]
    aqi = compute_by_date("forecast_daily", daily[[c for c in cols if c in daily.columns]],
                          daily["date"], publication_gate=False)
    daily["aqi"] = aqi["aqi"].astype("float64").to_numpy()
    daily["level"] = aqi["level"].astype("float64").to_numpy()
    daily["primary"] = aqi["primary"].astype(object).where(aqi["primary"].notna(), None).to_numpy()
    return daily


def units_from_stations(obs: pd.DataFrame, stations: pd.DataFrame | None,
                        unit_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Hourly unit observations from canonical station observations.

    Uses :func:`features.aggregate.stations_to_units` when that module exists; otherwise the
    same rule inline (mean of qc-clean stations per unit-hour). Without a station table (or when
    the forecast regions are station ids, as in a single-site benchmark), stations whose id is a
    requested unit id are used as units, and a single requested unit takes the mean of all
    stations.

    Parameters
    ----------
    obs : pandas.DataFrame
        Canonical observations (``time`` UTC, ``station_id``, pollutants µg/m³, CO mg/m³, ``qc``).
    stations : pandas.DataFrame or None
        Station table with ``station_id`` and ``sub_region``.
    unit_ids : sequence of str, optional
        Units wanted (the forecast regions).

    Returns
    -------
    pandas.DataFrame
        ``time`` (UTC), ``unit_id``, pollutant columns (µg/m³, CO mg/m³).
    """
    cols = [c for c in ("pm25", "pm10", "o3", "no2", "so2", "co") if c in obs.columns]
    if obs.empty:
        return pd.DataFrame(columns=["time", "unit_id", *cols])
    want = None if unit_ids is None else {str(u) for u in unit_ids}
    clean = obs[obs["qc"].fillna(0).astype(int) == 0] if "qc" in obs.columns else obs
    sid = clean["station_id"].astype(str)
    if want is not None and set(sid.unique()) & want:
        out = clean[sid.isin(want)].rename(columns={"station_id": "unit_id"})
        return out[["time", "unit_id", *cols]].reset_index(drop=True)
    if stations is not None and len(stations) and (want is None or
                                                   want & set(stations["sub_region"].astype(str))):
        try:
            from airwarn.features.aggregate import stations_to_units
        except ImportError:
            stations_to_units = None  # type: ignore[assignment]
        if stations_to_units is not None:
            full = obs.copy()
            for c in ("pm25", "pm10", "o3", "no2", "so2", "co"):
                if c not in full.columns:
                    full[c] = np.nan
            if "qc" not in full.columns:
                full["qc"] = 0
            from airwarn.features.store import OBS_COLUMNS

            res = stations_to_units(full[list(OBS_COLUMNS)], stations)
            return res[["time", "unit_id", *[c for c in cols if c in res.columns]]]
        m = dict(zip(stations["station_id"].astype(str), stations["sub_region"].astype(str), strict=True))
        tab = clean.assign(unit_id=sid.map(m)).dropna(subset=["unit_id"])
        return tab.groupby(["time", "unit_id"], as_index=False)[cols].mean()
    if want is not None and len(want) == 1:
        tab = clean.groupby("time", as_index=False)[cols].mean()
        tab.insert(1, "unit_id", next(iter(want)))
        return tab
    raise ValueError("observations: cannot map stations to the forecast regions "
                     f"{sorted(want or [])[:5]}…; give a station table whose sub_region names them")


def load_obs_units(data_dir: str | Path, start: Any, end: Any, stations: pd.DataFrame | None,
                   unit_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Unit observations from the canonical store ``<data_dir>/obs/`` between two UTC times.

    Parameters
    ----------
    data_dir : path
    start, end : datetime-like
        Tz-aware bounds (inclusive).
    stations : pandas.DataFrame or None
        Station table (``configs.load_stations()``).
    unit_ids : sequence of str, optional
    """
    from airwarn.features.store import read_obs

    obs = read_obs(data_dir, start=start, end=end)
    return units_from_stations(obs, stations, unit_ids)


# ----------------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------------


@dataclass
class Matched:
    """Forecasts and observations on common grids.

    Attributes
    ----------
    hourly : xarray.Dataset
        ``fc_<p>``, ``obs_<p>``, ``pers_<p>``, ``clim_<p>`` over ``(issue_time, region, lead)`` and
        ``q_<p>`` over ``(issue_time, region, lead, quantile)`` for p in pm25, o3 (µg/m³).
    daily : xarray.Dataset
        ``fc_<v>``, ``obs_<v>``, ``pers_<v>``, ``clim_<v>`` for v in pm25, o3_mda8, aqi over
        ``(issue_time, region, day)``; ``q_<v>`` with ``quantile``; ``p_aqi_gt_*`` (0–1);
        ``fc_primary``/``obs_primary`` (str); ``date(issue_time, day)`` (local).
    obs_daily : pandas.DataFrame
        :func:`observed_daily` for the units.
    issue_day : numpy.ndarray
        Local issue date of each issue time (the bootstrap / DM sampling unit).
    model_versions : list of str
    source : str
        ``source`` attributes of the forecast files (e.g. ``synthetic demo``), joined.
    """

    hourly: xr.Dataset
    daily: xr.Dataset
    obs_daily: pd.DataFrame
    issue_day: np.ndarray
    model_versions: list[str] = field(default_factory=list)
    source: str = ""


def _hourly_grid(obs_units: pd.DataFrame, col: str, regions: list[str]) -> pd.DataFrame:
    """time (naive UTC) × region table of one pollutant (µg/m³)."""
    if col not in obs_units.columns or obs_units.empty:
        return pd.DataFrame(columns=regions, dtype=float)
    t = pd.DatetimeIndex(obs_units["time"])
    t = t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t
    tab = pd.DataFrame({"time": t, "unit_id": obs_units["unit_id"].astype(str).to_numpy(),
                        "v": pd.to_numeric(obs_units[col], errors="coerce").to_numpy()})
    grid = tab.pivot_table(index="time", columns="unit_id", values="v", aggfunc="mean",
                           dropna=False)
    return grid.reindex(columns=regions)


def _lookup_hourly(grid: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Values at ``times`` (any shape, naive UTC) → shape times.shape + (region,)."""
    flat = pd.DatetimeIndex(times.ravel())
    vals = grid.reindex(flat).to_numpy(dtype=float)
    return vals.reshape(times.shape + (grid.shape[1],))


def _clim_hourly(clim_obs: pd.DataFrame, col: str, regions: list[str], times: np.ndarray,
                 by: Sequence[str]) -> np.ndarray:
    grid = _hourly_grid(clim_obs, col, regions)
    if grid.empty:
        return np.full(times.shape + (len(regions),), np.nan)
    loc = pd.DatetimeIndex(grid.index).tz_localize("UTC").tz_convert(LOCAL_TZ)
    keys = [loc.month if "month" in by else np.zeros(len(loc), int),
            loc.hour if "hour" in by else np.zeros(len(loc), int)]
    mean = grid.groupby(keys).mean()
    tl = pd.DatetimeIndex(times.ravel()).tz_localize("UTC").tz_convert(LOCAL_TZ)
    tk = pd.MultiIndex.from_arrays([tl.month if "month" in by else np.zeros(len(tl), int),
                                    tl.hour if "hour" in by else np.zeros(len(tl), int)])
    vals = mean.reindex(tk).to_numpy(dtype=float)
    return vals.reshape(times.shape + (len(regions),))


def _daily_grid(obs_daily: pd.DataFrame, col: str, regions: list[str]) -> pd.DataFrame:
    if obs_daily.empty or col not in obs_daily.columns:
        return pd.DataFrame(columns=regions, dtype=float)
    tab = obs_daily.pivot_table(index="date", columns="unit_id", values=col, aggfunc="first",
                                dropna=False)
    return tab.reindex(columns=regions).astype(float)


def _clim_daily(daily: pd.DataFrame, col: str, regions: list[str], dates: np.ndarray) -> np.ndarray:
    """Monthly-mean climatology of a daily column at ``dates`` → (issue, region, day)."""
    cg = _daily_grid(daily, col, regions)
    if cg.empty:
        return np.full((dates.shape[0], len(regions), dates.shape[1]), np.nan)
    cm = cg.groupby(pd.DatetimeIndex(cg.index).month).mean()
    vals = cm.reindex(pd.DatetimeIndex(dates.ravel()).month).to_numpy(float)
    return np.moveaxis(vals.reshape(dates.shape + (len(regions),)), -1, 1)


def _lookup_daily(grid: pd.DataFrame, dates: np.ndarray, n_regions: int) -> np.ndarray:
    if grid.empty:
        return np.full(dates.shape + (n_regions,), np.nan)
    vals = grid.reindex(pd.DatetimeIndex(dates.ravel())).to_numpy(dtype=float)
    return vals.reshape(dates.shape + (n_regions,))


def daily_from_hourly_arrays(issue_times: Any, valid_time: np.ndarray,
                             values: dict[str, np.ndarray], regions: Sequence[str],
                             days: Sequence[int]) -> dict[str, np.ndarray]:
    """Forecast daily products for lead days from hourly forecasts, one run at a time.

    Natural-day mean PM2.5 and MDA8 O3 with the validity rules of
    :func:`alerts.daily.daily_products` (a partly covered day is NaN), then AQI and primary
    pollutant with :func:`alerts.aqi.compute_by_date` (forecast product, rule set by date).

    Parameters
    ----------
    issue_times : array-like of datetime64, shape (I,)
        Issue times, UTC (naive = UTC).
    valid_time : numpy.ndarray, shape (I, L)
        Valid times, UTC (naive datetime64).
    values : dict
        ``pm25``/``o3`` → array (I, R, L), µg/m³.
    regions : sequence of str, length R
    days : sequence of int
        Lead days (1 = D+1).

    Returns
    -------
    dict
        ``pm25_daily``, ``o3_mda8`` (µg/m³), ``aqi_daily`` (float arrays (I, R, D)) and
        ``primary_daily`` (object array, "" where none).
    """
    from airwarn.alerts.aqi import compute_by_date
    from airwarn.alerts.daily import daily_products

    it = pd.DatetimeIndex(issue_times)
    local_issue = (it.tz_localize("UTC") if it.tz is None else it).tz_convert(LOCAL_TZ) \
        .tz_localize(None).normalize()
    n_i, n_r, n_d = len(it), len(regions), len(days)
    out = {k: np.full((n_i, n_r, n_d), np.nan) for k in ("pm25_daily", "o3_mda8", "aqi_daily")}
    prim = np.full((n_i, n_r, n_d), "", dtype=object)
    parts = []
    for i in range(n_i):
        vt = pd.DatetimeIndex(valid_time[i]).tz_localize("UTC")
        n_l = len(vt)
        tab = pd.DataFrame({"time": np.tile(vt, n_r), "unit_id": np.repeat(np.arange(n_r), n_l)})
        for p in POLLUTANTS:
            tab[p] = values[p][i].ravel() if p in values else np.nan
        d = daily_products(tab.dropna(subset=["time"]), id_col="unit_id")
        d["dd"] = (pd.DatetimeIndex(d["date"]) - local_issue[i]).days
        d = d[d["dd"].isin(list(days))]
        d["i"] = i
        parts.append(d[["i", "unit_id", "dd", "date", "pm25", "o3_8h_max"]])
    if not parts:
        return {**out, "primary_daily": prim}
    d = pd.concat(parts, ignore_index=True)
    aqi = compute_by_date("forecast_daily", d[["pm25", "o3_8h_max"]], d["date"],
                          publication_gate=False)
    kpos = {day: k for k, day in enumerate(days)}
    ii, jj = d["i"].to_numpy(), d["unit_id"].to_numpy().astype(int)
    kk = d["dd"].map(kpos).to_numpy().astype(int)
    out["pm25_daily"][ii, jj, kk] = d["pm25"].to_numpy()
    out["o3_mda8"][ii, jj, kk] = d["o3_8h_max"].to_numpy()
    out["aqi_daily"][ii, jj, kk] = aqi["aqi"].astype("float64").to_numpy()
    prim[ii, jj, kk] = aqi["primary"].astype(object).where(aqi["primary"].notna(), "").to_numpy()
    return {**out, "primary_daily": prim}


def _daily_from_hourly(fc: xr.Dataset, days: Sequence[int]) -> xr.Dataset:
    """Forecast daily products from the hourly forecast (files without the daily variables)."""
    vals = {p: fc[p].transpose("issue_time", "region", "lead").values.astype(float)
            for p in POLLUTANTS if p in fc}
    arrs = daily_from_hourly_arrays(fc["issue_time"].values,
                                    fc["valid_time"].transpose("issue_time", "lead").values,
                                    vals, [str(r) for r in fc["region"].values], days)
    dims = ("issue_time", "region", "day")
    return xr.Dataset({k: (dims, v) for k, v in arrs.items()},
                      coords={"issue_time": fc["issue_time"], "region": fc["region"],
                              "day": np.asarray(days)})


def _store(out: dict[str, Any], name: str, dims: tuple[str, ...], q: xr.DataArray | None,
           f: np.ndarray, o: np.ndarray, pe: np.ndarray, cl: np.ndarray, mask: np.ndarray) -> None:
    """Put forecast, observation, references and quantiles of one variable into ``out``."""
    out[f"fc_{name}"] = (dims, np.where(mask, f, np.nan))
    out[f"obs_{name}"] = (dims, np.where(mask, o, np.nan))
    out[f"pers_{name}"] = (dims, pe)
    out[f"clim_{name}"] = (dims, cl)
    if q is not None and "quantile" in q.dims:
        qv = q.transpose(*dims, "quantile").values.astype(float)
        out[f"q_{name}"] = (dims + ("quantile",), np.where(mask[..., None], qv, np.nan))


def match_forecasts(fc: xr.Dataset, obs_units: pd.DataFrame, settings: VerificationSettings,
                    *, clim_obs: pd.DataFrame | None = None,
                    period: tuple[Any, Any] | None = None) -> Matched:
    """Put forecasts and observations (and reference forecasts) on common grids.

    Parameters
    ----------
    fc : xarray.Dataset
        Output of :func:`read_forecast_archive`.
    obs_units : pandas.DataFrame
        Hourly unit observations (``time`` UTC, ``unit_id``, µg/m³) covering the valid times and,
        for persistence, the day before the first issue.
    settings : VerificationSettings
    clim_obs : pandas.DataFrame, optional
        Observation history for the climatology reference, best **before** the verified period
        (out of sample); calendar months (hours) it lacks are taken from ``obs_units``.
        Default: ``obs_units`` (in-sample climatology, a stricter reference).
    period : (date, date), optional
        Local dates (inclusive): only forecasts valid in this period are scored (others NaN).

    Returns
    -------
    Matched
    """
    regions = [str(r) for r in fc["region"].values]
    it = pd.DatetimeIndex(fc["issue_time"].values)
    it_utc = it.tz_localize("UTC")
    issue_day = it_utc.tz_convert(LOCAL_TZ).tz_localize(None).normalize().to_numpy()
    vt = fc["valid_time"].transpose("issue_time", "lead").values
    lead = fc["lead"].values.astype(int)
    if obs_units is not None and len(obs_units) and "unit_id" not in obs_units.columns:
        raise ValueError("observations: expected a 'unit_id' column (hourly unit observations, "
                         "features.aggregate.stations_to_units output)")
    clim_src = clim_obs if clim_obs is not None else obs_units
    p0 = p1 = None
    if period is not None:
        p0, p1 = (pd.Timestamp(period[0]).normalize(), pd.Timestamp(period[1]).normalize())

    # ---- hourly
    hv: dict[str, Any] = {}
    dims3 = ("issue_time", "region", "lead")
    vt_local_day = (pd.DatetimeIndex(vt.ravel()).tz_localize("UTC").tz_convert(LOCAL_TZ)
                    .tz_localize(None).normalize().to_numpy().reshape(vt.shape))
    in_period = np.ones(vt.shape, bool)
    if p0 is not None:
        in_period = (vt_local_day >= p0.to_datetime64()) & (vt_local_day <= p1.to_datetime64())
    last_obs = (it.values - np.timedelta64(1, "h"))[:, None]
    if settings.persistence.hourly == "diurnal":
        k = np.ceil((vt - last_obs) / np.timedelta64(24, "h")).astype(int)
        pers_t = vt - np.maximum(k, 1) * np.timedelta64(24, "h")
    else:
        pers_t = np.broadcast_to(last_obs, vt.shape)
    for p in POLLUTANTS:
        if p not in fc:
            continue
        f = fc[p].transpose("issue_time", "region", "lead").values.astype(float)
        grid = _hourly_grid(obs_units, p, regions)
        o = np.moveaxis(_lookup_hourly(grid, vt), -1, 1)
        pe = np.moveaxis(_lookup_hourly(grid, pers_t), -1, 1)
        cl = _clim_hourly(clim_src, p, regions, vt, settings.climatology.by)
        if clim_obs is not None:  # history lacks a month/hour: fall back to the verified period
            cl = np.where(np.isnan(cl), _clim_hourly(obs_units, p, regions, vt,
                                                     settings.climatology.by), cl)
        cl = np.moveaxis(cl, -1, 1)
        _store(hv, p, dims3, fc.get(f"{p}_q"), f, o, pe, cl, in_period[:, None, :])
    hcoords: dict[str, Any] = {"issue_time": fc["issue_time"].values, "region": regions,
                               "lead": lead}
    if "quantile" in fc.dims:
        hcoords["quantile"] = fc["quantile"].values.astype(float)
    hourly = xr.Dataset(hv, coords=hcoords)
    hourly["valid_time"] = (("issue_time", "lead"), vt)

    # ---- daily
    od = observed_daily(obs_units, settings)
    days = [d for d in settings.lead_days]
    if "day" in fc.dims and all(v in fc for v in ("pm25_daily", "aqi_daily")):
        fday = fc.sel(day=[d for d in days if d in fc["day"].values])
        days = [int(d) for d in fday["day"].values]
    else:
        fday = _daily_from_hourly(fc, days)
        local_issue = it_utc.tz_convert(LOCAL_TZ).tz_localize(None).normalize()
        fday["date"] = (("issue_time", "day"), (local_issue.values[:, None]
                                                 + np.asarray(days)[None, :] * np.timedelta64(1, "D")))
    dates = fday["date"].transpose("issue_time", "day").values.astype("datetime64[ns]")
    d_in = np.ones(dates.shape, bool)
    if p0 is not None:
        d_in = (dates >= p0.to_datetime64()) & (dates <= p1.to_datetime64())
    dmask = d_in[:, None, :]
    dv: dict[str, Any] = {}
    pers_dates = (issue_day - np.timedelta64(1, "D"))[:, None].repeat(len(days), axis=1)
    clim_daily = observed_daily(clim_src, settings) if clim_obs is not None else od
    dims_d = ("issue_time", "region", "day")
    for name, (fvar, ocol) in DAILY_VARS.items():
        if fvar not in fday:
            continue
        f = fday[fvar].transpose("issue_time", "region", "day").values.astype(float)
        g = _daily_grid(od, ocol, regions)
        o = np.moveaxis(_lookup_daily(g, dates, len(regions)), -1, 1)
        pe = np.moveaxis(_lookup_daily(g, pers_dates, len(regions)), -1, 1)
        cl = _clim_daily(clim_daily, ocol, regions, dates)
        if clim_obs is not None:
            cl = np.where(np.isnan(cl), _clim_daily(od, ocol, regions, dates), cl)
        _store(dv, name, dims_d, fday.get(f"{fvar}_q"), f, o, pe, cl, dmask)
    for ev in settings.events:
        if ev.probability and ev.probability in fday:
            pr = fday[ev.probability].transpose("issue_time", "region", "day").values.astype(float)
            dv[ev.probability] = (dims_d, np.where(dmask, pr, np.nan))
    if "primary_daily" in fday:
        fp = fday["primary_daily"].transpose("issue_time", "region", "day").values.astype(object)
        dv["fc_primary"] = (dims_d, fp)
    pg = od.pivot_table(index="date", columns="unit_id", values="primary", aggfunc="first") \
        if len(od) and od["primary"].notna().any() else pd.DataFrame(columns=regions)
    pg = pg.reindex(columns=regions)
    if pg.empty:
        op = np.full(dates.shape + (len(regions),), None, dtype=object)
    else:
        op = pg.reindex(pd.DatetimeIndex(dates.ravel())).to_numpy(dtype=object) \
            .reshape(dates.shape + (len(regions),))
    dv["obs_primary"] = (dims_d, np.moveaxis(op, -1, 1))
    dcoords: dict[str, Any] = {"issue_time": fc["issue_time"].values, "region": regions,
                               "day": np.asarray(days)}
    if "quantile" in fday.dims:
        dcoords["quantile"] = fday["quantile"].values.astype(float)
    daily = xr.Dataset(dv, coords=dcoords)
    daily["date"] = (("issue_time", "day"), dates)
    versions = sorted({str(v) for v in np.asarray(fc.get("model_version", xr.DataArray([]))
                                                  .values).ravel()})
    return Matched(hourly=hourly, daily=daily, obs_daily=od, issue_day=issue_day,
                   model_versions=versions, source=str(fc.attrs.get("source", "")))
