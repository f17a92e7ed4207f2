"""``socialdesk demo``: the sandbox, the daemon on a temporary SQLite file, a scripted day.

Customers post, reply, DM and repost on the sandbox's X; agents answer in the sandbox's
Zendesk; the daemon does the rest. The summary comes from an audit of the far side,
not from the daemon's own counters.
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from sandbox.scenario import Audit, People, SalesforcePeople, audit, wait_until
from sandbox.server import Sandbox
from sync.config import Config, load_config, parse_config
from sync.daemon import Daemon
from sync.store import Store
from sync.web import WebServer

log = logging.getLogger("socialdesk.demo")

DEMO_MAPPING = """\
version: 1
helpdesks:
  sandbox_zendesk: {kind: zendesk, sandbox: true}
networks:
  brand_x: {kind: x, sandbox: true}
routes:
  - name: x-support
    network: brand_x
    helpdesk: sandbox_zendesk
    streams: [mentions, dms]
    ticket:
      subject: "{network} {kind} from @{author}"
      tags: [social, x]
      priority: normal
      group: Social care
      custom_fields: {Social network: x, Social post URL: "{url}"}
    mirror: {enabled: true}
"""

DEMO_MAPPING_SALESFORCE = """\
version: 1
helpdesks:
  sandbox_salesforce: {kind: salesforce, sandbox: true}
networks:
  brand_x: {kind: x, sandbox: true}
routes:
  - name: x-support
    network: brand_x
    helpdesk: sandbox_salesforce
    streams: [mentions, dms]
    ticket:
      subject: "{network} {kind} from @{author}"
      priority: normal
      entitlement: Social Care Premium
      custom_fields: {Social_Network__c: x, Social_Post_Url__c: "{url}"}
    mirror: {enabled: true}
"""

CUSTOMERS = ["ada_lovelace", "bob_builder", "carol_danvers", "dave_grohl", "erin_reposter"]

LONG_ANSWER = (
    "Thanks for the report, and sorry for the trouble. We found the cause: the last app update "
    "changed how saved passwords are read on some Android phones, so the app closes right after "
    "the login screen. A fix is rolling out today as version 4.2.1. Until it reaches you, please "
    "open Settings, then Apps, then our app, clear its cache (not its data), and log in again. "
    "If it still closes after that, reply here with your phone model and we will call you back."
)


def _config(path: str | None, state_url: str, helpdesk: str) -> Config:
    builtin = DEMO_MAPPING_SALESFORCE if helpdesk == "salesforce" else DEMO_MAPPING
    config = load_config(path) if path else parse_config(builtin, source=f"<demo mapping: {helpdesk}>")
    return dataclasses.replace(config, state_url=state_url)


def run_demo(config_path: str | None = None, progress: Callable[[str], None] = lambda _: None,
             helpdesk: str = "zendesk") -> dict[str, Any]:
    """Play the day; return the summary (mentions, tickets, replies_posted, lost, ...)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="socialdesk-demo-") as tmp, Sandbox(workdir=tmp) as sandbox:
        info = sandbox.info()
        store = Store(f"sqlite:///{Path(tmp) / 'state.sqlite'}")
        store.migrate()
        daemon = Daemon(_config(config_path, store.url, helpdesk), store, info)
        daemon.prepare()
        web = WebServer(daemon.web_app(),
                        "127.0.0.1", 0).start()
        try:
            for name, desk in daemon.helpdesks.items():
                if desk.kind == "salesforce":
                    sandbox.connect_push("salesforce", f"{web.url}/hooks/salesforce/{name}")
                    progress("outbound message pointed at the daemon (what the shipped Flow does)")
            created = daemon.setup_push(web.url)
            if created:
                progress(f"webhook and trigger set up in Zendesk: {created}")
            people = SalesforcePeople(info) if helpdesk == "salesforce" else People(info)
            result = _play(people, daemon, progress)
        finally:
            web.stop()
            store.close()
    counts = result["audit"]
    summary = {
        "mentions": counts.mentions, "tickets": counts.tickets, "comments": result["comments"],
        "replies_posted": counts.replies_posted, "duplicates": counts.duplicates,
        "quarantined": result["quarantined"], "lost": counts.lost,
        "filtered": result["filtered"], "unanswered": counts.unanswered,
        "problems": counts.problems, "seconds": round(time.monotonic() - started, 1), "helpdesk": helpdesk}
    return summary


def _play(people: People, daemon: Daemon, progress: Callable[[str], None]) -> dict[str, Any]:
    brand = people.brand
    route = next(iter(daemon.routes.values()))
    interval = route.network.min_poll_interval

    def step() -> None:
        # A compressed day: each cycle is one poll interval of network time, so the
        # network's rate windows see the cadence a real daemon would have.
        people.advance("x", interval)
        daemon.run_once()

    def settle(what: str, condition: Callable[[], bool]) -> None:
        if not wait_until(condition, step):
            raise RuntimeError(f"the demo stalled waiting for {what}")

    def ticket_of(post_id: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        settle(f"a ticket for post {post_id}",
               lambda: bool(found.update(people.ticket_for(post_id) or {}) or found))
        return found

    def answered(count: int) -> bool:
        return route.stats.replies_posted >= count

    progress("09:02 two customers mention the brand")
    ada = people.post("ada_lovelace", f"@{brand} my order #1001 still hasn't arrived, it's been 2 weeks")
    bob = people.post("bob_builder", f"@{brand} the app crashes every time I log in 😤 https://example.com/shot/77")
    ada_ticket, bob_ticket = ticket_of(ada), ticket_of(bob)

    progress("09:10 Ada follows up in her thread; Carol writes a DM; Dave asks; a repost and a brand post")
    people.post("ada_lovelace", "Any news? I need it by Friday.", in_reply_to=ada)
    carol = people.post("carol_danvers", "Hi! Can you change the delivery address on order #2002?", dm=True)
    dave = people.post("dave_grohl", f"@{brand} how do I reset my password?")
    repost = people.post("erin_reposter", "", repost_of=bob)
    people.post(brand, f"@{brand} Spring sale starts today! 🌷")
    carol_ticket, dave_ticket = ticket_of(carol), ticket_of(dave)
    settle("Ada's follow-up comment", lambda: len(people.comments(ada_ticket["id"])) >= 2)

    progress("09:30 agents answer every ticket (one long answer, one in DM)")
    people.answer(ada_ticket["id"], "So sorry, Ada! A replacement ships today with express delivery.")
    people.answer(ada_ticket["id"], "Refund of shipping approved (internal).", public=False)
    people.answer(bob_ticket["id"], LONG_ANSWER)
    people.answer(carol_ticket["id"], "Done: order #2002 now goes to your new address.")
    people.answer(dave_ticket["id"], "Tap 'Forgot password' on the login screen and follow the email.",
                  status="solved")
    settle("the first four answers on X", lambda: answered(4))

    progress("10:15 Dave's ticket is closed; he writes again in the same thread")
    people.answer(dave_ticket["id"], "Closing as answered.", public=False, status="closed")
    answer_to_dave = next(p["id"] for p in people.posts_by(brand) if p.get("in_reply_to") == dave)
    dave2 = people.post("dave_grohl", "That email never came. Can you check?", in_reply_to=answer_to_dave)
    followup = ticket_of(dave2)
    people.answer(followup["id"], "Resent it just now, please check your spam folder too.")
    settle("the answer to Dave's follow-up", lambda: answered(5))
    for _ in range(3):
        step()

    result = audit(people, CUSTOMERS, expected_filtered={repost})
    counts = daemon.store.counts().get(route.name, {})
    inbox = counts.get("inbox", {})
    return {"audit": result, "comments": route.stats.comments,
            "quarantined": len(daemon.store.failed()), "filtered": inbox.get("filtered", 0)}


def render(summary: dict[str, Any]) -> str:
    ok = summary["lost"] == 0 and summary["duplicates"] == 0 and summary["unanswered"] == 0
    lines = [
        f"socialdesk demo: one scripted day on the sandbox (X -> {summary['helpdesk'].title()} and back)",
        f"  customer posts and DMs : {summary['mentions']}",
        f"  tickets opened         : {summary['tickets']}",
        f"  follow-ups as comments : {summary['comments']}",
        f"  filtered (repost, own) : {summary['filtered']}",
        f"  posts on X by the brand: {summary['replies_posted']}",
        f"  quarantined            : {summary['quarantined']}",
        f"  duplicates             : {summary['duplicates']}",
        f"  lost                   : {summary['lost']}",
        f"  took {summary['seconds']}s -> " + ("all good" if ok else "PROBLEMS: " + "; ".join(summary["problems"])),
    ]
    return "\n".join(lines)


__all__ = ["run_demo", "render", "Audit"]
