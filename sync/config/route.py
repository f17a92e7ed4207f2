"""One route: a network account's streams into one helpdesk instance, and how often each is read."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from adapters.base import ReadsDMs

from sync.config import fields as f
from sync.config.constants import DEFAULT_HISTORY, DEFAULT_POLL, NAME_RE, POLL_KEYS, RULES_MATCH, STREAMS
from sync.config.context import LoadContext, RouteContext
from sync.config.fields import Found
from sync.config.guards import Duration, Mirror, Viral, mirror_section, viral_section
from sync.config.sections import Section, leaf, read, section
from sync.config.tickets import Ticket, rules_field, ticket_section
from sync.config.text import did_you_mean, listing, seconds_text
from sync.config.values import IncludeConfig, MirrorConfig, PollConfig, ReadBudgetConfig, RouteConfig, RuleSet, \
    TicketTemplate, ViralConfig
from sync.config.yaml_marks import describe

Stream = Literal["mentions", "dms", "search"]


def _poll_value(value: Any, info: ValidationInfo) -> float:
    """A poll interval, no faster than the adapter reading it allows."""
    seconds = f.seconds(value)
    context = info.context
    if isinstance(context, RouteContext):
        floor, kind = _floor(context, info.field_name or "")
        if seconds < floor:
            f.fail(f"{seconds_text(seconds)} is faster than {kind} allows; minimum: {seconds_text(floor)}")
    return seconds


def _floor(context: RouteContext, key: str) -> tuple[float, str]:
    doc = context.doc
    if key == "replies":
        kind = doc.helpdesks[context.helpdesk].kind if context.helpdesk in doc.helpdesks else ""
        return float(getattr(context.helpdesk_cls, "min_poll_interval", 0.0) or 0.0), kind
    kind = doc.networks[context.network].kind if context.network in doc.networks else ""
    return float(getattr(context.network_cls, "min_poll_interval", 0.0) or 0.0), kind


_POLL = PlainValidator(_poll_value, json_schema_input_type=Duration)


class Poll(Section):
    """Poll intervals (15s, 2m, 1h or seconds); each at least what its adapter allows."""

    mentions: Annotated[float, _POLL] = DEFAULT_POLL["mentions"]
    dms: Annotated[float, _POLL] = DEFAULT_POLL["dms"]
    search: Annotated[float, _POLL] = DEFAULT_POLL["search"]
    replies: Annotated[float, _POLL] = DEFAULT_POLL["replies"]
    """How often agents' replies are read from the helpdesk."""

    def value(self, context: RouteContext | None) -> PollConfig:
        values = {k: max(DEFAULT_POLL[k], _floor(context, k)[0] if context else 0.0) for k in POLL_KEYS}
        return PollConfig(**{**values, **self.given()})


class ReadBudget(Section):
    """What the route may read in a UTC calendar month; reads pause before a read could
    pass it and resume when the month turns."""

    monthly_posts: Annotated[int | None, leaf(lambda v: f.count(v, 1), int, nullable=True)] = None
    """Posts read (mentions, search): each one X bills."""
    monthly_dm_events: Annotated[int | None, leaf(lambda v: f.count(v, 1), int, nullable=True)] = None
    """DM events read."""


class Include(Section):
    """Which of the network's items become tickets at all."""

    own_posts: Annotated[bool, leaf(f.flag, bool)] = False
    """The brand account's own posts."""
    reposts: Annotated[bool, leaf(f.flag, bool)] = False
    quotes: Annotated[bool, leaf(f.flag, bool)] = True
    """Posts quoting the brand's."""


def _name(value: Any, info: ValidationInfo) -> str:
    name = f.string(value) or ""
    context = info.context
    if not NAME_RE.fullmatch(name):
        f.fail(f"route name {name!r}: use lowercase letters, digits, _ and - ([a-z0-9_-]+)")
    if isinstance(context, RouteContext):
        first = context.doc.route_names.get(name)
        if first is not None:
            line = context.doc.marks.mark((*first, "name")).line + 1
            f.fail(f"duplicate route name {name!r} (first at line {line}); route names must be unique")
        context.doc.route_names[name] = context.loc
    return name


def _reference(value: Any, info: ValidationInfo) -> str:
    key = info.field_name or ""
    text = f.string(value) or ""
    context = info.context
    if isinstance(context, RouteContext):
        known = context.doc.networks if key == "network" else context.doc.helpdesks
        if text not in known:
            f.fail(f"unknown {key} {text!r}; known: {listing(known)}{did_you_mean(text, known)}")
    return text


def _streams(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    context = info.context
    network_cls = context.network_cls if isinstance(context, RouteContext) else None
    # Until the adapter is known (a mistake elsewhere), DMs are not refused here.
    supports_dm = network_cls is None or issubclass(network_cls, ReadsDMs)
    found = Found()
    if value is None:
        streams: tuple[str, ...] = ("mentions", "dms") if supports_dm else ("mentions",)
    else:
        chosen: list[str] = []
        try:
            items = f.string_list(value, "[mentions, dms]")
        except PydanticCustomError as err:
            found.take(err, ())
            items = []
        for text, i in items:
            if text not in STREAMS:
                found.add(f"unknown stream {text!r}; allowed: {', '.join(STREAMS)}{did_you_mean(text, STREAMS)}",
                          (i,))
            elif text in chosen:
                found.add(f"stream {text!r} is listed twice", (i,))
            elif text == "dms" and not supports_dm:
                kind = context.doc.networks[context.network].kind  # type: ignore[union-attr,index]
                found.add(f"network kind {kind} has no direct messages; allowed: mentions, search", (i,))
            else:
                chosen.append(text)
        if not items and isinstance(value, list):
            found.add(f"empty; allowed: {', '.join(STREAMS)}")
        streams = tuple(chosen)
    network = info.data.get("network")
    if isinstance(context, RouteContext) and network:
        name = info.data.get("name", "")
        for stream in streams:
            other = context.doc.claimed.get((network, stream))
            if other is not None and other != name:
                # Said on streams: (or on network: when streams is left to its default).
                where = () if value is not None else None
                found.problems.append(_claim(network, stream, other, where, context))
            else:
                context.doc.claimed[(network, stream)] = name
    found.check()
    return streams


def _claim(network: str, stream: str, other: str, where: tuple[()] | None, context: RouteContext) -> Any:
    from sync.config.yaml_marks import Problem

    message = (f"network {network!r} stream {stream!r} is already routed by route {other!r}; "
               "each stream of an account goes to one route")
    at = None if where is not None else context.doc.marks.mark((*context.loc, "network"))
    return Problem((), message, at=at)


class Route(Section):
    """One network account's streams into one helpdesk instance."""

    name: Annotated[str, PlainValidator(_name, json_schema_input_type=Annotated[str, Field(
        pattern="^[a-z0-9][a-z0-9_-]*$")])]
    """Unique; lowercase letters, digits, _ and -."""
    network: Annotated[str, PlainValidator(_reference, json_schema_input_type=str)]
    """A name under networks:."""
    helpdesk: Annotated[str, PlainValidator(_reference, json_schema_input_type=str)]
    """A name under helpdesks:."""
    streams: Annotated[tuple[str, ...], PlainValidator(_streams, json_schema_input_type=list[Stream])] = \
        Field(default=None, validate_default=True)
    """Default: mentions and dms (mentions only where the network has no DMs)."""
    search_query: Annotated[str | None, leaf(lambda v: f.string(v, nullable=True), str, nullable=True)] = None
    """The network search the search stream reads."""
    poll: Annotated[Poll, section(Poll)] = Field(default_factory=Poll)
    include: Annotated[Include, section(Include)] = Field(default_factory=Include)
    blocklist: Annotated[tuple[str, ...], leaf(lambda v: tuple(dict.fromkeys(
        t.strip().lstrip("@").lower() for t, _ in f.string_list(v, "[spam_account]"))), list[str] | None)] = ()
    """Handles whose posts never become tickets."""
    history: Annotated[float, leaf(f.seconds, Duration)] = DEFAULT_HISTORY
    """How far back a route's very first read reaches."""
    ticket: Annotated[Ticket, ticket_section] = Field(default_factory=Ticket)
    rules_match: Annotated[str, leaf(lambda v: f.choice(v, RULES_MATCH, "rules_match"), Literal["all", "first"],
                                     nullable=True)] = "all"
    """all: every matching rule, in order; first: the first only."""
    rules: Annotated[RuleSet, rules_field] = Field(default_factory=RuleSet)
    mirror: Annotated[Mirror, mirror_section] = Field(default_factory=Mirror)
    viral: Annotated[Viral, viral_section] = Field(default_factory=Viral)
    read_budget: Annotated[ReadBudget, section(ReadBudget)] = Field(default_factory=ReadBudget)
    """Monthly read budget: {monthly_posts: N, monthly_dm_events: M}."""

    def value(self, context: RouteContext | None) -> RouteConfig:
        return RouteConfig(
            name=self.name, network=self.network, helpdesk=self.helpdesk, streams=self.streams,
            search_query=self.search_query, poll=self.poll.value(context),
            include=IncludeConfig(**self.include.given()), blocklist=self.blocklist,
            ticket=self.ticket.value() if "ticket" in self.model_fields_set else TicketTemplate(),
            mirror=self.mirror.value() if "mirror" in self.model_fields_set else MirrorConfig(),
            history=self.history, rules=self.rules or RuleSet(), rules_match=self.rules_match or "all",
            viral=self.viral.value() if self.viral is not None and "viral" in self.model_fields_set
            else ViralConfig(), read_budget=ReadBudgetConfig(**self.read_budget.given()))


def read_routes(value: Any, doc: LoadContext) -> tuple[RouteConfig, ...]:
    """The ``routes:`` list, each route validated with what it refers to."""
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else describe(value)
        f.fail(f"expected a non-empty list of routes (each: name, network, helpdesk, ...); got {got}")
    found, out = Found(), []
    for i, item in enumerate(value):
        raw = item if isinstance(item, dict) else {}
        network = raw.get("network") if isinstance(raw.get("network"), str) else None
        helpdesk = raw.get("helpdesk") if isinstance(raw.get("helpdesk"), str) else None
        context = RouteContext(doc, ("routes", i), network, helpdesk,
                               doc.classes.get(("social", network or "")),
                               doc.classes.get(("helpdesk", helpdesk or "")))
        try:
            route = read(Route, item, context)
        except PydanticCustomError as err:
            found.take(err, (i,))
            continue
        assert isinstance(route, Route)
        out.append(route.value(context))
    found.check()
    return tuple(out)
