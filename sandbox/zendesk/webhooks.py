"""Webhooks: their JSON, the invocations triggers queue, and the attempts recorded."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from ulid import ULID

from sandbox.zendesk.constants import WEBHOOK_CONTENT_TYPES
from sandbox.zendesk.delivery import _auth_headers, render_placeholders
from sandbox.zendesk.helpers import iso, iso_ns
from sandbox.zendesk.records import Delivery

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec, UpdateContext


class Webhooks:
    """Webhook records and invocations of ``ZendeskState``."""

    def webhook_json(self, w: Mapping[str, Any], precise: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": w["id"], "name": w["name"], "description": w["description"],
                               "status": w["status"], "subscriptions": list(w["subscriptions"]),
                               "created_at": iso_ns(w["_created"]) if precise else iso(w["_created"]),
                               "created_by": str(w["created_by"])}
        if w.get("_updated") is not None:
            out["updated_at"] = iso(w["_updated"])
            out["updated_by"] = str(w["updated_by"])
        out.update({"endpoint": w["endpoint"], "http_method": w["http_method"],
                    "request_format": w["request_format"]})
        auth = w.get("authentication")
        if auth:
            shown: dict[str, Any] = {"type": auth["type"]}
            data = auth.get("data") or {}
            if auth["type"] == "basic_auth" and "username" in data:
                shown["data"] = {"username": data["username"]}
            elif auth["type"] == "api_key" and "name" in data:
                shown["data"] = {"name": data["name"]}
            shown["add_position"] = auth.get("add_position", "header")
            out["authentication"] = shown
        return out

    def _queue_webhook(self, tr: Mapping[str, Any], webhook_id: Any, template: str, t: TicketRec,
                       ctx: UpdateContext) -> None:
        w = self.webhooks.get(str(webhook_id))
        if w is None or w["status"] != "active":
            return
        body = render_placeholders(str(template), self._placeholder_values(t, ctx),
                                   json_escape=w["request_format"] == "json")
        invocation_id = str(ULID.from_timestamp(self.clock.now()))
        content_type = WEBHOOK_CONTENT_TYPES[w["request_format"]]
        headers = {"Content-Type": content_type, "User-Agent": "Zendesk Webhook",
                   "X-Zendesk-Account-Id": str(self.account_id), "X-Zendesk-Webhook-Id": w["id"],
                   "X-Zendesk-Webhook-Invocation-Id": invocation_id}
        headers.update(_auth_headers(w.get("authentication")))
        record = {"id": invocation_id, "webhook_id": w["id"], "trigger_id": tr["id"],
                  "ticket_id": t.id, "status": "pending", "status_code": None,
                  "_ts": self.clock.now(), "latest_completed_at": None, "attempts": [],
                  "url": w["endpoint"], "method": w["http_method"], "body": body,
                  "headers": dict(headers)}
        self.invocations[invocation_id] = record
        self.deliveries.append(record)
        self.dispatcher.submit(Delivery(invocation_id, w["id"], w["http_method"], w["endpoint"],
                                        headers, body, w["signing_secret"], self.generation))

    def _placeholder_values(self, t: TicketRec, ctx: UpdateContext) -> dict[str, Any]:
        d = t.data
        values: dict[str, Any] = {
            "ticket.id": t.id, "ticket.external_id": d["external_id"] or "",
            "ticket.status": d["status"].capitalize(), "ticket.priority": (d["priority"] or "").capitalize(),
            "ticket.ticket_type": (d["type"] or "").capitalize(), "ticket.title": d["subject"] or "",
            "ticket.description": d["description"], "ticket.tags": " ".join(d["tags"]),
            "ticket.via": "Web service", "ticket.account": "Sandbox",
            "ticket.brand.name": self.brands[d["brand_id"]]["name"],
            "ticket.created_at": iso(t.created), "ticket.created_at_with_timestamp": iso(t.created),
            "ticket.updated_at": iso(t.updated), "ticket.updated_at_with_timestamp": iso(t.updated),
            "ticket.link": f"{self.base_url}/agent/tickets/{t.id}",
            "ticket.url": f"{urlsplit(self.base_url).netloc}/agent/tickets/{t.id}",
            "ticket.group.name": self.groups[d["group_id"]]["name"] if d["group_id"] in self.groups else "",
            "ticket.group.id": d["group_id"] or "",
            "ticket.organization.name": (self.organizations[d["organization_id"]]["name"]
                                         if d["organization_id"] in self.organizations else ""),
            "ticket.is_public": str(d["is_public"]).lower(),
        }
        for prefix, uid in (("ticket.requester", d["requester_id"]), ("ticket.assignee", d["assignee_id"]),
                            ("ticket.submitter", d["submitter_id"]), ("current_user", ctx.actor["id"])):
            values.update(self._user_placeholders(prefix, uid))
        for prefix, comment in (("ticket.latest_comment", t.comments[-1] if t.comments else None),
                                ("ticket.latest_public_comment",
                                 next((c for c in reversed(t.comments) if c["public"]), None))):
            values[prefix] = comment["body"] if comment else ""
            values[prefix + "_html"] = comment["html_body"] if comment else ""
            values[prefix + ".id"] = comment["id"] if comment else ""
            values[prefix + ".value"] = comment["body"] if comment else ""
            values[prefix + ".is_public"] = str(comment["public"]).lower() if comment else ""
            values[prefix + ".created_at"] = iso(comment["_ts"]) if comment else ""
            author = comment["author_id"] if comment else None
            values.update(self._user_placeholders(prefix + ".author", author))
        for f in self.custom_fields():
            value = t.values.get(f["id"])
            values[f"ticket.ticket_field_{f['id']}"] = "" if value is None else value
            title = next((o["name"] for o in f.get("custom_field_options", []) if o["value"] == value), "")
            values[f"ticket.ticket_field_option_title_{f['id']}"] = title
        return values

    def _user_placeholders(self, prefix: str, uid: int | None) -> dict[str, Any]:
        u = self.users.get(uid) if uid is not None else None
        name = u["name"] if u else ""
        first, _, last = name.partition(" ")
        return {prefix: name, f"{prefix}.id": uid if u else "", f"{prefix}.name": name,
                f"{prefix}.first_name": first, f"{prefix}.last_name": last,
                f"{prefix}.email": (u["email"] or "") if u else "",
                f"{prefix}.external_id": (u["external_id"] or "") if u else "",
                f"{prefix}.phone": (u["phone"] or "") if u else "",
                f"{prefix}.role": u["role"] if u else "", f"{prefix}.language": "English" if u else "",
                f"{prefix}.details": (u["details"] or "") if u else ""}

    def record_attempt(self, delivery: Delivery, attempt: dict[str, Any], final: bool) -> None:
        with self.lock:
            if delivery.generation != self.generation:
                return
            inv = self.invocations.get(delivery.invocation_id)
            if inv is None:
                return
            inv["attempts"].append(attempt)
            inv["latest_completed_at"] = attempt["completed_at"]
            inv["status_code"] = attempt.get("status_code")
            if final:
                ok = attempt.get("status_code") is not None and 200 <= attempt["status_code"] < 300
                inv["status"] = "success" if ok else "terminated"
            else:
                inv["status"] = "retrying"

    def invocation_json(self, inv: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": inv["id"]}
        if inv["status_code"] is not None:
            out["status_code"] = inv["status_code"]
        out["status"] = inv["status"]
        out["latest_completed_at"] = inv["latest_completed_at"] or iso(inv["_ts"])
        return out
