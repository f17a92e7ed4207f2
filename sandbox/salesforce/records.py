"""Outbound Messaging records the org keeps besides plain dicts, and token characters."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.constants import OM_RETRY_INITIAL, OM_RETRY_MAX


@dataclass
class OutboundAction:
    """A registered outbound message: where Case notifications go and which fields they carry."""

    id: str
    url: str
    fields: list[str]
    send_session_id: bool = True
    retry_initial: float = OM_RETRY_INITIAL
    retry_max: float = OM_RETRY_MAX
    exclude_user_ids: list[str] = field(default_factory=list)
    name: str = "Socialdesk_Case_Changed"

    def json(self) -> dict[str, Any]:
        return {"action_id": self.id, "url": self.url, "object": "Case", "fields": list(self.fields),
                "send_session_id": self.send_session_id, "retry_initial": self.retry_initial,
                "retry_max": self.retry_max, "exclude_user_ids": list(self.exclude_user_ids),
                "name": self.name}


@dataclass
class Delivery:
    """One SOAP message (up to 100 notifications) and its attempts."""

    id: int
    action_id: str
    notifications: list[tuple[str, str]]  # (notification id, case id)
    created: float
    next_at: float = 0.0
    status: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    body: str = ""

    def json(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else {}
        return {"id": self.id, "action_id": self.action_id, "status": self.status,
                "notification_ids": [n for n, _ in self.notifications],
                "case_ids": [c for _, c in self.notifications], "attempts": len(self.attempts),
                "status_code": last.get("status_code"), "error": last.get("error"),
                "acked": self.status == "delivered", "body": self.body,
                "history": list(self.attempts)}


def _token_chars(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
    return "".join(secrets.choice(alphabet) for _ in range(n))
