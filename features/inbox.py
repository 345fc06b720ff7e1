"""The inbox: a folder where input files are dropped (by ``airwarn fetch`` or by hand) and
ingested once each.

:func:`process_inbox` looks at every file under the folder, recognises it through the input
format registry (:func:`features.readers.registry.detect_format`) and hands it to the ingest of
its kind:

=============  ==========================================================================
kind           ingest
=============  ==========================================================================
``obs``        ``features.ingest.ingest_files`` (QC, idempotent station store)
``met_grid``   ``features.ingest.ingest_met_files`` (cycles for files under an NWP
               source's folder ``inbox/<nwp source>/`` or a ``cycles/`` folder, and WRF)
``met_obs``    :func:`ingest_met_obs_files` — the hook the station-meteorology store wires
=============  ==========================================================================

- **Once each**: a ledger (SQLite ``<data_dir>/inbox/ledger.sqlite``) keyed by the file's
  SHA-256 records what was ingested, when, as what; a file with the same content is not ingested
  again, whatever its name or folder. Files stay where they are.
- **Bad files are quarantined**, never lost: moved to ``<folder>/quarantine/<name>`` with
  ``<name>.error.txt`` beside it (the one-line error, the original path, the time), and the
  inbox goes on with the next file.
- **Deferred**: a kind with no ingest wired yet, or a file still being written (younger than
  ``settle_s``), stays in place and is looked at again next time.

Skipped: hidden files and folders (``.fetching/`` of the fetcher), ``*.part``, ``*.error.txt``,
checksum/index files, the SQLite files and the quarantine folder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.features.acquire import sha256_file, sqlite_db

from airwarn.core.runstore import RunStore

__all__ = ["InboxResult", "InboxLedger", "DeferFile", "inbox_files", "process_inbox",
           "watch_inbox", "ingest_met_obs_files", "QUARANTINE", "LEDGER"]

log = logging.getLogger(__name__)

#: Folder (inside the watched folder) where bad files go.
QUARANTINE = "quarantine"
#: Ledger file name (in ``<data_dir>/inbox/``).
LEDGER = "ledger.sqlite"
_SKIP_SUFFIXES = (".part", ".error.txt", ".sha256", ".md5", ".idx", ".index", ".sqlite",
                  ".sqlite-journal", ".sqlite-wal", ".sqlite-shm", ".lock")


class DeferFile(Exception):
    """Raised by an ingest hook: leave the file in the inbox and try again later."""


def ingest_met_obs_files(paths: list[Path], data_dir: Path, **_: Any) -> str:
    """Ingest station meteorology (kind ``met_obs``, e.g. CMA surface observations).

    The hook the station-meteorology store wires: it calls
    ``features.ingest.ingest_met_obs_files(paths, data_dir)`` when that function exists.
    Until then the files are deferred (left in the inbox, not quarantined, not in the ledger).

    Returns
    -------
    str
        One line saying what was stored.
    """
    from airwarn.features.ingest import ingest_met_obs_files as ingest

    wrep, met = ingest(paths, data_dir)
    notes = met.attrs.get("notes", [])
    return (f"station meteorology: {len(met):,} station-hours, {met['station_id'].nunique()} "
            f"stations ({wrep.added:,} added, {wrep.replaced:,} replaced)"
            + "".join(f"; {n}" for n in notes))


def _ingest_obs(paths: list[Path], data_dir: Path, *, fmt: str, config: AirwarnConfig | None,
                **_: Any) -> str:
    from airwarn.features.ingest import ingest_files

    res = ingest_files(paths, data_dir, fmt=fmt, stations=config.stations if config else None)
    return (f"{res.rows} station-hours: {res.added} added, {res.replaced} replaced, "
            f"{res.unchanged} unchanged, {res.rejected} rejected")


def _ingest_met(paths: list[Path], data_dir: Path, *, fmt: str, cycle: bool, **_: Any) -> str:
    from airwarn.features.ingest import ingest_met_files

    written = ingest_met_files(paths, data_dir, fmt=fmt, cycle=cycle)
    return "meteorology → " + ", ".join(str(Path(w).relative_to(data_dir))
                                        if Path(w).is_relative_to(data_dir) else str(w)
                                        for w in written)


#: Ingest by kind: ``fn(paths, data_dir, fmt=, cycle=, config=) -> summary line``.
HANDLERS: dict[str, Callable[..., str]] = {
    "obs": _ingest_obs,
    "met_grid": _ingest_met,
    "met_obs": ingest_met_obs_files,
}


class InboxLedger:
    """What the inbox ingested: SQLite, one row per file content (SHA-256)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS ingested (sha256 TEXT PRIMARY KEY, "
                       "name TEXT, path TEXT, kind TEXT, format TEXT, status TEXT, at TEXT, "
                       "detail TEXT)")

    def _db(self) -> Any:
        return sqlite_db(self.path)

    def done(self, sha256: str) -> dict[str, Any] | None:
        """The ledger row of an ingested content, or None."""
        with self._db() as db:
            r = db.execute("SELECT * FROM ingested WHERE sha256=? AND status='ingested'",
                           (sha256,)).fetchone()
        return dict(r) if r else None

    def record(self, sha256: str, path: Path, kind: str, fmt: str, status: str,
               detail: str) -> None:
        """Insert or replace the row of ``sha256``."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO ingested VALUES (?,?,?,?,?,?,?,?)",
                       (sha256, path.name, str(path), kind, fmt, status,
                        pd.Timestamp.now(tz="UTC").isoformat(), detail))

    def frame(self) -> pd.DataFrame:
        """The ledger as a table."""
        with self._db() as db:
            return pd.read_sql_query("SELECT * FROM ingested ORDER BY at", db)


@dataclass
class InboxResult:
    """What one pass over the inbox did (paths as found in the folder)."""

    ingested: list[tuple[Path, str, str]] = field(default_factory=list)   # path, format, summary
    already: list[Path] = field(default_factory=list)
    quarantined: list[tuple[Path, str]] = field(default_factory=list)     # new path, error
    deferred: list[tuple[Path, str]] = field(default_factory=list)


def inbox_files(folder: Path | str) -> list[Path]:
    """Candidate files under ``folder`` (sorted; see the module docstring for what is skipped)."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] == QUARANTINE or p.name.lower().endswith(_SKIP_SUFFIXES):
            continue
        out.append(p)
    return out


def _quarantine(folder: Path, path: Path, sha: str, error: str) -> Path:
    from airwarn.features.atomic import write_text_atomic

    qdir = folder / QUARANTINE
    qdir.mkdir(parents=True, exist_ok=True)
    target = qdir / path.name
    if target.exists():
        target = qdir / f"{path.stem}-{sha[:8]}{path.suffix}"
    path.replace(target)
    write_text_atomic(target.with_name(target.name + ".error.txt"),
                      f"file: {path}\nquarantined: {pd.Timestamp.now(tz='UTC').isoformat()}\n"
                      f"sha256: {sha}\nerror: {error}\n")
    return target


def _nwp_folders() -> set[str]:
    try:
        from airwarn.configs.sources_schema import load_sources

        return {s.name for s in load_sources().sources if s.kind == "nwp"}
    except Exception:  # noqa: BLE001 - no sources file: no NWP folders
        return set()


def process_inbox(folder: Path | str, data_dir: Path | str, *, config: AirwarnConfig | None = None,
                  settle_s: float = 0.0, handlers: dict[str, Callable[..., str]] | None = None,
                  ledger: InboxLedger | None = None) -> InboxResult:
    """Ingest every new file under ``folder`` once; quarantine the bad ones.

    Parameters
    ----------
    folder : path-like
        The watched folder (``airwarn fetch`` lands in ``<data_dir>/inbox``).
    data_dir : path-like
        The data store.
    config : AirwarnConfig, optional
        For the station table (default: ``configs.load_config()``).
    settle_s : float
        Files modified less than this many seconds ago are left for the next pass, s.
    handlers : dict, optional
        Ingest by kind (default :data:`HANDLERS`).
    ledger : InboxLedger, optional
        Default ``<data_dir>/inbox/ledger.sqlite``.

    Returns
    -------
    InboxResult
    """
    from airwarn.features.readers.common import ReaderError
    from airwarn.features.readers.registry import detect_format

    folder, data_dir = Path(folder), Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder to watch")
    if config is None:
        from airwarn import configs

        config = configs.load_config()
    ledger = ledger or InboxLedger(RunStore(data_dir).inbox_dir / LEDGER)
    use = {**HANDLERS, **(handlers or {})}
    nwp = _nwp_folders()
    res = InboxResult()
    now = time.time()

    def fail(p: Path, sha: str, kind: str, fmt: str, exc: Exception) -> None:
        msg = str(exc).strip() or type(exc).__name__
        if not isinstance(exc, ReaderError | ValueError | OSError | KeyError):
            log.exception("inbox: %s failed to ingest", p)
            msg = f"{type(exc).__name__}: {msg}"
        if str(p) not in msg:
            msg = f"{p.name}: {msg}"
        q = _quarantine(folder, p, sha, msg)
        ledger.record(sha, p, kind, fmt, "quarantined", msg)
        res.quarantined.append((q, msg))
        log.warning("inbox: quarantined %s", msg)

    def done(p: Path, sha: str, kind: str, fmt: str, summary: str) -> None:
        ledger.record(sha, p, kind, fmt, "ingested", summary)
        res.ingested.append((p, fmt, summary))
        log.info("inbox: %s (%s) %s", p, fmt, summary)

    # 1. recognise every new file; files of one folder, kind and format form a batch
    batches: dict[tuple[Path, str, str, bool], list[tuple[Path, str]]] = {}
    for p in inbox_files(folder):
        if settle_s and now - p.stat().st_mtime < settle_s:
            res.deferred.append((p, "still being written"))
            continue
        sha = sha256_file(p)
        if ledger.done(sha):
            res.already.append(p)
            continue
        kind, fmt = "?", "?"
        try:
            f = detect_format(p)
            kind, fmt = f.kind, f.name
            if kind not in use:
                raise ReaderError(f"{p}: no ingest for files of kind {kind!r} ({fmt})")
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the inbox
            fail(p, sha, kind, fmt, exc)
            continue
        top = p.relative_to(folder).parts[0]
        cycle = fmt == "wrf" or top in nwp or "cycles" in p.relative_to(folder).parts[:-1]
        batches.setdefault((p.parent, kind, fmt, cycle), []).append((p, sha))
    # 2. ingest each batch in one call (the steps of a cycle are merged into its file once);
    #    when a batch fails, its files are ingested one by one so that only the bad ones are
    #    quarantined
    for (_parent, kind, fmt, cycle), items in batches.items():
        if len(items) > 1:
            try:
                summary = use[kind]([p for p, _ in items], data_dir, fmt=fmt, cycle=cycle,
                                    config=config)
            except DeferFile as exc:
                res.deferred += [(p, str(exc)) for p, _ in items]
                continue
            except Exception as exc:  # noqa: BLE001 - retried file by file below
                log.info("inbox: batch of %d %s files failed (%s); one by one", len(items),
                         fmt, exc)
            else:
                for p, sha in items:
                    done(p, sha, kind, fmt, f"{summary} (batch of {len(items)} files)")
                continue
        for p, sha in items:
            try:
                summary = use[kind]([p], data_dir, fmt=fmt, cycle=cycle, config=config)
            except DeferFile as exc:
                res.deferred.append((p, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the inbox
                fail(p, sha, kind, fmt, exc)
                continue
            done(p, sha, kind, fmt, summary)
    return res


def watch_inbox(folder: Path | str, data_dir: Path | str, *, interval_s: float = 30.0,
                settle_s: float = 5.0, rounds: int | None = None,
                on_result: Callable[[InboxResult], None] | None = None,
                sleep: Callable[[float], None] = time.sleep) -> None:
    """Process the inbox every ``interval_s`` seconds (``rounds`` times, or until interrupted).

    ``settle_s``: files younger than this are left for the next round (still being copied), s.
    """
    k = 0
    while rounds is None or k < rounds:
        r = process_inbox(folder, data_dir, settle_s=settle_s)
        if on_result is not None:
            on_result(r)
        k += 1
        if rounds is None or k < rounds:
            sleep(interval_s)
