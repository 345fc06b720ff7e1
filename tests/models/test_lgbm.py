"""models.lgbm: pieces that need no training: recalibration, quantiles, climatology blend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import ModelSettings
from airwarn.features.build import IssueFeatures
from airwarn.models.lgbm import (
    RESID_LEVELS,
    PollutantModel,
    _linear_fit,
    _training_issues,
    apply_clim_blend,
    apply_linear,
    clim_blend_weight,
    quantiles_from_resid,
)


def test_linear_recalibration_is_trusted_only_over_its_calibration_range() -> None:
    # a winter calibration split: forecasts 20…100 µg/m³, outcomes at 60 % of them
    pred = np.linspace(20, 100, 200)
    ab = _linear_fit(pred, 0.6 * pred)
    assert ab[:2] == pytest.approx([0.0, 0.6], abs=1e-9)
    assert ab[2:] == pytest.approx([20.8, 99.2], abs=0.01)
    assert apply_linear(np.array([50.0]), ab)[0] == pytest.approx(30.0)
    # a summer forecast of 200 keeps the correction of the range end (slope 1), not 0.6 × 200
    assert apply_linear(np.array([200.0]), ab)[0] == pytest.approx(0.6 * 99.2 + (200 - 99.2))
    # cards written before the range was stored ([a, b]) apply the plain line
    assert apply_linear(np.array([200.0]), ab[:2])[0] == pytest.approx(120.0)
    assert apply_linear(np.array([-5.0]), [-10.0, 1.0])[0] == 0.0


def test_no_linear_recalibration_of_a_constant_calibration_forecast() -> None:
    # a model that could not split: every calibration forecast 83 µg/m³, winter outcomes ~123;
    # a line through it would only be that season's +40 shift, applied all year
    y = np.random.default_rng(2).normal(123.0, 30.0, 250)
    assert _linear_fit(np.full(250, 83.0), y) is None
    assert _linear_fit(np.full(250, 83.0) + np.linspace(0, 0.5, 250), y) is None  # < 1 µg/m³
    ab = _linear_fit(np.linspace(60.0, 110.0, 250), y)
    assert ab is not None and ab[2:] == pytest.approx([60.5, 109.5], abs=0.01)


def test_quantiles_from_residuals_are_ordered_and_centred_on_the_median() -> None:
    resid = np.sort(np.random.default_rng(0).normal(0.1, 0.3, 99))
    q = quantiles_from_resid(np.array([80.0, 0.0]), resid, [0.1, 0.5, 0.9], 10.0)
    assert q.shape == (2, 3)
    assert q[0, 1] == pytest.approx(80.0)
    assert (np.diff(q, axis=-1) >= 0).all() and (q >= 0).all()
    assert len(RESID_LEVELS) == 99


def test_clim_blend_weight_shrinks_a_noisy_forecast_and_leaves_a_good_one() -> None:
    rng = np.random.default_rng(1)
    clim = np.full(4000, 120.0)
    signal = rng.normal(0, 30, 4000)
    y = clim + signal
    # a forecast that knows the signal exactly: any climatology only hurts
    w, r0, r1 = clim_blend_weight(y, y.copy(), clim, w_max=0.6)
    assert w == 0.0 and r0 == r1 == 0.0
    # half the signal plus noise of variance 450: regression slope of the outcome anomaly on
    # the forecast anomaly 450 / 675 = ⅔, so the best weight of the climatology is ⅓
    noisy = clim + 0.5 * signal + rng.normal(0, np.sqrt(450), 4000)
    w, r0, r1 = clim_blend_weight(y, noisy, clim, w_max=0.6)
    assert w == pytest.approx(0.35, abs=0.1) and r1 < 0.99 * r0
    # capped at w_max; a gain under min_gain keeps w = 0
    assert clim_blend_weight(y, noisy, clim, w_max=0.1)[0] == pytest.approx(0.1)
    assert clim_blend_weight(y, noisy, clim, w_max=0.6, min_gain=0.5)[0] == 0.0
    # rows without a climatology count as unchanged; too few rows → no weight
    assert clim_blend_weight(y[:10], noisy[:10], clim[:10])[0] == 0.0


def test_apply_clim_blend_per_lead_day_and_unit() -> None:
    # issue 2015-07-01 12:00 local → D+2 is 2015-07-03, day of year 184
    clim_a = [100.0] * 366
    clim_a[183] = 200.0
    model = PollutantModel("o3", {}, None, {}, [], {}, {}, clim_weight={2: 0.3},
                           clim_daily={"A": clim_a})
    daily = np.full((1, 3, 2), 140.0)
    out = apply_clim_blend(daily, model, pd.DatetimeIndex(["2015-07-01 04:00"], tz="UTC"),
                           ["A", "B"])
    assert out[0, 1, 0] == pytest.approx(0.7 * 140 + 0.3 * 200)  # D+2, unit A
    assert out[0, 0, 0] == 140.0 and out[0, 2, 0] == 140.0      # D+1, D+3: no weight
    assert (out[0, :, 1] == 140.0).all()                         # unit B: no climatology
    assert (daily == 140.0).all()                                # input untouched


def test_leaf_rows_caps_the_no_met_leaf_size_on_small_training_sets() -> None:
    from airwarn.configs.model_schema import LgbmParams
    from airwarn.models.lgbm import leaf_rows

    p = LgbmParams(min_data_in_leaf=300, min_data_in_leaf_fraction=0.1)
    # Chengdu, one training year × 3 stations: 1080 rows per lead day → leaves of ≥ 108 rows
    assert leaf_rows(p, 1080) == 108
    assert leaf_rows(p, 451) == 46        # rounded up
    # Beijing, two years × 12 stations: the configured 300 stays
    assert leaf_rows(p, 8760) == 300
    assert leaf_rows(p, 3) == 1
    # unset fraction or unknown rows: the configured value
    assert leaf_rows(LgbmParams(min_data_in_leaf=300), 1080) == 300
    assert leaf_rows(p, None) == 300


def test_apply_persistence_blend_per_lead_day_where_observed() -> None:
    from airwarn.models.lgbm import apply_persistence_blend

    model = PollutantModel("pm25", {}, None, {}, [], {}, {}, persist_weight={1: 0.25})
    daily = np.full((2, 3, 2), 100.0)
    last = np.array([[180.0, np.nan], [20.0, 60.0]])
    out = apply_persistence_blend(daily, model, last)
    assert out[0, 0, 0] == pytest.approx(0.75 * 100 + 0.25 * 180)   # D+1: 120
    assert out[1, 0, 0] == pytest.approx(80.0) and out[1, 0, 1] == pytest.approx(90.0)
    assert out[0, 0, 1] == 100.0                                     # no observation
    assert (out[:, 1:] == 100.0).all() and (daily == 100.0).all()     # D+2, D+3; input kept
    # no weights, or no observed value: unchanged
    assert apply_persistence_blend(daily, PollutantModel("pm25", {}, None, {}, [], {}, {}),
                                   last) is daily
    assert apply_persistence_blend(daily, model, None) is daily


def _issues(first_obs: list[int], n: int = 8) -> IssueFeatures:
    """Issues of ``n`` days with one unit per entry of ``first_obs`` whose PM2.5 record begins
    at that issue (a gap at issue 6 of the first unit does not end its record)."""
    times = pd.date_range("2014-01-01 04:00", periods=n, freq="D", tz="UTC")
    m24 = np.full((n, len(first_obs)), np.nan)
    for j, i0 in enumerate(first_obs):
        m24[i0:, j] = 50.0
    m24[6, 0] = np.nan
    return IssueFeatures(issue_times=times, units=[f"u{j}" for j in range(len(first_obs))],
                         hist={"pm25_m24": m24}, metday={}, methour={}, nleads=84)


def test_calibration_split_counts_the_units_whose_record_has_begun() -> None:
    settings = ModelSettings(calibration_fraction=0.25)
    both = _issues([0, 0])
    # every record begun at the first issue: the last quarter of the issues, as without rows
    assert _training_issues([both], settings, "pm25")[2] == both.issue_times[6]
    assert _training_issues([both], settings)[2] == both.issue_times[6]
    # the second unit begins at issue 4 (rows 1,1,1,1,2,2,2,2 = 12): the split keeps at least
    # 3 rows, from issue 6 on (4 rows), not the last two issues of the first unit's history
    late = _issues([0, 4])
    assert _training_issues([late], settings, "pm25")[2] == late.issue_times[6]
    # one unit extended back in time by 8 issues before two others (rows 1×8, 3×4 = 20): the
    # split keeps ≥ 5 rows, from issue 10 on (6 rows); counting issues alone it would begin at
    # issue 9 (9 rows, 45 % of the rows)
    long = _issues([0, 8, 8], n=12)
    assert _training_issues([long], settings, "pm25")[2] == long.issue_times[10]
    assert _training_issues([long], settings)[2] == long.issue_times[9]
