"""The input-format registry: every built-in format is found by its bytes, unknown files are
named in one clear error."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from airwarn.features.readers.common import ReaderError
from airwarn.features.readers.registry import detect_format, formats, get_format, read_head

DATA = Path(__file__).resolve().parents[1] / "data"


def test_builtin_formats_registered_by_kind():
    obs = {f.name for f in formats("obs")}
    grid = {f.name for f in formats("met_grid")}
    assert {"china_sites", "stateair", "openaq", "canonical", "long"} <= obs
    assert {"era5", "wrf", "cf"} <= grid
    # most specific first: the generic long table is asked last among station formats
    assert [f.name for f in formats("obs")][-1] == "long"


def test_detects_station_files_by_header(tmp_path):
    f = tmp_path / "anything.csv"
    f.write_text("time,station_id,pm25\n2024-01-01T00:00Z,1001A,35\n")
    assert detect_format(f).name == "canonical"
    g = tmp_path / "obs.csv.gz"
    g.write_bytes(gzip.compress(f.read_bytes()))
    assert read_head(g).startswith(b"time,station_id,pm25")
    assert detect_format(g).name == "canonical"


def test_detects_netcdf_met(tmp_path):
    import numpy as np
    import pandas as pd
    import xarray as xr

    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), np.full((1, 2, 2), 280.0))},
                    coords={"time": pd.date_range("2024-01-01", periods=1),
                            "latitude": [30.0, 31.0], "longitude": [104.0, 105.0]})
    p = tmp_path / "a.nc"
    ds.to_netcdf(p)
    assert detect_format(p).name == "era5"
    with pytest.raises(ReaderError, match="not a format airwarn reads"):
        detect_format(p, kinds=("obs",))


def test_unknown_file_is_one_clear_error(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello world\n")
    with pytest.raises(ReaderError, match=r"notes\.txt: not a format airwarn reads.*'hello world'"):
        detect_format(f)
    with pytest.raises(ReaderError, match="unknown format 'nope'"):
        get_format("nope")
