"""models.baselines: running bias and the running spread of recent errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from models.baselines import running_bias, running_spread_scale
from models.lgbm import RESID_LEVELS

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
