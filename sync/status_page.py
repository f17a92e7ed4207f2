"""The daemon's status page: each route's state and why, its queues, the last hour's volumes and
latencies as small charts, the replies held or failed and the posts set aside. One self-contained
HTML page (inline style and SVG, no script), rendered from the dict ``GET /api/status`` returns
(``Daemon.status_snapshot()``); a key that is missing or of another shape shows as "not
reported", never as an error."""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from sync.charts import bars, columns, duration, lines
from sync.htmlpage import badge, document, esc, table
from sync.store.history import HOLDS, reply_state

REFRESH = 30   # seconds between reloads


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _l(value: Any) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else []


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _at(moment: Any) -> str:
    at = _num(moment)
    return time.strftime("%H:%M:%S UTC", time.gmtime(at)) if at is not None else "-"


def render_status_page(snapshot: Mapping[str, Any], now: float) -> str:
    """The page for ``snapshot`` at ``now`` (the daemon's clock)."""
    snap = _d(snapshot)
    routes, queues, hour = _d(snap.get("routes")), _d(snap.get("queues")), _d(snap.get("last_hour"))
    names = sorted({*routes, *queues, *hour})
    held = [_reply(r) for r in _l(snap.get("held_replies"))]
    failed = [_reply(r) for r in _l(snap.get("failed_replies"))]
    taken = _num(snap.get("at"))
    body = [f"<h1>socialdesk status</h1><p class=\"sub\">"
            f"{esc(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(taken if taken is not None else now)))}"
            f" &middot; reloads every {REFRESH} s</p>",
            _summary(names, routes), "<h2>Routes</h2>", _routes(names, routes, now),
            "<h2>Queues</h2>", _queues(names, queues, held, failed),
            "<h2>Last hour</h2>", _last_hour(hour, "last_hour" in snap),
            "<h2>Held replies</h2>", _held(held, "held_replies" in snap),
            "<h2>Failed replies</h2>", _failed(failed, "failed_replies" in snap),
            "<h2>Set aside</h2>", _quarantined(_l(snap.get("quarantined")), "quarantined" in snap)]
    if _d(snap.get("replicas")):
        body += ["<h2>Replicas</h2>", _replicas(_d(snap.get("replicas")), str(snap.get("replica") or ""))]
    return document("socialdesk status", body, refresh=REFRESH)


def _reply(value: Any) -> dict[str, Any]:
    """A held or failed reply of the snapshot, with what holds it and why in words (worked out
    from the outbox row's state and reason when the snapshot gives only those)."""
    r = _d(value)
    if "why" in r or "hold" in r:
        state, hold, why = str(r.get("state") or ""), r.get("hold"), r.get("why")
    else:
        state, hold, why = reply_state(str(r.get("state") or ""), r.get("reason"))
    return {"id": r.get("id"), "route": r.get("route"), "ticket": r.get("ticket_id", r.get("ticket")),
            "state": state, "hold": hold, "why": why, "queued_at": r.get("queued_at")}


def _summary(names: Sequence[str], routes: Mapping[str, Any]) -> str:
    if not names:
        return '<p class="empty">no routes reported</p>'
    states = [str(_d(routes.get(n)).get("state") or "not reported") for n in names]
    return "<p>" + " ".join(badge(s, f"{states.count(s)} {s}") for s in dict.fromkeys(states)) + "</p>"


def _routes(names: Sequence[str], routes: Mapping[str, Any], now: float) -> str:
    rows = []
    for name in names:
        r = _d(routes.get(name))
        state = str(r.get("state") or "not reported")
        sides = "; ".join(f"{side}: {_d(w).get('reason') or ''}" for side, w in _d(r.get("waiting")).items())
        paused = ", ".join(f"{side} for {duration(until - now)}" for side, until in
                           ((s, _num(u)) for s, u in _d(r.get("paused_until")).items()) if until and until > now)
        path = " → ".join(str(r[k]) for k in ("network", "helpdesk") if r.get(k))
        rows.append((name, path or "-", badge(state), r.get("why") or r.get("reason") or "",
                     _at(r.get("since")), _at(r.get("next_check")) if state == "waiting" else "-", sides or "-",
                     paused or "-"))
    return table(["route", "network → helpdesk", "state", "why", "since", "next re-check", "waiting on", "paused"],
                 rows, raw=(2,), empty="no routes reported")


def _queues(names: Sequence[str], queues: Mapping[str, Any], held: Sequence[Mapping[str, Any]],
            failed: Sequence[Mapping[str, Any]]) -> str:
    """Per route: what waits on socialdesk (held replies wait on people and are counted apart)."""
    rows = []
    for name in names:
        q = _d(queues.get(name))
        inbox, outbox, oldest = _d(q.get("inbox")), _d(q.get("outbox")), _d(q.get("oldest_waiting_seconds"))
        kept = sum(1 for h in held if h["route"] == name and h["state"] == "held")
        waiting_held = sum(1 for h in held if h["route"] == name and h["hold"] in ("approval", "messaging_window"))
        rows.append((name, inbox.get("pending", 0), max(0, int(outbox.get("pending", 0) or 0) - waiting_held),
                     duration(_num(oldest.get("inbox"))), duration(_num(oldest.get("outbox"))),
                     inbox.get("quarantined", 0), kept, sum(1 for f in failed if f["route"] == name),
                     q.get("tickets", "-")))
    return table(["route", "posts to write", "replies to post", "oldest post waiting", "oldest reply waiting",
                  "set aside", "replies held", "replies failed", "tickets / cases"], rows,
                 numeric=(1, 2, 3, 4, 5, 6, 7, 8), empty="no queues reported")


def _replicas(replicas: Mapping[str, Any], me: str) -> str:
    """The daemons sharing this state: running or gone, last seen, how many leases each holds."""
    rows = []
    for name in sorted(replicas):
        r = _d(replicas.get(name))
        rows.append((name + (" (this one)" if name == me else ""), badge("active" if r.get("live") else "parked",
                     "running" if r.get("live") else "gone"), _at(r.get("started_at")), _at(r.get("seen_at")),
                     r.get("leases", "-")))
    return table(["replica", "state", "started", "last seen", "leases held"], rows, raw=(1,), numeric=(4,),
                 empty="no replicas reported")


def _labels(r: Mapping[str, Any]) -> list[str]:
    return [time.strftime("%H:%M", time.gmtime(at)) for at in map(_num, _l(r.get("buckets"))) if at is not None]


def _last_hour(hour: Mapping[str, Any], reported: bool) -> str:
    if not hour:
        return f'<p class="empty">{"nothing read, written or posted in the last hour" if reported else "not reported"}</p>'
    cards = []
    for name, value in hour.items():
        r = _d(value)
        labels, step = _labels(r), duration(_num(r.get("bucket_seconds")) or 300)
        volume = columns({"mentions read": _l(r.get("mentions")), "written into tickets": _l(r.get("tickets")),
                          "replies posted": _l(r.get("replies"))}, labels, grouped=True, width=440, height=150,
                         title=f"{name}: mentions read, written into tickets and replies posted per {step}")
        cards.append(f'<div class="card"><h3>{esc(name)}</h3><div class="note">per {esc(step)}</div>{volume}'
                     f'<div class="note">latency</div>{_latency(name, r, labels)}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _latency(name: str, r: Mapping[str, Any], labels: list[str]) -> str:
    """Each span's median when the snapshot has them; else the hour's median and p90."""
    spans = _d(r.get("latency_buckets"))
    if spans:
        return lines({"mention → ticket": _l(spans.get("mention_to_ticket")),
                      "reply → post": _l(spans.get("reply_to_post"))}, labels, width=440, height=150, fmt=duration,
                     title=f"{name}: median latency per span")
    hour = _d(r.get("latency"))
    rows = [(f"{label} {q}", value) for key, label in (("mention_to_ticket", "mention → ticket"),
                                                       ("reply_to_post", "reply → post"))
            for q in ("p50", "p90") for value in [_num(_d(hour.get(key)).get(q))] if value is not None]
    return bars(rows, title=f"{name}: latency over the hour", width=440, fmt=duration) if rows else \
        '<p class="empty">nothing done in the last hour</p>'


def _held(held: Sequence[Mapping[str, Any]], reported: bool) -> str:
    rows = [(h["id"], h["route"], h["ticket"], HOLDS.get(h["hold"] or "", h["hold"] or "-"), h["why"] or "",
             _at(h["queued_at"])) for h in held]
    return table(["reply", "route", "ticket / case", "held for", "why", "queued"], rows,
                 empty="no reply held" if reported else "not reported")


def _failed(failed: Sequence[Mapping[str, Any]], reported: bool) -> str:
    rows = [(f["id"], f["route"], f["ticket"], f["why"] or "", f"socialdesk failed retry {f['id']}") for f in failed]
    return table(["reply", "route", "ticket / case", "why", "to retry"], rows,
                 empty="no reply failed" if reported else "not reported")


def _quarantined(items: Sequence[Any], reported: bool) -> str:
    rows = [(q.get("id"), q.get("route"), q.get("key"), q.get("reason") or "", f"socialdesk failed retry {q.get('id')}")
            for q in map(_d, items)]
    return table(["item", "route", "post", "why", "to retry"], rows,
                 empty="nothing set aside" if reported else "not reported")


__all__ = ["REFRESH", "render_status_page"]
