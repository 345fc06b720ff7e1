"""Quality control of canonical station observations: flags as bits on the ``qc`` column.

Values are never changed here: a defect sets a bit, and the aggregation step
(:func:`features.aggregate.stations_to_units`) leaves flagged values out.

Bit layout
----------
The canonical table has one ``qc`` integer per station-hour, but defects are per variable. ``qc``
therefore holds one byte per variable, in the order of :data:`features.store.POLLUTANTS`::

    qc = Σ_v  checks_v << (8 · index_v)      pm25 bits 0–7, pm10 8–15, o3 16–23,
                                              no2 24–31, so2 32–39, co 40–47

and each byte is an OR of the check bits:

=================  =====  =======================================================================
constant           value  meaning
=================  =====  =======================================================================
``QC_RANGE``       1      outside the plausible range (``configs/qc.yaml`` ``range``)
``QC_NEGATIVE``    2      negative concentration
``QC_STUCK``       4      the same value for ≥ ``stuck.hours`` consecutive hours
``QC_SPIKE``       8      far from the station's own recent behaviour and its unit neighbours
``QC_PM_RATIO``    16     PM2.5 > PM10 beyond tolerance (set on both pm25 and pm10, unless one
                          of them already failed another check)
``QC_UNIT``        32     suspected unit error (CO reported in µg/m³ instead of mg/m³: the
                          station's centred 24-h median CO above ``co_unit.median_above``)
``QC_DUPLICATE``   64     conflicting duplicate records in the source; the value kept is the last
                          valid one (set by the readers; informational)
``QC_GAP_FILLED``  128    value interpolated across a short gap (:func:`fill_gaps`; informational)
=================  =====  =======================================================================

``qc == 0`` means clean. A value is *valid* for aggregation when it is not NaN and its byte has no
bit of :data:`QC_REJECT` (everything except duplicate and gap-filled).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.configs.schema import StrictModel, load_yaml_model
from airwarn.features.store import POLLUTANTS, validate_obs
from pydantic import Field, model_validator

__all__ = [
    "QC_RANGE", "QC_NEGATIVE", "QC_STUCK", "QC_SPIKE", "QC_PM_RATIO", "QC_UNIT", "QC_DUPLICATE",
    "QC_GAP_FILLED", "QC_REJECT", "QC_COMPUTED", "CHECK_NAMES", "VAR_SHIFT",
    "QCConfig", "load_qc_config", "var_bits", "var_flags", "valid_mask", "describe_qc",
    "run_qc", "qc_report", "fill_gaps",
]

QC_RANGE = 1
QC_NEGATIVE = 2
QC_STUCK = 4
QC_SPIKE = 8
QC_PM_RATIO = 16
QC_UNIT = 32
QC_DUPLICATE = 64
QC_GAP_FILLED = 128
#: Checks that make a value invalid for aggregation.
QC_REJECT = QC_RANGE | QC_NEGATIVE | QC_STUCK | QC_SPIKE | QC_PM_RATIO | QC_UNIT
#: Checks computed (and recomputed) by :func:`run_qc`; the others come from readers / gap filling.
QC_COMPUTED = QC_REJECT
CHECK_NAMES: dict[int, str] = {
    QC_RANGE: "range", QC_NEGATIVE: "negative", QC_STUCK: "stuck", QC_SPIKE: "spike",
    QC_PM_RATIO: "pm_ratio", QC_UNIT: "unit", QC_DUPLICATE: "duplicate",
    QC_GAP_FILLED: "gap_filled",
}
#: Bit offset of each variable's byte in ``qc``.
VAR_SHIFT: dict[str, int] = {v: 8 * i for i, v in enumerate(POLLUTANTS)}
_ALL_VARS_MASK = sum(0xFF << s for s in VAR_SHIFT.values())


# ------------------------------------------------------------------------------------ config
class _Range(StrictModel):
    min: float
    max: float

    @model_validator(mode="after")
    def _order(self) -> _Range:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class _PerVar(StrictModel):
    pm25: float = Field(ge=0)
    pm10: float = Field(ge=0)
    o3: float = Field(ge=0)
    no2: float = Field(ge=0)
    so2: float = Field(ge=0)
    co: float = Field(ge=0)


class _Ranges(StrictModel):
    pm25: _Range
    pm10: _Range
    o3: _Range
    no2: _Range
    so2: _Range
    co: _Range


class _Stuck(StrictModel):
    hours: int = Field(ge=2, description="consecutive identical hours that count as stuck")
    min_value: _PerVar
    repeat_false_rate: float = Field(gt=0, lt=1, description="accepted chance of a natural run")


class _Spike(StrictModel):
    window: int = Field(ge=5, description="centred rolling window, hours")
    z: float = Field(gt=0, description="robust z-score threshold")
    min_abs: _PerVar
    neighbour_ratio: float = Field(gt=1)


class _PmRatio(StrictModel):
    ratio: float = Field(gt=0)
    abs: float = Field(ge=0, description="µg/m³")


class _CoUnit(StrictModel):
    median_above: float = Field(gt=0, description="mg/m³, centred 24-h median")


class QCConfig(StrictModel):
    """Thresholds of ``configs/qc.yaml`` (µg/m³, CO mg/m³, hours)."""

    range: _Ranges
    stuck: _Stuck
    spike: _Spike
    pm_ratio: _PmRatio
    co_unit: _CoUnit


def load_qc_config(path: Path | str | None = None) -> QCConfig:
    """Load and validate ``configs/qc.yaml`` (raises ``configs.ConfigError`` naming file and key)."""
    if path is None:
        from airwarn.configs import config_dir

        path = config_dir() / "qc.yaml"
    return load_yaml_model(path, QCConfig)


# ------------------------------------------------------------------------------------ bits
def var_bits(var: str, checks: int) -> int:
    """The ``qc`` bits that mean ``checks`` on variable ``var`` (e.g. ``var_bits("o3", QC_SPIKE)``)."""
    return int(checks) << VAR_SHIFT[var]


def var_flags(qc: pd.Series | np.ndarray, var: str) -> np.ndarray:
    """The check byte of ``var`` for each row (an int array of :data:`CHECK_NAMES` bits)."""
    return (np.asarray(qc, dtype=np.int64) >> VAR_SHIFT[var]) & 0xFF


def valid_mask(obs: pd.DataFrame, var: str) -> np.ndarray:
    """True where ``obs[var]`` is present and has no rejecting flag (:data:`QC_REJECT`)."""
    return obs[var].notna().to_numpy() & ((var_flags(obs["qc"], var) & QC_REJECT) == 0)


def describe_qc(qc: int) -> list[str]:
    """Human-readable flags of one ``qc`` value, e.g. ``["pm25:spike", "co:unit"]``."""
    out = []
    for v, s in VAR_SHIFT.items():
        b = (int(qc) >> s) & 0xFF
        out += [f"{v}:{name}" for bit, name in CHECK_NAMES.items() if b & bit]
    return out


# ------------------------------------------------------------------------------------ checks
def _wide(obs: pd.DataFrame, var: str, times: pd.DatetimeIndex, stations: pd.Index) -> np.ndarray:
    """Values of ``var`` on a full (hour × station) grid, NaN where no row exists."""
    w = obs.pivot(index="time", columns="station_id", values=var)
    return w.reindex(index=times, columns=stations).to_numpy(dtype=float)


def _stuck(x: np.ndarray, hours: int, min_value: float, false_rate: float) -> np.ndarray:
    """Mask of values in runs of identical consecutive hourly values (per column).

    The run length needed is ``hours``, raised for series whose values repeat naturally (low
    concentrations reported at a coarse resolution): with ``p`` the share of consecutive hours
    that repeat in the column, a run of ``n`` counts when ``p ** (n - 1) < false_rate``. A
    column repeating in ≥ 90 % of its hours is a dead sensor and keeps ``hours``.
    """
    same = np.zeros_like(x, dtype=bool)
    same[1:] = (x[1:] == x[:-1]) & ~np.isnan(x[1:])
    run = np.zeros(x.shape, dtype=np.int64)
    for i in range(1, x.shape[0]):
        run[i] = np.where(same[i], run[i - 1] + 1, 0)
    # run[i] = k means x[i-k..i] are identical (k+1 values); mark whole runs back from their ends
    nxt = np.vstack([run[1:], np.zeros((1, x.shape[1]), dtype=np.int64)])
    # natural repeat rate of the column; a column that nearly always repeats is a dead sensor,
    # not a coarse one, and keeps the base run length
    valid = np.zeros_like(same)
    valid[1:] = ~np.isnan(x[1:]) & ~np.isnan(x[:-1])
    p_all = same.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    p = np.where(p_all >= 0.9, 1e-9, np.clip(p_all, 1e-9, 0.9))
    need = np.maximum(hours, np.ceil(1 + np.log(false_rate) / np.log(p))).astype(np.int64)
    ends = (run + 1 >= need[None, :]) & (nxt == 0)
    out = np.zeros_like(same)
    for i, j in zip(*np.nonzero(ends), strict=True):
        out[i - run[i, j]:i + 1, j] = True
    return out & (x > min_value)


def _window_median(v: np.ndarray, rows: np.ndarray, cols: np.ndarray, window: int,
                   min_periods: int) -> np.ndarray:
    """Centred rolling median of ``v`` (hours × stations) at the given cells only.

    Same values as ``DataFrame.rolling(window, center=True, min_periods).median()`` (NaN skipped,
    NaN when fewer than ``min_periods`` values), computed for a subset of cells.
    """
    if len(rows) == 0:
        return np.empty(0)
    half = window // 2
    pad = np.full((half, v.shape[1]), np.nan)
    vp = np.vstack([pad, v, pad])
    win = np.lib.stride_tricks.sliding_window_view(vp, window, axis=0)  # (T + 2h − w + 1, S, w)
    start = rows + half - (window - 1) // 2 - (window % 2 == 0)
    w = np.sort(win[start, cols, :], axis=1)  # NaN sorts last
    n = (~np.isnan(w)).sum(axis=1)
    lo = np.clip((n - 1) // 2, 0, window - 1)
    hi = np.clip(n // 2, 0, window - 1)
    r = np.arange(len(rows))
    med = 0.5 * (w[r, lo] + w[r, hi])
    med[n < min_periods] = np.nan
    return med


def _rolling_median(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Centred rolling median per column (NaN skipped). Short, wide grids (one day of a national
    network) are sorted in column blocks, which beats a per-column rolling loop; long series use
    pandas' rolling median."""
    if x.shape[0] >= 200:
        return pd.DataFrame(x).rolling(window, center=True,
                                       min_periods=min_periods).median().to_numpy()
    out = np.empty_like(x, dtype=float)
    block = max(1, int(4e6 // max(1, x.shape[0] * window)))
    for c0 in range(0, x.shape[1], block):
        sub = x[:, c0:c0 + block]
        ti, sj = np.nonzero(np.ones(sub.shape, dtype=bool))
        out[:, c0:c0 + block] = _window_median(sub, ti, sj, window, min_periods).reshape(sub.shape)
    return out


def _spike(x: np.ndarray, groups: np.ndarray, cfg: _Spike, min_abs: float) -> np.ndarray:
    """Mask of spikes: robust outliers in time that neighbours (same unit) do not share.

    The full rolling median is computed once; the spreads (rolling MAD, rolling median of hourly
    changes) and the neighbour medians only where a value is a candidate (its deviation or its
    isolated jump exceeds ``min_abs``), which gives the same flags much faster.
    """
    minp = max(3, cfg.window // 3)
    med = _rolling_median(x, cfg.window, minp)
    dev = np.abs(x - med)
    # isolated jumps: up (or down) from both the previous and the next hour, against the robust
    # spread of hourly changes (diurnal cycles inflate the spread of values, not of changes)
    prev = np.vstack([np.full((1, x.shape[1]), np.nan), x[:-1]])
    nxt = np.vstack([x[1:], np.full((1, x.shape[1]), np.nan)])
    d1, d2 = x - prev, x - nxt
    with np.errstate(invalid="ignore"):
        jump = np.minimum(np.abs(d1), np.abs(d2))
        same_sign = np.sign(d1) == np.sign(d2)
        cand_dev = dev > min_abs
        cand_jump = same_sign & (jump > min_abs)
    own = np.zeros(x.shape, dtype=bool)
    ti, sj = np.nonzero(cand_dev)
    if len(ti):
        mad = _window_median(dev, ti, sj, cfg.window, minp)
        with np.errstate(invalid="ignore"):
            own[ti, sj] |= dev[ti, sj] > cfg.z * 1.4826 * mad
    ti, sj = np.nonzero(cand_jump)
    if len(ti):
        step = _window_median(np.abs(d1), ti, sj, cfg.window, minp)
        with np.errstate(invalid="ignore"):
            own[ti, sj] |= jump[ti, sj] > cfg.z * 1.4826 * step
    # neighbour test at the candidate cells: median of the unit's other stations that hour
    r = cfg.neighbour_ratio
    codes, _ = pd.factorize(pd.Series(groups))
    order = np.argsort(codes, kind="stable")  # columns of each group, ascending (numpy: fast
    members = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)  # for 1,000s of groups)
    for cols in members:
        if len(cols) < 2:
            continue
        cols = np.asarray(cols)
        for k, c in enumerate(cols):
            rows = np.flatnonzero(own[:, c])
            if not len(rows):
                continue
            others = np.delete(x[np.ix_(rows, cols)], k, axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN hours → NaN
                nb = np.nanmedian(others, axis=1)
            xv = x[rows, c]
            with np.errstate(invalid="ignore"):
                differs = (xv > r * nb + min_abs / 2) | (xv * r + min_abs / 2 < nb)
            agree = ~np.isnan(nb) & ~differs
            own[rows[agree], c] = False
    return own


def run_qc(obs: pd.DataFrame, stations: pd.DataFrame | None = None,
           config: QCConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag defects in canonical observations and summarise them per station.

    Parameters
    ----------
    obs : DataFrame
        Canonical observation table (µg/m³, CO mg/m³). Existing duplicate / gap-filled bits are
        kept; the computed checks are recomputed (running twice gives the same result).
    stations : DataFrame, optional
        Station table (``station_id, sub_region``); stations of the same ``sub_region`` are each
        other's neighbours for the spike test. Unknown stations have no neighbours.
    config : QCConfig, optional
        Thresholds; default ``configs/qc.yaml``.

    Returns
    -------
    flagged : DataFrame
        ``obs`` (canonical, sorted by time and station) with the ``qc`` bits set.
    report : DataFrame
        One row per station: ``station_id, sub_region, first_time, last_time, hours``
        (hours between first and last, inclusive), ``avail_<var>`` (fraction of those hours
        with a value, 0–1), ``n_<check>`` (values flagged by each check), ``n_flagged_rows``.
    """
    cfg = config or load_qc_config()
    obs = validate_obs(obs, source="run_qc input")
    qc = obs["qc"].to_numpy().copy()
    for s in VAR_SHIFT.values():
        qc &= ~np.int64(QC_COMPUTED << s)
    if obs.empty:
        return obs, qc_report(obs, stations)
    times = pd.date_range(obs["time"].min(), obs["time"].max(), freq="h")
    sids = pd.Index(sorted(obs["station_id"].unique()))
    row = obs.set_index(["time", "station_id"]).index
    ti = times.get_indexer(row.get_level_values(0))
    si = sids.get_indexer(row.get_level_values(1))
    on_grid = ti >= 0  # off-hour times (not expected) skip the time-series checks
    unit_of = {}
    if stations is not None and len(stations):
        unit_of = dict(zip(stations["station_id"].astype(str), stations["sub_region"].astype(str),
                           strict=False))
    groups = np.array([unit_of.get(s, f"__alone_{s}") for s in sids], dtype=object)
    for v in POLLUTANTS:
        x = obs[v].to_numpy()
        bits = np.zeros(len(obs), dtype=np.int64)
        rng = getattr(cfg.range, v)
        bits |= np.where(x < 0, QC_NEGATIVE, 0)
        bits |= np.where((x < rng.min) | (x > rng.max), QC_RANGE, 0)
        w = np.full((len(times), len(sids)), np.nan)
        w[ti[on_grid], si[on_grid]] = x[on_grid]
        stuck = _stuck(w, cfg.stuck.hours, getattr(cfg.stuck.min_value, v),
                       cfg.stuck.repeat_false_rate)
        spike = _spike(w, groups, cfg.spike, getattr(cfg.spike.min_abs, v))
        g = np.zeros(len(obs), dtype=np.int64)
        g[on_grid] = np.where(stuck[ti[on_grid], si[on_grid]], QC_STUCK, 0) | \
            np.where(spike[ti[on_grid], si[on_grid]], QC_SPIKE, 0)
        bits |= g
        qc |= bits << VAR_SHIFT[v]
    ratio = cfg.pm_ratio
    bad_pm = (obs["pm25"] > obs["pm10"] * ratio.ratio + ratio.abs).to_numpy()
    # when one of the pair already failed another check, the pair conflict is its fault only
    f25 = (var_flags(qc, "pm25") & QC_REJECT) != 0
    f10 = (var_flags(qc, "pm10") & QC_REJECT) != 0
    qc |= np.where(bad_pm & ~f25 & ~f10,
                   var_bits("pm25", QC_PM_RATIO) | var_bits("pm10", QC_PM_RATIO), 0)
    # CO in µg/m³: the station's centred 24-h median CO is implausibly high for mg/m³
    wco = np.full((len(times), len(sids)), np.nan)
    wco[ti[on_grid], si[on_grid]] = obs["co"].to_numpy()[on_grid]
    med24 = _rolling_median(wco, 24, 1)
    co_med = np.full(len(obs), np.nan)
    co_med[on_grid] = med24[ti[on_grid], si[on_grid]]
    bad_unit = (co_med > cfg.co_unit.median_above) & (obs["co"].to_numpy() > 0)
    qc |= np.where(bad_unit, var_bits("co", QC_UNIT), 0)
    out = obs.copy()
    out["qc"] = qc
    return out, qc_report(out, stations)


def qc_report(obs: pd.DataFrame, stations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-station summary of flagged canonical observations (columns as in :func:`run_qc`)."""
    cols = (["station_id", "sub_region", "first_time", "last_time", "hours"]
            + [f"avail_{v}" for v in POLLUTANTS]
            + [f"n_{n}" for n in CHECK_NAMES.values()] + ["n_flagged_rows"])
    if obs.empty:
        return pd.DataFrame(columns=cols)
    unit_of = {}
    if stations is not None and len(stations):
        unit_of = dict(zip(stations["station_id"].astype(str), stations["sub_region"].astype(str),
                           strict=False))
    g = obs.groupby("station_id", sort=True)
    rep = pd.DataFrame({"first_time": g["time"].min(), "last_time": g["time"].max()})
    rep["hours"] = ((rep["last_time"] - rep["first_time"]) / pd.Timedelta("1h")).astype(int) + 1
    for v in POLLUTANTS:
        rep[f"avail_{v}"] = (g[v].count() / rep["hours"]).round(4)
    qc = obs["qc"].to_numpy()
    for bit, name in CHECK_NAMES.items():
        n = np.zeros(len(obs), dtype=np.int64)
        for s in VAR_SHIFT.values():
            n += ((qc >> s) & bit) > 0
        rep[f"n_{name}"] = pd.Series(n, index=obs.index).groupby(obs["station_id"]).sum()
    rep["n_flagged_rows"] = pd.Series(qc != 0, index=obs.index).groupby(obs["station_id"]).sum()
    rep = rep.reset_index()
    rep["sub_region"] = rep["station_id"].map(unit_of).fillna("")
    return rep[cols]


def fill_gaps(obs: pd.DataFrame, max_hours: int = 2,
              variables: Iterable[str] = POLLUTANTS) -> pd.DataFrame:
    """Linearly interpolate gaps of at most ``max_hours`` hours per station and variable.

    Only interior gaps are filled (both ends valid); filled values get :data:`QC_GAP_FILLED` on
    their variable, and rows are added for missing hours inside a gap. Values flagged as
    invalid are not used as anchors.

    Parameters
    ----------
    obs : DataFrame
        Canonical observations (µg/m³, CO mg/m³).
    max_hours : int
        Longest gap filled, hours.
    variables : iterable of str
        Variables to fill.

    Returns
    -------
    DataFrame
        Canonical observations with the filled values.
    """
    obs = validate_obs(obs, source="fill_gaps input")
    if obs.empty:
        return obs
    parts = []
    for sid, st in obs.groupby("station_id", sort=False):
        full = pd.date_range(st["time"].min(), st["time"].max(), freq="h")
        st = st.set_index("time").reindex(full)
        st.index.name = "time"
        st["station_id"] = sid
        st["qc"] = st["qc"].fillna(0).astype("int64")
        for v in variables:
            good = st[v].notna().to_numpy() & ((var_flags(st["qc"], v) & QC_REJECT) == 0)
            series = st[v].where(good)
            filled = series.interpolate(method="linear", limit=max_hours, limit_area="inside")
            # only gaps no longer than max_hours: find run lengths of NaN
            isna = series.isna().to_numpy()
            run_id = np.cumsum(~isna)
            run_len = pd.Series(isna).groupby(run_id).transform("sum").to_numpy()
            new = isna & (run_len <= max_hours) & filled.notna().to_numpy() & st[v].isna().to_numpy()
            st.loc[new, v] = filled[new]
            st.loc[new, "qc"] = st.loc[new, "qc"] | var_bits(v, QC_GAP_FILLED)
        parts.append(st.reset_index())
    out = pd.concat(parts, ignore_index=True)
    out = out[out[list(POLLUTANTS)].notna().any(axis=1) | (out["qc"] != 0)]
    return validate_obs(out[list(obs.columns)], source="fill_gaps output")
