"""--jobs 2 hindcast: the main process takes the queued trigger candidates and baseline chains
the worker has not started (models.verify.hindcast._steal_work), each job runs exactly once,
and the candidates' results come back in candidate order. A real spawned worker process."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from airwarn.models.verify.hindcast import _steal_work
from steal_jobs import sleep_job as _job  # tests/helpers: a worker starts without airwarn


def test_steal_work_runs_every_job_once_in_candidate_order():
    main = os.getpid()
    ran_here: list[str] = []

    def here(tag: str) -> tuple[str, int]:
        ran_here.append(tag)
        return _job(tag, 0.2)

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        fold = pool.submit(_job, "fold", 1.0)
        cands = [pool.submit(_job, f"c{i}", 0.5) for i in range(5)]
        bases = {n: pool.submit(_job, n, 0.2) for n in ("persistence", "climatology")}
        rows, bases_here = _steal_work(fold, cands, lambda i: here(f"c{i}"), bases,
                                       lambda n: here(n))
        worker_bases = {n: f.result() for n, f in bases.items() if n not in bases_here}
    assert [tag for tag, _ in rows] == [f"c{i}" for i in range(5)]
    # the baselines (queued behind the candidates) ran here while the worker made the fold
    assert bases_here == {"persistence", "climatology"} and not worker_bases
    # the worker took the first candidate, this process the last; each ran in one process only
    assert rows[0][1] != main and rows[4][1] == main
    assert sorted(t for t in ran_here if t not in bases) == \
        sorted(tag for tag, pid in rows if pid == main)
    assert len(ran_here) == len(set(ran_here))
