"""The inbox as a Prefect flow and as ``airwarn ingest --watch DIR [--once]``.

The work is :func:`features.inbox.process_inbox`; this module prints its results and wraps one
pass as the ``inbox`` flow (deployment ``inbox-watch`` in :mod:`flows.serve`, every
:data:`INBOX_INTERVAL_MIN` minutes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from rich.console import Console

from airwarn.core.runstore import RunStore

__all__ = ["INBOX_INTERVAL_MIN", "inbox", "print_inbox_result", "run_watch"]

#: Minutes between two passes of the ``inbox-watch`` deployment.
INBOX_INTERVAL_MIN = 5


def print_inbox_result(res: Any, console: Console) -> None:
    """One line per file ingested, quarantined or deferred; a count of those already done."""
    for p, fmt, summary in res.ingested:
        console.print(f"ingested {p.name} ({fmt}): {summary}")
    for q, err in res.quarantined:
        console.print(f"[red]quarantined[/] {q} — {err}")
    for p, why in res.deferred:
        console.print(f"[yellow]left for later[/] {p.name}: {why}")
    if res.already:
        console.print(f"{len(res.already)} file(s) already ingested (same content)")
    if not (res.ingested or res.quarantined or res.deferred or res.already):
        console.print("inbox empty")


def run_watch(folder: Path, data_dir: Path, *, once: bool, interval_s: float = 30.0) -> int:
    """``airwarn ingest --watch``: one pass (``once``) or a pass every ``interval_s`` seconds.

    Returns the exit code: 0, or 1 when a pass quarantined something (``--once``).
    """
    from airwarn.features.inbox import process_inbox, watch_inbox

    console = Console()
    if once:
        res = process_inbox(folder, data_dir)
        print_inbox_result(res, console)
        return 1 if res.quarantined else 0
    console.print(f"watching {folder} every {interval_s:g} s (Ctrl-C to stop)")
    try:
        watch_inbox(folder, data_dir, interval_s=interval_s,
                    on_result=lambda r: print_inbox_result(r, console)
                    if (r.ingested or r.quarantined) else None)
    except KeyboardInterrupt:
        console.print("stopped")
    return 0


@flow(name="inbox", log_prints=False, validate_parameters=False)
def inbox(data_dir: str | None = None, folder: str | None = None) -> dict[str, Any]:
    """Ingest the new files of the inbox once (Prefect flow).

    Parameters
    ----------
    data_dir : str, optional
        Data directory (default ``AIRWARN_DATA_DIR`` / settings).
    folder : str, optional
        Folder to process (default ``<data_dir>/inbox``).

    Returns
    -------
    dict
        Counts and the quarantined files with their errors.
    """
    from airwarn.features.inbox import process_inbox

    from airwarn import configs

    ddir = Path(data_dir or configs.load_settings().data_dir)
    res = process_inbox(Path(folder) if folder else RunStore(ddir).inbox_dir, ddir)
    return {"ingested": [str(p) for p, _, _ in res.ingested],
            "already": len(res.already),
            "quarantined": {str(q): e for q, e in res.quarantined},
            "deferred": {str(p): w for p, w in res.deferred}}
