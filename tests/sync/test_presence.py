"""A replica's presence lock on a real PostgreSQL: a replica whose process dies is seen gone
at the others' next tick (not a ttl later) and its leases taken over then; one that is only
slow keeps them; one whose connection dropped while it lives is refused at the store with
its old tokens, and takes its share again."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

import throwaway_pg
from sync.keeper import LEASE_TTL, LeaseKeeper, poll_lease, replies_lease, sharing, watch_lease
from sync.store import Fence, StaleLease, Store
from sync.store.presence import presence_key

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
TTL = LEASE_TTL
NAMES = [name for i in range(6) for name in (poll_lease(f"r{i}", "mentions"), replies_lease(f"r{i}"),
                                              watch_lease(f"r{i}"))]

# A replica in a process of its own: it takes every lease, says so, and waits to be killed.
REPLICA = textwrap.dedent("""
    import sys, time
    from sync.keeper import LeaseKeeper
    from sync.store import Store
    store = Store(sys.argv[1])
    keeper = LeaseKeeper(store, "b", store.clock)
    for name in sys.argv[2:]:
        keeper.want(name)
    keeper.tick()
    print(len(keeper.held), flush=True)
    time.sleep(600)
""")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from throwaway_pg.database()


def _store(url: str) -> Store:
    store = Store(url)
    store.migrate()
    return store


def _keeper(store: Store, replica: str) -> LeaseKeeper:
    keeper = LeaseKeeper(store, replica, store.clock, TTL)
    for name in NAMES:
        keeper.want(name)
    return keeper


def test_a_killed_replica_is_seen_gone_at_the_next_tick_and_its_leases_taken_then(pg_url: str) -> None:
    store = _store(pg_url)
    other = subprocess.Popen([sys.executable, "-c", REPLICA, pg_url, *NAMES], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == str(len(NAMES))
        a = _keeper(store, "a")
        a.tick()
        assert a.held == {}, "b is alive and holds them all"
        assert sharing(store, time.time())["replicas"]["b"]["live"] is True

        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
        deadline = time.monotonic() + 5   # PostgreSQL ends the session as soon as it reads the closed socket
        while set(a.held) != set(NAMES) and time.monotonic() < deadline:
            a.tick()
            time.sleep(0.1)
        assert set(a.held) == set(NAMES), "taken over at a tick, with no ttl waited out"
        shown = sharing(store, time.time())["replicas"]["b"]
        assert shown["live"] is False and shown["lost_at"] is not None and shown["leases"] == 0
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        store.close()


def test_a_slow_replica_keeps_its_leases_and_one_without_a_presence_lock_is_never_taken_for_dead(
        pg_url: str) -> None:
    a, b, c = (_store(pg_url) for _ in range(3))
    try:
        slow, plain = _keeper(b, "b"), _keeper(c, "c")
        plain.presence = None   # as behind a pooler that cannot keep a session: heartbeats only
        for _ in range(2):   # the second round shares them
            slow.tick()
            plain.tick()
        held_by_b, held_by_c = dict(slow.held), dict(plain.held)
        assert held_by_b and held_by_c
        keeper = _keeper(a, "a")
        keeper.tick()
        holders = a.lease_holders()
        assert all(holders[name]["holder"] == "b" for name in held_by_b), "b's lock is held: b is slow, not dead"
        assert all(holders[name]["holder"] == "c" for name in held_by_c), "c has no lock to lose"
        assert a.live_replicas(TTL) == ["a", "b", "c"]
    finally:
        for store in (a, b, c):
            store.close()


def test_a_replica_whose_connection_dropped_is_refused_with_its_old_tokens_and_takes_its_share_again(
        pg_url: str) -> None:
    a, b = _store(pg_url), _store(pg_url)
    try:
        first, second = _keeper(a, "a"), _keeper(b, "b")
        second.tick()
        first.tick()
        first.tick()
        second.tick()
        name, token = next(iter(second.held.items()))
        assert second.presence is not None
        second.presence.release()   # its session ends (a network cut, a server restart) while it lives
        first.tick()
        assert set(first.held) == set(NAMES), "b was taken for dead: a took its leases"
        with pytest.raises(StaleLease):
            b.check_fence(Fence(name, token))   # what a fenced write checks in its transaction

        second.tick()   # it holds its lock again, is live again, and takes its share
        assert a.replicas()["b"]["lost_at"] is None and a.live_replicas(TTL) == ["a", "b"]
        first.tick()
        second.tick()
        assert len(first.held) == len(second.held) == len(NAMES) // 2
        assert all(token > 1 for token in second.held.values()), "each taken anew, with a new token"
        assert presence_key("b") != presence_key("a")
    finally:
        a.close()
        b.close()
