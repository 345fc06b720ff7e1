"""Phases of ``airwarn demo`` for one or more checkouts, one after the other, with ratios.

Each checkout (default: this one) runs the demo (``flows.demo.run_demo``, what ``make demo``
runs after the install) in a fresh data directory, in a fresh process of that checkout's own
``.venv``, at the same fixed issue time; the phases' seconds (world, train, backfill, feed,
fetch, daily, monthly) come from the demo's own timings, the wall time and peak RSS from the
child process. The first checkout is the reference of the ratio column. Load averages before
and after each run are printed (``os.getloadavg``): the machine is shared.

    .venv/bin/python bench/bench_demo.py --checkout /work/wt/old-0c91e79 --checkout . \\
        --end 2026-12-06T15:00+08:00 --out /tmp/bench_demo

A checkout from before the ``airwarn`` import name (e.g. 0c91e79) is imported as ``flows``.
Measure with byte-compiled venvs (``python -m compileall -q .venv/lib``; ``make demo``'s pip
install byte-compiles, uv does not) and ``PYTHONDONTWRITEBYTECODE`` unset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

CHILD = """
import json, sys, time
t0 = time.perf_counter()
try:
    from airwarn.flows.demo import run_demo
except ImportError:
    from flows.demo import run_demo
t1 = time.perf_counter()
out = run_demo(sys.argv[1], end=sys.argv[2], say=lambda m: None, show=lambda x: None)
bad = sum(r.get("status") == "failed" for r in out.get("backfill") or [])
daily = out.get("daily") or {}
print("BENCH" + json.dumps({"import_s": t1 - t0, "timings": out["timings"],
                            "backfill_failed": bad, "daily_status": daily.get("status")}))
"""

PHASES = ("world", "train", "backfill", "feed", "fetch", "daily", "monthly", "total")


def run_one(checkout: Path, data_dir: Path, end: str) -> dict:
    """The demo of ``checkout`` in ``data_dir`` (removed first); timings, wall, peak RSS."""
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(AIRWARN_DATA_DIR=str(data_dir))
    env.setdefault("AIRWARN_DATASETS_DIR", str(checkout.parent / "shared" / "datasets"))
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(checkout / ".venv" / "bin" / "python"), "-c", CHILD,
                             str(data_dir), end], cwd=checkout, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    if proc.returncode != 0:
        raise SystemExit(f"demo of {checkout} failed:\n{err[-4000:]}")
    rep = json.loads(next(x for x in out.splitlines() if x.startswith("BENCH"))[5:])
    rep.update(wall_s=wall, load_before=load0, load_after=load1)
    return rep


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, action="append",
                    help="a checkout with its .venv (repeatable; default this one)")
    ap.add_argument("--end", default="2026-12-06T15:00+08:00", help="issue time of today's run")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_demo"),
                    help="data directories go to OUT/<n>-<checkout name>")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    checkouts = [c.resolve() for c in (args.checkout or [Path(__file__).resolve().parents[1]])]
    results = []
    for i, c in enumerate(checkouts):
        rev = subprocess.run(["git", "-C", str(c), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        print(f"running the demo of {c} ({rev}) …", flush=True)
        rep = run_one(c, args.out / f"{i}-{c.name}", args.end)
        rep.update(checkout=str(c), rev=rev)
        results.append(rep)
        print(f"  done: {rep['wall_s']:.0f} s wall, load {rep['load_before'][0]:.1f} → "
              f"{rep['load_after'][0]:.1f}", flush=True)
    ref = results[0]["timings"]
    print()
    print(f"bench_demo: airwarn demo --end {args.end}, {os.cpu_count()} CPUs")
    head = " | ".join(f"{r['rev']:>9}" for r in results)
    print(f"{'phase':<9} | {head} | ratio to {results[0]['rev']}")
    for ph in PHASES:
        vals = [r["timings"].get(ph) for r in results]
        cells = " | ".join(f"{v:>9.1f}" if v is not None else f"{'—':>9}" for v in vals)
        ratios = ", ".join(f"{v / ref[ph]:.2f}" if v is not None and ref.get(ph) else "—"
                           for v in vals[1:])
        print(f"{ph:<9} | {cells} | {ratios}")
    cells = " | ".join(f"{r['wall_s']:>9.1f}" for r in results)
    print(f"{'wall':<9} | {cells} | "
          + ", ".join(f"{r['wall_s'] / results[0]['wall_s']:.2f}" for r in results[1:]))
    for r in results:
        print(f"{r['rev']}: load {r['load_before'][0]:.1f} → {r['load_after'][0]:.1f}, backfill "
              f"failures {r['backfill_failed']}, daily run {r['daily_status']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
