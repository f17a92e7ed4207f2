"""The threads socialdesk hands Zendesk in Channel Framework mode.

The engine writes a post as in REST mode (``TicketWriter``): a conversation's first post
opens a ticket, a later one comments on it. Here each write becomes an external resource
kept in the store for Zendesk (pushed, or pulled), built from the post the route read (its
author, when it was posted, its conversation), and the "ticket" the engine holds is the
framework thread Zendesk files it under: ``<route>:<conversation>``. Zendesk threads the
later posts natively, and says which ticket it made in its event callbacks.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Mapping, Sequence

from adapters.base import Mention, NewTicket
from sync.ingest.composer import conversation_key, mention_from_payload
from sync.store import Store

log = logging.getLogger("socialdesk.channel")

REF_MAX = 64  # the engine keeps ticket ids in 64 characters


def thread_ref(thread_id: str) -> str:
    """The engine's name for a thread: its id, or a digest of a long one."""
    if len(thread_id) <= REF_MAX:
        return thread_id
    return "thread-" + hashlib.sha256(thread_id.encode()).hexdigest()[:32]


def _mention(payload: Mapping[str, Any]) -> Mention:
    return mention_from_payload({k: v for k, v in payload.items() if k != "before_first_run"})


def resource_id(route: str, key: str) -> str:
    """A post's external id: the route's name, then the post's source key (two routes
    reading one post each hand it to Zendesk, as in REST mode each opens its ticket)."""
    return f"{route}:{key}"


def split_settings(ticket: NewTicket) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the resource's ``fields`` set as Zendesk makes the ticket, what REST sets right
    after). Zendesk's push reference: system fields by their English name, custom fields by
    id; a group, brand or form has no such name there."""
    fields: dict[str, Any] = {"subject": ticket.subject, "priority": ticket.priority, "type": ticket.type,
                              "tags": list(ticket.tags) or None}
    fields.update({str(k): v for k, v in ticket.custom_fields.items()})
    after = {"group_id": ticket.group_id, "brand_id": ticket.brand_id, "ticket_form_id": ticket.ticket_form_id}
    return ({k: v for k, v in fields.items() if v is not None}, {k: v for k, v in after.items() if v is not None})


class ChannelLedger:
    """``ThreadLedger`` (adapters/helpdesk/zendesk/channel.py) over the store."""

    def __init__(self, store: Store, routes_of: Callable[[str], list[str]], desk_of: Callable[[str], Any],
                 composer_of: Callable[[str], Any], wake: Callable[[], None]) -> None:
        self.store = store
        self.routes_of = routes_of          # helpdesk name -> its routes' names
        self.desk_of = desk_of              # helpdesk name -> its channel adapter
        self.composer_of = composer_of      # route name -> its TicketComposer (None: not running)
        self.wake = wake                    # new resources: push soon

    def _handed(self, helpdesk: str, route: str, m: Mention, message: str, fields: Mapping[str, Any],
                after: Mapping[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the thread's row, the resource's row) of a post handed to Zendesk."""
        desk = self.desk_of(helpdesk)
        conversation = conversation_key(m)
        thread_id = f"{route}:{conversation}"
        ref = thread_ref(thread_id)
        external_id = resource_id(route, m.key)
        display = {"network": m.network, "kind": m.kind, "post_id": m.id, "url": m.url,
                   "handle": m.author.handle, "followers": m.author.followers}
        resource = desk.external_resource(external_id=external_id, message=message, thread_id=thread_id,
                                          created_at=m.created_at, author=m.author, fields=fields,
                                          display={k: v for k, v in display.items() if v is not None})
        thread = {"ref": ref, "helpdesk": helpdesk, "route": route, "thread_id": thread_id,
                  "conversation": conversation}
        row = {"helpdesk": helpdesk, "route": route, "external_id": external_id, "thread_ref": ref, "kind": kind,
               "resource": resource, "after_creation": after, "post_id": m.id, "post_url": m.url,
               "author_id": m.author.id, "author_handle": m.author.handle, "dm": m.kind == "dm"}
        return thread, row

    def _save(self, handed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Keep what was handed, in one transaction; the pusher hears of anything new."""
        if handed and any(self.store.put_handed(handed)):
            self.wake()

    def take_ticket(self, helpdesk: str, ticket: NewTicket, key: str) -> str | None:
        return self.take_tickets(helpdesk, [(ticket, key)])[0]

    def take_tickets(self, helpdesk: str, items: Sequence[tuple[NewTicket, str]]) -> list[str | None]:
        """``take_ticket`` for many posts, kept in one transaction."""
        posts = self.store.inflight_posts(self.routes_of(helpdesk), [key for _, key in items])
        handed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        refs: list[str | None] = []
        for ticket, key in items:
            found = posts.get(key)
            if found is None:
                refs.append(None)
                continue
            route, payload = found
            fields, after = split_settings(ticket)
            handed.append(self._handed(helpdesk, route, _mention(payload), ticket.body, fields, after, "ticket"))
            refs.append(handed[-1][0]["ref"])
        self._save(handed)
        return refs

    def take_post(self, helpdesk: str, ref: str, body: str) -> bool:
        return self.take_posts(helpdesk, [(ref, body)])[0]

    def take_posts(self, helpdesk: str, items: Sequence[tuple[str, str]]) -> list[bool]:
        """``take_post`` for many threads, kept in one transaction."""
        threads = self.store.channel_threads([ref for ref, _ in items], helpdesk)
        heads = self.store.conversation_heads(sorted({(t.route, t.conversation) for t in threads.values()}))
        handed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        taken: list[bool] = []
        for ref, body in items:
            thread = threads.get(ref)
            payload = heads.get((thread.route, thread.conversation)) if thread is not None else None
            if thread is None or payload is None:
                taken.append(False)
                continue
            m = _mention(payload)
            # Zendesk makes a follow-up of a closed ticket's thread from this post: it then takes
            # the route's rules for it, as a new ticket would.
            composer = self.composer_of(thread.route)
            fields: dict[str, Any] = {}
            after: dict[str, Any] = {}
            if composer is not None:
                fields, after = split_settings(composer.new_ticket(m, f"{m.author.network}:{m.author.id}", None))
            handed.append(self._handed(helpdesk, thread.route, m, body, fields, after, "comment"))
            taken.append(True)
        self._save(handed)
        return taken

    def threads(self, helpdesk: str, refs: Sequence[str]) -> set[str]:
        """Which of ``refs`` are threads handed to Zendesk."""
        return set(self.store.channel_threads(list(refs), helpdesk))

    def find(self, helpdesk: str, key: str) -> str | None:
        for route in self.routes_of(helpdesk):
            row = self.store.channel_resource(helpdesk, resource_id(route, key))
            if row is not None:
                return row.thread_ref
        return None

    def ticket_of(self, helpdesk: str, ref: str) -> tuple[str | None, str] | None:
        thread = self.store.channel_thread(ref, helpdesk)
        if thread is None:
            return None
        first = self.store.thread_resources(ref)
        return thread.ticket_id, first[0].external_id if first else thread.thread_id

    def learned(self, helpdesk: str, ref: str, ticket_id: str) -> None:
        if self.store.channel_thread(ref, helpdesk) is not None:
            self.store.thread_ticket(ref, ticket_id)
