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
        with_station = set(cfg.stations["sub_region"])
        bare = [u for u in cfg.region.units if u.id not in with_station]
        if bare:
            console.print(f"  {len(bare)} units list no station (the demo world places a seat station "
                          f"`seat_<unit>`; real deployments list theirs): "
                          + ", ".join(f"{u.name} {u.id}" for u in bare))
        if units:
            table = Table("id", "名称", "name", "group", "code", "border belt", "ladder", "stations",
                          "neighbours")
            for u in cfg.region.units:
                table.add_row(u.id, u.name, u.name_en, u.group, u.code, "✓" if u.border_belt else "",
                              u.ladder, str(int((cfg.stations["sub_region"] == u.id).sum())),
                              ", ".join(cfg.region.neighbours(u.id)))
            console.print(table)
