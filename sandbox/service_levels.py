"""Service levels in the sandbox's Zendesk, set up the way an admin would: over the REST API.

``seed(info)`` gives the sandbox account what a real Zendesk account of a contact center
has, so ``socialdesk check`` has something to report on:

* two SLA policies keyed on the ``social`` tag: "Social urgent" (urgent and high
  priority, position 1) and "Social care" (every social ticket, position 2; targets for
  normal and low only, as the urgent ones are caught first);
* the trigger every Zendesk account ships with, "Notify requester of received request",
  which e-mails the requester of every new ticket - a social requester has no usable
  e-mail address, so the coverage check warns about it.

Idempotent: a policy or trigger whose title exists is left as it is. The Salesforce
stand-in already seeds entitlements, an entitlement process and an assignment rule.
Like the rest of ``sandbox/``, this imports nothing from ``adapters`` or ``sync``.
"""
from __future__ import annotations

from typing import Any

import requests

SLA_POLICIES: tuple[dict[str, Any], ...] = (
    {"title": "Social urgent",
     "description": "Urgent and high priority social tickets",
     "filter": {"all": [{"field": "current_tags", "operator": "includes", "value": "social"}],
                "any": [{"field": "priority", "operator": "is", "value": "urgent"},
                        {"field": "priority", "operator": "is", "value": "high"}]},
     "policy_metrics": [
         {"priority": "urgent", "metric": "first_reply_time", "target": 15, "business_hours": False},
         {"priority": "urgent", "metric": "next_reply_time", "target": 30, "business_hours": False},
         {"priority": "high", "metric": "first_reply_time", "target": 30, "business_hours": False},
         {"priority": "high", "metric": "next_reply_time", "target": 60, "business_hours": False}]},
    {"title": "Social care",
     "description": "Every social ticket",
     "filter": {"all": [{"field": "current_tags", "operator": "includes", "value": "social"}], "any": []},
     "policy_metrics": [
         {"priority": "normal", "metric": "first_reply_time", "target": 60, "business_hours": False},
         {"priority": "normal", "metric": "next_reply_time", "target": 120, "business_hours": False},
         {"priority": "low", "metric": "first_reply_time", "target": 240, "business_hours": True},
         {"priority": "low", "metric": "next_reply_time", "target": 480, "business_hours": True}]},
)

TRIGGERS: tuple[dict[str, Any], ...] = (
    {"title": "Notify requester of received request",
     "description": "Zendesk's default: an e-mail to the requester of every new ticket",
     "active": True,
     "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Create"},
                            {"field": "status", "operator": "is_not", "value": "solved"}],
                    "any": []},
     "actions": [{"field": "notification_user", "value": [
         "requester_and_ccs", "[{{ticket.account}}] Re: {{ticket.title}}",
         "Your request ({{ticket.id}}) has been received and is being reviewed by our support staff.\n\n"
         "To add additional comments, reply to this email.\n\n{{ticket.comments_formatted}}"]}]},
)


def _session(info: dict[str, Any]) -> requests.Session:
    zd = info["services"]["zendesk"]
    http = requests.Session()
    http.verify = info["ca_bundle"]
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    http.headers["Authorization"] = f"Bearer {zd['api_oauth_token']}"  # the integration user: an admin
    return http


def _titles(http: requests.Session, url: str, key: str) -> set[str]:
    titles: set[str] = set()
    next_url: str | None = url
    while next_url:
        response = http.get(next_url, timeout=10)
        response.raise_for_status()
        body = response.json()
        titles.update(str(item.get("title")) for item in body.get(key, []))
        meta, links = body.get("meta") or {}, body.get("links") or {}
        next_url = links.get("next") if meta.get("has_more") else body.get("next_page")
    return titles


def seed(info: dict[str, Any]) -> None:
    """Create the SLA policies and the e-mail trigger above in the sandbox's Zendesk (idempotent)."""
    if "zendesk" not in info.get("services", {}):
        return
    api = f"{info['services']['zendesk']['url']}/api/v2"
    with _session(info) as http:
        existing = _titles(http, f"{api}/slas/policies", "sla_policies")
        for policy in SLA_POLICIES:
            if policy["title"] not in existing:
                http.post(f"{api}/slas/policies", json={"sla_policy": policy}, timeout=10).raise_for_status()
        existing = _titles(http, f"{api}/triggers", "triggers")
        for trigger in TRIGGERS:
            if trigger["title"] not in existing:
                http.post(f"{api}/triggers", json={"trigger": trigger}, timeout=10).raise_for_status()
