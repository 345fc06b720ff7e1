"""``airwarn stations update FILE…``: extend / correct the station table from the stations seen
in CNEMC hourly files (or a national station list).

Prints what would change (new stations and their unit, moved and renamed stations, stations
outside the domain, listed stations not seen, units with a station before → after) and a diff of
``stations.csv``; writes only with ``--write`` (the configuration's ``stations.csv``) or
``--out PATH``, atomically. The logic is :mod:`features.station_update`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]


def _print_report(upd: object, console: Console, n_seen: int) -> None:
    from airwarn.features.station_update import StationUpdate

    assert isinstance(upd, StationUpdate)
    t = Table(title=f"stations update: {n_seen} station(s) seen")
    t.add_column("", style="bold")
    t.add_column("count", justify="right")
    for label, n in [("new, placed in a unit", len(upd.added)), ("moved (> 500 m)", len(upd.moved)),
                     ("renamed", len(upd.renamed)), ("outside every unit (not added)",
                                                     len(upd.outside)),
                     ("listed, not seen (kept)", len(upd.not_seen)),
                     ("units with a station: before", len(upd.units_before)),
                     ("units with a station: after", len(upd.units_after))]:
        t.add_row(label, f"{n:,}")
    console.print(t)
    for r in upd.added.itertuples(index=False):
        console.print(f"  + {r.station_id} {r.name} → {r.sub_region} ({r.city}{r.district}; "
                      f"{r.lon:.4f}, {r.lat:.4f})")
    for r in upd.moved.itertuples(index=False):
        unit = f"; unit {r.old_unit} → {r.unit}" if r.unit != r.old_unit else ""
        console.print(f"  ~ {r.station_id} {r.name} moved {r.distance_m:,.0f} m "
                      f"({r.old_lon:.4f}, {r.old_lat:.4f}) → ({r.lon:.4f}, {r.lat:.4f}){unit}")
    for r in upd.renamed.itertuples(index=False):
        console.print(f"  ~ {r.station_id} renamed {r.old_name} → {r.name} (check name_en)")
    if len(upd.outside):
        areas = upd.outside["area"].value_counts()
        console.print(f"outside the domain ({len(upd.outside)}): "
                      + ", ".join(f"{a} {n}" for a, n in areas.head(12).items())
                      + (" …" if len(areas) > 12 else ""))
    if upd.not_seen:
        console.print(f"listed but not seen (kept): {', '.join(upd.not_seen[:15])}"
                      f"{' …' if len(upd.not_seen) > 15 else ''}")
    gained = [u for u in upd.units_after if u not in upd.units_before]
    if gained:
        console.print(f"units gaining their first station: {', '.join(gained)}")


def register(app: typer.Typer) -> None:
    """Add the ``stations`` command group (``stations update``) to the CLI."""
    stations_app = typer.Typer(help="The station table (configs/stations.csv).",
                               no_args_is_help=True)

    @stations_app.command("update")
    def update_cmd(
        sources: list[Path] = typer.Argument(..., help="CNEMC hourly files (also .gz/.zip, "
                                                       "directories) or a station list "
                                                       "(ID,stations_name,…,lon,lat)."),
        write: bool = typer.Option(False, "--write",
                                   help="Write the configuration's stations.csv."),
        out: Path = typer.Option(None, "--out", help="Write the updated table here instead."),
        table: Path = typer.Option(None, "--stations",
                                   help="Table to update (default: the configuration's)."),
        show_diff: bool = typer.Option(True, "--diff/--no-diff", help="Print the CSV diff."),
    ) -> None:
        """Extend the station table with the stations seen (placed by district polygons)."""
        from airwarn.configs.schema import ConfigError
        from airwarn.features.readers.archive import display_message, open_sources
        from airwarn.features.readers.common import ReaderError
        from airwarn.features.station_update import (
            read_seen_stations,
            table_diff,
            update_station_table,
        )
        from airwarn.features.stations_table import STATION_TABLE_COLUMNS, write_station_table

        from airwarn import configs

        console = Console()
        target = Path(table) if table else configs.config_dir() / "stations.csv"
        try:
            region = configs.load_region()
            current = configs.load_stations(target, region)
            with open_sources(sources) as members:
                try:
                    seen = read_seen_stations([m.path for m in members])
                except (ReaderError, ValueError) as exc:
                    raise ReaderError(display_message(str(exc), members)) from None
            upd = update_station_table(current, seen, region)
        except (ReaderError, FileNotFoundError, ConfigError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            typer.secho("nothing was written", err=True)
            raise typer.Exit(code=2) from None
        _print_report(upd, console, len(seen))
        new_text = upd.table[STATION_TABLE_COLUMNS].to_csv(index=False, float_format="%.4f",
                                                           lineterminator="\n")
        old_text = target.read_text(encoding="utf-8") if target.exists() else ""
        if show_diff and new_text != old_text:
            console.print(table_diff(old_text, new_text, target.name), markup=False,
                          highlight=False)
        dest = out if out is not None else (target if write else None)
        if dest is None:
            console.print("dry run: nothing written (pass --write, or --out PATH)")
            return
        written = write_station_table(upd.table, dest)
        console.print(f"wrote {written} ({len(upd.table)} stations in "
                      f"{len(upd.units_after)} units)")

    app.add_typer(stations_app, name="stations")
