"""``socialdesk report --html``: the report (sync/report.py) as one self-contained page with
charts drawn on the server (sync/charts.py)."""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from sync.charts import bars, columns, duration, lines
from sync.htmlpage import badge, document, esc, table
from sync.report import HOLDS, budget_text



def at(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment)) if moment is not None else "-"


def span_labels(series: Mapping[str, Any]) -> list[str]:
    """The start of each span of a history series, as the page shows it (UTC)."""
    step, since, until = float(series.get("step") or 3600), float(series.get("since") or 0), series.get("until")
    count = max(1, int(-(-(float(until or since) - since) // step)))
    shape = "%H:%M" if step < 86400 else "%b %d"
    return [time.strftime(shape, time.gmtime(since + i * step)) for i in range(count)]


def render_report_html(report: Mapping[str, Any]) -> str:
    """The whole page."""
    routes = list(report.get("routes") or [])
    body = [f"<h1>socialdesk report</h1><p class=\"sub\">{esc(at(report.get('since')))} to "
            f"{esc(at(report.get('until')))} ({esc(duration(report.get('span')))})</p>",
            _summary(report), "<h2>Volumes</h2>", _volume_charts(report), _volumes(routes),
            "<h3>Per network</h3>", _networks(report.get("networks") or {}),
            "<h2>Response times</h2>", _time_charts(report), _times(routes),
            f"<p class=\"note\">First-response target: {esc((report.get('targets') or {}).get('source'))}. "
            "First response runs from the customer's first post to the first reply posted on the network; "
            "a post's priority is the one the route's rules gave its ticket.</p>",
            "<h2>Held replies</h2>", _held(report.get("held") or []),
            "<h2>Failed replies</h2>", _failed(report.get("failed") or []),
            "<h2>Quarantine</h2>", _quarantine(report.get("quarantine") or []),
            "<h2>Vendor cost</h2>", _cost(report.get("cost") or {})]
    return document("socialdesk report", body)


def _summary(report: Mapping[str, Any]) -> str:
    routes = list(report.get("routes") or [])
    total = {k: sum(r["volumes"].get(k, 0) for r in routes) for k in ("read", "opened", "posted", "held", "failed")}
    met = sum(r["sla"]["met"] for r in routes)
    judged = met + sum(r["sla"]["breached"] for r in routes)
    cards = [("posts read", total["read"]), ("conversations opened", total["opened"]),
             ("replies posted", total["posted"]), ("replies held", total["held"]),
             ("replies failed", total["failed"]), ("quarantined", len(report.get("quarantine") or [])),
             ("first responses on target", f"{met}/{judged}" if judged else "-"),
             (f"X reads {(report.get('cost') or {}).get('month', '')}", f"${(report.get('cost') or {}).get('usd', 0):.2f}")]
    return "<div class=\"cards\">" + "".join(
        f"<div class=\"card\"><div class=\"note\">{esc(k)}</div><strong>{esc(v)}</strong></div>" for k, v in cards
    ) + "</div>"


def _volume_charts(report: Mapping[str, Any]) -> str:
    series = report.get("series") or {}
    labels = span_labels(series)
    per = "hour" if float(series.get("step") or 3600) < 86400 else "day"
    per_route = series.get("routes") or {}
    read = columns({name: s["read"] for name, s in per_route.items()}, labels,
                   title=f"Posts read per {per}, by route")
    posted = columns({name: s["posted"] for name, s in per_route.items()}, labels,
                     title=f"Replies posted per {per}, by route")
    return f"<h3>Posts read per {per}</h3>{read}<h3>Replies posted per {per}</h3>{posted}"


def _volumes(routes: Sequence[Mapping[str, Any]]) -> str:
    rows = [(r["name"], r["network_kind"], f"{r['helpdesk']} ({r['helpdesk_kind']})", _state(r.get("health")),
             v["read"], f"{v['opened']} {r['noun']}", v["written"], v["filtered"], v["quarantined"], v["posted"],
             v["held"], v["failed"], v["waiting"])
            for r in routes for v in [r["volumes"]]]
    return table(["route", "network", "helpdesk", "state", "read", "opened", "into tickets/cases", "filtered",
                  "quarantined", "replies posted", "held", "failed", "waiting"], rows,
                 numeric=(4, 5, 6, 7, 8, 9, 10, 11, 12), raw=(3,), empty="no routes")


def _state(health: Mapping[str, Any] | None) -> str:
    if not health:
        return badge("unknown", "never run")
    why = f' <span class="why">{esc(health.get("reason"))}</span>' if health.get("reason") else ""
    return badge(str(health.get("state") or "unknown")) + why


def _networks(networks: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [(kind, ", ".join(n["routes"]), n["read"], n["opened"], n["written"], n["posted"], n["held"], n["failed"])
            for kind, n in networks.items()]
    return table(["network", "routes", "read", "conversations opened", "posts into tickets/cases", "replies posted",
                  "held", "failed"], rows, numeric=(2, 3, 4, 5, 6, 7))


def _time_charts(report: Mapping[str, Any]) -> str:
    routes = list(report.get("routes") or [])
    targets = (report.get("targets") or {}).get("by_priority") or {}
    firsts = [(r["name"], r["times"]["first_response"]["median"]) for r in routes
              if r["times"]["first_response"]["median"] is not None]
    chart = bars(firsts, title="Median first response by route", fmt=duration, target=targets.get("*"),
                 target_label="target") if firsts else '<p class="empty">no first responses yet</p>'
    series = report.get("series") or {}
    per_route = series.get("routes") or {}
    latency = lines({name: s["ticket_latency"] for name, s in per_route.items()}, span_labels(series),
                    title="Mention read to ticket written, median per span", fmt=duration)
    return f"<h3>Median first response</h3>{chart}<h3>Mention read to ticket written</h3>{latency}"


def _times(routes: Sequence[Mapping[str, Any]]) -> str:
    def pair(spread: Mapping[str, Any]) -> str:
        return f"{duration(spread['median'])} / {duration(spread['p90'])}" if spread["count"] else "-"

    rows = [(r["name"], pair(t["mention_to_ticket"]), pair(t["reply_to_post"]), pair(t["post_to_reply"]),
             pair(t["first_response"]), s["conversations"], badge("met", str(s["met"])),
             badge("breached", str(s["breached"])) if s["breached"] else "0", s["open"])
            for r in routes for t, s in [(r["times"], r["sla"])]]
    return table(["route", "mention → ticket (median / p90)", "reply → post", "customer post → reply",
                  "first response", "conversations", "met", "breached", "open"], rows,
                 numeric=(5, 8), raw=(6, 7))


def _held(held: Sequence[Mapping[str, Any]]) -> str:
    rows = [(h["id"], h["route"], h["ticket_id"], HOLDS.get(h.get("hold") or "", h.get("hold")), h.get("why"),
             at(h.get("queued_at"))) for h in held]
    return table(["reply", "route", "ticket / case", "held for", "why", "queued"], rows, empty="no reply held")


def _failed(failed: Sequence[Mapping[str, Any]]) -> str:
    rows = [(f["id"], f["route"], f["ticket_id"], f.get("why"), f"socialdesk failed retry {f['id']}") for f in failed]
    return table(["reply", "route", "ticket / case", "why", "to retry"], rows, empty="no reply failed")


def _quarantine(items: Sequence[Mapping[str, Any]]) -> str:
    rows = [(q["id"], q["route"], q["key"], q["reason"], at(q.get("read_at"))) for q in items]
    return table(["item", "route", "post", "why", "read"], rows, empty="nothing set aside")


def _cost(cost: Mapping[str, Any]) -> str:
    per_route = cost.get("routes") or {}
    if not per_route:
        return '<p class="empty">no route reads X</p>'
    prices = cost.get("prices") or {}
    chart = bars([(name, c["usd"]) for name, c in per_route.items()], title="X reads this month, US dollars at most",
                 fmt=lambda v: f"${v:.2f}")
    rows = [(name, c["posts"], c["dm_events"], f"${c['usd']:.2f}", budget_text(c.get("budget") or {}))
            for name, c in per_route.items()]
    return (chart + table([f"route ({cost.get('month')})", "posts read", "DM events read", "cost at most", "budget"],
                          rows, numeric=(1, 2, 3)) +
            f"<p class=\"note\">At ${prices.get('posts', 0):g} a post and ${prices.get('dm_events', 0):g} a DM event: "
            f"{esc(cost.get('price_source'))}. X bills a post once per UTC day however often it is read, so the bill "
            "can be lower.</p>")


__all__ = ["render_report_html", "span_labels"]
