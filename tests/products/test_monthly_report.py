"""The monthly 会商 report: built from a demo-world month (forecast archive + observation store +
warnings) and from a backtest NetCDF + observations through ``airwarn verify``."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from airwarn.models.verify.match import load_obs_units
from airwarn.models.verify.synthetic import synthetic_archive, write_run_files

from airwarn import configs

UNITS = ["chengdu", "deyang", "cq_central", "zigong"]


def _img(html: str, alt_start: str) -> bytes:
    m = re.search(r'<img alt="' + re.escape(alt_start) + r'[^"]*" src="data:image/png;base64,([^"]+)"',
                  html)
    assert m, f"no inline image for {alt_start}"
    return base64.b64decode(m.group(1))


@pytest.fixture(scope="module")
def demo_month(demo_world, tmp_path_factory):
    """A data directory with the demo world's observations, 16 archived runs of January 2026 that
    forecast them (with error), and one warning decision file."""
    ddir = tmp_path_factory.mktemp("month")
    shutil.copytree(demo_world.data_dir / "obs", ddir / "obs")
    truth = load_obs_units(ddir, "2025-12-25T00:00Z", "2026-01-21T00:00Z", demo_world.stations,
                           UNITS)
    ds, _ = synthetic_archive(UNITS, "2026-01-01", 16, seed=9, truth=truth, n_leads=81)
    write_run_files(ds, ddir / "forecasts")
    card = ddir / "models" / "pm25" / "synthetic-1" / "card.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps({"pollutant": "pm25", "version": "synthetic-1",
                                "created": "2025-12-31T12:00:00+08:00",
                                "library_versions": {"lightgbm": "4.5.0"}}), encoding="utf-8")
    other = ddir / "models" / "o3" / "old-version" / "card.json"  # not used by these forecasts
    other.parent.mkdir(parents=True)
    other.write_text("{}", encoding="utf-8")
    (ddir / "warnings").mkdir()
    dec = [{"decision_id": "demo-y1", "issue_time": "2026-01-05T15:00:00+08:00",
            "unit_ids": ["chengdu", "deyang"], "level": "yellow", "action": "issue",
            "start": "2026-01-06", "end": "2026-01-08"}]
    (ddir / "warnings" / "20260105T1500.json").write_text(json.dumps(dec), encoding="utf-8")
    cfg = configs.load_config()
    cfg = configs.AirwarnConfig(settings=cfg.settings.model_copy(update={"data_dir": ddir}),
                                region=cfg.region, stations=demo_world.stations)
    return ddir, cfg


def test_report_builds_for_a_demo_world_month(demo_month):
    from airwarn.products.monthly_report import render_monthly_report

    ddir, cfg = demo_month
    paths = render_monthly_report("2026-01", data_dir=ddir, config=cfg, pdf=True, bootstrap=False)
    assert paths["html"] == ddir / "reports" / "monthly" / "2026-01" / "monthly_report_2026-01.html"
    html = paths["html"].read_text(encoding="utf-8")
    for heading in ("均方根误差 RMSE", "平均偏差 MB", "AQI级别准确率 level accuracy",
                    "AQI范围准确率 range accuracy", "首要污染物准确率 primary-pollutant accuracy",
                    "空报率 FAR (false-alarm ratio)", "误报概率 POFD (false-alarm rate)",
                    "五、污染事件检验 Event verification", "九、预警发布与检验 Warnings issued and verified",
                    "十、数据完整性 Data availability", "synthetic-1",
                    "hourly concentrations pooled by lead day", "决定方 decided by"):
        assert heading in html, heading
    png = _img(html, "性能图 performance diagram")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    for alt in ("均方根误差与技巧随预见期变化", "可靠性图", "各区域 D+1", "PM2.5 日均："):
        assert _img(html, alt).startswith(b"\x89PNG")
    assert "synthetic demonstration data" in html  # the forecast files say source = synthetic
    assert "models/pm25/synthetic-1/card.json" in html and "old-version" not in html
    assert "http://" not in html and "https://" not in html  # self-contained
    # the warning in the register files was verified
    res = json.loads(paths["json"].read_text(encoding="utf-8"))
    wl = res["tables"]["warnings_list"]
    assert [(w["unit_id"], w["level"]) for w in wl] == [("chengdu", "yellow"), ("deyang", "yellow")]
    assert all(w["hit"] in (True, False) for w in wl)
    assert res["meta"]["period"] == ["2026-01-01", "2026-01-31"]
    assert res["meta"]["n_issues"] == 16
    av = {r["unit_id"]: r for r in res["tables"]["availability"]}
    assert av["chengdu"]["hours_expected"] == 31 * 24
    assert 0 < av["chengdu"]["pm25_valid_hours"] <= 20 * 24  # the demo world ends on 2026-01-20
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(paths["pdf"]), "-"], capture_output=True,
                              text=True, check=True).stdout
        assert "均方根误差" in text and "月度会商检验报告" in text  # CJK font embedded


def test_airwarn_verify_on_a_backtest(tmp_path):
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    ds, obs = synthetic_archive(["chengdu", "meishan"], "2025-12-29", 35, seed=12)
    bt = tmp_path / "backtest.nc"
    ds.to_netcdf(bt)
    op = tmp_path / "obs.parquet"
    obs.to_parquet(op)
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["verify", "--month", "2026-01", "--backtest", str(bt),
                                 "--obs", str(op), "--out", str(out), "--no-pdf",
                                 "--no-bootstrap"])
    assert r.exit_code == 0, r.output
    assert "D+3" in r.output and f"html: {out / 'monthly_report_2026-01.html'}" in r.output
    # long work shows its progress: plain time-stamped lines when not on a terminal
    assert "verification 2026-01" in r.output and "scoring 2026-01 (backtest)" in r.output
    assert "figures" in r.output and "report (HTML)" in r.output
    html = (out / "monthly_report_2026-01.html").read_text(encoding="utf-8")
    assert "backtest backtest.nc" in html and "均方根误差 RMSE" in html
    assert "warnings not verified" in html  # a backtest has no warning record
    assert _img(html, "性能图").startswith(b"\x89PNG")
    assert not (out / "monthly_report_2026-01.pdf").exists()
    res = json.loads((out / "verification_2026-01.json").read_text(encoding="utf-8"))
    d1 = [r_ for r_ in res["tables"]["continuous_daily"]
          if r_["group"] == "ALL" and r_["variable"] == "pm25" and r_["lead_day"] == 1][0]
    assert d1["n"] == 31 * 2 and 0 < d1["rmse"] < 100


def test_airwarn_verify_bad_inputs(tmp_path):
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["verify", "--month", "2026-1x", "--backtest", str(tmp_path)])
    assert r.exit_code == 2 and "YYYY-MM" in r.output
    r = CliRunner().invoke(app, ["verify", "--month", "2026-01", "--backtest",
                                 str(tmp_path / "nope.nc")])
    assert r.exit_code == 2 and "nope.nc" in r.output
    junk = tmp_path / "junk.nc"
    junk.write_text("x")
    r = CliRunner().invoke(app, ["verify", "--month", "2026-01", "--backtest", str(junk),
                                 "--obs", str(tmp_path)])
    assert r.exit_code == 2 and "junk.nc" in r.output and "cannot read" in r.output
    text = " ".join(r.output.split())
    assert text.count("error:") == 1 and "http" not in text
    assert "junk.nc: cannot read as NetCDF (no NetCDF engine recognises its bytes); expected " \
        "a forecast or backtest NetCDF file" in text


def _mini_domain(path: Path, station_extra: str = "", tail: str = "") -> Path:
    """A backtest domain file of the two stations of tests/data/uci (东四, 定陵)."""
    path.write_text(
        f"name: {path.stem}\nreader: prsa\n"
        "files: ['uci/PRSA_Data_Dongsi_20130301-20130429.csv', "
        "'uci/PRSA_Data_Dingling_20130301-20130429.csv']\n"
        "pollutants: [pm25, o3]\n"
        "source: UCI Beijing Multi-Site Air-Quality Data (Zhang et al. 2017), CC BY 4.0\n"
        f"stations:\n  - {{id: Dongsi, name: 东四, lat: 39.9522, lon: 116.434{station_extra}}}\n"
        f"  - {{id: Dingling, name: 定陵, lat: 40.2865, lon: 116.170{station_extra}}}\n" + tail,
        encoding="utf-8")
    return path


def test_airwarn_verify_on_real_beijing_observations(tmp_path, monkeypatch):
    """A month of the real Beijing benchmark (UCI PRSA slice in tests/data, CC BY 4.0): observations
    through a backtest domain file, forecasts in the backtest format that track them with error."""
    from airwarn.flows.cli import app
    from airwarn.products.monthly_report import _domain
    from typer.testing import CliRunner

    data = Path(__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(data))
    dom = _mini_domain(tmp_path / "beijing_mini.yaml")
    obs, points = _domain(dom)
    assert set(obs["unit_id"]) == {"Dongsi", "Dingling"} and points["Dongsi"][2] == "东四"
    ds, _ = synthetic_archive(["Dongsi", "Dingling"], "2013-03-02", 29, seed=3, truth=obs,
                              n_leads=81)
    bt = tmp_path / "backtest.nc"
    ds.to_netcdf(bt)
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["verify", "--month", "2013-03", "--backtest", str(bt), "--obs",
                                 str(dom), "--out", str(out), "--no-pdf", "--no-bootstrap"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "verification_2013-03.json").read_text(encoding="utf-8"))
    assert res["meta"]["points"]["Dingling"][:2] == [116.17, 40.2865]
    obs_aqi = [x for x in res["tables"]["daily_series"] if x["variable"] == "aqi"]
    # real March 2013 Beijing: several heavily polluted days (daily AQI > 200) at Dongsi
    assert sum(1 for x in obs_aqi if x["unit_id"] == "Dongsi" and x["lead_day"] == 1
               and (x["observed"] or 0) > 200) >= 3
    html = (out / "monthly_report_2013-03.html").read_text(encoding="utf-8")
    assert _img(html, "各区域 D+1").startswith(b"\x89PNG")  # station map from the domain points
    assert "2013-03 空气质量预报月度检验报告（基准数据）" in html and "成渝地区" not in html


def test_a_domain_of_sub_regions_gives_the_sub_regions_observations_and_points(tmp_path,
                                                                               monkeypatch):
    """The monthly report verifies what the backtest forecast: a domain's sub-regions (北京市
    of 东四 and 定陵, the real UCI slice), not its stations — whatever the sub-regions train on."""
    from airwarn.products.monthly_report import _domain

    data = Path(__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(data))
    dom = _mini_domain(tmp_path / "beijing_mini_city.yaml", ", sub_region: bj",
                       "sub_regions:\n  - {id: bj, name: 北京市}\nsub_region_models: members\n")
    obs, points = _domain(dom)
    assert set(obs["unit_id"]) == {"bj"}
    assert points == {"bj": [pytest.approx(116.302), pytest.approx(40.11935), "北京市"]}
