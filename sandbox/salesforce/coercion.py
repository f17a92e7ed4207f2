"""Field values on write: type checks and conversions with Salesforce's errors."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.salesforce.catalog import PREFIXES
from sandbox.salesforce.errors import sf_error
from sandbox.salesforce.ids import normalize_id, parse_date, parse_datetime, sf_time
from sandbox.salesforce.soql import NUMERIC

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import ObjectView
    from sandbox.salesforce.errors import SfError


class Coercion:
    """Write-side value handling of ``SalesforceState``."""

    def coerce(self, view: ObjectView, f: Mapping[str, Any], raw: Any) -> Any:
        name, label, ftype = f["name"], f["label"], f["type"]
        if isinstance(raw, str) and raw == "" and ftype != "boolean":
            raw = None
        if raw is None:
            if ftype == "boolean":
                return False
            if not f["nillable"]:
                raise sf_error(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]",
                               [name])
            return None
        if ftype in ("id", "reference"):
            rid = normalize_id(raw)
            if rid is None:
                raise sf_error(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", [name])
            if name == "RecordTypeId":
                rt = self.records["RecordType"].get(rid)
                if rt is None or rt.get("SobjectType") != view.name or not rt.get("IsActive"):
                    raise sf_error(400, "INVALID_CROSS_REFERENCE_KEY",
                                   f"Record Type ID: this ID value isn't valid for the user: {raw}", [name])
                return rid
            rtype = PREFIXES.get(rid[:3])
            target = self.records.get(rtype or "", {}).get(rid)
            if rtype not in f["referenceTo"] or target is None or target.get("IsDeleted"):
                raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION",
                               f"{label}: id value of incorrect type: {raw}", [name])
            return rid
        if ftype == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise self._parse_error("boolean", raw)
        if ftype in NUMERIC:
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
                raise self._parse_error(ftype, raw)
            try:
                number = float(raw)
            except ValueError:
                raise self._parse_error(ftype, raw) from None
            return int(number) if ftype == "int" else number
        if ftype == "datetime":
            ts = parse_datetime(raw) if isinstance(raw, str) else None
            if ts is None:
                raise self._parse_error("datetime", raw)
            return sf_time(ts)
        if ftype == "date":
            value = parse_date(raw[:10]) if isinstance(raw, str) else None
            if value is None:
                raise self._parse_error("date", raw)
            return value
        if isinstance(raw, (dict, list)):
            raise self._parse_error("string", raw)
        value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        allowed = {p["value"] for p in f["picklistValues"]}
        if ftype == "picklist" and f["restrictedPicklist"] and value not in allowed:
            raise sf_error(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{label}: bad value for restricted picklist field: {value}", [name])
        in_bytes = (view.name, name) == ("CaseComment", "CommentBody")
        too_long = (len(value.encode()) if in_bytes else len(value)) > f["length"]
        if f["length"] and too_long:
            shown = value if len(value) <= 100 else value[:100] + "..."
            raise sf_error(400, "STRING_TOO_LONG",
                           f"{label}: data value too large: {shown} (max length={f['length']})", [name])
        if ftype == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise sf_error(400, "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [name])
        return value

    @staticmethod
    def _parse_error(kind: str, raw: Any) -> SfError:
        token = ("VALUE_STRING" if isinstance(raw, str) else "START_OBJECT" if isinstance(raw, dict)
                 else "START_ARRAY" if isinstance(raw, list) else "VALUE_TRUE" if isinstance(raw, bool)
                 else "VALUE_NUMBER_INT" if isinstance(raw, int) else "VALUE_NUMBER_FLOAT")
        return sf_error(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {kind} from {token} value "
                        f"{raw} or request may be missing a required field")

    def _changes(self, view: ObjectView, body: Any, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of sObject from the request "
                           "body: a JSON object is expected")
        chosen: dict[str, Any] = {}
        refused: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = view.field(key)
            if f is None:
                raise sf_error(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {view.name}")
            if creating and f["name"] == "Id":
                raise sf_error(400, "INVALID_FIELD", "cannot specify Id in an insert call", [])
            if not (f["createable"] if creating else f["updateable"]):
                refused.append(f["name"])
                continue
            chosen[f["name"]] = raw
        if refused:
            raise sf_error(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                           f"Unable to create/update fields: {', '.join(refused)}. Please check the security "
                           "settings of this field and verify that it is read/write for your profile or "
                           "permission set.", refused)
        return {name: self.coerce(view, view.by_lower[name.lower()], raw) for name, raw in chosen.items()}

    def _check_unique(self, view: ObjectView, rec: Mapping[str, Any]) -> None:
        for f in view.fields:
            if not f["unique"] or rec.get(f["name"]) is None:
                continue
            mine = self._match_key(f, rec[f["name"]])
            for other in self.records[view.name].values():
                if other["Id"] != rec.get("Id") and not other.get("IsDeleted") \
                        and other.get(f["name"]) is not None and self._match_key(f, other[f["name"]]) == mine:
                    raise sf_error(400, "DUPLICATE_VALUE", f"duplicate value found: {f['name']} duplicates "
                                   f"value on record with id: {other['Id']}", [])

    @staticmethod
    def _match_key(f: Mapping[str, Any], value: Any) -> Any:
        if f["type"] in ("id", "reference"):
            return normalize_id(value)
        if isinstance(value, str) and not f["caseSensitive"]:
            return value.casefold()
        return value

    def find_by(self, view: ObjectView, f: Mapping[str, Any], value: Any) -> list[dict[str, Any]]:
        key = self._match_key(f, value)
        return [r for r in self.records[view.name].values()
                if not r.get("IsDeleted") and r.get(f["name"]) is not None
                and self._match_key(f, r[f["name"]]) == key]
