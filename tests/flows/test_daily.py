"""The daily forecast run on the demo world: products, degradation, idempotence, locks, crashes.

The shared session world (``demo_world``, read-only) is copied once and models are trained on
the copy with small settings (``trained_dir``); every test then works on its own copy of that
directory, so tests are independent and nothing touches the shared world.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.flows.conftest import ISSUE, STAMP


def _run(data_dir: Path, **kw):
    from airwarn.flows.daily import DailyRun, config_for, run_daily

    run = DailyRun(config_for(data_dir), ISSUE.to_pydatetime(), met=kw.pop("met", "demo"),
                   products=tuple(kw.pop("products", ())), warnings=kw.pop("warnings", True))
    manifest = run_daily(run, use_tasks=False, **kw)
    return run, manifest


def _stage(manifest: dict, name: str) -> dict:
    return next(s for s in manifest["stages"] if s["name"] == name)


def _hashes(root: Path) -> dict[str, bytes]:
    # the manifest and the run logs (one new log file per attempt) change with every run
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and p.parent.name != "logs"}


def test_daily_flow_through_prefect_then_idempotent_rerun(prefect_harness, data_dir):
    from airwarn.alerts.register import Register
    from airwarn.flows.daily import daily_forecast

    manifest = daily_forecast(issue_time=ISSUE.isoformat(), data_dir=str(data_dir), met="demo")
    assert manifest["status"] == "complete", manifest
    fc_path = data_dir / "forecasts" / f"{STAMP}.nc"
    with xr.open_dataset(fc_path) as ds:
        assert sorted(ds["region"].values.tolist()) == sorted(
            u.id for u in __import__("configs").load_region().units)
        assert ds.sizes["region"] == 31
        assert np.isfinite(ds["pm25"].values).all() and np.isfinite(ds["o3"].values).all()
        inputs = json.loads(ds.attrs["inputs"])
        assert inputs["met_source"] == "demo"
    products = data_dir / "products" / STAMP
    maps = sorted((products / "maps").glob("*.png"))
    assert len(maps) >= 5
    assert (products / "report.html").stat().st_size > 10_000
    assert (products / "observed_daily_aqi.csv").exists()
    warnings = json.loads((data_dir / "warnings" / f"{STAMP}.json").read_text())
    decisions = manifest["decisions"]
    assert len(decisions) == len(warnings if isinstance(warnings, list)
                                 else warnings["decisions"])
    for d in decisions:
        files = manifest["bulletins"][d["decision_id"]]
        assert {"zh.html", "en.html", "cap.xml", "json"} <= set(files)
        assert all(Path(f).exists() for f in files.values())
    # every product listed in the manifest exists with the recorded hash
    from airwarn.flows.stages import sha256_file

    for p in manifest["products"]:
        assert sha256_file(data_dir / p["path"]) == p["sha256"], p["path"]
    reg = Register(data_dir / "register.sqlite")
    counts = {t: reg.count(t) for t in ("runs", "transitions", "deliveries")}
    assert counts["runs"] == 1
    assert reg.runs()["status"].tolist() == ["complete"]
    before = _hashes(data_dir / "products" / STAMP)
    fc_bytes = fc_path.read_bytes()

    # rerun: same files, no new register rows, no second delivery
    _, again = _run(data_dir, products=("maps", "report", "bulletins", "delivery"))
    assert again["status"] == "complete"
    assert _stage(again, "forecast")["status"] == "reused"
    assert fc_path.read_bytes() == fc_bytes
    assert _hashes(data_dir / "products" / STAMP) == before
    assert {t: reg.count(t) for t in ("runs", "transitions", "deliveries")} == counts


def test_missing_met_cycle_falls_back_to_previous_cycle(data_dir, demo_world):
    from airwarn.features.demo_world import forecast_cycle

    cycles = data_dir / "met" / "cycles"
    current = cycles / "2026012000.nc"
    assert current.exists()
    prev_ref = pd.Timestamp("2026-01-19T00:00", tz="UTC")
    ds = forecast_cycle(demo_world, prev_ref)
    ds.to_netcdf(cycles / "2026011900.nc")
    current.unlink()
    # the fetch catalog says when the cycle used and the last observations arrived
    from airwarn.features.acquire import DownloadResult, FetchCatalog, FetchItem

    cat = FetchCatalog.for_data_dir(data_dir)
    exp = prev_ref + pd.Timedelta(hours=8)
    cat.record(FetchItem("ecmwf-ifs", "nwp", "http://h/19-0h.grib2", "x", prev_ref, 0, prev_ref,
                         exp),
               DownloadResult("ok", size=1, attempts=1, started=exp,
                              finished=exp + pd.Timedelta(hours=1.5)), data_dir / "x")
    label = ISSUE.tz_convert("UTC") - pd.Timedelta(hours=1)
    cat.record(FetchItem("cnemc", "obs", "http://h/obs.csv", "obs.csv", None, None, label,
                         label + pd.Timedelta(hours=1)),
               DownloadResult("ok", size=1, attempts=1, started=label,
                              finished=label + pd.Timedelta(hours=1.25)), data_dir / "obs.csv")
    run, manifest = _run(data_dir, met="cycles", warnings=True)
    assert run.met_info["cycle"] == prev_ref.isoformat()
    assert run.met_info["cycle_age_h"] == pytest.approx(31.0)
    named = [d for d in manifest["degraded_inputs"] if "2026-01-19T00:00" in d]
    assert named and "31 h old" in named[0] and "2026-01-20T00:00" in named[0]
    with xr.open_dataset(data_dir / "forecasts" / f"{STAMP}.nc") as fc:
        inputs = json.loads(fc.attrs["inputs"])
    assert any("31 h old" in d for d in inputs["degraded"])
    arr = inputs["arrival"]
    assert (arr["met_source"], arr["met_late_h"]) == ("ecmwf-ifs", 1.5)
    assert (arr["obs_file"], arr["obs_late_h"]) == ("obs.csv", 0.25)
    decisions = json.loads((data_dir / "warnings" / f"{STAMP}.json").read_text())
    decisions = decisions if isinstance(decisions, list) else decisions["decisions"]
    for d in decisions:
        assert any("31 h old" in x for x in d["degraded_inputs"]), d["decision_id"]


def test_station_down_for_days_is_named_and_unit_still_forecast(data_dir):
    from airwarn.features.store import obs_files

    down_from = ISSUE.tz_convert("UTC") - pd.Timedelta(days=3)
    victims = {"seat_hechuan"}
    for f in obs_files(data_dir):
        df = pd.read_parquet(f)
        keep = ~(df["station_id"].isin(victims) & (df["time"] >= down_from))
        if not keep.all():
            df[keep].to_parquet(f, index=False)
    run, manifest = _run(data_dir, warnings=False)
    deg = manifest["degraded_inputs"]
    assert any(d.startswith("station seat_hechuan: no observations since 2026-01-17") for d in deg)
    assert any(d.startswith("unit hechuan: no observations") for d in deg)
    with xr.open_dataset(data_dir / "forecasts" / f"{STAMP}.nc") as fc:
        z = fc["pm25"].sel(region="hechuan").values
        assert np.isfinite(z).all() and (z > 0).all()


def test_model_file_missing_falls_back_to_baseline(data_dir):
    for card in (data_dir / "models" / "pm25").glob("*/card.json"):
        for txt in card.parent.glob("*.txt"):
            txt.unlink()
    run, manifest = _run(data_dir, warnings=False)
    with xr.open_dataset(data_dir / "forecasts" / f"{STAMP}.nc") as fc:
        method = fc["method"].sel(pollutant="pm25").values.astype(str)
        assert not (method == "lightgbm").any(), method
        assert np.isfinite(fc["pm25"].values).all()
        assert (fc["method"].sel(pollutant="o3").values.astype(str) == "lightgbm").all()
    assert any(d.startswith("forecast fallback") and "pm25" in d
               for d in manifest["degraded_inputs"])
    assert _stage(manifest, "forecast")["status"] == "degraded"


HOLD = """
import sys, time
from pathlib import Path
from airwarn.flows.locks import issue_lock
with issue_lock(sys.argv[1], "20260120T1500", purpose="other run"):
    Path(sys.argv[2]).write_text("held")
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
"""


def test_concurrent_runs_same_issue_time(data_dir, tmp_path):
    from airwarn.flows.locks import LockBusy

    # a run holding the lock in another process: the second refuses and writes nothing
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir), str(ready), str(release)],
                            cwd=Path(__file__).resolve().parents[2])
    try:
        for _ in range(400):
            if ready.exists():
                break
            time.sleep(0.05)
        with pytest.raises(LockBusy, match="other run"):
            _run(data_dir, lock_timeout=0.3)
        assert not (data_dir / "forecasts" / f"{STAMP}.nc").exists()
    finally:
        release.write_text("go")
        proc.wait(timeout=30)
    # two runs at once in this process: one waits for the other, then reuses its forecast
    results: list = []
    errors: list = []

    def go() -> None:
        try:
            results.append(_run(data_dir, lock_timeout=300)[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    statuses = sorted(_stage(m, "forecast")["status"] for m in results)
    assert statuses in (["ok", "reused"], ["degraded", "reused"])
    from airwarn.alerts.register import Register

    assert Register(data_dir / "register.sqlite").count("runs") == 1
    with xr.open_dataset(data_dir / "forecasts" / f"{STAMP}.nc") as fc:
        assert fc.sizes["region"] == 31


def test_crash_in_products_stage_then_rerun_completes(data_dir, monkeypatch):
    import airwarn.products.maps as maps

    real = maps.render_aqi_map
    calls = {"n": 0}

    def crashing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the process "dies" while drawing the second map
            raise KeyboardInterrupt("injected crash in the maps stage")
        return real(*args, **kw)

    monkeypatch.setattr(maps, "render_aqi_map", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(data_dir, products=("maps",))
    products = data_dir / "products" / STAMP
    assert (products / "maps" / "aqi_d1.png").exists()
    assert not (products / "maps" / "aqi_d2.png").exists()
    # features.atomic temporaries are ".<target name>.<random><suffix>"
    leftovers = [p for p in data_dir.rglob(".*") if p.is_file() and p.name.count(".") >= 2]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert not (products / "manifest.json").exists()
    assert not (data_dir / "locks" / f"{STAMP}.lock").exists()
    monkeypatch.setattr(maps, "render_aqi_map", real)
    run, manifest = _run(data_dir, products=("maps",))
    assert manifest["status"] == "complete"
    assert _stage(manifest, "forecast")["status"] in ("ok", "degraded")  # no manifest to reuse
    assert {Path(p).name for p in _stage(manifest, "maps")["outputs"]} >= {
        "aqi_d1.png", "aqi_d2.png", "aqi_d3.png", "overview.png"}
    for p in _stage(manifest, "maps")["outputs"]:
        assert (data_dir / p).stat().st_size > 1000
