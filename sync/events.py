"""A route's units of work, each told once: one log line (at INFO, WARNING for what went
wrong) with its ids as fields, and the metric it moves.

The engine calls these at the one place each unit happens: a mention read into the inbox
(sync/ingest/reader.py), a ticket written (sync/ingest/writer.py, batch.py, changes.py),
a reply posted, held or failed (sync/mirror/poster.py), an item set aside, and the
route's changes of state (sync/health.py). A line names ids and handles, never what a
customer or an agent wrote, never a secret; the event names are the ``event`` field of
``--log-format json``.
"""
from __future__ import annotations

import logging
from typing import Any

from sync.metrics import Metrics

log = logging.getLogger("socialdesk.engine")

# Why a reply was held, as a metric's label: the reason's first words, as the poster and
# the guards word it (sync/mirror/poster.py, sync/mirror/guards.py).
HOLD_KINDS = (("awaiting approval", "approval"), ("outside the messaging window", "window"),
              ("held: the reply seems to contain", "personal_data"), ("held: the customer last wrote", "stale"),
              ("a Private Reply is one message", "too_long"), ("reply weighs", "too_long"))


def hold_kind(why: str) -> str:
    """A held reply's reason in a word (approval, window, personal_data, stale, too_long, other)."""
    return next((kind for start, kind in HOLD_KINDS if why.startswith(start)), "other")


class RouteEvents:
    """What one route tells of its work; ``metrics`` is its daemon's (a route alone keeps its own)."""

    def __init__(self, route: str, network: str, helpdesk: str, metrics: Metrics | None = None) -> None:
        self.route, self.network, self.helpdesk = route, network, helpdesk
        self.metrics = metrics if metrics is not None else Metrics()

    def _say(self, level: int, event: str, message: str, *args: Any, **fields: Any) -> None:
        log.log(level, "route %s: " + message, self.route, *args,
                extra={"route": self.route, "event": event, **{k: v for k, v in fields.items() if v is not None}})

    # ------------------------------------------------------------------ ingest

    def mention_read(self, stream: str, post: str, conversation: str | None, handle: str) -> None:
        self.metrics.mentions_read.labels(self.route, self.network, stream).inc()
        self._say(logging.INFO, "mention_read", "read %s by @%s (%s)", post, handle, stream,
                  post=post, conversation=conversation, stream=stream)

    def ticket_written(self, action: str, ticket: str, post: str, conversation: str | None,
                       posted_at: float | None, now: float) -> None:
        """``action``: created (a new ticket) or updated (a comment on the conversation's ticket)."""
        self.metrics.tickets_written.labels(self.route, self.helpdesk, action).inc()
        if posted_at is not None:
            self.metrics.mention_to_ticket.labels(self.route, self.network).observe(max(0.0, now - posted_at))
        said = "created for" if action == "created" else "updated with"
        self._say(logging.INFO, f"ticket_{action}", "ticket %s %s %s", ticket, said, post,
                  ticket=ticket, post=post, conversation=conversation)

    def change_noted(self, ticket: str, post: str, what: str) -> None:
        self.metrics.tickets_written.labels(self.route, self.helpdesk, "updated").inc()
        self._say(logging.INFO, "ticket_updated", "ticket %s noted that %s was %s", ticket, post, what,
                  ticket=ticket, post=post)

    def quarantined(self, flow: str, key: str, why: str, conversation: str | None = None) -> None:
        """An item set aside (``flow``: ingest, mirror); ``why`` is a short kind (an error's type)."""
        self.metrics.quarantined.labels(self.route, flow).inc()
        self._say(logging.WARNING, "quarantined", "%s set aside (%s); see 'socialdesk failed list'", key, why,
                  post=key if flow == "ingest" else None, conversation=conversation, why=why)

    # ------------------------------------------------------------------ mirror

    def reply_posted(self, ticket: str, comment: str, conversation: str | None, posts: int, how: str,
                     queued_at: float | None, now: float) -> None:
        self.metrics.replies.labels(self.route, self.network, "posted", "none").inc()
        if queued_at is not None:
            self.metrics.reply_to_post.labels(self.route, self.network).observe(max(0.0, now - queued_at))
        self._say(logging.INFO, "reply_posted", "reply %s on ticket %s posted %s (%d post%s)", comment, ticket, how,
                  posts, "" if posts == 1 else "s", ticket=ticket, comment=comment, conversation=conversation)

    def reply_held(self, ticket: str, comment: str, conversation: str | None, why: str,
                   set_aside: bool = False) -> None:
        """``set_aside``: kept in 'socialdesk failed list' until retried (a guard, a length
        limit), not waiting to go out by itself (a lead's approval, the messaging window)."""
        kind = hold_kind(why)
        self.metrics.replies.labels(self.route, self.network, "held", kind).inc()
        if set_aside:
            self.metrics.quarantined.labels(self.route, "mirror").inc()
        self._say(logging.INFO, "reply_held", "reply %s on ticket %s held: %s", comment, ticket, why,
                  ticket=ticket, comment=comment, conversation=conversation, why=kind)

    def reply_failed(self, ticket: str, comment: str, conversation: str | None, error: str) -> None:
        """``error``: the error's type; its message is on the ticket's note and in 'socialdesk failed list'."""
        self.metrics.replies.labels(self.route, self.network, "failed", error).inc()
        self.metrics.quarantined.labels(self.route, "mirror").inc()
        self._say(logging.WARNING, "reply_failed", "reply %s on ticket %s failed (%s); see 'socialdesk failed list'",
                  comment, ticket, error, ticket=ticket, comment=comment, conversation=conversation, why=error)

    # ------------------------------------------------------------------ the route's state

    def waiting(self, said: str, side: str, reason: str, at: str, within: str) -> None:
        self.metrics.route_changes.labels(self.route, "waiting").inc()
        log.warning("route %s %s: %s; re-checking the %s at %s (in %s)", self.route, said, reason, side, at, within,
                    extra={"route": self.route, "event": "route_waiting", "side": side})

    def resumed(self, side: str, waited: str) -> None:
        self.metrics.route_changes.labels(self.route, "resumed").inc()
        log.info("route %s resumed: the %s takes it again, after waiting %s", self.route, side, waited,
                 extra={"route": self.route, "event": "route_resumed", "side": side})

    def parked(self, reason: str) -> None:
        self.metrics.route_changes.labels(self.route, "parked").inc()
        log.error("route %s parked: %s", self.route, reason, extra={"route": self.route, "event": "route_parked"})

    def active(self) -> None:
        log.info("route %s is active", self.route, extra={"route": self.route, "event": "route_active"})

    def paused(self, side: str, seconds: float) -> None:
        self.metrics.pauses.labels(self.route, side).inc()
        # A pause under a second (a shared budget pacing its calls) is said in tenths, not as "0s".
        log.warning("route %s: %s rate limited, pausing %ss", self.route, side,
                    f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}",
                    extra={"route": self.route, "event": "rate_limited", "side": side})
