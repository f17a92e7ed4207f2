"""What the ``/_sandbox/channel_integrations`` control API shows of ``ZendeskState``'s
integrations and accounts: one row per account, and the external resources it knows.
"""
from __future__ import annotations

import copy
from typing import Any

from sandbox.oauth import fingerprint
from sandbox.zendesk.channel_records import Instance, Integration
from sandbox.zendesk.helpers import iso


class ChannelListing:
    """The control view of ``ZendeskState``'s Channel Framework."""

    def channel_listing(self) -> list[dict[str, Any]]:
        """One row per account (an integration without accounts: one row without one)."""
        rows = []
        for integ in sorted(self.channel_integrations.values(), key=lambda i: i.id):
            instances = sorted((i for i in self.channel_instances.values() if i.integration_id == integ.id),
                               key=lambda i: i.id)
            rows.extend(self.channel_row(integ, inst) for inst in instances or [None])
        return rows

    def channel_row(self, integ: Integration, inst: Instance | None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "integration_id": integ.id, "manifest_url": integ.manifest_url, "name": integ.name,
            "manifest": copy.deepcopy(integ.manifest), "installed_at": iso(integ.installed_at),
            "instance_id": None, "instance_name": None, "instance_push_id": None, "status": None,
            "metadata": None, "state": None, "push_token": None, "next_pull_at": None,
            "pulls": [], "pushes": [], "channelbacks": [], "channelback_errors": []}
        if inst is not None:
            row.update({
                "instance_id": inst.id, "instance_name": inst.name, "instance_push_id": inst.push_id,
                "status": inst.status, "metadata": inst.metadata, "state": inst.state,
                # The token itself is the integration's secret: its fingerprint tells tokens apart.
                "push_token": None if inst.token is None else fingerprint(inst.token),
                "next_pull_at": iso(inst.next_pull_at) if integ.urls.get("pull_url") else None,
                "pulls": copy.deepcopy(inst.pulls), "pushes": copy.deepcopy(inst.pushes),
                "channelbacks": copy.deepcopy(inst.channelbacks),
                "channelback_errors": copy.deepcopy(inst.channelback_errors)})
        row["events"] = [copy.deepcopy(e) for e in integ.events
                         if e["instance_id"] is None or inst is None or e["instance_id"] == inst.id]
        return row

    def channel_resource_listing(self, inst: Instance) -> list[dict[str, Any]]:
        return [{"external_id": r.external_id, "ticket_id": r.ticket_id, "comment_id": r.comment_id,
                 "request_id": r.request_id, "type_id": r.type_id}
                for r in self.channel_resources.values() if r.instance_id == inst.id]
