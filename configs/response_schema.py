"""Pydantic models for the emergency emission-reduction list ``configs/response/emergency_list.yaml``
(应急减排清单; domain-spec T3.1–T3.3, T2.1 reduction shares).

The list names enterprises (id, name, 统一社会信用代码, forecast unit, city, district, position,
industry, 绩效分级 performance grade), their production units (工艺环节, stack height; 高架源 when the
stack is at least ``settings.elevated_min_stack_height_m``), baseline emissions (t/d), the measures
per warning level, and the 错峰生产 windows; plus each city's total (全社会) emissions for the
10/20/30 % reduction check, and default measures per industry × grade (cement clinker: spec T3.2).

Bad lists are refused at load time naming the enterprise: a grade not in the list, a negative
emission, a measure for an unknown level, an enterprise in no unit, a city without totals.

Units: emissions in t/d (tonnes per day); stack heights in metres; coordinates in degrees.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from airwarn.configs.schema import ConfigError, Region, StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = [
    "GRADES",
    "MEASURE_LEVELS",
    "POLLUTANTS",
    "Emissions",
    "Measure",
    "ProductionUnit",
    "StaggerWindow",
    "Enterprise",
    "CityTotal",
    "EmergencyList",
    "load_emergency_list",
    "response_config_dir",
]

#: Performance grades (绩效分级, 2020 guide + 2026 A+; spec T3.1, V2).
GRADES: tuple[str, ...] = ("A+", "A", "B", "B-", "C", "D", "leading", "exempt_livelihood")
#: Warning levels that carry measures.
MEASURE_LEVELS: tuple[str, ...] = ("yellow", "orange", "red")
#: Pollutants of the reduction check (spec T2.1): SO2, NOx, PM, VOCs.
POLLUTANTS: tuple[str, ...] = ("so2", "nox", "pm", "vocs")


class Emissions(StrictModel):
    """Emissions in t/d; each ≥ 0."""

    so2: float = Field(default=0.0, ge=0)
    nox: float = Field(default=0.0, ge=0)
    pm: float = Field(default=0.0, ge=0)
    vocs: float = Field(default=0.0, ge=0)

    def as_dict(self) -> dict[str, float]:
        """``{so2, nox, pm, vocs}`` in t/d."""
        return {p: float(getattr(self, p)) for p in POLLUTANTS}


class Measure(StrictModel):
    """A measure at one level: ``voluntary``, ``limit_pct`` (限产 x %), ``stop_lines_pct``
    (停产 x % of production lines), or ``stop`` (停产); plus a transport rule (text)."""

    action: Literal["voluntary", "limit_pct", "stop_lines_pct", "stop"]
    value: float | None = Field(default=None, ge=0, le=100)
    transport: str | None = None

    @model_validator(mode="after")
    def _value(self) -> Measure:
        if self.action in ("limit_pct", "stop_lines_pct") and self.value is None:
            raise ValueError(f"action {self.action!r} needs a value (percent, 0–100)")
        if self.action == "stop":
            self.value = 100.0
        if self.action == "voluntary":
            self.value = 0.0
        return self

    @property
    def share(self) -> float:
        """Fraction of the baseline cut (0–1); voluntary counts 0 (not verifiable)."""
        return float(self.value or 0.0) / 100.0


def _check_levels(v: dict[str, Any], what: str) -> dict[str, Any]:
    bad = [k for k in v if k not in MEASURE_LEVELS]
    if bad:
        raise ValueError(f"{what}: measure for unknown level(s) {bad}; levels with measures are "
                         f"{list(MEASURE_LEVELS)}")
    return v


class ProductionUnit(StrictModel):
    """A production unit (生产装置) with its stack and baseline emissions (t/d)."""

    unit_id: str
    process: str
    stack_height_m: float = Field(ge=0)
    is_elevated: bool | None = None
    emissions: Emissions = Field(default_factory=Emissions)
    capacity_basis: str | None = None


class StaggerWindow(StrictModel):
    """A 错峰生产 window, month-day bounds (inclusive), e.g. ``11-15`` → ``03-15``."""

    name: str = "错峰生产"
    start: str = Field(pattern=r"^\d{2}-\d{2}$")
    end: str = Field(pattern=r"^\d{2}-\d{2}$")

    @field_validator("start", "end")
    @classmethod
    def _md(cls, v: str) -> str:
        m, d = (int(x) for x in v.split("-"))
        dt.date(2024, m, d)  # raises on 02-30 etc.
        return v


class Enterprise(StrictModel):
    """An enterprise of the emergency list (spec T3.3)."""

    id: str
    name: str
    uscc: str = Field(pattern=r"^[0-9A-Z]{18}$")
    unit: str
    city: str
    district: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    industry: str
    grade: str
    production_units: list[ProductionUnit] = Field(min_length=1)
    measures: dict[str, Measure] = Field(default_factory=dict)
    staggered: list[StaggerWindow] = Field(default_factory=list)

    @field_validator("grade")
    @classmethod
    def _grade(cls, v: str) -> str:
        if v not in GRADES:
            raise ValueError(f"performance grade {v!r} is not in the list {list(GRADES)}")
        return v

    @field_validator("measures")
    @classmethod
    def _measures(cls, v: dict[str, Measure]) -> dict[str, Measure]:
        return _check_levels(v, "measures")

    @field_validator("production_units")
    @classmethod
    def _unit_ids(cls, v: list[ProductionUnit]) -> list[ProductionUnit]:
        """Each production unit once: control orders and the 高架源 list are keyed by it."""
        ids = [u.unit_id for u in v]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate production unit ids {dup}; expected one entry per "
                             f"unit_id (control orders are issued per production unit)")
        return v


class CityTotal(StrictModel):
    """Total (全社会) emissions of a city, t/d, for the reduction check."""

    city: str
    unit: str
    total_emissions: Emissions
    source: str = ""


class EmergencyList(StrictModel):
    """The emergency reduction list (see module docstring)."""

    example: bool = False
    title: str
    source: str = ""
    reduction_targets: dict[str, float]
    reduction_targets_status: str = "V2"
    reduction_targets_source: str = ""
    default_measures: dict[str, dict[str, dict[str, Measure]]] = Field(default_factory=dict)
    cities: list[CityTotal] = Field(default_factory=list)
    enterprises: list[Enterprise] = Field(default_factory=list)

    @field_validator("reduction_targets")
    @classmethod
    def _targets(cls, v: dict[str, float]) -> dict[str, float]:
        _check_levels(v, "reduction_targets")
        bad = {k: x for k, x in v.items() if not 0 <= x <= 1}
        if bad:
            raise ValueError(f"reduction_targets are fractions 0–1, got {bad}")
        given = [(lv, v[lv]) for lv in MEASURE_LEVELS if lv in v]   # lowest level first
        for (lo, a), (hi, b) in zip(given, given[1:], strict=False):
            if b < a:
                raise ValueError(f"reduction_targets: {hi} ({b:g}) is below {lo} ({a:g}); a "
                                 f"higher warning level demands at least the lower one's cut "
                                 f"(spec T2.1: 10/20/30 %)")
        return v

    @field_validator("default_measures")
    @classmethod
    def _defaults(cls, v: dict[str, dict[str, dict[str, Measure]]]) -> dict:
        for ind, by_grade in v.items():
            for g, lv in by_grade.items():
                if g not in GRADES:
                    raise ValueError(f"default_measures.{ind}: grade {g!r} is not in the list "
                                     f"{list(GRADES)}")
                _check_levels(lv, f"default_measures.{ind}.{g}")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> EmergencyList:
        ids = [e.id for e in self.enterprises]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate enterprise ids {dup}")
        cities = {c.city for c in self.cities}
        for e in self.enterprises:
            if e.city not in cities:
                raise ValueError(f"enterprise {e.id} ({e.name}): city {e.city!r} has no "
                                 f"total_emissions in `cities` (needed for the reduction check)")
            for lv in MEASURE_LEVELS:
                if self.measure_for(e, lv) is None:
                    raise ValueError(f"enterprise {e.id} ({e.name}): no measure for {lv} (neither "
                                     f"in its measures nor in default_measures.{e.industry}.{e.grade})")
        return self

    def measure_for(self, enterprise: Enterprise, level: str) -> Measure | None:
        """The enterprise's measure at a level: its own, else the industry × grade default."""
        if level in enterprise.measures:
            return enterprise.measures[level]
        for ind in (enterprise.industry, "_generic"):
            m = self.default_measures.get(ind, {}).get(enterprise.grade, {}).get(level)
            if m is not None:
                return m
        return None

    def city(self, name: str) -> CityTotal:
        """City total by name (KeyError naming it)."""
        for c in self.cities:
            if c.city == name:
                return c
        raise KeyError(f"no city {name!r} in the emergency list; known: {[c.city for c in self.cities]}")


def response_config_dir() -> Path:
    """``<config dir>/response``."""
    from airwarn import configs

    return configs.config_dir() / "response"


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> EmergencyList:
    return load_yaml_model(path, EmergencyList)


def load_emergency_list(path: Path | str | None = None, region: Region | None = None) -> EmergencyList:
    """Load and validate the emergency list; with ``region``, every enterprise and city must lie in
    one of its units. Parsed once per file version (cached on path and mtime; treat as read-only).

    Raises
    ------
    ConfigError
        Naming the file and the enterprise (or key path) and what was expected.
    """
    p = Path(path or response_config_dir() / "emergency_list.yaml")
    if not p.exists():
        raise ConfigError(f"configuration file not found: {p}")
    el = _load_cached(str(p), p.stat().st_mtime)
    if region is not None:
        known = set(region.unit_ids)
        for i, e in enumerate(el.enterprises):
            if e.unit not in known:
                raise ConfigError(f"{p}: enterprises.{i}: enterprise {e.id} ({e.name}) lies in no "
                                  f"unit: {e.unit!r} is not a unit of the region")
        for i, c in enumerate(el.cities):
            if c.unit not in known:
                raise ConfigError(f"{p}: cities.{i}: city {c.city!r} names unit {c.unit!r}, which "
                                  f"is not a unit of the region")
    return el
