"""The policy table: one row per kind of error, and what each row makes every part do.

``decide`` is held row by row against a spec written out here, and the executor that
carries decisions out (``sync.failures``) is run against a real SQLite store, so a part
that settled an error its own way would have nowhere to hide.
"""
from __future__ import annotations

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
from sync.policy import TABLE, WORKS, Action, backoff, decide, quick_retry, use_sleep
from sync.settings import RouteSettings
from sync.store import InboxItem, Store
from sync.text import ReplyTooLong

A = Action
# Every kind of error against every work: the rows of sync/policy.py written out by hand.
#                        read        ingest        batch      mirror        watch
SPEC: list[tuple[BaseException, tuple[Action, Action, Action, Action, Action]]] = [
    (RateLimited("slow down", 30), (A.PAUSE, A.PAUSE, A.PAUSE, A.PAUSE, A.PAUSE)),
    (AuthFailed("401"), (A.PARK, A.PARK, A.PARK, A.PARK, A.PARK)),
    (HeldReply("held: a phone number"), (A.RAISE, A.HOLD, A.RAISE, A.HOLD, A.RAISE)),
    (ReplyTooLong("too long"), (A.RAISE, A.HOLD, A.RAISE, A.HOLD, A.RAISE)),
    (FatalError("no such group"), (A.PARK, A.PARK, A.PARK, A.HOLD, A.PARK)),
    (SkippableError("bad item"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY)),
    (NotFound("gone"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY)),
    (DuplicateContent("said already"), (A.RETRY, A.QUARANTINE, A.RETRY, A.QUARANTINE, A.RETRY)),
    (RetriableError("503"), (A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.RETRY)),
    (JobPending("job running", "j1"), (A.RETRY, A.RETRY, A.RETRY, A.RETRY, A.RETRY)),
    (KeyError("author"), (A.RAISE, A.QUARANTINE, A.RAISE, A.RAISE, A.RAISE)),
    (ZeroDivisionError(), (A.RAISE, A.RAISE, A.RAISE, A.RAISE, A.RAISE)),
]


@pytest.mark.parametrize("error, actions", SPEC, ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "")
def test_each_error_gets_the_action_the_table_gives_it_in_every_work(error: BaseException,
                                                                     actions: tuple[Action, ...]) -> None:
    assert tuple(decide(error, work) for work in WORKS) == actions  # type: ignore[arg-type]


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


# --------------------------------------------------------------------------- carrying decisions out


class _Side:
    def __init__(self, kind: str) -> None:
        self.kind = kind


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


def test_refused_credentials_park_the_route_naming_the_side_and_hand_back_every_row(ctx: RouteContext) -> None:
    rows = _rows(ctx, 3)
    err = AuthFailed("token revoked")
    err.side = "helpdesk"
    work_rows(ctx, "inbox", rows, _failing({0: err}), lambda r, e: None, "ingest")
    assert ctx.health.parked == "zendesk refused the credentials: token revoked"
    assert [r.payload["i"] for r in ctx.store.claim_inbox("r", 10)] == [0, 1, 2], "nothing lost, nothing skipped"


def test_quarantine_and_hold_set_the_one_item_aside_and_go_on(ctx: RouteContext) -> None:
    rows = _rows(ctx, 3)
    aside: list[tuple[int, str]] = []
    done = work_rows(ctx, "inbox", rows,
                     _failing({0: SkippableError("unreadable"), 1: HeldReply("held: an email address")}),
                     lambda r, e: aside.append((r.payload["i"], type(e).__name__)), "mirror")
    assert aside == [(0, "SkippableError"), (1, "HeldReply")] and done == 1
    assert ctx.health.parked is None


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


def test_a_watch_parks_on_refused_credentials_like_every_other_part(ctx: RouteContext) -> None:
    """The viral and spike watchers used to log a refused token and go on forever."""
    settle(ctx, AuthFailed("expired"), "watch", "viral watch")
    assert ctx.health.parked == "x refused the credentials: expired"


def test_a_watch_tries_again_after_a_skippable_or_passing_fault(ctx: RouteContext) -> None:
    settle(ctx, SkippableError("post gone"), "watch", "viral watch")
    settle(ctx, RetriableError("503"), "watch", "viral watch")
    assert ctx.health.parked is None and ctx.health.paused_until == {}


def test_a_rate_limited_read_pauses_the_side_it_names(ctx: RouteContext) -> None:
    settle(ctx, RateLimited("export", 60), "read", "reading agent replies", pause_side="export")
    assert set(ctx.health.paused_until) == {"export"}


def test_a_configuration_error_parks_with_what_was_being_done(ctx: RouteContext) -> None:
    settle(ctx, FatalError("field 123 is gone"), "read", "reading agent replies", park_doing="reading agent replies")
    assert ctx.health.parked == "reading agent replies: field 123 is gone"
