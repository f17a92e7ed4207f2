"""Reading agents' answers: public agent comments on linked tickets go to the outbox.

Two ways in: the helpdesk's incremental export (polled, the safety net) and a webhook's
hint that one ticket changed. Internal notes and customers' own words never enter.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from adapters.base import AgentReply, Cursor, SocialdeskError
from sync.context import RouteContext
from sync.failures import settle


JITTER = 0.1   # the part of the interval a scheduled run may come early by and still read


def export_interval(helpdesk: Any, configured: float | None = None) -> float:
    """Seconds between two reads of the helpdesk's export: the mapping's interval, never
    shorter than the helpdesk allows (Zendesk: 10 reads a minute). The replies job runs at
    this interval, so a run never finds itself too early and waits a whole interval more."""
    return max(configured or 0.0, helpdesk.export_min_interval)


class ReplyReader:
    """Queues a route's new public agent comments, once each (unique on comment id)."""

    def __init__(self, ctx: RouteContext) -> None:
        self.ctx = ctx
        self._last_export = float("-inf")

    def poll(self) -> int:
        """Queue public agent comments on linked tickets from the incremental export.

        Exports have their own, tighter rate limit (Zendesk: 10 a minute), so this runs
        at most once per the helpdesk's ``export_min_interval`` and is paused on its own.
        """
        ctx = self.ctx
        if not ctx.settings.mirror.enabled or not ctx.health.ready("export"):
            return 0
        now = ctx.clock()
        if now - self._last_export < export_interval(ctx.helpdesk) * ctx.budget_slowdown() * (1 - JITTER):
            return 0
        self._last_export = now
        # Without a cursor the adapter starts at "now": a new route mirrors from now on,
        # not the helpdesk's whole history.
        cursor = Cursor(ctx.store.get_cursor(ctx.name, "replies"))
        token: str | None = None
        queued = 0
        mine = partial(ctx.store.linked_tickets, ctx.name)   # which of a page's tickets are this route's
        try:
            while True:
                page = ctx.desk(lambda: ctx.helpdesk.fetch_agent_replies(cursor, token, linked=mine))
                for reply in page.items:
                    queued += self.consider(reply)
                # What this page held is queued; a long backlog is not read again.
                ctx.store.record_page(ctx.name, "replies", [], page.cursor.value, move_cursor=True)
                if page.next_page is None:
                    return queued
                token = page.next_page
        except SocialdeskError as err:
            settle(ctx, err, "read", "reading agent replies", pause_side="export",
                   park_doing="reading agent replies")
        return queued

    def hint(self, ticket_id: str) -> int:
        """A webhook said this ticket changed: queue its new public agent comments."""
        ctx = self.ctx
        if ctx.store.link_by_ticket(ctx.name, ticket_id) is None:
            return 0
        return sum(self.consider(c) for c in ctx.desk(lambda: ctx.helpdesk.list_comments(ticket_id)))

    def consider(self, reply: AgentReply) -> int:
        # Internal notes never leave the helpdesk; only agents speak for the brand.
        if not reply.public or not reply.by_agent:
            return 0
        ctx = self.ctx
        if ctx.store.link_by_ticket(ctx.name, reply.ticket_id) is None:
            return 0
        return int(ctx.store.enqueue_reply(ctx.name, reply.comment_id, reply.ticket_id, reply.body))
