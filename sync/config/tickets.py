"""What a route writes on its tickets: the ``ticket:`` block, and the ``rules:`` that change it
(``when:`` conditions, ``then:`` actions). A setting only one helpdesk kind has is held to the
route's helpdesk; which settings those are, each helpdesk adapter says (``ticket_keys``)."""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence, Union

from pydantic import Field, ValidationInfo, PlainValidator
from pydantic_core import PydanticCustomError

from sync.config import fields as f
from sync.config.constants import (
    ACTION_KEYS, LANGUAGE_RE, PRIORITIES, RULE_KINDS, RULE_NETWORKS, TICKET_KEYS, TICKET_TYPES, owner_of, understood_by,
    _ELSEWHERE_HINTS, _HELPDESK_NAMES,
)
from sync.config.context import RouteContext
from sync.config.fields import Found
from sync.config.guards import MetricCounts, Priority
from sync.config.sections import Section, leaf, read, section
from sync.config.values import Rule, RuleActions, RuleConditions, RuleSet, TicketTemplate
from sync.config.yaml_marks import describe

Ident = Union[str, int]
CustomFields = dict[str, Any]
TicketType = Literal["question", "incident", "problem", "task"]

# How each ticket setting is read, in a route's ticket: block and in a rule's then: block alike.
_READERS: dict[str, Callable[[Any], Any]] = {
    "tags": f.tags,
    "priority": lambda v: f.choice(v, PRIORITIES, "priority"),
    "type": lambda v: f.choice(v, TICKET_TYPES, "ticket type"),
    "group": f.ident, "brand": f.ident, "form": f.ident, "entitlement": f.ident,
    "origin": f.string,
    "record_type": f.record_type,
    "assignment_rule": f.flag,
    "custom_fields": f.custom_fields,
}
_NULL_KEEPS_ADAPTER = ("type", "origin", "record_type", "assignment_rule")


def _fits_helpdesk(key: str, context: Any, allowed: Sequence[str]) -> None:
    """Refuse ``key`` when it is a setting of another helpdesk kind than the route's."""
    desk = context.desk if isinstance(context, RouteContext) else None
    if desk is None or understood_by(key, desk[1]):
        return
    name, kind = desk
    owner = owner_of(key) or "another helpdesk"
    shown = _HELPDESK_NAMES.get(kind, kind)
    takes = [k for k in allowed if understood_by(k, kind)]
    hint = _ELSEWHERE_HINTS.get((key, kind))
    f.fail(f"{key} is a {_HELPDESK_NAMES.get(owner, owner)} setting, but this route writes to {shown} "
           f"(helpdesk {name!r}); {shown} takes: {', '.join(takes)}" + (f" ({hint})" if hint else ""))


def _ticket_value(value: Any, info: ValidationInfo) -> Any:
    key = info.field_name or ""
    if key == "subject":
        return f.template(value)
    if key == "include_metrics":
        return f.flag(value)
    if value is None and key in _NULL_KEEPS_ADAPTER:
        return None
    if value is not None:
        _fits_helpdesk(key, info.context, TICKET_KEYS)
    return _READERS[key](value)


def _action_value(value: Any, info: ValidationInfo) -> Any:
    key = info.field_name or ""
    if value is None:
        f.fail("null sets nothing; give a value, or leave the key out to keep the route's")
    _fits_helpdesk(key, info.context, ACTION_KEYS)
    return _READERS[key](value)


def _ticket(schema: Any) -> PlainValidator:
    return PlainValidator(_ticket_value, json_schema_input_type=schema)


def _action(schema: Any) -> PlainValidator:
    return PlainValidator(_action_value, json_schema_input_type=schema)


class Ticket(Section):
    """How a route's tickets are filled in; ``subject`` and string custom field values are templates."""

    subject: Annotated[str, _ticket(str)] = TicketTemplate.subject
    """Template, placeholders: {network} {kind} {author} {author_name} {text} {id} {url} {reply_deadline}."""
    tags: Annotated[tuple[str, ...], _ticket(list[str] | None)] = ()
    priority: Annotated[str, _ticket(Priority)] = "normal"
    type: Annotated[str | None, _ticket(TicketType | None)] = None
    """Zendesk: question, incident, problem or task."""
    group: Annotated[Ident | None, _ticket(Ident | None)] = None
    """A group (Zendesk) or queue (Salesforce) by name or id."""
    brand: Annotated[Ident | None, _ticket(Ident | None)] = None
    """Zendesk: a brand by name or id."""
    form: Annotated[Ident | None, _ticket(Ident | None)] = None
    """Zendesk: a ticket form by name or id."""
    entitlement: Annotated[Ident | None, _ticket(Ident | None)] = None
    """Salesforce: an Entitlement by name."""
    origin: Annotated[str | None, _ticket(str | None)] = None
    """Salesforce: Case.Origin."""
    record_type: Annotated[str | None, _ticket(str | None)] = None
    """Salesforce: a Case record type's developer name, or its id."""
    assignment_rule: Annotated[bool | None, _ticket(bool | None)] = None
    """Salesforce: run the org's active assignment rule."""
    custom_fields: Annotated[Mapping[Any, Any], _ticket(CustomFields | None)] = Field(default_factory=lambda: MappingProxyType({}))
    """Field name or numeric id -> a value, a template or a list."""
    include_metrics: Annotated[bool, _ticket(bool)] = True
    """Note the post's public metrics on the ticket."""

    def value(self) -> TicketTemplate:
        return TicketTemplate(**self.given())


class Actions(Section):
    """What a fired rule sets on the ticket."""

    group: Annotated[Ident, _action(Ident)] = None  # type: ignore[assignment]
    priority: Annotated[str, _action(Priority)] = None  # type: ignore[assignment]
    type: Annotated[str, _action(TicketType)] = None  # type: ignore[assignment]
    tags: Annotated[tuple[str, ...], _action(list[str])] = ()
    """Added to the route's tags."""
    custom_fields: Annotated[Mapping[Any, Any], _action(CustomFields)] = Field(default_factory=lambda: MappingProxyType({}))
    """Merged over the route's."""
    brand: Annotated[Ident, _action(Ident)] = None  # type: ignore[assignment]
    form: Annotated[Ident, _action(Ident)] = None  # type: ignore[assignment]
    origin: Annotated[str, _action(str)] = None  # type: ignore[assignment]
    record_type: Annotated[str, _action(str)] = None  # type: ignore[assignment]
    entitlement: Annotated[Ident, _action(Ident)] = None  # type: ignore[assignment]
    assignment_rule: Annotated[bool, _action(bool)] = None  # type: ignore[assignment]

    def value(self) -> RuleActions:
        return RuleActions(**self.given())


def _networks(value: Any) -> tuple[str, ...]:
    import adapters

    known = (*RULE_NETWORKS, *(k for k in adapters.kinds("social") if k not in RULE_NETWORKS))
    return f.any_of(value, known, "network")


def _accounts(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    context = info.context
    accounts = list(context.doc.networks) if isinstance(context, RouteContext) else []
    return f.any_of(value, accounts, "account")


def _keywords(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for w, _ in f.words(value, "[outage, not working]")))


def _languages(value: Any) -> tuple[str, ...]:
    found, codes = Found(), []
    for code, loc in f.words(value, "[en, fr]"):
        if LANGUAGE_RE.fullmatch(code):
            codes.append(code.lower())
        else:
            found.add(f"{code!r} is not a language code; write BCP-47 codes like en, pt-BR or und "
                      "(undetermined)", loc)
    found.check()
    return tuple(dict.fromkeys(codes))


OneOrMany = Union[str, list[str]]


class Conditions(Section):
    """When a rule fires: every condition given must hold; a list means any of."""

    network: Annotated[tuple[str, ...], leaf(_networks, OneOrMany)] = ()
    account: Annotated[tuple[str, ...], PlainValidator(_accounts, json_schema_input_type=OneOrMany)] = ()
    """A network account (a name under networks:) the route reads."""
    kind: Annotated[tuple[str, ...], leaf(lambda v: f.any_of(v, RULE_KINDS, "kind"), OneOrMany)] = ()
    """mention, reply, quote, dm or comment."""
    public: Annotated[bool, leaf(f.flag, bool)] = None  # type: ignore[assignment]
    """true: anything but a DM; false: a DM."""
    keywords: Annotated[tuple[str, ...], leaf(_keywords, OneOrMany)] = ()
    """Whole words or phrases, in any case."""
    regex: Annotated[re.Pattern[str], leaf(lambda v: f.pattern(
        v, "match every mention; leave regex out for that"), str)] = None  # type: ignore[assignment]
    """A Python regular expression found in the text."""
    language: Annotated[tuple[str, ...], leaf(_languages, OneOrMany)] = ()
    """BCP-47 codes; en covers en-GB."""
    followers_min: Annotated[int, leaf(f.count, int)] = None  # type: ignore[assignment]
    followers_max: Annotated[int, leaf(f.count, int)] = None  # type: ignore[assignment]
    verified: Annotated[bool, leaf(f.flag, bool)] = None  # type: ignore[assignment]
    engagement_min: Annotated[int, leaf(f.count, int)] = None  # type: ignore[assignment]
    """Likes + reposts + replies + quotes + bookmarks reach this."""
    metrics_min: Annotated[Mapping[str, int], leaf(lambda v: f.metric_counts(v, 0), MetricCounts)] = Field(default_factory=lambda: MappingProxyType({}))

    def value(self) -> RuleConditions:
        return RuleConditions(**{k: v for k, v in self.given().items() if v is not None and v != ()})


def _condition_checks(raw: dict[str, Any], context: Any, found: Found) -> None:
    low, high = raw.get("followers_min"), raw.get("followers_max")
    if all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (low, high)) and low > high:
        found.add(f"followers_max {high} is below followers_min {low}: no author can match", ("followers_max",))


class RuleModel(Section):
    """One routing rule: ``when`` the mention matches, ``then`` set these fields."""

    name: Annotated[str, leaf(f.string, str)]
    """Unique within the route."""
    when: Annotated[Conditions, section(Conditions, _condition_checks)] = Field(default_factory=Conditions)
    then: Annotated[Actions, section(Actions)] = Field(default_factory=Actions)
    stop: Annotated[bool, leaf(f.flag, bool)] = False
    """true: rules after this one are not evaluated."""


def _rules(value: Any, info: ValidationInfo) -> RuleSet:
    """A route's rules, in file order; names unique, each rule doing something."""
    if value is None:
        return RuleSet()
    if not isinstance(value, list):
        f.fail(f"expected a list of rules (each: name, when, then, stop); got {describe(value)}")
    context = info.context
    source = context.doc.marks if isinstance(context, RouteContext) else None
    found, out, seen = Found(), [], {}
    for i, item in enumerate(value):
        try:
            rule = read(RuleModel, item, context)
        except PydanticCustomError as err:
            found.take(err, (i,))
            rule = None
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        name = name if isinstance(name, str) and name.strip() else ""
        if name and name in seen:
            found.add(f"duplicate rule name {name!r} (first at line {{first_line}}); rule names are unique "
                      "within a route", (i, "name"), first=(seen[name], "name"))
        elif name:
            seen[name] = i
        if "then" not in item and item.get("stop") is not True:
            found.add(f"rule {name or '(unnamed)'!r} does nothing: give it then: with the fields to set "
                      "(priority, group, tags...), or stop: true", (i,))
        if isinstance(rule, RuleModel):
            where = ""
            if source is not None:
                mark = source.mark((*context.loc, "rules", i), "node")
                where = f"{source.source}:{mark.line + 1}"
            out.append(Rule(name=rule.name, when=rule.when.value(), then=rule.then.value(), stop=rule.stop,
                            where=where))
    found.check()
    return RuleSet(tuple(out))


rules_field = PlainValidator(_rules, json_schema_input_type=list[RuleModel] | None)
ticket_section = section(Ticket)
