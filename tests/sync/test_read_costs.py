"""X bills reads per post and DM event returned: the reader counts them per route and month."""
from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli.status import reads_line
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.store import SCHEMA_VERSION, Store
from sync.store.reads import month_of
import harness
from test_engine import make_route

sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    s.migrate()
    yield s
    s.close()


def test_each_post_and_dm_event_read_is_counted_for_the_route_and_month(info: dict, store: Store) -> None:
    people = People(info)
    route = make_route(info, store)
    for i in range(3):
        people.post(f"pay{i}", f"@{people.brand} question {i}")
    people.post("dmer", "a private question", dm=True)
    route.poll("mentions")
    route.poll("dms")
    month = month_of(route.clock())
    assert store.reads(month)["t"] == {"posts": 3, "dm_events": 1}
    route.poll("mentions")           # a re-read of the overlap is billed too
    assert store.reads(month)["t"]["posts"] > 3
    assert reads_line(store.reads(month)["t"]).startswith("X reads this month: ")


def test_counts_are_kept_per_utc_month(store: Store) -> None:
    assert SCHEMA_VERSION >= 11
    end_of_nov = calendar.timegm((2026, 11, 30, 23, 59, 59))
    store.count_reads("r", "posts", 5, end_of_nov)
    store.count_reads("r", "posts", 2, end_of_nov)
    store.count_reads("r", "dm_events", 1, end_of_nov + 2)
    assert store.reads("2026-11") == {"r": {"posts": 7, "dm_events": 0}}
    assert store.reads("2026-12") == {"r": {"posts": 0, "dm_events": 1}}
    with pytest.raises(ValueError, match="read kind"):
        store.count_reads("r", "likes", 1)
    assert reads_line(store.reads("2026-11")["r"]) == "X reads this month: 7 posts, 0 DM events"
