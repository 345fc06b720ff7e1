"""models.lgbm: pieces that need no training — linear recalibration, quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from models.lgbm import RESID_LEVELS, _linear_fit, apply_linear, quantiles_from_resid


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


def test_quantiles_from_residuals_are_ordered_and_centred_on_the_median() -> None:
    resid = np.sort(np.random.default_rng(0).normal(0.1, 0.3, 99))
    q = quantiles_from_resid(np.array([80.0, 0.0]), resid, [0.1, 0.5, 0.9], 10.0)
    assert q.shape == (2, 3)
    assert q[0, 1] == pytest.approx(80.0)
    assert (np.diff(q, axis=-1) >= 0).all() and (q >= 0).all()
    assert len(RESID_LEVELS) == 99
