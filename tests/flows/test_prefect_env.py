"""The Prefect environment airwarn applies before importing Prefect."""

from __future__ import annotations

from pathlib import Path

from airwarn.flows.prefect_env import configure_prefect, prefect_home


def test_defaults_in_data_dir_and_telemetry_off(tmp_path):
    env: dict[str, str] = {}
    applied = configure_prefect(tmp_path / "data", env=env)
    assert env["PREFECT_HOME"] == str((tmp_path / "data" / "prefect").resolve())
    assert Path(env["PREFECT_HOME"]).is_dir()
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY"] == "false"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "90"
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "false"
    assert applied == env


def test_operator_settings_win_and_serve_mode_keeps_scheduler(tmp_path):
    env = {"PREFECT_HOME": str(tmp_path / "mine"), "DO_NOT_TRACK": "0"}
    applied = configure_prefect(tmp_path, mode="serve", env=env)
    assert env["PREFECT_HOME"] == str(tmp_path / "mine")
    assert env["DO_NOT_TRACK"] == "0"
    assert "PREFECT_HOME" not in applied and "DO_NOT_TRACK" not in applied
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "true"
    assert env["PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED"] == "true"


def test_prefect_home_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert prefect_home("rel") == (tmp_path / "rel" / "prefect").resolve()


def test_settings_are_read_by_prefect():
    # tests/flows/conftest.py applied configure_prefect before Prefect was imported
    from prefect.settings import get_current_settings

    s = get_current_settings()
    assert s.server.analytics_enabled is False
    assert s.server.ephemeral.startup_timeout_seconds == 90
