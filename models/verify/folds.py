"""Training folds of the warning hindcast: where the trigger (median, or P(AQI > t) ≥ p) and the
O3 advisory probability are chosen, never looking at the test period.

Two schemes (``--fold-scheme``):

* ``last`` — models trained up to ``train_end − fold_days`` forecast the last ``fold_days`` of
  the training period (the first scheme). With one training year (Chengdu 2013, fold 150 days)
  the fold's models see February–July only and forecast August–December: a season they never
  saw, unlike the test year's models, which see every season.
* ``cross`` — a **season-complete cross-fitted fold**: the issue days of the training period
  are cut into consecutive blocks of ``block_days`` (30 by default), the blocks assigned
  round-robin to ``n_folds`` folds (4 by default: each fold holds out every fourth block, i.e.
  about three months spread over the year); for each fold, models trained on the other folds'
  issues (strictly inside the training period) forecast the fold's held-out blocks; the
  out-of-fold forecasts, concatenated, cover every issue day of the training period once. Each
  model is trained on about 60 % of the training year, every season represented.

Leakage at block borders (time series; the features use lags up to 30 days, the targets are
the D+1…D+3 daily products and the issue day's remaining hours):

* the **protected days** of a held-out block ``[b0, b1]`` (local issue days) are
  ``[b0, b1 + horizon_days]``: its issue days and every day its forecasts are scored on;
* a training issue ``i`` (its targets lie on days ``i … i + horizon_days``) is kept only when
  ``[i − gap_days, i + horizon_days + gap_days]`` does not touch the protected days of any of
  its fold's held-out blocks: no training target inside the block or its targets (purge), and
  ``gap_days`` more on each side (embargo against the autocorrelation of the daily series and
  the lags of the first issues after the block);
* the observed daily targets of the protected days are removed (NaN) for the fold's training —
  so also from the day-of-year climatology of the climatology blend — and from the monthly
  climatology of the baselines (:func:`models.baselines.fit_climatology`), which would
  otherwise carry the held-out month's level into its forecast. Without meteorology a block's
  day-of-year climatology then lacks the block's own weeks (NaN in the middle of the block:
  the blend leaves those days unchanged);
* the held-out forecasts are made as a backtest makes them (features from the observations
  before each issue, running bias from the errors of the days ended before it), one
  contiguous block at a time; the running spread adaptation reads the errors of the issues
  after the fold's last training issue before the block (out of sample), as in the test year.

Units: days; issue days local (Asia/Shanghai); concentrations µg/m³.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["FOLD_SCHEMES", "FoldPlan", "default_fold_scheme", "last_fold_window",
           "cross_fold_plan", "training_issue_mask", "protected_days", "mask_days",
           "cross_fitted_backtest"]

#: fold schemes of the hindcast (``auto`` resolves by :func:`default_fold_scheme`)
FOLD_SCHEMES: tuple[str, ...] = ("auto", "last", "cross")
#: a ``last`` fold is season-complete for its models only when the training period before it
#: spans a full year: with ``fold_days`` = 365 that takes two years of observations
MIN_DAYS_FOR_LAST: int = 2 * 365


def default_fold_scheme(first_obs_day: Any, train_end: Any,
                        min_days: int = MIN_DAYS_FOR_LAST) -> Literal["last", "cross"]:
    """The fold scheme a hindcast uses unless told: ``cross`` when the observations of the
    training period span fewer than ``min_days`` days (the ``last`` fold's models would not
    see every season before the fold), else ``last``. Reads the training period only.

    Parameters
    ----------
    first_obs_day, train_end : date-like
        First local day with an observation; last training day (inclusive).
    min_days : int
        Days of observations from which ``last`` is used (default 730: two years).

    Returns
    -------
    {"last", "cross"}
    """
    span = (pd.Timestamp(train_end).normalize() - pd.Timestamp(first_obs_day).normalize()).days
    return "cross" if span + 1 < min_days else "last"


def last_fold_window(train_end: Any, fold_days: int, horizon_days: int = 3
                     ) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """The ``last`` fold: (last training day of its models, first and last issue day scored).

    The last issue day is ``train_end − horizon_days``: its D+``horizon_days`` is the last
    training day.
    """
    end = pd.Timestamp(train_end).normalize()
    start = end - pd.Timedelta(days=fold_days - 1)
    return start - pd.Timedelta(days=1), start, end - pd.Timedelta(days=horizon_days)


@dataclasses.dataclass
class FoldPlan:
    """The cross-fitted fold of a training period.

    Attributes
    ----------
    issue_days : DatetimeIndex
        Every issue day of the training period (local, midnight), ascending.
    fold : ndarray of int
        Fold of each issue day (the fold that holds it out).
    blocks : list of (int, Timestamp, Timestamp)
        Held-out blocks: fold, first and last issue day.
    horizon_days, gap_days : int
        Lead days of the targets; embargo days on each side of a block's protected days.
    """

    issue_days: pd.DatetimeIndex
    fold: np.ndarray
    blocks: list[tuple[int, pd.Timestamp, pd.Timestamp]]
    horizon_days: int
    gap_days: int

    @property
    def n_folds(self) -> int:
        """Number of folds with at least one block."""
        return len({b[0] for b in self.blocks})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON): the blocks and the settings."""
        return {"scheme": "cross", "n_folds": self.n_folds, "horizon_days": self.horizon_days,
                "gap_days": self.gap_days,
                "first_issue_day": str(self.issue_days[0].date()),
                "last_issue_day": str(self.issue_days[-1].date()),
                "blocks": [{"fold": int(f), "first": str(a.date()), "last": str(b.date())}
                           for f, a, b in self.blocks]}


def cross_fold_plan(first_issue_day: Any, last_issue_day: Any, *, n_folds: int = 4,
                    block_days: int = 30, horizon_days: int = 3, gap_days: int = 3) -> FoldPlan:
    """Cut the issue days ``first … last`` into blocks of ``block_days`` assigned round-robin
    to ``n_folds`` folds.

    Parameters
    ----------
    first_issue_day, last_issue_day : date-like
        Local issue days of the training period (the last one's D+``horizon_days`` is the
        last training day).
    n_folds : int
        Folds (≥ 2).
    block_days : int
        Days per block (≥ 1); a last block shorter than half of it joins the one before.
    horizon_days : int
        Lead days of the forecasts (targets up to D+``horizon_days``).
    gap_days : int
        Embargo days on each side of a held-out block's protected days (≥ 0).

    Returns
    -------
    FoldPlan

    Raises
    ------
    ValueError
        Fewer than two folds, fewer blocks than folds, or a negative gap.
    """
    if n_folds < 2 or block_days < 1 or gap_days < 0:
        raise ValueError(f"cross-fitted fold: need n_folds ≥ 2, block_days ≥ 1, gap_days ≥ 0; "
                         f"got {n_folds}, {block_days}, {gap_days}")
    days = pd.date_range(pd.Timestamp(first_issue_day).normalize(),
                         pd.Timestamp(last_issue_day).normalize(), freq="D")
    block = np.arange(len(days)) // block_days
    n_full, rest = divmod(len(days), block_days)
    if 0 < rest < block_days / 2 and n_full > 0:  # a short tail joins the block before it
        block[block == n_full] = n_full - 1
    if block.max(initial=-1) + 1 < n_folds:
        raise ValueError(f"cross-fitted fold: {len(days)} issue days ({first_issue_day} … "
                         f"{last_issue_day}) make {block.max(initial=-1) + 1} blocks of {block_days} days, fewer "
                         f"than n_folds = {n_folds}")
    fold = block % n_folds
    blocks = [(int(b % n_folds), days[block == b][0], days[block == b][-1])
              for b in range(int(block.max()) + 1)]
    return FoldPlan(days, fold, blocks, horizon_days, gap_days)


def protected_days(plan: FoldPlan, fold: int) -> pd.DatetimeIndex:
    """The protected days of a fold (see the module docstring): each held-out block's issue
    days and the days its forecasts are scored on (``b0 … b1 + horizon_days``)."""
    parts = [pd.date_range(a, b + pd.Timedelta(days=plan.horizon_days), freq="D")
             for f, a, b in plan.blocks if f == fold]
    return pd.DatetimeIndex(np.unique(np.concatenate([p.to_numpy() for p in parts]))) \
        if parts else pd.DatetimeIndex([])


def training_issue_mask(plan: FoldPlan, fold: int) -> np.ndarray:
    """Which issue days of the plan train the models of ``fold``: ``[i − gap, i + horizon +
    gap]`` clear of every protected day of the fold.

    Returns
    -------
    ndarray of bool, one per ``plan.issue_days``
    """
    prot = protected_days(plan, fold)
    keep = np.ones(len(plan.issue_days), dtype=bool)
    lo, hi = plan.gap_days, plan.horizon_days + plan.gap_days
    for f, a, b in plan.blocks:
        if f != fold:
            continue
        p0, p1 = a, b + pd.Timedelta(days=plan.horizon_days)
        # i + hi ≥ p0 and i − lo ≤ p1  ⇔  the widened window touches [p0, p1]
        keep &= ~((plan.issue_days >= p0 - pd.Timedelta(days=hi))
                  & (plan.issue_days <= p1 + pd.Timedelta(days=lo)))
    assert not np.isin(plan.issue_days[keep], prot).any()
    return keep


def mask_days(daily: dict[str, pd.DataFrame], days: pd.DatetimeIndex
              ) -> dict[str, pd.DataFrame]:
    """Copies of the daily target tables (index local dates) with ``days`` set to NaN."""
    out = {}
    for p, tbl in daily.items():
        t = tbl.copy()
        t.loc[pd.DatetimeIndex(t.index).normalize().isin(days)] = np.nan
        out[p] = t
    return out


def _mask_panel(obs: Any, days: pd.DatetimeIndex) -> Any:
    """A copy of an hourly :class:`features.build.Panel` with the hours of local ``days``
    set to NaN."""
    from airwarn.features.build import LOCAL_OFFSET_H, Panel

    local = (obs.times.tz_convert(None) + pd.Timedelta(hours=LOCAL_OFFSET_H)).normalize()
    rows = np.asarray(local.isin(days))
    return Panel(obs.times, list(obs.units),
                 {k: np.where(rows[:, None], np.nan, v) for k, v in obs.data.items()})


def cross_fitted_backtest(data: Any, *, train_end: Any, met: Literal["perfect", "none"],
                          settings: Any, quantiles: Sequence[float], issue_hour: int = 12,
                          pollutants: Sequence[str] | None = None, hourly: bool = False,
                          n_folds: int = 4, block_days: int = 30, gap_days: int = 3,
                          warmup_days: int = 31,
                          progress: Callable[[str], None] | None = None
                          ) -> tuple[xr.Dataset, dict[str, Any]]:
    """Out-of-fold forecasts of every issue day of the training period (see the module
    docstring), shaped like :func:`models.backtest.run_backtest`'s batch.

    Parameters
    ----------
    data : DomainData
        :func:`models.backtest.load_domain_data`; nothing after ``train_end`` is used as a
        target or in a climatology (observations after it are read only as the history of
        issues whose D+3 ends by ``train_end``: none are).
    train_end : date-like
        Last training day (local); the last issue day is ``train_end − 3``.
    met : {"perfect", "none"}
    settings : ModelSettings
    quantiles : sequence of float
    issue_hour : int
        Local issue hour.
    pollutants : sequence of str, optional
        Targets to train (default the backtest's).
    hourly : bool
        Train the hourly models too.
    n_folds, block_days, gap_days : int
        :func:`cross_fold_plan`.
    warmup_days : int
        Days of history before the first issue.
    progress : callable, optional

    Returns
    -------
    (Dataset with a leading ``issue_time`` dim: every issue day once, ascending; info dict:
    the plan, per fold the training issue days and the seconds)
    """
    from airwarn.features.build import build_issue_features
    from airwarn.models.backtest import backtest_inputs, issue_times_between, to_forecast_units
    from airwarn.models.baselines import fit_climatology
    from airwarn.models.fanout import train_pollutants
    from airwarn.models.forecast import TARGETS, forecast_arrays, forecast_dataset

    from airwarn.core.timeutil import LOCAL_TZ

    say = progress or (lambda s: None)
    horizon = 3
    obs, daily_obs, met_source, first = backtest_inputs(data, met, warmup_days=warmup_days)
    end = pd.Timestamp(train_end).normalize()
    plan = cross_fold_plan(first, end - pd.Timedelta(days=horizon), n_folds=n_folds,
                           block_days=block_days, horizon_days=horizon, gap_days=gap_days)
    its = issue_times_between(plan.issue_days[0], plan.issue_days[-1], issue_hour)
    feats = build_issue_features(obs, its, met_source, geometry=data.geometry, daily=daily_obs)
    after_end = pd.date_range(end + pd.Timedelta(days=1),
                              pd.Timestamp(obs.times[-1].tz_convert(None)).normalize()
                              + pd.Timedelta(days=2), freq="D")
    until = (end + pd.Timedelta(days=1)).tz_localize(LOCAL_TZ).tz_convert("UTC")
    parts: list[xr.Dataset] = []
    attrs = {"model_version": f"backtest-{met}", "source": data.source,
             "inputs": json.dumps({"met": met, "fold": "cross-fitted"}),
             "fold": json.dumps(plan.to_dict())}
    info: dict[str, Any] = {**plan.to_dict(), "folds": []}
    for j in sorted({b[0] for b in plan.blocks}):
        t0 = time.perf_counter()
        keep = training_issue_mask(plan, j)
        prot = protected_days(plan, j)
        hidden = prot.union(after_end)
        say(f"cross-fitted fold {j + 1}/{plan.n_folds}: training on {int(keep.sum())} of "
            f"{len(keep)} issue days …")
        models = train_pollutants(obs, mask_days(daily_obs, hidden), [feats.take(keep)],
                                  list(pollutants or TARGETS), settings, hourly=hourly,
                                  progress=say)
        clim = fit_climatology(_mask_panel(obs, prot), mask_days(daily_obs, prot), until=until)
        t1 = time.perf_counter()
        train_days = plan.issue_days[keep]
        for f, a, b in plan.blocks:
            if f != j:
                continue
            sel = np.asarray((plan.issue_days >= a) & (plan.issue_days <= b))
            before = train_days[train_days < a]
            last = (before[-1] if len(before) else a - pd.Timedelta(days=1)) \
                + pd.Timedelta(hours=issue_hour)
            last_utc = last.tz_localize(LOCAL_TZ).tz_convert("UTC").isoformat()
            # out-of-sample errors (for the running spread) are those after the fold's last
            # training issue before the block, as after train_end in the test year
            bm = {p: dataclasses.replace(m, info={**m.info, "train_last_issue": last_utc})
                  for p, m in models.items()}
            fa = forecast_arrays(obs, daily_obs, its[sel], met_source,
                                 {p: bm.get(p) for p in TARGETS}, settings=settings,
                                 quantiles=quantiles, climatology=clim, geometry=data.geometry,
                                 feats=feats.take(sel),
                                 model_problems={p: ["not trained in this domain"]
                                                 for p in TARGETS if p not in bm})
            fa, names, points = to_forecast_units(fa, data)
            parts.append(forecast_dataset(fa, region_names=names, attrs=attrs, batch=True,
                                          points=points))
        info["folds"].append({"fold": int(j), "train_issue_days": [str(d.date())
                                                                   for d in train_days],
                              "train_seconds": round(t1 - t0, 1),
                              "forecast_seconds": round(time.perf_counter() - t1, 1)})
    ds = xr.concat(parts, dim="issue_time", data_vars="minimal", coords="minimal",
                   compat="override", join="outer", combine_attrs="override") \
        .sortby("issue_time")
    return ds, info
