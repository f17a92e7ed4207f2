"""The mapping's ``webhook.secret`` is honoured: the webhook socialdesk sets up in Zendesk
signs with it, deliveries are checked with it, and a webhook signing with another secret is
refused at setup instead of its secret silently taking over. End to end on the sandbox:
real HTTPS deliveries, signed by the sandbox, to the daemon's web server."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.base import FatalError
from cli.wiring import sandbox_endpoints
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.config import parse_config
from sync.daemon import Daemon
from sync.store import Store
from sync.web import WebServer
import harness

sb = pytest.fixture(scope="module")(harness.own_sandbox)

SECRET = "c29jaWFsZGVzay10ZXN0LXNpZ25pbmctc2VjcmV0LTAx"

MAPPING = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {brand: {kind: x, sandbox: true}}
routes:
  - {name: t, network: brand, helpdesk: zd, ticket: {tags: [social]}}
"""


@pytest.fixture
def info(sb: Sandbox) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


def _mapping(secret: str | None) -> str:
    return MAPPING + (f"webhook:\n  listen: 127.0.0.1:8787\n  secret: {secret}\n" if secret else "")


class Admin:
    """The Zendesk admin's API (the webhooks API needs an admin)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.api = harness.ZendeskHarness(info).adapter()._api

    def webhook(self) -> dict[str, Any]:
        hooks = self.api("GET", "webhooks", "list webhooks")["webhooks"]
        assert len(hooks) == 1, hooks
        return hooks[0]

    def signing_secret(self, hook_id: str) -> str:
        return self.api("GET", f"webhooks/{hook_id}/signing_secret", "read secret")["signing_secret"]["secret"]


def _answered(people: People, daemon: Daemon, text: str) -> int:
    """A customer writes, the daemon opens the ticket, an agent answers it: the trigger calls
    the daemon. The status the daemon answered that delivery with."""
    post = people.post("pia", f"@{people.brand} {text}")
    daemon.run_once()
    ticket = people.ticket_for(post)
    assert ticket is not None
    people.answer(ticket["id"], f"About {text}: yes")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        deliveries = [d for d in people.http.get(f"{people.info['services']['zendesk']['url']}"
                                                 "/_sandbox/webhook_deliveries").json()["deliveries"]
                      if str(d["ticket_id"]) == str(ticket["id"]) and d["status_code"] is not None]
        if deliveries:
            return int(deliveries[0]["status_code"])
        time.sleep(0.05)
    raise AssertionError("no delivery reached the daemon")


def test_the_webhook_is_made_with_the_configured_secret_and_deliveries_are_checked_with_it(
        info: dict, store: Store) -> None:
    people, admin = People(info), Admin(info)
    config = parse_config(_mapping("{env: SOCIALDESK_WEBHOOK_SECRET}"), env={"SOCIALDESK_WEBHOOK_SECRET": SECRET})
    daemon = Daemon(config, store, sandbox_endpoints(info))
    daemon.prepare()
    web = WebServer(daemon.web_app(), "127.0.0.1", 0).start()
    try:
        created = daemon.setup_push(web.url)
        assert created["zd"], "webhook and trigger made"
        hook = admin.webhook()
        assert admin.signing_secret(hook["id"]) == SECRET, "Zendesk signs with the mapping's secret"
        assert daemon.webhook_secret("zd") == SECRET
        assert daemon.setup_push(web.url) == {"zd": []}, "set up again: nothing to change, nothing refused"
        assert _answered(people, daemon, "is the store open?") == 202

        # Zendesk now signs with another secret (an admin reset it): the daemon refuses.
        admin.api("POST", f"webhooks/{hook['id']}/signing_secret", "reset secret")
        assert admin.signing_secret(hook["id"]) != SECRET
        assert _answered(people, daemon, "do you ship abroad?") == 401
    finally:
        web.stop()


def test_a_webhook_signing_with_another_secret_is_refused_at_setup_and_its_deliveries_too(
        info: dict, store: Store, tmp_path: Path) -> None:
    people, admin = People(info), Admin(info)
    # A webhook already made without the mapping's secret: Zendesk gave it one of its own.
    first = Daemon(parse_config(_mapping(None)), store, sandbox_endpoints(info))
    web = WebServer(first.web_app(), "127.0.0.1", 0).start()
    try:
        first.setup_push(web.url)
    finally:
        web.stop()
    theirs = admin.signing_secret(admin.webhook()["id"])
    assert theirs != SECRET

    (tmp_path / "webhook.secret").write_text(SECRET + "\n")
    config = parse_config(_mapping("{file: webhook.secret}"), base_dir=tmp_path)
    daemon = Daemon(config, store, sandbox_endpoints(info))
    daemon.prepare()
    web = WebServer(daemon.web_app(), "127.0.0.1", 0).start()
    try:
        with pytest.raises(FatalError) as refused:
            daemon.setup_push(web.url)
        message = str(refused.value)
        assert "webhook.secret" in message and "Reveal secret" in message
        assert SECRET not in message and theirs not in message
        assert daemon.webhook_secret("zd") == SECRET, "the mapping's secret still checks the deliveries"
        # The trigger and webhook exist (made by the first run) and now call this daemon.
        hook = admin.webhook()
        admin.api("PUT", f"webhooks/{hook['id']}", "point the webhook here",
                  {"webhook": {**{k: hook[k] for k in ("name", "http_method", "request_format", "status",
                                                        "subscriptions")}, "endpoint": f"{web.url}/hooks/zendesk/zd"}})
        assert _answered(people, daemon, "where is my parcel?") == 401, "signed with another secret"

        # The admin copies the webhook's secret into the file: setup passes, deliveries are accepted.
        (tmp_path / "webhook.secret").write_text(theirs + "\n")
        fixed = Daemon(parse_config(_mapping("{file: webhook.secret}"), base_dir=tmp_path), store,
                       sandbox_endpoints(info))
        fixed.prepare()
        web2 = WebServer(fixed.web_app(), "127.0.0.1", 0).start()
        try:
            fixed.setup_push(web2.url)
            assert fixed.webhook_secret("zd") == theirs
            assert _answered(people, fixed, "can I pay by card?") == 202
        finally:
            web2.stop()
    finally:
        web.stop()


# --------------------------------------------------------------------------- the mapping


NETWORK_ONLY = """
version: 1
helpdesks: {zd: {kind: zendesk, url: "https://acme.zendesk.com", email: a@b.c, token: {env: T}}}
networks: {brand: {kind: x, token: {env: T}}}
routes: [{name: t, network: brand, helpdesk: zd}]
webhook:
  listen: 127.0.0.1:8787
"""


def _config_error(text: str, **kwargs: Any) -> str:
    from sync.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(text, env={"T": "tok"}, **kwargs)
    return str(err.value)


def test_the_secret_is_read_from_the_environment_or_a_file(tmp_path: Path) -> None:
    from adapters.base import Secret

    config = parse_config(NETWORK_ONLY + "  secret: {env: SOCIALDESK_WEBHOOK_SECRET}\n",
                          env={"T": "tok", "SOCIALDESK_WEBHOOK_SECRET": SECRET})
    assert config.webhook is not None and isinstance(config.webhook.secret, Secret)
    assert config.webhook.secret.reveal() == SECRET
    (tmp_path / "hook.secret").write_text(f"{SECRET}\n")
    relative = parse_config(NETWORK_ONLY + "  secret: {file: hook.secret}\n", env={"T": "tok"}, base_dir=tmp_path)
    absolute = parse_config(NETWORK_ONLY + f"  secret: {{file: {tmp_path / 'hook.secret'}}}\n", env={"T": "tok"})
    for got in (relative, absolute):
        assert got.webhook is not None and isinstance(got.webhook.secret, Secret)
        assert got.webhook.secret.reveal() == SECRET, "the trailing newline is not part of it"
        assert SECRET not in repr(got) and SECRET not in repr(got.webhook)


def test_a_secret_file_that_cannot_be_used_is_a_short_error_that_never_shows_its_content(tmp_path: Path) -> None:
    missing = _config_error(NETWORK_ONLY + "  secret: {file: nowhere.secret}\n", base_dir=tmp_path)
    assert "webhook.secret: cannot read the secret file" in missing and "nowhere.secret" in missing
    assert "No such file" in missing
    (tmp_path / "empty.secret").write_text("\n")
    assert "is empty" in _config_error(NETWORK_ONLY + "  secret: {file: empty.secret}\n", base_dir=tmp_path)
    (tmp_path / "two.secret").write_text(f"{SECRET}\nsecond-line-{SECRET}\n")
    two = _config_error(NETWORK_ONLY + "  secret: {file: two.secret}\n", base_dir=tmp_path)
    assert "alone, on one line" in two and SECRET not in two
    (tmp_path / "binary.secret").write_bytes(b"\xff\xfe\x00secret")
    assert "not UTF-8" in _config_error(NETWORK_ONLY + "  secret: {file: binary.secret}\n", base_dir=tmp_path)
    both = _config_error(NETWORK_ONLY + "  secret: {file: x, env: Y}\n", base_dir=tmp_path)
    assert "{env: NAME} or {file: PATH}, one of them alone" in both
    literal = _config_error(NETWORK_ONLY + f"  secret: {SECRET}\n")
    assert "secret: {file: PATH}" in literal and SECRET not in literal
