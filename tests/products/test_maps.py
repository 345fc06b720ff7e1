"""Maps: offline (network blocked, empty cartopy data dir), compared with reviewed baselines."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from airwarn.configs.schema import LatLon, Unit
from airwarn.products import geo
from airwarn.products.maps import advised_units, render_aqi_map, warned_units
from matplotlib.testing.compare import compare_images
from PIL import Image
from products_fixtures import make_decision, make_forecast

from airwarn import configs

BASELINE = Path(__file__).parent / "baseline"
TOL = 15.0  # RMS, 0–255


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during map rendering")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _compare(actual: Path, name: str, tmp_path: Path) -> None:
    expected = BASELINE / name
    if not expected.exists():  # first run: keep the candidate for review, then fail
        shutil.copy(actual, tmp_path / f"candidate-{name}")
        pytest.fail(f"missing baseline {expected}; review {tmp_path / f'candidate-{name}'}")
    err = compare_images(str(expected), str(actual), tol=TOL)
    assert err is None, err


def _colour_pixels(png: Path, hex_colour: str) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).sum(axis=1) < 6).sum())


def test_run_maps_offline_match_baselines(tmp_path: Path, rendered_maps) -> None:
    paths, cartopy_dir = rendered_maps  # rendered with the network blocked (conftest)
    assert [p.name for p in paths] == ["aqi_d1.png", "aqi_d2.png", "aqi_d3.png",
                                       "pm25_daily.png", "o3_mda8.png", "overview.png",
                                       "p_aqi_gt_150.png", "p_aqi_gt_200.png",
                                       "p_aqi_gt_300.png"]
    assert list(cartopy_dir.iterdir()) == []  # cartopy fetched nothing
    maps = paths[0].parent
    d2 = maps / "aqi_d2.png"
    # D+2: every level from 优 to 严重 appears (designed fixture), and the orange warning edge
    for colour in ("#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023", "#FF8F00"):
        assert _colour_pixels(d2, colour) > 40, colour
    # D+3 is after the warning window (ends 12-04 00:00): no orange edge pixels there
    assert _colour_pixels(maps / "aqi_d3.png", "#FF8F00") < _colour_pixels(d2, "#FF8F00") / 10
    _compare(d2, "aqi_d2.png", tmp_path)
    _compare(maps / "overview.png", "overview.png", tmp_path)
    _compare(maps / "pm25_daily.png", "pm25_daily.png", tmp_path)


def test_warned_units_by_date() -> None:
    dec = make_decision(level="orange", units=("chengdu", "deyang"))
    lifted = make_decision(level="none", action="lift", units=("zigong",), decision_id="x")
    yellow = make_decision(level="yellow", units=("chengdu", "meishan"), decision_id="y")
    assert warned_units([dec, lifted, yellow], "2026-12-02") == {
        "chengdu": "orange", "deyang": "orange", "meishan": "yellow"}
    assert warned_units([dec], "2026-12-04") == {}  # window ends 12-04 00:00
    assert warned_units([dec], "2026-12-01") == {}
    adv = make_decision(level="none", action="advisory", units=("dazu",), decision_id="a")
    assert warned_units([adv], "2026-12-02") == {}  # advice is not a colour warning
    assert advised_units([dec, adv], "2026-12-02") == {"dazu"}


def test_units_polygons_and_seat_fallback(tmp_path: Path, offline_cartopy: Path,
                                          no_network: None) -> None:
    region = configs.load_region()
    # 中心城区 = union of its 9 districts: bigger than 渝中区 alone, and contains its seat
    central = geo.unit_geometry(region.unit("cq_central"))
    assert central is not None and central.area > 0.4
    assert central.contains(geo.seat_point(region.unit("cq_central")))
    assert geo.unit_geometry(region.unit("qijiang")).contains(
        geo.seat_point(region.unit("qijiang")))
    fake = Unit(id="nowhere", name="无此区", name_en="Nowhere", province="chongqing",
                group="渝西地区", code="500199", centroid=LatLon(lat=29.2, lon=107.8))
    assert geo.unit_geometry(fake) is None
    small = region.model_copy(update={"units": [region.unit("chengdu"), fake]})
    ds = make_forecast(["chengdu", "nowhere"], region=small)
    png = render_aqi_map(ds, 1, [make_decision(units=("nowhere",))], small,
                         tmp_path / "fallback.png")
    # the marker at the seat is drawn with the level colour (AQI 100 → 良, yellow)
    assert _colour_pixels(png, "#FFFF00") > 50
