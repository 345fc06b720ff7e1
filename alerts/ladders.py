"""Warning-ladder evaluation: which level a forecast sequence reaches (domain-spec T2.1–T2.5).

Pure functions over plain sequences. The ladders themselves are configuration
(``configs/warning/*.yaml``, validated by :mod:`configs.warning_schema`).

Semantics (T2.5; the "持续 N 小时" reading is U and documented here):

* day mode — one value per forecast natural day (D+1, D+2, …); a term "> X for ≥ N h" holds when
  ``ceil(N/24)`` consecutive days are above X;
* rolling-24h mode — one value per hour (rolling 24-h AQI); the term needs N consecutive hours;
* an alternative's first term is its anchor (a run of consecutive values meeting it); its other
  terms must be met inside that run ("> 200 for 72 h **and** > 300 for ≥ 24 h" is one episode);
* the level is the **highest** one with a met alternative (the lower levels' "higher level not
  met" clauses are implied).

Units: AQI/IAQI dimensionless; PM2.5 and O3-8h in µg/m³; durations in hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from airwarn.configs.warning_schema import (
    LEVEL_RANK,
    LEVELS,
    Alternative,
    Ladder,
    Term,
    load_ladder,
)

from airwarn.core.pollutants import pollutant as pollutant_info

__all__ = [
    "LEVELS",
    "LEVEL_RANK",
    "LevelResult",
    "evaluate_ladder",
    "first_met",
    "gated_aqi",
    "iaqi_o3_series",
    "is_below_lift",
    "level_rank",
    "load_ladder",
    "runs_above",
]


@dataclass(frozen=True)
class LevelResult:
    """Result of :func:`evaluate_ladder`.

    Attributes
    ----------
    level : {"none", "blue", "yellow", "orange", "red"}
    condition_met_text : str
        The condition that fired, bilingual (``""`` for ``none``), e.g.
        ``"日AQI > 200 持续 ≥ 48 小时 / daily AQI > 200 for ≥ 48 h"``.
    exceedance_days : tuple of int
        0-based positions (days in day mode, hours in rolling mode) of the run that met the
        condition's anchor term; ``()`` for ``none``.
    status, source : str
        Status (V1/V2/U) and source of the rule that fired.
    unevaluated : tuple of str
        Alternatives skipped because their series (e.g. PM2.5) was not given.
    """

    level: str
    condition_met_text: str = ""
    exceedance_days: tuple[int, ...] = ()
    status: str = ""
    source: str = ""
    unevaluated: tuple[str, ...] = field(default=())

    @property
    def rank(self) -> int:
        """Position in :data:`LEVELS` (none 0 … red 4)."""
        return LEVEL_RANK[self.level]


def level_rank(level: str) -> int:
    """Rank of a level name (none 0, blue 1, yellow 2, orange 3, red 4)."""
    try:
        return LEVEL_RANK[level]
    except KeyError:
        raise ValueError(f"unknown warning level {level!r}; expected one of {LEVELS}") from None


def _above(values: np.ndarray, term: Term) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return values > term.value if term.op == ">" else values >= term.value


def runs_above(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """Maximal runs of True of length ≥ ``min_len`` as ``(start, stop)`` index pairs (stop excl.)."""
    out: list[tuple[int, int]] = []
    start = None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            if i - start >= min_len:
                out.append((start, i))
            start = None
    return out


def _alternative_run(alt: Alternative, series: dict[str, np.ndarray],
                     step_h: int) -> tuple[int, int] | None:
    anchor, rest = alt.all_of[0], alt.all_of[1:]
    for a, b in runs_above(_above(series[anchor.metric], anchor), anchor.steps(step_h)):
        if all(runs_above(_above(series[t.metric][a:b], t), t.steps(step_h)) for t in rest):
            return a, b
    return None


def first_met(alternatives: Sequence[Alternative], daily_aqi: Sequence[float],
              step_h: int = 24) -> tuple[Alternative, tuple[int, ...]] | None:
    """The first of ``alternatives`` (AQI terms only) met by the sequence, with its run positions.

    Used for conditions outside a ladder, e.g. the pre-warning (预警前临时管控) rule.
    """
    aqi = np.asarray(daily_aqi, dtype=float)
    for alt in alternatives:
        if alt.metrics != {"aqi"}:
            raise ValueError(f"condition '{alt.text_en()}': only daily AQI terms are supported here")
        run = _alternative_run(alt, {"aqi": aqi}, step_h)
        if run is not None:
            return alt, tuple(range(*run))
    return None


def _as_array(x: Sequence[float] | np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if x is None:
        return None
    arr = np.asarray(x, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one value per step like daily_aqi ({n}), "
                         f"got shape {arr.shape}")
    return arr


def iaqi_o3_series(o3_8h: Sequence[float] | np.ndarray, ruleset: str = "HJ633_2026") -> np.ndarray:
    """IAQI of O3 daily max 8-h means (µg/m³ → dimensionless), via :func:`alerts.aqi.iaqi_array`.

    Above 800 µg/m³ the 2012 rule set does not compute an 8-h IAQI; such values are taken as 300+
    (they exceed every O3 advisory threshold anyway).
    """
    from airwarn.alerts.aqi import iaqi_array

    arr = np.asarray(o3_8h, dtype=float)
    out = np.asarray(iaqi_array("o3", arr, "8h", ruleset), dtype=float)
    return np.where(np.isnan(out) & (arr > 800), 301.0, out)


def gated_aqi(daily_aqi: Sequence[float], primary: Sequence[str | None] | None,
              colour_primaries: Sequence[str], daily_pm25: Sequence[float] | None = None,
              ruleset: str = "HJ633_2026", *,
              daily_products: Mapping[str, Sequence[float] | None] | None = None) -> np.ndarray:
    """Daily AQI with non-PM-driven days replaced by the IAQI of the gate's pollutants.

    A day counts with its AQI when its primary pollutant (``"PM2.5"``, ``"PM10"``, or a joined
    list such as ``"PM2.5,PM10"``) contains one of ``colour_primaries``; otherwise (O3-driven) its
    AQI is replaced by the highest IAQI of the forecast daily products of the ``colour_primaries``
    pollutants — ``daily_products`` (pollutant → daily values, µg/m³, the registry's daily
    statistic), or IAQI(PM2.5 daily mean) from ``daily_pm25`` — else by 0.
    """
    aqi = np.asarray(daily_aqi, dtype=float).copy()
    if primary is None:
        return aqi
    allowed = {p.upper().replace("_", "").replace(".", "") for p in colour_primaries}
    from airwarn.alerts.aqi import iaqi_array

    products = dict(daily_products or {})
    if daily_pm25 is not None:
        products.setdefault("pm25", daily_pm25)
    gate = [np.asarray(iaqi_array(p, np.asarray(v, dtype=float), pollutant_info(p).iaqi_daily,
                                  ruleset), dtype=float)
            for p, v in products.items() if v is not None and pollutant_info(p).primary_label
            .upper().replace("_", "").replace(".", "") in allowed]
    pm_iaqi = (gate[0] if len(gate) == 1 else np.fmax.reduce(gate)) if gate else None
    for i, p in enumerate(primary):
        if p is None or (isinstance(p, float) and np.isnan(p)) or str(p).strip() in ("", "—"):
            continue  # AQI ≤ 50: no primary; the value is below every threshold anyway
        names = {s.strip().upper().replace("_", "").replace(".", "")
                 for s in str(p).replace("/", ",").replace("、", ",").split(",")}
        if not names & allowed:
            aqi[i] = pm_iaqi[i] if pm_iaqi is not None and not np.isnan(pm_iaqi[i]) else 0.0
    return aqi


def evaluate_ladder(ladder: Ladder | str, daily_aqi: Sequence[float], *,
                    daily_pm25: Sequence[float] | None = None,
                    daily_o3_8h: Sequence[float] | None = None,
                    primary: Sequence[str | None] | None = None,
                    daily_iaqi_o3: Sequence[float] | None = None,
                    ruleset: str = "HJ633_2026",
                    daily_products: Mapping[str, Sequence[float] | None] | None = None
                    ) -> LevelResult:
    """Highest level of ``ladder`` whose condition the forecast sequence meets.

    Parameters
    ----------
    ladder : Ladder or str
        A loaded ladder, or its id (loaded in drill mode, without the horizon check).
    daily_aqi : sequence of float
        Day mode: forecast daily AQI for D+1, D+2, … (dimensionless). Rolling-24h mode: hourly
        rolling 24-h AQI values. NaN never exceeds a threshold.
    daily_pm25 : sequence of float, optional
        PM2.5 daily means, µg/m³ (Chongqing pollutant-specific conditions; the gate).
    daily_o3_8h : sequence of float, optional
        O3 daily max 8-h means, µg/m³.
    primary : sequence of str, optional
        Primary pollutant per day; with a colour ladder, days not driven by a colour pollutant
        (PM2.5/PM10) are gated out (see :func:`gated_aqi`).
    daily_iaqi_o3 : sequence of float, optional
        IAQI(O3-8h); computed from ``daily_o3_8h`` when absent.
    ruleset : str
        AQI rule set for IAQI conversions (``HJ633_2012`` | ``HJ633_2026``).
    daily_products : dict, optional
        Forecast daily products per pollutant (µg/m³; e.g. ``pm25``, ``pm10``) for the gate.

    Returns
    -------
    LevelResult

    Raises
    ------
    ValueError
        Series of unequal length, or no alternative of the ladder can be evaluated with the
        series given.

    Examples
    --------
    >>> evaluate_ladder("national-2024", [210, 220, 310]).level
    'red'
    """
    lad = load_ladder(ladder, allow_long_horizon=True) if isinstance(ladder, str) else ladder
    aqi = np.asarray(daily_aqi, dtype=float)
    if aqi.ndim != 1:
        raise ValueError(f"daily_aqi must be a 1-D sequence, got shape {aqi.shape}")
    n = aqi.shape[0]
    pm25 = _as_array(daily_pm25, n, "daily_pm25")
    o3 = _as_array(daily_o3_8h, n, "daily_o3_8h")
    iaqi_o3 = _as_array(daily_iaqi_o3, n, "daily_iaqi_o3")
    if iaqi_o3 is None and o3 is not None:
        iaqi_o3 = iaqi_o3_series(o3, ruleset)
    if primary is not None:
        if len(primary) != n:
            raise ValueError(f"primary must have one entry per step ({n}), got {len(primary)}")
        if lad.kind == "colour":
            aqi = gated_aqi(aqi, primary, lad.gate.colour_primaries, pm25, ruleset,
                            daily_products=daily_products)
    series: dict[str, np.ndarray | None] = {"aqi": aqi, "pm25": pm25, "o3_8h": o3,
                                            "iaqi_o3": iaqi_o3}
    skipped: list[str] = []
    evaluable = 0
    best = LevelResult("none")
    for lv in lad.levels:
        for alt in lv.any_of:
            if any(series[m] is None for m in alt.metrics):
                skipped.append(f"{lv.level}: {alt.text_en()}")
                continue
            evaluable += 1
            if lv.rank <= best.rank:
                continue
            run = _alternative_run(alt, series, lad.step_h)  # type: ignore[arg-type]
            if run is not None:
                best = LevelResult(lv.level, f"{alt.text_zh()} / {alt.text_en()}",
                                   tuple(range(*run)), alt.status, alt.source)
    if evaluable == 0:
        raise ValueError(f"ladder {lad.id!r}: no condition can be evaluated with the series "
                         f"given (needs one of {sorted({m for lv in lad.levels for a in lv.any_of for m in a.metrics})})")
    return LevelResult(best.level, best.condition_met_text, best.exceedance_days, best.status,
                       best.source, tuple(skipped))


def is_below_lift(ladder: Ladder, daily_aqi: Sequence[float], start: int = 0) -> bool:
    """Whether the lift rule holds: from position ``start`` the values stay at or below the
    ladder's lift threshold (:attr:`Ladder.lift_below_aqi`) for **more than** ``lift.hours``.

    Day mode: ``floor(hours/24) + 1`` consecutive days (2 days for 36 h); rolling mode: hours + 1
    values. A sequence too short to show it does not lift.
    """
    aqi = np.asarray(daily_aqi, dtype=float)[start:]
    need = ladder.lift.hours // ladder.step_h + 1
    if aqi.shape[0] < need:
        return False
    head = aqi[:need]
    return bool(np.all(~np.isnan(head) & (head <= ladder.lift_below_aqi)))
