"""Speed and memory of the forecast models on the real UCI Beijing set (12 stations, CC BY 4.0;
Zhang et al. 2017, Proc. R. Soc. A 473: 20170457).

Prints a table: training time and peak memory (12 stations, PM2.5 + O3, daily and hourly
models, all leads, 2013-03 … 2015-02; with the station meteorology observed before each issue as
history, and its values at the valid time standing in for a forecast (``--met perfect``) or no
future meteorology (``--met none``: smaller models, 5 seeds, the out-of-fold choice of the
climatology weight)), saving and loading through the registry,
and the time of one issue's forecast for all stations once the models are loaded (features,
running bias from the last 31 issues, quantiles, AQI, probabilities, Dataset).

Usage::

    .venv/bin/python bench/bench_models_speed.py [--met perfect|none] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from configs import load_settings  # noqa: E402
from configs.model_schema import load_domain, load_model_settings  # noqa: E402
from features.build import (  # noqa: E402
    MET_HISTORY_VARS,
    MetSource,
    NoMet,
    PerfectMet,
    daily_targets,
    make_panel,
    observation_variables,
)
from models.backtest import issue_times_between, load_domain_data, train_models_on  # noqa: E402
from models.baselines import fit_climatology  # noqa: E402
from models.forecast import forecast_arrays, forecast_dataset  # noqa: E402
from models.registry import load_latest, save_model  # noqa: E402


def main() -> None:
    """Run and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--met", choices=["perfect", "none"], default="perfect")
    args = ap.parse_args()
    settings = load_model_settings()
    if args.threads:
        settings.daily.num_threads = settings.hourly.num_threads = args.threads
        if settings.daily_no_met is not None:
            settings.daily_no_met.num_threads = args.threads
    dom = load_domain(ROOT / "configs" / "domains" / "beijing_multisite.yaml")
    t = time.perf_counter()
    data = load_domain_data(dom)
    read_s = time.perf_counter() - t
    units = sorted(data.obs_units["unit_id"].unique())
    # as models/backtest.py: the station meteorology observed before the issue is history
    hist = [v for v in MET_HISTORY_VARS if v in data.met_units.columns]
    table = data.obs_units.merge(data.met_units[["time", "unit_id", *hist]],
                                 on=["time", "unit_id"], how="left")
    obs = make_panel(table, observation_variables(table), units)
    dobs = daily_targets(obs)
    met: MetSource = PerfectMet(data.met_units) if args.met == "perfect" else NoMet()
    t = time.perf_counter()
    models = train_models_on(obs, dobs, met, first_day=pd.Timestamp("2013-04-01"),
                             last_target_day=pd.Timestamp("2015-02-28"), issue_hours=[12],
                             settings=settings, geometry=data.geometry)
    train_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clim = fit_climatology(obs, dobs)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for m in models.values():
            save_model(m, tmp, climatology=clim, extra={"met_source": args.met})
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = {p: load_latest(tmp, p).model for p in ("pm25", "o3")}
        load_s = time.perf_counter() - t
    quantiles = list(load_settings().quantiles)
    its = issue_times_between("2015-06-01", "2015-06-05", 12)
    times = []
    for it in its:
        t = time.perf_counter()
        fa = forecast_arrays(obs, dobs, [it], met, loaded, settings=settings, quantiles=quantiles,
                             climatology=clim, geometry=data.geometry)
        forecast_dataset(fa, region_names=data.names, attrs={"model_version": "bench"})
        times.append(time.perf_counter() - t)
    print(f"| models speed, Beijing 12 stations, --met {args.met} (LightGBM threads = "
          f"{settings.daily.num_threads}) | value |")
    print("|---|---|")
    print(f"| read 12 CSV files | {read_s:.1f} s |")
    print(f"| train PM2.5 + O3 (daily {'+'.join(settings.daily_designs)}, hourly), 2 years | "
          f"{train_s:.0f} s (target < 300 s) |")
    print(f"| peak resident memory | {peak_mb:.0f} MB (target < 4096 MB) |")
    print(f"| save / load through the registry | {save_s:.2f} s / {load_s:.2f} s |")
    print(f"| one issue's forecast, all stations, models loaded (median of {len(times)}) | "
          f"{sorted(times)[len(times) // 2]:.2f} s (target < 2 s) |")


if __name__ == "__main__":
    main()
