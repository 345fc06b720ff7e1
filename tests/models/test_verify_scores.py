"""Score formulas of models.verify.scores: hand-computed values on tiny arrays, and the libraries
they mirror (xskillscore, scoringrules, scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
import scoringrules
import xarray as xr
import xskillscore as xs
from airwarn.models.verify import scores as sc
from sklearn.metrics import brier_score_loss, confusion_matrix


def _scores(f, o, pers=None, clim=None):
    f, o = np.asarray(f, float), np.asarray(o, float)
    out = sc.scores_from_sums(sc.continuous_sums(f, o, 0, pers, clim))
    out["ioa"] = sc.ioa(f, o, 0)
    return {k: float(v) for k, v in out.items()}


def test_continuous_hand_computed():
    s = _scores([1, 2, 3, 4], [2, 2, 2, 6])
    assert s["n"] == 4
    assert s["mb"] == pytest.approx(-0.5)
    assert s["mae"] == pytest.approx(1.0)
    assert s["rmse"] == pytest.approx(np.sqrt(1.5))
    assert s["nmb"] == pytest.approx(-2 / 12)
    assert s["nme"] == pytest.approx(4 / 12)
    assert s["r"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [2, 2, 2, 6])[0, 1])
    # IOA: ō = 3, Σe² = 6, Σ(|f−ō|+|o−ō|)² = 9 + 4 + 1 + 16 = 30 → 1 − 6/30
    assert s["ioa"] == pytest.approx(0.8)


def test_skill_against_references_hand_computed():
    f = [1, 2, 3, 4]
    o = [2, 2, 2, 6]
    pers = [0, 0, 0, 0]  # squared errors 4 4 4 36 → RMSE √12
    clim = [3, 3, 3, 3]  # squared errors 1 1 1 9 → RMSE √3
    s = _scores(f, o, np.asarray(pers, float), np.asarray(clim, float))
    assert s["skill_persistence"] == pytest.approx(1 - np.sqrt(1.5) / np.sqrt(12))
    assert s["skill_climatology"] == pytest.approx(1 - np.sqrt(1.5) / np.sqrt(3))
    # a reference missing on a sample: skill uses only the samples where both exist
    p2 = np.array([0, 0, 0, np.nan])
    s2 = _scores(f, o, p2)
    assert s2["skill_persistence"] == pytest.approx(1 - np.sqrt(2 / 3) / np.sqrt(4))
    assert s2["rmse"] == pytest.approx(np.sqrt(1.5))  # the forecast's own RMSE keeps all pairs


def test_continuous_matches_xskillscore_with_missing_values():
    rng = np.random.default_rng(4)
    o = rng.gamma(3, 20, size=(40, 5))
    f = o + rng.normal(3, 15, size=o.shape)
    f[3, 1] = np.nan
    o[7, 2] = np.nan
    fa = xr.DataArray(f, dims=("issue_time", "region"))
    oa = xr.DataArray(o, dims=("issue_time", "region"))
    ds = sc.continuous_scores(fa, oa, "issue_time")
    np.testing.assert_allclose(ds["rmse"], xs.rmse(fa, oa, dim="issue_time", skipna=True))
    np.testing.assert_allclose(ds["mae"], xs.mae(fa, oa, dim="issue_time", skipna=True))
    np.testing.assert_allclose(ds["mb"], xs.me(fa, oa, dim="issue_time", skipna=True))
    np.testing.assert_allclose(ds["r"], xs.pearson_r(fa, oa, dim="issue_time", skipna=True))
    assert ds["n"].values.tolist() == [40, 39, 39, 40, 40]


def test_contingency_scores_hand_computed():
    s = sc.categorical_scores(3, 1, 2, 4)
    assert s["pod"] == pytest.approx(0.6)
    assert s["far"] == pytest.approx(0.25)      # false-alarm RATIO b/(a+b)
    assert s["pofd"] == pytest.approx(0.2)      # false-alarm RATE b/(b+d)
    assert s["sr"] == pytest.approx(0.75)
    assert s["csi"] == pytest.approx(0.5)
    assert s["fbias"] == pytest.approx(0.8)
    assert s["pc"] == pytest.approx(0.7)
    assert s["ets"] == pytest.approx(0.25)      # a_r = 4·5/10 = 2
    assert s["hss"] == pytest.approx(0.4)       # 2(12 − 2)/(5·6 + 4·5)
    assert s["pss"] == pytest.approx(0.4)
    # no events forecast: FAR undefined, POFD defined
    s0 = sc.categorical_scores(0, 0, 3, 7)
    assert np.isnan(s0["far"]) and s0["pofd"] == 0.0 and s0["pod"] == 0.0


def test_far_and_pofd_are_distinct():
    s = sc.categorical_scores(a=10, b=10, c=0, d=980)
    assert s["far"] == pytest.approx(0.5)
    assert s["pofd"] == pytest.approx(10 / 990)
    assert s["far"] != pytest.approx(s["pofd"])


def test_categorical_matches_xskillscore_contingency():
    rng = np.random.default_rng(7)
    o = rng.gamma(2, 60, size=(60, 4))
    f = o * rng.lognormal(0, 0.4, size=o.shape)
    thr = 150.0
    cnt = sc.contingency_counts(f > thr, o > thr)
    s = sc.categorical_scores(**cnt)
    fa = xr.DataArray(f, dims=("t", "r"))
    oa = xr.DataArray(o, dims=("t", "r"))
    ct = xs.Contingency(oa, fa, np.array([-np.inf, thr, np.inf]), np.array([-np.inf, thr, np.inf]),
                        dim=["t", "r"])
    assert cnt["a"] == int(ct.hits()) and cnt["b"] == int(ct.false_alarms())
    assert cnt["c"] == int(ct.misses()) and cnt["d"] == int(ct.correct_negatives())
    for ours, theirs in (("pod", ct.hit_rate()), ("far", ct.false_alarm_ratio()),
                         ("pofd", ct.false_alarm_rate()), ("sr", ct.success_ratio()),
                         ("csi", ct.threat_score()), ("fbias", ct.bias_score()),
                         ("ets", ct.equit_threat_score()), ("hss", ct.heidke_score()),
                         ("pss", ct.peirce_score()), ("pc", ct.accuracy())):
        assert float(s[ours]) == pytest.approx(float(theirs)), ours


def test_contingency_skips_missing():
    cnt = sc.contingency_counts([1, 0, np.nan, 1], [1, 1, 1, np.nan])
    assert cnt == {"a": 1, "b": 0, "c": 1, "d": 0}


def test_aqi_levels_and_half_levels():
    assert sc.aqi_levels([0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500]).tolist() == \
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert sc.aqi_levels([np.nan, 50.2]).tolist() == [0, 2]  # a fractional AQI is ceiled
    upper = [25, 50, 75, 100, 125, 150, 175, 200, 250, 300, 400, 500]
    assert sc.half_levels([1, 25, 26, 150, 151, 250, 251, 400, 401, 500], upper).tolist() == \
        [1, 1, 2, 6, 7, 9, 10, 11, 12, 12]


def test_level_accuracy_with_a_two_level_range():
    # observed 105 (level 3); forecast median 95 (level 2) with range 90–110 crossing 100
    assert sc.level_accuracy([105], [90], [110], [95]) == 1.0
    assert sc.exact_level_accuracy([105], [95]) == 0.0
    assert sc.within_one_level_accuracy([105], [95]) == 1.0
    # a range inside one level: only that level counts
    assert sc.level_accuracy([105], [80], [99], [95]) == 0.0
    lo, hi = sc.level_sets([90, 80], [110, 99], [95, 95])
    assert lo.tolist() == [2, 2] and hi.tolist() == [3, 2]


def test_level_set_is_cut_to_two_adjacent_levels():
    # range 40–210 touches levels 1…5; the median 120 is level 3; equal room → extend upward
    lo, hi = sc.level_sets([40], [210], [120], max_levels=2)
    assert (int(lo[0]), int(hi[0])) == (3, 4)
    # more room downward → extend downward
    lo, hi = sc.level_sets([10], [160], [140], max_levels=2)
    assert (int(lo[0]), int(hi[0])) == (2, 3)
    lo, hi = sc.level_sets([10], [260], [140], max_levels=3)
    assert (int(lo[0]), int(hi[0])) == (2, 4)


def test_range_and_half_level_accuracy():
    assert sc.range_accuracy([100, 120, 130, np.nan], [100, 90, 131, 0], [110, 119, 140, 1]) == \
        pytest.approx(1 / 3)  # bounds inclusive; the NaN day is not counted
    upper = [25, 50, 75, 100, 125, 150, 175, 200, 250, 300, 400, 500]
    assert sc.half_level_accuracy([60, 80, 260], [70, 74, 299], upper) == pytest.approx(2 / 3)


def test_primary_accuracy_counts_only_days_above_50():
    obs_p = ["PM2.5", "O3_8h", None, "PM2.5,PM10", "PM2.5"]
    fc_p = ["PM2.5,PM10", "O3", "PM2.5", "PM10", "O3_8h"]
    aqi = [120, 110, 40, 160, 90]
    # day 3 (AQI 40) excluded; hits: day1 (PM2.5 ∈ {PM2.5,PM10}), day2 (O3 8h ≙ O3), day4 (PM10)
    assert sc.primary_accuracy(obs_p, fc_p, aqi) == pytest.approx(3 / 4)


def test_crps_hand_computed_and_against_scoringrules():
    # y = 0, quantiles −1, 0, 1 at 0.25, 0.5, 0.75: pinball 0.25, 0, 0.25 → 2/3 · 0.5
    assert float(sc.pinball_crps(0.0, [-1.0, 0.0, 1.0], [0.25, 0.5, 0.75])) == pytest.approx(1 / 3)
    rng = np.random.default_rng(1)
    alpha = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    obs = rng.normal(50, 20, size=200)
    fct = np.sort(rng.normal(50, 20, size=(200, 5)), axis=1)
    ours = sc.pinball_crps(obs, fct, alpha)
    # scoringrules.crps_quantile(obs, fct, alpha): quantile axis last, alpha = the levels
    theirs = scoringrules.crps_quantile(obs, fct, alpha, backend="numpy")
    np.testing.assert_allclose(ours, theirs)


def test_interval_coverage():
    cov, n = sc.interval_coverage([1, 5, 10, np.nan], [0, 6, 10, 0], [2, 8, 12, 1])
    assert (cov, n) == (pytest.approx(2 / 3), 3)


def test_brier_against_sklearn_and_xskillscore():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 300)
    o = (rng.uniform(0, 1, 300) < p).astype(float)
    bs, n = sc.brier_score(p, o)
    assert n == 300
    assert bs == pytest.approx(brier_score_loss(o, p))
    assert bs == pytest.approx(float(xs.brier_score(xr.DataArray(o.astype(bool), dims="t"),
                                                    xr.DataArray(p, dims="t"), dim="t")))
    assert sc.brier_score([0.0, 1.0], [0, 1]) == (0.0, 2)


def test_reliability_table_against_xskillscore():
    rng = np.random.default_rng(5)
    p = np.round(rng.uniform(0.001, 0.999, 2000), 6)
    o = (rng.uniform(0, 1, 2000) < p).astype(float)
    t = sc.reliability_table(p, o, 5)
    assert t["count"].sum() == 2000
    rel = xs.reliability(xr.DataArray(o.astype(bool), dims="t"), xr.DataArray(p, dims="t"),
                         dim="t", probability_bin_edges=np.linspace(0, 1, 6))
    np.testing.assert_allclose(t["obs_freq"], rel.values)
    np.testing.assert_array_equal(t["count"], rel["samples"].values)
    # hand check on 4 values: bins [0, .5), [.5, 1]
    t2 = sc.reliability_table([0.1, 0.2, 0.6, 1.0], [0, 1, 1, 1], 2)
    np.testing.assert_allclose(t2["mean_prob"], [0.15, 0.8])
    np.testing.assert_allclose(t2["obs_freq"], [0.5, 1.0])


def test_level_confusion_against_sklearn():
    rng = np.random.default_rng(2)
    o = rng.integers(1, 400, 300)
    f = np.clip(o + rng.normal(0, 40, 300), 1, 500)
    lo, lf = sc.aqi_levels(o), sc.aqi_levels(f)
    mat = np.zeros((6, 6), int)
    np.add.at(mat, (lo - 1, lf - 1), 1)
    np.testing.assert_array_equal(mat, confusion_matrix(lo, lf, labels=[1, 2, 3, 4, 5, 6]))
