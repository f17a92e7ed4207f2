"""The pieces a ticket write is made of: snapshots, user references, custom fields,
comments, audits and their events.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.constants import AGENT_ROLES
from sandbox.zendesk.helpers import (
    _DROP,
    _event_value,
    _int_or_none,
    html_body,
    record_invalid,
    strip_html,
)

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec, UpdateContext


class TicketParts:
    """Building blocks of ``ZendeskState``'s ticket writes."""

    def _snapshot(self, t: TicketRec | None) -> dict[str, Any]:
        if t is None:
            return {}
        snap = {k: copy.deepcopy(v) for k, v in t.data.items()}
        snap["values"] = dict(t.values)
        return snap

    def _user_ref(self, value: Any, what: str, agent: bool = False) -> int | None:
        try:
            uid = _int_or_none(value)
        except (TypeError, ValueError) as err:
            raise record_invalid(what, f"{what.replace('_id', '').capitalize()}: is invalid") from err
        if uid is None:
            return None
        user = self.users.get(uid)
        if user is None or (agent and user["role"] not in AGENT_ROLES):
            raise record_invalid(what, f"{what.replace('_id', '').capitalize()}: is invalid")
        return uid

    def _ref_in(self, table: Mapping[int, Any], value: Any, what: str) -> int | None:
        try:
            ref = _int_or_none(value)
        except (TypeError, ValueError) as err:
            raise record_invalid(what, f"{what.replace('_id', '').capitalize()}: is invalid") from err
        if ref is not None and ref not in table:
            raise record_invalid(what, f"{what.replace('_id', '').capitalize()}: is invalid")
        return ref

    @staticmethod
    def _enum(value: Any, allowed: tuple[str, ...], what: str) -> str | None:
        if value in (None, ""):
            return None
        if value not in allowed:
            raise record_invalid(what, f"{what.capitalize()}: {value} is not valid")
        return str(value)

    def _apply_custom_fields(self, t: TicketRec, entries: Any) -> list[tuple[int, Any, Any]]:
        """Set custom field values; drop-down values become tags as in Zendesk."""
        changes: list[tuple[int, Any, Any]] = []
        if not isinstance(entries, list):
            return changes
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            try:
                fid = int(entry.get("id"))
            except (TypeError, ValueError):
                continue
            f = self.fields.get(fid)
            if f is None or not f["removable"] or not f["active"]:
                continue
            value = self._coerce_field_value(f, entry.get("value"))
            if value is _DROP:
                continue
            old = t.values.get(fid)
            if old == value:
                continue
            if f["type"] == "tagger":
                if old is not None and old in t.data["tags"]:
                    t.data["tags"].remove(old)
                if value is not None and value not in t.data["tags"]:
                    t.data["tags"].append(value)
            t.values[fid] = value
            changes.append((fid, old, value))
        return changes

    def _coerce_field_value(self, f: Mapping[str, Any], value: Any) -> Any:
        kind = f["type"]
        if value is None or value == "":
            return None
        if kind == "tagger":
            options = {o["value"] for o in f.get("custom_field_options", [])}
            return value if isinstance(value, str) and value in options else _DROP
        if kind == "integer":
            if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
                raise record_invalid("base", f"{f['title']}: is not a number", "InvalidValue",
                                     ticket_field_id=f["id"], ticket_field_type="FieldInteger")
            return str(int(str(value).strip()))
        if kind == "decimal":
            try:
                return str(float(value))
            except (TypeError, ValueError) as err:
                raise record_invalid("base", f"{f['title']}: is not a number", "InvalidValue",
                                     ticket_field_id=f["id"], ticket_field_type="FieldDecimal") from err
        if kind == "checkbox":
            return bool(value)
        return str(value)

    def _sync_fields_from_tags(self, t: TicketRec) -> list[tuple[int, Any, Any]]:
        """Removing a drop-down's tag clears the field; adding an option's tag sets it."""
        changes = []
        for f in self.custom_fields():
            if f["type"] != "tagger":
                continue
            old = t.values.get(f["id"])
            if old is not None and old not in t.data["tags"]:
                t.values[f["id"]] = None
                changes.append((f["id"], old, None))
            elif old is None:
                for option in f.get("custom_field_options", []):
                    if option["value"] in t.data["tags"]:
                        t.values[f["id"]] = option["value"]
                        changes.append((f["id"], None, option["value"]))
                        break
        return changes

    def _requester_from_inline(self, spec: Any, now: float) -> int:
        if not isinstance(spec, Mapping):
            raise record_invalid("requester", "Requester: is invalid")
        email = spec.get("email")
        if email:
            found = self.find_user_by_email(str(email))
            if found:
                return found["id"]
        name = spec.get("name") or (str(email).split("@")[0] if email else None)
        if not name:
            raise record_invalid("requester", "Requester: Name: is too short (minimum one character)",
                                 "ValueTooShort")
        return self.create_user({"name": name, "email": email, "locale_id": spec.get("locale_id")},
                                now)

    def _comment_spec(self, p: Mapping[str, Any], creating: bool) -> dict[str, Any] | None:
        raw = p.get("comment")
        if isinstance(raw, str):
            raw = {"body": raw}
        if raw is None and creating and p.get("description"):
            raw = {"body": p["description"]}
        if not isinstance(raw, Mapping):
            return None
        body, markup = raw.get("body"), raw.get("html_body")
        if not body and not markup:
            return None
        if markup and not body:
            return {**raw, "body": strip_html(str(markup)),
                    "html_body": f'<div class="zd-comment" dir="auto">{markup}</div>'}
        return {**raw, "body": str(body), "html_body": html_body(str(body))}

    def _new_audit(self, t: TicketRec, ctx: UpdateContext, now: float, creating: bool,
                   custom_metadata: Any) -> dict[str, Any]:
        to: dict[str, Any] = {}
        if creating:
            requester = self.users.get(t.data["requester_id"])
            if requester and requester["email"]:
                to = {"name": requester["name"], "address": requester["email"]}
        return {"id": self.ids.next(), "ticket_id": t.id, "_ts": now,
                "author_id": ctx.actor["id"],
                "metadata": {"system": {"client": ctx.client.get("client", ""),
                                        "ip_address": ctx.client.get("ip", ""),
                                        "location": "Sandbox", "latitude": 0.0, "longitude": 0.0},
                             "custom": dict(custom_metadata) if isinstance(custom_metadata, Mapping) else {}},
                "events": [], "via": {"channel": "api", "source": {"from": {}, "to": to, "rel": None}}}

    def _add_comment(self, t: TicketRec, spec: Mapping[str, Any], audit: dict[str, Any],
                     author_id: int, public: bool, now: float) -> dict[str, Any]:
        comment = {"id": self.ids.next(), "author_id": author_id, "body": spec["body"],
                   "html_body": spec["html_body"], "plain_body": spec["body"], "public": public,
                   "audit_id": audit["id"], "via": copy.deepcopy(audit["via"]), "_ts": now,
                   "metadata": copy.deepcopy(audit["metadata"])}
        t.comments.append(comment)
        audit["events"].append({"id": comment["id"], "type": "Comment", "author_id": author_id,
                                "body": comment["body"], "html_body": comment["html_body"],
                                "plain_body": comment["plain_body"], "public": public,
                                "attachments": [], "audit_id": audit["id"]})
        return comment

    def _event(self, audit: dict[str, Any], kind: str, name: str, value: Any,
               previous: Any = None, *, changed: bool = False,
               via: dict[str, Any] | None = None) -> None:
        event: dict[str, Any] = {"id": self.ids.next(), "type": kind, "value": _event_value(value),
                                 "field_name": name}
        if changed:
            event["previous_value"] = _event_value(previous)
        if via is not None:
            event["via"] = via
        audit["events"].append(event)
