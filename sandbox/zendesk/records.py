"""The records the account keeps besides plain dicts: tickets, jobs, webhook deliveries."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


class _Ids:
    """14-digit integer ids stepping by 128, like Zendesk's (audit ...244371, events +128)."""

    def __init__(self, base: int) -> None:
        self._base = base
        self._count = itertools.count()

    def next(self) -> int:
        return self._base + 128 * next(self._count)


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
    """A bulk ticket job: ``queued`` → ``working`` → ``completed`` on successive polls (after any hold)."""

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
    # A held job answers ``queued`` for ``hold_reads`` more status reads and until the
    # sandbox clock reaches ``hold_until`` (``/_sandbox/jobs``); it neither runs nor settles.
    hold_reads: int = 0
    hold_until: float = 0.0


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
