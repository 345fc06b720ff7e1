"""The demo world as a data provider: its inputs written in the formats a centre receives.

``airwarn demo`` takes the real input path: the demo world writes, into the feed folder
(:func:`feed_dir`: ``<data_dir>/demo/feed/<source>/<provider layout>``), the files the
demo sources of ``configs/sources_demo.yaml`` ask for; the demo serves that folder on 127.0.0.1,
fetches it (``features.acquire``), ingests the inbox (``features.inbox``) and forecasts from the
ingested cycle and observations.

- **NWP** (source ``ecmwf-ifs``, the ECMWF open-data layout, one GRIB2 file per step): the
  current and the previous forecast cycle (``cycles_back`` of the source), written with
  ``features.readers.grib.write_grib2_steps`` in the IFS encoding (centre ``ecmf``; ``tp`` in m
  and ``ssrd`` in J m⁻² accumulated from the reference time, ``tcc`` in %), on the world's 0.5°
  grid, at the source's steps (hourly 0–120 h by default; for coarser steps the ``tp``/``ssrd``
  rates are averaged over each step window first, so the accumulations stay exact).
- **Station observations** (source ``cnemc``): one CNEMC hourly release file per hour
  (``features.readers.cnemc.write_cnemc``) for the source's ``lookback_h`` hours before the issue
  time, every station of the world, the values of the world's station store (with its injected
  defects). Older history is already in the store from the world build.
- **Station meteorology** (source ``cma-surface``): one CMA hourly surface export per UTC hour
  (``features.readers.cma.write_cma_surface``) for one synthetic met station per unit at the
  unit's point (:func:`demo_met_stations`; values from ``unit_met_analysis``). The demo's
  met-station → unit mapping is ``<data_dir>/demo/met_stations.csv`` (same columns as
  ``configs/met_stations.csv``; ``features.met_obs.add_met_obs`` uses it in a demo world).

:func:`stored_cycle_units` reads an ingested cycle back at the unit points (bilinear,
``features.met_sampling.sample_points``) — the same point sample the demo's models were trained
on (``unit_met_forecasts``), so that the daily run forecasts from the fetched GRIB2 cycle.

Everything written is synthetic (``source: synthetic demo``); the file formats are real.

Units: hours, UTC unless said; met variables in ERA5 names and units.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from airwarn.configs.schema import Region
from airwarn.configs.sources_schema import Source, Sources
from airwarn.features.build import CycleMet
from airwarn.features.demo_world.world import WorldInfo

from airwarn.core.runstore import RunStore

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["feed_dir", "DEMO_SOURCES_FILE", "MET_STATION_PREFIX", "load_demo_sources", "demo_met_stations",
           "demo_met_stations_path", "write_demo_feed", "stored_cycle_units",
           "StoreFirstCycleMet"]

#: The demo's sources (file name in the configuration directory).
DEMO_SOURCES_FILE = "sources_demo.yaml"
#: Prefix of the demo's synthetic met-station ids (``Y0001`` …; letter-prefixed like CMA's
#: regional stations, so they never collide with a 5-digit national station).
MET_STATION_PREFIX = "Y"



def feed_dir(data_dir: Path | str) -> Path:
    """The demo's provider folder, ``<data_dir>/demo/feed/<source>/<provider layout>``
    (``features.acquire.feed_relpath`` gives each file's place)."""
    return RunStore(data_dir).demo_feed_dir

def load_demo_sources(path: Path | str | None = None) -> Sources:
    """``configs/sources_demo.yaml`` (the demo's sources, base URLs on 127.0.0.1)."""
    from airwarn.configs import config_dir
    from airwarn.configs.sources_schema import load_sources

    return load_sources(path or config_dir() / DEMO_SOURCES_FILE)


def demo_met_stations_path(data_dir: Path | str) -> Path:
    """``<data_dir>/demo/met_stations.csv``: the demo's met-station → unit mapping."""
    return RunStore(data_dir).demo_met_stations


def demo_met_stations(world: WorldInfo, region: Region | None = None) -> pd.DataFrame:
    """One synthetic CMA-style met station per unit, at the unit's point.

    Returns
    -------
    DataFrame
        ``station_id`` (``Y0001`` … in unit order), ``name`` (``<unit name>气象站 (demo)``),
        ``unit_id``, ``lon``, ``lat`` (degrees), ``elevation`` (m, the world's terrain there) —
        the columns of ``configs/met_stations.csv``.
    """
    from airwarn.configs import load_region
    from airwarn.features.demo_world.met import elevation

    region = region or load_region()
    units = [u for u in world.units if u in set(region.unit_ids)]
    lat = np.array([region.unit(u).point.lat for u in units], dtype=float)
    lon = np.array([region.unit(u).point.lon for u in units], dtype=float)
    return pd.DataFrame({
        "station_id": [f"{MET_STATION_PREFIX}{k:04d}" for k in range(1, len(units) + 1)],
        "name": [f"{region.unit(u).name}气象站 (demo)" for u in units],
        "unit_id": units, "lon": np.round(lon, 4), "lat": np.round(lat, 4),
        "elevation": np.round(elevation(lat, lon)).astype(int),
    })


def _window_rates(ds: xr.Dataset, steps: list[int]) -> xr.Dataset:
    """The cycle at ``steps`` with ``tp``/``ssrd`` averaged over each step window (hourly input)."""
    out = ds.isel(time=steps)
    prev = [None, *steps[:-1]]
    for v in ("tp", "ssrd"):
        if v not in ds:
            continue
        hourly = np.nan_to_num(ds[v].values.astype(np.float64))
        csum = np.concatenate([np.zeros_like(hourly[:1]), np.cumsum(hourly, axis=0)])
        vals = np.empty((len(steps), *hourly.shape[1:]))
        for i, (s, p) in enumerate(zip(steps, prev, strict=True)):
            if p is None:
                vals[i] = hourly[s]
            else:  # mean rate over the hours (p, s]
                vals[i] = (csum[s + 1] - csum[p + 1]) / (s - p)
        out[v] = out[v].copy(data=vals.astype(np.float32))
    return out


def _write_cycles(world: WorldInfo, feed: Path, src: Source, now: pd.Timestamp) -> list[dict[str, Any]]:
    from airwarn.features.acquire import feed_relpath, source_cycles
    from airwarn.features.demo_world.world import CYCLE_STEPS, forecast_cycle
    from airwarn.features.readers.grib import write_grib2_steps

    steps = list(src.steps or [])
    out = []
    for ref in source_cycles(src, now):
        # always the world's full cycle (its forecast errors are drawn over CYCLE_STEPS steps:
        # a shorter cycle would be another forecast), then the source's steps
        ds = forecast_cycle(world, ref, steps=max(CYCLE_STEPS, max(steps) + 1)
                            ).sortby("latitude")
        ds = _window_rates(ds, steps) if steps != list(range(len(steps))) else ds.isel(time=steps)
        with tempfile.TemporaryDirectory(dir=feed) as tmp:
            files = write_grib2_steps(ds, tmp, centre="ecmf", style="ifs",
                                      reference_time=ref, pattern="{step}.grib2")
            for s, f in zip(steps, files, strict=True):
                dest = feed / src.name / feed_relpath(src, ref, s)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(f), dest)
        out.append({"source": src.name, "cycle": ref.isoformat(), "steps": len(steps)})
    return out


def _labels(src: Source, now: pd.Timestamp) -> list[pd.Timestamp]:
    """The periodic labels (source time zone) the fetch plans at ``now``, oldest first."""
    from airwarn.features.acquire import plan_source

    return sorted(it.label.tz_convert(src.timezone) for it in plan_source(src, now))


def _write_cnemc(world: WorldInfo, data_dir: Path, feed: Path, src: Source, now: pd.Timestamp
                 ) -> dict[str, Any]:
    from airwarn.features.acquire import feed_relpath
    from airwarn.features.readers.cnemc import write_cnemc
    from airwarn.features.store import read_obs

    labels = _labels(src, now)
    utc = [t.tz_convert("UTC") for t in labels]
    obs = read_obs(data_dir, start=min(utc), end=max(utc))
    obs = obs[obs["station_id"].isin(world.stations["station_id"])]
    by_time = {pd.Timestamp(t): g for t, g in obs.groupby("time", sort=False)}
    n = 0
    for lab, t in zip(labels, utc, strict=True):
        g = by_time.get(t)
        if g is None or g.empty:
            continue
        dest = feed / src.name / feed_relpath(src, lab)
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_cnemc(g, world.stations, dest)
        n += 1
    return {"source": src.name, "files": n, "station_hours": int(len(obs)),
            "stations": int(obs["station_id"].nunique()) if len(obs) else 0}


def _write_cma(world: WorldInfo, data_dir: Path, feed: Path, src: Source, now: pd.Timestamp,
               region: Region | None) -> dict[str, Any]:
    from airwarn.features.acquire import feed_relpath
    from airwarn.features.atomic import write_text_atomic
    from airwarn.features.demo_world.world import unit_met_analysis
    from airwarn.features.readers.cma import write_cma_surface

    stations = demo_met_stations(world, region)
    write_text_atomic(demo_met_stations_path(data_dir), stations.to_csv(index=False))
    labels = _labels(src, now)
    utc = [t.tz_convert("UTC") for t in labels]
    met = unit_met_analysis(world, min(utc), max(utc), region=region)
    sid = dict(zip(stations["unit_id"], stations["station_id"], strict=True))
    met = met[met["unit_id"].isin(sid)].assign(station_id=lambda d: d["unit_id"].map(sid))
    met["ws10"] = np.hypot(met["u10"], met["v10"])
    # relative humidity over water from T and Td (Magnus, Alduchov & Eskridge 1996), %
    tc, dc = met["t2m"] - 273.15, met["d2m"] - 273.15
    met["rh"] = (100.0 * np.exp(17.625 * dc / (243.04 + dc) - 17.625 * tc / (243.04 + tc))
                 ).clip(0, 100)
    by_time = {pd.Timestamp(t): g for t, g in met.groupby("time", sort=False)}
    n = 0
    for lab, t in zip(labels, utc, strict=True):
        g = by_time.get(t)
        if g is None:
            continue
        dest = feed / src.name / feed_relpath(src, lab)
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_cma_surface(g, dest)
        n += 1
    return {"source": src.name, "files": n, "stations": len(stations)}


def write_demo_feed(world: WorldInfo, data_dir: Path | str | None = None, *, sources: Sources | None = None,
                    region: Region | None = None) -> dict[str, Any]:
    """Write the demo's provider folder for the world's issue time (see the module docstring).

    Parameters
    ----------
    world : WorldInfo
    data_dir : path-like, optional
        Default the world's.
    sources : Sources, optional
        Default :func:`load_demo_sources`. Sources named ``kind: nwp`` get GRIB2 cycles,
        ``obs`` CNEMC files, ``met_obs`` CMA exports; what the fetch plans at the issue time.
    region : Region, optional

    Returns
    -------
    dict
        ``feed`` (folder), per source what was written (``cycles`` / ``files``), and
        ``seconds``. Writing again replaces the files (atomically each).
    """
    import time

    from airwarn.configs import load_region

    t0 = time.perf_counter()
    data_dir = Path(data_dir or world.data_dir)
    srcs = sources or load_demo_sources()
    region = region or load_region()
    feed = feed_dir(data_dir)
    feed.mkdir(parents=True, exist_ok=True)
    now = pd.Timestamp(world.issue_time).tz_convert("UTC")
    out: dict[str, Any] = {"feed": str(feed), "issue_time": pd.Timestamp(world.issue_time)
                           .isoformat(), "sources": {}}
    for src in srcs.sources:
        if not src.enabled:
            continue
        if src.kind == "nwp":
            out["sources"][src.name] = {"cycles": _write_cycles(world, feed, src, now)}
        elif src.kind == "obs":
            out["sources"][src.name] = _write_cnemc(world, data_dir, feed, src, now)
        else:
            out["sources"][src.name] = _write_cma(world, data_dir, feed, src, now, region)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def stored_cycle_units(data_dir: Path | str, reference_time: Any, units: list[str],
                       region: Region | None) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """An ingested cycle of the store, at the unit points; None when not stored.

    Only cycles that arrived through ingest (``nwp_source`` in the file: GRIB2 or CF from a
    provider) count — not the NetCDF the world build writes itself.

    Returns
    -------
    (DataFrame, dict) or None
        ``time`` (UTC), ``unit_id``, met variables (ERA5 units; hourly: 3-hourly steps are
        interpolated, ``features.met_cycles.read_cycle(hourly=True)``), and what was read
        (``cycle_file``, ``nwp_source``, ``centre``, ``steps``, ``partial``).
    """
    import xarray as xr
    from airwarn.features.met_cycles import cycle_path, read_cycle
    from airwarn.features.met_sampling import sample_points

    p = cycle_path(data_dir, reference_time)
    if not p.exists():
        return None
    with xr.open_dataset(p) as f:
        src = f.attrs.get("nwp_source")
    if not src:
        return None
    ds = read_cycle(data_dir, reference_time, hourly=True)
    lat = np.array([region.unit(u).point.lat for u in units], dtype=float)
    lon = np.array([region.unit(u).point.lon for u in units], dtype=float)
    res = sample_points(ds, lon, lat).load()
    times = pd.DatetimeIndex(res["time"].values)
    times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    cols: dict[str, Any] = {"time": np.repeat(times, len(units)),
                            "unit_id": np.tile(np.asarray(units, dtype=object), len(times))}
    for v in res.data_vars:
        if res[v].dims == ("time", "point"):
            cols[str(v)] = res[v].values.reshape(-1)
    info = {"cycle_file": str(Path(p).relative_to(Path(data_dir))) if
            Path(p).is_relative_to(Path(data_dir)) else str(p),
            "nwp_source": str(src), "centre": str(ds.attrs.get("centre", "")),
            "steps": int(ds.sizes.get("time", 0)), "partial": ds.attrs.get("partial", "")}
    return pd.DataFrame(cols), info


class StoreFirstCycleMet(CycleMet):
    """The demo's meteorology source: a cycle ingested into ``met/cycles`` is read from the
    store (:func:`stored_cycle_units`), any other is regenerated from the world's seed
    (``regenerate(ref)``). Same cycle choice as training (``features.build.CycleMet``);
    :meth:`describe` says where the cycle came from (``cycle_from``, ``cycle_file``,
    ``nwp_source``)."""

    def __init__(self, regenerate: Any, data_dir: Path | str, region: Region | None, units: list[str],
                 **kwargs: Any) -> None:
        self.data_dir = Path(data_dir)
        self.region = region
        self.units = [u for u in units if u in set(region.unit_ids)]
        self.regenerate = regenerate
        self.read_from: dict[pd.Timestamp, dict[str, Any]] = {}
        super().__init__(self._load_cycle, **kwargs)

    def _load_cycle(self, ref: pd.Timestamp) -> pd.DataFrame | None:
        ref = pd.Timestamp(ref).tz_convert("UTC")
        got = stored_cycle_units(self.data_dir, ref, self.units, self.region)
        if got is not None:
            self.read_from[ref] = got[1]
            return got[0]
        return self.regenerate(ref)

    def describe(self, issue_time: pd.Timestamp) -> dict[str, Any]:
        """:meth:`CycleMet.describe` plus where the cycle came from."""
        out = super().describe(issue_time)
        if out.get("cycle") is None:
            return out
        info = self.read_from.get(pd.Timestamp(out["cycle"]).tz_convert("UTC"))
        if info is not None:
            out.update(cycle_from="met store (fetched, ingested)", **info)
        else:
            out.update(cycle_from="regenerated from the demo world's seed")
        return out
