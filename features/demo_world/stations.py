"""Station layer of the demo world: the station table, station observations and their defects.

Station value = unit concentration × a siting factor (background / industrial / urban, from the
station name) × a local factor (per station and pollutant, fixed) × an
hourly AR(1) multiplicative noise, rounded like published data (integers µg/m³, CO to 0.01 mg/m³).
Then realistic defects are injected and every one of them is listed in a truth table so that QC
can be scored: ``missing`` (short gaps: rows present, values NaN), ``outage`` (multi-day, all
pollutants: the station-hour rows are absent, as when a station stops reporting), ``stuck``
(constant value), ``spike`` (single-hour jumps), ``co_ugm3`` (one station reporting CO in µg/m³,
×1000, for a couple of weeks) and ``negative`` (small negative values).

Everything is synthetic (``source: synthetic demo``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from airwarn.configs import STATION_COLUMNS, load_stations
from scipy.signal import lfilter

from airwarn.core.pollutants import observed as registry_observed

__all__ = ["POLLUTANTS", "DEFECT_COLUMNS", "SITE_FACTORS", "site_kind", "world_stations",
           "station_observations", "obs_frame"]

#: Pollutant columns of the canonical observation table (µg/m³; co mg/m³).
POLLUTANTS: tuple[str, ...] = registry_observed()  # the pollutant registry, canonical order
#: Columns of ``demo/defects.csv``. ``variable`` is a pollutant or ``all``; start/end inclusive, UTC.
DEFECT_COLUMNS: tuple[str, ...] = ("station_id", "variable", "start", "end", "kind")


#: Station siting classes recognised from the station name (Chinese), and the factors applied to
#: the unit concentration there. Synthetic convention of the demo world: background / scenic
#: sites (对照点 on hills and scenic areas: names ending in 山 or 观, or containing 景区) see
#: cleaner air and more O3 (less NO titration); sites named after a factory (厂, not a 水厂
#: waterworks) see more SO2 and PM.
SITE_FACTORS: dict[str, dict[str, float]] = {
    "urban": {"pm25": 1.0, "pm10": 1.0, "o3": 1.0, "no2": 1.0, "so2": 1.0, "co": 1.0},
    "background": {"pm25": 0.72, "pm10": 0.7, "o3": 1.15, "no2": 0.5, "so2": 0.7, "co": 0.75},
    "industrial": {"pm25": 1.08, "pm10": 1.15, "o3": 0.95, "no2": 1.1, "so2": 1.6, "co": 1.15},
}


def site_kind(name: str) -> str:
    """Siting class of a station from its Chinese name: ``background``, ``industrial`` or
    ``urban`` (see :data:`SITE_FACTORS`)."""
    if name.endswith(("山", "观")) or "景区" in name:
        return "background"
    if "厂" in name and "水厂" not in name:
        return "industrial"
    return "urban"


def world_stations(region, stations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The demo world's station table: the configured stations plus a seat station per unit
    that has none.

    Parameters
    ----------
    region : configs.schema.Region
    stations : DataFrame, optional
        A station table (columns ``station_id, name, name_en, city, district, sub_region, lon,
        lat``); default ``configs.load_stations()`` (may be empty).

    Returns
    -------
    DataFrame
        The station columns; seat stations have ``station_id = "seat_<unit_id>"`` at the unit's
        ``point`` (degrees). Stations whose ``sub_region`` is not a unit of ``region`` are dropped.
    """
    if stations is None:
        stations = load_stations(region=region)
    st = stations[list(STATION_COLUMNS)].copy() if len(stations) else pd.DataFrame(
        columns=list(STATION_COLUMNS))
    st = st[st["sub_region"].isin(region.unit_ids)]
    have = set(st["sub_region"])
    seats = []
    for u in region.units:
        if u.id in have:
            continue
        p = u.point
        seats.append({"station_id": f"seat_{u.id}", "name": f"{u.name}（示意站）",
                      "name_en": f"{u.name_en} (seat, synthetic)", "city": u.name,
                      "district": "", "sub_region": u.id, "lon": float(p.lon), "lat": float(p.lat)})
    out = pd.concat([st, pd.DataFrame(seats, columns=list(STATION_COLUMNS))], ignore_index=True)
    out["station_id"] = out["station_id"].astype(str)
    out["lon"] = out["lon"].astype(float)
    out["lat"] = out["lat"].astype(float)
    return out.reset_index(drop=True)


def _station_rng(seed: int, station_id: str, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt, zlib.crc32(station_id.encode())])


def station_observations(truth: dict[str, np.ndarray], unit_ids: list[str],
                         times: pd.DatetimeIndex, stations: pd.DataFrame, seed: int
                         ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Hourly station observations with defects, and the defect truth table.

    Parameters
    ----------
    truth : dict of ndarray (T, U)
        Unit-level clean concentrations (``pm25 pm10 o3 no2 so2`` µg/m³, ``co`` mg/m³).
    unit_ids : list of str
        Column order of ``truth``.
    times : DatetimeIndex
        Hourly UTC times (tz-aware), length T.
    stations : DataFrame
        Station table (``world_stations``).
    seed : int

    Returns
    -------
    obs : dict of ndarray (T, S)
        Station values per pollutant (µg/m³, co mg/m³), columns in ``stations`` order, and
        ``absent`` (bool: no row reported); turn slices into the canonical table with
        :func:`obs_frame`.
    defects : DataFrame
        :data:`DEFECT_COLUMNS`; times UTC tz-aware, inclusive.
    """
    T = len(times)
    col = np.array([unit_ids.index(u) for u in stations["sub_region"]])
    sids = stations["station_id"].tolist()
    S = len(sids)
    data = {}
    rngs = [_station_rng(seed, s, 404) for s in sids]
    # local factors: traffic-like stations see more NO2/CO and less O3
    traffic = np.array([r.normal(0, 1) for r in rngs])
    kinds = [site_kind(n) for n in stations["name"].astype(str)]
    for k, p in enumerate(POLLUTANTS):
        base = np.array([_station_rng(seed, s, 500 + k).lognormal(0, 0.12) for s in sids])
        if p in ("no2", "co"):
            base = base * np.exp(0.15 * traffic)
        elif p == "o3":
            base = base * np.exp(-0.08 * traffic)
        base = base * np.array([SITE_FACTORS[k_][p] for k_ in kinds])
        noise = np.empty((T, S), dtype=np.float32)
        for j, s in enumerate(sids):
            r = _station_rng(seed, s, 600 + k)
            phi = 0.8
            eps = r.standard_normal(T) * np.sqrt(1 - phi**2)
            noise[:, j] = lfilter([1.0], [1.0, -phi], eps)
        sd = 0.12 if p != "co" else 0.08
        val = truth[p][:, col] * base[None, :] * np.exp(sd * noise)
        data[p] = np.round(val, 2) if p == "co" else np.round(val)
    # guarantee PM10 ≥ PM2.5 in clean data (as the analysers report)
    data["pm10"] = np.maximum(data["pm10"], data["pm25"])

    defects: list[tuple[str, str, pd.Timestamp, pd.Timestamp, str]] = []
    absent = np.zeros((T, S), dtype=bool)
    years = T / 8766.0

    def rec(j: int, var: str, a: int, b: int, kind: str) -> None:
        defects.append((sids[j], var, times[a], times[b], kind))

    for j, s in enumerate(sids):
        r = _station_rng(seed, s, 700)
        # short gaps: ~1 % of hours
        n = r.poisson(30 * years)
        for a in np.sort(r.integers(0, T, n)):
            b = min(T - 1, a + int(r.integers(0, 6)))
            for p in POLLUTANTS:
                data[p][a:b + 1, j] = np.nan
            rec(j, "all", a, b, "missing")
        # multi-day outages: ~0.5 per station-year
        for _ in range(r.poisson(0.5 * years)):
            a = int(r.integers(0, T))
            b = min(T - 1, a + int(r.integers(48, 24 * 7)))
            for p in POLLUTANTS:
                data[p][a:b + 1, j] = np.nan
            absent[a:b + 1, j] = True
            rec(j, "all", a, b, "outage")
        # stuck values: ~2 per station-year, 6–48 h
        for _ in range(r.poisson(2 * years)):
            p = POLLUTANTS[int(r.integers(0, len(POLLUTANTS)))]
            a = int(r.integers(0, T - 1))
            b = min(T - 1, a + int(r.integers(6, 49)))
            v = data[p][a, j]
            if np.isnan(v):
                continue
            data[p][a:b + 1, j] = v
            rec(j, p, a, b, "stuck")
        # spikes: ~4 per station-year, one hour ×4–10
        for _ in range(r.poisson(4 * years)):
            p = POLLUTANTS[int(r.integers(0, len(POLLUTANTS)))]
            a = int(r.integers(0, T))
            if np.isnan(data[p][a, j]):
                continue
            data[p][a, j] = np.round(data[p][a, j] * r.uniform(3, 6) + 40, 2 if p == "co" else 0)
            rec(j, p, a, a, "spike")
        # negative values: ~2 per station-year, 1–5 h
        for _ in range(r.poisson(2 * years)):
            p = ("o3", "so2", "no2")[int(r.integers(0, 3))]
            a = int(r.integers(0, T))
            b = min(T - 1, a + int(r.integers(0, 5)))
            data[p][a:b + 1, j] = -np.round(r.uniform(1, 9, b - a + 1))
            rec(j, p, a, b, "negative")
    # one station reports CO in µg/m³ for 10–20 days
    if S and T > 24 * 30:
        r = np.random.default_rng([seed, 800])
        j = int(r.integers(0, S))
        a = int(r.integers(0, T - 24 * 21))
        b = a + int(r.integers(240, 480))
        data["co"][a:b + 1, j] = np.round(data["co"][a:b + 1, j] * 1000.0)
        rec(j, "co", a, b, "co_ugm3")

    obs = {p: data[p] for p in POLLUTANTS}
    obs["absent"] = absent
    dfx = pd.DataFrame(defects, columns=list(DEFECT_COLUMNS))
    dfx = dfx.sort_values(["station_id", "start", "variable"], kind="mergesort").reset_index(drop=True)
    return obs, dfx


def obs_frame(obs: dict[str, np.ndarray], times: pd.DatetimeIndex, station_ids: list[str],
              rows: slice = slice(None)) -> pd.DataFrame:
    """The canonical observation table (DESIGN) of a slice of hours of :func:`station_observations`.

    Returns
    -------
    DataFrame
        ``time`` (UTC), ``station_id``, ``pm25 pm10 o3 no2 so2`` (µg/m³), ``co`` (mg/m³), ``qc`` = 0;
        station-hours marked ``absent`` (outages) have no row.
    """
    t = pd.DatetimeIndex(times[rows]).tz_convert("UTC")
    S = len(station_ids)
    keep = ~obs["absent"][rows].ravel() if "absent" in obs else np.ones(len(t) * S, dtype=bool)
    return pd.DataFrame({
        "time": np.repeat(t, S)[keep],
        "station_id": np.tile(np.array(station_ids, dtype=object), len(t))[keep],
        **{p: obs[p][rows].astype(np.float64).ravel()[keep] for p in POLLUTANTS},
        "qc": np.zeros(int(keep.sum()), dtype=np.int64),
    }).reset_index(drop=True)
