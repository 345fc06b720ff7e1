"""Re-render every product of a stored run (maps, review report, bulletins; optionally deliver).

Reads ``<data_dir>/forecasts/<stamp>.nc`` and ``<data_dir>/warnings/<stamp>.json`` (docs/
INTERFACES.md), the unit observations of the 8 days before the issue time from the canonical
store, and the 30-day verification table the daily run left in the products directory; writes
``<data_dir>/products/<stamp>/{maps/, report.html, bulletins/}``. Plain functions, no Prefect:
the daily flow calls the same renderers stage by stage; this is for a forecaster or a duty
officer who wants a run's products again (after a template fix, a font problem, a lost file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.products.common import decision_dict

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import issue_stamp

__all__ = ["PRODUCTS", "RunProducts", "run_stamp", "render_products"]

log = logging.getLogger(__name__)

#: Products that can be (re)rendered, in order.
PRODUCTS: tuple[str, ...] = ("maps", "report", "bulletins", "delivery")


@dataclass
class RunProducts:
    """What :func:`render_products` wrote: paths, per-decision bulletin files, delivery results."""

    stamp: str
    out_dir: Path
    maps: list[Path] = field(default_factory=list)
    report: Path | None = None
    bulletins: dict[str, dict[str, Path]] = field(default_factory=dict)
    deliveries: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


#: ``YYYYMMDDTHHMM`` of an issue time (local; naive input is local) — the one run stamp.
run_stamp = issue_stamp


def _obs_units(config: AirwarnConfig, data_dir: Path, issue: pd.Timestamp) -> pd.DataFrame | None:
    from airwarn.features.aggregate import stations_to_units
    from airwarn.features.store import read_obs

    start = (issue - pd.Timedelta(days=8)).tz_convert("UTC")
    try:
        obs = read_obs(data_dir, start=start, end=issue.tz_convert("UTC"))
    except (FileNotFoundError, ValueError) as exc:
        log.info("no observations for the report: %s", exc)
        return None
    if obs is None or len(obs) == 0:
        return None
    return stations_to_units(obs, config.stations)


def render_products(config: AirwarnConfig, issue_time: Any, *, data_dir: Path | str | None = None,
                    what: Sequence[str] = ("maps", "report", "bulletins"),
                    pdf: bool = True) -> RunProducts:
    """Render the chosen products of the run issued at ``issue_time`` from its stored files.

    Parameters
    ----------
    config : configs.AirwarnConfig
    issue_time : str or Timestamp
        Issue time (naive = Asia/Shanghai), e.g. ``2026-11-28T15:00``.
    data_dir : path-like, optional
        Data store root (default ``config.data_dir``).
    what : sequence of str
        Subset of :data:`PRODUCTS`; ``delivery`` sends (or, in dry run, writes) the bulletins,
        never twice for the same decision and channel.
    pdf : bool
        Render the PDF bulletins.

    Returns
    -------
    RunProducts

    Raises
    ------
    FileNotFoundError
        No forecast file for that issue time (names the expected path).
    ValueError
        Unknown product name.
    """
    bad = [w for w in what if w not in PRODUCTS]
    if bad:
        raise ValueError(f"unknown product(s) {bad}; expected some of {PRODUCTS}")
    from airwarn.alerts.warning import read_decisions
    from airwarn.models.forecast import read_forecast

    root = Path(data_dir) if data_dir is not None else Path(config.data_dir)
    store = RunStore(root)
    stamp = run_stamp(issue_time)
    fpath = store.forecast(stamp)
    if not fpath.exists():
        raise FileNotFoundError(f"no forecast for issue time {stamp}: expected {fpath} "
                                "(run `airwarn run daily` or `airwarn forecast` first)")
    ds = read_forecast(fpath)
    out = store.products(stamp)
    res = RunProducts(stamp=stamp, out_dir=out)
    wpath = store.warnings(stamp)
    decisions: list[Any] = read_decisions(wpath) if wpath.exists() else []
    if not wpath.exists():
        res.notes.append(f"no warnings file {wpath}: products without warning decisions")
    source = str(ds.attrs.get("source", "")) or None
    if "maps" in what:
        from airwarn.products.common import forecast_inputs
        from airwarn.products.maps import render_run_maps, render_run_met_maps

        res.maps = render_run_maps(ds, decisions, config.region, out / "maps")
        # the meteorology of the cycle the forecast names in its inputs
        res.maps += render_run_met_maps(config, root, forecast_inputs(ds), ds, out / "maps")
    if "report" in what:
        from airwarn.products.report import render_review_report

        scores_path = out / "verification_30d.csv"
        scores = pd.read_csv(scores_path) if scores_path.exists() else None
        issue = pd.Timestamp(str(ds.attrs["issue_time"]))
        obs = _obs_units(config, root, issue)
        res.report = render_review_report(ds, decisions, obs, out / "report.html", scores=scores,
                                          config=config, maps=res.maps or None)
    if "bulletins" in what or "delivery" in what:
        from airwarn.features.met_sampling import sample_units
        from airwarn.products.bulletin import render_bulletins
        from airwarn.products.common import forecast_inputs
        from airwarn.products.meteorology import meteorology_text, run_cycle, unit_met_for_issue

        # the cycle the forecast used (its inputs), else the newest stored one
        cycle = run_cycle(config, root, forecast_inputs(ds)) if decisions else None
        met = (sample_units(cycle, config.region, config.stations) if cycle is not None else
               unit_met_for_issue(config, root, str(ds.attrs["issue_time"])) if decisions
               else None)
        if decisions and met is None:
            res.notes.append("no stored forecast cycle: bulletins without a meteorology summary")
        for d in decisions:
            dd = decision_dict(d)
            did = str(dd["decision_id"])
            text = meteorology_text(met, dd["unit_ids"], dd.get("start"), dd.get("end"))
            res.bulletins[did] = render_bulletins(d, config, out / "bulletins", source=source,
                                                  pdf=pdf, meteorology=text)
    if "delivery" in what:
        from airwarn.alerts.register import Register, register_path
        from airwarn.products.delivery import check_delivery_config, deliver

        check_delivery_config(config.settings)  # fail before the first send
        register = Register(register_path(root))
        for d in decisions:
            did = str(decision_dict(d)["decision_id"])
            res.deliveries += deliver(d, res.bulletins[did], config.settings, register)
    return res
