"""Wall time and peak memory of the daily run on the 成渝 demo domain with trained models.

Target: < 60 s and < 2 GB on 2 cores for the whole ``daily_forecast`` flow (Prefect, ephemeral
server start included) — ingest, QC, aggregation, forecast of 31 units × 2 pollutants, daily
AQI, warnings, maps, review report (with the last 30 days verified), bulletins, delivery (dry
run), manifest.

Uses the demo world of ``--data-dir`` (default ``./data``, as left by ``make demo``); when there
is none it builds one (``--days``, default 730) and trains on it first (not timed). Each case runs
in a fresh Python process (``getrusage(RUSAGE_CHILDREN)`` gives its peak RSS):

- ``cold``: the issue time's forecast, warnings and products removed first (everything computed);
- ``rerun``: the same issue time again (everything reused: the idempotent path).

    .venv/bin/python bench/bench_daily_run.py [--data-dir DIR] [--days N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from airwarn.flows.daily import daily_forecast
t1 = time.perf_counter()
m = daily_forecast(issue_time=sys.argv[1], data_dir=sys.argv[2], met="demo")
t2 = time.perf_counter()
print("BENCH" + json.dumps({"import_s": t1 - t0, "flow_s": t2 - t1, "status": m["status"],
      "stages": {s["name"]: [s["status"], s["seconds"]] for s in m["stages"]}}))
"""


def _quick_settings():
    from airwarn.configs.model_schema import LgbmParams, load_model_settings

    small = LgbmParams(num_boost_round=60, learning_rate=0.1, num_leaves=31, min_data_in_leaf=30)
    return load_model_settings().model_copy(update={"daily": small, "hourly": small})


def ensure_world(data_dir: Path, days: int, quick: bool = False, end: str | None = None) -> str:
    """The demo world's issue time (ISO); build and train when absent (not timed)."""
    from airwarn.flows.daily import config_for
    from airwarn.flows.demo import needs_training, train_demo

    from airwarn.core.runstore import RunStore

    world_json = RunStore(data_dir).demo_world
    if world_json.exists():
        from airwarn.features.demo_world import load_world

        world = load_world(data_dir)
    else:
        from airwarn.features.demo_world import build_world

        print(f"building a {days}-day demo world in {data_dir} (not timed) …", flush=True)
        world = build_world(data_dir, days=days, end=end)
    if needs_training(data_dir, world):
        print("training (not timed) …", flush=True)
        train_demo(config_for(data_dir), world, settings=_quick_settings() if quick else None)
    return world.issue_time.isoformat()


def run_case(issue: str, data_dir: Path) -> dict:
    """Run the daily flow in a child process; wall time, peak RSS and the child's report."""
    env = dict(os.environ, AIRWARN_DATA_DIR=str(data_dir))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, issue, str(data_dir)], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        raise SystemExit(f"daily run failed:\n{out.stderr[-4000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH"))
    rep = json.loads(line[5:])
    rep["wall_s"] = wall
    rep["peak_rss_mb"] = max(peak, before) / 1024
    return rep


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AIRWARN_DATA_DIR",
                                                                          "data")))
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--end", default=None, help="issue time of the world (default: latest)")
    ap.add_argument("--quick", action="store_true",
                    help="train small models (60 trees) when training is needed")
    args = ap.parse_args(argv)
    data_dir = args.data_dir.resolve()
    from airwarn.flows.locks import issue_stamp

    issue = ensure_world(data_dir, args.days, args.quick, args.end)
    import pandas as pd

    stamp = issue_stamp(pd.Timestamp(issue).to_pydatetime())
    from airwarn.core.runstore import RunStore

    store = RunStore(data_dir)
    for p in (store.forecast(stamp), store.warnings(stamp)):
        p.unlink(missing_ok=True)
    shutil.rmtree(store.products(stamp), ignore_errors=True)
    rows = [("cold", run_case(issue, data_dir)), ("rerun", run_case(issue, data_dir))]
    print()
    print(f"bench_daily_run: 成渝 demo domain (31 units), issue {issue}, {os.cpu_count()} CPUs, "
          f"data {data_dir}")
    print(f"{'case':<6} | {'status':<9} | {'wall s':>7} | {'flow s':>7} | {'import s':>8} | "
          f"{'peak RSS MB':>11} | target")
    for name, r in rows:
        ok = "ok" if r["wall_s"] < 60 and r["peak_rss_mb"] < 2048 else "MISSED (<60 s, <2 GB)"
        print(f"{name:<6} | {r['status']:<9} | {r['wall_s']:>7.1f} | {r['flow_s']:>7.1f} | "
              f"{r['import_s']:>8.1f} | {r['peak_rss_mb']:>11.0f} | {ok}")
    print()
    print("stage seconds (cold run):")
    for k, (st, sec) in rows[0][1]["stages"].items():
        print(f"  {k:<14} {st:<14} {sec:>7.2f}")


if __name__ == "__main__":
    main()
