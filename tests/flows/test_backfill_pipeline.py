"""The backfill on Dask worker processes makes each issue time's warnings while the workers
still forecast the later ones (flows/backfill.py); the results must be those of the two passes
one after the other (thread runner)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import xarray as xr

START, END = "2026-01-19T05:00", "2026-01-20T05:00"   # 3 issue times


def _md5s(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_pipelined_backfill_equals_two_passes(prefect_harness, data_dir, tmp_path):
    pytest.importorskip("prefect_dask")
    from airwarn.flows.backfill import run_backfill

    other = tmp_path / "threads"
    shutil.copytree(data_dir, other)
    rows_dask = run_backfill(START, END, data_dir=str(data_dir), met="demo", warnings=True,
                             runner="dask", workers=1)
    rows_threads = run_backfill(START, END, data_dir=str(other), met="demo", warnings=True,
                                runner="threads", workers=1)
    assert [r["stamp"] for r in rows_dask] == ["20260119T0500", "20260119T1500",
                                               "20260120T0500"]
    assert [(r["stamp"], r["status"], r["forecast"]) for r in rows_dask] == \
        [(r["stamp"], r["status"], r["forecast"]) for r in rows_threads]
    assert all(r["status"] in ("complete", "partial") for r in rows_dask)
    # every warning decision and control order as in the two-pass backfill (the register's
    # state machine saw the issue times in the same order)
    assert _md5s(data_dir / "warnings") == _md5s(other / "warnings")
    for r in rows_dask:
        a = xr.load_dataset(data_dir / "forecasts" / f"{r['stamp']}.nc")
        b = xr.load_dataset(other / "forecasts" / f"{r['stamp']}.nc")
        for v in ("pm25_daily", "o3_mda8", "aqi_daily"):
            np.testing.assert_array_equal(a[v].values, b[v].values)
