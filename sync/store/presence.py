"""A replica's presence: a PostgreSQL advisory lock held, while its process lives, on a
connection of its own.

A heartbeat tells that a replica was alive at its last tick; only heartbeats missed for a
ttl tell that it died. A process that crashes or is killed has its sockets closed by the
kernel: PostgreSQL ends its sessions at once, and a session's advisory locks go with it. So
the other replicas tell a dead replica from a slow one at their next tick (its lock is gone
while its heartbeat is still recent) and take its leases over then, not a ttl later.

What this does not see: a host that vanishes without closing its connections (power lost,
the network cut). Its sessions stay open until TCP gives up on them, and the replica's death
shows, as before, when its heartbeats stop. A replica that is only slow keeps its lock and
its leases. Fencing tokens stay what protects the writes either way (sync/store/leases.py).
"""
from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("socialdesk.daemon")

KEY_BITS = 62   # keys stay positive in a bigint, both halves in pg_locks' oid columns

# The replicas whose heartbeat is recent and who said they hold a presence lock that
# PostgreSQL no longer lists: their process is gone. A bigint advisory lock shows in
# pg_locks with its high half in classid, its low half in objid, objsubid 1.
LOST = sa.text("""
SELECT r.id FROM replicas r
WHERE r.presence IS NOT NULL AND r.lost_at IS NULL AND r.id <> :me AND r.seen_at > :since
  AND NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = (r.presence >> 32) AND l.objid::bigint = (r.presence & 4294967295))
ORDER BY r.id
""")


def presence_key(replica: str) -> int:
    """The advisory lock key of ``replica``'s presence (the same for every process that
    computes it; two replica ids share one with odds of about 1 in 2**62)."""
    digest = hashlib.sha256(f"socialdesk replica|{replica}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - KEY_BITS)


class Presence:
    """The lock a replica holds while it lives, on a connection no one else uses (taken
    out of the pool: closing it ends the session, and the lock with it)."""

    def __init__(self, engine: Engine, replica: str) -> None:
        self.engine, self.replica = engine, replica
        self.key = presence_key(replica)
        self._conn: Connection | None = None

    def __repr__(self) -> str:
        return f"Presence({self.replica!r}, held={self._conn is not None})"

    def hold(self) -> bool:
        """Whether this process holds the lock now: checked on its connection, taken again
        on a new one when that connection was lost. False when the store cannot be reached
        or another process holds the lock (another replica running with the same id)."""
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except sa.exc.SQLAlchemyError:
                self.release()
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.detach()   # closed for real when released, never handed back to the pool holding the lock
            conn.execute(sa.text("SELECT set_config('application_name', :name, false)"),
                         {"name": f"socialdesk replica {self.replica}"[:63]})
            held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        except sa.exc.SQLAlchemyError as err:
            log.warning("replica %s could not hold its presence lock (%s): its death would show only when its "
                        "heartbeats stop", self.replica, type(err).__name__)
            return False
        if not held:
            conn.close()
            log.warning("replica %s: another process holds this replica id's presence lock; is another replica "
                        "running with the same --replica-id?", self.replica)
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        """Close the connection: the session ends and its lock goes with it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sa.exc.SQLAlchemyError:
                pass
