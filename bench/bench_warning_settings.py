"""Benchmark: the warning state machine's settings on a hindcast's training fold.

Reads the training fold's forecasts that ``bench/bench_hindcast.py`` (``airwarn hindcast
--select-fold-days N``) wrote to ``<out>/<case>/fold/backtest.nc`` and runs the real warning
chain over them (:func:`models.verify.hindcast.run_chain`) for a grid of triggers and
state-machine settings (``configs/warning/policy.yaml``: ``hysteresis_runs``,
``hysteresis_margin_aqi``), printing the colour-warning POD / FAR / CSI at D+1…D+3 and the D+1
false alarms and misses of each. Only the training fold is read: the test period is never
looked at, so a setting may be chosen from this table.

Run: ``AIRWARN_DATASETS_DIR=… OMP_NUM_THREADS=1 .venv/bin/python bench/bench_warning_settings.py
--out /tmp/hindcast --case beijing_perfect``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from airwarn.models.verify.hindcast import _Case, run_chain, verify_chain  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_hindcast import CASES  # noqa: E402

#: (label, trigger, probability, state-machine settings over configs/warning/policy.yaml)
GRID: list[tuple[str, str, float, dict[str, Any]]] = [
    ("configured (2 runs, margin 10)", "median", 0.5, {}),
    ("1 run", "median", 0.5, {"hysteresis_runs": 1}),
    ("2 runs, margin 20", "median", 0.5, {"hysteresis_margin_aqi": 20}),
    ("3 runs, margin 10", "median", 0.5, {"hysteresis_runs": 3}),
    ("1 run, P ≥ 0.65", "probability", 0.65, {"hysteresis_runs": 1}),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="bench_hindcast.py's --out directory")
    ap.add_argument("--case", default="beijing_perfect", choices=sorted(CASES))
    args = ap.parse_args()
    dom, tr_end, *_rest, fold_days = CASES[args.case]
    fold_nc = Path(args.out) / args.case / "fold" / "backtest.nc"
    if not fold_nc.exists():
        print(f"{fold_nc}: no training-fold forecasts; run bench/bench_hindcast.py --only "
              f"{args.case} --out {args.out} first", file=sys.stderr)
        return 2
    f_end = pd.Timestamp(tr_end)
    f_start = f_end - pd.Timedelta(days=fold_days - 1)
    f_sel_end = f_end - pd.Timedelta(days=3)
    fold = xr.load_dataset(fold_nc)
    case = _Case(ROOT / "configs" / "domains" / f"{dom}.yaml")
    work = Path(args.out) / args.case / "fold" / "settings"
    work.mkdir(parents=True, exist_ok=True)
    print(f"{args.case}: training fold {f_start.date()} … {f_sel_end.date()} "
          f"(models trained ≤ {(f_start - pd.Timedelta(days=1)).date()})")
    print(f"{'settings':34s} {'D+1 POD/FAR/CSI':>17s} {'D+2':>16s} {'D+3':>16s} "
          f"{'FA':>5s} {'miss':>5s} {'s':>5s}")
    rows = []
    for i, (label, trig, p, pol) in enumerate(GRID):
        t0 = time.perf_counter()
        dec = run_chain(fold, case.region, work / f"register_{i}.sqlite", trigger=trig,
                        probability=p, policy_update=pol)
        v = verify_chain(dec, case.obs_lv, f_start, f_sel_end)["colour"]
        cells = [f"{v[k]['pod']:.2f}/{v[k]['far']:.2f}/{v[k]['csi']:.2f}"
                 for k in ("D+1", "D+2", "D+3")]
        sec = time.perf_counter() - t0
        print(f"{label:34s} {cells[0]:>17s} {cells[1]:>16s} {cells[2]:>16s} "
              f"{v['D+1']['false_alarms']:5d} {v['D+1']['misses']:5d} {sec:5.0f}", flush=True)
        rows.append({"settings": label, "trigger": trig, "probability": p, "policy": pol,
                     **{k: {m: v[k][m] for m in ("pod", "far", "csi", "hits", "misses",
                                                 "false_alarms")} for k in v}})
    (work / "settings.json").write_text(json.dumps(rows, indent=1))
    print(f"uptime: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
