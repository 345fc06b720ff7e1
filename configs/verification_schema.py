"""Pydantic model for ``configs/verification.yaml`` (domain-spec §4 T4.1/T4.2, §2 T2.5).

Every number the verification uses that is a convention rather than a formula (bootstrap block
length, the AQI-range rule, half-level bounds, event thresholds, the fallback warning ladder) lives
in that file; a bad value is refused at load time with :class:`configs.schema.ConfigError` naming the
file and the key path.

Units: AQI dimensionless; concentrations µg/m³; durations in days; probabilities 0–1.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from airwarn.configs.schema import StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = [
    "Bootstrap",
    "Persistence",
    "Climatology",
    "AqiRange",
    "EventSpec",
    "Comparison",
    "LadderClause",
    "ReportSettings",
    "VerificationSettings",
    "load_verification",
]


class Bootstrap(StrictModel):
    """Moving-block bootstrap over issue days (seeded, reproducible)."""

    n_resamples: int = Field(default=500, ge=10, le=100_000)
    block_days: int = Field(default=7, ge=1, description="block length, days")
    confidence: float = Field(default=0.9, gt=0, lt=1)
    seed: int = 20260101


class Persistence(StrictModel):
    """Persistence reference forecasts (skill = 1 − RMSE/RMSE_persistence)."""

    hourly: Literal["diurnal", "last"] = "diurnal"
    daily: Literal["last_day"] = "last_day"


class Climatology(StrictModel):
    """Climatology reference: mean observation per unit × calendar month (× local hour)."""

    by: list[Literal["month", "hour"]] = Field(default_factory=lambda: ["month", "hour"])
    history_days: int = Field(default=1095, ge=0, description="days of history read, d")


class AqiRange(StrictModel):
    """How the forecast AQI range [low, high] is formed (T4.1 range/level accuracy, U)."""

    method: Literal["quantile", "width"] = "quantile"
    quantiles: tuple[float, float] = (0.25, 0.75)
    half_width: float = Field(default=15, ge=0, description="AQI units")
    max_levels: int = Field(default=2, ge=1, le=6)

    @field_validator("quantiles")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] < v[1] < 1:
            raise ValueError(f"quantiles must satisfy 0 < low < high < 1, got {v}")
        return v


class EventSpec(StrictModel):
    """A categorical event: daily ``variable`` strictly greater than ``threshold``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    variable: Literal["aqi", "pm25", "o3_mda8"]
    threshold: float = Field(description="AQI, or µg/m³ for pm25/o3_mda8")
    label_zh: str
    probability: str | None = Field(default=None, description="forecast variable P(event), 0–1")


class Comparison(StrictModel):
    """Diebold–Mariano comparison of two systems."""

    loss: Literal["squared", "absolute"] = "squared"
    hac_lag: int | Literal["auto"] = "auto"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)


class LadderClause(StrictModel):
    """``days`` consecutive days with daily AQI > ``gt`` (and ≥ ``and_days`` of them > ``and_gt``)."""

    gt: float
    days: int = Field(ge=1)
    and_gt: float | None = None
    and_days: int = Field(default=1, ge=1)


class ReportSettings(StrictModel):
    """Monthly 会商 report layout."""

    key_units: int = Field(default=4, ge=1, le=12)
    min_valid_fraction: float = Field(default=0.75, ge=0, le=1)


class VerificationSettings(StrictModel):
    """All of ``configs/verification.yaml``."""

    lead_days: list[int] = Field(default_factory=lambda: [1, 2, 3])
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    persistence: Persistence = Field(default_factory=Persistence)
    climatology: Climatology = Field(default_factory=Climatology)
    aqi_range: AqiRange = Field(default_factory=AqiRange)
    half_level_upper: list[float] = Field(min_length=2)
    primary_min_aqi: float = 50
    observed_aqi: Literal["forecast_pollutants", "all"] = "forecast_pollutants"
    events: list[EventSpec] = Field(min_length=1)
    interval: tuple[float, float] = (0.1, 0.9)
    reliability_bins: int = Field(default=10, ge=2, le=50)
    comparison: Comparison = Field(default_factory=Comparison)
    #: the fallback ladder: derived from the ladder named by ``warning_ladder`` (default the
    #: policy's default ladder) unless given explicitly
    warning_ladder: str | None = None
    warning_levels: dict[Literal["blue", "yellow", "orange", "red"], list[LadderClause]] = Field(
        default_factory=dict)
    warning_lead_days: list[int] = Field(default_factory=lambda: [1, 2, 3])
    report: ReportSettings = Field(default_factory=ReportSettings)

    @field_validator("half_level_upper")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"half-level upper bounds must increase strictly, got {v}")
        return v

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] < v[1] < 1:
            raise ValueError(f"interval must satisfy 0 < low < high < 1, got {v}")
        return v

    @model_validator(mode="after")
    def _ladder(self) -> VerificationSettings:
        if not self.warning_levels:
            from airwarn.configs.warning_schema import ladder_day_clauses

            levels = ladder_day_clauses(self.warning_ladder)
            self.warning_levels = {k: [LadderClause(**c) for c in v]  # type: ignore[misc]
                                   for k, v in levels.items()}
        return self

    @model_validator(mode="after")
    def _unique_events(self) -> VerificationSettings:
        names = [e.name for e in self.events]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate event names: {dup}")
        return self


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> VerificationSettings:
    return load_yaml_model(path, VerificationSettings)


def load_verification(path: Path | str | None = None) -> VerificationSettings:
    """Load and validate ``verification.yaml`` (default: in :func:`configs.config_dir`)."""
    if path is None:
        from airwarn.configs import config_dir

        path = config_dir() / "verification.yaml"
    p = Path(path)
    mtime = p.stat().st_mtime if p.exists() else 0.0
    return _load(str(p), mtime)
