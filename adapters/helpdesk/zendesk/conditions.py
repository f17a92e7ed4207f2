"""Zendesk's trigger and SLA-policy conditions, evaluated on a ticket being created.

Conditions are evaluated in three values: a condition on a field this check cannot know
(the requester's organization, words of the post...) is "cannot evaluate <field>", and
the policy or trigger holding it is treated as not matching; nothing is guessed.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from adapters.helpdesk.coverage import Unknown

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
TYPE_IDS = {"question": 1, "incident": 2, "problem": 3, "task": 4}


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
