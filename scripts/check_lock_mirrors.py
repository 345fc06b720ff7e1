"""Check a hash lock against this machine's local package mirrors (``make lock`` runs it).

pip here is configured (``pip config list``) with ``find-links`` directories and ``file://``
extra indexes. ``pip install --require-hashes`` may pick a mirrored file of a pinned version;
it passes only if that file's sha256 is among the lock's hashes (true when the mirror holds
PyPI's own wheels). Prints each mirrored file whose hash the lock lacks and exits 1, so a
mirror with its own builds is found when locking, not at install time.
Usage: python scripts/check_lock_mirrors.py requirements/dev.lock [more.lock ...]
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_locations() -> tuple[list[Path], list[Path]]:
    """(find-links directories, file:// simple-index roots) from ``pip config list``."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True, check=False).stdout
    links: list[Path] = []
    indexes: list[Path] = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values = [v for v in value.strip().strip("'\"").split() if v]
        for v in values:
            path = Path(unquote(urlparse(v).path)) if v.startswith("file://") else Path(v)
            if key.endswith(".find-links") and path.is_dir():
                links.append(path)
            elif key.endswith(("index-url", "extra-index-url")) and v.startswith("file://"):
                indexes.append(path)
    return links, indexes


def main(lock: str) -> int:
    text = Path(lock).read_text(encoding="utf-8")
    pins = {_norm(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}
    hashes = set(re.findall(r"sha256:([0-9a-f]{64})", text))
    links, indexes = pip_locations()
    bad: list[str] = []
    seen = 0
    for root in indexes:
        for name, version in pins.items():
            page = root / name / "index.html"
            if not page.is_file():
                continue
            for fname, digest in re.findall(r'href="[^"]*?([^/"#]+)#sha256=([0-9a-f]{64})',
                                            page.read_text(encoding="utf-8")):
                if fname.split("-")[1:2] == [version]:
                    seen += 1
                    if digest not in hashes:
                        bad.append(f"{root}/{name}: {fname} sha256 {digest} not in {lock}")
    for d in links:
        for f in d.iterdir():
            parts = f.name.split("-")
            if len(parts) > 1 and pins.get(_norm(parts[0])) == parts[1]:
                seen += 1
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
                if digest not in hashes:
                    bad.append(f"{f}: sha256 {digest} not in {lock}")
    for line in bad:
        print("MIRROR HASH MISMATCH", line)
    print(f"{lock}: {len(pins)} pins; {seen} mirrored files of pinned versions, "
          f"{len(bad)} with a hash the lock lacks")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(max(main(lock) for lock in sys.argv[1:]))
