"""``airwarn serve``: the deployments, their cron strings and time zone (without serving)."""

from __future__ import annotations

import pytest
from airwarn.flows.serve import MONTHLY_CRON, RETRAIN_CRON, build_deployments, daily_cron
from typer.testing import CliRunner


def test_deployments_schedules_in_shanghai():
    deps = {d.name: d for d in build_deployments(data_dir="/srv/airwarn")}
    assert set(deps) == {"daily-forecast", "retrain-weekly", "monthly-review", "acquire",
                         "inbox-watch"}
    crons = {n: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]
             for n, d in deps.items() if n != "inbox-watch"}
    assert crons["daily-forecast"] == [("0 5,15 * * *", "Asia/Shanghai")]
    assert crons["retrain-weekly"] == [("0 2 * * 0", "Asia/Shanghai")]
    assert crons["monthly-review"] == [("0 9 2 * *", "Asia/Shanghai")]
    # acquisition starts an hour before each issue time (settings.acquire.start_min_before)
    assert crons["acquire"] == [("0 4 * * *", "Asia/Shanghai"), ("0 14 * * *", "Asia/Shanghai")]
    assert deps["acquire"].flow_name == "acquire"
    assert deps["inbox-watch"].schedules[0].schedule.interval.total_seconds() == 300
    assert deps["daily-forecast"].flow_name == "daily-forecast"
    assert deps["retrain-weekly"].flow_name == "retrain"
    assert deps["daily-forecast"].parameters == {"data_dir": "/srv/airwarn"}
    assert RETRAIN_CRON == "0 2 * * 0" and MONTHLY_CRON == "0 9 2 * *"


def test_daily_cron_follows_issue_hours(monkeypatch):
    assert daily_cron([15, 5]) == "0 5,15 * * *"
    assert daily_cron([8]) == "0 8 * * *"
    with pytest.raises(ValueError, match="issue_hours"):
        daily_cron([24])
    monkeypatch.setenv("AIRWARN_ISSUE_HOURS", "[6, 16]")
    daily = build_deployments()[0]
    assert daily.schedules[0].schedule.cron == "0 6,16 * * *"


def test_cli_serve_list():
    from airwarn.flows.cli import app

    result = CliRunner().invoke(app, ["serve", "--list"])
    assert result.exit_code == 0, result.output
    assert "0 5,15 * * *" in result.output and "Asia/Shanghai" in result.output
    assert "monthly-review" in result.output
