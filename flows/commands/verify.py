"""``airwarn verify``: verification scores of a month and the monthly 会商 report.

Scores the month's forecasts (the archive ``<data_dir>/forecasts/`` against the observation store,
or a backtest NetCDF against ``--obs``) with :func:`models.verify.verify_archive` and writes the
report (HTML, PDF) and the score tables (JSON) with :func:`products.monthly_report.render_monthly_report`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from airwarn import configs
from airwarn.core.runstore import RunStore


def _f(v: object, nd: int = 2) -> str:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    return "—" if not math.isfinite(x) else f"{x:.{nd}f}"


def register(app: typer.Typer) -> None:
    """Add the ``verify`` command to the CLI."""

    @app.command("verify")
    def verify_cmd(
        month: str = typer.Option(..., "--month", help="Month to verify, YYYY-MM (local valid dates)."),
        data_dir: Path = typer.Option(None, "--data-dir", help="Data directory (default: settings / AIRWARN_DATA_DIR)."),  # noqa: B008
        backtest: Path = typer.Option(None, "--backtest", help="Backtest NetCDF (issue_time leading dim) instead of the forecast archive."),  # noqa: B008
        obs: Path = typer.Option(None, "--obs", help="Observations for --backtest: a data directory (store), a backtest domain file (configs/domains/X.yaml: the real benchmark data), or a Parquet/CSV table (time + unit_id or station_id)."),  # noqa: B008
        out: Path = typer.Option(None, "--out", help="Output directory (default <data_dir>/reports/monthly/<month>/)."),  # noqa: B008
        pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also write the PDF."),
        bootstrap: bool = typer.Option(True, "--bootstrap/--no-bootstrap", help="Block-bootstrap confidence intervals."),
    ) -> None:
        """Scores of a month (continuous, AQI level, events, probabilities, warnings) and the 会商 report."""
        from airwarn.models.verify import ALL, ForecastArchiveError
        from airwarn.products.monthly_report import month_period, render_monthly_report

        console = Console()
        try:
            month_period(month)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--month") from None
        cfg = configs.load_config()
        ddir = data_dir or cfg.data_dir
        if backtest is not None and not backtest.exists():
            typer.secho(f"error: backtest file not found: {backtest}", err=True, fg="red")
            raise typer.Exit(2)
        archive = RunStore(ddir).forecasts_dir
        if backtest is None and not archive.is_dir():
            typer.secho(f"error: no forecast archive at {archive} (run `airwarn demo` "
                        "or give --backtest FILE.nc --obs …)", err=True, fg="red")
            raise typer.Exit(2)
        typer.echo(f"verifying {month} from "
                   f"{backtest if backtest is not None else archive} …")
        try:
            from airwarn.flows.progress import LineProgress

            with LineProgress(f"verification {month}", total=4 if pdf else 3) as progress:
                paths = render_monthly_report(month, data_dir=ddir, config=cfg, out_dir=out,
                                              backtest=backtest, obs=obs, pdf=pdf,
                                              bootstrap=bootstrap, progress=progress)
        except (ForecastArchiveError, ValueError, FileNotFoundError) as exc:
            typer.secho(f"error: {exc}", err=True, fg="red")
            raise typer.Exit(2) from None
        from airwarn.models.verify import VerificationResult

        res = VerificationResult.from_dict(json.loads(paths["json"].read_text(encoding="utf-8")))
        cd = res.tables.get("continuous_daily")
        ch = res.tables.get("chinese")
        if cd is not None and len(cd):
            t = Table("variable", "lead", "n", "MB", "RMSE", "r", "skill vs pers.",
                      title=f"{month}: daily scores, all units (runs: {res.meta.get('n_issues')})")
            for _, r in cd[cd["group"] == ALL].iterrows():
                t.add_row(str(r["variable"]), f"D+{int(r['lead_day'])}", str(int(r["n"])), _f(r["mb"]),
                          _f(r["rmse"]), _f(r["r"]), _f(r["skill_persistence"]))
            console.print(t)
        if ch is not None and len(ch):
            t = Table("lead", "AQI级别准确率 level", "within one level", "范围 range", "首要污染物 primary",
                      title="AQI forecast accuracy (T4.1 conventions)")
            for _, r in ch[ch["group"] == ALL].iterrows():
                t.add_row(f"D+{int(r['lead_day'])}", _f(r["level_accuracy"]), _f(r["within_one_level"]),
                          _f(r["range_accuracy"]), _f(r["primary_accuracy"]))
            console.print(t)
        for k, p in paths.items():
            typer.echo(f"  {k}: {p}")
