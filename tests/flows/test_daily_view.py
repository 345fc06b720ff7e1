"""The daily run hands its forecast meteorology to the products: the bulletins' 气象条件 line comes
from the cycle the run forecast with (also when that cycle is not a stored file), and the maps
include the exceedance probabilities and the meteorology of that cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.flows.conftest import ISSUE, STAMP


def test_bulletins_and_maps_use_the_run_meteorology(data_dir: Path) -> None:
    from airwarn.alerts.register import Register, register_path
    from airwarn.flows.daily import DailyRun, config_for, run_daily

    # the demo run regenerates its cycle from the world's seed: no cycle file is stored
    for f in (data_dir / "met" / "cycles").glob("*.nc"):
        f.unlink()
    # a forecaster's override makes sure the run has a warning to bulletin
    Register(register_path(data_dir)).record_override(
        "chengdu", "yellow", "会商决定 test", "duty", ISSUE.isoformat(),
        (ISSUE + pd.Timedelta(days=3)).isoformat())
    run = DailyRun(config_for(data_dir), ISSUE.to_pydatetime(), met="demo",
                   products=("maps", "bulletins"), warnings=True)
    manifest = run_daily(run, use_tasks=False)
    assert manifest["status"] == "complete", manifest
    assert run.met_info["cycle"] == "2026-01-20T00:00:00+00:00"
    maps = {p.name for p in (data_dir / "products" / STAMP / "maps").glob("*.png")}
    assert {"p_aqi_gt_150.png", "p_aqi_gt_200.png", "p_aqi_gt_300.png", "met_wind_blh.png",
            "met_precip.png", "met_stagnation.png"} <= maps
    assert manifest["decisions"]
    for d in manifest["decisions"]:
        md = Path(manifest["bulletins"][d["decision_id"]]["zh.md"]).read_text()
        line = next(x for x in md.splitlines() if "气象条件" in x)
        assert "未提供" not in line and "平均风速" in line and "边界层高度" in line, line
        doc = json.loads(Path(manifest["bulletins"][d["decision_id"]]["json"]).read_text())
        assert "mean 10-m wind" in doc["text"]["en"]
