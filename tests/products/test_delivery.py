"""Delivery: real SMTP (STARTTLS + AUTH) and HTTP servers on 127.0.0.1, retries, no duplicates,
dry run, secrets never leaked, missing credentials refused at start."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import logging
import socket
import ssl
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from airwarn.alerts.register import Register
from airwarn.configs.schema import DeliverySettings
from airwarn.products.bulletin import render_bulletins
from airwarn.products.delivery import (
    DeliveryConfigError,
    check_delivery_config,
    deliver,
    webhook_payload,
)
from products_fixtures import make_decision

from airwarn import configs

PASSWORD = "pw-S3cr3t-7f1e9c"  # noqa: S105 - test credential
USER = "duty@example.test"
HOOK_KEY = "key-93b1c0ffee4d2a77"


# ----------------------------------------------------------------------------- servers
@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed certificate for 127.0.0.1 (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "cert.pem", d / "key.pem"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        self.logins.append((auth_data.login, b"ok" if ok else b"bad"))
        return AuthResult(success=ok)


@pytest.fixture
def smtp_server(tls_files):
    cert, key = tls_files
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    inbox = _Inbox()
    port = _free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx,
                     require_starttls=True, authenticator=inbox, auth_required=True)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


class _Hook:
    def __init__(self, fail_first: int, reason: str = "Internal Server Error") -> None:
        self.fail_first = fail_first
        self.reason = reason
        self.requests: list[tuple[str, dict]] = []


@pytest.fixture
def webhook_server():
    servers = []

    def start(fail_first: int = 0, reason: str = "Internal Server Error"):
        state = _Hook(fail_first, reason)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                state.requests.append((self.path, json.loads(body)))
                if len(state.requests) <= state.fail_first:
                    self.send_response(500, state.reason)
                    self.end_headers()
                    return
                out = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return state, f"http://127.0.0.1:{srv.server_address[1]}/cgi-bin/webhook/send?key={HOOK_KEY}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def bulletin_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("products") / "bulletins"
    return render_bulletins(make_decision(), configs.load_config(), out, source="synthetic demo")


def _settings(**kw) -> DeliverySettings:
    base = {"dry_run": False, "retries": 3, "backoff_s": 0.01, "allow_http_webhook": True}
    return DeliverySettings(**{**base, **kw})


def _mail(port: int, **kw) -> DeliverySettings:
    return _settings(smtp_host="127.0.0.1", smtp_port=port, mail_from="airwarn@example.test",
                     mail_to=["duty-cq@example.test", "duty-sc@example.test"], **kw)


def _env(tls_files=None, url: str | None = None) -> dict[str, str]:
    env = {"AIRWARN_SMTP_USER": USER, "AIRWARN_SMTP_PASSWORD": PASSWORD}
    if tls_files:
        env["AIRWARN_SMTP_CAFILE"] = str(tls_files[0])
    if url:
        env["AIRWARN_TEST_WEBHOOK"] = url
    return env


# ----------------------------------------------------------------------------- tests
def test_email_over_starttls_with_attachments_and_no_duplicate(
        smtp_server, tls_files, bulletin_files, tmp_path: Path) -> None:
    inbox, port = smtp_server
    reg = Register(tmp_path / "register.sqlite")
    dec = make_decision()
    res = deliver(dec, bulletin_files, _mail(port), reg, env=_env(tls_files))
    assert [(r.channel, r.status, r.attempts) for r in res] == [("email", "sent", 1)]
    assert inbox.logins == [(USER.encode(), b"ok")]
    (rcpts, raw), = inbox.messages
    assert rcpts == ["duty-cq@example.test", "duty-sc@example.test"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "成渝地区区域重污染天气橙色预警"
    names = sorted(p.get_filename() for p in msg.iter_attachments())
    stem = "cy-20261201T1500-orange-1"
    assert names == [f"{stem}.cap.xml", f"{stem}.en.pdf", f"{stem}.zh.pdf"]
    pdf = next(p for p in msg.iter_attachments() if p.get_filename().endswith("zh.pdf"))
    assert pdf.get_content().startswith(b"%PDF")
    assert "首要污染物" in msg.get_body(("plain",)).get_content()
    assert reg.has_delivery(stem, "email")
    again = deliver(dec, bulletin_files, _mail(port), reg, env=_env(tls_files))
    assert [r.status for r in again] == ["duplicate"]
    assert len(inbox.messages) == 1


def test_webhook_500_then_200_is_retried(webhook_server, bulletin_files, tmp_path: Path) -> None:
    state, url = webhook_server(fail_first=1)
    reg = Register(tmp_path / "register.sqlite")
    sleeps: list[float] = []
    res = deliver(make_decision(), bulletin_files,
                  _settings(webhook_url_env="AIRWARN_TEST_WEBHOOK", backoff_s=0.5), reg,
                  env=_env(url=url), sleep=sleeps.append)
    assert [(r.channel, r.status, r.attempts) for r in res] == [("webhook", "sent", 2)]
    assert sleeps == [0.5]
    assert len(state.requests) == 2
    path, payload = state.requests[-1]
    assert path == f"/cgi-bin/webhook/send?key={HOOK_KEY}"
    assert payload["msgtype"] == "markdown"
    content = payload["markdown"]["content"]
    assert content.startswith("> **演习/示例（合成演示数据 synthetic demo）**") and "预警级别" in content
    assert len(content.encode("utf-8")) <= 4096
    log = reg.deliveries()
    assert list(log["status"]) == ["sending", "failed", "sent"]
    assert list(log["channel"]) == ["webhook"] * 3
    # the same decision is not posted again
    assert [r.status for r in deliver(make_decision(), bulletin_files,
                                      _settings(webhook_url_env="AIRWARN_TEST_WEBHOOK"), reg,
                                      env=_env(url=url))] == ["duplicate"]
    assert len(state.requests) == 2


def test_webhook_that_keeps_failing_gives_up(webhook_server, bulletin_files,
                                             tmp_path: Path) -> None:
    state, url = webhook_server(fail_first=99)
    reg = Register(tmp_path / "register.sqlite")
    sleeps: list[float] = []
    res = deliver(make_decision(), bulletin_files,
                  _settings(webhook_url_env="AIRWARN_TEST_WEBHOOK", retries=2, backoff_s=1.0),
                  reg, env=_env(url=url), sleep=sleeps.append)
    assert [(r.status, r.attempts) for r in res] == [("failed", 3)]
    assert sleeps == [1.0, 2.0]  # exponential backoff
    assert len(state.requests) == 3 and not reg.has_delivery(res[0].decision_id, "webhook")
    assert "HTTP Error 500" in res[0].detail


def test_dry_run_writes_the_outbox_and_sends_nothing(bulletin_files, tmp_path: Path) -> None:
    reg = Register(tmp_path / "register.sqlite")
    s = _settings(dry_run=True, smtp_host="127.0.0.1", smtp_port=_free_port(),
                  mail_from="airwarn@example.test", mail_to=["duty@example.test"],
                  webhook_url_env="AIRWARN_TEST_WEBHOOK")
    res = deliver(make_decision(), bulletin_files, s, reg, env={}, outbox=tmp_path / "outbox")
    assert [(r.channel, r.status) for r in res] == [("email", "dry_run"), ("webhook", "dry_run")]
    eml = email.message_from_bytes(res[0].path.read_bytes(), policy=policy.default)
    assert eml["To"] == "duty@example.test" and len(list(eml.iter_attachments())) == 3
    body = json.loads(res[1].path.read_text(encoding="utf-8"))
    assert body["payload"]["msgtype"] == "markdown" and "http" not in body["url"]
    assert not reg.has_delivery(res[0].decision_id, "email")  # a dry run is not a send


def test_secrets_never_leak(smtp_server, tls_files, webhook_server, bulletin_files,
                            tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="products")
    inbox, port = smtp_server
    # the failing server echoes the key in its reason phrase: the error text must be redacted
    state, url = webhook_server(fail_first=1, reason=f"bad key {HOOK_KEY}")
    reg = Register(tmp_path / "register.sqlite")
    s = _mail(port, webhook_url_env="AIRWARN_TEST_WEBHOOK")
    res = deliver(make_decision(), bulletin_files, s, reg, env=_env(tls_files, url))
    assert [(r.channel, r.status) for r in res] == [("email", "sent"), ("webhook", "sent")]
    dry = deliver(make_decision(decision_id="d-dry"), bulletin_files,
                  s.model_copy(update={"dry_run": True}), reg, env=_env(tls_files, url),
                  outbox=tmp_path / "outbox")
    assert all(r.status == "dry_run" for r in dry)
    creds = check_delivery_config(s, _env(tls_files, url))
    blobs = [caplog.text, repr(creds), str(res), str(dry)]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    blobs += [p.read_bytes().decode("latin-1") for p in bulletin_files.values()]
    assert "failed" in caplog.text and "***" in caplog.text  # the failure was logged, redacted
    for blob in blobs:
        assert PASSWORD not in blob and HOOK_KEY not in blob


def test_missing_credentials_fail_at_start(bulletin_files, tmp_path: Path) -> None:
    s = _settings(smtp_host="127.0.0.1", smtp_port=_free_port(), mail_from="a@example.test",
                  mail_to=["b@example.test"], webhook_url_env="AIRWARN_TEST_WEBHOOK")
    with pytest.raises(DeliveryConfigError) as err:
        check_delivery_config(s, {"AIRWARN_SMTP_USER": USER})
    msg = str(err.value)
    assert "AIRWARN_SMTP_PASSWORD" in msg and "AIRWARN_TEST_WEBHOOK" in msg
    reg = Register(tmp_path / "register.sqlite")
    with pytest.raises(DeliveryConfigError):
        deliver(make_decision(), bulletin_files, s, reg, env={"AIRWARN_SMTP_USER": USER})
    assert reg.count("deliveries") == 0  # nothing attempted
    with pytest.raises(DeliveryConfigError, match="mail_from"):
        check_delivery_config(_settings(smtp_host="h", mail_to=["x@example.test"]), _env())


def test_secrets_file_outside_the_repo(tmp_path: Path) -> None:
    f = tmp_path / "secrets.yaml"
    f.write_text(f"AIRWARN_SMTP_USER: {USER}\nAIRWARN_SMTP_PASSWORD: {PASSWORD}\n")
    s = _settings(smtp_host="127.0.0.1", mail_from="a@example.test", mail_to=["b@example.test"])
    creds = check_delivery_config(s, {"AIRWARN_SECRETS_FILE": str(f)})
    assert creds.smtp_password == PASSWORD and PASSWORD not in repr(creds)
    inside = Path(__file__).resolve()
    with pytest.raises(DeliveryConfigError, match="outside the repository"):
        check_delivery_config(s, {"AIRWARN_SECRETS_FILE": str(inside)})


def test_dingtalk_payload_form(bulletin_files) -> None:
    p = webhook_payload(make_decision(), bulletin_files,
                        "https://oapi.dingtalk.com/robot/send?access_token=x")
    assert set(p["markdown"]) == {"title", "text"} and p["markdown"]["title"].endswith("橙色预警")
