"""Pydantic models for the warning ladders ``configs/warning/<ladder_id>.yaml`` and the warning
policy ``configs/warning/policy.yaml`` (domain-spec §2, T2.1–T2.5).

A ladder is a list of levels (``blue``/``yellow``/``orange``/``red``), each with OR-alternatives of
AND-terms such as "daily AQI > 200 for ≥ 48 h", the evaluation mode (``day`` = natural-day daily
AQI; ``rolling-24h`` = hourly values of the rolling 24-h AQI), the pollutant gate of colour warnings,
the lift rule, and the status (V1/V2/U) and source of every rule.

Bad ladders are refused at load time with :class:`configs.schema.ConfigError` naming the file and
the level: a level without conditions, unknown level names, and — with :class:`HorizonTooShort` —
a condition that needs more forecast horizon than the run has (the 2017/2018 96-h red with a 72-h
run), unless the ladder is loaded for drills with ``allow_long_horizon=True``.

Units: AQI and IAQI dimensionless; PM2.5 and O3-8h concentrations in µg/m³; durations in hours.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from airwarn.configs.schema import ConfigError, Region, StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = [
    "LEVELS",
    "LEVEL_RANK",
    "LEVEL_ZH",
    "METRICS",
    "HorizonTooShort",
    "Term",
    "Alternative",
    "Level",
    "Gate",
    "LiftRule",
    "Ladder",
    "WarningPolicy",
    "warning_config_dir",
    "ladder_ids",
    "load_ladder",
    "load_ladders_for_region",
    "load_warning_policy",
    "aqi_thresholds",
    "ladder_day_clauses",
]

#: Warning levels from lowest to highest (``none`` = no warning).
LEVELS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
LEVEL_RANK: dict[str, int] = {lv: i for i, lv in enumerate(LEVELS)}
#: Chinese level names as written in bulletins and 预警函.
LEVEL_ZH: dict[str, str] = {"none": "无预警", "blue": "蓝色预警", "yellow": "黄色预警",
                            "orange": "橙色预警", "red": "红色预警"}

#: Series a condition can test: daily (or rolling-24h) AQI; PM2.5 daily mean (µg/m³);
#: O3 daily max 8-h mean (µg/m³); IAQI of O3-8h (dimensionless).
METRICS: tuple[str, ...] = ("aqi", "pm25", "o3_8h", "iaqi_o3")
_METRIC_ZH = {"aqi": "日AQI", "pm25": "PM2.5日均浓度", "o3_8h": "O3日最大8小时均值",
              "iaqi_o3": "O3分指数IAQI(O3)"}
_METRIC_EN = {"aqi": "daily AQI", "pm25": "PM2.5 daily mean", "o3_8h": "O3 daily max 8-h mean",
              "iaqi_o3": "IAQI(O3)"}
_METRIC_UNIT = {"aqi": "", "pm25": " µg/m³", "o3_8h": " µg/m³", "iaqi_o3": ""}

Status = Literal["V1", "V2", "U"]


class HorizonTooShort(ConfigError):
    """A ladder condition needs more forecast horizon than the run provides (spec §6 rule 5)."""


def _fmt(x: float) -> str:
    return f"{x:g}"


class Term(StrictModel):
    """One AND-term: ``metric op value`` holding for at least ``hours`` consecutive hours.

    Attributes
    ----------
    metric : {"aqi", "pm25", "o3_8h", "iaqi_o3"}
        AQI/IAQI dimensionless; ``pm25``, ``o3_8h`` in µg/m³.
    op : {">", ">="}
        Strict "超过" (``>``) or "reaching" (``>=``, e.g. AQI reaching 500).
    value : float
        Threshold in the metric's unit.
    hours : int
        Duration in hours (day mode: multiples of 24 — 48 h = 2 consecutive days).
    """

    metric: Literal["aqi", "pm25", "o3_8h", "iaqi_o3"] = "aqi"
    op: Literal[">", ">="] = ">"
    value: float
    hours: int = Field(default=24, ge=1)

    def steps(self, step_h: int) -> int:
        """Consecutive values needed at a resolution of ``step_h`` hours (day: 24, rolling: 1)."""
        return max(1, math.ceil(self.hours / step_h))

    def text_zh(self) -> str:
        """Chinese condition text, e.g. ``日AQI > 200 持续 ≥ 48 小时``."""
        return (f"{_METRIC_ZH[self.metric]} {self.op} {_fmt(self.value)}{_METRIC_UNIT[self.metric]}"
                f" 持续 ≥ {self.hours} 小时")

    def text_en(self) -> str:
        """English condition text, e.g. ``daily AQI > 200 for ≥ 48 h``."""
        return (f"{_METRIC_EN[self.metric]} {self.op} {_fmt(self.value)}{_METRIC_UNIT[self.metric]}"
                f" for ≥ {self.hours} h")


class Alternative(StrictModel):
    """One OR-alternative of a level: all terms must hold (later terms within the first's run).

    Attributes
    ----------
    all_of : list of Term
        The first term is the anchor: a run of consecutive values meeting it; the other terms
        must be met inside that same run (e.g. "> 200 for 72 h **and** > 300 for ≥ 24 h").
    status : {"V1", "V2", "U"}
    source : str
        Source register id(s) of domain-spec §8 and the document.
    on_short_horizon : {"refuse", "drop"}
        When a term needs more hours than the run's horizon: ``refuse`` the ladder
        (:class:`HorizonTooShort`) or ``drop`` this alternative only (documented in the YAML).
    """

    all_of: list[Term] = Field(min_length=1)
    status: Status = "V2"
    source: str = ""
    on_short_horizon: Literal["refuse", "drop"] = "refuse"

    @property
    def hours_needed(self) -> int:
        """Longest duration of its terms, hours."""
        return max(t.hours for t in self.all_of)

    @property
    def metrics(self) -> set[str]:
        """Metrics the alternative reads."""
        return {t.metric for t in self.all_of}

    def text_zh(self) -> str:
        """Chinese text of the alternative (terms joined by 且)."""
        return "，且".join(t.text_zh() for t in self.all_of)

    def text_en(self) -> str:
        """English text of the alternative (terms joined by "and")."""
        return " and ".join(t.text_en() for t in self.all_of)


class Level(StrictModel):
    """A warning level and its start conditions (any alternative suffices)."""

    level: Literal["blue", "yellow", "orange", "red"]
    any_of: list[Alternative] = Field(default_factory=list)
    response: str | None = None
    note: str | None = None

    @property
    def rank(self) -> int:
        """Position in :data:`LEVELS` (blue 1 … red 4)."""
        return LEVEL_RANK[self.level]


class Gate(StrictModel):
    """Pollutant gate: which primary pollutants make a colour (PM2.5) warning.

    Days whose primary pollutant is not listed do not count with their AQI; the IAQI of the
    PM2.5 daily mean stands in for them (an O3-driven day is an O3 advisory, not a colour day).
    """

    colour_primaries: list[str] = Field(default_factory=lambda: ["PM2.5", "PM10"])
    o3_advisory: str | None = "chengdu-o3-2021"
    status: Status = "V2"
    source: str = "S5 环大气〔2024〕6号 scope; gate logic U (T2.5)"


class LiftRule(StrictModel):
    """Lift when the forecast stays below the yellow condition for more than ``hours``.

    ``below_aqi``: daily AQI at or below which a value counts as "below yellow" (None = the lowest
    AQI threshold of the lowest warning level).
    """

    hours: int = Field(default=36, ge=1)
    below_aqi: float | None = None
    status: Status = "V2"
    source: str = "S24; 成都 2022 修订 (S16)"


class RegionalMaxHigher(StrictModel):
    """The "≤ n cities at a higher level" clause of a regional rule (Sichuan 2016, S14) and the
    reading implemented (:func:`alerts.regional.regional_findings`).

    Attributes
    ----------
    value : int
        At most this many units of a contiguous group may be above the regional level.
    reading : str
        The reading chosen, stated for the 会商 group (text).
    """

    value: int = Field(ge=0)
    reading: str
    status: Status = "U"
    source: str = ""


class Ladder(StrictModel):
    """A warning ladder of one jurisdiction (domain-spec T2.1–T2.3).

    Attributes
    ----------
    id : str
        File stem (``national-2024``).
    kind : {"colour", "o3_advisory"}
        Colour warnings (PM2.5 episodes) or an O3 advisory ladder (IAQI(O3)-based).
    mode : {"day", "rolling-24h"}
        Day mode: one value per natural day (24 h each). Rolling: hourly values of the
        rolling 24-h AQI; durations count hours.
    levels : list of Level
        Listed lowest first.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    name_en: str
    document: str
    status: Status
    source: str
    kind: Literal["colour", "o3_advisory"] = "colour"
    mode: Literal["day", "rolling-24h"] = "day"
    gate: Gate = Field(default_factory=Gate)
    lift: LiftRule = Field(default_factory=LiftRule)
    regional_min_contiguous: int | None = Field(default=None, ge=2)
    regional_max_higher: RegionalMaxHigher | None = None
    levels: list[Level] = Field(min_length=1)
    notes: list[str] = Field(default_factory=list)
    #: Alternatives dropped at load because the horizon was too short (filled by the loader).
    dropped: list[str] = Field(default_factory=list)
    #: Loaded for drills beyond the operational horizon (filled by the loader).
    drill: bool = False

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[Level]) -> list[Level]:
        for lv in v:
            if not lv.any_of:
                raise ValueError(f"level {lv.level!r} has no conditions (any_of is empty); "
                                 f"every level needs at least one start condition")
        names = [lv.level for lv in v]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate levels {names}")
        if names != sorted(names, key=LEVEL_RANK.__getitem__):
            raise ValueError(f"levels must be listed lowest first (blue, yellow, orange, red), "
                             f"got {names}")
        return v

    @model_validator(mode="after")
    def _monotone(self) -> Ladder:
        # a higher level must be harder to reach than a lower one: when a lower level's
        # condition already implies a higher level's one-term condition (its anchor asks at
        # least as much AQI for at least as long, on the same metric), the thresholds are
        # inverted (e.g. yellow > 300 for 48 h under red > 200 for 24 h)
        for i, lo in enumerate(self.levels):
            for hi in self.levels[i + 1:]:
                for b in hi.any_of:
                    if len(b.all_of) != 1 or b.all_of[0].op not in (">", ">="):
                        continue
                    tb = b.all_of[0]
                    for a in lo.any_of:
                        ta = a.all_of[0]
                        if ta.metric == tb.metric and ta.op in (">", ">=") and \
                                ta.value >= tb.value and ta.hours >= tb.hours and \
                                (ta.value, ta.hours) != (tb.value, tb.hours) or \
                                (ta.metric == tb.metric and ta.op == tb.op and
                                 (ta.value, ta.hours) == (tb.value, tb.hours)):
                            raise ValueError(
                                f"thresholds inverted: level {lo.level!r} condition "
                                f"'{a.text_en()}' already meets level {hi.level!r} condition "
                                f"'{b.text_en()}'; expected each level to need more (higher "
                                f"AQI or longer) than the one below")
        return self

    @model_validator(mode="after")
    def _whole_days(self) -> Ladder:
        # day mode has one value per natural day: a duration of 30 h cannot be counted in days
        if self.mode == "day":
            for lv in self.levels:
                for alt in lv.any_of:
                    for t in alt.all_of:
                        if t.hours % 24:
                            raise ValueError(
                                f"level {lv.level!r} condition '{alt.text_en()}': {t.hours} h in "
                                f"a day-mode ladder (one value per natural day); expected a "
                                f"multiple of 24 h, or mode: rolling-24h")
        return self

    @model_validator(mode="after")
    def _kind(self) -> Ladder:
        if self.kind == "o3_advisory":
            for lv in self.levels:
                for alt in lv.any_of:
                    if alt.metrics - {"iaqi_o3", "o3_8h"}:
                        raise ValueError(f"O3 advisory ladder level {lv.level!r}: conditions must "
                                         f"use iaqi_o3 or o3_8h, got {sorted(alt.metrics)}")
        return self

    @property
    def step_h(self) -> int:
        """Hours per value: 24 in day mode, 1 in rolling-24h mode."""
        return 24 if self.mode == "day" else 1

    def level(self, name: str) -> Level:
        """The level called ``name`` (KeyError naming the ladder when absent)."""
        for lv in self.levels:
            if lv.level == name:
                return lv
        raise KeyError(f"ladder {self.id!r} has no level {name!r}")

    @property
    def level_names(self) -> list[str]:
        """Level names, lowest first."""
        return [lv.level for lv in self.levels]

    @property
    def lift_below_aqi(self) -> float:
        """Daily AQI at or below which the air counts as below the lowest warning condition."""
        if self.lift.below_aqi is not None:
            return self.lift.below_aqi
        vals = [t.value for alt in self.levels[0].any_of for t in alt.all_of
                if t.metric in ("aqi", "iaqi_o3")]
        return min(vals) if vals else 200.0

    @property
    def hours_needed(self) -> int:
        """Longest condition of the ladder, hours."""
        return max(alt.hours_needed for lv in self.levels for alt in lv.any_of)


class WarningPolicy(StrictModel):
    """Settings of the warning state machine and the joint (区域联动) rules (U, conventions).

    Attributes
    ----------
    default_ladder : str
    min_lead_h : float
        Hours between issue and the start of the first exceedance day below which the decision
        notes that the 24-h lead (原则上提前24小时) is not met, hours.
    hysteresis_runs : int
        Consecutive runs in which a lower level (or the lift condition) must hold before a
        downgrade or lift, unless the margin rule already makes it decisive.
    hysteresis_margin_aqi : float
        AQI margin: a downgrade/lift is decisive in a single run when the forecast plus this margin
        still gives the lower level (AQI, dimensionless).
    regional_min_contiguous : int
        Units at a level forming one border-contiguous group that raise a regional warning.
    regional_scope : {"joint_area", "province"}
        Contiguity across the provincial border (joint area) or within each province only.
    cross_border_kinds : list of str
        Neighbour kinds (``border``, ``channel``) linking a border-belt unit to the other side.
    pre_warning : list of Alternative
        Pre-warning (预警前临时管控) conditions on the daily AQI while no colour level is met (spec
        T2.1: 日AQI > 150, or > 100 for ≥ 48 h, S24, V2); empty disables the advisory.
    o3_probability : float or None
        O3 advisories from calibrated exceedance probabilities: a day counts above IAQI(O3-8h)
        150 / 200 / 300 when the forecast's ``p_o3_iaqi_gt_<t>`` is at least this (0–1); None
        uses the median MDA8. Choose it on training folds (``airwarn hindcast`` prints one).
    lift_between_episodes : bool
        A warning in force is lifted when the forecast meets the lift rule from D+1 (below the
        lift threshold for more than ``lift.hours``) even if a later forecast day meets a level
        again: that later run is a new episode, issued by a later run (U). False keeps the
        warning in force over the clean days until the later run (one merged episode).
    """

    default_ladder: str = "national-2024"
    min_lead_h: float = Field(default=24, ge=0)
    hysteresis_runs: int = Field(default=2, ge=1, le=5)
    hysteresis_margin_aqi: float = Field(default=10, ge=0)
    regional_min_contiguous: int = Field(default=5, ge=2)
    regional_scope: Literal["joint_area", "province"] = "joint_area"
    cross_border_kinds: list[Literal["border", "channel"]] = Field(
        default_factory=lambda: ["border", "channel"])
    cross_border_min_level: Literal["blue", "yellow", "orange", "red"] = "yellow"
    pre_warning: list[Alternative] = Field(default_factory=list)
    o3_probability: float | None = Field(default=None, gt=0, lt=1)
    lift_between_episodes: bool = False
    status: Status = "U"
    source: str = ""


def warning_config_dir() -> Path:
    """Directory of the ladder YAML files (``<config dir>/warning``)."""
    from airwarn import configs

    return configs.config_dir() / "warning"


_NOT_LADDERS = {"policy"}
#: A ladder id: the stem of a file in the warning config directory (no path, no dots).
_LADDER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def ladder_ids(directory: Path | None = None) -> list[str]:
    """Ids of the ladders shipped in the warning config directory, sorted."""
    d = directory or warning_config_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if p.stem not in _NOT_LADDERS)


@lru_cache(maxsize=64)
def _load_raw(path: str, mtime: float) -> Ladder:
    lad = load_yaml_model(path, Ladder)
    if lad.id != Path(path).stem:
        raise ConfigError(f"{path}: id {lad.id!r} must equal the file name {Path(path).stem!r}")
    return lad


def load_ladder(ladder_id: str, *, horizon_h: int | None = 72, allow_long_horizon: bool = False,
                directory: Path | None = None) -> Ladder:
    """Load and validate one ladder.

    Parameters
    ----------
    ladder_id : str
        E.g. ``"national-2024"`` (file ``configs/warning/national-2024.yaml``).
    horizon_h : int or None
        Forecast horizon of the runs, hours (``settings.horizon_days * 24``); None skips the check.
    allow_long_horizon : bool
        Drill mode: keep conditions longer than the horizon (e.g. to show what the 2017 ladder
        gives for a 4-day sequence).
    directory : Path, optional
        Directory of the ladder files (default :func:`warning_config_dir`).

    Raises
    ------
    ConfigError
        Unknown ladder, invalid file, or a level without conditions (named).
    HorizonTooShort
        A ``refuse`` condition needs more than ``horizon_h`` hours, naming ladder and level.
    """
    d = directory or warning_config_dir()
    if not isinstance(ladder_id, str) or not _LADDER_ID.fullmatch(ladder_id):
        raise ConfigError(f"ladder id {ladder_id!r}: expected a name like national-2024 (lower-case "
                          f"letters, digits and '-'), a file of {d}; known ladders: "
                          f"{ladder_ids(d)}")
    path = d / f"{ladder_id}.yaml"
    if ladder_id in _NOT_LADDERS or not path.exists():
        raise ConfigError(f"unknown warning ladder {ladder_id!r}: no file {path}; "
                          f"known ladders: {ladder_ids(d)}")
    lad = _load_raw(str(path), path.stat().st_mtime).model_copy(deep=True)
    if allow_long_horizon or horizon_h is None:
        lad.drill = bool(allow_long_horizon)
        return lad
    for lv in lad.levels:
        keep: list[Alternative] = []
        for alt in lv.any_of:
            if alt.hours_needed <= horizon_h:
                keep.append(alt)
            elif alt.on_short_horizon == "drop":
                lad.dropped.append(f"{lv.level}: {alt.text_en()} (needs {alt.hours_needed} h)")
            else:
                raise HorizonTooShort(
                    f"{path}: ladder {ladder_id!r} level {lv.level!r}: condition "
                    f"'{alt.text_en()}' needs {alt.hours_needed} h of forecast but runs cover "
                    f"{horizon_h} h; it cannot be evaluated operationally (load with "
                    f"allow_long_horizon=True for drills)")
        if not keep:
            raise HorizonTooShort(f"{path}: ladder {ladder_id!r} level {lv.level!r}: every "
                                  f"condition needs more than {horizon_h} h")
        lv.any_of = keep
    return lad


def load_ladders_for_region(region: Region, *, horizon_h: int | None = 72,
                            directory: Path | None = None) -> dict[str, Ladder]:
    """Load every ladder the region's units name (and their O3 advisory ladders).

    Returns
    -------
    dict
        Ladder id → :class:`Ladder`.

    Raises
    ------
    ConfigError
        A unit names a ladder that does not exist (naming the unit), or a ladder is invalid.
    """
    d = directory or warning_config_dir()
    known = set(ladder_ids(d))
    out: dict[str, Ladder] = {}
    for u in region.units:
        if u.ladder not in known:
            raise ConfigError(f"unit {u.id!r} ({u.name}) names warning ladder {u.ladder!r}, which "
                              f"does not exist; known ladders: {sorted(known)}")
        if u.ladder not in out:
            out[u.ladder] = load_ladder(u.ladder, horizon_h=horizon_h, directory=d)
    for lad in list(out.values()):
        adv = lad.gate.o3_advisory
        if adv and adv not in out:
            if adv not in known:
                raise ConfigError(f"ladder {lad.id!r} names O3 advisory ladder {adv!r}, which does "
                                  f"not exist; known ladders: {sorted(known)}")
            out[adv] = load_ladder(adv, horizon_h=horizon_h, directory=d)
    return out


def load_warning_policy(path: Path | None = None) -> WarningPolicy:
    """Load ``configs/warning/policy.yaml`` (defaults when the file does not exist)."""
    p = path or warning_config_dir() / "policy.yaml"
    if not p.exists():
        return WarningPolicy()
    return _load_policy(str(p), p.stat().st_mtime).model_copy(deep=True)


@lru_cache(maxsize=16)
def _load_policy(path: str, mtime: float) -> WarningPolicy:
    """Parsed policy file, cached per path and modification time (the warning chain asks for
    it once per unit and day: parsing the YAML each time dominated a hindcast)."""
    return load_yaml_model(Path(path), WarningPolicy)


def aqi_thresholds(ladder_id: str | None = None) -> tuple[int, ...]:
    """The daily-AQI cuts of a colour ladder, rising: the thresholds of the forecast file's
    exceedance probabilities ``p_aqi_gt_<t>`` (dimensionless AQI).

    They are read from the ladder itself (default: the policy's ``default_ladder``, the 2024
    national ladder → ``(150, 200, 300)``, domain-spec T2.1), so they exist once, in
    ``configs/warning/``.
    """
    d = warning_config_dir()
    if not ladder_id:  # the policy's default, read without the defensive copy (per unit and day)
        p = d / "policy.yaml"
        ladder_id = (_load_policy(str(p), p.stat().st_mtime) if p.exists()
                     else WarningPolicy()).default_ladder
    lid = ladder_id
    path = d / f"{lid}.yaml" if isinstance(lid, str) else d
    return _aqi_cuts(lid, str(d), path.stat().st_mtime if path.is_file() else -1.0)


@lru_cache(maxsize=64)
def _aqi_cuts(lid: str, directory: str, mtime: float) -> tuple[int, ...]:
    """:func:`aqi_thresholds` of one ladder file, cached per directory and modification time."""
    ladder = load_ladder(lid, horizon_h=None, directory=Path(directory))
    cuts = {t.value for lv in ladder.levels for alt in lv.any_of for t in alt.all_of
            if t.metric == "aqi"}
    if not cuts:
        raise ConfigError(f"ladder {lid!r} has no daily-AQI condition: no exceedance "
                          f"probability thresholds can be derived from it")
    return tuple(int(v) if float(v).is_integer() else v for v in sorted(cuts))  # type: ignore[misc]


def ladder_day_clauses(ladder_id: str | None = None) -> dict[str, list[dict[str, float]]]:
    """A day-mode ladder's daily-AQI conditions as ``{level: [{gt, days, and_gt, and_days}]}``.

    The form of the verification's fallback ladder (``configs.verification_schema.LadderClause``):
    a clause holds when ``days`` consecutive daily AQI values are ``> gt`` and, with ``and_gt``,
    at least ``and_days`` of them are ``> and_gt``. Alternatives that read another metric than
    the daily AQI, or use ``>=``, are left out (the fallback scores AQI ladders only).
    """
    lid = ladder_id or load_warning_policy().default_ladder
    ladder = load_ladder(lid, horizon_h=None)
    out: dict[str, list[dict[str, float]]] = {}
    for lv in ladder.levels:
        clauses = []
        for alt in lv.any_of:
            terms = alt.all_of
            if not terms or any(t.metric != "aqi" or t.op != ">" for t in terms) or len(terms) > 2:
                continue
            anchor, *rest = terms
            c: dict[str, float] = {"gt": anchor.value, "days": anchor.steps(24)}
            if rest:
                c["and_gt"] = rest[0].value
                c["and_days"] = rest[0].steps(24)
            clauses.append(c)
        if clauses:
            out[lv.level] = clauses
    return out
