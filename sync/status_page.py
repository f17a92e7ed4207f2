"""The daemon's status page: each route's state and why, its queues, the last hour's volumes and
latencies as small charts, and the replies held or failed now. One self-contained HTML page
(inline style and SVG, no script), rendered from the dict ``/api/status`` returns; a key that is
missing or empty shows as "not reported", never as an error."""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from sync.charts import columns, duration, lines
from sync.htmlpage import badge, document, esc, table
from sync.store.history import HOLDS

REFRESH = 30   # seconds between reloads


def _at(moment: Any) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(float(moment))) if isinstance(moment, (int, float)) else "-"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else []


def render_status_page(snapshot: Mapping[str, Any], now: float) -> str:
    """The page for ``snapshot`` (``Daemon.status_snapshot()``) at ``now`` (the daemon's clock)."""
    snapshot = _dict(snapshot)
    health, counts, hist = _dict(snapshot.get("routes")), _dict(snapshot.get("counts")), _dict(snapshot.get("history"))
    names = sorted({*health, *counts, *_dict(hist.get("routes"))})
    replies = _dict(hist.get("replies"))
    body = [f"<h1>socialdesk status</h1><p class=\"sub\">{esc(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(now)))}"
            f" &middot; reloads every {REFRESH} s</p>",
            _summary(names, health), "<h2>Routes</h2>", _routes(names, health, now),
            "<h2>Queues</h2>", _queues(names, counts, _dict(hist.get("oldest_waiting"))),
            "<h2>Last hour</h2>", _last_hour(hist),
            "<h2>Held replies</h2>", _held(_list(replies.get("held")), bool(hist)),
            "<h2>Failed replies</h2>", _failed(_list(replies.get("failed")), bool(hist))]
    return document("socialdesk status", body, refresh=REFRESH)


def _summary(names: Sequence[str], health: Mapping[str, Any]) -> str:
    if not names:
        return '<p class="empty">no routes reported</p>'
    states = [str(_dict(health.get(n)).get("state") or "unknown") for n in names]
    return "<p>" + " ".join(badge(s, f"{states.count(s)} {s}") for s in dict.fromkeys(states)) + "</p>"


def _routes(names: Sequence[str], health: Mapping[str, Any], now: float) -> str:
    rows = []
    for name in names:
        h = _dict(health.get(name))
        state = str(h.get("state") or "unknown")
        waits = "; ".join(f"{side}: {_dict(w).get('reason') or ''}" for side, w in _dict(h.get("waiting")).items())
        paused = ", ".join(f"{side} for {duration(float(until) - now)}" for side, until in
                           _dict(h.get("paused_until")).items() if isinstance(until, (int, float)) and until > now)
        rows.append((name, badge(state, state if h else "not reported"), h.get("reason") or "", _at(h.get("since")),
                     _at(h.get("next_check")) if state == "waiting" else "-", waits or "-", paused or "-"))
    return table(["route", "state", "why", "since", "next re-check", "waiting on", "paused"], rows, raw=(1,),
                 empty="no routes reported")


def _queues(names: Sequence[str], counts: Mapping[str, Any], oldest: Mapping[str, Any]) -> str:
    rows = []
    for name in names:
        c, old = _dict(counts.get(name)), _dict(oldest.get(name))
        inbox, outbox = _dict(c.get("inbox")), _dict(c.get("outbox"))
        rows.append((name, inbox.get("pending", 0), outbox.get("pending", 0),
                     duration(old.get("inbox")), duration(old.get("outbox")), inbox.get("quarantined", 0),
                     outbox.get("failed", 0), c.get("tickets", 0)))
    return table(["route", "posts to write", "replies to post", "oldest post waiting", "oldest reply waiting",
                  "quarantined", "failed replies", "tickets / cases"], rows, numeric=(1, 2, 3, 4, 5, 6, 7),
                 empty="no queues reported")


def _labels(hist: Mapping[str, Any]) -> list[str]:
    since, step, until = hist.get("since"), hist.get("step"), hist.get("until")
    if not all(isinstance(v, (int, float)) for v in (since, step, until)) or not step:
        return []
    count = max(1, int(-(-(until - since) // step)))
    return [time.strftime("%H:%M", time.gmtime(since + i * step)) for i in range(count)]


def _last_hour(hist: Mapping[str, Any]) -> str:
    per_route = _dict(hist.get("routes"))
    if not per_route:
        return '<p class="empty">nothing read, written or posted in the last hour' + \
               ("" if hist else " (not reported)") + "</p>"
    labels = _labels(hist)
    step = duration(hist.get("step")) if isinstance(hist.get("step"), (int, float)) else "5m"
    cards = []
    for name, s in per_route.items():
        s = _dict(s)
        volume = columns({"read": _list(s.get("read")), "written": _list(s.get("written")),
                          "posted": _list(s.get("posted"))}, labels, grouped=True, width=420, height=150,
                         title=f"{name}: posts read, written into tickets and replies posted per {step}")
        latency = lines({"mention to ticket": _list(s.get("ticket_latency")),
                         "reply to post": _list(s.get("reply_latency"))}, labels, width=420, height=150,
                        fmt=duration, title=f"{name}: median latency per {step}")
        cards.append(f'<div class="card"><h3>{esc(name)}</h3><div class="note">per {esc(step)}: posts read, '
                     f'written, replies posted</div>{volume}<div class="note">median latency</div>{latency}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _held(held: Sequence[Any], reported: bool) -> str:
    rows = [(h.get("id"), h.get("route"), h.get("ticket_id"), HOLDS.get(h.get("hold") or "", h.get("hold")),
             h.get("why"), _at(h.get("queued_at"))) for h in map(_dict, held)]
    return table(["reply", "route", "ticket / case", "held for", "why", "queued"], rows,
                 empty="no reply held" if reported else "not reported")


def _failed(failed: Sequence[Any], reported: bool) -> str:
    rows = [(f.get("id"), f.get("route"), f.get("ticket_id"), f.get("why"), f"socialdesk failed retry {f.get('id')}")
            for f in map(_dict, failed)]
    return table(["reply", "route", "ticket / case", "why", "to retry"], rows,
                 empty="no reply failed" if reported else "not reported")


__all__ = ["REFRESH", "render_status_page"]
