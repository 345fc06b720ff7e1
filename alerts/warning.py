"""The warning state machine across daily runs, per unit (domain-spec T2.5), and the run that turns
a forecast file into warning decisions, register rows and control orders (:func:`warn_run`).

States per unit: ``none → yellow ⇄ orange ⇄ red → lifted`` (``blue`` too with a ladder that has it).

Rules (T2.5; V2 unless marked U):

* **Issue** as soon as the ladder's condition is met; the warning starts at 00:00 local of the
  first exceedance day (川渝 practice) — the exceedance run extended over the adjacent forecast
  days above the lift threshold (AQI > 150), which belong to the same episode (U). The 24-h lead (原则上提前24小时发布) is checked and a shorter
  lead is stated in the reasons.
* **Upgrade** at once when a higher level's condition is met (U).
* **Downgrade** when the forecast falls to a lower level's condition (U); **lift** when the
  forecast is below the yellow condition for more than 36 h (:func:`alerts.ladders.is_below_lift`).
* **Merge**: a gap that does not meet the lift rule keeps the episode open (``continue``).
* **Episode days before D+1** (U): while a warning is in force, the days just before D+1 (the
  latest forecasts recorded for them, :meth:`Register.forecast_for`) count towards "持续"
  durations, so an episode at its peak is not downgraded because part of it is already past.
* **Hysteresis** (U, settings in ``configs/warning/policy.yaml``): a downgrade or lift is applied
  when the lower condition holds in ``hysteresis_runs`` consecutive runs (default 2), or at once
  when it is decisive — the forecast plus ``hysteresis_margin_aqi`` (default 10) still gives the
  lower level (and, for a lift, still meets the lift rule). A 1-AQI wobble around a threshold
  therefore never flips the level back and forth.
* **Trigger**: ``settings.warning_trigger`` — ``median`` uses ``aqi_daily``; ``probability`` counts
  a day above 150/200/300 when ``p_aqi_gt_150/200/300 ≥ settings.warning_probability``. Each
  decision records which.
* **Pollutant gate**: colour warnings count PM-driven days only; O3-driven episodes go to the O3
  advisory ladder (action ``advisory``), kept apart from the colour state.
* **Pre-warning** (S24, V2): PM-driven daily AQI > 150, or > 100 for ≥ 48 h, while no colour
  level is met → an ``advisory`` decision with level ``none`` (temporary controls may be taken).
* **Overrides**: a forecaster's override (register) sets the level until it expires; it is shown
  in every decision while in force, beside the machine level.

Units: AQI dimensionless; concentrations µg/m³; times local ISO 8601 (+08:00) unless stated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.ladders import (
    LevelResult,
    evaluate_ladder,
    first_met,
    gated_aqi,
    is_below_lift,
    level_rank,
)
from airwarn.alerts.regional import RegionalFinding, cross_border_findings, regional_findings
from airwarn.alerts.register import Register, UnitState, iso_utc
from airwarn.alerts.response import ControlOrder, control_orders, orders_frame, reduction_check
from airwarn.configs import AirwarnConfig
from airwarn.configs.response_schema import EmergencyList
from airwarn.configs.schema import Region, Settings
from airwarn.configs.warning_schema import (
    LEVEL_ZH,
    Ladder,
    WarningPolicy,
    aqi_thresholds,
    load_ladders_for_region,
    load_warning_policy,
)

from airwarn.core.atomic import write_text_atomic
from airwarn.core.pollutants import pollutant as pollutant_info
from airwarn.core.pollutants import targets as registry_targets
from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ, issue_stamp

__all__ = [
    "ACTIONS",
    "ControlOrder",
    "UnitForecast",
    "WarningDecision",
    "decide_unit",
    "decision_id",
    "effective_aqi",
    "o3_effective_iaqi",
    "history_dates",
    "issue_stamp",
    "orders_path",
    "read_decisions",
    "rolling_24h_aqi",
    "unit_forecasts",
    "warn_run",
    "warnings_path",
    "write_decisions",
    "write_orders_csv",
]

#: Actions of a decision (docs/INTERFACES.md).
ACTIONS: tuple[str, ...] = ("issue", "upgrade", "downgrade", "continue", "lift", "advisory",
                            "regional")
_ACTION_ZH = {"issue": "发布", "upgrade": "升级为", "downgrade": "降级为", "continue": "继续维持",
              "lift": "解除", "advisory": "发布臭氧污染提示", "regional": "启动区域联动"}
_TZ = LOCAL_TZ


def warnings_path(data_dir: Path | str, issue_time: Any) -> Path:
    """``<data_dir>/warnings/<stamp>.json``."""
    return RunStore(data_dir).warnings(issue_time)


def orders_path(data_dir: Path | str, issue_time: Any) -> Path:
    """``<data_dir>/warnings/<stamp>_orders.csv`` (the run's control orders)."""
    return RunStore(data_dir).orders(issue_time)


def decision_id(issue_time: Any, unit_ids: Sequence[str], level: str, action: str,
                kind: str = "") -> str:
    """Deterministic id from issue time (UTC), units, level, action (and kind for regional ones).

    Reruns of the same issue time give the same ids, so the register never duplicates them.
    """
    key = "|".join([iso_utc(issue_time), ",".join(sorted(unit_ids)), level, action, kind])
    return "W" + issue_stamp(issue_time) + "-" + hashlib.sha1(key.encode()).hexdigest()[:10]


@dataclass
class WarningDecision:
    """One warning decision of a run (docs/INTERFACES.md).

    Times are local ISO 8601 (+08:00). ``daily_aqi`` maps unit → forecast daily AQI D+1…D+3
    (median, dimensionless; None where missing). ``override`` is None or the forecaster's override
    (``level, reason, who, when, valid_until, machine_level``). ``joint`` is None or, for regional
    decisions, ``{kind: contiguous|joint, source_units, acting_units, levels}``. ``ladder`` and
    ``condition`` name the ladder and the condition that fired; ``lead_time_h`` is the hours from
    issue to ``start``; ``source`` is the forecast file's ``source`` attribute (``synthetic demo``
    marks an exercise).
    """

    decision_id: str
    issue_time: str
    unit_ids: list[str]
    level: str
    action: str
    previous_level: str
    start: str | None
    end: str | None
    primary_pollutant: str | None
    daily_aqi: dict[str, list[float | None]]
    trigger: str
    reason_zh: str
    reason_en: str
    references: list[str] = field(default_factory=list)
    regional: bool = False
    control_orders: list[ControlOrder] = field(default_factory=list)
    reduction_checks: list[dict[str, Any]] = field(default_factory=list)
    degraded_inputs: list[str] = field(default_factory=list)
    override: dict[str, Any] | None = None
    joint: dict[str, Any] | None = None
    ladder: str = ""
    condition: str = ""
    lead_time_h: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (control orders as dicts)."""
        d = asdict(self)
        d["control_orders"] = [o.to_dict() if hasattr(o, "to_dict") else o
                               for o in self.control_orders]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WarningDecision:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["control_orders"] = [o if isinstance(o, ControlOrder) else ControlOrder.from_dict(o)
                               for o in d.get("control_orders", [])]
        return cls(**d)


@dataclass
class UnitForecast:
    """Daily forecast of one unit for D+1…D+n (from the forecast file).

    ``aqi`` median daily AQI; ``p_gt`` threshold → exceedance probability per day (0–1);
    ``p_o3`` IAQI threshold → P(IAQI(O3-8h) > t) per day (0–1; t = 150 ⇔ MDA8 > 215 µg/m³);
    ``pm25`` daily mean and ``o3_8h`` daily max 8-h mean (µg/m³); ``primary`` per day;
    ``dates`` local ISO dates. For rolling-24h ladders: ``hourly_times`` (tz-aware valid times)
    and ``hourly_aqi``, the AQI of the 24-h moving mean PM2.5 ending at each hour (≥ 20 valid hours;
    PM2.5 being the colour-warning pollutant — U convention).
    """

    unit_id: str
    dates: list[str]
    aqi: np.ndarray
    primary: list[str | None] | None = None
    pm25: np.ndarray | None = None
    o3_8h: np.ndarray | None = None
    p_gt: dict[int, np.ndarray] = field(default_factory=dict)
    hourly_times: pd.DatetimeIndex | None = None
    hourly_aqi: np.ndarray | None = None
    #: daily products of every forecast target (pollutant → µg/m³ per day), for the colour gate
    daily: dict[str, np.ndarray] = field(default_factory=dict)
    p_o3: dict[int, np.ndarray] = field(default_factory=dict)


def effective_aqi(fc: UnitForecast, trigger: str, probability: float) -> tuple[np.ndarray, str]:
    """Daily AQI as the ladder sees it under the trigger, and the trigger actually used.

    ``probability``: a day counts above 300 / 200 / 150 when ``p_aqi_gt_<t> ≥ probability``; the
    median is clipped into the band so that the ladder's > 150 / > 200 / > 300 tests follow the
    probabilities. Falls back to ``median`` when the probabilities are absent, and day by day
    where a probability is NaN (a missing probability never hides a median exceedance).
    """
    aqi = np.asarray(fc.aqi, dtype=float)
    cuts = aqi_thresholds()  # 150, 200, 300: the default ladder's AQI cuts (configs/warning/)
    if trigger != "probability" or not all(t in fc.p_gt for t in cuts):
        return aqi, "median"
    ps = [np.asarray(fc.p_gt[t], dtype=float) for t in cuts]
    out = np.minimum(aqi, float(cuts[0]))
    # band of each cut: (cut, next cut] — the last one up to the AQI cap 500
    band = [(p, t + 1.0, float(nxt)) for p, t, nxt in zip(ps, cuts, (*cuts[1:], 500), strict=True)]
    for p, lo, hi in band:
        hit = p >= probability
        out = np.where(hit, np.clip(np.nan_to_num(aqi, nan=lo), lo, hi), out)
    missing = np.logical_or.reduce([np.isnan(p) for p in ps])
    return np.where(missing, aqi, out), "probability"


def _local(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _day_start(date: str, tz: str) -> pd.Timestamp:
    return pd.Timestamp(date).tz_localize(tz)


def _hm(iso: str, tz: str) -> str:
    """``YYYY-MM-DD HH:MM`` local of an ISO time."""
    return _local(pd.Timestamp(iso), tz).strftime("%Y-%m-%d %H:%M")


def _fmt_vals(x: Sequence[float]) -> str:
    return "/".join("NA" if v is None or np.isnan(v) else f"{v:.0f}" for v in x)


def _primary_of(fc: UnitForecast, days: Sequence[int]) -> str | None:
    if fc.primary is None:
        return None
    vals = [fc.primary[i] for i in days if fc.primary[i]] or [p for p in fc.primary if p]
    if not vals:
        return None
    return max(set(vals), key=lambda v: (vals.count(v), v))


def history_dates(ladder: Ladder, fc: UnitForecast) -> list[str]:
    """Local dates of the days before D+1 that can still count towards the ladder's longest
    condition (e.g. D-1 and D0 for a 72-h condition), oldest first."""
    n = max(0, ladder.hours_needed // 24 - 1)
    d1 = pd.Timestamp(fc.dates[0])
    return [str((d1 - pd.Timedelta(days=k)).date()) for k in range(n, 0, -1)]


def _sustained_level(ladder: Ladder, aqi: np.ndarray, history: Sequence[float | None] | None,
                     ruleset: str) -> str:
    """Level met by history + forecast with a run reaching into the forecast (day mode)."""
    if not history or ladder.mode != "day":
        return "none"
    hist = np.array([np.nan if v is None else float(v) for v in history])
    res = evaluate_ladder(ladder, np.concatenate([hist, aqi]), ruleset=ruleset)
    if res.level == "none" or res.exceedance_days[-1] < len(hist):
        return "none"
    return res.level


def _run_ladder(ladder: Ladder, fc: UnitForecast, aqi: np.ndarray, ruleset: str,
                margin: float = 0.0) -> LevelResult:
    if ladder.mode == "rolling-24h":  # hourly series: the daily companions do not align
        return evaluate_ladder(ladder, aqi + margin, ruleset=ruleset)
    return evaluate_ladder(ladder, aqi + margin, daily_pm25=fc.pm25, daily_o3_8h=fc.o3_8h,
                           primary=fc.primary, ruleset=ruleset, daily_products=fc.daily)


def _series(ladder: Ladder, fc: UnitForecast, trigger: str,
            probability: float) -> tuple[np.ndarray, str]:
    """The AQI series the ladder reads (daily, or hourly rolling 24-h) and the trigger used."""
    if ladder.mode == "rolling-24h":
        if fc.hourly_aqi is None or fc.hourly_times is None:
            raise ValueError(f"ladder {ladder.id!r} is in rolling-24h mode but the forecast has no "
                             f"hourly pm25(region, lead) with valid_time for unit {fc.unit_id!r}")
        return np.asarray(fc.hourly_aqi, dtype=float), "median"
    return effective_aqi(fc, trigger, probability)


def _window(ladder: Ladder, fc: UnitForecast, positions: Sequence[int],
            tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local start (00:00 of the first exceedance day) and end (00:00 after the last) of a run
    of exceedance positions (days, or hours of rolling 24-h windows)."""
    if ladder.mode == "rolling-24h" and fc.hourly_times is not None:
        first = (fc.hourly_times[positions[0]] - pd.Timedelta(hours=23)).tz_convert(tz)
        last = fc.hourly_times[positions[-1]].tz_convert(tz)
        return first.normalize(), (last - pd.Timedelta(seconds=1)).normalize() + pd.Timedelta(days=1)
    return (_day_start(fc.dates[positions[0]], tz),
            _day_start(fc.dates[positions[-1]], tz) + pd.Timedelta(days=1))


def _episode_days(ladder: Ladder, fc: UnitForecast, aqi: np.ndarray, days: Sequence[int],
                  ruleset: str) -> list[int]:
    """The exceedance run extended over the adjacent forecast days whose (gated) AQI stays above
    the lift threshold (U): those days belong to the same episode — the lift rule could not end
    the warning on them — so the window covers them (a 160 day before a 220 day is warned)."""
    g = gated_aqi(aqi, fc.primary, ladder.gate.colour_primaries, fc.pm25, ruleset)
    above = np.nan_to_num(np.asarray(g, dtype=float), nan=-1.0) > ladder.lift_below_aqi
    lo, hi = days[0], days[-1]
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi + 1 < len(above) and above[hi + 1]:
        hi += 1
    return list(range(lo, hi + 1))


def decide_unit(unit_id: str, unit_name: str, ladder: Ladder, policy: WarningPolicy,
                state: UnitState, fc: UnitForecast, issue_time: pd.Timestamp, *,
                trigger: str = "median", probability: float = 0.5, override: Any = None,
                ruleset: str = "HJ633_2026", tz: str = _TZ, unit_name_en: str = "",
                history: Sequence[float | None] | None = None
                ) -> tuple[WarningDecision | None, dict[str, Any]]:
    """One step of the state machine for one unit (pure: the register is read by the caller).

    Parameters
    ----------
    unit_id, unit_name, unit_name_en : str
    ladder : Ladder
        The unit's colour ladder.
    policy : WarningPolicy
        Hysteresis and lead-time settings.
    state : UnitState
        The unit's state before this run (:meth:`Register.current_state`).
    fc : UnitForecast
    issue_time : Timestamp
        tz-aware issue time.
    trigger : {"median", "probability"}
    probability : float
        Exceedance probability threshold (0–1).
    override : Override or None
        Forecaster's override in force.
    history : sequence of float, optional
        Daily AQI of the days just before D+1 already in the episode (oldest first; the latest
        forecasts recorded for them, :func:`history_dates`). While a warning is in force they count
        towards "持续" durations, so an episode at its peak is not downgraded because part of it
        lies before D+1; the run that meets the level must still reach into D+1…D+3.

    Returns
    -------
    (WarningDecision or None, dict)
        The decision (None when no warning is in force or starts) and the state to record
        (``machine_level``, ``hold_count``, ``episode_start``, ``decided_by``).
    """
    aqi_eff, used = _series(ladder, fc, trigger, probability)
    res = _run_ladder(ladder, fc, aqi_eff, ruleset)
    machine = res.level
    prev = state.level
    now = _local(issue_time, tz)
    first_day = _day_start(fc.dates[0], tz)
    hold = 0
    note_zh: list[str] = []
    note_en: list[str] = []

    # a new episode after a gap that meets the lift rule: the one in force ends now
    new_episode = (state.active and policy.lift_between_episodes and machine != "none"
                   and is_below_lift(ladder, aqi_eff))
    if new_episode:
        note_zh.append(f"预报 D+1 起低于黄色预警条件持续{ladder.lift.hours}小时以上，其后的超标为新的"
                       f"污染过程，由之后的预报另行发布")
        note_en.append(f"forecast below the yellow condition for more than {ladder.lift.hours} h "
                       f"from D+1: the later exceedance is a new episode, issued by a later run")
        machine = "none"
    # what the machine would do
    if state.active and not new_episode and level_rank(machine) < level_rank(prev):
        held = _sustained_level(ladder, aqi_eff, history, ruleset)
        held = held if level_rank(held) <= level_rank(prev) else prev
        if level_rank(held) > level_rank(machine):
            hz = _fmt_vals([np.nan if v is None else v for v in history or []])
            note_zh.append(f"计入本次过程 D+1 之前的污染日（{hz}），{LEVEL_ZH[held]}条件仍成立")
            note_en.append(f"counting the episode's days before D+1 ({hz}), the {held} condition "
                           f"still holds")
            machine = held
    if not state.active:
        level, action = (machine, "issue") if machine != "none" else ("none", None)
    elif level_rank(machine) > level_rank(prev):
        level, action = machine, "upgrade"
    elif machine == prev:
        level, action = prev, "continue"
    else:
        lower_ok = machine != "none" or is_below_lift(ladder, aqi_eff)
        if not lower_ok:  # a gap that does not meet the lift rule: one episode
            level, action = prev, "continue"
            note_zh.append(f"预报低于预警条件但未满足“低于黄色预警条件持续{ladder.lift.hours}小时以上”的"
                           f"解除条件，按同一过程合并，维持预警")
            note_en.append(f"forecast falls below the warning condition but not for more than "
                           f"{ladder.lift.hours} h: the gap is merged into the episode")
        else:
            m_res = _run_ladder(ladder, fc, aqi_eff, ruleset, policy.hysteresis_margin_aqi)
            decisive = (new_episode or level_rank(m_res.level) <= level_rank(machine)) and (
                machine != "none" or is_below_lift(ladder, aqi_eff + policy.hysteresis_margin_aqi))
            hold = state.hold_count + 1
            if decisive or hold >= policy.hysteresis_runs:
                level, action = (machine, "downgrade") if machine != "none" else ("none", "lift")
                why = (f"预报加 {policy.hysteresis_margin_aqi:g} 后仍为较低等级" if decisive else
                       f"较低等级条件已连续 {hold} 次预报成立")
                note_zh.append(f"滞后规则：{why}")
                note_en.append("hysteresis: " + (
                    f"still lower with forecast + {policy.hysteresis_margin_aqi:g} AQI" if decisive
                    else f"lower condition held in {hold} consecutive runs"))
                hold = 0
            else:
                level, action = prev, "continue"
                note_zh.append(f"滞后规则：较低等级（{LEVEL_ZH[machine]}）条件首次成立且裕量不足 "
                               f"{policy.hysteresis_margin_aqi:g}，需连续 {policy.hysteresis_runs} "
                               f"次预报成立方可降级/解除，暂维持{LEVEL_ZH[prev]}")
                note_en.append(f"hysteresis: lower level ({machine}) first seen and within "
                               f"{policy.hysteresis_margin_aqi:g} AQI of the threshold; "
                               f"{policy.hysteresis_runs} consecutive runs are needed, {prev} kept")

    decided_by = "airwarn"
    ov = None
    if override is not None:
        ov = {**override.to_dict(), "machine_level": machine}
        decided_by = override.who
        target = override.level
        if target != level:
            note_zh.append(f"预报员 {override.who} 人工订正为{LEVEL_ZH[target]}（机器判定"
                           f"{LEVEL_ZH[machine]}）：{override.reason}，有效至 {_hm(override.valid_until, tz)}")
            note_en.append(f"forecaster override by {override.who}: {target} (machine level "
                           f"{machine}): {override.reason}; valid until {_hm(override.valid_until, tz)}")
        else:
            note_zh.append(f"预报员 {override.who} 订正仍有效：{LEVEL_ZH[target]}（{override.reason}）")
            note_en.append(f"forecaster override by {override.who} in force: {target} "
                           f"({override.reason})")
        level = target
        if not state.active:
            action = "issue" if target != "none" else ("continue" if machine != "none" else None)
        elif target == "none":
            action = "lift"
        elif level_rank(target) > level_rank(prev):
            action = "upgrade"
        elif level_rank(target) < level_rank(prev):
            action = "downgrade"
        else:
            action = "continue"
        hold = 0

    meta = {"machine_level": machine, "hold_count": hold, "decided_by": decided_by,
            "episode_start": state.episode_start, "trigger": used}
    if action is None:
        return None, meta

    n = len(fc.dates)
    days = list(res.exceedance_days) if res.level != "none" else []
    if days and ladder.mode == "day":
        days = _episode_days(ladder, fc, aqi_eff, days, ruleset)
    win = _window(ladder, fc, days, tz) if days else None
    if action in ("issue", "upgrade") and win:
        start = win[0]
    elif action == "continue" and state.episode_start:
        start = pd.Timestamp(state.episode_start)
    elif action == "continue" and win:
        start = win[0]
    else:
        start = first_day
    if action == "lift":
        end = first_day
    elif win:
        end = win[1]
    else:
        end = _day_start(fc.dates[n - 1], tz) + pd.Timedelta(days=1)
    episode_start = (start if action == "issue" else
                     pd.Timestamp(state.episode_start) if state.episode_start else start)
    meta["episode_start"] = None if action == "lift" or level == "none" else episode_start.isoformat()
    lead_h = round((start - now).total_seconds() / 3600.0, 1)
    if action == "issue" and level != "none" and lead_h < policy.min_lead_h:
        note_zh.append(f"提前量 {lead_h:g} 小时，不足 {policy.min_lead_h:g} 小时（原则上提前24小时发布）")
        note_en.append(f"lead time {lead_h:g} h, less than the {policy.min_lead_h:g} h required "
                       f"in principle")

    primary = _primary_of(fc, days if ladder.mode == "day" else [])
    k = len(fc.dates)
    vals = vals_en = _fmt_vals(fc.aqi)
    if ladder.mode == "rolling-24h" and fc.hourly_times is not None:
        local_days = np.asarray(fc.hourly_times.tz_convert(tz).strftime("%Y-%m-%d"))
        peak = [float(np.nanmax(aqi_eff[local_days == d])) if np.any(
            (local_days == d) & ~np.isnan(aqi_eff)) else np.nan for d in fc.dates]
        vals += f"，滚动24小时AQI 日最大值 {_fmt_vals(peak)}"
        vals_en += f", daily peak of the rolling 24-h AQI {_fmt_vals(peak)}"
    trig_zh = trig_en = ""
    if used == "probability":
        ps = "；".join(f"P(AQI>{t}) {'/'.join(f'{p:.2f}' for p in fc.p_gt[t])}" for t in aqi_thresholds())
        trig_zh = f"，按超标概率触发（{ps}，阈值 ≥ {probability:g}）"
        trig_en = f"; probability trigger ({ps.replace('；', '; ')}, threshold ≥ {probability:g})"
    cond_zh, cond_en = (res.condition_met_text.split(" / ") + [""])[:2] if res.condition_met_text \
        else ("未达到任何预警等级条件", "no warning condition met")
    head_zh = f"{unit_name} D+1…D+{k} 日AQI 预报 {vals}（{cond_zh}）"
    head_en = f"{unit_name_en or unit_id} D+1…D+{k} forecast daily AQI {vals_en} ({cond_en})"
    if primary:
        head_zh += f"，首要污染物 {primary}"
        head_en += f", primary pollutant {primary}"
    if action == "lift":
        act_zh = f"{_ACTION_ZH['lift']}{LEVEL_ZH[prev]}，自 {first_day:%Y-%m-%d %H:%M} 起"
        act_en = f"{prev} warning lifted from {first_day:%Y-%m-%d %H:%M}"
    elif level == "none":
        act_zh, act_en = "维持无预警", "no warning"
    else:
        act_zh = (f"{_ACTION_ZH[action]}{LEVEL_ZH[level]}，{start:%Y-%m-%d %H:%M} 至 "
                  f"{end:%Y-%m-%d %H:%M}（至正式解除）")
        act_en = (f"{action} {level} warning, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} "
                  f"(until formally lifted)")
        resp = next((lv.response for lv in ladder.levels if lv.level == level), None)
        if resp and action in ("issue", "upgrade", "downgrade"):
            act_zh += f"，启动{resp}"
            roman = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV"}.get(resp[:1])
            act_en += f", level {roman} emergency response" if roman else f", response {resp}"
    reason_zh = f"{head_zh}{trig_zh}；{act_zh}" + "".join(f"；{s}" for s in note_zh) + "。"
    reason_en = f"{head_en}{trig_en}: {act_en}" + "".join(f"; {s}" for s in note_en) + "."
    it = now.isoformat()
    dec = WarningDecision(
        decision_id=decision_id(now, [unit_id], level, action),
        issue_time=it, unit_ids=[unit_id], level=level, action=action, previous_level=prev,
        start=start.isoformat(), end=end.isoformat(), primary_pollutant=primary,
        daily_aqi={unit_id: [None if np.isnan(v) else float(v) for v in fc.aqi]},
        trigger=used, reason_zh=reason_zh, reason_en=reason_en,
        references=[state.last_decision_id] if state.last_decision_id and state.active else [],
        override=ov, ladder=ladder.id, condition=res.condition_met_text, lead_time_h=lead_h)
    return dec, meta


# ------------------------------------------------------------------------------------------
# Forecast file → per-unit forecasts
# ------------------------------------------------------------------------------------------


def rolling_24h_aqi(pm25: np.ndarray, ruleset: str, min_valid: int = 20,
                    pollutant: str = "pm25") -> np.ndarray:
    """IAQI of the 24-h moving mean concentration ending at each hour (µg/m³ → dimensionless).

    ``pm25`` is ``(unit, hour)`` of ``pollutant`` (default PM2.5); a window needs ``min_valid``
    valid hours (DESIGN: daily mean ≥ 20 valid hours), else NaN. The first 23 hours of a forecast
    have short windows.
    """
    from airwarn.alerts.aqi import iaqi_array

    frame = pd.DataFrame(np.asarray(pm25, dtype=float).T)
    mean = frame.rolling(24, min_periods=min_valid).mean().to_numpy().T
    return np.asarray(iaqi_array(pollutant, np.round(mean, 1), "24h", ruleset), dtype=float)


def unit_forecasts(ds: xr.Dataset, ruleset: str = "HJ633_2026") -> dict[str, UnitForecast]:
    """Read the daily variables of a forecast Dataset (docs/INTERFACES.md) per unit, and the
    rolling 24-h AQI when hourly ``pm25(region, lead)`` and ``valid_time(lead)`` are present.

    Raises
    ------
    ValueError
        Naming the missing variable or coordinate (``aqi_daily``, ``date``).
    """
    for name in ("aqi_daily", "date"):
        if name not in ds.variables:
            raise ValueError(f"forecast file lacks {name!r}; expected aqi_daily(region, day) and "
                             f"date(day) (docs/INTERFACES.md, forecast file)")
    dates = [str(x)[:10] for x in np.asarray(ds["date"].values)]
    regions = [str(r) for r in np.asarray(ds["region"].values)]

    def table(var: str, dtype: Any = float) -> np.ndarray | None:
        if var not in ds.variables:
            return None
        da = ds[var]
        if set(da.dims) != {"region", "day"}:
            raise ValueError(f"forecast variable {var!r} has dims {da.dims}; expected "
                             f"(region, day)")
        if da.dims != ("region", "day"):  # (transposing costs ~1 ms a variable: hindcasts)
            da = da.transpose("region", "day")
        return np.asarray(da.values, dtype=dtype)

    aqi = table("aqi_daily")
    prim = table("primary_daily", object)
    pm25 = table("pm25_daily")
    o3 = table("o3_mda8")
    p_gt = {t: table(f"p_aqi_gt_{t}") for t in aqi_thresholds()}
    daily = {p: table(pollutant_info(p).daily_variable) for p in registry_targets()}
    p_o3 = {t: table(f"p_o3_iaqi_gt_{t}") for t in aqi_thresholds()}
    times = roll = None
    if "pm25" in ds.variables and "valid_time" in ds.variables and set(ds["pm25"].dims) == {
            "region", "lead"}:
        times = pd.DatetimeIndex(pd.to_datetime(np.asarray(ds["valid_time"].values)))
        times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
        # the rolling AQI of the particle targets (24-h means: PM2.5, and PM10 when it is one)
        rolls = [rolling_24h_aqi(ds[p].transpose("region", "lead").values, ruleset, pollutant=p)
                 for p in registry_targets() if pollutant_info(p).daily_statistic == "mean"
                 and p in ds.variables and set(ds[p].dims) == {"region", "lead"}]
        roll = rolls[0] if len(rolls) == 1 else np.fmax.reduce(rolls)
    out: dict[str, UnitForecast] = {}
    for i, rid in enumerate(regions):
        pr = None
        if prim is not None:
            pr = [None if (p is None or str(p) in ("", "nan", "None")) else str(p) for p in prim[i]]
        out[rid] = UnitForecast(rid, dates, aqi[i], pr, None if pm25 is None else pm25[i],
                                None if o3 is None else o3[i],
                                {t: v[i] for t, v in p_gt.items() if v is not None},
                                times, None if roll is None else roll[i],
                               {p: v[i] for p, v in daily.items() if v is not None},
                               {t: v[i] for t, v in p_o3.items() if v is not None})
    return out


def _region_pollutant_table(da: xr.DataArray, n_pollutants: int) -> np.ndarray | None:
    """Values of a ``(region, pollutant)`` or ``(region,)`` variable as a ``(region,
    pollutant)`` array (a ``(region,)`` one repeated over the pollutants); None for any other
    layout."""
    if set(da.dims) == {"region", "pollutant"}:
        return np.asarray(da.transpose("region", "pollutant").values)
    if da.dims == ("region",):
        return np.asarray(da.values)[:, None].repeat(n_pollutants, axis=1)
    return None


def _degraded(ds: xr.Dataset) -> tuple[list[str], dict[str, list[str]]]:
    """Run-wide degraded inputs (from attrs ``inputs``) and per-unit fallbacks (``method``)."""
    out: list[str] = []
    raw = ds.attrs.get("inputs")
    if raw:
        try:
            info = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            info = {"inputs": str(raw)}
        for key in sorted(info):
            val = info[key]
            if key in ("degraded", "warnings") and val:
                out.extend(str(v) for v in (val if isinstance(val, list) else [val]))
            elif key.startswith("missing") and val:
                out.append(f"{key}: {', '.join(map(str, val)) if isinstance(val, list) else val}")
            elif key.endswith("age_h") and isinstance(val, int | float) and val > 24:
                out.append(f"{key}: {val:g} h")
    per_unit: dict[str, list[str]] = {}
    if "method" in ds.variables and "pollutant" in ds["method"].dims:
        reasons = ds["fallback_reason"] if "fallback_reason" in ds.variables else None
        regions, pols = np.asarray(ds["region"].values), np.asarray(ds["pollutant"].values)
        # one array read instead of a .sel per unit and pollutant (what a hindcast's ~365 runs
        # spent most time on); other layouts by .sel as before
        methods = _region_pollutant_table(ds["method"], len(pols))
        whys = None if reasons is None else _region_pollutant_table(reasons, len(pols))
        for i, r in enumerate(regions):
            for j, p in enumerate(pols):
                m = str(methods[i][j] if methods is not None
                        else ds["method"].sel(region=r, pollutant=p).values)
                if m and m not in ("lightgbm", "nan", "None"):
                    why = ""
                    if whys is not None:
                        why = str(whys[i][j])
                    elif reasons is not None:
                        sel = reasons.sel(region=r, pollutant=p) if "pollutant" in reasons.dims \
                            else reasons.sel(region=r)
                        why = str(sel.values)
                    per_unit.setdefault(str(r), []).append(
                        f"{r} {p}: {m}" + (f" ({why})" if why and why not in ("nan", "None") else ""))
    return out, per_unit


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------


def o3_effective_iaqi(fc: UnitForecast, ruleset: str,
                      probability: float | None = None) -> tuple[np.ndarray, str]:
    """IAQI(O3-8h) per day as the O3 advisory ladder sees it, and the trigger used.

    ``probability`` None (or no ``p_o3`` in the forecast): the IAQI of the median MDA8. Else a day
    counts above 150 / 200 / 300 when ``P(IAQI > t) ≥ probability`` (the value is raised to
    ``t + 1`` if the median is lower) and below it when the probability is lower (the value is
    capped at ``t``); a NaN probability keeps the median's value. Dimensionless.
    """
    from airwarn.alerts.ladders import iaqi_o3_series

    iaqi = iaqi_o3_series(np.asarray(fc.o3_8h, dtype=float), ruleset)
    if probability is None or not all(t in fc.p_o3 for t in aqi_thresholds()):
        return iaqi, "median"
    out = iaqi.copy()
    for t in aqi_thresholds():
        p = np.asarray(fc.p_o3[t], dtype=float)
        ok = np.isfinite(p)
        out = np.where(ok & (p >= probability), np.fmax(np.nan_to_num(out, nan=0.0), t + 1.0),
                       np.where(ok, np.fmin(out, float(t)), out))
    return out, "probability"


def _advisory(unit_id: str, name: str, name_en: str, lad: Ladder, fc: UnitForecast,
              now: pd.Timestamp, ruleset: str, tz: str,
              probability: float | None = None) -> WarningDecision | None:
    if fc.o3_8h is None:
        return None
    iaqi_o3, used = o3_effective_iaqi(fc, ruleset, probability)
    res = evaluate_ladder(lad, fc.aqi, daily_o3_8h=fc.o3_8h, daily_iaqi_o3=iaqi_o3,
                          ruleset=ruleset)
    if res.level == "none":
        return None
    days = list(res.exceedance_days)
    start = _day_start(fc.dates[days[0]], tz)
    end = _day_start(fc.dates[days[-1]], tz) + pd.Timedelta(days=1)
    o3 = _fmt_vals(fc.o3_8h)
    zh, en = res.condition_met_text.split(" / ")
    p_zh = p_en = ""
    if used == "probability":
        ps = "/".join(f"{p:.2f}" for p in fc.p_o3[150])
        p_zh = f"，按超标概率触发（P(O3-8h IAQI>150) {ps}，阈值 ≥ {probability:g}）"
        p_en = f"; probability trigger (P(O3-8h IAQI>150) {ps}, threshold ≥ {probability:g})"
    return WarningDecision(
        decision_id=decision_id(now, [unit_id], res.level, "advisory"), issue_time=now.isoformat(),
        unit_ids=[unit_id], level=res.level, action="advisory", previous_level="none",
        start=start.isoformat(), end=end.isoformat(), primary_pollutant="O3_8h",
        daily_aqi={unit_id: [None if np.isnan(v) else float(v) for v in fc.aqi]},
        trigger=used,
        reason_zh=(f"{name} D+1…D+{len(fc.dates)} O3日最大8小时均值预报 {o3} µg/m³（{zh}）{p_zh}；"
                   f"臭氧污染提示（{LEVEL_ZH[res.level]}级别，非重污染天气颜色预警）：发布健康提示，"
                   f"加强VOCs、NOx日常监管，{start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M}。"),
        reason_en=(f"{name_en or unit_id} D+1…D+{len(fc.dates)} forecast O3 MDA8 {o3} µg/m³ ({en}){p_en}: "
                   f"ozone advisory at {res.level} (not a colour warning): health advice and "
                   f"stronger VOCs/NOx supervision, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}."),
        ladder=lad.id, condition=res.condition_met_text,
        lead_time_h=round((start - now).total_seconds() / 3600.0, 1))


def _kept_without_forecast(uid: str, region: Region, state: UnitState, now: pd.Timestamp,
                           forecasts: dict[str, UnitForecast], tz: str) -> WarningDecision | None:
    """A unit in force but absent from the forecast file keeps its warning (never silently
    dropped); the decision says why."""
    if not state.active:
        return None
    unit = region.unit(uid)
    dates = next(iter(forecasts.values())).dates if forecasts else []
    end = (_day_start(dates[-1], tz) + pd.Timedelta(days=1)).isoformat() if dates else None
    return WarningDecision(
        decision_id=decision_id(now, [uid], state.level, "continue"), issue_time=now.isoformat(),
        unit_ids=[uid], level=state.level, action="continue", previous_level=state.level,
        start=state.episode_start, end=end, primary_pollutant=None,
        daily_aqi={uid: [None] * len(dates)}, trigger="median",
        reason_zh=(f"{unit.name} 本次无预报数据（预报文件缺少该区域），维持{LEVEL_ZH[state.level]}，"
                   f"待预报恢复后按规则调整。"),
        reason_en=(f"{unit.name_en}: no forecast for this unit in this run (missing from the "
                   f"forecast file): the {state.level} warning is kept until forecasts resume."),
        references=[state.last_decision_id] if state.last_decision_id else [])


def _pre_warning(unit_id: str, name: str, name_en: str, lad: Ladder, policy: WarningPolicy,
                 fc: UnitForecast, now: pd.Timestamp, ruleset: str, tz: str, trigger: str,
                 probability: float) -> WarningDecision | None:
    """Pre-warning advisory (预警前临时管控, spec T2.1 S24): PM-driven daily AQI meets a
    ``policy.pre_warning`` condition while no colour level is met (level ``none``)."""
    aqi, used = effective_aqi(fc, trigger, probability)
    aqi = gated_aqi(aqi, fc.primary, lad.gate.colour_primaries, fc.pm25, ruleset,
                    daily_products=fc.daily)
    hit = first_met(policy.pre_warning, aqi)
    if hit is None:
        return None
    alt, days = hit
    start = _day_start(fc.dates[days[0]], tz)
    end = _day_start(fc.dates[days[-1]], tz) + pd.Timedelta(days=1)
    vals = _fmt_vals(fc.aqi)
    primary = _primary_of(fc, days)
    return WarningDecision(
        decision_id=decision_id(now, [unit_id], "none", "advisory", "pre-warning"),
        issue_time=now.isoformat(), unit_ids=[unit_id], level="none", action="advisory",
        previous_level="none", start=start.isoformat(), end=end.isoformat(),
        primary_pollutant=primary,
        daily_aqi={unit_id: [None if np.isnan(v) else float(v) for v in fc.aqi]}, trigger=used,
        reason_zh=(f"{name} D+1…D+{len(fc.dates)} 日AQI 预报 {vals}（{alt.text_zh()}），未达到黄色预警"
                   f"条件；预警前提示：可采取临时管控措施，{start:%Y-%m-%d %H:%M} 至 "
                   f"{end:%Y-%m-%d %H:%M}。"),
        reason_en=(f"{name_en or unit_id} D+1…D+{len(fc.dates)} forecast daily AQI {vals} "
                   f"({alt.text_en()}), below the yellow condition: pre-warning advisory, temporary "
                   f"controls may be taken, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}."),
        ladder=lad.id, condition=f"{alt.text_zh()} / {alt.text_en()}",
        lead_time_h=round((start - now).total_seconds() / 3600.0, 1))


def _regional_decision(f: RegionalFinding, now: pd.Timestamp, by_unit: dict[str, WarningDecision],
                       forecasts: dict[str, UnitForecast], trigger: str) -> WarningDecision:
    src = [by_unit[u] for u in f.source_units if u in by_unit]
    starts = [d.start for d in src if d.start]
    ends = [d.end for d in src if d.end]
    prims = [d.primary_pollutant for d in src if d.primary_pollutant]
    return WarningDecision(
        decision_id=decision_id(now, f.unit_ids, f.level, "regional", f.kind),
        issue_time=now.isoformat(), unit_ids=list(f.unit_ids), level=f.level, action="regional",
        previous_level="none", start=min(starts) if starts else None,
        end=max(ends) if ends else None,
        primary_pollutant=max(set(prims), key=lambda v: (prims.count(v), v)) if prims else None,
        daily_aqi={u: [None if np.isnan(v) else float(v) for v in forecasts[u].aqi]
                   for u in f.unit_ids if u in forecasts},
        trigger=trigger, reason_zh=f.reason_zh, reason_en=f.reason_en,
        references=[], regional=True,
        joint={"kind": f.kind, "source_units": list(f.source_units),
               "acting_units": list(f.acting_units), "levels": dict(f.levels),
               "unit_decisions": sorted(d.decision_id for d in src)})


_PHASE_ZH = {"issue": "发布", "extend": "扩展", "upgrade": "升级", "downgrade": "降级",
             "continue": "继续维持", "lift": "解除"}


def _regional_lifecycle(findings: Sequence[RegionalFinding], now: pd.Timestamp,
                        by_unit: dict[str, WarningDecision], forecasts: dict[str, UnitForecast],
                        trigger: str, register: Register, levels: dict[str, str],
                        tz: str) -> list[WarningDecision]:
    """Regional and joint warnings with their own identity and life cycle (U).

    Each finding of this run is matched with a regional warning in force in the register (track
    ``regional`` for contiguous groups: the most similar unit set, Jaccard; track ``joint``: the one
    raised by the same border-belt unit); best pairs are matched first and a warning in force is
    matched once. Matched → ``joint.phase`` ``upgrade`` / ``downgrade`` (level changed),
    ``extend`` (more units), else ``continue``, with ``references`` = the warning's previous
    decision and ``previous_level`` its level; unmatched → ``issue`` (a new identity, the
    decision's own id). A warning in force that no finding continues is lifted (action ``lift``).
    ``joint.regional_id`` is the identity; ``joint.unit_decisions`` the unit warnings it stands on.
    """
    open_ = {tr: register.open_warnings(tr, now) for tr in ("regional", "joint")}
    # greedy matching, best pairs first: same source unit (joint) or most similar unit set
    # (contiguous, Jaccard), then the higher level and the later run
    pairs = []
    for i, f in enumerate(findings):
        track = "joint" if f.kind == "joint" else "regional"
        for w in open_[track]:
            if f.kind == "joint":
                score = 1.0 if list(w["joint"].get("source_units") or []) == list(
                    f.source_units) else 0.0
            else:
                a, b = set(w["unit_ids"]), set(f.unit_ids)
                score = len(a & b) / len(a | b)
            if score > 0:
                pairs.append((score, level_rank(f.level), w["run"], i, w))
    match: dict[int, dict[str, Any]] = {}
    used: set[str] = set()
    for _, _, _, i, w in sorted(pairs, key=lambda p: p[:3], reverse=True):
        if i not in match and w["id"] not in used:
            match[i] = w
            used.add(w["id"])
    out: list[WarningDecision] = []
    for i, f in enumerate(findings):
        d = _regional_decision(f, now, by_unit, forecasts, trigger)
        prev = match.get(i)
        if prev is None:
            phase, rid = "issue", d.decision_id
        else:
            rid = prev["id"]
            d.previous_level = prev["level"]
            d.references = [prev["decision_id"]]
            added = sorted(set(f.unit_ids) - set(prev["unit_ids"]))
            if level_rank(f.level) > level_rank(prev["level"]):
                phase = "upgrade"
            elif level_rank(f.level) < level_rank(prev["level"]):
                phase = "downgrade"
            elif added:
                phase = "extend"
            else:
                phase = "continue"
            if added:
                d.reason_zh += f"（区域预警扩展至：{'、'.join(added)}）"
                d.reason_en += f" (regional warning extended to: {', '.join(added)})"
            if phase in ("upgrade", "downgrade", "continue"):
                d.reason_zh += f"（区域预警{_PHASE_ZH[phase]}，原为{LEVEL_ZH[prev['level']]}）"
                d.reason_en += f" (regional warning {phase}, was {prev['level']})"
        d.joint = {**(d.joint or {}), "regional_id": rid, "phase": phase}
        out.append(d)
    first_day = now.normalize() + pd.Timedelta(days=1)
    for track, ws in open_.items():
        for w in ws:
            if w["id"] in used:
                continue
            units = list(w["unit_ids"])
            kind = w["joint"].get("kind") or ("joint" if track == "joint" else "contiguous")
            out.append(WarningDecision(
                decision_id=decision_id(now, units, "none", "lift", f"{kind}:{w['id']}"),
                issue_time=now.isoformat(), unit_ids=units, level="none", action="lift",
                previous_level=w["level"], start=first_day.isoformat(),
                end=first_day.isoformat(), primary_pollutant=None,
                daily_aqi={u: [None if np.isnan(v) else float(v) for v in forecasts[u].aqi]
                           for u in units if u in forecasts},
                trigger=trigger,
                reason_zh=(f"区域联动预警（{'、'.join(units)}）条件不再成立，自 "
                           f"{first_day:%Y-%m-%d %H:%M} 起解除区域{LEVEL_ZH[w['level']]}。"),
                reason_en=(f"the regional warning of {', '.join(units)} no longer holds: regional "
                           f"{w['level']} warning lifted from {first_day:%Y-%m-%d %H:%M}."),
                references=[w["decision_id"]], regional=True,
                joint={"kind": kind, "source_units": list(w["joint"].get("source_units") or []),
                       "acting_units": [], "levels": {u: levels.get(u, "none") for u in units},
                       "unit_decisions": [], "regional_id": w["id"], "phase": "lift"}))
    return out


def warn_run(forecast_ds: xr.Dataset, config: AirwarnConfig, register: Register, issue_time: Any, *,
             policy: WarningPolicy | None = None, ladders: dict[str, Ladder] | None = None,
             emergency_list: EmergencyList | None = None, write: bool = True,
             data_dir: Path | str | None = None) -> list[WarningDecision]:
    """Turn one forecast into warning decisions, register rows and control orders.

    Parameters
    ----------
    forecast_ds : xarray.Dataset
        The forecast file (docs/INTERFACES.md): ``aqi_daily(region, day)``, ``date(day)``, and as
        available ``primary_daily``, ``p_aqi_gt_150/200/300``, ``pm25_daily``, ``o3_mda8``,
        ``method``, attrs ``inputs``, ``model_version``, ``ruleset``.
    config : AirwarnConfig
        Settings (trigger, probability, horizon, timezone, elevated stack height) and region.
    register : Register
    issue_time : datetime-like
        The run's issue time (naive = Asia/Shanghai).
    policy, ladders, emergency_list : optional
        Default: ``configs/warning/policy.yaml``, the units' ladders (horizon-checked), and
        ``configs/response/emergency_list.yaml`` (None when absent).
    write : bool
        Write ``<data_dir>/warnings/<stamp>.json`` and ``<stamp>_orders.csv`` (atomic).
    data_dir : path, optional
        Default ``config.data_dir``.

    Returns
    -------
    list of WarningDecision
        Colour decisions (one per unit with a warning in force, starting or lifted), O3
        advisories, then regional and cross-border joint decisions; deterministic order.
    """
    settings = config.settings
    region = config.region
    tz = settings.timezone
    now = _local(pd.Timestamp(issue_time), tz)
    policy = policy or load_warning_policy()
    ladders = ladders or load_ladders_for_region(region, horizon_h=settings.horizon_days * 24)
    if emergency_list is None:
        from airwarn.configs.response_schema import load_emergency_list, response_config_dir

        p = response_config_dir() / "emergency_list.yaml"
        emergency_list = load_emergency_list(p, region) if p.exists() else None
    ruleset = str(forecast_ds.attrs.get("ruleset") or "")
    if ruleset not in ("HJ633_2012", "HJ633_2026"):
        from airwarn.alerts.aqi import ruleset_for

        if "date" not in forecast_ds.variables:
            raise ValueError("forecast file lacks 'date'; expected date(day) (docs/INTERFACES.md)")
        ruleset = ruleset_for(str(np.asarray(forecast_ds["date"].values)[0])[:10])
    forecasts = unit_forecasts(forecast_ds, ruleset)
    unknown = sorted(set(forecasts) - set(region.unit_ids))
    if unknown:
        raise ValueError(f"forecast file has regions that are not units of the region: {unknown}")
    _check_run_matches(forecast_ds, forecasts, now)
    degraded, per_unit = _degraded(forecast_ds)
    n_days = len(next(iter(forecasts.values())).dates) if forecasts else 0
    if n_days < settings.horizon_days:
        degraded.append(f"forecast covers D+1…D+{n_days} only (< D+{settings.horizon_days}): "
                        f"longer conditions cannot be met")
    for uid, fc in forecasts.items():
        miss = [f"D+{i + 1}" for i, v in enumerate(fc.aqi) if np.isnan(v)]
        if miss:
            per_unit.setdefault(uid, []).append(f"{uid}: daily AQI missing for {', '.join(miss)}")
    register.record_run(now, started=dt.datetime.now(dt.UTC), status="running",
                        model_version=str(forecast_ds.attrs.get("model_version", "")),
                        inputs=forecast_ds.attrs.get("inputs"))

    try:
        colour: list[WarningDecision] = []
        metas: dict[str, dict[str, Any]] = {}
        advisories: list[WarningDecision] = []
        levels: dict[str, str] = {}
        with register.batch():  # one connection for the state reads
            for uid in region.unit_ids:
                if uid not in forecasts:
                    kept = _kept_without_forecast(uid, region, register.current_state(uid, now),
                                                  now, forecasts, tz)
                    if kept is not None:
                        kept.degraded_inputs = degraded + [f"{uid}: not in the forecast file"]
                        colour.append(kept)
                        metas[kept.decision_id] = {"machine_level": "none", "hold_count": 0,
                                                   "decided_by": "airwarn",
                                                   "episode_start": register.current_state(
                                                       uid, now).episode_start}
                    levels[uid] = kept.level if kept is not None else "none"
                    continue
                unit = region.unit(uid)
                lad = ladders[unit.ladder]
                state = register.current_state(uid, before=now)
                ov = register.active_override(uid, now)
                hist = None
                if state.active and lad.mode == "day":
                    hist = register.forecast_for(uid, history_dates(lad, forecasts[uid]), now)
                dec, meta = decide_unit(uid, unit.name, lad, policy, state, forecasts[uid], now,
                                        trigger=settings.warning_trigger,
                                        probability=settings.warning_probability, override=ov,
                                        ruleset=ruleset, tz=tz, unit_name_en=unit.name_en,
                                        history=hist)
                if dec is not None:
                    dec.degraded_inputs = degraded + per_unit.get(uid, [])
                    colour.append(dec)
                    metas[dec.decision_id] = meta
                    levels[uid] = "none" if dec.action == "lift" else dec.level
                else:
                    levels[uid] = "none"
                if levels[uid] == "none" and policy.pre_warning and lad.mode == "day":
                    pre = _pre_warning(uid, unit.name, unit.name_en, lad, policy, forecasts[uid], now,
                                       ruleset, tz, settings.warning_trigger,
                                       settings.warning_probability)
                    if pre is not None:
                        pre.degraded_inputs = degraded + per_unit.get(uid, [])
                        advisories.append(pre)
                adv_id = lad.gate.o3_advisory
                if adv_id and adv_id in ladders:
                    adv = _advisory(uid, unit.name, unit.name_en, ladders[adv_id], forecasts[uid], now,
                                    ruleset, tz, policy.o3_probability)
                    if adv is not None:
                        adv.degraded_inputs = degraded + per_unit.get(uid, [])
                        advisories.append(adv)

        by_unit = {d.unit_ids[0]: d for d in colour}
        trig = colour[0].trigger if colour else settings.warning_trigger
        # the "≤ n at a higher level" clause of a regional rule (Sichuan, S14), when a ladder in
        # use states it (reading U in the ladder's YAML)
        max_hi = next((lad.regional_max_higher.value for lad in ladders.values()
                       if lad.regional_max_higher is not None), None)
        findings = regional_findings(levels, region, min_contiguous=policy.regional_min_contiguous,
                                     scope=policy.regional_scope, max_higher=max_hi)
        findings += cross_border_findings(levels, region, kinds=tuple(policy.cross_border_kinds),
                                          min_level=policy.cross_border_min_level)
        regional = _regional_lifecycle(findings, now, by_unit, forecasts, trig, register, levels,
                                       tz)
        for d in regional:
            d.degraded_inputs = list(degraded)

        if emergency_list is not None:
            _attach_orders(colour, regional, levels, emergency_list, settings)

        decisions = colour + advisories + regional
        src = str(forecast_ds.attrs.get("source", ""))
        for d in decisions:
            d.source = src
        with register.batch():
            for d in colour:
                m = metas[d.decision_id]
                register.record_transition(d, unit_id=d.unit_ids[0], track="colour",
                                           machine_level=m["machine_level"], hold_count=m["hold_count"],
                                           episode_start=m["episode_start"], decided_by=m["decided_by"],
                                           dates=(forecasts[d.unit_ids[0]].dates
                                                  if d.unit_ids[0] in forecasts else None))
            for d in advisories:
                register.record_transition(d, unit_id=d.unit_ids[0],
                                           track="o3" if d.level != "none" else "pre")
            for d in regional:  # the regional warning's identity is its register key
                register.record_transition(d, unit_id=(d.joint or {}).get("regional_id"),
                                           track="joint" if d.joint and d.joint["kind"] == "joint"
                                           else "regional")
        if write:
            root = Path(data_dir) if data_dir is not None else Path(config.data_dir)
            path = warnings_path(root, now)
            write_decisions(decisions, path, now, ladders, policy)
            write_orders_csv(decisions, orders_path(root, now))
    except Exception as exc:
        register.record_run(now, finished=dt.datetime.now(dt.UTC), status=f"failed: {exc}"[:500],
                            model_version=str(forecast_ds.attrs.get("model_version", "")),
                            inputs=forecast_ds.attrs.get("inputs"))
        raise
    # "warned", not "ok": the run is done only after its last stage (maps, report, bulletins,
    # delivery); the daily flow records that status when it gets there
    register.record_run(now, finished=dt.datetime.now(dt.UTC), status="warned",
                        model_version=str(forecast_ds.attrs.get("model_version", "")),
                        inputs=forecast_ds.attrs.get("inputs"))
    return decisions


def _check_run_matches(ds: xr.Dataset, forecasts: dict[str, UnitForecast],
                       now: pd.Timestamp) -> None:
    """Refuse a forecast file of another run: D+1 must be the day after the issue day."""
    attr = ds.attrs.get("issue_time")
    if attr:
        try:
            t = pd.Timestamp(str(attr))
        except ValueError:
            raise ValueError(f"forecast attribute issue_time {attr!r} is not an ISO time") from None
        t = t.tz_localize(now.tz) if t.tzinfo is None else t
        if t != now:
            raise ValueError(f"forecast file is for issue time {attr}, not {now.isoformat()}")
    if forecasts:
        d1 = next(iter(forecasts.values())).dates[0]
        want = str((now.normalize() + pd.Timedelta(days=1)).date())
        if d1 != want:
            raise ValueError(f"forecast date(day=1) is {d1}, but D+1 of an issue at "
                             f"{now:%Y-%m-%d %H:%M} is {want}")


def _attach_orders(colour: list[WarningDecision], regional: list[WarningDecision],
                   levels: dict[str, str], el: EmergencyList, settings: Settings) -> None:
    """Control orders: each unit acts at the highest level among its own warning and the joint
    warnings naming it as acting; the orders go to the decision that sets that level."""
    best: dict[str, tuple[int, WarningDecision]] = {}
    for d in colour:
        if d.action != "lift" and d.level in el.reduction_targets:
            best[d.unit_ids[0]] = (level_rank(d.level), d)
    for d in regional:
        if d.joint and d.joint["kind"] == "joint":
            for u in d.joint["acting_units"]:
                if level_rank(d.level) > best.get(u, (0, None))[0]:
                    best[u] = (level_rank(d.level), d)
    acting: dict[str, list[str]] = {}
    for u, (_, d) in sorted(best.items()):
        d.control_orders.extend(control_orders(d, el, settings, unit_ids=[u], level=d.level))
        acting.setdefault(d.decision_id, []).append(u)
    listed_units = {c.unit for c in el.cities} | {e.unit for e in el.enterprises}
    for d in colour + regional:
        units = acting.get(d.decision_id, [])
        if not units:
            continue
        cities = sorted({c.city for c in el.cities if c.unit in units}
                        | {o.city for o in d.control_orders})
        checks = [c.to_dict() for c in reduction_check(el, d.level, cities=cities,
                                                       orders=d.control_orders)]
        for u in units:
            if u not in listed_units:  # never hide it: no list means no verified reduction
                checks.append({
                    "city": u, "unit_id": u, "level": d.level, "pollutant": "all", "total": None,
                    "share": float(el.reduction_targets.get(d.level, 0.0)), "required": None,
                    "achieved": 0.0, "gap": None, "met": False, "example": el.example,
                    "notes": ["no emergency reduction list (应急减排清单) covers this unit: its "
                              "reductions cannot be checked / 该区域无应急减排清单，减排量无法核算"]})
        d.reduction_checks = checks


def write_decisions(decisions: Sequence[WarningDecision], path: Path, issue_time: pd.Timestamp,
                    ladders: dict[str, Ladder] | None = None,
                    policy: WarningPolicy | None = None) -> Path:
    """Write the run's decisions as JSON (atomic, deterministic: sorted keys, no wall-clock)."""
    doc = {
        "issue_time": issue_time.isoformat(),
        "stamp": issue_stamp(issue_time),
        "ladders": sorted(ladders) if ladders else [],
        "policy": policy.model_dump() if policy else None,
        "decisions": [d.to_dict() for d in decisions],
    }
    return write_text_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True)
                             + "\n")


def read_decisions(path: Path | str) -> list[WarningDecision]:
    """Read ``warnings/<stamp>.json`` back into decisions."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return [WarningDecision.from_dict(d) for d in doc["decisions"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{p}: not a warnings file (expected JSON with 'decisions'): {exc}") from exc


def write_orders_csv(decisions: Sequence[WarningDecision], path: Path | str) -> Path:
    """Write every control order of the run as CSV (atomic, UTF-8 with BOM for spreadsheets)."""
    orders = [o for d in decisions for o in d.control_orders]
    df = orders_frame(orders)
    return write_text_atomic(path, "\ufeff" + df.to_csv(index=False))
