"""Input formats, found through a registry (the xarray "backends" pattern), not if-chains.

Every raw input airwarn accepts — station observations, station meteorology, gridded
meteorology (analyses and forecast cycles) — is one :class:`InputFormat`: a name, the kind of
data it carries, a ``sniff`` that recognises a file by its name and first bytes, and a ``read``
that returns the data in the store's canonical form (DESIGN.md, "Data contracts") plus its
metadata. Reader modules register their formats when imported; :func:`detect_format` asks every
registered format, most specific first.

Adding a format: write ``read_<format>`` in the module of its concept (``features/readers/``),
a ``sniff`` for it, and call :func:`register_format` at the bottom of that module; add the module
to :data:`_BUILTIN_MODULES` if it is new. Nothing else (CLI, ingest, inbox) needs to change.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from airwarn.features.readers.errors import ReaderError

__all__ = ["Kind", "InputFormat", "register_format", "formats", "get_format", "detect_format",
           "read_head", "HEAD_BYTES"]

#: What a format carries: ``obs`` station pollutant observations (canonical table), ``met_obs``
#: station meteorology (point table), ``met_grid`` gridded meteorology (analysis or forecast
#: cycle, ERA5 names and units).
Kind = Literal["obs", "met_obs", "met_grid"]

#: How many leading bytes a sniffer sees (after gzip/bz2 decompression).
HEAD_BYTES = 4096

#: Modules that register the built-in formats on import.
_BUILTIN_MODULES: tuple[str, ...] = (
    "airwarn.features.readers.stations",
    "airwarn.features.readers.met",
    "airwarn.features.readers.cnemc",
    "airwarn.features.readers.cma",
    "airwarn.features.readers.grib",
)


@dataclass(frozen=True)
class InputFormat:
    """One input format.

    Attributes
    ----------
    name : str
        Short id used by ``--format`` and in reports (e.g. ``cnemc``, ``grib2``).
    kind : Kind
        The kind of data (see :data:`Kind`).
    sniff : callable ``(path, head) -> bool``
        True when the file (its name and its first :data:`HEAD_BYTES` bytes, decompressed)
        is of this format. Must not read more of the file than it needs.
    read : callable
        The reader (``read_<format>``); its signature is the format's own.
    description : str
        One line for ``--help`` and error messages.
    priority : int
        Larger is asked first (specific formats before generic ones).
    """

    name: str
    kind: Kind
    sniff: Callable[[Path, bytes], bool]
    read: Callable[..., Any]
    description: str = ""
    priority: int = 0


_FORMATS: dict[str, InputFormat] = {}
_loaded = False


def register_format(fmt: InputFormat, *, replace: bool = False) -> InputFormat:
    """Register ``fmt`` (a name may be registered once unless ``replace``)."""
    if fmt.name in _FORMATS and not replace and _FORMATS[fmt.name] != fmt:
        raise ValueError(f"input format {fmt.name!r} is registered already")
    _FORMATS[fmt.name] = fmt
    return fmt


def _ensure_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)


def formats(kind: Kind | None = None) -> list[InputFormat]:
    """Registered formats (of one kind), most specific first."""
    _ensure_builtin()
    out = [f for f in _FORMATS.values() if kind is None or f.kind == kind]
    return sorted(out, key=lambda f: (-f.priority, f.name))


def get_format(name: str) -> InputFormat:
    """The format called ``name``.

    Raises
    ------
    ReaderError
        Naming the known formats when ``name`` is not one of them.
    """
    _ensure_builtin()
    if name not in _FORMATS:
        raise ReaderError(f"unknown format {name!r}; expected one of {sorted(_FORMATS)}")
    return _FORMATS[name]


def read_head(path: Path | str, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of a file, decompressed when it is gzip or bz2 (by magic bytes)."""
    p = Path(path)
    with open(p, "rb") as fh:
        magic = fh.read(3)
    try:
        if magic[:2] == b"\x1f\x8b":
            with gzip.open(p, "rb") as fh:
                return fh.read(n)
        if magic == b"BZh":
            with bz2.open(p, "rb") as fh:
                return fh.read(n)
    except (OSError, EOFError) as exc:
        raise ReaderError(f"{p}: damaged compressed file ({exc})") from None
    with open(p, "rb") as fh:
        return fh.read(n)


def detect_format(path: Path | str, *, kinds: tuple[Kind, ...] | None = None,
                  head: bytes | None = None) -> InputFormat:
    """Which registered format ``path`` is, from its name and first bytes.

    Parameters
    ----------
    path : path-like
    kinds : tuple of Kind, optional
        Only consider formats of these kinds.
    head : bytes, optional
        The file's first bytes if already read (else :func:`read_head`).

    Raises
    ------
    ReaderError
        When no format recognises the file (naming the file and what its start looks like).
    """
    p = Path(path)
    if head is None:
        head = read_head(p)
    if not head.strip():
        raise ReaderError(f"{p}: empty file; expected a header line and data rows")
    for fmt in formats():
        if kinds is not None and fmt.kind not in kinds:
            continue
        try:
            if fmt.sniff(p, head):
                return fmt
        except Exception:  # noqa: BLE001 - a sniffer that cannot parse the head says no
            continue
    shown = head[:60].decode("utf-8", "replace").splitlines()[0] if head else "(empty file)"
    names = [f.name for f in formats() if kinds is None or f.kind in kinds]
    raise ReaderError(f"{p}: not a format airwarn reads (starts with {shown!r}); known formats: "
                      f"{', '.join(names)}; pass --format to choose one")
