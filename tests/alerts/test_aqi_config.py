"""AQI rule-set YAML tables: content checks against the spec and refusal of bad tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from airwarn.configs.aqi_schema import aqi_config_dir, load_aqi_ruleset
from airwarn.configs.schema import ConfigError

RULESETS = ("HJ633_2012", "HJ633_2026")


@pytest.mark.parametrize("rs", RULESETS)
def test_so2_24h_iaqi_500_is_2620_not_2602(rs: str) -> None:
    assert load_aqi_ruleset(rs).breakpoints["so2_24h"][-1] == 2620


def test_pm_breakpoints_differ_only_at_iaqi_100() -> None:
    a, b = load_aqi_ruleset("HJ633_2012"), load_aqi_ruleset("HJ633_2026")
    assert a.breakpoints["pm25_24h"] == [0, 35, 75, 115, 150, 250, 350, 500]
    assert b.breakpoints["pm25_24h"] == [0, 35, 60, 115, 150, 250, 350, 500]
    assert a.breakpoints["pm10_24h"] == [0, 50, 150, 250, 350, 420, 500, 600]
    assert b.breakpoints["pm10_24h"] == [0, 50, 120, 250, 350, 420, 500, 600]
    same = {k for k in a.breakpoints if k not in ("pm25_24h", "pm10_24h")}
    assert all(a.breakpoints[k] == b.breakpoints[k] for k in same)


def test_validity_dates_and_settings() -> None:
    a, b = load_aqi_ruleset("HJ633_2012"), load_aqi_ruleset("HJ633_2026")
    assert a.valid_to == dt.date(2026, 2, 28) and b.valid_from == dt.date(2026, 3, 1)
    assert a.concentration_rounding is None
    assert b.concentration_rounding is not None and b.concentration_rounding.decimals_for("co") == 1
    assert b.concentration_rounding.method == "half_even"
    assert (a.min_aqi, b.min_aqi) == (0, 1) and b.clamp_zero_to_min
    assert a.exceeding_threshold == 100 and b.exceeding_threshold is None
    assert set(b.sensitive_groups) == {"so2", "no2", "co", "o3", "pm10", "pm25"}
    assert "o3_1h_max" in a.products["daily"] and "o3_1h_max" not in b.products["daily"]


@pytest.mark.parametrize("rs", RULESETS)
def test_level_colours(rs: str) -> None:
    hexes = [lv.hex for lv in load_aqi_ruleset(rs).levels]
    assert hexes == ["#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023"]


def _bad_copy(tmp_path: Path, edit: Callable[[dict], object]) -> Path:
    data = yaml.safe_load((aqi_config_dir() / "HJ633_2026.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "bad_HJ633_2026.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_non_increasing_breakpoints_refused_with_file_and_key(tmp_path: Path) -> None:
    path = _bad_copy(tmp_path, lambda d: d["breakpoints"].__setitem__(
        "pm25_24h", [0, 35, 60, 50, 150, 250, 350, 500]))
    with pytest.raises(ConfigError) as err:
        load_aqi_ruleset(path)
    msg = str(err.value)
    assert str(path) in msg and "breakpoints" in msg and "pm25_24h" in msg
    assert "strictly increasing" in msg


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda d: d["levels"][2].__setitem__("hex", "#FF7E01"), "levels.2"),
    (lambda d: d["levels"][3].__setitem__("aqi_min", 152), "level 4 starts at 152"),
    (lambda d: d["breakpoints"].__setitem__("so2_24h", [0, 50, 150]), "so2_24h"),
    (lambda d: d["above_top"].pop("o3_8h"), "o3_8h"),
    (lambda d: d.__setitem__("colour_typo", 1), "colour_typo"),
])
def test_other_bad_tables_refused(tmp_path: Path, edit: Callable[[dict], object],
                                  needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_aqi_ruleset(_bad_copy(tmp_path, edit))


def test_unknown_ruleset_id() -> None:
    with pytest.raises(ConfigError, match="unknown AQI rule set"):
        load_aqi_ruleset("HJ633_2099")
