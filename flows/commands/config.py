"""``airwarn config``: validate and show the configuration."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from airwarn import configs


def validate_all(cfg: configs.AirwarnConfig) -> list[str]:
    """Load every configuration file the pipeline reads; raise ``ConfigError`` on the first bad one.

    Returns the names of the files checked, so a person sees what "valid" covered.
    """
    from airwarn.configs.aqi_schema import load_aqi_ruleset
    from airwarn.configs.model_schema import load_model_settings
    from airwarn.configs.response_schema import load_emergency_list
    from airwarn.configs.verification_schema import load_verification
    from airwarn.configs.warning_schema import load_ladders_for_region, load_warning_policy
    from airwarn.features.qc import load_qc_config

    for ruleset in ("HJ633_2012", "HJ633_2026"):
        load_aqi_ruleset(ruleset)
    ladders = load_ladders_for_region(cfg.region, horizon_h=24 * cfg.settings.horizon_days)
    from airwarn.configs.warning_schema import ladder_ids, load_ladder

    for lid in ladder_ids():  # the ladders no unit uses yet are checked too (drills, switches)
        load_ladder(lid, allow_long_horizon=True)
    load_warning_policy()
    load_emergency_list(region=cfg.region)
    load_qc_config()
    load_model_settings()
    load_verification()
    from airwarn.features.met_obs import load_met_stations
    from airwarn.features.readers.plausibility import load_plausibility
    from airwarn.products.delivery import check_delivery_config

    load_plausibility()
    load_met_stations(unit_ids=cfg.region.unit_ids)
    check_delivery_config(cfg.settings)
    return ["settings", "region", "stations", "aqi/HJ633_2012", "aqi/HJ633_2026",
            f"warning ladders ({', '.join(sorted(ladders))})", "warning policy",
            "response/emergency_list", "qc", "models", "verification", "plausibility",
            "met_stations", "delivery"]


def register(app: typer.Typer) -> None:
    """Add the ``config`` command to the CLI."""

    @app.command("config")
    def config_cmd(
        units: bool = typer.Option(False, "--units", help="List the forecast units."),
    ) -> None:
        """Validate every configuration file and print a summary (exit 2 on a bad file)."""
        cfg = configs.load_config()
        checked = validate_all(cfg)
        console = Console()
        s = cfg.settings
        console.print(f"configuration in {configs.config_dir()} is valid: {', '.join(checked)}")
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
