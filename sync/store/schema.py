"""The store's tables and its versioned migrations (SQLAlchemy Core; SQLite or PostgreSQL)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

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
    sa.Column("sort_key", sa.String(255), nullable=False),
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
    sa.Column("last_post_id", sa.String(255), nullable=False),
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

# Items a network read returned, per route, UTC calendar month ("2026-12") and kind
# ("posts", "dm_events"): X bills reads per item, with a monthly cap.
network_reads = sa.Table(
    "network_reads", metadata,
    sa.Column("route", sa.String(100), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("read_count", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Deliveries a network pushed (Meta's webhooks), as received, one per route reading it.
pushes = sa.Table(
    "pushes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
)
sa.Index("ix_pushes_work", pushes.c.route, pushes.c.state, pushes.c.id)

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

# OAuth grants, sealed (encrypted) with the state key; ``version`` moves on every store so
# a renewal never overwrites a newer grant, ``renewing_*`` is the claim on the next renewal.
credentials = sa.Table(
    "credentials", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("refused", sa.Text),
    sa.Column("renewing_until", sa.Float),
    sa.Column("renewing_owner", sa.String(40)),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# The helpdesk and network accounts this state was made against: a state is never used
# against other accounts (its links and cursors name their tickets and posts).
bindings = sa.Table(
    "bindings", metadata,
    sa.Column("endpoint", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("bound_at", sa.Float, nullable=False),
)

# Channel Framework mode (Zendesk any_channel). A tenant is one integration instance an
# admin added in one Zendesk account: its push credentials (sealed), its pull cursor, its
# push budget. Resources are what socialdesk hands Zendesk, by helpdesk entry; threads are
# the conversations the framework threads them into (the engine's ticket reference in this
# mode); channelbacks are agents' replies posted, once per Zendesk request.
channel_tenants = sa.Table(
    "channel_tenants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("helpdesk", sa.String(100), nullable=False),
    sa.Column("subdomain", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("instance_push_id", sa.String(255), nullable=False),
    sa.Column("push_token", sa.Text),
    sa.Column("locale", sa.String(40)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("pull_state", sa.Text),
    sa.Column("pulls", sa.Integer, nullable=False, default=0),
    sa.Column("pushes", sa.Integer, nullable=False, default=0),
    sa.Column("pushed", sa.Integer, nullable=False, default=0),
    sa.Column("channelbacks", sa.Integer, nullable=False, default=0),
    sa.Column("push_blocked_until", sa.Float, nullable=False, default=0.0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_channel_tenants_helpdesk", channel_tenants.c.helpdesk, channel_tenants.c.state)

channel_threads = sa.Table(
    "channel_threads", metadata,
    sa.Column("ref", sa.String(64), primary_key=True),
    sa.Column("helpdesk", sa.String(100), nullable=False),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("thread_id", sa.String(255), nullable=False),
    sa.Column("conversation", sa.String(200), nullable=False),
    sa.Column("ticket_id", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("helpdesk", "thread_id", name="uq_channel_threads_thread"),
)

channel_resources = sa.Table(
    "channel_resources", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("helpdesk", sa.String(100), nullable=False),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("thread_ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("after_creation", sa.Text),
    sa.Column("post_id", sa.String(100)),
    sa.Column("post_url", sa.Text),
    sa.Column("author_id", sa.String(100)),
    sa.Column("author_handle", sa.String(100)),
    sa.Column("dm", sa.Boolean, nullable=False, default=False),
    sa.Column("pushed_at", sa.Float),
    sa.Column("pulled_at", sa.Float),
    sa.Column("push_status", sa.String(60)),
    sa.Column("push_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("push_tenant", sa.String(40)),
    sa.Column("ticket_id", sa.String(64)),
    sa.Column("applied_at", sa.Float),
    sa.Column("apply_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("helpdesk", "external_id", name="uq_channel_resources_external"),
)
sa.Index("ix_channel_resources_helpdesk", channel_resources.c.helpdesk, channel_resources.c.seq)
sa.Index("ix_channel_resources_thread", channel_resources.c.thread_ref, channel_resources.c.seq)
# What waits to be handed to Zendesk (neither pushed nor pulled): a few rows among an
# account's whole history, found without reading the rest.
_WAITING = sa.and_(channel_resources.c.pushed_at.is_(None), channel_resources.c.pulled_at.is_(None))
sa.Index("ix_channel_resources_waiting", channel_resources.c.helpdesk, channel_resources.c.seq,
         postgresql_where=_WAITING, sqlite_where=_WAITING)

channel_backs = sa.Table(
    "channel_backs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(40), nullable=False),
    sa.Column("request_key", sa.String(255), nullable=False),
    sa.Column("thread_ref", sa.String(64)),
    sa.Column("external_id", sa.String(255)),
    sa.Column("posted", sa.Text, nullable=False, default="[]"),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.UniqueConstraint("tenant", "request_key", name="uq_channel_backs_request"),
)
sa.Index("ix_channel_backs_external", channel_backs.c.external_id)

inbox.append_column(sa.Column("lease_owner", sa.String(40)))
outbox.append_column(sa.Column("lease_owner", sa.String(40)))
inbox.append_column(sa.Column("job", sa.String(100)))
inbox.append_column(sa.Column("conversation", sa.String(200)))
# When a waiting route re-checks next (None: it is not waiting).
routes_health.append_column(sa.Column("next_check", sa.Float))
ix_inbox_conversation = sa.Index("ix_inbox_conversation", inbox.c.route, inbox.c.conversation, inbox.c.state,
                                 inbox.c.sort_key)


# Replicas sharing one state (PostgreSQL): each names itself and is seen while it runs.
replicas = sa.Table(
    "replicas", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
    # The advisory lock the replica holds on a connection of its own while its process lives
    # (sync/store/presence.py); None: it holds none (its death shows only as a missed heartbeat).
    sa.Column("presence", sa.BigInteger),
    # When another replica saw that lock gone (the process died, its connection closed); None
    # while it runs. Its heartbeat clears it.
    sa.Column("lost_at", sa.Float),
)

# Work that one replica at a time does (a route's stream poller, a scheduled job), held by a
# lease until ``expires_at``. ``token`` grows each time the lease changes holder: the
# fencing token a holder's writes carry, so a holder that lost its lease cannot write.
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(200)),
    sa.Column("token", sa.BigInteger, nullable=False, default=0),
    sa.Column("expires_at", sa.Float, nullable=False, default=0.0),
    sa.Column("acquired_at", sa.Float),
)

# One rate budget per vendor account, shared by every replica: a token bucket refilled at
# ``rate`` per second up to ``capacity``.
rate_buckets = sa.Table(
    "rate_buckets", metadata,
    sa.Column("account", sa.String(255), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("capacity", sa.Float, nullable=False),
    sa.Column("rate", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# The pending rows of each queue, found without reading the done ones (which routes have work).
for _queue in (inbox, outbox, pushes):
    sa.Index(f"ix_{_queue.name}_pending", _queue.c.route, postgresql_where=_queue.c.state == "pending",
             sqlite_where=_queue.c.state == "pending")


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


def _add_credentials(conn: Connection) -> None:
    """v8: OAuth grants, encrypted, renewed in place."""
    credentials.create(conn, checkfirst=True)


def _add_bindings(conn: Connection) -> None:
    """v9: the accounts a state belongs to."""
    bindings.create(conn, checkfirst=True)


def _add_next_check(conn: Connection) -> None:
    """v10: a waiting route's next re-check, for ``socialdesk status``."""
    if "next_check" not in {c["name"] for c in sa.inspect(conn).get_columns("route_health")}:
        conn.execute(sa.text("ALTER TABLE route_health ADD COLUMN next_check FLOAT"))


def _add_network_reads(conn: Connection) -> None:
    """v11: items read from a network per route and month (X charges per post read)."""
    network_reads.create(conn, checkfirst=True)


def _add_pushes(conn: Connection) -> None:
    """v12: deliveries a network pushes (Meta's webhooks), kept until read into the inbox."""
    pushes.create(conn, checkfirst=True)
    for index in pushes.indexes:
        index.create(conn, checkfirst=True)


def _add_channel(conn: Connection) -> None:
    """v13: Channel Framework mode: tenants (integration instances), the resources and
    threads socialdesk hands Zendesk, channelbacks posted."""
    for table in (channel_tenants, channel_threads, channel_resources, channel_backs):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _add_waiting_index(conn: Connection) -> None:
    """v15: the Channel Framework's waiting resources found by a partial index."""
    for index in channel_resources.indexes:
        index.create(conn, checkfirst=True)


def _widen_post_keys(conn: Connection) -> None:
    """v16: post ids as long as Meta's message ids (over 100 characters) fit the inbox's sort
    key and a link's last post (PostgreSQL holds VARCHAR lengths; SQLite does not)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE inbox ALTER COLUMN sort_key TYPE VARCHAR(255)")
        conn.exec_driver_sql("ALTER TABLE links ALTER COLUMN last_post_id TYPE VARCHAR(255)")


def _add_replicas(conn: Connection) -> None:
    """v14: replicas sharing the state, the leases that divide their work, shared rate budgets."""
    for table in (replicas, leases, rate_buckets):
        table.create(conn, checkfirst=True)


def _add_presence(conn: Connection) -> None:
    """v17: a replica's presence lock, so the others see its death when its connection closes."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("replicas")}
    if "presence" not in columns:
        conn.execute(sa.text("ALTER TABLE replicas ADD COLUMN presence BIGINT"))
    if "lost_at" not in columns:
        conn.execute(sa.text("ALTER TABLE replicas ADD COLUMN lost_at FLOAT"))


def _add_pending_indexes(conn: Connection) -> None:
    """v18: partial indexes on each queue's pending rows (the routes with work, read at once)."""
    for table in (inbox, outbox, pushes):
        for index in table.indexes:
            if index.name == f"ix_{table.name}_pending":
                index.create(conn, checkfirst=True)


# Versioned schema changes, applied in order, each recorded in schema_migrations.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _create_v1),
    (2, _add_lease_owner),
    (3, _add_budget),
    (4, _add_job),
    (5, _add_watch),
    (6, _add_conversation),
    (7, _add_accounts),
    (8, _add_credentials),
    (9, _add_bindings),
    (10, _add_next_check),
    (11, _add_network_reads),
    (12, _add_pushes),
    (13, _add_channel),
    (14, _add_replicas),
    (15, _add_waiting_index),
    (16, _widen_post_keys),
    (17, _add_presence),
    (18, _add_pending_indexes),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

INBOX_STATES = ("pending", "done", "filtered", "quarantined")
OUTBOX_STATES = ("pending", "posted", "failed", "skipped")
IN_CHUNK = 500  # keys per IN (...) read: well inside SQLite's and PostgreSQL's bound-parameter limits


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


BUSY_TIMEOUT = 30.0      # seconds an open store waits for SQLite's write lock (a daemon's writes are short)
CONNECT_TIMEOUT = 10     # seconds to reach a PostgreSQL server before saying it cannot be reached


def _engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            cursor.close()

        return engine
    if parsed.drivername == "postgresql":
        # The driver the 'postgres' extra installs, rather than SQLAlchemy's default psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    libpq = parsed.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query
    connect_args = {"connect_timeout": CONNECT_TIMEOUT} if libpq else {}
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
