"""``airwarn run``: run a flow now (daily, backfill, retrain, monthly) through Prefect."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from airwarn import configs
from airwarn.core.runstore import RunStore

__all__ = ["register", "print_manifest"]

_STATUS_STYLE = {"ok": "green", "reused": "cyan", "degraded": "yellow", "skipped": "dim",
                 "not available": "magenta", "failed": "bold red"}


def print_manifest(manifest: dict[str, Any], console: Console | None = None) -> None:
    """Print a run manifest as a table of stages, then degraded inputs and the manifest path."""
    console = console or Console()
    table = Table(title=f"daily run {manifest.get('stamp')} — {manifest.get('status')}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("s", justify="right")
    table.add_column("what")
    for s in manifest.get("stages", []):
        style = _STATUS_STYLE.get(s["status"], "")
        table.add_row(s["name"], f"[{style}]{s['status']}[/]" if style else s["status"],
                      f"{s.get('seconds', 0):.1f}", s.get("detail", ""))
    console.print(table)
    deg = manifest.get("degraded_inputs") or []
    if deg:
        console.print(f"[yellow]以降级输入发布 / issued with reduced inputs ({len(deg)}):[/]")
        for d in deg[:12]:
            console.print(f"  - {d}")
        if len(deg) > 12:
            console.print(f"  … and {len(deg) - 12} more (see the manifest)")
    if manifest.get("data_dir") and manifest.get("stamp"):
        console.print(f"manifest: {RunStore(manifest['data_dir']).manifest(manifest['stamp'])}")


def register(app: typer.Typer) -> None:
    """Add the ``run`` command group to the CLI."""
    run_app = typer.Typer(help="Run a flow now (through Prefect): daily, backfill, retrain, "
                               "monthly.", no_args_is_help=True)

    @run_app.command("daily")
    def daily_cmd(
        issue_time: str = typer.Option(None, "--issue-time",
                                       help="Issue time, e.g. 2026-11-28T15:00 (Asia/Shanghai); "
                                            "default the latest scheduled one."),
        met: str = typer.Option("auto", help="Meteorology: auto, cycles, demo, perfect, none."),
        no_products: bool = typer.Option(False, "--no-products",
                                         help="Forecast and warnings only."),
        no_delivery: bool = typer.Option(False, "--no-delivery", help="Do not send bulletins."),
        lock_timeout: float = typer.Option(600.0, help="Seconds to wait for a concurrent run."),
    ) -> None:
        """The daily forecast run: forecasts, warnings, maps, report, bulletins, delivery."""
        from airwarn.flows.checks import MET_CHOICES_AUTO
        from airwarn.flows.daily import PRODUCT_STAGES, RunFailed, daily_forecast, parse_issue_time
        from airwarn.flows.errors import check_choice, require_writable
        from airwarn.flows.locks import LockBusy

        check_choice(met, MET_CHOICES_AUTO, "--met")
        if issue_time is not None:
            try:
                parse_issue_time(issue_time)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--issue-time") from None
        require_writable(configs.data_dir())
        products = [] if no_products else [p for p in PRODUCT_STAGES
                                           if not (no_delivery and p == "delivery")]
        try:
            manifest = daily_forecast(issue_time=issue_time, met=met, products=products,
                                      lock_timeout=lock_timeout)
        except LockBusy as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(3) from None
        except RunFailed as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None
        print_manifest(manifest)

    @run_app.command("backfill")
    def backfill_cmd(
        start: str = typer.Option(..., "--start", help="First issue date/time (Asia/Shanghai)."),
        end: str = typer.Option(..., "--end", help="Last issue date/time (Asia/Shanghai)."),
        met: str = typer.Option("auto", help="Meteorology: auto, cycles, demo, perfect, none."),
        no_warnings: bool = typer.Option(False, "--no-warnings", help="Forecasts only."),
        products: str = typer.Option("", help="Comma list of maps,report,bulletins to render."),
        dask_address: str = typer.Option(None, "--dask-address",
                                         help="tcp://host:port of an existing Dask scheduler."),
        workers: int = typer.Option(None, help="Threads of the local Dask cluster."),
    ) -> None:
        """Rerun past issue times (forecasts fanned out on Dask, then warnings in order)."""
        from airwarn.flows.backfill import run_backfill
        from airwarn.flows.checks import MET_CHOICES_AUTO
        from airwarn.flows.errors import check_choice, parse_time_option, require_writable

        check_choice(met, MET_CHOICES_AUTO, "--met")
        require_writable(configs.data_dir())
        t0, t1 = parse_time_option(start, "--start"), parse_time_option(end, "--end")
        if t1 < t0:
            raise typer.BadParameter(f"the end {end} is before the start {start}",
                                     param_hint="--end")
        bad = sorted(set(p for p in products.split(",") if p) - {"maps", "report", "bulletins"})
        if bad:
            raise typer.BadParameter(f"expected a comma list of maps, report, bulletins; got "
                                     f"{', '.join(bad)}", param_hint="--products")
        rows = run_backfill(start, end, met=met, warnings=not no_warnings,
                            products=[p for p in products.split(",") if p],
                            dask_address=dask_address, workers=workers)
        console = Console()
        table = Table(title=f"backfill {start} … {end}: {len(rows)} issue times")
        for col in ("issue_time", "status", "forecast", "degraded", "error"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["issue_time"], r["status"], r["forecast"], str(r["degraded"]),
                          (r["error"] or "")[:80])
        console.print(table)
        if any(r["status"] == "failed" for r in rows):
            raise typer.Exit(1)

    @run_app.command("retrain")
    def retrain_cmd(
        until: str = typer.Option(None, help="Train on observations before this time."),
        met: str = typer.Option("auto", help="Meteorology: auto, cycles, demo, perfect, none."),
        compare_weeks: int = typer.Option(8, help="Hold-out weeks for the comparison."),
        dask_address: str = typer.Option(None, "--dask-address",
                                         help="tcp://host:port of an existing Dask scheduler."),
    ) -> None:
        """Weekly retraining: train, compare with the current models, promote if no worse."""
        from airwarn.flows.checks import MET_CHOICES_AUTO
        from airwarn.flows.errors import check_choice, parse_time_option
        from airwarn.flows.retrain import run_retrain_flow

        check_choice(met, MET_CHOICES_AUTO, "--met")
        if until is not None:
            parse_time_option(until, "--until")
        out = run_retrain_flow(until, met=met, compare_weeks=compare_weeks,
                               dask_address=dask_address)
        Console().print_json(json.dumps(out, ensure_ascii=False, default=str))

    @run_app.command("monthly")
    def monthly_cmd(
        month: str = typer.Option(None, help="YYYY-MM (default the previous month)."),
    ) -> None:
        """The monthly 会商 verification report."""
        import re

        from airwarn.flows.monthly import monthly_review

        if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise typer.BadParameter(f"expected YYYY-MM, e.g. 2026-01; got {month!r}",
                                     param_hint="--month")
        out = monthly_review(month=month)
        Console().print_json(json.dumps(out, ensure_ascii=False, default=str))

    app.add_typer(run_app, name="run")
