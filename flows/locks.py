"""One run per issue time: an exclusive lock file per issue time, held with ``fcntl.flock``.

Two runs for the same issue time (a scheduled run and a forecaster's manual rerun, or two
workers of a backfill) must not both write the forecast, warnings and products. The lock is
``<data_dir>/locks/<stamp>.lock`` (``stamp = issue_stamp(issue_time)``), taken with
``flock(LOCK_EX)``:

- the kernel releases a ``flock`` when its holder exits or crashes, so a lock file left behind by a
  crashed run is *stale* and simply taken over; :attr:`IssueLock.stale` then carries what the dead
  holder had written into it (pid, host, start time) so the run can say so;
- a live holder makes the second run wait up to ``timeout`` seconds and then refuse with
  :class:`LockBusy`, naming the holder;
- the lock file is removed on release; a waiter that acquires a lock on a file that has meanwhile
  been removed (or replaced) notices it (inode check) and retries on the new file.

Locks are advisory and per host (``flock`` on NFS is not reliable): run a backfill's workers
against a shared data directory only on a file system that supports ``flock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import issue_stamp  # re-exported (the one run stamp)

__all__ = ["FETCH_LOCK", "LockBusy", "IssueLock", "issue_lock", "issue_stamp", "lock_path"]

# ``locks/fetch.lock``: one fetch (``airwarn fetch``, a round of ``acquire``) at a time per data
# directory — two would write the same ``.part`` files and land the same cycles
FETCH_LOCK = "fetch"


class LockBusy(RuntimeError):
    """Another live process holds the lock for this issue time (message names it)."""


def lock_path(data_dir: Path | str, issue_time: datetime | str) -> Path:
    """Path of the lock file for an issue time (``<data_dir>/locks/<stamp>.lock``).

    ``issue_time`` may be a datetime or an already formatted stamp / name (str).
    """
    if isinstance(issue_time, str):
        return RunStore(data_dir).lock_named(issue_time)
    return RunStore(data_dir).lock(issue_time)


@dataclass
class IssueLock:
    """A held issue-time lock.

    Attributes
    ----------
    path : Path
        The lock file.
    waited_s : float
        Seconds spent waiting for another run to finish, s.
    stale : dict or None
        What a previous, dead holder had written into the lock file (``pid``, ``host``,
        ``since``), when the lock was taken over from a crashed run; else None.
    """

    path: Path
    waited_s: float = 0.0
    stale: dict | None = None


def _holder(path: Path) -> dict | None:
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def issue_lock(
    data_dir: Path | str,
    issue_time: datetime | str,
    *,
    timeout: float = 0.0,
    poll: float = 0.2,
    purpose: str = "run",
) -> Iterator[IssueLock]:
    """Hold the exclusive lock of one issue time for the duration of the ``with`` block.

    Parameters
    ----------
    data_dir : path
        The airwarn data directory.
    issue_time : datetime or str
        The issue time (or its stamp).
    timeout : float
        Seconds to wait for a live holder before giving up, s (0 = refuse at once).
    poll : float
        Seconds between attempts while waiting, s.
    purpose : str
        Free text written into the lock file (e.g. ``"daily"``, ``"backfill"``).

    Yields
    ------
    IssueLock

    Raises
    ------
    LockBusy
        Another live process still holds the lock after ``timeout`` seconds; the message names
        the lock file and the holder (pid, host, purpose, since).
    """
    path = lock_path(data_dir, issue_time)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            waited = time.monotonic() - t0
            if waited >= timeout:
                holder = _holder(path) or {}
                raise LockBusy(
                    f"{path}: another run holds this lock "
                    f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                    f"{holder.get('purpose', '?')} since {holder.get('since', '?')}); "
                    f"waited {waited:.1f} s — rerun when it has finished"
                ) from None
            time.sleep(poll)
            continue
        # the file may have been removed (released) between open and flock: retry on the new one
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        break
    previous = _holder(path)
    stale = None
    if previous and previous.get("pid") is not None:
        # the flock was free, so whoever wrote this is gone (or crashed before releasing)
        stale = dict(previous)
        if previous.get("host") == socket.gethostname():
            stale["pid_alive"] = _pid_alive(int(previous["pid"]))
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "purpose": purpose,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    lock = IssueLock(path=path, waited_s=time.monotonic() - t0, stale=stale)
    try:
        yield lock
    finally:
        try:
            if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
