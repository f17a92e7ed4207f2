"""Durable state: cursors, inbox, requesters, conversation links, reply outbox,
quarantine and route health. SQLAlchemy Core on SQLite (default, WAL) or PostgreSQL.

Every row is keyed by route. A cursor only moves in the transaction that records what
was read (``record_page``); work rows are claimed with a lease so a crashed worker's
rows are picked up again once the lease runs out. Replicas sharing PostgreSQL divide the
one-at-a-time work by named leases with fencing tokens (sync/store/leases.py).
"""
from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from sync.store.bindings import Bindings
from sync.store.buckets import RateBuckets
from sync.store.conversations import Conversations
from sync.store.credentials import Credentials
from sync.store.leases import Fence, Leases, StaleLease, fenced
from sync.store.errors import (
    StoreCorrupt, StoreDriverMissing, StoreError, StoreLocked, StoreMissing, StoreTooNew, StoreUnreachable,
)
from sync.store.pushes import Pushes
from sync.store.reads import Reads
from sync.store.replies import Replies
from sync.store.rows import Finished, InboxItem, InboxRow, LinkRow, OutboxRow
from sync.store.schema import (
    IN_CHUNK, INBOX_STATES, MIGRATIONS, OUTBOX_STATES, SCHEMA_VERSION, _engine, _insert_ignoring, accounts, cursors,
    helpdesk_budget, inbox, links, metadata, outbox, requesters, routes_health, schema_migrations, watch,
)
from sync.store.status import Status
from sync.store.tenants import Tenants
from sync.store.work import WorkRows

__all__ = ["Fence", "Finished", "IN_CHUNK", "INBOX_STATES", "InboxItem", "InboxRow", "LinkRow", "MIGRATIONS",
           "OUTBOX_STATES", "OutboxRow", "SCHEMA_VERSION", "StaleLease", "Store", "StoreCorrupt", "StoreDriverMissing",
           "StoreError", "StoreLocked", "StoreMissing", "StoreTooNew", "StoreUnreachable", "accounts", "check_state",
           "cursors", "fenced", "helpdesk_budget", "inbox", "links", "metadata", "open_state", "outbox", "requesters",
           "routes_health", "schema_migrations", "watch"]


MIGRATION_LOCK = 0x736F6369616C   # the advisory lock key migrations hold on PostgreSQL ("social")


class Store(WorkRows, Conversations, Replies, Status, Credentials, Bindings, Reads, Pushes, Tenants, Leases,
            RateBuckets):
    """All durable state of one daemon (or of several replicas sharing PostgreSQL)."""

    claimant: str | None = None   # the mark this replica's row claims carry (sync/keeper.py sets it)

    def __init__(self, url: str, clock: Any = time.time) -> None:
        self.url = url
        self.engine = _engine(url)
        self.clock = clock

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @property
    def shared(self) -> bool:
        """Whether replicas may share this state (PostgreSQL); SQLite serves one process."""
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version now in force."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Replicas starting together on a new database migrate one after another.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
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


from sync.store.opening import check_state, open_state  # noqa: E402 - it opens the Store defined above
