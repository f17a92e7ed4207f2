"""SIGKILL the real daemon at every step boundary, restart it, and audit the far side.

The sandbox runs as its own process (it outlives the daemon); the daemon is the real
``socialdesk run --once`` process with a file-backed SQLite state, pointed at the sandbox
by explicit URLs and credentials exactly as at a customer's site. ``SOCIALDESK_CRASH_AT``
makes it kill itself with SIGKILL at the named step boundary.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harness
import requests

from sandbox.scenario import People, SalesforcePeople, audit

pytestmark = pytest.mark.slow

CHECKPOINTS = [
    "ingest.after_record_page", "ingest.after_claim", "ingest.after_requester",
    "ingest.after_comment", "ingest.after_create_ticket", "ingest.after_finish",
    "mirror.after_post", "mirror.after_record_part", "mirror.after_note",
]
CUSTOMERS = ["kim_crash", "lee_crash", "max_crash"]
LONG = ("We are very sorry about this. " * 14).strip()


sandbox_process = pytest.fixture(scope="module")(harness.sandbox_process)


def _config(tmp: Path, info: dict[str, Any], helpdesk: str) -> tuple[Path, dict[str, str]]:
    return harness.production_mapping(tmp, info, "crash", "{priority: normal}", helpdesk)


def _run(config: Path, secrets: dict[str, str], crash_at: str | None) -> int:
    env = dict(os.environ, **secrets)
    env.pop("SOCIALDESK_CRASH_AT", None)
    if crash_at:
        env["SOCIALDESK_CRASH_AT"] = f"{crash_at}:1"
    done = subprocess.run([sys.executable, "-m", "cli", "run", "--config", str(config), "--once"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-2000:]
    return done.returncode


@pytest.mark.parametrize("helpdesk", ["zendesk", "salesforce"])
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_kill_at_step_boundary_loses_and_duplicates_nothing(checkpoint: str, helpdesk: str,
                                                           sandbox_process: dict, tmp_path: Path) -> None:
    info = sandbox_process
    for service in ("x", helpdesk):
        requests.post(f"{info['services'][service]['url']}/_sandbox/reset", verify=info["ca_bundle"]).raise_for_status()
    people = SalesforcePeople(info) if helpdesk == "salesforce" else People(info)
    config, secrets = _config(tmp_path, info, helpdesk)
    pending = [checkpoint]
    kills = 0

    def cycle(times: int = 2) -> None:
        nonlocal kills
        for _ in range(times):
            crash = pending[0] if pending else None
            if _run(config, secrets, crash) == -signal.SIGKILL:
                kills += 1
                pending.clear()

    brand = people.brand
    first = people.post("kim_crash", f"@{brand} my card was charged twice")
    people.post("lee_crash", f"@{brand} where is my refund?")
    people.post("max_crash", "hello, question about my plan", dm=True)
    cycle()
    people.post("kim_crash", "any update?", in_reply_to=first)
    cycle()
    tickets = people.tickets()
    assert len(tickets) == 3
    for ticket in tickets:
        people.answer(ticket["id"], LONG if ticket["external_id"].endswith(first) else "Thanks, fixed now.")
    people.answer(tickets[0]["id"], "internal: refunded", public=False)
    requests.post(f"{info['services']['zendesk']['url']}/_sandbox/clock", json={"advance": 120},
                  verify=info["ca_bundle"]).raise_for_status()
    cycle(3)

    assert kills == 1, f"the daemon never reached {checkpoint}"
    result = audit(people, CUSTOMERS)
    assert result.lost == 0, result.problems
    assert result.duplicates == 0, result.problems
    assert result.unanswered == 0, result.problems
    assert result.mentions == 4 and result.tickets == 3
    brand_posts = people.posts_by(brand)
    assert not any("internal: refunded" in p["text"] for p in brand_posts), "an internal note went public"
