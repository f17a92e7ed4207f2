"""``socialdesk demo``: the sandbox, the daemon on a temporary SQLite file, a scripted day.

Customers post, reply, DM and repost on the sandbox's X, comment and write on its Facebook
Page and Instagram account (cli/demo_meta.py); agents answer in the sandbox's Zendesk (or
Salesforce); the daemon does the rest. The summary comes from an audit of the far side,
not from the daemon's own counters.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

from cli.demo_meta import meta_networks, meta_routes, play_meta
from cli.demo_summary import summary_parts
from cli.output import Progress, plain, show
from cli.wiring import SUBSCRIPTIONS, sandbox_endpoints, subscribe_on_sandbox
from sandbox.scenario import Audit, People, SalesforcePeople, audit, wait_until
from sandbox.server import Sandbox
from sync.config import Config, load_config, parse_config
from sync.daemon import Daemon
from sync.mirror.poster import APPROVAL_RECHECK
from sync.store import Store
from sync.web import WebServer

log = logging.getLogger("socialdesk.demo")

def _demo_mapping(helpdesk: str, kind: str, ticket: str, outage: str, influencer: str, private: str) -> str:
    """The demo's route on one helpdesk: the same rules, guards and viral watch on each;
    ``ticket`` and the rules' actions are that helpdesk's own fields."""
    return f"""\
version: 1
helpdesks:
  {helpdesk}: {{kind: {kind}, sandbox: true}}
networks:
  brand_x: {{kind: x, sandbox: true}}
{meta_networks()}routes:
  - name: x-support
    network: brand_x
    helpdesk: {helpdesk}
    streams: [mentions, dms]
    ticket:
      subject: "{{network}} {{kind}} from @{{author}}"
{ticket}
    rules:
      - name: outage
        when: {{public: true, keywords: [crash, crashes, down, outage]}}
        then: {outage}
      - name: influencer
        when: {{followers_min: 10000}}
        then: {influencer}
      - name: private
        when: {{public: false}}
        then: {private}
    viral: {{enabled: true, refresh: 1s, thresholds: {{like_count: 1000}}}}
    mirror:
      enabled: true
      max_age: 72h
      approval: {{required: true, tag: approved}}
      pii_patterns: [{{name: an order number, regex: '\\bORD-\\d{{6}}\\b'}}]
{meta_routes(helpdesk, kind)}"""


DEMO_MAPPING = _demo_mapping(
    "sandbox_zendesk", "zendesk",
    """      tags: [social, x]
      priority: normal
      group: Social care
      custom_fields: {Social network: x, Social post URL: "{url}"}""",
    "{priority: high, type: incident, group: Escalations, tags: [social_outage]}",
    "{priority: urgent, tags: [social_vip]}", "{tags: [social_private]}")

DEMO_MAPPING_SALESFORCE = _demo_mapping(
    "sandbox_salesforce", "salesforce",
    """      priority: normal
      entitlement: Social Care Standard
      custom_fields: {Social_Network__c: x, Social_Post_Url__c: "{url}"}""",
    "{priority: high, assignment_rule: true}", "{priority: urgent, entitlement: Social Care Premium}",
    "{record_type: Support}")

CUSTOMERS = ["ada_lovelace", "bob_builder", "carol_danvers", "dave_grohl", "erin_reposter", "fay_famous",
             "gus_late"]

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


@dataclasses.dataclass(frozen=True)
class Story:
    """Where the demo tells what happens: each of its ``ACTS`` acts, and the notes between them."""

    act: Callable[[str], None] = lambda _: None
    note: Callable[[str], None] = lambda _: None


# The acts the day is told in: the SLA report, eight on X, three on Facebook and Instagram.
ACTS = 12


def run_demo(config_path: str | None = None, story: Story = Story(), helpdesk: str = "zendesk") -> dict[str, Any]:
    """Play the day; return the summary (mentions, tickets, replies_posted, lost, ...)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="socialdesk-demo-") as tmp, Sandbox(workdir=tmp) as sandbox:
        info = sandbox.info()
        store = Store(f"sqlite:///{Path(tmp) / 'state.sqlite'}")
        store.migrate()
        clock = _DemoClock()
        store.clock = clock  # held replies come due on the demo's time
        daemon = Daemon(_config(config_path, store.url, helpdesk), store, sandbox_endpoints(info), clock=clock)
        daemon.prepare()
        web = WebServer(daemon.web_app(),
                        "127.0.0.1", 0).start()
        try:
            for name, desk in daemon.helpdesks.items():
                if desk.kind == "salesforce":
                    sandbox.connect_push("salesforce", f"{web.url}/hooks/salesforce/{name}")
                    story.note("Salesforce's outbound message points at the daemon (what the shipped Flow does)")
            created = daemon.setup_push(web.url)
            for desk, made in created.items():
                story.note(f"{desk}: {' and '.join(made)} set up in Zendesk (what 'socialdesk setup' does)")
            for name, network in daemon.networks.items():
                if network.kind in SUBSCRIPTIONS:
                    subscribe_on_sandbox(info, network.kind, f"{web.url}/hooks/network/{name}")
            story.note("the Meta app's webhooks point at the daemon (what an admin does in the App Dashboard)")
            people = SalesforcePeople(info, ui=True) if helpdesk == "salesforce" else People(info, ui=True)
            coverage = _coverage(info, daemon, story)
            noun = "case" if helpdesk == "salesforce" else "ticket"
            result = _play(people, daemon, story.act, noun)
            result["meta"] = play_meta(info, people, daemon.run_once, story.act, noun)
            result["sla_report"] = coverage
        finally:
            web.stop()
            store.close()
    counts = result["audit"]
    summary = {
        "mentions": counts.mentions, "tickets": counts.tickets, "comments": result["comments"],
        "replies_posted": counts.replies_posted, "duplicates": counts.duplicates + result["meta"]["duplicates"],
        "quarantined": result["quarantined"], "lost": counts.lost + result["meta"]["lost"],
        "filtered": result["filtered"], "unanswered": counts.unanswered,
        "problems": counts.problems + [f"Meta: {k} {v}" for k, v in result["meta"].items()
                                       if k in ("lost", "duplicates") and v],
        "seconds": round(time.monotonic() - started, 1), "helpdesk": helpdesk, "meta": result["meta"],
        "rules_fired": result["rules_fired"], "held": result["held"],
        "waited_for_approval": result["waited_for_approval"], "escalated_viral": result["escalated_viral"],
        "moved_to_dm": result["moved_to_dm"],
        "sla_warnings": sum("WARNING" in line for line in result["sla_report"]),
        "sla_report": result["sla_report"]}
    return summary


class _DemoClock:
    """The daemon's time in the demo: wall time, plus the days the script lets pass."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _coverage(info: dict[str, Any], daemon: Daemon, story: Story) -> list[str]:
    """Give the sandbox helpdesk a live account's SLAs and triggers; say what socialdesk
    finds for each rule outcome (the report's lines)."""
    from sandbox.service_levels import seed
    from sync.coverage import coverage_report, format_report

    seed(info)
    story.act("09:00 the helpdesk's SLA policies and triggers, as socialdesk sees them for each rule:")
    lines = format_report(coverage_report(daemon.config, daemon.helpdesks))
    for line in lines:
        story.note(f"        {line}")
    return lines


def _play(people: People, daemon: Daemon, progress: Callable[[str], None], noun: str) -> dict[str, Any]:
    brand = people.brand
    route = daemon.routes["x-support"]
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

    def on_x(marker: str) -> bool:
        return any(marker in p["text"] for p in people.posts_by(brand))

    def notes(ticket: dict[str, Any], text: str) -> int:
        return sum(text in c["body"] for c in people.comments(ticket["id"]) if not c["public"])

    progress("09:02 three customers mention the brand; Fay has 52,000 followers")
    people.customer("fay_famous", followers=52_000, verified=True)
    ada = people.post("ada_lovelace", f"@{brand} my order #1001 still hasn't arrived, it's been 2 weeks")
    bob = people.post("bob_builder", f"@{brand} the app crashes every time I log in 😤 https://example.com/shot/77")
    fay = people.post("fay_famous", f"@{brand} where is my order? Bought a lamp last week")
    ada_ticket, bob_ticket, fay_ticket = ticket_of(ada), ticket_of(bob), ticket_of(fay)

    progress("09:10 Ada follows up in her thread; Carol writes a DM; Dave asks; a repost and a brand post")
    people.post("ada_lovelace", "Any news? I need it by Friday.", in_reply_to=ada)
    carol = people.post("carol_danvers", "Hi! Can you change the delivery address on order #2002?", dm=True)
    dave = people.post("dave_grohl", f"@{brand} how do I reset my password?")
    repost = people.post("erin_reposter", "", repost_of=bob)
    people.post(brand, f"@{brand} Spring sale starts today! 🌷")
    gus = people.post("gus_late", f"@{brand} the checkout page keeps timing out")
    carol_ticket, dave_ticket, gus_ticket = ticket_of(carol), ticket_of(dave), ticket_of(gus)
    settle("Ada's follow-up comment", lambda: len(people.comments(ada_ticket["id"])) >= 2)

    progress(f"09:30 agents answer every {noun} (one long answer, one in DM); answers wait for the lead")
    people.answer(ada_ticket["id"], "So sorry, Ada! A replacement ships today with express delivery.")
    people.answer(ada_ticket["id"], "Refund of shipping approved (internal).", public=False)
    people.answer(bob_ticket["id"], LONG_ANSWER)
    people.answer(carol_ticket["id"], "Done: order #2002 now goes to your new address.")
    people.answer(dave_ticket["id"], "Tap 'Forgot password' on the login screen and follow the email.",
                  status="solved")
    people.answer(fay_ticket["id"], "Hi Fay, order ORD-482913 left our warehouse this morning.")
    answered = [ada_ticket, bob_ticket, carol_ticket, dave_ticket, fay_ticket]
    settle("the approval requests", lambda: all(notes(t, "until a lead approves it") for t in answered))
    waiting = len(answered)
    if any(p.get("in_reply_to") or p.get("dm") for p in people.posts_by(brand)):
        raise RuntimeError("a reply left before the lead approved it")

    progress("09:40 the lead approves; the guard holds Fay's answer (it shows her order number)")
    for ticket in answered:
        people.tag(ticket["id"], "approved")
    daemon.clock.offset += APPROVAL_RECHECK  # type: ignore[attr-defined]  # held replies look again within a minute
    settle("the first four answers on X", lambda: all(on_x(m) for m in (
        "replacement ships today", "version 4.2.1", "new address", "Forgot password")))
    settle("the held answer's note", lambda: notes(fay_ticket, "order number") >= 1)
    progress("09:45 the agent moves Fay's conversation to a direct message, where her order number may go")
    people.tag(fay_ticket["id"], "social_dm")
    people.answer(fay_ticket["id"], "Hi Fay, order ORD-482913 left our warehouse this morning; it arrives Friday.")
    settle("Fay's answer by DM and the public note", lambda: on_x("arrives Friday") and on_x("direct message"))

    progress(f"09:50 Bob's post takes off (4,200 likes): his {noun} is escalated")
    people.set_metrics(bob, like_count=4_200, retweet_count=310)
    settle("the viral escalation", lambda: notes(bob_ticket, "taking off") >= 1)

    progress(f"10:15 Dave's {noun} is closed; he writes again in the same thread")
    people.answer(dave_ticket["id"], "Closing as answered.", public=False, status="closed")
    answer_to_dave = next(p["id"] for p in people.posts_by(brand) if p.get("in_reply_to") == dave)
    dave2 = people.post("dave_grohl", "That email never came. Can you check?", in_reply_to=answer_to_dave)
    followup = ticket_of(dave2)
    people.answer(followup["id"], "Resent it just now, please check your spam folder too.")
    people.tag(followup["id"], "approved")
    daemon.clock.offset += APPROVAL_RECHECK  # type: ignore[attr-defined]
    settle("the answer to Dave's follow-up", lambda: on_x("Resent it just now"))

    progress(f"four days later: Gus's {noun} was forgotten; a public answer now is held as too late")
    daemon.clock.offset += 4 * 86400  # type: ignore[attr-defined]
    people.answer(gus_ticket["id"], "Sorry for the trouble, Gus: checkout is fixed now.")
    people.tag(gus_ticket["id"], "approved")
    settle("the late answer's note", lambda: notes(gus_ticket, "h limit") >= 1)
    for _ in range(3):
        step()

    posted = ["replacement ships today", "version 4.2.1", "new address", "Forgot password",
              "arrives Friday", "Resent it just now"]
    result = audit(people, CUSTOMERS, expected_filtered={repost}, answers=posted,
                   notes=["Refund of shipping approved", "Closing as answered"])
    counts = daemon.store.counts().get(route.name, {})
    inbox = counts.get("inbox", {})
    fired: Counter[str] = Counter()
    for ticket, comments in people.conversations():
        for line in (comments[0]["body"] if comments else "").splitlines():
            if line.startswith("Routing rules: "):
                fired.update(name.strip() for name in line.removeprefix("Routing rules: ").split(","))
    held: Counter[str] = Counter()
    for item in daemon.store.failed():
        reason = item["reason"]
        held["personal data" if "seems to contain" in reason else "too old" if "h limit" in reason else "other"] += 1
    return {"audit": result, "comments": route.stats.comments,
            "quarantined": len(daemon.store.failed()), "filtered": inbox.get("filtered", 0),
            "rules_fired": dict(sorted(fired.items())), "held": dict(sorted(held.items())),
            "waited_for_approval": waiting, "escalated_viral": notes(bob_ticket, "taking off"),
            "moved_to_dm": sum(1 for p in people.posts_by(brand) if p.get("dm") and "arrives Friday" in p["text"])}


def render(summary: dict[str, Any]) -> str:
    """The summary as plain text (what ``socialdesk demo`` prints when not on a terminal)."""
    return plain(*summary_parts(summary))


def cmd_demo(args: argparse.Namespace) -> int:
    """``socialdesk demo``: play the day, print the summary; 1 when anything was lost or duplicated."""
    if args.json:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        summary = run_demo(args.config, helpdesk=args.helpdesk)
        print(json.dumps(summary), flush=True)
    else:
        with Progress("the demo's day", total=ACTS) as bar, _daemon_warnings(bar):
            summary = run_demo(args.config, Story(act=lambda line: (bar.advance(), bar.say(line, "bold")),
                                                  note=bar.say), helpdesk=args.helpdesk)
            bar.finish()
        show(*summary_parts(summary))
    return 0 if summary["lost"] == 0 and summary["duplicates"] == 0 else 1


@contextlib.contextmanager
def _daemon_warnings(bar: Progress) -> Iterator[None]:
    """The daemon's warnings told in the story, dimmed, while it plays."""
    class Told(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            bar.say(f"        daemon {record.levelname.lower()}: {record.getMessage()}", "dim")

    root, handler = logging.getLogger(), Told(logging.WARNING)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


__all__ = ["ACTS", "Story", "run_demo", "render", "cmd_demo", "Audit"]
