"""One route: a network account feeding one helpdesk instance, as its parts wired together.

No logic of its own lives here: each method hands over to the part whose job it is.

- ingest: ``MentionReader`` (sync/ingest/reader.py) reads streams into the inbox;
  ``InboxWorker`` (sync/ingest/inbox.py) hands pending rows to ``TicketWriter`` (one at a
  time) or ``BatchWriter`` (backlogs); ``TicketComposer`` says what a ticket holds.
- mirror: ``ReplyReader`` queues agents' public answers; ``ReplyPoster`` posts them past
  the guards (sync/mirror/guards.py).
- watch: ``ViralWatch`` and ``SpikeWatch`` escalate.
- every error any part meets is settled by ``sync/failures.py`` as ``sync/policy.py`` decides;
  ``check`` and ``recheck`` are the checks a route passes before it works and while it
  waits (sync/health.py keeps its state).
"""
from __future__ import annotations

import functools
import time
from typing import Any, Callable, TypeVar

from adapters.base import Author, Helpdesk, SocialdeskError, SocialNetwork
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.failures import probe, settle
from sync.health import RouteHealth
from sync.ingest.composer import TicketComposer
from sync.ingest.inbox import InboxWorker
from sync.ingest.pushes import PushReader
from sync.ingest.reader import MentionReader
from sync.logs import about
from sync.metrics import Metrics
from sync.mirror.poster import ReplyPoster
from sync.mirror.reader import ReplyReader
from sync.policy import RECHECK_CAP
from sync.settings import RouteSettings, Stats
from sync.store import Store
from sync.watch.spike import SpikeWatch
from sync.watch.viral import ViralWatch

F = TypeVar("F", bound=Callable[..., Any])


def _on_route(method: F) -> F:
    """Every line logged while the route does ``method`` names the route."""
    @functools.wraps(method)
    def run(self: "Route", *args: Any, **kwargs: Any) -> Any:
        with about(route=self.name):
            return method(self, *args, **kwargs)
    return run  # type: ignore[return-value]


class Route:
    """One network account feeding one helpdesk instance."""

    def __init__(self, settings: RouteSettings, network: SocialNetwork, helpdesk: Helpdesk,
                 store: Store, clock: Callable[[], float] = time.time, *,
                 resolve: Callable[[], RouteSettings] | None = None, recheck_cap: float = RECHECK_CAP,
                 metrics: Metrics | None = None) -> None:
        # What the route tells of its work: log lines, and its daemon's metrics (``metrics``).
        self.events = RouteEvents(settings.name, network.kind, helpdesk.kind if helpdesk is not None else "none",
                                  metrics)
        self.health = RouteHealth(settings.name, store, clock, recheck_cap, self.events)
        self.ctx = RouteContext(settings, network, helpdesk, store, clock, self.health)
        # The mapping's names, still to be resolved into ``settings`` by the route's check.
        self.resolve = resolve
        self.health.resolved = resolve is None
        self.reader = MentionReader(self.ctx, self.events)
        self.pushes = PushReader(self.ctx, self.reader)
        self.use_settings(settings)
        self.replies = ReplyReader(self.ctx)
        self.poster = ReplyPoster(self.ctx, self.events)
        self.viral = ViralWatch(self.ctx)
        self.spike = SpikeWatch(self.ctx)

    def use_settings(self, settings: RouteSettings) -> None:
        """Work with ``settings`` from now on (settings are frozen: the parts that hold
        them are built anew; what the route counted, read and remembers stays)."""
        self.ctx.settings = settings
        ctx = self.ctx
        self.composer = TicketComposer(settings, ctx.network.private_reply_window,
                                       lambda media: ctx.media_url(media) if ctx.media_url is not None else None)
        self.inbox = InboxWorker(self.ctx, self.composer, self.events)

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
    def state(self) -> str:
        """active, waiting (re-checks and resumes by itself) or parked (until restarted)."""
        return self.health.state

    @property
    def running(self) -> bool:
        """Neither waiting nor parked."""
        return self.health.running

    @property
    def parked(self) -> str | None:
        return self.health.parked

    @property
    def waiting(self) -> str | None:
        return self.health.waiting

    @property
    def paused_until(self) -> dict[str, float]:
        return self.health.paused_until

    # What each job of the scheduler runs.

    def me(self) -> Author:
        return self.ctx.me()

    @_on_route
    def park(self, reason: str) -> None:
        self.health.park(reason)

    def healthy(self) -> None:
        self.health.healthy()

    @_on_route
    def check(self, side: str | None = None) -> bool:
        """What a route passes before it works (``side`` None: at start), and what a
        waiting route asks again of ``side``: its mapping names resolved (once, a helpdesk
        call), its network account read (once, once the names are), else a probe of the
        side. What a step meets is settled as the policy table says for the work ``check``
        (refused or unreachable: that side waits; a configuration error: parked).
        True when ``side`` (at start: every step) passed."""
        ctx = self.ctx
        if side in (None, "helpdesk"):
            doing = f"resolving the mapping's names in {ctx.helpdesk.kind} {self.settings.helpdesk_name!r}"
            try:
                if self.resolve is not None:
                    self.use_settings(ctx.desk(self.resolve))
                    self.resolve, self.health.resolved = None, True
                elif side == "helpdesk":
                    doing = "checking the helpdesk"
                    probe(ctx, "helpdesk")
            except SocialdeskError as err:
                settle(ctx, err, "check", doing, park_doing=doing)
                return False
        doing = f"reading the {ctx.network.kind} account" if ctx.me_ is None else "checking the network"
        try:
            if ctx.me_ is None:
                ctx.me()
            elif side == "network":
                probe(ctx, "network")
        except SocialdeskError as err:
            settle(ctx, err, "check", doing, park_doing=doing)
            return side == "helpdesk"  # the helpdesk answered; the network now waits
        return True

    @_on_route
    def recheck(self) -> bool:
        """Each side the route waits on whose re-check has come is asked again; True when
        one resumed."""
        resumed = False
        for side in self.health.due():
            if self.check(side) and side in self.health.waits:
                self.health.resume(side)
                resumed = True
        return resumed

    def budget_slowdown(self) -> float:
        return self.ctx.budget_slowdown()

    def batch_threshold(self) -> int:
        return self.inbox.batch_threshold()

    def poll_due(self, stream: str, interval: float) -> bool:
        return self.reader.poll_due(stream, interval)

    @_on_route
    def poll(self, stream: str) -> int:
        return self.reader.poll(stream)

    @_on_route
    def read_pushes(self, limit: int = 20) -> int:
        """Deliveries the network pushed (Meta's webhooks), into the inbox."""
        return self.pushes.process(limit)

    @_on_route
    def process_inbox(self, limit: int = 50) -> int:
        try:
            return self.inbox.process(limit)
        except SocialdeskError as err:
            # A batch (sync/ingest/batch.py) carries out pause, park and retry itself and
            # lets a wait through: the route waits here; the batch's rows come back when
            # their lease ends.
            settle(self.ctx, err, "batch", "writing a batch of tickets")
            return 0

    @_on_route
    def poll_replies(self) -> int:
        return self.replies.poll()

    @_on_route
    def hint(self, ticket_id: str) -> int:
        return self.replies.hint(ticket_id)

    @_on_route
    def drain_outbox(self, limit: int = 20) -> int:
        return self.poster.drain(limit)

    @_on_route
    def viral_watch(self) -> int:
        return self.viral.run()

    @_on_route
    def spike_watch(self) -> str | None:
        return self.spike.run()

    @_on_route
    def run_once(self) -> None:
        """Every step once: re-check if waiting, read, ticket, read replies, post, watch
        (a part does nothing while the route waits or is parked)."""
        self.recheck()
        while self.read_pushes():   # what the network pushed first: the reads reconcile after
            pass
        for stream in self.settings.streams:
            self.poll(stream)
        while self.process_inbox():
            pass
        self.poll_replies()
        while self.drain_outbox():
            pass
        self.viral_watch()
        self.spike_watch()
