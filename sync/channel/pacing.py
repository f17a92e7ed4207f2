"""When socialdesk pushes a tenant's waiting resources to Zendesk.

Each push is one API call, whatever it carries (up to 256 resources); Zendesk's pulls
(about every 2 minutes) cost socialdesk no call at all. So a push goes out:

* at once, when a full push waits (256 resources);
* otherwise when the oldest new resource has waited ``wait`` seconds (3 s by default):
  the writes of one read of the network (a page of posts, written in one batch) all join
  it, so a quiet route costs about one push per read, and a backlog, written far faster
  than that, fills every push;
* except that when Zendesk's next pull is expected no later than ``wait`` after that
  moment, the pull takes them (no call); if that pull does not come within ``wait`` of
  when it was expected, they are pushed then.

So a post waits at most ``wait`` before its push, or ``3 * wait`` when a pull was
expected and did not come. Resources a push already tried and Zendesk did not import
ride along with the next push or go to Zendesk's pull: they never start a push alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Zendesk pulls "approximately every 2 minutes" (pull endpoint docs).
PULL_EVERY = 120.0
DEFAULT_WAIT = 3.0
MAX_WAIT = 120.0   # past Zendesk's pull interval a wait saves nothing more


def check_wait(value: object, where: str) -> float:
    """A push wait in seconds, 0 to 120; ValueError naming ``where`` otherwise."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number of seconds") from None
    if not 0.0 <= seconds <= MAX_WAIT or math.isnan(seconds):
        raise ValueError(f"{where}: {seconds:g} s is outside 0 to {MAX_WAIT:g} s")
    return seconds


@dataclass(frozen=True)
class PushRule:
    """The rule above, for one tenant: ``full`` resources a push, ``wait`` seconds."""

    full: int = 256
    wait: float = DEFAULT_WAIT
    pull_every: float = PULL_EVERY

    def next_pull(self, last_pull: float | None, now: float) -> float | None:
        """When Zendesk's next pull is expected; None when no pull was seen lately (another
        replica answers them, or Zendesk stopped pulling)."""
        if last_pull is None:
            return None
        expected = last_pull + self.pull_every
        return expected if now <= expected + self.wait else None

    def due(self, waiting: int, oldest_new: float | None, now: float, last_pull: float | None = None) -> float | None:
        """When the waiting resources should be pushed (at or before ``now``: push now);
        None when nothing starts a push. ``waiting`` counts every resource that could go
        in it, ``oldest_new`` is when the oldest never-pushed one was made."""
        if waiting >= self.full:
            return now
        if waiting <= 0 or oldest_new is None:
            return None
        deadline = oldest_new + self.wait
        pull = self.next_pull(last_pull, now)
        if pull is not None and pull <= deadline + self.wait:
            return max(deadline, pull + self.wait)
        return deadline
