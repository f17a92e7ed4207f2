"""A short, busy day on the sandbox for the report and status page tests: a real daemon (X and a
Facebook Page into Zendesk, webhooks served), customers writing, agents answering, one reply
posted, held for approval, held by a guard, failed, one post set aside; and what happened, as
the far side and the script saw it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cli.common import load_mapping
from cli.wiring import sandbox_endpoints, subscribe_on_sandbox
from sandbox.scenario import MetaPeople, People
from sync.daemon import Daemon
from sync.store import Store
from sync.web import WebServer
import harness

MAPPING = """\
version: 1
state: sqlite:///{state}
helpdesks:
  desk: {{kind: zendesk, sandbox: true}}
networks:
  brand_x: {{kind: x, sandbox: true}}
  brand_page: {{kind: facebook, sandbox: true}}
routes:
  - name: x-support
    network: brand_x
    helpdesk: desk
    streams: [mentions, dms]
    ticket: {{tags: [social, x], priority: normal, group: Social care}}
    rules:
      - name: outage
        when: {{public: true, keywords: [down]}}
        then: {{priority: high}}
    mirror: {{enabled: true, approval: {{required: true, tag: approved}}}}
  - name: facebook-support
    network: brand_page
    helpdesk: desk
    streams: [mentions, dms]
    ticket: {{tags: [social, facebook], priority: normal, group: Social care}}
    mirror: {{enabled: true, max_age: 168h}}
"""


class Clock:
    """The daemon's time: the sandbox's, moved forward with it."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Happened:
    """What the script did, by customer: post ids, ticket ids, the replies and their fate."""

    posts: dict[str, str] = field(default_factory=dict)
    tickets: dict[str, str] = field(default_factory=dict)
    quarantined: str = ""
    held_for_approval: str = ""      # the ticket whose reply waits for a lead
    held_by_guard: str = ""
    failed: str = ""
    posted: dict[str, str] = field(default_factory=dict)   # customer -> the brand's post answering them


class Day:
    """The daemon of MAPPING on ``sandbox``, its state in ``tmp``, and the people on both sides."""

    def __init__(self, sandbox: Any, tmp: Path) -> None:
        self.info = harness.reset(sandbox.info(), "x", "zendesk", "meta")
        self.http = requests.Session()
        self.http.verify = self.info["ca_bundle"]
        self.http.trust_env = False
        self.people, self.meta = People(self.info), MetaPeople(self.info)
        self.mapping = tmp / "mapping.yaml"
        self.mapping.write_text(MAPPING.format(state=tmp / "state.sqlite"))
        self.clock = Clock(self.control("x", "GET", "clock")["epoch"] - time.time())
        self.store = Store(f"sqlite:///{tmp / 'state.sqlite'}", clock=self.clock)
        self.store.migrate()
        self.control("meta", "POST", "webhooks", {"duplicate": 0, "drop": 0, "delay": 0})
        self.daemon = Daemon(load_mapping(str(self.mapping)), self.store, sandbox_endpoints(self.info),
                             clock=self.clock)
        self.daemon.bind_accounts()
        self.daemon.prepare()
        self.web = WebServer(self.daemon.web_app(), "127.0.0.1", 0).start()
        subscribe_on_sandbox(self.info, "facebook", f"{self.web.url}/hooks/network/brand_page")

    def close(self) -> None:
        self.web.stop()
        self.store.close()

    def control(self, service: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.http.request(method, f"{self.info['services'][service]['url']}/_sandbox/{path}", json=body,
                                   params=params)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def advance(self, seconds: float) -> None:
        """Time passes for the networks, Zendesk and the daemon alike."""
        for service in ("x", "zendesk", "meta"):
            self.people.advance(service, seconds)
        self.clock.offset += seconds

    def settle(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            assert self.meta.delivered()
            self.daemon.run_once()
            self.advance(30)

    def answer(self, ticket_id: str, text: str) -> None:
        self.people.answer(int(ticket_id), text)
        self.advance(120)   # past Zendesk's incremental export lag
        self.settle(2)

    def ticket(self, key: str) -> str:
        found = [t for t in self.people.tickets() if t.get("external_id") == key]
        assert len(found) == 1, (key, found)
        return str(found[0]["id"])

    def play(self) -> Happened:
        """The day; returns what happened."""
        people, meta, brand, done = self.people, self.meta, self.people.brand, Happened()
        done.posts["ana"] = people.post("ana_p", f"@{brand} my order never came")
        done.posts["ben"] = people.post("ben_k", f"@{brand} the app is down again")
        done.posts["cyd"] = people.post("cyd_m", "where is my refund?", dm=True)
        done.posts["eve"] = people.post("eve_r", f"@{brand} do you ship to Oslo?")
        done.posts["nora"] = meta.say("facebook", "nora_fb", "Is the brass lamp back in stock?")
        meta.say("facebook", "otto_fb", "My parcel arrived broken", dm=True)
        done.posts["otto"] = meta.posts_by("otto_fb")[0]["id"]
        self.settle(4)
        self.advance(60)
        keys = {"ana": "x:post:", "ben": "x:post:", "cyd": "x:dm:", "eve": "x:post:", "nora": "facebook:post:",
                "otto": "facebook:dm:"}
        done.tickets = {who: self.ticket(prefix + done.posts[who]) for who, prefix in keys.items()}

        self.control("zendesk", "POST", "faults", {"path_prefix": "/api/v2/tickets", "method": "POST",
                                                   "status": 422, "count": 1})
        done.quarantined = done.posts["dee"] = people.post("dee_q", f"@{brand} hello?")
        self.settle(2)
        people.post("ana_p", "it was order 12, a blue lamp", in_reply_to=done.posts["ana"])
        self.settle(2)

        self.answer(done.tickets["ana"], "Sorry Ana! A new lamp leaves today.")     # held: approval
        people.tag(done.tickets["ana"], "approved")
        self.advance(90)
        self.settle(2)                                                               # ... then posted
        self.answer(done.tickets["nora"], "Yes Nora, it is back since Monday.")     # posted, no approval
        people.tag(done.tickets["ben"], "approved")
        done.held_by_guard = done.tickets["ben"]
        self.answer(done.tickets["ben"], "Fixed now; write to help@acme.example if not.")   # a guard holds it
        done.held_for_approval = done.tickets["cyd"]
        self.answer(done.tickets["cyd"], "Your refund left on Monday.")            # waits for approval
        self.control("x", "POST", "faults", {"path_prefix": "/2/tweets", "method": "POST", "status": 403,
                                             "count": 1})
        done.failed = done.tickets["ana"]
        self.answer(done.tickets["ana"], "We will call you tomorrow.")             # X refuses it: failed
        done.posted = {"ana": next(p["id"] for p in people.posts_by(brand) if "A new lamp" in p["text"]),
                       "nora": next(p["id"] for p in meta.brand_posts() if "back since Monday" in p["text"])}
        return done
