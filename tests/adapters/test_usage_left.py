"""What a Facebook Page's calls tell the metrics of Meta's usage budgets: the figure nearest
its limit and the percent left, read off the sandbox's real usage headers."""
from __future__ import annotations

from typing import Any

import pytest

import harness
from adapters.base import Cursor
from adapters.http import CallSeen, PacesCalls, watch_calls
from adapters.social.meta import usage_figures
from cli.wiring import sandbox_endpoints
from sync.config import parse_config
from sync.daemon import build_adapter

sb = pytest.fixture(scope="module")(harness.own_sandbox)

MAPPING = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {page: {kind: facebook, sandbox: true}}
routes:
  - {name: t, network: page, helpdesk: zd, ticket: {tags: [social]}}
"""


def test_each_call_tells_the_usage_figure_nearest_its_limit(sb: Any) -> None:
    info = harness.reset(sb.info(), "meta")
    page = build_adapter("social", parse_config(MAPPING).networks["page"], sandbox_endpoints(info))
    budget = page.graph.session.rate_budget
    assert isinstance(budget, PacesCalls)
    assert budget.left("GET", "https://graph.facebook.com/v25.0/me") is None   # nothing told yet
    seen: list[CallSeen] = []
    assert watch_calls(page, seen.append) >= 1
    for _ in range(3):
        page.fetch_mentions(Cursor(None))
    told = [call.window for call in seen if call.window is not None]
    assert told, seen
    label, limit, left = told[-1]
    figures = {f"{head} {name}": value for head, read in budget.figures.items() for name, value in read.items()}
    assert limit == 100 and label in figures
    assert left == 100 - max(v for k, v in figures.items() if not k.endswith("regain_access"))
    assert 0 <= left < 100   # the sandbox counts every call against the Page's budget
    assert usage_figures({"X-App-Usage": '{"call_count": 12.5}'})["X-App-Usage"]["call_count"] == 12.5
