"""Zendesk's side of the Channel Framework (any_channel) on ``ZendeskState``: installed
integrations, their instances (accounts), the external resources they pulled or pushed as
tickets and comments, and the agents' public comments sent back through channelback.

Every public method expects ``self.lock`` held; calls to the integration service are made
by ``channel_flows`` outside the lock. Two methods of the account are widened here: the
trigger run of a write (a write the framework makes is stamped ``via`` any_channel before
triggers see it; an agent's public comment on an any_channel ticket queues a channelback)
and the ticket JSON (its ``allow_channelback``).
"""
from __future__ import annotations

import contextlib
import copy
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from sandbox.oauth import fingerprint
from sandbox.zendesk.channel_validate import validate
from sandbox.zendesk.constants import AGENT_ROLES
from sandbox.zendesk.helpers import ApiError, iso, not_found
from sandbox.zendesk.records import UpdateContext

if TYPE_CHECKING:
    from sandbox.zendesk.channel_wire import Answer
    from sandbox.zendesk.records import TicketRec

# "Zendesk Support makes a pull request approximately every 2 minutes" (pull endpoint docs),
# on the sandbox clock; the first one two minutes after the account is made.
PULL_SECONDS = 120.0
# Metadata and state: "Both fields have length limit of 5000 characters" (Channel framework tutorial).
METADATA_MAX = 5000
NAME_MAX = 255
LOG_MAX = 1000
# Zendesk's own return URL for an admin UI (as integrations receive it from real accounts).
RETURN_PATH = "/zendesk/channels/integration_service_instances/editor_finalizer"
CHANNEL_CLIENT = {"client": "Zendesk Channel Framework", "ip": ""}
SUBJECT_MAX = 80


@dataclass
class Integration:
    """An integration service installed from its manifest (URLs made absolute)."""

    id: int
    manifest_url: str
    manifest: dict[str, Any]
    installed_at: float
    events: list[dict[str, Any]] = field(default_factory=list)
    pending_events: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list, repr=False)

    @property
    def urls(self) -> dict[str, str]:
        return self.manifest["urls"]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])


@dataclass
class Instance:
    """One account of an integration: what the admin UI posted back, and its traffic."""

    id: int
    integration_id: int
    push_id: str
    name: str
    metadata: str = field(repr=False)
    state: str = field(repr=False)
    token: str | None = field(repr=False)
    created_at: float
    next_pull_at: float
    status: str = "active"
    pulls: list[dict[str, Any]] = field(default_factory=list, repr=False)
    pushes: list[dict[str, Any]] = field(default_factory=list, repr=False)
    channelbacks: list[dict[str, Any]] = field(default_factory=list, repr=False)
    channelback_errors: list[dict[str, Any]] = field(default_factory=list, repr=False)
    pulling: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class Setup:
    """An admin UI open in the admin's browser (a new account, or an edit of ``instance_id``)."""

    id: str
    integration_id: int
    instance_id: int | None
    push_id: str
    token: str | None = field(repr=False)
    opened_at: float
    done: bool = False


@dataclass
class Imported:
    """An external id the account knows: the comment it made (or a channelback's)."""

    instance_id: int
    external_id: str
    ticket_id: int
    comment_id: int
    request_id: str
    type_id: str


@dataclass
class ChannelTicket:
    """What an any_channel ticket needs for its channelbacks."""

    instance_id: int
    thread_id: str | None
    parent_id: str
    recipient_id: str | None
    allow_channelback: bool


def _result(external_id: str, code: str, description: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code}
    if description is not None:
        status["description"] = description
    return {"external_resource_id": external_id, "status": status}


def _capped(log: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    log.append(entry)
    del log[:-LOG_MAX]
    return entry


def _api_error_text(err: ApiError) -> str:
    body = err.body
    if isinstance(body, Mapping):
        details = body.get("details")
        if isinstance(details, Mapping):
            texts = [d.get("description", "") for items in details.values() for d in items
                     if isinstance(d, Mapping)]
            if texts:
                return "; ".join(texts)
        return str(body.get("description") or body.get("error") or err.status)
    return str(body)


class Channels:
    """The Channel Framework on ``ZendeskState`` (the data lives in ``_reset_channels``)."""

    # ----------------------------------------------------------- lifecycle

    def _init_channels(self, settings: Mapping[str, Any]) -> None:
        from sandbox.zendesk.channel_flows import ChannelRunner

        # A local integration served over plain HTTP on loopback passes the https-url
        # format only when the service is started with this setting (real Zendesk: never).
        self.channel_plain_http = bool(settings.get("channel_plain_http_loopback", False))
        self.channel_runner = ChannelRunner(self)
        self._channel_write: dict[str, Any] | None = None

    def _reset_channels(self) -> None:
        self.channel_integrations: dict[int, Integration] = {}
        self.channel_instances: dict[int, Instance] = {}
        self.channel_setups: dict[str, Setup] = {}
        self.channel_resources: dict[tuple[int, str], Imported] = {}
        self.channel_threads: dict[tuple[int, str], int] = {}
        self.channel_tickets: dict[int, ChannelTicket] = {}
        self.channel_authors: dict[tuple[int, str], int] = {}
        self.channel_followups: dict[int, int] = {}
        self._channel_write = None

    @property
    def channel_return_url(self) -> str:
        return f"{self.base_url}{RETURN_PATH}"

    # ----------------------------------------------------------- integrations and instances

    def add_channel_integration(self, manifest_url: str, manifest: dict[str, Any]) -> tuple[Integration, bool]:
        """Install (or, for a manifest URL installed before, refresh) an integration."""
        for integ in self.channel_integrations.values():
            if integ.manifest_url == manifest_url:
                integ.manifest = manifest
                return integ, False
        integ = Integration(self.ids.next(), manifest_url, manifest, self.clock.now())
        self.channel_integrations[integ.id] = integ
        self.channel_event(integ, "create_integration", {"manifest_url": manifest_url})
        return integ, True

    def channel_target(self, ident: Any) -> tuple[Integration, Instance | None]:
        """An integration (a new account's admin UI) or one of its instances, by id."""
        try:
            key = int(ident)
        except (TypeError, ValueError) as err:
            raise not_found() from err
        if key in self.channel_integrations:
            return self.channel_integrations[key], None
        inst = self.channel_instances.get(key)
        if inst is None:
            raise not_found()
        return self.channel_integrations[inst.integration_id], inst

    def channel_instance(self, ident: Any) -> Instance:
        """An instance by its id, or the only account of an integration named by its id."""
        integ, inst = self.channel_target(ident)
        if inst is not None:
            return inst
        live = [i for i in self.channel_instances.values()
                if i.integration_id == integ.id and i.status == "active"]
        if len(live) != 1:
            raise ApiError(409, {"error": "AmbiguousInstance",
                                 "description": f"integration {integ.id} has {len(live)} active "
                                                "accounts: name one by its instance_id"})
        return live[0]

    def channel_instance_by_push_id(self, push_id: Any) -> Instance | None:
        for inst in self.channel_instances.values():
            if inst.push_id == push_id and inst.status == "active":
                return inst
        return None

    def open_channel_setup(self, integ: Integration, inst: Instance | None,
                           locale: str) -> tuple[Setup, list[tuple[str, str]]]:
        """The admin opens the admin UI: the fields Zendesk POSTs to ``admin_ui`` (push
        docs: ``subdomain``, ``instance_push_id``, ``zendesk_access_token`` when the
        manifest has a ``push_client_id``; admin UI docs: ``return_url``, ``locale``;
        ``name``, ``metadata`` and ``state`` empty for a new account)."""
        if inst is not None and inst.status != "active":
            raise ApiError(409, {"error": "InstanceDestroyed", "description": "the account was deleted"})
        if inst is not None:
            push_id, token = inst.push_id, inst.token
        else:
            push_id = str(uuid.uuid4())
            token = None
            client_id = integ.manifest.get("push_client_id")
            if client_id:
                issued = self.auth.tokens.issue(str(self.api_user_id), client_id=str(client_id),
                                                grant="channel_framework", scope="read write",
                                                lifetime=None)
                token = issued.access
        setup = Setup(secrets.token_hex(8), integ.id, None if inst is None else inst.id, push_id, token,
                      self.clock.now())
        self.channel_setups[setup.id] = setup
        fields = [("name", inst.name if inst else ""), ("metadata", inst.metadata if inst else ""),
                  ("state", inst.state if inst else ""), ("return_url", self.channel_return_url),
                  ("instance_push_id", push_id)]
        if token is not None:
            fields.append(("zendesk_access_token", token))
        fields += [("locale", locale), ("subdomain", self.subdomain)]
        return setup, fields

    def latest_channel_setup(self) -> Setup | None:
        """The admin UI the admin's browser has open (the latest one not posted back)."""
        open_ = [s for s in self.channel_setups.values() if not s.done]
        return max(open_, key=lambda s: s.opened_at) if open_ else None

    def finish_channel_setup(self, setup: Setup, form: Mapping[str, str]) -> Instance:
        """The admin UI posted ``name`` and ``metadata`` (and optionally ``state``) back to
        ``return_url``: the account is made, or edited. ValueError names what is wrong."""
        name = str(form.get("name") or "").strip()
        if not name:
            raise ValueError("name is required")
        if len(name) > NAME_MAX:
            raise ValueError(f"name is longer than {NAME_MAX} characters")
        if "metadata" not in form:
            raise ValueError("metadata is required")
        metadata, state = str(form["metadata"]), form.get("state")
        for what, value in (("metadata", metadata), ("state", state)):
            if value is not None and len(value) > METADATA_MAX:
                raise ValueError(f"{what} is longer than {METADATA_MAX} characters")
        integ = self.channel_integrations.get(setup.integration_id)
        if setup.done or integ is None:
            raise ValueError("this admin UI was already posted back")
        setup.done = True
        now = self.clock.now()
        if setup.instance_id is not None:
            inst = self.channel_instances[setup.instance_id]
            inst.name, inst.metadata = name, metadata
            if state is not None:
                inst.state = str(state)
            return inst
        inst = Instance(self.ids.next(), integ.id, setup.push_id, name, metadata, str(state or ""),
                        setup.token, now, now + PULL_SECONDS)
        self.channel_instances[inst.id] = inst
        self.channel_event(integ, "create_integration_instance", {"metadata": metadata}, instance=inst)
        if integ.urls.get("pull_url"):
            self.channel_runner.watch_pulls()
        return inst

    def destroy_channel_instance(self, inst: Instance) -> None:
        """The admin deletes the account: no more pulls, pushes or channelbacks."""
        if inst.status != "active":
            return
        inst.status = "destroyed"
        if inst.token is not None:
            self.auth.tokens.revoke_value(inst.token)
        integ = self.channel_integrations[inst.integration_id]
        self.channel_event(integ, "destroy_integration_instance", {"metadata": inst.metadata}, instance=inst)

    def push_token_matches(self, inst: Instance, presented: str | None) -> bool:
        return (inst.token is not None and presented is not None
                and secrets.compare_digest(inst.token.encode(), presented.encode()))

    # ----------------------------------------------------------- external resources

    def import_channel_resources(self, inst: Instance, resources: list[dict[str, Any]],
                                 request_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Tickets and comments from schema-valid external resources, in order: one result
        per resource (push docs' status codes) and the duplicates met. A resource that fails
        with a processing error halts the ones after it."""
        results: list[dict[str, Any]] = []
        duplicates: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        failed = False
        for res in resources:
            ext = res["external_id"]
            if failed:
                results.append(_result(ext, "halted"))
                continue
            known = self.channel_resources.get((inst.id, ext))
            if known is not None:
                results.append(_result(ext, "already_imported"))
                duplicates.append({"external_id": ext, "request_id": known.request_id,
                                   "ticket_id": known.ticket_id, "comment_id": known.comment_id})
                continue
            if res.get("parent_id") is not None and res.get("thread_id") is not None:
                results.append(_result(ext, "processing_error",
                                       "a resource may name its parent_id or its thread_id, not both"))
                failed = True
                continue
            try:
                event = self._import_channel_resource(inst, res, request_id)
            except ApiError as err:
                results.append(_result(ext, "processing_error", _api_error_text(err)))
                failed = True
                continue
            if event is None:
                results.append(_result(ext, "could_not_locate_parent_external_resource", res["parent_id"]))
                continue
            results.append(_result(ext, "success"))
            created.append(event)
        if created:
            self.channel_event(self.channel_integrations[inst.integration_id],
                               "resources_created_from_external_ids",
                               {"request_id": request_id, "resource_events": created}, instance=inst)
        return results, duplicates

    def _channel_ticket_for(self, inst: Instance, res: Mapping[str, Any]) -> tuple[TicketRec | None, bool]:
        """(the ticket a resource belongs to, whether its parent was found): by ``parent_id``
        (an imported resource or a channelback), else by ``thread_id``; a closed ticket
        leads on to the follow-up made from it."""
        parent, thread = res.get("parent_id"), res.get("thread_id")
        tid: int | None = None
        if parent is not None:
            hit = self.channel_resources.get((inst.id, parent))
            if hit is None:
                return None, False
            tid = hit.ticket_id
        elif thread is not None:
            tid = self.channel_threads.get((inst.id, thread))
        while tid is not None and tid in self.channel_followups:
            tid = self.channel_followups[tid]
        t = self.tickets.get(tid) if tid is not None else None
        return (None if t is None or t.deleted else t), True

    def _import_channel_resource(self, inst: Instance, res: Mapping[str, Any],
                                 request_id: str) -> dict[str, Any] | None:
        """One resource as a comment on its ticket, or as a new (follow-up) ticket; the
        resource event for ``resources_created_from_external_ids``, None when the parent
        is unknown."""
        integ = self.channel_integrations[inst.integration_id]
        target, found = self._channel_ticket_for(inst, res)
        if not found:
            return None
        now = self.clock.now()
        ext = res["external_id"]
        author_ext = res["author"]["external_id"]
        author = self._channel_author(inst, res["author"], now)
        internal = res.get("internal_note") is True
        spec = {"body": res["message"], "author_id": author, "public": not internal}
        ctx = UpdateContext(actor=self.users[author], client=dict(CHANNEL_CLIENT))
        event: dict[str, Any]
        if target is not None and target.data["status"] != "closed":
            p: dict[str, Any] = {"comment": spec}
            if target.data["status"] in ("pending", "solved"):
                p["status"] = "open"
            with self._channel_writing(self._channel_via(integ, inst), internal, res.get("html_message")):
                self.update_ticket(target, p, ctx)
            assert ctx.comment is not None
            info = self.channel_tickets.get(target.id)
            if info is not None:
                info.parent_id = ext
                if isinstance(res.get("allow_channelback"), bool):
                    info.allow_channelback = res["allow_channelback"]
            home, comment_id = target.id, ctx.comment["id"]
            ticket_id = home
            event = {"type_id": "comment_on_existing_ticket"}
        else:
            follow = target if target is not None and integ.manifest.get("create_followup_tickets", True) else None
            p = {"requester_id": author, "subject": self._channel_subject(res), "comment": spec,
                 **self._channel_fields(res.get("fields"))}
            if follow is not None:
                p["via_followup_source_id"] = follow.id
            with self._channel_writing(self._channel_via(integ, inst, follow), internal, res.get("html_message")):
                t, _ = self.create_ticket(p, ctx)
            self.channel_tickets[t.id] = ChannelTicket(
                inst.id, res.get("thread_id"), ext, author_ext, res.get("allow_channelback", True) is not False)
            if res.get("thread_id") is not None:
                self.channel_threads[(inst.id, res["thread_id"])] = t.id
            home, comment_id = t.id, t.comments[0]["id"]
            ticket_id = home
            event = {"type_id": "comment_on_new_ticket"}
            if target is not None:
                self.channel_followups[target.id] = t.id
                if follow is not None:
                    # The schema's follow-up event: the comment is on follow_up_ticket_id, made
                    # from the closed ticket_id (Zendesk's docs say no more than the field names).
                    event = {"type_id": "comment_on_follow_up_ticket", "follow_up_ticket_id": t.id}
                    ticket_id = target.id
        self.channel_resources[(inst.id, ext)] = Imported(inst.id, ext, home, comment_id, request_id,
                                                          event["type_id"])
        event.update({"external_id": ext, "comment_id": comment_id, "ticket_id": ticket_id})
        return event

    def _channel_author(self, inst: Instance, author: Mapping[str, Any], now: float) -> int:
        """The end user an author's external id stands for in this account (made on first
        sight, named by ``name`` or else the external id, as the push docs say)."""
        key = (inst.id, str(author["external_id"]))
        uid = self.channel_authors.get(key)
        if uid is not None and uid in self.users:
            return uid
        uid = self._new_user({"name": author.get("name") or author["external_id"], "role": "end-user"}, now)
        self._add_identity(uid, "any_channel", str(author["external_id"]), now, primary=True)
        self.channel_authors[key] = uid
        return uid

    @staticmethod
    def _channel_subject(res: Mapping[str, Any]) -> str:
        """A new ticket's subject when ``fields`` names none: the message's first line,
        cut (the sandbox's choice: Zendesk's rule is not documented)."""
        line = next((ln.strip() for ln in str(res["message"]).splitlines() if ln.strip()), "")
        return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1].rstrip() + "…"

    def _channel_fields(self, entries: Any) -> dict[str, Any]:
        """The ``fields`` of a resource as ticket create parameters: system fields by their
        English name, custom fields by id or title (push docs); on creation only."""
        out: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        for entry in entries or []:
            key, value = entry["id"], entry["value"]
            name = str(key).strip().lower()
            if name in ("subject", "priority", "type", "status", "tags"):
                out[name] = value
                continue
            for f in self.fields.values():
                if f.get("removable") and (str(f["id"]) == str(key) or str(f["title"]).lower() == name):
                    custom.append({"id": f["id"], "value": value})
                    break
        if custom:
            out["custom_fields"] = custom
        return out

    def _channel_via(self, integ: Integration, inst: Instance, follow: TicketRec | None = None) -> dict[str, Any]:
        """``via`` of what the framework writes: channel any_channel, its service named in
        ``source.from.service_info`` as real any_channel tickets carry it."""
        source: dict[str, Any] = {"service_info": {
            "supports_channelback": bool(integ.urls.get("channelback_url")),
            "supports_clickthrough": bool(integ.urls.get("clickthrough_url")),
            "registered_integration_service_name": integ.name,
            "registered_integration_service_external_id": str(integ.manifest["id"]),
            "integration_service_instance_name": inst.name}}
        rel = None
        if follow is not None:
            source.update({"ticket_id": follow.id, "subject": follow.data["subject"], "channel": "any_channel"})
            rel = "follow_up"
        return {"channel": "any_channel", "source": {"from": source, "to": {}, "rel": rel}}

    @contextlib.contextmanager
    def _channel_writing(self, via: dict[str, Any], internal: bool, html: Any) -> Iterator[None]:
        self._channel_write = {"via": via, "internal": internal, "html": html}
        try:
            yield
        finally:
            self._channel_write = None

    # ----------------------------------------------------------- the account's write path

    def run_triggers(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any], now: float) -> None:
        write = self._channel_write
        if write is not None:
            self._stamp_channel_write(t, ctx, audit, write)
        super().run_triggers(t, ctx, audit, now)  # type: ignore[misc]
        if write is None and ctx.comment is not None:
            self._queue_channelback(t, ctx.comment)

    def _stamp_channel_write(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any],
                             write: Mapping[str, Any]) -> None:
        """The write the framework makes, as Zendesk records it: ``via`` any_channel on
        the ticket (when made), the audit and the comment; an ``internal_note`` private;
        an ``html_message`` as the comment's HTML."""
        via = write["via"]
        creating = ctx.update_type == "Create"
        audit["via"] = copy.deepcopy(via)
        if creating:
            t.data["via"] = copy.deepcopy(via)
        comment = ctx.comment
        if comment is None:
            return
        comment["via"] = copy.deepcopy(via)
        event = next((e for e in audit["events"] if e.get("type") == "Comment" and e["id"] == comment["id"]), {})
        if write["internal"]:
            comment["public"] = event["public"] = False
            if creating:
                t.data["is_public"] = t.data["initial_public"] = False
        if write["html"]:
            markup = f'<div class="zd-comment" dir="auto">{write["html"]}</div>'
            comment["html_body"] = event["html_body"] = markup

    def ticket_json(self, t: TicketRec) -> dict[str, Any]:
        out: dict[str, Any] = super().ticket_json(t)  # type: ignore[misc]
        info = self.channel_tickets.get(t.id)
        if info is not None:
            out["allow_channelback"] = info.allow_channelback and self._channelback_url(info) is not None
        return out

    def _channelback_url(self, info: ChannelTicket) -> str | None:
        inst = self.channel_instances.get(info.instance_id)
        if inst is None or inst.status != "active":
            return None
        return self.channel_integrations[inst.integration_id].urls.get("channelback_url")

    # ----------------------------------------------------------- channelback

    def _queue_channelback(self, t: TicketRec, comment: Mapping[str, Any]) -> None:
        """An agent's public comment on an any_channel ticket goes to ``channelback_url``."""
        info = self.channel_tickets.get(t.id)
        author = self.users.get(comment["author_id"])
        if (info is None or not comment["public"] or author is None or author["role"] not in AGENT_ROLES
                or not info.allow_channelback or self._channelback_url(info) is None):
            return
        inst = self.channel_instances[info.instance_id]
        record = {"request_unique_identifier": str(uuid.uuid4()), "ticket_id": t.id,
                  "comment_id": comment["id"], "message": comment["body"], "parent_id": info.parent_id,
                  "thread_id": info.thread_id, "recipient_id": info.recipient_id,
                  "queued_at": iso(self.clock.now()), "status": "pending", "attempts": 0,
                  "http_status": None, "external_id": None, "error": None}
        _capped(inst.channelbacks, record)
        self.channel_runner.channelback(inst.id, record["request_unique_identifier"], self.generation)

    def _channelback_record(self, inst: Instance, rid: str) -> dict[str, Any] | None:
        return next((r for r in inst.channelbacks if r["request_unique_identifier"] == rid), None)

    def channelback_request(self, inst_id: int, rid: str) -> tuple[str, list[tuple[str, str]]] | None:
        """(channelback URL, form fields) as the channelback docs list them: ``message``,
        ``parent_id``, ``recipient_id`` (left out when the requester is no channel
        author), ``metadata``, ``request_unique_identifier``, ``thread_id``."""
        inst = self.channel_instances.get(inst_id)
        record = self._channelback_record(inst, rid) if inst is not None else None
        if inst is None or record is None or inst.status != "active":
            return None
        url = self.channel_integrations[inst.integration_id].urls.get("channelback_url")
        if not url:
            return None
        fields = [("message", record["message"]), ("parent_id", record["parent_id"])]
        if record["recipient_id"] is not None:
            fields.append(("recipient_id", record["recipient_id"]))
        fields += [("metadata", inst.metadata), ("request_unique_identifier", rid)]
        if record["thread_id"] is not None:
            fields.append(("thread_id", record["thread_id"]))
        return url, fields

    def channelback_attempted(self, inst_id: int, rid: str, answer: Answer, final: bool) -> None:
        """Count one channelback attempt; the last one settles it: 200 with a body that
        holds channelback_payload.json is sent, anything else failed (reported to the
        event callback URL)."""
        inst = self.channel_instances.get(inst_id)
        record = self._channelback_record(inst, rid) if inst is not None else None
        if inst is None or record is None:
            return
        record["attempts"] += 1
        record["http_status"] = answer.status
        if not final:
            record["error"] = answer.describe()
            return
        payload: Any = None
        errors: list[str] = []
        if answer.status != 200:
            errors = [answer.describe()]
        else:
            try:
                payload = answer.json()
            except ValueError:
                errors = ["the answer is not JSON"]
            else:
                errors = validate("channelback_payload.json", payload)
        if errors:
            record.update(status="failed", error="; ".join(errors))
            integ = self.channel_integrations[inst.integration_id]
            self.channel_event(integ, "channelback", {"integration_instance_name": inst.name,
                                                      "url": integ.urls.get("channelback_url", ""),
                                                      "request_id": rid},
                               error=record["error"], instance=inst)
            return
        record.update(status="sent", error=None, external_id=payload["external_id"])
        info = self.channel_tickets.get(record["ticket_id"])
        if info is not None and isinstance(payload.get("allow_channelback"), bool):
            info.allow_channelback = payload["allow_channelback"]
        self._apply_metadata(inst, payload)
        key = (inst.id, payload["external_id"])
        if key not in self.channel_resources:
            self.channel_resources[key] = Imported(inst.id, payload["external_id"], record["ticket_id"],
                                                   record["comment_id"], rid,
                                                   "external_id_associated_with_channelback")
            self.channel_event(self.channel_integrations[inst.integration_id],
                               "resources_created_from_external_ids",
                               {"request_id": rid, "resource_events": [{
                                   "type_id": "external_id_associated_with_channelback",
                                   "external_id": payload["external_id"], "comment_id": record["comment_id"],
                                   "ticket_id": record["ticket_id"]}]}, instance=inst)

    def report_channelback_error(self, inst: Instance, report: Mapping[str, Any]) -> None:
        """``POST /api/v2/any_channel/channelback/report_error``: the integration says a
        channelback it answered for (by ``external_id``) failed after all."""
        entry = {"external_id": report["external_id"], "description": report.get("description"),
                 "request_id": report.get("request_id"), "at": iso(self.clock.now())}
        _capped(inst.channelback_errors, entry)
        for record in inst.channelbacks:
            if record["external_id"] == report["external_id"]:
                record.update(status="failed", error=report.get("description") or "reported by the integration",
                              reported=True)

    def _apply_metadata(self, inst: Instance, payload: Mapping[str, Any]) -> None:
        if payload.get("metadata_needs_update") is True and isinstance(payload.get("metadata"), str):
            inst.metadata = payload["metadata"]

    # ----------------------------------------------------------- pulls

    def due_channel_pulls(self) -> list[int] | None:
        """The accounts whose pull is due on the sandbox clock; None when no account pulls."""
        now = self.clock.now()
        pulling = [inst for inst in self.channel_instances.values()
                   if inst.status == "active" and self.channel_integrations[inst.integration_id].urls.get("pull_url")]
        if not pulling:
            return None
        return [inst.id for inst in pulling if inst.next_pull_at <= now]

    def finish_channel_pull(self, inst: Instance, request_id: str, trigger: str, started: float,
                            sent_state: str, answer: Answer) -> dict[str, Any]:
        """What a pull answered, applied: a 200 holding pull_payload.json imports its
        resources and keeps its ``state`` (absent: the state stays); anything else is a
        failed pull that changes nothing."""
        record: dict[str, Any] = {"request_id": request_id, "trigger": trigger, "at": iso(started),
                                  "http_status": answer.status, "state_sent": sent_state,
                                  "status": "failed", "error": None, "results": []}
        payload: Any = None
        errors: list[str] = []
        if answer.status != 200:
            errors = [answer.describe()]
        else:
            try:
                payload = answer.json()
            except ValueError:
                errors = ["the answer is not JSON"]
            else:
                errors = validate("pull_payload.json", payload)
        if errors:
            record["error"] = "; ".join(errors)
            return _capped(inst.pulls, record)
        results, duplicates = self.import_channel_resources(inst, payload["external_resources"], request_id)
        if "state" in payload:
            inst.state = payload["state"]
        self._apply_metadata(inst, payload)
        record.update(status="ok", results=results, state=inst.state)
        integ = self.channel_integrations[inst.integration_id]
        if duplicates:
            self.channel_event(integ, "pull_request", {
                "integration_instance_name": inst.name, "url": integ.urls["pull_url"],
                "request_id": request_id, "duplicate_external_ids": duplicates}, instance=inst)
        return _capped(inst.pulls, record)

    def record_channel_push(self, inst: Instance, entry: dict[str, Any]) -> None:
        _capped(inst.pushes, entry)

    # ----------------------------------------------------------- event callbacks

    def channel_event(self, integ: Integration, type_id: str, data: dict[str, Any],
                      error: str | None = None, instance: Instance | None = None) -> None:
        """Queue an event for ``event_callback_url`` (the runner sends what is queued,
        several events per request, as Zendesk aggregates them)."""
        if not integ.urls.get("event_callback_url"):
            return
        event: dict[str, Any] = {"type_id": type_id, "timestamp": iso(self.clock.now()),
                                 "subdomain": self.subdomain, "integration_name": integ.name,
                                 "integration_id": str(integ.manifest["id"]), "data": data}
        if error is not None:
            event["error"] = error
        integ.pending_events.append((None if instance is None else instance.id, event))
        self.channel_runner.events(integ.id, self.generation)

    def take_channel_events(self, integ_id: int) -> tuple[str, list[tuple[int | None, dict[str, Any]]]] | None:
        integ = self.channel_integrations.get(integ_id)
        if integ is None or not integ.pending_events:
            return None
        batch, integ.pending_events = integ.pending_events, []
        return integ.urls["event_callback_url"], batch

    def channel_events_sent(self, integ_id: int, batch: list[tuple[int | None, dict[str, Any]]],
                            answer: Answer) -> None:
        integ = self.channel_integrations.get(integ_id)
        if integ is None:
            return
        ok = answer.status is not None and 200 <= answer.status < 300
        for instance_id, event in batch:
            _capped(integ.events, {"instance_id": instance_id, "type_id": event["type_id"], "event": event,
                                   "status": "delivered" if ok else "failed", "http_status": answer.status,
                                   "error": None if ok else answer.describe()})

    # ----------------------------------------------------------- control listing

    def channel_listing(self) -> list[dict[str, Any]]:
        """One row per account (an integration without accounts: one row without one)."""
        rows = []
        for integ in sorted(self.channel_integrations.values(), key=lambda i: i.id):
            instances = sorted((i for i in self.channel_instances.values() if i.integration_id == integ.id),
                               key=lambda i: i.id)
            rows.extend(self.channel_row(integ, inst) for inst in instances or [None])
        return rows

    def channel_row(self, integ: Integration, inst: Instance | None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "integration_id": integ.id, "manifest_url": integ.manifest_url, "name": integ.name,
            "manifest": copy.deepcopy(integ.manifest), "installed_at": iso(integ.installed_at),
            "instance_id": None, "instance_name": None, "instance_push_id": None, "status": None,
            "metadata": None, "state": None, "push_token": None, "next_pull_at": None,
            "pulls": [], "pushes": [], "channelbacks": [], "channelback_errors": []}
        if inst is not None:
            row.update({
                "instance_id": inst.id, "instance_name": inst.name, "instance_push_id": inst.push_id,
                "status": inst.status, "metadata": inst.metadata, "state": inst.state,
                # The token itself is the integration's secret: its fingerprint tells tokens apart.
                "push_token": None if inst.token is None else fingerprint(inst.token),
                "next_pull_at": iso(inst.next_pull_at) if integ.urls.get("pull_url") else None,
                "pulls": copy.deepcopy(inst.pulls), "pushes": copy.deepcopy(inst.pushes),
                "channelbacks": copy.deepcopy(inst.channelbacks),
                "channelback_errors": copy.deepcopy(inst.channelback_errors)})
        row["events"] = [copy.deepcopy(e) for e in integ.events
                         if e["instance_id"] is None or inst is None or e["instance_id"] == inst.id]
        return row

    def channel_resource_listing(self, inst: Instance) -> list[dict[str, Any]]:
        return [{"external_id": r.external_id, "ticket_id": r.ticket_id, "comment_id": r.comment_id,
                 "request_id": r.request_id, "type_id": r.type_id}
                for r in self.channel_resources.values() if r.instance_id == inst.id]
