"""Zendesk Support API stand-in that real zenpy (and the daemon) talk to unchanged.

The rule is fidelity to the far side: field names, JSON types (ids are integers),
status codes, error bodies, pagination envelopes and headers follow Zendesk's Support
API OAS and the zenpy cassettes recorded against real accounts
(shared/contracts/zendesk). Where neither source says what Zendesk does, the choice made
here is listed in ``FIDELITY_NOTES`` so it can be carried into the fidelity table.

State lives in memory in one ``ZendeskState`` (``app.extensions["sandbox_state"]``),
guarded by a single re-entrant lock. Triggers fire synchronously inside the write that
caused them; their webhook notifications are sent, signed, from a background thread.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import http.client
import itertools
import json
import math
import queue
import re
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

from flask import Flask, Response, g, request
from ulid import ULID
from werkzeug.exceptions import HTTPException

from sandbox.common import (
    Chaos,
    ChaosFault,
    Clock,
    HttpError,
    Outage,
    RateLimits,
    add_pending_headers,
    cut_connection,
    drop_response,
    error_response,
    from_agent_ui,
    hold,
    is_chaos_spec,
    match_fault,
    retry_after_seconds,
)

JSON_CT = "application/json; charset=utf-8"
WEBHOOKS_CT = "application/json"
TEXT_CT = "text/plain; charset=utf-8"

# family -> (limit, seconds). Figures from LIMITS.md §1.1 (Enterprise plan, no add-ons).
LIMIT_DEFAULTS: dict[str, tuple[int, int]] = {
    "account": (700, 60),
    "incremental": (10, 60),
    "tickets_index": (100, 60),
    "ticket_create": (300, 60),
    "ticket_updates": (100, 60),
    "per_ticket_updates": (30, 600),
    "user_updates": (5, 60),
    "webhooks": (100, 60),
}
# Plan -> requests per minute for the account (LIMITS.md §1.1, Suite/Support plans).
PLAN_LIMITS: dict[str, int] = {"essential": 10, "team": 200, "growth": 400, "professional": 400,
                               "enterprise": 700, "enterprise_plus": 2500}
DEFAULT_PLAN = "enterprise"
# The High Volume add-on raises a qualifying plan TO 2,500/min, ticket updates to 300/min and
# incremental exports to 30/min; Enterprise Plus has it built in.
HIGH_VOLUME_PLANS = frozenset({"growth", "professional", "enterprise", "enterprise_plus"})
HIGH_VOLUME_FIGURES: dict[str, tuple[int, int]] = {"account": (2500, 60), "ticket_updates": (300, 60),
                                                   "incremental": (30, 60)}
INCREMENTAL_LAG = 60
INCREMENTAL_PAGE = 1000
PAGE_MAX = 100
BULK_MAX = 100
COMMENT_CAP = 5000
MAX_INFLIGHT_JOBS = 30
JOB_SECONDS = 5.0
IDEMPOTENCY_TTL = 2 * 3600
WEBHOOK_TIMEOUT = 12.0
REQUEST_LOG_MAX = 5000

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("question", "incident", "problem", "task")
TYPE_IDS = {"question": 1, "incident": 2, "problem": 3, "task": 4}
AGENT_ROLES = ("agent", "admin")
VIA_API_ID = 5
WEBHOOK_CONTENT_TYPES = {"json": "application/json; charset=utf-8",
                         "xml": "application/xml; charset=utf-8",
                         "form_encoded": "application/x-www-form-urlencoded; charset=utf-8"}
IDENTITY_TYPES = ("email", "twitter", "facebook", "google", "phone_number", "agent_forwarding",
                  "any_channel", "foreign", "sdk")

FORBIDDEN_BODY = {"error": "Forbidden",
                  "description": "You do not have access to this page. Please contact the account "
                                 "owner of this help desk for further help."}
NOT_FOUND_BODY = {"error": "RecordNotFound", "description": "Not found"}

FIDELITY_NOTES: tuple[str, ...] = (
    "too-recent incremental start_time: 422 InvalidValue 'Too recent start_time. Use a start_time "
    "older than 1 minute' (public clients show 422 + the 5-minute-era wording; 1-minute text assumed)",
    "time-based exports: end_time = last timestamp, +1 when end_of_stream is false (as recorded); "
    "an empty page answers end_time = start_time (assumed)",
    "ticket_events: comment children in the documented sideload shape; other children carry the "
    "field name as key (zenpy sample); top-level via is a display string ('Web service', 'Rule')",
    "cursor export: before_cursor/before_url always null; an empty page after a cursor echoes it",
    "429 bodies are invented plain text; windows are fixed windows on the sandbox clock",
    "webhooks API counts against its own 100/min bucket only and also sends ratelimit-* headers",
    "create responses carry generated_timestamp 0 (as recorded 2024); reads carry the real value",
    "first comment author defaults to the requester on create, to the caller on update; comments "
    "authored by end users are always public",
    "custom fields: unknown ids and invalid drop-down values are dropped (as reported), a "
    "non-numeric integer answers 422 (text invented); integer/decimal values are strings",
    "tags are lower-cased and split on whitespace; drop-down fields and their tags stay in sync",
    "solving without an assignee assigns the acting agent; follow-ups set via.source.rel follow_up",
    "jobs: working at the 1st poll, completed at the 2nd, or by themselves after 5 s of sandbox time",
    "webhooks: JSON:API error bodies, invocation statuses success/terminated/pending/retrying, "
    "short fixed retry delays, no circuit breaker, signature timestamp on the wall clock",
    "placeholders are JSON-escaped for json webhooks; unknown placeholders render empty",
    "triggers: a subset of conditions/actions; unknown condition fields never match",
    "not modelled: search API, attachments/uploads, email, automations, SLA timers, CCs/followers",
    "outage (control API): 503 {error: ServiceUnavailable} with Retry-After when the end is known "
    "(wording and header assumed); chaos 429s reuse the account limit's text",
)


# ---------------------------------------------------------------------------- helpers


class ApiError(HttpError):
    """An error answer in Zendesk's own shape (status, body, headers)."""

    JSON_CT = JSON_CT


def not_found() -> ApiError:
    return ApiError(404, dict(NOT_FOUND_BODY))


def _found(table: Mapping[Any, Any], key: Any) -> Any:
    """``table[key]``, or the RecordNotFound 404 when there is no such record."""
    record = table.get(key)
    if record is None:
        raise not_found()
    return record


def record_invalid(field_name: str, description: str, error: str | None = "InvalidValue",
                   **extra: Any) -> ApiError:
    item: dict[str, Any] = {"description": description}
    if error is not None:
        item["error"] = error
    item.update(extra)
    return ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                          "details": {field_name: [item]}})


def bad_request(error: str, description: str) -> ApiError:
    return ApiError(400, {"error": error, "description": description})


def webhook_error(status: int, code: str, title: str, detail: str) -> ApiError:
    return ApiError(status, {"errors": [{"code": code, "title": title, "detail": detail}]},
                    content_type=WEBHOOKS_CT)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ns(ts: float) -> str:
    whole = int(ts)
    nanos = min(int((ts - whole) * 1e9), 999_999_999)
    return f"{datetime.fromtimestamp(whole, timezone.utc):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cursor_token(key: Any) -> str:
    """An opaque cursor like Zendesk's: base64 of ``{"o": order, "v": position}``."""
    return _b64(json.dumps({"o": "id", "v": key}))


def _unb64(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), validate=False).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request("InvalidPaginationParameter", "invalid cursor") from err


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    return int(value)


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def normalize_tags(values: Any) -> list[str]:
    """Zendesk tags: lower-cased, split on whitespace, de-duplicated, order kept."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for tag in str(value).lower().split():
            if tag not in out:
                out.append(tag)
    return out


def html_body(text: str) -> str:
    """Render a plain comment body the way the recordings show Zendesk does."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [""]
    rendered = []
    for paragraph in paragraphs:
        escaped = (paragraph.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   .replace('"', "&quot;"))
        rendered.append(f'<p dir="auto">{escaped.replace(chr(10), chr(10) + "<br>")}</p>')
    return f'<div class="zd-comment" dir="auto">{chr(10).join(rendered)}</div>'


def strip_html(markup: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", markup)
    text = re.sub(r"</p>\s*<p[^>]*>", "\n\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&#39;", "'").replace("&amp;", "&")).strip()


class _Ids:
    """14-digit integer ids stepping by 128, like Zendesk's (audit ...244371, events +128)."""

    def __init__(self, base: int) -> None:
        self._base = base
        self._count = itertools.count()

    def next(self) -> int:
        return self._base + 128 * next(self._count)


# ---------------------------------------------------------------------------- records


@dataclass
class TicketRec:
    """One ticket: wire fields plus what is needed to render comments, audits, exports."""

    id: int
    data: dict[str, Any]
    values: dict[int, Any]
    created: float
    updated: float
    generated: float
    comments: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False


@dataclass
class Job:
    """A bulk ticket job: ``queued`` → ``working`` → ``completed`` on successive polls."""

    id: str
    kind: str
    items: list[Any]
    actor_id: int
    client: dict[str, str]
    created: float
    status: str = "queued"
    progress: int | None = None
    done: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None


@dataclass
class Delivery:
    """A webhook invocation waiting for the dispatcher thread."""

    invocation_id: str
    webhook_id: str
    method: str
    url: str
    headers: dict[str, str]
    body: str
    secret: str
    generation: int


@dataclass
class UpdateContext:
    """Who writes, from where, and what triggers need to know about the write."""

    actor: dict[str, Any]
    client: dict[str, str]
    update_type: str = "Change"
    comment: dict[str, Any] | None = None
    before: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[tuple[dict[str, Any], Any, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------- state


class ZendeskState:
    """The whole account in memory. Every public method expects ``self.lock`` held."""

    def __init__(self, base_url: str, subdomain: str, settings: Mapping[str, Any]) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url.rstrip("/")
        self.subdomain = subdomain
        self.clock = Clock()
        self.limits = RateLimits(dict(LIMIT_DEFAULTS))
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self.account_id = 10_000_000 + secrets.randbelow(89_999_999)
        self._id_base = 10**13 + secrets.randbelow(10**11) * 128
        self.api_token = secrets.token_urlsafe(30)
        self.agent_token = secrets.token_urlsafe(30)
        self.api_oauth_token = secrets.token_hex(32)
        self.agent_oauth_token = secrets.token_hex(32)
        self.api_email = str(settings.get("api_email", "socialdesk-api@sandbox.example.com"))
        self.agent_email = str(settings.get("agent_email", "alex.agent@sandbox.example.com"))
        self.generation = 0
        self.dispatcher = WebhookDispatcher(self)
        self.reset()

    # ----------------------------------------------------------- seed / reset

    def reset(self) -> None:
        """Forget everything but the credentials; seeds come back with the same ids."""
        self.generation += 1
        self.clock.reset()
        self.limits.reset()
        self.plan, self.high_volume = DEFAULT_PLAN, False
        self.max_inflight_jobs = MAX_INFLIGHT_JOBS
        self.chaos.clear()
        self.chaos.reseed(self.chaos.seed)
        self.outage.clear()
        self.ids = _Ids(self._id_base)
        self.nice_ids = itertools.count(1)
        self.users: dict[int, dict[str, Any]] = {}
        self.identities: dict[int, dict[str, Any]] = {}
        # Lookup indexes, as the real service has: entries are only ever added, and each
        # hit is checked against the record, so a rolled-back write leaves nothing wrong.
        self._users_by_external: dict[str, list[int]] = {}
        self._identities_by_key: dict[tuple[str, str], list[int]] = {}
        self._identities_of_user: dict[int, list[int]] = {}
        self.tickets: dict[int, TicketRec] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.brands: dict[int, dict[str, Any]] = {}
        self.forms: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.custom_roles: dict[int, dict[str, Any]] = {}
        self.custom_statuses: dict[str, int] = {}
        self.fields: dict[int, dict[str, Any]] = {}
        self.sla_policies: dict[int, dict[str, Any]] = {}
        self.triggers: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.invocations: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.request_log: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._seed()

    def _seed(self) -> None:
        now = self.clock.now()
        self.trigger_category_id = str(self.ids.next())
        admin_role = self.ids.next()
        staff_role = self.ids.next()
        for role_id, name, role_type, desc in (
                (admin_role, "Admin", 4, "Can manage all settings, except billing"),
                (staff_role, "Staff", 0, "Can edit tickets within their groups")):
            self.custom_roles[role_id] = {"id": role_id, "name": name, "description": desc,
                                          "role_type": role_type, "_created": now}
        org = self.ids.next()
        self.organizations[org] = {"id": org, "name": "Sandbox Inc", "_created": now}
        social = self.ids.next()
        escalations = self.ids.next()
        for gid, name, default in ((social, "Social care", True), (escalations, "Escalations", False)):
            self.groups[gid] = {"id": gid, "name": name, "description": "", "default": default,
                                "is_public": True, "deleted": False, "_created": now}
        self.default_group_id = social
        for status in STATUSES[:-1]:
            self.custom_statuses[status] = self.ids.next()
        form = self.ids.next()
        brand = self.ids.next()
        self.default_form_id, self.default_brand_id = form, brand
        self.forms[form] = {"id": form, "name": "Default Ticket Form", "_created": now}
        self.brands[brand] = {"id": brand, "name": "Sandbox", "_created": now}
        for position, (kind, title) in enumerate((
                ("subject", "Subject"), ("description", "Description"), ("status", "Status"),
                ("tickettype", "Type"), ("priority", "Priority"), ("group", "Group"),
                ("assignee", "Assignee")), start=1):
            fid = self.ids.next()
            self.fields[fid] = self._field_record(fid, kind, title, position, now, removable=False)
        self.seed_fields: dict[str, int] = {}
        for key, kind, title, options in (
                ("social_network", "tagger", "Social network",
                 [("X", "x"), ("Facebook", "facebook"), ("Instagram", "instagram")]),
                ("social_post_url", "text", "Social post URL", None),
                ("social_followers", "integer", "Social followers", None)):
            fid = self.ids.next()
            record = self._field_record(fid, kind, title, 9999, now, removable=True)
            if options:
                record["custom_field_options"] = [
                    {"id": self.ids.next(), "name": name, "raw_name": name, "value": value,
                     "default": False} for name, value in options]
            self.fields[fid] = record
            self.seed_fields[key] = fid
        self.api_user_id = self._new_user({
            "name": "Socialdesk Integration", "email": self.api_email, "role": "admin",
            "verified": True, "organization_id": org, "custom_role_id": admin_role,
            "role_type": 4, "default_group_id": social}, now)
        self.agent_user_id = self._new_user({
            "name": "Alex Agent", "email": self.agent_email, "role": "agent", "verified": True,
            "organization_id": org, "custom_role_id": staff_role, "role_type": 0,
            "default_group_id": social}, now)

    def info(self) -> dict[str, Any]:
        return {"subdomain": self.subdomain, "account_id": self.account_id,
                "api_email": self.api_email, "api_token": self.api_token,
                "api_oauth_token": self.api_oauth_token, "api_user_id": self.api_user_id,
                "agent_email": self.agent_email, "agent_token": self.agent_token,
                "agent_oauth_token": self.agent_oauth_token, "agent_user_id": self.agent_user_id,
                "ticket_fields": dict(self.seed_fields),
                "groups": {g["name"]: gid for gid, g in self.groups.items()},
                "brand_id": self.default_brand_id, "ticket_form_id": self.default_form_id}

    # ----------------------------------------------------------- urls

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v2/{path}"

    # ----------------------------------------------------------- users

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

    # ----------------------------------------------------------- fields, groups, brands

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

    # ----------------------------------------------------------- tickets: rendering

    def custom_status_for(self, status: str) -> int:
        return self.custom_statuses["solved" if status == "closed" else status]

    def ticket_json(self, t: TicketRec) -> dict[str, Any]:
        d = t.data
        custom = [{"id": f["id"], "value": t.values.get(f["id"])} for f in self.custom_fields()]
        return {
            "url": self.url(f"tickets/{t.id}.json"), "id": t.id, "external_id": d["external_id"],
            "via": copy.deepcopy(d["via"]), "created_at": iso(t.created),
            "updated_at": iso(t.updated), "generated_timestamp": int(t.generated),
            "type": d["type"], "subject": d["subject"], "raw_subject": d["subject"],
            "description": d["description"], "priority": d["priority"], "status": d["status"],
            "recipient": d["recipient"], "requester_id": d["requester_id"],
            "submitter_id": d["submitter_id"], "assignee_id": d["assignee_id"],
            "organization_id": d["organization_id"], "group_id": d["group_id"],
            "collaborator_ids": list(d["collaborator_ids"]), "follower_ids": [],
            "email_cc_ids": [], "forum_topic_id": None, "problem_id": d["problem_id"],
            "has_incidents": False, "is_public": d["is_public"], "due_at": d["due_at"],
            "tags": list(d["tags"]), "custom_fields": custom, "satisfaction_rating": None,
            "sharing_agreement_ids": [], "custom_status_id": self.custom_status_for(d["status"]),
            "fields": copy.deepcopy(custom), "followup_ids": list(d["followup_ids"]),
            "ticket_form_id": d["ticket_form_id"], "brand_id": d["brand_id"],
            "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
        }

    def comment_json(self, c: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "type": "Comment", "author_id": c["author_id"], "body": c["body"],
                "html_body": c["html_body"], "plain_body": c["plain_body"], "public": c["public"],
                "attachments": [], "audit_id": c["audit_id"], "via": copy.deepcopy(c["via"]),
                "created_at": iso(c["_ts"]), "metadata": copy.deepcopy(c["metadata"])}

    def audit_json(self, a: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": a["id"], "ticket_id": a["ticket_id"], "created_at": iso(a["_ts"]),
                "author_id": a["author_id"], "metadata": copy.deepcopy(a["metadata"]),
                "events": copy.deepcopy(a["events"]), "via": copy.deepcopy(a["via"])}

    def get_ticket(self, tid: Any) -> TicketRec:
        try:
            t = self.tickets[int(tid)]
        except (KeyError, TypeError, ValueError) as err:
            raise not_found() from err
        if t.deleted:
            raise not_found()
        return t

    def live_tickets(self) -> list[TicketRec]:
        return [t for _, t in sorted(self.tickets.items()) if not t.deleted]

    # ----------------------------------------------------------- tickets: writes

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

    # ----------------------------------------------------------- triggers

    def trigger_json(self, tr: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"triggers/{tr['id']}.json"), "id": tr["id"], "title": tr["title"],
                "active": tr["active"], "updated_at": iso(tr["_updated"]),
                "created_at": iso(tr["_created"]), "default": False,
                "actions": copy.deepcopy(tr["actions"]),
                "conditions": copy.deepcopy(tr["conditions"]), "description": tr["description"],
                "position": tr["position"], "raw_title": tr["title"],
                "category_id": tr["category_id"]}

    def run_triggers(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any], now: float) -> None:
        """Zendesk's cycle: walk active triggers by position, re-walk after any fires, once each."""
        fired: set[int] = set()
        ordered = sorted((tr for tr in self.triggers.values() if tr["active"]),
                         key=lambda tr: (tr["position"], tr["id"]))
        progress = True
        while progress:
            progress = False
            for tr in ordered:
                if tr["id"] in fired or not self._conditions_match(tr["conditions"], t, ctx):
                    continue
                fired.add(tr["id"])
                progress = True
                self._apply_actions(tr, t, ctx, audit, now)
        for tr, webhook_id, template in ctx.notifications:
            self._queue_webhook(tr, webhook_id, template, t, ctx)

    def _conditions_match(self, conditions: Mapping[str, Any], t: TicketRec, ctx: UpdateContext) -> bool:
        all_ = conditions.get("all") or []
        any_ = conditions.get("any") or []
        if not all(self._condition(c, t, ctx) for c in all_):
            return False
        return not any_ or any(self._condition(c, t, ctx) for c in any_)

    def _current(self, name: str, t: TicketRec, ctx: UpdateContext) -> tuple[Any, Any]:
        """(current, previous) value of a condition subject."""
        before = ctx.before
        if name.startswith("custom_fields_"):
            fid = _safe_int(name[len("custom_fields_"):])
            return t.values.get(fid), (before.get("values") or {}).get(fid)
        key = {"ticket_type_id": "type"}.get(name, name)
        current, previous = t.data.get(key), before.get(key)
        if name == "ticket_type_id":
            current, previous = TYPE_IDS.get(current), TYPE_IDS.get(previous)
        return current, previous

    def _condition(self, cond: Mapping[str, Any], t: TicketRec, ctx: UpdateContext) -> bool:
        name, op, value = cond.get("field"), cond.get("operator"), cond.get("value")
        actor = ctx.actor
        comment = ctx.comment
        if name == "update_type":
            return (ctx.update_type == value) == (op != "is_not")
        if name == "comment_is_public":
            wanted = str(value).lower()
            if wanted == "not_relevant":
                hit = comment is not None
            elif wanted in ("true", "public"):
                hit = comment is not None and comment["public"]
            elif wanted in ("false", "private"):
                hit = comment is not None and not comment["public"]
            else:
                hit = False
            return hit == (op != "is_not")
        if name in ("comment_includes_word", "subject_includes_word"):
            if name == "comment_includes_word":
                text = comment["body"] if comment else ""
            else:
                text = t.data["subject"] or ""
            words = set(re.findall(r"\w+", text.lower()))
            wanted_words = str(value or "").lower().split()
            if op == "is":
                hit = str(value or "").lower() in text.lower()
            elif op == "not_includes":
                hit = not any(w in words for w in wanted_words)
            else:
                hit = any(w in words for w in wanted_words)
            return hit
        if name == "role":
            role = actor["role"]
            kind = "end_user" if role == "end-user" else ("admin" if role == "admin" else "agent")
            match = str(value) == kind or (str(value) == "agent" and kind == "admin")
            return match == (op != "is_not")
        if name == "via_id":
            return (_safe_int(value) == VIA_API_ID) == (op != "is_not")
        if name == "ticket_is_public":
            hit = ("public" if t.data["is_public"] else "private") == str(value)
            return hit == (op != "is_not")
        if name == "current_tags":
            wanted_tags = normalize_tags(value)
            present = any(tag in t.data["tags"] for tag in wanted_tags)
            return not present if op == "not_includes" else present
        current, previous = self._current(str(name), t, ctx)
        if name not in ("status", "priority", "group_id", "assignee_id", "requester_id",
                        "organization_id", "brand_id", "ticket_form_id", "ticket_type_id",
                        "type", "external_id") and not str(name).startswith("custom_fields_"):
            return False
        return self._compare(str(name), op, value, current, previous, t, ctx)

    def _compare(self, name: str, op: Any, value: Any, current: Any, previous: Any,
                 t: TicketRec, ctx: UpdateContext) -> bool:
        creating = ctx.update_type == "Create"

        def norm(v: Any) -> Any:
            if v == "current_user":
                return ctx.actor["id"]
            if v == "requester_id":
                return t.data["requester_id"]
            if v in ("", None):
                return None
            if name.endswith("_id") and name != "external_id":
                return _safe_int(v)
            return str(v)

        wanted = norm(value)
        cur = norm(current)
        prev = None if creating else norm(previous)
        order = {"status": STATUSES, "priority": ("", *PRIORITIES)}.get(name)
        if name == "priority":
            cur = cur or ""
            wanted = "" if wanted is None else wanted
            prev = prev if creating else (prev or "")
        if op == "is":
            return cur == wanted
        if op == "is_not":
            return cur != wanted
        if op in ("less_than", "greater_than", "less_than_equal", "greater_than_equal") and order:
            if cur not in order or wanted not in order:
                return False
            a, b = order.index(cur), order.index(wanted)
            return {"less_than": a < b, "greater_than": a > b,
                    "less_than_equal": a <= b, "greater_than_equal": a >= b}[op]
        if op == "changed":
            return creating or cur != prev
        if op == "not_changed":
            return not creating and cur == prev
        if op == "value":
            return (creating or cur != prev) and cur == wanted
        if op == "value_previous":
            return not creating and cur != prev and prev == wanted
        if op == "not_value":
            return (creating or cur != prev) and cur != wanted
        if op == "not_value_previous":
            return creating or cur == prev or prev != wanted
        if op == "present":
            return cur is not None
        if op == "not_present":
            return cur is None
        if op == "includes":
            return cur is not None and str(wanted or "") in str(cur)
        return False

    def _apply_actions(self, tr: Mapping[str, Any], t: TicketRec, ctx: UpdateContext,
                       audit: dict[str, Any], now: float) -> None:
        via = {"channel": "rule", "source": {"from": {"deleted": False, "title": tr["title"],
                                                      "id": tr["id"], "revision_id": 1},
                                             "rel": "trigger"}}
        d = t.data
        for action in tr["actions"]:
            name, value = action.get("field"), action.get("value")
            if name == "notification_webhook":
                if isinstance(value, list) and len(value) >= 2:
                    ctx.notifications.append((dict(tr), value[0], str(value[1])))
                continue
            if name in ("notification_user", "notification_group"):
                if isinstance(value, list) and len(value) >= 3:
                    recipients = self._recipients(value[0], t, ctx)
                    audit["events"].append({"id": self.ids.next(), "type": "Notification",
                                            "via": copy.deepcopy(via), "subject": value[1],
                                            "body": value[2], "recipients": recipients})
                continue
            if name in ("set_tags", "current_tags", "remove_tags"):
                before_tags = list(d["tags"])
                tags = normalize_tags(str(value or ""))
                if name == "set_tags":
                    d["tags"] = tags
                elif name == "current_tags":
                    d["tags"] += [tag for tag in tags if tag not in d["tags"]]
                else:
                    d["tags"] = [tag for tag in d["tags"] if tag not in tags]
                if d["tags"] != before_tags:
                    self._event(audit, "Change", "tags", d["tags"], before_tags, changed=True, via=via)
                    for fid, old, new in self._sync_fields_from_tags(t):
                        self._event(audit, "Change", str(fid), new, old, changed=True, via=via)
                continue
            if str(name).startswith("custom_fields_"):
                fid = _safe_int(str(name)[len("custom_fields_"):])
                try:
                    changes = self._apply_custom_fields(t, [{"id": fid, "value": value}])
                except ApiError:
                    changes = []
                for fid_, old, new in changes:
                    self._event(audit, "Change", str(fid_), new, old, changed=True, via=via)
                continue
            target = {"type": "type"}.get(str(name), str(name))
            if target not in ("status", "priority", "type", "group_id", "assignee_id",
                              "ticket_form_id", "brand_id"):
                continue
            new_value: Any = value
            if target == "assignee_id":
                new_value = ctx.actor["id"] if value == "current_user" else _safe_int(value)
                if new_value is not None and (new_value not in self.users
                                              or self.users[new_value]["role"] not in AGENT_ROLES):
                    continue
            elif target in ("group_id", "ticket_form_id", "brand_id"):
                new_value = _safe_int(value)
                table = {"group_id": self.groups, "ticket_form_id": self.forms,
                         "brand_id": self.brands}[target]
                if new_value is not None and new_value not in table:
                    continue
            elif target == "status" and value not in STATUSES:
                continue
            elif target == "priority" and value not in PRIORITIES:
                continue
            elif target == "type" and value not in TYPES:
                continue
            if d.get(target) != new_value:
                old_status = d["status"]
                self._event(audit, "Change", target, new_value, d.get(target), changed=True, via=via)
                d[target] = new_value
                if target == "status" and old_status != new_value:
                    self._event(audit, "Change", "custom_status_id", self.custom_status_for(d["status"]),
                                self.custom_status_for(old_status), changed=True, via=via)

    def _recipients(self, who: Any, t: TicketRec, ctx: UpdateContext) -> list[int]:
        d = t.data
        if who == "requester_id" or who == "requester_and_ccs":
            return [d["requester_id"], *d["collaborator_ids"]]
        if who == "assignee_id":
            return [d["assignee_id"]] if d["assignee_id"] else []
        if who == "current_user":
            return [ctx.actor["id"]]
        if who == "all_agents":
            return [uid for uid, u in sorted(self.users.items()) if u["role"] in AGENT_ROLES]
        uid = _safe_int(who)
        return [uid] if uid in self.users else []

    # ----------------------------------------------------------- webhooks

    def webhook_json(self, w: Mapping[str, Any], precise: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": w["id"], "name": w["name"], "description": w["description"],
                               "status": w["status"], "subscriptions": list(w["subscriptions"]),
                               "created_at": iso_ns(w["_created"]) if precise else iso(w["_created"]),
                               "created_by": str(w["created_by"])}
        if w.get("_updated") is not None:
            out["updated_at"] = iso(w["_updated"])
            out["updated_by"] = str(w["updated_by"])
        out.update({"endpoint": w["endpoint"], "http_method": w["http_method"],
                    "request_format": w["request_format"]})
        auth = w.get("authentication")
        if auth:
            shown: dict[str, Any] = {"type": auth["type"]}
            data = auth.get("data") or {}
            if auth["type"] == "basic_auth" and "username" in data:
                shown["data"] = {"username": data["username"]}
            elif auth["type"] == "api_key" and "name" in data:
                shown["data"] = {"name": data["name"]}
            shown["add_position"] = auth.get("add_position", "header")
            out["authentication"] = shown
        return out

    def _queue_webhook(self, tr: Mapping[str, Any], webhook_id: Any, template: str, t: TicketRec,
                       ctx: UpdateContext) -> None:
        w = self.webhooks.get(str(webhook_id))
        if w is None or w["status"] != "active":
            return
        body = render_placeholders(str(template), self._placeholder_values(t, ctx),
                                   json_escape=w["request_format"] == "json")
        invocation_id = str(ULID.from_timestamp(self.clock.now()))
        content_type = WEBHOOK_CONTENT_TYPES[w["request_format"]]
        headers = {"Content-Type": content_type, "User-Agent": "Zendesk Webhook",
                   "X-Zendesk-Account-Id": str(self.account_id), "X-Zendesk-Webhook-Id": w["id"],
                   "X-Zendesk-Webhook-Invocation-Id": invocation_id}
        headers.update(_auth_headers(w.get("authentication")))
        record = {"id": invocation_id, "webhook_id": w["id"], "trigger_id": tr["id"],
                  "ticket_id": t.id, "status": "pending", "status_code": None,
                  "_ts": self.clock.now(), "latest_completed_at": None, "attempts": [],
                  "url": w["endpoint"], "method": w["http_method"], "body": body,
                  "headers": dict(headers)}
        self.invocations[invocation_id] = record
        self.deliveries.append(record)
        self.dispatcher.submit(Delivery(invocation_id, w["id"], w["http_method"], w["endpoint"],
                                        headers, body, w["signing_secret"], self.generation))

    def _placeholder_values(self, t: TicketRec, ctx: UpdateContext) -> dict[str, Any]:
        d = t.data
        values: dict[str, Any] = {
            "ticket.id": t.id, "ticket.external_id": d["external_id"] or "",
            "ticket.status": d["status"].capitalize(), "ticket.priority": (d["priority"] or "").capitalize(),
            "ticket.ticket_type": (d["type"] or "").capitalize(), "ticket.title": d["subject"] or "",
            "ticket.description": d["description"], "ticket.tags": " ".join(d["tags"]),
            "ticket.via": "Web service", "ticket.account": "Sandbox",
            "ticket.brand.name": self.brands[d["brand_id"]]["name"],
            "ticket.created_at": iso(t.created), "ticket.created_at_with_timestamp": iso(t.created),
            "ticket.updated_at": iso(t.updated), "ticket.updated_at_with_timestamp": iso(t.updated),
            "ticket.link": f"{self.base_url}/agent/tickets/{t.id}",
            "ticket.url": f"{urlsplit(self.base_url).netloc}/agent/tickets/{t.id}",
            "ticket.group.name": self.groups[d["group_id"]]["name"] if d["group_id"] in self.groups else "",
            "ticket.group.id": d["group_id"] or "",
            "ticket.organization.name": (self.organizations[d["organization_id"]]["name"]
                                         if d["organization_id"] in self.organizations else ""),
            "ticket.is_public": str(d["is_public"]).lower(),
        }
        for prefix, uid in (("ticket.requester", d["requester_id"]), ("ticket.assignee", d["assignee_id"]),
                            ("ticket.submitter", d["submitter_id"]), ("current_user", ctx.actor["id"])):
            values.update(self._user_placeholders(prefix, uid))
        for prefix, comment in (("ticket.latest_comment", t.comments[-1] if t.comments else None),
                                ("ticket.latest_public_comment",
                                 next((c for c in reversed(t.comments) if c["public"]), None))):
            values[prefix] = comment["body"] if comment else ""
            values[prefix + "_html"] = comment["html_body"] if comment else ""
            values[prefix + ".id"] = comment["id"] if comment else ""
            values[prefix + ".value"] = comment["body"] if comment else ""
            values[prefix + ".is_public"] = str(comment["public"]).lower() if comment else ""
            values[prefix + ".created_at"] = iso(comment["_ts"]) if comment else ""
            author = comment["author_id"] if comment else None
            values.update(self._user_placeholders(prefix + ".author", author))
        for f in self.custom_fields():
            value = t.values.get(f["id"])
            values[f"ticket.ticket_field_{f['id']}"] = "" if value is None else value
            title = next((o["name"] for o in f.get("custom_field_options", []) if o["value"] == value), "")
            values[f"ticket.ticket_field_option_title_{f['id']}"] = title
        return values

    def _user_placeholders(self, prefix: str, uid: int | None) -> dict[str, Any]:
        u = self.users.get(uid) if uid is not None else None
        name = u["name"] if u else ""
        first, _, last = name.partition(" ")
        return {prefix: name, f"{prefix}.id": uid if u else "", f"{prefix}.name": name,
                f"{prefix}.first_name": first, f"{prefix}.last_name": last,
                f"{prefix}.email": (u["email"] or "") if u else "",
                f"{prefix}.external_id": (u["external_id"] or "") if u else "",
                f"{prefix}.phone": (u["phone"] or "") if u else "",
                f"{prefix}.role": u["role"] if u else "", f"{prefix}.language": "English" if u else "",
                f"{prefix}.details": (u["details"] or "") if u else ""}

    def record_attempt(self, delivery: Delivery, attempt: dict[str, Any], final: bool) -> None:
        with self.lock:
            if delivery.generation != self.generation:
                return
            inv = self.invocations.get(delivery.invocation_id)
            if inv is None:
                return
            inv["attempts"].append(attempt)
            inv["latest_completed_at"] = attempt["completed_at"]
            inv["status_code"] = attempt.get("status_code")
            if final:
                ok = attempt.get("status_code") is not None and 200 <= attempt["status_code"] < 300
                inv["status"] = "success" if ok else "terminated"
            else:
                inv["status"] = "retrying"

    def invocation_json(self, inv: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": inv["id"]}
        if inv["status_code"] is not None:
            out["status_code"] = inv["status_code"]
        out["status"] = inv["status"]
        out["latest_completed_at"] = inv["latest_completed_at"] or iso(inv["_ts"])
        return out

    # ----------------------------------------------------------- jobs

    def settle_jobs(self) -> None:
        """Jobs finish on their own after JOB_SECONDS of sandbox time, polled or not."""
        now = self.clock.now()
        for job in list(self.jobs.values()):
            if job.status in ("queued", "working") and now - job.created >= JOB_SECONDS:
                self.advance_job(job, to_end=True)

    def advance_job(self, job: Job, to_end: bool = False) -> None:
        if job.status == "queued" and not to_end:
            job.status = "working"
            job.progress = len(job.items) // 2
            self._run_job_items(job, job.progress)
            verb = "Creating" if job.kind == "create" else "Updating"
            job.message = f"{verb} ticket #{job.progress}"
        elif job.status in ("queued", "working"):
            self._run_job_items(job, len(job.items))
            job.status = "completed"
            job.progress = len(job.items)
            finished = datetime.fromtimestamp(self.clock.now(), timezone.utc)
            job.message = f"Completed at {finished:%Y-%m-%d %H:%M:%S} +0000"

    def _run_job_items(self, job: Job, upto: int) -> None:
        actor = self.users.get(job.actor_id)
        if actor is None:
            return
        while job.done < upto:
            index = job.done
            item = job.items[index]
            job.done += 1
            ctx = UpdateContext(actor=actor, client=job.client)
            try:
                if job.kind == "users":
                    uid, created = self.upsert_user(item, self.clock.now())
                    job.results.append({"index": index, "id": uid,
                                        "status": "Created" if created else "Updated"})
                    continue
                if job.kind == "create":
                    t, _ = self.create_ticket(item, ctx)
                    job.results.append({"index": index, "id": t.id, "account_id": self.account_id})
                else:
                    tid, changes = item
                    t = self.get_ticket(tid)
                    self.update_ticket(t, changes, UpdateContext(actor=actor, client=job.client))
                    job.results.append({"id": t.id, "action": "update", "success": True,
                                        "status": "Updated"})
            except ApiError as err:
                detail = err.body.get("description", "") if isinstance(err.body, dict) else str(err.body)
                if isinstance(err.body, dict) and err.body.get("details"):
                    detail = json.dumps(err.body["details"])
                if job.kind in ("create", "users"):
                    job.results.append({"index": index, "error": str(err.body.get("error", "Error"))
                                        if isinstance(err.body, dict) else "Error", "details": detail})
                else:
                    job.results.append({"id": _safe_int(item[0]), "action": "update", "success": False,
                                        "error": str(err.body.get("error", "Error"))
                                        if isinstance(err.body, dict) else "Error", "details": detail})

    def upsert_user(self, spec: Mapping[str, Any], now: float) -> tuple[int, bool]:
        """Create-or-update as the API does it: matched by external_id, then email."""
        match = None
        if spec.get("external_id") not in (None, ""):
            found = self.find_users_by_external_id(str(spec["external_id"]))
            match = found[0] if found else None
        if match is None and spec.get("email"):
            match = self.find_user_by_email(str(spec["email"]))
        if match is None:
            return self.create_user(spec, now), True
        self.update_user(match["id"], spec, now)
        return match["id"], False

    def job_json(self, job: Job) -> dict[str, Any]:
        job_type = {"create": "Bulk Create Ticket", "users": "Bulk Create or Update Users"}.get(
            job.kind, "Bulk Update Ticket")
        return {"id": job.id, "job_type": job_type,
                "url": self.url(f"job_statuses/{job.id}.json"), "total": len(job.items),
                "progress": job.progress, "status": job.status, "message": job.message,
                "results": copy.deepcopy(job.results) if job.status == "completed" else None}

    # ----------------------------------------------------------- exports

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


_DROP = object()


def _safe_int(value: Any) -> int | None:
    try:
        return _int_or_none(value)
    except (TypeError, ValueError):
        return None


def _event_value(value: Any) -> Any:
    """Audit event values: ids and numbers as strings, lists stay lists, null stays null."""
    if value is None or isinstance(value, (list, bool)):
        return copy.deepcopy(value)
    return str(value)


def _auth_headers(auth: Mapping[str, Any] | None) -> dict[str, str]:
    if not auth:
        return {}
    data = auth.get("data") or {}
    if auth.get("type") == "basic_auth":
        token = base64.b64encode(f"{data.get('username', '')}:{data.get('password', '')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if auth.get("type") == "bearer_token":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    if auth.get("type") == "api_key" and data.get("name"):
        return {str(data["name"]): str(data.get("value", ""))}
    return {}


_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*((?:\|\s*\w+\s*)*)\}\}")


def render_placeholders(template: str, values: Mapping[str, Any], json_escape: bool) -> str:
    """Render ``{{a.b}}`` and ``{{a.b | downcase}}``; unknown names render empty."""

    def one(match: re.Match[str]) -> str:
        text = str(values.get(match.group(1), ""))
        for name in re.findall(r"\|\s*(\w+)", match.group(2) or ""):
            text = {"downcase": text.lower(), "upcase": text.upper(), "capitalize": text.capitalize(),
                    "strip": text.strip()}.get(name, text)
        return json.dumps(text)[1:-1] if json_escape else text

    return _PLACEHOLDER.sub(one, template)


def sign_webhook(secret: str, timestamp: str, body: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), Zendesk's webhook signature."""
    digest = hmac.new(secret.encode(), (timestamp + body).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# ---------------------------------------------------------------------------- delivery


class WebhookDispatcher:
    """Sends queued webhook invocations from one daemon thread, retrying like Zendesk."""

    RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)

    def __init__(self, state: ZendeskState) -> None:
        self.state = state
        self.queue: queue.Queue[Delivery] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()

    def submit(self, delivery: Delivery) -> None:
        with self.start_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="sandbox-zendesk-webhooks",
                                               daemon=True)
                self.thread.start()
        self.queue.put(delivery)

    def _loop(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                self._deliver(delivery)
            except Exception as err:  # noqa: BLE001 - a delivery bug must not kill the thread
                self.state.record_attempt(delivery, {
                    "id": delivery.webhook_id, "invocation_id": delivery.invocation_id,
                    "status": "failed", "error": repr(err), "completed_at": iso(time.time())}, True)

    def _deliver(self, delivery: Delivery) -> None:
        timeouts = conflicts = 0
        while True:
            attempt, retry_after = send_webhook(delivery)
            code = attempt.get("status_code")
            retry = None
            if code is None and timeouts < 5:
                timeouts += 1
                retry = self.RETRY_DELAYS[timeouts - 1]
            elif code == 409 and conflicts < 3:
                conflicts += 1
                retry = self.RETRY_DELAYS[conflicts - 1]
            elif code in (429, 503) and retry_after is not None and retry_after < 60:
                retry = float(retry_after)
            self.state.record_attempt(delivery, attempt, final=retry is None)
            if retry is None:
                return
            time.sleep(retry)


def send_webhook(delivery: Delivery) -> tuple[dict[str, Any], int | None]:
    """One HTTP attempt; an unverified TLS context is used only for loopback endpoints."""
    timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = dict(delivery.headers)
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = timestamp
    headers["X-Zendesk-Webhook-Signature"] = sign_webhook(delivery.secret, timestamp, delivery.body)
    parts = urlsplit(delivery.url)
    host = parts.hostname or ""
    body = delivery.body.encode() if delivery.method in ("POST", "PUT", "PATCH") else None
    attempt: dict[str, Any] = {
        "id": delivery.webhook_id, "invocation_id": delivery.invocation_id,
        "request": {"headers": [{"key": k, "value": v} for k, v in headers.items()],
                    "payload": delivery.body}}
    retry_after = None
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if host in ("127.0.0.1", "localhost", "::1"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=WEBHOOK_TIMEOUT, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=WEBHOOK_TIMEOUT)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(delivery.method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read(65536).decode("utf-8", "replace")
            attempt["status_code"] = response.status
            attempt["status"] = "success" if 200 <= response.status < 300 else (
                "throttled" if response.status == 429 else "failed")
            attempt["response"] = {"headers": [{"key": k, "value": v} for k, v in response.getheaders()],
                                   "payload": payload}
            value = response.getheader("Retry-After")
            retry_after = int(value) if value and value.strip().isdigit() else None
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        attempt["status"] = "timed out" if isinstance(err, socket.timeout) else "failed"
        attempt["error"] = type(err).__name__
    attempt["completed_at"] = iso(time.time())
    return attempt, retry_after


# ---------------------------------------------------------------------------- Flask app


class _StripJsonSuffix:
    """zenpy appends ``.json``; route every ``/api/...x.json`` as ``/api/...x``."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        environ["sandbox.original_path"] = path
        if path.startswith("/api/") and path.endswith(".json"):
            environ["PATH_INFO"] = path[: -len(".json")]
        return self.app(environ, start_response)


ADMIN_ONLY_PREFIXES = ("/api/v2/incremental/", "/api/v2/webhooks", "/api/v2/slas/")
ADMIN_ONLY_WRITES = ("/api/v2/ticket_fields", "/api/v2/groups")
# family -> the header that reports its window (the other families report none).
FAMILY_HEADERS = {"tickets_index": "zendesk-ratelimit-tickets-index",
                  "per_ticket_updates": "zendesk-ratelimit-per-ticket-updates",
                  "ticket_create": "zendesk-ratelimit-ticket-request-create-by-user-and-ip"}


def create_service(settings: Mapping[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the Zendesk stand-in for ``settings["url"]``; returns (app, public info)."""
    base_url = str(settings["url"]).rstrip("/")
    subdomain = str(settings.get("subdomain", "sandbox"))
    state = ZendeskState(base_url, subdomain, settings)
    app = Flask("sandbox.zendesk")
    app.wsgi_app = _StripJsonSuffix(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["sandbox_state"] = state
    _install_gate(app, state)
    _install_tickets(app, state)
    _install_users(app, state)
    _install_exports(app, state)
    _install_catalog(app, state)
    _install_rules(app, state)
    _install_webhooks(app, state)
    _install_control(app, state)
    return app, state.info()


# ----------------------------------------------------------------- responses


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None,
          content_type: str = JSON_CT) -> Response:
    data = b"" if body is None else json.dumps(body).encode()
    response = Response(data, status=status, content_type=content_type)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_response(err: ApiError) -> Response:
    return error_response(err, _json)


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise bad_request("InvalidJSON", f"The request body is not valid JSON: {err}") from err


def _payload(key: str) -> Mapping[str, Any]:
    """The body's ``key`` object (``{"user": {...}}``); a 400 ParameterMissing when it is not one."""
    body = _body()
    spec = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(spec, Mapping):
        raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
    return spec


def _unpaged(key: str, items: list[Any]) -> dict[str, Any]:
    """The offset list envelope of a list served whole, in one page."""
    return {key: items, "next_page": None, "previous_page": None, "count": len(items)}


def _original_path() -> str:
    return str(request.environ.get("sandbox.original_path", request.path))


def _page_url(state: ZendeskState, params: Mapping[str, Any]) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v is not None])
    return f"{state.base_url}{_original_path()}" + (f"?{query}" if query else "")


def _page_size() -> int:
    raw = request.args.get("page[size]", "100")
    try:
        size = int(raw)
    except ValueError as err:
        raise bad_request("InvalidPaginationParameter", "page[size] must be an integer") from err
    if size < 1 or size > PAGE_MAX:
        raise bad_request("InvalidPaginationParameter", f"page[size] must be between 1 and {PAGE_MAX}")
    return size


def paginate(state: ZendeskState, key: str, items: list[Any], sort_key: Callable[[Any], Any],
             render: Callable[[Any], Any], offset_default: bool = True) -> dict[str, Any]:
    """Zendesk list envelope: cursor (``page[size]``/``page[after]``) or offset (``page``)."""
    args = request.args
    items = sorted(items, key=sort_key)
    if any(k.startswith("page[") for k in args) or not offset_default:
        size = _page_size()
        keys = [json.loads(json.dumps(sort_key(i))) for i in items]
        if args.get("page[after]"):
            after = json.loads(_unb64(args["page[after]"]))["v"]
            start = next((n for n, k in enumerate(keys) if k > after), len(items))
            chunk = items[start:start + size]
            has_more = start + size < len(items)
        elif args.get("page[before]"):
            before = json.loads(_unb64(args["page[before]"]))["v"]
            stop = next((n for n, k in enumerate(keys) if k >= before), len(items))
            start = max(0, stop - size)
            chunk = items[start:stop]
            has_more = start > 0
        else:
            chunk = items[:size]
            has_more = len(items) > size
        first = _cursor_token(sort_key(chunk[0])) if chunk else None
        last = _cursor_token(sort_key(chunk[-1])) if chunk else None
        keep = {k: v for k, v in args.items() if k not in ("page[after]", "page[before]")}
        keep["page[size]"] = str(size)
        return {key: [render(i) for i in chunk],
                "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": first},
                "links": {"prev": _page_url(state, {**keep, "page[before]": first}) if first else None,
                          "next": _page_url(state, {**keep, "page[after]": last}) if last else None}}
    try:
        page = max(1, int(args.get("page", "1")))
        per_page = min(PAGE_MAX, max(1, int(args.get("per_page", "100"))))
    except ValueError as err:
        raise bad_request("InvalidPaginationParameter", "page and per_page must be integers") from err
    chunk = items[(page - 1) * per_page: page * per_page]
    keep = {k: v for k, v in args.items() if k not in ("page",)}
    more = page * per_page < len(items)
    return {key: [render(i) for i in chunk],
            "next_page": _page_url(state, {**keep, "page": page + 1}) if more else None,
            "previous_page": _page_url(state, {**keep, "page": page - 1}) if page > 1 else None,
            "count": len(items)}


def webhook_paginate(state: ZendeskState, key: str, items: list[Any], ident: Callable[[Any], str],
                     render: Callable[[Any], Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The webhooks service's own cursor style (recorded): cursors present only when usable."""
    size = _page_size()
    ids = [ident(i) for i in items]
    args = request.args
    if args.get("page[after]"):
        after = _unb64(args["page[after]"]).split(",")[0]
        start = ids.index(after) + 1 if after in ids else len(ids)
        stop = start + size
    elif args.get("page[before]"):
        before = _unb64(args["page[before]"]).split(",")[0]
        stop = ids.index(before) if before in ids else 0
        start = max(0, stop - size)
    else:
        start, stop = 0, size
    chunk = items[start:stop]
    meta: dict[str, Any] = {"has_more": stop < len(items)}
    links: dict[str, str] = {}
    link_header = []
    if start > 0 and chunk:
        meta["before_cursor"] = _b64(f"{ident(chunk[0])},desc")
        links["prev"] = f"{state.base_url}{_original_path()}?page[before]={meta['before_cursor']}"
        link_header.append(f'<{links["prev"]}>; rel="prev"')
    if meta["has_more"] and chunk:
        meta["after_cursor"] = _b64(f"{ident(chunk[-1])},desc")
        links["next"] = f"{state.base_url}{_original_path()}?page[after]={meta['after_cursor']}"
        link_header.append(f'<{links["next"]}>; rel="next"')
    headers = {"link": ", ".join(link_header)} if link_header else {}
    return {"meta": meta, "links": links, key: [render(i) for i in chunk]}, headers


# ----------------------------------------------------------------- gate


def _family_for(method: str, path: str) -> list[tuple[str, str]]:
    """Endpoint-scoped windows for one call, as (family, key-kind)."""
    out: list[tuple[str, str]] = []
    if path.startswith("/api/v2/incremental/"):
        out.append(("incremental", "account"))
    if method == "GET" and path == "/api/v2/tickets":
        out.append(("tickets_index", "account"))
    if method == "POST" and path == "/api/v2/tickets":
        out.append(("ticket_create", "user"))
    if method == "PUT" and re.fullmatch(r"/api/v2/tickets/\d+", path):
        out.append(("ticket_updates", "account"))
        out.append(("per_ticket_updates", "user-ticket"))
    return out


RATE_MESSAGES = {
    "account": "You have exceeded the API rate limit for your account.",
    "incremental": "You have exceeded the rate limit for incremental exports.",
    "tickets_index": "You have exceeded the rate limit for listing tickets.",
    "ticket_create": "You have exceeded the rate limit for creating tickets.",
    "ticket_updates": "You have exceeded the rate limit for updating tickets.",
    "per_ticket_updates": "You have exceeded the rate limit for updating a single ticket.",
    "user_updates": "You have exceeded the rate limit for updating a single unique user.",
    "webhooks": "You have exceeded the rate limit for the webhooks API.",
}


def _too_many(state: ZendeskState, family: str, reset_at: float, headers: dict[str, str]) -> ApiError:
    wait = max(1, math.ceil(reset_at - state.clock.now()))
    return ApiError(429, f"{RATE_MESSAGES[family]} Please wait {wait} seconds before retrying.\n",
                    {**headers, "Retry-After": str(wait)}, TEXT_CT)


def _take(state: ZendeskState, family: str, who: str) -> tuple[bool, int, int, float]:
    return state.limits.take(family, who, state.clock.now())


def _rate_headers(state: ZendeskState, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
    reset = max(0, math.ceil(reset_at - state.clock.now()))
    return {"ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset), "x-rate-limit": str(limit),
            "x-rate-limit-remaining": str(remaining)}


def _authenticate(state: ZendeskState) -> dict[str, Any] | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
        if hmac.compare_digest(token, state.api_oauth_token):
            return state.users.get(state.api_user_id)
        if hmac.compare_digest(token, state.agent_oauth_token):
            return state.users.get(state.agent_user_id)
        return None
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or "/token" not in auth.username:
        return None
    email = auth.username.rsplit("/token", 1)[0]
    token = auth.password or ""
    if not (hmac.compare_digest(token, state.api_token) or hmac.compare_digest(token, state.agent_token)):
        return None
    return state.find_user_by_email(email)


def _match_fault(state: ZendeskState, method: str) -> dict[str, Any] | None:
    return match_fault(state.faults, method, (_original_path(), request.path))


def _fault_error(fault: Mapping[str, Any]) -> ApiError:
    status = int(fault.get("status") or 500)
    if fault.get("body") is not None:
        return ApiError(status, fault["body"], content_type=str(fault.get("content_type") or JSON_CT))
    if status == 429:
        return ApiError(429, "Too Many Requests\n", {"Retry-After": str(int(fault.get("retry_after", 1)))},
                        TEXT_CT)
    names = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    return ApiError(status, {"error": names.get(status, "Error"),
                             "description": "Injected by the sandbox fault API"})


def _chaos_refusal(state: ZendeskState, fault: ChaosFault) -> ApiError:
    """A probabilistic 429 or 5xx in Zendesk's shape: the 429 is the account limit's own
    answer (text/plain, Retry-After, the rate headers showing nothing left)."""
    if fault.kind == "5xx":
        return _fault_error({"status": fault.status or 503})
    headers = dict(getattr(g, "headers", None) or {})
    wait = fault.retry_after
    if wait is None:
        wait = max(1, int(headers.get("ratelimit-reset") or 1))
    headers.update({"ratelimit-remaining": "0", "x-rate-limit-remaining": "0",
                    "ratelimit-reset": str(max(1, math.ceil(wait)))})
    text = f"{RATE_MESSAGES['account']} Please wait {max(1, math.ceil(wait))} seconds before retrying.\n"
    return ApiError(429, text, {**headers, "Retry-After": str(max(1, math.ceil(wait)))}, TEXT_CT)


def _outage_error(left: float) -> ApiError:
    """Everything answers 503 while the account is down (wording assumed); Retry-After
    when the end is known."""
    after = retry_after_seconds(left)
    return ApiError(503, {"error": "ServiceUnavailable",
                          "description": "Zendesk is temporarily unavailable. Please try again later."},
                    {"Retry-After": after} if after else {})


def _check_windows(state: ZendeskState, user: Mapping[str, Any] | None, method: str, path: str,
                   ui: bool) -> None:
    """Count the call in its windows (the plan's, then the endpoint's); 401 / 429 when due.
    An agent's UI action skips the plan window, as on Zendesk, but not the endpoint ones."""
    family = "webhooks" if path.startswith("/api/v2/webhooks") else "account"
    allowed, reset_at = True, 0.0
    if not ui:
        allowed, limit, remaining, reset_at = _take(state, family, "account")
        g.headers = _rate_headers(state, limit, remaining, reset_at)
    if user is None:
        raise ApiError(401, {"error": "Couldn't authenticate you"},
                       {"WWW-Authenticate": 'Basic realm="Web Password"'})
    if not allowed:
        raise _too_many(state, family, reset_at, {})
    for extra, scope in _family_for(method, path):
        who = {"account": "account", "user": str(user["id"]),
               "user-ticket": f"{user['id']}:{path.rsplit('/', 1)[-1]}"}[scope]
        ok, fam_limit, fam_remaining, fam_reset = _take(state, extra, who)
        if extra in FAMILY_HEADERS:
            g.headers[FAMILY_HEADERS[extra]] = (
                f"total={fam_limit}; remaining={fam_remaining}; "
                f"resets={max(0, math.ceil(fam_reset - state.clock.now()))}")
        if not ok:
            raise _too_many(state, extra, fam_reset, {})


def _check_role(user: Mapping[str, Any], method: str, path: str) -> None:
    if user["role"] == "end-user" and path not in ("/api/v2/users/me",):
        raise ApiError(403, dict(FORBIDDEN_BODY))
    if user["role"] != "admin" and (
            path.startswith(ADMIN_ONLY_PREFIXES)
            or (method != "GET" and path.startswith(ADMIN_ONLY_WRITES))):
        raise ApiError(403, dict(FORBIDDEN_BODY))


def _apply_faults(state: ZendeskState, method: str) -> Response | None:
    """The counted faults first, then a roll of the probabilistic ones; refusals happen
    here, before the call does anything, the rest when the answer goes out."""
    fault = _match_fault(state, method)
    if fault is not None:
        g.fault = fault
        if fault.get("kind", "status") == "status":
            raise _fault_error(fault)
        return None
    chaos = state.chaos.draw(method, (_original_path(), request.path))
    g.chaos = chaos
    if chaos is None or chaos.kind not in ("429", "5xx", "reset"):
        return None
    if chaos.kind == "reset":
        return cut_connection()
    raise _chaos_refusal(state, chaos)


def _install_gate(app: Flask, state: ZendeskState) -> None:
    @app.before_request
    def gate() -> Response | None:
        g.started = time.time()
        g.headers = {}
        g.fault = None
        g.chaos = None
        g.user = None
        with state.lock:
            state.settle_jobs()
        if request.path.startswith("/_sandbox/"):
            return None
        left = state.outage.refuse()
        if left is not None:
            raise _outage_error(left)
        ui = from_agent_ui()
        with state.lock:
            user = _authenticate(state)
            g.user = user
            _check_windows(state, user, request.method, request.path, ui)
            assert user is not None
            _check_role(user, request.method, request.path)
            return None if ui else _apply_faults(state, request.method)

    @app.after_request
    def finish(response: Response) -> Response:
        add_pending_headers(response)
        if request.path.startswith("/api/"):
            response.headers.setdefault("x-zendesk-api-version", "v2")
            if response.status_code == 204 and not request.path.startswith("/api/v2/webhooks"):
                response.headers.pop("Content-Type", None)
        fault = getattr(g, "fault", None)
        chaos: ChaosFault | None = getattr(g, "chaos", None)
        if fault is not None and fault.get("kind") == "drop_response":
            response = drop_response(fault, lambda f: _error_response(_fault_error(f)))
        elif chaos is not None and chaos.kind == "drop_response":
            response = cut_connection()
        if chaos is not None:
            fault = {"kind": chaos.kind}
        if not request.path.startswith("/_sandbox/"):
            body: Any = None
            try:
                raw = request.get_data(cache=True)
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = None
            entry = {"time": iso(state.clock.now()), "method": request.method,
                     "path": _original_path(), "query": request.query_string.decode(),
                     "status": response.status_code,
                     "idempotency_key": request.headers.get("Idempotency-Key"),
                     "user": (g.user or {}).get("email") if getattr(g, "user", None) else None,
                     "fault": (fault or {}).get("kind"), "body": body}
            with state.lock:
                state.request_log.append(entry)
                del state.request_log[:-REQUEST_LOG_MAX]
        hold(chaos)
        return response

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> Response:
        return add_pending_headers(_error_response(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        if request.path.startswith("/_sandbox/"):
            return _json({"error": err.name, "description": err.description}, err.code or 500)
        return _json({"error": "InvalidEndpoint", "description": "Not found"}, 404)


def _ctx(state: ZendeskState) -> UpdateContext:
    return UpdateContext(actor=g.user, client={"client": request.headers.get("User-Agent", ""),
                                               "ip": request.remote_addr or ""})


TICKET_KEYS = frozenset({
    "external_id", "requester_id", "requester", "assignee_id", "assignee_email", "group_id",
    "organization_id", "priority", "status", "type", "tags", "custom_fields", "fields",
    "custom_status_id", "due_at", "subject", "raw_subject", "comment", "description", "email_ccs",
    "followers", "problem_id", "sharing_agreement_ids", "attribute_value_ids", "brand_id",
    "collaborators", "collaborator_ids", "email_cc_ids", "follower_ids", "macro_ids", "recipient",
    "submitter_id", "ticket_form_id", "via", "via_followup_source_id", "metadata", "safe_update",
    "updated_stamp", "additional_tags", "remove_tags", "macro_id", "voice_comment"})


def _api_warn(controller: str, action: str, payload: Any, key: str,
              allowed: frozenset[str]) -> dict[str, str]:
    if not isinstance(payload, Mapping):
        return {}
    unknown = [f"{key}.{k}" for k in payload if k not in allowed]
    if not unknown:
        return {}
    keys = ", ".join(f'"{k}"' for k in unknown)
    warning = (f'{{:allowed_parameters=>{{:controller=>"{controller}", :action=>"{action}", '
               f":unpermitted_keys=>[{keys}], :invalid_values=>[]}}}}")
    return {"x-zendesk-api-warn": warning}


def _ids_arg(name: str = "ids") -> list[int]:
    raw = request.args.get(name, "")
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            try:
                out.append(int(part))
            except ValueError as err:
                raise bad_request("InvalidValue", f"{name} must be a comma-separated list of ids") from err
    return out


# ----------------------------------------------------------------- tickets


def _queue_job(state: ZendeskState, kind: str, items: list[Any]) -> Response:
    """Queue a bulk job (tickets or users), within the in-flight job limit."""
    if len(items) > BULK_MAX:
        raise ApiError(400, {"error": "TooManyValues",
                             "description": "Parameter  cannot specify more than 100 values",
                             "max_count": BULK_MAX})
    with state.lock:
        inflight = sum(1 for j in state.jobs.values() if j.status in ("queued", "working"))
        total = state.max_inflight_jobs
        left = max(0, total - inflight - 1)
        jobs_header = {"zendesk-ratelimit-inflight-jobs": f"total={total}; remaining={left}; resets=60"}
        if inflight >= total:
            raise ApiError(429, {"error": "TooManyJobs",
                                 "description": f"Number of allowed queued or running jobs "
                                                f"({total}) exceeded"},
                           {**jobs_header, "Retry-After": "60"})
        job = Job(id=f"V3-{secrets.token_hex(16)}", kind=kind, items=items, actor_id=g.user["id"],
                  client=_ctx(state).client, created=state.clock.now())
        state.jobs[job.id] = job
        return _json({"job_status": state.job_json(job)}, headers=jobs_header)


def _install_tickets(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/tickets", methods=["GET"])
    def list_tickets() -> Response:
        with state.lock:
            tickets = state.live_tickets()
            external_id = request.args.get("external_id")
            if external_id is not None:
                tickets = [t for t in tickets if t.data["external_id"] == external_id]
            return _json(paginate(state, "tickets", tickets, lambda t: t.id, state.ticket_json))

    @app.route("/api/v2/tickets", methods=["POST"])
    def create_ticket() -> Response:
        body = _body()
        key = request.headers.get("Idempotency-Key")
        with state.lock:
            now = state.clock.now()
            for old in [k for k, v in state.idempotency.items() if now - v["at"] > IDEMPOTENCY_TTL]:
                del state.idempotency[old]
            if key is not None:
                if len(key) > 255:
                    raise bad_request("InvalidValue", "Idempotency-Key must be at most 255 characters")
                seen = state.idempotency.get(key)
                if seen is not None:
                    if seen["payload"] != _canonical(body):
                        raise bad_request("IdempotentRequestError",
                                          "Request parameters don't match the given idempotency key")
                    return Response(seen["response"], status=seen["status"], content_type=JSON_CT,
                                    headers={**seen["headers"], "x-idempotency-lookup": "hit"})
            p = body.get("ticket") if isinstance(body, Mapping) else None
            t, audit = state.create_ticket(p, _ctx(state))
            created = state.ticket_json(t)
            created["generated_timestamp"] = 0
            payload = json.dumps({"ticket": created, "audit": state.audit_json(audit)})
            headers = {"Location": state.url(f"tickets/{t.id}.json"),
                       **_api_warn("tickets", "create", p, "ticket", TICKET_KEYS)}
            if key is not None:
                state.idempotency[key] = {"payload": _canonical(body), "response": payload,
                                          "status": 201, "headers": headers, "at": now}
                headers = {**headers, "x-idempotency-lookup": "miss"}
            return Response(payload, status=201, content_type=JSON_CT, headers=headers)

    @app.route("/api/v2/tickets/<int:tid>", methods=["GET"])
    def show_ticket(tid: int) -> Response:
        with state.lock:
            return _json({"ticket": state.ticket_json(state.get_ticket(tid))})

    @app.route("/api/v2/tickets/<int:tid>", methods=["PUT"])
    def update_ticket(tid: int) -> Response:
        body = _body()
        with state.lock:
            t = state.get_ticket(tid)
            p = body.get("ticket") if isinstance(body, Mapping) else None
            ctx = _ctx(state)
            audit = state.update_ticket(t, p, ctx)
            if audit is None:
                audit = state._new_audit(t, ctx, state.clock.now(), creating=False, custom_metadata=None)
            return _json({"ticket": state.ticket_json(t), "audit": state.audit_json(audit)},
                         headers=_api_warn("tickets", "update", p, "ticket", TICKET_KEYS))

    @app.route("/api/v2/tickets/<int:tid>", methods=["DELETE"])
    def delete_ticket(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            t.deleted = True
            return Response(b"", status=204)

    @app.route("/api/v2/tickets/show_many", methods=["GET"])
    def show_many() -> Response:
        ids = _ids_arg()
        if len(ids) > BULK_MAX:
            raise ApiError(400, {"error": "TooManyValues",
                                 "description": f"Parameter ids cannot specify more than {BULK_MAX} values",
                                 "max_count": BULK_MAX})
        with state.lock:
            found = [t for t in (state.tickets.get(tid) for tid in sorted(set(ids))) if t and not t.deleted]
            return _json(_unpaged("tickets", [state.ticket_json(t) for t in found]))

    def queue_job(kind: str, items: list[Any]) -> Response:
        return _queue_job(state, kind, items)

    @app.route("/api/v2/tickets/create_many", methods=["POST"])
    def create_many() -> Response:
        body = _body()
        items = body.get("tickets") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: tickets")
        return queue_job("create", copy.deepcopy(items))

    @app.route("/api/v2/tickets/update_many", methods=["PUT"])
    def update_many() -> Response:
        body = _body()
        if not isinstance(body, Mapping):
            body = {}
        if request.args.get("ids"):
            ids = _ids_arg()
            change = body.get("ticket") or {}
            items = [(tid, copy.deepcopy(change)) for tid in ids]
        else:
            tickets = body.get("tickets")
            if not isinstance(tickets, list):
                raise bad_request("ParameterMissing", "param is missing or the value is empty: tickets")
            items = [(t.get("id"), {k: v for k, v in t.items() if k != "id"})
                     for t in tickets if isinstance(t, Mapping)]
        return queue_job("update", items)

    @app.route("/api/v2/job_statuses/show_many", methods=["GET"])
    def job_statuses_show_many() -> Response:
        """Several jobs' statuses in one read; ids not known (or expired) are left out."""
        ids = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
        if not ids:
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ids")
        if len(ids) > BULK_MAX:
            raise ApiError(400, {"error": "TooManyValues",
                                 "description": f"Parameter ids cannot specify more than {BULK_MAX} values",
                                 "max_count": BULK_MAX})
        with state.lock:
            statuses = []
            for jid in dict.fromkeys(ids):
                job = state.jobs.get(jid)
                if job is not None:
                    state.advance_job(job)
                    statuses.append(state.job_json(job))
            return _json({"job_statuses": statuses})

    @app.route("/api/v2/job_statuses/<jid>", methods=["GET"])
    def job_status(jid: str) -> Response:
        with state.lock:
            job = _found(state.jobs, jid)
            state.advance_job(job)
            return _json({"job_status": state.job_json(job)})

    @app.route("/api/v2/tickets/<int:tid>/comments", methods=["GET"])
    def list_comments(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            order = request.args.get("sort", request.args.get("sort_order", ""))
            descending = order in ("-created_at", "desc")
            key: Callable[[dict[str, Any]], Any] = (
                (lambda c: (-c["_ts"], -c["id"])) if descending else (lambda c: (c["_ts"], c["id"])))
            return _json(paginate(state, "comments", t.comments, key, state.comment_json))

    @app.route("/api/v2/tickets/<int:tid>/audits", methods=["GET"])
    def list_audits(tid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            return _json(paginate(state, "audits", t.audits, lambda a: (a["_ts"], a["id"]),
                                  state.audit_json))

    @app.route("/api/v2/tickets/<int:tid>/audits/<int:aid>", methods=["GET"])
    def show_audit(tid: int, aid: int) -> Response:
        with state.lock:
            t = state.get_ticket(tid)
            audit = next((a for a in t.audits if a["id"] == aid), None)
            if audit is None:
                raise not_found()
            return _json({"audit": state.audit_json(audit)})


# ----------------------------------------------------------------- users


def _install_users(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/users", methods=["GET"])
    def list_users() -> Response:
        with state.lock:
            users = list(state.users.values())
            roles = request.args.getlist("role[]") or request.args.getlist("role")
            if roles:
                users = [u for u in users if u["role"] in roles]
            if request.args.get("external_id"):
                users = state.find_users_by_external_id(request.args["external_id"])
            return _json(paginate(state, "users", users, lambda u: u["id"],
                                  lambda u: state.user_json(u["id"])))

    @app.route("/api/v2/users", methods=["POST"])
    def create_user() -> Response:
        spec = _payload("user")
        with state.lock:
            uid = state.create_user(spec, state.clock.now())
            return _json({"user": state.user_json(uid)}, 201,
                         {"Location": state.url(f"users/{uid}.json")})

    @app.route("/api/v2/users/create_or_update", methods=["POST"])
    def create_or_update_user() -> Response:
        spec = _payload("user")
        with state.lock:
            now = state.clock.now()
            match = None
            if spec.get("external_id") not in (None, ""):
                found = state.find_users_by_external_id(str(spec["external_id"]))
                match = found[0] if found else None
            if match is None and spec.get("email"):
                match = state.find_user_by_email(str(spec["email"]))
            if match is None:
                uid = state.create_user(spec, now)
                return _json({"user": state.user_json(uid)}, 201,
                             {"Location": state.url(f"users/{uid}.json")})
            ok, limit, remaining, reset_at = _take(state, "user_updates", str(match["id"]))
            if not ok:
                raise _too_many(state, "user_updates", reset_at, {})
            state.update_user(match["id"], spec, now)
            return _json({"user": state.user_json(match["id"])}, 200)

    @app.route("/api/v2/users/create_or_update_many", methods=["POST"])
    def create_or_update_many_users() -> Response:
        body = _body()
        items = body.get("users") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: users")
        return _queue_job(state, "users", copy.deepcopy(items))

    @app.route("/api/v2/users/<int:uid>", methods=["GET"])
    def show_user(uid: int) -> Response:
        with state.lock:
            state.get_user(uid)
            return _json({"user": state.user_json(uid)})

    @app.route("/api/v2/users/<int:uid>", methods=["PUT"])
    def update_user(uid: int) -> Response:
        spec = _payload("user")
        with state.lock:
            state.get_user(uid)
            ok, limit, remaining, reset_at = _take(state, "user_updates", str(uid))
            if not ok:
                raise _too_many(state, "user_updates", reset_at, {})
            state.update_user(uid, spec, state.clock.now())
            return _json({"user": state.user_json(uid)})

    @app.route("/api/v2/users/me", methods=["GET"])
    def me() -> Response:
        with state.lock:
            return _json({"user": state.user_json(g.user["id"], me=True)})

    @app.route("/api/v2/users/show_many", methods=["GET"])
    def show_many_users() -> Response:
        ids = set(_ids_arg())
        with state.lock:
            users = [uid for uid in sorted(state.users) if uid in ids]
            return _json(_unpaged("users", [state.user_json(uid) for uid in users]))

    @app.route("/api/v2/users/search", methods=["GET"])
    def search_users() -> Response:
        with state.lock:
            if request.args.get("external_id") is not None:
                users = state.find_users_by_external_id(request.args["external_id"])
            elif request.args.get("query") is not None:
                users = state.search_users(request.args["query"])
            else:
                raise bad_request("InvalidValue", "query or external_id is required")
            return _json(paginate(state, "users", users, lambda u: u["id"],
                                  lambda u: state.user_json(u["id"])))

    @app.route("/api/v2/users/<int:uid>/identities", methods=["GET"])
    def list_identities(uid: int) -> Response:
        with state.lock:
            state.get_user(uid)
            idents = state.user_identities(uid)
            wanted = request.args.getlist("type[]")
            if wanted:
                idents = [i for i in idents if i["type"] in wanted]
            return _json(paginate(state, "identities", idents, lambda i: i["id"], state.identity_json))

    @app.route("/api/v2/users/<int:uid>/identities", methods=["POST"])
    def add_identity(uid: int) -> Response:
        spec = _payload("identity")
        with state.lock:
            state.get_user(uid)
            before = {i["id"] for i in state.user_identities(uid)}
            ident = state.ensure_identity(uid, spec.get("type"), spec.get("value"), state.clock.now())
            if ident["id"] in before:
                raise record_invalid("value", f"Value: {spec.get('value')} has already been taken",
                                     "DuplicateValue")
            return _json({"identity": state.identity_json(ident)}, 201,
                         {"Location": state.url(f"users/{uid}/identities/{ident['id']}.json")})

    @app.route("/api/v2/users/<int:uid>/identities/<int:iid>", methods=["GET"])
    def show_identity(uid: int, iid: int) -> Response:
        with state.lock:
            ident = state.identities.get(iid)
            if ident is None or ident["user_id"] != uid:
                raise not_found()
            return _json({"identity": state.identity_json(ident)})


# ----------------------------------------------------------------- exports


def _start_time(state: ZendeskState) -> int:
    raw = request.args.get("start_time")
    if raw is None:
        raise bad_request("InvalidValue", "start_time is required")
    try:
        start = int(float(raw))
    except ValueError as err:
        raise bad_request("InvalidValue", "start_time must be a Unix timestamp") from err
    if start > state.clock.now() - INCREMENTAL_LAG:
        raise ApiError(422, {"error": "InvalidValue",
                             "description": "Too recent start_time. Use a start_time older than 1 minute"})
    return max(0, start)


def _per_page() -> int:
    try:
        return max(1, min(INCREMENTAL_PAGE, int(request.args.get("per_page", INCREMENTAL_PAGE))))
    except ValueError as err:
        raise bad_request("InvalidValue", "per_page must be an integer") from err


def _time_page(entries: list[tuple[Any, ...]], start: int, per_page: int) -> tuple[list[Any], int, bool]:
    """Time-based export page: whole timestamp groups; end_time +1 when more follow (recorded)."""
    chosen = [e for e in entries if e[0] >= start]
    if len(chosen) <= per_page:
        return [e[2] for e in chosen], (chosen[-1][0] if chosen else start), True
    last = chosen[per_page - 1][0]
    page = [e for e in chosen if e[0] <= last]
    end_of_stream = len(page) == len(chosen)
    return [e[2] for e in page], last if end_of_stream else last + 1, end_of_stream


def _install_exports(app: Flask, state: ZendeskState) -> None:
    def next_page_url(path: str, end_time: int) -> str:
        params = {k: v for k, v in request.args.items() if k in ("per_page", "include")}
        params["start_time"] = str(end_time)
        return f"{state.base_url}/api/v2/{path}.json?{urlencode(sorted(params.items()))}"

    @app.route("/api/v2/incremental/ticket_events", methods=["GET"])
    def ticket_events() -> Response:
        with state.lock:
            start = _start_time(state)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            include = "comment_events" in request.args.get("include", "").split(",")
            entries = state.ticket_events(include, since=start, before=cutoff)
            events, end_time, end = _time_page(entries, start, _per_page())
            return _json({"ticket_events": events,
                          "next_page": next_page_url("incremental/ticket_events", end_time),
                          "count": len(events), "end_of_stream": end, "end_time": end_time})

    @app.route("/api/v2/incremental/tickets", methods=["GET"])
    def incremental_tickets() -> Response:
        with state.lock:
            start = _start_time(state)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            entries = sorted(((int(t.generated), t.id, t) for t in state.tickets.values()
                              if t.generated < cutoff), key=lambda e: (e[0], e[1]))
            tickets, end_time, end = _time_page(entries, start, _per_page())
            return _json({"tickets": [state.ticket_json(t) for t in tickets],
                          "next_page": next_page_url("incremental/tickets", end_time),
                          "count": len(tickets), "end_of_stream": end, "end_time": end_time})

    @app.route("/api/v2/incremental/tickets/cursor", methods=["GET"])
    def incremental_tickets_cursor() -> Response:
        with state.lock:
            per_page = _per_page()
            cursor = request.args.get("cursor")
            if cursor:
                try:
                    ts_text, _, rest = _unb64(cursor).partition("||")
                    position = (float(ts_text), int(rest.strip("|")))
                except ValueError as err:
                    raise bad_request("InvalidValue", "invalid cursor") from err
            else:
                position = (float(_start_time(state)), -1)
            cutoff = state.clock.now() - INCREMENTAL_LAG
            entries = sorted(((float(int(t.generated)), t.id, t) for t in state.tickets.values()
                              if t.generated < cutoff), key=lambda e: (e[0], e[1]))
            after = [e for e in entries if (e[0], e[1]) > position]
            chunk = after[:per_page]
            end_of_stream = len(after) <= per_page
            if chunk:
                after_cursor: str | None = _b64(f"{chunk[-1][0]:.1f}||{chunk[-1][1]}|")
            else:
                after_cursor = cursor or None
            extra = f"&per_page={per_page}" if "per_page" in request.args else ""
            after_url = (f"{state.base_url}/api/v2/incremental/tickets/cursor.json?cursor="
                         f"{quote(after_cursor, safe='')}{extra}") if after_cursor else None
            return _json({"tickets": [state.ticket_json(e[2]) for e in chunk], "after_url": after_url,
                          "before_url": None, "after_cursor": after_cursor, "before_cursor": None,
                          "end_of_stream": end_of_stream})


# ----------------------------------------------------------------- catalog


def _read_routes(app: Flask, state: ZendeskState, path: str, attr: str, one: str,
                 render: Callable[[Any], dict[str, Any]], listing: str | None = None) -> None:
    """GET /api/v2/<path>/<id> as ``{one: render(record)}``, the record from ``state.<attr>`` (read
    per request: reset() replaces the dicts). With ``listing``, also GET /api/v2/<path>: every record
    in id order, in the unpaged offset envelope ("envelope") or as ``{path: [...]}`` alone ("bare")."""
    def show(rid: int) -> Response:
        with state.lock:
            return _json({one: render(_found(getattr(state, attr), rid))})

    def index() -> Response:
        with state.lock:
            items = [render(r) for _, r in sorted(getattr(state, attr).items())]
            return _json(_unpaged(path, items) if listing == "envelope" else {path: items})

    app.add_url_rule(f"/api/v2/{path}/<int:rid>", f"show_{one}", show, methods=["GET"])
    if listing is not None:
        app.add_url_rule(f"/api/v2/{path}", f"list_{path}", index, methods=["GET"])


def _install_catalog(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/ticket_fields", methods=["GET"])
    def list_fields() -> Response:
        with state.lock:
            if any(k.startswith("page[") for k in request.args):
                return _json(paginate(state, "ticket_fields", list(state.fields.values()),
                                      lambda f: f["id"], state.field_json))
            ordered = sorted(state.fields.values(), key=lambda f: (f["position"], f["id"]))
            return _json(_unpaged("ticket_fields", [state.field_json(f) for f in ordered]))

    @app.route("/api/v2/ticket_fields", methods=["POST"])
    def create_field() -> Response:
        spec = _payload("ticket_field")
        if not spec.get("title"):
            raise record_invalid("title", "Title: cannot be blank", "BlankValue")
        kind = spec.get("type") or "text"
        if kind not in ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp",
                        "partialcreditcard", "multiselect", "tagger", "lookup"):
            raise record_invalid("type", f"Type: {kind} is not valid")
        options = spec.get("custom_field_options") or []
        if kind in ("tagger", "multiselect") and not options:
            raise record_invalid("field_options", "Field options: must contain at least one option",
                                 "EmptyValue")
        with state.lock:
            now = state.clock.now()
            fid = state.ids.next()
            record = state._field_record(fid, kind, str(spec["title"]), int(spec.get("position", 9999)),
                                         now, removable=True)
            if spec.get("description"):
                record["description"] = str(spec["description"])
            record["tag"] = spec.get("tag")
            if options:
                record["custom_field_options"] = [
                    {"id": state.ids.next(), "name": str(o.get("name")), "raw_name": str(o.get("name")),
                     "value": str(o.get("value")), "default": bool(o.get("default", False))}
                    for o in options if isinstance(o, Mapping)]
            state.fields[fid] = record
            return _json({"ticket_field": state.field_json(record)}, 201,
                         {"Location": state.url(f"ticket_fields/{fid}.json")})

    @app.route("/api/v2/ticket_fields/<int:fid>", methods=["PUT"])
    def update_field(fid: int) -> Response:
        body = _body()
        spec = body.get("ticket_field") if isinstance(body, Mapping) else {}
        with state.lock:
            f = _found(state.fields, fid)
            for key in ("title", "description", "active", "required", "position", "agent_description"):
                if isinstance(spec, Mapping) and key in spec:
                    f[key] = spec[key]
            f["_updated"] = state.clock.now()
            allowed = frozenset({"title", "description", "active", "required", "position",
                                 "agent_description", "custom_field_options", "tag",
                                 "visible_in_portal", "editable_in_portal", "required_in_portal"})
            return _json({"ticket_field": state.field_json(f)},
                         headers=_api_warn("ticket_fields", "update", spec, "ticket_field", allowed))

    @app.route("/api/v2/groups", methods=["GET"])
    def list_groups() -> Response:
        with state.lock:
            return _json(paginate(state, "groups", list(state.groups.values()), lambda x: x["id"],
                                  state.group_json))

    @app.route("/api/v2/groups", methods=["POST"])
    def create_group() -> Response:
        body = _body()
        spec = body.get("group") if isinstance(body, Mapping) else None
        if not isinstance(spec, Mapping) or not spec.get("name"):
            raise record_invalid("name", "Name: cannot be blank", "BlankValue")
        with state.lock:
            gid = state.ids.next()
            state.groups[gid] = {"id": gid, "name": str(spec["name"]),
                                 "description": str(spec.get("description") or ""), "default": False,
                                 "is_public": bool(spec.get("is_public", True)), "deleted": False,
                                 "_created": state.clock.now()}
            return _json({"group": state.group_json(state.groups[gid])}, 201)

    for path, attr, one, render, listing in (
            ("ticket_fields", "fields", "ticket_field", state.field_json, None),
            ("groups", "groups", "group", state.group_json, None),
            ("brands", "brands", "brand", state.brand_json, "envelope"),
            ("ticket_forms", "forms", "ticket_form", state.form_json, "envelope"),
            ("organizations", "organizations", "organization", state.organization_json, None),
            ("custom_roles", "custom_roles", "custom_role", state.custom_role_json, "bare")):
        _read_routes(app, state, path, attr, one, render, listing)


# ----------------------------------------------------------------- triggers, SLAs


def _conditions_from(spec: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    conditions = spec.get("conditions")
    if isinstance(conditions, Mapping):
        return {"all": list(conditions.get("all") or []), "any": list(conditions.get("any") or [])}
    if "all" in spec or "any" in spec:
        return {"all": list(spec.get("all") or []), "any": list(spec.get("any") or [])}
    return copy.deepcopy(dict(current)) if current else {"all": [], "any": []}


def _install_rules(app: Flask, state: ZendeskState) -> None:
    def check_actions(actions: Any) -> list[dict[str, Any]]:
        if not isinstance(actions, list) or not actions:
            raise record_invalid("actions", "Actions: cannot be blank", "BlankValue")
        for action in actions:
            if not isinstance(action, Mapping) or not action.get("field"):
                raise record_invalid("actions", "Actions: is invalid")
            if action["field"] == "notification_webhook":
                value = action.get("value")
                hook = state.webhooks.get(str(value[0])) if isinstance(value, list) and value else None
                if hook is None:
                    raise record_invalid("actions", "Actions: webhook not found")
                if "conditional_ticket_events" not in hook["subscriptions"]:
                    raise record_invalid("actions", "Actions: a webhook subscribed to Zendesk events "
                                                    "cannot be connected to a trigger")
        return [dict(a) for a in actions]

    @app.route("/api/v2/triggers", methods=["GET"])
    @app.route("/api/v2/triggers/active", methods=["GET"])
    def list_triggers() -> Response:
        with state.lock:
            triggers = list(state.triggers.values())
            if request.path.endswith("/active") or request.args.get("active") == "true":
                triggers = [tr for tr in triggers if tr["active"]]
            elif request.args.get("active") == "false":
                triggers = [tr for tr in triggers if not tr["active"]]
            return _json(paginate(state, "triggers", triggers, lambda tr: (tr["position"], tr["id"]),
                                  state.trigger_json))

    @app.route("/api/v2/triggers", methods=["POST"])
    def create_trigger() -> Response:
        spec = _payload("trigger")
        with state.lock:
            if not spec.get("title"):
                raise record_invalid("title", "Title: cannot be blank", "BlankValue")
            actions = check_actions(spec.get("actions"))
            now = state.clock.now()
            tid = state.ids.next()
            position = spec.get("position")
            if not isinstance(position, int):
                position = max((tr["position"] for tr in state.triggers.values()), default=0) + 1
            state.triggers[tid] = {
                "id": tid, "title": str(spec["title"]), "description": spec.get("description"),
                "active": spec.get("active", True) is not False, "position": position,
                "actions": actions, "conditions": _conditions_from(spec, None),
                "category_id": str(spec.get("category_id") or state.trigger_category_id),
                "_created": now, "_updated": now}
            return _json({"trigger": state.trigger_json(state.triggers[tid])}, 201,
                         {"Location": state.url(f"triggers/{tid}.json")})

    _read_routes(app, state, "triggers", "triggers", "trigger", state.trigger_json)

    @app.route("/api/v2/triggers/<int:tid>", methods=["PUT"])
    def update_trigger(tid: int) -> Response:
        spec = _payload("trigger")
        with state.lock:
            tr = _found(state.triggers, tid)
            if "title" in spec:
                if not spec["title"]:
                    raise record_invalid("title", "Title: cannot be blank", "BlankValue")
                tr["title"] = str(spec["title"])
            if "actions" in spec:
                tr["actions"] = check_actions(spec["actions"])
            for key in ("description", "position", "category_id"):
                if key in spec:
                    tr[key] = spec[key]
            if "active" in spec:
                tr["active"] = spec["active"] is not False
            tr["conditions"] = _conditions_from(spec, tr["conditions"])
            tr["_updated"] = state.clock.now()
            allowed = frozenset({"title", "description", "active", "position", "actions", "conditions",
                                 "all", "any", "category_id"})
            return _json({"trigger": state.trigger_json(tr)},
                         headers={"Location": state.url(f"triggers/{tid}.json"),
                                  **_api_warn("triggers", "update", spec, "trigger", allowed)})

    @app.route("/api/v2/triggers/<int:tid>", methods=["DELETE"])
    def delete_trigger(tid: int) -> Response:
        with state.lock:
            if state.triggers.pop(tid, None) is None:
                raise not_found()
            return Response(b"", status=204)

    def sla_json(p: Mapping[str, Any]) -> dict[str, Any]:
        metrics = []
        for m in p["policy_metrics"]:
            metric = dict(m)
            if isinstance(metric.get("target"), int):
                metric["target_in_seconds"] = metric["target"] * 60
            metrics.append(metric)
        return {"url": state.url(f"slas/policies/{p['id']}.json"), "id": p["id"], "title": p["title"],
                "description": p["description"], "position": p["position"],
                "filter": copy.deepcopy(p["filter"]), "policy_metrics": metrics,
                "created_at": iso(p["_created"]), "updated_at": iso(p["_updated"])}

    def apply_sla(p: dict[str, Any], spec: Mapping[str, Any]) -> None:
        if "title" in spec:
            p["title"] = spec["title"]
        if "description" in spec:
            p["description"] = spec["description"]
        if "position" in spec:
            p["position"] = spec["position"]
        if "filter" in spec:
            flt = spec["filter"]
            if not isinstance(flt, Mapping):
                raise record_invalid("filter", "Filter: is invalid")
            p["filter"] = {"all": list(flt.get("all") or []), "any": list(flt.get("any") or [])}
        if "policy_metrics" in spec:
            metrics = spec["policy_metrics"]
            if not isinstance(metrics, list):
                raise record_invalid("policy_metrics", "Policy metrics: is invalid")
            p["policy_metrics"] = [
                {"priority": m.get("priority"), "metric": m.get("metric"), "target": m.get("target"),
                 "business_hours": bool(m.get("business_hours", False))}
                for m in metrics if isinstance(m, Mapping)]
        if not p.get("title"):
            raise record_invalid("title", "Title: cannot be blank", "BlankValue")
        if p.get("filter") is None:
            raise record_invalid("filter", "Filter: cannot be blank", "BlankValue")

    @app.route("/api/v2/slas/policies", methods=["GET"])
    def list_slas() -> Response:
        with state.lock:
            policies = sorted(state.sla_policies.values(), key=lambda p: (p["position"], p["id"]))
            return _json(_unpaged("sla_policies", [sla_json(p) for p in policies]))

    @app.route("/api/v2/slas/policies", methods=["POST"])
    def create_sla() -> Response:
        spec = _payload("sla_policy")
        with state.lock:
            now = state.clock.now()
            pid = state.ids.next()
            policy: dict[str, Any] = {"id": pid, "title": None, "description": "", "filter": None,
                                      "policy_metrics": [], "_created": now, "_updated": now,
                                      "position": len(state.sla_policies) + 1}
            apply_sla(policy, spec)
            state.sla_policies[pid] = policy
            return _json({"sla_policy": sla_json(policy)}, 201,
                         {"Location": state.url(f"slas/policies/{pid}.json")})

    @app.route("/api/v2/slas/policies/<int:pid>", methods=["GET", "PUT", "DELETE"])
    def one_sla(pid: int) -> Response:
        spec = _payload("sla_policy") if request.method == "PUT" else None
        with state.lock:
            policy = _found(state.sla_policies, pid)
            if request.method == "DELETE":
                del state.sla_policies[pid]
                return Response(b"", status=204)
            if spec is not None:
                apply_sla(policy, spec)
                policy["_updated"] = state.clock.now()
            return _json({"sla_policy": sla_json(policy)})


# ----------------------------------------------------------------- webhooks API


WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBHOOK_FORMATS = ("json", "xml", "form_encoded")


def _install_webhooks(app: Flask, state: ZendeskState) -> None:
    def webhook_spec() -> Mapping[str, Any]:
        body = _body()
        spec = body.get("webhook") if isinstance(body, Mapping) else None
        if not isinstance(spec, Mapping):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook object is required")
        return spec

    def validate(w: Mapping[str, Any]) -> None:
        for key in ("name", "endpoint", "http_method", "request_format", "status"):
            if not w.get(key):
                raise webhook_error(400, "InvalidInput", "Invalid input", f"webhook.{key} is required")
        if urlsplit(str(w["endpoint"])).scheme not in ("http", "https"):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.endpoint must be a URL")
        if w["http_method"] not in WEBHOOK_METHODS:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.http_method is invalid")
        if w["request_format"] not in WEBHOOK_FORMATS:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.request_format is invalid")
        if w["status"] not in ("active", "inactive"):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.status is invalid")
        if not isinstance(w.get("subscriptions"), list) or not w["subscriptions"]:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.subscriptions is required")

    def find(wid: str) -> dict[str, Any]:
        w = state.webhooks.get(wid)
        if w is None:
            raise webhook_error(404, "WebhookNotFound", "Webhook not found",
                                f"Webhook {wid} could not be found")
        return w

    def new_secret() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    @app.route("/api/v2/webhooks", methods=["POST"])
    def create_webhook() -> Response:
        spec = webhook_spec()
        with state.lock:
            now = state.clock.now()
            w: dict[str, Any] = {
                "id": str(ULID.from_timestamp(now)), "name": spec.get("name"),
                "description": spec.get("description"), "status": spec.get("status", "active"),
                "subscriptions": list(spec.get("subscriptions") or []), "_created": now,
                "created_by": g.user["id"], "endpoint": spec.get("endpoint"),
                "http_method": spec.get("http_method", "POST"),
                "request_format": spec.get("request_format", "json"),
                "authentication": copy.deepcopy(spec.get("authentication")), "signing_secret": new_secret()}
            if isinstance(spec.get("signing_secret"), Mapping) and spec["signing_secret"].get("secret"):
                w["signing_secret"] = str(spec["signing_secret"]["secret"])
            validate(w)
            state.webhooks[w["id"]] = w
            return _json({"webhook": state.webhook_json(w, precise=True)}, 201,
                         content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks", methods=["GET"])
    def list_webhooks() -> Response:
        with state.lock:
            hooks = sorted(state.webhooks.values(), key=lambda w: w["id"])
            name = request.args.get("filter[name_contains]")
            if name:
                hooks = [w for w in hooks if name.lower() in str(w["name"]).lower()]
            body, headers = webhook_paginate(state, "webhooks", hooks, lambda w: w["id"], state.webhook_json)
            return _json(body, headers=headers, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>", methods=["GET"])
    def show_webhook(wid: str) -> Response:
        with state.lock:
            return _json({"webhook": state.webhook_json(find(wid))}, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>", methods=["PUT", "PATCH"])
    def update_webhook(wid: str) -> Response:
        spec = webhook_spec()
        with state.lock:
            w = find(wid)
            changed = dict(w)
            for key in ("name", "description", "status", "endpoint", "http_method", "request_format"):
                if key in spec:
                    changed[key] = spec[key]
            if "subscriptions" in spec:
                changed["subscriptions"] = list(spec["subscriptions"] or [])
            if "authentication" in spec:
                changed["authentication"] = copy.deepcopy(spec["authentication"])
            validate(changed)
            changed["_updated"] = state.clock.now()
            changed["updated_by"] = g.user["id"]
            w.update(changed)
            return Response(b"", status=204)

    @app.route("/api/v2/webhooks/<wid>", methods=["DELETE"])
    def delete_webhook(wid: str) -> Response:
        with state.lock:
            find(wid)
            del state.webhooks[wid]
            return Response(b"", status=204, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/signing_secret", methods=["GET", "POST"])
    def signing_secret(wid: str) -> Response:
        with state.lock:
            w = find(wid)
            status = 200
            if request.method == "POST":
                w["signing_secret"] = new_secret()
                status = 201
            return _json({"signing_secret": {"secret": w["signing_secret"], "algorithm": "SHA256"}},
                         status, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/invocations", methods=["GET"])
    def invocations(wid: str) -> Response:
        with state.lock:
            find(wid)
            invs = sorted((i for i in state.invocations.values() if i["webhook_id"] == wid),
                          key=lambda i: i["id"], reverse=True)
            wanted = request.args.get("filter[status]")
            if wanted:
                invs = [i for i in invs if i["status"] == wanted]
            body, headers = webhook_paginate(state, "invocations", invs, lambda i: i["id"],
                                             state.invocation_json)
            return _json(body, headers=headers, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/invocations/<iid>/attempts", methods=["GET"])
    def attempts(wid: str, iid: str) -> Response:
        with state.lock:
            find(wid)
            inv = state.invocations.get(iid)
            if inv is None or inv["webhook_id"] != wid:
                raise webhook_error(404, "InvocationNotFound", "Invocation not found",
                                    f"Invocation {iid} could not be found")
            out = []
            for attempt in reversed(inv["attempts"]):
                item = {k: v for k, v in attempt.items() if k not in ("error",)}
                out.append(item)
            return _json({"attempts": out}, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/test", methods=["POST"])
    def test_webhook() -> Response:
        body = _body()
        spec = body.get("request") if isinstance(body, Mapping) else None
        with state.lock:
            hook = state.webhooks.get(request.args.get("webhook_id") or "")
            if hook is None and not isinstance(spec, Mapping):
                raise webhook_error(400, "InvalidInput", "Invalid input", "request or webhook_id is required")
            merged = {**(hook or {}), **(spec or {})}
            endpoint = merged.get("endpoint")
            if not endpoint:
                raise webhook_error(400, "InvalidInput", "Invalid input", "request.endpoint is required")
            headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                       "X-Zendesk-Account-Id": str(state.account_id)}
            for h in (spec or {}).get("headers") or []:
                if isinstance(h, Mapping) and h.get("key"):
                    headers[str(h["key"])] = str(h.get("value", ""))
            headers.update(_auth_headers(merged.get("authentication")))
            delivery = Delivery(str(ULID()), (hook or {}).get("id", ""),
                                str(merged.get("http_method", "POST")), str(endpoint), headers,
                                str(merged.get("payload") or ""), (hook or {}).get("signing_secret", ""),
                                state.generation)
        attempt, _ = send_webhook(delivery)
        response: dict[str, Any] = {"headers": (attempt.get("response") or {}).get("headers", []),
                                    "status_code": attempt.get("status_code"),
                                    "payload": (attempt.get("response") or {}).get("payload", "")}
        return _json({"response": response}, content_type=WEBHOOKS_CT)


# ----------------------------------------------------------------- control API


def _set_plan(state: ZendeskState, plan: str, high_volume: bool) -> None:
    """The account's plan (and High Volume add-on) as the windows they set."""
    if plan not in PLAN_LIMITS:
        raise ValueError(f"plan must be one of {', '.join(PLAN_LIMITS)}")
    high_volume = high_volume or plan == "enterprise_plus"
    if high_volume and plan not in HIGH_VOLUME_PLANS:
        raise ValueError(f"the High Volume add-on needs Growth/Professional or above, not {plan}")
    state.plan, state.high_volume = plan, high_volume
    figures = HIGH_VOLUME_FIGURES if high_volume else {
        f: LIMIT_DEFAULTS[f] for f in HIGH_VOLUME_FIGURES}
    for family, (limit, seconds) in figures.items():
        state.limits.set(family, limit, seconds)
    if not high_volume:
        state.limits.set("account", PLAN_LIMITS[plan], 60)


def _set_limits(state: ZendeskState, spec: Mapping[str, Any]) -> None:
    """``/_sandbox/limits`` POST: a ``plan`` (+ ``high_volume``), the in-flight job limit
    (``inflight_jobs``), and/or one window (``family``, ``limit``, ``seconds``)."""
    if "plan" in spec or "high_volume" in spec:
        _set_plan(state, str(spec.get("plan", state.plan)), bool(spec.get("high_volume", state.high_volume)))
    if "inflight_jobs" in spec:
        jobs = int(spec["inflight_jobs"])
        if jobs < 0:
            raise ValueError("inflight_jobs must be 0 or more")
        state.max_inflight_jobs = jobs
    if "family" in spec:
        state.limits.set(str(spec["family"]), int(spec["limit"]), int(spec.get("seconds", 60)))
    elif not {"plan", "high_volume", "inflight_jobs"} & set(spec):
        raise KeyError(spec.get("family"))


def _limits_json(state: ZendeskState) -> dict[str, Any]:
    current = {f: list(state.limits.overrides.get(f) or d) for f, d in LIMIT_DEFAULTS.items()}
    return {"limits": current, "plan": state.plan, "high_volume": state.high_volume,
            "inflight_jobs": state.max_inflight_jobs, "bulk_max": BULK_MAX}


def _install_control(app: Flask, state: ZendeskState) -> None:
    @app.route("/_sandbox/reset", methods=["POST"])
    def reset() -> Response:
        with state.lock:
            state.reset()
            return _json({"ok": True, **state.info()})

    @app.route("/_sandbox/clock", methods=["GET", "POST"])
    def clock() -> Response:
        if request.method == "POST":
            spec = _body()
            try:
                with state.lock:
                    state.clock.control(spec)
                    state.settle_jobs()
            except (TypeError, ValueError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        now = state.clock.now()
        return _json({"now": now, "utc": iso(now), "speed": state.clock.speed})

    @app.route("/_sandbox/limits", methods=["GET", "POST"])
    def limits() -> Response:
        if request.method == "POST":
            spec = _body()
            try:
                with state.lock:
                    _set_limits(state, spec if isinstance(spec, Mapping) else {})
            except KeyError as err:
                return _json({"error": "UnknownFamily", "description": f"unknown family {err.args[0]!r}",
                              "families": sorted(LIMIT_DEFAULTS)}, 400)
            except (TypeError, ValueError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        with state.lock:
            return _json(_limits_json(state))

    @app.route("/_sandbox/requests", methods=["GET", "DELETE"])
    def requests_log() -> Response:
        with state.lock:
            if request.method == "DELETE":
                state.request_log.clear()
            return _json({"requests": list(state.request_log)})

    @app.route("/_sandbox/tickets", methods=["GET"])
    def all_tickets() -> Response:
        """Every ticket with its comments (``?comments=false``: the tickets alone)."""
        with_comments = request.args.get("comments", "true").lower() not in ("false", "0", "no")
        with state.lock:
            out = []
            for _, t in sorted(state.tickets.items()):
                item = state.ticket_json(t)
                if with_comments:
                    item["comments"] = [state.comment_json(c) for c in t.comments]
                item["deleted"] = t.deleted
                out.append(item)
            return _json({"tickets": out})

    @app.route("/_sandbox/faults", methods=["GET", "POST", "DELETE"])
    def faults() -> Response:
        with state.lock:
            if request.method == "POST":
                spec = _body()
                if is_chaos_spec(spec):
                    try:
                        chaos = state.chaos.add(spec)
                    except (TypeError, ValueError) as err:
                        return _json({"error": "InvalidValue", "description": str(err)}, 400)
                    return _json({"fault": chaos.json()}, 201)
                kind = spec.get("kind", "status")
                if kind not in ("status", "drop_response"):
                    return _json({"error": "InvalidValue",
                                  "description": "kind must be status or drop_response, or one of "
                                                 "429, 5xx, slow, timeout, reset with a probability"}, 400)
                fault = {"path_prefix": spec.get("path_prefix", "/"), "method": spec.get("method"),
                         "status": spec.get("status", 500 if kind == "status" else 500),
                         "count": int(spec.get("count", 1)), "kind": kind,
                         "retry_after": spec.get("retry_after", 1), "body": spec.get("body"),
                         "content_type": spec.get("content_type"), "hits": 0}
                state.faults.append(fault)
                return _json({"fault": fault}, 201)
            if request.method == "DELETE":
                state.faults.clear()
                state.chaos.clear()
            return _json({"faults": list(state.faults), **state.chaos.json()})

    @app.route("/_sandbox/seed", methods=["GET", "POST"])
    def seed() -> Response:
        if request.method == "POST":
            try:
                state.chaos.reseed(int(_body().get("seed", 0)))
            except (TypeError, ValueError, AttributeError) as err:
                return _json({"error": "InvalidValue", "description": str(err)}, 400)
        return _json({"seed": state.chaos.seed})

    @app.route("/_sandbox/outage", methods=["GET", "POST", "DELETE"])
    def outage() -> Response:
        try:
            spec = _body() if request.method == "POST" else {}
            return _json({"outage": state.outage.control(request.method, spec or {})})
        except (TypeError, ValueError, AttributeError) as err:
            return _json({"error": "InvalidValue", "description": str(err)}, 400)

    @app.route("/_sandbox/webhook_deliveries", methods=["GET"])
    def deliveries() -> Response:
        with state.lock:
            out = []
            for inv in state.deliveries:
                last = inv["attempts"][-1] if inv["attempts"] else {}
                out.append({"invocation_id": inv["id"], "webhook_id": inv["webhook_id"],
                            "trigger_id": inv["trigger_id"], "ticket_id": inv["ticket_id"],
                            "url": inv["url"], "method": inv["method"], "headers": dict(inv["headers"]),
                            "body": inv["body"], "status": inv["status"], "status_code": inv["status_code"],
                            "attempts": len(inv["attempts"]), "error": last.get("error")})
            return _json({"deliveries": out})
