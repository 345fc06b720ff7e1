"""Wall time and peak memory of ``airwarn ingest`` of a global 0.25° GRIB2 cycle (IFS open-data
size), cropped to the 成渝 basin on read.

Target (issue 15): < 60 s and < 2 GB for the cycle.

The cycle is synthetic but of the real size and encoding: global 0.25° (1440 × 721 points),
every 3-hourly step from 0 to 90 h (31 steps — the 06/18 UTC IFS open-data cycles stop at
90 h; the end of local D+3 is 88 h after 00 UTC), the 9 surface fields airwarn uses (``2t 2d
10u 10v sp tp ssrd tcc blh``; ``tp``/``ssrd`` accumulated from the start in m / J m-2,
``tcc`` in %), 16-bit simple packing (24 for accumulations), centre ``ecmf`` — 279 messages.
It is written once with ``features.readers.grib.write_grib2`` (fields generated one step at a
time, lazily) and cached under ``bench/out/`` (the first run takes a few minutes).

Cases, each in a fresh Python process (its ``VmHWM`` is the peak RSS; imports included):

- ``single file``: ``airwarn ingest cycle.grib2`` into an empty store;
- ``file per step``: the same cycle as 31 files (the open-data server layout), one ingest call;
- ``re-ingest``: the single file again into the filled store (merge path).

    .venv/bin/python bench/bench_ingest_nwp.py [--steps 0:90:3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out" / "nwp"


def make_cycle(path: Path, steps: list[int]) -> Path:
    """Write the synthetic global cycle (lazy: one step of fields in memory at a time)."""
    import dask.array as da
    import numpy as np
    import pandas as pd
    import xarray as xr
    from airwarn.features.readers.grib import write_grib2

    lat = np.linspace(-90, 90, 721)
    lon = np.arange(1440) * 0.25
    ref = pd.Timestamp("2026-01-20T00:00")
    nt = len(steps)
    chunks = (1, 721, 1440)
    rs = da.random.RandomState(20260120)
    la = da.from_array(lat[None, :, None].astype("float32"), chunks=(1, 721, 1))
    base_t = 300 - 0.6 * abs(la) * 1.0
    shape = (nt, 721, 1440)

    def noise(scale: float) -> da.Array:
        return rs.normal(0, scale, size=shape, chunks=chunks).astype("float32")

    fields = {
        "t2m": base_t + noise(2.0), "d2m": base_t - 5 + noise(2.0),
        "u10": noise(4.0), "v10": noise(4.0), "sp": 98000 + noise(800.0),
        "tp": abs(noise(0.5)), "ssrd": abs(noise(150.0)), "tcc": rs.uniform(0, 1, size=shape,
                                                                             chunks=chunks),
        "blh": 300 + abs(noise(500.0)),
    }
    ds = xr.Dataset({k: (("time", "latitude", "longitude"), v.astype("float32"))
                     for k, v in fields.items()},
                    coords={"time": ref + pd.to_timedelta(steps, "h"), "latitude": lat,
                            "longitude": lon})
    ds.attrs["forecast_reference_time"] = ref.tz_localize("UTC").isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_grib2(ds, path)


def split_steps(path: Path, directory: Path) -> list[Path]:
    """The cycle as one file per step (messages copied as they are)."""
    import eccodes as ec

    directory.mkdir(parents=True, exist_ok=True)
    by_step: dict[int, list[bytes]] = {}
    with open(path, "rb") as fh:
        while (h := ec.codes_grib_new_from_file(fh)) is not None:
            by_step.setdefault(int(ec.codes_get_long(h, "endStep")), []).append(
                ec.codes_get_message(h))
            ec.codes_release(h)
    out = []
    for s, msgs in sorted(by_step.items()):
        p = directory / f"20260120000000-{s}h-oper-fc.grib2"
        p.write_bytes(b"".join(msgs))
        out.append(p)
    return out


CHILD = """
import resource, sys, time
t0 = time.perf_counter()
from airwarn.flows.cli import app
try:
    app(sys.argv[1:], standalone_mode=True)
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
# VmHWM (peak RSS of this process image), not ru_maxrss: that survives execve and would
# report the forking parent's size
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"BENCH {time.perf_counter() - t0:.3f} {peak} {code}", file=sys.stderr)
"""


def run_ingest(files: list[Path], data_dir: Path) -> tuple[float, float, int]:
    """Wall time (s, imports included) and peak RSS (MB) of ``airwarn ingest`` in a fresh
    process."""
    cmd = [sys.executable, "-c", CHILD, "ingest", *map(str, files), "--data-dir", str(data_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    line = [x for x in proc.stderr.splitlines() if x.startswith("BENCH ")]
    if proc.returncode != 0 or not line or line[-1].split()[3] != "0":
        raise SystemExit(f"ingest failed:\n{proc.stdout}\n{proc.stderr}")
    _, dt, kb, _ = line[-1].split()
    return float(dt), int(kb) / 1024.0, len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="0:90:3", help="first:last:every hours (default 0:90:3)")
    ap.add_argument("--keep", action="store_true", help="keep the stores under bench/out/nwp")
    args = ap.parse_args()
    a, b, c = (int(x) for x in args.steps.split(":"))
    steps = list(range(a, b + 1, c))
    cycle = OUT / f"ifs_global_025_{a}-{b}-{c}.grib2"
    if not cycle.exists():
        t0 = time.perf_counter()
        print(f"writing the synthetic global cycle {cycle} (once) …", flush=True)
        make_cycle(cycle, steps)
        print(f"  written in {time.perf_counter() - t0:.0f} s", flush=True)
    per_step = split_steps(cycle, OUT / "per_step")
    size_mb = cycle.stat().st_size / 1e6
    rows = []
    for label, files, store, fresh in (("single file", [cycle], OUT / "store_a", True),
                                       ("file per step", per_step, OUT / "store_b", True),
                                       ("re-ingest (merge)", [cycle], OUT / "store_a", False)):
        if fresh and store.exists():
            shutil.rmtree(store)
        dt, mb, n = run_ingest(files, store)
        rows.append((label, n, dt, mb))
    from airwarn.core.runstore import RunStore

    nc = RunStore(OUT / "store_a").met_cycle("2026-01-20T00:00")
    print(f"\nairwarn ingest of a global 0.25° GRIB2 cycle: 1440×721, {len(steps)} steps "
          f"({a}–{b} h), 9 fields, {size_mb:.0f} MB; cropped to the basin → "
          f"{nc.stat().st_size / 1e6:.1f} MB cycle file")
    print(f"{'case':<20}{'files':>6}{'wall s':>9}{'peak MB':>10}   target < 60 s, < 2048 MB")
    for label, n, dt, mb in rows:
        ok = "ok" if dt < 60 and mb < 2048 else "OVER"
        print(f"{label:<20}{n:>6}{dt:>9.1f}{mb:>10.0f}   {ok}")
    print(f"(machine: {os.cpu_count()} cores, shared; peak RSS is the child process maximum)")
    if not args.keep:
        for s in ("store_a", "store_b"):
            shutil.rmtree(OUT / s, ignore_errors=True)


if __name__ == "__main__":
    main()
