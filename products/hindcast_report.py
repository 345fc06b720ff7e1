"""Warning hindcast report: one self-contained HTML page (opens from disk, CJK font embedded as a
subset, figures inlined as PNG) with the verification tables of the model and the baselines, a
timeline of observed daily AQI colours against the warnings in force, and the reliability diagram
of the exceedance probabilities.

Inputs are the outputs of :func:`models.verify.hindcast.run_hindcast`. Units: AQI dimensionless,
lead times hours, probabilities 0–1.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from airwarn.alerts.aqi import aqi_level, level_info
from airwarn.features.atomic import write_text_atomic
from airwarn.products.common import WARNING_COLOURS
from airwarn.products.fonts import CSS_FAMILY, embedded_font_face_css, mpl_rc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["render_hindcast_report", "timeline_png", "reliability_png", "unit_labels"]

_RANK = {"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _in_force_d1(decisions: Sequence[Any]) -> dict[tuple[str, pd.Timestamp], int]:
    """(unit, day) → rank of the colour warning in force for the day from the run of the day
    before (lead day 1)."""
    out: dict[tuple[str, pd.Timestamp], int] = {}
    for d in decisions:
        d = d if isinstance(d, dict) else d.to_dict()
        if d["action"] not in ("issue", "upgrade", "downgrade", "continue") or d.get("regional"):
            continue
        day = pd.Timestamp(d["issue_time"]).tz_convert(LOCAL_TZ).tz_localize(None) \
            .normalize() + pd.Timedelta(days=1)
        s = pd.Timestamp(d["start"]).tz_convert(LOCAL_TZ).tz_localize(None)
        e = pd.Timestamp(d["end"]).tz_convert(LOCAL_TZ).tz_localize(None)
        if s <= day < e:
            key = (d["unit_ids"][0], day)
            out[key] = max(out.get(key, 0), _RANK.get(d["level"], 0))
    return out


def unit_labels(units: Sequence[str], names: Mapping[str, str] | None = None) -> list[str]:
    """Row labels of the units as forecasters name them: ``名称 id`` (e.g. ``北京市 beijing``),
    the id alone when it has no other name."""
    names = names or {}
    return [f"{names[u]} {u}" if names.get(u) and names[u] != u else u for u in units]


def timeline_png(obs_lv: pd.DataFrame, decisions: Sequence[Any], first_day: Any,
                 last_day: Any, *, title: str = "",
                 names: Mapping[str, str] | None = None) -> str:
    """Per unit two strips over the period: observed daily AQI level colour (HJ 633 colours) and
    the colour warning in force for the day (from the run of the day before). Rows labelled
    with the units' names (:func:`unit_labels`). PNG data URL."""
    d0, d1 = pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize()
    days = pd.date_range(d0, d1, freq="D")
    units = sorted(obs_lv["unit_id"].unique())
    tab = obs_lv.pivot_table(index="date", columns="unit_id", values="aqi", aggfunc="first") \
        .reindex(index=days, columns=units)
    force = _in_force_d1(decisions)
    aqi_cols = ["#FFFFFF"] + [level_info(k, "HJ633_2012").hex for k in range(1, 7)]
    warn_cols = ["#FFFFFF", WARNING_COLOURS["blue"], WARNING_COLOURS["yellow"],
                 WARNING_COLOURS["orange"], WARNING_COLOURS["red"]]
    obs_idx = np.zeros((len(units), len(days)), dtype=int)
    warn_idx = np.zeros((len(units), len(days)), dtype=int)
    for i, u in enumerate(units):
        for j, day in enumerate(days):
            a = tab.iat[j, i]
            obs_idx[i, j] = aqi_level(float(a), "HJ633_2012") if np.isfinite(a) else 0
            warn_idx[i, j] = force.get((u, day), 0)
    with matplotlib.rc_context(mpl_rc()):
        fig = Figure(figsize=(12, 0.55 * len(units) + 1.4), dpi=90)
        ax = fig.add_subplot(1, 1, 1)
        for i in range(len(units)):
            y = len(units) - 1 - i
            ax.imshow(obs_idx[i:i + 1], cmap=ListedColormap(aqi_cols), vmin=0, vmax=6,
                      aspect="auto", extent=(0, len(days), y + 0.45, y + 0.9),
                      interpolation="nearest")
            ax.imshow(warn_idx[i:i + 1], cmap=ListedColormap(warn_cols), vmin=0, vmax=4,
                      aspect="auto", extent=(0, len(days), y + 0.05, y + 0.42),
                      interpolation="nearest")
        ax.set_ylim(0, len(units))
        ax.set_xlim(0, len(days))
        ax.set_yticks([len(units) - 1 - i + 0.5 for i in range(len(units))])
        ax.set_yticklabels(unit_labels(units, names), fontsize=7)
        months = [j for j, d in enumerate(days) if d.day == 1]
        ax.set_xticks(months)
        ax.set_xticklabels([days[j].strftime("%Y-%m") for j in months], fontsize=7)
        ax.set_title(title or "上：实况日AQI级别 observed daily AQI level；下：D+1 生效预警 "
                              "warning in force (run of the day before)", fontsize=9)
        fig.tight_layout()
        return _png(fig)


def reliability_png(rel: Mapping[str, Any]) -> str | None:
    """Reliability diagram(s) of :func:`models.verify.hindcast.reliability_table` (PNG data URL;
    None when empty)."""
    events = [e for e in ("aqi_gt_150", "o3_gt_215") if e in rel
              and any(s.get("bins") for s in rel[e].values())]  # no O3 in PM2.5-only sets
    if not events:
        return None
    labels = {"aqi_gt_150": "P(日AQI > 150)", "o3_gt_215": "P(O₃ MDA8 > 215 µg/m³)"}
    with matplotlib.rc_context(mpl_rc()):
        fig = Figure(figsize=(4.2 * len(events), 4.0), dpi=90)
        for n, ev in enumerate(events):
            ax = fig.add_subplot(1, len(events), n + 1)
            ax.plot([0, 1], [0, 1], color="#9E9E9E", lw=0.8, ls="--")
            for lead, s in rel[ev].items():
                b = s.get("bins", [])
                if b:
                    ax.plot([x["p_mean"] for x in b], [x["obs_freq"] for x in b], marker="o",
                            ms=3, label=f"{lead} (BS {s.get('brier') or float('nan'):.3f})")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("预报概率 forecast probability")
            ax.set_ylabel("实况频率 observed frequency")
            ax.set_title(labels[ev], fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)


def _f(v: Any, d: int = 2) -> str:
    return f"{v:.{d}f}" if isinstance(v, int | float) and v == v else "–"


def render_hindcast_report(ver: Mapping[str, Any], obs_lv: pd.DataFrame,
                           decisions: Mapping[str, Sequence[Any]], out_path: Path | str) -> Path:
    """Write the hindcast report (HTML, atomic)."""
    meta = ver.get("meta", {})
    systems = ([("model", ver)] + list(ver.get("baselines", {}).items())
               + [(f"{n} (reference)", v) for n, v in ver.get("reference", {}).items()])
    rows = []
    for name, v in systems:
        for lead, s in v["colour"].items():
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{lead}</td><td>{_f(s['pod'])}</td>"
                        f"<td>{_f(s['far'])}</td><td>{_f(s['csi'])}</td><td>{s['hits']}</td>"
                        f"<td>{s['misses']}</td><td>{s['false_alarms']}</td>"
                        f"<td>{_f(s['mean_lead_h'], 1)}</td></tr>")
    acts = []
    for name, v in systems:
        a, e = v["actions"], v["episodes"]
        acts.append(f"<tr><td>{html.escape(name)}</td><td>{e['n']}</td><td>{e['caught']}</td>"
                    f"<td>{_f(e['mean_lead_h'], 1)}</td><td>{a['issue']}</td><td>{a['upgrade']}"
                    f"</td><td>{a['downgrade']}</td><td>{a['lift']}</td><td>{a['early_lifts']}"
                    f"</td><td>{a['regional']}</td></tr>")
    t0, t1 = meta.get("test_start"), meta.get("test_end")
    imgs = []
    for name, dec in decisions.items():
        png = timeline_png(obs_lv, dec, t0, t1, names=meta.get("unit_names"))
        imgs.append(f"<h3>{html.escape(name)}</h3><img src='{png}'>")
    rel = reliability_png(ver.get("reliability", {}))
    sel = html.escape(str(meta.get("selection", "")))
    title = (f"预警回算 Warning hindcast — {meta.get('domain', '')}, met {meta.get('met', '')}, "
             f"test {t0} … {t1}")
    body = f"""<h1>{html.escape(title)}</h1>
<p>{html.escape(str(meta.get('source', '')))}. Ladder {html.escape(str(meta.get('ladder', '')))}
(PM2.5-gated colour warnings), issue {meta.get('issue_hour_local')}:00 local, train ≤
{meta.get('train_end')}. Convention: {html.escape(str(meta.get('convention', '')))}.</p>
<h2>颜色预警检验 Colour warnings (≥ yellow), per lead day</h2>
<table><tr><th>system</th><th>lead</th><th>POD</th><th>FAR</th><th>CSI</th><th>hits</th>
<th>misses</th><th>false alarms</th><th>mean lead h</th></tr>{''.join(rows)}</table>
<p>hindsight (reference): the observed daily values given to the same chain as the forecast —
事后实况代入同一预警流程. Its false alarms and misses are what the rules themselves cost (the 36-h
lift rule, hysteresis, the 3-day horizon) against this day-by-day verification: the best any
forecast can score here, not a baseline to beat.</p>
<h2>过程与动作 Episodes and actions</h2>
<table><tr><th>system</th><th>episodes</th><th>caught</th><th>mean lead h</th><th>issue</th>
<th>upgrade</th><th>downgrade</th><th>lift</th><th>early lifts</th><th>regional</th></tr>
{''.join(acts)}</table>
<h2>时间线 Timeline</h2>{''.join(imgs)}
<h2>可靠性 Reliability</h2>{f"<img src='{rel}'>" if rel else "<p>no probabilities</p>"}
<h2>阈值选择 Selection (training folds only)</h2><p><code>{sel}</code></p>"""
    css = embedded_font_face_css(title + body)
    doc = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>"
           f"{html.escape(title)}</title><style>{css} body{{font-family:'{CSS_FAMILY}',sans-serif;"
           f"margin:1.5em;}} table{{border-collapse:collapse;font-size:13px}} td,th{{border:1px "
           f"solid #BDBDBD;padding:2px 6px;text-align:right}} img{{max-width:100%}}</style>"
           f"</head><body>{body}</body></html>")
    out = Path(out_path)
    write_text_atomic(out, doc)
    return out
