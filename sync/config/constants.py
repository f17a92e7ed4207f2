"""The mapping's fixed vocabulary: keys, allowed values and defaults, shared by the models,
the loader and the code that reads a Config (rules, daemon)."""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Mapping

from adapters.base import FatalError

SUPPORTED_VERSIONS = (1,)
DEFAULT_STATE_URL = "sqlite:///socialdesk.sqlite"
STATE_SCHEMES = ("sqlite", "postgresql")
STREAMS = ("mentions", "dms", "search")
POLL_KEYS = ("mentions", "dms", "search", "replies")
DEFAULT_HISTORY = 3600.0
DEFAULT_POLL: Mapping[str, float] = MappingProxyType(
    {"mentions": 30.0, "dms": 60.0, "search": 300.0, "replies": 30.0})
PRIORITIES = ("low", "normal", "high", "urgent")
PLACEHOLDERS = ("network", "kind", "author", "author_name", "text", "id", "url", "reply_deadline")
TEXT_PLACEHOLDER_LEN = 60
DEFAULT_SUBJECT = "{network} {kind} from @{author}"
DEFAULT_DM_PUBLIC_NOTE = "We've sent you a direct message."
DEFAULT_LISTEN = "127.0.0.1:8787"

RULES_MATCH = ("all", "first")
RULE_NETWORKS = ("x", "facebook", "instagram")
# What Mention.kind holds, plus "quote": a post quoting the brand's (Mention.is_quote).
RULE_KINDS = ("mention", "reply", "quote", "dm", "comment")
TICKET_TYPES = ("question", "incident", "problem", "task")
# A post's public metrics as the networks report them (X names); a new network adds its own.
METRICS = ("like_count", "retweet_count", "reply_count", "quote_count", "bookmark_count",
           "impression_count")
CONDITION_KEYS = ("network", "account", "kind", "public", "keywords", "regex", "language",
                  "followers_min", "followers_max", "verified", "engagement_min", "metrics_min")
ACTION_KEYS = ("group", "priority", "type", "tags", "custom_fields", "brand", "form", "origin",
               "record_type", "entitlement", "assignment_rule")
TICKET_KEYS = ("subject", "tags", "priority", "type", "group", "brand", "form", "entitlement",
               "origin", "record_type", "assignment_rule", "custom_fields", "include_metrics")
DEFAULT_APPROVAL_TAG = "approved"
DEFAULT_VIRAL_REFRESH = 600.0
DEFAULT_VIRAL_TAG = "social_viral"

_HELPDESK_NAMES = {"zendesk": "Zendesk", "salesforce": "Salesforce"}
# What to write instead, when a route names a setting of the other helpdesk kind.
_ELSEWHERE_HINTS = {
    ("form", "salesforce"): "a Case's layout follows its record type: use record_type",
    ("type", "salesforce"): "Case.Type is a picklist field: set it under custom_fields: {Type: ...}",
    ("record_type", "zendesk"): "a Zendesk ticket's layout is its form: use form",
    ("origin", "zendesk"): "Zendesk records the channel itself; a tag or a custom field can carry more",
    ("entitlement", "zendesk"): "Zendesk picks an SLA policy by its conditions: set the priority, group "
                                "or tags it keys on",
    ("assignment_rule", "zendesk"): "Zendesk assigns by triggers: set the group or tags they key on",
}
# TODO(issue 12): drop once every helpdesk adapter declares ``ticket_keys``; used only for an
# adapter that does not (yet) say which ticket settings it alone understands.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
DEVELOPER_NAME_RE = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")
SALESFORCE_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG_RE = re.compile(r"[^\s,]+")


# Ticket settings every helpdesk understands; any other ticket key belongs to the helpdesk
# kinds whose adapter class declares it (``ticket_keys``).
COMMON_TICKET_KEYS = frozenset({"subject", "tags", "priority", "group", "custom_fields", "include_metrics"})


def helpdesk_ticket_keys(kind: str) -> frozenset[str]:
    """The ticket settings helpdesk ``kind`` has beyond the common ones, as its adapter
    class declares them. Only that adapter's module is imported, so a mapping loads the
    client libraries of the helpdesks it names and no others."""
    import adapters

    try:
        return frozenset(adapters.resolve(kind, "helpdesk").ticket_keys)
    except FatalError:  # an unknown kind: the endpoint's own check names it
        return frozenset()


def understood_by(key: str, kind: str) -> bool:
    """Whether a helpdesk of ``kind`` has the ticket setting ``key``."""
    return key in COMMON_TICKET_KEYS or key in helpdesk_ticket_keys(kind)


def owner_of(key: str) -> str | None:
    """The helpdesk kind that has ``key`` (None: every helpdesk has it). Asked only when a
    mapping sets a key its route's helpdesk lacks, to say whose setting it is."""
    import adapters

    if key in COMMON_TICKET_KEYS:
        return None
    return next((kind for kind in adapters.kinds("helpdesk") if key in helpdesk_ticket_keys(kind)), None)
