"""The daily forecast run: observations and meteorology in, forecasts, warnings and products out.

``daily_forecast(issue_time)`` is the Prefect flow the schedule runs at 05:00 and 15:00
Asia/Shanghai. Its stages, each a task calling one package function (``docs/INTERFACES.md``):

==============  ===================================================  ==============================
stage           package function                                     output
==============  ===================================================  ==============================
ingest          ``features.store.read_obs``, met cycle selection      (in memory)
qc              ``features.qc.run_qc``                                ``obs/qc/<stamp>.csv``
aggregate       ``features.aggregate.stations_to_units``              (in memory)
forecast        ``models.forecast.run_forecast`` + ``write_forecast``  ``forecasts/<stamp>.nc``
daily_aqi       ``alerts.daily.daily_aqi`` (observed, last days)       ``products/<stamp>/observed_daily_aqi.csv``
warnings        ``alerts.warning.warn_run`` (+ control orders)         ``warnings/<stamp>.json``
maps            ``products.maps.render_run_maps``                      ``products/<stamp>/maps/``
report          ``products.report.render_review_report``               ``products/<stamp>/report.html``
bulletins       ``products.bulletin.render_bulletins``                 ``products/<stamp>/bulletins/``
delivery        ``products.delivery.deliver``                          register ``deliveries``
archive         run manifest + ``Register.record_run``                 ``products/<stamp>/manifest.json``
==============  ===================================================  ==============================

Robustness (all orchestration; the packages do the domain work):

- **one run per issue time** (:mod:`flows.locks`): a second run for the same issue time waits
  for the first (``lock_timeout``) and then refuses;
- **reuse** (:func:`flows.stages.reusable`): a stage whose input hash is unchanged and whose outputs
  are all still there (same SHA-256) is not redone — a rerun gives the same files, no second
  register row, no second delivery; a crashed run is completed by the next;
- **degradation is named**: a late/missing meteorology cycle (the previous cycle is used, shifted
  by its age — ``features.build.CycleMet``), stations without recent data, units whose forecast
  fell back from LightGBM to a baseline, a package function that is not available — each goes to
  the manifest's ``degraded_inputs`` and to the warnings' ``degraded_inputs`` that the bulletins
  print ("以降级输入发布 / issued with reduced inputs");
- **product failures do not stop the others**: a failing map does not hold back the bulletins;
  the run is then marked failed (so the schedule shows it) after writing what it could.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.alerts.daily import daily_aqi
from airwarn.alerts.register import Register
from airwarn.alerts.warning import WarningDecision, warn_run
from airwarn.configs import AirwarnConfig
from airwarn.features.acquire import arrival_info
from airwarn.features.aggregate import stations_to_units
from airwarn.features.build import CycleMet, NoMet, PerfectMet
from airwarn.features.demo_world import DELIVERY_DELAY_H, load_world, unit_met, unit_met_forecasts
from airwarn.features.demo_world.feed import StoreFirstCycleMet
from airwarn.features.met_obs import add_met_obs
from airwarn.features.met_sampling import sample_units
from airwarn.features.qc import run_qc
from airwarn.features.store import read_obs
from airwarn.flows.locks import issue_lock, issue_stamp
from airwarn.flows.notify import notify_duty_failure
from airwarn.flows.stages import (
    NOT_AVAILABLE,
    StageRecord,
    StageUnavailable,
    hash_inputs,
    read_manifest,
    reusable,
    sha256_file,
    timed,
    write_manifest,
)
from airwarn.models.forecast import forecast_path, read_forecast, run_forecast, write_forecast
from airwarn.models.verify import ALL as VERIFY_ALL
from airwarn.models.verify import verify_archive
from airwarn.products.bulletin import render_bulletins
from airwarn.products.delivery import deliver
from airwarn.products.maps import render_run_maps, render_run_met_maps
from airwarn.products.meteorology import decision_meteorology, run_unit_met
from airwarn.products.report import render_review_report
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from airwarn import configs
from airwarn.core.timeutil import LOCAL_ZONE as LOCAL_TZ
from airwarn.core.timeutil import parse_issue_time as core_parse_issue_time

__all__ = [
    "LOCAL_TZ",
    "OBS_HISTORY_DAYS",
    "STATION_DOWN_HOURS",
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

#: Days of observations read before the issue time (history features, the review report and
#: the verification of the last :data:`VERIFY_DAYS` days, whose D+3 valid times need 3 more), d.
OBS_HISTORY_DAYS = 34
#: Days of past runs verified for the review report, d.
VERIFY_DAYS = 30
#: Demo-world forecast cycles regenerated per batch (consecutive days), cycles.
DEMO_CYCLE_BATCH = 16
#: A station with no valid PM2.5 or O3 value in this many hours before the issue time is "down", h.
STATION_DOWN_HOURS = 24
#: Product stages, in run order (each can be switched off with ``products=``).
PRODUCT_STAGES = ("maps", "report", "bulletins", "delivery")
#: Every product-side stage in run order (``verify_recent`` runs when the report is asked for).
_PRODUCT_ORDER = ("maps", "verify_recent", "report", "bulletins", "delivery")


class RunFailed(RuntimeError):
    """One or more stages of a run failed; the manifest was written with what could be done."""


# --------------------------------------------------------------------------------------------
# small helpers
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


def _models_fingerprint(data_dir: Path) -> list[str]:
    """SHA-256 of every model card (the models a forecast could use)."""
    out = []
    for card in sorted((data_dir / "models").glob("*/*/card.json")):
        out.append(f"{card.parent.relative_to(data_dir)}:{sha256_file(card)[:12]}")
    return out


def _degraded_from_forecast(ds: Any) -> list[str]:
    """Fallbacks named in a forecast (``method``/``fallback_reason``), grouped by cause.

    One line per (pollutant, method, reason): ``forecast fallback pm25: climatology for 3 of 31
    units (hechuan, bishan, dazu): <reason>``.
    """
    if "method" not in getattr(ds, "variables", {}):
        return []
    df = ds["method"].to_dataframe().reset_index()
    if "fallback_reason" in ds.variables:
        df["reason"] = ds["fallback_reason"].to_dataframe().reset_index()["fallback_reason"] \
            .to_numpy()
    else:
        df["reason"] = ""
    if "pollutant" not in df.columns:
        df["pollutant"] = "all"
    n_units = int(ds.sizes.get("region", 0))
    out: list[str] = []
    df["method"] = df["method"].astype(str)
    df = df[~df["method"].isin(["lightgbm", "None", "nan", ""])]
    for (pol, meth, why), g in df.groupby(["pollutant", "method", "reason"], sort=True):
        units = [str(u) for u in g["region"]]
        which = f"all {n_units} units" if len(units) == n_units else \
            f"{len(units)} of {n_units} units ({', '.join(units)})"
        why = str(why)
        out.append(f"{pol}: {meth} for {which}" +
                   (f": {why}" if why and why not in ("nan", "None") else ""))
    return out


def _json_inputs(ds: Any) -> dict[str, Any]:
    raw = getattr(ds, "attrs", {}).get("inputs")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return {"raw": raw}
    return raw or {}


# --------------------------------------------------------------------------------------------
# the run context (a plain object: Prefect does not traverse it)
# --------------------------------------------------------------------------------------------


class DailyRun:
    """State of one daily run, passed from stage to stage.

    Attributes
    ----------
    config : AirwarnConfig
    issue_time : datetime
        Aware, Asia/Shanghai.
    stamp : str
        ``YYYYMMDDTHHMM`` (local), the file name of everything the run writes.
    data_dir, products_dir : Path
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
        self.data_dir = Path(config.settings.data_dir).resolve()
        self.products_dir = self.data_dir / "products" / self.stamp
        self.manifest_path = self.products_dir / "manifest.json"
        old = read_manifest(self.manifest_path) or {}
        self.previous: dict[str, dict] = {s["name"]: s for s in old.get("stages", [])}
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
        self.met_source: Any = None
        self.met_info: dict[str, Any] = {}
        self.forecast: Any = None
        self.forecast_path: Path | None = None
        self.decisions: list[Any] = []
        self.scores: pd.DataFrame | None = None
        self.bulletins: dict[str, dict[str, str]] = {}
        self.register: Any = None
        self.started: datetime = datetime.now(LOCAL_TZ)
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

    def record(self, name: str) -> StageRecord:
        """A fresh record for a stage (replacing one from a failed attempt of this run)."""
        rec = StageRecord(name=name)
        self.records[name] = rec
        return rec

    def degrade(self, text: str) -> None:
        """Name a reduced input (once)."""
        if text not in self.degraded:
            self.degraded.append(text)

    def open_register(self) -> Any:
        """The warnings register (``register.sqlite``), opened once per run."""
        if self.register is None:
            self.register = Register(self.data_dir / "register.sqlite")
        return self.register


def run_stations(config: AirwarnConfig) -> pd.DataFrame:
    """The station table of a run: the demo world's (with its seat stations) or ``configs``'.

    ``seat_<unit_id>`` stations exist only in a demo world (``docs/INTERFACES.md``); its table
    (``demo/world.json``) is the configured stations plus those.
    """
    data_dir = Path(config.settings.data_dir).resolve()
    if (data_dir / "demo" / "world.json").exists():
        try:
            world = load_world(data_dir)
            return world.stations
        except (StageUnavailable, ValueError, FileNotFoundError):
            pass
    return config.stations


def load_unit_obs(config: AirwarnConfig, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Unit-hour observations from the store: read → QC → station→unit means (µg/m³, CO mg/m³).

    Parameters
    ----------
    config : AirwarnConfig
    start, end : time-like, optional
        Inclusive UTC bounds of the observation times (None = open).

    Raises
    ------
    StageUnavailable
        ``features.aggregate.stations_to_units`` does not exist.
    """
    ddir = Path(config.settings.data_dir)
    stations = run_stations(config)
    obs = read_obs(ddir, start=start, end=end)
    obs, _ = run_qc(obs, stations)
    units = stations_to_units(obs, stations)
    return add_met_obs(units, ddir)  # station met → mo_* features


# --------------------------------------------------------------------------------------------
# meteorology source
# --------------------------------------------------------------------------------------------


def resolve_met(config: AirwarnConfig, met: str) -> str:
    """``"auto"`` → ``"demo"`` in a demo world's data directory, else ``"cycles"``."""
    if met != "auto":
        return met
    return "demo" if (Path(config.settings.data_dir) / "demo" / "world.json").exists() \
        else "cycles"


def make_met_source(config: AirwarnConfig, met: str = "auto") -> tuple[Any, list[str]]:
    """The meteorology source of a run, and what is degraded about it.

    Parameters
    ----------
    config : AirwarnConfig
    met : {"auto", "cycles", "demo", "perfect", "none"}
        ``auto``: ``demo`` in a demo world's data directory (the models were trained on its
        regenerated cycles), else ``cycles``. ``cycles``: forecast cycle files ``met/cycles/YYYYMMDDHH.nc`` sampled at the units
        (``features.met_sampling.sample_units``; opened lazily with dask), the newest available
        cycle used, older ones shifted by their age (``features.build.CycleMet``). ``demo``: the
        demo world's cycles regenerated from its seed (backfills of the demo world). ``perfect``:
        observed meteorology at the valid time (benchmarks only). ``none``: no future meteorology.

    Returns
    -------
    source, degraded : MetSource, list of str
    """
    data_dir = Path(config.settings.data_dir).resolve()
    met = resolve_met(config, met)
    if met == "none":
        return NoMet(), ["no future meteorology (met=none)"]
    if met == "demo":
        world = load_world(data_dir)
        delay = float(DELIVERY_DELAY_H)
        cache: dict[pd.Timestamp, pd.DataFrame] = {}

        def load_demo(ref: pd.Timestamp) -> pd.DataFrame | None:
            # training asks for hundreds of consecutive cycles: regenerate them in batches of
            # DEMO_CYCLE_BATCH days with the vectorised generator (≈10× faster than one by one)
            ref = pd.Timestamp(ref).tz_convert("UTC")
            if ref not in cache:
                refs = [ref + pd.Timedelta(days=k) for k in range(DEMO_CYCLE_BATCH)]
                df = unit_met_forecasts(world, refs)
                for r, g in df.groupby("reference_time", sort=False):
                    cache[pd.Timestamp(r).tz_convert("UTC")] = \
                        g.drop(columns="reference_time").reset_index(drop=True)
            return cache.get(ref)

        # a cycle fetched and ingested into met/cycles (the demo's real input path) is read from
        # the store at the unit points (what the models were trained on); others regenerated
        return StoreFirstCycleMet(load_demo, data_dir, config.region, list(world.units),
                                  cycle_hours=(0,), latency_h=delay), []
    if met == "perfect":
        world = load_world(data_dir)
        table = unit_met(world, region=config.region)
        return PerfectMet(table), ["observed meteorology stands in for the forecast "
                                   "(perfect prog)"]
    if met != "cycles":
        raise ValueError(f"met source {met!r}: expected one of cycles, demo, perfect, none")
    import xarray as xr
    cycles = data_dir / "met" / "cycles"
    stations = run_stations(config)
    # the cycle hours are those the provider delivers (seen in the directory), else 00 and 12 UTC
    hours = sorted({int(p.stem[-2:]) for p in cycles.glob("[0-9]" * 10 + ".nc")}) or [0, 12]

    def load_file(ref: pd.Timestamp) -> pd.DataFrame | None:
        path = cycles / f"{pd.Timestamp(ref).tz_convert('UTC'):%Y%m%d%H}.nc"
        if not path.exists():
            return None
        try:
            with xr.open_dataset(path, chunks={}) as ds:
                return sample_units(ds, config.region, stations=stations)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("met cycle %s unreadable (%s): treated as missing", path, exc)
            return None

    return CycleMet(load_file, cycle_hours=hours), []


# --------------------------------------------------------------------------------------------
# stages (plain functions; the Prefect tasks below wrap them)
# --------------------------------------------------------------------------------------------


def stage_ingest(run: DailyRun) -> StageRecord:
    """Read the newest observations (to H−1) and pick the meteorology cycle."""
    rec = run.record("ingest")
    with timed(rec):
        end = run.issue_utc - pd.Timedelta(hours=1)
        start = end - pd.Timedelta(days=OBS_HISTORY_DAYS)
        obs = read_obs(run.data_dir, start=start, end=end)
        run.obs = obs
        run.stations = run_stations(run.config)
        recent = obs[obs["time"] > end - pd.Timedelta(hours=STATION_DOWN_HOURS)]
        live = set(recent.dropna(subset=["pm25", "o3"], how="all")["station_id"].astype(str))
        # a station is "down" when it is in the store's recent window but has sent no valid
        # PM2.5 or O3 for STATION_DOWN_HOURS (a station never ingested is not "down")
        down = sorted(s for s in set(obs["station_id"].astype(str)) if s not in live)
        if down:
            last = obs[obs["station_id"].isin(down)].dropna(subset=["pm25", "o3"], how="all")
            last_t = last.groupby("station_id")["time"].max()
            for s in down:
                t = last_t.get(s)
                when = (pd.Timestamp(t).tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
                        if t is not None else f"the last {OBS_HISTORY_DAYS} d")
                run.degrade(f"station {s}: no observations since {when} (站点数据缺失)")
        if obs.empty:
            run.degrade("no observations in the store before the issue time (无观测数据)")
        last_obs = obs["time"].max() if len(obs) else None
        try:
            run.met_source, met_notes = make_met_source(run.config, run.met)
        except StageUnavailable as exc:
            run.met_source, met_notes = None, [f"meteorology source not available ({exc})"]
        for n in met_notes:
            run.degrade(n)
        if run.met_source is not None:
            run.met_info = dict(run.met_source.describe(pd.Timestamp(run.issue_utc)))
            age = run.met_info.get("cycle_age_h")
            if run.met_info.get("met") == "cycle" and run.met_info.get("cycle") is None:
                run.degrade("no meteorology forecast cycle available: forecast without future "
                            "meteorology (气象预报缺失)")
            elif run.met_info.get("missing_cycles"):
                run.degrade(f"meteorology cycle {run.met_info['cycle']} used, "
                            f"{age:.0f} h old; missing newer cycles "
                            f"{', '.join(run.met_info['missing_cycles'])} (气象预报延迟)")
        rec.detail = (f"{obs['station_id'].nunique() if len(obs) else 0} stations, "
                      f"{len(obs)} station-hours to "
                      f"{pd.Timestamp(last_obs).tz_convert(LOCAL_TZ):%Y-%m-%d %H:%M}"
                      if last_obs is not None else "no observations")
        if run.met_info:
            rec.detail += f"; met {run.met_info.get('met')} {run.met_info.get('cycle', '')}"
        rec.status = "degraded" if run.degraded else "ok"
    return rec


def stage_qc(run: DailyRun) -> StageRecord:
    """Quality control of the observation window (``features.qc.run_qc``)."""
    rec = run.record("qc")
    with timed(rec):
        flagged, report = run_qc(run.obs, run.stations)
        run.obs = flagged
        path = run.data_dir / "obs" / "qc" / f"{run.stamp}.csv"
        from airwarn.features.atomic import write_text_atomic

        write_text_atomic(path, report.to_csv(index=False))
        rec.set_outputs(run.data_dir, [path])
        n = int((flagged["qc"] != 0).sum()) if len(flagged) else 0
        rec.detail = f"{n} of {len(flagged)} station-hours flagged"
    return rec


def stage_aggregate(run: DailyRun) -> StageRecord:
    """Station → unit means (``features.aggregate.stations_to_units``)."""
    rec = run.record("aggregate")
    with timed(rec):
        units = add_met_obs(stations_to_units(run.obs, run.stations),
                            run.data_dir)  # station met → mo_* features
        run.obs_units = units
        have = set(units.dropna(subset=["pm25"])["unit_id"]) if len(units) else set()
        recent = units[units["time"] > run.issue_utc - pd.Timedelta(hours=STATION_DOWN_HOURS + 1)] \
            if len(units) else units
        live = set(recent.dropna(subset=["pm25", "o3"], how="all")["unit_id"]) if len(units) \
            else set()
        for u in run.config.region.unit_ids:
            if u not in live:
                run.degrade(f"unit {u}: no observations in the last {STATION_DOWN_HOURS} h "
                            f"(单元观测缺失)")
        rec.detail = f"{len(have)} units with PM2.5 observations, {len(live)} reporting now"
        rec.status = "ok"
    return rec


def _add_run_inputs(ds: Any, run: DailyRun) -> None:
    """Record the run's own findings in the forecast's ``inputs`` attribute (JSON).

    Adds ``degraded`` (what the run found reduced: stations down, met cycle fallback, missing
    stages — the warnings and bulletins print these), ``obs_last_time`` and ``met_source``;
    keys the forecast already has are kept, lists are merged.
    """
    info = _json_inputs(ds)
    have = list(info.get("degraded") or [])
    info["degraded"] = have + [d for d in run.degraded if d not in have]
    if run.obs is not None and len(run.obs):
        info.setdefault("obs_last_time", pd.Timestamp(run.obs["time"].max()).isoformat())
    info.setdefault("met_source", run.met)
    info.setdefault("versions", _versions(run))
    # when the cycle and the observations used arrived, and how late (fetch catalog)
    arrival = arrival_info(
        run.data_dir, cycle=run.met_info.get("cycle"),
        obs_last_time=run.obs["time"].max() if run.obs is not None and len(run.obs) else None)
    if arrival:
        info.setdefault("arrival", arrival)
    ds.attrs["inputs"] = json.dumps(info, ensure_ascii=False, sort_keys=True, default=str)


def stage_forecast(run: DailyRun) -> StageRecord:
    """Forecast every unit and pollutant to the end of D+3 and write the forecast file."""
    rec = run.record("forecast")
    with timed(rec):
        path = Path(forecast_path(run.data_dir, run.issue_time))
        run.forecast_path = path
        rec.input_hash = hash_inputs(
            "forecast", run.stamp, run.met, run.met_info, _frame_hash(run.obs_units),
            _models_fingerprint(run.data_dir), run.config.settings.quantiles,
            run.config.settings.horizon_days, sorted(run.config.region.unit_ids))
        if reusable(run.previous.get("forecast"), rec.input_hash, run.data_dir) and path.exists():
            run.forecast = read_forecast(path)
            rec.status, rec.detail = "reused", f"{path.name} (inputs unchanged)"
            rec.set_outputs(run.data_dir, [path])
        else:
            source = "synthetic demo" if (run.data_dir / "demo" / "world.json").exists() \
                else None
            ds = run_forecast(run.config, pd.Timestamp(run.issue_time),
                           met_source=run.met_source or NoMet(),
                           obs_units=run.obs_units, data_dir=run.data_dir, source=source)
            _add_run_inputs(ds, run)
            written = Path(write_forecast(ds, run.data_dir))
            if written.resolve() != path.resolve():
                raise RuntimeError(f"write_forecast wrote {written}, expected {path}")
            run.forecast = read_forecast(path)
            rec.set_outputs(run.data_dir, [path])
            rec.detail = (f"{path.name}: {run.forecast.sizes.get('region', 0)} units × "
                          f"{run.forecast.sizes.get('lead', 0)} h")
        for d in _degraded_from_forecast(run.forecast):
            run.degrade(f"forecast fallback {d}")
        inputs = _json_inputs(run.forecast)
        for key in ("missing_units", "missing_stations"):
            for item in inputs.get(key) or []:
                run.degrade(f"{key.replace('_', ' ')[:-1]} {item} (forecast inputs)")
        if rec.status != "reused":
            rec.status = "degraded" if any(x.startswith("forecast fallback") for x in run.degraded) \
                else "ok"
    return rec


def stage_daily_aqi(run: DailyRun) -> StageRecord:
    """Observed daily AQI per unit for the last days (``alerts.daily.daily_aqi``)."""
    rec = run.record("daily_aqi")
    with timed(rec):
        if run.obs_units is None or len(run.obs_units) == 0:
            rec.status, rec.detail = "skipped", "no unit observations"
            return rec
        table = daily_aqi(run.obs_units, id_col="unit_id")
        path = run.products_dir / "observed_daily_aqi.csv"
        from airwarn.features.atomic import write_text_atomic

        write_text_atomic(path, table.to_csv(index=False))
        rec.set_outputs(run.data_dir, [path])
        rec.detail = f"{len(table)} unit-days"
    return rec


def _decision_to_dict(d: Any) -> dict[str, Any]:
    return d.to_dict() if hasattr(d, "to_dict") else dict(d)


def _load_decisions(path: Path) -> list[Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw.get("decisions", []) if isinstance(raw, dict) else raw
    return [WarningDecision.from_dict(x) for x in items]


def stage_warnings(run: DailyRun) -> StageRecord:
    """Warnings, regional joint warnings and control orders (``alerts.warning.warn_run``)."""
    rec = run.record("warnings")
    with timed(rec):
        path = run.data_dir / "warnings" / f"{run.stamp}.json"
        fc_hash = sha256_file(run.forecast_path) if run.forecast_path else None
        rec.input_hash = hash_inputs("warnings", fc_hash, run.config.settings.warning_trigger,
                                     run.config.settings.warning_probability)
        if reusable(run.previous.get("warnings"), rec.input_hash, run.data_dir) and path.exists():
            run.decisions = _load_decisions(path)
            rec.status = "reused"
        else:
            register = run.open_register()
            run.decisions = list(warn_run(run.forecast, run.config, register,
                                          pd.Timestamp(run.issue_time)))
        for d in run.decisions:
            have = getattr(d, "degraded_inputs", None)
            if have is not None and not have and run.degraded:
                d.degraded_inputs = list(run.degraded)
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
    return rec


def _product_hash(run: DailyRun, name: str) -> str:
    wpath = run.data_dir / "warnings" / f"{run.stamp}.json"
    return hash_inputs(
        name,
        sha256_file(run.forecast_path) if run.forecast_path and run.forecast_path.exists() else None,
        sha256_file(wpath) if wpath.exists() else [_decision_to_dict(d) for d in run.decisions],
        run.degraded)


def stage_maps(run: DailyRun) -> StageRecord:
    """Forecast and warning maps (``products.maps.render_run_maps``)."""
    rec = run.record("maps")
    with timed(rec):
        rec.input_hash = _product_hash(run, "maps")
        if reusable(run.previous.get("maps"), rec.input_hash, run.data_dir):
            prev = run.previous["maps"]
            rec.status, rec.outputs, rec.sha256 = "reused", prev["outputs"], prev["sha256"]
            return rec
        paths = render_run_maps(run.forecast, run.decisions, run.config.region, run.products_dir / "maps")
        # meteorology of the cycle the run forecast with (products.maps.render_run_met_maps)
        paths += render_run_met_maps(
            run.config, run.data_dir, run.met_info, run.forecast, run.products_dir / "maps")
        rec.set_outputs(run.data_dir, paths)
        rec.detail = f"{len(paths)} maps"
    return rec


def stage_verify_recent(run: DailyRun) -> StageRecord:
    """Scores of the last :data:`VERIFY_DAYS` days of runs (``models.verify.verify_archive``)."""
    rec = run.record("verify_recent")
    with timed(rec):
        first = (run.issue_time - timedelta(days=VERIFY_DAYS)).strftime("%Y%m%dT%H%M")
        files = sorted(p for p in (run.data_dir / "forecasts").glob("*.nc")
                       if first <= p.stem < run.stamp)
        if not files or run.obs_units is None or len(run.obs_units) == 0:
            rec.status, rec.detail = "skipped", "no earlier runs to verify yet"
            run.scores = None
            return rec
        rec.input_hash = hash_inputs("verify", [(p.name, sha256_file(p)[:16]) for p in files],
                                     _frame_hash(run.obs_units))
        path = run.products_dir / "verification_30d.csv"
        if reusable(run.previous.get("verify_recent"), rec.input_hash, run.data_dir) \
                and path.exists():
            run.scores = pd.read_csv(path)
            rec.status = "reused"
            rec.set_outputs(run.data_dir, [path])
            return rec
        day0 = (run.issue_time - timedelta(days=VERIFY_DAYS)).date()
        day1 = (run.issue_time - timedelta(days=1)).date()
        try:
            res = verify_archive(files, run.obs_units, region=run.config.region,
                                 period=(day0, day1), bootstrap=False)
        except ValueError as exc:  # e.g. no earlier run has a valid day in the period yet
            rec.status, rec.detail = "skipped", f"nothing to verify yet ({exc})"
            run.scores = None
            return rec
        table = res.tables.get("continuous_daily")
        if table is None or len(table) == 0:
            rec.status, rec.detail = "skipped", "no matched forecast–observation pairs yet"
            run.scores = None
            return rec
        if "group" in table.columns:
            table = table[table["group"] == VERIFY_ALL]
        keep = [c for c in ("variable", "lead_day", "n", "mb", "rmse", "r", "skill_persistence")
                if c in table.columns]
        run.scores = table[keep].reset_index(drop=True)
        from airwarn.features.atomic import write_text_atomic

        write_text_atomic(path, run.scores.to_csv(index=False))
        rec.set_outputs(run.data_dir, [path])
        rec.detail = f"{len(files)} runs verified, {day0} … {day1}"
    return rec


def stage_report(run: DailyRun) -> StageRecord:
    """The forecasters' review report (``products.report.render_review_report``)."""
    rec = run.record("report")
    with timed(rec):
        scores_path = run.products_dir / "verification_30d.csv"
        rec.input_hash = hash_inputs(_product_hash(run, "report"),
                                     sha256_file(scores_path) if scores_path.exists() else None)
        if reusable(run.previous.get("report"), rec.input_hash, run.data_dir):
            prev = run.previous["report"]
            rec.status, rec.outputs, rec.sha256 = "reused", prev["outputs"], prev["sha256"]
            return rec
        maps_rec = run.records.get("maps")
        maps = [run.data_dir / p for p in maps_rec.outputs] \
            if maps_rec is not None and maps_rec.outputs else None
        obs = run.obs_units
        if obs is not None and len(obs):
            obs = obs[obs["time"] > run.issue_utc - pd.Timedelta(days=8)]
        path = render_review_report(run.forecast, run.decisions, obs,
                                    run.products_dir / "report.html", scores=run.scores,
                                    config=run.config, maps=maps)
        rec.set_outputs(run.data_dir, [Path(path)])
        rec.detail = Path(path).name + ("" if run.scores is not None else
                                        " (no verification yet)")
    return rec


def stage_bulletins(run: DailyRun) -> StageRecord:
    """Bulletins for every decision (``products.bulletin.render_bulletins``)."""
    rec = run.record("bulletins")
    with timed(rec):
        rec.input_hash = _product_hash(run, "bulletins")
        prev = run.previous.get("bulletins")
        if reusable(prev, rec.input_hash, run.data_dir) and prev.get("files") is not None:
            rec.status, rec.outputs, rec.sha256 = "reused", prev["outputs"], prev["sha256"]
            run.bulletins = prev["files"]
            return rec
        run.bulletins = {}
        source = str(run.forecast.attrs.get("source", "")) if run.forecast is not None else None
        # 气象条件 from the meteorology the run forecast with (not only a stored cycle file)
        run_met = run_unit_met(run.met_source, run.issue_time, run.config.region.unit_ids)
        for d in run.decisions:
            did = str(getattr(d, "decision_id", "decision"))
            files = render_bulletins(d, run.config, run.products_dir / "bulletins",
                                     source=source or None, inputs=_json_inputs(run.forecast),
                                     meteorology=decision_meteorology(d, run_met))
            run.bulletins[did] = {k: str(v) for k, v in files.items()}
            rec.set_outputs(run.data_dir, files.values())
        rec.detail = f"{len(run.bulletins)} decisions, {len(rec.outputs)} files"
    return rec


def stage_delivery(run: DailyRun) -> StageRecord:
    """Send the bulletins (``products.delivery.deliver``; the register prevents a second send)."""
    rec = run.record("delivery")
    with timed(rec):
        rec.input_hash = hash_inputs(
            "delivery", run.bulletins, run.records["bulletins"].sha256
            if "bulletins" in run.records else None,
            run.config.settings.delivery.model_dump(mode="json"))
        if reusable(run.previous.get("delivery"), rec.input_hash, run.data_dir):
            rec.status, rec.detail = "reused", "already delivered by an earlier run of this issue"
            return rec
        register = run.open_register()
        sent = dry = skipped = failed = 0
        for d in run.decisions:
            did = str(getattr(d, "decision_id", "decision"))
            files = {k: Path(v) for k, v in run.bulletins.get(did, {}).items()}
            results = deliver(d, files, run.config.settings, register)
            for r in results or []:
                status = str(getattr(r, "status", "") or (r.get("status") if isinstance(r, dict)
                                                           else ""))
                if status in ("sent", "ok", "delivered"):
                    sent += 1
                elif status in ("dry_run", "dry-run"):
                    dry += 1
                elif status in ("skipped", "already", "already_sent", "duplicate"):
                    skipped += 1
                else:
                    failed += 1
        rec.detail = f"{sent} sent, {skipped} already delivered, {failed} failed" + \
            (f", {dry} dry run (written to the outbox, not sent)" if dry else "")
        if failed:
            rec.status = "failed"
    return rec


def _versions(run: DailyRun) -> dict[str, str]:
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


def _record_run(run: DailyRun, status: str) -> None:
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
    except StageUnavailable:
        return
    except sqlite3.Error as exc:
        _register_problem(run, status, exc)
        return
    model_version = ""
    if run.forecast is not None:
        model_version = str(run.forecast.attrs.get("model_version", ""))
    inputs = {"met": run.met, "met_info": run.met_info, "degraded_inputs": run.degraded,
              "manifest": str(run.manifest_path)}
    finished = None if status == "running" else datetime.now(LOCAL_TZ)
    try:
        register.record_run(run.issue_time, started=run.started, finished=finished,
                  status=status, model_version=model_version,
                  inputs=json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=str))
        if hasattr(register, "record_attempt"):
            register.record_attempt(run.attempt, run.issue_time, status, command="daily",
                                    started=run.started, finished=finished)
    except sqlite3.Error as exc:
        _register_problem(run, status, exc)


#: Busy timeout of the register writes made before the forecast (run start, crash check), s.
QUICK_REGISTER_TIMEOUT_S = 2.0


def _quick_register(run: DailyRun) -> Any:
    try:
        return Register(run.data_dir / "register.sqlite", timeout=QUICK_REGISTER_TIMEOUT_S)
    except TypeError:  # a Register without the timeout parameter
        return run.open_register()


def _register_problem(run: DailyRun, status: str, exc: BaseException) -> None:
    text = f"register not written ({status}): {type(exc).__name__}: {exc}"
    log.warning("%s", text)
    if text not in run.register_problems:
        run.register_problems.append(text)


def _carry_forward(run: DailyRun) -> None:
    """Keep an earlier attempt's product records for stages this attempt did not run.

    A partial rerun (``--no-products``) does not drop what a completed run recorded: a stage
    skipped as "not asked for" whose earlier outputs are all still there with the recorded
    SHA-256 keeps that record (marked ``carried_from``).
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


def stage_archive(run: DailyRun, status: str, error: str | None = None) -> dict[str, Any]:
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
        "versions": _versions(run),
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
    _record_run(run, status)
    if run.register_problems:
        manifest["register_problems"] = list(run.register_problems)
    # the record is append-only: every attempt adds itself to the history; a failed attempt
    # never replaces the manifest of a completed run (it only adds its entry)
    old = read_manifest(run.manifest_path) or {}
    entry = {"attempt": run.attempt, "started": run.started.isoformat(),
             "finished": datetime.now(LOCAL_TZ).isoformat(), "status": status, "error": error,
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

_STAGE_TASKS: dict[str, Any] = {
    "verify_recent": verify_task, "maps": maps_task, "report": report_task, "bulletins": bulletins_task,
    "delivery": delivery_task,
}


def _guarded(run: DailyRun, name: str, call: Callable[[], Any], *, critical: bool) -> bool:
    """Run one stage; True when it produced its outputs.

    A missing package function is recorded as "not available" (never raised: the run goes on
    without that stage). Any other error is recorded as "failed" and re-raised only when the stage
    is ``critical`` (nothing downstream can work without it).
    """
    try:
        call()
        rec = run.records.get(name)
        return rec is None or rec.status not in (NOT_AVAILABLE, "failed", "skipped")
    except StageUnavailable as exc:
        rec = run.records.get(name) or run.record(name)
        rec.status, rec.detail = NOT_AVAILABLE, str(exc)
        run.degrade(f"stage {name} not available yet")
        return False
    except Exception as exc:
        rec = run.records.get(name) or run.record(name)
        rec.status, rec.detail = "failed", f"{type(exc).__name__}: {exc}"
        if critical:
            raise
        log.exception("stage %s failed", name)
        return False


def _skip(run: DailyRun, name: str, why: str) -> None:
    rec = run.record(name)
    rec.status, rec.detail = "skipped", why


@contextmanager
def _run_log(run: DailyRun) -> Any:
    """Log the run (``airwarn`` loggers, INFO) to ``products/<stamp>/logs/<attempt>.log``.

    The manifest names the file (``log``). A log that cannot be opened (full disk, read-only)
    does not stop the run.
    """
    path = run.products_dir / "logs" / f"{run.attempt}.log"
    handler: logging.Handler | None = None
    root = logging.getLogger("airwarn")
    old_level = root.level
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=False)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
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
            root.setLevel(old_level)


def run_daily(
    run: DailyRun,
    *,
    use_tasks: bool = True,
    lock_timeout: float = 600.0,
) -> dict[str, Any]:
    """Run every stage of a daily run under the issue-time lock; return the manifest.

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
    def step(name: str, t: Any, *args: Any) -> Any:
        return t(run, *args) if use_tasks else t.fn(run, *args)

    with issue_lock(run.data_dir, run.issue_time, timeout=lock_timeout, purpose="daily") as lock, \
            _run_log(run):
        if lock.stale:
            log.warning("lock of %s taken over from a crashed run (%s)", run.stamp, lock.stale)
        # re-read the previous manifest under the lock (a concurrent run may just have written it)
        old = read_manifest(run.manifest_path) or {}
        run.previous = {s["name"]: s for s in old.get("stages", [])}
        run.started = datetime.now(LOCAL_TZ)
        try:  # an attempt left "running" by a process that is gone is marked crashed
            crashed = _quick_register(run).mark_crashed()
            if crashed:
                log.warning("crashed runs found and marked: %s", ", ".join(crashed))
        except (sqlite3.Error, AttributeError, StageUnavailable) as exc:
            _register_problem(run, "crash check", exc)
        _record_run(run, "running")
        error: str | None = None
        try:
            _guarded(run, "ingest", lambda: step("ingest", ingest_task), critical=True)
            _guarded(run, "qc", lambda: step("qc", qc_task), critical=False)
            _guarded(run, "aggregate", lambda: step("aggregate", aggregate_task), critical=False)
            have_fc = _guarded(run, "forecast", lambda: step("forecast", forecast_task),
                               critical=True)
            if run.observed_aqi:
                _guarded(run, "daily_aqi", lambda: step("daily_aqi", daily_aqi_task),
                         critical=False)
            if not have_fc:
                ok_warn = False
                _skip(run, "warnings", "no forecast")
            elif run.warnings:
                ok_warn = _guarded(run, "warnings", lambda: step("warnings", warnings_task),
                                   critical=False)
            else:
                ok_warn = False
                _skip(run, "warnings", "not asked for")
            for name in _PRODUCT_ORDER:
                if name == "verify_recent" and "report" not in run.products:
                    continue
                if name not in run.products and name != "verify_recent":
                    _skip(run, name, "not asked for")
                elif not have_fc:
                    _skip(run, name, "no forecast")
                elif not ok_warn and name in ("bulletins", "delivery"):
                    _skip(run, name, "no warning decisions")
                elif name == "delivery" and run.records.get("bulletins") and \
                        run.records["bulletins"].status in ("failed", NOT_AVAILABLE, "skipped"):
                    _skip(run, name, "bulletins not produced")
                else:
                    _guarded(run, name, lambda n=name: step(n, _STAGE_TASKS[n]), critical=False)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("run %s failed: %s", run.stamp, error)
            stage_archive(run, "failed", error)
            raise
        failed = [r.name for r in run.records.values() if r.status == "failed"]
        missing = [r.name for r in run.records.values() if r.status == NOT_AVAILABLE]
        status = "failed" if failed else ("partial" if missing else "complete")
        if failed:
            error = f"stages failed: {', '.join(failed)}"
        log.info("run %s %s%s", run.stamp, status, f": {error}" if error else "")
        manifest = stage_archive(run, status, error)
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
    met : {"cycles", "demo", "perfect", "none"}
        Meteorology source (see :func:`make_met_source`).
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

