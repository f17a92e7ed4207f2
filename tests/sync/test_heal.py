"""Routes heal by themselves, on the sandbox over real HTTPS.

A refused credential or a service that cannot be reached makes a route WAIT: it re-checks
the side it waits on (15 s, then twice as long each time, capped at 5 minutes) and resumes
by itself when that side takes it again; nothing made meanwhile is lost. Only a
configuration error PARKS a route, until it is restarted with the fix. Time passes through
the daemon's injected clock, never on the wall.
"""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli.status import cmd_status
from cli.wiring import sandbox_endpoints
from sandbox.scenario import People
from sync.config import parse_config
from sync.daemon import Daemon
from sync.policy import use_sleep
from sync.store import Store
import harness
from harness import Clock, XHarness, ZendeskHarness

sb = pytest.fixture(scope="module")(harness.own_sandbox)

MAPPING = """
version: 1
state: sqlite:///{state}
helpdesks: {{zd: {{kind: zendesk, sandbox: true}}}}
networks: {{brand: {{kind: x, sandbox: true}}}}
routes:
  - name: t
    network: brand
    helpdesk: zd
    streams: [mentions]
    ticket: {{tags: [social], group: {group}}}
"""


@pytest.fixture(autouse=True)
def quick_retries_do_not_wait() -> Iterator[None]:
    previous = use_sleep(lambda seconds: None)
    yield
    use_sleep(previous)


def mapping(tmp_path: Path, group: str = "Social care") -> str:
    return MAPPING.format(state=tmp_path / "state.sqlite", group=group)


def build(info: dict[str, Any], store: Store, clock: Clock, text: str, **kwargs: Any) -> Daemon:
    """The daemon as ``socialdesk run --sandbox`` builds it (the sandbox's consent given)."""
    return Daemon(parse_config(text), store, sandbox_endpoints(info), clock=clock, **kwargs)


def start(info: dict[str, Any], store: Store, clock: Clock, text: str, **kwargs: Any) -> Daemon:
    daemon = build(info, store, clock, text, **kwargs)
    daemon.prepare()
    return daemon


def tick(daemon: Daemon, people: People, seconds: float) -> None:
    """``seconds`` pass for the daemon (and for X, whose posts carry its time), then one round."""
    daemon.clock.offset += seconds  # type: ignore[attr-defined]
    people.advance("x", seconds)
    daemon.run_once()


def until_recheck(daemon: Daemon, people: People) -> None:
    """Let the time pass to the route's next re-check, then one round."""
    left = daemon.routes["t"].health.next_check - daemon.clock()  # type: ignore[operator]
    tick(daemon, people, max(left, 0) + 1)


def tickets(people: People) -> list[str]:
    """External ids of socialdesk's tickets, from the control dump (no fault, no outage reaches it)."""
    return sorted(t["external_id"] for t in people.ticket_index())


def refuse(service: Any, prefix: str) -> None:
    """Every API call of ``service`` answered 401 until ``allow`` (the control API is spared)."""
    service.fault(path_prefix=prefix, status=401, count=100_000)


def allow(service: Any) -> None:
    service.control.http.delete(f"{service.control.url}/_sandbox/faults").raise_for_status()


def outage(service: Any, on: bool) -> None:
    if on:
        service.control.post("outage", {})
    else:
        service.control.http.delete(f"{service.control.url}/_sandbox/outage").raise_for_status()


def status_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``socialdesk status`` prints of route t (another process reading the store)."""
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping(tmp_path))
    capsys.readouterr()
    assert cmd_status(argparse.Namespace(config=str(path), json=False)) == 0
    return capsys.readouterr().out.splitlines()[0]


# --------------------------------------------------------------------------- credentials refused


def test_a_burst_of_401s_at_start_makes_the_route_wait_and_it_resumes_by_itself(
        info: dict, store: Store, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people, zd = People(info), ZendeskHarness(info)
    refuse(zd, "/api/v2")
    daemon = start(info, store, clock, mapping(tmp_path))
    shown = daemon.status()["routes"]["t"]
    assert (shown["state"], list(shown["waiting"])) == ("waiting", ["helpdesk"])
    assert shown["reason"].startswith("zendesk refused the credentials: ")
    assert "mapping" not in shown["reason"] and "names" not in shown["reason"], "a 401 is not the mapping's fault"
    assert shown["next_check"] == pytest.approx(clock() + 15, abs=2)
    assert store.health()["t"]["state"] == "waiting" and store.health()["t"]["next_check"] == shown["next_check"]
    line = status_text(tmp_path, capsys)
    assert line.startswith("route t: waiting since ") and "(zendesk refused the credentials: " in line
    assert "; next re-check " in line

    post = people.post("ann", f"@{people.brand} is anyone there?")
    daemon.run_once()
    assert daemon.routes["t"].state == "waiting" and tickets(people) == []
    assert "cursors" not in store.counts().get("t", {}), "a waiting route reads nothing: its cursor stays"
    until_recheck(daemon, people)
    shown = daemon.status()["routes"]["t"]
    assert shown["state"] == "waiting" and shown["next_check"] == pytest.approx(clock() + 30, abs=2)

    allow(zd)  # the burst is over
    until_recheck(daemon, people)
    assert daemon.status()["routes"]["t"]["state"] == "active" and store.health()["t"]["state"] == "active"
    assert tickets(people) == [f"x:post:{post}"]
    tick(daemon, people, 30)
    assert tickets(people) == [f"x:post:{post}"], "exactly once"
    assert status_text(tmp_path, capsys) == "route t: active"


def test_a_burst_of_401s_mid_run_makes_the_active_route_wait_and_nothing_is_lost(
        info: dict, store: Store, clock: Clock, tmp_path: Path) -> None:
    people, zd = People(info), ZendeskHarness(info)
    daemon = start(info, store, clock, mapping(tmp_path))
    first = people.post("bea", f"@{people.brand} first question")
    tick(daemon, people, 15)
    assert tickets(people) == [f"x:post:{first}"]

    refuse(zd, "/api/v2")
    during = people.post("cal", f"@{people.brand} second question")
    tick(daemon, people, 15)
    route = daemon.routes["t"]
    assert route.state == "waiting" and list(route.health.waits) == ["helpdesk"]
    assert route.waiting and route.waiting.startswith("zendesk refused the credentials: ")
    assert store.counts()["t"]["inbox"] == {"done": 1, "pending": 1}, "the refused row was handed back"
    later = people.post("dan", f"@{people.brand} posted while the route waited")
    until_recheck(daemon, people)
    assert route.state == "waiting"
    assert store.counts()["t"]["inbox"] == {"done": 1, "pending": 2}, "the network is still read meanwhile"

    allow(zd)
    until_recheck(daemon, people)
    assert route.state == "active"
    tick(daemon, people, 15)
    assert tickets(people) == sorted(f"x:post:{p}" for p in (first, during, later))
    assert store.counts()["t"]["inbox"] == {"done": 3}


def test_the_network_refusing_credentials_mid_run_makes_the_route_wait_then_resume(
        info: dict, store: Store, clock: Clock, tmp_path: Path) -> None:
    people, x = People(info), XHarness(info)
    daemon = start(info, store, clock, mapping(tmp_path))
    first = people.post("eve", f"@{people.brand} hello")
    tick(daemon, people, 15)
    cursor = store.counts()["t"]["cursors"]["mentions"]

    refuse(x, "/2/")
    tick(daemon, people, 15)
    route = daemon.routes["t"]
    assert route.state == "waiting" and list(route.health.waits) == ["network"]
    assert route.waiting and route.waiting.startswith("x refused the credentials: ")
    meanwhile = people.post("fay", f"@{people.brand} are you still there?")
    until_recheck(daemon, people)
    assert route.state == "waiting" and store.counts()["t"]["cursors"]["mentions"] == cursor

    allow(x)
    until_recheck(daemon, people)
    assert route.state == "active"
    assert tickets(people) == sorted(f"x:post:{p}" for p in (first, meanwhile))


# --------------------------------------------------------------------------- a service down


def test_a_helpdesk_outage_at_start_and_mid_run_makes_the_route_wait_until_it_ends(
        info: dict, store: Store, clock: Clock, tmp_path: Path) -> None:
    people, zd = People(info), ZendeskHarness(info)
    daemon = build(info, store, clock, mapping(tmp_path))
    outage(zd, True)
    daemon.prepare()
    route = daemon.routes["t"]
    assert route.state == "waiting" and route.waiting and route.waiting.startswith("zendesk cannot be reached: ")
    early = people.post("gil", f"@{people.brand} posted during the outage")
    outage(zd, False)
    until_recheck(daemon, people)
    assert route.state == "active" and tickets(people) == [f"x:post:{early}"]

    outage(zd, True)
    during = people.post("hal", f"@{people.brand} is the helpdesk down?")
    rounds = 0
    while route.state == "active" and rounds < 5:
        tick(daemon, people, 16)
        rounds += 1
    assert route.state == "waiting", "an outage that lasts is not retried item by item for ever"
    assert route.waiting and route.waiting.startswith("zendesk cannot be reached: ") and rounds <= 3
    later = people.post("ida", f"@{people.brand} still nobody?")
    until_recheck(daemon, people)
    assert route.state == "waiting"

    outage(zd, False)
    until_recheck(daemon, people)
    assert route.state == "active"
    for _ in range(3):
        tick(daemon, people, 31)  # the row tried during the outage comes back after its backoff
    assert tickets(people) == sorted(f"x:post:{p}" for p in (early, during, later))


def test_a_backlog_refused_as_a_batch_waits_and_every_row_is_written_once_after(
        info: dict, store: Store, clock: Clock, tmp_path: Path) -> None:
    people, zd = People(info), ZendeskHarness(info)
    daemon = start(info, store, clock, mapping(tmp_path))
    refuse(zd, "/api/v2")
    backlog = [people.post(f"cust{i}", f"@{people.brand} backlog {i}") for i in range(12)]
    tick(daemon, people, 15)
    route = daemon.routes["t"]
    assert route.state == "waiting" and list(route.health.waits) == ["helpdesk"] and tickets(people) == []
    allow(zd)
    until_recheck(daemon, people)
    assert route.state == "active"
    tick(daemon, people, 121)  # the batch's rows come back when their lease ends
    assert tickets(people) == sorted(f"x:post:{p}" for p in backlog)


# --------------------------------------------------------------------------- configuration


def test_a_group_the_helpdesk_does_not_have_parks_the_route_and_no_recheck_resumes_it(
        info: dict, store: Store, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    people, zd = People(info), ZendeskHarness(info)
    daemon = start(info, store, clock, mapping(tmp_path, group="Escalatoins"))
    shown = daemon.status()["routes"]["t"]
    assert shown["state"] == "parked" and shown["next_check"] is None
    assert "no Zendesk group named 'Escalatoins'" in shown["reason"]
    assert shown["reason"].startswith("resolving the mapping's names in zendesk 'zd': ")
    assert shown["reason"].endswith("(fix the mapping or the service's setup, then restart socialdesk)")
    calls = len(zd.control.get("requests")["requests"])
    people.post("jon", f"@{people.brand} hello?")
    for _ in range(4):
        tick(daemon, people, 400)
    assert daemon.routes["t"].state == "parked" and tickets(people) == []
    assert len(zd.control.get("requests")["requests"]) == calls, "a parked route asks nothing again"
    assert "cursors" not in store.counts().get("t", {})
    line = status_text(tmp_path, capsys)
    assert line.startswith("route t: parked since ") and "Escalatoins" in line
    assert line.endswith("stays parked until restarted")


# --------------------------------------------------------------------------- backoff and logging


def test_rechecks_back_off_doubling_up_to_the_cap_and_each_transition_is_logged_once(
        info: dict, store: Store, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="socialdesk.engine")
    people, zd = People(info), ZendeskHarness(info)
    refuse(zd, "/api/v2")
    daemon = start(info, store, clock, mapping(tmp_path))
    route = daemon.routes["t"]
    delays = []
    for _ in range(7):
        delays.append(round(route.health.next_check - clock()))  # type: ignore[operator]
        until_recheck(daemon, people)
        daemon.run_once()  # not due again yet: nothing to say
    delays.append(round(route.health.next_check - clock()))  # type: ignore[operator]
    assert delays == [15, 30, 60, 120, 240, 300, 300, 300]
    allow(zd)
    until_recheck(daemon, people)
    assert route.state == "active"

    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "socialdesk.engine" and r.getMessage().startswith("route t")]
    waiting = [m for level, m in said if level == "WARNING"]
    assert len(waiting) == 1, said
    assert waiting[0].startswith("route t waiting: zendesk refused the credentials: ")
    assert "re-checking the helpdesk at " in waiting[0] and waiting[0].endswith("(in 15s)")
    assert [level for level, _ in said if level == "DEBUG"] == ["DEBUG"] * 7, "failed re-checks: debug only"
    resumed = [m for level, m in said if level == "INFO" and "resumed" in m]
    assert len(resumed) == 1, said
    # 15 + 30 + ... + 300 s of re-checks, and the second each round let pass beyond them
    assert re.fullmatch(r"route t resumed: the helpdesk takes it again, after waiting 22m 5[3-9]s", resumed[0])


def test_the_recheck_cap_is_the_daemons_to_set(info: dict, store: Store, clock: Clock, tmp_path: Path) -> None:
    people, zd = People(info), ZendeskHarness(info)
    refuse(zd, "/api/v2")
    daemon = start(info, store, clock, mapping(tmp_path), recheck_cap=45)
    delays = []
    for _ in range(4):
        delays.append(round(daemon.routes["t"].health.next_check - clock()))  # type: ignore[operator]
        until_recheck(daemon, people)
    assert delays == [15, 30, 45, 45]
