"""Pydantic schema of ``configs/sources.yaml``: where airwarn fetches its inputs from.

A source is one HTTP(S) feed with a URL template. Two shapes:

- **cycle** sources (NWP): ``cycle_hours`` (UTC) and ``steps`` (hours after the reference time);
  one URL per (cycle, step). The template sees the cycle's reference time (UTC).
- **periodic** sources (observations): one URL every ``every_h`` hours, the template seeing the
  time label of the file in the source's ``timezone`` (CNEMC files are labelled in Beijing time).

Template fields (Python ``str.format``): ``{base}`` (the base URL), ``{yyyymmdd}``, ``{yyyy}``,
``{mm}``, ``{dd}``, ``{HH}``, ``{yyyymmddHH}``, ``{step}`` (int, so ``{step:03d}`` works) and
``{t}`` (the datetime, so ``{t:%Y%m%d}`` works). The base URL of any source can be replaced
without editing this file: environment variable ``AIRWARN_SOURCE_<NAME>_URL`` (name upper-cased,
``-`` → ``_``) or ``airwarn fetch --base-url NAME=URL`` (``*=URL`` for every source; ``{source}``
in that URL is replaced by the source's name) — what tests and the demo do to point at loopback.

Credentials are never written here: ``headers_env`` maps a header name to the name of an
environment variable holding its value (e.g. ``Authorization: AIRWARN_CMA_TOKEN``).

Units: hours (h), seconds (s), bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from airwarn.configs.schema import StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = ["FetchDefaults", "Source", "Sources", "load_sources", "parse_steps"]

_STEP_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_steps(spec: str | int | list[int | str]) -> list[int]:
    """Forecast steps (h) from ``"0-120/3"`` (start-stop/every, stop included), a list of ints
    and/or such ranges, or one int. Sorted, unique."""
    items = spec if isinstance(spec, list) else [spec]
    out: set[int] = set()
    for it in items:
        if isinstance(it, int):
            out.add(it)
            continue
        m = _STEP_RANGE.match(str(it))
        if m:
            a, b, every = (int(g) for g in m.groups())
            if every <= 0 or b < a:
                raise ValueError(f"steps {it!r}: expected start-stop/every with stop ≥ start, "
                                 f"every > 0")
            out.update(range(a, b + 1, every))
        elif str(it).strip().isdigit():
            out.add(int(str(it).strip()))
        else:
            raise ValueError(f"steps {it!r}: expected an hour, a list, or 'start-stop/every'")
    if any(s < 0 for s in out):
        raise ValueError(f"steps {spec!r}: negative step")
    return sorted(out)


class FetchDefaults(StrictModel):
    """Network behaviour shared by every source (a source may override each key)."""

    timeout_s: float = Field(default=30.0, gt=0, description="per-request socket timeout, s")
    max_time_s: float = Field(default=900.0, gt=0,
                              description="wall time allowed for one request, s")
    retries: int = Field(default=4, ge=0, le=20, description="retries after the first attempt")
    backoff_s: float = Field(default=2.0, ge=0, description="first retry delay, s (doubles)")
    backoff_max_s: float = Field(default=120.0, ge=0, description="largest retry delay, s")


class Source(StrictModel):
    """One configured feed (see the module docstring)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    enabled: bool = False
    kind: Literal["nwp", "obs", "met_obs"]
    description: str = ""
    base_url: str
    url: str = Field(description="URL template, usually starting with {base}")
    # cycle sources
    cycle_hours: list[int] | None = None
    steps: list[int] | None = None
    cycles_back: int = Field(default=2, ge=1, le=20,
                             description="how many of the newest cycles to look for")
    # periodic sources
    every_h: int | None = Field(default=None, ge=1, le=24)
    lookback_h: int = Field(default=24, ge=1, le=24 * 31,
                            description="periodic files looked for, back from now, h")
    timezone: str = "UTC"
    # timing: try from latency_h after the reference/label time; normally complete at expected_h
    latency_h: float = Field(default=0.0, ge=0)
    expected_h: float | None = Field(default=None, ge=0,
                                     description="normally complete after, h (default latency_h)")
    # checks
    check: Literal["none", "grib2", "csv"] = "none"
    sha256_url: str | None = Field(default=None, description="template of a file whose first "
                                                             "token is the sha256 of the data")
    dest: str | None = Field(default=None, description="landing path template under "
                                                       "inbox/<name>/ (default: cycle folder + "
                                                       "the URL's file name)")
    headers_env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0)
    max_time_s: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=20)
    backoff_s: float | None = Field(default=None, ge=0)
    backoff_max_s: float | None = Field(default=None, ge=0)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, v: object) -> object:
        return None if v is None else parse_steps(v)  # type: ignore[arg-type]

    @field_validator("cycle_hours")
    @classmethod
    def _hours(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(not 0 <= h <= 23 for h in v)):
            raise ValueError(f"cycle_hours must be UTC hours 0–23, got {v}")
        return sorted(set(v)) if v is not None else None

    @model_validator(mode="after")
    def _shape(self) -> Source:
        cyc = self.cycle_hours is not None or self.steps is not None
        if cyc and (self.cycle_hours is None or self.steps is None):
            raise ValueError(f"source {self.name!r}: a cycle source needs cycle_hours and steps")
        if cyc == (self.every_h is not None):
            raise ValueError(f"source {self.name!r}: give either cycle_hours+steps (a forecast "
                             f"cycle source) or every_h (a periodic source), not both/neither")
        if self.expected_h is not None and self.expected_h < self.latency_h:
            raise ValueError(f"source {self.name!r}: expected_h ({self.expected_h}) is before "
                             f"latency_h ({self.latency_h})")
        return self

    @property
    def expected_delay_h(self) -> float:
        """Hours after the reference/label time at which a file is normally published."""
        return self.expected_h if self.expected_h is not None else self.latency_h

    @property
    def is_cycle(self) -> bool:
        """A forecast-cycle source (URLs per cycle and step)."""
        return self.cycle_hours is not None

    def env_name(self) -> str:
        """The environment variable that overrides the base URL."""
        return f"AIRWARN_SOURCE_{self.name.upper().replace('-', '_')}_URL"

    def resolved_base(self, overrides: dict[str, str] | None = None) -> str:
        """Base URL after overrides (argument ``{name: url}`` or ``{"*": url}``, then the
        environment variable, then the file)."""
        ov = overrides or {}
        url = ov.get(self.name) or ov.get("*") or os.environ.get(self.env_name()) or self.base_url
        return url.replace("{source}", self.name).rstrip("/")


class Sources(StrictModel):
    """``configs/sources.yaml``."""

    defaults: FetchDefaults = Field(default_factory=FetchDefaults)
    sources: list[Source] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Sources:
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate source names: {dup}")
        return self

    def get(self, name: str) -> Source:
        """The source called ``name`` (KeyError naming the known ones)."""
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"unknown source {name!r}; configured: {[s.name for s in self.sources]}")


def load_sources(path: Path | str | None = None) -> Sources:
    """Load ``sources.yaml`` (default: the configuration directory's)."""
    if path is None:
        from airwarn.configs import config_dir

        path = config_dir() / "sources.yaml"
    return load_yaml_model(path, Sources)
