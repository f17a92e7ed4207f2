"""What every part of one route shares: its settings, adapters, store, clock and health.

The parts (readers, writers, poster, watchers) each hold the route's one ``RouteContext``;
it is where a helpdesk call is counted and marked, where the brand account is remembered,
and where the API budget slows the route down.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from adapters.base import (
    Author, Helpdesk, Media, MetersApiBudget, RateLimited, RemembersAccount, RetriableError, SocialdeskError,
    SocialNetwork,
)
from sync.health import RouteHealth
from sync.policy import quick_retry
from sync.settings import RouteSettings, Stats
from sync.store import Store

log = logging.getLogger("socialdesk.engine")

Clock = Callable[[], float]


@dataclass
class RouteContext:
    """One network account feeding one helpdesk instance, as its parts see it."""

    settings: RouteSettings
    network: SocialNetwork
    helpdesk: Helpdesk
    store: Store
    clock: Clock
    health: RouteHealth
    stats: Stats = field(default_factory=Stats)
    me_: Author | None = None
    # A lasting link to an attachment (sync/media.py), once the daemon knows its address.
    media_url: Callable[[Media], str] | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def desk(self, call: Callable[[], Any], *, write: bool = False) -> Any:
        """A helpdesk call; its errors are marked as the helpdesk's.

        Reads and keyed writes get the quick retry; a write without a key (a comment)
        is tried once: a retried attempt looks for its effect first instead.
        """
        self.stats.helpdesk_calls += 1
        try:
            result = call() if write else quick_retry(call)
        except SocialdeskError as err:
            err.side = "helpdesk"
            raise
        self.health.answered("helpdesk")  # a run of passing faults is over
        return result

    def budget_slowdown(self) -> float:
        """Work less often as the helpdesk's API budget tightens (Salesforce's daily
        allocation): x1 below half of socialdesk's share, x2 past half, x4 past 80%."""
        if not isinstance(self.helpdesk, MetersApiBudget):
            return 1.0
        pressure = self.helpdesk.budget_pressure()
        return 4.0 if pressure >= 0.8 else 2.0 if pressure >= 0.5 else 1.0

    def me(self) -> Author:
        """The brand account, read from the network once per run and remembered. When the
        read is rate limited or failing, the account remembered from an earlier run serves:
        what was already read keeps going to the helpdesk while the network waits."""
        if self.me_ is None:
            try:
                self.me_ = quick_retry(self.network.whoami)
            except (RateLimited, RetriableError):
                known = self.store.get_account(self.name, self.network.kind)
                if known is None:
                    raise
                log.info("route %s: %s account not readable now; using @%s as last read",
                         self.name, self.network.kind, known["handle"])
                self.me_ = Author(network=self.network.kind, id=str(known["id"]), handle=str(known["handle"]),
                                  name=known.get("name"))
                if isinstance(self.network, RemembersAccount):
                    self.network.remember_account(self.me_)  # so its own calls need no account read either
            else:
                self.store.put_account(self.name, self.network.kind, {
                    "id": self.me_.id, "handle": self.me_.handle, "name": self.me_.name})
        return self.me_
