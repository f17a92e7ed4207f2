"""Webhook delivery: placeholders, signatures and the thread that sends and retries."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import queue
import re
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from sandbox.zendesk.constants import WEBHOOK_TIMEOUT
from sandbox.zendesk.helpers import iso

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState
    from sandbox.zendesk.records import Delivery


def _auth_headers(auth: Mapping[str, Any] | None) -> dict[str, str]:
    if not auth:
        return {}
    data = auth.get("data") or {}
    if auth.get("type") == "basic_auth":
        token = base64.b64encode(f"{data.get('username', '')}:{data.get('password', '')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if auth.get("type") == "bearer_token":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    if auth.get("type") == "api_key" and data.get("name"):
        return {str(data["name"]): str(data.get("value", ""))}
    return {}


_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*((?:\|\s*\w+\s*)*)\}\}")


def render_placeholders(template: str, values: Mapping[str, Any], json_escape: bool) -> str:
    """Render ``{{a.b}}`` and ``{{a.b | downcase}}``; unknown names render empty."""

    def one(match: re.Match[str]) -> str:
        text = str(values.get(match.group(1), ""))
        for name in re.findall(r"\|\s*(\w+)", match.group(2) or ""):
            text = {"downcase": text.lower(), "upcase": text.upper(), "capitalize": text.capitalize(),
                    "strip": text.strip()}.get(name, text)
        return json.dumps(text)[1:-1] if json_escape else text

    return _PLACEHOLDER.sub(one, template)


def sign_webhook(secret: str, timestamp: str, body: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), Zendesk's webhook signature."""
    digest = hmac.new(secret.encode(), (timestamp + body).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhookDispatcher:
    """Sends queued webhook invocations from one daemon thread, retrying like Zendesk."""

    RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

    def __init__(self, state: ZendeskState) -> None:
        self.state = state
        self.queue: queue.Queue[Delivery] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def submit(self, delivery: Delivery) -> None:
        with self.start_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="sandbox-zendesk-webhooks",
                                               daemon=True)
                self.thread.start()
        self.queue.put(delivery)

    def _loop(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                self._deliver(delivery)
            except Exception as err:  # noqa: BLE001 - a delivery bug must not kill the thread
                self.state.record_attempt(delivery, {
                    "id": delivery.webhook_id, "invocation_id": delivery.invocation_id,
                    "status": "failed", "error": repr(err), "completed_at": iso(time.time())}, True)

    def _deliver(self, delivery: Delivery) -> None:
        timeouts = conflicts = 0
        while True:
            attempt, retry_after = send_webhook(delivery)
            code = attempt.get("status_code")
            retry = None
            if code is None and timeouts < 5:
                timeouts += 1
                retry = self.RETRY_DELAYS[timeouts - 1]
            elif code == 409 and conflicts < 3:
                conflicts += 1
                retry = self.RETRY_DELAYS[conflicts - 1]
            elif code in (429, 503) and retry_after is not None and retry_after < 60:
                retry = float(retry_after)
            self.state.record_attempt(delivery, attempt, final=retry is None)
            if retry is None:
                return
            time.sleep(retry)


def send_webhook(delivery: Delivery) -> tuple[dict[str, Any], int | None]:
    """One HTTP attempt; an unverified TLS context is used only for loopback endpoints."""
    timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = dict(delivery.headers)
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = timestamp
    headers["X-Zendesk-Webhook-Signature"] = sign_webhook(delivery.secret, timestamp, delivery.body)
    parts = urlsplit(delivery.url)
    host = parts.hostname or ""
    body = delivery.body.encode() if delivery.method in ("POST", "PUT", "PATCH") else None
    attempt: dict[str, Any] = {
        "id": delivery.webhook_id, "invocation_id": delivery.invocation_id,
        "request": {"headers": [{"key": k, "value": v} for k, v in headers.items()],
                    "payload": delivery.body}}
    retry_after = None
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if host in ("127.0.0.1", "localhost", "::1"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=WEBHOOK_TIMEOUT, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=WEBHOOK_TIMEOUT)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(delivery.method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read(65536).decode("utf-8", "replace")
            attempt["status_code"] = response.status
            attempt["status"] = "success" if 200 <= response.status < 300 else (
                "throttled" if response.status == 429 else "failed")
            attempt["response"] = {"headers": [{"key": k, "value": v} for k, v in response.getheaders()],
                                   "payload": payload}
            value = response.getheader("Retry-After")
            retry_after = int(value) if value and value.strip().isdigit() else None
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        attempt["status"] = "timed out" if isinstance(err, socket.timeout) else "failed"
        attempt["error"] = type(err).__name__
    attempt["completed_at"] = iso(time.time())
    return attempt, retry_after
