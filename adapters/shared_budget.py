"""One rate budget per vendor account, shared by every replica of the daemon.

The state store keeps a token bucket per account (``SharedRateBuckets``); this process
takes calls from it in small blocks, so a vendor call seldom costs a store round trip.
A bucket holds the account's share of one rate window (``share x limit``) and refills at
that share per window; what the vendor's headers say is left lowers it for every replica.
Calls taken beyond what the bucket held are owed: they come due as it refills, and until
then the budget says how long to wait (``RateLimited`` for the engine to schedule).
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from adapters.base import SharedRateBuckets

log = logging.getLogger("socialdesk.http")

BLOCK_MAX = 10        # calls taken per store round trip, at most
BLOCK_SHARE = 0.1     # and at most this share of a bucket, so one replica's block leaves the others room
HOLD_SHARE = 0.25     # a block's calls not made within this share of the window are dropped
WARN_EVERY = 60.0     # seconds between two warnings that the store could not be asked
# Seconds between two lowerings of one account's bucket by this process: a fixed-window
# vendor's "remaining" falls by one per call, and writing the one row every replica shares
# on each answer made it the hottest row in the state (the headers' own rule still holds).
LOWER_EVERY = 1.0


@dataclass
class _Block:
    """Calls taken from the shared bucket and not made yet."""

    taken_at: float
    held: float        # what the bucket held before the take: calls past it come due as it refills
    count: int
    rate: float
    hold: float
    used: int = 0

    def due(self, index: int) -> float:
        """When the call at ``index`` (0: the first of the block) may go."""
        return self.taken_at + max(0.0, index + 1 - self.held) / self.rate

    def spent(self, now: float) -> bool:
        return self.used >= self.count or now > self.due(self.count - 1) + self.hold


@dataclass(frozen=True)
class _Shape:
    """A bucket's size, from the vendor's limit: the share of one window, refilled per window."""

    capacity: float
    rate: float

    @property
    def block(self) -> int:
        return max(1, min(BLOCK_MAX, int(self.capacity * BLOCK_SHARE)))


class SharedBudget:
    """This process's side of the buckets every replica shares for one vendor account.

    ``account`` names it in the store (``zendesk:acme.zendesk.com``, ``x:<user id>``); a
    budget's own bucket names (X's endpoints) follow it. Until the vendor has told a
    bucket's limit, calls to it are not counted here (the headers' own rule still holds).
    """

    def __init__(self, buckets: SharedRateBuckets, account: str) -> None:
        self.buckets, self.account = buckets, account
        self.shapes: dict[str, _Shape] = {}
        self.blocks: dict[str, _Block] = {}
        self.levels: dict[str, tuple[float, float]] = {}   # key -> (what the bucket held, when), as last seen
        self.round_trips = 0
        self._lock = threading.Lock()
        self._warned = -math.inf
        self._lowered: dict[str, float] = {}   # key -> when this process last lowered it

    def __repr__(self) -> str:
        return f"SharedBudget({self.account!r})"

    def key(self, bucket: str) -> str:
        return self.account if bucket == "account" else f"{self.account} {bucket}"

    def admit(self, bucket: str, now: float) -> float:
        """Count one call to ``bucket``: 0 when it may go now, else the seconds to wait."""
        key = self.key(bucket)
        with self._lock:
            shape = self.shapes.get(key)
            if shape is None:
                return 0.0
            block = self.blocks.get(key)
            if block is None or block.spent(now):
                block = self._take(key, shape, now)
                if block is None:
                    return 0.0
            due = block.due(block.used)
            if due > now:
                return due - now
            block.used += 1
            return 0.0

    def _take(self, key: str, shape: _Shape, now: float) -> _Block | None:
        count = shape.block
        try:
            left, at = self.buckets.take_tokens(key, count, shape.capacity, shape.rate, now)
        except Exception as err:  # the store's own errors are the engine's types: a budget only warns
            self._warn(key, err, now)
            return None
        self.round_trips += 1
        self.levels[key] = (left, at)
        window = shape.capacity / shape.rate
        # Owed calls come due on the bucket's time: a replica (or a thread) that took later
        # than this one's ``now`` moved it on.
        self.blocks[key] = block = _Block(at, left + count, count, shape.rate, window * HOLD_SHARE)
        return block

    def observe(self, bucket: str, limit: int, remaining: int, share: float, window: float, now: float) -> None:
        """A vendor's answer: ``bucket``'s limit per ``window`` seconds and what is left; the
        shared bucket holds ``share`` of the limit, and no more than is left above the others' part."""
        if limit <= 0 or window <= 0:
            return
        key = self.key(bucket)
        shape = _Shape(share * limit, share * limit / window)
        left = max(0.0, remaining - (1 - share) * limit)
        with self._lock:
            self.shapes[key] = shape
            if (left >= self._level(key, shape, now) - shape.block
                    or now - self._lowered.get(key, -math.inf) < LOWER_EVERY):
                return
            self._lowered[key] = now
            try:
                self.buckets.lower_tokens(key, left, shape.capacity, shape.rate, now)
            except Exception as err:  # as in _take: the headers' own rule still holds
                self._warn(key, err, now)
                return
            self.round_trips += 1
            self.levels[key] = (left, now)

    def _level(self, key: str, shape: _Shape, now: float) -> float:
        """What the bucket holds now as this process last saw it (full if never seen)."""
        seen = self.levels.get(key)
        if seen is None:
            return shape.capacity
        level, at = seen
        return min(shape.capacity, level + max(0.0, now - at) * shape.rate)

    def _warn(self, key: str, err: Exception, now: float) -> None:
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("shared rate budget %s could not be read from the state (%s): this process keeps to "
                        "the vendor's headers alone meanwhile", key, type(err).__name__)


def account_label(kind: str, account: str) -> str:
    """The store's name of an account: ``zendesk:acme.zendesk.com``, ``x:1234``; ``account``
    is what the adapter's ``account_key()`` says (``https://acme.zendesk.com``, ``user 1234``)."""
    bare = account.split("://", 1)[-1].rstrip("/")
    return f"{kind}:{bare.split()[-1] if bare.split() else bare}"
