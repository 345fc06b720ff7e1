"""``airwarn hindcast``: the real daily chain (forecast → daily AQI → ladder → warning state machine
with its register → regional linkage) over every issue time of a past period of a benchmark
domain, verified against observations, beside persistence and climatology run through the same
state machine. Writes ``decisions.jsonl``, ``verification.json`` and ``report.html``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``hindcast`` command to the CLI."""

    @app.command("hindcast")
    def hindcast_cmd(
        domain: Path = typer.Option(..., "--domain", help="Domain file, e.g. "  # noqa: B008
                                    "configs/domains/beijing_multisite.yaml."),
        train_end: str = typer.Option(..., "--train-end", help="Last training day (local)."),
        test_start: str = typer.Option(..., "--test-start", help="First issue day (local)."),
        test_end: str = typer.Option(..., "--test-end", help="Last issue day (local)."),
        met: str = typer.Option("perfect", "--met", help="perfect or none."),
        out: Path = typer.Option(..., "--out", help="Output directory."),  # noqa: B008
        issue_hour: int = typer.Option(12, "--issue-hour", min=0, max=23,
                                       help="Local issue hour."),
        select_fold_days: int = typer.Option(
            0, "--select-fold-days", min=0,
            help="Choose the warning trigger (median or probability threshold) on the last N "
                 "days of the training period (0: the configured median trigger)."),
        hourly: bool = typer.Option(False, "--hourly", help="Train the hourly models too "
                                    "(slower; day-mode ladders read daily products only)."),
        light: bool = typer.Option(False, "--light", help="Lighter daily models (1 seed, "
                                   "pooled design, 200 trees) for a busy machine."),
        selection: str = typer.Option(
            "chain", "--selection", help="How the training fold chooses the trigger: chain "
            "(each candidate through the state machine) or proxy (memoryless, faster)."),
        fold_scheme: str = typer.Option(
            "auto", "--fold-scheme", help="Training fold: last (the last --select-fold-days), "
            "cross (season-complete cross-fitted over the training period) or auto (cross when "
            "the training period spans < 2 years)."),
        jobs: int = typer.Option(2, "--jobs", min=1, max=3,
                                 help="Processes: 2 runs the training fold beside the test "
                                      "backtest and the baselines' chains beside the model's."),
        no_reuse: bool = typer.Option(False, "--no-reuse",
                                      help="Recompute backtest.nc even when present."),
        no_history: bool = typer.Option(
            False, "--no-history", help="Train on the domain's own files only, without its "
            "history records (earlier records of a unit from another source)."),
    ) -> None:
        """Warning hindcast of a domain and its verification table."""
        from airwarn.models.verify.hindcast import format_verification, run_hindcast

        if met not in ("perfect", "none"):
            raise typer.BadParameter(f"--met must be 'perfect' or 'none', got {met!r}")
        if selection not in ("chain", "proxy"):
            raise typer.BadParameter(f"--selection must be 'chain' or 'proxy', got {selection!r}")
        if fold_scheme not in ("auto", "last", "cross"):
            raise typer.BadParameter(f"--fold-scheme must be 'auto', 'last' or 'cross', got "
                                     f"{fold_scheme!r}")
        try:
            res = run_hindcast(domain, train_end=train_end, test_start=test_start,
                               test_end=test_end, met=met, out_dir=out, issue_hour=issue_hour,
                               select_fold_days=select_fold_days, reuse=not no_reuse, hourly=hourly,
                               light=light, jobs=jobs, selection=selection,
                               fold_scheme=fold_scheme, history=not no_history,
                               progress=typer.echo)
        except (FileNotFoundError, ValueError) as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        typer.echo(format_verification(res.verification))
        typer.echo(f"{res.decisions} decisions; seconds {res.seconds}")
        typer.echo(f"wrote {out / 'decisions.jsonl'}, {out / 'verification.json'}, "
                   f"{out / 'report.html'}")
