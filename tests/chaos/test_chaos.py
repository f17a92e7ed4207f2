"""A reduced chaos run per helpdesk: the real daemon, SIGKILLed at random moments while
every wire misbehaves, must lose nothing, duplicate nothing and leak no internal note.

Sixty sequence-numbered mentions on X over many conversations and thirty customer items on
Facebook and Instagram (comments, replies under them, Messenger and Instagram DMs),
fifteen agent answers (the networks taking turns) and a few internal notes, four kills at
random moments, probabilistic faults on X, Meta's Graph API and the helpdesk (at twice the
chaos run's default rates, so a run this short still meets every kind), and Meta's webhook
deliveries duplicated, delayed and dropped: a dropped one reaches a ticket only through
the route's reconciliation read. The daemon signs in with OAuth, the grants given by the
real ``socialdesk connect``; two refresh kills each kill it just before a renewal (its
access tokens made to expire meanwhile) and again the moment a renewal is stored: no
refresh token may be presented twice, no grant found refused, no route left waiting. The
same, with Zendesk, over three replicas on one PostgreSQL database (each kill hits a random
replica), must hold the same. The full runs are ``bench/chaos.py`` with bigger numbers; its report names the work directory
(mapping, state, daemon log, far-side dump) when something is wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import harness

from bench.chaos import ChaosOptions, ChaosReport, run_chaos

pytestmark = pytest.mark.slow

sandbox_process = pytest.fixture(scope="module")(harness.sandbox_process)

RANDOM_KILLS, REFRESH_KILLS = 4, 2
X_MENTIONS, META_MENTIONS = 60, 30
# The drain ends as soon as the far side is complete; its budget covers a Meta route's
# reconciliation read (once a minute at most) after the last kill.
REDUCED = dict(mentions=X_MENTIONS, meta_mentions=META_MENTIONS, replies=15, kills=RANDOM_KILLS,
               refresh_kills=REFRESH_KILLS, faults=True, fault_rate=2.0, timeouts=1, drain_timeout=90.0)
NETWORKS = ("x", "facebook", "instagram")


def _explain(report: ChaosReport) -> str:
    return f"{report.as_dict()}\nwork directory: {report.workdir}"


@pytest.mark.parametrize("helpdesk, seed", [("zendesk", 20261123), ("salesforce", 20261124)])
def test_reduced_chaos_run_loses_and_duplicates_nothing(helpdesk: str, seed: int, sandbox_process: dict[str, Any],
                                                         tmp_path: Path) -> None:
    options = ChaosOptions(helpdesk=helpdesk, seed=seed, workdir=tmp_path, **REDUCED)  # type: ignore[arg-type]
    report = run_chaos(options, sandbox_process)
    assert report.mentions == X_MENTIONS + META_MENTIONS and report.replies == 15
    # report.kills counts every SIGKILL: the random ones, and per refresh kill one just
    # before a renewal and one just after it.
    assert report.refresh_kills == REFRESH_KILLS, _explain(report)
    assert report.kills_after_renewal == REFRESH_KILLS, _explain(report)
    assert report.kills == RANDOM_KILLS + 2 * REFRESH_KILLS, _explain(report)
    # Each kill before a renewal let every access token die: the daemons after it renewed.
    assert report.renewals >= report.refresh_kills, _explain(report)
    assert report.refresh_tokens_reused == 0, _explain(report)
    assert report.consent_refused == 0, _explain(report)
    assert report.waiting_routes == 0, _explain(report)
    # Lost: a post in no ticket that the daemon no longer holds. One still queued in its
    # inbox (a retry waiting out its backoff when the drain's time ran out) is late.
    assert report.lost == 0, _explain(report)
    assert report.late_mentions <= report.pending_inbox and (report.drained or report.late_mentions <= 2), \
        _explain(report)
    assert report.duplicate_tickets == 0 and report.duplicate_mentions == 0, _explain(report)
    assert report.duplicate_replies == 0, _explain(report)
    assert report.leaked_internal_notes == 0, _explain(report)
    # An answer still in the daemon's outbox (a retry waiting out its backoff when the
    # drain's time ran out) is late, not lost; one the daemon no longer holds is lost.
    assert report.unanswered <= report.pending_outbox, _explain(report)

    # Network by network, the same rules: the top-level figures are their sums.
    assert set(report.by_network) == set(NETWORKS), _explain(report)
    assert report.by_network["x"]["mentions"] == X_MENTIONS, _explain(report)
    assert sum(report.by_network[n]["mentions"] for n in ("facebook", "instagram")) == META_MENTIONS
    for network in NETWORKS:
        figures = report.by_network[network]
        assert figures["mentions"] > 0 and figures["tickets"] > 0, _explain(report)
        # Each network had answers, and each answer went out on it once.
        assert figures["answers"] > 0 and figures["replies_posted"] >= figures["answers"] - figures["unanswered"], \
            _explain(report)
        for kind in ("lost", "duplicate_tickets", "duplicate_mentions", "duplicate_replies",
                     "leaked_internal_notes"):
            assert figures[kind] == 0, (network, kind, _explain(report))
    assert sum(report.by_network[n]["answers"] for n in NETWORKS) == report.replies
    # Meta's faults happened: Graph calls failed, and updates were dropped, so some items
    # reached their tickets by the reconciliation read alone; the deliveries that came were
    # kept and read (none set aside as unreadable).
    assert sum(report.faults_injected.get("meta", {}).values()) > 0, _explain(report)
    assert report.webhooks["dropped"] > 0 and report.webhooks["never_pushed"] > 0, _explain(report)
    kept = report.webhooks["kept_by_daemon"]
    assert kept.get("done", 0) > 0 and kept.get("quarantined", 0) == 0, _explain(report)


# Three replicas on one PostgreSQL database instead of the one daemon: each kill hits a
# random replica (started again at once), Meta's webhooks reach whichever replica takes the
# connection. No injected faults (the run above has them): what is held here is the sharing
# and the takeover. Renewals still come (Zendesk's clock runs 20 times the wall's) and no
# kill lands on one under way. The drain's budget covers rows a killed replica had claimed,
# which wait out their claim (two minutes) before another replica takes them.
REPLICAS, REPLICA_KILLS = 3, 5
ON_REPLICAS = dict(mentions=X_MENTIONS, meta_mentions=META_MENTIONS, replies=15, kills=REPLICA_KILLS, faults=False,
                   timeouts=0, drain_timeout=150.0, replicas=REPLICAS)


@pytest.mark.postgres
def test_three_replicas_killed_at_random_lose_and_duplicate_nothing(sandbox_process: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    from bench.scratch_pg import NoPostgres, admin_url, scratch_database

    try:
        with scratch_database("socialdesk_test_probe"):
            pass
    except NoPostgres as err:
        pytest.skip(f"no PostgreSQL server reachable at {admin_url()}: {err}")
    options = ChaosOptions(helpdesk="zendesk", seed=20261207, workdir=tmp_path, **ON_REPLICAS)  # type: ignore[arg-type]
    report = run_chaos(options, sandbox_process)
    assert report.replicas == REPLICAS and report.kills == REPLICA_KILLS, _explain(report)
    # Each replica logged under its own id, and every one of them was started at least once.
    logs = sorted(tmp_path.glob("r*.log"))
    assert [log.name for log in logs] == [f"r{k}.log" for k in range(1, REPLICAS + 1)], _explain(report)
    assert report.restarts_after_exit == 0, _explain(report)
    assert report.mentions == X_MENTIONS + META_MENTIONS and report.replies == 15
    assert report.lost == 0, _explain(report)
    assert report.late_mentions <= report.pending_inbox and (report.drained or report.late_mentions <= 2), \
        _explain(report)
    assert report.duplicate_tickets == 0 and report.duplicate_mentions == 0, _explain(report)
    assert report.duplicate_replies == 0 and report.leaked_internal_notes == 0, _explain(report)
    assert report.unanswered <= report.pending_outbox, _explain(report)
    # Signing in under replicas: no refresh token spent twice, no grant found refused.
    assert report.refresh_tokens_reused == 0 and report.consent_refused == 0, _explain(report)
    assert report.waiting_routes == 0, _explain(report)
    for network in NETWORKS:
        figures = report.by_network[network]
        assert figures["tickets"] > 0 and figures["answers"] > 0, (network, _explain(report))
    # Meta's deliveries came through the one address to the replicas and were read.
    kept = report.webhooks["kept_by_daemon"]
    assert kept.get("done", 0) > 0 and kept.get("quarantined", 0) == 0, _explain(report)
