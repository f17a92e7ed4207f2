"""mapping.yaml -> plain data, keeping where every value came from.

PyYAML composes the nodes (with their marks); this module turns them into the dicts,
lists and scalars the pydantic models validate, and keeps an index from each value's
location (a pydantic ``loc``: keys and list indices) to its key's and node's marks, so a
problem found in the plain data is reported at its FILE:LINE:COL. What only the YAML
shows (duplicate keys, bad merges, keys that are not names) is reported here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sync.config.values import ConfigError

Loc = tuple[Any, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool",
               "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
# Deeper than any mapping needs; a deeper document is refused where it goes too deep.
_MAX_DEPTH = 100


class YamlInt(int):
    """A YAML integer that remembers how it was written (``007`` is a name, not 7)."""

    text: str

    def __new__(cls, value: int, text: str) -> YamlInt:
        made = super().__new__(cls, value)
        made.text = text
        return made


class Key(str):
    """A mapping key as written, with the value YAML reads it as (``12345`` -> 12345)."""

    scalar: Any

    def __new__(cls, text: str, scalar: Any) -> Key:
        made = super().__new__(cls, text)
        made.scalar = scalar
        return made


@dataclass(frozen=True)
class Opaque:
    """A value no setting takes: a date, binary, a recursive alias, nesting too deep."""

    what: str
    text: str = ""


def describe(value: Any) -> str:
    """What a value is, in an admin's words, for ``expected ...; got <this>``."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Opaque):
        return value.what
    return "a string"


def path_text(loc: Loc) -> str:
    """``routes[0].ticket.custom_fields['Social post URL']`` for a loc."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
            continue
        key = str(part)
        segment = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f"[{key!r}]"
        out = segment if not out else (f"{out}{segment}" if segment.startswith("[") else f"{out}.{segment}")
    return out


@dataclass(frozen=True)
class Problem:
    """One problem at ``loc``. ``point``: "key" marks the key (or list item) at loc and names
    loc; "in" marks the key at loc but names its mapping (unknown or duplicate keys);
    "node" marks the value's own start. ``offset``: a character inside a one-line value;
    ``at``: a mark known when the problem was found (YAML-level problems)."""

    loc: Loc
    message: str
    point: str = "key"
    offset: int | None = None
    at: Mark | None = None
    first: Loc | None = None  # the loc whose line replaces {first_line} in message

    def under(self, base: Loc) -> Problem:
        """This problem, found in a value written at ``base``."""
        first = None if self.first is None else (*base, *self.first)
        return Problem((*base, *self.loc), self.message, self.point, self.offset, self.at, first)


class Marks:
    """Where each loc of the plain data was written."""

    def __init__(self, source: str, root: Node) -> None:
        self.source = source
        self.index: dict[Loc, tuple[Mark | None, Node]] = {(): (None, root)}

    def where(self, mark: Mark) -> str:
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def node(self, loc: Loc) -> Node | None:
        found = self.index.get(tuple(loc))
        return None if found is None else found[1]

    def mark(self, loc: Loc, point: str = "key", offset: int | None = None) -> Mark:
        """The mark for ``loc``, or for its nearest written ancestor."""
        loc = tuple(loc)
        while loc not in self.index:
            loc = loc[:-1]
        key_mark, node = self.index[loc]
        if offset is not None:
            return _inside(node, offset)
        if point == "node" or key_mark is None:
            return node.start_mark
        return key_mark

    def render(self, problem: Problem) -> tuple[int, int, str]:
        mark = problem.at or self.mark(problem.loc, problem.point, problem.offset)
        shown = path_text(problem.loc[:-1] if problem.point == "in" else problem.loc)
        message = problem.message
        if problem.first is not None:
            message = message.replace("{first_line}", str(self.mark(problem.first).line + 1))
        text = f"{self.where(mark)}: " + (f"{shown}: " if shown else "") + message
        return mark.line, mark.column, text


def _inside(node: Node, offset: int) -> Mark:
    """The mark of character ``offset`` of a one-line scalar's value, when it can be told."""
    mark = node.start_mark
    value = node.value if isinstance(node, ScalarNode) else None
    quote = 1 if getattr(node, "style", None) in ("'", '"') else 0
    start = mark.pointer + quote
    if value is None or mark.buffer is None or "\n" in value or mark.buffer[start:start + len(value)] != value:
        return mark
    return Mark(mark.name, mark.index + quote + offset, mark.line, mark.column + quote + offset, None, None)


def compose(text: str, source: str) -> Node:
    """The document's root node; a YAML error or an empty file is a ConfigError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        detail = err.problem or "invalid YAML"
        if err.context:
            line = f" at line {err.context_mark.line + 1}" if err.context_mark else ""
            detail += f" ({err.context}{line})"
        # str(err) would quote the offending line, which may hold a secret.
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: YAML syntax error: {detail}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: YAML error: {type(err).__name__}") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML error: nested too deeply to read") from None
    if root is None or (isinstance(root, ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        raise ConfigError(f"{source}:1:1: empty mapping file; expected at least version: 1 and routes")
    return root


class Reader:
    """Turns composed nodes into plain data, filling ``marks`` and noting YAML-level problems."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.problems: list[Problem] = []
        self.constructor = SafeConstructor()
        self._open: set[int] = set()

    def scalar(self, node: ScalarNode) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):
            return node.value
        if node.tag not in _PLAIN_TAGS:
            return Opaque("a string", node.value)  # dates and the like
        if isinstance(value, int) and not isinstance(value, bool):
            return YamlInt(value, node.value)
        return value

    def data(self, node: Node, loc: Loc = ()) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in self._open:
            return Opaque("a recursive alias")
        if len(loc) > _MAX_DEPTH:
            return Opaque("a value nested too deeply")
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                out_list = []
                for i, item in enumerate(node.value):
                    self.marks.index[(*loc, i)] = (None, item)
                    out_list.append(self.data(item, (*loc, i)))
                return out_list
            out: dict[str, Any] = {}
            for key, value in self.pairs(node, loc):
                here = (*loc, key)
                self.marks.index[here] = (self.marks.index[here][0], value)
                out[key] = self.data(value, here)
            return out
        finally:
            self._open.discard(id(node))

    def pairs(self, node: MappingNode, loc: Loc) -> list[tuple[str, Node]]:
        """Key -> value node; merge keys applied, duplicates reported, the last one kept."""
        seen: dict[str, Mark] = {}
        for key, _ in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                if key.value in seen:
                    self.problems.append(Problem((*loc, key.value), f"duplicate key {key.value!r} "
                                                f"(first at line {seen[key.value].line + 1})", "in",
                                                 at=key.start_mark))
                else:
                    seen[key.value] = key.start_mark
        flat = MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
        try:
            self.constructor.flatten_mapping(flat)
        except yaml.MarkedYAMLError as err:
            self.problems.append(Problem(loc, f"bad merge: {err.problem}",
                                         at=err.problem_mark or node.start_mark))
            flat.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in flat.value:
            if not isinstance(key, ScalarNode):
                self.problems.append(Problem(loc, f"keys must be plain names, not {_node_kind(key)}",
                                             at=key.start_mark))
                continue
            name = key.value if key.tag == "tag:yaml.org,2002:str" else Key(key.value, self.scalar(key))
            out.pop(name, None)  # the last one wins, in the place it was written
            out[name] = (key, value)
        for name, (key, _) in out.items():
            self.marks.index[(*loc, name)] = (key.start_mark, key)
        return [(name, value) for name, (_, value) in out.items()]


def _node_kind(node: Node) -> str:
    return "a mapping" if isinstance(node, MappingNode) else "a list" if isinstance(node, SequenceNode) \
        else "a string"
