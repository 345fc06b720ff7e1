"""A job for spawned worker processes in tests (imports only the standard library, so that a
worker starts fast): sleeps, then says which process ran it."""

from __future__ import annotations

import os
import time


def sleep_job(tag: str, seconds: float) -> tuple[str, int]:
    """Sleep ``seconds`` (s), then return ``(tag, process id)``."""
    time.sleep(seconds)
    return tag, os.getpid()
