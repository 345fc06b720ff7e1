"""Checks on gridded meteorology before it is stored: plausible values, missing share,
domain coverage, duplicated steps, and whether a cycle reaches the end of local D+3.

Each check raises :class:`features.readers.met.MetReaderError` (a ``ValueError``) with one
message naming the file, the variable and what was expected, so that ``airwarn ingest`` can
refuse a batch before anything is written. Thresholds live in ``configs/nwp/checks.yaml``
(:class:`configs.nwp_schema.MetChecks`).

Units: store units (K, m s-1, Pa, mm h-1, m, W m-2, 0–1), degrees, hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.nwp_schema import MetChecks, load_met_checks
from airwarn.configs.schema import Region
from airwarn.features.readers.met import ERA5_ATTRS, MetReaderError

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["check_field", "check_dataset", "check_coverage", "crop_box", "unit_points",
           "d3_end_step", "duplicated_times"]


def crop_box(checks: MetChecks | None = None) -> tuple[float, float, float, float]:
    """``(west, east, south, north)`` of the configured domain plus its margin, degrees."""
    c = checks or load_met_checks()
    d, m = c.domain, c.domain.margin_deg
    return d.west - m, d.east + m, d.south - m, d.north + m


def check_field(values: np.ndarray, var: str, where: str, checks: MetChecks | None = None,
                ) -> np.ndarray:
    """Check one field (any shape, store units) and return it with packing noise clipped.

    Parameters
    ----------
    values : ndarray
        The field in the store unit of ``var``.
    var : str
        Store name (``t2m`` …).
    where : str
        File (and message / step) for the error message.
    checks : MetChecks, optional
        Default ``configs/nwp/checks.yaml``.

    Raises
    ------
    MetReaderError
        All values missing, more than ``max_nan_share`` missing, or more than
        ``max_outside_share`` of the values outside the configured range.
    """
    c = checks or load_met_checks()
    a = np.asarray(values, dtype=np.float32)
    n = a.size
    if n == 0:
        raise MetReaderError(f"{where}: variable {var!r} is empty (no grid points in the domain)")
    finite = np.isfinite(a)
    nan_share = 1.0 - finite.sum() / n
    if nan_share >= 1.0:
        raise MetReaderError(f"{where}: variable {var!r} is all missing (NaN); expected values")
    if nan_share > c.max_nan_share:
        raise MetReaderError(f"{where}: variable {var!r} is {nan_share:.0%} missing; expected at "
                             f"most {c.max_nan_share:.0%} (configs/nwp/checks.yaml)")
    r = c.ranges.get(var)
    if r is None:
        return a
    lo, hi, tol = r.min, r.max, r.tolerance
    a = np.where(finite & (a < lo) & (a >= lo - tol), np.float32(lo), a)
    a = np.where(finite & (a > hi) & (a <= hi + tol), np.float32(hi), a)
    with np.errstate(invalid="ignore"):
        out = finite & ((a < lo) | (a > hi))
    share = out.sum() / max(int(finite.sum()), 1)
    if share > c.max_outside_share:
        vals = a[out]
        unit = ERA5_ATTRS[var]["units"] if var in ERA5_ATTRS else ""
        hint = ""
        if var in ("t2m", "d2m") and np.nanmedian(a[finite]) < 100:
            hint = " (looks like °C labelled K)"
        elif var == "sp" and np.nanmedian(a[finite]) < 2000:
            hint = " (looks like hPa labelled Pa)"
        elif var == "tcc" and np.nanmax(a[finite]) > 1.5:
            hint = " (looks like % labelled 0-1)"
        raise MetReaderError(
            f"{where}: variable {var!r} has {share:.1%} of values outside {lo:g}–{hi:g} {unit} "
            f"(e.g. {float(vals[0]):.6g}, range {float(np.nanmin(a)):.6g}–"
            f"{float(np.nanmax(a)):.6g}){hint}; check the units")
    return a


def duplicated_times(times: Sequence[Any] | pd.DatetimeIndex) -> list[pd.Timestamp]:
    """Times that occur more than once (sorted)."""
    t = pd.DatetimeIndex(times)
    return sorted(set(t[t.duplicated()]))


def unit_points(region: Region | None = None, stations: pd.DataFrame | None = None
                ) -> list[tuple[str, float, float]]:
    """``(name, lon, lat)`` of every unit centroid and seat and every listed station, degrees.

    Defaults to ``configs/region.yaml`` and ``configs/stations.csv``.
    """
    from airwarn import configs

    region = region if region is not None else configs.load_region()
    pts: list[tuple[str, float, float]] = []
    for u in region.units:
        for label, p in (("centroid", u.centroid), ("seat", u.seat)):
            if p is not None:
                pts.append((f"unit {u.id} ({label})", float(p.lon), float(p.lat)))
    if stations is None:
        try:
            stations = configs.load_stations()
        except Exception:  # noqa: BLE001 - the station table is optional here
            stations = None
    if stations is not None and len(stations):
        for sid, lon, lat in stations[["station_id", "lon", "lat"]].itertuples(index=False):
            if np.isfinite(lon) and np.isfinite(lat):
                pts.append((f"station {sid}", float(lon), float(lat)))
    return pts


def check_coverage(lat: np.ndarray, lon: np.ndarray, where: str,
                   points: Iterable[tuple[str, float, float]] | None = None) -> None:
    """The grid (1-D ``lat``/``lon`` or 2-D curvilinear arrays, degrees) must hold every unit.

    Raises
    ------
    MetReaderError
        Naming the grid's extent, the units' extent and the first point outside.
    """
    pts = list(points) if points is not None else unit_points()
    la, lo = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    lo = np.where(lo > 180, lo - 360, lo)
    if la.size == 0 or lo.size == 0:
        raise MetReaderError(f"{where}: the grid is empty after cropping to the domain; the "
                             f"file does not cover the 成渝 units")
    s, n, w, e = np.nanmin(la), np.nanmax(la), np.nanmin(lo), np.nanmax(lo)
    if la.ndim == 1 and la.size > 1:
        half = abs(float(np.median(np.diff(np.sort(la))))) / 2
        s, n = s - half, n + half
    if lo.ndim == 1 and lo.size > 1:
        half = abs(float(np.median(np.diff(np.sort(lo))))) / 2
        w, e = w - half, e + half
    outside = [(name, x, y) for name, x, y in pts if not (s <= y <= n and w <= x <= e)]
    if outside:
        xs = [p[1] for p in pts]
        ys = [p[2] for p in pts]
        name, x, y = outside[0]
        raise MetReaderError(
            f"{where}: the grid covers {w:.2f}–{e:.2f}°E, {s:.2f}–{n:.2f}°N but the units span "
            f"{min(xs):.2f}–{max(xs):.2f}°E, {min(ys):.2f}–{max(ys):.2f}°N ({len(outside)} "
            f"point(s) outside, e.g. {name} at {x:.2f}°E {y:.2f}°N); expected meteorology "
            f"covering the 成渝 domain")


def check_dataset(ds: xr.Dataset, where: str, checks: MetChecks | None = None, *,
                  coverage: bool = True,
                  points: Iterable[tuple[str, float, float]] | None = None) -> xr.Dataset:
    """All checks on a store Dataset (ERA5 names and units): duplicated times, coverage,
    each variable's plausibility (over all times but the first for ``tp``/``ssrd``, whose
    first step has no window). Returns the Dataset with packing noise clipped (loaded)."""
    c = checks or load_met_checks()
    if "time" in ds.dims:
        dup = duplicated_times(ds["time"].values)
        if dup:
            raise MetReaderError(f"{where}: duplicated time step(s) {[str(t) for t in dup[:3]]}; "
                                 f"expected each valid time once")
    if coverage and "latitude" in ds.coords and "longitude" in ds.coords:
        check_coverage(ds["latitude"].values, ds["longitude"].values, where, points)
    out = ds.copy()
    for v in ds.data_vars:
        if v not in c.ranges:
            continue
        da = ds[v]
        if v in ("tp", "ssrd") and "time" in da.dims and da.sizes["time"] > 1:
            first_nan = bool(np.isnan(da.isel(time=0).values).all())
            part = da.isel(time=slice(1, None)) if first_nan else da
            fixed = check_field(part.values, str(v), where, c)
            vals = da.values.astype(np.float32).copy()
            if first_nan:
                vals[1:] = fixed
            else:
                vals = fixed
            out[v] = (da.dims, vals, da.attrs)
        else:
            out[v] = (da.dims, check_field(da.values, str(v), where, c), da.attrs)
    return out


def d3_end_step(reference_time: Any, issue_hours: Sequence[int], *, latency_h: float,
                tz: str = LOCAL_TZ, horizon_days: int = 3) -> tuple[pd.Timestamp, int]:
    """The first scheduled issue time a cycle serves, and the step (hours) it must reach.

    The cycle at ``reference_time`` (UTC) is available ``latency_h`` later; it serves the first
    issue time (local ``issue_hours``) at or after that, whose forecast runs to the end of local
    day D+``horizon_days`` (DESIGN.md, "Time").

    Returns
    -------
    issue_time : Timestamp
        tz-aware, in ``tz``.
    step : int
        Hours from the reference time to the end of D+3 of that issue.
    """
    ref = pd.Timestamp(reference_time)
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
    ready = (ref + pd.Timedelta(hours=latency_h)).tz_convert(tz)
    day = ready.normalize()
    cands = []
    for k in range(3):
        for h in sorted(issue_hours):
            t = day + pd.Timedelta(days=k, hours=h)
            if t >= ready:
                cands.append(t)
    issue = min(cands)
    end = issue.normalize() + pd.Timedelta(days=horizon_days + 1)
    return issue, int(round((end - ref).total_seconds() / 3600))
