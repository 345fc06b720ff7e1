"""Archives and directories of input files: ``.gz``, ``.bz2``, ``.zip`` and folders.

Every reader takes a path to a plain file. :func:`open_sources` turns what a user names —
plain files, compressed files, zip archives, directories — into a flat list of
:class:`Member` s, each a plain file (decompressed or extracted into a private temporary
directory when needed) with the name to show in messages: ``x.csv.gz``,
``day.zip:20240101.csv``, ``inbox/day.zip:sub/20240101.csv.gz``. Each member is then read with
its own detected format (:func:`features.readers.registry.detect_format`).

Error messages of readers name the temporary file; :func:`display_message` rewrites them to the
member's display name (``x.zip:20240101.csv, line 3, column 'pm2_5': …``).

Limits: at most :data:`MAX_DEPTH` levels of nesting (a zip inside a zip inside a zip is an
error); hidden members (``.*``, ``__MACOSX/``) and directory entries are skipped; a member whose
name would escape the extraction folder is written under its base name only.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from airwarn.features.readers.common import ReaderError

__all__ = ["Member", "open_sources", "display_message", "is_archive", "ARCHIVE_SUFFIXES",
           "MAX_DEPTH"]

#: Suffixes opened as archives / compressed files (also recognised by magic bytes).
ARCHIVE_SUFFIXES = (".gz", ".bz2", ".zip")
#: Nesting limit (``a.zip`` → ``b.csv.gz`` is depth 2).
MAX_DEPTH = 3
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One readable input file.

    Attributes
    ----------
    display : str
        Name for messages and reports (``archive.zip:member.csv`` for archive members).
    path : Path
        A plain (uncompressed) file to hand to a reader; inside the temporary folder of
        :func:`open_sources` for archive members (valid only inside the ``with`` block).
    origin : Path
        The file the user named (the archive for its members).
    """

    display: str
    path: Path
    origin: Path


def _magic(p: Path) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(4)


def is_archive(path: Path) -> str | None:
    """``"gz"``, ``"bz2"`` or ``"zip"`` when ``path`` is one (by magic bytes), else None."""
    m = _magic(path)
    if m[:2] == b"\x1f\x8b":
        return "gz"
    if m[:3] == b"BZh":
        return "bz2"
    if m == b"PK\x03\x04" or m == b"PK\x05\x06":
        return "zip"
    return None


def _skip(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts)


class _Opener:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.k = 0

    def _slot(self, name: str) -> Path:
        self.k += 1
        d = self.tmp / str(self.k)
        d.mkdir()
        return d / (PurePosixPath(name).name or "member")

    def expand(self, path: Path, display: str, origin: Path, depth: int) -> list[Member]:
        kind = is_archive(path)
        if kind is None:
            return [Member(display, path, origin)]
        if depth >= MAX_DEPTH:
            raise ReaderError(f"{display}: archives nested deeper than {MAX_DEPTH} levels")
        if kind in ("gz", "bz2"):
            inner = path.name[: -len(path.suffix)] if path.suffix.lower() in (".gz", ".bz2") \
                else path.name + ".out"
            target = self._slot(inner)
            opener = gzip.open if kind == "gz" else bz2.open
            try:
                with opener(path, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except (OSError, EOFError) as exc:
                raise ReaderError(f"{display}: damaged {kind} file ({exc}); expected a complete "
                                  f"compressed file") from None
            return self.expand(target, display, origin, depth + 1)
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise ReaderError(f"{display}: damaged zip file ({exc})") from None
        out: list[Member] = []
        with zf:
            names = [i for i in zf.infolist() if not i.is_dir() and not _skip(i.filename)]
            if not names:
                raise ReaderError(f"{display}: the zip archive holds no files")
            for info in sorted(names, key=lambda i: i.filename):
                target = self._slot(info.filename)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise ReaderError(f"{display}:{info.filename}: damaged zip member "
                                      f"({exc})") from None
                out += self.expand(target, f"{display}:{info.filename}", origin, depth + 1)
        return out


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not found:
            raise FileNotFoundError(f"{path}: the directory holds no files")
        return found
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return [path]


@contextmanager
def open_sources(paths: Iterable[Path | str]) -> Iterator[list[Member]]:
    """The readable files of ``paths`` (files, compressed files, zip archives, directories).

    Directories contribute every non-hidden file directly inside them (sorted); archives
    contribute their members (sorted, recursively). Extracted members live in a temporary
    folder removed when the ``with`` block ends.

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or an empty directory.
    ReaderError
        A damaged archive or compressed file (naming it and the member).
    """
    tmp = Path(tempfile.mkdtemp(prefix="airwarn-src-"))
    try:
        op = _Opener(tmp)
        members: list[Member] = []
        for raw in paths:
            for f in _files_of(Path(raw)):
                members += op.expand(f, str(f), f, 0)
        yield members
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def display_message(message: str, members: Iterable[Member]) -> str:
    """``message`` with every temporary member path replaced by the member's display name."""
    for m in members:
        if m.path != m.origin:
            message = message.replace(str(m.path), m.display)
    return message
