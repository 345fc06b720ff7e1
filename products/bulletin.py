"""Duty-officer bulletins (预警信息) from warning decisions: Chinese and English, as HTML, PDF,
Markdown, JSON and CAP 1.2 XML.

Contents follow domain-spec T2.1 ("time, area, severity, primary pollutant, level, meteorology"):
标题, 发布单位, 发布时间, 预警级别 (with the response level), 预警区域 grouped by province,
起止时间, 首要污染物, 气象条件, 逐日AQI, 健康提示 (T1.5 level texts + T1.6 sensitive groups),
应急措施 with the control orders and the 高架源 (elevated-source) list per unit, 联系方式.
A lifted warning gives an all-clear bulletin (解除). Synthetic demo bulletins say
"演习/示例（合成演示数据 synthetic demo） Exercise / example (synthetic demo)" and CAP status ``Exercise``.

Every text from a decision or the configuration is escaped in HTML (Jinja2 autoescape), Markdown
(:func:`md_escape`) and XML (lxml), so markup in a unit name or a reason cannot inject.

Public functions: :func:`build_bulletin`, :func:`bulletin_markdown`, :func:`bulletin_html`,
:func:`write_pdf`, :func:`render_bulletins`, :func:`md_escape`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from alerts.aqi import aqi_level, level_info, ruleset_for
from configs.aqi_schema import load_aqi_ruleset
from features.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from products.common import (
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
from products.fonts import CSS_FAMILY, font_face_css

__all__ = [
    "REDUCTION_SHARE_PCT",
    "build_bulletin",
    "bulletin_markdown",
    "bulletin_html",
    "write_pdf",
    "render_bulletins",
    "md_escape",
    "bulletin_kind",
]

log = logging.getLogger(__name__)

#: Minimum cut of society-wide SO2, NOx, PM and VOCs emissions during a warning, percent
#: (domain-spec T2.1 "Emission-reduction share", V2: S17 Tianjin & Shandong plan summaries).
REDUCTION_SHARE_PCT: dict[str, int] = {"yellow": 10, "orange": 20, "red": 30}

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_PROVINCES = {"sichuan": ("四川省", "Sichuan"), "chongqing": ("重庆市", "Chongqing")}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


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


def _names_by_province(unit_ids: list[str], region: Any, lang: str) -> list[tuple[str, list[str]]]:
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
        from alerts.response import measure_text
        from configs.response_schema import Measure

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


def _orders_by_unit(orders: list[dict[str, Any]], region: Any, lang: str) -> list[dict[str, Any]]:
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


def _checks(d: Mapping[str, Any], region: Any, lang: str) -> list[dict[str, Any]]:
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


def build_bulletin(decision: Any, config: Any, *, source: str | None = None,
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


_MD_LABELS = {
    "zh": {"issuer": "发布单位", "issued": "发布时间", "level": "预警级别", "area": "预警区域",
           "window": "起止时间", "primary": "首要污染物", "met": "气象条件", "reason": "预警理由",
           "daily": "逐日空气质量指数预报（AQI）", "unit": "区域", "health": "健康提示",
           "sensitive": "敏感人群", "measures": "应急措施", "elevated": "高架源清单",
           "enterprise": "企业", "stack": "排放口（烟囱）", "measure": "措施", "contact": "联系方式",
           "references": "关联预警编号", "degraded": "输入数据降级说明", "all_clear": "预警解除",
           "id": "编号", "none": "无", "cut": "减排量", "checks": "减排核算（t/d）",
           "city": "城市", "pollutant": "污染物", "required": "应减", "achieved": "可减",
           "verdict": "结论", "condition": "预警条件", "joint": "区域联动"},
    "en": {"issuer": "Issued by", "issued": "Issued at", "level": "Warning level",
           "area": "Area", "window": "Period", "primary": "Primary pollutant",
           "met": "Meteorology", "reason": "Reason", "daily": "Daily AQI forecast",
           "unit": "Unit", "health": "Health advice", "sensitive": "Sensitive groups",
           "measures": "Emergency measures", "elevated": "Elevated sources (高架源)",
           "enterprise": "Enterprise", "stack": "Stack", "measure": "Measure",
           "contact": "Contact", "references": "References", "degraded": "Degraded inputs",
           "all_clear": "All clear", "id": "ID", "none": "none", "cut": "cuts",
           "checks": "Reduction check (t/d)", "city": "City", "pollutant": "Pollutant",
           "required": "Required", "achieved": "Achieved", "verdict": "Result",
           "condition": "Condition met", "joint": "Regional linkage"},
}


def labels(lang: str) -> dict[str, str]:
    """Section labels of the bulletin in a language."""
    return _MD_LABELS[lang]


def bulletin_markdown(content: Mapping[str, Any]) -> str:
    """Markdown text of a bulletin (every value escaped with :func:`md_escape`)."""
    e = md_escape
    L = _MD_LABELS[content["lang"]]
    out: list[str] = []
    if content["demo_label"]:
        out.append(f"> **{e(content['demo_label'])}**\n")
    out.append(f"# {e(content['title'])}\n")
    out.append(f"- **{L['issuer']}**: {e(content['issuer'])}")
    out.append(f"- **{L['issued']}**: {e(content['issued'])}")
    out.append(f"- **{L['id']}**: `{e(content['decision_id'])}`")
    level = e(content["level_name"]) + (f"（{e(content['response'])}）" if content["response"]
                                        else "")
    out.append(f"- **{L['level']}**: {level}")
    zh = content["lang"] == "zh"
    sep, colon, psep = ("、", "：", "；") if zh else (", ", ": ", "; ")
    area = psep.join(f"{e(p)}{colon}{sep.join(e(n) for n in names)}" for p, names in content["area"])
    out.append(f"- **{L['area']}**: {area}")
    out.append(f"- **{L['window']}**: {e(content['window'])}")
    if content["kind"] != "lift":
        out.append(f"- **{L['primary']}**: {e(content['primary'])}")
    out.append(f"- **{L['met']}**: {e(content['meteorology'])}")
    if content["condition"]:
        out.append(f"- **{L['condition']}**: {e(content['condition'])}")
    if content["joint"]:
        out.append(f"- **{L['joint']}**: {e(content['joint'])}")
    if content["references"]:
        out.append(f"- **{L['references']}**: " + ", ".join(f"`{e(r)}`" for r in
                                                             content["references"]))
    out.append("")
    if content["reason"]:
        out += [f"## {L['reason'] if content['kind'] != 'lift' else L['all_clear']}", "",
                e(content["reason"]), ""]
    if content["daily"]:
        out += [f"## {L['daily']}", "", f"| {L['unit']} | " + " | ".join(
            e(x) for x in content["days"]) + " |", "|---|" + "---:|" * len(content["days"])]
        for row in content["daily"]:
            out.append(f"| {e(row['unit'])} | " + " | ".join(e(c["text"]) for c in row["cells"])
                       + " |")
        out.append("")
    h = content["health"]
    if h:
        out += [f"## {L['health']}", "", f"- {e(h['category'])}: {e(h['effect'])}",
                f"- {e(h['advice'])}"]
        if h["sensitive"]:
            out.append(f"- **{L['sensitive']}**: {e(h['sensitive'])}")
        out.append("")
    if content["measures"] or content["reduction"]:
        out += [f"## {L['measures']}", ""]
        if content["reduction"]:
            out += [e(content["reduction"]), ""]
        for m in content["measures"]:
            out.append(f"### {e(m['unit'])}")
            out.append("")
            out.append(f"| {L['enterprise']} | {L['measure']} | {L['stack']} |")
            out.append("|---|---|---|")
            for o in m["orders"]:
                stacks = ", ".join(e(s) for s in o["stacks"]) or "—"
                tag = " (高架源)" if o["elevated"] else ""
                out.append(f"| {e(o['enterprise'])}{tag} | {e(o['measure'])} | {stacks} |")
            out.append("")
        if content["checks"]:
            out += [f"### {L['checks']}", "",
                    f"| {L['city']} | {L['pollutant']} | {L['required']} | {L['achieved']} | "
                    f"{L['verdict']} |", "|---|---|---:|---:|---|"]
            out += [f"| {e(c['city'])} | {e(c['pollutant'])} | {c['required']} | "
                    f"{c['achieved']} | {e(c['met'])} |" for c in content["checks"]]
            out.append("")
        elevated = [(m["unit"], o) for m in content["measures"] for o in m["elevated"]]
        out += [f"### {L['elevated']}", ""]
        if elevated:
            for unit, o in elevated:
                for stack in o["stacks"] or ["—"]:
                    out.append(f"- {e(unit)}{colon}{e(o['enterprise'])} — {e(stack)} — "
                               f"{e(o['measure'])}")
        else:
            out.append(f"- {L['none']}")
        out.append("")
    if content["degraded"]:
        out += [f"## {L['degraded']}", ""] + [f"- {e(x)}" for x in content["degraded"]] + [""]
    out += [f"## {L['contact']}", "", f"{e(content['issuer'])}{'，' if zh else ', '}"
            f"{e(content['contact'])}", ""]
    return "\n".join(out)


def bulletin_html(content: Mapping[str, Any], *, for_pdf: bool = False) -> str:
    """Self-contained HTML of a bulletin (Jinja2, autoescaped), with the CJK ``@font-face``."""
    tpl = _env().get_template("bulletin.html.j2")
    return tpl.render(b=content, L=_MD_LABELS[content["lang"]], font_face=font_face_css(),
                      font_family=CSS_FAMILY, for_pdf=for_pdf)


def write_pdf(html: str, path: Path | str) -> Path:
    """Render HTML to PDF with WeasyPrint (offline: no URL fetcher beyond ``file://``), atomically.

    Raises
    ------
    RuntimeError
        If the HTML asks for a non-local resource (the fetcher refuses it, naming the URL).
    """
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"file", "data"}, fail_on_errors=True)
    with atomic_path(path) as tmp:
        weasyprint.HTML(string=html, url_fetcher=fetcher, base_url=str(_TEMPLATES)).write_pdf(
            str(tmp))
    return Path(path)


def _stored_meteorology(d: Mapping[str, Any], config: Any) -> tuple[str, str] | None:
    """气象条件 from the newest stored forecast cycle under ``config.data_dir`` (None if absent)."""
    from products.meteorology import meteorology_text, unit_met_for_issue

    data_dir = getattr(config, "data_dir", None)
    if data_dir is None or not d.get("issue_time"):
        return None
    try:
        met = unit_met_for_issue(config, data_dir, d["issue_time"])
        return meteorology_text(met, list(d["unit_ids"]), d.get("start"), d.get("end"))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("no meteorology summary for %s: %s", d["decision_id"], exc)
        return None


def _safe_name(decision_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", decision_id)[:120] or "decision"


def render_bulletins(decision: Any, config: Any, out_dir: Path | str, *,
                     source: str | None = None, pdf: bool = True,
                     meteorology: tuple[str, str] | None = None) -> dict[str, Path]:
    """Write every bulletin product of one decision, atomically.

    Parameters
    ----------
    decision : WarningDecision or dict
    config : configs.AirwarnConfig
    out_dir : path-like
        Directory (created); files are ``<decision_id>.<key>``.
    source : str, optional
        Forecast ``source`` attribute (``"synthetic demo"`` → exercise labels).
    pdf : bool
        Whether to render the two PDFs (WeasyPrint, ≈ 1–2 s each).
    meteorology : (str, str), optional
        气象条件 sentence (zh, en); see :func:`build_bulletin`.

    Returns
    -------
    dict
        Keys ``zh.html zh.pdf zh.md en.html en.pdf en.md json cap.xml`` → paths.
    """
    from products.cap import cap_xml

    d = decision_dict(decision)
    if meteorology is None and not d.get("meteorology_zh"):
        meteorology = _stored_meteorology(d, config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(str(d["decision_id"]))
    paths: dict[str, Path] = {}
    texts: dict[str, str] = {}
    for lang in ("zh", "en"):
        content = build_bulletin(d, config, source=source, lang=lang, meteorology=meteorology)
        md = bulletin_markdown(content)
        texts[lang] = md
        paths[f"{lang}.html"] = write_text_atomic(out / f"{stem}.{lang}.html", bulletin_html(content))
        if pdf:
            paths[f"{lang}.pdf"] = write_pdf(bulletin_html(content, for_pdf=True),
                                             out / f"{stem}.{lang}.pdf")
        paths[f"{lang}.md"] = write_text_atomic(out / f"{stem}.{lang}.md", md)
    doc = {"decision": d, "source": source if source is not None else d.get("source"),
           "text": {"zh": texts["zh"], "en": texts["en"]}}
    paths["json"] = write_text_atomic(out / f"{stem}.json",
                                      json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    paths["cap.xml"] = write_bytes_atomic(out / f"{stem}.cap.xml",
                                          cap_xml(d, config, source=source,
                                                  meteorology=meteorology))
    return paths
