"""Ticket fields, groups, brands, forms, organizations and custom roles as JSON."""
from __future__ import annotations

from typing import Any, Mapping

from sandbox.zendesk.constants import PRIORITIES, STATUSES, TYPES
from sandbox.zendesk.helpers import iso


class Catalog:
    """Catalog records of ``ZendeskState`` rendered as Zendesk returns them."""

    def _field_record(self, fid: int, kind: str, title: str, position: int, now: float,
                      removable: bool) -> dict[str, Any]:
        return {"id": fid, "type": kind, "title": title, "description": title,
                "position": position, "active": True, "required": False,
                "visible_in_portal": not removable, "editable_in_portal": not removable,
                "tag": None, "removable": removable, "regexp_for_validation": None,
                "agent_description": None, "_created": now, "_updated": now}

    def custom_fields(self) -> list[dict[str, Any]]:
        return [f for fid, f in sorted(self.fields.items()) if f["removable"] and f["active"]]

    def field_json(self, f: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url(f"ticket_fields/{f['id']}.json"), "id": f["id"], "type": f["type"],
            "title": f["title"], "raw_title": f["title"], "description": f["description"],
            "raw_description": f["description"], "position": f["position"], "active": f["active"],
            "required": f["required"], "collapsed_for_agents": False,
            "regexp_for_validation": f["regexp_for_validation"], "title_in_portal": f["title"],
            "raw_title_in_portal": f["title"], "visible_in_portal": f["visible_in_portal"],
            "editable_in_portal": f["editable_in_portal"], "required_in_portal": False,
            "tag": f["tag"], "created_at": iso(f["_created"]), "updated_at": iso(f["_updated"]),
            "removable": f["removable"], "key": None, "agent_description": f["agent_description"]}
        if "custom_field_options" in f:
            out["custom_field_options"] = [
                {**o, "url": self.url(f"ticket_fields/{f['id']}/options/{o['id']}.json")}
                for o in f["custom_field_options"]]
        if f["type"] in ("status", "priority", "tickettype"):
            names = {"status": STATUSES[:-1], "priority": PRIORITIES, "tickettype": TYPES}[f["type"]]
            out["system_field_options"] = [{"name": n.capitalize(), "value": n} for n in names]
        return out

    def group_json(self, g_: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"groups/{g_['id']}.json"), "id": g_["id"],
                "is_public": g_["is_public"], "name": g_["name"], "description": g_["description"],
                "default": g_["default"], "deleted": g_["deleted"],
                "created_at": iso(g_["_created"]), "updated_at": iso(g_["_created"])}

    def brand_json(self, b: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"brands/{b['id']}.json"), "id": b["id"], "name": b["name"],
                "brand_url": self.base_url, "subdomain": self.subdomain, "host_mapping": None,
                "has_help_center": False, "help_center_state": "disabled", "active": True,
                "default": b["id"] == self.default_brand_id, "is_deleted": False, "logo": None,
                "ticket_form_ids": [self.default_form_id], "signature_template": "{{agent.signature}}",
                "created_at": iso(b["_created"]), "updated_at": iso(b["_created"])}

    def form_json(self, f: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"ticket_forms/{f['id']}.json"), "id": f["id"], "name": f["name"],
                "raw_name": f["name"], "display_name": f["name"], "raw_display_name": f["name"],
                "end_user_visible": True, "position": 1,
                "ticket_field_ids": sorted(self.fields), "active": True, "default": True,
                "in_all_brands": True, "restricted_brand_ids": [], "end_user_conditions": [],
                "agent_conditions": [], "created_at": iso(f["_created"]),
                "updated_at": iso(f["_created"])}

    def organization_json(self, o: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"organizations/{o['id']}.json"), "id": o["id"], "name": o["name"],
                "shared_tickets": False, "shared_comments": False, "external_id": None,
                "created_at": iso(o["_created"]), "updated_at": iso(o["_created"]),
                "domain_names": [], "details": None, "notes": None, "group_id": None, "tags": [],
                "organization_fields": {}}

    def custom_role_json(self, r: Mapping[str, Any]) -> dict[str, Any]:
        admin = r["role_type"] == 4
        return {"id": r["id"], "name": r["name"], "description": r["description"],
                "role_type": r["role_type"], "created_at": iso(r["_created"]),
                "updated_at": iso(r["_created"]),
                "configuration": {"ticket_access": "all", "ticket_editing": True,
                                  "ticket_comment_access": "public", "manage_triggers": admin,
                                  "manage_ticket_fields": admin, "manage_slas": admin},
                "team_member_count": sum(1 for u in self.users.values()
                                         if u["custom_role_id"] == r["id"])}
