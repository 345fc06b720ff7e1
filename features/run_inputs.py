"""The inputs of one forecast run: observations, stations down, the meteorology source.

What a run (the daily flow, ``airwarn forecast``, training, the products re-render) reads before
it forecasts, and what it finds reduced about it. Plain functions; the daily flow
(``flows.daily``) calls them stage by stage and records what they return, and
``products.run`` calls the same ones to re-render a stored run from the same inputs.

- observations: :func:`obs_window` (the station-hours a run reads, to H−1),
  :func:`read_run_obs`, :func:`run_stations`, :func:`unit_obs` (station → unit means plus the
  station meteorology features), :func:`run_unit_obs` (read → QC → units, as the daily run does)
  and :func:`load_unit_obs` (any window, for training and ``airwarn forecast``);
- what is missing: :func:`stations_down`, :func:`units_not_reporting`;
- meteorology: :func:`resolve_met`, :func:`make_met_source`, :func:`met_notes`;
- the forecast's own record: :func:`json_inputs`, :func:`degraded_from_forecast`.

Units: concentrations µg/m³ (CO mg/m³), times UTC unless said otherwise, windows in h or d.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.features.aggregate import stations_to_units
from airwarn.features.build import CycleMet, MetSource, NoMet, PerfectMet
from airwarn.features.demo_world import DELIVERY_DELAY_H, load_world, unit_met, unit_met_forecasts
from airwarn.features.demo_world.feed import StoreFirstCycleMet
from airwarn.features.met_obs import add_met_obs
from airwarn.features.met_sampling import sample_units
from airwarn.features.qc import run_qc
from airwarn.features.store import read_obs

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_ZONE

__all__ = [
    "OBS_HISTORY_DAYS",
    "STATION_DOWN_HOURS",
    "DEMO_CYCLE_BATCH",
    "MET_SOURCES",
    "obs_window",
    "read_run_obs",
    "run_stations",
    "unit_obs",
    "run_unit_obs",
    "load_unit_obs",
    "stations_down",
    "units_not_reporting",
    "resolve_met",
    "make_met_source",
    "met_notes",
    "json_inputs",
    "degraded_from_forecast",
]

log = logging.getLogger(__name__)

#: Days of observations read before the issue time (history features, the review report and
#: the verification of the last 30 days of runs, whose D+3 valid times need 3 more), d.
OBS_HISTORY_DAYS = 34
#: A station with no valid PM2.5 or O3 value in this many hours before the issue time is "down", h.
STATION_DOWN_HOURS = 24
#: Demo-world forecast cycles regenerated per batch (consecutive days), cycles.
DEMO_CYCLE_BATCH = 16
#: Meteorology sources a run can use (``auto`` resolves to ``demo`` or ``cycles``).
MET_SOURCES = ("auto", "cycles", "demo", "perfect", "none")


# --------------------------------------------------------------------------------------------
# observations
# --------------------------------------------------------------------------------------------


def obs_window(issue_time: Any, days: int = OBS_HISTORY_DAYS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The observation times a run reads: ``days`` before H−1 up to H−1 (inclusive, UTC).

    Parameters
    ----------
    issue_time : time-like
        Issue time (tz-aware; naive = UTC as a ``pd.Timestamp``).
    days : int
        Length of the window, d.

    Returns
    -------
    start, end : Timestamp
        UTC; ``end`` = issue time − 1 h (the last hour observed before issue).
    """
    t = pd.Timestamp(issue_time)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    end = t - pd.Timedelta(hours=1)
    return end - pd.Timedelta(days=days), end


def read_run_obs(data_dir: Path | str, issue_time: Any) -> pd.DataFrame:
    """Station-hour observations of a run's window (:func:`obs_window`) from the store.

    Returns
    -------
    DataFrame
        ``features.store.read_obs`` rows (``time`` UTC, ``station_id``, pollutants in µg/m³,
        CO mg/m³); empty when the store has nothing in the window.
    """
    start, end = obs_window(issue_time)
    return read_obs(Path(data_dir), start=start, end=end)


def run_stations(config: AirwarnConfig) -> pd.DataFrame:
    """The station table of a run: the demo world's (with its seat stations) or ``configs``'.

    ``seat_<unit_id>`` stations exist only in a demo world (``docs/INTERFACES.md``); its table
    (``demo/world.json``) is the configured stations plus those.
    """
    data_dir = Path(config.settings.data_dir).resolve()
    if RunStore(data_dir).demo_world.exists():
        try:
            return load_world(data_dir).stations
        except (ValueError, FileNotFoundError):
            pass
    return config.stations


def unit_obs(obs: pd.DataFrame, stations: pd.DataFrame, data_dir: Path | str) -> pd.DataFrame:
    """Station-hours → unit-hour means, plus the station meteorology features (``mo_*``).

    Parameters
    ----------
    obs : DataFrame
        Station-hours (QC-flagged or not), µg/m³ (CO mg/m³).
    stations : DataFrame
        The run's station table (:func:`run_stations`).
    data_dir : path-like
        Data directory (station meteorology is read from it).

    Returns
    -------
    DataFrame
        ``features.aggregate.stations_to_units`` output with ``features.met_obs.add_met_obs``.
    """
    return add_met_obs(stations_to_units(obs, stations), Path(data_dir))


def run_unit_obs(config: AirwarnConfig, issue_time: Any) -> pd.DataFrame:
    """The unit observations a daily run forecasts from: window → QC → unit means.

    The same steps, in the same order, as the daily flow's ``ingest``, ``qc`` and ``aggregate``
    stages (:func:`read_run_obs`, ``features.qc.run_qc`` with :func:`run_stations`,
    :func:`unit_obs`); the products re-render (``products.run``) uses it to see what the run saw.
    """
    data_dir = Path(config.settings.data_dir).resolve()
    stations = run_stations(config)
    obs = read_run_obs(data_dir, issue_time)
    flagged, _ = run_qc(obs, stations)
    return unit_obs(flagged, stations, data_dir)


def load_unit_obs(config: AirwarnConfig, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Unit-hour observations from the store: read → QC → station→unit means (µg/m³, CO mg/m³).

    Parameters
    ----------
    config : AirwarnConfig
    start, end : time-like, optional
        Inclusive UTC bounds of the observation times (None = open).
    """
    ddir = Path(config.settings.data_dir)
    stations = run_stations(config)
    obs = read_obs(ddir, start=start, end=end)
    obs, _ = run_qc(obs, stations)
    return unit_obs(obs, stations, ddir)


def stations_down(obs: pd.DataFrame, end: pd.Timestamp,
                  hours: int = STATION_DOWN_HOURS) -> list[str]:
    """Stations in the window that sent no valid PM2.5 or O3 in the last ``hours`` before ``end``.

    A station never ingested is not "down": only those in ``obs`` count.

    Parameters
    ----------
    obs : DataFrame
        Station-hours of the run's window (``time`` UTC, ``station_id``, ``pm25``, ``o3``).
    end : Timestamp
        Last observed hour (issue time − 1 h), UTC.
    hours : int
        Silence that makes a station down, h.

    Returns
    -------
    list of str
        One operator line per station (``station <id>: no observations since <local time>
        (站点数据缺失)``), sorted by station id; ``no observations in the store …`` when the
        window is empty.
    """
    if obs.empty:
        return ["no observations in the store before the issue time (无观测数据)"]
    recent = obs[obs["time"] > end - pd.Timedelta(hours=hours)]
    # .unique() first: iterating every row of an Arrow string column is slow (pandas 3)
    live = set(recent.dropna(subset=["pm25", "o3"], how="all")["station_id"].astype(str).unique())
    down = sorted(s for s in set(obs["station_id"].astype(str).unique()) if s not in live)
    if not down:
        return []
    last = obs[obs["station_id"].isin(down)].dropna(subset=["pm25", "o3"], how="all")
    last_t = last.groupby("station_id")["time"].max()
    out = []
    for s in down:
        t = last_t.get(s)
        when = (pd.Timestamp(t).tz_convert(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")
                if t is not None else f"the last {OBS_HISTORY_DAYS} d")
        out.append(f"station {s}: no observations since {when} (站点数据缺失)")
    return out


def units_not_reporting(units: pd.DataFrame, issue_time: pd.Timestamp, unit_ids: list[str],
                        hours: int = STATION_DOWN_HOURS) -> tuple[list[str], set[str]]:
    """Units with no valid PM2.5 or O3 mean in the last ``hours`` + 1 before the issue time.

    Parameters
    ----------
    units : DataFrame
        Unit-hours (:func:`unit_obs`), ``time`` UTC.
    issue_time : Timestamp
        Issue time, tz-aware.
    unit_ids : list of str
        The region's units, in order.
    hours : int
        Silence that makes a unit "not reporting", h.

    Returns
    -------
    notes, live : list of str, set of str
        One operator line per silent unit (``unit <id>: no observations in the last 24 h
        (单元观测缺失)``) and the units reporting now.
    """
    if len(units):
        recent = units[units["time"] > issue_time - pd.Timedelta(hours=hours + 1)]
        live = set(recent.dropna(subset=["pm25", "o3"], how="all")["unit_id"].unique())
    else:
        live = set()
    notes = [f"unit {u}: no observations in the last {hours} h (单元观测缺失)"
             for u in unit_ids if u not in live]
    return notes, live


# --------------------------------------------------------------------------------------------
# meteorology source
# --------------------------------------------------------------------------------------------


def resolve_met(config: AirwarnConfig, met: str) -> str:
    """``"auto"`` → ``"demo"`` in a demo world's data directory, else ``"cycles"``."""
    if met != "auto":
        return met
    return "demo" if RunStore(config.settings.data_dir).demo_world.exists() \
        else "cycles"


def _demo_source(config: AirwarnConfig, data_dir: Path) -> MetSource:
    world = load_world(data_dir)
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
                              cycle_hours=(0,), latency_h=float(DELIVERY_DELAY_H))


def _cycles_source(config: AirwarnConfig, data_dir: Path) -> MetSource:
    from airwarn.features.met_cycles import read_cycle

    cycles = RunStore(data_dir).met_cycles_dir
    stations = run_stations(config)
    # the cycle hours are those the provider delivers (seen in the directory), else 00 and 12 UTC
    hours = sorted({int(p.stem[-2:]) for p in cycles.glob("[0-9]" * 10 + ".nc")}) or [0, 12]

    def load_file(ref: pd.Timestamp) -> pd.DataFrame | None:
        path = RunStore(data_dir).met_cycle(ref)
        if not path.exists():
            return None
        try:
            # every hour from the reference time (3-hourly or 6-hourly steps interpolated, the
            # window rates of tp/ssrd held over their windows): the daily met features need
            # ≥ 12 valid hours a day, which the steps alone (8 or 4) never give
            ds = read_cycle(data_dir, ref, hourly=True)
            return sample_units(ds, config.region, stations=stations)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("met cycle %s unreadable (%s): treated as missing", path, exc)
            return None

    return CycleMet(load_file, cycle_hours=hours)


def make_met_source(config: AirwarnConfig, met: str = "auto") -> tuple[MetSource, list[str]]:
    """The meteorology source of a run, and what is degraded about it.

    Parameters
    ----------
    config : AirwarnConfig
    met : {"auto", "cycles", "demo", "perfect", "none"}
        ``auto``: ``demo`` in a demo world's data directory (the models were trained on its
        regenerated cycles), else ``cycles``. ``cycles``: forecast cycle files
        ``met/cycles/YYYYMMDDHH.nc`` sampled at the units (``features.met_sampling.sample_units``;
        opened lazily with dask), the newest available cycle used, older ones shifted by their
        age (``features.build.CycleMet``). ``demo``: the demo world's cycles regenerated from its
        seed (backfills of the demo world). ``perfect``: observed meteorology at the valid time
        (benchmarks only). ``none``: no future meteorology.

    Returns
    -------
    source, degraded : MetSource, list of str

    Raises
    ------
    ValueError
        Unknown ``met`` (names the value and the choices).
    FileNotFoundError
        ``demo``/``perfect`` without a demo world in the data directory.
    """
    data_dir = Path(config.settings.data_dir).resolve()
    met = resolve_met(config, met)
    if met == "none":
        return NoMet(), ["no future meteorology (met=none)"]
    if met == "demo":
        return _demo_source(config, data_dir), []
    if met == "perfect":
        table = unit_met(load_world(data_dir), region=config.region)
        return PerfectMet(table), ["observed meteorology stands in for the forecast "
                                   "(perfect prog)"]
    if met != "cycles":
        raise ValueError(f"met source {met!r}: expected one of cycles, demo, perfect, none")
    return _cycles_source(config, data_dir), []


def met_notes(met_info: dict[str, Any]) -> list[str]:
    """Operator lines for a late or missing meteorology cycle (``MetSource.describe`` output).

    Returns
    -------
    list of str
        ``no meteorology forecast cycle available …`` (a cycle source without any cycle) or
        ``meteorology cycle <ref> used, <age> h old; missing newer cycles …``, and for a
        partial cycle ``meteorology cycle <ref> partial: <n> h from … to … taken from cycle …``
        per older cycle used (``stitched``); empty otherwise.
    """
    if met_info.get("met") == "cycle" and met_info.get("cycle") is None:
        return ["no meteorology forecast cycle available: forecast without future "
                "meteorology (气象预报缺失)"]
    out = []
    if met_info.get("missing_cycles"):
        age = met_info.get("cycle_age_h")
        out.append(f"meteorology cycle {met_info['cycle']} used, {age:.0f} h old; missing newer "
                   f"cycles {', '.join(met_info['missing_cycles'])} (气象预报延迟)")
    for st in met_info.get("stitched") or []:
        out.append(f"meteorology cycle {met_info['cycle']} partial: {st['hours']} h from "
                   f"{st['from']} to {st['to']} taken from cycle {st['cycle']} "
                   "(气象预报不完整，缺失时段用上一时次)")
    return out


# --------------------------------------------------------------------------------------------
# the forecast's own record of its inputs
# --------------------------------------------------------------------------------------------


def json_inputs(ds: Any) -> dict[str, Any]:
    """The forecast's ``inputs`` attribute (JSON text) as a dict; ``{"raw": text}`` if not JSON."""
    raw = getattr(ds, "attrs", {}).get("inputs")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return {"raw": raw}
    return raw or {}


def degraded_from_forecast(ds: Any) -> list[str]:
    """Fallbacks named in a forecast (``method``/``fallback_reason``), grouped by cause.

    Parameters
    ----------
    ds : xarray.Dataset
        A forecast file (``method(pollutant, region)``, optional ``fallback_reason``).

    Returns
    -------
    list of str
        One line per (pollutant, method, reason): ``pm25: climatology for 3 of 31 units
        (hechuan, bishan, dazu): <reason>``; empty when every unit used LightGBM.
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
