"""Two real daemons (``socialdesk run --replica-id``) on one PostgreSQL state, against a
sandbox served as its own process: they divide the work by leases; one is SIGKILLed, the
other takes its leases over within 30 s (the webhook re-pointed at itself), and the far
side shows every post in exactly one ticket and the agent's answer posted once."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

import harness
import throwaway_pg
from sandbox.scenario import People, audit
from sync.keeper import sharing
from sync.store import Store

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = ["ana_rep", "ben_rep", "cai_rep", "dee_rep", "eli_rep"]
LEASES = {"poll:public:mentions", "replies:public", "watch:public", "poll:private:dms", "replies:private",
          "watch:private", "daemon:budgets", "webhooks:acme"}

sandbox_process = pytest.fixture(scope="module")(harness.sandbox_process)


pg_url = pytest.fixture(throwaway_pg.database)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mapping(path: Path, info: dict[str, Any], state: str, port: int) -> Path:
    """Two routes on one X account and one Zendesk (public mentions, private messages), as a
    customer's site reaches production: explicit URLs, the CA, secrets from the environment."""
    zd, x, ca = info["services"]["zendesk"], info["services"]["x"], info["ca_bundle"]
    path.write_text(f"""\
version: 1
state: {state}
helpdesks:
  acme:
    kind: zendesk
    url: {zd['url']}
    auth: client_credentials
    client_id: {zd['oauth_client_id']}
    client_secret: {{env: SOCIALDESK_ZENDESK_CLIENT_SECRET}}
    ca_bundle: {ca}
networks:
  acme_x:
    kind: x
    base_url: {x['url']}
    token: {{env: SOCIALDESK_X_TOKEN}}
    ca_bundle: {ca}
routes:
  - name: public
    network: acme_x
    helpdesk: acme
    streams: [mentions]
    poll: {{mentions: 15s, replies: 10s}}
    ticket: {{priority: normal}}
  - name: private
    network: acme_x
    helpdesk: acme
    streams: [dms]
    poll: {{dms: 15s, replies: 10s}}
    ticket: {{priority: normal}}
webhook:
  listen: 127.0.0.1:{port}
""")
    return path


class Replica:
    """One ``socialdesk run --replica-id`` process; its stderr lines collected as they come."""

    def __init__(self, config: Path, replica: str, env: dict[str, str]) -> None:
        self.name = replica
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--config", str(config), "--replica-id", replica],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **env})
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def tail(self) -> str:
        return "\n".join(self.lines[-25:])


def _wait(condition: Callable[[], bool], seconds: float, what: str, *replicas: Replica) -> float:
    """Seconds until ``condition`` held; fails saying what did not happen, with the logs."""
    start = time.monotonic()
    while not condition():
        for r in replicas:
            assert r.process.poll() is None, f"replica {r.name} stopped:\n{r.tail()}"
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what} did not happen in {seconds:.0f}s:\n" +
                                 "\n\n".join(f"[{r.name}]\n{r.tail()}" for r in replicas))
        time.sleep(1.0)   # a condition may list tickets: Zendesk allows 100 lists a minute
    return time.monotonic() - start


def _held(state: Store) -> dict[str, str | None]:
    return {name: lease["holder"] for name, lease in sharing(state, time.time())["leases"].items()}


def _webhook_endpoint(info: dict[str, Any]) -> str:
    hooks = harness.ZendeskHarness(info).adapter()._api("GET", "webhooks", "list webhooks")["webhooks"]
    assert len(hooks) == 1, hooks
    return str(hooks[0]["endpoint"])


def test_an_unusable_replica_id_is_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "mapping.yaml"
    config.write_text((ROOT / "mapping.yaml").read_text().replace("sqlite:///socialdesk.sqlite",
                                                                  f"sqlite:///{tmp_path / 'state.sqlite'}"))
    for bad in ("two words", "", "x" * 201):
        done = subprocess.run([sys.executable, "-m", "cli", "run", "--config", str(config), "--replica-id", bad],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("socialdesk: --replica-id must be"), done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "state.sqlite").exists(), "refused before anything was made"


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_share_the_work_and_the_survivor_takes_over_a_killed_ones_leases(
        sandbox_process: dict[str, Any], pg_url: str, tmp_path: Path) -> None:
    info = sandbox_process
    harness.reset(info, "x", "zendesk")
    people = People(info)
    env = {"SOCIALDESK_ZENDESK_CLIENT_SECRET": info["services"]["zendesk"]["oauth_client_secret"],
           "SOCIALDESK_X_TOKEN": info["services"]["x"]["token"]}
    ports = {"a": _free_port(), "b": _free_port()}
    configs = {r: _mapping(tmp_path / f"mapping-{r}.yaml", info, pg_url, ports[r]) for r in ports}
    state = Store(pg_url)
    state.migrate()
    replicas: dict[str, Replica] = {}
    try:
        replicas["a"] = Replica(configs["a"], "a", env)
        _wait(lambda: set(_held(state)) == LEASES and set(_held(state).values()) == {"a"}, 60,
              "replica a taking every lease", replicas["a"])
        assert f":{ports['a']}/" in _webhook_endpoint(info)
        replicas["b"] = Replica(configs["b"], "b", env)
        _wait(lambda: sorted(map(str, _held(state).values())) == ["a"] * 4 + ["b"] * 4, 60, "the leases shared 4 and 4",
              *replicas.values())
        assert replicas["b"].said("webhooks:acme: set up by replica a"), replicas["b"].tail()
        assert f":{ports['a']}/" in _webhook_endpoint(info), "b did not re-point the webhook"

        brand = people.brand
        first = people.post("ana_rep", f"@{brand} my card was charged twice")
        people.post("ben_rep", f"@{brand} where is my refund?")
        people.post("cai_rep", "hello, a question about my plan", dm=True)
        _wait(lambda: len(people.tickets()) == 3, 90, "3 tickets", *replicas.values())

        # a (which set the webhook up) is killed; posts keep coming.
        orphaned = {name for name, holder in _held(state).items() if holder == "a"}
        assert "webhooks:acme" in orphaned
        replicas["a"].process.send_signal(signal.SIGKILL)
        replicas["a"].process.wait()
        killed = time.monotonic()
        people.post("ana_rep", "any update?", in_reply_to=first)
        people.post("dee_rep", f"@{brand} the app logs me out")
        people.post("eli_rep", "can you call me back?", dm=True)
        survivor = replicas["b"]
        _wait(lambda: set(_held(state).values()) == {"b"}, 45, "b taking every lease", survivor)
        takeover = time.monotonic() - killed
        print(f"takeover of {len(orphaned)} leases: {takeover:.1f}s")
        assert takeover <= 30
        _wait(lambda: f":{ports['b']}/" in _webhook_endpoint(info), 15, "the webhook pointed at b", survivor)

        _wait(lambda: len(people.tickets()) == 5, 90, "5 tickets (one conversation followed up)", survivor)
        ticket = people.ticket_for(first)
        assert ticket is not None
        people.answer(ticket["id"], "Refunded, sorry about that.")
        requests.post(f"{info['services']['zendesk']['url']}/_sandbox/clock", json={"advance": 120},
                      verify=info["ca_bundle"]).raise_for_status()
        _wait(lambda: len(people.posts_by(brand)) >= 1, 60, "the answer posted on X", survivor)
        time.sleep(12)   # another round of reads and the replies export: nothing posted twice

        status = subprocess.run([sys.executable, "-m", "cli", "status", "--config", str(configs["b"]), "--json"],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=60)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["replicas"]["a"]["live"] is False and shown["replicas"]["b"]["live"] is True
        assert shown["replicas"]["b"]["leases"] == len(LEASES)
        assert {lease["holder"] for lease in shown["leases"].values()} == {"b"}

        survivor.process.send_signal(signal.SIGINT)
        assert survivor.process.wait(timeout=30) == 0, survivor.tail()
        assert set(_held(state).values()) == {None}, "a clean stop hands every lease back"
        assert set(state.replicas()) == {"a"}, "and the stopped replica is no longer listed"
    finally:
        for replica in replicas.values():
            if replica.process.poll() is None:
                replica.process.kill()
                replica.process.wait()
        state.close()

    result = audit(people, CUSTOMERS)
    assert result.lost == 0, result.problems
    assert result.duplicates == 0, result.problems
    assert result.unanswered == 0, result.problems
    assert result.mentions == 6 and result.tickets == 5 and result.replies_posted == 1
