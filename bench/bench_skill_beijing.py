"""Skill benchmark on the real UCI Beijing multi-site set (12 stations, CC BY 4.0; Zhang et al.
2017, Proc. R. Soc. A 473: 20170457).

Protocol: issue 12:00 local daily, observations up to 11:00; train 2013-03-01 … 2015-02-28, test
issues 2015-03-01 … 2016-02-29; daily RMSE (µg/m³, pooled over stations and issues) of the
natural-day mean PM2.5 (valid with ≥ 20 h) and O3 MDA8 (8-h windows starting 00…16 h, each ≥ 6/8,
MDA8 ≥ 14/17) at D+1/D+2/D+3. Persistence = mean of the last 24 h (PM2.5) / yesterday's MDA8 (O3).

Rows printed: airwarn with ``--met perfect`` (observed station meteorology at the valid time
stands in for a forecast) and ``--met none``; persistence; mlforecast 1.1.0 (LightGBM, direct
multi-horizon, target lags only, same data and split; no date features, so its predict() date
feature issue — skill-notes #7 — cannot arise); CSI at D+1 for PM2.5 > 150 and MDA8 > 215;
80 % interval coverage; training time.

Usage::

    .venv/bin/python bench/bench_skill_beijing.py [--out DIR] [--threads N]
    # or in parallel parts, then assemble:
    ... --out DIR --parts perfect & ... --out DIR --parts none & ... --parts mlforecast &
    .venv/bin/python bench/bench_skill_beijing.py --out DIR --reuse --parts none
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airwarn.configs import load_settings  # noqa: E402
from airwarn.configs.model_schema import load_domain, load_model_settings  # noqa: E402
from airwarn.features.build import POLLUTANTS, daily_targets, make_panel  # noqa: E402
from airwarn.models.backtest import load_domain_data, run_backtest  # noqa: E402

from airwarn.core.timeutil import LOCAL_TZ  # noqa: E402

TRAIN_END = "2015-02-28"
TEST_START = "2015-03-01"
TEST_END = "2016-02-29"
REFS = {  # the targets of the task (µg/m³), D+1/D+2/D+3
    "perfect": {"pm25": (41.6, 43.7, 44.6), "o3": (25.5, 27.0, 27.5)},
    "none": {"pm25": (63.3, 73.7, 74.8), "o3": (42.1, 45.0, 46.0)},
    "persistence": {"pm25": (80.3, 90.8, 94.4), "o3": (49.7, 55.0, 55.5)},
    "mlforecast (peer)": {"pm25": (70.0, 82.1, 83.6), "o3": (52.5, 54.7, 53.6)},
}


def mlforecast_daily(data, pollutant: str, issue_days: pd.DatetimeIndex, threads: int = 2
                     ) -> tuple[np.ndarray, float]:
    """mlforecast direct LightGBM on hourly target lags; daily products from its 84-h paths.

    Returns
    -------
    daily forecasts ``(issue, 3, station)`` (µg/m³) and the training time (s).
    """
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    obs = data.obs_units
    units = sorted(obs["unit_id"].unique())
    df = pd.DataFrame({
        "unique_id": obs["unit_id"].astype(str),
        "ds": obs["time"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None),
        "y": obs[pollutant].astype(float),
    }).sort_values(["unique_id", "ds"])
    # mlforecast needs a target everywhere: fill gaps by time interpolation per station
    df["y"] = df.groupby("unique_id")["y"].transform(
        lambda s: s.interpolate(limit_direction="both"))
    train = df[df["ds"] < pd.Timestamp(TRAIN_END) + pd.Timedelta(days=1)]
    fcst = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(n_estimators=150, learning_rate=0.08, num_leaves=31,
                                          min_child_samples=50, n_jobs=threads,
                                          verbose=-1)},
        freq="h",
        lags=list(range(1, 25)) + [48, 72, 168],
        lag_transforms={1: [RollingMean(window_size=24), RollingMean(window_size=72)]},
    )
    t0 = time.perf_counter()
    fcst.fit(train, max_horizon=84)
    fit_s = time.perf_counter() - t0
    out = np.full((len(issue_days), 3, len(units)), np.nan)
    for i, d in enumerate(issue_days):
        t_issue = d + pd.Timedelta(hours=12)
        hist = df[(df["ds"] < t_issue) & (df["ds"] >= t_issue - pd.Timedelta(days=10))]
        pred = fcst.predict(84, new_df=hist)
        pred = pred.pivot(index="ds", columns="unique_id", values="lgbm").reindex(columns=units)
        for k in (1, 2, 3):
            day = pred[(pred.index >= d + pd.Timedelta(days=k))
                       & (pred.index < d + pd.Timedelta(days=k + 1))]
            if pollutant == "o3":
                vals = day.to_numpy()
                w = np.stack([vals[s:s + 8].mean(axis=0) for s in range(17)])
                out[i, k - 1] = w.max(axis=0)
            else:
                out[i, k - 1] = day.mean().to_numpy()
    return out, fit_s


def _rmse(f: np.ndarray, o: np.ndarray) -> float:
    ok = np.isfinite(f) & np.isfinite(o)
    return float(np.sqrt(np.mean((f[ok] - o[ok]) ** 2)))


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="write backtest outputs here (default: none)")
    ap.add_argument("--parts", default="perfect,none,mlforecast",
                    help="comma list of parts to compute (perfect, none, mlforecast)")
    ap.add_argument("--reuse", action="store_true",
                    help="load parts already computed under --out instead of recomputing")
    ap.add_argument("--threads", type=int, default=None,
                    help="LightGBM threads for both airwarn and mlforecast (default: "
                         "configs/models.yaml, 2)")
    args = ap.parse_args()
    dom = load_domain(ROOT / "configs" / "domains" / "beijing_multisite.yaml")
    data = load_domain_data(dom)
    settings = load_model_settings()
    if args.threads:
        settings.daily.num_threads = settings.hourly.num_threads = args.threads
        if settings.daily_no_met is not None:
            settings.daily_no_met.num_threads = args.threads
    threads = settings.daily.num_threads
    quantiles = list(load_settings().quantiles)
    parts = set(args.parts.split(","))
    out_root = Path(args.out) if args.out else None
    results = {}
    for met in ("perfect", "none"):
        cached = out_root / met / "scores.json" if out_root else None
        if args.reuse and cached is not None and cached.exists():
            results[met] = json.loads(cached.read_text())
            continue
        if met not in parts:
            continue
        t0 = time.perf_counter()
        _, sc = run_backtest(data, train_end=TRAIN_END, test_start=TEST_START,
                             test_end=TEST_END, issue_hour=12, met=met, settings=settings,
                             quantiles=quantiles, warmup_days=3,
                             out_dir=out_root / met if out_root else None)
        sc["meta"]["wall_seconds"] = time.perf_counter() - t0
        results[met] = sc
        print(f"# {met}: train {sc['meta']['train_seconds']} s, forecast "
              f"{sc['meta']['forecast_seconds_per_issue']} s/issue, total "
              f"{sc['meta']['wall_seconds']:.0f} s", flush=True)
    ml = {}
    for p in ("pm25", "o3"):
        cached = out_root / f"mlforecast_{p}.json" if out_root else None
        if args.reuse and cached is not None and cached.exists():
            ml[p] = json.loads(cached.read_text())
            continue
        if "mlforecast" not in parts:
            continue
        units = sorted(data.obs_units["unit_id"].unique())
        obs = make_panel(data.obs_units, POLLUTANTS, units)
        dobs = daily_targets(obs)
        days = pd.date_range(TEST_START, TEST_END, freq="D")
        f, fit_s = mlforecast_daily(data, p, days, threads)
        o = np.stack([dobs[p].reindex(index=days + pd.Timedelta(days=k), columns=units)
                      .to_numpy() for k in (1, 2, 3)], axis=1)
        for k in range(3):
            o[(days + pd.Timedelta(days=k + 1)) > pd.Timestamp(TEST_END), k] = np.nan
        ml[p] = {"rmse": [_rmse(f[:, k], o[:, k]) for k in range(3)], "fit_seconds": fit_s,
                 "bias": [float(np.nanmean(f[:, k] - o[:, k])) for k in range(3)]}
        if out_root:
            out_root.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(ml[p]))
        print(f"# mlforecast {p}: fit {fit_s:.0f} s", flush=True)
    if not {"perfect", "none"} <= set(results):
        print("parts computed; run again with --reuse (and all parts) to print the table")
        return
    # ---- table
    names = {"pm25": "pm25_daily", "o3": "o3_mda8"}
    rows = []

    def row(label: str, vals: dict[str, list[float]], ref: str | None) -> None:
        cells = []
        for p in ("pm25", "o3"):
            for k in range(3):
                v = vals[p][k]
                r = REFS[ref][p][k] if ref else None
                mark = ""
                if r is not None and label.startswith("airwarn"):
                    mark = " ✓" if v <= 0.95 * r else " ✗"
                cells.append(f"{v:5.1f}{mark}" + (f" ({r:.1f})" if r else ""))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    for met in ("perfect", "none"):
        sc = results[met]
        row(f"airwarn --met {met}",
            {p: [sc["daily"][names[p]][f"D+{k}"]["rmse"] for k in (1, 2, 3)] for p in names},
            met)
    sc = results["perfect"]
    row("persistence", {p: [sc["daily"][names[p]][f"D+{k}"]["persistence_rmse"]
                            for k in (1, 2, 3)] for p in names}, "persistence")
    row("climatology (unit × month)", {p: [sc["daily"][names[p]][f"D+{k}"]["climatology_rmse"]
                                           for k in (1, 2, 3)] for p in names}, None)
    if ml:
        row("mlforecast 1.1.0, target lags only", {p: ml[p]["rmse"] for p in ml},
            "mlforecast (peer)")
    print()
    print("Daily RMSE (µg/m³), Beijing 12 stations, issue 12:00, test 2015-03-01…2016-02-29; "
          "(reference); ✓ = at least 5 % below the reference")
    print("| forecaster | PM2.5 D+1 | PM2.5 D+2 | PM2.5 D+3 | MDA8 D+1 | MDA8 D+2 | MDA8 D+3 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)
    print()
    ev = results["perfect"]["events"]
    print("| event (perfect met, D+1) | CSI | POD | FAR | target |")
    print("|---|---|---|---|---|")
    for label, c, tgt in (("PM2.5 daily > 150", ev["pm25_daily"][">150"]["D+1"], 0.60),
                          ("O3 MDA8 > 215", ev["o3_mda8"][">215"]["D+1"], 0.40)):
        ok = "✓" if c["csi"] >= tgt else "✗"
        print(f"| {label} | {c['csi']:.2f} {ok} | {c['pod']:.2f} | {c['far']:.2f} | ≥ {tgt} |")
    print()
    print("| 80 % interval coverage (target 0.75–0.85) | D+1 | D+2 | D+3 |")
    print("|---|---|---|---|")
    for met in ("perfect", "none"):
        for p in names.values():
            cov = [results[met]["daily"][p][f"D+{k}"].get("coverage_80", float("nan"))
                   for k in (1, 2, 3)]
            print(f"| {p}, --met {met} | " + " | ".join(
                f"{c:.2f} {'✓' if 0.75 <= c <= 0.85 else '✗'}" for c in cov) + " |")
    print()
    if ml:
        # the peer uses no future meteorology: compare with the airwarn run that uses none
        wins = [results["none"]["daily"][names[p]][f"D+{k}"]["rmse"] <= ml[p]["rmse"][k - 1]
                for p in ml for k in (1, 2, 3)]
        print(f"airwarn --met none vs mlforecast (target lags only): at least as accurate at "
              f"{sum(wins)} of {len(wins)} pollutant lead days {'✓' if all(wins) else '✗'}")
        print()
    print(f"| timing (2 cores, LightGBM threads = {threads}) | seconds |")
    print("|---|---|")
    for met in ("perfect", "none"):
        m = results[met]["meta"]
        print(f"| airwarn train, 12 stations × 2 pollutants, all leads ({met}) | "
              f"{m['train_seconds']:.0f} |")
        print(f"| airwarn forecast per issue, all stations ({met}) | "
              f"{m['forecast_seconds_per_issue']:.2f} |")
    for p, v in ml.items():
        print(f"| mlforecast fit ({p}, 84 direct horizons) | {v['fit_seconds']:.0f} |")
    if ml:
        theirs = sum(v["fit_seconds"] for v in ml.values())
        for met in ("perfect", "none"):
            ours = results[met]["meta"]["train_seconds"]
            print(f"| train, both pollutants: airwarn ({met}) vs mlforecast | {ours:.0f} vs "
                  f"{theirs:.0f} {'✓' if ours <= theirs else '✗'} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
