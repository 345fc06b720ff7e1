"""Ingest speed of a day of CNEMC hourly release files for the whole national network.

A day = 24 files ``cnemc_YYYYMMDDHH.csv`` (one per hour, all stations), written with
``features.readers.cnemc.write_cnemc`` from the national station list (PM2.5-GNN
``station_info.csv``, 1,498 stations circa 2015, MIT licence) padded with stations jittered from
it to 1,700 (today's network size); values random (gamma), 3 % missing cells, layout exact.

Cases (each ``airwarn ingest`` runs as a fresh process: wall time includes Python start-up and
imports; peak RSS from ``getrusage(RUSAGE_CHILDREN)``):

- ``cli, 24 files, empty store``: read + plausibility + merge + QC (48 h of stored context) +
  write + QC report;
- ``cli, same day again``: everything unchanged (the idempotent path);
- ``cli, the day as one .zip``: the same files as members of one archive, new store;
- ``in-process ingest_files``: the same work without start-up (phase timing).

Target: < 5 s for the day (issue 15). Run: ``.venv/bin/python bench/bench_ingest_cnemc.py
[--stations N]``; set ``AIRWARN_DATASETS_DIR`` if the datasets are not at ../shared/datasets.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def station_list(n: int, seed: int = 7) -> pd.DataFrame:
    """The national list padded (jittered copies) to ``n`` stations."""
    from airwarn.configs.domain_schema import datasets_dir

    src = pd.read_csv(datasets_dir() / "station_coords_pm25gnn" / "station_info.csv",
                      dtype={"ID": str})
    st = pd.DataFrame({"station_id": src["ID"], "lon": src["lon"], "lat": src["lat"],
                       "area": src["area"], "positionname": src["stations_name"]})
    rng = np.random.default_rng(seed)
    extra = n - len(st)
    if extra > 0:
        pick = st.sample(extra, replace=True, random_state=seed).reset_index(drop=True)
        pick["station_id"] = [f"{9001 + i:04d}A" for i in range(extra)]
        pick["lon"] += rng.normal(0, 0.03, extra)
        pick["lat"] += rng.normal(0, 0.03, extra)
        pick["positionname"] = pick["positionname"] + "新站"
        st = pd.concat([st, pick], ignore_index=True)
    return st.head(n)


def write_day(folder: Path, stations: pd.DataFrame, day: str = "2026-01-15",
              seed: int = 1) -> list[Path]:
    """24 hourly CNEMC files of one local day."""
    from airwarn.features.readers.cnemc import CNEMC_TZ, write_cnemc

    rng = np.random.default_rng(seed)
    n = len(stations)
    files = []
    for h in range(1, 25):  # the release labels hours 01:00 … 24:00 (= next day 00:00)
        t = pd.Timestamp(day, tz=CNEMC_TZ) + pd.Timedelta(hours=h)
        obs = pd.DataFrame({"time": [t.tz_convert("UTC")] * n,
                            "station_id": stations["station_id"].to_numpy()})
        for v, scale in (("pm25", 60), ("pm10", 90), ("o3", 50), ("no2", 35), ("so2", 8)):
            x = np.round(rng.gamma(2.0, scale / 2, n))
            x[rng.random(n) < 0.03] = np.nan
            obs[v] = x
        obs["co"] = np.round(rng.gamma(2.0, 0.4, n), 2)
        obs["qc"] = 0
        files.append(write_cnemc(obs, stations, folder / f"cnemc_{t:%Y%m%d%H}.csv"))
    return files


def cli(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB) and output of one ``airwarn``
    process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "airwarn.flows.cli", *args], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"airwarn {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dt, cpu, r1.ru_maxrss / 1024, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=1700)
    a = ap.parse_args()
    # byte-compiled imports, as an installed airwarn has them (PYTHONDONTWRITEBYTECODE unset)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        st = station_list(a.stations)
        day = tmp / "day"
        day.mkdir()
        t0 = time.perf_counter()
        files = write_day(day, st)
        t_write = time.perf_counter() - t0
        mb = sum(f.stat().st_size for f in files) / 1e6
        n_rows = len(files) * len(st)
        cli(["ingest", str(files[0]), "--data-dir", str(tmp / "warm")], env)  # warm-up, untimed
        dt, cpu, peak, _ = cli(["ingest", str(day), "--data-dir", str(tmp / "s1")], env)
        rows.append(("cli, 24 files, empty store", f"{n_rows:,}", f"{dt:.2f}", f"{cpu:.2f}",
                     f"{peak:.0f}", "< 5"))
        dt, cpu, peak, out = cli(["ingest", str(day), "--data-dir", str(tmp / "s1")], env)
        assert "store unchanged" in out
        rows.append(("cli, same day again (unchanged)", f"{n_rows:,}", f"{dt:.2f}", f"{cpu:.2f}",
                     f"{peak:.0f}", ""))
        zp = tmp / "day.zip"
        with zipfile.ZipFile(zp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.name)
        dt, cpu, peak, _ = cli(["ingest", str(zp), "--data-dir", str(tmp / "s2")], env)
        rows.append(("cli, the day as one .zip", f"{n_rows:,}", f"{dt:.2f}", f"{cpu:.2f}",
                     f"{peak:.0f}", "< 5"))
        dt, cpu, peak, _ = cli(["--help"], env)
        rows.append(("  (airwarn --help: start-up alone)", "", f"{dt:.2f}", f"{cpu:.2f}",
                     f"{peak:.0f}", ""))
        from airwarn.flows.commands.ingest import ingest_files

        from airwarn import configs

        stations = configs.load_stations()
        t0, c0 = time.perf_counter(), time.process_time()
        res = ingest_files(files, tmp / "s3", stations=stations)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append(("in-process ingest_files (no start-up)", f"{res.rows:,}", f"{dt:.2f}",
                     f"{cpu:.2f}", "", "< 5"))
    load = os.getloadavg()[0]
    print(f"a day of CNEMC hourly files: {len(files)} files, {len(st):,} stations, {mb:.1f} MB "
          f"(written in {t_write:.1f} s); load average {load:.1f} on {os.cpu_count()} cores — "
          f"wall times are upper bounds on a shared machine, CPU s is the work done")
    head = ("case", "station-hours", "wall s", "CPU s", "peak RSS MB", "target s")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
