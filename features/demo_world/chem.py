"""Reduced-form air-pollution model of the demo world: one well-mixed box per forecast unit.

Per unit and hour (explicit exponential integrator, 1-h step), for seven tracers — primary
PM2.5, secondary PM2.5, coarse PM (PM10−PM2.5), NOx (as NO2 mass), SO2, CO and odd oxygen
Ox = O3 + NO2 — the concentration ``C`` (µg m-3; CO mg m-3) follows

    dC/dt = E·(1000 m / h) + k_adv·(C_upwind − C) + k_ex·(C_bg − C) + k_ent·(C_res − C)
            − (k_dep + k_wet + k_chem)·C + P_chem

* **emissions** ``E`` (µg m-3 h-1 into a 1000-m layer) with sector diurnal and weekly cycles,
  the Spring Festival dip and fireworks night (dates: :data:`SPRING_FESTIVAL`),
  more residential burning in winter, cement 错峰生产 (staggered production) from 15 Nov to
  15 Mar, and an elevated-source (高架源) share that is emitted above the night-time boundary layer
  and only mixed down when the day-time layer grows past the stacks;
* **dilution** by the boundary-layer height ``h`` (``blh``) and ventilation by the wind
  (``k_adv = |V| / L``), entrainment of the residual layer when ``h`` grows, exchange with the free
  troposphere;
* **transport**: ``C_upwind`` is the mean of the neighbouring units (``region.neighbours``)
  weighted by how directly the wind blows from each of them (bearing between the unit points),
  plus a little regional background — across the provincial border as anywhere else;
* **wet removal** by rain (``tp``), dry deposition through ``h``;
* **secondary PM** from SO2 and NOx, fast in humid, cold, stagnant air (winter episodes);
* **O3 photochemistry**: Ox production from sunlight (``ssrd``), temperature and precursors,
  partitioned into O3 and NO2 by the photostationary state each hour, so that NO titrates O3 at
  night (NO2 up, O3 down) and O3 peaks in the mid-afternoon.

All numbers below are synthetic calibration constants of the demo world (chosen so that the
world's statistics resemble the published climatology of the basin: PM2.5 monthly means of
~90–100 µg/m³ in January and ~35–40 in July in Chengdu and central Chongqing, O3 highest in
May–August); they are not an emission inventory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "TRACERS",
    "EMISSION_SCALE",
    "VENTILATION_FACTOR",
    "ELEVATED_SHARE_DEFAULT",
    "STAGGERED_PRODUCTION",
    "SPRING_FESTIVAL",
    "UnitParams",
    "unit_params",
    "emission_factors",
    "simulate",
]

#: Tracers of the box model (µg m-3 except co, mg m-3).
TRACERS: tuple[str, ...] = ("ppm", "spm", "cpm", "nox", "so2", "co", "ox")

#: Relative emission intensity per unit (1 = a typical prefecture city). Synthetic; chosen after
#: the qualitative ranking of reported winter PM2.5 (Chengdu, Zigong, Yibin, Dazhou, Neijiang and
#: central Chongqing dirtier; Ya'an, Guangyuan, Bazhong and the southern Chongqing hills cleaner).
EMISSION_SCALE: dict[str, float] = {
    "chengdu": 1.30, "cq_central": 1.02, "zigong": 1.04, "yibin": 1.12, "dazhou": 1.80,
    "neijiang": 1.08, "luzhou": 1.02, "leshan": 1.02, "meishan": 0.98, "deyang": 1.00,
    "mianyang": 0.90, "suining": 0.88, "ziyang": 0.90, "nanchong": 0.95, "guangan": 0.88,
    "bazhong": 0.72, "guangyuan": 0.62, "yaan": 0.42,
    "jiangjin": 0.92, "hechuan": 0.86, "yongchuan": 0.90, "bishan": 0.82, "rongchang": 0.84,
    "dazu": 0.82, "tongliang": 0.82, "tongnan": 0.78, "fuling": 0.90, "changshou": 0.95,
    "nanchuan": 0.70, "qijiang": 0.82, "dianjiang": 0.78,
}
#: Local ventilation factor per unit (multiplies wind / box length): sheltered valley cities
#: (Dazhou in its Zhou-river valley, Zigong, Yibin) < 1 < exposed rim cities (Ya'an's rainy
#: gap, Guangyuan). Synthetic; default 1.
VENTILATION_FACTOR: dict[str, float] = {
    "dazhou": 0.62, "zigong": 0.8, "yibin": 0.85, "chengdu": 0.92, "neijiang": 0.9,
    "yaan": 1.35, "guangyuan": 1.3, "bazhong": 1.1,
}
#: Fraction of industrial emissions released from elevated stacks (高架源) when no emergency
#: reduction list is configured. Synthetic default: 0.30 for the heavy-industry cities, else 0.18.
ELEVATED_SHARE_DEFAULT: dict[str, float] = {
    u: 0.30 for u in ("zigong", "yibin", "leshan", "dazhou", "luzhou", "changshou", "fuling",
                      "guangan", "deyang", "cq_central", "neijiang")
}
_ELEVATED_OTHER = 0.18
#: Cement staggered production (错峰生产) window (month, day) inclusive and the factor applied to
#: industrial emissions inside it. Synthetic convention for the demo world (the real schedules
#: are set each year by the provinces; 川渝 coordinated cement 错峰, domain-spec T2.4).
STAGGERED_PRODUCTION = {"start": (11, 15), "end": (3, 15), "industry_factor": 0.78}
#: Spring Festival (春节, 正月初一) by Gregorian year, from the Chinese lunar calendar (the same
#: dates as the State Council holiday schedules; checked against ``features.calendar.
#: spring_festival`` in the tests). Fireworks night is the eve (除夕), the day before.
SPRING_FESTIVAL: dict[int, tuple[int, int]] = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
    2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23),
}
#: Spring Festival: industry / traffic factors from the eve −3 days to +6 days (local dates).
SPRING_FESTIVAL_FACTORS = {"industry": 0.55, "traffic": 0.70, "residential": 1.10}
#: Length scale of a unit box for ventilation, km.
BOX_KM = 40.0

# species × sector shares (industry, traffic, residential/other) of each unit's emissions
_SECTOR_SHARES = {
    "ppm": (0.45, 0.20, 0.35),
    "cpm": (0.40, 0.25, 0.35),
    "nox": (0.45, 0.45, 0.10),
    "so2": (0.85, 0.00, 0.15),
    "co": (0.40, 0.35, 0.25),
}
# emission rate at scale 1 (µg m-3 h-1 into a 1000-m layer; co mg m-3 h-1)
_BASE_RATE = {"ppm": 0.425, "cpm": 1.5, "nox": 1.9, "so2": 0.32, "co": 0.008}
# background (clean inflow / free troposphere) concentrations
_BG = {"ppm": 8.0, "spm": 6.0, "cpm": 8.0, "nox": 4.0, "so2": 2.0, "co": 0.25}
# dry deposition velocities, m h-1
_VD = {"ppm": 1.8, "spm": 1.8, "cpm": 18.0, "nox": 4.0, "so2": 20.0, "co": 0.0, "ox": 6.0}
# wet scavenging coefficients at 1 mm h-1, h-1
_WET = {"ppm": 0.30, "spm": 0.35, "cpm": 0.45, "nox": 0.05, "so2": 0.20, "co": 0.0, "ox": 0.0}


@dataclass(frozen=True)
class UnitParams:
    """Static parameters of the unit boxes (arrays of shape (U,) in ``unit_ids`` order).

    Attributes
    ----------
    unit_ids : list of str
    scale : ndarray
        Emission intensity, relative.
    elevated : ndarray
        Elevated-source share of industrial emissions, 0–1.
    voc : ndarray
        Relative VOC reactivity (scales Ox production).
    vent : ndarray
        Local ventilation factor (sheltered valleys < 1 < exposed rim), multiplies |V| / L.
    neighbours : ndarray of int, shape (U, N)
        Neighbour indices, padded with −1.
    nb_ex, nb_ey : ndarray, shape (U, N)
        Unit vector from each neighbour towards the unit (east, north components).
    nb_dist : ndarray, shape (U, N)
        Distance between the unit points, km.
    """

    unit_ids: list[str]
    scale: np.ndarray
    elevated: np.ndarray
    voc: np.ndarray
    vent: np.ndarray
    neighbours: np.ndarray
    nb_ex: np.ndarray
    nb_ey: np.ndarray
    nb_dist: np.ndarray


def _elevated_from_list(path: Path, unit_ids: list[str],
                        min_stack_height_m: float) -> dict[str, float] | None:
    """Per-unit elevated-source share from the emergency reduction list, if configured.

    For each unit with a city total in the list: (baseline SO2 + NOx + PM of the production
    units that are elevated — ``is_elevated``, else stack ≥ ``min_stack_height_m``) / (the city's
    total SO2 + NOx + PM), i.e. the share of all emissions, divided by the industrial share of
    PM (0.45) to express it as a share of industrial emissions; clipped to 0.05–0.8. Emissions
    in t/d. ``None`` when the file does not exist; a file that does not validate is reported
    with a warning naming it and the defaults are used.
    """
    if not path.exists():
        return None
    from airwarn.configs.response_schema import load_emergency_list
    from airwarn.configs.schema import ConfigError

    try:
        el = load_emergency_list(path)
    except ConfigError as exc:
        warnings.warn(f"demo world: {path} is not usable ({exc}); default elevated-source "
                      f"shares used", stacklevel=2)
        return None
    species = ("so2", "nox", "pm")
    elev: dict[str, float] = {}
    for e in el.enterprises:
        for pu in e.production_units:
            is_el = pu.is_elevated if pu.is_elevated is not None else (
                pu.stack_height_m >= min_stack_height_m)
            if is_el:
                elev[e.unit] = elev.get(e.unit, 0.0) + sum(
                    float(getattr(pu.emissions, k) or 0.0) for k in species)
    out: dict[str, float] = {}
    for c in el.cities:
        if c.unit not in unit_ids:
            continue
        tot = sum(float(getattr(c.total_emissions, k) or 0.0) for k in species)
        if tot > 0:
            share = elev.get(c.unit, 0.0) / tot / _SECTOR_SHARES["ppm"][0]
            out[c.unit] = float(np.clip(share, 0.05, 0.8))
    return out or None


def _haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dphi, dl = p2 - p1, np.deg2rad(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def unit_params(region, unit_ids: list[str] | None = None,
                emergency_list: Path | None = None,
                min_stack_height_m: float = 45.0) -> UnitParams:
    """Build the box parameters for the units of a region (``configs.schema.Region``).

    Parameters
    ----------
    region : Region
    unit_ids : list of str, optional
        Subset / order of units (default: all units of the region). Neighbours outside the
        subset are ignored (their inflow counts as background).
    emergency_list : path, optional
        ``configs/response/emergency_list.yaml``; when it exists, the elevated-source shares of
        the units with a city total come from it (``_elevated_from_list``), the others from
        :data:`ELEVATED_SHARE_DEFAULT`.
    min_stack_height_m : float
        Stack height from which a source is elevated (高架源), m (``settings.elevated_min_stack_height_m``).
    """
    ids = list(unit_ids or region.unit_ids)
    index = {u: i for i, u in enumerate(ids)}
    from_list = (_elevated_from_list(Path(emergency_list), ids, min_stack_height_m)
                 if emergency_list else None)
    n = max(len(region.neighbours(u)) for u in ids)
    nb = -np.ones((len(ids), max(n, 1)), dtype=np.int64)
    ex = np.zeros(nb.shape)
    ey = np.zeros(nb.shape)
    dist = np.ones(nb.shape)
    for i, u in enumerate(ids):
        pu = region.unit(u).point
        k = 0
        for v in region.neighbours(u):
            if v not in index:
                continue
            pv = region.unit(v).point
            dx = (pu.lon - pv.lon) * np.cos(np.deg2rad((pu.lat + pv.lat) / 2))
            dy = pu.lat - pv.lat
            norm = np.hypot(dx, dy) or 1.0
            nb[i, k] = index[v]
            ex[i, k], ey[i, k] = dx / norm, dy / norm
            dist[i, k] = _haversine_km(pu.lat, pu.lon, pv.lat, pv.lon)
            k += 1
    elevated = np.array([
        (from_list or {}).get(u, ELEVATED_SHARE_DEFAULT.get(u, _ELEVATED_OTHER)) for u in ids])
    scale = np.array([EMISSION_SCALE.get(u, 0.85) for u in ids])
    voc = 0.8 + 0.25 * scale
    vent = np.array([VENTILATION_FACTOR.get(u, 1.0) for u in ids])
    return UnitParams(unit_ids=ids, scale=scale, elevated=elevated, voc=voc, vent=vent,
                      neighbours=nb,
                      nb_ex=ex, nb_ey=ey, nb_dist=dist)


def _in_window(month: np.ndarray, day: np.ndarray, start: tuple[int, int],
               end: tuple[int, int]) -> np.ndarray:
    md = month * 100 + day
    s, e = start[0] * 100 + start[1], end[0] * 100 + end[1]
    return (md >= s) | (md <= e) if s > e else (md >= s) & (md <= e)


def emission_factors(times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Sector activity factors (unitless, ~1 on average) at hourly UTC times.

    Returns
    -------
    dict
        ``industry``, ``traffic``, ``residential`` (T,) factors, and ``fireworks`` (T,) — the
        fireworks PM2.5 source (µg m-3 h-1 into 1000 m at scale 1) on Spring Festival eve night
        and, weaker, on the Lantern Festival.
    """
    loc = pd.DatetimeIndex(times).tz_convert(LOCAL_TZ)
    lh = loc.hour.to_numpy() + 0.5
    wd = loc.day_of_week.to_numpy()
    month, day = loc.month.to_numpy(), loc.day.to_numpy()
    traffic = (0.45 + 0.75 * np.exp(-((lh - 8.0) / 1.5) ** 2) + 0.85 * np.exp(-((lh - 18.5) / 2.0) ** 2)
               + 0.45 * ((lh > 7) & (lh < 22)))
    traffic = traffic / 0.97
    traffic = traffic * np.where(wd >= 5, 0.9, 1.0)
    industry = np.where(wd == 6, 0.93, 1.0) * (0.95 + 0.1 * ((lh > 8) & (lh < 20)))
    residential = (0.55 + 0.9 * np.exp(-((lh - 12.0) / 1.5) ** 2) + 1.1 * np.exp(-((lh - 19.0) / 1.6) ** 2)
                   + 0.2 * ((lh > 7) & (lh < 23))) / 0.97
    doy = loc.day_of_year.to_numpy()
    residential = residential * (1.0 + 0.05 * np.cos(2 * np.pi * (doy - 15) / 365.25))
    sp = STAGGERED_PRODUCTION
    industry = industry * np.where(_in_window(month, day, sp["start"], sp["end"]),
                                   sp["industry_factor"], 1.0)
    # Spring Festival dip and fireworks (local dates)
    dates = loc.normalize().tz_localize(None)
    fireworks = np.zeros(len(loc))
    for year in sorted(set(loc.year)):
        if int(year) not in SPRING_FESTIVAL:
            continue
        sf = pd.Timestamp(int(year), *SPRING_FESTIVAL[int(year)])
        rel = ((dates - sf) / pd.Timedelta(days=1)).to_numpy()
        hol = (rel >= -4) & (rel <= 6)
        industry = np.where(hol, industry * SPRING_FESTIVAL_FACTORS["industry"], industry)
        traffic = np.where(hol, traffic * SPRING_FESTIVAL_FACTORS["traffic"], traffic)
        residential = np.where(hol, residential * SPRING_FESTIVAL_FACTORS["residential"], residential)
        # hours relative to midnight starting the Spring Festival day (eve night = −4 … +3 h)
        hrel = rel * 24 + lh - 0.5
        fireworks += 7.0 * np.exp(-((hrel - 0.5) / 1.8) ** 2)
        fireworks += 2.5 * np.exp(-((hrel - (14 * 24 + 20.5)) / 1.5) ** 2)  # 元宵 Lantern Festival
    return {"industry": industry, "traffic": traffic, "residential": residential,
            "fireworks": fireworks}


def _bg_ox(doy: np.ndarray) -> np.ndarray:
    """Regional background O3 (µg m-3): spring–early-summer maximum."""
    return 70.0 + 15.0 * np.cos(2 * np.pi * (doy - 140) / 365.25)


def simulate(met: dict[str, np.ndarray], times: pd.DatetimeIndex, params: UnitParams,
             spinup_hours: int = 0, extra_emissions: np.ndarray | None = None
             ) -> dict[str, np.ndarray]:
    """Run the unit box model over hourly meteorology.

    Parameters
    ----------
    met : dict of ndarray (T, U)
        ``t2m`` K, ``d2m`` K, ``u10`` ``v10`` m s-1, ``tp`` mm h-1, ``blh`` m, ``ssrd`` W m-2,
        in ``params.unit_ids`` order.
    times : DatetimeIndex
        Hourly UTC times (tz-aware), length T.
    params : UnitParams
    spinup_hours : int
        Leading hours used only to spin up the model (dropped from the output).
    extra_emissions : ndarray (T, U), optional
        Additional primary PM2.5 source, µg m-3 h-1 into a 1000-m layer (tests, scenarios).

    Returns
    -------
    dict of ndarray (T − spinup, U), float32
        ``pm25 pm10 o3 no2 so2`` µg m-3, ``co`` mg m-3, and the components ``pm25_primary``,
        ``pm25_secondary`` µg m-3.
    """
    T, U = met["blh"].shape
    times = pd.DatetimeIndex(times)
    f = emission_factors(times)
    doy = times.day_of_year.to_numpy().astype(float)
    fac = np.stack([f["industry"], f["traffic"], f["residential"]])  # (3, T)

    blh = met["blh"].astype(np.float64)
    h_eff = np.clip(blh, 60.0, 2500.0)
    ws = np.hypot(met["u10"], met["v10"]).astype(np.float64)
    tp = np.clip(met["tp"].astype(np.float64), 0, None)
    t2m = met["t2m"].astype(np.float64)
    es = lambda t: np.exp(17.62 * (t - 273.15) / (243.12 + t - 273.15))  # noqa: E731
    rh = np.clip(es(met["d2m"].astype(np.float64)) / es(t2m), 0, 1)
    ssrd = np.clip(met["ssrd"].astype(np.float64), 0, None)

    # mixing of elevated emissions into the surface layer
    f_down = np.clip((blh - 250.0) / 500.0, 0.0, 1.0)
    dil = 1000.0 / h_eff
    nt = len(TRACERS)
    E = np.zeros((T, nt, U))
    for k, name in enumerate(TRACERS):
        if name not in _SECTOR_SHARES:
            continue
        sh = _SECTOR_SHARES[name]
        base = _BASE_RATE[name] * params.scale[None, :]
        ind = sh[0] * fac[0][:, None]
        if name in ("ppm", "nox", "so2"):
            ind = ind * ((1 - params.elevated)[None, :] + params.elevated[None, :] * f_down)
        rate = base * (ind + sh[1] * fac[1][:, None] + sh[2] * fac[2][:, None])
        if name == "cpm":  # dust: more when dry and windy
            rate = rate * (0.6 + 0.5 * np.clip(ws - 1.0, 0, 4) / 2) * np.where(tp > 0.05, 0.3, 1.0)
        E[:, k, :] = rate * dil
    ip = TRACERS.index("ppm")
    E[:, ip, :] += f["fireworks"][:, None] * params.scale[None, :] ** 0.5 * dil
    iso2 = TRACERS.index("so2")
    E[:, iso2, :] += 0.4 * f["fireworks"][:, None] * dil
    # primary NO2 (≈20 % of NOx emissions, as NO2 mass) is odd oxygen
    E[:, TRACERS.index("ox"), :] = 0.2 * E[:, TRACERS.index("nox"), :]
    if extra_emissions is not None:
        E[:, ip, :] += extra_emissions * dil

    # loss rates (T, nt, U)
    k_adv = ws * 3.6 / BOX_KM * params.vent[None, :]
    blh_prev = np.vstack([blh[:1], blh[:-1]])
    k_ent = np.clip((blh - blh_prev) / blh, 0, 1)
    # exchange with the free troposphere, faster through a deep convective layer
    k_ex = (0.012 + 0.035 * np.clip(blh / 1500.0, 0, 1.5))[:, None, :]
    vd = np.array([_VD[n] for n in TRACERS])[None, :, None]
    wet = np.array([_WET[n] for n in TRACERS])[None, :, None]
    k_lin = vd / h_eff[:, None, :] + wet * (tp ** 0.7)[:, None, :]

    # chemistry rates
    rhf = np.clip((rh - 0.55) / 0.35, 0, 1) ** 1.5 * np.where(tp > 0.3, 0.3, 1.0)
    cold = np.clip((295.0 - t2m) / 15.0, 0, 1)
    sun = (ssrd / 800.0) ** 1.2
    k_so2 = 0.004 + 0.012 * rhf + 0.01 * sun       # SO2 → sulfate (aqueous + OH), h-1
    k_het = 0.003 + 0.010 * rhf * (0.3 + 0.7 * cold)  # NOx → nitrate, heterogeneous, h-1
    k_oh = 0.5 * sun                              # NOx → HNO3 by OH (day-time), h-1
    k_nox = k_het + k_oh
    # fraction of the nitrate that stays particulate (NH4NO3 evaporates when warm)
    y_no3 = 1.3 * (k_het + 0.5 * k_oh * np.clip((300.0 - t2m) / 15.0, 0.1, 1.0))
    k_age = 0.008 + 0.008 * rhf                    # primary → secondary organic (yield 0.5)
    fT = np.exp(0.045 * (t2m - 298.0))
    p_ox = 42.0 * (ssrd / 800.0) ** 1.8 * np.clip(fT, 0, 2.2) * params.voc[None, :]
    k_oxl = 0.10 * sun * np.clip(rh, 0.3, 1.0)  # O3 photolysis → OH (O1D + H2O), h-1
    Kps = 60.0 * ssrd / 800.0  # photostationary NO·O3/NO2, µg m-3

    # background per tracer (T, nt)
    bg = np.zeros((T, nt))
    for k, name in enumerate(TRACERS):
        bg[:, k] = _bg_ox(doy) if name == "ox" else _BG[name]

    # upwind weights (T, U, N) and the background weight
    nb = params.neighbours
    valid = nb >= 0
    u = met["u10"].astype(np.float64)[:, :, None]
    v = met["v10"].astype(np.float64)[:, :, None]
    cosang = (u * params.nb_ex[None] + v * params.nb_ey[None]) / np.maximum(ws[:, :, None], 1e-6)
    w = np.where(valid[None], np.clip(cosang, 0, None) ** 2 * (60.0 / params.nb_dist[None]), 0.0)
    w0 = 0.25
    wsum = w.sum(axis=2) + w0  # (T, U)
    nb_idx = np.where(valid, nb, 0)

    c = np.empty((nt, U))
    for k, name in enumerate(TRACERS):
        c[k] = _BG.get(name, 40.0) * 2
    res = c.copy()
    out = np.zeros((T, nt, U), dtype=np.float32)
    no2_out = np.zeros((T, U), dtype=np.float32)
    iox, inox, ispm, ico = (TRACERS.index(n) for n in ("ox", "nox", "spm", "co"))
    for t in range(T):
        cup = (np.einsum("kun,un->ku", c[:, nb_idx], w[t]) + w0 * bg[t][:, None]) / wsum[t]
        prod = np.zeros((nt, U))
        prod[ispm] = (2.0 * k_so2[t] * c[iso2] + y_no3[t] * c[inox]
                      + 0.5 * k_age[t] * c[ip])
        prod[iox] = p_ox[t] * c[inox] / (c[inox] + 12.0)
        prod[ispm] += 0.05 * prod[iox]  # photochemical secondary organic aerosol (summer)
        kchem = np.zeros((nt, U))
        kchem[iso2] = k_so2[t]
        kchem[inox] = k_nox[t]
        kchem[iox] = k_oxl[t]
        src = E[t] + prod + k_adv[t] * cup + k_ex[t] * bg[t][:, None] + k_ent[t] * res
        ktot = k_adv[t] + k_ex[t] + k_ent[t] + k_lin[t] + kchem
        ceq = src / ktot
        c = ceq + (c - ceq) * np.exp(-ktot)
        # residual layer keeps the air left behind when the boundary layer collapses
        falling = blh[t] < blh_prev[t]
        res = np.where(falling, res + 0.5 * (c - res), res)
        # photostationary partition of Ox and NOx → NO2
        a = c[inox] + c[iox] + Kps[t]
        x = 0.5 * (a - np.sqrt(np.clip(a * a - 4 * c[inox] * c[iox], 0, None)))
        no2_out[t] = x
        out[t] = c
    out = out[spinup_hours:]
    no2 = no2_out[spinup_hours:]
    pm25 = out[:, ip] + out[:, ispm]
    return {
        "pm25": pm25,
        "pm10": pm25 + out[:, TRACERS.index("cpm")],
        "o3": np.clip(out[:, iox] - no2, 0, None),
        "no2": no2,
        "so2": out[:, iso2],
        "co": out[:, ico],
        "pm25_primary": out[:, ip],
        "pm25_secondary": out[:, ispm],
    }
