"""Cursors, the inbox and its leases: what was read, claimed, retried, finished."""
from __future__ import annotations

import json
import hashlib
import uuid
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.store.leases import Fence, as_fence, check_fence, current_fence
from sync.store.rows import Finished, InboxItem, InboxRow
from sync.store.schema import _insert_ignore, _insert_ignoring, cursors, inbox, links, outbox



def claimant_of(replica: str) -> str:
    """The mark a replica's row claims carry (8 hex digits of its id), so the rows a dead
    replica had claimed can be handed back when its leases are taken over."""
    return hashlib.sha256(replica.encode()).hexdigest()[:8]


def claim_owner(claimant: str | None) -> str:
    """A new claim's owner token (at most 40 characters): the claimant's mark and a random part."""
    return f"{claimant}:{uuid.uuid4().hex[:31]}" if claimant else uuid.uuid4().hex

class WorkRows:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]
    claimant: str | None

    def get_cursor(self, route: str, stream: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(cursors.c.value).where(
                cursors.c.route == route, cursors.c.stream == stream)).scalar()

    def _set_cursor(self, conn: Connection, route: str, stream: str, value: str | None) -> None:
        updated = conn.execute(cursors.update().where(
            cursors.c.route == route, cursors.c.stream == stream).values(value=value, updated_at=self.clock()))
        if updated.rowcount == 0:
            conn.execute(cursors.insert().values(route=route, stream=stream, value=value,
                                                 updated_at=self.clock()))

    def record_page(self, route: str, stream: str, items: Iterable[InboxItem],
                    cursor: str | None = None, *, move_cursor: bool = False,
                    fence: Fence | tuple[str, int] | None = None) -> int:
        """Insert new items (duplicates ignored) and, when asked, move the cursor: one transaction.

        A page goes in as one batched insert that skips known posts; the ids it returns count
        what was new. The first of two items with one source key wins, as it always did.

        ``fence`` (lease name, token; by default the fence of the job this runs in, see
        sync/store/leases.py ``fenced``): the page is written only while that is still the
        lease's holding, checked in the same transaction; else StaleLease and nothing is written."""
        fence = as_fence(fence) or current_fence()
        new = 0
        now = self.clock()
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in items:
            if item.source_key in seen:
                continue
            seen.add(item.source_key)
            rows.append(dict(route=route, source_key=item.source_key, stream=item.stream,
                             payload=json.dumps(item.payload, sort_keys=True), sort_key=item.sort_key,
                             state="pending", attempts=0, next_attempt_at=0.0, lease_until=0.0,
                             received_at=now, conversation=item.conversation))
        with self.engine.begin() as conn:
            if fence is not None:
                check_fence(conn, fence)   # first: a takeover waits for this transaction
            if rows:
                statement = _insert_ignoring(conn, inbox, ("route", "source_key")).returning(inbox.c.id)
                new = len(conn.execute(statement, rows).fetchall())
            if move_cursor:
                self._set_cursor(conn, route, stream, cursor)
        return new

    def quarantine_item(self, route: str, stream: str, source_key: str, reason: str, raw: Any) -> None:
        """Record an unreadable item straight into quarantine (never dropped)."""
        now = self.clock()
        with self.engine.begin() as conn:
            _insert_ignore(conn, inbox, ("route", "source_key"), route=route, source_key=source_key,
                           stream=stream, payload=json.dumps({"raw": raw}, default=str), sort_key="0",
                           state="quarantined", attempts=0, last_error=reason, next_attempt_at=0.0,
                           lease_until=0.0, received_at=now)

    def routes_with_work(self) -> dict[str, set[str]]:
        """The routes with rows to work now, by queue (``inbox``, ``outbox``, ``pushes``):
        pending, due, and not claimed by a live worker. One read a queue for every route at
        once (the partial indexes on pending rows), so the scheduler skips the routes with
        nothing to do instead of asking for each of them every second."""
        from sync.store.schema import pushes

        now = self.clock()
        queues = {"inbox": (inbox, [inbox.c.lease_until <= now]), "outbox": (outbox, [outbox.c.lease_until <= now]),
                  "pushes": (pushes, [])}
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for name, (table, unclaimed) in queues.items():
                rows = conn.execute(sa.select(table.c.route).distinct().where(
                    table.c.state == "pending", table.c.next_attempt_at <= now, *unclaimed))
                found[name] = {r.route for r in rows}
        return found

    def _claim(self, table: sa.Table, route: str, order: Sequence[Any], limit: int,
               lease: float, *extra: Any) -> tuple[str, list[Any]]:
        """Lease due pending rows to a new owner token; only rows this claim won come back.

        The UPDATE re-checks the lease, so two workers racing for the same rows (threads
        on SQLite, replicas on PostgreSQL) never both get one.
        """
        now = self.clock()
        owner = claim_owner(self.claimant)
        with self.engine.begin() as conn:
            query = (sa.select(table.c.id).where(
                table.c.route == route, table.c.state == "pending",
                table.c.next_attempt_at <= now, table.c.lease_until <= now, *extra)
                .order_by(*order).limit(limit))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = [r.id for r in conn.execute(query)]
            if not ids:
                return owner, []
            conn.execute(table.update().where(
                table.c.id.in_(ids), table.c.state == "pending", table.c.lease_until <= now)
                .values(lease_until=now + lease, lease_owner=owner))
            rows = conn.execute(sa.select(table).where(table.c.id.in_(ids), table.c.lease_owner == owner)
                                .order_by(*order)).fetchall()
        return owner, rows

    def claim_inbox(self, route: str, limit: int = 50, lease: float = 120.0) -> list[InboxRow]:
        """Pending rows due now, oldest post first, leased to the caller."""
        # A conversation's later post waits while an earlier one is still pending.
        earlier = inbox.alias("earlier")
        first_of_conversation = ~sa.exists().where(
            earlier.c.route == inbox.c.route, earlier.c.conversation == inbox.c.conversation,
            earlier.c.state == "pending", earlier.c.sort_key < inbox.c.sort_key)
        owner, rows = self._claim(inbox, route, (inbox.c.sort_key, inbox.c.id), limit, lease,
                                  first_of_conversation)
        return [InboxRow(r.id, r.route, r.source_key, r.stream, json.loads(r.payload), r.attempts,
                         r.state, r.ticket_id, r.last_error, owner, r.job) for r in rows]

    def _begin(self, table: sa.Table, row_id: int, owner: str, lease: float) -> int | None:
        """Count an attempt before any remote effect and renew the lease; the attempt
        number, or None when this worker no longer owns the row."""
        with self.engine.begin() as conn:
            done = conn.execute(table.update().where(table.c.id == row_id, table.c.lease_owner == owner)
                                .values(attempts=table.c.attempts + 1, lease_until=self.clock() + 120.0))
            if done.rowcount != 1:
                return None
            return conn.execute(sa.select(table.c.attempts).where(table.c.id == row_id)).scalar()

    def begin_attempt(self, row_id: int, owner: str, lease: float = 120.0) -> int | None:
        return self._begin(inbox, row_id, owner, lease)

    def begin_attempts(self, row_ids: Sequence[int], owner: str, lease: float = 120.0) -> list[int]:
        """Count an attempt on many rows at once (a batched write); the ids still owned."""
        if not row_ids:
            return []
        with self.engine.begin() as conn:
            conn.execute(inbox.update().where(inbox.c.id.in_(row_ids), inbox.c.lease_owner == owner)
                         .values(attempts=inbox.c.attempts + 1, lease_until=self.clock() + lease))
            owned = conn.execute(sa.select(inbox.c.id).where(inbox.c.id.in_(row_ids),
                                                             inbox.c.lease_owner == owner))
            return sorted(r.id for r in owned)

    def undo_attempts(self, row_ids: Sequence[int]) -> None:
        """Take back an attempt that provably wrote nothing (refused by a rate limit before
        anything was applied), so the rows stay eligible for a batch."""
        if row_ids:
            with self.engine.begin() as conn:
                conn.execute(inbox.update().where(inbox.c.id.in_(row_ids), inbox.c.attempts > 0, inbox.c.job.is_(None))
                             .values(attempts=inbox.c.attempts - 1))

    def note_job(self, row_ids: Sequence[int], job_id: str | None) -> None:
        """Remember the background job a batched write of these rows went into (None: the
        job's results are in, there is nothing to wait for)."""
        with self.engine.begin() as conn:
            conn.execute(inbox.update().where(inbox.c.id.in_(row_ids)).values(
                job=job_id[:100] if job_id is not None else None))

    def finish_inbox(self, row_id: int, state: str, *, ticket_id: str | None = None,
                     note: str | None = None, link: dict[str, Any] | None = None,
                     link_post: tuple[int, str] | None = None) -> None:
        """Close an inbox row, together with the link it created or advanced."""
        self.finish_inbox_many([Finished(row_id, state, ticket_id, note, link, link_post)])

    def finish_inbox_many(self, finished: Sequence[Finished]) -> None:
        """Close inbox rows with their links in one transaction: all of them or none."""
        if not finished:
            return
        for f in finished:
            assert f.state in ("done", "filtered"), f.state
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                inbox.update().where(inbox.c.id == sa.bindparam("row_id")).values(
                    state=sa.bindparam("state"), ticket_id=sa.bindparam("ticket"),
                    last_error=sa.bindparam("note"), done_at=now, lease_until=0.0),
                [{"row_id": f.row_id, "state": f.state, "ticket": f.ticket_id, "note": f.note} for f in finished])
            created = [{"created_at": now, "dm_note_posted": False, **f.link} for f in finished if f.link]
            for keys in dict.fromkeys(tuple(sorted(values)) for values in created):
                conn.execute(_insert_ignoring(conn, links, ("route", "ticket_id")),
                             [values for values in created if tuple(sorted(values)) == keys])
            advanced = [{"link_id": f.link_post[0], "post": f.link_post[1]} for f in finished if f.link_post]
            if advanced:
                conn.execute(links.update().where(links.c.id == sa.bindparam("link_id"))
                             .values(last_post_id=sa.bindparam("post")), advanced)

    def retry_later(self, table: str, row_id: int, error: str, delay: float) -> None:
        target = inbox if table == "inbox" else outbox
        with self.engine.begin() as conn:
            conn.execute(target.update().where(target.c.id == row_id).values(
                last_error=error[:2000], next_attempt_at=self.clock() + delay, lease_until=0.0))

    def release(self, table: str, row_ids: Sequence[int]) -> None:
        """Hand leased rows back without counting an attempt (route paused)."""
        target = inbox if table == "inbox" else outbox
        if row_ids:
            with self.engine.begin() as conn:
                conn.execute(target.update().where(target.c.id.in_(list(row_ids))).values(lease_until=0.0))

    def quarantine(self, table: str, row_id: int, reason: str) -> None:
        target = inbox if table == "inbox" else outbox
        state = "quarantined" if table == "inbox" else "failed"
        with self.engine.begin() as conn:
            conn.execute(target.update().where(target.c.id == row_id).values(
                state=state, last_error=reason[:2000], lease_until=0.0))

    @property
    def shared(self) -> bool:
        """True when several daemons may share this database (PostgreSQL)."""
        return self.engine.dialect.name != "sqlite"

    def release_leases(self) -> int:
        """Free every lease: only for a store one daemon owns (SQLite), at its start,
        so work a killed daemon held resumes at once instead of when its lease ends."""
        if self.shared:
            return 0
        with self.engine.begin() as conn:
            freed = conn.execute(inbox.update().where(inbox.c.lease_until > 0).values(lease_until=0.0)).rowcount
            freed += conn.execute(outbox.update().where(outbox.c.lease_until > 0).values(lease_until=0.0)).rowcount
        return freed
