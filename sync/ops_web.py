"""What operators ask the daemon over HTTP: is it alive, is it ready, its metrics, and its
status (JSON for machines, a page for people).

- ``GET /healthz`` (and its old name ``/health``): 200 while the process serves.
- ``GET /readyz``: 200 when every route is active and the state store answers; 503 with a
  short reason a line otherwise (a route parked, a service refusing or unreachable).
  Neither says more: no queue names, cursors or errors.
- ``GET /metrics``: Prometheus' text format (sync/metrics.py).
- ``GET /api/status``: the daemon's snapshot (``Daemon.status_snapshot()``) for the holder
  of the token in ``SOCIALDESK_STATUS_TOKEN``, as ``Authorization: Bearer <token>``.
- ``GET /status``: the same as a page (``sync.status_page.render_status_page``), for the
  same token, in the header, or given once to the page (``/status?token=...`` or its
  form), which then keeps a cookie made from it (never the token itself).

Without ``SOCIALDESK_STATUS_TOKEN`` on the daemon, the status endpoint and page answer 403
saying so: they exist, and nobody may read them. A wrong or missing token gets 401.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
from typing import Any, Callable, Mapping

from werkzeug.wrappers import Request, Response

from adapters.base import Secret

TOKEN_ENV = "SOCIALDESK_STATUS_TOKEN"
COOKIE = "socialdesk_status"
COOKIE_AGE = 12 * 3600
OFF = f"the status endpoints are off: set {TOKEN_ENV} on the daemon"


def status_token(environ: Mapping[str, str] = os.environ) -> Secret | None:
    """The status token (None: not set, and the status endpoint and page are off)."""
    value = environ.get(TOKEN_ENV, "").strip()
    return Secret(value, TOKEN_ENV) if value else None


def _json(data: Any, status: int) -> Response:
    response = Response(json.dumps(data, default=str), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


class StatusAccess:
    """Who may read the status: the token's holder. Tokens are compared as digests (the
    time taken says nothing of how much matched); the page's cookie is an HMAC of a fixed
    word under the token, so it opens nothing else and leaks no token."""

    def __init__(self, token: Secret | None) -> None:
        self._digest = hashlib.sha256(token.reveal().encode()).digest() if token is not None else None
        self._cookie = (hmac.new(token.reveal().encode(), b"socialdesk status page", hashlib.sha256).hexdigest()
                        if token is not None else None)

    def __repr__(self) -> str:
        return f"StatusAccess(token={'set' if self._digest else 'unset'})"

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def token_matches(self, given: str | None) -> bool:
        if self._digest is None or not given:
            return False
        return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), self._digest)

    def bearer(self, request: Request) -> bool:
        scheme, _, given = (request.headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(given)

    def cookie_value(self) -> str:
        return self._cookie or ""

    def cookie(self, request: Request) -> bool:
        given = request.cookies.get(COOKIE)
        return self._cookie is not None and given is not None and hmac.compare_digest(given, self._cookie)


class Operations:
    """The handlers, over what the daemon gives: its snapshot, why it is not ready, its metrics."""

    def __init__(self, status: Callable[[], dict[str, Any]], readiness: Callable[[], list[str]] | None,
                 metrics: Callable[[], tuple[bytes, str]] | None, token: Secret | None,
                 clock: Callable[[], float]) -> None:
        self.status, self.readiness, self.metrics, self.clock = status, readiness, metrics, clock
        self.access = StatusAccess(token)

    def healthz(self, request: Request) -> Response:
        return _json({"status": "alive"}, 200)

    def readyz(self, request: Request) -> Response:
        reasons = self.readiness() if self.readiness is not None else []
        if reasons:
            return _json({"status": "not ready", "reasons": reasons}, 503)
        return _json({"status": "ready"}, 200)

    def metrics_text(self, request: Request) -> Response:
        if self.metrics is None:
            return _json({"error": "this server keeps no metrics"}, 404)
        body, content_type = self.metrics()
        return Response(body, status=200, content_type=content_type)

    def api_status(self, request: Request) -> Response:
        refused = self._refused(self.access.bearer(request))
        return refused if refused is not None else _json(self.status(), 200)

    def status_page(self, request: Request) -> Response:
        given = request.form.get("token") if request.method == "POST" else request.args.get("token")
        if given is not None:
            return self._sign_in(request, given)
        refused = self._refused(self.access.bearer(request) or self.access.cookie(request), page=True)
        if refused is not None:
            return refused
        try:
            from sync.status_page import render_status_page
        except ModuleNotFoundError as err:
            if err.name != "sync.status_page":
                raise
            return _json({"error": "this socialdesk has no status page; read GET /api/status"}, 501)
        response = Response(render_status_page(self.status(), self.clock()), status=200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return response

    def _sign_in(self, request: Request, given: str) -> Response:
        """The page's token, given once: a cookie from it, and the page again without the
        token in its address (nor in the browser's history of it)."""
        if not self.access.enabled:
            return _json({"error": OFF}, 403)
        if not self.access.token_matches(given):
            return _sign_in_page("That token is not the status token.", 401)
        response = Response(status=303)
        response.headers["Location"] = request.path
        secure = request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        response.set_cookie(COOKIE, self.access.cookie_value(), max_age=COOKIE_AGE, path=request.path,
                            secure=secure, httponly=True, samesite="Strict")
        return response

    def _refused(self, allowed: bool, page: bool = False) -> Response | None:
        if not self.access.enabled:
            return _json({"error": OFF}, 403)
        if allowed:
            return None
        if page:
            return _sign_in_page("Give the status token to see this daemon's status.", 401)
        response = _json({"error": "no valid status token: send Authorization: Bearer <token>"}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="socialdesk status"'
        return response


def _sign_in_page(said: str, status: int) -> Response:
    body = ("<!doctype html><html lang=en><meta charset=utf-8><title>socialdesk status</title>"
            f"<p>{html.escape(said)}</p><form method=post action=/status>"
            "<label>Status token <input type=password name=token autocomplete=current-password></label> "
            "<button>Open</button></form></html>")
    response = Response(body, status=status, mimetype="text/html")
    response.headers["WWW-Authenticate"] = 'Bearer realm="socialdesk status"'
    response.headers["Cache-Control"] = "no-store"
    return response
