"""``socialdesk report --html``: the report (sync/report.py) as one self-contained page: its
tables (sync/report_tables.py) with charts drawn on the server (sync/charts.py)."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from sync.charts import bars, columns, duration, lines
from sync.htmlpage import badge, document, esc, table
from sync.report_tables import Part, parts, title

WIDE = 900   # the report's main charts, in pixels


def span_labels(series: Mapping[str, Any]) -> list[str]:
    """The start of each span of a history series, as the page shows it (UTC)."""
    step, since, until = float(series.get("step") or 3600), float(series.get("since") or 0), series.get("until")
    count = max(1, int(-(-(float(until or since) - since) // step)))
    shape = "%H:%M" if step < 86400 else "%b %d"
    return [time.strftime(shape, time.gmtime(since + i * step)) for i in range(count)]


def per_span(series: Mapping[str, Any]) -> str:
    step = float(series.get("step") or 3600)
    return {300.0: "5 minutes", 3600.0: "hour", 86400.0: "day"}.get(step, duration(step))


def render_report_html(report: Mapping[str, Any]) -> str:
    """The whole page: a summary, then each part of the report with its charts above it."""
    charts: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "routes": _volume_charts, "times": _time_charts, "cost": _cost_chart}
    headings = {"routes": "Routes and volumes", "times": "Response times", "held": "Replies held and failed",
                "quarantine": "Quarantine", "cost": "Vendor cost"}
    body = [f"<h1>socialdesk report</h1><p class=\"sub\">{esc(title(report))}</p>", _summary(report)]
    for part in parts(report):
        if part.key in headings:
            body.append(f"<h2>{esc(headings[part.key])}</h2>")
        body.append(charts[part.key](report) if part.key in charts else "")
        body.append(_part(part))
    return document("socialdesk report", body)


def _part(part: Part) -> str:
    rows = [tuple(_state(c) if i in part.states else c for i, c in enumerate(row)) for row in part.rows]
    note = f'<p class="note">{esc(part.note)}</p>' if part.note else ""
    return (f"<h3>{esc(part.heading)}</h3>" + table(part.headers, rows, numeric=part.numeric, raw=part.states,
                                                   empty=part.empty) + note)


def _state(text: Any) -> str:
    """A state cell: the state word as a badge, the reason after it."""
    word, _, why = str(text).partition(" (")
    return badge(word) + (f' <span class="why">({esc(why)}</span>' if why else "")


def _summary(report: Mapping[str, Any]) -> str:
    routes = list(report.get("routes") or [])
    total = {k: sum(r["volumes"].get(k, 0) for r in routes) for k in ("read", "opened", "posted", "held", "failed")}
    met = sum(r["sla"]["met"] for r in routes)
    judged = met + sum(r["sla"]["breached"] for r in routes)
    cost = report.get("cost") or {}
    cards = [("posts read", total["read"]), ("conversations opened", total["opened"]),
             ("replies posted", total["posted"]), ("replies held", total["held"]),
             ("replies failed", total["failed"]), ("set aside", len(report.get("quarantine") or [])),
             ("first responses on target", f"{met} of {judged}" if judged else "-"),
             (f"X reads {cost.get('month', '')}", f"${cost.get('usd', 0):.2f}")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="note">{esc(k)}</div><strong>{esc(v)}</strong></div>' for k, v in cards
    ) + "</div>"


def _volume_charts(report: Mapping[str, Any]) -> str:
    series = report.get("series") or {}
    labels, per, per_route = span_labels(series), per_span(series), series.get("routes") or {}
    read = columns({name: s["read"] for name, s in per_route.items()}, labels, width=WIDE,
                   title=f"Posts read per {per}, by route")
    posted = columns({name: s["posted"] for name, s in per_route.items()}, labels, width=WIDE,
                     title=f"Replies posted per {per}, by route")
    return f'<p class="note">Posts read per {esc(per)}</p>{read}<p class="note">Replies posted per {esc(per)}</p>{posted}'


def _time_charts(report: Mapping[str, Any]) -> str:
    targets = (report.get("targets") or {}).get("by_priority") or {}
    firsts = [(r["name"], r["times"]["first_response"]["median"]) for r in report.get("routes") or []
              if r["times"]["first_response"]["median"] is not None]
    chart = bars(firsts, title="Median first response by route", fmt=duration, target=targets.get("*"), width=WIDE,
                 target_label="target" if len(targets) == 1 else "target (other priorities)") \
        if firsts else '<p class="empty">no first response yet</p>'
    series = report.get("series") or {}
    latency = lines({name: s["ticket_latency"] for name, s in (series.get("routes") or {}).items()},
                    span_labels(series), width=WIDE, fmt=duration,
                    title=f"Mention read to ticket written, median per {per_span(series)}")
    return (f'<p class="note">Median first response</p>{chart}'
            f'<p class="note">Mention read to ticket written, median per {esc(per_span(series))}</p>{latency}')


def _cost_chart(report: Mapping[str, Any]) -> str:
    per_route = (report.get("cost") or {}).get("routes") or {}
    return bars([(name, c["usd"]) for name, c in per_route.items()], title="X reads this month, US dollars at most",
                width=WIDE, fmt=lambda v: f"${v:.2f}") if per_route else ""


__all__ = ["per_span", "render_report_html", "span_labels"]
