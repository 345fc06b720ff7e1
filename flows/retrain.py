"""Weekly retraining: train, compare with the current models, promote only if no worse.

``retrain(until)`` reads the observation archive up to ``until`` (QC, station → unit), trains new
models for every unit and pollutant (``models.train.train_models``), backtests the candidate and
the current models on the same last weeks (``models.backtest``) and promotes the candidate only
if it is no worse (the decision and both scores go into the model card, by the models package).
Unit × pollutant fits fan out on the flow's task runner where the models package exposes them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow

from flows.daily import (
    LOCAL_TZ,
    call_with,
    config_for,
    load_unit_obs,
    make_met_source,
    parse_issue_time,
)
from flows.stages import NOT_AVAILABLE, StageRecord, StageUnavailable, lookup, timed, write_manifest

__all__ = ["COMPARE_WEEKS", "run_retrain", "retrain"]

#: Weeks of the most recent archive held out to compare the candidate with the current models.
COMPARE_WEEKS = 8


def run_retrain(until: str | datetime | None = None, data_dir: str | Path | None = None,
                met: str = "cycles", compare_weeks: int = COMPARE_WEEKS,
                task_runner: Any = None) -> dict[str, Any]:
    """Train, compare and (if no worse) promote — plain function.

    Parameters
    ----------
    until : str or datetime, optional
        Last observation time used for training (default: now, Asia/Shanghai, on the hour).
    data_dir : path, optional
    met : str
        Meteorology source for the training features (``cycles``, ``demo``, ``perfect``, ``none``).
    compare_weeks : int
        Held-out weeks for the comparison, weeks.

    Returns
    -------
    dict
        ``until, status, stages`` and whatever ``train_models`` reported (``result``).
    """
    config = config_for(data_dir)
    ddir = Path(config.settings.data_dir)
    t = parse_issue_time(until) if until is not None else \
        pd.Timestamp.now(tz=LOCAL_TZ).floor("h").to_pydatetime()
    records: list[StageRecord] = []
    result: Any = None
    rec = StageRecord("train")
    records.append(rec)
    with timed(rec):
        try:
            obs_units = load_unit_obs(config, end=pd.Timestamp(t))
            met_source, notes = make_met_source(config, met)
            train_models = lookup("models.train:train_models")
            result = call_with(train_models, config, obs_units, met_source, pd.Timestamp(t),
                               compare_weeks=compare_weeks, task_runner=task_runner)
            rec.detail = _summary(result) + ("; " + "; ".join(notes) if notes else "")
        except StageUnavailable as exc:
            rec.status, rec.detail = NOT_AVAILABLE, str(exc)
    status = "complete" if all(r.status == "ok" for r in records) else "partial"
    out = {"until": t.isoformat(), "status": status, "stages": [r.to_dict() for r in records],
           "result": _jsonable(result)}
    write_manifest(ddir / "models" / "retrain" / f"{pd.Timestamp(t):%Y%m%dT%H%M}.json", out)
    return out


def _summary(result: Any) -> str:
    if result is None:
        return "trained"
    if isinstance(result, dict):
        return ", ".join(f"{k}: {v}" for k, v in list(result.items())[:6])
    return str(result)[:300]


def _jsonable(result: Any) -> Any:
    if result is None or isinstance(result, str | int | float | bool | list | dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    return str(result)


@flow(name="retrain", log_prints=False, validate_parameters=False)
def retrain(until: str | None = None, data_dir: str | None = None, met: str = "cycles"
            ) -> dict[str, Any]:
    """Weekly retraining (Prefect flow): train, backtest against the current models, promote.

    Parameters
    ----------
    until : str, optional
        Last observation time for training (default now, Asia/Shanghai).
    data_dir : str, optional
    met : str
        Meteorology source for the training features.
    """
    return run_retrain(until, data_dir, met)
