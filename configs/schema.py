"""Pydantic models that validate airwarn's YAML configuration.

Every YAML file the operator edits is loaded through :func:`load_yaml_model`, so a bad
configuration fails at load time with the file, the key path and what was expected
(:class:`ConfigError`), never later in the middle of a run.

Units: coordinates in decimal degrees (WGS 84), heights in metres, durations in hours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airwarn.core.timeutil import DEFAULT_TZ, utc_offset_hours

__all__ = [
    "ConfigError",
    "StrictModel",
    "LatLon",
    "Neighbour",
    "Unit",
    "Region",
    "DeliverySettings",
    "AcquireSettings",
    "Settings",
    "load_yaml_model",
    "yaml_error_text",
    "format_validation_error",
]


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file, key path and expectation."""


class StrictModel(BaseModel):
    """Base model: unknown keys are refused (a typo in a key is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class LatLon(StrictModel):
    """A point in decimal degrees (WGS 84)."""

    lat: float = Field(ge=-90, le=90, description="latitude, degrees north")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees east")


class Neighbour(StrictModel):
    """A neighbouring unit: shared administrative border, or a transport channel."""

    id: str
    kind: Literal["border", "channel"] = "border"


class Unit(StrictModel):
    """A forecast unit (sub-region) of the joint area.

    Attributes
    ----------
    id : str
        Stable ASCII identifier (e.g. ``"chengdu"``), used in files and NetCDF coordinates.
    name, name_en : str
        Chinese name as the users write it, and English name.
    province : {"sichuan", "chongqing"}
    group : str
        Regional group (中心城区, 渝西地区, 渝东新城, 成都平原, 川南, 川东北).
    code : str
        Administrative division code (GB/T 2260), six digits.
    centroid, seat : LatLon
        Area centroid and government-seat coordinates, degrees. ``seat`` may be null.
    border_belt : bool
        One of the ten signatories of the bilateral 川渝 agreements.
    ladder : str
        Warning ladder id (``configs/warning/<id>.yaml``).
    neighbours : list of Neighbour
    members : list of str
        Member districts / management zones (for multi-district units).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    province: Literal["sichuan", "chongqing"]
    group: str
    code: str = Field(pattern=r"^\d{6}$")
    centroid: LatLon
    seat: LatLon | None = None
    border_belt: bool = False
    ladder: str = "national-2024"
    neighbours: list[Neighbour] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)

    @property
    def point(self) -> LatLon:
        """Representative point: the seat when known, else the centroid (degrees)."""
        return self.seat or self.centroid


class Region(StrictModel):
    """The joint area: its forecast units and their neighbourhood graph."""

    name: str
    name_en: str
    units: list[Unit] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_graph(self) -> Region:
        ids = [u.id for u in self.units]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate unit ids: {dup}")
        known = set(ids)
        for k, u in enumerate(self.units):
            for j, n in enumerate(u.neighbours):
                if n.id not in known:
                    raise ValueError(
                        f"units.{k}.neighbours.{j}: unit {u.id!r} names neighbour {n.id!r}, "
                        f"which is not a unit of the region"
                    )
                if n.id == u.id:
                    raise ValueError(f"units.{k}.neighbours.{j}: unit {u.id!r} is its own neighbour")
        return self

    def unit(self, unit_id: str) -> Unit:
        """Return the unit with this id (KeyError naming it if unknown)."""
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(f"unknown unit {unit_id!r}; known: {[u.id for u in self.units]}")

    @property
    def unit_ids(self) -> list[str]:
        """Unit ids in configuration order."""
        return [u.id for u in self.units]

    def neighbours(self, unit_id: str, kinds: tuple[str, ...] = ("border", "channel")) -> list[str]:
        """Neighbour ids of a unit, symmetric (an edge listed on either side counts)."""
        out: list[str] = [n.id for n in self.unit(unit_id).neighbours if n.kind in kinds]
        for u in self.units:
            for n in u.neighbours:
                if n.id == unit_id and n.kind in kinds and u.id not in out:
                    out.append(u.id)
        return out


class DeliverySettings(StrictModel):
    """Where bulletins go. Credentials are never stored here: only the names of env variables."""

    dry_run: bool = True
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user_env: str = "AIRWARN_SMTP_USER"
    smtp_password_env: str = "AIRWARN_SMTP_PASSWORD"
    mail_from: str | None = None
    mail_to: list[str] = Field(default_factory=list)
    webhook_url_env: str | None = None
    retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)
    #: Allow an SMTP login without STARTTLS (the password in clear): only for a trusted relay.
    allow_plaintext_credentials: bool = False
    #: Allow a plain ``http://`` webhook URL (its key travels in clear): only for a local relay.
    allow_http_webhook: bool = False


class AcquireSettings(StrictModel):
    """When the daily run's acquisition (``flows.acquire``) fetches, and how long it waits.

    Attributes
    ----------
    start_min_before : int
        The ``acquire`` deployment starts this many minutes before each issue time, min.
    deadline_min_before : int
        It stops waiting for the newest forecast cycle this many minutes before the issue
        time and falls back to the newest complete one, min.
    poll_s : float
        Seconds between two fetches while waiting, s.
    land_partial : bool
        At the deadline, land the newest cycle's steps that have arrived when they run without
        a gap from step 0 to the end of local D+1 of the issue (the warnings' first day): the run
        uses them, and the older cycle's forecast for the hours after
        (``features.build.CycleMet``). False: such a cycle waits, the run falls back.
    """

    start_min_before: int = Field(default=60, ge=1, le=720)
    deadline_min_before: int = Field(default=10, ge=0, le=720)
    poll_s: float = Field(default=120.0, gt=0)
    land_partial: bool = True

    @model_validator(mode="after")
    def _order(self) -> AcquireSettings:
        if self.deadline_min_before >= self.start_min_before:
            raise ValueError(f"acquire.deadline_min_before ({self.deadline_min_before}) must be "
                             f"less than start_min_before ({self.start_min_before})")
        return self


class Settings(StrictModel):
    """Pipeline settings (``configs/settings.yaml``), overridable from the environment.

    Attributes
    ----------
    data_dir : Path
        Root of the data store (``AIRWARN_DATA_DIR``; default ``./data``), made absolute
        against the working directory at load.
    timezone : str
        Time zone of days, issue times, bulletins and schedules.
    issue_hours : list of int
        Local hours of the scheduled daily runs.
    horizon_days : int
        Natural days after the issue day covered by each forecast (3 → to the end of D+3).
    quantiles : list of float
        Forecast quantile levels, 0–1.
    warning_trigger : {"median", "probability"}
        Whether warnings use the median daily AQI or an exceedance probability.
    warning_probability : float
        Exceedance probability at or above which a threshold counts as met (probability trigger).
    elevated_min_stack_height_m : float
        Stack height from which a source counts as elevated (高架源), metres. Unverified (spec T3.1, U).
    issuer, issuer_en, contact, contact_en : str
        Issuing office and contact line printed on bulletins.
    """

    data_dir: Path = Path("data")
    timezone: str = DEFAULT_TZ
    issue_hours: list[int] = Field(default_factory=lambda: [5, 15])
    horizon_days: int = Field(default=3, ge=1, le=5)
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 0.75, 0.9])
    warning_trigger: Literal["median", "probability"] = "median"
    warning_probability: float = Field(default=0.5, gt=0, lt=1)
    elevated_min_stack_height_m: float = Field(default=45.0, gt=0)
    demo_seed: int = 20261128
    demo_days: int = Field(default=730, ge=30)
    issuer: str = "川渝大气污染联防联控预报预警中心（示例）"
    issuer_en: str = "Sichuan–Chongqing Joint Air Quality Forecast and Warning Centre (example)"
    contact: str = "值班电话 028-0000-0000（示例）"
    contact_en: str = "Duty phone +86 28 0000 0000 (example)"
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    acquire: AcquireSettings = Field(default_factory=AcquireSettings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; expected an IANA name such as "
                             f"{DEFAULT_TZ}") from None
        utc_offset_hours(v)  # a fixed whole-hour offset (local days are array arithmetic)
        return v

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        # resolved once, against the working directory at load: products record paths relative
        # to it, and a relative data_dir would be joined twice (data/data/…)
        return Path(v).expanduser().resolve()

    @field_validator("issue_hours")
    @classmethod
    def _hours(cls, v: list[int]) -> list[int]:
        bad = [h for h in v if not 0 <= h <= 23]
        if bad:
            raise ValueError(f"issue hours must be 0–23 (local), got {bad}")
        return v

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, v: list[float]) -> list[float]:
        if sorted(v) != v or any(not 0 < q < 1 for q in v) or 0.5 not in v:
            raise ValueError(f"quantiles must be increasing, inside (0, 1) and include 0.5, got {v}")
        return v


M = TypeVar("M", bound=BaseModel)


def format_validation_error(path: Path | str, err: ValidationError) -> str:
    """Render a pydantic error as ``file: key.path: message (got value)`` lines."""
    lines = [f"invalid configuration in {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        got_s = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  {loc}: {e['msg']}{got_s}")
    return "\n".join(lines)


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """A YAML syntax error as one line: `` at line L, column C: problem (context)``.

    Parameters
    ----------
    exc : yaml.YAMLError

    Returns
    -------
    str
        Starts with the position (1-based) when PyYAML gives one, else ``": <message>"``.

    Examples
    --------
    >>> try:
    ...     yaml.safe_load("a: [1, 2")
    ... except yaml.YAMLError as e:
    ...     print(yaml_error_text(e))
     at line 1, column 9: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return ": " + " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    return (f" at line {mark.line + 1}, column {mark.column + 1}: {problem}"
            + (f" ({context})" if context else ""))


def load_yaml_model(path: Path | str, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    """Load a YAML file into a pydantic model, raising :class:`ConfigError` on any problem.

    Parameters
    ----------
    path : path-like
        The YAML file (read with ``yaml.safe_load``).
    model : pydantic model class
    overrides : dict, optional
        Top-level keys that replace the file's values (e.g. from the environment).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); expected a "
                          f"UTF-8 file — save it as UTF-8 (e.g. not GBK)") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML{yaml_error_text(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    if overrides:
        data = {**data, **overrides}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None
