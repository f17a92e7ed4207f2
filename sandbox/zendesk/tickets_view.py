"""Tickets, comments and audits rendered as Zendesk returns them."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.helpers import iso, not_found

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec


class TicketViews:
    """Ticket reads of ``ZendeskState``."""

    def custom_status_for(self, status: str) -> int:
        return self.custom_statuses["solved" if status == "closed" else status]

    def ticket_json(self, t: TicketRec) -> dict[str, Any]:
        d = t.data
        custom = [{"id": f["id"], "value": t.values.get(f["id"])} for f in self.custom_fields()]
        return {
            "url": self.url(f"tickets/{t.id}.json"), "id": t.id, "external_id": d["external_id"],
            "via": copy.deepcopy(d["via"]), "created_at": iso(t.created),
            "updated_at": iso(t.updated), "generated_timestamp": int(t.generated),
            "type": d["type"], "subject": d["subject"], "raw_subject": d["subject"],
            "description": d["description"], "priority": d["priority"], "status": d["status"],
            "recipient": d["recipient"], "requester_id": d["requester_id"],
            "submitter_id": d["submitter_id"], "assignee_id": d["assignee_id"],
            "organization_id": d["organization_id"], "group_id": d["group_id"],
            "collaborator_ids": list(d["collaborator_ids"]), "follower_ids": [],
            "email_cc_ids": [], "forum_topic_id": None, "problem_id": d["problem_id"],
            "has_incidents": False, "is_public": d["is_public"], "due_at": d["due_at"],
            "tags": list(d["tags"]), "custom_fields": custom, "satisfaction_rating": None,
            "sharing_agreement_ids": [], "custom_status_id": self.custom_status_for(d["status"]),
            "fields": copy.deepcopy(custom), "followup_ids": list(d["followup_ids"]),
            "ticket_form_id": d["ticket_form_id"], "brand_id": d["brand_id"],
            "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
        }

    def comment_json(self, c: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "type": "Comment", "author_id": c["author_id"], "body": c["body"],
                "html_body": c["html_body"], "plain_body": c["plain_body"], "public": c["public"],
                "attachments": [], "audit_id": c["audit_id"], "via": copy.deepcopy(c["via"]),
                "created_at": iso(c["_ts"]), "metadata": copy.deepcopy(c["metadata"])}

    def audit_json(self, a: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": a["id"], "ticket_id": a["ticket_id"], "created_at": iso(a["_ts"]),
                "author_id": a["author_id"], "metadata": copy.deepcopy(a["metadata"]),
                "events": copy.deepcopy(a["events"]), "via": copy.deepcopy(a["via"])}

    def get_ticket(self, tid: Any) -> TicketRec:
        try:
            t = self.tickets[int(tid)]
        except (KeyError, TypeError, ValueError) as err:
            raise not_found() from err
        if t.deleted:
            raise not_found()
        return t

    def live_tickets(self) -> list[TicketRec]:
        return [t for _, t in sorted(self.tickets.items()) if not t.deleted]
