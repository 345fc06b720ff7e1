"""``airwarn forecast``: one forecast run from the data store, written to
``<data_dir>/forecasts/<YYYYMMDDTHHMM>.nc``."""

from __future__ import annotations

import json

import typer

from airwarn.core.timeutil import LOCAL_TZ


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to the CLI."""

    @app.command("forecast")
    def forecast_cmd(
        issue_time: str = typer.Option(..., "--issue-time",
                                       help="Issue time, e.g. 2026-11-28T15:00 (Asia/Shanghai)."),
        met: str = typer.Option("cycles", "--met", help="Meteorology: cycles, demo, perfect, "
                                "none."),
    ) -> None:
        """Forecast every unit to the end of D+3 and print what was written."""
        import pandas as pd

        from flows.daily import config_for, load_unit_obs, make_met_source, parse_issue_time
        from models.forecast import run_forecast, write_forecast

        config = config_for()
        t = pd.Timestamp(parse_issue_time(issue_time))
        if t.tzinfo is None:
            t = t.tz_localize(LOCAL_TZ)
        utc = t.tz_convert("UTC")
        obs_units = load_unit_obs(config, start=utc - pd.Timedelta(days=75),
                                  end=utc - pd.Timedelta(hours=1))
        met_source, notes = make_met_source(config, met)
        for n in notes:
            typer.echo(f"note: {n}")
        source = "synthetic demo" if (config.data_dir / "demo" / "world.json").exists() else None
        ds = run_forecast(config, t, met_source=met_source, obs_units=obs_units,
                          data_dir=config.data_dir, source=source)
        path = write_forecast(ds, config.data_dir)
        methods = ds["method"].to_series().value_counts().to_dict()
        typer.echo(f"wrote {path}: {ds.sizes['region']} units × {ds.sizes['lead']} h, "
                   f"model {ds.attrs['model_version']}; methods {methods}")
        inputs = json.loads(ds.attrs["inputs"])
        typer.echo(f"inputs: {json.dumps(inputs, ensure_ascii=False)[:400]}")
