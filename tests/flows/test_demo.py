"""``airwarn demo`` end to end on a tiny world (30 days, 1 backfilled day).

30 days is too short to train on (``train_models`` needs 60 issue days): the demo says so and
every forecast falls back to the baselines, named in the products — the degraded path of a new
installation. Training itself is covered by the daily-flow fixtures (tests/flows/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from airwarn import configs


@pytest.fixture
def small_config_dir(tmp_path) -> Path:
    """A copy of configs/ whose models.yaml trains small models (fast)."""
    d = tmp_path / "configs"
    shutil.copytree(configs.CONFIG_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    m = yaml.safe_load((d / "models.yaml").read_text(encoding="utf-8"))
    for part in ("daily", "hourly"):
        m[part].update(num_boost_round=30, learning_rate=0.15, num_leaves=15, min_data_in_leaf=20)
    m["hourly_lead_stride"] = 6
    (d / "models.yaml").write_text(yaml.safe_dump(m, allow_unicode=True), encoding="utf-8")
    return d


def test_airwarn_demo_smoke(prefect_harness, tmp_path, small_config_dir, monkeypatch):
    pytest.importorskip("airwarn.models.train")
    from airwarn.flows.cli import app

    data = tmp_path / "data"
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(data))
    monkeypatch.setenv("AIRWARN_CONFIG_DIR", str(small_config_dir))
    monkeypatch.setenv("AIRWARN_DEMO_DAYS", "30")
    monkeypatch.setenv("AIRWARN_DEMO_BACKFILL_DAYS", "1")
    result = CliRunner().invoke(app, ["demo", "--end", "2026-01-20T15:00"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = result.output
    assert "observed daily AQI level counts" in out
    assert "products of the 20260120T1500 run" in out
    # today's inputs took the real path: written as GRIB2/CNEMC/CMA, served, fetched, ingested
    assert "338 file(s) fetched, 338 ingested, 0 quarantined" in out
    assert "ecmwf-ifs: cycle 2026-01-20T00:00:00+00:00 used" in out
    # the backfilled day's two issue times and today's run are in the archive
    stamps = sorted(p.stem for p in (data / "forecasts").glob("*.nc"))
    assert stamps == ["20260119T1500", "20260120T0500", "20260120T1500"]
    manifest = json.loads((data / "products" / "20260120T1500" / "manifest.json").read_text())
    assert manifest["status"] in ("complete", "partial")
    assert not [s for s in manifest["stages"] if s["status"] == "failed"]
    assert (data / "products" / "20260120T1500" / "report.html").exists()
    assert "not trained" in out and "need at least 60" in out
    assert any(d.startswith("forecast fallback pm25: climatology for all 31 units")
               for d in manifest["degraded_inputs"])
    monthly = data / "reports" / "monthly" / "2026-01"
    assert (monthly / "manifest.json").exists()
