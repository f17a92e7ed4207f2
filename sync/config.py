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
from typing import Any, Iterable, Mapping, Sequence
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
PLACEHOLDERS = ("network", "kind", "author", "author_name", "text", "id", "url")
TEXT_PLACEHOLDER_LEN = 60
DEFAULT_SUBJECT = "{network} {kind} from @{author}"
DEFAULT_DM_PUBLIC_NOTE = "We've sent you a direct message."
DEFAULT_LISTEN = "127.0.0.1:8787"

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
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


@dataclass(frozen=True)
class MirrorConfig:
    """How agent replies go back to the network."""

    enabled: bool = True
    dm_public_note: str | None = DEFAULT_DM_PUBLIC_NOTE
    dm_tag: str | None = "social_dm"
    thread_long_replies: bool = True
    sign_off: str | None = None


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
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            return bool(self.scalar(node))
        self.problem(at, path, f"expected true or false; got {_describe(node)}")
        return default

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
        value = (self.env_ref(node, path, at, secret=False) if isinstance(node, MappingNode)
                 else self.string(node, path, at))
        if not isinstance(value, str):
            return value
        if kind_of == "url":
            parts = urlsplit(value)
            if parts.scheme != "https" or not parts.netloc:
                origin = " (the value of its environment variable)" if from_env else ""
                self.problem(at, path, f"expected an https:// URL{origin}")
                return None
            return value.rstrip("/")
        if kind_of == "path":
            path_value = Path(value).expanduser()
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
                   "blocklist", "history", "ticket", "mirror")
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

        ticket = self.ticket(field_("ticket"), f"{path}.ticket")
        mirror = self.mirror(field_("mirror"), f"{path}.mirror")
        return RouteConfig(name=name, network=network, helpdesk=helpdesk, streams=streams,
                           search_query=search_query, poll=poll, include=include,
                           blocklist=blocklist, ticket=ticket, mirror=mirror, history=history)

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

    def ticket(self, f: tuple[Node, Node] | None, path: str) -> TicketTemplate:
        if f is None:
            return TicketTemplate()
        allowed = ("subject", "tags", "priority", "group", "brand", "form", "entitlement", "custom_fields",
                   "include_metrics")
        sub = self.mapping(f[1], path, allowed, at=f[0])
        if not sub:
            return TicketTemplate()
        values: dict[str, Any] = {}
        for key, (key_node, node) in sub.items():
            here = f"{path}.{key}"
            if key == "subject":
                values[key] = self.template(node, here, key_node)
            elif key == "tags":
                tags = []
                for i, (tag, item) in enumerate(self.string_list(node, here, key_node, "[social, x]")):
                    if _TAG_RE.fullmatch(tag):
                        tags.append(tag)
                    else:
                        self.problem(item, f"{here}[{i}]", f"tag {tag!r} must not contain spaces or commas")
                values[key] = tuple(dict.fromkeys(tags))
            elif key == "priority":
                values[key] = self.choice(node, here, key_node, PRIORITIES, "priority")
            elif key in ("group", "brand", "form", "entitlement"):
                values[key] = self.ident(node, here, key_node)
            elif key == "custom_fields":
                values[key] = self.custom_fields(node, here, key_node)
            elif key == "include_metrics":
                values[key] = self.boolean(node, here, key_node, True)
        defaults = TicketTemplate()
        for key in ("subject", "priority"):
            if values.get(key, ...) is None:
                values[key] = getattr(defaults, key)
        return TicketTemplate(**values)

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
        allowed = ("enabled", "dm_public_note", "dm_tag", "thread_long_replies", "sign_off")
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
            else:
                values[key] = self.string(node, here, key_node, nullable=True)
        return MirrorConfig(**values)

    def state(self, f: tuple[Node, Node] | None) -> str | Secret | EnvRef:
        if f is None:
            return DEFAULT_STATE_URL
        key_node, node = f
        allowed = "sqlite:///FILE or postgresql+psycopg://HOST/DB (or state: {env: NAME})"
        if isinstance(node, MappingNode):
            value = self.env_ref(node, "state", key_node, secret=True)
            if isinstance(value, Secret):
                scheme = urlsplit(value.reveal()).scheme.split("+")[0]
                if scheme not in STATE_SCHEMES:
                    self.problem(key_node, "state", f"the URL in ${value.name} is not a supported "
                                                    f"database URL; expected {allowed}")
            return value if value is not None else DEFAULT_STATE_URL
        url = self.string(node, "state", key_node, nullable=True)
        if url is None:
            return DEFAULT_STATE_URL
        parts = urlsplit(url)
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
                parts = urlsplit(public_url)
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
    "Config", "ConfigError", "EndpointConfig", "EnvRef", "IncludeConfig", "MirrorConfig",
    "PollConfig", "RouteConfig", "TicketTemplate", "WebhookConfig", "duration", "load_config",
    "parse_config", "render_template", "template_problem", "PLACEHOLDERS", "PRIORITIES",
    "STREAMS", "DEFAULT_STATE_URL",
]
