"""Failure notifications: a failed Prefect flow run posts one message to the duty webhook.

The hook :func:`notify_duty_failure` is attached as ``on_failure`` to the scheduled flows
(``daily_forecast``). It posts to the URL in the environment variable named by
``settings.delivery.webhook_url_env`` (the same duty-room webhook the bulletins use, WeCom /
DingTalk style ``{"msgtype": "text", "text": {"content": …}}``). A plain ``http://`` URL is used
only when ``delivery.allow_http_webhook`` is set. A notification that cannot be sent is logged,
never raised (the flow's own failure is what the schedule shows).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from airwarn.configs.schema import Settings

__all__ = ["failure_message", "post_duty_message", "notify_duty_failure"]

log = logging.getLogger("airwarn.flows.notify")

#: Seconds to wait for the webhook, s.
TIMEOUT_S = 10.0


def failure_message(flow_name: str, run_name: str, state_message: str,
                    parameters: dict[str, Any] | None = None) -> str:
    """The duty-room text of a failed run (Chinese first, then English)."""
    params = ", ".join(f"{k}={v}" for k, v in (parameters or {}).items() if v is not None)
    return (f"【airwarn 运行失败 / run failed】{flow_name} ({run_name})"
            + (f" [{params}]" if params else "") + f": {state_message}"[:1500])


def post_duty_message(text: str, settings: Settings | None = None, env: dict[str, str] | None = None) -> bool:
    """Post ``text`` to the duty webhook; True when the webhook answered 2xx.

    Parameters
    ----------
    text : str
    settings : Settings, optional
        Default ``configs.load_settings()``.
    env : mapping, optional
        Environment (default ``os.environ``).
    """
    if settings is None:
        from airwarn import configs

        settings = configs.load_settings()
    d = settings.delivery
    env = dict(os.environ if env is None else env)
    url = env.get(d.webhook_url_env or "", "") if d.webhook_url_env else ""
    if not url:
        log.info("no duty webhook configured (delivery.webhook_url_env): failure not posted")
        return False
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https") or (scheme == "http" and not d.allow_http_webhook):
        log.warning("duty webhook %s is not https (set delivery.allow_http_webhook for a local "
                    "relay): failure not posted", d.webhook_url_env)
        return False
    body = json.dumps({"msgtype": "text", "text": {"content": text}},
                      ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - checked
            return 200 <= resp.status < 300
    except OSError as exc:
        log.warning("duty webhook failed: %s", type(exc).__name__)
        return False


def notify_duty_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` hook: post the failed run to the duty webhook (never raises)."""
    try:
        text = failure_message(getattr(flow, "name", "flow"), getattr(flow_run, "name", "?"),
                               str(getattr(state, "message", "") or state),
                               dict(getattr(flow_run, "parameters", {}) or {}))
        post_duty_message(text)
    except Exception:  # noqa: BLE001 - a notification must not mask the failure itself
        log.exception("failure notification not sent")
