"""LightGBM thread policy: how many OpenMP threads to train with, and how idle threads wait.

Two settings keep training fast on a shared machine (issue 16: beside one CPU-bound process on
a 2-core machine, 2 LightGBM threads took 3.0× the idle time, one stuck run > 30 min):

* **Wait policy** ``OMP_WAIT_POLICY=PASSIVE`` (``omp_wait_policy`` in ``configs/models.yaml``):
  a thread that reaches an OpenMP barrier first sleeps instead of spinning. With the default
  (active) policy libgomp spins ~300 000 iterations at every barrier, and LightGBM has a barrier
  per histogram step (``MultiValBinWrapper::HistMove``): when the other core is busy, the thread
  that must finish the step is descheduled while its partner burns the core spinning. libgomp
  reads the variable once, when ``lightgbm`` loads it, so :func:`set_wait_policy` runs from
  ``models/__init__.py`` before any ``import lightgbm`` of the package. A value already in the
  environment wins (an operator can set ``OMP_WAIT_POLICY=ACTIVE``).
* **Thread count** ``num_threads: auto`` (per model in ``configs/models.yaml``): the CPUs this
  process may use (``os.sched_getaffinity``) minus the CPUs other processes keep busy right now
  (``/proc/stat`` over :data:`SAMPLE_S`; the 1-min load average elsewhere), rounded, at least 1.
  Idle 2-core machine → 2 threads; one CPU-bound neighbour → 1 thread. An integer is used as is.

Measured (``bench/bench_models_speed.py --contention``): see docs/notes/h16-stack.md.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Literal

__all__ = ["SAMPLE_S", "WAIT_POLICIES", "busy_cpus", "resolve_num_threads", "set_wait_policy",
           "threads_for"]

log = logging.getLogger(__name__)

#: seconds of /proc/stat sampling to measure how busy the other processes keep the CPUs
SAMPLE_S = 0.25
#: a measured thread count is reused for this long (s): one training fits dozens of boosters
_CACHE_S = 30.0
WAIT_POLICIES = ("PASSIVE", "ACTIVE")
_cache: tuple[float, int] | None = None


def _configured_wait_policy() -> str:
    """``omp_wait_policy`` of configs/models.yaml (read directly: runs at import time)."""
    import yaml
    from airwarn.configs import config_dir

    try:
        raw = yaml.safe_load((config_dir() / "models.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "PASSIVE"  # the settings loader reports a broken file when the models load it
    value = str(raw.get("omp_wait_policy", "PASSIVE")).upper()
    return value if value in WAIT_POLICIES else "PASSIVE"


def set_wait_policy(policy: str | None = None) -> str:
    """Set ``OMP_WAIT_POLICY`` for libgomp unless the environment already has it.

    Parameters
    ----------
    policy : {"PASSIVE", "ACTIVE"}, optional
        Default: ``omp_wait_policy`` of configs/models.yaml (itself default PASSIVE).

    Returns
    -------
    str
        The policy in effect. Logs a warning when ``lightgbm`` was imported before (libgomp has
        then read its environment already and the call changes nothing).
    """
    already = "OMP_WAIT_POLICY" in os.environ
    current = os.environ.setdefault("OMP_WAIT_POLICY",
                                    (policy or _configured_wait_policy()).upper())
    if not already and "lightgbm" in sys.modules:
        log.warning("OMP_WAIT_POLICY=%s set after lightgbm was imported: no effect", current)
    return current


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already inside user/nice
    return total - idle, total


def busy_cpus(sample_s: float = SAMPLE_S) -> float:
    """CPUs kept busy by other processes now (this one sleeps while measuring), in CPUs.

    ``/proc/stat`` busy fraction over ``sample_s`` seconds × ``os.cpu_count()``; where there is
    no /proc/stat, the 1-minute load average.
    """
    try:
        b0, t0 = _cpu_times()
        time.sleep(sample_s)
        b1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return float(os.getloadavg()[0])
    if t1 <= t0:
        return float(os.getloadavg()[0])
    return (b1 - b0) / (t1 - t0) * (os.cpu_count() or 1)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_for(busy: float, usable: int, total: int | None = None) -> int:
    """Threads to train with: the usable CPUs that other processes leave free, at least 1.

    Parameters
    ----------
    busy : float
        CPUs busy with other processes (:func:`busy_cpus`).
    usable : int
        CPUs this process may run on (affinity).
    total : int, optional
        CPUs of the machine (default ``usable``); the others' load is spread over them.

    Examples
    --------
    >>> threads_for(0.1, 2), threads_for(1.0, 2), threads_for(0.6, 2), threads_for(7.0, 2)
    (2, 1, 1, 1)
    """
    total = total or usable
    free = usable - busy * usable / total
    return max(1, min(usable, int(free + 0.5)))


def resolve_num_threads(setting: int | Literal["auto"]) -> int:
    """LightGBM ``num_threads`` for a configured value (``"auto"`` → :func:`threads_for`)."""
    global _cache
    if setting != "auto":
        return int(setting)
    now = time.monotonic()
    if _cache is not None and now - _cache[0] < _CACHE_S:
        return _cache[1]
    busy = busy_cpus()
    n = threads_for(busy, _usable_cpus(), os.cpu_count() or 1)
    log.info("LightGBM threads: %d (other processes busy %.2f CPUs, OMP_WAIT_POLICY=%s)", n, busy,
             os.environ.get("OMP_WAIT_POLICY", "unset"))
    _cache = (now, n)
    return n
