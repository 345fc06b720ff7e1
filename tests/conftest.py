"""Shared session fixtures for the whole airwarn test suite.

``demo_world``
    A small demo world built once per test session (session scope) in a temporary directory:
    120 days ending at the issue time 2026-01-20 15:00 +08:00 (so it holds the 2025–26 winter,
    with multi-day PM2.5 episodes), seed 20261128, all 31 units, the configured stations plus a
    seat station ``seat_<unit_id>`` for every unit without one. Returns a
    ``features.demo_world.WorldInfo`` (``data_dir, seed, start, end, issue_time, version, days,
    cycle_time, stations, units``). Files under ``world.data_dir``: ``obs/YYYY-MM.parquet``,
    ``met/analysis/YYYY-MM.nc``, ``met/cycles/2026012000.nc``, ``demo/unit_truth.parquet``,
    ``demo/defects.csv``, ``demo/world.json``. Treat it as READ-ONLY: tests that write must write
    elsewhere (copy what they need into their own ``tmp_path``).

``demo_config``
    An ``configs.AirwarnConfig`` whose ``settings.data_dir`` points at the demo world's directory
    (region and stations from ``configs/``). Read-only too: ``dataclasses.replace`` /
    ``settings.model_copy(update=...)`` for variants.

Both signatures are stable; the world's contents change only with
``features.demo_world.GENERATOR_VERSION``. Build time: a few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# This file puts tests/ on sys.path (pytest rootdir conftest), where tests/configs, tests/features …
# would shadow the real packages as namespace packages; the repository root must come first.
_ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)

DEMO_WORLD_END = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai")
DEMO_WORLD_DAYS = 120
DEMO_WORLD_SEED = 20261128


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory):
    """The shared small demo world (see the module docstring); read-only."""
    from airwarn.features.demo_world import build_world

    data_dir = tmp_path_factory.mktemp("demo_world")
    return build_world(data_dir, seed=DEMO_WORLD_SEED, end=DEMO_WORLD_END, days=DEMO_WORLD_DAYS)


@pytest.fixture(scope="session")
def demo_config(demo_world):
    """``AirwarnConfig`` with ``settings.data_dir`` = the demo world's directory; read-only."""
    from airwarn.configs import AirwarnConfig, load_config

    cfg = load_config()
    settings = cfg.settings.model_copy(update={"data_dir": demo_world.data_dir})
    return AirwarnConfig(settings=settings, region=cfg.region, stations=cfg.stations)
