"""Zendesk's Channel Framework schemas applied to a document: the stand-in's own validator.

It knows the JSON Schema keywords Zendesk's schemas use (``$ref`` to another file or a
fragment, ``type``, ``required``, ``properties``, ``items``, ``enum``, ``pattern``,
``minLength``/``maxLength``, ``maxItems``, ``anyOf``) and their custom formats, which the
schemas' README defines: ``https-url`` (the URL's scheme is https) and ``external-id`` (no
leading or trailing whitespace); ``date-time`` is RFC 3339 / ISO 8601 extended.

Two readings of the schemas as Zendesk's Ruby validator applies them (the schemas are
draft-04 era): a type name JSON Schema does not know (``any``, ``time``) admits every
value, and the keywords beside a ``$ref`` apply as well as the reference (the event
callback schemas add their ``data`` this way). The sandbox does not share this code with
the daemon: each side reads the contract on its own.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from sandbox.zendesk.channel_schemas import SCHEMAS

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE)
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def is_https_url(value: str, plain_loopback: bool = False) -> bool:
    """The ``https-url`` format; ``plain_loopback`` also admits http on a loopback host
    (a sandbox setting, for a local integration that serves plain HTTP)."""
    parts = urlsplit(value)
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return plain_loopback and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _pointer(path: tuple[Any, ...]) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _type_ok(declared: Any, value: Any) -> bool:
    names = declared if isinstance(declared, list) else [declared]
    if any(name not in _TYPES for name in names):
        return True
    return any(_TYPES[name](value) for name in names)


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


class _Check:
    """One validation: walks a schema over a value, collecting errors as ``#/path: why``."""

    def __init__(self, plain_loopback: bool) -> None:
        self.plain_loopback = plain_loopback
        self.errors: list[str] = []

    def fail(self, path: tuple[Any, ...], why: str) -> None:
        self.errors.append(f"{_pointer(path)}: {why}")

    @staticmethod
    def resolve(document: str, ref: str) -> tuple[str, Mapping[str, Any]]:
        name, _, fragment = ref.partition("#")
        document = name or document
        node: Any = SCHEMAS[document]
        for part in (p for p in fragment.split("/") if p):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return document, node

    def visit(self, document: str, schema: Mapping[str, Any], value: Any, path: tuple[Any, ...]) -> None:
        if "$ref" in schema:
            target, referenced = self.resolve(document, schema["$ref"])
            self.visit(target, referenced, value, path)
        declared = schema.get("type")
        if declared is not None and not _type_ok(declared, value):
            wanted = " or ".join(declared) if isinstance(declared, list) else declared
            self.fail(path, f"expected {wanted}, got {_type_name(value)}")
            return
        if "enum" in schema and value not in schema["enum"]:
            self.fail(path, f"{value!r} is not one of {', '.join(map(str, schema['enum']))}")
        if isinstance(value, str):
            self.string(schema, value, path)
        elif isinstance(value, list):
            self.array(document, schema, value, path)
        elif isinstance(value, dict):
            self.object(document, schema, value, path)
        if "anyOf" in schema:
            for branch in schema["anyOf"]:
                probe = _Check(self.plain_loopback)
                probe.visit(document, branch, value, path)
                if not probe.errors:
                    break
            else:
                self.fail(path, "matches none of the schemas it may be")

    def string(self, schema: Mapping[str, Any], value: str, path: tuple[Any, ...]) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.fail(path, f"shorter than {schema['minLength']} character(s)")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.fail(path, f"longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            self.fail(path, f"does not match {schema['pattern']}")
        kind = schema.get("format")
        if kind == "https-url" and not is_https_url(value, self.plain_loopback):
            self.fail(path, "is not an https URL")
        elif kind == "external-id" and value != value.strip():
            self.fail(path, "has leading or trailing whitespace")
        elif kind == "date-time" and not _is_date_time(value):
            self.fail(path, "is not an ISO 8601 date-time (2015-09-08T22:48:09Z)")

    def array(self, document: str, schema: Mapping[str, Any], value: list[Any],
              path: tuple[Any, ...]) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.fail(path, f"has {len(value)} items, more than {schema['maxItems']}")
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.fail(path, f"has {len(value)} items, fewer than {schema['minItems']}")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                self.visit(document, items, item, (*path, index))

    def object(self, document: str, schema: Mapping[str, Any], value: dict[str, Any],
               path: tuple[Any, ...]) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                self.fail(path, f"required property {name!r} is missing")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                self.visit(document, sub, value[name], (*path, name))


def validate(name: str, value: Any, *, plain_loopback: bool = False) -> list[str]:
    """Every way ``value`` breaks Zendesk's schema ``name`` (``"pull_payload.json"``);
    empty when it holds."""
    check = _Check(plain_loopback)
    check.visit(name, SCHEMAS[name], value, ())
    return check.errors
