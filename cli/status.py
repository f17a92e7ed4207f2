"""``socialdesk status``: per-route health (active, waiting with its next re-check, parked),
queues, cursors and API budget, and the replicas sharing the state with the leases each
holds, from the store."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.text import Text

from cli.common import load_mapping, using_store
from cli.output import pairs, show
from sync.config import ReadBudgetConfig


def cmd_status(args: argparse.Namespace) -> int:
    """Print each route's health, queues, cursors and API budget, as text or ``--json``."""
    config = load_mapping(args.config, allow_missing_env=True)
    from sync.keeper import sharing

    with using_store(config, must_exist=True, write=False) as store:
        counts, health, budgets = store.counts(), store.health(), store.budgets()
        grants = store.grant_status()
        reads = store.reads()
        now = time.time()
        shared = sharing(store, now)
        if args.json:
            shown = {name: {k: v for k, v in b.items() if k != "calls_per_minute"} for name, b in budgets.items()}
            print(json.dumps({"routes": counts, "health": health, "budgets": shown, "credentials": grants,
                              "accounts": store.bound_accounts(), "reads": reads, **shared}, default=str))
            return 0
        parts: list[Any] = []
        for route in config.routes:
            parts += [health_text(route.name, health.get(route.name)),
                      pairs(route_rows(route, config.helpdesks[route.helpdesk].kind, counts.get(route.name, {}),
                                       reads.get(route.name), budgets.get(route.helpdesk)))]
        if grants:
            parts += ["credentials", pairs((name, grant_line(grant)) for name, grant in grants.items())]
        if shared["replicas"] or shared["leases"]:
            parts += ["replicas", pairs((rid, replica_line(r, now)) for rid, r in shared["replicas"].items()),
                      "leases", pairs((name, lease_line(lease, now)) for name, lease in shared["leases"].items())]
        show(*parts)
    return 0


def replica_line(replica: dict[str, Any], now: float) -> Text:
    """A replica: alive or gone, when last seen, how many leases it holds."""
    from sync.health import lasted

    seen = f"seen {lasted(now - replica['seen_at'])} ago"
    if replica.get("lost_at") is not None:
        return Text(f"gone (its process ended; last {seen}), holds {replica['leases']} lease(s)", style="yellow")
    if not replica["live"]:
        return Text(f"gone (last {seen}), holds {replica['leases']} lease(s)", style="yellow")
    return Text(f"running ({seen}), holds {replica['leases']} lease(s)")


def lease_line(lease: dict[str, Any], now: float) -> str:
    """Which replica holds a lease and for how much longer without renewal, or free."""
    from sync.health import lasted

    if lease["holder"] is None:
        return "free"
    return f"{lease['holder']} (token {lease['token']}, for {lasted(lease['expires_at'] - now)} more unless renewed)"


STATE_STYLES = {"active": "green", "waiting": "yellow", "parked": "bold red"}


def health_text(name: str, h: dict[str, Any] | None) -> Text:
    """``route NAME: STATE ...``, the state coloured on a terminal."""
    line = health_line(h)
    state = h["state"] if h else ""
    return Text.assemble(f"route {name}: ", (line, STATE_STYLES.get(state, "")))


def route_rows(route: Any, desk_kind: str, c: dict[str, Any], r: dict[str, int] | None,
               budget: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A route's queues, tickets (cases on Salesforce), cursors, reads and API budget, a row each."""
    rows: list[tuple[str, Any]] = [
        ("mentions read", queue_text(c.get("inbox", {}), INBOX_WORDS)),
        ("agent replies", queue_text(c.get("outbox", {}), OUTBOX_WORDS))]
    if c.get("pushes"):
        rows.append(("webhook deliveries", queue_text(c["pushes"], PUSH_WORDS)))
    rows.append(("cases" if desk_kind == "salesforce" else "tickets", c.get("tickets", 0)))
    rows.append(("cursors", ", ".join(f"{stream} {value if value is not None else '(not started)'}"
                                      for stream, value in (c.get("cursors") or {}).items()) or "(none yet)"))
    if r or route.read_budget != ReadBudgetConfig():
        rows.append(("X reads", reads_line(r or {}, route.read_budget).removeprefix("X reads ")))
    if budget:
        rows.append((f"API budget ({route.helpdesk})", budget_text(budget)))
    return rows


# What each queue state means, in the order shown; "failed list" names the command to look further.
INBOX_WORDS = {"done": "done", "filtered": "filtered", "pending": "waiting",
               "quarantined": "quarantined (see 'socialdesk failed list')"}
OUTBOX_WORDS = {"posted": "posted", "skipped": "skipped", "pending": "waiting",
                "failed": "held or failed (see 'socialdesk failed list')"}
PUSH_WORDS = {"done": "read into the inbox", "pending": "waiting", "quarantined": "quarantined"}


def queue_text(states: dict[str, int], words: dict[str, str]) -> Text:
    """``3 done, 1 waiting``: a queue's rows by state, states that need a look in yellow."""
    if not states:
        return Text("none yet")
    known = [s for s in words if s in states] + sorted(s for s in states if s not in words)
    text = Text()
    for i, state in enumerate(known):
        style = "yellow" if state in ("quarantined", "failed") else ""
        text.append((", " if i else "") + f"{states[state]} {words.get(state, state)}", style=style)
    return text


def budget_text(budget: dict[str, Any]) -> str:
    """The helpdesk's API use today, socialdesk's share of it, and any slowing down."""
    used, total = budget.get("org_usage") or (None, None)
    org = f"org {used}/{total} today" if total else "org use not reported"
    text = f"{org}; socialdesk {budget['socialdesk_calls_24h']} calls in 24 h, share {budget['share']:.0%}"
    if budget.get("slowdown", 1) > 1:
        text += (f"; polling slowed x{budget['slowdown']:g}, writes batched from "
                 f"{budget.get('batch_from', 2)} pending")
    return text


def reads_line(r: dict[str, int], budget: Any = None) -> str:
    """What the network's reads returned this UTC month (X bills each post and DM event)."""
    line = f"X reads this month: {r.get('posts', 0)} posts, {r.get('dm_events', 0)} DM events"
    budget = budget or ReadBudgetConfig()
    parts = [f"{n} {what}" for n, what in ((budget.monthly_posts, "posts"), (budget.monthly_dm_events, "DM events"))
             if n is not None]
    return line + (f" (monthly budget {', '.join(parts)})" if parts else "")


def grant_line(grant: dict[str, Any]) -> str:
    """An OAuth grant's state, never a token: when stored, until when access holds, refused."""
    from sync.health import at

    line = f"OAuth grant stored {at(grant['updated_at'])}"
    if grant.get("access_expires_at"):
        line += f", access renews by {at(grant['access_expires_at'])}"
    if grant.get("refused"):
        line += f"; REFUSED ({grant['refused']}): run 'socialdesk connect' for it"
    return line


def health_line(h: dict[str, Any] | None) -> str:
    """A route's state, why, since when, and for a waiting route when it re-checks."""
    from sync.health import at

    if h is None:
        return "never run"
    line = h["state"]
    if h["state"] in ("waiting", "parked") and h.get("since"):
        line += f" since {at(h['since'])}"
    if h.get("reason"):
        line += f" ({h['reason']})"
    if h["state"] == "waiting" and h.get("next_check"):
        line += f"; next re-check {at(h['next_check'])}"
    elif h["state"] == "parked":
        line += "; stays parked until restarted"
    return line
