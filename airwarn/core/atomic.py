"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash mid-write never leaves a half-written product: readers see the old file or the new one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "sha256_file", "write_bytes_atomic", "write_text_atomic", "write_with"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``.

    The temporary file keeps the target's suffix (so writers that infer the format from the
    name, e.g. matplotlib or xarray, behave). On an exception it is removed and the target is
    left untouched.

    Raises
    ------
    IsADirectoryError
        ``target`` is a directory (named in the error, not the temporary file).
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; expected the path of a file to "
                                "write", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; published products must be readable like any other file (umask)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(target: Path | str, data: bytes) -> Path:
    """Write bytes to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Write text to ``target`` atomically and return the path."""
    return write_bytes_atomic(target, text.encode(encoding))


def write_with(target: Path | str, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def sha256_file(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
