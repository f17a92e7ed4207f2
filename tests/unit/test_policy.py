"""The policy table: one row per kind of error, and what each row makes every part do.

``decide`` is held row by row against a spec written out here, and the executor that
carries decisions out (``sync.failures``) is run against a real SQLite store, so a part
that settled an error its own way would have nowhere to hide.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from adapters.base import (
    AuthFailed, DuplicateContent, FatalError, JobPending, NotFound, RateLimited, RetriableError, SkippableError,
)
from sync.context import RouteContext
from sync.failures import settle, work_rows
from sync.health import RouteHealth
from sync.mirror.guards import HeldReply
from sync.policy import (
    RECHECK_CAP, TABLE, WORKS, Action, backoff, decide, probe_after, quick_retry, recheck_delay, use_sleep,
)
from sync.settings import RouteSettings
from sync.store import Fence, InboxItem, StaleLease, Store
from sync.text import ReplyTooLong

A = Action


class ConsentNeeded(AuthFailed):
    """As the OAuth layer reports a revoked grant: just a refused credential here."""


# Every kind of error against every work: the rows of sync/policy.py written out by hand.
#                        read      ingest        batch      mirror        watch      check
SPEC: list[tuple[BaseException, tuple[Action, Action, Action, Action, Action, Action]]] = [
    (StaleLease(Fence("poll:r:mentions", 3)), (A.STOP, A.STOP, A.STOP, A.STOP, A.STOP, A.STOP)),
    (RateLimited("slow down", 30), (A.PAUSE, A.PAUSE, A.PAUSE, A.PAUSE, A.PAUSE, A.WAIT)),
    (AuthFailed("401"), (A.WAIT, A.WAIT, A.WAIT, A.WAIT, A.WAIT, A.WAIT)),
    (ConsentNeeded("run 'socialdesk connect zd'"), (A.WAIT, A.WAIT, A.WAIT, A.WAIT, A.WAIT, A.WAIT)),
    (HeldReply("held: a phone number"), (A.RAISE, A.HOLD, A.RAISE, A.HOLD, A.RAISE, A.RAISE)),
    (ReplyTooLong("too long"), (A.RAISE, A.HOLD, A.RAISE, A.HOLD, A.RAISE, A.RAISE)),
    (FatalError("no such group"), (A.PARK, A.PARK, A.PARK, A.HOLD, A.PARK, A.PARK)),
    (SkippableError("bad item"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY, A.PARK)),
    (NotFound("gone"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY, A.PARK)),
    (DuplicateContent("said already"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY, A.PARK)),
    (RetriableError("503"), (A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.WAIT)),
    (JobPending("job running", "j1"), (A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.WAIT)),
    (KeyError("author"), (A.RAISE, A.QUARANTINE, A.RAISE, A.RAISE, A.RAISE, A.RAISE)),
    (ZeroDivisionError(), (A.RAISE, A.RAISE, A.RAISE, A.RAISE, A.RAISE, A.RAISE)),
]

# Which faults, coming again and again from one side, call for a probe of that side.
PROBED_AFTER: list[tuple[BaseException, int | None]] = [
    (RetriableError("503"), 3), (RateLimited("slow down", 30), None), (JobPending("job running", "j1"), None),
    (AuthFailed("401"), None), (FatalError("no such group"), None), (SkippableError("bad item"), None),
    (KeyError("author"), None), (StaleLease(Fence("watch:r", 1)), None),
]


@pytest.mark.parametrize("error, actions", SPEC, ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "")
def test_each_error_gets_the_action_the_table_gives_it_in_every_work(error: BaseException,
                                                                     actions: tuple[Action, ...]) -> None:
    assert tuple(decide(error, work) for work in WORKS) == actions  # type: ignore[arg-type]


@pytest.mark.parametrize("error, after", PROBED_AFTER, ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "")
def test_only_a_run_of_passing_faults_calls_for_a_probe(error: BaseException, after: int | None) -> None:
    assert probe_after(error) == after


def test_every_row_of_the_table_is_reached_by_some_error() -> None:
    """No row is shadowed by an earlier one: each row's own type lands on it."""
    for index, row in enumerate(TABLE):
        for error_type in row.errors:
            first = next(i for i, r in enumerate(TABLE) if issubclass(error_type, r.errors))
            assert first == index, f"{error_type.__name__} is decided by row {first}, not its own {index}"


def test_quick_retry_waits_through_the_injected_sleep_and_never_retries_a_rate_limit() -> None:
    waits: list[float] = []
    previous = use_sleep(waits.append)
    try:
        calls: list[int] = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise RetriableError("503")
            return "ok"

        assert quick_retry(flaky) == "ok" and len(waits) == 2
        limited: list[int] = []

        def limit() -> None:
            limited.append(1)
            raise RateLimited("429", 60)

        with pytest.raises(RateLimited):
            quick_retry(limit)
        assert limited == [1], "a rate limit pauses the side; it is never hammered"
    finally:
        use_sleep(previous)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [15.0, 30.0, 60.0] and backoff(50) == 3600.0


def test_a_waiting_route_rechecks_after_15s_doubling_up_to_5_minutes_or_the_cap_given() -> None:
    assert [recheck_delay(n) for n in range(7)] == [15.0, 30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
    assert RECHECK_CAP == 300.0 and recheck_delay(40) == 300.0
    assert [recheck_delay(n, cap=45) for n in range(3)] == [15.0, 30.0, 45.0]


# --------------------------------------------------------------------------- carrying decisions out


class _Side:
    """A network or helpdesk whose probe answers, or raises what ``down`` says."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.down: BaseException | None = None
        self.probes = 0

    def probe(self) -> None:
        self.probes += 1
        if self.down is not None:
            raise self.down


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[RouteContext]:
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    store.migrate()
    clock = time.time
    health = RouteHealth("r", store, clock)
    yield RouteContext(RouteSettings(name="r", helpdesk_name="zd"), _Side("x"), _Side("zendesk"),  # type: ignore[arg-type]
                       store, clock, health)
    store.close()


def _rows(ctx: RouteContext, n: int) -> list[Any]:
    ctx.store.record_page("r", "mentions", [InboxItem(f"x:post:{i}", "mentions", {"i": i}, f"{i:04}", f"c{i}")
                                            for i in range(n)], None, move_cursor=True)
    return ctx.store.claim_inbox("r", 10)


def _states(ctx: RouteContext) -> dict[str, int]:
    return ctx.store.counts()["r"]["inbox"]


def _failing(errors: dict[int, BaseException]) -> Any:
    def handle(row: Any) -> None:
        error = errors.get(row.payload["i"])
        if error is not None:
            raise error
        ctx_done.append(row.id)
    ctx_done: list[int] = []
    return handle


def test_pause_waits_that_side_retries_the_row_and_hands_back_the_rest(ctx: RouteContext) -> None:
    rows = _rows(ctx, 3)
    err = RateLimited("429", 45)
    err.side = "helpdesk"
    assert work_rows(ctx, "inbox", rows, _failing({1: err}), lambda r, e: None, "ingest") == 1
    assert ctx.health.paused_until["helpdesk"] > time.time() + 40 and ctx.health.parked is None
    again = ctx.store.claim_inbox("r", 10)
    assert [r.payload["i"] for r in again] == [2], "the row after the pause is handed back; the paused one waits"


def test_refused_credentials_make_the_route_wait_naming_the_side_and_hand_back_every_row(ctx: RouteContext) -> None:
    rows = _rows(ctx, 3)
    err = AuthFailed("token revoked")
    err.side = "helpdesk"
    work_rows(ctx, "inbox", rows, _failing({0: err}), lambda r, e: None, "ingest")
    assert ctx.health.state == "waiting" and ctx.health.parked is None and list(ctx.health.waits) == ["helpdesk"]
    assert ctx.health.waiting == "zendesk refused the credentials: token revoked"
    assert not ctx.health.ready("helpdesk") and not ctx.health.ready("export")
    assert ctx.health.ready("network"), "mentions are still read into the inbox while the helpdesk waits"
    assert ctx.store.health()["r"]["state"] == "waiting"
    assert [r.payload["i"] for r in ctx.store.claim_inbox("r", 10)] == [0, 1, 2], "nothing lost, nothing skipped"


def test_a_revoked_grant_is_a_refused_credential_whose_reason_says_what_to_run(ctx: RouteContext) -> None:
    settle(ctx, ConsentNeeded("X refused the stored OAuth grant: run 'socialdesk connect brand'"), "read",
           "reading mentions")
    assert ctx.health.state == "waiting" and "run 'socialdesk connect brand'" in (ctx.health.waiting or "")


def test_quarantine_and_hold_set_the_one_item_aside_and_go_on(ctx: RouteContext) -> None:
    rows = _rows(ctx, 3)
    aside: list[tuple[int, str]] = []
    done = work_rows(ctx, "inbox", rows,
                     _failing({0: SkippableError("unreadable"), 1: HeldReply("held: an email address")}),
                     lambda r, e: aside.append((r.payload["i"], type(e).__name__)), "mirror")
    assert aside == [(0, "SkippableError"), (1, "HeldReply")] and done == 1
    assert ctx.health.parked is None


def test_a_lost_lease_stops_the_job_hands_back_its_rows_and_leaves_the_route_as_it_was(
        ctx: RouteContext, caplog: pytest.LogCaptureFixture) -> None:
    rows = _rows(ctx, 3)
    lost = StaleLease(Fence("poll:r:mentions", 3))
    with caplog.at_level(logging.INFO, logger="socialdesk.engine"):
        assert work_rows(ctx, "inbox", rows, _failing({1: lost}), lambda r, e: None, "ingest") == 1
        settle(ctx, lost, "read", "reading mentions")
    assert ctx.health.state == "active" and not ctx.health.paused_until and not any(ctx.health.faults.values())
    assert [r.payload["i"] for r in ctx.store.claim_inbox("r", 10)] == [1, 2], "handed back, no attempt counted"
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO"]
    assert "stopped reading mentions: lease 'poll:r:mentions' (token 3)" in caplog.records[1].getMessage()


def test_a_passing_fault_retries_the_row_after_a_backoff(ctx: RouteContext) -> None:
    rows = _rows(ctx, 1)
    work_rows(ctx, "inbox", rows, _failing({0: RetriableError("503")}), lambda r, e: None, "ingest")
    assert _states(ctx) == {"pending": 1} and ctx.store.claim_inbox("r", 10) == [], "not before its backoff"


def test_an_unreadable_row_is_quarantined_while_ingesting(ctx: RouteContext) -> None:
    rows = _rows(ctx, 1)
    aside: list[int] = []
    work_rows(ctx, "inbox", rows, _failing({0: KeyError("author")}), lambda r, e: aside.append(r.id), "ingest")
    assert aside == [rows[0].id]


def test_a_bug_is_never_settled_as_an_item_failure(ctx: RouteContext) -> None:
    rows = _rows(ctx, 1)
    with pytest.raises(KeyError):
        work_rows(ctx, "outbox", rows, _failing({0: KeyError("x")}), lambda r, e: None, "mirror")


def test_each_side_waits_and_resumes_on_its_own(ctx: RouteContext) -> None:
    refused = AuthFailed("401")
    refused.side = "helpdesk"
    settle(ctx, refused, "ingest", "writing a ticket")
    settle(ctx, AuthFailed("token expired"), "read", "reading mentions")
    assert set(ctx.health.waits) == {"helpdesk", "network"}
    assert ctx.health.waiting == "zendesk refused the credentials: 401; x refused the credentials: token expired"
    ctx.health.resume("helpdesk")
    assert ctx.health.state == "waiting" and ctx.health.ready("helpdesk") and not ctx.health.ready("network")
    assert ctx.store.health()["r"]["reason"] == "x refused the credentials: token expired"
    ctx.health.resume("network")
    assert ctx.health.state == "active" and ctx.store.health()["r"]["state"] == "active"


def test_a_watch_waits_on_refused_credentials_like_every_other_part(ctx: RouteContext) -> None:
    """The viral and spike watchers used to log a refused token and go on forever."""
    settle(ctx, AuthFailed("expired"), "watch", "viral watch")
    assert ctx.health.waiting == "x refused the credentials: expired"


def test_a_watch_tries_again_after_a_skippable_or_passing_fault(ctx: RouteContext) -> None:
    settle(ctx, SkippableError("post gone"), "watch", "viral watch")
    settle(ctx, RetriableError("503"), "watch", "viral watch")
    assert ctx.health.parked is None and ctx.health.paused_until == {}


def test_a_rate_limited_read_pauses_the_side_it_names(ctx: RouteContext) -> None:
    settle(ctx, RateLimited("export", 60), "read", "reading agent replies", pause_side="export")
    assert set(ctx.health.paused_until) == {"export"}


def test_a_configuration_error_parks_with_what_was_being_done_and_what_to_fix(ctx: RouteContext) -> None:
    settle(ctx, FatalError("field 123 is gone"), "read", "reading agent replies", park_doing="reading agent replies")
    assert ctx.health.parked == ("reading agent replies: field 123 is gone "
                                 "(fix the mapping or the service's setup, then restart socialdesk)")
    assert ctx.health.next_check is None and ctx.health.due() == []
    assert not any(ctx.health.ready(side) for side in ("network", "helpdesk", "export"))
    settle(ctx, AuthFailed("401"), "read", "reading mentions")
    assert ctx.health.state == "parked", "a parked route does not turn into a waiting one"


def _unreachable(side: str) -> RetriableError:
    err = RetriableError("HTTP 503")
    err.side = side
    return err


def test_a_run_of_passing_faults_probes_that_side_and_waits_when_it_cannot_be_reached(ctx: RouteContext) -> None:
    desk: Any = ctx.helpdesk
    desk.down = RetriableError("check access: HTTP 503")
    previous = use_sleep(lambda seconds: None)
    try:
        settle(ctx, _unreachable("helpdesk"), "read", "reading agent replies")
        settle(ctx, _unreachable("helpdesk"), "watch", "spike watch")
        assert desk.probes == 0 and ctx.health.running, "two faults may be passing ones"
        rows = _rows(ctx, 2)
        work_rows(ctx, "inbox", rows, _failing({0: _unreachable("helpdesk")}), lambda r, e: None, "ingest")
    finally:
        use_sleep(previous)
    assert desk.probes == 3, "the third fault in a row probes the helpdesk (a few quick tries)"
    assert ctx.health.waiting == "zendesk cannot be reached: check access: HTTP 503"
    assert list(ctx.health.waits) == ["helpdesk"]
    assert [r.payload["i"] for r in ctx.store.claim_inbox("r", 10)] == [0, 1], "rows handed back, not put off"


def test_a_probe_that_answers_ends_the_run_and_the_route_goes_on(ctx: RouteContext) -> None:
    for _ in range(3):
        settle(ctx, _unreachable("network"), "read", "reading mentions")
    network: Any = ctx.network
    assert network.probes == 1 and ctx.health.running and ctx.health.faults["network"] == 0
    settle(ctx, _unreachable("network"), "read", "reading mentions")
    assert network.probes == 1, "the run starts over"


def test_waiting_rechecks_double_up_to_the_cap_and_each_change_is_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=lambda: now[0])
    store.migrate()
    health = RouteHealth("r", store, lambda: now[0], recheck_cap=100)
    caplog.set_level(logging.DEBUG, logger="socialdesk.engine")
    health.wait("helpdesk", "refused", "zendesk refused the credentials: 401")
    health.wait("helpdesk", "refused", "zendesk refused the credentials: 401")  # a second part, same round
    delays = []
    for _ in range(5):
        delays.append(health.next_check - now[0])
        now[0] = health.next_check
        assert health.due() == ["helpdesk"]
        health.check_failed("helpdesk", "refused", "zendesk refused the credentials: check access: 401")
    assert delays == [15.0, 30.0, 60.0, 100.0, 100.0]
    assert store.health()["r"] == {"state": "waiting", "reason": "zendesk refused the credentials: check access: 401",
                                   "since": 1000.0, "next_check": now[0] + 100}
    now[0] += 100
    health.resume("helpdesk")
    assert health.state == "active" and store.health()["r"]["state"] == "active"
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "socialdesk.engine"]
    assert [level for level, _ in said] == ["WARNING", *["DEBUG"] * 5, "INFO"]
    assert "re-checking the helpdesk at" in said[0][1] and "(in 15s)" in said[0][1]
    assert said[-1][1] == "route r resumed: the helpdesk takes it again, after waiting 6m 45s"
    store.close()
