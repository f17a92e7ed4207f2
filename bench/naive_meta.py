#!/usr/bin/env python
"""THE BASELINE for Facebook and Instagram: the naive sync of bench/naive_sync.py, reading
Meta's Graph API instead of X. ``bench/compare.py`` holds socialdesk's Meta figures to it.

Not socialdesk and not product code: plain ``requests`` through ``NaiveSync``'s wire, none
of ``sync/`` or ``adapters/``. It does what a quick script does with a Page token:

* read, every object in turn, each edge paged to its end (``limit=100``, ``after`` cursor):
    - Facebook comments: ``GET /{page-id}/feed``, then for each post
      ``GET /{post-id}/comments?filter=stream`` (top-level comments and replies in one list);
    - Instagram comments: ``GET /{ig-user-id}/media``, then for each media
      ``GET /{media-id}/comments`` with the ``replies{...}`` field (a reply list that pages
      on is read from ``GET /{comment-id}/replies``);
    - DMs: ``GET /{page-id}/conversations?platform=messenger|instagram``, then for each
      conversation ``GET /{conversation-id}/messages``;
  no webhooks (they need a listener), no batch requests, the brand's own posts, comments
  and messages left out;
* write each item exactly as the X baseline does: one requester lookup by external id,
  the requester created when missing, one ticket per item (no threading: a reply or a
  second message opens another ticket), a 429 slept ``Retry-After`` and retried.
"""
from __future__ import annotations

from typing import Any, Iterator

from naive_sync import NaiveSync

LABEL = ("BASELINE (naive sync over Meta's Graph API: edges read object by object, one lookup + one ticket "
         "per comment or message, no batching, no threading)")
PAGE = 100
FB_COMMENT = "id,message,created_time,from{id,name}"
IG_COMMENT = "id,text,timestamp,username,from{id,username}"
MESSAGE = "id,message,created_time,from"


class NaiveMeta(NaiveSync):
    """THE BASELINE against the Meta stand-in: ``NaiveSync``'s wire and Zendesk writes; its
    "X" session talks to the Graph API with the Page token (Bearer, as Graph accepts)."""

    def __init__(self, *, graph_url: str, page_token: str, page_id: str, ig_user_id: str, zendesk_url: str,
                 zendesk_oauth_token: str, ca_bundle: str | bool | None = None, **kwargs: Any) -> None:
        super().__init__(x_url=graph_url, x_token=page_token, zendesk_url=zendesk_url,
                         zendesk_oauth_token=zendesk_oauth_token, ca_bundle=ca_bundle, **kwargs)
        self.page_id, self.ig_user_id = str(page_id), str(ig_user_id)

    # ------------------------------------------------------------------ read (Graph API)

    def edge(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every object of a paged edge, page after page through ``paging.cursors.after``."""
        query: dict[str, Any] = {"limit": PAGE, **params}
        while True:
            body = self._x(f"/{path}", query)
            yield from (row for row in body.get("data") or [] if isinstance(row, dict))
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = after

    def read_meta(self) -> list[dict[str, Any]]:
        """Every customer comment and message the Page and its Instagram account hold, oldest first."""
        own = {self.page_id, self.ig_user_id}
        found: list[dict[str, Any]] = []
        for post in self.edge(f"{self.page_id}/feed", fields="id"):
            for row in self.edge(f"{post['id']}/comments", filter="stream", fields=FB_COMMENT):
                who = row.get("from") or {}
                if str(who.get("id")) not in own:
                    found.append(item("facebook", "comment", row["id"], row.get("message"), who.get("id"),
                                      who.get("name"), None, row.get("created_time")))
        for media in self.edge(f"{self.ig_user_id}/media", fields="id"):
            fields = f"{IG_COMMENT},replies.limit({PAGE}){{{IG_COMMENT}}}"
            for row in self.edge(f"{media['id']}/comments", fields=fields):
                replies = row.get("replies") or {}
                rows = [row, *(r for r in replies.get("data") or [] if isinstance(r, dict))]
                if (replies.get("paging") or {}).get("next"):
                    rows = [row, *self.edge(f"{row['id']}/replies", fields=IG_COMMENT)]
                for one in rows:
                    who = one.get("from") or {}
                    if str(who.get("id")) not in own:
                        username = one.get("username") or who.get("username")
                        found.append(item("instagram", "comment", one["id"], one.get("text"), who.get("id"),
                                          None, username, one.get("timestamp")))
        for network, platform in (("facebook", "messenger"), ("instagram", "instagram")):
            for thread in self.edge(f"{self.page_id}/conversations", platform=platform, fields="id"):
                for row in self.edge(f"{thread['id']}/messages", fields=MESSAGE):
                    who = row.get("from") or {}
                    if str(who.get("id")) not in own:
                        found.append(item(network, "dm", row["id"], row.get("message"), who.get("id"),
                                          who.get("name"), who.get("username"), row.get("created_time")))
        found.sort(key=lambda m: (m["created_at"] or "", m["id"]))
        self.stats.mentions_read += len(found)
        return found

    # ------------------------------------------------------------------ write (Zendesk)

    def requester(self, mention: dict[str, Any]) -> int:
        external_id = f"{mention['network']}:{mention['author_id']}"
        users = self._zendesk("GET", "/api/v2/users/search", params={"external_id": external_id})["users"]
        if users:
            return int(users[0]["id"])
        user = {"name": mention.get("name") or mention["username"], "role": "end-user", "external_id": external_id}
        created = self._zendesk("POST", "/api/v2/users", body={"user": user})["user"]
        self.stats.users_created += 1
        return int(created["id"])

    def write(self, mention: dict[str, Any]) -> int:
        user_id = self.requester(mention)
        network, kind = mention["network"], mention["kind"]
        ticket = {"subject": f"{network.capitalize()} {kind} from {mention['username']}",
                  "comment": {"body": mention["text"], "public": True, "author_id": user_id},
                  "requester_id": user_id, "external_id": f"{network}:{kind}:{mention['id']}",
                  "tags": ["social", network, "naive_baseline"]}
        created = self._zendesk("POST", "/api/v2/tickets", body={"ticket": ticket})["ticket"]
        self.stats.tickets_created += 1
        return int(created["id"])


def item(network: str, kind: str, item_id: Any, text: Any, author_id: Any, name: Any, username: Any,
         created_at: Any) -> dict[str, Any]:
    """One comment or message as the baseline writes it."""
    return {"network": network, "kind": kind, "id": str(item_id), "text": str(text or ""),
            "author_id": str(author_id), "name": name, "username": str(username or name or author_id),
            "created_at": created_at}
