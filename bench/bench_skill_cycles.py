"""Skill with forecast cycles vs perfect meteorology vs none, on the real UCI Beijing set.

The published skill of ``--met perfect`` assumes the weather at lead is known; a centre gets a
forecast cycle, older than the issue time and wrong more the further it looks. Until a real
archive of cycles exists, this benchmark makes cycles from the UCI station meteorology
(12 stations, CC BY 4.0; Zhang et al. 2017) with the demo world's lead-growing error
(``features.cycle_met.synthetic_cycle_met``: 00/12 UTC cycles available 8 h after their
reference time, as ECMWF open data; a 12:00 local issue therefore uses the previous day's 12 UTC
cycle, 16 h old) and backtests the three modes side by side, models trained and tested with the
same kind of meteorology.

Protocol (as ``bench_skill_beijing.py``): issue 12:00 local daily; train to 2015-02-28; test
issues 2015-03-01 … 2016-02-29; daily RMSE (µg/m³) of the natural-day mean PM2.5 and O3 MDA8 at
D+1/D+2/D+3, pooled over stations and issues.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_skill_cycles.py [--out DIR] [--threads 1]
        [--modes perfect,cycles,none] [--reuse]
    # the fold check of pooled_weight_met with cycles (docs/notes/w6-folds.md):
    ... --modes cycles --period fold --pollutants o3 --daily-only [--without-pooled-weight-met]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airwarn.configs import load_settings  # noqa: E402
from airwarn.configs.model_schema import load_domain, load_model_settings  # noqa: E402
from airwarn.features.cycle_met import synthetic_cycle_met  # noqa: E402
from airwarn.models.backtest import load_domain_data, run_backtest  # noqa: E402

TRAIN_END = "2015-02-28"
TEST_START = "2015-03-01"
TEST_END = "2016-02-29"
#: the hindcast's training fold (settings may be chosen here; the test year is never read)
FOLD = ("2014-02-28", "2014-03-01", "2015-02-28")
NAMES = {"pm25": "pm25_daily", "o3": "o3_mda8"}


def main() -> None:
    """Run the three modes and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="write each mode's backtest outputs here")
    ap.add_argument("--modes", default="perfect,cycles,none")
    ap.add_argument("--reuse", action="store_true", help="reuse scores.json under --out")
    ap.add_argument("--threads", type=int, default=1, help="LightGBM threads (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic cycle errors")
    ap.add_argument("--period", choices=("test", "fold"), default="test",
                    help="test: train ≤ 2015-02-28, test 2015-03 … 2016-02; fold: the training "
                         "fold (train ≤ 2014-02-28, issues 2014-03-01 … 2015-02-28)")
    ap.add_argument("--pollutants", default=None, help="comma-separated (default: all targets)")
    ap.add_argument("--daily-only", action="store_true", help="no hourly models (faster)")
    ap.add_argument("--without-pooled-weight-met", action="store_true",
                    help="drop configs/models.yaml pooled_weight_met (its fold check)")
    args = ap.parse_args()
    train_end, test_start, test_end = FOLD if args.period == "fold" else (
        TRAIN_END, TEST_START, TEST_END)
    dom = load_domain(ROOT / "configs" / "domains" / "beijing_multisite.yaml")
    data = load_domain_data(dom)
    settings = load_model_settings()
    if args.without_pooled_weight_met:
        settings = settings.model_copy(update={"pooled_weight_met": {}})
    settings.daily.num_threads = settings.hourly.num_threads = args.threads
    if settings.daily_no_met is not None:
        settings.daily_no_met.num_threads = args.threads
    quantiles = list(load_settings().quantiles)
    out_root = Path(args.out) if args.out else None
    modes = args.modes.split(",")
    results, walls = {}, {}
    for met in modes:
        cached = out_root / met / "scores.json" if out_root else None
        if args.reuse and cached is not None and cached.exists():
            results[met] = json.loads(cached.read_text())
            walls[met] = results[met]["meta"].get("total_seconds", float("nan"))
            continue
        source = synthetic_cycle_met(data.met_units, seed=args.seed) if met == "cycles" \
            else None
        t0 = time.perf_counter()
        kw: dict = {"pollutants": args.pollutants.split(",")} if args.pollutants else {}
        _, sc = run_backtest(data, train_end=train_end, test_start=test_start,
                             test_end=test_end, issue_hour=12, met=met, settings=settings,
                             quantiles=quantiles, warmup_days=3, met_source=source,
                             out_dir=out_root / met if out_root else None,
                             hourly=not args.daily_only, **kw)
        walls[met] = time.perf_counter() - t0
        results[met] = sc
        print(f"# {met}: {walls[met]:.0f} s — {sc['meta']['met_note']}", flush=True)
    print()
    print(f"Beijing (UCI, 12 stations), issue 12:00, train ≤ {train_end}, test {test_start} … "
          f"{test_end}: daily RMSE µg/m³")
    print("| mode | PM2.5 D+1 | D+2 | D+3 | O3 MDA8 D+1 | D+2 | D+3 | CSI PM2.5>150 D+1 "
          "| CSI MDA8>215 D+1 | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    trained = set(args.pollutants.split(",")) if args.pollutants else set(NAMES)
    for met in modes:
        sc = results[met]
        cells = [f"{sc['daily'][NAMES[p]][f'D+{k}']['rmse']:.2f}" if p in trained else "—"
                 for p in ("pm25", "o3") for k in (1, 2, 3)]
        ev = sc["events"]
        cells += [f"{ev[n][t]['D+1']['csi']:.3f}" if p in trained else "—"
                  for p, n, t in (("pm25", "pm25_daily", ">150"), ("o3", "o3_mda8", ">215"))]
        cells.append(f"{walls[met]:.0f}")
        print(f"| {met} | " + " | ".join(cells) + " |")
    sc = results[modes[0]]
    pers = [f"{sc['daily'][NAMES[p]][f'D+{k}']['persistence_rmse']:.1f}"
            if NAMES[p] in sc["daily"] else "—" for p in ("pm25", "o3") for k in (1, 2, 3)]
    print("| persistence | " + " | ".join(pers) + " | | | |")


if __name__ == "__main__":
    main()
