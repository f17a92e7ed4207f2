"""Channelback on ``ZendeskState``: an agent's public comment on an any_channel ticket
queued for the integration's ``channelback_url``, the request Zendesk makes of it, the
answer settled, and the failures the integration reports afterwards.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.channel_records import (
    ChannelTicket,
    Imported,
    Instance,
    answer_payload,
    apply_metadata,
    capped,
)
from sandbox.zendesk.constants import AGENT_ROLES
from sandbox.zendesk.helpers import iso

if TYPE_CHECKING:
    from sandbox.zendesk.channel_wire import Answer
    from sandbox.zendesk.records import TicketRec


class ChannelBacks:
    """Channelbacks of ``ZendeskState``'s any_channel tickets."""

    def _channelback_url(self, info: ChannelTicket) -> str | None:
        inst = self.channel_instances.get(info.instance_id)
        if inst is None or inst.status != "active":
            return None
        return self.channel_integrations[inst.integration_id].urls.get("channelback_url")

    def _queue_channelback(self, t: TicketRec, comment: Mapping[str, Any]) -> None:
        """An agent's public comment on an any_channel ticket goes to ``channelback_url``."""
        info = self.channel_tickets.get(t.id)
        author = self.users.get(comment["author_id"])
        if (info is None or not comment["public"] or author is None or author["role"] not in AGENT_ROLES
                or not info.allow_channelback or self._channelback_url(info) is None):
            return
        inst = self.channel_instances[info.instance_id]
        record = {"request_unique_identifier": str(uuid.uuid4()), "ticket_id": t.id,
                  "comment_id": comment["id"], "message": comment["body"], "parent_id": info.parent_id,
                  "thread_id": info.thread_id, "recipient_id": info.recipient_id,
                  "queued_at": iso(self.clock.now()), "status": "pending", "attempts": 0,
                  "http_status": None, "external_id": None, "error": None}
        capped(inst.channelbacks, record)
        self.channel_runner.channelback(inst.id, record["request_unique_identifier"], self.generation)

    def _channelback_record(self, inst: Instance, rid: str) -> dict[str, Any] | None:
        return next((r for r in inst.channelbacks if r["request_unique_identifier"] == rid), None)

    def channelback_request(self, inst_id: int, rid: str) -> tuple[str, list[tuple[str, str]]] | None:
        """(channelback URL, form fields) as the channelback docs list them: ``message``,
        ``parent_id``, ``recipient_id`` (left out when the requester is no channel
        author), ``metadata``, ``request_unique_identifier``, ``thread_id``."""
        inst = self.channel_instances.get(inst_id)
        record = self._channelback_record(inst, rid) if inst is not None else None
        if inst is None or record is None or inst.status != "active":
            return None
        url = self.channel_integrations[inst.integration_id].urls.get("channelback_url")
        if not url:
            return None
        fields = [("message", record["message"]), ("parent_id", record["parent_id"])]
        if record["recipient_id"] is not None:
            fields.append(("recipient_id", record["recipient_id"]))
        fields += [("metadata", inst.metadata), ("request_unique_identifier", rid)]
        if record["thread_id"] is not None:
            fields.append(("thread_id", record["thread_id"]))
        return url, fields

    def channelback_attempted(self, inst_id: int, rid: str, answer: Answer, final: bool) -> None:
        """Count one channelback attempt; the last one settles it: 200 with a body that
        holds channelback_payload.json is sent, anything else failed (reported to the
        event callback URL)."""
        inst = self.channel_instances.get(inst_id)
        record = self._channelback_record(inst, rid) if inst is not None else None
        if inst is None or record is None:
            return
        record["attempts"] += 1
        record["http_status"] = answer.status
        if not final:
            record["error"] = answer.describe()
            return
        payload, errors = answer_payload(answer, "channelback_payload.json")
        if errors:
            record.update(status="failed", error="; ".join(errors))
            integ = self.channel_integrations[inst.integration_id]
            self.channel_event(integ, "channelback", {"integration_instance_name": inst.name,
                                                      "url": integ.urls.get("channelback_url", ""),
                                                      "request_id": rid},
                               error=record["error"], instance=inst)
            return
        record.update(status="sent", error=None, external_id=payload["external_id"])
        info = self.channel_tickets.get(record["ticket_id"])
        if info is not None and isinstance(payload.get("allow_channelback"), bool):
            info.allow_channelback = payload["allow_channelback"]
        apply_metadata(inst, payload)
        key = (inst.id, payload["external_id"])
        if key not in self.channel_resources:
            self.channel_resources[key] = Imported(inst.id, payload["external_id"], record["ticket_id"],
                                                   record["comment_id"], rid,
                                                   "external_id_associated_with_channelback")
            self.channel_event(self.channel_integrations[inst.integration_id],
                               "resources_created_from_external_ids",
                               {"request_id": rid, "resource_events": [{
                                   "type_id": "external_id_associated_with_channelback",
                                   "external_id": payload["external_id"], "comment_id": record["comment_id"],
                                   "ticket_id": record["ticket_id"]}]}, instance=inst)

    def report_channelback_error(self, inst: Instance, report: Mapping[str, Any]) -> None:
        """``POST /api/v2/any_channel/channelback/report_error``: the integration says a
        channelback it answered for (by ``external_id``) failed after all."""
        entry = {"external_id": report["external_id"], "description": report.get("description"),
                 "request_id": report.get("request_id"), "at": iso(self.clock.now())}
        capped(inst.channelback_errors, entry)
        for record in inst.channelbacks:
            if record["external_id"] == report["external_id"]:
                record.update(status="failed", error=report.get("description") or "reported by the integration",
                              reported=True)
