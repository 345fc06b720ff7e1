"""verify_archive on forecast files in the contract format (run files and backtest NetCDF),
matching rules, warning verification, errors and JSON output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.configs.verification_schema import load_verification
from airwarn.models.verify import (
    ALL,
    ForecastArchiveError,
    VerificationResult,
    match_forecasts,
    read_forecast_archive,
    verify_archive,
    verify_warnings,
)
from airwarn.models.verify.synthetic import synthetic_archive, write_run_files
from airwarn.models.verify.warning_verify import fallback_level

from airwarn import configs

UNITS = ["chengdu", "deyang", "zigong"]


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_archive(UNITS, "2026-01-01", 12, seed=4)


def test_run_files_read_back_like_the_backtest(synthetic, tmp_path):
    ds, _ = synthetic
    paths = write_run_files(ds.isel(issue_time=slice(0, 4)), tmp_path / "forecasts")
    assert [p.name for p in paths][:2] == ["20260101T1500.nc", "20260102T1500.nc"]
    one = xr.open_dataset(paths[0])
    assert one.attrs["issue_time"] == "2026-01-01T15:00:00+08:00"
    assert one["date"].values.tolist() == ["2026-01-02", "2026-01-03", "2026-01-04"]
    one.close()
    fc = read_forecast_archive(tmp_path / "forecasts")
    ref = read_forecast_archive(ds.isel(issue_time=slice(0, 4)))
    assert fc.sizes["issue_time"] == 4
    np.testing.assert_allclose(fc["pm25"].values, ref["pm25"].values)
    np.testing.assert_array_equal(fc["valid_time"].values, ref["valid_time"].values)
    np.testing.assert_array_equal(fc["date"].values, ref["date"].values)
    assert str(fc["issue_time"].values[0]) == "2026-01-01T07:00:00.000000000"  # UTC
    assert fc["model_version"].values.tolist() == ["synthetic-1"] * 4


def test_perfect_forecast_scores_perfectly():
    ds, obs = synthetic_archive(UNITS, "2026-01-01", 8, seed=6, noise=0.0)
    res = verify_archive(ds, obs, bootstrap=False)
    h = res.tables["continuous_hourly"]
    assert h["rmse"].max() == pytest.approx(0.0, abs=1e-9)
    d = res.tables["continuous_daily"]
    assert d["rmse"].max() == pytest.approx(0.0, abs=1e-6)
    ch = res.tables["chinese"]
    allg = ch[ch["group"] == ALL]
    assert (allg["exact_level_accuracy"] == 1.0).all() and (allg["level_accuracy"] == 1.0).all()
    assert (allg["primary_accuracy"] == 1.0).all()
    cat = res.tables["categorical"]
    ev = cat[(cat["group"] == ALL) & (cat["a"] + cat["c"] > 0)]
    assert len(ev) and (ev["pod"] == 1.0).all() and (ev["far"] == 0.0).all()
    assert (cat["b"] == 0).all() and (cat["c"] == 0).all()
    conf = res.tables["confusion"]
    assert conf.loc[conf["obs_level"] != conf["fc_level"], "count"].sum() == 0
    cmp_ = res.tables["comparison"].set_index(["variable", "reference", "lead_day"])
    assert cmp_.loc[("pm25", "persistence", 1), "better"] == "forecast"
    assert cmp_.loc[("pm25", "persistence", 1), "rmse_a"] == pytest.approx(0.0, abs=1e-6)


def test_constant_bias_is_measured_exactly():
    ds, obs = synthetic_archive(UNITS, "2026-01-01", 6, seed=6, noise=0.0, bias=10.0)
    res = verify_archive(ds, obs, bootstrap=False)
    h = res.tables["continuous_hourly"]
    pm = h[(h["variable"] == "pm25") & (h["group"] == ALL)]
    np.testing.assert_allclose(pm["mb"], 10.0)
    np.testing.assert_allclose(pm["mae"], 10.0)
    np.testing.assert_allclose(pm["rmse"], 10.0)
    d = res.tables["continuous_daily"]
    np.testing.assert_allclose(d.loc[d["variable"] == "pm25", "mb"], 10.0, atol=1e-9)
    hd = res.tables["continuous_hourly_by_day"]
    hd = hd[(hd["variable"] == "pm25") & (hd["group"] == ALL)]
    assert hd["lead_day"].tolist() == [1, 2, 3]
    assert hd["n"].tolist() == [6 * 3 * 24] * 3  # 6 runs × 3 units × the 24 hours of each day
    np.testing.assert_allclose(hd["mb"], 10.0)


def test_persistence_and_climatology_references(synthetic):
    ds, obs = synthetic
    s = load_verification()
    fc = read_forecast_archive(ds)
    m = match_forecasts(fc, obs, s)
    o = obs.assign(time=pd.DatetimeIndex(obs["time"]).tz_convert("UTC").tz_localize(None))
    o = o.set_index(["time", "unit_id"])["pm25"]
    issue = pd.Timestamp(fc["issue_time"].values[3])  # 2026-01-04 07:00 UTC (15:00 local)
    # last obs = 14:00 local on the issue day: valid 16:00 (lead 1) … 14:00 next day (lead 23)
    # use the same hour a day before; from lead 24 the latest such hour is 48 h back
    for lead, back_h in ((1, 24), (23, 24), (24, 48), (30, 48), (48, 72)):
        vt = issue + pd.Timedelta(hours=lead)
        got = float(m.hourly["pers_pm25"].sel(issue_time=fc["issue_time"].values[3],
                                              region="deyang", lead=lead))
        assert got == pytest.approx(o[(vt - pd.Timedelta(hours=back_h), "deyang")]), lead
    # daily persistence: the observed daily value of the day before the issue day
    od = m.obs_daily.set_index(["date", "unit_id"])["pm25"]
    got = m.daily["pers_pm25"].isel(issue_time=3).sel(region="zigong").values
    assert np.allclose(got, od[(pd.Timestamp("2026-01-03"), "zigong")])
    # climatology: monthly mean of the unit's daily observations
    cl = float(m.daily["clim_pm25"].isel(issue_time=0, day=0).sel(region="chengdu"))
    dd = m.obs_daily[m.obs_daily["unit_id"] == "chengdu"]
    jan = dd[pd.DatetimeIndex(dd["date"]).month == 1]["pm25"].mean()
    assert cl == pytest.approx(jan)


def test_daily_products_derived_from_hourly_when_absent(synthetic):
    ds, obs = synthetic
    full = verify_archive(ds, obs, bootstrap=False).tables["continuous_daily"]
    hourly_only = ds.drop_vars([v for v in ds.data_vars if "day" in ds[v].dims])
    derived = verify_archive(hourly_only, obs, bootstrap=False).tables["continuous_daily"]
    for v in ("pm25", "o3_mda8", "aqi"):
        a = full[full["variable"] == v].reset_index(drop=True)
        b = derived[derived["variable"] == v].reset_index(drop=True)
        np.testing.assert_allclose(a["rmse"], b["rmse"], rtol=1e-9)


def test_period_restricts_valid_dates_and_groups_come_from_the_region(synthetic):
    ds, obs = synthetic
    region = configs.load_region()
    res = verify_archive(ds, obs, region=region, period=("2026-01-05", "2026-01-08"),
                         bootstrap=False)
    s = res.tables["daily_series"]
    assert s["date"].min() >= "2026-01-05" and s["date"].max() <= "2026-01-08"
    d = res.tables["continuous_daily"]
    assert {"chengdu", "成都平原", "川南", ALL} <= set(d["group"])
    n_all = d[(d["group"] == ALL) & (d["variable"] == "pm25") & (d["lead_day"] == 1)]["n"].item()
    assert n_all == 4 * 3  # 4 valid dates × 3 units at D+1
    assert res.meta["period"] == ["2026-01-05", "2026-01-08"]


def test_result_is_json_serialisable(synthetic, tmp_path):
    ds, obs = synthetic
    res = verify_archive(ds, obs, bootstrap=False)
    p = res.to_json(tmp_path / "v.json")
    data = json.loads(p.read_text(encoding="utf-8"))
    assert data["meta"]["model_versions"] == ["synthetic-1"]
    back = VerificationResult.from_dict(data)
    a, b = res.tables["continuous_daily"], back.tables["continuous_daily"]
    np.testing.assert_allclose(a["rmse"].to_numpy(float), b["rmse"].to_numpy(float))
    assert back.continuous_daily.shape == a.shape  # attribute access to tables


def test_bad_forecast_files_name_the_file_and_what_was_expected(tmp_path):
    bad = xr.Dataset({"pm25": (("region", "step"), np.zeros((2, 3)))},
                     coords={"region": ["a", "b"], "step": [1, 2, 3]},
                     attrs={"issue_time": "2026-01-01T15:00:00+08:00"})
    p = tmp_path / "bad.nc"
    bad.to_netcdf(p)
    with pytest.raises(ForecastArchiveError, match=r"bad\.nc.*missing dimension 'lead'"):
        read_forecast_archive(p)
    noattr = xr.Dataset({"pm25": (("region", "lead"), np.zeros((2, 3)))},
                        coords={"region": ["a", "b"], "lead": [1, 2, 3]})
    q = tmp_path / "noattr.nc"
    noattr.to_netcdf(q)
    with pytest.raises(ForecastArchiveError, match=r"noattr\.nc.*issue_time"):
        read_forecast_archive(q)
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(ForecastArchiveError, match=r"junk\.nc.*cannot read"):
        read_forecast_archive(tmp_path / "junk.nc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ForecastArchiveError, match=r"empty: no forecast files"):
        read_forecast_archive(tmp_path / "empty")
    with pytest.raises(ForecastArchiveError, match="no such file"):
        read_forecast_archive(tmp_path / "missing")


@pytest.mark.parametrize("seq,level", [
    ([160, 170, 120], "yellow"), ([210, 120, 90], "yellow"), ([210, 220, 140], "orange"),
    ([160, 170, 180, 140], "orange"), ([210, 220, 230], "orange"), ([210, 220, 310], "red"),
    ([310, 120, 100], "yellow"), ([140, 150, 150], "none"),
])
def test_fallback_ladder_matches_the_spec_cases(seq, level):
    assert fallback_level(seq, load_verification()) == level


def _obs_daily(unit: str, aqi: list[float]) -> pd.DataFrame:
    dates = pd.date_range("2026-01-01", periods=len(aqi), freq="D")
    return pd.DataFrame({"date": dates, "unit_id": unit, "aqi": np.asarray(aqi, float),
                         "pm25": np.asarray(aqi, float) * 0.75, "o3_8h_max": 60.0,
                         "primary": "PM2.5"})


def test_warning_verification_hits_false_alarms_misses_and_lead_time():
    od = pd.concat([_obs_daily("chengdu", [80, 160, 170, 120, 90, 210, 220, 100, 80, 70]),
                    _obs_daily("deyang", [100, 160, 170, 100, 80, 70, 60, 60, 60, 60])])
    decisions = [
        {"decision_id": "y1", "issue_time": "2026-01-01T15:00:00+08:00", "unit_ids": ["chengdu"],
         "level": "yellow", "action": "issue", "start": "2026-01-02", "end": "2026-01-03"},
        {"decision_id": "o1", "issue_time": "2026-01-04T15:00:00+08:00", "unit_ids": ["chengdu"],
         "level": "orange", "action": "issue", "start": "2026-01-05", "end": "2026-01-07"},
        {"decision_id": "o1c", "issue_time": "2026-01-05T15:00:00+08:00", "unit_ids": ["chengdu"],
         "level": "orange", "action": "continue", "start": "2026-01-05", "end": "2026-01-07"},
        {"decision_id": "y2", "issue_time": "2026-01-08T15:00:00+08:00", "unit_ids": ["chengdu"],
         "level": "yellow", "action": "issue", "start": "2026-01-09", "end": "2026-01-10"},
    ]
    out = verify_warnings(decisions, od, load_verification())
    wl = out["list"].set_index("decision_id")
    assert list(wl.index) == ["y1", "o1", "y2"]  # the "continue" decision is not a new warning
    assert wl.loc["y1", "hit"] == True and wl.loc["y1", "lead_hours"] == pytest.approx(9.0)  # noqa: E712
    assert wl.loc["y1", "lead_day"] == 1
    assert wl.loc["o1", "hit"] == True and wl.loc["o1", "observed_level"] == "orange"  # noqa: E712
    assert wl.loc["o1", "lead_hours"] == pytest.approx(33.0) and wl.loc["o1", "lead_day"] == 2
    assert wl.loc["y2", "hit"] == False  # noqa: E712
    by = out["by_level"].set_index("level")
    assert by.loc["yellow", ["hits", "false_alarms", "misses"]].tolist() == [1, 1, 1]
    assert by.loc["yellow", "pod"] == pytest.approx(0.5)
    assert by.loc["yellow", "far"] == pytest.approx(0.5)
    assert by.loc["yellow", "csi"] == pytest.approx(1 / 3)
    assert by.loc["orange", ["hits", "false_alarms", "misses"]].tolist() == [1, 0, 0]
    miss = out["misses"]
    assert miss[["unit_id", "level", "start"]].values.tolist() == [["deyang", "yellow", "2026-01-01"]]
    lead = out["by_lead_day"].set_index(["level", "lead_day"])
    assert lead.loc[("yellow", 1), "warnings"] == 2  # y1 (hit at D+1) and y2 (window from D+1)
    assert lead.loc[("orange", 2), "hits"] == 1


def test_warnings_come_from_the_register_when_present(tmp_path):
    """Data-directory mode: forecasts/ + obs store + register.sqlite (real SQLite, alerts.register)."""
    from airwarn.alerts.register import Register
    from airwarn.features.store import write_obs

    ds, obs = synthetic_archive(["chengdu", "deyang"], "2026-01-01", 8, seed=6)
    write_run_files(ds, tmp_path / "forecasts")
    st = obs.rename(columns={"unit_id": "station_id"})
    for c in ("pm10", "no2", "so2", "co"):
        st[c] = np.nan
    st["qc"] = 0
    write_obs(st, tmp_path)
    reg = Register(tmp_path / "register.sqlite")
    reg.record_transition({"decision_id": "reg-1", "issue_time": "2026-01-03T15:00:00+08:00",
                           "unit_ids": ["deyang"], "level": "orange", "action": "issue",
                           "previous_level": "none", "start": "2026-01-04", "end": "2026-01-06"})
    (tmp_path / "warnings").mkdir()  # run files are ignored when the register exists
    (tmp_path / "warnings" / "x.json").write_text(json.dumps({"decisions": [
        {"decision_id": "file-1", "issue_time": "2026-01-02T15:00:00+08:00",
         "unit_ids": ["chengdu"], "level": "yellow", "action": "issue",
         "start": "2026-01-03", "end": "2026-01-04"}]}), encoding="utf-8")
    stations = pd.DataFrame({"station_id": ["chengdu", "deyang"],
                             "sub_region": ["chengdu", "deyang"]})
    res = verify_archive(tmp_path, start="2026-01-02", end="2026-01-09", stations=stations,
                         bootstrap=False)
    wl = res.tables["warnings_list"]
    assert wl["decision_id"].tolist() == ["reg-1"]
    assert wl["unit_id"].tolist() == ["deyang"] and wl["level"].tolist() == ["orange"]
    assert wl["n_obs_days"].tolist() == [3]
    d = res.tables["continuous_daily"]
    assert d.loc[(d["group"] == ALL) & (d["variable"] == "pm25"), "n"].max() > 0


def test_units_from_stations_rules():
    from airwarn.models.verify.match import units_from_stations

    t = pd.Timestamp("2026-01-01T00:00Z")
    obs = pd.DataFrame({"time": [t, t, t, t], "station_id": ["s1", "s2", "s3", "s4"],
                        "pm25": [10.0, 30.0, 50.0, 999.0], "o3": [1.0, 3.0, 5.0, 7.0],
                        "qc": [0, 0, 0, 4]})
    stations = pd.DataFrame({"station_id": ["s1", "s2", "s3", "s4"],
                             "sub_region": ["chengdu", "chengdu", "deyang", "deyang"]})
    u = units_from_stations(obs, stations, ["chengdu", "deyang"]).set_index("unit_id")
    assert u.loc["chengdu", "pm25"] == 20.0   # mean of the clean stations
    assert u.loc["deyang", "pm25"] == 50.0    # the qc-flagged station is left out
    ident = units_from_stations(obs, None, ["s1", "s3"])  # benchmark: stations are the units
    assert sorted(ident["unit_id"]) == ["s1", "s3"]
    one = units_from_stations(obs, None, ["beijing"])      # one unit: all clean stations
    assert one["pm25"].item() == 30.0 and one["unit_id"].item() == "beijing"
    with pytest.raises(ValueError, match="cannot map stations"):
        units_from_stations(obs, None, ["chengdu", "deyang"])
