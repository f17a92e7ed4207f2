"""Many Zendesk accounts on one sandbox: each a host of its own, nothing shared.

A hosted socialdesk serves many customers, each with its own ``*.zendesk.com``: its own
tickets, ids, export, tokens and rate windows. The sandbox serves them on ports of their
own (``Sandbox(accounts={"zendesk": N})``, ``socialdesk sandbox --zendesk-accounts N``).
"""
from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import requests

from sandbox.server import Sandbox


@pytest.fixture(scope="module")
def two() -> Iterator[Sandbox]:
    with Sandbox(services=("zendesk",), accounts={"zendesk": 2}) as sandbox:
        yield sandbox


def _http(sandbox: Sandbox, account: dict[str, Any]) -> requests.Session:
    http = requests.Session()
    http.verify, http.trust_env = sandbox.ca_bundle, False
    http.headers["Authorization"] = f"Bearer {account['api_oauth_token']}"
    return http


def _create(sandbox: Sandbox, account: dict[str, Any], subject: str) -> int:
    answer = _http(sandbox, account).post(f"{account['url']}/api/v2/tickets", json={"ticket": {
        "subject": subject, "comment": {"body": subject}}})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["ticket"]["id"])


def test_each_account_is_its_own_host_with_its_own_tickets_and_ids(two: Sandbox) -> None:
    first, second = two.info()["accounts"]["zendesk"]
    assert first == two.info()["services"]["zendesk"]
    assert first["url"] != second["url"] and first["subdomain"] != second["subdomain"]
    a = _create(two, first, "first account's ticket")
    b = _create(two, second, "second account's ticket")
    assert a == b   # ticket ids are per account: two accounts can both have ticket 1
    for account, mine, other in ((first, "first", "second"), (second, "second", "first")):
        listed = _http(two, account).get(f"{account['url']}/api/v2/tickets").json()["tickets"]
        subjects = {t["subject"] for t in listed}
        assert f"{mine} account's ticket" in subjects and f"{other} account's ticket" not in subjects


def test_one_accounts_token_is_refused_by_another(two: Sandbox) -> None:
    first, second = two.info()["accounts"]["zendesk"]
    stranger = _http(two, first)
    answer = stranger.get(f"{second['url']}/api/v2/tickets")
    assert answer.status_code == 401
    assert _http(two, second).get(f"{second['url']}/api/v2/tickets").status_code == 200


def test_only_zendesk_has_more_than_one_account() -> None:
    with pytest.raises(ValueError, match="only a served zendesk"):
        Sandbox(services=("x",), accounts={"x": 2}).start()
    with pytest.raises(ValueError, match="at least one"):
        Sandbox(services=("zendesk",), accounts={"zendesk": 0}).start()


def test_the_command_says_what_is_wrong_with_an_account_count() -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "sandbox", "--service", "x", "--zendesk-accounts", "3"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "socialdesk sandbox: zendesk accounts 3: only a served zendesk has more than one account, "
        "and it has at least one"]


def test_a_connection_carries_many_requests_as_the_vendors_keep_it_alive(two: Sandbox) -> None:
    """Vendors keep HTTPS connections open between requests; a sandbox that closes each one
    makes every call pay a TLS handshake on both sides, which production does not."""
    account = two.info()["accounts"]["zendesk"][0]
    parts = urlsplit(account["url"])
    connection = http.client.HTTPSConnection(parts.hostname, parts.port,
                                             context=ssl.create_default_context(cafile=two.ca_bundle))
    try:
        sockets = set()
        for _ in range(5):
            connection.request("GET", "/api/v2/tickets.json",
                               headers={"Authorization": f"Bearer {account['api_oauth_token']}"})
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close
            sockets.add(id(connection.sock))
        assert len(sockets) == 1
    finally:
        connection.close()
