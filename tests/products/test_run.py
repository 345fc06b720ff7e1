"""Re-rendering a stored run: ``products.run.render_products`` and ``airwarn products``."""

from __future__ import annotations

from pathlib import Path

import pytest
from airwarn.alerts.warning import WarningDecision, write_decisions
from airwarn.features.store import write_obs
from airwarn.models.forecast import write_forecast
from products_fixtures import ISSUE, make_decision, make_forecast, make_obs_units
from typer.testing import CliRunner

UNITS = ["chengdu", "deyang", "zigong", "rongchang"]


@pytest.fixture
def stored_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir holding a forecast file and a warnings file written by their real writers."""
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(tmp_path))
    write_forecast(make_forecast(UNITS), tmp_path)
    dec = make_decision(units=tuple(UNITS))
    for k in ("meteorology_zh", "meteorology_en"):
        dec.pop(k)
    write_decisions([WarningDecision.from_dict(dec)],
                    tmp_path / "warnings" / f"{ISSUE.strftime('%Y%m%dT%H%M')}.json", ISSUE)
    # station observations of the seat stations (one per unit) for the report's series
    obs = make_obs_units(UNITS).rename(columns={"unit_id": "station_id"})
    obs["station_id"] = "seat_" + obs["station_id"]
    for col in ("pm10", "no2", "so2", "co"):
        obs[col] = float("nan")
    obs["qc"] = 0
    write_obs(obs, tmp_path)
    return tmp_path


def test_airwarn_products_rerenders_a_stored_run(stored_run: Path) -> None:
    from airwarn.flows.cli import app

    res = CliRunner().invoke(app, ["products", "--issue-time", "2026-12-01T15:00", "--no-pdf"])
    assert res.exit_code == 0, res.output
    out = stored_run / "products" / "20261201T1500"
    assert sorted(p.name for p in (out / "maps").iterdir()) == [
        "aqi_d1.png", "aqi_d2.png", "aqi_d3.png", "o3_mda8.png", "overview.png", "p_aqi_gt_150.png",
        "p_aqi_gt_200.png", "p_aqi_gt_300.png", "pm25_daily.png"]  # stored run without a cycle
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "cy-20261201T1500-orange-1" in html and "成都市" in html
    stem = "cy-20261201T1500-orange-1"
    assert {p.name for p in (out / "bulletins").iterdir()} == {
        f"{stem}.{k}" for k in ("zh.html", "zh.md", "en.html", "en.md", "json", "cap.xml")}
    md = (out / "bulletins" / f"{stem}.zh.md").read_text(encoding="utf-8")
    assert "演习/示例" in md and "川西水泥有限公司" in md  # source read from the forecast file
    assert "report.html" in res.output


def test_airwarn_products_missing_run_is_a_clear_error(stored_run: Path) -> None:
    from airwarn.flows.cli import app

    res = CliRunner().invoke(app, ["products", "--issue-time", "2026-12-02T15:00"])
    assert res.exit_code == 2
    assert "no forecast for issue time 20261202T1500" in res.output
    assert "forecasts/20261202T1500.nc" in res.output
    assert not (stored_run / "products" / "20261202T1500").exists()
