"""airwarn configuration: YAML files the operator edits, validated by pydantic (``configs.schema``).

Use :func:`load_config` for everything at once, or the ``load_*`` functions for one file.
Environment overrides: ``AIRWARN_DATA_DIR`` (data directory), ``AIRWARN_CONFIG_DIR`` (a directory
that replaces this one), and ``AIRWARN_<KEY>`` for scalar keys of ``settings.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from airwarn.configs.schema import ConfigError, Region, Settings, load_yaml_model

__all__ = [
    "CONFIG_DIR",
    "ConfigError",
    "AirwarnConfig",
    "config_dir",
    "load_config",
    "load_region",
    "load_settings",
    "load_stations",
    "data_dir",
]

CONFIG_DIR = Path(__file__).resolve().parent

STATION_COLUMNS = ["station_id", "name", "name_en", "city", "district", "sub_region", "lon", "lat"]


def config_dir() -> Path:
    """The configuration directory: ``AIRWARN_CONFIG_DIR`` or the packaged ``configs/``."""
    return Path(os.environ.get("AIRWARN_CONFIG_DIR", CONFIG_DIR))


def _env_overrides() -> dict[str, object]:
    fields = Settings.model_fields
    out: dict[str, object] = {}
    for key, field in fields.items():
        env = os.environ.get(f"AIRWARN_{key.upper()}")
        if env is None:
            continue
        if field.annotation in (int, float, bool, str, Path) or key in {"warning_trigger"}:
            out[key] = env
        else:
            import yaml

            out[key] = yaml.safe_load(env)
    return out


def load_settings(path: Path | str | None = None) -> Settings:
    """Load ``settings.yaml`` merged with environment overrides (``AIRWARN_<KEY>``)."""
    return load_yaml_model(path or config_dir() / "settings.yaml", Settings, _env_overrides())


def data_dir() -> Path:
    """The data directory: ``AIRWARN_DATA_DIR`` or ``settings.data_dir`` (default ``./data``)."""
    return Path(load_settings().data_dir)


@lru_cache(maxsize=8)
def _load_region_cached(path: str, mtime: float) -> Region:
    return load_yaml_model(path, Region)


def load_region(path: Path | str | None = None) -> Region:
    """Load and validate ``region.yaml`` (units, neighbours, border belt)."""
    p = Path(path or config_dir() / "region.yaml")
    if not p.exists():
        raise ConfigError(f"configuration file not found: {p}")
    return _load_region_cached(str(p), p.stat().st_mtime)


def load_stations(path: Path | str | None = None, region: Region | None = None) -> pd.DataFrame:
    """Load the station table (``stations.csv``) and check every station lies in a unit.

    Returns
    -------
    DataFrame
        Columns ``station_id, name, name_en, city, district, sub_region, lon, lat``
        (lon/lat in degrees). Empty (with these columns) for a header-only file.

    Raises
    ------
    ConfigError
        The file is missing, missing columns, an empty or duplicate ``station_id``, a
        non-numeric or out-of-range coordinate, a station whose ``sub_region`` is not a unit.
    """
    p = Path(path or config_dir() / "stations.csv")
    if not p.exists():
        raise ConfigError(f"station table not found: {p}; expected a CSV with columns "
                          f"{','.join(STATION_COLUMNS)} (a header-only file means no stations)")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{p}: not a readable CSV station table: {exc}") from None
    missing = [c for c in STATION_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{p}: missing columns {missing}; expected {STATION_COLUMNS}")
    ids = df["station_id"].str.strip()
    if (ids == "").any():
        line = int((ids == "").to_numpy().argmax()) + 2
        raise ConfigError(f"{p}, line {line}: empty station_id; every station needs an id")
    dup = ids[ids.duplicated(keep="first")]
    if len(dup):
        first = dup.index[0]
        line0 = int(ids[ids == dup.iloc[0]].index[0]) + 2
        raise ConfigError(f"{p}, line {int(first) + 2}: duplicate station_id {dup.iloc[0]!r} "
                          f"(first on line {line0}); station ids must be unique")
    for col in ("lon", "lat"):
        num = pd.to_numeric(df[col].str.strip(), errors="coerce")
        bad = num.isna()
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise ConfigError(f"{p}, line {i + 2}, column {col}: station {df['station_id'].iloc[i]} "
                              f"has {df[col].iloc[i]!r}; expected a number in degrees")
        df[col] = num.astype("float64")
    region = region or load_region()
    known = set(region.unit_ids)
    for i, row in df.iterrows():
        line = int(i) + 2
        if row["sub_region"] not in known:
            raise ConfigError(
                f"{p}, line {line}: station {row['station_id']} lies in no unit "
                f"(sub_region {row['sub_region']!r} is not one of the region's units)"
            )
        if not (-180 <= float(row["lon"]) <= 180 and -90 <= float(row["lat"]) <= 90):
            raise ConfigError(f"{p}, line {line}: station {row['station_id']} has bad coordinates")
    return df[STATION_COLUMNS].copy()


@dataclass(frozen=True)
class AirwarnConfig:
    """Everything airwarn reads from ``configs/``: settings, region and stations."""

    settings: Settings
    region: Region
    stations: pd.DataFrame

    @property
    def data_dir(self) -> Path:
        """Root of the data store."""
        return Path(self.settings.data_dir)


def load_config(settings_path: Path | str | None = None) -> AirwarnConfig:
    """Load and validate the whole configuration, merged with environment overrides."""
    settings = load_settings(settings_path)
    region = load_region()
    stations = load_stations(region=region)
    return AirwarnConfig(settings=settings, region=region, stations=stations)
