"""``airwarn forecast``: one forecast run from the data store, written to
``<data_dir>/forecasts/<YYYYMMDDTHHMM>.nc``."""

from __future__ import annotations

import json

import typer

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to the CLI."""

    @app.command("forecast")
    def forecast_cmd(
        issue_time: str = typer.Option(..., "--issue-time",
                                       help="Issue time, e.g. 2026-11-28T15:00 (Asia/Shanghai)."),
        met: str = typer.Option("cycles", "--met", help="Meteorology: cycles, demo, perfect, "
                                "none."),
        allow_baseline: bool = typer.Option(False, "--allow-baseline",
                                            help="Write the forecast even when there are no "
                                            "observations before the issue time (every unit a "
                                            "named climatology/persistence baseline)."),
    ) -> None:
        """Forecast every unit to the end of D+3 and print what was written.

        Exits 1 without writing when a unit has no finite forecast, or (unless
        ``--allow-baseline``) when the store has no observations before the issue time.
        """
        import pandas as pd
        from airwarn.features.run_inputs import load_unit_obs, make_met_source
        from airwarn.flows.checks import MET_CHOICES, units_without_forecast
        from airwarn.flows.daily import config_for, parse_issue_time
        from airwarn.flows.errors import RunError, check_choice, require_writable
        from airwarn.models.forecast import run_forecast, write_forecast

        check_choice(met, MET_CHOICES, "--met")
        try:
            t = pd.Timestamp(parse_issue_time(issue_time))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--issue-time") from None
        config = config_for()
        if t.tzinfo is None:
            t = t.tz_localize(LOCAL_TZ)
        require_writable(config.data_dir)
        utc = t.tz_convert("UTC")
        obs_units = load_unit_obs(config, start=utc - pd.Timedelta(days=75),
                                  end=utc - pd.Timedelta(hours=1))
        if (obs_units is None or len(obs_units) == 0) and not allow_baseline:
            raise RunError(f"no observations in {RunStore(config.data_dir).obs_dir} in the 75 days before "
                           f"{t:%Y-%m-%d %H:%M}: every unit would be a climatology baseline; "
                           f"ingest observations (`airwarn ingest`) or pass --allow-baseline")
        met_source, notes = make_met_source(config, met)
        for n in notes:
            typer.echo(f"note: {n}")
        source = "synthetic demo" if RunStore(config.data_dir).demo_world.exists() else None
        ds = run_forecast(config, t, met_source=met_source, obs_units=obs_units,
                          data_dir=config.data_dir, source=source)
        empty = units_without_forecast(ds)
        if empty:
            raise RunError(f"no finite forecast for {len(empty)} of {ds.sizes['region']} units "
                           f"({', '.join(empty[:8])}{' …' if len(empty) > 8 else ''}) at "
                           f"{t:%Y-%m-%d %H:%M}: nothing written")
        path = write_forecast(ds, config.data_dir)
        methods = ds["method"].to_series().value_counts().to_dict()
        typer.echo(f"wrote {path}: {ds.sizes['region']} units × {ds.sizes['lead']} h, "
                   f"model {ds.attrs['model_version']}; methods {methods}")
        inputs = json.loads(ds.attrs["inputs"])
        typer.echo(f"inputs: {json.dumps(inputs, ensure_ascii=False)[:400]}")
