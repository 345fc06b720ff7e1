"""``airwarn serve``: serve the scheduled deployments (Asia/Shanghai)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""

    @app.command("serve")
    def serve_cmd(
        list_only: bool = typer.Option(False, "--list", help="Print the schedules and exit."),
        limit: int = typer.Option(1, help="Flow runs at once."),
    ) -> None:
        """Serve the daily forecast (05:00, 15:00), weekly retrain and monthly review schedules.

        Uses the Prefect server in PREFECT_API_URL (e.g. `prefect server start` on 127.0.0.1),
        or starts a local one in-process when it is unset.
        """
        from airwarn.flows.serve import build_deployments, serve_all

        deployments = build_deployments()
        table = Table(title="airwarn deployments")
        for col in ("deployment", "flow", "cron", "time zone"):
            table.add_column(col)
        for d in deployments:
            for s in d.schedules:
                sc = s.schedule
                when = getattr(sc, "cron", None) or \
                    f"every {sc.interval.total_seconds() / 60:g} min"
                table.add_row(d.name, d.flow_name, when, sc.timezone)
        Console().print(table)
        if list_only:
            return
        serve_all(limit=limit)
