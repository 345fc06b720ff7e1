"""Forecaster review report: contents, self-containment, and a real headless-Chromium screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.products.report import aqi_range, range_label, render_review_report
from PIL import Image
from products_fixtures import make_decision, make_forecast, make_obs_units

from airwarn import configs

CHROMIUM = "/usr/bin/chromium"
UNITS = ["chengdu", "zigong", "cq_central", "bazhong"]


def test_range_label_national_format() -> None:
    assert range_label(155, 185, "HJ633_2026") == ("四级", "中度污染")
    assert range_label(85, 115, "HJ633_2026") == ("二至三级", "良至轻度污染")
    assert range_label(140, 160, "HJ633_2026") == ("三至四级", "轻度至中度污染")
    assert range_label(40, 60, "HJ633_2026", "en") == ("1–2", "Excellent to Good")


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory, rendered_maps) -> tuple[Path, object]:
    cfg = configs.load_config()
    ds = make_forecast(UNITS, with_nan_unit="bazhong")
    ds["fallback_reason"].loc[{"region": "zigong", "pollutant": "o3"}] = "<b>no O3 model</b>"
    dec = make_decision(reason_zh="预计成都平原日AQI持续大于200<script>x</script>")
    out = tmp_path_factory.mktemp("report") / "report.html"
    path = render_review_report(ds, [dec], make_obs_units(UNITS), out, config=cfg,
                                maps=rendered_maps[0])
    return path, ds


def test_report_contents_and_self_contained(report) -> None:
    path, ds = report
    html = path.read_text(encoding="utf-8")
    assert "file://" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert html.count('src="data:image/png;base64,') == 9 + len(UNITS)  # maps + series
    assert "data:font/woff2;base64," in html  # CJK subset embedded
    lo, hi = aqi_range(ds, "chengdu", 1)
    assert f"{lo}–{hi}" in html and "五级 重度污染" in html and "首要污染物 PM2.5" in html
    assert "NA" in html  # bazhong has no forecast
    assert "合成演示数据 synthetic demo" in html
    assert "尚无检验结果 no verification yet" in html
    assert "&lt;b&gt;no O3 model&lt;/b&gt;" in html and "<b>no O3 model" not in html
    assert "climatology" in html and "1431A" in html  # fallback method, missing station
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "cy-20261201T1500-orange-1" in html


def test_report_with_scores(tmp_path: Path) -> None:
    cfg = configs.load_config()
    ds = make_forecast(["chengdu"])
    scores = pd.DataFrame({"pollutant": ["pm25", "o3"], "MAE": [12.345, 18.1],
                           "level_accuracy": [0.71, 0.64]})
    path = render_review_report(ds, [], None, tmp_path / "r.html", config=cfg, maps=[],
                                scores=scores)
    html = path.read_text(encoding="utf-8")
    assert "level_accuracy" in html and "12.3" in html and "no verification yet" not in html
    assert "本次无预警决策" in html


@pytest.mark.browser
def test_report_screenshot_in_headless_chromium(report, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} absent: run scripts/system-deps.sh (make install does)")
    path, _ = report
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1400,2000", path.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (2000, 1400)
    assert img.std() > 30  # not a blank page
    flat = img.reshape(-1, 3)
    for hex_colour in ("#FF7E00", "#FF0000", "#99004C", "#263238"):
        target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(flat - target).sum(axis=1) < 8).sum() > 2000, hex_colour
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
