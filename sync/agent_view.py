"""The agent view: what the Zendesk ticket sidebar shows of a ticket's social conversation.

The customer, the post that opened the ticket, the network's messaging window, and what came
after: the customer's later posts and socialdesk's replies with their state (posted, waiting,
held and why, failed and why). It is assembled from the store alone (the ticket's link, its
inbox rows, its outbox rows), so opening a ticket costs neither the helpdesk nor the network
a call. The JSON is the one packaging/zendesk/README.md defines; the sidebar asks for it
through Zendesk's request proxy, which adds the agent view token.

Served for Zendesk accounts in REST mode. In Channel Framework mode the engine's tickets are
framework threads and agents' replies come back by channelback, which keeps no reply text:
such an account is not served here.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa

from adapters.base import Secret
from sync.rules import NETWORK_NAMES
from sync.store import Store, inbox, outbox
from sync.store.history import reply_state

log = logging.getLogger("socialdesk.agent_view")

TOKEN_ENV = "SOCIALDESK_AGENT_VIEW_TOKEN"

# How the sidebar names what a network's messaging window limits (a plural noun phrase:
# "... possible until", "... wait until the customer writes again").
WINDOW_APPLIES_TO = {"facebook": "Messenger replies", "instagram": "Instagram direct messages"}
# The author fields the ticket's first comment already shows an agent, under the sidebar's names
# (the profile link and the verified badge are the account's public face); never the network's
# user id, the post's language, its metrics or its media.
AUTHOR_FIELDS = (("handle", "handle"), ("name", "name"), ("profile_url", "url"), ("followers", "followers"),
                 ("verified", "verified"))


class NoView(LookupError):
    """No social post behind this ticket for this account (the sidebar's 404)."""


class ViewUnavailable(RuntimeError):
    """The state cannot be read just now (the sidebar's 503: it offers Refresh)."""


@dataclass(frozen=True)
class Source:
    """A route an account's tickets may come from: its network adapter (kind, messaging
    windows) and the tag that releases a reply awaiting approval (None: it asks none)."""

    route: str
    network: Any
    release_tag: str | None


def account_names(base_url: str) -> frozenset[str]:
    """What ``account`` a Zendesk account at ``base_url`` answers to: its subdomain on
    zendesk.com, and its host as configured (a host-mapped or a local account)."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    names = {parts.netloc.lower()} if parts.netloc else set()
    if host.endswith(".zendesk.com"):
        names.add(host.split(".", 1)[0])
    return frozenset(names)


def sources(account: str, routes: Iterable[Any], helpdesks: Mapping[str, Any],
            networks: Mapping[str, Any]) -> list[Source]:
    """The routes of the Zendesk helpdesks that ``account`` names (the mapping's ``routes``;
    the daemon's built adapters of the helpdesks in REST mode)."""
    wanted = account.strip().lower()
    served = {name for name, desk in helpdesks.items()
              if desk.kind == "zendesk" and wanted in account_names(desk.account_key())}
    return [Source(r.name, networks[r.network], r.mirror.approval.tag if r.mirror.approval.required else None)
            for r in routes if r.helpdesk in served]


def token_from_env(environ: Mapping[str, str] = os.environ) -> Secret | None:
    """The agent view token (None: not set, and every request is refused)."""
    value = environ.get(TOKEN_ENV, "").strip()
    return Secret(value, TOKEN_ENV) if value else None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: Any) -> float | None:
    """An ISO time as a post carries it (a naive one is UTC), in epoch seconds."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


class AgentView:
    """Answers the sidebar: the token checked, the account's routes searched for the ticket."""

    def __init__(self, store: Store, clock: Callable[[], float], token: Secret | None,
                 sources_of: Callable[[str], Sequence[Source]]) -> None:
        self.store = store
        self.clock = clock
        self._token = _digest(f"Bearer {token.reveal()}") if token is not None else None
        self.sources_of = sources_of

    def __repr__(self) -> str:
        return f"AgentView(token={'set' if self._token else 'unset'})"

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def allows(self, authorization: str | None) -> bool:
        """Whether the request's Authorization header carries the token; compared as digests,
        so the time taken says nothing of how much of it matched, nor of its length."""
        if self._token is None or not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":   # the scheme's name is case-insensitive (RFC 7235)
            return False
        return hmac.compare_digest(_digest(f"Bearer {credentials.strip()}"), self._token)

    def view(self, account: str, ticket_id: str) -> dict[str, Any]:
        """The ticket's view (NoView: not one of ``account``'s social tickets)."""
        found = self.sources_of(account) if account else []
        if not found:
            raise NoView(f"this socialdesk serves no Zendesk account {account!r}")
        try:
            for source in found if ticket_id.isdigit() else ():
                link = self.store.link_by_ticket(source.route, ticket_id)
                if link is not None:
                    return self._assemble(source, link, ticket_id)
        except sa.exc.OperationalError as err:
            log.warning("agent view of ticket %s: the state could not be read: %s", ticket_id, type(err).__name__)
            raise ViewUnavailable("socialdesk could not read its state just now; try again shortly") from None
        raise NoView(f"ticket {ticket_id} has no social post")

    # ------------------------------------------------------------------ assembly

    def _assemble(self, source: Source, link: Any, ticket_id: str) -> dict[str, Any]:
        now = self.clock()
        # Read here, not through a Store method: the lease and the posted parts say a reply's
        # state as exactly as the rows do, and only this view asks for them.
        with self.store.engine.connect() as conn:
            posts = conn.execute(sa.select(inbox.c.source_key, inbox.c.payload, inbox.c.received_at).where(
                inbox.c.route == source.route, inbox.c.state == "done",
                sa.or_(inbox.c.ticket_id == ticket_id, inbox.c.source_key == link.source_key))
                .order_by(inbox.c.sort_key, inbox.c.id)).fetchall()
            replies = conn.execute(sa.select(outbox).where(
                outbox.c.route == source.route, outbox.c.ticket_id == ticket_id).order_by(outbox.c.id)).fetchall()
        opening: dict[str, Any] | None = None
        timeline: list[tuple[float, dict[str, Any]]] = []
        for row in posts:
            payload = json.loads(row.payload)
            at = _epoch(payload.get("created_at")) or row.received_at
            if row.source_key == link.source_key:
                opening = payload
                continue
            item = {"by": "customer", "text": payload.get("text") or "", "at": _iso(at)}
            if payload.get("url"):
                item["url"] = payload["url"]
            timeline.append((at, item))
        timeline.extend((row.created_at, self._reply(row, source, now)) for row in replies)
        timeline.sort(key=lambda entry: entry[0])
        network = source.network.kind
        return {"ticket_id": ticket_id, "now": _iso(now), "network": network,
                "network_name": NETWORK_NAMES.get(network, network),
                "author": self._author(opening, link), "post": self._post(opening, link),
                "window": self._window(source, link, ticket_id, opening),
                "thread": [item for _, item in timeline]}

    @staticmethod
    def _author(opening: Mapping[str, Any] | None, link: Any) -> dict[str, Any]:
        author = (opening or {}).get("author") or {"handle": link.author_handle}
        return {name: author[key] for key, name in AUTHOR_FIELDS if author.get(key) is not None}

    @staticmethod
    def _post(opening: Mapping[str, Any] | None, link: Any) -> dict[str, Any]:
        if opening is None:   # the link outlived its inbox row: what the link still names
            return {"id": link.source_key.rsplit(":", 1)[-1], "kind": "dm" if link.dm else "post"}
        post = {"id": str(opening.get("id")), "kind": opening.get("kind"), "text": opening.get("text") or "",
                "url": opening.get("url")}
        created = _epoch(opening.get("created_at"))
        if created is not None:
            post["created_at"] = _iso(created)
        return {k: v for k, v in post.items() if v is not None}

    def _window(self, source: Source, link: Any, ticket_id: str,
                opening: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The window a private answer in this conversation goes out in, as the poster
        applies it (sync/mirror/poster.py): a direct-message conversation on a network that
        has one, counted from the customer's last message."""
        network = source.network
        if not link.dm or not network.private_reply_window:
            return None
        last = self.store.last_post_at(source.route, ticket_id) or _epoch((opening or {}).get("created_at"))
        if last is None:
            return None
        return {"closes_at": _iso(last + network.private_reply_window),
                "human_agent_until": _iso(last + network.human_agent_window) if network.human_agent_window else None,
                "applies_to": WINDOW_APPLIES_TO.get(network.kind, "private replies")}

    @staticmethod
    def _reply(row: Any, source: Source, now: float) -> dict[str, Any]:
        """One of socialdesk's replies, in the state its outbox row is in."""
        item: dict[str, Any] = {"by": "brand", "text": row.body, "at": _iso(row.created_at),
                                "comment_id": row.comment_id}
        parts = [p for p in json.loads(row.posted or "[]") if "index" in p]
        state, hold, why = reply_state(row.state, row.last_error)
        if state == "posted":
            item["state"] = "posted"
            first = min(parts, key=lambda p: p["index"]) if parts else {}
            if first.get("url"):
                item["url"] = first["url"]
        elif state == "held":
            item.update(state="held", hold=hold, why=why)
            if hold == "approval" and source.release_tag:
                item["release_tag"] = source.release_tag
        elif state == "waiting":
            item["state"] = "posting" if parts or row.lease_until > now else "queued"
        else:
            item.update(state="failed", why=why or "not posted")
        return item


__all__ = ["AgentView", "NoView", "Source", "TOKEN_ENV", "ViewUnavailable", "account_names", "sources",
           "token_from_env"]
