#!/usr/bin/env python
"""THE BASELINE: a naive X -> Zendesk sync, the yardstick ``bench/compare.py`` holds socialdesk to.

This is NOT socialdesk and not product code. It is what a quick in-house script does,
written on purpose without any of socialdesk's machinery (it imports nothing from
``sync/`` or ``adapters/``; plain ``requests`` only):

* read: X API v2 ``GET /2/users/:id/mentions`` (``max_results=100``, ``since_id`` from the
  last read, ``pagination_token`` to the end), oldest first;
* for every mention, one after the other, no batching:
    1. one author lookup  ``GET /api/v2/users/search?external_id=x:<author id>``
    2. the author created when missing  ``POST /api/v2/users``
    3. one ticket per mention  ``POST /api/v2/tickets`` (no conversation threading: a
       follow-up in the same conversation opens another ticket; no idempotency key);
* on HTTP 429 it sleeps ``Retry-After`` seconds and tries the same call again (and
  counts the 429); a 5xx is retried a few times; anything else is counted as a failure
  and the mention is skipped;
* it does not mirror agent replies back to X.

``sleep`` is injectable: ``bench/compare.py`` passes a function that moves the sandbox's
clock forward instead of sleeping, so a run under a per-minute limit is time-compressed.

Standalone (against a running ``socialdesk sandbox --json > info.json``)::

    python bench/naive_sync.py --info info.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import requests

LABEL = "BASELINE (naive sync: one lookup + one ticket per mention, no batching, no threading)"
TIMEOUT = 30.0
MAX_5XX_RETRIES = 3


@dataclass
class BaselineStats:
    """What the baseline did, counted on its own side of the wire."""

    mentions_read: int = 0
    tickets_created: int = 0
    users_created: int = 0
    failures: int = 0
    zendesk_requests: int = 0
    x_requests: int = 0
    throttled_429: int = 0
    slept_seconds: float = 0.0
    by_endpoint: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"label": LABEL, "mentions_read": self.mentions_read, "tickets_created": self.tickets_created,
                "users_created": self.users_created, "failures": self.failures,
                "zendesk_requests": self.zendesk_requests, "x_requests": self.x_requests,
                "throttled_429": self.throttled_429, "slept_seconds": round(self.slept_seconds, 1),
                "by_endpoint": dict(self.by_endpoint.most_common()), "errors": self.errors[:10]}


def _endpoint(method: str, path: str) -> str:
    return f"{method} " + re.sub(r"/\d+(?=/|$)", "/{id}", path.split("?")[0])


class NaiveSync:
    """THE BASELINE sync (see the module docstring). One instance, one thread."""

    def __init__(self, *, x_url: str, x_token: str, zendesk_url: str, zendesk_oauth_token: str,
                 ca_bundle: str | bool | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.x_url = x_url.rstrip("/")
        self.zd_url = zendesk_url.rstrip("/")
        self.sleep = sleep
        self.stats = BaselineStats()
        self.since_id: str | None = None
        self.brand_id: str | None = None
        self.x = requests.Session()
        self.x.headers["Authorization"] = f"Bearer {x_token}"
        self.zd = requests.Session()
        self.zd.headers["Authorization"] = f"Bearer {zendesk_oauth_token}"
        for session in (self.x, self.zd):
            session.trust_env = False
            if ca_bundle is not None:
                session.verify = ca_bundle

    def close(self) -> None:
        self.x.close()
        self.zd.close()

    # ------------------------------------------------------------------ wire

    def _call(self, session: requests.Session, base: str, method: str, path: str, *,
              params: dict[str, Any] | None = None, body: Any = None, service: str) -> requests.Response:
        """One logical call: sleeps Retry-After on 429 and retries 5xx a few times."""
        server_errors = 0
        while True:
            response = session.request(method, base + path, params=params, json=body, timeout=TIMEOUT)
            if service == "zendesk":
                self.stats.zendesk_requests += 1
                self.stats.by_endpoint[_endpoint(method, path)] += 1
            else:
                self.stats.x_requests += 1
            if response.status_code == 429:
                self.stats.throttled_429 += 1
                wait = _retry_after(response)
                self.stats.slept_seconds += wait
                self.sleep(wait)
                continue
            if response.status_code >= 500 and server_errors < MAX_5XX_RETRIES:
                server_errors += 1
                self.sleep(1.0)
                self.stats.slept_seconds += 1.0
                continue
            return response

    def _zendesk(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(self.zd, self.zd_url, method, path, service="zendesk", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def _x(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._call(self.x, self.x_url, "GET", path, params=params, service="x")
        response.raise_for_status()
        return response.json()

    # ------------------------------------------------------------------ read (X)

    def brand(self) -> str:
        if self.brand_id is None:
            self.brand_id = str(self._x("/2/users/me")["data"]["id"])
        return self.brand_id

    def read_mentions(self) -> list[dict[str, Any]]:
        """Every mention newer than the last read, oldest first (mentions timeline, paginated)."""
        params: dict[str, Any] = {"max_results": 100, "expansions": "author_id",
                                  "tweet.fields": "author_id,conversation_id,created_at",
                                  "user.fields": "username,name"}
        if self.since_id:
            params["since_id"] = self.since_id
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            if token:
                params["pagination_token"] = token
            body = self._x(f"/2/users/{self.brand()}/mentions", params)
            users = {u["id"]: u for u in (body.get("includes") or {}).get("users", [])}
            for tweet in body.get("data") or []:
                user = users.get(tweet["author_id"], {})
                found.append({"id": str(tweet["id"]), "text": tweet["text"], "author_id": str(tweet["author_id"]),
                              "username": user.get("username", tweet["author_id"]),
                              "name": user.get("name"), "conversation_id": tweet.get("conversation_id"),
                              "created_at": tweet.get("created_at")})
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        found.sort(key=lambda m: int(m["id"]))
        if found:
            self.since_id = found[-1]["id"]
        self.stats.mentions_read += len(found)
        return found

    # ------------------------------------------------------------------ write (Zendesk)

    def requester(self, mention: dict[str, Any]) -> int:
        """One lookup per mention; the user is created when the lookup finds nobody."""
        external_id = f"x:{mention['author_id']}"
        users = self._zendesk("GET", "/api/v2/users/search", params={"external_id": external_id})["users"]
        if users:
            return int(users[0]["id"])
        user = {"name": mention.get("name") or f"@{mention['username']}", "role": "end-user",
                "external_id": external_id}
        created = self._zendesk("POST", "/api/v2/users", body={"user": user})["user"]
        self.stats.users_created += 1
        return int(created["id"])

    def write(self, mention: dict[str, Any]) -> int:
        """One ticket for one mention; returns the ticket id."""
        user_id = self.requester(mention)
        url = f"https://x.com/{mention['username']}/status/{mention['id']}"
        ticket = {"subject": f"X mention from @{mention['username']}",
                  "comment": {"body": f"{mention['text']}\n\n{url}", "public": True, "author_id": user_id},
                  "requester_id": user_id, "external_id": f"x:post:{mention['id']}",
                  "tags": ["social", "naive_baseline"]}
        created = self._zendesk("POST", "/api/v2/tickets", body={"ticket": ticket})["ticket"]
        self.stats.tickets_created += 1
        return int(created["id"])

    def write_all(self, mentions: Iterable[dict[str, Any]],
                  progress: Callable[[int], None] | None = None) -> int:
        """Write mentions one by one; a mention that fails is counted and skipped."""
        done = 0
        for index, mention in enumerate(mentions, 1):
            try:
                self.write(mention)
                done += 1
            except requests.RequestException as err:
                self.stats.failures += 1
                self.stats.errors.append(f"{mention['id']}: {type(err).__name__}: {err}"[:300])
            if progress is not None:
                progress(index)
        return done

    def run_once(self) -> int:
        """Read what is new on X and write it all: the whole baseline loop, once."""
        return self.write_all(self.read_mentions())


def _retry_after(response: requests.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "60")))
    except ValueError:
        return 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="THE BASELINE naive X -> Zendesk sync (one pass)")
    parser.add_argument("--info", required=True,
                        help="sandbox info JSON file (as printed by `socialdesk sandbox --json`)")
    args = parser.parse_args(argv)
    with open(args.info, encoding="utf-8") as handle:
        info = json.load(handle)
    x, zd = info["services"]["x"], info["services"]["zendesk"]
    sync = NaiveSync(x_url=x["url"], x_token=x["token"], zendesk_url=zd["url"],
                     zendesk_oauth_token=zd["api_oauth_token"], ca_bundle=info.get("ca_bundle"))
    try:
        written = sync.run_once()
    finally:
        sync.close()
    print(f"{LABEL}: {written} ticket(s) written")
    print(json.dumps(sync.stats.as_dict(), indent=2))
    return 0 if not sync.stats.failures else 1


if __name__ == "__main__":
    sys.exit(main())
