"""The one implementation of the daily statistics, and its two callers agreeing on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airwarn.core.daily import daily_mean_cube, max_1h_cube, mda8_cube, trailing_mean


def _cube(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(1, 24, 1)


def test_daily_mean_needs_20_hours() -> None:
    v = np.arange(24, dtype=float)
    m, n = daily_mean_cube(_cube(v))
    assert n[0, 0] == 24 and m[0, 0] == pytest.approx(11.5)
    v20 = v.copy()
    v20[:4] = np.nan  # 20 valid hours: still a daily mean
    m, n = daily_mean_cube(_cube(v20))
    assert n[0, 0] == 20 and m[0, 0] == pytest.approx(np.mean(np.arange(4, 24)))
    v19 = v.copy()
    v19[:5] = np.nan  # 19 valid hours: none
    m, n = daily_mean_cube(_cube(v19))
    assert n[0, 0] == 19 and np.isnan(m[0, 0])


def test_mda8_windows_and_validity() -> None:
    v = np.full(24, 50.0)
    v[12:20] = 200.0  # one 8-h window (12–19) at 200
    m, nw = mda8_cube(_cube(v))
    assert nw[0, 0] == 17 and m[0, 0] == pytest.approx(200.0)
    # a window with 6 of 8 hours is valid; the mean is over the 6
    w = np.full(24, 50.0)
    w[12:20] = [200, 200, np.nan, 200, 200, np.nan, 200, 200]
    m, _ = mda8_cube(_cube(w))
    assert m[0, 0] == pytest.approx(200.0)
    # hours 20–23 are not the start of any window of the day: a peak there only enters windows
    # ending at 23 (16–23)
    late = np.full(24, 10.0)
    late[23] = 810.0
    m, _ = mda8_cube(_cube(late))
    assert m[0, 0] == pytest.approx((7 * 10 + 810) / 8)
    # 14 valid windows are needed: hours 00–04 missing leave windows starting 03…16 (≥ 6 of 8
    # hours) = 14 → valid; hours 00–05 missing leave 04…16 = 13 → no MDA8
    g = np.full(24, 60.0)
    g[:5] = np.nan
    m, nw = mda8_cube(_cube(g))
    assert nw[0, 0] == 14 and m[0, 0] == pytest.approx(60.0)
    g[5] = np.nan
    m, nw = mda8_cube(_cube(g))
    assert nw[0, 0] == 13 and np.isnan(m[0, 0])


def test_max_1h_and_trailing_mean() -> None:
    v = np.arange(24, dtype=float)
    m, n = max_1h_cube(_cube(v))
    assert m[0, 0] == 23 and n[0, 0] == 24
    grid = np.arange(10, dtype=float).reshape(10, 1)
    mean, cnt = trailing_mean(grid, 8, 6)
    assert np.isnan(mean[4, 0]) and cnt[4, 0] == 5
    assert mean[5, 0] == pytest.approx(np.mean(np.arange(6))) and mean[9, 0] == pytest.approx(5.5)


def test_shape_is_checked() -> None:
    with pytest.raises(ValueError, match=r"day cube \(day, 24, id\)"):
        daily_mean_cube(np.zeros((2, 23, 1)))


def _hourly(seed: int = 7, days: int = 20, units: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # local midnight of 2026-01-01 (+08:00) = 16:00 UTC the day before, and a few hours of the
    # previous local day so that a partly covered first day exists
    times = pd.date_range("2025-12-31T10:00Z", periods=days * 24, freq="h")
    rows = []
    for u in range(units):
        pm25 = rng.gamma(3.0, 25.0, len(times))
        o3 = 60 + 50 * np.sin(np.arange(len(times)) * 2 * np.pi / 24) + rng.normal(0, 10, len(times))
        pm10 = pm25 * 1.6
        gap = rng.random(len(times)) < 0.12  # ~12 % missing: some days fall under 20 h / 14 windows
        pm25[gap] = np.nan
        o3[rng.random(len(times)) < 0.15] = np.nan
        rows.append(pd.DataFrame({"time": times, "unit_id": f"u{u}", "pm25": pm25,
                                  "pm10": pm10, "o3": o3}))
    return pd.concat(rows, ignore_index=True)


def test_features_and_alerts_daily_statistics_agree() -> None:
    """features.build.daily_targets (training targets) and alerts.daily.daily_products (warnings,
    verification) give identical values on the same hourly data."""
    from airwarn.alerts.daily import daily_products
    from airwarn.features.build import daily_targets, make_panel

    hourly = _hourly()
    units = sorted(hourly["unit_id"].unique())
    panel = make_panel(hourly, ["pm25", "pm10", "o3"], units)
    targets = daily_targets(panel, ["pm25", "pm10", "o3"])
    prod = daily_products(hourly, id_col="unit_id")
    prod["date"] = pd.to_datetime(prod["date"])
    checked = 0
    for p, col in (("pm25", "pm25"), ("pm10", "pm10"), ("o3", "o3_8h_max")):
        wide = prod.pivot(index="date", columns="unit_id", values=col)
        a = targets[p].reindex(index=wide.index, columns=units).to_numpy()
        b = wide.reindex(columns=units).to_numpy()
        assert np.array_equal(a, b, equal_nan=True), p
        checked += int(np.isfinite(a).sum())
        # the data have both valid and invalid days, so the rules were exercised
        assert np.isnan(a).any() and np.isfinite(a).any()
    assert checked > 100
