"""``airwarn ingest``: read raw station files, quality-control them, append to the canonical store.

Steps: read every SOURCE (all files are read and checked before anything is written; one bad
file stops the ingest with one clear message and the store unchanged) → merge them (later files
win, conflicts flagged) → QC with the stored neighbouring hours as context → ``write_obs``
(idempotent: identical rows unchanged, changed rows replaced and counted) → QC report
``<data_dir>/obs/qc/<stamp>.csv`` and, if any, the rejected records
``<data_dir>/obs/qc/<stamp>_rejected.csv``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from airwarn.features.ingest import (  # re-exported: the ingest work lives in features.ingest
    MET_FORMATS,
    IngestResult,
    MetIngestResult,
    expand_sources,
    ingest_files,
    ingest_met,
    ingest_met_files,
    ingest_met_obs_files,
    is_met_file,
    kind_of,
)
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from airwarn.core.runstore import RunStore

__all__ = ["IngestResult", "MET_FORMATS", "MetIngestResult", "expand_sources", "ingest_files",
           "ingest_met", "ingest_met_files", "ingest_met_obs_files", "is_met_file",
           "print_met_result", "register"]


def print_met_result(res: MetIngestResult, n_files: int, console: Console) -> None:
    """Print what a meteorology ingest stored, cycle by cycle (partial cycles said so)."""
    console.print(f"meteorology: {n_files} file(s) read, stored as ERA5 names and units:")
    for w in res.written:
        console.print(f"  {w}")
    for e in res.cycles:
        steps = e["steps"]
        span = f"{min(steps)}–{max(steps)} h ({len(steps)} steps)" if steps else "no steps"
        line = (f"  cycle {e['reference_time']} [{e.get('source') or '?'}]: {span}, "
                f"complete to {e['complete_to']} h; serves the issue of {e['serves_issue']} "
                f"(needs {e['d3_step']} h, end of D+3): ")
        if e.get("replaced_steps"):
            from airwarn.features.met_cycles import describe_replaced

            console.print(f"  cycle {e['reference_time']}: [yellow]replaced[/] the stored values "
                          f"of {describe_replaced(e['replaced_steps'])} with these files'")
        if e["reaches_d3"]:
            console.print(line + "[green]complete[/]")
        else:
            gaps = e["missing_steps"][:6]
            console.print(line + f"[yellow]PARTIAL[/] — usable to {e['valid_until']}"
                          + (f"; steps still missing {gaps}" if gaps else ""))


def _ingest_members(members: list, ddir: Path, *, fmt: str, domain: Path | None, cycle: bool,
                    qc: bool, stations: pd.DataFrame, console: Console,
                    reference_time: str | None = None, nwp_source: str | None = None,
                    strict: bool = False) -> IngestResult | None:
    """Route the readable files to the store of their kind; print met results here."""
    paths = [m.path for m in members]
    names = {m.path: m.display for m in members}
    kind = kind_of(members, fmt, domain)
    if kind == "met_grid":
        with Progress(TextColumn("{task.description}"), BarColumn(), console=console,
                      transient=True) as progress:
            mres = ingest_met(paths, ddir, fmt=fmt, cycle=cycle, progress=progress,
                              reference_time=reference_time, source=nwp_source, strict=strict)
        print_met_result(mres, len(paths), console)
        return None
    if kind == "met_obs":
        wrep, met = ingest_met_obs_files(paths, ddir, fmt=fmt, names=names)
        _print_met_obs(wrep, met, len(paths), console, ddir)
        return None
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        return ingest_files(paths, ddir, fmt=fmt, domain_path=domain, stations=stations, qc=qc,
                            progress=progress, names=names)


def _print_met_obs(wrep: object, met: pd.DataFrame, n_files: int, console: Console,
                   data_dir: Path) -> None:
    from airwarn.features.met_obs import load_met_stations, met_obs_dir

    t = Table(title=f"ingest: {n_files} station-meteorology file(s) → "
                    f"{met_obs_dir(data_dir).resolve()}")
    t.add_column("", style="bold")
    t.add_column("count", justify="right")
    for label, n in [("station-hour rows", len(met)), ("stations", met["station_id"].nunique()),
                     ("added", wrep.added), ("replaced", wrep.replaced),  # type: ignore[attr-defined]
                     ("unchanged", wrep.unchanged)]:  # type: ignore[attr-defined]
        t.add_row(label, f"{n:,}")
    console.print(t)
    if len(met):
        console.print(f"times {met['time'].min():%Y-%m-%d %H:%M} … "
                      f"{met['time'].max():%Y-%m-%d %H:%M} UTC")
        known = set(load_met_stations()["station_id"])
        unknown = sorted(set(met["station_id"]) - known)
        if unknown:
            console.print(f"[yellow]{len(unknown)} station(s) not in configs/met_stations.csv "
                          f"(stored, not used for units):[/] {', '.join(unknown[:10])}"
                          f"{' …' if len(unknown) > 10 else ''}")
    for note in met.attrs.get("notes", []):
        console.print(f"[yellow]{escape(note)}[/]")


def _print(res: IngestResult, console: Console, data_dir: Path) -> None:
    t = Table(title=f"ingest: {len(res.files)} file(s) → {RunStore(data_dir.resolve()).obs_dir}")
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
        sources: list[Path] = typer.Argument(None, help="Files (also .gz, .bz2, .zip), "
                                                        "directories or glob patterns "
                                                        "(default with --domain: its files)."),
        fmt: str = typer.Option("auto", "--format", "-f",
                                help="cnemc, china_sites, long, stateair, openaq, canonical, "
                                     "domain; station meteorology: cma_surface; gridded "
                                     "meteorology: grib2, era5, wrf, cf (default: detect)."),
        domain: Path = typer.Option(None, "--domain", "-d",
                                    help="Domain YAML with the column mapping "
                                         "(configs/domains/*.yaml)."),
        data_dir: Path = typer.Option(None, "--data-dir",
                                      help="Data directory (default AIRWARN_DATA_DIR or ./data)."),
        no_qc: bool = typer.Option(False, "--no-qc", help="Store without quality control."),
        cycle: bool = typer.Option(False, "--cycle",
                                   help="Meteorology: store as a forecast cycle "
                                        "(met/cycles/YYYYMMDDHH.nc) instead of analyses."),
        reference_time: str = typer.Option(None, "--reference-time",
                                           help="Meteorology: forecast reference time (UTC ISO) "
                                                "of CF files that lack forecast_reference_time."),
        nwp_source: str = typer.Option(None, "--source",
                                       help="NWP source profile (configs/nwp/<id>.yaml) instead "
                                            "of detecting the GRIB centre."),
        strict: bool = typer.Option(False, "--strict",
                                    help="Meteorology: refuse a cycle that does not reach the "
                                         "end of D+3 (default: stored as partial)."),
        watch: Path = typer.Option(None, "--watch",
                                   help="Inbox folder: ingest each new file once (ledger by "
                                        "content hash), quarantine bad ones (flows/inbox.py)."),
        once: bool = typer.Option(False, "--once", help="With --watch: one pass, then exit."),
    ) -> None:
        """Read raw station files (QC, idempotent store) or meteorology files (ERA5 names)."""
        from airwarn.configs.schema import ConfigError
        from airwarn.features.readers.archive import display_message, open_sources
        from airwarn.features.readers.common import ReaderError
        from airwarn.features.store import ObsSchemaError

        from airwarn import configs

        console = Console()
        cfg = configs.load_config()
        ddir = Path(data_dir or cfg.settings.data_dir)
        if watch is not None:
            from airwarn.flows.inbox import run_watch

            if not watch.is_dir():
                typer.secho(f"error: {watch}: no such folder to watch", err=True,
                            fg=typer.colors.RED)
                raise typer.Exit(code=2)
            raise typer.Exit(code=run_watch(watch, ddir, once=once))
        try:
            if sources:
                paths = expand_sources(list(sources))
            elif domain is not None:
                from airwarn.configs.domain_schema import datasets_dir, load_domain

                paths = load_domain(domain).paths()
                if not paths:
                    raise FileNotFoundError(f"{domain}: its files {load_domain(domain).files} "
                                            f"match nothing under {datasets_dir()}")
            else:
                raise FileNotFoundError("no SOURCE given (name files, or a --domain)")
            with open_sources(paths) as members:
                try:
                    res = _ingest_members(members, ddir, fmt=fmt, domain=domain, cycle=cycle,
                                          qc=not no_qc, stations=cfg.stations, console=console,
                                          reference_time=reference_time, nwp_source=nwp_source,
                                          strict=strict)
                except (ReaderError, ObsSchemaError, FileNotFoundError, ConfigError,
                        ValueError) as exc:
                    exc.args = (display_message(str(exc), members),)
                    raise
            if res is None:
                return
        except (ReaderError, ObsSchemaError, FileNotFoundError, ConfigError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            typer.secho("nothing was written; the store is unchanged", err=True)
            raise typer.Exit(code=2) from None
        _print(res, console, ddir)
