"""The warnings register: a SQLite file (WAL) at ``<data_dir>/register.sqlite``.

Tables
------
runs
    One row per issue time: started, finished, status, model version, inputs (JSON). A row that
    records a completed run (``complete``, ``partial``) is never downgraded by a later attempt
    that fails or only redoes part of the run (``airwarn warn``): that attempt adds its own row
    to ``run_attempts`` instead.
run_attempts
    Append-only: one row per attempt of a run (a scheduled run, a rerun, ``airwarn warn``), with
    its own status (``running`` → ``complete`` / ``partial`` / ``failed`` / ``warned`` /
    ``crashed``), process id and host; an attempt still ``running`` whose process is gone is
    marked ``crashed`` by the next run (:meth:`Register.mark_crashed`).
transitions
    One row per warning decision (``decision_id`` UNIQUE): unit, track (``colour``, ``o3``, ``pre``,
    ``regional``, ``joint``), from/to level, action, run, forecast values (JSON), trigger,
    ``decided_by`` (``airwarn`` or a person), the machine level and the hysteresis hold count.
overrides
    A forecaster's level for a unit (reason, who, when, valid until); it takes precedence over the
    machine level until it expires, and stays in the register.
deliveries
    Attempts to deliver a decision per channel; at most one ``sent`` row per (decision, channel).

Reruns of the same issue time add no rows: decisions have deterministic ids and are inserted with
``INSERT OR IGNORE``; the state used by a run is the state **before** its issue time.

Times are stored as ISO 8601 UTC strings (``2026-01-10T07:00:00+00:00``) so they sort.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import socket
import sqlite3
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["Register", "UnitState", "Override", "iso_utc", "register_path", "COMPLETED",
           "REGISTER_TIMEOUT_S"]

#: Run statuses that record a completed run; a later attempt never overwrites them with less.
COMPLETED = ("complete", "partial")
#: SQLite busy timeout of a register connection, s (``AIRWARN_REGISTER_TIMEOUT_S`` overrides).
REGISTER_TIMEOUT_S = 30.0
#: Further attempts of a write that found the register locked (after the busy timeout).
_WRITE_RETRIES = 3


def _timeout() -> float:
    try:
        return float(os.environ.get("AIRWARN_REGISTER_TIMEOUT_S", REGISTER_TIMEOUT_S))
    except ValueError:
        return REGISTER_TIMEOUT_S


def _retried(fn: Any) -> Any:
    """Retry a register write that found the database locked/busy (after the busy timeout),
    with a short backoff; any other error, or the last attempt's, propagates."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for k in range(_WRITE_RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                low = str(exc).lower()
                if k == _WRITE_RETRIES or not ("locked" in low or "busy" in low):
                    raise
                _time.sleep(0.2 * (2 ** k))
        return None  # pragma: no cover

    return wrapper


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    issue_time TEXT PRIMARY KEY,
    started TEXT, finished TEXT, status TEXT, model_version TEXT, inputs TEXT
);
CREATE TABLE IF NOT EXISTS run_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt TEXT NOT NULL UNIQUE,
    issue_time TEXT NOT NULL,
    command TEXT, status TEXT NOT NULL, started TEXT, finished TEXT,
    pid INTEGER, host TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS transitions (
    decision_id TEXT NOT NULL UNIQUE,
    unit_id TEXT NOT NULL,
    unit_ids TEXT NOT NULL,
    track TEXT NOT NULL DEFAULT 'colour',
    from_level TEXT NOT NULL,
    to_level TEXT NOT NULL,
    action TEXT NOT NULL,
    run TEXT NOT NULL,
    forecast TEXT,
    trigger TEXT,
    decided_by TEXT NOT NULL DEFAULT 'airwarn',
    machine_level TEXT,
    hold_count INTEGER NOT NULL DEFAULT 0,
    episode_start TEXT,
    start TEXT,
    "end" TEXT,
    recorded TEXT
);
CREATE INDEX IF NOT EXISTS transitions_unit ON transitions (unit_id, track, run);
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id TEXT NOT NULL, level TEXT NOT NULL, reason TEXT NOT NULL, who TEXT NOT NULL,
    "when" TEXT NOT NULL, valid_until TEXT NOT NULL,
    UNIQUE (unit_id, level, "when")
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1, detail TEXT, time TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_sent ON deliveries (decision_id, channel)
    WHERE status = 'sent';
"""


def iso_utc(t: Any) -> str:
    """ISO 8601 UTC string of a time (naive times are taken as Asia/Shanghai)."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize(LOCAL_TZ)
    return ts.tz_convert("UTC").isoformat()


def register_path(data_dir: Path | str) -> Path:
    """``<data_dir>/register.sqlite``."""
    return RunStore(data_dir).register


@dataclass(frozen=True)
class UnitState:
    """A unit's warning state after its latest recorded decision (before a given time).

    Attributes
    ----------
    level : str
        Level in force (``none`` when no warning or after a lift).
    machine_level : str
        Level the ladder gave in that run (may differ under hysteresis or an override).
    hold_count : int
        Consecutive runs in which a lower level (or the lift condition) held without being
        applied (hysteresis).
    episode_start : str or None
        Start of the current episode (local ISO).
    last_decision_id, last_run, last_action : str or None
    """

    level: str = "none"
    machine_level: str = "none"
    hold_count: int = 0
    episode_start: str | None = None
    last_decision_id: str | None = None
    last_run: str | None = None
    last_action: str | None = None

    @property
    def active(self) -> bool:
        """Whether a warning is in force."""
        return self.level != "none"


@dataclass(frozen=True)
class Override:
    """A forecaster's override of a unit's level (``when``/``valid_until`` ISO UTC)."""

    unit_id: str
    level: str
    reason: str
    who: str
    when: str
    valid_until: str

    def to_dict(self) -> dict[str, str]:
        """Plain dict (JSON-ready)."""
        return {"unit_id": self.unit_id, "level": self.level, "reason": self.reason,
                "who": self.who, "when": self.when, "valid_until": self.valid_until}


class Register:
    """The warnings register (SQLite, WAL) — see the module docstring.

    Parameters
    ----------
    path : path-like
        The SQLite file (created with its tables when missing).
    """

    def __init__(self, path: Path | str, timeout: float | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._shared: sqlite3.Connection | None = None
        self.timeout = _timeout() if timeout is None else float(timeout)
        self._init_schema()

    @_retried
    def _init_schema(self) -> None:
        with self._conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")  # durable with WAL, one fsync per checkpoint
        return conn

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        if self._shared is not None:  # inside batch(): one transaction for everything
            yield self._shared
            return
        conn = self._connect()
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    @contextmanager
    def batch(self) -> Iterator[Register]:
        """One connection and one transaction for many writes (committed at the end, rolled
        back on an exception): a run's decisions are recorded all together or not at all."""
        if self._shared is not None:
            yield self
            return
        conn = self._connect()
        self._shared = conn
        try:
            with conn:
                yield self
        finally:
            self._shared = None
            conn.close()

    # ---------------------------------------------------------------- runs
    @_retried
    def record_run(self, issue_time: Any, *, started: Any = None, finished: Any = None,
                   status: str = "running", model_version: str = "",
                   inputs: dict | str | None = None) -> bool:
        """Insert or update the run row of ``issue_time`` (a rerun updates, never adds).

        A row recording a completed run (:data:`COMPLETED`) is only replaced by another
        completed run; a failing or partial attempt leaves it as it is (record the attempt with
        :meth:`record_attempt`).

        Returns
        -------
        bool
            True when the row was written, False when a completed row was kept.
        """
        inp = inputs if isinstance(inputs, str) or inputs is None else json.dumps(
            inputs, ensure_ascii=False, sort_keys=True)
        keep = ", ".join(f"'{c}'" for c in COMPLETED)
        with self._conn() as c:
            cur = c.execute(
                "INSERT INTO runs (issue_time, started, finished, status, model_version, inputs) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(issue_time) DO UPDATE SET "
                "finished = excluded.finished, status = excluded.status, "
                "model_version = excluded.model_version, inputs = excluded.inputs "
                f"WHERE runs.status NOT IN ({keep}) OR excluded.status IN ({keep})",
                (iso_utc(issue_time), iso_utc(started) if started is not None else None,
                 iso_utc(finished) if finished is not None else None, status, model_version, inp))
            return cur.rowcount == 1

    @_retried
    def record_attempt(self, attempt: str, issue_time: Any, status: str, *,
                       command: str = "", started: Any = None, finished: Any = None,
                       detail: str = "", pid: int | None = None) -> None:
        """Add (or bring up to date) one attempt's own row in ``run_attempts``.

        Parameters
        ----------
        attempt : str
            Unique id of the attempt (e.g. ``<stamp>-<started>-<pid>``); only this attempt's row
            is ever updated.
        issue_time : time-like
        status : str
            ``running``, then ``complete`` / ``partial`` / ``failed`` / ``warned`` / ``crashed``.
        command : str
            What ran (``daily``, ``warn`` …).
        """
        with self._conn() as c:
            c.execute(
                "INSERT INTO run_attempts (attempt, issue_time, command, status, started, "
                "finished, pid, host, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(attempt) DO UPDATE SET status = excluded.status, "
                "finished = excluded.finished, detail = excluded.detail",
                (attempt, iso_utc(issue_time), command, status,
                 iso_utc(started) if started is not None else None,
                 iso_utc(finished) if finished is not None else None,
                 int(pid if pid is not None else os.getpid()), socket.gethostname(), detail))

    def attempts(self, issue_time: Any = None) -> pd.DataFrame:
        """Every recorded attempt (of one issue time when given), oldest first."""
        q, args = "SELECT * FROM run_attempts", ()
        if issue_time is not None:
            q, args = q + " WHERE issue_time = ?", (iso_utc(issue_time),)
        with self._conn() as c:
            return pd.read_sql_query(q + " ORDER BY id", c, params=args)

    @_retried
    def mark_crashed(self) -> list[str]:
        """Mark attempts left ``running`` by a process of this host that is gone as ``crashed``.

        The run row of such an issue time, when still ``running``, becomes ``crashed`` too.

        Returns
        -------
        list of str
            Issue times (ISO UTC) with a crashed attempt.
        """
        host = socket.gethostname()
        now = iso_utc(dt.datetime.now(dt.UTC))
        out: list[str] = []
        with self._conn() as c:
            rows = c.execute("SELECT attempt, issue_time, pid FROM run_attempts WHERE status = "
                             "'running' AND host = ?", (host,)).fetchall()
            for r in rows:
                if _pid_alive(r["pid"]) and int(r["pid"]) != os.getpid():
                    continue
                if int(r["pid"] or 0) == os.getpid():
                    continue
                c.execute("UPDATE run_attempts SET status = 'crashed', finished = ?, detail = "
                          "'process gone while running (found by a later run)' WHERE attempt = ?",
                          (now, r["attempt"]))
                c.execute("UPDATE runs SET status = 'crashed', finished = ? WHERE issue_time = ? "
                          "AND status = 'running'", (now, r["issue_time"]))
                out.append(r["issue_time"])
        return sorted(set(out))

    def runs(self) -> pd.DataFrame:
        """All runs, oldest first."""
        with self._conn() as c:
            return pd.read_sql_query("SELECT * FROM runs ORDER BY issue_time", c)

    # --------------------------------------------------------- transitions
    @_retried
    def record_transition(self, decision: Any, *, unit_id: str | None = None,
                          track: str = "colour", machine_level: str | None = None,
                          hold_count: int = 0, episode_start: str | None = None,
                          decided_by: str = "airwarn", dates: list[str] | None = None) -> bool:
        """Record a decision (``WarningDecision`` or its dict); ``INSERT OR IGNORE`` on its id.

        ``dates`` (local ISO dates of D+1…) are stored with the forecast values so later runs can
        look up what was forecast for a day (:meth:`forecast_for`).

        Returns
        -------
        bool
            True when a new row was written, False when the decision was already recorded.
        """
        d = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
        units = list(d["unit_ids"])
        forecast = {"daily_aqi": d.get("daily_aqi"), "primary": d.get("primary_pollutant"),
                    "dates": list(dates) if dates else None}
        if d.get("joint"):  # regional / joint warnings: kind, source and acting units, phase
            forecast["joint"] = d["joint"]
        with self._conn() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO transitions (decision_id, unit_id, unit_ids, track, "
                "from_level, to_level, action, run, forecast, trigger, decided_by, machine_level, "
                "hold_count, episode_start, start, \"end\", recorded) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (d["decision_id"], unit_id or ",".join(units), json.dumps(units), track,
                 d.get("previous_level") or "none", d["level"], d["action"],
                 iso_utc(d["issue_time"]), json.dumps(forecast, ensure_ascii=False, sort_keys=True),
                 d.get("trigger"), decided_by, machine_level or d["level"], int(hold_count),
                 episode_start, d.get("start"), d.get("end"), iso_utc(d["issue_time"])))
            return cur.rowcount == 1

    def transitions(self, unit_id: str | None = None) -> pd.DataFrame:
        """Recorded decisions (optionally of one unit), oldest first."""
        q = "SELECT * FROM transitions"
        args: tuple = ()
        if unit_id is not None:
            q += " WHERE unit_id = ?"
            args = (unit_id,)
        with self._conn() as c:
            return pd.read_sql_query(q + " ORDER BY run, decision_id", c, params=args)

    def current_state(self, unit_id: str, before: Any = None, track: str = "colour") -> UnitState:
        """State of a unit after its latest decision (strictly before ``before`` when given).

        A run reads the state before its own issue time, so rerunning it gives the same answer.
        """
        q = "SELECT * FROM transitions WHERE unit_id = ? AND track = ?"
        args: list[Any] = [unit_id, track]
        if before is not None:
            q += " AND run < ?"
            args.append(iso_utc(before))
        with self._conn() as c:
            row = c.execute(q + " ORDER BY run DESC, rowid DESC LIMIT 1", args).fetchone()
        if row is None:
            return UnitState()
        level = "none" if row["action"] == "lift" else row["to_level"]
        return UnitState(level=level, machine_level=row["machine_level"] or level,
                         hold_count=int(row["hold_count"] or 0),
                         episode_start=None if level == "none" else row["episode_start"],
                         last_decision_id=row["decision_id"], last_run=row["run"],
                         last_action=row["action"])

    def open_warnings(self, track: str, before: Any) -> list[dict[str, Any]]:
        """Regional or joint warnings in force before ``before`` (tracks ``regional`` / ``joint``):
        per identity (the ``unit_id`` column holds the regional warning's id) its latest decision,
        unless that was a lift.

        Returns
        -------
        list of dict
            ``id``, ``level``, ``unit_ids``, ``decision_id``, ``run`` (ISO UTC), ``joint``
            (the decision's ``joint`` dict), oldest identity first.
        """
        q = ("SELECT t.* FROM transitions t JOIN (SELECT unit_id, MAX(run) AS run FROM transitions "
             "WHERE track = ? AND run < ? GROUP BY unit_id) m ON t.unit_id = m.unit_id AND "
             "t.run = m.run WHERE t.track = ? ORDER BY t.run, t.rowid")
        with self._conn() as c:
            rows = c.execute(q, (track, iso_utc(before), track)).fetchall()
        out = []
        for r in rows:
            if r["action"] == "lift" or r["to_level"] == "none":
                continue
            try:
                joint = json.loads(r["forecast"] or "{}").get("joint") or {}
            except ValueError:
                joint = {}
            out.append({"id": r["unit_id"], "level": r["to_level"],
                        "unit_ids": json.loads(r["unit_ids"]), "decision_id": r["decision_id"],
                        "run": r["run"], "joint": joint})
        return out

    def forecast_for(self, unit_id: str, dates: list[str], before: Any) -> list[float | None]:
        """Latest daily AQI forecast recorded for a unit for each date (runs before ``before``).

        Used to count days already in an episode (today, yesterday) when a warning is in force.
        Returns None for a date no recorded run covered.
        """
        want = {d: None for d in dates}
        with self._conn() as c:
            rows = c.execute("SELECT forecast FROM transitions WHERE unit_id = ? AND track = "
                             "'colour' AND run < ? ORDER BY run DESC LIMIT 10",
                             (unit_id, iso_utc(before))).fetchall()
        for row in rows:
            try:
                f = json.loads(row["forecast"] or "{}")
            except ValueError:
                continue
            vals = (f.get("daily_aqi") or {}).get(unit_id) or []
            for day, v in zip(f.get("dates") or [], vals, strict=False):
                if day in want and want[day] is None and v is not None:
                    want[day] = float(v)
        return [want[d] for d in dates]

    # ------------------------------------------------------------ overrides
    @_retried
    def record_override(self, unit_id: str, level: str, reason: str, who: str, when: Any,
                        valid_until: Any) -> Override:
        """Record a forecaster's override (kept forever; effective from ``when`` to ``valid_until``)."""
        from airwarn.configs.warning_schema import LEVELS

        if level not in LEVELS:
            raise ValueError(f"override for {unit_id!r}: unknown level {level!r}; expected {LEVELS}")
        if not reason.strip() or not who.strip():
            raise ValueError(f"override for {unit_id!r}: a reason and the forecaster's name are required")
        o = Override(unit_id, level, reason, who, iso_utc(when), iso_utc(valid_until))
        if o.valid_until <= o.when:
            raise ValueError(f"override for {unit_id!r}: valid_until {valid_until} is not after {when}")
        with self._conn() as c:
            c.execute("INSERT OR IGNORE INTO overrides (unit_id, level, reason, who, \"when\", "
                      "valid_until) VALUES (?, ?, ?, ?, ?, ?)",
                      (o.unit_id, o.level, o.reason, o.who, o.when, o.valid_until))
        return o

    def active_override(self, unit_id: str, at: Any) -> Override | None:
        """The latest override of a unit in force at time ``at`` (None when none)."""
        t = iso_utc(at)
        with self._conn() as c:
            row = c.execute("SELECT * FROM overrides WHERE unit_id = ? AND \"when\" <= ? AND "
                            "valid_until > ? ORDER BY \"when\" DESC, id DESC LIMIT 1",
                            (unit_id, t, t)).fetchone()
        if row is None:
            return None
        return Override(row["unit_id"], row["level"], row["reason"], row["who"], row["when"],
                        row["valid_until"])

    def overrides(self) -> pd.DataFrame:
        """Every override ever recorded."""
        with self._conn() as c:
            return pd.read_sql_query("SELECT * FROM overrides ORDER BY \"when\", id", c)

    # ----------------------------------------------------------- deliveries
    @_retried
    def record_delivery(self, decision_id: str, channel: str, status: str, detail: str = "",
                        time: Any = None) -> int:
        """Record one delivery attempt; returns the attempt number for (decision, channel).

        A second ``sent`` for the same decision and channel is ignored (UNIQUE).
        """
        now = iso_utc(time if time is not None else dt.datetime.now(dt.UTC))
        with self._conn() as c:
            n = c.execute("SELECT COUNT(*) FROM deliveries WHERE decision_id = ? AND channel = ?",
                          (decision_id, channel)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO deliveries (decision_id, channel, status, attempts, "
                      "detail, time) VALUES (?, ?, ?, ?, ?, ?)",
                      (decision_id, channel, status, n + 1, detail, now))
        return n + 1

    def last_delivery(self, decision_id: str, channel: str) -> str | None:
        """Status of the latest delivery row of (decision, channel), None when none.

        ``sending`` means an attempt started and never finished (killed mid-send).
        """
        with self._conn() as c:
            row = c.execute("SELECT status FROM deliveries WHERE decision_id = ? AND channel = ? "
                            "ORDER BY id DESC LIMIT 1", (decision_id, channel)).fetchone()
        return None if row is None else str(row["status"])

    def has_delivery(self, decision_id: str, channel: str) -> bool:
        """Whether the decision was already sent on this channel."""
        with self._conn() as c:
            row = c.execute("SELECT 1 FROM deliveries WHERE decision_id = ? AND channel = ? AND "
                            "status = 'sent'", (decision_id, channel)).fetchone()
        return row is not None

    def deliveries(self) -> pd.DataFrame:
        """Every delivery attempt."""
        with self._conn() as c:
            return pd.read_sql_query("SELECT * FROM deliveries ORDER BY id", c)

    def count(self, table: str) -> int:
        """Number of rows of a register table."""
        if table not in {"runs", "run_attempts", "transitions", "overrides", "deliveries"}:
            raise ValueError(f"unknown register table {table!r}")
        with self._conn() as c:
            return int(c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
