"""Outbound message delivery: the thread that posts SOAP bodies and retries until acked."""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sandbox.salesforce.constants import OM_MAX_AGE, OM_NS, OM_TIMEOUT

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState


def is_ack(status: int | None, payload: str) -> bool:
    """True only for HTTP 200 carrying ``notificationsResponse/Ack`` = true (the WSDL's answer)."""
    if status != 200:
        return False
    try:
        root = ET.fromstring(payload.encode())
    except ET.ParseError:
        return False
    for element in root.iter(f"{{{OM_NS}}}notificationsResponse"):
        ack = element.find(f"{{{OM_NS}}}Ack")
        return ack is not None and (ack.text or "").strip().lower() in ("true", "1")
    return False


def send_outbound(url: str, body: str) -> dict[str, Any]:
    """One POST of a SOAP message; TLS is not verified (loopback receivers only)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    attempt: dict[str, Any] = {"time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "status_code": None, "acked": False, "error": None, "response": None}
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
               "User-Agent": "Jakarta Commons-HttpClient/3.1", "Accept": "text/xml"}
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=OM_TIMEOUT, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=OM_TIMEOUT)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", path, body=body.encode(), headers=headers)
            response = conn.getresponse()
            payload = response.read(65536).decode("utf-8", "replace")
            attempt.update(status_code=response.status, response=payload[:4000],
                           acked=is_ack(response.status, payload))
            if not attempt["acked"]:
                attempt["error"] = "no notificationsResponse Ack=true" if response.status == 200 else \
                    f"HTTP {response.status}"
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        attempt["error"] = "timed out" if isinstance(err, socket.timeout) else type(err).__name__
    return attempt


class OutboundDispatcher:
    """One daemon thread: batches queued notifications, sends them, retries with back-off."""

    def __init__(self, state: SalesforceState) -> None:
        self.state = state
        self.thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._loop, name="sandbox-salesforce-outbound", daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        state = self.state
        while True:
            with state.om_cond:
                while True:
                    state.om_batch_pending()
                    due, wait = state.om_next_due(time.monotonic())
                    if due is not None:
                        break
                    state.om_cond.wait(timeout=wait)
                generation = state.generation
                action = state.actions.get(due.action_id)
                if action is None or state.clock.now() - due.created > OM_MAX_AGE:
                    due.status = "dropped"
                    continue
                body = due.body = state.om_body(due)
                due.status = "sending"
                url = action.url
            try:
                attempt = send_outbound(url, body)
            except Exception as err:  # noqa: BLE001 - a delivery bug must not kill the thread
                attempt = {"time": None, "status_code": None, "acked": False, "error": repr(err)}
            with state.lock:
                if state.generation == generation:
                    state.om_record(due, attempt)
