"""Benchmark: scoring a year of daily runs for 12 units × 96 lead hours.

Builds a synthetic backtest in the contract format (365 issues × 12 units × 96 leads, quantiles,
daily products, exceedance probabilities; ``models.verify.synthetic``), writes it to NetCDF, and
times each stage of the verification: reading, matching to observations, continuous scores with
the block bootstrap (500 resamples), the Chinese / categorical / probabilistic tables, warning
verification, and the whole ``verify_archive``. Prints a table (seconds, peak RSS).

Run: ``.venv/bin/python bench/bench_verify.py [--days 365] [--units 12] [--resamples 500]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.configs.verification_schema import load_verification  # noqa: E402
from airwarn.models.verify import archive as av  # noqa: E402
from airwarn.models.verify import match_forecasts, read_forecast_archive, verify_archive  # noqa: E402
from airwarn.models.verify.synthetic import synthetic_archive  # noqa: E402

from airwarn import configs  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--resamples", type=int, default=500)
    args = ap.parse_args()
    region = configs.load_region()
    units = region.unit_ids[: args.units]
    settings = load_verification()
    settings = settings.model_copy(update={"bootstrap": settings.bootstrap.model_copy(
        update={"n_resamples": args.resamples})})
    rows: list[tuple[str, float]] = []

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t))
        return out

    ds, obs = timed("build synthetic backtest", lambda: synthetic_archive(
        units, "2025-03-01", args.days, seed=1, n_leads=96))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "backtest.nc"
        timed("write backtest NetCDF", lambda: ds.to_netcdf(path))
        fc = timed("read_forecast_archive", lambda: read_forecast_archive(path))
        m = timed("match_forecasts (hourly + daily + references)",
                  lambda: match_forecasts(fc, obs, settings))
        groups = av.unit_groups([str(r) for r in m.hourly["region"].values], region)
        timed(f"continuous scores + bootstrap ({args.resamples})",
              lambda: av._continuous(m, groups, settings, True))
        timed("Chinese measures (T4.1)", lambda: av._chinese(m, groups, settings))
        timed("categorical (T4.2) + onset + confusion",
              lambda: (av._categorical(m, groups, settings), av._onset(m, settings),
                       av._confusion(m)))
        timed("probabilistic (CRPS, coverage, Brier, reliability)",
              lambda: (av._probabilistic(m.hourly, ("pm25", "o3"), "lead", settings),
                       av._brier(m, settings)))
        res = timed("verify_archive (all of it)", lambda: verify_archive(
            path, obs, settings=settings, region=region))
    n_pairs = int(fc.sizes["issue_time"] * fc.sizes["region"] * fc.sizes["lead"])
    print(f"\nverification benchmark: {args.days} issues × {len(units)} units × 96 leads "
          f"= {n_pairs:,} hourly forecast–observation pairs per pollutant\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'stage':<{w}}  {'seconds':>8}")
    print(f"{'-' * w}  {'-' * 8}")
    for name, sec in rows:
        print(f"{name:<{w}}  {sec:8.2f}")
    print(f"\npeak RSS {_rss_mb():.0f} MB; tables: "
          + ", ".join(f"{k} {len(v)}" for k, v in res.tables.items() if len(v)))


if __name__ == "__main__":
    main()
