"""Users and their identities: create, update, search, and their JSON."""
from __future__ import annotations

import re
import secrets
from typing import Any, Callable, Iterator, Mapping

from sandbox.zendesk.constants import AGENT_ROLES, IDENTITY_TYPES
from sandbox.zendesk.helpers import bad_request, iso, normalize_tags, not_found, record_invalid


class Users:
    """Users and identities of ``ZendeskState`` (the data lives there)."""

    def _new_user(self, spec: Mapping[str, Any], now: float) -> int:
        uid = self.ids.next()
        role = spec.get("role") or "end-user"
        agent = role in AGENT_ROLES
        self.users[uid] = {
            "id": uid, "name": spec["name"], "email": spec.get("email"),
            "_created": now, "_updated": now, "phone": spec.get("phone"),
            "locale_id": spec.get("locale_id") or 1, "organization_id": spec.get("organization_id"),
            "role": role, "verified": bool(spec.get("verified", False)),
            "external_id": spec.get("external_id"), "tags": normalize_tags(spec.get("tags")),
            "details": spec.get("details"), "notes": spec.get("notes"),
            "role_type": spec.get("role_type", 0 if agent else None),
            "custom_role_id": spec.get("custom_role_id"), "default_group_id":
                spec.get("default_group_id", self.default_group_id if agent else None),
            "user_fields": dict(spec.get("user_fields") or {}),
        }
        self._index_external_id(uid)
        if spec.get("email"):
            self._add_identity(uid, "email", spec["email"], now, primary=True,
                               verified=bool(spec.get("verified", False)))
        return uid

    def user_json(self, uid: int, me: bool = False) -> dict[str, Any]:
        u = self.users[uid]
        agent = u["role"] in AGENT_ROLES
        out: dict[str, Any] = {
            "id": uid, "url": self.url(f"users/{uid}.json"), "name": u["name"], "email": u["email"],
            "created_at": iso(u["_created"]), "updated_at": iso(u["_updated"]),
            "time_zone": "UTC", "iana_time_zone": "Etc/UTC", "phone": u["phone"],
            "shared_phone_number": None, "photo": None, "locale_id": u["locale_id"],
            "locale": "en-US", "organization_id": u["organization_id"], "role": u["role"],
            "verified": u["verified"]}
        if me:
            out["authenticity_token"] = secrets.token_urlsafe(64)
        out.update({
            "external_id": u["external_id"], "tags": list(u["tags"]), "alias": None,
            "active": True, "shared": False, "shared_agent": False, "last_login_at": None,
            "two_factor_auth_enabled": None if agent else False, "signature": None,
            "details": u["details"], "notes": u["notes"], "role_type": u["role_type"],
            "custom_role_id": u["custom_role_id"], "moderator": agent,
            "ticket_restriction": None if agent else "requested", "only_private_comments": False,
            "restricted_agent": not agent, "suspended": False,
            "default_group_id": u["default_group_id"], "report_csv": agent,
            "user_fields": dict(u["user_fields"])})
        return out

    def get_user(self, uid: Any) -> dict[str, Any]:
        try:
            return self.users[int(uid)]
        except (KeyError, TypeError, ValueError) as err:
            raise not_found() from err

    def _index_external_id(self, uid: int) -> None:
        external_id = self.users[uid]["external_id"]
        if external_id is not None:
            uids = self._users_by_external.setdefault(str(external_id).lower(), [])
            if uid not in uids:
                uids.append(uid)

    def _identities_keyed(self, kind: str, key: str) -> Iterator[dict[str, Any]]:
        """Identities of ``kind`` whose normalised value is ``key``, oldest first."""
        for iid in self._identities_by_key.get((kind, key), ()):
            ident = self.identities.get(iid)
            if ident is not None and self._identity_key(kind, ident["value"]) == key:
                yield ident

    def find_user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        for ident in self._identities_keyed("email", wanted):
            if ident["value"].lower() == wanted:
                return self.users.get(ident["user_id"])
        return None

    def find_users_by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        wanted = external_id.lower()
        found = (self.users.get(uid) for uid in sorted(self._users_by_external.get(wanted, ())))
        return [u for u in found
                if u is not None and u["external_id"] is not None and str(u["external_id"]).lower() == wanted]

    def _add_identity(self, uid: int, kind: str, value: str, now: float, primary: bool = False,
                      verified: bool = False) -> dict[str, Any]:
        iid = self.ids.next()
        ident = {"id": iid, "user_id": uid, "type": kind, "value": value, "verified": verified,
                 "primary": primary, "_created": now, "_updated": now}
        self.identities[iid] = ident
        self._identities_by_key.setdefault((kind, self._identity_key(kind, value)), []).append(iid)
        self._identities_of_user.setdefault(uid, []).append(iid)
        return ident

    def identity_json(self, ident: Mapping[str, Any]) -> dict[str, Any]:
        out = {"url": self.url(f"users/{ident['user_id']}/identities/{ident['id']}.json"),
               "id": ident["id"], "user_id": ident["user_id"], "type": ident["type"],
               "value": ident["value"], "verified": ident["verified"], "primary": ident["primary"],
               "created_at": iso(ident["_created"]), "updated_at": iso(ident["_updated"])}
        if ident["type"] == "email":
            out.update({"undeliverable_count": 0, "deliverable_state": "deliverable"})
        return out

    def user_identities(self, uid: int) -> list[dict[str, Any]]:
        found = (self.identities.get(iid) for iid in self._identities_of_user.get(uid, ()))
        return sorted((i for i in found if i is not None and i["user_id"] == uid), key=lambda i: i["id"])

    @staticmethod
    def _identity_key(kind: str, value: str) -> str:
        value = value.strip().lower()
        return value.lstrip("@") if kind == "twitter" else value

    def ensure_identity(self, uid: int, kind: Any, value: Any, now: float) -> dict[str, Any]:
        """Add an identity unless the user has it; another user holding it is a 422."""
        own = self._check_identity_free(kind, value, uid)
        if own is not None:
            return own
        primary = not any(i["type"] == kind for i in self.user_identities(uid))
        if kind == "email" and self.users[uid]["email"] is None:
            self.users[uid]["email"] = value
        return self._add_identity(uid, kind, value, now, primary=primary)

    def create_user(self, spec: Mapping[str, Any], now: float) -> int:
        """POST /users semantics: validate, then create the user and its identities."""
        with self.atomic():
            return self._create_user(spec, now)

    def _create_user(self, spec: Mapping[str, Any], now: float) -> int:
        if not isinstance(spec, Mapping):
            raise bad_request("InvalidParameter", "user must be an object")
        email = spec.get("email") or None
        name = spec.get("name") or (email.split("@")[0] if isinstance(email, str) else None)
        if not name:
            raise record_invalid("name", "Name: is too short (minimum one character)", "ValueTooShort")
        role = spec.get("role") or "end-user"
        if role not in ("end-user", "agent", "admin"):
            raise record_invalid("role", f"Role: {role} is not valid")
        if email is not None and self.find_user_by_email(str(email)):
            raise record_invalid("email", f"Email: {email} is already being used by another user",
                                 "DuplicateValue")
        external_id = spec.get("external_id")
        if external_id not in (None, "") and self.find_users_by_external_id(str(external_id)):
            raise record_invalid("external_id", "External: has already been taken", "DuplicateValue")
        for ident in spec.get("identities") or []:
            if isinstance(ident, Mapping):
                self._check_identity_free(ident.get("type"), ident.get("value"))
        uid = self._new_user({**spec, "name": name, "role": role, "email": email,
                              "external_id": None if external_id in (None, "") else str(external_id)},
                             now)
        for ident in spec.get("identities") or []:
            if isinstance(ident, Mapping):
                self.ensure_identity(uid, ident.get("type"), ident.get("value"), now)
        return uid

    def _check_identity_free(self, kind: Any, value: Any,
                             uid: int | None = None) -> dict[str, Any] | None:
        """422 unless ``kind``/``value`` is a valid identity that no user but ``uid`` holds;
        returns ``uid``'s own matching identity, if it has one."""
        if kind not in IDENTITY_TYPES:
            raise record_invalid("type", f"Type: {kind} is not valid")
        if not isinstance(value, str) or not value.strip():
            raise record_invalid("value", "Value: cannot be blank", "BlankValue")
        for ident in self._identities_keyed(kind, self._identity_key(kind, value)):
            if ident["type"] == kind:
                if ident["user_id"] == uid:
                    return ident
                raise record_invalid("value", f"Value: {value} is already being used by another user",
                                     "DuplicateValue")
        return None

    def update_user(self, uid: int, spec: Mapping[str, Any], now: float) -> None:
        with self.atomic(uid=uid):
            self._update_user(uid, spec, now)

    def _update_user(self, uid: int, spec: Mapping[str, Any], now: float) -> None:
        user = self.users[uid]
        for key in ("name", "phone", "details", "notes", "locale_id"):
            if key in spec and spec[key] not in (None, ""):
                user[key] = spec[key]
        if "verified" in spec:
            user["verified"] = bool(spec["verified"])
        if spec.get("role") in ("end-user", "agent", "admin"):
            user["role"] = spec["role"]
        if "tags" in spec:
            user["tags"] = normalize_tags(spec["tags"])
        if isinstance(spec.get("user_fields"), Mapping):
            user["user_fields"].update(spec["user_fields"])
        if spec.get("external_id") not in (None, ""):
            user["external_id"] = str(spec["external_id"])
            self._index_external_id(uid)
        if spec.get("email"):
            self.ensure_identity(uid, "email", str(spec["email"]), now)
        for ident in spec.get("identities") or []:
            if isinstance(ident, Mapping):
                self.ensure_identity(uid, ident.get("type"), ident.get("value"), now)
        user["_updated"] = now

    def search_users(self, query: str) -> list[dict[str, Any]]:
        """``external_id:X``, ``email:X``, ``name:X``, ``twitter:X``, ``role:X`` or free text."""
        filters: list[Callable[[dict[str, Any]], bool]] = []
        for token in re.findall(r'(\w+:"[^"]*"|\w+:\S+|"[^"]*"|\S+)', query.strip()):
            key, _, value = token.partition(":") if re.match(r"^\w+:", token) else ("", "", token)
            value = value.strip('"').lower()
            if key == "external_id":
                filters.append(lambda u, v=value: str(u["external_id"] or "").lower() == v)
            elif key == "email":
                filters.append(lambda u, v=value: any(
                    i["type"] == "email" and i["value"].lower() == v for i in self.user_identities(u["id"])))
            elif key == "name":
                filters.append(lambda u, v=value: v in u["name"].lower())
            elif key == "role":
                filters.append(lambda u, v=value: u["role"] == v)
            elif key in ("twitter", "facebook", "phone_number"):
                filters.append(lambda u, v=value, k=key: any(
                    i["type"] == k and self._identity_key(k, i["value"]) == v.lstrip("@")
                    for i in self.user_identities(u["id"])))
            else:
                text = (key + ":" + value) if key else value
                filters.append(lambda u, v=text: self._free_text_match(u, v))
        if not filters:
            return []
        return [u for uid, u in sorted(self.users.items()) if all(f(u) for f in filters)]

    def _free_text_match(self, user: dict[str, Any], text: str) -> bool:
        if text in user["name"].lower() or text == str(user["external_id"] or "").lower():
            return True
        bare = text.lstrip("@")
        return any(i["value"].lower() == text or self._identity_key(i["type"], i["value"]) == bare
                   for i in self.user_identities(user["id"]))
