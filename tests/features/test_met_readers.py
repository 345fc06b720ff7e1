"""Tests for features.readers.met on small NetCDF files written to the published layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.features.readers.met import (
    MetReaderError,
    dewpoint_from_mixing_ratio,
    read_cf,
    read_era5,
    read_point_met,
    read_wrf,
)


def _era5_cds(path, new_layout: bool = True):
    """An ERA5 single-levels file as the CDS delivers it (2024+ layout: valid_time)."""
    tname = "valid_time" if new_layout else "time"
    t = pd.date_range("2026-01-15", periods=3, freq="h")
    lat = np.array([31.0, 30.75, 30.5])          # descending, as CDS writes it
    lon = np.array([103.75, 104.0, 104.25])
    shape = (3, 3, 3)
    base = np.arange(27, dtype="float32").reshape(shape)
    ds = xr.Dataset(
        {"t2m": ((tname, "latitude", "longitude"), 280 + base, {"units": "K",
                                                                  "GRIB_stepType": "instant"}),
         "tp": ((tname, "latitude", "longitude"), np.full(shape, 0.0012, "float32"),
                {"units": "m", "GRIB_stepType": "accum"}),
         "ssrd": ((tname, "latitude", "longitude"), np.full(shape, 1.8e6, "float32"),
                  {"units": "J m**-2", "GRIB_stepType": "accum"}),
         "tcc": ((tname, "latitude", "longitude"), np.full(shape, 0.5, "float32"),
                 {"units": "(0 - 1)"}),
         "sp": ((tname, "latitude", "longitude"), np.full(shape, 95000.0, "float32"),
                {"units": "Pa"})},
        coords={tname: t, "latitude": ("latitude", lat, {"units": "degrees_north"}),
                "longitude": ("longitude", lon, {"units": "degrees_east"}),
                "number": 0},
        attrs={"GRIB_centre": "ecmf", "Conventions": "CF-1.7"})
    if new_layout:
        ds = ds.assign_coords(expver=(tname, np.array(["0001"] * 3)))
    ds.to_netcdf(path)
    return ds


@pytest.mark.parametrize("new_layout", [True, False])
def test_era5_accumulations_become_rates(tmp_path, new_layout):
    _era5_cds(tmp_path / "era5.nc", new_layout)
    ds = read_era5(tmp_path / "era5.nc")
    assert list(ds["t2m"].dims) == ["time", "latitude", "longitude"]
    assert ds["latitude"].values.tolist() == [30.5, 30.75, 31.0]  # sorted ascending
    np.testing.assert_allclose(ds["tp"].values, 1.2, rtol=1e-5)      # 0.0012 m in 1 h → 1.2 mm h-1
    np.testing.assert_allclose(ds["ssrd"].values, 500.0, rtol=1e-5)  # 1.8e6 J m-2 / 3600 s
    # value at (t0, lat 31.0, lon 103.75) was base[0, 0, 0] = 0 → 280 K, now at latitude index 2
    assert float(ds["t2m"].isel(time=0, latitude=2, longitude=0)) == 280.0
    assert ds["tp"].attrs["units"] == "mm h-1" and ds["ssrd"].attrs["units"] == "W m-2"
    assert ds["tcc"].attrs["units"] == "1" and "source" in ds.attrs
    assert "number" not in ds.coords and "expver" not in ds.coords


def test_era5_since_start_accumulation_is_differenced(tmp_path):
    t = pd.date_range("2026-01-15", periods=3, freq="3h")
    acc = np.array([0.0, 0.003, 0.009]).reshape(3, 1, 1)
    xr.Dataset({"tp": (("time", "latitude", "longitude"), acc, {"units": "m"})},
               coords={"time": t, "latitude": [30.0], "longitude": [104.0]}
               ).to_netcdf(tmp_path / "f.nc")
    ds = read_era5(tmp_path / "f.nc", accumulated="since_start")
    got = ds["tp"].values.ravel()
    assert np.isnan(got[0]) and got[1:] == pytest.approx([1.0, 2.0])  # 3 mm / 3 h, 6 mm / 3 h


def test_era5_errors_name_file_and_variable(tmp_path):
    xr.Dataset({"foo": (("time",), [1.0])}, coords={"time": [np.datetime64("2026-01-01")]}
               ).to_netcdf(tmp_path / "x.nc")
    with pytest.raises(MetReaderError, match=r"x.nc: none of the ERA5 variables"):
        read_era5(tmp_path / "x.nc")
    xr.Dataset({"sp": (("time", "latitude", "longitude"), [[[950.0]]], {"units": "furlong"})},
               coords={"time": [np.datetime64("2026-01-01")], "latitude": [30.0],
                       "longitude": [104.0]}).to_netcdf(tmp_path / "y.nc")
    with pytest.raises(MetReaderError, match=r"y.nc: variable for 'sp' has units 'furlong'"):
        read_era5(tmp_path / "y.nc")
    (tmp_path / "z.nc").write_bytes(b"garbage")
    with pytest.raises(MetReaderError, match="not a readable NetCDF"):
        read_era5(tmp_path / "z.nc")


def _wrfout(path):
    nt, ny, nx = 3, 2, 3
    times = np.array([list(s) for s in ["2026-01-15_00:00:00", "2026-01-15_01:00:00",
                                        "2026-01-15_02:00:00"]], dtype="S1")
    lat = np.broadcast_to(np.array([[30.0], [30.1]]), (nt, ny, nx)).astype("float32")
    lon = np.broadcast_to(np.array([[104.0, 104.1, 104.2]]), (nt, ny, nx)).astype("float32")
    f = lambda v: np.full((nt, ny, nx), v, dtype="float32")  # noqa: E731
    rainnc = f(0.0)
    rainnc[1], rainnc[2] = 2.0, 5.0
    alpha = np.deg2rad(30.0)
    ds = xr.Dataset(
        {"Times": (("Time", "DateStrLen"), times),
         "XLAT": (("Time", "south_north", "west_east"), lat),
         "XLONG": (("Time", "south_north", "west_east"), lon),
         "T2": (("Time", "south_north", "west_east"), f(283.15), {"units": "K"}),
         "Q2": (("Time", "south_north", "west_east"), f(0.008), {"units": "kg kg-1"}),
         "PSFC": (("Time", "south_north", "west_east"), f(96000.0), {"units": "Pa"}),
         "U10": (("Time", "south_north", "west_east"), f(2.0), {"units": "m s-1"}),
         "V10": (("Time", "south_north", "west_east"), f(0.0), {"units": "m s-1"}),
         "RAINC": (("Time", "south_north", "west_east"), f(0.0), {"units": "mm"}),
         "RAINNC": (("Time", "south_north", "west_east"), rainnc, {"units": "mm"}),
         "PBLH": (("Time", "south_north", "west_east"), f(450.0), {"units": "m"}),
         "SWDOWN": (("Time", "south_north", "west_east"), f(300.0), {"units": "W m-2"}),
         "COSALPHA": (("Time", "south_north", "west_east"), f(np.cos(alpha))),
         "SINALPHA": (("Time", "south_north", "west_east"), f(np.sin(alpha)))},
        attrs={"SIMULATION_START_DATE": "2026-01-15_00:00:00", "TITLE": " OUTPUT FROM WRF V4.5"})
    ds.to_netcdf(path, format="NETCDF4")


def test_wrf_rain_dewpoint_and_wind_rotation(tmp_path):
    _wrfout(tmp_path / "wrfout_d01_2026-01-15_00:00:00")
    ds = read_wrf(tmp_path / "wrfout_d01_2026-01-15_00:00:00")
    assert ds["t2m"].dims == ("time", "y", "x")
    assert ds["latitude"].shape == (2, 3) and float(ds["longitude"][0, 2]) == pytest.approx(104.2)
    assert pd.Timestamp(ds["time"].values[1]) == pd.Timestamp("2026-01-15 01:00")
    tp = ds["tp"].isel(y=0, x=0).values
    assert np.isnan(tp[0]) and tp[1:] == pytest.approx([2.0, 3.0])
    # grid-relative (2, 0) rotated by 30°: u = 2 cos30, v = 2 sin30
    assert float(ds["u10"][0, 0, 0]) == pytest.approx(2 * np.cos(np.pi / 6), rel=1e-5)
    assert float(ds["v10"][0, 0, 0]) == pytest.approx(1.0, rel=1e-5)
    # e = 0.008·96000/(0.622+0.008) = 1219.05 Pa = 12.19 hPa → Td = 9.93 °C (Bolton)
    assert float(ds["d2m"][0, 0, 0]) == pytest.approx(273.15 + 9.93, abs=0.05)
    assert ds.attrs["forecast_reference_time"] == "2026-01-15T00:00:00+00:00"
    assert "tcc" not in ds and float(ds["ssrd"][0, 0, 0]) == 300.0


def test_dewpoint_saturated_equals_temperature():
    # saturation mixing ratio at 20 °C and 1000 hPa: es = 23.37 hPa → w = 0.622 es/(p − es)
    es = 6.112 * np.exp(17.67 * 20 / (20 + 243.5))
    w = 0.622 * es / (1000 - es)
    assert dewpoint_from_mixing_ratio(w, 100000.0) == pytest.approx(293.15, abs=1e-6)


def test_read_cf_gfs_names_and_units(tmp_path):
    t = pd.date_range("2026-01-15", periods=2, freq="3h")
    shp = (2, 1, 2)
    xr.Dataset({"TMP_2maboveground": (("time", "lat", "lon"), np.full(shp, 10.0), {"units": "degC"}),
                "PRES_surface": (("time", "lat", "lon"), np.full(shp, 950.0), {"units": "hPa"}),
                "PRATE_surface": (("time", "lat", "lon"), np.full(shp, 1e-4),
                                  {"units": "kg m-2 s-1"}),
                "TCDC_entireatmosphere": (("time", "lat", "lon"), np.full(shp, 40.0),
                                          {"units": "%"})},
               coords={"time": t, "lat": [30.0], "lon": [256.0, 256.25]}
               ).to_netcdf(tmp_path / "gfs.nc")
    ds = read_cf(tmp_path / "gfs.nc")
    assert set(ds.data_vars) == {"t2m", "sp", "tp", "tcc"}
    assert float(ds["t2m"].max()) == pytest.approx(283.15)
    assert float(ds["sp"].max()) == pytest.approx(95000.0)
    assert float(ds["tp"].max()) == pytest.approx(0.36)  # 1e-4 kg m-2 s-1 × 3600 s
    assert float(ds["tcc"].max()) == pytest.approx(0.4)
    assert ds["longitude"].values.tolist() == [-104.0, -103.75]
    with pytest.raises(MetReaderError, match="not ERA5 names"):
        read_cf(tmp_path / "gfs.nc", {"TMP_2maboveground": "temperature"})


def test_point_met_prsa_and_five_cities_styles():
    prsa = pd.DataFrame({"year": [2013, 2013], "month": [3, 3], "day": [1, 1], "hour": [0, 1],
                         "TEMP": [-0.7, 10.0], "DEWP": [-18.8, 10.0], "PRES": [1023.0, 1000.0],
                         "RAIN": [0.0, 1.5], "wd": ["E", None], "WSPM": [4.0, 0.0],
                         "station": ["Dongsi", "Dongsi"]})
    m = read_point_met(prsa, "prsa")
    assert m["time"].tolist() == [pd.Timestamp("2013-02-28T16:00Z"),
                                  pd.Timestamp("2013-02-28T17:00Z")]
    assert m.loc[0, "u10"] == pytest.approx(-4.0) and m.loc[0, "v10"] == pytest.approx(0, abs=1e-9)
    assert m.loc[0, "sp"] == 102300.0 and m.loc[0, "t2m"] == pytest.approx(272.45)
    assert m.loc[1, "rh"] == pytest.approx(100.0) and m.loc[1, "u10"] == 0.0
    five = pd.DataFrame({"year": [2013] * 3, "month": [1] * 3, "day": [1] * 3, "hour": [0, 1, 2],
                         "TEMP": [2.0] * 3, "DEWP": [-4.0] * 3, "HUMI": [64.4] * 3,
                         "PRES": [1022.0] * 3, "cbwd": ["NW", "NW", "cv"],
                         "Iws": [1.79, 4.92, 0.89], "precipitation": [0.0, 0.2, 0.0]})
    f = read_point_met(five, "five_cities", station_id="chengdu_us_post")
    assert f["ws10"].tolist() == pytest.approx([1.79, 3.13, 0.89])
    assert f.loc[1, "u10"] == pytest.approx(3.13 * np.sin(np.pi / 4))  # from NW: blows to SE
    assert f.loc[2, ["u10", "v10"]].tolist() == [0.0, 0.0]
    with pytest.raises(MetReaderError, match=r"column 'cbwd': 'XX'"):
        read_point_met(five.assign(cbwd=["XX", "NW", "NW"]), "five_cities", station_id="a")
