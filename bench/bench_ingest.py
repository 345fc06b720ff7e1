"""Ingest speed: the UCI Beijing 12-station 3-year set and a synthetic national-network day.

Run: ``.venv/bin/python bench/bench_ingest.py`` (prints a table; targets on 2 cores:
Beijing < 15 s, national day < 2 s for reading). Data: UCI "Beijing Multi-Site Air-Quality
Data" (CC BY 4.0; Zhang et al. 2017, Proc. R. Soc. A 473: 20170457) under
``AIRWARN_DATASETS_DIR`` (default /work/shared/datasets); the national day is generated in a
temporary directory (1,600 stations × 24 h × 15 types, the china_sites layout).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.configs.domain_schema import Domain, datasets_dir  # noqa: E402
from airwarn.features.qc import run_qc  # noqa: E402
from airwarn.features.readers.common import FIXED_UTC8  # noqa: E402
from airwarn.features.readers.stations import CHINA_SITES_TYPES, read_china_sites, read_domain_table  # noqa: E402
from airwarn.features.store import read_obs, write_obs  # noqa: E402

PRSA = Domain.model_validate({
    "name": "beijing_multisite", "files": "uci_beijing_multisite_aq/PRSA_Data_*_20130301-20160229.csv",
    "timezone": FIXED_UTC8, "time": {"year": "year", "month": "month", "day": "day", "hour": "hour"},
    "station": {"column": "station"},
    "columns": {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"},
    "units": {"co": "ug/m3"}, "missing_values": ["NA"]})


def national_day(path: Path, n_stations: int = 1600, seed: int = 1) -> Path:
    """Write a synthetic ``china_sites_YYYYMMDD.csv`` (values random, layout exact)."""
    rng = np.random.default_rng(seed)
    ids = [f"{1001 + i:04d}A" for i in range(n_stations)]
    rows = []
    for h in range(24):
        for t in CHINA_SITES_TYPES:
            scale = 1.0 if t.startswith("CO") else 60.0
            vals = np.round(rng.gamma(2.0, scale / 2, n_stations), 1 if t.startswith("CO") else 0)
            cells = vals.astype(str)
            cells[rng.random(n_stations) < 0.03] = ""
            rows.append(f"20260115,{h},{t}," + ",".join(cells))
    path.write_text("date,hour,type," + ",".join(ids) + "\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return path


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = PRSA.paths()
        if files:
            try:
                from airwarn.features.readers.uci import read_prsa

                (obs, _), t_read = timed(read_prsa, files)
                how = "airwarn.features.readers.uci.read_prsa"
            except ImportError:
                obs, t_read = None, 0.0
            if obs is None:
                parts, t_read = timed(lambda: [read_domain_table(f, PRSA) for f in files])
                obs, how = pd.concat(parts, ignore_index=True), "read_domain_table"
            parts, t_dom = timed(lambda: [read_domain_table(f, PRSA) for f in files])
            (flagged, _), t_qc = timed(run_qc, obs, None)
            rep, t_write = timed(write_obs, flagged, tmp / "bj")
            back, t_back = timed(read_obs, tmp / "bj")
            rows.append(("Beijing 12 stations × 3 years", f"{len(obs):,}",
                         f"{t_read:.2f} ({how})", f"{t_dom:.2f}", f"{t_qc:.2f}", f"{t_write:.2f}",
                         f"{t_read + t_qc + t_write:.2f}", "< 15"))
            rows.append(("  re-read store", f"{len(back):,}", "", "", "", "", f"{t_back:.2f}", ""))
        else:
            rows.append(("Beijing set not found under " + str(datasets_dir()), "", "", "", "", "",
                         "", ""))
        f = national_day(tmp / "china_sites_20260115.csv")
        nat, t_read = timed(read_china_sites, f)
        (flagged, _), t_qc = timed(run_qc, nat, None)
        rep, t_write = timed(write_obs, flagged, tmp / "nat")
        rep2, t_again = timed(write_obs, flagged, tmp / "nat")
        rows.append(("national day 1,600 st × 24 h × 15 types", f"{len(nat):,}",
                     f"{t_read:.2f} (read_china_sites)", "", f"{t_qc:.2f}", f"{t_write:.2f}",
                     f"{t_read + t_qc + t_write:.2f}", "< 2 (read)"))
        rows.append(("  same day again (idempotent write)", f"{rep2.unchanged:,} unchanged", "",
                     "", "", f"{t_again:.2f}", "", ""))
    head = ("case", "rows", "read s", "domain-reader s", "QC s", "write s", "total s", "target s")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
