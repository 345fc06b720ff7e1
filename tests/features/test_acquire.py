"""``features.acquire`` against a real HTTP server on 127.0.0.1 serving the providers' layouts.

The server (``flows.loopback``) serves a folder; a subclass adds the faults a real feed shows:
a transfer cut short (``Content-Length`` larger than the body, connection closed), a server that
never answers, a step that is not published yet (404).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from airwarn.configs.sources_schema import Source, Sources, load_sources, parse_steps
from airwarn.features.acquire import (
    STALE_PART_H,
    FetchCatalog,
    arrival_info,
    check_csv,
    check_grib,
    download,
    fetch_sources,
    plan_source,
    redact_url,
)
from airwarn.flows.loopback import RangeFolderHandler, serve_folder
from typer.testing import CliRunner


def grib2_bytes(n_messages: int = 2, payload: int = 300, seed: int = 0) -> bytes:
    """GRIB2-framed messages: indicator section (``GRIB``, discipline 0, edition 2, 8-byte total
    length), a body, and the ``7777`` end section — the framing ``check_grib`` verifies."""
    out = b""
    for k in range(n_messages):
        body = bytes((seed + k + i) % 251 for i in range(payload))
        length = 16 + len(body) + 4
        out += b"GRIB\x00\x00\x00\x02" + length.to_bytes(8, "big") + body + b"7777"
    return out


Answer = Callable[["FaultyHandler"], None]


class FaultyHandler(RangeFolderHandler):
    """Folder handler with faults: paths in ``truncate_once`` are cut in half once (the
    announced length stays the full size), paths in ``hang`` never answer, ``script[path]`` is
    a queue of answers (:func:`status`, :func:`trickle` …) used one per request before the
    file is served, every request is logged with its Range and Authorization headers."""

    truncate_once: set[str] = set()
    hang: set[str] = set()
    script: dict[str, list[Answer]] = {}
    release = threading.Event()
    seen: list[tuple[str, str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?")[0]
        type(self).seen.append((path, self.headers.get("Range", ""),
                                self.headers.get("Authorization", "")))
        if self.script.get(path):
            self.script[path].pop(0)(self)
            return
        if path in self.hang:
            self.release.wait(10)
            return
        if path in self.truncate_once:
            self.truncate_once.discard(path)
            full = Path(self.translate_path(path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(full)))
            self.send_header("ETag", self.etag_of(self.translate_path(path)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


def status(code: int, **headers: str) -> Answer:
    """An answer with an empty body: ``code`` and ``headers`` (``Retry_After`` → ``Retry-After``)."""
    def answer(h: FaultyHandler) -> None:
        h.send_response(code)
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


def body(data: bytes, content_type: str = "application/octet-stream", **headers: str) -> Answer:
    """A 200 answer with ``data`` (the bytes as sent: no encoding is applied here)."""
    def answer(h: FaultyHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return answer


def trickle(data: bytes, every_s: float, n: int) -> Answer:
    """A 200 announcing ``len(data)`` bytes, then sending one byte every ``every_s`` (``n`` at
    most) and closing — a server that never stalls long enough to hit a socket timeout."""
    def answer(h: FaultyHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.close_connection = True
        for i in range(min(n, len(data))):
            try:
                h.wfile.write(data[i:i + 1])
                h.wfile.flush()
            except OSError:
                return
            time.sleep(every_s)
    return answer


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    FaultyHandler.truncate_once = set()
    FaultyHandler.hang = set()
    FaultyHandler.script = {}
    FaultyHandler.seen = []
    FaultyHandler.release = threading.Event()
    with serve_folder(root, FaultyHandler) as url:
        yield root, url
    FaultyHandler.release.set()


def _put(root: Path, rel: str, data: bytes) -> bytes:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return data


FAST = {"timeout_s": 0.5, "max_time_s": 5, "retries": 3, "backoff_s": 0.01,
        "backoff_max_s": 0.05}


def _ifs(**kw) -> Source:
    base = load_sources().get("ecmwf-ifs").model_dump()
    base.update(enabled=True, steps=[0, 3, 6], cycles_back=2, **FAST, **kw)
    return Source.model_validate(base)


NOW = pd.Timestamp("2026-12-06T09:00Z")   # IFS latency 6 h → cycles 06T00 and 05T12


def test_plans_the_real_layouts():
    srcs = load_sources()
    ifs = plan_source(srcs.get("ecmwf-ifs"), NOW)
    assert ifs[0].url == ("https://data.ecmwf.int/forecasts/20261206/00z/ifs/0p25/oper/"
                          "20261206000000-0h-oper-fc.grib2")
    assert ifs[0].rel == "2026120600/20261206000000-0h-oper-fc.grib2"
    assert {i.cycle for i in ifs} == {pd.Timestamp("2026-12-06T00Z"),
                                      pd.Timestamp("2026-12-05T12Z")}
    assert max(i.step for i in ifs) == 120 and len(ifs) == 2 * 41
    gfs = plan_source(srcs.get("gfs"), NOW)   # latency 3.5 h → 00z of the 6th is due
    assert gfs[1].url == ("https://nomads.ncep.noaa.gov/pub/data/nccf/com/gfs/prod/"
                          "gfs.20261206/00/atmos/gfs.t00z.pgrb2.0p25.f003")
    cnemc = plan_source(srcs.get("cnemc"), NOW)  # 17:00 Beijing, latency 0.5 h → 16:00 file
    assert cnemc[0].url.endswith("/20261206/cnemc_2026120616.csv")
    assert cnemc[0].label == pd.Timestamp("2026-12-06T08:00Z") and len(cnemc) == 36
    assert parse_steps(["0-12/6", 24]) == [0, 6, 12, 24]
    with pytest.raises(ValueError, match="start-stop/every"):
        parse_steps("0-x/3")


def test_cycles_land_complete_resume_truncated_and_404_is_not_an_error(server, tmp_path):
    root, url = server
    data = tmp_path / "data"
    sent = {}
    for step in (0, 3, 6):   # the previous cycle is complete on the server
        rel = f"20261205/12z/ifs/0p25/oper/20261205120000-{step}h-oper-fc.grib2"
        sent[("old", step)] = _put(root, rel, grib2_bytes(3, 2000, step))
    for step in (0, 3):      # the newest cycle has published steps 0 and 3 only
        rel = f"20261206/00z/ifs/0p25/oper/20261206000000-{step}h-oper-fc.grib2"
        sent[("new", step)] = _put(root, rel, grib2_bytes(3, 2000, 10 + step))
    cut = "/20261205/12z/ifs/0p25/oper/20261205120000-3h-oper-fc.grib2"
    FaultyHandler.truncate_once = {cut}
    srcs = Sources(sources=[_ifs()])

    rep = fetch_sources(srcs, data, now=NOW, base_urls={"ecmwf-ifs": url}, sleep=lambda s: None)

    assert not rep.failures
    assert rep.counts["ecmwf-ifs"] == {"ok": 5, "missing": 1}
    states = {s.cycle: s for s in rep.cycles}
    old, new = states[pd.Timestamp("2026-12-05T12Z")], states[pd.Timestamp("2026-12-06T00Z")]
    assert old.complete and old.landed and (new.steps_have, new.landed) == (2, False)
    landed = data / "inbox" / "ecmwf-ifs" / "2026120512"
    for step in (0, 3, 6):
        f = landed / f"20261205120000-{step}h-oper-fc.grib2"
        assert f.read_bytes() == sent[("old", step)]
        check_grib(f)
    assert not (data / "inbox" / "ecmwf-ifs" / "2026120600").exists()  # held: incomplete
    # the cut transfer was resumed with a Range request from where it stopped
    ranges = [r for p, r, _ in FaultyHandler.seen if p == cut]
    assert ranges == ["", f"bytes={len(sent[('old', 3)]) // 2}-"]
    cat = FetchCatalog.for_data_dir(data).frame("ecmwf-ifs")
    row = cat[(cat["cycle"] == old.cycle) & (cat["step"] == 3)].iloc[0]
    assert (row["status"], row["attempts"], row["size"]) == ("ok", 2, len(sent[("old", 3)]))
    assert row["sha256"] == hashlib.sha256(sent[("old", 3)]).hexdigest()
    assert row["path"] == str(landed / "20261205120000-3h-oper-fc.grib2")
    late = cat[(cat["cycle"] == new.cycle) & (cat["step"] == 6)].iloc[0]
    assert late["status"] == "missing" and "404" in late["detail"]

    # step 6 is published: the next fetch downloads only it and lands the cycle in one piece
    rel6 = "20261206/00z/ifs/0p25/oper/20261206000000-6h-oper-fc.grib2"
    _put(root, rel6, grib2_bytes(3, 2000, 16))
    FaultyHandler.seen = []
    rep2 = fetch_sources(srcs, data, now=NOW, base_urls={"ecmwf-ifs": url})
    assert [p for p, _, _ in FaultyHandler.seen] == ["/" + rel6]
    assert rep2.counts["ecmwf-ifs"] == {"have": 5, "ok": 1}
    newdir = data / "inbox" / "ecmwf-ifs" / "2026120600"
    assert sorted(p.name for p in newdir.iterdir()) == [
        f"20261206000000-{s}h-oper-fc.grib2" for s in (0, 3, 6)]
    assert not list((data / "inbox" / ".fetching").rglob("*.grib2"))

    info = arrival_info(data, cycle="2026-12-06T00Z")
    assert info["met_source"] == "ecmwf-ifs" and info["met_cycle"].startswith("2026-12-06T00")
    # expected 8 h after 00 UTC; it arrived now (2026 clock) — lateness is arrival − expected
    arrived = pd.Timestamp(info["met_arrived"])
    assert info["met_late_h"] == pytest.approx(
        (arrived - pd.Timestamp("2026-12-06T08:00Z")).total_seconds() / 3600, abs=0.01)


def test_a_server_that_hangs_times_out_in_bounded_time(server, tmp_path):
    root, url = server
    _put(root, "slow.grib2", grib2_bytes())
    FaultyHandler.hang = {"/slow.grib2"}
    t0 = time.monotonic()
    res = download(f"{url}/slow.grib2", tmp_path / "slow.grib2", timeout_s=0.3, retries=2,
                   backoff_s=0.01)
    took = time.monotonic() - t0
    assert res.status == "failed" and res.attempts == 3
    assert "no answer within 0.3 s" in res.detail
    assert took < 3.0
    assert not (tmp_path / "slow.grib2").exists()


def test_broken_grib_and_checksum_are_refused_good_ones_kept(server, tmp_path):
    root, url = server
    good = _put(root, "good.grib2", grib2_bytes())
    _put(root, "bad.grib2", grib2_bytes()[:-4] + b"XXXX")
    _put(root, "good.grib2.sha256", (hashlib.sha256(good).hexdigest() + "  good.grib2\n").encode())
    _put(root, "wrong.sha256", ("0" * 64 + "\n").encode())
    bad = download(f"{url}/bad.grib2", tmp_path / "bad.grib2", check="grib2", **FAST)
    assert bad.status == "failed" and "does not end with '7777'" in bad.detail
    assert not (tmp_path / "bad.grib2").exists() and not (tmp_path / "bad.grib2.part").exists()
    wrong = download(f"{url}/good.grib2", tmp_path / "a.grib2", sha256_url=f"{url}/wrong.sha256",
                     check="grib2", **FAST)
    assert wrong.status == "failed" and "SHA-256" in wrong.detail
    ok = download(f"{url}/good.grib2", tmp_path / "b.grib2", check="grib2",
                  sha256_url=f"{url}/good.grib2.sha256", **FAST)
    assert ok.status == "ok" and (tmp_path / "b.grib2").read_bytes() == good
    with pytest.raises(ValueError, match="truncated download"):
        (tmp_path / "t.grib2").write_bytes(good[:100])
        check_grib(tmp_path / "t.grib2")


def test_no_secrets_in_the_catalog_or_the_log(server, tmp_path, monkeypatch, caplog):
    root, url = server
    monkeypatch.setenv("AIRWARN_TEST_TOKEN", "Bearer s3cr3t-value")
    _put(root, "20261206/cnemc_2026120616.csv", b"timepoint,stationcode\n")
    src = Source(name="feed", enabled=True, kind="obs", base_url="https://x.invalid",
                 url="{base}/{yyyymmdd}/cnemc_{yyyymmddHH}.csv?apikey=s3cr3t-key&fmt=csv",
                 dest="{yyyymmdd}/cnemc_{yyyymmddHH}.csv", every_h=1, lookback_h=2,
                 timezone="Asia/Shanghai", latency_h=0.5,
                 headers_env={"Authorization": "AIRWARN_TEST_TOKEN"}, **FAST)
    with caplog.at_level(logging.INFO, logger="airwarn.features.acquire"):
        rep = fetch_sources(Sources(sources=[src]), tmp_path / "d", now=NOW,
                            base_urls={"*": url}, sleep=lambda s: None)
    assert rep.counts["feed"] == {"ok": 1, "missing": 1}
    assert (tmp_path / "d" / "inbox" / "feed" / "20261206" / "cnemc_2026120616.csv").exists()
    assert {a for _, _, a in FaultyHandler.seen} == {"Bearer s3cr3t-value"}
    raw = (tmp_path / "d" / "inbox" / "fetch.sqlite").read_bytes()
    assert b"s3cr3t" not in raw and b"apikey=***" in raw
    assert "s3cr3t" not in caplog.text
    assert redact_url("https://u:pw@h/x?token=abc&a=1") == "https://u:***@h/x?token=***&a=1"


def test_fetch_command(server, tmp_path, monkeypatch):
    from airwarn.flows.cli import app

    root, url = server
    _put(root, "20261205/12z/ifs/0p25/oper/20261205120000-0h-oper-fc.grib2", grib2_bytes())
    yaml_text = (Path(__file__).parents[2] / "configs" / "sources.yaml").read_text()
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml_text.replace('steps: "0-120/3"', "steps: [0]")
                   .replace("retries: 4", "retries: 0"))
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(tmp_path / "data"))
    r = CliRunner().invoke(app, ["fetch", "--sources", str(cfg), "-s", "ecmwf-ifs",
                                 "--base-url", f"ecmwf-ifs={url}", "--now", "2026-12-06T09:00"])
    assert r.exit_code == 0, r.output
    assert "2026-12-05 12 UTC: 1/1 steps — landed" in r.output
    assert "2026-12-06 00 UTC: 0/1 steps" in r.output
    r = CliRunner().invoke(app, ["fetch", "--sources", str(cfg)])
    assert r.exit_code == 2 and "no source is enabled" in r.output
    r = CliRunner().invoke(app, ["fetch", "--sources", str(cfg), "-s", "ecmwf-ifs",
                                 "--base-url", "ecmwf-ifs=http://127.0.0.1:9", "--now",
                                 "2026-12-06T09:00"])
    assert r.exit_code == 1 and "failed: ecmwf-ifs: http://127.0.0.1:9/" in r.output


def _cnemc(**kw) -> Source:
    """A CNEMC-like hourly CSV source (Beijing labels; at NOW the 16:00 file is the newest)."""
    fields = dict(name="cnemc", enabled=True, kind="obs", base_url="https://x.invalid",
                  url="{base}/{yyyymmdd}/cnemc_{yyyymmddHH}.csv",
                  dest="{yyyymmdd}/cnemc_{yyyymmddHH}.csv", every_h=1, lookback_h=1,
                  timezone="Asia/Shanghai", latency_h=0.5)
    return Source(**{**fields, **FAST, **kw})


def test_a_trickling_server_is_given_up_in_bounded_time_and_the_others_arrive(server, tmp_path):
    # one byte every 0.1 s never trips the 0.5 s socket timeout: only the wall limit stops it
    root, url = server
    for h in (15, 16):
        _put(root, f"20261206/cnemc_20261206{h}.csv", b"timepoint,stationcode\n" * 50)
    slow = "/20261206/cnemc_2026120616.csv"
    FaultyHandler.script = {slow: [trickle(b"x" * 5000, 0.1, 40)] * 2}
    src = _cnemc(lookback_h=2, max_time_s=0.6, retries=1)
    t0 = time.monotonic()
    rep = fetch_sources(Sources(sources=[src]), tmp_path / "d", now=NOW, base_urls={"*": url},
                        sleep=lambda s: None)
    took = time.monotonic() - t0
    assert took < 3.0, took
    assert rep.counts["cnemc"] == {"failed": 1, "ok": 1}
    assert len(rep.failures) == 1 and rep.failures[0].startswith(
        f"cnemc: {url}{slow}: gave up after 2 attempts: transfer longer than 0.6 s (max_time_s; ")
    inbox = tmp_path / "d" / "inbox" / "cnemc" / "20261206"
    assert (inbox / "cnemc_2026120615.csv").exists()
    assert not (inbox / "cnemc_2026120616.csv").exists()
    row = FetchCatalog.for_data_dir(tmp_path / "d").get("cnemc", f"{url}{slow}")
    assert row["status"] == "failed" and "max_time_s" in row["detail"]


def test_a_200_maintenance_page_or_empty_answer_is_not_landed_and_asked_again(server, tmp_path):
    root, url = server
    csv = _put(root, "20261206/cnemc_2026120616.csv", b"timepoint,stationcode\n" * 5)
    path = "/20261206/cnemc_2026120616.csv"
    page = (b"<!DOCTYPE html>\n<html><head><title>System maintenance</title></head>"
            b"<body>Back soon</body></html>")
    # a portal answering 200 with its maintenance page (a lying Content-Type too), then empty
    FaultyHandler.script = {path: [body(page, "text/html"), body(page, "text/csv"),
                                   body(b"", "text/csv"), body(page, "text/html")]}
    srcs = Sources(sources=[_cnemc(retries=3)])
    rep = fetch_sources(srcs, tmp_path / "d", now=NOW, base_urls={"*": url},
                        sleep=lambda s: None)
    inbox = tmp_path / "d" / "inbox" / "cnemc" / "20261206"
    assert rep.counts["cnemc"] == {"failed": 1}
    assert "an HTML page ('System maintenance') instead of the data file (Content-Type " \
           "text/html)" in rep.failures[0]
    assert "empty answer (HTTP 200, 0 bytes)" in rep.failures[0]
    assert not inbox.exists() or not any(inbox.iterdir())   # nothing landed, no .part
    # the page is gone: the next fetch asks again (the URL is not 'have') and lands the file
    rep = fetch_sources(srcs, tmp_path / "d", now=NOW, base_urls={"*": url},
                        sleep=lambda s: None)
    assert rep.counts["cnemc"] == {"ok": 1}
    assert (inbox / "cnemc_2026120616.csv").read_bytes() == csv
    # a GRIB step: the page is named as such, not only as bad framing; a message whose length
    # field runs past the end (cut, Content-Length matching the cut) is refused
    FaultyHandler.script = {"/s.grib2": [body(page, "text/html")]}
    res = download(f"{url}/s.grib2", tmp_path / "s.grib2", check="grib2", **{**FAST, "retries": 0})
    assert res.status == "failed" and "an HTML page ('System maintenance')" in res.detail
    _put(root, "cut.grib2", grib2_bytes(2, 300)[:-100])
    res = download(f"{url}/cut.grib2", tmp_path / "cut.grib2", check="grib2",
                   **{**FAST, "retries": 0})
    assert res.status == "failed" and "(truncated download)" in res.detail
    assert not list(tmp_path.glob("*.grib2*"))


def test_retry_after_is_honoured_and_a_long_one_stops_asking_the_host(server, tmp_path):
    root, url = server
    g = _put(root, "a.grib2", grib2_bytes())
    slept: list[float] = []
    when = email.utils.formatdate(time.time() + 3, usegmt=True)     # HTTP-date form
    FaultyHandler.script = {"/a.grib2": [status(503, Retry_After="1"),
                                         status(429, Retry_After=when)]}
    res = download(f"{url}/a.grib2", tmp_path / "a.grib2", check="grib2", sleep=slept.append,
                   **{**FAST, "backoff_max_s": 10})
    assert res.status == "ok" and res.attempts == 3 and res.path.read_bytes() == g
    assert slept[0] == 1.0 and 1.5 < slept[1] <= 3.0, slept   # not the 0.01/0.02 s backoff
    assert "HTTP 503 (Retry-After 1 s)" in res.detail

    # a wait beyond backoff_max_s: that file stops at once, the host's other files are not asked
    for step in (0, 3, 6):
        for ref in ("20261206/00z", "20261205/12z"):
            day, hh = ref.split("/")
            _put(root, f"{ref}/ifs/0p25/oper/{day}{hh[:2]}0000-{step}h-oper-fc.grib2",
                 grib2_bytes(seed=step))
    first = "/20261206/00z/ifs/0p25/oper/20261206000000-0h-oper-fc.grib2"
    FaultyHandler.script = {first: [status(503, Retry_After="2")]}
    FaultyHandler.seen = []
    srcs = Sources(sources=[_ifs()])
    rep = fetch_sources(srcs, tmp_path / "d", now=NOW, base_urls={"*": url}, sleep=slept.append)
    assert [p for p, _, _ in FaultyHandler.seen] == [first]
    assert rep.counts["ecmwf-ifs"] == {"failed": 6}
    assert rep.failures[0] == (
        f"ecmwf-ifs: {url}{first}: HTTP 503 (Retry-After 2 s): the server asks to wait "
        "2 s, more than backoff_max_s (0.05 s); not asked again before then (at most 3600 s)")
    assert rep.failures[1].startswith(
        f"127.0.0.1: 5 more file(s) not asked for: 127.0.0.1 asked to wait 2 s (Retry-After "
        f"on {url}{first}); asked again after 20")
    # the next fetch (acquire's next poll) within the wait asks nothing of that host
    FaultyHandler.seen = []
    rep = fetch_sources(srcs, tmp_path / "d", now=NOW, base_urls={"*": url}, sleep=slept.append)
    assert FaultyHandler.seen == [] and rep.counts["ecmwf-ifs"] == {"failed": 6}
    assert "6 more file(s) not asked for" in rep.failures[-1]
    time.sleep(2.1)   # the wait is over
    rep = fetch_sources(srcs, tmp_path / "d", now=NOW, base_urls={"*": url}, sleep=slept.append)
    assert rep.counts["ecmwf-ifs"] == {"ok": 6} and all(s.landed for s in rep.cycles)


def test_a_gzip_content_encoding_is_decoded_once(server, tmp_path):
    root, url = server
    csv = b"timepoint,stationcode,pm25\n" + b"2026-12-06 16:00:00,1001A,35\n" * 200
    packed = gzip.compress(csv)
    FaultyHandler.script = {
        "/x.csv": [body(packed, "text/csv", Content_Encoding="gzip")],
        "/x.csv.gz": [body(packed, "application/gzip", Content_Encoding="gzip")],
        "/bad.csv": [body(b"not gzip at all", "text/csv", Content_Encoding="gzip")],
        "/br.csv": [body(b"\x0b\x02\x80", "text/csv", Content_Encoding="br")]}
    res = download(f"{url}/x.csv", tmp_path / "x.csv", **FAST)
    assert res.status == "ok" and (tmp_path / "x.csv").read_bytes() == csv
    assert res.size == len(csv) and res.sha256 == hashlib.sha256(csv).hexdigest()
    # a .gz file named as such stays compressed (the encoding describes the file itself)
    res = download(f"{url}/x.csv.gz", tmp_path / "x.csv.gz", **FAST)
    assert res.status == "ok" and (tmp_path / "x.csv.gz").read_bytes() == packed
    res = download(f"{url}/bad.csv", tmp_path / "bad.csv", **{**FAST, "retries": 0})
    assert res.status == "failed" and "Content-Encoding gzip, but the body does not " \
                                      "decompress" in res.detail
    res = download(f"{url}/br.csv", tmp_path / "br.csv", **FAST)
    assert res.status == "failed" and res.attempts == 1
    assert "Content-Encoding 'br': not decodable here" in res.detail
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["x.csv", "x.csv.gz"]


def test_redirects_are_followed_without_credentials_to_another_host_and_a_loop_ends(
        server, tmp_path, monkeypatch):
    root, url = server
    monkeypatch.setenv("AIRWARN_TEST_TOKEN", "Bearer s3cr3t-value")
    g = _put(root, "mirror/a.grib2", grib2_bytes())
    other = url.replace("127.0.0.1", "localhost")         # another origin, same server
    FaultyHandler.script = {"/a.grib2": [status(302, Location="/moved/a.grib2")],
                            "/moved/a.grib2": [status(307, Location=f"{other}/mirror/a.grib2")],
                            "/loop": [status(301, Location="/loop")] * 20,
                            "/gone": [status(302, Location="/nowhere")]}
    res = download(f"{url}/a.grib2", tmp_path / "a.grib2", check="grib2",
                   headers_env={"Authorization": "AIRWARN_TEST_TOKEN"}, **FAST)
    assert res.status == "ok" and (tmp_path / "a.grib2").read_bytes() == g
    auth = {p: a for p, _, a in FaultyHandler.seen}
    assert auth["/a.grib2"] == auth["/moved/a.grib2"] == "Bearer s3cr3t-value"
    assert auth["/mirror/a.grib2"] == ""                    # not sent to the other host
    res = download(f"{url}/loop", tmp_path / "loop", **FAST)
    assert res.status == "failed" and res.attempts == 1
    assert res.detail == (f"HTTP 301: redirect loop or more than 10 redirects (last to "
                          f"{url}/loop) (not retried)")
    res = download(f"{url}/gone", tmp_path / "gone", **FAST)   # redirected to a 404
    assert res.status == "missing"
    assert not (tmp_path / "loop").exists() and not (tmp_path / "gone").exists()


def test_one_fetch_at_a_time_and_a_killed_fetch_leaves_only_a_part_file_resumed_later(
        server, tmp_path, monkeypatch):
    import subprocess
    import sys

    from airwarn.features.inbox import inbox_files
    from airwarn.flows.cli import app
    from airwarn.flows.locks import FETCH_LOCK, issue_lock

    root, url = server
    data = tmp_path / "data"
    csv = _put(root, "20261206/cnemc_2026120616.csv", b"timepoint,stationcode\n" * 4000)
    path = "/20261206/cnemc_2026120616.csv"
    # a fetch killed mid-download (SIGKILL, from another process): the transfer stops in its
    # .part file, which the inbox does not take
    FaultyHandler.script = {path: [trickle(csv, 0.05, 100)]}
    dest = data / "inbox" / "cnemc" / "20261206" / "cnemc_2026120616.csv"
    code = (f"from airwarn.features.acquire import download\n"
            f"download({url + path!r}, {str(dest)!r}, timeout_s=2, max_time_s=30, retries=0)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    t0 = time.monotonic()
    while not dest.with_name(dest.name + ".part").exists() and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.kill()
    proc.wait(10)
    had = dest.with_name(dest.name + ".part").stat().st_size
    assert not dest.exists()
    assert inbox_files(data / "inbox") == []
    # while another fetch holds the data directory's lock, `airwarn fetch` refuses (exit 3)
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(Sources(sources=[_cnemc(base_url=url)]).model_dump_json())
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(data))
    args = ["fetch", "--sources", str(cfg), "--now", "2026-12-06T09:00"]
    FaultyHandler.seen = []
    with issue_lock(data, FETCH_LOCK, purpose="acquire"):
        r = CliRunner().invoke(app, args)
    assert r.exit_code == 3 and "another fetch is running on this data directory" in r.output
    assert "fetch.lock" in r.output and FaultyHandler.seen == []
    # free again: the next fetch takes the .part up where the killed one left it
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert dest.read_bytes() == csv and not list(dest.parent.glob("*.part"))
    assert [(p, r[:6]) for p, r, _ in FaultyHandler.seen] == [(path, "bytes=")]
    assert int(FaultyHandler.seen[0][1][6:-1]) == had > 0


def test_what_will_never_be_finished_is_removed(server, tmp_path):
    """A cycle held incomplete (step 6 never came) that has left the planning window, and a
    .part file of a periodic file no longer planned, older than a day, are removed and reported;
    a fresh .part of a planned file stays (it is resumed)."""
    root, url = server
    data = tmp_path / "data"
    for step in (0, 3):
        _put(root, f"20261206/00z/ifs/0p25/oper/20261206000000-{step}h-oper-fc.grib2",
             grib2_bytes(3, 2000, step))
    srcs = Sources(sources=[_ifs()])
    fetch_sources(srcs, data, now=NOW, base_urls={"ecmwf-ifs": url}, sleep=lambda s: None)
    held = data / "inbox" / ".fetching" / "ecmwf-ifs" / "2026120600"
    assert len(list(held.glob("*.grib2"))) == 2
    old_part = data / "inbox" / "ecmwf-ifs" / "old" / "x.grib2.part"
    old_part.parent.mkdir(parents=True)
    old_part.write_bytes(b"GRIB")
    day_ago = time.time() - (STALE_PART_H + 1) * 3600
    os.utime(old_part, (day_ago, day_ago))

    later = NOW + pd.Timedelta(days=3)   # cycles 08T12 and 09T00 planned; nothing published
    planned = plan_source(_ifs(), later)[0]
    fresh = data / "inbox" / ".fetching" / "ecmwf-ifs" / f"{planned.cycle:%Y%m%d%H}" / (
        Path(planned.rel).name + ".part")
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"GRIB")
    os.utime(fresh, (day_ago, day_ago))   # old, but still planned: resumed, not removed
    rep = fetch_sources(srcs, data, now=later, base_urls={"ecmwf-ifs": url},
                        sleep=lambda s: None)
    stage = data / "inbox" / ".fetching" / "ecmwf-ifs"
    assert sorted(rep.pruned) == sorted([stage / "2026120512", held, old_part])  # 05T12: empty
    assert not held.exists() and not old_part.exists() and fresh.exists()
    assert sorted(p.name for p in stage.iterdir()) == ["2026120812", "2026120900"]  # planned
    rep = fetch_sources(srcs, data, now=later, base_urls={"ecmwf-ifs": url},
                        sleep=lambda s: None)
    assert rep.pruned == []


INGEST = Path(__file__).resolve().parents[1] / "data" / "ingest"


def test_check_csv_passes_the_real_formats_and_catches_a_cut_table(tmp_path):
    for name in ("cnemc_2024011509.csv", "cnemc_platform_2017070716.csv",
                 "cma_surface_20240115.csv", "china_sites_20260115.csv", "long_table_gbk.csv"):
        check_csv(INGEST / name)
    text = (INGEST / "cnemc_2024011509.csv").read_text(encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.index("\n", len(text) // 2) + 12], encoding="utf-8")
    n = cut.read_text(encoding="utf-8").count("\n") + 1
    head = len(text.splitlines()[0].split(","))
    with pytest.raises(ValueError, match=rf"cut.csv: line {n} has \d+ field\(s\), the header "
                                         rf"{head}: the table was cut short"):
        check_csv(cut)
    tab = tmp_path / "tab.txt"   # a CMA tabText answer: status line, tab-separated
    rows = ["\t".join(r.split(",")) for r in
            (INGEST / "cma_surface_20240115.csv").read_text().splitlines()]
    tab.write_text("\n".join(['returnCode="0" returnMessage="Query Succeed"', *rows]) + "\n")
    check_csv(tab)
    with pytest.raises(ValueError, match="no header line"):
        check_csv(INGEST / "empty.csv")


def test_a_csv_cut_short_is_asked_again_not_landed(server, tmp_path):
    """The server closes after half the table but announces only what it sent (no way to see
    the cut from the length): the row check catches it, the retry gets the whole file."""
    root, url = server
    full = (INGEST / "cnemc_2024011509.csv").read_bytes()
    _put(root, "c.csv", full)
    half = full[: full.index(b"\n", len(full) // 2) + 12]
    FaultyHandler.script = {"/c.csv": [body(half, "text/csv")]}
    res = download(f"{url}/c.csv", tmp_path / "c.csv", check="csv", sleep=lambda s: None,
                   **FAST)
    assert res.status == "ok" and res.attempts == 2 and res.path.read_bytes() == full
    assert "field(s), the header" in res.detail and "cut short" in res.detail


def test_a_resume_of_a_file_changed_on_the_server_gets_the_new_file_whole(server, tmp_path):
    """The transfer breaks halfway; before the retry the server's file is replaced (same size,
    same framing — a republished step): the resume sends If-Range with the first answer's
    ETag, the server sends the new file whole, and what lands is the new file, not half of
    each (which the GRIB framing check could not tell)."""
    root, url = server
    v1 = _put(root, "f.grib2", grib2_bytes(3, 2000, seed=1))
    v2 = grib2_bytes(3, 2000, seed=2)
    assert len(v1) == len(v2) and v1 != v2
    FaultyHandler.truncate_once = {"/f.grib2"}
    time.sleep(0.01)   # a new modification time for the new version

    def republish(_s: float) -> None:
        _put(root, "f.grib2", v2)

    res = download(f"{url}/f.grib2", tmp_path / "f.grib2", check="grib2", sleep=republish,
                   **FAST)
    assert res.status == "ok" and res.attempts == 2
    assert res.path.read_bytes() == v2
    ranges = [r for p, r, _ in FaultyHandler.seen if p == "/f.grib2"]
    assert ranges == ["", f"bytes={len(v1) // 2}-"]   # asked to resume; answered whole
    assert not list(tmp_path.glob("*.part"))   # neither the part nor its validator is left
