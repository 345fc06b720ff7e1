"""Benchmark and calibration report of the demo world (features.demo_world).

Builds the full world (settings.demo_days, default 730 days) in a temporary directory and prints:
generation time, peak memory, size on disk, the unit-level forecast path speed (700 cycles), the
forecast-cycle error by lead, and the calibration figures against the targets (monthly mean PM2.5
in January / July for Chengdu and central Chongqing, days per year with daily PM2.5 > 115 and
> 150, O3 MDA8 days > 160 / > 215, the O3 diurnal peak hour), then the per-unit counts of observed
daily AQI levels per season (``summarise_world``).

Usage::

    .venv/bin/python bench/bench_demo_world.py [--days 730] [--end 2026-01-20T15:00+08:00] [--keep DIR]

Budget (task): 2 years + current cycle in under 2 minutes and 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.features.demo_world import (  # noqa: E402
    build_world,
    summarise_world,
    unit_met_analysis,
    unit_met_forecasts,
    unit_truth,
)

from airwarn.core.timeutil import LOCAL_TZ  # noqa: E402


def _size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _daily_local(truth: pd.DataFrame, col: str) -> pd.DataFrame:
    t = truth.pivot(index="time", columns="unit_id", values=col)
    t.index = t.index.tz_convert(LOCAL_TZ).tz_localize(None)
    return t


def _mda8(o3: pd.DataFrame) -> pd.DataFrame:
    """Daily max of 8-h means whose windows end 08–24 h local (≥ 6 of 8 hours)."""
    m8 = o3.rolling(8, min_periods=6).mean()
    m8 = m8[(m8.index.hour >= 7)]  # windows ending 08:00…24:00 (stamped at their last hour)
    return m8.resample("D").max()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--end", default="2026-01-20T15:00+08:00")
    ap.add_argument("--keep", default=None, help="build here instead of a temporary directory")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory() if args.keep is None else None
    data_dir = Path(args.keep or tmp.name)
    t0 = time.perf_counter()
    world = build_world(data_dir, end=pd.Timestamp(args.end), days=args.days, progress=True)
    t_build = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = _size(data_dir)
    t0 = time.perf_counter()
    world2 = build_world(data_dir, end=pd.Timestamp(args.end), days=args.days)
    t_cached = time.perf_counter() - t0
    assert world2.end == world.end

    # unit-level forecast path: 700 cycles × 31 units × 121 steps
    refs = pd.date_range(world.cycle_time - pd.Timedelta(days=699), world.cycle_time, freq="D")
    t0 = time.perf_counter()
    fc = unit_met_forecasts(world, refs)
    t_fc = time.perf_counter() - t0

    print()
    print("| quantity | value |")
    print("|---|---|")
    print(f"| world | {world.days} days, {len(world.units)} units, {len(world.stations)} stations, "
          f"{world.start:%Y-%m-%d %H:%M} … {world.end:%Y-%m-%d %H:%M} UTC |")
    print(f"| generation time | {t_build:.1f} s |")
    print(f"| cached rebuild | {t_cached * 1000:.0f} ms |")
    print(f"| peak memory (ru_maxrss) | {peak:.0f} MB |")
    print(f"| size on disk | {size:.0f} MB |")
    print(f"| unit forecasts, {len(refs)} cycles × {len(world.units)} units × 121 h | "
          f"{t_fc:.1f} s ({len(fc):,} rows) |")

    # forecast error growth (unit points, all cycles)
    ana = unit_met_analysis(world, refs[0], refs[-1] + pd.Timedelta(hours=120))
    m = fc.merge(ana, left_on=["valid_time", "unit_id"], right_on=["time", "unit_id"],
                 suffixes=("", "_a"))
    print()
    print("| lead (h) | t2m RMSE (K) | wind RMSE (m s-1) | blh RMSE (m) | rain > 0.5 mm h-1: POD | FAR | ETS |")
    print("|---|---|---|---|---|---|---|")
    for lead in (0, 24, 48, 72, 96, 120):
        g = m[m["step"] == lead]
        e_t = np.sqrt(np.mean((g["t2m"] - g["t2m_a"]) ** 2))
        e_w = np.sqrt(np.mean((g["u10"] - g["u10_a"]) ** 2 + (g["v10"] - g["v10_a"]) ** 2))
        e_b = np.sqrt(np.mean((g["blh"] - g["blh_a"]) ** 2))
        o, f = (g["tp_a"] > 0.5).to_numpy(), (g["tp"] > 0.5).to_numpy()
        a, b, c = (f & o).sum(), (f & ~o).sum(), (~f & o).sum()
        chance = (a + b) * (a + c) / max(len(o), 1)
        ets = (a - chance) / max(a + b + c - chance, 1e-9)
        print(f"| {lead} | {e_t:.2f} | {e_w:.2f} | {e_b:.0f} | {a / max(a + c, 1):.2f} | "
              f"{b / max(a + b, 1):.2f} | {ets:.2f} |")

    # calibration on the clean unit truth (observed part)
    truth = unit_truth(world)
    truth = truth[truth["observed"]]
    pm = _daily_local(truth, "pm25")
    pm_d = pm.resample("D").mean()
    o3 = _daily_local(truth, "o3")
    mda8 = _mda8(o3)
    years = len(pm_d) / 365.25
    print()
    print("| calibration (clean unit truth) | chengdu | cq_central | zigong | yibin | dazhou | yaan | target |")
    print("|---|---|---|---|---|---|---|---|")
    units = ["chengdu", "cq_central", "zigong", "yibin", "dazhou", "yaan"]
    mon = pm.groupby(pm.index.month).mean()

    def row(name: str, vals: pd.Series, target: str, fmt: str = "{:.0f}") -> None:
        print(f"| {name} | " + " | ".join(fmt.format(vals[u]) for u in units) + f" | {target} |")

    row("PM2.5 January mean (µg/m³)", mon.loc[1] if 1 in mon.index else mon.iloc[0] * np.nan,
        "90–100 (chengdu, cq_central)")
    row("PM2.5 July mean (µg/m³)", mon.loc[7] if 7 in mon.index else mon.iloc[0] * np.nan,
        "35–40 (chengdu, cq_central)")
    row("days/yr daily PM2.5 > 115", (pm_d > 115).sum() / years, "5–55", "{:.1f}")
    row("days/yr daily PM2.5 > 150", (pm_d > 150).sum() / years, "0–30", "{:.1f}")
    row("days/yr O3 MDA8 > 160", (mda8 > 160).sum() / years, "some", "{:.1f}")
    row("days/yr O3 MDA8 > 215", (mda8 > 215).sum() / years, "sometimes", "{:.1f}")
    summer = o3[o3.index.month.isin([6, 7, 8])]
    row("O3 mean diurnal peak, JJA (h local)", summer.groupby(summer.index.hour).mean().idxmax(),
        "14–16")
    no2 = _daily_local(truth, "no2")
    row("NO2 Jan mean (µg/m³)", no2.groupby(no2.index.month).mean().loc[1]
        if 1 in no2.index.month else no2.mean() * np.nan, "~40–55")
    # longest run of days with PM2.5 > 115 (multi-day episodes)
    runs = {}
    for u in units:
        x = (pm_d[u] > 115).to_numpy()
        best = cur = 0
        for v in x:
            cur = cur + 1 if v else 0
            best = max(best, cur)
        runs[u] = best
    row("longest PM2.5 > 115 run (days)", pd.Series(runs), "multi-day")

    # per-unit observed daily AQI level counts per season
    t0 = time.perf_counter()
    from airwarn.alerts.daily import daily_aqi

    summ = summarise_world(world, daily_aqi)
    t_sum = time.perf_counter() - t0
    print()
    print(f"Observed daily AQI levels per unit and season (summarise_world, {t_sum:.1f} s):")
    print(summ.to_string(index=False))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
