"""Issue-time locks: one run per issue time, stale locks of crashed runs taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from airwarn.flows.locks import LockBusy, issue_lock, issue_stamp, lock_path

T = datetime(2026, 11, 28, 15, tzinfo=ZoneInfo("Asia/Shanghai"))

HOLDER = """
import sys, time
from pathlib import Path
from datetime import datetime
from zoneinfo import ZoneInfo
from airwarn.flows.locks import issue_lock
t = datetime(2026, 11, 28, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
with issue_lock(sys.argv[1], t, purpose="holder-test"):
    Path(sys.argv[2]).write_text("held")
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
"""


def _start_holder(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    ready, release = tmp_path / "ready", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), str(ready),
                             str(release)], cwd=Path(__file__).resolve().parents[2])
    for _ in range(400):
        if ready.exists():
            break
        time.sleep(0.05)
    assert ready.exists(), "holder process did not take the lock"
    return proc, release


def test_stamp_is_local_time():
    assert issue_stamp(T) == "20261128T1500"
    assert issue_stamp(datetime(2026, 11, 28, 7, tzinfo=ZoneInfo("UTC"))) == "20261128T1500"
    assert lock_path("/d", T) == Path("/d/locks/20261128T1500.lock")


def test_second_process_refused_while_held_then_allowed(tmp_path):
    proc, release = _start_holder(tmp_path)
    try:
        with pytest.raises(LockBusy) as err:
            with issue_lock(tmp_path, T, timeout=0.3, poll=0.05):
                pass
        msg = str(err.value)
        assert f"pid {proc.pid}" in msg and "holder-test" in msg and "20261128T1500.lock" in msg
        # another issue time is independent
        with issue_lock(tmp_path, T.replace(hour=5)) as other:
            assert other.path.name == "20261128T0500.lock"
    finally:
        release.write_text("go")
        proc.wait(timeout=30)
    with issue_lock(tmp_path, T, timeout=5) as lock:
        assert lock.stale is None
    assert not lock_path(tmp_path, T).exists()  # removed on release


def test_waiter_gets_the_lock_when_holder_finishes(tmp_path):
    proc, release = _start_holder(tmp_path)
    try:
        release.write_text("go")  # holder releases while we are waiting
        with issue_lock(tmp_path, T, timeout=30, poll=0.05) as lock:
            assert lock.path.exists()
            held = json.loads(lock.path.read_text())
            assert held["pid"] == os.getpid()
    finally:
        proc.wait(timeout=30)


def test_lock_of_killed_process_is_taken_over_as_stale(tmp_path):
    proc, release = _start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert lock_path(tmp_path, T).exists()  # left behind by the crash
    with issue_lock(tmp_path, T, timeout=0) as lock:
        assert lock.stale is not None
        assert lock.stale["pid"] == proc.pid and lock.stale["purpose"] == "holder-test"
        assert lock.stale["pid_alive"] is False


def test_exception_inside_releases(tmp_path):
    with pytest.raises(RuntimeError):
        with issue_lock(tmp_path, T):
            raise RuntimeError("boom")
    with issue_lock(tmp_path, T, timeout=0):
        pass
