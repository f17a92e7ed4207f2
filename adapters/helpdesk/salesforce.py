"""Salesforce Service Cloud over simple-salesforce: mentions become Cases.

Idempotent by design: a Case is upserted on a unique external-ID field holding the post
id, a Contact on an external-ID field holding the social identity. Every call goes
through one wrapper that translates simple-salesforce and requests errors into the
adapter taxonomy, reads ``Sforce-Limit-Info`` and keeps socialdesk within its share of
the org's daily API allocation.
"""
from __future__ import annotations

import collections
import contextlib
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError, SalesforceExpiredSession, SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord, SalesforceRefusedRequest, SalesforceResourceNotFound,
)
from simple_salesforce.format import format_soql

from adapters.base import (
    AgentReply, AuthFailed, Author, Cursor, FatalError, NewTicket, NotFound, Page,
    RateLimited, RetriableError, Secret, SkippableError, SocialdeskError, TicketRef,
    BatchesWrites, ChecksSetup, Helpdesk, MetersApiBudget, ReceivesOutboundMessages,
)
from adapters.http import build_session

API_VERSION = "59.0"
DAY = 24 * 3600
# Zendesk-style priorities the mapping speaks -> Case picklist values.
PRIORITIES = {"urgent": "High", "high": "High", "normal": "Medium", "low": "Low"}
CASE_FIELDS = ("Id, CaseNumber, Status, IsClosed, Priority, ContactId, Social_Post_Id__c, Social_Tags__c")
TAGS_LEN = 255


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach the org and authenticate: a given session, client credentials or JWT."""

    login_url: str
    auth: str = "client_credentials"          # client_credentials | jwt | session
    client_id: str | None = None
    client_secret: Secret | None = None
    username: str | None = None
    private_key: Secret | None = None          # PEM, for the JWT bearer flow
    session_token: Secret | None = None
    instance_url: str | None = None
    ca_bundle: str | None = None
    external_id_field: str = "Social_Post_Id__c"
    tags_field: str = "Social_Tags__c"          # Cases have no tags: agents and socialdesk use this field
    contact_key_field: str = "Social_Handle__c"
    origin: str = "Social"
    budget_share: float = 0.2

    def __repr__(self) -> str:
        return (f"SalesforceSettings(login_url={self.login_url!r}, auth={self.auth!r}, "
                f"client_id={self.client_id!r}, username={self.username!r})")


def _errors(err: SalesforceError) -> str:
    content = getattr(err, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in content[:3])
    return type(err).__name__


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Map simple-salesforce and requests failures onto the adapter taxonomy."""
    try:
        yield
    except SalesforceExpiredSession as err:
        raise AuthFailed(f"{what}: session expired or invalid") from err
    except SalesforceRefusedRequest as err:
        detail = _errors(err)
        if "REQUEST_LIMIT_EXCEEDED" in detail:
            raise RateLimited(f"{what}: the org's daily API allocation is spent", 3600.0) from err
        raise AuthFailed(f"{what}: refused ({detail})") from err
    except SalesforceResourceNotFound as err:
        raise NotFound(f"{what}: not found") from err
    except SalesforceMoreThanOneRecord as err:
        raise SkippableError(f"{what}: the external id matches several records") from err
    except SalesforceMalformedRequest as err:
        detail = _errors(err)
        if "INVALID_FIELD" in detail or "INVALID_TYPE" in detail:
            raise FatalError(f"{what}: {detail} (is the socialdesk metadata deployed?)") from err
        raise SkippableError(f"{what}: {detail}") from err
    except SalesforceError as err:
        status = getattr(err, "status", None)
        if status is None or status >= 500:
            raise RetriableError(f"{what}: HTTP {status}") from err
        raise SkippableError(f"{what}: HTTP {status} {_errors(err)}") from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err
    except requests.RequestException as err:
        raise RetriableError(f"{what}: {type(err).__name__}") from err


def _looks_like_id(value: str) -> bool:
    """A Salesforce record id (15 or 18 characters, letters and digits, with a digit)."""
    return len(value) in (15, 18) and value.isalnum() and any(c.isdigit() for c in value)


def _tags(value: Any) -> tuple[str, ...]:
    """The tags in a Case's tags field: words apart by spaces, commas or semicolons."""
    return tuple(dict.fromkeys(t for t in re.split(r"[\s,;]+", str(value or "")) if t))


def _tag_text(tags: Any) -> str:
    """Tags as the field holds them, within its 255 characters (whole tags only)."""
    kept: list[str] = []
    for tag in dict.fromkeys(tags):
        if len(" ".join([*kept, tag])) <= TAGS_LEN:
            kept.append(tag)
    return " ".join(kept)


def _soql_time(value: str) -> str:
    """A record timestamp (``2013-05-20T20:49:32.000+0000``) as a SOQL datetime literal,
    to the second (the query is inclusive, so nothing of that second is skipped)."""
    parsed = _sf_time(value)
    if parsed is None:
        return value
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sf_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+0000")
    for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    return None


class SalesforceHelpdesk(Helpdesk, BatchesWrites, MetersApiBudget, ReceivesOutboundMessages, ChecksSetup):
    """A Service Cloud org: ``Helpdesk`` through simple-salesforce (Cases, CaseComments)."""

    kind: ClassVar[str] = "salesforce"
    ticket_keys: ClassVar[frozenset[str]] = frozenset({"origin", "record_type", "entitlement", "assignment_rule"})
    settings_schema: ClassVar[Mapping[str, str]] = {
        "login_url": "url", "auth": "string", "client_id": "string", "client_secret": "secret",
        "username": "string", "private_key": "secret", "session_token": "secret",
        "instance_url": "url", "ca_bundle": "path", "external_id_field": "string", "tags_field": "string",
        "contact_key_field": "string", "origin": "string", "budget_share": "string"}
    required_settings: ClassVar[tuple[str, ...]] = ("login_url",)
    export_min_interval: ClassVar[float] = 10.0
    # sObject Collections take up to 200 records in one API call, one call at a time.
    batch_max: ClassVar[int] = 200
    batch_jobs: ClassVar[int] = 1

    def __init__(self, settings: SalesforceSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.session = build_session(settings.ca_bundle)
        self._sf: Salesforce | None = None
        self._me: str | None = None
        self._calls: collections.deque[float] = collections.deque()
        self._names: dict[tuple[str, str], str] = {}
        self.api_usage: tuple[int, int] | None = None
        self.org_id: str | None = None

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "SalesforceHelpdesk":
        def secret(name: str) -> Secret | None:
            value = values.get(name)
            return value if isinstance(value, Secret) or value is None else Secret(str(value), name)

        return cls(SalesforceSettings(
            login_url=values["login_url"], auth=values.get("auth", "client_credentials"),
            client_id=values.get("client_id"), client_secret=secret("client_secret"),
            username=values.get("username"), private_key=secret("private_key"),
            session_token=secret("session_token"), instance_url=values.get("instance_url"),
            ca_bundle=values.get("ca_bundle"),
            external_id_field=values.get("external_id_field", "Social_Post_Id__c"),
            tags_field=values.get("tags_field", "Social_Tags__c"),
            contact_key_field=values.get("contact_key_field", "Social_Handle__c"),
            origin=values.get("origin", "Social"), budget_share=float(values.get("budget_share", 0.2))))

    def __repr__(self) -> str:
        return f"SalesforceHelpdesk({self.settings.login_url!r})"

    # ------------------------------------------------------------------ session and budget

    def _token(self) -> tuple[str, str, str | None]:
        """Exchange credentials at the OAuth token endpoint: (access token, instance, user id)."""
        s = self.settings
        if s.auth == "session":
            if s.session_token is None or not (s.instance_url or s.login_url):
                raise FatalError("salesforce auth 'session' needs session_token and instance_url")
            return s.session_token.reveal(), s.instance_url or s.login_url, None
        data: dict[str, str]
        if s.auth == "client_credentials":
            if not s.client_id or s.client_secret is None:
                raise FatalError("salesforce auth 'client_credentials' needs client_id and client_secret")
            data = {"grant_type": "client_credentials", "client_id": s.client_id,
                    "client_secret": s.client_secret.reveal()}
        elif s.auth == "jwt":
            if not s.client_id or not s.username or s.private_key is None:
                raise FatalError("salesforce auth 'jwt' needs client_id, username and private_key")
            now = int(self.clock())
            assertion = jwt.encode({"iss": s.client_id, "sub": s.username, "aud": s.login_url.rstrip("/"),
                                    "exp": now + 180, "jti": uuid.uuid4().hex},
                                   s.private_key.reveal(), algorithm="RS256")
            data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        else:
            raise FatalError(f"salesforce auth {s.auth!r}: use client_credentials, jwt or session")
        with _translated("get an access token"):
            response = self.session.post(f"{s.login_url.rstrip('/')}/services/oauth2/token", data=data)
        if response.status_code in (400, 401):
            try:
                reason = response.json().get("error_description") or response.json().get("error")
            except ValueError:
                reason = f"HTTP {response.status_code}"
            raise AuthFailed(f"salesforce token endpoint refused the credentials: {reason}")
        if response.status_code >= 300:
            raise RetriableError(f"get an access token: HTTP {response.status_code}")
        body = response.json()
        # The identity URL ends /id/<org id>/<user id>.
        parts = str(body.get("id", "")).rstrip("/").rsplit("/", 2)
        self.org_id = parts[-2] if len(parts) == 3 else self.org_id
        user_id = parts[-1] or None
        return body["access_token"], body["instance_url"], user_id

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            token, instance, user_id = self._token()
            self._me = self._me or user_id
            host = urlsplit(instance).netloc or instance
            self._sf = Salesforce(instance_url=f"https://{host}", session_id=token,
                                  session=self.session, version=API_VERSION)
        return self._sf

    def _call(self, what: str, call: Callable[[Salesforce], Any]) -> Any:
        """One API call: within budget, translated, usage recorded; a refused session is
        renewed once (client credentials and JWT can always get a new token)."""
        self._spend()
        try:
            with _translated(what):
                result = call(self.sf)
        except AuthFailed:
            if self.settings.auth == "session" or self._sf is None:
                raise
            self._sf = None
            with _translated(what):
                result = call(self.sf)
        usage = (self._sf.api_usage or {}).get("api-usage") if self._sf else None
        if usage is not None:
            self.api_usage = (usage.used, usage.total)
        return result

    def _spend(self) -> None:
        """Keep socialdesk's own calls within its share of the daily allocation."""
        now = self.clock()
        while self._calls and self._calls[0] <= now - DAY:
            self._calls.popleft()
        if self.api_usage is not None:
            allowed = int(self.api_usage[1] * self.settings.budget_share)
            if len(self._calls) >= allowed:
                wait = self._calls[0] + DAY - now if self._calls else 3600.0
                raise RateLimited(f"socialdesk's share ({self.settings.budget_share:.0%}) of the "
                                  f"daily API allocation is used", max(wait, 60.0))
        self._calls.append(now)

    def budget_pressure(self) -> float:
        """How much of socialdesk's share of today's allocation is used (0 to 1)."""
        if self.api_usage is None:
            return 0.0
        allowed = max(int(self.api_usage[1] * self.settings.budget_share), 1)
        return min(len(self._calls) / allowed, 1.0)

    def budget(self) -> dict[str, Any]:
        """For ``socialdesk status`` and the next start: org usage and socialdesk's own
        calls in the last 24 hours, with those calls counted per minute so a restarted
        daemon goes on counting instead of starting from zero."""
        per_minute: dict[str, int] = {}
        for at in self._calls:
            minute = str(int(at // 60) * 60)
            per_minute[minute] = per_minute.get(minute, 0) + 1
        return {"org_usage": self.api_usage, "socialdesk_calls_24h": len(self._calls),
                "share": self.settings.budget_share, "calls_per_minute": per_minute}

    def restore_budget(self, report: Mapping[str, Any]) -> int:
        """Take back the calls an earlier run made in the last 24 hours (from ``budget()``)."""
        now = self.clock()
        restored: list[float] = []
        for minute, count in sorted((report.get("calls_per_minute") or {}).items(), key=lambda kv: float(kv[0])):
            at = float(minute)
            if at > now - DAY and isinstance(count, int):
                restored.extend([at] * max(count, 0))
        self._calls = collections.deque(sorted([*restored, *self._calls]))
        usage = report.get("org_usage")
        if self.api_usage is None and isinstance(usage, (list, tuple)) and len(usage) == 2:
            self.api_usage = (int(usage[0]), int(usage[1]))
        return len(restored)

    # ------------------------------------------------------------------ users and names

    def whoami(self) -> str:
        """The integration user's id: from the token response, else OAuth userinfo."""
        if self._me is None:
            self.sf  # authenticating may already tell: a token response names its user
        if self._me is None:
            def userinfo(sf: Salesforce) -> Any:
                response = self.session.get(f"https://{sf.sf_instance}/services/oauth2/userinfo",
                                            headers=sf.headers)
                if response.status_code in (401, 403):
                    raise AuthFailed(f"read own user: HTTP {response.status_code}")
                if response.status_code == 404:
                    raise NotFound("read own user: no userinfo endpoint")
                response.raise_for_status()
                return response.json()

            try:
                self._me = str(self._call("read own user", userinfo)["user_id"])
            except (SkippableError, NotFound, KeyError) as err:
                if not self.settings.username:
                    raise FatalError("cannot tell which user socialdesk is: set username") from err
                rows = self._call("find own user", lambda sf: sf.query(format_soql(
                    "SELECT Id FROM User WHERE Username = {}", self.settings.username)))
                self._me = str(rows["records"][0]["Id"])
        return self._me

    def upsert_requester(self, author: Author) -> str:
        """The Contact keyed on the social identity: upserted, so a retry finds it."""
        key = f"{author.network}:{author.handle}".lower()
        field = self.settings.contact_key_field
        name = author.name or f"@{author.handle}"
        data = {"LastName": name[:80], "Description": f"{author.network} @{author.handle}"}
        response = self._call("upsert contact", lambda sf: sf.Contact.upsert(
            f"{field}/{key}", data, raw_response=True))
        if response.status_code == 201 and response.content:
            return str(response.json()["id"])
        found = self._call("find contact", lambda sf: sf.query(
            format_soql(f"SELECT Id FROM Contact WHERE {field} = {{}}", key)))
        return str(found["records"][0]["Id"])

    def lookup(self, kind: str, name: str | int) -> str:
        """Ids for names a mapping uses: queue (group), record type, entitlement, field.
        Each name is read once: every rule a route resolves reuses it."""
        value = str(name)
        if _looks_like_id(value):
            return value
        if (kind, value) not in self._names:
            self._names[(kind, value)] = self._lookup(kind, value)
        return self._names[(kind, value)]

    def _lookup(self, kind: str, value: str) -> str:
        if kind == "field":
            fields = self._call("describe Case", lambda sf: sf.Case.describe())["fields"]
            for f in fields:
                if value in (f["name"], f["label"]):
                    return str(f["name"])
            raise FatalError(f"Case has no field {value!r}; deploy the socialdesk metadata or fix the mapping")
        queries = {
            "group": "SELECT Id FROM Group WHERE Type = 'Queue' AND (Name = {} OR DeveloperName = {})",
            "form": "SELECT Id FROM RecordType WHERE SobjectType = 'Case' AND (DeveloperName = {} OR Name = {})",
            "entitlement": "SELECT Id FROM Entitlement WHERE Name = {} OR Name = {}",
        }
        if kind not in queries:
            raise FatalError(f"salesforce has no {kind} setting")
        rows = self._call(f"find {kind}", lambda sf: sf.query(format_soql(queries[kind], value, value)))
        if not rows["records"]:
            raise FatalError(f"no Salesforce {kind} named {value!r}")
        return str(rows["records"][0]["Id"])

    def verify_setup(self) -> list[str]:
        """What the org lacks of the socialdesk metadata (salesforce/), read by describe."""
        s = self.settings
        wanted = {"Case": {s.external_id_field: "external id", "Social_Network__c": "", "Social_Post_Url__c": "",
                           s.tags_field: ""},
                  "Contact": {s.contact_key_field: "external id"}}
        missing: list[str] = []
        for sobject, fields in wanted.items():
            described = self._call(f"describe {sobject}", lambda sf: getattr(sf, sobject).describe())["fields"]
            by_name = {f["name"]: f for f in described}
            for name, need in fields.items():
                field = by_name.get(name)
                if field is None:
                    missing.append(f"{sobject}.{name} is missing (deploy salesforce/force-app)")
                elif need == "external id" and not field.get("externalId"):
                    missing.append(f"{sobject}.{name} exists but is not marked External ID")
        return missing

    # ------------------------------------------------------------------ cases

    def _ref(self, case: Mapping[str, Any]) -> TicketRef:
        closed = bool(case.get("IsClosed"))
        status = "closed" if closed else ("new" if case.get("Status") == "New" else "open")
        return TicketRef(helpdesk=self.kind, id=str(case["Id"]), status=status,
                         external_id=case.get(self.settings.external_id_field),
                         tags=_tags(case.get(self.settings.tags_field)),
                         url=f"{self.sf.base_url.split('/services/')[0]}/lightning/r/Case/{case['Id']}/view",
                         requester_id=case.get("ContactId"), priority=case.get("Priority"))

    def _fields(self) -> str:
        return (CASE_FIELDS.replace("Social_Post_Id__c", self.settings.external_id_field)
                .replace("Social_Tags__c", self.settings.tags_field))

    def find_tickets(self, external_id: str) -> list[TicketRef]:
        field = self.settings.external_id_field
        rows = self._call("find cases", lambda sf: sf.query(format_soql(
            f"SELECT {self._fields()} FROM Case WHERE {field} = {{}} ORDER BY CreatedDate", external_id)))
        return [self._ref(r) for r in rows["records"]]

    def _case_data(self, ticket: NewTicket) -> dict[str, Any]:
        """The Case fields for ``ticket`` (the external id excepted)."""
        data: dict[str, Any] = {
            "Subject": ticket.subject[:255], "Description": ticket.body[:32000],
            "Origin": ticket.origin or self.settings.origin, "ContactId": ticket.requester_id}
        if ticket.priority:
            data["Priority"] = PRIORITIES.get(ticket.priority, ticket.priority)
        if ticket.group_id is not None:
            data["OwnerId"] = str(ticket.group_id)
        record_type = ticket.record_type_id or ticket.ticket_form_id
        if record_type is not None:
            data["RecordTypeId"] = str(record_type)
        if ticket.followup_of:
            data["ParentId"] = ticket.followup_of
        if ticket.entitlement_id is not None:
            data["EntitlementId"] = str(ticket.entitlement_id)
        if ticket.tags:
            data[self.settings.tags_field] = _tag_text(ticket.tags)
        data.update({str(k): v for k, v in ticket.custom_fields.items()})
        return data

    @staticmethod
    def _auto_assign(ticket: NewTicket) -> str:
        """Assignment rules route the case unless the mapping says, or names an owner."""
        run = ticket.assignment_rule if ticket.assignment_rule is not None else ticket.group_id is None
        return "TRUE" if run else "FALSE"

    def create_ticket(self, ticket: NewTicket, idempotency_key: str) -> TicketRef:
        """Upsert on the external-ID field: a retry updates the same Case, never a second."""
        data = self._case_data(ticket)
        field = self.settings.external_id_field
        headers = {"Sforce-Auto-Assign": self._auto_assign(ticket)}
        response = self._call("upsert case", lambda sf: sf.Case.upsert(
            f"{field}/{ticket.external_id}", data, raw_response=True, headers=headers))
        if response.status_code == 201 and response.content:
            # Created now: its id is in the answer, no read-back needed (API budget).
            return self._new_ref(ticket, response.json()["id"], data)
        found = self.find_tickets(ticket.external_id)
        if not found:
            raise RetriableError("upsert case: the case is not readable yet")
        return found[0]

    def _new_ref(self, ticket: NewTicket, case_id: str, data: Mapping[str, Any]) -> TicketRef:
        return self._ref({"Id": case_id, "Status": "New", "IsClosed": False,
                          self.settings.external_id_field: ticket.external_id,
                          "ContactId": ticket.requester_id, "Priority": data.get("Priority"),
                          self.settings.tags_field: data.get(self.settings.tags_field)})

    # ------------------------------------------------------------------ batches (sObject collections)

    def _collection(self, what: str, method: str, path: str, records: list[dict[str, Any]],
                    headers: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """sObject Collections calls of up to 200 records (one API call each), per-record results."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(records), self.batch_max):
            body = {"allOrNone": False, "records": records[start:start + self.batch_max]}
            results = self._call(what, lambda sf: sf.restful(path, method=method, json=body,
                                                             headers=dict(headers or {})))
            if not isinstance(results, list) or len(results) != len(body["records"]):
                raise RetriableError(f"{what}: unexpected collection response")
            out.extend(results)
        return out

    @staticmethod
    def _failure(result: Mapping[str, Any], what: str) -> SkippableError | None:
        if result.get("success"):
            return None
        errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors") or [])
        return SkippableError(f"{what}: {errors or 'refused'}")

    def upsert_requesters(self, authors: Sequence[Author],
                          on_submitted: Callable[[str, int, int], None] | None = None) -> list[str | SocialdeskError]:
        """Contacts upserted on the social identity, up to 200 in one call."""
        field = self.settings.contact_key_field
        records = [{"attributes": {"type": "Contact"}, field: f"{a.network}:{a.handle}".lower(),
                    "LastName": (a.name or f"@{a.handle}")[:80], "Description": f"{a.network} @{a.handle}"}
                   for a in authors]
        results = self._collection("upsert contacts", "PATCH", f"composite/sobjects/Contact/{field}", records)
        return [self._failure(r, "upsert contact") or str(r["id"]) for r in results]

    def create_tickets(self, tickets: Sequence[NewTicket],
                       on_submitted: Callable[[str, int, int], None] | None = None) -> list[TicketRef | SocialdeskError]:
        """Cases upserted on the external-ID field, up to 200 a call (one per assignment setting)."""
        field = self.settings.external_id_field
        out: dict[int, TicketRef | SocialdeskError] = {}
        groups: dict[str, list[int]] = {}
        for index, ticket in enumerate(tickets):
            groups.setdefault(self._auto_assign(ticket), []).append(index)
        for assign, indexes in groups.items():
            datas = [self._case_data(tickets[i]) for i in indexes]
            records = [{"attributes": {"type": "Case"}, field: tickets[i].external_id, **data}
                       for i, data in zip(indexes, datas)]
            results = self._collection("upsert cases", "PATCH", f"composite/sobjects/Case/{field}", records,
                                       {"Sforce-Auto-Assign": assign})
            for i, data, result in zip(indexes, datas, results):
                out[i] = self._failure(result, "upsert case") or self._new_ref(tickets[i], str(result["id"]), data)
        return [out[i] for i in range(len(tickets))]

    def add_comments(self, comments: Sequence[tuple[str, str, bool, str | None]],
                     on_submitted: Callable[[str, int, int], None] | None = None) -> list[None | SocialdeskError]:
        """CaseComments, up to 200 in one call."""
        records = [{"attributes": {"type": "CaseComment"}, "ParentId": ticket_id,
                    "CommentBody": body[:4000], "IsPublished": public}
                   for ticket_id, body, public, _ in comments]
        results = self._collection("add case comments", "POST", "composite/sobjects", records)
        return [self._failure(r, "add case comment") for r in results]

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        """The cases that still exist, in one query."""
        if not ticket_ids:
            return {}
        rows = self._call("read cases", lambda sf: sf.query_all(format_soql(
            f"SELECT {self._fields()} FROM Case WHERE Id IN {{}}", list(ticket_ids))))
        return {str(r["Id"]): self._ref(r) for r in rows["records"]}

    def job_settled(self, job_id: str) -> bool:
        """Collections are synchronous: nothing is ever left running."""
        return True

    def get_ticket(self, ticket_id: str) -> TicketRef:
        rows = self._call("read case", lambda sf: sf.query(format_soql(
            f"SELECT {self._fields()} FROM Case WHERE Id = {{}}", ticket_id)))
        if not rows["records"]:
            raise NotFound(f"read case: no case {ticket_id}")
        return self._ref(rows["records"][0])

    def update_ticket(self, ticket_id: str, *, priority: str | None = None, add_tags: tuple[str, ...] = (),
                      custom_fields: Mapping[str, Any] | None = None) -> TicketRef:
        """Raise a Case's priority, add tags (to the tags field) or set its fields:
        escalation rules key on them."""
        data: dict[str, Any] = {str(k): v for k, v in (custom_fields or {}).items()}
        if priority is not None:
            data["Priority"] = PRIORITIES.get(priority, priority)
        if add_tags:
            current = self.get_ticket(ticket_id).tags
            data[self.settings.tags_field] = _tag_text((*current, *add_tags))
        if data:
            self._call("update case", lambda sf: sf.Case.update(ticket_id, data))
        return self.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, body: str, *, public: bool,
                    author_id: str | None = None) -> None:
        """A CaseComment; ``IsPublished`` is what the customer may see."""
        self._call("add case comment", lambda sf: sf.CaseComment.create(
            {"ParentId": ticket_id, "CommentBody": body[:4000], "IsPublished": public}))

    def list_comments(self, ticket_id: str) -> list[AgentReply]:
        """The case's opening message (its Description) and then its CaseComments."""
        case = self._call("read case", lambda sf: sf.query(format_soql(
            "SELECT Id, Description, CreatedById, CreatedDate FROM Case WHERE Id = {}", ticket_id)))
        if not case["records"]:
            raise NotFound(f"list case comments: no case {ticket_id}")
        opening = case["records"][0]
        rows = self._call("list case comments", lambda sf: sf.query_all(format_soql(
            "SELECT Id, ParentId, CommentBody, IsPublished, CreatedById, CreatedDate "
            "FROM CaseComment WHERE ParentId = {} ORDER BY CreatedDate, Id", ticket_id)))
        first = AgentReply(helpdesk=self.kind, ticket_id=ticket_id, comment_id=f"{ticket_id}:description",
                           author_id=str(opening.get("CreatedById")), body=str(opening.get("Description") or ""),
                           public=True, by_agent=False, created_at=_sf_time(opening.get("CreatedDate")))
        return [first, *(self._reply(r) for r in rows["records"])]

    def _reply(self, row: Mapping[str, Any]) -> AgentReply:
        author = str(row.get("CreatedById"))
        # Customers' words arrive through the integration user; anyone else is an agent.
        return AgentReply(helpdesk=self.kind, ticket_id=str(row["ParentId"]), comment_id=str(row["Id"]),
                          author_id=author, body=str(row.get("CommentBody") or ""),
                          public=bool(row.get("IsPublished")), by_agent=author != self.whoami(),
                          created_at=_sf_time(row.get("CreatedDate")))

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None) -> Page:
        """Comments on socialdesk's cases since ``cursor`` (SystemModstamp): one SOQL
        query per poll over every linked case, never one call per case.

        The cursor is inclusive (>=): comments sharing the boundary timestamp are read
        again and dropped by the outbox's uniqueness, never skipped.
        """
        field = self.settings.external_id_field
        if page:
            rows = self._call("read comments (next page)", lambda sf: sf.query_more(page, identifier_is_url=True))
        else:
            since = _soql_time(cursor.value) if cursor.value else datetime.fromtimestamp(
                self.clock() - 120, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            soql = ("SELECT Id, ParentId, CommentBody, IsPublished, CreatedById, CreatedDate, SystemModstamp "
                    f"FROM CaseComment WHERE SystemModstamp >= {since} AND Parent.{field} != null "
                    "ORDER BY SystemModstamp, Id")
            rows = self._call("read comments", lambda sf: sf.query(soql))
        records = rows.get("records", [])
        newest = max((r.get("SystemModstamp") for r in records if r.get("SystemModstamp")), default=None)
        next_page = None if rows.get("done", True) else rows.get("nextRecordsUrl")
        start = cursor.value or (None if page else since)
        return Page(items=tuple(self._reply(r) for r in records), next_page=next_page,
                    cursor=Cursor(newest or start))

    # ---- service levels (read only)

    def service_levels(self, entitlement: str | None) -> dict[str, Any]:
        """What an org does with a case for SLAs, read by SOQL.

        ``entitlement`` (a name or an id; None: none) -> its Status, dates and entitlement
        process (Name, IsActive); the org's milestone types (``MilestoneType``; an org that
        does not expose it gets ``milestones`` None and a note); and the active Case
        assignment rule. An object the org does not expose is said in ``*_problem`` /
        ``milestones_note`` rather than raised; auth, rate and transient errors raise.
        """
        out: dict[str, Any] = {"entitlement": None, "entitlement_problem": None, "process": None,
                               "milestones": None, "milestones_note": None,
                               "assignment_rule": None, "assignment_rule_problem": None}
        if entitlement is not None and str(entitlement).strip():
            value = str(entitlement).strip()
            where = "Id = {}" if _looks_like_id(value) else "Name = {}"
            soql = format_soql("SELECT Id, Name, Status, Type, StartDate, EndDate, SlaProcessId "
                               f"FROM Entitlement WHERE {where} ORDER BY EndDate DESC NULLS LAST", value)
            try:
                rows = self._call("read entitlement", lambda sf: sf.query(soql))["records"]
            except (FatalError, SkippableError) as err:
                rows = None
                out["entitlement_problem"] = f"entitlements not readable ({err}); is entitlement management on?"
            if rows == []:
                out["entitlement_problem"] = f"no Entitlement named {value!r}"
            elif rows:
                r = rows[0]
                out["entitlement"] = {"id": r.get("Id"), "name": r.get("Name"), "status": r.get("Status"),
                                      "type": r.get("Type"), "start_date": r.get("StartDate"),
                                      "end_date": r.get("EndDate"), "sla_process_id": r.get("SlaProcessId")}
                process_id = r.get("SlaProcessId")
                if process_id:
                    try:
                        found = self._call("read entitlement process", lambda sf: sf.query(format_soql(
                            "SELECT Id, Name, IsActive, Description, VersionNumber FROM SlaProcess "
                            "WHERE Id = {}", process_id)))["records"]
                    except (FatalError, SkippableError) as err:
                        found = []
                        out["entitlement_problem"] = f"entitlement process not readable ({err})"
                    if found:
                        p = found[0]
                        out["process"] = {"id": p.get("Id"), "name": p.get("Name"),
                                          "active": p.get("IsActive"), "description": p.get("Description"),
                                          "version": p.get("VersionNumber")}
                try:
                    types = self._call("read milestone types", lambda sf: sf.query_all(
                        "SELECT Id, Name, Description, RecurrenceType FROM MilestoneType ORDER BY Name"))
                    out["milestones"] = [{"id": m.get("Id"), "name": m.get("Name"),
                                          "description": m.get("Description"),
                                          "recurrence": m.get("RecurrenceType")} for m in types["records"]]
                except (FatalError, SkippableError, NotFound):
                    out["milestones_note"] = "milestones not readable (this org does not expose MilestoneType)"
        try:
            rules = self._call("read assignment rules", lambda sf: sf.query(
                "SELECT Id, Name FROM AssignmentRule WHERE SobjectType = 'Case' AND Active = true"))["records"]
            if rules:
                out["assignment_rule"] = {"id": rules[0].get("Id"), "name": rules[0].get("Name")}
        except (FatalError, SkippableError) as err:
            out["assignment_rule_problem"] = f"assignment rules not readable ({err})"
        return out
