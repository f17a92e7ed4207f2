"""``socialdesk report``'s figures, from the store alone: volumes per route and network,
response times against first-response targets, replies held and failed, items set aside,
and what this month's X reads cost. ``build_report`` returns plain JSON values; the terminal
table (cli/report.py) and the HTML page (sync/report_page.py) only show them.

The helpdesk's own SLA policies live in the helpdesk and are not read here (the report works
offline; ``socialdesk check`` reads them): the first-response target comes from ``--target``,
or the report's default, and the report says which.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sync.ingest.composer import mention_from_payload
from sync.rules import evaluate
from sync.store import history
from sync.store.history import HOLDS
from sync.store.reads import month_of

SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
PRIORITIES = ("urgent", "high", "normal", "low")
DEFAULT_TARGET = "1h"

# X API pay-per-use rates in US dollars, per item a read returns ("Posts: Read" and
# "DM Event: Read"), from X's pricing page, https://docs.x.com/x-api/getting-started/pricing
# (2026). X bills a post once per UTC day however often it is read, so the count times the rate
# is what the reads cost at most. The environment variables below override them.
X_PRICING_URL = "https://docs.x.com/x-api/getting-started/pricing"
X_POST_READ_USD = 0.005
X_DM_EVENT_READ_USD = 0.010
PRICE_ENV = {"posts": "SOCIALDESK_X_POST_READ_USD", "dm_events": "SOCIALDESK_X_DM_EVENT_READ_USD"}


class ReportError(ValueError):
    """A report option or setting that cannot be used; the message names it."""


def parse_span(text: str, what: str = "--since") -> float:
    """``30m``, ``12h``, ``7d``, ``4w`` (or several: ``1d12h``) in seconds."""
    cleaned = str(text).strip().lower()
    parts = _SPAN.findall(cleaned)
    if not cleaned or not parts or _SPAN.sub("", cleaned).strip():
        raise ReportError(f"{what} {text!r}: expected a duration like 30m, 12h, 7d or 4w")
    seconds = sum(float(n) * SPAN_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ReportError(f"{what} {text!r}: the duration must be more than 0")
    return seconds


@dataclass(frozen=True)
class Targets:
    """First-response targets by ticket priority ("*": any), and where they come from."""

    by_priority: Mapping[str, float]
    source: str

    @classmethod
    def parse(cls, text: str | None) -> "Targets":
        """``--target``: ``1h`` for every priority, or ``urgent=15m,high=1h,normal=4h,low=1d``
        (priorities left out take ``*=`` when given, else the report's default)."""
        if text is None or not str(text).strip():
            return cls({"*": parse_span(DEFAULT_TARGET, "target")},
                       f"the report's default, {DEFAULT_TARGET} for every priority: the helpdesk's own SLA "
                       f"policies are not read offline ('socialdesk check' shows them); set --target to match")
        found: dict[str, float] = {}
        for part in str(text).split(","):
            name, sep, span = part.partition("=")
            name, span = (name.strip().lower(), span) if sep else ("*", name)
            if name not in (*PRIORITIES, "*"):
                raise ReportError(f"--target {text!r}: unknown priority {name!r}; use {', '.join(PRIORITIES)}")
            found[name] = parse_span(span, f"--target {name}" if sep else "--target")
        found.setdefault("*", parse_span(DEFAULT_TARGET, "target"))
        return cls(found, f"--target {text}")

    def target(self, priority: str | None) -> float:
        return self.by_priority.get(priority or "", self.by_priority["*"])


@dataclass(frozen=True)
class Prices:
    """What X charges per item read, by read kind (US dollars)."""

    per_item: Mapping[str, float] = field(default_factory=lambda: {"posts": X_POST_READ_USD,
                                                                  "dm_events": X_DM_EVENT_READ_USD})
    source: str = f"X API pay-per-use rates ({X_PRICING_URL})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Prices":
        prices = dict(cls().per_item)
        changed = []
        for kind, name in PRICE_ENV.items():
            value = environ.get(name, "").strip()
            if not value:
                continue
            try:
                prices[kind] = float(value)
            except ValueError:
                raise ReportError(f"{name}={value!r}: expected a price in US dollars, like 0.005") from None
            if not math.isfinite(prices[kind]) or prices[kind] < 0:
                raise ReportError(f"{name}={value!r}: expected a price in US dollars, like 0.005")
            changed.append(name)
        return cls(prices, f"set in {', '.join(changed)}" if changed else cls().source)


def budget_text(budget: Mapping[str, Any]) -> str:
    """A route's monthly read budget as the report says it."""
    parts = [f"{budget[k]} {what}" for k, what in (("posts", "posts"), ("dm_events", "DM events"))
             if budget.get(k) is not None]
    return ", ".join(parts) or "none"


def noun(helpdesk_kind: str) -> str:
    """What the helpdesk calls the record a conversation becomes."""
    return "cases" if helpdesk_kind == "salesforce" else "tickets"


# --------------------------------------------------------------------------- the report


def build_report(store: Any, config: Any, now: float, span: float, *, route: str | None = None,
                 targets: Targets | None = None, prices: Prices | None = None) -> dict[str, Any]:
    """The report over the ``span`` seconds before ``now`` (the daemon's clock), for every
    route of ``config`` or only ``route``. Plain JSON values."""
    targets = targets or Targets.parse(None)
    prices = prices or Prices()
    chosen = [r for r in config.routes if route is None or r.name == route]
    if route is not None and not chosen:
        names = ", ".join(r.name for r in config.routes) or "none"
        raise ReportError(f"--route {route!r}: the mapping has no such route (routes: {names})")
    since = now - span
    posts = history.posts_read(store, since, route=route)
    sent = history.replies(store, since, route=route)
    answered = history.posted(store, since, route=route)
    opened = history.conversations(store, since, route=route)
    health = store.health()
    routes = [_route(r, config, health.get(r.name), [p for p in posts if p["route"] == r.name],
                     [s for s in sent if s["route"] == r.name], [a for a in answered if a["route"] == r.name],
                     [c for c in opened if c["route"] == r.name], now, targets) for r in chosen]
    step = 300.0 if span <= 3 * 3600 else 3600.0 if span <= 2 * 86400 else 86400.0
    return {
        "since": since, "until": now, "span": span,
        "targets": {"by_priority": dict(targets.by_priority), "source": targets.source},
        "routes": routes,
        "networks": _networks(routes),
        "held": [s for s in sent if s["state"] == "held"],
        "failed": [s for s in sent if s["state"] == "failed"],
        "quarantine": history.quarantined(store, since, route=route),
        "cost": _cost(store, config, chosen, now, prices),
        "series": history.series(store, _floor(since, step), now, step, route),
    }


def _floor(moment: float, step: float) -> float:
    return moment - moment % step


def _route(cfg: Any, config: Any, health: Mapping[str, Any] | None, posts: list[dict[str, Any]],
           sent: list[dict[str, Any]], answered: list[dict[str, Any]], opened: list[dict[str, Any]],
           now: float, targets: Targets) -> dict[str, Any]:
    network = config.networks.get(cfg.network)
    desk = config.helpdesks.get(cfg.helpdesk)
    states = [p["state"] for p in posts]
    replies = [s["state"] for s in sent]
    written = [p for p in posts if p["state"] == "done" and p["ticket_id"] and p["done_at"] is not None]
    firsts = [_first_response(cfg, c, now, targets) for c in opened]
    return {
        "name": cfg.name, "network": cfg.network, "network_kind": network.kind if network else "?",
        "helpdesk": cfg.helpdesk, "helpdesk_kind": desk.kind if desk else "?",
        "noun": noun(desk.kind if desk else ""),
        "health": dict(health) if health else None,
        "volumes": {"read": len(posts), "written": len(written), "opened": len(opened),
                    "filtered": states.count("filtered"), "quarantined": states.count("quarantined"),
                    "pending": states.count("pending"), "replies": len(sent),
                    "posted": replies.count("posted"), "held": replies.count("held"),
                    "failed": replies.count("failed"), "waiting": replies.count("waiting")},
        "times": {
            "mention_to_ticket": history.spread([p["done_at"] - p["read_at"] for p in written]),
            "reply_to_post": history.spread([s["done_at"] - s["queued_at"] for s in answered
                                             if s["done_at"] is not None]),
            "post_to_reply": history.spread(history.response_times(posts, answered)),
            "first_response": history.spread([f["took"] for f in firsts if f["took"] is not None]),
        },
        "sla": _sla(firsts),
        "conversations": firsts,
    }


def _priority(cfg: Any, post: Mapping[str, Any] | None) -> str:
    """The priority the route's rules gave the ticket when it was opened."""
    if post is not None and "change" not in post:
        try:
            mention = mention_from_payload({k: v for k, v in post.items() if k != "before_first_run"})
            return str(evaluate(cfg, mention).ticket.priority or cfg.ticket.priority or "normal")
        except (KeyError, TypeError, ValueError):
            pass
    return str(cfg.ticket.priority or "normal")


def _first_response(cfg: Any, conv: Mapping[str, Any], now: float, targets: Targets) -> dict[str, Any]:
    """One conversation's first response against its target: met, breached, or not answered
    yet (``open``, still within the target; ``breached`` once past it)."""
    start = conv["posted_at"] if conv["posted_at"] is not None else conv["opened_at"]
    priority = _priority(cfg, conv.get("post"))
    target = targets.target(priority)
    took = conv["first_reply_at"] - start if conv["first_reply_at"] is not None else None
    if took is not None:
        status = "met" if took <= target else "breached"
    else:
        status = "breached" if now - start > target else "open"
    return {"ticket_id": conv["ticket_id"], "dm": conv["dm"], "priority": priority, "posted_at": start,
            "first_reply_at": conv["first_reply_at"], "took": took, "target": target, "status": status}


def _sla(firsts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def tally(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        statuses = [f["status"] for f in items]
        return {"conversations": len(items), "answered": sum(f["took"] is not None for f in items),
                "met": statuses.count("met"), "breached": statuses.count("breached"), "open": statuses.count("open"),
                "breached_unanswered": sum(f["status"] == "breached" and f["took"] is None for f in items)}

    by_priority = {p: tally([f for f in firsts if f["priority"] == p])
                   for p in dict.fromkeys(f["priority"] for f in firsts)}
    return {**tally(firsts), "by_priority": by_priority}


def _networks(routes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in routes:
        total = out.setdefault(r["network_kind"], {"routes": [], **dict.fromkeys(r["volumes"], 0)})
        total["routes"].append(r["name"])
        for key, value in r["volumes"].items():
            total[key] += value
    return out


def _cost(store: Any, config: Any, chosen: Sequence[Any], now: float, prices: Prices) -> dict[str, Any]:
    """This UTC month's X reads per route, what they cost at most, and the route's budget."""
    month = month_of(now)
    reads = store.reads(month)
    per_route: dict[str, Any] = {}
    for r in chosen:
        network = config.networks.get(r.network)
        if network is None or network.kind != "x":    # only X reads are priced here
            continue
        counts = reads.get(r.name, {})
        items = {kind: int(counts.get(kind, 0)) for kind in PRICE_ENV}
        per_route[r.name] = {**items, "usd": round(sum(items[k] * prices.per_item[k] for k in items), 4),
                             "budget": {"posts": r.read_budget.monthly_posts,
                                        "dm_events": r.read_budget.monthly_dm_events}}
    return {"month": month, "prices": dict(prices.per_item), "price_source": prices.source,
            "routes": per_route, "usd": round(sum(v["usd"] for v in per_route.values()), 4)}


__all__ = ["DEFAULT_TARGET", "HOLDS", "PRICE_ENV", "Prices", "ReportError", "Targets", "X_DM_EVENT_READ_USD",
           "X_POST_READ_USD", "X_PRICING_URL", "budget_text", "build_report", "noun", "parse_span"]
