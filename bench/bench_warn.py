"""Benchmark: warning decisions for all 31 units over 30 consecutive daily runs.

Run: ``.venv/bin/python bench/bench_warn.py``. Prints one table: decisions per run, median and
worst seconds per ``warn_run`` (state machine + regional/joint rules + control orders + register
writes + the JSON/CSV outputs), and the register rows written. Forecasts are synthetic daily AQI
sequences (a slow episode cycle plus noise) in the forecast-file contract of docs/INTERFACES.md.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.alerts.register import Register
from airwarn.alerts.warning import warn_run

from airwarn import configs
from airwarn.core.runstore import RunStore
from airwarn.core.timeutil import LOCAL_TZ


def synthetic_forecast(units: list[str], aqi: np.ndarray, issue: pd.Timestamp) -> xr.Dataset:
    """A forecast file with daily AQI ``aqi[unit, day]`` (D+1…D+3) and derived variables."""
    primary = np.where(aqi > 50, "PM2.5", "").astype(object)
    dates = [str((issue + pd.Timedelta(days=j)).date()) for j in (1, 2, 3)]
    return xr.Dataset(
        {"aqi_daily": (("region", "day"), aqi), "primary_daily": (("region", "day"), primary),
         "pm25_daily": (("region", "day"), aqi * 0.75),
         "o3_mda8": (("region", "day"), np.full(aqi.shape, 90.0)),
         "p_aqi_gt_150": (("region", "day"), (aqi > 150) * 0.8),
         "p_aqi_gt_200": (("region", "day"), (aqi > 200) * 0.7),
         "p_aqi_gt_300": (("region", "day"), (aqi > 300) * 0.6)},
        coords={"region": units, "day": [1, 2, 3], "date": ("day", dates)},
        attrs={"issue_time": issue.isoformat(), "model_version": "bench", "ruleset": "HJ633_2026",
               "source": "synthetic bench", "inputs": json.dumps({})})


def main(runs: int = 30) -> None:
    """Run ``runs`` consecutive daily warn_run calls and print the timing table."""
    cfg = configs.load_config()
    units = cfg.region.unit_ids
    rng = np.random.default_rng(1)
    base = 120 + 80 * np.sin(np.arange(runs + 10) / 4.0)
    offsets = 10 * (np.arange(len(units)) % 5)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        reg = Register(RunStore(d).register)
        times, counts = [], []
        for k in range(runs):
            issue = pd.Timestamp("2026-01-01T15:00", tz=LOCAL_TZ) + pd.Timedelta(days=k)
            aqi = np.clip(base[k + 1:k + 4][None, :] + offsets[:, None]
                          + rng.normal(0, 25, (len(units), 3)), 20, 480)
            ds = synthetic_forecast(units, aqi, issue)
            t0 = time.perf_counter()
            decisions = warn_run(ds, cfg, reg, issue, data_dir=d)
            times.append(time.perf_counter() - t0)
            counts.append(len(decisions))
        rows = reg.count("transitions")
    print(f"{'runs':>5} {'units':>6} {'decisions/run':>14} {'median s/run':>13} "
          f"{'max s/run':>10} {'register rows':>14}")
    print(f"{runs:>5} {len(units):>6} {np.mean(counts):>14.1f} {np.median(times):>13.3f} "
          f"{max(times):>10.3f} {rows:>14}")


if __name__ == "__main__":
    main()
