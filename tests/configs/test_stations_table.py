"""Tests for features.stations_table and the generated configs/stations.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from airwarn.features.stations_table import (
    STATION_TABLE_COLUMNS,
    build_station_table,
    locate_district,
    write_station_table,
)

from airwarn import configs

SOURCE = Path("/work/shared/datasets/station_coords_pm25gnn/station_info.csv")
HEADER = "ID,stations_name,stations_en_name,area,area_en_name,lon,lat\n"


@pytest.fixture(scope="module")
def region():
    return configs.load_region()


def test_small_list_assigns_by_city_and_district(tmp_path, region):
    src = tmp_path / "station_info.csv"
    src.write_text(HEADER +
                   "1418A,虎溪,Huxi,重庆,Zhongqing,106.296,29.5983\n"      # 沙坪坝区 → cq_central
                   "1431A,金泉两河,Jinquanlianghe,成都,Chengdou,103.972,30.713\n"
                   "1893A,九狮山,Jiushishan,泸州,Luzhou,105.4306,28.9583\n"  # ends in 州 but a 市
                   "2001A,长征大道,Changzhengdadao,凉山州,Liangshanzhou,102.26,27.89\n"  # outside
                   "1001A,万寿西宫,Wanshouxigong,北京,Beijing,116.366,39.8673\n", encoding="utf-8")
    t = build_station_table(src, region)
    assert list(t.columns) == STATION_TABLE_COLUMNS
    got = t.set_index("station_id")
    assert sorted(got.index) == ["1418A", "1431A", "1893A"]
    assert got.loc["1418A", ["city", "district", "sub_region"]].tolist() == \
        ["重庆市", "沙坪坝区", "cq_central"]
    assert got.loc["1431A", ["city", "district", "sub_region"]].tolist() == \
        ["成都市", "金牛区", "chengdu"]
    assert got.loc["1893A", "sub_region"] == "luzhou"


def test_bad_coordinate_names_line(tmp_path, region):
    src = tmp_path / "s.csv"
    src.write_text(HEADER + "1431A,a,b,成都,Chengdou,103.9,30.7\n1432A,a,b,成都,Chengdou,x,30.7\n")
    with pytest.raises(ValueError, match=r"s.csv, line 3: column 'lon' is 'x'"):
        build_station_table(src, region)


def test_locate_district_outside_province_is_none():
    assert locate_district(116.4, 39.9, "重庆市") is None


@pytest.mark.skipif(not SOURCE.exists(), reason="shared national station list not present")
def test_committed_table_is_current_and_valid(tmp_path, region):
    committed = configs.load_stations(region=region)  # validates units and coordinates
    rebuilt = build_station_table(SOURCE, region)
    out = write_station_table(rebuilt, tmp_path / "stations.csv")
    assert out.read_text(encoding="utf-8") == (configs.CONFIG_DIR / "stations.csv").read_text(
        encoding="utf-8")
    assert len(committed) == 96
    cq = committed[committed["station_id"].between("1414A", "1430A")]
    assert len(cq) == 17 and set(cq["sub_region"]) == {"cq_central"}
    assert committed.groupby("sub_region").size()["chengdu"] == 8
    assert pd.api.types.is_float_dtype(committed["lon"])


@pytest.mark.parametrize("rows, expect", [
    (",a,b,成都,Chengdou,103.9,30.7\n", r"s.csv, line 2, column 'ID': empty station code"),
    ("1431A,a,b,成都,Chengdou,103.9,30.7\n1431A,c,d,成都,Chengdou,104.1,30.6\n",
     r"s.csv, line 3, column 'ID': station 1431A listed again \(first on line 2\)"),
    ("1431A,a,b,成都,Chengdou,,30.7\n", r"s.csv, line 2: column 'lon' is empty; expected "
                                        r"decimal degrees"),
    ("1431A,a,b,成都,Chengdou,103.9\n", r"s.csv, line 2: truncated file: 6 fields, expected 7"),
])
def test_damaged_list_rows_are_refused_not_stored(tmp_path, region, rows, expect):
    # an empty ID used to become a station 'nan', a repeated one kept its last row silently,
    # a short row read as a missing latitude
    src = tmp_path / "s.csv"
    src.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(ValueError, match=expect):
        build_station_table(src, region)
