"""A mention as the helpdesk sees it: the ticket's fields, its comment body, its link row.

Pure: no call leaves this module. The writers (single and batched) ask it what to write.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from adapters.base import Author, Media, Mention, NewTicket, TicketRef
from sync.rules import NETWORK_NAMES, placeholders
from sync.settings import SOCIALDESK_TAG, RouteSettings
from sync.store import InboxRow


def conversation_key(m: Mention) -> str:
    """One ticket per customer conversation: two customers answering the same post of
    the brand share X's conversation id, but not a ticket."""
    if m.kind == "dm":
        return f"{m.network}:dm:{m.conversation_id}"
    return f"{m.network}:conv:{m.conversation_id}:{m.author.id}"


def mention_to_payload(m: Mention) -> dict[str, Any]:
    """The mention as its inbox row keeps it (JSON). Spelled out: ``dataclasses.asdict`` deep-
    copies every value and was a fifth of the daemon's CPU per mention."""
    a = m.author
    return {"network": m.network, "id": m.id, "kind": m.kind,
            "author": {"network": a.network, "id": a.id, "handle": a.handle, "name": a.name,
                       "followers": a.followers, "verified": a.verified, "profile_url": a.profile_url},
            "text": m.text, "created_at": m.created_at.isoformat() if m.created_at else None, "url": m.url,
            "conversation_id": m.conversation_id, "in_reply_to": m.in_reply_to, "is_repost": m.is_repost,
            "is_quote": m.is_quote, "lang": m.lang, "metrics": dict(m.metrics),
            "media": [{"kind": x.kind, "ref": x.ref, "url": x.url} for x in m.media]}


def mention_from_payload(data: dict[str, Any]) -> Mention:
    data = dict(data)
    data["author"] = Author(**data["author"])
    data["created_at"] = datetime.fromisoformat(data["created_at"]) if data.get("created_at") else None
    data["media"] = tuple(Media(**x) for x in data.get("media", ()))
    return Mention(**data)


def row_mention(row: InboxRow) -> Mention:
    """The mention an inbox row holds; KeyError, TypeError or ValueError when it cannot be read."""
    return mention_from_payload({k: v for k, v in row.payload.items() if k != "before_first_run"})


def metric_name(name: str) -> str:
    return name.replace("_count", "").replace("_", " ")


def marker(m: Mention) -> str:
    """What identifies the post inside a ticket's comments (a retried write looks for it)."""
    what = {"dm": "message", "comment": "comment"}.get(m.kind, "post")
    return m.url or f"{NETWORK_NAMES.get(m.network, m.network)} {what} {m.id}"


class TicketComposer:
    """Ticket fields and comment bodies for one route's mentions."""

    def __init__(self, settings: RouteSettings, reply_window: float | None,
                 media_url: Callable[[Media], str | None] = lambda media: None) -> None:
        self.settings = settings
        self.reply_window = reply_window
        self.media_url = media_url

    def comment_body(self, m: Mention) -> str:
        """The post exactly as written, then what an agent needs to know about it."""
        network = NETWORK_NAMES.get(m.network, m.network)
        who = f"@{m.author.handle}" + (f" ({m.author.name})" if m.author.name else "")
        lines = [m.text, "", "—", f"{who} on {network}" + (
            f" · {m.author.followers:,} followers" if m.author.followers is not None else "")]
        lines.append(("Direct message · " if m.kind == "dm" else "") + marker(m))
        for media in m.media:
            link = self.media_url(media)
            lines.append(f"{media.kind.title()}: " + (link or f"{media.url or media.ref} (the network's link expires)"))
        if m.created_at:
            lines.append(f"Posted {m.created_at.strftime('%Y-%m-%d %H:%M UTC')}")
        if self.settings.ticket.include_metrics and m.metrics:
            shown = [f"{metric_name(k)} {v:,}" for k, v in sorted(m.metrics.items())]
            lines.append("Metrics: " + " · ".join(shown))
        return "\n".join(lines)

    def new_ticket(self, m: Mention, requester: str, previous: TicketRef | None) -> NewTicket:
        """The ticket for a conversation's first post, or for a follow-up of a closed one."""
        fired: tuple[str, ...] = ()
        t = self.settings.ticket
        if self.settings.ticket_for is not None:
            fired, t = self.settings.ticket_for(m)
        values = placeholders(m, self.reply_window)
        body = self.comment_body(m)
        tags = [SOCIALDESK_TAG, *t.tags, f"social_{m.kind}"]
        followup_of = None
        if previous is not None:
            if previous.status == "closed":
                followup_of = previous.id
            else:
                body += f"\nFollow-up to ticket #{previous.id} (solved)"
            tags.append("social_followup")
        if fired:
            body += "\nRouting rules: " + ", ".join(fired)
        fields = {k: (v.format(**values) if isinstance(v, str) else v) for k, v in t.custom_fields.items()}
        return NewTicket(external_id=m.key, subject=t.subject.format(**values)[:150], body=body,
                         requester_id=requester, tags=tuple(dict.fromkeys(tags)), priority=t.priority,
                         group_id=t.group_id, brand_id=t.brand_id, ticket_form_id=t.form_id,
                         entitlement_id=t.entitlement_id, type=t.type, origin=t.origin,
                         record_type_id=t.record_type_id, assignment_rule=t.assignment_rule,
                         custom_fields=fields, followup_of=followup_of)

    def deadline_fields(self, m: Mention) -> dict[Any, str]:
        """The ticket fields that show the private-reply deadline (``{reply_deadline}``),
        as this customer message moves it; empty when the network has no such window."""
        if not self.reply_window:
            return {}
        return {k: v.format(**placeholders(m, self.reply_window)) for k, v in self.settings.ticket.custom_fields.items()
                if isinstance(v, str) and "{reply_deadline}" in v}

    def link_values(self, m: Mention, ref: TicketRef) -> dict[str, Any]:
        """The link row that ties the conversation to its ticket."""
        return {"route": self.settings.name, "conversation_key": conversation_key(m), "ticket_id": ref.id,
                "source_key": m.key, "author_id": m.author.id, "author_handle": m.author.handle,
                "dm": m.kind == "dm", "last_post_id": m.id}


def filtered(settings: RouteSettings, me: Callable[[], Author], m: Mention, payload: dict[str, Any]) -> str | None:
    """Why a read mention opens no ticket (own post, repost, blocklist...), or None."""
    if payload.get("before_first_run"):
        return "posted before the route's history window"
    if m.author.id == me().id and not settings.include.own_posts:
        return "own post"
    if m.is_repost and not settings.include.reposts:
        return "repost"
    if m.is_quote and not settings.include.quotes:
        return "quote"
    if m.author.handle.lower() in settings.blocklist:
        return "blocklisted author"
    return None
