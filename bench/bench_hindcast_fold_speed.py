"""Benchmark: a model-changing speed-up judged on the hindcast's TRAINING FOLD only.

Runs the Beijing training fold of ``bench/bench_hindcast.py`` (models trained ≤ 2014-02-28,
issues 2014-03-01 … 2015-02-25: nothing of the 2015-03 … 2016-02 test year) with the daily
models' settings changed (``--set daily.learning_rate=0.08 --set daily.num_boost_round=400``),
and prints the fold's daily RMSE by lead day, its PM2.5 / O3 event CSI, every trigger
candidate's D+1 colour POD/FAR/CSI through the chain, the trigger chosen, the training CPU time
— beside the same figures of a reference fold directory (``--ref``, e.g. the fold of a
``bench_hindcast.py`` run with the configured settings).

Run: ``AIRWARN_DATASETS_DIR=… OMP_NUM_THREADS=1 .venv/bin/python bench/bench_hindcast_fold_speed.py
--out /tmp/fold_fast --met perfect --set daily.learning_rate=0.08 --set daily.num_boost_round=400
--ref /tmp/hindcast/beijing_perfect/fold``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "configs" / "domains" / "beijing_multisite.yaml"
TRAIN_END, FOLD_DAYS = "2015-02-28", 365


def _cpu_s() -> float:
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


def _settings_with(changes: list[str]) -> Any:
    """configs/models.yaml with ``block.key=value`` changes (validated by the schema)."""
    from airwarn.configs.model_schema import load_model_settings

    s = load_model_settings()
    upd: dict[str, dict[str, Any]] = {}
    for c in changes:
        key, _, val = c.partition("=")
        block, _, field = key.partition(".")
        upd.setdefault(block, {})[field] = json.loads(val)
    return s.model_validate({**s.model_dump(),
                             **{b: {**s.model_dump()[b], **v} for b, v in upd.items()}})


def _summary(fold_dir: Path, candidates: list[dict[str, Any]] | None) -> dict[str, Any]:
    sc = json.loads((fold_dir / "scores.json").read_text())
    out: dict[str, Any] = {"rmse": {n: {k: round(v["rmse"], 2) for k, v in by.items()}
                                    for n, by in sc["daily"].items()},
                           "csi": {f"{n} {t}": {k: c["csi"] for k, c in leads.items()}
                                   for n, by in sc["events"].items() for t, leads in by.items()},
                           "train_seconds": sc["meta"]["train_seconds"]}
    if candidates:
        out["candidates"] = {f"{c['trigger']} {c['probability']:.2f}": c["csi"]
                             for c in candidates}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--met", choices=("perfect", "none"), default="perfect")
    ap.add_argument("--set", action="append", default=[], dest="changes",
                    help="block.key=JSON value of configs/models.yaml, e.g. daily.max_bin=63")
    ap.add_argument("--ref", type=Path, help="a reference fold directory (its scores.json)")
    ap.add_argument("--ref-candidates", type=Path,
                    help="verification.json of the reference hindcast (its fold candidates)")
    args = ap.parse_args()

    import airwarn.configs.model_schema as ms
    from airwarn.models.verify import hindcast as hc
    from airwarn.models.verify.folds import last_fold_window

    settings = _settings_with(args.changes)
    ms.load_model_settings = lambda *a, **k: settings  # what _backtest trains with
    f_train_end, f_start, f_sel_end = last_fold_window(TRAIN_END, FOLD_DAYS)
    opts = {"met": args.met, "issue_hour": 12, "hourly": False, "light": False, "reuse": True}
    t, cpu = time.perf_counter(), _cpu_s()
    fr = hc._fold_job(str(DOMAIN), str(args.out), str(f_train_end.date()), str(f_start.date()),
                      str(f_sel_end.date()), opts, "chain", "last")
    print(f"fold with {args.changes}: {time.perf_counter() - t:.0f} s wall, "
          f"{_cpu_s() - cpu:.0f} s CPU, {json.dumps(fr['seconds'])}")
    new = _summary(args.out / "fold", fr["info"]["candidates"])
    new["chosen"] = [fr["trigger"], fr["probability"], fr["o3_probability"]]
    print("changed  :", json.dumps(new))
    if args.ref:
        cand = None
        if args.ref_candidates:
            sel = json.loads(args.ref_candidates.read_text())["meta"]["selection"]["model"]
            cand = sel["candidates"]
        ref = _summary(args.ref, cand)
        print("reference:", json.dumps(ref))
    print(f"uptime: {__import__('os').getloadavg()}")


if __name__ == "__main__":
    main()
