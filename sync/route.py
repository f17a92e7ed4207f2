"""One route: a network account feeding one helpdesk instance, as its parts wired together.

No logic of its own lives here: each method hands over to the part whose job it is.

- ingest: ``MentionReader`` (sync/ingest/reader.py) reads streams into the inbox;
  ``InboxWorker`` (sync/ingest/inbox.py) hands pending rows to ``TicketWriter`` (one at a
  time) or ``BatchWriter`` (backlogs); ``TicketComposer`` says what a ticket holds.
- mirror: ``ReplyReader`` queues agents' public answers; ``ReplyPoster`` posts them past
  the guards (sync/mirror/guards.py).
- watch: ``ViralWatch`` and ``SpikeWatch`` escalate.
- every error any part meets is settled by ``sync/failures.py`` as ``sync/policy.py`` decides.
"""
from __future__ import annotations

import time
from typing import Callable

from adapters.base import Author, Helpdesk, SocialNetwork
from sync.context import RouteContext
from sync.health import RouteHealth
from sync.ingest.composer import TicketComposer
from sync.ingest.inbox import InboxWorker
from sync.ingest.reader import MentionReader
from sync.mirror.poster import ReplyPoster
from sync.mirror.reader import ReplyReader
from sync.settings import RouteSettings, Stats
from sync.store import Store
from sync.watch.spike import SpikeWatch
from sync.watch.viral import ViralWatch


class Route:
    """One network account feeding one helpdesk instance."""

    def __init__(self, settings: RouteSettings, network: SocialNetwork, helpdesk: Helpdesk,
                 store: Store, clock: Callable[[], float] = time.time) -> None:
        self.health = RouteHealth(settings.name, store, clock)
        self.ctx = RouteContext(settings, network, helpdesk, store, clock, self.health)
        self.composer = TicketComposer(settings, network.private_reply_window)
        self.reader = MentionReader(self.ctx)
        self.inbox = InboxWorker(self.ctx, self.composer)
        self.replies = ReplyReader(self.ctx)
        self.poster = ReplyPoster(self.ctx)
        self.viral = ViralWatch(self.ctx)
        self.spike = SpikeWatch(self.ctx)

    # What the daemon, the status page and the benches read.

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def settings(self) -> RouteSettings:
        return self.ctx.settings

    @property
    def network(self) -> SocialNetwork:
        return self.ctx.network

    @property
    def helpdesk(self) -> Helpdesk:
        return self.ctx.helpdesk

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def clock(self) -> Callable[[], float]:
        return self.ctx.clock

    @property
    def stats(self) -> Stats:
        return self.ctx.stats

    @property
    def parked(self) -> str | None:
        return self.health.parked

    @property
    def paused_until(self) -> dict[str, float]:
        return self.health.paused_until

    # What each job of the scheduler runs.

    def me(self) -> Author:
        return self.ctx.me()

    def park(self, reason: str) -> None:
        self.health.park(reason)

    def healthy(self) -> None:
        self.health.healthy()

    def budget_slowdown(self) -> float:
        return self.ctx.budget_slowdown()

    def batch_threshold(self) -> int:
        return self.inbox.batch_threshold()

    def poll_due(self, stream: str, interval: float) -> bool:
        return self.reader.poll_due(stream, interval)

    def poll(self, stream: str) -> int:
        return self.reader.poll(stream)

    def process_inbox(self, limit: int = 50) -> int:
        return self.inbox.process(limit)

    def poll_replies(self) -> int:
        return self.replies.poll()

    def hint(self, ticket_id: str) -> int:
        return self.replies.hint(ticket_id)

    def drain_outbox(self, limit: int = 20) -> int:
        return self.poster.drain(limit)

    def viral_watch(self) -> int:
        return self.viral.run()

    def spike_watch(self) -> str | None:
        return self.spike.run()

    def run_once(self) -> None:
        """Every step once: read, ticket, read replies, post, watch."""
        for stream in self.settings.streams:
            self.poll(stream)
        while self.process_inbox():
            pass
        self.poll_replies()
        while self.drain_outbox():
            pass
        self.viral_watch()
        self.spike_watch()
