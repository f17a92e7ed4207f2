"""What the authenticated status endpoint (``GET /api/status``) and the status page show:
one snapshot of a daemon, read from its routes and its store. ``Daemon.status_snapshot()``
documents the keys; the last hour and a reply's state are read as ``socialdesk report``
reads them (sync/store/history.py), so the page and the report agree."""
from __future__ import annotations

from typing import Any, Mapping

from adapters.base import SocialdeskError
from sync.keeper import LEASE_TTL, sharing
from sync.store.history import last_hour, reply_state


def route_entry(route: Any) -> dict[str, Any]:
    """A route's state and why, as the snapshot shows it."""
    report = route.health.report()
    return {"state": report["state"], "why": report["reason"], "reason": route.health.reason_class(),
            "since": report["since"], "next_check": report["next_check"], "waiting": report["waiting"],
            "paused_until": report["paused_until"], "network": route.network.kind,
            "helpdesk": route.helpdesk.kind if route.helpdesk is not None else None}


def queues(counts: Mapping[str, Any], oldest: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Per route: rows by state in each queue, the age of the oldest waiting, tickets linked."""
    out: dict[str, Any] = {}
    for route, c in counts.items():
        waited = {queue: round(now - since, 1) for queue, since in oldest.get(route, {}).items()}
        out[route] = {"inbox": c.get("inbox", {}), "outbox": c.get("outbox", {}), "pushes": c.get("pushes", {}),
                      "oldest_waiting_seconds": waited, "tickets": c.get("tickets", 0)}
    return out


def replies(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(held, failed) replies, each with what holds it and why (``reply_state``)."""
    held: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for row in rows:
        state, hold, why = reply_state(row["state"], row.pop("last_error"))
        entry = {**row, "state": state, "hold": hold, "why": why}
        (held if state == "held" else failed).append(entry)
    return held, failed


def _grants(store: Any) -> dict[str, Any]:
    """OAuth grants' state (never a token); a state key that cannot be read says so."""
    try:
        return store.grant_status()
    except SocialdeskError as err:
        return {"error": str(err)}


def snapshot(routes: Mapping[str, Any], store: Any, now: float, held: tuple[str, ...],
             read_budgets: Mapping[str, Any], *, replica: str | None = None,
             lease_ttl: float = LEASE_TTL) -> dict[str, Any]:
    """The snapshot ``Daemon.status_snapshot()`` describes."""
    counts = store.counts()
    kept, failed = replies(store.outbox_attention(held))
    reads = store.reads()
    return {
        "at": now,
        "routes": {name: route_entry(route) for name, route in routes.items()},
        "queues": queues(counts, store.oldest_waiting(held), now),
        "cursors": {route: c.get("cursors", {}) for route, c in counts.items() if c.get("cursors")},
        "last_errors": store.retrying(held),
        "held_replies": kept,
        "failed_replies": failed,
        "quarantined": [f for f in store.failed() if f["flow"] == "ingest"][-50:],
        "last_hour": last_hour(store, now),
        "budgets": {name: {k: v for k, v in b.items() if k != "calls_per_minute"}
                    for name, b in store.budgets().items()},
        "reads": {route: {"month": reads.get(route, {}), "budget": {
            "posts": budget.for_kind("posts"), "dm_events": budget.for_kind("dm_events")}}
            for route, budget in read_budgets.items()},
        "credentials": _grants(store),
        "replica": replica,
        **sharing(store, now, lease_ttl),
    }
