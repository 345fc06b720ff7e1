"""Tests for features.aggregate.stations_to_units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.features.aggregate import UNIT_COLUMNS, stations_to_units
from airwarn.features.qc import QC_DUPLICATE, QC_SPIKE, var_bits

STATIONS = pd.DataFrame({"station_id": ["a", "b", "c", "d"],
                         "sub_region": ["chengdu", "chengdu", "chengdu", "deyang"],
                         "lon": [104.0] * 4, "lat": [30.6] * 4})


def _obs() -> pd.DataFrame:
    t = pd.Timestamp("2026-01-15T00:00Z")
    rows = [  # time, station, pm25, o3, qc
        (t, "a", 50.0, 20.0, 0),
        (t, "b", 70.0, 30.0, 0),
        (t, "c", 900.0, 40.0, var_bits("pm25", QC_SPIKE)),  # pm25 left out, o3 used
        (t, "d", 10.0, np.nan, 0),
        (t, "x", 999.0, 999.0, 0),  # not in the station table
        (t + pd.Timedelta("1h"), "a", 60.0, np.nan, var_bits("pm25", QC_DUPLICATE)),
        (t + pd.Timedelta("1h"), "b", np.nan, 35.0, 0),
    ]
    df = pd.DataFrame(rows, columns=["time", "station_id", "pm25", "o3", "qc"])
    for v in ("pm10", "no2", "so2", "co"):
        df[v] = np.nan
    return df


def test_mean_of_valid_stations_and_counts():
    u = stations_to_units(_obs(), STATIONS)
    assert list(u.columns) == UNIT_COLUMNS
    first = u[u["time"] == pd.Timestamp("2026-01-15T00:00Z")].set_index("unit_id")
    assert first.loc["chengdu", "pm25"] == 60.0        # (50 + 70) / 2, spike excluded
    assert first.loc["chengdu", "o3"] == 30.0          # (20 + 30 + 40) / 3
    assert first.loc["chengdu", "n_stations"] == 3
    assert first.loc["deyang", "pm25"] == 10.0 and np.isnan(first.loc["deyang", "o3"])
    assert set(u["unit_id"]) == {"chengdu", "deyang"}  # station x ignored
    second = u[u["time"] == pd.Timestamp("2026-01-15T01:00Z")].set_index("unit_id")
    assert second.loc["chengdu", "pm25"] == 60.0       # duplicate-resolved value is valid
    assert second.loc["chengdu", "o3"] == 35.0


def test_min_station_rule():
    u = stations_to_units(_obs(), STATIONS, min_stations=3)
    first = u[u["time"] == pd.Timestamp("2026-01-15T00:00Z")].set_index("unit_id")
    assert np.isnan(first.loc["chengdu", "pm25"])      # only 2 valid PM2.5 stations
    assert first.loc["chengdu", "o3"] == 30.0          # 3 valid O3 stations
    assert np.isnan(first.loc["deyang", "pm25"])
    with pytest.raises(ValueError, match="min_stations"):
        stations_to_units(_obs(), STATIONS, min_stations=0)


def test_no_known_station_gives_empty_table():
    u = stations_to_units(_obs(), STATIONS.assign(station_id=["p", "q", "r", "s"]))
    assert u.empty and list(u.columns) == UNIT_COLUMNS


def test_station_met_to_units_averages_each_variable_over_the_stations_that_have_it() -> None:
    from airwarn.features.aggregate import station_met_to_units

    t = pd.to_datetime(["2015-01-01 00:00", "2015-01-01 00:00", "2015-01-01 00:00",
                        "2015-01-01 01:00", "2015-01-01 01:00"], utc=True)
    met = pd.DataFrame({"time": t, "unit_id": ["s1", "s2", "s3", "s1", "s2"],
                        "t2m": [270.0, 272.0, 300.0, 271.0, np.nan],      # K
                        "u10": [2.0, -2.0, 9.0, 1.0, 3.0]})              # m s-1
    out = station_met_to_units(met, {"s1": "city", "s2": "city"})        # s3: not a member
    assert list(out.columns) == ["time", "unit_id", "t2m", "u10"]
    assert out["t2m"].tolist() == [271.0, 271.0] and out["u10"].tolist() == [0.0, 2.0]
    two = station_met_to_units(met, {"s1": "city", "s2": "city"}, min_stations=2)
    assert np.isnan(two["t2m"].iloc[1]) and two["u10"].iloc[1] == 2.0
    with pytest.raises(ValueError, match="min_stations must be ≥ 1"):
        station_met_to_units(met, {"s1": "city"}, min_stations=0)
