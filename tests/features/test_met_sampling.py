"""Tests for features.met_sampling: bilinear points and unit area means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.configs.schema import Region
from airwarn.features.met_sampling import sample_points, sample_units, unit_polygon
from shapely.geometry import box

from airwarn import configs


def _grid(lat, lon, f, nt=2):
    lon2, lat2 = np.meshgrid(lon, lat)
    vals = np.stack([f(lon2, lat2) + k for k in range(nt)])
    return xr.Dataset({"t2m": (("time", "latitude", "longitude"), vals, {"units": "K"})},
                      coords={"time": pd.date_range("2026-01-01", periods=nt, freq="h"),
                              "latitude": lat, "longitude": lon})


def test_bilinear_point_hand_computed():
    # corners: (104, 30)=1, (105, 30)=2, (104, 31)=3, (105, 31)=5; descending latitude as ERA5
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), [[[3.0, 5.0], [1.0, 2.0]]])},
                    coords={"time": [np.datetime64("2026-01-01")], "latitude": [31.0, 30.0],
                            "longitude": [104.0, 105.0]})
    got = sample_points(ds, [104.25], [30.5])["t2m"].values.ravel()[0]
    # bottom edge at x=0.25: 1.25; top edge: 3.5; halfway: 2.375
    assert got == pytest.approx(2.375)
    assert np.isnan(sample_points(ds, [110.0], [30.5])["t2m"].values.ravel()[0])


def test_curvilinear_points_match_regular_bilinear():
    lat = np.array([30.0, 30.5, 31.0])
    lon = np.array([103.0, 103.5, 104.0, 104.5])
    reg = _grid(lat, lon, lambda x, y: 2 * x + 3 * y * x, nt=1)
    lon2, lat2 = np.meshgrid(lon, lat)
    curv = xr.Dataset({"t2m": (("time", "y", "x"), reg["t2m"].values)},
                      coords={"time": reg["time"], "latitude": (("y", "x"), lat2),
                              "longitude": (("y", "x"), lon2)})
    a = sample_points(reg, [103.2, 104.1], [30.7, 30.1])["t2m"].values
    b = sample_points(curv, [103.2, 104.1], [30.7, 30.1])["t2m"].values
    np.testing.assert_allclose(a, b, rtol=1e-9)


def _two_unit_region() -> Region:
    base = {"province": "sichuan", "group": "g", "code": "510100", "ladder": "x"}
    return Region.model_validate({"name": "t", "name_en": "t", "units": [
        {**base, "id": "square", "name": "方", "name_en": "Square",
         "centroid": {"lat": 30.5, "lon": 104.5}},
        {**base, "id": "tiny", "name": "小", "name_en": "Tiny",
         "centroid": {"lat": 30.3, "lon": 104.3}},
    ]})


def test_polygon_mean_hand_computed_and_point_fallback():
    lat = np.array([30.0, 30.5, 31.0, 31.5])
    lon = np.array([104.0, 104.5, 105.0, 105.5])
    ds = _grid(lat, lon, lambda x, y: x + 10 * y)
    polys = {"square": box(103.9, 29.9, 104.6, 30.6),  # cells (104,30) (104.5,30) (104,30.5) (104.5,30.5)
             "tiny": box(104.29, 30.29, 104.31, 30.31)}  # no cell centre inside → point
    region = _two_unit_region()
    df = sample_units(ds, region, polygons=polys)
    first = df[df["time"] == df["time"].min()].set_index("unit_id")
    c0, c1 = np.cos(np.deg2rad(30.0)), np.cos(np.deg2rad(30.5))
    expect = (c0 * (104 + 300) + c0 * (104.5 + 300) + c1 * (104 + 305) + c1 * (104.5 + 305)) / \
        (2 * c0 + 2 * c1)
    assert first.loc["square", "t2m"] == pytest.approx(expect)
    assert df.attrs["method"] == {"square": "polygon", "tiny": "points"}
    assert list(df.columns) == ["time", "unit_id", "t2m"]
    assert first.loc["tiny", "t2m"] == pytest.approx(104.3 + 303.0)  # bilinear exact for linear f
    later = df[df["time"] == df["time"].max()].set_index("unit_id")
    assert later.loc["square", "t2m"] == pytest.approx(expect + 1)
    assert str(df["time"].dt.tz) == "UTC"
    stations = pd.DataFrame({"station_id": ["a", "b"], "sub_region": ["tiny", "tiny"],
                             "lon": [104.0, 105.0], "lat": [30.0, 30.0]})
    pts = sample_units(ds, region, stations, method="points", polygons=polys)
    assert pts.set_index("unit_id").loc["tiny", "t2m"].iloc[0] == pytest.approx(104.5 + 300)


def test_real_unit_polygons_from_cnmaps():
    region = configs.load_region()
    chengdu = unit_polygon(region.unit("chengdu"))
    assert chengdu is not None and chengdu.contains(__import__("shapely").Point(104.07, 30.67))
    assert unit_polygon(region.unit("cq_central")).area > unit_polygon(region.unit("bishan")).area
    ds = _grid(np.arange(32.0, 29.0, -0.1), np.arange(102.5, 105.5, 0.1), lambda x, y: x, nt=1)
    one = {**region.unit("chengdu").model_dump(), "neighbours": []}
    df = sample_units(ds, Region.model_validate({**region.model_dump(), "units": [one]}))
    # area mean of longitude over Chengdu ≈ its centroid longitude (103.83, pre-2016 boundary)
    assert df.attrs["method"] == {"chengdu": "polygon"}
    assert df.loc[0, "t2m"] == pytest.approx(103.9, abs=0.15)


def test_curvilinear_polygon_mean_matches_regular():
    lat = np.array([30.0, 30.5, 31.0, 31.5])
    lon = np.array([104.0, 104.5, 105.0, 105.5])
    reg = _grid(lat, lon, lambda x, y: x + 10 * y)
    lon2, lat2 = np.meshgrid(lon, lat)
    curv = xr.Dataset({"t2m": (("time", "y", "x"), reg["t2m"].values)},
                      coords={"time": reg["time"], "latitude": (("y", "x"), lat2),
                              "longitude": (("y", "x"), lon2)})
    polys = {"square": box(103.9, 29.9, 104.6, 30.6), "tiny": box(104.29, 30.29, 104.31, 30.31)}
    a = sample_units(reg, _two_unit_region(), polygons=polys)
    b = sample_units(curv, _two_unit_region(), polygons=polys)
    np.testing.assert_allclose(a["t2m"].to_numpy(), b["t2m"].to_numpy(), rtol=1e-9)
    assert b.attrs["method"] == {"square": "polygon", "tiny": "points"}
