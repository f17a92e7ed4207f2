"""The Facebook and Instagram workload of ``bench/compare.py``: customers' comments, replies
and DMs, posted through the Meta stand-in's control API (``POST /_sandbox/posts``).

Each conversation of the shared scenario (``compare.make_scenario``: first posts, follow-ups
by the same customer) is given a channel: a comment on one of the brand's Facebook posts or
Instagram media, or a Messenger or Instagram DM. A follow-up is a reply under the customer's
comment, or another message in their DM thread. Every item's text ends with its own
reference (``ref M000042``), by which the bench finds it in the helpdesk.

How socialdesk threads them (sync/ingest/composer.py ``conversation_key``): one ticket per
customer per brand post on a network, one per DM thread (one thread per person and network).
A customer who opens two conversations on the same post or in DMs therefore has one ticket:
``expected`` counts tickets and requesters that way.
"""
from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

CHANNELS = (("facebook", False), ("instagram", False), ("facebook", True), ("instagram", True))
REF_RE = re.compile(r"\bref (M\d{6})\b")


@dataclasses.dataclass
class MetaItem:
    seq: int
    author: str
    root: int | None          # seq of the conversation's first item, for a follow-up
    network: str
    dm: bool
    on: int                   # index of the brand post or media commented on (comments only)
    item_id: str | None = None

    @property
    def ref(self) -> str:
        return f"M{self.seq:06d}"

    @property
    def channel(self) -> str:
        return f"{self.network} {'dm' if self.dm else 'comment'}"

    def ticket_key(self) -> tuple[str, ...]:
        """The ticket socialdesk files it under (brand post and author, or DM thread)."""
        if self.dm:
            return (self.network, "dm", self.author)
        return (self.network, "post", str(self.on), self.author)


@dataclasses.dataclass
class MetaScenario:
    items: list[MetaItem]
    brand_posts: int          # per network, besides the one the stand-in keeps after a reset

    def expected(self) -> dict[str, Any]:
        per_ticket = Counter(item.ticket_key() for item in self.items)
        requesters = {(item.network, item.author) for item in self.items}
        return {"items": len(self.items), "by_channel": dict(Counter(i.channel for i in self.items)),
                "tickets": len(per_ticket), "requesters": len(requesters),
                "followups_in_a_ticket": len(self.items) - len(per_ticket),
                "max_followups_per_ticket": max(per_ticket.values(), default=1) - 1,
                "brand_posts_per_network": self.brand_posts,
                "people": {net: len({a for n, a in requesters if n == net}) for net in ("facebook", "instagram")}}


def make_meta_scenario(events: Iterable[Any], dm_share: float, seed: int, per_post: int = 250) -> MetaScenario:
    """The shared scenario's ``events`` (seq, author, root) on Meta's channels: a conversation's
    first item picks DM or comment (``dm_share``) and a network at random, a follow-up keeps
    its conversation's channel and post."""
    rng = random.Random(seed)
    events = list(events)
    roots = sum(1 for e in events if e.root is None)
    posts = max(2, -(-roots // per_post))
    items: dict[int, MetaItem] = {}
    for event in events:
        if event.root is None:
            dm = rng.random() < dm_share
            network = rng.choice(("facebook", "instagram"))
            items[event.seq] = MetaItem(event.seq, event.author, None, network, dm, rng.randrange(posts))
        else:
            first = items[event.root]
            items[event.seq] = MetaItem(event.seq, event.author, event.root, first.network, first.dm, first.on)
    return MetaScenario(sorted(items.values(), key=lambda i: i.seq), posts)


class Poster:
    """Posts a scenario through the stand-in's control API, as the customers (and the brand's
    own posts first, as the brand does in its UI)."""

    def __init__(self, url: str, session: Callable[[], Any], brand: dict[str, str]) -> None:
        self.url = url.rstrip("/")
        self.session = session            # one requests.Session per thread
        self.brand = brand                # network -> the brand's handle there

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.session().post(f"{self.url}/_sandbox/posts", json=body, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"Meta stand-in refused {body.get('network')} post by {body.get('author')}: "
                               f"HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def post_all(self, scenario: MetaScenario, threads: int = 8) -> dict[str, list[str]]:
        brand_posts = {network: [str(self.control({"network": network, "author": handle, "on": "timeline",
                                                   "text": f"Our news, part {n + 1}. Questions welcome below.",
                                                   **({"media": [{"type": "image"}]} if network == "instagram"
                                                      else {})})["id"])
                                 for n in range(scenario.brand_posts)]
                       for network, handle in self.brand.items()}
        by_seq = {item.seq: item for item in scenario.items}

        def post(item: MetaItem) -> None:
            body: dict[str, Any] = {"network": item.network, "author": item.author,
                                    "text": f"{text_of(item)} (ref {item.ref})"}
            if item.dm:
                body["dm"] = True
            elif item.root is None:
                body["on"] = brand_posts[item.network][item.on]
            else:
                body["on"] = by_seq[item.root].item_id
            item.item_id = str(self.control(body)["id"])

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, [i for i in scenario.items if i.root is None]))
            list(pool.map(post, [i for i in scenario.items if i.root is not None]))
        return brand_posts


def text_of(item: MetaItem) -> str:
    if item.root is not None:
        return "Any news on this? Still waiting." if item.dm else "Any news on this one?"
    if item.dm:
        return f"Hi, my order #{item.seq} has not arrived, can you check?"
    return f"Where is my order #{item.seq}? It has not arrived."


def refs_in(text: str) -> set[str]:
    return set(REF_RE.findall(text or ""))
