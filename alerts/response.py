"""The coordinated response to a warning: control orders for elevated sources (高架源) and other
listed production units, the reductions they achieve, the 10/20/30 % reduction check per city, and
the 错峰生产 calendar (domain-spec T2.1, T3.1–T3.3, §6 rule 6).

Plain functions over the validated emergency list (:mod:`configs.response_schema`).

Units: emissions and reductions in t/d; stack heights in m; times local ISO 8601 (+08:00).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from airwarn.configs.response_schema import (
    MEASURE_LEVELS,
    POLLUTANTS,
    EmergencyList,
    Enterprise,
    Measure,
    ProductionUnit,
    load_emergency_list,
)
from airwarn.configs.schema import Settings

__all__ = [
    "ControlOrder",
    "ReductionCheck",
    "control_orders",
    "is_elevated",
    "load_emergency_list",
    "measure_text",
    "orders_frame",
    "reduction_check",
    "reductions_by_unit",
    "staggered_calendar",
]

_ACTION_ZH = {"voluntary": "自主减排", "limit_pct": "限产", "stop_lines_pct": "停产生产线",
              "stop": "停产"}


@dataclass
class ControlOrder:
    """One control order: what a production unit of an enterprise must do, from when to when.

    Attributes
    ----------
    enterprise_id, enterprise_name : str
    unit_id : str
        Forecast unit the enterprise lies in.
    city, industry, grade : str
    measure : str
        ``voluntary`` | ``limit_pct`` | ``stop_lines_pct`` | ``stop``.
    value : float
        Percent of the baseline cut (0 voluntary, 100 stop).
    start, end : str
        Local ISO times (+08:00); the order holds until the warning is lifted.
    is_elevated : bool
        The production unit's stack counts as an elevated source (高架源).
    stacks : list of dict
        ``{"id", "process", "height_m"}`` of the production unit's stack(s); height in m.
    reductions : dict
        ``{so2, nox, pm, vocs}`` cut by the order, t/d.
    level, production_unit, process, transport, text_zh, decision_id : str
    """

    enterprise_id: str
    enterprise_name: str
    unit_id: str
    city: str
    industry: str
    grade: str
    measure: str
    value: float
    start: str
    end: str
    is_elevated: bool
    stacks: list[dict[str, Any]]
    reductions: dict[str, float]
    level: str = ""
    production_unit: str = ""
    process: str = ""
    transport: str | None = None
    text_zh: str = ""
    decision_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ControlOrder:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass
class ReductionCheck:
    """The reduction check of one city, level and pollutant (t/d; ``share`` 0–1).

    ``gap`` = required − achieved when short (> 0), else 0. ``met`` is False on any shortfall.
    """

    city: str
    unit_id: str
    level: str
    pollutant: str
    total: float
    share: float
    required: float
    achieved: float
    gap: float
    met: bool
    example: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def is_elevated(pu: ProductionUnit, min_stack_height_m: float = 45.0) -> bool:
    """高架源: explicit ``is_elevated`` if set, else stack height ≥ ``min_stack_height_m`` (m)."""
    if pu.is_elevated is not None:
        return pu.is_elevated
    return pu.stack_height_m >= min_stack_height_m


def measure_text(m: Measure) -> str:
    """Chinese text of a measure, e.g. ``限产 20%；禁止国四及以下…``."""
    if m.action in ("limit_pct", "stop_lines_pct"):
        s = f"{_ACTION_ZH[m.action]} {m.value:g}%"
    else:
        s = _ACTION_ZH[m.action]
    return s + (f"；{m.transport}" if m.transport else "")


def _round(x: float) -> float:
    return round(float(x), 4)


def _pu_reduction(pu: ProductionUnit, m: Measure) -> dict[str, float]:
    em = pu.emissions.as_dict()
    return {p: _round(em[p] * m.share) for p in POLLUTANTS}


def control_orders(decision: Any, emergency_list: EmergencyList, settings: Settings | None = None, *,
                   unit_ids: Iterable[str] | None = None, level: str | None = None
                   ) -> list[ControlOrder]:
    """Control orders for a warning decision: one per production unit of each listed enterprise.

    Parameters
    ----------
    decision : WarningDecision or dict
        Uses ``level``, ``unit_ids``, ``start``, ``end``, ``decision_id``.
    emergency_list : EmergencyList
    settings : Settings, optional
        ``elevated_min_stack_height_m`` (default 45 m, U).
    unit_ids : iterable of str, optional
        Units that must act (default: the decision's units).
    level : str, optional
        Level of the measures (default: the decision's level).

    Returns
    -------
    list of ControlOrder
        Empty for levels without measures (``none``, ``blue``). Sorted by unit, enterprise, line.
    """
    d = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
    lv = level or d["level"]
    if lv not in MEASURE_LEVELS:
        return []
    units = set(unit_ids if unit_ids is not None else d["unit_ids"])
    min_h = float(getattr(settings, "elevated_min_stack_height_m", 45.0)) if settings else 45.0
    out: list[ControlOrder] = []
    for e in sorted(emergency_list.enterprises, key=lambda x: (x.unit, x.id)):
        if e.unit not in units:
            continue
        m = emergency_list.measure_for(e, lv)
        assert m is not None  # validated at load
        for pu in e.production_units:
            elev = is_elevated(pu, min_h)
            text = (f"{e.name} {pu.process}（{pu.unit_id}）：{measure_text(m)}"
                    + ("；高架源" if elev else ""))
            out.append(ControlOrder(
                enterprise_id=e.id, enterprise_name=e.name, unit_id=e.unit, city=e.city,
                industry=e.industry, grade=e.grade, measure=m.action, value=float(m.value or 0),
                start=d.get("start") or "", end=d.get("end") or "", is_elevated=elev,
                stacks=[{"id": pu.unit_id, "process": pu.process,
                         "height_m": pu.stack_height_m}],
                reductions=_pu_reduction(pu, m), level=lv, production_unit=pu.unit_id,
                process=pu.process, transport=m.transport, text_zh=text,
                decision_id=d.get("decision_id", "")))
    return out


def _enterprise_reduction(el: EmergencyList, e: Enterprise, level: str) -> dict[str, float]:
    m = el.measure_for(e, level)
    tot = dict.fromkeys(POLLUTANTS, 0.0)
    if m is None:
        return tot
    for pu in e.production_units:
        for p, v in _pu_reduction(pu, m).items():
            tot[p] += v
    return tot


def reduction_check(emergency_list: EmergencyList, level: str, *,
                    cities: Sequence[str] | None = None,
                    orders: Sequence[ControlOrder] | None = None) -> list[ReductionCheck]:
    """Check that the listed measures cut each city's emissions by the level's share.

    Shares are ``emergency_list.reduction_targets`` (spec T2.1: 10 / 20 / 30 % of 全社会 SO2, NOx,
    PM, VOCs for yellow / orange / red, V2). A shortfall is reported with its gap (t/d), never hidden.

    Parameters
    ----------
    emergency_list : EmergencyList
    level : {"yellow", "orange", "red"}
    cities : sequence of str, optional
        City names (default: every city of the list).
    orders : sequence of ControlOrder, optional
        When given, the achieved reductions are those of these orders (t/d); otherwise those of
        every listed enterprise of the city at ``level``.

    Returns
    -------
    list of ReductionCheck
        One per city and pollutant.
    """
    if level not in MEASURE_LEVELS:
        raise ValueError(f"reduction check: level {level!r} has no reduction target; "
                         f"expected one of {MEASURE_LEVELS}")
    share = float(emergency_list.reduction_targets.get(level, 0.0))
    names = list(cities) if cities is not None else [c.city for c in emergency_list.cities]
    out: list[ReductionCheck] = []
    for name in names:
        c = emergency_list.city(name)
        achieved = dict.fromkeys(POLLUTANTS, 0.0)
        if orders is not None:
            for o in orders:
                if o.city == name:
                    for p in POLLUTANTS:
                        achieved[p] += o.reductions.get(p, 0.0)
        else:
            for e in emergency_list.enterprises:
                if e.city == name:
                    for p, v in _enterprise_reduction(emergency_list, e, level).items():
                        achieved[p] += v
        total = c.total_emissions.as_dict()
        for p in POLLUTANTS:
            req = _round(total[p] * share)
            ach = _round(achieved[p])
            gap = _round(max(0.0, req - ach))
            out.append(ReductionCheck(name, c.unit, level, p, _round(total[p]), share, req, ach,
                                      gap, gap <= 0, emergency_list.example))
    return out


def reductions_by_unit(orders: Sequence[ControlOrder], by: str = "unit_id") -> pd.DataFrame:
    """Total reductions of a set of orders per forecast unit (or ``by="city"``), t/d.

    Returns
    -------
    DataFrame
        Index ``unit_id`` (or ``city``), columns ``so2 nox pm vocs`` (t/d) and ``orders``,
        ``elevated_orders`` (counts); sorted by index.
    """
    if by not in ("unit_id", "city"):
        raise ValueError(f"by must be 'unit_id' or 'city', got {by!r}")
    rows = [{by: getattr(o, by), **{p: o.reductions.get(p, 0.0) for p in POLLUTANTS},
             "orders": 1, "elevated_orders": int(o.is_elevated)} for o in orders]
    cols = [*POLLUTANTS, "orders", "elevated_orders"]
    if not rows:
        return pd.DataFrame(columns=cols, index=pd.Index([], name=by))
    out = pd.DataFrame(rows).groupby(by)[cols].sum().sort_index()
    out[list(POLLUTANTS)] = out[list(POLLUTANTS)].round(4)
    return out


def orders_frame(orders: Sequence[ControlOrder]) -> pd.DataFrame:
    """Control orders as a table (one row per order; reductions as ``so2_t_d`` … columns)."""
    rows = []
    for o in orders:
        d = o.to_dict()
        red = d.pop("reductions")
        stacks = d.pop("stacks")
        d["stack_height_m"] = ";".join(f"{s['height_m']:g}" for s in stacks)
        for p in POLLUTANTS:
            d[f"{p}_t_d"] = red.get(p, 0.0)
        rows.append(d)
    cols = ["decision_id", "level", "unit_id", "city", "enterprise_id", "enterprise_name",
            "industry", "grade", "production_unit", "process", "stack_height_m", "is_elevated",
            "measure", "value", "transport", "start", "end"] + [f"{p}_t_d" for p in POLLUTANTS] + ["text_zh"]
    return pd.DataFrame(rows, columns=cols)


def _season_bounds(season: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in season.split("-"))
    except ValueError:
        raise ValueError(f"season must look like '2025-2026', got {season!r}") from None
    if b != a + 1:
        raise ValueError(f"season {season!r}: the second year must follow the first")
    return a, b


def staggered_calendar(emergency_list: EmergencyList, season: str) -> pd.DataFrame:
    """The 错峰生产 calendar of a season: one row per enterprise and date.

    Parameters
    ----------
    emergency_list : EmergencyList
    season : str
        ``"2025-2026"``: windows from July of the first year to June of the second (a window
        ``11-15`` → ``03-15`` runs 2025-11-15 … 2026-03-15, both inclusive).

    Returns
    -------
    DataFrame
        Columns ``enterprise_id, enterprise_name, unit_id, city, industry, grade, window, date``
        (``date`` a ``datetime.date``, local).
    """
    y1, y2 = _season_bounds(season)

    def to_date(md: str) -> dt.date:
        m, d = (int(x) for x in md.split("-"))
        return dt.date(y1 if m >= 7 else y2, m, d)

    rows = []
    for e in emergency_list.enterprises:
        for w in e.staggered:
            a, b = to_date(w.start), to_date(w.end)
            if b < a:
                raise ValueError(f"enterprise {e.id}: 错峰 window {w.start}→{w.end} does not fit "
                                 f"season {season}")
            for day in pd.date_range(a, b, freq="D"):
                rows.append({"enterprise_id": e.id, "enterprise_name": e.name, "unit_id": e.unit,
                             "city": e.city, "industry": e.industry, "grade": e.grade,
                             "window": w.name, "date": day.date()})
    cols = ["enterprise_id", "enterprise_name", "unit_id", "city", "industry", "grade", "window",
            "date"]
    return pd.DataFrame(rows, columns=cols)
