"""The mapping's route -> the engine's settings, with helpdesk names resolved to ids.

Every name a route uses (groups, fields, brands, forms, entitlements, in its ticket block
and in every rule) is resolved when the route starts, so a typo stops the route at start
with the name and what exists, not at the first mention a rule fires on.
"""
from __future__ import annotations

from typing import Any, Callable

from sync import rules
from sync.settings import RouteSettings, TicketSettings


def ticket_settings(t: Any, helpdesk: Any) -> TicketSettings:
    """A ticket template of the mapping -> engine settings, helpdesk names resolved to ids."""
    def resolve(kind: str, name: Any) -> Any:
        return helpdesk.lookup(kind, name) if name is not None else None

    return TicketSettings(
        subject=t.subject, tags=tuple(t.tags), priority=t.priority,
        group_id=resolve("group", t.group), brand_id=resolve("brand", t.brand), form_id=resolve("form", t.form),
        entitlement_id=resolve("entitlement", t.entitlement),
        custom_fields={helpdesk.lookup("field", name): value for name, value in dict(t.custom_fields).items()},
        include_metrics=t.include_metrics, type=t.type, origin=t.origin,
        record_type_id=resolve("form", t.record_type), assignment_rule=t.assignment_rule)


def rules_resolver(route: Any, helpdesk: Any) -> Callable[[Any], tuple[tuple[str, ...], TicketSettings]] | None:
    """The route's rules as the engine uses them: mention -> (rules fired, ticket settings).

    Every rule's names are resolved now, so a rule naming a group the helpdesk lacks
    stops the route at start, not at the first mention it fires on.
    """
    if not len(route.rules):
        return None
    for rule in route.rules:
        ticket_settings(rules.apply(route.ticket, rule.then), helpdesk)
    resolved: dict[tuple[str, ...], TicketSettings] = {}

    def ticket_for(mention: Any) -> tuple[tuple[str, ...], TicketSettings]:
        evaluation = rules.evaluate(route, mention)
        if evaluation.fired not in resolved:
            resolved[evaluation.fired] = ticket_settings(evaluation.ticket, helpdesk)
        return evaluation.fired, resolved[evaluation.fired]

    return ticket_for


def route_settings(route: Any, helpdesk: Any) -> RouteSettings:
    """Config route -> engine settings, with helpdesk names resolved to ids."""
    return RouteSettings(
        name=route.name, helpdesk_name=route.helpdesk, streams=tuple(route.streams), include=route.include,
        blocklist=frozenset(h.lower().lstrip("@") for h in route.blocklist),
        search_query=route.search_query, history=route.history, ticket=ticket_settings(route.ticket, helpdesk),
        mirror=route.mirror, viral=route.viral, read_budget=route.read_budget,
        ticket_for=rules_resolver(route, helpdesk))
