"""The forecast-cycle store: ``<data_dir>/met/cycles/YYYYMMDDHH.nc`` and its catalog.

One CF NetCDF per reference time (UTC) holds every step received so far on ``(time, latitude,
longitude)`` in store names and units, with the coordinates ``step(time)`` (hours,
``forecast_period``) and the scalar ``forecast_reference_time``, plus the raw window
accumulations of ``tp``/``ssrd`` (``features.readers.grib``) so that steps arriving later —
in any order, over several ingests — are de-accumulated when their neighbours come.
:func:`store_cycles` merges new steps into the stored file (atomically rewritten; a batch of
cycles is all-or-nothing: every file is staged before any is renamed into place) and updates
``met/cycles/catalog.json`` (atomically written), which records per cycle:

``reference_time, file, source, centre, steps`` (present), ``complete_steps`` (all required
variables), ``incomplete`` (step → missing variables), ``missing_steps`` (expected by the source
profile up to D+3 but absent), ``last_step``, ``complete_to`` (last step before the first gap),
``serves_issue`` and ``d3_step`` (the first issue time it serves and the step that reaches the
end of local D+3 for it), ``reaches_d3``, ``partial`` (not ``reaches_d3``), ``valid_until``
(UTC, end of the usable part), ``arrivals`` (step → first arrival, UTC ISO), ``updated``.

The catalog is a cache: files are the truth. :func:`cycle_catalog` adds entries for cycle files
that it does not list (e.g. written by the demo world) and drops entries whose file is gone.

Units: hours, UTC.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.features.readers.met import ERA5_VARS, MetReaderError

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["CATALOG_NAME", "cycles_dir", "cycle_path", "cycle_catalog", "complete_cycles",
           "read_cycle", "open_cycle_file", "store_cycles", "cycle_entry", "CycleCoverageError",
           "MAX_INTERP_GAP_H", "cycle_arrivals", "describe_replaced"]

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.json"
_WINDOWS = ("tp_window", "ssrd_window")
#: Longest interval (h) between two stored steps across which instantaneous fields are
#: interpolated to every hour. Operational centres issue D+3 at 1-, 3- or 6-hourly steps; a
#: longer interval is a hole (steps not yet arrived or lost) whose hours stay NaN, so that an
#: older cycle fills them (``features.build.CycleMet``) instead of a straight line.
MAX_INTERP_GAP_H = 6


class CycleCoverageError(MetReaderError):
    """A cycle does not reach the end of D+3 where that is required (strict use)."""


def cycles_dir(data_dir: Path | str) -> Path:
    """``<data_dir>/met/cycles``."""
    return RunStore(data_dir).met_cycles_dir


def _utc(t: Any) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def cycle_path(data_dir: Path | str, reference_time: Any) -> Path:
    """``met/cycles/YYYYMMDDHH.nc`` of a reference time (UTC)."""
    return RunStore(data_dir).met_cycle(reference_time)


@contextmanager
def _lock(data_dir: Path | str) -> Iterator[None]:
    d = cycles_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ref_of(ds: xr.Dataset) -> pd.Timestamp:
    if "forecast_reference_time" in ds.coords:
        return _utc(ds["forecast_reference_time"].values)
    ref = ds.attrs.get("forecast_reference_time")
    if ref is None:
        raise MetReaderError("cycle: no forecast_reference_time (coordinate or attribute); "
                             "pass --reference-time")
    return _utc(ref)


def _normalise(ds: xr.Dataset, ref: pd.Timestamp) -> xr.Dataset:
    """Cycle layout: step and forecast_reference_time coordinates, sorted unique times."""
    t = pd.DatetimeIndex(ds["time"].values)
    steps = (t - ref.tz_localize(None)) / pd.Timedelta("1h")
    if (np.asarray(steps) < 0).any() or (np.asarray(steps) % 1 != 0).any():
        raise MetReaderError(f"cycle {ref:%Y-%m-%d %H} UTC: valid times {t[0]}… are not whole "
                             f"hours at or after the reference time")
    ds = ds.assign_coords(
        step=("time", np.asarray(steps, dtype=np.int32),
              {"units": "hours", "long_name": "forecast lead time",
               "standard_name": "forecast_period"}),
        forecast_reference_time=((), np.datetime64(ref.tz_localize(None).to_datetime64(), "ns"),
                                 {"standard_name": "forecast_reference_time"}))
    ds.attrs["forecast_reference_time"] = ref.isoformat()
    return ds.sortby("time")


def _has(da: xr.DataArray) -> np.ndarray:
    """Per time: does the field hold any value."""
    other = [d for d in da.dims if d != "time"]
    return np.asarray(np.isfinite(da).any(other).values, dtype=bool)


def _merge(old: xr.Dataset | None, new: xr.Dataset, where: str) -> xr.Dataset:
    """New steps replace old ones variable by variable; other steps and variables are kept."""
    from airwarn.features.readers.grib import derive_rates

    if old is None:
        return derive_rates(new)
    # one grid in two orders (e.g. a north-to-south NetCDF and a GRIB read south-to-north)
    order = [c for c in ("latitude", "longitude") if c in old.dims and c in new.dims]
    old, new = old.sortby(order), new.sortby(order)
    for c in ("latitude", "longitude"):
        if c in old.coords and c in new.coords and (
                old[c].shape != new[c].shape or not np.allclose(old[c].values, new[c].values)):
            raise MetReaderError(f"{where}: grid differs from the stored cycle in {c!r} "
                                 f"({old[c].size} vs {new[c].size} points); expected the same "
                                 f"grid for every step of a cycle")
    times = pd.DatetimeIndex(sorted(set(old["time"].values) | set(new["time"].values)))
    o = old.reindex(time=times)
    n = new.reindex(time=times)
    out = o.copy()
    for v in set(old.data_vars) | set(new.data_vars):
        if v not in new.data_vars:
            continue
        if v not in old.data_vars:
            out[v] = n[v]
            continue
        take = xr.DataArray(_has(n[v]), dims="time", coords={"time": times})
        out[v] = xr.where(take, n[v], o[v]).assign_attrs(n[v].attrs)
    for c in [c for c in set(old.coords) | set(new.coords) if str(c).endswith("_window_start")]:
        ov = o[c].values if c in o.coords else np.full(times.size, -1)
        nv = n[c].values if c in n.coords else np.full(times.size, -1)
        ov = np.where(np.isnan(ov.astype(float)), -1, ov).astype(np.int32)
        nv = np.where(np.isnan(nv.astype(float)), -1, nv).astype(np.int32)
        out = out.assign_coords({c: ("time", np.where(nv >= 0, nv, ov).astype(np.int32),
                                     (new[c] if c in new.coords else old[c]).attrs)})
    out.attrs = {**old.attrs, **new.attrs}
    return derive_rates(_normalise(out, _ref_of(new)))


def _replaced_steps(old: xr.Dataset | None, new: xr.Dataset) -> dict[int, list[str]]:
    """Steps already stored whose values the new files change: step (h) → variables.

    A step re-sent unchanged (the same file ingested twice, or the same forecast in another
    encoding: GRIB packing changes values by about 1e-5 of a field's range) is not listed; a
    step whose stored values differ by more than 0.1 % of the field's range somewhere (a
    corrected re-issue, or another forecast for the same step) is, so that the ingest says it
    replaced them.
    """
    if old is None:
        return {}
    out: dict[int, list[str]] = {}
    t_old = pd.DatetimeIndex(old["time"].values)
    order = [c for c in ("latitude", "longitude") if c in old.dims and c in new.dims]
    o_all, n_all = old.sortby(order), new.sortby(order)
    # instantaneous fields and the raw window accumulations (the rates are derived from the
    # neighbouring steps, which a delivery may lack)
    for v in sorted(set(old.data_vars) & set(new.data_vars) - {"tp", "ssrd"}):
        for t in pd.DatetimeIndex(new["time"].values).intersection(t_old):
            a = np.asarray(o_all[v].sel(time=t).values, dtype=float)
            b = np.asarray(n_all[v].sel(time=t).values, dtype=float)
            if a.shape != b.shape or not np.isfinite(a).any() or not np.isfinite(b).any():
                continue
            tol = 1e-3 * float(np.nanmax(a) - np.nanmin(a)) + 1e-6
            if not np.allclose(a, b, rtol=0.0, atol=tol, equal_nan=True):
                step = int(round((t - _ref_of(new).tz_localize(None)) / pd.Timedelta("1h")))
                out.setdefault(step, []).append(str(v))
    return dict(sorted(out.items()))


def describe_replaced(replaced: dict[int, list[str]]) -> str:
    """``replaced_steps`` in a line: ``"121 step(s) 0–120 h (blh, tcc, u10, v10)"``."""
    steps = sorted(int(k) for k in replaced)
    runs: list[str] = []
    i = 0
    while i < len(steps):   # runs of a constant step interval
        j = i
        d = steps[i + 1] - steps[i] if i + 1 < len(steps) else 0
        while j + 1 < len(steps) and steps[j + 1] - steps[j] == d:
            j += 1
        runs.append(f"{steps[i]}" if j == i else f"{steps[i]}–{steps[j]}"
                    + (f" every {d}" if d > 1 and j > i else ""))
        i = j + 1
    names = sorted({v for vs in replaced.values() for v in vs})
    return f"{len(steps)} step(s) {', '.join(runs)} h ({', '.join(names)})"


def _encoding(ds: xr.Dataset) -> dict:
    enc: dict[str, dict] = {str(v): {"zlib": True, "complevel": 1, "dtype": "float32"}
                            for v in ds.data_vars}
    enc["time"] = {"units": "hours since 1970-01-01 00:00:00",
                   "calendar": "proleptic_gregorian", "dtype": "int64"}
    if "forecast_reference_time" in ds.coords:
        enc["forecast_reference_time"] = {"units": "hours since 1970-01-01 00:00:00",
                                          "calendar": "proleptic_gregorian", "dtype": "int64"}
    return enc


def _profile(source: str | None) -> Any:
    if not source:
        return None
    from airwarn.configs.nwp_schema import load_profile
    from airwarn.configs.schema import ConfigError

    try:
        return load_profile(source)
    except ConfigError:
        return None


def cycle_entry(ds: xr.Dataset, path: Path, *, arrivals: dict[str, str] | None = None,
                issue_hours: Sequence[int] | None = None, tz: str = LOCAL_TZ,
                horizon_days: int = 3) -> dict[str, Any]:
    """The catalog entry of a stored cycle (see the module docstring)."""
    from airwarn.features.met_checks import d3_end_step

    ref = _ref_of(ds)
    steps = [int(s) for s in ds["step"].values] if "step" in ds.coords else \
        [int(x) for x in (pd.DatetimeIndex(ds["time"].values) - ref.tz_localize(None))
         / pd.Timedelta("1h")]
    source = str(ds.attrs.get("nwp_source", "")) or None
    prof = _profile(source)
    present = [v for v in ERA5_VARS if v in ds.data_vars]
    required = [v for v in (prof.required if prof is not None else present) if v in ERA5_VARS]
    has = {v: _has(ds[v]) if v in ds.data_vars else np.zeros(len(steps), bool)
           for v in required}
    wins = {v: _has(ds[f"{v}_window"]) for v in ("tp", "ssrd") if f"{v}_window" in ds}
    incomplete: dict[str, list[str]] = {}
    for i, s in enumerate(steps):
        miss = []
        for v in required:
            if v in ("tp", "ssrd") and i == 0:
                continue  # no window ends at the first step
            if not has[v][i]:
                miss.append(v)
        if miss:
            incomplete[str(s)] = miss
    complete = [s for s in steps if str(s) not in incomplete]
    if issue_hours is None:
        try:
            from airwarn import configs

            st = configs.load_settings()
            issue_hours, tz, horizon_days = st.issue_hours, st.timezone, st.horizon_days
        except Exception:  # noqa: BLE001 - settings unavailable: the defaults of DESIGN.md
            issue_hours = [5, 15]
    latency = prof.steps.latency_h if prof is not None else 6.0
    issue, d3 = d3_end_step(ref, issue_hours, latency_h=latency, tz=tz,
                            horizon_days=horizon_days)
    expected = [h for h in prof.steps.hours if h <= d3] if prof is not None else []
    missing_steps = [h for h in expected if h not in steps]
    complete_to = None
    for s in sorted(set(steps) | set(expected)):
        if s in complete:
            complete_to = s
        else:
            break
    reaches = complete_to is not None and complete_to >= d3
    arrivals = dict(arrivals or {})
    return {
        "reference_time": ref.isoformat(), "file": path.name, "source": source,
        "centre": ds.attrs.get("centre"), "steps": steps, "complete_steps": complete,
        "incomplete": incomplete, "missing_steps": missing_steps,
        "required_variables": required, "last_step": max(steps) if steps else None,
        "complete_to": complete_to,
        "valid_until": (ref + pd.Timedelta(hours=complete_to)).isoformat()
        if complete_to is not None else None,
        "serves_issue": issue.isoformat(), "d3_step": d3, "reaches_d3": bool(reaches),
        "partial": not reaches, "arrivals": arrivals,
        "updated": max(arrivals.values()) if arrivals else None,
        "windows": {k: [int(s) for s, w in zip(steps, v, strict=True) if w]
                    for k, v in wins.items()},
    }


def _read_catalog(d: Path) -> dict[str, dict]:
    p = d / CATALOG_NAME
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return dict(data.get("cycles", {}))
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt from the files


def cycle_arrivals(folder: Path | str) -> dict[pd.Timestamp, dict[int, pd.Timestamp]]:
    """When each step of each cycle arrived, from the catalog of a cycles folder.

    Parameters
    ----------
    folder : path-like
        A folder of ``YYYYMMDDHH.nc`` cycles with its ``catalog.json``; a data directory's
        ``met/cycles`` has its catalog refreshed from the files first (:func:`cycle_catalog`).

    Returns
    -------
    dict
        Reference time (UTC) → {step (h) → first arrival (UTC)}, for the catalogued cycles whose
        file is present; empty when the folder has no catalog. The arrival of a step is when
        ``airwarn fetch`` landed it or ``airwarn ingest`` stored it, so for an archive ingested
        after the fact it says when it was ingested, not when a centre had it.
    """
    d = Path(folder)
    if d.name == "cycles" and d.parent.name == "met":   # a data directory's store: refreshed
        entries = cycle_catalog(d.parent.parent)
    else:
        entries = _read_catalog(d)
    out: dict[pd.Timestamp, dict[int, pd.Timestamp]] = {}
    for stem, e in entries.items():
        if not (d / f"{stem}.nc").exists() or not e.get("arrivals"):
            continue
        try:
            ref = _utc(pd.to_datetime(stem, format="%Y%m%d%H"))
            out[ref] = {int(k): _utc(v) for k, v in e["arrivals"].items()}
        except (TypeError, ValueError):
            continue  # a damaged entry: that cycle has no record (the latency rule applies)
    return out


def _write_catalog(d: Path, cycles: dict[str, dict]) -> None:
    from airwarn.features.atomic import write_text_atomic

    body = {"version": 1, "updated": pd.Timestamp.now(tz="UTC").isoformat(),
            "cycles": dict(sorted(cycles.items()))}
    write_text_atomic(d / CATALOG_NAME, json.dumps(body, indent=1, ensure_ascii=False) + "\n")


def cycle_catalog(data_dir: Path | str, *, write: bool = False) -> dict[str, dict]:
    """The catalog: ``{"YYYYMMDDHH": entry}`` for every stored cycle file (UTC cycle times).

    Entries missing from ``catalog.json`` are built from the files (arrivals then from the
    file's ``step_arrival`` attribute, else its modification time); entries whose file is gone
    are dropped. ``write``: save the refreshed catalog.
    """
    d = cycles_dir(data_dir)
    cat = _read_catalog(d)
    files = {p.stem: p for p in d.glob("[0-9]" * 10 + ".nc")}
    out = {k: v for k, v in cat.items() if k in files}
    changed = set(out) != set(cat)
    for stem, p in files.items():
        e = out.get(stem)
        if e is not None and e.get("mtime_ns") == p.stat().st_mtime_ns:
            continue
        try:
            with xr.open_dataset(p) as ds:
                arr = json.loads(ds.attrs.get("step_arrival", "{}") or "{}")
                if not arr:
                    mt = pd.Timestamp(p.stat().st_mtime, unit="s", tz="UTC").isoformat()
                    steps = ds["step"].values if "step" in ds.coords else []
                    arr = {str(int(s)): mt for s in steps}
                if "forecast_reference_time" not in ds.coords and \
                        "forecast_reference_time" not in ds.attrs:
                    ds.attrs["forecast_reference_time"] = _utc(
                        pd.to_datetime(stem, format="%Y%m%d%H")).isoformat()
                out[stem] = {**cycle_entry(ds, p, arrivals=arr),
                             "mtime_ns": p.stat().st_mtime_ns}
        except (OSError, ValueError, KeyError, MetReaderError) as exc:
            out[stem] = {"reference_time": None, "file": p.name, "error": str(exc),
                         "mtime_ns": p.stat().st_mtime_ns, "reaches_d3": False, "partial": True}
        changed = True
    if write and changed:
        _write_catalog(d, out)
    return out


def complete_cycles(data_dir: Path | str, *, at: Any = None, require_d3: bool = True
                    ) -> list[dict]:
    """Catalog entries of usable cycles, newest first.

    Parameters
    ----------
    data_dir : path-like
    at : time-like, optional
        Only steps that had arrived by then count (what was available at an issue time, for
        backtests and the daily run's wait); default now.
    require_d3 : bool
        Only cycles that reach the end of D+3 for the issue they serve; False also returns
        partial cycles (their ``complete_to``/``valid_until`` say how far they go).
    """
    cat = cycle_catalog(data_dir, write=True)  # caches entries built from files
    t = _utc(at) if at is not None else None
    out = []
    for e in cat.values():
        if e.get("reference_time") is None:
            continue
        if t is not None:
            arr = e.get("arrivals") or {}
            got = [int(s) for s, a in arr.items() if _utc(a) <= t]
            if not got:
                continue
            if len(got) < len(e["steps"]):
                # some steps arrived later: recompute how far the cycle went at ``t``
                comp = [s for s in e["complete_steps"] if s in got]
                cont = None
                for s in sorted(set(e["steps"]) | set(e.get("missing_steps", []))):
                    if s in comp:
                        cont = s
                    else:
                        break
                e = {**e, "complete_to": cont,
                     "reaches_d3": cont is not None and cont >= e["d3_step"]}
                e["partial"] = not e["reaches_d3"]
        if require_d3 and not e["reaches_d3"]:
            continue
        if e.get("complete_to") is None:
            continue
        out.append(e)
    return sorted(out, key=lambda e: e["reference_time"], reverse=True)


def read_cycle(data_dir: Path | str, reference_time: Any, *, hourly: bool = False,
               windows: bool = False) -> xr.Dataset:
    """A stored cycle, loaded.

    Parameters
    ----------
    data_dir : path-like
    reference_time : time-like
        UTC (naive = UTC).
    hourly : bool
        Interpolate to every hour from the reference time to the last step: instantaneous
        fields linearly in time between steps at most :data:`MAX_INTERP_GAP_H` apart (NaN
        inside a longer hole), ``tp``/``ssrd`` (mean rates over each step window, exact also
        over a hole) held constant over the hours of their window (the hour ending at ``t`` in
        ``(p, b]`` takes the rate of window ``b``).
    windows : bool
        Keep the raw window accumulations (``tp_window``, ``ssrd_window``).

    Returns
    -------
    xr.Dataset
        Store names and units; attributes ``forecast_reference_time``, and from the catalog
        ``complete_to`` (hours), ``valid_until`` and ``partial`` (``"yes"``/``"no"``) so that
        products can say a partial cycle was used up to its last step.

    Raises
    ------
    FileNotFoundError
        No such cycle.
    """
    p = cycle_path(data_dir, reference_time)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no stored cycle for {_utc(reference_time):%Y-%m-%d %H} UTC")
    ds = open_cycle_file(p, windows=windows)
    entry = cycle_catalog(data_dir).get(p.stem, {})
    if entry.get("complete_to") is not None:
        ds.attrs["complete_to"] = int(entry["complete_to"])
        ds.attrs["valid_until"] = entry["valid_until"]
        ds.attrs["partial"] = "yes" if entry.get("partial") else "no"
    if hourly and ds.sizes.get("time", 0) > 1:
        ds = _to_hourly(ds)
    return ds


def open_cycle_file(path: Path | str, *, hourly: bool = False, windows: bool = False
                    ) -> xr.Dataset:
    """A cycle file (``YYYYMMDDHH.nc`` of the store, or of any folder of such files), loaded;
    ``hourly`` and ``windows`` as in :func:`read_cycle` (no catalog attributes).

    Raises
    ------
    OSError, ValueError
        Not a readable NetCDF file.
    """
    with xr.open_dataset(path) as f:
        ds = f.load()
    if not windows:
        ds = ds.drop_vars([v for v in _WINDOWS if v in ds])
        ds = ds.drop_vars([c for c in ds.coords if str(c).endswith("_window_start")])
    if hourly and ds.sizes.get("time", 0) > 1:
        ds = _to_hourly(ds)
    return ds


def _to_hourly(ds: xr.Dataset) -> xr.Dataset:
    ref = _ref_of(ds)
    t = pd.DatetimeIndex(ds["time"].values)
    hours = pd.date_range(t[0], t[-1], freq="h")
    if len(hours) == len(t):
        return ds
    keep_attrs = dict(ds.attrs)
    base = ds.drop_vars([c for c in ds.coords if c not in ("time", "latitude", "longitude",
                                                             "forecast_reference_time")])
    inst = [v for v in base.data_vars if v not in ("tp", "ssrd") and "time" in base[v].dims]
    rates = [v for v in base.data_vars if v in ("tp", "ssrd")]
    parts = []
    if inst:
        lin = base[inst].interp(time=hours)
        # hours strictly inside an interval between steps longer than MAX_INTERP_GAP_H
        nxt = np.searchsorted(t.values, hours.values, side="left")
        at_step = np.isin(hours.values, t.values)
        span = (t[np.minimum(nxt, len(t) - 1)] - t[np.maximum(nxt - 1, 0)]) / pd.Timedelta("1h")
        hole = ~at_step & (np.asarray(span) > MAX_INTERP_GAP_H)
        if hole.any():
            lin = lin.where(xr.DataArray(~hole, dims="time", coords={"time": hours}))
        parts.append(lin)
    if rates:
        parts.append(base[rates].reindex(time=hours, method="bfill"))
    out = xr.merge(parts, compat="override", join="outer")
    for v in out.data_vars:
        out[v].attrs = ds[v].attrs
    out = _normalise(out, ref)
    out.attrs = keep_attrs
    return out


def store_cycles(data_dir: Path | str, cycles: Sequence[tuple[xr.Dataset, dict[str, Any]]], *,
                 strict: bool = False, arrived: Any = None) -> list[dict]:
    """Merge cycles into the store, all-or-nothing, and update the catalog.

    Parameters
    ----------
    data_dir : path-like
    cycles : list of (Dataset, metadata)
        Store Datasets with a forecast reference time (``read_grib2_cycles``, ``read_cf`` …);
        metadata may give ``source``/``centre``/``files``.
    strict : bool
        Refuse (before writing anything) a cycle that, merged with what is stored, does not
        reach the end of D+3 for the issue it serves (:class:`CycleCoverageError`).
    arrived : time-like, optional
        Arrival time of these steps (default now, UTC).

    Returns
    -------
    list of dict
        The catalog entry of every cycle touched (with ``path``), and ``replaced_steps``
        (step h → variables) where these files changed values stored earlier (also logged; a
        step re-sent unchanged is not listed).
    """
    now = _utc(arrived) if arrived is not None else pd.Timestamp.now(tz="UTC")
    with _lock(data_dir):
        cat = cycle_catalog(data_dir)
        merged: dict[str, tuple[Path, xr.Dataset, dict]] = {}
        for ds, meta in cycles:
            ref = _ref_of(ds)
            ds = _normalise(ds, ref)
            if meta.get("source") and not ds.attrs.get("nwp_source"):
                ds.attrs["nwp_source"] = meta["source"]
            if meta.get("centre"):
                ds.attrs["centre"] = meta["centre"]
            p = cycle_path(data_dir, ref)
            where = ", ".join(meta.get("files", [])) or str(p)
            if p.stem in merged:
                old = merged[p.stem][1]
            elif p.exists():
                with xr.open_dataset(p) as f:
                    old = f.load()
            else:
                old = None
            if old is not None and old.attrs.get("nwp_source") and ds.attrs.get("nwp_source") \
                    and old.attrs["nwp_source"] != ds.attrs["nwp_source"]:
                raise MetReaderError(f"{where}: cycle {ref:%Y-%m-%d %H} UTC is stored from "
                                     f"{old.attrs['nwp_source']}; these files are "
                                     f"{ds.attrs['nwp_source']}; expected one source per cycle")
            replaced = _replaced_steps(old, ds)
            out = _merge(old, ds, where)
            arr = json.loads((old.attrs.get("step_arrival") if old is not None else None) or "{}")
            for s in ds["step"].values:
                arr.setdefault(str(int(s)), now.isoformat())
            out.attrs["step_arrival"] = json.dumps(arr, sort_keys=True)
            out.attrs.setdefault("Conventions", "CF-1.8")
            entry = cycle_entry(out, p, arrivals=arr)
            if strict and not entry["reaches_d3"]:
                raise CycleCoverageError(
                    f"{where}: cycle {ref:%Y-%m-%d %H} UTC is complete to step "
                    f"{entry['complete_to']} h but the issue of {entry['serves_issue']} needs "
                    f"{entry['d3_step']} h (end of D+3); missing steps "
                    f"{entry['missing_steps'][:8]}, incomplete {dict(list(entry['incomplete'].items())[:4])}")
            if replaced:   # said in the result and the log (not kept in the catalog)
                files = meta.get("files", [])
                what = (f"{files[0]} and {len(files) - 1} more file(s)" if len(files) > 1
                        else where)
                log.warning("%s: cycle %s UTC: replaced the stored values of %s", what,
                            f"{ref:%Y-%m-%d %H}", describe_replaced(replaced))
                prev = merged[p.stem][2].get("replaced_steps", {}) if p.stem in merged else {}
                entry = {**entry, "replaced_steps": {**prev, **replaced}}
            elif p.stem in merged and merged[p.stem][2].get("replaced_steps"):
                entry = {**entry, "replaced_steps": merged[p.stem][2]["replaced_steps"]}
            merged[p.stem] = (p, out, entry)
        # stage every file, then rename them all (all-or-nothing across cycles)
        staged: list[tuple[Path, Path]] = []
        try:
            for p, out, _e in merged.values():
                tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
                out.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=_encoding(out))
                staged.append((tmp, p))
        except BaseException:
            for tmp, _p in staged:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, p in staged:
            os.replace(tmp, p)
        for stem, (p, _out, e) in merged.items():
            cat[stem] = {**{k: v for k, v in e.items() if k != "replaced_steps"},
                         "mtime_ns": p.stat().st_mtime_ns}
        _write_catalog(cycles_dir(data_dir), cat)
    return [{**e, "path": str(p)} for p, _o, e in merged.values()]
