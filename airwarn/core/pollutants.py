"""The pollutant registry: every pollutant the pipeline knows, from ``configs/pollutants.yaml``.

Code that handles pollutants iterates over the registry instead of naming them: the observed
columns (:func:`observed`, in the canonical order ``pm25 pm10 o3 no2 so2 co``), the forecast
targets (:func:`targets`), their daily statistic, daily forecast variable, IAQI periods, labels and
CF names. Making a pollutant a forecast target is an edit of the YAML (``target: true``).

The YAML is read directly (``yaml.safe_load`` + a pydantic model here): the ground floor imports
none of the packages. The configuration directory is ``AIRWARN_CONFIG_DIR`` or the packaged
``configs/`` beside this package.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "Pollutant",
    "PollutantRegistry",
    "config_dir",
    "load_registry",
    "registry",
    "pollutant",
    "observed",
    "targets",
    "daily_variables",
]

DailyStatistic = Literal["mean", "mda8"]


def config_dir() -> Path:
    """The configuration directory: ``AIRWARN_CONFIG_DIR`` or the packaged ``configs/``."""
    env = os.environ.get("AIRWARN_CONFIG_DIR")
    return Path(env) if env else _PACKAGED_CONFIG


#: the packaged ``configs/`` (resolved once: the registry is asked for per unit and day)
_PACKAGED_CONFIG = Path(__file__).resolve().parents[2] / "configs"


class Pollutant(BaseModel):
    """One pollutant of the registry (see the comments in ``configs/pollutants.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    label: str
    label_zh: str
    units: str
    units_display: str
    cf_standard_name: str = ""
    daily_statistic: DailyStatistic
    daily_variable: str
    iaqi_daily: Literal["24h", "8h", "1h"]
    iaqi_hourly: Literal["1h", "24h", "8h"] = "1h"
    primary_label: str
    target: bool = False
    default_baseline: Literal["persistence", "same_hour_yesterday", "climatology"] = "persistence"
    history: Literal["full", "short", "tiny"] = "short"

    @property
    def iaqi_key(self) -> str:
        """HJ 633 breakpoint key of the daily product (``pm25_24h``, ``o3_8h`` …)."""
        return f"{self.name}_{self.iaqi_daily}"


class PollutantRegistry(BaseModel):
    """All pollutants, in the canonical column order of the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pollutants: tuple[Pollutant, ...]

    @model_validator(mode="after")
    def _unique(self) -> PollutantRegistry:
        names = [p.name for p in self.pollutants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"pollutant names must be unique, repeated: {dup}")
        daily = [p.daily_variable for p in self.pollutants]
        dupd = sorted({n for n in daily if daily.count(n) > 1})
        if dupd:
            raise ValueError(f"daily_variable names must be unique, repeated: {dupd}")
        if not any(p.target for p in self.pollutants):
            raise ValueError("at least one pollutant must be a forecast target (target: true)")
        return self

    def get(self, name: str) -> Pollutant:
        """The pollutant called ``name``; ``KeyError`` naming the known ones otherwise."""
        for p in self.pollutants:
            if p.name == name:
                return p
        raise KeyError(f"unknown pollutant {name!r}; the registry has "
                       f"{[p.name for p in self.pollutants]}")

    @property
    def names(self) -> tuple[str, ...]:
        """Every pollutant name, canonical order."""
        return tuple(p.name for p in self.pollutants)

    @property
    def targets(self) -> tuple[str, ...]:
        """Names of the forecast targets, canonical order."""
        return tuple(p.name for p in self.pollutants if p.target)


def load_registry(path: Path | str | None = None) -> PollutantRegistry:
    """Read and validate a pollutant registry YAML (default ``<config_dir>/pollutants.yaml``).

    Raises
    ------
    ValueError
        Unreadable file or invalid content; the message names the file, the key and what was
        expected.
    """
    p = Path(path) if path is not None else config_dir() / "pollutants.yaml"
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{p}: cannot read the pollutant registry ({exc})") from None
    try:
        return PollutantRegistry.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            lines.append(f"{loc or '<top>'}: {e['msg']}")
        raise ValueError(f"{p}: invalid pollutant registry: " + "; ".join(lines)) from None


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float) -> PollutantRegistry:
    return load_registry(path)


def registry() -> PollutantRegistry:
    """The configured registry (cached per file and modification time)."""
    p = config_dir() / "pollutants.yaml"
    try:
        mtime = p.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _cached(str(p), mtime)


def pollutant(name: str) -> Pollutant:
    """One pollutant of the configured registry."""
    return registry().get(name)


def observed() -> tuple[str, ...]:
    """Canonical observed pollutant columns (``pm25 pm10 o3 no2 so2 co``; µg/m³, CO mg/m³)."""
    return registry().names


def targets() -> tuple[str, ...]:
    """Forecast-target pollutants of the configured registry (e.g. ``("pm25", "o3")``)."""
    return registry().targets


def daily_variables() -> dict[str, str]:
    """Forecast target → forecast-file name of its daily product (``pm25 → pm25_daily`` …)."""
    r = registry()
    return {n: r.get(n).daily_variable for n in r.targets}
