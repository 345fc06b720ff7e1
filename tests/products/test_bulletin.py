"""Bulletins: contents, languages, formats, escaping, all-clear, PDF with the CJK font."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from airwarn.products.bulletin import build_bulletin, bulletin_markdown, md_escape, render_bulletins
from products_fixtures import config_copy, make_decision

from airwarn import configs

EVIL = '<script>alert("x")</script>'


def _pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils, scripts/system-deps.sh) not installed")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_chinese_bulletin_has_the_official_contents(tmp_path: Path, config) -> None:
    paths = render_bulletins(make_decision(), config, tmp_path, source="synthetic demo")
    assert set(paths) == {"zh.html", "zh.pdf", "zh.md", "en.html", "en.pdf", "en.md", "json",
                          "cap.xml"}
    assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    md = paths["zh.md"].read_text(encoding="utf-8")
    for needle in ("# 成渝地区区域重污染天气橙色预警", "**预警级别**: 橙色预警（Ⅱ级响应）",
                   "**首要污染物**: PM2.5", "四川省：成都市、德阳市、自贡市", "重庆市：荣昌区",
                   "**发布单位**: 川渝大气污染联防联控预报预警中心（示例）",
                   "2026年12月2日 00时 至 2026年12月4日 00时", "**气象条件**: 静稳天气",
                   "演习/示例（合成演示数据 synthetic demo）", "值班电话 028-0000-0000（示例）",
                   "减少20%以上", "| 成都市 | 235 | 260 | 180 |"):
        assert needle in md, needle
    # 健康提示: level texts of the top AQI (318 → 六级 严重污染) and the PM2.5 sensitive groups
    assert "六级 严重污染" in md and "患有心血管系统疾病或呼吸系统疾病（如哮喘）的人" in md
    # 高架源 list per unit: enterprise, stack, measure; the non-elevated plant is not in it
    elevated = md.split("### 高架源清单")[1].split("##")[0]
    assert "成都市：川西水泥有限公司 — DA001 熟料窑 (80 m) — 停产" in elevated
    assert r"德阳市：德阳热电厂 — 1\#烟囱 120 m — 限产 30%" in elevated  # "#" escaped
    assert "荣昌陶瓷厂" not in elevated and "| 荣昌陶瓷厂 | 停产 halt kiln | — |" in md
    assert "| 成都市 | NOX | 20.00 | 23.50 | 达标 |" in md
    assert "| 德阳市 | PM | 8.00 | 5.00 | 未达标 |" in md
    en = paths["en.md"].read_text(encoding="utf-8")
    assert "Orange" in en and "Level II response" in en and "Chengdu, Deyang, Zigong" in en
    assert "output cut by 30 %" in en and "production halted" in en
    assert "Exercise / example (synthetic demo)" in en
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["decision"]["decision_id"] == "cy-20261201T1500-orange-1"
    assert doc["text"]["zh"] == md
    html = paths["zh.html"].read_text(encoding="utf-8")
    assert "成都市" in html and "#99004C" in html  # AQI 235 cell in the 重度污染 colour
    text = _pdf_text(paths["zh.pdf"])
    for needle in ("成渝地区区域重污染天气橙色预警", "首要污染物", "成都市", "高架源清单", "川西水泥有限公司"):
        assert needle in text, needle
    fonts = subprocess.run(["pdffonts", str(paths["zh.pdf"])], capture_output=True,
                           text=True).stdout
    assert "airwarn-CJK" in fonts


def test_meteorology_sentence_and_notice_kind(config) -> None:
    dec = make_decision()
    content = build_bulletin(dec, config, meteorology=("预报期间平均风速1.2 m/s", "wind 1.2 m/s"))
    assert content["meteorology"] == "预报期间平均风速1.2 m/s"
    dec.pop("meteorology_zh")
    assert "未提供气象条件说明" in build_bulletin(dec, config)["meteorology"]
    joint = make_decision()
    joint["condition"] = "日AQI>200持续48小时 / daily AQI > 200 for 48 h"
    joint["joint"] = {"kind": "joint", "source_units": ["chengdu"],
                      "acting_units": ["chengdu", "rongchang"], "levels": {}}
    md = bulletin_markdown(build_bulletin(joint, config))
    assert "**预警条件**: 日AQI&gt;200持续48小时" in md  # ">" escaped for Markdown
    assert "**区域联动**: 川渝联合预警：触发区域 成都市；联动响应区域 成都市、荣昌区" in md
    assert "daily AQI &gt; 200 for 48 h" in bulletin_markdown(build_bulletin(joint, config,
                                                                             lang="en"))
    held = make_decision(level="none", action="continue")
    notice = build_bulletin(held, config)
    assert notice["kind"] == "notice" and "无重污染天气预警" in notice["title"]
    assert notice["measures"] == [] and notice["response"] == ""


def test_advisories(config) -> None:
    pre = make_decision(level="none", action="advisory", units=("dazu",))
    b = build_bulletin(pre, config)
    assert b["kind"] == "advisory" and b["title"] == "成渝地区重污染天气预警前提示（PM2.5）"
    assert b["level_name"] == "预警前提示（未达黄色预警）" and b["measures"] == []
    o3 = make_decision(level="yellow", action="advisory", units=("chengdu",))
    o3["primary_pollutant"] = "O3_8h"
    b = build_bulletin(o3, config)
    assert b["title"] == "成渝地区臭氧污染健康提示" and b["level_name"] == "健康提示"
    assert "户外活动频繁的人" in b["health"]["sensitive"]  # T1.6 O3 row (2026 rule set)


def test_real_run_is_not_labelled_demo(config) -> None:
    content = build_bulletin(make_decision(), config, source="lightgbm on CNEMC obs")
    assert content["demo_label"] == ""
    assert "演习" not in bulletin_markdown(content)


def test_lift_gives_an_all_clear(config, tmp_path: Path) -> None:
    lift = make_decision(level="none", action="lift", decision_id="cy-20261203T1500-lift",
                         references=["cy-20261201T1500-orange-1"], reason_zh="", reason_en="")
    lift["previous_level"] = "orange"
    zh = build_bulletin(lift, config, lang="zh")
    # the fixture decision is regional: its lift title says 区域, like its warning titles
    assert zh["kind"] == "lift" and zh["title"] == "成渝地区区域重污染天气橙色预警解除"
    md = bulletin_markdown(zh)
    assert "## 预警解除" in md and "应急减排措施同时终止" in md
    assert "cy-20261201T1500-orange-1" in md and "高架源清单" not in md
    en = build_bulletin(lift, config, lang="en")
    assert "lifted" in en["title"]


def test_markup_cannot_inject(config, tmp_path: Path) -> None:
    cfg = config_copy(config)
    region = cfg.region
    region.unit("chengdu").name = f"成都{EVIL}"
    region.unit("chengdu").name_en = f"Chengdu{EVIL}"
    dec = make_decision(reason_zh=f"理由{EVIL}", reason_en=f"reason {EVIL} | # *x*",
                        decision_id=f"id{EVIL}")
    dec["control_orders"][0]["enterprise_name"] = f"厂{EVIL}"
    paths = render_bulletins(dec, cfg, tmp_path, pdf=False)
    for key in ("zh.html", "en.html", "zh.md", "en.md", "cap.xml"):
        text = paths[key].read_text(encoding="utf-8")
        assert "<script" not in text, key
        assert "&lt;script&gt;" in text, key
    assert all(p.parent == tmp_path for p in paths.values())  # the id cannot escape out_dir
    assert md_escape("a|b*c<d") == r"a\|b\*c&lt;d"
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["decision"]["reason_zh"] == f"理由{EVIL}"  # data kept verbatim in JSON


def test_decision_without_required_keys_is_a_clear_error(config, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks keys.*unit_ids"):
        render_bulletins({"decision_id": "d1", "level": "red"}, config, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def config():
    return configs.load_config()


def test_bulletin_says_which_cycle_and_observations_and_how_late(config, tmp_path: Path) -> None:
    from airwarn.products.basis import input_basis

    inputs = {"met": "cycle", "cycle": "2026-12-05T12:00:00+00:00", "cycle_age_h": 19.0,
              "missing_cycles": ["2026-12-06T00:00:00+00:00"],
              "obs_last_time": {"pm25": "2026-12-06T06:00:00+00:00",
                                "o3": "2026-12-06T05:00:00+00:00"},
              "arrival": {"met_source": "ecmwf-ifs", "met_late_h": 0.42, "obs_late_h": 0.0}}
    paths = render_bulletins(make_decision(), config, tmp_path, pdf=False, inputs=inputs)
    zh, en = paths["zh.md"].read_text(), paths["en.md"].read_text()
    assert "## 数据依据" in zh
    assert "- 气象预报：ecmwf-ifs 2026-12-05 12 时（世界时）起报（发布时已 19 小时），晚到 0.4 小时" in zh
    assert "- 观测：截至 2026-12-06 14:00，按时到达" in zh
    assert ("- Meteorology: ecmwf-ifs cycle 2026-12-05 12 UTC (19 h old at issue), 0.4 h late"
            in en)
    assert "<h2>Data used</h2>" in paths["en.html"].read_text()
    assert input_basis({"met": "cycle", "cycle": None, "missing_cycles": []}, "en") == [
        "Meteorology: no forecast cycle available (no future meteorology used)"]
    assert input_basis(None) == [] and input_basis({"met_source": "none"}) == []
    # a partial cycle whose later hours came from the previous cycle says so, in Beijing time
    partial = {"met": "cycle", "cycle": "2026-01-20T12:00:00+00:00", "cycle_age_h": 9.0,
               "stitched": [{"cycle": "2026-01-20T00:00:00+00:00", "hours": 51,
                             "from": "2026-01-22T13:00:00+00:00",
                             "to": "2026-01-24T15:00:00+00:00"}]}
    assert input_basis(partial)[1] == \
        "气象预报不完整：2026-01-22 21:00 起 51 小时取自 2026-01-20 00 时（世界时）起报"
    assert input_basis(partial, "en")[1] == ("Meteorology incomplete: 51 h from 2026-01-22 "
                                             "21:00 (Beijing time) taken from cycle 2026-01-20 "
                                             "00 UTC")
    from airwarn.features.run_inputs import met_notes

    assert met_notes(partial) == [
        "meteorology cycle 2026-01-20T12:00:00+00:00 partial: 51 h from 2026-01-22T13:00:00+00:00"
        " to 2026-01-24T15:00:00+00:00 taken from cycle 2026-01-20T00:00:00+00:00 "
        "(气象预报不完整，缺失时段用上一时次)"]
    plain = render_bulletins(make_decision(), config, tmp_path / "b", pdf=False)
    assert "数据依据" not in plain["zh.md"].read_text()
