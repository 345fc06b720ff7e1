"""The daily forecast run: observations and meteorology in, forecasts, warnings and products out.

``daily_forecast(issue_time)`` is the Prefect flow the schedule runs at 05:00 and 15:00
Asia/Shanghai. It only orchestrates: each stage is a short function that calls a package and
records what it did (``docs/INTERFACES.md``); :data:`STAGES` is the run, in order.

==============  =========================================================  =========================
stage           package function                                           output
==============  =========================================================  =========================
ingest          ``features.run_inputs``: ``read_run_obs``,                 (in memory)
                ``stations_down``, ``make_met_source``, ``met_notes``
qc              ``features.qc.run_qc``                                     ``obs/qc/<stamp>.csv``
aggregate       ``features.run_inputs.unit_obs``, ``units_not_reporting``  (in memory)
forecast        ``models.forecast.run_forecast`` + ``write_forecast``      ``forecasts/<stamp>.nc``
daily_aqi       ``alerts.daily.daily_aqi`` (observed, last days)           ``products/<stamp>/observed_daily_aqi.csv``
warnings        ``alerts.warning.warn_run`` (+ control orders)             ``warnings/<stamp>.json``
maps            ``products.run.render_maps``                               ``products/<stamp>/maps/``
verify_recent   ``products.run.verify_recent``                             ``products/<stamp>/verification_30d.csv``
report          ``products.run.render_report``                             ``products/<stamp>/report.html``
bulletins       ``products.run.render_decision_bulletins``                 ``products/<stamp>/bulletins/``
delivery        ``products.run.deliver_bulletins``                         register ``deliveries``
archive         ``flows.daily_run.archive`` (manifest, register row)       ``products/<stamp>/manifest.json``
==============  =========================================================  =========================

The product stages are the product sequence of ``products.run`` (the one ``airwarn products``
re-renders a stored run with), called stage by stage.

Robustness (all orchestration; the packages do the domain work):

- **one run per issue time** (:mod:`flows.locks`): a second run for the same issue time waits
  for the first (``lock_timeout``) and then refuses;
- **reuse** (:func:`flows.stages.run_stage`): a stage whose input hash is unchanged and whose
  outputs are all still there (same SHA-256) is not redone — a rerun gives the same files, no
  second register row, no second delivery; a crashed run is completed by the next;
- **degradation is named**: a late/missing meteorology cycle (the previous cycle is used, shifted
  by its age — ``features.build.CycleMet``), stations without recent data, units whose forecast
  fell back from LightGBM to a baseline, a package function that is not available — each goes to
  the manifest's ``degraded_inputs`` and to the warnings' ``degraded_inputs`` that the bulletins
  print ("以降级输入发布 / issued with reduced inputs");
- **product failures do not stop the others**: a failing map does not hold back the bulletins;
  the run is then marked failed (so the schedule shows it) after writing what it could;
- **the record is append-only** (:mod:`flows.daily_run`): register rows and manifest history per
  attempt, crashed attempts marked, locked-register writes retried, a log file per attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.alerts.aqi import reset_cap_log
from airwarn.alerts.daily import daily_aqi
from airwarn.alerts.warning import read_decisions, warn_run
from airwarn.configs import AirwarnConfig
from airwarn.features.acquire import arrival_info
from airwarn.features.atomic import write_text_atomic
from airwarn.features.build import NoMet
from airwarn.features.qc import run_qc
from airwarn.features.run_inputs import (
    OBS_HISTORY_DAYS,
    STATION_DOWN_HOURS,
    degraded_from_forecast,
    json_inputs,
    load_unit_obs,
    make_met_source,
    met_notes,
    obs_window,
    read_run_obs,
    resolve_met,
    run_stations,
    stations_down,
    unit_obs,
    units_not_reporting,
)
from airwarn.flows.daily_run import (
    PRODUCT_STAGES,
    DailyRun,
    archive,
    mark_crashed,
    record_run,
    run_log,
    versions,
)
from airwarn.flows.locks import issue_lock
from airwarn.flows.notify import notify_duty_failure
from airwarn.flows.stages import (
    NOT_AVAILABLE,
    StageRecord,
    StageUnavailable,
    hash_inputs,
    run_stage,
    sha256_file,
)
from airwarn.models.forecast import read_forecast, run_forecast, write_forecast
from airwarn.products.run import (
    VERIFY_DAYS,
    deliver_bulletins,
    fill_degraded,
    recent_runs,
    render_decision_bulletins,
    render_maps,
    render_report,
    verify_recent,
)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from airwarn import configs
from airwarn.core.timeutil import LOCAL_ZONE as LOCAL_TZ
from airwarn.core.timeutil import parse_issue_time as core_parse_issue_time

__all__ = [
    "LOCAL_TZ",
    "OBS_HISTORY_DAYS",
    "STATION_DOWN_HOURS",
    "VERIFY_DAYS",
    "PRODUCT_STAGES",
    "STAGES",
    "RunFailed",
    "DailyRun",
    "parse_issue_time",
    "latest_issue_time",
    "config_for",
    "resolve_met",
    "make_met_source",
    "run_stations",
    "load_unit_obs",
    "stage_ingest",
    "stage_qc",
    "stage_aggregate",
    "stage_forecast",
    "stage_daily_aqi",
    "stage_warnings",
    "stage_maps",
    "stage_verify_recent",
    "stage_report",
    "stage_bulletins",
    "stage_delivery",
    "stage_archive",
    "run_daily",
    "daily_forecast",
]

log = logging.getLogger("airwarn.flows.daily")


class RunFailed(RuntimeError):
    """One or more stages of a run failed; the manifest was written with what could be done."""


# --------------------------------------------------------------------------------------------
# entry points' helpers
# --------------------------------------------------------------------------------------------


def parse_issue_time(value: str | datetime | pd.Timestamp) -> datetime:
    """Parse an issue time; naive times are Asia/Shanghai (DESIGN: issue times are local).

    Parameters
    ----------
    value : str, datetime or Timestamp
        e.g. ``"2026-11-28T15:00"`` (local), ``"2026-11-28T07:00Z"`` or an aware datetime.

    Returns
    -------
    datetime
        Aware, in Asia/Shanghai, whole hour.

    Raises
    ------
    ValueError
        Unparseable text or a time not on the hour (names the value and the expected form).
    """
    return core_parse_issue_time(value).to_pydatetime()


def latest_issue_time(now: datetime | None = None, issue_hours: list[int] | None = None) -> datetime:
    """The most recent scheduled issue time at or before ``now`` (Asia/Shanghai).

    Parameters
    ----------
    now : datetime, optional
        Reference time (default: the current time).
    issue_hours : list of int, optional
        Local issue hours (default ``settings.issue_hours``).
    """
    hours = sorted(issue_hours or configs.load_settings().issue_hours)
    now = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    for back in range(0, 3):
        day = (now - timedelta(days=back)).date()
        for h in reversed(hours):
            t = datetime(day.year, day.month, day.day, h, tzinfo=LOCAL_TZ)
            if t <= now:
                return t
    raise ValueError(f"no issue hour in {hours}")


def config_for(data_dir: Path | str | None = None) -> AirwarnConfig:
    """Load the configuration, with ``data_dir`` (if given) replacing the settings' data directory."""
    cfg = configs.load_config()
    if data_dir is None:
        return cfg
    settings = cfg.settings.model_copy(update={"data_dir": Path(data_dir)})
    return AirwarnConfig(settings=settings, region=cfg.region, stations=cfg.stations)


def _frame_hash(df: pd.DataFrame | None) -> str:
    if df is None or len(df) == 0:
        return "empty"
    h = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False)
    return hash_inputs(int(h.sum() % (1 << 61)), len(df), list(df.columns))


def _file_hash(path: Path | None) -> str | None:
    return sha256_file(path) if path is not None and path.exists() else None


def _models_fingerprint(run: DailyRun) -> list[str]:
    """SHA-256 of every model card (the models a forecast could use)."""
    return [f"{card.parent.relative_to(run.data_dir)}:{sha256_file(card)[:12]}"
            for card in sorted(run.store.models_dir.glob("*/*/card.json"))]


def _product_hash(run: DailyRun, name: str) -> str:
    """Inputs of a product stage: the forecast and warnings files, the degraded inputs."""
    wpath = run.store.warnings(run.stamp)
    return hash_inputs(
        name, _file_hash(run.forecast_path),
        sha256_file(wpath) if wpath.exists() else [_decision_dict(d) for d in run.decisions],
        run.degraded)


def _decision_dict(d: Any) -> dict[str, Any]:
    return d.to_dict() if hasattr(d, "to_dict") else dict(d)


def _add_run_inputs(ds: Any, run: DailyRun) -> None:
    """Record the run's own findings in the forecast's ``inputs`` attribute (JSON).

    Adds ``degraded`` (what the run found reduced: stations down, met cycle fallback, missing
    stages — the warnings and bulletins print these), ``obs_last_time``, ``met_source``,
    ``versions`` and ``arrival``; keys the forecast already has are kept, lists are merged.
    """
    info = json_inputs(ds)
    have = list(info.get("degraded") or [])
    info["degraded"] = have + [d for d in run.degraded if d not in have]
    last = run.obs["time"].max() if run.obs is not None and len(run.obs) else None
    if last is not None:
        info.setdefault("obs_last_time", pd.Timestamp(last).isoformat())
    info.setdefault("met_source", run.met)
    info.setdefault("versions", versions(run))
    # when the cycle and the observations used arrived, and how late (fetch catalog)
    arrival = arrival_info(run.data_dir, cycle=run.met_info.get("cycle"), obs_last_time=last)
    if arrival:
        info.setdefault("arrival", arrival)
    ds.attrs["inputs"] = json.dumps(info, ensure_ascii=False, sort_keys=True, default=str)


# --------------------------------------------------------------------------------------------
# the stages (plain functions; the Prefect tasks below wrap them)
# --------------------------------------------------------------------------------------------


def stage_ingest(run: DailyRun) -> StageRecord:
    """Read the newest observations (to H−1), name the stations down, pick the met cycle."""
    def compute(rec: StageRecord) -> None:
        run.obs = read_run_obs(run.data_dir, run.issue_utc)
        run.stations = run_stations(run.config)
        for note in stations_down(run.obs, obs_window(run.issue_utc)[1]):
            run.degrade(note)
        try:
            run.met_source, notes = make_met_source(run.config, run.met)
        except StageUnavailable as exc:
            run.met_source, notes = None, [f"meteorology source not available ({exc})"]
        if run.met_source is not None:
            run.met_info = dict(run.met_source.describe(pd.Timestamp(run.issue_utc)))
            notes += met_notes(run.met_info)
        for note in notes:
            run.degrade(note)
        obs = run.obs
        rec.detail = (f"{obs['station_id'].nunique()} stations, {len(obs)} station-hours to "
                      f"{pd.Timestamp(obs['time'].max()).tz_convert(LOCAL_TZ):%Y-%m-%d %H:%M}"
                      if len(obs) else "no observations")
        if run.met_info:
            rec.detail += f"; met {run.met_info.get('met')} {run.met_info.get('cycle', '')}"
        rec.status = "degraded" if run.degraded else "ok"

    return run_stage(run.record("ingest"), None, run.data_dir, compute)


def stage_qc(run: DailyRun) -> StageRecord:
    """Quality control of the observation window (``features.qc.run_qc``)."""
    def compute(rec: StageRecord) -> None:
        run.obs, report = run_qc(run.obs, run.stations)
        rec.set_outputs(run.data_dir, [write_text_atomic(run.store.qc_report(run.stamp),
                                                         report.to_csv(index=False))])
        n = int((run.obs["qc"] != 0).sum()) if len(run.obs) else 0
        rec.detail = f"{n} of {len(run.obs)} station-hours flagged"

    return run_stage(run.record("qc"), None, run.data_dir, compute)


def stage_aggregate(run: DailyRun) -> StageRecord:
    """Station → unit means and station meteorology; units not reporting are named."""
    def compute(rec: StageRecord) -> None:
        run.obs_units = units = unit_obs(run.obs, run.stations, run.data_dir)
        have = set(units.dropna(subset=["pm25"])["unit_id"].unique()) if len(units) else set()
        notes, live = units_not_reporting(units, run.issue_utc, run.config.region.unit_ids)
        for note in notes:
            run.degrade(note)
        rec.detail = f"{len(have)} units with PM2.5 observations, {len(live)} reporting now"

    return run_stage(run.record("aggregate"), None, run.data_dir, compute)


def stage_forecast(run: DailyRun) -> StageRecord:
    """Forecast every unit and pollutant to the end of D+3 and write the forecast file."""
    path = run.forecast_path = run.store.forecast(run.stamp)

    def inputs() -> str:
        return hash_inputs(
            "forecast", run.stamp, run.met, run.met_info, _frame_hash(run.obs_units),
            _models_fingerprint(run), run.config.settings.quantiles,
            run.config.settings.horizon_days, sorted(run.config.region.unit_ids))

    def reuse(rec: StageRecord, prev: dict) -> bool:
        if not path.exists():
            return False
        run.forecast = read_forecast(path)
        rec.detail = f"{path.name} (inputs unchanged)"
        return True

    def compute(rec: StageRecord) -> None:
        source = "synthetic demo" if run.store.demo_world.exists() else None
        ds = run_forecast(run.config, pd.Timestamp(run.issue_time),
                          met_source=run.met_source or NoMet(), obs_units=run.obs_units,
                          data_dir=run.data_dir, source=source)
        _add_run_inputs(ds, run)
        written = Path(write_forecast(ds, run.data_dir))
        if written.resolve() != path.resolve():
            raise RuntimeError(f"write_forecast wrote {written}, expected {path}")
        run.forecast = read_forecast(path)
        rec.set_outputs(run.data_dir, [path])
        rec.detail = (f"{path.name}: {run.forecast.sizes.get('region', 0)} units × "
                      f"{run.forecast.sizes.get('lead', 0)} h")

    def then(rec: StageRecord) -> None:
        for d in degraded_from_forecast(run.forecast):
            run.degrade(f"forecast fallback {d}")
        named = json_inputs(run.forecast)
        for key in ("missing_units", "missing_stations"):
            for item in named.get(key) or []:
                run.degrade(f"{key.replace('_', ' ')[:-1]} {item} (forecast inputs)")
        if rec.status != "reused":
            rec.status = "degraded" if any(x.startswith("forecast fallback")
                                           for x in run.degraded) else "ok"

    return run_stage(run.record("forecast"), run.previous.get("forecast"), run.data_dir, compute,
                     inputs=inputs, reuse=reuse, then=then)


def stage_daily_aqi(run: DailyRun) -> StageRecord:
    """Observed daily AQI per unit for the last days (``alerts.daily.daily_aqi``)."""
    def compute(rec: StageRecord) -> None:
        if run.obs_units is None or len(run.obs_units) == 0:
            rec.status, rec.detail = "skipped", "no unit observations"
            return
        table = daily_aqi(run.obs_units, id_col="unit_id")
        path = run.products_dir / "observed_daily_aqi.csv"
        rec.set_outputs(run.data_dir, [write_text_atomic(path, table.to_csv(index=False))])
        rec.detail = f"{len(table)} unit-days"

    return run_stage(run.record("daily_aqi"), None, run.data_dir, compute)


def stage_warnings(run: DailyRun) -> StageRecord:
    """Warnings, regional joint warnings and control orders (``alerts.warning.warn_run``)."""
    path = run.store.warnings(run.stamp)

    def inputs() -> str:
        return hash_inputs("warnings", _file_hash(run.forecast_path),
                           run.config.settings.warning_trigger,
                           run.config.settings.warning_probability)

    def reuse(rec: StageRecord, prev: dict) -> bool:
        if not path.exists():
            return False
        run.decisions = list(read_decisions(path))
        return True

    def compute(rec: StageRecord) -> None:
        run.decisions = list(warn_run(run.forecast, run.config, run.open_register(),
                                      pd.Timestamp(run.issue_time)))
        if path.exists():  # the products read the decisions as recorded (as a re-render does)
            run.decisions = list(read_decisions(path))

    def then(rec: StageRecord) -> None:
        fill_degraded(run.decisions, run.degraded)
        if path.exists():
            rec.set_outputs(run.data_dir, [path])
        n_orders = sum(len(getattr(d, "control_orders", []) or []) for d in run.decisions)
        levels: dict[str, int] = {}
        for d in run.decisions:
            lv = str(getattr(d, "level", "?"))
            levels[lv] = levels.get(lv, 0) + 1
        rec.detail = (f"{len(run.decisions)} decisions "
                      f"({', '.join(f'{k}: {v}' for k, v in sorted(levels.items())) or 'none'}), "
                      f"{n_orders} control orders")

    return run_stage(run.record("warnings"), run.previous.get("warnings"), run.data_dir, compute,
                     inputs=inputs, reuse=reuse, then=then)


def stage_maps(run: DailyRun) -> StageRecord:
    """Forecast, warning and meteorology maps (``products.run.render_maps``)."""
    def compute(rec: StageRecord) -> None:
        paths = render_maps(run.product_inputs())
        rec.set_outputs(run.data_dir, paths)
        rec.detail = f"{len(paths)} maps"

    return run_stage(run.record("maps"), run.previous.get("maps"), run.data_dir, compute,
                     inputs=lambda: _product_hash(run, "maps"))


def stage_verify_recent(run: DailyRun) -> StageRecord:
    """Scores of the last ``VERIFY_DAYS`` days of runs (``products.run.verify_recent``)."""
    inp = run.product_inputs()
    runs = recent_runs(inp)
    run.scores = None
    if not runs or run.obs_units is None or len(run.obs_units) == 0:
        rec = run.record("verify_recent")
        rec.status, rec.detail = "skipped", "no earlier runs to verify yet"
        return rec

    def reuse(rec: StageRecord, prev: dict) -> bool:
        if not inp.verification_path.exists():
            return False
        run.scores = pd.read_csv(inp.verification_path)
        return True

    def compute(rec: StageRecord) -> None:
        run.scores, rec.detail = verify_recent(inp, runs)
        if run.scores is None:
            rec.status = "skipped"
        else:
            rec.set_outputs(run.data_dir, [inp.verification_path])

    return run_stage(run.record("verify_recent"), run.previous.get("verify_recent"), run.data_dir,
                     compute, reuse=reuse,
                     inputs=lambda: hash_inputs("verify",
                                                [(p.name, sha256_file(p)[:16]) for p in runs],
                                                _frame_hash(run.obs_units)))


def stage_report(run: DailyRun) -> StageRecord:
    """The forecasters' review report (``products.run.render_report``)."""
    scores_path = run.product_inputs().verification_path

    def compute(rec: StageRecord) -> None:
        maps = run.records.get("maps")
        path = render_report(run.product_inputs(), run.scores,
                             [run.data_dir / p for p in maps.outputs]
                             if maps is not None and maps.outputs else None)
        rec.set_outputs(run.data_dir, [path])
        rec.detail = path.name + ("" if run.scores is not None else " (no verification yet)")

    return run_stage(run.record("report"), run.previous.get("report"), run.data_dir, compute,
                     inputs=lambda: hash_inputs(_product_hash(run, "report"),
                                                _file_hash(scores_path)))


def stage_bulletins(run: DailyRun) -> StageRecord:
    """Bulletins for every decision (``products.run.render_decision_bulletins``)."""
    def reuse(rec: StageRecord, prev: dict) -> bool:
        if prev.get("files") is None:
            return False
        run.bulletins = prev["files"]
        return True

    def compute(rec: StageRecord) -> None:
        files = render_decision_bulletins(run.product_inputs())
        run.bulletins = {did: {k: str(v) for k, v in f.items()} for did, f in files.items()}
        for f in files.values():
            rec.set_outputs(run.data_dir, f.values())
        rec.detail = f"{len(run.bulletins)} decisions, {len(rec.outputs)} files"

    return run_stage(run.record("bulletins"), run.previous.get("bulletins"), run.data_dir,
                     compute, inputs=lambda: _product_hash(run, "bulletins"), reuse=reuse)


def stage_delivery(run: DailyRun) -> StageRecord:
    """Send the bulletins (``products.run.deliver_bulletins``; the register prevents a resend)."""
    def reuse(rec: StageRecord, prev: dict) -> bool:
        rec.detail = "already delivered by an earlier run of this issue"
        return True

    def compute(rec: StageRecord) -> None:
        counts = {"sent": 0, "dry": 0, "skipped": 0, "failed": 0}
        for r in deliver_bulletins(run.product_inputs(), run.bulletins, run.open_register()):
            status = str(getattr(r, "status", "") or
                         (r.get("status") if isinstance(r, dict) else ""))
            counts[_DELIVERY_COUNT.get(status, "failed")] += 1
        rec.detail = f"{counts['sent']} sent, {counts['skipped']} already delivered, " \
                     f"{counts['failed']} failed" + \
            (f", {counts['dry']} dry run (written to the outbox, not sent)" if counts["dry"] else "")
        if counts["failed"]:
            rec.status = "failed"

    return run_stage(run.record("delivery"), run.previous.get("delivery"), run.data_dir, compute,
                     reuse=reuse,
                     inputs=lambda: hash_inputs(
                         "delivery", run.bulletins, run.records["bulletins"].sha256
                         if "bulletins" in run.records else None,
                         run.config.settings.delivery.model_dump(mode="json")))


#: Delivery result status → what the delivery stage counts it as.
_DELIVERY_COUNT = {"sent": "sent", "ok": "sent", "delivered": "sent", "dry_run": "dry",
                   "dry-run": "dry", "skipped": "skipped", "already": "skipped",
                   "already_sent": "skipped", "duplicate": "skipped"}


def stage_archive(run: DailyRun, status: str, error: str | None = None) -> dict[str, Any]:
    """Write the run manifest and record the run in the register (``flows.daily_run.archive``)."""
    return archive(run, status, error)


# --------------------------------------------------------------------------------------------
# the run: which stages, in which order, and when each is skipped
# --------------------------------------------------------------------------------------------

#: Leave no record at all for a stage (it was not part of this run).
_OMIT = "omit"


def _not_asked(run: DailyRun, name: str) -> str | None:
    return None if name in run.products else "not asked for"


def _needs_forecast(run: DailyRun) -> str | None:
    return None if run.produced("forecast") else "no forecast"


def _when_warnings(run: DailyRun) -> str | None:
    return _needs_forecast(run) or (None if run.warnings else "not asked for")


def _when_product(name: str) -> Callable[[DailyRun], str | None]:
    def why_not(run: DailyRun) -> str | None:
        return _not_asked(run, name) or _needs_forecast(run)
    return why_not


def _when_bulletins(run: DailyRun) -> str | None:
    return _when_product("bulletins")(run) or \
        (None if run.produced("warnings") else "no warning decisions")


def _when_delivery(run: DailyRun) -> str | None:
    why = _when_product("delivery")(run) or \
        (None if run.produced("warnings") else "no warning decisions")
    bulletins = run.records.get("bulletins")
    if why is None and bulletins is not None and \
            bulletins.status in ("failed", NOT_AVAILABLE, "skipped"):
        return "bulletins not produced"
    return why


#: The daily run, in order: (stage, critical, why_not). A critical stage's failure stops the run
#: (nothing downstream can work without it); ``why_not(run)`` is None to run the stage, else why
#: it is skipped (``_OMIT``: not part of this run, no record).
STAGES: tuple[tuple[str, bool, Callable[[DailyRun], str | None]], ...] = (
    ("ingest", True, lambda run: None),
    ("qc", False, lambda run: None),
    ("aggregate", False, lambda run: None),
    ("forecast", True, lambda run: None),
    ("daily_aqi", False, lambda run: None if run.observed_aqi else _OMIT),
    ("warnings", False, _when_warnings),
    ("maps", False, _when_product("maps")),
    ("verify_recent", False,
     lambda run: _OMIT if "report" not in run.products else _needs_forecast(run)),
    ("report", False, _when_product("report")),
    ("bulletins", False, _when_bulletins),
    ("delivery", False, _when_delivery),
)


# --------------------------------------------------------------------------------------------
# Prefect tasks and the flow
# --------------------------------------------------------------------------------------------

_TASK_OPTS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}

#: Errors worth retrying a stage for: the file system, the network, a timeout.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of the stage tasks: only transient errors (I/O, network, timeouts).

    A missing package function, a configuration error or a bug fails at once.
    """
    data = getattr(state, "data", None)
    exc = data if isinstance(data, BaseException) else None
    if exc is None:
        try:
            state.result()
        except BaseException as e:  # noqa: BLE001 - the state's own exception
            exc = e
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, FileNotFoundError)


ingest_task = task(stage_ingest, name="ingest", retries=2, retry_delay_seconds=10,
                   retry_condition_fn=_transient, timeout_seconds=900, **_TASK_OPTS)
qc_task = task(stage_qc, name="qc", timeout_seconds=900, **_TASK_OPTS)
aggregate_task = task(stage_aggregate, name="aggregate", timeout_seconds=600, **_TASK_OPTS)
forecast_task = task(stage_forecast, name="forecast", timeout_seconds=1800, **_TASK_OPTS)
daily_aqi_task = task(stage_daily_aqi, name="daily_aqi", timeout_seconds=300, **_TASK_OPTS)
warnings_task = task(stage_warnings, name="warnings", timeout_seconds=600, **_TASK_OPTS)
verify_task = task(stage_verify_recent, name="verify_recent", timeout_seconds=600, **_TASK_OPTS)
maps_task = task(stage_maps, name="maps", timeout_seconds=900, **_TASK_OPTS)
report_task = task(stage_report, name="report", timeout_seconds=900, **_TASK_OPTS)
bulletins_task = task(stage_bulletins, name="bulletins", timeout_seconds=900, **_TASK_OPTS)
delivery_task = task(stage_delivery, name="delivery", retries=3, retry_delay_seconds=30,
                     retry_condition_fn=_transient, timeout_seconds=600, **_TASK_OPTS)

#: The Prefect task of every stage (looked up when the stage runs).
_STAGE_TASKS: dict[str, Any] = {
    "ingest": ingest_task, "qc": qc_task, "aggregate": aggregate_task, "forecast": forecast_task,
    "daily_aqi": daily_aqi_task, "warnings": warnings_task, "verify_recent": verify_task,
    "maps": maps_task, "report": report_task, "bulletins": bulletins_task,
    "delivery": delivery_task,
}


def _guarded(run: DailyRun, name: str, call: Callable[[], Any], *, critical: bool) -> None:
    """Run one stage, recording a failure.

    A missing package function is recorded as "not available" (never raised: the run goes on
    without that stage). Any other error is recorded as "failed" and re-raised only when the stage
    is ``critical`` (nothing downstream can work without it).
    """
    try:
        call()
    except StageUnavailable as exc:
        rec = run.records.get(name) or run.record(name)
        rec.status, rec.detail = NOT_AVAILABLE, str(exc)
        run.degrade(f"stage {name} not available yet")
    except Exception as exc:
        rec = run.records.get(name) or run.record(name)
        rec.status, rec.detail = "failed", f"{type(exc).__name__}: {exc}"
        if critical:
            raise
        log.exception("stage %s failed", name)


def _skip(run: DailyRun, name: str, why: str) -> None:
    rec = run.record(name)
    rec.status, rec.detail = "skipped", why


def run_daily(
    run: DailyRun,
    *,
    use_tasks: bool = True,
    lock_timeout: float = 600.0,
) -> dict[str, Any]:
    """Run every stage of :data:`STAGES` under the issue-time lock; return the manifest.

    Parameters
    ----------
    run : DailyRun
    use_tasks : bool
        Run the stages as Prefect tasks (inside a flow) or as plain functions (``task.fn``;
        backfills on Dask workers and tests).
    lock_timeout : float
        Seconds to wait for another run of the same issue time, s.

    Raises
    ------
    flows.locks.LockBusy
        Another run of this issue time is still going after ``lock_timeout``.
    RunFailed
        A stage failed; the manifest lists what was done and what failed.
    """
    def step(name: str) -> Any:
        t = _STAGE_TASKS[name]
        return t(run) if use_tasks else t.fn(run)

    with issue_lock(run.data_dir, run.issue_time, timeout=lock_timeout, purpose="daily") as lock, \
            run_log(run):
        if lock.stale:
            log.warning("lock of %s taken over from a crashed run (%s)", run.stamp, lock.stale)
        # re-read the previous manifest under the lock (a concurrent run may just have written it)
        run.read_previous()
        run.started = datetime.now(LOCAL_TZ)
        reset_cap_log()   # each run's log says once per pollutant that an IAQI was capped
        mark_crashed(run)
        record_run(run, "running")
        try:
            for name, critical, why_not in STAGES:
                why = why_not(run)
                if why == _OMIT:
                    continue
                if why:
                    _skip(run, name, why)
                else:
                    _guarded(run, name, lambda n=name: step(n), critical=critical)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("run %s failed: %s", run.stamp, error)
            archive(run, "failed", error)
            raise
        failed = [r.name for r in run.records.values() if r.status == "failed"]
        missing = [r.name for r in run.records.values() if r.status == NOT_AVAILABLE]
        status = "failed" if failed else ("partial" if missing else "complete")
        error = f"stages failed: {', '.join(failed)}" if failed else None
        log.info("run %s %s%s", run.stamp, status, f": {error}" if error else "")
        manifest = archive(run, status, error)
    if failed:
        raise RunFailed(f"run {run.stamp}: {error}; see {run.manifest_path}")
    return manifest


@flow(name="daily-forecast", log_prints=False, validate_parameters=False,
      on_failure=[notify_duty_failure])
def daily_forecast(
    issue_time: str | datetime | None = None,
    data_dir: str | None = None,
    met: str = "auto",
    products: list[str] | None = None,
    lock_timeout: float = 600.0,
    fetch: bool = False,
) -> dict[str, Any]:
    """The daily forecast run (Prefect flow): forecasts, warnings, products, delivery, archive.

    Parameters
    ----------
    issue_time : str or datetime, optional
        Issue time (Asia/Shanghai if naive); default the latest scheduled issue time.
    data_dir : str, optional
        Data directory (default ``AIRWARN_DATA_DIR`` / settings).
    met : {"auto", "cycles", "demo", "perfect", "none"}
        Meteorology source (see ``features.run_inputs.make_met_source``).
    products : list of str, optional
        Product stages to run (default all: maps, report, bulletins, delivery).
    lock_timeout : float
        Seconds to wait for another run of the same issue time, s.
    fetch : bool
        First fetch the configured feeds and ingest the inbox (``flows.acquire``; the scheduled
        ``acquire`` deployment does this ahead of the issue time instead).

    Returns
    -------
    dict
        The run manifest (also written to ``products/<stamp>/manifest.json``).
    """
    config = config_for(data_dir)
    t = parse_issue_time(issue_time) if issue_time is not None else \
        latest_issue_time(issue_hours=config.settings.issue_hours)
    if fetch:
        from airwarn.flows.acquire import acquire

        acquire(issue_time=t, data_dir=str(config.settings.data_dir))
    run = DailyRun(config, t, met=met,
                   products=tuple(products) if products is not None else PRODUCT_STAGES)
    return run_daily(run, use_tasks=True, lock_timeout=lock_timeout)
