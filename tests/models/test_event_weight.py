"""The event weight of models trained with future meteorology (``event_weight_met``) and
without it (``event_weight``), on a tiny real slice (2 Beijing stations, 60 days;
tests/data/uci, CC BY 4.0)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import LgbmParams, ModelSettings
from airwarn.features.build import (
    POLLUTANTS,
    NoMet,
    PerfectMet,
    build_issue_features,
    daily_targets,
    make_panel,
)
from airwarn.models.backtest import issue_times_between, load_domain_data
from airwarn.models.lgbm import predict_pollutant, train_pollutant

from tests.models.test_backtest import DOMAIN

DATA = Path(__file__).resolve().parents[1] / "data"


def _settings(**kw) -> ModelSettings:
    p = LgbmParams(num_boost_round=15, learning_rate=0.2, num_leaves=7, min_data_in_leaf=10,
                   num_threads=1)
    return ModelSettings(daily=p, hourly=p, bias_min_days=2, calibration_fraction=0.3,
                         event_weight={"pm25": (150.0, 1.5)}, **kw)


def test_event_weight_for_reads_the_met_override() -> None:
    s = _settings(event_weight_met={"pm25": (100.0, 2.0)})
    assert s.event_weight_for("pm25", met=True) == (100.0, 2.0)
    assert s.event_weight_for("pm25", met=False) == (150.0, 1.5)
    assert s.event_weight_for("o3", met=True) is None  # named nowhere: no extra weight
    assert _settings().event_weight_for("pm25", met=True) == (150.0, 1.5)


@pytest.fixture(scope="module")
def slice_():
    d = load_domain_data(DOMAIN, root=DATA)
    table = d.obs_units.merge(d.met_units, on=["time", "unit_id"], how="left")
    units = sorted(table["unit_id"].unique())
    obs = make_panel(table, POLLUTANTS + [c for c in d.met_units.columns
                                          if c not in ("time", "unit_id")], units)
    its = issue_times_between(pd.Timestamp("2013-03-04"), pd.Timestamp("2013-04-24"), 12)
    met = [build_issue_features(obs, its, PerfectMet(d.met_units), geometry=d.geometry)]
    nomet = [build_issue_features(obs, its, NoMet(), geometry=d.geometry)]
    return obs, daily_targets(obs), met, nomet


def test_met_override_changes_only_the_models_with_meteorology(slice_) -> None:
    obs, dobs, met, nomet = slice_
    plain, over = _settings(), _settings(event_weight_met={"pm25": (60.0, 5.0)})
    days = dobs["pm25"].to_numpy()
    assert 0.1 < np.nanmean(days > 60) < 0.9  # the override's threshold splits the slice's days
    for feats, changed in ((met, True), (nomet, False)):
        a = train_pollutant(obs, dobs, feats, "pm25", plain, hourly=False)
        b = train_pollutant(obs, dobs, feats, "pm25", over, hourly=False)
        assert b.info["design"]["weights"].endswith("(60.0, 5.0)" if changed else "(150.0, 1.5)")
        f = feats[0].take(slice(-10, None))
        pa, pb = predict_pollutant(a, f)["daily"], predict_pollutant(b, f)["daily"]
        assert (not np.allclose(pa, pb)) if changed else np.array_equal(pa, pb)


def test_pooled_weight_met_overrides_only_the_models_with_meteorology(slice_) -> None:
    obs, dobs, met, nomet = slice_
    base = {"pooled_weight": {1: 0.0, 2: 0.4, 3: 0.6}}
    s = _settings(**base, pooled_weight_met={"pm25": {1: 0.7}})
    assert s.pooled_weight_for("pm25", met=True) == {1: 0.7, 2: 0.4, 3: 0.6}
    assert s.pooled_weight_for("pm25", met=False) == {1: 0.0, 2: 0.4, 3: 0.6}
    assert s.pooled_weight_for("o3", met=True) == {1: 0.0, 2: 0.4, 3: 0.6}
    for feats, d1 in ((met, 0.7), (nomet, 0.0)):
        m = train_pollutant(obs, dobs, feats, "pm25", s, hourly=False)
        # designs [per_lead_day, pooled]: per-lead-day weight 1 − w, pooled w, at D+1 only
        assert m.daily_weights[1] == pytest.approx([1 - d1, d1])
        assert m.daily_weights[2] == pytest.approx([0.6, 0.4])


def test_min_data_in_leaf_met_sets_only_the_named_pollutants_met_trees(slice_) -> None:
    obs, dobs, met, nomet = slice_
    s = _settings(min_data_in_leaf_met={"pm25": 60})
    assert s.daily_params_for("pm25", met=True).min_data_in_leaf == 60
    assert s.daily_params_for("pm25", met=False).min_data_in_leaf == 10
    assert s.daily_params_for("o3", met=True).min_data_in_leaf == 10
    no_met = s.model_copy(update={"daily_no_met": LgbmParams(min_data_in_leaf=7)})
    assert no_met.daily_params_for("pm25", met=False).min_data_in_leaf == 7
    with pytest.raises(ValueError, match=r"\['so2'\] are not forecast targets"):
        _settings(min_data_in_leaf_met={"so2": 60})
    plain = _settings()
    for feats, leaf in ((met, 60), (nomet, 10)):
        a = train_pollutant(obs, dobs, feats, "pm25", plain, hourly=False)
        b = train_pollutant(obs, dobs, feats, "pm25", s, hourly=False)
        # the fitted trees carry the leaf size they were grown with (LightGBM's model text)
        assert f"[min_data_in_leaf: {leaf}]" in b.daily[1][0].model_to_string()
        f = feats[0].take(slice(-10, None))
        pa, pb = predict_pollutant(a, f)["daily"], predict_pollutant(b, f)["daily"]
        assert (not np.allclose(pa, pb)) if leaf == 60 else np.array_equal(pa, pb)


def test_min_data_in_leaf_fraction_met_caps_only_the_named_pollutants_met_leaves(slice_) -> None:
    """A leaf size of 60 rows on the slice's ~40-row daily fits is capped at 10 % of them."""
    obs, dobs, met, nomet = slice_
    s = _settings(min_data_in_leaf_met={"pm25": 60}, min_data_in_leaf_fraction_met={"pm25": 0.1})
    p = s.daily_params_for("pm25", met=True)
    assert (p.min_data_in_leaf, p.min_data_in_leaf_fraction) == (60, 0.1)
    assert s.daily_params_for("pm25", met=False).min_data_in_leaf_fraction is None
    assert s.daily_params_for("o3", met=True).min_data_in_leaf_fraction is None
    with pytest.raises(ValueError, match=r"\['so2'\] are not forecast targets"):
        _settings(min_data_in_leaf_fraction_met={"so2": 0.1})
    with pytest.raises(ValueError, match="less than or equal to 0.5"):
        _settings(min_data_in_leaf_fraction_met={"pm25": 0.8})
    m = train_pollutant(obs, dobs, met, "pm25", s, hourly=False)
    text = m.daily[1][0].model_to_string()
    leaf = int(text.split("[min_data_in_leaf: ")[1].split("]")[0])
    rows = int(np.isfinite(dobs["pm25"].to_numpy()).sum())  # an upper bound on a fit's rows
    assert 1 <= leaf <= int(np.ceil(0.1 * rows)) < 60
    m_no = train_pollutant(obs, dobs, nomet, "pm25", s, hourly=False)
    assert "[min_data_in_leaf: 10]" in m_no.daily[1][0].model_to_string()
