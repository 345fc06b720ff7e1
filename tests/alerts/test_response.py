"""Coordinated response: control orders, elevated sources, reduction check, 错峰 calendar, and the
validation of the emergency list (domain-spec T2.1, T3.1–T3.3)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml
from airwarn.alerts.response import (
    control_orders,
    orders_frame,
    reduction_check,
    reductions_by_unit,
    staggered_calendar,
)
from airwarn.configs.response_schema import load_emergency_list
from airwarn.configs.schema import ConfigError

from airwarn import configs

SHIPPED = configs.config_dir() / "response" / "emergency_list.yaml"
T = "禁止国四及以下重型载货车辆（含燃气）参与运输"


def _base() -> dict:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return {
        "example": True, "title": "test list",
        "reduction_targets": {"yellow": 0.1, "orange": 0.2, "red": 0.3},
        "default_measures": data["default_measures"],
        "cities": [{"city": "甲市", "unit": "chengdu",
                    "total_emissions": {"so2": 10, "nox": 20, "pm": 5, "vocs": 40}}],
        "enterprises": [
            {"id": "E1", "name": "示例水泥厂（虚构）", "uscc": "91510100EXAMPLE001", "unit": "chengdu",
             "city": "甲市", "district": "彭州市", "lat": 30.9, "lon": 103.9,
             "industry": "cement_clinker", "grade": "C",
             "production_units": [
                 {"unit_id": "K1", "process": "熟料烧成", "stack_height_m": 85,
                  "emissions": {"so2": 2.0, "nox": 4.0, "pm": 1.0, "vocs": 0.0}},
                 {"unit_id": "M1", "process": "水泥粉磨", "stack_height_m": 30,
                  "emissions": {"pm": 0.5}}],
             "staggered": [{"name": "秋冬季错峰生产", "start": "11-15", "end": "03-15"}]},
            {"id": "E2", "name": "示例玻璃厂（虚构）", "uscc": "91510100EXAMPLE002", "unit": "chengdu",
             "city": "甲市", "lat": 30.8, "lon": 104.0, "industry": "glass", "grade": "B",
             "production_units": [{"unit_id": "G1", "process": "浮法熔窑", "stack_height_m": 60,
                                   "emissions": {"so2": 1.0, "nox": 8.0, "pm": 0.2, "vocs": 4.0}}],
             "measures": {"red": {"action": "stop", "transport": T}}},
        ],
    }


def _load(tmp_path: Path, data: dict):
    p = tmp_path / "list.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_emergency_list(p, configs.load_region())


DEC = {"decision_id": "W1", "level": "orange", "unit_ids": ["chengdu"],
       "start": "2026-01-11T00:00:00+08:00", "end": "2026-01-13T00:00:00+08:00"}


def test_control_orders_per_production_unit_with_elevated_flag(tmp_path: Path) -> None:
    el = _load(tmp_path, _base())
    orders = control_orders(DEC, el, configs.load_settings())
    by = {(o.enterprise_id, o.production_unit): o for o in orders}
    k1 = by[("E1", "K1")]
    assert (k1.measure, k1.value, k1.is_elevated) == ("stop", 100.0, True)       # C × orange = 停产
    assert k1.reductions == {"so2": 2.0, "nox": 4.0, "pm": 1.0, "vocs": 0.0}
    assert k1.stacks == [{"id": "K1", "process": "熟料烧成", "height_m": 85}]
    assert (k1.start, k1.end, k1.decision_id) == (DEC["start"], DEC["end"], "W1")
    assert not by[("E1", "M1")].is_elevated and "高架源" in k1.text_zh
    g1 = by[("E2", "G1")]                                   # generic B × orange = 限产 20 % (U)
    assert (g1.measure, g1.value, g1.transport) == ("limit_pct", 20.0, T)
    assert g1.reductions == {"so2": 0.2, "nox": 1.6, "pm": 0.04, "vocs": 0.8}
    high = configs.load_settings().model_copy(update={"elevated_min_stack_height_m": 90.0})
    assert not any(o.is_elevated for o in control_orders(DEC, el, high))
    assert control_orders({**DEC, "level": "blue"}, el) == []
    assert control_orders({**DEC, "unit_ids": ["deyang"]}, el) == []
    df = orders_frame(orders)
    assert len(df) == 3 and df["nox_t_d"].sum() == pytest.approx(5.6)
    per_unit = reductions_by_unit(orders)
    assert per_unit.loc["chengdu", "nox"] == pytest.approx(5.6)
    assert per_unit.loc["chengdu", "pm"] == pytest.approx(1.0 + 0.5 + 0.04)
    assert (per_unit.loc["chengdu", "orders"], per_unit.loc["chengdu", "elevated_orders"]) == (3, 2)
    assert reductions_by_unit(orders, by="city").index.tolist() == ["甲市"]
    assert reductions_by_unit([]).empty


def test_yellow_uses_grade_table_and_enterprise_measure_wins(tmp_path: Path) -> None:
    el = _load(tmp_path, _base())
    y = {(o.enterprise_id, o.production_unit): o for o in control_orders({**DEC, "level": "yellow"}, el)}
    assert (y[("E1", "K1")].measure, y[("E1", "K1")].value) == ("stop_lines_pct", 50.0)  # C yellow
    assert y[("E1", "K1")].reductions["nox"] == 2.0
    r = {o.enterprise_id: o for o in control_orders({**DEC, "level": "red"}, el)}
    assert r["E2"].measure == "stop"                     # its own measure beats the generic 30 %


def test_cement_clinker_defaults_follow_spec_t32() -> None:
    el = load_emergency_list(SHIPPED, configs.load_region())
    cc = el.default_measures["cement_clinker"]
    table = {g: tuple((cc[g][lv].action, cc[g][lv].value) for lv in ("yellow", "orange", "red"))
             for g in ("A", "B", "C", "D")}
    assert table == {
        "A": (("voluntary", 0.0),) * 3,
        "B": (("voluntary", 0.0), ("limit_pct", 20.0), ("stop", 100.0)),
        "C": (("stop_lines_pct", 50.0), ("stop", 100.0), ("stop", 100.0)),
        "D": (("stop", 100.0),) * 3,
    }
    assert cc["B"]["yellow"].transport == T and cc["D"]["red"].transport == "停止公路运输"


def test_reduction_check_met_and_short_with_the_gap(tmp_path: Path) -> None:
    el = _load(tmp_path, _base())
    # orange: required 20 % of 10/20/5/40 = 2/4/1/8; achieved so2 2+0.2, nox 4+1.6, pm 1.5+0.04, vocs 0.8
    checks = {c.pollutant: c for c in reduction_check(el, "orange")}
    assert checks["so2"].met and checks["so2"].achieved == pytest.approx(2.2)
    assert checks["nox"].met and checks["pm"].met
    v = checks["vocs"]
    assert not v.met and v.required == pytest.approx(8.0) and v.gap == pytest.approx(7.2)
    # red: 30 % — so2 needs 3, achieved 2 + 1 = 3 (met exactly); yellow: 10 %
    red = {c.pollutant: c for c in reduction_check(el, "red")}
    assert red["so2"].met and red["so2"].gap == 0 and red["vocs"].gap == pytest.approx(12 - 4)
    y = {c.pollutant: c for c in reduction_check(el, "yellow")}
    assert y["so2"].achieved == pytest.approx(1.0 + 0.1) and y["so2"].gap == 0
    with pytest.raises(ValueError, match="level 'blue' has no reduction target"):
        reduction_check(el, "blue")
    # orders-based check counts only the orders given
    only = control_orders(DEC, el, unit_ids=["chengdu"])[:1]
    c = {x.pollutant: x for x in reduction_check(el, "orange", orders=only)}
    assert c["nox"].achieved == pytest.approx(4.0) and c["vocs"].gap == pytest.approx(8.0)


def test_staggered_calendar(tmp_path: Path) -> None:
    el = _load(tmp_path, _base())
    cal = staggered_calendar(el, "2025-2026")
    assert set(cal["enterprise_id"]) == {"E1"}
    assert cal["date"].min() == dt.date(2025, 11, 15) and cal["date"].max() == dt.date(2026, 3, 15)
    assert len(cal) == 121 and (cal["window"] == "秋冬季错峰生产").all()
    assert len(staggered_calendar(el, "2027-2028")) == 122      # 2028 is a leap year
    with pytest.raises(ValueError, match="2025-2026"):
        staggered_calendar(el, "2025")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["enterprises"][0].update(unit="atlantis"),
     r"enterprises.0: enterprise E1 \(示例水泥厂（虚构）\) lies in no unit"),
    (lambda d: d["enterprises"][1]["production_units"][0]["emissions"].update(nox=-1),
     r"enterprises.1.production_units.0.emissions.nox: Input should be greater than or equal to 0"),
    (lambda d: d["enterprises"][1].update(measures={"purple": {"action": "stop"}}),
     r"measure for unknown level\(s\) \['purple'\]"),
    (lambda d: d["enterprises"][0].update(grade="E"),
     r"enterprises.0.grade: .*grade 'E' is not in the list"),
    (lambda d: d["default_measures"]["_generic"].pop("B"),
     r"enterprise E2 \(示例玻璃厂（虚构）\): no measure for yellow"),
    (lambda d: d["enterprises"][0].update(city="乙市"),
     r"enterprise E1 .* city '乙市' has no total_emissions"),
    (lambda d: d["default_measures"]["cement_clinker"]["C"].update(black={"action": "stop"}),
     r"default_measures.cement_clinker.C: measure for unknown level"),
    (lambda d: d["enterprises"][0]["production_units"].append(
        copy.deepcopy(d["enterprises"][0]["production_units"][0])),
     r"enterprises.0.production_units: Value error, duplicate production unit ids \['K1'\]"),
    (lambda d: d["reduction_targets"].update(red=0.15),
     r"reduction_targets: .*red \(0.15\) is below orange \(0.2\)"),
])
def test_bad_lists_are_refused_naming_the_culprit(tmp_path: Path, edit, message: str) -> None:
    data = copy.deepcopy(_base())
    edit(data)
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, data)


def test_shipped_example_list_is_marked_and_covers_both_sides() -> None:
    region = configs.load_region()
    el = load_emergency_list(SHIPPED, region)
    assert el.example and "EXAMPLE" in el.title
    assert all("虚构" in e.name and "EXAMPLE" in e.uscc for e in el.enterprises)
    provinces = {region.unit(e.unit).province for e in el.enterprises}
    assert provinces == {"sichuan", "chongqing"}
    assert {"cement_clinker", "power", "steel", "glass", "brick_tile"} <= {e.industry for e in el.enterprises}
    per_unit: dict[str, int] = {}
    for e in el.enterprises:
        per_unit[e.unit] = per_unit.get(e.unit, 0) + 1
    assert len(per_unit) >= 6 and all(3 <= n <= 6 for n in per_unit.values())
    assert "EXAMPLE" in SHIPPED.read_text(encoding="utf-8").splitlines()[0]
