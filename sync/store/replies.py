"""The reply outbox: agent answers queued, claimed, posted part by part."""
from __future__ import annotations

import json
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.rows import OutboxRow
from sync.store.schema import _insert_ignore, outbox


class Replies:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]

    def enqueue_reply(self, route: str, comment_id: str, ticket_id: str, body: str) -> bool:
        """Queue an agent comment for posting; False when it was already queued."""
        with self.engine.begin() as conn:
            return _insert_ignore(conn, outbox, ("route", "comment_id"), route=route, comment_id=comment_id,
                                  ticket_id=ticket_id, body=body, state="pending", posted="[]", attempts=0,
                                  next_attempt_at=0.0, lease_until=0.0, created_at=self.clock())

    def claim_outbox(self, route: str, limit: int = 20, lease: float = 120.0) -> list[OutboxRow]:
        owner, rows = self._claim(outbox, route, (outbox.c.id,), limit, lease)
        return [self._outbox(r, owner) for r in rows]

    def _outbox(self, r: Any, owner: str = "") -> OutboxRow:
        return OutboxRow(r.id, r.route, r.comment_id, r.ticket_id, r.body, r.state,
                         json.loads(r.posted), r.attempts, r.last_error, owner)

    def begin_outbox_attempt(self, row_id: int, owner: str, lease: float = 120.0) -> int | None:
        return self._begin(outbox, row_id, owner, lease)

    def record_posted_part(self, row_id: int, part: dict[str, Any]) -> None:
        """Remember one posted part at once: a restart continues after it, never reposts it."""
        with self.engine.begin() as conn:
            current = json.loads(conn.execute(sa.select(outbox.c.posted).where(outbox.c.id == row_id)).scalar())
            if not any(p.get("index") == part["index"] for p in current):
                current.append(part)
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(posted=json.dumps(current)))

    def record_reply_anchor(self, row_id: int, post_id: str) -> str:
        """The post a reply answers, fixed by its first attempt: a retry answers the same
        post (and looks for itself there) even when the customer has written since.
        Returns the anchor kept (an earlier one wins)."""
        with self.engine.begin() as conn:
            current = json.loads(conn.execute(sa.select(outbox.c.posted).where(outbox.c.id == row_id)).scalar())
            kept = next((p["anchor"] for p in current if "anchor" in p), None)
            if kept is not None:
                return str(kept)
            current.append({"anchor": post_id})
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(posted=json.dumps(current)))
        return post_id

    def finish_outbox(self, row_id: int, state: str = "posted", note: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(
                state=state, last_error=note, done_at=self.clock(), lease_until=0.0))
