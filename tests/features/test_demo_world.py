"""Tests of the demo world (features.demo_world) on the shared session world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from features.demo_world import (
    analysis,
    forecast_cycle,
    load_world,
    unit_met_analysis,
    unit_met_forecast,
    unit_truth,
)
from features.store import read_obs


def test_world_files_and_labels(demo_world):
    d = demo_world.data_dir
    assert (d / "demo" / "world.json").exists()
    w = load_world(d)
    assert w.seed == demo_world.seed and w.end == demo_world.end
    assert w.end == pd.Timestamp("2026-01-20T06:00", tz="UTC")
    ds = xr.open_dataset(d / "met" / "cycles" / "2026012000.nc")
    assert ds.attrs["source"] == "synthetic demo"
    assert ds.attrs["forecast_reference_time"].startswith("2026-01-20T00:00:00")
    assert ds["t2m"].attrs["units"] == "K"
    assert ds["t2m"].attrs["standard_name"] == "air_temperature"
    assert list(ds["step"].values[:3]) == [0, 1, 2]
    ds.close()


def test_obs_end_before_issue(demo_world):
    obs = read_obs(demo_world.data_dir)
    assert obs["time"].max() == demo_world.end
    assert set(obs["station_id"]) == set(demo_world.stations["station_id"])
    assert (obs["qc"] == 0).all()


def test_unit_met_matches_grid(demo_world):
    a = analysis(demo_world, demo_world.end - pd.Timedelta(hours=5), demo_world.end)
    assert a.sizes["time"] == 6
    um = unit_met_analysis(demo_world, demo_world.end - pd.Timedelta(hours=5), demo_world.end)
    assert len(um) == 6 * len(demo_world.units)
    f = unit_met_forecast(demo_world, demo_world.cycle_time)
    assert f["step"].max() == 120
    assert np.isfinite(f[["t2m", "blh", "tp"]].to_numpy()).all()


def test_truth(demo_world):
    t = unit_truth(demo_world)
    cd = t[(t.unit_id == "chengdu") & t.observed]
    assert 40 < cd["pm25"].mean() < 200
