"""Compare the outputs of two ``airwarn demo`` data directories (same seed and issue time): used
to show that a speed change left the demo's results unchanged.

Usage::

    python scripts/compare_demo_dirs.py BEFORE_DATA_DIR AFTER_DATA_DIR

Compares, and prints one line per group:

- ``models/<pollutant>/<version>/`` model files (``*.txt``, ``*.json`` except ``card.json``,
  which holds training times): byte for byte, versions matched by pollutant and order;
- ``forecasts/*.nc``: every variable's values (NaN = NaN); attributes are not compared (they
  hold run times and the recorded inputs);
- ``warnings/`` files and ``products/<stamp>/maps/*.png``: byte for byte.

Exits 1 when anything differs or is missing on one side.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from airwarn.core.runstore import RunStore


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def _bytes_group(a: Path, b: Path, pattern: str) -> tuple[int, list[str]]:
    """Files matching ``pattern`` under the folders ``a`` and ``b``, byte for byte."""
    fa = {p.relative_to(a): p for p in sorted(a.glob(pattern)) if p.is_file()}
    fb = {p.relative_to(b): p for p in sorted(b.glob(pattern)) if p.is_file()}
    bad = sorted(str(k) for k in set(fa) ^ set(fb))
    bad += [str(k) for k in fa if k in fb and _md5(fa[k]) != _md5(fb[k])]
    return len(fa), bad


def _models(a: Path, b: Path) -> tuple[int, list[str]]:
    n, bad = 0, []
    ma, mb = RunStore(a).models_dir, RunStore(b).models_dir
    for pol in sorted(p.name for p in ma.iterdir() if p.is_dir()):
        va = sorted(p for p in (ma / pol).iterdir() if p.is_dir())
        vb = sorted(p for p in (mb / pol).iterdir() if p.is_dir()) \
            if (mb / pol).is_dir() else []
        if len(va) != len(vb):
            bad.append(f"{pol}: {len(va)} vs {len(vb)} versions")
            continue
        for da, db in zip(va, vb, strict=True):
            for f in sorted(da.iterdir()):
                if f.name == "card.json" or not f.is_file():
                    continue
                n += 1
                g = db / f.name
                if not g.exists() or _md5(f) != _md5(g):
                    bad.append(f"{pol}/{f.name}")
    return n, bad


def _forecasts(a: Path, b: Path) -> tuple[int, list[str]]:
    import xarray as xr

    n, bad = 0, []
    for fa in sorted(RunStore(a).forecasts_dir.glob("*.nc")):
        fb = RunStore(b).forecasts_dir / fa.name
        n += 1
        if not fb.exists():
            bad.append(f"{fa.name} missing")
            continue
        da, db = xr.load_dataset(fa), xr.load_dataset(fb)
        for v in da.variables:
            x = da[v].values
            if v not in db.variables or not np.array_equal(
                    x, db[v].values, equal_nan=x.dtype.kind in "fc"):
                bad.append(f"{fa.name}:{v}")
    return n, bad


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print(__doc__)
        return 2
    a, b = Path(args[0]), Path(args[1])
    sa, sb = RunStore(a), RunStore(b)
    products = sa.products("2026-01-01T00:00").parent   # the products folder of the layout
    groups = {
        "model files": _models(a, b),
        "forecast files (variables)": _forecasts(a, b),
        "warnings files": _bytes_group(sa.warnings_dir, sb.warnings_dir, "**/*"),
        "map PNGs": _bytes_group(products, sb.products("2026-01-01T00:00").parent,
                                 "*/maps/*.png"),
    }
    worst = 0
    for name, (n, bad) in groups.items():
        print(f"{name}: {n} compared, " + (f"{len(bad)} differ: {bad[:8]}" if bad
                                             else "all identical"))
        worst = max(worst, 1 if bad else 0)
    return worst


if __name__ == "__main__":
    sys.exit(main())
