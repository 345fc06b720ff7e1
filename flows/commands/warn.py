"""Warnings and the coordinated response on the command line.

``airwarn warn``: turn a run's forecast file into warning decisions, register rows and control
orders (``warnings/<stamp>.json``, ``warnings/<stamp>_orders.csv``); rerunning changes nothing.
``airwarn override``: a forecaster's level for a unit until it expires (kept in the register).
``airwarn response``: the reduction check of the emergency list and the 错峰生产 calendar.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from airwarn.configs.warning_schema import LEVEL_ZH, LEVELS, load_ladder
from rich.console import Console
from rich.table import Table

from airwarn import configs
from airwarn.core.runstore import RunStore


def _parse_time(text: str, tz: str) -> pd.Timestamp:
    try:
        if len(text) == 13 and text[8] == "T" and text.replace("T", "").isdigit():
            ts = pd.to_datetime(text, format="%Y%m%dT%H%M")
        else:
            ts = pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO time (2026-01-10T15:00, local if naive) or a "
                                 f"stamp (20260110T1500), got {text!r}", param_hint="--issue-time") from None
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _local(iso: str, tz: str) -> str:
    return pd.Timestamp(iso).tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def register_warn(app: typer.Typer) -> None:
    """Add the ``warn`` command to the CLI."""

    @app.command("warn")
    def warn_cmd(
        issue_time: str = typer.Option(..., "--issue-time", help="Issue time (local if naive) or stamp YYYYMMDDTHHMM."),
        forecast: Path = typer.Option(None, "--forecast", help="Forecast file (default <data_dir>/forecasts/<stamp>.nc)."),  # noqa: B008
    ) -> None:
        """Warnings, regional joint warnings and control orders for one run."""
        import xarray as xr
        from airwarn.alerts.register import Register, register_path
        from airwarn.alerts.warning import issue_stamp, orders_path, warn_run, warnings_path

        cfg = configs.load_config()
        t = _parse_time(issue_time, cfg.settings.timezone)
        stamp = issue_stamp(t)
        path = forecast or RunStore(cfg.data_dir).forecast(stamp)
        if not path.exists():
            typer.secho(f"error: forecast file not found: {path} (run `airwarn run --issue-time "
                        f"{t:%Y-%m-%dT%H:%M}` first, or give --forecast)", err=True, fg="red")
            raise typer.Exit(2)
        try:
            ds = xr.load_dataset(path)
        except (OSError, ValueError) as exc:
            typer.secho(f"error: {path}: not a readable NetCDF forecast file: {exc}", err=True, fg="red")
            raise typer.Exit(2) from None
        from airwarn.flows.errors import require_writable

        require_writable(cfg.data_dir)
        reg = Register(register_path(cfg.data_dir))
        n_before = reg.count("transitions")
        import os

        started = pd.Timestamp.now(tz="UTC")
        attempt = f"{stamp}-warn-{started:%Y%m%dT%H%M%S%f}-{os.getpid()}"
        try:
            decisions = warn_run(ds, cfg, reg, t)
        except ValueError as exc:
            reg.record_attempt(attempt, t, "failed", command="warn", started=started,
                               finished=pd.Timestamp.now(tz="UTC"), detail=str(exc)[:500])
            typer.secho(f"error: {path}: {exc}", err=True, fg="red")
            raise typer.Exit(2) from None
        # the run's own row is never downgraded (alerts.register); this attempt adds its row
        reg.record_attempt(attempt, t, "warned", command="warn", started=started,
                           finished=pd.Timestamp.now(tz="UTC"),
                           detail=f"{len(decisions)} decisions from {path.name}")
        new = reg.count("transitions") - n_before
        table = Table(title=f"warnings {stamp} ({len(decisions)} decisions, {new} new register rows)")
        for col in ("action", "level", "units", "from", "start", "end", "orders", "trigger"):
            table.add_column(col)
        for d in decisions:
            table.add_row(d.action, f"{d.level} {LEVEL_ZH.get(d.level, '')}", ", ".join(d.unit_ids),
                          d.previous_level, (d.start or "")[:16], (d.end or "")[:16],
                          str(len(d.control_orders)), d.trigger + (" · override" if d.override else ""))
        console = Console(width=160)
        console.print(table)
        from airwarn.alerts.response import reductions_by_unit

        red = reductions_by_unit([o for d in decisions for o in d.control_orders])
        if not red.empty:
            rt = Table(title="control orders: reductions by unit (t/d)")
            for col in ("unit", "orders", "高架源", "SO2", "NOx", "PM", "VOCs"):
                rt.add_column(col)
            for uid, r in red.iterrows():
                rt.add_row(str(uid), str(int(r["orders"])), str(int(r["elevated_orders"])),
                           *(f"{r[p]:.3f}" for p in ("so2", "nox", "pm", "vocs")))
            console.print(rt)
        short = [c for d in decisions for c in d.reduction_checks
                 if not c["met"] and c["gap"] is not None]
        unlisted = sorted({c["unit_id"] for d in decisions for c in d.reduction_checks
                           if c["gap"] is None})
        if short:
            console.print(f"reduction check: {len(short)} city × pollutant shortfalls, e.g. "
                          + "; ".join(f"{c['city']} {c['pollutant']} {c['level']} gap {c['gap']:g} t/d"
                                      for c in short[:3]))
        if unlisted:
            console.print(f"reduction check: no emergency reduction list for {', '.join(unlisted)} "
                          f"(reductions there cannot be checked)")
        typer.echo(f"decisions: {warnings_path(cfg.data_dir, t)}")
        typer.echo(f"control orders: {orders_path(cfg.data_dir, t)}")
        typer.echo(f"register: {register_path(cfg.data_dir)}")


def register_override(app: typer.Typer) -> None:
    """Add the ``override`` command (a forecaster's level for a unit) to the CLI."""

    @app.command("override")
    def override_cmd(
        unit: str = typer.Option(None, "--unit", help="Unit id (e.g. chengdu)."),
        level: str = typer.Option(None, "--level", help="none, blue, yellow, orange or red."),
        reason: str = typer.Option(None, "--reason", help="Why (cited in every later decision)."),
        who: str = typer.Option(None, "--who", help="Forecaster's name."),
        valid_until: str = typer.Option(None, "--until", help="Expiry, local ISO time."),
        start: str = typer.Option(None, "--from", help="Start, local ISO time (default now)."),
        list_: bool = typer.Option(False, "--list", help="List every recorded override."),
    ) -> None:
        """Record (or --list) a forecaster's override of a unit's warning level.

        The override takes precedence over the machine level until it expires; it is kept in the
        register and shown in later decisions.
        """
        from airwarn.alerts.register import Register, register_path

        cfg = configs.load_config()
        tz = cfg.settings.timezone
        path = register_path(cfg.data_dir)
        if list_:
            df = Register(path).overrides() if path.exists() else pd.DataFrame()
            if df.empty:
                typer.echo("no overrides recorded")
            for r in df.itertuples():
                typer.echo(f"{r.unit_id:<12} {r.level:<7} {_local(r.when, tz)} → "
                           f"{_local(r.valid_until, tz)}  {r.who}: {r.reason}")
            return
        missing = [n for n, v in (("--unit", unit), ("--level", level), ("--reason", reason),
                                  ("--who", who), ("--until", valid_until)) if not v]
        if missing:
            raise typer.BadParameter(f"missing {', '.join(missing)}")
        try:
            ladder_id = cfg.region.unit(unit).ladder
        except KeyError as exc:
            raise typer.BadParameter(str(exc).strip('"'), param_hint="--unit") from None
        if level not in LEVELS:
            raise typer.BadParameter(f"unknown level {level!r}; expected one of "
                                     f"{', '.join(LEVELS)}", param_hint="--level")
        levels = ("none", *(lv.level for lv in
                            load_ladder(ladder_id, allow_long_horizon=True).levels))
        if level not in levels:
            raise typer.BadParameter(f"unit {unit!r} follows warning ladder {ladder_id!r}, whose "
                                     f"levels are {', '.join(levels)}; got {level!r}",
                                     param_hint="--level")
        if not reason.strip() or not who.strip():
            raise typer.BadParameter(f"override for {unit!r}: a reason and the forecaster's "
                                     f"name are required")
        when = _parse_time(start, tz) if start else pd.Timestamp.now(tz=tz).floor("min")
        until = _parse_time(valid_until, tz)
        if until <= when:
            raise typer.BadParameter(f"{until:%Y-%m-%d %H:%M} is not after the start "
                                     f"{when:%Y-%m-%d %H:%M} ({tz})", param_hint="--until")
        try:  # the register is opened (created) only for an override that can be recorded
            o = Register(path).record_override(unit, level, reason, who, when, until)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        typer.echo(f"override recorded: {unit} → {o.level} from {_local(o.when, tz)} until "
                   f"{_local(o.valid_until, tz)} ({o.who}: {o.reason})")


def register_response(app: typer.Typer) -> None:
    """Add the ``response`` command (emergency-list checks and the 错峰 calendar) to the CLI."""

    @app.command("response")
    def response_cmd(
        check: bool = typer.Option(True, "--check/--no-check",
                                   help="Reduction check of the list per city and level."),
        calendar: str = typer.Option(None, "--calendar", help="Season, e.g. 2025-2026: write the 错峰生产 calendar CSV."),
        out: Path = typer.Option(None, "--out", help="Calendar CSV path (default <data_dir>/response/staggered_<season>.csv)."),  # noqa: B008
    ) -> None:
        """Check the emergency reduction list (10/20/30 % per city) and write the 错峰 calendar.

        Shortfalls are printed with their gap (t/d, spec T2.1); ``--calendar`` writes the 错峰生产
        calendar of a season.
        """
        from airwarn.alerts.response import reduction_check, staggered_calendar
        from airwarn.configs.response_schema import load_emergency_list
        from airwarn.features.atomic import write_text_atomic

        cfg = configs.load_config()
        el = load_emergency_list(region=cfg.region)
        typer.echo(f"{el.title}: {len(el.enterprises)} enterprises, {len(el.cities)} cities"
                   + ("  [EXAMPLE / 示例 — synthetic]" if el.example else ""))
        if check:
            table = Table("city", "level", "pollutant", "total t/d", "required t/d",
                          "achieved t/d", "gap t/d", "met")
            for lv in ("yellow", "orange", "red"):
                for c in reduction_check(el, lv):
                    table.add_row(c.city, lv, c.pollutant, f"{c.total:g}", f"{c.required:.3f}",
                                  f"{c.achieved:.3f}", f"{c.gap:.3f}" if c.gap else "",
                                  "✓" if c.met else "✗ short")
            Console(width=140).print(table)
        if calendar:
            try:
                cal = staggered_calendar(el, calendar)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--calendar") from None
            path = out or RunStore(cfg.data_dir).response_dir / f"staggered_{calendar}.csv"
            write_text_atomic(path, "\ufeff" + cal.to_csv(index=False))
            n = cal.groupby("enterprise_id").size()
            typer.echo(f"错峰生产 calendar {calendar}: {len(n)} enterprises, {int(n.sum())} "
                       f"enterprise-days → {path}")


def register(app: typer.Typer) -> None:
    """Add ``warn``, ``override`` and ``response`` to the CLI."""
    register_warn(app)
    register_override(app)
    register_response(app)
