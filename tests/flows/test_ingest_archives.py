"""``airwarn ingest`` of CNEMC hourly files, CMA station meteorology, archives (.gz, .zip),
directories, and the station-row plausibility refusals — through the real CLI."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pandas as pd
from airwarn.features.met_obs import met_obs_dir, read_met_obs
from airwarn.features.readers.archive import open_sources
from airwarn.features.store import obs_files, read_obs
from airwarn.flows.cli import app
from typer.testing import CliRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
CNEMC = DATA / "cnemc_2024011509.csv"
CMA = DATA / "cma_surface_20240115.csv"
runner = CliRunner()


def _ingest(data_dir: Path, *paths: Path):
    return runner.invoke(app, ["ingest", *[str(p) for p in paths], "--data-dir", str(data_dir)],
                         catch_exceptions=False)


def _hour(text: str, hour: int) -> str:
    return text.replace("2024-01-15 09:00:00", f"2024-01-15 {hour:02d}:00:00")


def test_ingest_cnemc_gz_zip_and_directory(tmp_path: Path) -> None:
    src = CNEMC.read_text(encoding="utf-8")
    gz = tmp_path / "in" / "cnemc_2024011509.csv.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(src.encode("utf-8")))
    zp = tmp_path / "in" / "day.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("20240115/cnemc_2024011510.csv", _hour(src, 10))
        z.writestr("20240115/cnemc_2024011511.csv.gz", gzip.compress(_hour(src, 11).encode()))
        z.writestr("__MACOSX/._junk", b"\x00\x05")
    res = _ingest(tmp_path / "d", tmp_path / "in")
    assert res.exit_code == 0, res.output
    obs = read_obs(tmp_path / "d")
    assert sorted(obs["time"].unique()) == [pd.Timestamp(f"2024-01-15 0{h}:00", tz="UTC")
                                            for h in (1, 2, 3)]
    assert len(obs) == 21 and obs[obs["station_id"] == "1001A"]["pm25"].tolist() == [108.0] * 3
    # the rejected (superseded duplicate) records name the archive member
    rejected = next((tmp_path / "d" / "obs" / "qc").glob("*_rejected.csv"))
    srcs = set(pd.read_csv(rejected)["source"])
    assert f"{zp}:20240115/cnemc_2024011510.csv" in srcs and str(gz) in srcs


def test_zip_member_error_names_member_and_store_unchanged(tmp_path: Path) -> None:
    src = CNEMC.read_text(encoding="utf-8")
    assert _ingest(tmp_path / "d", CNEMC).exit_code == 0
    snap = {p.name: p.read_bytes() for p in obs_files(tmp_path / "d")}
    zp = tmp_path / "x.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("20240101.csv", _hour(src, 10))
        z.writestr("20240102.csv", _hour(src, 11).replace(",131,", ",13l,"))
    res = _ingest(tmp_path / "d", zp)
    assert res.exit_code == 2
    assert f"{zp}:20240102.csv, line 2, column 'pm10': cannot parse '13l'" in res.output
    assert "airwarn-src-" not in res.output  # no temporary path leaks into the message
    assert {p.name: p.read_bytes() for p in obs_files(tmp_path / "d")} == snap


def test_damaged_archives(tmp_path: Path) -> None:
    gz = tmp_path / "cut.csv.gz"
    gz.write_bytes(gzip.compress(CNEMC.read_bytes())[:60])
    res = _ingest(tmp_path / "d", gz)
    assert res.exit_code == 2 and f"{gz}: damaged gz file" in res.output
    zp = tmp_path / "bad.zip"
    zp.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    res = _ingest(tmp_path / "d", zp)
    assert res.exit_code == 2 and f"{zp}: damaged zip file" in res.output
    assert not (tmp_path / "d" / "obs").exists() or not obs_files(tmp_path / "d")


def test_plausibility_refusals(tmp_path: Path) -> None:
    src = CNEMC.read_text(encoding="utf-8")
    cases = {
        "nul.csv": (src.replace(",108,", ",1\x0008,"),
                    "nul.csv, line 2, column 'pm2_5': control character '\\x00'"),
        "future.csv": (src.replace("2024-01-15 09:00:00,1002A", "2099-01-15 09:00:00,1002A"),
                       "future.csv: station 1002A, time 2099-01-15 01:00 UTC is in the future"),
        "early.csv": (src.replace("2024-01-15 09:00:00,1002A", "2012-06-01 09:00:00,1002A"),
                      "before the cnemc network's data begin (2013-01-01)"),
        "longid.csv": (src.replace(",1415A,", "," + "X" * 40 + ","),
                       "is not a station id; expected up to 32 printable characters"),
    }
    for name, (text, expect) in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        res = _ingest(tmp_path / "d", p)
        assert res.exit_code == 2, name
        assert expect in res.output.replace("\n", ""), (name, res.output)
        assert "store is unchanged" in res.output
    assert not obs_files(tmp_path / "d")


def test_ingest_cma_station_meteorology(tmp_path: Path) -> None:
    res = _ingest(tmp_path / "d", CMA)
    assert res.exit_code == 0, res.output
    assert "station-meteorology" in res.output and "added" in res.output
    met = read_met_obs(tmp_path / "d")
    assert len(met) == 6 and set(met["station_id"]) == {"56294", "57516", "56187"}
    assert (met_obs_dir(tmp_path / "d") / "2024-01.parquet").exists()
    again = _ingest(tmp_path / "d", CMA)
    assert again.exit_code == 0 and "unchanged" in again.output
    assert len(read_met_obs(tmp_path / "d")) == 6
    named = runner.invoke(app, ["ingest", str(CMA), "--format", "cma_surface", "--data-dir",
                                str(tmp_path / "f")], catch_exceptions=False)
    assert named.exit_code == 0 and len(read_met_obs(tmp_path / "f")) == 6
    named = runner.invoke(app, ["ingest", str(CNEMC), "--format", "cnemc", "--data-dir",
                                str(tmp_path / "f")], catch_exceptions=False)
    assert named.exit_code == 0 and len(read_obs(tmp_path / "f")) == 7
    # mixing kinds in one call is refused with the kinds named
    mixed = _ingest(tmp_path / "d", CMA, CNEMC)
    assert mixed.exit_code == 2 and "separate ingests" in mixed.output


def test_open_sources_lists_members(tmp_path: Path) -> None:
    zp = tmp_path / "a.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("b.csv", "x\n1\n")
        z.writestr("sub/c.csv.gz", gzip.compress(b"y\n2\n"))
    with open_sources([zp]) as members:
        assert [m.display for m in members] == [f"{zp}:b.csv", f"{zp}:sub/c.csv.gz"]
        assert members[1].path.read_text() == "y\n2\n" and members[1].path.name == "c.csv"
        tmp = members[0].path
    assert not tmp.exists()
