"""Contents of a duty-officer bulletin (预警信息) from a warning decision, in Chinese or English.

:func:`build_bulletin` assembles what every bulletin format shows (domain-spec T2.1: time, area,
severity, primary pollutant, level, meteorology; health advice; measures and control orders);
:mod:`products.bulletin` renders it as HTML, PDF, Markdown and JSON and :mod:`products.cap` as
CAP 1.2 XML — both import this module, neither imports the other's renderer.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import Any

from airwarn.alerts.aqi import aqi_level, level_info, ruleset_for
from airwarn.configs import AirwarnConfig
from airwarn.configs.aqi_schema import load_aqi_ruleset
from airwarn.configs.schema import Region
from airwarn.products.common import (
    RESPONSE_LEVELS,
    SYNTHETIC_LABEL_EN,
    SYNTHETIC_LABEL_ZH,
    WARNING_COLOURS,
    WARNING_NAMES,
    decision_dict,
    fmt_local,
    is_synthetic,
    pollutant_code,
    pollutant_label,
    to_local,
)

__all__ = ["REDUCTION_SHARE_PCT", "build_bulletin", "bulletin_kind", "md_escape"]

log = logging.getLogger(__name__)

#: Minimum cut of society-wide SO2, NOx, PM and VOCs emissions during a warning, percent
#: (domain-spec T2.1 "Emission-reduction share", V2: S17 Tianjin & Shandong plan summaries).
REDUCTION_SHARE_PCT: dict[str, int] = {"yellow": 10, "orange": 20, "red": 30}

_PROVINCES = {"sichuan": ("四川省", "Sichuan"), "chongqing": ("重庆市", "Chongqing")}


def bulletin_kind(d: Mapping[str, Any]) -> str:
    """``warning`` | ``lift`` | ``advisory`` (O₃ / pre-warning health advice) | ``notice`` (no
    warning in force) of a decision."""
    if d.get("action") == "lift":
        return "lift"
    if d.get("action") == "advisory":
        return "advisory"
    return "warning" if d.get("level") in WARNING_COLOURS else "notice"


def md_escape(text: Any) -> str:
    """Escape text for Markdown: HTML-significant characters become entities, Markdown
    punctuation is backslash-escaped, line breaks stay inside the paragraph / table cell."""
    s = "" if text is None else str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([\\`*_\[\]{}|#!~])", r"\\\1", s)
    return s.replace("\r", " ").replace("\n", " ")


def _names_by_province(unit_ids: list[str], region: Region, lang: str) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for uid in unit_ids:
        try:
            u = region.unit(uid)
        except KeyError:
            groups.setdefault("?", []).append(uid)
            continue
        groups.setdefault(u.province, []).append(u.name if lang == "zh" else u.name_en)
    out = []
    for key in ("sichuan", "chongqing", "?"):
        if key in groups:
            label = _PROVINCES.get(key, ("其他", "other"))[0 if lang == "zh" else 1]
            out.append((label, groups[key]))
    return out


#: English wording of the control-order actions (``alerts.response`` codes).
_MEASURE_EN = {"voluntary": "voluntary cuts", "limit_pct": "output cut by {v:g} %",
               "stop_lines_pct": "{v:g} % of production lines stopped", "stop": "production halted"}


def _measure_text(order: Mapping[str, Any], lang: str) -> str:
    """Text of an order's measure: ``alerts.response.measure_text`` (zh) for the action codes."""
    action, value = order.get("measure"), order.get("value")
    if action not in _MEASURE_EN:
        return str(action or "")
    if lang == "zh":
        from airwarn.alerts.response import measure_text
        from airwarn.configs.response_schema import Measure

        return measure_text(Measure(action=action, value=value, transport=order.get("transport")))
    return _MEASURE_EN[action].format(v=float(value or 0))


def _stack_text(stack: Any) -> str:
    if isinstance(stack, Mapping):
        sid = stack.get("id") or stack.get("stack_id") or stack.get("name") or "?"
        proc = stack.get("process")
        h = stack.get("height_m") if stack.get("height_m") is not None else stack.get("height")
        label = f"{sid} {proc}" if proc else str(sid)
        return f"{label} ({float(h):g} m)" if h is not None else label
    return str(stack)


def _orders_by_unit(orders: list[dict[str, Any]], region: Region, lang: str) -> list[dict[str, Any]]:
    units: dict[str, list[dict[str, Any]]] = {}
    for o in orders:
        units.setdefault(str(o.get("unit_id", "?")), []).append(o)
    out = []
    for uid, rows in units.items():
        try:
            name = region.unit(uid).name if lang == "zh" else region.unit(uid).name_en
        except KeyError:
            name = uid
        entries = []
        for o in rows:
            red = o.get("reductions") or {}
            entries.append({
                "enterprise": o.get("enterprise_name") or o.get("enterprise_id", "?"),
                "industry": o.get("industry", ""),
                "grade": o.get("grade", ""),
                "measure": _measure_text(o, lang),
                "value": o.get("value"),
                "elevated": bool(o.get("is_elevated")),
                "stacks": [_stack_text(s) for s in (o.get("stacks") or [])],
                "window": (f"{fmt_local(o['start'], lang)} – {fmt_local(o['end'], lang)}"
                           if o.get("start") and o.get("end") else ""),
                "reductions": ", ".join(f"{k.upper()} {float(v):.2f}" for k, v in red.items()
                                        if v is not None),
            })
        out.append({"unit": name, "orders": entries,
                    "elevated": [e for e in entries if e["elevated"]]})
    return out


def _checks(d: Mapping[str, Any], region: Region, lang: str) -> list[dict[str, Any]]:
    """Reduction checks (alerts.response) as rows: city, pollutant, required/achieved t/d, met."""
    rows = []
    for c in d.get("reduction_checks") or []:
        c = c.to_dict() if hasattr(c, "to_dict") else (c if isinstance(c, Mapping) else vars(c))
        met = bool(c.get("met"))
        rows.append({
            "city": str(c.get("city") or c.get("unit_id") or ""),
            "pollutant": str(c.get("pollutant", "")).upper(),
            "required": f"{float(c.get('required') or 0):.2f}",
            "achieved": f"{float(c.get('achieved') or 0):.2f}",
            "met": ("达标" if met else "未达标") if lang == "zh" else ("met" if met else "short"),
            "ok": met,
        })
    return rows


def _health(d: Mapping[str, Any], ruleset: str, lang: str) -> dict[str, str]:
    values = [v for vals in (d.get("daily_aqi") or {}).values() for v in (vals or [])
              if v is not None and v == v]
    top = max(values) if values else None
    level = aqi_level(min(float(top), 500.0), ruleset) if top is not None else (
        5 if d.get("level") in ("orange", "red") else 4)
    info = level_info(level, ruleset)
    code = pollutant_code(d.get("primary_pollutant"))
    groups = load_aqi_ruleset(ruleset).sensitive_groups
    sens = getattr(groups[code], lang) if code in groups else ""
    return {
        "category": f"{info.grade_zh} {info.category_zh}" if lang == "zh" else info.category_en,
        "colour": info.hex,
        "effect": info.health_effect_zh if lang == "zh" else info.health_effect_en,
        "advice": info.advice_zh if lang == "zh" else info.advice_en,
        "sensitive": sens,
    }


def _reference_list(d: Mapping[str, Any]) -> list[str]:
    out = []
    for r in d.get("references") or []:
        out.append(str(r.get("decision_id", r)) if isinstance(r, Mapping) else str(r))
    return out


def build_bulletin(decision: Any, config: AirwarnConfig, *, source: str | None = None,
                   lang: str = "zh", meteorology: tuple[str, str] | None = None
                   ) -> dict[str, Any]:
    """The structured contents of one bulletin in one language (plain dict, all text unescaped).

    Parameters
    ----------
    decision : WarningDecision or dict
        Fields of docs/INTERFACES.md; optional ``meteorology_zh``/``meteorology_en`` and
        ``source`` keys are used when present.
    config : configs.AirwarnConfig
        ``settings`` (issuer, contact) and ``region`` (unit names, provinces).
    source : str, optional
        Data source of the forecast (the forecast file's ``source`` attribute); ``"synthetic
        demo"`` labels the bulletin as an exercise. Defaults to ``decision["source"]``.
    lang : {"zh", "en"}
    meteorology : (str, str), optional
        气象条件 sentence (zh, en), e.g. from :func:`products.meteorology.meteorology_text`;
        else the decision's ``meteorology_zh``/``meteorology_en`` keys.

    Returns
    -------
    dict
        Keys ``lang kind title issuer issued level_name response area window primary
        meteorology reason daily health measures elevated reduction contact references
        demo_label degraded decision_id colour``.
    """
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
    d = decision_dict(decision)
    s, region = config.settings, config.region
    zh = lang == "zh"
    kind = bulletin_kind(d)
    issue = d.get("issue_time") or dt.datetime.now(dt.UTC).isoformat()
    ruleset = ruleset_for(to_local(issue).date())
    level = d["level"] if kind != "lift" else (d.get("previous_level") or "none")
    lname_zh, lname_en = WARNING_NAMES.get(level, (level, level))
    src = source if source is not None else d.get("source")
    region_zh = "成渝地区" if zh else "Chengdu–Chongqing area"
    regional = "区域" if d.get("regional") and zh else ("regional " if d.get("regional") else "")
    if kind == "warning":
        act = str(d.get("action"))
        if d.get("regional") and (d.get("joint") or {}).get("phase") in (
                "upgrade", "downgrade", "continue", "extend"):  # regional life cycle
            act = d["joint"]["phase"]
        verb = {"upgrade": ("升级为", "upgraded to "), "downgrade": ("调整为", "downgraded to "),
                "continue": ("继续维持", "continued: "),
                "extend": ("扩展范围，维持", "extended to more units: ")}.get(act, ("", ""))
        title = (f"{region_zh}{regional}重污染天气{verb[0]}{lname_zh}预警" if zh else
                 f"{region_zh}: {regional}heavy air pollution warning {verb[1]}{lname_en}"
                 if verb[1] else f"{region_zh}: {lname_en} {regional}heavy air pollution warning")
    elif kind == "lift":
        title = (f"{region_zh}{regional}重污染天气{lname_zh}预警解除" if zh else
                 f"{region_zh}: {regional}heavy air pollution {lname_en} warning lifted (all clear)")
    elif kind == "notice":
        title = (f"{region_zh}空气质量预报提示（无重污染天气预警）" if zh else
                 f"{region_zh}: air quality notice (no heavy pollution warning in force)")
    elif pollutant_code(d.get("primary_pollutant")) == "o3":
        title = (f"{region_zh}臭氧污染健康提示" if zh else
                 f"{region_zh}: ozone pollution health advisory")
    else:
        title = (f"{region_zh}重污染天气预警前提示（{pollutant_label(d.get('primary_pollutant'))}）"
                 if zh else f"{region_zh}: pre-warning air pollution advisory "
                            f"({pollutant_label(d.get('primary_pollutant'), 'en')})")
    start, end = d.get("start"), d.get("end")
    if kind == "lift":
        when = start or issue
        window = (f"自{fmt_local(when)}起解除" if zh else f"lifted from {fmt_local(when, 'en')}")
    elif start and end:
        window = (f"{fmt_local(start)} 至 {fmt_local(end)}" if zh else
                  f"{fmt_local(start, 'en')} to {fmt_local(end, 'en')}")
    else:
        window = "待定" if zh else "to be announced"
    met = meteorology[0 if zh else 1] if meteorology else d.get(
        "meteorology_zh" if zh else "meteorology_en")
    if not met:
        met = "未提供气象条件说明（见预警理由）" if zh else "no meteorology statement (see reason)"
    issue_day = to_local(issue).date()
    days = [(issue_day + dt.timedelta(days=k)).isoformat() for k in (1, 2, 3)]
    daily = []
    for uid, vals in (d.get("daily_aqi") or {}).items():
        try:
            name = region.unit(uid).name if zh else region.unit(uid).name_en
        except KeyError:
            name = uid
        cells = []
        for v in list(vals or [])[:3]:
            if v is None or v != v:
                cells.append({"text": "NA", "colour": "#FFFFFF"})
            else:
                info = level_info(aqi_level(min(float(v), 500.0), ruleset), ruleset)
                cells.append({"text": str(int(round(float(v)))), "colour": info.hex,
                              "dark": info.level >= 4})
        daily.append({"unit": name, "cells": cells})
    response = RESPONSE_LEVELS.get(level, ("", ""))[0 if zh else 1] if kind == "warning" else ""
    share = REDUCTION_SHARE_PCT.get(level) if kind == "warning" else None
    if share is None:
        reduction = ""
    elif zh:
        reduction = (f"按照国家要求，全社会二氧化硫、氮氧化物、颗粒物和挥发性有机物排放量"
                     f"分别减少{share}%以上。")
    else:
        reduction = (f"Society-wide SO2, NOx, particulate and VOCs emissions are to be cut by at "
                     f"least {share} % each, as the national guidance requires.")
    if kind == "lift":
        reason = d.get("reason_zh" if zh else "reason_en") or (
            "经会商研判，空气质量将持续改善，相应应急减排措施同时终止。" if zh else
            "Air quality is forecast to stay improved; the emergency measures end.")
    else:
        reason = d.get("reason_zh" if zh else "reason_en") or ""
    cond = str(d.get("condition") or "")
    if " / " in cond:
        cond = cond.split(" / ", 1)[0 if zh else 1]
    joint = d.get("joint") or None
    joint_text = ""
    if isinstance(joint, Mapping) and kind == "warning":
        def _names(ids: Any) -> str:
            out = []
            for u in ids or []:
                try:
                    out.append(region.unit(u).name if zh else region.unit(u).name_en)
                except KeyError:
                    out.append(str(u))
            return ("、" if zh else ", ").join(out)

        kind_txt = {"contiguous": ("连片区域预警", "contiguous regional warning"),
                    "joint": ("川渝联合预警", "joint Sichuan–Chongqing warning")}.get(
            str(joint.get("kind")), (str(joint.get("kind", "")), str(joint.get("kind", ""))))
        joint_text = (f"{kind_txt[0]}：触发区域 {_names(joint.get('source_units'))}；"
                      f"联动响应区域 {_names(joint.get('acting_units'))}" if zh else
                      f"{kind_txt[1]}: triggered by {_names(joint.get('source_units'))}; "
                      f"acting units {_names(joint.get('acting_units'))}")
    return {
        "lang": lang,
        "kind": kind,
        "condition": cond,
        "joint": joint_text,
        "decision_id": str(d["decision_id"]),
        "action": str(d.get("action", "")),
        "level": level,
        "colour": WARNING_COLOURS.get(level, "#607D8B"),
        "title": title,
        "issuer": s.issuer if zh else s.issuer_en,
        "issued": fmt_local(issue, lang),
        "level_name": (f"{lname_zh}预警" if zh else f"{lname_en} warning") if level in
        WARNING_COLOURS and kind != "advisory" else (
            ("健康提示" if zh else "health advisory") if kind != "advisory"
            or pollutant_code(d.get("primary_pollutant")) == "o3"
            else ("预警前提示（未达黄色预警）" if zh else "pre-warning advisory (below yellow)")),
        "response": response,
        "area": _names_by_province(list(d["unit_ids"]), region, lang),
        "window": window,
        "primary": pollutant_label(d.get("primary_pollutant"), lang),
        "meteorology": str(met),
        "reason": str(reason),
        "days": days,
        "daily": daily,
        "health": _health(d, ruleset, lang) if kind != "lift" else None,
        "measures": _orders_by_unit(d["control_orders"], region, lang) if kind == "warning" else [],
        "reduction": reduction,
        "checks": _checks(d, region, lang) if kind == "warning" else [],
        "contact": s.contact if zh else s.contact_en,
        "references": _reference_list(d),
        "demo_label": (SYNTHETIC_LABEL_ZH if zh else SYNTHETIC_LABEL_EN) if is_synthetic(src)
        else "",
        "degraded": [str(x) for x in d.get("degraded_inputs") or []],
        "override": d.get("override"),
    }
