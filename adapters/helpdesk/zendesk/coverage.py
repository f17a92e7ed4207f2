"""Zendesk SLA coverage: which SLA policy, with what targets, the tickets a route opens
get, and which active triggers would e-mail their social requesters.

The active triggers run first, as Zendesk runs them on a new ticket (position order,
each at most once, the cycle repeated while one fires), then the SLA policies are
matched in ``position`` order and the first match applies - that is how Zendesk picks a
ticket's policy. Triggers that would e-mail the requester of a social ticket are warned
about: a social requester has no usable e-mail address.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, MutableMapping, Sequence

from adapters.base import AuthFailed, SocialdeskError
from adapters.helpdesk.coverage import Names, RouteOutcome, SlaCoverage, Unknown, kinds_text, quoted as _q
from adapters.helpdesk.zendesk.conditions import TYPE_IDS, _norm_id, _tags, evaluate_conditions

# The engine's own tag on every ticket (sync.settings.SOCIALDESK_TAG; adapters never import sync).
SOCIALDESK_TAG = "socialdesk"
VIA_API_ID = 5                         # Zendesk's via id of a ticket created through the API
METRICS = {"first_reply_time": "first reply", "next_reply_time": "next reply",
           "periodic_update_time": "periodic update", "pausable_update_time": "pausable update",
           "requester_wait_time": "requester wait", "agent_work_time": "agent work",
           "total_resolution_time": "resolution"}
REQUESTER_RECIPIENTS = {"requester_id": "the requester", "requester_and_ccs": "the requester and CCs"}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class TicketOutcome:
    """One ticket a route can open: what produces it and its fields as the helpdesk gets them.

    Zendesk: ``fields`` holds tags, priority, group_id, brand_id, ticket_form_id, type,
    custom_fields {id: value}, via_id, status, update_type "Create", ... . Salesforce:
    entitlement, assignment_rule, group, priority, origin, record_type.
    """

    label: str
    fields: Mapping[str, Any]
    kind: str | None = None            # the mention kind (Zendesk tag social_<kind>)


@dataclass(frozen=True)
class Target:
    metric: str                        # first_reply_time, next_reply_time, ...
    minutes: int | None
    business_hours: bool = False

    def __str__(self) -> str:
        hours = " business hours" if self.business_hours else ""
        return f"{METRICS.get(self.metric, self.metric)} {_minutes(self.minutes)}{hours}"


@dataclass(frozen=True)
class OutcomeCoverage:
    """Which Zendesk SLA policy a ticket outcome gets, with what targets."""

    label: str
    kinds: tuple[str, ...]
    priority: Any
    policy: str | None = None
    position: int | None = None
    targets: tuple[Target, ...] = ()
    trigger_changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def first_reply(self) -> Target | None:
        return next((t for t in self.targets if t.metric == "first_reply_time"), None)

    def lines(self) -> list[str]:
        """The outcome's report lines: its policy and targets, what triggers changed first."""
        head = f"  {self.label}{kinds_text(self.kinds)}, priority {self.priority or '-'}: "
        if self.policy is None:
            head += "no SLA policy"
        else:
            head += f"SLA {_q(self.policy)} (position {self.position})"
            if self.targets:
                head += ": " + ", ".join(str(t) for t in self.targets)
        lines = [head]
        lines += [f"    {change} (before the SLA is chosen)" for change in self.trigger_changes]
        lines += [f"    WARNING: {w}" for w in self.warnings]
        lines += [f"    check: {n}" for n in self.notes]
        return lines


@dataclass(frozen=True)
class TriggerFinding:
    """An active trigger that would e-mail (or may e-mail) the requester of social tickets."""

    trigger: str
    position: int | None
    sends: str                         # what it sends, to whom
    fires_on: tuple[str, ...] = ()     # outcome labels on which it fires
    may_fire_on: tuple[str, ...] = ()  # ... on which its conditions cannot all be evaluated
    unknown: tuple[str, ...] = ()      # "cannot evaluate <field>"
    everywhere: bool = False           # fires on every outcome of the route

    @property
    def certain(self) -> bool:
        return bool(self.fires_on)

    @property
    def warning(self) -> str:
        """What to change in the trigger (said for a trigger certain to fire)."""
        where = "every social ticket" if self.everywhere else ", ".join(self.fires_on)
        return (f"trigger {_q(self.trigger)} (position {self.position}) {self.sends} on {where}; social "
                f"requesters have no usable e-mail address: add the condition \"Tags contains none of: "
                f"{SOCIALDESK_TAG}\" to it")

    def lines(self) -> list[str]:
        if self.certain:
            return [f"  WARNING: {self.warning}"]
        return [f"  check: trigger {_q(self.trigger)} (position {self.position}) {self.sends} and may fire "
                f"on {', '.join(self.may_fire_on)}: {'; '.join(self.unknown)}"]


def _apply_action(action: Mapping[str, Any], f: dict[str, Any]) -> str | None:
    """Apply one trigger action that changes a ticket field; what it did, in words."""
    name, value = str(action.get("field") or ""), action.get("value")
    if name == "priority":
        f["priority"] = str(value or "") or None
        return f"priority {value or '-'}"
    if name in ("group_id", "assignee_id", "brand_id", "ticket_form_id"):
        if value in ("current_groups", "current_user", "requester_id"):
            f[name] = Unknown(f"set by a trigger to {value}")
        else:
            f[name] = _norm_id(value)
        return f"{name} {value if value not in (None, '') else '-'}"
    if name in ("type", "ticket_type_id"):
        by_id = {v: k for k, v in TYPE_IDS.items()}
        f["type"] = by_id.get(_norm_id(value)) if name == "ticket_type_id" else (str(value or "") or None)
        return f"type {f['type'] or '-'}"
    if name == "status":
        f["status"] = str(value or "")
        return f"status {value}"
    if name in ("set_tags", "current_tags", "remove_tags"):
        tags = [str(t).lower() for t in f.get("tags") or ()]
        given = _tags(value)
        if name == "set_tags":
            tags, said = given, "tags = " + " ".join(given)
        elif name == "current_tags":
            tags, said = tags + [t for t in given if t not in tags], "tags " + " ".join(f"+{t}" for t in given)
        else:
            tags, said = [t for t in tags if t not in given], "tags " + " ".join(f"-{t}" for t in given)
        f["tags"] = tuple(tags)
        return said
    if name.startswith("custom_fields_"):
        values = dict(f.get("custom_fields") or {})
        values[name[len("custom_fields_"):]] = value
        f["custom_fields"] = values
        return f"{name} {value}"
    return None


def _requester_email(action: Mapping[str, Any]) -> str | None:
    """What an action e-mails to the requester, or None."""
    name, value = str(action.get("field") or ""), action.get("value")
    if name == "notification_user":
        who = value[0] if isinstance(value, (list, tuple)) and value else value
        if str(who) in REQUESTER_RECIPIENTS:
            return f"e-mails {REQUESTER_RECIPIENTS[str(who)]}"
    if name == "satisfaction_score" and str(value).startswith("offered"):
        return "e-mails the requester a satisfaction survey"
    return None


@dataclass
class _Run:
    fields: dict[str, Any]
    changes: list[str]
    fired: list[Mapping[str, Any]]
    uncertain: dict[Any, tuple[Mapping[str, Any], tuple[str, ...]]]


def run_triggers(triggers: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> _Run:
    """Zendesk's trigger cycle on a ticket being created: by position, each at most once,
    repeated while any fires. A trigger whose conditions cannot be evaluated does not fire."""
    f = dict(fields)
    ordered = sorted(triggers, key=lambda t: (t.get("position") if isinstance(t.get("position"), int)
                                              else 1 << 30, str(t.get("id"))))
    fired: list[Mapping[str, Any]] = []
    done: set[Any] = set()
    changes: list[str] = []
    uncertain: dict[Any, tuple[Mapping[str, Any], tuple[str, ...]]] = {}
    progress = True
    while progress:
        progress = False
        for trigger in ordered:
            key = trigger.get("id", id(trigger))
            if key in done:
                continue
            result, why = evaluate_conditions(trigger.get("conditions"), f)
            if result is None:
                uncertain[key] = (trigger, why)
                continue
            uncertain.pop(key, None)
            if not result:
                continue
            done.add(key)
            fired.append(trigger)
            progress = True
            said = [s for a in trigger.get("actions") or [] if (s := _apply_action(a, f))]
            if said:
                changes.append(f"trigger {_q(trigger.get('title'))} sets {', '.join(said)}")
    return _Run(f, changes, fired, uncertain)


def match_policy(policies: Sequence[Mapping[str, Any]],
                 fields: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The first policy by position whose filter matches, and what could not be evaluated
    in the policies before it (each treated as not matching)."""
    notes: list[str] = []
    ordered = sorted(policies, key=lambda p: (p.get("position") if isinstance(p.get("position"), int)
                                              else 1 << 30, str(p.get("id"))))
    for policy in ordered:
        result, why = evaluate_conditions(policy.get("filter"), fields)
        if result:
            return policy, notes
        if result is None:
            notes.append(f"SLA policy {_q(policy.get('title'))} (position {policy.get('position')}): "
                         f"{'; '.join(why)}; treated as not applying")
    return None, notes


def zendesk_coverage(outcomes: Sequence[TicketOutcome | tuple[str, Mapping[str, Any]]],
                     policies: Sequence[Mapping[str, Any]] | None,
                     triggers: Sequence[Mapping[str, Any]] = ()) -> tuple[list[OutcomeCoverage], list[TriggerFinding]]:
    """Each outcome's SLA policy and targets (triggers applied first), and the triggers that
    would e-mail a social requester. ``policies`` None: they could not be read (no SLA
    verdict). Outcomes differing only in kind with the same result are merged (``kinds``)."""
    results: list[tuple[str, str | None, OutcomeCoverage]] = []
    found: dict[Any, dict[str, Any]] = {}
    everyone: list[str] = []
    for item in outcomes:
        outcome = item if isinstance(item, TicketOutcome) else TicketOutcome(item[0], item[1])
        run = run_triggers(triggers, outcome.fields)
        shown = outcome.label + (f" ({outcome.kind})" if outcome.kind else "")
        everyone.append(shown)
        for trigger in run.fired:
            for action in trigger.get("actions") or []:
                sends = _requester_email(action)
                if sends:
                    entry = found.setdefault(trigger.get("id", id(trigger)), _finding(trigger, sends))
                    entry["fires_on"].append(shown)
        for key, (trigger, why) in run.uncertain.items():
            for action in trigger.get("actions") or []:
                sends = _requester_email(action)
                if sends:
                    entry = found.setdefault(key, _finding(trigger, sends))
                    entry["may_fire_on"].append(shown)
                    entry["unknown"].extend(why)
        results.append((outcome.label, outcome.kind, _sla(outcome.label, run, policies)))
    merged: list[OutcomeCoverage] = []
    for label, kind, cov in results:
        index = next((i for i, m in enumerate(merged) if m.label == label and _key(m) == _key(cov)), None)
        if index is not None:
            merged[index] = replace(merged[index], kinds=(*merged[index].kinds, *((kind,) if kind else ())))
        else:
            merged.append(replace(cov, kinds=(kind,) if kind else ()))
    findings = [TriggerFinding(trigger=e["title"], position=e["position"], sends=e["sends"],
                               fires_on=tuple(dict.fromkeys(e["fires_on"])),
                               may_fire_on=tuple(dict.fromkeys(e["may_fire_on"])),
                               unknown=tuple(dict.fromkeys(e["unknown"])),
                               everywhere=set(e["fires_on"]) >= set(everyone)) for e in found.values()]
    return merged, findings


def _finding(trigger: Mapping[str, Any], sends: str) -> dict[str, Any]:
    return {"title": str(trigger.get("title") or trigger.get("id")), "position": trigger.get("position"),
            "sends": sends, "fires_on": [], "may_fire_on": [], "unknown": []}


def _key(c: OutcomeCoverage) -> tuple[Any, ...]:
    return (c.priority, c.policy, c.targets, c.trigger_changes, c.warnings, c.notes)


def _sla(label: str, run: _Run, policies: Sequence[Mapping[str, Any]] | None) -> OutcomeCoverage:
    f = run.fields
    priority = f.get("priority")
    if policies is None:
        return OutcomeCoverage(label=label, kinds=(), priority=priority, trigger_changes=tuple(run.changes),
                               notes=("SLA policies not read: no verdict",))
    policy, notes = match_policy(policies, f)
    warnings: list[str] = []
    targets: tuple[Target, ...] = ()
    if policy is None:
        warnings.append("no SLA policy applies: these tickets run without SLA targets")
    elif isinstance(priority, Unknown) or not priority:
        warnings.append(f"SLA policy {_q(policy.get('title'))} applies, but the ticket has no priority "
                        f"it can target")
    else:
        order = list(METRICS)
        targets = tuple(sorted(
            (Target(str(m.get("metric")), m.get("target"), bool(m.get("business_hours")))
             for m in policy.get("policy_metrics") or [] if m.get("priority") == priority),
            key=lambda t: order.index(t.metric) if t.metric in order else len(order)))
        if not targets:
            warnings.append(f"SLA policy {_q(policy.get('title'))} applies but has no targets for "
                            f"priority {priority}: no SLA clock runs on these tickets")
        elif not any(t.metric == "first_reply_time" for t in targets):
            warnings.append(f"SLA policy {_q(policy.get('title'))} has no first-reply target for "
                            f"priority {priority}")
    return OutcomeCoverage(
        label=label, kinds=(), priority=priority, policy=str(policy.get("title")) if policy else None,
        position=policy.get("position") if policy else None, targets=targets,
        trigger_changes=tuple(run.changes), warnings=tuple(warnings), notes=tuple(notes))


def zendesk_fields(values: Mapping[str, Any], kind: str | None) -> dict[str, Any]:
    """The Zendesk ticket fields of a ticket created by socialdesk through the API, from
    resolved settings: tags, priority, group_id, brand_id, ticket_form_id, type,
    custom_fields {id: value}."""
    tags = [SOCIALDESK_TAG, *(str(t) for t in values.get("tags") or ())]
    if kind:
        tags.append(f"social_{kind}")
    return {
        "tags": tuple(dict.fromkeys(t.lower() for t in tags)),
        "priority": values.get("priority"),
        "group_id": values.get("group_id"),
        "brand_id": values.get("brand_id") if values.get("brand_id") is not None
        else Unknown("the route sets none: the account's default brand applies"),
        "ticket_form_id": values.get("ticket_form_id") if values.get("ticket_form_id") is not None
        else Unknown("the route sets none: the account's default form applies"),
        "type": values.get("type"),
        "custom_fields": dict(values.get("custom_fields") or {}),
        "via": "api", "via_id": VIA_API_ID, "status": "new", "update_type": "Create",
        "requester_role": "end_user", "assignee_id": None,
        "comment_is_public": True, "ticket_is_public": "public",
    }


def _zendesk_values(values: Mapping[str, Any], ids: Names) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in dict(values.get("custom_fields") or {}).items():
        fid = ids("field", name)
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            value = Unknown(f"{value!r} depends on the post")
        fields[str(fid) if not isinstance(fid, Unknown) else f"?{name}"] = value
    return {"tags": values.get("tags") or (), "priority": values.get("priority"),
            "group_id": ids("group", values.get("group")), "brand_id": ids("brand", values.get("brand")),
            "ticket_form_id": ids("form", values.get("form")), "type": values.get("type"),
            "custom_fields": fields}


def _read_zendesk(desk: Any) -> tuple[list[Any] | None, list[Any] | None, list[str]]:
    """SLA policies and active triggers; None (and a problem) for what could not be read."""
    problems: list[str] = []
    policies: list[Any] | None = None
    triggers: list[Any] | None = None
    try:
        policies = list(desk.sla_policies())
    except AuthFailed as err:
        problems.append(f"SLA policies not readable: {err} (reading them needs an admin's credentials)")
    except SocialdeskError as err:
        problems.append(f"SLA policies not readable: {err}")
    try:
        triggers = list(desk.triggers())
    except SocialdeskError as err:
        problems.append(f"triggers not readable: {err}")
    return policies, triggers, problems


def _minutes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    m = int(value)
    if m < 60:
        return f"{m}m"
    return f"{m // 60}h" + (f"{m % 60:02d}m" if m % 60 else "")


class ZendeskCoverage:
    """``ReportsSlaCoverage`` for ``ZendeskHelpdesk``: reads the account's SLA policies and
    active triggers (read only) and runs them over a route's ticket outcomes."""

    _list_all: Callable[[str, str, str], list[dict[str, Any]]]

    def sla_coverage(self, outcomes: Sequence[RouteOutcome], resolve: Callable[[str, Any], Any],
                     reads: MutableMapping[Any, Any]) -> SlaCoverage:
        """Each outcome, for each mention kind, through the triggers then the SLA policies;
        the policies and triggers are read once per report (``reads``)."""
        ids = Names(resolve)
        if "setup" not in reads:
            reads["setup"] = _read_zendesk(self)
        policies, triggers, problems = reads["setup"]
        items = [TicketOutcome(label, zendesk_fields(_zendesk_values(values, ids), k), k)
                 for label, kinds, values in outcomes for k in kinds]
        covered, findings = zendesk_coverage(items, policies, triggers or ())
        return SlaCoverage(tuple(covered), tuple(findings),
                           policies=None if policies is None else len(policies),
                           active_triggers=None if triggers is None else len(triggers),
                           problems=tuple([*problems, *ids.problems]))

    @staticmethod
    def _conditions(raw: Any) -> dict[str, list[dict[str, Any]]]:
        """A filter / conditions object as ``{"all": [...], "any": [...]}`` of plain dicts."""
        raw = raw if isinstance(raw, Mapping) else {}
        return {part: [dict(c) for c in (raw.get(part) or []) if isinstance(c, Mapping)]
                for part in ("all", "any")}

    def sla_policies(self) -> list[dict[str, Any]]:
        """The account's SLA policies in ``position`` order (Zendesk applies the first that
        matches): title, position, filter {all, any}, policy_metrics [{priority, metric,
        target (minutes), business_hours}]. Needs an admin's credentials."""
        found = self._list_all("slas/policies", "sla_policies", "list SLA policies")
        policies = []
        for p in found:
            metrics = []
            for m in p.get("policy_metrics") or []:
                if not isinstance(m, Mapping):
                    continue
                target = m.get("target")
                if target is None and isinstance(m.get("target_in_seconds"), (int, float)):
                    target = int(m["target_in_seconds"]) // 60
                metrics.append({"priority": m.get("priority"), "metric": m.get("metric"),
                                "target": target, "business_hours": bool(m.get("business_hours"))})
            policies.append({"id": p.get("id"), "title": str(p.get("title") or ""),
                             "position": p.get("position"), "description": p.get("description"),
                             "filter": self._conditions(p.get("filter")), "policy_metrics": metrics})
        return sorted(policies, key=lambda p: (p["position"] if isinstance(p["position"], int) else 1 << 30,
                                               str(p["id"])))

    def triggers(self) -> list[dict[str, Any]]:
        """The active triggers in ``position`` order: id, title, position, conditions
        {all, any} and actions [{field, value}]."""
        found = self._list_all("triggers/active", "triggers", "list active triggers")
        out = [{"id": t.get("id"), "title": str(t.get("title") or ""), "position": t.get("position"),
                "conditions": self._conditions(t.get("conditions")),
                "actions": [dict(a) for a in t.get("actions") or [] if isinstance(a, Mapping)]}
               for t in found if t.get("active", True)]
        return sorted(out, key=lambda t: (t["position"] if isinstance(t["position"], int) else 1 << 30,
                                          str(t["id"])))
