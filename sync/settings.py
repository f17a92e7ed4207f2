"""A route's settings as the engine uses them: the mapping's, with helpdesk names resolved to ids."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from adapters.base import Mention

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
class MirrorSettings:
    enabled: bool = True
    dm_public_note: str | None = "We've sent you a direct message."
    dm_tag: str | None = "social_dm"
    thread_long_replies: bool = True
    sign_off: str | None = None
    # Public replies to a conversation whose latest customer post is older are held.
    max_age: float | None = None
    # When set, a reply leaves only once a lead has put this tag on the ticket.
    approval_tag: str | None = None
    # The route's own personal-data patterns (name, regex), beside e-mail, phone and card.
    pii_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True)
class ViralSettings:
    """When an open conversation's post takes off, escalate its ticket."""

    enabled: bool = False
    refresh: float = 600.0                                   # seconds between metric reads
    thresholds: dict[str, int] = field(default_factory=dict)  # metric -> count
    velocity: dict[str, float] = field(default_factory=dict)  # metric -> per hour
    priority: str = "urgent"
    tag: str = "social_viral"
    horizon: float = 7 * 86400.0                              # watch conversations this recent


@dataclass(frozen=True)
class SpikeSettings:
    """A route's mention rate far above its usual: one problem ticket links the incidents."""

    enabled: bool = False
    window: float = 900.0
    factor: float = 3.0
    min_mentions: int = 20
    baseline: float = 86400.0       # the usual rate is measured over this much history


@dataclass(frozen=True)
class RouteSettings:
    name: str
    helpdesk_name: str
    streams: tuple[str, ...] = ("mentions", "dms")
    include_own_posts: bool = False
    include_reposts: bool = False
    include_quotes: bool = True
    blocklist: frozenset[str] = frozenset()
    search_query: str | None = None
    history: float = 3600.0
    ticket: TicketSettings = TicketSettings()
    mirror: MirrorSettings = MirrorSettings()
    # A backlog of this many rows is written in batches when the helpdesk can.
    batch_min: int = 10
    viral: ViralSettings = ViralSettings()
    spike: SpikeSettings = SpikeSettings()
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
