"""CF-1.8 compliance (IOOS compliance-checker) of the files airwarn writes, on real written files:
the forecast of the demo world, its meteorology (as the demo world and the store write it), and
(tests/models/test_backtest.py) a backtest. Every reader keeps working on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cfcheck import cf_check

pytest.importorskip("compliance_checker")

CLEAN = {"high": [], "medium": [], "low": [], "exceptions": []}


@pytest.fixture(scope="module")
def forecast_file(demo_world, demo_config, tmp_path_factory) -> Path:
    """The demo world's forecast at its issue time (no trained models here: the baselines, through
    the same dataset builder and writer as a model forecast), written by ``write_forecast``."""
    from airwarn.features.aggregate import stations_to_units
    from airwarn.features.build import CycleMet
    from airwarn.features.demo_world import unit_met_forecast
    from airwarn.features.store import read_obs
    from airwarn.models.forecast import run_forecast, write_forecast

    out = tmp_path_factory.mktemp("cf_forecast")
    obs = stations_to_units(read_obs(demo_world.data_dir,
                                     start=demo_world.end - pd.Timedelta(days=75)),
                            demo_world.stations)
    met = CycleMet(lambda r: unit_met_forecast(demo_world, r) if r <= demo_world.cycle_time
                   else None, cycle_hours=(0,), latency_h=5)
    ds = run_forecast(demo_config, demo_world.issue_time, met_source=met, obs_units=obs,
                      data_dir=out, source="synthetic demo")
    return write_forecast(ds, out)


def test_forecast_file_is_cf_clean_and_readable(forecast_file: Path, demo_config) -> None:
    assert cf_check(forecast_file) == CLEAN
    from airwarn.models.forecast import read_forecast
    from airwarn.models.verify.match import read_forecast_archive

    ds = read_forecast(forecast_file)
    assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["featureType"] == "timeSeries"
    assert ds["region"].attrs["cf_role"] == "timeseries_id"
    # unit centroids as lat(region), lon(region)
    cd = demo_config.region.unit("chengdu").centroid
    assert float(ds["lat"].sel(region="chengdu")) == pytest.approx(cd.lat)
    assert float(ds["lon"].sel(region="chengdu")) == pytest.approx(cd.lon)
    assert ds["lat"].attrs["units"] == "degrees_north" and np.isfinite(ds["lat"]).all()
    # the issue time as the forecast_reference_time scalar coordinate (UTC), leads as periods
    frt = ds["forecast_reference_time"]
    assert frt.ndim == 0 and frt.attrs["standard_name"] == "forecast_reference_time"
    assert pd.Timestamp(frt.values) == pd.Timestamp("2026-01-20T07:00")
    assert pd.Timestamp(ds["valid_time"].values[0]) == pd.Timestamp("2026-01-20T07:00")
    assert ds["lead"].attrs["standard_name"] == "forecast_period"
    assert ds["pm25_daily"].attrs["cell_methods"].startswith("day_time: mean")
    assert pd.Timestamp(ds["day_time"].values[0]) == pd.Timestamp("2026-01-20T16:00")
    assert "day_time: maximum" in ds["o3_mda8"].attrs["cell_methods"]
    # strings come back as str (char arrays on disk), Chinese names intact
    assert ds["region_name"].sel(region="chengdu").item() == "成都市"
    assert set(ds["primary_daily"].values.ravel()) <= {"", "PM2.5", "PM10", "O3_8h"}
    assert list(ds["date"].values) == ["2026-01-21", "2026-01-22", "2026-01-23"]
    assert json.loads(ds.attrs["inputs"])["cycle"] == "2026-01-20T00:00:00+00:00"
    # the verification reader stacks it like any run file
    arch = read_forecast_archive([forecast_file])
    assert arch.sizes["issue_time"] == 1 and pd.Timestamp(arch["issue_time"].values[0]) == \
        pd.Timestamp("2026-01-20T07:00")
    np.testing.assert_allclose(arch["pm25_daily"].isel(issue_time=0).values,
                               ds["pm25_daily"].values)


def test_meteorology_files_are_cf_clean(demo_world, demo_config, tmp_path: Path) -> None:
    from airwarn.features.store import write_met_analysis, write_met_cycle
    from airwarn.products.meteorology import unit_met_for_issue

    root = Path(demo_world.data_dir) / "met"
    cycle = root / "cycles" / f"{demo_world.cycle_time:%Y%m%d%H}.nc"
    # as the demo world writes them
    assert cf_check(cycle) == CLEAN
    assert cf_check(root / "analysis" / "2026-01.nc") == CLEAN
    # as the store writes what an ingest read (the same shared attributes and encoding)
    with xr.open_dataset(cycle) as ds:
        ds = ds.load()
    assert ds["forecast_reference_time"].ndim == 0
    assert ds.attrs["forecast_reference_time"] == "2026-01-20T00:00:00+00:00"
    plain = ds.drop_vars(["forecast_reference_time", "step"])
    plain.attrs = {"source": "test", "forecast_reference_time": "2026-01-20T00:00:00+00:00"}
    for v in plain.data_vars:
        plain[v].attrs = {"units": ds[v].attrs["units"]}  # a reader's bare output
    stored = write_met_cycle(plain, tmp_path)
    assert cf_check(stored) == CLEAN
    months = write_met_analysis(plain.isel(time=slice(0, 24)), tmp_path)
    assert [p.name for p in months] == ["2026-01.nc"] and cf_check(months[0]) == CLEAN
    with xr.open_dataset(stored) as back:
        assert back["tp"].attrs["standard_name"] == "lwe_precipitation_rate"
        assert back["step"].attrs["standard_name"] == "forecast_period"
        assert back.attrs["forecast_reference_time"] == "2026-01-20T00:00:00+00:00"
        np.testing.assert_allclose(back["blh"].values, ds["blh"].values)
    # the bulletins' sampler reads the stored cycle
    met = unit_met_for_issue(demo_config, tmp_path, demo_world.issue_time)
    assert met is not None and set(met["unit_id"]) == set(demo_config.region.unit_ids)
    assert np.isfinite(met["blh"]).all()
