"""One rate budget per vendor account, shared by every replica through the state store.

Replicas are stores of their own (engines, connection pools) on one PostgreSQL database,
each with the adapters' real ``RateBudget``; the vendor's answers are the sandbox's over
HTTPS where a test needs real headers. Each test would fail against a budget kept per
process: three replicas would get three shares.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

import harness
import throwaway_pg
from adapters.base import Cursor, RateLimited
from adapters.http import RateBudget, share_budgets
from cli.wiring import sandbox_endpoints
from sync.config import parse_config
from sync.daemon import build_adapter
from sync.store import Store

pytestmark = pytest.mark.postgres

ACCOUNT = "zendesk:acme.zendesk.com"
NAMES = ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-reset")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from throwaway_pg.database()


@pytest.fixture
def replicas(pg_url: str) -> Iterator[list[Store]]:
    """Three replicas' stores (each its own engine) on one PostgreSQL database."""
    stores = [Store(pg_url) for _ in range(3)]
    stores[0].migrate()
    yield stores
    for store in stores:
        store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def answer(limit: int, remaining: int, reset: float = 60) -> dict[str, str]:
    """A Zendesk answer's rate headers."""
    return {"x-rate-limit": str(limit), "x-rate-limit-remaining": str(remaining), "ratelimit-reset": str(reset)}


def budget(store: Store | None, clock: Any, window: float = 60.0, share: float = 0.5) -> RateBudget:
    """A Zendesk-shaped budget that has seen one answer (a fresh window of 100 calls)."""
    b = RateBudget("Zendesk", NAMES, reset_epoch=False, share=share, max_wait=window, clock=clock)
    if store is not None:
        b.share_with(store, ACCOUNT)
    b.after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(100, 100, window))
    return b


def admitted(budgets: list[RateBudget], rounds: int = 100) -> int:
    """Calls the budgets let through, taking turns, before every one of them says wait."""
    count = 0
    for _ in range(rounds):
        for b in budgets:
            try:
                b.before("GET", "https://acme.zendesk.com/api/v2/tickets")
                count += 1
            except RateLimited:
                pass
    return count


def test_replicas_taking_one_by_one_at_once_get_exactly_the_bucket(replicas: list[Store]) -> None:
    """Three stores, four threads each, taking single calls from one bucket with the clock
    held still: exactly the bucket's capacity is handed out, never more (no take is lost
    to another's), and what is owed beyond it is counted too."""
    capacity, per_thread = 40, 25
    levels: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def take(store: Store) -> None:
        start.wait()
        for _ in range(per_thread):
            level, at = store.take_tokens(ACCOUNT, 1, capacity, 1.0, 500.0)
            assert at == 500.0
            with lock:
                levels.append(level)

    threads = [threading.Thread(target=take, args=(store,)) for store in replicas for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(levels) == 12 * per_thread
    assert sum(1 for level in levels if level >= 0) == capacity
    assert sorted(levels) == [float(capacity - n) for n in range(12 * per_thread, 0, -1)]   # each level once
    assert replicas[1].rate_buckets()[ACCOUNT]["tokens"] == capacity - 12 * per_thread


def test_replicas_calling_in_parallel_never_exceed_capacity_plus_refill(replicas: list[Store]) -> None:
    """Three replicas, two threads each, call as fast as their budgets let them for three
    seconds: by any moment, all of them together made at most the bucket (half of the
    window's 400 calls) plus its refill (half of 400 per 10 s), and not much less; each
    store round trip carried several calls."""
    window, share = 10.0, 0.5
    capacity, rate = share * 400, share * 400 / window
    budgets = [RateBudget("Zendesk", NAMES, reset_epoch=False, share=share, max_wait=window) for _ in replicas]
    for b, store in zip(budgets, replicas):
        b.share_with(store, ACCOUNT)
        b.after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(400, 400, window))
    calls: list[float] = []
    lock = threading.Lock()
    began = time.time()
    until = began + 3.0

    def call(b: RateBudget) -> None:
        while time.time() < until:
            try:
                b.before("GET", "https://acme.zendesk.com/api/v2/tickets")
            except RateLimited as err:
                time.sleep(min(err.retry_after or 0.05, 0.05))
                continue
            with lock:
                calls.append(time.time())

    threads = [threading.Thread(target=call, args=(b,)) for b in budgets for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    calls.sort()
    over = [(n + 1, at - began) for n, at in enumerate(calls) if n + 1 > capacity + rate * (at - began)]
    assert over == [], f"more calls than the bucket allows by then: {over[:5]}"
    elapsed = calls[-1] - began
    assert len(calls) >= 0.8 * (capacity + rate * elapsed), (len(calls), elapsed)
    trips = sum(b.shared.round_trips for b in budgets if b.shared is not None)
    assert trips * 5 <= len(calls), (trips, len(calls))


def test_the_share_is_of_the_account_however_many_replicas_there_are(replicas: list[Store]) -> None:
    """Half of a fresh window of 100 calls is 50, for one replica or for three; the window's
    refill gives more as time passes (50 per 60 s). Budgets kept per process, each
    told the same fresh window, would each let far more through."""
    clock = Clock()
    alone = admitted([budget(replicas[0], clock)])
    assert alone == 50
    clock.now += 3600
    three = [budget(store, clock) for store in replicas]
    assert admitted(three) == 50
    clock.now += 6.5      # 50 calls a minute come back: 5 in 6.5 s
    assert admitted(three) == 5
    apart = [budget(None, clock) for _ in replicas]
    assert admitted(apart, rounds=40) == 120


def test_the_vendor_headers_lower_the_bucket_for_every_replica(replicas: list[Store]) -> None:
    """One replica hears that 40 of the window's 100 calls were made elsewhere (another
    integration): 10 are left of the half socialdesk may use, and the three replicas
    together make 10 calls more, no more. A header saying more is left raises nothing."""
    clock = Clock()
    three = [budget(store, clock) for store in replicas]
    three[0].after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(100, 60))
    assert replicas[2].rate_buckets()[ACCOUNT]["tokens"] == 10
    three[1].after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(100, 100))
    assert replicas[2].rate_buckets()[ACCOUNT]["tokens"] == 10
    assert admitted(three) == 10


def test_a_run_of_falling_headers_lowers_the_shared_row_once_a_second(replicas: list[Store]) -> None:
    """A fixed-window vendor's "remaining" falls by one per call: written on every answer, the
    one row all replicas share became the state's hottest. One lowering a second per process."""
    clock = Clock()
    one = budget(replicas[0], clock)
    shared = one.shared
    for left in range(60, 30, -1):                  # 30 answers within the same second
        one.after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(100, left))
    assert shared.round_trips == 1 and replicas[1].rate_buckets()[ACCOUNT]["tokens"] == 10
    clock.now += 1.0
    one.after("GET", "https://acme.zendesk.com/api/v2/users/me", answer(100, 30))
    assert shared.round_trips == 2 and replicas[1].rate_buckets()[ACCOUNT]["tokens"] < 1


sb = pytest.fixture(scope="module")(harness.own_sandbox)

MAPPING = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {brand: {kind: x, sandbox: true}}
routes:
  - {name: t, network: brand, helpdesk: zd, ticket: {tags: [social]}}
"""


def test_real_calls_cost_a_store_round_trip_per_block_of_ten(sb: Any, pg_url: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """100 calls to the sandbox's Zendesk and 20 to its X through adapters sharing their
    budgets: the buckets are named by vendor and account, hold the share the vendor's
    headers give (half of Zendesk's 700 a minute), and cost one store round trip per ten
    calls (counted on the database connection)."""
    info = harness.reset(sb.info(), "x", "zendesk")
    store = Store(pg_url)
    store.migrate()
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, *rest: statements.append(sql) if "rate_buckets" in sql else None)
    config = parse_config(MAPPING)
    desk = build_adapter("helpdesk", config.helpdesks["zd"], sandbox_endpoints(info), store)
    net = build_adapter("social", config.networks["brand"], sandbox_endpoints(info), store)
    assert share_budgets(desk, store, desk.account_key()) == 1
    assert share_budgets(net, store, net.account_key()) == 1
    for _ in range(100):
        desk.probe()
    for _ in range(20):
        net.fetch_mentions(Cursor(None))
    trips = len(statements)
    buckets = store.rate_buckets()
    host = desk.account_key().split("://")[1]
    assert buckets[f"zendesk:{host}"]["capacity"] == 350
    assert f"x:{net.whoami().id} GET /2/users/:id/mentions" in buckets, sorted(buckets)
    zendesk_trips = desk.session.rate_budget.shared.round_trips
    assert 9 <= zendesk_trips <= 11, zendesk_trips
    assert trips == zendesk_trips + net.session.rate_budget.shared.round_trips
    store.close()


@pytest.mark.parametrize("shared", [True, False], ids=["postgresql", "sqlite"])
def test_a_daemon_on_a_shared_state_takes_its_calls_from_the_shared_buckets(
        sb: Any, pg_url: str, tmp_path: Path, shared: bool) -> None:
    """The daemon hands each adapter the store's buckets when replicas may share the state
    (PostgreSQL); a daemon alone on SQLite keeps its budgets in the process."""
    from sync.daemon import Daemon

    info = harness.reset(sb.info(), "x", "zendesk")
    store = Store(pg_url if shared else f"sqlite:///{tmp_path / 'state.sqlite'}")
    store.migrate()
    daemon = Daemon(parse_config(MAPPING), store, sandbox_endpoints(info), share_budgets=share_budgets)
    daemon.bind_accounts()
    for _ in range(3):
        daemon.helpdesks["zd"].probe()
    host = daemon.helpdesks["zd"].account_key().split("://")[1]
    assert (f"zendesk:{host}" in store.rate_buckets()) is shared, store.rate_buckets()
    store.close()
