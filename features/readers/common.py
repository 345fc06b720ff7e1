"""Shared machinery of the observation readers: text decoding, strict number and time parsing,
unit conversion to the canonical units, and the long → canonical step with its duplicate rule.

Duplicate rule (all readers)
----------------------------
Records are keyed by ``(time, station_id, variable)``. Exact duplicates (same value, or both
missing) collapse to one record silently (counted in :class:`ReadReport`). Conflicting
duplicates keep the **last valid (non-missing) value in file order**; the kept value gets the
``QC_DUPLICATE`` bit of its variable and every superseded record is listed in the report's
``rejected`` table with its line. Nothing is dropped without a record.

Unit conversion
---------------
Gases at the reference state of GB 3095-2026 §3.14 (domain-spec T1.10): 298.15 K, 1013.25 hPa,
molar volume ``Vm = R·T/p = 24.465 L/mol``; µg/m³ = ppb · M / Vm; mg/m³ = ppm · M / Vm.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.features.qc import QC_DUPLICATE, VAR_SHIFT
from airwarn.features.readers.errors import ReaderError
from airwarn.features.store import OBS_COLUMNS, POLLUTANTS, empty_obs

__all__ = [
    "ReaderError", "ReadReport", "MISSING_TOKENS", "MOLAR_MASS", "MOLAR_VOLUME_L",
    "POLLUTANT_ALIASES", "read_text", "read_csv_strict", "parse_numbers", "localize_times",
    "normalise_unit", "to_canonical_units", "long_to_obs", "combine_obs", "BEIJING_TIME",
    "FIXED_UTC8",
]

#: Beijing time (北京时间, UTC+08:00, no daylight saving) as an IANA name: the zone in which
#: China's national monitoring network (CNEMC) publishes its hourly files, by definition of those
#: formats. It is a property of the *file format*, not the operator's zone: the settings zone
#: (``settings.yaml`` ``timezone``, :data:`airwarn.core.timeutil.LOCAL_TZ`) may differ, and a
#: CNEMC file still carries Beijing time. Readers of such formats default to it.
BEIJING_TIME = "Asia/Shanghai"
#: China local time as a fixed UTC+08:00 offset (IANA ``Etc/GMT-8``): the zone of files that label
#: hours in China local time without naming a zone (UCI Beijing/five-cities, US StateAir) — again
#: the file format's zone, not the settings zone.
FIXED_UTC8 = "Etc/GMT-8"


#: Tokens read as missing (case-insensitive, after stripping). Numeric sentinels are listed per reader.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "-", "—", "--", "/"})
#: Molar masses, g/mol (IUPAC standard atomic weights).
MOLAR_MASS = {"o3": 47.997, "no2": 46.006, "so2": 64.064, "co": 28.010}
#: Molar volume at 298.15 K and 1013.25 hPa, L/mol (GB 3095-2026 §3.14 reference state).
MOLAR_VOLUME_L = 8.314462618 * 298.15 / 101.325
#: Pollutant names seen in sources → canonical variable (keys lower case, no spaces).
POLLUTANT_ALIASES = {
    "pm2.5": "pm25", "pm25": "pm25", "pm2_5": "pm25", "pm₂.₅": "pm25",
    "pm10": "pm10", "o3": "o3", "ozone": "o3", "no2": "no2", "so2": "so2", "co": "co",
}
_CANON_UNIT = {v: "ug/m3" for v in POLLUTANTS} | {"co": "mg/m3"}


@dataclass
class ReadReport:
    """What a reader did with a file.

    Attributes
    ----------
    source : str
        The file read.
    encoding : str
        Text encoding detected / used.
    records : int
        Source records (value cells or long-table lines) read.
    rows : int
        Canonical station-hour rows returned.
    duplicates_identical, duplicates_conflicting : int
        Duplicate keys collapsed silently / resolved by the duplicate rule.
    ignored : dict
        Records of types or parameters outside the canonical table (e.g. 24-h means), by name.
    rejected : list of dict
        Records not used, each with ``source, line, station_id, time, variable, value, reason``.
    """

    source: str = ""
    encoding: str = ""
    records: int = 0
    rows: int = 0
    duplicates_identical: int = 0
    duplicates_conflicting: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    rejected: list[dict[str, object]] = field(default_factory=list)

    def reject(self, line: int | None, reason: str, station_id: str = "", time: object = None,
               variable: str = "", value: object = None) -> None:
        """Record one unused source record."""
        self.rejected.append({"source": self.source, "line": line, "station_id": station_id,
                              "time": time, "variable": variable, "value": value,
                              "reason": reason})

    def ignore(self, name: str, n: int) -> None:
        """Count ``n`` records of an out-of-scope type ``name``."""
        if n:
            self.ignored[name] = self.ignored.get(name, 0) + int(n)

    def rejected_frame(self) -> pd.DataFrame:
        """The rejected records as a table (``source, line, station_id, time, variable, value,
        reason``)."""
        return pd.DataFrame(self.rejected, columns=["source", "line", "station_id", "time",
                                                    "variable", "value", "reason"])


# ------------------------------------------------------------------------------ text / CSV
def read_text(path: Path | str, encodings: Sequence[str] = ("utf-8-sig", "gb18030")) -> tuple[str, str]:
    """Read a text file, trying ``encodings`` in order (default UTF-8 then GBK/GB18030).

    Returns
    -------
    text, encoding : str, str

    Raises
    ------
    ReaderError
        File missing, empty, or not decodable with any of the encodings.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ReaderError(f"{p}: file not found") from None
    if not raw.strip():
        raise ReaderError(f"{p}: empty file; expected a header line and data rows")
    for enc in encodings:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        from airwarn.features.readers.plausibility import check_control_characters

        check_control_characters(text, p)  # "5\x000" is a damaged cell, never 5.0
        return text, ("gbk" if enc == "gb18030" else enc.replace("-sig", ""))
    raise ReaderError(f"{p}: cannot decode the file as {' / '.join(encodings)}")


def read_csv_strict(text: str, path: Path | str, *, skip_lines: int = 0,
                    required: Sequence[str] = (), exact: Sequence[str] | None = None) -> pd.DataFrame:
    """Parse CSV text into string columns, refusing short (truncated) and long rows.

    Parameters
    ----------
    text : str
        File contents.
    path : path-like
        For messages.
    skip_lines : int
        Preamble lines before the header.
    required : sequence of str
        Columns that must be present.
    exact : sequence of str, optional
        The exact header expected (an unknown or missing column is an error naming it).

    Returns
    -------
    DataFrame
        All cells as ``str`` (missing tokens untouched), with a ``_line`` column: the 1-based line
        number in the file. Blank lines are skipped.
    """
    header_line = skip_lines + 1
    all_lines = text.splitlines()
    if len(all_lines) <= skip_lines or not all_lines[skip_lines].strip():
        raise ReaderError(f"{path}: empty file; expected a header line at line {header_line}")
    if '"' in text:  # quoted fields may hold commas or newlines: count fields with csv
        rows = list(csv.reader(io.StringIO("\n".join(all_lines[skip_lines:]))))
        counts = [len(r) if any(f.strip() for f in r) else 0 for r in rows]
    else:
        counts = [ln.count(",") + 1 if ln.strip() else 0 for ln in all_lines[skip_lines:]]
    n_header = counts[0]
    data_idx = [i for i in range(1, len(counts)) if counts[i]]
    bad = [i for i in data_idx if counts[i] != n_header]
    if bad:
        i = bad[0]
        where = "truncated file: " if i == data_idx[-1] and counts[i] < n_header else ""
        raise ReaderError(f"{path}, line {i + header_line}: {where}{counts[i]} fields, "
                          f"expected {n_header} (one per header column)")
    if not data_idx:
        raise ReaderError(f"{path}: no data rows after the header (line {header_line})")
    try:
        df = pd.read_csv(io.StringIO(text), skiprows=skip_lines, dtype=str, keep_default_na=False,
                         skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise ReaderError(f"{path}: empty file; expected a header line and data rows") from None
    except pd.errors.ParserError as exc:
        raise ReaderError(f"{path}: not a readable CSV file ({exc})") from None
    cols = [str(c).strip() for c in df.columns]
    df.columns = cols
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ReaderError(f"{path}, line {header_line}: duplicate column(s) {dup} in the header")
    if exact is not None:
        unknown = [c for c in cols if c not in exact]
        if unknown:
            raise ReaderError(f"{path}, line {header_line}: unknown column {unknown[0]!r}; "
                              f"expected the columns {list(exact)}")
    missing = [c for c in (exact if exact is not None else required) if c not in cols]
    if missing:
        raise ReaderError(f"{path}, line {header_line}: missing column(s) {missing}; "
                          f"found {cols}")
    if len(df) != len(data_idx):  # pandas and the line count disagree (quoted newlines …)
        df["_line"] = np.arange(len(df)) + header_line + 1
    else:
        df["_line"] = np.asarray(data_idx) + header_line
    return df.reset_index(drop=True)


def parse_numbers(values: pd.Series | np.ndarray, path: Path | str, lines: np.ndarray,
                  column: str | Sequence[str], sentinels: Iterable[float] = ()) -> np.ndarray:
    """Strictly parse numbers; missing tokens and ``sentinels`` become NaN.

    Parameters
    ----------
    values : Series or array of str
        Cells (1-D). For a wide block pass the raveled array and ``column`` as the per-cell list.
    path : path-like
        For messages.
    lines : array of int
        Line number of each cell.
    column : str or sequence of str
        Column name (or the column of each cell).
    sentinels : iterable of float
        Values meaning "missing" in this source (e.g. -999).

    Raises
    ------
    ReaderError
        Naming file, line, column and the offending text, for the first unparsable cell.
    """
    s = pd.Series(np.asarray(values, dtype=object))
    # copy=True: the array is written below (sentinels); under pandas 3 copy-on-write a
    # to_numpy() view of a Series is read-only
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, copy=True)  # fast path, C parser
    bad = np.zeros(len(s), dtype=bool)
    nan = np.flatnonzero(np.isnan(num))
    if len(nan):  # only cells that did not parse need the missing-token check
        cells = s.iloc[nan]
        tok = cells.astype(str).str.strip().str.lower()
        missing = cells.isna().to_numpy() | tok.isin(MISSING_TOKENS).to_numpy()
        bad[nan[~missing]] = True
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        col = column if isinstance(column, str) else column[i]
        raise ReaderError(f"{path}, line {int(lines[i])}, column {col!r}: cannot parse "
                          f"{s.iloc[i]!r}; expected a number or an empty cell for missing")
    for v in sentinels:
        num[num == v] = np.nan
    inf = np.isinf(num)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        col = column if isinstance(column, str) else column[i]
        raise ReaderError(f"{path}, line {int(lines[i])}, column {col!r}: infinite value "
                          f"{s.iloc[i]!r}; expected a finite number")
    return num


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def localize_times(values: pd.Series, path: Path | str, lines: np.ndarray, column: str,
                   tz: str, fmt: str | None = None) -> pd.Series:
    """Parse time strings to UTC: strings with an offset use it, naive ones are in ``tz``.

    The hour label is kept as the source gives it (no hour-beginning / hour-ending shift).

    Raises
    ------
    ReaderError
        Unparsable time, or a time not on the hour, naming file, line and column.
    """
    s = pd.Series(values).astype(str).str.strip().reset_index(drop=True)
    has_offset = s.str.contains(_OFFSET)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(s[has_offset], utc=True, errors="coerce", format=fmt
                                         or "ISO8601")
    naive = ~has_offset
    if naive.any():
        try:  # vectorised fast path for ISO 8601 (incl. "YYYY-MM-DD HH:MM"), else per element
            t = pd.to_datetime(s[naive], errors="raise", format=fmt or "ISO8601")
        except (ValueError, TypeError):
            t = pd.to_datetime(s[naive], errors="coerce", format=fmt or "mixed")
        try:
            out[naive] = t.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        except TypeError:  # already tz-aware strings the regex did not catch
            out[naive] = pd.to_datetime(s[naive], utc=True, errors="coerce")
    bad = out.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column {column!r}: cannot parse the time "
                          f"{s.iloc[i]!r}; expected a date-time (ISO 8601, local time {tz} "
                          f"unless an offset is given)")
    off = (out.dt.minute != 0) | (out.dt.second != 0)
    if off.any():
        i = int(np.flatnonzero(off.to_numpy())[0])
        raise ReaderError(f"{path}, line {int(lines[i])}, column {column!r}: time {s.iloc[i]!r} is "
                          f"not on the hour; expected hourly values")
    return out


# ------------------------------------------------------------------------------ units
def normalise_unit(unit: str) -> str:
    """Canonical spelling of a concentration unit: ``ug/m3``, ``mg/m3``, ``ppb`` or ``ppm``
    (``""`` if not recognised)."""
    u = str(unit).strip().lower().replace(" ", "")
    u = u.replace("µ", "u").replace("μ", "u").replace("³", "3").replace("^3", "3")
    u = u.replace("micrograms/cubicmeter", "ug/m3").replace("milligrams/cubicmeter", "mg/m3")
    u = u.replace("m-3", "/m3").replace("/m3", "/m3")
    if u in ("ug/m3", "ugm/3", "ug/m**3", "ugm3", "ug/m"):
        return "ug/m3"
    if u in ("mg/m3", "mg/m**3", "mgm3"):
        return "mg/m3"
    if u in ("ppb", "ppbv"):
        return "ppb"
    if u in ("ppm", "ppmv"):
        return "ppm"
    return ""


def to_canonical_units(values: np.ndarray, variable: str, unit: str) -> np.ndarray:
    """Convert concentrations of ``variable`` from ``unit`` to the canonical unit.

    Canonical units: µg/m³, CO mg/m³. Mixing ratios use the 298.15 K, 1013.25 hPa reference
    state (:data:`MOLAR_VOLUME_L`).

    Raises
    ------
    ValueError
        Unknown unit, or a mixing ratio for particulate matter.
    """
    u = normalise_unit(unit)
    if not u:
        raise ValueError(f"unknown unit {unit!r} for {variable}; expected µg/m³, mg/m³, ppb or ppm")
    target = _CANON_UNIT[variable]
    if u in ("ppb", "ppm"):
        if variable not in MOLAR_MASS:
            raise ValueError(f"{variable} cannot be given as a mixing ratio ({unit})")
        ugm3 = values * MOLAR_MASS[variable] / MOLAR_VOLUME_L * (1000.0 if u == "ppm" else 1.0)
        return ugm3 / 1000.0 if target == "mg/m3" else ugm3
    if u == target:
        return values
    return values / 1000.0 if (u, target) == ("ug/m3", "mg/m3") else values * 1000.0


# ------------------------------------------------------------------------------ long → canonical
def long_to_obs(long: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    """Resolve duplicates and pivot long records into the canonical observation table.

    Parameters
    ----------
    long : DataFrame
        ``time`` (UTC), ``station_id`` (str), ``variable`` (one of the pollutants), ``value``
        (canonical units, NaN = missing), ``line`` (source line, for the record).
    report : ReadReport
        Filled with duplicate counts, rejected (superseded) records and the row count.

    Returns
    -------
    DataFrame
        Canonical observations, sorted by ``(time, station_id)``; ``qc`` carries
        ``QC_DUPLICATE`` on variables whose value came from a conflicting duplicate.
    """
    if long.empty:
        return empty_obs()
    key = ["time", "station_id", "variable"]
    long = long.reset_index(drop=True)
    dup = long.duplicated(key, keep=False).to_numpy()
    flagged = pd.DataFrame(columns=key)
    if dup.any():
        d = long[dup].sort_values(key + ["line"], kind="mergesort").copy()
        d["grp_"] = d.groupby(key, sort=False, observed=True).ngroup().to_numpy()
        # groups whose non-missing values all agree are identical (nothing to flag)
        nuniq = d.groupby("grp_")["value"].nunique(dropna=True)
        ident_grp = nuniq.index[nuniq.to_numpy() <= 1]
        identical = d["grp_"].isin(ident_grp).to_numpy()
        report.duplicates_identical += len(ident_grp)
        report.duplicates_conflicting += len(nuniq) - len(ident_grp)
        # keep: the last valid (non-missing) value in file order; if all missing, the last record
        d["rank_"] = np.arange(len(d))
        d["score_"] = d["rank_"] + np.where(d["value"].notna(), len(d), 0)
        keep_rank = d.groupby("grp_")["score_"].transform("max").to_numpy()
        keep = (d["score_"].to_numpy() == keep_rank)
        kept_lines = d[keep].set_index("grp_")["line"]
        for r in d[~keep & ~identical].itertuples(index=False):
            report.reject(int(r.line), "conflicting duplicate: superseded by line "
                          f"{int(kept_lines.loc[r.grp_])} (last valid value kept)",
                          r.station_id, r.time, r.variable, r.value)
        conflict_groups = d[~identical].drop_duplicates(key)
        flagged = conflict_groups[key]
        drop_idx = d.index[~keep]
        long = long.drop(index=drop_idx)
    wide = long.pivot(index=["time", "station_id"], columns="variable", values="value")
    wide = wide.reindex(columns=list(POLLUTANTS))
    wide.columns.name = None
    out = wide.reset_index()
    qc = np.zeros(len(out), dtype=np.int64)
    if len(flagged):
        idx = pd.MultiIndex.from_frame(out[["time", "station_id"]])
        for v, part in flagged.groupby("variable"):
            pos = idx.get_indexer(pd.MultiIndex.from_frame(part[["time", "station_id"]]))
            qc[pos[pos >= 0]] |= QC_DUPLICATE << VAR_SHIFT[str(v)]
    out["qc"] = qc
    out["station_id"] = out["station_id"].astype(object)
    out["time"] = out["time"].astype("datetime64[ns, UTC]")
    for v in POLLUTANTS:
        out[v] = out[v].astype("float64")
    out = out[list(OBS_COLUMNS)].sort_values(["time", "station_id"], kind="mergesort")
    report.rows = len(out)
    return out.reset_index(drop=True)


def combine_obs(frames: Sequence[pd.DataFrame], report: ReadReport | None = None) -> pd.DataFrame:
    """Merge canonical frames (e.g. several files of one ingest) under the duplicate rule.

    A ``(time, station_id)`` present in several frames keeps, per variable, the last valid
    value in frame order; a variable whose valid values disagree gets ``QC_DUPLICATE`` and the
    superseded values are recorded in ``report.rejected`` (line unknown: ``None``). ``qc`` bits
    of the frames are OR-ed.

    Returns
    -------
    DataFrame
        Canonical observations sorted by ``(time, station_id)``.
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_obs()
    if len(frames) == 1:
        return frames[0].sort_values(["time", "station_id"], kind="mergesort").reset_index(drop=True)
    allf = pd.concat([f.assign(_frame=k) for k, f in enumerate(frames)], ignore_index=True)
    dup = allf.duplicated(["time", "station_id"], keep=False).to_numpy()
    if not dup.any():
        return allf.drop(columns="_frame").sort_values(
            ["time", "station_id"], kind="mergesort").reset_index(drop=True)
    single = allf[~dup].drop(columns="_frame")
    d = allf[dup].sort_values(["time", "station_id", "_frame"], kind="mergesort")
    g = d.groupby(["time", "station_id"], sort=False)
    merged = g[list(POLLUTANTS)].last()  # last non-NaN per column, in frame order
    merged["qc"] = g["qc"].agg(lambda s: int(np.bitwise_or.reduce(s.to_numpy())))
    for v in POLLUTANTS:
        nun = g[v].nunique()
        conflict = nun[nun > 1].index
        if len(conflict):
            merged.loc[conflict, "qc"] = merged.loc[conflict, "qc"] | (QC_DUPLICATE << VAR_SHIFT[v])
            if report is not None:
                report.duplicates_conflicting += len(conflict)
                kept = merged.loc[conflict, v]
                sub = d.set_index(["time", "station_id"]).loc[conflict]
                for (t, s), val in sub[v].items():
                    if pd.notna(val) and val != kept.loc[(t, s)]:
                        report.reject(None, "conflicting duplicate across files: a later file's "
                                      "value was kept", s, t, v, val)
    out = pd.concat([single, merged.reset_index()], ignore_index=True)
    out["qc"] = out["qc"].astype("int64")
    return out[list(OBS_COLUMNS)].sort_values(["time", "station_id"],
                                              kind="mergesort").reset_index(drop=True)
