"""The canonical observation store: Parquet files under ``<data_dir>/obs/``, one per UTC month.

Every reader returns the canonical observation table (DESIGN.md, "Data contracts"):

=============  ==========================  =======================================
column         dtype                       meaning
=============  ==========================  =======================================
``time``       ``datetime64[ns, UTC]``     hour as the source labels it, in UTC
``station_id`` ``str``                     station code (``configs/stations.csv``)
``pm25``       ``float64``                 PM2.5, µg/m³
``pm10``       ``float64``                 PM10, µg/m³
``o3``         ``float64``                 O3 (1-h), µg/m³
``no2``        ``float64``                 NO2, µg/m³
``so2``        ``float64``                 SO2, µg/m³
``co``         ``float64``                 CO, mg/m³
``qc``         ``int64``                   QC bit flags (``features.qc``), 0 = clean
=============  ==========================  =======================================

Missing values are NaN, never 0 or -999. :func:`write_obs` appends a canonical frame to the
store (idempotent: the key is ``(time, station_id)``; identical rows change nothing, rows with
changed values replace the stored ones and are counted); :func:`read_obs` reads a time / station
slice back. Writes are atomic per file and all-or-nothing across files: every input is validated
and every new month file is written to a temporary file before any is renamed into place.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from airwarn.core.pollutants import observed as registry_observed
from airwarn.core.runstore import RunStore

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "OBS_COLUMNS",
    "POLLUTANTS",
    "ObsSchemaError",
    "WriteReport",
    "empty_obs",
    "validate_obs",
    "obs_dir",
    "obs_files",
    "write_obs",
    "read_obs",
    "write_met_analysis",
    "write_met_cycle",
]

#: Pollutant columns of the canonical table: µg/m³ except ``co`` in mg/m³.
POLLUTANTS: tuple[str, ...] = registry_observed()  # the pollutant registry, canonical order
#: The canonical columns, in order.
OBS_COLUMNS: tuple[str, ...] = ("time", "station_id", *POLLUTANTS, "qc")
KEY: list[str] = ["time", "station_id"]

_MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")


class ObsSchemaError(ValueError):
    """A frame is not a canonical observation table; the message names the column and expectation."""


@dataclass
class WriteReport:
    """What :func:`write_obs` did.

    Attributes
    ----------
    rows_in : int
        Rows offered.
    added : int
        New ``(time, station_id)`` keys stored.
    replaced : int
        Stored rows whose values (or qc flags) changed and were replaced.
    unchanged : int
        Offered rows identical to what was stored (nothing written for them).
    files : list of Path
        Month files (re)written; empty when nothing changed.
    """

    rows_in: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    files: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.rows_in} rows: {self.added} added, {self.replaced} replaced, "
                f"{self.unchanged} unchanged; {len(self.files)} file(s) written")


def empty_obs() -> pd.DataFrame:
    """An empty canonical observation table with the canonical dtypes."""
    data: dict[str, pd.Series] = {
        "time": pd.Series(pd.DatetimeIndex([], tz="UTC"), dtype="datetime64[ns, UTC]"),
        "station_id": pd.Series([], dtype=object),
    }
    for p in POLLUTANTS:
        data[p] = pd.Series([], dtype="float64")
    data["qc"] = pd.Series([], dtype="int64")
    return pd.DataFrame(data)


def validate_obs(df: pd.DataFrame, source: str = "observations") -> pd.DataFrame:
    """Check that ``df`` is a canonical observation table and return a normalised copy.

    Normalisation only: any tz-aware time is converted to UTC at ns precision, integer or
    float pollutant columns become ``float64``, ``qc`` becomes ``int64``, rows are sorted by
    ``(time, station_id)``. Nothing is guessed.

    Parameters
    ----------
    df : DataFrame
        Columns exactly :data:`OBS_COLUMNS` (any order).
    source : str
        Name used in error messages (a file name, a reader).

    Raises
    ------
    ObsSchemaError
        Naming the column (and the first bad row) and what was expected: missing or extra columns,
        naive or non-datetime ``time``, missing time or station, non-string ``station_id``,
        non-numeric pollutant, negative-infinite / infinite values, non-integer ``qc``, duplicate keys.
    """
    if not isinstance(df, pd.DataFrame):
        raise ObsSchemaError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    cols = list(df.columns)
    missing = [c for c in OBS_COLUMNS if c not in cols]
    extra = [c for c in cols if c not in OBS_COLUMNS]
    if missing:
        raise ObsSchemaError(f"{source}: missing column(s) {missing}; "
                             f"the canonical table has exactly {list(OBS_COLUMNS)}")
    if extra:
        raise ObsSchemaError(f"{source}: unexpected column(s) {extra}; "
                             f"the canonical table has exactly {list(OBS_COLUMNS)}")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    t = df["time"]
    if not isinstance(t.dtype, pd.DatetimeTZDtype):
        kind = "tz-naive datetime" if pd.api.types.is_datetime64_dtype(t.dtype) else str(t.dtype)
        raise ObsSchemaError(f"{source}: column 'time' must be tz-aware UTC datetimes, got {kind}")
    t = t.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if t.isna().any():
        i = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise ObsSchemaError(f"{source}: column 'time' is missing in row {i}")
    out["time"] = t.reset_index(drop=True)
    sid = df["station_id"]
    if pd.api.types.infer_dtype(sid, skipna=False) == "string":  # all str (fast path)
        bad = (sid == "").to_numpy(dtype=bool)
    else:
        bad = ~sid.map(lambda v: isinstance(v, str) and v != "").to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ObsSchemaError(f"{source}: column 'station_id' must be a non-empty str, "
                             f"row {i} has {sid.iloc[i]!r} ({type(sid.iloc[i]).__name__})")
    out["station_id"] = sid.astype(object).to_numpy()
    for p in POLLUTANTS:
        s = df[p]
        if not (pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)) \
                or pd.api.types.is_bool_dtype(s.dtype):
            raise ObsSchemaError(f"{source}: column {p!r} must be float "
                                 f"({'mg/m³' if p == 'co' else 'µg/m³'}), got dtype {s.dtype}")
        v = s.astype("float64").to_numpy()
        inf = np.isinf(v)
        if inf.any():
            i = int(np.flatnonzero(inf)[0])
            raise ObsSchemaError(f"{source}: column {p!r} row {i} is infinite; "
                                 f"expected a finite value or NaN for missing")
        out[p] = v
    q = df["qc"]
    if not pd.api.types.is_integer_dtype(q.dtype) or pd.api.types.is_bool_dtype(q.dtype):
        raise ObsSchemaError(f"{source}: column 'qc' must be integer bit flags, got dtype {q.dtype}")
    if q.isna().any():
        raise ObsSchemaError(f"{source}: column 'qc' has missing values; expected int (0 = clean)")
    out["qc"] = q.astype("int64").to_numpy()
    dup = out.duplicated(KEY, keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise ObsSchemaError(
            f"{source}: {int(dup.sum())} rows share a (time, station_id) key, e.g. "
            f"({first['time'].isoformat()}, {first['station_id']}); expected one row per "
            f"station-hour (readers resolve duplicates before writing)")
    return out.sort_values(KEY, kind="mergesort").reset_index(drop=True)[list(OBS_COLUMNS)]


def obs_dir(data_dir: Path | str) -> Path:
    """The observation store directory, ``<data_dir>/obs``."""
    return RunStore(data_dir).obs_dir


def _month_path(data_dir: Path | str, year: int, month: int) -> Path:
    return obs_dir(data_dir) / f"{year:04d}-{month:02d}.parquet"


def obs_files(data_dir: Path | str) -> list[Path]:
    """Month files of the store (``obs/YYYY-MM.parquet``), sorted by month."""
    d = obs_dir(data_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _MONTH_FILE.match(p.name))


def _read_month(path: Path, full_check: bool = True) -> pd.DataFrame:
    """One month file. ``full_check=False`` (reads) only checks columns and dtypes — the file
    was validated and sorted when written; writes re-validate everything."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise ObsSchemaError(f"{path}: cannot read the stored observations ({exc}); "
                             f"expected a Parquet file written by features.store") from exc
    if full_check:
        return validate_obs(df, source=str(path))
    if list(df.columns) != list(OBS_COLUMNS) or not isinstance(df["time"].dtype,
                                                              pd.DatetimeTZDtype):
        return validate_obs(df, source=str(path))
    df["time"] = df["time"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    df["station_id"] = df["station_id"].astype(object)
    for p in POLLUTANTS:
        df[p] = df[p].astype("float64")
    df["qc"] = df["qc"].astype("int64")
    return df


@contextmanager
def dir_lock(d: Path) -> Iterator[None]:
    """Exclusive advisory lock on a store directory (``<d>/.lock``) so that writers never
    interleave."""
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _store_lock(data_dir: Path | str) -> AbstractContextManager[None]:
    """Exclusive advisory lock on the store so that two ingests never interleave."""
    return dir_lock(obs_dir(data_dir))


def same_rows(a: pd.DataFrame, b: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """Row-wise equality of two aligned frames over float ``columns``, NaN equal to NaN."""
    eq = np.ones(len(a), dtype=bool)
    for p in columns:
        x, y = a[p].to_numpy(), b[p].to_numpy()
        eq &= (x == y) | (np.isnan(x) & np.isnan(y))
    return eq


def _same(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Row-wise equality of two aligned canonical frames, NaN equal to NaN."""
    return same_rows(a, b, POLLUTANTS) & (a["qc"].to_numpy() == b["qc"].to_numpy())


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    df.to_parquet(path, index=False, engine="pyarrow", compression="zstd")


def write_obs(df: pd.DataFrame, data_dir: Path | str) -> WriteReport:
    """Append canonical observations to the store, one Parquet file per UTC month.

    Parameters
    ----------
    df : DataFrame
        A canonical observation table (see the module docstring); pollutants in µg/m³, CO mg/m³.
    data_dir : path-like
        Root of the data store; files go to ``<data_dir>/obs/YYYY-MM.parquet``.

    Returns
    -------
    WriteReport
        Rows added / replaced / unchanged and the files written. Writing the same rows twice
        reports them unchanged and writes nothing.

    Raises
    ------
    ObsSchemaError
        ``df`` is not canonical (the message names the column), or a stored month file is
        unreadable. Nothing is written in that case.
    """
    new = validate_obs(df, source="write_obs input")
    report = WriteReport(rows_in=len(new))
    if new.empty:
        return report
    with _store_lock(data_dir):
        months = new["time"].dt.tz_convert(None).dt.to_period("M")
        staged: list[tuple[Path, pd.DataFrame]] = []
        for period, part in new.groupby(months, sort=True):
            path = _month_path(data_dir, period.year, period.month)
            part = part.reset_index(drop=True)
            if not path.exists():
                report.added += len(part)
                staged.append((path, part))
                continue
            old = _read_month(path)
            old_idx = pd.MultiIndex.from_frame(old[KEY])
            new_idx = pd.MultiIndex.from_frame(part[KEY])
            pos = old_idx.get_indexer(new_idx)
            hit = pos >= 0
            n_added = int((~hit).sum())
            same = np.zeros(len(part), dtype=bool)
            if hit.any():
                same[hit] = _same(old.iloc[pos[hit]].reset_index(drop=True),
                                  part[hit].reset_index(drop=True))
            n_replaced = int((hit & ~same).sum())
            report.added += n_added
            report.replaced += n_replaced
            report.unchanged += int(same.sum())
            if n_added == 0 and n_replaced == 0:
                continue
            keep_old = np.ones(len(old), dtype=bool)
            keep_old[pos[hit & ~same]] = False
            merged = pd.concat([old[keep_old], part[~same]], ignore_index=True)
            merged = merged.sort_values(KEY, kind="mergesort").reset_index(drop=True)
            staged.append((path, merged))
        _commit(staged)
        report.files = [p for p, _ in staged]
    return report


def _commit(staged: list[tuple[Path, pd.DataFrame]]) -> None:
    """Write every staged frame to a temporary file, then rename all (none on any failure)."""
    tmps: list[tuple[Path, Path]] = []
    try:
        for path, frame in staged:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            _to_parquet(frame, tmp)
            tmps.append((tmp, path))
        for tmp, path in tmps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in tmps:
            if tmp.exists():
                tmp.unlink()


def _utc(t: object, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(t)  # type: ignore[arg-type]
    if ts.tzinfo is None:
        raise ValueError(f"read_obs: {name}={t!r} must be tz-aware (times in the store are UTC)")
    return ts.tz_convert("UTC")


def read_obs(data_dir: Path | str, start: object | None = None, end: object | None = None,
             station_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Read canonical observations from the store.

    Parameters
    ----------
    data_dir : path-like
        Root of the data store.
    start, end : datetime-like, optional
        Tz-aware bounds, both inclusive (``start <= time <= end``). None = open.
    station_ids : iterable of str, optional
        Keep only these stations.

    Returns
    -------
    DataFrame
        Canonical observation table (µg/m³, CO mg/m³) sorted by ``(time, station_id)``;
        an empty canonical frame when nothing matches or the store is empty.
    """
    t0 = _utc(start, "start") if start is not None else None
    t1 = _utc(end, "end") if end is not None else None
    ids = None if station_ids is None else {str(s) for s in station_ids}
    parts: list[pd.DataFrame] = []
    for path in obs_files(data_dir):
        m = _MONTH_FILE.match(path.name)
        assert m is not None
        first = pd.Timestamp(year=int(m.group(1)), month=int(m.group(2)), day=1, tz="UTC")
        last = first + pd.offsets.MonthBegin(1)
        if (t0 is not None and last <= t0) or (t1 is not None and first > t1):
            continue
        df = _read_month(path, full_check=False)
        mask = np.ones(len(df), dtype=bool)
        if t0 is not None:
            mask &= (df["time"] >= t0).to_numpy()
        if t1 is not None:
            mask &= (df["time"] <= t1).to_numpy()
        if ids is not None:
            mask &= df["station_id"].isin(ids).to_numpy()
        parts.append(df[mask])
    if not parts:
        return empty_obs()
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        return empty_obs()
    return out  # month files are written sorted and read in month order


# ---------------------------------------------------------------------------- meteorology store
def _met_encoding(ds: xr.Dataset) -> dict:
    """float32 data (zlib 3), int32 hours since 1970 (``features.cf.netcdf_encoding``)."""
    from airwarn.features.cf import netcdf_encoding

    return netcdf_encoding(ds, complevel=3, float_dtype="float32")


def _check_met(ds: xr.Dataset, what: str) -> None:
    if "time" not in ds.dims:
        raise ValueError(f"{what}: the Dataset has no 'time' dimension")
    if not ds.data_vars:
        raise ValueError(f"{what}: the Dataset has no variables")


def write_met_analysis(ds: xr.Dataset, data_dir: Path | str) -> list[Path]:
    """Store gridded analyses in ``<data_dir>/met/analysis/YYYY-MM.nc`` (one file per UTC month).

    Parameters
    ----------
    ds : xr.Dataset
        ``(time, latitude, longitude)`` with ERA5 names and units (``features.readers.met``);
        times UTC.
    data_dir : path-like

    Returns
    -------
    list of Path
        Month files written. Times already stored are replaced by the new values, other times
        and variables are kept; every file is written atomically, all validated first.

    Raises
    ------
    ValueError
        No time dimension, a curvilinear grid, or a grid that differs from the stored month.
    """
    import xarray as xr

    _check_met(ds, "write_met_analysis")
    if "latitude" not in ds.dims or "longitude" not in ds.dims:
        raise ValueError("write_met_analysis: analyses must be on a regular (time, latitude, "
                         "longitude) grid; store curvilinear model output as a cycle "
                         "(write_met_cycle)")
    ds = ds.sortby("time")
    times = pd.DatetimeIndex(ds["time"].values)
    staged: list[tuple[Path, xr.Dataset]] = []
    for period in sorted(set(times.to_period("M"))):
        part = ds.sel(time=(times.to_period("M") == period))
        path = RunStore(data_dir).met_analysis(period)
        if path.exists():
            with xr.open_dataset(path) as old:
                old = old.load()
            for c in ("latitude", "longitude"):
                if old[c].shape != part[c].shape or not np.allclose(old[c].values,
                                                                      part[c].values):
                    raise ValueError(f"{path}: stored grid differs from the new analyses in "
                                     f"{c!r}; expected the same grid within a month file")
            part = part.combine_first(old)
        staged.append((path, part))
    from airwarn.features.atomic import atomic_path
    from airwarn.features.cf import cf_met

    written = []
    for path, part in staged:
        part = cf_met(part, writer="airwarn.features.store.write_met_analysis")
        with atomic_path(path) as tmp:
            part.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=_met_encoding(part))
        written.append(path)
    return written


def write_met_cycle(ds: xr.Dataset, data_dir: Path | str,
                    reference_time: object | None = None) -> Path:
    """Store one forecast cycle as ``<data_dir>/met/cycles/YYYYMMDDHH.nc`` (UTC cycle time).

    ``reference_time`` defaults to the Dataset's ``forecast_reference_time`` attribute (ISO UTC)
    and is written into that attribute; a ``step`` coordinate (hours after the reference time)
    is added along ``time``. Regular or curvilinear grids are accepted.
    """
    _check_met(ds, "write_met_cycle")
    ref = reference_time if reference_time is not None else ds.attrs.get("forecast_reference_time")
    if ref is None:
        raise ValueError("write_met_cycle: no reference time (pass reference_time or set the "
                         "forecast_reference_time attribute)")
    ref_ts = pd.Timestamp(ref)  # type: ignore[arg-type]
    ref_ts = ref_ts.tz_localize("UTC") if ref_ts.tzinfo is None else ref_ts.tz_convert("UTC")
    steps = ((pd.DatetimeIndex(ds["time"].values) - ref_ts.tz_localize(None))
             / pd.Timedelta("1h")).astype(int)
    out = ds.assign_coords(step=("time", np.asarray(steps, dtype=np.int32),
                                 {"units": "hours", "long_name": "forecast lead time"}))
    out.attrs["forecast_reference_time"] = ref_ts.isoformat()
    path = RunStore(data_dir).met_cycle(ref_ts)
    from airwarn.features.atomic import atomic_path
    from airwarn.features.cf import cf_met

    out = cf_met(out, writer="airwarn.features.store.write_met_cycle", reference_time=ref_ts)

    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=_met_encoding(out))
    return path
