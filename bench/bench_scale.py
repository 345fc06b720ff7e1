"""How the pipeline's model work grows with the number of forecast units (national scale).

A synthetic domain of N units (N = 30, 100, 300 by default) over eastern China: random unit
points, a planar neighbour graph (Delaunay triangulation of the points — every unit borders its
Voronoi neighbours), a unit table, and hourly PM2.5 / O3 / meteorology generated per unit by a
small stochastic model (stagnation → PM2.5 build-up, sunshine → O3, neighbour transport). On it,
the models package does what ``airwarn train`` and the daily run do: features for every issue
(``features.build.build_issue_features`` with perfect-prog meteorology), LightGBM training per
pollutant (``models.lgbm.train_pollutant``, small settings) and one forecast for every unit.

Fan-out: a Prefect flow on a local Dask cluster (``prefect_dask.DaskTaskRunner``; or
``--dask-address tcp://…`` for an existing cluster) — one task per (pollutant) training and one
per issue batch of features. Prints one table row per N: seconds for features, training and the
forecast, peak RSS, and the time per unit.

    .venv/bin/python bench/bench_scale.py                 # 30, 100, 300 units
    .venv/bin/python bench/bench_scale.py --units 30 100 --days 60
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="airwarn-bench-prefect-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airwarn.flows.prefect_env import configure_prefect  # noqa: E402

configure_prefect(Path(os.environ["PREFECT_HOME"]).parent)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from airwarn.configs.model_schema import LgbmParams, load_model_settings  # noqa: E402
from airwarn.features.build import (  # noqa: E402
    Geometry,
    PerfectMet,
    build_issue_features,
    daily_targets,
    make_panel,
)
from airwarn.flows.runners import task_runner  # noqa: E402
from airwarn.models.lgbm import predict_pollutant, train_pollutant  # noqa: E402
from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from scipy.spatial import Delaunay  # noqa: E402

MET_VARS = ["t2m", "d2m", "u10", "v10", "sp", "tp", "blh", "ssrd", "tcc"]


def synthetic_domain(n_units: int, seed: int = 7) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Unit table (``unit_id, name, lat, lon, province``) and planar neighbour graph."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(22.0, 41.0, n_units)
    lon = rng.uniform(102.0, 122.0, n_units)
    ids = [f"u{i:03d}" for i in range(n_units)]
    units = pd.DataFrame({"unit_id": ids, "name": [f"单元{i}" for i in range(n_units)],
                          "lat": lat, "lon": lon,
                          "province": [f"p{i % 31:02d}" for i in range(n_units)]})
    tri = Delaunay(np.column_stack([lon, lat]))
    nb: dict[str, set[str]] = {u: set() for u in ids}
    for simplex in tri.simplices:
        for a in simplex:
            for b in simplex:
                if a != b:
                    nb[ids[a]].add(ids[b])
    return units, {k: sorted(v) for k, v in nb.items()}


def synthetic_series(units: pd.DataFrame, neighbours: dict[str, list[str]], days: int,
                     end: pd.Timestamp, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly unit observations (µg/m³) and meteorology (ERA5 names/units), long tables."""
    rng = np.random.default_rng(seed)
    n = len(units)
    times = pd.date_range(end - pd.Timedelta(days=days + 5), end, freq="h", tz="UTC")
    nt = len(times)
    hour_local = (times.hour.to_numpy() + 8) % 24
    doy = times.day_of_year.to_numpy()
    lat = units["lat"].to_numpy()
    # synoptic forcing: a few large-scale AR(1) modes, projected on the units
    k = 6
    modes = np.zeros((nt, k))
    for i in range(1, nt):
        modes[i] = 0.985 * modes[i - 1] + rng.normal(0, 0.17, k)
    load = rng.normal(0, 1, (k, n))
    synop = modes @ load / np.sqrt(k)
    diurnal = np.sin((hour_local - 9) / 24 * 2 * np.pi)[:, None]
    season = np.cos((doy - 15) / 365 * 2 * np.pi)[:, None]
    t2m = 288 - 0.6 * (lat - 30)[None, :] - 9 * season + 4 * diurnal + 2 * synop
    blh = np.clip(600 + 500 * diurnal - 250 * synop + rng.normal(0, 80, (nt, n)), 50, None)
    u10 = 2 * synop + rng.normal(0, 1, (nt, n))
    v10 = -1.5 * synop + rng.normal(0, 1, (nt, n))
    ssrd = np.clip(500 * np.sin((hour_local - 6) / 12 * np.pi), 0, None)[:, None] * \
        (0.7 + 0.3 * (1 - season)) * np.ones((1, n))
    tcc = np.clip(0.5 + 0.2 * synop + rng.normal(0, 0.1, (nt, n)), 0, 1)
    tp = np.clip(rng.normal(-1.5, 1, (nt, n)) + 0.5 * synop, 0, None)
    d2m = t2m - np.clip(5 - 2 * synop, 1, 15)
    sp = 100000 - 8 * (lat - 30)[None, :] * 10 + 200 * synop
    # PM2.5: emission over ventilation, neighbour transport, wet removal
    nbr = [np.array([units.index[units["unit_id"] == v][0] for v in neighbours[u]])
           for u in units["unit_id"]]
    emis = rng.uniform(20, 70, n) * (1 + 0.5 * (season[:, 0] > 0).mean())
    pm = np.zeros((nt, n))
    pm[0] = emis
    vent = blh * np.hypot(u10, v10) + 300
    for i in range(1, nt):
        transport = np.array([pm[i - 1, js].mean() if len(js) else 0.0 for js in nbr])
        target = emis * 1500 / vent[i] * (1.3 + 0.5 * season[i, 0])
        pm[i] = 0.93 * pm[i - 1] + 0.05 * target * 3 + 0.02 * transport - 2.0 * tp[i]
        pm[i] = np.clip(pm[i] + rng.normal(0, 2, n), 2, None)
    o3 = np.clip(40 + 0.25 * ssrd + 0.6 * (t2m - 285) - 0.3 * pm + rng.normal(0, 8, (nt, n)),
                 2, None)
    ids = units["unit_id"].to_numpy()

    def long(fields: dict[str, np.ndarray]) -> pd.DataFrame:
        df = pd.DataFrame({"time": np.repeat(times, n), "unit_id": np.tile(ids, nt)})
        for name, arr in fields.items():
            df[name] = arr.reshape(-1)
        return df

    obs = long({"pm25": pm, "o3": o3})
    for p in ("pm10", "no2", "so2", "co"):
        obs[p] = np.nan
    met = long({"t2m": t2m, "d2m": d2m, "u10": u10, "v10": v10, "sp": sp, "tp": tp, "blh": blh,
                "ssrd": ssrd, "tcc": tcc})
    return obs, met


def _small_settings():
    s = load_model_settings()
    small = LgbmParams(num_boost_round=120, learning_rate=0.08, num_leaves=31,
                       min_data_in_leaf=30, num_threads=1)
    return s.model_copy(update={"daily": small, "hourly": small, "hourly_lead_stride": 6,
                                "bias_correction": False})


@task(name="features", cache_policy=NO_CACHE, persist_result=False)
def features_task(obs_panel, issues, met_source, geometry, daily):
    return build_issue_features(obs_panel, issues, met_source, geometry=geometry, daily=daily)


@task(name="train-pollutant", cache_policy=NO_CACHE, persist_result=False)
def train_task(obs_panel, daily, feats, pollutant, settings):
    return train_pollutant(obs_panel, daily, feats, pollutant, settings)


@task(name="forecast-pollutant", cache_policy=NO_CACHE, persist_result=False)
def predict_task(model, f):
    return predict_pollutant(model, f)


@flow(name="bench-scale", validate_parameters=False)
def scale_flow(n_units: int, days: int, batches: int) -> dict[str, float]:
    """Features (fanned out over issue batches), training (over pollutants), one forecast."""
    units, nb = synthetic_domain(n_units)
    end = pd.Timestamp("2026-01-20T06:00", tz="UTC")
    obs, met = synthetic_series(units, nb, days, end)
    ids = list(units["unit_id"])
    panel = make_panel(obs, ["pm25", "o3", "pm10", "no2", "so2", "co"], ids)
    daily = daily_targets(panel)
    met_source = PerfectMet(met)
    geometry = Geometry({u: (la, lo) for u, la, lo in zip(ids, units["lat"], units["lon"],
                                                          strict=True)}, nb)
    issues = pd.date_range(end - pd.Timedelta(days=days - 5), end - pd.Timedelta(days=4),
                           freq="D")  # 14:00 local issue, 4 days of truth after the last
    t0 = time.perf_counter()
    chunks = [c for c in np.array_split(np.arange(len(issues)), batches) if len(c)]
    futs = [features_task.submit(panel, issues[c], met_source, geometry, daily) for c in chunks]
    feats = [f.result() for f in futs]
    t_feat = time.perf_counter() - t0
    settings = _small_settings()
    t0 = time.perf_counter()
    mfuts = [train_task.submit(panel, daily, feats, p, settings) for p in ("pm25", "o3")]
    models = [f.result() for f in mfuts]
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_now = build_issue_features(panel, [end - pd.Timedelta(days=3)], met_source,
                                 geometry=geometry, daily=daily)
    preds = [predict_task.submit(m, f_now).result() for m in models]
    t_pred = time.perf_counter() - t0
    assert preds[0]["daily"].shape == (1, 3, n_units)
    return {"features_s": t_feat, "train_s": t_train, "forecast_s": t_pred,
            "issues": float(len(issues))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, nargs="+", default=[30, 100, 300])
    ap.add_argument("--days", type=int, default=90, help="training issue days")
    ap.add_argument("--workers", type=int, default=None, help="local Dask threads")
    ap.add_argument("--dask-address", default=None, help="tcp://host:port of a Dask scheduler")
    args = ap.parse_args(argv)
    from prefect.testing.utilities import prefect_test_harness

    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        for n in args.units:
            runner = task_runner(args.dask_address, args.workers)
            f = scale_flow.with_options(task_runner=runner)
            t0 = time.perf_counter()
            r = f(n_units=n, days=args.days, batches=max(2, args.workers or os.cpu_count() or 2))
            total = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append((n, int(r["issues"]), r["features_s"], r["train_s"], r["forecast_s"],
                         total, total / n, rss))
            print(f"  done {n} units in {total:.1f} s", flush=True)
    print()
    print(f"bench_scale: synthetic national domain, {args.days} training issue days, "
          f"pm25+o3, Dask {'at ' + args.dask_address if args.dask_address else 'local threads'}")
    hdr = ("units", "issues", "features s", "train s", "forecast s", "total s", "s/unit",
           "peak RSS MB")
    print(" | ".join(f"{h:>11}" for h in hdr))
    for r in rows:
        print(" | ".join([f"{r[0]:>11d}", f"{r[1]:>11d}"] + [f"{x:>11.2f}" for x in r[2:7]]
                         + [f"{r[7]:>11.0f}"]))


if __name__ == "__main__":
    main()
