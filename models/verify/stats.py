"""Sampling uncertainty: moving-block bootstrap over issue days and the Diebold–Mariano test.

Forecast errors of consecutive issue days are correlated (one episode spans several runs, and a D+3
forecast overlaps the next two runs), so both tools treat the **issue day** as the sampling unit:

* :func:`block_bootstrap_weights` draws moving blocks of ``block_days`` consecutive issue days
  (Künsch 1989) with a seeded generator, returned as a (replicate × day) count matrix, so that
  any score built from per-day sums is bootstrapped with one matrix product;
* :func:`diebold_mariano` tests equal expected loss of two systems from the daily loss differences
  with a HAC (Newey–West, Bartlett kernel) long-run variance and the Harvey–Leybourne–Newbold (1997)
  small-sample correction, p-value from Student t with T − 1 degrees of freedom.

Units: loss differences in squared or absolute input units; statistics dimensionless.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["block_bootstrap_weights", "percentile_interval", "auto_hac_lag", "hac_variance",
           "diebold_mariano"]


def block_bootstrap_weights(n_days: int, n_resamples: int, block_days: int,
                            seed: int) -> np.ndarray:
    """Moving-block bootstrap of ``n_days`` issue days as a count matrix.

    Parameters
    ----------
    n_days : int
        Number of issue days (the sampling units).
    n_resamples : int
        Number of bootstrap replicates.
    block_days : int
        Block length in days (cut to ``n_days`` when longer).
    seed : int
        Seed of :func:`numpy.random.default_rng` (same seed → same replicates).

    Returns
    -------
    numpy.ndarray, shape (n_resamples, n_days), int
        How many times each day enters each replicate; every row sums to ``n_days``.
    """
    if n_days <= 0:
        return np.zeros((n_resamples, 0), dtype=int)
    block = max(1, min(block_days, n_days))
    n_blocks = math.ceil(n_days / block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_days - block + 1, size=(n_resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_resamples, -1)[:, :n_days]
    w = np.zeros((n_resamples, n_days), dtype=int)
    rows = np.repeat(np.arange(n_resamples), n_days)
    np.add.at(w, (rows, idx.ravel()), 1)
    return w


def percentile_interval(replicates: np.ndarray, confidence: float,
                        axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided percentile interval of bootstrap replicates (NaN replicates ignored).

    Same as ``numpy.nanquantile`` with linear interpolation, vectorised over the other axes
    (``nanquantile`` loops in Python over them).
    """
    x = np.moveaxis(np.asarray(replicates, dtype=float), axis, 0)
    srt = np.sort(x, axis=0)  # NaN sort last
    n = np.sum(~np.isnan(x), axis=0)
    lo_q = (1.0 - confidence) / 2.0
    out = []
    for q in (lo_q, 1.0 - lo_q):
        pos = (np.maximum(n, 1) - 1) * q
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, np.maximum(n - 1, 0))
        v0 = np.take_along_axis(srt, i0[None, ...], axis=0)[0]
        v1 = np.take_along_axis(srt, i1[None, ...], axis=0)[0]
        v = v0 + (v1 - v0) * (pos - i0)
        out.append(np.where(n > 0, v, np.nan))
    return out[0], out[1]


def auto_hac_lag(n: int, horizon_days: int = 1) -> int:
    """HAC truncation lag: max(h − 1, ⌊4 (T/100)^(2/9)⌋) (Diebold–Mariano; Newey–West 1994)."""
    return int(max(horizon_days - 1, math.floor(4.0 * (max(n, 1) / 100.0) ** (2.0 / 9.0))))


def hac_variance(d: np.ndarray, lag: int) -> float:
    """Long-run variance of a series with Bartlett weights 1 − k/(lag + 1) (Newey–West 1987)."""
    d = np.asarray(d, dtype=float)
    n = d.size
    x = d - d.mean()
    v = float(np.dot(x, x) / n)
    for k in range(1, min(lag, n - 1) + 1):
        v += 2.0 * (1.0 - k / (lag + 1.0)) * float(np.dot(x[k:], x[:-k]) / n)
    return v


def diebold_mariano(loss_a: Any, loss_b: Any, horizon_days: int = 1,
                    lag: int | str = "auto") -> dict[str, float]:
    """Diebold–Mariano test of equal expected loss, with the HLN small-sample correction.

    Parameters
    ----------
    loss_a, loss_b : array-like, shape (T,)
        Loss of each system per issue day (e.g. mean squared error of that day's forecasts,
        (µg/m³)²), in time order; days where either is NaN are dropped.
    horizon_days : int
        Forecast horizon h in days (sets the minimum HAC lag h − 1 and the HLN correction).
    lag : int or "auto"
        HAC truncation lag (:func:`auto_hac_lag` when ``"auto"``).

    Returns
    -------
    dict
        ``n`` days, ``mean_diff`` (mean loss_a − loss_b; < 0 means A is better), ``stat``
        (HLN-corrected DM statistic), ``p_value`` (two-sided, t with n − 1 df). Identical losses
        give ``stat = 0`` and ``p_value = 1``.
    """
    a = np.asarray(loss_a, dtype=float)
    b = np.asarray(loss_b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    d = a[ok] - b[ok]
    n = int(d.size)
    if n < 3:
        return {"n": n, "mean_diff": float(d.mean()) if n else float("nan"),
                "stat": float("nan"), "p_value": float("nan")}
    L = auto_hac_lag(n, horizon_days) if lag == "auto" else int(lag)
    mean = float(d.mean())
    var = hac_variance(d, L)
    if var <= 0 or not np.isfinite(var):
        if np.allclose(d, 0.0):
            return {"n": n, "mean_diff": 0.0, "stat": 0.0, "p_value": 1.0}
        var = float(np.var(d)) or 1e-300
    h = horizon_days
    hln = math.sqrt(max((n + 1 - 2 * h + h * (h - 1) / n) / n, 1e-12))
    stat = hln * mean / math.sqrt(var / n)
    p = float(2.0 * stats.t.sf(abs(stat), df=n - 1))
    return {"n": n, "mean_diff": mean, "stat": float(stat), "p_value": p}
