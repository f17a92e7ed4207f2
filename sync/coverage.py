"""SLA coverage: do the helpdesk's own service levels apply to the tickets socialdesk opens?

socialdesk fills in the fields a helpdesk's rules key on; this module proves, before any
ticket is written, which of those rules will fire. Every route's ticket outcomes (its
ticket template, and each rule's actions over it) go to the route's helpdesk adapter,
which says what its own service levels do with them (``ReportsSlaCoverage``: Zendesk
runs its triggers and matches its SLA policies, Salesforce reads the entitlements); this
module gathers the answers into a report.

Conditions are evaluated in three values by the adapters: a condition on a field the
check cannot know is "cannot evaluate <field>", and nothing is guessed.

Imports ``adapters`` and ``sync.config`` only: the adapters are handed in built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from adapters.base import ReportsSlaCoverage
from adapters.helpdesk.coverage import CoveredOutcome, Finding, Unknown
from sync.config import Config, RouteConfig, Rule, RuleActions, TicketTemplate

# Mention kinds each stream produces (the ticket gets the tag social_<kind>).
STREAM_KINDS: Mapping[str, tuple[str, ...]] = {
    "mentions": ("mention", "reply"), "search": ("mention", "reply"), "dms": ("dm",)}
# On Meta's networks the reads and pushes bring comments (and replies to them) and mentions.
_META_STREAM_KINDS: Mapping[str, tuple[str, ...]] = {"mentions": ("mention", "comment"), "dms": ("dm",)}
NETWORK_STREAM_KINDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "facebook": _META_STREAM_KINDS, "instagram": _META_STREAM_KINDS}
SCALARS = ("priority", "group", "type", "brand", "form", "origin", "record_type", "entitlement",
           "assignment_rule")

Resolve = Callable[[Any, str, Any], Any]


@dataclass(frozen=True)
class RouteCoverage:
    """The coverage of one route's ticket outcomes in its helpdesk."""

    route: str
    helpdesk: str
    helpdesk_kind: str
    outcomes: tuple[CoveredOutcome, ...] = ()
    triggers: tuple[Finding, ...] = ()      # the helpdesk's rules misbehaving on social tickets
    policies: int | None = None             # SLA policies read (Zendesk)
    active_triggers: int | None = None
    problems: tuple[str, ...] = ()          # what could not be read or resolved
    notes: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()            # the helpdesk's lines said once for the route

    @property
    def warnings(self) -> list[str]:
        found = [w for o in self.outcomes for w in o.warnings]
        found += [t.warning for t in self.triggers if t.certain]
        return found + list(self.problems)


# --------------------------------------------------------------------------- routes


def _template_values(ticket: TicketTemplate) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(ticket, name) for name in SCALARS}
    values["tags"] = tuple(ticket.tags)
    values["custom_fields"] = dict(ticket.custom_fields)
    return values


def _with_rule(values: Mapping[str, Any], actions: RuleActions) -> dict[str, Any]:
    """A rule's actions over the ticket: single values replaced, tags added, fields merged."""
    out = dict(values)
    for name in SCALARS:  # fields both a ticket template and a rule's actions have
        given = getattr(actions, name)
        if given is not None:
            out[name] = given
    out["tags"] = tuple(dict.fromkeys((*values.get("tags", ()), *actions.tags)))
    out["custom_fields"] = {**values.get("custom_fields", {}), **dict(actions.custom_fields)}
    return out


def route_kinds(route: RouteConfig, network_kind: str | None = None) -> tuple[str, ...]:
    """The mention kinds a route's streams bring on its network."""
    produced = NETWORK_STREAM_KINDS.get(network_kind or "", STREAM_KINDS)
    kinds: list[str] = []
    for stream in route.streams:
        kinds.extend(produced.get(stream, ()))
    return tuple(dict.fromkeys(kinds)) or ("mention",)


def _rule_kinds(rule: Rule, kinds: tuple[str, ...], network_kind: str | None) -> tuple[tuple[str, ...], str | None]:
    """The kinds of the route a rule can fire on, or () and why it never fires here."""
    when = rule.when
    networks = tuple(when.network)
    if networks and network_kind and network_kind not in networks:
        return (), f"fires only on {', '.join(networks)}; this route reads {network_kind}"
    wanted = tuple(when.kind)
    if wanted:
        mapped = {"quote": "mention"}
        allowed = {mapped.get(k, k) for k in wanted}
        kinds = tuple(k for k in kinds if k in allowed)
    public = when.public
    if public is True:
        kinds = tuple(k for k in kinds if k != "dm")
    elif public is False:
        kinds = tuple(k for k in kinds if k == "dm")
    if not kinds:
        return (), "fires on no stream this route reads"
    return kinds, None


Outcome = tuple[str, tuple[str, ...], dict[str, Any]]     # label, mention kinds, settings (names)


def route_outcomes(route: RouteConfig, network_kind: str | None = None) -> tuple[list[Outcome], list[str]]:
    """(label, kinds, unresolved settings) for the route's template and each of its rules."""
    base = _template_values(route.ticket)
    kinds = route_kinds(route, network_kind)
    rules = list(route.rules)
    notes: list[str] = []
    outcomes = [("no rule fires" if rules else "route ticket", kinds, base)]
    for rule in rules:
        rule_kinds, never = _rule_kinds(rule, kinds, network_kind)
        if never:
            notes.append(f"rule {rule.name!r} {never}")
            continue
        outcomes.append((f"rule {rule.name!r}", rule_kinds, _with_rule(base, rule.then)))
    if len(rules) > 1 and route.rules_match == "all":
        notes.append("rules_match: all - a post matching several rules gets their fields combined; "
                     "each rule is shown alone here")
    return outcomes, notes


def _default_resolve(desk: Any, kind: str, name: Any) -> Any:
    return desk.lookup(kind, name)


def coverage_report(config: Config, helpdesks: Mapping[str, Any],
                    resolve: Callable[[Any, str, Any], Any] | None = None) -> list[RouteCoverage]:
    """The SLA coverage of every route of ``config``; ``helpdesks`` maps helpdesk names to
    built adapters, ``resolve(adapter, kind, name)`` turns a mapping's names into ids
    (default: the adapter's ``lookup``). Read errors are reported, never raised, except a
    programming error."""
    resolve = resolve or _default_resolve
    reads: dict[str, dict[Any, Any]] = {}     # per helpdesk, kept for this report
    out: list[RouteCoverage] = []
    for route in config.routes:
        endpoint = config.helpdesks.get(route.helpdesk)
        desk = helpdesks.get(route.helpdesk)
        kind = endpoint.kind if endpoint is not None else "?"
        network = config.networks.get(route.network)
        outcomes, notes = route_outcomes(route, network.kind if network is not None else None)
        if desk is None:
            out.append(RouteCoverage(route.name, route.helpdesk, kind,
                                     problems=(f"helpdesk {route.helpdesk!r} was not built",)))
            continue
        if not isinstance(desk, ReportsSlaCoverage):
            out.append(RouteCoverage(route.name, route.helpdesk, kind,
                                     notes=(f"no SLA coverage check for {kind} helpdesks",)))
            continue

        def names(kind: str, name: Any, desk: Any = desk) -> Any:
            return resolve(desk, kind, name)

        got = desk.sla_coverage(outcomes, names, reads.setdefault(route.helpdesk, {}))
        out.append(RouteCoverage(route.name, route.helpdesk, kind, got.outcomes, got.findings,
                                 policies=got.policies, active_triggers=got.active_triggers,
                                 problems=got.problems, notes=tuple(notes), footer=got.footer))
    return out


# --------------------------------------------------------------------------- text


def format_report(coverages: Sequence[RouteCoverage]) -> list[str]:
    """The report as text lines for an admin; every warning line starts with WARNING."""
    lines: list[str] = []
    for cov in coverages:
        head = f"route {cov.route} -> {cov.helpdesk} ({cov.helpdesk_kind})"
        if cov.policies is not None:
            head += f": {cov.policies} SLA polic{'y' if cov.policies == 1 else 'ies'}"
            if cov.active_triggers is not None:
                head += f", {cov.active_triggers} active trigger{'' if cov.active_triggers == 1 else 's'}"
        lines.append(head)
        for problem in cov.problems:
            lines.append(f"  WARNING: {problem}")
        for outcome in cov.outcomes:
            lines.extend(outcome.lines())
        for t in cov.triggers:
            lines.extend(t.lines())
        lines.extend(cov.footer)
        for note in cov.notes:
            lines.append(f"  note: {note}")
    return lines


__all__ = ["RouteCoverage", "Unknown", "coverage_report", "format_report", "route_kinds", "route_outcomes"]
