"""What every request passes first: authentication, roles, rate limits, faults, outage."""
from __future__ import annotations

import json
import math
import re
import time
from typing import TYPE_CHECKING, Any, Mapping

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.common import (
    REFUSING_KINDS,
    ChaosFault,
    add_pending_headers,
    cut_connection,
    drop_response,
    from_agent_ui,
    hold,
    match_fault,
    retry_after_seconds,
)
from sandbox.oauth import API_TOKEN, Refused, masked, token_params
from sandbox.zendesk.constants import (
    FORBIDDEN_BODY,
    INVALID_TOKEN,
    JSON_CT,
    REQUEST_LOG_MAX,
    TEXT_CT,
)
from sandbox.zendesk.helpers import ApiError, iso
from sandbox.zendesk.wire import _error_response, _json, _original_path

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


ADMIN_ONLY_PREFIXES = ("/api/v2/incremental/", "/api/v2/webhooks", "/api/v2/slas/")
ADMIN_ONLY_WRITES = ("/api/v2/ticket_fields", "/api/v2/groups")
# family -> the header that reports its window (the other families report none).
FAMILY_HEADERS = {"tickets_index": "zendesk-ratelimit-tickets-index",
                  "per_ticket_updates": "zendesk-ratelimit-per-ticket-updates",
                  "ticket_create": "zendesk-ratelimit-ticket-request-create-by-user-and-ip"}


def _family_for(method: str, path: str) -> list[tuple[str, str]]:
    """Endpoint-scoped windows for one call, as (family, key-kind)."""
    out: list[tuple[str, str]] = []
    if path.startswith("/api/v2/incremental/"):
        out.append(("incremental", "account"))
    if method == "GET" and path == "/api/v2/tickets":
        out.append(("tickets_index", "account"))
    if method == "POST" and path == "/api/v2/tickets":
        out.append(("ticket_create", "user"))
    if method == "PUT" and re.fullmatch(r"/api/v2/tickets/\d+", path):
        out.append(("ticket_updates", "account"))
        out.append(("per_ticket_updates", "user-ticket"))
    return out


RATE_MESSAGES = {
    "account": "You have exceeded the API rate limit for your account.",
    "incremental": "You have exceeded the rate limit for incremental exports.",
    "tickets_index": "You have exceeded the rate limit for listing tickets.",
    "ticket_create": "You have exceeded the rate limit for creating tickets.",
    "ticket_updates": "You have exceeded the rate limit for updating tickets.",
    "per_ticket_updates": "You have exceeded the rate limit for updating a single ticket.",
    "user_updates": "You have exceeded the rate limit for updating a single unique user.",
    "webhooks": "You have exceeded the rate limit for the webhooks API.",
}


def _too_many(state: ZendeskState, family: str, reset_at: float, headers: dict[str, str]) -> ApiError:
    wait = max(1, math.ceil(reset_at - state.clock.now()))
    return ApiError(429, f"{RATE_MESSAGES[family]} Please wait {wait} seconds before retrying.\n",
                    {**headers, "Retry-After": str(wait)}, TEXT_CT)


def _take(state: ZendeskState, family: str, who: str) -> tuple[bool, int, int, float]:
    return state.limits.take(family, who, state.clock.now())


def _rate_headers(state: ZendeskState, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
    reset = max(0, math.ceil(reset_at - state.clock.now()))
    return {"ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset), "x-rate-limit": str(limit),
            "x-rate-limit-remaining": str(remaining)}


def _authenticate(state: ZendeskState) -> tuple[dict[str, Any] | None, bool]:
    """(the caller, or None; whether a Bearer token was presented). An OAuth token acts as
    its user while it lives; an API token as the user whose email comes with it, until
    the API tokens' sunset on the sandbox clock."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        try:
            token = state.auth.tokens.access(header[len("Bearer "):].strip())
        except Refused:
            return None, True
        return state.users.get(int(token.subject)), True
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or "/token" not in auth.username:
        return None, False
    try:
        state.auth.tokens.access(auth.password or "", kinds=(API_TOKEN,))
    except Refused:
        return None, False
    return state.find_user_by_email(auth.username.rsplit("/token", 1)[0]), False


def _unauthenticated(bearer: bool) -> ApiError:
    """401: an OAuth token refused in the OAuth words, anything else in Zendesk's own."""
    if bearer:
        return ApiError(401, {"error": "invalid_token", "error_description": INVALID_TOKEN},
                        {"WWW-Authenticate": f'Bearer realm="Zendesk", error="invalid_token", '
                                             f'error_description="{INVALID_TOKEN}"'})
    return ApiError(401, {"error": "Couldn't authenticate you"},
                    {"WWW-Authenticate": 'Basic realm="Web Password"'})


def _match_fault(state: ZendeskState, method: str) -> dict[str, Any] | None:
    return match_fault(state.faults, method, (_original_path(), request.path))


def _fault_error(fault: Mapping[str, Any]) -> ApiError:
    status = int(fault.get("status") or 500)
    if fault.get("body") is not None:
        return ApiError(status, fault["body"], content_type=str(fault.get("content_type") or JSON_CT))
    if status == 429:
        return ApiError(429, "Too Many Requests\n", {"Retry-After": str(int(fault.get("retry_after", 1)))},
                        TEXT_CT)
    names = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    return ApiError(status, {"error": names.get(status, "Error"),
                             "description": "Injected by the sandbox fault API"})


def _chaos_refusal(state: ZendeskState, fault: ChaosFault) -> ApiError:
    """A probabilistic 429 or 5xx in Zendesk's shape: the 429 is the account limit's own
    answer (text/plain, Retry-After, the rate headers showing nothing left)."""
    if fault.kind == "5xx":
        return _fault_error({"status": fault.status or 503})
    headers = dict(getattr(g, "headers", None) or {})
    wait = fault.retry_after
    if wait is None:
        wait = max(1, int(headers.get("ratelimit-reset") or 1))
    headers.update({"ratelimit-remaining": "0", "x-rate-limit-remaining": "0",
                    "ratelimit-reset": str(max(1, math.ceil(wait)))})
    text = f"{RATE_MESSAGES['account']} Please wait {max(1, math.ceil(wait))} seconds before retrying.\n"
    return ApiError(429, text, {**headers, "Retry-After": str(max(1, math.ceil(wait)))}, TEXT_CT)


def _outage_error(left: float) -> ApiError:
    """Everything answers 503 while the account is down (wording assumed); Retry-After
    when the end is known."""
    after = retry_after_seconds(left)
    return ApiError(503, {"error": "ServiceUnavailable",
                          "description": "Zendesk is temporarily unavailable. Please try again later."},
                    {"Retry-After": after} if after else {})


def _check_windows(state: ZendeskState, user: Mapping[str, Any] | None, method: str, path: str,
                   ui: bool, bearer: bool = False) -> None:
    """Count the call in its windows (the plan's, then the endpoint's); 401 / 429 when due.
    An agent's UI action skips the plan window, as on Zendesk, but not the endpoint ones."""
    family = "webhooks" if path.startswith("/api/v2/webhooks") else "account"
    allowed, reset_at = True, 0.0
    if not ui:
        allowed, limit, remaining, reset_at = _take(state, family, "account")
        g.headers = _rate_headers(state, limit, remaining, reset_at)
    if user is None:
        raise _unauthenticated(bearer)
    if not allowed:
        raise _too_many(state, family, reset_at, {})
    for extra, scope in _family_for(method, path):
        who = {"account": "account", "user": str(user["id"]),
               "user-ticket": f"{user['id']}:{path.rsplit('/', 1)[-1]}"}[scope]
        ok, fam_limit, fam_remaining, fam_reset = _take(state, extra, who)
        if extra in FAMILY_HEADERS:
            g.headers[FAMILY_HEADERS[extra]] = (
                f"total={fam_limit}; remaining={fam_remaining}; "
                f"resets={max(0, math.ceil(fam_reset - state.clock.now()))}")
        if not ok:
            raise _too_many(state, extra, fam_reset, {})


def _check_role(user: Mapping[str, Any], method: str, path: str) -> None:
    if user["role"] == "end-user" and path not in ("/api/v2/users/me",):
        raise ApiError(403, dict(FORBIDDEN_BODY))
    if user["role"] != "admin" and (
            path.startswith(ADMIN_ONLY_PREFIXES)
            or (method != "GET" and path.startswith(ADMIN_ONLY_WRITES))):
        raise ApiError(403, dict(FORBIDDEN_BODY))


def _apply_faults(state: ZendeskState, method: str) -> Response | None:
    """The counted faults first, then a roll of the probabilistic ones; refusals happen
    here, before the call does anything, the rest when the answer goes out."""
    fault = _match_fault(state, method)
    if fault is not None:
        g.fault = fault
        if fault.get("kind", "status") == "status":
            raise _fault_error(fault)
        return None
    chaos = state.chaos.draw(method, (_original_path(), request.path))
    g.chaos = chaos
    if chaos is None or chaos.kind not in ("429", "5xx", "reset"):
        return None
    if chaos.kind == "reset":
        return cut_connection()
    raise _chaos_refusal(state, chaos)


def _token_call_faults(state: ZendeskState) -> Response | None:
    """The token endpoint meets the probabilistic refusals (429, 5xx, reset: nothing
    applied) but no fault that applies a call and loses its answer: a lost rotation
    would lock the client out, and how Zendesk recovers from that is not documented."""
    chaos = state.chaos.draw(request.method, (request.path,), REFUSING_KINDS)
    if chaos is None:
        return None
    g.chaos = chaos
    if chaos.kind == "reset":
        return cut_connection()
    raise _chaos_refusal(state, chaos)


def _logged_body() -> Any:
    """The request body for the log; a token request's secrets masked."""
    if request.path.startswith("/oauth/"):
        return masked(token_params())
    try:
        raw = request.get_data(cache=True)
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


def _install_gate(app: Flask, state: ZendeskState) -> None:
    @app.before_request
    def gate() -> Response | None:
        g.started = time.time()
        g.headers = {}
        g.fault = None
        g.chaos = None
        g.user = None
        with state.lock:
            state.settle_jobs()
        if request.path.startswith("/_sandbox/"):
            return None
        left = state.outage.refuse()
        if left is not None:
            raise _outage_error(left)
        if request.path.startswith("/oauth/"):
            return _token_call_faults(state) if request.path == "/oauth/tokens" else None
        ui = from_agent_ui()
        with state.lock:
            user, bearer = _authenticate(state)
            g.user = user
            _check_windows(state, user, request.method, request.path, ui, bearer)
            assert user is not None
            _check_role(user, request.method, request.path)
            return None if ui else _apply_faults(state, request.method)

    @app.after_request
    def finish(response: Response) -> Response:
        add_pending_headers(response)
        if request.path.startswith("/api/"):
            response.headers.setdefault("x-zendesk-api-version", "v2")
            if response.status_code == 204 and not request.path.startswith("/api/v2/webhooks"):
                response.headers.pop("Content-Type", None)
        fault = getattr(g, "fault", None)
        chaos: ChaosFault | None = getattr(g, "chaos", None)
        if fault is not None and fault.get("kind") == "drop_response":
            response = drop_response(fault, lambda f: _error_response(_fault_error(f)))
        elif chaos is not None and chaos.kind == "drop_response":
            response = cut_connection()
        if chaos is not None:
            fault = {"kind": chaos.kind}
        if not request.path.startswith("/_sandbox/"):
            body = _logged_body()
            entry = {"time": iso(state.clock.now()), "method": request.method,
                     "path": _original_path(), "query": request.query_string.decode(),
                     "status": response.status_code,
                     "idempotency_key": request.headers.get("Idempotency-Key"),
                     "user": (g.user or {}).get("email") if getattr(g, "user", None) else None,
                     "fault": (fault or {}).get("kind"), "body": body}
            with state.lock:
                state.request_log.append(entry)
                del state.request_log[:-REQUEST_LOG_MAX]
        hold(chaos)
        return response

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> Response:
        return add_pending_headers(_error_response(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        if request.path.startswith("/_sandbox/"):
            return _json({"error": err.name, "description": err.description}, err.code or 500)
        return _json({"error": "InvalidEndpoint", "description": "Not found"}, 404)
