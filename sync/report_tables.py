"""The report's tables, said once: the terminal (cli/report.py) and the HTML page
(sync/report_page.py) show the same parts, rows and words."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sync.charts import duration
from sync.report import HOLDS, budget_text


@dataclass(frozen=True)
class Part:
    """One table of the report: ``key`` names it for the page's charts; ``numeric`` columns
    align right; ``states`` columns start with a state word (active, parked...); only ``fold``
    columns (reasons, keys) may break across lines in a narrow terminal."""

    key: str
    heading: str
    headers: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    empty: str
    note: str = ""
    numeric: tuple[int, ...] = ()
    states: tuple[int, ...] = ()
    fold: tuple[int, ...] = ()


def at(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment)) if moment is not None else "-"


def title(report: Mapping[str, Any]) -> str:
    return f"{at(report.get('since'))} to {at(report.get('until'))} ({duration(report.get('span'))})"


def pair(spread: Mapping[str, Any]) -> str:
    """A duration's median and p90, or a dash when nothing was measured."""
    return f"{duration(spread['median'])} / {duration(spread['p90'])}" if spread.get("count") else "-"


def parts(report: Mapping[str, Any]) -> list[Part]:
    routes = list(report.get("routes") or [])
    return [_routes(routes), _volumes(routes), _networks(report.get("networks") or {}), _times(routes),
            _priorities(routes, report), _held(report.get("held") or []), _failed(report.get("failed") or []),
            _quarantine(report.get("quarantine") or []), _cost(report.get("cost") or {})]


def _routes(routes: Sequence[Mapping[str, Any]]) -> Part:
    def row(r: Mapping[str, Any]) -> tuple[Any, ...]:
        h = r.get("health") or {}
        state = (h.get("state") or "never run") + (f" ({h['reason']})" if h.get("reason") else "")
        return r["name"], r["network_kind"], f"{r['helpdesk']} ({r['helpdesk_kind']})", state

    return Part("routes", "Routes", ("route", "network", "helpdesk", "state now"), [row(r) for r in routes],
                "no routes", states=(3,), fold=(3,))


def _volumes(routes: Sequence[Mapping[str, Any]]) -> Part:
    rows = [(r["name"], v["read"], f"{v['opened']} {r['noun']}", v["written"], v["filtered"], v["quarantined"],
             v["posted"], v["held"], v["failed"], v["waiting"]) for r in routes for v in [r["volumes"]]]
    return Part("volumes", "Volumes per route",
                ("route", "read", "opened", "written", "filtered", "aside", "posted", "held", "failed", "waiting"),
                rows, "no routes", numeric=tuple(range(1, 10)),
                note="Posts read; conversations opened; posts written into tickets or cases; filtered out; set aside "
                     "(quarantine); agents' replies posted, held, failed, still to be posted.")


def _networks(networks: Mapping[str, Mapping[str, Any]]) -> Part:
    return Part("networks", "Volumes per network",
                ("network", "routes", "read", "opened", "posted", "held", "failed"),
                [(k, ", ".join(n["routes"]), n["read"], n["opened"], n["posted"], n["held"], n["failed"])
                 for k, n in networks.items()], "no routes", numeric=(2, 3, 4, 5, 6), fold=(1,))


def _times(routes: Sequence[Mapping[str, Any]]) -> Part:
    rows = [(r["name"], pair(t["mention_to_ticket"]), pair(t["reply_to_post"]), pair(t["post_to_reply"]),
             pair(t["first_response"])) for r in routes for t in [r["times"]]]
    return Part("times", "Response times (median / p90)",
                ("route", "read → ticket", "reply → posted", "post → reply", "first response"), rows, "no routes",
                numeric=(1, 2, 3, 4),
                note="read → ticket: a post read until written into its ticket; reply → posted: an agent's reply "
                     "seen until posted; post → reply: a customer's post until the next reply was posted; first "
                     "response: a conversation's first post until its first reply was posted.")


def _priorities(routes: Sequence[Mapping[str, Any]], report: Mapping[str, Any]) -> Part:
    rows = []
    for r in routes:
        for priority, tally in r["sla"]["by_priority"].items():
            target = next((c["target"] for c in r["conversations"] if c["priority"] == priority), None)
            rows.append((r["name"], priority, duration(target), tally["conversations"], tally["met"],
                         tally["breached"], tally["breached_unanswered"], tally["open"]))
    source = (report.get("targets") or {}).get("source")
    return Part("priorities", "First responses by priority (as the route's rules set it)",
                ("route", "priority", "target", "opened", "met", "breached", "unanswered", "open"),
                rows, "no conversation opened", numeric=(2, 3, 4, 5, 6, 7),
                note=f"Targets: {source}. Unanswered: breached and still not answered.")


def _held(held: Sequence[Mapping[str, Any]]) -> Part:
    return Part("held", "Held replies",
                ("reply", "route", "ticket / case", "held for", "why", "queued"),
                [(h["id"], h["route"], h["ticket_id"], HOLDS.get(h.get("hold") or "", h.get("hold")), h.get("why"),
                  at(h.get("queued_at"))) for h in held], "none held", fold=(3, 4, 5))


def _failed(failed: Sequence[Mapping[str, Any]]) -> Part:
    return Part("failed", "Failed replies", ("reply", "route", "ticket / case", "why", "to retry"),
                [(f["id"], f["route"], f["ticket_id"], f.get("why"), f"socialdesk failed retry {f['id']}")
                 for f in failed], "none failed", fold=(3, 4))


def _quarantine(items: Sequence[Mapping[str, Any]]) -> Part:
    return Part("quarantine", "Set aside (quarantine)", ("item", "route", "post", "why", "read"),
                [(q["id"], q["route"], q["key"], q["reason"], at(q.get("read_at"))) for q in items],
                "nothing set aside", fold=(2, 3, 4))


def _cost(cost: Mapping[str, Any]) -> Part:
    prices = cost.get("prices") or {}
    return Part("cost", f"X reads this month ({cost.get('month')}): ${cost.get('usd', 0):.2f} at most",
                ("route", "posts", "DM events", "cost at most", "monthly budget"),
                [(name, c["posts"], c["dm_events"], f"${c['usd']:.2f}", budget_text(c.get("budget") or {}))
                 for name, c in (cost.get("routes") or {}).items()], "no route reads X",
                note=(f"At ${prices.get('posts', 0):g} a post and ${prices.get('dm_events', 0):g} a DM event: "
                      f"{cost.get('price_source')}. X bills a post once per UTC day however often it is read, "
                      "so the bill can be lower."), numeric=(1, 2, 3))


__all__ = ["Part", "at", "pair", "parts", "title"]
