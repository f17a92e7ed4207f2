"""Pulls and pushes on ``ZendeskState``: which accounts are due a pull on the sandbox
clock, a pull's answer applied, and the log each account keeps of both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.zendesk.channel_records import Instance, answer_payload, apply_metadata, capped
from sandbox.zendesk.helpers import iso

if TYPE_CHECKING:
    from sandbox.zendesk.channel_wire import Answer


class ChannelPulls:
    """Pull schedule and pull/push logs of ``ZendeskState``'s accounts."""

    def due_channel_pulls(self) -> list[int] | None:
        """The accounts whose pull is due on the sandbox clock; None when no account pulls."""
        now = self.clock.now()
        pulling = [inst for inst in self.channel_instances.values()
                   if inst.status == "active" and self.channel_integrations[inst.integration_id].urls.get("pull_url")]
        if not pulling:
            return None
        return [inst.id for inst in pulling if inst.next_pull_at <= now]

    def finish_channel_pull(self, inst: Instance, request_id: str, trigger: str, started: float,
                            sent_state: str, answer: Answer) -> dict[str, Any]:
        """What a pull answered, applied: a 200 holding pull_payload.json imports its
        resources and keeps its ``state`` (absent: the state stays); anything else is a
        failed pull that changes nothing."""
        record: dict[str, Any] = {"request_id": request_id, "trigger": trigger, "at": iso(started),
                                  "http_status": answer.status, "state_sent": sent_state,
                                  "status": "failed", "error": None, "results": []}
        payload, errors = answer_payload(answer, "pull_payload.json")
        if errors:
            record["error"] = "; ".join(errors)
            return capped(inst.pulls, record)
        results, duplicates = self.import_channel_resources(inst, payload["external_resources"], request_id)
        if "state" in payload:
            inst.state = payload["state"]
        apply_metadata(inst, payload)
        record.update(status="ok", results=results, state=inst.state)
        integ = self.channel_integrations[inst.integration_id]
        if duplicates:
            self.channel_event(integ, "pull_request", {
                "integration_instance_name": inst.name, "url": integ.urls["pull_url"],
                "request_id": request_id, "duplicate_external_ids": duplicates}, instance=inst)
        return capped(inst.pulls, record)

    def record_channel_push(self, inst: Instance, entry: dict[str, Any]) -> None:
        capped(inst.pushes, entry)
