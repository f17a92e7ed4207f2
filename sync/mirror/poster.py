"""Posting agents' answers on the network, exactly once, in the thread or by DM.

A reply passes the guards (approval, personal data, staleness), is split into posts the
network accepts, and each post is recorded as soon as it is made; a retried attempt first
looks for its own post in the thread. A short internal note with the links closes it.
"""
from __future__ import annotations

import logging
from typing import Any

from adapters.base import DuplicateContent, OutboundPost, RetriableError, WindowClosed
from sync.checkpoints import checkpoint
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.failures import work_rows
from sync.logs import about
from sync.mirror.guards import HeldReply, public_reply_guard, too_old
from sync.policy import quick_retry
from sync.rules import NETWORK_NAMES
from sync.store import LinkRow, OutboxRow
from sync.text import ReplyTooLong, address, split_reply

log = logging.getLogger("socialdesk.engine")

# How often a reply waiting for a lead's approval looks at its ticket again (seconds).
APPROVAL_RECHECK = 60.0
# How often a reply held past the messaging window looks for a new customer message.
WINDOW_RECHECK = 300.0
# Meta's message tag for a person's answer after the standard 24-hour window.
HUMAN_AGENT = "HUMAN_AGENT"
# How a reply kept for later starts its reason (the outbox row's last error): it waits on
# people (a lead, the customer), not on socialdesk.
AWAITING_APPROVAL = "awaiting approval"
OUTSIDE_WINDOW = "outside the messaging window"
KEPT_FOR_PEOPLE = (AWAITING_APPROVAL, OUTSIDE_WINDOW)


def _ago(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} hours"


def window_tag(network: Any, last_at: float | None, now: float) -> tuple[bool, str | None]:
    """Whether a private answer may still go out, and with which message tag: as is within
    the network's standard window (or when it has none, or no customer message is known),
    with the human-agent tag while that window lasts, not at all after."""
    window = network.private_reply_window
    if not window or last_at is None:
        return True, None
    age = now - last_at
    if age <= window:
        return True, None
    if network.human_agent_window and age <= network.human_agent_window:
        return True, HUMAN_AGENT
    return False, None


def post_once(network: Any, post: OutboundPost, retry: bool) -> Any:
    """Post unless a retried attempt finds the post already made (or the network refuses
    the same text again because it is there)."""
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


class ReplyPoster:
    """Works a route's outbox: each queued agent answer goes out once, or is held with a note."""

    def __init__(self, ctx: RouteContext, events: RouteEvents) -> None:
        self.ctx = ctx
        self.events = events

    def drain(self, limit: int = 20) -> int:
        ctx = self.ctx
        if not ctx.health.ready("network") or not ctx.health.ready("helpdesk"):
            return 0
        return work_rows(ctx, "outbox", ctx.store.claim_outbox(ctx.name, limit), self.mirror, self.failed, "mirror")

    def mirror(self, row: OutboxRow) -> None:
        link = self.ctx.store.link_by_ticket(self.ctx.name, row.ticket_id)
        if link is None:
            # Queued while its ticket's link was being recorded: it comes in a moment.
            raise RetriableError(f"ticket {row.ticket_id} is not linked to a conversation yet")
        with about(conversation=link.conversation_key):
            self._mirror(row, link)

    def _mirror(self, row: OutboxRow, link: LinkRow) -> None:
        ctx = self.ctx
        network, desk, mirror = ctx.network, ctx.helpdesk, ctx.settings.mirror
        ticket = ctx.desk(lambda: desk.get_ticket(row.ticket_id))
        if mirror.approval.required and mirror.approval.tag not in ticket.tags:
            self._await_approval(row, mirror.approval.tag)
            return
        attempt = ctx.store.begin_outbox_attempt(row.id, row.owner)
        if attempt is None:
            return  # the lease ran out and another worker has the row now
        retry = attempt > 1
        to_dm = link.dm or (mirror.dm_tag is not None and mirror.dm_tag in ticket.tags)
        # A commenter is first reached privately by a Private Reply to their comment (Meta).
        privately = to_dm and not link.dm and network.private_replies
        tag = self._message_tag(row) if link.dm else None
        if tag is False:
            return      # past the network's messaging window: held, with a note that says why
        limit = network.max_dm_len if to_dm else network.max_reply_len
        body = row.body.strip() + (f" {mirror.sign_off}" if mirror.sign_off else "")
        text = body if to_dm or not network.addresses_author else address(body, link.author_handle)
        if not to_dm:
            held = (public_reply_guard(row.body, tuple((p.name, p.regex) for p in mirror.pii_patterns))
                    or self._too_old(row.ticket_id))
            if held:
                raise HeldReply(held)
        parts = split_reply(text, network.weighted_length, limit, thread=mirror.thread_long_replies and not privately)
        if privately and len(parts) > 1:
            raise HeldReply(f"a Private Reply is one message of at most {limit} characters: shorten the reply")
        done = {p["index"]: p for p in row.posted if "index" in p}
        # The first part answers the conversation's newest post as of the first attempt;
        # a retry whose first answer was lost must look for itself under that same post.
        previous = next((p["anchor"] for p in row.posted if "anchor" in p), None)
        if previous is None and (privately or not to_dm) and link.last_post_id:
            previous = ctx.store.record_reply_anchor(row.id, link.last_post_id)
        previous = previous or link.last_post_id
        urls: list[str] = []
        for index, part in enumerate(parts):
            if index in done:
                previous = done[index]["id"]
                urls.append(done[index].get("url") or done[index]["id"])
                continue
            if privately:
                post = OutboundPost(part, private_reply_to=previous)
            elif to_dm:
                post = OutboundPost(part, dm_recipient_id=link.author_id, tag=tag or None)
            else:
                post = OutboundPost(part, in_reply_to=previous)
            try:
                result = self._post_once(post, retry)
            except WindowClosed as err:
                self._hold_for_window(row, str(err))
                return
            checkpoint("mirror.after_post")
            ctx.store.record_posted_part(row.id, {"index": index, "id": result.id, "url": result.url})
            checkpoint("mirror.after_record_part")
            ctx.stats.posts += 1
            previous = result.id
            urls.append(result.url or result.id)
        if to_dm and not link.dm and not privately and not link.dm_note_posted and mirror.dm_public_note:
            note = address(mirror.dm_public_note, link.author_handle)
            self._post_once(OutboundPost(note, in_reply_to=link.last_post_id), retry)
            ctx.store.mark_dm_note_posted(link.id)
        where = ("as a Private Reply to the comment" if privately else "as a direct message" if to_dm
                 else "in the thread") + (f" (tag {tag})" if tag else "")
        note = (f"socialdesk posted this reply on {self._network_name()} {where}: " + ", ".join(urls)
                + f" [comment {row.comment_id}]")
        if not (retry and any(f"[comment {row.comment_id}]" in c.body
                              for c in ctx.desk(lambda: desk.list_comments(row.ticket_id)))):
            ctx.desk(lambda: desk.add_comment(row.ticket_id, note, public=False), write=True)
        checkpoint("mirror.after_note")
        ctx.store.finish_outbox(row.id, "posted")
        ctx.stats.replies_posted += 1
        self.events.reply_posted(row.ticket_id, row.comment_id, link.conversation_key, len(parts), where,
                                 ctx.store.queued_at("outbox", row.id), ctx.clock())

    def _network_name(self) -> str:
        return NETWORK_NAMES.get(self.ctx.network.kind, self.ctx.network.kind)

    def _too_old(self, ticket_id: str) -> str | None:
        """Why a public answer would come too late for the conversation, or None."""
        ctx = self.ctx
        mirror = ctx.settings.mirror
        last = ctx.store.last_post_at(ctx.name, ticket_id) if mirror.max_age is not None else None
        return too_old(last, ctx.clock(), mirror.max_age, mirror.dm_tag)

    def _message_tag(self, row: OutboxRow) -> str | bool | None:
        """How a private answer may still go out: None within the network's standard window
        (or when it has none), the human-agent tag past it, False when that window has
        closed too (the reply is then held with a note)."""
        ctx, network = self.ctx, self.ctx.network
        if not network.private_reply_window:
            return None
        last = ctx.store.last_post_at(ctx.name, row.ticket_id)
        open_, tag = window_tag(network, last, ctx.clock())
        if open_:
            return tag
        assert last is not None
        age = ctx.clock() - last
        hours = network.private_reply_window / 3600
        days = (network.human_agent_window or 0) / 86400
        self._hold_for_window(row, f"the customer last wrote {_ago(age)} ago; {self._network_name()} lets a business "
                                   f"answer privately within {hours:g} hours"
                              + (f", and a person within {days:g} days" if days else ""))
        return False

    def _hold_for_window(self, row: OutboxRow, why: str) -> None:
        """Keep a private answer the network no longer accepts: say once why and what the
        agent can do; it goes out by itself once the customer writes again."""
        ctx = self.ctx
        waiting = f"{OUTSIDE_WINDOW}: {why}"
        if not (row.last_error or "").startswith(OUTSIDE_WINDOW):
            self._held(row, waiting)
            note = (f"socialdesk is holding this reply: {why}. It goes out by itself if the customer writes "
                    f"again. To reach them now, answer them publicly on one of their posts or comments. "
                    f"[comment {row.comment_id}]")
            ctx.desk(lambda: ctx.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        ctx.store.retry_later("outbox", row.id, waiting, WINDOW_RECHECK)

    def _await_approval(self, row: OutboxRow, tag: str) -> None:
        """Keep the reply until a lead approves the ticket; say so once, then check again."""
        ctx = self.ctx
        waiting = f"{AWAITING_APPROVAL}: a lead adds the tag {tag} to the ticket"
        if not (row.last_error or "").startswith(AWAITING_APPROVAL):
            self._held(row, waiting)
            note = (f"socialdesk is holding this reply until a lead approves it: add the tag {tag} to the "
                    f"ticket and it goes out. [comment {row.comment_id}]")
            ctx.desk(lambda: ctx.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        ctx.store.retry_later("outbox", row.id, waiting, APPROVAL_RECHECK)

    def _held(self, row: OutboxRow, why: str, set_aside: bool = False) -> None:
        link = self.ctx.store.link_by_ticket(self.ctx.name, row.ticket_id)
        self.events.reply_held(row.ticket_id, row.comment_id, link.conversation_key if link else None, why,
                               set_aside)

    def _post_once(self, post: OutboundPost, retry: bool) -> Any:
        return post_once(self.ctx.network, post, retry)

    def failed(self, row: OutboxRow, err: Exception) -> None:
        """A held or failed reply: kept in the store, and the agent told why on the ticket."""
        ctx = self.ctx
        reason = f"{type(err).__name__}: {err}"
        ctx.store.quarantine("outbox", row.id, reason)
        ctx.stats.reply_failures += 1
        if isinstance(err, (HeldReply, ReplyTooLong)):
            self._held(row, str(err), set_aside=True)
        else:
            link = ctx.store.link_by_ticket(ctx.name, row.ticket_id)
            self.events.reply_failed(row.ticket_id, row.comment_id, link.conversation_key if link else None,
                                     type(err).__name__)
        if row.last_error == reason:
            # Queued again (a release, 'socialdesk failed retry') and refused for the same
            # reason: the ticket already says so.
            return
        note = (f"socialdesk could not post this reply on {self._network_name()}: "
                f"{err}. It is kept; retry it with 'socialdesk failed retry out-{row.id}'. [comment {row.comment_id}]")
        try:
            ctx.desk(lambda: ctx.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        except Exception as note_err:  # the failure is recorded in the store either way
            log.warning("route %s: could not add the failure note to ticket %s: %s",
                        ctx.name, row.ticket_id, note_err)
