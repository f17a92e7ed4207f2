"""Three replicas on one PostgreSQL state renew each OAuth grant once per expiry, never twice.

Three real ``socialdesk run`` processes share a throwaway PostgreSQL database and the
Zendesk and X grants an admin stored once (the sandbox's consent). The sandbox runs as
its own process with its clocks 300 times faster than the wall: Zendesk's 30-minute
access tokens end every 6 seconds, X's two-hour ones every 24, and each refresh spends
the refresh token presented (both vendors rotate them; Zendesk retires the old access
token too); a share of the token requests is refused with a 503 before it is applied.
The replicas read and write all the while (the leases dividing the routes' parts among
them), with one grant per entry between them. Against replicas that each renew on their
own, a spent refresh token is presented again and the vendor answers ``invalid_grant``:
the route then waits for ``socialdesk connect``; against replicas that give a call up
when the token they read from the state is renewed away under it, a route waits on a
401 the next renewal would have mended.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

import harness
import throwaway_pg
from cli.wiring import consent_on_sandbox
from sandbox.scenario import People
from sync.config import load_config
from sync.daemon import build_adapter
from sync.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SPEED = 300.0          # sandbox seconds per wall second
RUN_FOR = 130.0        # wall seconds the replicas run
REPLICAS = 3
REFUSED = 0.3          # the share of token requests the sandbox refuses with a 503 (seeded: the same ones each run)

sandbox_process = pytest.fixture(scope="module")(harness.sandbox_process)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from throwaway_pg.database()


def _mapping(tmp: Path, info: dict[str, Any], state: str) -> tuple[Path, dict[str, str]]:
    """The sandbox reached as production is: URLs, OAuth clients, secrets from the environment."""
    zd, x = info["services"]["zendesk"], info["services"]["x"]
    path = tmp / "mapping.yaml"
    path.write_text(f"""version: 1
state: {state}
helpdesks:
  zd: {{kind: zendesk, url: "{zd['url']}", auth: oauth, client_id: {zd['oauth_client_id']},
       client_secret: {{env: SOCIALDESK_TEST_ZD_SECRET}}, ca_bundle: {info['ca_bundle']}}}
networks:
  brand: {{kind: x, base_url: "{x['url']}", auth: oauth2, client_id: {x['oauth_client_id']},
          client_secret: {{env: SOCIALDESK_TEST_X_SECRET}}, authorize_url: "{x['oauth_authorize_url']}",
          ca_bundle: {info['ca_bundle']}}}
routes:
  - name: care
    network: brand
    helpdesk: zd
    streams: [mentions]
    poll: {{mentions: 15s, replies: 10s}}
    ticket: {{tags: [social]}}
  - name: care_dm
    network: brand
    helpdesk: zd
    streams: [dms]
    poll: {{dms: 15s, replies: 10s}}
    ticket: {{tags: [social, dm]}}
""")
    return path, {"SOCIALDESK_TEST_ZD_SECRET": zd["oauth_client_secret"],
                  "SOCIALDESK_TEST_X_SECRET": x["oauth_client_secret"]}


def _control(info: dict[str, Any], service: str, path: str, body: Any = None) -> Any:
    url = f"{info['services'][service]['url']}/_sandbox/{path}"
    response = requests.request("POST" if body is not None else "GET", url, json=body, verify=info["ca_bundle"])
    response.raise_for_status()
    return response.json()


def _refresh_tokens(info: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [t for t in _control(info, service, "tokens")["tokens"] if t["kind"] == "oauth_refresh"]


def _connect(mapping: Path, store: Store) -> None:
    """What ``socialdesk connect`` leaves in the state: each entry's grant, stored once."""
    config = load_config(str(mapping))
    for role, entries in (("helpdesk", config.helpdesks), ("social", config.networks)):
        for endpoint in entries.values():
            assert consent_on_sandbox(build_adapter(role, endpoint, None, store))


def _start(mapping: Path, env: dict[str, str], logs: Path, n: int) -> subprocess.Popen:
    log = (logs / f"replica{n}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "cli", "run", "--config", str(mapping)],
                            env=dict(os.environ, **env), stdout=log, stderr=subprocess.STDOUT,
                            cwd=Path(__file__).resolve().parents[2])


def _stop(replicas: list[subprocess.Popen]) -> None:
    for proc in replicas:
        proc.send_signal(signal.SIGINT)
    for proc in replicas:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_three_replicas_renew_each_grant_once_per_expiry_and_never_meet_invalid_grant(
        sandbox_process: dict[str, Any], pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = harness.reset(sandbox_process, "x", "zendesk")
    mapping, env = _mapping(tmp_path, info, pg_url)
    for name, value in env.items():   # the consent below builds the adapters from the same mapping
        monkeypatch.setenv(name, value)
    store = Store(pg_url)
    store.migrate()
    _connect(mapping, store)
    stored = {name: status["version"] for name, status in store.grant_status().items()}
    for service, token_path in (("x", "/2/oauth2/token"), ("zendesk", "/oauth/tokens")):
        _control(info, service, "clock", {"speed": SPEED})
        # A token request refused before the vendor applies it (a 503) spends nothing: the
        # next replica to need a token asks again.
        _control(info, service, "faults", {"kind": "5xx", "probability": REFUSED, "path_prefix": token_path})
    people = People(info)
    replicas = [_start(mapping, env, tmp_path, n) for n in range(REPLICAS)]
    posted = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < RUN_FOR:
            n = len(posted)
            posted.append(people.post(f"cust{n}", f"@{people.brand} question {n}" if n % 2 else f"dm {n}",
                                      dm=not n % 2))
            time.sleep(10)
            assert all(proc.poll() is None for proc in replicas), "a replica stopped"
    finally:
        _stop(replicas)
        for service in ("x", "zendesk"):
            _control(info, service, "clock", {"speed": 1})
            requests.delete(f"{info['services'][service]['url']}/_sandbox/faults",
                            verify=info["ca_bundle"]).raise_for_status()
    logs = "\n".join((tmp_path / f"replica{n}.log").read_text() for n in range(REPLICAS))
    for needle in ("invalid_grant", "refused the stored OAuth grant", "socialdesk connect"):
        assert needle not in logs, f"{needle!r} in the replicas' logs:\n{logs[-4000:]}"
    grants = store.grant_status()
    for name, service, least in (("zd", "zendesk", 6), ("brand", "x", 3)):
        refreshes = _refresh_tokens(info, service)
        rotated = [t for t in refreshes if t["reason"] == "rotated"]
        assert all(t["uses"] <= 1 for t in refreshes), f"{service}: a refresh token was presented twice"
        assert len(rotated) >= least, f"{service}: only {len(rotated)} renewals in {RUN_FOR:.0f} s"
        assert grants[name]["refused"] is None
        assert grants[name]["version"] - stored[name] == len(rotated), (name, grants[name], len(rotated))
    assert logs.count("access token renewed") == sum(grants[n]["version"] - stored[n] for n in stored)
    waits = [line for line in logs.splitlines() if "route care" in line and "waiting" in line]
    assert not [line for line in waits if "refused" in line or "401" in line], waits
    unanswered = [post for post in posted[:-2] if people.ticket_for(post) is None]
    assert unanswered == [], f"mentions that never became tickets: {unanswered}"
    store.close()
