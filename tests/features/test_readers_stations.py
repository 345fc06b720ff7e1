"""Tests for the station-observation readers on small files in the published layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.domain_schema import Domain
from airwarn.features.qc import QC_DUPLICATE, var_bits
from airwarn.features.readers.common import (
    MOLAR_VOLUME_L,
    ReaderError,
    ReadReport,
    to_canonical_units,
)
from airwarn.features.readers.stations import (
    read_china_sites,
    read_domain_table,
    read_long_table,
    read_openaq,
    read_stateair,
)
from airwarn.features.store import OBS_COLUMNS, validate_obs

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


def _row(df: pd.DataFrame, time: str, sid: str) -> pd.Series:
    m = (df["time"] == pd.Timestamp(time)) & (df["station_id"] == sid)
    assert m.sum() == 1, (time, sid)
    return df[m].iloc[0]


def test_china_sites_values_times_and_ignored_types():
    rep = ReadReport()
    df = read_china_sites(DATA / "china_sites_20260115.csv", report=rep)
    validate_obs(df)  # canonical
    assert list(df.columns) == list(OBS_COLUMNS) and len(df) == 9
    # local 2026-01-15 00:00 (UTC+8) is 2026-01-14 16:00 UTC; no hour shifting
    assert df["time"].min() == pd.Timestamp("2026-01-14T16:00Z")
    r = _row(df, "2026-01-14T17:00Z", "1431A")  # hour 1, station index 0
    assert (r.pm25, r.pm10, r.so2, r.no2, r.o3, r.co) == (57.0, 82.0, 10.0, 42.0, 32.0, 1.0)
    assert np.isnan(_row(df, "2026-01-14T17:00Z", "1432A").pm25)  # empty cell → NaN
    assert np.isnan(_row(df, "2026-01-14T18:00Z", "1418A").o3)
    assert rep.encoding == "utf-8" and rep.records == 6 * 3 * 3
    assert rep.ignored == {t: 9 for t in ["AQI", "PM2.5_24h", "PM10_24h", "SO2_24h", "NO2_24h",
                                          "O3_24h", "O3_8h", "O3_8h_24h", "CO_24h"]}
    assert (df["qc"] == 0).all()


def test_china_sites_duplicate_hour_keeps_last_valid_and_records():
    rep = ReadReport()
    df = read_china_sites(DATA / "china_sites_20260115_duplicate_hour.csv", report=rep)
    assert len(df) == 9
    r = _row(df, "2026-01-14T17:00Z", "1431A")
    assert r.pm25 == 75.0 and r.qc == var_bits("pm25", QC_DUPLICATE)
    assert _row(df, "2026-01-14T17:00Z", "1432A").qc == 0
    assert rep.duplicates_conflicting == 1
    assert rep.duplicates_identical == 6 * 3 - 1  # the rest of the repeated hour block
    rej = rep.rejected_frame()
    assert len(rej) == 1 and rej.loc[0, "line"] == 18 and rej.loc[0, "value"] == 57.0
    assert "superseded by line 48" in rej.loc[0, "reason"]


@pytest.mark.parametrize("name, message", [
    ("china_sites_truncated.csv", r"line 46: truncated file: 5 fields, expected 6"),
    ("china_sites_unknown_column.csv", r"line 1, column 4: unknown column '备注'"),
    ("china_sites_bad_hour.csv", r"line 35, column 'hour': '24'; expected an integer hour 0–23"),
    ("china_sites_bad_value.csv", r"line 24, column '1431A': cannot parse '4x2'"),
    ("empty.csv", r"empty.csv: empty file"),
])
def test_china_sites_bad_files_name_file_line_column(name, message):
    with pytest.raises(ReaderError, match=message) as exc:
        read_china_sites(DATA / name)
    assert name in str(exc.value)


def test_long_table_gbk_units_sentinels_duplicates():
    rep = ReadReport()
    df = read_long_table(DATA / "long_table_gbk.csv", time_col="监测时间", station_col="站点编码",
                         pollutant_col="污染物", value_col="浓度", unit_col="单位", report=rep)
    assert rep.encoding == "gbk"
    a = _row(df, "2026-01-15T00:00Z", "1431A")
    assert (a.pm25, a.pm10, a.co) == (88.0, 120.0, 1.2)
    assert a.o3 == pytest.approx(21 * 47.997 / 24.465, rel=1e-4)  # ppb → µg/m³ at 298.15 K
    b = _row(df, "2026-01-15T01:00Z", "1431A")
    assert np.isnan(b.pm25)          # -999 → NaN, never -999
    assert b.co == pytest.approx(1.5)  # 1500 µg/m³ → 1.5 mg/m³
    c = _row(df, "2026-01-15T01:00Z", "1436A")
    assert c.pm25 == 82.0 and c.qc == var_bits("no2", QC_DUPLICATE) and c.no2 == 55.0
    assert rep.ignored == {"AQI": 1}
    assert (rep.duplicates_identical, rep.duplicates_conflicting) == (2, 1)
    assert rep.rejected_frame()["line"].tolist() == [13]


def test_long_table_parquet_and_unknown_unit(tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame({"time": ["2026-01-15T08:00+08:00"], "station_id": ["1431A"],
                  "pollutant": ["SO2"], "value": [10.0], "unit": ["ppb"]}).to_parquet(p)
    df = read_long_table(p, unit_col="unit")
    assert df.loc[0, "time"] == pd.Timestamp("2026-01-15T00:00Z")
    assert df.loc[0, "so2"] == pytest.approx(10 * 64.064 / MOLAR_VOLUME_L)
    bad = tmp_path / "u.csv"
    bad.write_text("time,station_id,pollutant,value,unit\n2026-01-15 08:00,1431A,NO2,3,furlongs\n")
    with pytest.raises(ReaderError, match=r"u.csv, line 2, column 'unit': unknown unit 'furlongs'"):
        read_long_table(bad, unit_col="unit")
    half = tmp_path / "h.csv"
    half.write_text("time,station_id,pollutant,value\n2026-01-15 08:30,1431A,NO2,3\n")
    with pytest.raises(ReaderError, match=r"line 2, column 'time'.*not on the hour"):
        read_long_table(half)


def test_stateair_latin1_missing_invalid():
    rep = ReadReport()
    df = read_stateair(DATA / "Chengdu_PM2.5_2015_stateair.csv", report=rep)
    assert rep.encoding == "latin-1"
    assert set(df["station_id"]) == {"chengdu_us_post"}
    assert df["time"].iloc[0] == pd.Timestamp("2014-12-31T16:00Z")
    assert df["pm25"].tolist()[0] == 153.0 and df["pm25"].tolist()[5] == 171.0
    assert df["pm25"].isna().tolist() == [False, True, False, True, True, False]
    rej = rep.rejected_frame()
    assert rej["line"].tolist() == [8] and rej.loc[0, "value"] == 985.0


def test_stateair_unknown_column(tmp_path):
    text = (DATA / "Chengdu_PM2.5_2015_stateair.csv").read_bytes().replace(b"QC Name", b"QC Nom")
    p = tmp_path / "sa.csv"
    p.write_bytes(text)
    with pytest.raises(ReaderError, match=r"sa.csv, line 4: unknown column 'QC Nom'"):
        read_stateair(p)


def test_openaq_mixing_ratios_converted():
    rep = ReadReport()
    df = read_openaq(DATA / "openaq_v3_chengdu.csv", report=rep)
    r = _row(df, "2024-01-15T00:00Z", "openaq_7537")
    assert r.pm25 == 96.0
    assert r.o3 == pytest.approx(20 * 47.997 / 24.4654, rel=1e-4)
    assert r.no2 == pytest.approx(30 * 46.006 / 24.4654, rel=1e-4)
    assert r.co == pytest.approx(1.0 * 28.010 / 24.4654, rel=1e-4)  # ppm → mg/m³
    assert np.isnan(_row(df, "2024-01-15T01:00Z", "openaq_7537").pm25)
    assert rep.ignored == {"temperature": 1}


def test_unit_conversion_reference_state():
    assert MOLAR_VOLUME_L == pytest.approx(24.4654, abs=1e-4)
    assert to_canonical_units(np.array([1000.0]), "co", "µg/m³")[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pm25 cannot be given as a mixing ratio"):
        to_canonical_units(np.array([1.0]), "pm25", "ppb")


PRSA_DOMAIN = Domain.model_validate({
    "name": "beijing_multisite", "files": "PRSA_Data_*.csv", "timezone": "Etc/GMT-8",
    "time": {"year": "year", "month": "month", "day": "day", "hour": "hour"},
    "station": {"column": "station"},
    "columns": {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO",
                "o3": "O3"},
    "units": {"co": "ug/m3"}, "missing_values": ["NA"], "met": {"style": "prsa"},
})


def test_domain_table_prsa_layout():
    rep = ReadReport()
    df = read_domain_table(DATA / "PRSA_Data_Dongsi_20130301-20130302.csv", PRSA_DOMAIN,
                           report=rep)
    assert len(df) == 48 and set(df["station_id"]) == {"Dongsi"}
    r = _row(df, "2013-03-01T11:00Z", "Dongsi")  # local 19h: 13,17,12,42,600,63
    assert (r.pm25, r.pm10, r.so2, r.no2, r.co, r.o3) == (13.0, 17.0, 12.0, 42.0, 0.6, 63.0)
    assert df["time"].iloc[0] == pd.Timestamp("2013-02-28T16:00Z")
    assert df[["pm25", "pm10", "so2", "no2", "co", "o3"]].isna().sum().sum() == 4  # the NA cells


def test_domain_table_wide_five_cities_layout():
    dom = Domain.model_validate({
        "name": "chengdu_five_cities", "files": "ChengduPM*.csv", "timezone": "Etc/GMT-8",
        "time": {"year": "year", "month": "month", "day": "day", "hour": "hour"},
        "stations": [{"id": "chengdu_caotangsi", "columns": {"pm25": "PM_Caotangsi"}},
                     {"id": "chengdu_shahepu", "columns": {"pm25": "PM_Shahepu"}},
                     {"id": "chengdu_us_post", "columns": {"pm25": "PM_US Post"}}]})
    df = read_domain_table(DATA / "ChengduPM20130101_20130101.csv", dom)
    assert len(df) == 72
    r = _row(df, "2012-12-31T16:00Z", "chengdu_shahepu")
    assert r.pm25 == 138.0 and np.isnan(r.o3)


def test_domain_schema_refuses_bad_configs():
    with pytest.raises(ValueError, match="unknown variable"):
        Domain.model_validate({**PRSA_DOMAIN.model_dump(), "columns": {"pm2.5": "PM2.5"}})
    with pytest.raises(ValueError, match="time needs a column"):
        Domain.model_validate({**PRSA_DOMAIN.model_dump(), "time": {"year": "year"}})
    with pytest.raises(ValueError, match="missing column"):
        dom = Domain.model_validate({**PRSA_DOMAIN.model_dump(),
                                     "columns": {"pm25": "PM25_missing"}})
        read_domain_table(DATA / "PRSA_Data_Dongsi_20130301-20130302.csv", dom)


def test_committed_backtest_domains_validate_and_read():
    """configs/domains/*.yaml (dedicated UCI readers) validate under the domain schema."""
    from airwarn.configs.domain_schema import load_domain

    from airwarn import configs

    files = sorted((configs.CONFIG_DIR / "domains").glob("*.yaml"))
    assert files, "no domain files"
    domains = {p.stem: load_domain(p) for p in files}
    five = domains["chengdu_five_cities"]
    assert five.reader == "five_cities" and five.files and five.neighbour_radius_km > 0
    df = read_domain_table(DATA / "ChengduPM20130101_20130101.csv", five)
    assert set(df["station_id"]) == {"chengdu_caotangsi", "chengdu_shahepu", "chengdu_us_post"}
    assert _row(df, "2012-12-31T16:00Z", "chengdu_us_post").pm25 == 129.0
    with pytest.raises(ValueError, match="unknown reader 'nope'"):
        Domain.model_validate({**five.model_dump(), "reader": "nope"})
