"""X indexes posts late: the reader re-reads an overlap so a late post is not skipped."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from adapters.base import Cursor

from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.store import Store
import harness
from test_engine import make_route

sb = pytest.fixture(scope="module")(harness.own_sandbox)
BURST = 20
LAG = 20


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


def _control(info: dict[str, Any], method: str, path: str, **body: Any) -> dict[str, Any]:
    response = requests.request(method, f"{info['services']['x']['url']}/_sandbox/{path}",
                                json=body or None, verify=info["ca_bundle"])
    return {"status": response.status_code, **response.json()}


def _burst_read(info: dict[str, Any], store: Store, overlap: float) -> tuple[list[str], list[dict[str, Any]]]:
    """An early mention read, then a burst at one moment with lags up to LAG s; mentions
    read every 2 s for 2*LAG s. Returns every post made and the tickets opened."""
    assert _control(info, "POST", "limits", index_lag=LAG)["index_lag"] == LAG
    people = People(info)
    route = make_route(info, store)
    route.reader.overlap = overlap
    route.clock.offset = _control(info, "GET", "clock")["epoch"] - time.time()
    early = people.post("early", f"@{people.brand} an earlier mention")
    people.advance("x", 2 * LAG)
    route.clock.offset += 2 * LAG
    route.poll("mentions")          # the first read: the cursor is set before the burst
    assert store.get_cursor("t", "mentions")
    posts = [early] + [people.post(f"burst{i}", f"@{people.brand} burst {i}") for i in range(BURST)]
    for _ in range(LAG):
        people.advance("x", 2)
        route.clock.offset += 2
        route.poll("mentions")
    while route.process_inbox():
        pass
    return posts, people.tickets()


def test_a_burst_reordered_by_indexing_lag_is_read_completely(info: dict, store: Store) -> None:
    posts, tickets = _burst_read(info, store, overlap=30)
    assert sorted(t["external_id"] for t in tickets) == sorted(f"x:post:{p}" for p in posts)
    assert sum(store.counts()["t"]["inbox"].values()) == BURST + 1     # one inbox row a post


def test_without_overlap_a_late_indexed_post_is_lost(info: dict, store: Store) -> None:
    posts, tickets = _burst_read(info, store, overlap=0)
    found = {t["external_id"] for t in tickets}
    assert found < {f"x:post:{p}" for p in posts}    # some older, late posts were skipped


def test_the_lag_bound_is_a_control_setting(info: dict) -> None:
    assert _control(info, "POST", "limits", index_lag=-1)["status"] == 400
    assert _control(info, "POST", "limits", index_lag="5")["status"] == 400
    assert _control(info, "POST", "limits", index_lag=3600)["index_lag"] == 3600
    people = People(info)
    adapter = harness.XHarness(info).adapter()
    hidden = people.post("late", f"@{people.brand} indexed within the hour")
    assert hidden not in {m.id for m in adapter.fetch_mentions(Cursor(None)).items}
    people.advance("x", 3601)
    assert hidden in {m.id for m in adapter.fetch_mentions(Cursor(None)).items}
    assert _control(info, "POST", "limits", index_lag=0)["index_lag"] == 0
    shown = people.post("now", f"@{people.brand} seen at once")
    assert shown in {m.id for m in adapter.fetch_mentions(Cursor(None)).items}


def test_a_burst_at_the_routes_very_first_read_is_read_completely(info: dict, store: Store) -> None:
    """The first read sees only the posts already indexed; its cursor names a moment
    (X's start_time), not the oldest post it saw, so a post written before that read but
    indexed after it is read next time. With a post id as the first cursor it was skipped."""
    assert _control(info, "POST", "limits", index_lag=LAG)["index_lag"] == LAG
    people = People(info)
    route = make_route(info, store)
    route.reader.overlap = 30
    route.clock.offset = _control(info, "GET", "clock")["epoch"] - time.time()
    posts = [people.post(f"first{i}", f"@{people.brand} before the first read {i}") for i in range(BURST)]
    people.advance("x", LAG / 2)
    route.clock.offset += LAG / 2
    route.poll("mentions")          # the route's first read: about half the burst is indexed
    first = store.get_cursor("t", "mentions")
    assert len(store.counts()["t"]["inbox"]) and sum(store.counts()["t"]["inbox"].values()) < BURST
    for _ in range(LAG):
        people.advance("x", 2)
        route.clock.offset += 2
        route.poll("mentions")
    while route.process_inbox():
        pass
    assert sorted(t["external_id"] for t in people.tickets()) == sorted(f"x:post:{p}" for p in posts)
    assert first is not None and first.startswith("t:"), first
    assert store.get_cursor("t", "mentions").isdigit()   # once posts settle, a post id again


def test_a_sandbox_started_without_settings_indexes_late_and_names_empty_last_pages() -> None:
    """X as it is by default (the demo, `run --sandbox`, the benches): posts indexed up to
    3 s late and a last page that sometimes names an empty next one, and a reset comes back
    to that. The kinder sandbox served every post at once and never named such a page."""
    with Sandbox(services=("x",)) as plain:
        info = plain.info()
        assert _control(info, "GET", "limits")["index_lag"] == 3.0
        assert _control(info, "GET", "pagination")["trailing_empty_page"] == 0.1
        _control(info, "POST", "limits", index_lag=0)
        _control(info, "POST", "reset")
        assert _control(info, "GET", "limits")["index_lag"] == 3.0
