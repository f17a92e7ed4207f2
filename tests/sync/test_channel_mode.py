"""Channel Framework mode end to end on the sandbox: the daemon with a Zendesk helpdesk in
``mode: channel``, its ``/channel/`` endpoints served over HTTPS, the integration installed
in the sandbox's Zendesk as an admin installs it (manifest URL, then the admin UI).

A mention becomes an any_channel ticket that Zendesk makes from socialdesk's resource; an
agent's public reply comes back through channelback and is posted on X in the thread;
pushes are batched 256 to a request; Zendesk's pulls follow the cursor socialdesk keeps in
``state``; a reply the guards hold is a failed channelback, reported by Zendesk."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
import sqlalchemy as sa

from cli.channel import ChannelMount
from cli.common import open_store
from cli.wiring import sandbox_endpoints
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.config import load_config, parse_config
from sync.daemon import Daemon
from sync.store.schema import channel_resources, inbox
from sync.web import WebServer
import harness

sb = pytest.fixture(scope="module")(harness.own_sandbox)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zendesk-channel.yaml"


def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()`` once it is truthy; fails after ``timeout`` seconds."""
    end = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > end:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        time.sleep(0.1)


def mapping(tmp: Path, info: dict[str, Any], ticket: str) -> str:
    """The mapping a customer writes for production, pointed at the sandbox: explicit URL,
    CA bundle, a confidential OAuth client, ``mode: channel``."""
    zd = info["services"]["zendesk"]
    return f"""\
version: 1
state: sqlite:///{tmp / 'state.sqlite'}
helpdesks:
  acme:
    kind: zendesk
    url: {zd['url']}
    auth: client_credentials
    client_id: {zd['oauth_client_id']}
    client_secret: {{env: SOCIALDESK_ZENDESK_CLIENT_SECRET}}
    ca_bundle: {info['ca_bundle']}
    mode: channel
networks:
  brand_x:
    kind: x
    sandbox: true
routes:
  - name: x-support
    network: brand_x
    helpdesk: acme
    streams: [mentions, dms]
    ticket: {ticket}
    mirror:
      enabled: true
      pii_patterns:
        - {{name: order number, regex: '\\bORD-\\d{{6}}\\b'}}
"""


TICKET = ('{subject: "{network} {kind} from @{author}", tags: [social, x], priority: high, group: Social care, '
          'custom_fields: {Social post URL: "{url}"}}')


class ChannelDesk:
    """``socialdesk run`` in channel mode on a sandbox, with the people on both sides."""

    def __init__(self, sb: Sandbox, tmp: Path) -> None:
        self.info = harness.reset(sb.info(), "x", "zendesk")
        self.zd = self.info["services"]["zendesk"]
        self.http = requests.Session()
        self.http.verify = self.info["ca_bundle"]
        self.http.trust_env = False
        self.people = People(self.info)
        self.mapping_text = mapping(tmp, self.info, TICKET)
        self.env = {"SOCIALDESK_ZENDESK_CLIENT_SECRET": self.zd["oauth_client_secret"]}
        config = parse_config(self.mapping_text, env=self.env)
        self.store = open_store(config)
        self.daemon = Daemon(config, self.store, sandbox_endpoints(self.info))
        self.daemon.bind_accounts()
        self.daemon.prepare()
        self.channel = ChannelMount.of(self.daemon)
        app = self.channel.wrap(self.daemon.web_app())
        self.web = WebServer(app, "127.0.0.1", 0).start()
        self.manifest_url = self.channel.start(app, self.web.url, self.info)
        self.service = self.channel.service
        assert self.service is not None
        self.integration = self.listing()[0]
        self.instance = self.integration["instance_id"]

    def stop(self) -> None:
        self.channel.stop()
        self.web.stop()
        self.store.close()

    def listing(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.zd['url']}/_sandbox/channel_integrations").json()["integrations"]

    def account(self) -> dict[str, Any]:
        return self.http.get(f"{self.zd['url']}/_sandbox/channel_integrations/{self.instance}").json()

    def pull_now(self) -> dict[str, Any]:
        answer = self.http.post(f"{self.zd['url']}/_sandbox/channel_integrations/{self.instance}/pull")
        assert answer.status_code == 200, answer.text
        return answer.json()["pull"]

    def tickets(self) -> list[dict[str, Any]]:
        return self.people.tickets()

    def channel_post(self, path: str, form: dict[str, str]) -> requests.Response:
        """A call as Zendesk makes it, to the daemon's https address."""
        assert self.channel.public is not None
        return requests.post(f"{self.channel.public}/channel/{path}", data=form, verify=self.channel.ca_bundle,
                             timeout=30)


@pytest.fixture
def desk(sb: Sandbox, tmp_path: Path) -> Iterator[ChannelDesk]:
    running = ChannelDesk(sb, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_the_admin_installs_the_integration_from_its_manifest(desk: ChannelDesk) -> None:
    """Zendesk read the manifest (the sandbox holds it to manifest.json), showed the admin UI
    and made the account from the name and metadata the page posted back."""
    row = desk.integration
    assert row["manifest_url"] == desk.manifest_url and desk.manifest_url.startswith("https://")
    urls = row["manifest"]["urls"]
    assert {"admin_ui", "pull_url", "channelback_url", "clickthrough_url", "healthcheck_url",
            "event_callback_url"} <= set(urls)
    assert row["status"] == "active" and row["instance_name"] == "socialdesk (sandbox)"
    # The metadata is sealed: it names the tenant and holds no token in clear.
    assert "token" not in row["metadata"] and len(row["metadata"]) < 5000
    # Zendesk's event that it made the account (confirmed with Zendesk: events are not signed).
    until(lambda: any(e["type_id"] == "create_integration_instance" and e["status"] == "delivered"
                      for e in desk.account()["events"]))
    tenant = desk.service.tenant_for(row["metadata"], activate=False)
    assert tenant.state == "active" and tenant.helpdesk == "acme" and tenant.instance_push_id == row["instance_push_id"]
    # An admin editing the account keeps the same tenant.
    answer = desk.http.post(f"{desk.zd['url']}/_sandbox/channel_integrations/{desk.instance}/admin_ui",
                            json={"form": {"name": "Social (X)"}})
    assert answer.status_code == 200, answer.text
    assert desk.account()["instance_name"] == "Social (X)"
    assert desk.account()["metadata"] == row["metadata"]


def test_a_mention_becomes_an_any_channel_ticket_and_the_reply_goes_back_in_the_thread(desk: ChannelDesk) -> None:
    people = desk.people
    post = people.post("carol", f"@{people.brand} my order never arrived")
    desk.daemon.run_once()
    ticket = until(lambda: next(iter(desk.tickets()), None))
    assert ticket["via"]["channel"] == "any_channel"
    assert ticket["subject"] == "X mention from @carol" and ticket["priority"] == "high"
    assert {"socialdesk", "social", "x", "social_mention"} <= set(ticket["tags"])
    first = people.comments(ticket["id"])[0]
    assert first["body"].startswith(f"@{people.brand} my order never arrived") and first["public"]
    # The group has no field name in a resource: set through REST once Zendesk said which ticket it made.
    group = desk.info["services"]["zendesk"]["groups"]["Social care"]
    until(lambda: desk.tickets()[0].get("group_id") == group)

    people.answer(ticket["id"], "Sorry Carol, we are looking into it now.")
    reply = until(lambda: next(iter(people.posts_by(people.brand)), None))
    assert reply["in_reply_to"] == post
    assert reply["text"] == "@carol Sorry Carol, we are looking into it now."
    sent = until(lambda: [c for c in desk.account()["channelbacks"] if c["status"] == "sent"])
    assert sent[0]["external_id"] == f"x-support:x:post:{reply['id']}"

    # The customer answers in the thread: a comment on the same ticket, no new ticket.
    people.post("carol", f"@{people.brand} thanks, any news?", in_reply_to=reply["id"])
    desk.daemon.run_once()
    until(lambda: len(people.comments(ticket["id"])) == 3)
    assert len(desk.tickets()) == 1
    # An internal note never leaves Zendesk.
    people.answer(ticket["id"], "note to self: call the warehouse", public=False)
    time.sleep(1.0)
    assert len(people.posts_by(people.brand)) == 1


def test_a_direct_message_is_answered_by_direct_message(desk: ChannelDesk) -> None:
    people = desk.people
    people.post("dave", "where is my parcel?", dm=True)
    desk.daemon.run_once()
    ticket = until(lambda: next(iter(desk.tickets()), None))
    assert "social_dm" in ticket["tags"]
    people.answer(ticket["id"], "Hi Dave, it leaves today.")
    sent = until(lambda: [p for p in desk.http.get(f"{desk.info['services']['x']['url']}/_sandbox/posts").json()["posts"]
                          if p.get("dm") and p["author"] == people.brand])
    assert sent[0]["text"] == "Hi Dave, it leaves today."


def write_all(desk: ChannelDesk) -> None:
    for _ in range(12):
        desk.daemon.run_once()
        if desk.store.counts().get("inbox", {}).get("pending", 0) == 0:
            return
    raise AssertionError("the inbox did not empty")


def test_a_burst_goes_out_in_full_pushes_and_the_rest_after_the_wait(desk: ChannelDesk) -> None:
    """520 posts (a backlog) are written a push's worth at a time; the pusher sends each full
    push at once and holds the last 8 until the oldest of them has waited: ceil(520/256)
    pushes in all."""
    pusher = desk.service.pusher
    pusher.stop()                     # rounds made by the test alone, on a clock it moves
    people = desk.people
    for i in range(520):
        people.post(f"cust{i}", f"@{people.brand} question {i}")
    write_all(desk)
    assert pusher.round() == 512
    assert [p["count"] for p in desk.account()["pushes"]] == [256, 256]
    assert pusher.round() == 0        # 8 wait: not a push of their own yet
    wait = pusher.rule("acme").wait
    assert 2.0 <= wait <= 5.0
    pusher.clock = lambda: time.time() + wait + 0.5
    assert pusher.round() == 8
    pushes = desk.account()["pushes"]
    assert [p["count"] for p in pushes] == [256, 256, 8] and len(pushes) == math.ceil(520 / 256)
    assert all(r["status"]["code"] == "success" for p in pushes for r in p["results"])
    assert len(desk.tickets()) == 520
    # Pushed resources are not offered again to Zendesk's pull.
    assert desk.pull_now()["results"] == []


def test_a_lone_mention_is_pushed_after_the_wait_with_those_that_came_meanwhile(desk: ChannelDesk) -> None:
    """The pusher's thread, as the daemon runs it: a mention is not pushed on its own at once;
    one more arriving within the wait goes in the same push, sent once the first has waited."""
    wait = desk.service.pusher.rule("acme").wait     # the default: no push_wait in the mapping
    people = desk.people
    people.post("lena", f"@{people.brand} is my order on its way?")
    desk.daemon.run_once()
    time.sleep(0.5)
    assert desk.account()["pushes"] == []
    people.post("omar", f"@{people.brand} and mine?")
    desk.daemon.run_once()
    pushes = until(lambda: desk.account()["pushes"])
    time.sleep(0.5)
    assert [p["count"] for p in desk.account()["pushes"]] == [2]
    rows = [desk.store.channel_resource("acme", r["external_resource_id"]) for r in pushes[0]["results"]]
    waited = min(r.pushed_at for r in rows) - min(r.created_at for r in rows)
    assert wait <= waited < wait + 3.0, waited   # the wait, plus at most the thread's look-again interval
    assert len(until(lambda: desk.tickets())) == 2


CRASH_AFTER_PUSH = """import json, sys
from cli.common import open_store
from cli.wiring import sandbox_endpoints
from sync.channel import channel_for
from sync.config import parse_config
from sync.daemon import Daemon
text, env, info = json.load(sys.stdin)
config = parse_config(text, env=env)
daemon = Daemon(config, open_store(config), sandbox_endpoints(info))
channel_for(daemon).pusher.flush()
"""


def test_a_daemon_killed_between_push_and_record_makes_no_second_ticket(desk: ChannelDesk) -> None:
    """A daemon process pushes three resources and is killed (SIGKILL) before it records
    the push; the next push sends them again, Zendesk knows their external ids
    (``already_imported``) and socialdesk records them as imported: three tickets, not six,
    and nothing left for Zendesk's pull."""
    desk.service.pusher.stop()
    people = desk.people
    for who in ("pia", "quinn", "rolf"):
        people.post(who, f"@{people.brand} a question from {who}")
    desk.daemon.run_once()
    env = dict(os.environ, SOCIALDESK_CRASH_AT="channel.after_push:1")
    child = subprocess.run([sys.executable, "-c", CRASH_AFTER_PUSH], input=json.dumps(
        [desk.mapping_text, desk.env, desk.info]), env=env, capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert len(desk.tickets()) == 3                                     # Zendesk has them
    assert len(desk.store.unpushed("acme", 256)) == 3                   # socialdesk did not record it
    assert desk.service.pusher.flush() == 3
    pushes = desk.account()["pushes"]
    assert [sorted({r["status"]["code"] for r in p["results"]}) for p in pushes] == [["success"],
                                                                                    ["already_imported"]]
    assert len(desk.tickets()) == 3
    assert desk.store.unpushed("acme", 256) == []
    assert desk.pull_now()["results"] == []


def test_pulls_follow_the_cursor_socialdesk_keeps_in_state(desk: ChannelDesk) -> None:
    desk.service.pusher.stop()        # nothing pushed: Zendesk's pulls bring everything
    people = desk.people
    for who in ("erin", "frank"):
        people.post(who, f"@{people.brand} hello from {who}")
    desk.daemon.run_once()
    pulled = desk.pull_now()
    assert pulled["status"] == "ok" and [r["status"]["code"] for r in pulled["results"]] == ["success", "success"]
    state = json.loads(pulled["state"])
    assert state["after"] >= 2
    assert len(desk.tickets()) == 2
    again = desk.pull_now()
    assert again["results"] == [] and again["state_sent"] == pulled["state"]
    people.post("gina", f"@{people.brand} one more")
    desk.daemon.run_once()
    third = desk.pull_now()
    assert [r["external_resource_id"] for r in third["results"]] == [
        f"x-support:x:post:{people.posts_by('gina')[0]['id']}"]
    assert json.loads(third["state"])["after"] > state["after"]
    assert len(desk.tickets()) == 3


def test_a_reply_the_guards_hold_is_a_failed_channelback_and_nothing_is_posted(desk: ChannelDesk) -> None:
    people = desk.people
    people.post("hank", f"@{people.brand} my order is late")
    desk.daemon.run_once()
    ticket = until(lambda: next(iter(desk.tickets()), None))
    people.answer(ticket["id"], "Write to us at help@acme.example with ORD-123456")
    failed = until(lambda: [c for c in desk.account()["channelbacks"] if c["status"] == "failed"])
    assert "held" in failed[0]["error"] and "email address" in failed[0]["error"]
    assert failed[0]["http_status"] == 422
    reported = until(lambda: [e for e in desk.account()["events"]
                              if e["type_id"] == "channelback" and e["status"] == "delivered"])
    assert "held" in reported[0]["event"]["error"]
    assert people.posts_by(people.brand) == []
    replies = desk.daemon.metrics.registry.get_sample_value   # counted as in REST mode

    def counted(outcome: str, reason: str) -> float:
        return replies("socialdesk_replies_total", {"route": "x-support", "network": "x", "outcome": outcome,
                                                    "reason": reason}) or 0.0

    assert counted("held", "personal_data") == 1
    # Answered without the address, the reply goes out.
    people.answer(ticket["id"], "We are on it, Hank.")
    until(lambda: people.posts_by(people.brand))
    until(lambda: counted("posted", "none") == 1)


def test_a_channelback_made_again_posts_once(desk: ChannelDesk) -> None:
    people = desk.people
    post = people.post("ivy", f"@{people.brand} is the shop open?")
    desk.daemon.run_once()
    until(lambda: desk.tickets())
    metadata = desk.account()["metadata"]
    # Found by its parent alone (Zendesk sends thread_id only for threads that named one).
    form = {"message": "Yes, until 6pm.", "parent_id": f"x-support:x:post:{post}", "metadata": metadata,
            "request_unique_identifier": "req-1"}
    first = desk.channel_post("channelback", form)
    second = desk.channel_post("channelback", form)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json() and first.json()["allow_channelback"] is True
    assert len(people.posts_by(people.brand)) == 1
    assert first.json()["external_id"] == f"x-support:x:post:{people.posts_by(people.brand)[0]['id']}"


def test_a_write_retried_after_its_effect_hands_zendesk_the_post_once(desk: ChannelDesk) -> None:
    """The daemon stopped after handing a post to Zendesk, before it recorded the row as
    done: the retry finds the post's thread and records it, handing nothing twice."""
    people = desk.people
    post = people.post("kim", f"@{people.brand} my voucher does not work")
    desk.daemon.run_once()
    until(lambda: desk.tickets())
    with desk.store.engine.begin() as conn:   # the outcome of the first attempt, lost
        conn.execute(sa.update(inbox).where(inbox.c.source_key == f"x:post:{post}").values(
            state="pending", attempts=1, lease_until=0.0, done_at=None, ticket_id=None))
    desk.daemon.run_once()
    with desk.store.engine.connect() as conn:
        row = conn.execute(sa.select(inbox.c.state, inbox.c.ticket_id, inbox.c.attempts)
                           .where(inbox.c.source_key == f"x:post:{post}")).one()
        handed = conn.execute(sa.select(sa.func.count()).select_from(channel_resources)).scalar()
    assert (row.state, row.attempts, handed) == ("done", 2, 1)
    assert row.ticket_id == desk.store.channel_resource("acme", f"x-support:x:post:{post}").thread_ref
    time.sleep(0.5)
    assert len(desk.tickets()) == 1
    assert sum(p["count"] for p in desk.account()["pushes"]) == 1


def test_clickthrough_opens_the_post_on_x(desk: ChannelDesk) -> None:
    people = desk.people
    post = people.post("jack", f"@{people.brand} look at this")
    desk.daemon.run_once()
    until(lambda: desk.tickets())
    answer = desk.http.get(f"{desk.zd['url']}/_sandbox/channel_integrations/{desk.instance}/clickthrough",
                           params={"external_id": f"x-support:x:post:{post}"}).json()["clickthrough"]
    assert answer["status"] == 302 and post in answer["location"]
    unknown = desk.http.get(f"{desk.zd['url']}/_sandbox/channel_integrations/{desk.instance}/clickthrough",
                            params={"external_id": "x-support:x:post:1"}).json()["clickthrough"]
    assert unknown["status"] == 404 and unknown["location"] is None


def test_the_example_mapping_runs_x_into_zendesk_in_channel_mode(sb: Sandbox, tmp_path: Path) -> None:
    """examples/zendesk-channel.yaml as ``socialdesk run --sandbox`` runs it: its routing rule
    set at creation, the reply in the thread."""
    config = load_config(EXAMPLE)
    info = harness.reset(sb.info(), "x", "zendesk")
    store = open_store(parse_config(EXAMPLE.read_text().replace("sqlite:///socialdesk-channel.sqlite",
                                                                f"sqlite:///{tmp_path / 'state.sqlite'}")))
    daemon = Daemon(config, store, sandbox_endpoints(info))
    daemon.bind_accounts()
    daemon.prepare()
    channel = ChannelMount.of(daemon)
    app = channel.wrap(daemon.web_app())
    web = WebServer(app, "127.0.0.1", 0).start()
    try:
        assert channel.start(app, web.url, info) is not None
        people = People(info)
        post = people.post("zoe", f"@{people.brand} the app is down for me")
        daemon.run_once()
        ticket = until(lambda: next(iter(people.tickets()), None))
        assert ticket["via"]["channel"] == "any_channel"
        assert (ticket["priority"], ticket["type"]) == ("high", "incident") and "social_outage" in ticket["tags"]
        people.answer(ticket["id"], "We are fixing it, Zoe.")
        reply = until(lambda: next(iter(people.posts_by(people.brand)), None))
        assert reply["in_reply_to"] == post and reply["text"] == "@zoe We are fixing it, Zoe."
    finally:
        channel.stop()
        web.stop()
        store.close()
