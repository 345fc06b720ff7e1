"""The run store: the layout of a data directory, owned in one place.

``RunStore(data_dir)`` answers "where does X live" with typed path methods; packages ask it
instead of joining ``data_dir / "forecasts" / f"{stamp}.nc"`` by hand. Nothing here creates
files (callers write atomically with :mod:`airwarn.core.atomic`); ``ensure`` makes a folder.

Layout (docs/INTERFACES.md, Data directory)::

    obs/YYYY-MM.parquet            canonical station observations, one file per UTC month
    obs/qc/<stamp>.csv             QC reports
    met/analysis/YYYY-MM.nc        gridded analyses
    met/cycles/YYYYMMDDHH.nc       NWP forecast cycles (UTC cycle time)
    demo/                          demo-world cache and truth
    models/<pollutant>/<version>/  trained models + card.json
    forecasts/<stamp>.nc           one forecast per run
    warnings/<stamp>.json          warning decisions (+ <stamp>_orders.csv)
    register.sqlite                warnings register
    products/<stamp>/              maps/, report.html, bulletins/, manifest.json
    reports/monthly/<YYYY-MM>/     monthly 会商 reports
    backtests/                     backtest outputs
    locks/<stamp>.lock             issue-time locks
    met/obs/YYYY-MM.parquet        station meteorology
    inbox/                         dropped files, fetch and inbox ledgers
    acquire/<stamp>.json           acquire-run records
    response/                      emergency-response outputs
    prefect/                       local Prefect home

``<stamp>`` is :func:`airwarn.core.timeutil.issue_stamp` of the issue time (local ``YYYYMMDDTHHMM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from airwarn.core.timeutil import issue_stamp

__all__ = ["RunStore"]


def _stamp(issue_time: Any) -> str:
    """A stamp given as such (``YYYYMMDDTHHMM`` text) or the stamp of an issue time."""
    if isinstance(issue_time, str) and len(issue_time) == 13 and issue_time[8] == "T" \
            and issue_time.replace("T", "").isdigit():
        return issue_time
    return issue_stamp(issue_time)


@dataclass(frozen=True)
class RunStore:
    """Paths of everything under one data directory.

    Parameters
    ----------
    data_dir : Path
        The data directory (``settings.data_dir``, ``AIRWARN_DATA_DIR``).

    Issue times may be given as a tz-aware time, a naive local time or a run stamp
    (``20260120T1500``).
    """

    data_dir: Path

    def __init__(self, data_dir: Path | str) -> None:
        object.__setattr__(self, "data_dir", Path(data_dir))

    # observations and meteorology ----------------------------------------------------------
    @property
    def obs_dir(self) -> Path:
        """``obs/`` — canonical station observations (Parquet per UTC month)."""
        return self.data_dir / "obs"

    def obs_month(self, month: Any) -> Path:
        """``obs/YYYY-MM.parquet`` of a UTC month (any time in it, or ``"YYYY-MM"``)."""
        p = pd.Period(month, freq="M") if not isinstance(month, pd.Period) else month
        return self.obs_dir / f"{p.year:04d}-{p.month:02d}.parquet"

    def qc_report(self, issue_time: Any) -> Path:
        """``obs/qc/<stamp>.csv`` — the QC report of a run."""
        return self.obs_dir / "qc" / f"{_stamp(issue_time)}.csv"

    @property
    def met_analysis_dir(self) -> Path:
        """``met/analysis/`` — gridded analyses."""
        return self.data_dir / "met" / "analysis"

    def met_analysis(self, month: Any) -> Path:
        """``met/analysis/YYYY-MM.nc`` of a UTC month."""
        p = pd.Period(month, freq="M") if not isinstance(month, pd.Period) else month
        return self.met_analysis_dir / f"{p.year:04d}-{p.month:02d}.nc"

    @property
    def met_cycles_dir(self) -> Path:
        """``met/cycles/`` — NWP forecast cycles."""
        return self.data_dir / "met" / "cycles"

    def met_cycle(self, reference_time: Any) -> Path:
        """``met/cycles/YYYYMMDDHH.nc`` of a cycle (reference time; naive = UTC)."""
        t = pd.Timestamp(reference_time)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return self.met_cycles_dir / f"{t:%Y%m%d%H}.nc"

    @property
    def demo_dir(self) -> Path:
        """``demo/`` — the demo world's cache and truth files."""
        return self.data_dir / "demo"

    # models ---------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        """``models/``."""
        return self.data_dir / "models"

    def model_dir(self, pollutant: str, version: str | None = None) -> Path:
        """``models/<pollutant>/`` or ``models/<pollutant>/<version>/``."""
        d = self.models_dir / pollutant
        return d / version if version else d

    # runs -------------------------------------------------------------------------------------
    @property
    def forecasts_dir(self) -> Path:
        """``forecasts/``."""
        return self.data_dir / "forecasts"

    def forecast(self, issue_time: Any) -> Path:
        """``forecasts/<stamp>.nc``."""
        return self.forecasts_dir / f"{_stamp(issue_time)}.nc"

    @property
    def warnings_dir(self) -> Path:
        """``warnings/``."""
        return self.data_dir / "warnings"

    def warnings(self, issue_time: Any) -> Path:
        """``warnings/<stamp>.json`` — the warning decisions of a run."""
        return self.warnings_dir / f"{_stamp(issue_time)}.json"

    def orders(self, issue_time: Any) -> Path:
        """``warnings/<stamp>_orders.csv`` — the control orders of a run."""
        return self.warnings_dir / f"{_stamp(issue_time)}_orders.csv"

    @property
    def register(self) -> Path:
        """``register.sqlite`` — the warnings register."""
        return self.data_dir / "register.sqlite"

    def products(self, issue_time: Any) -> Path:
        """``products/<stamp>/`` — maps, report, bulletins and the run manifest."""
        return self.data_dir / "products" / _stamp(issue_time)

    def manifest(self, issue_time: Any) -> Path:
        """``products/<stamp>/manifest.json``."""
        return self.products(issue_time) / "manifest.json"

    def monthly_report(self, month: str) -> Path:
        """``reports/monthly/<YYYY-MM>/``."""
        return self.data_dir / "reports" / "monthly" / month

    @property
    def backtests_dir(self) -> Path:
        """``backtests/``."""
        return self.data_dir / "backtests"

    def lock(self, issue_time: Any) -> Path:
        """``locks/<stamp>.lock`` — the issue-time lock."""
        return self.data_dir / "locks" / f"{_stamp(issue_time)}.lock"

    @staticmethod
    def ensure(path: Path) -> Path:
        """Create ``path`` (a folder) and its parents; return it."""
        path.mkdir(parents=True, exist_ok=True)
        return path

    # added by w2-store (issue 17: every package asks the store) ---------------------------------
    @property
    def qc_dir(self) -> Path:
        """``obs/qc/`` — QC reports (``<stamp>.csv``) and rejected rows (``<stamp>_rejected.csv``)."""
        return self.obs_dir / "qc"

    @property
    def met_obs_dir(self) -> Path:
        """``met/obs/`` — station meteorology (Parquet per UTC month)."""
        return self.data_dir / "met" / "obs"

    def met_obs_month(self, month: Any) -> Path:
        """``met/obs/YYYY-MM.parquet`` of a UTC month (any time in it, or ``"YYYY-MM"``)."""
        p = pd.Period(month, freq="M") if not isinstance(month, pd.Period) else month
        return self.met_obs_dir / f"{p.year:04d}-{p.month:02d}.parquet"

    @property
    def demo_world(self) -> Path:
        """``demo/world.json`` — the demo world's description; its presence marks a demo store."""
        return self.demo_dir / "world.json"

    @property
    def demo_truth(self) -> Path:
        """``demo/unit_truth.parquet`` — the demo world's true unit concentrations, µg/m³."""
        return self.demo_dir / "unit_truth.parquet"

    @property
    def demo_defects(self) -> Path:
        """``demo/defects.csv`` — the defects the demo world injected into its station feed."""
        return self.demo_dir / "defects.csv"

    @property
    def demo_feed_dir(self) -> Path:
        """``demo/feed/`` — the demo's provider folder (``<source>/<provider layout>``)."""
        return self.demo_dir / "feed"

    @property
    def demo_met_stations(self) -> Path:
        """``demo/met_stations.csv`` — the demo's met-station → unit mapping."""
        return self.demo_dir / "met_stations.csv"

    @property
    def demo_trained(self) -> Path:
        """``models/demo_trained.json`` — which demo world the live models were trained on."""
        return self.models_dir / "demo_trained.json"

    def model_candidates(self, stamp: str) -> Path:
        """``models/candidates/<stamp>/`` — a retrain's staging folder (``stamp``: UTC run time)."""
        return self.models_dir / "candidates" / stamp

    def retrain_record(self, stamp: str) -> Path:
        """``models/retrain/<stamp>.json`` — a retrain's summary (``stamp``: UTC run time)."""
        return self.models_dir / "retrain" / f"{stamp}.json"

    @property
    def products_dir(self) -> Path:
        """``products/`` — one folder per run (:meth:`products`)."""
        return self.data_dir / "products"

    def monthly_manifest(self, month: str) -> Path:
        """``reports/monthly/<YYYY-MM>/manifest.json`` — the monthly flow's record."""
        return self.monthly_report(month) / "manifest.json"

    def lock_named(self, name: str) -> Path:
        """``locks/<name>.lock`` — a lock that is not an issue time's (e.g. a command's)."""
        return self.data_dir / "locks" / f"{name}.lock"

    @property
    def inbox_dir(self) -> Path:
        """``inbox/`` — files dropped for ingestion and the fetch/inbox ledgers."""
        return self.data_dir / "inbox"

    def acquire_record(self, issue_time: Any) -> Path:
        """``acquire/<stamp>.json`` — the record of the acquire run for an issue time."""
        return self.data_dir / "acquire" / f"{_stamp(issue_time)}.json"

    @property
    def prefect_home(self) -> Path:
        """``prefect/`` — the local Prefect server's home (``PREFECT_HOME``)."""
        return self.data_dir / "prefect"

    @property
    def response_dir(self) -> Path:
        """``response/`` — emergency-response outputs (e.g. staggered-production calendars)."""
        return self.data_dir / "response"
