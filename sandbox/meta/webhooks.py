"""Webhooks: the app's subscriptions, the Page's subscribed fields, and deliveries.

As Meta's Webhooks for Pages, Instagram and Messenger do it:
- ``POST /{app-id}/subscriptions`` verifies the callback first: a GET with ``hub.mode=
  subscribe``, ``hub.challenge`` and ``hub.verify_token``, which must answer 200 with the
  challenge as its body (else errors 2200/2201);
- a change reaches the callback only when the app subscribes to its object and field and
  (for Page fields) the Page has the app in ``subscribed_apps`` with that field; Instagram
  deliveries need the app installed on the Page the account is connected to;
- each POST carries ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body, keyed by
  the app secret>`` and the older ``X-Hub-Signature: sha1=...``; the body is JSON with
  non-ASCII characters and ``/`` escaped, as Meta sends it, so a receiver must verify the
  bytes it received;
- updates due together are batched (up to 1,000 entries per POST);
- a failed delivery (non-2xx, timeout, refused) is retried, at once and then less often,
  and dropped 36 hours after its first failure.

Knobs (``/_sandbox/webhooks``): ``duplicate`` (chance an update is delivered twice),
``drop`` (chance it is never sent), ``delay`` (each update waits up to that many sandbox
seconds, so updates arrive out of order), ``batch_window`` (wait this long to batch).
Deliveries run on one background thread, in sandbox time.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from sandbox.common import Clock
from sandbox.meta import errors
from sandbox.meta.constants import (
    INSTAGRAM_WEBHOOK_FIELDS,
    PAGE_WEBHOOK_FIELDS,
    WEBHOOK_BACKOFF,
    WEBHOOK_BATCH_MAX,
    WEBHOOK_GIVE_UP,
    WEBHOOK_TIMEOUT,
)

log = logging.getLogger(__name__)
OBJECT_FIELDS = {"page": PAGE_WEBHOOK_FIELDS, "instagram": INSTAGRAM_WEBHOOK_FIELDS}
PAGE_APP_FIELDS = PAGE_WEBHOOK_FIELDS + ("messaging_postbacks", "message_deliveries",
                                         "message_reads", "messaging_referrals")


@dataclass
class Pending:
    """One POST to make: updates for one callback and object."""

    id: int
    callback: str
    obj: str
    updates: list[dict[str, Any]]
    due: float
    attempts: int = 0
    first_failure: float | None = None
    body: bytes | None = None
    in_flight: bool = False
    alone: bool = False          # a duplicate is its own POST, never batched
    history: list[dict[str, Any]] = field(default_factory=list)


def encode(payload: dict[str, Any]) -> bytes:
    """JSON as Meta's deliveries are written: ASCII only (``\\uXXXX``), ``/`` as ``\\/``."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace(
        "/", "\\/").encode("ascii")


def signatures(secret: str, body: bytes) -> dict[str, str]:
    key = secret.encode()
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
            "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()}


class Webhooks:
    def __init__(self, clock: Clock, app_secret: str, seed: int = 0) -> None:
        self._clock = clock
        self._secret = app_secret
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._seed = seed
        # The callback is reached directly: no proxy from the environment.
        self._http = requests.Session()
        self._http.trust_env = False
        self.reset()

    def reset(self) -> None:
        with self._cond:
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.page_fields: list[str] | None = None
            self.queue: list[Pending] = []
            self.delivered: list[dict[str, Any]] = []
            self.dropped: list[dict[str, Any]] = []
            self.failures = 0
            self.skipped = 0
            self.rng = random.Random(self._seed)
            self.knobs: dict[str, Any] = {"duplicate": 0.0, "drop": 0.0, "delay": 0.0,
                                          "batch_window": 0.0, "verify_tls": True}
            self._cond.notify_all()

    # -- subscriptions (Graph API side) --------------------------------------------------

    def subscribe(self, obj: str, callback: str, fields: list[str], verify_token: str,
                  include_values: bool = True) -> None:
        """Verify ``callback`` as Meta does, then record the subscription (fields add up)."""
        if obj not in OBJECT_FIELDS:
            raise errors.invalid_param(f"Param object must be one of {{{', '.join(OBJECT_FIELDS)}"
                                       f"}} - got \"{obj}\"")
        if not callback.startswith(("https://", "http://")):
            raise errors.invalid_param("Param callback_url must be a valid URL")
        unknown = [f for f in fields if f not in OBJECT_FIELDS[obj]]
        if not fields or unknown:
            raise errors.invalid_param(f"Param fields must be a list of fields of object {obj} "
                                       f"- got \"{','.join(unknown) or ''}\"")
        challenge = str(secrets.randbelow(2**31 - 1) + 1)
        try:
            answer = self._http.get(callback, params={"hub.mode": "subscribe",
                                                    "hub.challenge": challenge,
                                                    "hub.verify_token": verify_token},
                                  timeout=WEBHOOK_TIMEOUT, verify=self.knobs["verify_tls"],
                                  headers={"User-Agent": "facebookplatform/1.0"})
        except requests.RequestException as failure:
            raise errors.GraphError(f"(#2200) callback verification failed: {type(failure).__name__}",
                                    2200) from None
        if answer.status_code != 200:
            raise errors.GraphError(
                f"(#2200) callback verification failed: HTTP Status Code = {answer.status_code};"
                f" HTTP Message = {answer.reason}", 2200)
        if answer.text.strip() != challenge:
            raise errors.GraphError(
                f"(#2201) response does not match challenge, expected value=\"{challenge}\", "
                f"received=\"{answer.text[:100]}\"", 2201)
        with self._cond:
            known = self.subscriptions.get(obj)
            merged = sorted(set(fields) | (set(known["fields"]) if known and
                                           known["callback_url"] == callback else set()))
            self.subscriptions[obj] = {"object": obj, "callback_url": callback,
                                       "fields": merged, "active": True,
                                       "include_values": include_values}

    def unsubscribe(self, obj: str | None, fields: list[str]) -> None:
        with self._cond:
            for name in [obj] if obj else list(self.subscriptions):
                known = self.subscriptions.get(name or "")
                if known is None:
                    continue
                if fields:
                    known["fields"] = [f for f in known["fields"] if f not in fields]
                if not fields or not known["fields"]:
                    del self.subscriptions[name or ""]

    def listing(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"object": s["object"], "callback_url": s["callback_url"],
                     "active": s["active"],
                     "fields": [{"name": f, "version": "v25.0"} for f in s["fields"]]}
                    for s in self.subscriptions.values()]

    def set_page_fields(self, fields: list[str] | None) -> None:
        if fields is not None:
            unknown = [f for f in fields if f not in PAGE_APP_FIELDS]
            if unknown or not fields:
                raise errors.invalid_param(
                    f"Param subscribed_fields[0] must be one of {{{', '.join(PAGE_APP_FIELDS)}}}"
                    f" - got \"{(unknown or [''])[0]}\"")
        with self._cond:
            if fields is None:
                self.page_fields = None
            else:
                self.page_fields = sorted(set(fields) | set(self.page_fields or ()))

    # -- deliveries -----------------------------------------------------------------------

    def emit(self, obj: str, entry_id: str, field_name: str, *,
             change: dict[str, Any] | None = None,
             messaging: dict[str, Any] | None = None) -> None:
        """Queue one update for the subscriber of ``obj``/``field_name`` (if any)."""
        now = self._clock.now()
        with self._cond:
            sub = self.subscriptions.get(obj)
            installed = self.page_fields is not None
            wanted = sub is not None and field_name in sub["fields"] and installed and (
                obj != "page" or field_name in (self.page_fields or ()))
            if not wanted or sub is None:
                self.skipped += 1
                return
            if messaging is not None:
                entry = {"time": int(now * 1000), "id": entry_id, "messaging": [messaging]}
            else:
                value = change if sub["include_values"] else None
                entry = {"id": entry_id, "time": int(now),
                         "changes": [{"field": field_name, "value": value}
                                     if value is not None else {"field": field_name}]}
            update = {"field": field_name, "entry": entry}
            copies = 2 if self.rng.random() < self.knobs["duplicate"] else 1
            if self.rng.random() < self.knobs["drop"]:
                self.dropped.append({"reason": "drop", "object": obj, "entries": [entry],
                                     "at": now})
                return
            for copy in range(copies):
                delay = self.rng.uniform(0, self.knobs["delay"]) if self.knobs["delay"] else 0.0
                self.queue.append(Pending(id=next(self._ids), callback=sub["callback_url"],
                                          obj=obj, updates=[update],
                                          due=now + delay + self.knobs["batch_window"],
                                          alone=copy > 0))
            self._start()
            self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-meta-webhooks",
                                            daemon=True)
            self._thread.start()

    def _take_due(self) -> list[Pending]:
        """The POSTs to make now: due retries as they are; due first attempts batched per
        callback and object (up to 1,000 entries)."""
        now = self._clock.now()
        due = [p for p in self.queue if not p.in_flight and p.due <= now]
        batches: list[Pending] = []
        fresh: dict[tuple[str, str], Pending] = {}
        for item in sorted(due, key=lambda p: (p.due, p.id)):
            if item.first_failure is not None and now >= item.first_failure + WEBHOOK_GIVE_UP:
                self.queue.remove(item)
                self.dropped.append({"reason": "gave_up", "object": item.obj,
                                     "attempts": item.attempts,
                                     "entries": [u["entry"] for u in item.updates],
                                     "at": now, "history": item.history})
                continue
            key = (item.callback, item.obj)
            head = fresh.get(key)
            if (item.attempts == 0 and head is not None and not item.alone
                    and len(head.updates) + len(item.updates) <= WEBHOOK_BATCH_MAX):
                head.updates.extend(item.updates)
                self.queue.remove(item)
                continue
            if item.attempts == 0 and not item.alone:
                fresh[key] = item
            batches.append(item)
        for item in batches:
            item.in_flight = True
        return batches

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._take_due()
                if not batch:
                    self._cond.wait(0.02)
                    continue
            for item in batch:
                self._deliver(item)

    def _deliver(self, item: Pending) -> None:
        if item.body is None:
            item.body = encode({"object": item.obj,
                                "entry": [u["entry"] for u in item.updates]})
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua",
                   **signatures(self._secret, item.body)}
        status, problem = 0, ""
        started = time.monotonic()
        try:
            answer = self._http.post(item.callback, data=item.body, headers=headers,
                                   timeout=WEBHOOK_TIMEOUT, verify=self.knobs["verify_tls"])
            status = answer.status_code
        except requests.RequestException as failure:
            problem = type(failure).__name__
        now = self._clock.now()
        record = {"id": item.id, "object": item.obj, "status": status, "error": problem,
                  "attempt": item.attempts + 1, "at": now, "entries": len(item.updates),
                  "wall_ms": int((time.monotonic() - started) * 1000)}
        with self._cond:
            item.in_flight = False
            item.history.append(record)
            if 200 <= status < 300:
                self.queue.remove(item)
                self.delivered.append({**record, "body": json.loads(item.body)})
                del self.delivered[:-1000]
            else:
                self.failures += 1
                item.attempts += 1
                if item.first_failure is None:
                    item.first_failure = now
                wait = WEBHOOK_BACKOFF[min(item.attempts, len(WEBHOOK_BACKOFF) - 1)]
                item.due = min(now + wait, item.first_failure + WEBHOOK_GIVE_UP)
            self._cond.notify_all()

    # -- status for tests ------------------------------------------------------------------

    def idle(self) -> bool:
        now = self._clock.now()
        return not any(p.in_flight or p.due <= now for p in self.queue)

    def wait_idle(self, seconds: float) -> bool:
        """Block (wall seconds) until nothing is due or in flight; whether that happened."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self.idle():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.02))
            return True

    def control(self, spec: dict[str, Any]) -> None:
        with self._cond:
            for key in ("duplicate", "drop"):
                if key in spec:
                    value = float(spec[key])
                    if not 0.0 <= value <= 1.0:
                        raise ValueError(f"{key} is a chance between 0 and 1")
                    self.knobs[key] = value
            for key in ("delay", "batch_window"):
                if key in spec:
                    value = float(spec[key])
                    if not 0.0 <= value <= 86400:
                        raise ValueError(f"{key} is a number of seconds from 0 to 86400")
                    self.knobs[key] = value
            if "verify_tls" in spec:
                # True (the system's CAs), False, or the path of a CA bundle to trust.
                value = spec["verify_tls"]
                self.knobs["verify_tls"] = value if isinstance(value, str) else bool(value)
            if "seed" in spec:
                self.rng = random.Random(int(spec["seed"]))

    def json(self, deliveries: int = 50) -> dict[str, Any]:
        now = self._clock.now()
        with self._cond:
            return {"knobs": dict(self.knobs), "subscriptions": self.listing_locked(),
                    "page_subscribed_fields": self.page_fields,
                    "pending": sum(len(p.updates) for p in self.queue),
                    "due": sum(1 for p in self.queue if p.due <= now and not p.in_flight),
                    "in_flight": sum(1 for p in self.queue if p.in_flight),
                    "retrying": sum(1 for p in self.queue if p.attempts),
                    "failed_attempts": self.failures, "skipped": self.skipped,
                    "delivered": len(self.delivered),
                    "deliveries": self.delivered[-deliveries:] if deliveries else [],
                    "dropped": list(self.dropped)}

    def listing_locked(self) -> list[dict[str, Any]]:
        return [{"object": s["object"], "callback_url": s["callback_url"],
                 "fields": list(s["fields"])} for s in self.subscriptions.values()]
