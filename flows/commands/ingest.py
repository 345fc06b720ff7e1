"""``airwarn ingest``: read raw station files, quality-control them, append to the canonical store.

Steps: read every SOURCE (all files are read and checked before anything is written; one bad
file stops the ingest with one clear message and the store unchanged) → merge them (later files
win, conflicts flagged) → QC with the stored neighbouring hours as context → ``write_obs``
(idempotent: identical rows unchanged, changed rows replaced and counted) → QC report
``<data_dir>/obs/qc/<stamp>.csv`` and, if any, the rejected records
``<data_dir>/obs/qc/<stamp>_rejected.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["IngestResult", "MET_FORMATS", "expand_sources", "ingest_files", "ingest_met_files",
           "register"]

_SUFFIXES = {".csv", ".txt", ".parquet", ".nc"}
#: Meteorology formats: stored as analyses (met/analysis/YYYY-MM.nc) or, with --cycle or for
#: WRF, as forecast cycles (met/cycles/YYYYMMDDHH.nc).
MET_FORMATS = ("era5", "wrf", "cf")


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
                 qc: bool = True, progress: Progress | None = None) -> IngestResult:
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

    Returns
    -------
    IngestResult

    Raises
    ------
    features.readers.common.ReaderError, features.store.ObsSchemaError, ConfigError
        Bad input; nothing has been written.
    """
    from configs.domain_schema import load_domain
    from features.qc import qc_report, run_qc
    from features.readers.common import ReadReport, combine_obs
    from features.readers.stations import read_station_file
    from features.store import obs_dir, read_obs, write_obs

    domain = load_domain(domain_path) if domain_path is not None else None
    res = IngestResult(files=list(paths))
    frames, reports = [], []
    task = progress.add_task("reading", total=len(paths)) if progress else None
    for p in paths:
        rep = ReadReport()
        frames.append(read_station_file(p, fmt, domain=domain, report=rep))
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
    from features.atomic import write_with

    qc_dir = obs_dir(data_dir) / "qc"
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
    from features.readers.met import netcdf_kind
    from features.readers.registry import detect_format

    if path.suffix.lower() == ".nc":
        netcdf_kind(path)  # a damaged .nc file: "not a readable NetCDF file (…)"
    return detect_format(path, kinds=("met_grid",)).name


def ingest_met_files(paths: list[Path], data_dir: Path, *, fmt: str = "auto",
                     cycle: bool = False, progress: Progress | None = None) -> list[Path]:
    """Read meteorology files to ERA5 names and store them (analyses by month, or cycles).

    All files are read and converted before anything is written. Returns the files written.
    """
    from features.readers.registry import get_format
    from features.store import write_met_analysis, write_met_cycle

    task = progress.add_task("reading", total=len(paths)) if progress else None
    loaded = []
    for p in paths:
        kind = _detect_met(p) if fmt == "auto" else fmt
        ds = get_format(kind).read(p).load()
        loaded.append((kind, ds))
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=f"read {p.name} ({kind})")
    written: list[Path] = []
    for kind, ds in loaded:
        if cycle or kind == "wrf":
            written.append(write_met_cycle(ds, data_dir))
        else:
            written += write_met_analysis(ds, data_dir)
    return list(dict.fromkeys(written))


def _print(res: IngestResult, console: Console, data_dir: Path) -> None:
    t = Table(title=f"ingest: {len(res.files)} file(s) → {data_dir.resolve() / 'obs'}")
    t.add_column("", style="bold")
    t.add_column("count", justify="right")
    for label, n in [("records read", res.records), ("station-hour rows", res.rows),
                     ("added", res.added), ("replaced", res.replaced),
                     ("unchanged", res.unchanged), ("rejected records", res.rejected),
                     ("identical duplicates merged", res.duplicates_identical),
                     ("conflicting duplicates (last valid kept)", res.duplicates_conflicting),
                     ("rows with QC flags", res.qc_flagged_rows)]:
        t.add_row(label, f"{n:,}")
    console.print(t)
    if res.ignored:
        console.print("ignored (not hourly concentrations): "
                      + ", ".join(f"{k} {v:,}" for k, v in sorted(res.ignored.items())))
    if res.unknown_stations:
        more = f" … (+{len(res.unknown_stations) - 10})" if len(res.unknown_stations) > 10 else ""
        console.print(f"[yellow]{len(res.unknown_stations)} station(s) not in configs/stations.csv "
                      f"(stored, not aggregated to units):[/] "
                      f"{', '.join(res.unknown_stations[:10])}{more}")
    if res.replaced:
        console.print(f"[cyan]{res.replaced:,} stored row(s) replaced by corrected values[/]")
    if not res.added and not res.replaced:
        console.print("store unchanged (everything was already stored)")
    if res.qc_report:
        console.print(f"QC report: {res.qc_report}")
    if res.rejected_file:
        console.print(f"rejected records: {res.rejected_file}")


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to the CLI."""

    @app.command("ingest")
    def ingest_cmd(
        sources: list[Path] = typer.Argument(None, help="Files, directories or glob patterns "
                                                        "(default with --domain: its files)."),
        fmt: str = typer.Option("auto", "--format", "-f",
                                help="china_sites, long, stateair, openaq, canonical, domain; "
                                     "meteorology: era5, wrf, cf (default: detect)."),
        domain: Path = typer.Option(None, "--domain", "-d",
                                    help="Domain YAML with the column mapping "
                                         "(configs/domains/*.yaml)."),
        data_dir: Path = typer.Option(None, "--data-dir",
                                      help="Data directory (default AIRWARN_DATA_DIR or ./data)."),
        no_qc: bool = typer.Option(False, "--no-qc", help="Store without quality control."),
        cycle: bool = typer.Option(False, "--cycle",
                                   help="Meteorology: store as a forecast cycle "
                                        "(met/cycles/YYYYMMDDHH.nc) instead of analyses."),
        watch: Path = typer.Option(None, "--watch",
                                   help="Inbox folder: ingest each new file once (ledger by "
                                        "content hash), quarantine bad ones (flows/inbox.py)."),
        once: bool = typer.Option(False, "--once", help="With --watch: one pass, then exit."),
    ) -> None:
        """Read raw station files (QC, idempotent store) or meteorology files (ERA5 names)."""
        import configs
        from configs.schema import ConfigError
        from features.readers.common import ReaderError
        from features.store import ObsSchemaError

        console = Console()
        cfg = configs.load_config()
        ddir = Path(data_dir or cfg.settings.data_dir)
        if watch is not None:
            from flows.inbox import run_watch

            if not watch.is_dir():
                typer.secho(f"error: {watch}: no such folder to watch", err=True,
                            fg=typer.colors.RED)
                raise typer.Exit(code=2)
            raise typer.Exit(code=run_watch(watch, ddir, once=once))
        try:
            if sources:
                paths = expand_sources(list(sources))
            elif domain is not None:
                from configs.domain_schema import datasets_dir, load_domain

                paths = load_domain(domain).paths()
                if not paths:
                    raise FileNotFoundError(f"{domain}: its files {load_domain(domain).files} "
                                            f"match nothing under {datasets_dir()}")
            else:
                raise FileNotFoundError("no SOURCE given (name files, or a --domain)")
            is_met = [p.suffix.lower() == ".nc" for p in paths]
            if fmt in MET_FORMATS or (fmt == "auto" and any(is_met)):
                if not all(is_met):
                    raise ValueError("give meteorology (.nc) and station files in separate "
                                     "ingests")
                with Progress(TextColumn("{task.description}"), BarColumn(), console=console,
                              transient=True) as progress:
                    written = ingest_met_files(paths, ddir, fmt=fmt, cycle=cycle,
                                               progress=progress)
                console.print(f"meteorology: {len(paths)} file(s) read, stored as "
                              f"ERA5 names and units:")
                for w in written:
                    console.print(f"  {w}")
                return
            with Progress(TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                          console=console, transient=True) as progress:
                res = ingest_files(paths, ddir, fmt=fmt, domain_path=domain,
                                   stations=cfg.stations, qc=not no_qc, progress=progress)
        except (ReaderError, ObsSchemaError, FileNotFoundError, ConfigError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            typer.secho("nothing was written; the store is unchanged", err=True)
            raise typer.Exit(code=2) from None
        _print(res, console, ddir)
