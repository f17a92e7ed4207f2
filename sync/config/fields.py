"""The mapping's leaf values: each function takes what YAML read and returns the checked
value, or raises every problem it finds (as one pydantic error carrying them all, each with
its place relative to the field), worded the way socialdesk has always worded them."""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping, NoReturn, Sequence

from pydantic_core import PydanticCustomError

from sync.config.constants import DEVELOPER_NAME_RE, METRICS, SALESFORCE_ID_RE, TAG_RE
from sync.config.text import did_you_mean, duration, listing, template_problem
from sync.config.yaml_marks import Key, Loc, Opaque, Problem, YamlInt, describe

ERROR_TYPE = "socialdesk"
DURATION_HINT = "expected a duration like 15s, 2m, 1h or a number of seconds"


class Found:
    """Problems found in one field, each placed relative to it; ``check`` raises them together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, message: str, loc: Loc = (), point: str = "key", offset: int | None = None,
            first: Loc | None = None) -> None:
        self.problems.append(Problem(tuple(loc), message, point, offset, None, first))

    def take(self, err: PydanticCustomError, loc: Loc) -> None:
        """Problems another check raised, moved under ``loc``."""
        self.problems.extend(p.under(tuple(loc)) for p in problems_of(err))

    def check(self) -> None:
        if self.problems:
            raise PydanticCustomError(ERROR_TYPE, "{message}", {
                "message": self.problems[0].message, "problems": tuple(self.problems)})


def fail(message: str, loc: Loc = (), point: str = "key", offset: int | None = None) -> NoReturn:
    found = Found()
    found.add(message, loc, point, offset)
    found.check()
    raise AssertionError("unreachable")


def problems_of(err: PydanticCustomError) -> tuple[Problem, ...]:
    ctx = err.context or {}
    return tuple(ctx.get("problems", ())) or (Problem((), err.message()),)


def shown(value: Any) -> str:
    """A value as a problem quotes it: repr of a plain scalar, else what it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return describe(value)
    if isinstance(value, int):
        return repr(int(value))
    return repr(str(value)) if isinstance(value, str) else repr(value)


# --------------------------------------------------------------------------- scalars


def string(value: Any, *, nullable: bool = False, empty: bool = False) -> str | None:
    """A string (a number written plain reads as the text it was written as)."""
    if value is None and nullable:
        return None
    if isinstance(value, YamlInt):
        value = value.text
    if isinstance(value, str) and not isinstance(value, Key):
        if value.strip() or empty:
            return str(value)
        fail("must not be empty")
    fail(f"expected a string{' or null' if nullable else ''}; got {describe(value)}")


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    fail(f"expected true or false; got {describe(value)}")


def count(value: Any, minimum: int = 0) -> int:
    """A whole number of at least ``minimum`` (followers, likes...)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    fail(f"expected a whole number of at least {minimum}; got {shown(value)}")


def number(value: Any, above: float) -> float:
    """A finite number greater than ``above`` (a factor, a ratio)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and above < value < float("inf"):
        return float(value)
    fail(f"expected a number greater than {above:g}; got {shown(value)}")


def choice(value: Any, allowed: Sequence[str], what: str) -> str:
    if isinstance(value, str) and value in allowed:
        return str(value)
    hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
    fail(f"unknown {what} {shown(value)}; allowed: {', '.join(allowed)}{hint}")


def seconds(value: Any) -> float:
    try:
        return duration(int(value) if isinstance(value, YamlInt) else value)
    except ValueError as err:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            fail(str(err))
        fail(f"{DURATION_HINT}; got {describe(value)}")


def tag(value: Any) -> str:
    """One helpdesk tag: no spaces, no commas."""
    text = string(value)
    assert text is not None
    if not TAG_RE.fullmatch(text):
        fail(f"tag {text!r} must not contain spaces or commas")
    return text


def ident(value: Any) -> str | int | None:
    """A helpdesk object named or numbered (group, brand, form): resolved by the engine."""
    if value is None or isinstance(value, YamlInt):
        return None if value is None else int(value)
    if isinstance(value, str) and not isinstance(value, Key) and value.strip():
        return str(value)
    fail(f"expected a name, a numeric id or null; got {describe(value)}")


def template(value: Any) -> str:
    text = string(value)
    assert text is not None
    problem = template_problem(text)
    if problem:
        fail(problem)
    return text


def record_type(value: Any) -> str:
    text = string(value)
    assert text is not None
    if DEVELOPER_NAME_RE.fullmatch(text) or SALESFORCE_ID_RE.fullmatch(text):
        return text
    fail(f"record_type takes a record type's developer name, like Social_Care "
         f"(letters, digits and single underscores), or its id; got {text!r}")


def pattern(value: Any, meaning: str) -> re.Pattern[str]:
    """A Python regular expression, compiled now so a mistake is reported with its place."""
    text = string(value)
    assert text is not None
    try:
        compiled = re.compile(text)
    except re.error as err:
        position = f" at character {err.pos + 1}" if err.pos is not None else ""
        fail(f"invalid regular expression: {err.msg}{position} (Python re syntax, like \\bORD-\\d{{6}}\\b)",
             offset=err.pos if err.pos is not None else None)
    if compiled.search("") is not None:
        fail(f"'{text}' matches an empty text, so it would {meaning}")
    return compiled


# --------------------------------------------------------------------------- lists


def string_list(value: Any, example: str) -> list[tuple[str, int]]:
    """Strings of a list, each with its index; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        fail(f"expected a list like {example}; got {describe(value)}")
    found, out = Found(), []
    for i, item in enumerate(value):
        try:
            text = string(item)
        except PydanticCustomError as err:
            found.take(err, (i,))
            continue
        assert text is not None
        out.append((text, i))
    found.check()
    return out


def tags(value: Any) -> tuple[str, ...]:
    found, out = Found(), []
    try:
        items = string_list(value, "[social, x]")
    except PydanticCustomError as err:
        found.take(err, ())
        items = []
    for text, i in items:
        if TAG_RE.fullmatch(text):
            out.append(text)
        else:
            found.add(f"tag {text!r} must not contain spaces or commas", (i,))
    found.check()
    return tuple(dict.fromkeys(out))


def words(value: Any, example: str) -> list[tuple[str, Loc]]:
    """A string or a list of strings ("any of"): (value, its place) each."""
    if isinstance(value, list):
        found, out = Found(), []
        if not value:
            found.add(f"empty list; list at least one, like {example}, or leave the condition out")
        for i, item in enumerate(value):
            try:
                text = string(item)
            except PydanticCustomError as err:
                found.take(err, (i,))
                continue
            assert text is not None
            out.append((text.strip(), (i,)))
        found.check()
        return out
    text = string(value)
    assert text is not None
    return [(text.strip(), ())]


def any_of(value: Any, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    """One allowed value or a list of them; the condition holds for any one."""
    if isinstance(value, dict):
        fail(f"expected one {what} or a list of them; got a mapping")
    found, out = Found(), []
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not items:
        found.add(f"empty list; allowed: {listing(allowed)}, or leave the condition out")
    for i, item in enumerate(items):
        try:
            out.append(choice(item, allowed, what))
        except PydanticCustomError as err:
            found.take(err, (i,) if isinstance(value, list) else ())
    found.check()
    return tuple(dict.fromkeys(out))


def metric_counts(value: Any, minimum: int) -> Mapping[str, int]:
    """``{like_count: 100, ...}``: public metric name -> a count."""
    if not isinstance(value, dict):
        fail(f"expected a mapping of metric -> count, like {{like_count: 100}}; got {describe(value)}")
    found, out = Found(), {}
    for name, item in value.items():
        if name not in METRICS:
            found.add(f"unknown metric {name!r}; allowed: {', '.join(METRICS)}{did_you_mean(name, METRICS)}",
                      (name,), "in")
            continue
        try:
            out[str(name)] = count(item, minimum)
        except PydanticCustomError as err:
            found.take(err, (name,))
    if not value:
        found.add(f"empty; name at least one of {', '.join(METRICS)}")
    found.check()
    return MappingProxyType(out)


# --------------------------------------------------------------------------- custom fields

_BAD = object()


def custom_fields(value: Any) -> Mapping[str | int, Any]:
    """Field name or numeric id -> a value, a template or a list of them."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        fail(f"expected a mapping of field name or numeric id -> value; got {describe(value)}")
    found, out = Found(), {}
    for name, item in value.items():
        key = name.scalar if isinstance(name, Key) else str(name)
        if isinstance(key, bool) or not isinstance(key, (str, int)) or (isinstance(key, str) and not key.strip()):
            found.add(f"field keys are names or numeric ids; got {describe(key)}", (name,), "in")
            continue
        checked = _field_value(item, (name,), found)
        if checked is not _BAD:
            out[int(key) if isinstance(key, int) else key] = checked
    found.check()
    return MappingProxyType(out)


def _field_value(value: Any, loc: Loc, found: Found) -> Any:
    if isinstance(value, list):
        items = [_field_value(item, (*loc, i), found) for i, item in enumerate(value)]
        return _BAD if any(i is _BAD or isinstance(i, tuple) for i in items) else tuple(items)
    if isinstance(value, dict) or (isinstance(value, Opaque) and not value.text):
        found.add(f"expected a value, a template or a list; got {describe(value)}", loc)
        return _BAD
    if isinstance(value, Opaque):
        return value.text  # dates and the like: the helpdesk takes them as text
    if isinstance(value, str):
        problem = template_problem(value)
        if problem:
            found.add(problem, loc)
            return _BAD
        return str(value)
    if isinstance(value, YamlInt):
        return int(value)
    return value
