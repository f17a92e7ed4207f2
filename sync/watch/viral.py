"""The viral watch: when an open conversation's post takes off, escalate its ticket.

Public metrics of watched posts are read a hundred at a time; a post past a threshold
(or growing faster than a velocity) raises its ticket's priority (never lowers it) and
tags it, so the helpdesk's own escalation rules fire.
"""
from __future__ import annotations

import logging
from typing import Any

from adapters.base import BatchesWrites, ReadsMetrics, SocialdeskError, TicketRef
from sync.context import RouteContext
from sync.failures import settle
from sync.ingest.batch import chunks
from sync.ingest.composer import metric_name
from sync.policy import quick_retry
from sync.settings import PRIORITY_ORDER

log = logging.getLogger("socialdesk.engine")


class ViralWatch:
    """Reads watched posts' metrics at the route's refresh pace and escalates."""

    # Conversations this recent are watched; an older post taking off is no longer news.
    horizon = 7 * 86400.0

    def __init__(self, ctx: RouteContext) -> None:
        self.ctx = ctx
        self._last = float("-inf")

    def run(self) -> int:
        """Read the public metrics of open conversations' posts (one read per 100) and
        escalate the tickets whose post crossed a threshold; returns tickets escalated."""
        ctx = self.ctx
        viral = ctx.settings.viral
        network = ctx.network
        if (not viral.enabled or not isinstance(network, ReadsMetrics) or not ctx.health.ready("network")
                or not ctx.health.ready("helpdesk")):
            return 0
        now = ctx.clock()
        if now - self._last < viral.refresh * ctx.budget_slowdown():
            return 0
        self._last = now
        candidates = ctx.store.watch_candidates(ctx.name, now - self.horizon)
        if not candidates:
            return 0
        try:
            tickets = self._tickets([link.ticket_id for link, _ in candidates])
            watched = [(link, seen) for link, seen in candidates
                       if link.ticket_id in tickets and not tickets[link.ticket_id].is_closed]
            posts = {link.id: link.source_key.rsplit(":", 1)[-1] for link, _ in watched}
            metrics = quick_retry(lambda: network.fetch_metrics(list(posts.values()))) if posts else {}
            escalated = 0
            for link, seen in candidates:
                current = metrics.get(posts.get(link.id, ""))
                reasons = self._reasons(current, seen) if current else []
                if current and reasons:
                    self._escalate(link.ticket_id, tickets[link.ticket_id], current, reasons)
                    escalated += 1
                ctx.store.record_watch(link.id, ctx.name, current or seen["metrics"], flagged=bool(reasons))
            return escalated
        except SocialdeskError as err:
            settle(ctx, err, "watch", "viral watch")
        return 0

    def _tickets(self, ids: list[str]) -> dict[str, TicketRef]:
        ctx, desk = self.ctx, self.ctx.helpdesk
        if isinstance(desk, BatchesWrites):
            found: dict[str, TicketRef] = {}
            for part in chunks(sorted(set(ids)), 100):
                found.update(ctx.desk(lambda: desk.get_tickets(part)))
            return found
        return {t: ctx.desk(lambda: desk.get_ticket(t)) for t in set(ids)}

    def _reasons(self, current: dict[str, int], seen: dict[str, Any]) -> list[str]:
        ctx = self.ctx
        viral = ctx.settings.viral
        reasons = [f"{metric_name(m)} {current[m]:,} (threshold {limit:,})"
                   for m, limit in viral.thresholds.items() if current.get(m, 0) >= limit]
        before, checked = seen.get("metrics") or {}, seen.get("checked_at")
        if checked is not None and ctx.clock() > checked:
            hours = (ctx.clock() - checked) / 3600
            for m, per_hour in viral.velocity_per_hour.items():
                if m in current and m in before and (current[m] - before[m]) / hours >= per_hour:
                    reasons.append(f"{metric_name(m)} +{(current[m] - before[m]) / hours:,.0f}/h "
                                   f"(threshold {per_hour:,g}/h)")
        return reasons

    def _escalate(self, ticket_id: str, ticket: TicketRef, metrics: dict[str, int], reasons: list[str]) -> None:
        """Raise priority (never lower it) and tag, so the helpdesk's escalation rules fire."""
        ctx = self.ctx
        viral = ctx.settings.viral
        current = ticket.priority if ticket.priority in PRIORITY_ORDER else "low"
        raise_to = viral.priority if PRIORITY_ORDER.index(viral.priority) > PRIORITY_ORDER.index(current) else None
        ctx.desk(lambda: ctx.helpdesk.update_ticket(ticket_id, priority=raise_to, add_tags=(viral.tag,)), write=True)
        figures = " · ".join(f"{metric_name(k)} {v:,}" for k, v in sorted(metrics.items()))
        note = (f"socialdesk: this conversation's post is taking off: {'; '.join(reasons)}. "
                f"Now: {figures}. " + (f"Priority raised to {raise_to}; " if raise_to else "")
                + f"tagged {viral.tag}.")
        ctx.desk(lambda: ctx.helpdesk.add_comment(ticket_id, note, public=False), write=True)
        log.warning("route %s: ticket %s escalated as viral: %s", ctx.name, ticket_id, "; ".join(reasons))
