"""Ticket writes: create and update, all or nothing, with triggers fired inside."""
from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from sandbox.zendesk.constants import AGENT_ROLES, COMMENT_CAP, PRIORITIES, STATUSES, TYPES
from sandbox.zendesk.helpers import (
    _safe_int,
    ApiError,
    bad_request,
    iso,
    normalize_tags,
    record_invalid,
)
from sandbox.zendesk.records import TicketRec

if TYPE_CHECKING:
    from sandbox.zendesk.records import UpdateContext


class TicketWrites:
    """Ticket creation and update on ``ZendeskState``."""

    @contextlib.contextmanager
    def atomic(self, t: TicketRec | None = None, uid: int | None = None) -> Iterator[None]:
        """Undo a write that fails validation half-way, as Zendesk's transactions do."""
        users, identities = len(self.users), len(self.identities)  # both only ever grow, in order
        saved_user = copy.deepcopy(self.users[uid]) if uid in self.users else None
        saved = (copy.deepcopy(t.data), dict(t.values), len(t.comments)) if t else None
        try:
            yield
        except ApiError:
            for key in list(self.users)[users:]:
                del self.users[key]
            for key in list(self.identities)[identities:]:
                del self.identities[key]
            if saved_user is not None and uid is not None:
                self.users[uid] = saved_user
            if t is not None and saved is not None:
                t.data, t.values = saved[0], saved[1]
                del t.comments[saved[2]:]
            raise

    def create_ticket(self, p: Any, ctx: UpdateContext) -> tuple[TicketRec, dict[str, Any]]:
        """POST /api/v2/tickets: validate, store, run triggers, return ticket and audit."""
        with self.atomic():
            return self._create_ticket(p, ctx)

    def _create_ticket(self, p: Any, ctx: UpdateContext) -> tuple[TicketRec, dict[str, Any]]:
        if not isinstance(p, Mapping):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ticket")
        now = self.clock.now()
        spec = self._comment_spec(p, creating=True)
        if spec is None:
            description = next(f for f in self.fields.values() if f["type"] == "description")
            raise record_invalid("base", "Description: cannot be blank", "BlankValue",
                                 ticket_field_id=description["id"], ticket_field_type="FieldDescription")
        actor = ctx.actor
        if p.get("requester_id") not in (None, ""):
            requester_id = self._user_ref(p["requester_id"], "requester_id")
        elif p.get("requester") is not None:
            requester_id = self._requester_from_inline(p["requester"], now)
        else:
            requester_id = actor["id"]
        submitter_id = self._user_ref(p.get("submitter_id"), "submitter_id") or actor["id"]
        assignee_id = self._user_ref(p.get("assignee_id"), "assignee_id", agent=True)
        group_id = self._ref_in(self.groups, p.get("group_id"), "group_id")
        brand_id = self._ref_in(self.brands, p.get("brand_id"), "brand_id") or self.default_brand_id
        form_id = self._ref_in(self.forms, p.get("ticket_form_id"), "ticket_form_id") or self.default_form_id
        organization_id = self._ref_in(self.organizations, p.get("organization_id"), "organization_id")
        priority = self._enum(p.get("priority"), PRIORITIES, "priority")
        kind = self._enum(p.get("type"), TYPES, "type")
        status = self._enum(p.get("status"), STATUSES, "status") or ("open" if assignee_id else "new")
        requester = self.users[requester_id]
        if status in ("solved", "closed") and assignee_id is None and actor["role"] in AGENT_ROLES:
            assignee_id = actor["id"]
        if assignee_id is not None and group_id is None:
            group_id = self.users[assignee_id]["default_group_id"]
        author_id = self._user_ref(spec.get("author_id"), "author_id") or requester_id
        public = spec.get("public", True) is not False or self.users[author_id]["role"] == "end-user"
        via = {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}
        source = self.tickets.get(_safe_int(p.get("via_followup_source_id")))
        if source is not None and not source.deleted and source.data["status"] == "closed":
            via = {"channel": "api", "source": {
                "from": {"ticket_id": source.id, "subject": source.data["subject"], "channel": "api"},
                "to": {}, "rel": "follow_up"}}
        tid = next(self.nice_ids)
        while tid in self.tickets:
            tid = next(self.nice_ids)
        try:
            collaborators = [int(x) for x in p.get("collaborator_ids") or [] if int(x) in self.users]
        except (TypeError, ValueError) as err:
            raise record_invalid("collaborator_ids", "Collaborators: is invalid") from err
        subject = p.get("subject") if p.get("subject") not in ("",) else None
        t = TicketRec(id=tid, data={
            "external_id": None if p.get("external_id") in (None, "") else str(p["external_id"]),
            "via": via, "type": kind, "subject": subject, "description": spec["body"],
            "priority": priority, "status": status, "recipient": p.get("recipient"),
            "requester_id": requester_id, "submitter_id": submitter_id, "assignee_id": assignee_id,
            "organization_id": organization_id or requester["organization_id"], "group_id": group_id,
            "collaborator_ids": collaborators, "problem_id": _safe_int(p.get("problem_id")),
            "is_public": public, "due_at": p.get("due_at"), "tags": normalize_tags(p.get("tags")),
            "followup_ids": [], "ticket_form_id": form_id, "brand_id": brand_id,
            "initial_public": public,
        }, values={}, created=now, updated=now, generated=now)
        field_changes = self._sync_fields_from_tags(t)
        field_changes += self._apply_custom_fields(t, p.get("custom_fields", p.get("fields")))
        ctx.update_type = "Create"
        audit = self._new_audit(t, ctx, now, creating=True, custom_metadata=p.get("metadata"))
        ctx.comment = self._add_comment(t, spec, audit, author_id, public, now)
        d = t.data
        for name in ("subject", "requester_id", "assignee_id", "priority", "type", "status",
                     "tags", "group_id", "organization_id", "brand_id", "ticket_form_id"):
            if name in ("assignee_id", "group_id", "tags") and not d[name]:
                continue
            self._event(audit, "Create", name, d[name])
        self._event(audit, "Create", "custom_status_id", self.custom_status_for(d["status"]))
        for fid, _, value in field_changes:
            if value is not None:
                self._event(audit, "Create", str(fid), value)
        self.tickets[tid] = t
        if source is not None and via["source"]["rel"] == "follow_up":
            source.data["followup_ids"].append(tid)
        ctx.events = audit["events"]
        self.run_triggers(t, ctx, audit, now)
        t.audits.append(audit)
        return t, audit

    def update_ticket(self, t: TicketRec, p: Any, ctx: UpdateContext) -> dict[str, Any] | None:
        """PUT /api/v2/tickets/{id}: apply changes, add a comment, run triggers."""
        with self.atomic(t):
            return self._update_ticket(t, p, ctx)

    def _update_ticket(self, t: TicketRec, p: Any, ctx: UpdateContext) -> dict[str, Any] | None:
        if not isinstance(p, Mapping):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ticket")
        if t.data["status"] == "closed":
            closed = [{"description": "Status: closed prevents ticket update"}]
            raise ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"status": closed}})
        if p.get("safe_update") and p.get("updated_stamp") and p["updated_stamp"] != iso(t.updated):
            raise ApiError(409, {"error": "UpdateConflict",
                                 "description": "Safe Update prevented the update due to outdated ticket "
                                                "data. Please fetch the latest ticket data and try again."})
        now = self.clock.now()
        actor = ctx.actor
        ctx.update_type = "Change"
        ctx.before = self._snapshot(t)
        d = t.data
        new: dict[str, Any] = {}
        if "subject" in p:
            new["subject"] = p["subject"] if p["subject"] != "" else None
        if "priority" in p:
            new["priority"] = self._enum(p["priority"], PRIORITIES, "priority")
        if "type" in p:
            new["type"] = self._enum(p["type"], TYPES, "type")
        if "status" in p and p["status"] not in (None, ""):
            new["status"] = self._enum(p["status"], STATUSES, "status")
        if "group_id" in p:
            new["group_id"] = self._ref_in(self.groups, p["group_id"], "group_id")
        if "assignee_id" in p:
            new["assignee_id"] = self._user_ref(p["assignee_id"], "assignee_id", agent=True)
        if "requester_id" in p and p["requester_id"] not in (None, ""):
            new["requester_id"] = self._user_ref(p["requester_id"], "requester_id")
        if "brand_id" in p and p["brand_id"] not in (None, ""):
            new["brand_id"] = self._ref_in(self.brands, p["brand_id"], "brand_id")
        if "ticket_form_id" in p and p["ticket_form_id"] not in (None, ""):
            new["ticket_form_id"] = self._ref_in(self.forms, p["ticket_form_id"], "ticket_form_id")
        if "organization_id" in p:
            new["organization_id"] = self._ref_in(self.organizations, p["organization_id"], "organization_id")
        if "external_id" in p:
            new["external_id"] = None if p["external_id"] in (None, "") else str(p["external_id"])
        if "due_at" in p:
            new["due_at"] = p["due_at"]
        if "problem_id" in p:
            new["problem_id"] = _safe_int(p["problem_id"])
        spec = self._comment_spec(p, creating=False)
        if spec is not None and len(t.comments) >= COMMENT_CAP:
            raise record_invalid("base", f"Ticket comments: the limit of {COMMENT_CAP} comments per "
                                         "ticket has been reached", "TooManyComments")
        author_id = actor["id"]
        if spec is not None:
            author_id = self._user_ref(spec.get("author_id"), "author_id") or actor["id"]
        status = new.get("status", d["status"])
        assignee = new.get("assignee_id", d["assignee_id"])
        if status in ("solved", "closed") and assignee is None and actor["role"] in AGENT_ROLES:
            new["assignee_id"] = actor["id"]
        if new.get("assignee_id") and "group_id" not in new and d["group_id"] is None:
            new["group_id"] = self.users[new["assignee_id"]]["default_group_id"]
        if status == "new" and new.get("assignee_id") and "status" not in new:
            new["status"] = "open"
        tags_before = list(d["tags"])
        if "tags" in p:
            d["tags"] = normalize_tags(p["tags"])
        for tag in normalize_tags(p.get("additional_tags")):
            if tag not in d["tags"]:
                d["tags"].append(tag)
        for tag in normalize_tags(p.get("remove_tags")):
            if tag in d["tags"]:
                d["tags"].remove(tag)
        field_changes = self._sync_fields_from_tags(t) if d["tags"] != tags_before else []
        field_changes += self._apply_custom_fields(t, p.get("custom_fields", p.get("fields")))
        audit = self._new_audit(t, ctx, now, creating=False, custom_metadata=p.get("metadata"))
        if spec is not None:
            public = spec["public"] if isinstance(spec.get("public"), bool) else d["initial_public"]
            if self.users[author_id]["role"] == "end-user":
                public = True
            ctx.comment = self._add_comment(t, spec, audit, author_id, public, now)
            if public:
                d["is_public"] = True
        for name, value in new.items():
            if d.get(name) != value:
                self._event(audit, "Change", name, value, d.get(name), changed=True)
                d[name] = value
        if d["tags"] != tags_before:
            self._event(audit, "Change", "tags", d["tags"], tags_before, changed=True)
        if "status" in new and ctx.before["status"] != d["status"]:
            self._event(audit, "Change", "custom_status_id", self.custom_status_for(d["status"]),
                        self.custom_status_for(ctx.before["status"]), changed=True)
        for fid, old, value in field_changes:
            self._event(audit, "Change", str(fid), value, old, changed=True)
        if not audit["events"]:
            return None
        ctx.events = audit["events"]
        self.run_triggers(t, ctx, audit, now)
        t.updated = t.generated = now
        t.audits.append(audit)
        return audit
