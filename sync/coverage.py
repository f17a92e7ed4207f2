"""SLA coverage: do the helpdesk's own service levels apply to the tickets socialdesk opens?

socialdesk fills in the fields a helpdesk's rules key on; this module proves, before any
ticket is written, which of those rules will fire. For every route and every ticket
outcome a route can produce (its ticket template, and each rule's actions over it):

Zendesk
    The active triggers run first, as Zendesk runs them on a new ticket (position order,
    each at most once, the cycle repeated while one fires), then the SLA policies are
    matched in ``position`` order and the first match applies - that is how Zendesk picks
    a ticket's policy. The report names the policy and its targets for the ticket's
    priority, or warns that no policy applies or that the policy has no first-reply target
    for that priority. Triggers that would e-mail the requester of a social ticket are
    warned about: a social requester has no usable e-mail address.

Salesforce
    The entitlement a case gets (none: no entitlement process, no milestones), the
    entitlement's status and dates (expired: a warning), its process, the org's milestone
    types, and whether the active Case assignment rule runs or is bypassed.

Conditions are evaluated in three values: a condition on a field this check cannot know
(the requester's organization, words of the post...) is "cannot evaluate <field>" and the
policy or trigger is treated as not matching; nothing is guessed.

Imports ``adapters.base`` and ``sync.config`` only: the adapters are handed in built.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from adapters.base import AuthFailed, SocialdeskError
from sync.config import Config

# The engine's own tag on every ticket (sync.engine.SOCIALDESK_TAG; not imported here).
SOCIALDESK_TAG = "socialdesk"
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
TYPE_IDS = {"question": 1, "incident": 2, "problem": 3, "task": 4}
VIA_API_ID = 5                         # Zendesk's via id of a ticket created through the API
# Mention kinds each stream produces (the ticket gets the tag social_<kind>).
STREAM_KINDS: Mapping[str, tuple[str, ...]] = {
    "mentions": ("mention", "reply"), "search": ("mention", "reply"), "dms": ("dm",)}
METRICS = {"first_reply_time": "first reply", "next_reply_time": "next reply",
           "periodic_update_time": "periodic update", "pausable_update_time": "pausable update",
           "requester_wait_time": "requester wait", "agent_work_time": "agent work",
           "total_resolution_time": "resolution"}
SCALARS = ("priority", "group", "type", "brand", "form", "origin", "record_type", "entitlement",
           "assignment_rule")
REQUESTER_RECIPIENTS = {"requester_id": "the requester", "requester_and_ccs": "the requester and CCs"}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

Resolve = Callable[[Any, str, Any], Any]


@dataclass(frozen=True)
class Unknown:
    """A ticket field value this check cannot know; conditions on it cannot be evaluated."""

    why: str

    def __str__(self) -> str:
        return f"? ({self.why})"


# --------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class CaseCoverage:
    """What a Salesforce case outcome gets: entitlement, process, milestones, assignment."""

    label: str
    kinds: tuple[str, ...]
    entitlement: str | None = None          # as the mapping names it
    entitlement_id: str | None = None
    status: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    process: str | None = None
    process_active: bool | None = None
    milestones: tuple[str, ...] | None = None
    milestones_note: str | None = None
    assignment: str = "runs"                # runs | bypassed
    assignment_rule: str | None = None      # the active Case assignment rule's name
    owner: Any = None                       # the queue named by the mapping, if any
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteCoverage:
    """The coverage of one route's ticket outcomes in its helpdesk."""

    route: str
    helpdesk: str
    helpdesk_kind: str
    outcomes: tuple[OutcomeCoverage | CaseCoverage, ...] = ()
    triggers: tuple[TriggerFinding, ...] = ()
    policies: int | None = None             # SLA policies read (Zendesk)
    active_triggers: int | None = None
    problems: tuple[str, ...] = ()          # what could not be read or resolved
    notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> list[str]:
        found = [w for o in self.outcomes for w in o.warnings]
        found += [_trigger_warning(t) for t in self.triggers if t.certain]
        return found + list(self.problems)


# --------------------------------------------------------------------------- conditions


def _tags(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).lower() for v in value]
    return str(value or "").lower().split()


def _norm_id(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, Unknown):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _ordered(name: str, op: str, cur: Any, wanted: Any, order: Sequence[str]) -> bool | None:
    if cur not in order or wanted not in order:
        return None
    a, b = order.index(cur), order.index(wanted)
    return {"less_than": a < b, "greater_than": a > b, "less_than_equal": a <= b,
            "greater_than_equal": a >= b}[op]


def _compare(name: str, op: str, cur: Any, wanted: Any, order: Sequence[str] | None = None) -> bool | None:
    """A condition on a ticket being created: there is no previous value."""
    if isinstance(cur, Unknown):
        return None
    if op in ("is", "value"):
        return cur == wanted
    if op in ("is_not", "not_value"):
        return cur != wanted
    if op in ("less_than", "greater_than", "less_than_equal", "greater_than_equal") and order:
        return _ordered(name, op, cur, wanted, order)
    if op == "changed":
        return True                  # on create every field counts as changed
    if op in ("not_changed", "value_previous"):
        return False
    if op == "not_value_previous":
        return True
    if op == "present":
        return cur is not None
    if op == "not_present":
        return cur is None
    return None


def evaluate_condition(cond: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[bool | None, str | None]:
    """(True / False, None), or (None, "cannot evaluate <field>") when it cannot be known."""
    name = str(cond.get("field") or "")
    op = str(cond.get("operator") or "is")
    value = cond.get("value")
    result = _condition(name, op, value, fields)
    if result is None:
        current = _field_value(name, fields)
        why = f" ({current.why})" if isinstance(current, Unknown) else ""
        if not why and name in _KNOWN_FIELDS:
            why = f" (operator {op!r})"
        return None, f"cannot evaluate {name or '(no field)'}{why}"
    return result, None


_KNOWN_FIELDS = ("current_tags", "update_type", "priority", "status", "group_id", "brand_id",
                 "ticket_form_id", "assignee_id", "ticket_type_id", "type", "via_id", "current_via_id",
                 "requester_role", "comment_is_public", "ticket_is_public")


def _field_value(name: str, fields: Mapping[str, Any]) -> Any:
    if name.startswith("custom_fields_"):
        return (fields.get("custom_fields") or {}).get(name[len("custom_fields_"):])
    if name == "ticket_type_id":
        return fields.get("type")
    if name == "current_via_id":
        return fields.get("via_id")
    if name == "current_tags":
        return fields.get("tags")
    return fields.get(name)


def _condition(name: str, op: str, value: Any, f: Mapping[str, Any]) -> bool | None:
    if name == "current_tags":
        tags = f.get("tags")
        if isinstance(tags, Unknown) or tags is None:
            return None
        present = {str(t).lower() for t in tags}
        hit = any(t in present for t in _tags(value))
        if op == "includes":
            return hit
        if op == "not_includes":
            return not hit
        return None
    if name == "update_type":
        update = str(f.get("update_type", "Create")).lower()
        if op in ("is", "is_not"):
            return (update == str(value).lower()) == (op == "is")
        return None
    if name == "priority":
        cur = f.get("priority")
        if isinstance(cur, Unknown):
            return None
        return _compare(name, op, cur or "", str(value or "").lower(), ("", *PRIORITIES))
    if name == "status":
        return _compare(name, op, f.get("status", "new"), str(value or "").lower(), STATUSES)
    if name in ("group_id", "brand_id", "ticket_form_id", "assignee_id"):
        return _compare(name, op, _norm_id(f.get(name)), _norm_id(value))
    if name == "ticket_type_id":
        kind = f.get("type")
        if isinstance(kind, Unknown):
            return None
        return _compare(name, op, TYPE_IDS.get(str(kind)) if kind else None, _norm_id(value))
    if name == "type":
        kind = f.get("type")
        return _compare(name, op, kind if kind else None, str(value) if value not in (None, "") else None)
    if name in ("via_id", "current_via_id"):
        wanted = _norm_id(value)
        if not isinstance(wanted, int):
            return None
        return _compare(name, op, _norm_id(f.get("via_id")), wanted)
    if name == "requester_role":
        role = f.get("requester_role")
        if role is None or isinstance(role, Unknown):
            return None
        wanted = str(value or "").replace("-", "_")
        return _compare(name, op, str(role).replace("-", "_"), wanted)
    if name == "comment_is_public":
        public = f.get("comment_is_public")
        if not isinstance(public, bool):
            return None
        wanted = str(value).lower()
        hit = {"true": public, "public": public, "false": not public, "private": not public,
               "not_relevant": True}.get(wanted)
        if hit is None:
            return None
        return hit if op == "is" else (not hit if op == "is_not" else None)
    if name == "ticket_is_public":
        public = f.get("ticket_is_public")
        if public not in ("public", "private"):
            return None
        return _compare(name, op, public, str(value).lower())
    if name.startswith("custom_fields_"):
        values = f.get("custom_fields") or {}
        if isinstance(values, Unknown):
            return None
        cur = values.get(name[len("custom_fields_"):])
        if isinstance(cur, Unknown):
            return None
        if op == "includes":
            return None if cur is None else str(value or "").lower() in str(cur).lower()
        if isinstance(cur, bool):
            cur = str(cur).lower()
        wanted = None if value in (None, "") else (str(value).lower() if isinstance(value, bool) else str(value))
        return _compare(name, op, None if cur in (None, "") else str(cur), wanted)
    return None


def evaluate_conditions(conditions: Mapping[str, Any] | None,
                        fields: Mapping[str, Any]) -> tuple[bool | None, tuple[str, ...]]:
    """Zendesk's {all, any} in three values: (True | False | None, why it is None)."""
    conditions = conditions or {}
    all_result: bool | None = True
    all_unknown: list[str] = []
    for cond in conditions.get("all") or []:
        result, why = evaluate_condition(cond, fields)
        if result is False:
            all_result = False
        elif result is None:
            all_unknown.append(str(why))
            if all_result is True:
                all_result = None
    any_conds = list(conditions.get("any") or [])
    any_result: bool | None = True if not any_conds else False
    any_unknown: list[str] = []
    for cond in any_conds:
        result, why = evaluate_condition(cond, fields)
        if result is True:
            any_result = True
            break
        if result is None:
            any_unknown.append(str(why))
            any_result = None
    if all_result is False or any_result is False:
        return False, ()
    if all_result is True and any_result is True:
        return True, ()
    unknown = (all_unknown if all_result is None else []) + (any_unknown if any_result is None else [])
    return None, tuple(dict.fromkeys(unknown))


# --------------------------------------------------------------------------- Zendesk


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


# --------------------------------------------------------------------------- Salesforce


def salesforce_coverage(label: str, kinds: Sequence[str], values: Mapping[str, Any],
                        levels: Mapping[str, Any], today: date | None = None) -> CaseCoverage:
    """A case outcome's entitlement, process, milestones and assignment, from the
    ``service_levels`` the adapter read for its entitlement."""
    today = today or datetime.now(timezone.utc).date()
    warnings: list[str] = []
    notes: list[str] = []
    named = values.get("entitlement")
    ent = levels.get("entitlement") or None
    process = levels.get("process") or None
    if named is None:
        warnings.append("no entitlement: cases get no entitlement process and no milestones")
    elif ent is None:
        problem = levels.get("entitlement_problem") or f"no Entitlement named {named!r}"
        warnings.append(f"entitlement {_q(named)}: {problem}: cases get no milestones")
    else:
        status = ent.get("status")
        end = _date(ent.get("end_date"))
        start = _date(ent.get("start_date"))
        if status == "Expired" or (status is None and end is not None and end < today):
            warnings.append(f"entitlement {_q(ent.get('name'))} expired on {ent.get('end_date')}: "
                            "its milestones no longer run on new cases")
        elif status == "Inactive" or (status is None and start is not None and start > today):
            warnings.append(f"entitlement {_q(ent.get('name'))} is not active yet "
                            f"(starts {ent.get('start_date')})")
        if not ent.get("sla_process_id"):
            warnings.append(f"entitlement {_q(ent.get('name'))} has no entitlement process: no milestones")
        elif process is None:
            notes.append(levels.get("entitlement_problem") or "the entitlement process could not be read")
        elif process.get("active") is False:
            warnings.append(f"entitlement process {_q(process.get('name'))} is inactive: no milestones run")
    group = values.get("group")
    flag = values.get("assignment_rule")
    runs = flag if flag is not None else group is None
    rule = levels.get("assignment_rule") or None
    if levels.get("assignment_rule_problem"):
        notes.append(str(levels["assignment_rule_problem"]))
    elif runs and rule is None:
        warnings.append("no active Case assignment rule: cases stay with the integration user"
                        if group is None else "no active Case assignment rule")
    elif not runs and group is None:
        warnings.append("the assignment rule is bypassed and no queue is named: cases stay with the "
                        "integration user")
    milestones = levels.get("milestones")
    return CaseCoverage(
        label=label, kinds=tuple(kinds), entitlement=str(named) if named is not None else None,
        entitlement_id=ent.get("id") if ent else None, status=ent.get("status") if ent else None,
        start_date=ent.get("start_date") if ent else None, end_date=ent.get("end_date") if ent else None,
        process=process.get("name") if process else None,
        process_active=process.get("active") if process else None,
        milestones=tuple(str(m.get("name")) for m in milestones) if isinstance(milestones, list) else None,
        milestones_note=levels.get("milestones_note") if ent else None,
        assignment="runs" if runs else "bypassed", assignment_rule=rule.get("name") if rule else None,
        owner=group, warnings=tuple(warnings), notes=tuple(notes))


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- routes


def _template_values(ticket: Any) -> dict[str, Any]:
    values = {name: getattr(ticket, name, None) for name in SCALARS}
    values["tags"] = tuple(getattr(ticket, "tags", ()) or ())
    values["custom_fields"] = dict(getattr(ticket, "custom_fields", None) or {})
    return values


def _with_rule(values: Mapping[str, Any], actions: Any) -> dict[str, Any]:
    """A rule's actions over the ticket: single values replaced, tags added, fields merged."""
    out = dict(values)
    for name in SCALARS:
        value = getattr(actions, name, None)
        if value is not None:
            out[name] = value
    out["tags"] = tuple(dict.fromkeys((*values.get("tags", ()), *(getattr(actions, "tags", ()) or ()))))
    out["custom_fields"] = {**values.get("custom_fields", {}), **dict(getattr(actions, "custom_fields", None) or {})}
    return out


def route_kinds(route: Any) -> tuple[str, ...]:
    kinds: list[str] = []
    for stream in getattr(route, "streams", ()) or ():
        kinds.extend(STREAM_KINDS.get(stream, ()))
    return tuple(dict.fromkeys(kinds)) or ("mention",)


def _rule_kinds(rule: Any, kinds: tuple[str, ...], network_kind: str | None) -> tuple[tuple[str, ...], str | None]:
    """The kinds of the route a rule can fire on, or () and why it never fires here."""
    when = getattr(rule, "when", None)
    networks = tuple(getattr(when, "network", ()) or ())
    if networks and network_kind and network_kind not in networks:
        return (), f"fires only on {', '.join(networks)}; this route reads {network_kind}"
    wanted = tuple(getattr(when, "kind", ()) or ())
    if wanted:
        mapped = {"quote": "mention"}
        allowed = {mapped.get(k, k) for k in wanted}
        kinds = tuple(k for k in kinds if k in allowed)
    public = getattr(when, "public", None)
    if public is True:
        kinds = tuple(k for k in kinds if k != "dm")
    elif public is False:
        kinds = tuple(k for k in kinds if k == "dm")
    if not kinds:
        return (), "fires on no stream this route reads"
    return kinds, None


Outcome = tuple[str, tuple[str, ...], dict[str, Any]]     # label, mention kinds, settings (names)


def route_outcomes(route: Any, network_kind: str | None = None) -> tuple[list[Outcome], list[str]]:
    """(label, kinds, unresolved settings) for the route's template and each of its rules."""
    base = _template_values(getattr(route, "ticket", None))
    kinds = route_kinds(route)
    rules = list(getattr(route, "rules", None) or ())
    notes: list[str] = []
    outcomes = [("no rule fires" if rules else "route ticket", kinds, base)]
    for rule in rules:
        name = getattr(rule, "name", None) or "?"
        rule_kinds, never = _rule_kinds(rule, kinds, network_kind)
        if never:
            notes.append(f"rule {name!r} {never}")
            continue
        then = getattr(rule, "then", None) or getattr(rule, "actions", None)
        outcomes.append((f"rule {name!r}", rule_kinds, _with_rule(base, then)))
    if len(rules) > 1 and getattr(route, "rules_match", "all") == "all":
        notes.append("rules_match: all - a post matching several rules gets their fields combined; "
                     "each rule is shown alone here")
    return outcomes, notes


class _Resolver:
    """Names -> ids with ``resolve``, each asked once; failures collected, not raised."""

    def __init__(self, resolve: Resolve, desk: Any) -> None:
        self.resolve, self.desk = resolve, desk
        self.cache: dict[tuple[str, str], Any] = {}
        self.problems: list[str] = []

    def __call__(self, kind: str, name: Any) -> Any:
        if name is None:
            return None
        key = (kind, str(name))
        if key not in self.cache:
            try:
                self.cache[key] = str(self.resolve(self.desk, kind, name))
            except SocialdeskError as err:
                self.cache[key] = Unknown(f"{kind} {name!r} not resolved")
                self.problems.append(f"{kind} {name!r}: {err}")
        return self.cache[key]


def _zendesk_values(values: Mapping[str, Any], ids: _Resolver) -> dict[str, Any]:
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


def _default_resolve(desk: Any, kind: str, name: Any) -> Any:
    return desk.lookup(kind, name)


def coverage_report(config: Config, helpdesks: Mapping[str, Any],
                    resolve: Callable[[Any, str, Any], Any] | None = None) -> list[RouteCoverage]:
    """The SLA coverage of every route of ``config``; ``helpdesks`` maps helpdesk names to
    built adapters, ``resolve(adapter, kind, name)`` turns a mapping's names into ids
    (default: the adapter's ``lookup``). Read errors are reported, never raised, except a
    programming error."""
    resolve = resolve or _default_resolve
    reads: dict[str, tuple[list[Any] | None, list[Any] | None, list[str]]] = {}
    levels_cache: dict[tuple[str, Any], Any] = {}
    out: list[RouteCoverage] = []
    for route in config.routes:
        endpoint = config.helpdesks.get(route.helpdesk)
        desk = helpdesks.get(route.helpdesk)
        kind = getattr(endpoint, "kind", None) or getattr(desk, "kind", "?")
        network = config.networks.get(route.network)
        outcomes, notes = route_outcomes(route, getattr(network, "kind", None))
        if desk is None:
            out.append(RouteCoverage(route.name, route.helpdesk, kind,
                                     problems=(f"helpdesk {route.helpdesk!r} was not built",)))
            continue
        ids = _Resolver(resolve, desk)
        if kind == "zendesk" and hasattr(desk, "sla_policies"):
            if route.helpdesk not in reads:
                reads[route.helpdesk] = _read_zendesk(desk)
            policies, triggers, problems = reads[route.helpdesk]
            items = [TicketOutcome(label, zendesk_fields(_zendesk_values(values, ids), k), k)
                     for label, kinds, values in outcomes for k in kinds]
            covered, findings = zendesk_coverage(items, policies, triggers or ())
            out.append(RouteCoverage(
                route.name, route.helpdesk, kind, tuple(covered), tuple(findings),
                policies=None if policies is None else len(policies),
                active_triggers=None if triggers is None else len(triggers),
                problems=tuple([*problems, *ids.problems]), notes=tuple(notes)))
        elif kind == "salesforce" and hasattr(desk, "service_levels"):
            cases: list[CaseCoverage] = []
            problems: list[str] = []
            for label, kinds, values in outcomes:
                named = values.get("entitlement")
                ent_id = ids("entitlement", named) if named is not None else None
                key = (route.helpdesk, None if ent_id is None else str(ent_id))
                if key not in levels_cache:
                    try:
                        levels_cache[key] = desk.service_levels(
                            None if ent_id is None or isinstance(ent_id, Unknown) else str(ent_id))
                    except SocialdeskError as err:
                        levels_cache[key] = err
                levels = levels_cache[key]
                if isinstance(levels, SocialdeskError):
                    problems.append(f"service levels not readable: {levels}")
                    continue
                if isinstance(ent_id, Unknown):
                    levels = {**levels, "entitlement": None, "entitlement_problem": "it does not exist"}
                cases.append(salesforce_coverage(label, kinds, values, levels))
            out.append(RouteCoverage(route.name, route.helpdesk, kind, tuple(cases),
                                     problems=tuple(dict.fromkeys([*problems, *[
                                         p for p in ids.problems if not p.startswith("entitlement")]])),
                                     notes=tuple(notes)))
        else:
            out.append(RouteCoverage(route.name, route.helpdesk, kind,
                                     notes=(f"no SLA coverage check for {kind} helpdesks",)))
    return out


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


# --------------------------------------------------------------------------- text


def _q(value: Any) -> str:
    return f'"{value}"'


def _minutes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    m = int(value)
    if m < 60:
        return f"{m}m"
    return f"{m // 60}h" + (f"{m % 60:02d}m" if m % 60 else "")


def _trigger_warning(t: TriggerFinding) -> str:
    where = "every social ticket" if t.everywhere else ", ".join(t.fires_on)
    return (f"trigger {_q(t.trigger)} (position {t.position}) {t.sends} on {where}; social requesters "
            f"have no usable e-mail address: add the condition \"Tags contains none of: "
            f"{SOCIALDESK_TAG}\" to it")


def _kinds(kinds: Iterable[str]) -> str:
    kinds = list(kinds)
    return f" [{', '.join(kinds)}]" if kinds else ""


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
            if isinstance(outcome, OutcomeCoverage):
                lines.extend(_zendesk_lines(outcome))
            else:
                lines.extend(_salesforce_lines(outcome))
        for t in cov.triggers:
            if t.certain:
                lines.append(f"  WARNING: {_trigger_warning(t)}")
            else:
                lines.append(f"  check: trigger {_q(t.trigger)} (position {t.position}) {t.sends} and may fire "
                             f"on {', '.join(t.may_fire_on)}: {'; '.join(t.unknown)}")
        cases = [o for o in cov.outcomes if isinstance(o, CaseCoverage) and o.entitlement_id]
        milestones = next((o for o in cases if o.milestones is not None), None)
        if milestones is not None:
            # Milestone types are the org's, not one entitlement's: said once.
            lines.append("  milestone types in the org: " + (", ".join(milestones.milestones or ()) or "none"))
        elif cases and cases[0].milestones_note:
            lines.append(f"  check: {cases[0].milestones_note}")
        for note in cov.notes:
            lines.append(f"  note: {note}")
    return lines


def _zendesk_lines(o: OutcomeCoverage) -> list[str]:
    head = f"  {o.label}{_kinds(o.kinds)}, priority {o.priority or '-'}: "
    if o.policy is None:
        head += "no SLA policy"
    else:
        head += f"SLA {_q(o.policy)} (position {o.position})"
        if o.targets:
            head += ": " + ", ".join(str(t) for t in o.targets)
    lines = [head]
    lines += [f"    {change} (before the SLA is chosen)" for change in o.trigger_changes]
    lines += [f"    WARNING: {w}" for w in o.warnings]
    lines += [f"    check: {n}" for n in o.notes]
    return lines


def _salesforce_lines(o: CaseCoverage) -> list[str]:
    parts = []
    if o.entitlement is None:
        parts.append("no entitlement")
    elif o.entitlement_id is None:
        parts.append(f"entitlement {_q(o.entitlement)} (not found)")
    else:
        details = [o.status or "status unknown"]
        if o.end_date:
            details[0] += f" until {o.end_date}"
        if o.process:
            details.append(f"process {_q(o.process)}{'' if o.process_active else ' (inactive)'}")
        parts.append(f"entitlement {_q(o.entitlement)} ({', '.join(details)})")
    if o.assignment == "runs":
        parts.append(f"assignment rule {_q(o.assignment_rule)} runs" if o.assignment_rule
                     else "assignment: no active rule")
    else:
        parts.append("assignment rule bypassed" + (f" (owner: queue {o.owner})" if o.owner is not None else ""))
    lines = [f"  {o.label}{_kinds(o.kinds)}: " + "; ".join(parts)]
    lines += [f"    WARNING: {w}" for w in o.warnings]
    lines += [f"    check: {n}" for n in o.notes]
    return lines


__all__ = [
    "CaseCoverage", "OutcomeCoverage", "RouteCoverage", "Target", "TicketOutcome", "TriggerFinding",
    "Unknown", "coverage_report", "evaluate_condition", "evaluate_conditions", "format_report",
    "match_policy", "route_outcomes", "run_triggers", "salesforce_coverage", "zendesk_coverage",
    "zendesk_fields",
]
