"""models.baselines: running bias, the running spread of recent errors, day-of-year climatology."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.models.baselines import (
    doy_climatology,
    doy_climatology_at,
    running_bias,
    running_spread_scale,
)
from airwarn.models.lgbm import RESID_LEVELS
from scipy.stats import norm

C = 10.0


def _errors(days: int, units: int, sigma: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Forecasts of 100 µg/m³ and outcomes off by a log-normal factor of spread ``sigma``."""
    rng = np.random.default_rng(seed)
    pred = np.full((days, 3, units), 100.0)
    obs = (pred + C) * np.exp(rng.normal(0.0, sigma, pred.shape)) - C
    dates = pd.date_range("2015-03-01", periods=days, freq="D")
    return pred, obs, dates


def test_running_bias_uses_only_errors_known_before_the_issue() -> None:
    pred = np.full((40, 3, 1), 50.0)
    obs = np.full((40, 3, 1), 40.0)  # forecasts 10 µg/m³ too high
    dates = pd.date_range("2015-03-01", periods=40, freq="D")
    b = running_bias(pred, obs, dates, window_days=28, min_days=7, shrink_days=14)
    # issue 0 … 7 at D+1 have fewer than 7 known errors; issue 30 has 28 → 10 × 28 / 42
    assert b[0:8, 0, 0] == pytest.approx(0.0)
    assert b[30, 0, 0] == pytest.approx(10 * 28 / 42)
    # a change of outcome on the issue day itself does not move its own bias
    obs2 = obs.copy()
    obs2[30:] = 0.0
    b2 = running_bias(pred, obs2, dates, window_days=28, min_days=7, shrink_days=14)
    assert b2[30, 0, 0] == pytest.approx(b[30, 0, 0])


def test_spread_scale_follows_the_recent_errors_shrunk_towards_one() -> None:
    cal = {k: list(norm.ppf(RESID_LEVELS) * 0.2) for k in (1, 2, 3)}  # calibrated σ = 0.2
    pred, obs, dates = _errors(60, 20, sigma=0.4)
    s = running_spread_scale(pred, obs, dates, cal, C, window_days=28, shrink_errors=300)
    # 28 days × 20 units = 560 errors twice as spread: 1 + (2 − 1) × 560 / 860 ≈ 1.65
    assert s[50, 0] == pytest.approx(1 + 560 / 860, abs=0.12)
    assert s[0, 0] == 1.0  # nothing known yet
    pred, obs, dates = _errors(60, 20, sigma=0.1, seed=1)
    calm = running_spread_scale(pred, obs, dates, cal, C, window_days=28, shrink_errors=300)
    assert calm[50, 2] == pytest.approx(1 - 0.5 * 560 / 860, abs=0.08)
    # issues the model was trained on do not count: none usable → factor 1
    none_usable = running_spread_scale(pred, obs, dates, cal, C, usable=np.zeros(60, bool))
    np.testing.assert_array_equal(none_usable, 1.0)


def test_doy_climatology_is_a_circular_running_mean_over_all_years() -> None:
    dates = pd.date_range("2013-03-01", "2015-02-28", freq="D")
    # unit A: 2 × day of year (µg/m³) in the first year, + 10 in the second; unit B: mostly missing
    a = 2.0 * dates.day_of_year.to_numpy() + np.where(dates >= "2014-03-01", 10.0, 0.0)
    b = np.where(dates.month == 7, 50.0, np.nan)
    clim = doy_climatology(pd.DataFrame({"A": a, "B": b}, index=dates), half_window_days=3)
    assert list(clim.index[[0, -1]]) == [1, 365] and list(clim.columns) == ["A", "B"]
    # day 100 (no leap day in this period): days 97…103 of both years, 2 × 100 + 5 on average
    assert clim.loc[100, "A"] == pytest.approx(205.0)
    # day 2 wraps round the year: days 364, 365, 1…5 of both years
    expect = np.mean([2 * d + o for d in (364, 365, 1, 2, 3, 4, 5) for o in (0.0, 10.0)])
    assert clim.loc[2, "A"] == pytest.approx(expect)
    # too few values (B outside July) → unknown, not 0
    assert clim.loc[196, "B"] == pytest.approx(50.0) and np.isnan(clim.loc[100, "B"])
    js = {"A": [None if np.isnan(v) else v for v in clim["A"]]}
    at = doy_climatology_at(js, pd.DatetimeIndex(["2016-04-10", "2016-01-02"]), ["A", "Z"])
    # 2016-04-10 is day 101 of a leap year but the same date as day 100 of the others;
    # unit Z has no climatology
    assert at[0, 0] == pytest.approx(205.0) and at[1, 0] == pytest.approx(expect)
    assert np.isnan(at[:, 1]).all()
