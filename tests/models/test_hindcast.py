"""Warning hindcast on constructed sequences: the real state machine (alerts.warning.warn_run)
with its memory in a real SQLite register, over consecutive issue times, then verified."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.configs.warning_schema import load_ladder
from airwarn.models.verify.hindcast import (
    domain_region,
    hindsight_dataset,
    o3_event_scores,
    o3_forecast_events,
    observed_levels,
    persistence_dataset,
    run_chain,
    verify_chain,
)

DAYS = pd.date_range("2024-01-01", periods=20, freq="D")
# unit a: one orange episode 01-04 … 01-07 (PM-driven); unit b: clean air
AQI_A = [80, 90, 100, 160, 220, 240, 170, 120, 90, 80, 70, 60, 60, 60, 60, 60, 60, 60, 60, 60]
AQI = {"a": AQI_A, "b": [60] * 20}


def _pm25(aqi: float) -> float:
    # inverse of the PM2.5 24-h IAQI on the 2012 breakpoints (µg/m³), piecewise linear
    bp = [(0, 0), (50, 35), (100, 75), (150, 115), (200, 150), (300, 250), (400, 350)]
    for (a0, c0), (a1, c1) in zip(bp, bp[1:], strict=False):
        if aqi <= a1:
            return c0 + (aqi - a0) * (c1 - c0) / (a1 - a0)
    return 500.0


def _obs() -> pd.DataFrame:
    rows = [{"date": d, "unit_id": u, "pm25": _pm25(v), "o3_8h_max": 100.0, "aqi": float(v),
             "primary": "PM2.5" if v > 50 else None}
            for u, vals in AQI.items() for d, v in zip(DAYS, vals, strict=True)]
    return pd.DataFrame(rows)


def _perfect_batch(n_issues: int = 14) -> xr.Dataset:
    """Forecasts equal to the truth: the run of day D gives D+1 … D+3 observed."""
    issue_days = DAYS[:n_issues]
    its = (issue_days + pd.Timedelta(hours=12)).tz_localize("Asia/Shanghai").tz_convert("UTC") \
        .tz_localize(None)
    units = sorted(AQI)
    aqi = np.array([[[AQI[u][i + k] for k in (1, 2, 3)] for u in units]
                    for i in range(n_issues)], dtype=float)
    dates = np.array([[str((d + pd.Timedelta(days=k)).date()) for k in (1, 2, 3)]
                      for d in issue_days])
    dims = ("issue_time", "region", "day")
    return xr.Dataset(
        {"aqi_daily": (dims, aqi), "pm25_daily": (dims, np.vectorize(_pm25)(aqi)),
         "o3_mda8": (dims, np.full(aqi.shape, 100.0)),
         "primary_daily": (dims, np.full(aqi.shape, "PM2.5"))},
        coords={"issue_time": its.to_numpy(), "region": units, "day": [1, 2, 3],
                "date": (("issue_time", "day"), dates)},
        attrs={"source": "constructed test sequence", "model_version": "test"})


@pytest.fixture(scope="module")
def region():
    return domain_region(["a", "b"], {"a": "甲", "b": "乙"}, {"a": ["b"], "b": ["a"]})


def test_observed_levels_episode():
    lv = observed_levels(_obs(), load_ladder("national-2024", allow_long_horizon=True))
    a = lv[lv["unit_id"] == "a"].set_index("date")
    assert list(a.loc["2024-01-04":"2024-01-07", "level"]) == ["orange"] * 4
    assert a.loc["2024-01-03", "level"] == "none" and a.loc["2024-01-08", "level"] == "none"
    assert (a.loc["2024-01-05", "episode_start"] == pd.Timestamp("2024-01-04"))
    assert set(lv.loc[lv["unit_id"] == "b", "level"]) == {"none"}


def test_chain_issue_upgrade_lift_and_verification(tmp_path, region):
    batch = _perfect_batch()
    dec = run_chain(batch, region, tmp_path / "register.sqlite")
    colour = [d for d in dec if d.unit_ids == ["a"] and d.action in
              ("issue", "upgrade", "downgrade", "continue", "lift")]
    acts = [(d.issue_time[:10], d.action, d.level) for d in colour]
    assert acts[0] == ("2024-01-02", "issue", "yellow")
    assert ("2024-01-03", "upgrade", "orange") in acts
    assert any(a == "lift" for _, a, _ in acts)
    # the lift comes after the observed episode ended (01-07), not during it
    lift_day = next(t for t, a, _ in acts if a == "lift")
    assert lift_day >= "2024-01-07"
    # every decision of the state machine references its predecessor (one chain per unit)
    for prev, nxt in zip(colour, colour[1:], strict=False):
        assert nxt.references == [prev.decision_id]
    # decisions round-trip through the register format (decisions.jsonl lines)
    line = json.dumps(colour[1].to_dict(), ensure_ascii=False)
    assert json.loads(line)["decision_id"] == colour[1].decision_id

    lv = observed_levels(_obs(), load_ladder("national-2024", allow_long_horizon=True))
    v = verify_chain(dec, lv, DAYS[0], DAYS[13])
    d1 = v["colour"]["D+1"]
    assert d1["hits"] == 4 and d1["misses"] == 0
    assert d1["pod"] == 1.0
    assert sorted(d1["hit_dates"]) == [f"a:2024-01-0{k}" for k in (4, 5, 6, 7)]
    assert v["episodes"]["n"] == 1 and v["episodes"]["caught"] == 1
    # first warning issued 2024-01-02 12:00 for an episode starting 2024-01-04 00:00: 36 h
    assert v["episodes"]["mean_lead_h"] == pytest.approx(36.0)
    assert v["actions"]["issue"] == 1 and v["actions"]["upgrade"] >= 1
    assert v["actions"]["early_lifts"] == 0
    # regional linkage ran (2 units < 5 contiguous: no regional warning)
    assert v["actions"]["regional"] == 0

    # the report: tables, one timeline per system, self-contained HTML
    from airwarn.products.hindcast_report import render_hindcast_report

    ver = {**v, "baselines": {}, "meta": {"domain": "test", "met": "perfect",
                                         "test_start": str(DAYS[0].date()),
                                         "test_end": str(DAYS[13].date())},
           "reliability": {"aqi_gt_150": {"D+1": {"bins": [{"p_mean": 0.2, "obs_freq": 0.25,
                                                            "n": 4}], "brier": 0.1}}}}
    sel = {"model": {"scheme": "last", "train_end": "2023-12-31", "select_start": "2023-10-01",
                     "select_end": "2023-12-28", "method": "chain",
                     "candidates": [
                         {"trigger": "median", "probability": 0.5, "hits": 5, "misses": 3,
                          "false_alarms": 4, "pod": 0.625, "far": 0.444, "csi": 0.417},
                         {"trigger": "probability", "probability": 0.35, "hits": 7,
                          "misses": 1, "false_alarms": 5, "pod": 0.875, "far": 0.417,
                          "csi": 0.538}],
                     "o3_probability": 0.25,
                     "o3_candidates": [{"probability": 0.15, "pod": 0.9, "far": 0.7, "csi": 0.28},
                                       {"probability": 0.25, "pod": 0.8, "far": 0.5, "csi": 0.44}]},
           "climatology": {"chosen_on": "training days",
                           "candidates": [{"probability": 0.15, "csi": 0.2},
                                          {"probability": 0.25, "csi": 0.3}]}}
    o3 = {"median": {"D+1": {"pod": 0.0, "far": None, "csi": 0.0, "hits": 0, "misses": 3,
                             "false_alarms": 0}},
          "probability": {"D+1": {"pod": 0.6667, "far": 0.5, "csi": 0.4, "hits": 2, "misses": 1,
                                  "false_alarms": 2}},
          "probability_threshold": 0.25, "persistence": {"D+1": {
              "pod": 0.3333, "far": 0.6667, "csi": 0.2, "hits": 1, "misses": 2,
              "false_alarms": 2}}, "advisories": 4}
    ver = {**ver, "trigger": {"trigger": "probability", "probability": 0.35}, "o3_events": o3,
           "meta": {**ver["meta"], "selection": sel, "units": ["a", "b"],
                    "unit_names": {"a": "甲", "b": "乙"}, "sub_region_models": None}}
    out = render_hindcast_report(ver, lv, {"model": dec}, tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2 and "@font-face" in html
    assert "<td>model</td><td>D+1</td><td>1.00</td><td>0.00</td>" in html
    # per level: the 4 orange days were hits at D+1 for ≥ yellow and ≥ orange
    assert "<tr><td>yellow</td><td>D+1</td><td>1.00</td><td>0.00</td><td>1.00</td><td>4</td>" \
        in html
    assert "<tr><td>orange</td><td>D+1</td><td>1.00</td>" in html
    # every observed episode with its first warning's lead (h), units by name
    assert "1 observed episodes, 1 warned" in html
    assert "<tr><td>甲 a</td><td>2024-01-04</td><td>orange</td><td>36</td></tr>" in html
    # O3 events: the probability row carries the fold's threshold
    assert "<tr><td>probability P ≥ 0.25</td><td>D+1</td><td>0.67</td><td>0.50</td><td>0.40</td>" \
        in html and "O₃ advisories issued: 4." in html
    # the fold's choices as tables, the chosen rows bold
    assert "<tr class='chosen'><td>probability</td><td>0.35</td><td>0.88</td>" in html
    assert "<tr class='chosen'><td>0.25</td><td>0.80</td><td>0.50</td><td>0.44</td></tr>" in html
    assert "<tr class='chosen'><td>0.25</td><td>0.30</td></tr>" in html
    assert "warnings triggered by the P(AQI &gt; threshold) ≥ 0.35" in html
    assert "{'model'" not in html  # no Python dict dumped into the page


def test_report_breakdown_counts_a_missed_onset_and_a_late_lift():
    """The report's table of where D+1 errors are: a missed first day of the 4-day orange
    episode of unit a, and a warning left in force the day after it ended."""
    from airwarn.models.verify.hindcast import error_breakdown
    from airwarn.products.hindcast_report import breakdown_table

    lv = observed_levels(_obs(), load_ladder("national-2024", allow_long_horizon=True))
    d1 = {"miss_dates": ["a:2024-01-04"], "false_alarm_dates": ["a:2024-01-08"]}
    html = breakdown_table({"error_breakdown": {"x": error_breakdown(d1, lv)}})
    heads = [h.split("</th>")[0] for h in html.split("<th>")[1:]]
    cells = [c.split("</td>")[0] for c in html.split("<td>")[1:]]
    row = dict(zip(heads, cells, strict=True))
    assert row["system"] == "x"
    assert row["miss: onset"] == "1" and row["miss: 3+-day episode"] == "1"
    assert row["false alarm: next to an episode"] == "1"
    assert sum(int(v) for k, v in row.items() if k.startswith("false alarm: aqi")) == 1


def test_report_o3_table_without_a_chosen_probability():
    """A hindcast whose fold chose no O3 probability (its ``probability`` is null) still
    reports the median's and persistence's O3 events."""
    from airwarn.products.hindcast_report import o3_table

    s = {"D+1": {"pod": 0.5, "far": 0.5, "csi": 0.3333, "hits": 1, "misses": 1,
                 "false_alarms": 1}}
    html = o3_table({"o3_events": {"median": s, "probability": None,
                                   "probability_threshold": None, "persistence": s,
                                   "advisories": 2}})
    assert "<tr><td>median</td><td>D+1</td><td>0.50</td><td>0.50</td><td>0.33</td>" in html
    assert "<td>persistence</td>" in html and "P ≥" not in html


def test_timeline_rows_carry_the_units_names():
    """Forecasters read 北京市 / 奥体中心, not ids: the timeline's row labels."""
    from airwarn.products.hindcast_report import unit_labels

    assert unit_labels(["beijing", "Aotizhongxin", "x"],
                       {"beijing": "北京市", "Aotizhongxin": "奥体中心", "x": "x"}) == [
        "北京市 beijing", "奥体中心 Aotizhongxin", "x"]
    assert unit_labels(["a"], None) == ["a"]


def test_persistence_baseline_is_late(tmp_path, region):
    """Persistence of the last observed day warns only once the episode is observed: it misses
    the first days at D+1 that the perfect forecast caught."""
    obs = _obs()
    batch = persistence_dataset(_perfect_batch(), obs)
    # issue day 01-05: D-1 = 01-04 observed 160, repeated for D+1 … D+3
    assert list(batch["aqi_daily"].isel(issue_time=4).sel(region="a").values) == [160.0] * 3
    dec = run_chain(batch, region, tmp_path / "p.sqlite")
    lv = observed_levels(obs, load_ladder("national-2024", allow_long_horizon=True))
    v = verify_chain(dec, lv, DAYS[0], DAYS[13])["colour"]["D+1"]
    assert v["misses"] >= 1 and v["false_alarms"] >= 1
    assert "a:2024-01-04" in v["miss_dates"]


def test_hindsight_is_the_observed_days_and_equals_a_perfect_forecast(tmp_path, region):
    """The hindsight reference gives each run the observed values of its valid days: on the
    constructed sequence it is the perfect batch, and its chain the perfect forecast's."""
    perfect = _perfect_batch()
    batch = hindsight_dataset(perfect, _obs())
    np.testing.assert_array_equal(batch["aqi_daily"].values, perfect["aqi_daily"].values)
    np.testing.assert_allclose(batch["pm25_daily"].values, perfect["pm25_daily"].values)
    # issue 01-03 (index 2): D+1…D+3 = 01-04…01-06 observed 160, 220, 240
    assert list(batch["aqi_daily"].isel(issue_time=2).sel(region="a").values) == [160, 220, 240]
    assert batch.attrs["model_version"] == "baseline-hindsight"
    lv = observed_levels(_obs(), load_ladder("national-2024", allow_long_horizon=True))
    v = verify_chain(run_chain(batch, region, tmp_path / "h.sqlite"), lv, DAYS[0], DAYS[13])
    assert v["colour"]["D+1"]["pod"] == 1.0 and v["colour"]["D+1"]["hits"] == 4


def test_o3_event_scores_probability_vs_median():
    batch = _perfect_batch()
    obs = _obs()
    obs.loc[(obs["unit_id"] == "b") & (obs["date"] == "2024-01-06"), "o3_8h_max"] = 230.0
    p = np.zeros(batch["aqi_daily"].shape)
    i = 3  # issue 01-04: D+2 = 01-06
    p[i, 1, 1] = 0.4
    batch["p_o3_iaqi_gt_150"] = (("issue_time", "region", "day"), p)
    med = o3_event_scores(o3_forecast_events(batch, None), batch, obs)
    prob = o3_event_scores(o3_forecast_events(batch, 0.3), batch, obs)
    assert med["D+2"]["hits"] == 0 and med["D+2"]["misses"] == 1
    assert prob["D+2"]["hits"] == 1 and prob["D+2"]["csi"] == 1.0


def _with_probabilities(batch: xr.Dataset) -> xr.Dataset:
    """P(AQI > t) = 0.3 on the days whose (true) AQI exceeds t, 0.1 elsewhere."""
    out = batch.copy()
    for t in (150, 200, 300):
        out[f"p_aqi_gt_{t}"] = (("issue_time", "region", "day"),
                                np.where(batch["aqi_daily"].values > t, 0.3, 0.1))
    return out


def test_choose_probability_scores_every_candidate_in_one_pass():
    from airwarn.models.verify.hindcast import choose_probability, d1_warned

    ladder = load_ladder("national-2024", allow_long_horizon=True)
    batch = _with_probabilities(_perfect_batch())
    lv = observed_levels(_obs(), ladder)
    w = d1_warned(batch, ladder, "median", 0.5)
    warned = sorted(f"{u}:{d.date()}" for u, d, x in zip(w["unit_id"], w["date"], w["warned"],
                                                         strict=True) if x)
    # perfect D+1…D+3: D+1 warned inside the episode's window (01-07 at 170 then 120: no
    # level on its own run, the state machine's memory carries it, not this memoryless proxy)
    assert warned == ["a:2024-01-04", "a:2024-01-05", "a:2024-01-06"]
    trig, p, rows = choose_probability(batch, lv, ladder, grid=(0.25, 0.35))
    got = {(r["trigger"], r["probability"]): (r["hits"], r["false_alarms"], r["misses"])
           for r in rows}
    # P ≥ 0.25 follows the truth like the median; P ≥ 0.35 never fires (probabilities 0.3)
    assert got == {("median", 0.5): (3, 0, 1), ("probability", 0.25): (3, 0, 1),
                   ("probability", 0.35): (0, 0, 4)}
    assert (trig, p) == ("median", 0.5)  # ties: the earlier candidate


def test_chain_in_a_worker_process_equals_the_chain_in_process(tmp_path, region):
    """--jobs 2: a baseline written to its forecast file and run through the state machine in a
    spawned worker gives the decisions of the in-process chain."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from airwarn.models.forecast import write_netcdf
    from airwarn.models.verify.hindcast import _chain_job, _read_jsonl

    batch = persistence_dataset(_perfect_batch(), _obs())
    nc = write_netcdf(batch, tmp_path / "baseline_persistence.nc")
    ref = [d.to_dict() for d in run_chain(batch, region, tmp_path / "a.sqlite")]
    args = (["a", "b"], {"a": "甲", "b": "乙"}, {"a": ["b"], "b": ["a"]})
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        n = pool.submit(_chain_job, args, str(nc), str(tmp_path / "b.sqlite"),
                        str(tmp_path / "d.jsonl"), "median", 0.5, None).result()
    got = _read_jsonl(tmp_path / "d.jsonl")

    def key(d: dict) -> tuple:
        return (d["unit_ids"], d["issue_time"], d["action"], d["level"], d["start"], d["end"],
                d["daily_aqi"], d["primary_pollutant"], d["reason_en"])

    assert n == len(ref) == len(got) and len(got) >= 3
    assert [key(d) for d in got] == [key(d) for d in ref]
    assert [d["action"] for d in got if d["unit_ids"] == ["a"]][:1] == ["issue"]


def test_error_breakdown_of_persistence(tmp_path, region):
    """Persistence misses the onset (01-04, AQI 160, a 4-day episode) and warns after the
    episode ended (01-08, AQI 120, the day after an episode day)."""
    from airwarn.models.verify.hindcast import error_breakdown

    obs = _obs()
    dec = run_chain(persistence_dataset(_perfect_batch(), obs), region, tmp_path / "p.sqlite")
    lv = observed_levels(obs, load_ladder("national-2024", allow_long_horizon=True))
    d1 = verify_chain(dec, lv, DAYS[0], DAYS[13])["colour"]["D+1"]
    b = error_breakdown(d1, lv)
    assert "a:2024-01-04" in d1["miss_dates"] and "a:2024-01-08" in d1["false_alarm_dates"]
    assert sum(v for k, v in b["misses"].items() if k.startswith("aqi")) == d1["misses"]
    assert b["misses"]["onset"] == 1 and b["misses"]["3+-day episode"] == d1["misses"]
    assert b["misses"]["aqi 150-200"] >= 1  # 01-04 at 160
    assert sum(v for k, v in b["false_alarms"].items() if k.startswith("aqi")) == \
        d1["false_alarms"]
    assert b["false_alarms"]["next to an episode"] >= 1 and b["false_alarms"]["aqi 100-150"] >= 1


def test_choose_trigger_through_the_chain(tmp_path, region):
    """The fold's trigger chosen with the real state machine: the median (= P ≥ 0.25 here)
    keeps the warning in force over the whole episode (4 hits at D+1, the memoryless proxy
    counts 3), P ≥ 0.35 never fires."""
    from airwarn.models.verify.hindcast import choose_trigger_chain

    ladder = load_ladder("national-2024", allow_long_horizon=True)
    lv = observed_levels(_obs(), ladder)
    trig, p, rows = choose_trigger_chain(_with_probabilities(_perfect_batch()), region, lv,
                                         DAYS[0], DAYS[13], tmp_path, grid=(0.25, 0.35))
    got = {(r["trigger"], r["probability"]): (r["hits"], r["false_alarms"], r["misses"])
           for r in rows}
    assert got[("median", 0.5)] == got[("probability", 0.25)] == (4, 0, 0)
    assert got[("probability", 0.35)] == (0, 0, 4)
    assert (trig, p) == ("median", 0.5)
    assert (tmp_path / "register_p0.35.sqlite").exists()


def test_regional_primary_pollutant_tie_does_not_depend_on_the_process():
    """A regional decision's primary pollutant on a tie between its units is the same in every
    process (it followed the set's hash order: the hindcast's worker and the main process gave
    PM2.5 / O3_8h for the same Beijing regional warning of 2015-06-27)."""
    import subprocess
    import sys

    code = (
        "import pandas as pd, numpy as np\n"
        "from airwarn.alerts.regional import RegionalFinding\n"
        "from airwarn.alerts.warning import WarningDecision, UnitForecast, _regional_decision\n"
        "now = pd.Timestamp('2015-06-27 12:00', tz='Asia/Shanghai')\n"
        "by = {u: WarningDecision(decision_id=u, issue_time=now.isoformat(), unit_ids=[u],\n"
        "      level='orange', action='issue', previous_level='none', start=None, end=None,\n"
        "      primary_pollutant=p, daily_aqi={}, trigger='median', reason_zh='', reason_en='',\n"
        "      references=[]) for u, p in (('a', 'PM2.5'), ('b', 'O3_8h'))}\n"
        "f = RegionalFinding('contiguous', 'orange', ('a', 'b'), ('a', 'b'))\n"
        "print(_regional_decision(f, now, by, {}, 'median').primary_pollutant)\n")
    got = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONHASHSEED": str(s)},
                          check=True).stdout.strip() for s in (1, 2, 3, 4)}
    assert got == {"PM2.5"}


def test_chain_state_machine_settings_move_the_lift(tmp_path, region):
    """``policy_update`` replaces the state machine's hysteresis for one chain: the forecast
    after the episode (120, 90) is within a 40-AQI margin of the lift threshold, so with two
    runs needed the lift waits a day, with one run it comes at once."""
    def lift_day(**pol):
        dec = run_chain(_perfect_batch(), region, tmp_path / "r.sqlite", policy_update=pol)
        return next(d.issue_time[:10] for d in dec if d.unit_ids == ["a"] and d.action == "lift")

    configured = lift_day()
    assert configured == "2024-01-07"  # 120 + 10, 90 + 10 stay ≤ 150: decisive at once
    assert lift_day(hysteresis_margin_aqi=40) == "2024-01-08"
    assert lift_day(hysteresis_margin_aqi=40, hysteresis_runs=1) == configured
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="hysteresis_runs"):
        run_chain(_perfect_batch(), region, tmp_path / "r.sqlite",
                  policy_update={"hysteresis_runs": 0})
