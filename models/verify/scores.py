"""Verification scores as plain functions on numpy / xarray data (domain-spec §4 T4.1, T4.2).

Continuous scores are computed from **sufficient statistics** (per-sample sums), so that point
estimates, pooled groups (units → regional groups → all) and bootstrap replicates all use one code
path (:func:`continuous_sums`, :func:`scores_from_sums`). Every hand-written formula is tested
against a library (xskillscore, scoringrules, scikit-learn) in ``tests/models/test_verify_scores.py``.

Units: errors in the unit of the input (µg/m³ for concentrations, AQI dimensionless); NMB, NME,
skill scores, probabilities and accuracies dimensionless (fractions, not %).

Formulas
--------
With forecast f, observation o, error e = f − o over the N valid pairs:
MB = Σe/N; MAE = Σ|e|/N; RMSE = √(Σe²/N); r = Pearson correlation; NMB = Σe/Σo; NME = Σ|e|/Σo;
IOA (Willmott 1981) = 1 − Σe² / Σ(|f − ō| + |o − ō|)²; skill = 1 − RMSE/RMSE_ref.
Contingency (T4.2): a hits, b false alarms, c misses, d correct negatives; POD = a/(a+c);
FAR (false-alarm **ratio**) = b/(a+b); POFD (false-alarm **rate**) = b/(b+d); SR = 1 − FAR;
CSI = a/(a+b+c); frequency bias = (a+b)/(a+c); PC = (a+d)/n; ETS = (a − a_r)/(a+b+c − a_r) with
a_r = (a+b)(a+c)/n; HSS = 2(ad − bc)/((a+c)(c+d) + (a+b)(b+d)); PSS = POD − POFD.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "SUM_FIELDS",
    "continuous_sums",
    "scores_from_sums",
    "continuous_scores",
    "ioa",
    "contingency_counts",
    "categorical_scores",
    "aqi_levels",
    "half_levels",
    "level_sets",
    "level_accuracy",
    "exact_level_accuracy",
    "within_one_level_accuracy",
    "range_accuracy",
    "half_level_accuracy",
    "primary_accuracy",
    "pinball_crps",
    "interval_coverage",
    "brier_score",
    "reliability_table",
]

#: Per-sample sufficient statistics of the continuous scores (the last axis of a sums array).
SUM_FIELDS: tuple[str, ...] = ("n", "se", "sae", "sse", "sf", "so", "sff", "soo", "sfo",
                               "sse_pers", "sse_clim", "n_pers", "n_clim", "sse_both_pers",
                               "sse_both_clim")

#: AQI level upper bounds (T1.5, identical in HJ 633-2012 and -2026): ≤50 → 1 … >300 → 6.
LEVEL_UPPER: tuple[int, ...] = (50, 100, 150, 200, 300)


# ----------------------------------------------------------------------------------------------
# Continuous
# ----------------------------------------------------------------------------------------------


def continuous_sums(fc: np.ndarray, obs: np.ndarray, axis: int | tuple[int, ...],
                    pers: np.ndarray | None = None, clim: np.ndarray | None = None) -> np.ndarray:
    """Sums of the continuous scores over ``axis`` (NaN pairs skipped).

    Parameters
    ----------
    fc, obs : numpy.ndarray
        Forecast and observation of the same shape (any unit, e.g. µg/m³); NaN = missing.
    axis : int or tuple of int
        Axes summed over (the samples).
    pers, clim : numpy.ndarray, optional
        Persistence and climatology reference forecasts, same shape and unit as ``fc``.

    Returns
    -------
    numpy.ndarray
        The reduced shape plus a last axis of length ``len(SUM_FIELDS)``: N, Σe, Σ|e|, Σe², Σf,
        Σo, Σf², Σo², Σfo, then Σe²_ref and N_ref for persistence and climatology, and Σe² of the
        forecast over the pairs where each reference is valid (skill uses the same samples).
    """
    fc = np.asarray(fc, dtype=float)
    obs = np.asarray(obs, dtype=float)
    if fc.shape != obs.shape:
        raise ValueError(f"forecast shape {fc.shape} differs from observation shape {obs.shape}")
    ok = ~(np.isnan(fc) | np.isnan(obs))
    f = np.where(ok, fc, 0.0)
    o = np.where(ok, obs, 0.0)
    e = f - o
    parts = [ok.sum(axis), e.sum(axis), np.abs(e).sum(axis), (e * e).sum(axis), f.sum(axis),
             o.sum(axis), (f * f).sum(axis), (o * o).sum(axis), (f * o).sum(axis)]
    for ref in (pers, clim):
        if ref is None:
            zero = np.zeros(parts[0].shape)
            parts += [zero, zero]
            continue
        ref = np.asarray(ref, dtype=float)
        okr = ok & ~np.isnan(ref)
        er = np.where(okr, ref - obs, 0.0)
        parts += [(er * er).sum(axis), okr.sum(axis)]
    for ref in (pers, clim):
        if ref is None:
            parts.append(np.zeros(parts[0].shape))
            continue
        okr = ok & ~np.isnan(np.asarray(ref, dtype=float))
        parts.append(np.where(okr, e * e, 0.0).sum(axis))
    # order: n se sae sse sf so sff soo sfo | sse_pers n_pers | sse_clim n_clim | both_pers both_clim
    n, se, sae, sse, sf, so, sff, soo, sfo, ssep, np_, ssec, nc, sbp, sbc = parts
    return np.stack([n, se, sae, sse, sf, so, sff, soo, sfo, ssep, ssec, np_, nc, sbp, sbc],
                    axis=-1).astype(float)


def scores_from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Scores from sufficient statistics (last axis = :data:`SUM_FIELDS`).

    Returns
    -------
    dict of numpy.ndarray
        ``n``, ``mb``, ``mae``, ``rmse`` (input unit), ``r``, ``nmb``, ``nme``,
        ``skill_persistence``, ``skill_climatology`` (dimensionless); NaN where undefined
        (no pairs, zero variance, Σo = 0, no reference).
    """
    s = {k: sums[..., i] for i, k in enumerate(SUM_FIELDS)}
    n = s["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        nn = np.where(n > 0, n, np.nan)
        mb = s["se"] / nn
        mae = s["sae"] / nn
        rmse = np.sqrt(s["sse"] / nn)
        cov = n * s["sfo"] - s["sf"] * s["so"]
        vf = n * s["sff"] - s["sf"] ** 2
        vo = n * s["soo"] - s["so"] ** 2
        den = np.sqrt(np.clip(vf, 0, None) * np.clip(vo, 0, None))
        r = np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan)
        so = np.where(s["so"] != 0, s["so"], np.nan)
        nmb = s["se"] / so
        nme = s["sae"] / so
        out = {"n": n, "mb": mb, "mae": mae, "rmse": rmse, "r": np.where(n > 1, r, np.nan),
               "nmb": nmb, "nme": nme}
        for ref in ("pers", "clim"):
            nr = s[f"n_{ref}"]
            rm_f = np.sqrt(s[f"sse_both_{ref}"] / np.where(nr > 0, nr, np.nan))
            rm_r = np.sqrt(s[f"sse_{ref}"] / np.where(nr > 0, nr, np.nan))
            sk = 1.0 - rm_f / np.where(rm_r > 0, rm_r, np.nan)
            out["skill_persistence" if ref == "pers" else "skill_climatology"] = sk
    return out


def ioa(fc: np.ndarray, obs: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Index of agreement d (Willmott 1981), dimensionless, 0…1; NaN pairs skipped.

    d = 1 − Σ(f − o)² / Σ(|f − ō| + |o − ō|)², ō the mean observation over ``axis``.
    """
    fc = np.asarray(fc, dtype=float)
    obs = np.asarray(obs, dtype=float)
    ok = ~(np.isnan(fc) | np.isnan(obs))
    f = np.where(ok, fc, np.nan)
    o = np.where(ok, obs, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: d is NaN there
        obar = np.nanmean(o, axis=axis, keepdims=True)
        num = np.nansum((f - o) ** 2, axis=axis)
        den = np.nansum((np.abs(f - obar) + np.abs(o - obar)) ** 2, axis=axis)
        return np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1.0), np.nan)


def continuous_scores(fc: xr.DataArray, obs: xr.DataArray, dim: str | Sequence[str],
                      pers: xr.DataArray | None = None,
                      clim: xr.DataArray | None = None) -> xr.Dataset:
    """Continuous scores of ``fc`` against ``obs``, reducing over ``dim``.

    Parameters
    ----------
    fc, obs : xarray.DataArray
        Same dims (e.g. ``issue_time, region, lead``), concentrations in µg/m³ or AQI.
    dim : str or sequence of str
        Dims reduced over (the samples).
    pers, clim : xarray.DataArray, optional
        Reference forecasts for the skill scores (same dims and unit).

    Returns
    -------
    xarray.Dataset
        ``n mb mae rmse r nmb nme ioa skill_persistence skill_climatology`` over the remaining
        dims; MB, MAE, RMSE in the input unit, the others dimensionless.
    """
    dims = [dim] if isinstance(dim, str) else list(dim)
    fc, obs = xr.align(fc, obs, join="exact")
    keep = [d for d in fc.dims if d not in dims]
    order = keep + dims
    f = fc.transpose(*order).values
    o = obs.transpose(*order).values
    axes = tuple(range(len(keep), len(order)))
    p = None if pers is None else pers.transpose(*order).values
    c = None if clim is None else clim.transpose(*order).values
    sc = scores_from_sums(continuous_sums(f, o, axes, p, c))
    sc["ioa"] = ioa(f, o, axes)
    coords = {k: v for k, v in fc.coords.items() if set(v.dims) <= set(keep)}
    return xr.Dataset({k: (keep, np.asarray(v)) for k, v in sc.items()}, coords=coords)


# ----------------------------------------------------------------------------------------------
# Categorical
# ----------------------------------------------------------------------------------------------


def contingency_counts(fc_event: Any, obs_event: Any) -> dict[str, int]:
    """2×2 contingency counts of boolean forecasts and observations (NaN/None pairs skipped).

    Returns
    -------
    dict
        ``a`` hits, ``b`` false alarms, ``c`` misses, ``d`` correct negatives (counts).
    """
    f = np.asarray(fc_event, dtype=float).ravel()
    o = np.asarray(obs_event, dtype=float).ravel()
    ok = ~(np.isnan(f) | np.isnan(o))
    f = f[ok] > 0.5
    o = o[ok] > 0.5
    return {"a": int(np.sum(f & o)), "b": int(np.sum(f & ~o)), "c": int(np.sum(~f & o)),
            "d": int(np.sum(~f & ~o))}


def categorical_scores(a: Any, b: Any, c: Any, d: Any) -> dict[str, Any]:
    """Scores of a 2×2 contingency table (T4.2); arrays broadcast, NaN where undefined.

    Returns
    -------
    dict
        ``pod`` (hit rate), ``far`` (false-alarm **ratio** b/(a+b)), ``pofd`` (false-alarm
        **rate** b/(b+d)), ``sr`` (success ratio), ``csi``, ``fbias``, ``pc``, ``ets``, ``hss``,
        ``pss`` — all dimensionless.
    """
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    n = a + b + c + d

    def div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(y != 0, x / np.where(y != 0, y, 1.0), np.nan)

    pod = div(a, a + c)
    far = div(b, a + b)
    pofd = div(b, b + d)
    ar = div((a + b) * (a + c), n)
    return {
        "pod": pod, "far": far, "pofd": pofd, "sr": 1.0 - far, "csi": div(a, a + b + c),
        "fbias": div(a + b, a + c), "pc": div(a + d, n), "ets": div(a - ar, a + b + c - ar),
        "hss": div(2.0 * (a * d - b * c), (a + c) * (c + d) + (a + b) * (b + d)),
        "pss": pod - pofd,
    }


# ----------------------------------------------------------------------------------------------
# Chinese operational measures (T4.1; conventions U, settings in configs/verification.yaml)
# ----------------------------------------------------------------------------------------------


def aqi_levels(aqi: Any) -> np.ndarray:
    """AQI level 1…6 (T1.5) of each AQI value; 0 where the AQI is missing.

    AQI is an integer after ceil; a fractional AQI (e.g. a quantile) takes the level of its ceil.
    """
    x = np.ceil(np.asarray(aqi, dtype=float))
    lv = np.searchsorted(np.asarray(LEVEL_UPPER, dtype=float), np.nan_to_num(x, nan=0.0),
                         side="left") + 1
    return np.where(np.isnan(x), 0, lv)


def half_levels(aqi: Any, upper: Sequence[float]) -> np.ndarray:
    """Half-level 1…12 (CNEMC 2022, U): index of the first half-level upper bound ≥ ceil(AQI).

    Parameters
    ----------
    aqi : array-like
        AQI values (dimensionless); NaN → 0.
    upper : sequence of float
        Upper AQI bounds of the half-levels (``half_level_upper`` in verification.yaml).
    """
    x = np.ceil(np.asarray(aqi, dtype=float))
    hl = np.searchsorted(np.asarray(upper, dtype=float), np.nan_to_num(x, nan=0.0), side="left") + 1
    return np.where(np.isnan(x), 0, np.minimum(hl, len(upper)))


def level_sets(low: Any, high: Any, median: Any, max_levels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Forecast level set [lo_level, hi_level] from an AQI range (T4.1, U).

    The set is every level touched by [low, high]; when that is more than ``max_levels`` levels it
    is cut to ``max_levels`` adjacent levels around the median's level, alternating sides and
    starting with the side where the range reaches further (ties: upward, the conservative side
    for warnings); a side without room leaves its share to the other.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lowest and highest level of the set (1…6; 0 where the range is missing).
    """
    lo = aqi_levels(low)
    hi = aqi_levels(high)
    md = aqi_levels(median)
    lo = np.where(lo == 0, md, np.minimum(lo, md))
    hi = np.where(hi == 0, md, np.maximum(hi, md))
    span = hi - lo + 1
    too_wide = span > max_levels
    if np.any(too_wide):
        up_room = hi - md
        down_room = md - lo
        extra = max_levels - 1
        up_first = up_room >= down_room
        n_up = np.minimum(up_room, np.where(up_first, (extra + 1) // 2, extra // 2))
        n_down = np.minimum(down_room, extra - n_up)
        n_up = np.where(up_first, n_up, np.minimum(up_room, extra - n_down))
        lo = np.where(too_wide, md - n_down, lo)
        hi = np.where(too_wide, md + n_up, hi)
    return lo.astype(int), hi.astype(int)


def _share(hit: np.ndarray, valid: np.ndarray) -> float:
    n = int(np.sum(valid))
    return float(np.sum(hit & valid) / n) if n else float("nan")


def level_accuracy(obs_aqi: Any, low: Any, high: Any, median: Any, max_levels: int = 2) -> float:
    """AQI 级别准确率: share of days whose observed level ∈ forecast level set (T4.1, U)."""
    o = aqi_levels(obs_aqi)
    lo, hi = level_sets(low, high, median, max_levels)
    valid = (o > 0) & (lo > 0)
    return _share((o >= lo) & (o <= hi), valid)


def exact_level_accuracy(obs_aqi: Any, fc_aqi: Any) -> float:
    """Share of days whose observed level equals the level of the forecast (median) AQI."""
    o, f = aqi_levels(obs_aqi), aqi_levels(fc_aqi)
    return _share(o == f, (o > 0) & (f > 0))


def within_one_level_accuracy(obs_aqi: Any, fc_aqi: Any) -> float:
    """Share of days whose observed level is within one level of the forecast level."""
    o, f = aqi_levels(obs_aqi), aqi_levels(fc_aqi)
    return _share(np.abs(o - f) <= 1, (o > 0) & (f > 0))


def range_accuracy(obs_aqi: Any, low: Any, high: Any) -> float:
    """AQI 范围准确率: share of days with observed AQI in [low, high] (T4.1, U); bounds inclusive."""
    o = np.asarray(obs_aqi, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    valid = ~(np.isnan(o) | np.isnan(lo) | np.isnan(hi))
    with np.errstate(invalid="ignore"):
        return _share((o >= lo) & (o <= hi), valid)


def half_level_accuracy(obs_aqi: Any, fc_aqi: Any, upper: Sequence[float]) -> float:
    """Half-level accuracy (CNEMC 2022, U): observed half-level = forecast half-level."""
    o, f = half_levels(obs_aqi, upper), half_levels(fc_aqi, upper)
    return _share(o == f, (o > 0) & (f > 0))


def _split(labels: Any) -> set[str]:
    if labels is None or (isinstance(labels, float) and np.isnan(labels)):
        return set()
    s = str(labels).strip()
    if s in ("", "<NA>", "nan", "None", "NA"):
        return set()
    return {p.strip().upper().replace("O3_8H", "O3").replace("PM2_5", "PM2.5")
            for p in s.split(",") if p.strip()}


def primary_accuracy(obs_primary: Sequence[Any], fc_primary: Sequence[Any], obs_aqi: Any,
                     min_aqi: float = 50) -> float:
    """首要污染物准确率: among days with observed AQI > ``min_aqi``, share whose observed primary
    pollutant(s) intersect the forecast primary set (T4.1, U).

    Labels are comma-separated (``"PM2.5"``, ``"O3_8h"``, ``"PM2.5,PM10"``); O3 1-h / 8-h labels
    compare equal (a forecast names the pollutant, not the averaging period).
    """
    o_aqi = np.asarray(obs_aqi, dtype=float)
    hits = []
    for op, fp, a in zip(obs_primary, fc_primary, o_aqi, strict=True):
        if np.isnan(a) or a <= min_aqi:
            continue
        os_ = _split(op)
        if not os_:
            continue
        hits.append(bool(os_ & _split(fp)))
    return float(np.mean(hits)) if hits else float("nan")


# ----------------------------------------------------------------------------------------------
# Probabilistic
# ----------------------------------------------------------------------------------------------


def pinball_crps(obs: Any, q_values: Any, q_levels: Sequence[float]) -> np.ndarray:
    """CRPS approximated from quantile forecasts: (2/|Q|) Σ_q pinball_q (Berrisch & Ziel 2023).

    Same definition as ``scoringrules.crps_quantile(obs, fct, alpha)`` (quantile axis last).

    Parameters
    ----------
    obs : array-like, shape (...)
        Observations (µg/m³ or AQI).
    q_values : array-like, shape (..., Q)
        Forecast quantiles, same unit, the quantile axis last.
    q_levels : sequence of float, length Q
        Quantile levels in (0, 1).

    Returns
    -------
    numpy.ndarray, shape (...)
        CRPS per forecast in the unit of ``obs``; NaN where the observation or a quantile is NaN.
    """
    y = np.asarray(obs, dtype=float)[..., None]
    q = np.asarray(q_values, dtype=float)
    a = np.asarray(q_levels, dtype=float)
    diff = y - q
    pb = np.where(diff >= 0, a * diff, (a - 1.0) * diff)
    return 2.0 * pb.mean(axis=-1)


def interval_coverage(obs: Any, low: Any, high: Any) -> tuple[float, int]:
    """Share of observations inside [low, high] (inclusive), and the number of valid cases."""
    o = np.asarray(obs, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    valid = ~(np.isnan(o) | np.isnan(lo) | np.isnan(hi))
    n = int(valid.sum())
    with np.errstate(invalid="ignore"):
        return (_share((o >= lo) & (o <= hi), valid), n)


def brier_score(prob: Any, event: Any) -> tuple[float, int]:
    """Brier score mean((p − o)²) of probabilities (0–1) against binary outcomes; and N."""
    p = np.asarray(prob, dtype=float).ravel()
    o = np.asarray(event, dtype=float).ravel()
    ok = ~(np.isnan(p) | np.isnan(o))
    n = int(ok.sum())
    return (float(np.mean((p[ok] - o[ok]) ** 2)) if n else float("nan"), n)


def reliability_table(prob: Any, event: Any, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Binned reliability: equal-width probability bins on [0, 1] (right edge closed in the last).

    Returns
    -------
    dict
        ``bin_lower``, ``bin_upper``, ``mean_prob`` (forecast probability), ``obs_freq`` (observed
        relative frequency) and ``count`` per bin; NaN frequencies for empty bins.
    """
    p = np.asarray(prob, dtype=float).ravel()
    o = np.asarray(event, dtype=float).ravel()
    ok = ~(np.isnan(p) | np.isnan(o))
    p, o = p[ok], o[ok]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=n_bins) / count
        freq = np.bincount(idx, weights=o, minlength=n_bins) / count
    return {"bin_lower": edges[:-1], "bin_upper": edges[1:], "mean_prob": mean_p,
            "obs_freq": freq, "count": count.astype(int)}
