"""What operators read off a running daemon, on the sandbox over real HTTPS: /metrics in
Prometheus' format, /healthz and /readyz, and the status only for the token's holder."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import harness
from adapters.http import watch_calls
from cli.wiring import sandbox_endpoints
from harness import Clock, XHarness, ZendeskHarness
from sandbox.scenario import People
from sync.config import parse_config
from sync.daemon import Daemon
from sync.policy import use_sleep
from sync.store import Store
from sync.web import WebServer

sb = pytest.fixture(scope="module")(harness.own_sandbox)

MAPPING = """
version: 1
helpdesks: {{zd: {{kind: zendesk, sandbox: true}}}}
networks: {{brand: {{kind: x, sandbox: true}}}}
routes:
  - name: t
    network: brand
    helpdesk: zd
    streams: [mentions]
    read_budget: {{monthly_posts: 10000}}
    ticket: {{tags: [social], group: {group}}}
"""
TOKEN = "status-Qx7-token"


@pytest.fixture(autouse=True)
def quick_retries_do_not_wait() -> Iterator[None]:
    previous = use_sleep(lambda seconds: None)
    yield
    use_sleep(previous)


def serve(info: dict, store: Store, clock: Clock, group: str = "Social care") -> tuple[Daemon, WebServer]:
    """The daemon as ``socialdesk run --sandbox`` builds it, its calls watched, and its web server."""
    daemon = Daemon(parse_config(MAPPING.format(group=group)), store, sandbox_endpoints(info), clock=clock,
                    watch_calls=watch_calls)
    daemon.prepare()
    return daemon, WebServer(daemon.web_app(), "127.0.0.1", 0).start()


def tick(daemon: Daemon, people: People, seconds: float) -> None:
    daemon.clock.offset += seconds  # type: ignore[attr-defined]
    people.advance("x", seconds)
    daemon.run_once()


def scrape(web: WebServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics parsed by prometheus-client's own parser: sample name -> labels -> value."""
    response = requests.get(f"{web.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    found = [v for key, v in samples.get(name, {}).items() if set(labels.items()) <= set(key)]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_metrics_tell_what_the_daemon_did_and_where_it_stands(info: dict, store: Store, clock: Clock) -> None:
    people = People(info)
    daemon, web = serve(info, store, clock)
    try:
        posts = [people.post(f"metric{i}", f"@{people.brand} hello number {i}") for i in range(3)]
        XHarness(info).fault(status=429, method="GET", path_prefix="/2/users/", count=1)
        daemon.run_once()   # the mentions read meets the 429: the network side pauses
        paused = daemon.routes["t"].paused_until["network"]
        tick(daemon, people, paused - clock() + 1)
        tickets = [people.ticket_for(p) for p in posts]
        assert all(tickets)
        people.answer(tickets[0]["id"], "Thanks, we are on it!")
        people.answer(tickets[1]["id"], "Write to help@acme.example please")   # a guard holds it
        people.advance("zendesk", 120)
        tick(daemon, people, 30)
        tick(daemon, people, 30)
        assert len(people.posts_by(people.brand)) == 1
        m = scrape(web)
    finally:
        web.stop()

    inbox = store.counts()["t"]["inbox"]
    assert value(m, "socialdesk_mentions_read_total", route="t", network="x", stream="mentions") == sum(inbox.values())
    assert value(m, "socialdesk_tickets_written_total", route="t", helpdesk="zendesk", action="created") == 3
    assert value(m, "socialdesk_replies_total", route="t", outcome="posted") == 1
    assert value(m, "socialdesk_replies_total", route="t", outcome="held", reason="personal_data") == 1
    assert value(m, "socialdesk_quarantined_total", route="t", flow="mirror") == 1
    assert value(m, "socialdesk_mention_to_ticket_seconds_count", route="t") == 3
    assert value(m, "socialdesk_reply_to_post_seconds_count", route="t") == 1
    assert 0 < value(m, "socialdesk_reply_to_post_seconds_sum", route="t") < 600
    # queues and ages come from the store at the scrape
    assert value(m, "socialdesk_queue_items", route="t", queue="inbox", state="done") == inbox["done"] >= 3
    assert value(m, "socialdesk_queue_items", route="t", queue="outbox", state="posted") == 1
    assert value(m, "socialdesk_queue_items", route="t", queue="outbox", state="failed") == 1
    assert value(m, "socialdesk_queue_oldest_waiting_seconds", route="t", queue="inbox") == 0
    assert value(m, "socialdesk_conversations_linked", route="t") == 3
    # each vendor's calls, the one 429 among them, and the rate windows the answers told
    assert value(m, "socialdesk_vendor_calls_total", service="x", account="brand", status="429") == 1
    assert value(m, "socialdesk_vendor_calls_total", service="x", account="brand", status="2xx") >= 3
    assert value(m, "socialdesk_vendor_calls_total", service="zendesk", account="zd", status="2xx") >= 6
    assert value(m, "socialdesk_rate_limit_pauses_total", route="t", side="network") == 1
    windows = m["socialdesk_vendor_rate_remaining"]
    mentions = [k for k in windows if ("bucket", "GET /2/users/:id/mentions") in k]
    assert mentions and 0 <= windows[mentions[0]] <= m["socialdesk_vendor_rate_limit"][mentions[0]]
    # state: the route, the month's reads against the budget, the OAuth access, the store
    assert value(m, "socialdesk_route_state", route="t", state="active") == 1
    assert value(m, "socialdesk_route_state", route="t", state="parked") == 0
    assert value(m, "socialdesk_network_reads_month", route="t", kind="posts") >= 3
    assert value(m, "socialdesk_network_read_budget_month", route="t", kind="posts") == 10000
    for account in ("zd", "brand"):
        assert 60 < value(m, "socialdesk_oauth_access_expires_in_seconds", account=account) <= 2 * 3600 + 60
        assert value(m, "socialdesk_oauth_grant_refused", account=account) == 0
    assert value(m, "socialdesk_state_store_up") == 1
    said = repr(m)
    assert "metric0" not in said and "hello" not in said and "acme.example" not in said, "no handle, text or email"


def test_readyz_is_503_while_a_route_waits_or_is_parked_and_200_once_it_runs(
        info: dict, store: Store, clock: Clock) -> None:
    people, zd = People(info), ZendeskHarness(info)
    daemon, web = serve(info, store, clock)
    try:
        ready = requests.get(f"{web.url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        zd.fault(path_prefix="/api/v2", status=401, count=100_000)
        people.post("waiter", f"@{people.brand} anyone?")
        tick(daemon, people, 15)
        assert daemon.routes["t"].state == "waiting"
        waiting = requests.get(f"{web.url}/readyz", timeout=10)
        assert waiting.status_code == 503
        assert waiting.json() == {"status": "not ready", "reasons": ["route t waiting: zendesk refused the credentials"]}
        assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200, "alive all the same"
        zd.control.http.delete(f"{zd.control.url}/_sandbox/faults").raise_for_status()
        tick(daemon, people, daemon.routes["t"].health.next_check - clock() + 1)  # type: ignore[operator]
        assert daemon.routes["t"].state == "active"
        assert requests.get(f"{web.url}/readyz", timeout=10).status_code == 200
        m = scrape(web)
        assert value(m, "socialdesk_route_transitions_total", route="t", to="waiting") == 1
        assert value(m, "socialdesk_route_transitions_total", route="t", to="resumed") == 1
    finally:
        web.stop()

    # A name the helpdesk does not have parks the route: not ready until restarted with the fix.
    parked, web = serve(info, store, clock, group="No such group")
    try:
        assert parked.routes["t"].state == "parked"
        answer = requests.get(f"{web.url}/readyz", timeout=10)
        assert answer.status_code == 503 and answer.json()["reasons"] == [
            "route t parked: its configuration needs a fix (see the status endpoint or the log)"]
        assert "No such group" not in answer.text, "readiness says no more than that"
        assert value(scrape(web), "socialdesk_route_state", route="t", state="parked",
                     reason="configuration") == 1
    finally:
        web.stop()
    fixed, web = serve(info, store, clock)
    try:
        assert requests.get(f"{web.url}/readyz", timeout=10).status_code == 200
    finally:
        web.stop()


def test_the_status_is_for_the_tokens_holder_only(info: dict, store: Store, clock: Clock,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    people = People(info)
    daemon, web = serve(info, store, clock)   # no SOCIALDESK_STATUS_TOKEN: the status is off
    try:
        off = requests.get(f"{web.url}/api/status", timeout=10)
        assert off.status_code == 403 and "SOCIALDESK_STATUS_TOKEN" in off.json()["error"]
        assert requests.get(f"{web.url}/status", timeout=10).status_code == 403
    finally:
        web.stop()
    monkeypatch.setenv("SOCIALDESK_STATUS_TOKEN", TOKEN)
    daemon, web = serve(info, store, clock)
    try:
        people.post("statusfan", f"@{people.brand} what's up")
        tick(daemon, people, 15)
        api = f"{web.url}/api/status"
        assert requests.get(api, timeout=10).status_code == 401
        assert requests.get(api, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        shown = requests.get(api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
        body = shown.json()
        assert {"routes", "queues", "cursors", "last_errors", "held_replies", "failed_replies", "last_hour",
                "reads", "credentials"} <= set(body)
        assert body["routes"]["t"]["state"] == "active" and body["queues"]["t"]["inbox"]["done"] >= 1
        assert "mentions" in body["cursors"]["t"] and body["last_hour"]["t"]["tickets"][-1] >= 1
        assert TOKEN not in shown.text
        for path in ("/healthz", "/readyz"):
            text = requests.get(f"{web.url}{path}", timeout=10).text
            assert "cursor" not in text and "inbox" not in text, "the open endpoints show no details"

        browser = requests.Session()
        page = browser.get(f"{web.url}/status", timeout=10)
        assert page.status_code == 401 and "<form" in page.text and TOKEN not in page.text
        assert browser.post(f"{web.url}/status", data={"token": "wrong"}, timeout=10).status_code == 401
        signed = browser.get(f"{web.url}/status", params={"token": TOKEN}, timeout=10)
        assert signed.history and signed.history[0].status_code == 303 and signed.url == f"{web.url}/status"
        cookie = signed.history[0].headers["Set-Cookie"]
        assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert signed.status_code in (200, 501)   # 501: this checkout has no status page renderer
        if signed.status_code == 200:
            assert signed.headers["Content-Type"].startswith("text/html") and "active" in signed.text
        assert browser.get(f"{web.url}/status", timeout=10).status_code == signed.status_code, "the cookie holds"
    finally:
        web.stop()
