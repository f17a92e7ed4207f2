"""Incremental exports (tickets, ticket events, users), a minute behind like Zendesk's."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, request

from sandbox.zendesk.constants import INCREMENTAL_LAG, INCREMENTAL_PAGE
from sandbox.zendesk.helpers import _b64, _unb64, ApiError, bad_request
from sandbox.zendesk.wire import _json

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _start_time(state: ZendeskState) -> int:
    raw = request.args.get("start_time")
    if raw is None:
        raise bad_request("InvalidValue", "start_time is required")
    try:
        start = int(float(raw))
    except ValueError as err:
        raise bad_request("InvalidValue", "start_time must be a Unix timestamp") from err
    if start > state.clock.now() - INCREMENTAL_LAG:
        raise ApiError(422, {"error": "InvalidValue",
                             "description": "Too recent start_time. Use a start_time older than 1 minute"})
    return max(0, start)


def _per_page() -> int:
    try:
        return max(1, min(INCREMENTAL_PAGE, int(request.args.get("per_page", INCREMENTAL_PAGE))))
    except ValueError as err:
        raise bad_request("InvalidValue", "per_page must be an integer") from err


def _time_page(entries: list[tuple[Any, ...]], start: int, per_page: int) -> tuple[list[Any], int, bool]:
    """Time-based export page: whole timestamp groups; end_time +1 when more follow (recorded)."""
    chosen = [e for e in entries if e[0] >= start]
    if len(chosen) <= per_page:
        return [e[2] for e in chosen], (chosen[-1][0] if chosen else start), True
    last = chosen[per_page - 1][0]
    page = [e for e in chosen if e[0] <= last]
    end_of_stream = len(page) == len(chosen)
    return [e[2] for e in page], last if end_of_stream else last + 1, end_of_stream


def _install_exports(app: Flask, state: ZendeskState) -> None:
    def next_page_url(path: str, end_time: int) -> str:
        params = {k: v for k, v in request.args.items() if k in ("per_page", "include")}
        params["start_time"] = str(end_time)
        return f"{state.base_url}/api/v2/{path}.json?{urlencode(sorted(params.items()))}"

    @app.route("/api/v2/incremental/ticket_events", methods=["GET"])
    def ticket_events() -> Response:
        with state.lock:
            start = _start_time(state)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            include = "comment_events" in request.args.get("include", "").split(",")
            entries = state.ticket_events(include, since=start, before=cutoff)
            events, end_time, end = _time_page(entries, start, _per_page())
            return _json({"ticket_events": events,
                          "next_page": next_page_url("incremental/ticket_events", end_time),
                          "count": len(events), "end_of_stream": end, "end_time": end_time})

    @app.route("/api/v2/incremental/tickets", methods=["GET"])
    def incremental_tickets() -> Response:
        with state.lock:
            start = _start_time(state)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            entries = sorted(((int(t.generated), t.id, t) for t in state.tickets.values()
                              if t.generated < cutoff), key=lambda e: (e[0], e[1]))
            tickets, end_time, end = _time_page(entries, start, _per_page())
            return _json({"tickets": [state.ticket_json(t) for t in tickets],
                          "next_page": next_page_url("incremental/tickets", end_time),
                          "count": len(tickets), "end_of_stream": end, "end_time": end_time})

    @app.route("/api/v2/incremental/tickets/cursor", methods=["GET"])
    def incremental_tickets_cursor() -> Response:
        with state.lock:
            per_page = _per_page()
            cursor = request.args.get("cursor")
            if cursor:
                try:
                    ts_text, _, rest = _unb64(cursor).partition("||")
                    position = (float(ts_text), int(rest.strip("|")))
                except ValueError as err:
                    raise bad_request("InvalidValue", "invalid cursor") from err
            else:
                position = (float(_start_time(state)), -1)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            entries = sorted(((float(int(t.generated)), t.id, t) for t in state.tickets.values()
                              if t.generated < cutoff), key=lambda e: (e[0], e[1]))
            after = [e for e in entries if (e[0], e[1]) > position]
            chunk = after[:per_page]
            end_of_stream = len(after) <= per_page
            if chunk:
                after_cursor: str | None = _b64(f"{chunk[-1][0]:.1f}||{chunk[-1][1]}|")
            else:
                after_cursor = cursor or None
            extra = f"&per_page={per_page}" if "per_page" in request.args else ""
            after_url = (f"{state.base_url}/api/v2/incremental/tickets/cursor.json?cursor="
                         f"{quote(after_cursor, safe='')}{extra}") if after_cursor else None
            return _json({"tickets": [state.ticket_json(e[2]) for e in chunk], "after_url": after_url,
                          "before_url": None, "after_cursor": after_cursor, "before_cursor": None,
                          "end_of_stream": end_of_stream})
