"""Posting agents' answers on the network, exactly once, in the thread or by DM.

A reply passes the guards (approval, personal data, staleness), is split into posts the
network accepts, and each post is recorded as soon as it is made; a retried attempt first
looks for its own post in the thread. A short internal note with the links closes it.
"""
from __future__ import annotations

import logging
from typing import Any

from adapters.base import DuplicateContent, OutboundPost, RetriableError
from sync.checkpoints import checkpoint
from sync.context import RouteContext
from sync.failures import work_rows
from sync.mirror.guards import HeldReply, public_reply_guard, too_old
from sync.policy import quick_retry
from sync.rules import NETWORK_NAMES
from sync.store import OutboxRow
from sync.text import address, split_reply

log = logging.getLogger("socialdesk.engine")

# How often a reply waiting for a lead's approval looks at its ticket again (seconds).
APPROVAL_RECHECK = 60.0


class ReplyPoster:
    """Works a route's outbox: each queued agent answer goes out once, or is held with a note."""

    def __init__(self, ctx: RouteContext) -> None:
        self.ctx = ctx

    def drain(self, limit: int = 20) -> int:
        ctx = self.ctx
        if not ctx.health.ready("network") or not ctx.health.ready("helpdesk"):
            return 0
        return work_rows(ctx, "outbox", ctx.store.claim_outbox(ctx.name, limit), self.mirror, self.failed, "mirror")

    def mirror(self, row: OutboxRow) -> None:
        ctx = self.ctx
        network, desk, mirror = ctx.network, ctx.helpdesk, ctx.settings.mirror
        link = ctx.store.link_by_ticket(ctx.name, row.ticket_id)
        if link is None:
            # Queued while its ticket's link was being recorded: it comes in a moment.
            raise RetriableError(f"ticket {row.ticket_id} is not linked to a conversation yet")
        ticket = ctx.desk(lambda: desk.get_ticket(row.ticket_id))
        if mirror.approval.required and mirror.approval.tag not in ticket.tags:
            self._await_approval(row, mirror.approval.tag)
            return
        attempt = ctx.store.begin_outbox_attempt(row.id, row.owner)
        if attempt is None:
            return  # the lease ran out and another worker has the row now
        retry = attempt > 1
        to_dm = link.dm or (mirror.dm_tag is not None and mirror.dm_tag in ticket.tags)
        limit = network.max_dm_len if to_dm else network.max_reply_len
        body = row.body.strip() + (f" {mirror.sign_off}" if mirror.sign_off else "")
        text = body if to_dm else address(body, link.author_handle)
        if not to_dm:
            held = (public_reply_guard(row.body, tuple((p.name, p.regex) for p in mirror.pii_patterns))
                    or self._too_old(row.ticket_id))
            if held:
                raise HeldReply(held)
        parts = split_reply(text, network.weighted_length, limit, thread=mirror.thread_long_replies)
        done = {p["index"]: p for p in row.posted if "index" in p}
        # The first part answers the conversation's newest post as of the first attempt;
        # a retry whose first answer was lost must look for itself under that same post.
        previous = next((p["anchor"] for p in row.posted if "anchor" in p), None)
        if previous is None and not to_dm and link.last_post_id:
            previous = ctx.store.record_reply_anchor(row.id, link.last_post_id)
        previous = previous or link.last_post_id
        urls: list[str] = []
        for index, part in enumerate(parts):
            if index in done:
                previous = done[index]["id"]
                urls.append(done[index].get("url") or done[index]["id"])
                continue
            post = (OutboundPost(part, dm_recipient_id=link.author_id) if to_dm
                    else OutboundPost(part, in_reply_to=previous))
            result = self._post_once(post, retry)
            checkpoint("mirror.after_post")
            ctx.store.record_posted_part(row.id, {"index": index, "id": result.id, "url": result.url})
            checkpoint("mirror.after_record_part")
            ctx.stats.posts += 1
            previous = result.id
            urls.append(result.url or result.id)
        if to_dm and not link.dm and not link.dm_note_posted and mirror.dm_public_note:
            note = address(mirror.dm_public_note, link.author_handle)
            self._post_once(OutboundPost(note, in_reply_to=link.last_post_id), retry)
            ctx.store.mark_dm_note_posted(link.id)
        where = "as a direct message" if to_dm else "in the thread"
        note = (f"socialdesk posted this reply on {self._network_name()} {where}: " + ", ".join(urls)
                + f" [comment {row.comment_id}]")
        if not (retry and any(f"[comment {row.comment_id}]" in c.body
                              for c in ctx.desk(lambda: desk.list_comments(row.ticket_id)))):
            ctx.desk(lambda: desk.add_comment(row.ticket_id, note, public=False), write=True)
        checkpoint("mirror.after_note")
        ctx.store.finish_outbox(row.id, "posted")
        ctx.stats.replies_posted += 1

    def _network_name(self) -> str:
        return NETWORK_NAMES.get(self.ctx.network.kind, self.ctx.network.kind)

    def _too_old(self, ticket_id: str) -> str | None:
        """Why a public answer would come too late for the conversation, or None."""
        ctx = self.ctx
        mirror = ctx.settings.mirror
        last = ctx.store.last_post_at(ctx.name, ticket_id) if mirror.max_age is not None else None
        return too_old(last, ctx.clock(), mirror.max_age, mirror.dm_tag)

    def _await_approval(self, row: OutboxRow, tag: str) -> None:
        """Keep the reply until a lead approves the ticket; say so once, then check again."""
        ctx = self.ctx
        waiting = f"awaiting approval: a lead adds the tag {tag} to the ticket"
        if not (row.last_error or "").startswith("awaiting approval"):
            note = (f"socialdesk is holding this reply until a lead approves it: add the tag {tag} to the "
                    f"ticket and it goes out. [comment {row.comment_id}]")
            ctx.desk(lambda: ctx.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        ctx.store.retry_later("outbox", row.id, waiting, APPROVAL_RECHECK)

    def _post_once(self, post: OutboundPost, retry: bool) -> Any:
        """Post unless a retried attempt finds the post already made."""
        network = self.ctx.network
        if retry:
            found = quick_retry(lambda: network.find_own_post(post))
            if found is not None:
                return found
        try:
            return network.post(post)
        except DuplicateContent:
            found = quick_retry(lambda: network.find_own_post(post))
            if found is None:
                raise
            return found

    def failed(self, row: OutboxRow, err: Exception) -> None:
        """A held or failed reply: kept in the store, and the agent told why on the ticket."""
        ctx = self.ctx
        reason = f"{type(err).__name__}: {err}"
        ctx.store.quarantine("outbox", row.id, reason)
        ctx.stats.reply_failures += 1
        note = (f"socialdesk could not post this reply on {self._network_name()}: "
                f"{err}. It is kept; retry it with 'socialdesk failed retry out-{row.id}'. [comment {row.comment_id}]")
        try:
            ctx.desk(lambda: ctx.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        except Exception as note_err:  # the failure is recorded in the store either way
            log.warning("route %s: could not add the failure note to ticket %s: %s",
                        ctx.name, row.ticket_id, note_err)
