"""Small synthetic forecast archives in exactly the contract format (for tests and benchmarks).

:func:`synthetic_archive` draws hourly "observed" PM2.5 and O3 per unit (an AR(1) PM2.5 with
winter episodes, a diurnal O3 cycle) and a forecast of them whose error grows with lead time, with
quantiles, daily products, AQI and exceedance probabilities — the variables of DESIGN.md /
docs/INTERFACES.md. :func:`write_run_files` splits a backtest-shaped dataset into one file per run
(``<stamp>.nc``, dims ``(region, lead)``), as ``airwarn forecast`` writes them. Nothing here is a
model: the numbers only have to look like forecasts and be reproducible from the seed.

Units: µg/m³, AQI dimensionless, probabilities 0–1, times UTC (attributes local ISO).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.warning_schema import aqi_thresholds
from scipy import stats

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["synthetic_archive", "write_run_files"]

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def synthetic_archive(units: Sequence[str], start: str, days: int, *, issue_hour: int = 15,
                      n_leads: int = 96, seed: int = 0, bias: float = 0.0,
                      noise: float = 1.0, model_version: str = "synthetic-1",
                      truth: pd.DataFrame | None = None) -> tuple[xr.Dataset, pd.DataFrame]:
    """A backtest dataset and the matching hourly unit observations.

    Parameters
    ----------
    units : sequence of str
        Unit ids.
    start : str
        First local issue date (YYYY-MM-DD).
    days : int
        Number of daily issues.
    issue_hour : int
        Local issue hour.
    n_leads : int
        Lead hours 1…n_leads.
    seed : int
        Random seed (observations depend on it, forecasts on seed + 1).
    bias : float
        Added to every PM2.5 forecast, µg/m³.
    noise : float
        Scale of the forecast error (1 = typical, 0 = perfect).
    model_version : str
    truth : pandas.DataFrame, optional
        Hourly unit observations (``time`` UTC, ``unit_id``, ``pm25``, ``o3``) to forecast instead
        of drawn ones (e.g. a demo world's store); gaps are filled by interpolation for the
        forecast, and the returned observations are ``truth`` itself.

    Returns
    -------
    (xarray.Dataset, pandas.DataFrame)
        Backtest (``issue_time`` leading dim) and hourly observations ``time`` (UTC), ``unit_id``,
        ``pm25``, ``o3`` (µg/m³).
    """
    from airwarn.alerts.aqi import compute_by_date
    from airwarn.models.verify.match import daily_from_hourly_arrays

    rng = np.random.default_rng(seed)
    nu = len(units)
    t0 = pd.Timestamp(start).tz_localize(LOCAL_TZ) - pd.Timedelta(days=2)
    n_hours = (days + 8) * 24
    times = pd.date_range(t0, periods=n_hours, freq="h").tz_convert("UTC")
    loc = times.tz_convert(LOCAL_TZ)
    # PM2.5: log-AR(1) with slow episodes, unit offsets (µg/m³)
    z = np.zeros((n_hours, nu))
    eps = rng.normal(0, 0.08, size=(n_hours, nu)) + rng.normal(0, 0.05, size=(n_hours, 1))
    for k in range(1, n_hours):
        z[k] = 0.985 * z[k - 1] + eps[k]
    pm25 = np.exp(np.log(60) + 0.8 * z + np.linspace(0, 0.3, nu)[None, :])
    hour = loc.hour.to_numpy()[:, None]
    o3 = np.clip(60 + 70 * np.sin(np.pi * (hour - 8) / 12).clip(0) + rng.normal(0, 10, (n_hours, nu)),
                 2, None)
    obs = pd.DataFrame({"time": np.repeat(times, nu), "unit_id": np.tile(list(units), n_hours),
                        "pm25": pm25.ravel(), "o3": o3.ravel()})
    if truth is not None:
        tt = truth.assign(time=pd.DatetimeIndex(truth["time"]).tz_convert("UTC"))
        for name, arr in (("pm25", pm25), ("o3", o3)):
            grid = tt.pivot_table(index="time", columns="unit_id", values=name).reindex(
                index=times, columns=list(units))
            filled = grid.interpolate(limit_direction="both").to_numpy(float)
            arr[:] = np.where(np.isnan(filled), arr, filled)
        obs = truth
    # forecasts
    frng = np.random.default_rng(seed + 1)
    issues = (pd.date_range(pd.Timestamp(start), periods=days, freq="D") + pd.Timedelta(hours=issue_hour)
              ).tz_localize(LOCAL_TZ)
    lead = np.arange(1, n_leads + 1)
    idx = {t: k for k, t in enumerate(times)}
    n_iss = len(issues)
    fc = {p: np.empty((n_iss, nu, n_leads)) for p in ("pm25", "o3")}
    vt = np.empty((n_iss, n_leads), dtype="datetime64[ns]")
    sd = {p: np.empty((n_iss, nu, n_leads)) for p in ("pm25", "o3")}
    for i, it in enumerate(issues):
        k0 = idx[it.tz_convert("UTC")]
        ks = k0 + lead
        vt[i] = times[ks].tz_localize(None).to_numpy()
        grow = np.sqrt(lead / 24.0)[None, :]
        e_pm = frng.normal(0, 1, (nu, n_leads)).cumsum(axis=1) / np.sqrt(lead)[None, :]
        fc["pm25"][i] = np.clip(pm25[ks].T * np.exp(noise * 0.25 * grow * e_pm) + bias, 1, None)
        sd["pm25"][i] = fc["pm25"][i] * 0.25 * max(noise, 0.05) * grow
        fc["o3"][i] = np.clip(o3[ks].T + noise * 12 * grow * frng.normal(0, 1, (nu, n_leads)), 1,
                              None)
        sd["o3"][i] = 12 * max(noise, 0.05) * grow * np.ones((nu, n_leads))
    z_q = stats.norm.ppf(QUANTILES)
    dims = ("issue_time", "region", "lead")
    it_utc = issues.tz_convert("UTC").tz_localize(None)
    ds = xr.Dataset(coords={"issue_time": it_utc.to_numpy(), "region": list(units), "lead": lead,
                            "quantile": list(QUANTILES), "day": [1, 2, 3]})
    for p in ("pm25", "o3"):
        ds[p] = (dims, fc[p], {"units": "ug m-3", "long_name": f"{p} median forecast"})
        q = np.clip(fc[p][..., None] + sd[p][..., None] * z_q, 0, None)
        ds[f"{p}_q"] = (dims + ("quantile",), q, {"units": "ug m-3"})
    ds["valid_time"] = (("issue_time", "lead"), vt)
    # daily products from the hourly forecast (natural days D+1…D+3)
    daily = daily_from_hourly_arrays(it_utc.to_numpy(), vt, fc, list(units), [1, 2, 3])
    pmd, o3d = daily["pm25_daily"], daily["o3_mda8"]
    local_issue = issues.tz_localize(None).normalize()
    dates = local_issue.to_numpy()[:, None] + np.arange(1, 4)[None, :] * np.timedelta64(1, "D")
    ddims = ("issue_time", "region", "day")
    ds["pm25_daily"] = (ddims, pmd, {"units": "ug m-3"})
    ds["o3_mda8"] = (ddims, o3d, {"units": "ug m-3"})
    spread_pm = 0.25 * max(noise, 0.05) * np.sqrt(np.arange(1, 4) * 1.0)[None, None, :]
    ds["pm25_daily_q"] = (ddims + ("quantile",),
                          np.clip(pmd[..., None] * (1 + spread_pm[..., None] * z_q), 0, None))
    ds["o3_mda8_q"] = (ddims + ("quantile",),
                       np.clip(o3d[..., None] + 12 * max(noise, 0.05) * z_q, 0, None))
    flat_dates = np.repeat(dates[:, None, :], nu, axis=1).ravel()

    def aqi_of(pm: np.ndarray, oz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tab = pd.DataFrame({"pm25": pm.ravel(), "o3_8h_max": oz.ravel()})
        res = compute_by_date("forecast_daily", tab, flat_dates, publication_gate=False)
        prim = res["primary"].astype(object).where(res["primary"].notna(), "").to_numpy()
        return res["aqi"].astype("float64").to_numpy().reshape(pm.shape), prim.reshape(pm.shape)

    aqi, prim = aqi_of(pmd, o3d)
    ds["aqi_daily"] = (ddims, aqi)
    ds["primary_daily"] = (ddims, prim.astype(str))
    aq = np.stack([aqi_of(ds["pm25_daily_q"].values[..., k], ds["o3_mda8_q"].values[..., k])[0]
                   for k in range(len(QUANTILES))], axis=-1)
    ds["aqi_daily_q"] = (ddims + ("quantile",), np.sort(aq, axis=-1))
    sig = np.maximum((aq[..., -1] - aq[..., 0]) / (2 * 1.2816), 1.0)
    for thr in aqi_thresholds():
        ds[f"p_aqi_gt_{thr}"] = (ddims, stats.norm.sf((thr - aqi) / sig), {"units": "1"})
    ds["date"] = (("issue_time", "day"), dates)
    ds["model_version"] = ("issue_time", np.full(n_iss, model_version))
    ds.attrs = {"source": "synthetic verification fixture", "model_version": model_version}
    return ds, obs


def write_run_files(ds: xr.Dataset, out_dir: str | Path) -> list[Path]:
    """Split a backtest dataset into per-run forecast files ``<out_dir>/<YYYYMMDDTHHMM>.nc``.

    Each file has dims ``(region, lead, quantile, day)``, coordinates ``valid_time(lead)`` (UTC)
    and ``date(day)`` (local ISO date strings), and attributes ``issue_time`` (ISO, +08:00),
    ``model_version``, ``inputs`` (JSON), ``source`` — the forecast-file contract.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, it in enumerate(pd.DatetimeIndex(ds["issue_time"].values)):
        one = ds.isel(issue_time=i).drop_vars(["issue_time", "model_version"])
        loc = it.tz_localize("UTC").tz_convert(LOCAL_TZ)
        one = one.set_coords(["valid_time"])
        one = one.drop_vars("date").assign_coords(
            date=("day", [str(pd.Timestamp(x).date()) for x in ds["date"].values[i]]))
        one.attrs = {"issue_time": loc.isoformat(), "model_version": str(ds["model_version"].values[i]),
                     "inputs": "{}", "source": ds.attrs.get("source", "synthetic"),
                     "ruleset": "by date"}
        p = out / f"{loc.strftime('%Y%m%dT%H%M')}.nc"
        one.to_netcdf(p)
        paths.append(p)
    return paths
