"""Warning ladders as configuration and their evaluation (domain-spec T2.1–T2.5, §6 rule 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from airwarn.alerts.ladders import evaluate_ladder, gated_aqi, is_below_lift
from airwarn.configs.schema import ConfigError, Region
from airwarn.configs.warning_schema import (
    HorizonTooShort,
    ladder_ids,
    load_ladder,
    load_ladders_for_region,
    warning_config_dir,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from airwarn import configs

T25_2024 = [
    ([160, 170, 120], "yellow"), ([210, 120, 90], "yellow"), ([210, 220, 140], "orange"),
    ([160, 170, 180, 140], "orange"), ([210, 220, 230], "orange"), ([210, 220, 310], "red"),
    ([310, 120, 100], "yellow"), ([140, 150, 150], "none"),
]
T25_2017 = [
    ([210], "blue"), ([210, 220], "yellow"), ([210, 220, 230], "yellow"),
    ([210, 220, 310], "orange"), ([210, 220, 310, 320], "red"), ([500], "red"),
]


@pytest.mark.parametrize("ladder", ["national-2024", "sichuan-2024", "chengdu-2024"])
@pytest.mark.parametrize(("seq", "level"), T25_2024)
def test_t25_sequences_2024(ladder: str, seq: list[int], level: str) -> None:
    assert evaluate_ladder(load_ladder(ladder), seq).level == level


@pytest.mark.parametrize(("seq", "level"), T25_2017)
def test_t25_sequences_2017(seq: list[int], level: str) -> None:
    lad = load_ladder("national-2017", allow_long_horizon=True)
    assert evaluate_ladder(lad, seq).level == level


def test_condition_text_and_exceedance_days() -> None:
    r = evaluate_ladder(load_ladder("national-2024"), [120, 210, 220, 310][1:])
    assert r.level == "red"
    assert "日AQI > 300 持续 ≥ 24 小时" in r.condition_met_text
    assert "daily AQI > 200 for ≥ 72 h" in r.condition_met_text
    assert r.exceedance_days == (0, 1, 2) and r.source == "S5"
    r = evaluate_ladder(load_ladder("national-2024"), [120, 160, 170])
    assert (r.level, r.exceedance_days) == ("yellow", (1, 2))


def test_and_terms_must_hold_in_the_same_run() -> None:
    # > 300 on day 1 and > 200 for 72 h on days 3-5 are two episodes: not red
    lad = load_ladder("national-2024")
    assert evaluate_ladder(lad, [310, 100, 210, 220, 230]).level == "orange"


def test_96h_red_refused_for_a_72h_run_unless_drill() -> None:
    with pytest.raises(HorizonTooShort, match=r"national-2017.*'red'.*96 h"):
        load_ladder("national-2017", horizon_h=72)
    assert issubclass(HorizonTooShort, ConfigError)
    assert load_ladder("national-2017", horizon_h=96).level_names[-1] == "red"
    assert load_ladder("national-2017", allow_long_horizon=True).drill


def test_o3_advisory_drops_only_its_96h_alternative() -> None:
    lad = load_ladder("chengdu-o3-2021", horizon_h=72)
    assert lad.kind == "o3_advisory"
    assert len(lad.level("orange").any_of) == 1 and "96 h" in lad.dropped[0]
    # IAQI(O3-8h): 215 µg/m³ → 150, 265 → 200 (both editions)
    assert evaluate_ladder(lad, [0, 0, 0], daily_o3_8h=[220, 230, 240]).level == "yellow"
    assert evaluate_ladder(lad, [0, 0, 0], daily_o3_8h=[200, 270, 200]).level == "orange"
    assert evaluate_ladder(lad, [0, 0, 0], daily_o3_8h=[270, 280, 300]).level == "red"
    assert evaluate_ladder(lad, [0, 0, 0], daily_o3_8h=[215, 215, 215]).level == "none"
    with pytest.raises(ValueError, match="no condition can be evaluated"):
        evaluate_ladder(lad, [300, 300, 300])


def test_chongqing_pollutant_specific_conditions() -> None:
    lad = load_ladder("chongqing-2022")
    # AQI 190s but PM2.5 > 115 for 48 h → yellow; > 115 for 72 h with > 150 for 24 h → orange
    assert evaluate_ladder(lad, [190, 190, 100], daily_pm25=[120, 130, 60]).level == "yellow"
    assert evaluate_ladder(lad, [190, 195, 199], daily_pm25=[120, 155, 130]).level == "orange"
    assert evaluate_ladder(lad, [190, 195, 199], daily_pm25=[120, 150, 130]).level == "yellow"
    # O3-8h > 215 for 2 days
    assert evaluate_ladder(lad, [160, 170, 90], daily_o3_8h=[220, 230, 100]).level == "yellow"
    # without PM2.5 the pollutant alternatives are reported as not evaluated
    r = evaluate_ladder(lad, [160, 170, 90])
    assert r.level == "none" and any("PM2.5" in u for u in r.unevaluated)
    red = lad.level("red")
    assert red.any_of[0].status == "U" and "U SETTING" in (red.note or "")


def test_pollutant_gate_replaces_o3_days_by_pm25_iaqi() -> None:
    g = gated_aqi([210, 220, 230], ["O3_8h", "PM2.5", "PM2.5,PM10"], ["PM2.5", "PM10"],
                  daily_pm25=[75, 160, 170], ruleset="HJ633_2012")
    assert g.tolist() == [100.0, 220.0, 230.0]
    lad = load_ladder("national-2024")
    r = evaluate_ladder(lad, [210, 220, 230], primary=["O3_8h", "O3_8h", "O3_8h"])
    assert r.level == "none"


def test_rolling_24h_mode_over_hourly_values() -> None:
    lad = load_ladder("national-2024").model_copy(update={"mode": "rolling-24h"})
    hourly = np.full(72, 120.0)
    hourly[10:40] = 205  # 30 h above 200 → yellow (> 200 for ≥ 24 h)
    assert evaluate_ladder(lad, hourly).level == "yellow"
    hourly[10:60] = 205  # 50 h above 200 → orange (> 200 for ≥ 48 h)
    r = evaluate_ladder(lad, hourly)
    assert r.level == "orange" and r.exceedance_days == tuple(range(10, 60))
    hourly[10:33] = 205
    hourly[33:] = 120  # 23 h only
    assert evaluate_ladder(lad, hourly).level == "none"


def test_lift_rule_needs_more_than_36_hours() -> None:
    lad = load_ladder("national-2024")
    assert is_below_lift(lad, [140, 120, 210])          # 48 h ≤ 150 > 36 h
    assert not is_below_lift(lad, [140, 160, 100])
    assert not is_below_lift(lad, [140])                 # 24 h cannot show > 36 h
    roll = lad.model_copy(update={"mode": "rolling-24h"})
    assert not is_below_lift(roll, [100.0] * 36)
    assert is_below_lift(roll, [100.0] * 37)


def _copy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "warning"
    shutil.copytree(warning_config_dir(), d)
    return d


def test_level_without_conditions_is_refused_naming_it(tmp_path: Path) -> None:
    d = _copy_dir(tmp_path)
    data = yaml.safe_load((d / "national-2024.yaml").read_text(encoding="utf-8"))
    data["levels"][1]["any_of"] = []
    (d / "national-2024.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=r"national-2024.yaml(.|\n)*level 'orange' has no conditions"):
        load_ladder("national-2024", directory=d)


def test_unknown_ladder_of_a_unit_is_refused_naming_the_unit() -> None:
    region = configs.load_region()
    data = region.model_dump()
    data["units"][3]["ladder"] = "atlantis-1999"
    bad = Region.model_validate(data)
    with pytest.raises(ConfigError, match=r"unit 'yongchuan'.*'atlantis-1999'"):
        load_ladders_for_region(bad)
    with pytest.raises(ConfigError, match="unknown warning ladder 'atlantis-1999'"):
        load_ladder("atlantis-1999")


def test_region_ladders_load_and_every_shipped_ladder_is_valid() -> None:
    lads = load_ladders_for_region(configs.load_region())
    assert {"chongqing-2022", "chengdu-2024", "sichuan-2024", "chengdu-o3-2021"} <= set(lads)
    assert lads["sichuan-2024"].regional_min_contiguous == 5
    for lid in ladder_ids():
        lad = load_ladder(lid, allow_long_horizon=True)
        assert lad.source and all(a.source for lv in lad.levels for a in lv.any_of)


def test_cli_ladder_prints_level_and_condition() -> None:
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    r = runner.invoke(app, ["ladder", "--ladder", "national-2024", "--daily-aqi", "210,220,310"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "red" and "日AQI > 300" in r.output
    r = runner.invoke(app, ["ladder", "--ladder", "national-2017", "--daily-aqi", "210,220,310,320"])
    assert r.output.splitlines()[0] == "red" and "drill note" in r.output
    r = runner.invoke(app, ["ladder", "--daily-aqi", "140,150,150"])
    assert r.output.splitlines()[0] == "none"
    r = runner.invoke(app, ["ladder", "--list"])
    assert r.exit_code == 0
    for lid in ("national-2024", "national-2017", "chongqing-2022"):
        assert lid in r.output



@pytest.mark.parametrize("args, message", [
    (["--daily-aqi", ""], "--daily-aqi: expected comma-separated numbers ≥ 0, one per day "
                          "(e.g. 210,220,310), got ''"),
    (["--daily-aqi", "-5,210"], "got '-5,210'"),
    (["--daily-aqi", "inf,210"], "got 'inf,210'"),
    # the O3 series alone used to be evaluated against an invented AQI of 0: "none"
    (["--o3-8h", "300,310,320"], "Invalid value for --daily-aqi: ladder 'national-2024' has no "
                                 "condition on the series given without --daily-aqi (its "
                                 "conditions read ['aqi']); give --daily-aqi"),
])
def test_cli_ladder_refuses_series_it_cannot_judge(args: list[str], message: str) -> None:
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    r = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["ladder", *args])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.replace("│", " ").split())


def test_cli_ladder_pm25_alone_on_a_pm25_ladder_lists_the_aqi_conditions_unevaluated() -> None:
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["ladder", "--ladder", "chongqing-2022", "--pm25",
                                 "160,170,180"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "orange"
    assert "  not evaluated (series not given): yellow: daily AQI > 200 for ≥ 24 h" in lines
    assert "  not evaluated (series not given): yellow: O3 daily max 8-h mean > 215 µg/m³ for " \
        "≥ 48 h" in lines

def test_a_unit_on_the_96h_ladder_is_refused_for_operations() -> None:
    region = configs.load_region()
    data = region.model_dump()
    data["units"][0]["ladder"] = "national-2017"
    with pytest.raises(HorizonTooShort, match=r"'national-2017' level 'red'"):
        load_ladders_for_region(Region.model_validate(data), horizon_h=72)


_AQI = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(seq=_AQI, k=st.integers(min_value=0, max_value=4), bump=st.integers(min_value=1, max_value=200))
def test_level_is_monotone_in_the_aqi(seq: list[int], k: int, bump: int) -> None:
    """Raising any day's AQI never lowers the level, and appending a day never lowers it."""
    for lad in (load_ladder("national-2024"), load_ladder("national-2017", allow_long_horizon=True)):
        base = evaluate_ladder(lad, seq).rank
        higher = list(seq)
        higher[k % len(seq)] = min(500, higher[k % len(seq)] + bump)
        assert evaluate_ladder(lad, higher).rank >= base
        assert evaluate_ladder(lad, [*seq, 0]).rank >= base
        assert evaluate_ladder(lad, [0, *seq]).rank >= base
