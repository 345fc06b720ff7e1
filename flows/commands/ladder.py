"""``airwarn ladder``: evaluate a warning ladder on a daily-AQI sequence (drills, config checks)."""

from __future__ import annotations

import math

import typer
from airwarn.alerts.ladders import evaluate_ladder
from airwarn.configs.warning_schema import LEVEL_ZH, ladder_ids, load_ladder

from airwarn import configs


def _floats(text: str | None, name: str) -> list[float] | None:
    """The comma-separated values of option ``name`` (None when not given).

    Raises
    ------
    typer.BadParameter
        No value, a value that is not a number, or one that is negative or not finite.
    """
    if text is None:
        return None
    try:
        values = [float(x) for x in text.replace("，", ",").split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise typer.BadParameter(f"{name}: expected comma-separated numbers ≥ 0, one per day "
                                 f"(e.g. 210,220,310), got {text!r}")
    return values


def register(app: typer.Typer) -> None:
    """Add the ``ladder`` command to the CLI."""

    @app.command("ladder")
    def ladder_cmd(
        ladder: str = typer.Option("national-2024", "--ladder", help="Ladder id (configs/warning/<id>.yaml)."),
        daily_aqi: str = typer.Option(None, "--daily-aqi", help="Daily AQI D+1,D+2,… e.g. 210,220,310."),
        pm25: str = typer.Option(None, "--pm25", help="PM2.5 daily means, µg/m³ (comma-separated)."),
        o3_8h: str = typer.Option(None, "--o3-8h", help="O3 daily max 8-h means, µg/m³."),
        list_: bool = typer.Option(False, "--list", help="List the ladders and their levels."),
    ) -> None:
        """Print the level a sequence reaches (none/blue/yellow/orange/red) and the condition."""
        if list_:
            horizon = configs.load_settings().horizon_days * 24
            for lid in ladder_ids():
                lad = load_ladder(lid, allow_long_horizon=True)
                typer.echo(f"{lid}  {lad.name} / {lad.name_en}  [{lad.kind}, {lad.mode} mode, "
                           f"{lad.status}, {lad.source}]")
                for lv in lad.levels:
                    for k, a in enumerate(lv.any_of):
                        head = f"  {lv.level:<7}{LEVEL_ZH[lv.level]}" if k == 0 else " " * 15
                        extra = (f"  [needs {a.hours_needed} h > {horizon} h: "
                                 f"{'dropped in runs' if a.on_short_horizon == 'drop' else 'drills only'}]"
                                 if a.hours_needed > horizon else "")
                        typer.echo(f"{head}  {'或 ' if k else '   '}{a.text_zh()}  "
                                   f"({a.status}, {a.source}){extra}")
                typer.echo(f"  lift: ≤ {lad.lift_below_aqi:g} for > {lad.lift.hours} h "
                           f"({lad.lift.status}); colour gate: {', '.join(lad.gate.colour_primaries)}")
            return
        aqi = _floats(daily_aqi, "--daily-aqi")
        o3 = _floats(o3_8h, "--o3-8h")
        pm = _floats(pm25, "--pm25")
        horizon = configs.load_settings().horizon_days * 24
        lad = load_ladder(ladder, allow_long_horizon=True)
        without_aqi: list[str] = []
        if aqi is None:
            if o3 is None and pm is None:
                raise typer.BadParameter("give --daily-aqi (or --pm25 / --o3-8h for a ladder "
                                         "with PM2.5 / O3 conditions), or --list")
            # no AQI given: its conditions are not evaluated (NaN never exceeds), never zeros
            given = {"pm25": pm is not None, "o3_8h": o3 is not None, "iaqi_o3": o3 is not None}
            alts = [(lv, a) for lv in lad.levels for a in lv.any_of]
            if not any("aqi" not in a.metrics and all(given[m] for m in a.metrics)
                       for _, a in alts):
                raise typer.BadParameter(
                    f"ladder {lad.id!r} has no condition on the series given without "
                    f"--daily-aqi (its conditions read "
                    f"{sorted({m for _, a in alts for m in a.metrics})}); give --daily-aqi",
                    param_hint="--daily-aqi")
            without_aqi = [f"{lv.level}: {a.text_en()}" for lv, a in alts if "aqi" in a.metrics]
            aqi = [math.nan] * len(o3 if o3 is not None else pm)  # type: ignore[arg-type]
        long = [f"{lv.level}: {a.text_en()} "
                f"({'dropped' if a.on_short_horizon == 'drop' else 'ladder refused'})"
                for lv in lad.levels for a in lv.any_of if a.hours_needed > horizon]
        res = evaluate_ladder(lad, aqi, daily_pm25=pm, daily_o3_8h=o3)
        typer.echo(res.level)
        if res.level != "none":
            days = ", ".join(f"D+{i + 1}" for i in res.exceedance_days) if lad.mode == "day" else \
                f"hours {res.exceedance_days[0]}–{res.exceedance_days[-1]}"
            typer.echo(f"{LEVEL_ZH[res.level]} ({lad.id}): {res.condition_met_text} "
                       f"[{res.status}, {res.source}; {days}]")
        else:
            typer.echo(f"无预警 ({lad.id}): no level's condition is met")
        for u in [*without_aqi, *res.unevaluated]:
            typer.echo(f"  not evaluated (series not given): {u}")
        if long:
            typer.echo(f"  drill note: needs more than the {horizon}-h forecast of operational "
                       f"runs: " + "; ".join(long))
