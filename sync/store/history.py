"""What happened over a span of time, read back from the store: posts read and written, replies
posted, held and failed, items set aside, and how long each step took.

Plain functions over a ``Store`` (its engine and tables), shared by ``socialdesk report`` and
the daemon's status page (``last_hour``). Times are the daemon's clock (epoch seconds), except
a post's own time, which is the network's (the inbox row's sort key starts with it).
"""
from __future__ import annotations

import json
import re
import statistics
from bisect import bisect_left
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa

from sync.store.schema import inbox, links, outbox

# How sync/mirror/poster.py words a reply it keeps for later (outbox.last_error of a pending
# row), and the error type it records for a reply a guard stopped (a failed row's reason).
AWAITING_APPROVAL = "awaiting approval"
OUTSIDE_WINDOW = "outside the messaging window"
HELD_ERRORS = {"HeldReply": "guard", "ReplyTooLong": "length"}
# What holds a reply, as the report and the status page say it.
HOLDS = {"approval": "a lead's approval", "messaging_window": "the messaging window", "guard": "a guard",
         "length": "the network's length limit"}
_ERROR_TYPE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): ")


def post_time(sort_key: str | None) -> float | None:
    """When a post was written, from its inbox row's sort key (``<ISO time>|<id>``); None
    when the key carries no time. A time without a zone is UTC."""
    text = str(sort_key or "").split("|", 1)[0]
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


def _in_window(column: Any, since: float, until: float | None) -> Any:
    return column >= since if until is None else sa.and_(column >= since, column < until)


def _routes(column: Any, route: str | None) -> Any:
    return column == route if route else sa.true()


# --------------------------------------------------------------------------- ingest


def posts_read(store: Any, since: float, until: float | None = None, route: str | None = None) -> list[dict[str, Any]]:
    """Every post or message read into the inbox in the span (changes to posts left out):
    route, stream, state (pending, done, filtered, quarantined), ticket id, when it was
    written by its author (``posted_at``), read (``read_at``) and finished (``done_at``)."""
    is_change = inbox.c.payload.like('{"change"%')
    query = (sa.select(inbox.c.route, inbox.c.stream, inbox.c.state, inbox.c.ticket_id, inbox.c.sort_key,
                       inbox.c.received_at, inbox.c.done_at)
             .where(_in_window(inbox.c.received_at, since, until), _routes(inbox.c.route, route), ~is_change)
             .order_by(inbox.c.received_at, inbox.c.id))
    with store.engine.connect() as conn:
        return [{"route": r.route, "stream": r.stream, "state": r.state, "ticket_id": r.ticket_id,
                 "posted_at": post_time(r.sort_key), "read_at": r.received_at, "done_at": r.done_at}
                for r in conn.execute(query)]


def quarantined(store: Any, since: float, until: float | None = None, route: str | None = None) -> list[dict[str, Any]]:
    """Items set aside in the span, with the id ``socialdesk failed retry`` takes and why."""
    query = (sa.select(inbox.c.id, inbox.c.route, inbox.c.source_key, inbox.c.last_error, inbox.c.attempts,
                       inbox.c.received_at)
             .where(inbox.c.state == "quarantined", _in_window(inbox.c.received_at, since, until),
                    _routes(inbox.c.route, route))
             .order_by(inbox.c.received_at, inbox.c.id))
    with store.engine.connect() as conn:
        return [{"id": f"in-{r.id}", "route": r.route, "key": r.source_key, "reason": r.last_error or "",
                 "attempts": r.attempts, "read_at": r.received_at} for r in conn.execute(query)]


def conversations(store: Any, since: float, until: float | None = None,
                  route: str | None = None) -> list[dict[str, Any]]:
    """Conversations whose ticket was opened in the span: route, ticket id, whether private,
    when the customer's first post was written (``posted_at``, the network's time; None when
    unknown), when the ticket was written (``opened_at``), when the first reply was posted
    (``first_reply_at``, None: not yet), and the first post as read (``post``, for the rules)."""
    first_reply = (sa.select(outbox.c.route, outbox.c.ticket_id, sa.func.min(outbox.c.done_at).label("at"))
                   .where(outbox.c.state == "posted").group_by(outbox.c.route, outbox.c.ticket_id).subquery())
    query = (sa.select(links.c.route, links.c.ticket_id, links.c.dm, links.c.created_at, inbox.c.sort_key,
                       inbox.c.payload, first_reply.c.at)
             .select_from(links
                          .outerjoin(inbox, sa.and_(inbox.c.route == links.c.route,
                                                    inbox.c.source_key == links.c.source_key))
                          .outerjoin(first_reply, sa.and_(first_reply.c.route == links.c.route,
                                                          first_reply.c.ticket_id == links.c.ticket_id)))
             .where(_in_window(links.c.created_at, since, until), _routes(links.c.route, route))
             .order_by(links.c.created_at, links.c.id))
    with store.engine.connect() as conn:
        return [{"route": r.route, "ticket_id": r.ticket_id, "dm": bool(r.dm), "posted_at": post_time(r.sort_key),
                 "opened_at": r.created_at, "first_reply_at": r.at, "post": _payload(r.payload)}
                for r in conn.execute(query)]


def _payload(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------- replies


def reply_state(state: str, last_error: str | None) -> tuple[str, str | None, str | None]:
    """(posted | waiting | held | failed | skipped, what holds it, why) for an outbox row: held
    for a lead's approval or the network's messaging window (it goes out by itself later), or
    by a guard or the network's length limit (an agent answers again)."""
    reason = last_error or ""
    if state == "posted":
        return "posted", None, None
    if state == "pending":
        for hold, wording in (("approval", AWAITING_APPROVAL), ("messaging_window", OUTSIDE_WINDOW)):
            if reason.startswith(wording):
                return "held", hold, reason
        return "waiting", None, reason or None
    kind = _ERROR_TYPE.match(reason)
    why = reason[kind.end():] if kind else reason
    if kind and kind.group(1) in HELD_ERRORS:
        return "held", HELD_ERRORS[kind.group(1)], why
    return ("skipped" if state == "skipped" else "failed"), None, why or "not posted"


def replies(store: Any, since: float, until: float | None = None, route: str | None = None) -> list[dict[str, Any]]:
    """Agents' replies queued in the span, each in its state (``reply_state``): the id
    ``socialdesk failed retry`` takes, route, ticket, comment, when it was queued
    (``queued_at``) and posted or given up (``done_at``)."""
    query = (sa.select(outbox.c.id, outbox.c.route, outbox.c.ticket_id, outbox.c.comment_id, outbox.c.state,
                       outbox.c.last_error, outbox.c.created_at, outbox.c.done_at)
             .where(_in_window(outbox.c.created_at, since, until), _routes(outbox.c.route, route))
             .order_by(outbox.c.created_at, outbox.c.id))
    with store.engine.connect() as conn:
        return [_reply(r) for r in conn.execute(query)]


def posted(store: Any, since: float, until: float | None = None, route: str | None = None) -> list[dict[str, Any]]:
    """Replies posted in the span (by when they were posted), as ``replies`` gives them."""
    query = (sa.select(outbox.c.id, outbox.c.route, outbox.c.ticket_id, outbox.c.comment_id, outbox.c.state,
                       outbox.c.last_error, outbox.c.created_at, outbox.c.done_at)
             .where(outbox.c.state == "posted", _in_window(outbox.c.done_at, since, until),
                    _routes(outbox.c.route, route))
             .order_by(outbox.c.done_at, outbox.c.id))
    with store.engine.connect() as conn:
        return [_reply(r) for r in conn.execute(query)]


def _reply(r: Any) -> dict[str, Any]:
    state, hold, why = reply_state(r.state, r.last_error)
    return {"id": f"out-{r.id}", "route": r.route, "ticket_id": r.ticket_id, "comment_id": r.comment_id,
            "state": state, "hold": hold, "why": why, "queued_at": r.created_at, "done_at": r.done_at}


# --------------------------------------------------------------------------- figures


def response_times(posts: Iterable[Mapping[str, Any]], sent: Iterable[Mapping[str, Any]]) -> list[float]:
    """For each customer post written into a ticket, how long until the next reply on that
    ticket was posted (posts not answered yet are left out)."""
    answered: dict[tuple[str, str], list[float]] = {}
    for reply in sent:
        if reply["state"] == "posted" and reply.get("done_at") is not None:
            answered.setdefault((reply["route"], reply["ticket_id"]), []).append(reply["done_at"])
    for times in answered.values():
        times.sort()
    out: list[float] = []
    for post in posts:
        at = post.get("posted_at")
        if post["state"] != "done" or at is None or not post.get("ticket_id"):
            continue
        times = answered.get((post["route"], post["ticket_id"]), [])
        i = bisect_left(times, at)
        if i < len(times):
            out.append(times[i] - at)
    return out


def spread(values: Sequence[float]) -> dict[str, Any]:
    """count, min, median, p90 and max of durations in seconds (None each when there are none)."""
    if not values:
        return {"count": 0, "min": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[0] if len(ordered) == 1 else statistics.quantiles(ordered, n=10, method="inclusive")[-1]
    return {"count": len(ordered), "min": ordered[0], "median": statistics.median(ordered), "p90": p90,
            "max": ordered[-1]}


def buckets(moments: Iterable[float | None], since: float, step: float, count: int) -> list[int]:
    """How many of ``moments`` fall in each of ``count`` spans of ``step`` seconds from ``since``."""
    out = [0] * count
    for at in moments:
        if at is not None and at >= since:
            i = int((at - since) // step)
            if i < count:
                out[i] += 1
    return out


def bucket_medians(pairs: Iterable[tuple[float | None, float]], since: float, step: float,
                   count: int) -> list[float | None]:
    """The median of the durations ending in each span ((moment, duration) pairs); None: none."""
    spans: list[list[float]] = [[] for _ in range(count)]
    for at, took in pairs:
        if at is not None and at >= since:
            i = int((at - since) // step)
            if i < count:
                spans[i].append(took)
    return [statistics.median(s) if s else None for s in spans]


def series(store: Any, since: float, until: float, step: float, route: str | None = None) -> dict[str, Any]:
    """Per route and span of ``step`` seconds: posts read, written into tickets and replies
    posted, and the median of mention read -> ticket written and reply queued -> posted."""
    count = max(1, int(-(-(until - since) // step)))
    spans = _spans(posts_read(store, since, until, route), posted(store, since, until, route), since, step, count)
    return {"since": since, "until": until, "step": step, "routes": {name: s for name, (s, _, _) in spans.items()}}


Spans = dict[str, tuple[dict[str, list[Any]], list[float], list[float]]]


def _spans(posts: list[dict[str, Any]], sent: list[dict[str, Any]], since: float, step: float, count: int) -> Spans:
    """Per route: the per-span figures, and every read -> written and queued -> posted duration."""
    out: Spans = {}
    for name in sorted({p["route"] for p in posts} | {r["route"] for r in sent}):
        written = [p for p in posts if p["route"] == name and p["state"] == "done" and p["ticket_id"]
                   and p["done_at"] is not None]
        went = [r for r in sent if r["route"] == name]
        to_ticket = [(p["done_at"], p["done_at"] - p["read_at"]) for p in written]
        to_post = [(r["done_at"], r["done_at"] - r["queued_at"]) for r in went]
        out[name] = ({"read": buckets((p["read_at"] for p in posts if p["route"] == name), since, step, count),
                      "written": buckets((at for at, _ in to_ticket), since, step, count),
                      "posted": buckets((at for at, _ in to_post), since, step, count),
                      "ticket_latency": bucket_medians(to_ticket, since, step, count),
                      "reply_latency": bucket_medians(to_post, since, step, count)},
                     [took for _, took in to_ticket], [took for _, took in to_post])
    return out


def last_hour(store: Any, now: float, step: float = 300.0) -> dict[str, Any]:
    """Per route, the hour before ``now`` in spans of ``step`` seconds (the status page's small
    charts; ``Daemon.status_snapshot()``'s ``last_hour``): ``buckets`` (each span's start),
    ``bucket_seconds``, and per span ``mentions`` read, ``tickets`` (posts written into
    tickets) and ``replies`` posted; ``latency`` over the hour of ``mention_to_ticket`` (read
    -> written) and ``reply_to_post`` (queued -> posted): count, p50, p90, max in seconds;
    ``latency_buckets``: the median of each per span (None: nothing done in it)."""
    since, count = now - 3600.0, int(-(-3600.0 // step))
    spans = _spans(posts_read(store, since, now), posted(store, since, now), since, step, count)
    return {name: {"buckets": [since + i * step for i in range(count)], "bucket_seconds": step,
                   "mentions": s["read"], "tickets": s["written"], "replies": s["posted"],
                   "latency": {"mention_to_ticket": _hour_spread(to_ticket), "reply_to_post": _hour_spread(to_post)},
                   "latency_buckets": {"mention_to_ticket": s["ticket_latency"], "reply_to_post": s["reply_latency"]}}
            for name, (s, to_ticket, to_post) in spans.items()}


def _hour_spread(values: Sequence[float]) -> dict[str, Any]:
    got = spread(values)
    return {"count": got["count"], **{k: None if got[key] is None else round(got[key], 1)
                                      for k, key in (("p50", "median"), ("p90", "p90"), ("max", "max"))}}


__all__ = ["HOLDS", "bucket_medians", "buckets", "conversations", "last_hour", "post_time", "posted", "posts_read",
           "quarantined", "replies", "reply_state", "response_times", "series", "spread"]
