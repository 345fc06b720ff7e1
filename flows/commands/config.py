"""``airwarn config``: validate and show the configuration."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

import configs


def register(app: typer.Typer) -> None:
    """Add the ``config`` command to the CLI."""

    @app.command("config")
    def config_cmd(
        units: bool = typer.Option(False, "--units", help="List the forecast units."),
    ) -> None:
        """Validate every configuration file and print a summary (exit 2 on a bad file)."""
        cfg = configs.load_config()
        console = Console()
        s = cfg.settings
        console.print(f"configuration in {configs.config_dir()} is valid")
        console.print(f"  data directory: {s.data_dir.resolve()}")
        console.print(f"  units: {len(cfg.region.units)}, stations: {len(cfg.stations)}, "
                      f"issue hours (local): {s.issue_hours}, horizon: D+1…D+{s.horizon_days}")
        if units:
            table = Table("id", "名称", "name", "group", "code", "border belt", "ladder", "neighbours")
            for u in cfg.region.units:
                table.add_row(u.id, u.name, u.name_en, u.group, u.code, "✓" if u.border_belt else "",
                              u.ladder, ", ".join(cfg.region.neighbours(u.id)))
            console.print(table)
