"""Pollutant registry, time conventions and run store of the ground floor."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from airwarn.core import pollutants as reg
from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import (
    LOCAL_TZ,
    issue_stamp,
    parse_issue_time,
    parse_stamp,
    settings_timezone,
)


def test_registry_lists_the_canonical_pollutants() -> None:
    r = reg.registry()
    assert r.names == ("pm25", "pm10", "o3", "no2", "so2", "co")
    assert set(r.targets) <= set(r.names) and "pm25" in r.targets and "o3" in r.targets
    assert r.get("o3").daily_statistic == "mda8" and r.get("o3").iaqi_key == "o3_8h"
    assert r.get("pm25").iaqi_key == "pm25_24h" and r.get("pm10").iaqi_key == "pm10_24h"
    assert r.get("co").units == "mg m-3"
    assert reg.daily_variables()["pm25"] == "pm25_daily"
    with pytest.raises(KeyError, match="unknown pollutant 'pm1'"):
        r.get("pm1")


def test_registry_agrees_with_the_observation_store_and_qc() -> None:
    from airwarn.alerts.daily import POLLUTANT_COLUMNS
    from airwarn.configs.domain_schema import CANONICAL_VARIABLES
    from airwarn.features.build import POLLUTANTS as BUILD_POLLUTANTS
    from airwarn.features.demo_world.stations import POLLUTANTS as DEMO_POLLUTANTS
    from airwarn.features.qc import VAR_SHIFT
    from airwarn.features.store import POLLUTANTS

    for names in (POLLUTANTS, BUILD_POLLUTANTS, DEMO_POLLUTANTS, POLLUTANT_COLUMNS,
                  CANONICAL_VARIABLES):
        assert tuple(names) == reg.observed()
    # the qc byte layout (docs/INTERFACES.md) follows the registry order
    assert VAR_SHIFT == {"pm25": 0, "pm10": 8, "o3": 16, "no2": 24, "so2": 32, "co": 40}


def test_bad_registry_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "pollutants.yaml"
    bad.write_text("pollutants:\n  - name: pm25\n    label: PM2.5\n", encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        reg.load_registry(bad)
    msg = str(exc.value)
    assert str(bad) in msg and "pollutants.0.daily_statistic" in msg


def test_timezone_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert LOCAL_TZ == "Asia/Shanghai"
    monkeypatch.delenv("AIRWARN_TIMEZONE", raising=False)
    s = tmp_path / "settings.yaml"
    s.write_text("timezone: Asia/Chongqing\n", encoding="utf-8")
    assert settings_timezone(s) == "Asia/Chongqing"
    s.write_text("data_dir: data\n", encoding="utf-8")
    assert settings_timezone(s) == "Asia/Shanghai"
    s.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        settings_timezone(s)


@pytest.mark.parametrize("value", ["2026-01-20T15:00", "2026-01-20T07:00Z", "20260120T1500",
                                   "2026-01-20 15:00+08:00",
                                   datetime(2026, 1, 20, 7, tzinfo=ZoneInfo("UTC")),
                                   pd.Timestamp("2026-01-20T15:00")])
def test_parse_issue_time(value: object) -> None:
    t = parse_issue_time(value)  # type: ignore[arg-type]
    assert str(t.tz) == "Asia/Shanghai" and t == pd.Timestamp("2026-01-20T07:00Z")
    assert issue_stamp(t) == "20260120T1500"


def test_parse_issue_time_errors() -> None:
    with pytest.raises(ValueError, match="on the hour"):
        parse_issue_time("2026-01-20T15:30")
    with pytest.raises(ValueError, match="expected ISO 8601"):
        parse_issue_time("tomorrow")
    with pytest.raises(ValueError, match="YYYYMMDDTHHMM"):
        parse_stamp("2026-01-20")


def test_the_old_stamp_names_are_the_one_stamp() -> None:
    from airwarn.alerts import warning
    from airwarn.flows import locks
    from airwarn.models import forecast
    from airwarn.products import run

    for f in (warning.issue_stamp, locks.issue_stamp, forecast.issue_stamp,
              run.run_stamp):
        assert f is issue_stamp
    assert issue_stamp(datetime(2026, 1, 20, 15)) == "20260120T1500"  # naive = local
    assert issue_stamp("2026-01-20T07:00Z") == "20260120T1500"


def test_run_store_layout(tmp_path: Path) -> None:
    from airwarn.alerts.register import register_path
    from airwarn.alerts.warning import orders_path, warnings_path
    from airwarn.flows.locks import lock_path
    from airwarn.models.forecast import forecast_path

    s = RunStore(tmp_path)
    t = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai")
    assert s.forecast(t) == tmp_path / "forecasts" / "20260120T1500.nc" == forecast_path(tmp_path, t)
    assert s.forecast("20260120T1500") == s.forecast(t)
    assert s.warnings(t) == tmp_path / "warnings" / "20260120T1500.json" == warnings_path(tmp_path, t)
    assert s.orders(t) == orders_path(tmp_path, t)
    assert s.register == tmp_path / "register.sqlite" == register_path(tmp_path)
    assert s.products(t) == tmp_path / "products" / "20260120T1500"
    assert s.manifest(t) == s.products(t) / "manifest.json"
    assert s.lock(t) == lock_path(tmp_path, t.to_pydatetime())
    assert s.model_dir("pm25", "v1") == tmp_path / "models" / "pm25" / "v1"
    assert s.met_cycle(pd.Timestamp("2026-01-20T00:00Z")) == tmp_path / "met/cycles/2026012000.nc"
    assert s.met_analysis("2026-01") == tmp_path / "met/analysis/2026-01.nc"
    assert s.obs_month(pd.Timestamp("2026-02-03")) == tmp_path / "obs/2026-02.parquet"
    assert s.qc_report(t) == tmp_path / "obs/qc/20260120T1500.csv"
    assert s.monthly_report("2026-01") == tmp_path / "reports/monthly/2026-01"
