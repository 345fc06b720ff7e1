"""Training fanned out over worker processes: one LightGBM thread per process.

LightGBM parallelises one fit with OpenMP threads that meet at a barrier at every histogram
step. On the small design matrices of this project (tens of thousands of rows) those barriers
dominate: two threads are barely faster than one when they spin at the barriers, and slower
when they sleep (``OMP_WAIT_POLICY=PASSIVE``, models/threads.py), and a busy neighbour process
makes spinning threads wait for each other (issue 16). Independent fits in separate processes,
one thread each, have no barrier at all: on an idle 2-core machine two processes do twice the
work of one, beside a CPU-bound neighbour they share the free core without spinning.

:func:`train_pollutants` splits the training of every pollutant into two jobs — the daily
models (:func:`models.lgbm.train_pollutant` without the hourly model) and the hourly shape model
(:func:`models.lgbm.fit_hourly`, independent of the daily ones) — and runs them on
``workers`` spawned processes, largest first. The processes receive the training data once
(initializer) and return the fitted boosters (pickled as LightGBM text: exact).

The number of processes (:func:`training_workers`): the CPUs other processes leave free now
(:func:`models.threads.resolve_num_threads` of ``"auto"``), capped by ``OMP_NUM_THREADS`` and by
``AIRWARN_TRAIN_WORKERS`` when set, and by the number of jobs; 1 (in this process, the
configured threads) when a model's ``num_threads`` is an explicit number or the training is
small (:data:`MIN_PARALLEL_WORK`: starting a process costs seconds).

Every fit of a parallel training uses 1 thread, so the models do not depend on how busy the
machine was (with ``num_threads: auto`` in one process they were fitted with 1 or 2 threads,
whose floating-point sums differ in the last bits).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd
from airwarn.configs.model_schema import ModelSettings
from airwarn.features.build import IssueFeatures, Panel
from airwarn.models.lgbm import PollutantModel, fit_hourly, train_pollutant
from airwarn.models.threads import resolve_num_threads

__all__ = ["MIN_PARALLEL_WORK", "training_workers", "train_pollutants"]

log = logging.getLogger(__name__)

#: issues × units × daily boosting rounds below which training stays in one process (the demo
#: world's training: ~9 million; the test trainings: < 0.5 million)
MIN_PARALLEL_WORK = 2_000_000

_PARAM_KEYS = ("daily", "daily_no_met", "hourly")
_state: dict[str, Any] = {}


def _params(settings: ModelSettings) -> list[Any]:
    return [getattr(settings, k) for k in _PARAM_KEYS if getattr(settings, k, None) is not None]


def training_workers(settings: ModelSettings, feats: Sequence[IssueFeatures], n_jobs: int) -> int:
    """Worker processes for a training (1 = in this process; see the module docstring)."""
    if n_jobs < 2 or any(p.num_threads != "auto" for p in _params(settings)):
        return 1
    env = os.environ.get("AIRWARN_TRAIN_WORKERS", "").strip()
    if env:
        return max(1, min(int(env), n_jobs))
    work = sum(len(f.issue_times) * len(f.units) for f in feats) * settings.daily.num_boost_round
    if work < MIN_PARALLEL_WORK:
        return 1
    n = resolve_num_threads("auto")
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return max(1, min(n, n_jobs))


def _one_thread(settings: ModelSettings) -> ModelSettings:
    update = {k: getattr(settings, k).model_copy(update={"num_threads": 1})
              for k in _PARAM_KEYS if getattr(settings, k, None) is not None}
    return settings.model_copy(update=update)


def _init(obs: Panel, daily_obs: Mapping[str, pd.DataFrame], feats: Sequence[IssueFeatures],
          settings: ModelSettings) -> None:
    _state.update(obs=obs, daily_obs=daily_obs, feats=feats, settings=settings)


def _job(kind: str, pollutant: str, hourly: bool) -> tuple[Any, float]:
    t = time.perf_counter()
    s = _state
    if kind == "hourly":
        out: Any = fit_hourly(s["obs"], s["feats"], pollutant, s["settings"])
    else:
        out = train_pollutant(s["obs"], s["daily_obs"], s["feats"], pollutant, s["settings"],
                              hourly=hourly)
    return out, time.perf_counter() - t


def train_pollutants(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                     feats: Sequence[IssueFeatures], pollutants: Sequence[str],
                     settings: ModelSettings, *, hourly: bool = True,
                     workers: int | None = None,
                     progress: Callable[[str], None] | None = None) -> dict[str, PollutantModel]:
    """:func:`models.lgbm.train_pollutant` for every pollutant, on worker processes.

    Parameters
    ----------
    obs, daily_obs, feats, settings, hourly
        As for :func:`models.lgbm.train_pollutant`.
    pollutants : sequence of str
        Forecast targets to train.
    workers : int, optional
        Worker processes (default :func:`training_workers`); 1 trains in this process.
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    dict pollutant → PollutantModel
    """
    # the hourly model is a separate job unless the daily training needs it (hourly blend)
    split = hourly and not settings.hourly_blend
    jobs = [("daily", p) for p in pollutants] + ([("hourly", p) for p in pollutants]
                                                 if split else [])
    n = workers if workers is not None else training_workers(settings, feats, len(jobs))
    if n <= 1:
        return _in_process(obs, daily_obs, feats, pollutants, settings, hourly, progress)
    try:
        return _on_processes(obs, daily_obs, feats, pollutants, settings, hourly, jobs, split, n,
                             progress)
    except (BrokenProcessPool, OSError) as exc:  # a worker died (memory?) or none could start
        log.warning("training on %d processes failed (%s): training in this process", n, exc)
        if progress:
            progress(f"training processes failed ({exc}); training in this process")
        return _in_process(obs, daily_obs, feats, pollutants, settings, hourly, progress)


def _in_process(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                feats: Sequence[IssueFeatures], pollutants: Sequence[str],
                settings: ModelSettings, hourly: bool,
                progress: Callable[[str], None] | None) -> dict[str, PollutantModel]:
    out = {}
    for p in pollutants:
        if progress:
            progress(f"training {p} …")
        out[p] = train_pollutant(obs, daily_obs, feats, p, settings, hourly=hourly)
    return out


def _on_processes(obs: Panel, daily_obs: Mapping[str, pd.DataFrame],
                  feats: Sequence[IssueFeatures], pollutants: Sequence[str],
                  settings: ModelSettings, hourly: bool, jobs: list[tuple[str, str]],
                  split: bool, n: int,
                  progress: Callable[[str], None] | None) -> dict[str, PollutantModel]:
    if progress:
        progress(f"training {', '.join(pollutants)} on {n} processes (1 thread each; daily and "
                 f"hourly models as separate jobs) …")
    log.info("training %d jobs on %d processes", len(jobs), n)
    ctx = mp.get_context("spawn")  # never fork a process that may hold threads and locks
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init,
                             initargs=(obs, daily_obs, feats, _one_thread(settings))) as pool:
        futures: dict[tuple[str, str], Future] = {
            (kind, p): pool.submit(_job, kind, p, hourly and not split) for kind, p in jobs}
        done: dict[tuple[str, str], Any] = {}
        secs: dict[tuple[str, str], float] = {}
        for key, fut in futures.items():
            done[key], secs[key] = fut.result()
            if progress:
                progress(f"{key[1]} {key[0]} models fitted ({secs[key]:.0f} s)")
    out = {}
    for p in pollutants:
        model: PollutantModel = done[("daily", p)]
        if split:
            hb, hfeat, hresid = done[("hourly", p)]
            model.hourly, model.hourly_features, model.hourly_resid = hb, hfeat, hresid
            model.info["hourly_seconds"] = round(secs[("hourly", p)], 1)
        model.info["training_processes"] = n
        out[p] = model
    return out
