"""``airwarn fetch``: download the configured feeds (``configs/sources.yaml``) into the inbox.

The work is :func:`features.acquire.fetch_sources`; this command parses options and prints what
arrived. Exit code 0 when every due file arrived or is simply not published yet (HTTP 404), 1
when some download failed after its retries (named, URL without credentials), 2 for a bad
configuration or option, 3 when another fetch is running on the same data directory (the lock
``<data_dir>/locks/fetch.lock``: two fetches would write the same ``.part`` files).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from airwarn.core.runstore import RunStore

__all__ = ["parse_base_urls", "register"]


def parse_base_urls(values: list[str] | None) -> dict[str, str]:
    """``["NAME=URL", "*=URL"]`` → ``{name: url}`` (BadParameter naming a malformed one)."""
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, url = v.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise typer.BadParameter(f"--base-url {v!r}: expected NAME=http(s)://… or "
                                     f"'*=http(s)://…'")
        out[name.strip()] = url.strip()
    return out


def register(app: typer.Typer) -> None:
    """Add the ``fetch`` command to the CLI."""

    @app.command("fetch")
    def fetch_cmd(
        source: list[str] = typer.Option(None, "--source", "-s",
                                         help="Source to fetch (repeatable; default: the "
                                              "enabled sources of configs/sources.yaml)."),
        base_url: list[str] = typer.Option(None, "--base-url",
                                           help="Replace a source's base URL: NAME=URL, or "
                                                "'*=URL' for all ('{source}' → its name)."),
        now: str = typer.Option(None, "--now", help="Plan for this time (ISO; UTC if naive) "
                                                    "instead of the clock."),
        sources_file: Path = typer.Option(None, "--sources",
                                          help="Sources file (default configs/sources.yaml)."),
        data_dir: Path = typer.Option(None, "--data-dir",
                                      help="Data directory (default AIRWARN_DATA_DIR or ./data)."),
    ) -> None:
        """Download due files of the configured HTTP(S) feeds into <data_dir>/inbox/."""
        from airwarn.configs.schema import ConfigError
        from airwarn.configs.sources_schema import load_sources
        from airwarn.features.acquire import fetch_sources
        from airwarn.flows.locks import FETCH_LOCK, LockBusy, issue_lock

        from airwarn import configs

        console = Console()
        overrides = parse_base_urls(base_url)
        try:
            srcs = load_sources(sources_file)
            ddir = Path(data_dir or configs.load_settings().data_dir)
            names = list(source) if source else None
            if names:
                for n in names:
                    srcs.get(n)
            elif not any(s.enabled for s in srcs.sources):
                raise ConfigError("no source is enabled in the sources file; enable one or name "
                                  "it with --source (configured: "
                                  f"{', '.join(s.name for s in srcs.sources)})")
            with issue_lock(ddir, FETCH_LOCK, purpose="fetch"):
                rep = fetch_sources(srcs, ddir, now=now, names=names, base_urls=overrides)
        except (ConfigError, KeyError, ValueError) as exc:
            typer.secho(f"error: {str(exc).strip(chr(34))}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None
        except LockBusy as exc:
            typer.secho(f"error: another fetch is running on this data directory: {exc}",
                        err=True, fg=typer.colors.RED)
            raise typer.Exit(code=3) from None
        t = Table(title=f"fetch → {RunStore(ddir.resolve()).inbox_dir}")
        for c in ("source", "new", "already there", "not published yet", "failed"):
            t.add_column(c, justify="right" if c != "source" else "left")
        for name, c in rep.counts.items():
            t.add_row(name, *(str(c.get(k, 0)) for k in ("ok", "have", "missing", "failed")))
        console.print(t)
        for st in rep.cycles:
            late = f", {st.late_h:+.1f} h vs expected" if st.late_h is not None else ""
            console.print(f"{st.source} cycle {st.cycle:%Y-%m-%d %H} UTC: {st.steps_have}/"
                          f"{st.steps_total} steps"
                          f"{' — landed in the inbox' if st.landed else ''}"
                          f"{' — held until complete' if not st.complete and st.steps_have else ''}"
                          f"{late}")
        console.print(f"{len(rep.landed)} file(s) landed, {rep.bytes / 1e6:.1f} MB downloaded")
        if rep.pruned:
            console.print(f"removed {len(rep.pruned)} stale partial download(s) no longer "
                          f"planned (held cycles that left the window, .part files older than "
                          f"a day)")
        if rep.failures:
            for f in rep.failures:
                typer.secho(f"failed: {f}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=1)
