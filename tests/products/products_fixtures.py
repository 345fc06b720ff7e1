"""Builders of the products tests: a forecast dataset and warning decisions with exactly the names of
docs/INTERFACES.md (the real producers are built in parallel by other engineers)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from airwarn import configs

ISSUE = pd.Timestamp("2026-12-01 15:00", tz="Asia/Shanghai")
QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9]

#: Designed daily AQI (D+1…D+3) per unit: every level and a warning episode on the Chengdu plain.
AQI = {
    "chengdu": [235, 260, 180], "deyang": [215, 230, 170], "meishan": [190, 205, 160],
    "ziyang": [172, 188, 140], "leshan": [160, 165, 120], "yaan": [95, 110, 80],
    "mianyang": [150, 160, 130], "suining": [140, 150, 115], "neijiang": [158, 176, 130],
    "zigong": [205, 318, 190], "yibin": [178, 195, 150], "luzhou": [130, 145, 110],
    "nanchong": [120, 130, 100], "guangan": [110, 120, 90], "dazhou": [125, 140, 105],
    "bazhong": [85, 95, 70], "guangyuan": [45, 55, 40],
    "cq_central": [140, 160, 120], "jiangjin": [120, 135, 100], "hechuan": [115, 128, 95],
    "yongchuan": [132, 150, 118], "bishan": [118, 130, 96], "rongchang": [145, 158, 125],
    "dazu": [128, 140, 110], "tongliang": [112, 122, 92], "tongnan": [108, 118, 90],
    "fuling": [90, 98, 76], "changshou": [92, 101, 80], "nanchuan": [60, 66, 48],
    "qijiang": [75, 82, 60], "dianjiang": [88, 96, 70],
}


def _pm25_from_aqi(aqi: np.ndarray) -> np.ndarray:
    """Inverse of the HJ 633-2026 PM2.5 24-h IAQI (piecewise linear), µg/m³."""
    bp = [0, 35, 60, 115, 150, 250, 350, 500]
    grid = [0, 50, 100, 150, 200, 300, 400, 500]
    return np.interp(aqi, grid, bp)


def make_forecast(unit_ids: list[str] | None = None, *, source: str = "synthetic demo",
                  issue: pd.Timestamp = ISSUE, with_nan_unit: str | None = None,
                  region=None) -> xr.Dataset:
    """A forecast dataset with the variables, coordinates and attributes of INTERFACES.md."""
    region = region or configs.load_region()
    ids = unit_ids or region.unit_ids
    names = [region.unit(u).name for u in ids]
    end = (issue.normalize() + pd.Timedelta(days=4))
    n_lead = int((end - issue) / pd.Timedelta(hours=1))
    lead = np.arange(1, n_lead + 1)
    valid_local = issue + pd.to_timedelta(lead, unit="h")
    valid = valid_local.tz_convert("UTC").tz_localize(None)
    dates = [(issue.normalize() + pd.Timedelta(days=d)).date().isoformat() for d in (1, 2, 3)]
    aqi = np.array([AQI.get(u, [100, 100, 100]) for u in ids], dtype=float)
    if with_nan_unit:
        aqi[ids.index(with_nan_unit)] = np.nan
    pm25_daily = _pm25_from_aqi(aqi)
    o3_mda8 = np.clip(60 + 0.2 * aqi, 0, None)
    spread = np.array([-0.25, -0.1, 0.0, 0.1, 0.25])
    # hourly: diurnal cycle around the daily mean of the local day of each lead
    day_idx = np.clip((valid_local.normalize() - issue.normalize()).days.values, 0, 3)
    daily_full = np.concatenate([pm25_daily[:, :1], pm25_daily], axis=1)  # day 0 = issue day
    hour = valid_local.hour.values
    diurnal = 1 + 0.25 * np.cos((hour - 8) / 24 * 2 * np.pi)
    pm25 = daily_full[:, day_idx] * diurnal
    o3_full = np.concatenate([o3_mda8[:, :1], o3_mda8], axis=1)
    o3 = o3_full[:, day_idx] * (0.6 + 0.5 * np.clip(np.sin((hour - 8) / 24 * 2 * np.pi), 0, None))
    q = lambda x: x[..., None] * (1 + spread)  # noqa: E731
    primary = np.where(aqi > 50, "PM2.5", "")
    primary = np.where(aqi != aqi, "", primary)
    ds = xr.Dataset(
        data_vars={
            "pm25": (("region", "lead"), pm25, {"units": "µg m-3", "long_name": "PM2.5 median"}),
            "o3": (("region", "lead"), o3, {"units": "µg m-3"}),
            "pm25_q": (("region", "lead", "quantile"), q(pm25), {"units": "µg m-3"}),
            "o3_q": (("region", "lead", "quantile"), q(o3), {"units": "µg m-3"}),
            "pm25_daily": (("region", "day"), pm25_daily, {"units": "µg m-3"}),
            "o3_mda8": (("region", "day"), o3_mda8, {"units": "µg m-3"}),
            "pm25_daily_q": (("region", "day", "quantile"), q(pm25_daily), {"units": "µg m-3"}),
            "o3_mda8_q": (("region", "day", "quantile"), q(o3_mda8), {"units": "µg m-3"}),
            "aqi_daily": (("region", "day"), aqi, {"units": "1"}),
            "aqi_daily_q": (("region", "day", "quantile"), np.round(q(aqi)), {"units": "1"}),
            "primary_daily": (("region", "day"), primary.astype(object)),
            "p_aqi_gt_150": (("region", "day"), (aqi > 150).astype(float) * 0.8),
            "p_aqi_gt_200": (("region", "day"), (aqi > 200).astype(float) * 0.7),
            "p_aqi_gt_300": (("region", "day"), (aqi > 300).astype(float) * 0.6),
            "method": (("region", "pollutant"),
                       np.array([["lightgbm", "lightgbm"]] * len(ids), dtype=object)),
            "fallback_reason": (("region", "pollutant"),
                                np.array([["", ""]] * len(ids), dtype=object)),
        },
        coords={
            "region": ids, "lead": lead, "quantile": QUANTILES, "day": [1, 2, 3],
            "pollutant": ["pm25", "o3"],
            "valid_time": ("lead", valid), "date": ("day", dates),
            "region_name": ("region", names),
        },
        attrs={
            "issue_time": issue.isoformat(), "model_version": "lgbm-2026.11-test",
            "inputs": json.dumps({"met_cycle": "2026120100", "met_age_h": 7,
                                  "obs_last": "2026-12-01T06:00Z", "missing_units": [],
                                  "missing_stations": ["1431A"]}),
            "source": source, "ruleset": "HJ633_2026",
        },
    )
    if len(ids) > 2:
        ds["method"].loc[{"region": ids[1], "pollutant": "o3"}] = "climatology"
        ds["fallback_reason"].loc[{"region": ids[1], "pollutant": "o3"}] = \
            "no O3 model for this unit: too few clean observations"
    return ds


def order(enterprise: str, unit: str, city: str, elevated: bool, stacks: list,
          measure: str = "stop", value: float = 100.0) -> dict:
    """A ControlOrder dict (INTERFACES.md fields)."""
    return {
        "enterprise_id": f"E-{unit}-{enterprise}", "enterprise_name": enterprise, "unit_id": unit,
        "city": city, "industry": "水泥熟料 cement clinker", "grade": "C", "measure": measure,
        "value": value, "transport": None, "start": "2026-12-02T00:00:00+08:00", "end": "2026-12-04T00:00:00+08:00",
        "is_elevated": elevated, "stacks": stacks,
        "reductions": {"so2": 0.41, "nox": 1.2, "pm": 0.3, "vocs": 0.0},
    }


def make_decision(level: str = "orange", action: str = "issue", *,
                  units: tuple[str, ...] = ("chengdu", "deyang", "zigong", "rongchang"),
                  decision_id: str = "cy-20261201T1500-orange-1", references: list | None = None,
                  reason_zh: str = "预计12月2日至3日成都平原及川南日AQI持续大于200。",
                  reason_en: str = "Daily AQI forecast above 200 on 2–3 December.") -> dict:
    """A WarningDecision as a dict (INTERFACES.md fields)."""
    return {
        "decision_id": decision_id, "issue_time": ISSUE.isoformat(), "unit_ids": list(units),
        "level": level, "action": action, "previous_level": "none" if action == "issue" else "yellow",
        "start": "2026-12-02T00:00:00+08:00", "end": "2026-12-04T00:00:00+08:00",
        "primary_pollutant": "PM2.5",
        "daily_aqi": {u: AQI.get(u, [100, 100, 100]) for u in units},
        "trigger": "median", "reason_zh": reason_zh, "reason_en": reason_en,
        "references": references or [], "regional": True,
        "control_orders": [
            order("川西水泥有限公司", "chengdu", "成都市", True,
                  [{"id": "DA001", "process": "熟料窑", "height_m": 80}]),
            order("德阳热电厂", "deyang", "德阳市", True, ["1#烟囱 120 m"], "limit_pct", 30),
            order("荣昌陶瓷厂", "rongchang", "重庆市", False, [], "停产 halt kiln"),
        ],
        "reduction_checks": [
            {"city": "成都市", "unit_id": "chengdu", "level": "orange", "pollutant": "nox",
             "total": 100.0, "share": 0.2, "required": 20.0, "achieved": 23.5, "gap": -3.5,
             "met": True, "example": False},
            {"city": "德阳市", "unit_id": "deyang", "level": "orange", "pollutant": "pm",
             "total": 40.0, "share": 0.2, "required": 8.0, "achieved": 5.0, "gap": 3.0,
             "met": False, "example": False}], "degraded_inputs": [], "override": None,
        "meteorology_zh": "静稳天气，地面风速小于2 m/s，边界层高度低于500 m，不利于污染物扩散。",
        "meteorology_en": "Stagnant weather: surface wind below 2 m/s, boundary layer below 500 m.",
    }


def config_copy(config):
    """A deep copy of an AirwarnConfig whose region may be edited (load_region is cached)."""
    import dataclasses

    return dataclasses.replace(config, region=config.region.model_copy(deep=True),
                               settings=config.settings.model_copy(deep=True))


def make_obs_units(unit_ids: list[str], issue: pd.Timestamp = ISSUE, days: int = 8) -> pd.DataFrame:
    """Unit observations (time UTC, unit_id, pm25, o3 µg/m³) for the days before ``issue``."""
    t = pd.date_range(issue - pd.Timedelta(days=days), issue - pd.Timedelta(hours=1), freq="h")
    rows = []
    for k, u in enumerate(unit_ids):
        base = _pm25_from_aqi(np.array(AQI.get(u, [100, 100, 100])[0], dtype=float))
        hours = np.arange(len(t))
        pm = base * (0.6 + 0.4 * hours / len(t)) * (1 + 0.2 * np.sin(hours / 24 * 2 * np.pi + k))
        o3 = 40 + 50 * np.clip(np.sin((t.hour.values - 8) / 24 * 2 * np.pi), 0, None)
        pm[5:9] = np.nan  # a gap
        rows.append(pd.DataFrame({"time": t.tz_convert("UTC"), "unit_id": u, "pm25": pm,
                                  "o3": o3}))
    return pd.concat(rows, ignore_index=True)
