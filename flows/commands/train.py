"""``airwarn train``: fit the forecast models of every pollutant and save them to the registry."""

from __future__ import annotations

import typer

from airwarn.core.timeutil import LOCAL_TZ


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to the CLI."""

    @app.command("train")
    def train_cmd(
        until: str = typer.Option(None, "--until", help="Train on observations before this "
                                  "time (Asia/Shanghai; default now)."),
        met: str = typer.Option("cycles", "--met", help="Meteorology: cycles, demo, perfect, "
                                "none."),
    ) -> None:
        """Train the LightGBM models on the data store (``<data_dir>/models/``)."""
        import pandas as pd
        from airwarn.features.run_inputs import load_unit_obs, make_met_source
        from airwarn.flows.checks import MET_CHOICES
        from airwarn.flows.daily import config_for
        from airwarn.flows.errors import check_choice, parse_time_option, require_writable
        from airwarn.models.train import train_models

        check_choice(met, MET_CHOICES, "--met")
        t = parse_time_option(until, "--until") if until is not None else pd.Timestamp.now(
            tz=LOCAL_TZ).floor("h")
        config = config_for()
        require_writable(config.data_dir)
        obs_units = load_unit_obs(config, end=t.tz_convert("UTC") - pd.Timedelta(hours=1))
        met_source, notes = make_met_source(config, met)
        for n in notes:
            typer.echo(f"note: {n}")
        from airwarn.flows.progress import LineProgress

        try:
            with LineProgress("training (per pollutant and lead)") as progress:
                paths = train_models(config, obs_units, met_source, t, progress=progress)
        except ValueError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        for p in paths:
            typer.echo(f"wrote {p}")
