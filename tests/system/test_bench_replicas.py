"""bench/replicas.py end to end, small: one replica, then two (real ``socialdesk run``
processes on a throwaway PostgreSQL database, one SIGKILLed half-way), four tenants'
forty posts and four answers against a sandbox process. The figures are all there, the
shares of leases were counted before the kill and taken over after it, and the far side
shows nothing lost and nothing twice. The speedup is not held here: this size measures
start-up, not throughput."""
from __future__ import annotations

import json
import os

import pytest

from bench import replicas
from bench.scratch_pg import NoPostgres, admin_url, scratch_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

KEYS = {"replicas", "routes", "mentions", "cores", "speedup", "lease_balance", "lost", "duplicate_tickets",
        "duplicate_replies", "takeover_seconds"}


@pytest.fixture(autouse=True)
def postgres() -> None:
    try:
        with scratch_database("socialdesk_test_probe"):
            pass
    except NoPostgres as err:
        pytest.skip(f"no PostgreSQL server reachable at {admin_url()}: {err}")


def test_two_replicas_do_the_work_of_one_losing_and_doubling_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = replicas.main(["--replicas", "2", "--routes", "4", "--mentions", "40", "--answers", "4", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    explain = json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=1)
    assert code == 0, explain
    assert KEYS <= set(out), explain
    assert (out["replicas"], out["routes"], out["mentions"], out["cores"]) == (2, 4, 40, os.cpu_count())
    assert out["lost"] == out["duplicate_tickets"] == out["duplicate_mentions"] == out["duplicate_replies"] == 0, \
        explain
    assert out["unanswered"] == 0, explain
    # Both runs finished the same work; each audit saw every post once.
    first, second = out["runs"]
    assert first["seconds"] > 0 and second["seconds"] > 0 and out["speedup"] > 0, explain
    assert first["audit"]["mentions"] == second["audit"]["mentions"] == 40, explain
    assert first["audit"]["replies_posted"] == second["audit"]["replies_posted"] == 4, explain
    # Before the kill both replicas held a share; after it the survivor held all the victim's.
    assert set(out["leases_before_kill"]) == {"r1", "r2"} and min(out["leases_before_kill"].values()) > 0, explain
    assert out["lease_balance"] is not None and out["lease_balance"] >= 1.0, explain
    assert out["killed"] in ("r1", "r2") and 0 < out["takeover_seconds"] <= 30, explain
    # The replicas' CPU time and the sandbox's were both counted.
    assert second["cpu_seconds"]["replicas"] > 0 and second["cpu_seconds"]["sandbox"] > 0, explain
    # Agents' answers reached the replicas by the helpdesks' webhooks, through the one address
    # in front of them, and every delivery was taken.
    assert out["webhooks"] is True, explain
    for run in (first, second):
        codes = run["webhook_deliveries"]
        assert sum(codes.values()) >= 4 and all(code.startswith("2") for code in codes), explain
    # What bounds the speedup: the cores run 1 kept busy, and the most run N's CPU allows.
    assert 0 < out["cores_busy_1"] and 0 < out["speedup_cpu_bound"], explain
    # Progress went to stderr, a line per run at least.
    assert "run 1" in captured.err and "run 2" in captured.err
