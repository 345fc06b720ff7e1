"""features.build: panels, daily statistics, history/met/transport features, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.features.build import (
    Geometry,
    NoMet,
    PerfectMet,
    build_issue_features,
    daily_design,
    daily_mda8,
    daily_mean,
    horizon_hours,
    hourly_design,
    local_day_start,
    make_panel,
    met_history_features,
    transport_features,
)


def _long(times: pd.DatetimeIndex, units: list[str], values: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({
        "time": np.repeat(times, len(units)), "unit_id": np.tile(units, n),
        **{k: v.reshape(-1) for k, v in values.items()},
    })


def test_horizon_reaches_end_of_d3() -> None:
    t = pd.Timestamp("2026-01-10 12:00", tz="Asia/Shanghai")
    assert horizon_hours(t) == 84
    assert horizon_hours(pd.Timestamp("2026-01-10 05:00", tz="Asia/Shanghai")) == 91
    assert local_day_start(t) == pd.Timestamp("2026-01-09 16:00", tz="UTC")


def test_daily_mean_needs_20_hours_and_uses_local_days() -> None:
    # local day 2026-01-02 = 2026-01-01 16:00 … 2026-01-02 15:00 UTC
    times = pd.date_range("2026-01-01 16:00", periods=48, freq="h", tz="UTC")
    v = np.arange(48, dtype=float)[:, None]
    v2 = v.copy()
    v2[24:29] = np.nan  # second day only 19 valid hours
    p = make_panel(_long(times, ["a"], {"pm25": v}), ["pm25"], ["a"])
    p2 = make_panel(_long(times, ["a"], {"pm25": v2}), ["pm25"], ["a"])
    d = daily_mean(p, "pm25")
    assert d.loc["2026-01-02", "a"] == pytest.approx(11.5)
    assert d.loc["2026-01-03", "a"] == pytest.approx(35.5)
    assert np.isnan(daily_mean(p2, "pm25").loc["2026-01-03", "a"])


def test_mda8_windows_and_validity() -> None:
    times = pd.date_range("2026-07-01 16:00", periods=24, freq="h", tz="UTC")  # local 07-02
    v = np.full((24, 1), 50.0)
    v[10:18] = 200.0  # local 10:00–17:00: one 8-h window averages 200
    p = make_panel(_long(times, ["a"], {"o3": v}), ["o3"], ["a"])
    assert daily_mda8(p).loc["2026-07-02", "a"] == pytest.approx(200.0)
    v[0:3] = np.nan  # only the window starting 00 has < 6 hours: 16 of 17 valid
    p = make_panel(_long(times, ["a"], {"o3": v}), ["o3"], ["a"])
    assert daily_mda8(p).loc["2026-07-02", "a"] == pytest.approx(200.0)
    v[19:24] = np.nan  # windows 00, 14, 15, 16 invalid: 13 < 14 valid windows
    p = make_panel(_long(times, ["a"], {"o3": v}), ["o3"], ["a"])
    assert np.isnan(daily_mda8(p).loc["2026-07-02", "a"])
    v[:] = np.nan
    v[8:14] = 80.0  # only 6 hours → at most 3 valid windows
    p = make_panel(_long(times, ["a"], {"o3": v}), ["o3"], ["a"])
    assert np.isnan(daily_mda8(p).loc["2026-07-02", "a"])


def test_transport_weights_upwind_neighbour_only() -> None:
    geo = Geometry(points={"up": (30.0, 104.0), "me": (30.0, 104.5)},
                   neighbours={"me": ["up"], "up": ["me"]})
    vals = np.array([[100.0, 10.0]])  # columns: up, me
    # westerly wind (blowing towards the east): air moves from 'up' (west) to 'me'
    tr = transport_features(vals, np.array([[3.0, 3.0]]), np.array([[0.0, 0.0]]),
                            ["up", "me"], geo)
    assert tr[0, 1] == pytest.approx(100.0)
    assert np.isnan(tr[0, 0])  # for 'up', 'me' is downwind
    tr = transport_features(vals, np.array([[-3.0, -3.0]]), np.array([[0.0, 0.0]]),
                            ["up", "me"], geo)
    assert np.isnan(tr[0, 1]) and tr[0, 0] == pytest.approx(10.0)


def _world(days: int = 40, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2026-01-01", periods=days * 24, freq="h", tz="UTC")
    units = ["a", "b"]
    shape = (len(times), len(units))
    obs = _long(times, units, {p: rng.gamma(3, 20, shape) for p in
                               ["pm25", "pm10", "o3", "no2", "so2", "co"]})
    met = _long(times, units, {"t2m": 280 + rng.normal(0, 3, shape),
                               "d2m": 275 + rng.normal(0, 3, shape),
                               "u10": rng.normal(0, 2, shape), "v10": rng.normal(0, 2, shape),
                               "sp": 1e5 + rng.normal(0, 300, shape),
                               "tp": rng.exponential(0.1, shape)})
    return obs, met, units


def test_features_never_read_observations_at_or_after_issue() -> None:
    obs, met, units = _world()
    t0 = pd.Timestamp("2026-02-01 12:00", tz="Asia/Shanghai").tz_convert("UTC")
    poisoned = obs.copy()
    after = poisoned["time"] >= t0
    for p in ["pm25", "pm10", "o3", "no2", "so2", "co"]:
        poisoned.loc[after, p] = 1e6
    geo = Geometry(points={"a": (30.0, 104.0), "b": (30.0, 104.3)},
                   neighbours={"a": ["b"], "b": ["a"]})
    outs = []
    for table in (obs, poisoned):
        panel = make_panel(table, ["pm25", "pm10", "o3", "no2", "so2", "co"], units)
        f = build_issue_features(panel, [t0], PerfectMet(met), geometry=geo)
        outs.append((daily_design(f, "pm25", 2), hourly_design(f, "o3")))
    pd.testing.assert_frame_equal(outs[0][0], outs[1][0])
    pd.testing.assert_frame_equal(outs[0][1], outs[1][1])
    # and the last observation used is the hour t0 − 1 h
    panel = make_panel(obs, ["pm25", "o3"], units)
    f = build_issue_features(panel, [t0], NoMet())
    last = obs[(obs["time"] == t0 - pd.Timedelta(hours=1)) & (obs["unit_id"] == "a")]["pm25"]
    assert f.hist["pm25_last"][0, 0] == pytest.approx(float(last.iloc[0]))


def test_met_features_come_from_the_valid_day() -> None:
    obs, met, units = _world()
    t0 = pd.Timestamp("2026-02-01 12:00", tz="Asia/Shanghai")
    panel = make_panel(obs, ["pm25", "o3"], units)
    f = build_issue_features(panel, [t0], PerfectMet(met))
    d2 = daily_design(f, "pm25", 2)
    day = met[(met["time"] >= pd.Timestamp("2026-02-02 16:00", tz="UTC"))
              & (met["time"] < pd.Timestamp("2026-02-03 16:00", tz="UTC"))
              & (met["unit_id"] == "a")]
    assert d2.loc[0, "v_t2m"] == pytest.approx(day["t2m"].mean())
    assert d2.loc[0, "v_rain"] == pytest.approx(day["tp"].sum())
    assert set(d2["unit"].astype(str)) == {"a", "b"}
    # NoMet: no met columns at all
    f0 = build_issue_features(panel, [t0], NoMet())
    assert not [c for c in daily_design(f0, "pm25", 1).columns if c.startswith("v_")]


def test_observed_met_history_is_known_at_issue_and_never_read_after() -> None:
    obs, met, units = _world()
    table = obs.merge(met, on=["time", "unit_id"])
    t0 = pd.Timestamp("2026-02-01 12:00", tz="Asia/Shanghai").tz_convert("UTC")
    poisoned = table.copy()
    poisoned.loc[poisoned["time"] >= t0, ["t2m", "d2m", "u10", "v10", "sp", "tp"]] = 1e6
    variables = ["pm25", "o3", "t2m", "d2m", "u10", "v10", "sp", "tp"]
    feats = []
    for tbl in (table, poisoned):
        panel = make_panel(tbl, variables, units)
        feats.append(met_history_features(panel, np.array([panel.index(t0)])))
    assert feats[0].keys() == feats[1].keys()
    for k in feats[0]:
        np.testing.assert_array_equal(feats[0][k], feats[1][k])
    a = met[met["unit_id"] == "a"].set_index("time")
    h1, h25 = t0 - pd.Timedelta(hours=1), t0 - pd.Timedelta(hours=25)
    assert feats[0]["mo_sp_tr24"][0, 0] == pytest.approx(a.loc[h1, "sp"] - a.loc[h25, "sp"])
    last24 = a.loc[t0 - pd.Timedelta(hours=24):h1]
    assert len(last24) == 24
    assert feats[0]["mo_t2m_m24"][0, 0] == pytest.approx(last24["t2m"].mean())
    assert feats[0]["mo_tp_s24"][0, 0] == pytest.approx(last24["tp"].sum())
    # the history features carry them when the observation panel has station met …
    f = build_issue_features(make_panel(table, variables, units), [t0], NoMet())
    assert "mo_d2m_last" in daily_design(f, "pm25", 1).columns
    # … and a panel without met gets none (the national network has no station met)
    f = build_issue_features(make_panel(obs, ["pm25", "o3"], units), [t0], NoMet())
    assert not [c for c in daily_design(f, "pm25", 1).columns if c.startswith("mo_")]


def test_daily_lags_are_the_days_before_the_issue() -> None:
    obs, _, units = _world()
    panel = make_panel(obs, ["pm25", "o3"], units)
    t0 = pd.Timestamp("2026-02-01 12:00", tz="Asia/Shanghai")
    f = build_issue_features(panel, [t0], NoMet())
    d = daily_mean(panel, "pm25")
    assert f.hist["pm25_dm1"][0, 1] == pytest.approx(d.loc["2026-01-31", "b"])
    assert f.hist["pm25_dm3"][0, 1] == pytest.approx(d.loc["2026-01-29", "b"])
    assert f.hist["pm25_dm7"][0, 1] == pytest.approx(d.loc["2026-01-25":"2026-01-31", "b"].mean())
    assert f.hist["pm25_dmax7"][0, 1] == pytest.approx(d.loc["2026-01-25":"2026-01-31", "b"].max())


def test_episode_met_of_a_constructed_cold_front() -> None:
    """Dewpoint depression, RH max, diurnal range, southerly/northerly hours, the strongest
    northerly, the day's pressure change and the hours since the last northerly clean-out, on
    three local days built by hand (day 0: calm southerly haze; day 1: a front at 15:00 local)."""
    from airwarn.features.build import _episode_met

    t2m = np.tile(275.0 + 8 * np.sin(np.arange(24) / 24 * np.pi), (3, 1))[:, :, None]  # K
    d2m = t2m - 2.0
    d2m[1, 15:] = t2m[1, 15:] - 12.0  # dry air behind the front
    v10 = np.full((3, 24, 1), 1.5)    # southerly 1.5 m/s
    v10[1, 15:] = -6.0
    v10[1, 20] = -8.0
    v10[2] = -1.0                      # day 2: weak northerly, no clean-out hour
    v10[0, 3] = -4.0                   # a short northerly gust on day 0 at 03:00
    sp = np.tile(np.linspace(100000.0, 100230.0, 24), (3, 1))[:, :, None]
    rh = np.full((3, 24, 1), 60.0)
    rh[0, 5] = 97.0
    out = _episode_met({"t2m": t2m, "d2m": d2m, "v10": v10, "sp": sp, "rh": rh})
    assert out["dpd"][:, 0] == pytest.approx([2.0, 2.0 + 10.0 * 9 / 24, 2.0])
    assert out["dpd_min"][:, 0] == pytest.approx([2.0, 2.0, 2.0])
    assert out["rh_max"][:, 0] == pytest.approx([97.0, 60.0, 60.0])
    assert out["dtr"][:, 0] == pytest.approx(8 * np.sin(12 / 24 * np.pi) - 0.0)
    assert out["south_h"][:, 0].tolist() == [23.0, 15.0, 0.0]
    assert out["north_h"][:, 0].tolist() == [1.0, 9.0, 0.0]
    assert out["north_max"][:, 0] == pytest.approx([4.0, 8.0, 1.0])
    assert out["sp_tend"][:, 0] == pytest.approx([230.0, 230.0, 230.0])
    # last hour with v10 < −3: day 0 03:00, day 1 23:00; day 2 ends 24 h after it
    assert out["since_north_h"][:, 0].tolist() == [20.0, 0.0, 24.0]
    # a day with fewer than 12 valid hours gives NaN
    v10[2, :13] = np.nan
    assert np.isnan(_episode_met({"v10": v10})["south_h"][2, 0])


def test_episode_met_only_in_the_designs_that_ask_for_it(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from airwarn.features import build

    obs, met, units = _world()
    t0 = pd.Timestamp("2026-02-01 12:00", tz="Asia/Shanghai")
    panel = make_panel(obs, ["pm25", "o3"], units)
    f = build_issue_features(panel, [t0], PerfectMet(met))
    assert {"dpd", "south_h", "since_north_h"} <= set(f.metday)
    # off by default (no gain on the Beijing fold): the design is the one before them
    assert not [c for c in daily_design(f, "pm25", 1).columns if c[2:] in build.EPISODE_MET_KEYS]
    monkeypatch.setattr(build, "EPISODE_MET_POLLUTANTS", ("pm25",))
    pm = daily_design(f, "pm25", 1)
    assert {"v_dpd", "p_south_h", "v_since_north_h", "v_sp_tend"} <= set(pm.columns)
    day = met[(met["time"] >= pd.Timestamp("2026-02-01 16:00", tz="UTC"))
              & (met["time"] < pd.Timestamp("2026-02-02 16:00", tz="UTC"))
              & (met["unit_id"] == "b")]
    assert pm.loc[1, "v_dpd"] == pytest.approx((day["t2m"] - day["d2m"]).mean())
    assert pm.loc[1, "v_south_h"] == float((day["v10"] > 1.0).sum())
    assert not [c for c in daily_design(f, "o3", 1).columns if c.endswith(("_dpd", "_south_h"))]
