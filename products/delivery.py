"""Delivery of bulletins to duty rooms: e-mail (SMTP + STARTTLS) and group-robot webhooks.

Channels come from ``settings.delivery`` (:class:`configs.schema.DeliverySettings`):

* ``email`` — when ``smtp_host`` and ``mail_to`` are set: a multipart message (Markdown text,
  HTML alternative) with the PDF bulletins and the CAP XML attached, sent with STARTTLS and
  login (``smtplib``). The CA bundle used to verify the server may be named by
  ``AIRWARN_SMTP_CAFILE`` (else the system store).
* ``webhook`` — when ``webhook_url_env`` is set: HTTP POST of JSON in the group-robot form duty
  rooms use, ``{"msgtype": "markdown", "markdown": {"content": …}}`` (WeCom; a DingTalk URL
  gets ``{"title", "text"}``). A JSON reply with a non-zero ``errcode`` counts as a failure.

Credentials (SMTP user and password, the webhook URL, which embeds its key) come from the
environment, or from a YAML mapping in a file **outside the repository** named by
``AIRWARN_SECRETS_FILE``; they are never written to logs, products or the register (any text
recorded is redacted). :func:`check_delivery_config` verifies at start that every enabled
channel has its credentials, so a missing one fails the run before anything is sent.

Each send is retried ``retries`` times with exponential backoff (``backoff_s · 2^k`` s); every
attempt is recorded in the warnings register (``record_delivery``), and a decision already
``sent`` on a channel is never sent again there (``has_delivery``). In dry-run mode
(``dry_run: true``, the default) nothing leaves the machine: the e-mail (``.eml``) and webhook
payload (``.json``) that would be sent are written under ``<products dir>/outbox/``.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from airwarn.alerts.register import Register
from airwarn.configs.schema import ConfigError, DeliverySettings, Settings
from airwarn.features.atomic import write_bytes_atomic, write_text_atomic
from airwarn.products.common import decision_dict

__all__ = [
    "DeliveryConfigError",
    "DeliveryResult",
    "Credentials",
    "SECRETS_FILE_ENV",
    "CAFILE_ENV",
    "WEBHOOK_MAX_BYTES",
    "check_delivery_config",
    "deliver",
    "webhook_payload",
    "build_email",
]

log = logging.getLogger(__name__)

#: Environment variable naming a YAML file (outside the repository) of credentials.
SECRETS_FILE_ENV = "AIRWARN_SECRETS_FILE"
#: Environment variable naming a CA bundle to verify the SMTP server's certificate.
CAFILE_ENV = "AIRWARN_SMTP_CAFILE"
#: Size limit of a group-robot markdown message, bytes (WeCom: 4096).
WEBHOOK_MAX_BYTES = 4000
_REPO = Path(__file__).resolve().parents[1]


class DeliveryConfigError(ConfigError):
    """Delivery is misconfigured (e.g. a credential is missing); raised before sending."""


@dataclass
class DeliveryResult:
    """Outcome of one channel for one decision.

    ``status``: ``sent``, ``dry_run``, ``duplicate`` (already sent earlier, not re-sent),
    ``failed`` (after all retries) or ``unconfirmed`` (an earlier attempt was killed while
    sending: not sent again). ``detail`` is redacted (no credentials).
    """

    decision_id: str
    channel: str
    status: str
    attempts: int = 0
    detail: str = ""
    path: Path | None = None


@dataclass(repr=False)
class Credentials:
    """Secrets of the enabled channels (``repr`` never shows them)."""

    smtp_user: str | None = None
    smtp_password: str | None = None
    webhook_url: str | None = None
    channels: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """The secret strings, for redaction."""
        out = [s for s in (self.smtp_password, self.webhook_url) if s]
        if self.webhook_url:  # the key may appear alone (e.g. echoed in a server's error)
            parts = urlsplit(self.webhook_url)
            out += [p for p in (parts.query, parts.path) if len(p) > 8]
            out += [v for _, v in parse_qsl(parts.query) if len(v) >= 6]
            out += [seg for seg in parts.path.split("/") if len(seg) >= 16]
        return out

    def __repr__(self) -> str:
        return f"Credentials(channels={self.channels}, secrets=<redacted>)"


def _delivery(settings: Settings | DeliverySettings) -> DeliverySettings:
    return settings.delivery if hasattr(settings, "delivery") else settings


def _secrets_file(env: Mapping[str, str]) -> dict[str, str]:
    name = env.get(SECRETS_FILE_ENV)
    if not name:
        return {}
    path = Path(name).expanduser().resolve()
    if path == _REPO or _REPO in path.parents:
        raise DeliveryConfigError(f"{SECRETS_FILE_ENV}={path}: the secrets file must be outside "
                                  f"the repository ({_REPO})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DeliveryConfigError(f"{SECRETS_FILE_ENV}: file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise DeliveryConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise DeliveryConfigError(f"{path}: expected a mapping NAME: value at the top level")
    return {str(k): str(v) for k, v in data.items()}


def check_delivery_config(settings: Settings | DeliverySettings, env: Mapping[str, str] | None = None) -> Credentials:
    """Check the delivery settings and find the credentials of every enabled channel.

    Parameters
    ----------
    settings : Settings or DeliverySettings
    env : mapping, optional
        Environment (default ``os.environ``); a ``AIRWARN_SECRETS_FILE`` YAML file adds names.

    Returns
    -------
    Credentials
        In dry-run mode credentials are looked up but not required.

    Raises
    ------
    DeliveryConfigError
        Listing every problem: channel half-configured, credential variable unset or empty.
    """
    d = _delivery(settings)
    env = dict(os.environ if env is None else env)
    values = {**_secrets_file(env), **{k: v for k, v in env.items() if v}}
    problems: list[str] = []
    creds = Credentials()
    if d.smtp_host or d.mail_to:
        creds.channels.append("email")
        if not d.smtp_host:
            problems.append("delivery.smtp_host is not set but delivery.mail_to is")
        if not d.mail_to:
            problems.append("delivery.mail_to is empty but delivery.smtp_host is set")
        if not d.mail_from:
            problems.append("delivery.mail_from is not set (needed for e-mail)")
        creds.smtp_user = values.get(d.smtp_user_env)
        creds.smtp_password = values.get(d.smtp_password_env)
        if creds.smtp_password and not d.smtp_starttls and not d.allow_plaintext_credentials:
            problems.append(f"delivery.smtp_starttls is false but a password is set "
                            f"({d.smtp_password_env}): it would be sent in clear; set "
                            f"smtp_starttls: true (or allow_plaintext_credentials: true for a "
                            f"trusted relay)")
        if not d.dry_run:
            for var, val in ((d.smtp_user_env, creds.smtp_user),
                             (d.smtp_password_env, creds.smtp_password)):
                if not val:
                    problems.append(f"e-mail is enabled but the credential {var} is not set "
                                    f"(environment or {SECRETS_FILE_ENV})")
    if d.webhook_url_env:
        creds.channels.append("webhook")
        creds.webhook_url = values.get(d.webhook_url_env)
        if not creds.webhook_url and not d.dry_run:
            problems.append(f"webhook is enabled but {d.webhook_url_env} is not set "
                            f"(environment or {SECRETS_FILE_ENV})")
        elif creds.webhook_url and urlsplit(creds.webhook_url).scheme not in ("http", "https"):
            problems.append(f"{d.webhook_url_env} must be an http(s) URL")
        elif creds.webhook_url and urlsplit(creds.webhook_url).scheme == "http" and \
                not d.allow_http_webhook:
            problems.append(f"{d.webhook_url_env} is a plain http:// URL (its key would travel "
                            f"in clear); use https:// (or allow_http_webhook: true for a local "
                            f"relay)")
    if problems:
        raise DeliveryConfigError("delivery configuration:\n  " + "\n  ".join(problems))
    return creds


def _redact(text: str, secrets: list[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, "***")
    return text


def _title(d: Mapping[str, Any], files: Mapping[str, Path]) -> str:
    md = files.get("zh.md")
    if md and Path(md).exists():
        for line in Path(md).read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return f"重污染天气预警 {d['decision_id']}"


def _clip_utf8(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    out, size = [], 0
    note = "\n\n……（全文见附件/邮件 full text in the e-mail）"
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if size + n + len(note.encode("utf-8")) > limit:
            break
        out.append(line)
        size += n
    return "".join(out).rstrip() + note


def webhook_payload(decision: Any, files: Mapping[str, Path], url: str | None = None) -> dict:
    """JSON body of a group-robot markdown message (WeCom form; DingTalk form for its URLs).

    The Chinese Markdown bulletin, clipped to :data:`WEBHOOK_MAX_BYTES` at a line boundary.
    """
    d = decision_dict(decision)
    md_path = files.get("zh.md")
    text = Path(md_path).read_text(encoding="utf-8") if md_path else _title(d, files)
    text = _clip_utf8(text, WEBHOOK_MAX_BYTES)
    if url and "dingtalk" in (urlsplit(url).hostname or ""):
        return {"msgtype": "markdown", "markdown": {"title": _title(d, files), "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


def build_email(decision: Any, files: Mapping[str, Path], settings: Settings | DeliverySettings
                ) -> EmailMessage:
    """The e-mail of a bulletin: Markdown text (zh + en), HTML alternative, PDFs and CAP attached."""
    d = decision_dict(decision)
    ds = _delivery(settings)
    msg = EmailMessage()
    msg["Subject"] = _title(d, files)
    msg["From"] = ds.mail_from or "airwarn@localhost"
    msg["To"] = ", ".join(ds.mail_to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=str(abs(hash(d["decision_id"])) % 10**8),
                                   domain="airwarn.invalid")
    msg["X-Airwarn-Decision"] = str(d["decision_id"]).replace("\n", " ")[:200]
    body = []
    for key in ("zh.md", "en.md"):
        if files.get(key) and Path(files[key]).exists():
            body.append(Path(files[key]).read_text(encoding="utf-8"))
    msg.set_content("\n\n---\n\n".join(body) or msg["Subject"])
    if files.get("zh.html") and Path(files["zh.html"]).exists():
        msg.add_alternative(Path(files["zh.html"]).read_text(encoding="utf-8"), subtype="html")
    for key, (maintype, subtype) in (("zh.pdf", ("application", "pdf")),
                                     ("en.pdf", ("application", "pdf")),
                                     ("cap.xml", ("application", "cap+xml"))):
        p = files.get(key)
        if p and Path(p).exists():
            msg.add_attachment(Path(p).read_bytes(), maintype=maintype, subtype=subtype,
                               filename=Path(p).name)
    return msg


def _ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    cafile = env.get(CAFILE_ENV)
    return ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()


def _send_email(msg: EmailMessage, d: DeliverySettings, creds: Credentials,
                env: Mapping[str, str], timeout: float) -> str:
    with smtplib.SMTP(d.smtp_host, d.smtp_port, timeout=timeout) as smtp:
        smtp.ehlo()
        if d.smtp_starttls:
            smtp.starttls(context=_ssl_context(env))
            smtp.ehlo()
        if creds.smtp_user and creds.smtp_password:
            smtp.login(creds.smtp_user, creds.smtp_password)
        refused = smtp.send_message(msg)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return f"sent to {len(d.mail_to)} recipient(s) via {d.smtp_host}:{d.smtp_port}"


def _send_webhook(payload: dict, url: str, timeout: float) -> str:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) checked
        body = resp.read(65536)
        status = resp.status
    try:
        reply = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        reply = {}
    if isinstance(reply, dict) and reply.get("errcode", 0) not in (0, "0"):
        raise RuntimeError(f"webhook answered errcode {reply.get('errcode')}: "
                           f"{str(reply.get('errmsg', ''))[:200]}")
    return f"HTTP {status} from {urlsplit(url).hostname}"


def _attempts(fn: Callable[[], str], retries: int, backoff_s: float,
              sleep: Callable[[float], None], on_fail: Callable[[int, str], None]
              ) -> tuple[bool, int, str]:
    detail = ""
    for k in range(retries + 1):
        try:
            return True, k + 1, fn()
        except (OSError, smtplib.SMTPException, urllib.error.URLError, RuntimeError,
                ValueError) as exc:
            detail = f"{exc.__class__.__name__}: {exc}"
            on_fail(k + 1, detail)
            if k < retries:
                sleep(backoff_s * 2**k)
    return False, retries + 1, detail


def deliver(decision: Any, files: Mapping[str, Path], settings: Settings | DeliverySettings,
            register: Register, *,
            env: Mapping[str, str] | None = None, outbox: Path | str | None = None,
            sleep: Callable[[float], None] = time.sleep, timeout: float = 20.0
            ) -> list[DeliveryResult]:
    """Send one decision's bulletins on every enabled channel (or write them, in dry run).

    Parameters
    ----------
    decision : WarningDecision or dict
    files : mapping
        ``render_bulletins`` output (keys ``zh.md zh.html zh.pdf en.pdf cap.xml`` …).
    settings : Settings or DeliverySettings
    register : alerts.register.Register
        Records every attempt; a decision already ``sent`` on a channel is skipped.
    env : mapping, optional
        Environment holding the credentials (default ``os.environ``).
    outbox : path-like, optional
        Dry-run output directory (default ``<dir of the bulletin files>/outbox``).
    sleep : callable
        Sleep between retries, seconds (injectable).
    timeout : float
        Network timeout per attempt, seconds.

    Returns
    -------
    list of DeliveryResult
        One per enabled channel.

    Raises
    ------
    DeliveryConfigError
        Before any send, when a channel lacks a credential.
    """
    d = decision_dict(decision)
    ds = _delivery(settings)
    env = dict(os.environ if env is None else env)
    creds = check_delivery_config(ds, env)
    secrets = creds.secrets()
    did = str(d["decision_id"])
    results: list[DeliveryResult] = []
    if ds.dry_run:
        base = Path(outbox) if outbox is not None else (
            Path(next(iter(files.values()))).parent / "outbox" if files else Path("outbox"))
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in did)[:120]
    for channel in creds.channels:
        if register is not None and register.has_delivery(did, channel):
            log.info("delivery %s/%s: already sent, not sent again", did, channel)
            results.append(DeliveryResult(did, channel, "duplicate", 0, "already sent"))
            continue
        if ds.dry_run:
            if channel == "email":
                path = write_bytes_atomic(base / f"{stem}.email.eml",
                                          build_email(d, files, ds).as_bytes())
            else:
                body = {"url": "<from " + str(ds.webhook_url_env) + ", not shown>",
                        "payload": webhook_payload(d, files, creds.webhook_url)}
                path = write_text_atomic(base / f"{stem}.webhook.json",
                                         json.dumps(body, ensure_ascii=False, indent=2))
            detail = f"dry run: written to {path}"
            if register is not None:
                register.record_delivery(did, channel, "dry_run", _redact(detail, secrets))
            log.info("delivery %s/%s: %s", did, channel, detail)
            results.append(DeliveryResult(did, channel, "dry_run", 0, detail, path))
            continue

        last = getattr(register, "last_delivery", None) if register is not None else None
        if last is not None and last(did, channel) == "sending":
            # an earlier attempt was killed between sending and recording: the recipients may
            # have it already; never risk a second copy — the operator confirms
            detail = ("an earlier attempt was interrupted while sending (kill, power loss): not "
                      "sent again; confirm with the recipients, then record it")
            log.error("delivery %s/%s: %s", did, channel, detail)
            results.append(DeliveryResult(did, channel, "unconfirmed", 0, detail))
            continue
        if register is not None:
            register.record_delivery(did, channel, "sending", "about to send")

        def on_fail(attempt: int, detail: str, channel: str = channel) -> None:
            clean = _redact(detail, secrets)
            log.warning("delivery %s/%s attempt %d failed: %s", did, channel, attempt, clean)
            if register is not None:
                register.record_delivery(did, channel, "failed", clean)

        if channel == "email":
            msg = build_email(d, files, ds)
            ok, n, detail = _attempts(lambda msg=msg: _send_email(msg, ds, creds, env, timeout),
                                      ds.retries, ds.backoff_s, sleep, on_fail)
        else:
            payload = webhook_payload(d, files, creds.webhook_url)
            url = str(creds.webhook_url)
            ok, n, detail = _attempts(lambda p=payload, u=url: _send_webhook(p, u, timeout),
                                      ds.retries,
                                      ds.backoff_s, sleep, on_fail)
        detail = _redact(detail, secrets)
        if ok:
            if register is not None:
                register.record_delivery(did, channel, "sent", detail)
            log.info("delivery %s/%s: %s (attempt %d)", did, channel, detail, n)
        else:
            log.error("delivery %s/%s failed after %d attempts: %s", did, channel, n, detail)
        results.append(DeliveryResult(did, channel, "sent" if ok else "failed", n, detail))
    return results
