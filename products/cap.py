"""OASIS Common Alerting Protocol 1.2 messages for warning decisions.

One ``<alert>`` per decision, with two ``<info>`` blocks (``zh-CN`` and ``en-US``) and one
``<area>`` per unit (polygon from cnmaps simplified to ≤ 100 points; a circle around the seat when
no polygon is known; geocode = GB/T 2260 administrative code).

Mapping (documented choice; CAP 1.2 §3.2.2 value meanings):

=====================  =============================================================
``msgType``            ``issue``/``advisory``/``regional`` → Alert; ``upgrade``/``downgrade``/
                       ``continue`` → Update; ``lift`` → Cancel. Update and Cancel carry
                       ``references`` to the earlier decisions.
``status``             Actual; Exercise when the forecast source is ``synthetic demo``.
``severity``           red → Extreme, orange → Severe, yellow → Moderate, blue and advisories →
                       Minor; lift → Minor.
``urgency``            onset within 1 h of ``sent`` → Immediate, within 24 h → Expected,
                       later → Future; lift → Past.
``certainty``          a forecast meets the level's condition at the median or at the configured
                       exceedance probability (≥ 0.5) → Likely; lift → Likely.
``responseType``       warning → Prepare; advisory → Monitor; lift → AllClear.
=====================  =============================================================

``identifier``: ``airwarn-`` + the decision id (characters outside ``[A-Za-z0-9._:-]`` replaced,
plus a short SHA-1 when anything was replaced), so it is deterministic and never contains
spaces, commas or markup. ``references``: ``sender,identifier,sent`` triples; the ``sent`` of an
earlier decision is taken from a ``{"decision_id", "issue_time"}`` reference, else from the
``YYYYMMDDTHHMM`` stamp in its id, else the decision's own issue time (logged).

Times: ISO 8601 with the +08:00 offset (Asia/Shanghai), as CAP requires an explicit offset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from airwarn.configs import AirwarnConfig
from airwarn.products import geo
from airwarn.products.bulletin_content import build_bulletin
from airwarn.products.common import decision_dict, is_synthetic, iso_local, to_local
from lxml import etree

from airwarn.core.timeutil import parse_stamp

__all__ = ["CAP_NS", "DEFAULT_SENDER", "cap_identifier", "cap_xml", "SEVERITY", "msg_type"]

log = logging.getLogger(__name__)

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
#: Sender when ``settings.delivery.mail_from`` is unset (a reserved ``.invalid`` address).
DEFAULT_SENDER = "airwarn@chengyu-warning.invalid"
SEVERITY = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
#: Radius of the circle used for a unit without a polygon, km.
FALLBACK_RADIUS_KM = 30.0
_MSG_TYPE = {"upgrade": "Update", "downgrade": "Update", "continue": "Update", "lift": "Cancel"}


def msg_type(action: str) -> str:
    """CAP ``msgType`` of a decision action (see the module table)."""
    return _MSG_TYPE.get(action, "Alert")


def cap_identifier(decision_id: str) -> str:
    """Deterministic CAP identifier of a decision (no spaces, commas or ``< &``)."""
    safe = re.sub(r"[^A-Za-z0-9._:-]+", "-", str(decision_id)).strip("-") or "decision"
    if safe != str(decision_id):
        safe += "-" + hashlib.sha1(str(decision_id).encode("utf-8")).hexdigest()[:8]
    return f"airwarn-{safe}"


def _sender(config: AirwarnConfig) -> str:
    s = getattr(getattr(config.settings, "delivery", None), "mail_from", None)
    return re.sub(r"[\s,<&]", "", s) if s else DEFAULT_SENDER


def _ref_sent(ref: Any, fallback: str) -> tuple[str, str]:
    if isinstance(ref, Mapping):
        rid = str(ref.get("decision_id", ref.get("id", "")))
        if ref.get("issue_time"):
            return rid, iso_local(ref["issue_time"])
    else:
        rid = str(ref)
    m = re.search(r"(\d{8}T\d{4})", rid)
    if m:
        return rid, parse_stamp(m.group(1)).isoformat()
    log.warning("CAP reference %r: no issue time known; using %s", rid, fallback)
    return rid, fallback


def _urgency(kind: str, sent: dt.datetime, onset: dt.datetime | None) -> str:
    if kind == "lift":
        return "Past"
    if onset is None:
        return "Expected"
    lead = (onset - sent).total_seconds() / 3600
    return "Immediate" if lead <= 1 else ("Expected" if lead <= 24 else "Future")


def _sub(parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def _circle(lat: float, lon: float, radius_km: float) -> str:
    return f"{lat:.4f},{lon:.4f} {radius_km:.1f}"


def _info(root: etree._Element, d: dict[str, Any], content: dict[str, Any], config: AirwarnConfig,
          sent: dt.datetime) -> None:
    zh = content["lang"] == "zh"
    kind = content["kind"]
    info = _sub(root, "info")
    _sub(info, "language", "zh-CN" if zh else "en-US")
    _sub(info, "category", "Env")
    _sub(info, "event", ("重污染天气预警" if zh else "Heavy air pollution warning") if kind != "advisory"
         else ("空气污染健康提示" if zh else "Air pollution health advisory"))
    _sub(info, "responseType", {"lift": "AllClear", "advisory": "Monitor"}.get(kind, "Prepare"))
    onset = to_local(d["start"]) if d.get("start") else None
    _sub(info, "urgency", _urgency(kind, sent, onset))
    _sub(info, "severity", "Minor" if kind != "warning" else SEVERITY.get(content["level"], "Minor"))
    _sub(info, "certainty", "Likely")
    ec = _sub(info, "eventCode")
    _sub(ec, "valueName", "airwarn:level")
    _sub(ec, "value", content["level"])
    _sub(info, "effective", iso_local(sent))
    if onset is not None and kind != "lift":
        _sub(info, "onset", iso_local(onset))
    if d.get("end") and kind != "lift":
        _sub(info, "expires", iso_local(d["end"]))
    _sub(info, "senderName", content["issuer"])
    _sub(info, "headline", content["title"])
    desc = [content["reason"], f"{'气象条件' if zh else 'Meteorology'}: {content['meteorology']}",
            f"{'首要污染物' if zh else 'Primary pollutant'}: {content['primary']}",
            f"{'起止时间' if zh else 'Period'}: {content['window']}"]
    if content["demo_label"]:
        desc.insert(0, content["demo_label"])
    _sub(info, "description", "\n".join(x for x in desc if x))
    instr: list[str] = []
    h = content.get("health")
    if h:
        instr += [h["advice"]] + ([f"{'敏感人群' if zh else 'Sensitive groups'}: {h['sensitive']}"]
                                  if h["sensitive"] else [])
    if content["reduction"]:
        instr.append(content["reduction"])
    if content["measures"]:
        n = sum(len(m["orders"]) for m in content["measures"])
        ne = sum(len(m["elevated"]) for m in content["measures"])
        instr.append(f"应急减排：{n} 家企业执行管控指令，其中高架源 {ne} 家。" if zh else
                     f"Emergency cuts: {n} enterprises under control orders, {ne} elevated sources.")
    if kind == "lift":
        instr.append("相应应急措施终止。" if zh else "Emergency measures end.")
    _sub(info, "instruction", "\n".join(instr) or ("—"))
    _sub(info, "contact", f"{content['issuer']} {content['contact']}")
    for name, value in (("decision_id", d["decision_id"]), ("action", d.get("action", "")),
                        ("primary_pollutant", d.get("primary_pollutant") or "")):
        p = _sub(info, "parameter")
        _sub(p, "valueName", f"airwarn:{name}")
        _sub(p, "value", value)
    region = config.region
    for uid in d["unit_ids"]:
        try:
            unit = region.unit(uid)
        except KeyError:
            log.warning("CAP area: unknown unit %r skipped", uid)
            continue
        area = _sub(info, "area")
        _sub(area, "areaDesc", unit.name if zh else unit.name_en)
        rings = geo.cap_polygons(geo.unit_geometry(unit))
        for ring in rings:
            _sub(area, "polygon", " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in ring))
        if not rings:
            _sub(area, "circle", _circle(unit.point.lat, unit.point.lon, FALLBACK_RADIUS_KM))
        gc = _sub(area, "geocode")
        _sub(gc, "valueName", "GB/T 2260")
        _sub(gc, "value", unit.code)


def cap_xml(decision: Any, config: AirwarnConfig, *, source: str | None = None,
            meteorology: tuple[str, str] | None = None) -> bytes:
    """CAP 1.2 XML (UTF-8 bytes, with declaration) of one decision.

    Parameters
    ----------
    decision : WarningDecision or dict
    config : configs.AirwarnConfig
    source : str, optional
        Forecast ``source``; synthetic demo → ``status`` Exercise.
    meteorology : (str, str), optional
        气象条件 sentence (zh, en) for the description.
    """
    d = decision_dict(decision)
    sent = to_local(d.get("issue_time") or dt.datetime.now(dt.UTC))
    src = source if source is not None else d.get("source")
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    sender = _sender(config)
    _sub(root, "identifier", cap_identifier(str(d["decision_id"])))
    _sub(root, "sender", sender)
    _sub(root, "sent", iso_local(sent))
    _sub(root, "status", "Exercise" if is_synthetic(src) else "Actual")
    mt = msg_type(str(d.get("action", "issue")))
    if mt == "Alert" and d.get("references"):
        mt = "Update"
    _sub(root, "msgType", mt)
    _sub(root, "source", "airwarn")
    _sub(root, "scope", "Public")
    if is_synthetic(src):
        _sub(root, "note", "合成演示数据 synthetic demo — exercise, not a real warning")
    refs = []
    for r in d.get("references") or []:
        rid, rsent = _ref_sent(r, iso_local(sent))
        refs.append(f"{sender},{cap_identifier(rid)},{rsent}")
    if mt in ("Update", "Cancel") and refs:
        _sub(root, "references", " ".join(refs))
    elif mt in ("Update", "Cancel"):
        log.warning("CAP %s for %s has no references", mt, d["decision_id"])
    for lang in ("zh", "en"):
        _info(root, d, build_bulletin(d, config, source=src, lang=lang,
                                      meteorology=meteorology), config, sent)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
