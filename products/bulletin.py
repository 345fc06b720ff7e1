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

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from airwarn.configs import AirwarnConfig
from airwarn.products.basis import input_basis
from airwarn.products.bulletin_content import (  # re-exported: the content of every format
    REDUCTION_SHARE_PCT,
    build_bulletin,
    bulletin_kind,
    md_escape,
)
from airwarn.products.cap import cap_xml
from airwarn.products.common import decision_dict
from airwarn.products.fonts import CSS_FAMILY, font_face_css

from airwarn.core.atomic import atomic_path, write_bytes_atomic, write_text_atomic

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

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


_MD_LABELS = {
    "zh": {"issuer": "发布单位", "issued": "发布时间", "level": "预警级别", "area": "预警区域",
           "window": "起止时间", "primary": "首要污染物", "met": "气象条件", "reason": "预警理由",
           "daily": "逐日空气质量指数预报（AQI）", "unit": "区域", "health": "健康提示",
           "sensitive": "敏感人群", "measures": "应急措施", "elevated": "高架源清单",
           "enterprise": "企业", "stack": "排放口（烟囱）", "measure": "措施", "contact": "联系方式",
           "references": "关联预警编号", "degraded": "输入数据降级说明", "basis": "数据依据",
           "all_clear": "预警解除",
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
           "basis": "Data used",
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
    if content.get("basis"):
        out += [f"## {L['basis']}", ""] + [f"- {e(x)}" for x in content["basis"]] + [""]
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


def _stored_meteorology(d: Mapping[str, Any], config: AirwarnConfig) -> tuple[str, str] | None:
    """气象条件 from the newest stored forecast cycle under ``config.data_dir`` (None if absent)."""
    from airwarn.products.meteorology import meteorology_text, unit_met_for_issue

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


def render_bulletins(decision: Any, config: AirwarnConfig, out_dir: Path | str, *,
                     source: str | None = None, pdf: bool = True,
                     meteorology: tuple[str, str] | None = None,
                     inputs: Mapping[str, Any] | None = None) -> dict[str, Path]:
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
    inputs : mapping, optional
        The forecast's ``inputs``: the 数据依据 / data used section (cycle, observations, how
        late; :func:`products.basis.input_basis`).

    Returns
    -------
    dict
        Keys ``zh.html zh.pdf zh.md en.html en.pdf en.md json cap.xml`` → paths.
    """
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
        content["basis"] = input_basis(inputs, lang)
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
