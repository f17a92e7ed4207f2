"""Small pure helpers of the mapping's language: durations, ticket templates and the
wording of problems (did-you-mean, listings)."""
from __future__ import annotations

import difflib
import re
import string
from typing import Any, Iterable

from sync.config.constants import PLACEHOLDERS, TEXT_PLACEHOLDER_LEN

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_RE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


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
                    f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}{did_you_mean(base, PLACEHOLDERS)}")
    try:
        template.format_map({p: "x" for p in PLACEHOLDERS})
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as err:
        return f"bad template: {type(err).__name__}: {err} (placeholders take no format spec or conversion but !r/!s)"
    return None


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def listing(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "(none)"


def seconds_text(value: float) -> str:
    """A duration as an admin would write it: 15s, 2m, 1h."""
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"
