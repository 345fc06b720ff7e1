"""Benchmark: the warning hindcast on the real benchmark sets, and the goals of issue 18.

Runs (or, with ``--reuse``, re-verifies from the backtests already in ``--out``) ``airwarn
hindcast`` for Beijing (train ≤ 2015-02-28, test 2015-03-01 … 2016-02-29, met perfect and none)
— per station, and as one city unit (``beijing_city_…``: the 12 stations' mean, 北京市) — and
Chengdu (train 2013, test 2014; also as one city, ``chengdu_city_…``, 成都市), the trigger
and the O3 probability threshold chosen on a
training fold, and prints per case the D+1…D+3 colour-warning table (model, persistence,
climatology), the O3 MDA8 > 215 CSI, the run time, and the goals:

* with met: D+1 colour POD ≥ 0.8 and FAR ≤ 0.3;
* without met: CSI better than both baselines at every lead day;
* without met (Beijing): O3 MDA8 > 215 CSI at D+1 ≥ persistence's.

A domain's ``history`` records (earlier records of a unit from another source,
:mod:`features.history`; the shipped domains have none, see docs/notes/w6-history.md) are trained
on unless ``--no-history``.

Run: ``AIRWARN_DATASETS_DIR=… OMP_NUM_THREADS=1 .venv/bin/python bench/bench_hindcast.py
--out /tmp/hindcast [--only beijing_none] [--reuse] [--jobs 1] [--no-history]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.models.verify.hindcast import (  # noqa: E402
    _Case,
    error_breakdown,
    format_verification,
    run_hindcast,
)

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "beijing_perfect": ("beijing_multisite", "2015-02-28", "2015-03-01", "2016-02-29",
                        "perfect", 365),
    "beijing_none": ("beijing_multisite", "2015-02-28", "2015-03-01", "2016-02-29", "none", 365),
    # the 12 Beijing stations as one unit, 北京市 (configs/domains/beijing_city.yaml)
    "beijing_city_perfect": ("beijing_city", "2015-02-28", "2015-03-01", "2016-02-29",
                             "perfect", 365),
    "beijing_city_none": ("beijing_city", "2015-02-28", "2015-03-01", "2016-02-29", "none", 365),
    "chengdu_perfect": ("chengdu_five_cities", "2013-12-31", "2014-01-01", "2014-12-28",
                        "perfect", 150),
    "chengdu_none": ("chengdu_five_cities", "2013-12-31", "2014-01-01", "2014-12-28", "none",
                     150),
    # the 3 Chengdu stations as one unit, 成都市 (configs/domains/chengdu_city.yaml)
    "chengdu_city_perfect": ("chengdu_city", "2013-12-31", "2014-01-01", "2014-12-28",
                             "perfect", 150),
    "chengdu_city_none": ("chengdu_city", "2013-12-31", "2014-01-01", "2014-12-28", "none", 150),
}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its terminated worker processes: on
    a shared machine the wall time depends on the others' load, the CPU time much less."""
    import resource

    ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(r.ru_utime + r.ru_stime for r in ru)


def goals(ver: dict, met: str) -> list[str]:
    """The issue's goals, checked on a verification.json."""
    out = []
    c = ver["colour"]
    if met == "perfect":
        d1 = c["D+1"]
        ok = (d1["pod"] or 0) >= 0.8 and d1["far"] is not None and d1["far"] <= 0.3
        out.append(f"D+1 POD {d1['pod']} ≥ 0.8 and FAR {d1['far']} ≤ 0.3: "
                   f"{'met' if ok else 'NOT met'}")
    else:
        for lead, s in c.items():
            refs = {n: b["colour"][lead]["csi"] or 0 for n, b in ver["baselines"].items()}
            ok = all((s["csi"] or 0) > v for v in refs.values())
            out.append(f"{lead} CSI {s['csi']} > baselines {refs}: {'met' if ok else 'NOT met'}")
        o3 = ver.get("o3_events")
        if o3 and o3.get("probability"):
            m, p = o3["probability"]["D+1"]["csi"], o3["persistence"]["D+1"]["csi"]
            out.append(f"O3 > 215 D+1 CSI {m} ≥ persistence {p}: "
                       f"{'met' if (m or 0) >= (p or 0) else 'NOT met'}")
    return out


def candidates_on_test(case_dir: Path, domain: Path, meta: dict) -> list[dict]:
    """EVALUATION ONLY (nothing is chosen from it): the D+1 colour POD/FAR/CSI of every trigger
    candidate of the fold on the test year, to see whether the fold ranks them as the test
    year does (``--candidates-on-test``)."""
    import xarray as xr
    from airwarn.models.verify.hindcast import PROBABILITY_GRID, run_chain, verify_chain

    case = _Case(domain, met=meta["met"])
    ds = xr.load_dataset(case_dir / "backtest" / "backtest.nc")
    rows = []
    for trig, p in [("median", 0.5)] + [("probability", q) for q in PROBABILITY_GRID]:
        dec = run_chain(ds, case.region, case_dir / "register_candidate.sqlite", trigger=trig,
                        probability=p)
        d1 = verify_chain(dec, case.obs_lv, meta["test_start"], meta["test_end"],
                          lead_days=(1,))["colour"]["D+1"]
        rows.append({"trigger": trig, "probability": p,
                     **{k: d1[k] for k in ("pod", "far", "csi")}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", action="append", choices=sorted(CASES))
    ap.add_argument("--reuse", action="store_true",
                    help="reuse backtest.nc files already in --out (verification only)")
    ap.add_argument("--jobs", type=int, default=2,
                    help="processes (2: training fold beside the test backtest, baseline chains "
                         "beside the model's; 1: one process)")
    ap.add_argument("--selection", choices=("chain", "proxy"), default="chain",
                    help="trigger choice on the training fold: through the chain, or the "
                         "memoryless proxy")
    ap.add_argument("--fold-scheme", choices=("auto", "last", "cross"), default="auto",
                    help="training fold: the last fold days, cross-fitted over the training "
                         "period, or auto (cross when the training period spans < 2 years)")
    ap.add_argument("--candidates-on-test", action="store_true",
                    help="also run every trigger candidate on the test year and print its D+1 "
                         "scores beside the fold's (evaluation only: nothing is chosen from it)")
    ap.add_argument("--no-history", action="store_true",
                    help="train on the domains' own files only, without their history records")
    args = ap.parse_args()
    for name in args.only or list(CASES):
        dom, tr, t0, t1, met, fold = CASES[name]
        t = time.perf_counter()
        cpu0 = _cpu_s()
        res = run_hindcast(ROOT / "configs" / "domains" / f"{dom}.yaml", train_end=tr,
                           test_start=t0, test_end=t1, met=met, out_dir=args.out / name,
                           select_fold_days=fold, reuse=args.reuse, jobs=args.jobs,
                           selection=args.selection, fold_scheme=args.fold_scheme,
                           history=not args.no_history)
        print(f"== {name}: {time.perf_counter() - t:.0f} s {json.dumps(res.seconds)}; CPU "
              f"{_cpu_s() - cpu0:.0f} s (this process and its finished workers); load "
              f"{os.getloadavg()[0]:.1f}")
        sel = res.verification["meta"]["selection"]["model"]
        if isinstance(sel, dict):
            print(f"fold ({sel.get('scheme')}, issues {sel.get('select_start')} … "
                  f"{sel.get('select_end')}): trigger chosen "
                  + json.dumps(res.verification["trigger"] if "trigger" in res.verification
                               else None))
            for c in sel.get("candidates", []):
                print(f"  fold candidate {c['trigger']:11s} {c['probability']:.2f}: POD "
                      f"{c['pod']} FAR {c['far']} CSI {c['csi']}")
            print(f"  fold O3 probability: {sel.get('o3_probability')}")
        print(format_verification(res.verification))
        for g in goals(res.verification, met):
            print("goal:", g)
        obs_lv = _Case(ROOT / "configs" / "domains" / f"{dom}.yaml", met=met).obs_lv
        for sysname, v in [("model", res.verification), *res.verification["baselines"].items(),
                           *res.verification.get("reference", {}).items()]:
            print(f"D+1 {sysname}: where the misses / false alarms are:",
                  json.dumps(error_breakdown(v["colour"]["D+1"], obs_lv), sort_keys=True))
        if args.candidates_on_test and isinstance(sel, dict):
            fold = {(c["trigger"], c["probability"]): c for c in sel.get("candidates", [])}
            for r in candidates_on_test(args.out / name, ROOT / "configs" / "domains"
                                        / f"{dom}.yaml", res.verification["meta"]):
                c = fold.get((r["trigger"], r["probability"]), {})
                print(f"  candidate {r['trigger']:11s} {r['probability']:.2f}: fold CSI "
                      f"{c.get('csi')}, TEST (evaluation only) POD {r['pod']:.3f} FAR "
                      f"{r['far']:.3f} CSI {r['csi']:.3f}")
        print(f"uptime: {os.getloadavg()}")


if __name__ == "__main__":
    main()
