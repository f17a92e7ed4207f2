"""The Channel Framework's records on ``ZendeskState``: installed integrations, their
accounts (instances), the admin UIs open, the external resources an account knows and what
an any_channel ticket needs for its channelbacks; the limits Zendesk puts on them.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.channel_validate import validate
from sandbox.zendesk.helpers import ApiError

if TYPE_CHECKING:
    from sandbox.zendesk.channel_wire import Answer

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


def resource_result(external_id: str, code: str, description: str | None = None) -> dict[str, Any]:
    """One resource's entry in a push or pull result (the push docs' status codes)."""
    status: dict[str, Any] = {"code": code}
    if description is not None:
        status["description"] = description
    return {"external_resource_id": external_id, "status": status}


def capped(log: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    """Append to an account's traffic log, which keeps the last ``LOG_MAX`` entries."""
    log.append(entry)
    del log[:-LOG_MAX]
    return entry


def api_error_text(err: ApiError) -> str:
    """A refused write as a resource's ``processing_error`` description."""
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


def answer_payload(answer: Answer, schema: str) -> tuple[Any, list[str]]:
    """(payload, errors) of an integration's answer: only a 200 whose JSON body holds
    ``schema`` carries a payload."""
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
            errors = validate(schema, payload)
    return payload, errors


def apply_metadata(inst: Instance, payload: Mapping[str, Any]) -> None:
    """An answer may replace the account's metadata (``metadata_needs_update``)."""
    if payload.get("metadata_needs_update") is True and isinstance(payload.get("metadata"), str):
        inst.metadata = payload["metadata"]
