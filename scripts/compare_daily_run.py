"""A daily run on the small demo world (fixed seed and issue time), and a value comparison of
two runs' forecast files — used to show that a refactor left the PM2.5 and O3 outputs unchanged.

Usage::

    OMP_NUM_THREADS=1 python scripts/compare_daily_run.py run OUT_DIR
    python scripts/compare_daily_run.py compare BEFORE/forecasts/20260120T1500.nc AFTER/forecasts/20260120T1500.nc

``run`` builds the demo world (seed 20261128, 120 days to 2026-01-20 15:00 +08:00, the test
fixture's world), trains small models on the last 75 days (the flow tests' settings, perfect-prog
meteorology) and runs the daily flow's stages (forecast, daily AQI, warnings; no products) for
that issue time with the demo world's met cycles. ``compare`` prints, for every variable of the
first file whose name starts with ``pm25``/``pm10``/``o3`` (and the AQI and probabilities), the maximum
absolute difference, and exits 1 when any differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from airwarn.core.timeutil import LOCAL_TZ

ISSUE = pd.Timestamp("2026-01-20T15:00", tz=LOCAL_TZ)
SEED = 20261128


def run(out: Path) -> Path:
    from airwarn.configs.model_schema import LgbmParams, load_model_settings
    from airwarn.features.demo_world import build_world
    from airwarn.flows.daily import DailyRun, config_for, load_unit_obs, make_met_source, run_daily
    from airwarn.models.train import train_models

    from airwarn.core.runstore import RunStore

    build_world(out, seed=SEED, end=ISSUE, days=120)
    config = config_for(out)
    until = ISSUE.tz_convert("UTC")
    obs_units = load_unit_obs(config, start=until - pd.Timedelta(days=75), end=until)
    met_source, _ = make_met_source(config, "perfect")
    s = load_model_settings()
    small = LgbmParams(num_boost_round=30, learning_rate=0.15, num_leaves=15, min_data_in_leaf=20,
                       num_threads=1)
    s = s.model_copy(update={"daily": small, "hourly": small, "hourly_lead_stride": 12,
                             "issue_hours": [15]})
    train_models(config, obs_units, met_source, ISSUE, settings=s)
    r = DailyRun(config_for(out), ISSUE.to_pydatetime(), met="demo", products=())
    manifest = run_daily(r, use_tasks=False)
    print("status", manifest.get("status"))
    return RunStore(out).forecast(ISSUE)


def compare(a: Path, b: Path) -> int:
    import xarray as xr

    da, db = xr.open_dataset(a).load(), xr.open_dataset(b).load()
    bad = 0
    names = [v for v in da.data_vars if v.startswith(("pm25", "pm10", "o3", "aqi", "p_aqi", "primary"))]
    for v in sorted(names):
        if v not in db:
            print(f"{v:16s} MISSING in {b}")
            bad += 1
            continue
        x, y = da[v].values, db[v].values
        if x.dtype.kind in "fc":
            same = np.array_equal(x, y, equal_nan=True)
            diff = float(np.nanmax(np.abs(x - y))) if np.isfinite(x - y).any() else 0.0
            print(f"{v:16s} shape {str(x.shape):14s} identical={same} max|diff|={diff:.3g}")
        else:
            same = bool((x == y).all())
            print(f"{v:16s} shape {str(x.shape):14s} identical={same}")
        bad += not same
    print("ALL IDENTICAL" if not bad else f"{bad} variable(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        print(run(Path(sys.argv[2])))
    else:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
