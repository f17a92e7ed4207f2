"""Salesforce Service Cloud over simple-salesforce: mentions become Cases.

Idempotent by design: a Case is inserted with a unique external-ID field holding the post
id (a retry finds it there), a Contact on an external-ID field holding the social identity. Every call goes
through one wrapper that translates simple-salesforce and requests errors into the
adapter taxonomy (``errors.py``), reads ``Sforce-Limit-Info`` and keeps socialdesk within
its share of the org's daily API allocation (``budget.py``). The other rooms:
``batches.py`` (sObject Collections), ``coverage.py`` (entitlements, service levels),
``outbound.py`` (Outbound Messaging).
"""
from __future__ import annotations

import collections
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import urlsplit

import jwt
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from adapters.base import (
    AgentReply, AuthFailed, Author, Cursor, FatalError, Linked, NewTicket, NotFound, Page,
    RetriableError, Secret, SkippableError, TicketRef,
    BatchesWrites, ChecksSetup, Helpdesk, MetersApiBudget, ReceivesOutboundMessages, ReportsSlaCoverage,
    SignsInWithOAuth,
)
from adapters.helpdesk.salesforce.batches import SalesforceBatches
from adapters.helpdesk.salesforce.budget import SalesforceBudget
from adapters.helpdesk.salesforce.coverage import SalesforceCoverage
from adapters.helpdesk.salesforce.errors import _translated
from adapters.helpdesk.salesforce.outbound import SalesforceOutbound
from adapters.helpdesk.salesforce.records import (
    CASE_FIELDS, NO_ASSIGN, PRIORITIES, _comment_text, _duplicate_of, _looks_like_id, _sf_time, _soql_time,
    _tag_text, _tags,
)
from adapters.http import build_session
from adapters.oauth import OAuthClient, TokenSource

API_VERSION = "59.0"


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach the org and authenticate: a given session, client credentials or JWT."""

    login_url: str
    auth: str = "client_credentials"          # client_credentials | jwt | web_server | session
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
    # The JWT's audience: Salesforce takes only its login hosts (or an Experience Cloud
    # site's URL) there, whatever host the token request goes to.
    audience: str | None = None
    name: str = "salesforce"

    def __repr__(self) -> str:
        return (f"SalesforceSettings(login_url={self.login_url!r}, auth={self.auth!r}, "
                f"client_id={self.client_id!r}, username={self.username!r})")



class SalesforceHelpdesk(SalesforceBatches, SalesforceBudget, SalesforceCoverage, SalesforceOutbound, Helpdesk,
                         BatchesWrites, MetersApiBudget, ReceivesOutboundMessages, ChecksSetup, ReportsSlaCoverage, SignsInWithOAuth):
    """A Service Cloud org: ``Helpdesk`` through simple-salesforce (Cases, CaseComments)."""

    kind: ClassVar[str] = "salesforce"
    ticket_keys: ClassVar[frozenset[str]] = frozenset({"origin", "record_type", "entitlement", "assignment_rule"})
    settings_schema: ClassVar[Mapping[str, str]] = {
        "login_url": "url", "auth": "string", "client_id": "string", "client_secret": "secret",
        "username": "string", "private_key": "secret", "session_token": "secret",
        "instance_url": "url", "ca_bundle": "path", "external_id_field": "string", "tags_field": "string",
        "contact_key_field": "string", "origin": "string", "budget_share": "string", "audience": "url"}
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
        self.oauth: TokenSource | None = None
        self._refused_token: str | None = None
        if settings.auth == "web_server":
            if not settings.client_id or settings.client_secret is None:
                raise FatalError("salesforce auth 'web_server' needs client_id and client_secret")
            login = settings.login_url.rstrip("/")
            self.oauth = TokenSource(OAuthClient(
                vendor="salesforce", endpoint=settings.name, token_url=f"{login}/services/oauth2/token",
                authorize_url=f"{login}/services/oauth2/authorize", client_id=settings.client_id,
                client_secret=settings.client_secret, scope="api refresh_token", ca_bundle=settings.ca_bundle))

    def use_vault(self, vault: Any) -> None:
        """Keep the web-server flow's grant in ``vault`` (the state store)."""
        if self.oauth is not None:
            self.oauth.use_vault(vault)

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
            origin=values.get("origin", "Social"), budget_share=float(values.get("budget_share", 0.2)),
            audience=values.get("audience"), name=str(values.get("name") or "salesforce")))

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
        if s.auth == "web_server" and self.oauth is not None:
            refused, self._refused_token = self._refused_token, None
            token = self.oauth.refused(refused) if refused else self.oauth.access_token()
            extra = self.oauth.grant.extra if self.oauth.grant is not None else {}
            return token, extra.get("instance_url") or s.instance_url or s.login_url, self._learn_org(extra.get("id", ""))
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
            assertion = jwt.encode({"iss": s.client_id, "sub": s.username, "aud": self._audience(),
                                    "exp": now + 180, "jti": uuid.uuid4().hex},
                                   s.private_key.reveal(), algorithm="RS256")
            data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        else:
            raise FatalError(f"salesforce auth {s.auth!r}: use client_credentials, jwt, web_server or session")
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
        return body["access_token"], body["instance_url"], self._learn_org(str(body.get("id", "")))

    def _learn_org(self, identity: str) -> str | None:
        """The org and user of an identity URL (``.../id/<org id>/<user id>``): the user id."""
        parts = identity.rstrip("/").rsplit("/", 2)
        if len(parts) == 3 and parts[-2]:
            self.org_id = parts[-2]
        return parts[-1] or None if len(parts) == 3 else None

    def _audience(self) -> str:
        if self.settings.audience:
            return self.settings.audience.rstrip("/")
        host = urlsplit(self.settings.login_url).netloc
        # A sandbox org signs in at test.salesforce.com or a *.sandbox.my.salesforce.com domain.
        sandbox_org = host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")
        return "https://test.salesforce.com" if sandbox_org else "https://login.salesforce.com"

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
            self._refused_token = self._sf.session_id
            self._sf = None
            with _translated(what):
                result = call(self.sf)
        usage = (self._sf.api_usage or {}).get("api-usage") if self._sf else None
        if usage is not None:
            self.api_usage = (usage.used, usage.total)
        return result


    # ------------------------------------------------------------------ users and names

    def probe(self) -> None:
        self._call("check access", lambda sf: sf.limits())

    def account_key(self) -> str:
        self.whoami()   # signing in names the org
        return f"org {self.org_id}" if self.org_id else f"login {self.settings.login_url}"

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
        """Insert the Case with its post id in the unique external-ID field; a retry finds and
        reads the Case the first attempt made. Not an upsert: its update half would run the
        assignment rule again (the route's TRUE) and take the Case from the agent who has it."""
        data = self._case_data(ticket)
        field = self.settings.external_id_field
        headers = {"Sforce-Auto-Assign": self._auto_assign(ticket)}

        def insert(sf: Salesforce) -> Any:
            try:
                return sf.Case.create({field: ticket.external_id, **data}, headers=headers)
            except SalesforceMalformedRequest as err:
                if _duplicate_of(err, field):
                    return None
                raise

        created = self._call("create case", insert)
        if created is not None:  # its id is in the answer, no read-back needed (API budget)
            return self._new_ref(ticket, str(created["id"]), data)
        found = self.find_tickets(ticket.external_id)
        if not found:
            raise RetriableError("create case: the case is not readable yet")
        return found[0]

    def _new_ref(self, ticket: NewTicket, case_id: str, data: Mapping[str, Any]) -> TicketRef:
        return self._ref({"Id": case_id, "Status": "New", "IsClosed": False,
                          self.settings.external_id_field: ticket.external_id,
                          "ContactId": ticket.requester_id, "Priority": data.get("Priority"),
                          self.settings.tags_field: data.get(self.settings.tags_field)})

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
            # Told not to: without the header the REST API reassigns the Case by the rules.
            self._call("update case", lambda sf: sf.Case.update(ticket_id, data, headers=dict(NO_ASSIGN)))
        return self.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, body: str, *, public: bool,
                    author_id: str | None = None) -> None:
        """A CaseComment; ``IsPublished`` is what the customer may see."""
        self._call("add case comment", lambda sf: sf.CaseComment.create(
            {"ParentId": ticket_id, "CommentBody": _comment_text(body), "IsPublished": public},
            headers=dict(NO_ASSIGN)))

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

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None, *, linked: Linked | None = None) -> Page:
        """Comments on socialdesk's cases (``linked``: the caller's) since ``cursor``
        (SystemModstamp): one SOQL query per poll over every linked case, never one per case.

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
        return Page(items=tuple(self._reply(r) for r in _on_linked_cases(records, linked)), next_page=next_page,
                    cursor=Cursor(newest or start))


def _on_linked_cases(records: list[Any], linked: Linked | None) -> list[Any]:
    """The comments on cases ``linked`` names (all of them without it)."""
    if linked is None or not records:
        return records
    mine = set(linked({str(r["ParentId"]) for r in records}))
    return [r for r in records if str(r["ParentId"]) in mine]
