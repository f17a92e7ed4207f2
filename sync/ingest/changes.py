"""A change to a post already read (edited, deleted, hidden, unsent) as an internal note on
the ticket the post went to. Never public, never lost: a change that comes before its post
is written waits for it; one to a post that opened no ticket is kept as filtered, with why."""
from __future__ import annotations

from typing import Any

from adapters.base import RetriableError
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.rules import NETWORK_NAMES
from sync.store import InboxRow

_SAID = {
    "edited": "The customer edited their {thing} on {network}. It now reads:\n\n{text}",
    "deleted": "The customer's {thing} was deleted on {network}{by}.",
    "hidden": "The customer's {thing} was hidden on {network}{by}: only its author and their friends see it.",
    "unhidden": "The customer's {thing} is shown again on {network}{by}.",
    "unsent": "The customer unsent their message on {network}.",
}


def is_change(row: InboxRow) -> bool:
    return isinstance(row.payload, dict) and "change" in row.payload


def change_note(change: dict[str, Any]) -> str:
    """What the agent reads: what happened to which post, and its marker for a retry."""
    network = NETWORK_NAMES.get(change["network"], change["network"])
    target = str(change["target"])
    thing = "message" if ":dm:" in target else "post"
    by = f" by {change['by']}" if change.get("by") else ""
    said = _SAID.get(change["what"], "The customer's {thing} changed on {network}: " + str(change["what"]))
    text = said.format(thing=thing, network=network, by=by, text=change.get("text") or "(no text)")
    return f"{text}\n[{target.rsplit(':', 1)[-1]} {change['what']} {change.get('at') or ''}]".rstrip()


class ChangeWriter:
    """Writes change rows as internal notes."""

    def __init__(self, ctx: RouteContext, events: RouteEvents) -> None:
        self.ctx = ctx
        self.events = events

    def apply(self, row: InboxRow) -> None:
        ctx = self.ctx
        change = row.payload["change"]
        entry = ctx.store.inbox_entry(ctx.name, str(change["target"]))
        if entry is None:
            ctx.store.finish_inbox(row.id, "filtered", note=f"{change['what']}: a post socialdesk never read")
            ctx.stats.filtered += 1
            return
        state, ticket_id, _ = entry
        if state == "pending":
            raise RetriableError("the post this change concerns is not on a ticket yet")
        if state != "done" or not ticket_id:
            ctx.store.finish_inbox(row.id, "filtered", note=f"{change['what']}: its post opened no ticket ({state})")
            ctx.stats.filtered += 1
            return
        attempt = ctx.store.begin_attempt(row.id, row.owner)
        if attempt is None:
            return
        note = change_note(change)
        mark = note.rsplit("\n", 1)[-1]
        desk = ctx.helpdesk
        if not (attempt > 1 and any(mark in c.body for c in ctx.desk(lambda: desk.list_comments(ticket_id)))):
            ctx.desk(lambda: desk.add_comment(ticket_id, note, public=False), write=True)
        # No ticket id on the row: a change is not a customer message (it moves no deadline).
        ctx.store.finish_inbox(row.id, "done", note=f"noted on ticket {ticket_id}")
        self.events.change_noted(ticket_id, str(change["target"]), str(change["what"]))
