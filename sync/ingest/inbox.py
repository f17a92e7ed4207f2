"""The inbox worker: pending rows become tickets or comments, one at a time or in batches."""
from __future__ import annotations

from adapters.base import BatchesWrites
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.failures import work_rows
from sync.ingest.batch import BatchWriter
from sync.ingest.composer import TicketComposer
from sync.ingest.writer import TicketWriter


class InboxWorker:
    """Claims a route's pending inbox rows and hands them to the right writer."""

    def __init__(self, ctx: RouteContext, composer: TicketComposer, events: RouteEvents) -> None:
        self.ctx = ctx
        self.single = TicketWriter(ctx, composer, events)
        desk = ctx.helpdesk
        self.batch = BatchWriter(ctx, desk, composer, self.single) if isinstance(desk, BatchesWrites) else None

    def process(self, limit: int = 50) -> int:
        """Turn pending inbox rows into tickets or comments; returns rows finished.

        Idle, each row is written on its own for latency. When a backlog builds (or the
        helpdesk's API budget tightens) and the helpdesk writes in batches, rows are
        written a batch at a time: a handful of calls for up to ``batch_max`` rows.
        """
        ctx = self.ctx
        if not ctx.health.ready("helpdesk") or (not ctx.health.ready("network") and ctx.me_ is None):
            return 0  # writing what was read needs only the helpdesk, and the brand account
        capacity = self.batch.capacity if self.batch is not None else 0
        rows = ctx.store.claim_inbox(ctx.name, max(limit, capacity) if capacity else limit)
        if self.batch is not None and len(rows) >= self.batch_threshold():
            return self.batch.write(rows)
        return work_rows(ctx, "inbox", rows, self.single.ingest, self.single.quarantine, "ingest")

    def batch_threshold(self) -> int:
        """Pending rows from which writes are batched: fewer as the API budget tightens."""
        return 2 if self.ctx.budget_slowdown() > 1.0 else self.ctx.settings.batch_min
