"""The mapping's fixed vocabulary: keys, allowed values and defaults, shared by the models,
the loader and the code that reads a Config (rules, daemon)."""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Iterator, Mapping

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
_FALLBACK_TICKET_KEYS: Mapping[str, frozenset[str]] = MappingProxyType({
    "zendesk": frozenset({"type", "brand", "form"}),
    "salesforce": frozenset({"origin", "record_type", "entitlement", "assignment_rule"})})

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
DEVELOPER_NAME_RE = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")
SALESFORCE_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG_RE = re.compile(r"[^\s,]+")


def helpdesk_ticket_keys(kind: str) -> frozenset[str]:
    """The ticket settings only helpdesk ``kind`` understands, as its adapter class declares them."""
    import adapters  # the registry; the adapter's own module is imported only here

    try:
        declared = getattr(adapters.resolve(kind, "helpdesk"), "ticket_keys", None)
    except Exception:  # an unknown kind or an adapter whose library is missing: the table
        declared = None
    return frozenset(declared) if declared is not None else _FALLBACK_TICKET_KEYS.get(kind, frozenset())


class _HelpdeskOnly(Mapping[str, str]):
    """Ticket setting -> the one helpdesk kind that has it, read from the adapters on first use
    (so importing the config does not import every helpdesk's client library)."""

    def __init__(self) -> None:
        self._table: dict[str, str] | None = None

    def _built(self) -> dict[str, str]:
        if self._table is None:
            import adapters

            table: dict[str, str] = {}
            for kind in adapters.kinds("helpdesk"):
                for key in sorted(helpdesk_ticket_keys(kind)):
                    table.setdefault(key, kind)
            self._table = table
        return self._table

    def __getitem__(self, key: str) -> str:
        return self._built()[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # Asked once per ticket field per mention: a plain dict lookup, no KeyError raised.
        return self._built().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return f"HELPDESK_ONLY({self._built()!r})"


# Ticket settings only one helpdesk kind has; any other key is understood by every helpdesk.
HELPDESK_ONLY: Mapping[str, str] = _HelpdeskOnly()
