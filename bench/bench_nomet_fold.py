"""Benchmark: no-met daily-model candidates scored on the hindcast's training fold only.

For each named candidate (a change to the no-met daily models: ``daily_no_met`` settings, the
no-met blends, a design-matrix variant) this runs the fold phase of the warning hindcast —
the cross-fitted out-of-fold forecasts of the training period (``--fold-scheme cross``,
:mod:`models.verify.folds`; the ``last`` fold for Beijing, as ``auto`` picks) — chooses the
trigger through the real chain on the fold (:func:`models.verify.hindcast.choose_trigger_chain`)
and prints the candidates' D+1 POD / FAR / CSI, the chosen trigger's D+1…D+3 CSI and the fold's
daily PM2.5 RMSE. It also prints the persistence and climatology baselines' D+1…D+3 colour
CSI on the same fold days through the same chain (persistence of the last observed daily AQI;
climatology of the training days with each cross-fold's protected days removed, the threshold
chosen on the training days as in the hindcast). The test period is never read.

``w6_…`` candidates (docs/notes/w6-folds.md) change configs/models.yaml *as it is* by
``_``-separated parts: ``pw0.2`` (``pooled_weight`` 0.2 at every lead day), ``pw0-0.4-0.6``
(per lead day), ``cmax0.45`` (``climatology_blend_max``), ``shrink1000``
(``interval_shrink_errors``), e.g. ``w6_pw0-0.4-0.6_cmax0.45``. The fitted boosters are memoised
in the process (``bench/_fit_cache.py``), so candidates that differ only in these settings cost
the forecast, not the training. Each row also carries the daily 10–90 % interval's coverage
(PM2.5, O3 MDA8); ``--no-chain`` skips the trigger choice through the chain; ``--case
chengdu_perfect`` runs the Chengdu cross fold with perfect-prog met (the met-mode models),
``--case beijing_perfect`` Beijing's fold with it. ``w7_…`` candidates (docs/notes/w7-leaves.md)
change the met-mode ``daily`` trees: ``m400`` (``min_data_in_leaf``), ``l15`` (``num_leaves``),
``ff0.5`` (``feature_fraction``), ``s43`` (``seed``), and ``aug6-12-18`` trains on the issues
of these local hours (the fold forecasts at 12:00), ``hub40`` fits with the Huber loss (δ in
µg/m³; one such candidate a process: the fit cache does not key on it), e.g. ``w7_m400_ff0.5``, ``w7_aug6-12-18``.
``w9_…`` candidates (docs/notes/w9-leaves.md) take the same parts, among them ``mf0.1``
(``min_data_in_leaf_fraction`` of the met-mode daily fits: the leaf size capped at that share
of a fit's rows) and ``o3mf0.06`` (the same for the O₃ fits only,
``min_data_in_leaf_fraction_met``). ``w8_…`` candidates (docs/notes/w8-trees.md) change the PM2.5 daily fits with meteorology:
``lin`` (linear trees), ``res1`` / ``res0.5`` (the target less 1 / 0.5 × the last 24 h's
mean, added back when predicting); one such candidate a process. ``w8_members`` / ``w8_mean``
(docs/notes/w8-city.md, ``--case beijing_city_…``): the city forecast from models trained on
its stations, averaged, or on its mean series. ``w10_sqrt`` / ``w10_log``
(docs/notes/w10-sqrt.md) fit the PM2.5 daily models with meteorology on √y / log(1 + y) and back
out the mean with an out-of-fold correction (σ² / Duan's smearing); one such candidate a process.

Run: ``AIRWARN_DATASETS_DIR=… OMP_NUM_THREADS=1 .venv/bin/python bench/bench_nomet_fold.py
--out /tmp/cdn/fold --candidate base --candidate …`` (``--list`` names the candidates);
w6-folds: ``… --case beijing_none --out /tmp/w6 --no-baselines --no-chain --candidate current
--candidate w6_pw0 --candidate w6_pw0.2 … --candidate w6_cmax0.6 --candidate w6_shrink3000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _fit_cache  # noqa: E402  (bench/, on sys.path as the script's folder)
from airwarn.models.verify.hindcast import (  # noqa: E402
    _Case,
    _choose_clim_probability,
    _day,
    _issue_days,
    choose_o3_probability,
    choose_trigger_chain,
    climatology_dataset,
    o3_event_scores,
    o3_forecast_events,
    persistence_dataset,
    run_chain,
    verify_chain,
)

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # domain, train_end, fold scheme, fold days (last scheme); met mode: the name's suffix
    "chengdu_none": ("chengdu_five_cities", "2013-12-31", "cross", 150),
    "beijing_none": ("beijing_multisite", "2015-02-28", "last", 365),
    # w6-folds: the same cross-fitted Chengdu fold with perfect-prog met (the met-mode models)
    "chengdu_perfect": ("chengdu_five_cities", "2013-12-31", "cross", 150),
    # w7-leaves: Beijing's fold with perfect-prog met (the hindcast's own fold phase, met mode)
    "beijing_perfect": ("beijing_multisite", "2015-02-28", "last", 365),
    # w8-city: Beijing as one city unit (北京市), perfect-prog met and none
    "beijing_city_perfect": ("beijing_city", "2015-02-28", "last", 365),
    "beijing_city_none": ("beijing_city", "2015-02-28", "last", 365),
    # w8-city: Chengdu as one city unit (成都市), its cross fold
    "chengdu_city_perfect": ("chengdu_city", "2013-12-31", "cross", 150),
    "chengdu_city_none": ("chengdu_city", "2013-12-31", "cross", 150),
}


def _no_met(**kw: Any) -> Callable[[Any], Any]:
    """A settings change of the ``daily_no_met`` LightGBM parameters."""
    def f(s: Any) -> Any:
        return s.model_copy(update={"daily_no_met": s.daily_no_met.model_copy(update=kw)})
    return f


def _top(**kw: Any) -> Callable[[Any], Any]:
    """A change of top-level model settings."""
    return lambda s: s.model_copy(update=kw)


def _delta_features(orig: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """Design patch: the partial issue day and the last 6 h against yesterday's mean
    (``pm25_today − pm25_dm1``, ``pm25_m6 − pm25_dm1``; µg/m³) — a trend the big no-met
    leaves cannot build from the separate columns."""
    def f(fe: Any, pollutant: str, lead_day: int) -> pd.DataFrame:
        df = orig(fe, pollutant, lead_day)
        if pollutant == "pm25" and "pm25_dm1" in df.columns:
            for c in ("pm25_today", "pm25_m6"):
                if c in df.columns:
                    df.insert(len(df.columns) - 1, f"{c}_vs_dm1", df[c] - df["pm25_dm1"])
        return df
    return f


#: candidate → (settings change, design patch or None, description); every change applies to
#: ``base``, the settings before the leaf cap was chosen (``configs/models.yaml`` with
#: ``daily_no_met.min_data_in_leaf_fraction`` unset), except ``current``
CANDIDATES: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "base": (lambda s: s, None, "configs/models.yaml before this bench's choice (no leaf cap)"),
    "current": (lambda s: s, None, "configs/models.yaml as it is (not reset to base)"),
    "leaf100": (_no_met(min_data_in_leaf=100), None, "daily_no_met min_data_in_leaf 100"),
    "leaf50_7": (_no_met(min_data_in_leaf=50, num_leaves=7), None,
                 "daily_no_met min_data_in_leaf 50, 7 leaves"),
    "nobias": (_top(bias_lead_days_no_met={"pm25": [2, 3], "pm10": [2, 3], "o3": [1, 2, 3]}),
               None, "no running bias at D+1 (PM)"),
    "noclim": (_top(climatology_blend="never"), None, "no climatology blend"),
    "nolinear": (_top(linear_recalibration=False), None, "no linear recalibration"),
    "noevent": (_top(event_weight={}), None, "no event weight"),
    "pooled1": (_top(pooled_weight={1: 0.5, 2: 0.4, 3: 0.6}), None,
                "D+1 = ½ per-lead-day + ½ pooled model (pooled: 3× the rows)"),
    "pooled1_full": (_top(pooled_weight={1: 1.0, 2: 0.4, 3: 0.6}), None,
                     "D+1 from the pooled model only"),
    "pooled1_nolin": (lambda s: _top(linear_recalibration=False)(
        _top(pooled_weight={1: 0.5, 2: 0.4, 3: 0.6})(s)), None, "pooled1 + nolinear"),
    "frac05": (_no_met(min_data_in_leaf_fraction=0.05), None,
               "daily_no_met min_data_in_leaf capped at 5 % of a fit's rows"),
    "frac10": (_no_met(min_data_in_leaf_fraction=0.10), None,
               "daily_no_met min_data_in_leaf capped at 10 % of a fit's rows"),
    "frac20": (_no_met(min_data_in_leaf_fraction=0.20), None,
               "daily_no_met min_data_in_leaf capped at 20 % of a fit's rows"),
    "persist": (_top(persistence_blend="no_met"), None,
                "blend with the last observed daily value, weight chosen out of fold"),
    "frac10_persist": (lambda s: _top(persistence_blend="no_met")(
        _no_met(min_data_in_leaf_fraction=0.10)(s)), None, "frac10 + persist"),
    "frac05_persist": (lambda s: _top(persistence_blend="no_met")(
        _no_met(min_data_in_leaf_fraction=0.05)(s)), None, "frac05 + persist"),
    "frac20_persist": (lambda s: _top(persistence_blend="no_met")(
        _no_met(min_data_in_leaf_fraction=0.20)(s)), None, "frac20 + persist"),
    "leaf100_persist": (lambda s: _top(persistence_blend="no_met")(
        _no_met(min_data_in_leaf=100)(s)), None, "leaf100 + persist"),
    # w5-nomet: the daily_no_met settings re-chosen on Beijing's training fold (they had been
    # chosen on the Beijing 2015-16 backtest, the hindcast's test year); each keeps the 20 % cap
    "nm_wave1": (_no_met(num_boost_round=800, learning_rate=0.04, num_leaves=31,
                         min_data_in_leaf=50, n_seeds=1, min_data_in_leaf_fraction=0.2), None,
                 "daily_no_met as before wave 2 (= daily): 800 × lr 0.04 × 31 leaves × 50, 1 seed"),
    "nm_seed1": (_no_met(n_seeds=1, min_data_in_leaf_fraction=0.2), None,
                 "daily_no_met current trees (300 × 0.04 × 15 × 300), 1 seed"),
    "nm_leaf100": (_no_met(min_data_in_leaf=100, min_data_in_leaf_fraction=0.2), None,
                   "daily_no_met 300 × 0.04 × 15 leaves × 100 rows, 5 seeds"),
    "nm_31x100": (_no_met(num_leaves=31, min_data_in_leaf=100, min_data_in_leaf_fraction=0.2),
                  None, "daily_no_met 300 × 0.04 × 31 leaves × 100 rows, 5 seeds"),
    "nm_leaf600": (_no_met(min_data_in_leaf=600, min_data_in_leaf_fraction=0.2), None,
                   "daily_no_met 300 × 0.04 × 15 leaves × 600 rows, 5 seeds"),
    "nm_leaf1200": (_no_met(min_data_in_leaf=1200, min_data_in_leaf_fraction=0.2), None,
                    "daily_no_met 300 × 0.04 × 15 leaves × 1200 rows, 5 seeds"),
    "leaf100_persist_delta": (lambda s: _top(persistence_blend="no_met")(
        _no_met(min_data_in_leaf=100)(s)), _delta_features,
        "leaf100 + persist + partial day / last 6 h minus yesterday's mean"),
}


def _w6(name: str) -> Callable[[Any], Any]:
    """The settings change of a ``w6_…`` candidate (see the module docstring)."""
    upd: dict[str, Any] = {}
    for part in name.split("_")[1:]:
        if part.startswith("pw"):
            ws = [float(x) for x in part[2:].split("-")]
            upd["pooled_weight"] = {k: ws[0] if len(ws) == 1 else ws[k - 1] for k in (1, 2, 3)}
        elif part.startswith("cmax"):
            upd["climatology_blend_max"] = float(part[4:])
        elif part.startswith("shrink"):
            upd["interval_shrink_errors"] = float(part[6:])
        else:
            raise SystemExit(f"candidate {name}: unknown part {part!r} (pw…, cmax…, shrink…)")
    return _top(**upd)


def _w7(name: str) -> Callable[[Any], Any]:
    """The settings change of a ``w7_…`` candidate: the met-mode ``daily`` trees
    (docs/notes/w7-leaves.md)."""
    upd: dict[str, Any] = {}
    o3_cap: dict[str, float] = {}
    for part in name.split("_")[1:]:
        if part.startswith("o3mf"):
            o3_cap["o3"] = float(part[4:])
        elif part.startswith("ff"):
            upd["feature_fraction"] = float(part[2:])
        elif part.startswith("mf"):
            upd["min_data_in_leaf_fraction"] = float(part[2:])
        elif part.startswith(("aug", "hub")):
            continue  # training issue hours: _train_hours; Huber loss: _huber
        elif part.startswith("s"):
            upd["seed"] = int(part[1:])
        elif part.startswith("m"):
            upd["min_data_in_leaf"] = int(part[1:])
        elif part.startswith("l"):
            upd["num_leaves"] = int(part[1:])
        else:
            raise SystemExit(f"candidate {name}: unknown part {part!r} "
                             "(m…, mf…, o3mf…, l…, ff…, s…, aug…, hub…)")
    return lambda s: s.model_copy(update={
        "daily": s.daily.model_copy(update=upd),
        **({"min_data_in_leaf_fraction_met": {**s.min_data_in_leaf_fraction_met, **o3_cap}}
           if o3_cap else {})})


@contextlib.contextmanager
def _train_hours(name: str) -> Iterator[None]:
    """A ``w7_…_aug6-12-18`` candidate trains on issues at these local hours (the fold still
    forecasts at 12:00): :func:`models.backtest.train_models_on` temporarily gets them."""
    import airwarn.models.backtest as bt

    hours = [int(h) for part in name.split("_")[1:] if part.startswith("aug")
             for h in part[3:].split("-")] if name.startswith("w7_") else []
    orig = bt.train_models_on
    if hours:
        def patched(*a: Any, **kw: Any) -> Any:
            kw["issue_hours"] = hours
            return orig(*a, **kw)
        bt.train_models_on = patched
    try:
        yield
    finally:
        bt.train_models_on = orig


@contextlib.contextmanager
def _huber(name: str) -> Iterator[None]:
    """A ``w7_hub40`` candidate fits every daily model with LightGBM's Huber loss, δ = 40 µg/m³
    (``models.lgbm._params`` temporarily patched; the fit cache does not key on it, so run such
    a candidate in a process of its own)."""
    import airwarn.models.lgbm as lg

    deltas = [float(p[3:]) for p in name.split("_")[1:] if p.startswith("hub")] \
        if name.startswith("w7_") else []
    orig = lg._params
    if deltas:
        def patched(*a: Any, **kw: Any) -> dict[str, Any]:
            out = orig(*a, **kw)
            if out["objective"] == "regression":
                out.update(objective="huber", alpha=deltas[0])
            return out
        lg._params = patched
    try:
        yield
    finally:
        lg._params = orig


def _is_pm25_met_daily(X: pd.DataFrame) -> bool:
    """Whether a design is a PM2.5 daily fit with meteorology (``lead_day`` and ``v_…`` columns,
    no hourly ``lead``, ``reg_pm25_m24``)."""
    cols = set(X.columns)
    return ("lead_day" in cols and "lead" not in cols and "reg_pm25_m24" in cols
            and any(c.startswith("v_") for c in cols))


class _ResidualBooster:
    """A booster fitted on ``y − scale · pm25_m24``; :meth:`predict` adds the base back
    (µg/m³). Only ``predict`` is offered: the fold never saves its models."""

    def __init__(self, booster: Any, scale: float, fill: float) -> None:
        self.booster, self.scale, self.fill = booster, scale, fill

    def base(self, X: pd.DataFrame) -> np.ndarray:
        m24 = X["pm25_m24"].to_numpy(dtype=float)
        return self.scale * np.where(np.isfinite(m24), m24, self.fill)

    def predict(self, X: pd.DataFrame, **kw: Any) -> np.ndarray:
        return self.booster.predict(X, **kw) + self.base(X)


def _w8_parts(name: str) -> tuple[bool, float | None]:
    """(linear leaves, residual scale) of a ``w8_…`` candidate (docs/notes/w8-trees.md);
    ``w8_members`` / ``w8_mean``: a domain's sub-regions forecast from models trained on their
    stations / on their mean series (docs/notes/w8-city.md)."""
    lin, scale = False, None
    if name in ("w8_members", "w8_mean"):
        return lin, scale
    for part in name.split("_")[1:] if name.startswith("w8_") else []:
        if part == "lin":
            lin = True
        elif part.startswith("res"):
            scale = float(part[3:])
        elif not part.startswith("s"):  # s43: the daily seed (settings change, candidate())
            raise SystemExit(f"candidate {name}: unknown part {part!r} (lin, res…, s…)")
    return lin, scale


@contextlib.contextmanager
def _w8(name: str) -> Iterator[None]:
    """A ``w8_…`` candidate changes the PM2.5 daily fits with meteorology (design with
    ``lead_day`` and ``v_…`` columns, no hourly ``lead``, ``reg_pm25_m24``): ``lin`` fits
    LightGBM's linear trees (``linear_tree``, ``linear_lambda`` 1), ``res1`` / ``res0.5`` fits
    the target minus 1 / 0.5 × the last 24 h's mean PM2.5 (``pm25_m24``, µg/m³; a missing one
    filled with the fit's median) and adds it back when predicting. ``models.lgbm.fit_booster``
    and ``_params`` are patched for the process's run (one such candidate a process)."""
    import airwarn.models.lgbm as lg

    lin, scale = _w8_parts(name)
    orig_fit, orig_params = lg.fit_booster, lg._params
    state = {"on": False}
    is_pm25_met_daily = _is_pm25_met_daily

    def fit(X: pd.DataFrame, y: np.ndarray, params: Any, weight: np.ndarray | None = None
            ) -> Any:
        if not is_pm25_met_daily(X):
            return orig_fit(X, y, params, weight)
        if scale is None:
            state["on"] = True
            try:
                return orig_fit(X, y, params, weight)
            finally:
                state["on"] = False
        m24 = X["pm25_m24"].to_numpy(dtype=float)
        fill = float(np.nanmedian(m24))
        wrap = _ResidualBooster(None, scale, fill)
        state["on"] = lin
        try:
            wrap.booster = orig_fit(X, y - wrap.base(X), params, weight)
        finally:
            state["on"] = False
        return wrap

    def params_(*a: Any, **kw: Any) -> dict[str, Any]:
        out = orig_params(*a, **kw)
        if state["on"] and lin:
            out.update(linear_tree=True, linear_lambda=1.0)
        return out

    if lin or scale is not None:
        lg.fit_booster, lg._params = fit, params_
    try:
        yield
    finally:
        lg.fit_booster, lg._params = orig_fit, orig_params


#: ``w10_…`` targets (docs/notes/w10-sqrt.md): forward transform of max(y, 0)
_W10_FORWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": lambda y: np.sqrt(np.clip(y, 0, None)),
    "log": lambda y: np.log1p(np.clip(y, 0, None)),
}


class _TransformedBooster:
    """A booster fitted on ``√y`` (``sqrt``) or ``log(1 + y)`` (``log``); :meth:`predict`
    returns the mean forecast in µg/m³: ``max(ŝ, 0)² + corr`` (``corr`` = σ², the variance of
    the out-of-fold residuals of √y) or ``max(exp(ŝ) · corr − 1, 0)`` (``corr`` = Duan's
    smearing factor of the out-of-fold residuals of log(1 + y)). Only ``predict`` is offered:
    the fold never saves its models."""

    def __init__(self, booster: Any, kind: str, corr: float) -> None:
        self.booster, self.kind, self.corr = booster, kind, corr

    def predict(self, X: pd.DataFrame, **kw: Any) -> np.ndarray:
        s = self.booster.predict(X, **kw)
        if self.kind == "sqrt":
            return np.clip(s, 0, None) ** 2 + self.corr
        return np.clip(np.exp(s) * self.corr - 1.0, 0, None)


def _w10_correction(fit: Callable[..., Any], X: pd.DataFrame, s: np.ndarray, params: Any,
                    weight: np.ndarray | None, kind: str) -> tuple[float, int]:
    """(correction, rows) of a ``w10_…`` fit on the transformed target ``s``: out-of-fold
    residuals ``s − ŝ`` from 3 folds of interleaved valid-day months (``cal_month % 3``), each
    fitted with the same parameters and weights on the other two; ``sqrt``: their variance,
    ``log``: ``mean(exp(ε − mean ε))`` (Duan's smearing). No correction (0 / 1) without
    out-of-fold residuals."""
    fold = X["cal_month"].to_numpy(dtype=float) % 3
    eps = []
    for j in np.unique(fold[np.isfinite(fold)]):
        test = fold == j
        train = ~test & np.isfinite(fold)
        ok = test & np.isfinite(s)
        if not ok.any() or np.isfinite(s[train]).sum() < 20:
            continue
        b = fit(X[train], s[train], params, None if weight is None else weight[train])
        eps.append(s[ok] - b.predict(X[ok]))
    if not eps:
        return (0.0 if kind == "sqrt" else 1.0), 0
    e = np.concatenate(eps)
    if kind == "sqrt":
        return float(np.var(e)), len(e)
    return float(np.mean(np.exp(e - e.mean()))), len(e)


def _w10_kind(name: str) -> str | None:
    """The target transform of a ``w10_…`` candidate (``sqrt`` or ``log``; ``s43``: the daily
    seed), None for any other candidate."""
    if not name.startswith("w10_"):
        return None
    kinds = [p for p in name.split("_")[1:] if p in _W10_FORWARD]
    bad = [p for p in name.split("_")[1:]
           if p not in _W10_FORWARD and not (p[:1] == "s" and p[1:].isdigit())]
    if len(kinds) != 1 or bad:
        raise SystemExit(f"candidate {name}: one of sqrt / log (and s…) expected")
    return kinds[0]


@contextlib.contextmanager
def _w10(name: str) -> Iterator[None]:
    """A ``w10_…`` candidate fits the PM2.5 daily models with meteorology on √y or log(1 + y)
    and backs the forecasts out with an out-of-fold bias correction (:class:`_TransformedBooster`,
    :func:`_w10_correction`; docs/notes/w10-sqrt.md). Sample weights stay those of the raw
    target. ``models.lgbm.fit_booster`` is patched for the process's run (one such candidate a
    process); each fit's correction is printed to stderr."""
    import airwarn.models.lgbm as lg

    kind = _w10_kind(name)
    orig_fit = lg.fit_booster

    def fit(X: pd.DataFrame, y: np.ndarray, params: Any, weight: np.ndarray | None = None
            ) -> Any:
        if not _is_pm25_met_daily(X):
            return orig_fit(X, y, params, weight)
        assert kind is not None
        s = _W10_FORWARD[kind](np.asarray(y, dtype=float))
        corr, n = _w10_correction(orig_fit, X, s, params, weight, kind)
        print(f"w10 {kind}: fit of {int(np.isfinite(s).sum())} rows, lead days "
              f"{sorted(set(X['lead_day'].astype(int)))}, out-of-fold rows {n}, "
              f"{'sigma2' if kind == 'sqrt' else 'smearing'} {corr:.4f}", file=sys.stderr,
              flush=True)
        return _TransformedBooster(orig_fit(X, s, params, weight), kind, corr)

    if kind is not None:
        lg.fit_booster = fit
    try:
        yield
    finally:
        lg.fit_booster = orig_fit


def candidate(name: str) -> tuple[Callable[[Any], Any], Any, str]:
    """(settings change, design patch, description) of a named, ``w6_…`` or ``w7_…``
    candidate."""
    if name.startswith("w6_"):
        return _w6(name), None, "configs/models.yaml as it is, with " + name[3:]
    if name.startswith(("w7_", "w9_")):
        return _w7(name), None, "configs/models.yaml as it is, daily (met) trees with " + name[3:]
    if name.startswith(("w8_", "w10_")):
        _w8_parts(name)
        _w10_kind(name)
        seeds = [int(p[1:]) for p in name.split("_")[1:] if p[:1] == "s" and p[1:].isdigit()]

        def change(s: Any) -> Any:
            return s.model_copy(update={"daily": s.daily.model_copy(
                update={"seed": seeds[0]})}) if seeds else s
        return change, None, "configs/models.yaml as it is, PM2.5 met daily fits with " \
            + name.split("_", 1)[1]
    if name not in CANDIDATES:
        raise SystemExit(f"unknown candidate {name!r} (--list)")
    return CANDIDATES[name]


@contextlib.contextmanager
def _patched_design(patch: Any) -> Iterator[None]:
    """Temporarily replace :func:`features.build.daily_design` (as the models read it)."""
    import airwarn.models.lgbm as lg

    orig = lg.daily_design
    if patch is not None:
        lg.daily_design = patch(orig)
    try:
        yield
    finally:
        lg.daily_design = orig


def fold_forecasts(case: _Case, name: str, train_end: str, scheme: str, fold_days: int,
                   out: Path, reuse: bool, met: str = "none") -> xr.Dataset:
    """The fold's forecasts of a candidate (``out/<name>/backtest.nc``, reused if present);
    ``met``: ``none`` or ``perfect`` (perfect-prog met)."""
    from airwarn.configs.model_schema import load_model_settings
    from airwarn.models.forecast import write_netcdf
    from airwarn.models.verify.folds import cross_fitted_backtest, last_fold_window

    from airwarn import configs

    d = out / name
    nc = d / "backtest.nc"
    if reuse and nc.exists():
        return xr.load_dataset(nc)
    change, patch, _ = candidate(name)
    settings = load_model_settings()
    if name != "current" and not name.startswith(("w6_", "w7_", "w8_", "w9_", "w10_")):
        # every other candidate is a change of the pre-choice settings
        settings = settings.model_copy(update={"daily_no_met": settings.daily_no_met.model_copy(
            update={"min_data_in_leaf_fraction": None})})
    settings = change(settings)
    q = list(configs.load_settings().quantiles)
    d.mkdir(parents=True, exist_ok=True)
    data = case.data
    if name in ("w8_members", "w8_mean"):  # a domain with sub-regions, trained either way
        from airwarn.models.backtest import load_domain_data

        data = load_domain_data(case.dom.model_copy(
            update={"sub_region_models": name.removeprefix("w8_")}), met=met)
    with _patched_design(patch), _train_hours(name), _huber(name), _w8(name), \
            _w10(name):
        if scheme == "cross":
            ds, info = cross_fitted_backtest(data, train_end=train_end, met=met,
                                             settings=settings, quantiles=q,
                                             pollutants=case.dom.pollutants, hourly=False)
            (d / "fold_plan.json").write_text(json.dumps(info))
        else:
            from airwarn.models.backtest import run_backtest

            f_train_end, f_start, f_end = last_fold_window(train_end, fold_days)
            ds, _ = run_backtest(data, train_end=f_train_end, test_start=f_start,
                                 test_end=f_end, issue_hour=12, met=met, settings=settings,
                                 quantiles=q, out_dir=d, pollutants=case.dom.pollutants,
                                 hourly=False)
    write_netcdf(ds, nc)
    return ds


def _obs_cube(ds: xr.Dataset, od: pd.DataFrame, obs: str) -> np.ndarray:
    """The observed daily column ``obs`` of ``od`` at the forecast days of ``ds``,
    ``(issue, region, day)`` (µg/m³, NaN = not observed)."""
    regions = [str(r) for r in np.asarray(ds["region"].values)]
    tab = od.pivot_table(index="date", columns="unit_id", values=obs, aggfunc="first")
    dates = pd.to_datetime(np.asarray(ds["date"].values).astype(str).ravel())
    ob = tab.reindex(index=dates, columns=regions).to_numpy()
    n_i, n_d = ds["date"].shape
    return ob.reshape(n_i, n_d, len(regions)).transpose(0, 2, 1)


def daily_coverage(ds: xr.Dataset, od: pd.DataFrame, qvar: str = "pm25_daily_q",
                   obs: str = "pm25") -> dict[str, float | None]:
    """Coverage of the daily 10–90 % interval (``qvar`` at 0.1 and 0.9; O3: ``o3_mda8_q``) of the
    observed daily column ``obs`` at D+1…D+3 (fraction; nominal 0.80); None without
    observations."""
    q = ds[qvar]
    lo = np.asarray(q.sel(quantile=0.1).values, dtype=float)
    hi = np.asarray(q.sel(quantile=0.9).values, dtype=float)
    ob = _obs_cube(ds, od, obs)
    out = {}
    for k in range(ob.shape[2]):
        ok = np.isfinite(ob[:, :, k]) & np.isfinite(lo[:, :, k]) & np.isfinite(hi[:, :, k])
        inside = (ob[:, :, k] >= lo[:, :, k]) & (ob[:, :, k] <= hi[:, :, k])
        out[f"D+{k + 1}"] = round(float(inside[ok].mean()), 4) if ok.any() else None
    return out


def daily_rmse(ds: xr.Dataset, od: pd.DataFrame, var: str = "pm25_daily",
               obs: str = "pm25") -> dict[str, float | None]:
    """RMSE (µg/m³) of a daily forecast ``var`` at D+1…D+3 against the observed daily column
    ``obs`` (default: PM2.5 daily mean; ``"o3_mda8"``, ``"o3_8h_max"``: O3 MDA8); None for a
    lead day without an observed forecast day (a domain without O3)."""
    ob = _obs_cube(ds, od, obs)
    n_d = ob.shape[2]
    fc = np.asarray(ds[var].values, dtype=float)
    out = {}
    for k in range(n_d):
        e = fc[:, :, k] - ob[:, :, k]
        ok = np.isfinite(e)
        out[f"D+{k + 1}"] = round(float(np.sqrt(np.mean(e[ok] ** 2))), 2) if ok.any() else None
    return out


def cross_climatology(case: _Case, fold: xr.Dataset, od_train: pd.DataFrame,
                      plan: dict[str, Any] | None) -> xr.Dataset:
    """The climatology baseline of the fold's issues: for a cross fold each fold's blocks get
    the climatology of the training days without that fold's protected days (as the models'
    climatologies); for a ``last`` fold that of the days before the fold."""
    if plan is None:
        days = _issue_days(fold)
        return climatology_dataset(fold, od_train[od_train["date"] < days.min()], case.ladder)
    from airwarn.models.verify.folds import FoldPlan, protected_days

    bl = [(b["fold"], pd.Timestamp(b["first"]), pd.Timestamp(b["last"])) for b in plan["blocks"]]
    fp = FoldPlan(pd.date_range(plan["first_issue_day"], plan["last_issue_day"]), np.zeros(0),
                  bl, plan["horizon_days"], plan["gap_days"])
    days = _issue_days(fold)
    parts = []
    for j in sorted({b[0] for b in bl}):
        sel = np.zeros(len(days), dtype=bool)
        for f, a, b in bl:
            if f == j:
                sel |= np.asarray((days >= a) & (days <= b))
        if not sel.any():
            continue
        od_j = od_train[~pd.to_datetime(od_train["date"]).isin(protected_days(fp, j))]
        parts.append(climatology_dataset(fold.isel(issue_time=np.flatnonzero(sel)), od_j,
                                         case.ladder))
    return xr.concat(parts, dim="issue_time").sortby("issue_time")


def o3_scores(ds: xr.Dataset, od: pd.DataFrame) -> dict[str, Any] | None:
    """O3 MDA8 > 215 µg/m³ CSI at D+1…D+3 of the fold: the probability threshold chosen on
    the fold (as the hindcast does) and persistence; None without O3."""
    p, _ = choose_o3_probability(ds, od)
    if p is None:
        return None
    pers = persistence_dataset(ds, od)
    m = o3_event_scores(o3_forecast_events(ds, p), ds, od)
    q = o3_event_scores(o3_forecast_events(pers, None), pers, od)
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {"probability": p, "model": [r(m[k]["csi"]) for k in ("D+1", "D+2", "D+3")],
            "persistence": [r(q[k]["csi"]) for k in ("D+1", "D+2", "D+3")]}


def chain_scores(batch: xr.Dataset, case: _Case, work: Path, first: Any, last: Any,
                 trigger: str, p: float) -> dict[str, Any]:
    """D+1…D+3 colour POD / FAR / CSI of a batch through the chain."""
    dec = run_chain(batch, case.region, work, trigger=trigger, probability=p)
    c = verify_chain(dec, case.obs_lv, first, last)["colour"]
    return {k: {m: (round(v[m], 3) if v[m] is not None else None) for m in ("pod", "far", "csi")}
            for k, v in c.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--case", choices=sorted(CASES), default="chengdu_none")
    ap.add_argument("--candidate", action="append", default=[])
    ap.add_argument("--reuse", action="store_true", help="reuse the candidates' fold forecasts")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--no-chain", action="store_true",
                    help="skip the trigger choice through the chain (RMSE, coverage, O3 only)")
    ap.add_argument("--o3-only", action="store_true",
                    help="print the O3 > 215 fold scores of the candidates' saved forecasts")
    args = ap.parse_args()
    if args.list:
        for k, (_, _, desc) in CANDIDATES.items():
            print(f"{k:14s} {desc}")
        print("w6_…          configs/models.yaml as it is with pw…/cmax…/shrink… parts")
        print("w7_…          configs/models.yaml as it is, met-mode daily trees m…/l…/ff… parts")
        print("w8_…          configs/models.yaml as it is, PM2.5 met daily fits lin / res… parts")
        print("w10_…         configs/models.yaml as it is, PM2.5 met daily fits on sqrt / log(1+y)")
        print("w9_…          as w7_…, e.g. w9_mf0.1 (met-mode leaf size capped at 10 % of a fit's rows)")
        return
    fits = _fit_cache.install()
    dom, train_end, scheme, fold_days = CASES[args.case]
    case = _Case(ROOT / "configs" / "domains" / f"{dom}.yaml", met=args.case.rsplit("_", 1)[1])
    out = args.out / args.case
    out.mkdir(parents=True, exist_ok=True)
    if args.o3_only:
        for name in args.candidate:
            print(name, o3_scores(xr.load_dataset(out / name / "backtest.nc"), case.od))
        return
    rows = []
    fold = None
    for name in args.candidate or ["base"]:
        t = time.perf_counter()
        fold = fold_forecasts(case, name, train_end, scheme, fold_days, out, args.reuse,
                              args.case.rsplit("_", 1)[1])
        t_bt = time.perf_counter() - t
        days = _issue_days(fold)
        first, last = days.min(), days.max()
        nan3 = {f"D+{k}": {"pod": None, "far": None, "csi": None} for k in (1, 2, 3)}
        if args.no_chain:
            trig, p, cand, ch = "none", 0.0, [], nan3
        else:
            trig, p, cand = choose_trigger_chain(fold, case.region, case.obs_lv, first, last,
                                                 out / name)
            ch = chain_scores(fold, case, out / name / "register_chosen.sqlite", first, last,
                              trig, p)
        has_o3 = "o3_mda8" in fold.variables and case.od["o3_8h_max"].notna().any()
        row = {"candidate": name, "trigger": trig if trig in ("median", "none") else f"P>={p:g}",
               "chosen": ch, "rmse": daily_rmse(fold, case.od),
               "coverage80": {"pm25": daily_coverage(fold, case.od),
                              "o3": daily_coverage(fold, case.od, "o3_mda8_q", "o3_8h_max")
                              if has_o3 else None},
               "fits": dict(fits),
               "rmse_o3": (daily_rmse(fold, case.od, "o3_mda8", "o3_8h_max")
                           if "o3_mda8" in fold.variables else None),
               "o3": o3_scores(fold, case.od),
               "candidates": {("median" if c["trigger"] == "median" else f"P>={c['probability']:g}"):
                              [round(c[m], 3) if c[m] is not None else None
                               for m in ("pod", "far", "csi")] for c in cand},
               "seconds": {"backtest": round(t_bt, 1),
                           "choose": round(time.perf_counter() - t - t_bt, 1)}}
        rows.append(row)
        (out / name / "fold_scores.json").write_text(json.dumps(row, indent=1))
        d1 = ch["D+1"]
        print(f"{name:14s} trigger {row['trigger']:8s} D+1 POD/FAR/CSI {d1['pod']}/{d1['far']}/"
              f"{d1['csi']}  D+2 {ch['D+2']['csi']}  D+3 {ch['D+3']['csi']}  RMSE {row['rmse']}  "
              f"{json.dumps(row['seconds'])}" + (f"  O3>215 {row['o3']}" if row["o3"] else "")
              + (f"  O3 MDA8 RMSE {row['rmse_o3']}" if row["o3"] else "")
              + f"  cov80 {json.dumps(row['coverage80'])}  fits {json.dumps(row['fits'])}",
              flush=True)
        print(f"{'':14s} fold candidates (POD, FAR, CSI): {json.dumps(row['candidates'])}",
              flush=True)
    if not args.no_baselines and fold is not None:
        days = _issue_days(fold)
        first, last = days.min(), days.max()
        od_train = case.od[case.od["date"] <= _day(train_end)]
        plan = json.loads(fold.attrs["fold"]) if "fold" in fold.attrs else None
        clim_p, _ = _choose_clim_probability(od_train, case.obs_lv, case.ladder)
        base = {"persistence": (persistence_dataset(fold, case.od), "median", 0.5),
                "climatology": (cross_climatology(case, fold, od_train, plan), "probability",
                                clim_p)}
        res = {}
        for bname, (batch, trig, p) in base.items():
            res[bname] = chain_scores(batch, case, out / f"register_{bname}.sqlite", first, last,
                                      trig, p)
            print(f"{bname:14s} ({trig}{'' if trig == 'median' else f' P>={p:g}'}) CSI D+1…D+3 "
                  + " / ".join(str(res[bname][k]["csi"]) for k in ("D+1", "D+2", "D+3"))
                  + f"  D+1 POD/FAR {res[bname]['D+1']['pod']}/{res[bname]['D+1']['far']}"
                  + f"  RMSE {daily_rmse(batch, case.od)}"
                  + (f"  O3 MDA8 RMSE {daily_rmse(batch, case.od, 'o3_mda8', 'o3_8h_max')}"
                     if "o3_mda8" in batch.variables and case.od["o3_8h_max"].notna().any()
                     else ""),
                  flush=True)
        (out / "baselines.json").write_text(json.dumps(res, indent=1))
    print(f"fold issue days {first.date()} … {last.date()} ({args.case}, {scheme}); "
          f"uptime {os.getloadavg()}")


if __name__ == "__main__":
    main()
