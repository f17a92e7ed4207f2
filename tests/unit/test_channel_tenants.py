"""One socialdesk serving two Zendesk accounts in Channel Framework mode: two sandboxes'
Zendesks (subdomains ``sandbox`` and ``globex``), each with the integration installed and
an account added through the admin UI. Each account is its own tenant: it pulls and is
pushed only its own routes' posts, its metadata opens nothing of the other's, its refused
token holds only its own pushes; forged or deleted metadata is refused, and the admin UI
hands out nothing Zendesk did not send."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from cli.channel import ChannelMount, install_on_sandbox
from cli.common import open_store
from cli.wiring import sandbox_endpoints
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.config import parse_config
from sync.daemon import Daemon
from sync.web import WebServer
import harness


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[tuple[Sandbox, Sandbox]]:
    """Account A (X and Zendesk ``sandbox``) and account B (a second Zendesk, ``globex``)."""
    a = Sandbox(settings=harness.INSTANT).start()
    b = Sandbox(services=("zendesk",), settings={"zendesk": {"subdomain": "globex"}}).start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    end = time.time() + timeout
    while not (value := check()):
        if time.time() > end:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.1)
    return value


def desk(name: str, info: dict[str, Any]) -> str:
    zd = info["services"]["zendesk"]
    return f"""\
  {name}:
    kind: zendesk
    url: {zd['url']}
    auth: client_credentials
    client_id: {zd['oauth_client_id']}
    client_secret: {{env: SECRET_{name.upper()}}}
    ca_bundle: {info['ca_bundle']}
    mode: channel
"""


class TwoAccounts:
    """The daemon with helpdesks ``acme`` (A's Zendesk: the brand's mentions) and ``globex``
    (B's Zendesk: the brand's DMs), both installed; pushes only when a test runs a round."""

    def __init__(self, a: Sandbox, b: Sandbox, tmp: Path) -> None:
        self.a = harness.reset(a.info(), "x", "zendesk")
        self.b = harness.reset(b.info(), "zendesk")
        text = (f"version: 1\nstate: sqlite:///{tmp / 'state.sqlite'}\nhelpdesks:\n{desk('acme', self.a)}"
                f"{desk('globex', self.b)}networks:\n  brand_x:\n    kind: x\n    sandbox: true\nroutes:\n"
                "  - {name: x-acme, network: brand_x, helpdesk: acme, streams: [mentions]}\n"
                "  - {name: x-globex, network: brand_x, helpdesk: globex, streams: [dms]}\n")
        env = {"SECRET_ACME": self.a["services"]["zendesk"]["oauth_client_secret"],
               "SECRET_GLOBEX": self.b["services"]["zendesk"]["oauth_client_secret"]}
        config = parse_config(text, env=env)
        self.store = open_store(config)
        self.daemon = Daemon(config, self.store, sandbox_endpoints(self.a))
        self.daemon.bind_accounts()
        self.daemon.prepare()
        self.channel = ChannelMount.of(self.daemon)
        app = self.channel.wrap(self.daemon.web_app())
        self.web = WebServer(app, "127.0.0.1", 0).start()
        manifest_url = self.channel.start(app, self.web.url, self.a)
        assert manifest_url is not None and self.channel.service is not None
        self.service = self.channel.service
        self.service.pusher.stop()
        self.instance = {"acme": self.row(self.a)["instance_id"], "globex": install_on_sandbox(self.b, manifest_url)}
        self.people = People(self.a)
        for info in (self.a, self.b):   # each account made, confirmed with its Zendesk: active
            until(lambda info=info: self.tenant(info).state == "active")

    def stop(self) -> None:
        self.channel.stop()
        self.web.stop()
        self.store.close()

    def zendesk(self, info: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, f"{info['services']['zendesk']['url']}/_sandbox/{path}",
                                  verify=info["ca_bundle"], timeout=30, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def row(self, info: dict[str, Any]) -> dict[str, Any]:
        return self.zendesk(info, "GET", "channel_integrations")["integrations"][0]

    def metadata(self, info: dict[str, Any]) -> str:
        return str(self.row(info)["metadata"])

    def tenant(self, info: dict[str, Any]) -> Any:
        return self.service.tenant_for(self.metadata(info), activate=False)

    def pull(self, info: dict[str, Any], name: str) -> list[str]:
        pulled = self.zendesk(info, "POST", f"channel_integrations/{self.instance[name]}/pull")["pull"]
        assert pulled["status"] == "ok", pulled
        return [r["external_resource_id"] for r in pulled["results"]]

    def tickets(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """An account's tickets, as its agent sees them."""
        zd = info["services"]["zendesk"]
        answer = requests.get(f"{zd['url']}/api/v2/tickets.json", verify=info["ca_bundle"], timeout=30,
                              headers={"Authorization": f"Bearer {zd['agent_oauth_token']}"})
        answer.raise_for_status()
        return list(answer.json()["tickets"])

    def call(self, path: str, method: str = "POST", **kwargs: Any) -> requests.Response:
        """A request to the daemon's /channel/ endpoints, as Zendesk (or anyone) makes it."""
        return requests.request(method, f"{self.channel.public}/channel/{path}", verify=self.channel.ca_bundle,
                                timeout=30, allow_redirects=False, **kwargs)

    def posts(self) -> dict[str, str]:
        """(mention id, DM id) from a customer of the brand."""
        mention = self.people.post("carol", f"@{self.people.brand} parcel lost")
        dm = self.people.post("dave", "my card was charged twice", dm=True)
        self.daemon.run_once()
        return {"acme": f"x-acme:x:post:{mention}", "globex": f"x-globex:x:dm:{dm}"}


@pytest.fixture
def two(sandboxes: tuple[Sandbox, Sandbox], tmp_path: Path) -> Iterator[TwoAccounts]:
    running = TwoAccounts(*sandboxes, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_each_account_pulls_and_is_pushed_only_its_own_routes_posts(two: TwoAccounts) -> None:
    first = two.posts()
    assert two.pull(two.a, "acme") == [first["acme"]]
    assert two.pull(two.b, "globex") == [first["globex"]]
    second = two.posts()
    assert two.service.pusher.flush() == 2
    pushed = {name: [r["external_resource_id"] for p in two.zendesk(info, "GET", f"channel_integrations/"
                                                                               f"{two.instance[name]}")["pushes"]
                     for r in p["results"]]
              for name, info in (("acme", two.a), ("globex", two.b))}
    assert pushed == {"acme": [second["acme"]], "globex": [second["globex"]]}
    # Each Zendesk made its own tickets: A one per mention, B one for the DM conversation.
    assert len(two.people.tickets()) == 2
    theirs = two.tickets(two.b)
    assert len(theirs) == 1 and "social_dm" in theirs[0]["tags"]


def test_one_accounts_metadata_opens_nothing_of_the_other(two: TwoAccounts) -> None:
    resources = two.posts()
    theirs = {"message": "Refund sent!", "parent_id": resources["globex"], "metadata": two.metadata(two.a),
              "request_unique_identifier": "r-1"}
    answer = two.call("channelback", data=theirs)
    assert answer.status_code == 404 and "not one socialdesk handed to this Zendesk account" in answer.json()["error"]
    row = two.store.channel_resource("globex", resources["globex"])
    thread = two.store.channel_thread(row.thread_ref) if row is not None else None
    assert thread is not None
    answer = two.call("channelback", data={**theirs, "parent_id": "", "thread_id": thread.thread_id})
    assert answer.status_code == 404
    assert two.people.posts_by(two.people.brand) == []
    # Its own thread, with its own metadata: posted.
    mine = two.call("channelback", data={**theirs, "parent_id": resources["acme"], "request_unique_identifier": "r-2"})
    assert mine.status_code == 200, mine.text
    assert len(two.people.posts_by(two.people.brand)) == 1
    # The health check names only the account's own routes.
    health = two.call("healthcheck", "GET", params={"metadata": two.metadata(two.b)})
    assert health.status_code == 200 and health.json()["routes"] == {"x-globex": "active"}
    assert two.call("healthcheck", "GET").json() == {"status": "ok"}


def test_forged_or_altered_metadata_is_refused(two: TwoAccounts) -> None:
    two.posts()
    real = two.metadata(two.a)
    for forged in ("", "x", real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),
                   '{"tenant": "anything", "helpdesk": "acme"}'):
        answer = two.call("pull", data={"metadata": forged, "state": ""})
        assert answer.status_code in (400, 401), (forged, answer.text)
        assert answer.json()["error"]
    answer = two.call("channelback", data={"message": "hi", "parent_id": "x-acme:x:post:1", "metadata": "forged"})
    assert answer.status_code == 401
    assert two.call("pull", data={"state": ""}).json() == {"error": "metadata is required"}


def test_the_admin_ui_hands_out_nothing_zendesk_did_not_send(two: TwoAccounts) -> None:
    zd = two.a["services"]["zendesk"]["url"]
    form = {"subdomain": "sandbox", "return_url": f"{zd}/zendesk/channels/integration_service_instances/editor_finalizer",
            "instance_push_id": "not-an-instance", "zendesk_access_token": "guessed-token", "locale": "en-US"}
    assert two.call("admin", data={**form, "subdomain": "initech"}).status_code == 404
    assert two.call("admin", data={**form, "return_url": "https://evil.example/steal"}).status_code == 400
    assert two.call("admin", data={k: v for k, v in form.items() if k != "zendesk_access_token"}).status_code == 401
    assert two.call("admin", data={k: v for k, v in form.items() if k != "return_url"}).status_code == 400
    assert two.call("admin", "GET").status_code == 400
    # A page for a post Zendesk did not make: its metadata stays useless, Zendesk confirms no such token.
    page = two.call("admin", data=form)
    assert page.status_code == 200 and 'name="metadata"' in page.text
    metadata = page.text.split('name="metadata" value="', 1)[1].split('"', 1)[0]
    answer = two.call("pull", data={"metadata": metadata, "state": ""})
    assert answer.status_code == 401 and "does not confirm" in answer.json()["error"]
    assert two.tenant(two.a).state == "active"    # the real account is untouched


def test_a_deleted_account_is_refused_and_the_other_goes_on(two: TwoAccounts) -> None:
    metadata = two.metadata(two.b)
    two.zendesk(two.b, "DELETE", f"channel_integrations/{two.instance['globex']}")
    until(lambda: two.store.tenants("globex") == [])
    answer = two.call("pull", data={"metadata": metadata, "state": ""})
    assert answer.status_code == 401 and "deleted" in answer.json()["error"]
    resources = two.posts()
    assert two.pull(two.a, "acme") == [resources["acme"]]


def test_one_accounts_refused_push_token_holds_only_its_own_pushes(two: TwoAccounts) -> None:
    acme = two.tenant(two.a)
    two.store.update_tenant(acme.id, push_token=two.store.sealer.seal({"token": "revoked"}))
    resources = two.posts()
    assert two.service.pusher.flush() == 1
    refused = two.store.tenant(acme.id)
    assert refused.push_blocked_until > time.time() and "refused the push token" in (refused.last_error or "")
    assert "revoked" not in (refused.last_error or "")
    pushed = two.zendesk(two.b, "GET", f"channel_integrations/{two.instance['globex']}")["pushes"]
    assert [r["external_resource_id"] for p in pushed for r in p["results"]] == [resources["globex"]]
    # Zendesk's pulls still bring the first account's posts.
    assert two.pull(two.a, "acme") == [resources["acme"]]
