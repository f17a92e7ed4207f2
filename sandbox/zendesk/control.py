"""The ``/_sandbox/`` control API: reset, clock, plans and limits, bulk jobs held queued, the
request log, every ticket as stored, faults, seed, outage and webhook deliveries.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from flask import Flask, Response, request

from sandbox.common import is_chaos_spec
from sandbox.zendesk.constants import (
    BULK_MAX,
    HIGH_VOLUME_FIGURES,
    HIGH_VOLUME_PLANS,
    LIMIT_DEFAULTS,
    PLAN_LIMITS,
)
from sandbox.zendesk.helpers import iso
from sandbox.zendesk.wire import _body, _json

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _set_plan(state: ZendeskState, plan: str, high_volume: bool) -> None:
    """The account's plan (and High Volume add-on) as the windows they set."""
    if plan not in PLAN_LIMITS:
        raise ValueError(f"plan must be one of {', '.join(PLAN_LIMITS)}")
    high_volume = high_volume or plan == "enterprise_plus"
    if high_volume and plan not in HIGH_VOLUME_PLANS:
        raise ValueError(f"the High Volume add-on needs Growth/Professional or above, not {plan}")
    state.plan, state.high_volume = plan, high_volume
    figures = HIGH_VOLUME_FIGURES if high_volume else {
        f: LIMIT_DEFAULTS[f] for f in HIGH_VOLUME_FIGURES}
    for family, (limit, seconds) in figures.items():
        state.limits.set(family, limit, seconds)
    if not high_volume:
        state.limits.set("account", PLAN_LIMITS[plan], 60)


def _set_limits(state: ZendeskState, spec: Mapping[str, Any]) -> None:
    """``/_sandbox/limits`` POST: a ``plan`` (+ ``high_volume``), the in-flight job limit
    (``inflight_jobs``), and/or one window (``family``, ``limit``, ``seconds``)."""
    if "plan" in spec or "high_volume" in spec:
        _set_plan(state, str(spec.get("plan", state.plan)), bool(spec.get("high_volume", state.high_volume)))
    if "inflight_jobs" in spec:
        jobs = int(spec["inflight_jobs"])
        if jobs < 0:
            raise ValueError("inflight_jobs must be 0 or more")
        state.max_inflight_jobs = jobs
    if "family" in spec:
        state.limits.set(str(spec["family"]), int(spec["limit"]), int(spec.get("seconds", 60)))
    elif not {"plan", "high_volume", "inflight_jobs"} & set(spec):
        raise KeyError(spec.get("family"))


def _limits_json(state: ZendeskState) -> dict[str, Any]:
    current = {f: list(state.limits.overrides.get(f) or d) for f, d in LIMIT_DEFAULTS.items()}
    return {"limits": current, "plan": state.plan, "high_volume": state.high_volume,
            "inflight_jobs": state.max_inflight_jobs, "bulk_max": BULK_MAX}


def _install_control(app: Flask, state: ZendeskState) -> None:
    @app.route("/_sandbox/reset", methods=["POST"])
    def reset() -> Response:
        with state.lock:
            state.reset()
            return _json({"ok": True, **state.info()})

    @app.route("/_sandbox/clock", methods=["GET", "POST"])
    def clock() -> Response:
        if request.method == "POST":
            spec = _body()
            try:
                with state.lock:
                    state.clock.control(spec)
                    state.settle_jobs()
            except (TypeError, ValueError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        now = state.clock.now()
        return _json({"now": now, "utc": iso(now), "speed": state.clock.speed})

    @app.route("/_sandbox/limits", methods=["GET", "POST"])
    def limits() -> Response:
        if request.method == "POST":
            spec = _body()
            try:
                with state.lock:
                    _set_limits(state, spec if isinstance(spec, Mapping) else {})
            except KeyError as err:
                return _json({"error": "UnknownFamily", "description": f"unknown family {err.args[0]!r}",
                              "families": sorted(LIMIT_DEFAULTS)}, 400)
            except (TypeError, ValueError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        with state.lock:
            return _json(_limits_json(state))

    @app.route("/_sandbox/jobs", methods=["GET", "POST"])
    def jobs() -> Response:
        """Bulk jobs as they stand, and the hold that keeps new ones ``queued``."""
        with state.lock:
            if request.method == "POST":
                spec = _body()
                try:
                    state.hold_jobs(spec if isinstance(spec, Mapping) else {})
                except (TypeError, ValueError) as err:
                    return _json({"error": "InvalidValue", "description": str(err)}, 400)
            return _json(state.jobs_json())

    @app.route("/_sandbox/requests", methods=["GET", "DELETE"])
    def requests_log() -> Response:
        with state.lock:
            if request.method == "DELETE":
                state.request_log.clear()
            return _json({"requests": list(state.request_log)})

    @app.route("/_sandbox/tickets", methods=["GET"])
    def all_tickets() -> Response:
        """Every ticket with its comments (``?comments=false``: the tickets alone)."""
        with_comments = request.args.get("comments", "true").lower() not in ("false", "0", "no")
        with state.lock:
            out = []
            for _, t in sorted(state.tickets.items()):
                item = state.ticket_json(t)
                if with_comments:
                    item["comments"] = [state.comment_json(c) for c in t.comments]
                item["deleted"] = t.deleted
                out.append(item)
            return _json({"tickets": out})

    @app.route("/_sandbox/faults", methods=["GET", "POST", "DELETE"])
    def faults() -> Response:
        with state.lock:
            if request.method == "POST":
                spec = _body()
                if is_chaos_spec(spec):
                    try:
                        chaos = state.chaos.add(spec)
                    except (TypeError, ValueError) as err:
                        return _json({"error": "InvalidValue", "description": str(err)}, 400)
                    return _json({"fault": chaos.json()}, 201)
                kind = spec.get("kind", "status")
                if kind not in ("status", "drop_response"):
                    return _json({"error": "InvalidValue",
                                  "description": "kind must be status or drop_response, or one of "
                                                 "429, 5xx, slow, timeout, reset with a probability"}, 400)
                fault = {"path_prefix": spec.get("path_prefix", "/"), "method": spec.get("method"),
                         "status": spec.get("status", 500 if kind == "status" else 500),
                         "count": int(spec.get("count", 1)), "kind": kind,
                         "retry_after": spec.get("retry_after", 1), "body": spec.get("body"),
                         "content_type": spec.get("content_type"), "hits": 0}
                state.faults.append(fault)
                return _json({"fault": fault}, 201)
            if request.method == "DELETE":
                state.faults.clear()
                state.chaos.clear()
            return _json({"faults": list(state.faults), **state.chaos.json()})

    @app.route("/_sandbox/seed", methods=["GET", "POST"])
    def seed() -> Response:
        if request.method == "POST":
            try:
                state.chaos.reseed(int(_body().get("seed", 0)))
            except (TypeError, ValueError, AttributeError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        return _json({"seed": state.chaos.seed})

    @app.route("/_sandbox/outage", methods=["GET", "POST", "DELETE"])
    def outage() -> Response:
        try:
            spec = _body() if request.method == "POST" else {}
            return _json({"outage": state.outage.control(request.method, spec or {})})
        except (TypeError, ValueError, AttributeError) as err:
            return _json({"error": "InvalidValue", "description": str(err)}, 400)

    @app.route("/_sandbox/webhook_deliveries", methods=["GET"])
    def deliveries() -> Response:
        with state.lock:
            out = []
            for inv in state.deliveries:
                last = inv["attempts"][-1] if inv["attempts"] else {}
                out.append({"invocation_id": inv["id"], "webhook_id": inv["webhook_id"],
                            "trigger_id": inv["trigger_id"], "ticket_id": inv["ticket_id"],
                            "url": inv["url"], "method": inv["method"], "headers": dict(inv["headers"]),
                            "body": inv["body"], "status": inv["status"], "status_code": inv["status_code"],
                            "attempts": len(inv["attempts"]), "error": last.get("error")})
            return _json({"deliveries": out})
