"""``airwarn demo``: the whole pipeline on the embedded demo world, from nothing to bulletins.

Steps (each prints what it did):

1. build the demo world (``features.demo_world.build_world``; cached: a second run with the same
   seed, days and issue time reuses it);
2. print per-unit observed daily AQI level counts per season (``summarise_world``);
3. train the models, if there are none or the world changed since they were trained
   (``models.train.train_models`` on the world's observations and regenerated forecast cycles);
4. backfill the last ``backfill_days`` of issue times (forecasts fanned out, then warnings in
   time order; no maps, no delivery) so that the review report and the monthly report have
   verification;
5. the real input path: the world writes today's inputs as a provider would
   (``features.demo_world.feed``: IFS-like GRIB2 cycles, CNEMC hourly files, CMA surface
   exports), they are served on 127.0.0.1, fetched (``configs/sources_demo.yaml``) and ingested
   through the inbox; then today's ``daily_forecast`` runs through Prefect on the ingested cycle
   (read from ``met/cycles``) and observations (all products; delivery is a dry run unless
   ``configs/settings.yaml`` says otherwise). Training and the backfill use the world's tables
   and regenerated cycles directly;
6. the monthly 会商 report of the backfilled month;
7. a table of the products and where they are.

Environment overrides (for a quick look and the tests): ``AIRWARN_DEMO_DAYS`` (world length,
days; ``settings.demo_days``), ``AIRWARN_DEMO_BACKFILL_DAYS`` (default 30),
``AIRWARN_DEMO_TRAIN_DAYS`` (default 400).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.alerts.daily import daily_aqi
from airwarn.configs import AirwarnConfig
from airwarn.configs.model_schema import ModelSettings
from airwarn.features.demo_world import WorldInfo, build_world, summarise_world
from airwarn.features.demo_world.feed import feed_dir, write_demo_feed
from airwarn.features.run_inputs import load_unit_obs, make_met_source
from airwarn.flows.daily import config_for
from airwarn.flows.stages import StageUnavailable, write_manifest
from airwarn.models.train import train_models

from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["BACKFILL_DAYS", "TRAIN_DAYS", "DemoResult", "needs_training", "train_demo", "run_demo",
           "feed_dir", "fetch_demo_feed"]

#: Days of issue times backfilled before today's run (``AIRWARN_DEMO_BACKFILL_DAYS``), d.
BACKFILL_DAYS = 30
#: Days of observations the demo trains on (``AIRWARN_DEMO_TRAIN_DAYS``): a full seasonal cycle
#: and a margin, which keeps ``make demo`` within minutes on 2 cores (the whole archive is used
#: by ``airwarn run retrain``), d.
TRAIN_DAYS = 400

#: The demo's lighter LightGBM settings (over ``configs/models.yaml``): half the boosting rounds
#: at twice the learning rate and every 6th lead hour for the hourly shape model, so that
#: ``make demo`` trains both pollutants in a few minutes on 2 cores. Operational training
#: (``airwarn train``, ``airwarn run retrain``) uses ``configs/models.yaml`` unchanged.
#: ``AIRWARN_DEMO_FULL_MODELS=1`` trains the demo with the full settings.
DEMO_MODEL_OVERRIDES: dict[str, Any] = {
    "daily": {"num_boost_round": 400, "learning_rate": 0.08},
    "hourly": {"num_boost_round": 200, "learning_rate": 0.1},
    "hourly_lead_stride": 6,
}


def demo_model_settings() -> Any:
    """``configs/models.yaml`` with :data:`DEMO_MODEL_OVERRIDES` applied (validated again)."""
    from airwarn.configs.model_schema import ModelSettings, load_model_settings

    data = load_model_settings().model_dump()
    for key, value in DEMO_MODEL_OVERRIDES.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return ModelSettings.model_validate(data)


class DemoResult(dict):
    """What ``airwarn demo`` did (a dict: ``world``, ``summary``, ``training``, ``backfill``,
    ``daily``, ``monthly``, ``timings`` in s)."""


def _train_marker(data_dir: Path) -> Path:
    return RunStore(data_dir).demo_trained


def _world_key(world: WorldInfo) -> dict[str, Any]:
    return {"version": str(world.version), "seed": int(world.seed), "days": int(world.days),
            "issue_time": pd.Timestamp(world.issue_time).isoformat()}


def needs_training(data_dir: Path, world: WorldInfo) -> bool:
    """True when no models exist or they were trained on another world (seed, days, end, version)."""
    marker = _train_marker(data_dir)
    if not marker.exists() or not any(RunStore(data_dir).models_dir.glob("*/*/card.json")):
        return True
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("world") != _world_key(world)
    except ValueError:
        return True


def train_demo(config: AirwarnConfig, world: WorldInfo, settings: ModelSettings | None = None,
               progress: Callable[[str], None] | None = None) -> list[Path]:
    """Train on the world's observations (up to its issue time) with its regenerated cycles.

    Parameters
    ----------
    config : AirwarnConfig
    world : WorldInfo
    settings : ModelSettings, optional
        Model settings (default :func:`demo_model_settings`; tests pass small ones).
    progress : callable, optional
        Receives progress lines.
    """
    data_dir = Path(config.settings.data_dir).resolve()
    until = pd.Timestamp(world.issue_time)
    days = int(os.environ.get("AIRWARN_DEMO_TRAIN_DAYS", TRAIN_DAYS))
    end = until.tz_convert("UTC") - pd.Timedelta(hours=1)
    obs_units = load_unit_obs(config, start=end - pd.Timedelta(days=days), end=end)
    met_source, _ = make_met_source(config, "demo")
    if settings is None and os.environ.get("AIRWARN_DEMO_FULL_MODELS") != "1":
        settings = demo_model_settings()
    kwargs = {"settings": settings} if settings is not None else {}
    result = train_models(config, obs_units, met_source, until, progress=progress, **kwargs)
    write_manifest(_train_marker(data_dir), {"world": _world_key(world),
                                             "trained": pd.Timestamp.now(tz="UTC").isoformat()})
    return result


def fetch_demo_feed(data_dir: Path | str, issue_time: Any, *, sources: Any = None,
                    say: Callable[[str], None] = print) -> dict[str, Any] | None:
    """The demo's real input path: serve :func:`feed_dir` on 127.0.0.1, fetch every source that
    has a folder there (as configured in ``configs/sources_demo.yaml``, else ``sources.yaml``, base URLs pointed at the
    loopback server), and ingest the inbox — ``flows.acquire.fetch_and_ingest`` planned for
    ``issue_time``, without waiting.

    Returns the acquisition record, or None when the feed folder is empty (nothing served).
    """
    from airwarn.configs.sources_schema import load_sources
    from airwarn.flows.acquire import fetch_and_ingest
    from airwarn.flows.loopback import serve_folder

    feed = feed_dir(data_dir)
    if sources is None:   # the demo's sources (configs/sources_demo.yaml), else configs/sources.yaml
        from airwarn.configs import config_dir
        from airwarn.features.demo_world.feed import DEMO_SOURCES_FILE, load_demo_sources

        sources = load_demo_sources() if (config_dir() / DEMO_SOURCES_FILE).exists() else None
    srcs = sources or load_sources()
    names = [s.name for s in srcs.sources if (feed / s.name).is_dir()]
    if not names:
        return None
    now = pd.Timestamp(issue_time)
    now = (now.tz_localize(LOCAL_TZ) if now.tzinfo is None else now).tz_convert("UTC")
    with serve_folder(feed) as url:
        say(f"      serving {feed} on {url}; fetching {', '.join(names)} …")
        rec = fetch_and_ingest(issue_time, data_dir, names=names, sources=srcs,
                               base_urls={"*": url + "/{source}"}, wait=False,
                               clock=lambda: now)
    got = sum(c.get("ok", 0) for c in rec["fetched"].values())
    inbox = rec.get("inbox", {})
    say(f"      {got} file(s) fetched, {len(inbox.get('ingested', []))} ingested, "
        f"{len(inbox.get('quarantined', []))} quarantined, "
        f"{len(inbox.get('deferred', []))} left for later")
    for name, c in rec["cycles"].items():
        say(f"      {name}: cycle {c['used'] or 'none'} used"
            + (f" (newest {c['wanted']} incomplete: {c['wanted_steps']} steps)"
               if c["fallback"] else ""))
    return rec


def run_demo(
    data_dir: Path | str | None = None,
    *,
    days: int | None = None,
    backfill_days: int | None = None,
    end: Any = None,
    say: Callable[[str], None] = print,
    show: Callable[[Any], None] | None = None,
) -> DemoResult:
    """Run the demo (see the module docstring); return what was done.

    Parameters
    ----------
    data_dir : path, optional
        Data directory (default ``AIRWARN_DATA_DIR`` / ``./data``).
    days : int, optional
        World length, days (default ``settings.demo_days``).
    backfill_days : int, optional
        Issue days backfilled before today (default ``AIRWARN_DEMO_BACKFILL_DAYS`` or 30).
    end : time-like, optional
        Issue time of "today's" run (default the latest past issue hour).
    say : callable
        Progress lines.
    show : callable, optional
        Displays a table (e.g. ``rich.console.Console.print``); default ``say(str(table))``.
    """
    import time

    from airwarn.flows.backfill import run_backfill
    from airwarn.flows.daily import daily_forecast
    from airwarn.flows.monthly import run_monthly

    show = show or (lambda x: say(str(x)))
    config = config_for(data_dir)
    ddir = Path(config.settings.data_dir)
    days = days or config.settings.demo_days
    if backfill_days is None:
        backfill_days = int(os.environ.get("AIRWARN_DEMO_BACKFILL_DAYS", BACKFILL_DAYS))
    out = DemoResult(timings={})
    t0 = time.perf_counter()
    say(f"[1/6] demo world: {days} days in {ddir.resolve()} …")
    world = build_world(ddir, seed=config.settings.demo_seed, end=end, days=days,
                        progress=False)
    out["world"] = {"issue_time": pd.Timestamp(world.issue_time).isoformat(),
                    "start": str(world.start), "end": str(world.end), "days": world.days,
                    "seed": world.seed, "version": world.version}
    out["timings"]["world"] = round(time.perf_counter() - t0, 1)
    say(f"      issue time {pd.Timestamp(world.issue_time):%Y-%m-%d %H:%M} ({LOCAL_TZ}), "
        f"{len(world.units)} units, {len(world.stations)} stations "
        f"({out['timings']['world']} s)")

    t = time.perf_counter()
    summary = summarise_world(world, daily_aqi)
    out["summary"] = summary
    show(summary)
    say("      observed daily AQI level counts per unit and season (synthetic demo)")

    t = time.perf_counter()
    if needs_training(ddir, world):
        say("[2/6] training the models on the demo world …")
        try:
            out["training"] = train_demo(config, world, progress=lambda m: say(f"      {m}"))
            say(f"      trained ({time.perf_counter() - t:.0f} s)")
        except StageUnavailable as exc:
            out["training"] = f"not available: {exc}"
            say(f"      training not available yet ({exc}); forecasts fall back to baselines")
        except ValueError as exc:  # e.g. a world too short to train on
            out["training"] = f"not trained: {exc}"
            say(f"      not trained ({exc}); forecasts fall back to baselines (named in the "
                f"products)")
    else:
        out["training"] = "reused (models trained on this world)"
        say("[2/6] models already trained on this world: reused")
    out["timings"]["train"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    issue = pd.Timestamp(world.issue_time)
    if backfill_days > 0:
        b0 = (issue - pd.Timedelta(days=backfill_days)).strftime("%Y-%m-%dT%H:%M")
        b1 = (issue - pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        say(f"[3/6] backfill {b0} … {b1} (forecasts, then warnings in time order) …")
        rows = run_backfill(b0, b1, data_dir=str(ddir), met="demo", warnings=True)
        out["backfill"] = rows
        n_bad = sum(r["status"] == "failed" for r in rows)
        say(f"      {len(rows)} issue times, {n_bad} failed "
            f"({time.perf_counter() - t:.0f} s)")
        for r in rows:
            if r["status"] == "failed":
                say(f"      ! {r['issue_time']}: {r['error']}")
                break
    else:
        out["backfill"] = []
    out["timings"]["backfill"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    say("[3b] the demo world as a data provider: IFS-like GRIB2 cycles, CNEMC hourly files, "
        "CMA surface exports …")
    feed = write_demo_feed(world, ddir)
    out["feed"] = feed
    for name, w in feed["sources"].items():
        what = (", ".join(f"{c['cycle'][:13]}Z ({c['steps']} steps)" for c in w["cycles"])
                if "cycles" in w else f"{w['files']} files, {w['stations']} stations")
        say(f"      {name}: {what}")
    out["timings"]["feed"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    out["fetch"] = fetch_demo_feed(ddir, issue, say=say)   # serve, fetch, ingest the feed
    out["timings"]["fetch"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    say(f"[4/6] today's daily forecast run {issue:%Y-%m-%d %H:%M} through Prefect (the fetched "
        f"cycle and observations) …")
    from airwarn.flows.daily import RunFailed

    try:
        out["daily"] = daily_forecast(issue_time=issue.isoformat(), data_dir=str(ddir),
                                      met="demo")
    except RunFailed as exc:
        say(f"      run failed: {exc}")
        from airwarn.flows.stages import read_manifest

        out["daily"] = read_manifest(RunStore(ddir).manifest(issue)) or {}
    out["timings"]["daily"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    month = (issue - pd.Timedelta(days=max(1, backfill_days) / 2)).strftime("%Y-%m")
    say(f"[5/6] monthly 会商 verification report {month} …")
    try:
        out["monthly"] = run_monthly(month, ddir)
    except Exception as exc:  # the demo goes on: the report is the last product
        out["monthly"] = {"month": month, "status": "failed",
                          "error": f"{type(exc).__name__}: {exc}", "outputs": []}
    out["timings"]["monthly"] = round(time.perf_counter() - t, 1)
    out["timings"]["total"] = round(time.perf_counter() - t0, 1)
    say("[6/6] products")
    return out
