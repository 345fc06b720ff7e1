"""Benchmark: Beijing daily PM2.5 event skill with meteorology on the hindcast's training fold.

Trains only the PM2.5 daily models (no hourly model) on issues whose targets end by
2014-02-28 and forecasts the training fold of ``bench/bench_hindcast.py --only beijing_perfect``
(issues 2014-03-01 … 2015-02-25, targets ≤ 2015-02-28; perfect-prog met = the observed station
met at the valid time), with the real post-processing (linear recalibration, running bias,
conformal quantiles: :func:`models.forecast.forecast_arrays`). For each named candidate it
prints the daily RMSE and POD / FAR / CSI at PM2.5 > 115 and > 150 µg/m³ (the AQI 150 / 200
cuts of HJ 633-2012) at D+1 … D+3. The test year (2015-03 … 2016-02) is never read, so a
candidate may be chosen from this table.

Candidates (``--only NAME`` to run some): the configured models without the episode met
features (``base``, as on main), ``base_seed2`` (another bagging seed: the noise), ``met`` (with
the episode met of :func:`features.build._episode_met`), event weights, more trees.
``cfg*`` start from configs/models.yaml as it is (seeds, ``n_seeds=3``, the pooled design's
weight at D+1, 1600 trees); ``<cfg candidate>_nobias`` / ``_norecal`` / ``_nopp`` forecast the same
trained models without the running bias correction / the linear recalibration / both
(:data:`PP_VARIANTS`; results: docs/notes/w5-pp.md).

w6-folds (docs/notes/w6-folds.md): ``--pollutant o3`` trains and scores O3 MDA8 too (RMSE, and
the 10–90 % interval's coverage for every pollutant); ``cfg_pwall_XX[_seed2]`` set
``pooled_weight`` to 0.XX at every lead day; ``<cfg candidate>_shrink100`` / ``_shrink1000`` /
``_shrink3000`` forecast the same models with another ``interval_shrink_errors``. The fitted
boosters are memoised in the process (``bench/_fit_cache.py``): candidates that differ only in
these settings cost the forecast, not the training.

Run: ``AIRWARN_DATASETS_DIR=… OMP_NUM_THREADS=1 nice .venv/bin/python bench/bench_event_skill.py
[--only base --only met] [--json out.json]``; w6-folds: ``… --pollutant pm25 --pollutant o3
--only cfg --only cfg_pwall_00 … --only cfg_shrink3000 --json /tmp/w6/met.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _fit_cache  # noqa: E402  (bench/, on sys.path as the script's folder)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from airwarn.configs import load_settings  # noqa: E402
from airwarn.configs.model_schema import load_domain, load_model_settings  # noqa: E402
from airwarn.features import build  # noqa: E402
from airwarn.models import forecast as fc_mod  # noqa: E402
from airwarn.models import lgbm  # noqa: E402
from airwarn.models.backtest import (  # noqa: E402
    _contingency,
    _day,
    backtest_inputs,
    issue_times_between,
    load_domain_data,
)
from airwarn.models.baselines import fit_climatology  # noqa: E402

from airwarn.core.timeutil import LOCAL_TZ  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAIN_END = "2014-02-28"
FOLD_START, FOLD_END = "2014-03-01", "2015-02-28"
#: event thresholds scored per pollutant (µg/m³): PM2.5 AQI 150 / 200 cuts, O3 MDA8 IAQI 150
THRESHOLDS = {"pm25": (115.0, 150.0), "o3": (215.0,)}
_ORIG_DESIGN = build.daily_design


def _design_without_episode_met(f: build.IssueFeatures, pollutant: str, lead_day: int
                                ) -> pd.DataFrame:
    """The daily design as before the episode met features (the ``base`` candidates)."""
    X = _ORIG_DESIGN(f, pollutant, lead_day)
    drop = [c for c in X.columns if c[:2] in ("v_", "p_") and c[2:] in build.EPISODE_MET_KEYS]
    return X.drop(columns=drop)


def _design_with_episode_met(f: build.IssueFeatures, pollutant: str, lead_day: int
                             ) -> pd.DataFrame:
    """The daily design with the episode met features of PM2.5 (``met`` candidates)."""
    saved = build.EPISODE_MET_POLLUTANTS
    build.EPISODE_MET_POLLUTANTS = ("pm25",)
    try:
        return _ORIG_DESIGN(f, pollutant, lead_day)
    finally:
        build.EPISODE_MET_POLLUTANTS = saved


def _design_only(keys: tuple[str, ...]) -> Any:
    def design(f: build.IssueFeatures, pollutant: str, lead_day: int) -> pd.DataFrame:
        X = _design_with_episode_met(f, pollutant, lead_day)
        drop = [c for c in X.columns if c[:2] in ("v_", "p_")
                and c[2:] in build.EPISODE_MET_KEYS and c[2:] not in keys]
        return X.drop(columns=drop)
    return design


def _daily(s: Any, **kw: Any) -> Any:
    return s.model_copy(update={"daily": s.daily.model_copy(update=kw)})


def _ew(s: Any, thr: float, w: float) -> Any:
    return s.model_copy(update={"event_weight_met": {**s.event_weight_met, "pm25": (thr, w)}})


def _pw1(w: float, seed_offset: int) -> Any:
    """Settings transform: the pooled design's weight ``w`` at D+1, bagging seed + offset."""
    def transform(s: Any) -> Any:
        s = s.model_copy(update={"pooled_weight": {**s.pooled_weight, 1: w}})
        return _daily(s, seed=s.daily.seed + seed_offset)
    return transform


def _pwall(w: float, seed_offset: int) -> Any:
    """Settings transform: ``pooled_weight`` ``w`` at every lead day, bagging seed + offset."""
    def transform(s: Any) -> Any:
        s = s.model_copy(update={"pooled_weight": {1: w, 2: w, 3: w}})
        return _daily(s, seed=s.daily.seed + seed_offset)
    return transform


#: name → (settings transform, design function)
CANDIDATES: dict[str, tuple[Any, Any]] = {
    "base": (lambda s: s, _design_without_episode_met),
    "base_seed2": (lambda s: _daily(s, seed=s.daily.seed + 1), _design_without_episode_met),
    "base_seed3": (lambda s: _daily(s, seed=s.daily.seed + 2), _design_without_episode_met),
    "base_ew100x2_seed3": (lambda s: _daily(_ew(s, 100, 2.0), seed=s.daily.seed + 2),
                           _design_without_episode_met),
    "base_ew150x3": (lambda s: _ew(s, 150, 3.0), _design_without_episode_met),
    "base_ew115x2": (lambda s: _ew(s, 115, 2.0), _design_without_episode_met),
    "base_ew1": (lambda s: _ew(s, 150, 1.0), _design_without_episode_met),
    "base_small": (lambda s: _daily(s, num_leaves=15, min_data_in_leaf=100),
                   _design_without_episode_met),
    "base_small_seed2": (lambda s: _daily(s, num_leaves=15, min_data_in_leaf=100,
                                          seed=s.daily.seed + 1), _design_without_episode_met),
    "base_small_seeds3": (lambda s: _daily(s, num_leaves=15, min_data_in_leaf=100, n_seeds=3),
                          _design_without_episode_met),
    "base_seeds3": (lambda s: _daily(s, n_seeds=3), _design_without_episode_met),
    "base_big": (lambda s: _daily(s, num_leaves=63, min_data_in_leaf=20),
                 _design_without_episode_met),
    "base_ew100x2": (lambda s: _ew(s, 100, 2.0), _design_without_episode_met),
    "base_ew100x2_seed2": (lambda s: _daily(_ew(s, 100, 2.0), seed=s.daily.seed + 1),
                           _design_without_episode_met),
    "base_ew100x3": (lambda s: _ew(s, 100, 3.0), _design_without_episode_met),
    "base_ew75x2": (lambda s: _ew(s, 75, 2.0), _design_without_episode_met),
    "met": (lambda s: s, _design_with_episode_met),
    "met_seed2": (lambda s: _daily(s, seed=s.daily.seed + 1), _design_with_episode_met),
    "met_ew150x3": (lambda s: _ew(s, 150, 3.0), _design_with_episode_met),
    "met_ew115x2": (lambda s: _ew(s, 115, 2.0), _design_with_episode_met),
    "met_moist": (lambda s: s, _design_only(("dpd", "dpd_min", "rh_max", "dtr"))),
    "met_wind": (lambda s: s, _design_only(("south_h", "north_h", "north_max", "sp_tend",
                                             "since_north_h"))),
    "met_1600": (lambda s: _daily(s, num_boost_round=1600, learning_rate=0.02),
                 _design_with_episode_met),
    # ``cfg*``: start from configs/models.yaml as it is (event_weight_met PM2.5 [100, 2.0])
    "cfg": (lambda s: s, _design_without_episode_met),
    "cfg_seed2": (lambda s: _daily(s, seed=s.daily.seed + 1), _design_without_episode_met),
    "cfg_seed3": (lambda s: _daily(s, seed=s.daily.seed + 2), _design_without_episode_met),
    "cfg_seeds3": (lambda s: _daily(s, n_seeds=3), _design_without_episode_met),
    "cfg_seeds3_seed2": (lambda s: _daily(s, n_seeds=3, seed=s.daily.seed + 1),
                         _design_without_episode_met),
    "cfg_seeds3_seed3": (lambda s: _daily(s, n_seeds=3, seed=s.daily.seed + 2),
                         _design_without_episode_met),
    # trained with both switches off (checks that the ``_nopp`` ablation of ``cfg`` is exact)
    "cfg_nopp_retrained": (lambda s: s.model_copy(update={"bias_correction": False,
                                                          "linear_recalibration": False}),
                           _design_without_episode_met),
    "cfg_1600": (lambda s: _daily(s, num_boost_round=1600, learning_rate=0.02),
                 _design_without_episode_met),
    "cfg_1600_seed2": (lambda s: _daily(s, num_boost_round=1600, learning_rate=0.02,
                                        seed=s.daily.seed + 1), _design_without_episode_met),
    # the pooled design's weight at D+1 (configured 0.0: the per-lead-day model alone)
    **{f"cfg_pw1_{w:02d}{sfx}": (_pw1(w / 10, d), _design_without_episode_met)
       for w in (3, 5) for d, sfx in ((0, ""), (1, "_seed2"), (2, "_seed3"))},
    # w6-folds: the pooled design's weight at every lead day (configured {1: 0.0, 2: 0.4, 3: 0.6})
    **{f"cfg_pwall_{w:02d}{sfx}": (_pwall(w / 10, d), _design_without_episode_met)
       for w in (0, 2, 4, 6, 8) for d, sfx in ((0, ""), (1, "_seed2"))},
}

#: post-processing ablations, ``<candidate><suffix>``: the candidate's models trained once, then
#: forecast without the running bias correction and/or the linear recalibration (the settings'
#: switches ``bias_correction`` / ``linear_recalibration``, and the trained model's
#: ``bias_lead_days`` / ``daily_linear`` emptied, as training with the switch off would leave
#: them; the point forecast is then that of a model trained with the switch off — only the
#: conformal quantiles, not scored here, keep the configured calibration)
PP_VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "_nobias": ({"bias_correction": False}, {"bias_lead_days": []}),
    "_norecal": ({"linear_recalibration": False}, {"daily_linear": {}}),
    "_nopp": ({"bias_correction": False, "linear_recalibration": False},
              {"bias_lead_days": [], "daily_linear": {}}),
    # w6-folds: the adaptive interval's shrinkage (forecast time only; configured 300)
    **{f"_shrink{n}": ({"interval_shrink_errors": float(n)}, {}) for n in (100, 1000, 3000)},
}
_TRAINED: dict[tuple[str, str], tuple[Any, Any, float]] = {}


def _split_variant(name: str) -> tuple[str, str]:
    """``cfg_seed2_nobias`` → (``cfg_seed2``, ``_nobias``); a plain candidate → (name, "")."""
    for suffix in PP_VARIANTS:
        if name.endswith(suffix) and name[:-len(suffix)] in CANDIDATES:
            return name[:-len(suffix)], suffix
    return name, ""


def candidate_names() -> list[str]:
    """Every candidate, with the post-processing ablations of the ``cfg*`` ones."""
    return sorted(CANDIDATES) + sorted(c + v for c in CANDIDATES if c.startswith("cfg")
                                       and not c.endswith("retrained") for v in PP_VARIANTS)


def _inputs() -> dict[str, Any]:
    dom = load_domain(ROOT / "configs" / "domains" / "beijing_multisite.yaml")
    data = load_domain_data(dom)
    obs, daily_obs, met_source, first = backtest_inputs(data, "perfect")
    last_issue = _day(TRAIN_END) - pd.Timedelta(days=3)
    tr_its = issue_times_between(first, last_issue, 12)
    fold_its = issue_times_between(FOLD_START, _day(FOLD_END) - pd.Timedelta(days=3), 12)
    t = time.perf_counter()
    ftr = build.build_issue_features(obs, tr_its, met_source, geometry=data.geometry,
                                     daily=daily_obs)
    ffo = build.build_issue_features(obs, fold_its, met_source, geometry=data.geometry,
                                     daily=daily_obs)
    print(f"features: {len(tr_its)} training issues, {len(fold_its)} fold issues "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    until = (_day(TRAIN_END) + pd.Timedelta(days=1)).tz_localize(LOCAL_TZ).tz_convert("UTC")
    clim = fit_climatology(obs, daily_obs, until=until)
    d0 = pd.DatetimeIndex((fold_its.tz_localize(None)
                           + pd.Timedelta(hours=build.LOCAL_OFFSET_H)).normalize())
    od = {p: np.stack([daily_obs[p].reindex(index=d0 + pd.Timedelta(days=k),
                                            columns=ffo.units).to_numpy() for k in (1, 2, 3)],
                      axis=1) for p in THRESHOLDS}
    return {"obs": obs, "daily_obs": daily_obs, "met": met_source, "geometry": data.geometry,
            "ftr": ftr, "ffo": ffo, "clim": clim, "od": od, "its": fold_its}


def run_candidate(name: str, inp: dict[str, Any], base_settings: Any,
                  save: Path | None = None, pollutant: str = "pm25") -> dict[str, Any]:
    """Train ``pollutant`` (PM2.5, O3) under candidate ``name`` and score the fold (plain
    dict); ``save``: also write the fold's daily forecasts and observations there
    (``<name>.npz``, ``<name>_o3.npz``; µg/m³)."""
    stem, variant = _split_variant(name)
    transform, design = CANDIDATES[stem]
    lgbm.daily_design = design  # the candidate's design, in training and prediction alike
    try:
        if (stem, pollutant) not in _TRAINED:  # the ablations of a candidate share its models
            settings = transform(base_settings)
            t = time.perf_counter()
            model = lgbm.train_pollutant(inp["obs"], inp["daily_obs"], [inp["ftr"]], pollutant,
                                         settings, hourly=False)
            _TRAINED[stem, pollutant] = (settings, model, time.perf_counter() - t)
        settings, model, tr_s = _TRAINED[stem, pollutant]
        if variant:
            upd_settings, upd_model = PP_VARIANTS[variant]
            settings = settings.model_copy(update=upd_settings)
            model = dataclasses.replace(model, **upd_model)
        fa = fc_mod.forecast_arrays(
            inp["obs"], inp["daily_obs"], inp["its"], inp["met"],
            {p: (model if p == pollutant else None) for p in fc_mod.TARGETS}, settings=settings,
            quantiles=list(load_settings().quantiles), climatology=inp["clim"],
            geometry=inp["geometry"], feats=inp["ffo"])
    finally:
        lgbm.daily_design = _ORIG_DESIGN
    fd, od, fq = fa.daily[pollutant], inp["od"][pollutant], fa.daily_q[pollutant]
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        np.savez(save / f"{name}{'' if pollutant == 'pm25' else '_' + pollutant}.npz",
                 daily=fd, obs=od, daily_q=fq)
    qs = list(load_settings().quantiles)
    lo, hi = fq[..., qs.index(0.1)], fq[..., qs.index(0.9)]
    row: dict[str, Any] = {"candidate": name, "pollutant": pollutant, "train_s": round(tr_s, 1),
                           "daily_linear": {f"D+{k}": [round(x, 3) for x in ab[:2]]
                                            for k, ab in sorted(model.daily_linear.items())},
                           "bias_lead_days": list(model.bias_lead_days),
                           "n_features": len(model.daily_features[1])}
    if pollutant == "pm25":
        row["best_cut_150"] = best_cut(fd[:, 0], od[:, 0], 150.0, np.arange(80.0, 221.0, 5.0))
        row["best_cut_115"] = best_cut(fd[:, 0], od[:, 0], 115.0, np.arange(60.0, 181.0, 5.0))
    for k in range(3):
        ok = np.isfinite(fd[:, k]) & np.isfinite(od[:, k])
        e = fd[:, k][ok] - od[:, k][ok]
        okq = np.isfinite(lo[:, k]) & np.isfinite(hi[:, k]) & np.isfinite(od[:, k])
        inside = (od[:, k] >= lo[:, k]) & (od[:, k] <= hi[:, k])
        row[f"D+{k + 1}"] = {"rmse": float(np.sqrt(np.mean(e ** 2))), "bias": float(e.mean()),
                             "coverage80": float(inside[okq].mean()),
                             **{f">{t:g}": _contingency(fd[:, k], od[:, k], t)
                                for t in THRESHOLDS[pollutant]}}
    return row


def best_cut(score: np.ndarray, o: np.ndarray, thr: float, cuts: np.ndarray
             ) -> dict[str, float]:
    """The cut of ``score`` with the best CSI for the event ``o > thr`` (a ranking measure:
    how well the score separates event days from the rest, whatever its calibration)."""
    best = {"cut": float("nan"), "csi": -1.0}
    for c in cuts:
        ok = np.isfinite(score) & np.isfinite(o)
        r = _contingency(np.where(score[ok] > c, 1.0, 0.0), np.where(o[ok] > thr, 1.0, 0.0), 0.5)
        if r["csi"] > best["csi"]:
            best = {"cut": float(c), "csi": r["csi"], "pod": r["pod"], "far": r["far"]}
    return best


def classifier_probe(inp: dict[str, Any], settings: Any, thr: float = 150.0,
                     lead_day: int = 1) -> dict[str, Any]:
    """A direct exceedance classifier (binary LightGBM, log-loss, the daily design and
    parameters) for P(daily PM2.5 > ``thr``) at ``lead_day``: its best-cut CSI on the fold, to
    set beside the median's (:func:`best_cut`)."""
    import lightgbm as lgb

    tbl = inp["daily_obs"]["pm25"]
    X = _design_without_episode_met(inp["ftr"], "pm25", lead_day)
    y = lgbm._daily_targets_for(inp["ftr"], tbl, lead_day)
    ok = np.isfinite(y)
    params = {**lgbm._params(settings.daily, objective="binary")}
    t = time.perf_counter()
    b = lgb.train(params, lgb.Dataset(X[ok], label=(y[ok] > thr).astype(float),
                                      categorical_feature=["unit"]),
                  num_boost_round=settings.daily.num_boost_round)
    Xf = _design_without_episode_met(inp["ffo"], "pm25", lead_day)
    p = b.predict(Xf).reshape(len(inp["its"]), -1)
    return {"candidate": f"clf{thr:g}_D+{lead_day}", "train_s": round(time.perf_counter() - t, 1),
            "best_cut_150": best_cut(p, inp["od"]["pm25"][:, lead_day - 1], thr,
                                     np.arange(0.05, 0.96, 0.025))}


def _fmt(c: dict[str, Any]) -> str:
    return f"{c['pod']:.2f}/{c['far']:.2f}/{c['csi']:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append",
                    choices=candidate_names() + ["clf", "configured"],
                    help="candidates to run (clf: the exceedance-classifier probe)")
    ap.add_argument("--json", type=Path, help="append the rows to this JSON-lines file")
    ap.add_argument("--save", type=Path, help="write each candidate's fold forecasts here")
    ap.add_argument("--pollutant", action="append", choices=sorted(THRESHOLDS),
                    help="pollutants to train and score (default pm25)")
    args = ap.parse_args()
    configured = load_model_settings()
    configured = configured.model_copy(update={"daily": configured.daily.model_copy(
        update={"num_threads": 1})})
    # the candidates start from the models as before this bench (main: PM2.5 event weight
    # [150, 1.5] in both met modes); ``configured`` is configs/models.yaml as it is now
    base = configured.model_copy(update={"event_weight_met": {}})
    CANDIDATES["configured"] = (lambda s: configured, _design_without_episode_met)
    fits = _fit_cache.install()
    inp = _inputs()
    print(f"Beijing PM2.5, trained ≤ {TRAIN_END}, fold issues {FOLD_START} … "
          f"{inp['its'][-1].date()}; POD/FAR/CSI")
    hdr = f"{'candidate':14s} {'nf':>4s} " + " ".join(
        f"{f'D+{k} rmse':>9s} {f'D+{k} >115':>15s} {f'D+{k} >150':>15s}" for k in (1, 2, 3))
    print(hdr + f" {'s':>5s}", flush=True)
    for name in args.only or list(CANDIDATES):
        if name == "clf":
            r = classifier_probe(inp, base)
            print(f"{r['candidate']:14s} best-cut D+1 >150: {json.dumps(r['best_cut_150'])}",
                  flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r) + "\n")
            continue
        for pol in args.pollutant or ["pm25"]:
            r = run_candidate(name, inp, configured if name.startswith("cfg") else base,
                              args.save, pol)
            cells = " ".join(f"{r[f'D+{k}']['rmse']:9.2f} " + " ".join(
                f"{_fmt(r[f'D+{k}'][f'>{t:g}']):>15s}" for t in THRESHOLDS[pol])
                for k in (1, 2, 3))
            cov = "/".join(f"{r[f'D+{k}']['coverage80']:.3f}" for k in (1, 2, 3))
            print(f"{name:14s} {pol:4s} {r['n_features']:4d} {cells} {r['train_s']:5.0f}  "
                  f"cov80 {cov}  fits {json.dumps(fits)}"
                  + (f"  best cut D+1 >150: {json.dumps(r['best_cut_150'])}"
                     if "best_cut_150" in r else ""), flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r) + "\n")
    print(f"uptime: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
