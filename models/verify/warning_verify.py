"""Verification of issued heavy-pollution warnings (domain-spec §2 T2.5 / §4 T4.2, convention U).

Convention (settings in ``configs/verification.yaml``; the spec marks it as proposed):

* day mode, per sub-region and level; a warning decision with ``action`` ``issue``, ``upgrade`` or
  ``regional`` and a colour level counts once per unit it names;
* it is a **hit** when the observed daily-AQI sequence over its window (``start`` … ``end``, local
  dates) meets that level's condition — evaluated with the unit's ladder through
  :func:`alerts.ladders.evaluate_ladder` (observed PM2.5 / O3-8h / primary pollutant passed, so the
  PM-driven gate applies), or with the fallback ``warning_levels`` rule of the settings when the
  ladder module is not available — otherwise a **false alarm**;
* a **miss** is an observed episode (maximal run of days from which the next three observed days
  meet the level's condition) with no warning of that level or higher in force on any of its days;
* lead time = hours from the issue time to local midnight of the first observed exceedance day;
  lead day = that day minus the local issue date (D+1, D+2, D+3; 0 = issued on the day itself).

Units: AQI dimensionless; lead times in hours.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from airwarn.configs.verification_schema import LadderClause, VerificationSettings

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["COUNTED_ACTIONS", "read_decisions", "decisions_from_register", "fallback_level",
           "verify_warnings"]

#: Decision actions that count as an issued warning (``continue`` repeats one already counted).
COUNTED_ACTIONS: tuple[str, ...] = ("issue", "upgrade", "regional")
_RANK = {"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}


def read_decisions(source: str | Path | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Warning decisions as dicts (``WarningDecision.to_dict()`` form).

    Parameters
    ----------
    source : path or iterable of dict
        A directory of ``warnings/<stamp>.json`` files, one such file, or decision dicts. A file
        holds a list of decisions, or an object with a ``decisions`` list, or one decision.

    Raises
    ------
    ValueError
        A file that is not JSON or holds no decision objects (the message names the file).
    """
    if not isinstance(source, (str, Path)):
        return [dict(d) for d in source]
    p = Path(source)
    files = sorted(p.glob("*.json")) if p.is_dir() else ([p] if p.exists() else [])
    out: list[dict[str, Any]] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{f}: not a JSON warning-decision file: {exc}") from None
        if isinstance(data, dict) and "decisions" in data:
            data = data["decisions"]
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ValueError(f"{f}: expected a list of warning decisions (objects)")
        out.extend(data)
    return out


def decisions_from_register(path: str | Path, track: str = "colour") -> list[dict[str, Any]]:
    """Issued warnings as recorded in the warnings register (``<data_dir>/register.sqlite``).

    The register holds what was actually issued, including forecasters' overrides, so it is
    preferred over the run files when present.

    Parameters
    ----------
    path : path
        The SQLite register (:class:`alerts.register.Register`).
    track : str
        Register track (``colour`` warnings; ``o3`` advisories are not verified here).

    Returns
    -------
    list of dict
        ``decision_id``, ``issue_time`` (the run, ISO UTC), ``unit_ids``, ``level``, ``action``,
        ``start``, ``end``, ``decided_by``.
    """
    from airwarn.alerts.register import Register

    tab = Register(path).transitions()
    if tab.empty:
        return []
    tab = tab[tab["track"] == track] if "track" in tab.columns else tab
    out = []
    for _, r in tab.iterrows():
        try:
            units = json.loads(r["unit_ids"])
        except (TypeError, ValueError):
            units = [u for u in str(r["unit_id"]).split(",") if u]
        out.append({"decision_id": r["decision_id"], "issue_time": r["run"], "unit_ids": units,
                    "level": r["to_level"], "action": r["action"], "start": r["start"],
                    "end": r["end"], "decided_by": r.get("decided_by", "")})
    return out


def _clause_met(aqi: np.ndarray, c: LadderClause) -> bool:
    with np.errstate(invalid="ignore"):
        above = aqi > c.gt
    run = 0
    for k, a in enumerate(above):
        run = run + 1 if a else 0
        if run >= c.days:
            seg = aqi[k - run + 1: k + 1]
            if c.and_gt is None:
                return True
            with np.errstate(invalid="ignore"):
                if int(np.sum(seg > c.and_gt)) >= c.and_days:
                    return True
    return False


def fallback_level(daily_aqi: Sequence[float], settings: VerificationSettings) -> str:
    """Highest level of the settings' ``warning_levels`` rule met by a daily AQI sequence."""
    aqi = np.asarray(daily_aqi, dtype=float)
    best = "none"
    for level, clauses in settings.warning_levels.items():
        if _RANK[level] > _RANK[best] and any(_clause_met(aqi, c) for c in clauses):
            best = level
    return best


def _level_fn(settings: VerificationSettings,
              ladders: dict[str, str] | None) -> Callable[[str, pd.DataFrame], str]:
    try:
        from airwarn.alerts.ladders import evaluate_ladder, load_ladder
    except ImportError:  # pragma: no cover - ladder module absent
        evaluate_ladder = load_ladder = None  # type: ignore[assignment]
    loaded: dict[str, Any] = {}

    def ladder(unit: str) -> Any:
        lid = (ladders or {}).get(unit, "national-2024")
        if lid not in loaded:
            try:
                loaded[lid] = load_ladder(lid, allow_long_horizon=True)
            except (ValueError, KeyError, FileNotFoundError):
                loaded[lid] = None
        return loaded[lid]

    def level(unit: str, seq: pd.DataFrame) -> str:
        aqi = seq["aqi"].to_numpy(dtype=float)
        if len(aqi) == 0:
            return "none"
        lad = ladder(unit) if evaluate_ladder is not None else None
        if lad is not None:
            try:
                res = evaluate_ladder(lad, aqi, daily_pm25=seq["pm25"].to_numpy(float),
                                      daily_o3_8h=seq["o3_8h_max"].to_numpy(float),
                                      primary=[None if p is None or p != p else str(p)
                                               for p in seq["primary"]])
                return str(res.level)
            except (ValueError, KeyError, FileNotFoundError):
                pass
        return fallback_level(aqi, settings)

    return level


def _local_date(x: Any) -> pd.Timestamp:
    t = pd.Timestamp(x)
    if t.tzinfo is not None:
        t = t.tz_convert(LOCAL_TZ).tz_localize(None)
    return t.normalize()


def verify_warnings(decisions: Iterable[dict[str, Any]], obs_daily: pd.DataFrame,
                    settings: VerificationSettings, *, ladders: dict[str, str] | None = None,
                    period: tuple[Any, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Score issued warnings against observed daily AQI (see the module docstring).

    Parameters
    ----------
    decisions : iterable of dict
        Warning decisions (``issue_time`` ISO, ``unit_ids``, ``level``, ``action``, ``start``,
        ``end`` local ISO).
    obs_daily : pandas.DataFrame
        :func:`models.verify.match.observed_daily` output (``date``, ``unit_id``, ``aqi`` …).
    settings : VerificationSettings
    ladders : dict, optional
        Unit id → ladder id (``Unit.ladder``); default ``national-2024``.
    period : (date, date), optional
        Local dates; warnings issued and episodes starting outside are ignored.

    Returns
    -------
    dict of pandas.DataFrame
        ``list`` (one row per warning × unit: level, window, observed level, hit, lead hours and
        lead day), ``by_level`` (hits, false alarms, misses, POD, FAR, CSI per level),
        ``by_lead_day`` (per level and lead day: warnings, hits, false alarms, FAR, mean lead h),
        ``misses`` (missed episodes: unit, level, start, end).
    """
    level_of = _level_fn(settings, ladders)
    od = obs_daily.copy()
    if len(od):
        od["date"] = pd.to_datetime(od["date"]).dt.normalize()
    by_unit = {u: g.set_index("date").sort_index() for u, g in od.groupby("unit_id")} if len(od) \
        else {}
    p0 = p1 = None
    if period is not None:
        p0, p1 = _local_date(period[0]), _local_date(period[1])

    rows = []
    in_force: dict[tuple[str, str], list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for dec in decisions:
        lev = str(dec.get("level", "none"))
        if _RANK.get(lev, 0) == 0:
            continue
        try:
            issued = pd.Timestamp(dec["issue_time"])
            start = _local_date(dec.get("start") or issued)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"warning decision {dec.get('decision_id', '?')}: bad issue_time/"
                             f"start ({exc})") from None
        end = _local_date(dec["end"]) if dec.get("end") else start + pd.Timedelta(days=2)
        if issued.tzinfo is None:
            issued = issued.tz_localize(LOCAL_TZ)
        units = [str(u) for u in dec.get("unit_ids", [])]
        for u in units:
            in_force.setdefault((u, lev), []).append((start, end))
        if dec.get("action") not in COUNTED_ACTIONS:
            continue
        issue_day = _local_date(issued)
        if p0 is not None and not (p0 <= issue_day <= p1):
            continue
        for u in units:
            seq = by_unit.get(u)
            window = seq.loc[start:end] if seq is not None else pd.DataFrame()
            n_obs = int(window["aqi"].notna().sum()) if len(window) else 0
            obs_level = level_of(u, window) if n_obs else "none"
            hit = _RANK[obs_level] >= _RANK[lev] if n_obs else None
            first = None
            if n_obs:
                thr = min(c.gt for c in settings.warning_levels.get(lev, [LadderClause(gt=150, days=1)]))
                ex = window.index[(window["aqi"] > thr).to_numpy()]
                first = ex[0] if len(ex) else None
            lead_h = lead_day = None
            if first is not None:
                lead_h = (first.tz_localize(LOCAL_TZ) - issued).total_seconds() / 3600.0
                lead_day = int((first - issue_day).days)
            rows.append({
                "decision_id": dec.get("decision_id", ""), "unit_id": u, "level": lev,
                "action": dec.get("action"), "issue_time": issued.isoformat(),
                "start": start.date().isoformat(), "end": end.date().isoformat(),
                "observed_level": obs_level, "n_obs_days": n_obs,
                "hit": hit, "first_exceedance": None if first is None else first.date().isoformat(),
                "lead_hours": lead_h, "lead_day": lead_day,
                "decided_by": dec.get("decided_by") or ("forecaster" if dec.get("override")
                                                        else "airwarn"),
            })
    wl = pd.DataFrame(rows, columns=["decision_id", "unit_id", "level", "action", "issue_time",
                                     "start", "end", "observed_level", "n_obs_days", "hit",
                                     "first_exceedance", "lead_hours", "lead_day",
                                     "decided_by"])

    # observed episodes and misses
    miss_rows = []
    episodes: dict[str, int] = {lv: 0 for lv in settings.warning_levels}
    # no clause of any level can hold on a window whose AQI never exceeds the lowest threshold
    floor = min((c.gt for cl in settings.warning_levels.values() for c in cl), default=150.0)
    for u, seq in by_unit.items():
        dates = seq.index
        aqi_u = seq["aqi"].to_numpy(dtype=float)
        lv_day = []
        for k in range(len(dates)):
            with np.errstate(invalid="ignore"):
                if not np.nanmax(np.append(aqi_u[k:k + 3], -np.inf)) > floor:
                    lv_day.append(0)
                    continue
            win = seq.iloc[k:k + 3]
            consecutive = (win.index - dates[k]).days.to_numpy() == np.arange(len(win))
            win = win[consecutive]
            lv_day.append(_RANK[level_of(u, win)] if win["aqi"].notna().any() else 0)
        lv_arr = np.asarray(lv_day)
        for lev in settings.warning_levels:
            mask = lv_arr >= _RANK[lev]
            k = 0
            while k < len(mask):
                if not mask[k]:
                    k += 1
                    continue
                j = k
                while j + 1 < len(mask) and mask[j + 1] and (dates[j + 1] - dates[j]).days == 1:
                    j += 1
                e0, e1 = dates[k], dates[j]
                k = j + 1
                if p0 is not None and not (p0 <= e0 <= p1):
                    continue
                episodes[lev] += 1
                covered = any(s <= e1 and e >= e0
                              for lv2, spans in ((lv2, in_force.get((u, lv2), []))
                                                 for lv2 in _RANK if _RANK[lv2] >= _RANK[lev])
                              for s, e in spans)
                if not covered:
                    miss_rows.append({"unit_id": u, "level": lev, "start": e0.date().isoformat(),
                                      "end": e1.date().isoformat()})
    misses = pd.DataFrame(miss_rows, columns=["unit_id", "level", "start", "end"])

    by_level = []
    for lev in settings.warning_levels:
        sub = wl[(wl["level"] == lev) & wl["hit"].notna()]
        a = int((sub["hit"] == True).sum())  # noqa: E712
        b = int((sub["hit"] == False).sum())  # noqa: E712
        c = int((misses["level"] == lev).sum())
        by_level.append({"level": lev, "warnings": a + b, "hits": a, "false_alarms": b,
                         "misses": c, "observed_episodes": episodes[lev],
                         "pod": a / (a + c) if a + c else np.nan,
                         "far": b / (a + b) if a + b else np.nan,
                         "csi": a / (a + b + c) if a + b + c else np.nan,
                         "mean_lead_hours": float(sub.loc[sub["hit"] == True, "lead_hours"].mean())  # noqa: E712
                         if a else np.nan})
    by_lead = []
    for lev in settings.warning_levels:
        for ld in settings.warning_lead_days:
            sub = wl[(wl["level"] == lev) & wl["hit"].notna()]
            day_of = sub["lead_day"].where(sub["lead_day"].notna(),
                                           (pd.to_datetime(sub["start"]) -
                                            pd.to_datetime(sub["issue_time"].str[:10])).dt.days)
            s2 = sub[day_of == ld]
            a = int((s2["hit"] == True).sum())  # noqa: E712
            b = int((s2["hit"] == False).sum())  # noqa: E712
            by_lead.append({"level": lev, "lead_day": ld, "warnings": a + b, "hits": a,
                            "false_alarms": b, "far": b / (a + b) if a + b else np.nan,
                            "mean_lead_hours": float(s2["lead_hours"].mean()) if a else np.nan})
    return {"list": wl, "by_level": pd.DataFrame(by_level), "by_lead_day": pd.DataFrame(by_lead),
            "misses": misses}
