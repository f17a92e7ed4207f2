"""Record writes: insert, update, delete, upsert, assignment, and allOrNone snapshots."""
from __future__ import annotations

import copy
from typing import Any, Mapping

from sandbox.salesforce.constants import API_VERSION
from sandbox.salesforce.errors import not_found, sf_error, SfError
from sandbox.salesforce.ids import normalize_id, sf_time


class Writes:
    """Record writes on ``SalesforceState``."""

    def insert(self, kind: str, body: Any, user: str, auto_assign: str | None = None) -> str:
        view = self.must_view(kind)
        if not view.kind.createable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {kind}")
        changes = self._changes(view, body, creating=True)
        rec: dict[str, Any] = {}
        for f in view.fields:
            if f["type"] == "boolean" and f["name"] != "IsNotificationSelected":
                rec[f["name"]] = False
            elif f["createable"] and f["defaultedOnCreate"] and f["defaultValue"] is not None:
                rec[f["name"]] = f["defaultValue"]
        rec.update(changes)
        if view.field("OwnerId") is not None and rec.get("OwnerId") is None:
            rec["OwnerId"] = user
        missing = [f["name"] for f in view.fields if f["createable"] and not f["nillable"]
                   and not f["defaultedOnCreate"] and f["type"] != "boolean" and rec.get(f["name"]) is None]
        if missing:
            raise sf_error(400, "REQUIRED_FIELD_MISSING",
                           f"Required fields are missing: [{', '.join(missing)}]",
                           missing)
        self._check_unique(view, rec)
        now = self.clock.now()
        if kind == "Case":
            rec["CaseNumber"] = f"{next(self.case_numbers):08d}"
            self._case_status(rec, now)
            if rec.get("EntitlementId") and not rec.get("SlaStartDate"):
                rec["SlaStartDate"] = sf_time(now)
            self._assign(rec, auto_assign)
        stamp = sf_time(now)
        rec.update({"Id": self.ids.next(view.kind.prefix), "CreatedDate": stamp, "CreatedById": user,
                    "LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        if view.field("IsDeleted") is not None:
            rec["IsDeleted"] = False
        self.records[kind][rec["Id"]] = rec
        self._after_write(kind, rec, user)
        return rec["Id"]

    def update(self, kind: str, rid: str, body: Any, user: str,
               auto_assign: str | None = "FALSE") -> dict[str, Any]:
        """``auto_assign`` is the request's Sforce-Auto-Assign header: the REST API runs the
        active Case assignment rule on updates too when it is absent (None) or TRUE, as on
        inserts. Internal writes (flows, the control API, the agent UI) pass FALSE."""
        view = self.must_view(kind)
        rec = self.live(kind, rid)
        if not view.kind.updateable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {kind}")
        changes = self._changes(view, body, creating=False)
        new = {**rec, **changes}
        self._check_unique(view, new)
        now = self.clock.now()
        if kind == "Case":
            if "Status" in changes:
                self._case_status(new, now, rec.get("IsClosed", False))
            if changes.get("EntitlementId") and not new.get("SlaStartDate"):
                new["SlaStartDate"] = sf_time(now)
            self._assign(new, auto_assign)
        stamp = sf_time(now)
        new.update({"LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        was_published = bool(rec.get("IsPublished"))
        rec.clear()
        rec.update(new)
        self._after_write(kind, rec, user, was_published)
        return rec

    def delete(self, kind: str, rid: str, user: str) -> None:
        view = self.must_view(kind)
        rec = self.live(kind, rid)
        if not view.kind.deletable:
            raise sf_error(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {kind}")
        stamp = sf_time(self.clock.now())
        rec.update({"IsDeleted": True, "_deleted_at": stamp, "SystemModstamp": stamp})
        for child, fname, _rel, cascade in view.kind.children:
            if cascade and child in self.records:
                for other in self.records[child].values():
                    if other.get(fname) == rec["Id"] and not other.get("IsDeleted"):
                        other.update({"IsDeleted": True, "_deleted_at": stamp, "SystemModstamp": stamp})
        if kind == "CaseComment":
            self._touch_case(rec.get("ParentId"), user, notify=False)

    def upsert(self, kind: str, ext: str, value: str, body: Any, user: str, auto_assign: str | None,
               version: str = API_VERSION, update_only: bool = False) -> tuple[str, bool]:
        """(id, created) for PATCH /sobjects/{kind}/{ext}/{value}; 300 on several matches."""
        view = self.must_view(kind)
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        if isinstance(body, dict) and any(k.lower() == f["name"].lower() for k in body):
            raise sf_error(400, "INVALID_FIELD",
                           f"The external ID field {f['name']} should not be specified in "
                           "the request body", [f["name"]])
        matches = self.find_by(view, f, value)
        if len(matches) > 1:
            raise SfError(300, [f"/services/data/v{version}/sobjects/{kind}/{m['Id']}" for m in matches])
        if matches:
            self.update(kind, matches[0]["Id"], body, user, auto_assign)
            return matches[0]["Id"], False
        if update_only or f["name"] == "Id":
            raise not_found()
        data = dict(body) if isinstance(body, dict) else body
        if isinstance(data, dict):
            data[f["name"]] = value
        return self.insert(kind, data, user, auto_assign), True

    def _case_status(self, rec: dict[str, Any], now: float, was_closed: bool = False) -> None:
        closed = rec.get("Status") == "Closed"
        rec["IsClosed"] = closed
        if closed and not was_closed:
            rec["ClosedDate"] = sf_time(now)
        elif not closed:
            rec["ClosedDate"] = None

    def _assign(self, rec: dict[str, Any], header: str | None) -> None:
        """Case assignment rules: Sforce-Auto-Assign TRUE (default), FALSE, or a rule id."""
        value = (header or "").strip()
        if value.upper() == "FALSE":
            return
        rules = self.records["AssignmentRule"]
        if value == "" or value.upper() == "TRUE":
            rule = next((r for r in rules.values() if r.get("Active") and r.get("SobjectType") == "Case"),
                        None)
        else:
            rid = normalize_id(value)
            rule = rules.get(rid or "")
            if rule is None or rule.get("SobjectType") != "Case":
                return
        for entry in self.rule_entries.get(rule["Id"], []) if rule else []:
            if all(str(rec.get(name) or "").lower() == str(want).lower() for name, want in entry["criteria"]):
                rec["OwnerId"] = entry["assign_to"]
                return
        rec["OwnerId"] = self.settings["default_case_owner"]

    def _touch_case(self, case_id: Any, user: str, notify: bool) -> None:
        """A comment's write moves its Case's timestamps; only the Socialdesk_Case_Comment_Published
        flow (salesforce/force-app/.../flows) re-saves the Case so that the Case flow sends its
        outbound message, and it runs only for a comment saved as published or changed to
        published (IsPublished = true, doesRequireRecordChangedToMeetCriteria)."""
        case = self.records["Case"].get(case_id) if isinstance(case_id, str) else None
        if case is None or case.get("IsDeleted"):
            return
        stamp = sf_time(self.clock.now())
        case.update({"LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
        if notify:
            self._notify_case(case)

    def _after_write(self, kind: str, rec: Mapping[str, Any], user: str, was_published: bool = False) -> None:
        if kind == "Case":
            self._notify_case(rec)
        elif kind == "CaseComment":
            published_now = bool(rec.get("IsPublished")) and not was_published
            self._touch_case(rec.get("ParentId"), user, notify=published_now)

    # ----------------------------------------------------------- transactions (allOrNone)

    def snapshot(self) -> tuple[dict[str, Any], int]:
        return copy.deepcopy(self.records), len(self.om_queue)

    def restore(self, snap: tuple[dict[str, Any], int]) -> None:
        self.records, queued = snap
        del self.om_queue[queued:]
