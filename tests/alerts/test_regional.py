"""Regional joint warnings (区域联动): contiguous groups and the cross-border rule."""

from __future__ import annotations

from airwarn.alerts.regional import contiguous_groups, cross_border_findings, regional_findings
from airwarn.configs.schema import Region

from airwarn import configs


def _region(edges: list[tuple[str, str, str]], provinces: dict[str, str],
            belt: set[str] = frozenset()) -> Region:
    units = []
    for k, (uid, prov) in enumerate(provinces.items()):
        units.append({
            "id": uid, "name": f"单元{uid}", "name_en": f"Unit {uid}", "province": prov,
            "group": "g", "code": f"{510000 + k:06d}", "centroid": {"lat": 30, "lon": 104 + k / 10},
            "border_belt": uid in belt,
            "neighbours": [{"id": b, "kind": kind} for a, b, kind in edges if a == uid]})
    return Region.model_validate({"name": "test", "name_en": "test", "units": units})


# a chain a-b-c-d-e plus f..j hanging off it one by one (f-a, g-b, h-c, i-d, j-e); k-l channel only
CHAIN = [("a", "b", "border"), ("b", "c", "border"), ("c", "d", "border"), ("d", "e", "border"),
         ("f", "a", "border"), ("g", "b", "border"), ("h", "c", "border"), ("i", "d", "border"),
         ("j", "e", "border"), ("k", "l", "channel"), ("e", "k", "channel")]
PROV = {u: "sichuan" for u in "abcdefghijkl"}


def test_five_contiguous_units_raise_a_regional_warning() -> None:
    region = _region(CHAIN, PROV)
    levels = dict.fromkeys("abcdefghijkl", "none") | dict.fromkeys("abcde", "yellow")
    levels["c"] = "orange"
    f = regional_findings(levels, region, min_contiguous=5)
    assert [(x.kind, x.level, x.unit_ids) for x in f] == [("contiguous", "yellow", tuple("abcde"))]
    assert "5 个相邻区域" in f[0].reason_zh and "≥ 5 个连片" in f[0].reason_zh
    assert "5 contiguous units" in f[0].reason_en


def test_five_non_contiguous_units_do_not() -> None:
    region = _region(CHAIN, PROV)
    levels = dict.fromkeys("abcdefghijkl", "none") | dict.fromkeys("fghij", "red")
    assert regional_findings(levels, region, min_contiguous=5) == []
    assert contiguous_groups("fghij", region) == [(u,) for u in "fghij"]
    # a channel link is not contiguity: e-k-l are three but only e touches by border
    levels = dict.fromkeys("abcdefghijkl", "none") | dict.fromkeys("dekl", "orange")
    assert contiguous_groups("dekl", region) == [("d", "e"), ("k",), ("l",)]
    assert regional_findings(levels, region, min_contiguous=3) == []


def test_higher_level_group_is_not_repeated_and_scope_province() -> None:
    region = _region(CHAIN, PROV | {"d": "chongqing", "e": "chongqing", "i": "chongqing"})
    levels = dict.fromkeys("abcdefghijkl", "none") | dict.fromkeys("abcde", "orange")
    f = regional_findings(levels, region, min_contiguous=5)
    assert [(x.level, x.unit_ids) for x in f] == [("orange", tuple("abcde"))]
    assert "跨川渝两省市" in f[0].reason_zh and "across the Sichuan–Chongqing border" in f[0].reason_en
    # within each province only, a-b-c (3) and d-e (2) are too small
    assert regional_findings(levels, region, min_contiguous=5, scope="province") == []


def test_cross_border_joint_warning_names_both_sides() -> None:
    prov = {"x": "sichuan", "s": "sichuan", "y": "chongqing", "z": "chongqing", "w": "chongqing"}
    region = _region([("x", "y", "border"), ("x", "z", "channel"), ("x", "s", "border"),
                      ("s", "w", "border")], prov, belt={"x"})
    levels = {"x": "orange", "s": "orange", "y": "none", "z": "yellow", "w": "none"}
    f = cross_border_findings(levels, region)
    assert len(f) == 1
    j = f[0]
    assert (j.kind, j.level, j.source_units, j.acting_units) == ("joint", "orange", ("x",), ("y", "z"))
    assert j.unit_ids == ("x", "y", "z")
    assert "单元y（接壤，当前无预警）" in j.reason_zh and "单元z（传输通道，当前黄色预警）" in j.reason_zh
    assert "must act at orange" in j.reason_en
    # s is not in the border belt: its neighbour w is not named; matched levels → nothing
    assert cross_border_findings(levels | {"y": "orange", "z": "red"}, region) == []
    assert cross_border_findings(levels, region, kinds=("border",))[0].acting_units == ("y",)


def test_real_region_border_never_hides_an_episode() -> None:
    region = configs.load_region()
    levels = dict.fromkeys(region.unit_ids, "none")
    for u in ("chengdu", "deyang", "meishan", "ziyang", "suining"):
        levels[u] = "orange"
    levels["luzhou"] = "yellow"
    f = regional_findings(levels, region, min_contiguous=5)
    assert [(x.level, x.unit_ids) for x in f] == [
        ("orange", ("chengdu", "deyang", "meishan", "suining", "ziyang"))]
    joint = {x.source_units[0]: x for x in cross_border_findings(levels, region)}
    assert set(joint) == {"suining", "ziyang", "luzhou"}
    assert set(joint["luzhou"].acting_units) >= {"yongchuan", "jiangjin", "rongchang"}
    assert "hechuan" in joint["suining"].acting_units          # 涪江 transport channel
    assert all(region.unit(v).province == "chongqing" for x in joint.values() for v in x.acting_units)
    # the other way round: a Chongqing border unit at red names its Sichuan neighbours
    levels = dict.fromkeys(region.unit_ids, "none") | {"hechuan": "red"}
    j = cross_border_findings(levels, region)[0]
    assert j.source_units == ("hechuan",) and {"guangan", "suining", "nanchong"} <= set(j.acting_units)
