"""Station meteorology (CMA surface stations): the met-observation store, the met-station →
unit mapping, unit means, and the merge into the unit observation table.

Store: ``<data_dir>/met/obs/YYYY-MM.parquet`` (one file per UTC month), the point-meteorology
table of :func:`features.readers.cma.read_cma_surface` — ``time`` (UTC), ``station_id``,
``t2m`` ``d2m`` K, ``sp`` Pa, ``tp`` mm h-1, ``u10`` ``v10`` ``ws10`` m s-1, ``rh`` %.
Writing is idempotent (identical rows unchanged, changed rows replaced) and atomic (all month
files staged, then renamed).

Mapping: ``configs/met_stations.csv`` (``station_id, name, unit_id, lon, lat, elevation``).
Unit value = mean of the unit's stations that hour (each variable over the stations that have
it; ``ws10`` the mean speed, ``u10``/``v10`` the mean components).

:func:`add_met_obs` adds these columns to the unit observation table
(``features.aggregate.stations_to_units`` output) so that ``features.build`` builds the ``mo_*``
history features from them (names of ``features.build.MET_HISTORY_VARS``) — in training and in
the daily run alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.features.store import WriteReport

from airwarn.core.runstore import RunStore

__all__ = ["MET_OBS_VARS", "MET_OBS_COLUMNS", "MET_STATION_COLUMNS", "met_obs_dir",
           "validate_met_obs", "write_met_obs", "read_met_obs", "load_met_stations",
           "met_obs_to_units", "add_met_obs"]

#: Point-meteorology variables (ERA5 names and units, see the module docstring).
MET_OBS_VARS = ["t2m", "d2m", "sp", "tp", "u10", "v10", "ws10", "rh"]
MET_OBS_COLUMNS = ["time", "station_id", *MET_OBS_VARS]
MET_STATION_COLUMNS = ["station_id", "name", "unit_id", "lon", "lat", "elevation"]
_KEY = ["time", "station_id"]
_MONTH = re.compile(r"^(\d{4})-(\d{2})\.parquet$")


def met_obs_dir(data_dir: Path | str) -> Path:
    """``<data_dir>/met/obs``."""
    return RunStore(data_dir).met_obs_dir


def validate_met_obs(df: pd.DataFrame, source: str = "station meteorology") -> pd.DataFrame:
    """The point-meteorology table with canonical dtypes (``time`` UTC ns, floats).

    Raises
    ------
    ValueError
        A missing column, naive times, or a repeated ``(time, station_id)`` — naming ``source``.
    """
    missing = [c for c in MET_OBS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {MET_OBS_COLUMNS}")
    out = df[MET_OBS_COLUMNS].copy()
    t = pd.to_datetime(out["time"])
    if t.dt.tz is None:
        raise ValueError(f"{source}: column 'time' has no time zone; expected UTC times")
    out["time"] = t.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    out["station_id"] = out["station_id"].astype(str).astype(object)
    for v in MET_OBS_VARS:
        out[v] = pd.to_numeric(out[v], errors="raise").astype("float64")
    if out.duplicated(_KEY).any():
        r = out[out.duplicated(_KEY)].iloc[0]
        raise ValueError(f"{source}: station {r['station_id']} at {r['time']} appears twice; "
                         f"expected one row per station-hour")
    return out.sort_values(_KEY, kind="mergesort").reset_index(drop=True)


def write_met_obs(df: pd.DataFrame, data_dir: Path | str) -> WriteReport:
    """Store station meteorology, one Parquet file per UTC month (idempotent, atomic).

    Parameters
    ----------
    df : DataFrame
        Point-meteorology table (:data:`MET_OBS_COLUMNS`, ERA5 units).
    data_dir : path-like

    Returns
    -------
    features.store.WriteReport
        Rows added / replaced / unchanged and the month files written.
    """
    from airwarn.features.store import _commit, dir_lock, same_rows  # the obs store's machinery

    new = validate_met_obs(df, "write_met_obs input")
    rep = WriteReport(rows_in=len(new))
    if new.empty:
        return rep
    with dir_lock(met_obs_dir(data_dir)):
        months = new["time"].dt.tz_convert(None).dt.to_period("M")
        staged: list[tuple[Path, pd.DataFrame]] = []
        for period, part in new.groupby(months, sort=True):
            path = RunStore(data_dir).met_obs_month(period)
            part = part.reset_index(drop=True)
            if not path.exists():
                rep.added += len(part)
                staged.append((path, part))
                continue
            old = validate_met_obs(pd.read_parquet(path), str(path))
            pos = pd.MultiIndex.from_frame(old[_KEY]).get_indexer(
                pd.MultiIndex.from_frame(part[_KEY]))
            hit = pos >= 0
            same = np.zeros(len(part), dtype=bool)
            if hit.any():
                same[hit] = same_rows(old.iloc[pos[hit]].reset_index(drop=True),
                                      part[hit].reset_index(drop=True), MET_OBS_VARS)
            rep.added += int((~hit).sum())
            rep.replaced += int((hit & ~same).sum())
            rep.unchanged += int(same.sum())
            if same.all():
                continue
            keep = np.ones(len(old), dtype=bool)
            keep[pos[hit & ~same]] = False
            merged = pd.concat([old[keep], part[~same]], ignore_index=True)
            staged.append((path, merged.sort_values(_KEY, kind="mergesort")
                           .reset_index(drop=True)))
        _commit(staged)
        rep.files = [p for p, _ in staged]
    return rep


def read_met_obs(data_dir: Path | str, start: object | None = None, end: object | None = None,
                 station_ids: list[str] | None = None) -> pd.DataFrame:
    """Stored station meteorology between ``start`` and ``end`` (inclusive, UTC; None = open).

    Returns an empty table (the columns of :data:`MET_OBS_COLUMNS`) when nothing is stored.
    """
    d = met_obs_dir(data_dir)
    t0 = pd.Timestamp(start).tz_convert("UTC") if start is not None and \
        pd.Timestamp(start).tzinfo else (pd.Timestamp(start).tz_localize("UTC")
                                          if start is not None else None)
    t1 = pd.Timestamp(end).tz_convert("UTC") if end is not None and \
        pd.Timestamp(end).tzinfo else (pd.Timestamp(end).tz_localize("UTC")
                                        if end is not None else None)
    parts = []
    for p in sorted(d.glob("*.parquet")) if d.exists() else []:
        m = _MONTH.match(p.name)
        if not m:
            continue
        first = pd.Timestamp(int(m.group(1)), int(m.group(2)), 1, tz="UTC")
        if (t1 is not None and first > t1) or \
                (t0 is not None and first + pd.offsets.MonthBegin(1) <= t0):
            continue
        parts.append(pd.read_parquet(p))
    if not parts:
        return validate_met_obs(pd.DataFrame({c: pd.Series(dtype="float64") for c in
                                              MET_OBS_COLUMNS}).assign(
            time=pd.Series(dtype="datetime64[ns, UTC]"), station_id=pd.Series(dtype=object)))
    out = validate_met_obs(pd.concat(parts, ignore_index=True), str(d))
    sel = np.ones(len(out), dtype=bool)
    if t0 is not None:
        sel &= (out["time"] >= t0).to_numpy()
    if t1 is not None:
        sel &= (out["time"] <= t1).to_numpy()
    if station_ids is not None:
        sel &= out["station_id"].isin([str(s) for s in station_ids]).to_numpy()
    return out[sel].reset_index(drop=True)


def load_met_stations(path: Path | str | None = None, unit_ids: list[str] | None = None
                      ) -> pd.DataFrame:
    """The met-station → unit mapping (``configs/met_stations.csv`` by default).

    Raises
    ------
    configs.ConfigError
        A missing file or column, a repeated station id, or (with ``unit_ids``) an unknown
        unit — naming the file and line.
    """
    from airwarn.configs.schema import ConfigError

    if path is None:
        from airwarn.configs import CONFIG_DIR, config_dir

        path = config_dir() / "met_stations.csv"
        if not path.exists():
            path = CONFIG_DIR / "met_stations.csv"
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={"station_id": str, "unit_id": str}, comment="#")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{p}: not a readable met-station table ({exc})") from None
    missing = [c for c in MET_STATION_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{p}, line 1: missing column(s) {missing}; expected "
                         f"{MET_STATION_COLUMNS}")
    dup = df["station_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ConfigError(f"{p}, line {i + 2}: station {df['station_id'].iloc[i]} listed twice")
    if unit_ids is not None:
        bad = ~df["unit_id"].isin(unit_ids)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError(f"{p}, line {i + 2}: unit {df['unit_id'].iloc[i]!r} is not a unit "
                             f"of region.yaml")
    return df[MET_STATION_COLUMNS]


def met_obs_to_units(met: pd.DataFrame, met_stations: pd.DataFrame) -> pd.DataFrame:
    """Unit-hour means of station meteorology.

    Returns
    -------
    DataFrame
        ``time`` (UTC), ``unit_id``, :data:`MET_OBS_VARS` (ERA5 units), ``n_met_stations``;
        stations not in ``met_stations`` are left out.
    """
    unit_of = dict(zip(met_stations["station_id"].astype(str),
                       met_stations["unit_id"].astype(str), strict=False))
    m = met.assign(unit_id=met["station_id"].astype(str).map(unit_of)).dropna(subset=["unit_id"])
    if m.empty:
        return pd.DataFrame({"time": pd.Series(dtype="datetime64[ns, UTC]"),
                             "unit_id": pd.Series(dtype=object),
                             **{v: pd.Series(dtype="float64") for v in MET_OBS_VARS},
                             "n_met_stations": pd.Series(dtype="int64")})
    g = m.groupby(["time", "unit_id"], sort=True)
    out = g[MET_OBS_VARS].mean()
    out["n_met_stations"] = g["station_id"].nunique()
    return out.reset_index()


def add_met_obs(obs_units: pd.DataFrame, data_dir: Path | str,
                met_stations: pd.DataFrame | None = None) -> pd.DataFrame:
    """``obs_units`` with the unit means of the stored station meteorology added.

    Parameters
    ----------
    obs_units : DataFrame
        Unit observations (``time``, ``unit_id``, pollutants …).
    data_dir : path-like
        Data store (``met/obs/``).
    met_stations : DataFrame, optional
        Mapping (default ``<data_dir>/demo/met_stations.csv`` in a demo world, written by
        ``features.demo_world.feed``, else ``configs/met_stations.csv``).

    Returns
    -------
    DataFrame
        ``obs_units`` unchanged when nothing is stored for its period or it already carries
        meteorology (the UCI sets); else with :data:`MET_OBS_VARS` columns (NaN where a unit has
        no station meteorology that hour), which ``features.build`` turns into ``mo_*``.
    """
    if obs_units is None or len(obs_units) == 0 or "t2m" in obs_units.columns:
        return obs_units
    if not met_obs_dir(data_dir).exists():
        return obs_units
    met = read_met_obs(data_dir, obs_units["time"].min(), obs_units["time"].max())
    if met.empty:
        return obs_units
    if met_stations is None:   # a demo world's synthetic met stations, else configs'
        demo = RunStore(data_dir).demo_met_stations
        met_stations = load_met_stations(demo if demo.exists() else None)
    units = met_obs_to_units(met, met_stations).drop(columns="n_met_stations")
    if units.empty:
        return obs_units
    left = obs_units.copy()
    left["time"] = pd.to_datetime(left["time"], utc=True).astype("datetime64[ns, UTC]")
    return left.merge(units, on=["time", "unit_id"], how="left")
