"""Tests of the demo world (features.demo_world).

Most tests read the shared session world (``demo_world`` in tests/conftest.py: 120 days to
2026-01-20 15:00 +08:00). Summer checks run the unit-level model alone for one summer (no files),
the transport check runs the box model on controlled meteorology, and the cache/determinism
checks build two tiny worlds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.configs import load_region
from airwarn.features.demo_world import (
    analysis,
    build_world,
    chem,
    forecast_cycle,
    load_world,
    met,
    simulate_units,
    summarise_world,
    unit_met_analysis,
    unit_met_forecast,
    unit_met_forecasts,
    unit_truth,
)
from airwarn.features.store import OBS_COLUMNS, read_obs

LOCAL = "Asia/Shanghai"


def _pivot_local(df: pd.DataFrame, col: str, time_col: str = "time") -> pd.DataFrame:
    p = df.pivot(index=time_col, columns="unit_id", values=col)
    p.index = p.index.tz_convert(LOCAL).tz_localize(None)
    return p


@pytest.fixture(scope="module")
def truth(demo_world) -> pd.DataFrame:
    t = unit_truth(demo_world)
    return t[t["observed"]]


@pytest.fixture(scope="module")
def summer():
    """One summer of the whole region at the unit level (no files)."""
    times, f, conc = simulate_units(20261128, pd.Timestamp("2025-06-01", tz="UTC"),
                                    pd.Timestamp("2025-08-31T23:00", tz="UTC"))
    return times, f, conc


# --------------------------------------------------------------------------------------------
# files, labels, contracts
# --------------------------------------------------------------------------------------------
def test_world_json_and_reload(demo_world):
    d = demo_world.data_dir
    desc = json.loads((d / "demo" / "world.json").read_text(encoding="utf-8"))
    assert desc["source"] == "synthetic demo"
    assert desc["seed"] == 20261128 and desc["days"] == 120
    w = load_world(d)
    assert w.end == pd.Timestamp("2026-01-20T06:00", tz="UTC")  # issue 15:00 +08:00 − 1 h
    assert w.start == pd.Timestamp("2025-09-22T07:00", tz="UTC")
    assert w.issue_time == pd.Timestamp("2026-01-20T15:00", tz=LOCAL)
    assert w.cycle_time == pd.Timestamp("2026-01-20T00:00", tz="UTC")
    assert list(w.units) == load_region().unit_ids


def test_netcdf_open_plainly_with_cf_attributes(demo_world):
    d = demo_world.data_dir
    with xr.open_dataset(d / "met" / "cycles" / "2026012000.nc") as ds:
        assert ds.attrs["source"] == "synthetic demo"
        assert ds.attrs["forecast_reference_time"] == "2026-01-20T00:00:00+00:00"
        assert ds["t2m"].dims == ("time", "latitude", "longitude")
        assert ds.sizes["time"] == 121 and int(ds["step"][-1]) == 120
        assert ds["step"].attrs["units"] == "hours"
        expected = {"t2m": "K", "d2m": "K", "u10": "m s-1", "v10": "m s-1", "sp": "Pa",
                    "tp": "mm h-1", "blh": "m", "ssrd": "W m-2", "tcc": "1"}
        for v, u in expected.items():
            assert ds[v].attrs["units"] == u
            assert ds[v].attrs["standard_name"]
            assert ds[v].attrs["long_name"]
        assert float(ds["latitude"].min()) == 26.0 and float(ds["latitude"].max()) == 34.0
        assert float(ds["longitude"].min()) == 101.0 and float(ds["longitude"].max()) == 111.0
        assert ds["t2m"].encoding["zlib"] is True
        assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2026-01-20T00:00")
    with xr.open_dataset(d / "met" / "analysis" / "2025-12.nc") as ds:
        assert ds.attrs["source"] == "synthetic demo"
        assert ds.sizes["time"] == 31 * 24
        assert ds["blh"].attrs["standard_name"] == "atmosphere_boundary_layer_thickness"


def test_basin_climate_in_the_analysis(demo_world):
    ds = analysis(demo_world, pd.Timestamp("2025-12-01", tz="UTC"),
                  pd.Timestamp("2025-12-31T23:00", tz="UTC"))
    m = ds.mean("time").compute()
    basin = dict(latitude=30.5, longitude=105.0)
    rim = dict(latitude=30.5, longitude=101.5)
    # the western rim is higher: colder and lower surface pressure; the basin is calm
    assert float(m["t2m"].sel(**rim)) < float(m["t2m"].sel(**basin)) - 10
    assert float(m["sp"].sel(**rim)) < float(m["sp"].sel(**basin)) - 15000
    ws = np.hypot(ds["u10"], ds["v10"]).mean("time").compute()
    assert float(ws.sel(**basin)) < 2.0 < float(ws.sel(**rim))
    # December in the basin: overcast, humid, cool
    assert 0.7 < float(m["tcc"].sel(**basin)) <= 1.0
    assert 275 < float(m["t2m"].sel(**basin)) < 285
    assert float((m["t2m"] - m["d2m"]).sel(**basin)) < 4.0
    # shallow night-time boundary layer (local 02:00 = 18 UTC) vs the afternoon (06 UTC)
    blh = ds["blh"].sel(**basin)
    night = float(blh.where(blh["time"].dt.hour == 18, drop=True).mean())
    day = float(blh.where(blh["time"].dt.hour == 6, drop=True).mean())
    assert night < 350 and day > 1.3 * night


def test_analysis_file_equals_the_point_function(demo_world):
    """The gridded analysis is the field function sampled at the grid nodes: evaluating the
    function at a node (the unit path's method) gives the stored numbers exactly."""
    times = pd.date_range("2025-12-10T00:00", periods=24, freq="h", tz="UTC")
    pts = met.points_from_latlon(np.array([30.5, 29.5]), np.array([104.0, 106.5]))
    f = met.analysis_at_points(demo_world.seed, times, pts)
    ds = analysis(demo_world, times[0], times[-1])
    for v in ("t2m", "blh", "tp", "u10"):
        grid = ds[v].sel(latitude=30.5, longitude=104.0).values
        np.testing.assert_array_equal(grid, f[v][:, 0])
        grid = ds[v].sel(latitude=29.5, longitude=106.5).values
        np.testing.assert_array_equal(grid, f[v][:, 1])


def test_cycle_file_regenerates_and_unit_path_matches(demo_world):
    ref = demo_world.cycle_time
    regen = forecast_cycle(demo_world, ref)
    with xr.open_dataset(demo_world.data_dir / "met" / "cycles" / "2026012000.nc") as disk:
        np.testing.assert_array_equal(disk["blh"].values, regen["blh"].values)
    # the unit path = the same function at the unit points
    region = load_region()
    fc = unit_met_forecast(demo_world, ref)
    assert list(fc.columns[:3]) == ["valid_time", "step", "unit_id"]
    assert len(fc) == 121 * 31
    u = region.unit("chengdu").point
    pts = met.points_from_latlon(np.array([u.lat]), np.array([u.lon]))
    f = met.forecast_at_points(demo_world.seed, int(met.hour_index(ref)[0]), 121, pts)
    cd = fc[fc["unit_id"] == "chengdu"]
    np.testing.assert_array_equal(cd["t2m"].to_numpy(), f["t2m"][:, 0])
    # many cycles at once: the same numbers as one at a time
    many = unit_met_forecasts(demo_world, [ref - pd.Timedelta(days=1), ref])
    last = many[many["reference_time"] == ref].reset_index(drop=True)
    np.testing.assert_array_equal(last["blh"].to_numpy(), fc["blh"].to_numpy())
    # past cycles are deterministic from (seed, cycle time) and differ between cycles
    a = forecast_cycle(demo_world, ref - pd.Timedelta(days=3), steps=48)
    b = forecast_cycle(demo_world, ref - pd.Timedelta(days=3), steps=48)
    c = forecast_cycle(demo_world, ref - pd.Timedelta(days=2), steps=24)
    np.testing.assert_array_equal(a["t2m"].values, b["t2m"].values)
    t = c["time"][12]
    assert int(a["step"].sel(time=t)) == 36 and int(c["step"].sel(time=t)) == 12
    assert not np.array_equal(a["t2m"].sel(time=t).values, c["t2m"].sel(time=t).values)


def test_forecast_error_grows_with_lead(demo_world):
    refs = pd.date_range(demo_world.start + pd.Timedelta(days=2), periods=40, freq="48h")
    refs = refs.floor("D")
    fc = unit_met_forecasts(demo_world, refs)
    ana = unit_met_analysis(demo_world, refs[0], refs[-1] + pd.Timedelta(hours=120))
    m = fc.merge(ana, left_on=["valid_time", "unit_id"], right_on=["time", "unit_id"],
                 suffixes=("", "_a"))

    def rmse(v: str, lo: int, hi: int) -> float:
        g = m[(m["step"] >= lo) & (m["step"] <= hi)]
        return float(np.sqrt(np.mean((g[v] - g[v + "_a"]) ** 2)))

    for v in ("t2m", "u10", "v10", "blh"):
        e0, e1, e2 = rmse(v, 0, 12), rmse(v, 36, 60), rmse(v, 96, 120)
        assert e0 < e1 < e2, (v, e0, e1, e2)
    assert rmse("t2m", 96, 120) > 3 * rmse("t2m", 0, 6)
    assert 0.8 < rmse("t2m", 110, 120) < 4.0  # K, a realistic day-5 error


# --------------------------------------------------------------------------------------------
# observations and defects
# --------------------------------------------------------------------------------------------
def test_obs_are_canonical_and_stop_before_the_issue(demo_world):
    obs = read_obs(demo_world.data_dir)
    assert list(obs.columns) == list(OBS_COLUMNS)
    assert str(obs["time"].dt.tz) == "UTC"
    assert obs["time"].min() == demo_world.start
    assert obs["time"].max() == demo_world.end
    assert (obs["qc"] == 0).all()
    st = demo_world.stations
    assert set(obs["station_id"]) == set(st["station_id"])
    # every unit has at least one station; units without a configured one get a seat station
    assert set(st["sub_region"]) == set(demo_world.units)
    seats = st[st["station_id"].str.startswith("seat_")]
    for _, row in seats.iterrows():
        u = load_region().unit(row["sub_region"])
        assert row["station_id"] == f"seat_{u.id}"
        assert (row["lat"], row["lon"]) == (u.point.lat, u.point.lon)


def test_station_obs_follow_their_unit(demo_world, truth):
    obs = read_obs(demo_world.data_dir, station_ids=["1431A"]) if "1431A" in set(
        demo_world.stations["station_id"]) else None
    st = demo_world.stations
    sid = st[st["sub_region"] == "chengdu"]["station_id"].iloc[0] if obs is None else "1431A"
    obs = read_obs(demo_world.data_dir, station_ids=[sid]).set_index("time")
    cd = truth[truth["unit_id"] == "chengdu"].set_index("time")
    j = obs.merge(cd, left_index=True, right_index=True, how="inner", suffixes=("", "_t"))
    ok = j["pm25"].between(0, 1000)
    r = np.corrcoef(j.loc[ok, "pm25"], j.loc[ok, "pm25_t"])[0, 1]
    assert r > 0.9
    assert 0.6 < (j.loc[ok, "pm25"].mean() / j.loc[ok, "pm25_t"].mean()) < 1.6


def test_defects_are_recorded_and_present(demo_world):
    dfx = pd.read_csv(demo_world.data_dir / "demo" / "defects.csv")
    assert list(dfx.columns) == ["station_id", "variable", "start", "end", "kind"]
    kinds = set(dfx["kind"])
    assert {"missing", "outage", "stuck", "spike", "co_ugm3", "negative"} <= kinds
    dfx["start"] = pd.to_datetime(dfx["start"], utc=True)
    dfx["end"] = pd.to_datetime(dfx["end"], utc=True)
    obs = read_obs(demo_world.data_dir).set_index(["station_id", "time"]).sort_index()

    def values(row) -> pd.DataFrame:
        return obs.loc[(row.station_id, slice(row.start, row.end)), :]

    co = dfx[dfx["kind"] == "co_ugm3"].iloc[0]
    v = values(co)["co"].dropna()
    assert len(v) > 24 * 5 and v.median() > 100  # µg/m³ reported in a mg/m³ column
    for row in dfx[dfx["kind"] == "outage"].head(5).itertuples():
        assert len(values(row)) == 0  # the station stopped reporting: no rows
    for row in dfx[dfx["kind"] == "missing"].head(20).itertuples():
        v = values(row)
        assert len(v) == (row.end - row.start) / pd.Timedelta(hours=1) + 1 or len(v) == 0
        assert v[["pm25", "o3", "co"]].isna().all().all()
    for row in dfx[dfx["kind"] == "negative"].head(10).itertuples():
        assert (values(row)[row.variable] < 0).all()
    stuck = dfx[(dfx["kind"] == "stuck")].head(10)
    for row in stuck.itertuples():
        vals = values(row)[row.variable].dropna()
        assert vals.nunique() <= 1 or (vals.iloc[0] == vals).mean() > 0.5
    # outside the recorded defects the data are clean: no negatives, no CO in µg/m³
    keys = [(row.station_id, t) for row in
            dfx[dfx["kind"].isin(["negative", "co_ugm3", "spike"])].itertuples()
            for t in pd.date_range(row.start, row.end, freq="h")]
    flagged = obs.index.isin(pd.MultiIndex.from_tuples(keys, names=obs.index.names))
    clean = obs[~flagged]
    assert (clean[["pm25", "pm10", "o3", "no2", "so2", "co"]].fillna(0) >= 0).all().all()
    assert clean["co"].max() < 20


# --------------------------------------------------------------------------------------------
# physics
# --------------------------------------------------------------------------------------------
def test_winter_pm25_episodes(truth):
    pm = _pivot_local(truth, "pm25").resample("D").mean()
    djf = pm[pm.index.month.isin([12, 1, 2])]
    # multi-day episodes: daily PM2.5 > 150 (AQI > 200) on some days, ≥ 3-day runs above 115
    assert (djf > 150).sum().sum() >= 5
    runs = (djf["chengdu"] > 115).astype(int)
    longest = runs.groupby((runs == 0).cumsum()).sum().max()
    assert longest >= 3
    # winter much dirtier than the early autumn; units differ: Ya'an and Guangyuan cleaner
    son = pm[pm.index.month == 10]
    assert djf["chengdu"].mean() > 1.5 * son["chengdu"].mean()
    assert djf["yaan"].mean() < djf["chengdu"].mean() * 0.8
    assert djf["guangyuan"].mean() < djf["zigong"].mean() * 0.6
    for u in ("chengdu", "zigong", "yibin", "dazhou"):
        assert djf[u].mean() > djf["yaan"].mean()


def test_summer_ozone_episodes_and_afternoon_peak(summer):
    times, f, conc = summer
    ids = load_region().unit_ids
    o3 = pd.DataFrame(conc["o3"], index=times.tz_convert(LOCAL).tz_localize(None), columns=ids)
    m8 = o3.rolling(8, min_periods=6).mean()
    mda8 = m8[m8.index.hour >= 7].resample("D").max()
    assert (mda8 > 160).sum().sum() >= 10
    assert (mda8 > 215).sum().sum() >= 1
    diurnal = o3.groupby(o3.index.hour).mean()
    peak = diurnal.idxmax()
    assert peak.between(13, 17).all(), peak[~peak.between(13, 17)]
    # night-time titration: NO2 up and O3 down at night
    no2 = pd.DataFrame(conc["no2"], index=o3.index, columns=ids)
    night = o3.index.hour.isin([3, 4, 5])
    after = o3.index.hour.isin([14, 15, 16])
    cities = ["chengdu", "cq_central", "zigong", "yibin", "deyang", "nanchong", "luzhou"]
    assert (o3.loc[night, cities].mean() < 0.6 * o3.loc[after, cities].mean()).all()
    assert (no2.loc[night, cities].mean() > no2.loc[after, cities].mean()).all()


def test_pm25_falls_with_ventilation(demo_world, truth):
    met_u = unit_met_analysis(demo_world)
    j = truth.merge(met_u, on=["time", "unit_id"])
    j = j[j["unit_id"].isin(["chengdu", "cq_central", "zigong", "suining"])]
    ws = np.hypot(j["u10"], j["v10"])
    X = np.column_stack([np.ones(len(j)), np.log(j["blh"]), ws, j["tp"]])
    y = np.log(j["pm25"].to_numpy())
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert coef[1] < -0.1  # deeper boundary layer → less PM2.5
    assert coef[2] < -0.02  # more wind → less PM2.5
    assert coef[3] < 0  # rain washes out


def test_transport_upwind_reaches_downwind_later():
    """A pulse of emissions in the upwind unit reaches the downwind neighbour later — across the
    provincial border too (广安 guangan, Sichuan → 重庆中心城区 cq_central)."""
    region = load_region()
    T = 24 * 12
    times = pd.date_range("2025-11-03", periods=T, freq="h", tz="UTC")
    for up, down in (("chengdu", "ziyang"), ("guangan", "cq_central")):
        params = chem.unit_params(region, [up, down])
        pu, pdn = region.unit(up).point, region.unit(down).point
        dx = (pdn.lon - pu.lon) * np.cos(np.deg2rad(30))
        dy = pdn.lat - pu.lat
        ex, ey = dx / np.hypot(dx, dy), dy / np.hypot(dx, dy)
        resp = _pulse(params, times, 2.0 * ex, 2.0 * ey)
        a, b = resp[:, 0], resp[:, 1]
        assert b.max() > 0.1 * a.max()
        lags = np.arange(0, 25)
        xc = [np.corrcoef(a[: T - k], b[k:])[0, 1] for k in lags]
        neg = [np.corrcoef(a[k:], b[: T - k])[0, 1] for k in lags[1:]]
        assert int(lags[int(np.argmax(xc))]) > 0
        assert max(xc) > max(neg)
        assert int(np.argmax(b)) > int(np.argmax(a))
        # against the wind, almost nothing arrives
        back = _pulse(params, times, -2.0 * ex, -2.0 * ey)
        assert back[:, 1].max() < 0.25 * b.max()


def _pulse(params: chem.UnitParams, times: pd.DatetimeIndex, u: float, v: float) -> np.ndarray:
    """PM2.5 response (µg/m³) of two units to a 6-h emission pulse in the first one under a
    steady wind (u, v m s-1), boundary layer 600 m, no rain, night."""
    T = len(times)
    metd = {"t2m": np.full((T, 2), 285.0), "d2m": np.full((T, 2), 280.0),
            "u10": np.full((T, 2), u), "v10": np.full((T, 2), v), "tp": np.zeros((T, 2)),
            "blh": np.full((T, 2), 600.0), "ssrd": np.zeros((T, 2))}
    extra = np.zeros((T, 2))
    extra[96:102, 0] = 60.0
    with_pulse = chem.simulate(metd, times, params, extra_emissions=extra)["pm25"]
    return with_pulse - chem.simulate(metd, times, params)["pm25"]


# --------------------------------------------------------------------------------------------
# determinism, cache, errors, summary
# --------------------------------------------------------------------------------------------
def test_determinism_and_cache(tmp_path):
    end = pd.Timestamp("2025-07-15T05:00", tz=LOCAL)
    a = build_world(tmp_path / "a", seed=7, end=end, days=3)
    b = build_world(tmp_path / "b", seed=7, end=end, days=3)
    oa, ob = read_obs(a.data_dir), read_obs(b.data_dir)
    pd.testing.assert_frame_equal(oa, ob)
    with xr.open_dataset(a.data_dir / "met" / "analysis" / "2025-07.nc") as x, \
            xr.open_dataset(b.data_dir / "met" / "analysis" / "2025-07.nc") as y:
        np.testing.assert_array_equal(x["t2m"].values, y["t2m"].values)
    # cycle: latest 00 UTC at or before issue − 5 h (05:00 +08 = 21 UTC the day before → 16 UTC)
    assert a.cycle_time == pd.Timestamp("2025-07-14T00:00", tz="UTC")
    assert (a.data_dir / "met" / "cycles" / "2025071400.nc").exists()
    # cached: nothing rewritten
    wj = a.data_dir / "demo" / "world.json"
    mtime = wj.stat().st_mtime_ns
    again = build_world(tmp_path / "a", seed=7, end=end, days=3)
    assert wj.stat().st_mtime_ns == mtime and again.end == a.end
    # changed → rebuilt, stale files of the previous world removed
    c = build_world(tmp_path / "a", seed=8, end=end, days=3)
    assert c.seed == 8
    oc = read_obs(c.data_dir)
    assert not np.array_equal(oa["pm25"].to_numpy(), oc["pm25"].to_numpy(), equal_nan=True)
    d = build_world(tmp_path / "a", seed=8, end=end - pd.Timedelta(days=20), days=2)
    assert not (d.data_dir / "met" / "cycles" / "2025071400.nc").exists()
    assert read_obs(d.data_dir)["time"].max() == d.end
    # same seed, overlapping periods: the same weather
    f1 = simulate_units(7, end - pd.Timedelta(days=2), end, units=["chengdu"])[1]
    f2 = simulate_units(7, end - pd.Timedelta(days=4), end, units=["chengdu"])[1]
    np.testing.assert_array_equal(f1["t2m"], f2["t2m"][-len(f1["t2m"]):])


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        build_world(tmp_path, end=pd.Timestamp("2026-01-20T15:00"), days=2)
    with pytest.raises(ValueError, match="whole hour"):
        build_world(tmp_path, end=pd.Timestamp("2026-01-20T15:30", tz=LOCAL), days=2)
    with pytest.raises(FileNotFoundError, match="world.json"):
        load_world(tmp_path / "nothing")
    assert not (tmp_path / "obs").exists()


def test_summarise_world(demo_world):
    from airwarn.alerts.daily import daily_aqi

    s = summarise_world(demo_world, daily_aqi)
    assert {"unit_id", "season", "days", "优 good", "重度 heavy", "max_aqi"} <= set(s.columns)
    assert set(s["unit_id"]) == set(demo_world.units)
    cd = s[(s["unit_id"] == "chengdu") & (s["season"] == "DJF")].iloc[0]
    assert cd["days"] >= 45
    assert cd["重度 heavy"] + cd["严重 severe"] >= 2  # the December episode
    level_cols = ["优 good", "良 moderate", "轻度 light", "中度 medium", "重度 heavy", "严重 severe"]
    assert (s[level_cols].sum(axis=1) == s["days"]).all()


def test_emission_calendar():
    from airwarn.features.calendar import spring_festival

    for year in (2024, 2025, 2026, 2027):
        assert pd.Timestamp(spring_festival(year)) == pd.Timestamp(year, *chem.SPRING_FESTIVAL[year])
    t = pd.date_range("2025-09-01", "2026-03-31 23:00", freq="h", tz=LOCAL).tz_convert("UTC")
    f = chem.emission_factors(t)
    loc = t.tz_convert(LOCAL)
    ind = pd.Series(f["industry"], index=loc)
    # 错峰生产 (staggered production) from 15 Nov: same weekday and hour, lower industry
    assert ind["2025-12-03 10:00"] < 0.85 * ind["2025-10-15 10:00"]
    # Spring Festival 2026-02-17: industry dip; fireworks on the eve night only
    assert ind["2026-02-18 10:00"] < 0.6 * ind["2026-03-18 10:00"]
    fw = pd.Series(f["fireworks"], index=loc)
    assert fw.idxmax().strftime("%Y-%m-%d %H") in ("2026-02-16 23", "2026-02-17 00",
                                                   "2026-02-17 01")
    assert fw["2026-01-10"].max() < 1e-6
    # traffic: morning and evening rush hours, quieter at night
    tr = pd.Series(f["traffic"], index=loc)["2025-10-15"]
    assert tr.iloc[8] > 2 * tr.iloc[3] and tr.iloc[18] > 2 * tr.iloc[3]


def test_truth_file_is_labelled_synthetic(demo_world):
    import pyarrow.parquet as pq

    meta = pq.read_schema(demo_world.data_dir / "demo" / "unit_truth.parquet").metadata
    assert meta[b"source"] == b"synthetic demo"


def test_station_siting(demo_world):
    from airwarn.features.demo_world.stations import site_kind

    assert site_kind("缙云山") == "background" and site_kind("乐山大佛景区") == "background"
    assert site_kind("南充炼油厂") == "industrial" and site_kind("市第三水厂") == "urban"
    assert site_kind("解放碑") == "urban"
    st = demo_world.stations
    if "1414A" not in set(st["station_id"]) or "1423A" not in set(st["station_id"]):
        pytest.skip("the configured station list has changed")
    obs = read_obs(demo_world.data_dir, station_ids=["1414A", "1423A"])  # 缙云山 vs 解放碑
    clean = obs[(obs["pm25"] >= 0) & (obs["pm25"] < 1000) & (obs["no2"] >= 0)]
    m = clean.groupby("station_id")[["pm25", "no2"]].median()
    assert m.loc["1414A", "pm25"] < m.loc["1423A", "pm25"]
    assert m.loc["1414A", "no2"] < 0.8 * m.loc["1423A", "no2"]
