"""How socialdesk's log lines look: JSON objects with their fields for collectors, text with
the route and conversation for people; set up once however often it is asked."""
from __future__ import annotations

import io
import json
import logging
from typing import Callable

import pytest

from sync.logs import about, configure, handler


def _said(fmt: str, emit: Callable[[logging.Logger], None]) -> list[str]:
    out = io.StringIO()
    log = logging.getLogger("socialdesk.test_logs")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.handlers = [handler(fmt, out)]
    try:
        emit(log)
    finally:
        log.handlers = []
        log.propagate = True
    return out.getvalue().splitlines()


def test_json_lines_carry_the_fields_of_the_work_around_them() -> None:
    def emit(log: logging.Logger) -> None:
        with about(route="x-support"):
            log.info("polled mentions")
            with about(conversation="x:conv:7:42"):
                log.warning("ticket %s updated", "12", extra={"event": "ticket_updated", "ticket": "12"})
        log.info("outside any route: café")

    lines = [json.loads(line) for line in _said("json", emit)]
    assert [set(line) for line in lines] == [
        {"ts", "level", "logger", "msg", "route"},
        {"ts", "level", "logger", "msg", "route", "conversation", "event", "ticket"},
        {"ts", "level", "logger", "msg"}]
    assert lines[1]["msg"] == "ticket 12 updated" and lines[1]["level"] == "WARNING"
    assert (lines[1]["route"], lines[1]["conversation"], lines[1]["event"]) == ("x-support", "x:conv:7:42",
                                                                              "ticket_updated")
    assert lines[0]["logger"] == "socialdesk.test_logs" and lines[0]["ts"].endswith("Z")
    assert lines[2]["msg"] == "outside any route: café"


def test_a_trace_stays_inside_its_json_line() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("unexpected error")

    lines = _said("json", emit)
    assert len(lines) == 1 and "RuntimeError: boom" in json.loads(lines[0])["error"]


def test_text_lines_name_the_route_and_conversation_once() -> None:
    def emit(log: logging.Logger) -> None:
        with about(route="x-support", conversation="x:conv:7:42"):
            log.info("route x-support: ticket 12 created for x:post:9")
            log.info("renewing the access token")
        with about(route="x"):
            log.info("route x-support is active")   # another route's name starts the same

    lines = _said("text", emit)
    assert lines[0].endswith("INFO socialdesk.test_logs: route x-support: ticket 12 created for x:post:9 "
                             "[conversation=x:conv:7:42]")
    assert lines[1].endswith("renewing the access token [route=x-support conversation=x:conv:7:42]")
    assert lines[2].endswith("route x-support is active [route=x]")


def test_configure_replaces_its_own_handler_and_refuses_an_unknown_format() -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure(fmt="json")
        configure(verbose=True, fmt="text")
        ours = [h for h in root.handlers if getattr(h, "socialdesk", False)]
        assert len(ours) == 1 and root.level == logging.DEBUG
        assert logging.getLogger("urllib3").level == logging.WARNING
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
    with pytest.raises(ValueError, match="text or json"):
        handler("yaml")


def test_a_pause_under_a_second_is_said_in_tenths_not_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    from sync.events import RouteEvents

    events = RouteEvents("r", "x", "zendesk")
    with caplog.at_level(logging.WARNING, logger="socialdesk.engine"):
        events.paused("helpdesk", 0.26)
        events.paused("helpdesk", 42.4)
    assert [r.getMessage() for r in caplog.records] == [
        "route r: helpdesk rate limited, pausing 0.3s", "route r: helpdesk rate limited, pausing 42s"]
