"""mapping.yaml -> typed, validated configuration.

Every problem is reported at once, each as ``FILE:LINE:COL: path: what is wrong; what is
allowed``, so an admin fixes a mapping in one pass. Secrets are referenced by env-var name
(``token: {env: NAME}``), become ``Secret`` objects, and never appear in a repr or an error.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

import adapters
from adapters.base import Secret

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
# Ticket settings only one helpdesk kind has; any other key is understood by every helpdesk.
HELPDESK_ONLY: Mapping[str, str] = MappingProxyType({
    "type": "zendesk", "brand": "zendesk", "form": "zendesk",
    "origin": "salesforce", "record_type": "salesforce", "entitlement": "salesforce",
    "assignment_rule": "salesforce"})
_HELPDESK_NAMES = {"zendesk": "Zendesk", "salesforce": "Salesforce"}
_ELSEWHERE_HINTS = {
    ("form", "salesforce"): "a Case's layout follows its record type: use record_type",
    ("type", "salesforce"): "Case.Type is a picklist field: set it under custom_fields: {Type: ...}",
    ("record_type", "zendesk"): "a Zendesk ticket's layout is its form: use form",
    ("origin", "zendesk"): "Zendesk records the channel itself; a tag or a custom field can carry more",
    ("entitlement", "zendesk"): "Zendesk picks an SLA policy by its conditions: set the priority, group "
                                "or tags it keys on",
    ("assignment_rule", "zendesk"): "Zendesk assigns by triggers: set the group or tags they key on",
}
DEFAULT_APPROVAL_TAG = "approved"
DEFAULT_VIRAL_REFRESH = 600.0
DEFAULT_VIRAL_TAG = "social_viral"

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_DEVELOPER_NAME_RE = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")
_SALESFORCE_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAG_RE = re.compile(r"[^\s,]+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_RE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MANIFEST = Path(__file__).resolve().parents[1] / "plugin_manifest.json"
_MERGE_TAG = "tag:yaml.org,2002:merge"


# --------------------------------------------------------------------------- values


class ConfigError(Exception):
    """The mapping cannot be used; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


@dataclass(frozen=True)
class EnvRef:
    """An ``{env: NAME}`` whose variable is not set (kept only with ``allow_missing_env``)."""

    name: str
    where: str

    def __repr__(self) -> str:
        return f"EnvRef({self.name}, unset)"


@dataclass(frozen=True)
class EndpointConfig:
    """One helpdesk instance or network account; ``settings`` go to the adapter's ``from_config``."""

    name: str
    kind: str
    sandbox: bool
    settings: Mapping[str, Any]

    def __repr__(self) -> str:
        # Secret values repr as Secret(NAME=****); spelled out so no mapping type changes that.
        shown = ", ".join(f"{k!r}: {v!r}" for k, v in self.settings.items())
        return (f"EndpointConfig(name={self.name!r}, kind={self.kind!r}, sandbox={self.sandbox!r}, "
                f"settings={{{shown}}})")


@dataclass(frozen=True)
class PollConfig:
    """Poll intervals in seconds."""

    mentions: float = DEFAULT_POLL["mentions"]
    dms: float = DEFAULT_POLL["dms"]
    search: float = DEFAULT_POLL["search"]
    replies: float = DEFAULT_POLL["replies"]


@dataclass(frozen=True)
class IncludeConfig:
    """Which of the network's items become tickets at all."""

    own_posts: bool = False
    reposts: bool = False
    quotes: bool = True


@dataclass(frozen=True)
class TicketTemplate:
    """How a ticket is filled in; ``subject`` and string custom field values are templates."""

    subject: str = DEFAULT_SUBJECT
    tags: tuple[str, ...] = ()
    priority: str = "normal"
    group: str | int | None = None
    brand: str | int | None = None
    form: str | int | None = None
    entitlement: str | int | None = None     # Salesforce: an Entitlement by name
    custom_fields: Mapping[str | int, Any] = field(default_factory=lambda: MappingProxyType({}))
    include_metrics: bool = True
    type: str | None = None                  # Zendesk: question | incident | problem | task
    origin: str | None = None                # Salesforce: Case.Origin; None keeps the adapter's
    record_type: str | None = None           # Salesforce: a Case record type's developer name
    assignment_rule: bool | None = None      # Salesforce: run the active assignment rule; None: unless a queue is named


@dataclass(frozen=True)
class RuleConditions:
    """When a rule fires: every condition given must hold; an empty tuple or None means any."""

    network: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    public: bool | None = None
    keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    language: tuple[str, ...] = ()
    followers_min: int | None = None
    followers_max: int | None = None
    verified: bool | None = None
    engagement_min: int | None = None
    metrics_min: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class RuleActions:
    """What a fired rule sets on the ticket; None leaves the field as the route has it."""

    group: str | int | None = None
    priority: str | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str | int, Any] = field(default_factory=lambda: MappingProxyType({}))
    brand: str | int | None = None
    form: str | int | None = None
    origin: str | None = None
    record_type: str | None = None
    entitlement: str | int | None = None
    assignment_rule: bool | None = None


@dataclass(frozen=True)
class Rule:
    """One routing rule of a route: ``when`` the mention matches, ``then`` set these fields."""

    name: str
    when: RuleConditions = field(default_factory=RuleConditions)
    then: RuleActions = field(default_factory=RuleActions)
    stop: bool = False
    where: str = ""                          # FILE:LINE, for explanations


@dataclass(frozen=True)
class RuleSet:
    """A route's rules, in file order (the order they are evaluated in)."""

    rules: tuple[Rule, ...] = ()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)


@dataclass(frozen=True)
class ApprovalConfig:
    """Whether a reply waits for a lead, who approves it by setting ``tag`` on the ticket."""

    required: bool = False
    tag: str = DEFAULT_APPROVAL_TAG


@dataclass(frozen=True)
class PiiPattern:
    """Personal data an admin names (an order number...) that must not appear in a public reply."""

    name: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class SpikeConfig:
    """A route's mention rate over ``window`` above ``factor`` x its baseline, with at least
    ``min_mentions`` in the window, is one incident."""

    enabled: bool = False
    window: float = 900.0
    factor: float = 3.0
    min_mentions: int = 20


@dataclass(frozen=True)
class ViralConfig:
    """While a ticket is open, its post's public metrics are refreshed every ``refresh`` seconds;
    crossing any threshold (a count, or a count gained per hour) raises priority and tags it."""

    enabled: bool = False
    refresh: float = DEFAULT_VIRAL_REFRESH
    thresholds: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    velocity_per_hour: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    priority: str = "urgent"
    tag: str = DEFAULT_VIRAL_TAG
    spike: SpikeConfig = field(default_factory=SpikeConfig)


@dataclass(frozen=True)
class MirrorConfig:
    """How agent replies go back to the network."""

    enabled: bool = True
    dm_public_note: str | None = DEFAULT_DM_PUBLIC_NOTE
    dm_tag: str | None = "social_dm"
    thread_long_replies: bool = True
    sign_off: str | None = None
    max_age: float | None = None             # seconds; a reply to an older conversation is held
    approval: ApprovalConfig = field(default_factory=ApprovalConfig)
    pii_patterns: tuple[PiiPattern, ...] = ()

    @property
    def private_note(self) -> str | None:
        """The public note posted once when a conversation moves to DM (key ``private_note``)."""
        return self.dm_public_note


@dataclass(frozen=True)
class RouteConfig:
    """One network account's streams into one helpdesk instance."""

    name: str
    network: str
    helpdesk: str
    streams: tuple[str, ...]
    search_query: str | None
    poll: PollConfig
    include: IncludeConfig
    blocklist: tuple[str, ...]
    ticket: TicketTemplate
    mirror: MirrorConfig
    # How far back a route's very first read reaches; older posts are recorded as filtered.
    history: float = 3600.0
    rules: RuleSet = field(default_factory=RuleSet)
    rules_match: str = "all"                 # all: every matching rule, in order; first: the first only
    viral: ViralConfig = field(default_factory=ViralConfig)


@dataclass(frozen=True)
class WebhookConfig:
    """Inbound helpdesk webhooks; ``secret`` None means read the signing secret from the helpdesk."""

    host: str
    port: int
    public_url: str | None = None
    secret: Secret | EnvRef | None = None

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Config:
    """A validated mapping.yaml."""

    version: int
    state_url: str | Secret | EnvRef
    helpdesks: dict[str, EndpointConfig]
    networks: dict[str, EndpointConfig]
    routes: tuple[RouteConfig, ...]
    webhook: WebhookConfig | None
    source: str
    missing_env: tuple[EnvRef, ...] = ()

    def route(self, name: str) -> RouteConfig:
        for route in self.routes:
            if route.name == name:
                return route
        known = [r.name for r in self.routes]
        raise KeyError(f"unknown route {name!r}; known: {_listing(known)}{_did_you_mean(name, known)}")

    @property
    def uses_sandbox(self) -> bool:
        """True when some endpoint needs the in-process sandbox (``run --sandbox`` / demo)."""
        return any(e.sandbox for e in (*self.helpdesks.values(), *self.networks.values()))


# --------------------------------------------------------------------------- helpers


def duration(value: Any) -> float:
    """Seconds from ``15s``, ``2m``, ``1h``, ``1m30s``, ``500ms`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 15s, 2m, 1h or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION_RE.fullmatch(text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration; expected one like 15s, 2m, 1h "
                             "or a number of seconds")
    else:
        raise ValueError("expected a duration like 15s, 2m, 1h or a number of seconds")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{value!r}: a duration must be a positive, finite time")
    return seconds


def render_template(template: str, **values: Any) -> str:
    """Fill a ticket template; ``text`` is cut to its first 60 characters."""
    if "text" in values and values["text"] is not None:
        values["text"] = str(values["text"])[:TEXT_PLACEHOLDER_LEN]
    return template.format_map({k: "" if v is None else v for k, v in values.items()})


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot be rendered with ``PLACEHOLDERS``, or None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        return f"bad template: {err} (write {{{{ and }}}} for literal braces)"
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        base = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if base != field_name or not base or base not in PLACEHOLDERS:
            return (f"unknown placeholder {{{field_name}}}; allowed: "
                    f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}{_did_you_mean(base, PLACEHOLDERS)}")
    try:
        template.format_map({p: "x" for p in PLACEHOLDERS})
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as err:
        return f"bad template: {type(err).__name__}: {err} (placeholders take no format spec or conversion but !r/!s)"
    return None


def _did_you_mean(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "(none)"


def _seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {"tag:yaml.org,2002:null": "null", "tag:yaml.org,2002:bool": "true/false",
            "tag:yaml.org,2002:int": "a number", "tag:yaml.org,2002:float": "a number",
            }.get(node.tag, "a string")


def _child(path: str, key: Any) -> str:
    key = str(key)
    segment = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f"[{key!r}]"
    if not path:
        return segment
    return f"{path}{segment}" if segment.startswith("[") else f"{path}.{segment}"


def _required_settings(kind: str, cls: Any) -> tuple[str, ...]:
    """The adapter's required settings: its ``required_settings`` ClassVar, else the manifest."""
    declared = getattr(cls, "required_settings", None)
    if declared is not None:
        return tuple(declared)
    schema: Mapping[str, str] = getattr(cls, "settings_schema", {})
    try:
        manifest = json.loads(_MANIFEST.read_text())
        required = [s["key"] for s in manifest.get("settings", ())
                    if s.get("adapter") == kind and s.get("required")]
        if required:
            return tuple(k for k in schema if k in required)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return tuple(k for k, t in schema.items() if t == "secret")


# --------------------------------------------------------------------------- reader


_Field = tuple[ScalarNode, Node]


class _Reader:
    """Walks the composed YAML nodes, collecting every problem with its position."""

    def __init__(self, source: str, env: Mapping[str, str], allow_missing_env: bool,
                 base_dir: Path | None) -> None:
        self.source = source
        self.env = env
        self.allow_missing_env = allow_missing_env
        self.base_dir = base_dir
        self.problems: list[tuple[int, int, str]] = []
        self.missing_env: list[EnvRef] = []
        self.constructor = SafeConstructor()
        self.network_classes: dict[str, Any] = {}
        self.helpdesk_classes: dict[str, Any] = {}

    # ------------------------------------------------------------------ reporting

    def where(self, mark: Mark) -> str:
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def problem(self, at: Node | Mark, path: str, message: str) -> None:
        mark = at.start_mark if isinstance(at, Node) else at
        prefix = f"{self.where(mark)}: " + (f"{path}: " if path else "")
        self.problems.append((mark.line, mark.column, prefix + message))

    def raise_if_problems(self) -> None:
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p[0], p[1]))
            raise ConfigError([text for _, _, text in ordered])

    # ------------------------------------------------------------------ structure

    def scalar(self, node: ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):
            return node.value

    def pairs(self, node: MappingNode, path: str) -> dict[str, _Field]:
        """Key -> (key node, value node); merge keys applied, duplicates reported."""
        seen: dict[str, Mark] = {}
        for key, _ in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                if key.value in seen:
                    self.problem(key, path, f"duplicate key {key.value!r} "
                                            f"(first at line {seen[key.value].line + 1})")
                else:
                    seen[key.value] = key.start_mark
        flat = MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
        try:
            self.constructor.flatten_mapping(flat)
        except yaml.MarkedYAMLError as err:
            self.problem(err.problem_mark or node.start_mark, path, f"bad merge: {err.problem}")
            flat.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        out: dict[str, _Field] = {}
        for key, value in flat.value:
            if not isinstance(key, ScalarNode):
                self.problem(key, path, f"keys must be plain names, not {_describe(key)}")
                continue
            out[key.value] = (key, value)
        return out

    def mapping(self, node: Node, path: str, allowed: Sequence[str],
                required: Sequence[str] = (), at: Node | Mark | None = None) -> dict[str, _Field] | None:
        """A mapping with a fixed set of keys; unknown and missing keys reported."""
        if not isinstance(node, MappingNode):
            if _describe(node) == "null" and not required:
                return {}
            self.problem(at or node, path, f"expected a mapping with keys {', '.join(allowed)}; "
                                           f"got {_describe(node)}")
            return None
        fields = self.pairs(node, path)
        for name, (key, _) in list(fields.items()):
            if name not in allowed:
                self.problem(key, path, f"unknown key {name!r}; allowed: {', '.join(allowed)}"
                                        f"{_did_you_mean(name, allowed)}")
                del fields[name]
        for name in required:
            if name not in fields:
                self.problem(at or node, path, f"missing required key {name!r}")
        return fields

    # ------------------------------------------------------------------ values

    def string(self, node: Node, path: str, at: Node, *, nullable: bool = False,
               empty: bool = False) -> str | None:
        if isinstance(node, ScalarNode):
            if node.tag == "tag:yaml.org,2002:null":
                if nullable:
                    return None
            elif node.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int"):
                if node.value.strip() or empty:
                    return node.value
                self.problem(at, path, "must not be empty")
                return None
        self.problem(at, path, f"expected a string{' or null' if nullable else ''}; got {_describe(node)}")
        return None

    def boolean(self, node: Node, path: str, at: Node, default: bool) -> bool:
        value = self.flag(node, path, at)
        return default if value is None else value

    def flag(self, node: Node, path: str, at: Node) -> bool | None:
        """true or false; None (reported) for anything else."""
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            return bool(self.scalar(node))
        self.problem(at, path, f"expected true or false; got {_describe(node)}")
        return None

    def count(self, node: Node, path: str, at: Node, minimum: int = 0) -> int | None:
        """A whole number of at least ``minimum`` (followers, likes...)."""
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        shown = repr(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) \
            else _describe(node)
        self.problem(at, path, f"expected a whole number of at least {minimum}; got {shown}")
        return None

    def number(self, node: Node, path: str, at: Node, above: float) -> float | None:
        """A finite number greater than ``above`` (a factor, a ratio)."""
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and above < value < float("inf"):
            return float(value)
        shown = repr(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) \
            else _describe(node)
        self.problem(at, path, f"expected a number greater than {above:g}; got {shown}")
        return None

    def tag(self, node: Node, path: str, at: Node) -> str | None:
        """One helpdesk tag: no spaces, no commas."""
        value = self.string(node, path, at)
        if value is not None and not _TAG_RE.fullmatch(value):
            self.problem(at, path, f"tag {value!r} must not contain spaces or commas")
            return None
        return value

    def tags(self, node: Node, path: str, at: Node) -> tuple[str, ...]:
        tags = []
        for i, (tag, item) in enumerate(self.string_list(node, path, at, "[social, x]")):
            if _TAG_RE.fullmatch(tag):
                tags.append(tag)
            else:
                self.problem(item, f"{path}[{i}]", f"tag {tag!r} must not contain spaces or commas")
        return tuple(dict.fromkeys(tags))

    def words(self, node: Node, path: str, at: Node, example: str) -> list[tuple[str, Node, str]]:
        """A string or a list of strings ("any of"): (value, node to point at, path) each."""
        if isinstance(node, SequenceNode):
            if not node.value:
                self.problem(at, path, f"empty list; list at least one, like {example}, "
                                       "or leave the condition out")
            out = []
            for i, item in enumerate(node.value):
                value = self.string(item, f"{path}[{i}]", item)
                if value is not None:
                    out.append((value.strip(), item, f"{path}[{i}]"))
            return out
        value = self.string(node, path, at)
        return [] if value is None else [(value.strip(), at, path)]

    def any_of(self, node: Node, path: str, at: Node, allowed: Sequence[str], what: str) -> tuple[str, ...]:
        """One allowed value or a list of them; the condition holds for any one."""
        if isinstance(node, MappingNode):
            self.problem(at, path, f"expected one {what} or a list of them; got a mapping")
            return ()
        out: list[str] = []
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            self.problem(at, path, f"empty list; allowed: {_listing(allowed)}, or leave the condition out")
        for i, item in enumerate(items):
            here, point = (f"{path}[{i}]", item) if isinstance(node, SequenceNode) else (path, at)
            value = self.choice(item, here, point, allowed, what)
            if value is not None:
                out.append(value)
        return tuple(dict.fromkeys(out))

    def pattern(self, node: Node, path: str, at: Node, meaning: str) -> re.Pattern[str] | None:
        """A Python regular expression, compiled now so a mistake is reported with its place."""
        text = self.string(node, path, at)
        if text is None:
            return None
        try:
            compiled = re.compile(text)
        except re.error as err:
            position = f" at character {err.pos + 1}" if err.pos is not None else ""
            self.problem(self.inside(node, err.pos), path,
                         f"invalid regular expression: {err.msg}{position} (Python re syntax, "
                         r"like \bORD-\d{6}\b)")
            return None
        if compiled.search("") is not None:
            self.problem(at, path, f"'{text}' matches an empty text, so it would {meaning}")
            return None
        return compiled

    @staticmethod
    def inside(node: Node, offset: int | None) -> Mark:
        """The mark of character ``offset`` of a one-line scalar's value, when it can be told."""
        mark = node.start_mark
        value = node.value if isinstance(node, ScalarNode) else None
        quote = 1 if getattr(node, "style", None) in ("'", '"') else 0
        start = mark.pointer + quote
        if (offset is None or value is None or mark.buffer is None or "\n" in value
                or mark.buffer[start:start + len(value)] != value):
            return mark
        return Mark(mark.name, mark.index + quote + offset, mark.line, mark.column + quote + offset,
                    None, None)

    def metric_counts(self, node: Node, path: str, at: Node, minimum: int) -> Mapping[str, int]:
        """``{like_count: 100, ...}``: public metric name -> a count."""
        if not isinstance(node, MappingNode):
            self.problem(at, path, f"expected a mapping of metric -> count, like {{like_count: 100}}; "
                                   f"got {_describe(node)}")
            return MappingProxyType({})
        out: dict[str, int] = {}
        for name, (key_node, value_node) in self.pairs(node, path).items():
            if name not in METRICS:
                self.problem(key_node, path, f"unknown metric {name!r}; allowed: {', '.join(METRICS)}"
                                             f"{_did_you_mean(name, METRICS)}")
                continue
            value = self.count(value_node, _child(path, name), key_node, minimum)
            if value is not None:
                out[name] = value
        if not out and not node.value:
            self.problem(at, path, f"empty; name at least one of {', '.join(METRICS)}")
        return MappingProxyType(out)

    def choice(self, node: Node, path: str, at: Node, allowed: Sequence[str], what: str) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, str) and value in allowed:
            return value
        shown = repr(value) if isinstance(value, (str, int, float)) else _describe(node)
        self.problem(at, path, f"unknown {what} {shown}; allowed: {', '.join(allowed)}"
                               f"{_did_you_mean(value, allowed) if isinstance(value, str) else ''}")
        return None

    def string_list(self, node: Node, path: str, at: Node, example: str) -> list[tuple[str, Node]]:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, SequenceNode):
            self.problem(at, path, f"expected a list like {example}; got {_describe(node)}")
            return []
        out = []
        for i, item in enumerate(node.value):
            value = self.string(item, f"{path}[{i}]", item)
            if value is not None:
                out.append((value, item))
        return out

    def ident(self, node: Node, path: str, at: Node) -> str | int | None:
        """A helpdesk object named or numbered (group, brand, form): resolved by the engine."""
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                return value
            if isinstance(value, str) and value.strip():
                return value
        self.problem(at, path, f"expected a name, a numeric id or null; got {_describe(node)}")
        return None

    def template(self, node: Node, path: str, at: Node) -> str | None:
        value = self.string(node, path, at)
        if value is not None:
            problem = template_problem(value)
            if problem:
                self.problem(at, path, problem)
                return None
        return value

    def seconds(self, node: Node, path: str, at: Node) -> float | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        try:
            return duration(value)
        except ValueError as err:
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                self.problem(at, path, str(err))
            else:
                self.problem(at, path, "expected a duration like 15s, 2m, 1h or a number of "
                                       f"seconds; got {_describe(node)}")
            return None

    def env_ref(self, node: MappingNode, path: str, at: Node, *, secret: bool) -> Secret | str | EnvRef | None:
        """Resolve ``{env: NAME}``: a Secret (or str for a non-secret), or EnvRef when allowed."""
        fields = self.mapping(node, path, ("env",), required=("env",), at=at)
        if not fields or "env" not in fields:
            return None
        name_node = fields["env"][1]
        name = name_node.value if isinstance(name_node, ScalarNode) else None
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            # Never echo the value: a secret pasted here by mistake would end up in a log.
            self.problem(at, path, "env: expects the NAME of an environment variable "
                                   "(letters, digits and _, not starting with a digit), not a value")
            return None
        value = self.env.get(name)
        if value:
            return Secret(value, name) if secret else value
        if self.allow_missing_env:
            ref = EnvRef(name, f"{self.where(at.start_mark)}: {path}")
            self.missing_env.append(ref)
            return ref
        state = "is set but empty" if value == "" else "is not set"
        self.problem(at, path, f"environment variable {name} {state}")
        return None

    # ------------------------------------------------------------------ sections

    def endpoints(self, f: _Field | None, path: str, role: str,
                  classes: dict[str, Any]) -> dict[str, EndpointConfig]:
        out: dict[str, EndpointConfig] = {}
        if f is None:
            return out
        at, node = f
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return out
        if not isinstance(node, MappingNode):
            self.problem(at, path, f"expected a mapping of instance name -> settings; got {_describe(node)}")
            return out
        known_kinds = adapters.kinds(role)
        for name, (key, value) in self.pairs(node, path).items():
            here = _child(path, name)
            if not _NAME_RE.fullmatch(name):
                self.problem(key, here, "names use lowercase letters, digits, _ and -")
            classes[name] = None
            if not isinstance(value, MappingNode):
                self.problem(key, here, f"expected a mapping with kind ({_listing(known_kinds)}) "
                                        f"and its settings; got {_describe(value)}")
                # Still known by name, so routes naming it are not reported a second time.
                out[name] = EndpointConfig(name, "", False, MappingProxyType({}))
                continue
            fields = self.pairs(value, here)
            kind: str | None = None
            cls: Any = None
            if "kind" not in fields:
                self.problem(key, here, f"missing required key 'kind'; known {role} kinds: "
                                        f"{_listing(known_kinds)}")
            else:
                kind_key, kind_node = fields.pop("kind")
                raw = self.scalar(kind_node) if isinstance(kind_node, ScalarNode) else None
                kind = raw if isinstance(raw, str) else None
                if kind is None:
                    self.problem(kind_key, f"{here}.kind", f"expected one of {_listing(known_kinds)}; "
                                                           f"got {_describe(kind_node)}")
                elif kind not in known_kinds:
                    other = adapters.REGISTRY.get(kind, (None,))[0]
                    if other:
                        message = (f"{kind!r} is a {other} adapter, not a {role} one; "
                                   f"known {role} kinds: {_listing(known_kinds)}")
                    else:
                        message = (f"unknown {role} kind {kind!r}; known: {_listing(known_kinds)}"
                                   f"{_did_you_mean(kind, known_kinds)}")
                    self.problem(kind_key, f"{here}.kind", message)
                    kind = None
                else:
                    try:
                        cls = adapters.resolve(kind, role)
                    except Exception as err:  # an adapter whose library is not installed
                        self.problem(kind_key, f"{here}.kind",
                                     f"adapter {kind!r} cannot be loaded: {type(err).__name__}: {err}")
            sandbox = False
            if "sandbox" in fields:
                sandbox_key, sandbox_node = fields.pop("sandbox")
                sandbox = self.boolean(sandbox_node, f"{here}.sandbox", sandbox_key, False)
            settings: dict[str, Any] = {}
            if sandbox:
                for setting, (setting_key, _) in fields.items():
                    self.problem(setting_key, here,
                                 f"a sandbox endpoint takes no settings, got {setting!r}: url and "
                                 "credentials come from the in-process sandbox; remove it, "
                                 "or set sandbox: false")
            elif cls is not None:
                schema: Mapping[str, str] = getattr(cls, "settings_schema", {})
                allowed = ["kind", "sandbox", *schema]
                for setting, (setting_key, setting_node) in fields.items():
                    if setting not in schema:
                        self.problem(setting_key, here,
                                     f"unknown setting {setting!r} for kind {kind}; allowed: "
                                     f"{', '.join(allowed)}{_did_you_mean(setting, allowed)}")
                        continue
                    value = self.setting(setting_node, _child(here, setting), setting_key,
                                         schema[setting], kind or "", setting)
                    if value is not None:
                        settings[setting] = value
                required = _required_settings(kind or "", cls)
                missing = [r for r in required if r not in fields]
                if missing:
                    self.problem(key, here,
                                 f"missing required setting{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} for kind {kind} (required: {', '.join(required)}; "
                                 "or set sandbox: true to use the in-process sandbox)")
            classes[name] = cls
            out[name] = EndpointConfig(name=name, kind=kind or "", sandbox=sandbox,
                                       settings=MappingProxyType(settings))
        return out

    def setting(self, node: Node, path: str, at: Node, kind_of: str, adapter: str, key: str) -> Any:
        """One adapter setting by its schema type. Values are never echoed in errors."""
        if kind_of == "secret":
            if isinstance(node, MappingNode):
                return self.env_ref(node, path, at, secret=True)
            suggestion = f"SOCIALDESK_{adapter}_{key}".upper().replace("-", "_")
            self.problem(at, path, f"{key} is a secret: do not write it in the mapping; put it in an "
                                   f"environment variable and write {key}: {{env: {suggestion}}}")
            return None
        from_env = isinstance(node, MappingNode)
        if kind_of == "share":
            if from_env:
                raw: Any = self.env_ref(node, path, at, secret=False)
            else:
                raw = self.scalar(node) if isinstance(node, ScalarNode) else None
            try:
                share = float(raw) if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) else None
            except ValueError:
                share = None
            if share is None or not 0 < share <= 1:
                self.problem(at, path, "expected a share of the rate limit, a number above 0 and at most 1, "
                                       "like 0.5")
                return None
            return share
        value = (self.env_ref(node, path, at, secret=False) if isinstance(node, MappingNode)
                 else self.string(node, path, at))
        if not isinstance(value, str):
            return value
        if kind_of == "url":
            try:
                parts = urlsplit(value)
            except ValueError:
                parts = urlsplit("")
            if parts.scheme != "https" or not parts.netloc:
                origin = " (the value of its environment variable)" if from_env else ""
                self.problem(at, path, f"expected an https:// URL{origin}")
                return None
            return value.rstrip("/")
        if kind_of == "path":
            try:
                path_value = Path(value).expanduser()
            except RuntimeError:
                self.problem(at, path, "cannot expand the ~ at the start of this path (no such user)")
                return None
            if not path_value.is_absolute() and self.base_dir is not None:
                path_value = self.base_dir / path_value
            return str(path_value)
        return value

    def routes(self, f: _Field | None, root: Node, helpdesks: Mapping[str, EndpointConfig],
               networks: Mapping[str, EndpointConfig]) -> tuple[RouteConfig, ...]:
        if f is None:
            self.problem(root, "", "missing required key 'routes': nothing would be synced")
            return ()
        at, node = f
        if not isinstance(node, SequenceNode) or not node.value:
            got = "an empty list" if isinstance(node, SequenceNode) else _describe(node)
            self.problem(at, "routes", "expected a non-empty list of routes (each: name, network, "
                                       f"helpdesk, ...); got {got}")
            return ()
        out: list[RouteConfig] = []
        names: dict[str, Mark] = {}
        claimed: dict[tuple[str, str], str] = {}
        for i, item in enumerate(node.value):
            route = self.route(item, f"routes[{i}]", helpdesks, networks, names, claimed)
            if route is not None:
                out.append(route)
        return tuple(out)

    def route(self, node: Node, path: str, helpdesks: Mapping[str, EndpointConfig],
              networks: Mapping[str, EndpointConfig], names: dict[str, Mark],
              claimed: dict[tuple[str, str], str]) -> RouteConfig | None:
        allowed = ("name", "network", "helpdesk", "streams", "search_query", "poll", "include",
                   "blocklist", "history", "ticket", "rules_match", "rules", "mirror", "viral")
        fields = self.mapping(node, path, allowed, required=("name", "network", "helpdesk"))
        if fields is None:
            return None

        def field_(key: str) -> tuple[Node, Node] | None:
            return fields.get(key)

        name = ""
        if (f := field_("name")) is not None:
            name = self.string(f[1], f"{path}.name", f[0]) or ""
            if name and not _NAME_RE.fullmatch(name):
                self.problem(f[0], f"{path}.name", f"route name {name!r}: use lowercase letters, "
                                                   "digits, _ and - ([a-z0-9_-]+)")
            elif name in names:
                self.problem(f[0], f"{path}.name", f"duplicate route name {name!r} "
                                                   f"(first at line {names[name].line + 1}); "
                                                   "route names must be unique")
            elif name:
                names[name] = f[0].start_mark

        def reference(key: str, known: Mapping[str, EndpointConfig]) -> str:
            f = field_(key)
            if f is None:
                return ""
            value = self.string(f[1], f"{path}.{key}", f[0])
            if value is None:
                return ""
            if value not in known:
                self.problem(f[0], f"{path}.{key}", f"unknown {key} {value!r}; known: "
                                                    f"{_listing(known)}{_did_you_mean(value, known)}")
                return ""
            return value

        network = reference("network", networks)
        helpdesk = reference("helpdesk", helpdesks)
        network_cls = self.network_classes.get(network)
        helpdesk_cls = self.helpdesk_classes.get(helpdesk)

        supports_dm = bool(getattr(network_cls, "supports_dm", True))
        streams: tuple[str, ...] = ("mentions", "dms") if supports_dm else ("mentions",)
        if (f := field_("streams")) is not None:
            chosen: list[str] = []
            items = self.string_list(f[1], f"{path}.streams", f[0], "[mentions, dms]")
            for i, (value, item) in enumerate(items):
                here = f"{path}.streams[{i}]"
                if value not in STREAMS:
                    self.problem(item, here, f"unknown stream {value!r}; allowed: {', '.join(STREAMS)}"
                                             f"{_did_you_mean(value, STREAMS)}")
                elif value in chosen:
                    self.problem(item, here, f"stream {value!r} is listed twice")
                elif value == "dms" and not supports_dm:
                    self.problem(item, here, f"network kind {networks[network].kind} has no direct "
                                             f"messages; allowed: mentions, search")
                else:
                    chosen.append(value)
            if not items and isinstance(f[1], SequenceNode):
                self.problem(f[0], f"{path}.streams", f"empty; allowed: {', '.join(STREAMS)}")
            streams = tuple(chosen)
        if network:
            for stream in streams:
                other = claimed.get((network, stream))
                if other is not None and other != name:
                    at = field_("streams") or field_("network")
                    assert at is not None
                    self.problem(at[0], f"{path}.streams",
                                 f"network {network!r} stream {stream!r} is already routed by route "
                                 f"{other!r}; each stream of an account goes to one route")
                else:
                    claimed[(network, stream)] = name

        search_query = None
        if (f := field_("search_query")) is not None:
            search_query = self.string(f[1], f"{path}.search_query", f[0], nullable=True)

        poll = self.poll(field_("poll"), f"{path}.poll", network_cls, helpdesk_cls,
                         networks[network].kind if network else "", helpdesks[helpdesk].kind if helpdesk else "")

        include = IncludeConfig()
        if (f := field_("include")) is not None:
            sub = self.mapping(f[1], f"{path}.include", ("own_posts", "reposts", "quotes"), at=f[0])
            if sub:
                include = IncludeConfig(**{k: self.boolean(v, f"{path}.include.{k}", kn,
                                                           getattr(include, k))
                                           for k, (kn, v) in sub.items()})

        blocklist: tuple[str, ...] = ()
        if (f := field_("blocklist")) is not None:
            handles = self.string_list(f[1], f"{path}.blocklist", f[0], "[spam_account]")
            blocklist = tuple(dict.fromkeys(h.strip().lstrip("@").lower() for h, _ in handles))

        history = DEFAULT_HISTORY
        if (f := field_("history")) is not None:
            history = self.seconds(f[1], f"{path}.history", f[0]) or DEFAULT_HISTORY

        desk = (helpdesk, helpdesks[helpdesk].kind) if helpdesk and helpdesks[helpdesk].kind else None
        ticket = self.ticket(field_("ticket"), f"{path}.ticket", desk)
        rules_match = "all"
        if (f := field_("rules_match")) is not None and not _is_null(f[1]):
            rules_match = self.choice(f[1], f"{path}.rules_match", f[0], RULES_MATCH, "rules_match") or "all"
        rules = self.rules(field_("rules"), f"{path}.rules", desk, list(networks))
        mirror = self.mirror(field_("mirror"), f"{path}.mirror")
        viral = self.viral(field_("viral"), f"{path}.viral")
        return RouteConfig(name=name, network=network, helpdesk=helpdesk, streams=streams,
                           search_query=search_query, poll=poll, include=include,
                           blocklist=blocklist, ticket=ticket, mirror=mirror, history=history,
                           rules=rules, rules_match=rules_match, viral=viral)

    def poll(self, f: tuple[Node, Node] | None, path: str, network_cls: Any, helpdesk_cls: Any,
             network_kind: str, helpdesk_kind: str) -> PollConfig:
        def minimum(key: str) -> tuple[float, str]:
            if key == "replies":
                return float(getattr(helpdesk_cls, "min_poll_interval", 0.0) or 0.0), helpdesk_kind
            return float(getattr(network_cls, "min_poll_interval", 0.0) or 0.0), network_kind

        values = {k: max(DEFAULT_POLL[k], minimum(k)[0]) for k in POLL_KEYS}
        if f is not None:
            sub = self.mapping(f[1], path, POLL_KEYS, at=f[0])
            for key, (key_node, value_node) in (sub or {}).items():
                seconds = self.seconds(value_node, f"{path}.{key}", key_node)
                if seconds is None:
                    continue
                floor, kind = minimum(key)
                if seconds < floor:
                    self.problem(key_node, f"{path}.{key}",
                                 f"{_seconds(seconds)} is faster than {kind} allows; "
                                 f"minimum: {_seconds(floor)}")
                    continue
                values[key] = seconds
        return PollConfig(**values)

    def ticket(self, f: tuple[Node, Node] | None, path: str, desk: tuple[str, str] | None) -> TicketTemplate:
        if f is None:
            return TicketTemplate()
        allowed = ("subject", "tags", "priority", "type", "group", "brand", "form", "entitlement",
                   "origin", "record_type", "assignment_rule", "custom_fields", "include_metrics")
        sub = self.mapping(f[1], path, allowed, at=f[0])
        if not sub:
            return TicketTemplate()
        values: dict[str, Any] = {}
        for key, (key_node, node) in sub.items():
            here = f"{path}.{key}"
            if key == "subject":
                values[key] = self.template(node, here, key_node)
            elif key == "include_metrics":
                values[key] = self.boolean(node, here, key_node, True)
            elif key in ("type", "origin", "record_type", "assignment_rule") and _is_null(node):
                values[key] = None
            elif _is_null(node) or self.fits_helpdesk(key, key_node, here, desk, allowed):
                values[key] = self.ticket_value(key, node, here, key_node)
        defaults = TicketTemplate()
        for key in ("subject", "priority"):
            if values.get(key, ...) is None:
                values[key] = getattr(defaults, key)
        return TicketTemplate(**values)

    def ticket_value(self, key: str, node: Node, path: str, at: Node) -> Any:
        """One ticket field, as a route's ticket: block and its rules' then: blocks write it."""
        if key == "tags":
            return self.tags(node, path, at)
        if key == "priority":
            return self.choice(node, path, at, PRIORITIES, "priority")
        if key == "type":
            return self.choice(node, path, at, TICKET_TYPES, "ticket type")
        if key in ("group", "brand", "form", "entitlement"):
            return self.ident(node, path, at)
        if key == "origin":
            return self.string(node, path, at)
        if key == "record_type":
            return self.record_type(node, path, at)
        if key == "assignment_rule":
            return self.flag(node, path, at)
        if key == "custom_fields":
            return self.custom_fields(node, path, at)
        raise AssertionError(f"no reader for ticket field {key}")

    def record_type(self, node: Node, path: str, at: Node) -> str | None:
        value = self.string(node, path, at)
        if value is None or _DEVELOPER_NAME_RE.fullmatch(value) or _SALESFORCE_ID_RE.fullmatch(value):
            return value
        self.problem(at, path, f"record_type takes a record type's developer name, like Social_Care "
                               f"(letters, digits and single underscores), or its id; got {value!r}")
        return None

    def fits_helpdesk(self, key: str, at: Node, path: str, desk: tuple[str, str] | None,
                      allowed: Sequence[str]) -> bool:
        """False (reported) when ``key`` is a setting of another helpdesk kind than the route's."""
        owner = HELPDESK_ONLY.get(key)
        if desk is None or owner is None or owner == desk[1]:
            return True
        name, kind = desk
        shown = _HELPDESK_NAMES.get(kind, kind)
        takes = [k for k in allowed if HELPDESK_ONLY.get(k, kind) == kind]
        hint = _ELSEWHERE_HINTS.get((key, kind))
        self.problem(at, path, f"{key} is a {_HELPDESK_NAMES.get(owner, owner)} setting, but this "
                               f"route writes to {shown} (helpdesk {name!r}); {shown} takes: "
                               f"{', '.join(takes)}" + (f" ({hint})" if hint else ""))
        return False

    # ------------------------------------------------------------------ rules

    def rules(self, f: _Field | None, path: str, desk: tuple[str, str] | None,
              accounts: Sequence[str]) -> RuleSet:
        if f is None or _is_null(f[1]):
            return RuleSet()
        at, node = f
        if not isinstance(node, SequenceNode):
            self.problem(at, path, f"expected a list of rules (each: name, when, then, stop); "
                                   f"got {_describe(node)}")
            return RuleSet()
        names: dict[str, Mark] = {}
        out = [self.rule(item, f"{path}[{i}]", desk, accounts, names) for i, item in enumerate(node.value)]
        return RuleSet(tuple(rule for rule in out if rule is not None))

    def rule(self, node: Node, path: str, desk: tuple[str, str] | None, accounts: Sequence[str],
             names: dict[str, Mark]) -> Rule | None:
        fields = self.mapping(node, path, ("name", "when", "then", "stop"), required=("name",))
        if fields is None:
            return None
        name = ""
        if "name" in fields:
            key_node, value_node = fields["name"]
            name = self.string(value_node, f"{path}.name", key_node) or ""
            if name in names:
                self.problem(key_node, f"{path}.name", f"duplicate rule name {name!r} (first at line "
                                                       f"{names[name].line + 1}); rule names are unique "
                                                       "within a route")
            elif name:
                names[name] = key_node.start_mark
        when = self.conditions(fields.get("when"), f"{path}.when", accounts)
        then = self.actions(fields.get("then"), f"{path}.then", desk)
        stop = False
        if "stop" in fields:
            stop = self.boolean(fields["stop"][1], f"{path}.stop", fields["stop"][0], False)
        if "then" not in fields and not stop:
            self.problem(node, path, f"rule {name or '(unnamed)'!r} does nothing: give it then: with the "
                                     "fields to set (priority, group, tags...), or stop: true")
        return Rule(name=name, when=when, then=then, stop=stop,
                    where=f"{self.source}:{node.start_mark.line + 1}")

    def conditions(self, f: _Field | None, path: str, accounts: Sequence[str]) -> RuleConditions:
        if f is None:
            return RuleConditions()
        sub = self.mapping(f[1], path, CONDITION_KEYS, at=f[0])
        values: dict[str, Any] = {}
        for key, (key_node, node) in (sub or {}).items():
            value = self.condition(key, node, f"{path}.{key}", key_node, accounts)
            if value is not None and value != ():
                values[key] = value
        low, high = values.get("followers_min"), values.get("followers_max")
        if low is not None and high is not None and low > high:
            assert sub is not None
            self.problem(sub["followers_max"][0], f"{path}.followers_max",
                         f"followers_max {high} is below followers_min {low}: no author can match")
        return RuleConditions(**values)

    def condition(self, key: str, node: Node, path: str, at: Node, accounts: Sequence[str]) -> Any:
        """One ``when:`` condition's value, checked."""
        if key == "network":
            known = (*RULE_NETWORKS, *(k for k in adapters.kinds("social") if k not in RULE_NETWORKS))
            return self.any_of(node, path, at, known, "network")
        if key == "account":
            return self.any_of(node, path, at, list(accounts), "account")
        if key == "kind":
            return self.any_of(node, path, at, RULE_KINDS, "kind")
        if key in ("public", "verified"):
            return self.flag(node, path, at)
        if key == "keywords":
            return tuple(dict.fromkeys(w for w, _, _ in self.words(node, path, at, "[outage, not working]")))
        if key == "regex":
            return self.pattern(node, path, at, "match every mention; leave regex out for that")
        if key == "language":
            codes = []
            for code, item, here in self.words(node, path, at, "[en, fr]"):
                if _LANGUAGE_RE.fullmatch(code):
                    codes.append(code.lower())
                else:
                    self.problem(item, here, f"{code!r} is not a language code; write BCP-47 codes "
                                             "like en, pt-BR or und (undetermined)")
            return tuple(dict.fromkeys(codes))
        if key in ("followers_min", "followers_max", "engagement_min"):
            return self.count(node, path, at)
        if key == "metrics_min":
            return self.metric_counts(node, path, at, 0)
        raise AssertionError(f"no reader for condition {key}")

    def actions(self, f: _Field | None, path: str, desk: tuple[str, str] | None) -> RuleActions:
        if f is None:
            return RuleActions()
        sub = self.mapping(f[1], path, ACTION_KEYS, at=f[0])
        values: dict[str, Any] = {}
        for key, (key_node, node) in (sub or {}).items():
            here = f"{path}.{key}"
            if _is_null(node):
                self.problem(key_node, here, "null sets nothing; give a value, or leave the key out "
                                             "to keep the route's")
            elif self.fits_helpdesk(key, key_node, here, desk, ACTION_KEYS):
                value = self.ticket_value(key, node, here, key_node)
                if value is not None:
                    values[key] = value
        return RuleActions(**values)

    def custom_fields(self, node: Node, path: str, at: Node) -> Mapping[str | int, Any]:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return MappingProxyType({})
        if not isinstance(node, MappingNode):
            self.problem(at, path, f"expected a mapping of field name or numeric id -> value; "
                                   f"got {_describe(node)}")
            return MappingProxyType({})
        out: dict[str | int, Any] = {}
        for name, (key_node, value_node) in self.pairs(node, path).items():
            here = _child(path, name)
            key = self.scalar(key_node)
            if isinstance(key, bool) or not isinstance(key, (str, int)) or (isinstance(key, str) and not key.strip()):
                self.problem(key_node, path, f"field keys are names or numeric ids; got {_describe(key_node)}")
                continue
            value = self.field_value(value_node, here, key_node)
            if value is not _BAD:
                out[key] = value
        return MappingProxyType(out)

    def field_value(self, node: Node, path: str, at: Node) -> Any:
        if isinstance(node, SequenceNode):
            items = [self.field_value(item, f"{path}[{i}]", item) for i, item in enumerate(node.value)]
            return _BAD if any(i is _BAD or isinstance(i, tuple) for i in items) else tuple(items)
        if not isinstance(node, ScalarNode):
            self.problem(at, path, f"expected a value, a template or a list; got {_describe(node)}")
            return _BAD
        value = self.scalar(node)
        if isinstance(value, str):
            problem = template_problem(value)
            if problem:
                self.problem(at, path, problem)
                return _BAD
            return value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return str(node.value)  # dates and the like: the helpdesk takes them as text

    def mirror(self, f: tuple[Node, Node] | None, path: str) -> MirrorConfig:
        if f is None:
            return MirrorConfig()
        allowed = ("enabled", "dm_public_note", "private_note", "dm_tag", "thread_long_replies",
                   "sign_off", "max_age", "approval", "pii_patterns")
        sub = self.mapping(f[1], path, allowed, at=f[0])
        if not sub:
            return MirrorConfig()
        defaults = MirrorConfig()
        values: dict[str, Any] = {}
        for key, (key_node, node) in sub.items():
            here = f"{path}.{key}"
            if key in ("enabled", "thread_long_replies"):
                values[key] = self.boolean(node, here, key_node, getattr(defaults, key))
            elif key == "dm_tag":
                tag = self.string(node, here, key_node, nullable=True)
                if tag is not None and not _TAG_RE.fullmatch(tag):
                    self.problem(key_node, here, f"tag {tag!r} must not contain spaces or commas")
                    tag = defaults.dm_tag
                values[key] = tag
            elif key in ("dm_public_note", "private_note"):
                if "dm_public_note" in values:
                    self.problem(key_node, here, "private_note and dm_public_note are one setting (the "
                                                 "public note posted when a conversation moves to DM); "
                                                 "keep one")
                values["dm_public_note"] = self.string(node, here, key_node, nullable=True)
            elif key == "max_age":
                values[key] = None if _is_null(node) else self.seconds(node, here, key_node)
            elif key == "approval":
                values[key] = self.approval(node, here, key_node)
            elif key == "pii_patterns":
                values[key] = self.pii_patterns(node, here, key_node)
            else:
                values[key] = self.string(node, here, key_node, nullable=True)
        return MirrorConfig(**values)

    def approval(self, node: Node, path: str, at: Node) -> ApprovalConfig:
        sub = self.mapping(node, path, ("required", "tag"), at=at)
        values: dict[str, Any] = {}
        for key, (key_node, value_node) in (sub or {}).items():
            if key == "required":
                values[key] = self.boolean(value_node, f"{path}.{key}", key_node, False)
            else:
                tag = self.tag(value_node, f"{path}.{key}", key_node)
                if tag is not None:
                    values[key] = tag
        return ApprovalConfig(**values)

    def pii_patterns(self, node: Node, path: str, at: Node) -> tuple[PiiPattern, ...]:
        if _is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(at, path, "expected a list like [{name: order number, regex: '\\bORD-\\d{6}\\b'}]; "
                                   f"got {_describe(node)}")
            return ()
        out: list[PiiPattern] = []
        seen: dict[str, Mark] = {}
        for i, item in enumerate(node.value):
            here = f"{path}[{i}]"
            fields = self.mapping(item, here, ("name", "regex"), required=("name", "regex"))
            if not fields or "name" not in fields or "regex" not in fields:
                continue
            name_key, name_node = fields["name"]
            name = self.string(name_node, f"{here}.name", name_key)
            if name is not None and name in seen:
                self.problem(name_key, f"{here}.name", f"duplicate pattern name {name!r} "
                                                       f"(first at line {seen[name].line + 1})")
            elif name is not None:
                seen[name] = name_key.start_mark
            regex_key, regex_node = fields["regex"]
            compiled = self.pattern(regex_node, f"{here}.regex", regex_key, "hold every reply")
            if name is not None and compiled is not None:
                out.append(PiiPattern(name=name, regex=compiled))
        return tuple(out)

    def viral(self, f: _Field | None, path: str) -> ViralConfig:
        if f is None or _is_null(f[1]):
            return ViralConfig()
        allowed = ("enabled", "refresh", "thresholds", "velocity", "priority", "tag", "spike")
        sub = self.mapping(f[1], path, allowed, at=f[0])
        values: dict[str, Any] = {}
        for key, (key_node, node) in (sub or {}).items():
            here = f"{path}.{key}"
            if key == "enabled":
                values[key] = self.boolean(node, here, key_node, False)
            elif key == "refresh":
                values[key] = self.seconds(node, here, key_node)
            elif key == "thresholds":
                values[key] = self.metric_counts(node, here, key_node, 1)
            elif key == "velocity":
                values["velocity_per_hour"] = self.velocity(node, here, key_node)
            elif key == "priority":
                values[key] = self.choice(node, here, key_node, PRIORITIES, "priority")
            elif key == "tag":
                values[key] = self.tag(node, here, key_node)
            elif key == "spike":
                values[key] = self.spike(node, here, key_node)
        viral = ViralConfig(**{k: v for k, v in values.items() if v is not None})
        if viral.enabled and not viral.thresholds and not viral.velocity_per_hour and sub:
            self.problem(sub["enabled"][0], f"{path}.enabled",
                         "viral watch is on but has no thresholds or velocity, so it would never fire; "
                         "add thresholds: {like_count: 500}, velocity: {per_hour: {like_count: 200}}, "
                         "or both")
        return viral

    def velocity(self, node: Node, path: str, at: Node) -> Mapping[str, int]:
        sub = self.mapping(node, path, ("per_hour",), required=("per_hour",), at=at)
        if not sub or "per_hour" not in sub:
            return MappingProxyType({})
        key_node, value_node = sub["per_hour"]
        return self.metric_counts(value_node, f"{path}.per_hour", key_node, 1)

    def spike(self, node: Node, path: str, at: Node) -> SpikeConfig:
        sub = self.mapping(node, path, ("enabled", "window", "factor", "min_mentions"), at=at)
        values: dict[str, Any] = {}
        for key, (key_node, value_node) in (sub or {}).items():
            here = f"{path}.{key}"
            if key == "enabled":
                values[key] = self.boolean(value_node, here, key_node, False)
            elif key == "window":
                values[key] = self.seconds(value_node, here, key_node)
            elif key == "factor":
                values[key] = self.number(value_node, here, key_node, 1.0)
            else:
                values[key] = self.count(value_node, here, key_node, 1)
        return SpikeConfig(**{k: v for k, v in values.items() if v is not None})

    def state(self, f: tuple[Node, Node] | None) -> str | Secret | EnvRef:
        if f is None:
            return DEFAULT_STATE_URL
        key_node, node = f
        allowed = "sqlite:///FILE or postgresql+psycopg://HOST/DB (or state: {env: NAME})"
        if isinstance(node, MappingNode):
            value = self.env_ref(node, "state", key_node, secret=True)
            if isinstance(value, Secret):
                scheme = _urlsplit(value.reveal()).scheme.split("+")[0]
                if scheme not in STATE_SCHEMES:
                    self.problem(key_node, "state", f"the URL in ${value.name} is not a supported "
                                                    f"database URL; expected {allowed}")
            return value if value is not None else DEFAULT_STATE_URL
        url = self.string(node, "state", key_node, nullable=True)
        if url is None:
            return DEFAULT_STATE_URL
        parts = _urlsplit(url)
        if parts.scheme.split("+")[0] not in STATE_SCHEMES:
            self.problem(key_node, "state", f"unsupported database URL scheme {parts.scheme or '(none)'!r}; "
                                            f"expected {allowed}")
        elif parts.password:
            self.problem(key_node, "state", "the URL carries a password: do not write it in the mapping; "
                                            "write state: {env: SOCIALDESK_STATE_URL} or use PGPASSWORD")
        return url

    def webhook(self, f: tuple[Node, Node] | None) -> WebhookConfig | None:
        if f is None:
            return None
        key_node, node = f
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return None
        sub = self.mapping(node, "webhook", ("listen", "public_url", "secret"), at=key_node)
        if sub is None:
            return None
        host, port = "127.0.0.1", 8787
        public_url: str | None = None
        secret: Secret | EnvRef | None = None
        if "listen" in sub:
            at, value_node = sub["listen"]
            listen = self.string(value_node, "webhook.listen", at)
            match = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d{1,5})", listen or "")
            if listen is not None and (match is None or not 0 < int(match.group(2)) < 65536):
                self.problem(at, "webhook.listen", f"expected HOST:PORT like {DEFAULT_LISTEN}; got {listen!r}")
            elif match is not None:
                host, port = match.group(1), int(match.group(2))
        if "public_url" in sub:
            at, value_node = sub["public_url"]
            public_url = self.string(value_node, "webhook.public_url", at, nullable=True)
            if public_url is not None:
                parts = _urlsplit(public_url)
                if parts.scheme not in ("https", "http") or not parts.netloc:
                    self.problem(at, "webhook.public_url", f"expected an https:// URL the helpdesk can "
                                                           f"reach, or null; got {public_url!r}")
                    public_url = None
        if "secret" in sub:
            at, value_node = sub["secret"]
            if isinstance(value_node, MappingNode):
                value = self.env_ref(value_node, "webhook.secret", at, secret=True)
                secret = value if isinstance(value, (Secret, EnvRef)) else None
            elif not (isinstance(value_node, ScalarNode) and value_node.tag == "tag:yaml.org,2002:null"):
                self.problem(at, "webhook.secret", "secret is a secret: do not write it in the mapping; "
                                                   "put it in an environment variable and write "
                                                   "secret: {env: SOCIALDESK_WEBHOOK_SECRET}, or leave it "
                                                   "out to read the signing secret from the helpdesk")
        return WebhookConfig(host=host, port=port, public_url=public_url, secret=secret)

    # ------------------------------------------------------------------ document

    def document(self, text: str) -> Config:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            detail = err.problem or "invalid YAML"
            if err.context:
                line = f" at line {err.context_mark.line + 1}" if err.context_mark else ""
                detail += f" ({err.context}{line})"
            # str(err) would quote the offending line, which may hold a secret.
            where = self.where(mark) if mark else self.source
            raise ConfigError(f"{where}: YAML syntax error: {detail}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{self.source}: YAML error: {type(err).__name__}") from None
        except RecursionError:
            raise ConfigError(f"{self.source}: YAML error: nested too deeply to read") from None
        start = Mark(self.source, 0, 0, 0, None, None)
        if root is None or (isinstance(root, ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
            raise ConfigError(f"{self.where(start)}: empty mapping file; expected at least "
                              "version: 1 and routes")
        if not isinstance(root, MappingNode):
            raise ConfigError(f"{self.where(root.start_mark)}: expected a mapping with version: 1, "
                              f"helpdesks, networks and routes; got {_describe(root)}")
        # Another version means another format: check it first, and alone, or the rest of
        # such a file would only produce noise.
        version_field = next(((k, v) for k, v in root.value
                              if isinstance(k, ScalarNode) and k.value == "version"), None)
        if version_field is None:
            raise ConfigError(f"{self.where(root.start_mark)}: missing required key 'version'; "
                              f"this socialdesk reads version: {_listing(map(str, SUPPORTED_VERSIONS))}")
        version_key, version_node = version_field
        version = self.scalar(version_node) if isinstance(version_node, ScalarNode) else None
        if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
            shown = repr(version) if isinstance(version, (str, int, float)) else _describe(version_node)
            raise ConfigError(f"{self.where(version_key.start_mark)}: version: unsupported version "
                              f"{shown}; supported: {_listing(map(str, SUPPORTED_VERSIONS))}")

        allowed = ("version", "state", "helpdesks", "networks", "routes", "webhook")
        top = self.mapping(root, "", allowed) or {}

        helpdesks = self.endpoints(top.get("helpdesks"), "helpdesks", "helpdesk", self.helpdesk_classes)
        networks = self.endpoints(top.get("networks"), "networks", "social", self.network_classes)
        routes = self.routes(top.get("routes"), root, helpdesks, networks)
        state_url = self.state(top.get("state"))
        webhook = self.webhook(top.get("webhook"))
        self.raise_if_problems()
        return Config(version=int(version), state_url=state_url, helpdesks=helpdesks,
                      networks=networks, routes=routes, webhook=webhook, source=self.source,
                      missing_env=tuple(self.missing_env))


_BAD = object()


def _urlsplit(url: str) -> Any:
    """urlsplit, with a URL it cannot split (an unbalanced '[') read as no URL at all."""
    try:
        return urlsplit(url)
    except ValueError:
        return urlsplit("")


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


# --------------------------------------------------------------------------- entry points


def parse_config(text: str, source: str = "<string>", env: Mapping[str, str] | None = None, *,
                 allow_missing_env: bool = False, base_dir: str | Path | None = None) -> Config:
    """Validate mapping YAML ``text``; ``source`` names it in messages.

    ``allow_missing_env`` keeps unset ``{env: NAME}`` references as ``EnvRef`` (listed in
    ``Config.missing_env``) instead of failing, for ``socialdesk check`` to report.
    Relative paths in settings resolve against ``base_dir`` when given.
    """
    reader = _Reader(source, os.environ if env is None else env, allow_missing_env,
                     Path(base_dir) if base_dir is not None else None)
    return reader.document(text)


def load_config(path: str | Path, env: Mapping[str, str] | None = None, *,
                allow_missing_env: bool = False) -> Config:
    """Read and validate a mapping file; every problem is raised at once as ``ConfigError``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the mapping file: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the mapping file is not UTF-8 text") from None
    return parse_config(text, str(path), env, allow_missing_env=allow_missing_env,
                        base_dir=file.resolve().parent)


__all__ = [
    "ApprovalConfig", "Config", "ConfigError", "EndpointConfig", "EnvRef", "IncludeConfig",
    "MirrorConfig", "PiiPattern", "PollConfig", "RouteConfig", "Rule", "RuleActions",
    "RuleConditions", "RuleSet", "SpikeConfig", "TicketTemplate", "ViralConfig", "WebhookConfig",
    "duration", "load_config", "parse_config", "render_template", "template_problem",
    "ACTION_KEYS", "CONDITION_KEYS", "HELPDESK_ONLY", "METRICS", "PLACEHOLDERS", "PRIORITIES",
    "RULE_KINDS", "RULE_NETWORKS", "RULES_MATCH", "STREAMS", "TICKET_TYPES", "DEFAULT_STATE_URL",
]
