"""Run a forecast: from unit observations and a met source to the forecast NetCDF (the contract in
docs/INTERFACES.md), with quantiles, daily AQI, exceedance probabilities and provenance.

The same engine (:func:`forecast_arrays`) serves one operational issue (:func:`run_forecast`) and
a whole backtest (``models.backtest``), so the backtest scores exactly what the operational run
would have issued.

Units: concentrations µg/m³; probabilities 0–1; AQI dimensionless; times UTC in the file
(``valid_time``), local (Asia/Shanghai) for ``issue_time`` and ``date``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.aqi import iaqi_array, ruleset_for
from airwarn.configs import AirwarnConfig
from airwarn.configs.model_schema import ModelSettings, load_model_settings
from airwarn.configs.warning_schema import aqi_thresholds
from airwarn.features.build import (
    LOCAL_OFFSET_H,
    Geometry,
    IssueFeatures,
    MetSource,
    NoMet,
    Panel,
    build_issue_features,
    daily_targets,
    make_panel,
    observation_variables,
)
from airwarn.features.cf import cf_forecast, netcdf_encoding
from airwarn.models.baselines import (
    Climatology,
    choose_baseline,
    climatology_forecast,
    fit_climatology,
    persistence,
    running_bias,
    running_spread_scale,
    same_hour_yesterday,
)
from airwarn.models.lgbm import (
    RESID_LEVELS,
    PollutantModel,
    apply_clim_blend,
    predict_pollutant,
    predict_raw,
    quantiles_from_resid,
)

from airwarn.core.atomic import atomic_path
from airwarn.core.pollutants import pollutant as pollutant_info
from airwarn.core.pollutants import targets as registry_targets
from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ, issue_stamp

__all__ = ["TARGETS", "DAILY_NAMES", "AQI_THRESHOLDS", "ForecastArrays", "forecast_arrays", "aggregate_units",
           "stored_daily_raw", "read_stored_forecasts",
           "forecast_dataset", "run_forecast", "write_forecast", "read_forecast", "forecast_path",
           "issue_stamp", "HISTORY_DAYS"]

log = logging.getLogger(__name__)

#: forecast targets: the pollutant registry's (configs/pollutants.yaml, ``target: true``)
TARGETS: tuple[str, ...] = registry_targets()
#: daily product variable per pollutant: natural-day mean PM2.5, O3 daily max 8-h mean
DAILY_NAMES: dict[str, str] = {p: pollutant_info(p).daily_variable for p in TARGETS}
_IAQI_PERIOD = {p: pollutant_info(p).iaqi_daily for p in TARGETS}
#: daily AQI thresholds of the exceedance probabilities: the AQI cuts of the default colour ladder
#: (configs/warning/national-2024.yaml → 150, 200, 300; domain-spec T2.1)
AQI_THRESHOLDS: tuple[int, ...] = aqi_thresholds()
#: observation history needed before an issue (30-day means + the bias window), days
HISTORY_DAYS = 70
_LONG = {p: pollutant_info(p).label for p in TARGETS}


def forecast_path(data_dir: Path | str, issue_time: pd.Timestamp | str) -> Path:
    """``<data_dir>/forecasts/<YYYYMMDDTHHMM>.nc`` (issue time in Asia/Shanghai)."""
    return RunStore(data_dir).forecast(issue_time)


@dataclass
class ForecastArrays:
    """Numbers of a batch of issues before they become a Dataset.

    Arrays: ``hourly[p]`` ``(issue, lead, unit)``, ``hourly_q[p]`` ``(issue, lead, unit, q)``,
    ``daily[p]`` ``(issue, 3, unit)``, ``daily_q[p]`` ``(issue, 3, unit, q)``, ``daily_grid[p]``
    ``(issue, 3, unit, 99)`` (quantiles at :data:`models.lgbm.RESID_LEVELS`), ``method[p]`` and
    ``reason[p]`` ``(issue, unit)`` str. µg/m³.
    """

    issue_times: pd.DatetimeIndex
    units: list[str]
    nleads: int
    quantiles: list[float]
    hourly: dict[str, np.ndarray] = field(default_factory=dict)
    hourly_q: dict[str, np.ndarray] = field(default_factory=dict)
    daily: dict[str, np.ndarray] = field(default_factory=dict)
    daily_q: dict[str, np.ndarray] = field(default_factory=dict)
    daily_grid: dict[str, np.ndarray] = field(default_factory=dict)
    method: dict[str, np.ndarray] = field(default_factory=dict)
    reason: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def aggregate_units(fa: ForecastArrays, member_of: Mapping[str, str]) -> ForecastArrays:
    """The forecast of units made of member units: each array the mean over the members.

    Concentrations (µg/m³) and their quantiles are averaged member by member — the quantiles of
    the mean as if the members' errors moved together (comonotone; the 12 Beijing stations'
    daily errors correlate strongly); a daily MDA8 is the mean of the members' MDA8s (at or
    above the MDA8 of the mean hourly series). ``method`` / ``reason`` are the first member's.

    Parameters
    ----------
    fa : ForecastArrays
        Forecast of the member units.
    member_of : dict
        Member unit id → unit id; members not in it are left out.

    Returns
    -------
    ForecastArrays
        Units in order of first appearance in ``member_of``.
    """
    groups: dict[str, list[int]] = {}
    for uid, g in member_of.items():
        if uid in fa.units:
            groups.setdefault(g, []).append(fa.units.index(uid))
    if not groups:
        raise ValueError(f"none of the forecast's units {fa.units} is a member of a unit")
    u = len(fa.units)

    def agg(a: np.ndarray, axis: int) -> np.ndarray:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.stack([np.nanmean(np.take(a, idx, axis=axis), axis=axis)
                             for idx in groups.values()], axis=axis)

    out = ForecastArrays(fa.issue_times, list(groups), fa.nleads, fa.quantiles)
    for name in ("hourly", "hourly_q", "daily", "daily_q", "daily_grid"):
        setattr(out, name, {p: agg(a, 2) for p, a in getattr(fa, name).items()})
    for name in ("method", "reason"):
        setattr(out, name, {p: a[:, [idx[0] for idx in groups.values()]]
                            for p, a in getattr(fa, name).items()})
    out.extras = {k: (agg(v, 2) if isinstance(v, np.ndarray) and v.ndim == 3
                      and v.shape[2] == u else v) for k, v in fa.extras.items()}
    return out


def _local_dates(issue_times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((issue_times.tz_convert("UTC").tz_localize(None)
                             + pd.Timedelta(hours=LOCAL_OFFSET_H)).normalize())


def _observed_daily(daily_obs: Mapping[str, pd.DataFrame], issue_times: pd.DatetimeIndex,
                    units: Sequence[str], p: str) -> np.ndarray:
    d0 = _local_dates(issue_times)
    tbl = daily_obs[p]
    return np.stack([tbl.reindex(index=d0 + pd.Timedelta(days=k), columns=list(units)).to_numpy()
                     for k in (1, 2, 3)], axis=1)


def _baseline_set(f: IssueFeatures, p: str, clim: Climatology | None
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {"persistence": persistence(f, p), "same_hour_yesterday": same_hour_yesterday(f, p)}
    if clim is not None and p in clim.hourly:
        out["climatology"] = climatology_forecast(clim, f, p)
    return out


def _after_training(issue_times: pd.DatetimeIndex, model: PollutantModel) -> np.ndarray:
    """Issues after the model's last training issue (all, when the card does not say)."""
    last = model.info.get("train_last_issue")
    if not last:
        return np.ones(len(issue_times), dtype=bool)
    return np.asarray(issue_times > pd.Timestamp(last))


def _grid_from_resid(median: np.ndarray, resid: Sequence[float], c: float) -> np.ndarray:
    return quantiles_from_resid(median, resid, RESID_LEVELS, c)


def _fallback_resid(pred: np.ndarray, obs: np.ndarray, c: float) -> list[float]:
    ok = np.isfinite(pred) & np.isfinite(obs)
    if ok.sum() < 30:
        # no history to calibrate: a wide log-normal-ish spread (±60 % at the 10/90 % levels)
        from scipy.stats import norm

        return [float(v) for v in norm.ppf(RESID_LEVELS) * 0.47]
    r = np.log((np.clip(obs[ok], 0, None) + c) / (np.clip(pred[ok], 0, None) + c))
    return [float(v) for v in np.quantile(r, RESID_LEVELS)]


def forecast_arrays(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                    issue_times: Sequence[pd.Timestamp], met_source: MetSource,
                    models: Mapping[str, PollutantModel | None], *,
                    settings: ModelSettings, quantiles: Sequence[float],
                    climatology: Climatology | None, geometry: Geometry | None = None,
                    bias_issue_times: Sequence[pd.Timestamp] | None = None,
                    met_required: Mapping[str, bool] | None = None,
                    model_problems: Mapping[str, list[str]] | None = None,
                    feats: IssueFeatures | None = None,
                    stored: Mapping[pd.Timestamp, xr.Dataset] | None = None) -> ForecastArrays:
    """Forecast a batch of issues (same issue hour) for every unit of ``obs``.

    Parameters
    ----------
    obs : Panel
        Unit observations (only rows before each issue are read).
    daily_obs : dict
        :func:`features.build.daily_targets` of ``obs`` (for the running bias: only days that
        ended before each issue are used).
    issue_times : sequence of Timestamp
    met_source : MetSource
    models : dict pollutant → PollutantModel or None
        None → baselines for that pollutant.
    settings : ModelSettings
    quantiles : sequence of float
        Levels of the ``*_q`` variables (settings.quantiles).
    climatology : Climatology or None
    geometry : Geometry, optional
    bias_issue_times : sequence of Timestamp, optional
        Earlier issues (same hour) whose errors feed the running bias correction and the choice
        of baseline; default the ``settings.bias_window_days + 3`` days before the first issue.
    met_required : dict pollutant → bool
        Whether the model needs future meteorology (from its card); without it → fallback.
    model_problems : dict pollutant → list of str
        Why a model is missing (written to ``fallback_reason``).
    feats : IssueFeatures, optional
        Prebuilt features of ``issue_times`` (speed).
    stored : dict issue time → Dataset, optional
        The archive's stored forecasts of earlier issues (``forecasts/<stamp>.nc``): where one
        carries ``<daily>_raw`` (the model's daily forecast as issued, before its running bias
        correction), its errors feed the running bias instead of the errors rebuilt by
        predicting that issue again with the current model (:func:`stored_daily_raw`).

    Returns
    -------
    ForecastArrays
    """
    its = pd.DatetimeIndex([pd.Timestamp(t).tz_convert("UTC") for t in issue_times])
    units = list(obs.units)
    if bias_issue_times is None:
        nb = settings.bias_window_days + 3
        bias_issue_times = [its[0] - pd.Timedelta(days=d) for d in range(nb, 0, -1)]
    bits = pd.DatetimeIndex([pd.Timestamp(t).tz_convert("UTC") for t in bias_issue_times])
    bits = bits[bits < its[0]]
    all_its = bits.append(its)
    # the bias window's history (baseline choice, observed errors): no meteorology needed; the
    # meteorology of a past issue only where it is predicted again (no stored forecast) — each
    # issue's features depend on that issue alone
    f_all = build_issue_features(obs, bits, NoMet(), geometry=geometry, daily=daily_obs,
                                 hourly_met=False) if len(bits) else None
    redo_feats: dict[tuple[int, ...], IssueFeatures] = {}

    def bias_feats(sel: np.ndarray) -> IssueFeatures:
        key = tuple(int(i) for i in sel)
        if key not in redo_feats:
            redo_feats[key] = build_issue_features(obs, bits[sel], met_source,
                                                   geometry=geometry, daily=daily_obs)
        return redo_feats[key]

    f = feats if feats is not None else build_issue_features(obs, its, met_source,
                                                            geometry=geometry, daily=daily_obs)
    nb_ = len(bits)
    n, u = len(its), len(units)
    out = ForecastArrays(its, units, f.nleads, list(quantiles))
    has_met = bool(f.metday)
    h0 = int((its.hour[0] + LOCAL_OFFSET_H) % 24)
    first = 24 - h0
    lead_day = (h0 + np.arange(f.nleads)) // 24
    for p in TARGETS:
        model = models.get(p)
        c = settings.log_offset.get(p, 10.0)
        method = np.full((n, u), "lightgbm", dtype=object)
        reason = np.full((n, u), "", dtype=object)
        bases = _baseline_set(f, p, climatology)
        # baseline choice per unit from the recent issues whose outcomes are known
        if f_all is not None:
            fb = IssueFeatures(f_all.issue_times[:nb_], units,
                               {k: v[:nb_] for k, v in f_all.hist.items()}, {}, {},
                               f.nleads, geometry, {k: v[:nb_] for k, v in f_all.profile24.items()})
            ob = _observed_daily(daily_obs, fb.issue_times, units, p)
            bb = _baseline_set(fb, p, climatology)
        best_base = [pollutant_info(p).default_baseline] * u
        base_resid = [_fallback_resid(np.array([]), np.array([]), c)] * u
        if f_all is not None:
            for j in range(u):
                name, _ = choose_baseline({k: v[1][:, :, j] for k, v in bb.items()}, ob[:, :, j])
                best_base[j] = name
                base_resid[j] = _fallback_resid(bb[name][1][:, :, j], ob[:, :, j], c)
        use_model = model is not None
        why = ""
        if model is None:
            probs = (model_problems or {}).get(p) or [f"no trained {p} model"]
            why = "model unavailable: " + "; ".join(probs)
        elif (met_required or {}).get(p, False) and not has_met:
            use_model = False
            why = "no meteorological forecast available for a model trained with it"
        if use_model:
            bias = None
            spread = np.ones((n, 3))  # factor on the calibrated residual spread, per lead day
            if settings.bias_correction and f_all is not None:
                # past issues predicted as now (with the hourly blend when the model has one)
                pm = model if model.hourly_blend else _daily_only(model)
                if stored is not None:
                    pst = stored_daily_raw(stored, bits, units, p)
                    # only the issues without a complete stored forecast are predicted again
                    # (each issue's prediction depends on its own features only)
                    redo = np.flatnonzero(~np.isfinite(pst).all(axis=(1, 2)))
                    pb = pst.copy()
                    if len(redo):
                        pr = predict_pollutant(pm, bias_feats(redo))["daily_raw"]
                        pb[redo] = np.where(np.isfinite(pst[redo]), pst[redo], pr)
                    out.extras[f"{p}_bias_stored_issues"] = int(
                        np.isfinite(pst).any(axis=(1, 2)).sum())
                else:
                    pb = predict_pollutant(pm, bias_feats(np.arange(nb_)))["daily_raw"]
                ob = _observed_daily(daily_obs, bits, units, p)
                raw = predict_raw(model, f)  # predicted once: finished below with the bias
                pa = predict_pollutant(model, f, raw=raw)
                # errors of the batch itself feed later issues of the batch (backtest)
                oa = _observed_daily(daily_obs, its, units, p)
                cat_p = np.concatenate([pb, pa["daily_raw"]])
                cat_o = np.concatenate([ob, oa])
                b_all = running_bias(cat_p, cat_o, _local_dates(all_its),
                                     window_days=settings.bias_window_days,
                                     min_days=settings.bias_min_days,
                                     shrink_days=settings.bias_shrink_days)
                for k in (1, 2, 3):
                    if k not in model.bias_lead_days:
                        b_all[:, k - 1] = 0.0
                bias = b_all[nb_:]
                if settings.interval_adaptive:
                    # errors of the forecasts as issued (bias-corrected, blended), as the
                    # calibration residuals the spread is compared with
                    issued = apply_clim_blend(np.clip(cat_p - b_all, 0, None), model, all_its,
                                              units)
                    spread = running_spread_scale(
                        issued, cat_o, _local_dates(all_its),
                        model.daily_resid, c, window_days=settings.bias_window_days,
                        shrink_errors=settings.interval_shrink_errors,
                        usable=_after_training(all_its, model))[nb_:]
                res = predict_pollutant(model, f, bias=bias, raw=raw)
            else:
                res = predict_pollutant(model, f)
            daily = res["daily"]
            hourly = res.get("hourly")
            if hourly is None:
                hourly = bases["persistence"][0].copy()
                reason[:] = "no hourly model: hourly path from persistence"
            grid = np.stack([np.stack([
                _grid_from_resid(daily[i, k], np.asarray(model.daily_resid[k + 1]) * spread[i, k],
                                 c) for i in range(n)]) for k in range(3)], axis=1)
            hq = np.empty((n, f.nleads, u, len(quantiles)))
            for d in range(4):
                sel = lead_day == d
                resid = np.asarray(model.hourly_resid.get(d) or model.daily_resid[max(d, 1)])
                for i in range(n):
                    hq[i, sel] = quantiles_from_resid(hourly[i, sel], resid * spread[i, max(d, 1) - 1],
                                                      quantiles, c)
            out.extras[f"{p}_bias"] = bias
            out.extras[f"{p}_spread"] = spread
            out.extras[f"{p}_daily_raw"] = res["daily_raw"]
        else:
            daily = np.full((n, 3, u), np.nan)
            hourly = np.full((n, f.nleads, u), np.nan)
            grid = np.full((n, 3, u, len(RESID_LEVELS)), np.nan)
            hq = np.full((n, f.nleads, u, len(quantiles)), np.nan)
            method[:] = ""
            reason[:] = why
        # per-unit fallbacks: no model, or no recent observations of this pollutant
        n24 = f.hist.get(f"{p}_n24", np.zeros((n, u)))
        for j in range(u):
            for i in range(n):
                need = not use_model
                r = reason[i, j]
                if use_model and not (n24[i, j] > 0):
                    need = True
                    r = f"no {_LONG[p]} observations in the 24 h before the issue"
                if not need:
                    continue
                name = best_base[j]
                bh, bd = bases[name]
                if not np.isfinite(bd[i, :, j]).all() or not np.isfinite(bh[i, :, j]).all():
                    name = "climatology" if "climatology" in bases else name
                    bh, bd = bases[name]
                method[i, j] = name
                reason[i, j] = r or why
                daily[i, :, j] = bd[i, :, j]
                hourly[i, :, j] = bh[i, :, j]
                grid[i, :, j] = _grid_from_resid(bd[i, :, j], base_resid[j], c)
                hq[i, :, j] = quantiles_from_resid(bh[i, :, j], base_resid[j], quantiles, c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            dq = np.stack([np.stack([np.interp(quantiles, RESID_LEVELS, g) if np.isfinite(g).all()
                                     else np.full(len(quantiles), np.nan)
                                     for g in grid[i, k]]) for i in range(n) for k in range(3)])
        dq = dq.reshape(n, 3, u, len(quantiles))
        # the median quantile equals the median forecast; the sort keeps quantiles uncrossed
        qi = list(quantiles).index(0.5) if 0.5 in quantiles else None
        if qi is not None:
            dq[..., qi] = daily
            hq[..., qi] = hourly
        out.daily[p] = daily
        out.daily_q[p] = np.sort(dq, axis=-1)
        out.daily_grid[p] = grid
        out.hourly[p] = hourly
        out.hourly_q[p] = np.sort(hq, axis=-1)
        out.method[p] = method
        out.reason[p] = reason
    out.extras["first_day_lead"] = first
    return out


def _daily_only(model: PollutantModel) -> PollutantModel:
    return replace(model, hourly=None, hourly_features=[], hourly_resid={})


# --------------------------------------------------------------------------------------------
# Dataset (the forecast-file contract)
# --------------------------------------------------------------------------------------------


def _iaqi(p: str, values: np.ndarray, rulesets: np.ndarray) -> np.ndarray:
    """IAQI of daily values ``(..., 3, unit[, q])`` with one rule set per day (axis 1 = day)."""
    out = np.full(values.shape, np.nan)
    for k in range(values.shape[1]):
        for rs in np.unique(rulesets[:, k]):
            sel = rulesets[:, k] == rs
            out[sel, k] = iaqi_array(p, values[sel, k], _IAQI_PERIOD[p], rs)
    return out


def stored_daily_raw(stored: Mapping[pd.Timestamp, xr.Dataset], issue_times: pd.DatetimeIndex,
                     units: Sequence[str], pollutant: str) -> np.ndarray:
    """The stored daily forecasts ``<daily>_raw(region, day)`` of earlier issues, aligned to
    ``issue_times`` (UTC) and ``units``: ``(issue, 3, unit)`` µg/m³, NaN where no forecast was
    stored (or it lacks the variable, the unit or the day)."""
    var = f"{DAILY_NAMES[pollutant]}_raw"
    out = np.full((len(issue_times), 3, len(units)), np.nan)
    by_time = {pd.Timestamp(t).tz_convert("UTC") if pd.Timestamp(t).tzinfo else
               pd.Timestamp(t).tz_localize("UTC"): ds for t, ds in stored.items()}
    for i, t in enumerate(issue_times):
        ds = by_time.get(pd.Timestamp(t).tz_convert("UTC"))
        if ds is None or var not in ds.variables or set(ds[var].dims) != {"region", "day"}:
            continue
        da = ds[var].transpose("region", "day")
        regs = [str(r) for r in np.asarray(ds["region"].values)]
        days = [int(d) for d in np.asarray(ds["day"].values)]
        vals = np.asarray(da.values, dtype=float)
        for j, u in enumerate(units):
            if u in regs:
                for k in (1, 2, 3):
                    if k in days:
                        out[i, k - 1, j] = vals[regs.index(u), days.index(k)]
    return out


#: Stored daily forecasts read by :func:`read_stored_forecasts` in this process, keyed by path
#: and file identity (inode, size, modification time: a forecast is replaced by a rename, never
#: rewritten in place); the bias window of consecutive issues shares 30 of its 31 files.
_STORED: dict[tuple[str, int, int, int], xr.Dataset | None] = {}
_STORED_MAX = 512


def _read_stored(path: Path) -> xr.Dataset | None:
    """The ``<daily>_raw`` variables of one stored forecast (None when it is not a readable
    forecast file: the checks of :func:`read_forecast`)."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _STORED:
        return _STORED[key]
    out = None
    try:  # netCDF4 directly: a few small variables, where xarray's open costs ~0.1 s a file
        import netCDF4

        # xarray's lock around every netCDF4/HDF5 call: the library is not thread-safe, and
        # other threads of this process may be reading or writing through xarray
        from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

        with NETCDF4_PYTHON_LOCK, netCDF4.Dataset(path) as nc:
            _check_contract(nc.variables, path)
            data = {}
            for v in (f"{DAILY_NAMES[p]}_raw" for p in TARGETS):
                if v in nc.variables:
                    var = nc.variables[v]
                    data[v] = (var.dimensions,
                               np.ma.filled(var[:], np.nan).astype(float))
            regions = nc.variables["region"][:]   # strings (netCDF4 joins the characters)
            if regions.ndim == 2:                   # a char array without _Encoding
                regions = netCDF4.chartostring(regions)
            out = xr.Dataset(data, coords={"region": np.asarray(regions).astype(str),
                                           "day": np.asarray(nc.variables["day"][:])})
    except (OSError, ValueError, KeyError, IndexError):
        out = None
    if len(_STORED) >= _STORED_MAX:
        _STORED.clear()
    _STORED[key] = out
    return out


def read_stored_forecasts(data_dir: Path | str, issue_times: Sequence[pd.Timestamp]
                          ) -> dict[pd.Timestamp, xr.Dataset]:
    """The archive's forecast files of the given issue times that exist and can be read
    (``forecasts/<stamp>.nc``); unreadable ones are skipped (the rebuilt errors replace them).

    Only the stored daily forecasts before correction (``<daily>_raw(region, day)``, µg/m³,
    what :func:`stored_daily_raw` reads) are loaded, once per file and process."""
    out = {}
    for t in issue_times:
        path = forecast_path(data_dir, t)
        if path.exists():
            ds = _read_stored(path)
            if ds is not None:
                out[pd.Timestamp(t)] = ds
    return out


def forecast_dataset(fa: ForecastArrays, *, region_names: Mapping[str, str] | None = None,
                     attrs: Mapping[str, Any] | None = None, batch: bool = False,
                     points: Mapping[str, tuple[float, float]] | None = None) -> xr.Dataset:
    """Assemble the forecast Dataset (docs/INTERFACES.md) from :class:`ForecastArrays`.

    Parameters
    ----------
    fa : ForecastArrays
    region_names : dict unit id → Chinese name, optional
    attrs : dict, optional
        Global attributes (``model_version``, ``inputs``, ``source`` …).
    batch : bool
        Keep a leading ``issue_time`` dimension (backtests); else one issue (operational file),
        whose issue time (UTC) is the ``forecast_reference_time`` scalar coordinate.
    points : dict unit id → (lat, lon), optional
        Unit centroids (degrees): ``lat(region)``, ``lon(region)`` coordinates
        (CF attributes: :func:`features.cf.cf_forecast`).
    """
    its = fa.issue_times
    n = len(its)
    leads = np.arange(1, fa.nleads + 1)
    qs = np.asarray(fa.quantiles, dtype=float)
    d0 = _local_dates(its)
    dates = np.array([[(d + pd.Timedelta(days=k)).strftime("%Y-%m-%d") for k in (1, 2, 3)]
                      for d in d0], dtype=object)
    rulesets = np.array([[ruleset_for(x) for x in row] for row in dates], dtype=object)
    valid = (its.tz_localize(None).to_numpy()[:, None]
             + (leads - 1)[None, :] * np.timedelta64(1, "h"))
    conc = {"units": "ug m-3", "units_metadata": "µg/m³"}
    data: dict[str, tuple] = {}
    iaqi_d, iaqi_q, p_exc = {}, {}, {}
    for p in TARGETS:
        dn = DAILY_NAMES[p]
        data[p] = (("issue_time", "region", "lead"), fa.hourly[p].transpose(0, 2, 1),
                   {**conc, "long_name": f"hourly {_LONG[p]} concentration, median forecast",
                    "standard_name": pollutant_info(p).cf_standard_name})
        data[f"{p}_q"] = (("issue_time", "region", "lead", "quantile"),
                          fa.hourly_q[p].transpose(0, 2, 1, 3),
                          {**conc, "long_name": f"hourly {_LONG[p]} forecast quantiles"})
        data[dn] = (("issue_time", "region", "day"), fa.daily[p].transpose(0, 2, 1),
                    {**conc, "long_name": (f"natural-day mean {_LONG[p]} ({LOCAL_TZ} days)"
                                           if pollutant_info(p).daily_statistic == "mean" else
                                           f"{_LONG[p]} daily maximum 8-h mean (MDA8)")})
        data[f"{dn}_q"] = (("issue_time", "region", "day", "quantile"),
                           fa.daily_q[p].transpose(0, 2, 1, 3),
                           {**conc, "long_name": f"quantiles of {dn}"})
        raw = fa.extras.get(f"{p}_daily_raw")
        if raw is not None:  # the stored forecasts' errors feed later running bias corrections
            data[f"{dn}_raw"] = (("issue_time", "region", "day"), raw.transpose(0, 2, 1),
                                 {**conc, "long_name": f"model {dn} before the running bias "
                                                       f"correction and climatology blend"})
        iaqi_d[p] = _iaqi(p, fa.daily[p], rulesets)
        # the IAQI is element-wise: all quantiles (and all grid points) in one call
        iaqi_q[p] = _iaqi(p, fa.daily_q[p], rulesets)
        gi = _iaqi(p, fa.daily_grid[p], rulesets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p_exc[p] = {t: np.where(np.isfinite(gi).all(axis=-1), (gi > t).mean(axis=-1), np.nan)
                        for t in AQI_THRESHOLDS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aqi = np.fmax.reduce([iaqi_d[p] for p in TARGETS])
        aqi_q = np.sort(np.fmax.reduce([iaqi_q[p] for p in TARGETS]), axis=-1)
    # primary: the target with the highest IAQI (ties → the first in registry order)
    stack = np.stack([np.nan_to_num(iaqi_d[p], nan=-1) for p in TARGETS])
    labels = np.array([pollutant_info(p).primary_label for p in TARGETS], dtype=object)
    primary = np.where(np.isnan(aqi) | (aqi <= 50), "", labels[np.argmax(stack, axis=0)])
    data["aqi_daily"] = (("issue_time", "region", "day"), aqi.transpose(0, 2, 1),
                         {"units": "1", "long_name": "daily AQI from the median daily "
                                                     "products of " + ", ".join(
                                                         _LONG[p] for p in TARGETS)
                                                     + " (rule set by date)"})
    data["aqi_daily_q"] = (("issue_time", "region", "day", "quantile"),
                           aqi_q.transpose(0, 2, 1, 3),
                           {"units": "1", "long_name": "daily AQI quantiles"})
    data["primary_daily"] = (("issue_time", "region", "day"),
                             primary.astype(str).transpose(0, 2, 1),
                             {"long_name": "首要污染物 primary pollutant of the median daily AQI "
                                           "(empty when AQI ≤ 50)"})
    for t in AQI_THRESHOLDS:
        pr = np.fmax.reduce([p_exc[p][t] for p in TARGETS])
        data[f"p_aqi_gt_{t}"] = (("issue_time", "region", "day"), pr.transpose(0, 2, 1),
                                 {"units": "1", "long_name": f"probability that the daily AQI "
                                                            f"exceeds {t}",
                                  "valid_min": 0.0, "valid_max": 1.0})
    for p in TARGETS:  # per pollutant: P(IAQI > t); O3: IAQI 150 ⇔ MDA8 > 215 µg/m³ (HJ 633)
        for t in AQI_THRESHOLDS:
            data[f"p_{p}_iaqi_gt_{t}"] = (
                ("issue_time", "region", "day"), p_exc[p][t].transpose(0, 2, 1),
                {"units": "1", "long_name": f"probability that the daily IAQI of {p} exceeds {t}",
                 "valid_min": 0.0, "valid_max": 1.0})
    meth = np.stack([fa.method[p] for p in TARGETS], axis=-1).astype(str)
    reas = np.stack([fa.reason[p] for p in TARGETS], axis=-1).astype(str)
    data["method"] = (("issue_time", "region", "pollutant"), meth,
                      {"long_name": "forecast method per unit and pollutant (lightgbm, "
                                    "persistence, same_hour_yesterday, climatology)"})
    data["fallback_reason"] = (("issue_time", "region", "pollutant"), reas,
                               {"long_name": "why a baseline replaced the model (empty = none)"})
    names = region_names or {}
    coords = {
        "issue_time": ("issue_time", its.tz_localize(None).to_numpy(),
                       {"long_name": "issue time (UTC)"}),
        "region": ("region", np.array(fa.units, dtype=str), {"long_name": "forecast unit id"}),
        "lead": ("lead", leads.astype("int32"),
                 {"units": "hours", "long_name": "lead: hour h is valid at issue_time + (h-1) h, "
                                                 "the h-th hour not yet observed"}),
        "quantile": ("quantile", qs, {"units": "1", "long_name": "quantile level"}),
        "day": ("day", np.array([1, 2, 3], dtype="int32"),
                {"long_name": "natural day after the issue day (1 = D+1)"}),
        "pollutant": ("pollutant", np.array(TARGETS, dtype=str)),
        "valid_time": (("issue_time", "lead"), valid, {"long_name": "valid time (UTC)"}),
        "date": (("issue_time", "day"), dates.astype(str),
                 {"long_name": f"local ({LOCAL_TZ}) date of the day"}),
        "region_name": ("region", np.array([names.get(x, x) for x in fa.units], dtype=str),
                        {"long_name": "unit name (中文)"}),
    }
    ds = xr.Dataset({k: xr.Variable(*v) for k, v in data.items()},
                    coords={k: xr.Variable(*v) for k, v in coords.items()})
    ds.attrs = {
        "Conventions": "CF-1.8",
        "title": "airwarn air-quality forecast",
        "ruleset": ",".join(sorted({str(r) for r in rulesets.ravel()})),
        **(dict(attrs) if attrs else {}),
    }
    if not batch:
        if n != 1:
            raise ValueError("forecast_dataset: batch=False needs exactly one issue")
        ds = ds.isel(issue_time=0).rename({"issue_time": "forecast_reference_time"})
        ds.attrs["issue_time"] = its[0].tz_convert(LOCAL_TZ).isoformat()
        ds.attrs["ruleset"] = ",".join(sorted({str(r) for r in rulesets[0]}))
    return cf_forecast(ds, points)


# --------------------------------------------------------------------------------------------
# Operational run
# --------------------------------------------------------------------------------------------


def _obs_panel_until(obs_units: pd.DataFrame, units: Sequence[str], t0: pd.Timestamp) -> Panel:
    """Observations from HISTORY_DAYS before ``t0`` up to the hour labelled ``t0 − 1 h`` only."""
    df = obs_units
    if "unit_id" not in df.columns:
        raise ValueError("obs_units: expected a 'unit_id' column (stations_to_units output)")
    t = pd.DatetimeIndex(df["time"])
    if t.tz is None:
        raise ValueError("obs_units: column 'time' must be tz-aware UTC")
    start = t0 - pd.Timedelta(days=HISTORY_DAYS)
    end = t0 - pd.Timedelta(hours=1)
    sel = (t >= start) & (t <= end)
    return make_panel(df.loc[sel], observation_variables(df), units, start=start, end=end)


def run_forecast(config: AirwarnConfig, issue_time: pd.Timestamp | str, *, met_source: MetSource,
                 obs_units: pd.DataFrame, data_dir: Path | str | None = None,
                 settings: ModelSettings | None = None, source: str | None = None
                 ) -> xr.Dataset:
    """Forecast every unit of the region from one issue time.

    Parameters
    ----------
    config : AirwarnConfig
        ``configs.load_config()``.
    issue_time : Timestamp or str
        Issue time; naive → Asia/Shanghai.
    met_source : MetSource
        Meteorology known at the issue time.
    obs_units : DataFrame
        Unit observations ``(time UTC, unit_id, pm25 … co)``; rows at or after the issue time
        are ignored.
    data_dir : path, optional
        Where the models are (default ``config.data_dir``).
    settings : ModelSettings, optional
        Default ``configs/models.yaml``.
    source : str, optional
        ``source`` attribute (e.g. ``synthetic demo``).

    Returns
    -------
    xarray.Dataset
        The forecast-file contract; ``method``/``fallback_reason`` say where baselines replaced
        a model and why.
    """
    from airwarn.models.registry import load_latest

    t0 = pd.Timestamp(issue_time)
    t0 = (t0.tz_localize(LOCAL_TZ) if t0.tzinfo is None else t0).tz_convert("UTC")
    t0 = t0.floor("h")
    settings = settings or load_model_settings()
    data_dir = Path(data_dir or config.data_dir)
    units = list(config.region.unit_ids)
    obs = _obs_panel_until(obs_units, units, t0)
    daily_obs = daily_targets(obs)
    models: dict[str, PollutantModel | None] = {}
    problems: dict[str, list[str]] = {}
    met_required: dict[str, bool] = {}
    versions = []
    clim = None
    cards = {}
    for p in TARGETS:
        res = load_latest(data_dir, p)
        models[p] = res.model
        problems[p] = res.problems
        if res.card:
            cards[p] = res.card
            versions.append(f"{p}:{res.card['version']}")
            met_required[p] = res.card.get("met_source", "none") != "none"
            if clim is None:
                clim = res.climatology
    if clim is None:
        clim = fit_climatology(obs, daily_obs)
    geometry = Geometry.from_region(config.region)
    quantiles = list(config.settings.quantiles)
    past = [t0 - pd.Timedelta(days=d) for d in range(settings.bias_window_days + 3, 0, -1)]
    stored = read_stored_forecasts(data_dir, past) if settings.bias_correction else {}
    fa = forecast_arrays(obs, daily_obs, [t0], met_source, models, settings=settings,
                         quantiles=quantiles, climatology=clim, geometry=geometry,
                         met_required=met_required, model_problems=problems, stored=stored)
    last_obs = {}
    for p in TARGETS:
        a = obs.data[p]
        rows = np.flatnonzero(np.isfinite(a).any(axis=1))
        last_obs[p] = obs.times[rows[-1]].isoformat() if len(rows) else None
    missing_units = [u for j, u in enumerate(units)
                     if not np.isfinite(obs.data["pm25"][-24:, j]).any()]
    inputs = {
        **met_source.describe(t0),
        "obs_last_time": last_obs,
        "obs_missing_units_24h": missing_units,
        "model_problems": {p: v for p, v in problems.items() if models.get(p) is None and v},
        # running bias: issues whose stored forecast fed it (the others were rebuilt)
        "bias_stored_issues": {p: fa.extras[f"{p}_bias_stored_issues"] for p in TARGETS
                               if f"{p}_bias_stored_issues" in fa.extras},
        "bias_window_issues": len(past),
        "calendar_source": {p: c.get("calendar_source") for p, c in cards.items()},
        # weight of the day-of-year climatology in the daily forecast (models trained without
        # future meteorology, models/lgbm.py): a forecaster reading a smooth forecast sees why
        "climatology_blend": {p: {f"D+{k}": w for k, w in sorted(m.clim_weight.items())}
                              for p, m in models.items() if m is not None and m.clim_weight},
    }
    names = {u.id: u.name for u in config.region.units}
    attrs = {
        "model_version": ",".join(versions) if versions else "baselines",
        "inputs": json.dumps(inputs, ensure_ascii=False, default=str),
        "source": source or "airwarn",
        "institution": getattr(config.settings, "issuer", ""),
    }
    centroids = {u.id: (u.centroid.lat, u.centroid.lon) for u in config.region.units}
    return forecast_dataset(fa, region_names=names, attrs=attrs, batch=False, points=centroids)


def write_forecast(ds: xr.Dataset, data_dir: Path | str) -> Path:
    """Write a forecast atomically to ``forecasts/<stamp>.nc`` and return the path."""
    path = forecast_path(data_dir, pd.Timestamp(ds.attrs["issue_time"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_netcdf(ds, path)
    return path


def write_netcdf(ds: xr.Dataset, path: Path | str) -> Path:
    """Write any forecast/backtest Dataset atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=netcdf_encoding(ds, complevel=4))
    return path


def read_forecast(path: Path | str) -> xr.Dataset:
    """Read a forecast (or backtest) file fully into memory.

    Raises
    ------
    ValueError
        Not a forecast file (names the file and the missing variable).
    """
    path = Path(path)
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable NetCDF forecast file ({exc})") from None
    _check_contract(ds, path)
    return ds


def _check_contract(ds: Container[str], path: Path) -> None:
    """Every target written in the file has its hourly and daily variables (a file written
    before a target was added to the registry lacks that target only); ValueError naming the
    file and the variable otherwise."""
    present = [p for p in TARGETS if p in ds or DAILY_NAMES[p] in ds] or list(TARGETS)
    for v in [x for p in present for x in (p, DAILY_NAMES[p])]:
        if v not in ds:
            raise ValueError(f"{path}: variable {v!r} missing; expected the forecast contract")
