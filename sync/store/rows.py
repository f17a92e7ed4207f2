"""The rows the store hands out and takes in: frozen values, never live database rows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InboxItem:
    source_key: str
    stream: str
    payload: dict[str, Any]
    sort_key: str
    conversation: str | None = None


@dataclass(frozen=True)
class InboxRow:
    id: int
    route: str
    source_key: str
    stream: str
    payload: dict[str, Any]
    attempts: int
    state: str
    ticket_id: str | None
    last_error: str | None
    owner: str = ""
    job: str | None = None


@dataclass(frozen=True)
class Finished:
    """An inbox row to close, with the link it creates (``link``) or advances
    (``link_post``: the link's id and the post now latest in it)."""
    row_id: int
    state: str
    ticket_id: str | None = None
    note: str | None = None
    link: dict[str, Any] | None = None
    link_post: tuple[int, str] | None = None


@dataclass(frozen=True)
class LinkRow:
    id: int
    route: str
    conversation_key: str
    ticket_id: str
    source_key: str
    author_id: str
    author_handle: str
    dm: bool
    last_post_id: str
    dm_note_posted: bool


@dataclass(frozen=True)
class OutboxRow:
    id: int
    route: str
    comment_id: str
    ticket_id: str
    body: str
    state: str
    posted: list[dict[str, Any]]
    attempts: int
    last_error: str | None
    owner: str = ""
