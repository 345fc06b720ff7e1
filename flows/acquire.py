"""Acquisition before each daily forecast: fetch the feeds, wait for the newest complete forecast
cycle up to a deadline, fall back to the previous one, ingest the inbox.

``acquire`` (Prefect flow; deployment ``acquire`` in :mod:`flows.serve`, starting
``settings.acquire.start_min_before`` minutes before each issue time) calls
:func:`fetch_and_ingest`:

1. fetch every enabled source (:func:`features.acquire.fetch_sources`); a forecast cycle lands
   in the inbox only once all its configured steps have arrived;
2. while the newest due cycle of an NWP source is incomplete, fetch again every
   ``settings.acquire.poll_s`` seconds — until the deadline, ``deadline_min_before`` minutes
   before the issue time;
3. at the deadline, an incomplete newest cycle whose arrived steps run without a gap from
   step 0 to the end of local D+1 lands as a partial cycle (``settings.acquire.land_partial``;
   :func:`features.acquire.land_partial_cycle`): the run uses it, the newest complete cycle
   for the hours after;
4. write ``<data_dir>/acquire/<stamp>.json``: per NWP source the cycle wanted, the cycle used
   (the partial one, else the newest complete one: the fallback when they differ), their steps
   and lateness (``partial``: its last step, files landed, the cycle for the later hours);
   counts of what arrived and was ingested; the inbox is ingested once
   (:func:`features.inbox.process_inbox`).

The daily run then uses the newest cycle in the store (``features.build.CycleMet``: an older one
is shifted by its age and named as degraded input) and records in its forecast's ``inputs`` when
the cycle and the observations arrived and how late (:func:`features.acquire.arrival_info`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from airwarn.configs.schema import Settings
from airwarn.configs.sources_schema import Sources
from prefect import flow

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["acquire", "fetch_and_ingest", "newest_complete_cycle", "next_issue_time",
           "acquire_crons"]

log = logging.getLogger(__name__)
_TZ = ZoneInfo(LOCAL_TZ)


def next_issue_time(now: datetime | None = None, issue_hours: list[int] | None = None
                    ) -> datetime:
    """The first scheduled issue time at or after ``now`` (Asia/Shanghai)."""
    hours = sorted(issue_hours or [5, 15])
    now = (now or datetime.now(_TZ)).astimezone(_TZ)
    for d in (0, 1):
        day = (now + timedelta(days=d)).replace(minute=0, second=0, microsecond=0)
        for h in hours:
            t = day.replace(hour=h)
            if t >= now:
                return t
    raise AssertionError("unreachable")  # pragma: no cover


def acquire_crons(issue_hours: list[int], start_min_before: int) -> list[str]:
    """Cron strings (Asia/Shanghai) starting ``start_min_before`` minutes before each issue hour,
    e.g. ``["0 4 * * *", "0 14 * * *"]`` for 05:00 and 15:00 and 60 min."""
    out = []
    for h in sorted(set(issue_hours)):
        m = (h * 60 - start_min_before) % 1440
        out.append(f"{m % 60} {m // 60} * * *")
    return out


def newest_complete_cycle(catalog: Any, src: Any) -> pd.Timestamp | None:
    """Reference time (UTC) of the newest cycle of ``src`` with every configured step landed."""
    df = catalog.frame(src.name)
    if df.empty:
        return None
    ok = df[(df["status"] == "ok") & df["cycle"].notna()]
    n = ok.groupby("cycle")["step"].nunique()
    done = n[n >= len(src.steps or [])]
    return pd.Timestamp(done.index.max()) if len(done) else None


def fetch_and_ingest(issue_time: Any, data_dir: Path | str, *, names: list[str] | None = None,
                     base_urls: dict[str, str] | None = None, wait: bool = True,
                     sources: Sources | None = None, settings: Settings | None = None,
                     ingest: bool = True,
                     clock: Callable[[], pd.Timestamp] | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Fetch, wait for the newest complete cycle up to the deadline, fall back, ingest.

    Parameters
    ----------
    issue_time : datetime-like
        The issue time this acquisition is for (Asia/Shanghai if naive).
    data_dir : path-like
    names : list of str, optional
        Sources to fetch (default: the enabled ones).
    base_urls : dict, optional
        Base URL overrides ``{name or "*": url}``.
    wait : bool
        Wait for incomplete cycles until the deadline (else one fetch round).
    sources : Sources, optional
        Default ``configs/sources.yaml``.
    settings : Settings, optional
        For ``acquire`` (deadline, poll interval); default ``configs.load_settings()``.
    ingest : bool
        Ingest the inbox after fetching.
    clock, sleep : callable
        The time now (UTC Timestamp) and how to wait, s (tests pass their own).

    Returns
    -------
    dict
        The acquisition record (also written to ``<data_dir>/acquire/<stamp>.json``).
    """
    from airwarn.configs.sources_schema import load_sources
    from airwarn.features.acquire import (
        FetchCatalog,
        contiguous_step,
        fetch_sources,
        inbox_dir,
        land_partial_cycle,
    )
    from airwarn.features.atomic import write_text_atomic
    from airwarn.features.inbox import process_inbox
    from airwarn.flows.locks import FETCH_LOCK, LockBusy, issue_lock

    from airwarn import configs

    clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))
    srcs = sources or load_sources()
    acq = (settings or configs.load_settings()).acquire
    ddir = Path(data_dir)
    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize(_TZ) if issue.tzinfo is None else issue
    deadline = issue.tz_convert("UTC") - pd.Timedelta(minutes=acq.deadline_min_before)
    started = clock()
    rounds = 0
    counts: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    targets: dict[str, Any] = {}
    while True:
        rounds += 1
        try:                                   # one fetch at a time per data directory
            with issue_lock(ddir, FETCH_LOCK, purpose="acquire"):
                rep = fetch_sources(srcs, ddir, now=clock(), names=names, base_urls=base_urls,
                                    sleep=sleep)
        except LockBusy as exc:                # another fetch: this round waits for the next
            rep = None
            log.warning("acquire: round %d not fetched: %s", rounds, exc)
            failures.append(f"round {rounds} not fetched: {exc}")
        if rep is not None:
            for name, c in rep.counts.items():
                tot = counts.setdefault(name, {})
                for k, v in c.items():
                    tot[k] = tot.get(k, 0) + v
            failures += rep.failures
            targets = {}
            for st in rep.cycles:              # the newest planned cycle of each source
                if st.source not in targets or st.cycle > targets[st.source].cycle:
                    targets[st.source] = st
        waiting = [st for st in targets.values() if not st.complete]
        now = clock()
        if (not waiting and rep is not None) or not wait or now >= deadline:
            break
        pause = min(acq.poll_s, (deadline - now).total_seconds())
        log.info("acquire: waiting %.0f s for %s", pause,
                 ", ".join(f"{s.source} {s.cycle:%Y%m%d%H} ({s.steps_have}/{s.steps_total})"
                           for s in waiting) or "another fetch to finish")
        sleep(max(pause, 0.0))
    catalog = FetchCatalog.for_data_dir(ddir)
    cycles: dict[str, Any] = {}
    # the end of local D+1 of the issue: a partial cycle that reaches it is worth landing
    end_d1 = (issue.normalize() + pd.Timedelta(days=2)).tz_convert("UTC")
    for name, st in targets.items():
        complete = newest_complete_cycle(catalog, srcs.get(name))
        partial: list[Path] = []
        if not st.complete and acq.land_partial:
            partial = land_partial_cycle(
                ddir, srcs.get(name), st.cycle,
                min_step=(end_d1 - st.cycle).total_seconds() / 3600)
        used = st.cycle if partial else complete
        cycles[name] = {
            "wanted": st.cycle.isoformat(), "wanted_steps": f"{st.steps_have}/{st.steps_total}",
            "used": used.isoformat() if used is not None else None,
            "fallback": used != st.cycle,
            "used_age_h": round((issue.tz_convert("UTC") - used).total_seconds() / 3600, 1)
            if used is not None else None,
            "late_h": round(st.late_h, 2) if st.late_h is not None else None,
        }
        if partial:
            last = contiguous_step(catalog, srcs.get(name), st.cycle)
            cycles[name]["partial"] = {
                "to_step_h": last, "landed": len(partial),
                "later_hours_from": complete.isoformat() if complete is not None else None}
            log.warning("acquire: %s cycle %s incomplete at the deadline (%s steps): landed to "
                        "step %s h; the hours after from %s", name, st.cycle,
                        cycles[name]["wanted_steps"], last, complete)
        elif used != st.cycle:
            log.warning("acquire: %s cycle %s incomplete at the deadline (%s steps); using %s",
                        name, st.cycle, cycles[name]["wanted_steps"], used)
    record: dict[str, Any] = {
        "issue_time": issue.isoformat(), "deadline": deadline.isoformat(),
        "started": started.isoformat(), "finished": clock().isoformat(), "rounds": rounds,
        "fetched": counts, "failures": failures, "cycles": cycles,
    }
    if ingest:
        res = process_inbox(inbox_dir(ddir), ddir)
        record["inbox"] = {"ingested": [p.name for p, _, _ in res.ingested],
                           "quarantined": [f"{q.name}: {e}" for q, e in res.quarantined],
                           "deferred": [f"{p.name}: {w}" for p, w in res.deferred],
                           "already": len(res.already)}
    write_text_atomic(RunStore(ddir).acquire_record(issue),
                      json.dumps(record, ensure_ascii=False, indent=1, default=str))
    return record


@flow(name="acquire", log_prints=False, validate_parameters=False)
def acquire(issue_time: str | datetime | None = None, data_dir: str | None = None,
            sources: list[str] | None = None, base_urls: dict[str, str] | None = None,
            wait: bool = True) -> dict[str, Any]:
    """Fetch and ingest the inputs of the next daily forecast (Prefect flow).

    Parameters
    ----------
    issue_time : str or datetime, optional
        Issue time served (Asia/Shanghai if naive); default the next scheduled one.
    data_dir : str, optional
        Data directory (default ``AIRWARN_DATA_DIR`` / settings).
    sources : list of str, optional
        Source names (default: the enabled sources of ``configs/sources.yaml``).
    base_urls : dict, optional
        Base URL overrides ``{name or "*": url}``.
    wait : bool
        Wait for the newest complete cycle until the deadline.

    Returns
    -------
    dict
        The acquisition record (:func:`fetch_and_ingest`).
    """
    from airwarn import configs

    settings = configs.load_settings()
    ddir = Path(data_dir or settings.data_dir)
    t = pd.Timestamp(issue_time) if issue_time is not None else \
        pd.Timestamp(next_issue_time(issue_hours=settings.issue_hours))
    return fetch_and_ingest(t, ddir, names=sources, base_urls=base_urls, wait=wait,
                            settings=settings)
