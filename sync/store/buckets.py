"""Rate budgets shared by every replica: one token bucket per vendor account in the store.

A take is one statement (an upsert with RETURNING): the bucket is refilled for the time
passed, the calls taken, and what is left read back, under the row's lock on PostgreSQL
and the database's write lock on SQLite, so replicas taking at once never both get the
same calls. The adapters' rate budgets take calls in blocks (``adapters.http``), so a
vendor call seldom costs a store round trip.
"""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.schema import _insert_ignoring, rate_buckets


def _least(a: Any, b: Any) -> Any:
    return sa.case((a < b, a), else_=b)


def _greatest(a: Any, b: Any) -> Any:
    return sa.case((a > b, a), else_=b)


class RateBuckets:
    """The store's shared rate budgets (table ``rate_buckets``): ``adapters.base.SharedRateBuckets``."""

    engine: Engine
    clock: Callable[[], float]

    def _upsert(self, account: str, level: Callable[[Any], Any], fresh: float, capacity: float, rate: float,
                now: float) -> tuple[float, float]:
        """Insert ``account``'s bucket holding ``fresh``, or set it to ``level(what it holds
        now)``; what it holds after, and the bucket's time."""
        b = rate_buckets.c
        with self.engine.begin() as conn:
            statement = _insert_ignoring(conn, rate_buckets, ())
            held = _least(float(capacity), b.tokens + _greatest(statement.excluded.updated_at - b.updated_at, 0.0)
                          * b.rate)
            statement = statement.values(account=account, tokens=fresh, capacity=capacity, rate=rate,
                                         updated_at=now).on_conflict_do_update(
                index_elements=["account"],
                set_={"tokens": level(held), "capacity": statement.excluded.capacity,
                      "rate": statement.excluded.rate,
                      "updated_at": _greatest(b.updated_at, statement.excluded.updated_at)},
            ).returning(b.tokens, b.updated_at)
            tokens, at = conn.execute(statement).one()
            return float(tokens), float(at)

    def take_tokens(self, account: str, count: int, capacity: float, rate: float,
                    now: float) -> tuple[float, float]:
        """Take ``count`` calls from ``account``'s bucket: what it holds after (below zero:
        owed) and the bucket's time of the take."""
        if count < 1 or capacity <= 0 or rate <= 0:
            raise ValueError(f"rate bucket {account!r}: take {count} of capacity {capacity} at {rate}/s")
        return self._upsert(account, lambda held: held - count, capacity - count, capacity, rate, now)

    def lower_tokens(self, account: str, tokens: float, capacity: float, rate: float, now: float) -> None:
        """``account``'s bucket holds at most ``tokens`` from ``now`` on (the vendor said so)."""
        tokens = min(tokens, capacity)
        self._upsert(account, lambda held: _least(held, float(tokens)), tokens, capacity, rate, now)

    def rate_buckets(self) -> dict[str, dict[str, float]]:
        """Every shared bucket as last written: tokens, capacity, rate, updated_at."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(rate_buckets).order_by(rate_buckets.c.account)).all()
        return {row.account: {"tokens": row.tokens, "capacity": row.capacity, "rate": row.rate,
                              "updated_at": row.updated_at} for row in rows}
