"""Speed and memory of the forecast models on the real UCI Beijing set (12 stations, CC BY 4.0;
Zhang et al. 2017, Proc. R. Soc. A 473: 20170457).

Prints a table: training time and peak memory (12 stations, PM2.5 + O3, daily and hourly
models, all leads, 2013-03 … 2015-02; with the station meteorology observed before each issue as
history, and its values at the valid time standing in for a forecast (``--met perfect``) or no
future meteorology (``--met none``: smaller models, 5 seeds, the out-of-fold choice of the
climatology weight)), saving and loading through the registry,
and the time of one issue's forecast for all stations once the models are loaded (features,
running bias from the last 31 issues, quantiles, AQI, probabilities, Dataset).

``--contention`` measures the LightGBM thread policy instead (models/threads.py): one
LightGBM regressor (``fit_booster``; 100,000 rows × 60 features, 31 units, 100 rounds, synthetic)
trained in a fresh process, idle and then beside a CPU-bound process started by the bench
(bounded to a few minutes, stopped at the end), with the policy (``num_threads: auto``,
``OMP_WAIT_POLICY=PASSIVE``); ``--contention-old`` adds the old settings (2 threads, OpenMP active
wait) for comparison (slow when the machine is busy: minutes). Ends with ``contended/idle
training time ratio: X`` for the policy (target ≤ 2.5).

Usage::

    .venv/bin/python bench/bench_models_speed.py [--met perfect|none] [--threads N]
    .venv/bin/python bench/bench_models_speed.py --contention [--contention-old]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airwarn.configs import load_settings  # noqa: E402
from airwarn.configs.model_schema import load_domain, load_model_settings  # noqa: E402
from airwarn.features.build import (  # noqa: E402
    MET_HISTORY_VARS,
    MetSource,
    NoMet,
    PerfectMet,
    daily_targets,
    make_panel,
    observation_variables,
)
from airwarn.models.backtest import issue_times_between, load_domain_data, train_models_on  # noqa: E402
from airwarn.models.baselines import fit_climatology  # noqa: E402
from airwarn.models.forecast import forecast_arrays, forecast_dataset  # noqa: E402
from airwarn.models.registry import load_latest, save_model  # noqa: E402

CONTENTION_ROWS, CONTENTION_FEATURES, CONTENTION_ROUNDS = 100_000, 60, 100
#: the bench's own CPU load never outlives this many seconds, even if the bench is killed
LOAD_MAX_S = 300
#: one training run slower than this is reported as "> CHILD_TIMEOUT_S" (s)
CHILD_TIMEOUT_S = 240


def _contention_child(threads: str) -> None:
    """Train once (in this fresh process; OMP_WAIT_POLICY comes from the parent) and print
    ``<seconds> <threads used>``."""
    import numpy as np
    from airwarn.configs.model_schema import LgbmParams
    from airwarn.models.lgbm import fit_booster
    from airwarn.models.threads import resolve_num_threads

    rng = np.random.default_rng(0)
    n, k = CONTENTION_ROWS, CONTENTION_FEATURES
    X = pd.DataFrame(rng.standard_normal((n, k)).astype("float32"),
                     columns=[f"f{i}" for i in range(k)])
    X["unit"] = pd.Categorical(rng.integers(0, 31, n))
    y = (60 + 20 * np.tanh(X["f0"].to_numpy()) + 10 * X["f1"].to_numpy() * X["f2"].to_numpy()
         + 3 * X["unit"].cat.codes.to_numpy() % 7 + rng.normal(0, 5, n))
    num: int | str = threads if threads == "auto" else int(threads)
    params = LgbmParams(num_boost_round=CONTENTION_ROUNDS, num_threads=num)  # type: ignore[arg-type]
    t = time.perf_counter()
    fit_booster(X, y, params)
    used = resolve_num_threads(num)  # type: ignore[arg-type]  # cached: what fit_booster used
    print(f"{time.perf_counter() - t:.2f} {used}")


def _train_timed(threads: str, policy: str) -> tuple[float, int]:
    """(seconds, threads used) of one training in a fresh process; inf after CHILD_TIMEOUT_S."""
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    env.pop("OMP_NUM_THREADS", None)  # the policy under test decides
    try:
        out = subprocess.run([sys.executable, __file__, "--contention-child", threads], env=env,
                             capture_output=True, text=True, check=True,
                             timeout=CHILD_TIMEOUT_S).stdout.split()
    except subprocess.TimeoutExpired:
        return float("inf"), int(threads) if threads.isdigit() else 0
    return float(out[-2]), int(out[-1])


def _fmt(t: float, n: int) -> str:
    return f"> {CHILD_TIMEOUT_S} s" if t == float("inf") else f"{t:.1f} s ({n} thr)"


def contention(with_old: bool = False) -> float:
    """Idle vs contended training with the policy (and the old settings); print the table,
    return the policy's contended/idle ratio."""
    load0 = os.getloadavg()
    cases = [("policy: num_threads auto, OMP_WAIT_POLICY=PASSIVE", "auto", "PASSIVE")]
    if with_old:
        cases.append(("old: 2 threads, OMP_WAIT_POLICY=ACTIVE", "2", "ACTIVE"))
    idle = {name: _train_timed(th, pol) for name, th, pol in cases}
    burner = subprocess.Popen([sys.executable, "-c",
                               f"import time\nend = time.monotonic() + {LOAD_MAX_S}\n"
                               "while time.monotonic() < end:\n    pass"])
    try:
        time.sleep(1.0)
        busy = {name: _train_timed(th, pol) for name, th, pol in cases}
    finally:
        burner.kill()
        burner.wait()
    load1 = os.getloadavg()
    print(f"| LightGBM {CONTENTION_ROWS:,} rows × {CONTENTION_FEATURES} features, "
          f"{CONTENTION_ROUNDS} rounds, {os.cpu_count()} CPUs | idle | beside 1 CPU-bound process "
          "| contended/idle |")
    print("|---|---|---|---|")
    for name, _, _ in cases:
        (ti, ni), (tb, nb) = idle[name], busy[name]
        print(f"| {name} | {_fmt(ti, ni)} | {_fmt(tb, nb)} | {tb / ti:.2f}× |")
    print(f"load average (1, 5, 15 min) before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (the bench's own load included)")
    name = cases[0][0]
    ratio = busy[name][0] / idle[name][0]
    print(f"contended/idle training time ratio: {ratio:.2f}")
    return ratio


def main() -> None:
    """Run and print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--met", choices=["perfect", "none"], default="perfect")
    ap.add_argument("--contention", action="store_true",
                    help="idle vs contended LightGBM training time (thread policy)")
    ap.add_argument("--contention-old", action="store_true",
                    help="with --contention: also the old settings (2 threads, active wait)")
    ap.add_argument("--contention-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.contention_child:
        _contention_child(args.contention_child)
        return
    if args.contention:
        contention(with_old=args.contention_old)
        return
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
