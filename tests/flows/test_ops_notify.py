"""Progress lines, and the Prefect failure notification reaching the duty webhook (real HTTP)."""

from __future__ import annotations

import io
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from airwarn.flows.progress import LineProgress

from airwarn import configs


def test_progress_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with LineProgress("training", total=2, stream=out) as p:
        p("pm25 lead 1")
        p("o3 lead 1")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("training: started (2 steps)")
    assert lines[1].endswith("training [1/2] pm25 lead 1")
    assert lines[2].endswith("training [2/2] o3 lead 1")
    assert lines[3].endswith("training: done after 2 steps")
    assert "\x1b[" not in out.getvalue()  # no terminal control codes in a log file


def test_progress_bar_on_a_terminal():
    out = io.StringIO()
    with LineProgress("backfill", total=4, stream=out, force_terminal=True) as p:
        for k in range(4):
            p(f"step {k}")
    text = out.getvalue()
    assert "\x1b[" in text and "4/4" in text and "backfill" in text


@pytest.fixture
def duty_webhook():
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "body": json.loads(body.decode("utf-8"))})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"errcode":0}')

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/cgi-bin/webhook/send?key=duty", got
    srv.shutdown()
    srv.server_close()


def test_failed_flow_run_posts_to_the_duty_webhook(prefect_harness, duty_webhook, tmp_path,
                                                   monkeypatch):
    from airwarn.flows.daily import daily_forecast

    url, got = duty_webhook
    cfg = tmp_path / "configs"
    shutil.copytree(configs.CONFIG_DIR, cfg, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    s = yaml.safe_load((cfg / "settings.yaml").read_text(encoding="utf-8"))
    s["delivery"].update(webhook_url_env="AIRWARN_DUTY_HOOK", allow_http_webhook=True)
    (cfg / "settings.yaml").write_text(yaml.safe_dump(s, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("AIRWARN_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("AIRWARN_DUTY_HOOK", url)
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="issue time 'garbage'"):
        daily_forecast(issue_time="garbage", data_dir=str(tmp_path / "data"))
    assert len(got) == 1, got
    text = got[0]["body"]["text"]["content"]
    assert got[0]["body"]["msgtype"] == "text"
    assert "运行失败 / run failed" in text and "daily-forecast" in text and "garbage" in text


def test_plain_http_duty_webhook_is_not_used_unless_allowed(duty_webhook):
    from airwarn.configs.schema import Settings
    from airwarn.flows.notify import post_duty_message

    url, got = duty_webhook
    s = Settings(delivery={"webhook_url_env": "HOOK"})
    assert post_duty_message("x", s, env={"HOOK": url}) is False and got == []
    s = Settings(delivery={"webhook_url_env": "HOOK", "allow_http_webhook": True})
    assert post_duty_message("x", s, env={"HOOK": url}) is True and len(got) == 1
