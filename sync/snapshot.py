"""What the authenticated status endpoint (``GET /api/status``) and the status page show:
one snapshot of a daemon, read from its routes and its store. ``Daemon.status_snapshot()``
documents the keys."""
from __future__ import annotations

from statistics import median
from typing import Any, Mapping

from adapters.base import SocialdeskError

# A failed outbox row's reason starts with its error's type: these were held by a guard or a
# length limit (the agent decides), the others failed.
HELD_ERRORS = ("HeldReply:", "ReplyTooLong:")
LAST_HOUR = 3600.0
BUCKET = 300.0          # the last hour in twelve five-minute buckets: a small chart each


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


def _latency(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {"count": len(ordered), "p50": round(median(ordered), 1),
            "p90": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 1), "max": round(ordered[-1], 1)}


def last_hour(done: Mapping[str, list[dict[str, Any]]], now: float) -> dict[str, Any]:
    """Per route: mentions read, tickets written and replies posted in the last hour, in
    five-minute buckets (oldest first), and the latencies of what was done."""
    start = now - LAST_HOUR
    count = int(LAST_HOUR // BUCKET)
    out: dict[str, Any] = {}
    for route, rows in done.items():
        series = {kind: [0] * count for kind in ("read", "ticket", "reply")}
        waits: dict[str, list[float]] = {"mention_to_ticket": [], "reply_to_post": []}
        for row in rows:
            index = min(count - 1, max(0, int((row["done"] - start) // BUCKET)))
            series[row["kind"]][index] += 1
            if row["kind"] == "ticket":
                begun = row.get("posted_at") or row["in"]
                waits["mention_to_ticket"].append(max(0.0, row["done"] - begun))
            elif row["kind"] == "reply":
                waits["reply_to_post"].append(max(0.0, row["done"] - row["in"]))
        out[route] = {"buckets": [start + i * BUCKET for i in range(count)], "bucket_seconds": BUCKET,
                      "mentions": series["read"], "tickets": series["ticket"], "replies": series["reply"],
                      "latency": {name: _latency(values) for name, values in waits.items()}}
    return out


def snapshot(routes: Mapping[str, Any], store: Any, now: float, held: tuple[str, ...],
             read_budgets: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot ``Daemon.status_snapshot()`` describes."""
    counts = store.counts()
    replies = store.outbox_attention(held)
    reads = store.reads()
    return {
        "at": now,
        "routes": {name: route_entry(route) for name, route in routes.items()},
        "queues": queues(counts, store.oldest_waiting(held), now),
        "cursors": {route: c.get("cursors", {}) for route, c in counts.items() if c.get("cursors")},
        "last_errors": store.retrying(),
        "held_replies": [r for r in replies if _held(r)],
        "failed_replies": [r for r in replies if not _held(r)],
        "quarantined": [f for f in store.failed() if f["flow"] == "ingest"][:50],
        "last_hour": last_hour(store.finished_since(now - LAST_HOUR), now),
        "budgets": {name: {k: v for k, v in b.items() if k != "calls_per_minute"}
                    for name, b in store.budgets().items()},
        "reads": {route: {"month": reads.get(route, {}), "budget": {
            "posts": budget.for_kind("posts"), "dm_events": budget.for_kind("dm_events")}}
            for route, budget in read_budgets.items()},
        "credentials": _grants(store),
    }


def _held(reply: Mapping[str, Any]) -> bool:
    return reply["state"] == "pending" or (reply["reason"] or "").startswith(HELD_ERRORS)


def _grants(store: Any) -> dict[str, Any]:
    """OAuth grants' state (never a token); a state key that cannot be read says so."""
    try:
        return store.grant_status()
    except SocialdeskError as err:
        return {"error": str(err)}
