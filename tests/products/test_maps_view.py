"""The forecaster's view: exceedance-probability maps (from the forecast's ``p_aqi_gt_*``) and
meteorology maps of the forecast cycle (wind and boundary layer, precipitation, stagnation index),
compared with reviewed baselines, with the classes and daily fields checked by value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.products.maps import (
    PROB_CLASSES,
    PROB_COLOURS,
    prob_class_colour,
    render_met_maps,
)
from airwarn.products.meteorology import daily_met_fields, stagnant_hours
from products_fixtures import ISSUE, make_forecast
from test_maps import _colour_pixels, _compare

from airwarn import configs

# designed cycle: 00 UTC on the issue day, 4 days hourly, 0.5° grid over the basin
REF = pd.Timestamp("2026-12-01T00:00", tz="UTC")
LAT = np.arange(34.0, 25.99, -0.5)
LON = np.arange(101.0, 111.01, 0.5)


def _cycle() -> xr.Dataset:
    """West of 105.5°E: calm (1 m/s from the north-east) under a 300 m boundary layer, every hour
    (24 stagnant hours a day). East: 6 m/s westerlies, 1500 m. Rain 2 mm/h south of 29°N on D+2
    only. The cycle ends at D+3 12:00 local, so D+3 has 13 hours only (too few: NaN)."""
    t = pd.date_range(REF, pd.Timestamp("2026-12-04T04:00", tz="UTC"), freq="h")
    shape = (len(t), len(LAT), len(LON))
    west = np.broadcast_to(LON[None, None, :] < 105.5, shape)
    local_day = (t + pd.Timedelta(hours=8)).normalize().tz_localize(None)
    d2 = np.broadcast_to(np.asarray(local_day == pd.Timestamp("2026-12-03"))[:, None, None],
                         shape)
    south = np.broadcast_to(LAT[None, :, None] < 29.0, shape)
    u = np.where(west, -0.7071, 6.0)
    v = np.where(west, -0.7071, 0.0)
    blh = np.where(west, 300.0, 1500.0)
    tp = np.where(d2 & south, 2.0, 0.0)
    dims = ("time", "latitude", "longitude")
    return xr.Dataset(
        {"u10": (dims, u, {"units": "m s-1"}), "v10": (dims, v, {"units": "m s-1"}),
         "blh": (dims, blh, {"units": "m"}), "tp": (dims, tp, {"units": "mm h-1"})},
        coords={"time": t.tz_localize(None), "latitude": LAT, "longitude": LON},
        attrs={"forecast_reference_time": REF.isoformat(), "source": "test"})


@pytest.fixture(scope="module")
def fields() -> xr.Dataset:
    return daily_met_fields(_cycle(), ISSUE)


@pytest.fixture(scope="module")
def met_maps(fields, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("met_maps")
    return render_met_maps(fields, make_forecast(), configs.load_region(), out)


def test_probability_classes() -> None:
    assert len(PROB_COLOURS) == len(PROB_CLASSES) - 1
    assert prob_class_colour(0.0) == "#FFFFFF" and prob_class_colour(0.049) == "#FFFFFF"
    assert prob_class_colour(0.05) == "#FCE4EC" and prob_class_colour(0.5) == "#E91E63"
    assert prob_class_colour(0.6) == "#AD1457" and prob_class_colour(0.8) == "#4A148C"
    assert prob_class_colour(1.0) == "#4A148C" and prob_class_colour(np.nan) == "#BDBDBD"


def test_probability_maps_draw_the_forecast_classes(rendered_maps, tmp_path: Path) -> None:
    paths, _ = rendered_maps  # render_run_maps of the 31-unit fixture (conftest)
    maps = paths[0].parent
    # fixture: P(>150) = 0.8 where the AQI > 150 (top class), P(>200) = 0.7, P(>300) = 0.6
    # (only 自贡 D+2, AQI 318)
    p150, p200, p300 = (maps / f"p_aqi_gt_{t}.png" for t in (150, 200, 300))
    swatch = _colour_pixels(p150, "#E91E63")  # a class no unit has: its colour-bar swatch only
    assert 2000 < swatch < 4000
    assert _colour_pixels(p150, "#4A148C") > 30 * swatch  # 11 units D+1, 13 D+2, 4 D+3
    assert _colour_pixels(p150, "#AD1457") < swatch + 100
    assert _colour_pixels(p200, "#AD1457") > 10 * swatch
    assert _colour_pixels(p200, "#4A148C") < swatch + 100
    # P(>300): 自贡 on D+2 only
    assert swatch + 1000 < _colour_pixels(p300, "#AD1457") < 3 * swatch
    _compare(p200, "p_aqi_gt_200.png", tmp_path)


def test_daily_met_fields_values(fields: xr.Dataset) -> None:
    assert list(fields["date"].values) == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert list(fields["hours"].values) == [24, 24, 13]
    w = {"latitude": 30.0, "longitude": 104.0}
    e = {"latitude": 30.0, "longitude": 107.0}
    d1 = fields.sel(day=1)
    assert float(d1["stagnation_h"].sel(w)) == 24 and float(d1["stagnation_h"].sel(e)) == 0
    assert float(d1["blh"].sel(w)) == 300 and float(d1["u10"].sel(e)) == pytest.approx(6.0)
    # rain: 2 mm/h × 24 h on D+2 south of 29°N, none elsewhere
    assert float(fields["tp"].sel(day=2, latitude=28.0, longitude=104.0)) == pytest.approx(48)
    assert float(fields["tp"].sel(day=1, latitude=28.0, longitude=104.0)) == 0
    assert float(fields["tp"].sel(day=2, latitude=30.0, longitude=104.0)) == 0
    # D+3 has only 13 forecast hours (00–12 local): NaN rather than a half-day statistic
    assert np.isnan(fields["stagnation_h"].sel(day=3)).all()
    assert fields["stagnation_h"].attrs["units"] == "h"
    # the index needs both conditions, and is NaN where an input is missing
    flag = stagnant_hours(np.array([1.0, 1.0, 3.0, np.nan]), np.array([0.5, 0, 0, 0]),
                          np.array([400.0, 600.0, 400.0, 400.0]))
    np.testing.assert_array_equal(flag[:3], [1.0, 0.0, 0.0])
    assert np.isnan(flag[3])


def test_met_maps_match_baselines_and_fields(met_maps: list[Path], tmp_path: Path) -> None:
    assert [p.name for p in met_maps] == ["met_wind_blh.png", "met_precip.png",
                                          "met_stagnation.png"]
    stag = met_maps[2]
    # 24 stagnant hours (top class, OrRd's darkest) in the west on D+1 and D+2
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    top = colormaps["OrRd"].resampled(7)(6)
    assert _colour_pixels(stag, to_hex(top)) > 3000
    _compare(stag, "met_stagnation.png", tmp_path)
    _compare(met_maps[0], "met_wind_blh.png", tmp_path)
