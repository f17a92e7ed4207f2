"""Reading mentions and DMs from the network into the inbox, the cursor moved with them.

A stream is read to its end, page by page; each page's items and (on the last page) the
new cursor are recorded in one transaction. A read that could not reach back to the old
cursor (the network's window was exceeded) is backfilled through recent search first.
"""
from __future__ import annotations

import logging
from typing import Any

from adapters.base import (
    Cursor, FatalError, Page, ReadsDMs, SearchesRecent, SkippableError, SocialdeskError, StartsAtTime,
    Unparseable,
)
from sync.checkpoints import checkpoint
from sync.context import RouteContext
from sync.events import RouteEvents
from sync.failures import settle
from sync.ingest.composer import conversation_key, mention_to_payload
from sync.policy import quick_retry
from sync.store import InboxItem
from sync.store.reads import month_of, next_month

log = logging.getLogger("socialdesk.engine")

# Timelines index a post late (X: seconds), so a post may first be served after newer
# ones were: mentions and search are re-read this far back from the daemon's now.
# Re-read posts are duplicates the store ignores, but each costs a read: keep it small.
DEFAULT_READ_OVERLAP = 10.0
_OVERLAPPED = ("mentions", "search")
# The most items one read returns (X: max_results 100): a read is started only when this
# many more still fit the month's budget, so the budget is never passed.
MOST_PER_READ = 100


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


class MentionReader:
    """Polls a route's streams (mentions, DMs) at the pace the network and the budget allow."""

    def __init__(self, ctx: RouteContext, events: RouteEvents) -> None:
        self.ctx = ctx
        self.events = events
        self._last_poll: dict[str, float] = {}
        self._rate: dict[str, float] = {}
        self.overlap = float(getattr(ctx.settings, "read_overlap", DEFAULT_READ_OVERLAP))
        self._told: set[tuple[str, str]] = set()   # (kind, month) whose spent budget was logged

    def _budget_left(self, stream: str) -> bool:
        """True when one more read of ``stream`` fits the month's read budget; the first
        time it does not, say so once: which budget, and when reads resume."""
        ctx = self.ctx
        kind = "dm_events" if stream == "dms" else "posts"
        budget = ctx.settings.read_budget.for_kind(kind)
        if budget is None:
            return True
        now = ctx.clock()
        month = month_of(now)
        used = ctx.store.reads(month).get(ctx.name, {}).get(kind, 0)
        if used + MOST_PER_READ <= budget:
            return True
        if (kind, month) not in self._told:
            self._told.add((kind, month))
            log.warning("route %s: the %s read budget for %s is %d %s and %d are read: %s is not read "
                        "until %s (replies still go out)", ctx.name, ctx.network.kind, month, budget,
                        kind.replace("_", " "), used, stream, next_month(now))
        return False

    def _held_back(self, stream: str, old: str | None, newest: str | None, read: list[Any]) -> str | None:
        """The cursor to keep: the newest item read that is older than now - overlap (a
        late-indexed post newer than it is still reached next time), never behind ``old``.
        Only ``mentions`` and ``search`` are held back; DMs are not indexed late.

        With nothing settled yet, the cursor names the moment now - overlap when the
        network reads from a moment (X's ``start_time``): a post written before the
        route's first read but indexed after it is still read next time."""
        if stream not in _OVERLAPPED or self.overlap <= 0:
            return newest
        horizon = self.ctx.clock() - self.overlap
        settled = [str(i.id) for i in read if getattr(i, "created_at", None) is not None
                   and i.created_at.timestamp() <= horizon and str(i.id).isdigit()]
        if old is not None and old.isdigit():
            settled.append(old)
        if settled:
            return max(settled, key=_id_key)
        network = self.ctx.network
        if isinstance(network, StartsAtTime) and (old is None or not str(newest or "").isdigit()):
            # The first read; or a network whose ids do not tell time (Meta's): every post
            # before the horizon has been read, so the next read starts there.
            return network.cursor_at(horizon).value
        if old is not None:
            return old    # a moment, and still nothing older than the overlap: read from it again
        # A network that reads only after a post: the oldest read, so that the next read
        # still has a cursor to tell a window gap by.
        return min((str(i.id) for i in read if str(i.id).isdigit()), key=_id_key, default=None)

    def poll_due(self, stream: str, interval: float) -> bool:
        """Time to read ``stream``: its interval has passed, or at the rate posts arrive
        half of the network's reachable window would fill before the next read."""
        last = self._last_poll.get(stream)
        if last is None:
            return True
        interval *= self.ctx.budget_slowdown()
        waited = self.ctx.clock() - last
        if waited >= interval - 1.0:  # a scheduler tick may land a hair early
            return True
        window = self.ctx.network.mention_window if stream == "mentions" else 0
        expected = self._rate.get(stream, 0.0) * interval
        return bool(window) and expected >= window / 2 and waited >= self.ctx.network.min_poll_interval

    def _observe(self, stream: str, items: int) -> None:
        now = self.ctx.clock()
        last = self._last_poll.get(stream)
        if last is not None and now > last:
            rate = items / (now - last)
            self._rate[stream] = 0.5 * self._rate.get(stream, rate) + 0.5 * rate
        self._last_poll[stream] = now

    def _count(self, stream: str, page: Page) -> None:
        """Every item a read returned is a billed read (X: per post, per DM event), by the
        route's clock's UTC month."""
        kind = "dm_events" if stream == "dms" else "posts"
        self.ctx.store.count_reads(self.ctx.name, kind, len(page.items), self.ctx.clock())

    def _read(self, stream: str, cursor: Cursor, token: str | None) -> Page:
        network = self.ctx.network
        if stream == "mentions":
            return network.fetch_mentions(cursor, token)
        if stream == "dms":
            if not isinstance(network, ReadsDMs):
                raise FatalError(f"{network.kind} cannot read direct messages: remove 'dms' from the route's streams")
            return network.fetch_dms(cursor, token)
        if stream == "search":
            if not isinstance(network, SearchesRecent):
                raise FatalError(f"{network.kind} has no search: remove 'search' from the route's streams")
            return network.search_recent(self._query(), cursor, token)
        raise FatalError(f"unknown stream {stream!r}; known: mentions, dms, search")

    def _query(self) -> str:
        """What the search stream and a backfill look for: the route's query, else the brand's handle."""
        return self.ctx.settings.search_query or f"@{self.ctx.me().handle} -is:retweet"

    def poll(self, stream: str) -> int:
        """Read one stream to its end; items and the cursor are recorded together."""
        ctx = self.ctx
        if not ctx.health.ready("network") or stream not in ctx.settings.streams or not self._budget_left(stream):
            return 0
        cursor = Cursor(ctx.store.get_cursor(ctx.name, stream))
        # A route's first read would return the network's whole reachable history;
        # what is older than the history window is kept, as filtered, not ticketed.
        cutoff = ctx.clock() - ctx.settings.history if cursor.value is None else None
        token: str | None = None
        new = 0
        read_items = 0
        seen: list[Any] = []
        try:
            while True:
                page = quick_retry(lambda: self._read(stream, cursor, token))
                self._count(stream, page)
                read_items += len(page.items)
                seen.extend(i for i in page.items if not isinstance(i, Unparseable))
                last = page.next_page is None
                keep = self._held_back(stream, cursor.value, page.cursor.value, seen) if last else None
                # A gap is filled before the cursor moves past it: if the backfill
                # fails, the next read starts from the old cursor again.
                new += self._record(stream, page.items, keep, last and not page.gap, cutoff)
                checkpoint("ingest.after_record_page")
                if page.gap:
                    new += self._backfill(cursor)
                    if last:
                        ctx.store.record_page(ctx.name, stream, [], keep, move_cursor=True)
                if last:
                    self._observe(stream, read_items)
                    break
                if not self._budget_left(stream):
                    break   # the cursor stays: the rest is read when the budget allows again
                token = page.next_page
        except SocialdeskError as err:
            settle(ctx, err, "read", f"reading {stream}", pause_side="network")
        return new

    def record(self, stream: str, items: tuple[Any, ...]) -> int:
        """Record items read another way (a network's push) in the inbox; the cursor stays."""
        return self._record(stream, items, None, False)

    def _record(self, stream: str, items: tuple[Any, ...], cursor: str | None, last: bool,
                cutoff: float | None = None) -> int:
        ctx = self.ctx
        rows = []
        # A post read again (the overlap, a push and a read) is no news: told only the first time.
        known = ctx.store.known_keys(ctx.name, [item.key for item in items]) if items else set()
        for item in items:
            if isinstance(item, Unparseable):
                ctx.store.quarantine_item(ctx.name, stream, item.key, item.reason, item.raw)
                ctx.stats.quarantined += 1
                if item.key not in known:
                    self.events.quarantined("ingest", item.key, "unreadable")
                continue
            created = item.created_at.isoformat() if item.created_at else ""
            payload = mention_to_payload(item)
            if cutoff is not None and item.created_at and item.created_at.timestamp() < cutoff:
                payload["before_first_run"] = True
            rows.append(InboxItem(item.key, stream, payload, f"{created}|{item.id:0>20}", conversation_key(item)))
        ctx.stats.read += len(rows)
        new = ctx.store.record_page(ctx.name, stream, rows, cursor, move_cursor=last)
        told: set[str] = set()
        for row in rows:
            if row.source_key not in known and row.source_key not in told:
                told.add(row.source_key)
                self.events.mention_read(stream, row.source_key, row.conversation, row.payload["author"]["handle"])
        return new

    def _backfill(self, since: Cursor) -> int:
        """The mentions window was exceeded: recover the gap through recent search."""
        ctx = self.ctx
        network = ctx.network
        if not isinstance(network, SearchesRecent):
            return self._gap_left(since, f"{network.kind} has no search to recover missed mentions")
        query = self._query()
        log.warning("route %s: mention window exceeded, backfilling with search %r", ctx.name, query)
        token: str | None = None
        new = 0
        while True:
            try:
                page = quick_retry(lambda: network.search_recent(query, since, token))
            except (FatalError, SkippableError) as err:
                # Search cannot reach that far back (X keeps 7 days): say what is missing.
                return new + self._gap_left(since, str(err))
            self._count("search", page)
            new += self._record("mentions", page.items, None, False)
            if page.next_page is None:
                return new
            token = page.next_page

    def _gap_left(self, since: Cursor, why: str) -> int:
        ctx = self.ctx
        log.error("route %s: mentions after %s could not all be recovered: %s", ctx.name, since.value, why)
        if ctx.health.running:   # a note on an active route; a waiting one keeps saying why it waits
            ctx.store.set_health(ctx.name, "active", f"gap after {since.value} not fully recovered: {why}")
        return 0
