"""models.train / models.forecast / models.registry on the shared demo world: the forecast-file
contract, no leakage, fallbacks, registry round trip, uncrossed quantiles, 2027 calendar."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import LgbmParams, ModelSettings
from airwarn.features.aggregate import stations_to_units
from airwarn.features.build import CycleMet, NoMet
from airwarn.features.store import read_obs
from airwarn.models.forecast import (
    TARGETS,
    forecast_path,
    read_forecast,
    run_forecast,
    write_forecast,
)
from airwarn.models.registry import list_versions, load_latest, load_model
from airwarn.models.train import train_models

TINY = ModelSettings(
    daily=LgbmParams(num_boost_round=25, learning_rate=0.2, num_leaves=7, min_data_in_leaf=20,
                      num_threads=1),
    hourly=LgbmParams(num_boost_round=25, learning_rate=0.2, num_leaves=7, min_data_in_leaf=20,
                      num_threads=1),
    hourly_lead_stride=8, issue_hours=[15], bias_window_days=14, bias_min_days=3,
    daily_designs=["per_lead_day"],
)
POISON = 1e6


@pytest.fixture(scope="module")
def unit_obs(demo_world) -> pd.DataFrame:
    obs = read_obs(demo_world.data_dir)
    return stations_to_units(obs, demo_world.stations)


@pytest.fixture(scope="module")
def met_source(demo_world) -> CycleMet:
    from airwarn.features.demo_world import unit_met_forecast

    def load(ref: pd.Timestamp) -> pd.DataFrame | None:
        if ref > demo_world.cycle_time:
            return None
        return unit_met_forecast(demo_world, ref)

    return CycleMet(load, cycle_hours=(0,), latency_h=5)


@pytest.fixture(scope="module")
def trained(demo_config, demo_world, unit_obs, met_source, tmp_path_factory):
    """Models trained once on the demo world (tiny settings) in a private data dir."""
    ddir = tmp_path_factory.mktemp("models_ddir")
    cfg = dataclasses.replace(demo_config,
                              settings=demo_config.settings.model_copy(update={"data_dir": ddir}))
    until = demo_world.issue_time - pd.Timedelta(days=4)
    cards = train_models(cfg, unit_obs, met_source, until, settings=TINY, data_dir=ddir)
    return cfg, ddir, cards


def _forecast(cfg, issue, met_source, obs, ddir):
    return run_forecast(cfg, issue, met_source=met_source, obs_units=obs, data_dir=ddir,
                        settings=TINY, source="synthetic demo")


def test_cards_record_training(trained) -> None:
    _, ddir, cards = trained
    assert len(cards) == len(TARGETS)
    card = json.loads(Path(cards[0]).read_text())
    for key in ("daily_features", "training_window", "data_hash", "library_versions", "created",
                "calendar_source", "info", "scores", "files"):
        assert key in card, key
    assert card["met_source"] == "cycle"
    assert "direct daily" in card["info"]["design"]["daily"]
    assert not list(Path(ddir).rglob("*.pkl")) and not list(Path(ddir).rglob("*.joblib"))
    assert Path(cards[0]).parent.joinpath("daily_d1_0.txt").read_text().startswith("tree")


def test_forecast_file_contract(trained, demo_world, unit_obs, met_source, tmp_path) -> None:
    cfg, ddir, _ = trained
    ds = _forecast(cfg, demo_world.issue_time, met_source, unit_obs, ddir)
    n_units = len(cfg.region.unit_ids)
    assert dict(ds.sizes) == {"region": n_units, "lead": 81, "quantile": 5, "day": 3,
                              "pollutant": len(TARGETS)}
    assert list(ds["lead"].values[:2]) == [1, 2]
    assert pd.Timestamp(ds["valid_time"].values[0]) == demo_world.issue_time.tz_convert(
        "UTC").tz_localize(None)
    for v in ("pm25", "o3"):
        assert ds[v].dims == ("region", "lead") and ds[v].attrs["units"] == "ug m-3"
        assert ds[f"{v}_q"].dims == ("region", "lead", "quantile")
    for v in ("pm25_daily", "o3_mda8", "aqi_daily", "primary_daily", "p_aqi_gt_150",
              "p_aqi_gt_200", "p_aqi_gt_300"):
        assert ds[v].dims == ("region", "day"), v
    assert ds["aqi_daily_q"].dims == ("region", "day", "quantile")
    assert ds["method"].dims == ("region", "pollutant")
    assert set(ds["method"].values.ravel()) == {"lightgbm"}
    assert list(ds["date"].values) == ["2026-01-21", "2026-01-22", "2026-01-23"]
    assert ds["region_name"].sel(region="chengdu").item() == "成都市"
    assert ds.attrs["issue_time"] == "2026-01-20T15:00:00+08:00"
    assert ds.attrs["source"] == "synthetic demo" and ds.attrs["ruleset"] == "HJ633_2012"
    inputs = json.loads(ds.attrs["inputs"])
    assert inputs["cycle"] == "2026-01-20T00:00:00+00:00" and inputs["cycle_age_h"] == 7.0
    # models trained with a met forecast: not relaxed towards climatology, and the file says so
    assert inputs["climatology_blend"] == {}
    assert np.isfinite(ds["pm25"].values).all() and (ds["pm25"].values >= 0).all()
    p = ds[["p_aqi_gt_150", "p_aqi_gt_200", "p_aqi_gt_300"]]
    assert ((p >= 0) & (p <= 1)).all().to_array().all()
    assert (p["p_aqi_gt_150"] >= p["p_aqi_gt_200"]).all()
    # hourly and daily agree: mean of each day's hourly path = the daily forecast
    first = 24 - 15
    pm = ds["pm25"].values[:, first:first + 72].reshape(n_units, 3, 24).mean(axis=2)
    np.testing.assert_allclose(pm, ds["pm25_daily"].values, rtol=1e-6)
    # written atomically under forecasts/<stamp>.nc and read back identical
    path = write_forecast(ds, tmp_path)
    assert path == forecast_path(tmp_path, demo_world.issue_time)
    assert path.name == "20260120T1500.nc"
    back = read_forecast(path)
    np.testing.assert_allclose(back["o3_mda8"].values, ds["o3_mda8"].values)
    assert back.attrs["model_version"] == ds.attrs["model_version"]
    assert not [f for f in path.parent.iterdir() if f.name.startswith(".")]


def test_pm10_is_a_forecast_target_through_the_registry(trained, demo_world, unit_obs,
                                                         met_source) -> None:
    """PM10 (target: true in configs/pollutants.yaml) is forecast like PM2.5: hourly median and
    quantiles, natural-day mean, and it enters the daily AQI and the primary pollutant."""
    from airwarn.alerts.aqi import iaqi_array

    assert TARGETS == ("pm25", "pm10", "o3")
    cfg, _, _ = trained
    ds = _forecast(cfg, demo_world.issue_time, met_source, unit_obs, trained[1])
    assert list(ds["pollutant"].values) == ["pm25", "pm10", "o3"]
    assert ds["pm10"].dims == ("region", "lead") and ds["pm10_q"].dims[-1] == "quantile"
    assert ds["pm10_daily"].dims == ("region", "day")
    assert ds["pm10"].attrs["standard_name"] == ("mass_concentration_of_pm10_ambient_aerosol_"
                                                 "particles_in_air")
    assert set(ds["method"].sel(pollutant="pm10").values) == {"lightgbm"}
    first = 24 - 15
    n = ds.sizes["region"]
    pm10 = ds["pm10"].values[:, first:first + 72].reshape(n, 3, 24).mean(axis=2)
    np.testing.assert_allclose(pm10, ds["pm10_daily"].values, rtol=1e-6)
    # the daily AQI is the highest IAQI of the three daily products (HJ 633-2012 at these dates)
    iaqi = {p: np.asarray(iaqi_array(p, ds[v].values, per, "HJ633_2012"), dtype=float)
            for p, v, per in (("pm25", "pm25_daily", "24h"), ("pm10", "pm10_daily", "24h"),
                              ("o3", "o3_mda8", "8h"))}
    np.testing.assert_array_equal(ds["aqi_daily"].values,
                                  np.fmax(np.fmax(iaqi["pm25"], iaqi["pm10"]), iaqi["o3"]))
    prim = ds["primary_daily"].values
    top = np.where(iaqi["pm10"] > np.fmax(iaqi["pm25"], iaqi["o3"]), "PM10", "")
    assert ((top != "PM10") | (prim == "PM10") | (ds["aqi_daily"].values <= 50)).all()


def test_quantiles_do_not_cross(trained, demo_world, unit_obs, met_source) -> None:
    cfg, ddir, _ = trained
    ds = _forecast(cfg, demo_world.issue_time, met_source, unit_obs, ddir)
    for v in ("pm25_q", "o3_q", "pm25_daily_q", "o3_mda8_q", "aqi_daily_q"):
        d = np.diff(ds[v].values, axis=-1)
        assert (d >= 0).all(), v
    med = ds["pm25_daily_q"].sel(quantile=0.5).values
    np.testing.assert_allclose(med, ds["pm25_daily"].values)


def test_no_leakage_after_issue_time(trained, demo_world, unit_obs, met_source) -> None:
    cfg, ddir, _ = trained
    issue = demo_world.issue_time - pd.Timedelta(days=2)
    t0 = issue.tz_convert("UTC")
    poisoned = unit_obs.copy()
    cols = ["pm25", "pm10", "o3", "no2", "so2", "co"]
    poisoned.loc[poisoned["time"] >= t0, cols] = POISON

    def poisoned_cycles(ref: pd.Timestamp) -> pd.DataFrame | None:
        df = met_source.loader(ref)
        if df is not None and ref > t0:  # a cycle not yet available at t0
            df = df.copy()
            for c in ("t2m", "d2m", "u10", "v10", "blh", "tp"):
                df[c] = POISON
        return df

    # 00 and 12 UTC cycles, available 5 h after their reference time: at 07 UTC the 00 UTC
    # cycle is the newest; the 12 UTC cycle of the same day (and later ones) are poisoned
    clean = _forecast(cfg, issue, CycleMet(met_source.loader, cycle_hours=(0, 12), latency_h=5),
                      unit_obs, ddir)
    bad = _forecast(cfg, issue, CycleMet(poisoned_cycles, cycle_hours=(0, 12), latency_h=5),
                    poisoned, ddir)
    assert json.loads(clean.attrs["inputs"])["cycle"] == "2026-01-18T00:00:00+00:00"
    for v in ("pm25", "o3", "pm25_daily", "o3_mda8_q", "p_aqi_gt_150"):
        np.testing.assert_array_equal(clean[v].values, bad[v].values, err_msg=v)


def test_registry_round_trip_identical_predictions(trained, demo_world, unit_obs,
                                                   met_source, tmp_path) -> None:
    cfg, ddir, cards = trained
    model, card = load_model(cards[0])
    from airwarn.models.registry import save_model

    copy = save_model(model, tmp_path, extra={"met_source": card["met_source"]})
    model2, _ = load_model(copy)
    from airwarn.features.build import POLLUTANTS, build_issue_features, make_panel

    units = cfg.region.unit_ids
    panel = make_panel(unit_obs, POLLUTANTS, units)
    f = build_issue_features(panel, [demo_world.issue_time - pd.Timedelta(days=1)], met_source)
    from airwarn.models.lgbm import predict_pollutant

    a, b = predict_pollutant(model, f), predict_pollutant(model2, f)
    np.testing.assert_array_equal(a["daily"], b["daily"])
    np.testing.assert_array_equal(a["hourly"], b["hourly"])
    assert model2.daily_resid == model.daily_resid
    assert model2.bias_lead_days == model.bias_lead_days
    # trained with a met forecast: no climatology blend by default (climatology_blend: no_met)
    assert model.info["future_met"] and model2.clim_weight == model.clim_weight == {}


def test_missing_and_corrupted_models_fall_back(trained, demo_world, unit_obs, met_source,
                                                tmp_path) -> None:
    cfg, ddir, _ = trained
    # no model at all → baselines for every unit, said in the file
    empty = tmp_path / "empty"
    ds = _forecast(cfg, demo_world.issue_time, met_source, unit_obs, empty)
    meth = set(ds["method"].values.ravel())
    assert meth <= {"persistence", "same_hour_yesterday", "climatology"} and meth
    assert all("model unavailable" in r for r in ds["fallback_reason"].values.ravel())
    assert ds.attrs["model_version"] == "baselines"
    assert np.isfinite(ds["pm25_daily"].values).all()
    assert (np.diff(ds["pm25_daily_q"].values, axis=-1) >= 0).all()
    # a corrupted newest model → the next older version is used, the problem is recorded
    work = tmp_path / "ddir"
    shutil.copytree(ddir, work)
    pm_versions = list_versions(work, "pm25")
    newer = pm_versions[0].parent.with_name("29990101T000000000000Z")
    shutil.copytree(pm_versions[0].parent, newer)
    (newer / "daily_d2_0.txt").write_text("tree\nnot a model\n")
    res = load_latest(work, "pm25")
    assert res.model is not None and res.card["version"] != newer.name
    assert any("daily_d2_0.txt" in p for p in res.problems)
    # all pm25 versions corrupted → pm25 falls back, o3 keeps its model
    for v in list_versions(work, "pm25"):
        (v.parent / "hourly.txt").write_bytes(b"\x00garbage")
    ds = _forecast(cfg, demo_world.issue_time, met_source, unit_obs, work)
    assert set(ds["method"].sel(pollutant="o3").values) == {"lightgbm"}
    assert "lightgbm" not in set(ds["method"].sel(pollutant="pm25").values)
    reason = ds["fallback_reason"].sel(pollutant="pm25").values[0]
    assert "hourly.txt" in reason
    inputs = json.loads(ds.attrs["inputs"])
    assert inputs["model_problems"]["pm25"]


def test_missing_inputs_fall_back_per_unit(trained, demo_world, unit_obs, met_source) -> None:
    cfg, ddir, _ = trained
    t0 = demo_world.issue_time.tz_convert("UTC")
    gap = unit_obs[~((unit_obs["unit_id"] == "chengdu")
                     & (unit_obs["time"] >= t0 - pd.Timedelta(hours=30)))]
    ds = _forecast(cfg, demo_world.issue_time, met_source, gap, ddir)
    m = ds["method"].sel(region="chengdu", pollutant="pm25").item()
    assert m in {"climatology", "persistence", "same_hour_yesterday"} and m != "lightgbm"
    assert "no PM2.5 observations" in ds["fallback_reason"].sel(region="chengdu",
                                                                pollutant="pm25").item()
    assert ds["method"].sel(region="cq_central", pollutant="pm25").item() == "lightgbm"
    assert "chengdu" in json.loads(ds.attrs["inputs"])["obs_missing_units_24h"]
    # no met forecast at all for models trained with met → baselines, said so
    ds = _forecast(cfg, demo_world.issue_time, NoMet(), unit_obs, ddir)
    assert "lightgbm" not in set(ds["method"].values.ravel())
    assert "no meteorological forecast" in ds["fallback_reason"].values[0, 0]


def test_issue_at_end_of_2026_uses_calendar_fallback(demo_config, demo_world, unit_obs,
                                                     tmp_path) -> None:
    """Issue 2026-12-30: D+3 is 2027-01-02, beyond chinese_calendar 1.11 → holidays.China."""
    shift = pd.Timedelta(days=349)
    obs = unit_obs.assign(time=unit_obs["time"] + shift)
    cfg = dataclasses.replace(
        demo_config, settings=demo_config.settings.model_copy(update={"data_dir": tmp_path}))
    issue = demo_world.issue_time + shift - pd.Timedelta(days=5)
    assert issue.strftime("%Y-%m-%d") == "2026-12-30"
    cards = train_models(cfg, obs, NoMet(), issue - pd.Timedelta(days=1), settings=TINY,
                         data_dir=tmp_path)
    card = json.loads(Path(cards[0]).read_text())
    assert card["calendar_source"] == "chinese_calendar+holidays.China"
    ds = run_forecast(cfg, issue, met_source=NoMet(), obs_units=obs, data_dir=tmp_path,
                      settings=TINY)
    assert list(ds["date"].values) == ["2026-12-31", "2027-01-01", "2027-01-02"]
    assert set(ds["method"].values.ravel()) == {"lightgbm"}
    assert np.isfinite(ds["pm25_daily"].values).all()


def test_running_bias_uses_stored_forecasts(trained, demo_world, unit_obs, met_source,
                                            tmp_path) -> None:
    """The running bias reads the archive's stored forecasts (what was issued) where they exist,
    and rebuilds the errors only for the issues without one."""
    cfg, ddir, cards = trained
    work = tmp_path / "ddir"
    shutil.copytree(ddir, work)
    issue = demo_world.issue_time
    base = _forecast(cfg, issue, met_source, unit_obs, work)
    assert "pm25_daily_raw" in base and base["pm25_daily_raw"].dims == ("region", "day")
    inputs = json.loads(base.attrs["inputs"])
    assert inputs["bias_stored_issues"] == {p: 0 for p in TARGETS}   # nothing stored: rebuilt
    n_past = inputs["bias_window_issues"]
    # store forecasts for the past issues whose raw PM2.5 was far too high (+300 µg/m³ on what
    # the current model gives), as an earlier, badly biased model would have issued them
    stored = 0
    for d in range(n_past, 0, -1):
        t = issue - pd.Timedelta(days=d)
        if d % 2:  # every other issue: the others fall back to rebuilt errors
            continue
        fake = base.copy(deep=True)
        fake = fake.drop_vars("o3_mda8_raw")
        fake["pm25_daily_raw"] = fake["pm25_daily_raw"] + 300.0
        fake.attrs["issue_time"] = t.isoformat()
        write_forecast(fake, work)
        stored += 1
    biased = _forecast(cfg, issue, met_source, unit_obs, work)
    inputs = json.loads(biased.attrs["inputs"])
    assert inputs["bias_stored_issues"]["pm25"] == stored and inputs["bias_stored_issues"]["o3"] == 0
    model = load_latest(work, "pm25").model
    for k in model.bias_lead_days:  # a large positive running bias is subtracted
        drop = base["pm25_daily"].sel(day=k).values - biased["pm25_daily"].sel(day=k).values
        assert (drop > 0).all() and drop.mean() > 10, (k, drop)
    # the raw model forecast itself is unchanged, and O3 (no stored raw) is untouched
    np.testing.assert_allclose(biased["pm25_daily_raw"].values, base["pm25_daily_raw"].values)
    np.testing.assert_allclose(biased["o3_mda8"].values, base["o3_mda8"].values)
