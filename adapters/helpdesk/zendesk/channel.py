"""Zendesk's Channel Framework (any_channel): socialdesk as a channel integration.

In this mode Zendesk makes the tickets. socialdesk hands it external resources (the posts
a route read, in the shape of Zendesk's ``external_resource.json``): pushed as they come
(``POST /api/v2/any_channel/push``, up to 256 a request, with the token Zendesk gave the
integration instance) and answered when Zendesk pulls. Zendesk threads them natively by
``thread_id`` (a conversation's later posts become comments; a closed ticket's thread gets a
follow-up) and calls socialdesk's channelback URL with each public reply an agent writes.

The REST API still does what the framework does not: names resolved to ids, the ticket
settings a resource cannot set at creation (group, brand, form), internal notes, and the tickets socialdesk opens on its own (a spike's problem ticket).

The engine writes through ``Helpdesk`` as in REST mode. A ticket it holds here is a
framework thread (a reference the ``ThreadLedger`` keeps, sync/channel): Zendesk creates
the ticket itself, and says which one it is only later.

This module also speaks the framework's wire: the manifest, the resources, the pull and
channelback answers, and what Zendesk posts to the integration (admin UI, pull,
channelback, event callbacks). The vendor facts modelled are from Zendesk's Channel
Framework documentation and its JSON Schemas (zendesk/any_channel_json_schemas v0.15.0).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence
from urllib.parse import urlsplit

import requests

from adapters.base import (
    AgentReply, Author, BatchesWrites, Cursor, FatalError, Helpdesk, KeepsRateBudget, Linked, LinksIncidents,
    NewTicket, NotFound, OnSubmitted, Page, ReportsSlaCoverage, RetriableError, Secret, SignsInWithOAuth, Sleep,
    SocialdeskError, TicketRef,
)
from adapters.helpdesk.zendesk.session import _raise_on_429, _translated, _ZendeskSession
from adapters.http import DEFAULT_TIMEOUT, RateBudget

log = logging.getLogger("socialdesk.zendesk")

# Limits of the framework's schemas: resources per push or pull, message length, ids.
MAX_RESOURCES = 256
MAX_MESSAGE = 65535
MAX_EXTERNAL_ID = 255
MAX_FIELDS = 64
MAX_METADATA = 5000
# What a pushed resource's status says (Zendesk's push API reference).
IMPORTED = ("success", "already_imported")
PUSH_STATUSES = (*IMPORTED, "could_not_locate_parent_external_resource", "processing_error", "halted")
# What a resource's ``fields`` sets on the ticket it creates: "system fields such as subject"
# by their English name (subject, priority, type, tags) and custom fields by id (push API
# reference, fields array; "only on ticket creation"). A group, brand or form has no such
# name: it is set right after Zendesk made the ticket, through the REST API.
AT_CREATION = ("subject", "priority", "type", "tags", "custom_fields")
AFTER_CREATION = ("group_id", "brand_id", "ticket_form_id")
# display_info type of the post a resource carries (a URI: Zendesk asks for a globally unique type).
DISPLAY_POST = "urn:socialdesk:display:post:1"


# A mapping's ``push_wait``: seconds a new resource may wait to fill a push. Past Zendesk's
# pull interval (about 2 minutes) a longer wait saves nothing: its pull takes them.
MAX_PUSH_WAIT = 120.0


def read_push_wait(value: Any) -> float | None:
    """A mapping's ``push_wait`` in seconds (``3``, ``2.5``, ``"3s"``), None when not set;
    ValueError saying what is allowed."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    text = text[:-1].strip() if text.endswith("s") else text
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"push_wait {value!r}: expected seconds, like 3 or 2.5s") from None
    if not 0.0 <= seconds <= MAX_PUSH_WAIT:
        raise ValueError(f"push_wait {value!r}: expected 0 to {MAX_PUSH_WAIT:g} seconds")
    return seconds


def external_id_ok(value: str) -> bool:
    """The schemas' ``external-id`` format as Zendesk documents it: 1 to 255 ASCII characters."""
    return 0 < len(value) <= MAX_EXTERNAL_ID and value.isascii()


def _iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- what Zendesk sends


@dataclass(frozen=True)
class AdminRequest:
    """What Zendesk posts to ``admin_ui`` when an admin adds (or edits) an account."""

    subdomain: str
    return_url: str
    locale: str | None = None
    instance_push_id: str | None = None
    push_token: Secret | None = None
    name: str | None = None
    metadata: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class ChannelbackRequest:
    """An agent's public reply, as Zendesk posts it to ``channelback_url``."""

    metadata: str
    message: str
    parent_id: str | None = None
    thread_id: str | None = None
    recipient_id: str | None = None
    request_key: str | None = None
    file_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelEvent:
    """One event callback (``event_callback_base.json``)."""

    type_id: str
    subdomain: str
    integration_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


EVENT_TYPES = ("create_integration", "destroy_integration", "activate_integration_instance",
               "deactivate_integration_instance", "create_integration_instance", "destroy_integration_instance",
               "destroy_user_identity", "pull_request", "resources_created_from_external_ids", "channelback")


def _text(form: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = form.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    return value


def read_admin(form: Mapping[str, Any]) -> AdminRequest:
    """The admin UI's POST; ValueError saying what is missing or malformed."""
    token = _text(form, "zendesk_access_token", 1000)
    return_url = _text(form, "return_url", 2048, required=True) or ""
    if urlsplit(return_url).scheme not in ("https", "http") or not urlsplit(return_url).netloc:
        raise ValueError("return_url must be an absolute URL")
    return AdminRequest(subdomain=_text(form, "subdomain", 255, required=True) or "", return_url=return_url,
                        locale=_text(form, "locale", 40), instance_push_id=_text(form, "instance_push_id", 255),
                        push_token=Secret(token, "zendesk_access_token") if token else None,
                        name=_text(form, "name", 255), metadata=_text(form, "metadata", MAX_METADATA),
                        state=_text(form, "state", MAX_METADATA))


def read_pull(form: Mapping[str, Any]) -> tuple[str, str | None]:
    """(metadata, state) of a pull request; ValueError when metadata is missing."""
    return _text(form, "metadata", MAX_METADATA, required=True) or "", _text(form, "state", MAX_METADATA)


def read_channelback(form: Mapping[str, Any], file_urls: Sequence[str] = ()) -> ChannelbackRequest:
    """A channelback's form fields (Zendesk's channelback reference: message up to 65,535
    characters, parent and thread ids up to 511, recipient up to 255)."""
    return ChannelbackRequest(
        metadata=_text(form, "metadata", MAX_METADATA, required=True) or "",
        message=_text(form, "message", MAX_MESSAGE, required=True) or "",
        parent_id=_text(form, "parent_id", 511), thread_id=_text(form, "thread_id", 511),
        recipient_id=_text(form, "recipient_id", 255), request_key=_text(form, "request_unique_identifier", 255),
        file_urls=tuple(file_urls))


def read_events(body: bytes) -> list[ChannelEvent]:
    """An event callback POST (``{"events": [...]}``); ValueError when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise ValueError('expected {"events": [...]}')
    out: list[ChannelEvent] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise ValueError(f"events[{index}] is not an object")
        missing = [k for k in ("type_id", "timestamp", "subdomain", "integration_name", "integration_id", "data")
                   if k not in event]
        if missing:
            raise ValueError(f"events[{index}] lacks {', '.join(missing)}")
        if event["type_id"] not in EVENT_TYPES or not isinstance(event["data"], dict):
            raise ValueError(f"events[{index}]: unknown type_id or data not an object")
        out.append(ChannelEvent(type_id=event["type_id"], subdomain=str(event["subdomain"]),
                                integration_id=str(event["integration_id"]), data=event["data"],
                                error=event.get("error") if isinstance(event.get("error"), str) else None))
    return out


# --------------------------------------------------------------------------- what socialdesk answers


def manifest(*, name: str, integration_id: str, version: str, author: str, urls: Mapping[str, str],
             push_client_id: str | None) -> dict[str, Any]:
    """The integration manifest (``manifest.json``); FatalError when a URL is not https
    (the schema's ``https-url`` format: Zendesk calls integrations over HTTPS only)."""
    for key, url in urls.items():
        if urlsplit(url).scheme != "https" or len(url) > 511:
            raise FatalError(f"the Channel Framework needs https URLs of at most 511 characters; {key} is {url!r}: "
                             f"set webhook.public_url to the daemon's https address")
    body: dict[str, Any] = {"name": name[:255], "id": integration_id[:511], "version": version[:255],
                            "author": author[:255], "channelback_files": False, "create_followup_tickets": True,
                            "urls": dict(urls)}
    if push_client_id:
        body["push_client_id"] = push_client_id[:128]
    return body


def external_resource(*, external_id: str, message: str, thread_id: str, created_at: datetime | None,
                      author: Author, fields: Mapping[str, Any] | None = None,
                      display: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One external resource. The author is known to Zendesk by ``<network>:<id>`` (the
    same external id REST mode gives the requester); ``fields`` sets the subject and custom
    fields on the ticket it creates (ignored when it lands in an existing ticket)."""
    if not external_id_ok(external_id) or not external_id_ok(thread_id):
        raise ValueError(f"external and thread ids are 1 to {MAX_EXTERNAL_ID} ASCII characters: {external_id!r}")
    resource: dict[str, Any] = {
        "external_id": external_id,
        "message": (message.strip() or "(no text)")[:MAX_MESSAGE],
        "thread_id": thread_id,
        "created_at": _iso(created_at),
        "author": {"external_id": f"{author.network}:{author.id}"[:MAX_EXTERNAL_ID],
                   "name": (author.name or f"@{author.handle}")[:255]},
        "allow_channelback": True,
    }
    values = [{"id": key if key == "subject" else int(key) if str(key).isdigit() else key, "value": value}
              for key, value in (fields or {}).items() if value is not None]
    if values:
        resource["fields"] = values[:MAX_FIELDS]
    if display:
        resource["display_info"] = [{"type": DISPLAY_POST, "data": dict(display)}]
    return resource


def pull_payload(resources: Sequence[Mapping[str, Any]], state: str) -> dict[str, Any]:
    """A pull's answer (``pull_payload.json``)."""
    if len(resources) > MAX_RESOURCES:
        raise ValueError(f"a pull answers at most {MAX_RESOURCES} resources")
    return {"external_resources": [dict(r) for r in resources], "state": state[:MAX_METADATA]}


def channelback_payload(external_id: str) -> dict[str, Any]:
    """A successful channelback's answer (``channelback_payload.json``)."""
    return {"external_id": external_id, "allow_channelback": True}


# --------------------------------------------------------------------------- push


@dataclass(frozen=True)
class PushResult:
    """What Zendesk did with one pushed resource (its ``results`` entry)."""

    external_id: str
    status: str
    description: str | None = None

    @property
    def imported(self) -> bool:
        return self.status in IMPORTED


class PushClient:
    """Pushes for one integration instance: its own session, token and rate budget, so
    one tenant's throttle never slows another's pushes."""

    def __init__(self, base_url: str, instance_push_id: str, ca_bundle: str | None,
                 rate_share: float, clock: Callable[[], float]) -> None:
        self.base_url, self.instance_push_id = base_url, instance_push_id
        self.session = _ZendeskSession(DEFAULT_TIMEOUT)
        self.session.mount("https://", requests.adapters.HTTPAdapter(max_retries=0))
        self.session.trust_env = False
        if ca_bundle:
            self.session.verify = ca_bundle
        self.session.hooks["response"].append(_raise_on_429)
        self.session.rate_budget = RateBudget(
            "Zendesk", ("x-rate-limit", "x-rate-limit-remaining", "ratelimit-reset"), reset_epoch=False,
            share=rate_share, max_wait=60, clock=clock)

    def __repr__(self) -> str:
        return f"PushClient({self.base_url!r}, {self.instance_push_id!r})"

    def _post(self, path: str, token: Secret, body: Mapping[str, Any], what: str) -> requests.Response:
        with _translated(what):
            response = self.session.post(f"{self.base_url}/api/v2/any_channel/{path}", json=dict(body),
                                         headers={"Authorization": f"Bearer {token.reveal()}"})
            response.raise_for_status()
        return response

    def push(self, token: Secret, resources: Sequence[Mapping[str, Any]], request_id: str) -> list[PushResult]:
        """Push up to 256 resources; one result per resource, in order."""
        if not 0 < len(resources) <= MAX_RESOURCES:
            raise ValueError(f"a push carries 1 to {MAX_RESOURCES} resources, not {len(resources)}")
        response = self._post("push", token, {"instance_push_id": self.instance_push_id, "request_id": request_id,
                                              "external_resources": list(resources)}, "push external resources")
        try:
            results = response.json()["results"]
            out = [PushResult(str(r["external_resource_id"]), str(r["status"]["code"]),
                              r["status"].get("description")) for r in results]
        except (ValueError, KeyError, TypeError) as err:
            raise RetriableError("push external resources: unexpected response shape") from err
        if len(out) != len(resources):
            raise RetriableError(f"push external resources: {len(out)} results for {len(resources)} resources")
        return out

    def validate(self, token: Secret) -> None:
        """The token and instance Zendesk gave an admin UI request are its own (AuthFailed if not)."""
        self._post("validate_token", token, {"instance_push_id": self.instance_push_id}, "validate push token")


# --------------------------------------------------------------------------- the helpdesk


class ThreadLedger(Protocol):
    """What the adapter asks of socialdesk's side of the framework (sync/channel): the
    threads it handed Zendesk, by reference, for one helpdesk entry."""

    def take_ticket(self, helpdesk: str, ticket: NewTicket, key: str) -> str | None:
        """Hand Zendesk the post read under ``key`` as a new thread; the thread's reference,
        or None when ``key`` names no post a route read (a ticket socialdesk opens itself)."""

    def take_post(self, helpdesk: str, ref: str, body: str) -> bool:
        """Hand Zendesk the post of thread ``ref`` being written now, as its next comment;
        False when ``ref`` is not a thread."""

    def take_tickets(self, helpdesk: str, items: Sequence[tuple[NewTicket, str]]) -> list[str | None]:
        """``take_ticket`` for many (ticket, key) at once, kept together."""

    def take_posts(self, helpdesk: str, items: Sequence[tuple[str, str]]) -> list[bool]:
        """``take_post`` for many (ref, body) at once, kept together."""

    def threads(self, helpdesk: str, refs: Sequence[str]) -> set[str]:
        """Which of ``refs`` are threads."""

    def find(self, helpdesk: str, key: str) -> str | None:
        """The thread holding the post read under ``key``, if it was handed to Zendesk."""

    def ticket_of(self, helpdesk: str, ref: str) -> tuple[str | None, str] | None:
        """(Zendesk ticket id when known, the thread's first resource's external id); None
        when ``ref`` is not a thread."""

    def learned(self, helpdesk: str, ref: str, ticket_id: str) -> None:
        """Remember the ticket Zendesk made of thread ``ref``."""


class ZendeskChannel(Helpdesk, BatchesWrites, LinksIncidents, KeepsRateBudget, ReportsSlaCoverage,
                     SignsInWithOAuth):
    """A Zendesk account in Channel Framework mode (the mapping's ``mode: channel``)."""

    kind: ClassVar[str] = "zendesk"
    ticket_keys: ClassVar[frozenset[str]] = frozenset({"type", "brand", "form"})
    # Agents' replies come through channelback: the export is never read.
    export_min_interval: ClassVar[float] = 3600.0
    max_resources: ClassVar[int] = MAX_RESOURCES
    # A backlog is handed over a push's worth at a time: the writes make no API call (the
    # resources are kept in socialdesk's store, in one transaction), and the pusher finds a
    # full push waiting.
    batch_max: ClassVar[int] = MAX_RESOURCES
    batch_jobs: int = 1

    def __init__(self, rest: Any, push_wait: float | None = None) -> None:
        self.rest = rest                   # the account's REST adapter (ZendeskHelpdesk)
        self.name = rest.settings.name
        # How long a new resource may wait for others to fill its push (None: the daemon's default).
        self.push_wait = push_wait
        self.base_url: str = rest.base_url
        self.ledger: ThreadLedger | None = None
        self._clock: Callable[[], float] | None = None
        self._pushers: dict[str, PushClient] = {}
        self._lock = threading.Lock()
        self._subdomain: str | None = None

    def __repr__(self) -> str:
        return f"ZendeskChannel({self.base_url!r})"

    @property
    def oauth(self) -> Any:  # type: ignore[override]
        return self.rest.oauth

    def use_vault(self, vault: Any) -> None:
        self.rest.use_vault(vault)

    def use_clock(self, clock: Callable[[], float], sleep: Sleep | None = None) -> None:
        self._clock = clock
        self.rest.use_clock(clock, sleep)
        for pusher in self._pushers.values():
            pusher.session.rate_budget.clock = clock

    def use_ledger(self, ledger: ThreadLedger) -> None:
        """socialdesk's side of the framework (the daemon's channel service)."""
        self.ledger = ledger

    def _ledger(self) -> ThreadLedger:
        if self.ledger is None:
            raise FatalError(f"helpdesk {self.name!r} is in Channel Framework mode, which needs the daemon's web "
                             f"server (Zendesk calls it): set webhook.listen and webhook.public_url")
        return self.ledger

    # ------------------------------------------------------------------ the account

    def probe(self) -> None:
        self.rest.probe()

    def account_key(self) -> str:
        return self.rest.account_key()

    def whoami(self) -> str:
        return self.rest.whoami()

    def lookup(self, kind: str, name: str | int) -> str:
        return self.rest.lookup(kind, name)

    def subdomain(self) -> str:
        """The account's subdomain, as Zendesk names it to the admin UI: the host's first
        label on zendesk.com, else the default brand's (one read, remembered)."""
        if self._subdomain is None:
            host = urlsplit(self.base_url).hostname or ""
            if host.endswith(".zendesk.com"):
                self._subdomain = host.split(".", 1)[0]
            else:
                brands = self.rest._api("GET", "brands.json", "read brands").get("brands") or []
                default = next((b for b in brands if b.get("default")), brands[0] if brands else {})
                self._subdomain = str(default.get("subdomain") or host.split(".", 1)[0])
        return self._subdomain

    def sla_coverage(self, outcomes: Any, resolve: Any, reads: Any) -> Any:
        return self.rest.sla_coverage(outcomes, resolve, reads)

    # ------------------------------------------------------------------ tickets as threads

    def upsert_requester(self, author: Author) -> str:
        """Zendesk makes the user from a resource's author: its external id is all there is."""
        return f"{author.network}:{author.id}"

    def _thread(self, ticket_id: str) -> tuple[str | None, str] | None:
        return self.ledger.ticket_of(self.name, ticket_id) if self.ledger is not None else None

    def _ticket_id(self, ref: str) -> str:
        """The Zendesk ticket of thread ``ref``: as Zendesk said, else looked up once by the
        external id of the thread's first resource. RetriableError while Zendesk has not
        made it yet (it makes it at its next pull, or as the push lands)."""
        known = self._thread(ref)
        if known is None:
            return ref                      # a ticket socialdesk opened through the REST API
        ticket_id, first = known
        if ticket_id is None:
            found = self.rest.find_tickets(first)
            if not found:
                raise RetriableError(f"Zendesk has not made the ticket of thread {ref} yet")
            ticket_id = found[-1].id
            self._ledger().learned(self.name, ref, ticket_id)
        return ticket_id

    def find_tickets(self, external_id: str) -> list[TicketRef]:
        ref = self._ledger().find(self.name, external_id)
        if ref is not None:
            return [self._ref(ref)]
        # A post's key (``<network>:post|dm:<id>``) not handed to Zendesk has no ticket; a ticket
        # socialdesk opened through the REST API (a spike's problem) carries its key.
        parts = external_id.split(":")
        if len(parts) == 3 and parts[1] in ("post", "dm"):
            return []
        return self.rest.find_tickets(external_id)

    def _ref(self, ref: str) -> TicketRef:
        # A thread takes every later post: Zendesk appends it, reopens a solved ticket, or
        # opens a follow-up of a closed one. Its status is the thread's, never asked of REST.
        return TicketRef(helpdesk=self.kind, id=ref, status="open", external_id=ref)

    def create_ticket(self, ticket: NewTicket, idempotency_key: str) -> TicketRef:
        ref = self._ledger().take_ticket(self.name, ticket, idempotency_key)
        if ref is None:
            return self.rest.create_ticket(ticket, idempotency_key)
        return TicketRef(helpdesk=self.kind, id=ref, status="new", external_id=ticket.external_id)

    def get_ticket(self, ticket_id: str) -> TicketRef:
        if self._thread(ticket_id) is not None:
            return self._ref(ticket_id)
        if not ticket_id.isdigit():
            raise NotFound(f"no thread or ticket {ticket_id!r}")
        return self.rest.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, body: str, *, public: bool, author_id: str | None = None) -> None:
        if public and self._thread(ticket_id) is not None:
            if not self._ledger().take_post(self.name, ticket_id, body):
                raise RetriableError(f"no post of thread {ticket_id} is being written")
            return
        # An internal note (or a comment on a ticket socialdesk opened): through the REST API.
        real = self._ticket_id(ticket_id)
        self.rest.add_comment(real, body, public=public, author_id=author_id if real == ticket_id else None)

    def update_ticket(self, ticket_id: str, *, priority: str | None = None, add_tags: tuple[str, ...] = (),
                      custom_fields: Mapping[str, Any] | None = None) -> None:
        self.rest.update_ticket(self._ticket_id(ticket_id), priority=priority, add_tags=add_tags,
                                custom_fields=custom_fields)

    def list_comments(self, ticket_id: str) -> list[AgentReply]:
        try:
            real = self._ticket_id(ticket_id)
        except RetriableError:
            return []                       # no ticket yet: nothing is on it
        return [AgentReply(helpdesk=r.helpdesk, ticket_id=ticket_id, comment_id=r.comment_id, author_id=r.author_id,
                           body=r.body, public=r.public, by_agent=r.by_agent, created_at=r.created_at)
                for r in self.rest.list_comments(real)]

    def fetch_agent_replies(self, cursor: Cursor, page: str | None = None, *,
                            linked: Linked | None = None) -> Page:
        """Nothing: Zendesk calls the channelback URL with each public reply instead."""
        return Page(items=(), next_page=None, cursor=cursor)

    def link_incidents(self, problem_id: str, ticket_ids: Sequence[str]) -> None:
        real = []
        for ref in ticket_ids:
            try:
                real.append(self._ticket_id(ref))
            except RetriableError:
                log.info("zendesk %s: thread %s has no ticket yet; not linked to problem %s", self.name, ref,
                         problem_id)
        if real:
            self.rest.link_incidents(self._ticket_id(problem_id), real)

    # ------------------------------------------------------------------ backlogs (BatchesWrites)

    def upsert_requesters(self, authors: Sequence[Author],
                          on_submitted: OnSubmitted | None = None) -> list[str | SocialdeskError]:
        return [self.upsert_requester(author) for author in authors]

    def create_tickets(self, tickets: Sequence[NewTicket],
                       on_submitted: OnSubmitted | None = None) -> list[TicketRef | SocialdeskError]:
        """Each post becomes a thread's first resource; all are kept in one transaction."""
        refs = self._ledger().take_tickets(self.name, [(t, t.external_id) for t in tickets])
        out: list[TicketRef | SocialdeskError] = []
        for ticket, ref in zip(tickets, refs):
            if ref is not None:
                out.append(TicketRef(helpdesk=self.kind, id=ref, status="new", external_id=ticket.external_id))
                continue
            try:   # not a post a route read: a ticket socialdesk opens itself, through REST
                out.append(self.rest.create_ticket(ticket, ticket.external_id))
            except SocialdeskError as err:
                out.append(err)
        return out

    def add_comments(self, comments: Sequence[tuple[str, str, bool, str | None]],
                     on_submitted: OnSubmitted | None = None) -> list[None | SocialdeskError]:
        """Public posts on threads become their next resources, kept in one transaction;
        anything else is written through REST, one at a time."""
        ledger = self._ledger()
        threads = ledger.threads(self.name, [ref for ref, _, public, _ in comments if public])
        posts = [(ref, body) for ref, body, public, _ in comments if public and ref in threads]
        taken = iter(ledger.take_posts(self.name, posts))
        out: list[None | SocialdeskError] = []
        for ref, body, public, author in comments:
            try:
                if public and ref in threads:
                    if not next(taken):
                        raise RetriableError(f"no post of thread {ref} is being written")
                else:
                    self.add_comment(ref, body, public=public, author_id=author)
                out.append(None)
            except SocialdeskError as err:
                out.append(err)
        return out

    def get_tickets(self, ticket_ids: Sequence[str]) -> dict[str, TicketRef]:
        threads = self._ledger().threads(self.name, list(ticket_ids))
        found = {ref: self._ref(ref) for ref in threads}
        others = [t for t in ticket_ids if t not in threads and t.isdigit()]
        if others:
            found.update(self.rest.get_tickets(others))
        return found

    def job_settled(self, job_id: str) -> bool:
        """No background job: what the ledger keeps is kept at once."""
        return True

    # ------------------------------------------------------------------ after creation

    def set_after_creation(self, ticket_id: str, settings: Mapping[str, Any]) -> list[str]:
        """Set on a ticket Zendesk made what a resource could not set at creation
        (``group_id``, ``brand_id``, ``ticket_form_id``): one REST call; the settings set."""
        changes = {key: int(settings[key]) for key in AFTER_CREATION if settings.get(key) is not None}
        if changes:
            self.rest._api("PUT", f"tickets/{int(ticket_id)}.json", "set ticket fields after creation",
                           {"ticket": changes})
        return sorted(changes)

    # ------------------------------------------------------------------ push

    def pusher(self, instance_push_id: str) -> PushClient:
        """The push client of one integration instance (made once, kept)."""
        with self._lock:
            pusher = self._pushers.get(instance_push_id)
            if pusher is None:
                pusher = PushClient(self.base_url, instance_push_id, self.rest.settings.ca_bundle,
                                    self.rest.settings.rate_share, self._clock or time.time)
                self._pushers[instance_push_id] = pusher
            return pusher

    def push(self, instance_push_id: str, token: Secret, resources: Sequence[Mapping[str, Any]],
             request_id: str) -> list[PushResult]:
        return self.pusher(instance_push_id).push(token, resources, request_id)

    def validate_push(self, instance_push_id: str, token: Secret) -> None:
        self.pusher(instance_push_id).validate(token)

    # The framework's wire, for socialdesk's side (sync/channel reaches it through the adapter).
    read_admin = staticmethod(read_admin)
    read_pull = staticmethod(read_pull)
    read_channelback = staticmethod(read_channelback)
    read_events = staticmethod(read_events)
    manifest = staticmethod(manifest)
    external_resource = staticmethod(external_resource)
    pull_payload = staticmethod(pull_payload)
    channelback_payload = staticmethod(channelback_payload)
    at_creation: ClassVar[tuple[str, ...]] = AT_CREATION

    def owns_url(self, url: str) -> bool:
        """Whether ``url`` is on this account's host (where Zendesk's return_url must be)."""
        mine, other = urlsplit(self.base_url), urlsplit(url)
        return other.scheme == mine.scheme and other.netloc == mine.netloc


__all__ = ["AdminRequest", "ChannelEvent", "ChannelbackRequest", "MAX_RESOURCES", "PushClient", "PushResult",
           "ThreadLedger", "ZendeskChannel", "channelback_payload", "external_id_ok", "external_resource", "manifest",
           "pull_payload", "read_admin", "read_channelback", "read_events", "read_pull", "read_push_wait"]
