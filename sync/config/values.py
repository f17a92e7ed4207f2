"""The validated configuration as the rest of socialdesk reads it: frozen values, tuples and
read-only mappings, secrets as ``adapters.base.Secret``. The pydantic models in ``schema``
check what a mapping says; these are what it means."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

from adapters.base import Secret
from sync.config.constants import (
    DEFAULT_APPROVAL_TAG, DEFAULT_DM_PUBLIC_NOTE, DEFAULT_POLL, DEFAULT_SUBJECT, DEFAULT_VIRAL_REFRESH,
    DEFAULT_VIRAL_TAG,
)
from sync.config.text import did_you_mean, listing


class ConfigError(Exception):
    """The mapping cannot be used; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


@dataclass(frozen=True)
class EnvRef:
    """An ``{env: NAME}`` whose variable is not set (kept only with ``allow_missing_env``)."""

    name: str
    where: str

    def __repr__(self) -> str:
        return f"EnvRef({self.name}, unset)"


@dataclass(frozen=True)
class EndpointConfig:
    """One helpdesk instance or network account; ``settings`` go to the adapter's ``from_config``."""

    name: str
    kind: str
    sandbox: bool
    settings: Mapping[str, Any]

    def __repr__(self) -> str:
        # Secret values repr as Secret(NAME=****); spelled out so no mapping type changes that.
        shown = ", ".join(f"{k!r}: {v!r}" for k, v in self.settings.items())
        return (f"EndpointConfig(name={self.name!r}, kind={self.kind!r}, sandbox={self.sandbox!r}, "
                f"settings={{{shown}}})")


@dataclass(frozen=True)
class PollConfig:
    """Poll intervals in seconds."""

    mentions: float = DEFAULT_POLL["mentions"]
    dms: float = DEFAULT_POLL["dms"]
    search: float = DEFAULT_POLL["search"]
    replies: float = DEFAULT_POLL["replies"]


@dataclass(frozen=True)
class ReadBudgetConfig:
    """What a route may read from its network in a UTC calendar month (X bills each post
    and DM event read); None: no budget."""

    monthly_posts: int | None = None
    monthly_dm_events: int | None = None

    def for_kind(self, kind: str) -> int | None:
        return self.monthly_posts if kind == "posts" else self.monthly_dm_events


@dataclass(frozen=True)
class IncludeConfig:
    """Which of the network's items become tickets at all."""

    own_posts: bool = False
    reposts: bool = False
    quotes: bool = True


@dataclass(frozen=True)
class TicketTemplate:
    """How a ticket is filled in; ``subject`` and string custom field values are templates."""

    subject: str = DEFAULT_SUBJECT
    tags: tuple[str, ...] = ()
    priority: str = "normal"
    group: str | int | None = None
    brand: str | int | None = None
    form: str | int | None = None
    entitlement: str | int | None = None     # Salesforce: an Entitlement by name
    custom_fields: Mapping[str | int, Any] = field(default_factory=lambda: MappingProxyType({}))
    include_metrics: bool = True
    type: str | None = None                  # Zendesk: question | incident | problem | task
    origin: str | None = None                # Salesforce: Case.Origin; None keeps the adapter's
    record_type: str | None = None           # Salesforce: a Case record type's developer name
    assignment_rule: bool | None = None      # Salesforce: run the active assignment rule; None: unless a queue is named


@dataclass(frozen=True)
class RuleConditions:
    """When a rule fires: every condition given must hold; an empty tuple or None means any."""

    network: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    public: bool | None = None
    keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    language: tuple[str, ...] = ()
    followers_min: int | None = None
    followers_max: int | None = None
    verified: bool | None = None
    engagement_min: int | None = None
    metrics_min: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class RuleActions:
    """What a fired rule sets on the ticket; None leaves the field as the route has it."""

    group: str | int | None = None
    priority: str | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str | int, Any] = field(default_factory=lambda: MappingProxyType({}))
    brand: str | int | None = None
    form: str | int | None = None
    origin: str | None = None
    record_type: str | None = None
    entitlement: str | int | None = None
    assignment_rule: bool | None = None


@dataclass(frozen=True)
class Rule:
    """One routing rule of a route: ``when`` the mention matches, ``then`` set these fields."""

    name: str
    when: RuleConditions = field(default_factory=RuleConditions)
    then: RuleActions = field(default_factory=RuleActions)
    stop: bool = False
    where: str = ""                          # FILE:LINE, for explanations


@dataclass(frozen=True)
class RuleSet:
    """A route's rules, in file order (the order they are evaluated in)."""

    rules: tuple[Rule, ...] = ()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)


@dataclass(frozen=True)
class ApprovalConfig:
    """Whether a reply waits for a lead, who approves it by setting ``tag`` on the ticket."""

    required: bool = False
    tag: str = DEFAULT_APPROVAL_TAG


@dataclass(frozen=True)
class PiiPattern:
    """Personal data an admin names (an order number...) that must not appear in a public reply."""

    name: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class SpikeConfig:
    """A route's mention rate over ``window`` above ``factor`` x its baseline, with at least
    ``min_mentions`` in the window, is one incident."""

    enabled: bool = False
    window: float = 900.0
    factor: float = 3.0
    min_mentions: int = 20


@dataclass(frozen=True)
class ViralConfig:
    """While a ticket is open, its post's public metrics are refreshed every ``refresh`` seconds;
    crossing any threshold (a count, or a count gained per hour) raises priority and tags it."""

    enabled: bool = False
    refresh: float = DEFAULT_VIRAL_REFRESH
    thresholds: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    velocity_per_hour: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    priority: str = "urgent"
    tag: str = DEFAULT_VIRAL_TAG
    spike: SpikeConfig = field(default_factory=SpikeConfig)


@dataclass(frozen=True)
class MirrorConfig:
    """How agent replies go back to the network."""

    enabled: bool = True
    dm_public_note: str | None = DEFAULT_DM_PUBLIC_NOTE
    dm_tag: str | None = "social_dm"
    thread_long_replies: bool = True
    sign_off: str | None = None
    max_age: float | None = None             # seconds; a reply to an older conversation is held
    approval: ApprovalConfig = field(default_factory=ApprovalConfig)
    pii_patterns: tuple[PiiPattern, ...] = ()

    @property
    def private_note(self) -> str | None:
        """The public note posted once when a conversation moves to DM (key ``private_note``)."""
        return self.dm_public_note


@dataclass(frozen=True)
class RouteConfig:
    """One network account's streams into one helpdesk instance."""

    name: str
    network: str
    helpdesk: str
    streams: tuple[str, ...]
    search_query: str | None
    poll: PollConfig
    include: IncludeConfig
    blocklist: tuple[str, ...]
    ticket: TicketTemplate
    mirror: MirrorConfig
    # How far back a route's very first read reaches; older posts are recorded as filtered.
    history: float = 3600.0
    rules: RuleSet = field(default_factory=RuleSet)
    rules_match: str = "all"                 # all: every matching rule, in order; first: the first only
    viral: ViralConfig = field(default_factory=ViralConfig)
    read_budget: ReadBudgetConfig = field(default_factory=ReadBudgetConfig)


@dataclass(frozen=True)
class WebhookConfig:
    """Inbound helpdesk webhooks; ``secret`` None means read the signing secret from the helpdesk."""

    host: str
    port: int
    public_url: str | None = None
    secret: Secret | EnvRef | None = None

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Config:
    """A validated mapping.yaml."""

    version: int
    state_url: str | Secret | EnvRef
    helpdesks: dict[str, EndpointConfig]
    networks: dict[str, EndpointConfig]
    routes: tuple[RouteConfig, ...]
    webhook: WebhookConfig | None
    source: str
    missing_env: tuple[EnvRef, ...] = ()

    def route(self, name: str) -> RouteConfig:
        for route in self.routes:
            if route.name == name:
                return route
        known = [r.name for r in self.routes]
        raise KeyError(f"unknown route {name!r}; known: {listing(known)}{did_you_mean(name, known)}")

    @property
    def uses_sandbox(self) -> bool:
        """True when some endpoint needs the in-process sandbox (``run --sandbox`` / demo)."""
        return any(e.sandbox for e in (*self.helpdesks.values(), *self.networks.values()))
