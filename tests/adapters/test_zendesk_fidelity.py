"""Zendesk bulk jobs that stay queued: the sandbox's job hold (``/_sandbox/jobs``), the
adapter waiting for a held job through its injected sleep, ``JobPending`` without one,
and the engine keeping a held job's rows pending and writing each ticket exactly once
after the job completes, also across a daemon restart.

Real Zendesk does not document how long a job stays ``queued``; before the hold the
sandbox finished every job at its second status read, so none of these paths ran.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from adapters.base import Author, JobPending, KeepsRateBudget
from adapters.helpdesk.zendesk import ZendeskHelpdesk
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.route import Route
from sync.settings import RouteSettings, TicketSettings
from sync.store import Store
from sync.store.schema import inbox
import harness
from harness import XHarness, ZendeskHarness

sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def store(store_path: str) -> Iterator[Store]:
    s = Store(store_path)
    s.migrate()
    yield s
    s.close()


class Sleeps:
    """A fake sleep: records each wait; optionally lets that much sandbox time pass."""

    def __init__(self, zd: ZendeskHarness | None = None) -> None:
        self.waits: list[float] = []
        self.zd = zd

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.zd is not None:
            self.zd.control.post("clock", {"advance": seconds})


def _adapter(info: dict[str, Any], sleep: Any) -> ZendeskHelpdesk:
    return ZendeskHelpdesk(ZendeskHarness(info).adapter().settings, sleep=sleep)


def _authors(n: int, tag: str) -> list[Author]:
    return [Author(network="x", id=f"{tag}{i}", handle=f"{tag}{i}", name=f"Customer {tag}{i}") for i in range(n)]


def _jobs(zd: ZendeskHarness) -> list[dict[str, Any]]:
    return zd.control.get("jobs")["jobs"]


# --------------------------------------------------------------------------- the sandbox's hold


def test_the_hold_is_refused_when_it_is_not_a_count_of_reads_or_seconds(info: dict) -> None:
    zd = ZendeskHarness(info)
    for bad in ({"hold": -1}, {"hold": "3"}, {"hold_seconds": -5}, {"hold_seconds": True}, {}):
        response = zd.control.http.post(f"{zd.control.url}/_sandbox/jobs", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"] == "InvalidValue"
    assert zd.control.get("jobs")["hold"] == 0


def test_a_held_job_answers_queued_for_its_reads_then_runs(info: dict) -> None:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold": 3})
    desk = _adapter(info, sleep=None)
    with pytest.raises(JobPending) as pending:
        desk.upsert_requesters(_authors(4, "held"))
    job = pending.value.job_id
    statuses = [desk._api("GET", f"job_statuses/{job}.json", "read")["job_status"]["status"] for _ in range(5)]
    # The adapter's read was the first of three held ones; then working, then completed.
    assert statuses == ["queued", "queued", "working", "completed", "completed"]
    assert zd.control.get("jobs")["jobs"][0]["held"] is False


# --------------------------------------------------------------------------- the adapter waits


def test_the_adapter_waits_through_its_sleep_for_a_held_job_and_gets_its_results(info: dict) -> None:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold": 4})
    sleeps = Sleeps()
    ids = _adapter(info, sleep=sleeps).upsert_requesters(_authors(3, "wait"))
    assert all(isinstance(i, str) and i.isdigit() for i in ids), ids
    assert len(set(ids)) == 3
    # Four reads answered queued, one working: five waits, each no shorter than the last.
    assert len(sleeps.waits) == 5, sleeps.waits
    assert sleeps.waits == sorted(sleeps.waits) and sleeps.waits[0] > 0
    assert [j["status"] for j in _jobs(zd)] == ["completed"]


def test_a_job_held_for_sandbox_seconds_finishes_once_that_time_has_passed(info: dict) -> None:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold_seconds": 3})
    sleeps = Sleeps(zd)  # each wait lets that much sandbox time pass
    ids = _adapter(info, sleep=sleeps).upsert_requesters(_authors(2, "secs"))
    assert all(isinstance(i, str) for i in ids), ids
    assert sum(sleeps.waits) >= 3, sleeps.waits


def test_a_job_held_past_the_adapters_wait_is_handed_back_as_job_pending(info: dict) -> None:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold": 10_000})
    sleeps = Sleeps()  # lets no time pass: the sum of the waits still ends the polling
    desk = _adapter(info, sleep=sleeps)
    started = time.monotonic()
    with pytest.raises(JobPending) as pending:
        desk.upsert_requesters(_authors(2, "long"))
    assert time.monotonic() - started < 25
    assert sum(sleeps.waits) >= desk.job_wait
    assert pending.value.job_id == _jobs(zd)[0]["id"]
    assert desk.job_settled(pending.value.job_id) is False
    zd.control.post("jobs", {"release": True})
    assert desk.job_settled(pending.value.job_id) is False, "working: half done"
    assert desk.job_settled(pending.value.job_id) is True


def test_without_a_sleep_a_queued_job_is_job_pending_at_once(info: dict) -> None:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold_seconds": 600})
    desk = _adapter(info, sleep=None)
    with pytest.raises(JobPending) as pending:
        desk.upsert_requesters(_authors(2, "nosleep"))
    assert [j["id"] for j in _jobs(zd)] == [pending.value.job_id]
    assert not desk.job_settled(pending.value.job_id)
    People(info).advance("zendesk", 600 + 10)  # the hold ends; the job finishes on its own
    assert desk.job_settled(pending.value.job_id)


# --------------------------------------------------------------------------- the engine


def _route(info: dict[str, Any], store: Store, clock: Any, sleep: Any = None) -> Route:
    """A route as the daemon builds it, by default with a Zendesk adapter that has no sleep:
    a job still running is JobPending, the rows wait for it."""
    desk = _adapter(info, sleep=sleep)
    network = XHarness(info).adapter()
    for side in (network, desk):
        if isinstance(side, KeepsRateBudget):
            side.use_clock(clock)
    settings = TicketSettings(tags=("social", "x"), priority="normal",
                              group_id=int(desk.lookup("group", "Social care")))
    store.clock = clock
    return Route(RouteSettings(name="t", helpdesk_name="zd", ticket=settings), network, desk, store, clock=clock)


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _rows(store: Store) -> list[tuple[str, str | None, str | None]]:
    with store.engine.connect() as conn:
        return [(r.state, r.job, r.ticket_id) for r in conn.execute(
            sa.select(inbox.c.state, inbox.c.job, inbox.c.ticket_id).order_by(inbox.c.id))]


def _drain(route: Route, rounds: int = 12) -> None:
    for _ in range(rounds):
        route.clock.offset += 3600  # every retry is due
        while route.process_inbox():
            pass


def _known_customers(info: dict[str, Any], store: Store, clock: Any, people: People, n: int) -> list[str]:
    """Customers who wrote before (their requesters known), so a backlog is one create_many
    job. Written by a route that waits for its jobs (the daemon's sleep)."""
    first = [people.post(f"known{i}", f"@{people.brand} earlier question {i}") for i in range(n)]
    route = _route(info, store, clock, sleep=time.sleep)
    route.poll("mentions")
    while route.process_inbox():
        pass
    assert len(people.tickets()) == n
    return first


def _held_backlog(info: dict[str, Any], route: Route, people: People, n: int) -> list[str]:
    zd = ZendeskHarness(info)
    zd.control.post("jobs", {"hold_seconds": 900})
    posts = [people.post(f"known{i}", f"@{people.brand} a new problem {i}") for i in range(n)]
    route.poll("mentions")
    route.process_inbox()
    return posts


def test_the_engine_keeps_a_held_jobs_rows_pending_and_writes_each_ticket_once(info: dict, store: Store) -> None:
    people = People(info)
    clock = Clock()
    earlier = _known_customers(info, store, clock, people, 12)
    route = _route(info, store, clock)
    zd = ZendeskHarness(info)
    before = len(_jobs(zd))
    posts = _held_backlog(info, route, people, 12)
    held = [j for j in _jobs(zd) if j["held"]]
    assert len(held) == 1 and held[0]["total"] == 12, (_jobs(zd), _rows(store), route.stats)
    pending = [r for r in _rows(store) if r[0] != "done"]
    assert len(pending) == 12 and {job for _, job, _ in pending} == {held[0]["id"]}, pending
    assert route.stats.tickets == 0
    _drain(route, 3)  # the job is still queued: the rows wait for it, nothing is written again
    assert len(people.tickets()) == 12
    assert [r for r in _rows(store) if r[0] != "done"] == pending
    people.advance("zendesk", 900 + 10)  # the hold ends, the job runs
    _drain(route)
    external = sorted(t["external_id"] for t in people.tickets())
    assert external == sorted(f"x:post:{p}" for p in earlier + posts), "each ticket exactly once"
    assert all(state == "done" and ticket for state, _, ticket in _rows(store)), _rows(store)
    assert [j["id"] for j in _jobs(zd)][before:] == [held[0]["id"]], "no job queued again for the held rows"


def test_a_held_job_survives_a_daemon_restart_and_its_rows_are_written_once(
        info: dict, store: Store, store_path: str) -> None:
    people = People(info)
    clock = Clock()
    earlier = _known_customers(info, store, clock, people, 12)
    route = _route(info, store, clock)
    posts = _held_backlog(info, route, people, 12)
    job = next(j["id"] for j in _jobs(ZendeskHarness(info)) if j["held"])
    assert sorted({job for state, job, _ in _rows(store) if state != "done"}) == [job]
    store.close()

    # The daemon stops and starts again: a new store on the same file, new adapters.
    again = Store(store_path)
    again.migrate()
    try:
        again.release_leases()
        restarted = _route(info, again, clock)
        _drain(restarted, 2)
        assert len(people.tickets()) == 12, "the job is still queued: nothing written"
        people.advance("zendesk", 900 + 10)
        _drain(restarted)
        external = sorted(t["external_id"] for t in people.tickets())
        assert external == sorted(f"x:post:{p}" for p in earlier + posts), "each ticket exactly once"
        assert all(state == "done" for state, _, _ in _rows(again))
    finally:
        again.close()


def test_new_customers_wait_for_their_held_requester_job_and_none_is_queued_twice(info: dict, store: Store) -> None:
    """A backlog from customers never seen: their requesters are one create_or_update_many
    job, held. The rows carry that job, so the next rounds wait for it instead of queueing
    the same users again round after round (without a sleep, none would ever finish)."""
    people = People(info)
    clock = Clock()
    zd = ZendeskHarness(info)
    route = _route(info, store, clock)
    before = len(_jobs(zd))
    zd.control.post("jobs", {"hold_seconds": 900})
    posts = [people.post(f"newcomer{i}", f"@{people.brand} first question {i}") for i in range(12)]
    people.advance("x", 5)   # X indexes a post a few seconds late
    route.poll("mentions")
    route.process_inbox()
    held = [j for j in _jobs(zd) if j["held"]]
    assert len(held) == 1 and held[0]["total"] == 12, (_jobs(zd), _rows(store), route.stats)
    assert {job for state, job, _ in _rows(store)} == {held[0]["id"]}, _rows(store)
    _drain(route, 3)     # still held: the rows wait, no job is queued again
    assert len(_jobs(zd)) == before + 1 and people.tickets() == []
    people.advance("zendesk", 900 + 10)
    zd.control.post("jobs", {"hold_seconds": 0})
    _drain(route)
    external = sorted(t["external_id"] for t in people.tickets())
    assert external == sorted(f"x:post:{p}" for p in posts), "each ticket exactly once"
    assert all(state == "done" and ticket for state, _, ticket in _rows(store)), _rows(store)
    users = [u for u in people._zd("GET", "users.json?per_page=100")["users"]
             if str(u.get("external_id") or "").startswith("x:")]
    assert len(users) == len({u["external_id"] for u in users}) == 12, "each customer one user"
