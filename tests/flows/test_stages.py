"""Stage plumbing: lazy look-ups, reuse of unchanged outputs, issue-time parsing."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from airwarn.flows.backfill import issue_times
from airwarn.flows.daily import latest_issue_time, parse_issue_time
from airwarn.flows.stages import StageRecord, StageUnavailable, hash_inputs, lookup, reusable

SH = ZoneInfo("Asia/Shanghai")


def test_lookup_names_missing_module_and_attribute():
    assert lookup("airwarn.features.atomic:write_text_atomic").__name__ == "write_text_atomic"
    with pytest.raises(StageUnavailable, match="module airwarn.features.nope does not exist"):
        lookup("airwarn.features.nope:thing")
    with pytest.raises(StageUnavailable, match="has no 'nothing_here'"):
        lookup("airwarn.features.atomic:nothing_here")


def test_reusable_only_when_hash_and_outputs_match(tmp_path):
    f = tmp_path / "products" / "x.txt"
    f.parent.mkdir(parents=True)
    f.write_text("one")
    rec = StageRecord("maps", input_hash=hash_inputs("a", 1))
    rec.set_outputs(tmp_path, [f])
    prev = rec.to_dict()
    assert prev["outputs"] == ["products/x.txt"]
    assert reusable(prev, hash_inputs("a", 1), tmp_path)
    assert not reusable(prev, hash_inputs("a", 2), tmp_path)      # inputs changed
    f.write_text("two")
    assert not reusable(prev, hash_inputs("a", 1), tmp_path)      # output changed
    f.unlink()
    assert not reusable(prev, hash_inputs("a", 1), tmp_path)      # output gone
    assert not reusable({**prev, "status": "failed"}, prev["input_hash"], tmp_path)


def test_parse_issue_time():
    assert parse_issue_time("2026-11-28T15:00") == datetime(2026, 11, 28, 15, tzinfo=SH)
    assert parse_issue_time("2026-11-28T07:00Z") == datetime(2026, 11, 28, 15, tzinfo=SH)
    with pytest.raises(ValueError, match="on the hour"):
        parse_issue_time("2026-11-28T15:30")
    with pytest.raises(ValueError, match="expected ISO 8601"):
        parse_issue_time("tomorrow-ish")


def test_latest_issue_time():
    now = datetime(2026, 11, 28, 4, 59, tzinfo=SH)
    assert latest_issue_time(now, [5, 15]) == datetime(2026, 11, 27, 15, tzinfo=SH)
    now = datetime(2026, 11, 28, 15, 0, tzinfo=SH)
    assert latest_issue_time(now, [5, 15]) == datetime(2026, 11, 28, 15, tzinfo=SH)


def test_issue_times_inclusive_dates():
    ts = issue_times("2026-11-01", "2026-11-03", [5, 15])
    assert len(ts) == 6 and ts[0] == datetime(2026, 11, 1, 5, tzinfo=SH)
    assert ts[-1] == datetime(2026, 11, 3, 15, tzinfo=SH)
    assert issue_times("2026-11-01T15:00", "2026-11-02T05:00", [5, 15]) == [
        datetime(2026, 11, 1, 15, tzinfo=SH), datetime(2026, 11, 2, 5, tzinfo=SH)]
    with pytest.raises(ValueError, match="before start"):
        issue_times("2026-11-03", "2026-11-01", [5])


def test_stage_tasks_retry_only_transient_errors():
    from airwarn.flows.daily import _transient, delivery_task, ingest_task
    from prefect.states import Failed

    assert _transient(None, None, Failed(data=ConnectionError("smtp reset")))
    assert _transient(None, None, Failed(data=TimeoutError("slow disk")))
    assert not _transient(None, None, Failed(data=StageUnavailable("airwarn.models.x:y")))
    assert not _transient(None, None, Failed(data=FileNotFoundError("cycle.nc")))
    assert not _transient(None, None, Failed(data=ValueError("bad config")))
    assert ingest_task.retries == 2 and delivery_task.retries == 3
    assert delivery_task.retry_condition_fn is _transient
