"""CMA surface-station meteorology: reader, writer, store, unit means and the mo_* merge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.features.met_obs import (
    add_met_obs,
    load_met_stations,
    met_obs_to_units,
    read_met_obs,
    write_met_obs,
)
from airwarn.features.readers.cma import read_cma_surface, write_cma_surface
from airwarn.features.readers.common import ReaderError
from airwarn.features.readers.registry import detect_format

SAMPLE = Path(__file__).parents[1] / "data" / "ingest" / "cma_surface_20240115.csv"
T0 = pd.Timestamp("2024-01-15 00:00", tz="UTC")


def test_read_cma_surface_units_and_codes() -> None:
    met = read_cma_surface(SAMPLE)
    assert list(met.columns) == ["time", "station_id", "t2m", "d2m", "sp", "tp", "u10", "v10",
                                 "ws10", "rh"]
    r = met.set_index(["time", "station_id"])
    a = r.loc[(T0, "56294")]
    assert a["t2m"] == pytest.approx(278.35) and a["d2m"] == pytest.approx(276.25)
    assert a["sp"] == pytest.approx(95630.0) and a["rh"] == 86.0
    # wind from 45° (NE) at 1.2 m/s blows towards the south-west: u, v < 0
    assert a["u10"] == pytest.approx(-1.2 * np.sin(np.pi / 4))
    assert a["v10"] == pytest.approx(-1.2 * np.cos(np.pi / 4))
    # 999990 trace precipitation → 0 mm; 999999 / 999998 → missing
    assert r.loc[(T0, "57516"), "tp"] == 0.0
    assert met.attrs["trace"] == 1
    b = r.loc[(T0, "56187")]
    assert b["u10"] == 0.0 and b["v10"] == 0.0  # calm: 999017 direction, speed 0
    # DPT missing (999999): from TEM and RHU (Magnus), 4.8 °C and 88 % → 2.98 °C
    assert b["d2m"] - 273.15 == pytest.approx(2.98, abs=0.01)
    c = r.loc[(T0 + pd.Timedelta("1h"), "56187")]
    assert np.isnan(c["ws10"]) and np.isnan(c["u10"]) and np.isnan(c["tp"])
    # DPT 999998 (not observed): from TEM and RHU
    assert np.isfinite(r.loc[(T0 + pd.Timedelta("1h"), "57516"), "d2m"])
    assert detect_format(SAMPLE).name == "cma_surface"
    assert detect_format(SAMPLE).kind == "met_obs"


def test_cma_whitespace_export_and_round_trip(tmp_path: Path) -> None:
    txt = tmp_path / "surf.txt"
    txt.write_text("\n".join(" ".join(ln.split(",")) for ln in
                             SAMPLE.read_text().splitlines()) + "\n")
    assert detect_format(txt).name == "cma_surface"
    pd.testing.assert_frame_equal(read_cma_surface(txt), read_cma_surface(SAMPLE))
    met = read_cma_surface(SAMPLE)
    back = read_cma_surface(write_cma_surface(met, tmp_path / "w.csv"))
    for v in ("t2m", "sp", "tp", "ws10", "rh"):
        np.testing.assert_allclose(back[v], met[v], atol=0.051)
    np.testing.assert_allclose(back["u10"], met["u10"], atol=0.02)


@pytest.mark.parametrize("edit, expect", [
    (lambda t: t.replace("Station_Id_C", "Station"), "missing column(s) ['Station_Id_C']"),
    (lambda t: t.replace(",956.3,", ",95x.3,"), "line 2, column 'PRS': cannot parse '95x.3'"),
    (lambda t: t.replace("2024,1,15,1,956.9", "2024,1,15,24,956.9"), "line 5, column 'Hour'"),
    (lambda t: t + "56294,2024,1,15,2,956\n", "line 8: truncated file"),
])
def test_cma_bad_input(tmp_path: Path, edit, expect: str) -> None:  # noqa: ANN001
    p = tmp_path / "bad.csv"
    p.write_text(edit(SAMPLE.read_text()))
    with pytest.raises(ReaderError) as exc:
        read_cma_surface(p)
    assert expect in str(exc.value) and str(p) in str(exc.value)


def test_met_obs_store_idempotent_and_replacing(tmp_path: Path) -> None:
    met = read_cma_surface(SAMPLE)
    r1 = write_met_obs(met, tmp_path)
    assert (r1.added, r1.replaced, r1.unchanged) == (6, 0, 0)
    f = tmp_path / "met" / "obs" / "2024-01.parquet"
    assert r1.files == [f]
    stamp = f.stat().st_mtime_ns
    r2 = write_met_obs(met, tmp_path)
    assert (r2.added, r2.replaced, r2.unchanged, r2.files) == (0, 0, 6, [])
    assert f.stat().st_mtime_ns == stamp
    fixed = met.copy()
    fixed.loc[0, "t2m"] = 280.0
    r3 = write_met_obs(fixed, tmp_path)
    assert (r3.added, r3.replaced, r3.unchanged) == (0, 1, 5)
    back = read_met_obs(tmp_path, T0, T0)
    assert len(back) == 3 and back.loc[0, "t2m"] == 280.0
    assert read_met_obs(tmp_path / "nothing").empty


def test_unit_means_and_merge_into_obs_units(tmp_path: Path) -> None:
    stations = load_met_stations(unit_ids=None)
    assert {"56294", "57516"} <= set(stations["station_id"])
    met = read_cma_surface(SAMPLE)
    units = met_obs_to_units(met, stations).set_index(["time", "unit_id"])
    # chengdu = mean of 56294 (成都) and 56187 (温江)
    assert units.loc[(T0, "chengdu"), "t2m"] == pytest.approx((278.35 + 277.95) / 2)
    assert units.loc[(T0, "chengdu"), "n_met_stations"] == 2
    assert units.loc[(T0, "cq_central"), "sp"] == pytest.approx(98140.0)
    write_met_obs(met, tmp_path)
    obs_units = pd.DataFrame({"time": [T0, T0, T0], "unit_id": ["chengdu", "cq_central", "yibin"],
                              "pm25": [90.0, 70.0, 60.0]})
    merged = add_met_obs(obs_units, tmp_path, stations)
    assert list(merged["pm25"]) == [90.0, 70.0, 60.0]
    assert merged.loc[1, "rh"] == 85.0 and np.isnan(merged.loc[2, "t2m"])
    # the features layer sees station meteorology and builds mo_* from it
    from airwarn.features.build import observation_variables

    assert {"t2m", "rh", "ws10", "tp"} <= set(observation_variables(merged))
    # nothing stored → unchanged
    assert add_met_obs(obs_units, tmp_path / "empty", stations) is obs_units


def test_met_stations_unknown_unit(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("station_id,name,unit_id,lon,lat,elevation\n56294,成都,atlantis,104,30.6,506\n")
    with pytest.raises(ValueError, match="line 2: unit 'atlantis'"):
        load_met_stations(p, unit_ids=["chengdu"])


def test_cma_values_set_missing_and_superseded_rows_are_reported(tmp_path: Path) -> None:
    lines = SAMPLE.read_text().splitlines()
    lines[1] = lines[1].replace(",5.2,", ",305.2,")  # 56294 00 UTC: °C column holding K
    lines.insert(3, lines[2].replace("981.4", "982.4"))  # 57516 00 UTC again, other PRS
    lines.insert(4, lines[4])  # 56187 00 UTC again, identical
    p = tmp_path / "surf.csv"
    p.write_text("\n".join(lines) + "\n")
    met = read_cma_surface(p)
    assert met.attrs["out_of_range"] == {"TEM": 1}
    assert met.attrs["duplicates"] == 2
    assert met.attrs["notes"] == [
        "column 'TEM': 1 value(s) outside -60–60 set missing (first: line 2, '305.2')",
        "1 identical repeated station-hour row(s) merged",
        "1 repeated station-hour row(s) with other values superseded by the station's last row "
        "for that hour (first: line 3, station 57516 at 2024-01-15 00:00 UTC)"]
    r = met.set_index(["time", "station_id"])
    assert np.isnan(r.loc[(T0, "56294"), "t2m"])
    assert r.loc[(T0, "57516"), "sp"] == pytest.approx(98240.0)  # the last row kept
    assert read_cma_surface(SAMPLE).attrs["notes"] == []


def test_ingest_met_obs_files_reports_notes_and_keeps_them_out_of_the_store(tmp_path: Path
                                                                            ) -> None:
    from airwarn.features.ingest import ingest_met_obs_files

    bad = tmp_path / "k.csv"
    bad.write_text(SAMPLE.read_text().replace(",5.2,", ",305.2,"))
    wrep, met = ingest_met_obs_files([SAMPLE, bad], tmp_path / "d")
    assert (wrep.added, len(met)) == (6, 6)
    assert met.attrs["notes"] == [
        f"{bad}: column 'TEM': 1 value(s) outside -60–60 set missing (first: line 2, '305.2')",
        "6 station-hour(s) given by more than one file: the last file's row kept"]
    stored = pd.read_parquet(tmp_path / "d" / "met" / "obs" / "2024-01.parquet")
    assert stored.attrs == {}


def test_cma_tabtext_response_status_line(tmp_path: Path) -> None:
    """A ``tabText`` answer of the data service saved as it comes: a status line
    ``returnCode="0" …`` before the element-code header, tab-separated rows (the layout the
    CIMISS / 天擎 clients of yzh549345916/HSQXSJK2019 and sjzd parse: status on line 1, header on
    line 2). Values: the sample's."""
    rows = ["\t".join(ln.split(",")) for ln in SAMPLE.read_text().splitlines()]
    status = ('returnCode="0" returnMessage="Query Succeed" rowCount="6" colCount="14" '
              'requestParams="datacode=SURF_CHN_MUL_HOR&amp;interfaceId=getSurfEleByTimeRange"')
    txt = tmp_path / "surf_tab.txt"
    txt.write_text("\n".join([status, *rows]) + "\n")
    assert detect_format(txt).name == "cma_surface"
    pd.testing.assert_frame_equal(read_cma_surface(txt), read_cma_surface(SAMPLE))
    # a bad row is named by its line in the file (status line included)
    txt.write_text("\n".join([status, *rows[:2], rows[2].replace("981.4", "98x.4"), *rows[3:]]))
    with pytest.raises(ReaderError, match=r"surf_tab.txt, line 4, column 'PRS': cannot parse"):
        read_cma_surface(txt)
    failed = tmp_path / "failed.txt"
    failed.write_text('returnCode="-1" returnMessage="Query Failed: no data"\n')
    with pytest.raises(ReaderError, match=r"failed.txt, line 1: the data service answered "
                                          r"returnCode=-1 \(Query Failed: no data\)"):
        read_cma_surface(failed)
