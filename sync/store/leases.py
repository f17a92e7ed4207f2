"""Leases: which replica does which one-at-a-time work (a route's stream poller, a scheduled
job), with fencing tokens so a replica that lost a lease cannot write as its holder.

A lease is a row: its holder and until when (``expires_at``). Taking one is one UPDATE that
matches only a lease that is free, expired or already the taker's, so two replicas racing
for it never both win. Its ``token`` grows each time the lease changes holder; a write made
for the work (``record_page``) carries the token it was taken with (a ``Fence``) and is
refused (``StaleLease``) in its own transaction unless that is still the lease's holding.

Time: every instant here is the store's clock (``Store.clock``: the daemon's time, which tests
inject), never the database server's. Expiries are written by one replica's clock and read
against another's, so replicas' clocks are assumed to agree to well within a ttl (NTP keeps
them within milliseconds; a ttl is seconds). A replica whose clock runs ahead by D takes an
expired-looking lease D early while its holder may still work: the store refuses the old
holder's fenced writes, and what both do on the vendors' side is keyed (inbox rows, claims),
so the cost is a read done twice. A clock behind by D only takes over D later.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.base import SocialdeskError
from sync.store.presence import LOST, Presence
from sync.store.schema import _insert_ignoring, leases, replicas

# A replica not seen for this long is forgotten when another joins (status stops listing it).
FORGET_AFTER = 3600.0


@dataclass(frozen=True)
class Fence:
    """The lease a job holds and the token it was taken with: what its writes carry."""

    name: str
    token: int


class StaleLease(SocialdeskError):
    """This replica no longer holds the lease its write carried: another took it over, or it
    was given up. The job stops; the lease's holder does the work."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(f"lease {fence.name!r} (token {fence.token}) is no longer held by this replica")
        self.fence = fence


_fence: ContextVar[Fence | None] = ContextVar("socialdesk_fence", default=None)


@contextlib.contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Run a job as ``fence``'s holder: the store's fenced writes (``record_page``) in it carry
    that fence unless given one."""
    reset = _fence.set(fence)
    try:
        yield
    finally:
        _fence.reset(reset)


def current_fence() -> Fence | None:
    """The fence of the job running in this thread (``fenced``), if any."""
    return _fence.get()


def as_fence(value: Fence | tuple[str, int] | None) -> Fence | None:
    if value is None or isinstance(value, Fence):
        return value
    name, token = value
    return Fence(name, int(token))


def check_fence(conn: Connection, fence: Fence) -> None:
    """In the caller's transaction, before its writes: StaleLease unless ``fence`` is the lease's
    current holding. It writes the lease row (unchanged), so a takeover waits for this
    transaction (PostgreSQL's row lock, SQLite's write lock) and sees what it wrote."""
    c = leases.c
    done = conn.execute(leases.update().where(c.name == fence.name, c.token == fence.token, c.holder.is_not(None))
                        .values(token=c.token))
    if done.rowcount != 1:
        raise StaleLease(fence)


class Leases:
    """The store's leases and replicas (tables ``leases`` and ``replicas``)."""

    engine: Engine
    clock: Callable[[], float]

    # ------------------------------------------------------------------ replicas

    def heartbeat(self, replica: str, presence: int | None = None) -> None:
        """``replica`` is alive now (it is listed from its first heartbeat on), holding the
        presence lock ``presence`` (None: none; sync/store/presence.py)."""
        now = self.clock()
        with self.engine.begin() as conn:
            seen = replicas.update().where(replicas.c.id == replica).values(seen_at=now, presence=presence,
                                                                            lost_at=None)
            if conn.execute(seen).rowcount == 0:
                conn.execute(replicas.delete().where(replicas.c.seen_at < now - FORGET_AFTER))
                conn.execute(_insert_ignoring(conn, replicas, ("id",)).values(id=replica, started_at=now,
                                                                              seen_at=now, presence=presence))

    def live_replicas(self, within: float) -> list[str]:
        """Replicas seen in the last ``within`` seconds and not seen dead since."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(replicas.c.id).where(replicas.c.seen_at > self.clock() - within,
                                                               replicas.c.lost_at.is_(None))
                                .order_by(replicas.c.id))
            return [r.id for r in rows]

    def presence(self, replica: str) -> Presence | None:
        """The presence lock ``replica`` can hold (PostgreSQL); None where one process owns the state."""
        return Presence(self.engine, replica) if self.engine.dialect.name == "postgresql" else None

    def mark_lost(self, me: str, within: float) -> dict[str, int]:
        """Replicas seen in the last ``within`` seconds whose presence lock is gone (their
        process died): marked lost, their leases freed at once. Replica -> leases freed."""
        if self.engine.dialect.name != "postgresql":
            return {}
        now = self.clock()
        lost: dict[str, int] = {}
        with self.engine.begin() as conn:
            for (replica,) in conn.execute(LOST, {"me": me, "since": now - within}).all():
                marked = conn.execute(replicas.update().where(replicas.c.id == replica, replicas.c.lost_at.is_(None))
                                      .values(lost_at=now, presence=None)).rowcount
                if marked:
                    lost[replica] = self._free(conn, replica, None)
        return lost

    def replicas(self) -> dict[str, dict[str, float]]:
        """Every replica listed: when it started, was last seen, and was seen dead (None: not)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(replicas).order_by(replicas.c.id)).all()
        return {r.id: {"started_at": r.started_at, "seen_at": r.seen_at, "lost_at": r.lost_at} for r in rows}

    def free_claims(self, replica: str) -> int:
        """Hand back the inbox and outbox rows ``replica`` claimed and did not finish (it is
        gone): another replica may take them now instead of when their row lease runs out.
        A row it still finishes is refused by its owner check; a write it made is found by
        the exactly-once retry."""
        from sync.store.schema import inbox, outbox
        from sync.store.work import claimant_of

        mark = f"{claimant_of(replica)}:%"
        now = self.clock()
        freed = 0
        with self.engine.begin() as conn:
            for table in (inbox, outbox):
                freed += conn.execute(table.update().where(
                    table.c.state == "pending", table.c.lease_owner.like(mark), table.c.lease_until > now)
                    .values(lease_until=0.0)).rowcount
        return freed

    def leave(self, replica: str) -> int:
        """``replica`` stops: its leases are free at once and it is no longer listed; how many it held."""
        with self.engine.begin() as conn:
            freed = self._free(conn, replica, None)
            conn.execute(replicas.delete().where(replicas.c.id == replica))
        return freed

    # ------------------------------------------------------------------ leases

    def add_leases(self, names: Iterable[str]) -> None:
        """Make sure a free lease row exists for each name (in name order: two replicas adding
        the same names at once never wait on each other crosswise)."""
        rows = [{"name": n, "holder": None, "token": 0, "expires_at": 0.0, "acquired_at": None}
                for n in sorted(set(names))]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(_insert_ignoring(conn, leases, ("name",)), rows)

    def acquire_lease(self, name: str, holder: str, ttl: float) -> int | None:
        """Take or renew ``name`` for ``ttl`` seconds: its token, or None while another holds it."""
        self.add_leases([name])
        with self.engine.begin() as conn:
            return self._take(conn, [name], holder, ttl, self.clock()).get(name)

    def acquire_leases(self, preferred: Sequence[str], holder: str, ttl: float, limit: int) -> dict[str, int]:
        """Take up to ``limit`` of the free leases among ``preferred``, first ones first; a lease
        another replica is taking right now is skipped, never waited for. Name -> token."""
        if limit <= 0 or not preferred:
            return {}
        now = self.clock()
        c = leases.c
        free = sa.or_(c.holder.is_(None), c.expires_at <= now)
        taken: dict[str, int] = {}
        with self.engine.begin() as conn:
            found = {r.name for r in conn.execute(sa.select(c.name).where(c.name.in_(list(preferred)), free))}
            candidates = [name for name in preferred if name in found]
            # Those another replica is taking are skipped; the next free ones fill their place.
            while candidates and len(taken) < limit:
                chosen, candidates = candidates[:limit - len(taken)], candidates[limit - len(taken):]
                if conn.dialect.name == "postgresql":
                    lock = sa.select(c.name).where(c.name.in_(chosen), free).with_for_update(skip_locked=True)
                    locked = {r.name for r in conn.execute(lock)}
                    chosen = [name for name in chosen if name in locked]
                if chosen:
                    taken.update(self._take(conn, chosen, holder, ttl, now))
        return taken

    def _take(self, conn: Connection, names: Sequence[str], holder: str, ttl: float, now: float) -> dict[str, int]:
        c = leases.c
        changes_holder = sa.or_(c.holder.is_(None), c.holder != holder)
        taken = conn.execute(leases.update().where(
            c.name.in_(list(names)), sa.or_(c.holder.is_(None), c.expires_at <= now, c.holder == holder)).values(
            holder=holder, token=sa.case((changes_holder, c.token + 1), else_=c.token),
            acquired_at=sa.case((changes_holder, now), else_=c.acquired_at), expires_at=now + ttl)
            .returning(c.name, c.token))
        return {r.name: int(r.token) for r in taken}

    def renew_leases(self, holder: str, ttl: float, names: Iterable[str] | None = None) -> dict[str, int]:
        """Extend every lease ``holder`` still holds (or those of ``names``) by ``ttl`` from now.

        An expired lease nobody took since is still the holder's: its token did not move, so
        nothing was written under another's. Name -> token of what is held."""
        c = leases.c
        where = [c.holder == holder] + ([c.name.in_(list(names))] if names is not None else [])
        with self.engine.begin() as conn:
            held = conn.execute(leases.update().where(*where).values(expires_at=self.clock() + ttl)
                                .returning(c.name, c.token))
            return {r.name: int(r.token) for r in held}

    def renew_lease(self, name: str, holder: str, ttl: float) -> int | None:
        """Extend ``name`` while ``holder`` holds it: its token, or None when it is not held any more."""
        return self.renew_leases(holder, ttl, [name]).get(name)

    def release_lease(self, holder: str, names: Iterable[str] | None = None) -> int:
        """Give up ``names`` (None: every lease) ``holder`` holds; how many were freed."""
        with self.engine.begin() as conn:
            return self._free(conn, holder, None if names is None else list(names))

    def _free(self, conn: Connection, holder: str, names: list[str] | None) -> int:
        c = leases.c
        where = [c.holder == holder] + ([c.name.in_(names)] if names is not None else [])
        return int(conn.execute(leases.update().where(*where).values(holder=None, expires_at=0.0,
                                                                      acquired_at=None)).rowcount)

    def lease_holders(self) -> dict[str, dict[str, Any]]:
        """Every lease: its holder (None when free or run out), the holder named last, token,
        when it was taken and until when it holds."""
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(leases).order_by(leases.c.name)).all()
        return {r.name: {"holder": r.holder if r.holder is not None and r.expires_at > now else None,
                         "last_holder": r.holder, "token": int(r.token), "acquired_at": r.acquired_at,
                         "expires_at": r.expires_at} for r in rows}

    def check_fence(self, fence: Fence) -> None:
        """StaleLease unless ``fence`` is its lease's current holding (before a vendor-side write
        made under a lease: it narrows, but cannot close, the window a store write closes)."""
        with self.engine.begin() as conn:
            check_fence(conn, fence)

    def free_all_leases(self) -> int:
        """Free every lease and forget every replica: only for a store one daemon owns (SQLite),
        at its start, so the work a killed run held resumes at once."""
        with self.engine.begin() as conn:
            freed = conn.execute(leases.update().where(leases.c.holder.is_not(None)).values(
                holder=None, expires_at=0.0, acquired_at=None)).rowcount
            conn.execute(replicas.delete())
        return int(freed)
