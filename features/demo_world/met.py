"""Synthetic meteorology of the demo world: a plausible Sichuan basin, hourly, ERA5 names and units.

Every field is an explicit function of (time, point): a handful of hourly *latent* series
(synoptic indices — stagnation, temperature and pressure anomalies, wind anomalies, cloud,
moisture, frontal passages — plus the amplitudes of a few smooth spatial modes) drawn once per
seed on a fixed hourly axis (:data:`EPOCH` … :data:`HORIZON`), combined with static fields of the
point (terrain height, a basin mask, the lag of synoptic systems that cross the domain from the
north-east) and the seasonal / diurnal / solar cycles. Because of that:

* the gridded analysis and the unit-point series are the *same function* evaluated at different
  points, so :func:`evaluate_points` at a unit's point gives exactly what a grid at that point
  would hold (the unit-level path is the point sample of the field, not an interpolation);
* a forecast cycle is the same function with perturbed latents (AR(1) errors whose variance grows
  linearly with lead, and a timing error of fronts that grows with lead), deterministic from
  ``(seed, cycle time)``;
* worlds with the same seed but a different length share their weather where they overlap.

Variables (ERA5 short names): ``t2m`` K, ``d2m`` K, ``u10`` ``v10`` m s-1, ``sp`` Pa,
``tp`` mm h-1 (hour ending at the time stamp), ``blh`` m, ``ssrd`` W m-2 (mean over the hour
ending at the time stamp), ``tcc`` 0–1.

Everything here is synthetic (``source: synthetic demo``): plausible, not real.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.features.readers.met import ERA5_ATTRS
from scipy.signal import fftconvolve, lfilter

__all__ = [
    "EPOCH",
    "HORIZON",
    "MET_VARS",
    "VAR_ATTRS",
    "LATITUDES",
    "LONGITUDES",
    "Points",
    "grid_points",
    "points_from_latlon",
    "hour_index",
    "latents",
    "evaluate_points",
    "analysis_at_points",
    "forecast_errors",
    "forecast_at_points",
    "grid_dataset",
    "elevation",
    "basin_mask",
]

#: First hour of the latent weather axis (UTC). Worlds must lie inside [EPOCH, HORIZON − 8 days].
EPOCH = pd.Timestamp("2015-01-01T00:00", tz="UTC")
#: End of the latent weather axis (UTC, exclusive).
HORIZON = pd.Timestamp("2031-01-01T00:00", tz="UTC")
_N_HOURS = int((HORIZON - EPOCH) / pd.Timedelta(hours=1))

#: Grid: 101–111°E, 26–34°N at 0.5° (degrees).
LONGITUDES = np.round(np.arange(101.0, 111.0 + 1e-9, 0.5), 3)
LATITUDES = np.round(np.arange(34.0, 26.0 - 1e-9, -0.5), 3)  # north to south, like ERA5

MET_VARS: tuple[str, ...] = ("t2m", "d2m", "u10", "v10", "sp", "tp", "blh", "ssrd", "tcc")

#: CF attributes of every variable (units in UDUNITS spelling): the readers' ERA5 attributes.
VAR_ATTRS: dict[str, dict[str, str]] = ERA5_ATTRS

# ---------------------------------------------------------------------------------------------
# Latent series: name -> (e-folding time, h; lagged by the synoptic lag of the point;
#                         forecast error sd at lead 0 and at 120 h, as fractions of the series' sd)
# The error variance grows linearly with lead between the two. Rain, wind and boundary-layer
# latents carry larger errors (already at short leads) than the smooth synoptic ones, as in NWP.
# ---------------------------------------------------------------------------------------------
_LATENT_SPECS: dict[str, tuple[float, bool, float, float]] = {
    "stag": (80.0, True, 0.10, 0.85),   # stagnation (high pressure, inversion); >0 = stagnant
    "tanom": (48.0, True, 0.10, 0.75),  # synoptic temperature anomaly
    "pan": (72.0, True, 0.08, 0.75),    # synoptic pressure anomaly
    "uan": (30.0, True, 0.30, 1.10),    # synoptic wind anomalies
    "van": (30.0, True, 0.30, 1.10),
    "cloud": (24.0, True, 0.35, 1.00),  # cloudiness
    "wet": (14.0, True, 0.70, 1.40),    # large-scale moisture / rain
    "wet1": (10.0, False, 0.80, 1.40),  # amplitudes of rain spatial modes
    "wet2": (10.0, False, 0.80, 1.40),
    "t1": (72.0, False, 0.10, 0.60),    # temperature spatial modes
    "t2": (72.0, False, 0.10, 0.60),
    "w1": (18.0, False, 0.30, 1.10),    # wind spatial modes
    "w2": (18.0, False, 0.30, 1.10),
    "bln": (6.0, False, 1.50, 2.50),    # boundary-layer noise (BLH is poorly forecast)
}
_LATENT_NAMES = tuple(_LATENT_SPECS)
#: Standard deviation of the front timing error at 120 h lead, hours.
FRONT_TIMING_SD_120H = 9.0
#: Speed at which synoptic systems cross the domain from the north-east, km h-1.
SYNOPTIC_SPEED_KMH = 35.0


def hour_index(times: pd.DatetimeIndex | pd.Timestamp | np.ndarray) -> np.ndarray:
    """Whole hours since :data:`EPOCH` of tz-aware (or naive UTC) times, int64."""
    idx = pd.DatetimeIndex(np.atleast_1d(times)) if not isinstance(times, pd.DatetimeIndex) else times
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    h = (idx.tz_convert("UTC") - EPOCH) // pd.Timedelta(hours=1)
    h = np.asarray(h, dtype=np.int64)
    if h.size and (h.min() < 0 or h.max() >= _N_HOURS):
        raise ValueError(f"demo world times must lie in [{EPOCH}, {HORIZON}); got "
                         f"{idx.min()} … {idx.max()}")
    return h


def _times_from_index(h: np.ndarray) -> pd.DatetimeIndex:
    return EPOCH + pd.to_timedelta(np.asarray(h, dtype=np.int64), unit="h")


def _ar1(rng: np.random.Generator, n: int, tau: float) -> np.ndarray:
    """Unit-variance AR(1) series of length n with e-folding time ``tau`` (steps)."""
    phi = np.exp(-1.0 / tau)
    eps = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    x, _ = lfilter([1.0], [1.0, -phi], eps, zi=[rng.standard_normal() * phi])
    return x


def _season_cos(doy: np.ndarray) -> np.ndarray:
    """+1 in mid-January (winter) … −1 in mid-July (summer); doy = day of year (fractional)."""
    return np.cos(2 * np.pi * (doy - 17.0) / 365.25)


@lru_cache(maxsize=4)
def latents(seed: int) -> dict[str, np.ndarray]:
    """The hourly latent series of a seed on the fixed axis EPOCH … HORIZON (float64, unitless).

    Each series uses its own random generator (seed, series number), so the values never depend
    on the length of the world asked for.
    """
    out: dict[str, np.ndarray] = {}
    hours = np.arange(_N_HOURS)
    doy = ((hours / 24.0) + EPOCH.day_of_year - 1) % 365.25
    sc = _season_cos(doy)
    for k, (name, (tau, _lag, _e0, _e120)) in enumerate(_LATENT_SPECS.items()):
        rng = np.random.default_rng([seed, 101, k])
        out[name] = _ar1(rng, _N_HOURS, tau)
    # seasonal shifts: winters more stagnant and more often cloudy; summers moister
    sc_stag = np.cos(2 * np.pi * (doy - 5.0) / 365.25)  # stagnation peaks around New Year
    out["stag"] = 0.85 * out["stag"] + 0.8 * np.clip(sc_stag, 0, None) ** 2 - 0.2
    # Frontal passages (cold-air intrusions from the north-east): an event process, one draw per
    # day (prefix-stable), rate ~1 per 5 days in the cool season, ~1 per 9 days in summer.
    rng = np.random.default_rng([seed, 202])
    n_days = _N_HOURS // 24
    u = rng.random((n_days, 3))
    day_sc = sc[::24][:n_days]
    rate = 0.16 + 0.05 * day_sc
    impulses = np.zeros(_N_HOURS)
    ev = np.flatnonzero(u[:, 0] < rate)
    impulses[ev * 24 + (u[ev, 1] * 24).astype(int)] = 0.5 + 1.3 * u[ev, 2]
    tau = np.arange(0, 120.0)
    kernel = (tau / 9.0) * np.exp(1 - tau / 9.0)  # peaks at 9 h, decays over ~2 days
    out["front"] = fftconvolve(impulses, kernel)[:_N_HOURS].clip(0, None)
    # after a front the air is fresh: stagnation is reset for a while
    out["stag"] = out["stag"] - 1.2 * fftconvolve(impulses, np.exp(-tau / 48.0))[:_N_HOURS]
    for v in out.values():
        v.setflags(write=False)
    return out


# ---------------------------------------------------------------------------------------------
# Static fields
# ---------------------------------------------------------------------------------------------
def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def elevation(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Synthetic terrain height, m: basin floor ~400 m, the western (Tibetan) rim rising to
    ~3800 m, the northern (Qinling–Daba) and south-eastern rims to 1–2 km."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    z = 380.0
    z = z + 3400.0 * _sig((102.6 - lon) / 0.25)
    z = z + 1300.0 * _sig((lat - 32.2) / 0.35)
    z = z + 800.0 * _sig((lon - 108.3) / 0.35) + 600.0 * _sig((28.2 - lat) / 0.3)
    z = z + 150.0 * np.sin(lon * 3.1) * np.cos(lat * 2.7)  # hills
    return np.maximum(z, 150.0)


def basin_mask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """1 inside the Sichuan basin (roughly 103.5–108°E, 28.5–31.5°N), 0 outside, smooth edges."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    w = 0.22
    return (_sig((lon - 103.5) / w) * _sig((108.1 - lon) / w)
            * _sig((lat - 28.5) / w) * _sig((31.6 - lat) / w))


@dataclass(frozen=True)
class Points:
    """Static description of the points a field is evaluated at (all arrays of shape (P,)).

    Attributes
    ----------
    lat, lon : ndarray
        Degrees north / east.
    z : ndarray
        Terrain height, m.
    basin : ndarray
        Basin mask, 0–1.
    lag : ndarray of int
        Hours by which synoptic systems (entering from the north-east) reach the point.
    modes : ndarray, shape (4, P)
        Smooth spatial patterns (unitless) whose amplitudes are latent series.
    """

    lat: np.ndarray
    lon: np.ndarray
    z: np.ndarray
    basin: np.ndarray
    lag: np.ndarray
    modes: np.ndarray

    @property
    def size(self) -> int:
        """Number of points."""
        return int(self.lat.size)


def points_from_latlon(lat: np.ndarray, lon: np.ndarray) -> Points:
    """Static fields (terrain, basin mask, synoptic lag, spatial modes) at points (degrees)."""
    lat = np.asarray(lat, dtype=float).ravel()
    lon = np.asarray(lon, dtype=float).ravel()
    # distance (km) travelled from the north-east corner along the NE→SW direction
    dx = (111.0 - lon) * 111.0 * np.cos(np.deg2rad(30.0))
    dy = (34.0 - lat) * 111.0
    dist = (dx * 0.6 + dy * 0.8)
    lag = np.round(dist / SYNOPTIC_SPEED_KMH).astype(np.int64)
    modes = np.stack([
        np.sin(2 * np.pi * (lon - 101.0) / 5.0) * np.cos(2 * np.pi * (lat - 26.0) / 6.0),
        np.cos(2 * np.pi * (lon - 101.0) / 7.0) * np.sin(2 * np.pi * (lat - 26.0) / 5.0),
        (lon - 106.0) / 4.0,
        (lat - 30.0) / 3.0,
    ])
    return Points(lat=lat, lon=lon, z=elevation(lat, lon), basin=basin_mask(lat, lon), lag=lag,
                  modes=modes)


@lru_cache(maxsize=1)
def grid_points() -> Points:
    """Points of the 0.5° grid, flattened latitude-major (LATITUDES × LONGITUDES)."""
    lon2, lat2 = np.meshgrid(LONGITUDES, LATITUDES)
    return points_from_latlon(lat2.ravel(), lon2.ravel())


# ---------------------------------------------------------------------------------------------
# The field function
# ---------------------------------------------------------------------------------------------
def _gather(seed: int, h: np.ndarray, pts: Points,
            err: dict[str, np.ndarray] | None = None,
            front_shift: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Latent values at rows ``h`` (R,) and points (P,) → arrays (R, P); optional errors (R,)."""
    lat = latents(seed)
    out: dict[str, np.ndarray] = {}
    hl = h[:, None] - pts.lag[None, :]
    for name, (_tau, lagged, _e0, _e120) in _LATENT_SPECS.items():
        s = lat[name]
        v = s[hl] if lagged else np.broadcast_to(s[h][:, None], (h.size, pts.size))
        if err is not None:
            v = v + err[name][:, None]
        out[name] = v
    hf = hl if front_shift is None else hl - front_shift[:, None]
    out["front"] = lat["front"][np.clip(hf, 0, _N_HOURS - 1)]
    return out


def _solar(h_mid: np.ndarray, pts: Points) -> np.ndarray:
    """Cosine of the solar zenith angle at fractional hours since EPOCH (R,) and points → (R, P)."""
    days = h_mid / 24.0
    doy = (days + EPOCH.day_of_year - 1) % 365.25
    decl = np.deg2rad(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.25)
    solar_hour = (h_mid[:, None] % 24.0) + pts.lon[None, :] / 15.0
    ha = np.deg2rad(15.0 * (solar_hour - 12.0))
    phi = np.deg2rad(pts.lat)[None, :]
    return np.sin(phi) * np.sin(decl)[:, None] + np.cos(phi) * np.cos(decl)[:, None] * np.cos(ha)


def evaluate_points(seed: int, h: np.ndarray, pts: Points,
                    err: dict[str, np.ndarray] | None = None,
                    front_shift: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Evaluate the meteorology at hours ``h`` (int, since EPOCH; shape (R,)) and points.

    Parameters
    ----------
    seed : int
        World seed.
    h : ndarray of int
        Valid hours since :data:`EPOCH` (UTC).
    pts : Points
        Where to evaluate.
    err : dict of ndarray (R,), optional
        Additive perturbations of the latent series (forecast errors), unitless.
    front_shift : ndarray of int (R,), optional
        Timing error of frontal passages, hours (forecast).

    Returns
    -------
    dict of ndarray (R, P), float32
        ``t2m`` K, ``d2m`` K, ``u10`` ``v10`` m s-1, ``sp`` Pa, ``tp`` mm h-1, ``blh`` m,
        ``ssrd`` W m-2, ``tcc`` 0–1.
    """
    h = np.asarray(h, dtype=np.int64)
    L = _gather(seed, h, pts, err, front_shift)
    doy = ((h / 24.0) + EPOCH.day_of_year - 1) % 365.25
    sc = _season_cos(doy)[:, None]           # +1 winter, −1 summer
    win = (1 + sc) / 2                        # 1 in mid-winter, 0 in mid-summer
    summ = 1 - win
    b = pts.basin[None, :]
    z = pts.z[None, :]
    lat = pts.lat[None, :]
    lon = pts.lon[None, :]
    m = pts.modes
    solar_hour = (h[:, None] % 24) + lon / 15.0
    diurnal = np.cos(2 * np.pi * (solar_hour - 14.5) / 24.0)  # +1 at 14:30 solar time
    stag = np.clip(L["stag"], -3, 4)
    front = L["front"]

    # cloud cover: overcast basin winters (stagnant winters stay grey), sunnier summer highs
    logit = (0.2 + 1.1 * win * b + 0.3 * win - 0.2 * summ * b
             + 1.1 * L["cloud"] + 1.6 * front + 0.5 * L["wet"]
             + stag * (0.35 * win * b - 0.75 * summ))
    tcc = _sig(logit)

    # solar radiation: mean over the hour ending at the stamp
    cosz = np.clip(_solar(h - 0.5, pts), 0, None)
    transm = 0.76 + 0.06 * np.clip((z - 400) / 3000, 0, 1)
    ssrd = 1361.0 * cosz * transm * (1 - 0.75 * tcc**2.2)

    # temperature
    t_season = 289.6 - 10.2 * np.cos(2 * np.pi * (doy - 20.0) / 365.25)[:, None]
    t2m = (t_season - 0.0065 * (z - 450.0) - 0.55 * (lat - 30.0) + 1.8 * b * win + 0.6 * b
           + (1.6 + 3.6 * (1 - tcc)) * diurnal
           + (1.8 + 0.8 * win) * L["tanom"] + 1.4 * stag * summ + 0.4 * stag * win
           - 3.5 * front + 1.0 * L["t1"] * m[2] + 1.0 * L["t2"] * m[3])

    # wind: weak in the basin, stronger on the rim; fronts bring north-easterlies
    kw = 0.62 + 1.7 * (1 - b) + 0.3 * np.clip((z - 1000) / 2500, 0, 1)
    damp = np.exp(-0.24 * stag) * (1.0 + 0.3 * np.exp(-(((doy - 105.0) / 35.0) ** 2)))[:, None]
    dmod = 1 + 0.3 * diurnal
    u0 = -0.25 * win + 0.15 * summ
    v0 = -0.35 * win + 0.45 * summ
    u10 = (kw * damp * dmod * (u0 + 0.9 * L["uan"] + 0.45 * (L["w1"] * m[0] + L["w2"] * m[1]))
           - 1.9 * front * (0.6 + 0.6 * (1 - b)))
    v10 = (kw * damp * dmod * (v0 + 0.9 * L["van"] + 0.45 * (L["w2"] * m[0] - L["w1"] * m[1]))
           - 2.5 * front * (0.6 + 0.6 * (1 - b)))
    ws = np.hypot(u10, v10)

    # precipitation: large-scale moisture + patchy modes + fronts; wetter summers, wet western
    # rim (Ya'an, the "rain city"), night-time maximum in the basin (巴山夜雨)
    rindex = (L["wet"] + 0.55 * (L["wet1"] * m[0] + L["wet2"] * m[1]) + 1.3 * front
              + 0.45 * summ - 0.9 * win
              + 0.45 * np.exp(-(((doy - 268.0) / 28.0) ** 2))[:, None]  # 华西秋雨 autumn rains
              + 0.7 * _sig((103.6 - lon) / 0.3) * _sig((lat - 28.8) / 0.4)
              + 0.25 * b * np.cos(2 * np.pi * (solar_hour - 2.0) / 24.0)
              - 0.35 * np.clip(stag, 0, None))
    thr = 1.75
    tp = (0.35 + 1.6 * summ) * np.clip(rindex - thr, 0, None) ** 1.4

    # dew point: humid basin, drier afternoons and rim, saturated when raining
    dd = (2.4 + 1.8 * (1 - b) + 1.2 * summ + 2.2 * np.clip(diurnal, 0, None) * (1 - 0.6 * tcc)
          - 0.5 * np.clip(stag, 0, None) * win * b + 0.6 * L["tanom"] * 0.5)
    dd = np.where(tp > 0.05, 0.6, np.clip(dd, 0.3, None))
    d2m = t2m - dd

    # boundary layer: mechanical + convective (lagging the sun by ~1.5 h); shallow basin nights
    cosz_lag = np.clip(_solar(h - 1.5, pts), 0, None)
    hconv = ((420.0 + 1000.0 * summ**0.6) * (1 - 0.55 * tcc) * cosz_lag**0.9 * (1.0 + 0.5 * (1 - b))
             * np.exp(-0.18 * stag))
    hmech = 40.0 + 105.0 * ws
    hres = 60.0 + 110.0 * summ  # warm nights stay more mixed (residual convection, urban heat)
    blh = np.sqrt(hmech**2 + hconv**2 + hres**2) * np.exp(0.15 * L["bln"]) + 350.0 * front
    blh = np.clip(blh, 50.0, 4000.0)

    # surface pressure: high in winter, synoptic highs, frontal surges
    p_sl = 101325.0 + 700.0 * sc + 450.0 * L["pan"] + 250.0 * stag + 500.0 * front
    sp = p_sl * np.exp(-z / 8200.0) - 60.0 * diurnal

    out = {"t2m": t2m, "d2m": d2m, "u10": u10, "v10": v10, "sp": sp, "tp": tp, "blh": blh,
           "ssrd": ssrd, "tcc": tcc}
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def analysis_at_points(seed: int, times: pd.DatetimeIndex, pts: Points) -> dict[str, np.ndarray]:
    """The analysis (truth) at hourly ``times`` (tz-aware) and points: dict of (T, P) arrays."""
    return evaluate_points(seed, hour_index(times), pts)


def forecast_errors(seed: int, ref_h: int, n_steps: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Perturbations of the latent series for the cycle at ``ref_h`` (hours since EPOCH).

    Each latent gets an AR(1) error in lead (e-folding min(24 h, twice the series' own)) whose
    variance grows linearly with lead from ``e0²`` at lead 0 to ``e120²`` at 120 h (fractions of
    the series' variance, :data:`_LATENT_SPECS`). Fronts get a timing error growing linearly with lead
    (sd :data:`FRONT_TIMING_SD_120H` h at 120 h). Deterministic from (seed, ref_h).

    Returns
    -------
    err : dict of ndarray (n_steps,)
    front_shift : ndarray of int (n_steps,), hours
    """
    rng = np.random.default_rng([seed, 303, int(ref_h)])
    steps = np.arange(n_steps, dtype=float)
    err = {}
    for name, (tau, _lag, e0, e120) in _LATENT_SPECS.items():
        sd = np.sqrt(e0**2 + (e120**2 - e0**2) * steps / 120.0)
        err[name] = sd * _ar1(rng, n_steps, min(24.0, 2 * tau))
    front_shift = np.round(rng.standard_normal() * FRONT_TIMING_SD_120H * steps / 120.0)
    return err, front_shift.astype(np.int64)


def forecast_at_points(seed: int, ref_h: int, n_steps: int, pts: Points) -> dict[str, np.ndarray]:
    """Forecast of the cycle at ``ref_h`` for steps 0…n_steps−1 at points: dict of (S, P)."""
    err, fs = forecast_errors(seed, ref_h, n_steps)
    h = ref_h + np.arange(n_steps, dtype=np.int64)
    return evaluate_points(seed, h, pts, err, fs)


def grid_dataset(fields: dict[str, np.ndarray], times: pd.DatetimeIndex, title: str) -> xr.Dataset:
    """Wrap (T, P_grid) fields as a CF Dataset ``(time, latitude, longitude)`` (float32).

    Parameters
    ----------
    fields : dict of ndarray (T, nlat*nlon)
        Output of :func:`evaluate_points` on :func:`grid_points`.
    times : DatetimeIndex
        Valid times (tz-aware); stored as naive UTC.
    title : str
        Dataset title.
    """
    nlat, nlon = LATITUDES.size, LONGITUDES.size
    t = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    data_vars = {}
    for v in MET_VARS:
        arr = fields[v].reshape(len(t), nlat, nlon)
        data_vars[v] = xr.Variable(("time", "latitude", "longitude"), arr, VAR_ATTRS[v])
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", t.values, {"standard_name": "time", "long_name": "valid time (UTC)"}),
            "latitude": ("latitude", LATITUDES, {"units": "degrees_north",
                                                 "standard_name": "latitude"}),
            "longitude": ("longitude", LONGITUDES, {"units": "degrees_east",
                                                    "standard_name": "longitude"}),
        },
        attrs={"title": title, "source": "synthetic demo", "Conventions": "CF-1.8",
               "institution": "airwarn demo world (synthetic; not real data)"},
    )
    return ds
