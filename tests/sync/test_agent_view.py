"""The agent view the Zendesk ticket sidebar reads (packaging/zendesk/README.md), served by a
real daemon on the sandbox: an X conversation (mapping.yaml, with approval) and a Messenger
one (examples/meta.yaml), their replies posted, held and failed, the token and the account
checked, and the JSON fed to the packaged sidebar in headless Chromium."""
from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml
from werkzeug.test import Client

from cli.common import load_mapping
from cli.wiring import SUBSCRIPTIONS, sandbox_endpoints, subscribe_on_sandbox
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.agent_view import TOKEN_ENV
from sync.daemon import Daemon
from sync.store import Store
from sync.web import WebServer
import harness

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "agent-view-5f4dcc3b5aa765d61d8327deb882cf99"
DAY = 86400.0
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
BRAND_STATES = {"queued", "posting", "posted", "held", "failed"}
HOLDS = {"approval", "messaging_window", "guard", "length"}

sb = pytest.fixture(scope="module")(harness.own_sandbox)


def epoch(text: str) -> float:
    return datetime.strptime(text, ISO_Z).replace(tzinfo=timezone.utc).timestamp()


def assert_readme_shape(view: dict[str, Any]) -> None:
    """The 200 answer as packaging/zendesk/README.md defines it, field by field."""
    assert set(view) == {"ticket_id", "now", "network", "network_name", "author", "post", "window", "thread"}, view
    assert view["network"] in ("x", "facebook", "instagram") and view["network_name"]
    assert set(view["author"]) <= {"handle", "name", "url", "followers", "verified"}, view["author"]
    assert set(view["post"]) <= {"id", "kind", "text", "url", "created_at"} and view["post"]["id"], view["post"]
    assert view["window"] is None or set(view["window"]) == {"closes_at", "human_agent_until", "applies_to"}
    times = [view["now"], view["post"].get("created_at"), *(i["at"] for i in view["thread"])]
    if view["window"]:
        times += [view["window"]["closes_at"], view["window"]["human_agent_until"]]
    for at in filter(None, times):
        epoch(at)   # UTC, to the second, with Z
    for item in view["thread"]:
        assert item["by"] in ("customer", "brand") and isinstance(item["text"], str), item
        if item["by"] == "customer":
            assert set(item) <= {"by", "text", "at", "url"}, item
            continue
        assert item["state"] in BRAND_STATES and item["comment_id"], item
        assert set(item) <= {"by", "text", "at", "url", "state", "hold", "why", "release_tag", "comment_id"}, item
        assert ("hold" in item) == (item["state"] == "held") and item.get("hold", "approval") in HOLDS, item
        assert bool(item.get("why")) == (item["state"] in ("held", "failed")), item
    assert [epoch(i["at"]) for i in view["thread"]] == sorted(epoch(i["at"]) for i in view["thread"])


class Clock:
    """The daemon's time: the sandbox's, moved forward with it."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


class Desk:
    """A daemon of a mapping on the sandbox, its web server (the agent view among its routes),
    and the people on both sides."""

    def __init__(self, sb: Sandbox, store: Store, mapping: Path, network: str) -> None:
        self.info = harness.reset(sb.info(), network, "zendesk")
        self.network = network
        self.service = self.info["services"][network]
        self.http = requests.Session()
        self.http.verify = self.info["ca_bundle"]
        self.http.trust_env = False
        self.people = People(self.info)
        if network == "meta":
            self.control("POST", "webhooks", {"duplicate": 0, "drop": 0, "delay": 0})
        self.clock = Clock(self.control("GET", "clock")["epoch"] - time.time())
        store.clock = self.clock
        self.store = store
        self.daemon = Daemon(load_mapping(str(mapping)), store, sandbox_endpoints(self.info), clock=self.clock)
        self.daemon.bind_accounts()
        self.daemon.prepare()
        self.web = WebServer(self.daemon.web_app(), "127.0.0.1", 0).start()
        for name, adapter in self.daemon.networks.items():
            if adapter.kind in SUBSCRIPTIONS:
                subscribe_on_sandbox(self.info, adapter.kind, f"{self.web.url}/hooks/network/{name}")
        # The account the sidebar names: a local Zendesk answers to its host.
        self.account = self.info["services"]["zendesk"]["url"].split("://", 1)[1]

    def stop(self) -> None:
        self.web.stop()

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.http.request(method, f"{self.service['url']}/_sandbox/{path}", json=body, params=params)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def advance(self, seconds: float) -> None:
        """Time passes for the network, Zendesk and the daemon alike."""
        self.people.advance(self.network, seconds)
        self.people.advance("zendesk", seconds)
        self.clock.offset += seconds

    def settle(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            if self.network == "meta":
                assert self.control("GET", "webhooks", wait=10)["idle"]
            self.daemon.run_once()
            self.advance(30)

    def answer(self, ticket_id: Any, text: str) -> None:
        self.people.answer(ticket_id, text)
        self.advance(120)   # past Zendesk's incremental export lag

    def ask(self, ticket_id: Any, account: str | None = None, token: str | None = TOKEN,
            scheme: str = "Bearer") -> requests.Response:
        """The request Zendesk's proxy makes for the sidebar."""
        headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
        return requests.get(f"{self.web.url}/api/agent-view/tickets/{ticket_id}",
                            params={"account": self.account if account is None else account}, headers=headers)

    def view(self, ticket_id: Any) -> dict[str, Any]:
        answer = self.ask(ticket_id)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Cache-Control"] == "no-store"
        view = answer.json()
        assert_readme_shape(view)
        return view


def approval_mapping(tmp_path: Path) -> Path:
    """mapping.yaml, with replies waiting for a lead's tag."""
    mapping = yaml.safe_load((ROOT / "mapping.yaml").read_text())
    mapping["state"] = f"sqlite:///{tmp_path / 'unused.sqlite'}"
    mapping["routes"][0]["mirror"]["approval"] = {"required": True, "tag": "approved"}
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.fixture
def x_desk(sb: Sandbox, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    desk = Desk(sb, store, approval_mapping(tmp_path), "x")
    try:
        yield desk
    finally:
        desk.stop()


@pytest.fixture
def meta_desk(sb: Sandbox, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    desk = Desk(sb, store, ROOT / "examples" / "meta.yaml", "meta")
    try:
        yield desk
    finally:
        desk.stop()


def x_conversation(desk: Desk) -> tuple[dict[str, Any], str, str]:
    """A customer's mention and a follow-up in its thread, as a ticket: (ticket, root, follow-up)."""
    people = desk.people
    people.customer("ana_p", name="Ana P.", followers=1520, verified=True)
    root = people.post("ana_p", f"@{people.brand} my order never came")
    desk.settle(2)
    later = people.post("ana_p", "it was order 12, a blue lamp", in_reply_to=root)
    desk.settle(2)
    ticket = people.ticket_for(root)
    assert ticket is not None
    return ticket, root, later


def test_an_x_ticket_shows_its_post_and_each_reply_in_its_state(x_desk: Desk) -> None:
    desk, people = x_desk, x_desk.people
    ticket, root, later = x_conversation(desk)

    view = desk.view(ticket["id"])
    assert view["ticket_id"] == str(ticket["id"]) and (view["network"], view["network_name"]) == ("x", "X")
    assert view["author"] == {"handle": "ana_p", "name": "Ana P.", "url": "https://x.com/ana_p", "followers": 1520,
                              "verified": True}
    assert view["post"]["id"] == root and view["post"]["kind"] == "mention"
    assert view["post"]["text"] == f"@{people.brand} my order never came"
    assert view["post"]["url"] == f"https://x.com/ana_p/status/{root}"
    assert view["window"] is None                       # X limits no public answer in time
    assert view["thread"] == [{"by": "customer", "text": f"@{people.brand} it was order 12, a blue lamp",
                               "at": view["thread"][0]["at"], "url": f"https://x.com/ana_p/status/{later}"}]
    assert epoch(view["post"]["created_at"]) < epoch(view["thread"][0]["at"])
    assert abs(epoch(view["now"]) - desk.clock()) < 5   # the daemon's clock, not the browser's

    desk.answer(ticket["id"], "Sorry Ana! A new lamp leaves today.")
    desk.settle(2)
    held = desk.view(ticket["id"])["thread"][-1]
    assert held["state"] == "held" and held["hold"] == "approval" and held["release_tag"] == "approved", held
    assert held["why"] == "awaiting approval: a lead adds the tag approved to the ticket"
    assert held["text"] == "Sorry Ana! A new lamp leaves today."
    assert not [p for p in people.posts_by(people.brand) if "A new lamp" in p["text"]]

    people.tag(ticket["id"], "approved")                # the sidebar's "Release this reply"
    desk.advance(90)
    desk.settle(2)
    posted = next(p for p in people.posts_by(people.brand) if "A new lamp" in p["text"])
    desk.answer(ticket["id"], "Or write to help@acme.example with the order number.")
    desk.settle(2)
    desk.control("POST", "faults", {"path_prefix": "/2/tweets", "method": "POST", "status": 403, "count": 1})
    desk.answer(ticket["id"], "We will call you tomorrow.")
    desk.settle(2)

    thread = desk.view(ticket["id"])["thread"]
    assert [(i["by"], i.get("state")) for i in thread] == [
        ("customer", None), ("brand", "posted"), ("brand", "held"), ("brand", "failed")], thread
    assert thread[1]["url"] == f"https://x.com/{people.brand}/status/{posted['id']}" and "why" not in thread[1]
    assert thread[2]["hold"] == "guard" and "an email address" in thread[2]["why"], thread[2]
    assert "release_tag" not in thread[2]               # a guard is answered again, not released
    assert thread[3]["why"] and not thread[3]["why"].startswith("SkippableError"), thread[3]
    comments = {c["body"]: str(c["id"]) for c in people.comments(ticket["id"]) if c["public"]}
    for item in thread[1:]:                             # each reply names the agent's comment it came from
        assert item["comment_id"] == comments[item["text"]], (item, comments)


def test_a_reply_waiting_and_one_being_posted(x_desk: Desk) -> None:
    ticket, _, _ = x_conversation(x_desk)
    route = "x-support"
    x_desk.store.enqueue_reply(route, "880001", str(ticket["id"]), "On it.")   # as the reply reader queues it
    view = x_desk.view(ticket["id"])
    assert view["thread"][-1] == {"by": "brand", "text": "On it.", "at": view["now"], "state": "queued",
                                  "comment_id": "880001"}
    claimed = x_desk.store.claim_outbox(route)        # a poster has it now
    assert [r.comment_id for r in claimed] == ["880001"]
    assert x_desk.view(ticket["id"])["thread"][-1]["state"] == "posting"


def test_the_token_comes_first_then_the_account_then_the_ticket(x_desk: Desk) -> None:
    ticket, _, _ = x_conversation(x_desk)
    wrong = [x_desk.ask(ticket["id"], token=None), x_desk.ask(ticket["id"], token="guess"),
             x_desk.ask(ticket["id"], token=TOKEN[:-1]), x_desk.ask(ticket["id"], token=TOKEN + "0"),
             x_desk.ask(ticket["id"], scheme="Basic"), x_desk.ask(ticket["id"], account="acme", token="guess")]
    for answer in wrong:
        assert answer.status_code == 401 and answer.json() == {"error": "no valid agent view token"}, answer.text
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert x_desk.ask(ticket["id"], scheme="bearer").status_code == 200   # the scheme is case-insensitive

    other = x_desk.ask(ticket["id"], account="acme")
    assert other.status_code == 404 and "acme" in other.json()["error"], other.text
    for missing in ("99999999", "abc", str(ticket["id"]) + "0"):
        answer = x_desk.ask(missing)
        assert answer.status_code == 404 and answer.json() == {"error": f"ticket {missing} has no social post"}
    for answer in (*wrong, other, x_desk.ask(ticket["id"])):
        assert TOKEN not in answer.text and TOKEN not in str(answer.headers)


def test_without_a_token_set_the_view_is_off(x_desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket, _, _ = x_conversation(x_desk)
    monkeypatch.delenv(TOKEN_ENV)
    app = Client(x_desk.daemon.web_app())
    for header in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        answer = app.get(f"/api/agent-view/tickets/{ticket['id']}", query_string={"account": x_desk.account},
                         headers=header)
        assert answer.status_code == 401 and TOKEN_ENV in answer.get_json()["error"], answer.get_data()


def test_a_messenger_conversation_shows_its_window_and_a_reply_held_past_it(meta_desk: Desk) -> None:
    desk = meta_desk
    desk.control("POST", "posts", {"network": "facebook", "author": "nora", "text": "Where is my parcel?",
                                   "dm": True})
    desk.settle(2)
    message = desk.control("GET", "posts", author="nora")["posts"][0]["id"]
    ticket = next(t for t in desk.people.tickets() if t["external_id"] == f"facebook:dm:{message}")

    view = desk.view(ticket["id"])
    assert (view["network"], view["network_name"], view["post"]["kind"]) == ("facebook", "Facebook", "dm")
    written = epoch(view["post"]["created_at"])
    assert view["window"] == {"closes_at": time.strftime(ISO_Z, time.gmtime(written + DAY)),
                              "human_agent_until": time.strftime(ISO_Z, time.gmtime(written + 7 * DAY)),
                              "applies_to": "Messenger replies"}
    assert "id" not in view["author"] and view["author"]["handle"]

    desk.advance(8 * DAY)
    desk.answer(ticket["id"], "Following up on your parcel.")
    desk.settle(2)
    view = desk.view(ticket["id"])
    held = view["thread"][-1]
    assert held["state"] == "held" and held["hold"] == "messaging_window", held
    assert held["why"].startswith("outside the messaging window") and "7 days" in held["why"], held
    assert epoch(view["window"]["human_agent_until"]) < epoch(view["now"])   # closed for a person too

    desk.control("POST", "posts", {"network": "facebook", "author": "nora", "text": "Still nothing!", "dm": True})
    desk.settle(2)
    desk.advance(400)                                   # the held reply's next look
    desk.settle(2)
    view = desk.view(ticket["id"])
    # The reply is where the agent wrote it, before the message that let it go out.
    assert [(i["by"], i.get("state"), i["text"]) for i in view["thread"]] == [
        ("brand", "posted", "Following up on your parcel."), ("customer", None, "Still nothing!")], view["thread"]
    again = epoch(view["thread"][1]["at"])
    assert epoch(view["window"]["closes_at"]) == again + DAY   # the window counts from the last message


def test_the_sidebar_shows_what_the_daemon_answers(x_desk: Desk, tmp_path: Path) -> None:
    """The daemon's JSON, fed to the packaged sidebar in the fake Zendesk page of
    tests/system/test_sidebar.py: the two sides fit."""
    sidebar = pytest.importorskip("system.test_sidebar", reason="the sidebar harness (tests/system/test_sidebar.py) "
                                                         "needs playwright and Chromium")
    sidebar.ensure_sdk_bundle()
    ticket, root, _ = x_conversation(x_desk)
    x_desk.answer(ticket["id"], "Sorry Ana! A new lamp leaves today.")
    x_desk.settle(2)
    view = x_desk.view(ticket["id"])

    site = sidebar.Site(sidebar.build_zendesk(tmp_path / "app", sidebar.DAEMON))
    site.answer = (200, view)
    site.configure()
    try:
        with sidebar.playwright_api.sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            try:
                ctx = chromium.new_context(viewport={"width": 900, "height": 1000})
                ctx.route("https://**/*", lambda route: route.abort())
                ctx.route(sidebar.SDK_CDN_URL, lambda route: route.fulfill(
                    path=str(sidebar.SDK_BUNDLE), content_type="application/javascript"))
                page = ctx.new_page()
                page.goto(f"{site.base}/host/index.html")
                frame = page.frame_locator("iframe#app")
                frame.locator(".author").first.wait_for(timeout=10_000)
                assert frame.locator(".author .handle").inner_text() == "@ana_p"
                assert frame.locator(".author .handle").get_attribute("href") == "https://x.com/ana_p"
                assert frame.locator(".author .network").inner_text() == "X"
                assert frame.locator(".post").inner_text() == view["post"]["text"]
                assert frame.locator("a.open-post").get_attribute("href") == f"https://x.com/ana_p/status/{root}"
                assert frame.locator(".window").count() == 0
                assert frame.locator("ol.thread > li").count() == 2
                assert frame.locator("ol.thread li.brand .state").all_inner_texts() == ["Held until a lead approves"]
                assert frame.locator("button.release").count() == 1
            finally:
                chromium.close()
    finally:
        site.server.shutdown()



def test_a_reply_too_long_for_the_network_is_held_as_the_report_says_not_failed() -> None:
    from types import SimpleNamespace

    from sync.agent_view import AgentView, Source
    from sync.store.history import reply_state

    reason = "ReplyTooLong: reply weighs 311 characters; the limit is 280"
    row = SimpleNamespace(body="x" * 311, created_at=0.0, comment_id="7", posted="[]", state="failed",
                          last_error=reason, lease_until=0.0)
    item = AgentView._reply(row, Source("r", None, "approved"), now=0.0)
    assert (item["state"], item["hold"], item["why"]) == reply_state("failed", reason) == (
        "held", "length", "reply weighs 311 characters; the limit is 280")
    assert "release_tag" not in item                    # answered again, shorter; not released
