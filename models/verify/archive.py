"""Verification of a forecast archive or backtest: the tables behind the monthly 会商 report.

:func:`verify_archive` reads forecasts (run files or a backtest NetCDF), matches them to unit
observations (:mod:`models.verify.match`) and returns a :class:`VerificationResult` of plain
DataFrames: continuous scores per pollutant × unit/group × lead hour and lead day with block-bootstrap
confidence intervals, the Chinese operational measures (T4.1), categorical scores at the warning
thresholds (T4.2) with onset timing and a level confusion matrix, probabilistic scores (interval
coverage, quantile CRPS, Brier score and reliability), warning verification (T2.5) and data
availability. :func:`compare_systems` tests whether one system beats another (Diebold–Mariano
with HAC variance plus a paired block-bootstrap interval of the mean loss difference).

Units: concentrations µg/m³, AQI dimensionless, leads in hours, lead days 1–3, scores as in
:mod:`models.verify.scores`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs import AirwarnConfig
from airwarn.configs.schema import Region
from airwarn.configs.verification_schema import VerificationSettings, load_verification
from airwarn.models.verify import scores as sc
from airwarn.models.verify.match import (
    DAILY_VARS,
    POLLUTANTS,
    Matched,
    load_obs_units,
    match_forecasts,
    read_forecast_archive,
)
from airwarn.models.verify.stats import (
    block_bootstrap_weights,
    diebold_mariano,
    percentile_interval,
)
from airwarn.models.verify.warning_verify import (
    decisions_from_register,
    read_decisions,
    verify_warnings,
)

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["ALL", "TABLES", "VerificationResult", "verify_archive", "verify_matched",
           "compare_systems", "unit_groups"]

#: Name of the pooled group of all units.
ALL = "ALL"
#: Table names of a :class:`VerificationResult`.
TABLES: tuple[str, ...] = (
    "continuous_hourly", "continuous_hourly_by_day", "continuous_daily", "chinese", "categorical", "onset", "confusion",
    "probabilistic_hourly", "probabilistic_daily", "brier", "reliability", "warnings_by_level",
    "warnings_by_lead_day", "warnings_list", "warnings_misses", "availability", "daily_series",
    "comparison",
)
_CI_SCORES = ("mb", "mae", "rmse", "r", "skill_persistence", "skill_climatology")


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(v) else pd.Timestamp(v).isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


@dataclass
class VerificationResult:
    """Verification tables (pandas DataFrames) and metadata; JSON-serialisable.

    Attributes
    ----------
    tables : dict of str → pandas.DataFrame
        See :data:`TABLES`; a table may be empty when its inputs are absent (e.g. no quantiles).
    meta : dict
        ``period`` (local dates), ``n_issues``, ``issue_first``/``issue_last``, ``units``,
        ``model_versions``, ``settings`` (the verification settings used).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ``{"meta": …, "tables": {name: [row dicts]}}`` (NaN → null)."""
        return {"meta": _clean(self.meta),
                "tables": {k: [_clean(r) for r in v.to_dict(orient="records")]
                           for k, v in self.tables.items()}}

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as UTF-8 JSON atomically (``features.atomic``)."""
        from airwarn.features.atomic import write_text_atomic

        return write_text_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1,
                                                  allow_nan=False))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationResult:
        """Inverse of :meth:`to_dict` (nulls become NaN in numeric columns)."""
        return cls(tables={k: pd.DataFrame(v) for k, v in data.get("tables", {}).items()},
                   meta=dict(data.get("meta", {})))


def unit_groups(regions: Sequence[str], region_cfg: Region | None = None) -> dict[str, list[int]]:
    """Pooling groups: every unit, its regional group (``Unit.group``) and ``ALL``.

    Returns
    -------
    dict
        Group name → positions of its units in ``regions``; units first, then groups, then ALL.
    """
    out: dict[str, list[int]] = {r: [i] for i, r in enumerate(regions)}
    if region_cfg is not None:
        known = set(region_cfg.unit_ids)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(regions):
            if r in known:
                groups.setdefault(region_cfg.unit(r).group, []).append(i)
        for g, idx in groups.items():
            if g not in out:
                out[g] = idx
    out[ALL] = list(range(len(regions)))
    return out


# ----------------------------------------------------------------------------------------------
# Continuous tables
# ----------------------------------------------------------------------------------------------


def _day_codes(issue_day: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(pd.DatetimeIndex(issue_day), sort=True)
    return codes, len(uniq)


def _continuous_table(f: np.ndarray, o: np.ndarray, pe: np.ndarray | None, cl: np.ndarray | None,
                      codes: np.ndarray, n_days: int, groups: dict[str, list[int]],
                      settings: VerificationSettings, weights: np.ndarray | None,
                      lead_name: str, leads: np.ndarray,
                      day_off: np.ndarray | None = None) -> pd.DataFrame:
    """Scores per group × lead from arrays (issue, region, lead), with bootstrap CIs.

    With ``day_off`` (issue, lead) the lead hours are pooled per natural lead day: column j of
    the result is lead day ``leads[j]`` (hours whose ``day_off`` equals it).
    """
    elem = sc.continuous_sums(f, o, (), pe, cl)  # (I, R, L, K)
    if day_off is not None:
        elem = np.stack([(elem * (day_off == k)[:, None, :, None]).sum(axis=2) for k in leads],
                        axis=2)  # (I, R, days, K)
    per_day = np.zeros((n_days,) + elem.shape[1:])
    np.add.at(per_day, codes, elem)
    rows = []
    conf = settings.bootstrap.confidence
    for g, idx in groups.items():
        gs = per_day[:, idx].sum(axis=1)  # (D, L, K)
        point = sc.scores_from_sums(gs.sum(axis=0))
        if day_off is None:
            point["ioa"] = sc.ioa(f[:, idx].reshape(-1, f.shape[2]),
                                  o[:, idx].reshape(-1, o.shape[2]), axis=0)
        else:
            sel = [(day_off == k)[:, None, :] & np.ones((1, len(idx), 1), bool) for k in leads]
            point["ioa"] = np.array([float(sc.ioa(f[:, idx][m], o[:, idx][m])) for m in sel])
        ci: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if weights is not None and n_days > 1:
            rep = sc.scores_from_sums(np.tensordot(weights.astype(float), gs, axes=(1, 0)))  # (B, L, K)→scores
            for k in _CI_SCORES:
                ci[k] = percentile_interval(rep[k], conf, axis=0)
        for j, ld in enumerate(leads):
            row: dict[str, Any] = {"group": g, lead_name: int(ld)}
            for k, v in point.items():
                row[k] = float(v[j]) if k != "n" else int(v[j])
            for k, (lo, hi) in ci.items():
                row[f"{k}_lo"], row[f"{k}_hi"] = float(lo[j]), float(hi[j])
            rows.append(row)
    return pd.DataFrame(rows)


def _continuous(m: Matched, groups: dict[str, list[int]], settings: VerificationSettings,
                bootstrap: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Continuous tables: hourly values per lead hour, daily products per lead day, and hourly
    values pooled per natural lead day (the local day of the valid time − the issue day)."""
    codes, n_days = _day_codes(m.issue_day)
    b = settings.bootstrap
    w = block_bootstrap_weights(n_days, b.n_resamples, b.block_days, b.seed) if bootstrap else None
    hourly, daily, hourly_day = [], [], []
    h = m.hourly
    vt = pd.DatetimeIndex(h["valid_time"].values.ravel()).tz_localize("UTC")
    vday = vt.tz_convert(LOCAL_TZ).tz_localize(None).normalize().to_numpy() \
        .reshape(h["valid_time"].shape)
    day_off = ((vday - m.issue_day[:, None]) // np.timedelta64(1, "D")).astype(int)  # (I, L)
    days = np.asarray(settings.lead_days)
    for p in POLLUTANTS:
        if f"fc_{p}" not in h:
            continue
        arrs = [h[f"{k}_{p}"].values for k in ("fc", "obs", "pers", "clim")]
        t = _continuous_table(*arrs, codes, n_days, groups, settings, w, "lead", h["lead"].values)
        t.insert(0, "variable", p)
        hourly.append(t)
        t = _continuous_table(*arrs, codes, n_days, groups, settings, w, "lead_day", days,
                              day_off=day_off)
        t.insert(0, "variable", p)
        hourly_day.append(t)
    for v in DAILY_VARS:
        if f"fc_{v}" not in m.daily:
            continue
        d = m.daily
        t = _continuous_table(d[f"fc_{v}"].values, d[f"obs_{v}"].values, d[f"pers_{v}"].values,
                              d[f"clim_{v}"].values, codes, n_days, groups, settings, w,
                              "lead_day", d["day"].values)
        t.insert(0, "variable", v)
        daily.append(t)
    def cat(x: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(x, ignore_index=True) if x else pd.DataFrame()

    return cat(hourly), cat(daily), cat(hourly_day)


# ----------------------------------------------------------------------------------------------
# Chinese operational measures, categorical, onset, confusion
# ----------------------------------------------------------------------------------------------


def _aqi_range(m: Matched, settings: VerificationSettings) -> tuple[np.ndarray, np.ndarray]:
    d = m.daily
    med = d["fc_aqi"].values
    r = settings.aqi_range
    if r.method == "quantile" and "q_aqi" in d and "quantile" in d.coords:
        qs = d["quantile"].values
        have = [np.isclose(qs, q).any() for q in r.quantiles]
        if all(have):
            lo = d["q_aqi"].sel(quantile=r.quantiles[0], method="nearest").values
            hi = d["q_aqi"].sel(quantile=r.quantiles[1], method="nearest").values
            return np.minimum(lo, med), np.maximum(hi, med)
    return med - r.half_width, med + r.half_width


def _chinese(m: Matched, groups: dict[str, list[int]], settings: VerificationSettings) -> pd.DataFrame:
    d = m.daily
    if "fc_aqi" not in d:
        return pd.DataFrame()
    lo, hi = _aqi_range(m, settings)
    rows = []
    for g, idx in groups.items():
        for k, ld in enumerate(d["day"].values):
            o = d["obs_aqi"].values[:, idx, k].ravel()
            f = d["fc_aqi"].values[:, idx, k].ravel()
            lo_, hi_ = lo[:, idx, k].ravel(), hi[:, idx, k].ravel()
            n = int(np.sum(~np.isnan(o) & ~np.isnan(f)))
            row = {"group": g, "lead_day": int(ld), "n": n,
                   "level_accuracy": sc.level_accuracy(o, lo_, hi_, f, settings.aqi_range.max_levels),
                   "exact_level_accuracy": sc.exact_level_accuracy(o, f),
                   "within_one_level": sc.within_one_level_accuracy(o, f),
                   "range_accuracy": sc.range_accuracy(o, lo_, hi_),
                   "half_level_accuracy": sc.half_level_accuracy(o, f, settings.half_level_upper)}
            if "fc_primary" in d:
                row["primary_accuracy"] = sc.primary_accuracy(
                    d["obs_primary"].values[:, idx, k].ravel(),
                    d["fc_primary"].values[:, idx, k].ravel(), o, settings.primary_min_aqi)
            else:
                row["primary_accuracy"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _categorical(m: Matched, groups: dict[str, list[int]],
                 settings: VerificationSettings) -> pd.DataFrame:
    d = m.daily
    rows = []
    for ev in settings.events:
        if f"fc_{ev.variable}" not in d:
            continue
        f = d[f"fc_{ev.variable}"].values
        o = d[f"obs_{ev.variable}"].values
        with np.errstate(invalid="ignore"):
            fe = np.where(np.isnan(f), np.nan, f > ev.threshold)
            oe = np.where(np.isnan(o), np.nan, o > ev.threshold)
        for g, idx in groups.items():
            for k, ld in enumerate(d["day"].values):
                cnt = sc.contingency_counts(fe[:, idx, k], oe[:, idx, k])
                s = sc.categorical_scores(**cnt)
                rows.append({"event": ev.name, "label_zh": ev.label_zh, "variable": ev.variable,
                             "threshold": ev.threshold, "group": g, "lead_day": int(ld), **cnt,
                             **{k2: float(v) for k2, v in s.items()}})
    return pd.DataFrame(rows)


def _latest_per_date(m: Matched, var: str, k: int) -> pd.DataFrame:
    """Forecast at lead day index k as a (date × region) table, the latest issue per date."""
    d = m.daily
    dates = pd.DatetimeIndex(d["date"].values[:, k])
    vals = d[var].values[:, :, k]
    df = pd.DataFrame(vals, columns=[str(r) for r in d["region"].values])
    df["date"] = dates
    return df.groupby("date").last()


def _onset(m: Matched, settings: VerificationSettings, window: int = 3) -> pd.DataFrame:
    """Onset timing error (days) of the first exceedance of each observed episode."""
    d = m.daily
    od = m.obs_daily
    if od.empty:
        return pd.DataFrame()
    rows = []
    ocols = {"aqi": "aqi", "pm25": "pm25", "o3_mda8": "o3_8h_max"}
    for ev in settings.events:
        if f"fc_{ev.variable}" not in d:
            continue
        og = od.pivot_table(index="date", columns="unit_id", values=ocols[ev.variable],
                            aggfunc="first")
        for k, ld in enumerate(d["day"].values):
            fg = _latest_per_date(m, f"fc_{ev.variable}", k)
            errs: list[int] = []
            n_onsets = 0
            for u in fg.columns:
                if u not in og.columns:
                    continue
                obs_s = og[u].sort_index()
                if fg.index.empty:
                    continue
                obs_s = obs_s.loc[fg.index.min():fg.index.max()]
                ev_o = obs_s > ev.threshold
                prev = obs_s.shift(1, freq="D").reindex(obs_s.index)
                onsets = obs_s.index[ev_o.to_numpy() & (prev <= ev.threshold).to_numpy()]
                fser = fg[u]
                for t0 in onsets:
                    n_onsets += 1
                    win = fser.loc[t0 - pd.Timedelta(days=window): t0 + pd.Timedelta(days=window)]
                    hit_days = win.index[(win > ev.threshold).to_numpy()]
                    if len(hit_days):
                        errs.append(int((hit_days[0] - t0).days))
            e = np.asarray(errs, dtype=float)
            rows.append({"event": ev.name, "lead_day": int(ld), "n_onsets": n_onsets,
                         "n_detected": int(e.size),
                         "mean_error_days": float(e.mean()) if e.size else np.nan,
                         "mae_days": float(np.abs(e).mean()) if e.size else np.nan,
                         "early": int((e < 0).sum()), "on_time": int((e == 0).sum()),
                         "late": int((e > 0).sum())})
    return pd.DataFrame(rows)


def _confusion(m: Matched) -> pd.DataFrame:
    d = m.daily
    if "fc_aqi" not in d:
        return pd.DataFrame()
    rows = []
    for k, ld in enumerate(d["day"].values):
        o = sc.aqi_levels(d["obs_aqi"].values[:, :, k].ravel())
        f = sc.aqi_levels(d["fc_aqi"].values[:, :, k].ravel())
        ok = (o > 0) & (f > 0)
        mat = np.zeros((6, 6), dtype=int)
        np.add.at(mat, (o[ok] - 1, f[ok] - 1), 1)
        for i in range(6):
            for j in range(6):
                rows.append({"lead_day": int(ld), "obs_level": i + 1, "fc_level": j + 1,
                             "count": int(mat[i, j])})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Probabilistic
# ----------------------------------------------------------------------------------------------


def _probabilistic(ds: xr.Dataset, names: Iterable[str], lead_dim: str,
                   settings: VerificationSettings) -> pd.DataFrame:
    rows = []
    if "quantile" not in ds.coords:
        return pd.DataFrame()
    qs = ds["quantile"].values.astype(float)
    lo_q, hi_q = settings.interval
    has_int = np.isclose(qs, lo_q).any() and np.isclose(qs, hi_q).any()
    for v in names:
        if f"q_{v}" not in ds:
            continue
        q = ds[f"q_{v}"].transpose("issue_time", "region", lead_dim, "quantile").values
        o = ds[f"obs_{v}"].transpose("issue_time", "region", lead_dim).values
        crps = sc.pinball_crps(o, q, qs)
        for j, ld in enumerate(ds[lead_dim].values):
            row: dict[str, Any] = {"variable": v, lead_dim: int(ld)}
            cj = crps[:, :, j]
            row["crps"] = float(np.nanmean(cj)) if np.isfinite(cj).any() else np.nan
            if has_int:
                il = int(np.argmin(np.abs(qs - lo_q)))
                ih = int(np.argmin(np.abs(qs - hi_q)))
                cov, n = sc.interval_coverage(o[:, :, j], q[:, :, j, il], q[:, :, j, ih])
                row["coverage"], row["nominal"], row["n"] = cov, hi_q - lo_q, n
            rows.append(row)
    return pd.DataFrame(rows)


def _brier(m: Matched, settings: VerificationSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = m.daily
    rows, rel = [], []
    for ev in settings.events:
        if not ev.probability or ev.probability not in d or f"obs_{ev.variable}" not in d:
            continue
        o = d[f"obs_{ev.variable}"].values
        with np.errstate(invalid="ignore"):
            oe = np.where(np.isnan(o), np.nan, (o > ev.threshold).astype(float))
        p = d[ev.probability].values
        for k, ld in enumerate(list(d["day"].values) + [None]):
            sl = (slice(None), slice(None), k) if ld is not None else (Ellipsis,)
            bs, n = sc.brier_score(p[sl], oe[sl])
            ok = ~(np.isnan(p[sl]) | np.isnan(oe[sl]))
            base = float(np.mean(oe[sl][ok])) if n else np.nan
            ref = base * (1 - base) if n else np.nan
            rows.append({"event": ev.name, "probability": ev.probability,
                         "lead_day": 0 if ld is None else int(ld), "n": n, "brier": bs,
                         "base_rate": base,
                         "bss": 1 - bs / ref if n and ref and ref > 0 else np.nan})
            t = sc.reliability_table(p[sl], oe[sl], settings.reliability_bins)
            for b in range(len(t["count"])):
                rel.append({"event": ev.name, "lead_day": 0 if ld is None else int(ld),
                            "bin_lower": float(t["bin_lower"][b]),
                            "bin_upper": float(t["bin_upper"][b]),
                            "mean_prob": float(t["mean_prob"][b]),
                            "obs_freq": float(t["obs_freq"][b]), "count": int(t["count"][b])})
    return pd.DataFrame(rows), pd.DataFrame(rel)


# ----------------------------------------------------------------------------------------------
# Availability and series
# ----------------------------------------------------------------------------------------------


def _availability(m: Matched, obs_units: pd.DataFrame, period: tuple[Any, Any] | None,
                  settings: VerificationSettings) -> pd.DataFrame:
    regions = [str(r) for r in m.hourly["region"].values]
    if period is not None:
        p0, p1 = pd.Timestamp(period[0]).normalize(), pd.Timestamp(period[1]).normalize()
    else:
        dd = pd.DatetimeIndex(m.daily["date"].values.ravel())
        p0, p1 = dd.min(), dd.max()
    n_days = int((p1 - p0).days) + 1 if pd.notna(p0) else 0
    t0 = pd.Timestamp(p0).tz_localize(LOCAL_TZ).tz_convert("UTC") if n_days else None
    rows = []
    ob = obs_units
    if len(ob) and t0 is not None:
        tt = pd.DatetimeIndex(ob["time"])
        sel = (tt >= t0) & (tt < t0 + pd.Timedelta(days=n_days))
        ob = ob[np.asarray(sel)]
    od = m.obs_daily
    if len(od) and n_days:
        od = od[(od["date"] >= p0) & (od["date"] <= p1)]
    fcnt = {p: np.isfinite(m.hourly[f"fc_{p}"].values).any(axis=2).sum(axis=0)
            for p in POLLUTANTS if f"fc_{p}" in m.hourly}
    for i, u in enumerate(regions):
        row: dict[str, Any] = {"unit_id": u, "hours_expected": n_days * 24}
        sub = ob[ob["unit_id"].astype(str) == u] if len(ob) else ob
        for p in POLLUTANTS:
            row[f"{p}_valid_hours"] = int(sub[p].notna().sum()) if p in getattr(sub, "columns", []) \
                else 0
        dsub = od[od["unit_id"].astype(str) == u] if len(od) else od
        row["aqi_valid_days"] = int(dsub["aqi"].notna().sum()) if len(dsub) else 0
        row["days_expected"] = n_days
        row["valid_fraction"] = row["aqi_valid_days"] / n_days if n_days else np.nan
        row["forecasts"] = int(max((v[i] for v in fcnt.values()), default=0))
        row["flag"] = bool(n_days and row["valid_fraction"] < settings.report.min_valid_fraction)
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_comparison(m: Matched, settings: VerificationSettings) -> pd.DataFrame:
    """Is the forecast significantly better than persistence / climatology? (DM per lead day)."""
    d = m.daily
    parts = []
    for v in DAILY_VARS:
        if f"fc_{v}" not in d:
            continue
        for ref, label in (("pers", "persistence"), ("clim", "climatology")):
            ra = d[f"{ref}_{v}"].where(d[f"obs_{v}"].notnull())
            if not np.isfinite(ra.values).any():
                continue
            t = compare_systems(d[f"fc_{v}"], ra, d[f"obs_{v}"], by=("day",), settings=settings,
                                names=("forecast", label))
            t.insert(0, "reference", label)
            t.insert(0, "variable", v)
            parts.append(t.rename(columns={"day": "lead_day"}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _daily_series(m: Matched) -> pd.DataFrame:
    """Daily observations and the D+1…D+3 forecasts valid on each date (latest issue per date)."""
    d = m.daily
    parts = []
    for v in DAILY_VARS:
        if f"fc_{v}" not in d:
            continue
        for k, ld in enumerate(d["day"].values):
            fg = _latest_per_date(m, f"fc_{v}", k)
            og = _latest_per_date(m, f"obs_{v}", k)
            long = fg.stack(future_stack=True).rename("forecast").to_frame()
            long["observed"] = og.stack(future_stack=True)
            long = long.reset_index().rename(columns={"level_1": "unit_id"})
            long.columns = ["date", "unit_id", "forecast", "observed"]
            long["variable"] = v
            long["lead_day"] = int(ld)
            parts.append(long)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    out = out[out["forecast"].notna() | out["observed"].notna()].reset_index(drop=True)
    out["date"] = pd.DatetimeIndex(out["date"]).strftime("%Y-%m-%d")
    return out


# ----------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------


def verify_matched(m: Matched, obs_units: pd.DataFrame, *,
                   settings: VerificationSettings | None = None, region: Region | None = None,
                   decisions: Iterable[dict[str, Any]] | None = None,
                   period: tuple[Any, Any] | None = None, bootstrap: bool = True) -> VerificationResult:
    """All verification tables from already matched data (see :func:`verify_archive`;
    ``decisions=None`` leaves the warnings unverified)."""
    settings = settings or load_verification()
    regions = [str(r) for r in m.hourly["region"].values]
    groups = unit_groups(regions, region)
    cont_h, cont_d, cont_hd = _continuous(m, groups, settings, bootstrap)
    brier, rel = _brier(m, settings)
    tables: dict[str, pd.DataFrame] = {
        "continuous_hourly": cont_h, "continuous_daily": cont_d,
        "continuous_hourly_by_day": cont_hd,
        "chinese": _chinese(m, groups, settings), "categorical": _categorical(m, groups, settings),
        "onset": _onset(m, settings), "confusion": _confusion(m),
        "probabilistic_hourly": _probabilistic(m.hourly, POLLUTANTS, "lead", settings),
        "probabilistic_daily": _probabilistic(m.daily, DAILY_VARS, "day", settings)
        .rename(columns={"day": "lead_day"}),
        "brier": brier, "reliability": rel,
        "availability": _availability(m, obs_units, period, settings),
        "daily_series": _daily_series(m),
    }
    tables["comparison"] = _reference_comparison(m, settings)
    ladders = None
    if region is not None:
        ladders = {u: region.unit(u).ladder for u in regions if u in set(region.unit_ids)}
    if decisions is not None:  # None = no warning record at all (e.g. a backtest): not verified
        wv = verify_warnings(decisions, m.obs_daily, settings, ladders=ladders, period=period)
        tables.update({"warnings_list": wv["list"], "warnings_by_level": wv["by_level"],
                       "warnings_by_lead_day": wv["by_lead_day"], "warnings_misses": wv["misses"]})
    else:
        tables.update({k: pd.DataFrame() for k in ("warnings_list", "warnings_by_level",
                                                     "warnings_by_lead_day", "warnings_misses")})
    it = pd.DatetimeIndex(m.hourly["issue_time"].values).tz_localize("UTC")
    meta = {
        "period": None if period is None else [str(pd.Timestamp(period[0]).date()),
                                               str(pd.Timestamp(period[1]).date())],
        "n_issues": int(len(it)),
        "issue_first": it.min().isoformat() if len(it) else None,
        "issue_last": it.max().isoformat() if len(it) else None,
        "units": regions, "groups": [g for g in groups if g not in regions],
        "model_versions": m.model_versions,
        "forecast_source": m.source,
        "warnings_verified": decisions is not None,
        "area": "成渝" if region is not None and set(regions) & set(region.unit_ids) else "",
        "points": {u: [region.unit(u).point.lon, region.unit(u).point.lat, region.unit(u).name]
                   for u in regions if region is not None and u in set(region.unit_ids)},
        "settings": settings.model_dump(mode="json"),
    }
    return VerificationResult(tables=tables, meta=meta)


def _period_from(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    def local_day(x: Any) -> pd.Timestamp:
        t = pd.Timestamp(x)
        if t.tzinfo is not None:
            t = t.tz_convert(LOCAL_TZ).tz_localize(None)
        return t.normalize()

    return local_day(start), local_day(end)


def verify_archive(forecasts: str | Path | Sequence[str | Path] | xr.Dataset,
                   obs_units: pd.DataFrame | None = None, *,
                   settings: VerificationSettings | None = None, region: Region | None = None,
                   warnings: str | Path | Iterable[dict[str, Any]] | None = None,
                   clim_obs: pd.DataFrame | None = None, period: tuple[Any, Any] | None = None,
                   start: Any | None = None, end: Any | None = None,
                   config: AirwarnConfig | None = None,
                   stations: pd.DataFrame | None = None,
                   bootstrap: bool = True) -> VerificationResult:
    """Verify a forecast archive or a backtest against unit observations.

    Parameters
    ----------
    forecasts : path, paths or xarray.Dataset
        ``<data_dir>/forecasts/`` (run files), a backtest NetCDF (leading ``issue_time`` dim), a
        list of run files, an opened dataset (see
        :func:`models.verify.match.read_forecast_archive`), or a **data directory** (one holding
        ``forecasts/``): then observations come from its store, warnings from its register
        (``register.sqlite``: what was issued, overrides included) or else its ``warnings/``.
    obs_units : pandas.DataFrame, optional
        Hourly unit observations: ``time`` (UTC), ``unit_id``, ``pm25``, ``o3`` (µg/m³). Default:
        read from the data directory's store and aggregated to units with the station table.
    settings : VerificationSettings, optional
        Default: ``configs/verification.yaml``.
    region : configs.schema.Region, optional
        For regional groups and each unit's warning ladder (default ``config.region``).
    warnings : path or iterable of dict, optional
        Warning decisions (``<data_dir>/warnings/`` or dicts) to verify; an empty list means
        "none were issued" (observed episodes count as misses). Without any warning record
        (None, e.g. a backtest) the warning tables are empty and ``meta["warnings_verified"]``
        is False.
    clim_obs : pandas.DataFrame, optional
        Observation history for the climatology reference (default, when reading the store: the
        ``climatology.history_days`` before the first run — out of sample; months it lacks come
        from the verified period itself).
    period : (date, date), optional
        Local dates (inclusive) of valid times to score; ``start``/``end`` (local or tz-aware
        timestamps) are accepted instead.
    config : configs.AirwarnConfig, optional
        Supplies ``region`` and ``stations`` when they are not given.
    stations : pandas.DataFrame, optional
        Station table for aggregating store observations to units.
    bootstrap : bool
        Compute block-bootstrap confidence intervals (``<score>_lo``/``_hi`` columns).

    Returns
    -------
    VerificationResult
    """
    settings = settings or load_verification()
    if period is None and start is not None and end is not None:
        period = _period_from(start, end)
    if config is not None:
        region = region if region is not None else config.region
        stations = stations if stations is not None else config.stations
    data_dir: Path | None = None
    if isinstance(forecasts, (str, Path)) and RunStore(forecasts).forecasts_dir.is_dir():
        store = RunStore(forecasts)
        data_dir = store.data_dir
        forecasts = store.forecasts_dir
        if warnings is None and store.register.is_file():
            warnings = decisions_from_register(store.register)
        elif warnings is None and store.warnings_dir.is_dir():
            warnings = store.warnings_dir
    fc = read_forecast_archive(forecasts)
    if period is not None:
        p0, p1 = _period_from(*period)
        dates = pd.DatetimeIndex(fc["date"].values.ravel()) if "date" in fc else None
        if dates is not None:
            keep = ((fc["date"] >= p0.to_datetime64()) & (fc["date"] <= p1.to_datetime64())).any("day")
            fc = fc.isel(issue_time=np.flatnonzero(keep.values))
        if fc.sizes["issue_time"] == 0:
            raise ValueError(f"no forecasts valid in {p0.date()}…{p1.date()}")
    if obs_units is None:
        if data_dir is None:
            raise ValueError("observations are needed: pass obs_units, or a data directory "
                             "whose store holds them")
        units = [str(r) for r in fc["region"].values]
        t_first = pd.Timestamp(fc["issue_time"].values.min()).tz_localize("UTC") - pd.Timedelta(days=2)
        t_last = pd.Timestamp(fc["valid_time"].values.max()).tz_localize("UTC")
        obs_units = load_obs_units(data_dir, t_first, t_last, stations, units)
        if clim_obs is None and settings.climatology.history_days > 0:
            h0 = t_first - pd.Timedelta(days=settings.climatology.history_days)
            hist = load_obs_units(data_dir, h0, t_first - pd.Timedelta(hours=1), stations, units)
            clim_obs = hist if len(hist) else None
    m = match_forecasts(fc, obs_units, settings, clim_obs=clim_obs, period=period)
    decisions = read_decisions(warnings) if warnings is not None else None
    return verify_matched(m, obs_units, settings=settings, region=region, decisions=decisions,
                          period=period, bootstrap=bootstrap)


def compare_systems(fc_a: xr.DataArray, fc_b: xr.DataArray, obs: xr.DataArray, *,
                    by: Sequence[str] = ("lead",), time_dim: str = "issue_time",
                    settings: VerificationSettings | None = None,
                    names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Is system A better than system B? Diebold–Mariano test per group of ``by``.

    Losses (squared or absolute error, ``comparison.loss``) are averaged per local issue day over
    every dim not in ``by`` (units, …); the daily loss differences are tested with
    :func:`models.verify.stats.diebold_mariano` (HAC variance, HLN correction) and a paired
    moving-block bootstrap interval of the mean difference is given beside it.

    Parameters
    ----------
    fc_a, fc_b, obs : xarray.DataArray
        Same dims, including ``time_dim`` (UTC issue times) and ``by`` (e.g. ``lead`` in h or
        ``day``); µg/m³ or AQI.
    by : sequence of str
        Dims kept: one test per combination.
    time_dim : str
        Issue-time dim.
    settings : VerificationSettings, optional
    names : (str, str)
        Labels of the systems in the ``better`` column.

    Returns
    -------
    pandas.DataFrame
        Per group: ``n`` days, ``loss_a``, ``loss_b`` (mean loss), ``rmse_a``/``rmse_b`` or
        ``mae_a``/``mae_b``, ``mean_diff`` (a − b), ``diff_lo``/``diff_hi`` (bootstrap interval),
        ``dm_stat``, ``p_value``, ``better`` (name of the significantly better system, or ``"none"``).
    """
    settings = settings or load_verification()
    cmp_ = settings.comparison
    fc_a, fc_b, obs = xr.align(fc_a, fc_b, obs, join="inner")

    def loss(f: xr.DataArray) -> xr.DataArray:
        e = f - obs
        return e**2 if cmp_.loss == "squared" else abs(e)

    la, lb = loss(fc_a), loss(fc_b)
    both = la.notnull() & lb.notnull()
    la, lb = la.where(both), lb.where(both)
    it = pd.DatetimeIndex(la[time_dim].values)
    it = it.tz_localize("UTC") if it.tz is None else it
    day = it.tz_convert(LOCAL_TZ).tz_localize(None).normalize()
    other = [d for d in la.dims if d not in (*by, time_dim)]
    la_d = la.mean(other).assign_coords({time_dim: day}).groupby(time_dim).mean()
    lb_d = lb.mean(other).assign_coords({time_dim: day}).groupby(time_dim).mean()
    b = settings.bootstrap
    rows = []
    stacked_a = la_d.stack(_g=list(by)) if by else la_d.expand_dims(_g=[0])
    stacked_b = lb_d.stack(_g=list(by)) if by else lb_d.expand_dims(_g=[0])
    n_days = la_d.sizes[time_dim]
    w = block_bootstrap_weights(n_days, b.n_resamples, b.block_days, b.seed)
    for gi in range(stacked_a.sizes["_g"]):
        a = stacked_a.isel(_g=gi).transpose(time_dim).values
        bb = stacked_b.isel(_g=gi).transpose(time_dim).values
        key = stacked_a["_g"].values[gi] if by else ()
        key = key if isinstance(key, tuple) else (key,)
        coord = dict(zip(by, key, strict=True))
        # forecast horizon in days: sets the minimum HAC lag (h − 1) and the HLN correction
        h = int(coord["day"]) if "day" in coord else \
            max(1, math.ceil(int(coord["lead"]) / 24)) if "lead" in coord else 1
        dm = diebold_mariano(a, bb, horizon_days=h, lag=cmp_.hac_lag)
        diff = a - bb
        ok = ~np.isnan(diff)
        if ok.sum() > 1:
            ww = w[:, ok]
            rep = (ww * diff[ok]).sum(axis=1) / ww.sum(axis=1)
            lo, hi = percentile_interval(rep, b.confidence)
        else:
            lo = hi = np.nan
        row: dict[str, Any] = {d: (int(k) if isinstance(k, (int, np.integer)) else k)
                               for d, k in coord.items()}
        # a lead with no verified pair (all NaN) has no mean loss: NaN, without numpy's warning
        la_m = float(np.nanmean(a)) if np.isfinite(a).any() else math.nan
        lb_m = float(np.nanmean(bb)) if np.isfinite(bb).any() else math.nan
        pref = "rmse" if cmp_.loss == "squared" else "mae"
        row.update({"n": dm["n"], "loss_a": la_m, "loss_b": lb_m,
                    f"{pref}_a": math.sqrt(la_m) if pref == "rmse" else la_m,
                    f"{pref}_b": math.sqrt(lb_m) if pref == "rmse" else lb_m,
                    "mean_diff": dm["mean_diff"], "diff_lo": float(lo), "diff_hi": float(hi),
                    "dm_stat": dm["stat"], "p_value": dm["p_value"]})
        sig = np.isfinite(dm["p_value"]) and dm["p_value"] < cmp_.alpha
        row["better"] = (names[0] if dm["mean_diff"] < 0 else names[1]) if sig else "none"
        rows.append(row)
    return pd.DataFrame(rows)
