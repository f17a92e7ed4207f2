"""Inbound HTTP: signed helpdesk webhooks (a hint to mirror now) and health.

A webhook is only a hint: the daemon re-reads the ticket's comments through the API,
so a forged or replayed body could at worst cause one extra read, and it is rejected
before even that: the signature, the timestamp's age and replays are all checked.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable

from xml.etree import ElementTree

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger("socialdesk.web")

MAX_AGE = 300.0


class ReplayGuard:
    """Remembers recent signatures; a second delivery of the same one is a replay."""

    def __init__(self, ttl: float = 2 * MAX_AGE, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str, now: float) -> bool:
        with self._lock:
            while self._seen and (len(self._seen) > self.size or next(iter(self._seen.values())) < now - self.ttl):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_zendesk(secret: str, signature: str | None, timestamp: str | None, body: bytes,
                   now: float, guard: ReplayGuard) -> str | None:
    """None when the delivery is genuine and fresh, else the reason it is refused."""
    if not signature or not timestamp:
        return "missing signature headers"
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        return "bad signature"
    try:
        stamp = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "unreadable timestamp"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    sent = stamp.timestamp()
    if abs(now - sent) > MAX_AGE:
        return "stale timestamp"
    if not guard.first_time(signature, now):
        return "replayed delivery"
    return None


OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_ACK = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
            '<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>')


def read_outbound_message(body: bytes) -> tuple[str, list[str]]:
    """(organization id, record ids) of a Salesforce Outbound Messaging SOAP body."""
    root = ElementTree.fromstring(body)
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise ValueError("no notifications element")
    org = (notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or "").strip()
    ids = [(n.findtext(f"{{{OUTBOUND_NS}}}sObject/{{{SOBJECT_NS}}}Id") or "").strip()
           for n in notifications.findall(f"{{{OUTBOUND_NS}}}Notification")]
    return org, [i for i in ids if i]


def create_app(secrets: Callable[[str], str | None], on_hint: Callable[[str, str], None],
               status: Callable[[], dict[str, Any]], clock: Callable[[], float] = time.time,
               org_ids: Callable[[str], str | None] = lambda _: None) -> Flask:
    """``secrets(helpdesk)`` gives a Zendesk signing secret, ``org_ids(helpdesk)`` a
    Salesforce org id; ``on_hint(helpdesk, ticket_id)`` queues work."""
    app = Flask("socialdesk")
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024  # a ticket hint is a few dozen bytes
    guard = ReplayGuard()

    @app.post("/hooks/zendesk/<helpdesk>")
    def zendesk_hook(helpdesk: str) -> Any:
        secret = secrets(helpdesk)
        if secret is None:
            return jsonify(error=f"no webhook is configured for helpdesk {helpdesk!r}"), 404
        body = request.get_data()
        refused = verify_zendesk(secret, request.headers.get("X-Zendesk-Webhook-Signature"),
                                 request.headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
                                 body, clock(), guard)
        if refused:
            log.warning("webhook for %s refused: %s", helpdesk, refused)
            return jsonify(error=refused), 409 if refused == "replayed delivery" else 401
        try:
            payload = json.loads(body) if request.is_json else None
        except (ValueError, RecursionError):
            payload = None
        ticket_id = str(payload.get("ticket_id", "")) if isinstance(payload, dict) else ""
        if not re.fullmatch(r"[0-9]+", ticket_id):
            return jsonify(error="body must be a JSON object with a numeric ticket_id"), 400
        author, requester = (str(payload.get(k) or "") for k in ("author_id", "requester_id"))  # type: ignore[union-attr]
        if author and author == requester:
            # The customer's own words (socialdesk wrote their follow-up): nothing to mirror.
            return jsonify(accepted=True, hint=False), 202
        on_hint(helpdesk, ticket_id)
        return jsonify(accepted=True), 202

    @app.post("/hooks/salesforce/<helpdesk>")
    def salesforce_outbound(helpdesk: str) -> Any:
        # Outbound messages are not signed: the org id in the body must be this org's
        # (15- or 18-character form), and the endpoint should only be reachable over TLS.
        expected = org_ids(helpdesk)
        if expected is None:
            return jsonify(error=f"no Salesforce org is configured for helpdesk {helpdesk!r}"), 404
        try:
            org, ids = read_outbound_message(request.get_data())
        except (ElementTree.ParseError, ValueError, LookupError, RecursionError) as err:
            return jsonify(error=f"not an outbound message: {err}"), 400
        if org[:15] != expected[:15]:
            log.warning("outbound message for %s refused: organization %s", helpdesk, org)
            return jsonify(error="organization does not match"), 401
        for record_id in dict.fromkeys(ids):
            on_hint(helpdesk, record_id)
        # Salesforce retries (for 24 h) until it gets this acknowledgement.
        return Response(SOAP_ACK, status=200, content_type="text/xml; charset=utf-8")

    @app.get("/health")
    def health() -> Any:
        return jsonify(status())

    return app


class WebServer:
    """The daemon's HTTP listener in a background thread."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="socialdesk-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.server.server_port}"

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
