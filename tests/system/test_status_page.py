"""The status page and the HTML report in headless Chromium, after a real day on the sandbox
(tests/busy_day.py): the page rendered from the daemon's own snapshot shows each route's state,
queues, the last hour's charts (their bars add up to the snapshot's figures), the held and
failed replies with why; nothing is fetched from anywhere; a snapshot missing keys still renders.
Screenshots go to the test's temporary folder; with SOCIALDESK_UPDATE_SCREENSHOTS=1 to
docs/img/, where the README shows them."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from busy_day import Day, Happened
from cli.common import load_mapping
from sync.report import Targets, build_report, parse_span
from sync.report_page import render_report_html
from sync.status_page import render_status_page
import harness

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "img"


def shots(tmp_path: Path) -> Path:
    """Where a screenshot goes: docs/img/ when asked to update the README's, else the test's folder."""
    return IMAGES if os.environ.get("SOCIALDESK_UPDATE_SCREENSHOTS") == "1" else tmp_path
NEEDS = "needs Debian's chromium (apt-get install -y chromium) and the playwright package (pip install '.[test]')"

playwright_api = pytest.importorskip("playwright.sync_api", reason=NEEDS)
sb = pytest.fixture(scope="module")(harness.own_sandbox)


@pytest.fixture(scope="module")
def day(sb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Day, Happened]]:
    played = Day(sb, tmp_path_factory.mktemp("status-day"))
    try:
        yield played, played.play()
    finally:
        played.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which("chromium") is None:
        pytest.skip(NEEDS)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def show(browser: Any) -> Iterator[Any]:
    """Open an HTML text in a fresh page; every request the page would make is refused and kept."""
    contexts: list[Any] = []

    def open_(html: str, width: int = 1200) -> tuple[Any, list[str]]:
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(ctx)
        asked: list[str] = []
        ctx.route("**/*", lambda route: (asked.append(route.request.url), route.abort()))
        page = ctx.new_page()
        page.set_content(html, wait_until="load")
        return page, asked

    yield open_
    for ctx in contexts:
        ctx.close()


def bar_total(page: Any, card: str, series: str) -> float:
    """What a card's chart shows for one series: the sum of its bars' values."""
    values = page.locator(f".card:has(h3:text-is('{card}')) rect.bar[data-series='{series}']") \
        .evaluate_all("bars => bars.map(b => Number(b.dataset.value))")
    return sum(values)


def test_the_status_page_shows_states_queues_charts_and_held_replies(day: tuple[Day, Happened], show: Any,
                                                                    tmp_path: Path) -> None:
    desk, done = day
    snapshot = desk.daemon.status_snapshot()
    page, asked = show(render_status_page(snapshot, desk.clock()))
    assert asked == [], "the page fetched something"
    text = page.inner_text("body")
    for seen in ("socialdesk status", "x-support", "facebook-support", "x → zendesk", "facebook → zendesk",
                 "awaiting approval: a lead adds the tag approved to the ticket", "a lead's approval", "a guard",
                 "email address", "403", f"x:post:{done.quarantined}"):
        assert seen in text, seen
    assert page.locator("h2:text-is('Routes') + table .state.active").count() == 2
    failed = snapshot["failed_replies"][0]["id"]
    assert f"socialdesk failed retry {failed}" in text
    queues = page.locator("h2:text-is('Queues') + table tbody tr:has(td:text-is('x-support')) td").all_inner_texts()
    assert queues[5:8] == ["1", "2", "1"], queues                     # set aside, held, failed
    charts = page.locator("svg.chart")
    assert charts.count() == 4                                        # volumes and latency, per route
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    for route in ("x-support", "facebook-support"):
        hour = snapshot["last_hour"][route]
        assert bar_total(page, route, "mentions read") == sum(hour["mentions"]) > 0
        assert bar_total(page, route, "replies posted") == sum(hour["replies"]) == 1
    folder = shots(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "status-page.png"), full_page=True)
    assert (folder / "status-page.png").stat().st_size > 20_000


@pytest.mark.parametrize("snapshot", [
    {},
    {"routes": {"x-support": {"state": "parked", "why": "group 'Escalatoins' not found"}}},
    {"routes": None, "queues": "?", "last_hour": {"x-support": {"mentions": "many", "buckets": [None]}},
     "held_replies": [None, 3, {"id": "out-9", "state": "pending", "reason": "awaiting approval: ..."}],
     "failed_replies": {}, "quarantined": [7]},
])
def test_a_snapshot_missing_keys_still_renders(show: Any, snapshot: dict[str, Any]) -> None:
    page, asked = show(render_status_page(snapshot, 1_800_000_000.0))
    text = page.inner_text("body")
    assert asked == [] and "socialdesk status" in text and "2027-01-15 08:00:00 UTC" in text
    if not snapshot:
        assert text.count("not reported") >= 4 and "no routes reported" in text
    if snapshot.get("routes"):
        assert "parked" in text and "group 'Escalatoins' not found" in text
    if snapshot.get("held_replies"):
        assert "out-9" in text and "a lead's approval" in text


def test_the_html_report_in_chromium(day: tuple[Day, Happened], show: Any, tmp_path: Path) -> None:
    desk, done = day
    report = build_report(desk.store, load_mapping(str(desk.mapping)), desk.clock(), parse_span("2h"),
                          targets=Targets.parse("high=15m,normal=1h"))
    page, asked = show(render_report_html(report))
    assert asked == []
    text = page.inner_text("body")
    for seen in ("socialdesk report", "Volumes per route", "4 tickets", "2 tickets", "First responses by priority",
                 "awaiting approval: a lead adds the tag approved to the ticket", "X reads this month", "docs.x.com"):
        assert seen in text, seen
    charts = page.locator("svg.chart")
    assert charts.count() == 5
    read = page.locator("svg.chart").first.locator("rect.bar").evaluate_all(
        "bars => bars.map(b => Number(b.dataset.value))")
    assert sum(read) == sum(r["volumes"]["read"] for r in report["routes"]) == 8
    target = page.locator("line.target")
    assert target.count() == 1 and float(target.get_attribute("data-value")) == 3600
    folder = shots(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "report.png"), full_page=True)
    assert (folder / "report.png").stat().st_size > 20_000


def test_replicas_sharing_the_state_are_listed_with_their_leases() -> None:
    from sync.status_page import render_status_page

    page = render_status_page({"replica": "a", "replicas": {
        "a": {"started_at": 100.0, "seen_at": 190.0, "live": True, "leases": 5},
        "b": {"started_at": 100.0, "seen_at": 120.0, "live": False, "leases": 0}}}, now=200.0)
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<h2>Replicas</h2>", 1)[1], re.S)
    cells = [re.sub(r"<[^>]+>", "", "|".join(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))) for row in rows]
    assert [c.split("|")[0] for c in cells if c] == ["a (this one)", "b"], cells
    assert "running" in cells[-2] and cells[-2].endswith("|5") and "gone" in cells[-1], cells
    assert "<h2>Replicas</h2>" not in render_status_page({}, now=200.0)   # one daemon alone: no section
