"""CNEMC hourly release reader/writer on a file in the published layout (real station codes and
coordinates from the national list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.features.qc import QC_DUPLICATE, var_flags
from airwarn.features.readers.cnemc import (
    CNEMC_COLUMNS,
    read_cnemc,
    read_cnemc_stations,
    write_cnemc,
)
from airwarn.features.readers.common import ReaderError, ReadReport
from airwarn.features.readers.registry import detect_format
from airwarn.features.readers.stations import read_station_file

DATA = Path(__file__).parents[1] / "data" / "ingest"
SAMPLE = DATA / "cnemc_2024011509.csv"


def test_read_cnemc_values_time_and_duplicates() -> None:
    rep = ReadReport()
    seen: list[pd.DataFrame] = []
    obs = read_cnemc(SAMPLE, report=rep, stations_seen=seen)
    # 09:00 Beijing time (hour label kept) = 01:00 UTC
    assert set(obs["time"]) == {pd.Timestamp("2024-01-15 01:00", tz="UTC")}
    assert list(obs["station_id"]) == ["1001A", "1002A", "1414A", "1415A", "1431A", "1432A",
                                       "1433A"]
    r = obs.set_index("station_id")
    assert r.loc["1001A", "pm25"] == 108.0 and r.loc["1001A", "pm10"] == 131.0
    assert r.loc["1001A", "co"] == pytest.approx(1.4)  # mg/m³ as published
    assert r.loc["1001A", "o3"] == 4.0 and r.loc["1001A", "no2"] == 71.0
    # empty o3 and "—" co are missing
    assert np.isnan(r.loc["1414A", "o3"]) and np.isnan(r.loc["1414A", "co"])
    # identical duplicate (1432A) merged silently; conflicting (1433A) last value kept, flagged
    assert r.loc["1432A", "pm25"] == 117.0 and r.loc["1432A", "qc"] == 0
    assert r.loc["1433A", "pm25"] == 124.0
    assert var_flags([r.loc["1433A", "qc"]], "pm25")[0] & QC_DUPLICATE
    assert rep.duplicates_conflicting == 1 and len(rep.rejected) == 1
    assert rep.rejected[0]["line"] == 9 and rep.rejected[0]["value"] == 121.0
    assert rep.ignored["aqi"] == 9
    st = seen[0].set_index("station_id")
    assert st.loc["1431A", "lon"] == pytest.approx(103.972)
    assert st.loc["1431A", "positionname"] == "金泉两河" and st.loc["1431A", "area"] == "成都"


def test_cnemc_detected_by_registry_and_station_reader() -> None:
    assert detect_format(SAMPLE).name == "cnemc"
    obs = read_station_file(SAMPLE)
    assert len(obs) == 7


def test_write_cnemc_round_trip(tmp_path: Path) -> None:
    obs = read_cnemc(SAMPLE)
    stations = read_cnemc_stations(SAMPLE)
    out = write_cnemc(obs, stations, tmp_path / "x.csv")
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(CNEMC_COLUMNS)
    assert "2024-01-15 09:00:00,1001A,116.366,39.8673,北京,万寿西宫" in out.read_text()
    back = read_cnemc(out)
    pd.testing.assert_frame_equal(back.drop(columns="qc"), obs.drop(columns="qc"))
    # the station table's city/name columns serve as area/positionname
    table = pd.DataFrame({"station_id": ["1431A"], "name": ["金泉两河"], "city": ["成都市"],
                          "lon": [103.972], "lat": [30.713]})
    write_cnemc(obs[obs["station_id"] == "1431A"], table, tmp_path / "y.csv")
    assert read_cnemc_stations(tmp_path / "y.csv")["area"].iloc[0] == "成都"


@pytest.mark.parametrize("edit, expect", [
    (lambda t: t.replace("pm2_5,pm2_5_24h", "pm25,pm2_5_24h"), "unknown column 'pm25'"),
    (lambda t: t.replace(",108,", ",1o8,"), "line 2, column 'pm2_5': cannot parse '1o8'"),
    (lambda t: t.replace("2024-01-15 09:00:00,1002A", "2024-01-15 09:30:00,1002A"),
     "line 3, column 'timepoint'"),
    (lambda t: t.replace("116.3660", "216.3660"), "line 2, column 'longitude'"),
    (lambda t: t.replace(",1001A,", ",,"), "line 2, column 'stationcode': missing station code"),
    (lambda t: t[: t.rindex("\n", 0, len(t) - 1) + 30], "truncated file"),
])
def test_cnemc_bad_input(tmp_path: Path, edit, expect: str) -> None:  # noqa: ANN001
    p = tmp_path / "bad.csv"
    p.write_text(edit(SAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ReaderError, match=expect.replace("(", r"\(")) as exc:
        read_cnemc(p)
    assert str(p) in str(exc.value)


PLATFORM = DATA / "cnemc_platform_2017070716.csv"


def test_cnemc_platform_field_names(tmp_path: Path) -> None:
    """The platform's own record fields (CamelCase, its display fields, alphabetical order; three
    records of GetAQIDataPublishLives 2017-07-07 16:00 as decoded in geoinsights/ChinaAQIData)
    read like the lower-case release layout."""
    assert detect_format(PLATFORM).name == "cnemc"
    rep = ReadReport()
    seen: list[pd.DataFrame] = []
    obs = read_cnemc(PLATFORM, report=rep, stations_seen=seen)
    assert set(obs["time"]) == {pd.Timestamp("2017-07-07 08:00", tz="UTC")}  # 16:00 Beijing
    r = obs.set_index("station_id")
    assert (r.loc["1001A", "pm25"], r.loc["1001A", "o3"], r.loc["1001A", "co"]) == (34.0, 164.0, 0.8)
    assert np.isnan(r.loc["1008A", "pm10"])  # the platform's "—"
    assert rep.ignored["quality"] == 3 and rep.ignored["unheathful"] == 3
    assert seen[0].set_index("station_id").loc["1002A", "positionname"] == "定陵"
    # the lower-case layout of the same records reads the same
    head, rest = PLATFORM.read_text(encoding="utf-8").split("\n", 1)
    low = tmp_path / "low.csv"
    low.write_text(head.lower() + "\n" + rest, encoding="utf-8")
    pd.testing.assert_frame_equal(read_cnemc(low), obs)
    # WCF plumbing or any other column is still refused
    bad = tmp_path / "bad.csv"
    bad.write_text(PLATFORM.read_text(encoding="utf-8").replace("OrderId", "OpenAccessGenerated",
                                                                1), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"bad.csv, line 1: unknown column 'OpenAccessGenerated'"):
        read_cnemc(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text(PLATFORM.read_text(encoding="utf-8").replace("OrderId", "aqi", 1),
                     encoding="utf-8")
    with pytest.raises(ReaderError, match=r"twice.csv, line 1: column\(s\) \['AQI', 'aqi'\] given"):
        read_cnemc(twice)
