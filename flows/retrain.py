"""Weekly retraining: train, compare with the current models, promote only if no worse.

``retrain(until)`` reads the observation archive up to ``until`` (store → QC → station→unit) and:

1. **candidate**: trains new models (``models.train.train_models``) on the data before the
   hold-out (the last ``compare_weeks`` weeks), into a staging directory
   ``models/candidates/<stamp>/holdout/`` — the live models are untouched;
2. **compare**: forecasts every hold-out day with the candidate and with the current models
   (``models.forecast.forecast_arrays``, same features, same climatology) and scores both
   (``models.backtest.score_arrays``: daily RMSE per lead day, µg/m³);
3. **promote**, per pollutant, only if the candidate is no worse (mean RMSE over D+1…D+3 ≤ the
   current one's): the models are retrained on all data up to ``until`` (``final/``), the
   comparison is written into their card (``promotion``) and the version directory is copied
   into ``models/<pollutant>/`` atomically (copy to a temporary name, then rename), where
   ``models.registry.load_latest`` picks it up. A rejected candidate's card records the
   comparison too (``promotion.promoted = false``) and stays in ``models/candidates/``.

With no current model for a pollutant the candidate is promoted without comparison (first
training). The flow's summary goes to ``models/retrain/<stamp>.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.configs.model_schema import ModelSettings
from airwarn.features.atomic import write_text_atomic
from airwarn.features.build import LOCAL_OFFSET_H, MetSource
from airwarn.features.run_inputs import load_unit_obs, make_met_source
from airwarn.flows.daily import LOCAL_TZ, config_for, parse_issue_time
from airwarn.flows.stages import StageRecord, timed, write_manifest
from airwarn.models.forecast import TARGETS as FORECAST_TARGETS
from airwarn.models.registry import load_latest
from airwarn.models.train import train_models
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from airwarn.core.runstore import RunStore

__all__ = ["COMPARE_WEEKS", "compare_models", "train_fanout", "promote_version", "run_retrain",
           "retrain", "run_retrain_flow"]

#: Weeks of the most recent archive held out to compare the candidate with the current models.
COMPARE_WEEKS = 8


def compare_models(config: AirwarnConfig, obs_units: pd.DataFrame, met_source: MetSource,
                   model_dirs: dict[str, Path], first_day: pd.Timestamp,
                   last_day: pd.Timestamp, settings: ModelSettings | None = None
                   ) -> dict[str, dict[str, float]]:
    """Mean daily RMSE (D+1…D+3, µg/m³) per pollutant of each model set on the same issues.

    Parameters
    ----------
    config : AirwarnConfig
    obs_units : DataFrame
        Unit observations ``(time UTC, unit_id, pm25 … co)`` covering the hold-out and the days
        before it.
    met_source : MetSource
    model_dirs : dict
        Name → data directory holding ``models/<pollutant>/<version>/`` (e.g. ``current``,
        ``candidate``).
    first_day, last_day : Timestamp
        Local issue days of the comparison (their D+3 must be observed).
    settings : ModelSettings, optional

    Returns
    -------
    dict
        ``{name: {pollutant: rmse}}`` (NaN when a set has no model for a pollutant).
    """
    from airwarn.configs.model_schema import load_model_settings
    from airwarn.features.build import (
        POLLUTANTS,
        Geometry,
        build_issue_features,
        daily_targets,
        make_panel,
    )
    from airwarn.models.backtest import issue_times_between, score_arrays
    from airwarn.models.baselines import fit_climatology
    from airwarn.models.forecast import DAILY_NAMES, TARGETS, forecast_arrays
    from airwarn.models.registry import load_latest

    settings = settings or load_model_settings()
    units = list(config.region.unit_ids)
    obs = make_panel(obs_units, list(POLLUTANTS), units)
    daily_obs = daily_targets(obs)
    hour = (settings.issue_hours or list(config.settings.issue_hours))[-1]
    its = issue_times_between(first_day, last_day, hour)
    geometry = Geometry.from_region(config.region)
    feats = build_issue_features(obs, its, met_source, geometry=geometry, daily=daily_obs)
    clim = fit_climatology(obs, daily_obs, until=its[0])
    out: dict[str, dict[str, float]] = {}
    for name, ddir in model_dirs.items():
        loaded = {p: load_latest(ddir, p) for p in TARGETS}
        models = {p: r.model for p, r in loaded.items()}
        met_required = {p: (r.card or {}).get("met_source", "none") != "none"
                        for p, r in loaded.items()}
        fa = forecast_arrays(obs, daily_obs, its, met_source, models, settings=settings,
                             quantiles=list(config.settings.quantiles), climatology=clim,
                             geometry=geometry, met_required=met_required, feats=feats)
        sc = score_arrays(fa, obs, daily_obs, clim, feats, valid_last_day=last_day
                          + pd.Timedelta(days=3))
        out[name] = {}
        for p in TARGETS:
            if models[p] is None:
                out[name][p] = float("nan")
                continue
            by_lead = sc["daily"].get(DAILY_NAMES[p], {})
            vals = [by_lead[k]["rmse"] for k in ("D+1", "D+2", "D+3") if k in by_lead]
            out[name][p] = float(np.nanmean(vals)) if vals else float("nan")
    return out


def train_fanout(config: AirwarnConfig, obs_units: pd.DataFrame, met_source: MetSource,
                 until: Any, data_dir: Path, settings: ModelSettings | None = None,
                 fanout: bool = False) -> list[Path]:
    """``models.train.train_models``, one call per pollutant as Prefect tasks when ``fanout``.

    Each pollutant's models are independent (pooled over units), so on a Dask task runner
    (``retrain(..., dask_address=…)``) they train in parallel; without ``fanout`` (plain calls,
    tests) it is a single ``train_models`` call.

    Returns
    -------
    list of Path
        Card paths, one per pollutant.
    """
    from airwarn.configs.model_schema import load_model_settings
    settings = settings or load_model_settings()
    if not fanout or len(settings.pollutants) < 2:
        return [Path(c) for c in train_models(config, obs_units, met_source, until,
                                              settings=settings, data_dir=data_dir)]
    futures = [train_task.submit(config, obs_units, met_source, until,
                                 settings.model_copy(update={"pollutants": [p]}), data_dir)
               for p in settings.pollutants]
    return [Path(c) for f in futures for c in f.result()]


def _train_one(config: AirwarnConfig, obs_units: pd.DataFrame, met_source: MetSource, until: Any,
               settings: ModelSettings, data_dir: Path) -> list[str]:
    return [str(c) for c in train_models(config, obs_units, met_source, until, settings=settings,
                                         data_dir=data_dir)]


train_task = task(_train_one, name="train-pollutant", cache_policy=NO_CACHE, persist_result=False,
                  timeout_seconds=7200)


def promote_version(card_path: Path, data_dir: Path, promotion: dict[str, Any]) -> Path:
    """Record ``promotion`` in a model card and copy its version directory into the live models.

    The directory is copied under a temporary name beside the target and renamed into place,
    so ``load_latest`` never sees a half-copied version.

    Returns
    -------
    Path
        The live card path ``<data_dir>/models/<pollutant>/<version>/card.json``.
    """
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["promotion"] = promotion
    write_text_atomic(card_path, json.dumps(card, ensure_ascii=False, indent=2, default=str))
    src = card_path.parent
    pollutant, version = src.parent.name, src.name
    dst = RunStore(data_dir).model_dir(pollutant, version)
    tmp = dst.parent / f".{version}.promoting-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    return dst / card_path.name


def _record(card_path: Path, promotion: dict[str, Any]) -> None:
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["promotion"] = promotion
    write_text_atomic(card_path, json.dumps(card, ensure_ascii=False, indent=2, default=str))


def run_retrain(until: Any = None, data_dir: str | Path | None = None, met: str = "auto",
                compare_weeks: int = COMPARE_WEEKS, settings: ModelSettings | None = None,
                train_days: int | None = None, fanout: bool = False,
                refit: bool = True) -> dict[str, Any]:
    """Train, compare and (if no worse) promote — plain function (see the module docstring).

    Parameters
    ----------
    until : str or datetime, optional
        Training uses observations before this time (default: now, Asia/Shanghai, on the hour).
    data_dir : path, optional
    met : str
        Meteorology for the training features (``cycles``, ``demo``, ``perfect``, ``none``).
    compare_weeks : int
        Hold-out weeks for the comparison, weeks.
    settings : ModelSettings, optional
        Default ``configs/models.yaml``.
    train_days : int, optional
        Days of observations used (default: the whole archive), d.
    fanout : bool
        Train the pollutants as parallel Prefect tasks (inside the :func:`retrain` flow).
    refit : bool
        Refit a promoted pollutant on all data up to ``until`` (default); ``False`` promotes the
        evaluated hold-out candidate itself (what was tested is what ships; one training less).

    Returns
    -------
    dict
        ``until, status, stages, scores`` (``{current|candidate: {pollutant: rmse}}``),
        ``promoted`` (pollutant → bool), ``cards`` (live card paths of promoted models).
    """
    config = config_for(data_dir)
    ddir = Path(config.settings.data_dir)
    t = parse_issue_time(until) if until is not None else \
        pd.Timestamp.now(tz=LOCAL_TZ).floor("h").to_pydatetime()
    t_utc = pd.Timestamp(t).tz_convert("UTC")
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    store = RunStore(ddir)
    staging = store.model_candidates(stamp)
    targets = FORECAST_TARGETS
    records: list[StageRecord] = []
    start = t_utc - pd.Timedelta(days=train_days) if train_days else None
    obs_units = load_unit_obs(config, start=start, end=t_utc - pd.Timedelta(hours=1))
    met_source, notes = make_met_source(config, met)
    current = {p: load_latest(ddir, p) for p in targets}
    have_current = {p: current[p].model is not None for p in targets}
    scores: dict[str, dict[str, float]] = {}
    promoted: dict[str, bool] = {p: not have_current[p] for p in targets}
    holdout_cards: list[Path] = []
    if any(have_current.values()):
        hold = t_utc - pd.Timedelta(weeks=compare_weeks)
        rec = StageRecord("train_candidate")
        records.append(rec)
        with timed(rec):
            holdout_cards = train_fanout(config, obs_units, met_source, hold,
                                         staging / "holdout", settings, fanout)
            rec.detail = f"trained on observations before {hold.isoformat()}"
        rec = StageRecord("compare")
        records.append(rec)
        with timed(rec):
            first = (hold + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize()
            last = (t_utc + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize() \
                - pd.Timedelta(days=4)
            scores = compare_models(config, obs_units, met_source,
                                    {"current": ddir, "candidate": staging / "holdout"},
                                    first, last, settings)
            for p in targets:
                cur, cand = scores["current"][p], scores["candidate"][p]
                promoted[p] = (not have_current[p]) or (np.isfinite(cand) and
                                                        (not np.isfinite(cur) or cand <= cur))
            rec.detail = "; ".join(
                f"{p}: candidate {scores['candidate'][p]:.2f} vs current "
                f"{scores['current'][p]:.2f} µg/m³ → {'promote' if promoted[p] else 'keep'}"
                for p in targets)
    cards: list[str] = []
    if any(promoted.values()):
        if refit or not holdout_cards:
            rec = StageRecord("train_final")
            records.append(rec)
            with timed(rec):
                final = train_fanout(config, obs_units, met_source, t, staging / "final",
                                     settings, fanout)
                rec.detail = f"trained on observations before {t_utc.isoformat()}"
        else:
            final = list(holdout_cards)
        rec = StageRecord("promote")
        records.append(rec)
        with timed(rec):
            for card in final:
                p = card.parent.parent.name
                info = {"promoted": bool(promoted[p]), "retrain": stamp,
                        "compare_weeks": compare_weeks,
                        "rmse_candidate": scores.get("candidate", {}).get(p),
                        "rmse_current": scores.get("current", {}).get(p),
                        "current_version": (current[p].card or {}).get("version"),
                        "rule": "promote when the hold-out mean daily RMSE (D+1…D+3) is no "
                                "worse than the current model's; first model: promoted"}
                if promoted[p]:
                    cards.append(str(promote_version(card, ddir, info)))
                else:
                    _record(card, info)
            rec.detail = ", ".join(f"{p}: {'promoted' if v else 'kept current'}"
                                   for p, v in promoted.items())
    for card in holdout_cards:
        p = card.parent.parent.name
        if not refit and promoted[p]:
            continue  # promoted itself: its card already holds the comparison
        _record(card, {"promoted": bool(promoted[p]), "retrain": stamp, "role": "hold-out "
                       "candidate", "rmse": scores.get("candidate", {}).get(p)})
    out = {"until": t.isoformat(), "status": "complete", "stages": [r.to_dict() for r in records],
           "scores": scores, "promoted": promoted, "cards": cards, "met_notes": notes,
           "staging": str(staging)}
    write_manifest(store.retrain_record(stamp), out)
    return out


@flow(name="retrain", log_prints=False, validate_parameters=False)
def retrain(until: str | None = None, data_dir: str | None = None, met: str = "auto",
            compare_weeks: int = COMPARE_WEEKS) -> dict[str, Any]:
    """Weekly retraining (Prefect flow): train, compare with the current models, promote.

    Parameters
    ----------
    until : str, optional
        Training uses observations before this time (default now, Asia/Shanghai).
    data_dir : str, optional
    met : str
        Meteorology for the training features.
    compare_weeks : int
        Hold-out weeks for the comparison.
    """
    return run_retrain(until, data_dir, met, compare_weeks, fanout=True)


def run_retrain_flow(until: str | None = None, *, data_dir: str | None = None,
                     met: str = "auto", compare_weeks: int = COMPARE_WEEKS,
                     dask_address: str | None = None, workers: int | None = None
                     ) -> dict[str, Any]:
    """Run the :func:`retrain` flow on a Dask task runner (local threads or ``dask_address``)."""
    from airwarn.flows.runners import task_runner

    f = retrain.with_options(task_runner=task_runner(dask_address, workers))
    return f(until=until, data_dir=data_dir, met=met, compare_weeks=compare_weeks)
