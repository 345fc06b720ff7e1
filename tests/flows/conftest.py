"""Fixtures of the flow tests: ONE Prefect test harness for the whole session.

The Prefect environment (``flows.prefect_env``) is applied before Prefect is imported: its home
goes to a temporary directory, telemetry off, quiet logs.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="airwarn-prefect-home-"))

from flows.prefect_env import configure_prefect  # noqa: E402

configure_prefect(os.path.dirname(os.environ["PREFECT_HOME"]))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for every flow run of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
