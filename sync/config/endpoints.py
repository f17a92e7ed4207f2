"""``helpdesks:`` and ``networks:``: named adapter instances and their settings. The settings
an adapter takes are its own (``settings_schema``, ``required_settings``); each adapter class
gets a settings model built from them. Secrets are ``{env: NAME}`` or ``{file: PATH}``
references, never values."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Mapping, Union
from urllib.parse import urlsplit

from pydantic import Field, PlainValidator, ValidationInfo, create_model
from pydantic_core import PydanticCustomError

from adapters.base import Secret
from sync.config import fields as f
from sync.config.constants import NAME_RE
from sync.config.context import LoadContext
from sync.config.fields import Found
from sync.config.sections import Generated, Section, leaf, read
from sync.config.text import did_you_mean, listing
from sync.config.values import EndpointConfig, EnvRef
from sync.config.yaml_marks import Loc, describe

_MANIFEST = Path(__file__).resolve().parents[1] / "plugin_manifest.json"   # installed with the package


class EnvReference(Section):
    """A setting read from an environment variable: ``{env: NAME}``."""

    env: Annotated[str, leaf(lambda v: v, Annotated[str, Field(pattern="^[A-Za-z_][A-Za-z0-9_]*$")])]
    """The environment variable's name (letters, digits and _)."""


class FileReference(Section):
    """A setting read from a file: ``{file: PATH}`` (a Docker secret, a systemd credential)."""

    file: str
    """The file holding the value alone (the line break that ends it is dropped); a relative path
    is read from the mapping's folder; $NAME in it is the environment variable's value."""


REFERENCES = "{env: NAME} or {file: PATH}"


class Referenced(str):
    """A setting's text that came from elsewhere than the mapping (said so in its problems)."""

    origin = "the value of its environment variable"


class FromEnv(Referenced):
    """Text read from an environment variable."""


class FromFile(Referenced):
    """Text read from a file."""

    origin = "the content of its file"


def reference_value(value: dict[str, Any], loc: Loc, doc: LoadContext, *, secret: bool) -> Any:
    """``{env: NAME}`` or ``{file: PATH}`` at ``loc`` (from the root) resolved: Secret, text
    (FromEnv, FromFile), EnvRef, or None (the problem noted in ``doc``)."""
    if "file" in value:
        if set(value) != {"file"}:
            return doc.problem(f"expected {REFERENCES}, one of them alone", loc)
        resolved = doc.file_value(value["file"], loc, secret=secret)
        return FromFile(resolved) if isinstance(resolved, str) else resolved
    if "env" not in value:
        keys = [str(k) for k in value]
        got = f"key{'s' if len(keys) > 1 else ''} {listing(map(repr, keys))}" if keys else "an empty mapping"
        hint = did_you_mean(keys[0], ["env", "file"]) if len(keys) == 1 else ""
        return doc.problem(f"expected {REFERENCES}; got {got}{hint}", loc)
    try:
        reference = read(EnvReference, value, None)
    except PydanticCustomError as err:
        doc.problems.extend(p.under(loc) for p in f.problems_of(err))
        return None
    resolved = doc.env_value(reference.env, loc, secret=secret)
    return FromEnv(resolved) if isinstance(resolved, str) else resolved


@dataclass(frozen=True)
class EndpointContext:
    doc: LoadContext
    kind: str


def _setting(value: Any, info: ValidationInfo) -> Any:
    """One adapter setting by its schema type. Values are never echoed in problems."""
    context: EndpointContext = info.context
    key = info.field_name or ""
    kind_of = _schema_of(context.kind)[key]
    if kind_of == "secret":
        if isinstance(value, (Secret, EnvRef)):
            return value
        suggestion = f"SOCIALDESK_{context.kind}_{key}".upper().replace("-", "_")
        f.fail(f"{key} is a secret: do not write it in the mapping; put it in an environment variable "
               f"and write {key}: {{env: {suggestion}}} (or in a file: {key}: {{file: PATH}})")
    if kind_of == "share":
        try:
            share = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
        except ValueError:
            share = None
        if share is None or not 0 < share <= 1:
            f.fail("expected a share of the rate limit, a number above 0 and at most 1, like 0.5")
        return share
    if isinstance(value, EnvRef):
        return value
    text = value if isinstance(value, Referenced) else f.string(value)
    assert text is not None
    if kind_of == "url":
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme != "https" or not parts.netloc:
            origin = f" ({value.origin})" if isinstance(value, Referenced) else ""
            f.fail(f"expected an https:// URL{origin}")
        return str(text).rstrip("/")
    if kind_of == "path":
        try:
            path = Path(text).expanduser()
        except RuntimeError:
            f.fail("cannot expand the ~ at the start of this path (no such user)")
        if not path.is_absolute() and context.doc.base_dir is not None:
            path = context.doc.base_dir / path
        return str(path)
    return str(text)


_SCHEMAS: dict[str, Mapping[str, str]] = {}


def _schema_of(kind: str) -> Mapping[str, str]:
    return _SCHEMAS.get(kind, {})


Reference = Union[EnvReference, FileReference]
_SHOWN = {
    "secret": Reference,
    "url": Union[Annotated[str, Field(pattern="^https://")], EnvReference, FileReference],
    "path": Union[str, EnvReference, FileReference],
    "share": Union[Annotated[float, Field(gt=0, le=1)], str, EnvReference, FileReference],
}


@lru_cache(maxsize=None)
def settings_model(kind: str, cls: Any) -> type[Section]:
    """The settings model of adapter ``cls``, from its ``settings_schema``."""
    schema: Mapping[str, str] = getattr(cls, "settings_schema", {})
    _SCHEMAS[kind] = schema
    fields: dict[str, Any] = {
        key: (Annotated[Any, PlainValidator(_setting, json_schema_input_type=_SHOWN.get(
            kind_of, Union[str, EnvReference, FileReference]))], None)
        for key, kind_of in schema.items()}
    return create_model(f"{cls.__name__}Settings", __base__=Generated, **fields)


def required_settings(kind: str, cls: Any) -> tuple[str, ...]:
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


def read_endpoints(value: Any, role: str, section_key: str, doc: LoadContext) -> dict[str, EndpointConfig]:
    """Every instance under ``helpdesks:`` or ``networks:`` (role ``helpdesk`` or ``social``)."""
    import adapters

    if value is None:
        return {}
    if not isinstance(value, dict):
        f.fail(f"expected a mapping of instance name -> settings; got {describe(value)}")
    found, out = Found(), {}
    known_kinds = adapters.kinds(role)
    for name, item in value.items():
        here: Loc = (name,)
        if not NAME_RE.fullmatch(name):
            found.add("names use lowercase letters, digits, _ and -", here)
        doc.classes[(role, name)] = None
        if not isinstance(item, dict):
            found.add(f"expected a mapping with kind ({listing(known_kinds)}) and its settings; "
                      f"got {describe(item)}", here)
            # Still known by name, so routes naming it are not reported a second time.
            out[name] = EndpointConfig(name, "", False, MappingProxyType({}))
            continue
        settings = dict(item)
        kind, cls = _kind(settings.pop("kind", _ABSENT), role, known_kinds, here, found)
        sandbox = False
        if "sandbox" in settings:
            try:
                sandbox = f.flag(settings.pop("sandbox"))
            except PydanticCustomError as err:
                found.take(err, (*here, "sandbox"))
        checked: dict[str, Any] = {}
        if sandbox:
            # How the service is used (Zendesk's mode) still comes from the mapping; how it is
            # reached (url, credentials) comes from the sandbox.
            keep = tuple(getattr(cls, "sandbox_settings", ()))
            for setting in settings:
                if setting not in keep:
                    found.add(f"a sandbox endpoint takes no settings{' but ' + ', '.join(keep) if keep else ''}, got "
                              f"{setting!r}: url and credentials come from the in-process sandbox; remove it, or "
                              "set sandbox: false", (*here, setting), "in")
            kept = {k: v for k, v in settings.items() if k in keep}
            if kept and cls is not None:
                try:
                    checked = read(settings_model(kind, cls), kept, EndpointContext(doc, kind)).given()
                except PydanticCustomError as err:
                    found.take(err, here)
        elif cls is not None:
            checked = _settings(settings, kind, cls, (section_key, *here), doc, found)
        doc.classes[(role, name)] = cls
        out[name] = EndpointConfig(name=name, kind=kind, sandbox=sandbox, settings=MappingProxyType(checked))
    (doc.helpdesks if role == "helpdesk" else doc.networks).update(out)
    found.check()
    return out


_ABSENT = object()


def _kind(raw: Any, role: str, known_kinds: list[str], here: Loc, found: Found) -> tuple[str, Any]:
    import adapters

    if raw is _ABSENT:
        found.add(f"missing required key 'kind'; known {role} kinds: {listing(known_kinds)}", here)
        return "", None
    if not isinstance(raw, str):
        found.add(f"expected one of {listing(known_kinds)}; got {describe(raw)}", (*here, "kind"))
        return "", None
    if raw not in known_kinds:
        other = adapters.REGISTRY.get(raw, (None,))[0]
        if other:
            message = f"{raw!r} is a {other} adapter, not a {role} one; known {role} kinds: {listing(known_kinds)}"
        else:
            message = f"unknown {role} kind {raw!r}; known: {listing(known_kinds)}{did_you_mean(raw, known_kinds)}"
        found.add(message, (*here, "kind"))
        return "", None
    try:
        return str(raw), adapters.resolve(raw, role)
    except Exception as err:  # an adapter whose library is not installed
        found.add(f"adapter {raw!r} cannot be loaded: {type(err).__name__}: {err}", (*here, "kind"))
        return str(raw), None


def _settings(settings: dict[str, Any], kind: str, cls: Any, loc: Loc, doc: LoadContext,
              found: Found) -> dict[str, Any]:
    """An endpoint's settings checked against its adapter's model; references resolved first."""
    model = settings_model(kind, cls)
    schema: Mapping[str, str] = getattr(cls, "settings_schema", {})
    allowed = ["kind", "sandbox", *schema]
    given: dict[str, Any] = {}
    for setting, value in settings.items():
        if setting not in schema:
            found.add(f"unknown setting {setting!r} for kind {kind}; allowed: {', '.join(allowed)}"
                      f"{did_you_mean(setting, allowed)}", (*loc[1:], setting), "in")
        elif isinstance(value, dict):
            resolved = reference_value(value, (*loc, setting), doc, secret=schema[setting] == "secret")
            if resolved is not None:
                given[setting] = resolved
        else:
            given[setting] = value
    required = required_settings(kind, cls)
    missing = [r for r in required if r not in settings]
    if missing:
        found.add(f"missing required setting{'s' if len(missing) > 1 else ''} {', '.join(missing)} for kind "
                  f"{kind} (required: {', '.join(required)}; or set sandbox: true to use the in-process sandbox)",
                  loc[1:])
    elif hasattr(cls, "settings_problems"):
        for problem in cls.settings_problems(settings):
            found.add(f"{kind}: {problem}", loc[1:])
    try:
        checked = read(model, given, EndpointContext(doc, kind))
    except PydanticCustomError as err:
        found.take(err, loc[1:])
        return {}
    return {k: v for k, v in checked.given().items() if v is not None}
