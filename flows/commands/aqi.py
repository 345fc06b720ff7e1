"""``airwarn aqi``: IAQI / AQI / level / category / primary pollutant for a CSV of observations.

Input: a CSV with the canonical observation columns ``time, station_id, pm25, pm10, o3, no2, so2,
co`` (µg/m³, CO mg/m³; ``time`` ISO 8601, UTC unless it carries an offset; empty / ``NA`` =
missing). Output: the hourly rows (``--product hourly``) or the natural-day products
(``--product daily``, Asia/Shanghai days) with ``iaqi_<p>``, ``aqi``, ``level``, ``category``,
``primary`` … written atomically (temporary file, then rename). Bad input ends with one message
naming the file, line and column, and exit code 2.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from airwarn.alerts.aqi import compute, compute_by_date
from airwarn.alerts.daily import daily_aqi
from airwarn.features.atomic import atomic_path
from rich.console import Console
from rich.table import Table

from airwarn.core.timeutil import LOCAL_TZ

__all__ = ["REQUIRED_COLUMNS", "InputError", "read_observation_csv", "register"]

#: Canonical observation columns the command needs (DESIGN.md, data contracts).
REQUIRED_COLUMNS: tuple[str, ...] = ("time", "station_id", "pm25", "pm10", "o3", "no2", "so2", "co")
_UNITS = {"pm25": "µg/m³", "pm10": "µg/m³", "o3": "µg/m³", "no2": "µg/m³", "so2": "µg/m³",
          "co": "mg/m³"}


class RulesetChoice(StrEnum):
    """``--ruleset`` values: ``auto`` picks HJ633_2012 up to 2026-02-28, HJ633_2026 after."""

    auto = "auto"
    HJ633_2012 = "HJ633_2012"
    HJ633_2026 = "HJ633_2026"


class ProductChoice(StrEnum):
    """``--product`` values: real-time (hourly) or daily report."""

    hourly = "hourly"
    daily = "daily"


class InputError(ValueError):
    """The input CSV is unusable; the message names the file, line and column."""


def read_observation_csv(path: Path) -> pd.DataFrame:
    """Read and check a canonical observation CSV.

    Parameters
    ----------
    path : Path
        CSV with ``time, station_id, pm25, pm10, o3, no2, so2`` (µg/m³) and ``co`` (mg/m³); other
        columns are passed through.

    Returns
    -------
    pandas.DataFrame
        ``time`` tz-aware UTC, ``station_id`` str, concentrations float (NaN = missing).

    Raises
    ------
    InputError
        Missing column, unparseable time, empty station id, non-numeric concentration or a
        station-hour given twice, with the file, the line number (the header is line 1) and
        the column.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected the columns "
                         f"{', '.join(REQUIRED_COLUMNS)}")
    if raw.empty:
        raise InputError(f"{path}: no data rows")
    df = raw.copy()
    na_tokens = {"", "NA", "NaN", "nan", "null", "NULL", "N/A"}

    def first_bad(bad: np.ndarray, col: str, expected: str) -> InputError:
        i = int(np.flatnonzero(bad)[0])
        return InputError(f"{path}: line {i + 2}, column {col!r}: expected {expected}, "
                          f"got {raw[col].iloc[i]!r}")

    times = pd.to_datetime(raw["time"], utc=True, errors="coerce", format="ISO8601")
    bad = times.isna().to_numpy()
    if bad.any():
        raise first_bad(bad, "time", "an ISO 8601 time such as 2014-01-01T00:00:00+00:00")
    df["time"] = times
    bad = raw["station_id"].str.strip().isin(na_tokens).to_numpy()
    if bad.any():
        raise first_bad(bad, "station_id", "a station id")
    for col in REQUIRED_COLUMNS[2:]:
        text = raw[col].str.strip()
        is_na = text.isin(na_tokens)
        num = pd.to_numeric(text.where(~is_na, None), errors="coerce")
        bad = (num.isna() & ~is_na).to_numpy()
        if bad.any():
            raise first_bad(bad, col, f"a number in {_UNITS[col]} or empty")
        df[col] = num.astype(float)
    keys = pd.DataFrame({"station": df["station_id"].str.strip(), "time": df["time"]})
    later = keys.duplicated(keep="first").to_numpy()
    if later.any():
        j = int(np.flatnonzero(later)[0])
        same = (keys["station"] == keys["station"].iloc[j]) & (keys["time"] == keys["time"].iloc[j])
        i = int(np.flatnonzero(same.to_numpy())[0])
        raise InputError(f"{path}: lines {i + 2} and {j + 2}: station {keys['station'].iloc[j]!r} "
                         f"at {keys['time'].iloc[j]:%Y-%m-%d %H:%M} UTC twice; expected one row "
                         f"per station and hour")
    return df


def _summary(console: Console, src: Path, dst: Path, obs: pd.DataFrame, res: pd.DataFrame,
             product: str) -> None:
    local = obs["time"].dt.tz_convert(LOCAL_TZ)
    rulesets = ", ".join(sorted(res["ruleset"].dropna().unique()))
    console.print(f"[bold]airwarn aqi[/]: {len(obs)} rows, {obs['station_id'].nunique()} stations, "
                  f"{local.min():%Y-%m-%d %H:%M} … {local.max():%Y-%m-%d %H:%M} ({LOCAL_TZ}), "
                  f"{product} product, rule set {rulesets}")
    table = Table("level", "category", "rows")
    counts = res.groupby(["level", "category"], dropna=False).size()
    for (level, cat), n in counts.items():
        table.add_row("NA" if pd.isna(level) else str(level), "NA" if pd.isna(cat) else str(cat),
                      str(n))
    console.print(table)
    if res["aqi"].notna().any():
        top = res.loc[res["aqi"].astype("Float64").idxmax()]
        when = (f"{top['date']:%Y-%m-%d}" if "date" in top
                else f"{top['time'].tz_convert(LOCAL_TZ):%Y-%m-%d %H:%M} ({LOCAL_TZ})")
        console.print(f"highest AQI {top['aqi']} ({top['category']}, primary {top['primary']}) "
                      f"at {top['station_id']} {when}")
    console.print(f"wrote {len(res)} rows to {dst}")


def register(app: typer.Typer) -> None:
    """Add the ``aqi`` command to the CLI."""

    @app.command("aqi")
    def aqi_cmd(
        input_csv: Annotated[Path, typer.Argument(
            metavar="INPUT.csv", exists=True, dir_okay=False, readable=True,
            help="Canonical observation CSV.")],
        out: Annotated[Path | None, typer.Option(
            "--out", metavar="OUT.csv",
            help="Output CSV (default: INPUT_aqi_<product>.csv).")] = None,
        ruleset: Annotated[RulesetChoice, typer.Option(
            "--ruleset", help="AQI rule set; auto = by date.")] = RulesetChoice.auto,
        product: Annotated[ProductChoice, typer.Option(
            "--product", help="hourly (real-time) or daily report.")] = ProductChoice.hourly,
    ) -> None:
        """Compute IAQI, AQI, level, category and primary pollutant for observations."""
        console = Console()
        try:
            obs = read_observation_csv(input_csv)
            rs = None if ruleset is RulesetChoice.auto else ruleset.value
            if product is ProductChoice.daily:
                res = daily_aqi(obs, ruleset=rs)
                res["date"] = pd.to_datetime(res["date"])
            elif rs is None:
                res = compute_by_date("hourly", obs, obs["time"])
            else:
                res = compute(rs, "hourly", obs)  # type: ignore[arg-type]
        except (InputError, ValueError) as exc:
            msg = str(exc) if str(input_csv) in str(exc) else f"{input_csv}: {exc}"
            typer.secho(f"error: {msg}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None
        dst = out or input_csv.with_name(f"{input_csv.stem}_aqi_{product.value}.csv")
        written = res.copy()
        if "time" in written:
            written["time"] = written["time"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        if "date" in written:
            written["date"] = written["date"].dt.strftime("%Y-%m-%d")
        with atomic_path(dst) as tmp:
            written.to_csv(tmp, index=False)
        _summary(console, input_csv, dst, obs, res, product.value)
