"""This replica's share of the one-at-a-time work: the leases it takes, keeps and gives up.

Every replica schedules every route's jobs. A one-at-a-time job (a stream's poller, the
route's replies reader, its watches, the daemon's budget record, the webhook setup) runs
only on the replica holding its lease and returns at once elsewhere; row work (inbox,
outbox, pushed deliveries) can run anywhere, each row claimed by one worker: a replica works
a route's rows every second while it holds one of the route's leases, and sweeps the others'
now and then (rows a webhook delivered to it, rows of a route whose holder is changing).

Every second (``renew_every``: a third of a ttl at most; a third of a ttl for a daemon alone
on an SQLite state) the keeper says this replica is alive, renews what it holds, and moves
toward its fair share, ``ceil(leases / live replicas)`` (live: seen within a ttl): it
gives up its surplus, least preferred first, or takes free leases, most preferred first.
Preference is rendezvous hashing of (replica, lease group): each replica's picks are stable
and spread, a route's leases rank together (so one replica tends to run all of a route), and
a lease one gives up goes to whoever prefers it next. Leases marked ``sticky``
(the webhook a replica registered, pointing at it) are kept while their holder lives.

A replica whose process dies (a crash, a kill, an out-of-memory kill) loses its connections to
PostgreSQL with it, and with them its presence lock (sync/store/presence.py): the first other
replica to tick sees the lock gone, marks it lost and frees its leases, and the others take
them at their ticks: within two ticks of its death. A replica that hangs, or whose
host vanished without closing its connections, stops renewing: its leases run out a ttl after
their last renewal, and it stops counting as live at about the same time, so the others take
its leases at their next tick: within a ttl and a tick. A job trusts the keeper's
last renewal for two thirds of a ttl only, so a replica cut off from the store stops its
one-at-a-time work before its leases can run out; a replica that paused past that is
refused at the store by its stale fencing token (sync/store/leases.py).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
from typing import Any, Callable, Mapping

import sqlalchemy as sa

from sync.store import Fence, Store
from sync.store.work import claimant_of

log = logging.getLogger("socialdesk.daemon")

LEASE_TTL = 10.0          # seconds a lease holds without renewal
TRUST = 2 / 3             # the part of a ttl a job trusts the keeper's last renewal for
TICK_EVERY = 1.0          # seconds between the keeper's ticks (a ttl / 3 at most)
BUDGETS_LEASE = "daemon:budgets"


def renew_every(ttl: float = LEASE_TTL, shared: bool = True) -> float:
    """How often the keeper ticks: with replicas sharing the state, every second (or every
    third of a shorter ttl); a daemon alone on its state (SQLite) every third of a ttl, its
    writes not taking the one writer's turn each second for nothing."""
    return min(ttl / 3, TICK_EVERY) if shared else ttl / 3


def poll_lease(route: str, stream: str) -> str:
    return f"poll:{route}:{stream}"


def replies_lease(route: str) -> str:
    return f"replies:{route}"


def watch_lease(route: str) -> str:
    return f"watch:{route}"


def webhook_lease(helpdesk: str) -> str:
    return f"webhooks:{helpdesk}"


def subscription_lease(network: str) -> str:
    return f"subscription:{network}"


def route_leases(route: str, streams: list[str] | tuple[str, ...]) -> list[str]:
    """Every lease of one route: its streams' pollers, its replies reader, its watches."""
    return [*(poll_lease(route, stream) for stream in streams), replies_lease(route), watch_lease(route)]


def lease_group(name: str) -> str:
    """What a lease belongs to: a route's leases share the route's name, so one replica
    tends to hold all of them (its poller's new rows and its replies' rows are then worked
    where they were written); the daemon's own leases stand alone."""
    kind, _, rest = name.partition(":")
    if kind == "poll":
        return "route:" + rest.rpartition(":")[0]
    if kind in ("replies", "watch"):
        return "route:" + rest
    return name


def default_replica_id() -> str:
    """``host:pid``: unique among replicas that run at the same time."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    """Takes, renews and gives up this replica's leases; tells a job whether it may run."""

    def __init__(self, store: Store, replica: str, clock: Callable[[], float], ttl: float = LEASE_TTL) -> None:
        self.store, self.replica, self.clock, self.ttl = store, replica, clock, ttl
        self.wanted: set[str] = set()
        self.sticky: set[str] = set()
        self._added: set[str] = set()
        # lease -> (token held, until when jobs may trust it): replaced whole, read by every job.
        self._view: Mapping[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._failing = False
        self._gone: set[str] = set()     # replicas whose unfinished rows were handed back
        self._on_held: list[Callable[[set[str]], None]] = []
        store.claimant = claimant_of(replica)   # the rows this replica claims carry its mark
        self.presence = store.presence(replica)   # its lock while it lives (PostgreSQL; sync/store/presence.py)

    def want(self, name: str, *, sticky: bool = False) -> None:
        """``name`` is work this replica can do (its share is counted over every such name)."""
        with self._lock:
            self.wanted.add(name)
            if sticky:
                self.sticky.add(name)

    def on_held(self, callback: Callable[[set[str]], None]) -> None:
        """``callback`` hears, after every tick, the leases this replica holds (the scheduler
        runs only their jobs, and at once those of the leases just taken)."""
        self._on_held.append(callback)

    def _tell_held(self) -> None:
        held = set(self._view)
        for callback in self._on_held:
            try:
                callback(held)
            except Exception:  # a listener's bug must not stop the renewals
                log.exception("replica %s: telling which leases it holds failed", self.replica)

    @property
    def held(self) -> Mapping[str, int]:
        """The leases this replica held at its last renewal, with their tokens."""
        return {name: token for name, (token, _) in self._view.items()}

    def fence(self, name: str) -> Fence | None:
        """The fence a job of lease ``name`` runs with; None when this replica does not hold it
        (or has not been able to renew it lately): the job returns at once."""
        token, until = self._view.get(name, (0, 0.0))
        return Fence(name, token) if self.clock() < until else None

    def holds_any(self, names: list[str]) -> bool:
        """Whether this replica holds (and may trust) any of the leases ``names``."""
        now, view = self.clock(), self._view
        return any(now < view.get(name, (0, 0.0))[1] for name in names)

    def share(self, live: int) -> int:
        """How many leases this replica aims at with ``live`` replicas alive."""
        return math.ceil(len(self.wanted) / max(live, 1))

    def tick(self) -> None:
        """Heartbeat, renew, then give up the surplus or take free leases up to the fair share."""
        try:
            self._tick()
        except sa.exc.SQLAlchemyError as err:
            if not self._failing:
                log.warning("replica %s cannot renew its leases (%s): its one-at-a-time work stops until the "
                            "state store answers again", self.replica, type(err).__name__)
            self._failing = True
            return
        if self._failing:
            log.info("replica %s renews its leases again", self.replica)
        self._failing = False

    def _tick(self) -> None:
        store, me = self.store, self.replica
        with self._lock:
            wanted, sticky, new = set(self.wanted), set(self.sticky), self.wanted - self._added
        if new:
            store.add_leases(new)
            self._added |= new
        now = self.clock()
        store.heartbeat(me, self._present())
        for replica, freed in store.mark_lost(me, self.ttl).items():
            log.info("replica %s is gone (its connection to the state store closed): %d lease(s) it held are free "
                     "now", replica, freed)
        held = store.renew_leases(me, self.ttl)
        unwanted = [n for n in held if n not in wanted]
        live = store.live_replicas(self.ttl)
        self._hand_back_rows_of_the_gone(live)
        target = self.share(len(live))
        surplus = len(held) - len(unwanted) - target
        given: list[str] = list(unwanted)
        if surplus > 0:
            given += sorted((n for n in held if n in wanted and n not in sticky), key=self._preference)[:surplus]
        if given:
            store.release_lease(me, given)
        held = {n: t for n, t in held.items() if n not in given}
        taken: dict[str, int] = {}
        if surplus < 0:
            free = sorted((n for n in wanted if n not in held), key=self._preference, reverse=True)
            taken = store.acquire_leases(free, me, self.ttl, -surplus)
        until = now + self.ttl * TRUST
        self._view = {name: (token, until) for name, token in {**held, **taken}.items()}
        if given or taken:
            log.info("replica %s holds %d lease(s) (share %d): took %d, gave up %d", me, len(self.held), target,
                     len(taken), len(given))
            log.debug("replica %s took %s; gave up %s", me, sorted(taken), sorted(given))
        self._tell_held()

    def _present(self) -> int | None:
        """The key of the presence lock this replica holds (taken again if its connection was
        lost); None without one."""
        return self.presence.key if self.presence is not None and self.presence.hold() else None

    def _hand_back_rows_of_the_gone(self, live: list[str]) -> None:
        """Rows a replica that stopped being seen had claimed go back to the queue at once."""
        gone = set(self.store.replicas()) - set(live) - {self.replica}
        for replica in sorted(gone - self._gone):
            freed = self.store.free_claims(replica)
            if freed:
                log.info("replica %s is gone: %d row(s) it had claimed are queued again", replica, freed)
        self._gone = gone

    def take(self, name: str) -> Fence | None:
        """Take ``name`` now, outside the share (the webhook setup at start); None while another holds it."""
        self.want(name)
        now = self.clock()
        self.store.heartbeat(self.replica, self._present())
        token = self.store.acquire_lease(name, self.replica, self.ttl)
        self._added.add(name)
        if token is None:
            return None
        self._view = {**self._view, name: (token, now + self.ttl * TRUST)}
        return Fence(name, token)

    def leave(self) -> None:
        """This replica stops: its leases are free for the others at once."""
        self._view = {}
        try:
            freed = self.store.leave(self.replica)
        except sa.exc.SQLAlchemyError as err:
            log.warning("replica %s could not hand its leases back (%s): they are free once the others see it "
                        "gone", self.replica, type(err).__name__)
            return
        finally:
            if self.presence is not None:
                self.presence.release()
        if freed:
            log.info("replica %s handed back %d lease(s)", self.replica, freed)

    def _preference(self, name: str) -> tuple[int, str]:
        """Rendezvous hashing by the lease's group (a route's leases rank together)."""
        group = lease_group(name)
        return int.from_bytes(hashlib.sha256(f"{self.replica}|{group}".encode()).digest()[:8], "big"), name


def sharing(store: Store, now: float, ttl: float = LEASE_TTL) -> dict[str, Any]:
    """Who shares the state and who holds what, as ``socialdesk status`` and the status
    snapshot show it: ``replicas`` (id -> started_at, seen_at, lost_at: when the others saw
    its process gone, live, leases held) and ``leases`` (name -> holder or None, token,
    acquired_at, expires_at)."""
    holders = store.lease_holders()
    counts: dict[str, int] = {}
    for lease in holders.values():
        if lease["holder"] is not None:
            counts[lease["holder"]] = counts.get(lease["holder"], 0) + 1
    replicas = {rid: {**seen, "live": seen["seen_at"] > now - ttl and seen.get("lost_at") is None,
                      "leases": counts.get(rid, 0)}
                for rid, seen in store.replicas().items()}
    leases = {name: {k: lease[k] for k in ("holder", "token", "acquired_at", "expires_at")}
              for name, lease in holders.items()}
    return {"replicas": replicas, "leases": leases}
