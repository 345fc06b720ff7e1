"""The monthly 会商 (joint consultation) verification report: HTML (self-contained) and PDF.

``render_monthly_report(month, …)`` scores a month of forecasts (:func:`models.verify.verify_archive`
over the forecast archive of a data directory, or over a backtest NetCDF plus observations) and
renders the report forecasters bring to the monthly 川渝 consultation: score tables with
block-bootstrap intervals, skill by lead, the performance diagram, the reliability diagram, scores
by sub-region on a map, the month's daily series at D+1/D+2/D+3 for the key units, the warnings
issued and how they verified, data availability and the model versions used. Figures are PNG
inlined as base64, so the HTML is one file; the PDF is rendered from the same HTML by WeasyPrint
(:func:`products.bulletin.write_pdf`) with the shipped CJK font (:mod:`products.fonts`).

Headings are Chinese with English beside them ("均方根误差 RMSE"). Units: concentrations µg/m³,
AQI dimensionless, scores as in :mod:`models.verify.scores`.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import io
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.configs.schema import Region
from airwarn.models.verify import ALL, VerificationResult, verify_archive
from markupsafe import Markup, escape

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_OFFSET_H, LOCAL_TZ, LOCAL_ZONE

__all__ = ["SCORE_LABELS", "month_period", "read_obs_source", "build_monthly_result",
           "monthly_figures", "monthly_report_html", "render_monthly_report"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Score column → (中文, English) label used in table heads.
SCORE_LABELS: dict[str, tuple[str, str]] = {
    "n": ("样本数", "N"),
    "mb": ("平均偏差", "MB"), "mae": ("平均绝对误差", "MAE"), "rmse": ("均方根误差", "RMSE"),
    "r": ("相关系数", "r"), "nmb": ("标准化平均偏差", "NMB"), "nme": ("标准化平均误差", "NME"),
    "ioa": ("一致性指数", "IOA"),
    "skill_persistence": ("相对持续性技巧", "skill vs persistence"),
    "skill_climatology": ("相对气候态技巧", "skill vs climatology"),
    "level_accuracy": ("AQI级别准确率", "level accuracy"),
    "exact_level_accuracy": ("级别完全一致率", "exact level"),
    "within_one_level": ("级别误差≤1级", "within one level"),
    "range_accuracy": ("AQI范围准确率", "range accuracy"),
    "half_level_accuracy": ("半级准确率", "half-level accuracy"),
    "primary_accuracy": ("首要污染物准确率", "primary-pollutant accuracy"),
    "pod": ("命中率", "POD"), "far": ("空报率", "FAR (false-alarm ratio)"),
    "pofd": ("误报概率", "POFD (false-alarm rate)"), "sr": ("成功率", "success ratio"),
    "csi": ("临界成功指数", "CSI"), "fbias": ("频率偏差", "frequency bias"),
    "ets": ("公平技巧评分", "ETS"), "hss": ("海德克技巧评分", "HSS"),
    "pss": ("皮尔斯技巧评分", "PSS"),
    "crps": ("连续分级概率评分", "CRPS"), "coverage": ("区间覆盖率", "interval coverage"),
    "brier": ("布赖尔评分", "Brier score"), "bss": ("布赖尔技巧评分", "BSS"),
}
_VAR_LABELS = {"pm25": "PM2.5 日均 daily mean (µg/m³)", "o3_mda8": "O3 日最大8小时 MDA8 (µg/m³)",
               "aqi": "日AQI daily AQI", "o3": "O3 小时 hourly (µg/m³)",
               "pm25_h": "PM2.5 小时 hourly (µg/m³)"}
_LEVEL_ZH = {"yellow": "黄色 yellow", "orange": "橙色 orange", "red": "红色 red", "blue": "蓝色 blue"}


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def month_period(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last local day (naive dates) of ``YYYY-MM``.

    Raises
    ------
    ValueError
        ``month`` is not ``YYYY-MM``.
    """
    try:
        y, m = (int(x) for x in month.split("-"))
        last = calendar.monthrange(y, m)[1]
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"month {month!r}: expected YYYY-MM, e.g. 2026-01") from None
    return pd.Timestamp(y, m, 1), pd.Timestamp(y, m, last)


def read_obs_source(path: str | Path, stations: pd.DataFrame | None, unit_ids: Sequence[str],
                    start: Any, end: Any) -> pd.DataFrame:
    """Hourly unit observations from a data directory (its store), or a Parquet / CSV file.

    Parameters
    ----------
    path : path
        A data directory with ``obs/``; or a table with ``time`` (UTC, or tz-aware) and either
        ``unit_id`` (already per unit) or ``station_id`` (canonical station observations).
    stations : pandas.DataFrame or None
        Station table for aggregating stations to units.
    unit_ids : sequence of str
        The forecast regions.
    start, end : datetime-like
        Tz-aware UTC bounds.

    Raises
    ------
    ValueError
        Unreadable file or missing columns (names the file).
    """
    from airwarn.models.verify.match import load_obs_units, units_from_stations

    p = Path(path)
    if p.is_dir():
        return load_obs_units(p, start, end, stations, unit_ids)
    if p.suffix in (".yaml", ".yml"):
        tab = _domain(p)[0]
        t = pd.DatetimeIndex(tab["time"])
        return tab[(t >= pd.Timestamp(start)) & (t <= pd.Timestamp(end))].reset_index(drop=True) \
            .copy()
    try:
        tab = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p}: cannot read observations: {exc}") from None
    if "time" not in tab.columns or not ({"unit_id", "station_id"} & set(tab.columns)):
        raise ValueError(f"{p}: expected columns 'time' and 'unit_id' or 'station_id'; "
                         f"got {list(tab.columns)[:10]}")
    t = pd.to_datetime(tab["time"], utc=True)
    tab = tab.assign(time=t)[(t >= pd.Timestamp(start)) & (t <= pd.Timestamp(end))]
    if "unit_id" in tab.columns:
        return tab.assign(unit_id=tab["unit_id"].astype(str))
    return units_from_stations(tab, stations, unit_ids)


def _domain(path: Path) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
    """Unit observations and unit points (lon, lat degrees, name) of a backtest domain file
    (``configs/domains/*.yaml``): its stations, or its sub-regions when it has them."""
    p = Path(path).resolve()
    return _domain_cached(str(p), p.stat().st_mtime if p.exists() else 0.0)


@lru_cache(maxsize=2)
def _domain_cached(path: str, mtime: float) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
    from airwarn.configs.model_schema import load_domain
    from airwarn.models.backtest import load_domain_data

    dom = load_domain(path)
    try:
        data = load_domain_data(dom)
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: {exc}") from None
    # the units forecasts are verified for (a domain's sub-regions, when it has them)
    obs_units, geometry, names = data.verification
    points = {u: [lon, lat, names.get(u, u)] for u, (lat, lon) in geometry.points.items()}
    return obs_units, points


def build_monthly_result(month: str, *, data_dir: str | Path | None = None,
                         backtest: str | Path | None = None, obs: str | Path | None = None,
                         config: AirwarnConfig | None = None, bootstrap: bool = True
                         ) -> VerificationResult:
    """Verification of one month: a data directory's forecast archive, or a backtest + obs.

    Parameters
    ----------
    month : str
        ``YYYY-MM`` (local calendar month of the valid dates).
    data_dir : path, optional
        Data directory (forecasts/, obs/, warnings/). Default: ``configs.data_dir()``.
    backtest : path, optional
        Backtest NetCDF (``issue_time`` leading dim) instead of the archive.
    obs : path, optional
        Observation source for the backtest (see :func:`read_obs_source`); default the data
        directory's store.
    config : configs.AirwarnConfig, optional
    bootstrap : bool
    """
    from airwarn.models.verify.match import read_forecast_archive

    from airwarn import configs

    p0, p1 = month_period(month)
    if config is None:
        try:
            config = configs.load_config()
        except configs.ConfigError:
            config = None
    region = config.region if config is not None else None
    stations = config.stations if config is not None else None
    ddir = Path(data_dir) if data_dir is not None else (configs.data_dir())
    if backtest is None:
        return verify_archive(ddir, period=(p0, p1), region=region, stations=stations,
                              bootstrap=bootstrap)
    fc = read_forecast_archive(backtest)
    units = [str(r) for r in fc["region"].values]
    t0 = (p0 - pd.Timedelta(days=5)).tz_localize(LOCAL_TZ).tz_convert("UTC")
    t1 = (p1 + pd.Timedelta(days=1)).tz_localize(LOCAL_TZ).tz_convert("UTC")
    src = obs if obs is not None else ddir
    obs_units = read_obs_source(src, stations, units, t0, t1)
    from airwarn.configs.verification_schema import load_verification

    hist_days = load_verification().climatology.history_days
    h0 = t0 - pd.Timedelta(days=hist_days)
    hist = read_obs_source(src, stations, units, h0, t0 - pd.Timedelta(hours=1)) if hist_days else None
    res = verify_archive(fc, obs_units, region=region, period=(p0, p1), bootstrap=bootstrap,
                         clim_obs=hist if hist is not None and len(hist) else None)
    if obs is not None and Path(obs).suffix in (".yaml", ".yml"):
        res.meta["points"] = {u: v for u, v in _domain(Path(obs))[1].items() if u in units}
        res.meta["source_obs"] = str(obs)
    return res


def model_cards(data_dir: str | Path, versions: Sequence[str]) -> list[dict[str, Any]]:
    """Model cards (``<data_dir>/models/<pollutant>/<version>/card.json``) of the versions used.

    Parameters
    ----------
    data_dir : path
    versions : sequence of str
        ``model_version`` attributes of the forecasts (comma-joined lists allowed).

    Returns
    -------
    list of dict
        ``pollutant``, ``version``, ``created``, ``library`` (LightGBM version), ``card`` (path);
        unreadable cards are listed with an ``error``.
    """
    import json

    used = {v.strip() for vs in versions for v in str(vs).split(",") if v.strip()}
    out = []
    for card in sorted(RunStore(data_dir).models_dir.glob("*/*/card.json")):
        if card.parent.name not in used and not any(card.parent.name in u for u in used):
            continue
        try:
            c = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            out.append({"pollutant": card.parent.parent.name, "version": card.parent.name,
                        "card": str(card), "error": str(exc)})
            continue
        out.append({"pollutant": c.get("pollutant", card.parent.parent.name),
                    "version": c.get("version", card.parent.name), "created": c.get("created", ""),
                    "library": (c.get("library_versions") or {}).get("lightgbm", ""),
                    "card": str(card)})
    return out


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def _rc() -> tuple[dict[str, Any], bool]:
    """matplotlib rc for Chinese text (shipped CJK font), and whether it is available."""
    try:
        from airwarn.products.fonts import mpl_rc

        return mpl_rc(), True
    except (ImportError, FileNotFoundError):
        return {}, False


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _lbl(zh: str, en: str, cjk: bool) -> str:
    return f"{zh} {en}" if cjk else en


def fig_skill_by_lead(res: VerificationResult, cjk: bool = True) -> str | None:
    """RMSE (with bootstrap band) and skill vs persistence / climatology by lead hour, ALL units."""
    import matplotlib.pyplot as plt

    t = res.tables.get("continuous_hourly", pd.DataFrame())
    if t.empty:
        return None
    t = t[t["group"] == ALL]
    pols = [p for p in ("pm25", "o3") if p in set(t["variable"])]
    fig, axes = plt.subplots(2, len(pols), figsize=(5.2 * len(pols), 6.2), squeeze=False,
                             sharex=True)
    for j, p in enumerate(pols):
        s = t[t["variable"] == p].sort_values("lead")
        ax = axes[0, j]
        ax.plot(s["lead"], s["rmse"], color="#1565c0", label="RMSE")
        if "rmse_lo" in s:
            ax.fill_between(s["lead"], s["rmse_lo"], s["rmse_hi"], color="#1565c0", alpha=0.2,
                            label=_lbl("90%置信区间", "90% CI", cjk))
        ax.plot(s["lead"], s["mae"], color="#6a1b9a", lw=1, label="MAE")
        ax.set_title(f"{'PM2.5' if p == 'pm25' else 'O3'} — " + _lbl("均方根误差", "RMSE", cjk)
                     + " (µg/m³)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax2 = axes[1, j]
        ax2.plot(s["lead"], s["skill_persistence"], color="#2e7d32",
                 label=_lbl("相对持续性", "vs persistence", cjk))
        ax2.plot(s["lead"], s["skill_climatology"], color="#ef6c00",
                 label=_lbl("相对气候态", "vs climatology", cjk))
        for k in ("skill_persistence", "skill_climatology"):
            if f"{k}_lo" in s:
                ax2.fill_between(s["lead"], s[f"{k}_lo"], s[f"{k}_hi"], alpha=0.12,
                                 color="#2e7d32" if k == "skill_persistence" else "#ef6c00")
        ax2.axhline(0, color="k", lw=0.8)
        ax2.set_xlabel(_lbl("预见期", "lead (h)", cjk))
        ax2.set_ylabel(_lbl("技巧", "skill 1 − RMSE/RMSE_ref", cjk))
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
        for d in (24, 48, 72):
            for a in (ax, ax2):
                a.axvline(d, color="#999", lw=0.6, ls=":")
    return _png(fig)


def fig_performance_diagram(res: VerificationResult, cjk: bool = True) -> str | None:
    """Performance diagram (Roebber 2009): POD vs success ratio, CSI contours, bias lines."""
    import matplotlib.pyplot as plt

    t = res.tables.get("categorical", pd.DataFrame())
    if t.empty:
        return None
    t = t[(t["group"] == ALL) & (t["a"] + t["c"] > 0) & (t["a"] + t["b"] > 0)]
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    sr = np.linspace(0.01, 1, 200)
    pod = np.linspace(0.01, 1, 200)
    S, P = np.meshgrid(sr, pod)
    csi = 1.0 / (1.0 / S + 1.0 / P - 1.0)
    cs = ax.contour(S, P, csi, levels=np.arange(0.1, 1.0, 0.1), colors="#9e9e9e", linewidths=0.7)
    ax.clabel(cs, fmt="%.1f", fontsize=7)
    for b in (0.3, 0.5, 0.8, 1.0, 1.3, 2.0, 3.0, 5.0):
        x = np.linspace(0.01, 1, 100)
        y = b * x
        ok = y <= 1
        ax.plot(x[ok], y[ok], color="#bdbdbd", ls="--", lw=0.7)
        xe = min(1.0, 1.0 / b)
        ax.text(xe, min(1.0, b * xe), f"{b:g}", fontsize=7, color="#757575", ha="left",
                va="bottom")
    markers = {1: "o", 2: "s", 3: "^"}
    colours = plt.get_cmap("tab10")
    for k, ev in enumerate(dict.fromkeys(t["event"])):
        s = t[t["event"] == ev]
        for _, r in s.iterrows():
            ax.scatter(r["sr"], r["pod"], marker=markers.get(int(r["lead_day"]), "o"),
                       color=colours(k % 10), s=55, edgecolor="k", lw=0.5, zorder=3)
        lab = s["label_zh"].iloc[0] if cjk else ev
        ax.plot(s["sr"], s["pod"], color=colours(k % 10), lw=1, label=lab)
    for d, mk in markers.items():
        ax.scatter([], [], marker=mk, color="w", edgecolor="k", label=f"D+{d}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(_lbl("成功率", "success ratio (1 − FAR)", cjk))
    ax.set_ylabel(_lbl("命中率", "probability of detection (POD)", cjk))
    ax.set_title(_lbl("性能图", "performance diagram — CSI contours, bias dashed", cjk))
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def fig_reliability(res: VerificationResult, cjk: bool = True) -> str | None:
    """Reliability diagram of the exceedance probabilities ``p_aqi_gt_*`` (all lead days pooled)."""
    import matplotlib.pyplot as plt

    t = res.tables.get("reliability", pd.DataFrame())
    if t.empty:
        return None
    t = t[(t["lead_day"] == 0) & (t["count"] > 0)]
    if t.empty:
        return None
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(6.0, 6.6), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--", label=_lbl("完全可靠", "perfect", cjk))
    width = float((t["bin_upper"] - t["bin_lower"]).iloc[0])
    evs = list(dict.fromkeys(t["event"]))
    for k, ev in enumerate(evs):
        s = t[t["event"] == ev]
        ax.plot(s["mean_prob"], s["obs_freq"], marker="o", label=ev)
        axh.bar(s["bin_lower"] + width * (k + 0.5) / len(evs), s["count"], width=width / len(evs),
                label=ev)
    ax.set_ylabel(_lbl("观测频率", "observed frequency", cjk))
    ax.set_title(_lbl("可靠性图", "reliability diagram (P(daily AQI > X))", cjk))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    axh.set_yscale("log")
    axh.set_xlabel(_lbl("预报概率", "forecast probability", cjk))
    axh.set_ylabel(_lbl("样本数", "count", cjk))
    return _png(fig)


def _fill(ax: Any, geom: Any, **kw: Any) -> None:
    for poly in getattr(geom, "geoms", [geom]):
        if hasattr(poly, "exterior"):
            x, y = poly.exterior.xy
            ax.fill(x, y, **kw)


def fig_unit_map(res: VerificationResult, variable: str = "pm25", lead_day: int = 1,
                 cjk: bool = True, region: Region | None = None) -> str | None:
    """Map of the daily RMSE at one lead day (µg/m³) per unit.

    With the region configuration the units are filled polygons (``products.geo.unit_geometries``,
    offline cnmaps boundaries) with the Sichuan–Chongqing border; otherwise (benchmark stations)
    points at ``meta["points"]`` (lon, lat in degrees).
    """
    import matplotlib.pyplot as plt
    from matplotlib import colors as mcolors

    t = res.tables.get("continuous_daily", pd.DataFrame())
    pts = res.meta.get("points") or {}
    if t.empty or not pts:
        return None
    s = t[(t["variable"] == variable) & (t["lead_day"] == lead_day) & t["group"].isin(list(pts))]
    s = s[np.isfinite(s["rmse"].astype(float))]
    if s.empty:
        return None
    vals = dict(zip(s["group"], s["rmse"].astype(float), strict=True))
    cmap = plt.get_cmap("YlOrRd")
    norm = mcolors.Normalize(vmin=min(vals.values()), vmax=max(vals.values()) + 1e-9)
    fig, ax = plt.subplots(figsize=(7.4, 5.6))
    geoms: dict[str, Any] = {}
    if region is not None and set(vals) & set(region.unit_ids):
        try:
            from airwarn.products.geo import provincial_border, unit_geometries

            geoms = {u: g for u, g in unit_geometries(region).items() if g is not None}
            for u, g in geoms.items():
                _fill(ax, g, facecolor=cmap(norm(vals[u])) if u in vals else "#eeeeee",
                      edgecolor="#616161", linewidth=0.4)
            border = provincial_border()
            for line in getattr(border, "geoms", [border]):
                if hasattr(line, "xy"):
                    ax.plot(*line.xy, color="#263238", lw=1.2)
        except (ImportError, OSError, ValueError):  # boundaries unavailable: points only
            geoms = {}
    lon = [float(pts[u][0]) for u in vals]
    lat = [float(pts[u][1]) for u in vals]
    if not geoms:
        ax.scatter(lon, lat, c=list(vals.values()), cmap=cmap, norm=norm, s=140, edgecolor="k",
                   lw=0.6, zorder=3)
    for x, y, u in zip(lon, lat, vals, strict=True):
        ax.annotate(f"{pts[u][2] if cjk else u}\n{vals[u]:.0f}", (x, y),
                    xytext=(0, 0) if geoms else (7, 5), textcoords="offset points", fontsize=6.5,
                    ha="center" if geoms else "left", va="center", zorder=4)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                 label=_lbl("均方根误差", f"RMSE D+{lead_day} (µg/m³)", cjk))
    ax.set_xlabel(_lbl("经度", "longitude (°E)", cjk))
    ax.set_ylabel(_lbl("纬度", "latitude (°N)", cjk))
    ax.set_title(_lbl("分区域评分", f"{variable} daily RMSE by unit, D+{lead_day}", cjk))
    ax.set_aspect(1.0 / math.cos(math.radians(float(np.mean(lat)))))
    ax.margins(0.05)
    ax.grid(alpha=0.3)
    return _png(fig)


def key_units(res: VerificationResult, n: int) -> list[str]:
    """Units with the most observed daily AQI > 150 days in the month (then highest mean AQI)."""
    s = res.tables.get("daily_series", pd.DataFrame())
    if s.empty:
        return []
    a = s[(s["variable"] == "aqi") & (s["lead_day"] == s["lead_day"].min())]
    if a.empty:
        a = s[s["lead_day"] == s["lead_day"].min()]
    g = a.groupby("unit_id")["observed"]
    rank = pd.DataFrame({"n150": g.apply(lambda x: int((x > 150).sum())), "mean": g.mean()})
    return list(rank.sort_values(["n150", "mean"], ascending=False).index[:n])


def fig_series(res: VerificationResult, units: Sequence[str], variable: str = "pm25",
               names: dict[str, str] | None = None, cjk: bool = True) -> str | None:
    """Daily observed values and the D+1/D+2/D+3 forecasts valid on each day, per key unit."""
    import matplotlib.pyplot as plt

    s = res.tables.get("daily_series", pd.DataFrame())
    if s.empty or not units:
        return None
    s = s[s["variable"] == variable]
    fig, axes = plt.subplots(len(units), 1, figsize=(9.0, 2.3 * len(units)), sharex=True,
                             squeeze=False)
    colours = {1: "#1565c0", 2: "#ef6c00", 3: "#8e24aa"}
    for ax, u in zip(axes[:, 0], units, strict=True):
        su = s[s["unit_id"] == u]
        obs = su.groupby("date")["observed"].first()
        x = pd.to_datetime(obs.index)
        ax.plot(x, obs.values, color="k", lw=2, marker="o", ms=3, label=_lbl("观测", "observed", cjk))
        for ld, c in colours.items():
            f = su[su["lead_day"] == ld].set_index("date")["forecast"]
            if len(f):
                ax.plot(pd.to_datetime(f.index), f.values, color=c, lw=1.2, label=f"D+{ld}")
        if variable == "pm25":
            for thr in (75, 115, 150):
                ax.axhline(thr, color="#bdbdbd", lw=0.7, ls=":")
        ax.set_title((names or {}).get(u, u), fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_ylabel(_VAR_LABELS.get(variable, variable) if cjk else variable)
    fig.autofmt_xdate()
    return _png(fig)


def monthly_figures(res: VerificationResult, region: Region | None = None,
                    n_key_units: int = 4) -> dict[str, str | None]:
    """All report figures as base64 PNG strings (None where the data for one is absent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rc, cjk = _rc()
    names = {u: (f"{v[2]} {u}" if cjk else u) for u, v in (res.meta.get("points") or {}).items()}
    if region is not None:
        known = set(region.unit_ids)
        names.update({u: (f"{region.unit(u).name} {region.unit(u).name_en}" if cjk
                          else region.unit(u).name_en)
                      for u in res.meta.get("units", []) if u in known})
    units = key_units(res, n_key_units)
    with plt.rc_context(rc):
        figs: dict[str, Callable[[], str | None]] = {
            "skill_by_lead": lambda: fig_skill_by_lead(res, cjk),
            "performance": lambda: fig_performance_diagram(res, cjk),
            "reliability": lambda: fig_reliability(res, cjk),
            "unit_map": lambda: fig_unit_map(res, "pm25", 1, cjk, region),
            "series_pm25": lambda: fig_series(res, units, "pm25", names, cjk),
            "series_aqi": lambda: fig_series(res, units, "aqi", names, cjk),
        }
        return {k: f() for k, f in figs.items()}


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else "✗"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{nd}f}"
    return str(v)


def _table(df: pd.DataFrame, cols: Sequence[str], ci: Sequence[str] = (),
           heads: dict[str, str] | None = None) -> dict[str, Any]:
    """A table for the template: bilingual heads and formatted cells (score [lo, hi])."""
    hd = []
    for c in cols:
        if heads and c in heads:
            hd.append(heads[c])
        elif c in SCORE_LABELS:
            zh, en = SCORE_LABELS[c]
            hd.append(f"{zh} {en}")
        else:
            hd.append(c)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            txt = escape(_fmt(r.get(c)))
            if c in ci and f"{c}_lo" in r and pd.notna(r.get(f"{c}_lo")):
                txt += Markup(" <span class='ci'>[{}, {}]</span>").format(
                    _fmt(r[c + "_lo"]), _fmt(r[c + "_hi"]))
            cells.append(Markup(txt))
        rows.append(cells)
    return {"heads": hd, "rows": rows}


def _context(res: VerificationResult, month: str, figures: dict[str, str | None],
             region: Region | None, source: str) -> dict[str, Any]:
    T = res.tables
    heads_common = {"variable": "要素 variable", "lead_day": "预见期 lead day",
                    "group": "区域 unit/group", "event": "事件 event", "label_zh": "事件 event",
                    "level": "预警级别 level", "unit_id": "区域 unit"}
    ctx: dict[str, Any] = {"month": month, "source": source, "meta": res.meta, "figures": figures,
                           "generated": dt.datetime.now(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")
                           + f" ({'北京时间 ' if LOCAL_OFFSET_H == 8 else ''}UTC{LOCAL_OFFSET_H:+d})"}
    cd = T.get("continuous_daily", pd.DataFrame())
    if not cd.empty:
        s = cd[cd["group"] == ALL].copy()
        s["variable"] = s["variable"].map(lambda v: _VAR_LABELS.get(v, v))
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        ctx["cont_daily"] = _table(s, ["variable", "lead_day", "n", "mb", "mae", "rmse", "r",
                                       "nmb", "nme", "ioa", "skill_persistence",
                                       "skill_climatology"],
                                   ci=("rmse", "mb", "skill_persistence", "skill_climatology"),
                                   heads=heads_common)
        groups = [g for g in res.meta.get("groups", []) if g != ALL]
        g = cd[cd["group"].isin(groups + [ALL]) & (cd["variable"] == "pm25")].copy()
        g["lead_day"] = g["lead_day"].map(lambda d: f"D+{d}")
        ctx["cont_groups"] = _table(g, ["group", "lead_day", "n", "mb", "rmse", "r", "nmb"],
                                    ci=("rmse",), heads=heads_common)
    hd = T.get("continuous_hourly_by_day", pd.DataFrame())
    if not hd.empty:
        s = hd[hd["group"] == ALL].copy()
        s["variable"] = s["variable"].map(lambda v: _VAR_LABELS.get(v + "_h" if v == "pm25" else v, v))
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        ctx["cont_hourly_day"] = _table(s, ["variable", "lead_day", "n", "mb", "mae", "rmse", "r",
                                            "nmb", "ioa", "skill_persistence",
                                            "skill_climatology"],
                                        ci=("rmse", "skill_persistence"), heads=heads_common)
    cmpt = T.get("comparison", pd.DataFrame())
    if not cmpt.empty:
        s = cmpt.copy()
        s["variable"] = s["variable"].map(lambda v: _VAR_LABELS.get(v, v))
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        s["reference"] = s["reference"].map({"persistence": "持续性 persistence",
                                             "climatology": "气候态 climatology"})
        ctx["comparison"] = _table(s, ["variable", "reference", "lead_day", "n", "rmse_a",
                                       "rmse_b", "dm_stat", "p_value", "better"],
                                   heads={**heads_common, "reference": "参考预报 reference",
                                          "rmse_a": "预报 RMSE forecast", "rmse_b": "参考 RMSE reference",
                                          "dm_stat": "DM统计量 DM statistic", "p_value": "p值 p-value",
                                          "better": "显著更优 significantly better"})
    ch = T.get("chinese", pd.DataFrame())
    if not ch.empty:
        s = ch[ch["group"] == ALL].copy()
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        ctx["chinese"] = _table(s, ["lead_day", "n", "level_accuracy", "exact_level_accuracy",
                                    "within_one_level", "range_accuracy", "half_level_accuracy",
                                    "primary_accuracy"], heads=heads_common)
        ctx["headline"] = {f"D+{int(r['lead_day'])}": _fmt(r["level_accuracy"] * 100, 1)
                           for _, r in ch[ch["group"] == ALL].iterrows()
                           if pd.notna(r["level_accuracy"])}
    cat = T.get("categorical", pd.DataFrame())
    if not cat.empty:
        s = cat[cat["group"] == ALL].copy()
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        ctx["categorical"] = _table(s, ["label_zh", "lead_day", "a", "b", "c", "d", "pod", "far",
                                        "pofd", "sr", "csi", "fbias", "ets", "hss", "pss"],
                                    heads={**heads_common, "a": "命中 hits a",
                                           "b": "空报 false alarms b", "c": "漏报 misses c",
                                           "d": "正确否定 correct negatives d"})
    on = T.get("onset", pd.DataFrame())
    if not on.empty:
        s = on[on["n_onsets"] > 0].copy()
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}")
        ctx["onset"] = _table(s, ["event", "lead_day", "n_onsets", "n_detected",
                                  "mean_error_days", "mae_days", "early", "on_time", "late"],
                              heads={**heads_common, "n_onsets": "过程数 onsets",
                                     "n_detected": "报出 detected",
                                     "mean_error_days": "平均偏差(天) mean error (d)",
                                     "mae_days": "平均绝对偏差(天) MAE (d)",
                                     "early": "偏早 early", "on_time": "准时 on time",
                                     "late": "偏晚 late"})
    conf = T.get("confusion", pd.DataFrame())
    if not conf.empty:
        c1 = conf[conf["lead_day"] == conf["lead_day"].min()]
        mat = c1.pivot(index="obs_level", columns="fc_level", values="count").reindex(
            index=range(1, 7), columns=range(1, 7), fill_value=0)
        ctx["confusion"] = {"lead": int(conf["lead_day"].min()),
                            "rows": [[int(x) for x in mat.loc[i].values] for i in range(1, 7)]}
    pr = []
    for name, lead in (("probabilistic_daily", "lead_day"),):
        t = T.get(name, pd.DataFrame())
        if not t.empty:
            s = t.copy()
            s["variable"] = s["variable"].map(lambda v: _VAR_LABELS.get(v, v))
            s[lead] = s[lead].map(lambda d: f"D+{d}")
            pr.append(_table(s, ["variable", lead, "n", "crps", "coverage", "nominal"],
                             heads={**heads_common, "nominal": "名义覆盖率 nominal"}))
    ctx["probabilistic"] = pr[0] if pr else None
    br = T.get("brier", pd.DataFrame())
    if not br.empty:
        s = br.copy()
        s["lead_day"] = s["lead_day"].map(lambda d: f"D+{d}" if d else "全部 all")
        ctx["brier"] = _table(s, ["event", "lead_day", "n", "brier", "base_rate", "bss"],
                              heads={**heads_common, "base_rate": "气候频率 base rate"})
    wl = T.get("warnings_by_level", pd.DataFrame())
    if not wl.empty:
        s = wl.copy()
        s["level"] = s["level"].map(lambda v: _LEVEL_ZH.get(v, v))
        ctx["warn_level"] = _table(s, ["level", "warnings", "hits", "false_alarms", "misses",
                                       "observed_episodes", "pod", "far", "csi",
                                       "mean_lead_hours"],
                                   heads={**heads_common, "warnings": "发布 issued",
                                          "hits": "命中 hits", "false_alarms": "空报 false alarms",
                                          "misses": "漏报 missed episodes",
                                          "observed_episodes": "实况过程 observed episodes",
                                          "mean_lead_hours": "平均提前量(h) mean lead (h)"})
    wlist = T.get("warnings_list", pd.DataFrame())
    if not wlist.empty:
        s = wlist.copy()
        s["level"] = s["level"].map(lambda v: _LEVEL_ZH.get(v, v))
        if "decided_by" not in s.columns:
            s["decided_by"] = ""
        ctx["warn_list"] = _table(s, ["issue_time", "unit_id", "level", "start", "end",
                                      "observed_level", "hit", "lead_hours", "decided_by"],
                                  heads={**heads_common, "issue_time": "发布时间 issued",
                                         "start": "开始 start", "end": "结束 end",
                                         "observed_level": "实况等级 observed",
                                         "hit": "命中 hit", "lead_hours": "提前量(h) lead (h)",
                                         "decided_by": "决定方 decided by"})
    wm = T.get("warnings_misses", pd.DataFrame())
    if not wm.empty:
        ctx["warn_misses"] = _table(wm, ["unit_id", "level", "start", "end"],
                                    heads={**heads_common, "start": "开始 start",
                                           "end": "结束 end"})
    av = T.get("availability", pd.DataFrame())
    if not av.empty:
        ctx["availability"] = _table(av, ["unit_id", "pm25_valid_hours", "o3_valid_hours",
                                          "hours_expected", "aqi_valid_days", "days_expected",
                                          "valid_fraction", "forecasts", "flag"],
                                     heads={**heads_common,
                                            "pm25_valid_hours": "PM2.5有效小时 valid h",
                                            "o3_valid_hours": "O3有效小时 valid h",
                                            "hours_expected": "应有小时 expected h",
                                            "aqi_valid_days": "AQI有效天 valid days",
                                            "days_expected": "应有天数 days",
                                            "valid_fraction": "有效率 valid fraction",
                                            "forecasts": "预报场次 forecasts",
                                            "flag": "不足 insufficient"})
    ctx["settings"] = res.meta.get("settings", {})
    return ctx


def monthly_report_html(res: VerificationResult, month: str, *, region: Region | None = None,
                        figures: dict[str, str | None] | None = None, source: str = "",
                        for_pdf: bool = False) -> str:
    """Render the report HTML (Jinja2 ``monthly_report.html.j2``, autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    figures = figures if figures is not None else monthly_figures(res, region)
    try:
        from airwarn.products.fonts import CSS_FAMILY, font_face_css

        font_face, family = font_face_css(), CSS_FAMILY
    except (ImportError, FileNotFoundError):
        font_face, family = "", "Noto Sans CJK SC"
    ctx = _context(res, month, figures, region, source)
    return env.get_template("monthly_report.html.j2").render(
        c=ctx, font_face=font_face, font_family=family, for_pdf=for_pdf)


def render_monthly_report(month: str, *, data_dir: str | Path | None = None,
                          scores: VerificationResult | None = None,
                          config: AirwarnConfig | None = None,
                          out_dir: str | Path | None = None, backtest: str | Path | None = None,
                          obs: str | Path | None = None, pdf: bool = True,
                          bootstrap: bool = True,
                          progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Score a month and write the 会商 report: HTML, PDF and the tables as JSON.

    Parameters
    ----------
    month : str
        ``YYYY-MM`` (local).
    data_dir : path, optional
        Data directory (default ``configs.data_dir()``).
    scores : VerificationResult, optional
        Already computed verification (else :func:`build_monthly_result`).
    config : configs.AirwarnConfig, optional
    out_dir : path, optional
        Default ``<data_dir>/reports/monthly/<YYYY-MM>/``.
    backtest, obs : path, optional
        Verify a backtest NetCDF against an observation source instead of the archive.
    pdf : bool
        Also write the PDF (WeasyPrint).
    bootstrap : bool
    progress : callable, optional
        Receives one line per step (scoring, figures, HTML, PDF), e.g.
        :class:`flows.progress.LineProgress`.

    Returns
    -------
    dict
        ``html``, ``pdf`` (when written) and ``json`` paths.
    """
    from airwarn.features.atomic import write_text_atomic

    say = progress or (lambda _line: None)

    from airwarn import configs

    if config is None:
        try:
            config = configs.load_config()
        except configs.ConfigError:
            config = None
    ddir = Path(data_dir) if data_dir is not None else configs.data_dir()
    if not isinstance(scores, VerificationResult):
        say(f"scoring {month} ({'backtest' if backtest is not None else 'forecast archive'}"
            f"{', bootstrap' if bootstrap else ''})")
        scores = build_monthly_result(month, data_dir=ddir, backtest=backtest, obs=obs,
                                      config=config, bootstrap=bootstrap)
    region = config.region if config is not None else None
    out = Path(out_dir) if out_dir is not None else RunStore(ddir).monthly_report(month)
    out.mkdir(parents=True, exist_ok=True)
    source = f"backtest {Path(backtest).name}" if backtest is not None else f"archive {RunStore(ddir).forecasts_dir}"
    say("figures")
    figs = monthly_figures(scores, region)
    scores.meta.setdefault("model_cards", model_cards(ddir, scores.meta.get("model_versions", [])))
    paths: dict[str, Path] = {}
    paths["json"] = scores.to_json(out / f"verification_{month}.json")
    say("report (HTML)")
    html = monthly_report_html(scores, month, region=region, figures=figs, source=source)
    paths["html"] = write_text_atomic(out / f"monthly_report_{month}.html", html)
    if pdf:
        from airwarn.products.bulletin import write_pdf

        say("report (PDF)")
        html_pdf = monthly_report_html(scores, month, region=region, figures=figs, source=source,
                                       for_pdf=True)
        paths["pdf"] = write_pdf(html_pdf, out / f"monthly_report_{month}.pdf")
    return paths

