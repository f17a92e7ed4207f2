"""A route's settings as the engine uses them: the mapping's own values (sync/config), with
the ticket template's helpdesk names resolved to ids and the rules ready to evaluate."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from adapters.base import Mention
from sync.config import IncludeConfig, MirrorConfig, ReadBudgetConfig, ViralConfig

# Every ticket we open carries it; the helpdesk trigger that calls our webhook keys on it.
SOCIALDESK_TAG = "socialdesk"

PRIORITY_ORDER = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class TicketSettings:
    subject: str = "{network} {kind} from @{author}"
    tags: tuple[str, ...] = ("social",)
    priority: str | None = "normal"
    group_id: Any = None
    brand_id: Any = None
    form_id: Any = None
    entitlement_id: Any = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    include_metrics: bool = True
    type: str | None = None
    origin: str | None = None
    record_type_id: Any = None
    assignment_rule: bool | None = None


@dataclass(frozen=True)
class RouteSettings:
    name: str
    helpdesk_name: str
    streams: tuple[str, ...] = ("mentions", "dms")
    include: IncludeConfig = IncludeConfig()
    blocklist: frozenset[str] = frozenset()
    search_query: str | None = None
    history: float = 3600.0
    ticket: TicketSettings = TicketSettings()
    mirror: MirrorConfig = MirrorConfig()
    # A backlog of this many rows is written in batches when the helpdesk can.
    batch_min: int = 10
    viral: ViralConfig = ViralConfig()      # the spike watch's settings are ``viral.spike``
    read_budget: ReadBudgetConfig = ReadBudgetConfig()
    # The mapping's rules: a mention -> (rules fired, ticket settings); None: ``ticket`` always.
    ticket_for: Callable[[Mention], tuple[tuple[str, ...], TicketSettings]] | None = None


@dataclass
class Stats:
    """What a route did since it started; benches and the status page read it."""

    read: int = 0
    tickets: int = 0
    comments: int = 0
    filtered: int = 0
    quarantined: int = 0
    replies_posted: int = 0
    posts: int = 0
    reply_failures: int = 0
    helpdesk_calls: int = 0
