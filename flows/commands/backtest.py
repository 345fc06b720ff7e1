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
        cycle_arrivals: bool = typer.Option(
            False, "--cycle-arrivals", help="With --met cycles: replay when each step arrived "
            "(the cycles folder's catalog.json, written by fetch/ingest): an issue sees a cycle "
            "only once its step 0 had arrived and only up to its last step that had (the rest "
            "from older cycles); cycles without a record keep --cycle-latency-h."),
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
        from airwarn.models.backtest import (
            check_test_period,
            format_scores,
            load_domain_data,
            run_backtest,
        )

        from airwarn import configs

        if met not in MET_MODES:
            raise typer.BadParameter(f"--met must be one of {', '.join(MET_MODES)}, got {met!r}")
        check_test_period(train_end, test_start, test_end)  # before the data are read
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
            from airwarn.features.cycle_met import (
                ArchiveArrivalsError,
                arrival_delays,
                store_cycle_met,
            )
            from airwarn.features.met_cycles import cycle_arrivals as recorded_arrivals

            cdir = cycles_dir or RunStore(configs.load_settings().data_dir).met_cycles_dir
            arrivals = recorded_arrivals(cdir) if cycle_arrivals else None
            try:
                delays = arrival_delays(arrivals) if cycle_arrivals else None
                source = store_cycle_met(cdir, data.geometry.points, latency_h=cycle_latency_h,
                                         arrivals=arrivals)
            except (FileNotFoundError, ArchiveArrivalsError) as exc:
                where = f"{cdir}: " if isinstance(exc, ArchiveArrivalsError) else ""
                typer.secho(f"error: {where}{exc}", err=True, fg=typer.colors.RED)
                raise typer.Exit(2) from None
            n = len(list(cdir.glob("[0-9]" * 10 + ".nc")))
            if delays is None:
                typer.echo(f"met: forecast cycles from {cdir} ({n} files), available "
                           f"{cycle_latency_h:g} h after their reference time")
            else:
                typer.echo(f"met: forecast cycles from {cdir} ({n} files), each as its steps "
                           f"had arrived at the issue time ({delays['cycles']:.0f} recorded: "
                           f"step 0 a median of {delays['step0_median_h']:.1f} h after the "
                           f"reference time, the last step {delays['last_median_h']:.1f} h; "
                           f"{n - delays['cycles']:.0f} without a record: "
                           f"{cycle_latency_h:g} h)")
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
