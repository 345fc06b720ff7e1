"""Scalar and table AQI engine: spec T1.12 vectors, composite cases, branches, levels, gating."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from airwarn.alerts.aqi import (
    aqi_level,
    compute,
    compute_by_date,
    exceeding_pollutants,
    iaqi,
    iaqi_array,
    level_info,
    primary_pollutants,
    ruleset_for,
    rulesets_for,
    sensitive_groups,
)

R12, R26 = "HJ633_2012", "HJ633_2026"

# Spec T1.12: (pollutant, period, C, IAQI 2012, IAQI 2026); None = not computed.
T1_12 = [
    ("pm25", "24h", 35, 50, 50),
    ("pm25", "24h", 60, 82, 100),
    ("pm25", "24h", 75, 100, 114),
    ("pm25", "24h", 115, 150, 150),
    ("pm25", "24h", 150, 200, 200),
    ("pm25", "24h", 151, 201, 201),
    ("pm25", "24h", 520, 500, 500),
    ("pm10", "24h", 120, 85, 100),
    ("pm10", "24h", 150, 100, 112),
    ("pm10", "24h", 200, 125, 131),
    ("o3", "8h", 160, 100, 100),
    ("o3", "8h", 161, 101, 101),
    ("o3", "8h", 180, 119, 119),
    ("o3", "8h", 265, 200, 200),
    ("o3", "8h", 900, None, 300),
    ("o3", "1h", 900, 350, 350),
    ("so2", "1h", 900, None, 200),
    ("so2", "24h", 900, 213, 213),
    ("no2", "24h", 81, 101, 101),
    ("co", "24h", 4.0, 100, 100),
    ("co", "24h", 4.1, 101, 101),
    ("no2", "1h", 250, 105, 105),
]


@pytest.mark.parametrize(("pollutant", "period", "c", "i12", "i26"), T1_12)
def test_spec_t1_12_vectors(pollutant: str, period: str, c: float, i12: int | None,
                            i26: int | None) -> None:
    assert iaqi(pollutant, c, period, R12) == i12
    assert iaqi(pollutant, c, period, R26) == i26


@pytest.mark.parametrize(("pollutant", "period", "c", "i12", "i26"), T1_12)
def test_spec_t1_12_vectors_vectorised(pollutant: str, period: str, c: float,
                                       i12: int | None, i26: int | None) -> None:
    for rs, want in ((R12, i12), (R26, i26)):
        got = iaqi_array(pollutant, np.array([c, np.nan]), period, rs)
        assert np.isnan(got[1])
        assert (np.isnan(got[0]) and want is None) or got[0] == want


def test_example_from_brief() -> None:
    assert iaqi("pm25", 75, "24h", "HJ633_2026") == 114


def test_exact_at_breakpoints_no_float_noise() -> None:
    # 50/35·35 in floats is 50.00000000000001 → a naive ceil gives 51.
    for v in (35, 35.0, Decimal("35"), Fraction(35), np.float64(35.0), np.int64(35)):
        assert iaqi("pm25", v, "24h", R12) == 50
    assert iaqi_array("pm25", [35.0, 75.0, 115.0], "24h", R12).tolist() == [50, 100, 150]
    assert iaqi("co", 0.3, "1h", R12) == 3  # float 0.3 read as decimal 0.3 → 50/5·0.3 = 3 exactly
    # 0.1*3 is 0.30000000000000004 (its shortest repr): genuinely above 0.3 → 4.
    assert iaqi("co", 0.1 * 3, "1h", R12) == 4


def test_pm_1h_uses_daily_columns() -> None:
    for rs in (R12, R26):
        assert iaqi("pm25", 75, "1h", rs) == iaqi("pm25", 75, "24h", rs)
        assert iaqi("pm10", 200, "1h", rs) == iaqi("pm10", 200, "24h", rs)


def test_boundaries_of_short_columns() -> None:
    assert iaqi("so2", 800, "1h", R12) == 200
    assert iaqi("so2", 800, "1h", R26) == 200
    assert iaqi("so2", 801, "1h", R12) is None
    assert iaqi("o3", 800, "8h", R12) == 300
    assert iaqi("o3", 801, "8h", R26) == 300


def test_above_top_breakpoint_caps_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capped at 500 and said once per column and run (a hindcast would say it on every heavy
    day): later caps of that column at DEBUG, until the next run resets."""
    from airwarn.alerts.aqi import reset_cap_log

    reset_cap_log()
    with caplog.at_level(logging.DEBUG, logger="airwarn.alerts.aqi"):
        assert iaqi("no2", 5000, "1h", R26) == 500
        assert iaqi("no2", 6000, "1h", R26) == 500
        assert iaqi_array("no2", [7000.0, 8000.0], "1h", R26).tolist() == [500, 500]
        reset_cap_log()
        assert iaqi("no2", 9000, "1h", R26) == 500
    caps = [r for r in caplog.records if "capped at 500" in r.getMessage()]
    assert [r.levelno for r in caps] == [logging.WARNING, logging.DEBUG, logging.DEBUG,
                                         logging.WARNING]
    assert "no2_1h = 5000.0 above the top breakpoint 3840.0" in caps[0].getMessage()
    assert "2 no2_1h value(s) above" in caps[2].getMessage()


def test_missing_and_negative() -> None:
    assert iaqi("pm25", None, "24h", R26) is None
    assert iaqi("pm25", float("nan"), "24h", R26) is None
    assert iaqi("pm25", -1, "24h", R26) is None
    assert np.isnan(iaqi_array("pm25", [-1.0], "24h", R26)[0])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="pollutant"):
        iaqi("pm1", 10, "24h", R26)
    with pytest.raises(ValueError, match="period"):
        iaqi("pm25", 10, "3h", R26)
    with pytest.raises(ValueError, match="no IAQI"):
        iaqi("o3", 10, "24h", R26)
    with pytest.raises(ValueError, match="rule set"):
        iaqi("pm25", 10, "24h", "HJ633_2099")


def test_2026_preround_half_even() -> None:
    # 60.5 → 60 (half to even) → 100; 61.5 → 62 → 102; 2012 does not pre-round: 60.5 → 81.875 → 82.
    assert iaqi("pm25", 60.5, "24h", R26) == 100
    assert iaqi("pm25", 61.5, "24h", R26) == 102
    assert iaqi("pm25", 60.5, "24h", R12) == 82
    assert iaqi("pm25", 60, "24h", R12) == 82 and iaqi("pm25", 61, "24h", R12) == 83
    # CO to 1 decimal: 4.05 → 4.0 (even) → 100; 4.15 → 4.2 → 101.
    assert iaqi("co", 4.05, "24h", R26) == 100
    assert iaqi("co", 4.15, "24h", R26) == 101
    assert iaqi_array("co", [4.05, 4.15], "24h", R26).tolist() == [100, 101]


def test_ruleset_for() -> None:
    assert ruleset_for("2026-02-28") == R12
    assert ruleset_for(dt.date(2026, 3, 1)) == R26
    assert ruleset_for(pd.Timestamp("2026-02-28 15:59", tz="UTC")) == R12
    assert ruleset_for(pd.Timestamp("2026-02-28 16:00", tz="UTC")) == R26  # local midnight
    assert rulesets_for(["2014-01-01", "2026-02-28", "2026-03-01"]).tolist() == [R12, R12, R26]


@pytest.mark.parametrize(("aqi", "level"), [(0, 1), (1, 1), (50, 1), (51, 2), (100, 2), (101, 3),
                                            (150, 3), (151, 4), (200, 4), (201, 5), (300, 5),
                                            (301, 6), (500, 6)])
def test_aqi_level(aqi: int, level: int) -> None:
    assert aqi_level(aqi) == level
    assert aqi_level(aqi, R12) == level


def test_aqi_level_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        aqi_level(501)


def test_level_info() -> None:
    lv = level_info(5, R26)
    assert (lv.category_zh, lv.hex, lv.rgb, lv.grade_zh) == ("重度污染", "#99004C", (153, 0, 76), "五级")
    assert level_info(1, R12).aqi_min == 0 and level_info(1, R26).aqi_min == 1
    assert level_info(6, R12).category_en == "Severely polluted"
    assert "青少年儿童" in level_info(3, R26).advice_zh


def test_primary_and_exceeding_functions() -> None:
    assert primary_pollutants({"PM2.5": 100, "PM10": 100, "O3_8h": 40}) == ["PM2.5", "PM10"]
    assert primary_pollutants({"PM2.5": 50, "PM10": 50}) == []
    assert primary_pollutants({"PM2.5": None, "O3_8h": 119}) == ["O3_8h"]
    assert exceeding_pollutants({"PM2.5": 100, "O3_8h": 119}) == ["O3_8h"]
    with pytest.raises(ValueError):
        exceeding_pollutants({"PM2.5": 150}, R26)
    assert "哮喘" in sensitive_groups({"so2": 101, "pm25": 90})["so2"]
    assert sensitive_groups({"so2": 101}, R12) == {}


def _daily(**cols: list[float]) -> pd.DataFrame:
    base = {"pm25": 10.0, "pm10": 20.0, "so2": 5.0, "no2": 10.0, "co": 0.4,
            "o3_8h_max": 50.0, "o3_1h_max": 60.0}
    n = len(next(iter(cols.values())))
    return pd.DataFrame({k: cols.get(k, [v] * n) for k, v in base.items()})


def test_composite_a() -> None:
    df = _daily(pm25=[75.0], o3_8h_max=[180.0])
    r12 = compute(R12, "daily", df).iloc[0]
    assert (r12.aqi, r12.primary, r12.exceeding, r12.iaqi_pm25) == (119, "O3_8h", "O3_8h", 100)
    r26 = compute(R26, "daily", df).iloc[0]
    assert (r26.aqi, r26.primary, r26.iaqi_pm25, r26.level, r26.category) == (
        119, "O3_8h", 114, 3, "轻度污染")
    assert "exceeding" not in compute(R26, "daily", df).columns


def test_composite_b() -> None:
    df = _daily(pm25=[35.0], pm10=[50.0])
    for rs in (R12, R26):
        r = compute(rs, "daily", df).iloc[0]
        assert r.aqi == 50 and pd.isna(r.primary) and r.level == 1


def test_composite_c_tie() -> None:
    r = compute(R26, "daily", _daily(pm25=[60.0], pm10=[120.0])).iloc[0]
    assert (r.aqi, r.primary) == (100, "PM2.5,PM10")
    r = compute(R12, "daily", _daily(pm25=[60.0], pm10=[120.0])).iloc[0]
    assert (r.aqi, r.primary) == (85, "PM10")


def test_daily_2012_o3_1h_max_competes_and_8h_fallback() -> None:
    df = _daily(o3_8h_max=[900.0], o3_1h_max=[900.0])
    r12 = compute(R12, "daily", df).iloc[0]
    assert pd.isna(r12.iaqi_o3) and r12.iaqi_o3_1h == 350 and r12.primary == "O3_1h"
    r26 = compute(R26, "daily", df).iloc[0]
    assert r26.iaqi_o3 == 300 and "iaqi_o3_1h" not in r26.index and r26.primary == "O3_8h"


def test_hourly_2012_so2_fallback_to_24h() -> None:
    df = pd.DataFrame({"pm25": [10.0], "pm10": [20.0], "so2": [900.0], "no2": [10.0],
                       "co": [0.4], "o3": [50.0], "so2_24h": [900.0]})
    r = compute(R12, "hourly", df).iloc[0]
    assert (r.iaqi_so2, r.aqi, r.primary) == (213, 213, "SO2")
    r = compute(R26, "hourly", df).iloc[0]
    assert (r.iaqi_so2, r.primary) == (200, "SO2")


def test_completeness_gate_2026() -> None:
    df = _daily(pm25=[75.0, 40.0, 40.0], pm10=[np.nan, np.nan, 30.0])
    r = compute(R26, "daily", df)
    assert r.published.tolist() == [True, False, True]
    assert r.aqi.iloc[0] == 114 and pd.isna(r.aqi.iloc[1]) and pd.isna(r.level.iloc[1])
    assert pd.isna(r.category.iloc[1]) and r.iaqi_pm25.iloc[1] == 60  # IAQIs stay published
    r12 = compute(R12, "daily", df)
    assert r12.published.all() and r12.aqi.iloc[1] == 57  # 50 + 50/40·5 = 56.25 → 57
    assert compute(R26, "daily", df, publication_gate=False).aqi.iloc[1] == 60
    # A negative (invalid) concentration counts as missing for the gate.
    neg = compute(R26, "daily", _daily(pm25=[40.0], pm10=[-5.0]))
    assert not neg.published.iloc[0] and pd.isna(neg.iaqi_pm10.iloc[0])


def test_all_zero_clamped_to_one_under_2026() -> None:
    df = pd.DataFrame({c: [0.0] for c in ("pm25", "pm10", "so2", "no2", "co", "o3")})
    assert compute(R26, "hourly", df).aqi.iloc[0] == 1
    assert compute(R12, "hourly", df).aqi.iloc[0] == 0


def test_forecast_products_use_available_columns() -> None:
    df = pd.DataFrame({"pm25": [80.0, 20.0], "o3_8h_max": [100.0, 170.0]})
    r = compute(R26, "forecast_daily", df)
    # PM2.5 80: 100 + 50/55·20 = 118.2 → 119; O3_8h 170: 100 + 50/55·10 = 109.1 → 110.
    assert r.aqi.tolist() == [119, 110] and r.primary.tolist() == ["PM2.5", "O3_8h"]
    assert r.published.all()
    with pytest.raises(ValueError, match="needs column"):
        compute(R26, "daily", df)


def test_compute_by_date_splits_rulesets() -> None:
    df = _daily(pm25=[75.0, 75.0])
    r = compute_by_date("daily", df, ["2026-02-28", "2026-03-01"])
    assert r.aqi.tolist() == [100, 114]
    assert r.ruleset.tolist() == [R12, R26]
    assert pd.isna(r.iaqi_o3_1h.iloc[1])


def test_hourly_2012_optional_moving_means() -> None:
    df = pd.DataFrame({"pm25": [40.0], "pm10": [20.0], "so2": [5.0], "no2": [10.0], "co": [0.4],
                       "o3": [50.0], "pm25_24h": [115.0], "o3_8h": [161.0]})
    r = compute(R12, "hourly", df).iloc[0]
    assert (r.iaqi_pm25, r.iaqi_pm25_24h, r.iaqi_o3_8h) == (57, 150, 101)
    assert (r.aqi, r.primary) == (150, "PM2.5_24h")
    r26 = compute(R26, "hourly", df).iloc[0]
    assert "iaqi_pm25_24h" not in r26.index and r26.aqi == 60
