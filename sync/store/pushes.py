"""Deliveries a network pushed (Meta's webhooks), kept as received until read into the inbox.

The receiver answers the network at once and only stores the raw body here; the route
reads it later. A delivery that cannot be read yet (the network is down while an author's
name is read) waits and is read again; one that is not a delivery is kept, never dropped.
"""
from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa

from sync.store.schema import inbox, pushes

PUSH_STATES = ("pending", "done", "quarantined")


class Pushes:
    """Pushed deliveries (a mixin of ``Store``)."""

    engine: Any
    clock: Any

    def put_push(self, routes: Sequence[str], body: bytes) -> int:
        """Keep one delivery for each route that reads its network; returns rows kept."""
        now = self.clock()
        text = body.decode("utf-8", errors="replace")
        with self.engine.begin() as conn:
            for route in routes:
                conn.execute(pushes.insert().values(route=route, body=text, state="pending", attempts=0,
                                                    next_attempt_at=0.0, received_at=now))
        return len(routes)

    def claim_pushes(self, route: str, limit: int = 20) -> list[tuple[int, bytes, int]]:
        """Due deliveries of ``route``, oldest first: (id, body, attempts)."""
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(pushes.c.id, pushes.c.body, pushes.c.attempts).where(
                pushes.c.route == route, pushes.c.state == "pending", pushes.c.next_attempt_at <= now,
            ).order_by(pushes.c.id).limit(limit)).fetchall()
        return [(r.id, r.body.encode("utf-8"), r.attempts) for r in rows]

    def finish_push(self, push_id: int, state: str = "done", note: str | None = None) -> None:
        if state not in PUSH_STATES:
            raise ValueError(f"push state is one of {PUSH_STATES}, not {state!r}")
        with self.engine.begin() as conn:
            conn.execute(pushes.update().where(pushes.c.id == push_id).values(
                state=state, last_error=note, done_at=self.clock()))

    def retry_push(self, push_id: int, error: str, delay: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(pushes.update().where(pushes.c.id == push_id).values(
                attempts=pushes.c.attempts + 1, last_error=error[:2000], next_attempt_at=self.clock() + delay))

    def pending_pushes(self, route: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(pushes).where(
                pushes.c.route == route, pushes.c.state == "pending")).scalar() or 0)

    def inbox_entry(self, route: str, source_key: str) -> tuple[str, str | None, str | None] | None:
        """(state, ticket id, conversation) of the inbox row of a post, None when never read."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(inbox.c.state, inbox.c.ticket_id, inbox.c.conversation).where(
                inbox.c.route == route, inbox.c.source_key == source_key)).first()
        return (row.state, row.ticket_id, row.conversation) if row is not None else None
