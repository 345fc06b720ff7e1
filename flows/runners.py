"""Task runners for fan-out (training over units × pollutants, backfills over issue times).

The default is a local Dask cluster of *threads* in this process (LightGBM and numpy release the
GIL, and threads share the one Prefect API connection). ``dask_address="tcp://host:8786"`` sends
the tasks to an existing Dask cluster instead; its workers then need airwarn installed, the same
data directory (a shared file system) and ``PREFECT_API_URL`` pointing at a real Prefect server
(otherwise each worker process starts its own ephemeral server).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

__all__ = ["task_runner"]

# the local cluster's start/stop chatter is not news to the operator
for _name in ("distributed", "distributed.scheduler", "distributed.worker", "distributed.core",
              "distributed.nanny", "distributed.http.proxy"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# objects captured in the task graph (panels, models) are in-process on a thread cluster
warnings.filterwarnings("ignore", message=".*Sending large graph.*")


def task_runner(dask_address: str | None = None, workers: int | None = None,
                kind: str = "dask") -> Any:
    """A Prefect task runner for fan-out.

    Parameters
    ----------
    dask_address : str, optional
        Scheduler address of an existing Dask cluster (``tcp://host:8786``).
    workers : int, optional
        Threads of the local cluster (default: the number of CPUs).
    kind : {"dask", "threads"}
        ``"threads"``: Prefect's thread pool (no Dask scheduler), for small runs.

    Returns
    -------
    prefect.task_runners.TaskRunner
    """
    n = max(1, workers or os.cpu_count() or 1)
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=n)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": n,
                                          "processes": False, "dashboard_address": None})
