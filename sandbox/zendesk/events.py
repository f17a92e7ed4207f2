"""Ticket events for the incremental export, as Zendesk's audit children."""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping

from sandbox.zendesk.helpers import iso


class Events:
    """Ticket event listing on ``ZendeskState``."""

    def ticket_events(self, include_comments: bool, since: int = 0,
                      before: float = math.inf) -> list[tuple[int, int, dict[str, Any], float]]:
        """Audits from ``since`` (whole seconds) to before ``before`` as (timestamp, id,
        ticket_event, exact time), sorted as exported."""
        out = []
        for t in self.tickets.values():
            for a in t.audits:
                ts = int(a["_ts"])
                if ts < since or a["_ts"] >= before:
                    continue
                children = [self._child_event(a, e, include_comments) for e in a["events"]]
                out.append((ts, a["id"], {
                    "id": a["id"], "ticket_id": t.id, "timestamp": ts, "created_at": iso(a["_ts"]),
                    "updater_id": a["author_id"], "via": "Web service", "event_type": "Audit",
                    "child_events": children}, a["_ts"]))
        out.sort(key=lambda item: (item[0], item[1]))
        return out

    def _child_event(self, audit: Mapping[str, Any], e: Mapping[str, Any],
                     include_comments: bool) -> dict[str, Any]:
        via_text = "Rule" if (e.get("via") or {}).get("channel") == "rule" else "Web service"
        reference = ((e.get("via") or {}).get("source") or {}).get("from", {}).get("id")
        if e["type"] == "Comment":
            if include_comments:
                return {"id": e["id"], "via": copy.deepcopy(audit["via"]), "via_reference_id": None,
                        "type": "Comment", "author_id": e["author_id"], "body": e["body"],
                        "html_body": e["html_body"], "public": e["public"], "attachments": [],
                        "audit_id": audit["id"], "created_at": iso(audit["_ts"]), "event_type": "Comment"}
            return {"id": e["id"], "via": via_text, "via_reference_id": None, "comment_present": True,
                    "comment_public": e["public"], "event_type": "Comment"}
        if e["type"] == "Notification":
            return {"id": e["id"], "via": via_text, "via_reference_id": reference,
                    "subject": e["subject"], "body": e["body"], "recipients": list(e["recipients"]),
                    "event_type": "Notification"}
        child: dict[str, Any] = {"id": e["id"], "via": via_text, "via_reference_id": reference,
                                 e["field_name"]: copy.deepcopy(e["value"])}
        if e["type"] == "Change":
            child["previous_value"] = copy.deepcopy(e.get("previous_value"))
            if e["field_name"] == "tags":
                old, new = e.get("previous_value") or [], e["value"] or []
                child["added_tags"] = [x for x in new if x not in old]
                child["removed_tags"] = [x for x in old if x not in new]
        child["event_type"] = e["type"]
        return child
