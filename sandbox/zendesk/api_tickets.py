"""Ticket routes: list, show, create, update, delete, show_many, bulk create/update as
jobs and their statuses, comments and audits.
"""
from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import Flask, Response, request

from sandbox.zendesk.constants import BULK_MAX, IDEMPOTENCY_TTL, JSON_CT
from sandbox.zendesk.helpers import _canonical, _found, ApiError, bad_request, not_found
from sandbox.zendesk.wire import (
    _api_warn,
    _body,
    _ctx,
    _ids_arg,
    _json,
    _queue_job,
    _unpaged,
    paginate,
    TICKET_KEYS,
)

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _install_tickets(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/tickets", methods=["GET"])
    def list_tickets() -> Response:
        with state.lock:
            tickets = state.live_tickets()
            external_id = request.args.get("external_id")
            if external_id is not None:
                tickets = [t for t in tickets if t.data["external_id"] == external_id]
            return _json(paginate(state, "tickets", tickets, lambda t: t.id, state.ticket_json))

    @app.route("/api/v2/tickets", methods=["POST"])
    def create_ticket() -> Response:
        body = _body()
        key = request.headers.get("Idempotency-Key")
        with state.lock:
            now = state.clock.now()
            for old in [k for k, v in state.idempotency.items() if now - v["at"] > IDEMPOTENCY_TTL]:
                del state.idempotency[old]
            if key is not None:
                if len(key) > 255:
                    raise bad_request("InvalidValue", "Idempotency-Key must be at most 255 characters")
                seen = state.idempotency.get(key)
                if seen is not None:
                    if seen["payload"] != _canonical(body):
                        raise bad_request("IdempotentRequestError",
                                          "Request parameters don't match the given idempotency key")
                    return Response(seen["response"], status=seen["status"], content_type=JSON_CT,
                                    headers={**seen["headers"], "x-idempotency-lookup": "hit"})
            p = body.get("ticket") if isinstance(body, Mapping) else None
            t, audit = state.create_ticket(p, _ctx(state))
            created = state.ticket_json(t)
            created["generated_timestamp"] = 0
            payload = json.dumps({"ticket": created, "audit": state.audit_json(audit)})
            headers = {"Location": state.url(f"tickets/{t.id}.json"),
                       **_api_warn("tickets", "create", p, "ticket", TICKET_KEYS)}
            if key is not None:
                state.idempotency[key] = {"payload": _canonical(body), "response": payload,
                                          "status": 201, "headers": headers, "at": now}
                headers = {**headers, "x-idempotency-lookup": "miss"}
            return Response(payload, status=201, content_type=JSON_CT, headers=headers)

    @app.route("/api/v2/tickets/<int:tid>", methods=["GET"])
    def show_ticket(tid: int) -> Response:
        with state.lock:
            return _json({"ticket": state.ticket_json(state.get_ticket(tid))})

    @app.route("/api/v2/tickets/<int:tid>", methods=["PUT"])
    def update_ticket(tid: int) -> Response:
        body = _body()
        with state.lock:
            t = state.get_ticket(tid)
            p = body.get("ticket") if isinstance(body, Mapping) else None
            ctx = _ctx(state)
            audit = state.update_ticket(t, p, ctx)
            if audit is None:
                audit = state._new_audit(t, ctx, state.clock.now(), creating=False, custom_metadata=None)
            return _json({"ticket": state.ticket_json(t), "audit": state.audit_json(audit)},
                         headers=_api_warn("tickets", "update", p, "ticket", TICKET_KEYS))

    @app.route("/api/v2/tickets/<int:tid>", methods=["DELETE"])
    def delete_ticket(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            t.deleted = True
            return Response(b"", status=204)

    @app.route("/api/v2/tickets/show_many", methods=["GET"])
    def show_many() -> Response:
        ids = _ids_arg()
        if len(ids) > BULK_MAX:
            raise ApiError(400, {"error": "TooManyValues",
                                 "description": f"Parameter ids cannot specify more than {BULK_MAX} values",
                                 "max_count": BULK_MAX})
        with state.lock:
            found = [t for t in (state.tickets.get(tid) for tid in sorted(set(ids))) if t and not t.deleted]
            return _json(_unpaged("tickets", [state.ticket_json(t) for t in found]))

    def queue_job(kind: str, items: list[Any]) -> Response:
        return _queue_job(state, kind, items)

    @app.route("/api/v2/tickets/create_many", methods=["POST"])
    def create_many() -> Response:
        body = _body()
        items = body.get("tickets") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: tickets")
        return queue_job("create", copy.deepcopy(items))

    @app.route("/api/v2/tickets/update_many", methods=["PUT"])
    def update_many() -> Response:
        body = _body()
        if not isinstance(body, Mapping):
            body = {}
        if request.args.get("ids"):
            ids = _ids_arg()
            change = body.get("ticket") or {}
            items = [(tid, copy.deepcopy(change)) for tid in ids]
        else:
            tickets = body.get("tickets")
            if not isinstance(tickets, list):
                raise bad_request("ParameterMissing", "param is missing or the value is empty: tickets")
            items = [(t.get("id"), {k: v for k, v in t.items() if k != "id"})
                     for t in tickets if isinstance(t, Mapping)]
        return queue_job("update", items)

    @app.route("/api/v2/job_statuses/show_many", methods=["GET"])
    def job_statuses_show_many() -> Response:
        """Several jobs' statuses in one read; ids not known (or expired) are left out."""
        ids = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
        if not ids:
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ids")
        if len(ids) > BULK_MAX:
            raise ApiError(400, {"error": "TooManyValues",
                                 "description": f"Parameter ids cannot specify more than {BULK_MAX} values",
                                 "max_count": BULK_MAX})
        with state.lock:
            statuses = []
            for jid in dict.fromkeys(ids):
                job = state.jobs.get(jid)
                if job is not None:
                    state.advance_job(job)
                    statuses.append(state.job_json(job))
            return _json({"job_statuses": statuses})

    @app.route("/api/v2/job_statuses/<jid>", methods=["GET"])
    def job_status(jid: str) -> Response:
        with state.lock:
            job = _found(state.jobs, jid)
            state.advance_job(job)
            return _json({"job_status": state.job_json(job)})

    @app.route("/api/v2/tickets/<int:tid>/comments", methods=["GET"])
    def list_comments(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            order = request.args.get("sort", request.args.get("sort_order", ""))
            descending = order in ("-created_at", "desc")
            key: Callable[[dict[str, Any]], Any] = (
                (lambda c: (-c["_ts"], -c["id"])) if descending else (lambda c: (c["_ts"], c["id"])))
            return _json(paginate(state, "comments", t.comments, key, state.comment_json))

    @app.route("/api/v2/tickets/<int:tid>/audits", methods=["GET"])
    def list_audits(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            return _json(paginate(state, "audits", t.audits, lambda a: (a["_ts"], a["id"]),
                                  state.audit_json))

    @app.route("/api/v2/tickets/<int:tid>/audits/<int:aid>", methods=["GET"])
    def show_audit(tid: int, aid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            audit = next((a for a in t.audits if a["id"] == aid), None)
            if audit is None:
                raise not_found()
            return _json({"audit": state.audit_json(audit)})
