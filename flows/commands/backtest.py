"""``airwarn backtest``: train on one period of a real data set, forecast every day of a test
period with only the data available then, score, and write ``backtest.nc`` + ``scores.json``."""

from __future__ import annotations

from pathlib import Path

import typer

from airwarn.core.runstore import RunStore


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to the CLI."""

    @app.command("backtest")
    def backtest_cmd(
        domain: Path = typer.Option(..., "--domain", help="Domain file, e.g. "  # noqa: B008
                                    "configs/domains/beijing_multisite.yaml."),
        train_end: str = typer.Option(..., "--train-end", help="Last training day (local)."),
        test_start: str = typer.Option(..., "--test-start", help="First issue day (local)."),
        test_end: str = typer.Option(..., "--test-end", help="Last issue/target day (local)."),
        issue_hour: int = typer.Option(12, "--issue-hour", min=0, max=23,
                                       help="Local issue hour."),
        met: str = typer.Option("perfect", "--met", help="perfect (observed met at the valid "
                                "time stands in for a forecast), cycles (the forecast cycles of "
                                "the met store, as available at each issue time) or none."),
        cycles_dir: Path = typer.Option(None, "--cycles", help="With --met cycles: folder of "
                                        "YYYYMMDDHH.nc cycles (default <data_dir>/met/cycles)."),
        cycle_latency_h: float = typer.Option(5.0, "--cycle-latency-h", min=0,
                                              help="With --met cycles: hours after its "
                                                   "reference time a cycle is available."),
        out: Path = typer.Option(..., "--out", help="Output directory."),  # noqa: B008
        train_start: str = typer.Option(None, "--train-start", help="First training day."),
        warmup_days: int = typer.Option(3, "--warmup-days", min=1,
                                        help="Days of history before the first training issue."),
        no_hourly: bool = typer.Option(False, "--no-hourly",
                                       help="Daily models only (hourly from persistence)."),
        no_history: bool = typer.Option(
            False, "--no-history", help="The domain's own files only, without its history "
            "records (earlier records of a unit from another source)."),
    ) -> None:
        """Backtest the forecast models on a domain and print the score table."""
        from airwarn.configs.model_schema import MET_MODES, load_domain, load_model_settings
        from airwarn.models.backtest import format_scores, load_domain_data, run_backtest

        from airwarn import configs

        if met not in MET_MODES:
            raise typer.BadParameter(f"--met must be one of {', '.join(MET_MODES)}, got {met!r}")
        dom = load_domain(domain)
        try:
            data = load_domain_data(dom, history=not no_history, met=met)
        except (FileNotFoundError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        typer.echo(f"domain {dom.name}: {data.obs_units['unit_id'].nunique()} stations, "
                   f"{len(data.obs_units)} station-hours ({dom.source})")
        for rec in dom.history if not no_history else []:
            typer.echo(f"history: {rec.unit} extended back with {rec.station} of {rec.file} "
                       f"(mapped over the days to {rec.overlap_until})")
        if met == "perfect":
            typer.echo("met: observed point meteorology at the valid time stands in for a "
                       "meteorological forecast (perfect prog)")
        source = None
        if met == "cycles":
            from airwarn.features.cycle_met import store_cycle_met

            cdir = cycles_dir or RunStore(configs.load_settings().data_dir).met_cycles_dir
            try:
                source = store_cycle_met(cdir, data.geometry.points, latency_h=cycle_latency_h)
            except FileNotFoundError as exc:
                typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
                raise typer.Exit(2) from None
            typer.echo(f"met: forecast cycles from {cdir} ({len(list(cdir.glob('*.nc')))} "
                       f"files), available {cycle_latency_h:g} h after their reference time")
        settings = load_model_settings()
        quantiles = list(configs.load_settings().quantiles)
        from airwarn.flows.progress import LineProgress

        with LineProgress(f"backtest {dom.name}") as progress:
            _, scores = run_backtest(
                data, train_end=train_end, test_start=test_start, test_end=test_end,
                issue_hour=issue_hour, met=met, settings=settings, quantiles=quantiles,
                met_source=source,
                train_start=train_start, out_dir=out, pollutants=dom.pollutants,
                hourly=not no_hourly, warmup_days=warmup_days, progress=progress)
        typer.echo(format_scores(scores))
        typer.echo(f"wrote {out / 'backtest.nc'} and {out / 'scores.json'}")
