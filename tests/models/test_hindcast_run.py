"""``airwarn hindcast`` end to end on a tiny real slice (2 Beijing stations, March–April 2013;
tests/data/uci, CC BY 4.0): the command's files, the training fold in a worker process
(``--jobs 2``) giving the same decisions and verification as one process, and a training period
too short for any issue day refused with one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airwarn.flows.cli import app
from typer.testing import CliRunner

DATA = Path(__file__).resolve().parents[1] / "data"
DOMAIN = """name: beijing_slice
reader: prsa
files: ['uci/PRSA_Data_D*_20130301-20130429.csv']
neighbour_radius_km: 60
pollutants: [pm25, o3]
stations: [{id: Dongsi, lat: 39.9522, lon: 116.434}, {id: Dingling, lat: 40.2865, lon: 116.170}]
"""
#: observed daily PM2.5 (µg/m³) of the slice in the test days: Dongsi 04-21…04-23 125 / 167 / 196,
#: Dingling 04-22…04-23 183 / 180 — one episode of yellow or higher at each station
DAYS = ["--train-end", "2013-04-16", "--test-start", "2013-04-17", "--test-end", "2013-04-29",
        "--met", "perfect", "--select-fold-days", "6", "--fold-scheme", "last", "--light"]


def _run(dom: Path, out: Path, jobs: int) -> str:
    res = CliRunner().invoke(app, ["hindcast", "--domain", str(dom), *DAYS, "--out", str(out),
                                   "--jobs", str(jobs)])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRWARN_DATASETS_DIR", str(DATA))
    dom = tmp_path / "slice.yaml"
    dom.write_text(DOMAIN)
    return dom


def test_hindcast_command_one_and_two_processes_agree(domain: Path, tmp_path: Path) -> None:
    out2 = _run(domain, tmp_path / "j2", jobs=2)
    assert "in a worker process" in out2 and "chosen on the training fold" in out2
    _run(domain, tmp_path / "j1", jobs=1)
    for name in ("decisions.jsonl", "decisions_persistence.jsonl",
                 "decisions_climatology.jsonl", "decisions_hindsight.jsonl"):
        a = (tmp_path / "j1" / name).read_text(encoding="utf-8")
        b = (tmp_path / "j2" / name).read_text(encoding="utf-8")
        assert a == b, name
    v1 = json.loads((tmp_path / "j1" / "verification.json").read_text(encoding="utf-8"))
    v2 = json.loads((tmp_path / "j2" / "verification.json").read_text(encoding="utf-8"))
    assert v1["colour"] == v2["colour"] and v1["baselines"] == v2["baselines"]
    assert v1["trigger"] == v2["trigger"]
    # the shape: per lead day pod/far/csi/hits/misses/false_alarms/mean_lead_h
    for lead in ("D+1", "D+2", "D+3"):
        assert {"pod", "far", "csi", "hits", "misses", "false_alarms",
                "mean_lead_h"} <= set(v2["colour"][lead])
    assert set(v2["baselines"]) == {"persistence", "climatology"}
    # hindsight (the observed days as the forecast) catches every observed episode day at D+1
    # and D+2, at least a day ahead; the model's POD is at most its POD
    hs = v2["reference"]["hindsight"]["colour"]
    assert hs["D+1"]["pod"] == 1.0 and hs["D+2"]["pod"] == 1.0 and hs["D+1"]["misses"] == 0
    assert v2["reference"]["hindsight"]["episodes"]["caught"] == v2["episodes"]["n"]
    assert all(v2["colour"][k]["hits"] <= hs[k]["hits"] for k in ("D+1", "D+2"))
    # two observed episodes (one a station); persistence warns them a day late: 2 issues, 2 lifts
    assert v2["episodes"]["n"] == 2
    assert v2["baselines"]["persistence"]["actions"]["issue"] == 2
    assert v2["baselines"]["persistence"]["actions"]["lift"] == 2
    assert v2["baselines"]["persistence"]["colour"]["D+1"]["hits"] == 1
    # where the D+1 errors are, per system: every miss and false alarm in one AQI band
    br = v2["error_breakdown"]
    assert set(br) == {"model", "persistence", "climatology", "hindsight (reference)"}
    for name, v in [("model", v2), ("persistence", v2["baselines"]["persistence"])]:
        bands = {k: n for k, n in br[name]["false_alarms"].items() if k.startswith("aqi")}
        assert sum(bands.values()) == v["colour"]["D+1"]["false_alarms"]
        assert sum(n for k, n in br[name]["misses"].items() if k.startswith("aqi")) == \
            v["colour"]["D+1"]["misses"]
    assert br["persistence"]["misses"].get("onset", 0) >= 1   # it warns a day late
    pers = [json.loads(x) for x in
            (tmp_path / "j2" / "decisions_persistence.jsonl").read_text().splitlines()]
    assert {d["action"] for d in pers if d["level"] != "none"} >= {"issue"}
    assert (tmp_path / "j2" / "report.html").stat().st_size > 1000


def test_hindcast_training_period_too_short(domain: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["hindcast", "--domain", str(domain), "--train-end",
                                   "2013-04-02", "--test-start", "2013-04-03", "--test-end",
                                   "2013-04-10", "--light", "--jobs", "1",
                                   "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "training period too short" in res.output and "2013-04-01" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x" / "decisions.jsonl").exists()


def test_hindcast_history_record_and_no_history(domain: Path, tmp_path: Path) -> None:
    """A domain's history record (the US Embassy monitor extending 东四 Dongsi back to 2013-02,
    tests/data/uci) is trained on and named in the verification; ``--no-history`` leaves it
    out in every phase, the training fold's worker process included."""
    hist = tmp_path / "hist.yaml"
    hist.write_text(DOMAIN + (
        "history:\n  - {reader: five_cities, file: uci/BeijingPM20130201_20130429.csv,\n"
        "     station: beijing_us_post, unit: Dongsi, overlap_until: '2013-04-10',\n"
        "     min_overlap_hours: 500}\n"))
    _run(hist, tmp_path / "with", jobs=1)
    v = json.loads((tmp_path / "with" / "verification.json").read_text(encoding="utf-8"))
    assert [(r["station"], r["unit"]) for r in v["meta"]["history"]] == \
        [("beijing_us_post", "Dongsi")]
    res = CliRunner().invoke(app, ["hindcast", "--domain", str(hist), *DAYS, "--out",
                                   str(tmp_path / "without"), "--jobs", "2", "--no-history"])
    assert res.exit_code == 0, res.output
    v = json.loads((tmp_path / "without" / "verification.json").read_text(encoding="utf-8"))
    assert v["meta"]["history"] == []
    for phase in ("backtest", "fold"):
        key = json.loads((tmp_path / "without" / phase / "hindcast_key.json").read_text())
        assert key["history"] is False, phase
        assert "history" not in json.loads(
            (tmp_path / "with" / phase / "hindcast_key.json").read_text())
    # the record is trained on: a month more of Dongsi changes the daily test forecasts (the
    # hourly path is persistence without --hourly)
    import numpy as np
    import xarray as xr

    with xr.open_dataset(tmp_path / "with" / "backtest" / "backtest.nc") as a, \
            xr.open_dataset(tmp_path / "without" / "backtest" / "backtest.nc") as b:
        assert a["pm25_daily"].shape == b["pm25_daily"].shape
        assert not np.allclose(a["pm25_daily"].values, b["pm25_daily"].values, equal_nan=True)


def test_a_sub_region_forecast_from_its_stations_is_their_mean(domain: Path,
                                                               tmp_path: Path) -> None:
    """``sub_region_models: members``: the stations' models, their forecasts averaged into the
    sub-region, which the warnings and the verification are for."""
    import numpy as np
    import xarray as xr

    city = tmp_path / "city.yaml"
    city.write_text(DOMAIN.replace(
        "stations: [{id: Dongsi, lat: 39.9522, lon: 116.434}, {id: Dingling, lat: 40.2865, "
        "lon: 116.170}]",
        "stations: [{id: Dongsi, lat: 39.9522, lon: 116.434, sub_region: bj},\n"
        "           {id: Dingling, lat: 40.2865, lon: 116.170, sub_region: bj}]\n"
        "sub_regions: [{id: bj, name: 北京市}]\nsub_region_models: members"))
    _run(domain, tmp_path / "stations", jobs=1)
    _run(city, tmp_path / "city", jobs=1)
    st = xr.load_dataset(tmp_path / "stations" / "backtest" / "backtest.nc")
    ct = xr.load_dataset(tmp_path / "city" / "backtest" / "backtest.nc")
    assert ct["region"].values.tolist() == ["bj"]
    assert str(ct["region_name"].values[0]) == "北京市"
    np.testing.assert_allclose(ct["pm25_daily"].isel(region=0).values,
                               st["pm25_daily"].mean("region").values)
    np.testing.assert_allclose(ct["pm25_daily_q"].isel(region=0).values,
                               st["pm25_daily_q"].mean("region").values)
    v = json.loads((tmp_path / "city" / "verification.json").read_text(encoding="utf-8"))
    assert v["meta"]["units"] == ["bj"] and v["meta"]["unit_names"] == {"bj": "北京市"}
    # the city's observed days (the mean of the two stations) are what its warnings are scored
    # against: AQI 154 / 226 / 240 on 04-21 … 04-23 (PM2.5 118 / 175 / 189 µg/m³), one episode
    d1 = v["colour"]["D+1"]
    assert d1["hits"] + d1["misses"] == 3 and d1["n_days"] == 12  # 04-18 … 04-29
    assert sorted(d1["hit_dates"] + d1["miss_dates"]) == [
        "bj:2013-04-21", "bj:2013-04-22", "bj:2013-04-23"]
    dec = [json.loads(x) for x in (tmp_path / "city" / "decisions_hindsight.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    assert dec and {u for d in dec for u in d["unit_ids"]} == {"bj"}


@pytest.mark.parametrize("days, message", [
    (["--train-end", "2013-04-16", "--test-start", "2013-04-25", "--test-end", "2013-04-20"],
     "test_start (--test-start) 2013-04-25 is after test_end (--test-end) 2013-04-20"),
    (["--train-end", "2013-04-20", "--test-start", "2013-04-17", "--test-end", "2013-04-29"],
     "train_end (--train-end) 2013-04-20 is not before test_start (--test-start) 2013-04-17: "
     "the models would be trained on the days they forecast; expected train_end ≤ 2013-04-16"),
    (["--train-end", "soon", "--test-start", "2013-04-17", "--test-end", "2013-04-29"],
     "train_end (--train-end): 'soon' is not a date; expected e.g. 2016-01-31"),
])
def test_hindcast_nonsensical_days_refused_before_any_work(domain: Path, tmp_path: Path,
                                                           days: list[str], message: str) -> None:
    # a reversed test period trained for minutes then ended in an IndexError; a training
    # period reaching into the test period ran to the end and verified look-ahead forecasts
    out = tmp_path / "x"
    res = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["hindcast", "--domain", str(domain), *days, "--light", "--jobs", "1",
              "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert f"error: {message}" in res.output
    assert "training" not in res.output  # refused before the models were trained
    assert not out.exists()


def test_hindcast_last_fold_too_short_to_score_is_refused(domain: Path, tmp_path: Path) -> None:
    res = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["hindcast", "--domain", str(domain), "--train-end", "2013-04-16", "--test-start",
              "2013-04-17", "--test-end", "2013-04-29", "--select-fold-days", "2",
              "--fold-scheme", "last", "--light", "--jobs", "1", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2, res.output
    assert ("select_fold_days (--select-fold-days) 2: the last fold would score no issue day "
            "(its issues end 3 days before train_end, 2013-04-13); expected at least 4") \
        in res.output
