"""Daily products: validity thresholds, 8-h windows, MDA8 window set, Asia/Shanghai days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.alerts.daily import daily_aqi, daily_products, moving_mean

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "chengdu_pm25_2014-01_sample.csv"


def _hours(local_day: str, values: dict[str, list[float]], sid: str = "S1",
           start_hour: int = 0) -> pd.DataFrame:
    """Hourly rows of one station from a local day and hour (values per pollutant)."""
    n = len(next(iter(values.values())))
    t = pd.date_range(pd.Timestamp(local_day, tz="Asia/Shanghai") + pd.Timedelta(hours=start_hour),
                      periods=n, freq="h").tz_convert("UTC")
    return pd.DataFrame({"time": t, "station_id": sid, **values})


def test_daily_mean_needs_20_hours() -> None:
    v19 = [50.0] * 19 + [np.nan] * 5
    v20 = [50.0] * 20 + [np.nan] * 4
    df = pd.concat([_hours("2024-01-01", {"pm25": v19}, "A"), _hours("2024-01-01", {"pm25": v20}, "B")])
    d = daily_products(df).set_index("station_id")
    assert np.isnan(d.loc["A", "pm25"]) and d.loc["A", "n_hours_pm25"] == 19
    assert d.loc["B", "pm25"] == 50.0 and d.loc["B", "n_hours_pm25"] == 20


def test_daily_mean_is_exact_for_integer_data() -> None:
    vals = [35.0] * 24  # sum 840 / 24 must be exactly 35 → IAQI 50, not 51
    d = daily_aqi(_hours("2024-01-01", {"pm25": vals, "pm10": vals, "so2": vals, "no2": vals,
                                       "co": [0.1] * 24, "o3": vals}))
    assert d.pm25.iloc[0] == 35.0 and d.iaqi_pm25.iloc[0] == 50


def test_8h_mean_needs_6_of_8() -> None:
    v = [100.0] * 5 + [np.nan] * 3 + [100.0] * 6 + [np.nan] * 2 + [np.nan] * 8
    df = _hours("2024-06-01", {"o3": v})
    m = moving_mean(df, "o3", 8, 6)
    assert np.isnan(m.iloc[7])  # hours 0..7: 5 valid
    assert np.isnan(m.iloc[12])  # hours 5..12: 5 valid (8..12)
    assert m.iloc[13] == 100.0  # hours 6..13: 6 valid (8..13)
    assert np.isnan(m.iloc[4])  # window reaches before the data: 5 valid
    # window stamped at the end: a single high hour shows up from t to t+7
    w = _hours("2024-06-01", {"o3": [0.0] * 10 + [80.0] + [0.0] * 13})
    mm = moving_mean(w, "o3", 8, 6).to_numpy()
    assert (mm[10:18] == 10.0).all() and mm[9] == 0.0 and mm[18] == 0.0


def test_mda8_window_set_is_00_to_16_starts() -> None:
    # Day D-1 has 800 µg/m³ in hours 17..23; windows stamped 00..06 of D contain those hours
    # but are not D's windows, so D's MDA8 stays 100.
    prev = [100.0] * 17 + [800.0] * 7
    day = [100.0] * 24
    df = _hours("2024-07-01", {"o3": prev + day})
    d = daily_products(df).set_index("date")
    assert d.loc["2024-07-02", "o3_8h_max"] == 100.0
    assert d.loc["2024-07-01", "o3_8h_max"] == (100.0 + 7 * 800.0) / 8  # window 16..23 counts
    assert (d["n_windows_o3_8h"] == 17).all()
    assert d.loc["2024-07-01", "o3_1h_max"] == 800.0


def test_mda8_needs_14_of_17_windows() -> None:
    base = [100.0] * 24
    v14 = [np.nan] * 3 + base[3:21] + [np.nan] * 3  # windows 07 and 23 invalid…
    v13 = [np.nan] * 4 + base[4:20] + [np.nan] * 4  # 07, 08, 22, 23 invalid
    df = pd.concat([_hours("2024-07-01", {"o3": v14}, "A"), _hours("2024-07-01", {"o3": v13}, "B")])
    d = daily_products(df).set_index("station_id")
    assert d.loc["A", "n_windows_o3_8h"] == 15 and d.loc["A", "o3_8h_max"] == 100.0
    assert d.loc["B", "n_windows_o3_8h"] == 13 and np.isnan(d.loc["B", "o3_8h_max"])
    v3 = [np.nan] * 3 + base[3:20] + [np.nan] * 4  # 07, 22, 23 invalid → 14 valid
    d3 = daily_products(_hours("2024-07-01", {"o3": v3}))
    assert d3.n_windows_o3_8h.iloc[0] == 14 and d3.o3_8h_max.iloc[0] == 100.0


def test_natural_day_in_asia_shanghai() -> None:
    t = pd.date_range("2024-01-01T15:00Z", "2024-01-02T16:00Z", freq="h")  # 26 hours
    vals = np.where(t < pd.Timestamp("2024-01-01T16:00Z"), 1000.0, 10.0)
    vals[-1] = 1000.0  # 2024-01-02T16:00Z is local midnight of Jan 3
    df = pd.DataFrame({"time": t, "station_id": "S", "pm25": vals})
    d = daily_products(df).set_index("date")
    assert list(d.index.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert d.loc["2024-01-02", "pm25"] == 10.0 and d.loc["2024-01-02", "n_hours_pm25"] == 24
    assert d.loc["2024-01-01", "n_hours_pm25"] == 1 and d.loc["2024-01-03", "n_hours_pm25"] == 1


def test_input_errors() -> None:
    df = _hours("2024-01-01", {"pm25": [1.0, 2.0]})
    with pytest.raises(ValueError, match="tz-aware"):
        daily_products(df.assign(time=df.time.dt.tz_localize(None)))
    with pytest.raises(ValueError, match="duplicate"):
        daily_products(pd.concat([df, df]))
    with pytest.raises(ValueError, match="on the hour"):
        daily_products(df.assign(time=df.time + pd.Timedelta(minutes=30)))


def test_daily_aqi_picks_ruleset_by_date() -> None:
    vals = {"pm25": [75.0] * 48, "pm10": [10.0] * 48, "so2": [5.0] * 48, "no2": [5.0] * 48,
            "co": [0.2] * 48, "o3": [20.0] * 48}
    d = daily_aqi(_hours("2026-02-28", vals))
    assert d.ruleset.tolist() == ["HJ633_2012", "HJ633_2026"]
    assert d.aqi.tolist() == [100, 114]


def test_real_sample_daily_values() -> None:
    df = pd.read_csv(SAMPLE)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    d = daily_aqi(df).set_index(["station_id", "date"])
    # Caotangsi 2014-01-05: 24 hours summing to 4856 → 202.33 µg/m³ → 200 + 52.33 → 253.
    r = d.loc[("Caotangsi", pd.Timestamp("2014-01-05"))]
    assert r.n_hours_pm25 == 24 and r.pm25 == pytest.approx(4856 / 24)
    assert (r.aqi, r.level, r.category, r.primary) == (253, 5, "重度污染", "PM2.5")
    # Caotangsi 2014-01-01 has exactly 20 hours (3516 → 175.8 → 225.8 → 226); Shahepu 18 → NA.
    assert d.loc[("Caotangsi", pd.Timestamp("2014-01-01")), "aqi"] == 226
    assert pd.isna(d.loc[("Shahepu", pd.Timestamp("2014-01-01")), "aqi"])
    assert len(d) == 3 * 14 and (d.ruleset == "HJ633_2012").all()


def test_thirty_units_two_years_is_fast() -> None:
    import time

    rng = np.random.default_rng(0)
    t = pd.date_range("2023-01-01", "2025-01-01", freq="h", tz="Asia/Shanghai",
                      inclusive="left").tz_convert("UTC")
    df = pd.DataFrame({"time": np.tile(t, 30), "unit_id": np.repeat([f"u{i}" for i in range(30)],
                                                                    len(t))})
    for c in ("pm25", "pm10", "o3", "no2", "so2"):
        df[c] = rng.integers(0, 300, len(df)).astype(float)
    df["co"] = rng.integers(0, 30, len(df)) / 10
    t0 = time.perf_counter()
    d = daily_aqi(df, id_col="unit_id")
    assert time.perf_counter() - t0 < 10
    assert len(d) == 30 * 731 and d.aqi.notna().all()
