"""Fixtures of the flow tests: ONE Prefect test harness for the whole session.

The Prefect environment (``flows.prefect_env``) is applied before Prefect is imported: its home
goes to a temporary directory, telemetry off, quiet logs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "PREFECT_HOME" not in os.environ:  # a temporary home, removed when the session ends
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="airwarn-prefect-home-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], True)

from airwarn.flows.prefect_env import configure_prefect  # noqa: E402

configure_prefect(os.path.dirname(os.environ["PREFECT_HOME"]))

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for every flow run of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


ISSUE = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai")
STAMP = "20260120T1500"


#: Days of observations the session's models are trained on (the minimum train_models accepts
#: plus a margin): small, so that training stays a few seconds.
TRAIN_DAYS = 75


def _small_settings():
    from airwarn.configs.model_schema import LgbmParams, load_model_settings

    s = load_model_settings()
    small = LgbmParams(num_boost_round=30, learning_rate=0.15, num_leaves=15, min_data_in_leaf=20,
                       num_threads=2)
    return s.model_copy(update={"daily": small, "hourly": small, "hourly_lead_stride": 12,
                                "issue_hours": [15]})


@pytest.fixture(scope="session")
def trained_dir(demo_world, tmp_path_factory) -> Path:
    """A copy of the demo world with models trained on it (small settings), once per session.

    Training uses the last :data:`TRAIN_DAYS` days and the world's analysis at the unit points as
    meteorology (perfect prog: one vectorised read instead of regenerating every past cycle).
    """
    pytest.importorskip("airwarn.models.train")
    pytest.importorskip("airwarn.models.forecast")
    from airwarn.flows.daily import config_for, load_unit_obs, make_met_source
    from airwarn.models.train import train_models

    d = tmp_path_factory.mktemp("flows_trained") / "data"
    shutil.copytree(demo_world.data_dir, d)
    config = config_for(d)
    until = ISSUE.tz_convert("UTC")
    obs_units = load_unit_obs(config, start=until - pd.Timedelta(days=TRAIN_DAYS), end=until)
    met_source, _ = make_met_source(config, "perfect")
    cards = train_models(config, obs_units, met_source, ISSUE, settings=_small_settings())
    from airwarn.core.pollutants import targets

    assert len(cards) == len(targets()) and all(Path(c).exists() for c in cards)
    return d


@pytest.fixture
def data_dir(trained_dir, tmp_path) -> Path:
    """This test's own copy of the trained world."""
    d = tmp_path / "data"
    shutil.copytree(trained_dir, d)
    return d
