"""A route's health: active, waiting or parked; which side is paused until when.

- active: every part works (a side may be paused for what a rate limit asked).
- waiting: a side refused the credentials or could not be reached. The parts that need
  that side do nothing until a re-check (first after 15 s, then twice as long each time,
  capped) finds it taking the route again; then the route resumes by itself. The other
  side goes on where it can: mentions keep being read into the inbox while the helpdesk
  is away, read mentions keep being written while the network is. A route whose mapping
  names are not resolved yet does nothing at all. Nothing is lost: claimed rows are
  handed back, and a cursor only moves with what it read.
- parked: a configuration error; the reason says what to fix, and only a restart with the
  fix brings the route back (no re-check can mend a name the helpdesk does not have).

The policy table (``sync/policy.py``) decides which; this records it where
``socialdesk status`` reads it, and logs each change once.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from adapters.base import RateLimited
from sync.events import RouteEvents
from sync.policy import RECHECK_CAP, recheck_delay
from sync.store import Store

log = logging.getLogger("socialdesk.engine")

# What stops while a side is waited on: the helpdesk's export goes with the helpdesk.
STOPS = {"helpdesk": ("helpdesk", "export"), "network": ("network",)}


def at(moment: float) -> str:
    """A moment of the daemon's clock as people read it in a log line or the status page."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def lasted(seconds: float) -> str:
    """A duration as people say it: 45s, 3m 20s, 2h 5m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


@dataclass
class Wait:
    """One side waited on: why, since when, when it is asked again."""

    kind: str            # refused, unreachable, limited: a change of kind is logged
    reason: str
    since: float
    next_check: float
    failed_checks: int = 0


class RouteHealth:
    """The sides a route waits on, its parked reason, pauses per side (network, helpdesk,
    export), and the passing faults each side gave in a row."""

    def __init__(self, name: str, store: Store, clock: Callable[[], float],
                 recheck_cap: float = RECHECK_CAP, events: RouteEvents | None = None) -> None:
        self.name = name
        # Each change is told once, as a log line and a metric (sync/events.py).
        self.events = events if events is not None else RouteEvents(name, "network", "helpdesk")
        self.store = store
        self.clock = clock
        self.recheck_cap = float(recheck_cap)
        self.paused_until: dict[str, float] = {}
        self.waits: dict[str, Wait] = {}
        self.parked: str | None = None
        self.parked_since: float | None = None
        # False while the mapping's names are not resolved: the route can do nothing yet.
        self.resolved = True
        self.faults: dict[str, int] = {}
        # The parts of a route run in several scheduler threads: two meeting the same
        # refusal at once make one wait (and one log line), never two.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> str:
        return "parked" if self.parked is not None else "waiting" if self.waits else "active"

    @property
    def running(self) -> bool:
        return self.state == "active"

    @property
    def waiting(self) -> str | None:
        """Why the route waits (refused or unreachable, each side it waits on), else None."""
        return "; ".join(w.reason for w in self._waits()) or None

    @property
    def reason(self) -> str | None:
        return self.parked if self.parked is not None else self.waiting

    @property
    def since(self) -> float | None:
        if self.parked is not None:
            return self.parked_since
        return min((w.since for w in self._waits()), default=None)

    @property
    def next_check(self) -> float | None:
        if self.parked is not None:
            return None
        return min((w.next_check for w in self._waits()), default=None)

    def stopped(self, side: str) -> bool:
        """Parts that need ``side`` (network, helpdesk, export) must do nothing now."""
        if self.parked is not None:
            return True
        with self._lock:
            waited = tuple(self.waits)
        if waited and not self.resolved:
            return True
        return any(side in STOPS[one] for one in waited)

    def ready(self, side: str) -> bool:
        return not self.stopped(side) and self.paused_until.get(side, 0) <= self.clock()

    def due(self) -> list[str]:
        """The sides whose re-check has come."""
        if self.parked is not None:
            return []
        now = self.clock()
        with self._lock:
            return [side for side, w in self.waits.items() if w.next_check <= now]

    def reason_class(self) -> str | None:
        """Why the route is not active, in words a metric's label may carry: configuration
        (parked), else each side waited on with its kind (helpdesk_refused,
        network_unreachable, ...); None when active."""
        if self.parked is not None:
            return "configuration"
        with self._lock:
            waits = sorted(f"{side}_{w.kind}" for side, w in self.waits.items())
        return ",".join(waits) or None

    def not_ready(self, services: dict[str, str]) -> str | None:
        """Why the route is not ready, in a few plain words without its errors (``/readyz``);
        ``services`` names the service of each side (helpdesk: zendesk). None: ready."""
        if self.parked is not None:
            return "parked: its configuration needs a fix (see the status endpoint or the log)"
        with self._lock:
            waits = sorted(self.waits.items())
        said = {"refused": "refused the credentials", "unreachable": "cannot be reached",
                "limited": "asked to be left alone"}
        parts = [f"{services.get(side, side)} {said.get(w.kind, w.kind)}" for side, w in waits]
        return f"waiting: {'; '.join(parts)}" if parts else None

    def report(self) -> dict[str, Any]:
        """What ``Daemon.status()`` shows of this route."""
        with self._lock:
            return self._report()

    def _report(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "since": self.since, "next_check": self.next_check,
                "waiting": {side: {"reason": w.reason, "since": w.since, "next_check": w.next_check}
                            for side, w in self.waits.items()},
                "paused_until": dict(self.paused_until)}

    # ------------------------------------------------------------------ changing

    def pause(self, side: str, err: RateLimited) -> None:
        """``side`` waits what the remote asked."""
        self.paused_until[side] = self.clock() + err.retry_after
        self.events.paused(side, err.retry_after)

    def wait(self, side: str, kind: str, reason: str, after: float = 0.0) -> None:
        """The parts that need ``side`` stop until a re-check finds it taking the route again.

        ``kind`` names the failure (refused, unreachable, limited): a side already waited
        on for the same kind is not waited on anew (two parts met it in the same round).
        ``after``: the least the remote asked to be left alone (a rate limit's wait).
        """
        with self._lock:
            self._wait(side, kind, reason, after)

    def _wait(self, side: str, kind: str, reason: str, after: float) -> None:
        if self.parked is not None:
            return
        now = self.clock()
        current = self.waits.get(side)
        if current is not None and current.kind == kind:
            return
        if current is None:
            current = self.waits[side] = Wait(kind, reason, now, now)
            said = "waiting"
        else:
            current.kind, current.reason = kind, reason
            said = "still waiting, now"
        self._schedule(current, now, after)
        self._record()
        self.events.waiting(said, side, reason, at(current.next_check), lasted(current.next_check - now))

    def check_failed(self, side: str, kind: str, reason: str, after: float = 0.0) -> None:
        """A re-check of ``side`` met a failure again: the next one comes twice as late (capped)."""
        with self._lock:
            current = self.waits.get(side)
            if current is None or current.kind != kind:
                self._wait(side, kind, reason, after)
                return
            now = self.clock()
            current.failed_checks += 1
            current.reason = reason
            self._schedule(current, now, after)
            self._record()
        log.debug("route %s: re-check of the %s failed (%s); next in %s", self.name, side, reason,
                  lasted(current.next_check - now))

    def resume(self, side: str) -> None:
        """``side`` takes the route again: the parts that need it go back to work."""
        with self._lock:
            current = self.waits.pop(side, None)
            if current is None:
                return
            self.faults[side] = 0
            self._record()
        self.events.resumed(side, lasted(self.clock() - current.since))

    def park(self, reason: str) -> None:
        """Stop the route until it is restarted with the fix; nothing is lost, rows stay queued."""
        with self._lock:
            if self.parked is not None:
                return
            self.parked, self.parked_since = reason, self.clock()
            self._record()
        self.events.parked(reason)

    def healthy(self) -> None:
        """A route that passed its checks at start."""
        if self.state == "active" and self.store.set_health(self.name, "active", None):
            self.events.active()

    # ------------------------------------------------------------------ passing faults

    def fault(self, side: str) -> int:
        """One more passing fault from ``side`` since it last answered; how many in a row."""
        self.faults[side] = self.faults.get(side, 0) + 1
        return self.faults[side]

    def answered(self, side: str) -> None:
        """``side`` answered a call: its run of faults is over."""
        if self.faults.get(side):
            self.faults[side] = 0

    # ------------------------------------------------------------------ inside

    def _waits(self) -> list[Wait]:
        with self._lock:
            return list(self.waits.values())

    def _schedule(self, wait: Wait, now: float, after: float) -> None:
        wait.next_check = now + max(recheck_delay(wait.failed_checks, self.recheck_cap), after)

    def _record(self) -> None:
        """The route's row where ``socialdesk status`` reads it."""
        self.store.set_health(self.name, self.state, self.reason, next_check=self.next_check)
