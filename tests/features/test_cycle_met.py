"""Backtest meteorology from the cycle store, replaying when each step arrived.

Cycles are real GRIB2 (ecCodes' sample, IFS encoding, one file per step) ingested into a cycle
store with their arrival times, as ``airwarn fetch`` records them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.features.cycle_met import ArchiveArrivalsError, arrival_delays, store_cycle_met
from airwarn.features.met_cycles import cycle_arrivals, store_cycles
from airwarn.features.readers.grib import read_grib2_cycles, write_grib2_steps

from tests.features.test_nwp_grib import REF, cycle

POINT = {"chengdu": (30.66, 104.06)}
REF12 = pd.Timestamp("2026-01-20T12:00Z")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """00 UTC cycle (to 120 h) arrived at 05 UTC; the 12 UTC cycle's steps 0–48 h arrived at
    16 UTC, steps 51–120 h at 19 UTC."""
    tmp = tmp_path_factory.mktemp("arrivals")
    d = tmp / "d"
    old = write_grib2_steps(cycle(steps=range(0, 121, 3), seed=1), tmp / "c00")
    store_cycles(d, read_grib2_cycles(old), arrived="2026-01-20T05:00Z")
    new = write_grib2_steps(cycle(steps=range(0, 121, 3), ref=REF + pd.Timedelta(hours=12),
                                  seed=2), tmp / "c12")
    store_cycles(d, read_grib2_cycles(new[:17]), arrived="2026-01-20T16:00Z")
    store_cycles(d, read_grib2_cycles(new[17:]), arrived="2026-01-20T19:00Z")
    return d / "met" / "cycles"


START = pd.Timestamp("2026-01-20T17:00Z")


def _t2m(src, issue: str) -> pd.Series:
    """t2m over 17 UTC … +72 h as the run issued at ``issue`` had it."""
    p = src.panel(pd.Timestamp(issue), START, START + pd.Timedelta(hours=72), ["chengdu"])
    return pd.Series(p.data["t2m"][:, 0], index=p.times)


def test_recorded_arrivals_are_read_from_the_catalog(store: Path) -> None:
    arr = cycle_arrivals(store)
    assert sorted(arr) == [pd.Timestamp("2026-01-20T00:00Z"), REF12]
    assert arr[REF12][0] == pd.Timestamp("2026-01-20T16:00Z")
    assert arr[REF12][48] == pd.Timestamp("2026-01-20T16:00Z")
    assert arr[REF12][51] == pd.Timestamp("2026-01-20T19:00Z")
    d = arrival_delays(arr)
    assert d == {"cycles": 2.0, "step0_median_h": 4.5, "last_median_h": 6.0}


def test_an_issue_sees_a_cycle_as_it_stood_then(store: Path) -> None:
    """With the record, the 12 UTC cycle is not there at 15 UTC, only to 48 h at 17 UTC (the
    rest from 00 UTC) and whole at 20 UTC; the latency rule (5 h) would have given it whole at
    17 UTC."""
    replay = store_cycle_met(store, POINT, arrivals=cycle_arrivals(store))
    latency = store_cycle_met(store, POINT, latency_h=5.0)
    whole12 = _t2m(latency, "2026-01-20T17:00Z")
    whole00 = _t2m(store_cycle_met(store, POINT, latency_h=5.0), "2026-01-20T11:00Z")
    assert whole12.notna().all() and whole00.notna().all()

    assert replay.describe(pd.Timestamp("2026-01-20T15:00Z"))["cycle"] == \
        "2026-01-20T00:00:00+00:00"
    info = replay.describe(pd.Timestamp("2026-01-20T17:00Z"))
    assert info["cycle"] == "2026-01-20T12:00:00+00:00"
    assert info["stitched"][0]["cycle"] == "2026-01-20T00:00:00+00:00"
    assert info["stitched"][0]["from"] == "2026-01-22T13:00:00+00:00"   # 12 UTC + 49 h
    got = _t2m(replay, "2026-01-20T17:00Z")
    cut = REF12 + pd.Timedelta(hours=48)
    np.testing.assert_allclose(got[:cut], whole12[:cut], atol=1e-4)
    after = got[cut + pd.Timedelta(hours=1):]
    np.testing.assert_allclose(after, whole00.reindex(after.index), atol=1e-4)
    assert np.abs(after - whole12.reindex(after.index)).max() > 0.5   # not the 12 UTC steps
    assert "stitched" not in latency.describe(pd.Timestamp("2026-01-20T17:00Z"))

    np.testing.assert_allclose(_t2m(replay, "2026-01-20T20:00Z"), whole12, atol=1e-4)
    assert "stitched" not in replay.describe(pd.Timestamp("2026-01-20T20:00Z"))


def test_an_archive_ingested_after_the_fact_is_refused() -> None:
    ref = pd.Timestamp("2025-01-01T00:00Z")
    late = {ref + pd.Timedelta(days=k): {0: pd.Timestamp("2026-12-01T00:00Z")} for k in range(3)}
    with pytest.raises(ArchiveArrivalsError, match=r"median of \d+ h after .* ingested after "
                                                   r"the fact"):
        arrival_delays(late)
    with pytest.raises(ArchiveArrivalsError, match="no arrival records"):
        arrival_delays({})
