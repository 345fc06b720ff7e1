"""models.fanout: training on worker processes gives the same models as in one process (one
thread each), and the worker count follows the settings and the environment (tiny real slice:
2 Beijing stations, 60 days; tests/data/uci, CC BY 4.0)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import LgbmParams, ModelSettings
from airwarn.features.build import (
    POLLUTANTS,
    PerfectMet,
    build_issue_features,
    daily_targets,
    make_panel,
)
from airwarn.models.backtest import issue_times_between, load_domain_data
from airwarn.models.fanout import train_pollutants, training_workers
from airwarn.models.lgbm import predict_pollutant

from tests.models.test_backtest import DOMAIN

DATA = Path(__file__).resolve().parents[1] / "data"


def _small(threads: int | str) -> ModelSettings:
    p = LgbmParams(num_boost_round=15, learning_rate=0.2, num_leaves=7, min_data_in_leaf=10,
                   num_threads=threads)
    return ModelSettings(daily=p, hourly=p, hourly_lead_stride=6, bias_min_days=2,
                         calibration_fraction=0.3)


@pytest.fixture(scope="module")
def training():
    d = load_domain_data(DOMAIN, root=DATA)
    table = d.obs_units.merge(d.met_units, on=["time", "unit_id"], how="left")
    units = sorted(table["unit_id"].unique())
    obs = make_panel(table, POLLUTANTS + [c for c in d.met_units.columns
                                          if c not in ("time", "unit_id")], units)
    met = PerfectMet(d.met_units)
    its = issue_times_between(pd.Timestamp("2013-03-04"), pd.Timestamp("2013-04-24"), 12)
    feats = [build_issue_features(obs, its, met, geometry=d.geometry)]
    return obs, daily_targets(obs), feats


def test_processes_train_the_same_models_as_one_process(training) -> None:
    obs, dobs, feats = training
    s = _small(1)
    one = train_pollutants(obs, dobs, feats, ["pm25", "o3"], s, workers=1)
    two = train_pollutants(obs, dobs, feats, ["pm25", "o3"], s, workers=2)
    f = feats[0].take(slice(-5, None))
    for p in ("pm25", "o3"):
        assert two[p].hourly is not None and two[p].hourly_features == one[p].hourly_features
        assert two[p].hourly_resid == one[p].hourly_resid
        assert two[p].daily_resid == one[p].daily_resid
        assert two[p].info["training_processes"] == 2
        a, b = predict_pollutant(one[p], f), predict_pollutant(two[p], f)
        for key in ("daily", "hourly"):
            np.testing.assert_array_equal(a[key], b[key])


def test_worker_count(training, monkeypatch) -> None:
    _, _, feats = training
    monkeypatch.delenv("AIRWARN_TRAIN_WORKERS", raising=False)
    # explicit thread counts, one job, or a small training: in this process
    assert training_workers(_small(2), feats, 6) == 1
    assert training_workers(_small("auto"), feats, 1) == 1
    assert training_workers(_small("auto"), feats, 6) == 1   # 52 issues × 2 units × 15 rounds
    monkeypatch.setenv("AIRWARN_TRAIN_WORKERS", "3")
    assert training_workers(_small("auto"), feats, 6) == 3
    assert training_workers(_small("auto"), feats, 2) == 2
