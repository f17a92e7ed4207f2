"""``socialdesk status``: per-route health (active, waiting with its next re-check, parked),
queues, cursors and API budget, from the store."""
from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import load_mapping, open_store
from sync.config import ReadBudgetConfig


def cmd_status(args: argparse.Namespace) -> int:
    """Print each route's health, queues, cursors and API budget, as text or ``--json``."""
    config = load_mapping(args.config, allow_missing_env=True)
    store = open_store(config)
    try:
        counts, health, budgets = store.counts(), store.health(), store.budgets()
        grants = store.grant_status()
        reads = store.reads()
        if args.json:
            shown = {name: {k: v for k, v in b.items() if k != "calls_per_minute"} for name, b in budgets.items()}
            print(json.dumps({"routes": counts, "health": health, "budgets": shown, "credentials": grants,
                              "accounts": store.bound_accounts(), "reads": reads}, default=str))
            return 0
        for route in config.routes:
            c = counts.get(route.name, {})
            print(f"route {route.name}: {health_line(health.get(route.name))}")
            print(f"  inbox   {c.get('inbox', {})}")
            print(f"  outbox  {c.get('outbox', {})}")
            if c.get("pushes"):
                print(f"  pushed  {c['pushes']}   (the network's webhook deliveries, read into the inbox)")
            print(f"  tickets {c.get('tickets', 0)}   cursors {c.get('cursors', {})}")
            r = reads.get(route.name)
            if r or route.read_budget != ReadBudgetConfig():
                print(f"  {reads_line(r or {}, route.read_budget)}")
            budget = budgets.get(route.helpdesk)
            if budget:
                used, total = budget.get("org_usage") or (None, None)
                print(f"  API budget ({route.helpdesk}): org {used}/{total} today; socialdesk "
                      f"{budget['socialdesk_calls_24h']} calls in 24 h, share {budget['share']:.0%}"
                      + (f"; polling slowed x{budget['slowdown']:g}, writes batched from "
                         f"{budget.get('batch_from', 2)} pending" if budget.get("slowdown", 1) > 1 else ""))
        for name, grant in grants.items():
            print(f"credentials {name}: {grant_line(grant)}")
    finally:
        store.close()
    return 0


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
