"""QC recall on the demo world's planted station defects.

Run: ``.venv/bin/python bench/bench_qc.py [--days N] [--data-dir DIR]``. Builds (or reuses) a
demo world (``features.demo_world.build_world``), reads its station observations from the store,
runs ``features.qc.run_qc`` with the configured stations and compares the flags with the truth
table ``<data_dir>/demo/defects.csv`` (``station_id, variable, start, end, kind``; variable
``all`` for gaps, which are missing values and not QC targets).

Printed per defect kind: defects, defect values (station-hour-variable), value recall (share of
defect values flagged), defect recall (share of defects with ≥ 1 flagged value). Last row: the
share of clean values (present, outside every defect window) that were flagged.
Targets: value recall ≥ 90 %, clean values flagged ≤ 2 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.features.qc import run_qc, var_flags  # noqa: E402
from airwarn.features.store import POLLUTANTS, read_obs  # noqa: E402

from airwarn.core.runstore import RunStore  # noqa: E402
from airwarn.core.timeutil import LOCAL_TZ  # noqa: E402


def evaluate(flagged: pd.DataFrame, defects: pd.DataFrame) -> pd.DataFrame:
    """Recall per defect kind and the clean false-flag rate (a table)."""
    times = pd.DatetimeIndex(sorted(flagged["time"].unique()))
    sids = pd.Index(sorted(flagged["station_id"].unique()))
    ti = times.get_indexer(flagged["time"])
    si = sids.get_indexer(flagged["station_id"])
    shape = (len(times), len(sids))
    flag = {v: np.zeros(shape, bool) for v in POLLUTANTS}
    present = {v: np.zeros(shape, bool) for v in POLLUTANTS}
    for v in POLLUTANTS:
        flag[v][ti, si] = var_flags(flagged["qc"], v) != 0
        present[v][ti, si] = flagged[v].notna().to_numpy()
    in_defect = {v: np.zeros(shape, bool) for v in POLLUTANTS}
    rows = []
    per_kind: dict[str, list[tuple[int, int]]] = {}
    for d in defects.itertuples(index=False):
        if d.station_id not in sids:
            continue
        j = sids.get_loc(d.station_id)
        a = times.searchsorted(pd.Timestamp(d.start))
        b = times.searchsorted(pd.Timestamp(d.end), side="right")
        vars_ = POLLUTANTS if d.variable == "all" else (d.variable,)
        for v in vars_:
            in_defect[v][a:b, j] = True
        if d.variable == "all":
            continue
        vals = present[d.variable][a:b, j]
        hit = flag[d.variable][a:b, j] & vals
        per_kind.setdefault(d.kind, []).append((int(vals.sum()), int(hit.sum())))
    for kind, lst in sorted(per_kind.items()):
        n_vals = sum(n for n, _ in lst)
        n_hit = sum(h for _, h in lst)
        detected = sum(1 for n, h in lst if h > 0)
        rows.append({"kind": kind, "defects": len(lst), "values": n_vals,
                     "value recall %": round(100 * n_hit / max(n_vals, 1), 1),
                     "defect recall %": round(100 * detected / max(len(lst), 1), 1)})
    tot_v = sum(r["values"] for r in rows)
    tot_hit = sum(round(r["values"] * r["value recall %"] / 100) for r in rows)
    rows.append({"kind": "ALL defects", "defects": sum(r["defects"] for r in rows),
                 "values": tot_v, "value recall %": round(100 * tot_hit / max(tot_v, 1), 1),
                 "defect recall %": ""})
    clean = sum(int((present[v] & ~in_defect[v]).sum()) for v in POLLUTANTS)
    false = sum(int((present[v] & ~in_defect[v] & flag[v]).sum()) for v in POLLUTANTS)
    rows.append({"kind": "clean values flagged", "defects": "", "values": clean,
                 "value recall %": f"{100 * false / max(clean, 1):.2f} % flagged",
                 "defect recall %": ""})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()
    from airwarn.features.demo_world import build_world

    from airwarn import configs

    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.data_dir = Path(tmp.name)
    t0 = time.perf_counter()
    world = build_world(args.data_dir, seed=20261128,
                        end=pd.Timestamp("2026-01-20T15:00", tz=LOCAL_TZ), days=args.days)
    t_world = time.perf_counter() - t0
    obs = read_obs(world.data_dir)
    defects = pd.read_csv(RunStore(world.data_dir).demo_defects)
    for c in ("start", "end"):
        defects[c] = pd.to_datetime(defects[c], utc=True)
    stations = getattr(world, "stations", None)
    if stations is None or not isinstance(stations, pd.DataFrame):
        stations = configs.load_stations()
    t0 = time.perf_counter()
    flagged, _ = run_qc(obs.assign(qc=0), stations)
    t_qc = time.perf_counter() - t0
    table = evaluate(flagged, defects)
    print(f"demo world: {args.days} days, {obs['station_id'].nunique()} stations, "
          f"{len(obs):,} station-hours (built in {t_world:.1f} s); QC {t_qc:.1f} s")
    print(table.to_string(index=False))
    print("targets: value recall ≥ 90 %, clean values flagged ≤ 2 %")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
