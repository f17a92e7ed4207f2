"""Zendesk webhooks: setting up the webhook and trigger that call socialdesk when an agent
answers, and checking each delivery (signature, age, replay) and what it names.

A webhook is only a hint: the daemon re-reads the ticket's comments through the API,
so a forged or replayed body could at worst cause one extra read, and it is rejected
before even that.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from adapters.base import REPLAYED, FatalError, Secret

# How old a delivery's timestamp may be (either way) before it is refused.
MAX_AGE = 300.0
SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_zendesk(secret: str, signature: str | None, timestamp: str | None, body: bytes,
                   now: float, first_time: Callable[[str], bool]) -> str | None:
    """None when the delivery is genuine and fresh, else the reason it is refused."""
    if not signature or not timestamp:
        return "missing signature headers"
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        return "bad signature"
    try:
        stamp = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "unreadable timestamp"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    sent = stamp.timestamp()
    if abs(now - sent) > MAX_AGE:
        return "stale timestamp"
    if not first_time(signature):
        return REPLAYED
    return None


def _is_json(content_type: str | None) -> bool:
    """What Flask calls ``is_json``: application/json or application/*+json."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def read_hint(content_type: str | None, body: bytes) -> str | None:
    """The ticket id a delivery names, None when it is the customer's own words (socialdesk
    wrote them: nothing to mirror); ValueError when it is not the trigger's JSON."""
    try:
        payload = json.loads(body) if _is_json(content_type) else None
    except (ValueError, RecursionError):
        payload = None
    ticket_id = str(payload.get("ticket_id", "")) if isinstance(payload, dict) else ""
    if not isinstance(payload, dict) or not re.fullmatch(r"[0-9]+", ticket_id):
        raise ValueError("body must be a JSON object with a numeric ticket_id")
    author, requester = (str(payload.get(k) or "") for k in ("author_id", "requester_id"))
    if author and author == requester:
        # The customer's own words (socialdesk wrote their follow-up): nothing to mirror.
        return None
    return ticket_id


class ZendeskWebhooks:
    """``ReceivesWebhooks`` for ``ZendeskHelpdesk``: the webhook and trigger it sets up,
    and the checks of what they deliver (no API call: usable before the adapter connects)."""

    _api: Callable[..., Any]
    _list_all: Callable[[str, str, str], list[dict[str, Any]]]

    @staticmethod
    def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str, now: float,
                       first_time: Callable[[str], bool]) -> str | None:
        return verify_zendesk(secret, headers.get(SIGNATURE), headers.get(TIMESTAMP), body, now, first_time)

    @staticmethod
    def read_webhook(headers: Mapping[str, str], body: bytes) -> str | None:
        return read_hint(headers.get("Content-Type"), body)

    def setup_push(self, name: str, endpoint: str, tag: str,
                   secret: Secret | None = None) -> tuple[str, Secret, list[str]]:
        """Make sure a webhook to ``endpoint`` and the trigger calling it exist (idempotent).

        The trigger fires on public comments by agents on tickets tagged ``tag``. Returns
        the webhook id, its signing secret and what was created (empty when all existed).
        With ``secret`` (the mapping's ``webhook.secret``) a new webhook is made with it
        as its signing secret; a webhook that signs with another is refused (FatalError:
        Zendesk's API sets the secret only on create, and deliveries would all be refused).
        """
        created: list[str] = []
        hooks = self._list_all("webhooks", "webhooks", "list webhooks")
        hook = next((h for h in hooks if h.get("name") == name), None)
        if hook is None:
            spec: dict[str, Any] = {
                "name": name, "endpoint": endpoint, "http_method": "POST", "request_format": "json",
                "status": "active", "subscriptions": ["conditional_ticket_events"]}
            if secret is not None:
                spec["signing_secret"] = {"secret": secret.reveal(), "algorithm": "sha256"}
            hook = self._api("POST", "webhooks", "create webhook", {"webhook": spec})["webhook"]
            created.append(f"webhook {name!r}")
        elif hook.get("endpoint") != endpoint:
            self._api("PUT", f"webhooks/{hook['id']}", "update webhook",
                      {"webhook": {**{k: hook[k] for k in ("name", "http_method", "request_format",
                                                           "status", "subscriptions") if k in hook},
                                   "endpoint": endpoint}})
            created.append(f"webhook {name!r} endpoint")
        signing = str(self._api("GET", f"webhooks/{hook['id']}/signing_secret",
                                "read webhook secret")["signing_secret"]["secret"])
        if secret is not None and not hmac.compare_digest(signing.encode(), secret.reveal().encode()):
            raise FatalError(
                f"Zendesk webhook {name!r} ({hook['id']}) signs its deliveries with another secret than "
                f"webhook.secret ({secret.name}), so each would be refused: put that webhook's signing secret "
                "there (Admin Center > Apps and integrations > Webhooks > the webhook > Reveal secret), "
                "delete the webhook so that setup makes it with yours, or leave webhook.secret out")
        title = f"{name}: agent replied"
        triggers = self._list_all("triggers", "triggers", "list triggers")
        # The comment's author and the requester let the receiver drop, without a single
        # API call, the customer's own words socialdesk itself just wrote to the ticket.
        payload = ('{"ticket_id": "{{ticket.id}}", "comment_id": "{{ticket.latest_comment.id}}", '
                   '"author_id": "{{ticket.latest_comment.author.id}}", "requester_id": "{{ticket.requester.id}}"}')
        trigger = {"title": title, "active": True,
                   "conditions": {"all": [
                       {"field": "update_type", "operator": "is", "value": "Change"},
                       {"field": "comment_is_public", "operator": "is", "value": "true"},
                       {"field": "role", "operator": "is", "value": "agent"},
                       {"field": "current_tags", "operator": "includes", "value": tag}], "any": []},
                   "actions": [{"field": "notification_webhook", "value": [hook["id"], payload]}]}
        existing = next((t for t in triggers if t.get("title") == title), None)
        if existing is None:
            self._api("POST", "triggers", "create trigger", {"trigger": trigger})
            created.append(f"trigger {title!r}")
        elif existing.get("actions") != trigger["actions"]:
            self._api("PUT", f"triggers/{existing['id']}", "update trigger", {"trigger": trigger})
            created.append(f"trigger {title!r} payload")
        return str(hook["id"]), secret or Secret(signing, "webhook signing secret"), created
