"""``warn_run`` and ``airwarn warn`` end to end: a real NetCDF forecast file, the real register,
decisions JSON, control orders CSV, joint warnings with orders on both sides, rerun idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.alerts.register import Register
from airwarn.alerts.warning import (
    orders_path,
    read_decisions,
    unit_forecasts,
    warn_run,
    warnings_path,
)
from typer.testing import CliRunner

from airwarn import configs

TZ = "Asia/Shanghai"
ISSUE = pd.Timestamp("2026-01-10T15:00", tz=TZ)
EPISODE = {"chengdu": [212, 236, 190], "deyang": [205, 220, 170], "meishan": [190, 215, 140],
           "ziyang": [201, 230, 180], "suining": [180, 210, 205], "luzhou": [160, 170, 120]}


def forecast_file(units: list[str], values: dict[str, list[float]]) -> xr.Dataset:
    """Forecast Dataset with the names of docs/INTERFACES.md (forecast file)."""
    a = np.array([values.get(u, [80.0, 85.0, 90.0]) for u in units], dtype=float)
    primary = np.where(a > 50, "PM2.5", "").astype(object)
    method = np.full((len(units), 2), "lightgbm", dtype=object)
    reason = np.full((len(units), 2), "", dtype=object)
    method[units.index("yibin"), 0] = "climatology"
    reason[units.index("yibin"), 0] = "no observations for 3 days"
    return xr.Dataset(
        {"aqi_daily": (("region", "day"), a), "primary_daily": (("region", "day"), primary),
         "pm25_daily": (("region", "day"), a * 0.75),
         "o3_mda8": (("region", "day"), np.full(a.shape, 90.0)),
         "p_aqi_gt_150": (("region", "day"), (a > 150) * 0.8),
         "p_aqi_gt_200": (("region", "day"), (a > 200) * 0.7),
         "p_aqi_gt_300": (("region", "day"), (a > 300) * 0.6),
         "method": (("region", "pollutant"), method),
         "fallback_reason": (("region", "pollutant"), reason)},
        coords={"region": units, "day": [1, 2, 3], "pollutant": ["pm25", "o3"],
                "date": ("day", ["2026-01-11", "2026-01-12", "2026-01-13"])},
        attrs={"issue_time": ISSUE.isoformat(), "model_version": "lgbm-test",
               "ruleset": "HJ633_2026", "source": "synthetic test",
               "inputs": json.dumps({"met_cycle": "2026011000", "met_cycle_age_h": 30,
                                     "missing_stations": ["1431A"]})})


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(tmp_path))
    units = configs.load_region().unit_ids
    (tmp_path / "forecasts").mkdir()
    forecast_file(units, EPISODE).to_netcdf(tmp_path / "forecasts" / "20260110T1500.nc")
    return tmp_path


def test_warn_run_writes_decisions_orders_and_register_rows(data_dir: Path) -> None:
    cfg = configs.load_config()
    ds = xr.load_dataset(data_dir / "forecasts" / "20260110T1500.nc")
    fc = unit_forecasts(ds)
    assert fc["chengdu"].primary == ["PM2.5"] * 3 and fc["chengdu"].dates[0] == "2026-01-11"
    reg = Register(data_dir / "register.sqlite")
    decs = warn_run(ds, cfg, reg, ISSUE)
    colour = {d.unit_ids[0]: d for d in decs if not d.regional}
    assert {u: d.level for u, d in colour.items()} == {
        "chengdu": "orange", "deyang": "orange", "meishan": "yellow", "ziyang": "orange",
        "suining": "orange", "luzhou": "yellow"}
    regional = [d for d in decs if d.regional]
    contiguous = [d for d in regional if d.joint["kind"] == "contiguous"]
    assert [(d.level, d.unit_ids) for d in contiguous] == [
        # Sichuan clause (≤ 3 at a higher level, reading in sichuan-2024.yaml): 4 of the 5 are
        # orange → one regional warning, at orange
        ("orange", ["chengdu", "deyang", "meishan", "suining", "ziyang"])]
    # linked to the unit warnings it stands on; a first regional decision updates nothing
    assert set(contiguous[0].joint["unit_decisions"]) == {colour[u].decision_id
                                                          for u in contiguous[0].unit_ids}
    assert contiguous[0].references == [] and contiguous[0].joint["phase"] == "issue"
    # Suining (border belt, orange) → Hechuan and Tongnan act at orange: Hechuan's listed plants
    joint = {d.joint["source_units"][0]: d for d in regional if d.joint["kind"] == "joint"}
    sj = joint["suining"]
    assert sj.level == "orange" and {"hechuan", "tongnan"} <= set(sj.joint["acting_units"])
    assert {o.unit_id for o in sj.control_orders} == {"hechuan"}
    # Suining 180/210/205: the window covers the 180 day too (same episode, AQI > 150)
    assert all(o.level == "orange" and o.start == "2026-01-11T00:00:00+08:00" for o in sj.control_orders)
    # Chengdu's own orders and its reduction check (example list: shortfalls shown with the gap)
    cd = colour["chengdu"]
    assert cd.control_orders and {o.city for o in cd.control_orders} == {"成都市"}
    assert any(o.is_elevated for o in cd.control_orders)
    assert {(c["city"], c["pollutant"]) for c in cd.reduction_checks} == {
        ("成都市", p) for p in ("so2", "nox", "pm", "vocs")}
    assert all(c["gap"] == pytest.approx(max(0.0, c["required"] - c["achieved"]), abs=1e-3)
               for c in cd.reduction_checks)
    # Suining and Ziyang are warned but have no emergency list: said so, never a silent pass
    for u in ("suining", "ziyang"):
        (chk,) = colour[u].reduction_checks
        assert (chk["unit_id"], chk["met"], chk["gap"]) == (u, False, None)
        assert "no emergency reduction list" in chk["notes"][0]
    assert {c["unit_id"] for c in sj.reduction_checks if c["gap"] is None} == {"tongnan"}
    # degraded inputs named in each decision; per-unit fallback only where it happened
    assert cd.source == "synthetic test" and cd.ladder == "chengdu-2024"
    assert "met_cycle_age_h: 30 h" in cd.degraded_inputs and "missing_stations: 1431A" in cd.degraded_inputs
    assert not any("yibin" in s for s in cd.degraded_inputs)
    # files
    back = read_decisions(warnings_path(data_dir, ISSUE))
    assert [d.decision_id for d in back] == [d.decision_id for d in decs]
    csv = pd.read_csv(orders_path(data_dir, ISSUE), encoding="utf-8-sig")
    assert len(csv) == sum(len(d.control_orders) for d in decs)
    assert {"enterprise_name", "production_unit", "is_elevated", "measure", "so2_t_d"} <= set(csv.columns)
    assert reg.count("transitions") == len(decs) and reg.count("runs") == 1
    assert reg.runs().loc[0, "status"] == "warned"  # "ok"/complete only after the last stage


def test_rerun_changes_nothing(data_dir: Path) -> None:
    cfg = configs.load_config()
    ds = xr.load_dataset(data_dir / "forecasts" / "20260110T1500.nc")
    reg = Register(data_dir / "register.sqlite")
    first = warn_run(ds, cfg, reg, ISSUE)
    j1 = warnings_path(data_dir, ISSUE).read_bytes()
    c1 = orders_path(data_dir, ISSUE).read_bytes()
    n = (reg.count("transitions"), reg.count("runs"))
    second = warn_run(ds, cfg, reg, ISSUE)
    assert [d.to_dict() for d in second] == [d.to_dict() for d in first]
    assert warnings_path(data_dir, ISSUE).read_bytes() == j1
    assert orders_path(data_dir, ISSUE).read_bytes() == c1
    assert (reg.count("transitions"), reg.count("runs")) == n
    # the next run continues the episode and references today's decisions
    nxt = ISSUE + pd.Timedelta(hours=14)
    ds2 = forecast_file(cfg.region.unit_ids, {"chengdu": [236, 190, 150]})
    ds2 = ds2.assign_coords(date=("day", ["2026-01-12", "2026-01-13", "2026-01-14"]))
    ds2.attrs["issue_time"] = nxt.isoformat()
    d2 = {d.unit_ids[0]: d for d in warn_run(ds2, cfg, reg, nxt) if not d.regional}
    assert d2["chengdu"].action == "continue"
    assert d2["chengdu"].references == [next(d.decision_id for d in first if d.unit_ids == ["chengdu"])]


def test_bad_forecast_file_is_named(data_dir: Path) -> None:
    cfg = configs.load_config()
    ds = xr.load_dataset(data_dir / "forecasts" / "20260110T1500.nc").drop_vars("aqi_daily")
    with pytest.raises(ValueError, match="forecast file lacks 'aqi_daily'"):
        warn_run(ds, cfg, Register(data_dir / "r.sqlite"), ISSUE)
    assert not warnings_path(data_dir, ISSUE).exists()


def test_cli_warn_prints_table_and_rerun_adds_nothing(data_dir: Path) -> None:
    from airwarn.flows.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["warn", "--issue-time", "2026-01-10T15:00"])
    assert r.exit_code == 0, r.output
    assert "issue" in r.output and "orange" in r.output and "regional" in r.output
    assert str(warnings_path(data_dir, ISSUE)) in r.output.replace("\n", "")
    assert orders_path(data_dir, ISSUE).exists()
    first = warnings_path(data_dir, ISSUE).read_bytes()
    r = runner.invoke(app, ["warn", "--issue-time", "20260110T1500"])
    assert r.exit_code == 0 and "0 new register rows" in r.output
    assert warnings_path(data_dir, ISSUE).read_bytes() == first
    from airwarn.alerts.register import Register, register_path

    reg = Register(register_path(data_dir))  # each `warn` adds its own attempt row
    assert reg.attempts()["command"].tolist() == ["warn", "warn"]
    assert reg.runs()["status"].tolist() == ["warned"]
    r = runner.invoke(app, ["warn", "--issue-time", "2026-01-11T05:00"])
    assert r.exit_code == 2 and "forecast file not found" in r.output


def test_rolling_24h_ladder_reads_hourly_pm25(tmp_path: Path) -> None:
    from airwarn.configs.warning_schema import load_ladder

    cfg = configs.load_config()
    units = ["chengdu", "deyang"]
    ds = forecast_file(cfg.region.unit_ids, {}).sel(region=units)
    issue = pd.Timestamp("2026-01-10T12:00", tz=TZ)
    times = pd.date_range(issue + pd.Timedelta(hours=1), periods=84, freq="h").tz_convert("UTC")
    pm = np.full((2, 84), 40.0)
    pm[0, 12:72] = 160.0    # 2026-01-11 01:00 … 01-13 12:00 local; 24-h mean 160 µg/m³ → IAQI 210
    ds = ds.assign_coords(lead=np.arange(1, 85),
                          valid_time=("lead", times.tz_localize(None).to_numpy()))
    ds["pm25"] = (("region", "lead"), pm)
    ds.attrs["issue_time"] = issue.isoformat()
    lad = load_ladder("chengdu-2024").model_copy(update={"mode": "rolling-24h"})
    ladders = {"chengdu-2024": lad, "sichuan-2024": load_ladder("sichuan-2024"),
               "chengdu-o3-2021": load_ladder("chengdu-o3-2021")}
    reg = Register(tmp_path / "r.sqlite")
    decs = [d for d in warn_run(ds, cfg, reg, issue, ladders=ladders, data_dir=tmp_path)
            if not d.regional]
    assert [(d.unit_ids[0], d.level) for d in decs] == [("chengdu", "yellow")]
    d = decs[0]
    # windows with ≥ 23 of 24 h at 160 exceed 200 (mean 155 → 205): ending 01-11 23:00 … 01-13
    # 13:00 = 39 h (> 24 h, < 48 h) → yellow, from 00:00 of the first window's day to the end of
    # the last one's
    assert d.start == "2026-01-11T00:00:00+08:00" and d.end == "2026-01-14T00:00:00+08:00"
    assert "滚动24小时AQI 日最大值 205/210/210" in d.reason_zh
    assert "rolling 24-h AQI" in d.reason_en and "daily AQI > 200 for ≥ 24 h" in d.condition
    with pytest.raises(ValueError, match="rolling-24h mode but the forecast has no hourly pm25"):
        warn_run(ds.drop_vars("pm25"), cfg, Register(tmp_path / "r2.sqlite"), issue,
                 ladders=ladders, data_dir=tmp_path)


def test_cli_override_and_response(data_dir: Path) -> None:
    from airwarn.flows.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["override", "--unit", "luzhou", "--level", "orange", "--reason",
                            "会商提级", "--who", "张预报员", "--from", "2026-01-10T14:00",
                            "--until", "2026-01-12T12:00"])
    assert r.exit_code == 0, r.output
    assert "luzhou → orange from 2026-01-10 14:00 until 2026-01-12 12:00" in r.output
    r = runner.invoke(app, ["warn", "--issue-time", "2026-01-10T15:00"])
    assert r.exit_code == 0, r.output
    lz = next(d for d in read_decisions(warnings_path(data_dir, ISSUE)) if d.unit_ids == ["luzhou"])
    assert lz.level == "orange" and lz.override["machine_level"] == "yellow"
    assert "有效至 2026-01-12 12:00" in lz.reason_zh
    r = runner.invoke(app, ["override", "--unit", "atlantis", "--level", "red", "--reason", "x",
                            "--who", "y", "--until", "2026-01-12T12:00"])
    assert r.exit_code == 2 and "unknown unit 'atlantis'" in r.output
    r = runner.invoke(app, ["response", "--calendar", "2025-2026"])
    assert r.exit_code == 0, r.output
    assert "EXAMPLE" in r.output and "short" in r.output and "✓" in r.output
    cal = pd.read_csv(data_dir / "response" / "staggered_2025-2026.csv", encoding="utf-8-sig")
    assert cal["date"].min() == "2025-11-15" and cal["date"].max() == "2026-03-15"



@pytest.mark.parametrize("level, until, message", [
    # chengdu follows chengdu-2024 (yellow, orange, red): a blue override used to be recorded
    ("blue", "2026-01-12T12:00", "Invalid value for --level: unit 'chengdu' follows warning "
                                 "ladder 'chengdu-2024', whose levels are none, yellow, orange, "
                                 "red; got 'blue'"),
    ("purple", "2026-01-12T12:00", "Invalid value for --level: unknown level 'purple'; expected "
                                   "one of none, blue, yellow, orange, red"),
    ("red", "2026-01-09T12:00", "Invalid value for --until: 2026-01-09 12:00 is not after the "
                                "start 2026-01-10 14:00 (Asia/Shanghai)"),
])
def test_cli_override_refused_before_the_register_is_touched(data_dir: Path, level: str,
                                                             until: str, message: str) -> None:
    from airwarn.alerts.register import register_path
    from airwarn.flows.cli import app

    r = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["override", "--unit", "chengdu", "--level", level, "--reason", "会商", "--who",
              "张预报员", "--from", "2026-01-10T14:00", "--until", until])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.replace("│", " ").split())
    assert not register_path(data_dir).exists()
    r = CliRunner().invoke(app, ["override", "--list"])
    assert r.exit_code == 0 and r.output == "no overrides recorded\n"
    assert not register_path(data_dir).exists()

def test_forecast_of_another_run_or_short_horizon(tmp_path: Path) -> None:
    cfg = configs.load_config()
    reg = Register(tmp_path / "r.sqlite")
    ds = forecast_file(cfg.region.unit_ids, EPISODE)
    with pytest.raises(ValueError, match="forecast file is for issue time 2026-01-10T15:00:00"):
        warn_run(ds, cfg, reg, ISSUE + pd.Timedelta(hours=1), data_dir=tmp_path)
    ds.attrs.pop("issue_time")
    with pytest.raises(ValueError, match=r"date\(day=1\) is 2026-01-11, but D\+1 .* is 2026-01-12"):
        warn_run(ds, cfg, reg, ISSUE + pd.Timedelta(days=1), data_dir=tmp_path)
    assert reg.count("runs") == 0 and not (tmp_path / "warnings").exists()
    # a run that does not reach the end of D+3 (NaN) and one with two days only: named, not hidden
    short = ds.copy(deep=True)
    short["aqi_daily"].loc[{"region": "chengdu", "day": 3}] = np.nan
    decs = warn_run(short, cfg, reg, ISSUE, data_dir=tmp_path)
    cd = next(d for d in decs if d.unit_ids == ["chengdu"])
    assert "chengdu: daily AQI missing for D+3" in cd.degraded_inputs and "212/236/NA" in cd.reason_zh
    two = ds.isel(day=[0, 1])
    decs = warn_run(two, cfg, reg, ISSUE + pd.Timedelta(minutes=1), data_dir=tmp_path)
    assert any("covers D+1…D+2 only" in s for s in decs[0].degraded_inputs)


def test_unit_missing_from_the_forecast_keeps_its_warning(tmp_path: Path) -> None:
    cfg = configs.load_config()
    reg = Register(tmp_path / "r.sqlite")
    warn_run(forecast_file(cfg.region.unit_ids, EPISODE), cfg, reg, ISSUE, data_dir=tmp_path)
    nxt = ISSUE + pd.Timedelta(hours=14)
    ds = forecast_file(cfg.region.unit_ids, {}).drop_sel(region=["chengdu"])
    ds = ds.assign_coords(date=("day", ["2026-01-12", "2026-01-13", "2026-01-14"]))
    ds.attrs["issue_time"] = nxt.isoformat()
    decs = {d.unit_ids[0]: d for d in warn_run(ds, cfg, reg, nxt, data_dir=tmp_path)
            if not d.regional and d.action != "advisory"}
    cd = decs["chengdu"]
    assert (cd.action, cd.level) == ("continue", "orange") and "本次无预报数据" in cd.reason_zh
    assert "chengdu: not in the forecast file" in cd.degraded_inputs
    assert cd.control_orders and reg.current_state("chengdu").level == "orange"
    assert decs["deyang"].action == "lift"
