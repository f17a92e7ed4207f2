"""The ``/_sandbox/`` control API: reset, clock, limits, the request log, faults, seed,
outage, records, settings, outbound messaging (register, list, flush) and sessions.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.common import is_chaos_spec
from sandbox.oauth import ACCESS, fingerprint
from sandbox.salesforce.catalog import CATALOG
from sandbox.salesforce.errors import SfError
from sandbox.salesforce.ids import sf_time
from sandbox.salesforce.wire import _json, _route

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState


def _install_control(app: Flask, state: SalesforceState) -> None:
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731
    CT = "application/json"

    def spec() -> dict[str, Any]:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    def bad(description: str, error: str = "InvalidValue") -> Response:
        return _json({"error": error, "description": description}, 400, content_type=CT)

    @route("/_sandbox/reset", ["POST"])
    def reset() -> Response:
        state.reset()
        return _json({"ok": True, **state.info()}, content_type=CT)

    @route("/_sandbox/clock", ["GET", "POST"])
    def clock() -> Response:
        if request.method == "POST":
            try:
                state.clock.control(spec())
            except (TypeError, ValueError) as err:
                return bad(str(err))
        now = state.clock.now()
        return _json({"now": now, "utc": sf_time(now), "speed": state.clock.speed}, content_type=CT)

    @route("/_sandbox/limits", ["GET", "POST"])
    def limits() -> Response:
        if request.method == "POST":
            body = spec()
            if body.get("family", "DailyApiRequests") != "DailyApiRequests":
                return bad(f"unknown family {body.get('family')!r}", "UnknownFamily")
            try:
                if "edition" in body or "licenses" in body:
                    state.set_edition(str(body.get("edition", state.edition)),
                                      int(body.get("licenses", state.licenses)))
                if "limit" in body:
                    state.daily_limit = max(0, int(body["limit"]))
                if "seconds" in body:
                    state.daily_window = max(1, int(body["seconds"]))
                if "used" in body:
                    now = state.clock.now()
                    state.api_calls = deque([now] * max(0, int(body["used"])))
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"limits": {"DailyApiRequests": {"limit": state.daily_limit,
                                                      "seconds": state.daily_window,
                                                      "used": state.api_used()}},
                      "edition": state.edition, "licenses": state.licenses}, content_type=CT)

    @route("/_sandbox/requests", ["GET", "DELETE"])
    def requests_log() -> Response:
        if request.method == "DELETE":
            state.request_log.clear()
        return _json({"requests": list(state.request_log)}, content_type=CT)

    @route("/_sandbox/faults", ["GET", "POST", "DELETE"])
    def faults() -> Response:
        if request.method == "POST":
            body = spec()
            if is_chaos_spec(body):
                try:
                    chaos = state.chaos.add(body)
                except (TypeError, ValueError) as err:
                    return bad(str(err))
                return _json({"fault": chaos.json()}, 201, content_type=CT)
            kind = body.get("kind", "status")
            if kind not in ("status", "drop_response"):
                return bad("kind must be status or drop_response, or one of 429, 5xx, slow, timeout, "
                           "reset with a probability")
            fault = {"path_prefix": body.get("path_prefix", "/"), "method": body.get("method"),
                     "status": body.get("status", 500), "count": int(body.get("count", 1)), "kind": kind,
                     "body": body.get("body"), "content_type": body.get("content_type"), "hits": 0}
            state.faults.append(fault)
            return _json({"fault": fault}, 201, content_type=CT)
        if request.method == "DELETE":
            state.faults.clear()
            state.chaos.clear()
        return _json({"faults": list(state.faults), **state.chaos.json()}, content_type=CT)

    @route("/_sandbox/seed", ["GET", "POST"])
    def seed() -> Response:
        if request.method == "POST":
            try:
                state.chaos.reseed(int(spec().get("seed", 0)))
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"seed": state.chaos.seed}, content_type=CT)

    @app.route("/_sandbox/outage", methods=["GET", "POST", "DELETE"])
    def outage() -> Response:
        try:
            body = spec() if request.method == "POST" else {}
            return _json({"outage": state.outage.control(request.method, body)}, content_type=CT)
        except (TypeError, ValueError) as err:
            return bad(str(err))

    @route("/_sandbox/records", ["GET"])
    def records() -> Response:
        kind = next((n for n in CATALOG if n.lower() == request.args.get("type", "Case").lower()), None)
        if kind is None:
            return bad(f"unknown type; one of {sorted(CATALOG)}", "UnknownType")
        out = []
        for rec in state.records[kind].values():
            item = {"attributes": {"type": kind}, **rec}
            for f in CATALOG[kind].fields:
                item.setdefault(f["name"], state.value(kind, rec, f["name"]))
            out.append(item)
        return _json({"records": out}, content_type=CT)

    @route("/_sandbox/settings", ["GET", "POST"])
    def settings() -> Response:
        if request.method == "POST":
            try:
                state.set_settings(spec())
            except KeyError as err:
                return bad(f"unknown setting {err.args[0]!r}", "UnknownSetting")
            except (TypeError, ValueError) as err:
                return bad(str(err))
        return _json({"settings": dict(state.settings)}, content_type=CT)

    @route("/_sandbox/outbound", ["GET", "POST", "DELETE"])
    def outbound() -> Response:
        if request.method == "POST":
            try:
                action = state.register_outbound(spec())
            except (TypeError, ValueError) as err:
                return bad(str(err))
            except SfError as err:
                return bad(str(err.body))
            return _json({"outbound": action.json()}, 201, content_type=CT)
        if request.method == "DELETE":
            wanted = request.args.get("action_id")
            for key in [k for k in state.actions if wanted in (None, k)]:
                del state.actions[key]
        return _json({"outbound": [a.json() for a in state.actions.values()]}, content_type=CT)

    @route("/_sandbox/outbound_messages", ["GET"])
    def outbound_messages() -> Response:
        state.om_batch_pending()
        return _json({"messages": [d.json() for d in state.deliveries],
                      "queued": len(state.om_queue)}, content_type=CT)

    @route("/_sandbox/outbound/flush", ["POST"])
    def outbound_flush() -> Response:
        for delivery in state.deliveries:
            if delivery.status == "pending":
                delivery.next_at = 0.0
        state.om_cond.notify_all()
        return _json({"ok": True}, content_type=CT)

    @route("/_sandbox/sessions", ["GET", "POST"])
    def sessions() -> Response:
        """Sessions (access tokens); POST {"expire": "issued" | "all" | <a session id>}
        ends them as a timeout would."""
        if request.method == "POST":
            target = str(spec().get("expire", "issued"))
            named = fingerprint(target)
            state.auth.tokens.expire(lambda t: t.kind == ACCESS and (
                target == "all" or (target == "issued" and not t.fixed) or t.id == named))
        return _json({"sessions": [{"user_id": t["subject"], "static": t["fixed"],
                                    "expired": not t["active"], "issued": sf_time(t["issued_at"])}
                                   for t in state.auth.tokens.listing() if t["kind"] == ACCESS]},
                     content_type=CT)
