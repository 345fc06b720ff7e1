"""Block bootstrap and the Diebold–Mariano test (models.verify.stats) and compare_systems."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.models.verify import compare_systems
from airwarn.models.verify.stats import (
    auto_hac_lag,
    block_bootstrap_weights,
    diebold_mariano,
    hac_variance,
    percentile_interval,
)


@pytest.fixture(scope="module")
def synthetic():
    """Three units, 30 daily runs in the forecast contract format, and their observations."""
    from airwarn.models.verify.synthetic import synthetic_archive

    return synthetic_archive(["chengdu", "deyang", "zigong"], "2026-01-01", 21, seed=2, n_leads=81)


def test_block_bootstrap_weights_are_seeded_blocks():
    w = block_bootstrap_weights(30, 200, 7, seed=11)
    assert w.shape == (200, 30)
    assert (w.sum(axis=1) == 30).all()
    np.testing.assert_array_equal(w, block_bootstrap_weights(30, 200, 7, seed=11))
    assert not np.array_equal(w, block_bootstrap_weights(30, 200, 7, seed=12))
    # block length = n: every replicate is the whole sample
    assert (block_bootstrap_weights(10, 5, 10, seed=1) == 1).all()
    # blocks of 30 days from 30 days with block 1 behave like the iid bootstrap (some days repeat)
    assert (block_bootstrap_weights(30, 50, 1, seed=1).max(axis=1) > 1).any()


def test_percentile_interval_matches_nanquantile():
    x = np.random.default_rng(0).normal(size=(400, 6, 3))
    x[::5, 1, 2] = np.nan
    x[:, 4, 0] = np.nan
    lo, hi = percentile_interval(x, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(lo, np.nanquantile(x, 0.05, axis=0), equal_nan=True)
        np.testing.assert_allclose(hi, np.nanquantile(x, 0.95, axis=0), equal_nan=True)


def test_bootstrap_interval_contains_point_estimate(synthetic):
    from airwarn.models.verify import verify_archive

    ds, obs = synthetic
    res = verify_archive(ds, obs)
    t = res.tables["continuous_daily"]
    # MB and RMSE (smooth in the day weights): always inside. A ratio (skill) can fall just
    # outside a percentile interval when only a few blocks are resampled: most rows must contain it
    for k in ("rmse", "mb", "skill_persistence"):
        ok = t[[k, f"{k}_lo", f"{k}_hi"]].dropna()
        assert len(ok) > 30
        inside = (ok[f"{k}_lo"] <= ok[k] + 1e-9) & (ok[k] <= ok[f"{k}_hi"] + 1e-9)
        assert inside.all() if k != "skill_persistence" else inside.mean() >= 0.9, k
        assert (ok[f"{k}_hi"] > ok[f"{k}_lo"]).all()
    again = verify_archive(ds, obs).tables["continuous_daily"]
    pd.testing.assert_frame_equal(t, again)  # seeded: identical intervals


def test_hac_variance_hand_computed():
    d = np.array([1.0, -1.0, 1.0, -1.0])
    assert hac_variance(d, 0) == pytest.approx(1.0)
    # γ1 = (−1 −1 −1)/4 = −0.75; Bartlett weight 1 − 1/2 → 1 + 2·0.5·(−0.75)
    assert hac_variance(d, 1) == pytest.approx(0.25)
    assert auto_hac_lag(100, 1) == 4 and auto_hac_lag(10, 3) == 2


def test_diebold_mariano_detects_a_better_system_and_not_an_identical_one():
    rng = np.random.default_rng(8)
    n = 60
    obs = rng.gamma(3, 25, n)
    good = obs + rng.normal(0, 10, n)
    bad = obs + rng.normal(0, 30, n)
    res = diebold_mariano((good - obs) ** 2, (bad - obs) ** 2)
    assert res["mean_diff"] < 0 and res["p_value"] < 0.01
    same = diebold_mariano((good - obs) ** 2, (good - obs) ** 2)
    assert same["stat"] == 0.0 and same["p_value"] == 1.0
    # two systems of equal quality: no significant difference at 5 %
    other = obs + rng.normal(0, 10, n)
    eq = diebold_mariano((good - obs) ** 2, (other - obs) ** 2)
    assert eq["p_value"] > 0.05


def test_compare_systems_per_lead():
    rng = np.random.default_rng(9)
    it = pd.date_range("2026-01-01T07:00", periods=40, freq="D")
    dims = ("issue_time", "region", "day")
    coords = {"issue_time": it, "region": ["a", "b", "c"], "day": [1, 2, 3]}
    obs = xr.DataArray(rng.gamma(3, 25, (40, 3, 3)), dims=dims, coords=coords)
    a = obs + rng.normal(0, 8, obs.shape)
    b = obs + rng.normal(0, 25, obs.shape)
    t = compare_systems(a, b, obs, by=("day",), names=("lgbm", "persistence"))
    assert t["day"].tolist() == [1, 2, 3]
    assert (t["better"] == "lgbm").all()
    assert (t["rmse_a"] < t["rmse_b"]).all()
    assert (t["diff_hi"] < 0).all()  # paired block-bootstrap interval excludes 0
    same = compare_systems(a, a, obs, by=("day",))
    assert (same["better"] == "none").all() and (same["p_value"] == 1.0).all()
    flipped = compare_systems(b, a, obs, by=("day",), names=("x", "y"))
    assert (flipped["better"] == "y").all()
