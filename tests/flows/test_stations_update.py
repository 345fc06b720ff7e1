"""``airwarn stations update``: the station table from the stations seen in CNEMC files (real
coordinates of the national list, real district polygons)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from airwarn.features.readers.cnemc import write_cnemc
from airwarn.flows.cli import app
from typer.testing import CliRunner

from airwarn import configs

runner = CliRunner()
T = pd.Timestamp("2024-01-15 01:00", tz="UTC")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("stations")
    table = configs.load_stations()
    # today's table without 1431A (金泉两河), with 1414A listed 0.01° west, 1415A misnamed
    mine = table[table["station_id"] != "1431A"].copy()
    mine.loc[mine["station_id"] == "1414A", "lon"] -= 0.01
    mine.loc[mine["station_id"] == "1415A", "name"] = "旧名"
    tpath = d / "stations.csv"
    mine.to_csv(tpath, index=False, float_format="%.4f", lineterminator="\n")
    jj = configs.load_region().unit("jiangjin").centroid
    seen = pd.DataFrame({
        "station_id": ["1001A", "1414A", "1415A", "1431A", "9001A"],
        "lon": [116.366, 106.379, 106.46, 103.972, jj.lon],
        "lat": [39.8673, 29.8272, 29.5736, 30.713, jj.lat],
        "area": ["北京", "重庆", "重庆", "成都", "重庆"],
        "positionname": ["万寿西宫", "缙云山", "高家花园", "金泉两河", "江津新站"],
    })
    obs = pd.DataFrame({"time": [T] * 5, "station_id": seen["station_id"],
                        **{v: 50.0 for v in ("pm25", "pm10", "o3", "no2", "so2")}, "co": 0.8,
                        "qc": 0})
    fpath = write_cnemc(obs, seen, d / "cnemc_2024011509.csv")
    return tpath, fpath


def test_dry_run_reports_and_writes_nothing(setup: tuple[Path, Path]) -> None:
    tpath, fpath = setup
    before = tpath.read_bytes()
    res = runner.invoke(app, ["stations", "update", str(fpath), "--stations", str(tpath)],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "+ 1431A 金泉两河 → chengdu" in out
    assert "+ 9001A 江津新站 → jiangjin" in out
    assert "1414A 缙云山 moved 96" in out  # 0.01° of longitude at 29.8° N ≈ 965 m
    assert "1415A renamed 旧名 → 高家花园" in out
    assert "outside the domain (1): 北京 1" in out
    assert "units gaining their first station: jiangjin" in out
    assert "+1431A,金泉两河,,成都市,金牛区,chengdu,103.9720,30.7130" in out
    assert "-1415A,旧名," in out and "+1415A,高家花园," in out
    assert "dry run: nothing written" in out
    assert tpath.read_bytes() == before


def test_write_updates_the_table_atomically(setup: tuple[Path, Path], tmp_path: Path) -> None:
    tpath, fpath = setup
    dest = tmp_path / "new.csv"
    res = runner.invoke(app, ["stations", "update", str(fpath), "--stations", str(tpath),
                              "--out", str(dest), "--no-diff"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    new = configs.load_stations(dest).set_index("station_id")
    old = configs.load_stations(tpath)
    assert len(new) == len(old) + 2  # 1431A and 9001A added, nothing dropped
    assert set(old["station_id"]) <= set(new.index)
    assert new.loc["9001A", "sub_region"] == "jiangjin" and new.loc["9001A", "city"] == "重庆市"
    assert new.loc["1431A", "sub_region"] == "chengdu"
    assert new.loc["1414A", "lon"] == pytest.approx(106.379)
    assert new.loc["1415A", "name"] == "高家花园"
    assert "1001A" not in new.index
    # a second update from the same file changes nothing
    again = runner.invoke(app, ["stations", "update", str(fpath), "--stations", str(dest)],
                          catch_exceptions=False)
    assert "  + " not in again.output and "  ~ " not in again.output
    assert "(updated)" not in again.output  # no diff


def test_bad_source_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["stations", "update", str(p)], catch_exceptions=False)
    assert res.exit_code == 2 and "expected a CNEMC hourly file" in res.output
    assert "nothing was written" in res.output


def test_station_list_with_an_empty_id_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "list.csv"
    p.write_text("ID,stations_name,stations_en_name,area,area_en_name,lon,lat\n"
                 ",新站,New,成都,Chengdu,104.0,30.6\n", encoding="utf-8")
    out = tmp_path / "stations.csv"
    res = runner.invoke(app, ["stations", "update", str(p), "--out", str(out)],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 2, res.output
    assert f"{p}, line 2, column 'ID': empty station code; expected e.g. 1001A" in res.output
    assert "nothing was written" in res.output and not out.exists()


def test_a_station_list_gives_new_stations_their_english_name(tmp_path: Path) -> None:
    """A PM2.5-GNN style list carries ``stations_en_name``: a new station keeps it (a CNEMC file
    has none, so its new stations get an empty one to fill in)."""
    p = tmp_path / "list.csv"
    p.write_text("ID,stations_name,stations_en_name,area,area_en_name,lon,lat\n"
                 "9101A,天府新区站,Tianfu New Area,成都,Chengdu,104.07,30.41\n", encoding="utf-8")
    out = tmp_path / "stations.csv"
    res = runner.invoke(app, ["stations", "update", str(p), "--out", str(out), "--write",
                              "--no-diff"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    new = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("station_id")
    assert new.loc["9101A", "name"] == "天府新区站"
    assert new.loc["9101A", "name_en"] == "Tianfu New Area"
    assert new.loc["9101A", "sub_region"] == "chengdu"
