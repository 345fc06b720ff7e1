"""A folder served over HTTP on 127.0.0.1, with ``Range`` support — the demo's and the tests'
stand-in for a data provider (ECMWF open data, NOMADS, a CNEMC or CMA feed).

``serve_folder(root)`` is a context manager yielding the base URL; the server runs in a daemon
thread and stops on exit. Only files under ``root`` are served (the standard library handler's
path translation); nothing listens beyond the loopback interface.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["RangeFolderHandler", "serve_folder"]


class RangeFolderHandler(SimpleHTTPRequestHandler):
    """Serve files of a folder; answer ``Range: bytes=N-`` with ``206 Partial Content``, and
    send a strong ``ETag`` (size and modification time); an ``If-Range`` that does not match
    the file's ETag gets the whole file (``200``), as RFC 9110 §13.1.5 asks."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the fetch catalog records what was asked for

    @staticmethod
    def etag_of(path: str | Path) -> str:
        """A strong ETag of a file: its size and modification time (ns), hex."""
        st = os.stat(path)
        return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'

    def send_head(self) -> Any:  # noqa: D102 - stdlib hook
        path = self.translate_path(self.path)
        if os.path.isdir(path) or not os.path.isfile(path):
            self.send_error(404, "not found")
            return None
        size = os.path.getsize(path)
        etag = self.etag_of(path)
        rng = self.headers.get("Range", "")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            rng = ""   # the file changed since the part was fetched: send it whole
        start = 0
        if rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit():
            start = int(rng[6:].split("-")[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        fh = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller (do_GET)
        fh.seek(start)
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.end_headers()
        return fh


@contextmanager
def serve_folder(root: Path | str, handler: type[RangeFolderHandler] = RangeFolderHandler,
                 port: int = 0) -> Iterator[str]:
    """Serve ``root`` on ``http://127.0.0.1:<port>`` (0: a free port) while in the block.

    Yields
    ------
    str
        The base URL, e.g. ``http://127.0.0.1:43817``.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="airwarn-loopback",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
