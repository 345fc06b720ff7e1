"""pandas 3 / numpy 2.4 regressions pinned with real files and exact values (issue 16).

* WRF precipitation came out ×1000 under pandas 3: the reader divided raw ``asi8`` integers by
  3.6e12 (nanoseconds per hour) while pandas 3 parses the ``Times`` strings to microseconds.
* The OpenAQ and long-table readers crashed with "assignment destination is read-only": they
  wrote into the ``to_numpy()`` view of a Series, read-only under copy-on-write.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.features.readers.common import ReadReport
from airwarn.features.readers.met import read_wrf
from airwarn.features.readers.stations import read_long_table, read_openaq

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"

#: 3-hourly wrfout (history_interval = 180 min): accumulated convective and grid-scale rain, mm.
WRF_TIMES = ["2026-01-15_00:00:00", "2026-01-15_03:00:00", "2026-01-15_06:00:00",
             "2026-01-15_09:00:00"]
RAINC = [0.0, 1.5, 1.5, 3.0]
RAINNC = [0.0, 3.0, 7.5, 7.5]
#: Δ(RAINC + RAINNC) / 3 h: (4.5 − 0)/3, (9.0 − 4.5)/3, (10.5 − 9.0)/3 mm h-1
TP_MM_PER_H = [1.5, 1.5, 0.5]


def _copy_on_write():
    """pandas 2.x: turn copy-on-write on (pandas 3 always has it), so the test means the same."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return contextlib.nullcontext()
    return pd.option_context("mode.copy_on_write", True)


def _write_wrfout(path: Path) -> None:
    """A wrfout as WRF writes it: classic 64-bit-offset NetCDF, char ``Times(Time, DateStrLen)``,
    ``XTIME`` in minutes since the simulation start, unstaggered fields with WRF attributes."""
    nt, ny, nx = len(WRF_TIMES), 2, 2
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.createDimension("Time", None)
        nc.createDimension("DateStrLen", 19)
        nc.createDimension("south_north", ny)
        nc.createDimension("west_east", nx)
        nc.TITLE = " OUTPUT FROM WRF V4.5.2 MODEL"
        nc.START_DATE = nc.SIMULATION_START_DATE = WRF_TIMES[0]
        nc.DX = nc.DY = np.float32(9000.0)
        nc.MAP_PROJ = np.int32(1)
        times = nc.createVariable("Times", "S1", ("Time", "DateStrLen"))
        times[:] = np.array([list(t) for t in WRF_TIMES], dtype="S1")
        xtime = nc.createVariable("XTIME", "f4", ("Time",))
        xtime.units = f"minutes since {WRF_TIMES[0].replace('_', ' ')}"
        xtime.description = f"minutes since {WRF_TIMES[0].replace('_', ' ')}"
        xtime[:] = np.arange(nt) * 180.0
        dims = ("Time", "south_north", "west_east")

        def var(name: str, units: str, desc: str, values) -> None:
            v = nc.createVariable(name, "f4", dims)
            v.FieldType, v.MemoryOrder, v.stagger = np.int32(104), "XY ", ""
            v.units, v.description, v.coordinates = units, desc, "XLONG XLAT XTIME"
            v[:] = np.broadcast_to(np.asarray(values, dtype="f4").reshape(-1, 1, 1), (nt, ny, nx))

        lat = np.broadcast_to(np.array([[30.60], [30.69]], dtype="f4"), (nt, ny, nx))
        lon = np.broadcast_to(np.array([[104.00, 104.09]], dtype="f4"), (nt, ny, nx))
        for name, units, desc, values in (
                ("XLAT", "degree_north", "LATITUDE, SOUTH IS NEGATIVE", lat),
                ("XLONG", "degree_east", "LONGITUDE, WEST IS NEGATIVE", lon)):
            v = nc.createVariable(name, "f4", dims)
            v.units, v.description = units, desc
            v[:] = values
        var("T2", "K", "TEMP at 2 M", [278.2] * nt)
        var("Q2", "kg kg-1", "QV at 2 M", [0.006] * nt)
        var("PSFC", "Pa", "SFC PRESSURE", [95500.0] * nt)
        var("U10", "m s-1", "U at 10 M", [1.0] * nt)
        var("V10", "m s-1", "V at 10 M", [-1.0] * nt)
        var("RAINC", "mm", "ACCUMULATED TOTAL CUMULUS PRECIPITATION", RAINC)
        var("RAINNC", "mm", "ACCUMULATED TOTAL GRID SCALE PRECIPITATION", RAINNC)


def test_wrf_precipitation_is_mm_per_hour(tmp_path):
    path = tmp_path / "wrfout_d02_2026-01-15_00:00:00"
    _write_wrfout(path)
    ds = read_wrf(path)
    assert [str(t) for t in pd.DatetimeIndex(ds["time"].values)] == [
        "2026-01-15 00:00:00", "2026-01-15 03:00:00", "2026-01-15 06:00:00",
        "2026-01-15 09:00:00"]
    tp = ds["tp"].values  # (time, y, x)
    assert np.isnan(tp[0]).all()
    for k, expected in enumerate(TP_MM_PER_H, start=1):
        np.testing.assert_allclose(tp[k], expected, rtol=1e-6)  # not ×1000, not ÷3


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_wrf_rate_does_not_depend_on_the_datetime_unit(tmp_path, unit):
    """XTIME decoded to datetime64 in any resolution gives the same rate."""
    path = tmp_path / "wrfout_d02_2026-01-15_00:00:00"
    _write_wrfout(path)
    with xr.open_dataset(path, decode_times=False) as raw:
        ds = raw.load()
    t = pd.to_datetime(WRF_TIMES, format="%Y-%m-%d_%H:%M:%S").to_numpy().astype(
        f"datetime64[{unit}]")
    ds = ds.drop_vars("Times").assign(XTIME=("Time", t))
    tp = read_wrf(ds)["tp"].values
    np.testing.assert_allclose(tp[1:, 0, 0], TP_MM_PER_H, rtol=1e-6)


def test_openaq_file_reads_under_copy_on_write():
    rep = ReadReport()
    with _copy_on_write():
        df = read_openaq(DATA / "openaq_v3_chengdu.csv", report=rep)
    one = df[df["station_id"] == "openaq_7537"].set_index("time")
    # 08:00 and 09:00 +08:00 = 00 and 01 UTC; -999 is this source's missing value
    assert list(one.index) == [pd.Timestamp("2024-01-15T00:00Z"), pd.Timestamp("2024-01-15T01:00Z")]
    assert one["pm25"].iloc[0] == 96.0 and np.isnan(one["pm25"].iloc[1])
    assert one["so2"].iloc[0] == pytest.approx(5.0 * 64.064 / 24.4654, rel=1e-4)  # ppb → µg/m³


def test_long_table_reads_under_copy_on_write():
    with _copy_on_write():
        df = read_long_table(DATA / "long_table_gbk.csv", time_col="监测时间",
                             station_col="站点编码", pollutant_col="污染物", value_col="浓度",
                             unit_col="单位")
    one = df[df["station_id"] == "1431A"].set_index("time")
    t0, t1 = pd.Timestamp("2026-01-15T00:00Z"), pd.Timestamp("2026-01-15T01:00Z")
    assert (one.loc[t0, "pm25"], one.loc[t0, "co"]) == (88.0, 1.2)
    assert np.isnan(one.loc[t1, "pm25"])  # the file's -999, written as NaN into the parsed array
