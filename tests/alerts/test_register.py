"""The warnings register (SQLite, WAL): runs, transitions, overrides, deliveries, state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from airwarn.alerts.register import Register, iso_utc


def _decision(did: str, unit: str, level: str, action: str, issue: str, prev: str = "none") -> dict:
    return {"decision_id": did, "unit_ids": [unit], "level": level, "action": action,
            "previous_level": prev, "issue_time": issue, "daily_aqi": {unit: [210.0, 220.0, 90.0]},
            "primary_pollutant": "PM2.5", "trigger": "median",
            "start": "2026-01-11T00:00:00+08:00", "end": "2026-01-13T00:00:00+08:00"}


def test_tables_wal_and_idempotent_transitions(tmp_path: Path) -> None:
    reg = Register(tmp_path / "register.sqlite")
    with sqlite3.connect(reg.path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "transitions", "overrides", "deliveries"} <= tables
    d = _decision("W1", "chengdu", "orange", "issue", "2026-01-10T15:00+08:00")
    assert reg.record_transition(d, episode_start="2026-01-11T00:00:00+08:00")
    assert not reg.record_transition(d)              # same id: ignored
    assert reg.count("transitions") == 1
    row = reg.transitions("chengdu").iloc[0]
    assert (row["from_level"], row["to_level"], row["action"], row["decided_by"]) == (
        "none", "orange", "issue", "airwarn")
    assert row["run"] == "2026-01-10T07:00:00+00:00"
    assert '"daily_aqi": {"chengdu": [210.0, 220.0, 90.0]}' in row["forecast"]


def test_runs_upsert_never_adds_rows(tmp_path: Path) -> None:
    reg = Register(tmp_path / "r.sqlite")
    reg.record_run("2026-01-10T15:00", started="2026-01-10T15:01", model_version="v1",
                   inputs={"missing_stations": ["A"]})
    reg.record_run("2026-01-10T15:00", finished="2026-01-10T15:03", status="ok", model_version="v1")
    runs = reg.runs()
    assert len(runs) == 1 and runs.loc[0, "status"] == "ok"
    assert runs.loc[0, "issue_time"] == iso_utc("2026-01-10T15:00+08:00")


def test_current_state_before_an_issue_time(tmp_path: Path) -> None:
    reg = Register(tmp_path / "r.sqlite")
    assert not reg.current_state("chengdu").active
    reg.record_transition(_decision("W1", "chengdu", "yellow", "issue", "2026-01-10T05:00+08:00"),
                          episode_start="2026-01-11T00:00:00+08:00")
    reg.record_transition(_decision("W2", "chengdu", "orange", "upgrade", "2026-01-10T15:00+08:00",
                                    "yellow"), hold_count=0, episode_start="2026-01-11T00:00:00+08:00")
    s = reg.current_state("chengdu")
    assert (s.level, s.last_decision_id, s.episode_start) == ("orange", "W2", "2026-01-11T00:00:00+08:00")
    s = reg.current_state("chengdu", before="2026-01-10T15:00+08:00")   # a rerun of W2's run
    assert (s.level, s.last_decision_id) == ("yellow", "W1")
    reg.record_transition(_decision("W3", "chengdu", "none", "lift", "2026-01-12T05:00+08:00",
                                    "orange"))
    assert reg.current_state("chengdu").level == "none"
    assert reg.current_state("deyang").level == "none"


def test_overrides_active_until_expiry_and_kept(tmp_path: Path) -> None:
    reg = Register(tmp_path / "r.sqlite")
    reg.record_override("chengdu", "red", "会商决定提级", "李工", "2026-01-10T08:00+08:00",
                        "2026-01-11T08:00+08:00")
    assert reg.active_override("chengdu", "2026-01-10T07:59+08:00") is None
    o = reg.active_override("chengdu", "2026-01-10T15:00+08:00")
    assert o is not None and (o.level, o.who) == ("red", "李工")
    assert reg.active_override("chengdu", "2026-01-11T08:00+08:00") is None
    assert reg.active_override("deyang", "2026-01-10T15:00+08:00") is None
    assert len(reg.overrides()) == 1
    with pytest.raises(ValueError, match="unknown level 'purple'"):
        reg.record_override("chengdu", "purple", "x", "y", "2026-01-10", "2026-01-11")
    with pytest.raises(ValueError, match="not after"):
        reg.record_override("chengdu", "red", "x", "y", "2026-01-11", "2026-01-10")


def test_deliveries_one_sent_per_channel(tmp_path: Path) -> None:
    reg = Register(tmp_path / "r.sqlite")
    assert not reg.has_delivery("W1", "mail")
    assert reg.record_delivery("W1", "mail", "failed", "SMTP 421") == 1
    assert not reg.has_delivery("W1", "mail")
    assert reg.record_delivery("W1", "mail", "sent", "250 OK") == 2
    assert reg.has_delivery("W1", "mail") and not reg.has_delivery("W1", "webhook")
    reg.record_delivery("W1", "mail", "sent", "again")
    dl = reg.deliveries()
    assert (dl["status"] == "sent").sum() == 1 and dl["attempts"].tolist() == [1, 2]


def test_batch_is_all_or_nothing(tmp_path: Path) -> None:
    reg = Register(tmp_path / "r.sqlite")
    with pytest.raises(RuntimeError):
        with reg.batch():
            reg.record_transition(_decision("W1", "chengdu", "yellow", "issue", "2026-01-10T05:00+08:00"))
            reg.record_transition(_decision("W2", "deyang", "yellow", "issue", "2026-01-10T05:00+08:00"))
            raise RuntimeError("disk full")
    assert reg.count("transitions") == 0
    with reg.batch():
        reg.record_transition(_decision("W1", "chengdu", "yellow", "issue", "2026-01-10T05:00+08:00"))
        assert reg.current_state("chengdu").level == "yellow"      # same connection sees it
    assert reg.count("transitions") == 1
