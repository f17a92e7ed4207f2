"""A route's rules: which of them a mention fires, and the ticket fields that result.

Rules run in file order. With ``rules_match: all`` (the default) every rule whose
conditions hold applies, in order, until one marked ``stop: true`` has fired: a later rule
overrides an earlier one's group, priority and other single values, tags add up, custom
fields merge. With ``rules_match: first`` only the first rule that holds applies.

Pure: no I/O, no vendor library. The engine, ``socialdesk rules explain`` and the tests
all evaluate a mention through ``evaluate``, so what an admin sees is what the daemon does.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields as dataclass_fields, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence, get_args

from adapters.base import Author, Mention, MentionKind
from sync.config import (
    TEXT_PLACEHOLDER_LEN, understood_by, RouteConfig, RuleActions, RuleConditions, TicketTemplate,
    render_template,
)

NETWORK_NAMES = {"x": "X", "facebook": "Facebook", "instagram": "Instagram"}
# Views are reach, not engagement: a post seen a million times may have no reply at all.
ENGAGEMENT_EXCLUDES = ("impression_count",)
SCALAR_ACTIONS = ("group", "priority", "type", "brand", "form", "origin", "record_type", "entitlement",
                  "assignment_rule")
TICKET_FIELDS = ("subject", "tags", "priority", "group", "type", "brand", "form", "origin",
                 "record_type", "entitlement", "assignment_rule", "custom_fields")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Step:
    """One rule that fired: why (each condition that held) and what it sets."""

    rule: str
    reasons: tuple[str, ...]
    actions: RuleActions
    where: str = ""


@dataclass(frozen=True)
class Evaluation:
    """The rules a mention fired, in order, and the route's ticket template with their actions applied."""

    fired: tuple[str, ...]
    ticket: TicketTemplate
    steps: tuple[Step, ...] = ()
    match: str = "all"
    stopped_by: str | None = None           # the rule whose stop: true ended the evaluation

    def explain(self) -> list[str]:
        """Human lines: each rule that fired and why, what it set, and which value won."""
        if not self.steps:
            return ["no rule fired: the route's ticket settings apply as they are"]
        lines: list[str] = []
        for step in self.steps:
            where = f" ({step.where})" if step.where else ""
            lines.append(f"rule {step.rule!r} fired{where}: {'; '.join(step.reasons)}")
            sets = describe_actions(step.actions)
            lines.append(f"  sets {', '.join(sets)}" if sets else "  sets nothing")
        if self.match == "first":
            lines.append("rules_match: first, so the rules after it were not evaluated")
        elif self.stopped_by is not None:
            lines.append(f"rule {self.stopped_by!r} has stop: true, so the rules after it were not evaluated")
        lines.extend(self._overrides())
        return lines

    def _overrides(self) -> list[str]:
        """Where a later rule replaced a value an earlier one set (all-match only)."""
        lines = []
        for name in SCALAR_ACTIONS:
            setters = [s.rule for s in self.steps if getattr(s.actions, name) is not None]
            if len(setters) > 1:
                earlier = ", ".join(repr(r) for r in setters[:-1])
                lines.append(f"{name}: {_shown(getattr(self.ticket, name))} "
                             f"(rule {setters[-1]!r} overrides {earlier})")
        return lines


# --------------------------------------------------------------------------- evaluation


def evaluate(route: RouteConfig, mention: Mention, account: str | None = None) -> Evaluation:
    """Run ``route``'s rules on ``mention``; ``account`` defaults to the route's network account."""
    account = route.network if account is None else account
    steps: list[Step] = []
    stopped_by: str | None = None
    for rule in route.rules:
        reasons = holds(rule.when, mention, account)
        if reasons is None:
            continue
        steps.append(Step(rule.name, reasons, rule.then, rule.where))
        if route.rules_match == "first":
            break
        if rule.stop:
            stopped_by = rule.name
            break
    ticket = route.ticket
    for step in steps:
        ticket = apply(ticket, step.actions)
    return Evaluation(fired=tuple(s.rule for s in steps), ticket=ticket, steps=tuple(steps),
                      match=route.rules_match, stopped_by=stopped_by)


def holds(when: RuleConditions, mention: Mention, account: str) -> tuple[str, ...] | None:
    """Why every condition given in ``when`` holds for ``mention``, or None when one does not."""
    reasons: list[str] = []
    for name, check in _CHECKS:
        wanted = getattr(when, name)
        if not _given(wanted):
            continue
        reason = check(wanted, mention, account)
        if reason is None:
            return None
        reasons.append(reason)
    return tuple(reasons) or ("no conditions, so it matches every mention",)


def apply(ticket: TicketTemplate, actions: RuleActions) -> TicketTemplate:
    """``ticket`` with ``actions`` applied: single values replaced, tags added, fields merged."""
    changes: dict[str, Any] = {name: getattr(actions, name) for name in SCALAR_ACTIONS
                               if getattr(actions, name) is not None}
    if actions.tags:
        changes["tags"] = tuple(dict.fromkeys((*ticket.tags, *actions.tags)))
    if actions.custom_fields:
        changes["custom_fields"] = MappingProxyType({**ticket.custom_fields, **actions.custom_fields})
    return replace(ticket, **changes) if changes else ticket


def engagement(mention: Mention) -> int:
    """Likes, reposts, replies, quotes and bookmarks together: every public metric but views."""
    return sum(v for k, v in mention.metrics.items() if k not in ENGAGEMENT_EXCLUDES)


def is_public(mention: Mention) -> bool:
    """Everyone can read it: anything but a direct message."""
    return mention.kind != "dm"


# --------------------------------------------------------------------------- conditions


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, (tuple, Mapping)) and not value)


def _network(wanted: tuple[str, ...], m: Mention, _: str) -> str | None:
    return f"network {m.network}" if m.network in wanted else None


def _account(wanted: tuple[str, ...], _: Mention, account: str) -> str | None:
    return f"account {account}" if account in wanted else None


def _kind(wanted: tuple[str, ...], m: Mention, _: str) -> str | None:
    if m.kind in wanted:
        return f"kind {m.kind}"
    return "a quote" if "quote" in wanted and m.is_quote else None


def _public(wanted: bool, m: Mention, _: str) -> str | None:
    if is_public(m) != wanted:
        return None
    return "a public post" if wanted else "a direct message (not public)"


@lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Whole words, any case; the words of a phrase may be apart by any white space."""
    words = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def _keywords(wanted: tuple[str, ...], m: Mention, _: str) -> str | None:
    found = [k for k in wanted if _keyword_pattern(k).search(m.text)]
    if not found:
        return None
    return f"keyword{'s' if len(found) > 1 else ''} {', '.join(repr(k) for k in found)}"


def _regex(wanted: re.Pattern[str], m: Mention, _: str) -> str | None:
    match = wanted.search(m.text)
    return f"text matches /{wanted.pattern}/ at {match.group(0)!r}" if match else None


def _language(wanted: tuple[str, ...], m: Mention, _: str) -> str | None:
    """``en`` covers ``en-GB``; a mention whose language the network did not say matches none."""
    lang = (m.lang or "").lower()
    if lang and any(lang == code or lang.startswith(code + "-") for code in wanted):
        return f"language {m.lang}"
    return None


def _followers_min(wanted: int, m: Mention, _: str) -> str | None:
    followers = m.author.followers
    return f"{followers:,} followers >= {wanted:,}" if followers is not None and followers >= wanted else None


def _followers_max(wanted: int, m: Mention, _: str) -> str | None:
    followers = m.author.followers
    return f"{followers:,} followers <= {wanted:,}" if followers is not None and followers <= wanted else None


def _verified(wanted: bool, m: Mention, _: str) -> str | None:
    """An author whose status the network does not report counts as not verified."""
    if bool(m.author.verified) != wanted:
        return None
    return "a verified author" if wanted else "an unverified author"


def _engagement_min(wanted: int, m: Mention, _: str) -> str | None:
    total = engagement(m)
    return f"engagement {total:,} >= {wanted:,}" if total >= wanted else None


def _metrics_min(wanted: Mapping[str, int], m: Mention, _: str) -> str | None:
    if any(m.metrics.get(name, 0) < least for name, least in wanted.items()):
        return None
    return ", ".join(f"{name} {m.metrics.get(name, 0):,} >= {least:,}" for name, least in wanted.items())


_CHECKS: tuple[tuple[str, Callable[[Any, Mention, str], str | None]], ...] = (
    ("network", _network), ("account", _account), ("kind", _kind), ("public", _public),
    ("keywords", _keywords), ("regex", _regex), ("language", _language),
    ("followers_min", _followers_min), ("followers_max", _followers_max), ("verified", _verified),
    ("engagement_min", _engagement_min), ("metrics_min", _metrics_min),
)


# --------------------------------------------------------------------------- presentation


def describe_actions(actions: RuleActions) -> list[str]:
    """``priority urgent``, ``tags +social_vip``...: what a rule sets, in words."""
    out = [f"{name} {_shown(getattr(actions, name))}" for name in SCALAR_ACTIONS
           if getattr(actions, name) is not None]
    if actions.tags:
        out.append("tags " + " ".join(f"+{tag}" for tag in actions.tags))
    out.extend(f"custom field {key!r} = {_shown(value)}" for key, value in actions.custom_fields.items())
    return out


def placeholders(mention: Mention, reply_window: float | None = None) -> dict[str, str]:
    """The values a ticket template's placeholders take for ``mention``.

    ``reply_window``: how long after a customer's message the network lets the business
    answer privately (Meta's 24 hours); ``{reply_deadline}`` is then that moment, else empty.
    """
    return {"network": NETWORK_NAMES.get(mention.network, mention.network),
            "kind": {"dm": "direct message"}.get(mention.kind, mention.kind),
            "author": mention.author.handle, "author_name": mention.author.name or mention.author.handle,
            "text": mention.text[:TEXT_PLACEHOLDER_LEN], "id": mention.id, "url": mention.url or "",
            "reply_deadline": reply_deadline(mention, reply_window)}


def reply_deadline(mention: Mention, reply_window: float | None) -> str:
    """When the network's private-reply window for this message closes (ISO 8601), or ""."""
    if not reply_window or mention.created_at is None:
        return ""
    return (mention.created_at + timedelta(seconds=reply_window)).isoformat(timespec="seconds")


def ticket_fields(ticket: TicketTemplate, mention: Mention, helpdesk_kind: str) -> dict[str, Any]:
    """The fields ``ticket`` gives ``mention`` on a helpdesk of ``helpdesk_kind``, templates filled.

    Only fields that helpdesk kind has are listed (no ``type`` on Salesforce, no ``origin``
    on Zendesk). Names (group, brand...) are shown as written: the helpdesk resolves them.
    """
    values = placeholders(mention)
    out: dict[str, Any] = {}
    for name in TICKET_FIELDS:
        if not understood_by(name, helpdesk_kind):
            continue
        value = getattr(ticket, name)
        if name == "subject":
            value = render_template(value, **values)
        elif name == "tags":
            value = list(value)
        elif name == "custom_fields":
            value = {str(k): _filled(v, values) for k, v in value.items()}
        out[name] = value
    return out


def _filled(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render_template(value, **values)
    if isinstance(value, tuple):
        return [_filled(v, values) for v in value]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) and " " in value else str(value)


# --------------------------------------------------------------------------- sample mentions


class MentionError(ValueError):
    """A mention written by hand (``rules explain --mention``) cannot be read; names the key."""


_MENTION_KINDS: tuple[str, ...] = get_args(MentionKind)
_REQUIRED = ("network", "id", "kind", "author", "text")
_AUTHOR_REQUIRED = ("id", "handle")


def mention_from_dict(data: Any) -> Mention:
    """A Mention from its JSON shape (adapters.base.Mention's fields, ``author`` nested).

    Optional fields may be left out and take their defaults; ``conversation_id`` defaults
    to the post's id (a conversation of its own), ``author.network`` to the mention's.
    """
    if not isinstance(data, dict):
        raise MentionError(f"expected a JSON object with {', '.join(_REQUIRED)}; got {type(data).__name__}")
    _check_keys(data, [f.name for f in dataclass_fields(Mention)], _REQUIRED, "")
    network = _text(data, "network", "")
    kind = _text(data, "kind", "")
    if kind not in _MENTION_KINDS:
        raise MentionError(f"kind: {kind!r} is not a mention kind; allowed: {', '.join(_MENTION_KINDS)}"
                           f"{_did_you_mean(kind, _MENTION_KINDS)}")
    post_id = _text(data, "id", "", numbers=True)
    return Mention(
        network=network, id=post_id, kind=kind, author=_author(data["author"], network),  # type: ignore[arg-type]
        text=_text(data, "text", ""), created_at=_time(data.get("created_at")),
        url=_optional_text(data, "url", ""),
        conversation_id=_optional_text(data, "conversation_id", "", numbers=True) or post_id,
        in_reply_to=_optional_text(data, "in_reply_to", "", numbers=True),
        is_repost=_flag(data, "is_repost", "") or False, is_quote=_flag(data, "is_quote", "") or False,
        lang=_optional_text(data, "lang", ""), metrics=_metrics(data.get("metrics")))


def _author(data: Any, network: str) -> Author:
    if not isinstance(data, dict):
        raise MentionError(f"author: expected an object with {', '.join(_AUTHOR_REQUIRED)}; "
                           f"got {type(data).__name__}")
    _check_keys(data, [f.name for f in dataclass_fields(Author)], _AUTHOR_REQUIRED, "author.")
    followers = data.get("followers")
    if followers is not None and (not isinstance(followers, int) or isinstance(followers, bool) or followers < 0):
        raise MentionError(f"author.followers: expected a whole number or null; got {followers!r}")
    return Author(network=_optional_text(data, "network", "author.") or network,
                  id=_text(data, "id", "author.", numbers=True),
                  handle=_text(data, "handle", "author.").lstrip("@"),
                  name=_optional_text(data, "name", "author."), followers=followers,
                  verified=_flag(data, "verified", "author."),
                  profile_url=_optional_text(data, "profile_url", "author."))


def _check_keys(data: Mapping[str, Any], known: list[str], required: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise MentionError(f"{prefix}{key}: unknown key; allowed: {', '.join(known)}"
                               f"{_did_you_mean(key, known)}")
    for key in required:
        if key not in data:
            raise MentionError(f"missing required key {prefix}{key!s}")


def _text(data: Mapping[str, Any], key: str, prefix: str, numbers: bool = False) -> str:
    value = _optional_text(data, key, prefix, numbers)
    if value is None or (key != "text" and not value.strip()):
        raise MentionError(f"{prefix}{key}: expected a non-empty string; got {data.get(key)!r}")
    return value


def _optional_text(data: Mapping[str, Any], key: str, prefix: str, numbers: bool = False) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MentionError(f"{prefix}{key}: expected a string{' or a number' if numbers else ''}; got {value!r}")


def _flag(data: Mapping[str, Any], key: str, prefix: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise MentionError(f"{prefix}{key}: expected true, false or null; got {value!r}")


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time; one written without a zone is taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    raise MentionError(f"created_at: expected an ISO 8601 time like 2024-05-01T09:30:00Z; got {value!r}")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _metrics(value: Any) -> Mapping[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MentionError(f"metrics: expected an object of metric -> count; got {type(value).__name__}")
    for name, count in value.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise MentionError(f"metrics.{name}: expected a whole number of at least 0; got {count!r}")
    return dict(value)


__all__ = ["Evaluation", "MentionError", "Step", "apply", "describe_actions", "engagement", "evaluate",
           "holds", "is_public", "mention_from_dict", "placeholders", "ticket_fields"]
