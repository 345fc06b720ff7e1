"""Model registry: LightGBM text models plus a JSON card each, never pickle.

Layout (``<data_dir>/models/<pollutant>/<version>/``)::

    daily_d<k>_<i>.txt                         LightGBM text models of lead day k (one per design;
                                               a pooled model is written once and shared)
    hourly.txt                                 pooled hourly shape model (optional)
    card.json                                  features, calibration residuals, training window,
                                               data hash, backtest scores, library versions,
                                               created time, calendar source, design choices,
                                               climatology (fallback baseline)

``version`` is the UTC creation stamp ``YYYYMMDDTHHMMSSZ`` so that names sort by age. The card
stores the SHA-256 of every model file; :func:`load_latest` returns the newest version whose card
parses and whose files exist, match their hashes and load — a corrupted or missing model is
skipped (and reported), never a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from airwarn.models.baselines import Climatology
from airwarn.models.lgbm import PollutantModel

from airwarn.core.atomic import write_bytes_atomic, write_text_atomic
from airwarn.core.runstore import RunStore

__all__ = ["CARD_NAME", "model_root", "save_model", "load_model", "load_latest", "list_versions",
           "data_hash", "LoadResult"]

log = logging.getLogger(__name__)

CARD_NAME = "card.json"
CARD_SCHEMA = 1


def model_root(data_dir: Path | str, pollutant: str) -> Path:
    """``<data_dir>/models/<pollutant>``."""
    return RunStore(data_dir).model_dir(pollutant)


def data_hash(obs: pd.DataFrame) -> str:
    """SHA-256 (hex, first 16) of an observation table's content, order-independent by time/unit."""
    cols = [c for c in obs.columns]
    h = pd.util.hash_pandas_object(obs[cols], index=False).to_numpy()
    return hashlib.sha256(np.sort(h).tobytes()).hexdigest()[:16]


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("lightgbm", "numpy", "pandas", "xarray", "chinese-calendar", "holidays"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def save_model(model: PollutantModel, data_dir: Path | str, *,
               climatology: Climatology | None = None, scores: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write a model version (text models, then the card last) and return the card path.

    Parameters
    ----------
    model : PollutantModel
    data_dir : path
    climatology : Climatology, optional
        Stored in the card for the fallback baselines.
    scores : dict, optional
        Backtest scores to record.
    extra : dict, optional
        Other card fields (data hash, calendar source, met source, units …).
    version : str, optional
        Default: the current UTC time ``YYYYMMDDTHHMMSSZ``.
    """
    now = dt.datetime.now(dt.UTC)
    version = version or now.strftime("%Y%m%dT%H%M%S%fZ")
    vdir = model_root(data_dir, model.pollutant) / version
    vdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    written: dict[int, str] = {}
    daily_files: dict[str, list[str]] = {}
    for k, boosters in sorted(model.daily.items()):
        daily_files[str(k)] = []
        for i, booster in enumerate(boosters):
            key = id(booster)
            if key not in written:
                name = f"daily_d{k}_{i}.txt"
                text = booster.model_to_string()
                write_text_atomic(vdir / name, text)
                files[name] = _sha(text.encode())
                written[key] = name
            daily_files[str(k)].append(written[key])
    if model.hourly is not None:
        text = model.hourly.model_to_string()
        write_text_atomic(vdir / "hourly.txt", text)
        files["hourly.txt"] = _sha(text.encode())
    card = {
        "schema": CARD_SCHEMA,
        "pollutant": model.pollutant,
        "version": version,
        "created": now.isoformat(),
        "format": "lightgbm text model + JSON card",
        "files": files,
        "daily_files": daily_files,
        "hourly_file": "hourly.txt" if model.hourly is not None else None,
        "daily_features": {str(k): v for k, v in model.daily_features.items()},
        "hourly_features": model.hourly_features,
        "daily_resid": {str(k): v for k, v in model.daily_resid.items()},
        "hourly_resid": {str(k): v for k, v in model.hourly_resid.items()},
        "log_offset": model.log_offset,
        "daily_weights": {str(k): v for k, v in model.daily_weights.items()},
        "daily_linear": {str(k): v for k, v in model.daily_linear.items()},
        "hourly_blend": {str(k): v for k, v in model.hourly_blend.items()},
        "bias_lead_days": list(model.bias_lead_days),
        "clim_weight": {str(k): v for k, v in model.clim_weight.items()},
        "clim_daily": model.clim_daily,
        "persist_weight": {str(k): v for k, v in model.persist_weight.items()},
        "info": model.info,
        "scores": scores or {},
        "library_versions": _versions(),
        "climatology": climatology.to_dict() if climatology is not None else None,
        **(extra or {}),
    }
    write_bytes_atomic(vdir / CARD_NAME,
                       json.dumps(card, ensure_ascii=False, indent=1, allow_nan=False).encode())
    return vdir / CARD_NAME


#: parsed LightGBM text models of this process by the SHA-256 of their text (see load_model)
_BOOSTERS: dict[str, lgb.Booster] = {}
#: at most this many parsed models are kept (3 pollutants × ≤ 7 files of one version each)
_BOOSTERS_MAX = 64


def _booster(text: bytes, sha: str) -> lgb.Booster:
    """The Booster of a model text whose hash is ``sha`` (parsed once per process)."""
    b = _BOOSTERS.get(sha)
    if b is None:
        b = lgb.Booster(model_str=text.decode("utf-8"))
        if len(_BOOSTERS) >= _BOOSTERS_MAX:
            _BOOSTERS.pop(next(iter(_BOOSTERS)))
        _BOOSTERS[sha] = b
    return b


def load_model(card_path: Path | str) -> tuple[PollutantModel, dict[str, Any]]:
    """Load one model version from its card.

    Every call reads the card and the model files and checks their hashes; the parsing of a
    text model into a ``Booster`` is done once per process for a given text (keyed by its
    hash): a backfill forecasts dozens of issue times with the same models, and parsing them
    again for each took most of the load. The Boosters are shared between the returned models
    (they are only used to predict).

    Raises
    ------
    ValueError
        The card is not valid JSON, lacks a field, or a model file is missing, changed (hash) or
        not a LightGBM text model — the message names the file.
    """
    card_path = Path(card_path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{card_path}: not a readable JSON model card ({exc})") from None
    try:
        vdir = card_path.parent
        boosters: dict[str, lgb.Booster] = {}
        for name, sha in card["files"].items():
            p = vdir / name
            if not p.exists():
                raise ValueError(f"{p}: model file listed in the card is missing")
            b = p.read_bytes()
            if _sha(b) != sha:
                raise ValueError(f"{p}: model file does not match the hash in its card "
                                 f"(corrupted or changed)")
            try:
                boosters[name] = _booster(b, sha)
            except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
                raise ValueError(f"{p}: not a LightGBM text model ({exc})") from None
        daily = {int(k): [boosters[n] for n in v] for k, v in card["daily_files"].items()}
        hourly = boosters.get(card["hourly_file"]) if card.get("hourly_file") else None
        model = PollutantModel(
            pollutant=card["pollutant"], daily=daily, hourly=hourly,
            daily_features={int(k): v for k, v in card["daily_features"].items()},
            hourly_features=list(card["hourly_features"]),
            daily_resid={int(k): v for k, v in card["daily_resid"].items()},
            hourly_resid={int(k): v for k, v in card["hourly_resid"].items()},
            log_offset=float(card["log_offset"]), info=dict(card.get("info", {})),
            daily_weights={int(k): v for k, v in card.get("daily_weights", {}).items()},
            daily_linear={int(k): v for k, v in card.get("daily_linear", {}).items()},
            hourly_blend={int(k): float(v) for k, v in card.get("hourly_blend", {}).items()},
            bias_lead_days=[int(k) for k in card.get("bias_lead_days", [1, 2, 3])],
            clim_weight={int(k): float(v) for k, v in card.get("clim_weight", {}).items()},
            clim_daily={str(u): list(v) for u, v in card.get("clim_daily", {}).items()},
            persist_weight={int(k): float(v)
                            for k, v in card.get("persist_weight", {}).items()},
        )
    except KeyError as exc:
        raise ValueError(f"{card_path}: model card lacks the field {exc}") from None
    return model, card


def list_versions(data_dir: Path | str, pollutant: str) -> list[Path]:
    """Card paths of all versions, newest first."""
    root = model_root(data_dir, pollutant)
    if not root.exists():
        return []
    return [d / CARD_NAME for d in sorted(root.iterdir(), reverse=True) if d.is_dir()]


class LoadResult:
    """Outcome of :func:`load_latest`: the model (or None), its card, and skipped versions."""

    def __init__(self, model: PollutantModel | None, card: dict[str, Any] | None,
                 problems: list[str]) -> None:
        self.model = model
        self.card = card
        self.problems = problems

    @property
    def climatology(self) -> Climatology | None:
        """The climatology stored in the card (None if absent)."""
        if self.card and self.card.get("climatology"):
            return Climatology.from_dict(self.card["climatology"])
        return None


def load_latest(data_dir: Path | str, pollutant: str) -> LoadResult:
    """Newest loadable model version of a pollutant; problems with newer versions are listed.

    Returns
    -------
    LoadResult
        ``model`` is None when no version loads (the forecast then falls back to baselines).
    """
    problems: list[str] = []
    for card_path in list_versions(data_dir, pollutant):
        try:
            model, card = load_model(card_path)
            return LoadResult(model, card, problems)
        except ValueError as exc:
            log.warning("skipping model version: %s", exc)
            problems.append(str(exc))
    if not problems:
        problems.append(f"no trained {pollutant} model under {model_root(data_dir, pollutant)}")
    return LoadResult(None, None, problems)
