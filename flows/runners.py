"""Task runners for fan-out (training over pollutants, backfills over issue times).

The default is a local Dask cluster of worker *processes* (:class:`AirwarnDaskTaskRunner`): the
HDF5/netCDF-C libraries behind every NetCDF read and write are not thread-safe (two threads
opening forecast files at once can crash the interpreter), so runs that read and write NetCDF fan
out over processes. The worker processes report their task runs to the flow's own Prefect API:
the runner exports the flow's ``PREFECT_API_URL`` (the ephemeral server's, when no server is
configured) to the workers it starts — without that, each worker would start an ephemeral server
of its own. ``dask_address="tcp://host:8786"`` sends the tasks to an existing Dask cluster
instead; its workers need airwarn installed, the same data directory (a shared file system) and
``PREFECT_API_URL`` pointing at a real Prefect server.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

__all__ = ["AirwarnDaskTaskRunner", "task_runner"]

# the local cluster's start/stop chatter is not news to the operator
for _name in ("distributed", "distributed.scheduler", "distributed.worker", "distributed.core",
              "distributed.nanny", "distributed.http.proxy"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# objects captured in the task graph (panels, models) are in-process on a thread cluster
warnings.filterwarnings("ignore", message=".*Sending large graph.*")


class AirwarnDaskTaskRunner(DaskTaskRunner):
    """``DaskTaskRunner`` whose local worker processes talk to the flow's Prefect API.

    The local cluster is created lazily, on the first submission inside the flow run; at that
    moment the flow's API URL is known and is put into ``PREFECT_API_URL`` for the worker
    processes to inherit (restored when the runner exits).
    """

    _saved_env: tuple[bool, str | None] | None = None

    @property
    def client(self) -> Any:  # noqa: D102 - see DaskTaskRunner.client
        if self._client is None and self._saved_env is None:
            url = _flow_api_url()
            self._saved_env = ("PREFECT_API_URL" in os.environ,
                               os.environ.get("PREFECT_API_URL"))
            if url and not os.environ.get("PREFECT_API_URL"):
                os.environ["PREFECT_API_URL"] = url
        return DaskTaskRunner.client.fget(self)  # type: ignore[attr-defined]

    def __exit__(self, *args: Any) -> None:
        try:
            super().__exit__(*args)
        finally:
            if self._saved_env is not None:
                had, value = self._saved_env
                if had and value is not None:
                    os.environ["PREFECT_API_URL"] = value
                else:
                    os.environ.pop("PREFECT_API_URL", None)
                self._saved_env = None


def _flow_api_url() -> str | None:
    """The Prefect API URL of the running flow (its client's), or the configured one."""
    try:
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        if ctx is not None and ctx.client is not None:
            return str(ctx.client.api_url).rstrip("/")
    except Exception:  # pragma: no cover - outside a flow
        pass
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def task_runner(dask_address: str | None = None, workers: int | None = None,
                kind: str = "dask") -> Any:
    """A Prefect task runner for fan-out.

    Parameters
    ----------
    dask_address : str, optional
        Scheduler address of an existing Dask cluster (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the local cluster (default: the number of CPUs, at most 4).
    kind : {"dask", "threads"}
        ``"threads"``: Prefect's thread pool (no Dask scheduler; only for work that touches no
        NetCDF file, e.g. training).

    Returns
    -------
    prefect.task_runners.TaskRunner
    """
    n = max(1, workers or min(os.cpu_count() or 1, 4))
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=n)
    return AirwarnDaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1,
                                                 "processes": True, "dashboard_address": None})
