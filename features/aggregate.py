"""Station → forecast-unit aggregation of canonical observations.

Rule (documented convention, following HJ 663's point-average-first city concentration — U):
for each unit, hour and pollutant, the unit value is the arithmetic mean of the **valid**
station values of that unit, where valid means present and without a rejecting QC flag on that
variable (:func:`features.qc.valid_mask`; duplicate-resolved and gap-filled values count). When
fewer than ``min_stations`` stations are valid for a pollutant, the unit value is NaN (missing),
never a mean of too few stations. ``n_stations`` is the number of the unit's stations with at
least one valid pollutant value that hour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from airwarn.features.qc import valid_mask
from airwarn.features.store import POLLUTANTS, validate_obs

__all__ = ["UNIT_COLUMNS", "stations_to_units", "station_met_to_units"]

UNIT_COLUMNS = ["time", "unit_id", *POLLUTANTS, "n_stations"]


def stations_to_units(obs: pd.DataFrame, stations: pd.DataFrame,
                      min_stations: int = 1) -> pd.DataFrame:
    """Mean of QC-valid station values per unit-hour.

    Parameters
    ----------
    obs : DataFrame
        Canonical observations (µg/m³, CO mg/m³) with ``qc`` bits.
    stations : DataFrame
        Station table with ``station_id`` and ``sub_region`` (the unit id). Observations of
        stations not in the table are left out.
    min_stations : int
        Minimum valid stations for a unit-hour-pollutant value (≥ 1).

    Returns
    -------
    DataFrame
        ``time`` (UTC), ``unit_id``, ``pm25 pm10 o3 no2 so2`` (µg/m³), ``co`` (mg/m³),
        ``n_stations`` (int); one row per unit-hour with at least one station row, sorted by
        ``time, unit_id``.
    """
    if min_stations < 1:
        raise ValueError(f"min_stations must be ≥ 1, got {min_stations}")
    missing = [c for c in ("station_id", "sub_region") if c not in stations.columns]
    if missing:
        raise ValueError(f"stations table lacks column(s) {missing}")
    obs = validate_obs(obs, source="stations_to_units input")
    unit_of = dict(zip(stations["station_id"].astype(str), stations["sub_region"].astype(str),
                       strict=False))
    unit = obs["station_id"].map(unit_of)
    keep = unit.notna().to_numpy()
    obs, unit = obs[keep], unit[keep]
    if obs.empty:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in UNIT_COLUMNS})
        out["time"] = pd.Series(dtype="datetime64[ns, UTC]")
        out["unit_id"] = pd.Series(dtype=object)
        out["n_stations"] = pd.Series(dtype="int64")
        return out[UNIT_COLUMNS]
    vals = pd.DataFrame({"time": obs["time"].array, "unit_id": unit.to_numpy()})
    any_valid = np.zeros(len(obs), dtype=bool)
    for v in POLLUTANTS:
        ok = valid_mask(obs, v)
        any_valid |= ok
        vals[v] = np.where(ok, obs[v].to_numpy(), np.nan)
    vals["n_stations"] = any_valid.astype("int64")
    vals["time"] = pd.to_datetime(vals["time"], utc=True)
    g = vals.groupby(["time", "unit_id"], sort=True)
    means = g[list(POLLUTANTS)].mean()
    counts = g[list(POLLUTANTS)].count()
    means = means.where(counts >= min_stations)
    means["n_stations"] = g["n_stations"].sum().astype("int64")
    return means.reset_index()[UNIT_COLUMNS]


def station_met_to_units(met: pd.DataFrame, unit_of: dict[str, str],
                         min_stations: int = 1) -> pd.DataFrame:
    """Mean of the stations' point meteorology per unit-hour.

    Each variable is averaged over the unit's stations that have it that hour; the wind as its
    components (``u10``, ``v10``: the mean vector) and ``ws10`` as the mean speed. Fewer than
    ``min_stations`` stations with a value: NaN.

    Parameters
    ----------
    met : DataFrame
        ``time`` (UTC), ``unit_id`` (the station id) and met variables in canonical units
        (``t2m`` K, ``d2m`` K, ``sp`` Pa, ``tp`` mm h-1, ``u10`` ``v10`` ``ws10`` m s-1, ``rh`` %).
    unit_of : dict
        Station id → unit id; stations not in it are left out.
    min_stations : int
        Fewest stations with a value for a unit-hour value (≥ 1).

    Returns
    -------
    DataFrame
        ``time``, ``unit_id`` (the unit) and the same variables, sorted by ``time, unit_id``.
    """
    if min_stations < 1:
        raise ValueError(f"min_stations must be ≥ 1, got {min_stations}")
    if "unit_id" not in met.columns or "time" not in met.columns:
        raise ValueError("station meteorology lacks column(s) 'time' / 'unit_id'")
    unit = met["unit_id"].astype(str).map(unit_of)
    keep = unit.notna().to_numpy()
    variables = [c for c in met.columns if c not in ("time", "unit_id")]
    vals = met.loc[keep, ["time", *variables]].copy()
    vals["unit_id"] = unit[keep].to_numpy()
    g = vals.groupby(["time", "unit_id"], sort=True)
    means = g[variables].mean()
    means = means.where(g[variables].count() >= min_stations)
    return means.reset_index()[["time", "unit_id", *variables]]
