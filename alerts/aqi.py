"""AQI engine for HJ 633-2012 and HJ 633-2026 (domain-spec §1).

Two rule sets keyed by date (T1.1): ``HJ633_2012`` for data dated up to 2026-02-28 and
``HJ633_2026`` from 2026-03-01. Every domain number (breakpoints, levels, colours, pre-rounding,
behaviour above the top breakpoint) lives in ``configs/aqi/<ruleset>.yaml``; this module only
holds the arithmetic.

Units: SO2, NO2, O3, PM10, PM2.5 in µg/m³; CO in mg/m³; IAQI and AQI dimensionless integers.

Arithmetic (T1.4): IAQI = (IAQI_Hi − IAQI_Lo)/(BP_Hi − BP_Lo)·(C − BP_Lo) + IAQI_Lo, evaluated
exactly (rationals; a float concentration is taken as the shortest decimal that prints it), then
rounded **up** (ceil). Under 2026 concentrations are first pre-rounded (integers; CO 1 decimal) with
the method set in the YAML (``half_even``: GB/T 8170 reading, unverified). Above the top breakpoint
of a full column the IAQI is capped at 500 and a warning is logged (U).

Public functions: :func:`iaqi`, :func:`iaqi_array`, :func:`ruleset_for`, :func:`rulesets_for`,
:func:`aqi_level`, :func:`level_info`, :func:`primary_pollutants`, :func:`exceeding_pollutants`,
:func:`sensitive_groups`, :func:`compute`, :func:`compute_by_date`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from airwarn.configs.aqi_schema import AqiLevel, AqiRuleset, load_aqi_ruleset

from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "RULESETS",
    "PRODUCTS",
    "LOCAL_TZ",
    "iaqi",
    "iaqi_array",
    "ruleset_for",
    "rulesets_for",
    "aqi_level",
    "level_info",
    "primary_pollutants",
    "exceeding_pollutants",
    "sensitive_groups",
    "compute",
    "compute_by_date",
    "reset_cap_log",
]

log = logging.getLogger(__name__)

#: (pollutant column, top breakpoint) whose cap has been logged at WARNING since the last
#: :func:`reset_cap_log`; later caps of that column go to DEBUG (a year's hindcast computes the
#: AQI thousands of times and would repeat the same line on every heavy day)
_CAPS_LOGGED: set[tuple[str, float]] = set()


def reset_cap_log() -> None:
    """Log the next cap of every column at WARNING again (called at the start of each run)."""
    _CAPS_LOGGED.clear()


def _log_cap(key: str, top: float, cap: int, what: str) -> None:
    first = (key, top) not in _CAPS_LOGGED
    _CAPS_LOGGED.add((key, top))
    log.log(logging.WARNING if first else logging.DEBUG,
            "%s above the top breakpoint %s: IAQI capped at %d%s", what, top, cap,
            " (further caps of this column are logged at DEBUG until the next run)"
            if first else "")

Ruleset = Literal["HJ633_2012", "HJ633_2026"]
Period = Literal["1h", "8h", "24h"]
Product = Literal["daily", "hourly", "forecast_daily", "forecast_hourly"]

#: Rule-set ids (T1.1).
RULESETS: tuple[str, ...] = ("HJ633_2012", "HJ633_2026")
#: Report products (domain-spec §6 rule 1).
PRODUCTS: tuple[str, ...] = ("daily", "hourly", "forecast_daily", "forecast_hourly")
#: Days, bulletins and rule-set dates are Asia/Shanghai (DESIGN.md, Time).

#: Display labels of pollutants in the ``primary`` column (T1.7 label convention, U).
_LABELS = {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"}
_PM = ("pm25", "pm10")

# Scale of the exact integer path of iaqi_array: concentrations with at most 6 decimals are exact
# integers after multiplying by 10**6; others go through the rational (scalar) path.
_SCALE_DIGITS = 6
_SCALE = 10**_SCALE_DIGITS
_INT_PATH_MAX = 1e9  # |C| below which C·10**6 fits comfortably in int64
# Float results closer than this to an integer (or a rounding tie) are re-done exactly; float
# error of the IAQI formula is ~1e-13, and the exact value of a decimal input differs from its
# float by less than that, so anything farther away is rounded correctly.
_FLOAT_MARGIN = 1e-7


# --------------------------------------------------------------------------------------------
# Breakpoint columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One breakpoint column of a rule set, ready for exact and vectorised evaluation."""

    key: str
    pollutant: str
    bps: tuple[Fraction, ...]  # defined breakpoints (µg/m³; CO mg/m³)
    grid: tuple[int, ...]  # IAQI values aligned with bps
    mode: str  # "cap" | "not_computed" | "fixed"
    fixed_iaqi: int | None
    fallback: str | None
    cap: int
    bps_scaled: np.ndarray  # int64, bps × 10**6
    grid_arr: np.ndarray  # int64


def _fraction(x: Any) -> Fraction:
    """Exact rational value of a number; floats are read as their shortest decimal repr."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, bool):
        raise TypeError("a boolean is not a concentration")
    if isinstance(x, int | np.integer):
        return Fraction(int(x))
    if isinstance(x, Decimal):
        return Fraction(x)
    return Fraction(Decimal(repr(float(x))))


@lru_cache(maxsize=64)
def _column(ruleset: str, key: str) -> _Column:
    rs = load_aqi_ruleset(ruleset)
    if key not in rs.breakpoints:
        raise ValueError(f"{ruleset} has no breakpoint column {key!r}")
    raw = rs.breakpoints[key]
    n = sum(b is not None for b in raw)
    bps = tuple(_fraction(b) for b in raw[:n])
    rule = rs.above_top.get(key)
    scaled = [b * _SCALE for b in bps]
    if any(s.denominator != 1 for s in scaled):
        raise ValueError(f"{ruleset} {key}: breakpoints with more than 6 decimals")
    return _Column(
        key=key,
        pollutant=key.split("_")[0],
        bps=bps,
        grid=tuple(rs.iaqi_grid[:n]),
        mode="cap" if rule is None else rule.mode,
        fixed_iaqi=None if rule is None else rule.iaqi,
        fallback=None if rule is None else rule.fallback,
        cap=rs.cap_iaqi,
        bps_scaled=np.array([int(s) for s in scaled], dtype=np.int64),
        grid_arr=np.array(rs.iaqi_grid[:n], dtype=np.int64),
    )


def _check_ruleset(ruleset: str) -> AqiRuleset:
    if ruleset not in RULESETS:
        raise ValueError(f"unknown rule set {ruleset!r}; expected one of {RULESETS}")
    return load_aqi_ruleset(ruleset)


def _column_key(pollutant: str, period: str, ruleset: str) -> str:
    """Breakpoint column for a pollutant and averaging period (PM 1 h → 24 h columns)."""
    rs = _check_ruleset(ruleset)
    if pollutant not in _LABELS:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {tuple(_LABELS)}")
    if period not in ("1h", "8h", "24h"):
        raise ValueError(f"unknown period {period!r}; expected '1h', '8h' or '24h'")
    if pollutant in _PM and period == "1h" and rs.pm_1h_uses_24h:
        period = "24h"
    key = f"{pollutant}_{period}"
    if key not in rs.breakpoints:
        raise ValueError(f"{ruleset} defines no IAQI for {pollutant} {period} means")
    return key


# --------------------------------------------------------------------------------------------
# Scalar engine
# --------------------------------------------------------------------------------------------


def _preround(c: Fraction, pollutant: str, rs: AqiRuleset) -> Fraction:
    """Pre-round a concentration per the rule set (2026: integers, CO 1 decimal)."""
    rnd = rs.concentration_rounding
    if rnd is None:
        return c
    unit = 10 ** rnd.decimals_for(pollutant)
    x = c * unit
    if rnd.method == "half_even":
        q = round(x)  # Fraction.__round__ rounds half to even
    else:
        q = math.floor(x + Fraction(1, 2))
    return Fraction(q, unit)


def _iaqi_exact(col: _Column, c: Fraction) -> int | None:
    """IAQI of a non-negative (already pre-rounded) concentration; None = not computed."""
    if c > col.bps[-1]:
        if col.mode == "fixed":
            return col.fixed_iaqi
        if col.mode == "not_computed":
            return None
        _log_cap(col.key, float(col.bps[-1]), col.cap, f"{col.key} = {float(c)}")
        return col.cap
    i = next(k for k in range(len(col.bps) - 1) if c <= col.bps[k + 1])
    bl, bh, il, ih = col.bps[i], col.bps[i + 1], col.grid[i], col.grid[i + 1]
    return math.ceil(Fraction(ih - il) / (bh - bl) * (c - bl) + il)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def iaqi(pollutant: str, value: Any, period: Period, ruleset: Ruleset) -> int | None:
    """Individual air-quality index of one concentration, exact arithmetic then ceil.

    Parameters
    ----------
    pollutant : {"so2", "no2", "co", "o3", "pm10", "pm25"}
    value : number
        Concentration in µg/m³ (CO in mg/m³). int, float, Decimal or Fraction; a float is read
        as its shortest decimal representation (``35.0`` is exactly 35).
    period : {"1h", "8h", "24h"}
        Averaging period. PM10/PM2.5 1-h values use the 24-h breakpoints; O3 ``8h`` is the 8-h
        (moving) mean, also for the daily maximum 8-h mean.
    ruleset : {"HJ633_2012", "HJ633_2026"}

    Returns
    -------
    int or None
        IAQI 0…500. ``None`` when the value is missing (None/NaN), negative (logged), or not
        computed: HJ 633-2012 SO2 1 h > 800 µg/m³ and O3 8 h > 800 µg/m³ (report the 24-h SO2 /
        1-h O3 IAQI instead). HJ 633-2026 gives 200 / 300 for those. Above the top breakpoint of a
        full column the IAQI is 500 (logged).

    Examples
    --------
    >>> iaqi("pm25", 75, "24h", "HJ633_2026")
    114
    """
    key = _column_key(pollutant, period, ruleset)
    if _is_missing(value):
        return None
    c = _fraction(value)
    if c < 0:
        log.warning("negative %s concentration %s treated as missing", pollutant, value)
        return None
    c = _preround(c, pollutant, load_aqi_ruleset(ruleset))
    return _iaqi_exact(_column(ruleset, key), c)


# --------------------------------------------------------------------------------------------
# Vectorised engine
# --------------------------------------------------------------------------------------------


def _round_scaled(ints: np.ndarray, decimals: int, method: str) -> np.ndarray:
    """Round integers in units of 10**-6 to ``decimals`` decimals, exactly."""
    unit = 10 ** (_SCALE_DIGITS - decimals)
    q, r = np.divmod(ints, unit)
    if method == "half_even":
        up = (2 * r > unit) | ((2 * r == unit) & (q % 2 == 1))
    else:
        up = 2 * r >= unit
    return (q + up.astype(np.int64)) * unit


def _above_top(col: _Column, n_above: int) -> float:
    """IAQI for concentrations above the last breakpoint (NaN = not computed); logs caps."""
    if col.mode == "fixed":
        return float(col.fixed_iaqi)  # type: ignore[arg-type]
    if col.mode == "not_computed":
        return np.nan
    _log_cap(col.key, float(col.bps[-1]), col.cap, f"{n_above} {col.key} value(s)")
    return float(col.cap)


def _iaqi_ints(col: _Column, ints: np.ndarray) -> np.ndarray:
    """Exact IAQI of concentrations given as integers in units of 10**-6 (ceil)."""
    b, g = col.bps_scaled, col.grid_arr
    above = ints > b[-1]
    idx = np.clip(np.searchsorted(b, ints, side="left") - 1, 0, len(b) - 2)
    bl, bh, il, ih = b[idx], b[idx + 1], g[idx], g[idx + 1]
    num = il * (bh - bl) + (ih - il) * (ints - bl)
    res = (-((-num) // (bh - bl))).astype(float)
    if above.any():
        res[above] = _above_top(col, int(above.sum()))
    return res


def _iaqi_floats(col: _Column, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float IAQI and a mask of results too close to an integer to trust the ceil."""
    b = np.array([float(x) for x in col.bps])
    g = np.asarray(col.grid, dtype=float)
    above = c > b[-1]
    idx = np.clip(np.searchsorted(b, c, side="left") - 1, 0, len(b) - 2)
    x = g[idx] + (g[idx + 1] - g[idx]) * (c - b[idx]) / (b[idx + 1] - b[idx])
    doubtful = (np.abs(x - np.rint(x)) < _FLOAT_MARGIN) & ~above
    res = np.ceil(x)
    if above.any():
        res[above] = _above_top(col, int(above.sum()))
    return res, doubtful


def _iaqi_vec(ruleset: str, key: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IAQI of a float array; returns (iaqi float array with NaN, mask of 'not computed').

    Three exact-by-construction paths: values with ≤ 6 decimals (and, under 2026, every value
    once pre-rounded) go through integer arithmetic on C·10**6; other values use floats where the
    result is clearly away from an integer (or a rounding tie); the doubtful rest goes through
    the rational scalar engine. The result equals :func:`iaqi` element by element.
    """
    col = _column(ruleset, key)
    rs = load_aqi_ruleset(ruleset)
    arr = np.asarray(values, dtype=float)
    out = np.full(arr.shape, np.nan)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(arr) & (arr >= 0)
        neg = np.isfinite(arr) & (arr < 0)
    if neg.any():
        log.warning("%d negative %s value(s) treated as missing", int(neg.sum()), key)
    small = valid & (arr < _INT_PATH_MAX)
    scaled = np.where(small, np.rint(np.where(small, arr, 0) * _SCALE), 0.0)
    exact = small & (scaled / _SCALE == arr)
    ints = np.zeros(arr.shape, dtype=np.int64)
    ints[exact] = scaled[exact].astype(np.int64)
    slow = valid & ~small
    rest = small & ~exact

    rnd = rs.concentration_rounding
    if rnd is not None:
        dec = rnd.decimals_for(col.pollutant)
        ints[exact] = _round_scaled(ints[exact], dec, rnd.method)
        y = arr[rest] * 10**dec
        frac = y - np.floor(y)
        tie = np.abs(frac - 0.5) < _FLOAT_MARGIN
        rounded = (np.floor(y) + (frac > 0.5)).astype(np.int64) * 10 ** (_SCALE_DIGITS - dec)
        pos = np.flatnonzero(rest)
        ints.flat[pos[~tie]] = rounded[~tie]
        exact.flat[pos[~tie]] = True
        slow.flat[pos[tie]] = True
        rest[:] = False

    out[exact] = _iaqi_ints(col, ints[exact])
    if rest.any():
        res, doubtful = _iaqi_floats(col, arr[rest])
        pos = np.flatnonzero(rest)
        out.flat[pos[~doubtful]] = res[~doubtful]
        slow.flat[pos[doubtful]] = True
    for p in np.flatnonzero(slow):
        v = _iaqi_exact(col, _preround(_fraction(arr.flat[p]), col.pollutant, rs))
        out.flat[p] = np.nan if v is None else v
    not_computed = valid & np.isnan(out)
    return out, not_computed


def iaqi_array(pollutant: str, values: Any, period: Period, ruleset: Ruleset) -> Any:
    """Vectorised :func:`iaqi` over numpy, pandas or xarray data.

    Parameters
    ----------
    pollutant : {"so2", "no2", "co", "o3", "pm10", "pm25"}
    values : array-like, pandas.Series or xarray.DataArray
        Concentrations in µg/m³ (CO in mg/m³); NaN = missing.
    period : {"1h", "8h", "24h"}
    ruleset : {"HJ633_2012", "HJ633_2026"}

    Returns
    -------
    numpy.ndarray, pandas.Series or xarray.DataArray
        Float IAQI of the same shape (and index / coordinates), NaN where the input is missing,
        negative, or the IAQI is not computed (2012 SO2 1 h / O3 8 h > 800 µg/m³). Exact: equal to
        :func:`iaqi` element by element (PM2.5 = 35 gives 50, never 51).
    """
    key = _column_key(pollutant, period, ruleset)
    if isinstance(values, pd.Series):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        return pd.Series(_iaqi_vec(ruleset, key, arr)[0], index=values.index, name=values.name)
    if hasattr(values, "dims") and hasattr(values, "copy"):  # xarray.DataArray
        out = _iaqi_vec(ruleset, key, np.asarray(values.values, dtype=float))[0]
        res = values.copy(data=out)
        res.attrs = {**values.attrs, "units": "1", "long_name": f"IAQI {key} ({ruleset})"}
        return res
    return _iaqi_vec(ruleset, key, np.asarray(values, dtype=float))[0]


# --------------------------------------------------------------------------------------------
# Rule-set selection, levels, primary pollutants
# --------------------------------------------------------------------------------------------


def _local_date(date: Any) -> dt.date:
    ts = pd.Timestamp(date)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(LOCAL_TZ)
    return ts.date()


def _switch_date() -> dt.date:
    start = load_aqi_ruleset("HJ633_2026").valid_from
    assert start is not None
    return start


def ruleset_for(date: Any) -> Ruleset:
    """Rule set for data of a given day (T1.1): ≤ 2026-02-28 → HJ633_2012, else HJ633_2026.

    Parameters
    ----------
    date : date, datetime, str or pandas.Timestamp
        A naive value is taken as an Asia/Shanghai date; a tz-aware one is converted to
        Asia/Shanghai first (2026-02-28T16:00Z is 2026-03-01 local → HJ633_2026).
    """
    return "HJ633_2026" if _local_date(date) >= _switch_date() else "HJ633_2012"


def rulesets_for(dates: Any) -> np.ndarray:
    """Vectorised :func:`ruleset_for`: an object array of rule-set ids, one per date."""
    idx = pd.DatetimeIndex(pd.to_datetime(dates))
    if idx.tz is not None:
        idx = idx.tz_convert(LOCAL_TZ).tz_localize(None)
    new = idx.normalize() >= pd.Timestamp(_switch_date())
    return np.where(new, "HJ633_2026", "HJ633_2012").astype(object)


def aqi_level(aqi: float, ruleset: Ruleset = "HJ633_2026") -> int:
    """AQI level 1…6 (T1.5): ≤50 → 1, 51–100 → 2, …, >300 → 6.

    Parameters
    ----------
    aqi : number
        AQI, 0…500 (an integer after ceil).
    ruleset : str
        Rule set whose level table is used (same bounds in both editions).
    """
    if _is_missing(aqi) or not 0 <= float(aqi) <= 500:
        raise ValueError(f"AQI must be a number in 0…500, got {aqi!r}")
    th = load_aqi_ruleset(ruleset).level_thresholds()
    return int(np.searchsorted(np.asarray(th, dtype=float), float(aqi), side="left")) + 1


def level_info(level: int, ruleset: Ruleset = "HJ633_2026") -> AqiLevel:
    """Level table row (T1.5): 级别, AQI range, category zh/en, colour (hex, RGB), health texts.

    Returns
    -------
    AqiLevel
        Fields ``level grade_zh aqi_min aqi_max category_zh category_en colour_zh colour_en rgb
        hex cmyk health_effect_zh health_effect_en advice_zh advice_en``.
    """
    for lv in _check_ruleset(ruleset).levels:
        if lv.level == level:
            return lv
    raise ValueError(f"AQI level must be 1…6, got {level!r}")


def _present(iaqis: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in iaqis.items() if not _is_missing(v)}


def primary_pollutants(iaqis: Mapping[str, Any], threshold: float = 50) -> list[str]:
    """首要污染物 (T1.7): the key(s) with the largest IAQI when AQI > 50; ties all listed.

    Parameters
    ----------
    iaqis : mapping
        Label (e.g. ``"PM2.5"``, ``"O3_8h"``) → IAQI; None/NaN entries are ignored.
    threshold : float
        No primary pollutant when the AQI is ≤ this (50, by definition of 优).

    Returns
    -------
    list of str
        In the mapping's order; empty when AQI ≤ 50 or nothing is present.
    """
    vals = _present(iaqis)
    if not vals:
        return []
    top = max(vals.values())
    return [k for k, v in vals.items() if v == top] if top > threshold else []


def exceeding_pollutants(iaqis: Mapping[str, Any], ruleset: Ruleset = "HJ633_2012") -> list[str]:
    """超标污染物 (HJ 633-2012 §3.4): keys with IAQI > 100. Deleted in HJ 633-2026 (ValueError)."""
    threshold = _check_ruleset(ruleset).exceeding_threshold
    if threshold is None:
        raise ValueError(f"{ruleset} has no 超标污染物 (deleted in HJ 633-2026)")
    return [k for k, v in _present(iaqis).items() if v > threshold]


def sensitive_groups(iaqis: Mapping[str, Any], ruleset: Ruleset = "HJ633_2026",
                     lang: Literal["zh", "en"] = "zh") -> dict[str, str]:
    """Sensitive groups (HJ 633-2026 表2) for each pollutant whose IAQI > 100.

    Parameters
    ----------
    iaqis : mapping
        Pollutant code (``so2 no2 co o3 pm10 pm25``) → IAQI.
    ruleset, lang : str
        2012 has no such table (empty result).
    """
    groups = _check_ruleset(ruleset).sensitive_groups
    return {p: getattr(groups[p], lang) for p, v in _present(iaqis).items()
            if v > 100 and p in groups}


# --------------------------------------------------------------------------------------------
# Table computation (products)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Indicator:
    key: str  # indicator key from the YAML, e.g. "o3_8h_max"
    column: str  # input column
    bp_key: str  # breakpoint column
    out: str  # output column iaqi_*
    label: str  # label in `primary`


def _indicators(rs: AqiRuleset, kind: str, columns: pd.Index) -> list[_Indicator]:
    keys = list(rs.products[kind])
    keys += [k for k in rs.products.get("hourly_optional", []) if kind == "hourly" and k in columns]
    seen: set[str] = set()
    out: list[_Indicator] = []
    for key in keys:
        p, period = key.split("_")[:2]
        native = (kind == "daily" and key == f"{p}_24h") or (kind == "hourly" and key == f"{p}_1h")
        column = p if native else key
        bp_key = _column_key(p, period, rs.ruleset_id)
        short = key.removesuffix("_max")
        name = f"iaqi_{p}" if p not in seen else f"iaqi_{short}"
        if p == "o3":
            label = "O3_8h" if period == "8h" else ("O3" if kind == "hourly" else "O3_1h")
        else:
            label = _LABELS[p] + ("" if native else f"_{period}")
        seen.add(p)
        out.append(_Indicator(key, column, bp_key, name, label))
    return out


def _join_labels(masks: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """Comma-joined labels where each mask is True; NaN-free object array ('' when none)."""
    n = len(masks[0]) if masks else 0
    acc = np.full(n, "", dtype=object)
    for m, lab in zip(masks, labels, strict=True):
        sep = np.where(acc == "", "", ",")
        acc = np.where(m, acc + sep + lab, acc)
    return acc


def compute(ruleset: Ruleset, product: Product, table: pd.DataFrame,
            *, publication_gate: bool | None = None) -> pd.DataFrame:
    """IAQI, AQI, level, category and primary pollutant for every row of a table.

    Parameters
    ----------
    ruleset : {"HJ633_2012", "HJ633_2026"}
    product : {"daily", "hourly", "forecast_daily", "forecast_hourly"}
        Daily products use 24-h means ``pm25 pm10 so2 no2 co`` plus ``o3_8h_max`` (daily max 8-h
        O3) and, under 2012, ``o3_1h_max`` (daily max 1-h O3). Hourly products use the 1-h means
        ``pm25 pm10 so2 no2 co o3``; under 2012 the optional columns ``pm25_24h pm10_24h o3_8h``
        (moving means) are used when present, and ``so2_24h`` replaces SO2 1 h > 800 µg/m³.
        Units µg/m³, CO mg/m³. Observation products (daily, hourly) need every column;
        forecast products use the columns present (forecasts carry PM2.5 and O3 only).
    table : pandas.DataFrame
        Concentration columns as above; other columns are passed through.
    publication_gate : bool, optional
        HJ 633-2026 §5.3 (T1.9): when a pollutant is missing the AQI comes from the others and is
        published only if > 100, else AQI/level/category/primary are NA. Default: on for 2026
        observation products, off otherwise.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``iaqi_<pollutant>`` (Int64; 2012 daily adds ``iaqi_o3_1h``),
        ``aqi`` (Int64), ``level`` (Int64, 1…6), ``category`` (类别, zh), ``category_en``,
        ``colour`` (hex), ``primary`` (e.g. ``"PM2.5"``, ``"O3_8h"``, ``"PM2.5,PM10"``; NA when
        AQI ≤ 50), ``published`` (bool), ``ruleset``; under 2012 also ``exceeding`` (超标污染物,
        IAQI > 100).
    """
    rs = _check_ruleset(ruleset)
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}; expected one of {PRODUCTS}")
    kind = "daily" if product.endswith("daily") else "hourly"
    forecast = product.startswith("forecast")
    inds = _indicators(rs, kind, table.columns)
    missing_cols = [i.column for i in inds if i.column not in table.columns]
    if missing_cols and not forecast:
        raise ValueError(f"{product} AQI under {ruleset} needs column(s) {missing_cols}")
    inds = [i for i in inds if i.column in table.columns]
    if not inds:
        raise ValueError(f"{product} AQI: none of the concentration columns are present")

    out = table.copy()
    n = len(out)
    iaqis: list[np.ndarray] = []
    missing = np.zeros(n, dtype=bool)
    for ind in inds:
        try:
            conc = pd.to_numeric(out[ind.column]).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {ind.column!r} is not numeric: {exc}") from None
        vals, nc = _iaqi_vec(ruleset, ind.bp_key, conc)
        fb = _column(ruleset, ind.bp_key).fallback
        if nc.any() and fb is not None and fb in out.columns and fb not in {i.key for i in inds}:
            fb_conc = pd.to_numeric(out[fb]).to_numpy(dtype=float, na_value=np.nan)
            fb_vals = _iaqi_vec(ruleset, fb, fb_conc)[0]
            vals = np.where(nc, fb_vals, vals)
        missing |= np.isnan(vals) & ~nc  # missing or invalid (negative) concentration
        iaqis.append(vals)
        out[ind.out] = pd.array(vals, dtype="Float64").astype("Int64")

    mat = np.column_stack(iaqis)
    have = ~np.isnan(mat).all(axis=1)
    aqi = np.full(n, np.nan)
    if have.any():
        aqi[have] = np.nanmax(mat[have], axis=1)
    if rs.clamp_zero_to_min:
        aqi = np.where(aqi < rs.min_aqi, rs.min_aqi, aqi)
    gate = (ruleset == "HJ633_2026" and not forecast) if publication_gate is None else publication_gate
    published = have & (~missing | (aqi > 100)) if gate else have
    aqi = np.where(published, aqi, np.nan)

    th = np.asarray(rs.level_thresholds(), dtype=float)
    level = np.where(published, np.searchsorted(th, np.nan_to_num(aqi), side="left") + 1, 0)
    levels = {lv.level: lv for lv in rs.levels}
    out["aqi"] = pd.array(aqi, dtype="Float64").astype("Int64")
    out["level"] = pd.array(np.where(published, level, np.nan), dtype="Float64").astype("Int64")
    for col, attr in (("category", "category_zh"), ("category_en", "category_en"), ("colour", "hex")):
        mapping = np.array([None] + [getattr(levels[k], attr) for k in sorted(levels)], dtype=object)
        out[col] = pd.array(mapping[level], dtype="string")

    labels = [i.label for i in inds]
    with np.errstate(invalid="ignore"):
        prim = _join_labels([(mat[:, k] == aqi) & (aqi > 50) for k in range(len(inds))], labels)
    out["primary"] = pd.array(np.where(prim == "", None, prim), dtype="string")
    if rs.exceeding_threshold is not None:
        with np.errstate(invalid="ignore"):
            exc_ = _join_labels([mat[:, k] > rs.exceeding_threshold for k in range(len(inds))],
                                labels)
        out["exceeding"] = pd.array(np.where(exc_ == "", None, exc_), dtype="string")
    out["published"] = published
    out["ruleset"] = ruleset
    return out


def compute_by_date(product: Product, table: pd.DataFrame, dates: Any,
                    **kwargs: Any) -> pd.DataFrame:
    """:func:`compute` with the rule set chosen per row by its date (:func:`rulesets_for`).

    Parameters
    ----------
    product : str
        As in :func:`compute`.
    table : pandas.DataFrame
        Concentrations (µg/m³, CO mg/m³).
    dates : array-like
        One date or timestamp per row (tz-aware → converted to Asia/Shanghai).

    Returns
    -------
    pandas.DataFrame
        Rows in the input order; columns of both rule sets (2012-only columns NA for 2026 rows).
    """
    which = rulesets_for(dates)
    parts = []
    pos = np.arange(len(table))
    for rs_id in RULESETS:
        mask = which == rs_id
        if mask.any():
            part = compute(rs_id, product, table.iloc[mask], **kwargs)  # type: ignore[arg-type]
            parts.append(part.set_axis(pos[mask]))
    if not parts:
        return compute("HJ633_2026", product, table, **kwargs)
    res = pd.concat(parts).sort_index()
    res.index = table.index
    return res
