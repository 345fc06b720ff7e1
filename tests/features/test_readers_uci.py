"""features.readers.uci on small real slices (tests/data/uci, tests/data/ingest; CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.features.readers.uci import MET_COLUMNS, OBS_COLUMNS, read_five_cities, read_prsa

DATA = Path(__file__).resolve().parents[1] / "data"
DONGSI = DATA / "uci" / "PRSA_Data_Dongsi_20130301-20130429.csv"
DINGLING = DATA / "uci" / "PRSA_Data_Dingling_20130301-20130429.csv"
CHENGDU = DATA / "ingest" / "ChengduPM20130101_20130101.csv"


def test_read_prsa_canonical_tables() -> None:
    obs, met = read_prsa([DONGSI, DINGLING])
    assert list(obs.columns) == OBS_COLUMNS and list(met.columns) == MET_COLUMNS
    assert len(obs) == 2 * 1440 and set(obs["station_id"]) == {"Dongsi", "Dingling"}
    first = obs[obs["station_id"] == "Dongsi"].iloc[0]
    # 2013-03-01 00h local (UTC+8) = 2013-02-28 16:00 UTC; row 1: PM2.5 9, PM10 9, CO 300 µg/m³
    assert first["time"] == pd.Timestamp("2013-02-28 16:00", tz="UTC")
    assert first["pm25"] == 9 and first["pm10"] == 9 and first["co"] == pytest.approx(0.3)
    assert obs["qc"].eq(0).all()
    assert obs["pm25"].isna().any()  # 'NA' cells become NaN, never 0
    m = met[met["station_id"] == "Dongsi"].iloc[0]
    # row 1 of the Dongsi file: TEMP -0.5 °C, PRES 1024.5 hPa, NNW 5.7 m/s
    assert m["t2m"] == pytest.approx(273.15 - 0.5) and m["sp"] == pytest.approx(102450.0)
    assert 0 <= met["rh"].min() and met["rh"].max() <= 100
    # NNW wind blows towards SSE: u > 0, v < 0
    assert m["ws10"] == pytest.approx(5.7) and m["u10"] > 0 and m["v10"] < 0


def test_read_prsa_bad_value_names_file_line_and_column(tmp_path: Path) -> None:
    lines = DONGSI.read_text().splitlines()
    parts = lines[5].split(",")
    parts[5] = "n/a?"
    lines[5] = ",".join(parts)
    bad = tmp_path / "PRSA_Data_Dongsi_bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"PRSA_Data_Dongsi_bad.csv, line 6, column 'PM2.5'"):
        read_prsa(bad)


def test_read_five_cities_station_columns() -> None:
    obs, met = read_five_cities(CHENGDU)
    assert set(obs["station_id"]) == {"chengdu_caotangsi", "chengdu_shahepu", "chengdu_us_post"}
    assert len(obs) == 3 * 24
    caot = obs[obs["station_id"] == "chengdu_caotangsi"].reset_index(drop=True)
    assert caot.loc[0, "time"] == pd.Timestamp("2012-12-31 16:00", tz="UTC")
    assert caot.loc[0, "pm25"] == 121  # first data row: PM_Caotangsi 121
    assert obs["o3"].isna().all()
    assert np.isfinite(met["t2m"]).all() and (met["ws10"] >= 0).all()
