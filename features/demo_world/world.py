"""Build, cache and read the demo world (see the package docstring)."""

from __future__ import annotations

import json
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from airwarn.configs import config_dir, load_region, load_settings
from airwarn.features.atomic import atomic_path, write_text_atomic
from airwarn.features.demo_world import chem, met
from airwarn.features.demo_world.stations import (
    POLLUTANTS,
    obs_frame,
    station_observations,
    world_stations,
)

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "GENERATOR_VERSION",
    "CYCLE_STEPS",
    "DELIVERY_DELAY_H",
    "WorldInfo",
    "default_issue_time",
    "current_cycle_time",
    "build_world",
    "load_world",
    "analysis",
    "forecast_cycle",
    "unit_met_analysis",
    "unit_met_forecast",
    "unit_met_forecasts",
    "unit_met",
    "unit_truth",
    "simulate_units",
    "summarise_world",
]

#: Bump when the generator's output changes: cached worlds of another version are rebuilt.
GENERATOR_VERSION = "1.11.0"
#: Forecast cycles run to 120 h: steps 0…120 (hours).
CYCLE_STEPS = 121
#: Hours after its reference time at which a cycle is delivered.
DELIVERY_DELAY_H = 5
#: Spin-up of the box model before the first stored hour, hours.
SPINUP_H = 240
#: Hours of truth kept after the issue time (for scoring the demo forecasts), hours.
TRUTH_AFTER_ISSUE_H = 120


@dataclass(frozen=True, eq=False)
class WorldInfo:
    """What a built demo world holds.

    Attributes
    ----------
    data_dir : Path
        Root of the data store the world was written to.
    seed : int
    start : Timestamp
        First hour of observations and analyses (UTC).
    end : Timestamp
        Last hour of observations and analyses = issue time − 1 h (UTC).
    issue_time : Timestamp
        Issue time of the current run (Asia/Shanghai).
    version : str
        Generator version.
    days : int
        Length of the world, days.
    cycle_time : Timestamp
        Reference time of the current forecast cycle (UTC, 00 UTC), written as a file.
    stations : DataFrame
        The world's station table (configured stations + seat stations).
    units : tuple of str
        Unit ids.
    """

    data_dir: Path
    seed: int
    start: pd.Timestamp
    end: pd.Timestamp
    issue_time: pd.Timestamp
    version: str
    days: int
    cycle_time: pd.Timestamp
    stations: pd.DataFrame = field(repr=False)
    units: tuple[str, ...] = field(repr=False)

    @property
    def source(self) -> str:
        """Always ``"synthetic demo"``."""
        return "synthetic demo"


# ---------------------------------------------------------------------------------------------
# times
# ---------------------------------------------------------------------------------------------
def _aware(t: object, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. '2026-01-20T15:00+08:00'), got {t!r}")
    return ts


def default_issue_time(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest issue hour (``settings.issue_hours``, Asia/Shanghai) at or before ``now``."""
    hours = sorted(load_settings().issue_hours)
    now = (pd.Timestamp.now(tz=LOCAL_TZ) if now is None
           else _aware(now, "now").tz_convert(LOCAL_TZ))
    day = now.normalize()
    for d in (day, day - pd.Timedelta(days=1)):
        for h in reversed(hours):
            t = d + pd.Timedelta(hours=h)
            if t <= now:
                return t
    return day - pd.Timedelta(days=1) + pd.Timedelta(hours=hours[0])


def current_cycle_time(issue_time: pd.Timestamp) -> pd.Timestamp:
    """Latest 00 UTC cycle delivered by ``issue_time`` (reference ≤ issue − 5 h), UTC."""
    t = _aware(issue_time, "issue_time").tz_convert("UTC") - pd.Timedelta(hours=DELIVERY_DELAY_H)
    return t.floor("D")


# ---------------------------------------------------------------------------------------------
# unit-level paths
# ---------------------------------------------------------------------------------------------
def _unit_points(region, units: Sequence[str]) -> met.Points:
    lat = tuple(float(region.unit(u).point.lat) for u in units)
    lon = tuple(float(region.unit(u).point.lon) for u in units)
    return _points_cached(lat, lon)


@lru_cache(maxsize=64)
def _points_cached(lat: tuple[float, ...], lon: tuple[float, ...]) -> met.Points:
    return met.points_from_latlon(np.array(lat), np.array(lon))


def _long(fields: dict[str, np.ndarray], times: pd.DatetimeIndex, units: Sequence[str],
          time_col: str) -> pd.DataFrame:
    T, U = len(times), len(units)
    cols: dict[str, object] = {time_col: np.repeat(times, U),
                               "unit_id": np.tile(np.asarray(units, dtype=object), T)}
    for k, v in fields.items():
        cols[k] = np.asarray(v).reshape(T * U)
    return pd.DataFrame(cols)


def _region_units(world: WorldInfo, region) -> tuple[object, tuple[str, ...]]:
    region = region or load_region()
    units = tuple(u for u in world.units if u in set(region.unit_ids))
    return region, units


def unit_met_analysis(world: WorldInfo, start: object | None = None, end: object | None = None,
                      *, region=None) -> pd.DataFrame:
    """Hourly analysis meteorology at the unit points (the point sample of the gridded field).

    Parameters
    ----------
    world : WorldInfo
    start, end : time-like, optional
        Inclusive UTC range (tz-aware); default the world's ``start`` … ``end``.
    region : Region, optional
        Default ``configs.load_region()``.

    Returns
    -------
    DataFrame
        ``time`` (UTC), ``unit_id``, ``t2m d2m`` K, ``u10 v10`` m s-1, ``sp`` Pa, ``tp`` mm h-1,
        ``blh`` m, ``ssrd`` W m-2, ``tcc`` 0–1. Identical to evaluating the gridded analysis
        function at each unit's ``point``.
    """
    region, units = _region_units(world, region)
    s = world.start if start is None else _aware(start, "start").tz_convert("UTC")
    e = world.end if end is None else _aware(end, "end").tz_convert("UTC")
    times = pd.date_range(s.ceil("h"), e.floor("h"), freq="h")
    f = met.analysis_at_points(world.seed, times, _unit_points(region, units))
    return _long(f, times, units, "time")


def unit_met(world: WorldInfo, start: object | None = None, end: object | None = None, *,
             reference_time: object | None = None, region=None) -> pd.DataFrame:
    """Unit-point meteorology: the analysis (default, through the end of the truth horizon,
    issue + 120 h, so that it can stand in for a perfect forecast) or, with
    ``reference_time``, the forecast of that cycle (:func:`unit_met_forecast`)."""
    if reference_time is not None:
        return unit_met_forecast(world, reference_time, region=region)
    if end is None:
        end = world.end + pd.Timedelta(hours=TRUTH_AFTER_ISSUE_H + 1)
    return unit_met_analysis(world, start, end, region=region)


def _forecast_frame(seed: int, ref_h: int, units: tuple[str, ...], region, steps: int
                    ) -> pd.DataFrame:
    f = met.forecast_at_points(seed, ref_h, steps, _unit_points(region, units))
    vt = pd.date_range(met.EPOCH + pd.Timedelta(hours=ref_h), periods=steps, freq="h")
    df = _long(f, vt, units, "valid_time")
    df.insert(1, "step", np.repeat(np.arange(steps, dtype=np.int64), len(units)))
    return df


@lru_cache(maxsize=2048)
def _forecast_cached(seed: int, ref_h: int, units: tuple[str, ...], steps: int) -> pd.DataFrame:
    return _forecast_frame(seed, ref_h, units, load_region(), steps)


def unit_met_forecast(world: WorldInfo, reference_time: object, *, steps: int = CYCLE_STEPS,
                      region=None) -> pd.DataFrame:
    """The forecast cycle at the unit points (same numbers as :func:`forecast_cycle` evaluated
    at each unit's ``point``), regenerated from the seed; cached in memory.

    Parameters
    ----------
    world : WorldInfo
    reference_time : time-like
        Cycle reference time (tz-aware; whole hour, usually 00 UTC).
    steps : int
        Number of lead hours, 0 … steps−1.
    region : Region, optional

    Returns
    -------
    DataFrame
        ``valid_time`` (UTC), ``step`` (h), ``unit_id``, and the met variables (see
        :func:`unit_met_analysis`).
    """
    region, units = _region_units(world, region)
    ref = _aware(reference_time, "reference_time").tz_convert("UTC")
    if ref != ref.floor("h"):
        raise ValueError(f"reference_time must be a whole hour, got {reference_time!r}")
    ref_h = int(met.hour_index(ref)[0])
    if region is load_region():
        return _forecast_cached(world.seed, ref_h, units, steps).copy()
    return _forecast_frame(world.seed, ref_h, units, region, steps)


#: cycles at unit points generated by this process: (seed, ref hour, steps, points) → fields
#: (steps × units each); a backfill asks for the same few dozen cycles in every run
_CYCLES: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()
#: at most this many cycles are kept (≈ 0.17 MB each for 31 units; a backfill of 30 days needs
#: ~65)
_CYCLES_MAX = 256


def _cycles_at_points(seed: int, ref_hours: list[int], steps: int, pts: met.Points
                      ) -> dict[str, np.ndarray]:
    """The fields of the cycles ``ref_hours`` at ``pts``, stacked ``(cycle × step, point)``:
    cycles generated before by this process are reused, the others generated in one vectorised
    call (every value depends on its own cycle, step and point only)."""
    pkey = (pts.lat.tobytes(), pts.lon.tobytes())
    keys = [(seed, r, steps, pkey) for r in ref_hours]
    todo = sorted({r for r, k in zip(ref_hours, keys, strict=True) if k not in _CYCLES})
    if todo:
        errs = [met.forecast_errors(seed, r, steps) for r in todo]
        err = {k: np.concatenate([e[0][k] for e in errs]) for k in errs[0][0]}
        fs = np.concatenate([e[1] for e in errs])
        h = (np.asarray(todo)[:, None] + np.arange(steps)[None, :]).ravel()
        f = met.evaluate_points(seed, h, pts, err, fs)
        for i, r in enumerate(todo):
            _CYCLES[(seed, r, steps, pkey)] = {k: np.asarray(v)[i * steps:(i + 1) * steps]
                                               for k, v in f.items()}
    out = {k: np.concatenate([_CYCLES[key][k] for key in keys])
           for k in _CYCLES[keys[0]]} if keys else {}
    for key in keys:
        _CYCLES.move_to_end(key)
    while len(_CYCLES) > _CYCLES_MAX:
        _CYCLES.popitem(last=False)
    return out


def unit_met_forecasts(world: WorldInfo, reference_times: Sequence[object], *,
                       steps: int = CYCLE_STEPS, region=None) -> pd.DataFrame:
    """Many forecast cycles at the unit points in one vectorised call.

    Returns
    -------
    DataFrame
        ``reference_time`` (UTC), ``valid_time`` (UTC), ``step`` (h), ``unit_id``, met variables;
        the same numbers as :func:`unit_met_forecast` for each cycle.
    """
    region, units = _region_units(world, region)
    pts = _unit_points(region, units)
    refs = pd.DatetimeIndex([_aware(r, "reference_time").tz_convert("UTC") for r in reference_times])
    ref_h = met.hour_index(refs)
    h = (ref_h[:, None] + np.arange(steps)[None, :]).ravel()
    f = _cycles_at_points(world.seed, [int(r) for r in ref_h], steps, pts)
    U = len(units)
    n = len(h)
    df = pd.DataFrame({
        "reference_time": np.repeat(np.repeat(refs, steps), U),
        "valid_time": np.repeat(met.EPOCH + pd.to_timedelta(h, unit="h"), U),
        "step": np.tile(np.repeat(np.arange(steps, dtype=np.int64), U), len(refs)),
        "unit_id": np.tile(np.asarray(units, dtype=object), n),
    })
    for k, v in f.items():
        df[k] = v.reshape(n * U)
    return df


def simulate_units(seed: int, start: object, end: object, *, region=None,
                   units: Sequence[str] | None = None,
                   emergency_list: Path | None = None) -> tuple[pd.DatetimeIndex, dict, dict]:
    """Run meteorology and the pollution box model for units, without writing anything.

    Parameters
    ----------
    seed : int
    start, end : time-like
        Inclusive hourly UTC range (tz-aware).
    region : Region, optional
    units : list of str, optional
        Subset of units (neighbours outside it count as background).
    emergency_list : path, optional
        Default ``configs/response/emergency_list.yaml``.

    Returns
    -------
    times : DatetimeIndex (UTC)
    met_fields : dict of ndarray (T, U)
    conc : dict of ndarray (T, U)
        ``pm25 pm10 o3 no2 so2`` µg/m³, ``co`` mg/m³, ``pm25_primary``, ``pm25_secondary``.
    """
    region = region or load_region()
    ids = list(units or region.unit_ids)
    s = _aware(start, "start").tz_convert("UTC").ceil("h")
    e = _aware(end, "end").tz_convert("UTC").floor("h")
    times = pd.date_range(s - pd.Timedelta(hours=SPINUP_H), e, freq="h")
    pts = _unit_points(region, ids)
    f = met.analysis_at_points(seed, times, pts)
    el = emergency_list if emergency_list is not None else (
        config_dir() / "response" / "emergency_list.yaml")
    params = chem.unit_params(region, ids, el, load_settings().elevated_min_stack_height_m)
    conc = chem.simulate(f, times, params, spinup_hours=SPINUP_H)
    return times[SPINUP_H:], {k: v[SPINUP_H:] for k, v in f.items()}, conc


# ---------------------------------------------------------------------------------------------
# gridded products
# ---------------------------------------------------------------------------------------------
def _write_nc(ds: xr.Dataset, path: Path) -> Path:
    """Write gridded meteorology as the store does (CF-1.8: ``features.cf``), atomically."""
    from airwarn.features.cf import cf_met, netcdf_encoding

    ref = ds.attrs.get("forecast_reference_time")
    ds = cf_met(ds, writer="airwarn.features.demo_world.build_world",
                reference_time=pd.Timestamp(ref) if ref else None)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4",
                     encoding=netcdf_encoding(ds, complevel=1, float_dtype="float32"))
    return path


def forecast_cycle(world: WorldInfo, reference_time: object, *, steps: int = CYCLE_STEPS
                   ) -> xr.Dataset:
    """The gridded forecast cycle at ``reference_time``, regenerated from the seed.

    Parameters
    ----------
    world : WorldInfo
    reference_time : time-like
        tz-aware whole hour (the demo NWP runs daily at 00 UTC).
    steps : int
        Lead hours 0 … steps−1 (default 0…120).

    Returns
    -------
    Dataset
        ``(time, latitude, longitude)`` with ERA5 names and units, a ``step`` coordinate along
        ``time`` (hours), attributes ``forecast_reference_time`` (ISO UTC) and
        ``source: synthetic demo``. Its error against :func:`analysis` grows with lead.
    """
    ref = _aware(reference_time, "reference_time").tz_convert("UTC")
    if ref != ref.floor("h"):
        raise ValueError(f"reference_time must be a whole hour, got {reference_time!r}")
    ref_h = int(met.hour_index(ref)[0])
    f = met.forecast_at_points(world.seed, ref_h, steps, met.grid_points())
    vt = pd.date_range(ref, periods=steps, freq="h")
    ds = met.grid_dataset(f, vt, "airwarn demo world forecast cycle (synthetic)")
    ds = ds.assign_coords(step=("time", np.arange(steps, dtype=np.int32),
                                {"units": "hours", "long_name": "forecast lead time"}))
    ds.attrs["forecast_reference_time"] = ref.isoformat()
    ds.attrs["seed"] = int(world.seed)
    ds.attrs["generator_version"] = world.version
    return ds


def analysis(world: WorldInfo, start: object | None = None, end: object | None = None
             ) -> xr.Dataset:
    """The gridded analyses between ``start`` and ``end`` (inclusive, tz-aware; default the whole
    world), opened lazily from ``met/analysis/YYYY-MM.nc`` (dask-backed)."""
    s = world.start if start is None else _aware(start, "start").tz_convert("UTC")
    e = world.end if end is None else _aware(end, "end").tz_convert("UTC")
    months = pd.period_range(s.tz_localize(None).to_period("M"), e.tz_localize(None).to_period("M"),
                             freq="M")
    store = RunStore(world.data_dir)
    files = [store.met_analysis(p) for p in months]
    files = [f for f in files if f.exists()]
    if not files:
        raise FileNotFoundError(f"no analysis files for {s} … {e} under "
                                f"{store.met_analysis_dir}")
    ds = xr.open_mfdataset(files, combine="by_coords", chunks={"time": 744}, parallel=False)
    return ds.sel(time=slice(s.tz_localize(None), e.tz_localize(None)))


# ---------------------------------------------------------------------------------------------
# build / load
# ---------------------------------------------------------------------------------------------
def _world_json(data_dir: Path) -> Path:
    return RunStore(data_dir).demo_world


def load_world(data_dir: Path | str) -> WorldInfo:
    """Read ``<data_dir>/demo/world.json`` of a built world.

    Raises
    ------
    FileNotFoundError
        No world has been built there (naming the file and how to build one).
    """
    p = _world_json(Path(data_dir))
    if not p.exists():
        raise FileNotFoundError(f"{p}: no demo world here; build one with "
                                f"features.demo_world.build_world({str(data_dir)!r}) or `airwarn demo`")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return WorldInfo(
            data_dir=Path(data_dir), seed=int(d["seed"]), start=pd.Timestamp(d["start"]),
            end=pd.Timestamp(d["end"]),
            issue_time=pd.Timestamp(d["issue_time"]).tz_convert(LOCAL_TZ),
            version=str(d["version"]), days=int(d["days"]),
            cycle_time=pd.Timestamp(d["cycle_time"]),
            stations=pd.DataFrame(d["stations"]), units=tuple(d["units"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{p}: not a valid demo world description ({exc!r}); "
                         f"delete it and rebuild") from exc


def _cached(data_dir: Path, seed: int, issue_time: pd.Timestamp, days: int) -> WorldInfo | None:
    p = _world_json(data_dir)
    if not p.exists():
        return None
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        return None
    same = (d.get("version") == GENERATOR_VERSION and d.get("seed") == seed
            and d.get("days") == days
            and pd.Timestamp(d.get("issue_time")) == issue_time)
    if not same or not all((data_dir / f).exists() for f in d.get("files", [])):
        return None
    return load_world(data_dir)


def _remove_previous(data_dir: Path) -> None:
    """Delete the files a previous demo world wrote (listed in its world.json)."""
    p = _world_json(data_dir)
    if not p.exists():
        return
    try:
        files = json.loads(p.read_text(encoding="utf-8")).get("files", [])
    except ValueError:
        files = []
    for f in files:
        q = data_dir / f
        if q.exists() and q.is_file():
            q.unlink()
    p.unlink()


def build_world(data_dir: Path | str, *, seed: int | None = None, end: object | None = None,
                days: int | None = None, stations: pd.DataFrame | None = None,
                progress: bool = False) -> WorldInfo:
    """Build (or reuse) the demo world under ``data_dir``.

    Writes ``met/analysis/YYYY-MM.nc`` (hourly analyses, start … issue − 1 h), the current cycle
    ``met/cycles/YYYYMMDDHH.nc``, station observations ``obs/YYYY-MM.parquet`` (canonical table,
    up to issue − 1 h), and under ``demo/``: ``unit_truth.parquet`` (clean unit-level truth,
    through issue + 120 h, column ``observed`` = before the issue time), ``defects.csv`` and
    ``world.json``. Every file is written atomically.

    Parameters
    ----------
    data_dir : path-like
    seed : int, optional
        Default ``settings.demo_seed``.
    end : time-like, optional
        Issue time of the current run (tz-aware, whole hour); default the latest past issue hour
        today (``settings.issue_hours``, Asia/Shanghai).
    days : int, optional
        Length, days (default ``settings.demo_days``).
    stations : DataFrame, optional
        Station table (default ``configs.load_stations()`` + seat stations).
    progress : bool
        Print one line per stage.

    Returns
    -------
    WorldInfo
        Cached: a second call with the same generator version, seed, end and days returns at once;
        anything changed → the previous world's files are removed and it is rebuilt.
    """
    settings = load_settings()
    data_dir = Path(data_dir)
    seed = int(settings.demo_seed if seed is None else seed)
    days = int(settings.demo_days if days is None else days)
    if days < 1:
        raise ValueError(f"days must be ≥ 1, got {days}")
    issue = default_issue_time() if end is None else _aware(end, "end").tz_convert(LOCAL_TZ)
    if issue != issue.floor("h"):
        raise ValueError(f"end (issue time) must be a whole hour, got {end!r}")
    hit = _cached(data_dir, seed, issue, days)
    if hit is not None:
        return hit
    t0 = _time.perf_counter()

    def say(msg: str) -> None:
        if progress:
            print(f"  demo world [{_time.perf_counter() - t0:6.1f} s] {msg}", flush=True)

    _remove_previous(data_dir)
    region = load_region()
    st = world_stations(region, stations)
    last = issue.tz_convert("UTC") - pd.Timedelta(hours=1)
    first = (issue.tz_convert("UTC") - pd.Timedelta(days=days))
    cycle = current_cycle_time(issue)
    files: list[str] = []

    # meteorology + pollution at the units (truth through issue + 120 h)
    truth_end = last + pd.Timedelta(hours=TRUTH_AFTER_ISSUE_H + 1)
    times, _f, conc = simulate_units(seed, first, truth_end, region=region)
    say(f"unit meteorology and pollution simulated ({len(times)} h × {len(region.unit_ids)} units)")
    units = region.unit_ids
    truth = pd.DataFrame({"time": np.repeat(times, len(units)),
                          "unit_id": np.tile(np.asarray(units, dtype=object), len(times))})
    for k in (*POLLUTANTS, "pm25_primary", "pm25_secondary"):
        truth[k] = conc[k].astype(np.float64).ravel()
    truth["observed"] = np.repeat(times <= last, len(units))
    store = RunStore(data_dir)
    p = store.demo_truth
    table = pa.Table.from_pandas(truth, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"source": b"synthetic demo",
            b"description": "airwarn demo world: clean unit-level hourly truth (µg/m³, CO mg/m³); "
                            "synthetic, not real data".encode()}
    with atomic_path(p) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
    files.append(p.relative_to(data_dir).as_posix())

    # station observations + defects
    n_obs = int((times <= last).sum())
    obs, defects = station_observations({k: conc[k][:n_obs] for k in POLLUTANTS}, list(units),
                                        times[:n_obs], st, seed)
    from airwarn.features.store import write_obs

    sids = st["station_id"].tolist()
    obs_times = times[:n_obs]
    n_rows = 0
    for per in pd.unique(obs_times.tz_localize(None).to_period("M")):
        idx = np.flatnonzero(obs_times.tz_localize(None).to_period("M") == per)
        frame = obs_frame(obs, obs_times, sids, slice(int(idx[0]), int(idx[-1]) + 1))
        rep = write_obs(frame, data_dir)
        n_rows += len(frame)
        files += [str(Path(f).relative_to(data_dir)) for f in rep.files]
    del obs
    dfx = defects.copy()
    for c in ("start", "end"):
        dfx[c] = dfx[c].map(lambda t: t.isoformat())
    with atomic_path(store.demo_defects) as tmp:
        dfx.to_csv(tmp, index=False)
    files.append(store.demo_defects.relative_to(data_dir).as_posix())
    say(f"station observations written ({n_rows} rows, {len(st)} stations, "
        f"{len(defects)} defects)")

    # gridded analyses, one file per UTC month
    pts = met.grid_points()
    all_h = pd.date_range(first, last, freq="h")
    for per in pd.period_range(first.tz_localize(None).to_period("M"),
                               last.tz_localize(None).to_period("M"), freq="M"):
        sel = all_h[(all_h.year == per.year) & (all_h.month == per.month)]
        f = met.analysis_at_points(seed, sel, pts)
        ds = met.grid_dataset(f, sel, "airwarn demo world analysis (synthetic)")
        ds.attrs["seed"] = seed
        ds.attrs["generator_version"] = GENERATOR_VERSION
        path = store.met_analysis(per)
        _write_nc(ds, path)
        files.append(path.relative_to(data_dir).as_posix())
    say("gridded analyses written")

    info = WorldInfo(data_dir=data_dir, seed=seed, start=first, end=last, issue_time=issue,
                     version=GENERATOR_VERSION, days=days, cycle_time=cycle, stations=st,
                     units=tuple(units))
    ds = forecast_cycle(info, cycle)
    path = store.met_cycle(cycle)
    _write_nc(ds, path)
    rel = path.relative_to(data_dir).as_posix()
    files.append(rel)
    say(f"current forecast cycle written ({rel})")

    desc = {
        "generator": "airwarn demo world", "source": "synthetic demo", "version": GENERATOR_VERSION,
        "seed": seed, "days": days, "start": first.isoformat(), "end": last.isoformat(),
        "issue_time": issue.isoformat(), "cycle_time": cycle.isoformat(),
        "units": list(units), "stations": st.to_dict(orient="records"), "files": files,
        "note": "Synthetic data for demonstration and testing; not real observations.",
    }
    write_text_atomic(_world_json(data_dir), json.dumps(desc, ensure_ascii=False, indent=1))
    say("done")
    return info


# ---------------------------------------------------------------------------------------------
# truth and summary
# ---------------------------------------------------------------------------------------------
def unit_truth(world: WorldInfo) -> pd.DataFrame:
    """The clean unit-level hourly truth (``demo/unit_truth.parquet``): ``time`` (UTC),
    ``unit_id``, pollutants (µg/m³, CO mg/m³), ``pm25_primary``, ``pm25_secondary``,
    ``observed`` (False after the issue time)."""
    return pd.read_parquet(RunStore(world.data_dir).demo_truth)


_SEASONS = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJA", 7: "JJA",
            8: "JJA", 9: "SON", 10: "SON", 11: "SON"}
_LEVELS = ["优 good", "良 moderate", "轻度 light", "中度 medium", "重度 heavy", "严重 severe"]


def summarise_world(world: WorldInfo, daily_aqi: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Per unit and season: counts of days by observed daily AQI level.

    Station observations (``obs/``) are averaged per unit-hour (station-level outliers are not
    removed: this is the raw picture), daily AQI by ``daily_aqi`` (pass
    ``alerts.daily.daily_aqi``: ``features`` does not import ``alerts``; rule set by date),
    levels 1–6 (优 … 严重).

    Parameters
    ----------
    world : WorldInfo
    daily_aqi : callable
        ``daily_aqi(hourly, id_col="unit_id") -> DataFrame[date, unit_id, aqi, level, …]``
        (dimensionless AQI, level 1–6).

    Returns
    -------
    DataFrame
        Columns ``unit_id``, ``season`` (DJF, MAM, JJA, SON), ``days``, one column per level
        (``优 good`` … ``严重 severe``), and ``max_aqi``.
    """
    from airwarn.features.store import read_obs

    obs = read_obs(world.data_dir)
    st = world.stations.set_index("station_id")["sub_region"]
    obs = obs[obs["station_id"].isin(st.index)]
    obs = obs.assign(unit_id=obs["station_id"].map(st))
    # negative values are invalid, CO in µg/m³ would dominate: drop the obvious ones
    for p in POLLUTANTS:
        obs.loc[obs[p] < 0, p] = np.nan
    obs.loc[obs["co"] > 50, "co"] = np.nan
    hourly = obs.groupby(["time", "unit_id"], as_index=False)[list(POLLUTANTS)].mean()
    d = daily_aqi(hourly, id_col="unit_id")
    d = d[d["aqi"].notna()]
    date = pd.to_datetime(d["date"])
    d = d.assign(season=date.dt.month.map(_SEASONS), level=d["level"].astype(int))
    rows = []
    for (u, s), g in d.groupby(["unit_id", "season"], sort=False):
        row = {"unit_id": u, "season": s, "days": len(g)}
        for k, name in enumerate(_LEVELS, start=1):
            row[name] = int((g["level"] == k).sum())
        row["max_aqi"] = float(g["aqi"].max())
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {u: i for i, u in enumerate(world.units)}
    sorder = {"DJF": 0, "MAM": 1, "JJA": 2, "SON": 3}
    out = out.sort_values(["unit_id", "season"], key=lambda c: c.map(order) if c.name == "unit_id"
                          else c.map(sorder)).reset_index(drop=True)
    return out
