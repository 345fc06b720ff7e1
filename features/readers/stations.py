"""Station-observation readers: raw files → the canonical observation table.

=====================  ============================================================================
reader                 source
=====================  ============================================================================
``read_china_sites``   CNEMC national network daily files ``china_sites_YYYYMMDD.csv``
                       (``date,hour,type,<station ids…>``; hour 0–23 Asia/Shanghai)
``read_long_table``    any long table: time, station code, pollutant, value (, unit)
``read_stateair``      US Department of State AirNow/StateAir historical CSV (consulate posts)
``read_openaq``        OpenAQ CSV exports (location, datetime with offset, parameter, value, unit)
``read_domain_table``  any CSV / Parquet described by a domain config (``configs/domains/*.yaml``)
=====================  ============================================================================

All return the canonical table (``features.store``): ``time`` UTC (converted from the source's
zone, the hour label kept), ``station_id`` str, ``pm25 pm10 o3 no2 so2`` µg/m³, ``co`` mg/m³,
``qc`` bits. Missing values are NaN. Duplicates follow the rule of
:mod:`features.readers.common`; pass a :class:`~features.readers.common.ReadReport` as
``report=`` to get counts, ignored types and the rejected records. Bad input raises
:class:`~features.readers.common.ReaderError` naming the file, line, column and expectation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.configs.domain_schema import Domain
from airwarn.features.readers.common import (
    BEIJING_TIME,
    FIXED_UTC8,
    MISSING_TOKENS,
    POLLUTANT_ALIASES,
    ReaderError,
    ReadReport,
    localize_times,
    long_to_obs,
    normalise_unit,
    parse_numbers,
    read_csv_strict,
    read_text,
    to_canonical_units,
)

from airwarn.core.timeutil import LOCAL_TZ

__all__ = [
    "CHINA_SITES_TYPES", "CHINA_SITES_HOURLY", "STATEAIR_COLUMNS", "STATEAIR_SITES",
    "read_china_sites", "read_long_table", "read_stateair", "read_openaq", "read_domain_table",
    "read_canonical", "STATION_FORMATS", "LONG_TABLE_ALIASES", "detect_format", "read_station_file",
]

#: Every ``type`` of a china_sites file.
CHINA_SITES_TYPES = ("AQI", "PM2.5", "PM2.5_24h", "PM10", "PM10_24h", "SO2", "SO2_24h", "NO2",
                     "NO2_24h", "O3", "O3_24h", "O3_8h", "O3_8h_24h", "CO", "CO_24h")
#: The hourly types kept for the canonical table (CO already in mg/m³, others µg/m³).
CHINA_SITES_HOURLY = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "O3": "o3",
                      "CO": "co"}
_STATION_CODE = re.compile(r"^\d{4}[A-Z]$")

STATEAIR_COLUMNS = ("Site", "Parameter", "Date (LST)", "Year", "Month", "Day", "Hour", "Value",
                    "Unit", "Duration", "QC Name")
#: StateAir site → station_id. The consulate posts get the ids the UCI five-cities reader uses
#: for the same monitors (``<city>_us_post``); other sites become ``<site lower>_us_post``.
STATEAIR_SITES = {"Beijing": "beijing_us_post", "Chengdu": "chengdu_us_post",
                  "Guangzhou": "guangzhou_us_post", "Shanghai": "shanghai_us_post",
                  "Shenyang": "shenyang_us_post"}
_STATEAIR_PARAMS = {"PM2.5": "pm25", "O3": "o3", "Ozone": "o3"}
_SENTINELS = (-999.0, -9999.0)


def _naive_utc(t: pd.Series) -> np.ndarray:
    """tz-aware times as naive UTC ``datetime64[ns]`` (fast to repeat; re-localised later)."""
    return t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _report(report: ReadReport | None, path: Path | str, encoding: str = "") -> ReadReport:
    r = report if report is not None else ReadReport()
    r.source = str(path)
    r.encoding = encoding
    return r


# --------------------------------------------------------------------------- china_sites
def read_china_sites(path: Path | str, *, report: ReadReport | None = None,
                     tz: str = BEIJING_TIME) -> pd.DataFrame:
    """Read a CNEMC ``china_sites_YYYYMMDD.csv`` file (UTF-8 or GBK).

    Layout: header ``date,hour,type,<station id>…``; one row per (hour, type); ``date`` is
    ``YYYYMMDD`` and ``hour`` 0–23 in Asia/Shanghai; ``type`` one of :data:`CHINA_SITES_TYPES`.
    Only the hourly concentration types (:data:`CHINA_SITES_HOURLY`) enter the canonical table;
    AQI and the moving means are counted in ``report.ignored``. Empty cells are missing.

    Parameters
    ----------
    path : path-like
        The file.
    report : ReadReport, optional
        Filled with counts, ignored types and rejected (superseded duplicate) records.
    tz : str
        Zone of ``date``/``hour`` (default :data:`~airwarn.features.readers.common.BEIJING_TIME`:
        the format publishes Beijing time, whatever the settings zone).

    Returns
    -------
    DataFrame
        Canonical observations (µg/m³, CO mg/m³), UTC.

    Raises
    ------
    ReaderError
        Empty or truncated file, a column that is not a station code, an unknown type, a bad
        date or hour, an unparsable value — naming the file, line and column.
    """
    text, enc = read_text(path)
    rep = _report(report, path, enc)
    df = read_csv_strict(text, path, required=("date", "hour", "type"))
    cols = [c for c in df.columns if c != "_line"]
    if cols[:3] != ["date", "hour", "type"]:
        raise ReaderError(f"{path}, line 1: header starts {cols[:3]}; expected date,hour,type")
    stations = cols[3:]
    for k, c in enumerate(stations):
        if not _STATION_CODE.match(c):
            raise ReaderError(f"{path}, line 1, column {k + 4}: unknown column {c!r}; expected a "
                              f"station code such as 1001A after date,hour,type")
    if not stations:
        raise ReaderError(f"{path}, line 1: no station columns after date,hour,type")
    lines = df["_line"].to_numpy()
    types = df["type"].str.strip()
    unknown = ~types.isin(CHINA_SITES_TYPES)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column 'type': unknown type "
                          f"{types.iloc[i]!r}; expected one of {list(CHINA_SITES_TYPES)}")
    hour = parse_numbers(df["hour"], path, lines, "hour")
    bad = np.isnan(hour) | (hour < 0) | (hour > 23) | (hour != np.round(hour))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column 'hour': {df['hour'].iloc[i]!r}; "
                          f"expected an integer hour 0–23 (local time)")
    date = pd.to_datetime(df["date"].str.strip(), format="%Y%m%d", errors="coerce")
    if date.isna().any():
        i = int(np.flatnonzero(date.isna().to_numpy())[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column 'date': {df['date'].iloc[i]!r}; "
                          f"expected YYYYMMDD")
    local = date + pd.to_timedelta(hour, unit="h")
    time = _naive_utc(local.dt.tz_localize(tz))
    keep = types.isin(list(CHINA_SITES_HOURLY)).to_numpy()
    for t, n in types[~keep].value_counts().items():
        rep.ignore(str(t), int(n) * len(stations))
    sub = df[keep]
    block = sub[stations].to_numpy(dtype=object)
    n_r, n_s = block.shape
    rep.records += n_r * n_s
    cell_lines = np.repeat(sub["_line"].to_numpy(), n_s)
    cell_cols = np.tile(np.asarray(stations, dtype=object), n_r)
    values = parse_numbers(block.ravel(), path, cell_lines, cell_cols)
    long = pd.DataFrame({
        "time": np.repeat(time[keep], n_s),
        "station_id": cell_cols,
        "variable": np.repeat(types[keep].map(CHINA_SITES_HOURLY).to_numpy(), n_s),
        "value": values,
        "line": cell_lines,
    })
    long["time"] = pd.to_datetime(long["time"], utc=True)
    return long_to_obs(long, rep)


# --------------------------------------------------------------------------- long tables
def _variable_names(raw: pd.Series, path: Path | str, lines: np.ndarray, column: str,
                    rep: ReadReport, aliases: dict[str, str] | None) -> np.ndarray:
    """Map source pollutant names to canonical variables; others are ignored (counted)."""
    table = {**POLLUTANT_ALIASES, **{k.lower(): v for k, v in (aliases or {}).items()}}
    key = raw.astype(str).str.strip().str.lower().str.replace(" ", "", regex=False)
    var = key.map(table)
    for name, n in raw[var.isna()].value_counts().items():
        rep.ignore(str(name), int(n))
    return var.to_numpy(dtype=object)


#: Column names recognised by :func:`read_long_table` when not given (English and the Chinese
#: headers of common platform exports).
LONG_TABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "datetime", "监测时间", "时间", "日期时间"),
    "station": ("station_id", "station", "station_code", "站点编码", "站点代码", "监测点编码", "点位编码"),
    "pollutant": ("pollutant", "parameter", "污染物", "监测项目", "项目"),
    "value": ("value", "concentration", "浓度", "监测值", "浓度值"),
    "unit": ("unit", "units", "单位"),
}


def _resolve_long_columns(cols: list[str], given: dict[str, str | None], path: Path | str
                          ) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for role, name in given.items():
        if name is not None:
            out[role] = name
            continue
        found = next((c for c in LONG_TABLE_ALIASES[role] if c in cols), None)
        if found is None and role != "unit":
            raise ReaderError(f"{path}, line 1: no {role} column; expected one of "
                              f"{list(LONG_TABLE_ALIASES[role])} (or name it explicitly)")
        out[role] = found
    return out


def _header(p: Path) -> list[str]:
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(p).names)
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(f"{p}: not a readable Parquet file ({exc})") from None
    text, _ = read_text(p)
    return [c.strip() for c in text.splitlines()[0].split(",")]


def read_long_table(path: Path | str, *, time_col: str | None = None,
                    station_col: str | None = None, pollutant_col: str | None = None,
                    value_col: str | None = None, unit_col: str | None = None,
                    tz: str = LOCAL_TZ,
                    default_units: dict[str, str] | None = None,
                    pollutant_names: dict[str, str] | None = None,
                    report: ReadReport | None = None) -> pd.DataFrame:
    """Read a long table (one row per time, station and pollutant), CSV (UTF-8 / GBK) or Parquet.

    Parameters
    ----------
    path : path-like
        ``.csv`` / ``.txt`` or ``.parquet``.
    time_col, station_col, pollutant_col, value_col : str, optional
        Column names; by default the first of :data:`LONG_TABLE_ALIASES` present. Times
        without an offset are local in ``tz``.
    unit_col : str, optional
        Column with each value's unit (µg/m³, mg/m³, ppb, ppm); default a ``unit``/``单位``
        column if present; without one the units are ``default_units`` (default µg/m³, CO
        mg/m³).
    tz : str
        Zone of naive times (default the settings zone, ``LOCAL_TZ``; Asia/Shanghai).
    default_units : dict, optional
        Variable → unit when there is no unit column.
    pollutant_names : dict, optional
        Extra source name → canonical variable (``{"PM2_5": "pm25"}``). Names not recognised
        (AQI, 24-h means, …) are counted in ``report.ignored``.
    report : ReadReport, optional

    Returns
    -------
    DataFrame
        Canonical observations (µg/m³, CO mg/m³), UTC.
    """
    p = Path(path)
    rep = _report(report, p)
    names = _resolve_long_columns(_header(p), {"time": time_col, "station": station_col,
                                               "pollutant": pollutant_col, "value": value_col,
                                               "unit": unit_col}, p)
    time_col, station_col = str(names["time"]), str(names["station"])
    pollutant_col, value_col, unit_col = str(names["pollutant"]), str(names["value"]), names["unit"]
    need = [time_col, station_col, pollutant_col, value_col] + ([unit_col] if unit_col else [])
    df = _read_table(p, rep, need)
    lines = df["_line"].to_numpy()
    rep.records += len(df)
    var = _variable_names(df[pollutant_col], p, lines, pollutant_col, rep, pollutant_names)
    keep = pd.notna(var)
    df, var, lines = df[keep].reset_index(drop=True), var[keep], lines[keep]
    values = parse_numbers(df[value_col], p, lines, value_col, _SENTINELS)
    units = (df[unit_col].to_numpy(dtype=object) if unit_col else
             np.array([(default_units or {}).get(v, "mg/m3" if v == "co" else "ug/m3")
                       for v in var], dtype=object))
    values = _convert(values, var, units, p, lines, unit_col or "(default units)")
    sid = df[station_col].astype(str).str.strip()
    _check_station_ids(sid, p, lines, station_col)
    long = pd.DataFrame({"time": _naive_utc(localize_times(df[time_col], p, lines, time_col, tz)),
                         "station_id": sid.to_numpy(dtype=object), "variable": var,
                         "value": values, "line": lines})
    long["time"] = pd.to_datetime(long["time"], utc=True)
    return long_to_obs(long, rep)


def _read_table(p: Path, rep: ReadReport, need: list[str],
                encodings: tuple[str, ...] = ("utf-8-sig", "gb18030"), skip_lines: int = 0,
                parquet: bool = False) -> pd.DataFrame:
    """A CSV (strict, string cells) or Parquet file with the ``need`` columns and ``_line``."""
    if parquet or p.suffix.lower() == ".parquet":
        rep.encoding = "parquet"
        return _read_parquet_strings(p, need)
    text, enc = read_text(p, encodings)
    rep.encoding = enc
    return read_csv_strict(text, p, skip_lines=skip_lines, required=need)


def _read_parquet_strings(p: Path, need: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_parquet(p)
    except FileNotFoundError:
        raise ReaderError(f"{p}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
        raise ReaderError(f"{p}: not a readable Parquet file ({exc})") from None
    if df.empty:
        raise ReaderError(f"{p}: empty file; expected data rows")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ReaderError(f"{p}: missing column(s) {missing}; found {list(df.columns)}")
    out = pd.DataFrame({c: df[c] for c in df.columns})
    for c in out.columns:
        if not isinstance(out[c].dtype, pd.DatetimeTZDtype) and \
                not pd.api.types.is_datetime64_dtype(out[c].dtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
            out[c] = out[c].map(lambda x: x if x is None or isinstance(x, str) else repr(x)
                                if isinstance(x, float) else str(x))
        else:
            out[c] = out[c].map(lambda x: x.isoformat() if pd.notna(x) else "")
    out["_line"] = np.arange(len(out)) + 1  # row number (Parquet has no lines)
    return out


def _convert(values: np.ndarray, var: np.ndarray, units: np.ndarray, path: Path | str,
             lines: np.ndarray, unit_col: str) -> np.ndarray:
    out = values.copy()
    units = np.asarray(units, dtype=object)
    norm = np.array([normalise_unit(u) if u is not None else "" for u in units], dtype=object)
    for v in pd.unique(var):
        for u in pd.unique(norm[var == v]):
            m = (var == v) & (norm == u)
            try:
                out[m] = to_canonical_units(values[m], str(v), str(u) or str(units[m][0]))
            except ValueError as exc:
                i = int(np.flatnonzero(m)[0])
                raise ReaderError(f"{path}, line {int(lines[i])}, column {unit_col!r}: {exc}") from None
    return out


def _check_station_ids(sid: pd.Series, path: Path | str, lines: np.ndarray, col: str) -> None:
    bad = (sid == "") | sid.str.lower().isin(["nan", "none"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column {col!r}: missing station code")


# --------------------------------------------------------------------------- StateAir
def read_stateair(path: Path | str, *, sites: dict[str, str] | None = None,
                  report: ReadReport | None = None) -> pd.DataFrame:
    """Read a US State Department StateAir / AirNow historical file (consulate monitors).

    Layout: three preamble lines, then the header :data:`STATEAIR_COLUMNS`; Latin-1 (the unit
    column holds ``µg/m³``). Times are local standard time (China: UTC+8, no DST); the hour is
    taken from ``Year, Month, Day, Hour``. Missing: ``Value`` −999 or ``QC Name`` = ``Missing``.
    Values with ``QC Name`` = ``Invalid`` become NaN and are listed in ``report.rejected``.
    Only ``Duration`` = ``1 Hr`` rows are read (others counted as ignored).

    Parameters
    ----------
    path : path-like
    sites : dict, optional
        Site → station_id, replacing :data:`STATEAIR_SITES` entries.
    report : ReadReport, optional

    Returns
    -------
    DataFrame
        Canonical observations (PM2.5 µg/m³; O3 converted from ppb if given so), UTC.
    """
    text, enc = read_text(path, ("utf-8-sig", "latin-1"))
    rep = _report(report, path, enc)
    lines_all = text.splitlines()
    if len(lines_all) < 4:
        raise ReaderError(f"{path}: {len(lines_all)} line(s); expected 3 preamble lines, the "
                          f"header and data rows (truncated file?)")
    df = read_csv_strict(text, path, skip_lines=3, exact=STATEAIR_COLUMNS)
    lines = df["_line"].to_numpy()
    rep.records += len(df)
    dur = df["Duration"].str.strip()
    one_h = (dur == "1 Hr").to_numpy()
    for d, n in dur[~one_h].value_counts().items():
        rep.ignore(f"Duration {d}", int(n))
    param = df["Parameter"].str.strip()
    var = param.map(_STATEAIR_PARAMS).to_numpy(dtype=object)
    for name, n in param[pd.isna(var) & one_h].value_counts().items():
        rep.ignore(str(name), int(n))
    keep = one_h & pd.notna(var)
    df, var, lines = df[keep].reset_index(drop=True), var[keep], lines[keep]
    comps = {c: parse_numbers(df[c], path, lines, c) for c in ("Year", "Month", "Day", "Hour")}
    for c, (lo, hi) in {"Month": (1, 12), "Day": (1, 31), "Hour": (0, 23)}.items():
        bad = np.isnan(comps[c]) | (comps[c] < lo) | (comps[c] > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReaderError(f"{path}, line {int(lines[i])}, column {c!r}: {df[c].iloc[i]!r}; "
                              f"expected an integer {lo}–{hi}")
    try:
        local = pd.to_datetime(pd.DataFrame({"year": comps["Year"], "month": comps["Month"],
                                             "day": comps["Day"], "hour": comps["Hour"]}))
    except (ValueError, OverflowError) as exc:
        raise ReaderError(f"{path}: invalid Year/Month/Day/Hour ({exc})") from None
    time = local.dt.tz_localize(FIXED_UTC8).dt.tz_convert("UTC")
    values = parse_numbers(df["Value"], path, lines, "Value", _SENTINELS)
    qcname = df["QC Name"].str.strip().str.lower()
    values[(qcname == "missing").to_numpy()] = np.nan
    invalid = (qcname == "invalid").to_numpy() & ~np.isnan(values)
    site_map = {**STATEAIR_SITES, **(sites or {})}
    site = df["Site"].str.strip()
    sid = site.map(lambda s: site_map.get(s, f"{s.lower().replace(' ', '_')}_us_post"))
    for i in np.flatnonzero(invalid):
        rep.reject(int(lines[i]), "source QC 'Invalid'", sid.iloc[i], time.iloc[i], var[i],
                   values[i])
    values[invalid] = np.nan
    values = _convert(values, var, df["Unit"].to_numpy(dtype=object), path, lines, "Unit")
    long = pd.DataFrame({"time": _naive_utc(time), "station_id": sid.to_numpy(dtype=object),
                         "variable": var, "value": values, "line": lines})
    long["time"] = pd.to_datetime(long["time"], utc=True)
    return long_to_obs(long, rep)


# --------------------------------------------------------------------------- OpenAQ
_OPENAQ_LOCATION = ("location_id", "locationId", "location", "location_name")
_OPENAQ_TIME = ("datetime", "datetimeLocal", "date.local", "local", "datetimeUtc", "date.utc",
                "utc")
_OPENAQ_UNIT = ("unit", "units")


def read_openaq(path: Path | str, *, station_map: dict[str, str] | None = None,
                report: ReadReport | None = None) -> pd.DataFrame:
    """Read an OpenAQ CSV export (v2 explorer or v3 archive layout).

    Columns used: a location (``location_id`` preferred, else ``location``), a date-time with
    its UTC offset (``datetime`` / ``datetimeLocal`` / ``datetimeUtc`` / ``utc`` …),
    ``parameter`` (``pm25 pm10 o3 no2 so2 co``; others such as ``pm1``, ``temperature`` are
    counted as ignored), ``value`` and ``unit(s)``. Mixing ratios are converted at 298.15 K,
    1013.25 hPa (ppb → µg/m³, ppm → mg/m³ for CO).

    Parameters
    ----------
    path : path-like
    station_map : dict, optional
        Location → station_id; unmapped locations become ``openaq_<location>``.
    report : ReadReport, optional

    Returns
    -------
    DataFrame
        Canonical observations, UTC.
    """
    text, enc = read_text(path)
    rep = _report(report, path, enc)
    df = read_csv_strict(text, path, required=("parameter", "value"))
    cols = list(df.columns)

    def pick(cands: tuple[str, ...], what: str) -> str:
        for c in cands:
            if c in cols:
                return c
        raise ReaderError(f"{path}, line 1: no {what} column; expected one of {list(cands)}")

    loc_col, time_col = pick(_OPENAQ_LOCATION, "location"), pick(_OPENAQ_TIME, "date-time")
    unit_col = pick(_OPENAQ_UNIT, "unit")
    lines = df["_line"].to_numpy()
    rep.records += len(df)
    var = _variable_names(df["parameter"], path, lines, "parameter", rep, None)
    keep = pd.notna(var)
    df, var, lines = df[keep].reset_index(drop=True), var[keep], lines[keep]
    values = parse_numbers(df["value"], path, lines, "value", _SENTINELS)
    values = _convert(values, var, df[unit_col].to_numpy(dtype=object), path, lines, unit_col)
    loc = df[loc_col].astype(str).str.strip()
    _check_station_ids(loc, path, lines, loc_col)
    smap = station_map or {}
    sid = loc.map(lambda s: smap.get(s, f"openaq_{s}"))
    # UTC columns may be written without an offset; local columns must carry theirs
    utc_only = time_col in ("datetimeUtc", "date.utc", "utc")
    naive = ~df[time_col].astype(str).str.strip().str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$")
    if naive.any() and not utc_only:
        i = int(np.flatnonzero(naive.to_numpy())[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column {time_col!r}: "
                          f"{df[time_col].iloc[i]!r} has no UTC offset; expected e.g. "
                          f"2024-01-01T08:00:00+08:00")
    time = localize_times(df[time_col], path, lines, time_col, "UTC")
    long = pd.DataFrame({"time": _naive_utc(time), "station_id": sid.to_numpy(dtype=object),
                         "variable": var, "value": values, "line": lines})
    long["time"] = pd.to_datetime(long["time"], utc=True)
    return long_to_obs(long, rep)


# --------------------------------------------------------------------------- domain tables
def read_domain_table(path: Path | str, domain: Domain, *,
                      report: ReadReport | None = None) -> pd.DataFrame:
    """Read a CSV / Parquet file with the column mapping of a domain config.

    Parameters
    ----------
    path : path-like
        One file of the domain.
    domain : configs.domain_schema.Domain
        Layout (long or wide by station), time columns and zone, units, missing tokens.
    report : ReadReport, optional

    Returns
    -------
    DataFrame
        Canonical observations converted to µg/m³ (CO mg/m³), UTC.
    """
    p = Path(path)
    rep = _report(report, p)
    if domain.reader is not None and not domain.columns and not domain.wide:
        return _dedicated(p, domain, rep)
    if domain.wide:
        vcols = {(s.id, v): c for s in domain.stations for v, c in s.columns.items()}
    else:
        vcols = {(None, v): c for v, c in domain.columns.items()}
    need = list(dict.fromkeys(domain.time.source_columns + list(vcols.values())
                              + ([domain.station.column] if domain.station and
                                 domain.station.column else [])))
    encs = ("utf-8-sig", "gb18030") if domain.encoding == "auto" else (domain.encoding,)
    df = _read_table(p, rep, need, encs, domain.skip_lines, parquet=domain.format == "parquet")
    lines = df["_line"].to_numpy()
    # the common tokens (NA, empty, …) are handled by parse_numbers; map only the domain's own
    extra_tokens = [m for m in domain.missing_values if m.strip().lower() not in MISSING_TOKENS]
    if extra_tokens:
        for c in need:
            if c in df.columns:
                df[c] = df[c].where(~df[c].isin(extra_tokens), "")
    time = _domain_times(df, domain, p, lines)
    if domain.wide:
        sids = None
    elif domain.station.column:  # type: ignore[union-attr]
        sids = df[domain.station.column].astype(str).str.strip()  # type: ignore[union-attr]
        _check_station_ids(sids, p, lines, domain.station.column)  # type: ignore[union-attr, arg-type]
    elif domain.station.value:  # type: ignore[union-attr]
        sids = pd.Series([domain.station.value] * len(df))  # type: ignore[union-attr]
    else:
        m = re.search(domain.station.from_filename, p.name)  # type: ignore[union-attr, arg-type]
        if not m:
            raise ReaderError(f"{p}: file name does not match station.from_filename "
                              f"{domain.station.from_filename!r}")  # type: ignore[union-attr]
        sids = pd.Series([m.group(1)] * len(df))
    if sids is not None and domain.station is not None:
        if domain.station.lower:
            sids = sids.str.lower()
        sids = domain.station.prefix + sids
    parts = []
    for (sid, v), col in vcols.items():
        vals = parse_numbers(df[col], p, lines, col, domain.sentinels)
        try:
            vals = to_canonical_units(vals, v, domain.unit_of(v))
        except ValueError as exc:
            raise ReaderError(f"{p}: {exc}") from None
        rep.records += len(vals)
        parts.append(pd.DataFrame({
            "time": time, "station_id": (sids.to_numpy(dtype=object) if sid is None
                                         else np.full(len(df), sid, dtype=object)),
            "variable": v, "value": vals, "line": lines}))
    long = pd.concat(parts, ignore_index=True)
    long["time"] = pd.to_datetime(long["time"], utc=True)
    return long_to_obs(long, rep)


def _dedicated(p: Path, domain: Domain, rep: ReadReport) -> pd.DataFrame:
    """Read with the domain's dedicated reader (``READERS`` name or ``module:function``)."""
    import importlib

    from airwarn.configs.domain_schema import READERS
    from airwarn.features.store import validate_obs

    target = READERS.get(str(domain.reader), str(domain.reader))
    mod, _, fn = target.partition(":")
    try:
        reader = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise ReaderError(f"domain {domain.name}: reader {domain.reader!r} ({target}) is not "
                          f"available ({exc})") from None
    try:
        out = reader(p)
    except FileNotFoundError:
        raise ReaderError(f"{p}: file not found") from None
    except ValueError as exc:  # the UCI readers name file, line and column
        raise ReaderError(str(exc)) from None
    obs = out[0] if isinstance(out, tuple) else out
    obs = validate_obs(obs, source=f"{p} (reader {domain.reader})")
    rep.records += len(obs) * 6
    rep.rows = len(obs)
    return obs


def _domain_times(df: pd.DataFrame, domain: Domain, p: Path, lines: np.ndarray) -> np.ndarray:
    spec = domain.time
    assert spec is not None  # mapped layouts always have one (Domain validator)
    if spec.column:
        return _naive_utc(localize_times(df[spec.column], p, lines, spec.column,
                                         domain.timezone, spec.format))
    comps = {}
    for k in ("year", "month", "day", "hour"):
        col = getattr(spec, k)
        comps[k] = parse_numbers(df[col], p, lines, col)
        lo, hi = {"year": (1900, 2100), "month": (1, 12), "day": (1, 31), "hour": (0, 23)}[k]
        bad = np.isnan(comps[k]) | (comps[k] < lo) | (comps[k] > hi) | \
            (comps[k] != np.round(comps[k]))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReaderError(f"{p}, line {int(lines[i])}, column {col!r}: {df[col].iloc[i]!r}; "
                              f"expected an integer {k} {lo}–{hi}")
    try:
        local = pd.to_datetime(pd.DataFrame(comps))
    except (ValueError, OverflowError) as exc:
        raise ReaderError(f"{p}: invalid date in the {spec.source_columns} columns ({exc})") from None
    return _naive_utc(local.dt.tz_localize(domain.timezone))


# --------------------------------------------------------------------------- canonical files
def read_canonical(path: Path | str, *, report: ReadReport | None = None) -> pd.DataFrame:
    """Read a CSV / Parquet file already in the canonical layout (``qc`` optional, default 0).

    Times with an offset are used as given; naive times are taken as UTC.
    """
    p = Path(path)
    rep = _report(report, p)
    cols = ["time", "station_id", "pm25", "pm10", "o3", "no2", "so2", "co"]
    df = _read_table(p, rep, cols)
    unknown = [c for c in df.columns if c not in (*cols, "qc", "_line")]
    if unknown:
        raise ReaderError(f"{p}, line 1: unknown column {unknown[0]!r}; expected the canonical "
                          f"columns {cols + ['qc']}")
    lines = df["_line"].to_numpy()
    rep.records += len(df) * 6
    sid = df["station_id"].astype(str).str.strip()
    _check_station_ids(sid, p, lines, "station_id")
    time = _naive_utc(localize_times(df["time"], p, lines, "time", "UTC"))
    parts = []
    for v in ("pm25", "pm10", "o3", "no2", "so2", "co"):
        parts.append(pd.DataFrame({"time": time, "station_id": sid.to_numpy(dtype=object),
                                   "variable": v, "value": parse_numbers(df[v], p, lines, v),
                                   "line": lines}))
    long = pd.concat(parts, ignore_index=True)
    long["time"] = pd.to_datetime(long["time"], utc=True)
    out = long_to_obs(long, rep)
    if "qc" in df.columns:
        q = parse_numbers(df["qc"], p, lines, "qc")
        if np.isnan(q).any() or (q != np.round(q)).any() or (q < 0).any():
            i = int(np.flatnonzero(np.isnan(q) | (q != np.round(q)) | (q < 0))[0])
            raise ReaderError(f"{p}, line {int(lines[i])}, column 'qc': {df['qc'].iloc[i]!r}; "
                              f"expected a non-negative integer of QC bits")
        key = pd.MultiIndex.from_arrays([pd.to_datetime(time, utc=True), sid])
        qs = pd.Series(q.astype(np.int64), index=key)
        qs = qs.groupby(level=[0, 1]).agg(lambda s: int(np.bitwise_or.reduce(s.to_numpy())))
        pos = pd.MultiIndex.from_frame(out[["time", "station_id"]])
        out["qc"] = out["qc"].to_numpy() | qs.reindex(pos).fillna(0).astype(np.int64).to_numpy()
    return out


#: Formats understood by :func:`read_station_file`.
STATION_FORMATS = ("auto", "china_sites", "long", "stateair", "openaq", "canonical", "domain")


def _format_from_header(p: Path, lines: list[str]) -> str | None:
    """The station format named by a file's first lines, or None."""
    if p.name.startswith("china_sites_"):
        return "china_sites"
    if len(lines) >= 4 and lines[3].startswith("Site,Parameter,Date (LST)"):
        return "stateair"
    if not lines:
        return None
    return _format_from_columns([c.strip() for c in lines[0].split(",")])


def _format_from_columns(cols: list[str]) -> str | None:
    if cols[:3] == ["date", "hour", "type"]:
        return "china_sites"
    if "parameter" in cols and "value" in cols and any(c in cols for c in _OPENAQ_LOCATION):
        return "openaq"
    if {"time", "station_id", "pm25"} <= set(cols):
        return "canonical"
    if all(any(c in cols for c in LONG_TABLE_ALIASES[r])
           for r in ("time", "station", "pollutant", "value")):
        return "long"
    return None


def detect_format(path: Path | str) -> str:
    """Guess the format of a station-observation file from its name and header.

    Returns one of ``china_sites``, ``stateair``, ``openaq``, ``canonical``, ``long``.

    Raises
    ------
    ReaderError
        When the header matches no known layout (naming the file and the header seen).
    """
    p = Path(path)
    if p.name.startswith("china_sites_"):
        return "china_sites"
    if p.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq

            cols = list(pq.read_schema(p).names)
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(f"{p}: not a readable Parquet file ({exc})") from None
        found = _format_from_columns(cols)
    else:
        text, _ = read_text(p, ("utf-8-sig", "gb18030", "latin-1"))
        lines = text.splitlines()
        cols = [c.strip() for c in lines[0].split(",")] if lines else []
        found = _format_from_header(p, lines)
    if found is None:
        raise ReaderError(f"{p}: cannot tell the format from the header {cols[:8]}; pass "
                          f"--format (one of {list(STATION_FORMATS[1:])}) or --domain")
    return found


def _head_lines(head: bytes) -> list[str]:
    for enc in ("utf-8-sig", "gb18030", "latin-1"):
        try:
            return head.decode(enc).splitlines()[:-1] or head.decode(enc).splitlines()
        except UnicodeDecodeError:
            continue
    return []


def _station_sniffer(name: str) -> Callable[[Path, bytes], bool]:
    def sniff(p: Path, head: bytes) -> bool:
        if head[:4] == b"PAR1":
            import pyarrow.parquet as pq

            return _format_from_columns(list(pq.read_schema(p).names)) == name
        return _format_from_header(p, _head_lines(head)) == name

    sniff.__doc__ = f"True for a station file in the {name!r} layout."
    return sniff


def read_station_file(path: Path | str, fmt: str = "auto", *, domain: Domain | None = None,
                      report: ReadReport | None = None) -> pd.DataFrame:
    """Read one station-observation file with the reader of its format.

    Parameters
    ----------
    path : path-like
    fmt : str
        One of :data:`STATION_FORMATS`; ``auto`` detects it (:func:`detect_format`), or uses the
        domain when ``domain`` is given.
    domain : Domain, optional
        Column mapping for ``fmt="domain"`` (or ``auto`` with a domain).
    report : ReadReport, optional

    Returns
    -------
    DataFrame
        Canonical observations (µg/m³, CO mg/m³), UTC.
    """
    from airwarn.features.readers.registry import detect_format as detect_registered
    from airwarn.features.readers.registry import formats

    registered = {f.name: f for f in formats("obs")}
    if fmt not in STATION_FORMATS and fmt not in registered:
        raise ReaderError(f"unknown format {fmt!r}; expected one of "
                          f"{sorted(set(STATION_FORMATS) | set(registered))}")
    if fmt == "auto":
        fmt = "domain" if domain is not None else detect_registered(path, kinds=("obs",)).name
    if fmt == "domain":
        if domain is None:
            raise ReaderError(f"{path}: format 'domain' needs a domain config (--domain)")
        out = read_domain_table(path, domain, report=report)
        out.attrs.setdefault("source_format", "default")
        return out
    reader = {"china_sites": read_china_sites, "long": read_long_table,
              "stateair": read_stateair, "openaq": read_openaq,
              "canonical": read_canonical}.get(fmt, registered[fmt].read if fmt in registered
                                               else None)
    out = reader(path, report=report)  # type: ignore[misc]
    out.attrs.setdefault("source_format", fmt)  # which network (plausibility's network_start)
    return out


def _register_formats() -> None:
    from airwarn.features.readers.registry import InputFormat, register_format

    described = {
        "china_sites": "national network daily files china_sites_YYYYMMDD.csv (wide, hour ending)",
        "stateair": "US embassy StateAir hourly CSV",
        "openaq": "OpenAQ measurement export (long)",
        "canonical": "airwarn canonical table (time, station_id, pm25, …)",
        "long": "long table: time, station, pollutant, value",
    }
    readers = {"china_sites": read_china_sites, "long": read_long_table,
               "stateair": read_stateair, "openaq": read_openaq, "canonical": read_canonical}
    # specific layouts before the generic long table
    priority = {"china_sites": 30, "stateair": 30, "openaq": 20, "canonical": 20, "long": 0}
    for name, reader in readers.items():
        register_format(InputFormat(name=name, kind="obs", sniff=_station_sniffer(name),
                                    read=reader, description=described[name],
                                    priority=priority[name]))


_register_formats()
