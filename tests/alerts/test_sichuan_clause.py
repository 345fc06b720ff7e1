"""Sichuan's regional clause ("≥ 5 contiguous cities … with ≤ 3 of them at a higher level", S14)
on constructed level maps of the real region; the reading is stated in the ladder's YAML."""

from __future__ import annotations

import pytest
from airwarn.alerts.regional import clause_level, regional_findings
from airwarn.configs.warning_schema import load_ladder

from airwarn import configs

FIVE = ["chengdu", "deyang", "meishan", "ziyang", "suining"]   # contiguous (border neighbours)


@pytest.fixture(scope="module")
def region():
    return configs.load_region()


def _levels(region, **lv: str) -> dict[str, str]:
    return {u: lv.get(u, "none") for u in region.unit_ids}


def test_reading_is_stated_in_the_ladder() -> None:
    clause = load_ladder("sichuan-2024").regional_max_higher
    assert clause is not None and clause.value == 3 and clause.status == "U"
    assert "at most 3" in clause.reading and clause.source == "S14"


@pytest.mark.parametrize(("levels", "expected"), [
    # 5 contiguous at yellow or higher, 3 above yellow → yellow
    ({"chengdu": "orange", "deyang": "orange", "meishan": "yellow", "ziyang": "orange",
      "suining": "yellow"}, "yellow"),
    # 4 above yellow (> 3) → raised to orange although only 4 are orange
    ({"chengdu": "orange", "deyang": "orange", "meishan": "yellow", "ziyang": "orange",
      "suining": "orange"}, "orange"),
    # all orange, 4 red → red
    ({"chengdu": "red", "deyang": "red", "meishan": "orange", "ziyang": "red",
      "suining": "red"}, "red"),
    # all orange, 3 red → orange
    ({"chengdu": "red", "deyang": "red", "meishan": "orange", "ziyang": "red",
      "suining": "orange"}, "orange"),
])
def test_clause_levels(region, levels, expected) -> None:
    f = regional_findings(_levels(region, **levels), region, max_higher=3)
    assert [(x.level, x.unit_ids) for x in f] == [(expected, tuple(sorted(FIVE)))]
    assert clause_level(levels, "yellow", 3) == expected


def test_four_contiguous_is_no_region_and_nested_groups_are_one(region) -> None:
    four = {u: "red" for u in FIVE[:4]}
    assert regional_findings(_levels(region, **four), region, max_higher=3) == []
    # 6 contiguous: 5 orange among them form their own ≥ 5 group; under the clause it is one
    # regional warning (orange) for the whole area, not a yellow one plus an orange one
    six = {**{u: "orange" for u in FIVE}, "neijiang": "yellow"}
    f = regional_findings(_levels(region, **six), region, max_higher=3)
    assert [(x.level, len(x.unit_ids)) for x in f] == [("orange", 6)]
    assert "5 of them above" not in f[0].reason_en and "0 of them above orange" in f[0].reason_en
    # without the clause: nested findings at both levels (the older behaviour)
    g = regional_findings(_levels(region, **six), region)
    assert sorted((x.level, len(x.unit_ids)) for x in g) == [("orange", 5), ("yellow", 6)]
