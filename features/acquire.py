"""Acquisition: download configured feeds into the inbox, resumably, and catalog what arrived.

``fetch_sources`` plans the URLs of every configured source (``configs/sources.yaml``) for the
cycles and hours due at ``now``, downloads what is not there yet and lands it in
``<data_dir>/inbox/<source>/…`` where the inbox (:mod:`features.inbox`) ingests it.

- **Downloads** (:func:`download`): a per-request socket timeout and wall-time limit, retries
  with exponential backoff (``backoff_s``, doubling, at most ``backoff_max_s``), resumption of a
  broken transfer with an HTTP ``Range`` request on a ``.part`` file, a size check against
  ``Content-Length`` / ``Content-Range``, a content check (GRIB: every message's own length
  field must land on its ``7777`` end marker) and an optional SHA-256 from a checksum file.
- **Asked to wait** (429/503 … with ``Retry-After``, seconds or an HTTP-date): the next retry
  waits at least that long; a wait longer than ``backoff_max_s`` ends the file's attempts at once
  (``failed``) and the host's other files are not asked for during that fetch.
- **Not yet published** (HTTP 404/410) is a normal state of a feed, not an error: the item is
  recorded ``missing`` and asked for again by the next fetch.
- **Atomic landing**: a file appears in the inbox complete or not at all (``os.replace`` of a
  verified file). The steps of a forecast cycle are held in ``inbox/.fetching/`` until every
  configured step has arrived, then the cycle's folder is renamed into the inbox in one step,
  so the store never sees half a cycle from a fetch — except at the acquisition's deadline,
  when the steps that reach the end of D+1 without a gap land as a partial cycle
  (:func:`land_partial_cycle`).
- **Catalog** (:class:`FetchCatalog`, SQLite ``<data_dir>/inbox/fetch.sqlite``): per URL the
  landing path, size (bytes), SHA-256, start and finish times (UTC), attempts, status
  (``ok held missing failed``) and the reason. URLs are stored and logged with credentials
  removed (:func:`redact_url`); header values (tokens) are never logged.

Times are UTC unless a periodic source says otherwise (its file labels, e.g. Beijing time for
CNEMC). Pure Python (``urllib``); no third-party HTTP client.
"""

from __future__ import annotations

import datetime
import email.utils
import gzip
import http.client
import logging
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from airwarn.configs.sources_schema import FetchDefaults, Source, Sources

from airwarn.core.atomic import sha256_file
from airwarn.core.runstore import RunStore

__all__ = ["feed_relpath", "FetchItem", "DownloadResult", "FetchReport", "CycleState", "FetchCatalog",
           "redact_url", "plan_source", "download", "check_grib", "check_csv", "fetch_sources",
           "cycle_states", "arrival_info", "inbox_dir", "sha256_file", "sqlite_db",
           "contiguous_step", "land_partial_cycle", "prune_stale", "STALE_PART_H",
           "RETRY_AFTER_MAX_S",
           "USER_AGENT"]

log = logging.getLogger(__name__)

USER_AGENT = "airwarn-fetch/1 (+https://github.com/airwarn)"
_CHUNK = 1 << 16
_SECRET_KEYS = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "signature",
                "auth", "apikey", "access")


def inbox_dir(data_dir: Path | str) -> Path:
    """The inbox folder, ``<data_dir>/inbox``."""
    return RunStore(data_dir).inbox_dir


def redact_url(url: str) -> str:
    """``url`` without credentials: the user-info password and the values of query parameters
    that look like keys/tokens/signatures replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{k}={'***' if any(s in k.lower() for s in _SECRET_KEYS) else v}" for k, v in pairs)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# --------------------------------------------------------------------------------------------
# planning: which URLs are due
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchItem:
    """One file to fetch.

    Attributes
    ----------
    source : str
    kind : {"nwp", "obs", "met_obs"}
    url : str
        Full URL (may carry credentials: log :func:`redact_url` of it).
    rel : str
        Landing path relative to ``inbox/<source>/``.
    cycle : Timestamp or None
        Reference time (UTC) of a cycle source's file.
    step : int or None
        Forecast step, h.
    label : Timestamp
        Time the file is about (UTC): the cycle's reference time, or a periodic file's label.
    expected : Timestamp
        When the file is normally published (UTC); lateness is measured from it.
    sha256_url : str or None
    """

    source: str
    kind: str
    url: str
    rel: str
    cycle: pd.Timestamp | None
    step: int | None
    label: pd.Timestamp
    expected: pd.Timestamp
    sha256_url: str | None = None


def _fields(t: pd.Timestamp, base: str, step: int | None = None) -> dict[str, Any]:
    return {"base": base, "yyyymmdd": t.strftime("%Y%m%d"), "yyyy": t.strftime("%Y"),
            "mm": t.strftime("%m"), "dd": t.strftime("%d"), "HH": t.strftime("%H"),
            "yyyymmddHH": t.strftime("%Y%m%d%H"), "step": step if step is not None else 0,
            "t": t.to_pydatetime()}


def _fill(template: str, values: dict[str, Any], source: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"source {source!r}: URL template {template!r} cannot be filled "
                         f"({exc}); fields: {sorted(values)}") from None


def _utc(t: Any) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def source_cycles(src: Source, now: Any) -> list[pd.Timestamp]:
    """The newest ``cycles_back`` reference times (UTC) of a cycle source due at ``now``
    (reference time + ``latency_h`` ≤ now), newest first."""
    if not src.is_cycle:
        return []
    t = _utc(now) - pd.Timedelta(hours=src.latency_h)
    day = t.floor("D")
    out: list[pd.Timestamp] = []
    while len(out) < src.cycles_back:
        for h in reversed(src.cycle_hours or []):
            c = day + pd.Timedelta(hours=h)
            if c <= t and len(out) < src.cycles_back:
                out.append(c)
        day -= pd.Timedelta(days=1)
    return out


def plan_source(src: Source, now: Any, *, base_urls: dict[str, str] | None = None
                ) -> list[FetchItem]:
    """Every file of ``src`` due at ``now`` (aware or UTC), newest first.

    Cycle sources: each step of the newest ``cycles_back`` cycles. Periodic sources: one file
    per ``every_h`` over the last ``lookback_h`` hours, labels in the source's time zone.
    """
    base = src.resolved_base(base_urls)
    items: list[FetchItem] = []
    if src.is_cycle:
        for ref in source_cycles(src, now):
            for step in src.steps or []:
                vals = _fields(ref, base, step)
                url = _fill(src.url, vals, src.name)
                name = Path(urllib.parse.urlsplit(url).path).name or f"step{step:03d}"
                rel = _fill(src.dest, vals, src.name) if src.dest else \
                    f"{ref:%Y%m%d%H}/{name}"
                items.append(FetchItem(
                    src.name, src.kind, url, rel, ref, step, ref,
                    ref + pd.Timedelta(hours=src.expected_delay_h),
                    _fill(src.sha256_url, {**vals, "url": url}, src.name)
                    if src.sha256_url else None))
        return items
    every = pd.Timedelta(hours=src.every_h or 1)
    local_now = _utc(now).tz_convert(src.timezone)
    last = (local_now - pd.Timedelta(hours=src.latency_h)).floor(every)
    n = max(1, src.lookback_h // (src.every_h or 1))
    for k in range(n):
        t = last - k * every
        vals = _fields(t, base)
        url = _fill(src.url, vals, src.name)
        name = Path(urllib.parse.urlsplit(url).path).name or f"{t:%Y%m%d%H}"
        rel = _fill(src.dest, vals, src.name) if src.dest else name
        items.append(FetchItem(src.name, src.kind, url, rel, None, None, _utc(t),
                               _utc(t) + pd.Timedelta(hours=src.expected_delay_h),
                               _fill(src.sha256_url, {**vals, "url": url}, src.name)
                               if src.sha256_url else None))
    return items


def feed_relpath(src: Source, t: Any, step: int | None = None) -> str:
    """Where a provider keeps the file of ``src`` for time ``t`` (a cycle's reference time, or a
    periodic file's label in the source's time zone) and ``step``, relative to its base URL —
    the layout a folder must have to be served as that source (the demo's feed,
    ``flows.loopback.serve_folder``). Query strings are dropped."""
    t = pd.Timestamp(t)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    t = t.tz_convert("UTC") if src.is_cycle else t.tz_convert(src.timezone)
    url = _fill(src.url, _fields(t, "", step), src.name)
    return urllib.parse.urlsplit(url).path.lstrip("/")


# --------------------------------------------------------------------------------------------
# one download
# --------------------------------------------------------------------------------------------


class _Retry(Exception):
    """A transient failure: try again after the backoff (at least ``after`` s when the server
    said so with ``Retry-After``)."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110
    10.2.3); None when absent or unreadable, 0 for a date already past."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:             # RFC 850/asctime forms: GMT by definition
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class _NotAvailable(Exception):
    """HTTP 404/410: not published (yet)."""


class _Refused(Exception):
    """A failure that retrying cannot fix (401/403, other 4xx)."""


@dataclass
class DownloadResult:
    """Outcome of :func:`download`.

    ``status``: ``ok`` (``path`` is complete and verified), ``missing`` (404/410), ``failed``
    (retries exhausted or refused; ``detail`` says why). ``size`` bytes; times UTC;
    ``retry_after`` s: the wait a server asked for (``Retry-After``) when it ended the attempts.
    """

    status: str
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    attempts: int = 0
    resumed: int = 0
    retry_after: float | None = None
    started: pd.Timestamp | None = None
    finished: pd.Timestamp | None = None
    detail: str = ""


def check_csv(path: Path | str) -> None:
    """Check that a downloaded table is whole: a header, and every row with the header's number
    of fields — a transfer cut short (a server that closes early with no ``Content-Length``)
    ends in a short row, which the readers would refuse at ingest after the URL was taken.

    UTF-8 (with or without BOM) or GB18030; comma- or tab-separated; a CMA ``tabText`` status
    line (``returnCode=…``) before the header is skipped; blank lines are ignored.

    Raises
    ------
    ValueError
        Naming the file, the line and its field count against the header's.
    """
    import csv
    import io

    p = Path(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise ValueError(f"{p}: not UTF-8 or GB18030 text; expected a CSV table") from None
    lines = text.splitlines()
    first = 1 if lines and lines[0].lstrip().startswith("returnCode") else 0
    if len(lines) <= first or not lines[first].strip():
        raise ValueError(f"{p}: no header line; expected a CSV table")
    delim = "\t" if "\t" in lines[first] and "," not in lines[first] else ","
    rows = csv.reader(io.StringIO("\n".join(lines[first:])), delimiter=delim)
    width = None
    for k, row in enumerate(rows, start=first + 1):
        if not row or not "".join(row).strip():
            continue
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ValueError(f"{p}: line {k} has {len(row)} field(s), the header {width}: "
                             f"the table was cut short or is not a CSV")


def check_grib(path: Path | str) -> None:
    """Check that a file is whole GRIB (edition 1 or 2) messages, each ending in ``7777``.

    Walks the messages by their own length fields (GRIB2: 8 bytes at offset 8; GRIB1: 3 bytes
    at offset 4), so a truncated or concatenated-with-junk file is caught without decoding.

    Raises
    ------
    ValueError
        Naming the file, the byte offset and what was expected there.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        off, n = 0, 0
        while off < size:
            fh.seek(off)
            head = fh.read(16)
            if len(head) < 16 or head[:4] != b"GRIB":
                if n and not head.strip(b"\x00"):
                    break  # zero padding after the last message
                raise ValueError(f"{p}: expected a GRIB message at byte {off}, found "
                                 f"{head[:4]!r} ({size} bytes in the file)")
            edition = head[7]
            length = int.from_bytes(head[8:16], "big") if edition == 2 else \
                int.from_bytes(head[4:7], "big")
            if edition not in (1, 2) or length < 16:
                raise ValueError(f"{p}: GRIB message at byte {off}: edition {edition}, length "
                                 f"{length} — not a valid header")
            if off + length > size:
                raise ValueError(f"{p}: GRIB message at byte {off} says {length} bytes but "
                                 f"the file ends after {size - off} (truncated download)")
            fh.seek(off + length - 4)
            if fh.read(4) != b"7777":
                raise ValueError(f"{p}: GRIB message at byte {off} does not end with '7777' "
                                 f"at byte {off + length - 4}")
            off += length
            n += 1
    if n == 0:
        raise ValueError(f"{p}: empty file, expected GRIB messages")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects (301 302 303 307 308, as urllib does) but drop the configured headers
    (``headers_env``: tokens) when one leads to another origin — scheme, host or port — so a
    mirror or a CDN never receives a centre's credentials (what curl and requests do)."""

    _KEEP = ("user-agent", "range", "accept-encoding")

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(req.full_url):
            for name in [k for k in new.headers if k.lower() not in self._KEEP]:
                del new.headers[name]
        return new


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), _RedirectHandler)
    return urllib.request.build_opener(_RedirectHandler)


def _headers(headers_env: dict[str, str]) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    for name, env in headers_env.items():
        val = os.environ.get(env)
        if val:
            out[name] = val
    return out


def _fetch_small(url: str, headers: dict[str, str], timeout: float) -> bytes:
    with _opener(url).open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        return r.read(1 << 20)


_HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")


def _html_page(url: str, head: bytes, content_type: str) -> str | None:
    """What to say when a body whose first bytes are ``head`` is an HTML page (a portal's error
    or maintenance page answered with 200) and ``url`` does not name an HTML file; else None."""
    if urllib.parse.urlsplit(url).path.lower().endswith((".htm", ".html")):
        return None
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if content_type not in _HTML_TYPES and not start.startswith(_HTML_STARTS):
        return None
    low = head.lower()
    a, b = low.find(b"<title>"), low.find(b"</title>")
    title = " ".join(head[a + 7:b].decode("utf-8", "replace").split())[:80] if 0 <= a < b else ""
    return (f"an HTML page{f' ({title!r})' if title else ''} instead of the data file "
            f"(Content-Type {content_type}) — a portal's error or maintenance page; not kept")


def _validator_path(part: Path) -> Path:
    """Where the ETag (or Last-Modified) of the response a ``.part`` file started from is kept
    (``<dest>.validator.part``: ignored by the inbox, pruned with the part)."""
    return part.with_name(part.name.removesuffix(".part") + ".validator.part")


def _keep_validator(path: Path, etag: str | None, last_modified: str | None) -> None:
    """Keep a strong ETag (else Last-Modified) for the ``If-Range`` of a later resume; none
    (or a weak ETag, which If-Range may not use): no file, so a resume is unconditional."""
    value = etag if etag and not etag.startswith("W/") else last_modified
    if value:
        path.write_text(value, encoding="ascii")
    else:
        path.unlink(missing_ok=True)


def _one_attempt(url: str, part: Path, headers: dict[str, str], timeout: float,
                 max_time: float) -> tuple[int, bool, str]:
    """One GET (ranged when ``part`` holds bytes). Returns (expected total size or -1,
    resumed?, the response's Content-Encoding: "" or gzip). Raises
    _Retry/_NotAvailable/_Refused."""
    have = part.stat().st_size if part.exists() else 0
    hdrs = dict(headers)
    validator = _validator_path(part)
    if have:
        hdrs["Range"] = f"bytes={have}-"
        # only if the file is still the one the part came from (else the server sends it whole)
        if validator.exists():
            hdrs["If-Range"] = validator.read_text(encoding="ascii").strip()
    t_end = time.monotonic() + max_time
    try:
        with _opener(url).open(urllib.request.Request(url, headers=hdrs), timeout=timeout) as r:
            code = r.status
            length = r.headers.get("Content-Length")
            encoding = (r.headers.get("Content-Encoding") or "").strip().lower()
            encoding = "" if encoding == "identity" else encoding
            if encoding not in ("", *_GZIP):
                raise _Refused(f"Content-Encoding {encoding!r}: not decodable here (asked for "
                               f"identity; gzip is decoded)")
            resumed = False
            if have and code == 206:
                rng = r.headers.get("Content-Range", "")  # bytes a-b/total
                try:
                    start = int(rng.split()[1].split("-")[0])
                    total_s = rng.split("/")[-1]
                    total = int(total_s) if total_s.strip() != "*" else \
                        (have + int(length) if length else -1)
                except (IndexError, ValueError):
                    part.unlink(missing_ok=True)
                    raise _Retry(f"unreadable Content-Range {rng!r}; restarting") from None
                if start != have:
                    part.unlink(missing_ok=True)
                    raise _Retry(f"server resumed at byte {start}, not {have}; restarting")
                mode, resumed = "ab", True
            else:
                mode = "wb"
                total = int(length) if length and length.isdigit() else -1
                _keep_validator(validator, r.headers.get("ETag"),
                                r.headers.get("Last-Modified"))
            first = r.read1(_CHUNK)
            html = None if resumed else _html_page(url, first, r.headers.get_content_type())
            if html:
                raise _Retry(html)
            if not first and not resumed:
                raise _Retry(f"empty answer (HTTP {code}, 0 bytes) instead of the data file")
            with open(part, mode) as fh:
                fh.write(first)
                while True:
                    if time.monotonic() > t_end:
                        raise _Retry(f"transfer longer than {max_time:g} s (max_time_s; "
                                     f"{fh.tell()} bytes of "
                                     f"{total if total >= 0 else 'an unknown size'} received)")
                    # read1: at most one socket read, so a server trickling bytes cannot hold
                    # the loop past the wall limit (read() waits for the whole chunk)
                    chunk = r.read1(_CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    fh.flush()      # a killed fetch keeps what arrived: the next one resumes
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise _NotAvailable(f"HTTP {exc.code}") from None
        if 300 <= exc.code < 400:       # what the redirect handler did not follow
            loc = exc.headers.get("Location") if exc.headers else None
            raise _Refused(
                f"HTTP {exc.code}: redirect loop or more than "
                f"{urllib.request.HTTPRedirectHandler.max_redirections} redirects (last to "
                f"{redact_url(urllib.parse.urljoin(exc.geturl() or url, loc))})" if loc else
                f"HTTP {exc.code} without a Location to follow") from None
        if exc.code == 416:
            part.unlink(missing_ok=True)
            raise _Retry("HTTP 416 (range not satisfiable); restarting") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            raise _Retry(f"HTTP {exc.code}" + (f" (Retry-After {after:.0f} s)"
                                               if after is not None else ""), after) from None
        raise _Refused(f"HTTP {exc.code} {exc.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException, urllib.error.URLError,
            OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise _Retry(f"no answer within {timeout:g} s") from None
        raise _Retry(f"{type(exc).__name__}: {reason}") from None
    size = part.stat().st_size
    if total >= 0 and size < total:
        raise _Retry(f"incomplete: {size} of {total} bytes; resuming")
    if total >= 0 and size > total:
        part.unlink(missing_ok=True)
        raise _Retry(f"{size} bytes, more than the {total} announced; restarting")
    return total, resumed, encoding


_GZIP = ("gzip", "x-gzip")


def _decoded(part: Path, encoding: str, dest: Path) -> Path:
    """The file holding the data of a complete transfer ``part``: ``part`` itself, or for a
    gzip ``Content-Encoding`` (a server compressing a CSV though asked for identity) its
    decompressed copy ``<dest>.gunzip.part`` — unless ``dest`` is itself a ``.gz`` file. The
    encoded ``part`` is kept until the data lands (a retry resumes it, not the decoded bytes).
    Raises _Retry when the body does not decompress."""
    if encoding not in _GZIP or dest.name.lower().endswith((".gz", ".tgz")):
        return part
    out = dest.with_name(dest.name + ".gunzip.part")
    try:
        with gzip.open(part, "rb") as src, open(out, "wb") as fh:
            shutil.copyfileobj(src, fh, _CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        part.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
        raise _Retry(f"Content-Encoding gzip, but the body does not decompress ({exc}); "
                     f"restarting") from None
    return out


def download(url: str, dest: Path | str, *, defaults: FetchDefaults | None = None,
             timeout_s: float | None = None, max_time_s: float | None = None,
             retries: int | None = None, backoff_s: float | None = None,
             backoff_max_s: float | None = None, check: str = "none",
             sha256_url: str | None = None, headers_env: dict[str, str] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> DownloadResult:
    """Download ``url`` to ``dest``, resumably and verified; ``dest`` appears only when complete.

    Parameters
    ----------
    url : str
    dest : path-like
        Final path; the transfer goes to ``<dest>.part`` beside it (kept between calls, so an
        interrupted download resumes with an HTTP ``Range`` request).
    defaults : FetchDefaults, optional
        Network settings; the keyword arguments override them.
    timeout_s : float
        Socket timeout of each request, s.
    max_time_s : float
        Wall time of one request, s.
    retries : int
        Attempts after the first (404/410 and 401/403 are not retried).
    backoff_s, backoff_max_s : float
        First retry delay and its cap, s (doubling). A ``Retry-After`` (429/503 …) lengthens
        the next delay to what the server asks; one longer than ``backoff_max_s`` ends the
        attempts at once (``failed``, ``retry_after`` set: the next fetch asks again).
    check : {"none", "grib2", "csv"}
        Content check (:func:`check_grib`, :func:`check_csv`); a failed check is retried.
    sha256_url : str, optional
        URL of a checksum file whose first token is the data's SHA-256.
    headers_env : dict, optional
        Header name → environment variable with its value (never logged).
    sleep : callable
        Used between retries (tests pass a fast one).

    Returns
    -------
    DownloadResult
    """
    d = defaults or FetchDefaults()
    timeout = timeout_s if timeout_s is not None else d.timeout_s
    max_time = max_time_s if max_time_s is not None else d.max_time_s
    n_retries = retries if retries is not None else d.retries
    b0 = backoff_s if backoff_s is not None else d.backoff_s
    bmax = backoff_max_s if backoff_max_s is not None else d.backoff_max_s
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    headers = _headers(headers_env or {})
    safe = redact_url(url)
    res = DownloadResult(status="failed", started=pd.Timestamp.now(tz="UTC"))
    reasons: list[str] = []
    after: float | None = None
    for attempt in range(n_retries + 1):
        res.attempts = attempt + 1
        if attempt:
            delay = max(min(bmax, b0 * 2 ** (attempt - 1)), after or 0.0)
            log.info("fetch %s: retry %d in %.1f s (%s)", safe, attempt, delay, reasons[-1])
            sleep(delay)
        try:
            _, resumed, encoding = _one_attempt(url, part, headers, timeout, max_time)
            res.resumed += int(resumed)
            got = _decoded(part, encoding, dest)
            if check in ("grib2", "csv"):
                try:
                    (check_grib if check == "grib2" else check_csv)(got)
                except ValueError as exc:
                    part.unlink(missing_ok=True)
                    got.unlink(missing_ok=True)
                    raise _Retry(str(exc).replace(str(got), Path(dest).name)) from None
            digest = sha256_file(got)
            if sha256_url:
                try:
                    want = _fetch_small(sha256_url, headers, timeout).split()[0].decode().lower()
                except (urllib.error.URLError, OSError, IndexError, UnicodeDecodeError) as exc:
                    raise _Retry(f"checksum file {redact_url(sha256_url)} not readable "
                                 f"({exc})") from None
                if want != digest:
                    part.unlink(missing_ok=True)
                    got.unlink(missing_ok=True)
                    raise _Retry(f"SHA-256 {digest[:12]}… differs from the published "
                                 f"{want[:12]}…")
            os.replace(got, dest)
            part.unlink(missing_ok=True)
            res.status, res.path, res.sha256 = "ok", dest, digest
            res.size = dest.stat().st_size
            res.detail = "; ".join(reasons)
            break
        except _NotAvailable as exc:
            res.status, res.detail = "missing", f"{exc}: not published yet"
            break
        except _Refused as exc:
            res.status, res.detail = "failed", f"{exc} (not retried)"
            log.warning("fetch %s refused: %s", safe, exc)
            break
        except _Retry as exc:
            reasons.append(str(exc))
            after = exc.after
            if after is not None and after > bmax:
                res.status, res.retry_after = "failed", after
                res.detail = (f"{exc}: the server asks to wait {after:.0f} s, more than "
                              f"backoff_max_s ({bmax:g} s); not asked again before then (at "
                              f"most {RETRY_AFTER_MAX_S:.0f} s)")
                log.warning("fetch %s deferred: %s", safe, res.detail)
                break
    else:
        res.detail = f"gave up after {res.attempts} attempts: " + "; ".join(reasons[-3:])
        log.warning("fetch %s failed: %s", safe, res.detail)
    if not part.exists():   # landed, or restarting from nothing: no part to resume
        _validator_path(part).unlink(missing_ok=True)
    res.finished = pd.Timestamp.now(tz="UTC")
    return res


# --------------------------------------------------------------------------------------------
# the catalog
# --------------------------------------------------------------------------------------------

@contextmanager
def sqlite_db(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A SQLite connection whose block is one transaction (committed on success, rolled back on
    an exception), closed after; rows as ``sqlite3.Row``."""
    with closing(sqlite3.connect(path, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        with db:
            yield db


_SCHEMA = """
CREATE TABLE IF NOT EXISTS fetches (
    source TEXT NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL, path TEXT,
    cycle TEXT, step INTEGER, label TEXT NOT NULL, expected TEXT,
    size INTEGER, sha256 TEXT, started TEXT, finished TEXT, attempts INTEGER NOT NULL,
    status TEXT NOT NULL, detail TEXT, PRIMARY KEY (source, url));
CREATE INDEX IF NOT EXISTS fetches_cycle ON fetches (source, cycle);
CREATE TABLE IF NOT EXISTS host_waits (
    host TEXT PRIMARY KEY, until REAL NOT NULL, why TEXT NOT NULL);
"""

#: Longest wait a server's ``Retry-After`` imposes across fetches, s: a server asking for more
#: (a misconfigured day, say) is asked again after this.
RETRY_AFTER_MAX_S = 3600.0


class FetchCatalog:
    """What arrived when: SQLite ``<data_dir>/inbox/fetch.sqlite`` (one row per source and URL,
    the URL stored without credentials). Every write is one transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> FetchCatalog:
        """The catalog of a data directory."""
        return cls(inbox_dir(data_dir) / "fetch.sqlite")

    def _db(self) -> Any:
        return sqlite_db(self.path)

    def get(self, source: str, url: str) -> dict[str, Any] | None:
        """The row of one URL, or None."""
        with self._db() as db:
            r = db.execute("SELECT * FROM fetches WHERE source=? AND url=?",
                           (source, redact_url(url))).fetchone()
        return dict(r) if r else None

    def record(self, item: FetchItem, res: DownloadResult, path: Path | None,
               status: str | None = None) -> None:
        """Insert or update the row of ``item`` (attempts add up across calls)."""
        old = self.get(item.source, item.url)
        attempts = res.attempts + (old["attempts"] if old else 0)
        iso = (lambda t: t.isoformat() if t is not None else None)  # noqa: E731
        started = old["started"] if old and old.get("started") else iso(res.started)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO fetches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item.source, item.kind, redact_url(item.url), str(path) if path else None,
                 iso(item.cycle), item.step, item.label.isoformat(), item.expected.isoformat(),
                 res.size or None, res.sha256 or None, started, iso(res.finished), attempts,
                 status or res.status, res.detail))

    def land_cycle(self, source: str, cycle: pd.Timestamp, folder: Path) -> None:
        """Mark the held files of a cycle as landed in ``folder``."""
        with self._db() as db:
            rows = db.execute("SELECT url, path FROM fetches WHERE source=? AND cycle=? "
                              "AND status='held'", (source, cycle.isoformat())).fetchall()
            for r in rows:
                db.execute("UPDATE fetches SET status='ok', path=? WHERE source=? AND url=?",
                           (str(folder / Path(r["path"]).name), source, r["url"]))

    def host_waits(self, now_s: float) -> dict[str, tuple[float, str]]:
        """Hosts that asked (``Retry-After``) not to be asked before a time still to come:
        host → (until, epoch seconds; why)."""
        with self._db() as db:
            rows = db.execute("SELECT host, until, why FROM host_waits WHERE until > ?",
                              (now_s,)).fetchall()
        return {r["host"]: (float(r["until"]), str(r["why"])) for r in rows}

    def set_host_wait(self, host: str, until_s: float, why: str) -> None:
        """Record that ``host`` is not to be asked before ``until_s`` (epoch seconds)."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO host_waits VALUES (?,?,?)", (host, until_s, why))

    def frame(self, source: str | None = None) -> pd.DataFrame:
        """The catalog as a table (times as UTC Timestamps)."""
        with self._db() as db:
            q, args = "SELECT * FROM fetches", ()
            if source:
                q, args = q + " WHERE source=?", (source,)
            df = pd.read_sql_query(q, db, params=args)
        for c in ("cycle", "label", "expected", "started", "finished"):
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
        return df


# --------------------------------------------------------------------------------------------
# fetching every source
# --------------------------------------------------------------------------------------------


@dataclass
class CycleState:
    """Where one cycle of a source stands (``steps_have`` of ``steps_total`` verified)."""

    source: str
    cycle: pd.Timestamp
    steps_total: int
    steps_have: int
    landed: bool
    arrived: pd.Timestamp | None = None   # when its last file arrived, UTC
    expected: pd.Timestamp | None = None  # when it is normally complete, UTC

    @property
    def complete(self) -> bool:
        """All configured steps are there."""
        return self.steps_have >= self.steps_total

    @property
    def late_h(self) -> float | None:
        """Hours after ``expected`` it arrived (negative: early); None if not complete."""
        if not self.complete or self.arrived is None or self.expected is None:
            return None
        return (self.arrived - self.expected).total_seconds() / 3600


@dataclass
class FetchReport:
    """What one :func:`fetch_sources` call did."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # source → status → n
    landed: list[Path] = field(default_factory=list)
    cycles: list[CycleState] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)   # redacted url: reason
    bytes: int = 0
    pruned: list[Path] = field(default_factory=list)   # stale partial downloads removed

    def add(self, source: str, status: str) -> None:
        """Count one item."""
        c = self.counts.setdefault(source, {})
        c[status] = c.get(status, 0) + 1


def cycle_states(catalog: FetchCatalog, src: Source, cycles: list[pd.Timestamp]
                 ) -> list[CycleState]:
    """State of the given cycles of a cycle source, from the catalog."""
    df = catalog.frame(src.name)
    out = []
    for ref in cycles:
        rows = df[(df["cycle"] == ref) & df["status"].isin(["ok", "held"])] if len(df) else df
        out.append(CycleState(
            src.name, ref, len(src.steps or []), int(rows["step"].nunique()) if len(rows) else 0,
            bool(len(rows)) and bool((rows["status"] == "ok").all()),
            pd.Timestamp(rows["finished"].max()) if len(rows) else None,
            ref + pd.Timedelta(hours=src.expected_delay_h)))
    return out


def _land_cycle(catalog: FetchCatalog, data_dir: Path, src: Source, ref: pd.Timestamp,
                staging: Path) -> Path:
    target = inbox_dir(data_dir) / src.name / f"{ref:%Y%m%d%H}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.replace(staging, target)        # the whole cycle appears at once
    else:                                  # a re-fetch into an existing folder: file by file
        for p in sorted(staging.iterdir()):
            os.replace(p, target / p.name)
        shutil.rmtree(staging, ignore_errors=True)
    catalog.land_cycle(src.name, ref, target)
    return target


def _in_ledger(data_dir: Path, sha256: str | None) -> bool:
    """Whether the inbox ledger (``features.inbox``) has seen this content."""
    path = inbox_dir(data_dir) / "ledger.sqlite"
    if not sha256 or not path.exists():
        return False
    try:
        with sqlite_db(path) as db:
            return db.execute("SELECT 1 FROM ingested WHERE sha256=?",
                              (sha256,)).fetchone() is not None
    except sqlite3.Error:
        return False


#: A partial download (``.part``) no longer planned is removed once it is this old (h): the file
#: it was for has left the planning window and will not be resumed.
STALE_PART_H = 24.0


def prune_stale(staging: Path, inbox: Path, *, planned_cycles: set[str], planned_dests: set[Path],
                now_s: float | None = None) -> list[Path]:
    """Remove what a source's fetches left that will never be finished.

    Parameters
    ----------
    staging : Path
        ``inbox/.fetching/<source>``: one ``YYYYMMDDHH`` folder per cycle being held.
    inbox : Path
        ``inbox/<source>``: where periodic files land (``.part`` files of broken transfers).
    planned_cycles : set of str
        ``YYYYMMDDHH`` of the cycles still planned; a held folder of an *older* cycle is
        removed (the cycle left the planning window incomplete: nothing will complete it).
    planned_dests : set of Path
        Files still planned; a ``.part`` file not for one of them and older than
        :data:`STALE_PART_H` is removed.
    now_s : float, optional
        Epoch seconds (default now).

    Returns
    -------
    list of Path
        What was removed (folders and files).
    """
    now_s = time.time() if now_s is None else now_s
    out: list[Path] = []
    oldest = min(planned_cycles) if planned_cycles else None
    if staging.is_dir() and oldest is not None:
        for d in sorted(staging.iterdir()):
            if d.is_dir() and d.name.isdigit() and len(d.name) == 10 and d.name < oldest:
                shutil.rmtree(d, ignore_errors=True)
                out.append(d)
    keep = {p.with_name(p.name + suffix) for p in planned_dests
            for suffix in (".part", ".gunzip.part", ".validator.part")}
    for root in (staging, inbox):
        if not root.is_dir():
            continue
        for f in sorted(root.rglob("*.part")):
            try:
                old = now_s - f.stat().st_mtime > STALE_PART_H * 3600
            except OSError:
                continue
            if f not in keep and old:
                f.unlink(missing_ok=True)
                out.append(f)
    return out


def fetch_sources(sources: Sources, data_dir: Path | str, *, now: Any = None,
                  names: list[str] | None = None, base_urls: dict[str, str] | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> FetchReport:
    """Fetch every due file of the enabled sources (or of ``names``, enabled or not).

    Parameters
    ----------
    sources : Sources
        ``configs/sources.yaml`` (:func:`configs.sources_schema.load_sources`).
    data_dir : path-like
        Data directory: files land in ``<data_dir>/inbox/<source>/``, the catalog is
        ``<data_dir>/inbox/fetch.sqlite``.
    now : datetime-like, optional
        The time to plan for (default: now, UTC).
    names : list of str, optional
        Sources to fetch (default: the enabled ones).
    base_urls : dict, optional
        Base URL overrides ``{name or "*": url}``.
    sleep : callable
        Between retries.

    Returns
    -------
    FetchReport
        Per-source counts by status (``ok`` new files, ``have`` already there, ``held`` steps
        of an incomplete cycle, ``missing`` not published yet, ``failed``), the files landed,
        the state of each planned cycle, and the stale partial downloads removed
        (:func:`prune_stale`).
    """
    data_dir = Path(data_dir)
    now = _utc(now if now is not None else pd.Timestamp.now(tz="UTC"))
    chosen = [sources.get(n) for n in names] if names else \
        [s for s in sources.sources if s.enabled]
    catalog = FetchCatalog.for_data_dir(data_dir)
    report = FetchReport()
    staging_root = inbox_dir(data_dir) / ".fetching"
    # hosts that asked (Retry-After) for a longer wait than the backoff allows: host → (until,
    # why); their other files are not asked for until then (not hammered), named as failed
    # (kept in the catalog: the next fetch, e.g. acquire's next poll, waits too — at most
    # RETRY_AFTER_MAX_S)
    busy: dict[str, tuple[float, str]] = catalog.host_waits(time.time())
    not_asked: dict[str, int] = {}
    for src in chosen:
        net: dict[str, Any] = {k: getattr(src, k) for k in
                               ("timeout_s", "max_time_s", "retries", "backoff_s",
                                "backoff_max_s") if getattr(src, k) is not None}
        report.counts.setdefault(src.name, {})
        items = plan_source(src, now, base_urls=base_urls)
        by_cycle: dict[pd.Timestamp, list[FetchItem]] = {}
        for it in items:
            if it.cycle is not None:
                by_cycle.setdefault(it.cycle, []).append(it)
        skip: set[str] = set()
        dests = {it.url: (staging_root / src.name / f"{it.cycle:%Y%m%d%H}" / Path(it.rel).name
                          if it.cycle is not None else inbox_dir(data_dir) / src.name / it.rel)
                 for it in items}
        for it in items:
            if it.url in skip:
                continue
            row = catalog.get(it.source, it.url)
            if row and row["status"] in ("ok", "held") and row["path"] and (
                    Path(row["path"]).exists() or _in_ledger(data_dir, row["sha256"])):
                # there, or already taken by the inbox (ingested, or quarantined: fetching it
                # again would give the same bytes)
                report.add(src.name, "have")
                continue
            host = (urllib.parse.urlsplit(it.url).hostname or "").lower()
            if host in busy and time.time() < busy[host][0]:
                catalog.record(it, DownloadResult(status="failed", detail=busy[host][1]), None)
                report.add(src.name, "failed")
                not_asked[host] = not_asked.get(host, 0) + 1
                continue
            dest = dests[it.url]
            res = download(it.url, dest, defaults=sources.defaults, check=src.check,
                           sha256_url=it.sha256_url, headers_env=src.headers_env, sleep=sleep,
                           **net)
            status = "held" if (res.status == "ok" and it.cycle is not None) else res.status
            catalog.record(it, res, res.path, status)
            report.add(src.name, "ok" if res.status == "ok" else res.status)
            if res.status == "ok":
                report.bytes += res.size
                if it.cycle is None:
                    report.landed.append(dest)
            elif res.status == "failed":
                report.failures.append(f"{src.name}: {redact_url(it.url)}: {res.detail}")
                if res.retry_after is not None:
                    wait = min(res.retry_after, RETRY_AFTER_MAX_S)
                    until = time.time() + wait
                    why = (f"not asked: {host} asked to wait {res.retry_after:.0f} s (Retry-After "
                           f"on {redact_url(it.url)}); asked again after "
                           f"{pd.Timestamp(until, unit='s', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC")
                    busy[host] = (until, why)
                    catalog.set_host_wait(host, until, why)
            if res.status == "missing" and it.cycle is not None and it.step is not None:
                # steps come out in order: a missing step means the later ones are not out yet
                for x in by_cycle[it.cycle]:
                    if x.step is not None and x.step > it.step and x.url not in skip:
                        skip.add(x.url)
                        if not catalog.get(x.source, x.url):
                            catalog.record(x, DownloadResult(
                                status="missing", detail="an earlier step is not out yet"), None)
                        report.add(src.name, "missing")
        if src.is_cycle:
            states = cycle_states(catalog, src, sorted(by_cycle, reverse=True))
            for st in states:
                staging = staging_root / src.name / f"{st.cycle:%Y%m%d%H}"
                if st.complete and not st.landed and staging.exists():
                    target = _land_cycle(catalog, data_dir, src, st.cycle, staging)
                    report.landed += sorted(target.iterdir())
                    st.landed = True
            report.cycles += states
        report.pruned += prune_stale(
            staging_root / src.name, inbox_dir(data_dir) / src.name,
            planned_cycles={f"{c:%Y%m%d%H}" for c in by_cycle}, planned_dests=set(dests.values()))
    for host, n in not_asked.items():
        report.failures.append(f"{host}: {n} more file(s) not asked for: "
                               f"{busy[host][1].removeprefix('not asked: ')}")
    return report


def contiguous_step(catalog: FetchCatalog, src: Source, ref: pd.Timestamp) -> int | None:
    """The last configured step (h) of cycle ``ref`` such that it and every step before it have
    arrived (held or landed); None when step 0 has not."""
    df = catalog.frame(src.name)
    have = set(df.loc[(df["cycle"] == ref) & df["status"].isin(["ok", "held"]), "step"]
               .dropna().astype(int)) if len(df) else set()
    last = None
    for step in sorted(src.steps or []):
        if step not in have:
            break
        last = step
    return last


def land_partial_cycle(data_dir: Path | str, src: Source, ref: pd.Timestamp, *,
                       min_step: float) -> list[Path]:
    """Land the arrived steps of an incomplete cycle (at the acquisition's deadline) when they
    run without a gap from step 0 to at least ``min_step`` hours; the steps still to come land
    into the same folder when they arrive (:func:`fetch_sources`).

    Returns
    -------
    list of Path
        The files landed (empty: too short, or nothing held).
    """
    data_dir = Path(data_dir)
    catalog = FetchCatalog.for_data_dir(data_dir)
    last = contiguous_step(catalog, src, ref)
    staging = inbox_dir(data_dir) / ".fetching" / src.name / f"{ref:%Y%m%d%H}"
    if last is None or last < min_step or not staging.exists():
        return []
    names = {p.name for p in staging.iterdir()}
    target = _land_cycle(catalog, data_dir, src, ref, staging)
    return sorted(p for p in target.iterdir() if p.name in names)


def arrival_info(data_dir: Path | str, *, cycle: Any = None, obs_last_time: Any = None
                 ) -> dict[str, Any]:
    """When the inputs a forecast used arrived, and how late, from the fetch catalog.

    Parameters
    ----------
    data_dir : path-like
    cycle : datetime-like, optional
        Reference time of the meteorology cycle the forecast used.
    obs_last_time : datetime-like, optional
        Time (UTC) of the newest observation the forecast used.

    Returns
    -------
    dict
        ``met_cycle``, ``met_source``, ``met_arrived`` (UTC ISO), ``met_late_h`` (hours after its
        normal publication, ≥ 0 means late) — and ``obs_file``, ``obs_arrived``, ``obs_late_h``
        for the newest observation file fetched up to ``obs_last_time``. Keys are absent when the
        inputs did not come through ``airwarn fetch`` (e.g. ingested by hand).
    """
    path = inbox_dir(data_dir) / "fetch.sqlite"
    if not path.exists():
        return {}
    cat = FetchCatalog(path)
    df = cat.frame()
    if df.empty:
        return {}
    out: dict[str, Any] = {}
    ok = df[df["status"] == "ok"]
    if cycle is not None:
        ref = _utc(cycle)
        rows = ok[(ok["kind"] == "nwp") & (ok["cycle"] == ref)]
        if len(rows):
            src = str(rows["source"].iloc[0])
            rows = rows[rows["source"] == src]
            arrived = pd.Timestamp(rows["finished"].max())
            expected = pd.Timestamp(rows["expected"].max())
            out.update(met_cycle=ref.isoformat(), met_source=src,
                       met_arrived=arrived.isoformat(),
                       met_late_h=round((arrived - expected).total_seconds() / 3600, 2))
    if obs_last_time is not None:
        last = _utc(obs_last_time)
        # a file labelled up to an hour after the last observation holds it (CNEMC labels end
        # the hour)
        rows = ok[(ok["kind"] == "obs") & (ok["label"] <= last + pd.Timedelta(hours=1))]
        if len(rows):
            r = rows.sort_values(["label", "finished"]).iloc[-1]
            out.update(obs_file=Path(str(r["path"])).name,
                       obs_arrived=pd.Timestamp(r["finished"]).isoformat(),
                       obs_late_h=round((pd.Timestamp(r["finished"]) -
                                         pd.Timestamp(r["expected"])).total_seconds() / 3600, 2))
    return out
