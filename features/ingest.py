"""Ingest: raw station files, station meteorology and gridded meteorology into the store.

The work behind ``airwarn ingest``, the inbox (:mod:`features.inbox`) and the daily run's
acquisition: read every file with the reader of its format (:mod:`features.readers.registry`),
check it, and write it to the store of its kind — all files of a call are read and checked
before anything is written, so one bad file leaves the store unchanged.

=============  ===========================================  ======================================
kind           function                                     store
=============  ===========================================  ======================================
``obs``        :func:`ingest_files` (QC with stored context)  ``obs/YYYY-MM.parquet``, ``obs/qc/``
``met_grid``   :func:`ingest_met`                           ``met/cycles/`` (+ catalog), ``met/analysis/``
``met_obs``    :func:`ingest_met_obs_files`                 ``met/obs/YYYY-MM.parquet``
=============  ===========================================  ======================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import Progress

from airwarn.core.runstore import RunStore

__all__ = ["IngestResult", "MET_FORMATS", "MetIngestResult", "expand_sources", "ingest_files",
           "ingest_met", "ingest_met_files", "ingest_met_obs_files", "is_met_file", "kind_of"]

_SUFFIXES = {".csv", ".txt", ".parquet", ".nc", ".gz", ".zip", ".bz2", ".grib2", ".grb2",
             ".grib"}
#: Meteorology formats: stored as analyses (met/analysis/YYYY-MM.nc) or, with --cycle or for
#: WRF, as forecast cycles (met/cycles/YYYYMMDDHH.nc).
MET_FORMATS = ("era5", "wrf", "cf", "grib2")


@dataclass
class IngestResult:
    """What one ingest did (counts are station-hour rows unless stated)."""

    files: list[Path] = field(default_factory=list)
    records: int = 0            # source value records read
    rows: int = 0               # canonical rows after merging
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0           # source records not used (see the rejected file)
    duplicates_identical: int = 0
    duplicates_conflicting: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    unknown_stations: list[str] = field(default_factory=list)
    qc_flagged_rows: int = 0
    qc_report: Path | None = None
    rejected_file: Path | None = None
    written: list[Path] = field(default_factory=list)


def expand_sources(sources: list[Path]) -> list[Path]:
    """Files named by SOURCE arguments: files as given, directories expanded (sorted, data
    files only), glob patterns expanded. A source that matches nothing is an error."""
    out: list[Path] = []
    for s in sources:
        if s.is_dir():
            found = sorted(p for p in s.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{s}: directory holds no .csv/.txt/.parquet files")
            out += found
        elif s.exists():
            out.append(s)
        else:
            found = sorted(Path().glob(str(s))) if any(ch in str(s) for ch in "*?[") else []
            if not found:
                raise FileNotFoundError(f"{s}: no such file")
            out += found
    return list(dict.fromkeys(out))


def _stamp(qc_dir: Path) -> str:
    base = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    stamp, k = base, 1
    while (qc_dir / f"{stamp}.csv").exists():
        k += 1
        stamp = f"{base}-{k}"
    return stamp


def ingest_files(paths: list[Path], data_dir: Path, *, fmt: str = "auto",
                 domain_path: Path | None = None, stations: pd.DataFrame | None = None,
                 qc: bool = True, progress: Progress | None = None,
                 names: dict[Path, str] | None = None) -> IngestResult:
    """Read, merge, QC and store station files (the work of ``airwarn ingest``).

    Parameters
    ----------
    paths : list of Path
        Files to read (see :func:`expand_sources`).
    data_dir : Path
        Root of the data store.
    fmt : str
        Reader format (``features.readers.stations.STATION_FORMATS``); ``auto`` detects.
    domain_path : Path, optional
        Domain YAML (``configs/domains/*.yaml``) for mapped CSV/Parquet files.
    stations : DataFrame, optional
        Station table (neighbours for QC; unknown stations reported).
    qc : bool
        Run QC (``configs/qc.yaml``) before writing.
    progress : rich Progress, optional
    names : dict, optional
        Display name of each path (archive members: ``day.zip:20240101.csv``).

    Returns
    -------
    IngestResult

    Raises
    ------
    features.readers.common.ReaderError, features.store.ObsSchemaError, ConfigError
        Bad input; nothing has been written.
    """
    from airwarn.configs.domain_schema import load_domain
    from airwarn.features.qc import qc_report, run_qc
    from airwarn.features.readers.common import ReadReport, combine_obs
    from airwarn.features.readers.plausibility import check_station_rows
    from airwarn.features.readers.stations import read_station_file
    from airwarn.features.store import read_obs, write_obs

    domain = load_domain(domain_path) if domain_path is not None else None
    res = IngestResult(files=list(paths))
    frames, reports = [], []
    task = progress.add_task("reading", total=len(paths)) if progress else None
    for p in paths:
        rep = ReadReport()
        obs_p = read_station_file(p, fmt, domain=domain, report=rep)
        shown = (names or {}).get(p, str(p))
        check_station_rows(obs_p, shown, obs_p.attrs.get("source_format", "default"))
        for r in rep.rejected:
            r["source"] = shown
        frames.append(obs_p)
        reports.append(rep)
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=f"read {p.name}")
    merged_rep = ReadReport(source="(merge)")
    obs = combine_obs(frames, merged_rep)
    for r in [*reports, merged_rep]:
        res.records += r.records
        res.duplicates_identical += r.duplicates_identical
        res.duplicates_conflicting += r.duplicates_conflicting
        for k, n in r.ignored.items():
            res.ignored[k] = res.ignored.get(k, 0) + n
    rej_parts = [r.rejected_frame() for r in [*reports, merged_rep] if r.rejected]
    rejected = (pd.concat(rej_parts, ignore_index=True) if rej_parts
                else ReadReport().rejected_frame())
    res.rejected = len(rejected)
    res.rows = len(obs)
    if stations is not None and len(stations):
        known = set(stations["station_id"].astype(str))
        res.unknown_stations = sorted(set(obs["station_id"]) - known)
    report_df = None
    if qc and len(obs):
        if progress is not None and task is not None:
            progress.update(task, description="quality control")
        pad = pd.Timedelta(hours=48)
        context = read_obs(data_dir, obs["time"].min() - pad, obs["time"].max() + pad,
                           station_ids=obs["station_id"].unique())
        new_keys = pd.MultiIndex.from_frame(obs[["time", "station_id"]])
        if len(context):
            ctx_keys = pd.MultiIndex.from_frame(context[["time", "station_id"]])
            context = context[~ctx_keys.isin(new_keys)]
        both = pd.concat([context, obs], ignore_index=True) if len(context) else obs
        flagged, _ = run_qc(both, stations)
        fk = pd.MultiIndex.from_frame(flagged[["time", "station_id"]])
        obs = flagged[fk.isin(new_keys)].reset_index(drop=True)
        report_df = qc_report(obs, stations)  # this ingest's rows, flags judged with context
        res.qc_flagged_rows = int((obs["qc"] != 0).sum())
    if progress is not None and task is not None:
        progress.update(task, description="writing the store")
    wrep = write_obs(obs, data_dir)
    res.added, res.replaced, res.unchanged = wrep.added, wrep.replaced, wrep.unchanged
    res.written = wrep.files
    from airwarn.features.atomic import write_with

    qc_dir = RunStore(data_dir).qc_dir
    qc_dir.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(qc_dir)
    if report_df is not None:
        res.qc_report = write_with(qc_dir / f"{stamp}.csv",
                                   lambda t: report_df.to_csv(t, index=False))
    if len(rejected):
        res.rejected_file = write_with(qc_dir / f"{stamp}_rejected.csv",
                                       lambda t: rejected.to_csv(t, index=False))
    return res


def _detect_met(path: Path) -> str:
    from airwarn.features.readers.met import netcdf_kind
    from airwarn.features.readers.registry import detect_format

    if path.suffix.lower() == ".nc":
        netcdf_kind(path)  # a damaged .nc file: "not a readable NetCDF file (…)"
    return detect_format(path, kinds=("met_grid",)).name


def is_met_file(path: Path) -> bool:
    """A meteorology file: ``.nc`` by name, or GRIB by its first bytes (any name, e.g.
    ``gfs.t00z.pgrb2.0p25.f006``)."""
    if path.suffix.lower() == ".nc":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"GRIB"
    except OSError:
        return False


@dataclass
class MetIngestResult:
    """What one meteorology ingest did: files written and the catalog entry of every cycle."""

    written: list[Path] = field(default_factory=list)
    cycles: list[dict] = field(default_factory=list)


def ingest_met(paths: list[Path], data_dir: Path, *, fmt: str = "auto", cycle: bool = False,
               reference_time: str | None = None, source: str | None = None,
               strict: bool = False, progress: Progress | None = None) -> MetIngestResult:
    """Read meteorology files to ERA5 names, check them and store them (all-or-nothing).

    GRIB files (recognised by their bytes, the centre by their header) are grouped by
    reference time, whatever their order, and merged into ``met/cycles/YYYYMMDDHH.nc`` with
    the catalog (``features.met_cycles``). NetCDF files with a forecast reference time
    (coordinate, attribute or ``reference_time``), WRF output and ``cycle=True`` are cycles
    too; other NetCDF files are analyses (``met/analysis/YYYY-MM.nc``). Every file is read and
    checked (``features.met_checks``: domain coverage, plausible values, missing share,
    duplicated steps) before anything is written.

    Parameters
    ----------
    paths : list of Path
    data_dir : Path
    fmt : str
        ``auto`` (detect) or a registered ``met_grid`` format (``grib2``, ``era5``, ``wrf``,
        ``cf``).
    cycle : bool
        Store NetCDF as a forecast cycle even without a reference time in the file (then
        ``reference_time`` is required).
    reference_time : str, optional
        Forecast reference time (UTC ISO) for CF files that lack one.
    source : str, optional
        NWP source profile id (``configs/nwp/<id>.yaml``) instead of detecting the centre.
    strict : bool
        Refuse cycles that do not reach the end of D+3 for the issue they serve.

    Raises
    ------
    features.readers.met.MetReaderError, ValueError
        Bad input; nothing has been written.
    """
    from airwarn.features.met_checks import check_coverage, check_dataset
    from airwarn.features.met_cycles import store_cycles
    from airwarn.features.readers.grib import read_grib2_cycles
    from airwarn.features.readers.met import MetReaderError, reference_time_of
    from airwarn.features.readers.registry import get_format
    from airwarn.features.store import write_met_analysis

    task = progress.add_task("reading", total=len(paths)) if progress else None
    kinds = {p: (_detect_met(p) if fmt == "auto" else fmt) for p in paths}
    cycles: list[tuple] = []
    analyses: list = []
    gribs = [p for p in paths if kinds[p] == "grib2"]
    if gribs:
        for ds, meta in read_grib2_cycles(gribs, source):
            check_coverage(ds["latitude"].values, ds["longitude"].values,
                           ", ".join(meta["files"]))
            cycles.append((ds, meta))
        if progress is not None and task is not None:
            progress.update(task, advance=len(gribs), description=f"read {len(gribs)} GRIB file(s)")
    for p in paths:
        kind = kinds[p]
        if kind == "grib2":
            continue
        reader = get_format(kind).read
        ref = reference_time if kind != "wrf" else None
        if ref is None and cycle and kind != "wrf":
            import xarray as xr

            with xr.open_dataset(p, decode_times=True) as raw:
                if reference_time_of(raw, str(p)) is None:
                    raise MetReaderError(f"{p}: --cycle but no forecast_reference_time "
                                         f"(coordinate or attribute); pass --reference-time")
        ds = (reader(p, reference_time=ref) if ref is not None else reader(p)).load()
        ds = check_dataset(ds, str(p))
        if kind == "wrf" or cycle or ds.attrs.get("forecast_reference_time"):
            cycles.append((ds, {"source": kind, "files": [str(p)]}))
        else:
            analyses.append(ds)
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=f"read {p.name} ({kind})")
    res = MetIngestResult()
    analysis = None
    for ds in analyses:  # one Dataset, so that the store validates every month before writing
        if analysis is not None:
            for c in ("latitude", "longitude"):
                if ds[c].shape != analysis[c].shape or not np.allclose(ds[c], analysis[c]):
                    raise MetReaderError(f"analyses on different grids in one ingest ({c!r}); "
                                         f"expected one grid — ingest them separately")
        analysis = ds if analysis is None else ds.combine_first(analysis)
    if cycles:
        entries = store_cycles(data_dir, cycles, strict=strict)
        res.cycles = entries
        res.written += [Path(e["path"]) for e in entries]
    if analysis is not None:
        res.written += write_met_analysis(analysis, data_dir)
    res.written = list(dict.fromkeys(res.written))
    return res


def ingest_met_files(paths: list[Path], data_dir: Path, *, fmt: str = "auto",
                     cycle: bool = False, progress: Progress | None = None) -> list[Path]:
    """Read meteorology files to ERA5 names and store them (analyses by month, or cycles).

    All files are read and checked before anything is written. Returns the files written
    (:func:`ingest_met` returns the cycle catalog entries too).
    """
    return ingest_met(paths, data_dir, fmt=fmt, cycle=cycle, progress=progress).written


def ingest_met_obs_files(paths: list[Path], data_dir: Path, *, fmt: str = "auto",
                         names: dict[Path, str] | None = None) -> tuple[object, pd.DataFrame]:
    """Read station-meteorology files (CMA surface exports, …) and store them in
    ``<data_dir>/met/obs/`` (all files read and checked before anything is written).

    Returns
    -------
    (features.store.WriteReport, DataFrame)
        What was stored, and the point table read (later files win on a repeated
        station-hour). The table's ``attrs["notes"]`` (list of str) says, file by file, what
        the readers set missing or superseded and which station-hours a later file replaced —
        nothing is dropped without a line.
    """
    from airwarn.features.met_obs import validate_met_obs, write_met_obs
    from airwarn.features.readers.plausibility import check_station_rows
    from airwarn.features.readers.registry import detect_format, get_format

    frames, notes = [], []
    for p in paths:
        f = detect_format(p, kinds=("met_obs",)) if fmt == "auto" else get_format(fmt)
        met = f.read(p)
        shown = (names or {}).get(p, str(p))
        check_station_rows(met, shown, f.name)
        notes += [f"{shown}: {n}" for n in met.attrs.get("notes", [])]
        frames.append(met)
    allm = pd.concat(frames, ignore_index=True)
    n_later = int(allm.duplicated(["time", "station_id"], keep="last").sum())
    if n_later:
        notes.append(f"{n_later} station-hour(s) given by more than one file: the last file's "
                     f"row kept")
    allm = validate_met_obs(allm.drop_duplicates(["time", "station_id"], keep="last"),
                            "station meteorology")
    allm.attrs = {}  # the readers' attrs (file names, counts) are not the store's metadata
    wrep = write_met_obs(allm, data_dir)
    allm.attrs["notes"] = notes
    return wrep, allm


def kind_of(members: list, fmt: str, domain: Path | None) -> str:
    """The one kind of data (obs, met_obs, met_grid) the members carry."""
    from airwarn.features.readers.registry import detect_format, get_format
    from airwarn.features.readers.stations import STATION_FORMATS

    if domain is not None or fmt in STATION_FORMATS[1:]:
        return "obs"
    if fmt != "auto":
        return get_format(fmt).kind
    kinds: dict[str, list[str]] = {}
    for m in members:
        k = "met_grid" if is_met_file(m.path) else detect_format(m.path).kind
        kinds.setdefault(k, []).append(m.display)
    if len(kinds) > 1:
        found = "; ".join(f"{k}: {', '.join(v[:3])}{' …' if len(v) > 3 else ''}"
                          for k, v in kinds.items())
        raise ValueError(f"give station observations (obs), station meteorology (met_obs) and "
                         f"gridded meteorology (met_grid) in separate ingests; found {found}")
    return next(iter(kinds))


