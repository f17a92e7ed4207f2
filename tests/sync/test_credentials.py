"""Credentials as the vendors have them: OAuth grants that expire, rotate and can be revoked,
kept encrypted in the state; a state bound to the accounts it was made with.

Every test here runs the real adapters over HTTPS against the sandbox, whose clocks move
days ahead; each would fail against the sandbox before it modelled credentials (tokens that
never expired, no refresh, no revocation), or against a client that kept tokens in clear.
"""
from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

import harness
from adapters.base import AuthFailed, FatalError, OutboundPost, RetriableError
from cli.common import state_url
from cli.wiring import sandbox_endpoints, sandbox_settings
from sandbox.scenario import People
from sandbox.server import Sandbox
from sync.config import parse_config
from sync.daemon import Daemon, StateMismatch, build_adapter
from sync.store import Store
from sync.store.credentials import KEY_ENV, KEY_FILE_ENV, Sealer

sb = pytest.fixture(scope="module")(harness.own_sandbox)

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


@pytest.fixture(autouse=True)
def own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test seals with a key of its own, made on first use in its own folder."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "secret.key"))


def tokens(info: dict[str, Any], service: str) -> list[dict[str, Any]]:
    response = requests.get(f"{info['services'][service]['url']}/_sandbox/tokens", verify=info["ca_bundle"])
    response.raise_for_status()
    return list(response.json()["tokens"])


def control(info: dict[str, Any], service: str, path: str, body: Any = None) -> None:
    requests.post(f"{info['services'][service]['url']}/_sandbox/{path}", json=body or {},
                  verify=info["ca_bundle"]).raise_for_status()


def test_days_on_the_sandbox_clocks_change_nothing_visible(info: dict, store: Store,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Mentions still become tickets and answers still go out while the sandbox's clocks
    move a day at a time: X's two-hour and Zendesk's thirty-minute access tokens expire
    between the passes, and socialdesk renews them, never presenting a spent refresh token."""
    people = People(info)
    passed = [0.0]
    daemon = Daemon(parse_config(MAPPING), store, sandbox_endpoints(info), clock=lambda: time.time() + passed[0])

    def run() -> None:
        passed[0] += 60   # the daemon's own pacing (poll and export intervals) lets it read again
        daemon.run_once()

    caplog.set_level(logging.DEBUG)
    daemon.prepare()
    for day in range(3):
        root = people.post(f"day{day}", f"@{people.brand} help on day {day}")
        run()
        ticket = people.ticket_for(root)
        assert ticket is not None, f"day {day}: the mention did not become a ticket"
        people.answer(ticket["id"], f"Here to help, day {day}")
        for service in ("x", "zendesk"):
            people.advance(service, 86400)
        run()
        run()
        replies = [p["text"] for p in people.posts_by(people.brand)]
        assert replies.count(f"@day{day} Here to help, day {day}") == 1, replies
        assert daemon.routes["t"].parked is None
    for service in ("x", "zendesk"):
        issued = tokens(info, service)
        refreshes = [t for t in issued if t["kind"] == "oauth_refresh"]
        assert sum(1 for t in refreshes if t.get("reason") == "rotated") >= 3, f"{service}: tokens were not renewed"
        assert all(t["uses"] <= 1 for t in refreshes), f"{service}: a refresh token was presented twice"
    assert {t["kind"] for t in tokens(info, "zendesk") if not t.get("revoked")} >= {"oauth_access", "oauth_refresh"}
    for adapter in (daemon.helpdesks["zd"], daemon.networks["brand"]):
        grant = adapter.oauth.grant
        assert "access token renewed" in caplog.text
        assert grant.access_token not in caplog.text and grant.refresh_token not in caplog.text


def test_replicas_sharing_a_state_renew_once_and_never_present_a_spent_token(info: dict, tmp_path: Path) -> None:
    """Two daemons on one state (two stores on one file): when the access token expires,
    one renews; the other takes the renewed grant from the state instead of presenting
    the refresh token the first one spent."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first, second = Store(url), Store(url)
    first.migrate()
    endpoint = parse_config(MAPPING).helpdesks["zd"]
    # The first replica gets the grant (the sandbox's consent); the second finds it in the state.
    one = build_adapter("helpdesk", endpoint, sandbox_endpoints(info), first)
    two = build_adapter("helpdesk", endpoint, lambda ep: sandbox_settings(ep.kind, info), second)
    one.probe()
    two.probe()
    control(info, "zendesk", "clock", {"advance": 3600})
    outcomes: list[BaseException | None] = []
    start = threading.Barrier(2)

    def probe(desk: Any) -> None:
        start.wait()
        try:
            desk.probe()
            outcomes.append(None)
        except RetriableError as err:   # the other replica holds the renewal: try again later
            outcomes.append(err)

    threads = [threading.Thread(target=probe, args=(desk,)) for desk in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for desk in (one, two):
        desk.probe()    # a replica that had to wait now takes the renewed grant
    assert one.oauth.renewals + two.oauth.renewals == 1
    refreshes = [t for t in tokens(info, "zendesk") if t["kind"] == "oauth_refresh"]
    assert all(t["uses"] <= 1 for t in refreshes), refreshes
    first.close()
    second.close()


def _real_mapping(info: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox reached as production is: explicit URLs, OAuth clients, secrets by env."""
    zd, x = info["services"]["zendesk"], info["services"]["x"]
    monkeypatch.setenv("SOCIALDESK_TEST_ZD_SECRET", zd["oauth_client_secret"])
    monkeypatch.setenv("SOCIALDESK_TEST_X_SECRET", x["oauth_client_secret"])
    path = tmp_path / "mapping.yaml"
    path.write_text(f"""version: 1
state: sqlite:///{tmp_path / 'state.sqlite'}
helpdesks:
  zd: {{kind: zendesk, url: "{zd['url']}", auth: oauth, client_id: {zd['oauth_client_id']},
       client_secret: {{env: SOCIALDESK_TEST_ZD_SECRET}}, ca_bundle: {info['ca_bundle']}}}
networks:
  brand: {{kind: x, base_url: "{x['url']}", auth: oauth2, client_id: {x['oauth_client_id']},
          client_secret: {{env: SOCIALDESK_TEST_X_SECRET}}, authorize_url: "{x['oauth_authorize_url']}",
          ca_bundle: {info['ca_bundle']}}}
routes:
  - {{name: t, network: brand, helpdesk: zd, ticket: {{tags: [social]}}}}
""")
    return path


def _connect(name: str, mapping: Path, info: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> int:
    """``socialdesk connect <name>``, with the admin's browser played by requests: it opens
    the consent page, which sends it back to the command's loopback callback."""
    import webbrowser

    from cli.main import main

    def browser(url: str) -> bool:
        session = requests.Session()
        session.trust_env = False
        threading.Thread(target=lambda: session.get(url, verify=info["ca_bundle"], timeout=30), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return main(["connect", name, "--config", str(mapping), "--redirect-uri", f"http://127.0.0.1:{port}/callback"])


def test_a_revoked_consent_waits_with_what_to_do_and_socialdesk_connect_brings_it_back(
        info: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revoking the app's access (an admin in Zendesk) refuses the refresh: the route waits,
    saying to run connect; the refusal is remembered (no refresh token is presented again);
    after `socialdesk connect` the route's next re-check resumes it, with no restart, and
    what was posted meanwhile becomes a ticket."""
    from sync.config import load_config

    mapping = _real_mapping(info, tmp_path, monkeypatch)
    assert _connect("zd", mapping, info, monkeypatch) == 0
    assert _connect("brand", mapping, info, monkeypatch) == 0
    config = load_config(str(mapping))
    store = Store(state_url(config))
    passed = [0.0]
    daemon = Daemon(config, store, clock=lambda: time.time() + passed[0])
    daemon.bind_accounts()
    daemon.prepare()
    people = People(info)
    daemon.run_once()
    assert daemon.status()["routes"]["t"]["state"] == "active"
    control(info, "zendesk", "revoke")
    waited = people.post("ivy", f"@{people.brand} are you there?")
    daemon.run_once()
    route = daemon.status()["routes"]["t"]
    assert route["state"] == "waiting", route
    assert "run 'socialdesk connect zd'" in route["reason"], route
    presented = sum(t["uses"] for t in tokens(info, "zendesk") if t["kind"] == "oauth_refresh")
    passed[0] += 600
    daemon.run_once()
    assert daemon.status()["routes"]["t"]["state"] == "waiting"
    assert sum(t["uses"] for t in tokens(info, "zendesk") if t["kind"] == "oauth_refresh") == presented
    assert people.ticket_for(waited) is None
    assert _connect("zd", mapping, info, monkeypatch) == 0
    passed[0] += 600
    daemon.run_once()
    assert daemon.status()["routes"]["t"]["state"] == "active"
    daemon.run_once()
    assert people.ticket_for(waited) is not None
    store.close()


def test_grants_are_sealed_at_rest_and_a_wrong_key_is_named_not_dumped(info: dict, store: Store, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = parse_config(MAPPING).networks["brand"]
    net = build_adapter("social", endpoint, sandbox_endpoints(info), store)
    net.probe()
    grant = net.oauth.grant
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite*"))
    assert grant.access_token.encode() not in raw and grant.refresh_token.encode() not in raw
    assert grant.access_token not in repr(grant) and grant.refresh_token not in repr(grant)
    assert grant.access_token not in str(store.grant_status())
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    other = Store(store.url)
    with pytest.raises(FatalError) as refused:
        other.load_grant("brand")
    assert str(refused.value).startswith("the stored credentials of 'brand' do not open with the "
                                         f"{KEY_ENV}: set {KEY_ENV} to the key they were sealed with")
    assert grant.access_token not in str(refused.value)
    monkeypatch.delenv(KEY_ENV)
    assert Store(store.url).load_grant("brand")[0] is not None, "a wrong key must not lose the grant"


def _first_seal(barrier: Any, results: Any, n: int) -> None:
    """A replica's first seal: it finds no key file, as every replica started with it does."""
    barrier.wait()
    try:
        results.put(("sealed", Sealer.from_environment().seal({"replica": n})))
    except BaseException as err:  # noqa: BLE001 - the test names what went wrong in the process
        results.put(("failed", f"{type(err).__name__}: {err}"))


def test_replicas_started_at_once_on_a_fresh_host_make_one_key_file_between_them(tmp_path: Path) -> None:
    """Three replicas started together each found no key file; one made it, the others then
    failed to (FileExistsError) or read it before it was written (empty): the replica
    exited at start. Now each process makes its key aside and links it into place, so one key
    wins, whole, and every process seals with it."""
    context = multiprocessing.get_context("fork")
    for _ in range(10):   # the race was won by timing: try it many times over
        (tmp_path / "secret.key").unlink(missing_ok=True)
        barrier, results = context.Barrier(8), context.Queue()
        workers = [context.Process(target=_first_seal, args=(barrier, results, n)) for n in range(8)]
        for worker in workers:
            worker.start()
        said = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert [text for kind, text in said if kind == "failed"] == []
        opener = Sealer.from_environment()
        assert sorted(opener.open(text, "test")["replica"] for _, text in said) == list(range(8)), \
            "every replica sealed with the one key on disk"
        assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
        assert [p.name for p in tmp_path.iterdir() if "secret.key" in p.name] == ["secret.key"], "no draft left"


def test_a_key_file_is_made_where_the_file_system_has_no_hard_links(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: Any, dst: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.link", no_links)
    sealed = Sealer.from_environment().seal({"n": 1})
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert Sealer.from_environment().open(sealed, "test") == {"n": 1}
    assert [p.name for p in tmp_path.iterdir() if "secret.key" in p.name] == ["secret.key"], "no draft left"


def test_a_state_made_against_other_accounts_is_refused_before_any_work(info: dict, store: Store) -> None:
    """The same state with a second sandbox (other accounts, other post ids): refused with a
    message that names both accounts, and nothing is posted there."""
    daemon = Daemon(parse_config(MAPPING), store, sandbox_endpoints(info))
    daemon.bind_accounts()
    daemon.prepare()
    people = People(info)
    root = people.post("ada", f"@{people.brand} first sandbox")
    daemon.run_once()
    assert people.ticket_for(root) is not None
    with Sandbox(services=("zendesk", "x"), settings=harness.INSTANT) as other:
        later = Daemon(parse_config(MAPPING), store, sandbox_endpoints(other.info()))
        with pytest.raises(StateMismatch, match=r"this state belongs to zendesk https://127\.0\.0\.1:\d+ for "
                                                r"helpdesk 'zd', not to zendesk https://"):
            later.bind_accounts()
        assert People(other.info()).posts_by(People(other.info()).brand) == []


def test_a_legacy_api_token_still_works_and_warns_of_the_cutoff(info: dict, caplog: pytest.LogCaptureFixture) -> None:
    from adapters.helpdesk.zendesk import ZendeskHelpdesk

    service = info["services"]["zendesk"]
    with caplog.at_level(logging.WARNING, "socialdesk.zendesk"):
        desk = ZendeskHelpdesk.from_config({"url": service["url"], "email": service["api_email"],
                                            "token": service["api_token"], "ca_bundle": info["ca_bundle"],
                                            "name": "zd"})
    desk.probe()
    assert "API tokens stop working on 30 April 2027" in caplog.text
    assert "socialdesk connect zd" in caplog.text
    assert service["api_token"] not in caplog.text


@pytest.mark.parametrize("rotation", [False, True])
def test_salesforce_web_server_flow_connects_and_renews_its_session(
        sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rotation: bool) -> None:
    """`socialdesk connect` for Salesforce's web-server flow; an idle session expires (two
    hours on the org's clock) and is renewed with the refresh token, which, when the org
    rotates them, is spent and never presented again."""
    from sync.config import load_config

    info = harness.reset(sb.info(), "salesforce")
    sf = info["services"]["salesforce"]
    control(info, "salesforce", "settings", {"refresh_token_rotation": rotation})
    monkeypatch.setenv("SOCIALDESK_TEST_SF_SECRET", sf["client_secret"])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"""version: 1
state: sqlite:///{tmp_path / 'state.sqlite'}
helpdesks:
  sf: {{kind: salesforce, login_url: "{sf['login_url']}", auth: web_server, client_id: {sf['client_id']},
       client_secret: {{env: SOCIALDESK_TEST_SF_SECRET}}, ca_bundle: {info['ca_bundle']}}}
networks: {{brand: {{kind: x, sandbox: true}}}}
routes:
  - {{name: t, network: brand, helpdesk: sf}}
""")
    earlier = {t["id"] for t in tokens(info, "salesforce")}   # a reset keeps what was issued
    assert _connect("sf", mapping, info, monkeypatch) == 0
    config = load_config(str(mapping))
    store = Store(state_url(config))
    desk = build_adapter("helpdesk", config.helpdesks["sf"], None, store)
    desk.probe()
    assert desk.account_key() == f"org {sf['organization_id']}"
    for _ in range(2):
        control(info, "salesforce", "clock", {"advance": 3 * 3600})
        desk.probe()
    assert desk.oauth.renewals == 2
    refreshes = [t for t in tokens(info, "salesforce") if t["kind"] == "oauth_refresh" and t["id"] not in earlier]
    assert all(t["uses"] <= 1 for t in refreshes) if rotation else len(refreshes) == 1
    assert sum(1 for t in refreshes if t.get("reason") == "rotated") == (2 if rotation else 0)
    store.close()


def test_x_oauth1_user_context_reads_and_posts_as_the_brand(info: dict) -> None:
    """OAuth 1.0a user context, the option beside OAuth 2.0: every request signed
    (HMAC-SHA1), a read and a reply with a JSON body both accepted as the brand's."""
    from adapters.social.x import XNetwork

    x = info["services"]["x"]
    net = XNetwork.from_config({"auth": "oauth1", "base_url": x["url"], "ca_bundle": info["ca_bundle"],
                                "consumer_key": x["consumer_key"], "consumer_secret": x["consumer_secret"],
                                "access_token": x["access_token"], "access_token_secret": x["access_token_secret"]})
    assert net.whoami().handle == x["brand_handle"]
    people = People(info)
    root = people.post("una", f"@{people.brand} signed?")
    net.post(OutboundPost(text="@una Signed and sent.", in_reply_to=root))
    assert [p["text"] for p in people.posts_by(people.brand)] == ["@una Signed and sent."]
    forged = XNetwork.from_config({"auth": "oauth1", "base_url": x["url"], "ca_bundle": info["ca_bundle"],
                                   "consumer_key": x["consumer_key"], "consumer_secret": "not-the-secret",
                                   "access_token": x["access_token"], "access_token_secret": x["access_token_secret"]})
    with pytest.raises(AuthFailed):
        forged.probe()


def test_zendesk_client_credentials_mint_a_new_token_whenever_one_expires(info: dict) -> None:
    """A confidential or global client (a marketplace install) needs no consent: each
    expired access token is replaced by a new one from the client's credentials; a wrong
    secret is named as the client's problem, not the consent's."""
    from adapters.helpdesk.zendesk import ZendeskHelpdesk

    zd = info["services"]["zendesk"]
    settings = {"url": zd["url"], "auth": "client_credentials", "client_id": zd["oauth_client_id"],
                "client_secret": zd["oauth_client_secret"], "ca_bundle": info["ca_bundle"], "name": "zd"}
    desk = ZendeskHelpdesk.from_config(settings)
    desk.probe()
    control(info, "zendesk", "clock", {"advance": 3600})
    desk.probe()
    assert desk.oauth.renewals == 2 and desk.oauth.grant.refresh_token is None
    wrong = ZendeskHelpdesk.from_config({**settings, "client_secret": "not-the-secret"})
    with pytest.raises(AuthFailed, match=r"zendesk refused socialdesk's OAuth client 'socialdesk_sandbox' .*"
                                         r"check client_id and client_secret of 'zd'") as refused:
        wrong.probe()
    assert "not-the-secret" not in str(refused.value)


@pytest.mark.parametrize("network", ["zd", "brand"])
def test_a_refused_consent_is_said_plainly_and_stores_nothing(info: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str], network: str) -> None:
    """The admin clicks Deny: connect says the vendor did not grant access and stores no
    grant (it must not fall back to another grant type with the client's secret)."""
    mapping = _real_mapping(info, tmp_path, monkeypatch)
    service = "zendesk" if network == "zd" else "x"
    control(info, service, "consent", {"approve": False})
    assert _connect(network, mapping, info, monkeypatch) == 1
    assert "did not grant access: access_denied" in capsys.readouterr().err
    store = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    assert store.grant_status() == {}
    store.close()
