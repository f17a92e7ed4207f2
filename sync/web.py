"""Inbound HTTP: helpdesk webhooks (a hint to mirror now), networks' pushed deliveries
(kept for the route to read), the agent view the Zendesk sidebar reads, and what operators
ask (health, readiness, metrics, status: sync/ops_web.py), served by waitress.

A webhook is only a hint: the daemon re-reads the ticket's comments through the API,
so a forged or replayed body could at worst cause one extra read, and it is rejected
before even that. How a delivery is checked is the helpdesk's own (its adapter:
``ReceivesWebhooks``, ``ReceivesOutboundMessages``); this module keeps the routes, the
replay memory and the server.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from waitress.server import create_server

import adapters
from adapters.base import (
    REPLAYED, AuthFailed, NotFound, ReceivesOutboundMessages, ReceivesPushes, ReceivesWebhooks, Secret,
    SocialdeskError,
)
from sync.agent_view import AgentView, NoView, ViewUnavailable
from sync.ops_web import Operations

log = logging.getLogger("socialdesk.web")

Helpdesks = Callable[[str], Any]
"""helpdesk name -> its built adapter, or None."""


class Networks(Protocol):
    """The network accounts that push (the daemon): what the receiver asks of them."""

    def account(self, name: str) -> Any:
        """The built adapter of network ``name``, or None."""

    def verify_token(self, name: str) -> str | None:
        """The token a subscription check must name for ``name`` (None: none is set)."""

    def keep(self, name: str, body: bytes) -> int:
        """Keep a verified delivery for every route reading ``name``; returns rows kept."""

    def media_link(self, token: str) -> str | None:
        """A fresh link to the attachment a ticket's media link names (None: not one of ours)."""


class ReplayGuard:
    """Remembers recent signatures; a second delivery of the same one is a replay."""

    # Twice the age a delivery may have (Zendesk's five minutes): an older one is refused as stale anyway.
    def __init__(self, ttl: float = 600.0, size: int = 10_000) -> None:
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


class TokenBucket:
    """Per-key token buckets: ``rate`` tokens a second up to ``burst``; ``take`` says how long
    to wait when the key's bucket is empty (0.0: taken)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0


class Pending:
    """Records hinted recently: a repeated notification for one while it is pending (hinted
    less than ``window`` seconds ago and not ``settled``) is acknowledged without a new hint,
    so N notifications for a Case cost one read, not N."""

    def __init__(self, window: float = 10.0, size: int = 10_000) -> None:
        self.window, self.size = window, size
        self._at: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: tuple[str, str], now: float) -> bool:
        with self._lock:
            while self._at and (len(self._at) > self.size or next(iter(self._at.values())) < now - self.window):
                self._at.popitem(last=False)
            if key in self._at:
                return False
            self._at[key] = now
            return True

    def holds(self, key: tuple[str, str], now: float) -> bool:
        """Whether ``key`` is pending now (nothing is recorded)."""
        with self._lock:
            at = self._at.get(key)
            return at is not None and at >= now - self.window

    def settled(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._at.pop(key, None)


def _json(data: Any, status: int) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class WebhookApp:
    """The daemon's WSGI app: helpdesk webhooks and outbound messages, networks' deliveries,
    the agent view, and what operators ask (``ops``).

    Built on werkzeug's request, response and routing alone: a few routes need no web
    framework, and the daemon stays the lighter for it."""

    max_body = 256 * 1024  # a ticket hint is a few dozen bytes
    # A network's delivery may batch many entries (Meta: up to 1,000 changes in one POST).
    push_max_body = 4 * 1024 * 1024

    def __init__(self, secrets: Callable[[str], str | None], on_hint: Callable[[str, str], None],
                 status: Callable[[], dict[str, Any]], clock: Callable[[], float],
                 org_ids: Callable[[str], str | None], helpdesks: Helpdesks | None,
                 networks: Networks | None = None, agent_view: AgentView | None = None,
                 ops: Operations | None = None) -> None:
        self.secrets, self.on_hint, self.status, self.clock = secrets, on_hint, status, clock
        self.ops = ops if ops is not None else Operations(status, None, None, None, clock)
        self.org_ids, self.helpdesks = org_ids, helpdesks
        self.networks = networks
        self.agent_view = agent_view  # None: every request for the agent view is refused
        self.guard = ReplayGuard()
        # Outbound messages are unsigned: whoever knows an org id and a Case id could make
        # each post cost API reads. Per helpdesk (one org each): 1 new hint a second, 30 at once.
        self.outbound_bucket = TokenBucket(rate=1.0, burst=30.0)
        self.outbound_pending = Pending()
        self.urls = Map([Rule("/hooks/zendesk/<helpdesk>", endpoint=self.zendesk_hook, methods=["POST"]),
                         Rule("/hooks/salesforce/<helpdesk>", endpoint=self.salesforce_outbound, methods=["POST"]),
                         Rule("/hooks/network/<network>", endpoint=self.network_push, methods=["GET", "POST"]),
                         Rule("/media/<token>", endpoint=self.media, methods=["GET"]),
                         Rule("/api/agent-view/tickets/<ticket_id>", endpoint=self.agent_ticket, methods=["GET"]),
                         Rule("/healthz", endpoint=self.ops.healthz, methods=["GET"]),
                         Rule("/health", endpoint=self.ops.healthz, methods=["GET"]),   # its older name
                         Rule("/readyz", endpoint=self.ops.readyz, methods=["GET"]),
                         Rule("/metrics", endpoint=self.ops.metrics_text, methods=["GET"]),
                         Rule("/api/status", endpoint=self.ops.api_status, methods=["GET"]),
                         Rule("/status", endpoint=self.ops.status_page, methods=["GET", "POST"])])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            handler, values = self.urls.bind_to_environ(environ).match()
            request.max_content_length = self.push_max_body if handler == self.network_push else self.max_body
            response = handler(request, **values)
        except HTTPException as err:  # unknown path or method, a body over the limit
            return err(environ, start_response)
        return response(environ, start_response)

    def receiver(self, kind: str, helpdesk: str, capability: type) -> Any:
        if self.helpdesks is None:
            return adapters.resolve(kind, "helpdesk")
        desk = self.helpdesks(helpdesk)
        return desk if isinstance(desk, capability) else None

    def zendesk_hook(self, request: Request, helpdesk: str) -> Response:
        secret = self.secrets(helpdesk)
        desk = self.receiver("zendesk", helpdesk, ReceivesWebhooks) if secret is not None else None
        if secret is None or desk is None:
            return _json({"error": f"no webhook is configured for helpdesk {helpdesk!r}"}, 404)
        body = request.get_data()
        now = self.clock()
        refused = desk.verify_webhook(request.headers, body, secret, now,
                                      lambda key: self.guard.first_time(key, now))
        if refused:
            log.warning("webhook for %s refused: %s", helpdesk, refused)
            return _json({"error": refused}, 409 if refused == REPLAYED else 401)
        try:
            ticket_id = desk.read_webhook(request.headers, body)
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        if ticket_id is None:
            return _json({"accepted": True, "hint": False}, 202)
        self.on_hint(helpdesk, ticket_id)
        return _json({"accepted": True}, 202)

    def salesforce_outbound(self, request: Request, helpdesk: str) -> Response:
        """Every check here is made before any API call: the body (no DTD, the org id, the
        sObject type and fields the message definition sends), then one hint per Case not
        already pending, within the helpdesk's rate. An unacknowledged message is sent
        again by Salesforce, so a 429 only delays it; a duplicate is acknowledged."""
        expected = self.org_ids(helpdesk)
        desk = self.receiver("salesforce", helpdesk, ReceivesOutboundMessages) if expected is not None else None
        if expected is None or desk is None:
            return _json({"error": f"no Salesforce org is configured for helpdesk {helpdesk!r}"}, 404)
        try:
            ids = desk.read_outbound(request.get_data(), expected)
        except ValueError as err:
            return _json({"error": f"not an outbound message: {err}"}, 400)
        except AuthFailed as err:
            log.warning("outbound message for %s refused: %s", helpdesk, err)
            return _json({"error": "organization does not match"}, 401)
        now = self.clock()
        fresh = [i for i in ids if not self.outbound_pending.holds((helpdesk, i), now)]
        if fresh:
            wait = self.outbound_bucket.take(helpdesk, now)
            if wait > 0:
                log.warning("outbound messages for %s over the rate: answered 429", helpdesk)
                response = _json({"error": "too many outbound messages; Salesforce will send it again"}, 429)
                response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
                return response
        for record_id in fresh:
            if self.outbound_pending.first((helpdesk, record_id), now):
                self.on_hint(helpdesk, record_id)
        # The helpdesk sends the message again until it gets this acknowledgement.
        ack, content_type = desk.acknowledge_outbound()
        return Response(ack, status=200, content_type=content_type)

    def network_push(self, request: Request, network: str) -> Response:
        """A network's webhook (Meta): the subscription check (GET) answered with its
        challenge when the verify token matches; a delivery (POST) checked against its
        signature and kept as received, answered at once. The route reads it later: the
        network is never kept waiting, and a delivery kept is never lost."""
        account = self.networks.account(network) if self.networks is not None else None
        if not isinstance(account, ReceivesPushes):
            return _json({"error": f"no network {network!r} that pushes is configured"}, 404)
        if request.method == "GET":
            token = self.networks.verify_token(network)  # type: ignore[union-attr]
            challenge = account.answer_subscription(request.args, token) if token else None
            if challenge is None:
                log.warning("subscription check for %s refused: hub.mode or hub.verify_token does not match", network)
                return _json({"error": "subscription check refused: hub.verify_token does not match"}, 403)
            return Response(challenge, status=200, mimetype="text/plain")
        body = request.get_data()
        refused = account.verify_push(request.headers, body)
        if refused:
            log.warning("delivery for %s refused: %s", network, refused)
            return _json({"error": refused}, 401)
        kept = self.networks.keep(network, body)  # type: ignore[union-attr]
        return _json({"received": True, "kept": kept}, 200)

    def media(self, request: Request, token: str) -> Response:
        """An attachment a ticket links to: a redirect to a link the network gives now."""
        if self.networks is None:
            return _json({"error": "no such attachment"}, 404)
        try:
            link = self.networks.media_link(token)
        except NotFound:
            return _json({"error": "the attachment was deleted on the network"}, 410)
        except SocialdeskError as err:
            log.warning("attachment link could not be read: %s", type(err).__name__)
            return _json({"error": "the network cannot give the attachment now; try again shortly"}, 503)
        if link is None:
            return _json({"error": "no such attachment"}, 404)
        response = Response(status=302)
        response.headers["Location"] = link
        response.headers["Cache-Control"] = "no-store"   # the network's link expires
        return response

    def agent_ticket(self, request: Request, ticket_id: str) -> Response:
        """What the Zendesk ticket sidebar shows (packaging/zendesk/README.md): the token
        first, so a caller without it learns nothing of any ticket or account."""
        views = self.agent_view
        if views is None or not views.allows(request.headers.get("Authorization")):
            error = "no valid agent view token" if views is not None and views.enabled else \
                "the agent view is off: set SOCIALDESK_AGENT_VIEW_TOKEN on the daemon"
            response = _json({"error": error}, 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="socialdesk"'
            return response
        try:
            view = views.view(request.args.get("account", ""), ticket_id)
        except NoView as err:
            return _json({"error": str(err)}, 404)
        except ViewUnavailable as err:
            response = _json({"error": str(err)}, 503)
            response.headers["Retry-After"] = "5"
            return response
        response = _json(view, 200)
        response.headers["Cache-Control"] = "no-store"   # a customer's conversation
        return response

    def outbound_settled(self, helpdesk: str, record_id: str) -> None:
        """The hint for ``record_id`` was handled: its next notification is news again."""
        self.outbound_pending.settled((helpdesk, record_id))


def create_app(secrets: Callable[[str], str | None], on_hint: Callable[[str, str], None],
               status: Callable[[], dict[str, Any]], clock: Callable[[], float] = time.time,
               org_ids: Callable[[str], str | None] = lambda _: None, *,
               helpdesks: Helpdesks | None = None, networks: Networks | None = None,
               agent_view: AgentView | None = None, readiness: Callable[[], list[str]] | None = None,
               metrics: Callable[[], tuple[bytes, str]] | None = None,
               status_token: Secret | None = None) -> WebhookApp:
    """``secrets(helpdesk)`` gives a webhook signing secret, ``org_ids(helpdesk)`` a
    Salesforce org id; ``on_hint(helpdesk, ticket_id)`` queues work. ``helpdesks(name)``
    gives the built adapter that checks its deliveries; without it, the adapter class
    registered for the kind in the path checks them (its checks need no connection).
    ``agent_view`` (sync/agent_view.py) answers the ticket sidebar; without it, every
    request for it is refused. ``status()`` is the snapshot the status endpoint and page
    show to the holder of ``status_token`` (none: they are off); ``readiness()`` says why
    the daemon is not ready (``/readyz``); ``metrics()`` gives ``/metrics``."""
    ops = Operations(status, readiness, metrics, status_token, clock)
    return WebhookApp(secrets, on_hint, status, clock, org_ids, helpdesks, networks, agent_view, ops)


class WebServer:
    """The daemon's HTTP listener (waitress, a production WSGI server) in a background
    thread. Port 0 picks a free port; ``url`` says which."""

    def __init__(self, app: Callable[..., Any], host: str, port: int, threads: int = 4) -> None:
        self._map: dict[int, Any] = {}
        self.server = create_server(app, map=self._map, host=host, port=port, threads=threads,
                                    ident="socialdesk")
        self._stopping = False
        self.thread = threading.Thread(target=self._serve, name="socialdesk-web", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self._stopping:
                raise
            # Connections closed from another thread while the loop waited on them.

    @property
    def url(self) -> str:
        return f"http://{self.server.effective_host}:{self.server.effective_port}"

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, close every connection, let running requests finish (``timeout``)."""
        def close_all() -> None:
            for channel in list(self._map.values()):
                channel.close()

        self._stopping = True
        woken = False
        if self.thread.is_alive():
            # Closed from the server's own loop, which then finds nothing left and returns.
            try:
                self.server.trigger.pull_trigger(close_all)
                woken = True
            except OSError as exc:   # its wake-up pipe is gone: the loop is closing or closed
                log.debug("web listener's wake-up pipe is gone (%s); closing from this thread", exc)
        if not woken:
            close_all()
        self.thread.join(timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)


__all__ = ["Pending", "ReplayGuard", "TokenBucket", "WebServer", "WebhookApp", "create_app"]
