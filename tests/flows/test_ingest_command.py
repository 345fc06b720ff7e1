"""Tests of ``airwarn ingest`` (flows/commands/ingest.py) through the real CLI on a tmp store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from airwarn.features.qc import QC_DUPLICATE, var_bits
from airwarn.features.store import obs_files, read_obs
from airwarn.flows.cli import app
from typer.testing import CliRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
runner = CliRunner()


def _ingest(tmp_path: Path, *files: str):
    return runner.invoke(app, ["ingest", *[str(DATA / f) for f in files],
                               "--data-dir", str(tmp_path)], catch_exceptions=False)


def _snapshot(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in obs_files(tmp_path)}


def test_ingest_twice_changes_nothing_then_correction_replaces(tmp_path):
    r1 = _ingest(tmp_path, "china_sites_20260115.csv", "long_table_gbk.csv")
    assert r1.exit_code == 0, r1.output
    assert "added" in r1.output and "QC report:" in r1.output
    stored = read_obs(tmp_path)
    assert len(stored) == 13
    snap = _snapshot(tmp_path)
    r2 = _ingest(tmp_path, "china_sites_20260115.csv", "long_table_gbk.csv")
    assert r2.exit_code == 0 and "store unchanged" in r2.output
    assert _snapshot(tmp_path) == snap
    r3 = _ingest(tmp_path, "china_sites_20260115_duplicate_hour.csv")
    assert r3.exit_code == 0
    assert "1 stored row(s) replaced" in r3.output
    after = read_obs(tmp_path)
    row = after[(after["station_id"] == "1431A")
                & (after["time"] == pd.Timestamp("2026-01-14T17:00Z"))].iloc[0]
    assert row.pm25 == 75.0 and row.qc & var_bits("pm25", QC_DUPLICATE)
    qc_reports = sorted(p for p in (tmp_path / "obs" / "qc").glob("*.csv")
                        if not p.name.endswith("_rejected.csv"))
    assert len(qc_reports) == 3
    rep = pd.read_csv(qc_reports[0])
    assert set(rep["station_id"]) >= {"1431A", "1432A", "1418A"}
    rejected = sorted((tmp_path / "obs" / "qc").glob("*_rejected.csv"))
    assert rejected and "superseded by line" in rejected[0].read_text(encoding="utf-8")


def test_failed_ingest_leaves_store_unchanged(tmp_path):
    assert _ingest(tmp_path, "china_sites_20260115.csv").exit_code == 0
    snap = _snapshot(tmp_path)
    reports = sorted((tmp_path / "obs" / "qc").iterdir())
    res = runner.invoke(app, ["ingest", str(DATA / "long_table_gbk.csv"),
                              str(DATA / "china_sites_truncated.csv"), "--data-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "china_sites_truncated.csv, line 46: truncated file" in res.output
    assert "store is unchanged" in res.output
    assert _snapshot(tmp_path) == snap
    assert sorted((tmp_path / "obs" / "qc").iterdir()) == reports


def test_ingest_with_domain_yaml(tmp_path):
    dom = tmp_path / "beijing.yaml"
    dom.write_text("""
name: beijing_multisite
files: PRSA_Data_*.csv
timezone: Etc/GMT-8
time: {year: year, month: month, day: day, hour: hour}
station: {column: station, prefix: "bj_", lower: true}
columns: {pm25: PM2.5, pm10: PM10, so2: SO2, no2: NO2, co: CO, o3: O3}
units: {co: ug/m3}
""", encoding="utf-8")
    res = runner.invoke(app, ["ingest", str(DATA / "PRSA_Data_Dongsi_20130301-20130302.csv"),
                              "--domain", str(dom), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    got = read_obs(tmp_path / "d")
    assert set(got["station_id"]) == {"bj_dongsi"} and len(got) == 48
    assert got["co"].max() < 10  # µg/m³ → mg/m³
    bad = runner.invoke(app, ["ingest", str(DATA / "empty.csv"), "--data-dir", str(tmp_path / "e")])
    assert bad.exit_code == 2 and "empty.csv: empty file" in bad.output


def test_ingest_era5_month_files_merge(tmp_path):
    import numpy as np
    import xarray as xr

    def era5(path, start, periods, value):
        t = pd.date_range(start, periods=periods, freq="h")
        xr.Dataset({"t2m": (("valid_time", "latitude", "longitude"),
                            np.full((periods, 2, 2), value, "float32"), {"units": "K"}),
                    "tp": (("valid_time", "latitude", "longitude"),
                           np.full((periods, 2, 2), 0.002, "float32"), {"units": "m"})},
                   coords={"valid_time": t, "latitude": [34.0, 26.0], "longitude": [101.0, 111.0],
                           "number": 0}).to_netcdf(path)   # covers the 成渝 units
        return path

    a = era5(tmp_path / "a.nc", "2026-01-31T22:00", 4, 280.0)   # spans two UTC months
    b = era5(tmp_path / "b.nc", "2026-02-01T01:00", 2, 290.0)   # overlaps a's last hour
    res = runner.invoke(app, ["ingest", str(a), str(b), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    feb = xr.open_dataset(tmp_path / "d" / "met" / "analysis" / "2026-02.nc")
    assert pd.DatetimeIndex(feb["time"].values).tolist() == list(
        pd.date_range("2026-02-01T00:00", periods=3, freq="h"))
    assert feb["t2m"].isel(latitude=0, longitude=0).values.tolist() == [280.0, 290.0, 290.0]
    assert float(feb["tp"].max()) == pytest.approx(2.0)   # m per hour → mm h-1
    assert feb["latitude"].values.tolist() == [26.0, 34.0]
    feb.close()
    assert (tmp_path / "d" / "met" / "analysis" / "2026-01.nc").exists()
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not netcdf")
    res = runner.invoke(app, ["ingest", str(bad), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "bad.nc: not a readable NetCDF" in res.output


def test_ingest_domain_files_without_sources(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "datasets" / "uci_five_cities_pm25" / "station_columns_2013_2014"
    root.mkdir(parents=True)
    shutil.copy(DATA / "ChengduPM20130101_20130101.csv", root / "ChengduPM20130101_20141231.csv")
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(tmp_path / "datasets"))
    from airwarn import configs

    dom = configs.CONFIG_DIR / "domains" / "chengdu_five_cities.yaml"
    res = runner.invoke(app, ["ingest", "--domain", str(dom), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert len(read_obs(tmp_path / "d")) == 72
    res = runner.invoke(app, ["ingest", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "no SOURCE given" in res.output


def test_station_met_ingest_prints_what_it_set_missing(tmp_path):
    bad = tmp_path / "surf.csv"
    bad.write_text((DATA / "cma_surface_20240115.csv").read_text().replace(",5.2,", ",305.2,"))
    res = runner.invoke(app, ["ingest", str(bad), "--data-dir", str(tmp_path / "d")],
                        env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert (f"{bad}: column 'TEM': 1 value(s) outside -60–60 set missing (first: line 2, "
            f"'305.2')") in res.output
