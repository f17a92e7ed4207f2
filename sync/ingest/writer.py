"""Writing one inbox row into the helpdesk, exactly once: a comment on the conversation's
open ticket, or a new ticket (a follow-up when the last one was solved).

An attempt is counted before the write; a retried attempt first looks for its effect (the
post already on the ticket, a ticket already carrying the post's external id) and only
then writes. Crash points between the steps let the restart tests stop it anywhere.
"""
from __future__ import annotations

import logging

from adapters.base import Author, BatchesWrites, JobPending, Mention, NotFound, SocialdeskError, TicketRef
from sync.checkpoints import checkpoint
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.ingest.changes import ChangeWriter, is_change
from sync.ingest.composer import TicketComposer, conversation_key, filtered, marker, row_mention
from sync.logs import about
from sync.store import InboxRow

log = logging.getLogger("socialdesk.engine")


class TicketWriter:
    """The careful, one-row-at-a-time write: used idle, and for every row tried before."""

    def __init__(self, ctx: RouteContext, composer: TicketComposer, events: RouteEvents) -> None:
        self.ctx = ctx
        self.composer = composer
        self.events = events
        self.changes = ChangeWriter(ctx, events)

    def quarantine(self, row: InboxRow, err: Exception) -> None:
        self.ctx.store.quarantine("inbox", row.id, f"{type(err).__name__}: {err}")
        self.ctx.stats.quarantined += 1
        self.events.quarantined("ingest", row.source_key, type(err).__name__)

    def written(self, action: str, ticket_id: str, m: Mention) -> None:
        """Tell that ``m`` is on ticket ``ticket_id`` now (created: a new ticket; updated: a comment)."""
        posted_at = m.created_at.timestamp() if m.created_at else None
        self.events.ticket_written(action, ticket_id, m.key, conversation_key(m), posted_at, self.ctx.clock())

    def ingest(self, row: InboxRow) -> None:
        if is_change(row):
            self.changes.apply(row)
            return
        m = row_mention(row)
        with about(conversation=conversation_key(m)):
            self._ingest(row, m)

    def _ingest(self, row: InboxRow, m: Mention) -> None:
        ctx, desk = self.ctx, self.ctx.helpdesk
        reason = filtered(ctx.settings, ctx.me, m, row.payload)
        if reason:
            ctx.store.finish_inbox(row.id, "filtered", note=reason)
            ctx.stats.filtered += 1
            return
        job = row.job
        if job and isinstance(desk, BatchesWrites) and not ctx.desk(lambda: desk.job_settled(job)):
            # A batch this row was part of may still write it: never write it twice.
            raise JobPending(f"waiting for helpdesk job {job}", job)
        attempt = ctx.store.begin_attempt(row.id, row.owner)
        if attempt is None:
            return  # the lease ran out and another worker has the row now
        retry = attempt > 1
        checkpoint("ingest.after_claim")
        requester = self.requester(m.author)
        checkpoint("ingest.after_requester")
        # A first attempt may have opened a ticket under this post's key before its outcome
        # was recorded; meanwhile an earlier post of the conversation (delivered late) may
        # have opened the conversation's ticket. The post's own ticket is kept and linked,
        # so it is in one ticket and an answer written there still goes out.
        existing = ctx.desk(lambda: desk.find_tickets(m.key)) if retry else []
        if existing:
            self.catch_up(existing[0].id)
            ctx.store.finish_inbox(row.id, "done", ticket_id=existing[0].id,
                                   link=self.composer.link_values(m, existing[0]))
            ctx.stats.tickets += 1
            self.written("created", existing[0].id, m)
            return
        link = ctx.store.latest_link(ctx.name, conversation_key(m))
        previous: TicketRef | None = None
        ticket = self.linked_ticket(link.ticket_id) if link is not None else None
        if link is not None and ticket is not None:
            # An earlier attempt (a batch job whose answer was lost) may have put the post on
            # the ticket before an agent solved it: found there, it stays there.
            already = retry and self.has_comment(ticket.id, m)
            if already or not ticket.is_closed:
                if not already:
                    body = self.composer.comment_body(m)
                    ctx.desk(lambda: desk.add_comment(ticket.id, body, public=True, author_id=requester), write=True)
                checkpoint("ingest.after_comment")
                self.move_deadline(ticket.id, m)
                ctx.store.finish_inbox(row.id, "done", ticket_id=ticket.id, link_post=(link.id, m.id))
                ctx.stats.comments += 1
                self.written("updated", ticket.id, m)
                return
            previous = ticket
        new = self.composer.new_ticket(m, requester, previous)
        ref = ctx.desk(lambda: desk.create_ticket(new, idempotency_key=m.key))
        checkpoint("ingest.after_create_ticket")
        ctx.store.finish_inbox(row.id, "done", ticket_id=ref.id, link=self.composer.link_values(m, ref))
        ctx.stats.tickets += 1
        self.written("created", ref.id, m)
        checkpoint("ingest.after_finish")

    def catch_up(self, ticket_id: str) -> None:
        """A ticket that existed before its link was recorded (a lost answer, a crash) may
        already have agent replies, which the reply reader passed over as not ours: queue
        them before the link is recorded, so a failed read retries the row instead of
        passing them over again. Only on this recovery path: no cost in the common case."""
        ctx = self.ctx
        queued = 0
        for reply in ctx.desk(lambda: ctx.helpdesk.list_comments(ticket_id)):
            if reply.public and reply.by_agent:
                queued += int(ctx.store.enqueue_reply(ctx.name, reply.comment_id, ticket_id, reply.body))
        if queued:
            log.info("route %s: %d reply(ies) written before ticket %s was linked are queued",
                     ctx.name, queued, ticket_id)

    def move_deadline(self, ticket_id: str, m: Mention) -> None:
        """A new customer message reopens the network's private-reply window: the ticket
        fields that show its deadline (``{reply_deadline}``) move with it."""
        fields = self.composer.deadline_fields(m)
        if fields:
            self.ctx.desk(lambda: self.ctx.helpdesk.update_ticket(ticket_id, custom_fields=fields), write=True)

    def move_deadlines(self, landed: list[tuple[str, Mention]]) -> None:
        """Move each landed comment's deadline; one that cannot be moved now is logged: the
        comment is in, and the customer's next message moves the deadline again."""
        for ticket_id, m in landed:
            try:
                self.move_deadline(ticket_id, m)
            except SocialdeskError as err:
                log.warning("route %s: reply deadline of ticket %s not moved: %s", self.ctx.name, ticket_id, err)

    def linked_ticket(self, ticket_id: str) -> TicketRef | None:
        """The conversation's ticket, or None when it was deleted in the helpdesk."""
        try:
            return self.ctx.desk(lambda: self.ctx.helpdesk.get_ticket(ticket_id))
        except NotFound:
            log.info("route %s: ticket %s is gone; the conversation gets a new one", self.ctx.name, ticket_id)
            return None

    def requester(self, author: Author) -> str:
        ctx = self.ctx
        desk_name = ctx.settings.helpdesk_name
        known = ctx.store.get_requester(desk_name, author.network, author.id)
        if known:
            return known
        user_id = ctx.desk(lambda: ctx.helpdesk.upsert_requester(author))
        ctx.store.put_requester(desk_name, author.network, author.id, user_id)
        return user_id

    def has_comment(self, ticket_id: str, m: Mention) -> bool:
        found = marker(m)
        return any(found in c.body for c in self.ctx.desk(lambda: self.ctx.helpdesk.list_comments(ticket_id)))
