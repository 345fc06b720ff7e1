"""The bulletin's 气象条件 sentence from unit meteorology, and sampling a stored cycle file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.products.meteorology import meteorology_text, unit_met_for_issue
from products_fixtures import config_copy

from airwarn import configs


def _met(ws: float, blh_max: float, tp: float) -> pd.DataFrame:
    t = pd.date_range("2026-12-01 16:00", periods=72, freq="h", tz="UTC")
    rows = []
    for u in ("chengdu", "deyang"):
        hour = t.tz_convert("Asia/Shanghai").hour
        blh = np.where((hour >= 10) & (hour <= 16), blh_max, 150.0)
        rows.append(pd.DataFrame({"time": t, "unit_id": u, "u10": ws / np.sqrt(2),
                                  "v10": ws / np.sqrt(2), "blh": blh, "tp": tp,
                                  "t2m": 280.0, "d2m": 278.0}))
    return pd.concat(rows, ignore_index=True)


def test_stagnant_and_windy_wet_cases() -> None:
    zh, en = meteorology_text(_met(1.2, 500.0, 0.0), ["chengdu", "deyang"],
                              "2026-12-02T00:00:00+08:00", "2026-12-04T00:00:00+08:00")
    assert zh == ("预报期间平均风速1.2 m/s，100%的时次风速小于2 m/s，边界层高度日最大值平均约500 m，"
                  "基本无降水，平均相对湿度87%；静稳少动，扩散条件不利。")
    assert "poor dispersion" in en
    zh2, _ = meteorology_text(_met(5.0, 1800.0, 0.5), ["chengdu"])
    assert "平均风速5.0 m/s，0%的时次" in zh2 and "累计降水36.0 mm" in zh2
    assert zh2.endswith("扩散条件较好。")
    assert meteorology_text(_met(1.0, 500.0, 0.0), ["zigong"]) is None  # no such unit
    assert meteorology_text(None, ["chengdu"]) is None


def test_window_limits_the_hours() -> None:
    met = _met(1.0, 500.0, 0.0)
    met.loc[met["time"] >= pd.Timestamp("2026-12-03 16:00", tz="UTC"), "tp"] = 2.0
    zh, _ = meteorology_text(met, ["chengdu"], "2026-12-02T00:00:00+08:00",
                             "2026-12-04T00:00:00+08:00")
    assert "基本无降水" in zh  # the wet day (12-04 local) lies after the window


def test_unit_met_from_a_stored_cycle_file(tmp_path: Path) -> None:
    full = configs.load_config()
    keep = ["chengdu", "cq_central"]
    cfg = config_copy(full)
    cfg.region.units = [u for u in cfg.region.units if u.id in keep]
    cfg = dataclasses.replace(cfg, stations=full.stations[full.stations["sub_region"].isin(keep)])
    lat = np.arange(27.5, 33.01, 0.25)
    lon = np.arange(102.0, 108.51, 0.25)
    time = pd.date_range("2026-12-01 00:00", periods=6, freq="h")
    shape = (len(time), len(lat), len(lon))
    ds = xr.Dataset(
        {"u10": (("time", "latitude", "longitude"), np.full(shape, 1.0), {"units": "m s-1"}),
         "v10": (("time", "latitude", "longitude"), np.full(shape, 0.5), {"units": "m s-1"}),
         "blh": (("time", "latitude", "longitude"), np.full(shape, 300.0), {"units": "m"})},
        coords={"time": time, "latitude": lat, "longitude": lon},
        attrs={"forecast_reference_time": "2026-12-01T00:00:00Z", "source": "test"})
    (tmp_path / "met" / "cycles").mkdir(parents=True)
    ds.to_netcdf(tmp_path / "met" / "cycles" / "2026120100.nc")
    ds.isel(time=slice(0, 1)).to_netcdf(tmp_path / "met" / "cycles" / "2026120200.nc")  # future
    met = unit_met_for_issue(cfg, tmp_path, "2026-12-01T15:00")
    assert set(met["unit_id"]) == set(cfg.region.unit_ids)
    assert len(met) == 6 * len(cfg.region.unit_ids)  # the 12-01 00 UTC cycle, not 12-02
    assert np.allclose(met["u10"], 1.0) and np.allclose(met["blh"], 300.0)
    assert unit_met_for_issue(cfg, tmp_path, "2026-11-30T15:00") is None
