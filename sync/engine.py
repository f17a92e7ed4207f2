"""Ingest (mention -> ticket) and mirror (agent reply -> post), one route at a time.

Exactly-once effects come from at-least-once processing plus idempotent effects: every
remote write carries a key derived from its source (post id, comment id), an attempt is
counted before the write, and a retried attempt first looks for the effect (ticket by
external id, comment by post link, own post in the thread) before writing again.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable

from tenacity import Retrying, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from adapters.base import (
    AgentReply, AuthFailed, Author, Cursor, DuplicateContent, FatalError, Helpdesk, JobPending, Mention,
    NewTicket, NotFound, OutboundPost, RateLimited, RetriableError, SkippableError, SocialdeskError,
    SocialNetwork, TicketRef, Unparseable,
)
from sync.rules import NETWORK_NAMES, placeholders
from sync.store import Finished, InboxItem, InboxRow, OutboxRow, Store
from sync.text import ReplyTooLong, address, split_reply

log = logging.getLogger("socialdesk.engine")

# What makes one inbox row unprocessable (quarantined), not the route.
INGEST_SKIPPABLE: tuple[type[BaseException], ...] = (SkippableError, KeyError, TypeError, ValueError)

# How often a reply waiting for a lead's approval looks at its ticket again (seconds).
APPROVAL_RECHECK = 60.0

# Every ticket we open carries it; the helpdesk trigger that calls our webhook keys on it.
SOCIALDESK_TAG = "socialdesk"


# --------------------------------------------------------------------------- crash points


def checkpoint(name: str) -> None:
    """A step boundary. ``SOCIALDESK_CRASH_AT=name:N`` SIGKILLs the process at its Nth pass.

    The kill-and-restart test uses it to stop the real daemon exactly between two steps.
    """
    spec = os.environ.get("SOCIALDESK_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    counter = _crash_counts[name] = _crash_counts.get(name, 0) + 1
    if counter >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


_crash_counts: dict[str, int] = {}


# --------------------------------------------------------------------------- retry policy


def quick_retry(call: Callable[[], Any]) -> Any:
    """The one retry policy: a few quick tries for passing faults, never for rate limits."""
    for attempt in Retrying(
            retry=retry_if_exception_type(RetriableError) & retry_if_not_exception_type(RateLimited),
            stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True):
        with attempt:
            return call()
    raise AssertionError("unreachable")


def backoff(attempts: int) -> float:
    """Delay before the next attempt of an item that failed ``attempts`` times."""
    return float(min(15 * 2 ** max(attempts - 1, 0), 3600))


# --------------------------------------------------------------------------- public reply guard


class HeldReply(ValueError):
    """A reply was held back by a guard; the message says why and what to do."""


_CARD_CANDIDATE = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_GUARDS = (
    ("an email address", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*[a-z]{2,}", re.I)),
    ("a phone number", re.compile(r"\+\d[\d ().-]{7,}\d|\b\d{3}[ .-]\d{3}[ .-]\d{4}\b")),
    ("a merged ticket's history", re.compile(r"^(?:Request #\d+ .*was closed and merged|"
                                             r"This request was closed and merged)", re.I | re.M)),
)


def luhn_valid(digits: str) -> bool:
    """The card-number checksum: a long run of digits that fails it is not a card."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _has_card_number(body: str) -> bool:
    for match in _CARD_CANDIDATE.finditer(body):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def public_reply_guard(body: str, patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()) -> str | None:
    """Why ``body`` must not be posted publicly, or None. A DM is not held.

    ``patterns`` are the route's own (name, regex), such as order numbers.
    """
    found = None
    if _has_card_number(body):
        found = "a card number"
    for what, pattern in (*_GUARDS, *((f"{name}", rx) for name, rx in patterns)):
        if found is None and pattern.search(body):
            found = what
    if found is None:
        return None
    return (f"held: the reply seems to contain {found}; answer again without it, "
            f"or move the conversation to a direct message")


# --------------------------------------------------------------------------- values <-> rows


def mention_to_payload(m: Mention) -> dict[str, Any]:
    data = asdict(m)
    data["created_at"] = m.created_at.isoformat() if m.created_at else None
    data["metrics"] = dict(m.metrics)
    return data


def mention_from_payload(data: dict[str, Any]) -> Mention:
    data = dict(data)
    data["author"] = Author(**data["author"])
    data["created_at"] = datetime.fromisoformat(data["created_at"]) if data.get("created_at") else None
    return Mention(**data)


def _row_mention(row: InboxRow) -> Mention:
    return mention_from_payload({k: v for k, v in row.payload.items() if k != "before_first_run"})


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), max(size, 1))]


def _metric(name: str) -> str:
    return name.replace("_count", "").replace("_", " ")


def conversation_key(m: Mention) -> str:
    """One ticket per customer conversation: two customers answering the same post of
    the brand share X's conversation id, but not a ticket."""
    if m.kind == "dm":
        return f"{m.network}:dm:{m.conversation_id}"
    return f"{m.network}:conv:{m.conversation_id}:{m.author.id}"


# --------------------------------------------------------------------------- route settings


@dataclass(frozen=True)
class TicketSettings:
    subject: str = "{network} {kind} from @{author}"
    tags: tuple[str, ...] = ("social",)
    priority: str | None = "normal"
    group_id: Any = None
    brand_id: Any = None
    form_id: Any = None
    entitlement_id: Any = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    include_metrics: bool = True
    type: str | None = None
    origin: str | None = None
    record_type_id: Any = None
    assignment_rule: bool | None = None


@dataclass(frozen=True)
class MirrorSettings:
    enabled: bool = True
    dm_public_note: str | None = "We've sent you a direct message."
    dm_tag: str | None = "social_dm"
    thread_long_replies: bool = True
    sign_off: str | None = None
    # Public replies to a conversation whose latest customer post is older are held.
    max_age: float | None = None
    # When set, a reply leaves only once a lead has put this tag on the ticket.
    approval_tag: str | None = None
    # The route's own personal-data patterns (name, regex), beside e-mail, phone and card.
    pii_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True)
class ViralSettings:
    """When an open conversation's post takes off, escalate its ticket."""

    enabled: bool = False
    refresh: float = 600.0                                   # seconds between metric reads
    thresholds: dict[str, int] = field(default_factory=dict)  # metric -> count
    velocity: dict[str, float] = field(default_factory=dict)  # metric -> per hour
    priority: str = "urgent"
    tag: str = "social_viral"
    horizon: float = 7 * 86400.0                              # watch conversations this recent


@dataclass(frozen=True)
class SpikeSettings:
    """A route's mention rate far above its usual: one problem ticket links the incidents."""

    enabled: bool = False
    window: float = 900.0
    factor: float = 3.0
    min_mentions: int = 20
    baseline: float = 86400.0       # the usual rate is measured over this much history


PRIORITY_ORDER = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class RouteSettings:
    name: str
    helpdesk_name: str
    streams: tuple[str, ...] = ("mentions", "dms")
    include_own_posts: bool = False
    include_reposts: bool = False
    include_quotes: bool = True
    blocklist: frozenset[str] = frozenset()
    search_query: str | None = None
    history: float = 3600.0
    ticket: TicketSettings = TicketSettings()
    mirror: MirrorSettings = MirrorSettings()
    # A backlog of this many rows is written in batches when the helpdesk can.
    batch_min: int = 10
    viral: ViralSettings = ViralSettings()
    spike: SpikeSettings = SpikeSettings()
    # The mapping's rules: a mention -> (rules fired, ticket settings); None: ``ticket`` always.
    ticket_for: Callable[[Mention], tuple[tuple[str, ...], TicketSettings]] | None = None


# --------------------------------------------------------------------------- the route


@dataclass
class Stats:
    read: int = 0
    tickets: int = 0
    comments: int = 0
    filtered: int = 0
    quarantined: int = 0
    replies_posted: int = 0
    posts: int = 0
    reply_failures: int = 0
    helpdesk_calls: int = 0


class Route:
    """One network account feeding one helpdesk instance."""

    def __init__(self, settings: RouteSettings, network: SocialNetwork, helpdesk: Helpdesk,
                 store: Store, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = settings.name
        self.network = network
        self.helpdesk = helpdesk
        self.store = store
        self.clock = clock
        self.paused_until: dict[str, float] = {}
        self.parked: str | None = None
        self.stats = Stats()
        self._me: Author | None = None
        self._last_export = float("-inf")
        self._last_poll: dict[str, float] = {}
        self._cutoff: float | None = None
        self._rate: dict[str, float] = {}
        self._last_viral = float("-inf")

    # ------------------------------------------------------------------ pacing

    def poll_due(self, stream: str, interval: float) -> bool:
        """Time to read ``stream``: its interval has passed, or at the rate posts arrive
        half of the network's reachable window would fill before the next read."""
        last = self._last_poll.get(stream)
        if last is None:
            return True
        interval *= self.budget_slowdown()
        waited = self.clock() - last
        if waited >= interval - 1.0:  # a scheduler tick may land a hair early
            return True
        window = getattr(self.network, "mention_window", 0) if stream == "mentions" else 0
        expected = self._rate.get(stream, 0.0) * interval
        return bool(window) and expected >= window / 2 and waited >= self.network.min_poll_interval

    def budget_slowdown(self) -> float:
        """Poll less often as the helpdesk's API budget tightens (Salesforce's daily
        allocation): x1 below half of socialdesk's share, x2 past half, x4 past 80%."""
        pressure = getattr(self.helpdesk, "budget_pressure", lambda: 0.0)()
        return 4.0 if pressure >= 0.8 else 2.0 if pressure >= 0.5 else 1.0

    def _observe(self, stream: str, items: int) -> None:
        now = self.clock()
        last = self._last_poll.get(stream)
        if last is not None and now > last:
            rate = items / (now - last)
            self._rate[stream] = 0.5 * self._rate.get(stream, rate) + 0.5 * rate
        self._last_poll[stream] = now

    # ------------------------------------------------------------------ health

    def _pause(self, side: str, err: RateLimited) -> None:
        self.paused_until[side] = self.clock() + err.retry_after
        log.warning("route %s: %s rate limited, pausing %.0fs", self.name, side, err.retry_after)

    def _ready(self, side: str) -> bool:
        return not self.parked and self.paused_until.get(side, 0) <= self.clock()

    def park(self, reason: str) -> None:
        """Stop the route and alert; nothing is lost, rows stay queued."""
        self.parked = reason
        if self.store.set_health(self.name, "parked", reason):
            log.error("route %s parked: %s", self.name, reason)

    def healthy(self) -> None:
        if self.store.set_health(self.name, "active", None) and self.parked is None:
            log.info("route %s is active", self.name)

    def me(self) -> Author:
        """The brand account, read from the network once per run and remembered. When the
        read is rate limited or failing, the account remembered from an earlier run serves:
        what was already read keeps going to the helpdesk while the network waits."""
        if self._me is None:
            try:
                self._me = quick_retry(self.network.whoami)
            except (RateLimited, RetriableError):
                known = self.store.get_account(self.name, self.network.kind)
                if known is None:
                    raise
                log.info("route %s: %s account not readable now; using @%s as last read",
                         self.name, self.network.kind, known["handle"])
                self._me = Author(network=self.network.kind, id=str(known["id"]), handle=str(known["handle"]),
                                  name=known.get("name"))
                remember = getattr(self.network, "remember_account", None)
                if remember is not None:
                    remember(self._me)  # so the network's own calls need no account read either
            else:
                self.store.put_account(self.name, self.network.kind, {
                    "id": self._me.id, "handle": self._me.handle, "name": self._me.name})
        return self._me

    def _desk(self, call: Callable[[], Any], *, write: bool = False) -> Any:
        """A helpdesk call; its rate limits and refusals are marked as the helpdesk's.

        Reads and keyed writes get the quick retry; a write without a key (a comment)
        is tried once: a retried attempt looks for its effect first instead.
        """
        self.stats.helpdesk_calls += 1
        try:
            return call() if write else quick_retry(call)
        except (RateLimited, AuthFailed) as err:
            err.side = "helpdesk"  # type: ignore[attr-defined]
            raise

    # ------------------------------------------------------------------ ingest: read

    def poll(self, stream: str) -> int:
        """Read one stream to its end; items and the cursor are recorded together."""
        if not self._ready("network") or stream not in self.settings.streams:
            return 0
        read = {"mentions": self.network.fetch_mentions, "dms": self.network.fetch_dms}[stream]
        cursor = Cursor(self.store.get_cursor(self.name, stream))
        # A route's first read would return the network's whole reachable history;
        # what is older than the history window is kept, as filtered, not ticketed.
        self._cutoff = self.clock() - self.settings.history if cursor.value is None else None
        token: str | None = None
        new = 0
        read_items = 0
        try:
            while True:
                page = quick_retry(lambda: read(cursor, token))
                read_items += len(page.items)
                last = page.next_page is None
                # A gap is filled before the cursor moves past it: if the backfill
                # fails, the next read starts from the old cursor again.
                new += self._record(stream, page.items, page.cursor.value, last and not page.gap)
                checkpoint("ingest.after_record_page")
                if page.gap:
                    new += self._backfill(cursor)
                    if last:
                        self.store.record_page(self.name, stream, [], page.cursor.value, move_cursor=True)
                if last:
                    self._observe(stream, read_items)
                    break
                token = page.next_page
        except RateLimited as err:
            self._pause("network", err)
        except AuthFailed as err:
            self.park(f"{self.network.kind} refused the credentials: {err}")
        except FatalError as err:
            self.park(str(err))
        except RetriableError as err:
            log.warning("route %s: reading %s failed, will retry: %s", self.name, stream, err)
        return new

    def _record(self, stream: str, items: tuple[Any, ...], cursor: str | None, last: bool) -> int:
        rows = []
        for item in items:
            if isinstance(item, Unparseable):
                self.store.quarantine_item(self.name, stream, item.key, item.reason, item.raw)
                self.stats.quarantined += 1
                continue
            created = item.created_at.isoformat() if item.created_at else ""
            payload = mention_to_payload(item)
            if self._cutoff is not None and item.created_at and item.created_at.timestamp() < self._cutoff:
                payload["before_first_run"] = True
            rows.append(InboxItem(item.key, stream, payload, f"{created}|{item.id:0>20}", conversation_key(item)))
        self.stats.read += len(rows)
        return self.store.record_page(self.name, stream, rows, cursor, move_cursor=last)

    def _backfill(self, since: Cursor) -> int:
        """The mentions window was exceeded: recover the gap through recent search."""
        query = self.settings.search_query or f"@{self.me().handle} -is:retweet"
        log.warning("route %s: mention window exceeded, backfilling with search %r", self.name, query)
        token: str | None = None
        new = 0
        while True:
            try:
                page = quick_retry(lambda: self.network.search_recent(query, since, token))
            except (FatalError, SkippableError) as err:
                # Search cannot reach that far back (X keeps 7 days): say what is missing.
                log.error("route %s: mentions after %s could not all be recovered: %s",
                          self.name, since.value, err)
                self.store.set_health(self.name, "active", f"gap after {since.value} not fully recovered: {err}")
                return new
            new += self._record("mentions", page.items, None, False)
            if page.next_page is None:
                return new
            token = page.next_page

    # ------------------------------------------------------------------ ingest: tickets

    def _filtered(self, m: Mention, payload: dict[str, Any]) -> str | None:
        if payload.get("before_first_run"):
            return "posted before the route's history window"
        me = self.me()
        if m.author.id == me.id and not self.settings.include_own_posts:
            return "own post"
        if m.is_repost and not self.settings.include_reposts:
            return "repost"
        if m.is_quote and not self.settings.include_quotes:
            return "quote"
        if m.author.handle.lower() in self.settings.blocklist:
            return "blocklisted author"
        return None

    def process_inbox(self, limit: int = 50) -> int:
        """Turn pending inbox rows into tickets or comments; returns rows finished.

        Idle, each row is written on its own for latency. When a backlog builds (or the
        helpdesk's API budget tightens) and the helpdesk writes in batches, rows are
        written a batch at a time: a handful of calls for up to ``batch_max`` rows.
        """
        if not self._ready("helpdesk") or (not self._ready("network") and self._me is None):
            return 0  # writing what was read needs only the helpdesk, and the brand account
        batch_max = int(getattr(self.helpdesk, "batch_max", 0) or 0) * int(getattr(self.helpdesk, "batch_jobs", 1))
        rows = self.store.claim_inbox(self.name, max(limit, batch_max) if batch_max else limit)
        if batch_max and len(rows) >= self.batch_threshold():
            return self._ingest_batch(rows)
        return self._each("inbox", rows, self._ingest, INGEST_SKIPPABLE, self._quarantine_row)

    def batch_threshold(self) -> int:
        """Pending rows from which writes are batched: fewer as the API budget tightens."""
        return 2 if self.budget_slowdown() > 1.0 else self.settings.batch_min

    def _quarantine_row(self, row: InboxRow, err: Exception) -> None:
        self.store.quarantine("inbox", row.id, f"{type(err).__name__}: {err}")
        self.stats.quarantined += 1

    def _each(self, table: str, rows: list[Any], handle: Callable[[Any], None],
              skippable: tuple[type[BaseException], ...], skip: Callable[[Any, Exception], None]) -> int:
        """Work claimed rows in order; the error taxonomy decides each row's fate.

        Rate limited: pause that side, retry the row when allowed, hand the rest back.
        Refused credentials or a fatal error: park the route, hand every row back.
        Passing fault: retry the row later. Skippable: this row alone is set aside.
        """
        done = 0
        for index, row in enumerate(rows):
            try:
                handle(row)
                done += 1
            except RateLimited as err:
                self._pause(getattr(err, "side", "network"), err)
                self.store.retry_later(table, row.id, str(err), err.retry_after)
                self.store.release(table, [r.id for r in rows[index + 1:]])
                break
            except skippable as err:
                skip(row, err)
            except AuthFailed as err:
                side = self.helpdesk if getattr(err, "side", "network") == "helpdesk" else self.network
                self.park(f"{side.kind} refused the credentials: {err}")
                self.store.release(table, [r.id for r in rows[index:]])
                break
            except FatalError as err:
                self.park(str(err))
                self.store.release(table, [r.id for r in rows[index:]])
                break
            except RetriableError as err:
                self.store.retry_later(table, row.id, str(err), backoff(row.attempts + 1))
        return done

    def _ingest(self, row: InboxRow) -> None:
        m = _row_mention(row)
        reason = self._filtered(m, row.payload)
        if reason:
            self.store.finish_inbox(row.id, "filtered", note=reason)
            self.stats.filtered += 1
            return
        if row.job and not self._desk(lambda: self.helpdesk.job_settled(row.job)):  # type: ignore[attr-defined]
            # A batch this row was part of may still write it: never write it twice.
            raise JobPending(f"waiting for helpdesk job {row.job}", row.job)
        attempt = self.store.begin_attempt(row.id, row.owner)
        if attempt is None:
            return  # the lease ran out and another worker has the row now
        retry = attempt > 1
        checkpoint("ingest.after_claim")
        requester = self._requester(m.author)
        checkpoint("ingest.after_requester")
        key = conversation_key(m)
        link = self.store.latest_link(self.name, key)
        previous: TicketRef | None = None
        ticket = self._linked_ticket(link.ticket_id) if link is not None else None
        if link is not None and ticket is not None:
            # An earlier attempt (a batch job whose answer was lost) may have put the post on
            # the ticket before an agent solved it: found there, it stays there.
            already = retry and self._has_comment(ticket.id, m)
            if already or not ticket.is_closed:
                if not already:
                    self._desk(lambda: self.helpdesk.add_comment(ticket.id, self._comment_body(m), public=True,
                                                                 author_id=requester), write=True)
                checkpoint("ingest.after_comment")
                self._move_deadline(ticket.id, m)
                self.store.finish_inbox(row.id, "done", ticket_id=ticket.id, link_post=(link.id, m.id))
                self.stats.comments += 1
                return
            previous = ticket
        new = self._new_ticket(m, requester, previous)
        existing = self._desk(lambda: self.helpdesk.find_tickets(m.key)) if retry else []
        ref = existing[0] if existing else self._desk(
            lambda: self.helpdesk.create_ticket(new, idempotency_key=m.key))
        checkpoint("ingest.after_create_ticket")
        if existing:
            self._catch_up(ref.id)
        self.store.finish_inbox(row.id, "done", ticket_id=ref.id, link=self._link_values(m, ref))
        self.stats.tickets += 1
        checkpoint("ingest.after_finish")

    def _catch_up(self, ticket_id: str) -> None:
        """A ticket that existed before its link was recorded (a lost answer, a crash) may
        already have agent replies, which the reply reader passed over as not ours: queue
        them before the link is recorded, so a failed read retries the row instead of
        passing them over again. Only on this recovery path: no cost in the common case."""
        queued = 0
        for reply in self._desk(lambda: self.helpdesk.list_comments(ticket_id)):
            if reply.public and reply.by_agent:
                queued += int(self.store.enqueue_reply(self.name, reply.comment_id, ticket_id, reply.body))
        if queued:
            log.info("route %s: %d reply(ies) written before ticket %s was linked are queued",
                     self.name, queued, ticket_id)

    # ------------------------------------------------------------------ ingest: batches

    def _ingest_batch(self, rows: list[InboxRow]) -> int:
        """Write a backlog in batches; rows already tried once go the careful single way."""
        done = 0
        readable: list[tuple[InboxRow, Mention]] = []
        for row in rows:
            try:
                m = _row_mention(row)
            except INGEST_SKIPPABLE as err:
                self._quarantine_row(row, err)
                continue
            reason = self._filtered(m, row.payload)
            if reason:
                self.store.finish_inbox(row.id, "filtered", note=reason)
                self.stats.filtered += 1
                done += 1
            else:
                readable.append((row, m))
        # A row tried before may have had its effect: it goes the single way, which looks first.
        singles = [row for row, _ in readable if row.attempts or row.job]
        busy = {conversation_key(m) for row, m in readable if row.attempts or row.job}
        fresh: dict[str, tuple[InboxRow, Mention]] = {}
        later: list[int] = []
        for row, m in readable:
            if row.attempts or row.job:
                continue
            key = conversation_key(m)
            if key in busy or key in fresh:
                later.append(row.id)  # one post per conversation a round keeps them in order
            else:
                fresh[key] = (row, m)
        self.store.release("inbox", later)
        if singles:
            done += self._each("inbox", singles, self._ingest, INGEST_SKIPPABLE, self._quarantine_row)
        batch = list(fresh.values())
        if not batch:
            return done
        if not self._ready("helpdesk") or self.parked:
            self.store.release("inbox", [row.id for row, _ in batch])
            return done
        handed_back: list[int] = []  # rows left for the next round take no part in a failure
        try:
            done += self._write_batch(batch, handed_back)
        except RateLimited as err:
            self._pause("helpdesk", err)
            for row, _ in batch:
                if row.id not in handed_back:
                    self.store.retry_later("inbox", row.id, str(err), err.retry_after)
        except AuthFailed as err:
            self.park(f"{self.helpdesk.kind} refused the credentials: {err}")
            self.store.release("inbox", [row.id for row, _ in batch if row.id not in handed_back])
        except FatalError as err:
            self.park(str(err))
            self.store.release("inbox", [row.id for row, _ in batch if row.id not in handed_back])
        except RetriableError as err:
            for row, _ in batch:
                if row.id not in handed_back:
                    self.store.retry_later("inbox", row.id, str(err), backoff(row.attempts + 1))
        return done

    def _write_batch(self, batch: list[tuple[InboxRow, Mention]], handed_back: list[int]) -> int:
        """Requesters, then comments on open tickets and new tickets: a call or a job each,
        the comments' and the tickets' jobs in flight together when they fit the helpdesk's
        share of jobs (``write_tickets``); rows that would overfill them are released for the
        next round and named in ``handed_back``."""
        desk: Any = self.helpdesk
        size = int(desk.batch_max) * int(getattr(desk, "batch_jobs", 1))
        requesters = self._requesters_batch([m.author for _, m in batch], size)
        latest = self.store.latest_links(self.name, [conversation_key(m) for _, m in batch])
        links = {row.id: latest.get(conversation_key(m)) for row, m in batch}
        tickets = self._tickets([link.ticket_id for link in links.values() if link is not None])
        comments: list[tuple[InboxRow, Mention, Any]] = []
        creates: list[tuple[InboxRow, Mention, NewTicket]] = []
        done = 0
        for row, m in batch:
            requester = requesters.get(m.author.id)
            if isinstance(requester, Exception):
                self._quarantine_row(row, requester)
                continue
            link = links[row.id]
            ticket = tickets.get(link.ticket_id) if link is not None else None
            if link is not None and ticket is not None and not ticket.is_closed:
                comments.append((row, m, link))
            else:
                creates.append((row, m, self._new_ticket(m, requester, ticket)))
        both = getattr(desk, "write_tickets", None)
        if both is not None and comments and creates:
            comments, creates, later = self._fit_jobs(comments, creates, int(desk.batch_max),
                                                      int(getattr(desk, "batch_jobs", 1)))
            self.store.release("inbox", later)
            handed_back.extend(later)
        owned = set(self.store.begin_attempts([row.id for row, *_ in comments + creates],
                                              batch[0][0].owner))
        comments = [c for c in comments if c[0].id in owned]
        creates = [c for c in creates if c[0].id in owned]
        jobs = -(-len(comments) // int(desk.batch_max)) + -(-len(creates) // int(desk.batch_max))
        if both is not None and comments and creates and jobs <= int(getattr(desk, "batch_jobs", 1)):
            # One round of jobs for both: the helpdesk's jobs run side by side.
            ids = [row.id for row, *_ in comments + creates]
            commented, created = self._batch_write(ids, lambda submitted: both(
                self._comment_items(comments, requesters), [new for *_, new in creates], on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done += self._finish_creates(creates, created)  # needs no call: closed first
            return done + self._finish_comments(comments, commented)
        for chunk in _chunks(comments, size):
            results = self._batch_write([row.id for row, *_ in chunk], lambda submitted: desk.add_comments(
                self._comment_items(chunk, requesters), on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done += self._finish_comments(chunk, results)
        for chunk in _chunks(creates, size):
            results = self._batch_write([row.id for row, *_ in chunk], lambda submitted: desk.create_tickets(
                [new for *_, new in chunk], on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done += self._finish_creates(chunk, results)
        return done

    @staticmethod
    def _fit_jobs(comments: list[Any], creates: list[Any], per_job: int,
                  jobs: int) -> tuple[list[Any], list[Any], list[int]]:
        """Trim comments and new tickets to ``jobs`` jobs in flight together, cutting the
        smallest part-filled job first; the rows cut (from the end) wait for the next round."""
        later: list[int] = []
        while comments and creates and -(-len(comments) // per_job) + -(-len(creates) // per_job) > jobs:
            cut_comments = len(comments) % per_job or per_job
            cut_creates = len(creates) % per_job or per_job
            if cut_comments <= cut_creates:
                later += [row.id for row, *_ in comments[-cut_comments:]]
                comments = comments[:-cut_comments]
            else:
                later += [row.id for row, *_ in creates[-cut_creates:]]
                creates = creates[:-cut_creates]
        return comments, creates, later

    def _comment_items(self, comments: list[tuple[InboxRow, Mention, Any]],
                       requesters: dict[str, Any]) -> list[tuple[str, str, bool, str | None]]:
        return [(link.ticket_id, self._comment_body(m), True, requesters[m.author.id]) for _, m, link in comments]

    def _finish_comments(self, comments: list[tuple[InboxRow, Mention, Any]], results: list[Any]) -> int:
        """Close the rows whose comment landed, advancing their links, in one step; then
        move their tickets' reply deadlines. A deadline that cannot be moved now is logged:
        the comment is in, and the customer's next message moves the deadline again."""
        landed: list[tuple[str, Mention]] = []
        finished: list[Finished] = []
        for (row, m, link), failed in zip(comments, results):
            if self._batch_failed(row, failed):
                continue
            landed.append((link.ticket_id, m))
            finished.append(Finished(row.id, "done", ticket_id=link.ticket_id, link_post=(link.id, m.id)))
        self.store.finish_inbox_many(finished)
        self.stats.comments += len(finished)
        for ticket_id, m in landed:
            try:
                self._move_deadline(ticket_id, m)
            except SocialdeskError as err:
                log.warning("route %s: reply deadline of ticket %s not moved: %s", self.name, ticket_id, err)
        return len(finished)

    def _finish_creates(self, creates: list[tuple[InboxRow, Mention, NewTicket]], results: list[Any]) -> int:
        """Close the rows whose ticket was opened, with their new links, in one step."""
        finished: list[Finished] = []
        for (row, m, _), ref in zip(creates, results):
            if self._batch_failed(row, ref):
                continue
            finished.append(Finished(row.id, "done", ticket_id=ref.id, link=self._link_values(m, ref)))
        self.store.finish_inbox_many(finished)
        self.stats.tickets += len(finished)
        return len(finished)

    def _batch_write(self, ids: list[int], write: Callable[[Callable[[str, int, int], None]], Any]) -> Any:
        """One batched write; its background job is noted with its rows as soon as queued.

        A rate limit refuses a call before anything is applied: the rows no queued job
        holds take their attempt back, so they are batched again rather than each looked
        for and written on its own; rows in a queued job keep it and wait for that job."""

        def submitted(job: str, start: int, end: int) -> None:
            self.store.note_job(ids[start:end], job)

        try:
            return self._desk(lambda: write(submitted), write=True)
        except RateLimited:
            self.store.undo_attempts(ids)  # rows already in a queued job keep theirs
            raise

    def _requesters_batch(self, authors: list[Author], size: int) -> dict[str, Any]:
        """Helpdesk user ids by author id: known ones from the store, the rest upserted."""
        desk_name = self.settings.helpdesk_name
        found: dict[str, Any] = {}
        missing: dict[str, Author] = {}
        for network in dict.fromkeys(author.network for author in authors):
            known = self.store.get_requesters(desk_name, network, [a.id for a in authors if a.network == network])
            for author in authors:
                if author.network != network:
                    continue
                if known.get(author.id):
                    found[author.id] = known[author.id]
                else:
                    missing[author.id] = author
        for chunk in _chunks(list(missing.values()), size):
            results = self._desk(lambda: self.helpdesk.upsert_requesters(chunk))  # type: ignore[attr-defined]
            for network in dict.fromkeys(author.network for author in chunk):
                self.store.put_requesters(desk_name, network, {
                    author.id: result for author, result in zip(chunk, results)
                    if author.network == network and not isinstance(result, Exception)})
            for author, result in zip(chunk, results):
                found[author.id] = result
        return found

    def _batch_failed(self, row: InboxRow, result: Any) -> bool:
        """Settle a row whose item failed inside a batch; False when it succeeded."""
        if not isinstance(result, Exception):
            return False
        if isinstance(result, SkippableError):
            self._quarantine_row(row, result)
        else:
            self.store.retry_later("inbox", row.id, str(result), backoff(row.attempts + 1))
        return True

    def _link_values(self, m: Mention, ref: TicketRef) -> dict[str, Any]:
        return {"route": self.name, "conversation_key": conversation_key(m), "ticket_id": ref.id,
                "source_key": m.key, "author_id": m.author.id, "author_handle": m.author.handle,
                "dm": m.kind == "dm", "last_post_id": m.id}

    def _reply_window(self) -> float | None:
        """How long after a customer's message the network lets the brand answer privately."""
        return getattr(self.network, "private_reply_window", None)

    def _move_deadline(self, ticket_id: str, m: Mention) -> None:
        """A new customer message reopens the network's private-reply window: the ticket
        fields that show its deadline (``{reply_deadline}``) move with it."""
        window = self._reply_window()
        if not window:
            return
        fields = {k: v.format(**placeholders(m, window)) for k, v in self.settings.ticket.custom_fields.items()
                  if isinstance(v, str) and "{reply_deadline}" in v}
        if fields:
            self._desk(lambda: self.helpdesk.update_ticket(  # type: ignore[attr-defined]
                ticket_id, custom_fields=fields), write=True)

    def _linked_ticket(self, ticket_id: str) -> TicketRef | None:
        """The conversation's ticket, or None when it was deleted in the helpdesk."""
        try:
            return self._desk(lambda: self.helpdesk.get_ticket(ticket_id))
        except NotFound:
            log.info("route %s: ticket %s is gone; the conversation gets a new one", self.name, ticket_id)
            return None

    def _requester(self, author: Author) -> str:
        desk_name = self.settings.helpdesk_name
        known = self.store.get_requester(desk_name, author.network, author.id)
        if known:
            return known
        user_id = self._desk(lambda: self.helpdesk.upsert_requester(author))
        self.store.put_requester(desk_name, author.network, author.id, user_id)
        return user_id

    def _has_comment(self, ticket_id: str, m: Mention) -> bool:
        marker = self._marker(m)
        return any(marker in c.body for c in self._desk(lambda: self.helpdesk.list_comments(ticket_id)))

    def _marker(self, m: Mention) -> str:
        return m.url or f"{NETWORK_NAMES.get(m.network, m.network)} message {m.id}"

    def _comment_body(self, m: Mention) -> str:
        """The post exactly as written, then what an agent needs to know about it."""
        network = NETWORK_NAMES.get(m.network, m.network)
        who = f"@{m.author.handle}" + (f" ({m.author.name})" if m.author.name else "")
        lines = [m.text, "", "—", f"{who} on {network}" + (
            f" · {m.author.followers:,} followers" if m.author.followers is not None else "")]
        lines.append(("Direct message · " if m.kind == "dm" else "") + self._marker(m))
        if m.created_at:
            lines.append(f"Posted {m.created_at.strftime('%Y-%m-%d %H:%M UTC')}")
        if self.settings.ticket.include_metrics and m.metrics:
            shown = [f"{_metric(k)} {v:,}" for k, v in sorted(m.metrics.items())]
            lines.append("Metrics: " + " · ".join(shown))
        return "\n".join(lines)

    def _new_ticket(self, m: Mention, requester: str, previous: TicketRef | None) -> NewTicket:
        fired: tuple[str, ...] = ()
        t = self.settings.ticket
        if self.settings.ticket_for is not None:
            fired, t = self.settings.ticket_for(m)
        values = placeholders(m, self._reply_window())
        body = self._comment_body(m)
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

    # ------------------------------------------------------------------ mirror: read

    def poll_replies(self) -> int:
        """Queue public agent comments on linked tickets from the incremental export.

        Exports have their own, tighter rate limit (Zendesk: 10 a minute), so this runs
        at most once per the helpdesk's ``export_min_interval`` and is paused on its own.
        """
        if not self.settings.mirror.enabled or not self._ready("export"):
            return 0
        now = self.clock()
        if now - self._last_export < getattr(self.helpdesk, "export_min_interval", 0.0) * self.budget_slowdown():
            return 0
        self._last_export = now
        # Without a cursor the adapter starts at "now": a new route mirrors from now on,
        # not the helpdesk's whole history.
        cursor = Cursor(self.store.get_cursor(self.name, "replies"))
        token: str | None = None
        queued = 0
        try:
            while True:
                page = self._desk(lambda: self.helpdesk.fetch_agent_replies(cursor, token))
                for reply in page.items:
                    queued += self._consider(reply)
                # What this page held is queued; a long backlog is not read again.
                self.store.record_page(self.name, "replies", [], page.cursor.value, move_cursor=True)
                if page.next_page is None:
                    return queued
                token = page.next_page
        except RateLimited as err:
            self._pause("export", err)
        except AuthFailed as err:
            self.park(f"{self.helpdesk.kind} refused the credentials: {err}")
        except FatalError as err:
            self.park(f"reading agent replies: {err}")
        except RetriableError as err:
            log.warning("route %s: reading agent replies failed, will retry: %s", self.name, err)
        return queued

    def hint(self, ticket_id: str) -> int:
        """A webhook said this ticket changed: queue its new public agent comments."""
        if self.store.link_by_ticket(self.name, ticket_id) is None:
            return 0
        return sum(self._consider(c) for c in self._desk(lambda: self.helpdesk.list_comments(ticket_id)))

    def _consider(self, reply: AgentReply) -> int:
        # Internal notes never leave the helpdesk; only agents speak for the brand.
        if not reply.public or not reply.by_agent:
            return 0
        if self.store.link_by_ticket(self.name, reply.ticket_id) is None:
            return 0
        return int(self.store.enqueue_reply(self.name, reply.comment_id, reply.ticket_id, reply.body))

    # ------------------------------------------------------------------ mirror: post

    def drain_outbox(self, limit: int = 20) -> int:
        if not self._ready("network") or not self._ready("helpdesk"):
            return 0
        return self._each("outbox", self.store.claim_outbox(self.name, limit), self._mirror,
                          (SkippableError, ReplyTooLong, HeldReply, FatalError), self._reply_failed)

    def _mirror(self, row: OutboxRow) -> None:
        link = self.store.link_by_ticket(self.name, row.ticket_id)
        if link is None:
            # Queued while its ticket's link was being recorded: it comes in a moment.
            raise RetriableError(f"ticket {row.ticket_id} is not linked to a conversation yet")
        ticket = self._desk(lambda: self.helpdesk.get_ticket(row.ticket_id))
        mirror = self.settings.mirror
        if mirror.approval_tag and mirror.approval_tag not in ticket.tags:
            self._await_approval(row, mirror.approval_tag)
            return
        attempt = self.store.begin_outbox_attempt(row.id, row.owner)
        if attempt is None:
            return  # the lease ran out and another worker has the row now
        retry = attempt > 1
        to_dm = link.dm or (mirror.dm_tag is not None and mirror.dm_tag in ticket.tags)
        limit = self.network.max_dm_len if to_dm else self.network.max_reply_len
        body = row.body.strip() + (f" {mirror.sign_off}" if mirror.sign_off else "")
        text = body if to_dm else address(body, link.author_handle)
        if not to_dm:
            held = public_reply_guard(row.body, mirror.pii_patterns) or self._too_old(row.ticket_id)
            if held:
                raise HeldReply(held)
        parts = split_reply(text, self.network.weighted_length, limit,
                            thread=mirror.thread_long_replies)
        done = {p["index"]: p for p in row.posted}
        previous = link.last_post_id
        urls: list[str] = []
        for index, part in enumerate(parts):
            if index in done:
                previous = done[index]["id"]
                urls.append(done[index].get("url") or done[index]["id"])
                continue
            post = (OutboundPost(part, dm_recipient_id=link.author_id) if to_dm
                    else OutboundPost(part, in_reply_to=previous))
            result = self._post_once(post, retry)
            checkpoint("mirror.after_post")
            self.store.record_posted_part(row.id, {"index": index, "id": result.id, "url": result.url})
            checkpoint("mirror.after_record_part")
            self.stats.posts += 1
            previous = result.id
            urls.append(result.url or result.id)
        if to_dm and not link.dm and not link.dm_note_posted and mirror.dm_public_note:
            note = address(mirror.dm_public_note, link.author_handle)
            self._post_once(OutboundPost(note, in_reply_to=link.last_post_id), retry)
            self.store.mark_dm_note_posted(link.id)
        network = NETWORK_NAMES.get(self.network.kind, self.network.kind)
        where = "as a direct message" if to_dm else "in the thread"
        note = f"socialdesk posted this reply on {network} {where}: " + ", ".join(urls) + f" [comment {row.comment_id}]"
        if not (retry and any(f"[comment {row.comment_id}]" in c.body
                              for c in self._desk(lambda: self.helpdesk.list_comments(row.ticket_id)))):
            self._desk(lambda: self.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        checkpoint("mirror.after_note")
        self.store.finish_outbox(row.id, "posted")
        self.stats.replies_posted += 1

    def _too_old(self, ticket_id: str) -> str | None:
        """Why a public answer would come too late for the conversation, or None."""
        max_age = self.settings.mirror.max_age
        last = self.store.last_post_at(self.name, ticket_id) if max_age is not None else None
        if max_age is None or last is None or self.clock() - last <= max_age:
            return None
        dm_tag = self.settings.mirror.dm_tag
        private = (f"answer by direct message (add the tag {dm_tag} and reply again)" if dm_tag
                   else "answer privately")
        return (f"held: the customer last wrote {(self.clock() - last) / 3600:.0f} h ago, past this route's "
                f"{max_age / 3600:g} h limit for public replies; {private}, or leave the thread alone")

    def _await_approval(self, row: OutboxRow, tag: str) -> None:
        """Keep the reply until a lead approves the ticket; say so once, then check again."""
        waiting = f"awaiting approval: a lead adds the tag {tag} to the ticket"
        if not (row.last_error or "").startswith("awaiting approval"):
            note = (f"socialdesk is holding this reply until a lead approves it: add the tag {tag} to the "
                    f"ticket and it goes out. [comment {row.comment_id}]")
            self._desk(lambda: self.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        self.store.retry_later("outbox", row.id, waiting, APPROVAL_RECHECK)

    def _post_once(self, post: OutboundPost, retry: bool) -> Any:
        """Post unless a retried attempt finds the post already made."""
        if retry:
            found = quick_retry(lambda: self.network.find_own_post(post))
            if found is not None:
                return found
        try:
            return self.network.post(post)
        except DuplicateContent:
            found = quick_retry(lambda: self.network.find_own_post(post))
            if found is None:
                raise
            return found

    def _reply_failed(self, row: OutboxRow, err: Exception) -> None:
        reason = f"{type(err).__name__}: {err}"
        self.store.quarantine("outbox", row.id, reason)
        self.stats.reply_failures += 1
        note = (f"socialdesk could not post this reply on {NETWORK_NAMES.get(self.network.kind, self.network.kind)}: "
                f"{err}. It is kept; retry it with 'socialdesk failed retry out-{row.id}'. [comment {row.comment_id}]")
        try:
            self._desk(lambda: self.helpdesk.add_comment(row.ticket_id, note, public=False), write=True)
        except Exception as note_err:  # the failure is recorded in the store either way
            log.warning("route %s: could not add the failure note to ticket %s: %s",
                        self.name, row.ticket_id, note_err)

    # ------------------------------------------------------------------ viral watch

    def viral_watch(self) -> int:
        """Read the public metrics of open conversations' posts (one read per 100) and
        escalate the tickets whose post crossed a threshold; returns tickets escalated."""
        viral = self.settings.viral
        fetch = getattr(self.network, "fetch_metrics", None)
        if not viral.enabled or fetch is None or not self._ready("network") or not self._ready("helpdesk"):
            return 0
        now = self.clock()
        if now - self._last_viral < viral.refresh * self.budget_slowdown():
            return 0
        self._last_viral = now
        candidates = self.store.watch_candidates(self.name, now - viral.horizon)
        if not candidates:
            return 0
        try:
            tickets = self._tickets([link.ticket_id for link, _ in candidates])
            watched = [(link, seen) for link, seen in candidates
                       if link.ticket_id in tickets and not tickets[link.ticket_id].is_closed]
            posts = {link.id: link.source_key.rsplit(":", 1)[-1] for link, _ in watched}
            metrics = quick_retry(lambda: fetch(list(posts.values()))) if posts else {}
            escalated = 0
            for link, seen in candidates:
                current = metrics.get(posts.get(link.id, ""))
                reasons = self._viral_reasons(current, seen) if current else []
                if reasons:
                    self._escalate(link.ticket_id, tickets[link.ticket_id], current, reasons)
                    escalated += 1
                self.store.record_watch(link.id, self.name, current or seen["metrics"], flagged=bool(reasons))
            return escalated
        except RateLimited as err:
            self._pause(getattr(err, "side", "network"), err)
        except (RetriableError, SkippableError) as err:
            log.warning("route %s: viral watch will try again: %s", self.name, err)
        return 0

    def _tickets(self, ids: list[str]) -> dict[str, TicketRef]:
        many = getattr(self.helpdesk, "get_tickets", None)
        if many is not None:
            found: dict[str, TicketRef] = {}
            for chunk in _chunks(sorted(set(ids)), 100):
                found.update(self._desk(lambda: many(chunk)))
            return found
        return {t: self._desk(lambda: self.helpdesk.get_ticket(t)) for t in set(ids)}

    def _viral_reasons(self, current: dict[str, int], seen: dict[str, Any]) -> list[str]:
        viral = self.settings.viral
        reasons = [f"{_metric(m)} {current[m]:,} (threshold {limit:,})"
                   for m, limit in viral.thresholds.items() if current.get(m, 0) >= limit]
        before, checked = seen.get("metrics") or {}, seen.get("checked_at")
        if checked is not None and self.clock() > checked:
            hours = (self.clock() - checked) / 3600
            for m, per_hour in viral.velocity.items():
                if m in current and m in before and (current[m] - before[m]) / hours >= per_hour:
                    reasons.append(f"{_metric(m)} +{(current[m] - before[m]) / hours:,.0f}/h "
                                   f"(threshold {per_hour:,g}/h)")
        return reasons

    def _escalate(self, ticket_id: str, ticket: TicketRef, metrics: dict[str, int], reasons: list[str]) -> None:
        """Raise priority (never lower it) and tag, so the helpdesk's escalation rules fire."""
        viral = self.settings.viral
        current = ticket.priority if ticket.priority in PRIORITY_ORDER else "low"
        raise_to = viral.priority if PRIORITY_ORDER.index(viral.priority) > PRIORITY_ORDER.index(current) else None
        self._desk(lambda: self.helpdesk.update_ticket(  # type: ignore[attr-defined]
            ticket_id, priority=raise_to, add_tags=(viral.tag,)), write=True)
        figures = " · ".join(f"{_metric(k)} {v:,}" for k, v in sorted(metrics.items()))
        note = (f"socialdesk: this conversation's post is taking off: {'; '.join(reasons)}. "
                f"Now: {figures}. " + (f"Priority raised to {raise_to}; " if raise_to else "")
                + f"tagged {viral.tag}.")
        self._desk(lambda: self.helpdesk.add_comment(ticket_id, note, public=False), write=True)
        log.warning("route %s: ticket %s escalated as viral: %s", self.name, ticket_id, "; ".join(reasons))

    # ------------------------------------------------------------------ spikes

    def spike_watch(self) -> str | None:
        """Compare the last window's posts with the route's usual rate; during a spike,
        one problem ticket (Zendesk) links every incident, or the route raises an alert.
        Returns the problem ticket's id (or "alert") while a spike lasts."""
        spike = self.settings.spike
        if not spike.enabled or not self._ready("helpdesk"):
            return None
        now = self.clock()
        first = self.store.first_received(self.name)
        if first is None or now - first < spike.baseline:
            return None  # no usual rate to compare with yet
        recent = self.store.posts_between(self.name, now - spike.window, now)
        usual = self.store.posts_between(self.name, now - spike.window - spike.baseline, now - spike.window)
        usual_per_window = usual * spike.window / spike.baseline
        state = self.store.get_cursor(self.name, "spike")
        if recent < spike.min_mentions or recent <= spike.factor * usual_per_window:
            if state:
                self.store.record_page(self.name, "spike", [], None, move_cursor=True)
                log.info("route %s: the mention spike is over", self.name)
            return None
        problem, _, since = (state or "").partition("@")
        figures = (f"{recent} posts in the last {spike.window / 60:g} min against a usual "
                   f"{usual_per_window:.1f}")
        try:
            if not problem:
                problem = self._open_problem(figures, now)
                since = str(now - spike.window)
                self.store.record_page(self.name, "spike", [], f"{problem}@{since}", move_cursor=True)
            if problem != "alert":
                incidents = [t for t in self.store.tickets_linked_since(self.name, float(since)) if t != problem]
                for chunk in _chunks(incidents, 100):
                    self._desk(lambda: self.helpdesk.link_incidents(problem, chunk), write=True)  # type: ignore[attr-defined]
                self.store.record_page(self.name, "spike", [], f"{problem}@{now}", move_cursor=True)
        except RateLimited as err:
            self._pause("helpdesk", err)
        except (RetriableError, SkippableError) as err:
            log.warning("route %s: spike handling will try again: %s", self.name, err)
        return problem or None

    def _open_problem(self, figures: str, now: float) -> str:
        if not hasattr(self.helpdesk, "link_incidents"):
            self.store.set_health(self.name, "active", f"mention spike: {figures}")
            log.error("route %s: mention spike: %s", self.name, figures)
            return "alert"
        key = f"socialdesk:spike:{self.name}:{int(now)}"
        problem = NewTicket(
            external_id=key, subject=f"Mention spike on {self.name}: {figures}"[:150],
            body=(f"socialdesk saw {figures}. The social tickets of this spike are linked here as "
                  f"incidents; solving this problem solves them."),
            requester_id=self.helpdesk.whoami(), public=False, tags=(SOCIALDESK_TAG, "social_spike"),
            priority="high", type="problem")
        ref = self._desk(lambda: self.helpdesk.create_ticket(problem, idempotency_key=key), write=True)
        log.error("route %s: mention spike (%s): problem ticket %s", self.name, figures, ref.id)
        return ref.id

    # ------------------------------------------------------------------ one cycle

    def run_once(self) -> None:
        """Every step once: read, ticket, read replies, post."""
        for stream in self.settings.streams:
            self.poll(stream)
        while self.process_inbox():
            pass
        self.poll_replies()
        while self.drain_outbox():
            pass
        self.viral_watch()
        self.spike_watch()
