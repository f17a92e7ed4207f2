"""What every request passes first: auth, rate windows, faults, outage, and the call log."""
from __future__ import annotations

import http
import json
import socket
from typing import TYPE_CHECKING, Any, Callable, Iterator

from flask import Response, g, request

from sandbox.common import ChaosFault, cut_connection, hold, retry_after_seconds
from sandbox.oauth import Refused, masked, token_params
from sandbox.x.constants import JSON_TYPE, PROBLEM_TYPE, UNSUPPORTED_AUTH
from sandbox.x.helpers import ApiError, generic_problem, iso
from sandbox.x.params import _check_params

if TYPE_CHECKING:
    from sandbox.x.constants import View


class Gate:
    """Request plumbing of ``XApi``: every API route is wrapped by ``_endpoint``."""

    # -- plumbing ---------------------------------------------------------------------

    def _endpoint(self, view: View, family: str, user_only: bool,
                  params: tuple[str, ...]) -> Callable[..., Response]:
        def endpoint(**kwargs: str) -> Response:
            return self._serve(view, family, user_only, params, kwargs)
        return endpoint

    def _caller(self) -> str | None:
        """Whom the request's token acts for: a user id, ``"app"`` for the app-only
        token, None when it is missing, unknown, revoked or expired, or (OAuth 1.0a)
        when the signature does not hold."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "oauth":
            token = self.state.oauth1.verify() or ""
        elif scheme.lower() != "bearer":
            return None
        if not token:
            return None
        try:
            return self.state.auth.tokens.access(token.strip()).subject
        except Refused:
            return None

    def _serve(self, view: View, family: str, user_only: bool, params: tuple[str, ...],
               kwargs: dict[str, str]) -> Response:
        """Auth, then the rate window, then faults, then the view (under the state lock).

        X sends no rate headers with a 401 (auth happens first; recorded in
        plhery/node-twitter-api-v2#425), every later answer carries them.
        """
        state = self.state
        left = state.outage.refuse()
        if left is not None:
            return self._outage(left)
        caller = self._caller()
        if caller is None:
            return self._render(401, generic_problem(401), PROBLEM_TYPE)
        who = "app" if caller == "app" else f"user:{caller}"
        now = state.clock.now()
        allowed, limit, remaining, reset = state.limits.take(family, who, now)
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
                   "x-rate-limit-reset": str(int(reset))}
        # Posting and DMs also have 24-hour caps, told on every answer of their family.
        daily_ok, daily = state.daily.take(family, who, now, count=allowed)
        headers.update(daily)
        if not allowed or not daily_ok:
            return self._render(429, generic_problem(429), PROBLEM_TYPE, headers)
        if user_only and caller == "app":
            return self._render(403, UNSUPPORTED_AUTH, PROBLEM_TYPE, headers)
        fault = g.fault = state.take_fault(request.method, request.path)
        if fault is not None and fault.kind == "error":
            return self._render(fault.status, generic_problem(fault.status), PROBLEM_TYPE,
                                headers)
        chaos = g.chaos = None if fault is not None else state.chaos.draw(request.method,
                                                                            (request.path,))
        if chaos is not None and chaos.kind in ("429", "5xx", "reset"):
            return self._refuse(chaos, headers)
        g.user = state.users.get(caller)
        try:
            with state.lock:
                _check_params(params)
                status, body = view(**kwargs)
            content_type = JSON_TYPE
        except ApiError as error:
            status, body, content_type = error.status, error.body, error.content_type
        if fault is not None and fault.kind == "error_after_write":
            return self._render(fault.status, generic_problem(fault.status), PROBLEM_TYPE,
                                headers)
        if fault is not None and fault.kind == "drop_response":
            return self._dropped(status)
        if chaos is not None and chaos.kind == "drop_response":
            return self._dropped(status)
        return self._render(status, body, content_type, headers)

    def _refuse(self, chaos: ChaosFault, headers: dict[str, str]) -> Response:
        """A probabilistic fault that stops the call before it does anything. X's 429
        carries the x-rate-limit-* headers with nothing remaining and the reset (the
        window's own, or ``retry_after`` from now); X sends no Retry-After."""
        if chaos.kind == "reset":
            return cut_connection()
        if chaos.kind == "5xx":
            status = chaos.status or 503
            return self._render(status, generic_problem(status), PROBLEM_TYPE, headers)
        throttled = dict(headers, **{"x-rate-limit-remaining": "0"})
        if chaos.retry_after is not None:
            throttled["x-rate-limit-reset"] = str(int(self.state.clock.now() + chaos.retry_after))
        return self._render(429, generic_problem(429), PROBLEM_TYPE, throttled)

    def _outage(self, left: float) -> Response:
        """X down: 503 problem to every API call (Retry-After when the end is known)."""
        after = retry_after_seconds(left)
        return self._render(503, generic_problem(503), PROBLEM_TYPE,
                            {"Retry-After": after} if after else None)

    @staticmethod
    def _render(status: int, body: dict[str, Any], content_type: str,
                headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        headers=headers or {}, content_type=content_type)

    @staticmethod
    def _dropped(status: int) -> Response:
        """Close the connection without a byte of response: shut the socket down, then
        raise a connection error, which the server treats as a client that went away."""
        connection = request.environ.get("sandbox.socket")

        def body() -> Iterator[bytes]:
            if connection is not None:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionAbortedError("sandbox fault: response dropped")
            yield b""  # pragma: no cover
        return Response(body(), status=status)

    def _log(self, response: Response) -> Response:
        if request.path.startswith("/2/"):
            fault = g.get("fault")
            entry: dict[str, Any] = {"method": request.method, "path": request.path,
                                     "query": request.query_string.decode(),
                                     "status": response.status_code,
                                     "at": iso(self.state.clock.now())}
            if request.path.startswith("/2/oauth2/"):
                entry["body"] = masked(token_params())
            elif request.method in ("POST", "PUT"):
                entry["body"] = request.get_json(silent=True)
            chaos: ChaosFault | None = g.get("chaos")
            if fault is not None:
                entry["fault"] = fault.kind
            elif chaos is not None:
                entry["fault"] = chaos.kind
            with self.state.lock:
                self.state.calls.append(entry)
                del self.state.calls[:-10_000]
            hold(chaos)
        return response

    def _routing_error(self, error: Exception) -> Response:
        status = getattr(error, "code", 404) or 404
        if request.path.startswith("/2/"):
            return self._render(status, generic_problem(status), PROBLEM_TYPE)
        return self._render(status, {"error": http.HTTPStatus(status).phrase}, JSON_TYPE)
