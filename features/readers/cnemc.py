"""The CNEMC hourly release (全国城市空气质量实时发布): one file per hour, all stations.

Layout (UTF-8 or GBK CSV, one row per station)::

    timepoint,stationcode,longitude,latitude,area,positionname,primarypollutant,aqi,
    pm10,pm10_24h,pm2_5,pm2_5_24h,o3,o3_24h,o3_8h,o3_8h_24h,no2,no2_24h,so2,so2_24h,co,co_24h

* ``timepoint``: Beijing time (Asia/Shanghai), e.g. ``2024-01-01 08:00:00``; the hour label ends
  the hour (08:00 = the mean of 07:00–08:00). As every airwarn reader does (DESIGN.md, "Time"),
  the label is kept as the source gives it and converted to UTC — no shift between hour-beginning
  and hour-ending conventions.
* ``pm10 pm2_5 o3 no2 so2`` µg/m³, ``co`` mg/m³ (the hourly values enter the canonical table);
  ``aqi``, the 24-h and 8-h moving means and ``primarypollutant`` are counted as ignored.
* Empty cells (and ``—``, ``-``) are missing.
* Header names are matched case-insensitively: the platform's own record fields
  (``GetAQIDataPublishLives``: ``TimePoint, StationCode, Longitude, Latitude, Area, PositionName,
  PrimaryPollutant, AQI, PM10, …, PM2_5, …, CO_24h``) are the lower-case names above in
  CamelCase, and a CSV dumped straight from those records may also carry the platform's display
  fields (:data:`CNEMC_PLATFORM_EXTRA`: ``Quality, Measure, Unheathful, IsPublish, CityCode,
  OrderId, ProvinceId``), which are counted as ignored. Any other column is refused.
* A file may list the same station twice: identical rows are merged, conflicting values follow
  the duplicate rule of :mod:`features.readers.common` (last valid value kept, ``QC_DUPLICATE``,
  the superseded records in ``report.rejected``).

:func:`read_cnemc` also gives the station metadata seen (``station_id, lon, lat, area,
positionname``; ``stations_seen=`` or :func:`read_cnemc_stations`) — the input of ``airwarn stations update``
(:mod:`features.station_update`). :func:`write_cnemc` is the inverse (demo world, tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.features.readers.common import (
    BEIJING_TIME,
    ReaderError,
    ReadReport,
    localize_times,
    long_to_obs,
    parse_numbers,
    read_csv_strict,
    read_text,
)

__all__ = ["CNEMC_COLUMNS", "CNEMC_HOURLY", "CNEMC_PLATFORM_EXTRA", "CNEMC_TZ",
           "STATION_META_COLUMNS", "is_cnemc_header", "read_cnemc", "read_cnemc_stations",
           "write_cnemc", "sniff_cnemc"]

#: The header of the hourly release, in order.
CNEMC_COLUMNS = ("timepoint", "stationcode", "longitude", "latitude", "area", "positionname",
                 "primarypollutant", "aqi", "pm10", "pm10_24h", "pm2_5", "pm2_5_24h", "o3",
                 "o3_24h", "o3_8h", "o3_8h_24h", "no2", "no2_24h", "so2", "so2_24h", "co",
                 "co_24h")
#: Display fields of the platform's records (lower-cased) besides :data:`CNEMC_COLUMNS`: accepted
#: in a straight dump of the records and ignored (``OpenAccessGenerated`` is WCF plumbing, never
#: data, and is refused like any unknown column).
CNEMC_PLATFORM_EXTRA = ("quality", "measure", "unheathful", "ispublish", "citycode", "orderid",
                        "provinceid")
#: Hourly concentration columns → canonical variable (co already mg/m³, others µg/m³).
CNEMC_HOURLY = {"pm2_5": "pm25", "pm10": "pm10", "o3": "o3", "no2": "no2", "so2": "so2",
                "co": "co"}
#: Zone of ``timepoint``: Beijing time, fixed by the CNEMC release format itself — deliberately not
#: the settings zone (``LOCAL_TZ``), which an operator may change while CNEMC files stay Beijing time.
CNEMC_TZ = BEIJING_TIME
#: Station metadata columns (``stations_seen`` of :func:`read_cnemc`).
STATION_META_COLUMNS = ["station_id", "lon", "lat", "area", "positionname"]
_IGNORED = [c for c in CNEMC_COLUMNS[7:] if c not in CNEMC_HOURLY]


def is_cnemc_header(line: str) -> bool:
    """True when ``line`` (a file's first line) is a header of the hourly release: every column of
    :data:`CNEMC_COLUMNS` and nothing but them and :data:`CNEMC_PLATFORM_EXTRA`, in any order and
    letter case (``timepoint,stationcode,…`` or the platform's ``TimePoint,StationCode,…``)."""
    first = line.lstrip("\ufeff").splitlines()[0] if line.strip() else ""
    names = {c.strip().strip('"').lower() for c in first.split(",")}
    return set(CNEMC_COLUMNS) <= names <= set(CNEMC_COLUMNS) | set(CNEMC_PLATFORM_EXTRA)


def _header(df: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """Lower-case the header and check it: every release column present, no unknown column
    (the platform's display fields :data:`CNEMC_PLATFORM_EXTRA` allowed), no name twice."""
    cols = [c for c in df.columns if c != "_line"]
    low = [c.lower() for c in cols]
    dup = sorted({c for c, k in zip(cols, low, strict=True) if low.count(k) > 1})
    if dup:
        raise ReaderError(f"{path}, line 1: column(s) {dup} given twice (names are matched "
                          f"case-insensitively)")
    known = set(CNEMC_COLUMNS) | set(CNEMC_PLATFORM_EXTRA)
    unknown = [c for c, k in zip(cols, low, strict=True) if k not in known]
    if unknown:
        raise ReaderError(f"{path}, line 1: unknown column {unknown[0]!r}; expected the columns "
                          f"{list(CNEMC_COLUMNS)} (any letter case)")
    missing = [c for c in CNEMC_COLUMNS if c not in low]
    if missing:
        raise ReaderError(f"{path}, line 1: missing column(s) {missing}; found {cols}")
    return df.rename(columns=dict(zip(cols, low, strict=True)))


def _report(report: ReadReport | None, path: Path | str, encoding: str) -> ReadReport:
    r = report if report is not None else ReadReport()
    r.source, r.encoding = str(path), encoding
    return r


def _stations(df: pd.DataFrame, sid: pd.Series, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Station metadata seen in the file (last row of a station wins)."""
    meta = pd.DataFrame({"station_id": sid.to_numpy(dtype=object), "lon": lon, "lat": lat,
                         "area": df["area"].str.strip().to_numpy(dtype=object),
                         "positionname": df["positionname"].str.strip().to_numpy(dtype=object)})
    return meta.drop_duplicates("station_id", keep="last").sort_values(
        "station_id", kind="mergesort").reset_index(drop=True)


def _times(raw: pd.Series, path: Path | str, lines: np.ndarray, tz: str) -> pd.DatetimeIndex:
    """UTC times of ``timepoint`` cells (each distinct string parsed once: a file is one hour)."""
    codes, uniq = pd.factorize(raw, use_na_sentinel=False)
    first = np.zeros(len(uniq), dtype=int)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each distinct string
    parsed = localize_times(pd.Series(uniq, dtype=object), path, lines[first], "timepoint", tz)
    naive = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return pd.DatetimeIndex(naive[codes]).tz_localize("UTC")


def _to_obs(time: pd.DatetimeIndex, sid: np.ndarray, values: np.ndarray, lines: np.ndarray,
            rep: ReadReport) -> pd.DataFrame:
    """Canonical rows from the wide block; repeated station-hours go through the duplicate rule
    of :func:`features.readers.common.long_to_obs` (identical merged, conflicts flagged)."""
    from airwarn.features.store import OBS_COLUMNS, validate_obs

    var = [CNEMC_HOURLY[c] for c in CNEMC_HOURLY]
    wide = pd.DataFrame(values, columns=var)
    wide.insert(0, "station_id", sid)
    wide.insert(0, "time", time)
    dup = wide.duplicated(["time", "station_id"], keep=False).to_numpy()
    parts = [wide[~dup].assign(qc=np.int64(0))]
    if dup.any():
        d = wide[dup]
        k = len(var)
        long = pd.DataFrame({"time": np.repeat(d["time"].to_numpy(), k),
                             "station_id": np.repeat(d["station_id"].to_numpy(), k),
                             "variable": np.tile(np.asarray(var, dtype=object), len(d)),
                             "value": d[var].to_numpy().ravel(),
                             "line": np.repeat(lines[dup], k)})
        long["time"] = pd.to_datetime(long["time"], utc=True)
        parts.append(long_to_obs(long, rep))
    out = validate_obs(pd.concat(parts, ignore_index=True)[list(OBS_COLUMNS)],
                       source=str(rep.source))  # dtypes and (time, station) order
    rep.rows = len(out)
    return out


def read_cnemc(path: Path | str, *, report: ReadReport | None = None,
               tz: str = CNEMC_TZ, stations_seen: list[pd.DataFrame] | None = None
               ) -> pd.DataFrame:
    """Read one CNEMC hourly release file (all stations, one hour or several).

    Parameters
    ----------
    path : path-like
        The CSV (UTF-8 or GBK).
    report : ReadReport, optional
        Filled with counts, the ignored columns (AQI, moving means) and the rejected
        (superseded duplicate) records.
    tz : str
        Zone of ``timepoint`` (default Asia/Shanghai, Beijing time).
    stations_seen : list, optional
        The station metadata seen in the file (``station_id, lon, lat, area, positionname``;
        lon/lat degrees, NaN when empty; one row per station) is appended to it as a DataFrame.

    Returns
    -------
    DataFrame
        Canonical observations (``pm25 pm10 o3 no2 so2`` µg/m³, ``co`` mg/m³), ``time`` UTC with
        the source's hour label kept.

    Raises
    ------
    ReaderError
        Empty or truncated file, a header that is not the release's, a bad time, an
        unparsable value or coordinate, a missing station code — naming file, line and column.
    """
    text, enc = read_text(path)
    rep = _report(report, path, enc)
    df = _header(read_csv_strict(text, path), path)
    lines = df["_line"].to_numpy()
    sid = df["stationcode"].str.strip()
    empty = (sid == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column 'stationcode': missing station "
                          f"code; expected e.g. 1001A")
    time = _times(df["timepoint"], path, lines, tz)
    lon = parse_numbers(df["longitude"], path, lines, "longitude")
    lat = parse_numbers(df["latitude"], path, lines, "latitude")
    for name, v, lo, hi in (("longitude", lon, -180.0, 180.0), ("latitude", lat, -90.0, 90.0)):
        bad = (v < lo) | (v > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReaderError(f"{path}, line {int(lines[i])}, column {name!r}: {v[i]!r}; expected "
                              f"decimal degrees {lo:g}…{hi:g}")
    ignored = _IGNORED + [c for c in CNEMC_PLATFORM_EXTRA if c in df.columns]
    filled = (df[ignored].to_numpy(dtype=object) != "").sum(axis=0)
    for c, k in zip(ignored, filled, strict=True):
        rep.ignore(c, int(k))
    cols = list(CNEMC_HOURLY)
    block = df[cols].to_numpy(dtype=object)
    rep.records += block.size
    values = parse_numbers(block.ravel(), path, np.repeat(lines, len(cols)),
                           np.tile(np.asarray(cols, dtype=object), len(df))).reshape(block.shape)
    out = _to_obs(time, sid.to_numpy(dtype=object), values, lines, rep)
    if stations_seen is not None:
        stations_seen.append(_stations(df, sid, lon, lat))
    out.attrs["source_format"] = "cnemc"
    return out


def read_cnemc_stations(path: Path | str) -> pd.DataFrame:
    """The station metadata of a CNEMC hourly file (``station_id, lon, lat, area,
    positionname``; degrees) — what ``airwarn stations update`` compares with the table."""
    seen: list[pd.DataFrame] = []
    read_cnemc(path, stations_seen=seen)
    return seen[0]


def write_cnemc(obs: pd.DataFrame, stations: pd.DataFrame, path: Path | str, *,
                tz: str = CNEMC_TZ) -> Path:
    """Write canonical observations as a CNEMC hourly release file (the inverse of
    :func:`read_cnemc`; UTF-8, atomic).

    Parameters
    ----------
    obs : DataFrame
        Canonical observations (``time`` UTC, ``station_id``, µg/m³, ``co`` mg/m³); usually one
        hour, several hours are written as consecutive rows.
    stations : DataFrame
        ``station_id, lon, lat`` and ``area``/``positionname`` (or the station table's ``city``/
        ``name``); stations of ``obs`` missing here are written with empty metadata.
    path : path-like
        Target file.
    tz : str
        Zone of ``timepoint`` (Beijing time).

    Returns
    -------
    Path
        The file written. ``aqi``, ``primarypollutant`` and the moving means are left empty.
    """
    from airwarn.features.atomic import write_with

    st = stations.copy()
    if "area" not in st.columns:
        st["area"] = st["city"].astype(str).str.removesuffix("市") if "city" in st.columns else ""
    if "positionname" not in st.columns:
        st["positionname"] = st["name"] if "name" in st.columns else ""
    st = st.drop_duplicates("station_id", keep="last")
    st.index = pd.Index(st["station_id"].astype(str).to_numpy())
    sid = obs["station_id"].astype(str).to_numpy()
    meta = st.reindex(sid)
    local = pd.DatetimeIndex(obs["time"]).tz_convert(tz)
    out = pd.DataFrame({c: [""] * len(obs) for c in CNEMC_COLUMNS})
    out["timepoint"] = local.strftime("%Y-%m-%d %H:%M:%S")
    out["stationcode"] = sid
    out["longitude"] = _fmt(meta["lon"].to_numpy(dtype=float), "%.4f")
    out["latitude"] = _fmt(meta["lat"].to_numpy(dtype=float), "%.4f")
    out["area"] = meta["area"].fillna("").astype(str).to_numpy()
    out["positionname"] = meta["positionname"].fillna("").astype(str).to_numpy()
    for src, var in CNEMC_HOURLY.items():
        out[src] = _fmt(obs[var].to_numpy(dtype=float), "%.3f" if var == "co" else "%.1f")
    return write_with(Path(path), lambda t: out.to_csv(t, index=False, lineterminator="\n"))


def _fmt(x: np.ndarray, spec: str) -> np.ndarray:
    """Numbers as text with trailing zeros stripped (``35.0`` → ``35``); NaN → empty."""
    s = np.char.mod(spec, np.where(np.isfinite(x), x, 0.0))
    s = np.char.rstrip(np.char.rstrip(s, "0"), ".")
    s = np.where(s == "-0", "0", s)
    return np.where(np.isfinite(x), s, "")


def sniff_cnemc(path: Path, head: bytes) -> bool:
    """True for a CNEMC hourly release file (its header has the release's columns, see
    :func:`is_cnemc_header`)."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            first = head.decode(enc, errors="strict" if len(head) < 4096 else "ignore")
        except UnicodeDecodeError:
            continue
        return is_cnemc_header(first)
    return False


def _register() -> None:
    from airwarn.features.readers.registry import InputFormat, register_format

    register_format(InputFormat(
        name="cnemc", kind="obs", sniff=sniff_cnemc, read=read_cnemc, priority=40,
        description="CNEMC hourly release (timepoint,stationcode,… or the platform's "
                    "TimePoint,StationCode,…; Beijing time, one file per hour, all stations)"))


_register()
