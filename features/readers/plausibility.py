"""Plausibility of station rows before they reach a store (``configs/plausibility.yaml``).

Checks that catch wrong dates, wrong time zones and damaged files — not value ranges, which are
QC's (``configs/qc.yaml``, flags rather than refusals):

* control characters or NUL bytes inside a text file (``5\\x000`` must never become 5.0):
  :func:`check_control_characters`, called by :func:`features.readers.common.read_text` for
  every text reader;
* times in the future (later than now + ``future_margin_h``) or before the network existed
  (``network_start`` per format);
* absurd station ids (longer than ``station_id_max_length`` or non-printable).

Each failure is one :class:`~features.readers.common.ReaderError` naming the file, the line or
row and the value; the ingest then writes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.configs.schema import StrictModel, load_yaml_model
from pydantic import Field

__all__ = ["PlausibilityConfig", "load_plausibility", "check_control_characters",
           "check_station_rows"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class PlausibilityConfig(StrictModel):
    """``configs/plausibility.yaml``."""

    future_margin_h: float = Field(ge=0, description="hours after now still accepted")
    station_id_max_length: int = Field(gt=0, description="characters")
    network_start: dict[str, dt.date] = Field(description="format → first date (UTC); "
                                                          "key 'default' for the others")

    def start_of(self, fmt: str) -> pd.Timestamp:
        """First accepted time of format ``fmt`` (UTC)."""
        d = self.network_start.get(fmt, self.network_start.get("default", dt.date(1900, 1, 1)))
        return pd.Timestamp(d, tz="UTC")


@lru_cache(maxsize=4)
def _load(path: str) -> PlausibilityConfig:
    return load_yaml_model(path, PlausibilityConfig)


def load_plausibility(path: Path | str | None = None) -> PlausibilityConfig:
    """Load ``plausibility.yaml`` (the configuration directory's, else the packaged one)."""
    if path is None:
        from airwarn.configs import CONFIG_DIR, config_dir

        path = config_dir() / "plausibility.yaml"
        if not Path(path).exists():
            path = CONFIG_DIR / "plausibility.yaml"
    return _load(str(path))


def check_control_characters(text: str, path: Path | str, sep: str = ",") -> None:
    """Refuse text with control characters (NUL, …) anywhere but line ends and tabs.

    Raises
    ------
    features.readers.common.ReaderError
        Naming the file, line, column (from the header) and the damaged value.
    """
    m = _CONTROL.search(text)
    if m is None:
        return
    from airwarn.features.readers.errors import ReaderError

    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.start())
    line_text = text[start:end if end >= 0 else len(text)].rstrip("\r")
    line_no = text.count("\n", 0, m.start()) + 1
    k = line_text.count(sep, 0, m.start() - start)
    header = text.split("\n", 1)[0].rstrip("\r").lstrip("\ufeff").split(sep)
    col = header[k].strip() if k < len(header) and line_no > 1 else f"field {k + 1}"
    fields = line_text.split(sep)
    value = fields[k] if k < len(fields) else line_text
    raise ReaderError(f"{path}, line {line_no}, column {col!r}: control character "
                      f"{m.group()!r} inside the value {value!r}; expected plain text "
                      f"(a damaged, binary or UTF-16 file?)")


def check_station_rows(df: pd.DataFrame, source: str, fmt: str = "default", *,
                       now: pd.Timestamp | None = None,
                       config: PlausibilityConfig | None = None) -> None:
    """Refuse rows with impossible times or station ids.

    Parameters
    ----------
    df : DataFrame
        ``time`` (UTC) and ``station_id`` columns (observations or station meteorology).
    source : str
        File name for the message.
    fmt : str
        The format's name (selects ``network_start``).
    now : Timestamp, optional
        Reference "now" (UTC; default the clock).

    Raises
    ------
    features.readers.common.ReaderError
        The first offending row: station, time and what was expected.
    """
    from airwarn.features.readers.errors import ReaderError

    if len(df) == 0:
        return
    cfg = config or load_plausibility()
    sid = df["station_id"].astype(str)
    too_long = (sid.str.len() > cfg.station_id_max_length).to_numpy()
    unprintable = ~np.fromiter((s.isprintable() for s in sid.unique()), dtype=bool)
    if too_long.any() or unprintable.any():
        bad = sid[too_long].iloc[0] if too_long.any() else sid.unique()[unprintable][0]
        raise ReaderError(f"{source}: station id {bad[:60]!r} ({len(bad)} characters) is not a "
                          f"station id; expected up to {cfg.station_id_max_length} printable "
                          f"characters (e.g. 1001A)")
    t = pd.to_datetime(df["time"], utc=True)
    now = (now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    limit = now + pd.Timedelta(hours=cfg.future_margin_h)
    late = (t > limit).to_numpy()
    if late.any():
        i = int(np.flatnonzero(late)[0])
        raise ReaderError(f"{source}: station {sid.iloc[i]}, time {t.iloc[i]:%Y-%m-%d %H:%M} UTC "
                          f"is in the future (now {now:%Y-%m-%d %H:%M} UTC + "
                          f"{cfg.future_margin_h:g} h); expected observed hours — a wrong date "
                          f"or time zone?")
    first = cfg.start_of(fmt)
    early = (t < first).to_numpy()
    if early.any():
        i = int(np.flatnonzero(early)[0])
        raise ReaderError(f"{source}: station {sid.iloc[i]}, time {t.iloc[i]:%Y-%m-%d %H:%M} UTC "
                          f"is before the {fmt} network's data begin ({first:%Y-%m-%d}); "
                          f"expected a later date — a wrong year or date format?")
