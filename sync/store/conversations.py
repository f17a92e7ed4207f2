"""Requesters, conversation links and the viral watch: what ties a post to its ticket."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.store.rows import LinkRow
from sync.store.schema import _insert_ignore, _insert_ignoring, IN_CHUNK, inbox, links, requesters, watch


class Conversations:
    """Part of ``Store``; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]

    def get_requester(self, helpdesk: str, network: str, author_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(requesters.c.user_id).where(
                requesters.c.helpdesk == helpdesk, requesters.c.network == network,
                requesters.c.author_id == author_id)).scalar()

    def get_requesters(self, helpdesk: str, network: str, author_ids: Sequence[str]) -> dict[str, str]:
        """Known helpdesk user ids by author id, for many authors in a few reads."""
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(author_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                found.update((row.author_id, row.user_id) for row in conn.execute(
                    sa.select(requesters.c.author_id, requesters.c.user_id).where(
                        requesters.c.helpdesk == helpdesk, requesters.c.network == network,
                        requesters.c.author_id.in_(wanted[start:start + IN_CHUNK]))))
        return found

    def put_requester(self, helpdesk: str, network: str, author_id: str, user_id: str) -> None:
        self.put_requesters(helpdesk, network, {author_id: user_id})

    def put_requesters(self, helpdesk: str, network: str, user_ids: Mapping[str, str]) -> None:
        """Remember helpdesk user ids by author id (the first one stored stays)."""
        if not user_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(_insert_ignoring(conn, requesters, ("helpdesk", "network", "author_id")),
                         [{"helpdesk": helpdesk, "network": network, "author_id": author_id, "user_id": user_id}
                          for author_id, user_id in user_ids.items()])

    def _link(self, row: Any) -> LinkRow:
        return LinkRow(row.id, row.route, row.conversation_key, row.ticket_id, row.source_key,
                       row.author_id, row.author_handle, bool(row.dm), row.last_post_id,
                       bool(row.dm_note_posted))

    def latest_link(self, route: str, conversation_key: str) -> LinkRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(links).where(
                links.c.route == route, links.c.conversation_key == conversation_key)
                .order_by(links.c.id.desc()).limit(1)).first()
        return self._link(row) if row else None

    def latest_links(self, route: str, conversation_keys: Sequence[str]) -> dict[str, LinkRow]:
        """Each conversation's latest link (as ``latest_link``), for many in a few reads."""
        found: dict[str, LinkRow] = {}
        wanted = list(dict.fromkeys(conversation_keys))
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                for row in conn.execute(sa.select(links).where(
                        links.c.route == route, links.c.conversation_key.in_(wanted[start:start + IN_CHUNK]))
                        .order_by(links.c.id)):
                    found[row.conversation_key] = self._link(row)  # ascending ids: the latest wins
        return found

    def last_post_at(self, route: str, ticket_id: str) -> float | None:
        """When the customer last wrote in the conversation of ``ticket_id`` (epoch s)."""
        with self.engine.connect() as conn:
            key = conn.execute(sa.select(sa.func.max(inbox.c.sort_key)).where(
                inbox.c.route == route, inbox.c.ticket_id == ticket_id, inbox.c.state == "done")).scalar()
        created = str(key or "").split("|", 1)[0]
        if not created:
            return None
        try:
            return datetime.fromisoformat(created).timestamp()
        except ValueError:
            return None

    def watch_candidates(self, route: str, since: float, limit: int = 100) -> list[tuple[LinkRow, dict[str, Any]]]:
        """Conversations opened since ``since`` not yet flagged viral, least recently read
        first, with the metrics read last time (empty when never read)."""
        query = (sa.select(links, watch.c.metrics, watch.c.checked_at)
                 .select_from(links.outerjoin(watch, watch.c.link_id == links.c.id))
                 .where(links.c.route == route, links.c.created_at >= since, links.c.dm.is_(False),
                        watch.c.flagged_at.is_(None))
                 .order_by(sa.func.coalesce(watch.c.checked_at, 0.0), links.c.id).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).fetchall()
        out = []
        for r in rows:
            seen = json.loads(r.metrics) if r.metrics else {}
            out.append((self._link(r), {"metrics": seen, "checked_at": r.checked_at}))
        return out

    def posts_between(self, route: str, start: float, end: float) -> int:
        """Posts (not filtered ones) the route read in [start, end): the arrival rate as
        the daemon sees it, on its own clock."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inbox).where(
                inbox.c.route == route, inbox.c.state.in_(("pending", "done")),
                inbox.c.received_at >= start, inbox.c.received_at < end)).scalar() or 0)

    def first_received(self, route: str) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(inbox.c.received_at)).where(inbox.c.route == route)).scalar()

    def tickets_linked_since(self, route: str, since: float) -> list[str]:
        with self.engine.connect() as conn:
            return [r.ticket_id for r in conn.execute(
                sa.select(links.c.ticket_id).where(links.c.route == route, links.c.created_at >= since)
                .order_by(links.c.id))]

    def record_watch(self, link_id: int, route: str, metrics: dict[str, int], *, flagged: bool = False) -> None:
        now = self.clock()
        values = {"metrics": json.dumps(metrics), "checked_at": now, **({"flagged_at": now} if flagged else {})}
        with self.engine.begin() as conn:
            if not _insert_ignore(conn, watch, ("link_id",), link_id=link_id, route=route, **values):
                conn.execute(watch.update().where(watch.c.link_id == link_id).values(**values))

    def link_by_ticket(self, route: str, ticket_id: str) -> LinkRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(links).where(
                links.c.route == route, links.c.ticket_id == ticket_id)).first()
        return self._link(row) if row else None

    def linked_tickets(self, route: str, ticket_ids: Collection[str]) -> set[str]:
        """Which of ``ticket_ids`` the route has linked (one query per IN_CHUNK of them)."""
        wanted, found = sorted(set(ticket_ids)), set()
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start:start + IN_CHUNK]
                found.update(conn.execute(sa.select(links.c.ticket_id).where(
                    links.c.route == route, links.c.ticket_id.in_(chunk))).scalars())
        return found

    def mark_dm_note_posted(self, link_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(links.update().where(links.c.id == link_id).values(dm_note_posted=True))
