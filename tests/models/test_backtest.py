"""models.backtest and ``airwarn backtest`` on a tiny real slice (2 Beijing stations, 60 days;
tests/data/uci, CC BY 4.0)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.configs.model_schema import DomainConfig, LgbmParams, ModelSettings
from airwarn.models.backtest import format_scores, load_domain_data, run_backtest

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = ModelSettings(
    daily=LgbmParams(num_boost_round=20, learning_rate=0.2, num_leaves=7, min_data_in_leaf=10,
                      num_threads=1),
    hourly=LgbmParams(num_boost_round=20, learning_rate=0.2, num_leaves=7, min_data_in_leaf=10,
                      num_threads=1),
    hourly_lead_stride=6, bias_min_days=2, calibration_fraction=0.3,
)
DOMAIN = DomainConfig(
    name="beijing_slice", reader="prsa", files=["uci/PRSA_Data_*_20130301-20130429.csv"],
    stations=[{"id": "Dongsi", "lat": 39.9522, "lon": 116.434},
              {"id": "Dingling", "lat": 40.2865, "lon": 116.170}],
    neighbour_radius_km=60, source="UCI Beijing Multi-Site (Zhang et al. 2017), CC BY 4.0",
)


@pytest.fixture(scope="module")
def slice_data():
    return load_domain_data(DOMAIN, root=DATA)


def test_backtest_writes_netcdf_and_scores(slice_data, tmp_path: Path) -> None:
    ds, scores = run_backtest(slice_data, train_end="2013-04-19", test_start="2013-04-20",
                              test_end="2013-04-29", issue_hour=12, met="perfect",
                              settings=TINY, quantiles=[0.1, 0.25, 0.5, 0.75, 0.9],
                              out_dir=tmp_path, warmup_days=3)
    nc = xr.open_dataset(tmp_path / "backtest.nc")
    assert nc["pm25"].dims == ("issue_time", "region", "lead")
    assert nc.sizes["issue_time"] == 10 and nc.sizes["lead"] == 84
    assert sorted(nc["region"].values) == ["Dingling", "Dongsi"]
    assert nc["pm25_daily_q"].dims == ("issue_time", "region", "day", "quantile")
    assert str(nc["date"].values[0, 0]) == "2013-04-21"
    # CF-1.8: a timeSeries of the stations (lat/lon from the domain), issue times as
    # forecast_reference_time; compliance-checker finds nothing (features.cf)
    assert nc.attrs["featureType"] == "timeSeries"
    assert nc["issue_time"].attrs["standard_name"] == "forecast_reference_time"
    assert float(nc["lat"].sel(region="Dongsi")) == pytest.approx(39.9522)
    nc.close()
    pytest.importorskip("compliance_checker")
    from cfcheck import cf_check

    cf = cf_check(tmp_path / "backtest.nc")
    assert cf["high"] == [] and cf["low"] == [] and cf["exceptions"] == []
    # reviewed: the one medium note is the contract's leading issue_time dim (DESIGN.md,
    # "Backtests"), which CF recommends to the right of the other dims (§2.4, a recommendation)
    assert cf["medium"]
    assert [m for m in cf["medium"] if not (m.startswith("§2.4 Dimensions:")
                                            and "are issue_time (T), " in m)] == []
    saved = json.loads((tmp_path / "scores.json").read_text())
    d1 = saved["daily"]["pm25_daily"]["D+1"]
    # 10 issues × 2 stations, D+1 up to 2013-04-29 (all valid days in the slice)
    assert 15 <= d1["n"] <= 20 and d1["rmse"] > 0 and d1["persistence_rmse"] > 0
    # D+3 of the last two issues lies after the test end and is not scored
    assert saved["daily"]["pm25_daily"]["D+3"]["n"] <= 16
    assert "observed point meteorology" in saved["meta"]["met_note"]
    assert set(saved["events"]["o3_mda8"]) == {">160", ">215"}
    assert 0 <= saved["daily"]["o3_mda8"]["D+2"]["coverage_80"] <= 1
    # the scores are those of the written forecasts
    f = ds["pm25_daily"].sel(day=1).values
    assert np.isfinite(f).all()
    text = format_scores(scores)
    assert "pm25_daily" in text and "CSI" in text
    # what post-processing the models chose is in the scores and the printed table: with a
    # met forecast no climatology blend (climatology_blend: no_met)
    post = saved["meta"]["postprocessing"]
    from airwarn.models.forecast import TARGETS

    assert set(post) == set(TARGETS) and post["o3"]["climatology_blend"] == {}
    assert "o3: running bias at lead days [1, 2, 3]; climatology blend none" in text


def test_backtest_command(tmp_path: Path, monkeypatch) -> None:
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    dom = tmp_path / "slice.yaml"
    dom.write_text(
        "name: beijing_slice\nreader: prsa\nfiles: ['uci/PRSA_Data_D*_20130301-20130429.csv']\n"
        "stations: [{id: Dongsi, lat: 39.95, lon: 116.43}]\n")
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(DATA))
    monkeypatch.setattr("airwarn.configs.model_schema.load_model_settings", lambda *a, **k: TINY)
    out = tmp_path / "bt"
    res = CliRunner().invoke(app, ["backtest", "--domain", str(dom), "--train-end", "2013-04-22",
                                   "--test-start", "2013-04-23", "--test-end", "2013-04-29",
                                   "--met", "none", "--out", str(out), "--warmup-days", "3",
                                   "--no-hourly"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "RMSE" in res.output
    assert (out / "backtest.nc").exists() and (out / "scores.json").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nreader: prsa\nfiles: ['nothing/*.csv']\n")
    res = CliRunner().invoke(app, ["backtest", "--domain", str(bad), "--train-end", "2013-04-22",
                                   "--test-start", "2013-04-23", "--test-end", "2013-04-29",
                                   "--out", str(out)])
    assert res.exit_code == 2 and "matches no file" in res.output
    # a history record whose side-by-side period is too short: one clear error naming the
    # record and the variable; --no-history reads the domain's own files and runs
    hist = tmp_path / "hist.yaml"
    hist.write_text(dom.read_text() + (
        "history:\n  - {reader: five_cities, file: uci/BeijingPM20130201_20130429.csv,\n"
        "     station: beijing_us_post, unit: Dongsi, overlap_until: '2013-04-29'}\n"))
    args = ["backtest", "--domain", str(hist), "--train-end", "2013-04-22", "--test-start",
            "2013-04-23", "--test-end", "2013-04-29", "--met", "none", "--out",
            str(tmp_path / "bt2"), "--warmup-days", "3", "--no-hourly"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "beijing_us_post → Dongsi" in res.output and "'pm25' has" in res.output
    res = CliRunner().invoke(app, [*args, "--no-history"])
    assert res.exit_code == 0, res.output
    assert "history:" not in res.output and (tmp_path / "bt2" / "backtest.nc").exists()


def _obs_with_met(slice_data):
    """The slice's unit observations with the station meteorology (``mo_*`` features)."""
    from airwarn.features.build import MET_HISTORY_VARS, POLLUTANTS, make_panel

    table = slice_data.obs_units.merge(slice_data.met_units, on=["time", "unit_id"], how="left")
    units = sorted(table["unit_id"].unique())
    return make_panel(table, POLLUTANTS + [v for v in MET_HISTORY_VARS if v in table], units), units


def test_no_met_models_have_their_own_settings_and_see_observed_met(slice_data, tmp_path) -> None:
    import pandas as pd
    from airwarn.features.build import NoMet, build_issue_features, daily_targets
    from airwarn.models.backtest import train_models_on
    from airwarn.models.lgbm import predict_pollutant
    from airwarn.models.registry import load_model, save_model

    obs, units = _obs_with_met(slice_data)
    settings = TINY.model_copy(update={
        "daily_no_met": LgbmParams(num_boost_round=10, num_leaves=4, min_data_in_leaf=5,
                                   n_seeds=2, num_threads=1),
        "bias_lead_days_no_met": {"pm25": [1, 2, 3], "o3": []},
    })
    models = train_models_on(obs, daily_targets(obs), NoMet(),
                             first_day=pd.Timestamp("2013-03-04"),
                             last_target_day=pd.Timestamp("2013-04-29"), issue_hours=[12],
                             settings=settings, geometry=slice_data.geometry, hourly=False)
    pm = models["pm25"]
    assert pm.info["future_met"] is False and pm.info["daily_params"]["n_seeds"] == 2
    # per-lead-day and pooled designs, two seeds each, weights still summing to one
    assert len(pm.daily[1]) == 4 and sum(pm.weights(1)) == pytest.approx(1.0)
    assert pm.bias_lead_days == [1, 2, 3] and models["o3"].bias_lead_days == []
    cols = pm.daily_features[1]
    # observed met before the issue and transport by the observed wind; no future met
    assert {"mo_sp_tr24", "mo_d2m_last", "tro_pm25", "reg_pm25_max6"} <= set(cols)
    assert not [c for c in cols if c.startswith(("v_", "p_", "c_", "tr_"))]
    # out-of-fold choice of the climatology weight, recorded; the climatology kept with the
    # model when a weight was chosen (365 days per unit)
    blend = models["o3"].info["climatology_blend"]
    assert set(blend) == {"weights", "climatology"} and "±15 d" in blend["climatology"]
    assert all(0 < w <= 0.3 for w in blend["weights"].values())
    for m in models.values():
        assert (len(m.clim_daily) == len(units)) == bool(m.clim_weight)
        assert all(len(v) == 365 for v in m.clim_daily.values())
    # the seeded members survive the registry round trip
    pm2, _ = load_model(save_model(pm, tmp_path))
    assert pm2.clim_weight == pm.clim_weight and pm2.clim_daily == pm.clim_daily
    f = build_issue_features(obs, [pd.Timestamp("2013-04-20 12:00", tz="Asia/Shanghai")],
                             NoMet(), geometry=slice_data.geometry)
    np.testing.assert_array_equal(predict_pollutant(pm, f)["daily"],
                                  predict_pollutant(pm2, f)["daily"])


def _store_cycles(data, root: Path, days) -> Path:
    """Gridded cycle files (00 UTC, 0…100 h) over the two stations: each point the observed
    meteorology of the nearest station plus an error growing with lead."""
    import pandas as pd
    from airwarn.features.store import write_met_cycle

    met = data.met_units.set_index(["unit_id", "time"]).sort_index()
    rng = np.random.default_rng(5)
    lat, lon = [39.9522, 40.2865], [116.17, 116.434]
    for day in days:
        ref = pd.Timestamp(day, tz="UTC")
        t = pd.date_range(ref, periods=101, freq="h")
        lead = np.arange(101)[:, None, None]
        fields = {}
        for v, noise in (("t2m", 0.02), ("d2m", 0.02), ("sp", 2.0), ("u10", 0.01),
                         ("v10", 0.01), ("tp", 0.0)):
            grid = np.empty((101, 2, 2))
            for i, st in enumerate(("Dongsi", "Dingling")):   # south row Dongsi, north Dingling
                s = met.loc[st][v].reindex(t).to_numpy()
                grid[:, i, :] = s[:, None]
            fields[v] = (("time", "latitude", "longitude"),
                         (grid + noise * lead * rng.standard_normal(grid.shape)).astype("float32"))
        ds = xr.Dataset(fields, coords={"time": t.tz_localize(None), "latitude": lat,
                                        "longitude": lon})
        write_met_cycle(ds, root, reference_time=ref)
    return root / "met" / "cycles"


def test_backtest_met_cycles_from_the_store(slice_data, tmp_path: Path, monkeypatch) -> None:
    import pandas as pd
    from airwarn.features.cycle_met import store_cycle_met, synthetic_cycle_met
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    cdir = _store_cycles(slice_data, tmp_path / "d",
                         pd.date_range("2013-03-30", "2013-04-29", freq="D"))
    src = store_cycle_met(cdir, slice_data.geometry.points)
    # an issue at 12:00 local (04 UTC) uses the previous day's 00 UTC cycle (latency 5 h)
    d = src.describe(pd.Timestamp("2013-04-10T04:00Z"))
    assert d["cycle"] == "2013-04-09T00:00:00+00:00" and d["cycle_age_h"] == 28.0
    df = src._load(pd.Timestamp("2013-04-09T00:00Z"))
    obs = slice_data.met_units.set_index(["unit_id", "time"])["t2m"]
    at0 = df[df["time"] == pd.Timestamp("2013-04-09T00:00Z")].set_index("unit_id")["t2m"]
    assert at0["Dongsi"] == pytest.approx(obs[("Dongsi", pd.Timestamp("2013-04-09T00:00Z"))],
                                          abs=0.01)
    # the synthetic cycles' error grows with lead (UCI station met + demo-world error model)
    syn = synthetic_cycle_met(slice_data.met_units, seed=1)
    errs = {6: [], 96: []}
    for day in pd.date_range("2013-03-10", "2013-04-20", freq="D", tz="UTC"):
        c = syn._load(day).set_index(["unit_id", "time"])["t2m"]
        for lead in errs:
            k = ("Dongsi", day + pd.Timedelta(hours=lead))
            errs[lead].append(c[k] - obs[k])
    rmse = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errs.items()}
    assert 0.1 < rmse[6] < rmse[96] < 6.0

    dom = tmp_path / "slice.yaml"
    dom.write_text(
        "name: beijing_slice\nreader: prsa\nfiles: ['uci/PRSA_Data_D*_20130301-20130429.csv']\n"
        "stations: [{id: Dongsi, lat: 39.9522, lon: 116.434}, "
        "{id: Dingling, lat: 40.2865, lon: 116.17}]\n")
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(DATA))
    monkeypatch.setattr("airwarn.configs.model_schema.load_model_settings", lambda *a, **k: TINY)
    out = tmp_path / "bt"
    args = ["backtest", "--domain", str(dom), "--train-end", "2013-04-22", "--test-start",
            "2013-04-23", "--test-end", "2013-04-29", "--met", "cycles", "--out", str(out),
            "--warmup-days", "3", "--no-hourly", "--train-start", "2013-04-01"]
    res = CliRunner().invoke(app, [*args, "--cycles", str(cdir)])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "scores.json").read_text())
    assert saved["meta"]["met"] == "cycles"
    assert "7 of 7 issues had one (median age 28 h)" in saved["meta"]["met_note"]
    assert saved["daily"]["pm25_daily"]["D+1"]["rmse"] > 0
    res = CliRunner().invoke(app, [*args, "--cycles", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no forecast cycle files" in res.output
    # these 2013 cycles were written today: their arrival records cannot be replayed
    res = CliRunner().invoke(app, [*args, "--cycles", str(cdir), "--cycle-arrivals"])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and f"{cdir}: the cycles' first steps were stored" in text
    assert "ingested after the fact" in text and "Traceback" not in text
    # as `airwarn fetch` would have recorded them: every step 4 h after the reference time —
    # the 12:00 (04 UTC) issue then has that same day's 00 UTC cycle, not the day before's
    from airwarn.features.met_cycles import cycle_catalog

    cycle_catalog(cdir.parent.parent, write=True)
    body = json.loads((cdir / "catalog.json").read_text())
    for stem, e in body["cycles"].items():
        at = pd.to_datetime(stem, format="%Y%m%d%H").tz_localize("UTC") + pd.Timedelta(hours=4)
        e["arrivals"] = {k: at.isoformat() for k in e["arrivals"]}
    (cdir / "catalog.json").write_text(json.dumps(body))
    out2 = tmp_path / "bt2"
    args2 = [out2 if a == str(out) else a for a in args]
    res = CliRunner().invoke(app, [*map(str, args2), "--cycles", str(cdir), "--cycle-arrivals"])
    assert res.exit_code == 0, res.output
    assert "step 0 a median of 4.0 h after the reference time" in " ".join(res.output.split())
    saved = json.loads((out2 / "scores.json").read_text())
    assert "7 of 7 issues had one (median age 4 h)" in saved["meta"]["met_note"]


def test_store_cycles_with_3_hourly_steps_are_read_every_hour(slice_data, tmp_path: Path) -> None:
    """A stored cycle of 3-hourly steps (as GRIB2 from IFS / GFS arrives) is read at every hour
    by the backtest's cycle source: the daily met features need ≥ 12 valid hours a day."""
    import pandas as pd
    import xarray as xr
    from airwarn.features.build import make_panel, met_day_features
    from airwarn.features.cycle_met import store_cycle_met
    from airwarn.features.store import write_met_cycle

    hourly = _store_cycles(slice_data, tmp_path / "h", ["2013-04-09"])
    with xr.open_dataset(hourly / "2013040900.nc") as f:
        three = f.load().isel(time=slice(None, None, 3)).drop_vars("step")
    write_met_cycle(three, tmp_path / "t", reference_time=pd.Timestamp("2013-04-09", tz="UTC"))
    ref = pd.Timestamp("2013-04-09T00:00Z")
    a = store_cycle_met(hourly, slice_data.geometry.points)._load(ref)
    b = store_cycle_met(tmp_path / "t" / "met" / "cycles", slice_data.geometry.points)._load(ref)
    # steps 0, 3, … 99 h → every hour 0 … 99 h at both stations (the steps alone: 2 × 34 rows)
    assert len(b) == 2 * 100 and b["t2m"].notna().all()
    t2m_a = a.set_index(["unit_id", "time"])["t2m"]
    t2m_b = b.set_index(["unit_id", "time"])["t2m"]
    k = ("Dongsi", ref + pd.Timedelta(hours=6))    # a step: the stored value
    assert t2m_b[k] == pytest.approx(t2m_a[k], abs=0.01)
    k1 = ("Dongsi", ref + pd.Timedelta(hours=7))   # between steps: interpolated
    s6, s9 = t2m_a[("Dongsi", ref + pd.Timedelta(hours=6))], \
        t2m_a[("Dongsi", ref + pd.Timedelta(hours=9))]
    assert t2m_b[k1] == pytest.approx(s6 + (s9 - s6) / 3, abs=0.01)
    p = make_panel(b, ["t2m", "u10", "v10"], ["Dongsi", "Dingling"],
                   start=ref - pd.Timedelta(hours=8), end=ref + pd.Timedelta(hours=4 * 24 - 9))
    day = met_day_features(p, 8 + 16, 3)   # local days from 2013-04-10 00:00 (16 UTC)
    assert np.isfinite(day["t2m"]).all()


def test_no_met_leaf_cap_and_persistence_blend_in_training(slice_data, tmp_path) -> None:
    import pandas as pd
    from airwarn.features.build import NoMet, build_issue_features, daily_targets
    from airwarn.models.backtest import train_models_on
    from airwarn.models.lgbm import predict_pollutant, predict_raw
    from airwarn.models.registry import load_model, save_model

    obs, _ = _obs_with_met(slice_data)
    f = build_issue_features(obs, pd.date_range("2013-04-20 12:00", periods=8, freq="D",
                                                 tz="Asia/Shanghai"), NoMet(),
                             geometry=slice_data.geometry)

    def train(**no_met):
        s = TINY.model_copy(update={
            "pollutants": ["pm25"], "persistence_blend": "no_met", "persistence_blend_max": 0.5,
            "daily_no_met": LgbmParams(num_boost_round=10, num_leaves=4, n_seeds=1,
                                       num_threads=1, **no_met)})
        return train_models_on(obs, daily_targets(obs), NoMet(),
                               first_day=pd.Timestamp("2013-03-04"),
                               last_target_day=pd.Timestamp("2013-04-19"), issue_hours=[12],
                               settings=s, geometry=slice_data.geometry, hourly=False)["pm25"]

    # ~90 rows per lead day: leaves of ≥ 300 rows allow no split — one value for every issue
    # and unit; capped at 20 % of the rows the trees split again
    flat = predict_raw(train(min_data_in_leaf=300), f).daily
    assert np.ptp(flat[:, 0]) == 0.0
    pm = train(min_data_in_leaf=300, min_data_in_leaf_fraction=0.2)
    assert np.ptp(predict_raw(pm, f).daily[:, 0]) > 1.0
    # the persistence weight chosen out of fold, recorded, kept by the registry, applied
    assert pm.info["persistence_blend"] == {f"D+{k}": w for k, w in pm.persist_weight.items()}
    # (this slice: 0.4 / 0.35 / 0.45; out-of-fold D+1 RMSE 89.8 → 81.7 µg/m³)
    assert set(pm.persist_weight) == {1, 2, 3}
    assert all(0 < w <= 0.5 for w in pm.persist_weight.values())
    sc = pm.info["calibration_scores"]["D+1"]
    assert sc["rmse_out_of_fold_persistence_blend"] < 0.99 * sc["rmse_out_of_fold"]
    pm2, _ = load_model(save_model(pm, tmp_path))
    assert pm2.persist_weight == pm.persist_weight
    np.testing.assert_array_equal(predict_pollutant(pm, f)["daily"],
                                  predict_pollutant(pm2, f)["daily"])


def test_check_test_period() -> None:
    from airwarn.models.backtest import check_test_period

    assert check_test_period("2013-04-22", "2013-04-23T12:00", "2013-04-29") == (
        pd.Timestamp("2013-04-22"), pd.Timestamp("2013-04-23"), pd.Timestamp("2013-04-29"))
    with pytest.raises(ValueError, match=r"test_end \(--test-end\): '2013-02-30' is not a date"):
        check_test_period("2013-04-22", "2013-04-23", "2013-02-30")
    with pytest.raises(ValueError, match=r"2013-04-29 is after test_end \(--test-end\) "
                                         r"2013-04-23"):
        check_test_period("2013-04-22", "2013-04-29", "2013-04-23")
    with pytest.raises(ValueError, match=r"train_end \(--train-end\) 2013-04-23 is not before "
                                         r"test_start \(--test-start\) 2013-04-23"):
        check_test_period("2013-04-23", "2013-04-23", "2013-04-29")


def test_run_backtest_refuses_a_training_period_into_the_test_period(slice_data) -> None:
    from airwarn.configs.model_schema import load_model_settings

    with pytest.raises(ValueError, match=r"the models would be trained on the days they "
                                         r"forecast"):
        run_backtest(slice_data, train_end="2013-04-25", test_start="2013-04-20",
                     test_end="2013-04-29", met="none", settings=load_model_settings(),
                     quantiles=[0.5])
