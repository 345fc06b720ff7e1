"""Model-ready feature tables for the forecasters, built without leakage.

A forecast issued at ``t0`` (UTC, on the hour) sees observations up to the hour labelled
``t0 − 1 h`` and, for the future, only the meteorology a :class:`MetSource` says was known at
``t0`` (the newest forecast cycle available then). Lead ``h`` (1…N) is valid at
``t0 + (h − 1) h``: lead 1 is the first hour not yet observed. A run covers every hour to the end
of the local natural day D+3.

Everything is organised as *panels*: hourly arrays ``(time, unit)`` on a contiguous UTC index, so
lags, rolling windows and daily statistics are array slices. Local (Asia/Shanghai) days are
UTC+8 with no daylight saving, so a local day is 24 consecutive UTC hours starting at 16:00 UTC.

Units: concentrations µg/m³ (CO mg/m³); meteorology in ERA5 names and units (``t2m``/``d2m`` K,
``u10``/``v10``/``ws10`` m s-1, ``sp`` Pa, ``tp`` mm h-1, ``blh`` m, ``ssrd`` W m-2, ``tcc`` 0–1,
``rh`` %); ventilation ``vent = blh × ws10`` m² s-1.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from airwarn.configs.schema import Region
from airwarn.features.calendar import calendar_features

from airwarn.core.daily import MIN_HOURS_8H, MIN_HOURS_DAILY, daily_mean_cube, mda8_cube
from airwarn.core.daily import MIN_WINDOWS_MDA8 as _MIN_WINDOWS_MDA8
from airwarn.core.pollutants import observed as registry_observed
from airwarn.core.pollutants import pollutant as pollutant_info
from airwarn.core.pollutants import targets as registry_targets
from airwarn.core.timeutil import LOCAL_OFFSET_H  # local − UTC, h (fixed; 8 = Asia/Shanghai)

__all__ = [
    "POLLUTANTS",
    "MET_VARS",
    "LOCAL_OFFSET_H",
    "Panel",
    "Geometry",
    "MetSource",
    "NoMet",
    "PerfectMet",
    "CycleMet",
    "make_panel",
    "issue_index",
    "horizon_hours",
    "local_day_start",
    "daily_mean",
    "daily_mda8",
    "daily_targets",
    "history_features",
    "met_history_features",
    "MET_HISTORY_VARS",
    "observation_variables",
    "met_day_features",
    "transport_features",
    "build_issue_features",
    "daily_design",
    "hourly_design",
]

#: observed pollutant columns (the pollutant registry, canonical order)
POLLUTANTS = list(registry_observed())
MET_VARS = ["t2m", "d2m", "u10", "v10", "ws10", "sp", "tp", "rh", "blh", "ssrd", "tcc"]

#: daily mean valid with ≥ 20 hourly values; 8-h mean ≥ 6 of 8 hours; MDA8 ≥ 14 of 17 windows
#: (GB 3095 表4, domain-spec T1.11) — the one implementation is :mod:`airwarn.core.daily`
MIN_DAILY_HOURS = MIN_HOURS_DAILY
MIN_8H_HOURS = MIN_HOURS_8H
MIN_MDA8_WINDOWS = _MIN_WINDOWS_MDA8


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


@dataclass
class Panel:
    """Hourly data on a contiguous UTC index: ``data[var]`` has shape ``(len(times), len(units))``.

    Attributes
    ----------
    times : DatetimeIndex
        Hourly, tz-aware UTC, contiguous.
    units : list of str
        Unit (or station) ids, the column order of every array.
    data : dict of str to ndarray
        Variable → float array ``(time, unit)``, NaN = missing; units as in the module docstring.
    """

    times: pd.DatetimeIndex
    units: list[str]
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def index(self, t: pd.Timestamp) -> int:
        """Row of a UTC time (may be outside 0…len−1 when ``t`` is outside the panel)."""
        return int((pd.Timestamp(t) - self.times[0]) // pd.Timedelta(hours=1))

    def get(self, var: str, rows: np.ndarray) -> np.ndarray:
        """Values of ``var`` at integer rows (NaN where a row is outside the panel)."""
        arr = self.data[var]
        rows = np.asarray(rows)
        ok = (rows >= 0) & (rows < arr.shape[0])
        out = np.full(rows.shape + (arr.shape[1],), np.nan)
        out[ok] = arr[rows[ok]]
        return out


def make_panel(table: pd.DataFrame, variables: Sequence[str], units: Sequence[str],
               start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
               unit_col: str = "unit_id", time_col: str = "time") -> Panel:
    """Pivot a long table ``(time, unit, var…)`` to a :class:`Panel`.

    Parameters
    ----------
    table : DataFrame
        Long table with tz-aware UTC ``time_col`` and ``unit_col``.
    variables : sequence of str
        Columns to pivot; absent columns become all-NaN arrays only if listed in ``POLLUTANTS``
        (meteorology that a source lacks is simply left out).
    units : sequence of str
        Column order; units absent from the table are all NaN.
    start, end : Timestamp, optional
        Panel range (inclusive, UTC, floored to the hour); default the table's range.
    """
    t = pd.DatetimeIndex(table[time_col])
    if t.tz is None:
        raise ValueError(f"column {time_col!r} must be tz-aware UTC, got naive times")
    t = t.tz_convert("UTC")
    start = pd.Timestamp(start).tz_convert("UTC").floor("h") if start is not None else t.min()
    end = pd.Timestamp(end).tz_convert("UTC").floor("h") if end is not None else t.max()
    times = pd.date_range(start, end, freq="h")
    units = list(units)
    rows = ((t - start) // pd.Timedelta(hours=1)).to_numpy()
    if len(set(units)) == len(units):  # column of each row's unit, -1 = not a panel unit
        cols = pd.Index(units).get_indexer(table[unit_col].to_numpy(dtype=object))
    else:  # a repeated unit: its last column, as a dict lookup gives
        uix = {u: i for i, u in enumerate(units)}
        cols = table[unit_col].map(lambda u: uix.get(u, -1)).to_numpy(dtype=int)
    ok = (rows >= 0) & (rows < len(times)) & (cols >= 0)
    rows, cols = rows[ok], cols[ok]
    data: dict[str, np.ndarray] = {}
    for v in variables:
        if v not in table.columns:
            if v in POLLUTANTS:
                data[v] = np.full((len(times), len(units)), np.nan)
            continue
        arr = np.full((len(times), len(units)), np.nan)
        arr[rows, cols] = pd.to_numeric(table[v], errors="coerce").to_numpy(dtype=float)[ok]
        data[v] = arr
    return Panel(times=times, units=units, data=data)


def _derive_met(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add derived met variables when their inputs exist: ws10, rh (%), vent (m² s-1)."""
    out = dict(data)
    if "ws10" not in out and "u10" in out and "v10" in out:
        out["ws10"] = np.hypot(out["u10"], out["v10"])
    if "rh" not in out and "t2m" in out and "d2m" in out:
        t, td = out["t2m"] - 273.15, out["d2m"] - 273.15
        a, b = 17.625, 243.04
        out["rh"] = np.clip(100.0 * np.exp(a * td / (b + td) - a * t / (b + t)), 0, 100)
    if "blh" in out and "ws10" in out:
        out["vent"] = out["blh"] * out["ws10"]
    return out


def local_day_start(t: pd.Timestamp) -> pd.Timestamp:
    """UTC instant of local (UTC+8) midnight of the local day containing ``t``."""
    t = pd.Timestamp(t).tz_convert("UTC")
    return (t + pd.Timedelta(hours=LOCAL_OFFSET_H)).floor("D") - pd.Timedelta(hours=LOCAL_OFFSET_H)


def horizon_hours(issue_time: pd.Timestamp, days: int = 3) -> int:
    """Number of leads from ``issue_time`` to the end of local day D+``days`` (hours).

    A 12:00 issue has 84 leads (12:00 D … 23:00 D+3)."""
    t0 = pd.Timestamp(issue_time).tz_convert("UTC")
    end = local_day_start(t0) + pd.Timedelta(days=days + 1)
    return int((end - t0) // pd.Timedelta(hours=1))


def issue_index(panel: Panel, issue_time: pd.Timestamp) -> int:
    """Panel row of the issue time (the first hour NOT observed)."""
    return panel.index(pd.Timestamp(issue_time).tz_convert("UTC"))


# --------------------------------------------------------------------------------------------
# Daily statistics (local natural days)
# --------------------------------------------------------------------------------------------


def _by_local_day(panel: Panel, var: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Reshape a variable to ``(day, 24, unit)`` over whole local days (NaN padded)."""
    arr = panel.data[var]
    first = local_day_start(panel.times[0])
    last = local_day_start(panel.times[-1])
    ndays = int((last - first) / pd.Timedelta(days=1)) + 1
    off = panel.index(first)  # ≤ 0
    full = np.full((ndays * 24, arr.shape[1]), np.nan)
    lo = -off
    n = min(arr.shape[0], ndays * 24 - lo)
    full[lo:lo + n] = arr[:n]
    dates = pd.date_range((first + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None),
                          periods=ndays, freq="D")
    return dates, full.reshape(ndays, 24, arr.shape[1])


def daily_mean(panel: Panel, var: str, min_hours: int = MIN_DAILY_HOURS) -> pd.DataFrame:
    """Natural-day (local) mean, valid with ≥ ``min_hours`` hourly values (µg/m³).

    Returns
    -------
    DataFrame
        Index local dates (naive), columns units; NaN where invalid.
    """
    dates, cube = _by_local_day(panel, var)
    m, _ = daily_mean_cube(cube, min_hours)
    return pd.DataFrame(m, index=dates, columns=panel.units)


def _mda8_cube(cube: np.ndarray) -> np.ndarray:
    """MDA8 of ``(day, 24, unit)`` (:func:`airwarn.core.daily.mda8_cube`)."""
    return mda8_cube(cube)[0]


def daily_mda8(panel: Panel, var: str = "o3") -> pd.DataFrame:
    """Daily maximum 8-h mean (MDA8, µg/m³) per local day: windows 00–07 … 16–23, each valid
    with ≥ 6 of 8 hours, MDA8 valid with ≥ 14 of the 17 windows."""
    dates, cube = _by_local_day(panel, var)
    return pd.DataFrame(_mda8_cube(cube), index=dates, columns=panel.units)


def daily_targets(panel: Panel, pollutants: Sequence[str] | None = None
                  ) -> dict[str, pd.DataFrame]:
    """The daily products of the observations (µg/m³): each forecast target's regulatory daily
    statistic from the pollutant registry (``pm25`` daily mean, ``o3`` MDA8, …).

    ``pollutants`` default: the registry's targets; pollutants absent from the panel are skipped.
    """
    out: dict[str, pd.DataFrame] = {}
    for p in (pollutants if pollutants is not None else registry_targets()):
        if p not in panel.data:
            continue
        if pollutant_info(p).daily_statistic == "mda8":
            out[p] = daily_mda8(panel, p)
        else:
            out[p] = daily_mean(panel, p)
    return out


# --------------------------------------------------------------------------------------------
# Meteorology sources
# --------------------------------------------------------------------------------------------


@runtime_checkable
class MetSource(Protocol):
    """Where the future meteorology of a run comes from.

    ``panel(issue_time, start, end, units)`` returns the hourly meteorology valid from ``start``
    to ``end`` (UTC, inclusive) as known at ``issue_time``; ``describe(issue_time)`` says what was
    used (cycle, age, …) for the forecast file's ``inputs`` attribute.
    """

    name: str

    def panel(self, issue_time: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp,
              units: Sequence[str]) -> Panel: ...

    def describe(self, issue_time: pd.Timestamp) -> dict[str, Any]: ...


class NoMet:
    """No future meteorology (features are NaN; models trained without them)."""

    name = "none"

    def panel(self, issue_time: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp,
              units: Sequence[str]) -> Panel:
        """An empty panel (no variables)."""
        return Panel(pd.date_range(start, end, freq="h"), list(units), {})

    def describe(self, issue_time: pd.Timestamp) -> dict[str, Any]:
        """``{"met": "none"}``."""
        return {"met": "none"}


class PerfectMet:
    """Observed point meteorology at the valid time ("perfect prog" benchmark).

    Parameters
    ----------
    table : DataFrame
        ``time`` (UTC), ``unit_id`` (or ``station_id``), met variables in ERA5 names/units.
    """

    name = "perfect"

    def __init__(self, table: pd.DataFrame, unit_col: str | None = None) -> None:
        unit_col = unit_col or ("unit_id" if "unit_id" in table.columns else "station_id")
        units = sorted(table[unit_col].astype(str).unique())
        tbl = table.assign(**{unit_col: table[unit_col].astype(str)})
        self._panel = make_panel(tbl, [v for v in MET_VARS if v in tbl.columns], units,
                                 unit_col=unit_col)
        self._panel.data = _derive_met(self._panel.data)

    def panel(self, issue_time: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp,
              units: Sequence[str]) -> Panel:
        """Observed met from ``start`` to ``end`` for ``units`` (NaN outside the table)."""
        times = pd.date_range(start, end, freq="h")
        rows = np.arange(len(times)) + self._panel.index(times[0])
        cols = [self._panel.units.index(u) if u in self._panel.units else -1 for u in units]
        data = {}
        for v in self._panel.data:
            a = self._panel.get(v, rows)
            a = np.where(np.asarray(cols)[None, :] >= 0, a[:, cols], np.nan)
            data[v] = a
        return Panel(times, list(units), data)

    def describe(self, issue_time: pd.Timestamp) -> dict[str, Any]:
        """Says that observed meteorology stands in for a forecast."""
        return {"met": "perfect", "note": "observed point meteorology at the valid time stands "
                                          "in for a meteorological forecast (perfect prog)"}


#: "every step" (a cycle without an arrival record), h
_ALL_STEPS = 10 ** 6


class CycleMet:
    """Unit-level meteorology from forecast cycles.

    Parameters
    ----------
    cycle_loader : callable
        ``cycle_loader(reference_time) -> DataFrame[time (or valid_time), unit_id, vars…]`` or
        ``None`` when that cycle is missing (e.g. ``features.demo_world.unit_met_forecast`` bound
        to a world, or ``features.met_sampling.sample_units`` over a cycle file).
    cycle_hours : sequence of int
        UTC hours of the cycles (default 00 and 12).
    latency_h : float
        Hours after its reference time at which a cycle becomes available.
    max_age_h : float
        Oldest cycle accepted (hours between its reference time and the issue time).
    arrivals : callable, optional
        ``arrivals(reference_time) -> {step (h): arrival time (UTC)}`` or ``None`` (e.g. the
        fetch catalog's record, ``features.met_cycles.cycle_arrivals``). A cycle with a record
        is available once its step 0 has arrived (instead of ``latency_h`` after its reference
        time), and is used at an issue time only up to its last step before the first one that
        had not arrived by then: a replay of what the centre had (the hours after it come from
        the older cycles, as for a partial cycle). Cycles without a record keep ``latency_h``.

    When the newest cycle is late or missing the previous one is used: its valid times already
    cover the future (shifted by its age), and :meth:`describe` records the cycle and its age.
    When the newest cycle is partial (its steps stop short of the end of D+3, or some are
    missing) the hours it lacks from its reference time on are taken, variable by variable and
    unit by unit, from the older cycles at the same valid times, newest first; hours no cycle
    covers stay NaN. :meth:`describe` lists the older cycles used and their hours (``stitched``).
    """

    name = "cycle"

    def __init__(self, cycle_loader: Any, cycle_hours: Sequence[int] = (0, 12),
                 latency_h: float = 5.0, max_age_h: float = 48.0,
                 arrivals: Any = None) -> None:
        self.loader = cycle_loader
        self.cycle_hours = sorted(cycle_hours)
        self.latency_h = latency_h
        self.max_age_h = max_age_h
        self.arrivals = arrivals
        # the last few cycles read (a training pass walks the issues in time order: each cycle
        # serves a few neighbouring issues, and a year of hourly cycles would not fit in memory)
        self._cache: OrderedDict[pd.Timestamp, pd.DataFrame | None] = OrderedDict()
        #: per issue time: the older cycles whose hours filled the newest one's gaps
        self._stitched: dict[pd.Timestamp, list[dict[str, Any]]] = {}

    def _candidates(self, issue_time: pd.Timestamp) -> list[pd.Timestamp]:
        now = pd.Timestamp(issue_time).tz_convert("UTC")
        t = now - pd.Timedelta(hours=self.latency_h)
        out = []
        day = now.floor("D")
        while (now - day).total_seconds() / 3600 <= self.max_age_h + 24:
            for h in reversed(self.cycle_hours):
                c = day + pd.Timedelta(hours=h)
                age = (now - c).total_seconds() / 3600
                if c > now or age > self.max_age_h:
                    continue
                if self._recorded(c):
                    available = self._arrived_to(c, now) is not None
                else:
                    available = c <= t
                if available:
                    out.append(c)
            day -= pd.Timedelta(days=1)
        return out

    def _recorded(self, ref: pd.Timestamp) -> bool:
        return self.arrivals is not None and bool(self.arrivals(ref))

    def _arrived_to(self, ref: pd.Timestamp, issue_time: pd.Timestamp) -> int | None:
        """Last step (h) of ``ref`` before the first one not arrived by ``issue_time`` (None:
        step 0 had not); every step when the cycle has no arrival record."""
        rec = self.arrivals(ref) if self.arrivals is not None else None
        if not rec:
            return _ALL_STEPS
        last = None
        for step in sorted(rec):
            if rec[step] > issue_time:
                break
            last = int(step)
        return last

    def _as_of(self, ref: pd.Timestamp, issue_time: pd.Timestamp) -> pd.DataFrame:
        """Cycle ``ref`` as it stood at ``issue_time`` (its rows after the last arrived step
        dropped)."""
        df = self._load(ref)
        to = self._arrived_to(ref, pd.Timestamp(issue_time).tz_convert("UTC"))
        if to is None or to == _ALL_STEPS:
            return df
        return df[pd.DatetimeIndex(df["time"]) <= ref + pd.Timedelta(hours=to)]

    #: cycles kept in memory (least recently used dropped first)
    CACHE_CYCLES = 8

    def _load(self, ref: pd.Timestamp) -> pd.DataFrame | None:
        if ref in self._cache:
            self._cache.move_to_end(ref)
            return self._cache[ref]
        try:
            df = self.loader(ref)
        except (FileNotFoundError, KeyError, ValueError):
            df = None
        if df is not None and "valid_time" in df.columns and "time" not in df.columns:
            df = df.rename(columns={"valid_time": "time"})
        self._cache[ref] = df
        while len(self._cache) > self.CACHE_CYCLES:
            self._cache.popitem(last=False)
        return df

    def cycle_for(self, issue_time: pd.Timestamp) -> tuple[pd.Timestamp | None, list[str]]:
        """The cycle used at ``issue_time`` and the newer cycles that were missing."""
        missing = []
        for ref in self._candidates(issue_time):
            if self._load(ref) is not None:
                return ref, missing
            missing.append(ref.isoformat())
        return None, missing

    def panel(self, issue_time: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp,
              units: Sequence[str]) -> Panel:
        """Met of the newest available cycle, its gaps from its reference time on filled from
        the older cycles (NaN where none reaches)."""
        # read lazily: an older cycle only when the newest leaves gaps
        refs = (r for r in self._candidates(issue_time) if self._load(r) is not None)
        newest = next(refs, None)
        if newest is None:
            return NoMet().panel(issue_time, start, end, units)
        df = self._as_of(newest, issue_time)
        p = make_panel(df, [v for v in MET_VARS if v in df.columns], units, start=start, end=end)
        future = (p.times >= newest)[:, None]  # the part the newest cycle forecasts
        ahead = p.times >= pd.Timestamp(issue_time).tz_convert("UTC")  # what describe reports
        used: list[dict[str, Any]] = []
        gaps = {v: future & ~np.isfinite(a) for v, a in p.data.items()}
        while any(g.any() for g in gaps.values()):
            older = next(refs, None)
            if older is None:
                break
            q = make_panel(self._as_of(older, issue_time), list(p.data), units, start=start,
                           end=end)
            hours = np.zeros(len(p.times), dtype=bool)
            for v, g in gaps.items():
                if v not in q.data:
                    continue
                take = g & np.isfinite(q.data[v])
                p.data[v] = np.where(take, q.data[v], p.data[v])
                hours |= take.any(axis=1) & ahead
            if hours.any():
                used.append({"cycle": older.isoformat(), "hours": int(hours.sum()),
                             "from": p.times[hours][0].isoformat(),
                             "to": p.times[hours][-1].isoformat()})
            gaps = {v: future & ~np.isfinite(a) for v, a in p.data.items()}
        self._stitched[pd.Timestamp(issue_time).tz_convert("UTC")] = used
        p.data = _derive_met(p.data)
        return p

    def describe(self, issue_time: pd.Timestamp) -> dict[str, Any]:
        """Cycle reference time, its age (h), missing newer cycles, and the older cycles that
        filled a partial cycle's gaps up to the end of D+3 (``stitched``: cycle, hours, first
        and last valid time, UTC)."""
        ref, missing = self.cycle_for(issue_time)
        if ref is None:
            return {"met": "cycle", "cycle": None, "missing_cycles": missing,
                    "note": "no forecast cycle available: models run without future met"}
        t = pd.Timestamp(issue_time).tz_convert("UTC")
        age = (t - ref).total_seconds() / 3600
        out: dict[str, Any] = {"met": "cycle", "cycle": ref.isoformat(), "cycle_age_h": age,
                               "missing_cycles": missing}
        if t not in self._stitched:  # what a run's panel would take, to the end of D+3
            units = sorted(self._load(ref)["unit_id"].astype(str).unique())
            self.panel(t, t, t + pd.Timedelta(hours=horizon_hours(t) - 1), units)
        if self._stitched.get(t):
            out["stitched"] = self._stitched[t]
            out["note"] = ("partial cycle: hours it lacks from the older cycle(s) "
                           + ", ".join(f"{u['cycle']} ({u['hours']} h)" for u in out["stitched"]))
        return out


# --------------------------------------------------------------------------------------------
# Geometry (neighbours for transport)
# --------------------------------------------------------------------------------------------


@dataclass
class Geometry:
    """Unit points and neighbour lists for the upwind-transport features.

    Attributes
    ----------
    points : dict of str to (lat, lon)
        Degrees.
    neighbours : dict of str to list of str
    """

    points: dict[str, tuple[float, float]]
    neighbours: dict[str, list[str]]

    @classmethod
    def from_region(cls, region: Region) -> Geometry:
        """From ``configs.schema.Region`` (unit seats, border and channel neighbours)."""
        pts = {u.id: (u.point.lat, u.point.lon) for u in region.units}
        return cls(pts, {u.id: region.neighbours(u.id) for u in region.units})

    @classmethod
    def within(cls, points: Mapping[str, tuple[float, float]], radius_km: float) -> Geometry:
        """Every other point within ``radius_km`` is a neighbour."""
        nb = {}
        for a, pa in points.items():
            nb[a] = [b for b, pb in points.items()
                     if b != a and _dist_km(pa, pb) <= radius_km]
        return cls(dict(points), nb)


def _dist_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = _en_km(a, b)
    return math.hypot(dx, dy)


def _en_km(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """East/north offset (km) from a to b (equirectangular, fine for ≤ 500 km)."""
    lat0 = math.radians((a[0] + b[0]) / 2)
    return ((b[1] - a[1]) * 111.32 * math.cos(lat0), (b[0] - a[0]) * 110.57)


# --------------------------------------------------------------------------------------------
# History features (observations up to t0 − 1 h)
# --------------------------------------------------------------------------------------------

#: history features per observed pollutant: forecast targets (the pollutant registry) get the
#: "full" set, the others a short one (SO2 only its 24-h mean)
_HIST_RANK = {"full": 0, "short": 1, "tiny": 2}
#: history level of each observed pollutant as the other models see it (the registry), in a fixed
#: order (full, short, tiny; registry order within a level) that is the feature column order
_HIST_BASE = {p: pollutant_info(p).history for p in sorted(
    registry_observed(), key=lambda q: _HIST_RANK[pollutant_info(q).history])}
#: history computed: a target's full, the others at their level
_HIST_POLL = {p: ("full" if p in registry_targets() else k) for p, k in _HIST_BASE.items()}
#: feature suffixes per history level (full = every feature)
_HIST_SUFFIXES = {"short": {"last", "m6", "m24"}, "tiny": {"m24"}}


def _seen_by(key: str, pollutant: str) -> bool:
    """Whether the model of ``pollutant`` uses history feature ``key``: its own history in full,
    another pollutant's at that pollutant's registry level — so adding a target leaves the other
    targets' designs unchanged."""
    q, _, suffix = key.partition("_")
    if q == pollutant or q not in _HIST_BASE or _HIST_BASE[q] == "full":
        return True
    return suffix in _HIST_SUFFIXES[_HIST_BASE[q]]


def _window_stats(arr: np.ndarray, rows: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    """mean, max, min, std, count over rows ``r−w … r−1`` for each issue row r → (n, unit)."""
    idx = rows[:, None] - np.arange(w, 0, -1)[None, :]  # (n, w)
    ok = (idx >= 0) & (idx < arr.shape[0])
    vals = np.where(ok[..., None], arr[np.clip(idx, 0, arr.shape[0] - 1)], np.nan)  # (n, w, U)
    with np.errstate(invalid="ignore", all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return (np.nanmean(vals, axis=1), np.nanmax(vals, axis=1), np.nanmin(vals, axis=1),
                    np.nanstd(vals, axis=1), np.isfinite(vals).sum(axis=1))


def history_features(obs: Panel, issue_rows: np.ndarray,
                     daily: Mapping[str, pd.DataFrame] | None = None) -> dict[str, np.ndarray]:
    """Features of the observed past at each issue row (first unobserved hour).

    Parameters
    ----------
    obs : Panel
        Unit observations (µg/m³; CO mg/m³).
    issue_rows : ndarray of int
        Panel rows of the issue times.
    daily : dict, optional
        Precomputed :func:`daily_targets` of ``obs`` (speed).

    Returns
    -------
    dict of str to ndarray ``(issue, unit)``
        For PM2.5 and O3: ``<p>_last`` (last valid value within 6 h), ``<p>_m3``, ``_m6``,
        ``_m24``, ``_m72``, ``_m30d`` (means over 3, 6, 24, 72 h and 30 days), ``_max24``, ``_min24``, ``_sd24``, ``_n24`` (valid hours),
        ``_sh24`` (same hour yesterday), ``_today`` (mean of today's observed hours), ``_dm1``
        (yesterday's daily product: mean for PM2.5, MDA8 for O3), ``_dm2``, ``_dm3`` (the days
        before), ``_dm7``, ``_dmax7``, ``_dm30`` (mean / max of the last 7 and mean of the last 30
        daily products), ``_tr6`` (last 6 h minus previous 6 h). For PM10, NO2, CO: last, m6, m24. SO2: m24. Cross: ``pm25_pm10``
        (ratio of 24-h means).
    """
    rows = np.asarray(issue_rows, dtype=int)
    feats: dict[str, np.ndarray] = {}
    day_starts = np.array([obs.index(local_day_start(obs.times[0] + pd.Timedelta(hours=int(r))))
                           for r in rows])
    for p, kind in _HIST_POLL.items():
        if p not in obs.data:
            continue
        a = obs.data[p]
        if kind == "tiny":
            feats[f"{p}_m24"] = _window_stats(a, rows, 24)[0]
            continue
        m6, mx6, mn6, sd6, n6 = _window_stats(a, rows, 6)
        m24, mx24, mn24, sd24, n24 = _window_stats(a, rows, 24)
        # last valid value within 6 h
        last = np.full((len(rows), a.shape[1]), np.nan)
        for k in range(6, 0, -1):
            v = obs.get(p, rows - k)
            last = np.where(np.isfinite(v), v, last)
        feats[f"{p}_last"] = last
        feats[f"{p}_m6"] = m6
        feats[f"{p}_m24"] = m24
        if kind == "short":
            continue
        feats[f"{p}_m3"] = _window_stats(a, rows, 3)[0]
        feats[f"{p}_m72"] = _window_stats(a, rows, 72)[0]
        feats[f"{p}_m30d"] = _window_stats(a, rows, 720)[0]
        feats[f"{p}_max24"] = mx24
        feats[f"{p}_min24"] = mn24
        feats[f"{p}_sd24"] = sd24
        feats[f"{p}_n24"] = n24.astype(float)
        feats[f"{p}_sh24"] = obs.get(p, rows - 24)
        prev6 = _window_stats(a, rows - 6, 6)[0]
        feats[f"{p}_tr6"] = m6 - prev6
        # today's observed hours (local midnight … t0 − 1 h)
        today = np.full((len(rows), a.shape[1]), np.nan)
        for i, (r, d0) in enumerate(zip(rows, day_starts, strict=True)):
            if r > d0 >= 0:
                with np.errstate(all="ignore"):
                    seg = a[d0:r]
                    cnt = np.isfinite(seg).sum(axis=0)
                    today[i] = np.where(cnt > 0, np.nansum(seg, axis=0) / np.maximum(cnt, 1),
                                        np.nan)
        feats[f"{p}_today"] = today
    if daily is None:
        daily = daily_targets(obs)
    for p, tbl in daily.items():
        if p not in obs.data:
            continue
        dates = pd.DatetimeIndex([(obs.times[0] + pd.Timedelta(hours=int(r) + LOCAL_OFFSET_H))
                                  .tz_localize(None).normalize() - pd.Timedelta(days=1)
                                  for r in rows])
        feats[f"{p}_dm1"] = tbl.reindex(dates).to_numpy()
        # the daily products of the days before: regime and seasonal level (mlforecast-style
        # target lags, on the daily scale)
        feats[f"{p}_dm2"] = tbl.reindex(dates - pd.Timedelta(days=1)).to_numpy()
        feats[f"{p}_dm3"] = tbl.reindex(dates - pd.Timedelta(days=2)).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            st7 = np.stack([tbl.reindex(dates - pd.Timedelta(days=d)).to_numpy()
                            for d in range(7)])
            feats[f"{p}_dm7"] = np.nanmean(st7, axis=0)
            feats[f"{p}_dmax7"] = np.nanmax(st7, axis=0)
            st30 = np.stack([tbl.reindex(dates - pd.Timedelta(days=d)).to_numpy()
                             for d in range(30)])
            feats[f"{p}_dm30"] = np.nanmean(st30, axis=0)
    if "pm25_m24" in feats and "pm10_m24" in feats:
        with np.errstate(all="ignore"):
            feats["pm25_pm10"] = feats["pm25_m24"] / np.maximum(feats["pm10_m24"], 1.0)
    feats.update(met_history_features(obs, rows))
    return feats


#: observed meteorology whose recent past is a feature when the observation panel carries it
MET_HISTORY_VARS = ["t2m", "d2m", "rh", "sp", "u10", "v10", "ws10", "tp", "blh"]


def observation_variables(table: pd.DataFrame) -> list[str]:
    """Variables of an observation panel built from ``table``: the pollutants, plus the station
    meteorology of :data:`MET_HISTORY_VARS` that the table carries (its past becomes ``mo_*``
    features; the national air-quality network has none, the UCI sets do)."""
    return POLLUTANTS + [v for v in MET_HISTORY_VARS if v in table.columns]


def met_history_features(obs: Panel, issue_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Features of the meteorology *observed* before the issue (known at ``t0``, no forecast).

    Used when the observation panel carries station meteorology (the UCI sets do; the national
    air-quality network does not): they let a forecast without any future meteorology see the
    air mass it starts from — a moist, calm, southerly regime fills up; a dry northerly clears.

    Parameters
    ----------
    obs : Panel
        Observations; meteorology in the names and units of :data:`MET_VARS`.
    issue_rows : ndarray of int
        Panel rows of the issue times (first unobserved hour).

    Returns
    -------
    dict of str to ndarray ``(issue, unit)``
        ``mo_<v>_last`` (last hour), ``mo_<v>_m6`` and ``mo_<v>_m24`` (means, units of the
        variable), ``mo_sp_tr24`` (pressure change over 24 h, Pa), ``mo_t2m_tr24`` (K),
        ``mo_d2m_tr24`` (K), ``mo_tp_s24`` (rain over 24 h, mm), ``mo_calm_h24`` (hours with
        ws10 < 1.5 m s-1).
    """
    rows = np.asarray(issue_rows, dtype=int)
    feats: dict[str, np.ndarray] = {}
    for v in MET_HISTORY_VARS:
        if v not in obs.data or not np.isfinite(obs.data[v]).any():
            continue
        a = obs.data[v]
        m24, _, _, _, n24 = _window_stats(a, rows, 24)
        if v == "tp":
            feats["mo_tp_s24"] = np.where(n24 >= 12, m24 * 24, np.nan)
            continue
        last = np.full((len(rows), a.shape[1]), np.nan)
        for k in range(3, 0, -1):
            x = obs.get(v, rows - k)
            last = np.where(np.isfinite(x), x, last)
        feats[f"mo_{v}_last"] = last
        feats[f"mo_{v}_m6"] = _window_stats(a, rows, 6)[0]
        feats[f"mo_{v}_m24"] = m24
        if v in ("sp", "t2m", "d2m"):
            feats[f"mo_{v}_tr24"] = last - obs.get(v, rows - 25)
        if v == "ws10":
            seg = obs.get(v, rows[:, None] - np.arange(24, 0, -1)[None, :])
            feats["mo_calm_h24"] = np.where(n24 >= 12, (seg < 1.5).sum(axis=1), np.nan)
    return feats


# --------------------------------------------------------------------------------------------
# Meteorology features
# --------------------------------------------------------------------------------------------

_DAY_AGGS: list[tuple[str, str, str]] = [
    ("t2m", "mean", "t2m"), ("t2m", "max", "t2m_max"), ("t2m", "min", "t2m_min"),
    ("d2m", "mean", "d2m"), ("rh", "mean", "rh"), ("rh", "min", "rh_min"),
    ("sp", "mean", "sp"), ("ws10", "mean", "ws"), ("ws10", "max", "ws_max"),
    ("u10", "mean", "u10"), ("v10", "mean", "v10"), ("tp", "sum", "rain"),
    ("blh", "mean", "blh"), ("blh", "min", "blh_min"), ("blh", "max", "blh_max"),
    ("vent", "mean", "vent"), ("vent", "min", "vent_min"), ("ssrd", "mean", "ssrd"),
    ("tcc", "mean", "tcc"),
]


def met_day_features(met: Panel, day_start_row: int, ndays: int) -> dict[str, np.ndarray]:
    """Daily aggregates of a met panel over ``ndays`` local days from ``day_start_row``.

    Returns
    -------
    dict of str to ndarray ``(day, unit)``
        Means/extremes/sums as named (``t2m`` K, ``rh`` %, ``ws`` m s-1, ``rain`` mm d-1,
        ``blh_min`` m, ``vent`` m² s-1 …), plus ``stag_h`` (hours with ws10 < 2 m s-1, and blh <
        500 m when blh is known), ``rain_h`` (hours with tp ≥ 0.1 mm), ``dsp`` and ``dt2m``
        (change from the previous day's mean, Pa and K), ``night_ws`` (mean 20–07 local),
        afternoon means ``<v>_pm`` (12–17 local) and night means ``<v>_night`` (00–05, 20–23).
        A day with fewer than 12 valid hours of a variable gives NaN for it.
    """
    out: dict[str, np.ndarray] = {}
    nd = ndays + 1  # one day before for differences
    rows = day_start_row - 24 + np.arange(nd * 24)
    cubes = {v: met.get(v, rows).reshape(nd, 24, -1) for v in met.data}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for var, how, name in _DAY_AGGS:
            if var not in cubes:
                continue
            c = cubes[var]
            n = np.isfinite(c).sum(axis=1)
            if how == "mean":
                r = np.nanmean(c, axis=1)
            elif how == "max":
                r = np.nanmax(c, axis=1)
            elif how == "min":
                r = np.nanmin(c, axis=1)
            else:
                r = np.nansum(c, axis=1) * 24 / np.maximum(n, 1)
            r = np.where(n >= 12, r, np.nan)
            out[name] = r
        if "ws10" in cubes:
            stag = cubes["ws10"] < 2.0
            if "blh" in cubes:
                stag &= cubes["blh"] < 500.0
            n = np.isfinite(cubes["ws10"]).sum(axis=1)
            out["stag_h"] = np.where(n >= 12, stag.sum(axis=1) * 24 / np.maximum(n, 1), np.nan)
            night = np.concatenate([cubes["ws10"][:, :8], cubes["ws10"][:, 20:]], axis=1)
            out["night_ws"] = np.nanmean(night, axis=1)
        # parts of the day: afternoon (12–17 local, the O3 window) and night (00–05, 20–23)
        for var, name in (("t2m", "t2m"), ("rh", "rh"), ("ws10", "ws"), ("d2m", "d2m"),
                          ("ssrd", "ssrd"), ("tcc", "tcc"), ("blh", "blh")):
            if var in cubes:
                out[f"{name}_pm"] = np.nanmean(cubes[var][:, 12:18], axis=1)
                if var in ("rh", "ws10", "blh"):
                    night = np.concatenate([cubes[var][:, :6], cubes[var][:, 20:]], axis=1)
                    out[f"{name}_night"] = np.nanmean(night, axis=1)
        if "tp" in cubes:
            n = np.isfinite(cubes["tp"]).sum(axis=1)
            out["rain_h"] = np.where(n >= 12, (cubes["tp"] >= 0.1).sum(axis=1), np.nan)
        if "sp" in out:
            out["dsp"] = out["sp"] - np.roll(out["sp"], 1, axis=0)
        if "t2m" in out:
            out["dt2m"] = out["t2m"] - np.roll(out["t2m"], 1, axis=0)
        out.update(_episode_met(cubes))
    return {k: v[1:] for k, v in out.items()}


#: daily met aggregates for the particulate episodes (:func:`_episode_met`); only the daily
#: designs of :data:`EPISODE_MET_POLLUTANTS` read them
EPISODE_MET_KEYS = ("dpd", "dpd_min", "rh_max", "dtr", "south_h", "north_h", "north_max",
                    "sp_tend", "since_north_h")
#: none by default: on the Beijing training fold (models ≤ 2014-02-28, issues 2014-03 … 2015-02,
#: perfect met; bench/bench_event_skill.py, two seeds) they raised the PM2.5 D+1 RMSE 39.6 → 40.1
#: and lowered the > 150 µg/m³ CSI 0.46 → 0.45 (docs/notes/w4-bjskill.md)
EPISODE_MET_POLLUTANTS: tuple[str, ...] = ()


def _episode_met(cubes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Episode meteorology of each local day from hourly cubes ``(day, 24, unit)``.

    Returns (a day with fewer than 12 valid hours of a variable gives NaN):
    ``dpd`` / ``dpd_min`` mean / minimum dewpoint depression t2m − d2m (K: near 0 = saturated,
    hygroscopic growth); ``rh_max`` (%); ``dtr`` diurnal range of t2m (K, an inversion proxy);
    ``south_h`` / ``north_h`` hours with v10 > 1 / < −2 m s-1 (southerly inflow of the plain's
    air, northerly flow); ``north_max`` strongest northerly component max(−v10) (m s-1, a cold
    front's clean-out); ``sp_tend`` pressure change over the day, last minus first valid hour
    (Pa); ``since_north_h`` hours from the last hour with v10 < −3 m s-1 to the end of the day,
    counted back over the cubes' earlier days and capped at their length (h).
    """
    out: dict[str, np.ndarray] = {}

    def ok(c: np.ndarray) -> np.ndarray:
        return np.isfinite(c).sum(axis=1) >= 12

    if "t2m" in cubes and "d2m" in cubes:
        dp = cubes["t2m"] - cubes["d2m"]
        out["dpd"] = np.where(ok(dp), np.nanmean(dp, axis=1), np.nan)
        out["dpd_min"] = np.where(ok(dp), np.nanmin(dp, axis=1), np.nan)
    if "rh" in cubes:
        out["rh_max"] = np.where(ok(cubes["rh"]), np.nanmax(cubes["rh"], axis=1), np.nan)
    if "t2m" in cubes:
        t = cubes["t2m"]
        out["dtr"] = np.where(ok(t), np.nanmax(t, axis=1) - np.nanmin(t, axis=1), np.nan)
    if "v10" in cubes:
        v = cubes["v10"]
        good = ok(v)
        out["south_h"] = np.where(good, (v > 1.0).sum(axis=1), np.nan)
        out["north_h"] = np.where(good, (v < -2.0).sum(axis=1), np.nan)
        out["north_max"] = np.where(good, np.nanmax(-v, axis=1), np.nan)
        flat = v.transpose(2, 0, 1).reshape(v.shape[2], -1)  # (unit, hour)
        north = flat < -3.0
        idx = np.where(north, np.arange(flat.shape[1])[None, :], -1)
        last = np.maximum.accumulate(idx, axis=1)  # last northerly hour up to each hour
        ends = np.arange(v.shape[0]) * 24 + 23
        since = np.where(last[:, ends] >= 0, ends[None, :] - last[:, ends], ends[None, :] + 1)
        out["since_north_h"] = np.where(good, since.T.astype(float), np.nan)
    if "sp" in cubes:
        sp = cubes["sp"]
        fin = np.isfinite(sp)
        first = np.argmax(fin, axis=1)
        lastr = sp.shape[1] - 1 - np.argmax(fin[:, ::-1], axis=1)
        a = np.take_along_axis(sp, first[:, None], axis=1)[:, 0]
        b = np.take_along_axis(sp, lastr[:, None], axis=1)[:, 0]
        out["sp_tend"] = np.where(ok(sp), b - a, np.nan)
    return out


def transport_features(values: np.ndarray, wind_u: np.ndarray, wind_v: np.ndarray,
                       units: Sequence[str], geometry: Geometry | None) -> np.ndarray:
    """Upwind-weighted neighbour concentration for each unit (µg/m³).

    Weight of neighbour n for unit u: ``max(0, cos θ)``, θ the angle between the wind vector at u
    (the direction the air moves to) and the bearing n → u, times the wind speed; neighbours
    across the provincial border count like any other.

    Parameters
    ----------
    values : ndarray ``(..., unit)``
        Neighbours' recent concentrations (e.g. last-24 h means).
    wind_u, wind_v : ndarray ``(..., unit)``
        Forecast wind at each unit (m s-1), same leading shape.
    units : sequence of str
    geometry : Geometry or None
        None → all NaN.

    Returns
    -------
    ndarray ``(..., unit)``, NaN where no neighbour is upwind.
    """
    out = np.full(np.broadcast(values, wind_u).shape, np.nan)
    if geometry is None:
        return out
    uix = {u: i for i, u in enumerate(units)}
    for i, u in enumerate(units):
        nbs = [n for n in geometry.neighbours.get(u, []) if n in uix and n in geometry.points]
        if not nbs or u not in geometry.points:
            continue
        num = 0.0
        den = 0.0
        for n in nbs:
            ex, ny = _en_km(geometry.points[n], geometry.points[u])
            d = math.hypot(ex, ny) or 1.0
            w = np.clip((wind_u[..., i] * ex + wind_v[..., i] * ny) / d, 0, None)
            x = values[..., uix[n]]
            ok = np.isfinite(x) & np.isfinite(w)
            num = num + np.where(ok, w * x, 0.0)
            den = den + np.where(ok, w, 0.0)
        with np.errstate(all="ignore"):
            out[..., i] = np.where(den > 0.05, num / np.where(den > 0, den, 1), np.nan)
    return out


# --------------------------------------------------------------------------------------------
# Design matrices
# --------------------------------------------------------------------------------------------

_HOURLY_MET = ["t2m", "d2m", "rh", "ws10", "u10", "v10", "tp", "sp", "blh", "ssrd", "tcc", "vent"]


@dataclass
class IssueFeatures:
    """Everything the models need for a batch of issues (arrays over ``(issue, …, unit)``).

    Attributes
    ----------
    issue_times : DatetimeIndex (UTC)
    units : list of str
    hist : dict name → ``(issue, unit)``
    metday : dict name → ``(issue, day 0…3, unit)`` daily met aggregates of local days D…D+3
    methour : dict name → ``(issue, lead, unit)`` hourly met at the valid times
    nleads : int
    """

    issue_times: pd.DatetimeIndex
    units: list[str]
    hist: dict[str, np.ndarray]
    metday: dict[str, np.ndarray]
    methour: dict[str, np.ndarray]
    nleads: int
    geometry: Geometry | None = None
    profile24: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, sel: Any) -> IssueFeatures:
        """The features of a subset of the issues (boolean mask, slice or positions)."""
        return IssueFeatures(self.issue_times[sel], self.units,
                             {k: v[sel] for k, v in self.hist.items()},
                             {k: v[sel] for k, v in self.metday.items()},
                             {k: v[sel] for k, v in self.methour.items()}, self.nleads,
                             self.geometry, {k: v[sel] for k, v in self.profile24.items()})


def build_issue_features(obs: Panel, issue_times: Iterable[pd.Timestamp], met_source: MetSource,
                         *, days: int = 3, geometry: Geometry | None = None,
                         daily: Mapping[str, pd.DataFrame] | None = None,
                         hourly_met: bool = True) -> IssueFeatures:
    """History and meteorology features for a batch of issues with the same issue hour.

    Observations at or after each issue time are never read; meteorology comes only from
    ``met_source.panel(issue_time, …)``.

    Parameters
    ----------
    obs : Panel
        Unit observations covering at least 4 days before the first issue.
    issue_times : iterable of Timestamp
        Tz-aware issue times, all at the same local hour.
    met_source : MetSource
    days : int
        Forecast to the end of local day D+``days``.
    geometry : Geometry, optional
        For transport features.
    daily : dict, optional
        :func:`daily_targets` of ``obs`` (speed).
    hourly_met : bool
        Also collect hourly met at every lead (for the hourly model).
    """
    its = pd.DatetimeIndex([pd.Timestamp(t).tz_convert("UTC") for t in issue_times])
    hours = {((t.hour + LOCAL_OFFSET_H) % 24) for t in its}
    if len(hours) > 1:
        raise ValueError(f"build_issue_features: one issue hour per batch, got {sorted(hours)}")
    nleads = horizon_hours(its[0], days)
    rows = np.array([obs.index(t) for t in its])
    hist = history_features(obs, rows, daily)
    metday: dict[str, list[np.ndarray]] = {}
    methour: dict[str, list[np.ndarray]] = {}
    units = obs.units
    for t in its:
        d0 = local_day_start(t)
        start = d0 - pd.Timedelta(days=1)
        end = d0 + pd.Timedelta(days=days + 1) - pd.Timedelta(hours=1)
        mp = met_source.panel(t, start, end, units)
        if mp.data and "ws10" not in mp.data:
            mp.data = _derive_met(mp.data)
        md = met_day_features(mp, mp.index(d0), days + 1)
        for k, v in md.items():
            metday.setdefault(k, []).append(v)
        if hourly_met:
            lr = mp.index(t) + np.arange(nleads)
            for v in _HOURLY_MET:
                if v in mp.data:
                    methour.setdefault(v, []).append(mp.get(v, lr))
    profile = {}
    for p in registry_targets():
        if p in obs.data:
            profile[p] = obs.get(p, rows[:, None] + np.arange(-24, 0)[None, :])
    n = len(its)
    md_arr = {k: np.stack(v) for k, v in metday.items() if len(v) == n}
    mh_arr = {k: np.stack(v) for k, v in methour.items() if len(v) == n}
    return IssueFeatures(its, list(units), hist, md_arr, mh_arr, nleads, geometry, profile)


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


def daily_design(f: IssueFeatures, pollutant: str, lead_day: int) -> pd.DataFrame:
    """Design matrix of the direct daily model for lead day ``lead_day`` (1…3).

    Rows are ``(issue, unit)`` in C order; columns: history features, met aggregates of the valid
    day (``v_*``) and the day before (``p_*``), upwind transport (``tr_<p>``), regional mean,
    calendar of the valid day, and ``unit`` (categorical).
    """
    n, u = len(f.issue_times), len(f.units)
    cols: dict[str, np.ndarray] = {}
    for k, v in f.hist.items():
        if _seen_by(k, pollutant):
            cols[k] = _flat(v)
    for k, v in f.metday.items():
        if k in EPISODE_MET_KEYS and pollutant not in EPISODE_MET_POLLUTANTS:
            continue
        cols[f"v_{k}"] = _flat(v[:, lead_day])
        cols[f"p_{k}"] = _flat(v[:, lead_day - 1])
    # accumulation since the issue: met over the days D+1 … D+lead_day
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, how in [("ws", "mean"), ("v10", "mean"), ("u10", "mean"), ("rh", "mean"),
                       ("rain", "sum"), ("stag_h", "sum"), ("vent", "mean"), ("blh", "mean"),
                       ("d2m", "mean")]:
            if k in f.metday:
                seg = f.metday[k][:, 1:lead_day + 1]
                agg = np.nanmean(seg, axis=1) if how == "mean" else np.nansum(seg, axis=1)
                cols[f"c_{k}"] = _flat(agg)
    reg = f.hist.get(f"{pollutant}_m24")
    if reg is not None:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rm = np.nanmean(reg, axis=1, keepdims=True)
        cols[f"reg_{pollutant}_m24"] = _flat(np.broadcast_to(rm, reg.shape))
        if "u10" in f.metday and "v10" in f.metday:
            tr = transport_features(reg, f.metday["u10"][:, lead_day], f.metday["v10"][:, lead_day],
                                    f.units, f.geometry)
            cols[f"tr_{pollutant}"] = _flat(tr)
    m6 = f.hist.get(f"{pollutant}_m6")
    if m6 is not None and "u10" not in f.metday and "mo_u10_m6" in f.hist:
        # no wind forecast: transport by the wind observed over the last 6 h (persistence),
        # the neighbours' last-6-h means and their regional mean and maximum (a cleaner or
        # dirtier air mass already at the upwind stations). With a wind forecast these cost
        # skill at D+1 (Beijing backtest, perfect met: PM2.5 RMSE 39.1 → 40.4), so they are
        # only built without one.
        tro = transport_features(m6, f.hist["mo_u10_m6"], f.hist["mo_v10_m6"], f.units,
                                 f.geometry)
        cols[f"tro_{pollutant}"] = _flat(tro)
        cols[f"tro_{pollutant}_d"] = _flat(tro - m6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cols[f"reg_{pollutant}_m6"] = _flat(np.broadcast_to(
                np.nanmean(m6, axis=1, keepdims=True), m6.shape))
            cols[f"reg_{pollutant}_max6"] = _flat(np.broadcast_to(
                np.nanmax(m6, axis=1, keepdims=True), m6.shape))
    vd = pd.DatetimeIndex([(t + pd.Timedelta(hours=LOCAL_OFFSET_H)).tz_localize(None).normalize()
                           + pd.Timedelta(days=lead_day) for t in f.issue_times])
    cal = calendar_features(vd)
    for c in ["weekday", "month", "doy_sin", "doy_cos", "holiday", "sf_days"]:
        cols[f"cal_{c}"] = np.repeat(cal[c].to_numpy(), u)
    cols["issue_hour"] = np.repeat(((f.issue_times.hour + LOCAL_OFFSET_H) % 24).to_numpy(), u)
    cols["lead_day"] = np.full(n * u, float(lead_day))
    df = pd.DataFrame(cols)
    df["unit"] = pd.Categorical(np.tile(f.units, n), categories=sorted(f.units))
    return df


def hourly_design(f: IssueFeatures, pollutant: str, leads: np.ndarray | None = None
                  ) -> pd.DataFrame:
    """Design matrix of the pooled hourly model (lead as a feature).

    Rows are ``(issue, lead, unit)`` in C order over the selected ``leads`` (1-based; default
    all). Columns: history features, ``lead``, ``lead_day`` (0 = today), valid-time calendar,
    hourly met at the valid time (``h_*``), the valid day's met aggregates (``v_*``), transport,
    ``unit`` (categorical).
    """
    n, u = len(f.issue_times), len(f.units)
    leads = np.arange(1, f.nleads + 1) if leads is None else np.asarray(leads)
    nl = len(leads)
    cols: dict[str, np.ndarray] = {}
    for k, v in f.hist.items():
        if _seen_by(k, pollutant):
            cols[k] = np.broadcast_to(v[:, None, :], (n, nl, u)).reshape(-1)
    t0 = f.issue_times
    h0 = (t0.hour[0] + LOCAL_OFFSET_H) % 24
    lead_day = (h0 + leads - 1) // 24  # 0 = today
    cols["lead"] = np.broadcast_to(leads[None, :, None], (n, nl, u)).reshape(-1).astype(float)
    cols["lead_day"] = np.broadcast_to(lead_day[None, :, None], (n, nl, u)).reshape(-1) \
        .astype(float)
    valid_local = (t0.tz_localize(None) + pd.Timedelta(hours=LOCAL_OFFSET_H)).to_numpy()[:, None] \
        + (leads - 1)[None, :] * np.timedelta64(1, "h")
    cal = calendar_features(pd.DatetimeIndex(valid_local.reshape(-1)))
    for c in ["hour", "weekday", "month", "doy_sin", "doy_cos", "holiday"]:
        cols[f"cal_{c}"] = np.repeat(cal[c].to_numpy(), u)
    for k, v in f.methour.items():
        cols[f"h_{k}"] = v[:, leads - 1, :].reshape(-1)
    for k in ["t2m", "rh", "ws", "rain", "blh_min", "vent", "stag_h", "ssrd", "sp", "dsp",
              "night_ws"]:
        if k in f.metday:
            cols[f"v_{k}"] = f.metday[k][:, lead_day, :].reshape(-1)
    reg = f.hist.get(f"{pollutant}_m24")
    if reg is not None and "u10" in f.metday:
        tr = np.stack([transport_features(reg, f.metday["u10"][:, d], f.metday["v10"][:, d],
                                          f.units, f.geometry) for d in range(4)], axis=1)
        cols[f"tr_{pollutant}"] = tr[:, lead_day, :].reshape(-1)
    # same hour on the last observed day, for the valid hour of each lead
    for p, prof in f.profile24.items():
        if _seen_by(f"{p}_shl", pollutant):
            cols[f"{p}_shl"] = prof[:, (leads - 1) % 24, :].reshape(-1)
    df = pd.DataFrame(cols)
    df["unit"] = pd.Categorical(np.tile(f.units, n * nl), categories=sorted(f.units))
    return df
