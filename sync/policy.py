"""What every error does, decided in one table that every part of a route uses.

An adapter translates each vendor failure into one of the error types of
``adapters.base``; a route's parts never catch those types themselves: they ask
``decide(error, work)`` and carry out the action it names. A part cannot drift from the
others, because there is nothing for it to decide.

The actions:

- ``retry``: a passing fault; the item is tried again after a capped backoff.
- ``pause``: the remote asked us to slow down; the side that said so (network, helpdesk,
  export) waits what it asked, the item is retried then, the rest of the batch handed back.
- ``wait``: credentials refused, or a service that cannot be reached; the route stops,
  every claimed item is handed back untouched, cursors stay where they are, and the route
  re-checks the side it waits on (``recheck_delay``) and resumes by itself when that side
  takes it again.
- ``park``: a configuration problem (names the helpdesk does not have, a contract broken);
  the route stops and says what to fix, every claimed item handed back. No re-check can
  mend it: it stays parked until the daemon is restarted with the fix.
- ``quarantine``: this item alone cannot be processed; it is set aside with the reason,
  visible in ``socialdesk failed`` and retryable by hand.
- ``hold``: a reply that must not go out as written (a guard, the network's length limit,
  a post the network refuses for good); it is kept with a note to the agent saying why.
- ``stop``: this replica no longer holds the lease of the work (another replica took it
  over, or it was given up): the job ends at once without counting a failure, its write
  refused by the store; the lease's holder does the work.
- ``raise``: not a failure the product knows: a bug; the scheduler logs it with its trace.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Literal, Mapping, TypeVar, get_args

from tenacity import Retrying, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from adapters.base import AuthFailed, FatalError, JobPending, RateLimited, RetriableError, SkippableError
from sync.mirror.guards import HeldReply
from sync.store.leases import StaleLease
from sync.text import ReplyTooLong


class Action(str, Enum):
    RETRY = "retry"
    PAUSE = "pause"
    WAIT = "wait"
    PARK = "park"
    QUARANTINE = "quarantine"
    HOLD = "hold"
    STOP = "stop"
    RAISE = "raise"


Work = Literal["read", "ingest", "batch", "mirror", "watch", "check"]
"""What a part was doing: reading a stream, writing one inbox row, writing a batch of rows,
posting one reply, watching (viral, spike), or checking the route (at start: resolving its
names and reading its account; while it waits: asking the side it waits on again; mid-run:
probing a side whose calls keep failing)."""

WORKS: tuple[str, ...] = get_args(Work)


@dataclass(frozen=True)
class Row:
    """One line of the table: errors of these types get ``action``, except in the works named.

    ``probe_after``: a fault of this row that comes this many times in a row from one side
    may be an outage, not a passing fault: that side is probed (work ``check``), and what
    the probe meets is decided by this table like any other error.
    """

    errors: tuple[type[BaseException], ...]
    action: Action
    why: str
    unless: Mapping[str, Action] = field(default_factory=dict)
    probe_after: int | None = None

    def for_work(self, work: str) -> Action:
        return self.unless.get(work, self.action)


# A passing fault that came this many times in a row from one side: probe that side.
OUTAGE_AFTER = 3

TABLE: tuple[Row, ...] = (
    Row((StaleLease,), Action.STOP, "another replica holds this work's lease now (this one paused past it, or "
        "gave it up): stop the job, nothing written; the holder does the work"),
    Row((RateLimited,), Action.PAUSE, "the remote asked us to slow down: wait what it asked; met checking a "
        "route, the route waits at least that long", unless={"check": Action.WAIT}),
    Row((AuthFailed,), Action.WAIT, "credentials refused (a burst of 401s, a revoked grant): nothing on this "
        "route can succeed until they work; it re-checks and resumes by itself"),
    Row((HeldReply, ReplyTooLong), Action.HOLD, "a guard or the network's length limit: the agent decides",
        unless={"read": Action.RAISE, "batch": Action.RAISE, "watch": Action.RAISE, "check": Action.RAISE}),
    Row((FatalError,), Action.PARK, "configuration or contract: stop the route and say what to fix; a reply "
        "the network refuses for good is held, and the route goes on", unless={"mirror": Action.HOLD}),
    Row((SkippableError,), Action.QUARANTINE, "this item alone: set it aside with the reason; a read or a "
        "watch tries again next time; a batch-wide refusal is judged again row by row; met checking a route, "
        "something the mapping names is not there: a configuration error",
        unless={"read": Action.RETRY, "watch": Action.RETRY, "batch": Action.RETRY, "check": Action.PARK}),
    Row((JobPending,), Action.RETRY, "a background job still running: ask again later (no sign of an outage)",
        unless={"check": Action.WAIT}),
    Row((RetriableError,), Action.RETRY, "a passing fault (5xx, timeout, reset); met checking a route, or "
        f"{OUTAGE_AFTER} times in a row from a side that a probe then cannot reach: the service is down, the "
        "route waits", unless={"check": Action.WAIT}, probe_after=OUTAGE_AFTER),
    Row((KeyError, TypeError, ValueError), Action.QUARANTINE, "a stored inbox row that cannot be read as a "
        "mention: set it aside; anywhere else it is a bug", unless={
            "read": Action.RAISE, "batch": Action.RAISE, "mirror": Action.RAISE, "watch": Action.RAISE,
            "check": Action.RAISE}),
)


def decide(error: BaseException, work: Work) -> Action:
    """The action for ``error`` met while doing ``work``: the first row whose types match."""
    for row in TABLE:
        if isinstance(error, row.errors):
            return row.for_work(work)
    return Action.RAISE


def probe_after(error: BaseException) -> int | None:
    """How many faults like ``error`` in a row from one side call for a probe of that side."""
    for row in TABLE:
        if isinstance(error, row.errors):
            return row.probe_after
    return None


# --------------------------------------------------------------------------- retrying

T = TypeVar("T")
Sleep = Callable[[float], None]

_sleep: Sleep = time.sleep


def use_sleep(sleep: Sleep) -> Sleep:
    """Replace how quick retries wait (tests, simulations); returns the previous one."""
    global _sleep
    previous, _sleep = _sleep, sleep
    return previous


def quick_retry(call: Callable[[], T]) -> T:
    """A few quick tries for passing faults, never for rate limits (they pause instead) nor
    for a queued background job (trying again would queue the same work a second time)."""
    for attempt in Retrying(
            retry=retry_if_exception_type(RetriableError) & retry_if_not_exception_type((RateLimited, JobPending)),
            stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True,
            sleep=lambda seconds: _sleep(seconds)):
        with attempt:
            return call()
    raise AssertionError("unreachable")


def backoff(attempts: int) -> float:
    """Delay before the next attempt of an item that failed ``attempts`` times."""
    return float(min(15 * 2 ** max(attempts - 1, 0), 3600))


# How a waiting route re-checks: first after RECHECK_FIRST seconds, then twice as long each
# time, never longer than the cap (a Daemon / RouteHealth parameter, RECHECK_CAP by default).
RECHECK_FIRST = 15.0
RECHECK_CAP = 300.0


def recheck_delay(failed: int, cap: float = RECHECK_CAP) -> float:
    """Delay before the next re-check of a route whose re-checks failed ``failed`` times."""
    return float(min(RECHECK_FIRST * 2 ** max(failed, 0), cap))
