"""Replicas meeting one renewal: the one that finds it under way waits for the answer in the
state instead of failing its call, and a token renewed away under a call is asked for again.

Each replica is an adapter with its own store (engine) on one PostgreSQL database, talking
to the sandbox over HTTPS; the sandbox's clock ends the access tokens.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest
import requests

import harness
import throwaway_pg
from adapters.base import Cursor
from cli.wiring import sandbox_endpoints, sandbox_settings
from sync.config import parse_config
from sync.daemon import build_adapter
from sync.store import Store

pytestmark = pytest.mark.postgres

sb = pytest.fixture(scope="module")(harness.own_sandbox)

MAPPING = """
version: 1
helpdesks: {zd: {kind: zendesk, sandbox: true}}
networks: {brand: {kind: x, sandbox: true}}
routes:
  - {name: t, network: brand, helpdesk: zd, ticket: {tags: [social]}}
"""


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    for url in throwaway_pg.database():
        made = [Store(url) for _ in range(3)]
        made[0].migrate()
        yield made
        for store in made:
            store.close()


def replicas(info: dict[str, Any], stores: list[Store], role: str, name: str) -> list[Any]:
    """The same entry's adapter in each replica; the first gets the grant (the sandbox's
    consent), the others find it in the state."""
    config = parse_config(MAPPING)
    endpoint = (config.helpdesks if role == "helpdesk" else config.networks)[name]
    first = build_adapter(role, endpoint, sandbox_endpoints(info), stores[0])
    return [first] + [build_adapter(role, endpoint, lambda ep: sandbox_settings(ep.kind, info), store)
                      for store in stores[1:]]


def refresh_uses(info: dict[str, Any], service: str) -> list[int]:
    response = requests.get(f"{info['services'][service]['url']}/_sandbox/tokens", verify=info["ca_bundle"])
    return [t["uses"] for t in response.json()["tokens"] if t["kind"] == "oauth_refresh"]


def advance(info: dict[str, Any], service: str, seconds: float) -> None:
    requests.post(f"{info['services'][service]['url']}/_sandbox/clock", json={"advance": seconds},
                  verify=info["ca_bundle"]).raise_for_status()


def test_a_replica_that_finds_the_renewal_under_way_waits_for_its_answer(sb: Any, stores: list[Store]) -> None:
    """The access token ends; one replica holds the renewal (its token request under way)
    while another's call is refused: that call waits, then goes out with the token the
    first one stored. One refresh, no call failed, no refresh token presented twice."""
    info = harness.reset(sb.info(), "x", "zendesk")
    one, two, three = replicas(info, stores, "helpdesk", "zd")
    for desk in (one, two, three):
        desk.probe()
    advance(info, "zendesk", 3600)
    assert three.oauth.vault.claim(60)      # the third replica is renewing
    done: list[float] = []
    waiting = threading.Thread(target=lambda: (two.probe(), done.append(time.monotonic())))
    started = time.monotonic()
    waiting.start()
    time.sleep(1.0)
    assert not done, "the call went out without waiting for the renewal"
    three.probe()                           # its renewal is answered and stored
    waiting.join(30)
    assert done and done[0] - started >= 1.0
    one.probe()
    assert (one.oauth.renewals, two.oauth.renewals, three.oauth.renewals) == (0, 0, 1)
    assert max(refresh_uses(info, "zendesk")) == 1


def test_a_token_renewed_away_under_a_call_is_asked_for_again(sb: Any, stores: list[Store]) -> None:
    """A replica's call is refused; the token it then reads from the state is refused too
    (it was ended under it: here revoked alone, as a renewal elsewhere ends it). It asks
    again rather than give the route up: one renewal, and the call goes through."""
    info = harness.reset(sb.info(), "x", "zendesk")
    one, two, _ = replicas(info, stores, "social", "brand")
    one.fetch_mentions(Cursor(None))
    two.fetch_mentions(Cursor(None))
    advance(info, "x", 3 * 3600)            # the access token ends
    two.fetch_mentions(Cursor(None))        # two renews: the state holds the new token
    x = info["services"]["x"]
    renewed = two.oauth.grant.access_token
    requests.post(x["oauth_revoke_url"], auth=(x["oauth_client_id"], x["oauth_client_secret"]),
                  data={"token": renewed, "token_type_hint": "access_token"},
                  verify=info["ca_bundle"]).raise_for_status()
    page = one.fetch_mentions(Cursor(None))  # refused, the stored token refused, renewed: through
    assert page is not None
    assert (one.oauth.renewals, two.oauth.renewals) == (1, 1)
    assert max(refresh_uses(info, "x")) == 1
