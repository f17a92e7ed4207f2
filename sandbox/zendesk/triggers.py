"""Triggers: their JSON, their conditions and the actions they apply."""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.constants import (
    AGENT_ROLES,
    PRIORITIES,
    STATUSES,
    TYPE_IDS,
    TYPES,
    VIA_API_ID,
)
from sandbox.zendesk.helpers import _safe_int, ApiError, iso, normalize_tags

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec, UpdateContext


class Triggers:
    """Trigger evaluation on ``ZendeskState``, run inside the write that fires it."""

    def trigger_json(self, tr: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.url(f"triggers/{tr['id']}.json"), "id": tr["id"], "title": tr["title"],
                "active": tr["active"], "updated_at": iso(tr["_updated"]),
                "created_at": iso(tr["_created"]), "default": False,
                "actions": copy.deepcopy(tr["actions"]),
                "conditions": copy.deepcopy(tr["conditions"]), "description": tr["description"],
                "position": tr["position"], "raw_title": tr["title"],
                "category_id": tr["category_id"]}

    def run_triggers(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any], now: float) -> None:
        """Zendesk's cycle: walk active triggers by position, re-walk after any fires, once each."""
        fired: set[int] = set()
        ordered = sorted((tr for tr in self.triggers.values() if tr["active"]),
                         key=lambda tr: (tr["position"], tr["id"]))
        progress = True
        while progress:
            progress = False
            for tr in ordered:
                if tr["id"] in fired or not self._conditions_match(tr["conditions"], t, ctx):
                    continue
                fired.add(tr["id"])
                progress = True
                self._apply_actions(tr, t, ctx, audit, now)
        for tr, webhook_id, template in ctx.notifications:
            self._queue_webhook(tr, webhook_id, template, t, ctx)

    def _conditions_match(self, conditions: Mapping[str, Any], t: TicketRec, ctx: UpdateContext) -> bool:
        all_ = conditions.get("all") or []
        any_ = conditions.get("any") or []
        if not all(self._condition(c, t, ctx) for c in all_):
            return False
        return not any_ or any(self._condition(c, t, ctx) for c in any_)

    def _current(self, name: str, t: TicketRec, ctx: UpdateContext) -> tuple[Any, Any]:
        """(current, previous) value of a condition subject."""
        before = ctx.before
        if name.startswith("custom_fields_"):
            fid = _safe_int(name[len("custom_fields_"):])
            return t.values.get(fid), (before.get("values") or {}).get(fid)
        key = {"ticket_type_id": "type"}.get(name, name)
        current, previous = t.data.get(key), before.get(key)
        if name == "ticket_type_id":
            current, previous = TYPE_IDS.get(current), TYPE_IDS.get(previous)
        return current, previous

    def _condition(self, cond: Mapping[str, Any], t: TicketRec, ctx: UpdateContext) -> bool:
        name, op, value = cond.get("field"), cond.get("operator"), cond.get("value")
        actor = ctx.actor
        comment = ctx.comment
        if name == "update_type":
            return (ctx.update_type == value) == (op != "is_not")
        if name == "comment_is_public":
            wanted = str(value).lower()
            if wanted == "not_relevant":
                hit = comment is not None
            elif wanted in ("true", "public"):
                hit = comment is not None and comment["public"]
            elif wanted in ("false", "private"):
                hit = comment is not None and not comment["public"]
            else:
                hit = False
            return hit == (op != "is_not")
        if name in ("comment_includes_word", "subject_includes_word"):
            if name == "comment_includes_word":
                text = comment["body"] if comment else ""
            else:
                text = t.data["subject"] or ""
            words = set(re.findall(r"\w+", text.lower()))
            wanted_words = str(value or "").lower().split()
            if op == "is":
                hit = str(value or "").lower() in text.lower()
            elif op == "not_includes":
                hit = not any(w in words for w in wanted_words)
            else:
                hit = any(w in words for w in wanted_words)
            return hit
        if name == "role":
            role = actor["role"]
            kind = "end_user" if role == "end-user" else ("admin" if role == "admin" else "agent")
            match = str(value) == kind or (str(value) == "agent" and kind == "admin")
            return match == (op != "is_not")
        if name == "via_id":
            return (_safe_int(value) == VIA_API_ID) == (op != "is_not")
        if name == "ticket_is_public":
            hit = ("public" if t.data["is_public"] else "private") == str(value)
            return hit == (op != "is_not")
        if name == "current_tags":
            wanted_tags = normalize_tags(value)
            present = any(tag in t.data["tags"] for tag in wanted_tags)
            return not present if op == "not_includes" else present
        current, previous = self._current(str(name), t, ctx)
        if name not in ("status", "priority", "group_id", "assignee_id", "requester_id",
                        "organization_id", "brand_id", "ticket_form_id", "ticket_type_id",
                        "type", "external_id") and not str(name).startswith("custom_fields_"):
            return False
        return self._compare(str(name), op, value, current, previous, t, ctx)

    def _compare(self, name: str, op: Any, value: Any, current: Any, previous: Any,
                 t: TicketRec, ctx: UpdateContext) -> bool:
        creating = ctx.update_type == "Create"

        def norm(v: Any) -> Any:
            if v == "current_user":
                return ctx.actor["id"]
            if v == "requester_id":
                return t.data["requester_id"]
            if v in ("", None):
                return None
            if name.endswith("_id") and name != "external_id":
                return _safe_int(v)
            return str(v)

        wanted = norm(value)
        cur = norm(current)
        prev = None if creating else norm(previous)
        order = {"status": STATUSES, "priority": ("", *PRIORITIES)}.get(name)
        if name == "priority":
            cur = cur or ""
            wanted = "" if wanted is None else wanted
            prev = prev if creating else (prev or "")
        if op == "is":
            return cur == wanted
        if op == "is_not":
            return cur != wanted
        if op in ("less_than", "greater_than", "less_than_equal", "greater_than_equal") and order:
            if cur not in order or wanted not in order:
                return False
            a, b = order.index(cur), order.index(wanted)
            return {"less_than": a < b, "greater_than": a > b,
                    "less_than_equal": a <= b, "greater_than_equal": a >= b}[op]
        if op == "changed":
            return creating or cur != prev
        if op == "not_changed":
            return not creating and cur == prev
        if op == "value":
            return (creating or cur != prev) and cur == wanted
        if op == "value_previous":
            return not creating and cur != prev and prev == wanted
        if op == "not_value":
            return (creating or cur != prev) and cur != wanted
        if op == "not_value_previous":
            return creating or cur == prev or prev != wanted
        if op == "present":
            return cur is not None
        if op == "not_present":
            return cur is None
        if op == "includes":
            return cur is not None and str(wanted or "") in str(cur)
        return False

    def _apply_actions(self, tr: Mapping[str, Any], t: TicketRec, ctx: UpdateContext,
                       audit: dict[str, Any], now: float) -> None:
        via = {"channel": "rule", "source": {"from": {"deleted": False, "title": tr["title"],
                                                      "id": tr["id"], "revision_id": 1},
                                             "rel": "trigger"}}
        d = t.data
        for action in tr["actions"]:
            name, value = action.get("field"), action.get("value")
            if name == "notification_webhook":
                if isinstance(value, list) and len(value) >= 2:
                    ctx.notifications.append((dict(tr), value[0], str(value[1])))
                continue
            if name in ("notification_user", "notification_group"):
                if isinstance(value, list) and len(value) >= 3:
                    recipients = self._recipients(value[0], t, ctx)
                    audit["events"].append({"id": self.ids.next(), "type": "Notification",
                                            "via": copy.deepcopy(via), "subject": value[1],
                                            "body": value[2], "recipients": recipients})
                continue
            if name in ("set_tags", "current_tags", "remove_tags"):
                before_tags = list(d["tags"])
                tags = normalize_tags(str(value or ""))
                if name == "set_tags":
                    d["tags"] = tags
                elif name == "current_tags":
                    d["tags"] += [tag for tag in tags if tag not in d["tags"]]
                else:
                    d["tags"] = [tag for tag in d["tags"] if tag not in tags]
                if d["tags"] != before_tags:
                    self._event(audit, "Change", "tags", d["tags"], before_tags, changed=True, via=via)
                    for fid, old, new in self._sync_fields_from_tags(t):
                        self._event(audit, "Change", str(fid), new, old, changed=True, via=via)
                continue
            if str(name).startswith("custom_fields_"):
                fid = _safe_int(str(name)[len("custom_fields_"):])
                try:
                    changes = self._apply_custom_fields(t, [{"id": fid, "value": value}])
                except ApiError:
                    changes = []
                for fid_, old, new in changes:
                    self._event(audit, "Change", str(fid_), new, old, changed=True, via=via)
                continue
            target = {"type": "type"}.get(str(name), str(name))
            if target not in ("status", "priority", "type", "group_id", "assignee_id",
                              "ticket_form_id", "brand_id"):
                continue
            new_value: Any = value
            if target == "assignee_id":
                new_value = ctx.actor["id"] if value == "current_user" else _safe_int(value)
                if new_value is not None and (new_value not in self.users
                                              or self.users[new_value]["role"] not in AGENT_ROLES):
                    continue
            elif target in ("group_id", "ticket_form_id", "brand_id"):
                new_value = _safe_int(value)
                table = {"group_id": self.groups, "ticket_form_id": self.forms,
                         "brand_id": self.brands}[target]
                if new_value is not None and new_value not in table:
                    continue
            elif target == "status" and value not in STATUSES:
                continue
            elif target == "priority" and value not in PRIORITIES:
                continue
            elif target == "type" and value not in TYPES:
                continue
            if d.get(target) != new_value:
                old_status = d["status"]
                self._event(audit, "Change", target, new_value, d.get(target), changed=True, via=via)
                d[target] = new_value
                if target == "status" and old_status != new_value:
                    self._event(audit, "Change", "custom_status_id", self.custom_status_for(d["status"]),
                                self.custom_status_for(old_status), changed=True, via=via)

    def _recipients(self, who: Any, t: TicketRec, ctx: UpdateContext) -> list[int]:
        d = t.data
        if who == "requester_id" or who == "requester_and_ccs":
            return [d["requester_id"], *d["collaborator_ids"]]
        if who == "assignee_id":
            return [d["assignee_id"]] if d["assignee_id"] else []
        if who == "current_user":
            return [ctx.actor["id"]]
        if who == "all_agents":
            return [uid for uid, u in sorted(self.users.items()) if u["role"] in AGENT_ROLES]
        uid = _safe_int(who)
        return [uid] if uid in self.users else []
