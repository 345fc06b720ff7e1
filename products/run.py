"""The product sequence of a run — maps → verify_recent → report → bulletins → delivery — once.

Both paths that make a run's products go through the functions here, with the same inputs
(:class:`ProductInputs`: the forecast, the warning decisions, the QC'd unit observations of the
run's window, the run's meteorology source and what was degraded):

- the daily flow (``flows.daily``) calls them stage by stage (each stage hashed, reused when its
  inputs are unchanged, recorded in the run manifest);
- ``airwarn products --issue-time T`` (:func:`render_products`) re-renders a stored run: it
  rebuilds the same :class:`ProductInputs` from the stored files (:func:`stored_inputs`: the
  forecast ``forecasts/<stamp>.nc``, the decisions ``warnings/<stamp>.json``, the observations read,
  QC'd and aggregated exactly as the daily run did, the meteorology source and degraded inputs
  the run manifest names) and runs the same sequence. A re-render of a daily run therefore writes
  the same bulletin text and the same report tables.

Writes ``<data_dir>/products/<stamp>/{maps/, verification_30d.csv, report.html, bulletins/}``.
Plain functions, no Prefect.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.features.atomic import write_text_atomic
from airwarn.features.build import MetSource
from airwarn.features.run_inputs import json_inputs, make_met_source, run_unit_obs
from airwarn.products.common import decision_dict

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import issue_stamp, parse_issue_time

__all__ = [
    "PRODUCTS",
    "PRODUCT_SEQUENCE",
    "VERIFY_DAYS",
    "REPORT_OBS_DAYS",
    "ProductInputs",
    "RunProducts",
    "run_stamp",
    "fill_degraded",
    "stored_inputs",
    "render_maps",
    "recent_runs",
    "verify_recent",
    "render_report",
    "render_decision_bulletins",
    "deliver_bulletins",
    "render_products",
]

log = logging.getLogger(__name__)

#: Products that can be asked for (``airwarn products --only``, the daily run's ``products=``).
PRODUCTS: tuple[str, ...] = ("maps", "report", "bulletins", "delivery")
#: The product sequence, in run order (``verify_recent`` runs when the report is asked for).
PRODUCT_SEQUENCE: tuple[str, ...] = ("maps", "verify_recent", "report", "bulletins", "delivery")
#: Days of past runs verified for the review report, d.
VERIFY_DAYS = 30
#: Days of observations drawn in the review report's series, d.
REPORT_OBS_DAYS = 8
#: File of the recent verification scores in the products directory.
VERIFICATION_FILE = "verification_30d.csv"

#: ``YYYYMMDDTHHMM`` of an issue time (local; naive input is local) — the one run stamp.
run_stamp = issue_stamp


@dataclass
class ProductInputs:
    """Everything the product sequence reads for one run.

    Attributes
    ----------
    config : AirwarnConfig
        Its ``settings.data_dir`` is the run's data directory.
    issue_time : Timestamp
        Issue time, tz-aware local (Asia/Shanghai).
    forecast : xarray.Dataset
        The run's forecast file, read.
    decisions : list of WarningDecision
        The run's warning decisions (degraded inputs filled in, :func:`fill_degraded`).
    obs_units : DataFrame or None
        QC'd unit-hour observations of the run's window (µg/m³, CO mg/m³; ``time`` UTC).
    met_source : MetSource or None
        The meteorology source the run forecast with.
    met_info : dict
        ``met_source.describe(issue_time)`` (cycle used, its age, …).
    degraded : list of str
        Reduced inputs the run named.
    """

    config: AirwarnConfig
    issue_time: pd.Timestamp
    forecast: Any
    decisions: list[Any] = field(default_factory=list)
    obs_units: pd.DataFrame | None = None
    met_source: MetSource | None = None
    met_info: dict[str, Any] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)

    @property
    def store(self) -> RunStore:
        """The data directory's layout."""
        return RunStore(Path(self.config.settings.data_dir).resolve())

    @property
    def stamp(self) -> str:
        """``YYYYMMDDTHHMM`` (local) of the issue time."""
        return issue_stamp(self.issue_time)

    @property
    def out_dir(self) -> Path:
        """``products/<stamp>/``."""
        return self.store.products(self.stamp)

    @property
    def verification_path(self) -> Path:
        """``products/<stamp>/verification_30d.csv`` (scores of the last runs)."""
        return self.out_dir / VERIFICATION_FILE


@dataclass
class RunProducts:
    """What :func:`render_products` wrote: paths, per-decision bulletin files, delivery results."""

    stamp: str
    out_dir: Path
    maps: list[Path] = field(default_factory=list)
    scores: pd.DataFrame | None = None
    report: Path | None = None
    bulletins: dict[str, dict[str, Path]] = field(default_factory=dict)
    deliveries: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fill_degraded(decisions: Sequence[Any], degraded: Sequence[str]) -> None:
    """Give the run's degraded inputs to decisions that name none (in place)."""
    for d in decisions:
        have = getattr(d, "degraded_inputs", None)
        if have is not None and not have and degraded:
            d.degraded_inputs = list(degraded)


# --------------------------------------------------------------------------------------------
# the sequence, one function per product
# --------------------------------------------------------------------------------------------


def render_maps(inp: ProductInputs) -> list[Path]:
    """Forecast, warning and probability maps, and the meteorology of the run's cycle.

    ``products.maps.render_run_maps`` and ``render_run_met_maps`` into ``products/<stamp>/maps/``.
    """
    from airwarn.products.maps import render_run_maps, render_run_met_maps

    out = inp.out_dir / "maps"
    paths = list(render_run_maps(inp.forecast, inp.decisions, inp.config.region, out))
    paths += render_run_met_maps(inp.config, inp.store.data_dir, inp.met_info, inp.forecast, out)
    return paths


def recent_runs(inp: ProductInputs, days: int = VERIFY_DAYS) -> list[Path]:
    """Forecast files of the runs issued in the ``days`` before this one (oldest first)."""
    first = issue_stamp(inp.issue_time - timedelta(days=days))
    return sorted(p for p in inp.store.forecasts_dir.glob("*.nc") if first <= p.stem < inp.stamp)


def verify_recent(inp: ProductInputs, runs: Sequence[Path],
                  days: int = VERIFY_DAYS) -> tuple[pd.DataFrame | None, str]:
    """Daily scores of the last ``days`` days of runs (``models.verify.verify_archive``).

    Writes ``products/<stamp>/verification_30d.csv`` when there is something to score.

    Parameters
    ----------
    inp : ProductInputs
    runs : sequence of Path
        The runs to verify (:func:`recent_runs`).
    days : int
        Verified period: the ``days`` local days before the issue day, d.

    Returns
    -------
    scores, detail : DataFrame or None, str
        ``variable, lead_day, n, mb, rmse, r, skill_persistence`` (concentrations µg/m³) over
        every unit; None with the reason in ``detail`` when nothing can be verified yet.
    """
    from airwarn.models.verify import ALL as VERIFY_ALL
    from airwarn.models.verify import verify_archive

    if not runs or inp.obs_units is None or len(inp.obs_units) == 0:
        return None, "no earlier runs to verify yet"
    day0 = (inp.issue_time - timedelta(days=days)).date()
    day1 = (inp.issue_time - timedelta(days=1)).date()
    try:
        res = verify_archive(list(runs), inp.obs_units, region=inp.config.region,
                             period=(day0, day1), bootstrap=False)
    except ValueError as exc:  # e.g. no earlier run has a valid day in the period yet
        return None, f"nothing to verify yet ({exc})"
    table = res.tables.get("continuous_daily")
    if table is None or len(table) == 0:
        return None, "no matched forecast–observation pairs yet"
    if "group" in table.columns:
        table = table[table["group"] == VERIFY_ALL]
    keep = [c for c in ("variable", "lead_day", "n", "mb", "rmse", "r", "skill_persistence")
            if c in table.columns]
    scores = table[keep].reset_index(drop=True)
    write_text_atomic(inp.verification_path, scores.to_csv(index=False))
    return scores, f"{len(runs)} runs verified, {day0} … {day1}"


def render_report(inp: ProductInputs, scores: pd.DataFrame | None,
                  maps: Sequence[Path] | None = None) -> Path:
    """The forecasters' review report ``products/<stamp>/report.html``.

    ``products.report.render_review_report`` with the observations of the last
    :data:`REPORT_OBS_DAYS` days before the issue time, the recent scores and the maps.
    """
    from airwarn.products.report import render_review_report

    obs = inp.obs_units
    if obs is not None and len(obs):
        obs = obs[obs["time"] > inp.issue_time.tz_convert("UTC")
                  - pd.Timedelta(days=REPORT_OBS_DAYS)]
    return Path(render_review_report(inp.forecast, inp.decisions, obs,
                                     inp.out_dir / "report.html", scores=scores,
                                     config=inp.config, maps=list(maps) if maps else None))


def render_decision_bulletins(inp: ProductInputs, *, pdf: bool = True
                              ) -> dict[str, dict[str, Path]]:
    """Bulletins of every decision (``products.bulletin.render_bulletins``).

    The 气象条件 line comes from the meteorology the run forecast with
    (``products.meteorology.run_unit_met``), the 数据依据 section from the forecast's inputs.

    Returns
    -------
    dict
        decision id → {key → path} (keys ``zh.html zh.pdf zh.md en.html en.pdf en.md json
        cap.xml``).
    """
    from airwarn.products.bulletin import render_bulletins
    from airwarn.products.meteorology import decision_meteorology, run_unit_met

    if not inp.decisions:
        return {}
    source = str(inp.forecast.attrs.get("source", "")) or None
    unit_met = run_unit_met(inp.met_source, inp.issue_time, inp.config.region.unit_ids)
    inputs = json_inputs(inp.forecast)
    out: dict[str, dict[str, Path]] = {}
    for d in inp.decisions:
        did = str(getattr(d, "decision_id", None) or decision_dict(d)["decision_id"])
        out[did] = render_bulletins(d, inp.config, inp.out_dir / "bulletins", source=source,
                                    pdf=pdf, inputs=inputs,
                                    meteorology=decision_meteorology(d, unit_met))
    return out


def deliver_bulletins(inp: ProductInputs, bulletins: Mapping[str, Mapping[str, Path | str]],
                      register: Any) -> list[Any]:
    """Send every decision's bulletins (``products.delivery.deliver``; never twice).

    Returns
    -------
    list of DeliveryResult
        One per decision and channel (``sent | dry_run | duplicate | failed``).
    """
    from airwarn.products.delivery import deliver

    results: list[Any] = []
    for d in inp.decisions:
        did = str(getattr(d, "decision_id", None) or decision_dict(d)["decision_id"])
        files = {k: Path(v) for k, v in bulletins.get(did, {}).items()}
        results += list(deliver(d, files, inp.config.settings, register) or [])
    return results


# --------------------------------------------------------------------------------------------
# a stored run
# --------------------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def stored_inputs(config: AirwarnConfig, issue_time: Any, *,
                  data_dir: Path | str | None = None) -> tuple[ProductInputs, list[str]]:
    """The :class:`ProductInputs` of a stored run, as the daily run had them.

    Parameters
    ----------
    config : AirwarnConfig
    issue_time : str or time-like
        Issue time (naive = Asia/Shanghai) or run stamp.
    data_dir : path-like, optional
        Data directory (default ``config.settings.data_dir``).

    Returns
    -------
    inputs, notes : ProductInputs, list of str
        ``notes``: what could not be had (no warnings file, no observations, no met source).

    Raises
    ------
    FileNotFoundError
        No forecast file for that issue time (names the expected path).
    """
    from airwarn.alerts.warning import read_decisions
    from airwarn.models.forecast import read_forecast

    root = Path(data_dir if data_dir is not None else config.settings.data_dir).resolve()
    config = dataclasses.replace(
        config, settings=config.settings.model_copy(update={"data_dir": root}))
    store = RunStore(root)
    issue = parse_issue_time(issue_time)
    stamp = issue_stamp(issue)
    fpath = store.forecast(stamp)
    if not fpath.exists():
        raise FileNotFoundError(f"no forecast for issue time {stamp}: expected {fpath} "
                                "(run `airwarn run daily` or `airwarn forecast` first)")
    ds = read_forecast(fpath)
    notes: list[str] = []
    wpath = store.warnings(stamp)
    decisions: list[Any] = read_decisions(wpath) if wpath.exists() else []
    if not wpath.exists():
        notes.append(f"no warnings file {wpath}: products without warning decisions")
    manifest = _read_manifest(store.manifest(stamp))
    fc_inputs = json_inputs(ds)
    degraded = list(manifest.get("degraded_inputs") or fc_inputs.get("degraded") or [])
    fill_degraded(decisions, degraded)
    try:
        obs_units: pd.DataFrame | None = run_unit_obs(config, issue)
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"no observations for the report: {exc}")
        obs_units = None
    met = str(manifest.get("met") or fc_inputs.get("met_source") or "auto")
    try:
        met_source, _ = make_met_source(config, met)
        met_info = dict(met_source.describe(issue.tz_convert("UTC")))
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"meteorology source {met!r} not available ({exc})")
        met_source, met_info = None, {}
    return ProductInputs(config=config, issue_time=issue, forecast=ds, decisions=decisions,
                         obs_units=obs_units, met_source=met_source, met_info=met_info,
                         degraded=degraded), notes


def render_products(config: AirwarnConfig, issue_time: Any, *, data_dir: Path | str | None = None,
                    what: Sequence[str] = ("maps", "report", "bulletins"),
                    pdf: bool = True) -> RunProducts:
    """Render the chosen products of the run issued at ``issue_time`` from its stored files.

    Runs :data:`PRODUCT_SEQUENCE` on :func:`stored_inputs` — the same functions and inputs as
    the daily run's product stages.

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
    inp, notes = stored_inputs(config, issue_time, data_dir=data_dir)
    res = RunProducts(stamp=inp.stamp, out_dir=inp.out_dir, notes=notes)
    register = None
    if "delivery" in what:
        from airwarn.alerts.register import Register
        from airwarn.products.delivery import check_delivery_config

        check_delivery_config(inp.config.settings)  # fail before the first send
        register = Register(inp.store.register)
    for step in PRODUCT_SEQUENCE:
        if step == "maps" and "maps" in what:
            res.maps = render_maps(inp)
        elif step == "verify_recent" and "report" in what:
            res.scores, detail = verify_recent(inp, recent_runs(inp))
            if res.scores is None:
                res.notes.append(f"review report without verification: {detail}")
        elif step == "report" and "report" in what:
            res.report = render_report(inp, res.scores, res.maps or None)
        elif step == "bulletins" and ("bulletins" in what or "delivery" in what):
            res.bulletins = render_decision_bulletins(inp, pdf=pdf)
        elif step == "delivery" and "delivery" in what:
            res.deliveries = deliver_bulletins(inp, res.bulletins, register)
    return res
