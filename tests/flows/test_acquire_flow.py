"""``flows.acquire``: wait for the newest complete cycle up to the deadline, then fall back; the
inbox ingests what arrived. A real HTTP server on 127.0.0.1; the clock is the test's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from airwarn.configs.schema import AcquireSettings, Settings
from airwarn.configs.sources_schema import Source, Sources, load_sources
from airwarn.features.store import read_obs
from airwarn.flows.acquire import acquire_crons, fetch_and_ingest, next_issue_time
from airwarn.flows.loopback import serve_folder

DATA = Path(__file__).parents[1] / "data" / "ingest"
FAST = {"timeout_s": 0.5, "retries": 1, "backoff_s": 0.01}


def _grib2(seed: int) -> bytes:
    body = bytes((seed + i) % 251 for i in range(500))
    return b"GRIB\x00\x00\x00\x02" + (16 + len(body) + 4).to_bytes(8, "big") + body + b"7777"


def _ifs_file(root: Path, ref: str, step: int) -> None:
    t = pd.Timestamp(ref)
    p = root / f"{t:%Y%m%d}/{t:%H}z/ifs/0p25/oper/{t:%Y%m%d%H}0000-{step}h-oper-fc.grib2"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(_grib2(step + t.hour))


class Clock:
    """A clock that advances only when the flow sleeps."""

    def __init__(self, start: str, on_sleep=None) -> None:
        self.t = pd.Timestamp(start)
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self) -> pd.Timestamp:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += pd.Timedelta(seconds=s)
        if self.on_sleep:
            self.on_sleep(self)


def _sources(steps: tuple[int, ...] = (0, 3)) -> Sources:
    ifs = load_sources().get("ecmwf-ifs").model_dump()
    ifs.update(enabled=True, steps=list(steps), cycles_back=2, **FAST)
    return Sources(sources=[Source.model_validate(ifs)])


SETTINGS = Settings(acquire=AcquireSettings(start_min_before=60, deadline_min_before=10,
                                            poll_s=600))
# 15:00 Beijing = 07:00 UTC; IFS 00z is due from 06:00 UTC, expected complete 08:00 UTC


def test_waits_until_the_deadline_then_falls_back(tmp_path):
    root = tmp_path / "www"
    for s in (0, 3):
        _ifs_file(root, "2026-12-05T12Z", s)
    _ifs_file(root, "2026-12-06T00Z", 0)          # the newest cycle stops at step 0
    clock = Clock("2026-12-06T06:00Z")
    with serve_folder(root) as url:
        rec = fetch_and_ingest("2026-12-06T15:00", tmp_path / "d", base_urls={"*": url},
                               sources=_sources(), settings=SETTINGS, ingest=False,
                               clock=clock, sleep=clock.sleep)
    # polled every 600 s from 06:00 UTC to the deadline 06:50 UTC (15:00 Beijing − 10 min)
    assert clock.slept == [600.0] * 5
    assert clock.t == pd.Timestamp("2026-12-06T06:50Z")
    c = rec["cycles"]["ecmwf-ifs"]
    assert c["wanted"].startswith("2026-12-06T00:00") and c["wanted_steps"] == "1/2"
    assert c["fallback"] is True and c["used"].startswith("2026-12-05T12:00")
    assert c["used_age_h"] == 19.0
    saved = json.loads((tmp_path / "d" / "acquire" / "20261206T1500.json").read_text())
    assert saved["cycles"] == rec["cycles"] and saved["rounds"] == 6


STEPS = (0, 12, 24, 36, 48, 60, 72)
# the 15:00 Beijing issue of 2026-12-06: its D+1 ends 2026-12-08 00:00 Beijing = step 40 h of
# the 2026-12-06 00 UTC cycle


def _partial_run(tmp_path: Path, published: int, settings: Settings = SETTINGS) -> dict:
    root = tmp_path / "www"
    for s in STEPS:
        _ifs_file(root, "2026-12-05T12Z", s)
    for s in STEPS[:published]:
        _ifs_file(root, "2026-12-06T00Z", s)
    clock = Clock("2026-12-06T06:00Z")
    with serve_folder(root) as url:
        return fetch_and_ingest("2026-12-06T15:00", tmp_path / "d", base_urls={"*": url},
                                sources=_sources(STEPS), settings=settings, ingest=False,
                                clock=clock, sleep=clock.sleep)


def test_a_newest_cycle_reaching_the_end_of_d1_lands_partial_at_the_deadline(tmp_path):
    rec = _partial_run(tmp_path, published=5)          # steps 0 … 48 of 72
    c = rec["cycles"]["ecmwf-ifs"]
    assert c["wanted_steps"] == "5/7" and c["used"] == c["wanted"] and c["fallback"] is False
    assert c["partial"] == {"to_step_h": 48, "landed": 5,
                            "later_hours_from": "2026-12-05T12:00:00+00:00"}
    folder = tmp_path / "d/inbox/ecmwf-ifs/2026120600"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"20261206000000-{s}h-oper-fc.grib2" for s in sorted(STEPS[:5], key=str)]
    assert not (tmp_path / "d/inbox/.fetching/ecmwf-ifs/2026120600").exists()
    # the rest comes out after the issue: the next fetch lands it into the same folder
    for s in STEPS[5:]:
        _ifs_file(tmp_path / "www", "2026-12-06T00Z", s)
    from airwarn.features.acquire import fetch_sources

    with serve_folder(tmp_path / "www") as url:
        rep = fetch_sources(_sources(STEPS), tmp_path / "d", now=pd.Timestamp("2026-12-06T09:00Z"),
                            base_urls={"*": url})
    assert len(list(folder.iterdir())) == 7
    st = next(x for x in rep.cycles if x.cycle == pd.Timestamp("2026-12-06T00Z"))
    assert st.complete and st.landed


def test_a_partial_cycle_short_of_d1_or_with_land_partial_off_falls_back(tmp_path):
    short = _partial_run(tmp_path / "a", published=4)  # steps 0 … 36: D+1 ends at step 40
    c = short["cycles"]["ecmwf-ifs"]
    assert c["fallback"] is True and "partial" not in c
    assert c["used"].startswith("2026-12-05T12:00")
    assert not (tmp_path / "a/d/inbox/ecmwf-ifs/2026120600").exists()
    off = Settings(acquire=AcquireSettings(start_min_before=60, deadline_min_before=10,
                                           poll_s=600, land_partial=False))
    c = _partial_run(tmp_path / "b", published=5, settings=off)["cycles"]["ecmwf-ifs"]
    assert c["fallback"] is True and "partial" not in c


def test_the_newest_cycle_arriving_while_waiting_is_used(tmp_path):
    root = tmp_path / "www"
    for s in (0, 3):
        _ifs_file(root, "2026-12-05T12Z", s)
    _ifs_file(root, "2026-12-06T00Z", 0)

    def publish(clock: Clock) -> None:               # step 3 comes out at 06:20 UTC
        if clock.t >= pd.Timestamp("2026-12-06T06:20Z"):
            _ifs_file(root, "2026-12-06T00Z", 3)

    clock = Clock("2026-12-06T06:00Z", publish)
    with serve_folder(root) as url:
        rec = fetch_and_ingest("2026-12-06T15:00", tmp_path / "d", base_urls={"*": url},
                               sources=_sources(),
                               settings=Settings(acquire=AcquireSettings(poll_s=600)),
                               ingest=False, clock=clock, sleep=clock.sleep)
    c = rec["cycles"]["ecmwf-ifs"]
    assert c["fallback"] is False and c["used"] == c["wanted"] and c["wanted_steps"] == "2/2"
    assert rec["rounds"] == 3 and clock.t == pd.Timestamp("2026-12-06T06:20Z")
    assert sorted(p.name for p in (tmp_path / "d/inbox/ecmwf-ifs/2026120600").iterdir()) == [
        "20261206000000-0h-oper-fc.grib2", "20261206000000-3h-oper-fc.grib2"]


def test_fetched_station_files_are_ingested(tmp_path):
    root = tmp_path / "www"
    (root / "feed").mkdir(parents=True)
    shutil.copy(DATA / "china_sites_20260115.csv", root / "feed" / "china_sites_20260115.csv")
    src = Source(name="sites", enabled=True, kind="obs", base_url="https://x.invalid",
                 url="{base}/china_sites_{yyyymmdd}.csv", every_h=24, lookback_h=48,
                 timezone="Asia/Shanghai", **FAST)
    clock = Clock("2026-01-15T20:00Z")
    with serve_folder(root) as url:
        rec = fetch_and_ingest("2026-01-16T05:00", tmp_path / "d",
                               base_urls={"sites": url + "/feed"},
                               sources=Sources(sources=[src]), settings=SETTINGS, clock=clock,
                               sleep=clock.sleep)
    assert rec["fetched"] == {"sites": {"ok": 1, "missing": 1}} and rec["rounds"] == 1
    assert rec["inbox"]["ingested"] == ["china_sites_20260115.csv"]
    assert set(read_obs(tmp_path / "d")["station_id"]) >= {"1431A", "1418A"}


def test_schedule_helpers():
    assert acquire_crons([5, 15], 60) == ["0 4 * * *", "0 14 * * *"]
    assert acquire_crons([0], 30) == ["30 23 * * *"]
    t = next_issue_time(pd.Timestamp("2026-12-06T15:30", tz="Asia/Shanghai").to_pydatetime())
    assert t.isoformat() == "2026-12-07T05:00:00+08:00"


def test_demo_feed_is_served_fetched_and_ingested(tmp_path):
    from airwarn.features.acquire import feed_relpath
    from airwarn.flows.demo import feed_dir, fetch_demo_feed

    data = tmp_path / "d"
    srcs = _sources()
    sites = Source(name="sites", kind="obs", base_url="https://x.invalid",
                   url="{base}/daily/china_sites_{yyyymmdd}.csv", every_h=24, lookback_h=48,
                   timezone="Asia/Shanghai", **FAST)
    srcs = Sources(sources=[*srcs.sources, sites])
    feed = feed_dir(data)
    assert fetch_demo_feed(data, "2026-01-16T05:00", sources=srcs, say=lambda m: None) is None
    for step in (0, 3):   # the provider layout under feed/<source>/
        p = feed / "ecmwf-ifs" / feed_relpath(srcs.get("ecmwf-ifs"), "2026-01-15T12Z", step)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_grib2(step))
    rel = feed_relpath(sites, "2026-01-15T00:00+08:00")
    assert rel == "daily/china_sites_20260115.csv"
    (feed / "sites" / "daily").mkdir(parents=True)
    shutil.copy(DATA / "china_sites_20260115.csv", feed / "sites" / rel)
    lines: list[str] = []
    rec = fetch_demo_feed(data, "2026-01-16T05:00", sources=srcs, say=lines.append)
    assert rec["cycles"]["ecmwf-ifs"]["used"].startswith("2026-01-15T12:00")
    assert rec["fetched"]["sites"] == {"missing": 1, "ok": 1}   # the 16th is not out yet
    assert rec["inbox"]["ingested"][0] == "china_sites_20260115.csv"
    assert any("serving" in m and "127.0.0.1" in m for m in lines)


def test_a_quarantined_download_is_not_fetched_again(tmp_path):
    """The inbox moves a file it cannot read to quarantine/; the next fetch must not download
    the same bytes again (the ledger knows them)."""
    root = tmp_path / "www"
    for s in (0, 3):
        _ifs_file(root, "2026-12-05T12Z", s)
    clock = Clock("2026-12-06T06:00Z")
    with serve_folder(root) as url:
        for k in range(2):
            rec = fetch_and_ingest("2026-12-06T15:00", tmp_path / "d", base_urls={"*": url},
                                   sources=_sources(), settings=SETTINGS, wait=False,
                                   clock=clock, sleep=clock.sleep)
            fetched = rec["fetched"]["ecmwf-ifs"]
            if k == 0:
                assert fetched["ok"] == 2 and len(rec["inbox"]["quarantined"]) == 2
            else:
                assert fetched.get("ok", 0) == 0 and fetched["have"] == 2
                assert rec["inbox"]["quarantined"] == []


def test_a_round_waits_while_another_fetch_holds_the_lock(tmp_path):
    from contextlib import ExitStack

    from airwarn.flows.locks import FETCH_LOCK, issue_lock

    root = tmp_path / "www"
    for s in (0, 3):
        _ifs_file(root, "2026-12-05T12Z", s)
        _ifs_file(root, "2026-12-06T00Z", s)
    held = ExitStack()
    held.enter_context(issue_lock(tmp_path / "d", FETCH_LOCK, purpose="fetch"))
    clock = Clock("2026-12-06T06:00Z", on_sleep=lambda c: held.close())  # the other one ends
    with serve_folder(root) as url:
        rec = fetch_and_ingest("2026-12-06T15:00", tmp_path / "d", base_urls={"*": url},
                               sources=_sources(), settings=SETTINGS, ingest=False,
                               clock=clock, sleep=clock.sleep)
    assert clock.slept == [600.0] and rec["rounds"] == 2
    assert rec["failures"][0].startswith("round 1 not fetched: ")
    assert "fetch.lock: another run holds this lock (pid" in rec["failures"][0]
    assert rec["cycles"]["ecmwf-ifs"]["used"].startswith("2026-12-06T00:00")
