"""Bench helper: memoise :func:`models.lgbm.fit_booster` within one bench process.

Candidates that differ only in settings applied after the trees are fitted (the designs'
weights ``pooled_weight``, the cap ``climatology_blend_max``, ``interval_shrink_errors``) then
re-run :func:`models.lgbm.train_pollutant` and the forecast exactly without refitting a tree:
a fit is keyed on its design matrix, target, sample weights and parameters (LightGBM runs with
``deterministic: true``, so a refit would give the same booster). Used by
``bench/bench_event_skill.py`` and ``bench/bench_nomet_fold.py`` (docs/notes/w6-folds.md).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

_STATS = {"fits": 0, "hits": 0}


def _key(X: pd.DataFrame, y: np.ndarray, params: Any, weight: np.ndarray | None) -> str:
    h = hashlib.sha1()
    h.update("\x1f".join(map(str, X.columns)).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(y, dtype=float).tobytes())
    if weight is not None:
        h.update(np.ascontiguousarray(weight, dtype=float).tobytes())
    h.update(params.model_dump_json().encode())
    return h.hexdigest()


def install() -> dict[str, int]:
    """Replace ``models.lgbm.fit_booster`` by a memoised one (idempotent); returns the
    counters ``fits`` (boosters trained) and ``hits`` (boosters reused)."""
    import airwarn.models.lgbm as lg

    if getattr(lg.fit_booster, "_memoised", False):
        return _STATS
    orig = lg.fit_booster
    cache: dict[str, Any] = {}

    def fit_booster(X: pd.DataFrame, y: np.ndarray, params: Any,
                    weight: np.ndarray | None = None) -> Any:
        k = _key(X, y, params, weight)
        if k in cache:
            _STATS["hits"] += 1
        else:
            _STATS["fits"] += 1
            cache[k] = orig(X, y, params, weight)
        return cache[k]

    fit_booster._memoised = True  # type: ignore[attr-defined]
    lg.fit_booster = fit_booster
    return _STATS
