"""Pydantic models for the AQI rule-set tables ``configs/aqi/<ruleset_id>.yaml``.

A rule set (``HJ633_2012``, ``HJ633_2026``) holds the IAQI breakpoint table, the behaviour above
the last breakpoint, concentration pre-rounding, the six AQI levels with categories, colours and
health texts, the 2026 sensitive-group table and the indicators of each report product
(domain-spec §1, T1.1–T1.9). A bad table (e.g. non-increasing breakpoints, a level gap, a hex colour
that does not match its RGB) is refused at load time with :class:`configs.schema.ConfigError`
naming the file and the key path.

Units: concentrations in µg/m³, CO in mg/m³; IAQI/AQI dimensionless.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from airwarn.configs.schema import ConfigError, StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = [
    "POLLUTANTS",
    "INDICATOR_RE",
    "AboveTop",
    "ConcentrationRounding",
    "AqiLevel",
    "SensitiveGroup",
    "AqiRuleset",
    "aqi_config_dir",
    "load_aqi_ruleset",
]

#: The six AQI pollutants (HJ 633-2026 §4.2.2). Units: µg/m³ except ``co`` in mg/m³.
POLLUTANTS: tuple[str, ...] = ("so2", "no2", "co", "o3", "pm10", "pm25")

#: Indicator keys: ``<pollutant>_<period>`` (breakpoint columns) and the daily ``o3_*_max``.
INDICATOR_RE = re.compile(r"^(so2|no2|co|o3|pm10|pm25)_(1h|8h|24h)(_max)?$")

_HEX_RE = re.compile(r"^#[0-9A-F]{6}$")


class AboveTop(StrictModel):
    """What to do when a concentration exceeds the last defined breakpoint of a short column.

    ``not_computed`` (HJ 633-2012 "不再进行其空气质量分指数计算"): the IAQI is not computed and
    ``fallback`` names the indicator reported instead. ``fixed``: the IAQI is the given constant
    (HJ 633-2026: SO2 1 h > 800 µg/m³ → 200, O3 8 h > 800 µg/m³ → 300).
    """

    mode: Literal["not_computed", "fixed"]
    fallback: str | None = None
    iaqi: int | None = Field(default=None, ge=0, le=500)

    @model_validator(mode="after")
    def _consistent(self) -> AboveTop:
        if self.mode == "fixed" and self.iaqi is None:
            raise ValueError("mode 'fixed' needs an 'iaqi' value")
        if self.mode == "not_computed" and self.iaqi is not None:
            raise ValueError("mode 'not_computed' takes no 'iaqi' value")
        if self.fallback is not None and not INDICATOR_RE.match(self.fallback):
            raise ValueError(f"fallback {self.fallback!r} is not an indicator key")
        return self


class ConcentrationRounding(StrictModel):
    """Pre-rounding of concentrations before the IAQI formula (HJ 633-2026 §4.2.2).

    ``method``: ``half_even`` (GB/T 8170 "四舍六入五成双" reading; unverified, domain-spec §7.8)
    or ``half_up``. ``default_decimals`` applies to every pollutant not listed in ``decimals``
    (2026: integers in µg/m³; CO 1 decimal in mg/m³).
    """

    method: Literal["half_even", "half_up"] = "half_even"
    default_decimals: int = Field(default=0, ge=0, le=6)
    decimals: dict[str, int] = Field(default_factory=dict)

    @field_validator("decimals")
    @classmethod
    def _known_pollutants(cls, v: dict[str, int]) -> dict[str, int]:
        for key, n in v.items():
            if key not in POLLUTANTS:
                raise ValueError(f"unknown pollutant {key!r}; expected one of {POLLUTANTS}")
            if not 0 <= n <= 6:
                raise ValueError(f"decimals for {key!r} must be 0…6, got {n}")
        return v

    def decimals_for(self, pollutant: str) -> int:
        """Number of decimals kept for ``pollutant`` (µg/m³; CO mg/m³)."""
        return self.decimals.get(pollutant, self.default_decimals)


class AqiLevel(StrictModel):
    """One AQI level (HJ 633 表1/表2 + 附录A 表A.1): range, category, colour, health texts."""

    level: int = Field(ge=1, le=6)
    grade_zh: str
    aqi_min: int = Field(ge=0, le=500)
    aqi_max: int = Field(ge=0, le=500)
    category_zh: str
    category_en: str
    colour_zh: str
    colour_en: str
    rgb: tuple[int, int, int]
    hex: str
    cmyk: tuple[int, int, int, int]
    health_effect_zh: str
    health_effect_en: str
    advice_zh: str
    advice_en: str

    @field_validator("rgb")
    @classmethod
    def _rgb_range(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 255 for c in v):
            raise ValueError(f"RGB components must be 0…255, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> AqiLevel:
        if not _HEX_RE.match(self.hex):
            raise ValueError(f"hex must look like '#00E400' (upper case), got {self.hex!r}")
        derived = "#{:02X}{:02X}{:02X}".format(*self.rgb)
        if derived != self.hex:
            raise ValueError(f"hex {self.hex} does not match rgb {self.rgb} ({derived})")
        if self.aqi_min > self.aqi_max:
            raise ValueError(f"aqi_min {self.aqi_min} > aqi_max {self.aqi_max}")
        return self


class SensitiveGroup(StrictModel):
    """Sensitive groups advised to act when a pollutant's IAQI > 100 (HJ 633-2026 表2)."""

    zh: str
    en: str


class AqiRuleset(StrictModel):
    """A complete AQI rule set (one ``configs/aqi/*.yaml`` file). See the YAML for sources."""

    ruleset_id: Literal["HJ633_2012", "HJ633_2026"]
    document: str
    issued: dt.date
    in_force: dt.date
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    source: str
    units: dict[str, str]
    iaqi_grid: list[int]
    breakpoints: dict[str, list[float | None]]
    above_top: dict[str, AboveTop] = Field(default_factory=dict)
    pm_1h_uses_24h: bool = True
    cap_iaqi: int = Field(default=500, ge=0, le=500)
    concentration_rounding: ConcentrationRounding | None = None
    min_aqi: int = Field(ge=0, le=1)
    clamp_zero_to_min: bool = False
    exceeding_threshold: int | None = None
    products: dict[Literal["daily", "hourly", "hourly_optional"], list[str]]
    texts_status: str = ""
    levels: list[AqiLevel]
    sensitive_groups: dict[str, SensitiveGroup] = Field(default_factory=dict)

    @field_validator("units")
    @classmethod
    def _units(cls, v: dict[str, str]) -> dict[str, str]:
        if set(v) != set(POLLUTANTS):
            raise ValueError(f"units must list exactly {POLLUTANTS}, got {sorted(v)}")
        return v

    @field_validator("iaqi_grid")
    @classmethod
    def _grid(cls, v: list[int]) -> list[int]:
        if len(v) < 2 or v[0] != 0 or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"iaqi_grid must start at 0 and be strictly increasing, got {v}")
        return v

    @field_validator("breakpoints")
    @classmethod
    def _breakpoints(cls, v: dict[str, list[float | None]]) -> dict[str, list[float | None]]:
        for key, bps in v.items():
            if not re.match(r"^(so2|no2|co|o3|pm10|pm25)_(1h|8h|24h)$", key):
                raise ValueError(f"{key}: not a breakpoint column '<pollutant>_<1h|8h|24h>'")
            defined = [b for b in bps if b is not None]
            if len(defined) < 2:
                raise ValueError(f"{key}: needs at least two defined breakpoints")
            if any(b is not None for b in bps[len(defined):]):
                raise ValueError(f"{key}: null breakpoints may only trail the defined ones: {bps}")
            if defined[0] != 0:
                raise ValueError(f"{key}: first breakpoint must be 0, got {defined[0]}")
            for i, (a, b) in enumerate(zip(defined, defined[1:], strict=False)):
                if b <= a:
                    raise ValueError(
                        f"{key}: breakpoints must be strictly increasing; "
                        f"index {i + 1} ({b}) <= index {i} ({a})"
                    )
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> AqiRuleset:
        n = len(self.iaqi_grid)
        for key, bps in self.breakpoints.items():
            if len(bps) != n:
                raise ValueError(f"breakpoints.{key}: {len(bps)} values, iaqi_grid has {n}")
        for key, rule in self.above_top.items():
            if key not in self.breakpoints:
                raise ValueError(f"above_top.{key}: no such breakpoint column")
            if rule.fallback is not None and rule.fallback not in self.breakpoints:
                raise ValueError(f"above_top.{key}.fallback: no column {rule.fallback!r}")
        for key, bps in self.breakpoints.items():
            if bps[-1] is None and key not in self.above_top:
                raise ValueError(f"breakpoints.{key}: short column needs an above_top rule")
        for product, indicators in self.products.items():
            for ind in indicators:
                if not INDICATOR_RE.match(ind):
                    raise ValueError(f"products.{product}: {ind!r} is not an indicator key")
        levels = sorted(self.levels, key=lambda lv: lv.level)
        if [lv.level for lv in levels] != list(range(1, len(levels) + 1)):
            raise ValueError("levels must be numbered 1…n without gaps")
        if levels[0].aqi_min != self.min_aqi:
            raise ValueError(f"levels[0].aqi_min {levels[0].aqi_min} != min_aqi {self.min_aqi}")
        for a, b in zip(levels, levels[1:], strict=False):
            if b.aqi_min != a.aqi_max + 1:
                raise ValueError(f"level {b.level} starts at {b.aqi_min}, expected {a.aqi_max + 1}")
        if levels[-1].aqi_max != self.iaqi_grid[-1]:
            raise ValueError(f"last level must end at {self.iaqi_grid[-1]}")
        for key in self.sensitive_groups:
            if key not in POLLUTANTS:
                raise ValueError(f"sensitive_groups.{key}: unknown pollutant")
        return self

    def level_thresholds(self) -> list[int]:
        """Upper AQI bound of levels 1…n−1 (e.g. ``[50, 100, 150, 200, 300]``)."""
        return [lv.aqi_max for lv in sorted(self.levels, key=lambda lv: lv.level)][:-1]


def aqi_config_dir() -> Path:
    """Directory of the AQI tables: ``<config dir>/aqi`` (honours ``AIRWARN_CONFIG_DIR``)."""
    from airwarn import configs

    return configs.config_dir() / "aqi"


@lru_cache(maxsize=16)
def _load(path: str) -> AqiRuleset:
    return load_yaml_model(path, AqiRuleset)


def load_aqi_ruleset(ruleset: str | Path) -> AqiRuleset:
    """Load and validate an AQI rule set.

    Parameters
    ----------
    ruleset : str or path
        A rule-set id (``"HJ633_2012"``, ``"HJ633_2026"``) looked up in :func:`aqi_config_dir`,
        or the path of a YAML file.

    Returns
    -------
    AqiRuleset
        The validated table (cached per file path).

    Raises
    ------
    ConfigError
        The file is missing or invalid; the message names the file and the key path.
    """
    if isinstance(ruleset, str) and ruleset in ("HJ633_2012", "HJ633_2026"):
        # the common case, asked per unit and day by the warning chain: no path arithmetic
        return _load(_id_path(ruleset, os.environ.get("AIRWARN_CONFIG_DIR")))
    path = Path(ruleset)
    if path.suffix not in {".yaml", ".yml"}:
        if str(ruleset) not in ("HJ633_2012", "HJ633_2026"):
            raise ConfigError(
                f"unknown AQI rule set {str(ruleset)!r}; expected 'HJ633_2012' or 'HJ633_2026'"
            )
        path = aqi_config_dir() / f"{ruleset}.yaml"
    return _load(_resolved(str(path)))


@lru_cache(maxsize=16)
def _id_path(ruleset: str, config_dir_env: str | None) -> str:
    """Resolved file of a rule-set id under the config directory (``config_dir_env``: the
    ``AIRWARN_CONFIG_DIR`` it depends on, part of the cache key)."""
    return _resolved(str(aqi_config_dir() / f"{ruleset}.yaml"))


@lru_cache(maxsize=64)
def _resolved(path: str) -> str:
    """Absolute path of a rule-set file (cached: the AQI is computed per unit and day)."""
    return str(Path(path).resolve())
