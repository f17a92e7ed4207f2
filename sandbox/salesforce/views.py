"""Schema views of the org and field values as the API returns them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from sandbox.salesforce.catalog import CATALOG, ObjectView, PREFIXES
from sandbox.salesforce.constants import ENTITLEMENT_FIELDS, SOCIAL_FIELDS
from sandbox.salesforce.errors import not_found, sf_error
from sandbox.salesforce.ids import normalize_id

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import SObjectType


class SchemaViews:
    """Per-org object views and value rendering on ``SalesforceState``."""

    def view(self, name: str) -> ObjectView | None:
        if name not in self._views:
            kind = CATALOG.get(name)
            self._views[name] = self._build_view(kind) if kind is not None else None
        return self._views[name]

    def view_ci(self, name: str) -> ObjectView | None:
        canonical = next((n for n in CATALOG if n.lower() == name.lower()), None)
        return self.view(canonical) if canonical else None

    def _build_view(self, kind: SObjectType) -> ObjectView | None:
        ents = bool(self.settings["entitlement_management"])
        if not ents and kind.name in ("Entitlement", "SlaProcess"):
            return None
        fields = []
        for f in kind.fields:
            if f["custom"] and f["name"] in SOCIAL_FIELDS and not self.settings["custom_fields"]:
                continue
            if kind.name == "Case" and f["name"] in ENTITLEMENT_FIELDS and not ents:
                continue
            fields.append(f)
        rels = {f["relationshipName"].lower(): f for f in fields
                if f["type"] == "reference" and f["relationshipName"]}
        children = {c[2].lower(): c for c in kind.children
                    if c[2] and (ents or c[1] != "EntitlementId") and (ents or c[0] != "Entitlement")}
        return ObjectView(kind, fields, {f["name"].lower(): f for f in fields}, rels,
                          children)  # type: ignore[arg-type]

    def set_settings(self, changes: Mapping[str, Any]) -> None:
        for key, value in changes.items():
            if key in ("custom_fields", "entitlement_management"):
                self.settings[key] = bool(value)
            elif key == "query_page_size":
                self.settings[key] = max(1, int(value))
            elif key == "default_case_owner":
                self.settings[key] = normalize_id(value) or self.settings[key]
            elif key == "refresh_token_rotation":
                if not isinstance(value, bool):
                    raise ValueError("refresh_token_rotation is true or false")
                self.settings[key] = value
            elif key == "refresh_token_expires_in":
                self.settings[key] = None if value is None else max(1, int(value))
            else:
                raise KeyError(key)
        self._views.clear()

    # ----------------------------------------------------------- values

    def value(self, kind: str, rec: Mapping[str, Any], name: str) -> Any:
        """A field's value as the API shows it (formula-like fields computed)."""
        if kind in ("Contact", "User") and name == "Name":
            return " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if kind == "Case" and name in ("ContactPhone", "ContactMobile", "ContactEmail", "ContactFax"):
            _, contact = self.related("Case", rec, "ContactId")
            source = {"ContactPhone": "Phone", "ContactMobile": "MobilePhone",
                      "ContactEmail": "Email"}.get(name)
            return contact.get(source) if contact is not None and source else None
        if kind == "Entitlement" and name == "Status":
            today = datetime.fromtimestamp(self.clock.now(), timezone.utc).date().isoformat()
            if rec.get("StartDate") and today < rec["StartDate"]:
                return "Inactive"
            if rec.get("EndDate") and today > rec["EndDate"]:
                return "Expired"
            return "Active"
        if kind == "CaseComment" and name == "IsNotificationSelected":
            return None
        return rec.get(name)

    def related(self, kind: str, rec: Mapping[str, Any],
                name: str) -> tuple[str | None, dict[str, Any] | None]:
        rid = rec.get(name)
        if not isinstance(rid, str):
            return None, None
        rtype = PREFIXES.get(rid[:3])
        target = self.records.get(rtype or "", {}).get(rid)
        if target is None or target.get("IsDeleted") or self.view(rtype or "") is None:
            return None, None
        return rtype, target

    def attributes(self, kind: str, rid: str, version: str) -> dict[str, Any]:
        return {"type": kind, "url": f"/services/data/v{version}/sobjects/{kind}/{rid}"}

    def render(self, kind: str, rec: Mapping[str, Any], version: str,
               only: Iterable[str] | None = None) -> dict[str, Any]:
        view = self.view(kind)
        assert view is not None
        out: dict[str, Any] = {"attributes": self.attributes(kind, rec["Id"], version)}
        wanted = None if only is None else {n.lower() for n in only}
        for f in view.fields:
            if wanted is None or f["name"].lower() in wanted:
                out[f["name"]] = self.value(kind, rec, f["name"])
        return out

    def must_view(self, name: str) -> ObjectView:
        view = self.view(name)
        if view is None:
            raise not_found()
        return view

    def live(self, kind: str, rid: str) -> dict[str, Any]:
        norm = normalize_id(rid)
        if norm is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {rid}")
        rec = self.records[kind].get(norm)
        if rec is None:
            raise not_found()
        if rec.get("IsDeleted"):
            raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return rec
