"""Pydantic model of ``configs/domains/*.yaml``: how to read a data set into the canonical tables.

A *domain* describes one observation data set (a benchmark set or an operator's own export): the
files (a glob relative to ``AIRWARN_DATASETS_DIR``), their format, encoding and time zone, how time
and station are found, which source column holds which canonical variable and in which unit,
the stations (with coordinates), and optionally the point-meteorology columns. Two layouts:

* **long by station** (one row per station-hour): ``station.column`` (or ``station.value`` /
  ``station.from_filename``) plus a top-level ``columns`` map, e.g. the UCI Beijing PRSA files;
* **wide by station** (one row per hour, one column per station and variable): every entry of
  ``stations`` has its own ``columns`` map, e.g. the UCI five-cities files
  (``PM_Caotangsi``, ``PM_US Post`` …);
* **dedicated reader**: ``reader: prsa`` / ``five_cities`` (:data:`READERS`) or
  ``module:function`` — the reader knows the layout; ``time``/``columns`` are then optional.
  This is how the backtest domains ``configs/domains/beijing_multisite.yaml`` and
  ``chengdu_five_cities.yaml`` are written (with ``neighbour_radius_km`` and ``pollutants``).

Example (UCI Beijing multi-site)::

    name: beijing_multisite
    title: UCI Beijing Multi-Site Air-Quality Data
    source: "Zhang, S. et al. (2017) Proc. R. Soc. A 473: 20170457"
    license: CC BY 4.0
    files: uci_beijing_multisite_aq/PRSA_Data_*_20130301-20160229.csv
    timezone: Etc/GMT-8
    time: {year: year, month: month, day: day, hour: hour}
    station: {column: station}
    columns: {pm25: PM2.5, pm10: PM10, so2: SO2, no2: NO2, co: CO, o3: O3}
    units: {co: ug/m3}
    missing_values: [NA]
    met: {style: prsa}

Units: concentrations ``ug/m3`` (default), ``mg/m3`` (default for ``co``), ``ppb``, ``ppm``;
coordinates in degrees.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from airwarn.configs.model_schema import (
    DomainSubRegion,
    HistoryRecord,
    SubRegionModels,
    check_sub_regions,
)
from airwarn.configs.schema import ConfigError, StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

from airwarn.core.pollutants import observed as registry_observed
from airwarn.core.timeutil import DEFAULT_TZ

__all__ = ["CANONICAL_VARIABLES", "READERS", "TimeSpec", "StationSpec", "DomainStation",
           "MetSpec", "Domain", "load_domain", "datasets_dir"]

CANONICAL_VARIABLES = registry_observed()  # the pollutant registry (airwarn.core.pollutants)
_UNITS = Literal["ug/m3", "mg/m3", "ppb", "ppm"]
_MET_VARS = ("t2m", "d2m", "sp", "tp", "u10", "v10", "ws10", "wd", "rh", "blh", "ssrd", "tcc")


class TimeSpec(StrictModel):
    """Where the time is: one ``column`` (optional strptime ``format``) or components.

    Times are local in the domain's ``timezone`` unless the strings carry an offset; the hour
    label is kept (no hour-beginning / hour-ending shift).
    """

    column: str | None = None
    format: str | None = None
    year: str | None = None
    month: str | None = None
    day: str | None = None
    hour: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TimeSpec:
        parts = [self.year, self.month, self.day, self.hour]
        if self.column and any(parts):
            raise ValueError("give either time.column or time.year/month/day/hour, not both")
        if not self.column and not all(parts):
            raise ValueError("time needs a column, or all of year, month, day and hour")
        return self

    @property
    def source_columns(self) -> list[str]:
        """Source columns the time is read from."""
        return [self.column] if self.column else [self.year, self.month, self.day, self.hour]  # type: ignore[list-item]


class StationSpec(StrictModel):
    """Where the station id is, for long-by-station layouts (exactly one way)."""

    column: str | None = None
    value: str | None = None
    from_filename: str | None = Field(
        default=None, description="regex with one group applied to the file name")
    prefix: str = ""
    lower: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> StationSpec:
        n = sum(x is not None for x in (self.column, self.value, self.from_filename))
        if n != 1:
            raise ValueError("station needs exactly one of column, value, from_filename")
        return self


class DomainStation(StrictModel):
    """A station of the domain (coordinates in degrees)."""

    id: str = Field(min_length=1)
    name: str = ""
    name_en: str = ""
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    sub_region: str | None = Field(default=None, description="id of the domain's sub_regions "
                                   "the station belongs to (backtests average its members)")
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="variable → source column (wide layouts)")


class MetSpec(StrictModel):
    """Point meteorology in the same files: a known ``style`` or an explicit column map."""

    style: Literal["prsa", "five_cities"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _vars(self) -> MetSpec:
        bad = [k for k in self.columns if k not in _MET_VARS]
        if bad:
            raise ValueError(f"unknown met variable(s) {bad}; expected some of {list(_MET_VARS)}")
        return self


class Domain(StrictModel):
    """One data set and how to read it (``configs/domains/<name>.yaml``)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = ""
    source: str = Field(default="", description="citation")
    license: str = ""
    files: list[str] = Field(min_length=1,
                             description="glob(s) relative to AIRWARN_DATASETS_DIR (a string or a "
                                         "list)")
    format: Literal["csv", "parquet"] = "csv"
    encoding: str = Field(default="auto", description="'auto' = UTF-8, else GBK")
    skip_lines: int = Field(default=0, ge=0, description="preamble lines before the header")
    timezone: str = DEFAULT_TZ
    time: TimeSpec | None = None
    station: StationSpec | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="variable → source column")
    units: dict[str, _UNITS] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=lambda: ["NA"])
    sentinels: list[float] = Field(default_factory=list, description="numbers meaning missing")
    stations: list[DomainStation] = Field(default_factory=list)
    met: MetSpec | None = None
    reader: str | None = Field(default=None,
                               description="dedicated reader: a short name of READERS "
                                           "('prsa', 'five_cities') or 'module:function'")
    neighbour_radius_km: float = Field(default=60.0, gt=0,
                                       description="stations within this distance are neighbours")
    pollutants: list[Literal["pm25", "o3"]] = Field(
        default_factory=lambda: ["pm25", "o3"], description="forecast targets in this domain")
    extra: dict[str, Any] = Field(default_factory=dict,
                                  description="settings for other users of the domain "
                                              "(e.g. backtest periods, targets)")
    history: list[HistoryRecord] = Field(
        default_factory=list, description="earlier records extending units back in time, for "
        "training (backtests and hindcasts, features.history); ingest reads the domain's own "
        "files only")
    sub_regions: list[DomainSubRegion] = Field(
        default_factory=list, description="forecast units made of the stations (their "
        "sub_region): backtests and hindcasts average each unit's valid stations")
    sub_region_models: SubRegionModels = Field(
        default="mean", description="backtests: train on each sub-region's mean series, or on "
        "its stations and average their forecasts; one choice or one per met mode "
        "({perfect: mean, none: members}; modes not named: mean)")

    @field_validator("files", mode="before")
    @classmethod
    def _files_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("reader")
    @classmethod
    def _reader_known(cls, v: str | None) -> str | None:
        if v is not None and v not in READERS and ":" not in v:
            raise ValueError(f"unknown reader {v!r}; expected one of {sorted(READERS)} or "
                             f"'module:function'")
        return v

    @model_validator(mode="after")
    def _stations_in_sub_regions(self) -> Domain:
        check_sub_regions(self.stations, self.sub_regions)
        return self

    @model_validator(mode="after")
    def _layout(self) -> Domain:
        for where, cmap in [("columns", self.columns),
                            *[(f"stations.{s.id}.columns", s.columns) for s in self.stations]]:
            bad = [k for k in cmap if k not in CANONICAL_VARIABLES]
            if bad:
                raise ValueError(f"{where}: unknown variable(s) {bad}; "
                                 f"expected some of {list(CANONICAL_VARIABLES)}")
        bad_units = [k for k in self.units if k not in CANONICAL_VARIABLES]
        if bad_units:
            raise ValueError(f"units: unknown variable(s) {bad_units}")
        wide = any(s.columns for s in self.stations)
        dedicated = self.reader is not None and not self.columns and not wide
        if not dedicated:  # a mapped layout: time and either station+columns or wide stations
            if self.time is None:
                raise ValueError("time: required unless a dedicated reader is named")
            if wide:
                if self.station is not None or self.columns:
                    raise ValueError("a wide layout (stations with their own columns) takes no "
                                     "station/columns at the top level")
                if not all(s.columns for s in self.stations):
                    raise ValueError("in a wide layout every station needs its columns")
            else:
                if self.station is None:
                    raise ValueError("give station (column/value/from_filename), or "
                                     "per-station columns for a wide layout")
                if not self.columns:
                    raise ValueError("columns: map at least one variable to a source column")
        ids = [s.id for s in self.stations]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"stations: duplicate ids {dup}")
        return self

    @property
    def wide(self) -> bool:
        """True for the wide-by-station layout."""
        return any(s.columns for s in self.stations)

    def unit_of(self, variable: str) -> str:
        """Source unit of a variable (default µg/m³, CO mg/m³)."""
        return self.units.get(variable, "mg/m3" if variable == "co" else "ug/m3")

    def paths(self, root: Path | str | None = None) -> list[Path]:
        """Files of the domain, sorted (globs under ``root`` or ``AIRWARN_DATASETS_DIR``)."""
        base = Path(root) if root is not None else datasets_dir()
        return sorted({p for pat in self.files for p in base.glob(pat)})


#: Dedicated readers by short name (``module:function``); they return ``(obs, met)`` or ``obs``.
READERS = {"prsa": "airwarn.features.readers.uci:read_prsa",
           "five_cities": "airwarn.features.readers.uci:read_five_cities"}


def datasets_dir() -> Path:
    """Root of the data sets: ``AIRWARN_DATASETS_DIR``, else ``<repo>/../shared/datasets``."""
    env = os.environ.get("AIRWARN_DATASETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def load_domain(path: Path | str) -> Domain:
    """Load and validate a domain YAML (raises :class:`ConfigError` naming file and key)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"domain file not found: {p}")
    return load_yaml_model(p, Domain)
