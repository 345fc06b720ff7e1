"""The bad-input corpus's store: a copy of the demo world with a forecast, warnings and a register.

Built once per session (a baseline forecast of the demo world's issue time and its warnings, so
that every part of the store a bad input could damage — obs, met, models, forecasts, warnings,
register — holds real content). Each case hashes the store before and after.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

ISSUE = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai")
#: Parts of the data directory that are not the store (Prefect's home, lock files).
NOT_STORE = {"prefect", "locks"}


def store_digest(data_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of the store (relative path → digest); SQLite side files skipped."""
    out: dict[str, str] = {}
    for p in sorted(Path(data_dir).rglob("*")):
        rel = p.relative_to(data_dir)
        if rel.parts[0] in NOT_STORE or not p.is_file() or p.name.endswith(("-wal", "-shm")):
            continue
        out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def corpus_store(demo_world, tmp_path_factory) -> Path:
    """The corpus store (read-only for the cases: each asserts it is unchanged)."""
    from airwarn.alerts.register import Register, register_path
    from airwarn.alerts.warning import warn_run
    from airwarn.flows.daily import config_for, load_unit_obs, make_met_source
    from airwarn.models.forecast import run_forecast, write_forecast

    d = tmp_path_factory.mktemp("corpus") / "data"
    shutil.copytree(demo_world.data_dir, d)
    cfg = config_for(d)
    utc = ISSUE.tz_convert("UTC")
    obs = load_unit_obs(cfg, start=utc - pd.Timedelta(days=40), end=utc - pd.Timedelta(hours=1))
    met, _ = make_met_source(cfg, "none")
    ds = run_forecast(cfg, ISSUE, met_source=met, obs_units=obs, data_dir=d,
                      source="synthetic demo")
    write_forecast(ds, d)
    reg = Register(register_path(d))
    warn_run(ds, cfg, reg, ISSUE)
    reg.record_override("chengdu", "yellow", "会商", "duty", "2026-01-20T10:00",
                        "2026-01-22T10:00")
    (d / "models").mkdir(exist_ok=True)
    (d / "models" / "README.txt").write_text("no models trained in the corpus store\n")
    assert (d / "warnings").is_dir() and (d / "forecasts").is_dir()
    return d
