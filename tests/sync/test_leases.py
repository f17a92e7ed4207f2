"""Leases with fencing tokens, on SQLite and on a real PostgreSQL (not skipped when a server
is reachable): taking, running out, taking over, the token growing with each new holder,
the fair share that spreads the work over replicas, and a writer whose lease was taken over
refused at the store, through the real mention reader against the sandbox."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa

import harness
import throwaway_pg
from cli.wiring import sandbox_endpoints
from harness import XHarness, ZendeskHarness
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.config import parse_config
from sync.daemon import Daemon
from sync.keeper import LEASE_TTL, LeaseKeeper, poll_lease, replies_lease, sharing, watch_lease
from sync.route import Route
from sync.scheduler import leased, worker
from sync.settings import RouteSettings
from sync.store import Fence, InboxItem, StaleLease, Store, fenced, inbox
from sync.store.leases import current_fence
from sync.web import WebServer

TTL = LEASE_TTL


class Clock:
    """The replicas' shared time, moved by the test (wall time plus an offset)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens another replica's store on one shared state (each with the one shared clock)."""
    clock = Clock()
    opened: list[Store] = []
    urls = iter([f"sqlite:///{tmp_path / 'state.sqlite'}"]) if request.param == "sqlite" else throwaway_pg.database()
    url = next(urls)

    def open_replica() -> Store:
        store = Store(url, clock=clock)
        store.migrate()
        opened.append(store)
        return store
    try:
        yield open_replica
    finally:
        for store in opened:
            store.close()
        next(urls, None)   # drops the PostgreSQL database


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from throwaway_pg.database()


def _advance(store: Store, seconds: float) -> None:
    store.clock.offset += seconds  # type: ignore[attr-defined]


def test_a_lease_is_one_holders_until_it_runs_out_and_each_new_holder_gets_a_bigger_token(replicas) -> None:
    a, b = replicas(), replicas()
    first = a.acquire_lease("poll:r:mentions", "a", TTL)
    assert first == 1
    assert b.acquire_lease("poll:r:mentions", "b", TTL) is None, "held by a"
    assert a.acquire_lease("poll:r:mentions", "a", TTL) == first, "taking it again is renewing: same token"
    assert a.renew_lease("poll:r:mentions", "a", TTL) == first
    _advance(a, TTL - 1)
    assert b.acquire_lease("poll:r:mentions", "b", TTL) is None, "renewed: not run out yet"
    _advance(a, 1.5)
    second = b.acquire_lease("poll:r:mentions", "b", TTL)
    assert second is not None and second > first, "taken over: the token grows"
    assert a.renew_lease("poll:r:mentions", "a", TTL) is None, "a cannot renew what b took"
    assert a.acquire_lease("poll:r:mentions", "a", TTL) is None
    assert b.release_lease("b", ["poll:r:mentions"]) == 1
    third = a.acquire_lease("poll:r:mentions", "a", TTL)
    assert third is not None and third > second, "given up and taken again: a new token"
    holders = b.lease_holders()["poll:r:mentions"]
    assert holders["holder"] == "a" and holders["token"] == third


def test_an_expired_lease_nobody_took_is_still_its_holders_with_the_same_token(replicas) -> None:
    a = replicas()
    token = a.acquire_lease("watch:r", "a", TTL)
    _advance(a, TTL + 5)
    assert a.lease_holders()["watch:r"]["holder"] is None, "run out: shown free"
    assert a.renew_leases("a", TTL) == {"watch:r": token}, "nobody wrote under another token meanwhile"
    a.check_fence(Fence("watch:r", token))   # still good


def test_replicas_racing_for_one_lease_never_both_win(replicas) -> None:
    stores = [replicas() for _ in range(6)]
    for round_ in range(3):
        won: list[tuple[str, int | None]] = []
        start = threading.Barrier(len(stores))

        def race(i: int, store: Store) -> None:
            start.wait()
            won.append((f"r{i}", store.acquire_lease("daemon:budgets", f"r{i}", TTL)))
        threads = [threading.Thread(target=race, args=(i, s)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [(who, token) for who, token in won if token is not None]
        assert len(winners) == 1, (round_, won)
        assert stores[0].lease_holders()["daemon:budgets"]["holder"] == winners[0][0]
        _advance(stores[0], TTL + 1)


def test_a_heartbeat_lists_a_replica_and_leaving_frees_its_leases_at_once(replicas) -> None:
    a, b = replicas(), replicas()
    a.heartbeat("a")
    b.heartbeat("b")
    a.acquire_lease("replies:r", "a", TTL)
    assert a.live_replicas(TTL) == ["a", "b"]
    _advance(a, TTL + 1)
    b.heartbeat("b")
    assert a.live_replicas(TTL) == ["b"], "a was not seen within a ttl"
    assert set(a.replicas()) == {"a", "b"}, "still listed (gone)"
    _advance(a, -(TTL + 1))
    assert a.leave("a") == 1
    assert set(a.replicas()) == {"b"}
    assert b.acquire_lease("replies:r", "b", TTL) is not None, "free at once, not at expiry"


def _names(routes: int) -> list[str]:
    names = ["daemon:budgets"]
    for i in range(routes):
        route = f"route{i:02d}"
        names += [poll_lease(route, "mentions"), poll_lease(route, "dms"), replies_lease(route), watch_lease(route)]
    return names


def _keepers(replicas: Callable[[], Store], ids: list[str], names: list[str]) -> list[LeaseKeeper]:
    keepers = []
    for rid in ids:
        store = replicas()
        keeper = LeaseKeeper(store, rid, store.clock, TTL)
        for name in names:
            keeper.want(name)
        keepers.append(keeper)
    return keepers


def _run(keepers: list[LeaseKeeper], seconds: float) -> None:
    """``seconds`` pass; every keeper ticks each third of a ttl, as the scheduler has it."""
    step = TTL / 3
    for _ in range(max(1, round(seconds / step))):
        _advance(keepers[0].store, step)
        for keeper in keepers:
            keeper.tick()


def _balance(keepers: list[LeaseKeeper], names: list[str]) -> float:
    held = [set(k.held) for k in keepers]
    assert sum(len(h) for h in held) == len(names) and set().union(*held) == set(names), "each lease held once"
    return max(len(h) for h in held) / max(min(len(h) for h in held), 1)


def _three_settled(replicas: Callable[[], Store], names: list[str]) -> list[LeaseKeeper]:
    """Replicas a, b and c after three rounds of ticks, their shares fair."""
    keepers = _keepers(replicas, ["a", "b", "c"], names)
    for _ in range(3):
        for keeper in keepers:
            keeper.tick()
    assert _balance(keepers, names) <= 1.5, [len(k.held) for k in keepers]
    return keepers


def test_three_replicas_share_sixty_routes_fairly_and_take_over_a_dead_ones_leases(replicas) -> None:
    names = _names(60)
    keepers = _three_settled(replicas, names)
    store = keepers[0].store
    assert sharing(store, store.clock())["replicas"]["c"]["leases"] == len(keepers[2].held)

    # c dies (stops renewing): a ttl later its leases have run out and it is no longer live.
    dead = keepers.pop()
    orphaned = dict(dead.held)
    _run(keepers, TTL + TTL / 3)
    assert _balance(keepers, names) <= 1.5, [len(k.held) for k in keepers]
    tokens = {**keepers[0].held, **keepers[1].held}
    assert all(tokens[name] > token for name, token in orphaned.items()), "each lease taken over got a new token"
    assert dead.fence(next(iter(orphaned))) is None, "the dead replica's own view ran out too"

    # A new replica joins: the others give up their surplus, it takes its share.
    keepers += _keepers(replicas, ["d"], names)
    _run(keepers, TTL)
    assert _balance(keepers, names) <= 1.5, [len(k.held) for k in keepers]


def test_a_routes_leases_go_to_one_replica_so_its_rows_are_worked_where_they_were_written(replicas) -> None:
    """Ranked by route, not lease by lease: a route's pollers, replies reader and watches end
    on one replica (lease by lease, only one route in 27 had all four on one of three)."""
    names = _names(60)
    keepers = _three_settled(replicas, names)
    whole = 0
    for i in range(60):
        leases = [n for n in names if n != "daemon:budgets" and f"route{i:02d}" in n]
        holders = {k.replica for k in keepers if any(n in k.held for n in leases)}
        whole += len(holders) == 1
    assert whole >= 55, f"only {whole} of 60 routes on one replica"


class _Rows:
    """Counts the route's row rounds (the scheduler's choice is what is tested here)."""

    def __init__(self) -> None:
        self.rounds = 0

    def read_pushes(self) -> int:
        self.rounds += 1
        return 0

    def process_inbox(self) -> int:
        return 0

    def drain_outbox(self) -> int:
        return 0


class _Backlog(_Rows):
    """Always more to do; each round takes half a second of the test's monotonic time."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def process_inbox(self) -> int:
        self.now += 0.5
        return 1

    def monotonic(self) -> float:
        return self.now


def test_a_route_with_a_backlog_gives_its_thread_up_after_its_slice(replicas) -> None:
    """The old worker looped until the backlog was gone: 4 threads, 60 routes, and one
    route's big backlog kept the others' work waiting 30 s for a thread."""
    names = _names(1)
    keeper = _keepers(replicas, ["a"], names)[0]
    keeper.tick()
    rows = _Backlog()
    job = worker(rows, keeper, names[1:], keeper.store.clock, work_slice=2.0,  # type: ignore[arg-type]
                 monotonic=rows.monotonic)
    job()
    assert rows.rounds == 4, "four half-second rounds fill a two-second slice; the rest waits for the next tick"
    job()
    assert rows.rounds == 8


def test_row_work_runs_every_tick_where_a_routes_lease_is_held_and_as_a_slow_sweep_elsewhere(replicas) -> None:
    names = _names(2)
    a, b = _keepers(replicas, ["a", "b"], names)
    _run([a, b], TTL)
    leases = next(group for group in (names[1:5], names[5:]) if len({k.replica for k in (a, b)
                                                                     if set(group) & set(k.held)}) == 1)
    holder, other = (a, b) if set(leases) <= set(a.held) else (b, a)
    rows = {holder.replica: _Rows(), other.replica: _Rows()}
    clock = holder.store.clock
    jobs = {k.replica: worker(rows[k.replica], k, leases, clock, sweep_every=15.0)  # type: ignore[arg-type]
            for k in (holder, other)}
    for _ in range(10):                       # ten ticks, a second apart
        for job in jobs.values():
            job()
        _advance(holder.store, 1.0)
        for keeper in (holder, other):
            keeper.tick()
    assert rows[holder.replica].rounds == 10
    assert rows[other.replica].rounds == 1, "a sweep at first, the next one 15 s later"
    _advance(holder.store, 5.0)
    holder.tick()
    jobs[other.replica]()
    assert rows[other.replica].rounds == 2


def test_rows_a_dead_replica_had_claimed_are_queued_again_when_it_is_taken_over(replicas) -> None:
    """A replica killed with rows claimed (their row lease runs 120 s): once it is no longer
    seen, the others hand its rows back at their next tick, not two minutes later."""
    names = _names(2)
    a, b = _keepers(replicas, ["a", "b"], names)
    for keeper in (a, b):
        keeper.tick()
    items = [InboxItem(f"post:{i}", "mentions", {"id": i}, f"{i:04d}") for i in range(3)]
    a.store.record_page("route00", "mentions", items)
    claimed = a.store.claim_inbox("route00")
    assert len(claimed) == 3 and all(r.owner.startswith(a.store.claimant + ":") for r in claimed)
    b.store.record_page("route00", "mentions", [InboxItem("post:9", "mentions", {"id": 9}, "0009")])
    assert [r.source_key for r in b.store.claim_inbox("route00")] == ["post:9"]   # a's rows are a's

    _run([b], TTL + TTL / 3)            # a is killed: no more heartbeats, well inside the row lease
    again = b.store.claim_inbox("route00")
    assert sorted(r.source_key for r in again) == ["post:0", "post:1", "post:2"]
    # a was only paused after all: the rows are no longer its own, it cannot begin on them.
    assert a.store.begin_attempt(claimed[0].id, claimed[0].owner) is None


def test_a_job_runs_only_while_its_replica_holds_the_lease_and_carries_its_fence(replicas) -> None:
    a, b = _keepers(replicas, ["a", "b"], ["poll:r:mentions"])
    seen: list[Fence | None] = []
    job_a = leased(a, "poll:r:mentions", lambda: seen.append(current_fence()))
    job_b = leased(b, "poll:r:mentions", lambda: seen.append(current_fence()))
    b.tick()
    a.tick()
    job_a()
    assert seen == [], "a does not hold it: returned at once"
    job_b()
    assert seen == [Fence("poll:r:mentions", b.held["poll:r:mentions"])]
    assert current_fence() is None, "the fence is the job's only"
    _advance(b.store, TTL * 0.7)
    job_b()
    assert len(seen) == 1, "not renewed for two thirds of a ttl: b stops trusting its lease"


def test_a_fenced_page_is_refused_once_the_lease_changed_holder(replicas) -> None:
    a, b = replicas(), replicas()
    old = Fence("poll:r:mentions", a.acquire_lease("poll:r:mentions", "a", TTL) or 0)
    a.record_page("r", "mentions", [InboxItem("x:1", "mentions", {}, "1")], "1", move_cursor=True, fence=old)
    _advance(a, TTL + 1)
    new = Fence("poll:r:mentions", b.acquire_lease("poll:r:mentions", "b", TTL) or 0)
    assert new.token > old.token
    with pytest.raises(StaleLease):
        a.record_page("r", "mentions", [InboxItem("x:2", "mentions", {}, "2")], "2", move_cursor=True, fence=old)
    with pytest.raises(StaleLease), fenced(old):   # the fence a scheduled job runs with
        a.record_page("r", "mentions", [InboxItem("x:3", "mentions", {}, "3")], "3", move_cursor=True)
    assert b.get_cursor("r", "mentions") == "1", "the stale writer did not move the cursor"
    assert b.known_keys("r", ["x:1", "x:2", "x:3"]) == {"x:1"}, "nor insert what it read"
    assert b.record_page("r", "mentions", [InboxItem("x:2", "mentions", {}, "2")], "2", move_cursor=True,
                         fence=new) == 1
    b.release_lease("b")
    with pytest.raises(StaleLease):
        b.record_page("r", "mentions", [], "9", move_cursor=True, fence=new)
    assert b.get_cursor("r", "mentions") == "2"


# ---------------------------------------------------------------------------- on the sandbox

sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


def _route(info: dict[str, Any], store: Store) -> Route:
    settings = RouteSettings(name="t", helpdesk_name="zd", streams=("mentions",))
    route = Route(settings, XHarness(info).adapter(), ZendeskHarness(info).adapter(), store, store.clock)
    route.me()    # the account read first: the poll below makes only the mentions read
    return route


def _reads_in_flight(x: XHarness) -> int:
    return sum(1 for c in x.control.get("requests")["requests"] if c.get("fault") == "slow")


def test_a_replica_paused_past_its_lease_cannot_advance_the_cursor_nor_write_what_it_read(
        replicas, info: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="socialdesk.engine")
    store_a, store_b = replicas(), replicas()
    people, x = People(info), XHarness(info)
    route_a, route_b = _route(info, store_a), _route(info, store_b)
    lease = poll_lease("t", "mentions")
    fence_a = Fence(lease, store_a.acquire_lease(lease, "a", TTL) or 0)
    people.post("ana_lease", f"@{people.brand} my order never came")
    # a's read is answered late (a long pause of a's process, as far as the store can tell).
    x.control.post("faults", {"kind": "slow", "delay": 5, "path_prefix": "/2/users/", "count": 1})
    result: list[int] = []

    def poll_a() -> None:
        with fenced(fence_a):
            result.append(route_a.poll("mentions"))
    paused = threading.Thread(target=poll_a)
    paused.start()
    deadline = time.monotonic() + 10
    while not _reads_in_flight(x):
        assert time.monotonic() < deadline, "a's read never reached the network"
        time.sleep(0.05)

    # Meanwhile a's lease runs out and b takes it over: b reads and records.
    _advance(store_a, TTL + 1)
    fence_b = Fence(lease, store_b.acquire_lease(lease, "b", TTL) or 0)
    assert fence_b.token > fence_a.token
    people.post("ben_lease", f"@{people.brand} and mine was broken")
    with fenced(fence_b):
        assert route_b.poll("mentions") == 2
    cursor, rows = store_b.get_cursor("t", "mentions"), _inbox(store_b)

    paused.join(timeout=30)
    assert result == [0], "a's page was refused"
    assert store_b.get_cursor("t", "mentions") == cursor, "a did not move the cursor"
    assert _inbox(store_b) == rows, "a wrote no row"
    assert any("no longer held by this replica" in r.getMessage() for r in caplog.records)
    assert route_a.state == "active", "losing a lease is not a failure of the route"


def _inbox(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(inbox.c.id, inbox.c.source_key, inbox.c.received_at)
                                               .order_by(inbox.c.id))]


MAPPING = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {brand: {kind: x, sandbox: true}}
routes:
  - {name: t, network: brand, helpdesk: zd, ticket: {tags: [social]}}
"""


@pytest.mark.postgres
def test_the_webhook_is_set_up_once_and_pointed_at_the_replica_that_takes_it_over(
        pg_url: str, info: dict[str, Any]) -> None:
    clock = Clock()
    config = parse_config(MAPPING)
    admin = harness.ZendeskHarness(info).adapter()._api

    def endpoint() -> str:
        hooks = admin("GET", "webhooks", "list webhooks")["webhooks"]
        assert len(hooks) == 1, hooks
        return str(hooks[0]["endpoint"])

    daemons, webs = [], []
    try:
        for replica in ("one", "two"):
            store = Store(pg_url, clock=clock)
            store.migrate()
            daemon = Daemon(config, store, sandbox_endpoints(info), clock=clock, replica_id=replica)
            daemon.prepare()
            daemons.append(daemon)
            webs.append(WebServer(daemon.web_app(), "127.0.0.1", 0).start())
        one, two = daemons
        assert "created" in one.register_push(webs[0].url)["webhooks:zd"]
        assert two.register_push(webs[1].url) == {"webhooks:zd": "set up by replica one"}
        assert endpoint().startswith(webs[0].url), "the second replica did not re-point it"
        two.keep_push_setup()
        assert endpoint().startswith(webs[0].url)
        assert two.webhook_secret("zd") is None

        # one dies: no more renewals. A ttl later two's keeper takes the lease, and its
        # setup job points the webhook at two.
        clock.offset += TTL + 1
        two.keeper.tick()
        assert two.keeper.fence("webhooks:zd") is not None
        two.keep_push_setup()
        assert endpoint().startswith(webs[1].url)
        assert two.webhook_secret("zd") is not None
        snapshot = two.status_snapshot()
        assert snapshot["replica"] == "two" and snapshot["leases"]["webhooks:zd"]["holder"] == "two"
        assert snapshot["replicas"]["one"]["live"] is False and snapshot["replicas"]["two"]["live"] is True
        two.stop()
        assert two.store.lease_holders()["webhooks:zd"]["holder"] is None, "handed back on a clean stop"
    finally:
        for web in webs:
            web.stop()
        for daemon in daemons:
            daemon.store.close()


def test_metrics_count_the_leases_each_live_replica_holds(replicas) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from sync.metrics import Metrics, StateCollector
    from sync.mirror.poster import KEPT_FOR_PEOPLE

    a, b = _keepers(replicas, ["a", "b"], _names(3))
    for _ in range(2):
        a.tick()
        b.tick()
    metrics = Metrics()
    metrics.registry.register(StateCollector(a.store, a.store.clock, {}, dict, KEPT_FOR_PEOPLE, TTL))
    text = metrics.exposition()[0].decode()
    held = {s.labels["replica"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "socialdesk_leases_held" for s in f.samples}
    assert held == {"a": len(a.held), "b": len(b.held)} and sum(held.values()) == len(_names(3))


def test_leases_another_replica_is_taking_are_skipped_and_the_next_free_ones_taken_instead(pg_url: str) -> None:
    """Two replicas taking their shares at once: the leases one is locking are skipped by the
    other, which still takes as many as it asked for from the rest (it took 34 of its 61 when
    the first ones it preferred were being taken)."""
    store = Store(pg_url)
    store.migrate()
    names = [f"poll:route{i:02d}:mentions" for i in range(10)]
    store.add_leases(names)
    try:
        with store.engine.connect() as other:   # another replica, mid-way through taking the first three
            other.exec_driver_sql("SELECT name FROM leases WHERE name = ANY(%(names)s) FOR UPDATE",
                                  {"names": names[:3]})
            taken = store.acquire_leases(names, "b", TTL, 5)
            assert sorted(taken) == names[3:8], "five taken, the three being taken skipped"
            other.rollback()
    finally:
        store.close()


def test_a_lease_taken_over_has_its_job_run_at_once_and_an_idle_routes_row_jobs_wait_for_the_sweep(
        replicas) -> None:
    """An X poller ticks every 15 s, a Meta one every minute: the replica that takes a
    poller's lease over runs it at once (it used to wait for the next tick, and a dead
    replica's routes stayed unread for up to 15 s after the takeover). A route's row jobs
    are paused where none of its leases is held (two job runs a second for every route
    on every replica, for nothing) and run by the replica's sweep instead."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from sync.scheduler import FollowLeases

    a, b = _keepers(replicas, ["a", "b"], ["poll:r:search", "replies:r"])
    a.tick()
    ran: list[str] = []
    scheduler = BackgroundScheduler()
    scheduler.add_job(leased(b, "poll:r:search", lambda: ran.append("poll")), "interval", seconds=60,
                      id="r:poll:search")
    scheduler.add_job(lambda: ran.append("rows"), "interval", seconds=0.1, id="r:work")
    follow = FollowLeases(scheduler)
    follow.job("r:poll:search", ["poll:r:search"])
    follow.job("r:work", ["poll:r:search", "replies:r"], sweep=lambda: ran.append("swept"))
    b.on_held(follow)
    b.tick()   # as the daemon does: the first share is taken before any job runs
    scheduler.start()
    try:
        time.sleep(0.5)
        assert ran == [], "a holds the route: b's jobs are paused"
        follow.sweep()
        assert ran == ["swept"]
        a.leave()
        b.tick()
        deadline = time.monotonic() + 5
        while "poll" not in ran and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ran.count("poll") == 1, "run at once, 60 s before its next tick"
        assert "rows" in ran, "the route's row jobs run again"
        follow.sweep()
        assert ran.count("swept") == 1, "a route held here is not swept"
    finally:
        scheduler.shutdown(wait=True)


def test_the_store_names_the_routes_with_rows_to_work_and_only_those(replicas) -> None:
    """One read a queue for every route: pending, due and unclaimed rows count; done ones,
    ones put off to later and ones a live worker holds do not."""
    from sync.store import InboxItem

    store = replicas()
    assert store.routes_with_work() == {"inbox": set(), "outbox": set(), "pushes": set()}
    for route in ("fresh", "claimed", "later", "finished"):
        store.record_page(route, "mentions", [InboxItem(f"{route}-1", "mentions", {"id": route}, f"0|{route}")])
    store.claim_inbox("claimed")
    store.retry_later("inbox", store.claim_inbox("later")[0].id, "rate limited", 60.0)
    store.finish_inbox(store.claim_inbox("finished")[0].id, "done", ticket_id="7")
    store.enqueue_reply("answered", "c1", "7", "Thanks!")
    store.put_push(["pushed"], b'{"entry": []}')
    assert store.routes_with_work() == {"inbox": {"fresh"}, "outbox": {"answered"}, "pushes": {"pushed"}}
    _advance(store, 121.0)   # the claim's lease ran out, and the retry came due
    assert store.routes_with_work()["inbox"] == {"fresh", "claimed", "later"}


def test_row_jobs_ask_the_store_only_for_routes_with_rows_and_a_poll_that_queued_rows_wakes_its_route(
        replicas) -> None:
    """60 idle routes cost a replica a third of a core, each route's row jobs asking the
    store every second; the routes with work are read once for all, and a poller that just
    queued rows makes its route due at once rather than at the next read."""
    from sync.scheduler import RowsDue
    from sync.store import InboxItem

    store = replicas()
    reads: list[float] = []
    read = store.routes_with_work

    def counted() -> dict[str, set[str]]:
        reads.append(time.monotonic())
        return read()

    store.routes_with_work = counted  # type: ignore[method-assign]
    now = [100.0]
    rows = RowsDue(store, every=1.0, monotonic=lambda: now[0])
    assert [rows.due(f"r{k}", ("inbox", "pushes")) for k in range(60)] == [False] * 60
    assert len(reads) == 1, "one read for every route's jobs within a second"
    store.record_page("r7", "mentions", [InboxItem("p1", "mentions", {"id": "p1"}, "0|p1")])
    rows.mark("r7", "inbox")
    assert rows.due("r7", ("inbox", "pushes")) and not rows.due("r8", ("inbox", "pushes"))
    assert not rows.due("r7", ("outbox",)), "the mark is of the inbox alone"
    assert len(reads) == 1, "a mark needs no read"
    now[0] += 1.0
    assert rows.due("r7", ("inbox",)) and len(reads) == 2, "the next read has the rows itself"
    store.finish_inbox(store.claim_inbox("r7")[0].id, "done", ticket_id="1")
    now[0] += 1.0
    assert not rows.due("r7", ("inbox",)), "the mark went with the read that saw its rows"
