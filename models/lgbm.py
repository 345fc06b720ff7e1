"""LightGBM forecasters: direct daily models per lead day and a pooled hourly model.

Design (chosen by backtest on the real Beijing set, bench/bench_skill_beijing.py):

* **Daily** natural-day mean PM2.5 and O3 MDA8 at D+1…D+3 come from *direct daily* models, one per
  lead day, all units pooled with the unit as a categorical feature (skill-notes #3), trained on
  the raw concentration with recency weights (skill-notes #2) and extra weight on event days
  (skill-notes #4).
* **Without future meteorology** (``--met none``, a domain with no met source) the daily models
  use ``settings.daily_no_met``: fewer, smaller trees with big leaves, averaged over several
  seeds — the weak signal left (observed history, observed met before the issue, transport by
  the observed wind) was overfitted by the met-mode settings. The running bias correction is
  applied per pollutant and lead day as configured (``bias_lead_days[_no_met]``).
* **Climatology blend** (without future meteorology by default): the bias-corrected daily
  forecast is relaxed towards the unit's smooth day-of-year climatology, ``(1 − w)·ŷ + w·clim``,
  with ``w`` per lead day chosen on 5-fold out-of-fold forecasts of the whole training period
  (capped at ``climatology_blend_max``): a weak forecast's day-to-day swings are partly noise
  (Beijing, no met: O3 MDA8 D+2 43.5 → 42.6 µg/m³ in 2015-16, 44.0 → 43.1 in 2014-15).
* **Hourly** values come from one pooled model with the lead as a feature (the *shape* model); the
  hourly path of every day D+1…D+3 is then rescaled so that its daily mean (PM2.5) or MDA8 (O3)
  equals the daily forecast — hourly and daily products agree.
* **Quantiles** are conformal: log-ratio residuals ``log((y + c)/(ŷ + c))`` of a model fitted
  without the last ``calibration_fraction`` of the training issues, on those issues, per lead day;
  99 residual quantiles are kept so that any quantile level and exceedance probability can be read
  off. Quantiles never cross (monotone in the level).

Units: µg/m³ throughout; weights dimensionless.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from airwarn.configs.model_schema import LgbmParams, ModelSettings
from airwarn.features.build import (
    LOCAL_OFFSET_H,
    IssueFeatures,
    Panel,
    daily_design,
    hourly_design,
)
from airwarn.models.baselines import (
    day_of_year_365,
    doy_climatology,
    doy_climatology_at,
    running_bias,
)
from airwarn.models.threads import resolve_num_threads

from airwarn.core.pollutants import pollutant as pollutant_info

__all__ = ["RESID_LEVELS", "PollutantModel", "apply_clim_blend", "apply_linear",
           "apply_persistence_blend", "leaf_rows",
           "clim_blend_weight", "fit_booster", "fit_hourly", "train_pollutant",
           "predict_pollutant", "predict_raw", "RawPrediction", "daily_from_hourly",
           "quantiles_from_resid", "recency_weights"]

log = logging.getLogger(__name__)

#: levels at which calibration residual quantiles are stored (0.01 … 0.99)
RESID_LEVELS = np.round(np.arange(1, 100) / 100.0, 2)


@dataclass
class PollutantModel:
    """The trained models of one pollutant.

    Attributes
    ----------
    pollutant : str
        A forecast target of the pollutant registry (``pm25``, ``o3`` …).
    daily : dict of int to list of Booster
        Lead day (1…3) → direct daily models (µg/m³) whose mean is the forecast (one per design:
        per-lead-day and/or pooled over lead days).
    hourly : Booster or None
        Pooled hourly shape model (µg/m³).
    daily_features : dict of int to list of str
        Lead day → feature names of its daily model.
    hourly_features : list of str
    daily_resid : dict of int to list of float
        Lead day → 99 log-ratio residual quantiles at :data:`RESID_LEVELS`.
    hourly_resid : dict of int to list of float
        Lead day (0…3) → 99 log-ratio residual quantiles of the hourly model.
    log_offset : float
        c in the log-ratio, µg/m³.
    info : dict
        Training window, sizes, timings, design choices (goes into the model card).
    daily_weights : dict of int to list of float
        Lead day → weight of each daily model (same order as ``daily``), summing to 1.
    daily_linear : dict of int to [a, b, lo, hi]
        Lead day → linear recalibration ``a + b·ŷ`` (µg/m³, 1) fitted on the calibration split
        over the forecasts ``lo…hi`` (see :func:`apply_linear`) (model-output statistics:
        shrinks over-confident forecasts and absorbs the recent level shift, skill-notes #2);
        absent = none.
    hourly_blend : dict of int to float
        Lead day → weight of the hourly model's daily product blended into the daily forecast
        (chosen on the calibration split); absent = 0.
    bias_lead_days : list of int
        Lead days whose forecasts get the running bias correction (``settings.bias_lead_days``;
        it fixes a level shift, skill-notes #2).
    clim_weight : dict of int to float
        Lead day → weight ``w`` of the climatology in ``(1 − w)·ŷ + w·clim``, applied after the
        running bias correction (chosen on out-of-fold forecasts of the training period); absent
        = 0.
    persist_weight : dict of int to float
        Lead day → weight ``a`` of the last observed daily value (yesterday's mean PM2.5 / MDA8
        O3, ``<p>_dm1``) in ``(1 − a)·ŷ + a·obs``, applied after the running bias correction
        and before the climatology blend (chosen on the same out-of-fold forecasts); absent
        = 0.
    clim_daily : dict of str to list of float
        Unit → 365 values (no-leap day of year 1…365, µg/m³, None = unknown): the smooth day-of-year
        climatology of the daily product over the training period
        (:func:`models.baselines.doy_climatology`).
    """

    pollutant: str
    daily: dict[int, list[lgb.Booster]]
    hourly: lgb.Booster | None
    daily_features: dict[int, list[str]]
    hourly_features: list[str]
    daily_resid: dict[int, list[float]]
    hourly_resid: dict[int, list[float]]
    log_offset: float = 10.0
    info: dict[str, Any] = field(default_factory=dict)
    daily_weights: dict[int, list[float]] = field(default_factory=dict)
    daily_linear: dict[int, list[float]] = field(default_factory=dict)
    hourly_blend: dict[int, float] = field(default_factory=dict)
    bias_lead_days: list[int] = field(default_factory=lambda: [1, 2, 3])
    clim_weight: dict[int, float] = field(default_factory=dict)
    clim_daily: dict[str, list[float | None]] = field(default_factory=dict)
    persist_weight: dict[int, float] = field(default_factory=dict)

    def weights(self, k: int) -> list[float]:
        """Averaging weights of the daily models of lead day ``k`` (equal by default)."""
        w = self.daily_weights.get(k)
        n = len(self.daily[k])
        return list(w) if w and len(w) == n else [1.0 / n] * n


def leaf_rows(p: LgbmParams, n_rows: int | None = None) -> int:
    """``min_data_in_leaf`` of a fit on ``n_rows`` rows: capped at
    ``p.min_data_in_leaf_fraction`` of them (rounded up, ≥ 1) when that is set.

    Without it the no-met leaf size (1,200 rows, chosen on Beijing's training fold: ~4,000 rows
    per lead day there, ~8,800 on two years) leaves a Chengdu D+1 model (one training year, 3 stations: ~450–800 rows per fit) one split or none,
    a constant forecast on which the linear recalibration then fits a level shift.
    """
    if p.min_data_in_leaf_fraction is None or n_rows is None:
        return p.min_data_in_leaf
    return max(1, min(p.min_data_in_leaf, int(np.ceil(p.min_data_in_leaf_fraction * n_rows))))


def _params(p: LgbmParams, objective: str = "regression", n_rows: int | None = None
            ) -> dict[str, Any]:
    return {
        "objective": objective, "learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
        "min_data_in_leaf": leaf_rows(p, n_rows), "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.bagging_fraction, "bagging_freq": p.bagging_freq,
        "lambda_l2": p.lambda_l2, "num_threads": resolve_num_threads(p.num_threads), "seed": p.seed,
        "verbosity": -1, "deterministic": True, "force_col_wise": True,
    }


def fit_booster(X: pd.DataFrame, y: np.ndarray, params: LgbmParams,
                weight: np.ndarray | None = None) -> lgb.Booster:
    """Fit one LightGBM regressor (L2 on the raw concentration, µg/m³) on rows with a target.

    Parameters
    ----------
    X : DataFrame
        Features; ``unit`` categorical.
    y : ndarray
        Target (µg/m³), NaN rows dropped.
    params : LgbmParams
    weight : ndarray, optional
        Sample weights.
    """
    ok = np.isfinite(y)
    if ok.sum() < 20:
        raise ValueError(f"too few training rows with a target ({int(ok.sum())}); need ≥ 20")
    ds = lgb.Dataset(X[ok], label=y[ok], weight=None if weight is None else weight[ok],
                     categorical_feature=["unit"] if "unit" in X.columns else "auto",
                     free_raw_data=True)
    return lgb.train(_params(params, n_rows=int(ok.sum())), ds,
                     num_boost_round=params.num_boost_round)


def recency_weights(issue_times: pd.DatetimeIndex, end: pd.Timestamp,
                    halflife_days: float | None) -> np.ndarray:
    """Weight per issue: ``0.5 ** (age_days / halflife_days)`` (1 when no half-life)."""
    if not halflife_days:
        return np.ones(len(issue_times))
    age = (pd.Timestamp(end) - issue_times).total_seconds().to_numpy() / 86400.0
    return 0.5 ** (np.clip(age, 0, None) / halflife_days)


def _resid_quantiles(y: np.ndarray, yhat: np.ndarray, c: float) -> list[float]:
    ok = np.isfinite(y) & np.isfinite(yhat)
    if ok.sum() < 20:
        return [0.0] * len(RESID_LEVELS)
    r = np.log((np.clip(y[ok], 0, None) + c) / (np.clip(yhat[ok], 0, None) + c))
    return [float(v) for v in np.quantile(r, RESID_LEVELS)]


def quantiles_from_resid(median: np.ndarray, resid: Sequence[float], levels: Sequence[float],
                         c: float) -> np.ndarray:
    """Quantiles (µg/m³) of ``median × exp(residual quantile)`` in log-ratio space.

    Parameters
    ----------
    median : ndarray
        Central forecast, µg/m³.
    resid : sequence of 99 float
        Residual quantiles at :data:`RESID_LEVELS`; re-centred so level 0.5 maps to the median.
    levels : sequence of float
        Wanted levels (0–1).
    c : float
        Log offset, µg/m³.

    Returns
    -------
    ndarray ``median.shape + (len(levels),)``, non-decreasing along the last axis.
    """
    r = np.asarray(resid, dtype=float)
    r = np.maximum.accumulate(r - np.interp(0.5, RESID_LEVELS, r))
    rq = np.interp(np.asarray(levels, dtype=float), RESID_LEVELS, r)
    base = np.clip(median, 0, None)[..., None] + c
    q = base * np.exp(rq) - c
    return np.maximum.accumulate(np.clip(q, 0, None), axis=-1)


def _valid_days(f: IssueFeatures | pd.DatetimeIndex, lead_day: int) -> pd.DatetimeIndex:
    """Local valid dates of lead day ``lead_day`` for each issue (of ``f``, or issue times)."""
    its = f.issue_times if isinstance(f, IssueFeatures) else pd.DatetimeIndex(f)
    return pd.DatetimeIndex([(t + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize()
                             + pd.Timedelta(days=lead_day) for t in its])


def _daily_targets_for(f: IssueFeatures, tbl: pd.DataFrame, lead_day: int) -> np.ndarray:
    return tbl.reindex(index=_valid_days(f, lead_day), columns=f.units).to_numpy().reshape(-1)


def _clim_to_json(clim: pd.DataFrame) -> dict[str, list[float | None]]:
    return {str(u): [None if not np.isfinite(v) else round(float(v), 3) for v in clim[u]]
            for u in clim.columns}


def clim_blend_weight(y: np.ndarray, pred: np.ndarray, clim: np.ndarray, *, w_max: float = 0.6,
                      min_gain: float = 0.01) -> tuple[float, float, float]:
    """Weight ``w`` of the climatology in ``(1 − w)·pred + w·clim`` minimising the RMSE.

    Rows without a climatology keep ``pred``. The grid is 0…``w_max`` by 0.05; ``w`` stays 0
    unless the RMSE falls by at least ``min_gain`` (fraction).

    Parameters
    ----------
    y, pred, clim : ndarray
        Outcomes, forecasts and climatology of the same rows, µg/m³ (NaN = missing).

    Returns
    -------
    w, RMSE at 0, RMSE at w (µg/m³)
    """
    ok = np.isfinite(y) & np.isfinite(pred)
    if ok.sum() < 30:
        return 0.0, float("nan"), float("nan")
    c = np.where(np.isfinite(clim), clim, pred)[ok]
    yy, pp = y[ok], pred[ok]
    grid = np.round(np.arange(0.0, w_max + 1e-9, 0.05), 2)
    err = [float(np.sqrt(np.mean(((1 - w) * pp + w * c - yy) ** 2))) for w in grid]
    best = int(np.argmin(err))
    if grid[best] > 0 and err[best] < (1 - min_gain) * err[0]:
        return float(grid[best]), err[0], err[best]
    return 0.0, err[0], err[0]


def apply_clim_blend(daily: np.ndarray, model: PollutantModel, issue_times: pd.DatetimeIndex,
                     units: Sequence[str]) -> np.ndarray:
    """The daily forecast ``(issue, 3, unit)`` of ``issue_times`` (UTC) relaxed towards the
    model's day-of-year climatology with its per-lead-day weights (µg/m³); unchanged where there
    is none."""
    if not model.clim_weight or not model.clim_daily:
        return daily
    out = daily.copy()
    for k, w in model.clim_weight.items():
        c = doy_climatology_at(model.clim_daily, _valid_days(issue_times, k), list(units))
        out[:, k - 1] = np.where(np.isfinite(c), (1 - w) * daily[:, k - 1] + w * c,
                                 daily[:, k - 1])
    return out


def apply_persistence_blend(daily: np.ndarray, model: PollutantModel,
                            last_daily: np.ndarray | None) -> np.ndarray:
    """The daily forecast ``(issue, 3, unit)`` blended with the last observed daily value
    ``last_daily`` ``(issue, unit)`` (µg/m³; the ``<p>_dm1`` history feature) with the model's
    per-lead-day weights: ``(1 − a)·ŷ + a·obs``; unchanged where that value is missing."""
    if not model.persist_weight or last_daily is None:
        return daily
    out = daily.copy()
    for k, a in model.persist_weight.items():
        out[:, k - 1] = np.where(np.isfinite(last_daily),
                                 (1 - a) * daily[:, k - 1] + a * last_daily, daily[:, k - 1])
    return out


def _hourly_targets(obs: Panel, f: IssueFeatures, pollutant: str, leads: np.ndarray) -> np.ndarray:
    rows = np.array([obs.index(t) for t in f.issue_times])
    vr = rows[:, None] + (leads - 1)[None, :]
    return obs.get(pollutant, vr).reshape(-1)


def _lead_day_of(f: IssueFeatures, leads: np.ndarray) -> np.ndarray:
    h0 = (f.issue_times.hour[0] + LOCAL_OFFSET_H) % 24
    return (h0 + leads - 1) // 24


def _event_w(y: np.ndarray, spec: tuple[float, float] | None) -> np.ndarray:
    if not spec:
        return np.ones_like(y)
    thr, w = spec
    return np.where(np.nan_to_num(y, nan=0.0) > thr, w, 1.0)


def train_pollutant(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                    feats: Sequence[IssueFeatures], pollutant: str, settings: ModelSettings,
                    *, hourly: bool = True) -> PollutantModel:
    """Train the daily and hourly models of one pollutant and calibrate their quantiles.

    Parameters
    ----------
    obs : Panel
        Unit observations (targets of the hourly model), µg/m³.
    daily_obs : dict
        :func:`features.build.daily_targets` of ``obs``.
    feats : sequence of IssueFeatures
        Training issues (one batch per issue hour), built with the training met source.
    pollutant : str
        A forecast target of the pollutant registry (``pm25``, ``o3`` …).
    settings : ModelSettings
    hourly : bool
        Also fit the hourly shape model.

    Returns
    -------
    PollutantModel
    """
    t_start = time.perf_counter()
    c = settings.log_offset.get(pollutant, 10.0)
    all_times, end, cut = _training_issues(feats, settings, pollutant)
    tbl = daily_obs[pollutant]
    daily_models: dict[int, list[lgb.Booster]] = {}
    daily_resid: dict[int, list[float]] = {}
    dfeat: dict[int, list[str]] = {}
    blocks: dict[int, tuple] = {}
    cal_scores: dict[str, dict[str, float]] = {}
    # per design-matrix row: 0-based no-leap day of year, unit, month index of the valid day
    row_keys: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    event_w = settings.event_weight_for(pollutant, any(bool(f.metday) for f in feats))
    for k in (1, 2, 3):
        Xs, ys, ws, calib, cdoy, cunit, cmon = [], [], [], [], [], [], []
        for f in feats:
            X = daily_design(f, pollutant, k)
            y = _daily_targets_for(f, tbl, k)
            w = np.repeat(recency_weights(f.issue_times, end, settings.recency_halflife_days),
                          len(f.units))
            w = w * _event_w(y, event_w)
            Xs.append(X)
            ys.append(y)
            ws.append(w)
            calib.append(np.repeat((f.issue_times >= cut), len(f.units)))
            vdays = _valid_days(f, k)
            cdoy.append(np.repeat(day_of_year_365(vdays) - 1, len(f.units)))
            cmon.append(np.repeat(vdays.year.to_numpy() * 12 + vdays.month.to_numpy(),
                                  len(f.units)))
            cunit.append(np.tile(np.asarray(f.units, dtype=object), len(f.issue_times)))
        blocks[k] = (pd.concat(Xs, ignore_index=True), np.concatenate(ys), np.concatenate(ws),
                     np.concatenate(calib))
        row_keys[k] = (np.concatenate(cdoy), np.concatenate(cunit), np.concatenate(cmon))
    # smooth day-of-year climatology of the daily product over the training targets (kept with
    # the model), and the same without each cross-validation fold's months (out of sample)
    end_day = (end.tz_convert(None) + pd.Timedelta(hours=LOCAL_OFFSET_H)).normalize() \
        + pd.Timedelta(days=3)
    cut_day = (cut.tz_convert(None) + pd.Timedelta(hours=LOCAL_OFFSET_H)).normalize()
    hw = settings.climatology_half_window_days
    tbl_train = tbl[tbl.index <= end_day]
    clim_all = doy_climatology(tbl_train, half_window_days=hw)
    clim_cal = doy_climatology(tbl_train[tbl_train.index < cut_day], half_window_days=hw)
    clim_weight: dict[int, float] = {}
    n_folds = settings.climatology_blend_folds
    has_met = any(bool(f.metday) for f in feats)
    blend_clim = settings.climatology_blend == "always" or (
        settings.climatology_blend == "no_met" and not has_met)
    blend_persist = settings.persistence_blend == "always" or (
        settings.persistence_blend == "no_met" and not has_met)
    persist_weight: dict[int, float] = {}
    dm1_key = f"{pollutant}_dm1"
    oof_pred: dict[int, list[np.ndarray]] = {1: [], 2: [], 3: []}
    calibrate = os.environ.get("AIRWARN_SKIP_CALIBRATION") != "1"
    designs = settings.daily_designs
    cal_pred: dict[int, list[np.ndarray]] = {1: [], 2: [], 3: []}
    daily_weights: dict[int, list[float]] = {}
    daily_linear: dict[int, list[float]] = {}
    cal_daily: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    hourly_blend: dict[int, float] = {}
    daily_params = settings.daily_params_for(pollutant, has_met)
    # members of each design: the same model with n_seeds bagging / feature-sampling seeds
    seeds = [daily_params.seed + 7919 * i for i in range(daily_params.n_seeds)]
    design_weights: dict[int, list[float]] = {}
    for k in (1, 2, 3):
        daily_models[k] = []
        dfeat[k] = list(blocks[k][0].columns)
        wp = settings.pooled_weight_for(pollutant, has_met).get(k, 0.5) \
            if len(designs) > 1 else None
        design_weights[k] = [1.0] if wp is None else [
            wp if d == "pooled" else 1.0 - wp for d in designs]
        daily_weights[k] = [wd / len(seeds) for wd in design_weights[k] for _ in seeds]
    for design in designs:
        groups = [(1, 2, 3)] if design == "pooled" else [(1,), (2,), (3,)]
        for g in groups:
            X = pd.concat([blocks[k][0] for k in g], ignore_index=True)
            y = np.concatenate([blocks[k][1] for k in g])
            w = np.concatenate([blocks[k][2] for k in g])
            cal = np.concatenate([blocks[k][3] for k in g])
            kk = np.concatenate([np.full(len(blocks[k][1]), k) for k in g])
            members = [daily_params.model_copy(update={"seed": sd}) for sd in seeds]
            if calibrate:
                # calibration models: fitted without the calibration issues, scored on them
                pc = np.mean([np.clip(fit_booster(X[~cal], y[~cal], m, w[~cal]).predict(X[cal]),
                                      0, None) for m in members], axis=0)
                for k in g:
                    cal_pred[k].append(pc[kk[cal] == k])
            if calibrate and (blend_clim or blend_persist):
                fold = np.concatenate([row_keys[k][2] for k in g]) % n_folds
                oof = _out_of_fold(X, y, w, fold, members[0])
                for k in g:
                    oof_pred[k].append(oof[kk == k])
            boosters = [fit_booster(X, y, m, w) for m in members]
            for k in g:
                daily_models[k].extend(boosters)
    for k in (1, 2, 3):
        if not calibrate:
            daily_resid[k] = [0.0] * len(RESID_LEVELS)
            continue
        yy = blocks[k][1][blocks[k][3]]
        pp = np.average(cal_pred[k], axis=0, weights=design_weights[k])
        ok = np.isfinite(yy)
        if ok.any():
            cal_scores[f"D+{k}"] = {"n": int(ok.sum()),
                                    "rmse": float(np.sqrt(np.mean((pp[ok] - yy[ok]) ** 2))),
                                    "bias": float(np.mean(pp[ok] - yy[ok]))}
        ab = _linear_fit(pp[ok], yy[ok]) if settings.linear_recalibration and ok.sum() >= 30 \
            else None
        if ab is not None:
            adj = apply_linear(pp, ab)
            r_new = float(np.sqrt(np.mean((adj[ok] - yy[ok]) ** 2)))
            # applied only when it clearly helps on the calibration split (2 parameters)
            if r_new < 0.98 * cal_scores[f"D+{k}"]["rmse"]:
                daily_linear[k] = ab
                cal_scores[f"D+{k}"]["rmse_recalibrated"] = r_new
                pp = adj
        daily_resid[k] = _resid_quantiles(yy, pp, c)
        cal_daily[k] = (yy, pp)
    bias_cfg = settings.bias_lead_days if has_met or settings.bias_lead_days_no_met is None \
        else settings.bias_lead_days_no_met
    bias_lead_days = list(bias_cfg.get(pollutant, [1, 2, 3])) if settings.bias_correction else []
    if calibrate and (blend_clim or blend_persist) and \
            all(len(oof_pred[k]) == len(designs) for k in (1, 2, 3)):
        # weight of the climatology, chosen on out-of-fold forecasts of the whole training period
        # (every season; the calibration split alone is one season) against the climatology of
        # the other folds' months. Chosen without the running bias replayed: with it, PM2.5 got
        # weights too and lost 1.2 µg/m³ at D+2 (Beijing 2015-16, --met none).
        n0, u0 = len(feats[0].issue_times), len(feats[0].units)
        po = np.stack([np.average(oof_pred[k], axis=0, weights=design_weights[k])[:n0 * u0]
                       .reshape(n0, u0) for k in (1, 2, 3)], axis=1)
        for k, ab in daily_linear.items():
            po[:, k - 1] = apply_linear(po[:, k - 1], ab)
        yo = np.stack([blocks[k][1][:n0 * u0].reshape(n0, u0) for k in (1, 2, 3)], axis=1)
        for k in (1, 2, 3):
            if blend_persist and dm1_key in blocks[k][0].columns:
                # weight of the last observed daily value, on the same out-of-fold forecasts
                last = blocks[k][0][dm1_key].to_numpy(float)[:n0 * u0]
                pk = po[:, k - 1].reshape(-1)
                wp, r0p, rp = clim_blend_weight(yo[:, k - 1].reshape(-1), pk, last,
                                                w_max=settings.persistence_blend_max)
                sc = cal_scores.setdefault(f"D+{k}", {})
                if np.isfinite(r0p):
                    sc["rmse_out_of_fold"] = r0p
                if wp > 0:
                    persist_weight[k] = wp
                    sc["rmse_out_of_fold_persistence_blend"] = rp
                    po[:, k - 1] = np.where(np.isfinite(last), (1 - wp) * pk + wp * last,
                                            pk).reshape(po[:, k - 1].shape)
            if not blend_clim:
                continue
            doy, unit, mon = (a[:n0 * u0] for a in row_keys[k])
            co = np.full(len(doy), np.nan)
            for j in range(n_folds):
                sel = mon % n_folds == j
                if not sel.any():
                    continue
                tj = tbl_train.copy()
                tj.loc[(tj.index.year * 12 + tj.index.month) % n_folds == j] = np.nan
                co[sel] = _clim_rows(doy_climatology(tj, half_window_days=hw), doy[sel],
                                     unit[sel])
            wc, r0, r_c = clim_blend_weight(yo[:, k - 1].reshape(-1), po[:, k - 1].reshape(-1),
                                            co, w_max=settings.climatology_blend_max)
            sc = cal_scores.setdefault(f"D+{k}", {})
            if np.isfinite(r0):  # the card is strict JSON: no NaN (after the persistence blend)
                sc.setdefault("rmse_out_of_fold", r0)
            if wc > 0:
                clim_weight[k] = wc
                sc["rmse_out_of_fold_clim_blend"] = r_c
    cal_clim = {k: _clim_rows(clim_cal, *(a[blocks[k][3]] for a in row_keys[k][:2]))
                for k in clim_weight}
    replayed = _bias_replayed(feats, cut, cal_daily, settings) \
        if calibrate and bias_lead_days and len(cal_daily) == 3 else {}
    for k in (1, 2, 3):
        # the quantiles are read around the forecast as issued: calibration forecasts with the
        # running bias replayed over them, then relaxed towards the climatology
        if not calibrate:
            continue
        yy, pp = replayed[k] if k in bias_lead_days and k in replayed else cal_daily[k]
        if k in persist_weight:
            last = blocks[k][0][dm1_key].to_numpy(float)[blocks[k][3]][:len(pp)]
            a = persist_weight[k]
            pp = np.where(np.isfinite(last), (1 - a) * pp + a * last, pp)
        if k in clim_weight:
            cc, wc = cal_clim[k][:len(pp)], clim_weight[k]
            pp = np.where(np.isfinite(cc), (1 - wc) * pp + wc * cc, pp)
        daily_resid[k] = _resid_quantiles(yy, pp, c)
    t_daily = time.perf_counter() - t_start
    hmodel = None
    hfeat: list[str] = []
    hourly_resid: dict[int, list[float]] = {}
    if hourly:
        hmodel, hfeat, hourly_resid = fit_hourly(obs, feats, pollutant, settings)
        if settings.hourly_blend and cal_daily:
            # daily products of the hourly model on the calibration issues (all leads), blended
            # with the direct daily forecast where that lowers the calibration RMSE (≥ 1 %)
            agg = []
            for f in feats:
                fc = f.take(f.issue_times >= cut)
                if len(fc.issue_times) == 0:
                    continue
                h0 = int((fc.issue_times.hour[0] + LOCAL_OFFSET_H) % 24)
                hp = _predict(hmodel, hourly_design(fc, pollutant), hfeat).reshape(
                    len(fc.issue_times), fc.nleads, len(fc.units))
                agg.append(daily_from_hourly(hp, pollutant, h0))
            if agg:
                hd = np.concatenate([a.reshape(a.shape[0], 3, -1) for a in agg])
                for k in (1, 2, 3):
                    yy, pp = cal_daily[k]
                    hh = hd[:, k - 1, :].reshape(-1)
                    ok = np.isfinite(yy) & np.isfinite(hh)
                    if ok.sum() < 30:
                        continue
                    errs = {w: float(np.sqrt(np.mean(((1 - w) * pp[ok] + w * hh[ok]
                                                      - yy[ok]) ** 2)))
                            for w in (0.0, 0.25, 0.5, 0.75)}
                    best = min(errs, key=errs.get)
                    if best > 0 and errs[best] < 0.99 * errs[0.0]:
                        hourly_blend[k] = best
                        cal_scores.setdefault(f"D+{k}", {})["rmse_hourly_blend"] = errs[best]
    info = {
        "pollutant": pollutant,
        "daily_params": daily_params.model_dump(),
        "future_met": has_met,
        "train_issues": int(len(all_times)),
        "train_first_issue": all_times.min().isoformat(),
        "train_last_issue": end.isoformat(),
        "calibration_from": cut.isoformat(),
        "daily_seconds": round(t_daily, 1),
        "calibration_scores": cal_scores,
        "hourly_seconds": round(time.perf_counter() - t_start - t_daily, 1),
        "design": {
            "daily": f"direct daily models ({' + '.join(settings.daily_designs)}, averaged; "
                     f"{daily_params.n_seeds} seed(s) each), units pooled (unit categorical), "
                     + ("with" if has_met else "without") + " future meteorology",
            "hourly": "pooled hourly shape model with lead as a feature, fitted before the "
                      "calibration split; hourly path rescaled to the daily forecast",
            "quantiles": "conformal log-ratio residuals on the calibration split, per lead day",
            "weights": f"recency half-life {settings.recency_halflife_days} d, event weight "
                       f"{event_w}",
        },
    }
    info["bias_correction_lead_days"] = bias_lead_days
    info["persistence_blend"] = {f"D+{k}": w for k, w in persist_weight.items()}
    info["climatology_blend"] = {
        "weights": {f"D+{k}": w for k, w in clim_weight.items()},
        "climatology": f"unit × day of year, ±{hw} d window, local days "
                       f"{tbl_train.index.min().date()}…{end_day.date()}"}
    return PollutantModel(pollutant, daily_models, hmodel, dfeat, hfeat, daily_resid,
                          hourly_resid, c, info, daily_weights, daily_linear, hourly_blend,
                          bias_lead_days, clim_weight,
                          _clim_to_json(clim_all) if clim_weight else {}, persist_weight)


def _training_issues(feats: Sequence[IssueFeatures], settings: ModelSettings,
                     pollutant: str | None = None
                     ) -> tuple[pd.DatetimeIndex, pd.Timestamp, pd.Timestamp]:
    """All training issue times (UTC), the last one, and the first calibration issue.

    The calibration split holds the last ``settings.calibration_fraction`` of the training
    *rows*: with ``pollutant``, an issue counts once for each unit whose record of the pollutant
    has begun (its first known last-24-h mean, ``<pollutant>_m24``, at or before the issue), so
    that a unit extended back in time by a history record (:mod:`features.history`) does not
    pull the split into years the other units lack. With every unit's record begun at the first
    issue (gaps do not count) this is the last fraction of the issues.
    """
    all_times = pd.DatetimeIndex(np.concatenate([f.issue_times.to_numpy() for f in feats]))
    all_times = all_times.tz_localize("UTC") if all_times.tz is None else all_times
    key = f"{pollutant}_m24"
    rows = np.zeros(len(all_times))
    if pollutant is not None and all(key in f.hist for f in feats):
        rows = np.concatenate([np.maximum.accumulate(np.isfinite(f.hist[key]), axis=0).sum(axis=1)
                               for f in feats])
    if pollutant is None or not all(key in f.hist for f in feats) or rows.sum() == 0:
        rows = np.ones(len(all_times))
    order = np.argsort(all_times.to_numpy(), kind="stable")
    cum = np.cumsum(rows[order])
    # the latest issue from which on at least the fraction of the rows remains
    i = int(np.searchsorted(cum, cum[-1] * (1 - settings.calibration_fraction), side="right"))
    cut = all_times[order][min(i, len(all_times) - 1)]
    return all_times, all_times.max(), cut


def fit_hourly(obs: Panel, feats: Sequence[IssueFeatures], pollutant: str,
               settings: ModelSettings
               ) -> tuple[lgb.Booster, list[str], dict[int, list[float]]]:
    """The pooled hourly shape model of one pollutant (fitted before the calibration split) and
    its log-ratio residual quantiles per lead day 0…3 on the calibration issues.

    Independent of the daily models (its own random lead subsample, seeded by
    ``settings.hourly.seed``), so it can be fitted in another process
    (:func:`models.fanout.train_pollutants`).

    Returns
    -------
    booster, feature names, residual quantiles (lead day → 99 values at :data:`RESID_LEVELS`)
    """
    c = settings.log_offset.get(pollutant, 10.0)
    _, _, cut = _training_issues(feats, settings, pollutant)
    hourly_resid: dict[int, list[float]] = {}
    Xs, ys, calib, lds = [], [], [], []
    rng = np.random.default_rng(settings.hourly.seed)
    for f in feats:
        stride = settings.hourly_lead_stride
        leads = np.arange(1 + int(rng.integers(stride)), f.nleads + 1, stride)
        X = hourly_design(f, pollutant, leads)
        Xs.append(X)
        ys.append(_hourly_targets(obs, f, pollutant, leads))
        nl = len(leads)
        calib.append(np.repeat(f.issue_times >= cut, nl * len(f.units)))
        lds.append(np.tile(np.repeat(_lead_day_of(f, leads), len(f.units)),
                           len(f.issue_times)))
    X = pd.concat(Xs, ignore_index=True)
    y, cal, ld = np.concatenate(ys), np.concatenate(calib), np.concatenate(lds)
    hfeat = list(X.columns)
    hmodel = fit_booster(X[~cal], y[~cal], settings.hourly)
    pred = hmodel.predict(X[cal])
    for d in range(4):
        sel = ld[cal] == d
        hourly_resid[d] = _resid_quantiles(y[cal][sel], pred[sel], c)
    return hmodel, hfeat, hourly_resid


def _out_of_fold(X: pd.DataFrame, y: np.ndarray, w: np.ndarray, fold: np.ndarray,
                 params: LgbmParams) -> np.ndarray:
    """Out-of-fold forecasts (µg/m³): each fold predicted by a model fitted on the others
    (NaN where a fold could not be fitted)."""
    out = np.full(len(y), np.nan)
    for j in np.unique(fold):
        test = fold == j
        if test.all():
            continue
        try:
            out[test] = np.clip(fit_booster(X[~test], y[~test], params, w[~test])
                                .predict(X[test]), 0, None)
        except ValueError:  # too few rows with a target outside this fold
            continue
    return out


def _clim_rows(clim: pd.DataFrame, doy0: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Climatology (µg/m³) at 0-based day of year ``doy0`` and unit name, row by row."""
    col = {u: j for j, u in enumerate(clim.columns)}
    j = np.array([col.get(u, -1) for u in units])
    a = clim.to_numpy(dtype=float)
    out = a[doy0, np.clip(j, 0, None)]
    return np.where(j >= 0, out, np.nan)


def _bias_replayed(feats: Sequence[IssueFeatures], cut: pd.Timestamp,
                   cal_daily: Mapping[int, tuple[np.ndarray, np.ndarray]],
                   settings: ModelSettings) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Calibration outcomes and forecasts with the running bias correction replayed over them.

    Each calibration issue is corrected only by the errors of earlier calibration issues known
    before it (:func:`models.baselines.running_bias`). Only the first issue-hour batch (one
    issue per day) is replayed; empty when it is too short.
    """
    f0 = feats[0]
    sel = np.asarray(f0.issue_times >= cut)
    n, u = int(sel.sum()), len(f0.units)
    if n < settings.bias_min_days + 7:
        return {}
    pred = np.stack([cal_daily[k][1][:n * u].reshape(n, u) for k in (1, 2, 3)], axis=1)
    obs = np.stack([cal_daily[k][0][:n * u].reshape(n, u) for k in (1, 2, 3)], axis=1)
    dates = pd.DatetimeIndex((f0.issue_times[sel] + pd.Timedelta(hours=LOCAL_OFFSET_H))
                             .tz_localize(None).normalize())
    bias = running_bias(pred, obs, dates, window_days=settings.bias_window_days,
                        min_days=settings.bias_min_days, shrink_days=settings.bias_shrink_days)
    adj = np.clip(pred - bias, 0, None)
    return {k: (obs[:, k - 1].reshape(-1), adj[:, k - 1].reshape(-1)) for k in (1, 2, 3)}


def apply_linear(pred: np.ndarray, ab: Sequence[float]) -> np.ndarray:
    """Linear recalibration ``a + b·ŷ`` (µg/m³), trusted only over the forecasts it was fitted on.

    ``ab`` is ``[a, b]`` or ``[a, b, lo, hi]``: outside ``lo…hi`` (the 1st–99th percentile of the
    calibration forecasts) the correction stays what it is at the nearer end (slope 1), so a
    line fitted on a winter calibration split cannot squash a summer O3 forecast (seen without
    meteorology when trained on one year: MDA8 bias −40 µg/m³).
    """
    a, b = ab[0], ab[1]
    if len(ab) >= 4:
        inside = np.clip(pred, ab[2], ab[3])
        return np.clip(a + b * inside + (pred - inside), 0, None)
    return np.clip(a + b * pred, 0, None)


#: least spread (µg/m³, 1st–99th percentile) of the calibration forecasts for a linear
#: recalibration: a model that could not split forecasts a constant, and a line fitted on it is
#: only the calibration season's level shift (Chengdu without meteorology, one training year:
#: +40 µg/m³ learned in winter, applied all year — docs/notes/w4-cdnomet.md)
MIN_LINEAR_SPREAD = 1.0


def _linear_fit(pred: np.ndarray, y: np.ndarray) -> list[float] | None:
    """Least-squares ``y ≈ a + b·pred`` (µg/m³) with b clipped to 0.5…1.2, as ``[a, b, lo, hi]``
    (``lo``/``hi`` the 1st/99th percentile of ``pred``); None when the forecasts spread less
    than :data:`MIN_LINEAR_SPREAD` (no line to fit)."""
    lo, hi = np.quantile(pred, [0.01, 0.99])
    if hi - lo < MIN_LINEAR_SPREAD:
        return None
    b = float(np.cov(pred, y, bias=True)[0, 1] / max(np.var(pred), 1e-9))
    b = min(max(b, 0.5), 1.2)
    a = float(np.mean(y) - b * np.mean(pred))
    return [a, b, float(lo), float(hi)]


#: rows below which a prediction runs on one thread: an operational forecast predicts a few
#: hundred rows per model, and waking a second OpenMP thread for them (passive wait policy,
#: models/threads.py) cost more than the prediction — seconds per run on a busy machine. Each
#: row's prediction is the same whatever the thread count.
PREDICT_ONE_THREAD_ROWS = 20_000


def _predict(b: lgb.Booster, X: pd.DataFrame, features: list[str]) -> np.ndarray:
    missing = [c for c in features if c not in X.columns]
    for m in missing:
        X[m] = np.nan
    kw = {"num_threads": 1} if len(X) < PREDICT_ONE_THREAD_ROWS else {}
    return np.clip(b.predict(X[features], **kw), 0, None)


def daily_from_hourly(hourly: np.ndarray, pollutant: str, h0: int) -> np.ndarray:
    """Daily product of an hourly path: natural-day mean (PM2.5) or MDA8 (O3) of days D+1…D+3.

    Parameters
    ----------
    hourly : ndarray ``(issue, lead, unit)``
        Lead 1 at local hour ``h0`` of day D.
    pollutant : str
    h0 : int
        Local issue hour.

    Returns
    -------
    ndarray ``(issue, 3, unit)``
    """
    n, nl, u = hourly.shape
    first = 24 - h0  # index of lead at local 00:00 of D+1
    cube = hourly[:, first:first + 72, :].reshape(n, 3, 24, u)
    if pollutant_info(pollutant).daily_statistic == "mda8":
        cs = np.concatenate([np.zeros((n, 3, 1, u)), np.cumsum(cube, axis=2)], axis=2)
        w = (cs[:, :, 8:25] - cs[:, :, 0:17]) / 8.0
        return w.max(axis=2)
    return cube.mean(axis=2)


def _rescale_to_daily(hourly: np.ndarray, daily_hourly: np.ndarray, daily: np.ndarray,
                      h0: int, pollutant: str = "pm25") -> np.ndarray:
    """Make each day's hourly path agree with the daily forecast (µg/m³).

    The path is multiplied by daily / daily-of-path (ratio clipped to 0.2…5 so that a poor
    hourly shape cannot explode); what the clipped ratio leaves is closed by an additive shift,
    which moves the daily mean and the MDA8 by exactly its size.
    """
    out = hourly.copy()
    first = 24 - h0
    with np.errstate(all="ignore"):
        ratio = np.clip(np.where(daily_hourly > 0.5, daily / daily_hourly, 1.0), 0.2, 5.0)
    for d in range(3):
        sl = slice(first + 24 * d, first + 24 * (d + 1))
        out[:, sl, :] *= ratio[:, d, None, :]
    rest = daily - daily_from_hourly(out, pollutant, h0)
    for d in range(3):
        sl = slice(first + 24 * d, first + 24 * (d + 1))
        out[:, sl, :] += np.nan_to_num(rest[:, d, None, :])
    return np.clip(out, 0, None)


@dataclass
class RawPrediction:
    """The model part of :func:`predict_pollutant` for a batch of issues (µg/m³): what does not
    depend on the running bias, so that it is predicted once per batch."""

    #: daily ``(issue, 3, unit)`` after the linear recalibration and the hourly blend
    daily: np.ndarray
    #: hourly path of the hourly model ``(issue, lead, unit)`` (None without one)
    hourly: np.ndarray | None
    #: daily products of that path ``(issue, 3, unit)`` (None without one)
    hourly_daily: np.ndarray | None
    #: local issue hour
    h0: int


def predict_raw(model: PollutantModel, f: IssueFeatures) -> RawPrediction:
    """The LightGBM predictions of one pollutant for a batch of issues (see
    :func:`predict_pollutant`, which finishes them)."""
    n, u = len(f.issue_times), len(f.units)
    designs = {k: daily_design(f, model.pollutant, k) for k in (1, 2, 3)}  # once per lead day
    daily = np.stack([
        np.average([_predict(b, designs[k], model.daily_features[k])
                    for b in model.daily[k]], axis=0, weights=model.weights(k)).reshape(n, u)
        for k in (1, 2, 3)], axis=1)
    for k, ab in model.daily_linear.items():
        daily[:, k - 1] = apply_linear(daily[:, k - 1], ab)
    h0 = int((f.issue_times.hour[0] + LOCAL_OFFSET_H) % 24)
    hp = hd = None
    if model.hourly is not None:
        hx = hourly_design(f, model.pollutant)
        hp = _predict(model.hourly, hx, model.hourly_features).reshape(n, f.nleads, u)
        hd = daily_from_hourly(hp, model.pollutant, h0)
        for k, w in model.hourly_blend.items():
            daily[:, k - 1] = (1 - w) * daily[:, k - 1] + w * hd[:, k - 1]
    return RawPrediction(daily, hp, hd, h0)


def predict_pollutant(model: PollutantModel, f: IssueFeatures, *,
                      bias: np.ndarray | None = None,
                      raw: RawPrediction | None = None) -> dict[str, np.ndarray]:
    """Median forecasts of one pollutant for a batch of issues (µg/m³).

    Parameters
    ----------
    model : PollutantModel
    f : IssueFeatures
    bias : ndarray ``(issue, 3, unit)``, optional
        Running bias (forecast − observed) to subtract from the daily forecast.
    raw : RawPrediction, optional
        :func:`predict_raw` of the same ``model`` and ``f``, when already made (the forecast
        predicts once for the running bias, then finishes with it).

    Returns
    -------
    dict
        ``daily_raw`` and ``daily`` ``(issue, 3, unit)`` (before / after bias correction),
        ``hourly`` ``(issue, lead, unit)`` rescaled to ``daily``, ``hourly_raw``.
    """
    r = raw if raw is not None else predict_raw(model, f)
    daily = r.daily.copy()
    raw_daily = daily.copy()
    if bias is not None:
        daily = np.clip(daily - np.nan_to_num(bias), 0, None)
    # blended with the last observed daily value, then relaxed towards climatology, after the
    # bias correction (the bias is that of the model's own forecast)
    daily = apply_persistence_blend(daily, model, f.hist.get(f"{model.pollutant}_dm1"))
    daily = apply_clim_blend(daily, model, f.issue_times, f.units)
    out = {"daily_raw": raw_daily, "daily": daily}
    if r.hourly is not None:
        out["hourly_raw"] = r.hourly.copy()
        out["hourly"] = _rescale_to_daily(r.hourly, r.hourly_daily, daily, r.h0, model.pollutant)
    return out
