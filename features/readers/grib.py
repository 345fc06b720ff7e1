"""GRIB2 forecast cycles (ECMWF IFS, NCEP GFS, CMA-GFS …) → store Datasets, and back.

:func:`read_grib2` reads the messages of one or more GRIB files with ecCodes (the ``eccodes``
wheel, which bundles the library), recognises the centre from the header ``centre`` key
(``configs/nwp/<source>.yaml`` profiles, :mod:`configs.nwp_schema`), takes the reference time
from ``dataDate``/``dataTime`` and the steps from ``startStep``/``endStep`` of every message,
crops regular lat-lon grids to the configured domain before anything else is kept (one global
field is decoded at a time: memory stays at a few global fields), converts every field to the
store's ERA5 names and units (K, K, m s-1, m s-1, Pa, mm h-1, m, W m-2, 0–1) and de-accumulates:

* ``tp`` accumulated over ``[start, end]`` (m or kg m-2; from the reference time for IFS and
  CMA, over 6-h buckets for GFS) and ``ssrd`` (J m-2 accumulated, or a W m-2 average over a
  window as GFS writes it) become the mean rate over each step window ``(previous step,
  step]``: ``tp`` in mm h-1, ``ssrd`` in W m-2. The raw accumulations are kept in the cycle
  (``tp_window``/``ssrd_window`` in mm / J m-2 with the window start as coordinate
  ``<var>_window_start``) so that steps arriving later — GFS one file per step, in any order —
  can be de-accumulated when their neighbours arrive (:func:`derive_rates`).

:func:`write_grib2` writes a store Dataset as GRIB2 the way IFS open data does (``tp`` in m and
``ssrd`` in J m-2 accumulated from the reference time, ``tcc`` in %) or as GFS does (6-h
buckets, ``ssrd`` as a W m-2 average, one file per step) or as CMA-GFS does (``tp`` as WMO 0/1/8
in kg m-2 from the reference time, no ``ssrd``), from ecCodes' own ``GRIB2`` sample.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.nwp_schema import MetChecks, NwpProfile, load_met_checks, load_profiles
from airwarn.features.readers.met import ERA5_ATTRS, MetReaderError

__all__ = ["GribField", "read_grib2", "read_grib2_cycles", "scan_grib", "derive_rates",
           "detect_profile", "write_grib2", "write_grib2_steps", "grib_edition", "ACCUMULATED"]

log = logging.getLogger(__name__)

#: Store variables that are rates over a step window (de-accumulated).
ACCUMULATED = ("tp", "ssrd")
#: Window integral units in the cycle store.
_WINDOW_ATTRS = {
    "tp": {"units": "mm", "long_name": "precipitation accumulated over [window_start, step]"},
    "ssrd": {"units": "J m-2",
             "long_name": "surface solar radiation downwards accumulated over "
                          "[window_start, step]"},
}
_MISSING = 9.999e20


def grib_edition(head: bytes) -> int | None:
    """GRIB edition from a file's first bytes (``GRIB`` + 3 bytes + edition), else None."""
    if len(head) >= 8 and head[:4] == b"GRIB":
        return head[7]
    return None


def _sniff(path: Path, head: bytes) -> bool:
    return grib_edition(head) in (1, 2)


def _units_key(u: str) -> str:
    return str(u).replace(" ", "").lower()


# ------------------------------------------------------------------------------ unit conversion
def _convert(var: str, units: str, step_type: str, values: np.ndarray, where: str
             ) -> tuple[str, np.ndarray]:
    """One GRIB field → (kind, values in store semantics).

    kind ``value``: instantaneous value in the store unit; ``integral``: the amount over the
    message's window (mm for ``tp``, J m-2 for ``ssrd``); ``rate_avg``: a mean rate over the
    window in the store unit (mm h-1, W m-2) — turned into an integral by the caller.
    """
    u = _units_key(units)
    if var in ("t2m", "d2m") and u == "k":
        return "value", values
    if var in ("u10", "v10") and u in ("ms**-1", "m/s", "ms-1"):
        return "value", values
    if var == "sp":
        if u == "pa":
            return "value", values
        if u == "hpa":
            return "value", values * 100.0
    if var == "blh" and u == "m":
        return "value", values
    if var == "tcc":
        if u == "%":
            return "value", values / 100.0
        if u in ("(0-1)", "1", "fraction"):
            return "value", values
    if var == "tp":
        if u in ("m",) and step_type in ("accum", "instant"):
            return "integral", values * 1000.0
        if u in ("kgm**-2", "mm") and step_type in ("accum", "instant"):
            return "integral", values
        if u in ("kgm**-2s**-1", "mms**-1"):
            return ("rate_avg" if step_type == "avg" else "value"), values * 3600.0
        if u == "ms**-1":
            return ("rate_avg" if step_type == "avg" else "value"), values * 3.6e6
    if var == "ssrd":
        if u == "jm**-2" and step_type in ("accum", "instant"):
            return "integral", values
        if u == "wm**-2":
            return ("rate_avg" if step_type == "avg" else "value"), values
    raise MetReaderError(f"{where}: variable {var!r} has units {units!r} (stepType {step_type}); "
                         f"expected something convertible to {ERA5_ATTRS[var]['units']}")


# ------------------------------------------------------------------------------ scanning
@dataclass
class GribField:
    """One selected GRIB message, cropped and converted.

    Attributes
    ----------
    path : Path
    index : int
        Message number in the file (1-based).
    centre : str
    reference_time : pd.Timestamp
        UTC, naive.
    var : str
        Store name.
    start, end : int
        Window hours after the reference time (``start == end`` for instantaneous fields).
    kind : {"value", "integral"}
    values : ndarray
        ``(latitude, longitude)`` float32, latitude ascending, store units (``integral``:
        mm or J m-2 over the window).
    """

    path: Path
    index: int
    centre: str
    reference_time: pd.Timestamp
    var: str
    start: int
    end: int
    kind: str
    values: np.ndarray = field(repr=False)


@dataclass
class _Grid:
    lat: np.ndarray
    lon: np.ndarray
    ilat: np.ndarray
    ilon: np.ndarray
    shape: tuple[int, int]
    key: tuple


_GRID_KEYS = ("edition", "Ni", "Nj", "latitudeOfFirstGridPoint", "longitudeOfFirstGridPoint",
              "latitudeOfLastGridPoint", "longitudeOfLastGridPoint", "iScansNegatively",
              "jScansPositively", "jPointsAreConsecutive", "gridDefinitionTemplateNumber",
              "dataRepresentationType")
_GRIDS: dict[tuple, _Grid] = {}


def _grid_of(h: Any, bbox: tuple[float, float, float, float] | None, where: str) -> _Grid:
    """The (cropped) grid of a message, cached by its integer grid keys and the box."""
    key = (tuple(_raw(h, k) for k in _GRID_KEYS), bbox)
    grid = _GRIDS.get(key)
    if grid is None:
        grid = _GRIDS[key] = _make_grid(h, bbox, where)
    return grid


def _make_grid(h: Any, bbox: tuple[float, float, float, float] | None, where: str) -> _Grid:
    import eccodes as ec

    gtype = ec.codes_get(h, "gridType")
    if gtype != "regular_ll":
        raise MetReaderError(f"{where}: gridType {gtype!r}; expected a regular lat-lon grid "
                             f"(regular_ll) — regrid the file first (e.g. cdo remapbil)")
    ni, nj = ec.codes_get(h, "Ni"), ec.codes_get(h, "Nj")
    la0 = ec.codes_get(h, "latitudeOfFirstGridPointInDegrees")
    la1 = ec.codes_get(h, "latitudeOfLastGridPointInDegrees")
    lo0 = ec.codes_get(h, "longitudeOfFirstGridPointInDegrees")
    lo1 = ec.codes_get(h, "longitudeOfLastGridPointInDegrees")
    if ec.codes_get(h, "iScansNegatively") or not ec.codes_get(h, "jPointsAreConsecutive") == 0:
        raise MetReaderError(f"{where}: unsupported scanning mode; expected rows west→east")
    if lo1 < lo0:
        lo1 += 360.0
    lat = np.linspace(la0, la1, nj)
    lon = np.linspace(lo0, lo1, ni)
    lon_n = ((lon + 180.0) % 360.0) - 180.0
    if bbox is not None:
        w, e, s, n = bbox
        ilat = np.flatnonzero((lat >= s - 1e-9) & (lat <= n + 1e-9))
        ilon = np.flatnonzero((lon_n >= w - 1e-9) & (lon_n <= e + 1e-9))
    else:
        ilat, ilon = np.arange(nj), np.arange(ni)
    ilat = ilat[np.argsort(lat[ilat], kind="stable")]
    ilon = ilon[np.argsort(lon_n[ilon], kind="stable")]
    key = (ni, nj, round(la0, 6), round(la1, 6), round(lo0, 6), round(lo1, 6))
    return _Grid(lat[ilat], lon_n[ilon], ilat, ilon, (nj, ni), key)


def _match(h: Any, keys: Any, hdr: dict[str, Any]) -> bool:
    import eccodes as ec

    ok = (hdr["shortName"] in keys.shortName) or (hdr["paramId"] in keys.paramId)
    if not ok and keys.parameter is not None:
        try:
            trip = [ec.codes_get(h, k, int) for k in ("discipline", "parameterCategory",
                                                       "parameterNumber")]
        except Exception:  # noqa: BLE001 - GRIB1 has no discipline
            trip = []
        ok = trip == list(keys.parameter)
    if not ok:
        return False
    if keys.typeOfLevel is not None and hdr["typeOfLevel"] not in keys.typeOfLevel:
        return False
    return keys.level is None or hdr["level"] == keys.level


def _units_of(hdr: dict[str, Any], keys: Any) -> str:
    """The units of a selected message: the header's, or — when ecCodes has no name for the
    parameter (``shortName``/``units`` ``unknown``) and the profile selects it by its GRIB2
    ``parameter`` triple — the units the profile says the source writes.

    CMA-GFS total precipitation is such a case: WMO 0/1/8 (APCP, kg m-2), which ecCodes
    decodes as ``unknown`` for centre ``babj`` (docs/notes/w10-cma-gfs.md).
    """
    if hdr["units"] == "unknown" and hdr["shortName"] == "unknown" and keys.parameter:
        return str(keys.units)
    return str(hdr["units"])


def detect_profile(centre: str, profiles: Sequence[NwpProfile] | None = None,
                   where: str = "") -> NwpProfile:
    """The source profile whose ``centres`` lists ``centre`` (GRIB header abbreviation)."""
    profs = list(profiles) if profiles is not None else load_profiles()
    for p in profs:
        if centre in p.centres:
            return p
    known = {c: p.id for p in profs for c in p.centres}
    raise MetReaderError(f"{where}: GRIB centre {centre!r} matches no NWP source profile "
                         f"(known centres: {known}); add a profile in configs/nwp/ or pass "
                         f"--source")


def _open_messages(path: Path) -> Iterable[tuple[int, Any]]:
    """The messages of a GRIB file, numbered from 1; bytes after the last message that are not
    zero padding are logged (ecCodes skips anything without the ``GRIB`` magic)."""
    import eccodes as ec

    with open(path, "rb") as fh:
        k = 0
        end = 0   # byte just after the last message
        while True:
            try:
                h = ec.codes_grib_new_from_file(fh)
            except Exception as exc:  # noqa: BLE001 - ecCodes raises its own error types
                raise MetReaderError(f"{path}: damaged GRIB file after message {k} "
                                     f"({exc}); expected complete GRIB messages") from None
            if h is None:
                break
            k += 1
            try:
                end = int(ec.codes_get(h, "offset")) + int(ec.codes_get(h, "totalLength"))
                yield k, h
            finally:
                ec.codes_release(h)
        fh.seek(end)
        tail = fh.read()
    if tail.strip(b"\0\n\r "):
        log.warning("%s: %d byte(s) after the last GRIB message (%d) are not a GRIB message "
                    "and were ignored", path, len(tail), k)


def scan_grib(path: Path | str) -> pd.DataFrame:
    """An inventory of a GRIB file (no values decoded): one row per message with
    ``index, edition, centre, shortName, paramId, typeOfLevel, level, dataDate, dataTime,
    stepType, startStep, endStep`` (hours), ``units, gridType, Ni, Nj``."""
    import eccodes as ec

    rows = []
    p = Path(path)
    for k, h in _open_messages(p):
        rows.append({"index": k, **_header(h, p, k),
                     "gridType": ec.codes_get(h, "gridType"),
                     "Ni": ec.codes_get(h, "Ni", int) if ec.codes_is_defined(h, "Ni") else 0,
                     "Nj": ec.codes_get(h, "Nj", int) if ec.codes_is_defined(h, "Nj") else 0})
    return pd.DataFrame(rows)


#: Raw (cheap, integer) keys that determine the parameter concepts of a message.
_RAW_KEYS = {
    2: ("centre", "discipline", "parameterCategory", "parameterNumber",
        "typeOfFirstFixedSurface", "scaleFactorOfFirstFixedSurface",
        "scaledValueOfFirstFixedSurface", "typeOfSecondFixedSurface",
        "productDefinitionTemplateNumber", "typeOfStatisticalProcessing", "tablesVersion",
        "localTablesVersion", "subCentre"),
    1: ("centre", "table2Version", "indicatorOfParameter", "indicatorOfTypeOfLevel", "level",
        "timeRangeIndicator", "localDefinitionNumber", "subCentre"),
}
_CONCEPTS: dict[tuple, dict[str, Any]] = {}


def _raw(h: Any, key: str) -> int:
    import eccodes as ec

    try:
        return int(ec.codes_get_long(h, key))
    except Exception:  # noqa: BLE001 - key not defined for this template
        return -1


def _header(h: Any, path: Path, k: int) -> dict[str, Any]:
    """Header keys of a message. ecCodes concept keys (shortName, paramId, typeOfLevel,
    stepType, units) cost milliseconds each, so they are cached by the raw integer keys that
    determine them."""
    import eccodes as ec

    g = ec.codes_get
    edition = int(ec.codes_get_long(h, "edition"))
    ckey = (edition, *(_raw(h, x) for x in _RAW_KEYS.get(edition, ())))
    concepts = _CONCEPTS.get(ckey)
    if concepts is None:
        concepts = {"centre": str(g(h, "centre")), "shortName": str(g(h, "shortName")),
                    "paramId": g(h, "paramId", int), "typeOfLevel": str(g(h, "typeOfLevel")),
                    "stepType": str(g(h, "stepType")), "units": str(g(h, "units"))}
        _CONCEPTS[ckey] = concepts
    try:
        if _raw(h, "stepUnits") != 1:
            ec.codes_set(h, "stepUnits", 1)  # hours
        start, end = int(ec.codes_get_long(h, "startStep")), int(ec.codes_get_long(h, "endStep"))
    except Exception:  # noqa: BLE001
        raise MetReaderError(f"{path}, message {k}: step {g(h, 'stepRange')!r} is not a whole "
                             f"number of hours; expected hourly steps") from None
    return {"edition": edition, **concepts, "level": _raw(h, "level"),
            "dataDate": _raw(h, "dataDate"), "dataTime": _raw(h, "dataTime"),
            "startStep": start, "endStep": end}


def _values(h: Any, grid: _Grid) -> np.ndarray:
    import eccodes as ec

    if ec.codes_get(h, "bitmapPresent"):
        ec.codes_set(h, "missingValue", _MISSING)
    v = ec.codes_get_values(h).reshape(grid.shape)
    out = v[np.ix_(grid.ilat, grid.ilon)].astype(np.float32)
    out[out >= _MISSING * 0.99] = np.nan
    return out


def _read_fields(path: Path, profile: NwpProfile | None, bbox: tuple | None,
                 checks: MetChecks, grids: dict) -> tuple[NwpProfile, list[GribField], dict]:
    """Selected, cropped, converted fields of one file (see :class:`GribField`)."""
    from airwarn.features.met_checks import check_field

    out: list[GribField] = []
    info: dict[str, Any] = {"messages": 0, "skipped": {}}
    prof = profile
    for k, h in _open_messages(path):
        info["messages"] += 1
        hdr = _header(h, path, k)
        where = f"{path}, message {k}"
        if prof is None:
            prof = detect_profile(hdr["centre"], where=str(path))
        elif profile is None and hdr["centre"] not in prof.centres:
            raise MetReaderError(f"{where}: GRIB centre {hdr['centre']!r} differs from the "
                                 f"file's first message ({prof.centres[0]}); expected one "
                                 f"source per file")
        var = next((v for v, keys in prof.variables.items() if _match(h, keys, hdr)), None)
        if var is None:
            name = hdr["shortName"]
            info["skipped"][name] = info["skipped"].get(name, 0) + 1
            continue
        keys = prof.variables[var]
        units = _units_of(hdr, keys)
        if _units_key(units) != _units_key(keys.units):
            raise MetReaderError(f"{where}: variable {var!r} ({hdr['shortName']}) has units "
                                 f"{units!r}; profile {prof.id} expects {keys.units!r}")
        grid = _grid_of(h, bbox if prof.crop else None, where)
        grids.setdefault(grid.key, grid)
        vals = _values(h, grid)
        kind, conv = _convert(var, units, hdr["stepType"], vals, where)
        start, end = hdr["startStep"], hdr["endStep"]
        if kind == "rate_avg":
            conv = conv * float(end - start) * (3600.0 if var == "ssrd" else 1.0)
            kind = "integral"
        date, time = hdr["dataDate"], hdr["dataTime"]
        ref = pd.Timestamp(f"{date:08d}") + pd.Timedelta(hours=time // 100,
                                                          minutes=time % 100)
        if kind == "integral":
            dur = end - start
            chk = conv / dur / (3600.0 if var == "ssrd" else 1.0) if dur > 0 else None
            if chk is not None:
                check_field(chk, var, f"{where} (step {start}-{end} h)", checks)
            elif np.nanmax(np.abs(conv)) > 1e-3 if np.isfinite(conv).any() else False:
                raise MetReaderError(f"{where}: variable {var!r} accumulated over an empty "
                                     f"window {start}-{end} h is not zero")
        else:
            conv = check_field(conv, var, f"{where} (step {end} h)", checks)
        out.append(GribField(path, k, hdr["centre"], ref, var, start, end, kind,
                             conv.astype(np.float32)))
    if prof is None:
        raise MetReaderError(f"{path}: no GRIB messages; expected a GRIB2 file")
    return prof, out, info


# ------------------------------------------------------------------------------ assembling
def derive_rates(ds: xr.Dataset) -> xr.Dataset:
    """Recompute ``tp`` (mm h-1) and ``ssrd`` (W m-2) of a cycle from its window integrals.

    For each step ``b`` with previous step ``p`` in the cycle: the accumulation from the
    reference time is rebuilt where possible (``acc(b) = acc(start) + window(b)``, ``acc(0) =
    0``), and the rate is ``(acc(b) − acc(p)) / (b − p)``, or ``window(b) / (b − p)`` when the
    window starts at ``p``, or ``(window(b) − window(p)) / (b − p)`` when both windows start
    at the same step (a GFS 6-h bucket); otherwise NaN (its neighbour has not arrived yet). Negative
    differences (packing noise, ≥ −1e-3 per hour) are clipped to 0. Step 0 has no window: NaN.
    """
    if "step" not in ds.coords:
        return ds
    steps = [int(s) for s in ds["step"].values]
    out = ds
    for var in ACCUMULATED:
        wname, sname = f"{var}_window", f"{var}_window_start"
        if wname not in ds.data_vars or sname not in ds.coords:
            continue
        win = ds[wname].values
        starts = [int(s) for s in ds[sname].values]
        acc: dict[int, np.ndarray] = {}
        for i, b in enumerate(steps):
            a = starts[i]
            if a < 0:
                continue
            w = win[i]
            if not np.isfinite(w).any():
                continue
            if a == 0:
                acc[b] = w
            elif a in acc:
                acc[b] = acc[a] + w
        if 0 in steps and 0 not in acc:
            acc[0] = np.zeros_like(win[0])
        rate = np.full(win.shape, np.nan, dtype=np.float32)
        scale = 3600.0 if var == "ssrd" else 1.0
        for i, b in enumerate(steps):
            if i == 0:
                continue
            p = steps[i - 1]
            dt = float(b - p)
            if b in acc and p in acc:
                r = (acc[b] - acc[p]) / dt / scale
            elif starts[i] == p and np.isfinite(win[i]).any():
                r = win[i] / dt / scale
            elif starts[i] >= 0 and starts[i] == starts[i - 1]:  # same bucket (GFS 6-h)
                r = (win[i] - win[i - 1]) / dt / scale
            else:
                continue
            r = np.where(r < 0, np.where(r >= -1e-3 * (1 if var == "tp" else 1000), 0.0, np.nan),
                         r)
            rate[i] = r
        out = out.assign({var: (ds[wname].dims, rate, dict(ERA5_ATTRS[var]))})
    return out


def _assemble(ref: pd.Timestamp, fields: list[GribField], grid: _Grid, prof: NwpProfile
              ) -> xr.Dataset:
    steps = sorted({f.end for f in fields})
    six = {s: i for i, s in enumerate(steps)}
    shape = (len(steps), grid.lat.size, grid.lon.size)
    data: dict[str, Any] = {}
    starts: dict[str, np.ndarray] = {}
    by_var: dict[str, list[GribField]] = {}
    for f in fields:
        by_var.setdefault(f.var, []).append(f)
    for var, fs in by_var.items():
        arr = np.full(shape, np.nan, dtype=np.float32)
        if fs[0].kind == "integral":
            st = np.full(len(steps), -1, dtype=np.int32)
            # one window per step: from the reference time when offered, else the latest start
            for f in sorted(fs, key=lambda f: (f.end, f.start != 0, -f.start)):
                i = six[f.end]
                if st[i] == -1:
                    arr[i], st[i] = f.values, f.start
            data[f"{var}_window"] = (("time", "latitude", "longitude"), arr,
                                     dict(_WINDOW_ATTRS[var]))
            starts[f"{var}_window_start"] = st
        else:
            for f in fs:
                arr[six[f.end]] = f.values
            data[var] = (("time", "latitude", "longitude"), arr, dict(ERA5_ATTRS[var]))
    times = pd.DatetimeIndex([ref + pd.Timedelta(hours=s) for s in steps])
    coords: dict[str, Any] = {
        "time": ("time", times, {"standard_name": "time", "long_name": "valid time (UTC)"}),
        "latitude": ("latitude", grid.lat, {"units": "degrees_north",
                                            "standard_name": "latitude"}),
        "longitude": ("longitude", grid.lon, {"units": "degrees_east",
                                              "standard_name": "longitude"}),
        "step": ("time", np.asarray(steps, dtype=np.int32),
                 {"units": "hours", "long_name": "forecast lead time",
                  "standard_name": "forecast_period"}),
        "forecast_reference_time": ((), np.datetime64(ref.to_datetime64(), "ns"),
                                    {"standard_name": "forecast_reference_time"}),
    }
    for name, st in starts.items():
        coords[name] = ("time", st, {"units": "hours", "long_name": "window start (hours after "
                                     "the reference time; -1 = none)"})
    ds = xr.Dataset(data, coords=coords)
    ds = derive_rates(ds)
    ds.attrs.update({"Conventions": "CF-1.8", "source": prof.name, "nwp_source": prof.id,
                     "forecast_reference_time": ref.tz_localize("UTC").isoformat(),
                     "history": "read from GRIB by airwarn features.readers.grib"})
    return ds


def read_grib2_cycles(paths: Path | str | Sequence[Path | str], profile: NwpProfile | str |
                      None = None, *, crop: bool = True, checks: MetChecks | None = None,
                      ) -> list[tuple[xr.Dataset, dict[str, Any]]]:
    """Read GRIB files into one store Dataset per reference time (see :func:`read_grib2`).

    Returns
    -------
    list of (Dataset, metadata)
        Sorted by reference time.
    """
    from airwarn.configs.nwp_schema import load_profile
    from airwarn.features.met_checks import crop_box

    if isinstance(paths, (str, Path)):
        paths = [paths]
    checks = checks or load_met_checks()
    prof = load_profile(profile) if isinstance(profile, str) else profile
    bbox = crop_box(checks) if crop else None
    grids: dict = {}
    fields: list[GribField] = []
    infos: dict[str, dict] = {}
    profs: dict[str, NwpProfile] = {}
    for p in (Path(x) for x in paths):
        if not p.exists():
            raise MetReaderError(f"{p}: file not found")
        with open(p, "rb") as fh:
            ed = grib_edition(fh.read(8))
        if ed is None:
            raise MetReaderError(f"{p}: not a GRIB file (does not start with 'GRIB')")
        fp, ff, info = _read_fields(p, prof, bbox, checks, grids)
        profs[str(p)] = fp
        infos[str(p)] = {**info, "source": fp.id, "used": len(ff)}
        if not ff:
            names = ", ".join(sorted(info["skipped"])) or "none"
            raise MetReaderError(f"{p}: none of the {fp.id} variables {list(fp.variables)} "
                                 f"found; the file holds {names}")
        fields += ff
    if len(grids) > 1:
        raise MetReaderError(f"{', '.join(str(x) for x in paths)}: messages on {len(grids)} "
                             f"different grids; expected one grid per cycle")
    grid = next(iter(grids.values()))
    # duplicated messages: identical ones are merged, conflicting ones refused
    seen: dict[tuple, GribField] = {}
    unique: list[GribField] = []
    for f in fields:
        key = (f.reference_time, f.var, f.start, f.end, f.kind)
        if key in seen:
            g = seen[key]
            if np.allclose(g.values, f.values, equal_nan=True, rtol=1e-5, atol=1e-6):
                continue
            raise MetReaderError(f"{f.path}, message {f.index}: duplicated step {f.end} h of "
                                 f"{f.var!r} (also {g.path}, message {g.index}) with different "
                                 f"values; expected each step once")
        seen[key] = f
        unique.append(f)
    out = []
    for ref in sorted({f.reference_time for f in unique}):
        fs = [f for f in unique if f.reference_time == ref]
        srcs = sorted({profs[str(f.path)].id for f in fs})
        if len(srcs) > 1:
            raise MetReaderError(f"cycle {ref:%Y-%m-%d %H} UTC comes from several sources "
                                 f"{srcs}; expected one source per cycle")
        fprof = profs[str(fs[0].path)]
        ds = _assemble(ref, fs, grid, fprof)
        files = sorted({str(f.path) for f in fs})
        steps_vars: dict[int, list[str]] = {}
        for f in fs:
            steps_vars.setdefault(f.end, []).append(f.var)
        meta = {"source": fprof.id, "centre": fs[0].centre,
                "reference_time": ref.tz_localize("UTC").isoformat(),
                "steps": sorted(steps_vars), "variables": {int(k): sorted(set(v)) for k, v in
                                                           sorted(steps_vars.items())},
                "files": files, "grid": {"shape": list(grid.shape),
                                         "cropped": [int(grid.lat.size), int(grid.lon.size)]},
                "skipped": {k: v for f in files for k, v in infos[f]["skipped"].items()}}
        out.append((ds, meta))
    return out


def read_grib2(paths: Path | str | Sequence[Path | str], profile: NwpProfile | str | None = None,
               *, crop: bool = True, checks: MetChecks | None = None
               ) -> tuple[xr.Dataset, dict[str, Any]]:
    """Read one forecast cycle from GRIB2 files (one file, or one file per step, any order).

    Parameters
    ----------
    paths : path or list of paths
    profile : NwpProfile or str, optional
        Source profile (``configs/nwp/<id>.yaml``); default: detected from the ``centre`` header.
    crop : bool
        Crop to the configured domain (``configs/nwp/checks.yaml``) when the profile says so.
    checks : MetChecks, optional

    Returns
    -------
    ds : xr.Dataset
        ``(time, latitude, longitude)``, latitude ascending, longitudes −180…180; ERA5 names and
        units (K, K, m s-1, m s-1, Pa, mm h-1 over the window ending at each step, m,
        W m-2 over the window, 0–1); coordinates ``step(time)`` (hours) and scalar
        ``forecast_reference_time``; ``tp_window``/``ssrd_window`` (mm, J m-2) with
        ``<var>_window_start(time)``; attributes ``forecast_reference_time`` (ISO UTC),
        ``nwp_source``, ``source``.
    metadata : dict
        ``source, centre, reference_time, steps, variables`` (per step), ``files, grid,
        skipped`` (message short names not used, with counts).

    Raises
    ------
    MetReaderError
        Not GRIB, damaged messages, unknown centre, none of the variables, units that differ
        from the profile, implausible or missing values, several grids or reference times.
    """
    cycles = read_grib2_cycles(paths, profile, crop=crop, checks=checks)
    if len(cycles) != 1:
        refs = [m["reference_time"] for _, m in cycles]
        raise MetReaderError(f"{paths}: {len(cycles)} reference times {refs}; expected one "
                             f"cycle (use read_grib2_cycles)")
    return cycles[0]


# ------------------------------------------------------------------------------ writing
_IFS_PARAMS: dict[str, tuple[int | tuple[int, int, int], str]] = {
    # store name → (paramId or GRIB2 (discipline, category, number), GRIB units written)
    "t2m": (167, "K"), "d2m": (168, "K"), "u10": (165, "m s**-1"), "v10": (166, "m s**-1"),
    "sp": (134, "Pa"), "blh": (159, "m"), "tcc": (228164, "%"), "tp": (228, "m"),
    "ssrd": (169, "J m**-2"),
}
_GFS_PARAMS: dict[str, tuple[int | tuple[int, int, int], str]] = {
    **_IFS_PARAMS, "tp": (228228, "kg m**-2"), "ssrd": (235035, "W m**-2"),
}
#: CMA-GFS (GRAPES_GFS, centre babj; docs/notes/w10-cma-gfs.md): total precipitation is WMO
#: 0/1/8 (APCP) in kg m-2 accumulated from the reference time, which ecCodes names for no centre
#: but kwbc; no surface downward short-wave is published (only net and upward): no ssrd.
_CMA_PARAMS: dict[str, tuple[int | tuple[int, int, int], str]] = {
    **{k: v for k, v in _IFS_PARAMS.items() if k != "ssrd"}, "tp": ((0, 1, 8), "kg m**-2"),
}
_STYLES = {"ifs": _IFS_PARAMS, "gfs": _GFS_PARAMS, "cma": _CMA_PARAMS}


def _ref_and_steps(ds: xr.Dataset, reference_time: Any) -> tuple[pd.Timestamp, list[int]]:
    ref = reference_time
    if ref is None:
        if "forecast_reference_time" in ds.coords:
            ref = pd.Timestamp(ds["forecast_reference_time"].values)
        else:
            ref = ds.attrs.get("forecast_reference_time")
    if ref is None:
        raise ValueError("write_grib2: no reference time (pass reference_time or give the "
                         "Dataset a forecast_reference_time)")
    ref = pd.Timestamp(ref)
    ref = ref.tz_convert("UTC").tz_localize(None) if ref.tzinfo is not None else ref
    steps = (pd.DatetimeIndex(ds["time"].values) - ref) / pd.Timedelta("1h")
    if (np.asarray(steps) % 1 != 0).any() or (np.asarray(steps) < 0).any():
        raise ValueError("write_grib2: valid times must be whole hours at or after the "
                         "reference time")
    return ref, [int(s) for s in steps]


def _bucket_start(step: int, bucket: int) -> int:
    return 0 if step <= 0 else bucket * ((step - 1) // bucket)


def _encode(template: Any, values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> Any:
    import eccodes as ec

    h = ec.codes_clone(template)
    v = np.asarray(values, dtype=np.float64)[::-1]  # north → south like IFS
    if np.isnan(v).any():
        ec.codes_set(h, "bitmapPresent", 1)
        ec.codes_set(h, "missingValue", _MISSING)
        v = np.where(np.isnan(v), _MISSING, v)
    ec.codes_set_values(h, v.ravel())
    return h


def _set_window(h: Any, start: int, end: int) -> None:
    import eccodes as ec

    ec.codes_set_long(h, "startStep", start)
    ec.codes_set_long(h, "endStep", end)


def _template(centre: str, lat: np.ndarray, lon: np.ndarray, bits: int) -> Any:
    import eccodes as ec

    h = ec.codes_grib_new_from_samples("GRIB2")
    ec.codes_set(h, "centre", centre)
    ec.codes_set(h, "gridType", "regular_ll")
    lon360 = lon % 360.0
    if lon360[0] > lon360[-1]:  # crosses Greenwich in 0..360: keep −180..180 first/last
        lon360 = lon
    d_lat = float(np.median(np.diff(lat))) if lat.size > 1 else 1.0
    d_lon = float(np.median(np.diff(lon))) if lon.size > 1 else 1.0
    for k, val in (("Ni", lon.size), ("Nj", lat.size),
                   ("latitudeOfFirstGridPointInDegrees", float(lat[-1])),
                   ("longitudeOfFirstGridPointInDegrees", float(lon360[0])),
                   ("latitudeOfLastGridPointInDegrees", float(lat[0])),
                   ("longitudeOfLastGridPointInDegrees", float(lon360[-1])),
                   ("iDirectionIncrementInDegrees", abs(d_lon)),
                   ("jDirectionIncrementInDegrees", abs(d_lat)),
                   ("jScansPositively", 0), ("iScansNegatively", 0)):
        ec.codes_set(h, k, val)
    ec.codes_set(h, "bitsPerValue", bits)
    return h


def _messages(ds: xr.Dataset, centre: str, style: str, ref: pd.Timestamp, steps: list[int],
              bits: int) -> Iterable[tuple[int, Any]]:
    """(step, handle) for every variable and step, in step order."""
    import eccodes as ec

    params = _STYLES[style]
    if ds["latitude"].size > 1 and float(ds["latitude"][0]) > float(ds["latitude"][-1]):
        ds = ds.sortby("latitude")  # e.g. the demo world's north-to-south grid
    lat = ds["latitude"].values.astype(float)
    lon = ds["longitude"].values.astype(float)
    base = _template(centre, lat, lon, bits)
    ec.codes_set(base, "dataDate", int(ref.strftime("%Y%m%d")))
    ec.codes_set(base, "dataTime", int(ref.strftime("%H%M")))
    ec.codes_set(base, "typeOfGeneratingProcess", 2)  # forecast
    variables = [v for v in params if v in ds.data_vars]
    if not variables:
        raise ValueError(f"write_grib2: none of {list(params)} in the Dataset")
    if steps[0] != 0 and any(v in ACCUMULATED for v in variables):
        raise ValueError(f"write_grib2: the first step must be 0 for accumulated fields "
                         f"(tp, ssrd accumulate from the reference time), got {steps[0]} h")
    acc: dict[str, np.ndarray] = {}
    prev_step: int | None = None
    templates: dict[str, Any] = {}
    try:
        for var in variables:
            t = ec.codes_clone(base)
            pid, _ = params[var]
            if var in ACCUMULATED:
                ec.codes_set(t, "productDefinitionTemplateNumber", 8)
                if style in ("gfs", "cma"):
                    ec.codes_set(t, "typeOfStatisticalProcessing", 1 if var == "tp" else 0)
            if isinstance(pid, tuple):
                keys = ("discipline", "parameterCategory", "parameterNumber")
                for k, n in zip(keys, pid, strict=True):
                    ec.codes_set(t, k, n)
                ec.codes_set(t, "typeOfLevel", "surface")
            else:
                ec.codes_set(t, "paramId", pid)
            if var == "tcc":
                ec.codes_set(t, "typeOfLevel", "entireAtmosphere")
            if var in ACCUMULATED:
                ec.codes_set(t, "bitsPerValue", max(bits, 24))
            templates[var] = t
        for i, s in enumerate(steps):
            dt = 0 if prev_step is None else s - prev_step
            for var in variables:
                rate = ds[var].isel(time=i).values.astype(np.float64)
                t = templates[var]
                if var not in ACCUMULATED:
                    vals = rate * 100.0 if var == "tcc" else rate
                    h = _encode(t, vals, lat, lon)
                    ec.codes_set_long(h, "endStep", s)
                    yield s, h
                    continue
                amount = np.nan_to_num(rate) * dt * (3600.0 if var == "ssrd" else 1.0)
                if style in ("ifs", "cma"):   # accumulated from the reference time
                    acc[var] = acc.get(var, np.zeros_like(rate)) + amount
                    vals = acc[var] / 1000.0 if var == "tp" and style == "ifs" else acc[var]
                    h = _encode(t, vals, lat, lon)
                    _set_window(h, 0, s)
                    yield s, h
                    continue
                if s == 0:
                    continue  # GFS: no accumulation at f000
                a = _bucket_start(s, 6)
                if prev_step is not None and prev_step <= a:
                    acc[var] = np.zeros_like(rate)
                acc[var] = acc.get(var, np.zeros_like(rate)) + amount
                vals = acc[var] if var == "tp" else acc[var] / (3600.0 * (s - a))
                h = _encode(t, vals, lat, lon)
                _set_window(h, a, s)
                yield s, h
            prev_step = s
    finally:
        for t in templates.values():
            ec.codes_release(t)
        ec.codes_release(base)


def write_grib2(ds: xr.Dataset, path: Path | str, *, centre: str = "ecmf", style: str = "ifs",
                reference_time: Any = None, bits: int = 16) -> Path:
    """Write a store forecast cycle as one GRIB2 file (atomically).

    Parameters
    ----------
    ds : xr.Dataset
        ``(time, latitude, longitude)`` in store names and units (rates for ``tp`` mm h-1 and
        ``ssrd`` W m-2 over the window ending at each time); latitude in either order.
    path : path-like
    centre : str
        GRIB ``centre`` (``ecmf``, ``kwbc``, ``babj`` …).
    style : {"ifs", "gfs", "cma"}
        ``ifs``: ``tp`` in m and ``ssrd`` in J m-2 accumulated from the reference time, ``tcc``
        in % (ECMWF open data). ``gfs``: ``tp`` in kg m-2 and ``ssrd`` as a W m-2 average over
        6-h buckets (stepRange ``0-3, 0-6, 6-9 …``), no accumulation at step 0. ``cma``
        (CMA-GFS, centre ``babj``): ``tp`` as WMO 0/1/8 in kg m-2 accumulated from the
        reference time, no ``ssrd``.
    reference_time : time-like, optional
        Default the Dataset's ``forecast_reference_time`` (coordinate or attribute).
    bits : int
        Bits per packed value (simple packing); accumulations use at least 24.

    Returns
    -------
    Path
    """
    import eccodes as ec
    from airwarn.features.atomic import atomic_path

    if style not in _STYLES:
        raise ValueError(f"write_grib2: style {style!r}; expected one of {list(_STYLES)}")
    ref, steps = _ref_and_steps(ds, reference_time)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for _s, h in _messages(ds, centre, style, ref, steps, bits):
            ec.codes_write(h, fh)
            ec.codes_release(h)
    return path


def write_grib2_steps(ds: xr.Dataset, directory: Path | str, *, centre: str = "ecmf",
                      style: str = "ifs", reference_time: Any = None, bits: int = 16,
                      pattern: str = "{ref:%Y%m%d%H}0000-{step}h-oper-fc.grib2") -> list[Path]:
    """Write one GRIB2 file per step (the IFS open-data / NOMADS layout), atomically each.

    ``pattern`` is formatted with ``ref`` (Timestamp, UTC) and ``step`` (int hours), e.g.
    ``"gfs.t{ref:%H}z.pgrb2.0p25.f{step:03d}"``. Returns the files in step order.
    """
    import eccodes as ec
    from airwarn.features.atomic import atomic_path

    if style not in _STYLES:
        raise ValueError(f"write_grib2_steps: style {style!r}; expected one of {list(_STYLES)}")
    ref, steps = _ref_and_steps(ds, reference_time)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    by_step: dict[int, list[bytes]] = {}
    for s, h in _messages(ds, centre, style, ref, steps, bits):
        by_step.setdefault(s, []).append(ec.codes_get_message(h))
        ec.codes_release(h)
    out = []
    for s in steps:
        p = d / pattern.format(ref=ref, step=s)
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            for msg in by_step.get(s, []):
                fh.write(msg)
        out.append(p)
    return out


def _register_format() -> None:
    from airwarn.features.readers.registry import InputFormat, register_format

    register_format(InputFormat(
        name="grib2", kind="met_grid", sniff=_sniff, read=read_grib2, priority=30,
        description="GRIB2 forecast cycle (ECMWF IFS, NCEP GFS, CMA-GFS; centre from the "
                    "header, configs/nwp/)"))


_register_format()
