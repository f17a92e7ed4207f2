"""Channelback: an agent's public reply in Zendesk, posted on the network in its thread.

Zendesk posts the reply to the channelback URL and waits for the new post's external id;
so the reply is posted here and now, past the same guards as in REST mode (a lead's
approval, personal data in public, a stale conversation, the messaging window), split
into posts the network accepts. Each post is recorded as soon as it is made, under
Zendesk's ``request_unique_identifier``: a request made again (Zendesk does, after a
network error) gets the same answer and never a second post.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any, Callable

from adapters.base import (
    AuthFailed, NotFound, OutboundPost, RateLimited, RetriableError, SkippableError,
    SocialdeskError, WindowClosed, post_key,
)
from sync.channel.ledger import resource_id
from sync.mirror.guards import HeldReply, public_reply_guard, too_old
from sync.mirror.poster import post_once, window_tag
from sync.store import Store
from sync.store.tenants import ResourceRow, TenantRow, ThreadRow
from sync.text import ReplyTooLong, address, split_reply

log = logging.getLogger("socialdesk.channel")


class Refused(Exception):
    """A request the integration answers with an error: HTTP ``status`` and a short clear
    ``message`` (the agent sees it on the failed comment); ``retry_after`` for a throttle."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _posted_at(row: ResourceRow) -> float | None:
    stamp = row.resource.get("created_at")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() if stamp else None
    except ValueError:
        return None


class Replies:
    """Posts channelbacks for every tenant; each reply only in its own tenant's threads."""

    def __init__(self, store: Store, route_of: Callable[[str], Any], desk_of: Callable[[str], Any],
                 clock: Callable[[], float]) -> None:
        self.store, self.route_of, self.desk_of, self.clock = store, route_of, desk_of, clock

    def thread(self, tenant: TenantRow, thread_id: str | None, parent_id: str | None) -> ThreadRow:
        """The tenant's thread a reply belongs to (by ``thread_id``, else by its parent)."""
        found = self.store.thread_by_id(tenant.helpdesk, thread_id) if thread_id else None
        if found is None and parent_id:
            row = self.store.channel_resource(tenant.helpdesk, parent_id)
            ref = row.thread_ref if row is not None else None
            if ref is None:
                ours = self.store.channelback_by_external_id(parent_id)
                ref = ours.thread_ref if ours is not None and ours.tenant == tenant.id else None
            found = self.store.channel_thread(ref, tenant.helpdesk) if ref else None
        if found is None:
            raise Refused(404, "this reply's conversation is not one socialdesk handed to this Zendesk account")
        return found

    def post(self, tenant: TenantRow, message: str, thread_id: str | None, parent_id: str | None,
             request_key: str | None) -> str:
        """Post the reply; the external id of its (first) post. Refused says why not."""
        thread = self.thread(tenant, thread_id, parent_id)
        route = self.route_of(thread.route)
        if route is None:
            raise Refused(503, f"route {thread.route} is not running in this socialdesk")
        if route.state == "parked":
            raise Refused(503, f"route {thread.route} is stopped: {route.parked}")
        if not route.health.ready("network"):
            raise Refused(503, f"route {thread.route} waits for {route.network.kind}: {route.waiting or 'paused'}",
                          retry_after=60.0)
        mirror = route.settings.mirror
        if not mirror.enabled:
            raise Refused(403, f"replies to {route.network.kind} are switched off for route {thread.route} "
                               "(mirror.enabled in the mapping)")
        posts = self.store.thread_resources(thread.ref)
        if not posts:
            raise Refused(404, "the conversation has no post to answer")
        key = request_key or hashlib.sha256(f"{thread.ref}\n{parent_id}\n{message}".encode()).hexdigest()
        record = self.store.begin_channelback(tenant.id, key, thread.ref)
        if record.state == "posted" and record.external_id:
            return record.external_id      # the same request made again: the same answer
        began = self.clock()
        ticket, reply = thread.ticket_id or "-", f"channelback-{record.id}"
        try:
            external_id, parts = self._post(route, thread, posts, message, parent_id, record)
        except HeldReply as err:
            self.store.finish_channelback(record.id, None, str(err))
            route.events.reply_held(ticket, reply, thread.conversation, str(err), set_aside=True)
            raise Refused(422, str(err)) from None
        except Refused as err:
            self.store.finish_channelback(record.id, None, err.message)
            if err.status == 422:       # the network cannot take it as written: the agent answers again
                route.events.reply_held(ticket, reply, thread.conversation, err.message, set_aside=True)
            raise
        self.store.finish_channelback(record.id, external_id)
        self.store.count_tenant(tenant.id, channelbacks=1)
        route.events.reply_posted(ticket, reply, thread.conversation, parts, "through channelback", began,
                                  self.clock())
        return external_id

    def _anchor(self, posts: list[ResourceRow], parent_id: str | None) -> str | None:
        """The post a public reply answers: the one the agent replied to when it is a
        customer's post or one of socialdesk's, else the conversation's newest."""
        if parent_id:
            for row in posts:
                if row.external_id == parent_id and row.post_id:
                    return row.post_id
            ours = self.store.channelback_by_external_id(parent_id)
            if ours is not None and ours.posted:
                return str(ours.posted[-1]["id"])
        return next((row.post_id for row in reversed(posts) if row.post_id), None)

    def _post(self, route: Any, thread: ThreadRow, posts: list[ResourceRow], message: str,
              parent_id: str | None, record: Any) -> tuple[str, int]:
        """Post the reply's parts; the external id of its first post and how many posts it took."""
        network, mirror = route.network, route.settings.mirror
        customer = posts[0]
        dm = posts[-1].dm
        last_at = max((t for t in (_posted_at(r) for r in posts) if t is not None), default=None)
        tag = self._message_tag(network, last_at) if dm else None
        if mirror.approval.required:
            self._approved(thread, mirror.approval.tag)
        body = message.strip() + (f" {mirror.sign_off}" if mirror.sign_off else "")
        handle = customer.author_handle or ""
        text = body if dm or not network.addresses_author or not handle else address(body, handle)
        if not dm:
            held = (public_reply_guard(message, tuple((p.name, p.regex) for p in mirror.pii_patterns))
                    or too_old(last_at, self.clock(), mirror.max_age, None))
            if held:
                raise HeldReply(held)
        limit = network.max_dm_len if dm else network.max_reply_len
        try:
            parts = split_reply(text, network.weighted_length, limit, thread=mirror.thread_long_replies and not dm)
        except ReplyTooLong as err:
            raise Refused(422, f"{err}: shorten the reply") from None
        previous = self._anchor(posts, parent_id)
        done = {p["index"]: p for p in record.posted}
        retry = bool(record.posted) or record.state == "failed"
        first: str | None = None
        for index, part in enumerate(parts):
            if index in done:
                previous = str(done[index]["id"])
                first = first or previous
                continue
            post = (OutboundPost(part, dm_recipient_id=customer.author_id, tag=tag) if dm
                    else OutboundPost(part, in_reply_to=previous))
            result = self._post_once(network, post, retry)
            self.store.channelback_part(record.id, {"index": index, "id": result.id, "url": result.url})
            previous = result.id
            first = first or result.id
            route.stats.posts += 1
        assert first is not None
        route.stats.replies_posted += 1
        return resource_id(thread.route, post_key(network.kind, first, dm=dm)), len(parts)

    def _post_once(self, network: Any, post: OutboundPost, retry: bool) -> Any:
        """Post, unless a request made again finds its post already made."""
        try:
            return post_once(network, post, retry)
        except RateLimited as err:
            raise Refused(429, f"{network.kind} is throttling socialdesk's posts; Zendesk may send the reply again "
                               f"in {err.retry_after:.0f} s", retry_after=err.retry_after) from None
        except WindowClosed as err:
            raise Refused(422, f"{network.kind} no longer accepts a private message here: {err}") from None
        except NotFound:
            raise Refused(422, f"the post this reply answers is gone from {network.kind}") from None
        except SkippableError as err:
            raise Refused(422, f"{network.kind} refused the reply: {err}") from None
        except AuthFailed:
            raise Refused(502, f"{network.kind} refused socialdesk's credentials; an admin runs 'socialdesk connect' "
                               "for this account") from None
        except RetriableError as err:
            raise Refused(503, f"{network.kind} could not be reached ({type(err).__name__}); send the reply again",
                          retry_after=30.0) from None
        except SocialdeskError as err:
            raise Refused(502, f"{network.kind}: {type(err).__name__}") from None

    def _message_tag(self, network: Any, last_at: float | None) -> str | None:
        """A private answer within the network's window goes as is, past it with the human
        agent tag while that window lasts, and is refused after."""
        open_, tag = window_tag(network, last_at, self.clock())
        if open_:
            return tag
        age = self.clock() - (last_at or 0.0)
        raise Refused(422, f"the customer last wrote {age / 3600:.0f} h ago; {network.kind} no longer lets a "
                           "business answer privately: answer on one of their public posts")

    def _approved(self, thread: ThreadRow, tag: str) -> None:
        desk = self.desk_of(thread.helpdesk)
        if thread.ticket_id is None:
            raise Refused(409, f"held until a lead approves it: Zendesk has not said which ticket this is yet; "
                               f"add the tag {tag} and send the reply again shortly")
        try:
            ticket = desk.get_ticket(thread.ticket_id)
        except SocialdeskError as err:
            raise Refused(503, f"the ticket's approval could not be read: {err}", retry_after=30.0) from None
        if tag not in ticket.tags:
            raise Refused(403, f"held until a lead approves it: add the tag {tag} to the ticket and send the reply "
                               "again")


__all__ = ["Refused", "Replies"]
