"""Benchmark: the warning state machine's settings on a hindcast's training fold.

Reads the training fold's forecasts that ``bench/bench_hindcast.py`` (``airwarn hindcast
--select-fold-days N``) wrote to ``<out>/<case>/fold/backtest.nc`` and runs the real warning
chain over them (:func:`models.verify.hindcast.run_chain`) for a grid of triggers and
state-machine settings (``configs/warning/policy.yaml``: ``hysteresis_runs``,
``hysteresis_margin_aqi``, ``lift_between_episodes``), printing the colour-warning POD / FAR /
CSI at D+1…D+3, the D+1 false alarms and misses and the early lifts of each — for the model's
fold forecasts and, for the same settings, the **hindsight** reference (the observed valid days
given to the chain as the forecast: what the rules alone cost). Only the training fold is read
(``fold/`` or the cross-fitted ``fold_cross/``): the test period is never looked at, so a
setting may be chosen from this table.

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

import xarray as xr  # noqa: E402
from airwarn.models.verify.hindcast import (  # noqa: E402
    _Case,
    _issue_days,
    hindsight_dataset,
    run_chain,
    verify_chain,
)

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
    ("lift between episodes", "median", 0.5, {"lift_between_episodes": True}),
    ("lift between episodes, 1 run", "median", 0.5,
     {"lift_between_episodes": True, "hysteresis_runs": 1}),
    ("P ≥ 0.35", "probability", 0.35, {}),
    ("P ≥ 0.35, lift between episodes", "probability", 0.35, {"lift_between_episodes": True}),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="bench_hindcast.py's --out directory")
    ap.add_argument("--case", default="beijing_perfect", choices=sorted(CASES))
    args = ap.parse_args()
    dom = CASES[args.case][0]
    fold_dir = next((Path(args.out) / args.case / d for d in ("fold", "fold_cross")
                     if (Path(args.out) / args.case / d / "backtest.nc").exists()), None)
    if fold_dir is None:
        print(f"{Path(args.out) / args.case}: no training-fold forecasts (fold/ or fold_cross/); "
              f"run bench/bench_hindcast.py --only {args.case} --out {args.out} first",
              file=sys.stderr)
        return 2
    fold = xr.load_dataset(fold_dir / "backtest.nc")
    days = _issue_days(fold)
    f_start, f_sel_end = days.min(), days.max()
    case = _Case(ROOT / "configs" / "domains" / f"{dom}.yaml", met=CASES[args.case][4])
    systems = {"model": fold, "hindsight": hindsight_dataset(fold, case.od)}
    work = fold_dir / "settings"
    work.mkdir(parents=True, exist_ok=True)
    print(f"{args.case}: training fold {fold_dir.name}, issues {f_start.date()} … "
          f"{f_sel_end.date()}")
    print(f"{'system':9s} {'settings':34s} {'D+1 POD/FAR/CSI':>17s} {'D+2':>16s} {'D+3':>16s} "
          f"{'FA':>5s} {'miss':>5s} {'early':>5s} {'s':>5s}")
    rows = []
    for i, (label, trig, p, pol) in enumerate(GRID):
        for name, batch in systems.items():
            if name == "hindsight" and trig != "median":
                continue  # observed values carry no probabilities
            t0 = time.perf_counter()
            dec = run_chain(batch, case.region, work / f"register_{name}_{i}.sqlite",
                            trigger=trig, probability=p, policy_update=pol)
            ver = verify_chain(dec, case.obs_lv, f_start, f_sel_end)
            v = ver["colour"]
            cells = [f"{v[k]['pod']:.2f}/{v[k]['far']:.2f}/{v[k]['csi']:.3f}"
                     for k in ("D+1", "D+2", "D+3")]
            sec = time.perf_counter() - t0
            early = ver["actions"]["early_lifts"]
            print(f"{name:9s} {label:34s} {cells[0]:>17s} {cells[1]:>16s} {cells[2]:>16s} "
                  f"{v['D+1']['false_alarms']:5d} {v['D+1']['misses']:5d} {early:5d} {sec:5.0f}",
                  flush=True)
            rows.append({"system": name, "settings": label, "trigger": trig, "probability": p,
                         "policy": pol, "early_lifts": early,
                         **{k: {m: v[k][m] for m in ("pod", "far", "csi", "hits", "misses",
                                                     "false_alarms")} for k in v}})
    (work / "settings.json").write_text(json.dumps(rows, indent=1))
    print(f"uptime: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
