"""``airwarn demo``: build the demo world, train, backfill, run today's forecast, show products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from airwarn.core.runstore import RunStore

__all__ = ["register", "products_table", "summary_table"]


def summary_table(summary: Any, max_rows: int = 200) -> Table:
    """Rich table of ``summarise_world``: per unit and season, days by AQI level."""
    table = Table(title="demo world: observed daily AQI level counts per unit and season "
                        "(synthetic demo)")
    cols = list(summary.columns)
    for c in cols:
        table.add_column(str(c), justify="left" if c in ("unit_id", "season") else "right")
    for _, row in summary.head(max_rows).iterrows():
        table.add_row(*[f"{v:.0f}" if isinstance(v, float) else str(v) for v in row.tolist()])
    if len(summary) > max_rows:
        table.caption = f"first {max_rows} of {len(summary)} rows"
    return table


def products_table(result: dict[str, Any], data_dir: Path) -> Table:
    """Rich table of the demo's products: what, how many, where."""
    daily = result.get("daily") or {}
    stamp = daily.get("stamp", "")
    table = Table(title=f"products of the {stamp} run ({daily.get('status', '?')})")
    table.add_column("product")
    table.add_column("n", justify="right")
    table.add_column("where")

    def rows_for(stage: str) -> list[str]:
        return [p["path"] for p in daily.get("products", []) if p["stage"] == stage]

    fc = rows_for("forecast")
    table.add_row("forecast (NetCDF)", str(len(fc)), ", ".join(fc))
    wr = rows_for("warnings")
    decisions = daily.get("decisions", [])
    levels: dict[str, int] = {}
    for d in decisions:
        levels[d["level"]] = levels.get(d["level"], 0) + 1
    table.add_row("warning decisions", str(len(decisions)),
                  (", ".join(wr) + "  " if wr else "") +
                  ", ".join(f"{k}: {v}" for k, v in sorted(levels.items())))
    maps = rows_for("maps")
    table.add_row("maps", str(len(maps)), str(Path(maps[0]).parent) if maps else "—")
    rep = rows_for("report")
    table.add_row("review report", str(len(rep)), ", ".join(rep) or "—")
    for did, files in (daily.get("bulletins") or {}).items():
        lvl = next((d["level"] for d in decisions if d["decision_id"] == did), "")
        first = next(iter(files.values()), "")
        table.add_row(f"bulletins {did} ({lvl})", str(len(files)),
                      str(Path(first).parent) if first else "—")
    monthly = result.get("monthly") or {}
    table.add_row(f"monthly report {monthly.get('month', '')}",
                  str(len(monthly.get("outputs", []))),
                  ", ".join(monthly.get("outputs", [])) or monthly.get("error", "—") or "—")
    bf = result.get("backfill") or []
    table.add_row("backfilled forecasts", str(sum(r["status"] != "failed" for r in bf)),
                  f"{RunStore(data_dir).forecasts_dir.relative_to(data_dir)}/")
    table.caption = f"paths relative to {data_dir.resolve()}"
    return table


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the CLI."""

    @app.command("demo")
    def demo_cmd(
        days: int = typer.Option(None, help="World length, days (default settings.demo_days)."),
        backfill_days: int = typer.Option(None, "--backfill-days",
                                          help="Issue days backfilled before today (default 30)."),
        end: str = typer.Option(None, "--end",
                                help="Issue time of today's run, e.g. 2026-01-20T15:00+08:00 "
                                     "(default the latest past issue hour)."),
    ) -> None:
        """Build the demo world, train, backfill 30 days, run today's forecast, list products."""
        from airwarn.flows.commands.run import print_manifest
        from airwarn.flows.daily import config_for
        from airwarn.flows.demo import run_demo

        console = Console()
        cfg = config_for()
        if end is not None:
            from airwarn.flows.daily import parse_issue_time

            try:
                end = parse_issue_time(end).isoformat()
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--end") from None
        result = run_demo(cfg.settings.data_dir, days=days, backfill_days=backfill_days, end=end,
                          say=console.print,
                          show=lambda s: console.print(summary_table(s)))
        if result.get("daily"):
            print_manifest(result["daily"], console)
        console.print(products_table(result, Path(cfg.settings.data_dir)))
        t = result["timings"]
        console.print("timings (s): " + ", ".join(f"{k} {v}" for k, v in t.items()))
