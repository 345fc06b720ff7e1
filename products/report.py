"""Forecaster review report: one self-contained HTML page per run (opens from disk, no server).

Contents, in the order a forecaster reviews a run before the 会商:

1. the maps (3-day AQI overview, daily AQI per day, PM2.5 and O₃-8h, the exceedance
   probabilities P(AQI > 150/200/300), and the meteorology of the forecast cycle: boundary layer
   and 10-m wind, precipitation, stagnation index), inlined as PNG;
2. the table of daily AQI ranges, levels and primary pollutants per unit and day, in the form of
   the national forecast (AQI range e.g. ``155–185``, 级别 ``四级 中度污染``, 首要污染物), with the
   exceedance probabilities;
3. the warning decisions with their reasons;
4. what inputs were missing or fell back (the forecast's ``inputs`` attribute, ``method`` and
   ``fallback_reason`` per unit and pollutant);
5. how the last 30 days of forecasts verified (a scores table when given, else "no verification
   yet");
6. per unit, the last 7 days of observations and the forecast median with its 10–90 % band, over
   the AQI level bands (hourly PM2.5 and O₃, µg/m³).

Images are base64 ``data:`` URLs; the CJK font is embedded as a subset holding exactly the page's
characters (:func:`products.fonts.embedded_font_face_css`), so the file works offline and
e-mailed. Every text is escaped (Jinja2 autoescape).
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import matplotlib.dates
import matplotlib.ticker
import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.aqi import aqi_level, level_info
from airwarn.configs import AirwarnConfig
from airwarn.configs.aqi_schema import load_aqi_ruleset
from airwarn.configs.schema import Region
from airwarn.configs.warning_schema import aqi_thresholds
from airwarn.features.atomic import write_text_atomic
from airwarn.products.common import (
    WARNING_COLOURS,
    WARNING_NAMES,
    decision_dict,
    fmt_local,
    forecast_inputs,
    is_synthetic,
    issue_time_of,
    pollutant_label,
)
from airwarn.products.fonts import CSS_FAMILY, embedded_font_face_css, mpl_rc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["render_review_report", "aqi_range", "range_label", "unit_timeseries_png",
           "OBS_DAYS"]

#: Days of observations shown before the issue time.
OBS_DAYS = 7
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_MAP_TITLES = {
    "overview": "未来三天AQI级别 3-day AQI levels",
    "aqi_d1": "D+1 日AQI daily AQI", "aqi_d2": "D+2 日AQI daily AQI", "aqi_d3": "D+3 日AQI daily AQI",
    "pm25_daily": "日均PM2.5 daily mean PM2.5", "o3_mda8": "O₃日最大8小时 O₃ daily max 8-h",
    "p_aqi_gt_150": "日AQI > 150 的概率 P(daily AQI > 150)",
    "p_aqi_gt_200": "日AQI > 200 的概率 P(daily AQI > 200)",
    "p_aqi_gt_300": "日AQI > 300 的概率 P(daily AQI > 300)",
    "met_wind_blh": "气象：边界层高度与10米风 meteorology: boundary layer and 10-m wind",
    "met_precip": "气象：日降水量 meteorology: daily precipitation",
    "met_stagnation": "气象：静稳指数（风速 < 2 m/s 且边界层 < 500 m 的小时数）"
                      "meteorology: stagnation index (hours with wind < 2 m/s and BLH < 500 m)",
}


def _b64_png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def aqi_range(ds: xr.Dataset, unit: str, day: int) -> tuple[int, int] | None:
    """Forecast AQI range of a unit and day: the 25–75 % quantiles of ``aqi_daily_q`` (else
    10–90 %, else the median alone); None when the median is missing. AQI, dimensionless."""
    med = float(ds["aqi_daily"].sel(region=unit, day=day))
    if not np.isfinite(med):
        return None
    if "aqi_daily_q" in ds:
        q = ds["aqi_daily_q"].sel(region=unit, day=day)
        qs = [float(x) for x in q["quantile"].values]
        for lo_q, hi_q in ((0.25, 0.75), (0.1, 0.9)):
            if lo_q in qs and hi_q in qs:
                lo = float(q.sel(quantile=lo_q))
                hi = float(q.sel(quantile=hi_q))
                if np.isfinite(lo) and np.isfinite(hi):
                    lo, hi = min(lo, med), max(hi, med)
                    return int(np.clip(np.floor(lo), 0, 500)), int(np.clip(np.ceil(hi), 0, 500))
    return int(round(med)), int(round(med))


def range_label(lo: int, hi: int, ruleset: str, lang: str = "zh") -> tuple[str, str]:
    """级别 and 类别 text of an AQI range, national-forecast style.

    ``(155, 185)`` → ``("四级", "中度污染")``; ``(85, 115)`` → ``("二至三级", "良至轻度污染")``.
    """
    a = level_info(aqi_level(max(lo, 0), ruleset), ruleset)
    b = level_info(aqi_level(min(hi, 500), ruleset), ruleset)
    if lang == "en":
        return (f"{a.level}" if a.level == b.level else f"{a.level}–{b.level}",
                a.category_en if a.level == b.level else f"{a.category_en} to {b.category_en}")
    if a.level == b.level:
        return a.grade_zh, a.category_zh
    first = a.category_zh[:-2] if a.category_zh.endswith("污染") and b.category_zh.endswith(
        "污染") else a.category_zh
    return f"{a.grade_zh.rstrip('级')}至{b.grade_zh}", f"{first}至{b.category_zh}"


def _table(ds: xr.Dataset, ruleset: str) -> list[dict[str, Any]]:
    rows = []
    names = ds["region_name"].values if "region_name" in ds.coords else ds["region"].values
    for unit, name in zip(ds["region"].values, names, strict=True):
        cells = []
        for day in ds["day"].values:
            rng = aqi_range(ds, str(unit), int(day))
            if rng is None:
                cells.append({"range": "NA", "grade": "NA", "category": "", "primary": "NA",
                              "colour": "#FFFFFF", "dark": False, "p": ""})
                continue
            med = float(ds["aqi_daily"].sel(region=unit, day=day))
            info = level_info(aqi_level(min(max(med, 0), 500), ruleset), ruleset)
            grade, cat = range_label(*rng, ruleset)
            prim = (ds["primary_daily"].sel(region=unit, day=day).item()
                    if "primary_daily" in ds else None)
            probs = []
            for thr in aqi_thresholds():
                var = f"p_aqi_gt_{thr}"
                if var in ds:
                    p = float(ds[var].sel(region=unit, day=day))
                    if np.isfinite(p) and p >= 0.05:
                        probs.append(f"P(>{thr}) {p:.0%}")
            cells.append({
                "range": f"{rng[0]}–{rng[1]}" if rng[0] != rng[1] else str(rng[0]),
                "grade": grade, "category": cat,
                "primary": pollutant_label(prim) if med > 50 else "—",
                "colour": info.hex, "dark": info.level >= 4, "p": "  ".join(probs),
            })
        rows.append({"unit": str(name), "id": str(unit), "cells": cells})
    return rows


def _level_bands(ax: Any, key: str, ruleset: str, ymax: float) -> None:
    bps = [float(b) for b in load_aqi_ruleset(ruleset).breakpoints[key] if b is not None]
    for i in range(len(bps) - 1):
        lo, hi = bps[i], bps[i + 1]
        if lo >= ymax:
            break
        ax.axhspan(lo, min(hi, ymax), color=level_info(min(i + 1, 6), ruleset).hex, alpha=0.16,
                   lw=0, zorder=0)


def unit_timeseries_png(ds: xr.Dataset, unit: str, obs: pd.DataFrame | None,
                        ruleset: str) -> bytes:
    """PNG of one unit: hourly PM2.5 and O₃ (µg/m³), observations of the last 7 days, forecast
    median and 10–90 % band, AQI level bands behind (PM2.5 on the 24-h, O₃ on the 1-h limits)."""
    issue = pd.Timestamp(issue_time_of(ds)).tz_convert(LOCAL_TZ)
    vt = pd.DatetimeIndex(pd.to_datetime(ds["valid_time"].values))
    vt = (vt.tz_localize("UTC") if vt.tz is None else vt).tz_convert(LOCAL_TZ)
    name = str(ds["region_name"].sel(region=unit).item()) if "region_name" in ds.coords else unit
    with matplotlib.rc_context(mpl_rc()):
        fig = Figure(figsize=(11, 2.7), dpi=80)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        for ax, var, key, label in ((axes[0], "pm25", "pm25_24h", "PM2.5"),
                                    (axes[1], "o3", "o3_1h", "O₃")):
            ymax = 10.0
            if obs is not None and var in obs:
                o = obs[obs["unit_id"] == unit]
                if len(o):
                    t = pd.DatetimeIndex(pd.to_datetime(o["time"]))
                    t = (t.tz_localize("UTC") if t.tz is None else t).tz_convert(LOCAL_TZ)
                    keep = (t >= issue - pd.Timedelta(days=OBS_DAYS)) & (t <= issue)
                    vals = o[var].to_numpy(dtype=float)[keep]
                    if np.isfinite(vals).any():
                        ax.plot(t[keep], vals, color="#212121", lw=1.0, label="观测 obs")
                        ymax = max(ymax, float(np.nanmax(vals)))
            if var in ds:
                med = ds[var].sel(region=unit).values.astype(float)
                ax.plot(vt, med, color="#1565C0", lw=1.4, label="预报中位数 median")
                if np.isfinite(med).any():
                    ymax = max(ymax, float(np.nanmax(med)))
                qv = f"{var}_q"
                if qv in ds:
                    q = ds[qv].sel(region=unit)
                    qs = [float(x) for x in q["quantile"].values]
                    if 0.1 in qs and 0.9 in qs:
                        lo = q.sel(quantile=0.1).values.astype(float)
                        hi = q.sel(quantile=0.9).values.astype(float)
                        ax.fill_between(vt, lo, hi, color="#1565C0", alpha=0.22, lw=0,
                                        label="10–90 %")
                        if np.isfinite(hi).any():
                            ymax = max(ymax, float(np.nanmax(hi)))
            ymax *= 1.1
            _level_bands(ax, key, ruleset, ymax)
            ax.axvline(issue, color="#C62828", lw=0.8, ls="--")
            ax.set_ylim(0, ymax)
            ax.set_xlim(issue - pd.Timedelta(days=OBS_DAYS), vt[-1] if len(vt) else issue)
            ax.set_title(f"{name}  {label} µg/m³", fontsize=10, loc="left")
            ax.tick_params(labelsize=7.5)
            ax.xaxis.set_major_locator(matplotlib.dates.DayLocator(interval=2, tz=issue.tzinfo))
            ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%m-%d",
                                                                        tz=issue.tzinfo))
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
            ax.grid(alpha=0.3, lw=0.4)
        axes[0].legend(fontsize=7.5, loc="upper left", frameon=False)
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.88, wspace=0.14)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()


def _decisions(decisions: Sequence[Any], region: Region) -> list[dict[str, Any]]:
    out = []
    for dec in decisions:
        d = decision_dict(dec)
        names = []
        for u in d["unit_ids"]:
            try:
                names.append(region.unit(u).name)
            except KeyError:
                names.append(str(u))
        window = (f"{fmt_local(d['start'])} – {fmt_local(d['end'])}"
                  if d.get("start") and d.get("end") else "")
        zh, en = WARNING_NAMES.get(d["level"], (d["level"], d["level"]))
        out.append({
            "id": str(d["decision_id"]), "level": f"{zh} {en}", "action": str(d.get("action", "")),
            "colour": WARNING_COLOURS.get(d["level"], "#B0BEC5"), "units": "、".join(names),
            "window": window, "trigger": str(d.get("trigger", "")),
            "reason_zh": str(d.get("reason_zh") or ""), "reason_en": str(d.get("reason_en") or ""),
            "primary": pollutant_label(d.get("primary_pollutant")),
            "degraded": [str(x) for x in d.get("degraded_inputs") or []],
            "override": "" if not d.get("override") else str(d["override"]),
            "orders": len(d.get("control_orders") or []),
            "references": [str(r) for r in d.get("references") or []],
        })
    return out


def _provenance(ds: xr.Dataset) -> list[dict[str, str]]:
    if "method" not in ds:
        return []
    rows = []
    names = ds["region_name"].values if "region_name" in ds.coords else ds["region"].values
    method = ds["method"]
    reason = ds.get("fallback_reason")
    pols = [str(p) for p in method["pollutant"].values] if "pollutant" in method.dims else [""]
    for i in range(ds.sizes["region"]):
        for j, pol in enumerate(pols):
            m = method.isel(region=i, pollutant=j).item() if pol else method.isel(region=i).item()
            r = ""
            if reason is not None:
                rr = reason.isel(region=i)
                if "pollutant" in rr.dims:
                    rr = rr.isel(pollutant=j)
                r = "" if rr.item() is None else str(rr.item())
            if str(m) != "lightgbm" or r:
                rows.append({"unit": str(names[i]), "pollutant": pollutant_label(pol) if pol else "",
                             "method": str(m), "reason": r})
    return rows


def _inputs(ds: xr.Dataset) -> list[tuple[str, str]]:
    rows = []
    for k, v in forecast_inputs(ds).items():
        if isinstance(v, list | tuple):
            v = ", ".join(map(str, v)) if v else "—"
        elif isinstance(v, dict):
            v = "; ".join(f"{a}: {b}" for a, b in v.items()) or "—"
        rows.append((str(k), str(v)))
    return rows


def _scores(scores: pd.DataFrame | None) -> dict[str, Any] | None:
    if scores is None or len(scores) == 0:
        return None
    df = scores.copy()
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        df = df.reset_index()
    cols = [str(c) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False):
        rows.append([f"{x:.3g}" if isinstance(x, float | np.floating) else str(x) for x in rec])
    return {"columns": cols, "rows": rows}


def render_review_report(forecast_ds: xr.Dataset, decisions: Sequence[Any],
                         obs_units: pd.DataFrame | None, out_path: Path | str, *,
                         scores: pd.DataFrame | None = None, config: AirwarnConfig,
                         maps: Sequence[Path] | None = None, units: Sequence[str] | None = None
                         ) -> Path:
    """Write the forecaster review report (one self-contained HTML file), atomically.

    Parameters
    ----------
    forecast_ds : xr.Dataset
        The run's forecast file (docs/INTERFACES.md).
    decisions : sequence of WarningDecision or dict
        The run's warning decisions.
    obs_units : DataFrame or None
        Unit observations ``time`` (UTC), ``unit_id``, ``pm25``, ``o3`` (µg/m³), e.g. from
        ``features.aggregate.stations_to_units``; at least the last 7 days before the issue time.
    out_path : path-like
        HTML file to write.
    scores : DataFrame, optional
        Verification of the last 30 days (any columns, e.g. from ``models.verify``); absent →
        "no verification yet".
    config : configs.AirwarnConfig
    maps : sequence of Path, optional
        Map PNGs already rendered for the run (``products.maps.render_run_maps``); when None
        they are rendered into a temporary directory.
    units : sequence of str, optional
        Units whose time series are shown (default: every unit of the forecast).

    Returns
    -------
    Path
    """
    from airwarn.products.maps import render_run_maps

    ruleset = str(forecast_ds.attrs.get("ruleset") or "HJ633_2026")
    issue = issue_time_of(forecast_ds)
    with tempfile.TemporaryDirectory(prefix="airwarn-report-") as tmp:
        map_paths = list(maps) if maps is not None else render_run_maps(
            forecast_ds, decisions, config.region, Path(tmp))
        order = list(_MAP_TITLES)
        map_paths = sorted(map_paths, key=lambda p: order.index(p.stem) if p.stem in order else 99)
        images = [{"title": _MAP_TITLES.get(p.stem, p.stem), "src": _b64_png(Path(p).read_bytes())}
                  for p in map_paths]
    series = [{"unit": str(u), "src": _b64_png(unit_timeseries_png(forecast_ds, str(u), obs_units,
                                                                   ruleset))}
              for u in (units if units is not None else forecast_ds["region"].values)]
    levels = [level_info(lv, ruleset) for lv in range(1, 7)]
    ctx = {
        "title": f"成渝地区空气质量预报会商材料 {fmt_local(issue)}",
        "issued": fmt_local(issue), "issued_en": fmt_local(issue, "en"),
        "model_version": str(forecast_ds.attrs.get("model_version", "?")),
        "ruleset": ruleset, "source": str(forecast_ds.attrs.get("source", "")),
        "demo": is_synthetic(forecast_ds.attrs.get("source")),
        "days": [str(d)[:10] for d in forecast_ds["date"].values] if "date" in forecast_ds.coords
        else [f"D+{int(d)}" for d in forecast_ds["day"].values],
        "table": _table(forecast_ds, ruleset),
        "levels": levels,
        "decisions": _decisions(decisions, config.region),
        "inputs": _inputs(forecast_ds),
        "provenance": _provenance(forecast_ds),
        "scores": _scores(scores),
        "maps": images, "series": series, "obs_days": OBS_DAYS,
        "font_family": CSS_FAMILY,
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    tpl = env.get_template("report.html.j2")
    draft = tpl.render(**ctx, font_face="")
    html = tpl.render(**ctx, font_face=embedded_font_face_css(_visible_text(draft)))
    return write_text_atomic(out_path, html)


def _visible_text(html: str) -> str:
    """Characters of a page outside its data URLs (for the font subset)."""
    import re

    return re.sub(r"data:[^\"')]+", "", html)
