"""The one implementation of the regulatory daily statistics (GB 3095-2026 表4, HJ 633/663).

Both the training targets (``features.build.daily_targets``) and the daily products of the
warnings and the verification (``alerts.daily.daily_products``) call these functions, on hourly
values already arranged as *day cubes*: arrays ``(day, 24, id)`` whose axis 1 holds the 24 hour
labels 00…23 of a local natural day (NaN = missing). Units are those of the input (µg/m³; CO
mg/m³).

Validity rules (domain-spec T1.11; V1 unless marked U):

* daily mean: ≥ :data:`MIN_HOURS_DAILY` = 20 valid hourly values in the natural day (V1);
* 8-h mean stamped at hour *t*: mean of hours *t−7 … t*, ≥ :data:`MIN_HOURS_8H` = 6 of 8 valid (V1);
* daily maximum 8-h mean (MDA8): maximum over the 17 windows 00–07 … 16–23 local (ending 08:00 …
  24:00), valid with ≥ :data:`MIN_WINDOWS_MDA8` = 14 valid windows (HJ 663 reading, U);
* daily maximum 1-h value: ≥ :data:`MIN_HOURS_1H_MAX` = 20 valid hours (engineering convention, U).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "MIN_HOURS_DAILY",
    "MIN_HOURS_8H",
    "MDA8_WINDOW_END_HOURS",
    "MIN_WINDOWS_MDA8",
    "MIN_HOURS_1H_MAX",
    "daily_mean_cube",
    "mda8_cube",
    "max_1h_cube",
    "daily_statistic_cube",
    "trailing_mean",
]

#: Daily (24-h) mean needs ≥ 20 hourly values — GB 3095-2026 表4 (V1).
MIN_HOURS_DAILY = 20
#: 8-h mean needs ≥ 6 of 8 hourly values — GB 3095-2026 表4 (V1).
MIN_HOURS_8H = 6
#: Local hour labels at which the MDA8 windows are stamped: 07…23 = windows 00–07 … 16–23.
MDA8_WINDOW_END_HOURS: tuple[int, ...] = tuple(range(7, 24))
#: MDA8 valid with ≥ 14 of the 17 windows valid — reported HJ 663 rule (U).
MIN_WINDOWS_MDA8 = 14
#: Daily maximum 1-h value valid with ≥ 20 valid hours — engineering convention (U).
MIN_HOURS_1H_MAX = 20


def _check(cube: np.ndarray) -> np.ndarray:
    cube = np.asarray(cube, dtype=float)
    if cube.ndim != 3 or cube.shape[1] != 24:
        raise ValueError(f"expected a day cube (day, 24, id), got shape {cube.shape}")
    return cube


def daily_mean_cube(cube: np.ndarray, min_hours: int = MIN_HOURS_DAILY
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Natural-day means of a day cube.

    Parameters
    ----------
    cube : ndarray (day, 24, id)
        Hourly values of local days (µg/m³; CO mg/m³), NaN = missing.
    min_hours : int
        Valid hours needed (default 20).

    Returns
    -------
    mean : ndarray (day, id)
        Daily mean (input unit), NaN with fewer than ``min_hours`` valid hours.
    n : ndarray (day, id) of int
        Valid hours per day.
    """
    cube = _check(cube)
    n = np.count_nonzero(~np.isnan(cube), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(cube, axis=1) / n
    return np.where(n >= min_hours, mean, np.nan), n


def mda8_cube(cube: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Daily maximum 8-h mean (MDA8) of a day cube.

    Windows start at 00…16 local (17 windows within the day), each valid with ≥ 6 of 8 hours;
    the MDA8 is valid with ≥ 14 valid windows.

    Parameters
    ----------
    cube : ndarray (day, 24, id)
        Hourly O3 of local days (µg/m³), NaN = missing.

    Returns
    -------
    mda8 : ndarray (day, id)
        µg/m³, NaN when fewer than 14 windows are valid.
    n_windows : ndarray (day, id) of int
        Valid 8-h windows among the 17.
    """
    cube = _check(cube)
    fin = np.isfinite(cube)
    val = np.where(fin, cube, 0.0)
    cs = np.concatenate([np.zeros_like(val[:, :1]), np.cumsum(val, axis=1)], axis=1)
    cn = np.concatenate([np.zeros_like(val[:, :1]), np.cumsum(fin, axis=1)], axis=1)
    s = cs[:, 8:25] - cs[:, 0:17]
    n = cn[:, 8:25] - cn[:, 0:17]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(n >= MIN_HOURS_8H, s / np.maximum(n, 1), np.nan)
    nw = np.isfinite(w).sum(axis=1)
    mx = np.where(nw > 0, np.max(np.where(np.isfinite(w), w, -np.inf), axis=1), np.nan)
    return np.where(nw >= MIN_WINDOWS_MDA8, mx, np.nan), nw


def max_1h_cube(cube: np.ndarray, min_hours: int = MIN_HOURS_1H_MAX
                ) -> tuple[np.ndarray, np.ndarray]:
    """Daily maximum hourly value of a day cube (input unit); NaN with < ``min_hours`` hours.

    Returns ``(max, n)`` with ``n`` the valid hours per day, both ``(day, id)``.
    """
    cube = _check(cube)
    n = np.count_nonzero(~np.isnan(cube), axis=1)
    m = np.max(np.where(np.isnan(cube), -np.inf, cube), axis=1)
    return np.where(n >= min_hours, m, np.nan), n


def daily_statistic_cube(cube: np.ndarray, statistic: str) -> np.ndarray:
    """The regulatory daily statistic named in the pollutant registry (``mean`` | ``mda8``).

    Returns ``(day, id)`` in the input unit, NaN where invalid.
    """
    if statistic == "mean":
        return daily_mean_cube(cube)[0]
    if statistic == "mda8":
        return mda8_cube(cube)[0]
    raise ValueError(f"unknown daily statistic {statistic!r}; expected 'mean' or 'mda8'")


def trailing_mean(grid: np.ndarray, window: int, min_valid: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Trailing moving mean over ``window`` rows (hours *t−window+1 … t*) of a ``(time, id)`` grid.

    Returns ``(mean, n)``: the mean (input unit; NaN with fewer than ``min_valid`` valid values)
    and the valid count, both shaped like ``grid``. Rows before the start count as missing.
    """
    grid = np.asarray(grid, dtype=float)
    pad = np.full((window - 1, grid.shape[1]), np.nan)
    win = sliding_window_view(np.vstack([pad, grid]), window, axis=0)  # (T, nid, window)
    n = np.count_nonzero(~np.isnan(win), axis=-1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nansum(win, axis=-1) / n
    return np.where(n >= min_valid, mean, np.nan), n
