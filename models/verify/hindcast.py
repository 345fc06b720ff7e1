"""Warning hindcast: the real daily chain (forecast → daily AQI → ladder → state machine with its
memory in a register → regional linkage) run over every issue time of a past period, and the
warning decisions verified against the observed daily AQI — for the forecast model and for two
baselines run through the same state machine (persistence of the last observed daily AQI;
climatology exceedance probabilities).

Verification convention (stated so that an independent scorer can recompute it from
``decisions.jsonl`` and the observations; U, proposed here):

* **observed episode** of a unit: a maximal run of consecutive local days whose PM-gated daily
  AQI (the ladder's pollutant gate: O3-driven days count with IAQI(PM2.5)) exceeds the ladder's
  lift threshold (150); its level is what the ladder gives for the run's observed sequence
  (:func:`alerts.ladders.evaluate_ladder`); every day of an episode of level ≥ L is an observed
  "L day";
* **warning in force** for day ``d`` at lead day ``k``: the unit's colour decision of the run
  issued on day ``d − k`` (action ``issue``/``upgrade``/``downgrade``/``continue``, level ≥ L,
  ``start ≤ d < end``);
* per lead day and level, over every (unit, day) pair with an observation: **hit** (in force and
  observed), **false alarm** (in force, not observed), **miss** (observed, not in force);
  POD = a/(a+c), FAR = b/(a+b), CSI = a/(a+b+c);
* **lead time of an episode** (hours): from the issue time of the first run whose warning in
  force (level ≥ yellow) covers the episode's first day to 00:00 local of that day (negative
  when issued on the day itself); ``mean_lead_h`` of ``D+k`` is its mean over the episodes whose
  first day was a hit at lead day ``k``;
* **early lift**: a ``lift`` decision effective on day ``L`` while an observed yellow-or-higher
  day falls on ``L`` or ``L + 1``.
* **hindsight reference** (``verification.json`` ``reference.hindsight``): the observed daily
  values of D+1…D+3 given to the same chain as if they were the forecast. What it misses or
  false-alarms is the cost of the chain's own rules (the 36-h lift rule merging short gaps into
  one episode, hysteresis, the horizon) against this day-by-day convention — the best any
  forecast can score here, not a baseline to beat.

Units: AQI dimensionless; concentrations µg/m³; lead times hours; times local (Asia/Shanghai).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.warning_schema import Ladder, aqi_thresholds

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["SYSTEMS", "HindcastResult", "domain_region", "observed_daily_table", "observed_levels",
           "persistence_dataset", "climatology_dataset", "hindsight_dataset", "run_chain", "verify_chain",
           "choose_probability", "choose_trigger_chain", "run_hindcast", "format_verification",
           "error_breakdown", "LEVELS"]

LEVELS: tuple[str, ...] = ("yellow", "orange", "red")
SYSTEMS: tuple[str, ...] = ("model", "persistence", "climatology")
#: upper references run through the same chain (not baselines to beat)
REFERENCES: tuple[str, ...] = ("hindsight",)
_RANK = {"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}
_IN_FORCE = ("issue", "upgrade", "downgrade", "continue")
_TZ = LOCAL_TZ
#: probability thresholds tried on the training fold (0–1)
PROBABILITY_GRID: tuple[float, ...] = (0.15, 0.25, 0.35, 0.5)


# ------------------------------------------------------------------------------------------
# Domain → region, observations → observed levels
# ------------------------------------------------------------------------------------------


def domain_region(unit_ids: Sequence[str], names: dict[str, str],
                  neighbours: dict[str, Sequence[str]], ladder: str = "national-2024") -> Any:
    """A :class:`configs.schema.Region` of a benchmark domain: each station is a unit, its
    neighbours (within the domain's radius) are ``border`` neighbours, all in one province
    (no cross-border rule applies). Built without validation: station ids are not ASCII-lower
    unit ids and have no administrative codes."""
    from airwarn.configs.schema import LatLon, Neighbour, Region, Unit

    units = [Unit.model_construct(
        id=u, name=names.get(u, u), name_en=u, province="sichuan", group="domain", code="000000",
        centroid=LatLon.model_construct(lat=0.0, lon=0.0), seat=None, border_belt=False,
        ladder=ladder, members=[],
        neighbours=[Neighbour.model_construct(id=v, kind="border")
                    for v in neighbours.get(u, ()) if v != u and v in unit_ids])
        for u in unit_ids]
    return Region.model_construct(name="hindcast domain", name_en="hindcast domain", units=units)


def observed_daily_table(obs_units: pd.DataFrame) -> pd.DataFrame:
    """Observed daily values per unit and local day (:func:`models.verify.match.observed_daily`):
    ``date``, ``unit_id``, ``pm25`` (µg/m³), ``o3_8h_max`` (µg/m³), ``aqi``, ``primary``."""
    from airwarn.configs.verification_schema import load_verification
    from airwarn.models.verify.match import observed_daily

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        od = observed_daily(obs_units, load_verification())
    od = od.copy()
    od["date"] = pd.to_datetime(od["date"]).dt.normalize()
    return od[["date", "unit_id", "pm25", "o3_8h_max", "aqi", "primary"]]


def _gated(od: pd.DataFrame, ladder: Ladder) -> np.ndarray:
    from airwarn.alerts.aqi import ruleset_for
    from airwarn.alerts.ladders import gated_aqi

    out = np.asarray(od["aqi"], dtype=float).copy()
    rs = np.array([ruleset_for(str(d.date())) for d in pd.to_datetime(od["date"])])
    for r in np.unique(rs):
        sel = rs == r
        prim = [None if p is None or p != p else str(p) for p in od["primary"].to_numpy()[sel]]
        out[sel] = gated_aqi(out[sel], prim, ladder.gate.colour_primaries,
                             od["pm25"].to_numpy(dtype=float)[sel], str(r))
    return out


def observed_levels(od: pd.DataFrame, ladder: Ladder) -> pd.DataFrame:
    """Observed episodes (see the module docstring) as a day table.

    Returns
    -------
    DataFrame
        ``date``, ``unit_id``, ``aqi`` (observed), ``gated_aqi``, ``level`` (episode level of
        the day, ``none`` outside episodes), ``episode_start`` (date or NaT).
    """
    from airwarn.alerts.ladders import evaluate_ladder, runs_above

    frames = []
    for uid, g in od.groupby("unit_id", sort=True):
        g = g.sort_values("date").set_index("date")
        days = pd.date_range(g.index.min(), g.index.max(), freq="D")
        g = g.reindex(days)
        g["unit_id"] = uid
        g.index.name = "date"
        gated = _gated(g.reset_index(), ladder)
        lv = np.array(["none"] * len(g), dtype=object)
        e0 = np.full(len(g), np.datetime64("NaT"), dtype="datetime64[ns]")
        above = np.nan_to_num(gated, nan=-1.0) > ladder.lift_below_aqi
        for k, stop in runs_above(above, 1):
            res = evaluate_ladder(ladder, gated[k:stop])
            if res.level != "none":
                lv[k:stop] = res.level
                e0[k:stop] = np.datetime64(days[k])
        frames.append(pd.DataFrame({"date": days, "unit_id": uid, "aqi": g["aqi"].to_numpy(float),
                                    "gated_aqi": gated, "level": lv, "episode_start": e0}))
    if not frames:
        return pd.DataFrame(columns=["date", "unit_id", "aqi", "gated_aqi", "level",
                                     "episode_start"])
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Baselines as forecast files
# ------------------------------------------------------------------------------------------


def _issue_days(ds: xr.Dataset) -> pd.DatetimeIndex:
    its = pd.DatetimeIndex(pd.to_datetime(np.asarray(ds["issue_time"].values)))
    return (its.tz_localize("UTC").tz_convert(_TZ).tz_localize(None)).normalize()


def _baseline(ds: xr.Dataset, aqi: np.ndarray, primary: np.ndarray, pm25: np.ndarray,
              o3: np.ndarray, p_gt: dict[int, np.ndarray] | None, name: str) -> xr.Dataset:
    """A forecast batch shaped like ``ds`` (issue_time, region, day) with baseline values."""
    dims = ("issue_time", "region", "day")
    data = {"aqi_daily": (dims, aqi), "primary_daily": (dims, primary.astype(str)),
            "pm25_daily": (dims, pm25), "o3_mda8": (dims, o3)}
    for t, p in (p_gt or {}).items():
        data[f"p_aqi_gt_{t}"] = (dims, p)
    out = xr.Dataset(data, coords={c: ds[c] for c in ("issue_time", "region", "day", "date")})
    out.attrs = {"model_version": f"baseline-{name}", "source": ds.attrs.get("source", ""),
                 "inputs": json.dumps({"baseline": name}), "ruleset": ds.attrs.get("ruleset", "")}
    return out


def _obs_cube(od: pd.DataFrame, col: str, regions: Sequence[str],
              dates: pd.DatetimeIndex) -> np.ndarray:
    tab = od.pivot_table(index="date", columns="unit_id", values=col, aggfunc="first") \
        if col != "primary" else od.pivot(index="date", columns="unit_id", values=col)
    return tab.reindex(index=dates, columns=list(regions)).to_numpy()


def persistence_dataset(ds: xr.Dataset, od: pd.DataFrame) -> xr.Dataset:
    """Persistence: the last observed natural day before the issue day (D−1: complete at a
    midday issue) repeated for D+1…D+3 (daily AQI, primary pollutant, PM2.5, O3 MDA8)."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    prev = _issue_days(ds) - pd.Timedelta(days=1)
    cube = {c: _obs_cube(od, c, regions, prev) for c in ("aqi", "pm25", "o3_8h_max")}
    prim = _obs_cube(od, "primary", regions, prev)
    prim = np.where(pd.isna(prim), "", prim)

    def rep(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(a)[:, :, None], 3, axis=2)

    return _baseline(ds, rep(cube["aqi"]).astype(float), rep(prim).astype(object),
                     rep(cube["pm25"]).astype(float), rep(cube["o3_8h_max"]).astype(float),
                     None, "persistence")


def hindsight_dataset(ds: xr.Dataset, od: pd.DataFrame) -> xr.Dataset:
    """Hindsight: the observed values of each valid day D+1…D+3 as the forecast (daily AQI,
    primary pollutant, PM2.5, O3 MDA8) — a perfect daily forecast, to measure what the chain's
    rules alone cost against the day-by-day verification (module docstring)."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    n_i, n_d = ds["date"].shape
    dates = pd.DatetimeIndex(pd.to_datetime(np.asarray(ds["date"].values).astype(str).ravel()))

    def cube(col: str) -> np.ndarray:
        flat = _obs_cube(od, col, regions, dates)  # (issue × day, region)
        return flat.reshape(n_i, n_d, len(regions)).transpose(0, 2, 1)

    prim = cube("primary")
    prim = np.where(pd.isna(prim), "", prim)
    return _baseline(ds, cube("aqi").astype(float), prim.astype(object),
                     cube("pm25").astype(float), cube("o3_8h_max").astype(float), None,
                     "hindsight")


def climatology_dataset(ds: xr.Dataset, od_train: pd.DataFrame, ladder: Ladder,
                        half_window_days: int = 15) -> xr.Dataset:
    """Climatology of the training days: per unit and target calendar day, the days of the
    training period within ± ``half_window_days`` of that day of the year give the exceedance
    probabilities ``p_aqi_gt_150/200/300`` of the PM-gated daily AQI (0–1) and the medians
    (daily AQI, PM2.5, O3 MDA8); primary pollutant PM2.5 (the probabilities are PM-gated)."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    od = od_train.copy()
    od["gated"] = _gated(od, ladder)
    od["doy"] = pd.to_datetime(od["date"]).dt.day_of_year
    dates = np.asarray(ds["date"].values).astype(str)
    n_i, n_d = dates.shape
    shape = (n_i, len(regions), n_d)
    aqi, pm, o3 = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    p = {t: np.full(shape, np.nan) for t in aqi_thresholds()}
    doys = pd.to_datetime(pd.Series(dates.ravel())).dt.day_of_year.to_numpy().reshape(n_i, n_d)
    for r, uid in enumerate(regions):
        g = od[od["unit_id"] == uid]
        gd = g["doy"].to_numpy()
        table: dict[int, tuple] = {}
        for doy in np.unique(doys):
            dist = np.abs(gd - doy)
            sel = np.minimum(dist, 366 - dist) <= half_window_days
            x = g["gated"].to_numpy(float)[sel]
            x = x[np.isfinite(x)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                table[int(doy)] = (
                    np.nanmedian(g["aqi"].to_numpy(float)[sel]) if sel.any() else np.nan,
                    np.nanmedian(g["pm25"].to_numpy(float)[sel]) if sel.any() else np.nan,
                    np.nanmedian(g["o3_8h_max"].to_numpy(float)[sel]) if sel.any() else np.nan,
                    {t: float(np.mean(x > t)) if len(x) else np.nan for t in aqi_thresholds()})
        for i in range(n_i):
            for k in range(n_d):
                a, b, c, pp = table[int(doys[i, k])]
                aqi[i, r, k], pm[i, r, k], o3[i, r, k] = a, b, c
                for t in p:
                    p[t][i, r, k] = pp[t]
    prim = np.full(shape, "PM2.5", dtype=object)
    return _baseline(ds, aqi, prim, pm, o3, p, "climatology")


# ------------------------------------------------------------------------------------------
# The chain
# ------------------------------------------------------------------------------------------


def _empty_emergency_list() -> Any:
    from airwarn.configs.response_schema import EmergencyList

    return EmergencyList.model_construct(example=True, title="none", source="",
                                         reduction_targets={}, default_measures={}, cities=[],
                                         enterprises=[])


def run_chain(batch: xr.Dataset, region: Any, register_file: Path | str, *,
              trigger: str = "median", probability: float = 0.5,
              o3_probability: float | None = None,
              policy_update: Mapping[str, Any] | None = None,
              progress: Callable[[str], None] | None = None) -> list[Any]:
    """Run :func:`alerts.warning.warn_run` for every issue time of a forecast batch, in order,
    with the state machine's memory in a real register (SQLite at ``register_file``, recreated).

    Parameters
    ----------
    batch : xarray.Dataset
        Forecast variables with a leading ``issue_time`` dim (UTC, naive), ``date(issue_time, day)``.
    region : Region
    trigger, probability : str, float
        ``settings.warning_trigger`` / ``warning_probability`` of the run.
    o3_probability : float, optional
        ``policy.o3_probability`` (O3 advisories from P(IAQI(O3-8h) > t)); None: median.
    policy_update : mapping, optional
        State-machine settings replacing those of ``configs/warning/policy.yaml`` for this
        chain (e.g. ``{"hysteresis_runs": 1}``), validated as :class:`WarningPolicy` fields.

    Returns
    -------
    list of WarningDecision
        Every decision of every run, in issue order.
    """
    from airwarn.alerts.register import Register
    from airwarn.alerts.warning import warn_run
    from airwarn.configs.warning_schema import load_ladder, load_warning_policy

    from airwarn import configs

    path = Path(register_file)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    reg = Register(path)
    settings = configs.load_settings().model_copy(update={"warning_trigger": trigger,
                                                           "warning_probability": probability})
    config = SimpleNamespace(settings=settings, region=region, data_dir=path.parent)
    policy = load_warning_policy()
    policy = type(policy).model_validate({**policy.model_dump(), **dict(policy_update or {}),
                                          "o3_probability": o3_probability})
    ladders = {lid: load_ladder(lid, horizon_h=settings.horizon_days * 24)
               for lid in {u.ladder for u in region.units}}
    for lid in list(ladders):
        adv = ladders[lid].gate.o3_advisory
        if adv and adv not in ladders:
            ladders[adv] = load_ladder(adv, allow_long_horizon=True)
    el = _empty_emergency_list()
    its = pd.DatetimeIndex(pd.to_datetime(np.asarray(batch["issue_time"].values)))
    out: list[Any] = []
    for c0 in range(0, len(its), 50):  # one transaction per 50 runs (speed; same rows)
        with reg.batch():
            for i in range(c0, min(c0 + 50, len(its))):
                now = its[i].tz_localize("UTC").tz_convert(_TZ)
                one = batch.isel(issue_time=i).drop_vars("issue_time")
                one.attrs = {**batch.attrs, "issue_time": now.isoformat()}
                out.extend(warn_run(one, config, reg, now, policy=policy, ladders=ladders,
                                    emergency_list=el, write=False))
        if progress and c0 + 50 < len(its):
            progress(f"  {c0 + 50}/{len(its)} runs")
    return out


# ------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------


def _in_force(decisions: Sequence[Any], lead_days: Sequence[int]) -> pd.DataFrame:
    """(unit, day, lead_day) → highest colour level in force from the run ``lead_day`` days
    before, with the issue time of that run."""
    rows = []
    for d in decisions:
        d = d if isinstance(d, dict) else d.to_dict()
        if d["action"] not in _IN_FORCE or d.get("regional") or _RANK.get(d["level"], 0) < 2:
            continue
        issued = pd.Timestamp(d["issue_time"]).tz_convert(_TZ)
        day0 = issued.tz_localize(None).normalize()
        s = pd.Timestamp(d["start"]).tz_convert(_TZ).tz_localize(None)
        e = pd.Timestamp(d["end"]).tz_convert(_TZ).tz_localize(None)
        for k in lead_days:
            day = day0 + pd.Timedelta(days=k)
            if s <= day < e:
                rows.append({"unit_id": d["unit_ids"][0], "date": day, "lead_day": k,
                             "level": d["level"], "rank": _RANK[d["level"]],
                             "issue_time": issued})
    df = pd.DataFrame(rows, columns=["unit_id", "date", "lead_day", "level", "rank", "issue_time"])
    if len(df):
        df = df.sort_values("rank").drop_duplicates(["unit_id", "date", "lead_day"], keep="last")
    return df


def verify_chain(decisions: Sequence[Any], obs_lv: pd.DataFrame, first_day: Any, last_day: Any,
                 lead_days: Sequence[int] = (1, 2, 3)) -> dict[str, Any]:
    """Verify a chain's decisions (see the module docstring).

    Parameters
    ----------
    decisions : sequence of WarningDecision or dict
    obs_lv : DataFrame
        :func:`observed_levels` output.
    first_day, last_day : date-like
        Local issue days of the period; a (unit, day, lead) pair counts when its issue day
        ``day − lead`` lies in the period and the day has an observed AQI.

    Returns
    -------
    dict
        ``colour`` (≥ yellow) and ``levels`` (yellow/orange/red) per ``D+k``: ``pod far csi
        hits misses false_alarms mean_lead_h`` and the dates (``hit_dates`` …, ``unit:YYYY-MM-DD``);
        ``episodes`` (observed episodes, caught, lead times); ``actions`` (counts of issue,
        upgrade, downgrade, continue, lift, regional, advisory; ``early_lifts`` with dates).
    """
    d0, d1 = pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize()
    dicts = [d if isinstance(d, dict) else d.to_dict() for d in decisions]
    force = _in_force(dicts, lead_days)
    obs = obs_lv[obs_lv["aqi"].notna()].copy()
    obs["rank"] = obs["level"].map(_RANK).fillna(0).astype(int)
    out: dict[str, Any] = {"colour": {}, "levels": {lv: {} for lv in LEVELS}}

    # episode lead times (first run with a warning in force over the first day)
    eps = obs[obs["rank"] >= 2].dropna(subset=["episode_start"])
    eps = eps[eps["date"] == eps["episode_start"]]
    eps = eps[(eps["date"] >= d0 + pd.Timedelta(days=1)) & (eps["date"] <= d1 + pd.Timedelta(
        days=max(lead_days)))]
    first_issue = force.groupby(["unit_id", "date"])["issue_time"].min() if len(force) else None
    ep_rows = []
    for _, r in eps.iterrows():
        key = (r["unit_id"], r["date"])
        t = first_issue.get(key) if first_issue is not None else None
        lead = None if t is None else round(
            (r["date"].tz_localize(_TZ) - t).total_seconds() / 3600.0, 1)
        ep_rows.append({"unit_id": r["unit_id"], "start": str(r["date"].date()),
                        "level": r["level"], "lead_h": lead})
    ep = pd.DataFrame(ep_rows, columns=["unit_id", "start", "level", "lead_h"])

    def table(min_rank: int) -> dict[str, Any]:
        res = {}
        for k in lead_days:
            ob = obs[(obs["date"] >= d0 + pd.Timedelta(days=k))
                     & (obs["date"] <= d1 + pd.Timedelta(days=k))]
            fk = force[(force["lead_day"] == k) & (force["rank"] >= min_rank)] if len(force) \
                else force
            fk_keys = set(zip(fk["unit_id"], fk["date"], strict=True))
            obs_yes = ob["rank"].to_numpy() >= min_rank
            fc_yes = np.array([(u, d) in fk_keys for u, d in zip(ob["unit_id"], ob["date"],
                                                                   strict=True)], dtype=bool)
            lab = (ob["unit_id"].astype(str) + ":" + ob["date"].dt.strftime("%Y-%m-%d")).to_numpy()
            a, b, c = fc_yes & obs_yes, fc_yes & ~obs_yes, ~fc_yes & obs_yes
            na, nb, nc = int(a.sum()), int(b.sum()), int(c.sum())
            hit_keys = set(lab[a])
            leads = [x for x in ep.itertuples() if f"{x.unit_id}:{x.start}" in hit_keys
                     and x.lead_h is not None and _RANK[x.level] >= min_rank]
            res[f"D+{k}"] = {
                "pod": na / (na + nc) if na + nc else None,
                "far": nb / (na + nb) if na + nb else None,
                "csi": na / (na + nb + nc) if na + nb + nc else None,
                "hits": na, "misses": nc, "false_alarms": nb, "n_days": int(len(ob)),
                "mean_lead_h": float(np.mean([x.lead_h for x in leads])) if leads else None,
                "hit_dates": sorted(lab[a].tolist()), "miss_dates": sorted(lab[c].tolist()),
                "false_alarm_dates": sorted(lab[b].tolist())}
        return res

    out["colour"] = table(2)
    for lv in LEVELS:
        out["levels"][lv] = table(_RANK[lv])
    caught = ep["lead_h"].notna()
    out["episodes"] = {"n": int(len(ep)), "caught": int(caught.sum()),
                       "mean_lead_h": float(ep.loc[caught, "lead_h"].mean()) if caught.any()
                       else None,
                       "list": ep.to_dict(orient="records")}
    acts: dict[str, Any] = {a: 0 for a in ("issue", "upgrade", "downgrade", "continue", "lift",
                                           "advisory", "regional")}
    phases: dict[str, int] = {}
    for d in dicts:
        if d.get("regional"):  # regional / joint warnings: counted by life-cycle phase
            ph = (d.get("joint") or {}).get("phase", "issue")
            phases[ph] = phases.get(ph, 0) + 1
            acts["regional"] += d["action"] == "regional"
        elif d["action"] in acts:
            acts[d["action"]] += 1
    acts["regional_phases"] = phases
    lv_by = {(u, d): r for u, d, r in zip(obs["unit_id"], obs["date"], obs["rank"], strict=True)}
    early = []
    for d in dicts:
        if d["action"] != "lift" or d.get("regional"):
            continue
        day = pd.Timestamp(d["end"] or d["start"]).tz_convert(_TZ).tz_localize(None).normalize()
        u = d["unit_ids"][0]
        if any(lv_by.get((u, day + pd.Timedelta(days=j)), 0) >= 2 for j in (0, 1)):
            early.append(f"{u}:{day.date()}")
    acts["early_lifts"] = len(early)
    acts["early_lift_dates"] = sorted(early)
    out["actions"] = acts
    return out


def o3_event_scores(fc_yes: np.ndarray, ds: xr.Dataset, od: pd.DataFrame,
                    threshold: float = 215.0) -> dict[str, Any]:
    """Daily O3 event scores per lead day: forecast event ``fc_yes(issue, region, day)`` (bool)
    against observed MDA8 > ``threshold`` (µg/m³) on the same local day."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    dates = np.asarray(ds["date"].values).astype(str)
    tab = od.pivot_table(index="date", columns="unit_id", values="o3_8h_max", aggfunc="first")
    res = {}
    for k in range(dates.shape[1]):
        o = tab.reindex(index=pd.to_datetime(dates[:, k]), columns=regions).to_numpy()
        ok = np.isfinite(o)
        f, y = np.asarray(fc_yes[:, :, k], dtype=bool)[ok], o[ok] > threshold
        a, b, c = int((f & y).sum()), int((f & ~y).sum()), int((~f & y).sum())
        res[f"D+{k + 1}"] = {"hits": a, "false_alarms": b, "misses": c,
                             "pod": a / (a + c) if a + c else None,
                             "far": b / (a + b) if a + b else None,
                             "csi": a / (a + b + c) if a + b + c else None}
    return res


def o3_forecast_events(ds: xr.Dataset, probability: float | None) -> np.ndarray:
    """Forecast O3 MDA8 > 215 µg/m³ events ``(issue, region, day)``: the median above 215, or
    ``p_o3_iaqi_gt_150 ≥ probability`` (IAQI 150 ⇔ 215 µg/m³, HJ 633)."""
    if probability is None or "p_o3_iaqi_gt_150" not in ds.variables:
        v = ds["o3_mda8"].transpose("issue_time", "region", "day").to_numpy()
        return np.nan_to_num(v, nan=-1.0) > 215.0
    p = ds["p_o3_iaqi_gt_150"].transpose("issue_time", "region", "day").to_numpy()
    return np.nan_to_num(p, nan=-1.0) >= probability


def choose_o3_probability(fold: xr.Dataset, od: pd.DataFrame,
                          grid: Sequence[float] = PROBABILITY_GRID
                          ) -> tuple[float | None, list[dict[str, Any]]]:
    """The P(MDA8 > 215) threshold maximising the D+1 CSI on a training fold (None when the
    forecast carries no O3 probabilities or no event occurred)."""
    if "p_o3_iaqi_gt_150" not in fold.variables or "o3_mda8" not in fold.variables:
        return None, []
    rows, best = [], (None, 0.0)
    for p in grid:
        s = o3_event_scores(o3_forecast_events(fold, p), fold, od)["D+1"]
        rows.append({"probability": p, "csi": s["csi"], "pod": s["pod"], "far": s["far"]})
        if (s["csi"] or 0.0) > best[1]:
            best = (p, s["csi"])
    return best[0], rows


def d1_warned(batch: xr.Dataset, ladder: Ladder, trigger: str, probability: float) -> pd.DataFrame:
    """Memoryless proxy of the state machine for choosing a trigger: per issue and unit, whether
    the ladder (PM-gated, on the effective AQI of D+1…D+3 under the trigger) reaches yellow with
    D+1 inside the episode window (:func:`alerts.warning._episode_days`). Columns ``unit_id``,
    ``date`` (D+1), ``warned``."""
    tab = _d1_warned_table(batch, ladder, [(trigger, probability)])
    return tab.rename(columns={0: "warned"})


def _d1_warned_table(batch: xr.Dataset, ladder: Ladder,
                     cands: Sequence[tuple[str, float]]) -> pd.DataFrame:
    """:func:`d1_warned` of several triggers at once (the unit forecasts of each issue are read
    once): columns ``unit_id``, ``date`` and one bool column per candidate index."""
    from airwarn.alerts.ladders import evaluate_ladder
    from airwarn.alerts.warning import _episode_days, effective_aqi, unit_forecasts

    rows = []
    rs = str(batch.attrs.get("ruleset") or "HJ633_2012").split(",")[0]
    for i in range(batch.sizes["issue_time"]):
        one = batch.isel(issue_time=i)
        for uid, fc in unit_forecasts(one, rs).items():
            row: dict[Any, Any] = {"unit_id": uid, "date": pd.Timestamp(fc.dates[0])}
            for j, (trigger, probability) in enumerate(cands):
                aqi, _ = effective_aqi(fc, trigger, probability)
                res = evaluate_ladder(ladder, aqi, daily_pm25=fc.pm25, primary=fc.primary,
                                      ruleset=rs)
                warned = False
                if _RANK.get(res.level, 0) >= 2:
                    warned = 0 in _episode_days(ladder, fc, aqi, list(res.exceedance_days), rs)
                row[j] = warned
            rows.append(row)
    return pd.DataFrame(rows, columns=["unit_id", "date", *range(len(cands))])


def choose_probability(batch: xr.Dataset, obs_lv: pd.DataFrame, ladder: Ladder, *,
                       grid: Sequence[float] = PROBABILITY_GRID,
                       with_median: bool = True) -> tuple[str, float, list[dict[str, Any]]]:
    """Choose the trigger (median, or probability with a threshold) maximising the D+1 CSI of
    yellow-or-higher days on a training fold, with the memoryless proxy :func:`d1_warned`
    (ties: the earlier candidate; the full chain is too slow to run for every candidate).

    Returns
    -------
    (trigger, probability, table of the candidates with their D+1 POD/FAR/CSI)
    """
    cands = ([("median", 0.5)] if with_median else []) + [("probability", p) for p in grid]
    obs = obs_lv.assign(obs=obs_lv["level"].map(_RANK).fillna(0) >= 2)[
        ["unit_id", "date", "obs", "aqi"]]
    rows = []
    best = None
    m = _d1_warned_table(batch, ladder, cands).merge(obs, on=["unit_id", "date"])
    m = m[m["aqi"].notna()]
    for j, (trig, p) in enumerate(cands):
        warned = m[j].astype(bool)
        a = int((warned & m["obs"]).sum())
        b = int((warned & ~m["obs"]).sum())
        c = int((~warned & m["obs"]).sum())
        row = {"trigger": trig, "probability": p, "hits": a, "false_alarms": b, "misses": c,
               "pod": a / (a + c) if a + c else None, "far": b / (a + b) if a + b else None,
               "csi": a / (a + b + c) if a + b + c else None}
        rows.append(row)
        if best is None or (row["csi"] or 0) > (best["csi"] or 0):
            best = row
    assert best is not None
    return best["trigger"], float(best["probability"]), rows


# ------------------------------------------------------------------------------------------
# The command's work
# ------------------------------------------------------------------------------------------


@dataclass
class HindcastResult:
    """What :func:`run_hindcast` wrote and measured."""

    out_dir: Path
    verification: dict[str, Any]
    decisions: int
    seconds: dict[str, float] = field(default_factory=dict)


def _day(x: Any) -> pd.Timestamp:
    return pd.Timestamp(x).normalize()


def _write_jsonl(path: Path, decisions: Sequence[Any]) -> None:
    from airwarn.features.atomic import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(d.to_dict(), ensure_ascii=False, sort_keys=True)
                                    + "\n" for d in decisions))


class _Case:
    """What every phase of a hindcast reads: the domain's data, its region and observations
    (rebuilt in a worker process from the domain file: only plain values cross processes)."""

    def __init__(self, domain_path: Path | str, history: bool = True, met: str = "perfect"
                 ) -> None:
        from airwarn.configs.model_schema import load_domain
        from airwarn.configs.warning_schema import load_ladder
        from airwarn.models.backtest import load_domain_data

        self.domain_path = str(domain_path)
        self.dom = load_domain(domain_path)
        self.history = history
        self.met = met  # how the domain's sub-regions are trained depends on it
        self.data = load_domain_data(self.dom, history=history, met=met)
        # the units warnings are issued and verified for (a domain's sub-regions, whether its
        # models train on their mean series or on their stations)
        obs_units, geometry, names = self.data.verification
        self.units = sorted(obs_units["unit_id"].astype(str).unique())
        nb = {u: list(geometry.neighbours.get(u, [])) for u in self.units}
        self.region_args = (self.units, dict(names), nb)
        self.region = domain_region(*self.region_args)
        self.ladder = load_ladder("national-2024", allow_long_horizon=True)
        self.od = observed_daily_table(obs_units)
        self.obs_lv = observed_levels(self.od, self.ladder)


def _backtest(case: _Case, out: Path, tag: str, tr_end: Any, te_start: Any, te_end: Any, *,
              met: str, issue_hour: int, hourly: bool, light: bool, reuse: bool,
              history: bool = True, scheme: str | None = None,
              progress: Callable[[str], None] | None = None) -> xr.Dataset:
    """:func:`models.backtest.run_backtest` into ``out/tag``, reused when the key matches;
    ``scheme`` (training folds, in the key): ``"last"`` the backtest of the given dates,
    ``"cross"`` the cross-fitted out-of-fold forecasts of the training period up to ``tr_end``
    (:func:`models.verify.folds.cross_fitted_backtest`; ``te_start``/``te_end`` unused)."""
    from airwarn.configs.model_schema import load_model_settings
    from airwarn.models.backtest import run_backtest

    from airwarn import configs

    say = progress or (lambda s: None)
    d = out / tag
    key = {"domain": case.domain_path, "met": met, "train_end": str(_day(tr_end).date()),
           "test_start": str(_day(te_start).date()), "test_end": str(_day(te_end).date()),
           "issue_hour": issue_hour, "hourly": hourly, "light": light}
    if scheme is not None:
        key["fold_scheme"] = scheme
    if case.met != met:
        raise ValueError(f"hindcast case read for met {case.met!r}, backtest asked for {met!r}")
    if case.dom.sub_regions:  # the same file trains differently with the other setting
        key["sub_region_models"] = case.dom.models_for(met)
    if not history:
        key["history"] = False
    if scheme == "cross":  # the whole training period: no window
        key["test_start"] = key["test_end"] = None
    keyf = d / "hindcast_key.json"
    if reuse and (d / "backtest.nc").exists() and keyf.exists() and \
            json.loads(keyf.read_text()) == key:
        say(f"reusing {d / 'backtest.nc'}")
        return xr.load_dataset(d / "backtest.nc")
    settings = load_model_settings()
    if light:
        settings = settings.model_copy(update={
            "daily": settings.daily.model_copy(update={"num_boost_round": 200, "n_seeds": 1}),
            "daily_designs": ["pooled"]})
    if scheme == "cross":
        from airwarn.models.forecast import write_netcdf
        from airwarn.models.verify.folds import cross_fitted_backtest

        ds, info = cross_fitted_backtest(
            case.data, train_end=tr_end, met=met, settings=settings,  # type: ignore[arg-type]
            quantiles=list(configs.load_settings().quantiles), issue_hour=issue_hour,
            pollutants=case.dom.pollutants, hourly=hourly, progress=say)
        d.mkdir(parents=True, exist_ok=True)
        write_netcdf(ds, d / "backtest.nc")
        (d / "fold_plan.json").write_text(json.dumps(info))
        keyf.write_text(json.dumps(key))
        return ds
    ds, _ = run_backtest(case.data, train_end=tr_end, test_start=te_start, test_end=te_end,
                         issue_hour=issue_hour, met=met,  # type: ignore[arg-type]
                         settings=settings, quantiles=list(configs.load_settings().quantiles),
                         out_dir=d, pollutants=case.dom.pollutants, hourly=hourly,
                         progress=say)
    keyf.write_text(json.dumps(key))
    return ds


def choose_trigger_chain(batch: xr.Dataset, region: Any, obs_lv: pd.DataFrame, first_day: Any,
                         last_day: Any, work_dir: Path | str, *,
                         grid: Sequence[float] = PROBABILITY_GRID,
                         o3_probability: float | None = None
                         ) -> tuple[str, float, list[dict[str, Any]]]:
    """Choose the trigger (median, or probability ≥ p) maximising the D+1 CSI of colour
    warnings on a training fold, each candidate run through the real chain (:func:`run_chain`:
    the state machine with its memory, as in the test period) and verified with
    :func:`verify_chain` — unlike :func:`choose_probability`'s memoryless proxy, the warnings
    in force include the continuations and the 36-h lift rule. Ties: the earlier candidate.

    Parameters
    ----------
    batch : xarray.Dataset
        The fold's forecasts (leading ``issue_time``).
    first_day, last_day : date-like
        Local issue days of the fold.
    work_dir : path
        Where the candidates' registers are written (``register_<trigger>.sqlite``).

    Returns
    -------
    (trigger, probability, table of the candidates with their D+1 POD/FAR/CSI)
    """
    rows = [candidate_row(batch, region, obs_lv, first_day, last_day, work_dir, trig, p,
                          o3_probability=o3_probability) for trig, p in trigger_candidates(grid)]
    return (*best_candidate(rows), rows)


def trigger_candidates(grid: Sequence[float] = PROBABILITY_GRID) -> list[tuple[str, float]]:
    """The trigger candidates of the training fold, in the order ties are broken: the median,
    then ``probability ≥ p`` for each ``p`` of ``grid``."""
    return [("median", 0.5)] + [("probability", p) for p in grid]


def candidate_row(batch: xr.Dataset, region: Any, obs_lv: pd.DataFrame, first_day: Any,
                  last_day: Any, work_dir: Path | str, trigger: str, probability: float, *,
                  o3_probability: float | None = None) -> dict[str, Any]:
    """One trigger candidate of :func:`choose_trigger_chain` through the chain (register
    ``work_dir/register_<median|p…>.sqlite``), with its D+1 colour scores on the fold."""
    tag = "median" if trigger == "median" else f"p{probability:g}"
    dec = run_chain(batch, region, Path(work_dir) / f"register_{tag}.sqlite", trigger=trigger,
                    probability=probability, o3_probability=o3_probability)
    d1 = verify_chain(dec, obs_lv, first_day, last_day, lead_days=(1,))["colour"]["D+1"]
    return {"trigger": trigger, "probability": probability, "method": "chain",
            **{k: d1[k] for k in ("hits", "false_alarms", "misses", "pod", "far", "csi")}}


def best_candidate(rows: Sequence[Mapping[str, Any]]) -> tuple[str, float]:
    """(trigger, probability) of the candidate row with the highest D+1 CSI (ties: the earlier
    row)."""
    best: Mapping[str, Any] | None = None
    for row in rows:
        if best is None or (row["csi"] or 0) > (best["csi"] or 0):
            best = row
    assert best is not None
    return best["trigger"], float(best["probability"])


_CASES: dict[str, _Case] = {}


def _case(domain_path: Path | str, history: bool = True, met: str = "perfect") -> _Case:
    """:class:`_Case` of a domain file (with or without its history records, for met mode
    ``met``), built once per process (a worker runs several jobs)."""
    key = f"{domain_path}|{history}|{met}"
    if key not in _CASES:
        _CASES.clear()  # one domain at a time
        _CASES[key] = _Case(domain_path, history, met)
    return _CASES[key]


_FOLDS: dict[tuple, tuple[dict[str, Any], xr.Dataset]] = {}


def _fold_backtest(domain_path: str, out: str, f_train_end: str, f_start: str, f_sel_end: str,
                   opts: dict[str, Any], scheme: str = "last"
                   ) -> tuple[dict[str, Any], xr.Dataset]:
    """The training fold's forecasts (:func:`_backtest` into ``out/fold[_<scheme>]``) with
    plain values: its tag, issue days and O3 probability threshold
    (:func:`choose_o3_probability`); kept per process for the candidates run after it."""
    key = (domain_path, out, f_train_end, f_start, f_sel_end, scheme,
           json.dumps({k: v for k, v in opts.items() if k != "reuse"}, sort_keys=True))
    if key in _FOLDS:
        return _FOLDS[key]
    t1, c1 = time.perf_counter(), time.process_time()
    case = _case(domain_path, opts.get("history", True), opts["met"])
    tag = "fold" if scheme == "last" else f"fold_{scheme}"
    fold = _backtest(case, Path(out), tag, f_train_end, f_start, f_sel_end, scheme=scheme,
                     **opts)
    if scheme != "last":
        days = _issue_days(fold)
        f_start, f_sel_end = str(days.min().date()), str(days.max().date())
    t2 = time.perf_counter()
    o3_p, o3_rows = choose_o3_probability(fold, case.od)
    fb = {"tag": tag, "select_start": f_start, "select_end": f_sel_end,
          "o3_probability": o3_p, "o3_candidates": o3_rows,
          "seconds": {"fold_backtest": round(t2 - t1, 1),
                      "fold_backtest_cpu": round(time.process_time() - c1, 1),
                      "fold_o3": round(time.perf_counter() - t2, 1)}}
    _FOLDS.clear()  # one fold at a time
    _FOLDS[key] = (fb, fold)
    return fb, fold


def _fold_backtest_job(domain_path: str, out: str, f_train_end: str, f_start: str,
                       f_sel_end: str, opts: dict[str, Any], scheme: str = "last"
                       ) -> dict[str, Any]:
    """:func:`_fold_backtest` in a worker process: plain values out."""
    return _fold_backtest(domain_path, out, f_train_end, f_start, f_sel_end, opts, scheme)[0]


def _candidate_job(domain_path: str, out: str, f_train_end: str, f_start: str, f_sel_end: str,
                   opts: dict[str, Any], scheme: str, trigger: str, probability: float
                   ) -> dict[str, Any]:
    """One trigger candidate on the training fold (:func:`candidate_row`), run after the fold's
    forecasts exist (:func:`_fold_backtest`: kept by this process, or read back from its
    files). Plain values in and out (runs in a worker process or in the main one)."""
    fb, fold = _fold_backtest(domain_path, out, f_train_end, f_start, f_sel_end,
                              {**opts, "reuse": True}, scheme)
    case = _case(domain_path, opts.get("history", True), opts["met"])
    return candidate_row(fold, case.region, case.obs_lv, fb["select_start"], fb["select_end"],
                         Path(out) / fb["tag"], trigger, probability,
                         o3_probability=fb["o3_probability"])


def _fold_job(domain_path: str, out: str, f_train_end: str, f_start: str, f_sel_end: str,
              opts: dict[str, Any], selection: str = "chain", scheme: str = "last"
              ) -> dict[str, Any]:
    """The training fold: models trained up to ``f_train_end`` forecast ``f_start …
    f_sel_end`` (``scheme="last"``), or the cross-fitted out-of-fold forecasts of the whole
    training period up to ``f_train_end`` (``"cross"``, :mod:`models.verify.folds`; the
    issue days scored are then those of the batch); the trigger (``selection``: ``chain``
    :func:`choose_trigger_chain`, ``proxy`` :func:`choose_probability`) and the O3
    probability threshold maximising the D+1 CSI there. Plain values in and out (runs in a
    worker process)."""
    fb, fold = _fold_backtest(domain_path, out, f_train_end, f_start, f_sel_end, opts, scheme)
    t2 = time.perf_counter()
    case = _case(domain_path, opts.get("history", True), opts["met"])
    f_start, f_sel_end, o3_p = fb["select_start"], fb["select_end"], fb["o3_probability"]
    if selection == "chain":
        trigger, prob, cand = choose_trigger_chain(fold, case.region, case.obs_lv, f_start,
                                                   f_sel_end, Path(out) / fb["tag"],
                                                   o3_probability=o3_p)
    else:
        trigger, prob, cand = choose_probability(fold, case.obs_lv, case.ladder)
    return {"trigger": trigger, "probability": prob, "o3_probability": o3_p,
            "info": _fold_info(fb, f_train_end, scheme, selection, cand),
            "seconds": {"fold_backtest": fb["seconds"]["fold_backtest"],
                        "fold_choose": round(time.perf_counter() - t2
                                             + fb["seconds"]["fold_o3"], 1)}}


def _fold_info(fb: Mapping[str, Any], f_train_end: str, scheme: str, selection: str,
               cand: list[dict[str, Any]]) -> dict[str, Any]:
    return {"scheme": scheme, "train_end": f_train_end, "select_start": fb["select_start"],
            "select_end": fb["select_end"], "method": selection, "candidates": cand,
            "o3_probability": fb["o3_probability"], "o3_candidates": fb["o3_candidates"]}


def _chain_job(region: tuple[list[str], dict[str, str], dict[str, list[str]]], batch_nc: str,
               register: str, jsonl: str, trigger: str, probability: float,
               o3_probability: float | None) -> int:
    """:func:`run_chain` of a forecast file, its decisions written to ``jsonl`` (worker).
    ``region``: the :func:`domain_region` arguments (units, names, neighbours)."""
    dec = run_chain(xr.load_dataset(batch_nc), domain_region(*region), register,
                    trigger=trigger, probability=probability, o3_probability=o3_probability)
    _write_jsonl(Path(jsonl), dec)
    return len(dec)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _first_obs_day(case: _Case) -> pd.Timestamp:
    """First local day with an observation in the domain's data."""
    t = pd.Timestamp(case.data.obs_units["time"].min())
    return (t.tz_convert(_TZ).tz_localize(None) if t.tzinfo else t).normalize()


def _steal_work(fold_fut: Any, cand_futs: Sequence[Any], run_cand: Callable[[int], Any],
                base_futs: Mapping[str, Any], run_base: Callable[[str], Any]
                ) -> tuple[list[Any], set[str]]:
    """The trigger candidates' results, in candidate order, with this process helping a worker
    process that has them queued behind the fold's forecasts (``fold_fut``) and the baselines'
    chains (``base_futs``): this process runs the candidates the worker has not started once
    the fold's forecasts exist (from the last: the worker takes them from the first), else
    the baselines' chains it has not started, else waits. A job runs in one process only (a
    queued future that :meth:`Future.cancel` stops is run here, ``run_cand(i)`` /
    ``run_base(name)``, with the same arguments), so the results are those of one process
    doing it all.

    Returns
    -------
    candidate results, names of the baselines run here
    """
    rows: list[Any] = [None] * len(cand_futs)
    here_c: set[int] = set()
    here_b: set[str] = set()
    while True:
        if fold_fut.done():
            fold_fut.result()  # the fold failed: raise here rather than retrain in this process
            i = next((i for i in reversed(range(len(cand_futs)))
                      if i not in here_c and cand_futs[i].cancel()), None)
            if i is not None:
                here_c.add(i)
                rows[i] = run_cand(i)
                continue
        base = next((n for n in reversed(list(base_futs))
                     if n not in here_b and base_futs[n].cancel()), None)
        if base is not None:
            here_b.add(base)
            run_base(base)
            continue
        if fold_fut.done():
            break
        fold_fut.result()
    for i, fut in enumerate(cand_futs):
        if i not in here_c:
            rows[i] = fut.result()
    return rows, here_b


def run_hindcast(domain_path: Path | str, *, train_end: Any, test_start: Any, test_end: Any,
                 met: str = "perfect", out_dir: Path | str, issue_hour: int = 12,
                 select_fold_days: int = 0, reuse: bool = True, hourly: bool = False,
                 light: bool = False, jobs: int = 1, selection: str = "chain",
                 fold_scheme: str = "auto", history: bool = True,
                 progress: Callable[[str], None] | None = None) -> HindcastResult:
    """The warning hindcast of a domain (see the module docstring).

    Parameters
    ----------
    domain_path : path
        ``configs/domains/<name>.yaml``.
    train_end, test_start, test_end : date-like
        Last training day; first and last issue days of the test period (local).
    met : {"perfect", "none"}
    out_dir : path
        Writes ``backtest.nc``, ``decisions.jsonl`` (model), ``decisions_<baseline>.jsonl``,
        ``baseline_<name>.nc`` (the baselines' forecast files), ``register.sqlite`` (model
        chain), ``verification.json``, ``report.html``.
    select_fold_days : int
        > 0: the model's trigger (median or a probability threshold) is chosen on an inner
        training fold — the last ``select_fold_days`` days of the training period, forecast by
        models trained before it (``fold_scheme="last"``; ``"cross"``: the whole training
        period, cross-fitted); 0: the configured trigger (median).
    fold_scheme : {"auto", "last", "cross"}
        The training fold (:mod:`models.verify.folds`): ``last`` the last
        ``select_fold_days``; ``cross`` season-complete cross-fitted out-of-fold forecasts of
        the whole training period; ``auto`` ``cross`` when the training period's observations
        span less than two years (:func:`models.verify.folds.default_fold_scheme`), else
        ``last``.
    reuse : bool
        Reuse ``out_dir/backtest.nc`` (and the fold's) when written by the same settings.
    light : bool
        Lighter daily models for a busy machine (one seed, the pooled design only, 200 trees):
        not the production configuration; the verification's ``meta`` says so.
    hourly : bool
        Train the hourly models too (the day-mode ladders read daily products only; False
        takes the hourly path from persistence and trains about twice as fast).
    selection : {"chain", "proxy"}
        How the fold chooses the trigger: each candidate through the real chain (the state
        machine as in the test period; default), or the memoryless proxy (faster, the choice
        of the first measurements).
    history : bool
        Train on the domain's ``history`` records too (units extended back in time,
        :mod:`features.history`); ``False``: the domain's own files only.
    jobs : int
        Processes: 2 runs the training fold (backtest and choice) beside the test backtest,
        and the baselines' chains beside the model's (same computations, same results; only
        plain values and files cross processes); 1 runs everything in this process.

    Raises
    ------
    ValueError
        Days that are not dates or make no test period
        (:func:`models.backtest.check_test_period`; checked before anything is read or
        written), a ``last`` fold shorter than 4 days, an unknown ``fold_scheme``.
    """
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing import get_context

    from airwarn.models.backtest import check_test_period
    from airwarn.models.forecast import write_netcdf

    say = progress or (lambda s: None)
    if fold_scheme not in ("auto", "last", "cross"):
        raise ValueError(f"fold_scheme must be 'auto', 'last' or 'cross', got {fold_scheme!r}")
    check_test_period(train_end, test_start, test_end)  # before any work or any folder
    out = Path(out_dir)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    case = _case(domain_path, history, met)
    out.mkdir(parents=True, exist_ok=True)  # once the domain has been read
    dom, units, region, ladder, od, obs_lv = (case.dom, case.units, case.region, case.ladder,
                                              case.od, case.obs_lv)
    opts = {"met": met, "issue_hour": issue_hour, "hourly": hourly, "light": light,
            "reuse": reuse, "history": history}
    pool = ProcessPoolExecutor(max_workers=max(1, jobs - 1), mp_context=get_context("spawn")) \
        if jobs > 1 else None
    try:
        trigger, prob = "median", 0.5
        o3_p: float | None = None
        fold_info: dict[str, Any] = {}
        fold_fut: Future | None = None
        fold_args: tuple = ()
        cands = trigger_candidates()
        cand_futs: list[Future] = []
        base_here: set[str] = set()
        if select_fold_days > 0:
            from airwarn.models.verify.folds import default_fold_scheme, last_fold_window

            scheme = fold_scheme if fold_scheme != "auto" else default_fold_scheme(
                _first_obs_day(case), train_end)
            f_train_end, f_start, f_sel_end = last_fold_window(train_end, select_fold_days)
            if scheme == "last" and f_start > f_sel_end:
                raise ValueError(f"select_fold_days (--select-fold-days) {select_fold_days}: the "
                                 f"last fold would score no issue day (its issues end 3 days "
                                 f"before train_end, {f_sel_end.date()}); expected at least 4")
            if scheme == "cross":
                f_train_end = _day(train_end)
                say(f"training fold: cross-fitted over the training period ≤ "
                    f"{f_train_end.date()}" + (" (in a worker process)" if pool else ""))
            else:
                say(f"training fold: train ≤ {f_train_end.date()}, select on {f_start.date()} "
                    f"… {f_sel_end.date()}" + (" (in a worker process)" if pool else ""))
            fold_args = (case.domain_path, str(out), str(f_train_end.date()),
                         str(f_start.date()), str(f_sel_end.date()), opts, selection, scheme)
            if pool is not None and selection == "chain":
                # the fold's forecasts, then each trigger candidate as its own job: this
                # process takes the candidates the worker has not started once its own
                # backtest is done (_steal_work)
                fold_fut = pool.submit(_fold_backtest_job, *fold_args[:6], scheme)
                cand_futs = [pool.submit(_candidate_job, *fold_args[:6], scheme, trig, p)
                             for trig, p in cands]
            elif pool is not None:
                fold_fut = pool.submit(_fold_job, *fold_args)
        t1, c1 = time.perf_counter(), time.process_time()
        ds = _backtest(case, out, "backtest", train_end, test_start, test_end, progress=say,
                       **opts)
        secs["backtest"] = round(time.perf_counter() - t1, 1)
        # CPU seconds of the phases (wall time on a shared machine is mostly the others' load)
        secs["backtest_cpu"] = round(time.process_time() - c1, 1)
        t1 = time.perf_counter()
        # climatology threshold: chosen on the training days only (in-sample climatology of them)
        od_train = od[od["date"] <= _day(train_end)]
        clim_p, clim_rows = _choose_clim_probability(od_train, obs_lv, ladder)
        baselines = {
            "persistence": (persistence_dataset(ds, od), "median", 0.5),
            "climatology": (climatology_dataset(ds, od_train, ladder), "probability", clim_p),
            "hindsight": (hindsight_dataset(ds, od), "median", 0.5),
        }
        base_args: dict[str, tuple] = {}
        base_futs: dict[str, Future] = {}
        for name, (batch, trig, p) in baselines.items():
            if pool is None:
                continue
            nc = out / f"baseline_{name}.nc"
            write_netcdf(batch, nc)
            base_args[name] = (case.region_args, str(nc), str(out / f"register_{name}.sqlite"),
                               str(out / f"decisions_{name}.jsonl"), trig, p, None)
            base_futs[name] = pool.submit(_chain_job, *base_args[name])
        if cand_futs:
            cand_args = [(*fold_args[:6], scheme, trig, p) for trig, p in cands]
            rows, base_here = _steal_work(fold_fut, cand_futs,
                                          lambda i: _candidate_job(*cand_args[i]), base_futs,
                                          lambda n: _chain_job(*base_args[n]))
            fb = fold_fut.result()  # type: ignore[union-attr]
            trigger, prob = best_candidate(rows)
            o3_p = fb["o3_probability"]
            fold_info = _fold_info(fb, fold_args[2], scheme, selection, rows)
            secs["fold_backtest"] = fb["seconds"]["fold_backtest"]
            secs["fold_backtest_cpu"] = fb["seconds"]["fold_backtest_cpu"]
        elif fold_args:
            fr = fold_fut.result() if fold_fut is not None else _fold_job(*fold_args)
            trigger, prob, o3_p = fr["trigger"], float(fr["probability"]), fr["o3_probability"]
            fold_info = fr["info"]
            secs.update(fr["seconds"])
        if fold_args:
            secs["select_fold_wait"] = round(time.perf_counter() - t1, 1)
            say(f"chosen on the training fold: trigger {trigger}"
                + (f", P ≥ {prob:g}" if trigger == "probability" else ""))
            t1 = time.perf_counter()
        systems = {"model": (ds, trigger, prob), **baselines}
        decisions_by: dict[str, list[Any]] = {}
        for name, (batch, trig, p) in systems.items():
            if name in base_futs:
                continue
            say(f"chain: {name} ({trig}" + (f", P ≥ {p:g}" if trig == "probability" else "")
                + ") …")
            reg = out / ("register.sqlite" if name == "model" else f"register_{name}.sqlite")
            dec = run_chain(batch, region, reg, trigger=trig, probability=p, progress=say,
                            o3_probability=o3_p if name == "model" else None)
            decisions_by[name] = dec
            _write_jsonl(out / ("decisions.jsonl" if name == "model"
                                else f"decisions_{name}.jsonl"), dec)
        for name, fut in base_futs.items():
            if name not in base_here and fut.cancel():  # not started by the worker: run here
                _chain_job(*base_args[name])
            elif name not in base_here:
                fut.result()
            decisions_by[name] = _read_jsonl(out / f"decisions_{name}.jsonl")
        secs["chains"] = round(time.perf_counter() - t1, 1)
        secs["main_cpu_after_backtest"] = round(time.process_time() - c1
                                                - secs["backtest_cpu"], 1)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    t1 = time.perf_counter()
    results: dict[str, Any] = {}
    for name, (_batch, trig, p) in systems.items():
        v = verify_chain(decisions_by[name], obs_lv, test_start, test_end)
        v["trigger"] = {"trigger": trig, "probability": p if trig == "probability" else None}
        results[name] = v
    model = results.pop("model")
    reference = {name: results.pop(name) for name in REFERENCES}
    ver = {**model, "baselines": results, "reference": reference,
           "meta": {"domain": dom.name, "source": dom.source, "met": met,
                    "train_end": str(_day(train_end).date()),
                    "test_start": str(_day(test_start).date()),
                    "test_end": str(_day(test_end).date()), "issue_hour_local": issue_hour,
                    "ladder": ladder.id, "units": units,
                    "unit_names": {u: case.region_args[1].get(u, u) for u in units},
                    # how the sub-regions were trained (their mean series, or their stations)
                    "sub_region_models": dom.models_for(met) if dom.sub_regions else None,
                    "hourly_models": hourly,
                    "light_models": light,
                    "history": [r.model_dump() for r in dom.history] if history else [],
                    "selection": {"model": fold_info or "configured trigger (median)",
                                  "climatology": {"chosen_on": "training days",
                                                  "candidates": clim_rows}},
                    "convention": "models/verify/hindcast.py module docstring"}}
    ver["reliability"] = reliability_table(ds, od)
    # where each system's D+1 misses and false alarms are (the report's table)
    ver["error_breakdown"] = {name: error_breakdown(v["colour"]["D+1"], obs_lv) for name, v in
                              [("model", ver), *ver["baselines"].items(),
                               *((f"{n} (reference)", r) for n, r in ver["reference"].items())]}
    if "o3_mda8" in ds.variables and od["o3_8h_max"].notna().any():
        pers = systems["persistence"][0]
        ver["o3_events"] = {
            "event": "O3 MDA8 > 215 µg/m³ (daily, per unit)",
            "median": o3_event_scores(o3_forecast_events(ds, None), ds, od),
            "probability": (o3_event_scores(o3_forecast_events(ds, o3_p), ds, od)
                            if o3_p is not None else None),
            "probability_threshold": o3_p,
            "persistence": o3_event_scores(o3_forecast_events(pers, None), pers, od),
            "advisories": sum(1 for d in decisions_by["model"] if d.action == "advisory"
                              and d.primary_pollutant == "O3_8h")}
    from airwarn.features.atomic import write_text_atomic
    from airwarn.models.backtest import _clean

    write_text_atomic(out / "verification.json",
                      json.dumps(_clean(ver), ensure_ascii=False, indent=1))
    try:
        from airwarn.products.hindcast_report import render_hindcast_report

        render_hindcast_report(ver, obs_lv, decisions_by, out / "report.html")
    except ImportError:  # pragma: no cover - products absent
        pass
    secs["verify_report"] = round(time.perf_counter() - t1, 1)
    secs["total"] = round(time.perf_counter() - t0, 1)
    return HindcastResult(out, ver, len(decisions_by["model"]), secs)


def _choose_clim_probability(od_train: pd.DataFrame, obs_lv: pd.DataFrame, ladder: Ladder,
                             grid: Sequence[float] = PROBABILITY_GRID
                             ) -> tuple[float, list[dict[str, Any]]]:
    """Climatology threshold: maximise, over the training days, the CSI of "P(AQI > 150) ≥ p"
    against observed yellow-or-higher episode days (climatology of the same training days)."""
    days = obs_lv[obs_lv["date"].isin(pd.to_datetime(od_train["date"]))].dropna(subset=["aqi"])
    g = od_train.copy()
    g["gated"] = _gated(g, ladder)
    g["doy"] = pd.to_datetime(g["date"]).dt.day_of_year
    probs = []
    for uid, d in zip(days["unit_id"], days["date"], strict=True):
        gu = g[g["unit_id"] == uid]
        dist = np.abs(gu["doy"].to_numpy() - d.day_of_year)
        x = gu["gated"].to_numpy(float)[np.minimum(dist, 366 - dist) <= 15]
        x = x[np.isfinite(x)]
        probs.append(float(np.mean(x > 150)) if len(x) else np.nan)
    pr = np.asarray(probs)
    obs_yes = days["level"].map(_RANK).fillna(0).to_numpy() >= 2
    rows, best = [], (None, -1.0)
    for p in grid:
        f = np.nan_to_num(pr, nan=-1) >= p
        a, b, c = int((f & obs_yes).sum()), int((f & ~obs_yes).sum()), int((~f & obs_yes).sum())
        csi = a / (a + b + c) if a + b + c else 0.0
        rows.append({"probability": p, "csi": csi})
        if csi > best[1]:
            best = (p, csi)
    return float(best[0] if best[0] is not None else 0.5), rows


def reliability_table(ds: xr.Dataset, od: pd.DataFrame, bins: int = 10) -> dict[str, Any]:
    """Reliability of the forecast exceedance probabilities at each lead day: per probability bin,
    mean forecast probability, observed frequency and count. Events: ``aqi_gt_150`` (p_aqi_gt_150
    vs observed daily AQI > 150) and, when present, ``o3_gt_215`` (p_o3_iaqi_gt_150 vs observed
    MDA8 > 215 µg/m³)."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    dates = np.asarray(ds["date"].values).astype(str)
    out: dict[str, Any] = {}
    events = [("aqi_gt_150", "p_aqi_gt_150", "aqi", 150.0),
              ("o3_gt_215", "p_o3_iaqi_gt_150", "o3_8h_max", 215.0)]
    for name, pvar, col, thr in events:
        if pvar not in ds.variables:
            continue
        tab = od.pivot_table(index="date", columns="unit_id", values=col, aggfunc="first")
        res = {}
        for k in range(dates.shape[1]):
            dd = pd.to_datetime(dates[:, k])
            o = tab.reindex(index=dd, columns=regions).to_numpy()
            p = ds[pvar].isel(day=k).transpose("issue_time", "region").to_numpy()
            ok = np.isfinite(o) & np.isfinite(p)
            pv, ov = p[ok], (o[ok] > thr).astype(float)
            idx = np.minimum((pv * bins).astype(int), bins - 1)
            rows = []
            for b in range(bins):
                s = idx == b
                if s.any():
                    rows.append({"bin": [b / bins, (b + 1) / bins], "n": int(s.sum()),
                                 "p_mean": float(pv[s].mean()), "obs_freq": float(ov[s].mean())})
            bs = float(np.mean((pv - ov) ** 2)) if len(pv) else None
            res[f"D+{k + 1}"] = {"bins": rows, "brier": bs, "base_rate": float(ov.mean())
                                 if len(ov) else None}
        out[name] = res
    return out


def error_breakdown(colour_lead: dict[str, Any], obs_lv: pd.DataFrame) -> dict[str, Any]:
    """Where the misses and false alarms of one lead day come from (the ``colour["D+k"]`` table
    of :func:`verify_chain` with its dates, and :func:`observed_levels`).

    Returns
    -------
    dict
        ``misses``: counts by the observed PM-gated AQI of the day (``150-200`` a day of a
        2-day run above 150, ``200-250``, ``>250``), by the length of its observed episode
        (``1 day``, ``2 days``, ``3+ days``) and ``onset`` (first day of the episode);
        ``false_alarms``: counts by the observed PM-gated AQI (``<=100``, ``100-150``,
        ``150-200`` a single day above 150, no episode) and ``next_to_episode`` (the day
        before or after an observed episode day: a timing error, not a wrong event).
    """
    o = obs_lv.copy()
    o["key"] = o["unit_id"].astype(str) + ":" + pd.to_datetime(o["date"]).dt.strftime("%Y-%m-%d")
    ep = o.dropna(subset=["episode_start"])
    length = ep.groupby(["unit_id", "episode_start"])["date"].transform("size")
    o.loc[ep.index, "ep_len"] = length
    by = o.set_index("key")
    yes = set(o.loc[o["level"].map(_RANK).fillna(0) >= 2, "key"])

    def band(x: float, edges: Sequence[tuple[float, str]]) -> str:
        for hi, name in edges:
            if x <= hi:
                return name
        return edges[-1][1]

    miss: dict[str, int] = {}
    for k in colour_lead.get("miss_dates", []):
        r = by.loc[k]
        g = float(r["gated_aqi"])
        for name in (band(g, [(200, "aqi 150-200"), (250, "aqi 200-250"), (1e9, "aqi >250")]),
                     {1: "1-day episode", 2: "2-day episode"}.get(int(r["ep_len"]),
                                                                  "3+-day episode"),
                     *(["onset"] if r["date"] == r["episode_start"] else [])):
            miss[name] = miss.get(name, 0) + 1
    fa: dict[str, int] = {}
    for k in colour_lead.get("false_alarm_dates", []):
        r = by.loc[k]
        g = float(r["gated_aqi"]) if r["gated_aqi"] == r["gated_aqi"] else -1.0
        u, d = k.split(":")
        near = any(f"{u}:{(pd.Timestamp(d) + pd.Timedelta(days=j)).date()}" in yes
                   for j in (-1, 1))
        for name in (band(g, [(100, "aqi <=100"), (150, "aqi 100-150"), (1e9, "aqi >150")]),
                     *(["next to an episode"] if near else [])):
            fa[name] = fa.get(name, 0) + 1
    return {"misses": miss, "false_alarms": fa}


def format_verification(ver: dict[str, Any]) -> str:
    """Plain-text table: D+k colour POD/FAR/CSI/hits/misses/FA/mean lead for the model and the
    baselines, then the action counts."""
    def f(v: Any, d: int = 2) -> str:
        return f"{v:6.{d}f}" if isinstance(v, int | float) and v == v else "     –"

    lines = [f"{'system':12s} lead   POD    FAR    CSI    hits  miss  FA    lead_h"]
    rows = ([("model", ver)] + list(ver.get("baselines", {}).items())
            + list(ver.get("reference", {}).items()))
    for name, v in rows:
        for lead, s in v["colour"].items():
            lines.append(f"{name:12s} {lead:5s} {f(s['pod'])} {f(s['far'])} {f(s['csi'])} "
                         f"{s['hits']:5d} {s['misses']:5d} {s['false_alarms']:5d} "
                         f"{f(s['mean_lead_h'], 1)}")
    lines.append(f"{'system':12s} episodes caught mean_lead_h  issue upgrade downgrade lift "
                 f"early_lift regional")
    for name, v in rows:
        a, e = v["actions"], v["episodes"]
        lines.append(f"{name:12s} {e['n']:8d} {e['caught']:6d} {f(e['mean_lead_h'], 1):>11s}  "
                     f"{a['issue']:5d} {a['upgrade']:7d} {a['downgrade']:9d} {a['lift']:4d} "
                     f"{a['early_lifts']:10d} {a['regional']:8d}")
    o3 = ver.get("o3_events")
    if o3:
        thr = o3.get("probability_threshold")
        lines.append(f"O3 MDA8 > 215   lead   CSI(median) CSI(P≥{thr}) CSI(persistence)")
        for lead in o3["median"]:
            pr = (o3.get("probability") or {}).get(lead, {})
            lines.append(f"{'':15s} {lead:5s}  {f(o3['median'][lead]['csi']):>10s} "
                         f"{f(pr.get('csi')):>9s} {f(o3['persistence'][lead]['csi']):>14s}")
    return "\n".join(lines)
