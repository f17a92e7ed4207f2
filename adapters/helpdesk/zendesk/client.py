"""Zendesk Support over zenpy, with our own requests session (``session.py``).

The adapter's rooms: this client (users, tickets, comments, names), ``jobs.py`` (bulk
jobs and the batch writes), ``coverage.py`` (SLA policies and triggers), ``webhook.py``
(the webhook socialdesk sets up and the checks of its deliveries).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Mapping, Sequence
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, User

from adapters.base import (
    AgentReply, Author, Cursor, FatalError, Linked, NewTicket, NotFound, Page, RetriableError, Secret,
    SkippableError, Sleep, TicketRef,
    BatchesWrites, Helpdesk, KeepsRateBudget, LinksIncidents, ReceivesWebhooks, ReportsSlaCoverage,
    SignsInWithOAuth, WritesSideBySide,
)
from adapters.helpdesk.zendesk.coverage import ZendeskCoverage
from adapters.helpdesk.zendesk.jobs import ZendeskJobs, _JobSlots
from adapters.helpdesk.zendesk.session import _raise_on_429, _translated, _ZendeskSession
from adapters.helpdesk.zendesk.webhook import ZendeskWebhooks
from adapters.http import DEFAULT_RATE_SHARE, DEFAULT_TIMEOUT, RateBudget
from adapters.oauth import BearerAuth, OAuthClient, TokenSource

log = logging.getLogger("socialdesk.zendesk")

# Zendesk issues no API tokens since 27 October 2026 and deactivates all of them then.
API_TOKEN_CUTOFF = "30 April 2027"
AUTH_MODES = ("oauth", "client_credentials", "api_token")
# rest: socialdesk writes tickets through the REST API; channel: Zendesk makes them from the
# resources socialdesk hands it (the Channel Framework, ``channel.py``).
MODES = ("rest", "channel")
TOKEN_LIFETIMES = {"expires_in": "1800", "refresh_token_expires_in": str(30 * 86400)}

AGENT_ROLES = frozenset({"agent", "admin"})


@dataclass(frozen=True)
class ZendeskSettings:
    """How to reach the account: OAuth (a grant ``socialdesk connect`` stored, or the
    client credentials of a confidential or global client), or a legacy API token."""

    url: str
    email: str | None = None
    token: Secret | None = None
    ca_bundle: str | None = None
    rate_share: float = DEFAULT_RATE_SHARE
    auth: str = ""          # empty: api_token when a token is given, else oauth
    client_id: str | None = None
    client_secret: Secret | None = None
    scope: str = "read write"
    name: str = "zendesk"

    def __repr__(self) -> str:
        return (f"ZendeskSettings(url={self.url!r}, auth={self.auth!r}, client_id={self.client_id!r}, "
                f"email={self.email!r}, token={self.token!r})")



def _iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None



class ZendeskHelpdesk(ZendeskJobs, ZendeskWebhooks, ZendeskCoverage, Helpdesk, BatchesWrites, WritesSideBySide,
                      LinksIncidents, ReceivesWebhooks, KeepsRateBudget, ReportsSlaCoverage, SignsInWithOAuth):
    """A Zendesk Support account: ``Helpdesk`` through zenpy."""

    kind: ClassVar[str] = "zendesk"
    ticket_keys: ClassVar[frozenset[str]] = frozenset({"type", "brand", "form"})
    settings_schema: ClassVar[Mapping[str, str]] = {
        "url": "url", "auth": "string", "client_id": "string", "client_secret": "secret", "scope": "string",
        "email": "string", "token": "secret", "ca_bundle": "path", "rate_share": "share", "mode": "string",
        "push_wait": "string"}
    required_settings: ClassVar[tuple[str, ...]] = ("url",)
    # What a ``sandbox: true`` entry may still set: how the account is used, not how it is reached.
    sandbox_settings: ClassVar[tuple[str, ...]] = ("mode", "push_wait")
    # Incremental exports allow 10 requests a minute.
    export_min_interval: ClassVar[float] = 6.0
    # create_many, update_many and create_or_update_many take up to 100 items a job; a
    # backlog goes out as several jobs at once. Zendesk allows an account 30 queued or
    # running jobs; socialdesk keeps to its rate share of them (15 at the default half).
    batch_max: ClassVar[int] = 100
    max_inflight_jobs: ClassVar[int] = 30
    # How long a batch waits for its background job before handing the rows back.
    job_wait: ClassVar[float] = 30.0

    def __init__(self, settings: ZendeskSettings, sleep: Sleep | None = None) -> None:
        self.settings = settings
        # How the adapter waits between job-status reads: the daemon's (use_clock) or a
        # test's. Without one it never waits: a job still running is the caller's to wait
        # for (JobPending names it), as the engine does for a row whose job is pending.
        self._sleep: Sleep | None = sleep
        parts = urlsplit(settings.url)
        if parts.scheme != "https" or not parts.netloc or "." not in parts.netloc:
            raise FatalError(f"zendesk url {settings.url!r}: expected https://<subdomain>.zendesk.com")
        self.base_url = f"https://{parts.netloc}"
        self.session = _ZendeskSession(DEFAULT_TIMEOUT)
        adapter = requests.adapters.HTTPAdapter(max_retries=0)
        self.session.mount("https://", adapter)
        if settings.ca_bundle:
            self.session.verify = settings.ca_bundle
        self.session.hooks["response"].append(_raise_on_429)
        self.batch_jobs = max(1, int(self.max_inflight_jobs * settings.rate_share))
        self._slots = _JobSlots(self.batch_jobs)
        # One account-wide requests-per-minute limit; socialdesk keeps to its share of it.
        self.session.rate_budget = RateBudget(
            "Zendesk", ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-reset"), reset_epoch=False,
            share=settings.rate_share, max_wait=60)
        # zenpy joins subdomain and domain with a dot; splitting the host at its first
        # dot gives back any host, production (acme.zendesk.com) or the sandbox's.
        subdomain, domain = parts.netloc.split(".", 1)
        self.oauth: TokenSource | None = None
        auth = settings.auth or ("api_token" if settings.token is not None else "oauth")
        if auth == "api_token":
            if not settings.email or settings.token is None:
                raise FatalError("zendesk auth 'api_token' needs email and token")
            credentials: dict[str, Any] = {"email": settings.email, "token": settings.token.reveal()}
        else:
            self.oauth = TokenSource(self._oauth_client(settings, auth))
            self.session.auth = BearerAuth(self.oauth, self.session)
            self.session.authorized = True  # zenpy leaves an authorized session's auth alone
            credentials = {}
        self.client = Zenpy(subdomain=subdomain, domain=domain, session=self.session,
                            timeout=DEFAULT_TIMEOUT[1], disable_cache=True, **credentials)
        self._roles: dict[str, str] = {}
        self._me: str | None = None
        self._names: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def settings_problems(cls, values: Mapping[str, Any]) -> list[str]:
        """What a mapping entry lacks for the way it signs in (checked with the mapping)."""
        auth = str(values.get("auth") or ("api_token" if values.get("token") is not None else "oauth"))
        if auth not in AUTH_MODES:
            return [f"auth {auth!r}: use {', '.join(AUTH_MODES)}"]
        if str(values.get("mode") or "rest") not in MODES:
            return [f"mode {values.get('mode')!r}: use {' or '.join(MODES)}"]
        from adapters.helpdesk.zendesk.channel import read_push_wait

        try:
            read_push_wait(values.get("push_wait"))
        except ValueError as err:
            return [str(err)]
        needs = {"oauth": ("client_id",), "client_credentials": ("client_id", "client_secret"),
                 "api_token": ("email", "token")}[auth]
        missing = [key for key in needs if values.get(key) is None]
        return [f"auth {auth} needs {' and '.join(missing)}"] if missing else []

    def _oauth_client(self, settings: ZendeskSettings, auth: str) -> OAuthClient:
        problems = self.settings_problems({**settings.__dict__, "auth": auth})
        if problems:
            raise FatalError(f"zendesk {problems[0]}")
        return OAuthClient(
            vendor="zendesk", endpoint=settings.name, token_url=f"{self.base_url}/oauth/tokens",
            authorize_url=f"{self.base_url}/oauth/authorizations/new", client_id=settings.client_id,
            client_secret=settings.client_secret,
            auth_method="client_secret_post" if settings.client_secret is not None else "none",
            grant="client_credentials" if auth == "client_credentials" else "authorization_code",
            scope=settings.scope, ca_bundle=settings.ca_bundle,
            # An OAuth client made before Zendesk's refresh tokens issues access tokens that
            # never expire, and no refresh token, unless the request names a lifetime: name
            # Zendesk's defaults, so every client gets the same rotating grant.
            extra=TOKEN_LIFETIMES if auth == "oauth" else {})

    def use_vault(self, vault: Any) -> None:
        """Keep the OAuth grant in ``vault`` (the state store), where ``connect`` put it."""
        if self.oauth is not None:
            self.oauth.use_vault(vault)

    @classmethod
    def from_config(cls, values: Mapping[str, Any], sleep: Sleep | None = None) -> "ZendeskHelpdesk":
        def secret(key: str) -> Secret | None:
            value = values.get(key)
            return value if isinstance(value, Secret) or value is None else Secret(str(value), key)

        auth = str(values.get("auth") or ("api_token" if values.get("token") is not None else "oauth"))
        if auth not in AUTH_MODES:
            raise FatalError(f"zendesk auth {auth!r}: use {', '.join(AUTH_MODES)}")
        if auth == "api_token":
            log.warning("zendesk %s: API tokens stop working on %s, when Zendesk deactivates them; set client_id "
                        "and run 'socialdesk connect %s' to move to OAuth", values["url"], API_TOKEN_CUTOFF,
                        values.get("name", "<helpdesk>"))
        mode = str(values.get("mode") or "rest")
        if mode not in MODES:
            raise FatalError(f"zendesk mode {mode!r}: use {' or '.join(MODES)}")
        desk = cls(ZendeskSettings(url=values["url"], email=values.get("email"), token=secret("token"),
                                   ca_bundle=values.get("ca_bundle"),
                                   rate_share=float(values.get("rate_share", DEFAULT_RATE_SHARE)),
                                   auth=auth, client_id=values.get("client_id"), client_secret=secret("client_secret"),
                                   scope=str(values.get("scope") or "read write"),
                                   name=str(values.get("name") or "zendesk")), sleep)
        if mode == "channel":
            from adapters.helpdesk.zendesk.channel import ZendeskChannel, read_push_wait

            return ZendeskChannel(desk, push_wait=read_push_wait(values.get("push_wait")))  # type: ignore[return-value]
        return desk

    def __repr__(self) -> str:
        return f"ZendeskHelpdesk({self.base_url!r})"

    # ------------------------------------------------------------------ users

    def use_clock(self, clock: Callable[[], float], sleep: Sleep | None = None) -> None:
        self.session.rate_budget.clock = clock
        if sleep is not None:
            self._sleep = sleep

    def probe(self) -> None:
        with _translated("check access"):
            self.client.users.me()

    def account_key(self) -> str:
        return self.base_url   # a Zendesk account is its subdomain

    def whoami(self) -> str:
        if self._me is None:
            with _translated("read own user"):
                me = self.client.users.me()
            self._me = str(me.id)
            self._roles[self._me] = me.role
        return self._me

    def upsert_requester(self, author: Author) -> str:
        """Create-or-update keyed on ``<network>:<author id>``: safe to repeat after a crash."""
        identities = [{"type": "twitter", "value": author.handle}] if author.network == "x" else []
        user = User(name=author.name or f"@{author.handle}", external_id=f"{author.network}:{author.id}",
                    role="end-user")
        if identities:
            user.identities = identities
        with _translated("create or update requester"):
            result = self.client.users.create_or_update(user)
        self._roles[str(result.id)] = result.role or "end-user"
        return str(result.id)

    def _learn_roles(self, user_ids: set[str]) -> None:
        """Read the roles of a page's unknown comment authors: one call per 100 of them."""
        unknown = sorted(u for u in user_ids if u.isdigit() and u not in self._roles)
        for start in range(0, len(unknown), 100):
            chunk = unknown[start:start + 100]
            with _translated("read comment authors"):
                users = list(self.client.users(ids=[int(u) for u in chunk]))
            for user in users:
                self._roles[str(user.id)] = user.role or "end-user"
            for missing in set(chunk) - {str(u.id) for u in users}:
                self._roles[missing] = "end-user"  # deleted: never an agent speaking for the brand

    def _role(self, user_id: str) -> str:
        """A comment author's role; a deleted or unreadable user counts as an end user,
        so one odd comment never stops the reading of all the others."""
        if user_id not in self._roles:
            if not user_id.isdigit():
                return "end-user"
            try:
                with _translated("read user"):
                    self._roles[user_id] = self.client.users(id=int(user_id)).role or "end-user"
            except (NotFound, SkippableError):
                self._roles[user_id] = "end-user"
        return self._roles[user_id]

    # ------------------------------------------------------------------ tickets

    def _ref(self, ticket: Any) -> TicketRef:
        """A zenpy ticket, or the ticket's JSON object, as a TicketRef."""
        get = ticket.get if isinstance(ticket, Mapping) else lambda name: getattr(ticket, name)
        return TicketRef(helpdesk=self.kind, id=str(get("id")), status=get("status"),
                         external_id=get("external_id"),
                         url=f"{self.base_url}/agent/tickets/{get('id')}",
                         requester_id=str(get("requester_id")) if get("requester_id") else None,
                         tags=tuple(get("tags") or ()), priority=get("priority"))

    def find_tickets(self, external_id: str) -> list[TicketRef]:
        with _translated("find tickets by external id"):
            found = list(self.client.tickets(external_id=external_id))
        return sorted((self._ref(t) for t in found), key=lambda ref: int(ref.id))

    @staticmethod
    def _ticket_fields(ticket: NewTicket) -> dict[str, Any]:
        """The ticket as the API takes it, for one create or a ``create_many`` batch."""
        fields: dict[str, Any] = dict(
            subject=ticket.subject, external_id=ticket.external_id,
            requester_id=int(ticket.requester_id),
            comment={"body": ticket.body, "public": ticket.public, "author_id": int(ticket.requester_id)},
            tags=list(ticket.tags))
        if ticket.priority is not None:
            fields["priority"] = ticket.priority
        if ticket.type is not None:
            fields["type"] = ticket.type
        for name in ("group_id", "brand_id", "ticket_form_id"):
            value = getattr(ticket, name)
            if value is not None:
                fields[name] = int(value)  # Zendesk ids are JSON integers
        if ticket.custom_fields:
            fields["custom_fields"] = [{"id": int(k), "value": v} for k, v in ticket.custom_fields.items()]
        if ticket.followup_of:
            fields["via_followup_source_id"] = int(ticket.followup_of)
        return fields

    def create_ticket(self, ticket: NewTicket, idempotency_key: str) -> TicketRef:
        fields = self._ticket_fields(ticket)
        fields["comment"] = Comment(**fields["comment"])
        with _translated("create ticket"), self.session.extra_headers({"Idempotency-Key": idempotency_key}):
            audit = self.client.tickets.create(Ticket(**fields))
        return self._ref(audit.ticket)


    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        """Up to 100 tickets in one call; a deleted ticket is simply absent. The JSON is
        read as it comes: building zenpy objects for a backlog's tickets costs more CPU
        than the call itself."""
        if not ticket_ids:
            return {}
        ids = ",".join(str(int(t)) for t in ticket_ids)
        found = self._api("GET", f"tickets/show_many.json?ids={ids}", "read tickets").get("tickets") or []
        return {str(t["id"]): self._ref(t) for t in found if isinstance(t, dict) and "id" in t}

    def get_ticket(self, ticket_id: str) -> TicketRef:
        with _translated("read ticket"):
            return self._ref(self.client.tickets(id=int(ticket_id)))

    def add_comment(self, ticket_id: str, body: str, *, public: bool,
                    author_id: str | None = None) -> None:
        comment = Comment(body=body, public=public)
        if author_id is not None:
            comment.author_id = int(author_id)
        with _translated("add comment" if public else "add internal note"):
            self.client.tickets.update(Ticket(id=int(ticket_id), comment=comment))

    def update_ticket(self, ticket_id: str, *, priority: str | None = None, add_tags: tuple[str, ...] = (),
                      custom_fields: Mapping[str, Any] | None = None) -> TicketRef:
        """Raise priority, add tags or set fields (rules keyed on them fire in the helpdesk)."""
        with _translated("update ticket"):
            changes: dict[str, Any] = {"id": int(ticket_id)}
            if priority is not None:
                changes["priority"] = priority
            if add_tags:
                changes["additional_tags"] = list(add_tags)  # added to the ticket's, no read needed
            if custom_fields:
                changes["custom_fields"] = [{"id": int(k), "value": v} for k, v in custom_fields.items()]
            audit = self.client.tickets.update(Ticket(**changes))
        return self._ref(audit.ticket)

    def list_comments(self, ticket_id: str) -> list[AgentReply]:
        with _translated("list comments"):
            comments = list(self.client.tickets.comments(int(ticket_id)))
        return [self._reply(ticket_id, c.id, c.author_id, c.body, c.public, c.created_at)
                for c in comments]

    def _reply(self, ticket_id: Any, comment_id: Any, author_id: Any, body: Any, public: Any,
               created_at: Any) -> AgentReply:
        author = str(author_id)
        return AgentReply(helpdesk=self.kind, ticket_id=str(ticket_id), comment_id=str(comment_id),
                          author_id=author, body=str(body or ""), public=bool(public),
                          by_agent=self._role(author) in AGENT_ROLES, created_at=_iso(created_at))

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None, *,
                            linked: Linked | None = None) -> Page:
        """Comments from the incremental ticket-events export since ``cursor`` (epoch s).

        The export leaves out the most recent minute; the cursor is the export's own
        ``end_time``, so nothing between two reads is skipped. The export carries the whole
        account's comments: with ``linked``, only those on linked tickets are kept, and only
        their authors' roles are read.
        """
        # No cursor yet: from two minutes ago (the export leaves out the last minute).
        start = page or cursor.value or str(int(time.time()) - 120)
        url = f"{self.base_url}/api/v2/incremental/ticket_events.json"
        with _translated("read ticket events"):
            response = self.session.get(url, params={"start_time": start, "include": "comment_events"})
            if response.status_code in (400, 422) and "start_time" in response.text:
                # The export refuses a start inside its last minute: nothing new yet.
                return Page(items=(), next_page=None, cursor=cursor)
            response.raise_for_status()
        try:
            body = response.json()
            events = body["ticket_events"]
        except (ValueError, KeyError, TypeError) as err:
            raise RetriableError("read ticket events: unexpected response shape") from err
        comments = [(event, child) for event in events if isinstance(event, dict)
                    for child in event.get("child_events") or []
                    if isinstance(child, dict) and "Comment" in (child.get("event_type"), child.get("type"))]
        if linked is not None and comments:
            mine = set(linked({str(event.get("ticket_id")) for event, _ in comments}))
            comments = [(event, child) for event, child in comments if str(event.get("ticket_id")) in mine]
        self._learn_roles({str(child.get("author_id")) for _, child in comments})
        items = [self._reply(event.get("ticket_id"), child.get("id"), child.get("author_id"), child.get("body"),
                             child.get("public"), child.get("created_at")) for event, child in comments]
        end_time = body.get("end_time")
        more = not body.get("end_of_stream", True) and end_time is not None
        next_cursor = Cursor(str(end_time)) if end_time is not None else cursor
        return Page(items=tuple(items), next_page=str(end_time) if more else None, cursor=next_cursor)

    # ------------------------------------------------------------------ names -> ids

    _LOOKUPS: ClassVar[dict[str, tuple[str, str, str]]] = {
        # kind: (path, collection key, name attribute)
        "group": ("groups", "groups", "name"),
        "field": ("ticket_fields", "ticket_fields", "title"),
        "brand": ("brands", "brands", "name"),
        "form": ("ticket_forms", "ticket_forms", "name"),
    }

    def lookup(self, kind: str, name: str | int) -> str:
        """The id of the group / ticket field / brand / form called ``name`` (ids pass through)."""
        if isinstance(name, int) or str(name).isdigit():
            return str(name)
        if kind not in self._LOOKUPS:
            raise FatalError(f"Zendesk has no {kind} setting; use one of: {', '.join(self._LOOKUPS)}")
        path, key, attr = self._LOOKUPS[kind]
        if kind not in self._names:
            # Names change rarely; one read per kind serves every rule a route resolves.
            self._names[kind] = self._list_all(path, key, f"list {path}")
        found = self._names[kind]
        for item in found:
            if str(item.get(attr, "")).casefold() == str(name).casefold():
                return str(item["id"])
        known = ", ".join(sorted(str(item.get(attr)) for item in found)) or "none"
        raise FatalError(f"no Zendesk {kind} named {name!r}; this account has: {known}")

    # ------------------------------------------------------------------ push setup

    def _api(self, method: str, path: str, what: str, body: Any = None) -> Any:
        with _translated(what):
            response = self.session.request(method, f"{self.base_url}/api/v2/{path}", json=body)
            response.raise_for_status()
        return response.json() if response.content else None

    def _list_all(self, path: str, key: str, what: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following its pages (cursor or offset)."""
        items: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/api/v2/{path}?page[size]=100"
        while url:
            with _translated(what):
                response = self.session.get(url)
                response.raise_for_status()
            body = response.json()
            items.extend(body.get(key, []))
            meta, links = body.get("meta") or {}, body.get("links") or {}
            # A last cursor page still carries links.next; has_more is what says "more".
            url = links.get("next") if meta.get("has_more") else body.get("next_page")
        return items

