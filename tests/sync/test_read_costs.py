"""X bills reads per post and DM event returned: the reader counts them per route and month."""
from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

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


def test_reads_pause_before_the_monthly_budget_is_passed_and_resume_when_the_month_turns(
        info: dict, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """With a budget of 150 posts a month, a read starts only while 100 more (one full
    read) still fit: reading stops before the budget is passed, says so once (the budget,
    the month, when reads resume), and resumes by itself in the next month."""
    from sync.config import ReadBudgetConfig

    people = People(info)
    route = make_route(info, store, read_budget=ReadBudgetConfig(monthly_posts=150))
    month = month_of(route.clock())
    store.count_reads("t", "posts", 50, route.clock())          # earlier this month
    people.post("bud0", f"@{people.brand} first")
    assert route.poll("mentions") == 1                          # 50 + 100 fit: the last read of the month
    late = people.post("bud1", f"@{people.brand} second")
    with caplog.at_level("WARNING", "socialdesk.engine"):
        assert route.poll("mentions") == 0
        assert route.poll("mentions") == 0
    said = [r.getMessage() for r in caplog.records if "read budget" in r.getMessage()]
    assert len(said) == 1 and f"read budget for {month} is 150 posts" in said[0], said
    assert "mentions is not read until" in said[0] and "replies still go out" in said[0]
    assert store.reads(month)["t"]["posts"] <= 150
    # The month turns (the route's clock): reads resume and the waiting post is read.
    year, number = (int(p) for p in month.split("-"))
    start = calendar.timegm((year + (number == 12), number % 12 + 1, 1, 0, 0, 5))
    route.clock.offset += start - route.clock()
    people.advance("x", 60)
    assert route.poll("mentions") >= 1
    keys = {row.source_key for row in store.claim_inbox("t", limit=10)}
    assert f"x:post:{late}" in keys


def test_a_read_budget_in_the_mapping_is_checked_and_shown(tmp_path: Path) -> None:
    from sync.config import ConfigError, parse_config

    base = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {brand: {kind: x, sandbox: true}}
routes:
  - {name: t, network: brand, helpdesk: zd, read_budget: BUDGET}
"""
    config = parse_config(base.replace("BUDGET", "{monthly_posts: 50000, monthly_dm_events: 2000}"))
    budget = config.routes[0].read_budget
    assert (budget.monthly_posts, budget.monthly_dm_events) == (50000, 2000)
    assert reads_line({"posts": 7}, budget) == ("X reads this month: 7 posts, 0 DM events "
                                                "(monthly budget 50000 posts, 2000 DM events)")
    with pytest.raises(ConfigError, match=r"routes\[0\]\.read_budget\.monthly_posts"):
        parse_config(base.replace("BUDGET", "{monthly_posts: 0}"))
    with pytest.raises(ConfigError, match=r"unknown key 'monthly_likes'"):
        parse_config(base.replace("BUDGET", "{monthly_likes: 5}"))
