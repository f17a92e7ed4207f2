"""Facebook and Instagram in the chaos run (``bench/chaos.py``): the routes, the people,
Meta's own faults and the audit of what reached the far side.

The daemon of the run holds two more routes, a Facebook Page and its linked Instagram
account (the sandbox's ``meta`` service), into the same helpdesk as X. As at a customer's
site the mapping names the Graph URL, the Page token, the app secret and the webhook's
verify token (the secrets by env-var name), and the daemon listens for Meta's webhooks on
a fixed port (``webhook.listen``); the admin's App Dashboard step (the app's webhook
pointed at the daemon, the Page subscribed) is done once, while the first daemon runs.

Customers comment on the brand's latest post or media, reply under their own comments
and write Messenger or Instagram DMs; each text carries a sequence tag (``#chaos
fb000012``). Agents' answers on those tickets go back under the comment or as a message.

Meta's faults:
- webhook deliveries duplicated, delayed (so out of order) and dropped (``/_sandbox/
  webhooks`` knobs); while the daemon is down a delivery fails and Meta retries it 15 s,
  then a minute, later. A dropped one is never sent: the route's reconciliation read
  (``mentions``/``dms`` polls) must find it;
- Graph answers: 5xx (Graph's code 2, "Service temporarily unavailable"), connection
  resets, slow answers, writes whose answer is lost, answers held past the client's
  timeout, and throttles (code 80001, the Page's Business Use Case limit).

A throttle without an estimate makes the adapter leave the Page alone for 15 minutes
(Meta names none in the stand-in's fault; the run cannot wait that long), so throttles are
armed only until the last random kill: the daemon started after it has no pause in mind.

The audit holds the far side against the people's ledger with the X audit's rules: each
customer item in exactly one public ticket comment (lost, duplicate mentions), one ticket
per external id (duplicate tickets), each agent answer on Meta exactly once (unanswered,
duplicate replies), no internal note's marker in anything the brand wrote (leaks).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from sandbox.scenario import MetaPeople

META_NETWORKS = ("facebook", "instagram")
ENTRY = {"facebook": "acme_fb", "instagram": "acme_ig"}          # the mapping's network entries
ROUTE = {"facebook": "chaos-facebook", "instagram": "chaos-instagram"}
TAG = {"facebook": "fb", "instagram": "ig"}
# What a customer does on Meta, by share: a new comment on the brand's latest post or
# media, a reply under their own last comment, a DM.
KINDS = (("dm", 0.25), ("reply", 0.25), ("comment", 0.5))
# The reconciliation reads as often as socialdesk lets a Meta route read (once a minute);
# the helpdesk side as often as X's route reads it.
POLL = {"mentions": 60, "dms": 60, "replies": 5}
# Webhook knobs at fault rate 1 (each a chance per update, delay in seconds).
WEBHOOK_FAULTS = {"duplicate": 0.15, "drop": 0.15, "delay": 4.0}
# Page and Instagram budgets: 4,800 calls a day per engaged user (Meta's Business Use Case
# rate limits); the run's Page has a thousand, so pacing is not what the run measures.
BUDGET_CALLS = 4800 * 1000


def item_tag(network: str, seq: int) -> str:
    """The sequence tag a customer's item carries, unique in the run."""
    return f"#chaos {TAG[network]}{seq:06d}"


_ITEM_TAG = re.compile(r"#chaos (fb|ig)(\d{6})\b")


# ---------------------------------------------------------------------------- the mapping


def mapping_parts(info: dict[str, Any], port: int, helpdesk: str) -> tuple[str, str, str, dict[str, str]]:
    """The Meta network entries, their routes and the webhook listener of the chaos mapping
    (YAML text, indented for the document's sections), and the secrets' environment."""
    poll = ", ".join(f"{k}: {v}s" for k, v in POLL.items())
    meta = info["services"]["meta"]
    ca = info["ca_bundle"]
    common = (f"    page_id: \"{meta['page_id']}\"\n    page_token: {{env: SOCIALDESK_META_PAGE_TOKEN}}\n"
              f"    app_id: \"{meta['app_id']}\"\n    app_secret: {{env: SOCIALDESK_META_APP_SECRET}}\n"
              f"    verify_token: {{env: SOCIALDESK_META_VERIFY_TOKEN}}\n    base_url: {meta['url']}\n"
              f"    version: {meta['version']}\n    ca_bundle: {ca}\n")
    networks = (f"  {ENTRY['facebook']}:\n    kind: facebook\n{common}"
                f"  {ENTRY['instagram']}:\n    kind: instagram\n    ig_user_id: \"{meta['ig_user_id']}\"\n{common}")
    routes = "".join(f"  - name: {ROUTE[n]}\n    network: {ENTRY[n]}\n    helpdesk: {helpdesk}\n"
                     f"    streams: [mentions, dms]\n    poll: {{{poll}}}\n    ticket: {{priority: normal}}\n"
                     for n in META_NETWORKS)
    webhook = f"webhook:\n  listen: 127.0.0.1:{port}\n"
    env = {"SOCIALDESK_META_PAGE_TOKEN": meta["page_token"], "SOCIALDESK_META_APP_SECRET": meta["app_secret"],
           "SOCIALDESK_META_VERIFY_TOKEN": meta["verify_token"]}
    return networks, routes, webhook, env


def subscribe(info: dict[str, Any], port: int) -> None:
    """The admin's App Dashboard step: the app's webhook for each network pointed at the
    daemon's receiver (Meta checks it with a GET the daemon answers), the Page subscribed."""
    from cli.wiring import subscribe_on_sandbox

    for network in META_NETWORKS:
        subscribe_on_sandbox(info, network, f"http://127.0.0.1:{port}/hooks/network/{ENTRY[network]}")


def fault_specs(version: str, timeouts: int, throttles: bool) -> list[dict[str, Any]]:
    """Probabilistic faults on Graph calls (``/{version}/...``), the chaos run's modest rates;
    ``throttles``: also Meta's throttle (the stand-in's ``429`` kind answers code 80001)."""
    prefix = f"/{version}/"
    specs: list[dict[str, Any]] = [
        {"kind": "5xx", "probability": 0.03, "path_prefix": prefix},
        {"kind": "reset", "probability": 0.02, "path_prefix": prefix},
        {"kind": "slow", "probability": 0.03, "path_prefix": prefix, "delay": 1.0},
        # Meta's writes are few (the agents' answers): a higher chance, so a short run
        # still meets an answer posted whose response is lost.
        {"kind": "drop_response", "probability": 0.1, "method": "POST", "path_prefix": prefix},
    ]
    if throttles:
        specs.append({"kind": "429", "probability": 0.01, "path_prefix": prefix})
    if timeouts:
        specs.append({"kind": "timeout", "probability": 0.01, "path_prefix": prefix, "delay": 31.0,
                      "count": timeouts})
    return specs


# ---------------------------------------------------------------------------- the people


@dataclass(frozen=True)
class MetaItem:
    """One customer item of the plan: when (seconds into the run), its sequence number,
    where, by whom, and what."""

    at: float
    seq: int
    network: str
    customer: str
    kind: str          # comment | reply | dm


def make_meta_plan(count: int, posting: float, seed: int) -> tuple[list[MetaItem], list[str]]:
    """``count`` customer items over ``posting`` seconds, half on each network, from a
    generator of their own (the X plan of a seed stays what it was without Meta)."""
    rng = random.Random(seed * 31 + 17)
    customers = [f"chaos_m{i:04d}" for i in range(max(4, count // 5))]
    items = []
    for seq in range(1, count + 1):
        roll, kind = rng.random(), "comment"
        for name, share in KINDS:
            if roll < share:
                kind = name
                break
            roll -= share
        items.append(MetaItem(posting * (seq - 1) / max(1, count), seq, META_NETWORKS[seq % 2],
                              rng.choice(customers), kind))
    return items, customers


@dataclass
class MetaLedger:
    """What the people did on Meta."""

    items: dict[int, dict[str, Any]] = field(default_factory=dict)   # seq -> {id, network, kind, author}


class ChaosMetaPeople(MetaPeople):
    """The run's customers on the sandbox's Facebook Page and Instagram account, with the
    ledger of what each did."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info)
        self.last_comment: dict[tuple[str, str], str] = {}
        self.ledger = MetaLedger()

    def post(self, item: MetaItem) -> str:
        tag = item_tag(item.network, item.seq)
        body: dict[str, Any] = {"network": item.network, "author": item.customer}
        parent = self.last_comment.get((item.network, item.customer))
        if item.kind == "dm":
            body.update(text=f"{tag} a private question about my order", dm=True)
        elif item.kind == "reply" and parent:
            body.update(text=f"{tag} any news on this?", on=parent)
        else:
            body.update(text=f"{tag} my order has not arrived")
        made = self.control("POST", "posts", body)
        post_id = str(made["id"])
        if item.kind != "dm":
            self.last_comment[(item.network, item.customer)] = post_id
        self.ledger.items[item.seq] = {"id": post_id, "network": item.network, "kind": item.kind,
                                       "author": item.customer}
        return post_id

    def brand_entries(self) -> list[dict[str, Any]]:
        """Everything the Page and the Instagram account wrote (comments, replies,
        messages; removed ones too)."""
        out = []
        for brand in (self.meta["page_id"], self.meta["ig_user_id"]):
            out += self.control("GET", "posts", author=brand)["posts"]
        return out

    def everything(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "posts")["posts"])

    def webhooks(self, deliveries: int = 0) -> dict[str, Any]:
        return dict(self.control("GET", "webhooks", deliveries=deliveries))


def webhook_knobs(rate: float) -> dict[str, float]:
    """The webhook knobs of the chaos phase at fault rate ``rate``."""
    return {"duplicate": min(1.0, WEBHOOK_FAULTS["duplicate"] * rate),
            "drop": min(1.0, WEBHOOK_FAULTS["drop"] * rate), "delay": WEBHOOK_FAULTS["delay"] * rate}


NO_WEBHOOK_FAULTS = {"duplicate": 0.0, "drop": 0.0, "delay": 0.0}


# Deliveries the stand-in lists (it keeps the last thousand).
DELIVERIES_KEPT = 1000


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def never_pushed(hooks: dict[str, Any], ids: Iterable[str]) -> list[str]:
    """The items among ``ids`` that a dropped update named and no delivery carried: only the
    reconciliation read can have brought them (exact while the stand-in still lists every
    delivery of the run)."""
    dropped = {s for d in hooks.get("dropped") or [] if d.get("reason") == "drop" for s in _strings(d["entries"])}
    delivered = {s for d in hooks.get("deliveries") or [] for s in _strings(d.get("body"))}
    return [i for i in ids if i in dropped and i not in delivered]


def webhook_figures(hooks: dict[str, Any]) -> dict[str, Any]:
    """What Meta's side of the webhooks did: deliveries made, updates sent twice, dropped
    (never sent), attempts that failed (the daemon down), still queued."""
    seen: Counter[str] = Counter()
    for delivery in hooks.get("deliveries") or []:
        for entry in (delivery.get("body") or {}).get("entry") or []:
            seen[repr(sorted(entry.items()))] += 1
    dropped = hooks.get("dropped") or []
    return {"delivered": int(hooks.get("delivered") or 0),
            "duplicated": sum(n - 1 for n in seen.values() if n > 1),
            "dropped": sum(len(d.get("entries") or ()) for d in dropped if d.get("reason") == "drop"),
            "gave_up": sum(len(d.get("entries") or ()) for d in dropped if d.get("reason") == "gave_up"),
            "failed_attempts": int(hooks.get("failed_attempts") or 0),
            "pending": int(hooks.get("pending") or 0)}


# ---------------------------------------------------------------------------- the audit


@dataclass
class NetworkAudit:
    """One network's figures, named as the run's report names them."""

    mentions: int = 0          # customer items (posts, comments, replies, DMs)
    answers: int = 0           # agents' public answers on this network's tickets
    replies_posted: int = 0    # replies and messages the brand wrote on the network
    tickets: int = 0
    lost: int = 0
    late_mentions: int = 0     # in no ticket yet but still queued in the daemon's inbox
    duplicate_tickets: int = 0
    duplicate_mentions: int = 0
    duplicate_replies: int = 0
    leaked_internal_notes: int = 0
    unanswered: int = 0
    problems: list[str] = field(default_factory=list)

    def flag(self, what: str, count: int, problem: str) -> None:
        setattr(self, what, getattr(self, what) + count)
        self.problems.append(problem)

    def figures(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if k != "problems"}


def network_of(external_id: Any) -> str:
    """The network of a ticket socialdesk opened, from its external id (``network:kind:id``)."""
    return str(external_id or "").split(":", 1)[0]


def audit_meta(conversations: list[tuple[dict[str, Any], list[dict[str, Any]]]], ledger: MetaLedger,
               brand_entries: list[dict[str, Any]], answers: dict[str, str], notes: Iterable[str]
               ) -> dict[str, NetworkAudit]:
    """Each network's audit. ``conversations`` are the helpdesk's socialdesk tickets (any
    network), ``answers`` the agents' public answer markers on Meta tickets with the network
    of each, ``notes`` every internal note's marker."""
    out = {network: NetworkAudit() for network in META_NETWORKS}
    seen: dict[str, Counter[str]] = {network: Counter() for network in META_NETWORKS}
    tickets: dict[str, Counter[str]] = {network: Counter() for network in META_NETWORKS}
    for ticket, comments in conversations:
        network = network_of(ticket.get("external_id"))
        if network not in out:
            continue
        tickets[network][str(ticket.get("external_id"))] += 1
        for comment in comments:
            if comment["public"]:
                seen[network].update(f"{a}{b}" for a, b in _ITEM_TAG.findall(comment["body"] or ""))
    for network, counts in tickets.items():
        out[network].tickets = sum(counts.values())
        for ext, count in counts.items():
            if count > 1:
                out[network].flag("duplicate_tickets", count - 1, f"{count} tickets with external id {ext}")
    for seq, item in sorted(ledger.items.items()):
        network = item["network"]
        result = out[network]
        result.mentions += 1
        found = seen[network][f"{TAG[network]}{seq:06d}"]
        what = "message" if item["kind"] == "dm" else item["kind"]
        if not found:
            result.flag("lost", 1, f"post {item['id']} by {item['author']} on {network} ({what}, "
                                   f"{item_tag(network, seq)}) is in no ticket")
        elif found > 1:
            result.flag("duplicate_mentions", found - 1, f"post {item['id']} by {item['author']} on {network} "
                                                         f"({item_tag(network, seq)}) is in {found} comments")
    replies = [e for e in brand_entries if e.get("in_reply_to") or e.get("dm")]
    for network, result in out.items():
        mine = [e for e in replies if e.get("network") == network]
        result.replies_posted = len(mine)
        for (_, text), count in Counter((e.get("in_reply_to"), e["text"]) for e in mine).items():
            if count > 1:
                result.flag("duplicate_replies", count - 1, f"{network} reply posted {count} times: {text[:40]!r}")
    for marker, network in answers.items():
        placed = [e for e in replies if e.get("network") == network and marker in (e.get("text") or "")]
        if not placed:
            out[network].flag("unanswered", 1, f"agent answer {marker} is not on {network}")
        elif len({(e.get("in_reply_to"), e["text"]) for e in placed}) > 1:
            out[network].flag("duplicate_replies", len(placed) - 1,
                              f"agent answer {marker} is on {network} {len(placed)} times")
    for marker in notes:
        leaked = [e for e in brand_entries if marker in (e.get("text") or "")]
        if leaked:
            network = leaked[0].get("network") or "facebook"
            out[network].flag("leaked_internal_notes", 1,
                              f"internal note {marker} went out on {network} as {leaked[0]['id']}")
    return out
