"""Pydantic models of the NWP source profiles (``configs/nwp/<source>.yaml``) and of the
meteorology checks (``configs/nwp/checks.yaml``).

A *source profile* says how one forecast centre's GRIB files map to the store's ERA5 names and
units (DESIGN.md, "Data contracts": ``t2m d2m u10 v10 sp tp blh ssrd tcc`` in K, K, m s-1,
m s-1, Pa, mm h-1, m, W m-2, 0–1):

* ``centres`` — the GRIB header ``centre`` values (ecCodes abbreviations: ``ecmf``, ``kwbc``,
  ``babj``) by which a file is recognised as this source, no flag needed;
* ``variables`` — for every store name, the GRIB keys that select its messages (``shortName``
  and/or ``paramId`` alternatives, optionally ``typeOfLevel``/``level`` or the GRIB2 triple
  ``discipline/parameterCategory/parameterNumber``) and the units the source writes (checked
  against the header's ``units`` — a mismatch is an error naming the file and variable);
* ``steps`` — the step layout the centre publishes (``single_file`` cycle or ``file_per_step``,
  the step hours, the cycle hours, the delivery latency);
* ``crop`` — whether global files are cropped to the configured domain while reading.

How each source accumulates (``tp`` from the start in m for IFS, over 6-h buckets in kg m-2 for
GFS, ``ssrd`` in J m-2 from the start or as a W m-2 average over a window) is read from each
message's ``stepType`` and ``stepRange`` header keys, never assumed: the reader turns every
accumulation into a rate over each step window (``features.readers.grib``).

Units: degrees, hours, the units named in each field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from airwarn.configs.schema import ConfigError, StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

__all__ = ["STORE_VARS", "GribKeys", "StepLayout", "NwpProfile", "BBox", "VarRange",
           "MetChecks", "NWP_DIR", "load_profile", "load_profiles", "load_met_checks"]

#: Store variable names (ERA5 short names), DESIGN.md.
STORE_VARS = ("t2m", "d2m", "u10", "v10", "sp", "tp", "blh", "ssrd", "tcc")
#: Directory of the profiles and checks.
NWP_DIR = Path(__file__).resolve().parent / "nwp"


class GribKeys(StrictModel):
    """How to find one store variable among a file's GRIB messages.

    A message matches when its ``shortName`` is one of ``shortName`` **or** its ``paramId`` is
    one of ``paramId`` **or** its ``(discipline, parameterCategory, parameterNumber)`` equals
    ``parameter``; and, when given, ``typeOfLevel`` and ``level`` equal the message's.

    Attributes
    ----------
    shortName : list of str
        ecCodes short names (``2t``, ``10u``, ``tp``, ``hpbl`` …).
    paramId : list of int
        ecCodes parameter ids (167 = 2 m temperature, 228 = total precipitation in m …).
    parameter : list of int, optional
        GRIB2 ``[discipline, parameterCategory, parameterNumber]`` (local NCEP parameters such
        as HPBL ``[0, 3, 196]`` that older ecCodes tables do not name, or CMA-GFS total
        precipitation ``[0, 1, 8]`` that ecCodes names for no centre but ``kwbc``).
    typeOfLevel : list of str, optional
        Accepted ecCodes level types (``heightAboveGround``, ``surface``, ``atmosphere`` …).
    level : int, optional
    units : str
        Units the source writes, as ecCodes spells them (``K``, ``m``, ``kg m**-2``, ``J m**-2``,
        ``W m**-2``, ``%``, ``(0 - 1)``, ``m s**-1``, ``Pa``). A message ecCodes cannot name
        (``shortName`` and ``units`` ``unknown``) selected by ``parameter`` is taken in these
        units; any other header units must equal them.
    optional : bool
        A variable the source may not publish (its absence does not make a step incomplete).
    """

    shortName: list[str] = Field(default_factory=list)
    paramId: list[int] = Field(default_factory=list)
    parameter: list[int] | None = None
    typeOfLevel: list[str] | None = None
    level: int | None = None
    units: str
    optional: bool = False

    @field_validator("typeOfLevel", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _some_key(self) -> GribKeys:
        if not self.shortName and not self.paramId and not self.parameter:
            raise ValueError("give at least one of shortName, paramId, parameter")
        if self.parameter is not None and len(self.parameter) != 3:
            raise ValueError("parameter is [discipline, parameterCategory, parameterNumber]")
        return self


class StepLayout(StrictModel):
    """How a centre publishes a cycle.

    Attributes
    ----------
    layout : {"single_file", "file_per_step"}
    hours : list of int
        Step hours published (e.g. 0…144 every 3 h); ``first:last:every`` strings expand.
    cycle_hours : list of int
        UTC hours of the cycles.
    latency_h : float
        Typical hours after the reference time at which the cycle is complete on the server.
    """

    layout: Literal["single_file", "file_per_step"] = "single_file"
    hours: list[int]
    cycle_hours: list[int] = Field(default_factory=lambda: [0, 12])
    latency_h: float = Field(default=8.0, ge=0, le=48)

    @field_validator("hours", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        if isinstance(v, list):
            out: list[int] = []
            for item in v:
                if isinstance(item, str) and ":" in item:
                    a, b, c = (int(x) for x in item.split(":"))
                    out += list(range(a, b + 1, c))
                else:
                    out.append(item)  # type: ignore[arg-type]
            return sorted(set(out))
        return v


class NwpProfile(StrictModel):
    """One NWP source (``configs/nwp/<id>.yaml``).

    Attributes
    ----------
    id : str
        Profile id (the file stem), recorded with every cycle.
    name : str
    centres : list of str
        GRIB ``centre`` abbreviations that identify the source.
    grid : str
        Human description of the grid (``0.25° regular lat-lon``).
    crop : bool
        Crop to the configured domain (``checks.yaml`` ``domain``) while reading.
    steps : StepLayout
    variables : dict of str to GribKeys
        Store name → GRIB keys.
    licence, url : str
        Terms and where the data come from.
    """

    id: str
    name: str
    centres: list[str]
    grid: str = ""
    crop: bool = True
    steps: StepLayout
    variables: dict[str, GribKeys]
    licence: str = ""
    url: str = ""

    @field_validator("variables")
    @classmethod
    def _names(cls, v: dict[str, GribKeys]) -> dict[str, GribKeys]:
        bad = [k for k in v if k not in STORE_VARS]
        if bad:
            raise ValueError(f"unknown store variable(s) {bad}; expected {list(STORE_VARS)}")
        return v

    @property
    def required(self) -> list[str]:
        """Store names every complete step must hold."""
        return [k for k, g in self.variables.items() if not g.optional]


class BBox(StrictModel):
    """A longitude/latitude box, degrees (WGS 84), and a margin added around it."""

    west: float = Field(ge=-180, le=360)
    east: float = Field(ge=-180, le=360)
    south: float = Field(ge=-90, le=90)
    north: float = Field(ge=-90, le=90)
    margin_deg: float = Field(default=0.5, ge=0, le=10)

    @model_validator(mode="after")
    def _order(self) -> BBox:
        if self.west >= self.east or self.south >= self.north:
            raise ValueError("expected west < east and south < north")
        return self


class VarRange(StrictModel):
    """Plausible range of one store variable, in its store unit."""

    min: float
    max: float
    #: values within this of a bound are clipped (packing noise), not refused
    tolerance: float = 0.0


class MetChecks(StrictModel):
    """Meteorology checks (``configs/nwp/checks.yaml``).

    Attributes
    ----------
    domain : BBox
        The box (plus margin) global files are cropped to; it must hold every unit.
    ranges : dict of str to VarRange
        Plausible values per store variable (store units).
    max_outside_share : float
        Share of a field's values outside its range above which the field is refused (0–1).
    max_nan_share : float
        Share of missing values above which a field is refused (0–1).
    """

    domain: BBox
    ranges: dict[str, VarRange]
    max_outside_share: float = Field(default=0.001, ge=0, le=1)
    max_nan_share: float = Field(default=0.2, ge=0, le=1)


def load_profile(name_or_path: str | Path) -> NwpProfile:
    """A profile by id (``ecmwf_ifs_open``) or path; raises ConfigError naming the file."""
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = NWP_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            known = sorted(x.stem for x in NWP_DIR.glob("*.yaml") if x.stem != "checks")
            raise ConfigError(f"unknown NWP source profile {name_or_path!r}; known: {known}")
    prof = load_yaml_model(p, NwpProfile)
    return prof


def load_profiles(directory: Path | str | None = None) -> list[NwpProfile]:
    """Every profile in ``configs/nwp/`` (all files but ``checks.yaml``), sorted by id.

    Parsed once per process while the files are unchanged (name, size, modification time):
    reading a GRIB file looks its centre up here, hundreds of times in one ingest."""
    d = Path(directory) if directory is not None else NWP_DIR
    files = []
    for p in sorted(d.glob("*.yaml")):
        if p.stem != "checks":
            st = p.stat()
            files.append((str(p), st.st_size, st.st_mtime_ns))
    key = tuple(files)
    if key not in _PROFILES:
        _PROFILES.clear()
        _PROFILES[key] = sorted((load_yaml_model(f[0], NwpProfile) for f in files),
                                key=lambda x: x.id)
    return [prof.model_copy(deep=True) for prof in _PROFILES[key]]


_PROFILES: dict[tuple, list[NwpProfile]] = {}


def load_met_checks(path: Path | str | None = None) -> MetChecks:
    """The meteorology checks (default ``configs/nwp/checks.yaml``)."""
    return load_yaml_model(Path(path) if path is not None else NWP_DIR / "checks.yaml", MetChecks)
