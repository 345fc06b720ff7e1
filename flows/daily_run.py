"""One daily run's state and its record: the register rows, the manifest with its history, the log.

:class:`DailyRun` is what the stages of ``flows.daily`` pass along (a plain object: Prefect does
not traverse it). The record of a run is append-only and never stops the run:

- the register (``register.sqlite``): a ``running`` row at start (short busy timeout, so it cannot
  hold up the forecast), the final row and one row per attempt; an attempt left ``running`` by a
  process that is gone is marked crashed; a register that is locked is named in the manifest
  (``register_problems``) and retried when the run is archived;
- the manifest (``products/<stamp>/manifest.json``): every stage record, outputs with SHA-256,
  degraded inputs, versions, decisions, bulletins and the history of every attempt; a failed
  attempt never replaces the manifest of a completed run;
- the run log (``products/<stamp>/logs/<attempt>.log``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.alerts.register import Register
from airwarn.configs import AirwarnConfig
from airwarn.features.build import MetSource
from airwarn.features.run_inputs import resolve_met
from airwarn.flows.stages import (
    StageRecord,
    StageUnavailable,
    read_manifest,
    sha256_file,
    write_manifest,
)
from airwarn.products.run import PRODUCTS, ProductInputs

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_ZONE, issue_stamp

__all__ = ["PRODUCT_STAGES", "DailyRun", "mark_crashed", "record_run", "archive", "run_log"]

log = logging.getLogger("airwarn.flows.daily")

#: Product stages, in run order (each can be switched off with ``products=``).
PRODUCT_STAGES: tuple[str, ...] = PRODUCTS
#: Busy timeout of the register writes made before the forecast (run start, crash check), s.
QUICK_REGISTER_TIMEOUT_S = 2.0


class DailyRun:
    """State of one daily run, passed from stage to stage.

    Attributes
    ----------
    config : AirwarnConfig
    issue_time : datetime
        Aware, Asia/Shanghai.
    stamp : str
        ``YYYYMMDDTHHMM`` (local), the file name of everything the run writes.
    store : RunStore
        The data directory's layout; ``data_dir``, ``products_dir``, ``manifest_path`` from it.
    previous : dict
        Stage records of the previous manifest of this issue time (name → dict).
    records : dict
        This run's :class:`~flows.stages.StageRecord` by stage name.
    degraded : list of str
        Reduced inputs, named for the operator (manifest, warnings, bulletins).
    met : str
        Meteorology source: ``"cycles"`` (files under ``met/cycles``), ``"demo"`` (the demo
        world's cycles regenerated from its seed), ``"perfect"`` or ``"none"``.
    products : tuple of str
        Product stages to run (subset of ``maps report bulletins delivery``).
    warnings : bool
        Run the warnings stage (a backfill's parallel forecast pass does not: warnings depend on
        the previous run's state and are made afterwards, in time order).
    observed_aqi : bool
        Write the observed daily AQI table of the last days.
    """

    def __init__(self, config: AirwarnConfig, issue_time: datetime, *, met: str = "auto",
                 products: tuple[str, ...] = PRODUCT_STAGES, warnings: bool = True,
                 observed_aqi: bool = True) -> None:
        self.config = config
        self.issue_time = issue_time
        self.stamp = issue_stamp(issue_time)
        self.store = RunStore(Path(config.settings.data_dir).resolve())
        self.data_dir = self.store.data_dir
        self.products_dir = self.store.products(self.stamp)
        self.manifest_path = self.store.manifest(self.stamp)
        self.previous: dict[str, dict] = {}
        self.read_previous()
        self.records: dict[str, StageRecord] = {}
        self.degraded: list[str] = []
        self.met = resolve_met(config, met)
        self.products = tuple(products)
        self.warnings = warnings
        self.observed_aqi = observed_aqi
        # data passed between stages
        self.obs: pd.DataFrame | None = None
        self.stations: pd.DataFrame = config.stations
        self.obs_units: pd.DataFrame | None = None
        self.met_source: MetSource | None = None
        self.met_info: dict[str, Any] = {}
        self.forecast: Any = None
        self.forecast_path: Path | None = None
        self.decisions: list[Any] = []
        self.scores: pd.DataFrame | None = None
        self.bulletins: dict[str, dict[str, str]] = {}
        self.register: Register | None = None
        self.started: datetime = datetime.now(LOCAL_ZONE)
        #: this attempt's id in the register's append-only ``run_attempts``
        self.attempt = f"{self.stamp}-{self.started:%Y%m%dT%H%M%S%f}-{os.getpid()}"
        #: register writes that could not be made yet (locked): retried when the run is archived
        self.register_problems: list[str] = []
        #: this attempt's log file (``products/<stamp>/logs/<attempt>.log``), when open
        self.log_path: Path | None = None

    @property
    def issue_utc(self) -> pd.Timestamp:
        """Issue time as a UTC Timestamp."""
        return pd.Timestamp(self.issue_time).tz_convert("UTC")

    def read_previous(self) -> None:
        """Read the stage records of the previous manifest of this issue time (if any)."""
        old = read_manifest(self.manifest_path) or {}
        self.previous = {s["name"]: s for s in old.get("stages", [])}

    def record(self, name: str) -> StageRecord:
        """A fresh record for a stage (replacing one from a failed attempt of this run)."""
        rec = StageRecord(name=name)
        self.records[name] = rec
        return rec

    def produced(self, name: str) -> bool:
        """True when stage ``name`` ran and produced its outputs (not failed/skipped/missing)."""
        rec = self.records.get(name)
        return rec is not None and rec.status not in ("not available", "failed", "skipped")

    def degrade(self, text: str) -> None:
        """Name a reduced input (once)."""
        if text not in self.degraded:
            self.degraded.append(text)

    def open_register(self) -> Register:
        """The warnings register (``register.sqlite``), opened once per run."""
        if self.register is None:
            self.register = Register(self.store.register)
        return self.register

    def product_inputs(self) -> ProductInputs:
        """What the product sequence (``products.run``) reads, from this run's state."""
        return ProductInputs(config=self.config, issue_time=pd.Timestamp(self.issue_time),
                             forecast=self.forecast, decisions=self.decisions,
                             obs_units=self.obs_units, met_source=self.met_source,
                             met_info=self.met_info, degraded=self.degraded)


def versions(run: DailyRun) -> dict[str, str]:
    """Versions of airwarn and its main libraries, and the forecast's model version."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("airwarn", "lightgbm", "prefect", "xarray", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    if run.forecast is not None:
        out["model_version"] = str(run.forecast.attrs.get("model_version", ""))
    return out


# --------------------------------------------------------------------------------------------
# the register
# --------------------------------------------------------------------------------------------


def _quick_register(run: DailyRun) -> Register:
    return Register(run.store.register, timeout=QUICK_REGISTER_TIMEOUT_S)


def _register_problem(run: DailyRun, status: str, exc: BaseException) -> None:
    text = f"register not written ({status}): {type(exc).__name__}: {exc}"
    log.warning("%s", text)
    if text not in run.register_problems:
        run.register_problems.append(text)


def mark_crashed(run: DailyRun) -> None:
    """Mark attempts left ``running`` by a process that is gone as crashed (never raises)."""
    try:
        crashed = _quick_register(run).mark_crashed()
        if crashed:
            log.warning("crashed runs found and marked: %s", ", ".join(crashed))
    except (sqlite3.Error, AttributeError, StageUnavailable) as exc:
        _register_problem(run, "crash check", exc)


def record_run(run: DailyRun, status: str) -> None:
    """Record the run in the register: its summary row and this attempt's own row.

    ``Register.record_run`` never downgrades a completed run's row (a failed rerun leaves it);
    ``record_attempt`` appends this attempt. A register held by another writer (or unwritable)
    does not stop the run: the problem is named in the manifest and the write is retried when
    the run is archived.
    """
    try:
        # the "running" row must not hold up the forecast: a short busy timeout; the final row
        # uses the run's register (full timeout and retries)
        register = _quick_register(run) if status == "running" else run.open_register()
    except sqlite3.Error as exc:
        _register_problem(run, status, exc)
        return
    model_version = ""
    if run.forecast is not None:
        model_version = str(run.forecast.attrs.get("model_version", ""))
    inputs = {"met": run.met, "met_info": run.met_info, "degraded_inputs": run.degraded,
              "manifest": str(run.manifest_path)}
    finished = None if status == "running" else datetime.now(LOCAL_ZONE)
    try:
        register.record_run(run.issue_time, started=run.started, finished=finished,
                            status=status, model_version=model_version,
                            inputs=json.dumps(inputs, ensure_ascii=False, sort_keys=True,
                                              default=str))
        register.record_attempt(run.attempt, run.issue_time, status, command="daily",
                                started=run.started, finished=finished)
    except sqlite3.Error as exc:
        _register_problem(run, status, exc)


# --------------------------------------------------------------------------------------------
# the manifest
# --------------------------------------------------------------------------------------------


def _carry_forward(run: DailyRun) -> None:
    """Keep an earlier attempt's product records for stages this attempt did not run.

    A partial rerun (``--no-products``) does not drop what a completed run recorded: a stage
    skipped as "not asked for" whose earlier outputs are all still there with the recorded
    SHA-256 keeps that record.
    """
    for name, rec in list(run.records.items()):
        prev = run.previous.get(name)
        if rec.status != "skipped" or not prev or not prev.get("outputs") or \
                prev.get("status") not in ("ok", "reused", "degraded"):
            continue
        ok = True
        for rel in prev["outputs"]:
            full = run.data_dir / rel
            want = (prev.get("sha256") or {}).get(rel)
            if not full.exists() or (want and full.is_file() and sha256_file(full) != want):
                ok = False
                break
        if ok:
            kept = StageRecord(name=name, status=prev["status"],
                               detail=f"kept from an earlier run ({rec.detail})",
                               outputs=list(prev["outputs"]), sha256=dict(prev.get("sha256") or {}),
                               input_hash=prev.get("input_hash"), seconds=0.0)
            run.records[name] = kept
            if name == "bulletins" and prev.get("files") and not run.bulletins:
                run.bulletins = prev["files"]


def archive(run: DailyRun, status: str, error: str | None = None) -> dict[str, Any]:
    """Write the run manifest and record the run in the register.

    Returns
    -------
    dict
        The manifest (also at ``products/<stamp>/manifest.json``).
    """
    _carry_forward(run)
    products: list[dict[str, str]] = []
    for rec in run.records.values():
        for rel in rec.outputs:
            products.append({"stage": rec.name, "path": rel, "sha256": rec.sha256.get(rel, "")})
    manifest: dict[str, Any] = {
        "issue_time": run.issue_time.isoformat(),
        "stamp": run.stamp,
        "status": status,
        "error": error,
        "data_dir": str(run.data_dir.resolve()),
        "met": run.met,
        "met_info": run.met_info,
        "degraded_inputs": run.degraded,
        "degraded_zh_en": "以降级输入发布 / issued with reduced inputs" if run.degraded else "",
        "versions": versions(run),
        "stages": [r.to_dict() for r in run.records.values()],
        "products": products,
        "decisions": [
            {"decision_id": str(getattr(d, "decision_id", "")), "level": str(getattr(d, "level", "")),
             "action": str(getattr(d, "action", "")), "unit_ids": list(getattr(d, "unit_ids", [])),
             "regional": bool(getattr(d, "regional", False))}
            for d in run.decisions],
        "bulletins": run.bulletins,
    }
    for s in manifest["stages"]:
        if s["name"] == "bulletins":
            s["files"] = run.bulletins
    if run.log_path is not None:
        manifest["log"] = str(run.log_path.relative_to(run.data_dir))
    record_run(run, status)
    if run.register_problems:
        manifest["register_problems"] = list(run.register_problems)
    # the record is append-only: every attempt adds itself to the history; a failed attempt
    # never replaces the manifest of a completed run (it only adds its entry)
    old = read_manifest(run.manifest_path) or {}
    entry = {"attempt": run.attempt, "started": run.started.isoformat(),
             "finished": datetime.now(LOCAL_ZONE).isoformat(), "status": status, "error": error,
             "pid": os.getpid(), "log": manifest.get("log"),
             "stages": {r.name: r.status for r in run.records.values()}}
    history = list(old.get("history") or [])
    if old and not history:  # a manifest from before histories were kept
        history.append({"attempt": "earlier", "status": old.get("status"),
                        "error": old.get("error")})
    history.append(entry)
    if old.get("status") in ("complete", "partial") and status not in ("complete", "partial"):
        old["history"] = history
        write_manifest(run.manifest_path, old)
        manifest["kept"] = f"manifest of the completed run kept; this attempt ({status}) added " \
                           f"to its history"
        return manifest
    manifest["history"] = history
    write_manifest(run.manifest_path, manifest)
    return manifest


class _PassOn(logging.Handler):
    """Hands the records of at least ``level`` to the handlers above ``airwarn`` (the console).

    While a run lowers the ``airwarn`` logger to INFO for its log file, the console keeps what it
    showed before (a 60-run backfill would otherwise print two INFO lines per run).
    """

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().callHandlers(record)


@contextmanager
def run_log(run: DailyRun) -> Iterator[None]:
    """Log the run (``airwarn`` loggers, INFO) to ``products/<stamp>/logs/<attempt>.log``.

    The manifest names the file (``log``). A log that cannot be opened (full disk, read-only)
    does not stop the run. The console (the root logger's handlers) sees what it saw before:
    when the ``airwarn`` level has to be lowered for the file, records below the former level
    stop at the file.
    """
    path = run.products_dir / "logs" / f"{run.attempt}.log"
    handler: logging.Handler | None = None
    root = logging.getLogger("airwarn")
    old_level, old_propagate = root.level, root.propagate
    before = root.getEffectiveLevel()
    pass_on = _PassOn(level=before)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=False)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
        if before > logging.INFO:
            root.setLevel(logging.INFO)
            if old_propagate:
                root.propagate = False
                root.addHandler(pass_on)
        run.log_path = path
        log.info("run %s attempt %s started (pid %d)", run.stamp, run.attempt, os.getpid())
    except OSError as exc:
        run.log_path = None
        log.warning("run log %s not written: %s", path, exc)
    try:
        yield
    finally:
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
            root.removeHandler(pass_on)
            root.setLevel(old_level)
            root.propagate = old_propagate
