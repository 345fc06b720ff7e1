"""Extending a unit's record back in time with an earlier record from another source.

A forecast centre trains on its archive, which is often longer than the network it runs today: a
station that moved, or a co-located monitor of another operator that started earlier. A *history
record* (``history:`` in a backtest domain, :class:`configs.model_schema.HistoryRecord`) names
such a record, the unit it extends, and a period over which both records ran side by side. The
earlier record is **homogenised** onto the unit's own record by empirical quantile mapping over
that period (each variable separately; wind direction is kept, the wind components are rescaled
to the mapped speed), and only its hours before the unit's first own observation are used: the
unit's record is never overwritten.

Quantile mapping (e.g. Wilks, *Statistical Methods in the Atmospheric Sciences*, 4th ed., 2019,
§ 7.7.2) corrects differences of level and spread (a monitor 7 % higher, an airport anemometer
50 % windier) but not of timing or direction categories; the mapping is fitted on the overlap
period only, which must end before any period that is scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["QUANTILE_LEVELS", "MAPPED_MET", "BOUNDS", "MIN_OVERLAP_HOURS", "quantile_map", "extend_unit_record"]

#: probability levels of the empirical quantile mapping (0.5 % … 99.5 %, 199 levels); values
#: beyond the outer levels are mapped with the outermost pair (constant offset at the tails).
QUANTILE_LEVELS = np.linspace(0.005, 0.995, 199)
#: point-meteorology variables mapped (``tp``, precipitation, is kept: a zero-inflated variable
#: that both gauges measure alike; the wind components follow the mapped ``ws10``).
MAPPED_MET = ("t2m", "d2m", "sp", "rh", "ws10")
#: physical bounds the mapped values are clipped to (the mapping continues the tails by a
#: constant offset, which can overshoot): relative humidity %, speeds m s-1, concentrations µg/m³.
BOUNDS = {"rh": (0.0, 100.0), "ws10": (0.0, None)}
#: fewest paired hours of a variable in the overlap for a mapping (about 60 days).
MIN_OVERLAP_HOURS = 1440


def quantile_map(values: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map ``values`` from the distribution of ``source`` onto that of ``target``.

    Parameters
    ----------
    values : ndarray
        Values of the earlier record to map (any unit; NaN stays NaN).
    source, target : ndarray
        The same variable in the same unit from the earlier record and the unit's record over the
        overlap period, paired hour by hour (only pairs where both are finite are used).

    Returns
    -------
    ndarray
        The mapped values, in the unit of ``target``. Beyond the outermost quantile levels the
        mapping continues with the offset of the outermost pair.
    """
    ok = np.isfinite(source) & np.isfinite(target)
    a = np.quantile(source[ok], QUANTILE_LEVELS)
    b = np.quantile(target[ok], QUANTILE_LEVELS)
    out = np.interp(values, a, b)
    lo, hi = values < a[0], values > a[-1]
    out = np.where(lo, values + (b[0] - a[0]), out)
    out = np.where(hi, values + (b[-1] - a[-1]), out)
    return np.where(np.isfinite(values), out, np.nan)


def extend_unit_record(obs: pd.DataFrame, met: pd.DataFrame, hist_obs: pd.DataFrame,
                       hist_met: pd.DataFrame, unit: str, *, overlap_until: pd.Timestamp,
                       start: pd.Timestamp | None = None, source: str = "history",
                       min_overlap_hours: int = MIN_OVERLAP_HOURS
                       ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """Prepend a homogenised earlier record to one unit's observations and meteorology.

    Parameters
    ----------
    obs, met : DataFrame
        The domain's canonical tables (``time`` UTC, ``unit_id``, pollutants in µg/m³ / met in
        K, Pa, mm h-1, m s-1, %).
    hist_obs, hist_met : DataFrame
        The earlier record, one station, the same columns (``unit_id`` is replaced).
    unit : str
        The unit it extends (must be in ``obs``).
    overlap_until : Timestamp
        Last time (UTC) of the overlap used to fit the mapping; the overlap starts at the unit's
        first own observation.
    start : Timestamp, optional
        First time (UTC) of the earlier record to use.
    source : str
        A name for error messages.
    min_overlap_hours : int
        Fewest paired hours of each variable in the overlap (default
        :data:`MIN_OVERLAP_HOURS`).

    Returns
    -------
    (obs, met, info)
        The tables with the earlier hours (before the unit's first own observation) prepended,
        and what was done: hours added, the overlap, and per variable the mean shift of the
        mapping over the added hours.

    Raises
    ------
    ValueError
        The unit has no record, or a variable has fewer than ``min_overlap_hours`` paired hours
        in the overlap (names the source, unit and variable).
    """
    own = obs["time"][obs["unit_id"] == unit]
    if own.empty:
        raise ValueError(f"{source}: unit {unit!r} has no observations to extend; expected one "
                         f"of {sorted(obs['unit_id'].unique())}")
    first = own.min()
    ov0, ov1 = first, pd.Timestamp(overlap_until)
    info: dict[str, object] = {"unit": unit, "overlap": [str(ov0), str(ov1)], "mean_shift": {}}

    def _pairs(h: pd.DataFrame, u: pd.DataFrame, v: str) -> tuple[np.ndarray, np.ndarray]:
        hh = h[(h["time"] >= ov0) & (h["time"] <= ov1)].set_index("time")[v]
        uu = u[u["unit_id"] == unit].set_index("time")[v]
        uu = uu[~uu.index.duplicated()].reindex(hh.index)
        return hh.to_numpy(dtype=float), uu.to_numpy(dtype=float)

    keep_h = hist_obs["time"] < first
    keep_m = hist_met["time"] < first
    if start is not None:
        keep_h &= hist_obs["time"] >= start
        keep_m &= hist_met["time"] >= start
    new_obs = hist_obs[keep_h].copy()
    new_met = hist_met[keep_m].copy()
    shifts: dict[str, float] = {}
    pollutants = [c for c in obs.columns if c not in ("time", "unit_id", "qc")
                  and c in hist_obs.columns and hist_obs[c].notna().any()]
    for tbl, new, hist, names in ((obs, new_obs, hist_obs, pollutants),
                                  (met, new_met, hist_met, [v for v in MAPPED_MET
                                                            if v in hist_met.columns
                                                            and v in met.columns])):
        for v in names:
            s, t = _pairs(hist, tbl, v)
            n = int((np.isfinite(s) & np.isfinite(t)).sum())
            if n < min_overlap_hours:
                raise ValueError(f"{source}: {v!r} has {n} hours in both records between "
                                 f"{ov0} and {ov1}; a mapping onto unit {unit!r} needs at least "
                                 f"{min_overlap_hours}")
            before = new[v].to_numpy(dtype=float)
            lo, hi = BOUNDS.get(v, (0.0, None) if tbl is obs else (None, None))
            new[v] = np.clip(quantile_map(before, s, t), lo, hi)
            with np.errstate(all="ignore"):
                shifts[v] = round(float(np.nanmean(new[v].to_numpy() - before)), 3)
    if {"u10", "v10", "ws10"} <= set(new_met.columns):
        speed = np.hypot(hist_met.loc[keep_m, "u10"], hist_met.loc[keep_m, "v10"]).to_numpy()
        scale = np.divide(new_met["ws10"].to_numpy(), speed, out=np.zeros_like(speed),
                          where=speed > 0)
        new_met["u10"] = new_met["u10"].to_numpy() * scale
        new_met["v10"] = new_met["v10"].to_numpy() * scale
    new_obs["unit_id"] = unit
    new_met["unit_id"] = unit
    info["hours_added"] = int(len(new_obs))
    info["mean_shift"] = shifts
    out_obs = pd.concat([new_obs[obs.columns], obs], ignore_index=True)
    out_met = pd.concat([new_met[met.columns], met], ignore_index=True)
    return out_obs, out_met, info
