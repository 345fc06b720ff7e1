"""Forecast-cycle meteorology at points, for backtests: from the cycle store, or synthetic.

A backtest "with cycles" gives the models, at each issue time, the meteorology a centre would
have had then: the newest forecast cycle available (reference time + latency ≤ issue time),
with the error that grows with its lead — not the observed weather (``perfect``), not nothing
(``none``). Both functions return a :class:`features.build.CycleMet`, which picks the cycle per
issue time and shifts an older one by its age.

- :func:`store_cycle_met`: the cycle files of the met store (``met/cycles/YYYYMMDDHH.nc``, ERA5
  names and units, any grid) sampled bilinearly at the backtest's unit points.
- :func:`synthetic_cycle_met`: cycles made from observed point meteorology (e.g. the UCI station
  met) plus an error whose variance grows linearly with lead, as the demo world's NWP error model
  (``features.demo_world.met``, ``_LATENT_SPECS``): for each variable a standard deviation
  ``e0`` at lead 0 and ``e120`` at 120 h, as fractions of the variable's synoptic anomaly (its
  departure from the 31-day running mean at that unit and hour), AR(1)-correlated in lead
  (e-folding 24 h); precipitation is displaced in time by a timing error (sd 9 h at 120 h) and
  scaled by a log-normal factor. Until a real archive of cycles exists, this is what
  ``bench/bench_skill_cycles.py`` backtests with.

Units: ERA5 names and units (``t2m``/``d2m`` K, ``sp`` Pa, ``u10``/``v10`` m s⁻¹, ``tp`` mm h⁻¹);
times UTC; leads and latencies in hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from airwarn.features.build import CycleMet

__all__ = ["ERROR_SPECS", "RAIN_TIMING_SD_120H", "ArchiveArrivalsError", "arrival_delays",
           "store_cycle_met", "synthetic_cycle_met"]

#: Forecast error sd at lead 0 and at 120 h, as fractions of the variable's synoptic anomaly sd
#: (the demo world's latents: ``tanom`` for temperatures, ``pan`` for pressure, ``uan``/``van``
#: for wind, ``wet`` for the log rain factor, ``bln`` for the boundary layer).
ERROR_SPECS: dict[str, tuple[float, float]] = {
    "t2m": (0.10, 0.75), "d2m": (0.10, 0.75), "sp": (0.08, 0.75),
    "u10": (0.30, 1.10), "v10": (0.30, 1.10), "tp": (0.70, 1.40),
    "blh": (1.50, 2.50), "tcc": (0.35, 1.00), "ssrd": (0.35, 1.00),
}
#: Standard deviation of the rain timing error at 120 h lead, hours (demo world's fronts).
RAIN_TIMING_SD_120H = 9.0
_DERIVED = ("ws10", "rh", "vent")


class ArchiveArrivalsError(ValueError):
    """The recorded arrivals cannot stand for when a centre had the cycles."""


def arrival_delays(arrivals: Mapping[pd.Timestamp, Mapping[int, pd.Timestamp]], *,
                   max_age_h: float = 48.0) -> dict[str, float]:
    """How long after their reference times the recorded cycles arrived.

    Parameters
    ----------
    arrivals : mapping
        Reference time (UTC) → {step (h) → arrival (UTC)} (``features.met_cycles.cycle_arrivals``).
    max_age_h : float
        Oldest cycle a run uses, h.

    Returns
    -------
    dict
        ``cycles`` (with a record), ``step0_median_h`` and ``last_median_h``: median delay of
        the first and of the last step's arrival after the reference time, h.

    Raises
    ------
    ArchiveArrivalsError
        No record at all, or step 0 arrived a median of more than ``max_age_h`` after the
        reference time: the store was filled after the fact (an archive ingested in one go), and
        replaying those arrivals would leave every issue without a cycle.
    """
    first = [(min(r.values()) - ref).total_seconds() / 3600 for ref, r in arrivals.items() if r]
    last = [(max(r.values()) - ref).total_seconds() / 3600 for ref, r in arrivals.items() if r]
    if not first:
        raise ArchiveArrivalsError("no arrival records (catalog.json of the cycles folder): "
                                   "use --cycle-latency-h")
    out = {"cycles": float(len(first)), "step0_median_h": float(np.median(first)),
           "last_median_h": float(np.median(last))}
    if out["step0_median_h"] > max_age_h:
        raise ArchiveArrivalsError(
            f"the cycles' first steps were stored a median of {out['step0_median_h']:.0f} h after "
            f"their reference times (more than the {max_age_h:g} h a run waits): they were "
            f"ingested after the fact, so their arrival records do not say when a centre had "
            f"them; use --cycle-latency-h")
    return out


def store_cycle_met(cycles_dir: Path | str, points: Mapping[str, tuple[float, float]], *,
                    latency_h: float = 5.0, max_age_h: float = 48.0,
                    arrivals: Mapping[pd.Timestamp, Mapping[int, pd.Timestamp]] | None = None
                    ) -> CycleMet:
    """Cycles of the met store sampled at points.

    Parameters
    ----------
    cycles_dir : path-like
        Folder of ``YYYYMMDDHH.nc`` cycle files (``<data_dir>/met/cycles``).
    points : mapping unit id → (lat, lon)
        Degrees (``features.build.Geometry.points``).
    latency_h : float
        Hours after its reference time at which a cycle counts as available, h.
    max_age_h : float
        Oldest cycle used, h.
    arrivals : mapping, optional
        Reference time (UTC) → {step (h) → arrival (UTC)} (``features.met_cycles.cycle_arrivals``):
        each issue then sees a recorded cycle as it stood at the issue time — available once
        step 0 arrived, used up to its last step that had arrived, the rest from older cycles
        (``features.build.CycleMet``); cycles without a record keep ``latency_h``.

    Raises
    ------
    FileNotFoundError
        The folder holds no cycle file.
    """
    from airwarn.features.met_cycles import open_cycle_file
    from airwarn.features.met_sampling import sample_points

    d = Path(cycles_dir)
    files = sorted(d.glob("[0-9]" * 10 + ".nc"))
    if not files:
        raise FileNotFoundError(f"{d}: no forecast cycle files (YYYYMMDDHH.nc); ingest cycles "
                                f"with `airwarn ingest --cycle` or `airwarn fetch`")
    hours = sorted({int(p.stem[-2:]) for p in files})
    ids = list(points)
    lat = np.array([points[u][0] for u in ids])
    lon = np.array([points[u][1] for u in ids])

    def load(ref: pd.Timestamp) -> pd.DataFrame | None:
        path = d / f"{pd.Timestamp(ref).tz_convert('UTC'):%Y%m%d%H}.nc"
        if not path.exists():
            return None
        # every hour (3- or 6-hourly steps interpolated): the daily met features need ≥ 12
        # valid hours a day
        res = sample_points(open_cycle_file(path, hourly=True), lon, lat).load()
        times = pd.DatetimeIndex(res["time"].values)
        times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
        cols = {"time": np.repeat(times, len(ids)), "unit_id": np.tile(ids, len(times))}
        for v in res.data_vars:
            if res[v].dims == ("time", "point"):
                cols[str(v)] = res[v].values.reshape(-1)
        return pd.DataFrame(cols)

    rec = {pd.Timestamp(k).tz_convert("UTC"): dict(v) for k, v in (arrivals or {}).items()}
    return CycleMet(load, cycle_hours=hours, latency_h=latency_h, max_age_h=max_age_h,
                    arrivals=rec.get if rec else None)


def _anomaly_sd(wide: pd.DataFrame) -> pd.Series:
    """Per-column sd of the departure from a centred 31-day running mean (same hour)."""
    clim = wide.rolling(24 * 31, center=True, min_periods=24 * 7).mean()
    return (wide - clim).std()


def synthetic_cycle_met(met_units: pd.DataFrame, *, seed: int = 0,
                        cycle_hours: tuple[int, ...] = (0, 12), n_steps: int = 121,
                        latency_h: float = 8.0, max_age_h: float = 48.0,
                        variables: tuple[str, ...] | None = None) -> CycleMet:
    """Forecast cycles made from observed point meteorology plus a lead-growing error.

    Parameters
    ----------
    met_units : DataFrame
        ``time`` (UTC), ``unit_id``, met variables in ERA5 names and units (e.g.
        ``models.backtest.DomainData.met_units``).
    seed : int
        The errors are deterministic from ``(seed, reference time)``.
    cycle_hours : tuple of int
        UTC hours of the cycles (ECMWF: 00 and 12).
    n_steps : int
        Hourly steps 0 … ``n_steps`` − 1 of each cycle, h.
    latency_h : float
        Hours after its reference time at which a cycle is available (ECMWF open data: ~8 h).
    max_age_h : float
        Oldest cycle used, h.
    variables : tuple of str, optional
        Variables perturbed (default: those of :data:`ERROR_SPECS` in the table); derived
        ``ws10 rh vent`` are recomputed from the perturbed ones by the feature builder.

    Returns
    -------
    CycleMet
    """
    tbl = met_units.copy()
    tbl["time"] = pd.to_datetime(tbl["time"], utc=True)
    uid = "unit_id" if "unit_id" in tbl.columns else "station_id"
    vars_ = [v for v in (variables or tuple(ERROR_SPECS)) if v in tbl.columns]
    units = sorted(tbl[uid].astype(str).unique())
    t0, t1 = tbl["time"].min().floor("h"), tbl["time"].max().ceil("h")
    index = pd.date_range(t0, t1, freq="h")
    wide = {v: tbl.pivot_table(index="time", columns=uid, values=v, aggfunc="mean")
            .reindex(index=index, columns=units) for v in vars_}
    scale = {v: _anomaly_sd(wide[v]).fillna(0.0).to_numpy() for v in vars_ if v != "tp"}
    arr = {v: wide[v].to_numpy(dtype=float) for v in vars_}
    steps = np.arange(n_steps, dtype=float)
    rho = np.exp(-1.0 / 24.0)

    def ar1(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        z = rng.standard_normal(shape)
        out = np.empty(shape)
        out[0] = z[0]
        for k in range(1, shape[0]):
            out[k] = rho * out[k - 1] + np.sqrt(1 - rho**2) * z[k]
        return out

    def load(ref: pd.Timestamp) -> pd.DataFrame | None:
        ref = pd.Timestamp(ref).tz_convert("UTC")
        i0 = index.get_indexer([ref])[0]
        if i0 < 0:
            return None
        rows = i0 + np.arange(n_steps)
        ok = rows < len(index)
        rows = rows[ok]
        rng = np.random.default_rng([seed, 4242, int(ref.timestamp() // 3600)])
        lead = steps[ok]
        cols: dict[str, Any] = {
            "time": np.repeat(index[rows], len(units)),
            "unit_id": np.tile(units, len(rows)),
        }
        for v in vars_:
            e0, e120 = ERROR_SPECS[v]
            sd = np.sqrt(e0**2 + (e120**2 - e0**2) * np.minimum(lead, 240) / 120.0)[:, None]
            if v == "tp":
                shift = int(round(rng.standard_normal() * RAIN_TIMING_SD_120H))
                src = np.clip(rows + np.round(shift * lead / 120.0).astype(int), 0,
                              len(index) - 1)
                val = arr[v][src] * np.exp(sd * 0.5 * ar1(rng, (len(rows), len(units)))
                                           - 0.5 * (0.5 * sd) ** 2)
            else:
                val = arr[v][rows] + sd * scale[v][None, :] * ar1(rng, (len(rows), len(units)))
            cols[v] = val.reshape(-1)
        return pd.DataFrame(cols)

    return CycleMet(load, cycle_hours=cycle_hours, latency_h=latency_h, max_age_h=max_age_h)
