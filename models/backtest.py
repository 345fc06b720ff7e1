"""Backtest: train on one period, issue a forecast every day of a test period with only the data
available then, score it, and write one NetCDF (forecast variables with a leading ``issue_time``
dim) plus ``scores.json``.

Domains (``configs/domains/*.yaml``) point at real public data sets; each station is its own
unit, and its observed point meteorology at the valid time stands in for a meteorological forecast
("perfect prog", ``met="perfect"``) — or no future meteorology at all (``met="none"``).

Scores (µg/m³ unless stated): RMSE, MAE, bias (forecast − observed), Pearson r, MSE skill vs
persistence and climatology (1 − MSE/MSE_ref, dimensionless), per lead day for the daily
products and per 24-h lead bucket for the hourly values; AQI level accuracy (exact, within one);
POD, FAR, CSI at daily thresholds; 80 % interval coverage.
"""

from __future__ import annotations

import glob
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.aqi import iaqi_array, ruleset_for
from airwarn.configs.model_schema import DomainConfig, ModelSettings, datasets_dir
from airwarn.features.build import (
    LOCAL_OFFSET_H,
    MET_HISTORY_VARS,
    Geometry,
    MetSource,
    NoMet,
    Panel,
    PerfectMet,
    build_issue_features,
    daily_targets,
    make_panel,
    observation_variables,
)
from airwarn.features.calendar import holiday_source
from airwarn.models.baselines import Climatology, climatology_forecast, fit_climatology, persistence
from airwarn.models.fanout import train_pollutants
from airwarn.models.forecast import (
    DAILY_NAMES,
    TARGETS,
    ForecastArrays,
    aggregate_units,
    forecast_arrays,
    forecast_dataset,
    write_netcdf,
)
from airwarn.models.lgbm import PollutantModel

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["DomainData", "load_domain_data", "issue_times_between", "train_models_on",
           "run_backtest", "backtest_inputs", "score_arrays", "format_scores", "DAILY_THRESHOLDS",
           "check_test_period"]

#: daily thresholds for POD/FAR/CSI (µg/m³): PM2.5 daily-mean IAQI 100/150/200 breakpoints
#: (75/115/150 under HJ 633-2012) and the heavy-pollution 150; O3 MDA8 160 (IAQI 100) and 215
#: (IAQI 150), HJ 633-2012 表1.
DAILY_THRESHOLDS = {"pm25": (75.0, 115.0, 150.0), "o3": (160.0, 215.0)}


def _daily_thresholds(p: str) -> tuple[float, ...]:
    """Event thresholds of a target (µg/m³): :data:`DAILY_THRESHOLDS`, else the HJ 633-2012
    breakpoints of its daily IAQI at IAQI 100, 150 and 200 (PM10: 150, 250, 350)."""
    if p in DAILY_THRESHOLDS:
        return DAILY_THRESHOLDS[p]
    from airwarn.configs.aqi_schema import load_aqi_ruleset

    from airwarn.core.pollutants import pollutant

    bps = load_aqi_ruleset("HJ633_2012").breakpoints[pollutant(p).iaqi_key]
    return tuple(float(b) for b in bps[2:5] if b is not None)


@dataclass
class ForecastUnits:
    """Units a backtest forecasts and verifies that are made of the units it trains on (a
    domain's ``sub_regions`` with ``sub_region_models: members``).

    Attributes
    ----------
    member_of : dict
        Training unit (station) id → forecast unit id.
    obs_units : DataFrame ``(time, unit_id, pm25 … co, qc)``
        The forecast units' observations (the mean of their valid stations), for verification.
    geometry : Geometry
    names : dict unit id → name
    """

    member_of: dict[str, str]
    obs_units: pd.DataFrame
    geometry: Geometry
    names: dict[str, str]


@dataclass
class DomainData:
    """A domain read into canonical tables (each station is a unit, or the domain's
    ``sub_regions`` are).

    Attributes
    ----------
    obs_units : DataFrame ``(time, unit_id, pm25 … co)``
        The units the models train on.
    met_units : DataFrame ``(time, unit_id, met vars)``
    geometry : Geometry
    names : dict unit id → name
    source : str
    forecast_units : ForecastUnits or None
        Set when the forecasts are averaged into other units (sub-regions of stations) before
        they become warnings; None: the training units are the forecast units.
    """

    obs_units: pd.DataFrame
    met_units: pd.DataFrame
    geometry: Geometry
    names: dict[str, str]
    source: str
    forecast_units: ForecastUnits | None = None

    @property
    def verification(self) -> tuple[pd.DataFrame, Geometry, dict[str, str]]:
        """Observations, geometry and names of the units forecasts are issued and verified for."""
        fu = self.forecast_units
        return (self.obs_units, self.geometry, self.names) if fu is None else (
            fu.obs_units, fu.geometry, fu.names)


def _local_day_utc(day: str, *, last_hour: bool = False) -> pd.Timestamp:
    """The first (or last) hour of a local day (ISO date), in UTC."""
    t = pd.Timestamp(day) + (pd.Timedelta(hours=23) if last_hour else pd.Timedelta(0))
    return t.tz_localize(LOCAL_TZ).tz_convert("UTC")


def _dedicated_reader(name: str) -> Any:
    """The reader function of a :data:`configs.domain_schema.READERS` short name."""
    import importlib

    from airwarn.configs.domain_schema import READERS

    mod, _, fn = READERS[name].partition(":")
    return getattr(importlib.import_module(mod), fn)


def _read_tables(reader: str, paths: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observations and point meteorology of ``paths`` read with ``reader`` (``unit_id``)."""
    read = _dedicated_reader(reader)
    if reader == "prsa":  # reads many one-station files at once
        obs, met = read(paths)
    else:
        parts = [read(p) for p in paths]
        obs = pd.concat([a for a, _ in parts], ignore_index=True)
        met = pd.concat([b for _, b in parts], ignore_index=True)
    return (obs.rename(columns={"station_id": "unit_id"}),
            met.rename(columns={"station_id": "unit_id"}))


def load_domain_data(domain: DomainConfig, root: Path | str | None = None, *,
                     history: bool = True, met: str = "perfect") -> DomainData:
    """Read a domain's files (glob patterns relative to ``root`` or the datasets directory).

    Parameters
    ----------
    domain : DomainConfig
    root : path, optional
        Datasets directory (default :func:`configs.model_schema.datasets_dir`).
    history : bool
        Extend units back in time with the domain's ``history`` records
        (:func:`features.history.extend_unit_record`); ``False`` reads the domain's own files only.
    met : {"perfect", "cycles", "none"}
        The met mode the data will be forecast with: it decides how sub-regions are trained
        (``domain.models_for(met)``: on their mean series, or on their stations).

    Raises
    ------
    FileNotFoundError
        A pattern or history file matches no file (names the pattern and the directory).
    ValueError
        A history record names a station its file lacks, or cannot be mapped (names the record).
    """
    from airwarn.features.history import extend_unit_record

    root = Path(root) if root is not None else datasets_dir()
    sub_region_models = domain.models_for(met)  # ValueError on an unknown met mode
    paths: list[str] = []
    for pat in domain.files:
        hits = sorted(glob.glob(str(root / pat)))
        if not hits:
            raise FileNotFoundError(f"domain {domain.name}: pattern {pat!r} matches no file "
                                    f"under {root} (set AIRWARN_DATASETS_DIR)")
        paths.extend(hits)
    obs, met = _read_tables(domain.reader, paths)
    for rec in domain.history if history else []:
        path = root / rec.file
        if not path.exists():
            raise FileNotFoundError(f"domain {domain.name}: history file {rec.file!r} not found "
                                    f"under {root} (set AIRWARN_DATASETS_DIR)")
        h_obs, h_met = _read_tables(rec.reader, [str(path)])
        h_obs = h_obs[h_obs["unit_id"] == rec.station]
        h_met = h_met[h_met["unit_id"] == rec.station]
        if h_obs.empty:
            raise ValueError(f"domain {domain.name}: history file {rec.file!r} has no station "
                             f"{rec.station!r}")
        obs, met, _ = extend_unit_record(
            obs, met, h_obs, h_met, rec.unit,
            overlap_until=_local_day_utc(rec.overlap_until, last_hour=True),
            start=_local_day_utc(rec.start) if rec.start else None,
            min_overlap_hours=rec.min_overlap_hours,
            source=f"domain {domain.name}: history {rec.file} ({rec.station} → {rec.unit})")
    pts = {s.id: (s.lat, s.lon) for s in domain.stations}
    names = {s.id: s.name or s.id for s in domain.stations}
    if domain.sub_regions and sub_region_models == "members":
        obs_r, _, pts_r, names_r = _to_sub_regions(domain, obs, met, pts)
        fu = ForecastUnits({s.id: str(s.sub_region) for s in domain.stations}, obs_r,
                           Geometry.within(pts_r, domain.neighbour_radius_km), names_r)
        return DomainData(obs, met, Geometry.within(pts, domain.neighbour_radius_km), names,
                          domain.source, fu)
    if domain.sub_regions:
        obs, met, pts, names = _to_sub_regions(domain, obs, met, pts)
    geometry = Geometry.within(pts, domain.neighbour_radius_km)
    return DomainData(obs, met, geometry, names, domain.source)


def _to_sub_regions(domain: DomainConfig, obs: pd.DataFrame, met: pd.DataFrame,
                    pts: dict[str, tuple[float, float]]
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, tuple[float, float]],
                               dict[str, str]]:
    """Station tables → the domain's ``sub_regions`` as units (each unit-hour the mean of its
    valid stations, :mod:`features.aggregate`; a unit's point is its stations' mean position,
    degrees)."""
    from airwarn.features.aggregate import station_met_to_units, stations_to_units

    frames_o, frames_m, pts_u = [], [], {}
    for r in domain.sub_regions:  # one at a time: each has its own min_stations
        members = [s.id for s in domain.stations if s.sub_region == r.id]
        table = pd.DataFrame({"station_id": members, "sub_region": r.id})
        o = stations_to_units(obs.rename(columns={"unit_id": "station_id"}), table,
                              min_stations=r.min_stations)
        frames_o.append(o.drop(columns="n_stations").assign(qc=0))
        frames_m.append(station_met_to_units(met, dict.fromkeys(members, r.id),
                                             min_stations=r.min_stations))
        pts_u[r.id] = (float(np.mean([pts[s][0] for s in members])),
                       float(np.mean([pts[s][1] for s in members])))
    obs_u = pd.concat(frames_o, ignore_index=True).sort_values(["time", "unit_id"])
    met_u = pd.concat(frames_m, ignore_index=True).sort_values(["time", "unit_id"])
    names = {r.id: r.name or r.id for r in domain.sub_regions}
    return obs_u.reset_index(drop=True), met_u.reset_index(drop=True), pts_u, names


def issue_times_between(first_day: pd.Timestamp | str, last_day: pd.Timestamp | str,
                        issue_hour: int) -> pd.DatetimeIndex:
    """Daily issue times (UTC) at local ``issue_hour`` from ``first_day`` to ``last_day``."""
    days = pd.date_range(pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize(),
                         freq="D")
    local = days + pd.Timedelta(hours=issue_hour)
    return local.tz_localize(LOCAL_TZ).tz_convert("UTC")


def _day(x: Any) -> pd.Timestamp:
    t = pd.Timestamp(x)
    if t.tzinfo is not None:
        t = t.tz_convert(LOCAL_TZ).tz_localize(None)
    return t.normalize()


def check_test_period(train_end: Any, test_start: Any, test_end: Any
                      ) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """The last training day and the first and last issue day, checked before any work.

    Parameters
    ----------
    train_end, test_start, test_end : date-like
        Local days (``--train-end``, ``--test-start``, ``--test-end``).

    Returns
    -------
    tuple of Timestamp
        The three days, local midnight, naive.

    Raises
    ------
    ValueError
        A value that is not a date, a test period that ends before it starts, or a training
        period that does not end before the test period starts (the models would be trained
        on the days they forecast).

    Examples
    --------
    >>> check_test_period("2016-01-31", "2016-02-01", "2016-02-29")[1]
    Timestamp('2016-02-01 00:00:00')
    """
    days = []
    for name, value in (("train_end", train_end), ("test_start", test_start),
                        ("test_end", test_end)):
        try:
            day = _day(value)
        except (ValueError, TypeError, OverflowError):
            day = pd.NaT
        if day is pd.NaT:
            raise ValueError(f"{name} (--{name.replace('_', '-')}): {value!r} is not a date; "
                             f"expected e.g. 2016-01-31")
        days.append(day)
    tr, start, end = days
    if start > end:
        raise ValueError(f"test_start (--test-start) {start.date()} is after test_end "
                         f"(--test-end) {end.date()}; expected a test period that starts on or "
                         f"before its end")
    if tr >= start:
        raise ValueError(f"train_end (--train-end) {tr.date()} is not before test_start "
                         f"(--test-start) {start.date()}: the models would be trained on the "
                         f"days they forecast; expected train_end ≤ {(start - pd.Timedelta(days=1)).date()}")
    return tr, start, end


def train_models_on(obs: Panel, daily_obs: dict[str, pd.DataFrame], met_source: MetSource,
                    *, first_day: pd.Timestamp, last_target_day: pd.Timestamp,
                    issue_hours: Sequence[int], settings: ModelSettings,
                    geometry: Geometry | None, pollutants: Sequence[str] = TARGETS,
                    hourly: bool = True, progress: Any = None) -> dict[str, PollutantModel]:
    """Train every pollutant's models on issues whose D+3 ends by ``last_target_day`` (on
    worker processes when the training is big enough: :mod:`models.fanout`).

    Parameters
    ----------
    first_day : Timestamp
        First local issue date (needs ≥ 3 days of history before it).
    last_target_day : Timestamp
        Last local day whose observations may be used as a target (train end).
    """
    last_issue = _day(last_target_day) - pd.Timedelta(days=3)
    if last_issue < _day(first_day):
        raise ValueError(
            f"training period too short: the first training issue day is "
            f"{_day(first_day).date()} (after the warm-up) and the last whose D+3 ends by "
            f"{_day(last_target_day).date()} is {last_issue.date()}; train to a later day or "
            f"start the data earlier")
    feats = []
    for h in issue_hours:
        its = issue_times_between(first_day, last_issue, h)
        feats.append(build_issue_features(obs, its, met_source, geometry=geometry,
                                          daily=daily_obs))
    return train_pollutants(obs, daily_obs, feats, list(pollutants), settings, hourly=hourly,
                            progress=progress)


def _stats(f: np.ndarray, o: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(f) & np.isfinite(o)
    if ok.sum() < 2:
        return {"n": int(ok.sum())}
    e = f[ok] - o[ok]
    r = float(np.corrcoef(f[ok], o[ok])[0, 1]) if np.std(f[ok]) > 0 else float("nan")
    return {"n": int(ok.sum()), "rmse": float(np.sqrt(np.mean(e ** 2))),
            "mae": float(np.mean(np.abs(e))), "bias": float(np.mean(e)), "r": r}


def _skill(f: np.ndarray, ref: np.ndarray, o: np.ndarray) -> float:
    ok = np.isfinite(f) & np.isfinite(ref) & np.isfinite(o)
    if ok.sum() < 2:
        return float("nan")
    mr = np.mean((ref[ok] - o[ok]) ** 2)
    return float(1 - np.mean((f[ok] - o[ok]) ** 2) / mr) if mr > 0 else float("nan")


def _contingency(f: np.ndarray, o: np.ndarray, thr: float) -> dict[str, float]:
    ok = np.isfinite(f) & np.isfinite(o)
    fy, oy = f[ok] > thr, o[ok] > thr
    hits = int((fy & oy).sum())
    fa = int((fy & ~oy).sum())
    miss = int((~fy & oy).sum())
    nan = float("nan")
    return {"hits": hits, "false_alarms": fa, "misses": miss,
            "pod": hits / (hits + miss) if hits + miss else nan,
            "far": fa / (hits + fa) if hits + fa else nan,
            "csi": hits / (hits + fa + miss) if hits + fa + miss else nan}


def _levels(aqi: np.ndarray) -> np.ndarray:
    edges = np.array([50, 100, 150, 200, 300])
    lv = np.searchsorted(edges, aqi, side="left").astype(float) + 1
    return np.where(np.isfinite(aqi), lv, np.nan)


def score_arrays(fa: ForecastArrays, obs: Panel, daily_obs: dict[str, pd.DataFrame],
                 clim: Climatology, feats: Any, valid_last_day: pd.Timestamp | None = None
                 ) -> dict[str, Any]:
    """Scores of a backtest (see the module docstring), as a JSON-able dict."""
    its = fa.issue_times
    units = fa.units
    d0 = pd.DatetimeIndex((its.tz_localize(None) + pd.Timedelta(hours=LOCAL_OFFSET_H)).normalize())
    scores: dict[str, Any] = {"n_issues": len(its), "units": units, "daily": {}, "hourly": {},
                              "events": {}, "coverage_80": {}, "aqi": {}}
    obs_daily = {}
    rows = np.array([obs.index(t) for t in its])
    for p in TARGETS:
        tbl = daily_obs[p]
        od = np.stack([tbl.reindex(index=d0 + pd.Timedelta(days=k), columns=units).to_numpy()
                       for k in (1, 2, 3)], axis=1)
        if valid_last_day is not None:
            for k in range(3):
                od[(d0 + pd.Timedelta(days=k + 1)) > _day(valid_last_day), k] = np.nan
        obs_daily[p] = od
        pers_h, pers_d = persistence(feats, p)
        clim_h, clim_d = climatology_forecast(clim, feats, p)
        fd = fa.daily[p]
        sd = {}
        for k in range(3):
            s = _stats(fd[:, k], od[:, k])
            s["skill_vs_persistence"] = _skill(fd[:, k], pers_d[:, k], od[:, k])
            s["skill_vs_climatology"] = _skill(fd[:, k], clim_d[:, k], od[:, k])
            s["persistence_rmse"] = _stats(pers_d[:, k], od[:, k]).get("rmse", float("nan"))
            s["climatology_rmse"] = _stats(clim_d[:, k], od[:, k]).get("rmse", float("nan"))
            q = fa.daily_q[p][:, k]
            qs = fa.quantiles
            if 0.1 in qs and 0.9 in qs:
                lo, hi = q[..., qs.index(0.1)], q[..., qs.index(0.9)]
                ok = np.isfinite(od[:, k]) & np.isfinite(lo)
                s["coverage_80"] = float(np.mean((od[:, k][ok] >= lo[ok])
                                                 & (od[:, k][ok] <= hi[ok]))) \
                    if ok.any() else float("nan")   # no pair: no coverage (not a warning)
            sd[f"D+{k + 1}"] = s
        scores["daily"][DAILY_NAMES[p]] = sd
        # hourly by 24-h lead bucket
        vr = rows[:, None] + np.arange(fa.nleads)[None, :]
        oh = obs.get(p, vr)
        if valid_last_day is not None:
            vt_local = (its.tz_localize(None).to_numpy()[:, None]
                        + np.arange(fa.nleads)[None, :] * np.timedelta64(1, "h")
                        + np.timedelta64(LOCAL_OFFSET_H, "h"))
            late = vt_local >= np.datetime64(_day(valid_last_day) + pd.Timedelta(days=1))
            oh = np.where(late[..., None], np.nan, oh)
        fh = fa.hourly[p]
        sh = {}
        for b0 in range(0, fa.nleads, 24):
            sl = slice(b0, min(b0 + 24, fa.nleads))
            s = _stats(fh[:, sl], oh[:, sl])
            s["skill_vs_persistence"] = _skill(fh[:, sl], pers_h[:, sl], oh[:, sl])
            s["skill_vs_climatology"] = _skill(fh[:, sl], clim_h[:, sl], oh[:, sl])
            qs = fa.quantiles
            if 0.1 in qs and 0.9 in qs:
                q = fa.hourly_q[p][:, sl]
                lo, hi = q[..., qs.index(0.1)], q[..., qs.index(0.9)]
                ok = np.isfinite(oh[:, sl]) & np.isfinite(lo)
                s["coverage_80"] = float(np.mean((oh[:, sl][ok] >= lo[ok])
                                                 & (oh[:, sl][ok] <= hi[ok]))) \
                    if ok.any() else float("nan")
            sh[f"{b0 + 1}-{sl.stop}"] = s
        scores["hourly"][p] = sh
        ev = {}
        for thr in _daily_thresholds(p):
            ev[f">{thr:g}"] = {f"D+{k + 1}": _contingency(fd[:, k], od[:, k], thr)
                               for k in range(3)}
        scores["events"][DAILY_NAMES[p]] = ev
    # AQI levels
    dates = np.array([[(d + pd.Timedelta(days=k)) for k in (1, 2, 3)] for d in d0])
    rs = np.vectorize(ruleset_for)(dates)
    aqi_o = np.full(obs_daily["pm25"].shape, np.nan)
    aqi_f = np.full(obs_daily["pm25"].shape, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for r in np.unique(rs):
            sel = rs == r
            io = [iaqi_array("pm25", obs_daily["pm25"][sel], "24h", r),
                  iaqi_array("o3", obs_daily["o3"][sel], "8h", r)]
            if_ = [iaqi_array("pm25", fa.daily["pm25"][sel], "24h", r),
                   iaqi_array("o3", fa.daily["o3"][sel], "8h", r)]
            # an AQI needs PM2.5; O3 may be missing (PM2.5-only domains)
            aqi_o[sel] = np.where(np.isfinite(io[0]), np.fmax(io[0], io[1]), np.nan)
            aqi_f[sel] = np.where(np.isfinite(if_[0]), np.fmax(if_[0], if_[1]), np.nan)
    lo, lf = _levels(aqi_o), _levels(aqi_f)
    for k in range(3):
        ok = np.isfinite(lo[:, k]) & np.isfinite(lf[:, k])
        scores["aqi"][f"D+{k + 1}"] = {
            "n": int(ok.sum()),
            "level_accuracy": float(np.mean(lo[:, k][ok] == lf[:, k][ok])) if ok.any() else None,
            "within_one_level": float(np.mean(np.abs(lo[:, k][ok] - lf[:, k][ok]) <= 1))
            if ok.any() else None,
            **{f"aqi>{t}": _contingency(aqi_f[:, k], aqi_o[:, k], t) for t in (150, 200)},
        }
    return scores


def backtest_inputs(data: DomainData, met: Literal["perfect", "none", "cycles"], *,
                    met_source: MetSource | None = None, train_start: Any | None = None,
                    warmup_days: int = 31) -> tuple[Panel, dict[str, pd.DataFrame], MetSource,
                                                    pd.Timestamp]:
    """What a backtest trains and forecasts from (also :mod:`models.verify.folds`).

    Parameters
    ----------
    data : DomainData
    met : {"perfect", "none", "cycles"}
        As for :func:`run_backtest` (``cycles`` needs ``met_source``).
    met_source : MetSource, optional
    train_start : date-like, optional
        First training issue day (default ``warmup_days`` after the first observation).
    warmup_days : int
        Days of history before the first training issue (30-day means need 31).

    Returns
    -------
    (obs Panel with the station meteorology observed before each issue as history, µg/m³ and
    the met variables' units; daily targets per pollutant; the met source; first local issue
    day)
    """
    units = sorted(data.obs_units["unit_id"].astype(str).unique())
    # the station meteorology observed before each issue is history known at t0 (features
    # ``mo_*``), in both met modes; only its future stands in for a forecast (--met perfect)
    table = data.obs_units
    met_hist = [v for v in MET_HISTORY_VARS if v in data.met_units.columns
                and v not in table.columns]
    if met_hist:
        table = table.merge(data.met_units[["time", "unit_id", *met_hist]],
                            on=["time", "unit_id"], how="left")
    obs = make_panel(table, observation_variables(table), units)
    daily_obs = daily_targets(obs)
    if met == "cycles":
        if met_source is None:
            raise ValueError("run_backtest(met='cycles') needs met_source (a CycleMet over the "
                             "cycles; features.cycle_met)")
    else:
        met_source = PerfectMet(data.met_units) if met == "perfect" else NoMet()
    first = _day(obs.times[0] + pd.Timedelta(hours=LOCAL_OFFSET_H)) + pd.Timedelta(days=warmup_days)
    if train_start is not None:
        first = max(first, _day(train_start))
    return obs, daily_obs, met_source, first


def run_backtest(data: DomainData, *, train_end: Any, test_start: Any, test_end: Any,
                 issue_hour: int = 12, met: Literal["perfect", "none", "cycles"] = "perfect",
                 settings: ModelSettings, quantiles: Sequence[float],
                 met_source: MetSource | None = None,
                 train_start: Any | None = None, out_dir: Path | str | None = None,
                 pollutants: Sequence[str] = TARGETS, hourly: bool = True,
                 warmup_days: int = 31, progress: Any = None
                 ) -> tuple[xr.Dataset, dict[str, Any]]:
    """Train, forecast every day of the test period, score, and write the outputs.

    Parameters
    ----------
    data : DomainData
    train_end : date-like
        Last local day whose observations train the models.
    test_start, test_end : date-like
        First and last local issue days; targets are scored up to ``test_end``.
    issue_hour : int
        Local issue hour.
    met : {"perfect", "none", "cycles"}
        Observed point met at the valid time as the met forecast, none, or forecast cycles
        (``met_source``: what was available at each issue time, with its lead-dependent error —
        ``features.cycle_met.store_cycle_met`` or ``synthetic_cycle_met``).
    met_source : MetSource, optional
        The cycles of ``met="cycles"`` (a ``features.build.CycleMet``); used in training and
        in the test period alike.
    settings : ModelSettings
    quantiles : sequence of float
    train_start : date-like, optional
        First issue day of training (default: ``warmup_days`` after the first observation).
    warmup_days : int
        Days of history before the first training issue (30-day means need 31).
    out_dir : path, optional
        Writes ``backtest.nc`` and ``scores.json`` there.

    Returns
    -------
    Dataset (leading ``issue_time`` dim), scores dict
    """
    check_test_period(train_end, test_start, test_end)
    t_all = time.perf_counter()
    obs, daily_obs, met_source, first = backtest_inputs(data, met, met_source=met_source,
                                                        train_start=train_start,
                                                        warmup_days=warmup_days)
    t0 = time.perf_counter()
    models = train_models_on(obs, daily_obs, met_source, first_day=first,
                             last_target_day=_day(train_end), issue_hours=[issue_hour],
                             settings=settings, geometry=data.geometry, pollutants=pollutants,
                             hourly=hourly, progress=progress)
    train_s = time.perf_counter() - t0
    train_end_utc = (_day(train_end) + pd.Timedelta(days=1)).tz_localize(LOCAL_TZ) \
        .tz_convert("UTC")
    clim = fit_climatology(obs, daily_obs, until=train_end_utc)
    its = issue_times_between(test_start, test_end, issue_hour)
    if progress:
        progress(f"forecasting {len(its)} issues …")
    t1 = time.perf_counter()
    feats = build_issue_features(obs, its, met_source, geometry=data.geometry, daily=daily_obs)
    full_models = {p: models.get(p) for p in TARGETS}
    fa = forecast_arrays(obs, daily_obs, its, met_source, full_models, settings=settings,
                         quantiles=quantiles, climatology=clim, geometry=data.geometry,
                         feats=feats,
                         model_problems={p: ["not trained in this domain"] for p in TARGETS
                                         if p not in models})
    fc_s = time.perf_counter() - t1
    scores = score_arrays(fa, obs, daily_obs, clim, feats, valid_last_day=test_end)
    cal_days = [d.date() for d in pd.date_range(_day(first), _day(test_end) + pd.Timedelta(days=3))]
    meta = {
        "domain_source": data.source,
        "met": met,
        "met_note": (met_source.describe(its[0]).get("note", "") if met == "perfect" else
                     _cycles_note(met_source, its) if met == "cycles" else
                     "no future meteorology"),
        "issue_hour_local": issue_hour,
        "train_first_issue_day": str(first.date()), "train_end": str(_day(train_end).date()),
        "test_start": str(_day(test_start).date()), "test_end": str(_day(test_end).date()),
        "train_seconds": round(train_s, 1),
        "forecast_seconds": round(fc_s, 1),
        "forecast_seconds_per_issue": round(fc_s / max(len(its), 1), 3),
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "calendar_source": holiday_source(cal_days),
        "design": {p: m.info.get("design") for p, m in models.items()},
        # post-processing the trained models chose (calibration split / out-of-fold)
        "postprocessing": {p: {
            "linear_recalibration": {f"D+{k}": [round(x, 3) for x in ab[:2]]
                                     for k, ab in sorted(m.daily_linear.items())},
            "climatology_blend": {f"D+{k}": w for k, w in sorted(m.clim_weight.items())},
            "bias_lead_days": list(m.bias_lead_days)} for p, m in models.items()},
        "settings": json.loads(settings.model_dump_json()),
    }
    scores["meta"] = meta
    attrs = {"model_version": f"backtest-{met}", "source": data.source,
             "inputs": json.dumps({"met": met, "note": meta["met_note"]}, ensure_ascii=False),
             "backtest": json.dumps({k: meta[k] for k in ("train_end", "test_start",
                                                          "test_end", "issue_hour_local")})}
    fa, names, points = to_forecast_units(fa, data)
    ds = forecast_dataset(fa, region_names=names, attrs=attrs, batch=True, points=points)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_netcdf(ds, out / "backtest.nc")
        from airwarn.features.atomic import write_text_atomic

        write_text_atomic(out / "scores.json",
                          json.dumps(_clean(scores), ensure_ascii=False, indent=1))
    return ds, scores


def to_forecast_units(fa: ForecastArrays, data: DomainData
                      ) -> tuple[ForecastArrays, dict[str, str], dict[str, tuple[float, float]]]:
    """The forecast of the units warnings are issued for: ``fa`` averaged into
    ``data.forecast_units`` when the domain has them (:func:`models.forecast.aggregate_units`),
    else as it is; with their names and points (degrees)."""
    fu = data.forecast_units
    if fu is None:
        return fa, data.names, data.geometry.points
    return aggregate_units(fa, fu.member_of), fu.names, fu.geometry.points


def _cycles_note(source: MetSource, its: Sequence[pd.Timestamp]) -> str:
    """What the cycle source gave over the test issues: cycles used, their ages, issues
    without any cycle."""
    ages, none = [], 0
    for t in its:
        d = source.describe(t)
        if d.get("cycle") is None:
            none += 1
        else:
            ages.append(float(d.get("cycle_age_h", np.nan)))
    med = f"{np.nanmedian(ages):.0f}" if ages else "—"
    return (f"forecast cycles available at each issue time: {len(ages)} of {len(its)} issues "
            f"had one (median age {med} h); {none} without (no future meteorology)")


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if not np.isfinite(x) else round(float(x), 4)
    if isinstance(x, np.integer):
        return int(x)
    return x


def format_scores(scores: dict[str, Any]) -> str:
    """A plain-text table of the main scores (daily by lead day, hourly by bucket, events)."""
    lines = []
    meta = scores.get("meta", {})
    if meta:
        lines.append(f"met: {meta.get('met')} — {meta.get('met_note', '')}")
        lines.append(f"train ≤ {meta.get('train_end')}, test {meta.get('test_start')} … "
                     f"{meta.get('test_end')}, issue {meta.get('issue_hour_local')}:00 local; "
                     f"train {meta.get('train_seconds')} s, forecast "
                     f"{meta.get('forecast_seconds_per_issue')} s/issue")
        for p, pp in meta.get("postprocessing", {}).items():
            blend = ", ".join(f"{k} {w:.2f}" for k, w in pp.get("climatology_blend", {}).items())
            lines.append(f"{p}: running bias at lead days {pp.get('bias_lead_days')}; "
                         f"climatology blend {blend or 'none'}")

    def f(v: Any, w: int = 6, d: int = 1) -> str:
        return f"{v:{w}.{d}f}" if isinstance(v, int | float) and v == v else " " * (w - 1) + "–"

    lines.append("daily product    lead   n     RMSE   MAE    bias   r      SS_pers SS_clim "
                 "pers   clim   cov80")
    for name, by in scores["daily"].items():
        for lead, s in by.items():
            lines.append(f"{name:15s}  {lead:5s} {s.get('n', 0):5d} {f(s.get('rmse'))} "
                         f"{f(s.get('mae'))} {f(s.get('bias'))} {f(s.get('r'), 6, 2)} "
                         f"{f(s.get('skill_vs_persistence'), 7, 2)} "
                         f"{f(s.get('skill_vs_climatology'), 7, 2)} "
                         f"{f(s.get('persistence_rmse'))} {f(s.get('climatology_rmse'))} "
                         f"{f(s.get('coverage_80'), 6, 2)}")
    lines.append("hourly           leads   n      RMSE   MAE    bias   r      SS_pers SS_clim "
                 "cov80")
    for p, by in scores["hourly"].items():
        for b, s in by.items():
            lines.append(f"{p:15s}  {b:6s} {s.get('n', 0):6d} {f(s.get('rmse'))} "
                         f"{f(s.get('mae'))} {f(s.get('bias'))} {f(s.get('r'), 6, 2)} "
                         f"{f(s.get('skill_vs_persistence'), 7, 2)} "
                         f"{f(s.get('skill_vs_climatology'), 7, 2)} "
                         f"{f(s.get('coverage_80'), 6, 2)}")
    lines.append("events           threshold lead   hits  FA    miss  POD    FAR    CSI")
    for name, by in scores["events"].items():
        for thr, leads in by.items():
            for lead, c in leads.items():
                lines.append(f"{name:15s}  {thr:9s} {lead:5s} {c['hits']:5d} "
                             f"{c['false_alarms']:5d} {c['misses']:5d} {f(c['pod'], 6, 2)} "
                             f"{f(c['far'], 6, 2)} {f(c['csi'], 6, 2)}")
    lines.append("AQI level        lead   accuracy within-one  CSI(AQI>150)")
    for lead, s in scores["aqi"].items():
        lines.append(f"{'':15s}  {lead:5s}  {f(s.get('level_accuracy'), 6, 2)}   "
                     f"{f(s.get('within_one_level'), 6, 2)}     "
                     f"{f(s.get('aqi>150', {}).get('csi'), 6, 2)}")
    return "\n".join(lines)
