"""Durable state: cursors, inbox, requesters, conversation links, reply outbox,
quarantine and route health. SQLAlchemy Core on SQLite (default, WAL) or PostgreSQL.

Every row is keyed by route. A cursor only moves in the transaction that records what
was read (``record_page``); work rows are claimed with a lease so a crashed worker's
rows are picked up again once the lease runs out.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)

cursors = sa.Table(
    "cursors", metadata,
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200)),
    sa.Column("updated_at", sa.Float, nullable=False),
)

inbox = sa.Table(
    "inbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("source_key", sa.String(200), nullable=False),
    sa.Column("stream", sa.String(50), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("sort_key", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, default="pending"),
    sa.Column("ticket_id", sa.String(64)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.Float, nullable=False, default=0.0),
    sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.UniqueConstraint("route", "source_key", name="uq_inbox_route_source"),
)
sa.Index("ix_inbox_work", inbox.c.route, inbox.c.state, inbox.c.sort_key)

requesters = sa.Table(
    "requesters", metadata,
    sa.Column("helpdesk", sa.String(100), primary_key=True),
    sa.Column("network", sa.String(50), primary_key=True),
    sa.Column("author_id", sa.String(100), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
)

links = sa.Table(
    "links", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("conversation_key", sa.String(200), nullable=False),
    sa.Column("ticket_id", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(200), nullable=False),
    sa.Column("author_id", sa.String(100), nullable=False),
    sa.Column("author_handle", sa.String(100), nullable=False),
    sa.Column("dm", sa.Boolean, nullable=False, default=False),
    sa.Column("last_post_id", sa.String(100), nullable=False),
    sa.Column("dm_note_posted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("route", "ticket_id", name="uq_links_route_ticket"),
)
sa.Index("ix_links_conversation", links.c.route, links.c.conversation_key)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("comment_id", sa.String(64), nullable=False),
    sa.Column("ticket_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, default="pending"),
    sa.Column("posted", sa.Text, nullable=False, default="[]"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.Float, nullable=False, default=0.0),
    sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.UniqueConstraint("route", "comment_id", name="uq_outbox_route_comment"),
)
sa.Index("ix_outbox_work", outbox.c.route, outbox.c.state, outbox.c.id)

routes_health = sa.Table(
    "route_health", metadata,
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("since", sa.Float, nullable=False),
)

helpdesk_budget = sa.Table(
    "helpdesk_budget", metadata,
    sa.Column("helpdesk", sa.String(100), primary_key=True),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Viral watch: the public metrics last read for a conversation's first post.
watch = sa.Table(
    "watch", metadata,
    sa.Column("link_id", sa.Integer, primary_key=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("checked_at", sa.Float, nullable=False),
    sa.Column("flagged_at", sa.Float),
)

# The brand account a route's network credentials belong to, as the network last said.
accounts = sa.Table(
    "route_account", metadata,
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("network", sa.String(50), nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

inbox.append_column(sa.Column("lease_owner", sa.String(40)))
outbox.append_column(sa.Column("lease_owner", sa.String(40)))
inbox.append_column(sa.Column("job", sa.String(100)))
inbox.append_column(sa.Column("conversation", sa.String(200)))
ix_inbox_conversation = sa.Index("ix_inbox_conversation", inbox.c.route, inbox.c.conversation, inbox.c.state,
                                 inbox.c.sort_key)


def _create_v1(conn: Connection) -> None:
    for table in (cursors, inbox, requesters, links, outbox, routes_health):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _add_lease_owner(conn: Connection) -> None:
    """v2: a claim owns its rows, so two workers never act on the same row."""
    inspector = sa.inspect(conn)
    for table in ("inbox", "outbox"):
        if "lease_owner" not in {c["name"] for c in inspector.get_columns(table)}:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN lease_owner VARCHAR(40)"))


def _add_budget(conn: Connection) -> None:
    """v3: the helpdesk API budget a daemon last saw, for ``socialdesk status``."""
    helpdesk_budget.create(conn, checkfirst=True)


def _add_job(conn: Connection) -> None:
    """v4: the helpdesk background job a batched write went into, so a retry waits for it."""
    if "job" not in {c["name"] for c in sa.inspect(conn).get_columns("inbox")}:
        conn.execute(sa.text("ALTER TABLE inbox ADD COLUMN job VARCHAR(100)"))


def _add_watch(conn: Connection) -> None:
    """v5: viral watch keeps the metrics it read last, to measure velocity."""
    watch.create(conn, checkfirst=True)


def _add_conversation(conn: Connection) -> None:
    """v6: each inbox row names its conversation, so a conversation's posts are written in
    the order they were posted, even when one of them has to wait for a retry."""
    if "conversation" not in {c["name"] for c in sa.inspect(conn).get_columns("inbox")}:
        conn.execute(sa.text("ALTER TABLE inbox ADD COLUMN conversation VARCHAR(200)"))
    ix_inbox_conversation.create(conn, checkfirst=True)


def _add_accounts(conn: Connection) -> None:
    """v7: each route's brand account, so a restart whose identity read is rate limited
    still knows its own posts and keeps writing what it has read."""
    accounts.create(conn, checkfirst=True)


# Versioned schema changes, applied in order, each recorded in schema_migrations.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _create_v1),
    (2, _add_lease_owner),
    (3, _add_budget),
    (4, _add_job),
    (5, _add_watch),
    (6, _add_conversation),
    (7, _add_accounts),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

INBOX_STATES = ("pending", "done", "filtered", "quarantined")
OUTBOX_STATES = ("pending", "posted", "failed", "skipped")
IN_CHUNK = 500  # keys per IN (...) read: well inside SQLite's and PostgreSQL's bound-parameter limits


@dataclass(frozen=True)
class InboxItem:
    source_key: str
    stream: str
    payload: dict[str, Any]
    sort_key: str
    conversation: str | None = None


@dataclass(frozen=True)
class InboxRow:
    id: int
    route: str
    source_key: str
    stream: str
    payload: dict[str, Any]
    attempts: int
    state: str
    ticket_id: str | None
    last_error: str | None
    owner: str = ""
    job: str | None = None


@dataclass(frozen=True)
class Finished:
    """An inbox row to close, with the link it creates (``link``) or advances
    (``link_post``: the link's id and the post now latest in it)."""
    row_id: int
    state: str
    ticket_id: str | None = None
    note: str | None = None
    link: dict[str, Any] | None = None
    link_post: tuple[int, str] | None = None


@dataclass(frozen=True)
class LinkRow:
    id: int
    route: str
    conversation_key: str
    ticket_id: str
    source_key: str
    author_id: str
    author_handle: str
    dm: bool
    last_post_id: str
    dm_note_posted: bool


@dataclass(frozen=True)
class OutboxRow:
    id: int
    route: str
    comment_id: str
    ticket_id: str
    body: str
    state: str
    posted: list[dict[str, Any]]
    attempts: int
    last_error: str | None
    owner: str = ""


def _insert_ignore(conn: Connection, table: sa.Table, keys: Sequence[str], **values: Any) -> bool:
    """Insert unless a row with the same unique ``keys`` exists; True when inserted.

    One statement, so two writers racing on the same key cannot both fail or both win.
    """
    statement = _insert_ignoring(conn, table, keys).values(**values).returning(*table.primary_key.columns)
    # rowcount is not reliable here on every driver; a returned key is.
    return conn.execute(statement).first() is not None


def _insert_ignoring(conn: Connection, table: sa.Table, keys: Sequence[str]) -> Any:
    """An INSERT that skips a row whose unique ``keys`` already exist (one or many rows);
    with no ``keys``, the dialect's plain INSERT, for an ``on_conflict_do_update``."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=list(keys)) if keys else insert(table)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """All durable state of one daemon (or of several replicas sharing PostgreSQL)."""

    def __init__(self, url: str, clock: Any = time.time) -> None:
        self.url = url
        self.engine = _engine(url)
        self.clock = clock

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ schema

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version now in force."""
        with self.engine.begin() as conn:
            schema_migrations.create(conn, checkfirst=True)
            applied = {row.version for row in conn.execute(sa.select(schema_migrations.c.version))}
            for version, apply in MIGRATIONS:
                if version in applied:
                    continue
                apply(conn)
                conn.execute(schema_migrations.insert().values(version=version, applied_at=self.clock()))
        return self.schema_version()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_migrations"):
                return 0
            return conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar() or 0

    # ------------------------------------------------------------------ brand account

    def put_account(self, route: str, network: str, account: dict[str, Any]) -> None:
        """Remember the brand account ``route``'s credentials belong to."""
        values = {"network": network, "account": json.dumps(account, sort_keys=True), "updated_at": self.clock()}
        with self.engine.begin() as conn:  # one statement: two daemons starting together both succeed
            conn.execute(_insert_ignoring(conn, accounts, ()).values(route=route, **values)
                         .on_conflict_do_update(index_elements=["route"], set_=values))

    def get_account(self, route: str, network: str) -> dict[str, Any] | None:
        """The brand account last seen for ``route`` on ``network``, if any."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(accounts.c.account).where(
                accounts.c.route == route, accounts.c.network == network)).scalar()
        return json.loads(text) if text else None

    # ------------------------------------------------------------------ cursors and inbox

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
                    cursor: str | None = None, *, move_cursor: bool = False) -> int:
        """Insert new items (duplicates ignored) and, when asked, move the cursor: one transaction."""
        new = 0
        now = self.clock()
        with self.engine.begin() as conn:
            for item in items:
                new += _insert_ignore(
                    conn, inbox, ("route", "source_key"), route=route, source_key=item.source_key,
                    stream=item.stream, payload=json.dumps(item.payload, sort_keys=True),
                    sort_key=item.sort_key, state="pending", attempts=0, next_attempt_at=0.0,
                    lease_until=0.0, received_at=now, conversation=item.conversation)
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

    def _claim(self, table: sa.Table, route: str, order: Sequence[Any], limit: int,
               lease: float, *extra: Any) -> tuple[str, list[Any]]:
        """Lease due pending rows to a new owner token; only rows this claim won come back.

        The UPDATE re-checks the lease, so two workers racing for the same rows (threads
        on SQLite, replicas on PostgreSQL) never both get one.
        """
        now = self.clock()
        owner = uuid.uuid4().hex
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

    def note_job(self, row_ids: Sequence[int], job_id: str) -> None:
        """Remember the background job a batched write of these rows went into."""
        with self.engine.begin() as conn:
            conn.execute(inbox.update().where(inbox.c.id.in_(row_ids)).values(job=job_id[:100]))

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

    # ------------------------------------------------------------------ requesters and links

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

    def mark_dm_note_posted(self, link_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(links.update().where(links.c.id == link_id).values(dm_note_posted=True))

    # ------------------------------------------------------------------ outbox

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

    def finish_outbox(self, row_id: int, state: str = "posted", note: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(
                state=state, last_error=note, done_at=self.clock(), lease_until=0.0))

    # ------------------------------------------------------------------ failures and health

    def failed(self, route: str | None = None) -> list[dict[str, Any]]:
        """Quarantined inbox rows and failed replies, for ``socialdesk failed list``."""
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            q = sa.select(inbox).where(inbox.c.state == "quarantined")
            if route:
                q = q.where(inbox.c.route == route)
            for r in conn.execute(q.order_by(inbox.c.id)):
                out.append({"id": f"in-{r.id}", "route": r.route, "flow": "ingest", "key": r.source_key,
                            "reason": r.last_error, "attempts": r.attempts})
            q = sa.select(outbox).where(outbox.c.state == "failed")
            if route:
                q = q.where(outbox.c.route == route)
            for r in conn.execute(q.order_by(outbox.c.id)):
                out.append({"id": f"out-{r.id}", "route": r.route, "flow": "mirror",
                            "key": f"comment:{r.comment_id}", "reason": r.last_error, "attempts": r.attempts})
        return out

    def retry_failed(self, ident: str) -> bool:
        """Put a quarantined / failed row back in the queue."""
        kind, _, number = ident.partition("-")
        if kind not in ("in", "out") or not number.isdigit():
            raise ValueError(f"{ident!r}: expected an id like in-12 or out-3 (see 'socialdesk failed list')")
        target, state = (inbox, "quarantined") if kind == "in" else (outbox, "failed")
        with self.engine.begin() as conn:
            done = conn.execute(target.update().where(target.c.id == int(number), target.c.state == state)
                                .values(state="pending", next_attempt_at=0.0, lease_until=0.0))
        return done.rowcount == 1

    def set_health(self, route: str, state: str, reason: str | None = None) -> bool:
        """Record a route's health; True when it changed (log once per transition)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(routes_health).where(routes_health.c.route == route)).first()
            if row and row.state == state and row.reason == reason:
                return False
            if row:
                conn.execute(routes_health.update().where(routes_health.c.route == route)
                             .values(state=state, reason=reason, since=self.clock()))
            else:
                conn.execute(routes_health.insert().values(route=route, state=state, reason=reason,
                                                           since=self.clock()))
        return True

    def put_budget(self, helpdesk: str, report: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(helpdesk_budget.update().where(helpdesk_budget.c.helpdesk == helpdesk)
                                .values(report=json.dumps(report), updated_at=self.clock()))
            if done.rowcount == 0:
                _insert_ignore(conn, helpdesk_budget, ("helpdesk",), helpdesk=helpdesk,
                               report=json.dumps(report), updated_at=self.clock())

    def budgets(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.helpdesk: {**json.loads(r.report), "updated_at": r.updated_at}
                    for r in conn.execute(sa.select(helpdesk_budget))}

    def health(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.route: {"state": r.state, "reason": r.reason, "since": r.since}
                    for r in conn.execute(sa.select(routes_health))}

    def counts(self) -> dict[str, Any]:
        """Per-route totals for ``socialdesk status`` and the demo summary."""
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for table, name in ((inbox, "inbox"), (outbox, "outbox")):
                for r in conn.execute(sa.select(table.c.route, table.c.state, sa.func.count())
                                      .group_by(table.c.route, table.c.state)):
                    out.setdefault(r[0], {}).setdefault(name, {})[r[1]] = r[2]
            for r in conn.execute(sa.select(links.c.route, sa.func.count()).group_by(links.c.route)):
                out.setdefault(r[0], {})["tickets"] = r[1]
            for r in conn.execute(sa.select(cursors)):
                out.setdefault(r.route, {}).setdefault("cursors", {})[r.stream] = r.value
        return out
