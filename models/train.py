"""Train the operational models of every pollutant on the region's unit observations and save
them to the registry (``<data_dir>/models/<pollutant>/<version>/``).

Units: concentrations µg/m³; times UTC unless stated (issue hours and days are Asia/Shanghai).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from airwarn.configs import AirwarnConfig
from airwarn.configs.model_schema import ModelSettings, load_model_settings
from airwarn.features.build import (
    LOCAL_OFFSET_H,
    Geometry,
    MetSource,
    daily_targets,
    make_panel,
    observation_variables,
)
from airwarn.features.calendar import holiday_source
from airwarn.models.backtest import train_models_on
from airwarn.models.baselines import fit_climatology
from airwarn.models.forecast import TARGETS
from airwarn.models.registry import data_hash, save_model

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["train_models", "MIN_TRAIN_DAYS"]

log = logging.getLogger(__name__)

#: fewest issue days worth training on (history of 31 days + D+3 + a calibration split)
MIN_TRAIN_DAYS = 60


def train_models(config: AirwarnConfig, obs_units: pd.DataFrame, met_source: MetSource,
                 until: pd.Timestamp | str, *, settings: ModelSettings | None = None,
                 data_dir: Path | str | None = None,
                 progress: Callable[[str], None] | None = None) -> list[Path]:
    """Fit daily and hourly models for every pollutant and save them with their cards.

    Parameters
    ----------
    config : AirwarnConfig
    obs_units : DataFrame
        Unit observations ``(time UTC, unit_id, pm25 … co)``; rows at or after ``until`` are
        ignored.
    met_source : MetSource
        Meteorology as it was known at each training issue (e.g. regenerated forecast cycles).
    until : Timestamp or str
        Training uses observations before this time (naive → Asia/Shanghai).
    settings : ModelSettings, optional
        Default ``configs/models.yaml``.
    data_dir : path, optional
        Default ``config.data_dir``.
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    list of Path
        The written ``card.json`` paths, one per pollutant.

    Raises
    ------
    ValueError
        Too little data (names how many days there are and how many are needed).
    """
    settings = settings or load_model_settings()
    data_dir = Path(data_dir or config.data_dir)
    t_until = pd.Timestamp(until)
    t_until = (t_until.tz_localize(LOCAL_TZ) if t_until.tzinfo is None else t_until) \
        .tz_convert("UTC")
    units = list(config.region.unit_ids)
    t = pd.DatetimeIndex(obs_units["time"])
    sel = t < t_until
    if not sel.any():
        raise ValueError(f"train_models: no unit observations before {t_until.isoformat()}")
    obs = make_panel(obs_units.loc[sel], observation_variables(obs_units), units,
                     end=t_until - pd.Timedelta(hours=1))
    daily_obs = daily_targets(obs)
    first_local = (obs.times[0] + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize()
    last_full_day = (t_until + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize() \
        - pd.Timedelta(days=1)
    first_issue = first_local + pd.Timedelta(days=31 if (last_full_day - first_local).days > 150
                                            else 3)
    n_days = (last_full_day - first_issue).days - 3
    if n_days < MIN_TRAIN_DAYS:
        raise ValueError(f"train_models: only {max(n_days, 0)} issue days of observations before "
                         f"{t_until.isoformat()}; need at least {MIN_TRAIN_DAYS}")
    hours = settings.issue_hours or list(config.settings.issue_hours)
    geometry = Geometry.from_region(config.region)
    models = train_models_on(obs, daily_obs, met_source, first_day=first_issue,
                             last_target_day=last_full_day, issue_hours=hours, settings=settings,
                             geometry=geometry, pollutants=[p for p in settings.pollutants
                                                            if p in TARGETS],
                             progress=progress)
    clim = fit_climatology(obs, daily_obs)
    cal_days = [d.date() for d in pd.date_range(first_issue, last_full_day + pd.Timedelta(days=4))]
    extra = {
        "units": units,
        "issue_hours_local": hours,
        "met_source": getattr(met_source, "name", type(met_source).__name__),
        "data_hash": data_hash(obs_units.loc[sel]),
        "training_window": {"first_issue_day": str(first_issue.date()),
                            "last_target_day": str(last_full_day.date()),
                            "until": t_until.isoformat()},
        "calendar_source": holiday_source(cal_days),
        "settings": settings.model_dump(mode="json"),
    }
    paths = []
    for p, m in models.items():
        path = save_model(m, data_dir, climatology=clim,
                          scores={"calibration": m.info.get("calibration_scores", {})},
                          extra=extra)
        if progress:
            progress(f"saved {p} model {path.parent.name} → {path}")
        paths.append(path)
    return paths
