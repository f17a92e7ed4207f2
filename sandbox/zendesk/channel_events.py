"""Event callbacks on ``ZendeskState``: what happens to an integration queued for its
``event_callback_url``, handed to the sender in batches, and logged as delivered or failed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.zendesk.channel_records import Instance, Integration, capped
from sandbox.zendesk.helpers import iso

if TYPE_CHECKING:
    from sandbox.zendesk.channel_wire import Answer


class ChannelEvents:
    """The event callback queue of ``ZendeskState``'s integrations."""

    def channel_event(self, integ: Integration, type_id: str, data: dict[str, Any],
                      error: str | None = None, instance: Instance | None = None) -> None:
        """Queue an event for ``event_callback_url`` (the runner sends what is queued,
        several events per request, as Zendesk aggregates them)."""
        if not integ.urls.get("event_callback_url"):
            return
        event: dict[str, Any] = {"type_id": type_id, "timestamp": iso(self.clock.now()),
                                 "subdomain": self.subdomain, "integration_name": integ.name,
                                 "integration_id": str(integ.manifest["id"]), "data": data}
        if error is not None:
            event["error"] = error
        integ.pending_events.append((None if instance is None else instance.id, event))
        self.channel_runner.events(integ.id, self.generation)

    def take_channel_events(self, integ_id: int) -> tuple[str, list[tuple[int | None, dict[str, Any]]]] | None:
        integ = self.channel_integrations.get(integ_id)
        if integ is None or not integ.pending_events:
            return None
        batch, integ.pending_events = integ.pending_events, []
        return integ.urls["event_callback_url"], batch

    def channel_events_sent(self, integ_id: int, batch: list[tuple[int | None, dict[str, Any]]],
                            answer: Answer) -> None:
        integ = self.channel_integrations.get(integ_id)
        if integ is None:
            return
        ok = answer.status is not None and 200 <= answer.status < 300
        for instance_id, event in batch:
            capped(integ.events, {"instance_id": instance_id, "type_id": event["type_id"], "event": event,
                                  "status": "delivered" if ok else "failed", "http_status": answer.status,
                                  "error": None if ok else answer.describe()})
