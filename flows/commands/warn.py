"""``airwarn warn``: turn a run's forecast file into warning decisions, register rows and control
orders (``warnings/<stamp>.json``, ``warnings/<stamp>_orders.csv``). Rerunning changes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import configs
from configs.warning_schema import LEVEL_ZH


def _parse_time(text: str, tz: str) -> pd.Timestamp:
    try:
        if len(text) == 13 and text[8] == "T" and text.replace("T", "").isdigit():
            ts = pd.to_datetime(text, format="%Y%m%dT%H%M")
        else:
            ts = pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO time (2026-01-10T15:00, local if naive) or a "
                                 f"stamp (20260110T1500), got {text!r}", param_hint="--issue-time") from None
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def register(app: typer.Typer) -> None:
    """Add the ``warn`` command to the CLI."""

    @app.command("warn")
    def warn_cmd(
        issue_time: str = typer.Option(..., "--issue-time", help="Issue time (local if naive) or stamp YYYYMMDDTHHMM."),
        forecast: Path = typer.Option(None, "--forecast", help="Forecast file (default <data_dir>/forecasts/<stamp>.nc)."),
    ) -> None:
        """Warnings, regional joint warnings and control orders for one run."""
        import xarray as xr

        from alerts.register import Register, register_path
        from alerts.warning import issue_stamp, orders_path, warn_run, warnings_path

        cfg = configs.load_config()
        t = _parse_time(issue_time, cfg.settings.timezone)
        stamp = issue_stamp(t, cfg.settings.timezone)
        path = forecast or cfg.data_dir / "forecasts" / f"{stamp}.nc"
        if not path.exists():
            typer.secho(f"error: forecast file not found: {path} (run `airwarn run --issue-time "
                        f"{t:%Y-%m-%dT%H:%M}` first, or give --forecast)", err=True, fg="red")
            raise typer.Exit(2)
        try:
            ds = xr.load_dataset(path)
        except (OSError, ValueError) as exc:
            typer.secho(f"error: {path}: not a readable NetCDF forecast file: {exc}", err=True, fg="red")
            raise typer.Exit(2) from None
        reg = Register(register_path(cfg.data_dir))
        n_before = reg.count("transitions")
        try:
            decisions = warn_run(ds, cfg, reg, t)
        except ValueError as exc:
            typer.secho(f"error: {path}: {exc}", err=True, fg="red")
            raise typer.Exit(2) from None
        new = reg.count("transitions") - n_before
        table = Table(title=f"warnings {stamp} ({len(decisions)} decisions, {new} new register rows)")
        for col in ("action", "level", "units", "from", "start", "end", "orders", "trigger"):
            table.add_column(col)
        for d in decisions:
            table.add_row(d.action, f"{d.level} {LEVEL_ZH.get(d.level, '')}", ", ".join(d.unit_ids),
                          d.previous_level, (d.start or "")[:16], (d.end or "")[:16],
                          str(len(d.control_orders)), d.trigger + (" · override" if d.override else ""))
        console = Console(width=160)
        console.print(table)
        short = [c for d in decisions for c in d.reduction_checks if not c["met"]]
        if short:
            console.print(f"reduction check: {len(short)} city × pollutant shortfalls, e.g. "
                          + "; ".join(f"{c['city']} {c['pollutant']} {c['level']} gap {c['gap']:g} t/d"
                                      for c in short[:3]))
        typer.echo(f"decisions: {warnings_path(cfg.data_dir, t)}")
        typer.echo(f"control orders: {orders_path(cfg.data_dir, t)}")
        typer.echo(f"register: {register_path(cfg.data_dir)}")
