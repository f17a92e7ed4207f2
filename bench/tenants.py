"""Many tenants on one sandbox: the hosted, multi-tenant case of ``bench/replicas.py``.

Each tenant is a route with an X entry and a Zendesk entry of its own in the mapping
(own credentials, own rate budgets, own failures) and, when the sandbox serves as many
Zendesk accounts as there are tenants (``socialdesk sandbox --zendesk-accounts N``), a
Zendesk account of its own: its own tickets, export, tokens and rate windows. With fewer
accounts, tenants share them in turn and are kept apart by a group each. X is one host
for every account, and the sandbox has one brand account on it: a tenant's route reads
X's recent search for its own hashtag (``#tenant017``), which only its customers write,
instead of an account's mentions timeline.
"""
from __future__ import annotations

import random
import threading
from secrets import token_urlsafe
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sandbox.scenario import Conversation, People

STATE_ENV = "SOCIALDESK_BENCH_STATE"
POLL = "{search: 15s, replies: 5s}"    # X's fastest read; the agents' answers often
WEBHOOK_SECRET_ENV = "SOCIALDESK_WEBHOOK_SECRET"
FOLLOW_UP_SHARE = 0.3                   # posts that continue the customer's own thread


def tenant(index: int) -> str:
    return f"t{index + 1:03d}"


def hashtag(index: int) -> str:
    return f"#tenant{index + 1:03d}"


def group(index: int) -> str:
    return f"Tenant {index + 1:03d}"


def zendesk_accounts(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The Zendesk accounts the sandbox serves (one unless started with more)."""
    return info.get("accounts", {}).get("zendesk") or [info["services"]["zendesk"]]


def account_of(info: dict[str, Any], index: int) -> dict[str, Any]:
    """Tenant ``index``'s Zendesk account."""
    accounts = zendesk_accounts(info)
    return accounts[index % len(accounts)]


def secret_env(index: int) -> str:
    return f"SOCIALDESK_ZENDESK_SECRET_{tenant(index).upper()}"


def write_mapping(path: Path, info: dict[str, Any], routes: int,
                  webhook: tuple[int, str] | None = None) -> dict[str, str]:
    """The mapping of ``routes`` tenants at ``path``; the secrets its entries name, by
    environment variable (the state URL too: ``STATE_ENV``). ``webhook``: the port this
    daemon's receiver listens on and the public URL the helpdesks' webhooks call (one for
    every replica, in front of them all), its signing secret in ``WEBHOOK_SECRET_ENV``."""
    x, ca = info["services"]["x"], info["ca_bundle"]
    helpdesks, networks, routes_yaml = [], [], []
    secrets = {"SOCIALDESK_X_TOKEN": x["token"]}
    for i in range(routes):
        name, zd = tenant(i), account_of(info, i)
        secrets[secret_env(i)] = zd["oauth_client_secret"]
        helpdesks.append(f"  zd_{name}:\n    kind: zendesk\n    url: {zd['url']}\n    auth: client_credentials\n"
                         f"    client_id: {zd['oauth_client_id']}\n"
                         f"    client_secret: {{env: {secret_env(i)}}}\n    ca_bundle: {ca}\n")
        networks.append(f"  x_{name}:\n    kind: x\n    base_url: {x['url']}\n    auth: bearer\n"
                        f"    token: {{env: SOCIALDESK_X_TOKEN}}\n    ca_bundle: {ca}\n")
        routes_yaml.append(f"  - name: {name}\n    network: x_{name}\n    helpdesk: zd_{name}\n"
                           f"    streams: [search]\n    search_query: \"{hashtag(i)}\"\n    poll: {POLL}\n"
                           f"    ticket: {{group: {group(i)}, priority: normal}}\n"
                           f"    viral: {{enabled: false}}\n")
    receiver = ""
    if webhook is not None:
        port, public_url = webhook
        receiver = (f"webhook:\n  listen: 127.0.0.1:{port}\n  public_url: {public_url}\n"
                    f"  secret: {{env: {WEBHOOK_SECRET_ENV}}}\n")
        secrets[WEBHOOK_SECRET_ENV] = token_urlsafe(24)   # every tenant's webhook signs with it
    path.write_text(f"version: 1\nstate: {{env: {STATE_ENV}}}\nhelpdesks:\n{''.join(helpdesks)}"
                    f"networks:\n{''.join(networks)}routes:\n{''.join(routes_yaml)}{receiver}")
    return secrets


def create_groups(info: dict[str, Any], routes: int) -> None:
    """Each tenant's group in its account, made as the Zendesk admin (a reset account has none)."""
    with requests.Session() as http:
        http.verify, http.trust_env = info["ca_bundle"], False
        for i in range(routes):
            zd = account_of(info, i)
            answer = http.post(f"{zd['url']}/api/v2/groups", json={"group": {"name": group(i)}},
                               headers={"Authorization": f"Bearer {zd['api_oauth_token']}"})
            answer.raise_for_status()


class Desks(People):
    """Customers on X and agents in every Zendesk account the sandbox serves, as one crowd
    and one audit see them: a ticket's id is qualified by its account (``"3/17"``)."""

    def __init__(self, info: dict[str, Any], *, ui: bool = False) -> None:
        super().__init__(info, ui=ui)
        self.desks = [People({**info, "services": {**info["services"], "zendesk": zd}}, ui=ui)
                      for zd in zendesk_accounts(info)]
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="desks")

    def ticket_index(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k, tickets in enumerate(self.pool.map(People.ticket_index, self.desks)):
            out += [{**t, "id": f"{k}/{t['id']}"} for t in tickets]
        return out

    def conversations(self) -> list[Conversation]:
        return [c for found in self.pool.map(People.conversations, self.desks) for c in found]

    def answer(self, ticket_id: Any, body: str, **how: Any) -> None:
        account, _, number = str(ticket_id).partition("/")
        self.desks[int(account)].answer(int(number), body, **how)

    def close(self) -> None:
        self.pool.shutdown()


@dataclass(frozen=True)
class Post:
    seq: int
    tenant: int
    customer: str
    follow_up: bool


def make_posts(routes: int, mentions: int, seed: int) -> list[list[Post]]:
    """Per tenant, its customers' posts in order: ``mentions`` spread evenly over ``routes``,
    each customer opening a conversation and some continuing it."""
    rng = random.Random(seed)
    plan: list[list[Post]] = []
    seq = 0
    for i in range(routes):
        count = mentions // routes + (1 if i < mentions % routes else 0)
        customers = [f"{tenant(i)}_c{k:04d}" for k in range(max(1, count // 3))]
        opened: set[str] = set()
        posts = []
        for _ in range(count):
            seq += 1
            who = rng.choice(customers)
            posts.append(Post(seq, i, who, who in opened and rng.random() < FOLLOW_UP_SHARE))
            opened.add(who)
        plan.append(posts)
    return plan


@dataclass
class Backlog:
    """What the customers posted: post ids by sequence number, and who they are."""

    posts: dict[int, str] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)


def post_backlog(info: dict[str, Any], plan: list[list[Post]], workers: int = 6) -> Backlog:
    """Every tenant's posts on X (tenants side by side, each one's in order)."""
    x = info["services"]["x"]
    backlog = Backlog()
    lock = threading.Lock()
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.http.verify, local.http.trust_env = info["ca_bundle"], False
        return local.http

    def post_all(posts: list[Post]) -> None:
        last: dict[str, str] = {}
        for post in posts:
            tag = f"{hashtag(post.tenant)} ref {post.seq:06d}"
            body: dict[str, Any] = {"author": post.customer}
            if post.follow_up:
                body.update(text=f"{tag} still waiting, any news?", in_reply_to=last[post.customer])
            else:
                body.update(text=f"@{x['brand_handle']} {tag} my order has not arrived")
            answer = session().post(f"{x['url']}/_sandbox/posts", json=body)
            answer.raise_for_status()
            post_id = str(answer.json()["id"])
            last[post.customer] = post_id
            with lock:
                backlog.posts[post.seq] = post_id
                backlog.customers.add(post.customer)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(post_all, plan))
    return backlog
