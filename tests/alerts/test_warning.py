"""The warning state machine across runs (domain-spec T2.5): issue, upgrade, downgrade with
hysteresis, lift (> 36 h), merging, probability trigger, overrides, O3 advisories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.alerts.register import Register, UnitState
from airwarn.alerts.warning import (
    UnitForecast,
    WarningDecision,
    decide_unit,
    decision_id,
    effective_aqi,
    warn_run,
)
from airwarn.configs.warning_schema import load_ladder, load_warning_policy

from airwarn import configs

TZ = "Asia/Shanghai"
UNITS = ["chengdu", "deyang"]


def _ds(day0: str, aqi: dict[str, list[float]], *, primary: str = "PM2.5",
        p: dict[str, dict[int, list[float]]] | None = None,
        o3: dict[str, list[float]] | None = None) -> xr.Dataset:
    """A forecast Dataset with the forecast-file names of docs/INTERFACES.md."""
    units = list(aqi)
    dates = [str((pd.Timestamp(day0) + pd.Timedelta(days=k)).date()) for k in range(3)]
    a = np.array([aqi[u] for u in units], dtype=float)
    data = {
        "aqi_daily": (("region", "day"), a),
        "primary_daily": (("region", "day"), np.full(a.shape, primary, dtype=object)),
        "pm25_daily": (("region", "day"), a * 0.75),
        "o3_mda8": (("region", "day"), np.array([(o3 or {}).get(u, [100.0] * 3) for u in units])),
    }
    if p:
        for t in (150, 200, 300):
            data[f"p_aqi_gt_{t}"] = (("region", "day"), np.array([p[u][t] for u in units]))
    return xr.Dataset(data, coords={"region": units, "day": [1, 2, 3], "date": ("day", dates)},
                      attrs={"model_version": "test", "ruleset": "HJ633_2026"})


@pytest.fixture()
def env(tmp_path: Path):
    cfg = configs.load_config()
    reg = Register(tmp_path / "register.sqlite")
    return cfg, reg, tmp_path


def _run(env, issue: str, aqi: dict[str, list[float]], **kw) -> dict[str, WarningDecision]:
    cfg, reg, d = env
    t = pd.Timestamp(issue).tz_localize(TZ)
    ds = _ds(str((t + pd.Timedelta(days=1)).date()), aqi, **kw)
    decs = warn_run(ds, cfg, reg, t, data_dir=d)
    return {x.unit_ids[0]: x for x in decs if not x.regional and x.action != "advisory"}


def test_issue_starts_at_midnight_of_first_exceedance_day_with_cited_values(env) -> None:
    out = _run(env, "2026-01-10T05:00", {"chengdu": [120, 212, 236], "deyang": [90, 90, 90]})
    d = out["chengdu"]
    assert (d.action, d.level, d.previous_level) == ("issue", "orange", "none")
    assert d.start == "2026-01-12T00:00:00+08:00" and d.end == "2026-01-14T00:00:00+08:00"
    assert d.lead_time_h == 43.0 and "提前量" not in d.reason_zh
    assert "120/212/236" in d.reason_zh and "日AQI > 200 持续 ≥ 48 小时" in d.reason_zh
    assert "daily AQI > 200 for ≥ 48 h" in d.reason_en and d.trigger == "median"
    assert d.primary_pollutant == "PM2.5" and d.ladder == "chengdu-2024"
    assert "deyang" not in out


def test_short_lead_is_stated(env) -> None:
    d = _run(env, "2026-01-10T15:00", {"chengdu": [212, 236, 190]})["chengdu"]
    assert d.start == "2026-01-11T00:00:00+08:00" and d.lead_time_h == 9.0
    assert "提前量 9 小时，不足 24 小时" in d.reason_zh and "lead time 9 h" in d.reason_en


def test_upgrade_is_immediate_and_references_the_previous_decision(env) -> None:
    first = _run(env, "2026-01-10T05:00", {"chengdu": [160, 170, 120]})["chengdu"]
    assert first.level == "yellow"
    d = _run(env, "2026-01-10T15:00", {"chengdu": [170, 210, 215]})["chengdu"]
    assert (d.action, d.level, d.previous_level) == ("upgrade", "orange", "yellow")
    assert d.references == [first.decision_id]
    assert "启动Ⅱ级响应" in d.reason_zh and "level II emergency response" in d.reason_en
    d = _run(env, "2026-01-11T05:00", {"chengdu": [220, 230, 320]})["chengdu"]
    assert (d.action, d.level) == ("upgrade", "red")


def test_hysteresis_no_flip_flop_on_a_one_aqi_change(env) -> None:
    _run(env, "2026-01-10T05:00", {"chengdu": [205, 210, 140]})            # orange
    seq = [[205, 200, 140], [205, 201, 140], [205, 200, 140], [205, 199, 140]]
    levels = []
    for k, aqi in enumerate(seq):
        issue = pd.Timestamp("2026-01-10T06:00") + pd.Timedelta(hours=k)   # same D+1…D+3
        d = _run(env, str(issue), {"chengdu": aqi})["chengdu"]
        levels.append((d.action, d.level))
    # 200 vs 201 flips the machine level every run, the warning level never moves
    assert levels == [("continue", "orange")] * 3 + [("downgrade", "yellow")]
    cfg, reg, _ = env
    hist = reg.transitions("chengdu")
    assert hist["machine_level"].tolist() == ["orange", "yellow", "orange", "yellow", "yellow"]
    assert hist["hold_count"].tolist() == [0, 1, 0, 1, 0]


def test_decisive_downgrade_in_one_run_when_margin_is_clear(env) -> None:
    _run(env, "2026-01-10T05:00", {"chengdu": [205, 210, 190]})            # orange
    d = _run(env, "2026-01-10T15:00", {"chengdu": [230, 150, 120]})["chengdu"]
    # yellow even with +10 (240/160/130: > 200 for 24 h only) → downgrade at once
    assert (d.action, d.level, d.previous_level) == ("downgrade", "yellow", "orange")
    assert "滞后规则" in d.reason_zh and "+ 10" in d.reason_en


def test_lift_needs_more_than_36_hours_below_yellow_and_short_gaps_merge(env) -> None:
    _run(env, "2026-01-10T05:00", {"chengdu": [210, 220, 160]})            # orange
    d = _run(env, "2026-01-11T05:00", {"chengdu": [140, 160, 170]})["chengdu"]
    assert (d.action, d.level) == ("downgrade", "yellow")                   # decisive (+10 still yellow)
    # one clean day then 155: below every condition, but not for > 36 h → one episode
    d = _run(env, "2026-01-12T05:00", {"chengdu": [140, 155, 90]})["chengdu"]
    assert (d.action, d.level) == ("continue", "yellow") and "合并" in d.reason_zh
    assert "merged" in d.reason_en
    # 48 h ≤ 150 (> 36 h) but within 10 of 150 → held once, then lifted on the next run
    d = _run(env, "2026-01-13T05:00", {"chengdu": [145, 148, 90]})["chengdu"]
    assert d.action == "continue"
    d = _run(env, "2026-01-13T15:00", {"chengdu": [145, 148, 90]})["chengdu"]
    assert (d.action, d.level, d.previous_level) == ("lift", "none", "yellow")
    assert d.start == "2026-01-14T00:00:00+08:00" and "解除黄色预警" in d.reason_zh
    # after the lift nothing more while clean
    assert "chengdu" not in _run(env, "2026-01-14T05:00", {"chengdu": [100, 90, 80]})


def test_lift_at_once_when_clearly_clean(env) -> None:
    _run(env, "2026-01-10T05:00", {"chengdu": [160, 170, 120]})            # yellow
    d = _run(env, "2026-01-10T15:00", {"chengdu": [90, 80, 85]})["chengdu"]
    assert (d.action, d.previous_level) == ("lift", "yellow")
    cfg, reg, _ = env
    assert not reg.current_state("chengdu").active


def _run_policy(env, issue: str, aqi: dict[str, list[float]], policy) -> dict[str, WarningDecision]:
    cfg, reg, d = env
    t = pd.Timestamp(issue).tz_localize(TZ)
    ds = _ds(str((t + pd.Timedelta(days=1)).date()), aqi)
    decs = warn_run(ds, cfg, reg, t, data_dir=d, policy=policy)
    return {x.unit_ids[0]: x for x in decs if not x.regional and x.action != "advisory"}


@pytest.mark.parametrize("between", [False, True])
def test_a_later_episode_after_two_clean_days(env, between: bool) -> None:
    """[40, 60, 230] while a warning is in force: 48 h below 150 (> 36 h) then a new exceedance.
    Default: kept in force over the clean days (one merged episode); with
    ``lift_between_episodes``: lifted now, and the later day is a new warning of a later run."""
    policy = load_warning_policy().model_copy(update={"lift_between_episodes": between})
    first = _run_policy(env, "2026-01-10T05:00", {"chengdu": [210, 220, 160]}, policy)["chengdu"]
    assert (first.action, first.level) == ("issue", "orange")
    d = _run_policy(env, "2026-01-11T05:00", {"chengdu": [40, 60, 230]}, policy)["chengdu"]
    if not between:
        # yellow (230 > 200 for 24 h) is met on D+3: downgraded, in force from D+1 on
        assert (d.action, d.level) == ("downgrade", "yellow")
        assert d.start == "2026-01-12T00:00:00+08:00" and d.end == "2026-01-15T00:00:00+08:00"
        return
    assert (d.action, d.level, d.previous_level) == ("lift", "none", "orange")
    assert d.start == "2026-01-12T00:00:00+08:00" and "新的污染过程" in d.reason_zh
    assert "new episode" in d.reason_en
    cfg, reg, _ = env
    assert not reg.current_state("chengdu").active
    # the next run sees the exceedance at D+2: a new warning from that day, not from D+1
    d = _run_policy(env, "2026-01-12T05:00", {"chengdu": [60, 230, 120]}, policy)["chengdu"]
    assert (d.action, d.level, d.previous_level) == ("issue", "yellow", "none")
    assert d.start == "2026-01-14T00:00:00+08:00" and d.end == "2026-01-15T00:00:00+08:00"


def test_a_near_threshold_gap_is_held_even_between_episodes(env) -> None:
    """[145, 148, 230]: below 150 for 48 h but within the 10-AQI margin → hysteresis holds the
    warning once (as for any lift), so a wobble at 150 does not lift and re-issue."""
    policy = load_warning_policy().model_copy(update={"lift_between_episodes": True})
    _run_policy(env, "2026-01-10T05:00", {"chengdu": [210, 220, 160]}, policy)
    d = _run_policy(env, "2026-01-11T05:00", {"chengdu": [145, 148, 230]}, policy)["chengdu"]
    assert (d.action, d.level) == ("continue", "orange")


def test_probability_trigger(env, monkeypatch) -> None:
    cfg, reg, d = env
    cfg = cfg.__class__(settings=cfg.settings.model_copy(update={"warning_trigger": "probability",
                                                                  "warning_probability": 0.4}),
                        region=cfg.region, stations=cfg.stations)
    p = {"chengdu": {150: [0.9, 0.8, 0.2], 200: [0.45, 0.5, 0.1], 300: [0.0, 0.0, 0.0]},
         "deyang": {150: [0.3, 0.35, 0.2], 200: [0.1, 0.1, 0.0], 300: [0.0, 0.0, 0.0]}}
    ds = _ds("2026-01-11", {"chengdu": [190, 195, 120], "deyang": [160, 160, 100]}, p=p)
    decs = warn_run(ds, cfg, reg, pd.Timestamp("2026-01-10T05:00", tz=TZ), data_dir=d)
    out = {x.unit_ids[0]: x for x in decs if not x.regional and x.action != "advisory"}
    # median 190/195 never > 200, but P(AQI > 200) ≥ 0.4 on two days → orange
    assert (out["chengdu"].level, out["chengdu"].trigger) == ("orange", "probability")
    assert "P(AQI>200) 0.45/0.50/0.10" in out["chengdu"].reason_zh
    # median 160/160 > 150 for 48 h, but P(AQI > 150) < 0.4 → no warning, only the pre-warning
    assert "deyang" not in out
    pre = [x for x in decs if x.unit_ids == ["deyang"]]
    assert [(x.action, x.level, x.trigger) for x in pre] == [("advisory", "none", "probability")]
    t = reg.transitions("chengdu")
    assert t["trigger"].tolist() == ["probability"]


def test_effective_aqi_falls_back_to_median_without_probabilities() -> None:
    fc = UnitForecast("x", ["2026-01-11"] * 3, np.array([160.0, 210, 90]))
    aqi, used = effective_aqi(fc, "probability", 0.5)
    assert used == "median" and aqi.tolist() == [160, 210, 90]
    fc.p_gt = {150: np.array([0.2, np.nan, 0.9]), 200: np.array([0.1, np.nan, 0.6]),
               300: np.array([0.0, np.nan, 0.1])}
    aqi, used = effective_aqi(fc, "probability", 0.5)
    # day 1: P(>150) 0.2 → capped at 150; day 2: no probability → median 210; day 3: 201…300 band
    assert used == "probability" and aqi.tolist() == [150, 210, 201]


def test_override_takes_precedence_is_kept_and_shown_until_it_expires(env) -> None:
    cfg, reg, _ = env
    _run(env, "2026-01-10T05:00", {"chengdu": [160, 170, 120]})            # yellow
    reg.record_override("chengdu", "orange", "静稳持续，模式低估 / model under-forecasts stagnation",
                        "王预报员", "2026-01-10T08:00+08:00", "2026-01-11T12:00+08:00")
    d = _run(env, "2026-01-10T15:00", {"chengdu": [160, 170, 120]})["chengdu"]
    assert (d.action, d.level) == ("upgrade", "orange")
    assert d.override["who"] == "王预报员" and d.override["machine_level"] == "yellow"
    assert "人工订正为橙色预警" in d.reason_zh
    d = _run(env, "2026-01-11T05:00", {"chengdu": [150, 120, 100]})["chengdu"]
    assert (d.action, d.level) == ("continue", "orange") and d.override["level"] == "orange"
    assert reg.transitions("chengdu")["decided_by"].tolist()[-1] == "王预报员"
    # expired: the machine decides again (hysteresis applies from here)
    d = _run(env, "2026-01-11T15:00", {"chengdu": [90, 80, 85]})["chengdu"]
    assert d.override is None and d.action == "lift"
    assert len(reg.overrides()) == 1


def test_o3_advisory_is_kept_apart_from_colour_warnings(env) -> None:
    cfg, reg, d = env
    ds = _ds("2026-07-11", {"chengdu": [210, 220, 230]}, primary="O3_8h",
             o3={"chengdu": [270, 280, 300]})
    ds["pm25_daily"][:] = 30.0
    decs = warn_run(ds, cfg, reg, pd.Timestamp("2026-07-10T05:00", tz=TZ), data_dir=d)
    assert [x.action for x in decs] == ["advisory"]
    a = decs[0]
    assert a.level == "red" and a.primary_pollutant == "O3_8h" and a.ladder == "chengdu-o3-2021"
    assert "非重污染天气颜色预警" in a.reason_zh and a.control_orders == []
    assert not reg.current_state("chengdu").active
    assert reg.current_state("chengdu", track="o3").level == "red"


def test_decision_roundtrip_and_deterministic_id() -> None:
    lad = load_ladder("national-2024")
    fc = UnitForecast("chengdu", ["2026-01-11", "2026-01-12", "2026-01-13"],
                      np.array([212.0, 236, 190]), ["PM2.5"] * 3)
    t = pd.Timestamp("2026-01-10T15:00", tz=TZ)
    d1, _ = decide_unit("chengdu", "成都市", lad, load_warning_policy(), UnitState(), fc, t)
    d2, _ = decide_unit("chengdu", "成都市", lad, load_warning_policy(), UnitState(), fc, t)
    assert d1 is not None and d2 is not None and d1.decision_id == d2.decision_id
    assert d1.decision_id == decision_id(t, ["chengdu"], "orange", "issue")
    assert d1.decision_id != decision_id(t, ["chengdu"], "orange", "upgrade")
    assert "D+1…D+3 日AQI 预报 212/236/190（日AQI > 200 持续 ≥ 48 小时）" in d1.reason_zh
    back = WarningDecision.from_dict(json.loads(json.dumps(d1.to_dict())))
    assert back == d1


def test_pre_warning_advisory_below_yellow(env) -> None:
    cfg, reg, d = env
    ds = _ds("2026-01-11", {"chengdu": [120, 130, 90], "deyang": [160, 90, 80]})
    ds["aqi_daily"].loc[{"region": "chengdu"}] = [120, 130, 90]
    decs = warn_run(ds.sel(region=["chengdu", "deyang"]), cfg, reg,
                    pd.Timestamp("2026-01-10T05:00", tz=TZ), data_dir=d)
    by = {x.unit_ids[0]: x for x in decs}
    assert {u: (x.action, x.level) for u, x in by.items()} == {
        "chengdu": ("advisory", "none"), "deyang": ("advisory", "none")}
    assert "日AQI > 100 持续 ≥ 48 小时" in by["chengdu"].reason_zh and "预警前提示" in by["chengdu"].reason_zh
    assert by["deyang"].start == "2026-01-11T00:00:00+08:00" and by["deyang"].end == "2026-01-12T00:00:00+08:00"
    assert not reg.current_state("chengdu").active and by["chengdu"].control_orders == []
    assert reg.current_state("chengdu", track="pre").last_decision_id == by["chengdu"].decision_id
    # under a colour warning there is no pre-warning
    decs = warn_run(_ds("2026-01-12", {"chengdu": [210, 130, 90]}), cfg, reg,
                    pd.Timestamp("2026-01-11T05:00", tz=TZ), data_dir=d)
    assert [(x.action, x.level) for x in decs] == [("issue", "yellow")]


def test_episode_days_before_d1_count_so_the_peak_is_not_downgraded(env) -> None:
    cfg, reg, _ = env
    _run(env, "2026-01-04T15:00", {"chengdu": [215, 240, 320]})            # red (01-05…01-07)
    _run(env, "2026-01-05T15:00", {"chengdu": [240, 320, 260]})            # continue red
    # forecast alone (320/260/190) is only orange, but 01-05 and 01-06 (215, 240 as last
    # forecast) are part of the same > 200 run: the red condition still holds
    d = _run(env, "2026-01-06T15:00", {"chengdu": [320, 260, 190]})["chengdu"]
    assert (d.action, d.level) == ("continue", "red")
    assert "计入本次过程 D+1 之前的污染日（215/240）" in d.reason_zh
    assert reg.forecast_for("chengdu", ["2026-01-06", "2026-01-07", "2026-01-20"],
                            "2026-01-07T00:00+08:00") == [240.0, 320.0, None]
    # a past-only run does not hold the level: 260/320 then a clean forecast → no red
    d = _run(env, "2026-01-08T15:00", {"chengdu": [120, 100, 90]})["chengdu"]
    assert d.action == "lift"
