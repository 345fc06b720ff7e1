"""Baseline forecasters: persistence, same hour yesterday, climatology — first-class forecasters
that the LightGBM models are scored against and that a run falls back to when a model or its
inputs are missing.

All forecasts are arrays over ``(issue, lead, unit)`` (hourly) or ``(issue, day, unit)`` (daily
D+1…D+3), µg/m³, built only from observations before each issue time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from airwarn.features.build import LOCAL_OFFSET_H, IssueFeatures, Panel

from airwarn.core.pollutants import pollutant as pollutant_info

__all__ = ["BASELINES", "Climatology", "fit_climatology", "persistence", "same_hour_yesterday",
           "climatology_forecast", "day_of_year_365", "doy_climatology", "doy_climatology_at",
           "running_bias",
           "running_spread_scale", "choose_baseline"]

BASELINES = ("persistence", "same_hour_yesterday", "climatology")


def persistence(f: IssueFeatures, pollutant: str) -> tuple[np.ndarray, np.ndarray]:
    """Persistence: hourly = last observed value; daily = mean of the last 24 h (PM2.5) or
    yesterday's MDA8 (O3), the same for D+1…D+3.

    Returns
    -------
    hourly ``(issue, lead, unit)``, daily ``(issue, 3, unit)`` (µg/m³)
    """
    last = f.hist[f"{pollutant}_last"]
    hourly = np.repeat(last[:, None, :], f.nleads, axis=1)
    if pollutant_info(pollutant).daily_statistic == "mda8":
        d = f.hist[f"{pollutant}_dm1"]
    else:
        d = f.hist[f"{pollutant}_m24"]
    daily = np.repeat(d[:, None, :], 3, axis=1)
    return hourly, daily


def same_hour_yesterday(f: IssueFeatures, pollutant: str) -> tuple[np.ndarray, np.ndarray]:
    """Each lead takes the value observed at the same local hour on the last observed day; the
    daily products are those of that 24-h profile (mean, or max 8-h mean of the profile)."""
    prof = f.profile24[pollutant]  # (issue, 24, unit): hours t0-24 … t0-1
    leads = np.arange(f.nleads)
    hourly = prof[:, leads % 24, :]
    h0 = int((f.issue_times.hour[0] + LOCAL_OFFSET_H) % 24)
    # reorder the profile to local hours 0…23
    order = (np.arange(24) - h0) % 24
    day = prof[:, order, :]
    if pollutant_info(pollutant).daily_statistic == "mda8":
        ext = np.concatenate([day, day[:, :7]], axis=1)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                w = np.stack([np.nanmean(ext[:, s:s + 8], axis=1) for s in range(17)], axis=1)
                d = np.nanmax(w, axis=1)
    else:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                d = np.nanmean(day, axis=1)
    return hourly, np.repeat(d[:, None, :], 3, axis=1)


class Climatology:
    """Unit × month × local-hour mean (hourly) and unit × month mean of the daily product.

    Attributes
    ----------
    hourly : dict pollutant → ndarray ``(12, 24, unit)``
    daily : dict pollutant → ndarray ``(12, unit)``
    units : list of str
    """

    def __init__(self, hourly: dict[str, np.ndarray], daily: dict[str, np.ndarray],
                 units: list[str]) -> None:
        self.hourly = hourly
        self.daily = daily
        self.units = units

    def to_dict(self) -> dict:
        """JSON-able form (nested lists, NaN → None)."""
        def clean(a: np.ndarray) -> list:
            return np.where(np.isfinite(a), np.round(a, 3), np.nan).astype(object).tolist()

        def nn(x):
            if isinstance(x, list):
                return [nn(v) for v in x]
            return None if x is None or (isinstance(x, float) and np.isnan(x)) else x

        return {"units": self.units,
                "hourly": {p: nn(clean(a)) for p, a in self.hourly.items()},
                "daily": {p: nn(clean(a)) for p, a in self.daily.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> Climatology:
        """Inverse of :meth:`to_dict`."""
        def arr(x):
            return np.array(x, dtype=float)

        return cls({p: arr(a) for p, a in d["hourly"].items()},
                   {p: arr(a) for p, a in d["daily"].items()}, list(d["units"]))


def fit_climatology(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                    until: pd.Timestamp | None = None) -> Climatology:
    """Climatology from observations before ``until`` (UTC; default all).

    Months with no data for a unit fall back to the unit's all-month mean, then the all-unit mean.
    """
    local = obs.times + pd.Timedelta(hours=LOCAL_OFFSET_H)
    sel = np.ones(len(obs.times), bool) if until is None else (obs.times < until)
    month = local.month.to_numpy() - 1
    hour = local.hour.to_numpy()
    hourly, daily = {}, {}
    import warnings

    for p, tbl in daily_obs.items():
        if p not in obs.data:
            continue
        a = obs.data[p]
        out = np.full((12, 24, a.shape[1]), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for m in range(12):
                for h in range(24):
                    rs = sel & (month == m) & (hour == h)
                    if rs.any():
                        out[m, h] = np.nanmean(a[rs], axis=0)
            fill = np.nanmean(out, axis=(0, 1))
            out = np.where(np.isfinite(out), out, fill[None, None, :])
            out = np.where(np.isfinite(out), out, np.nanmean(out))
            hourly[p] = out
            t = tbl if until is None else tbl[tbl.index < (pd.Timestamp(until).tz_convert(None)
                                                         + pd.Timedelta(hours=LOCAL_OFFSET_H))]
            dm = np.full((12, a.shape[1]), np.nan)
            for m in range(12):
                rows = t[t.index.month == m + 1]
                if len(rows):
                    dm[m] = np.nanmean(rows.to_numpy(dtype=float), axis=0)
            fill = np.nanmean(dm, axis=0)
            dm = np.where(np.isfinite(dm), dm, fill[None, :])
            daily[p] = np.where(np.isfinite(dm), dm, np.nanmean(dm))
    return Climatology(hourly, daily, list(obs.units))


def climatology_forecast(clim: Climatology, f: IssueFeatures, pollutant: str
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Climatological hourly ``(issue, lead, unit)`` and daily ``(issue, 3, unit)`` forecasts."""
    cols = [clim.units.index(u) if u in clim.units else -1 for u in f.units]
    h = clim.hourly[pollutant]
    d = clim.daily[pollutant]
    valid_local = (f.issue_times.tz_localize(None) + pd.Timedelta(hours=LOCAL_OFFSET_H))
    vt = valid_local.to_numpy()[:, None] + np.arange(f.nleads)[None, :] * np.timedelta64(1, "h")
    vt = pd.DatetimeIndex(vt.reshape(-1))
    m, hr = vt.month.to_numpy() - 1, vt.hour.to_numpy()
    hourly = h[m, hr][:, cols].reshape(len(f.issue_times), f.nleads, len(cols))
    days = pd.DatetimeIndex(valid_local.normalize())
    daily = np.stack([d[(days + pd.Timedelta(days=k)).month.to_numpy() - 1][:, cols]
                      for k in (1, 2, 3)], axis=1)
    bad = np.array(cols) < 0
    hourly[..., bad] = np.nan
    daily[..., bad] = np.nan
    return hourly, daily


def doy_climatology(daily: pd.DataFrame, *, half_window_days: int = 15, min_values: int = 10
                    ) -> pd.DataFrame:
    """Smooth day-of-year climatology of a daily product, per unit.

    The value for day of year d (:func:`day_of_year_365`) is the mean of all values on days of
    year within ``half_window_days`` of d (circular over the year, any year) — a 31-day running
    climatology by default, without the steps of a calendar-month mean.

    Parameters
    ----------
    daily : DataFrame
        Daily product (µg/m³; daily mean PM2.5 or O3 MDA8), index local dates, columns units;
        NaN = not valid.
    half_window_days : int
        Half-width of the window, days.
    min_values : int
        Fewer valid values in the window → NaN (e.g. a season the data do not cover).

    Returns
    -------
    DataFrame
        Index day of year 1…365, columns the units, µg/m³.
    """
    doy = day_of_year_365(pd.DatetimeIndex(daily.index)) - 1
    vals = daily.to_numpy(dtype=float)
    ok = np.isfinite(vals)
    sums = np.zeros((365, vals.shape[1]))
    counts = np.zeros((365, vals.shape[1]))
    np.add.at(sums, doy, np.where(ok, vals, 0.0))
    np.add.at(counts, doy, ok.astype(float))
    ws, wc = np.zeros_like(sums), np.zeros_like(counts)
    for s in range(-half_window_days, half_window_days + 1):
        ws += np.roll(sums, s, axis=0)
        wc += np.roll(counts, s, axis=0)
    with np.errstate(all="ignore"):
        clim = np.where(wc >= min_values, ws / np.maximum(wc, 1), np.nan)
    return pd.DataFrame(clim, index=pd.RangeIndex(1, 366, name="doy"), columns=daily.columns)


def day_of_year_365(dates: pd.DatetimeIndex) -> np.ndarray:
    """Day of year 1…365 on a no-leap calendar: 29 February counts as the 28th and the later
    days of a leap year keep the day number of the same date in other years."""
    d = pd.DatetimeIndex(dates)
    late = d.is_leap_year & ((d.month > 2) | ((d.month == 2) & (d.day == 29)))
    return d.day_of_year.to_numpy() - late.astype(int)


def doy_climatology_at(clim: Mapping[str, Sequence[float | None]], dates: pd.DatetimeIndex,
                       units: Sequence[str]) -> np.ndarray:
    """Look up a day-of-year climatology (unit → 365 values, see :func:`doy_climatology`).

    Returns
    -------
    ndarray ``(len(dates), len(units))`` µg/m³; NaN for units without a climatology.
    """
    d = day_of_year_365(pd.DatetimeIndex(dates)) - 1
    out = np.full((len(d), len(units)), np.nan)
    for j, u in enumerate(units):
        if u in clim:
            col = np.array([np.nan if v is None else v for v in clim[u]], dtype=float)
            out[:, j] = col[d]
    return out


def running_bias(pred: np.ndarray, obs: np.ndarray, issue_dates: pd.DatetimeIndex, *,
                 window_days: int = 28, min_days: int = 7, shrink_days: float = 14.0
                 ) -> np.ndarray:
    """Running mean error (forecast − observed) per lead day and unit, known at each issue.

    For the issue of local day D and lead day k, the errors of earlier issues D′ whose valid day
    D′ + k ended before D (D′ + k ≤ D − 1) and that were issued within ``window_days`` are
    averaged and shrunk by n / (n + ``shrink_days``); fewer than ``min_days`` errors → 0.

    Parameters
    ----------
    pred, obs : ndarray ``(issue, 3, unit)``
        Daily forecasts and outcomes (µg/m³, NaN = missing).
    issue_dates : DatetimeIndex
        Local issue dates (naive, normalised), increasing.

    Returns
    -------
    ndarray ``(issue, 3, unit)`` bias to subtract (µg/m³).
    """
    err = pred - obs
    n_iss = pred.shape[0]
    out = np.zeros_like(pred, dtype=float)
    day_num = ((issue_dates - issue_dates[0]) / pd.Timedelta(days=1)).to_numpy().astype(int)
    for i in range(n_iss):
        for k in range(3):
            lead = k + 1
            hi = day_num[i] - lead - 1  # D' ≤ D − k − 1
            lo = hi - window_days + 1
            sel = (day_num >= lo) & (day_num <= hi)
            if not sel.any():
                continue
            e = err[sel, k, :]
            n = np.isfinite(e).sum(axis=0)
            s = np.nansum(e, axis=0)
            out[i, k] = np.where(n >= min_days, s / (n + shrink_days), 0.0)
    return out


def running_spread_scale(pred: np.ndarray, obs: np.ndarray, issue_dates: pd.DatetimeIndex,
                         cal_resid: Mapping[int, Sequence[float]], c: float, *,
                         window_days: int = 28, min_errors: int = 50, shrink_errors: float = 300.0,
                         limits: tuple[float, float] = (0.5, 2.0),
                         usable: np.ndarray | None = None) -> np.ndarray:
    """Factor on the calibrated residual spread, from the spread of the recent errors.

    The conformal residuals come from a calibration season that may be stormier or calmer than
    the current one; this rescales them by the ratio of the recent 10–90 % spread of the
    log-ratio errors ``log((obs + c) / (pred + c))`` (all units pooled, issues known before each
    issue as in :func:`running_bias`) to the calibration spread, shrunk towards 1 by
    n / (n + ``shrink_errors``) and clipped to ``limits``; fewer than ``min_errors`` → 1.

    Parameters
    ----------
    pred, obs : ndarray ``(issue, 3, unit)``
        Daily forecasts as issued (after bias correction) and outcomes, µg/m³.
    issue_dates : DatetimeIndex
        Local issue dates, increasing.
    cal_resid : dict lead day → 99 residual quantiles at the levels 0.01…0.99
    c : float
        Log offset, µg/m³.
    usable : ndarray of bool ``(issue,)``, optional
        Issues whose errors may be used: those after the model's training window (errors of
        issues it was trained on are too small and would shrink the intervals).

    Returns
    -------
    ndarray ``(issue, 3)``, dimensionless.
    """
    with np.errstate(all="ignore"):
        r = np.log((np.clip(obs, 0, None) + c) / (np.clip(pred, 0, None) + c))
    out = np.ones(pred.shape[:2])
    day_num = ((issue_dates - issue_dates[0]) / pd.Timedelta(days=1)).to_numpy().astype(int)
    for k in range(3):
        q = np.asarray(cal_resid[k + 1], dtype=float)
        cal_spread = q[89] - q[9]  # levels 0.90 and 0.10
        if not cal_spread > 0:
            continue
        for i in range(pred.shape[0]):
            hi = day_num[i] - (k + 1) - 1
            sel = (day_num >= hi - window_days + 1) & (day_num <= hi)
            if usable is not None:
                sel &= usable
            e = r[sel, k, :]
            e = e[np.isfinite(e)]
            if e.size < min_errors:
                continue
            s = (np.quantile(e, 0.9) - np.quantile(e, 0.1)) / cal_spread
            w = e.size / (e.size + shrink_errors)
            out[i, k] = float(np.clip(1.0 + (s - 1.0) * w, *limits))
    return out


def choose_baseline(candidates: Mapping[str, np.ndarray], obs: np.ndarray) -> tuple[str, dict]:
    """The baseline with the lowest RMSE against ``obs`` (same shapes; NaN ignored).

    Returns
    -------
    name, dict of RMSE per candidate (µg/m³)
    """
    scores = {}
    for name, pred in candidates.items():
        ok = np.isfinite(pred) & np.isfinite(obs)
        scores[name] = float(np.sqrt(np.mean((pred[ok] - obs[ok]) ** 2))) if ok.any() \
            else float("inf")
    best = min(scores, key=scores.get)
    return best, scores
