"""Facebook and Instagram end to end: the daemon of examples/meta.yaml on the sandbox, its
web receiver subscribed as Meta's webhook, tickets in the sandbox's Zendesk.

Comments and DMs become tickets by webhook (and by the reconciliation read when a delivery
is lost); agents' answers go back under the comment or as a message; a private answer past
Meta's windows is held with a note and nothing is sent."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import sqlalchemy as sa

from cli.common import load_mapping
from cli.wiring import SUBSCRIPTIONS, sandbox_endpoints, subscribe_on_sandbox
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.daemon import Daemon
from sync.store import Store
from sync.web import WebServer
import harness

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta.yaml"
DAY = 86400.0

sb = pytest.fixture(scope="module")(harness.own_sandbox)


class Clock:
    """The daemon's time: the sandbox's, moved forward with it."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


class MetaDesk:
    """The daemon of examples/meta.yaml on a sandbox, with the people on both sides."""

    def __init__(self, sb: Sandbox, store: Store) -> None:
        self.info = harness.reset(sb.info(), "meta", "zendesk")
        self.meta = self.info["services"]["meta"]
        self.http = requests.Session()
        self.http.verify = self.info["ca_bundle"]
        self.http.trust_env = False
        self.people = People(self.info)
        self.control("POST", "webhooks", {"duplicate": 0, "drop": 0, "delay": 0})
        epoch = self.control("GET", "clock")["epoch"]
        self.clock = Clock(epoch - time.time())
        store.clock = self.clock
        self.store = store
        config = load_mapping(str(EXAMPLE))
        self.daemon = Daemon(config, store, sandbox_endpoints(self.info), clock=self.clock)
        self.daemon.bind_accounts()
        self.daemon.prepare()
        self.web = WebServer(self.daemon.web_app(), "127.0.0.1", 0).start()
        self.daemon.serve_media(self.web.url)
        for name, network in self.daemon.networks.items():
            if network.kind in SUBSCRIPTIONS:
                subscribe_on_sandbox(self.info, network.kind, self.hook(name))

    def hook(self, name: str) -> str:
        return f"{self.web.url}/hooks/network/{name}"

    def stop(self) -> None:
        self.web.stop()

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.http.request(method, f"{self.meta['url']}/_sandbox/{path}", json=body, params=params)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def say(self, network: str, author: str, text: str, **extra: Any) -> str:
        return str(self.control("POST", "posts", {"network": network, "author": author, "text": text,
                                                  **extra})["id"])

    def page_posts(self) -> list[dict[str, Any]]:
        return self.control("GET", "posts", author=self.meta["page_id"])["posts"]

    def advance(self, seconds: float) -> None:
        """Time passes for Meta, Zendesk and the daemon alike."""
        self.control("POST", "clock", {"advance": seconds})
        self.people.advance("zendesk", seconds)
        self.clock.offset += seconds

    def settle(self, rounds: int = 3) -> None:
        """Deliveries made, then the daemon's steps, a few times over."""
        for _ in range(rounds):
            assert self.control("GET", "webhooks", wait=10)["idle"]
            self.daemon.run_once()
            self.advance(30)

    def ticket_for(self, network: str, post_id: str, dm: bool = False) -> dict[str, Any]:
        key = f"{network}:{'dm' if dm else 'post'}:{post_id}"
        found = [t for t in self.people.tickets() if t["external_id"] == key]
        assert len(found) == 1, (key, [t["external_id"] for t in self.people.tickets()])
        return found[0]

    def answer(self, ticket: dict[str, Any], text: str) -> None:
        self.people.answer(ticket["id"], text)
        self.advance(120)

    def notes(self, ticket: dict[str, Any]) -> list[str]:
        return [c["body"] for c in self.people.comments(ticket["id"]) if not c["public"]]


@pytest.fixture
def desk(sb: Sandbox, store: Store) -> Iterator[MetaDesk]:
    world = MetaDesk(sb, store)
    try:
        yield world
    finally:
        world.stop()


def test_a_comment_on_each_network_and_a_dm_become_tickets_and_answers_go_back_in_place(desk: MetaDesk) -> None:
    fb = desk.say("facebook", "cara", "My order never arrived")
    ig = desk.say("instagram", "dev_ig", "Is this in stock?")
    dm = desk.say("facebook", "milo", "Hi, can you check my refund?", dm=True)
    desk.settle()
    fb_ticket = desk.ticket_for("facebook", fb)
    ig_ticket = desk.ticket_for("instagram", ig)
    dm_ticket = desk.ticket_for("facebook", desk.control("GET", "posts", author="milo")["posts"][0]["id"], dm=True)
    assert "My order never arrived" in fb_ticket["description"]
    assert {"social", "facebook", "social_comment"} <= set(fb_ticket["tags"])
    assert "social_dm" in dm_ticket["tags"]
    assert _stream(desk.store, f"facebook:post:{fb}") == "push"      # Meta's webhook brought it

    desk.answer(fb_ticket, "Sorry Cara, a new parcel leaves today.")
    desk.answer(ig_ticket, "Yes, all sizes are in stock.")
    desk.answer(dm_ticket, "Your refund went out this morning.")
    desk.settle()
    sent = {(p["text"], p["in_reply_to"], p["dm"]) for p in desk.page_posts()}
    assert ("Sorry Cara, a new parcel leaves today.", fb, False) in sent, sent    # under the comment
    assert any(text.endswith("Your refund went out this morning.") and is_dm for text, _, is_dm in sent), sent
    ig_sent = desk.control("GET", "posts", author=desk.meta["ig_user_id"])["posts"]
    assert [(p["text"], p["in_reply_to"], p["dm"]) for p in ig_sent if p["in_reply_to"]] == [
        ("@dev_ig Yes, all sizes are in stock.", ig, False)], ig_sent
    for ticket in (fb_ticket, ig_ticket, dm_ticket):
        assert any("socialdesk posted this reply" in n for n in desk.notes(ticket)), desk.notes(ticket)
    assert desk.store.failed() == []


def test_a_dm_answer_takes_the_human_agent_tag_after_a_day_and_is_held_past_seven_days(desk: MetaDesk) -> None:
    desk.say("facebook", "nora", "Where is my parcel?", dm=True)
    desk.settle(2)
    message = desk.control("GET", "posts", author="nora")["posts"][0]["id"]
    ticket = desk.ticket_for("facebook", message, dm=True)
    desk.advance(2 * DAY)
    desk.answer(ticket, "It is with the courier, sorry for the wait.")
    desk.settle(2)
    sent = [p for p in desk.page_posts() if p["dm"]]
    assert len(sent) == 1 and sent[0]["tag"] == "HUMAN_AGENT", sent

    desk.advance(8 * DAY)
    desk.answer(ticket, "Following up on your parcel.")
    desk.settle(2)
    assert len([p for p in desk.page_posts() if p["dm"]]) == 1, "nothing sent past the 7-day window"
    held = [n for n in desk.notes(ticket) if "holding this reply" in n]
    assert len(held) == 1 and "7 days" in held[0] and "publicly" in held[0], desk.notes(ticket)
    assert desk.store.failed() == []

    desk.say("facebook", "nora", "Still nothing!", dm=True)   # the customer writes again
    desk.settle(2)
    desk.advance(400)                                         # the held reply's next look
    desk.settle(2)
    texts = [p["text"] for p in desk.page_posts() if p["dm"]]
    assert len(texts) == 2 and any(t.endswith("Following up on your parcel.") for t in texts), texts


def _signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_the_subscription_check_and_signatures_are_the_apps_own(desk: MetaDesk) -> None:
    url = desk.hook("brand_page")
    check = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    assert requests.get(url, params={**check, "hub.verify_token": "guess"}).status_code == 403
    answer = requests.get(url, params={**check, "hub.verify_token": desk.meta["verify_token"]})
    assert (answer.status_code, answer.text) == (200, "1158201444")

    body = json.dumps({"object": "page", "entry": [{"id": desk.meta["page_id"], "time": 1, "changes": []}]}).encode()
    assert requests.post(url, data=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert requests.post(url, data=body, headers=_signed("not-the-app-secret", body)).status_code == 401
    kept = requests.post(url, data=body, headers=_signed(desk.meta["app_secret"], body))
    assert kept.status_code == 200 and kept.json()["kept"] == 1
    assert requests.get(desk.hook("nobody")).status_code == 404


def test_duplicate_and_reordered_deliveries_open_one_ticket(desk: MetaDesk) -> None:
    desk.control("POST", "webhooks", {"duplicate": 1.0, "delay": 5})
    first = desk.say("facebook", "olga", "The app crashes on login")
    desk.say("facebook", "olga", "Still crashing", on=first)
    desk.settle(3)
    tickets = [t for t in desk.people.tickets() if t["external_id"].startswith("facebook:")]
    assert len(tickets) == 1, [t["external_id"] for t in tickets]
    bodies = [c["body"] for c in desk.people.comments(tickets[0]["id"])]
    assert sum("Still crashing" in b for b in bodies) == 1 and sum("crashes on login" in b for b in bodies) == 1


def test_a_delivery_meta_never_made_is_read_by_the_reconciliation(desk: MetaDesk) -> None:
    desk.control("POST", "webhooks", {"drop": 1.0})
    lost = desk.say("instagram", "pia", "Wrong size delivered")
    pushed = desk.say("facebook", "ravi", "Billing question")
    desk.settle(2)
    desk.ticket_for("instagram", lost)
    desk.ticket_for("facebook", pushed)
    assert _stream(desk.store, f"instagram:post:{lost}") == "mentions"   # read, never pushed
    desk.control("POST", "webhooks", {"drop": 0})
    later = desk.say("facebook", "ravi", "Also, my invoice", on=pushed)
    desk.settle(2)
    assert _stream(desk.store, f"facebook:post:{later}") in ("push", "mentions")
    assert len([t for t in desk.people.tickets() if t["external_id"].startswith("facebook:")]) == 1


def _stream(store: Store, key: str) -> str | None:
    from sync.store.schema import inbox

    with store.engine.connect() as conn:
        return conn.execute(sa.select(inbox.c.stream).where(inbox.c.source_key == key)).scalar()


def test_an_edit_and_a_hidden_comment_are_noted_on_the_ticket(desk: MetaDesk) -> None:
    comment = desk.say("facebook", "quinn", "Your support is slow")
    desk.settle(2)
    ticket = desk.ticket_for("facebook", comment)
    desk.control("POST", f"posts/{comment}/edit", {"text": "Your support is very slow"})
    desk.control("POST", f"posts/{comment}/hide")
    desk.settle(2)
    notes = desk.notes(ticket)
    assert any("edited" in n and "Your support is very slow" in n for n in notes), notes
    assert any("hidden" in n for n in notes), notes
    assert all(c["public"] is False for c in desk.people.comments(ticket["id"])[1:]
               if "edited" in c["body"] or "hidden" in c["body"])


def test_a_commenter_is_answered_privately_by_one_private_reply(desk: MetaDesk) -> None:
    """The agent moves a comment's conversation to private (the dm tag): the answer goes as
    Meta's Private Reply to that comment, once; a second private answer to the same comment
    is refused by Meta and held with a note, never sent twice."""
    comment = desk.say("facebook", "sami", "My card was charged twice")
    desk.settle(2)
    ticket = desk.ticket_for("facebook", comment)
    desk.people.tag(ticket["id"], "social_dm")
    desk.answer(ticket, "Sorry Sami, we refunded the second charge: details in your inbox.")
    desk.settle(2)
    private = [p for p in desk.page_posts() if p["dm"]]
    assert [(p["in_reply_to"], p["text"]) for p in private] == [
        (comment, "Sorry Sami, we refunded the second charge: details in your inbox.")], private
    assert not [p for p in desk.page_posts() if p["in_reply_to"] == comment and not p["dm"]], "no public note"
    assert any("Private Reply" in n for n in desk.notes(ticket)), desk.notes(ticket)

    desk.answer(ticket, "One more thing: the refund takes 3 days.")
    desk.settle(2)
    assert len([p for p in desk.page_posts() if p["dm"]]) == 1, "one Private Reply per comment"
    said = [n for n in desk.notes(ticket) if "could not post this reply" in n]
    assert len(said) == 1 and "private reply" in said[0].lower(), desk.notes(ticket)
    assert [f["flow"] for f in desk.store.failed()] == ["mirror"]


def test_a_photo_is_linked_through_the_daemon_and_opens_after_metas_link_expired(desk: MetaDesk) -> None:
    """The ticket links the photo through the daemon (never Meta's CDN link, which expires,
    never a copy): the link redirects to a link Meta gives at that moment."""
    desk.control("POST", "cdn", {"ttl": 3600})
    comment = desk.say("facebook", "tara", "The lamp arrived like this", media=[{"type": "image"}])
    desk.settle(2)
    assert desk.store.failed() == [], [f["reason"] for f in desk.store.failed()]
    body = desk.ticket_for("facebook", comment)["description"]
    link = next(line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Image: "))
    assert link.startswith(f"{desk.web.url}/media/") and "cdn" not in link, body

    def opened() -> int:
        hop = requests.get(link, allow_redirects=False)
        assert hop.status_code == 302 and hop.headers["Cache-Control"] == "no-store", hop.text
        return desk.http.get(hop.headers["Location"]).status_code

    assert opened() == 200
    desk.advance(2 * 3600)            # Meta's link of then has expired; the ticket's still opens
    assert opened() == 200
    forged = link[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB")
    assert requests.get(forged, allow_redirects=False).status_code == 404


def test_a_revoked_page_token_makes_the_routes_wait_with_what_to_do_and_nothing_is_lost(desk: MetaDesk) -> None:
    desk.control("POST", "tokens", {"action": "revoke", "token": "page"})
    comment = desk.say("facebook", "vera", "Nobody answers here")
    desk.settle(2)
    health = desk.daemon.status()["routes"]["facebook-support"]
    assert health["state"] == "waiting", health
    assert "Page token" in (health["reason"] or "") and desk.meta["page_token"] not in str(health), health
    # What Meta pushed is kept and written (it needs no Graph read); nothing is read or sent.
    assert desk.store.counts()["facebook-support"]["pushes"] == {"done": 1}

    desk.control("POST", "tokens", {"action": "restore", "token": "page"})
    desk.advance(400)                                 # the route's next re-check
    desk.settle(3)
    assert desk.daemon.status()["routes"]["facebook-support"]["state"] == "active"
    desk.ticket_for("facebook", comment)
