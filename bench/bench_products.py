"""Products benchmark: wall time of each product for a 31-unit run (prints a table).

Uses the products test builders (tests/products/products_fixtures.py: a forecast with every
AQI level and an orange warning with control orders), so it needs no data directory.

    .venv/bin/python bench/bench_products.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "products")]

from airwarn.products.bulletin import render_bulletins  # noqa: E402
from airwarn.products.cap import cap_xml  # noqa: E402
from airwarn.products.maps import render_run_maps  # noqa: E402
from airwarn.products.report import render_review_report  # noqa: E402
from products_fixtures import make_decision, make_forecast, make_obs_units  # noqa: E402

from airwarn import configs  # noqa: E402


def main() -> None:
    cfg = configs.load_config()
    ds = make_forecast()
    dec = make_decision()
    obs = make_obs_units(cfg.region.unit_ids)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t = time.perf_counter()
        maps = render_run_maps(ds, [dec], cfg.region, out / "maps")
        rows.append(("maps (6 PNG, 31 units, first call incl. boundaries)", time.perf_counter() - t,
                     sum(p.stat().st_size for p in maps)))
        t = time.perf_counter()
        maps = render_run_maps(ds, [dec], cfg.region, out / "maps2")
        rows.append(("maps again (boundaries cached)", time.perf_counter() - t,
                     sum(p.stat().st_size for p in maps)))
        t = time.perf_counter()
        rep = render_review_report(ds, [dec], obs, out / "report.html", config=cfg, maps=maps)
        rows.append(("review report (31 unit series, maps given)", time.perf_counter() - t,
                     rep.stat().st_size))
        t = time.perf_counter()
        files = render_bulletins(dec, cfg, out / "b", source="synthetic demo")
        rows.append(("bulletins zh/en html+pdf+md+json+cap", time.perf_counter() - t,
                     sum(p.stat().st_size for p in files.values())))
        t = time.perf_counter()
        files = render_bulletins(dec, cfg, out / "b2", source="synthetic demo", pdf=False)
        rows.append(("bulletins without PDF", time.perf_counter() - t,
                     sum(p.stat().st_size for p in files.values())))
        t = time.perf_counter()
        n = len(cap_xml(dec, cfg))
        rows.append(("CAP 1.2 XML", time.perf_counter() - t, n))
    print(f"{'product':58s} {'seconds':>8s} {'bytes':>10s}")
    for name, sec, size in rows:
        print(f"{name:58s} {sec:8.2f} {size:10d}")


if __name__ == "__main__":
    main()
