"""CMA surface-station hourly observations (中国地面逐小时资料, ``SURF_CHN_MUL_HOR``) as the
national meteorological data service (国家气象信息中心 / CIMISS, data.cma.cn) exports them.

Layout: a header line of element codes, then one row per station-hour; comma separated (CSV
export) or whitespace separated (the service's text export). A response of the data service's
``tabText`` format saved as it comes starts with a status line before the header,
``returnCode="0" returnMessage="…" …``: it is skipped when the code is 0 and refused otherwise
(the query failed; the message is quoted). Columns used (others ignored):

==================  ===========================================  ======================
column              meaning                                      unit
==================  ===========================================  ======================
``Station_Id_C``    区站号 (字符), e.g. ``56294``                  (``Station_Id_d`` too)
``Year Mon Day``    date, **UTC** (世界时)
``Hour``            hour 0–23 UTC; values are observed at the hour (PRE_1h: the hour ending)
``PRS``             station-level pressure 本站气压                 hPa
``TEM``             air temperature 气温                            °C
``DPT``             dew point 露点温度 (optional: from TEM and RHU)  °C
``RHU``             relative humidity 相对湿度 (optional: from TEM, DPT)  %
``WIN_D_Avg_2mi``   2-min mean wind direction (from), 0–360          degree
``WIN_S_Avg_2mi``   2-min mean wind speed                          m s-1
``PRE_1h``          precipitation of the hour 小时降水量              mm
==================  ===========================================  ======================

Special values (the service's 999999-type codes): ``999999`` missing (缺测), ``999998`` not
observed (无观测任务) and any other value ≥ :data:`CODE_MIN` are missing, except
``999990`` in ``PRE_1h``: trace precipitation (微量, below the 0.1 mm gauge resolution), read as
**0.0 mm** — a trace is no measurable precipitation (the rain-day threshold of GB/T 28592 is
0.1 mm), so hourly sums and the ``mo_tp_s24`` feature do not count it. ``999017`` (and any other
code) in the wind direction is missing; with a wind speed of 0 (静风, calm) u = v = 0 as for the
UCI sets. Values outside physical bounds (:data:`PLAUSIBLE`) become missing and are counted in
``attrs["out_of_range"]``.

Returns the point-meteorology table of :func:`features.readers.met.read_point_met`: ``time``
(UTC), ``station_id``, ``t2m`` K, ``d2m`` K, ``sp`` Pa, ``tp`` mm h-1, ``u10``, ``v10``, ``ws10``
m s-1, ``rh`` %.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.features.readers.common import ReaderError, parse_numbers, read_text

__all__ = ["CMA_COLUMNS", "CMA_REQUIRED", "CODE_MIN", "TRACE_CODE", "TRACE_MM", "PLAUSIBLE",
           "POINT_MET_COLUMNS", "read_cma_surface", "write_cma_surface", "sniff_cma_surface"]

#: Columns written by :func:`write_cma_surface` (a subset of the service's element list).
CMA_COLUMNS = ("Station_Id_C", "Year", "Mon", "Day", "Hour", "PRS", "TEM", "DPT", "RHU",
               "WIN_D_Avg_2mi", "WIN_S_Avg_2mi", "PRE_1h")
#: Columns a file must have (besides a station id column).
CMA_REQUIRED = ("Year", "Mon", "Day", "Hour", "PRS", "TEM", "WIN_D_Avg_2mi", "WIN_S_Avg_2mi",
                "PRE_1h")
#: Values at or above this are special codes (999999 missing, 999998 not observed, …).
CODE_MIN = 999000.0
#: Trace precipitation code and the value it is read as (mm; see the module docstring).
TRACE_CODE, TRACE_MM = 999990.0, 0.0
#: Physical bounds (source units); values outside become missing.
PLAUSIBLE = {"PRS": (400.0, 1100.0), "TEM": (-60.0, 60.0), "DPT": (-80.0, 45.0),
             "RHU": (0.0, 100.0), "WIN_D_Avg_2mi": (0.0, 360.0), "WIN_S_Avg_2mi": (0.0, 75.0),
             "PRE_1h": (0.0, 300.0)}
POINT_MET_COLUMNS = ["time", "station_id", "t2m", "d2m", "sp", "tp", "u10", "v10", "ws10", "rh"]
_ID_COLUMNS = ("Station_Id_C", "Station_Id_d")


_STATUS = re.compile(r'^\s*returnCode\s*=\s*"?(-?\d+)"?')
_MESSAGE = re.compile(r'returnMessage\s*=\s*"([^"]*)"')


def _header_index(lines: list[str], path: Path | str) -> int | None:
    """Index of the header line: the first non-blank line, or the one after a ``tabText`` status
    line ``returnCode="0" …`` (a non-zero code is a failed query: refused, quoting its message)."""
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return None
    m = _STATUS.match(lines[first])
    if m is None:
        return first
    if int(m.group(1)) != 0:
        msg = _MESSAGE.search(lines[first])
        raise ReaderError(f"{path}, line {first + 1}: the data service answered returnCode="
                          f"{m.group(1)} ({msg.group(1) if msg else 'no returnMessage'}); "
                          f"expected returnCode=0 and the observations")
    return next((i for i in range(first + 1, len(lines)) if lines[i].strip()), None)


def _frame(text: str, path: Path | str) -> tuple[pd.DataFrame, np.ndarray]:
    """Cells as strings plus the 1-based file line of each row (comma or whitespace)."""
    from airwarn.features.readers.common import read_csv_strict

    lines = text.splitlines()
    first = _header_index(lines, path)
    if first is None:
        raise ReaderError(f"{path}: empty file; expected a header line and data rows")
    if "," in lines[first]:
        df = read_csv_strict("\n".join(lines[first:]), path)
        return df.drop(columns="_line"), df["_line"].to_numpy() + first
    header = lines[first].split()
    rows, nums = [], []
    for k, ln in enumerate(lines[first + 1:], start=first + 2):
        if not ln.strip():
            continue
        f = ln.split()
        if len(f) != len(header):
            raise ReaderError(f"{path}, line {k}: {len(f)} fields, expected {len(header)} (one "
                              f"per header column)")
        rows.append(f)
        nums.append(k)
    if not rows:
        raise ReaderError(f"{path}: no data rows after the header (line {first + 1})")
    return pd.DataFrame(rows, columns=header, dtype=str), np.asarray(nums)


def _rh(t_c: np.ndarray, td_c: np.ndarray) -> np.ndarray:
    from airwarn.features.readers.uci import relative_humidity

    with np.errstate(invalid="ignore"):
        return np.clip(relative_humidity(t_c, td_c), 0, 100)


def _dewpoint(t_c: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Dew point (°C) from temperature (°C) and RH (%), Magnus (Alduchov & Eskridge 1996)."""
    a, b = 17.625, 243.04
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(np.clip(rh, 1e-3, 100) / 100.0) + a * t_c / (b + t_c)
        return b * g / (a - g)


def read_cma_surface(path: Path | str, *, station_ids: dict[str, str] | None = None
                     ) -> pd.DataFrame:
    """Read a CMA hourly surface-observation export to the point-meteorology table.

    Parameters
    ----------
    path : path-like
        CSV or whitespace-separated text (UTF-8 or GBK).
    station_ids : dict, optional
        Source id → station_id (default: the id as written, e.g. ``56294``).

    Returns
    -------
    DataFrame
        ``time`` (UTC, tz-aware), ``station_id`` (str), ``t2m`` K, ``d2m`` K, ``sp`` Pa,
        ``tp`` mm h-1, ``u10`` ``v10`` ``ws10`` m s-1, ``rh`` % (0–100); one row per
        station-hour (a repeated station-hour keeps its last row), sorted by time and station.
        ``attrs``: ``out_of_range`` (dict column → values set missing), ``duplicates`` (rows
        superseded), ``trace`` (trace-precipitation hours read as 0 mm), ``source_format``,
        ``notes`` (list of str: what was set missing or superseded, with the first line).

    Raises
    ------
    ReaderError
        Missing columns, a row with the wrong number of fields, an unparsable value or a bad
        date — naming the file, line and column.
    """
    text, _ = read_text(path)
    df, lines = _frame(text, path)
    id_col = next((c for c in _ID_COLUMNS if c in df.columns), None)
    missing = [c for c in CMA_REQUIRED if c not in df.columns]
    if id_col is None:
        missing = ["Station_Id_C", *missing]
    if missing:
        raise ReaderError(f"{path}, line 1: missing column(s) {missing}; expected the CMA "
                          f"hourly surface elements {list(CMA_COLUMNS)}")
    num: dict[str, np.ndarray] = {}
    for c in ("Year", "Mon", "Day", "Hour", "PRS", "TEM", "DPT", "RHU", "WIN_D_Avg_2mi",
              "WIN_S_Avg_2mi", "PRE_1h"):
        if c in df.columns:
            num[c] = parse_numbers(df[c], path, lines, c)
        else:
            num[c] = np.full(len(df), np.nan)
    for c, (lo, hi) in {"Year": (1900, 2100), "Mon": (1, 12), "Day": (1, 31),
                        "Hour": (0, 23)}.items():
        v = num[c]
        bad = np.isnan(v) | (v < lo) | (v > hi) | (v != np.round(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReaderError(f"{path}, line {int(lines[i])}, column {c!r}: {df[c].iloc[i]!r}; "
                              f"expected an integer {lo}–{hi} (UTC)")
    try:
        time = pd.to_datetime(pd.DataFrame({"year": num["Year"], "month": num["Mon"],
                                            "day": num["Day"], "hour": num["Hour"]}), utc=True)
    except (ValueError, OverflowError) as exc:
        raise ReaderError(f"{path}: invalid Year/Mon/Day/Hour ({exc})") from None
    trace = num["PRE_1h"] == TRACE_CODE
    out_of_range: dict[str, int] = {}
    notes: list[str] = []
    for c, (lo, hi) in PLAUSIBLE.items():
        v = num[c].copy()
        v[v >= CODE_MIN] = np.nan
        bad = (v < lo) | (v > hi)
        if bad.any():
            out_of_range[c] = int(bad.sum())
            i = int(np.flatnonzero(bad)[0])
            notes.append(f"column {c!r}: {int(bad.sum())} value(s) outside {lo:g}–{hi:g} set "
                         f"missing (first: line {int(lines[i])}, {df[c].iloc[i].strip()!r})")
            v[bad] = np.nan
        num[c] = v
    num["PRE_1h"][trace] = TRACE_MM
    t_c, td_c, rh = num["TEM"], num["DPT"], num["RHU"]
    td_c = np.where(np.isnan(td_c), _dewpoint(t_c, rh), td_c)
    rh = np.where(np.isnan(rh), _rh(t_c, td_c), rh)
    ws, wd = num["WIN_S_Avg_2mi"], num["WIN_D_Avg_2mi"]
    rad = np.deg2rad(wd)
    calm = ws == 0
    u = np.where(calm, 0.0, -ws * np.sin(rad))
    v = np.where(calm, 0.0, -ws * np.cos(rad))
    sid = df[id_col].astype(str).str.strip()
    empty = (sid == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column {id_col!r}: missing station id")
    if station_ids:
        sid = sid.map(lambda s: station_ids.get(s, s))
    out = pd.DataFrame({"time": time.to_numpy(), "station_id": sid.to_numpy(dtype=object),
                        "t2m": t_c + 273.15, "d2m": td_c + 273.15, "sp": num["PRS"] * 100.0,
                        "tp": num["PRE_1h"], "u10": u, "v10": v, "ws10": ws, "rh": rh})
    out["time"] = pd.to_datetime(out["time"], utc=True)
    n0 = len(out)
    notes += _duplicate_notes(out, lines)
    out = out.drop_duplicates(["time", "station_id"], keep="last")
    out = out.sort_values(["time", "station_id"], kind="mergesort").reset_index(drop=True)
    out.attrs.update({"out_of_range": out_of_range, "duplicates": n0 - len(out),
                      "trace": int(trace.sum()), "source_format": "cma_surface",
                      "notes": notes})
    return out[POINT_MET_COLUMNS]


def _duplicate_notes(out: pd.DataFrame, lines: np.ndarray) -> list[str]:
    """What keeping the last row of a repeated station-hour drops, as report lines.

    Parameters
    ----------
    out : DataFrame
        The point table before de-duplication, row-aligned with ``lines``.
    lines : ndarray
        1-based file line of each row.

    Returns
    -------
    list of str
        Empty without repeats; else one line for identical repeats (merged) and one for
        conflicting ones (the last row kept, the first superseded row named).
    """
    key = ["time", "station_id"]
    rep = out.duplicated(key, keep="last").to_numpy()
    if not rep.any():
        return []
    last = out.drop_duplicates(key, keep="last").set_index(key)
    vals = [c for c in POINT_MET_COLUMNS if c not in key]
    kept = last.loc[pd.MultiIndex.from_frame(out.loc[rep, key])][vals].to_numpy(dtype=float)
    mine = out.loc[rep, vals].to_numpy(dtype=float)
    same = ((kept == mine) | (np.isnan(kept) & np.isnan(mine))).all(axis=1)
    notes = []
    if same.any():
        notes.append(f"{int(same.sum())} identical repeated station-hour row(s) merged")
    if (~same).any():
        j = int(np.flatnonzero(rep)[np.flatnonzero(~same)[0]])
        r = out.iloc[j]
        notes.append(f"{int((~same).sum())} repeated station-hour row(s) with other values "
                     f"superseded by the station's last row for that hour (first: line "
                     f"{int(lines[j])}, station {r['station_id']} at {r['time']:%Y-%m-%d %H:%M} "
                     f"UTC)")
    return notes


def write_cma_surface(met: pd.DataFrame, path: Path | str) -> Path:
    """Write a point-meteorology table as a CMA hourly surface export (CSV, UTC; the inverse of
    :func:`read_cma_surface`; atomic).

    ``met``: ``time`` (UTC), ``station_id``, ``t2m`` ``d2m`` K, ``sp`` Pa, ``tp`` mm h-1,
    ``u10`` ``v10`` ``ws10`` m s-1, ``rh`` %. Missing values are written as ``999999``;
    precipitation is written with 0.1 mm resolution, direction as whole degrees (0 for calm).
    """
    from airwarn.features.atomic import write_with

    t = pd.DatetimeIndex(met["time"]).tz_convert("UTC")
    ws = met["ws10"].to_numpy(dtype=float)
    wd = (np.degrees(np.arctan2(-met["u10"].to_numpy(dtype=float),
                                -met["v10"].to_numpy(dtype=float))) + 360.0) % 360.0
    wd = np.where(ws == 0, 0.0, np.round(wd))

    def col(x: np.ndarray, nd: int) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(np.isfinite(x), np.char.mod(f"%.{nd}f", np.nan_to_num(x)), "999999")

    out = pd.DataFrame({
        "Station_Id_C": met["station_id"].astype(str).to_numpy(),
        "Year": t.year, "Mon": t.month, "Day": t.day, "Hour": t.hour,
        "PRS": col(met["sp"].to_numpy(dtype=float) / 100.0, 1),
        "TEM": col(met["t2m"].to_numpy(dtype=float) - 273.15, 1),
        "DPT": col(met["d2m"].to_numpy(dtype=float) - 273.15, 1),
        "RHU": col(met["rh"].to_numpy(dtype=float), 0),
        "WIN_D_Avg_2mi": col(np.where(np.isfinite(ws), wd, np.nan), 0),
        "WIN_S_Avg_2mi": col(ws, 1),
        "PRE_1h": col(met["tp"].to_numpy(dtype=float), 1),
    })
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return write_with(Path(path), lambda p: Path(p).write_text(buf.getvalue(), encoding="utf-8"))


def sniff_cma_surface(path: Path, head: bytes) -> bool:
    """True for a CMA hourly surface export (a header with a station id column and the
    ``Year Mon Day Hour`` and ``TEM`` elements)."""
    for enc in ("utf-8-sig", "gb18030", "latin-1"):
        try:
            text = head.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    try:
        k = _header_index(lines, path)
    except ReaderError:
        k = next((i + 1 for i, ln in enumerate(lines) if ln.strip()), None)  # read() explains
    first = lines[k] if k is not None and k < len(lines) else ""
    cols = {c.strip() for c in first.replace(",", " ").split()}
    return bool(cols & set(_ID_COLUMNS)) and {"Year", "Mon", "Day", "Hour", "TEM"} <= cols


def _register() -> None:
    from airwarn.features.readers.registry import InputFormat, register_format

    register_format(InputFormat(
        name="cma_surface", kind="met_obs", sniff=sniff_cma_surface, read=read_cma_surface,
        priority=40, description="CMA hourly surface observations (Station_Id_C, Year, Mon, "
                                 "Day, Hour, PRS, TEM, …; UTC)"))


_register()
