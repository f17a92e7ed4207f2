"""What every request passes first: sessions, API allocation, faults, outage."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.common import (
    ChaosFault,
    add_pending_headers,
    cut_connection,
    drop_response,
    from_agent_ui,
    hold,
    match_fault,
    retry_after_seconds,
)
from sandbox.oauth import masked, token_params
from sandbox.salesforce.constants import (
    JSON_CT,
    MAX_VERSION,
    MIN_VERSION,
    NOT_FOUND_MSG,
    REQUEST_LOG_MAX,
)
from sandbox.salesforce.errors import not_found, sf_error, SfError
from sandbox.salesforce.ids import sf_time
from sandbox.salesforce.wire import _error_response, _json, _VERSION_RE

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState


def _match_fault(state: SalesforceState, method: str) -> dict[str, Any] | None:
    return match_fault(state.faults, method, (request.path,))


def _fault_error(fault: Mapping[str, Any]) -> SfError:
    status = int(fault.get("status") or 500)
    if fault.get("body") is not None:
        return SfError(status, fault["body"], content_type=str(fault.get("content_type") or JSON_CT))
    if status == 403:
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if status == 401:
        return SfError(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    if status == 503:
        return sf_error(503, "SERVER_UNAVAILABLE", "Injected by the sandbox fault API")
    return sf_error(status, "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred. Please include this ErrorId if "
                    "you contact support: 1234567890-12345 (-1234567890) [injected by the sandbox fault API]")


def _outage_error(left: float) -> SfError:
    """The org down: SERVER_UNAVAILABLE to every call (wording assumed)."""
    after = retry_after_seconds(left)
    return SfError(503, [{"message": "The server is temporarily unavailable. Please try again later.",
                          "errorCode": "SERVER_UNAVAILABLE"}], {"Retry-After": after} if after else {})


def _count_call(state: SalesforceState, internal: bool, ui: bool) -> None:
    """Sign the caller in and count the call against the daily allocation (an agent's UI
    action and the sandbox's own calls are not API calls)."""
    parts = request.path.split("/")
    if not (request.path.startswith("/services/data/") and len(parts) > 3 and parts[3]):
        return
    match = _VERSION_RE.match(parts[3])
    if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        raise not_found()
    with state.lock:
        user = state.authenticate(request.headers.get("Authorization", ""))
        if user is None:
            raise SfError(401, [{"message": "Session expired or invalid",
                                 "errorCode": "INVALID_SESSION_ID"}],
                          {"WWW-Authenticate": "Token"})
        g.user = user
        if not internal and not ui:
            allowed, used, limit = state.take_api_call()
            g.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
            if not allowed:
                raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def _apply_faults(state: SalesforceState) -> Response | None:
    """The counted faults first, then a roll of the probabilistic ones. Salesforce has no
    429: its over-limit answer is 403 REQUEST_LIMIT_EXCEEDED, with no Retry-After."""
    with state.lock:
        fault = _match_fault(state, request.method)
    if fault is not None:
        g.fault = fault
        if fault.get("kind", "status") == "status":
            raise _fault_error(fault)
        return None
    chaos = g.chaos = state.chaos.draw(request.method, (request.path,))
    if chaos is None:
        return None
    if chaos.kind == "reset":
        return cut_connection()
    if chaos.kind == "429":
        raise sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if chaos.kind == "5xx":
        raise _fault_error({"status": chaos.status or 503})
    return None


def _install_gate(app: Flask, state: SalesforceState) -> None:
    @app.before_request
    def gate() -> Response | None:
        g.headers = {}
        g.user = None
        g.fault = None
        g.chaos = None
        if request.path.startswith("/_sandbox/"):
            return None
        internal = bool(request.environ.get("sandbox.internal"))
        if not internal:
            left = state.outage.refuse()
            if left is not None:
                raise _outage_error(left)
        ui = from_agent_ui()
        _count_call(state, internal, ui)
        if internal or ui:
            return None
        return _apply_faults(state)

    @app.after_request
    def finish(response: Response) -> Response:
        add_pending_headers(response)
        fault = getattr(g, "fault", None)
        chaos: ChaosFault | None = getattr(g, "chaos", None)
        if fault is not None and fault.get("kind") == "drop_response":
            response = drop_response(fault, lambda f: _error_response(_fault_error(f)))
        elif chaos is not None and chaos.kind == "drop_response":
            response = cut_connection()
        if chaos is not None:
            fault = {"kind": chaos.kind}
        if not request.path.startswith("/_sandbox/") and not request.environ.get("sandbox.internal"):
            body: Any = None
            raw = request.get_data(cache=True)
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode("utf-8", "replace")[:2000] if raw else None
            if request.path.startswith("/services/oauth2/"):
                body = masked({**request.args, **token_params()})  # the form was read by the view
            if request.path.startswith("/services/Soap/"):
                body = "<SOAP login>"
            with state.lock:
                user = state.records["User"].get(g.user or "") if getattr(g, "user", None) else None
                state.request_log.append({
                    "time": sf_time(state.clock.now()), "method": request.method, "path": request.path,
                    "query": request.query_string.decode(), "status": response.status_code,
                    "user": user.get("Username") if user else None,
                    "auto_assign": request.headers.get("Sforce-Auto-Assign"),
                    "fault": (fault or {}).get("kind"), "body": body})
                del state.request_log[:-REQUEST_LOG_MAX]
        hold(chaos)
        return response

    @app.errorhandler(SfError)
    def sf_error_handler(err: SfError) -> Response:
        return add_pending_headers(_error_response(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        if request.path.startswith("/_sandbox/"):
            return _json({"error": err.name, "description": err.description}, err.code or 500,
                         content_type="application/json")
        if err.code == 405:
            valid = getattr(err, "valid_methods", None) or []
            allowed = ",".join(m for m in valid if m not in ("HEAD", "OPTIONS"))
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
            response = _json([{"errorCode": "METHOD_NOT_ALLOWED", "message": message}], 405)
        else:
            response = _json([{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MSG}], 404)
        return add_pending_headers(response)
