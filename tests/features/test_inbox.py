"""The inbox: real station and ERA5 files dropped in a folder, ingested once each by content,
bad files quarantined with their error; ``airwarn ingest --watch DIR --once``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.features.inbox import InboxLedger, inbox_files, process_inbox, watch_inbox
from airwarn.features.store import read_obs
from typer.testing import CliRunner

DATA = Path(__file__).parents[1] / "data" / "ingest"


def _era5(path: Path, value: float = 280.0) -> Path:
    t = pd.date_range("2026-01-15T00:00", periods=3, freq="h")
    xr.Dataset({"t2m": (("valid_time", "latitude", "longitude"),
                        np.full((3, 2, 2), value, "float32"), {"units": "K"})},
               # a coarse grid that covers the 成渝 domain (the met checks refuse less)
               coords={"valid_time": t, "latitude": [34.0, 27.0], "longitude": [101.0, 109.0],
                       "number": 0}).to_netcdf(path)
    return path


def test_inbox_ingests_once_by_content_and_quarantines_bad_files(tmp_path):
    inbox = tmp_path / "data" / "inbox"
    (inbox / "cnemc").mkdir(parents=True)
    (inbox / ".fetching" / "x").mkdir(parents=True)
    data = tmp_path / "data"
    shutil.copy(DATA / "china_sites_20260115.csv", inbox / "cnemc" / "china_sites_20260115.csv")
    shutil.copy(DATA / "china_sites_bad_value.csv", inbox / "china_sites_bad_value.csv")
    (inbox / "notes.txt").write_text("hello, this is not data\n")
    _era5(inbox / "era5_202601.nc")
    (inbox / "x.grib2.part").write_bytes(b"GRIB")                  # a download in progress
    (inbox / ".fetching" / "x" / "y.grib2").write_bytes(b"GRIB")   # a held cycle
    assert [p.name for p in inbox_files(inbox)] == [
        "china_sites_bad_value.csv", "china_sites_20260115.csv", "era5_202601.nc", "notes.txt"]

    res = process_inbox(inbox, data)

    assert sorted((p.name, fmt) for p, fmt, _ in res.ingested) == [
        ("china_sites_20260115.csv", "china_sites"), ("era5_202601.nc", "era5")]
    obs = read_obs(data)
    assert set(obs["station_id"]) >= {"1431A", "1432A", "1418A"} and len(obs) > 0
    assert (data / "met" / "analysis" / "2026-01.nc").exists()
    # the two bad files are moved to quarantine/ with their error beside them
    q = inbox / "quarantine"
    assert sorted(p.name for p in q.iterdir()) == [
        "china_sites_bad_value.csv", "china_sites_bad_value.csv.error.txt",
        "notes.txt", "notes.txt.error.txt"]
    err = (q / "notes.txt.error.txt").read_text()
    assert "not a format airwarn reads" in err and "sha256:" in err
    assert "china_sites_bad_value.csv" in (q / "china_sites_bad_value.csv.error.txt").read_text()
    assert not (inbox / "notes.txt").exists()
    assert (inbox / "x.grib2.part").exists()          # left alone

    # second pass: nothing new; the same content under another name is not ingested again
    shutil.copy(inbox / "cnemc" / "china_sites_20260115.csv", inbox / "copy.csv")
    before = (data / "obs").stat().st_mtime_ns
    again = process_inbox(inbox, data)
    assert not again.ingested and not again.quarantined
    assert sorted(p.name for p in again.already) == [
        "china_sites_20260115.csv", "copy.csv", "era5_202601.nc"]
    led = InboxLedger(data / "inbox" / "ledger.sqlite").frame()
    assert sorted(led["status"]) == ["ingested", "ingested", "quarantined", "quarantined"]
    assert (data / "obs").stat().st_mtime_ns == before


def test_station_met_goes_to_the_met_obs_store_after_the_settle_time(tmp_path):
    from airwarn.features.met_obs import read_met_obs

    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(DATA / "cma_surface_20240115.csv", inbox / "SURF_CHN_MUL_HOR_2024011500.csv")
    shutil.copy(DATA / "china_sites_20260115.csv", inbox / "a.csv")
    res = process_inbox(inbox, tmp_path / "d", settle_s=3600)   # everything is "just written"
    assert [why for _, why in res.deferred] == ["still being written"] * 2
    seen = []
    watch_inbox(inbox, tmp_path / "d", settle_s=0, rounds=2, interval_s=0,
                on_result=seen.append, sleep=lambda s: None)
    assert [len(r.ingested) for r in seen] == [2, 0]
    assert sorted(fmt for _, fmt, _ in seen[0].ingested) == ["china_sites", "cma_surface"]
    met = read_met_obs(tmp_path / "d")
    chengdu = met[(met["station_id"] == "56294")].sort_values("time").iloc[0]
    assert chengdu["time"] == pd.Timestamp("2024-01-15T00:00Z")
    assert abs(chengdu["t2m"] - (5.2 + 273.15)) < 1e-6 and abs(chengdu["sp"] - 95630.0) < 1e-3


def test_ingest_watch_once_command(tmp_path):
    from airwarn.flows.cli import app

    inbox = tmp_path / "drop"
    inbox.mkdir()
    shutil.copy(DATA / "china_sites_20260115.csv", inbox / "a.csv")
    (inbox / "junk.csv").write_text("")
    args = ["ingest", "--watch", str(inbox), "--once", "--data-dir", str(tmp_path / "d")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output           # something was quarantined
    assert "ingested a.csv (china_sites)" in r.output and "quarantined" in r.output
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "1 file(s) already ingested" in r.output
    r = CliRunner().invoke(app, ["ingest", "--watch", str(tmp_path / "nope"), "--once"])
    assert r.exit_code == 2 and "no such folder to watch" in r.output
