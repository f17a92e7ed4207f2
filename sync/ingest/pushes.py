"""Reading what a network pushed (Meta's webhooks) into the inbox.

The web receiver only checks a delivery's signature and keeps its body (sync/store/pushes.py);
here the route reads each kept delivery through its network adapter, and its mentions,
comments and messages join the inbox exactly like polled ones: the inbox's source keys
make a post pushed twice, or pushed and polled, one row. Changes (an edit, a deletion, a
hidden comment, an unsent message) become rows of their own, written as internal notes.
"""
from __future__ import annotations

from typing import Any

from adapters.base import (
    AuthFailed, Change, FatalError, Mention, ReceivesPushes, RetriableError, SocialdeskError, Unparseable,
)
from sync.context import RouteContext
from sync.failures import settle
from sync.ingest.reader import MentionReader
from sync.policy import backoff, quick_retry
from sync.store import InboxItem

PUSH_STREAM = "push"


def change_payload(change: Change) -> dict[str, Any]:
    return {"change": {"network": change.network, "target": change.target, "what": change.what,
                       "text": change.text, "at": change.at.isoformat() if change.at else None,
                       "by": change.by}}


class PushReader:
    """Turns a route's kept deliveries into inbox rows, oldest delivery first."""

    def __init__(self, ctx: RouteContext, reader: MentionReader) -> None:
        self.ctx = ctx
        self.reader = reader

    def process(self, limit: int = 20) -> int:
        """Read up to ``limit`` kept deliveries; returns how many were read."""
        ctx = self.ctx
        network = ctx.network
        if not isinstance(network, ReceivesPushes) or not ctx.health.ready("network"):
            return 0
        read = 0
        for push_id, body, attempts in ctx.store.claim_pushes(ctx.name, limit):
            try:
                items = quick_retry(lambda: network.read_push(body))
            except ValueError as err:
                ctx.store.finish_push(push_id, "quarantined", f"not a delivery: {err}")
                self.reader.events.quarantined("ingest", f"pushed delivery {push_id}", "not a delivery")
                continue
            except RetriableError as err:       # the network is slow to tell an author's name
                ctx.store.retry_push(push_id, str(err), backoff(attempts + 1))
                continue
            except (AuthFailed, FatalError) as err:
                ctx.store.retry_push(push_id, str(err), backoff(attempts + 1))
                settle(ctx, err, "read", "reading a pushed delivery", pause_side="network")
                return read
            except SocialdeskError as err:
                ctx.store.finish_push(push_id, "quarantined", f"{type(err).__name__}: {err}")
                self.reader.events.quarantined("ingest", f"pushed delivery {push_id}", type(err).__name__)
                continue
            self.record(items)
            ctx.store.finish_push(push_id)
            read += 1
        return read

    def record(self, items: list[Mention | Change | Unparseable]) -> int:
        """Posts and messages as the reader records them; changes as rows that follow the
        post they change (same conversation, later in order)."""
        ctx = self.ctx
        posts = tuple(i for i in items if not isinstance(i, Change))
        new = self.reader.record(PUSH_STREAM, posts) if posts else 0
        changes = []
        for change in (i for i in items if isinstance(i, Change)):
            entry = ctx.store.inbox_entry(ctx.name, change.target)
            conversation = entry[2] if entry is not None and entry[2] else f"change:{change.target}"
            at = change.at.isoformat() if change.at else ""
            changes.append(InboxItem(change.key, PUSH_STREAM, change_payload(change), f"{at}|~{change.what}",
                                     conversation))
        if changes:
            new += ctx.store.record_page(ctx.name, PUSH_STREAM, changes)
        return new
