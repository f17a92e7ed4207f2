"""A route's health: which side is paused until when, and whether the route is parked.

Pausing and parking are the only ways a route slows or stops; the policy table
(``sync/policy.py``) decides when, this records it where ``socialdesk status`` reads it.
"""
from __future__ import annotations

import logging
from typing import Callable

from adapters.base import RateLimited
from sync.store import Store

log = logging.getLogger("socialdesk.engine")


class RouteHealth:
    """Pauses per side (network, helpdesk, export) and the route's parked reason."""

    def __init__(self, name: str, store: Store, clock: Callable[[], float]) -> None:
        self.name = name
        self.store = store
        self.clock = clock
        self.paused_until: dict[str, float] = {}
        self.parked: str | None = None

    def pause(self, side: str, err: RateLimited) -> None:
        """``side`` waits what the remote asked."""
        self.paused_until[side] = self.clock() + err.retry_after
        log.warning("route %s: %s rate limited, pausing %.0fs", self.name, side, err.retry_after)

    def ready(self, side: str) -> bool:
        return not self.parked and self.paused_until.get(side, 0) <= self.clock()

    def park(self, reason: str) -> None:
        """Stop the route and alert; nothing is lost, rows stay queued."""
        self.parked = reason
        if self.store.set_health(self.name, "parked", reason):
            log.error("route %s parked: %s", self.name, reason)

    def healthy(self) -> None:
        if self.store.set_health(self.name, "active", None) and self.parked is None:
            log.info("route %s is active", self.name)
