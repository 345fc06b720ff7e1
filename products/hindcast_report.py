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

__all__ = ["render_hindcast_report", "timeline_png", "reliability_png", "unit_labels",
           "levels_table", "breakdown_table", "episodes_table", "o3_table", "selection_tables"]

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


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
           marked: Sequence[bool] | None = None) -> str:
    """An HTML table (cells escaped); ``marked`` rows are bold (the chosen candidate)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = " class='chosen'" if marked is not None and marked[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r)
                    + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _score_row(s: Mapping[str, Any]) -> list[str]:
    return [_f(s.get("pod")), _f(s.get("far")), _f(s.get("csi")), str(s.get("hits", "–")),
            str(s.get("misses", "–")), str(s.get("false_alarms", "–"))]


_SCORE_HEAD = ["POD", "FAR", "CSI", "hits", "misses", "false alarms"]


def levels_table(ver: Mapping[str, Any]) -> str:
    """The model's warnings per level (≥ yellow, ≥ orange, ≥ red) and lead day."""
    rows = [[lvl, lead, *_score_row(s), _f(s.get("mean_lead_h"), 1)]
            for lvl, by_lead in (ver.get("levels") or {}).items()
            for lead, s in (by_lead or {}).items()]
    if not rows:
        return "<p>no per-level table</p>"
    return _table(["level ≥", "lead", *_SCORE_HEAD, "mean lead h"], rows)


def breakdown_table(ver: Mapping[str, Any]) -> str:
    """Where each system's D+1 misses and false alarms are (``ver["error_breakdown"]``, from
    :func:`models.verify.hindcast.error_breakdown`): counts by the observed day's PM-gated
    AQI, episode length, onset, and false alarms next to an episode (timing, not a wrong
    event)."""
    parts = ver.get("error_breakdown") or {}
    if not parts:
        return "<p>no D+1 breakdown</p>"
    cats = {kind: sorted({c for b in parts.values() for c in b[kind]})
            for kind in ("misses", "false_alarms")}
    rows = [[name] + [b["misses"].get(c, 0) for c in cats["misses"]]
            + [b["false_alarms"].get(c, 0) for c in cats["false_alarms"]]
            for name, b in parts.items()]
    head = (["system"] + [f"miss: {c}" for c in cats["misses"]]
            + [f"false alarm: {c}" for c in cats["false_alarms"]])
    return _table(head, rows)


def episodes_table(ver: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """Every observed episode with its level and the lead of the model's first warning (h
    before the episode's first day; "missed" when none was in force on it)."""
    eps = ver.get("episodes", {}).get("list", [])
    if not eps:
        return "<p>no observed episode</p>"
    labels = dict(zip([e["unit_id"] for e in eps],
                      unit_labels([e["unit_id"] for e in eps], names), strict=True))
    rows = [[labels[e["unit_id"]], e["start"], e["level"],
             "missed 漏报" if e.get("lead_h") is None else _f(e["lead_h"], 0)] for e in eps]
    caught = sum(e.get("lead_h") is not None for e in eps)
    return (f"<details><summary>{len(eps)} observed episodes, {caught} warned before or on "
            f"their first day</summary>"
            + _table(["unit", "first day", "level", "first warning, h ahead"], rows)
            + "</details>")


def o3_table(ver: Mapping[str, Any]) -> str:
    """O3 MDA8 > 215 µg/m³ events: the median forecast, the calibrated probability (the
    threshold chosen on the training fold) and persistence, per lead day."""
    o3 = ver.get("o3_events")
    if not o3:
        return "<p>no O₃ in this domain</p>"
    p = o3.get("probability_threshold")
    systems = [("median", o3.get("median")),
               (f"probability P ≥ {p}" if p is not None else "probability",
                o3.get("probability")),
               ("persistence", o3.get("persistence"))]
    rows = [[name, lead, *_score_row(s)] for name, by_lead in systems
            for lead, s in (by_lead or {}).items()]
    return (_table(["system", "lead", *_SCORE_HEAD], rows)
            + f"<p>O₃ advisories issued: {html.escape(str(o3.get('advisories', '–')))}.</p>")


def selection_tables(meta: Mapping[str, Any], trigger: Mapping[str, Any] | None) -> str:
    """The training fold's choices as tables: the colour trigger (through the chain), the O3
    probability threshold and the climatology baseline's threshold; the chosen rows bold."""
    sel = meta.get("selection", {})
    model = sel.get("model") if isinstance(sel, Mapping) else None
    if not isinstance(model, Mapping):
        return f"<p>{html.escape(str(model or 'configured trigger (median)'))}</p>"
    out = [f"<p>fold: {html.escape(str(model.get('scheme', '')))}, models trained ≤ "
           f"{html.escape(str(model.get('train_end', '')))}, issues "
           f"{html.escape(str(model.get('select_start', '')))} … "
           f"{html.escape(str(model.get('select_end', '')))}, chosen by "
           f"{html.escape(str(model.get('method', '')))} (D+1 CSI of the warnings).</p>"]
    cand = model.get("candidates", [])
    if cand:
        chosen = trigger or {}

        def is_chosen(c: Mapping[str, Any]) -> bool:
            if chosen.get("trigger") == "median":
                return c["trigger"] == "median"
            return c["trigger"] == "probability" and c["probability"] == chosen.get("probability")

        out.append("<h3>颜色预警触发 Colour trigger</h3>" + _table(
            ["trigger", "P ≥", *_SCORE_HEAD],
            [[c["trigger"], _f(c.get("probability")), *_score_row(c)] for c in cand],
            [is_chosen(c) for c in cand]))
    o3c = model.get("o3_candidates", [])
    if o3c:
        out.append("<h3>臭氧提示概率 O₃ probability (MDA8 > 215)</h3>" + _table(
            ["P ≥", "POD", "FAR", "CSI"],
            [[_f(c["probability"]), _f(c.get("pod")), _f(c.get("far")), _f(c.get("csi"))]
             for c in o3c], [c["probability"] == model.get("o3_probability") for c in o3c]))
    clim = sel.get("climatology", {}) if isinstance(sel, Mapping) else {}
    cc = clim.get("candidates", []) if isinstance(clim, Mapping) else []
    if cc:
        best = max((c.get("csi") or 0.0) for c in cc)
        out.append(f"<h3>气候基线 Climatology baseline (chosen on the "
                   f"{html.escape(str(clim.get('chosen_on', '')))})</h3>" + _table(
                       ["P ≥", "CSI"], [[_f(c["probability"]), _f(c.get("csi"))] for c in cc],
                       [(c.get("csi") or 0.0) == best for c in cc]))
    return "".join(out)


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
    names = meta.get("unit_names")
    imgs = []
    for name, dec in decisions.items():
        png = timeline_png(obs_lv, dec, t0, t1, names=names)
        imgs.append(f"<h3>{html.escape(name)}</h3><img src='{png}'>")
    rel = reliability_png(ver.get("reliability", {}))
    trig = ver.get("trigger") or {}
    trig_txt = ("median" if trig.get("trigger", "median") == "median"
                else f"P(AQI > threshold) ≥ {trig.get('probability')}")
    units = meta.get("units") or []
    training = ({"mean": "its mean series", "members": "its stations, averaged"}.get(
        str(meta.get("sub_region_models")), "") if meta.get("sub_region_models") else "")
    title = (f"预警回算 Warning hindcast — {meta.get('domain', '')}, met {meta.get('met', '')}, "
             f"test {t0} … {t1}")
    body = f"""<h1>{html.escape(title)}</h1>
<p>{html.escape(str(meta.get('source', '')))}. Ladder {html.escape(str(meta.get('ladder', '')))}
(PM2.5-gated colour warnings), issue {meta.get('issue_hour_local')}:00 local, train ≤
{meta.get('train_end')}; {len(units)} unit(s){html.escape(f", each trained on {training}")
if training else ""}; warnings triggered by the {html.escape(trig_txt)} (chosen on the training
fold). Convention: {html.escape(str(meta.get('convention', '')))}.</p>
<h2>颜色预警检验 Colour warnings (≥ yellow), per lead day</h2>
<table><tr><th>system</th><th>lead</th><th>POD</th><th>FAR</th><th>CSI</th><th>hits</th>
<th>misses</th><th>false alarms</th><th>mean lead h</th></tr>{''.join(rows)}</table>
<p>hindsight (reference): the observed daily values given to the same chain as the forecast —
事后实况代入同一预警流程. Its false alarms and misses are what the rules themselves cost (the 36-h
lift rule, hysteresis, the 3-day horizon) against this day-by-day verification: the best any
forecast can score here, not a baseline to beat.</p>
<h2>分级检验 Per level (model)</h2>{levels_table(ver)}
<h2>漏报与空报 Where the D+1 misses and false alarms are</h2>{breakdown_table(ver)}
<p>Observed days by their PM2.5-gated daily AQI; "next to an episode": the day before or after
an observed episode day (a timing error, not a wrong event).</p>
<h2>过程与动作 Episodes and actions</h2>
<table><tr><th>system</th><th>episodes</th><th>caught</th><th>mean lead h</th><th>issue</th>
<th>upgrade</th><th>downgrade</th><th>lift</th><th>early lifts</th><th>regional</th></tr>
{''.join(acts)}</table>
{episodes_table(ver, names)}
<h2>臭氧 O₃ MDA8 &gt; 215 µg/m³ (per unit and day)</h2>{o3_table(ver)}
<h2>时间线 Timeline</h2>{''.join(imgs)}
<h2>可靠性 Reliability</h2>{f"<img src='{rel}'>" if rel else "<p>no probabilities</p>"}
<h2>阈值选择 Selection (training folds only)</h2>{selection_tables(meta, ver.get("trigger"))}"""
    css = embedded_font_face_css(title + body)
    doc = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>"
           f"{html.escape(title)}</title><style>{css} body{{font-family:'{CSS_FAMILY}',sans-serif;"
           f"margin:1.5em;}} table{{border-collapse:collapse;font-size:13px}} td,th{{border:1px "
           f"solid #BDBDBD;padding:2px 6px;text-align:right}} tr.chosen td{{font-weight:bold}} "
           f"img{{max-width:100%}}</style>"
           f"</head><body>{body}</body></html>")
    out = Path(out_path)
    write_text_atomic(out, doc)
    return out
