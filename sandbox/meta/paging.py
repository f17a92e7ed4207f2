"""One Graph API call as the handlers see it, times, and cursor-based pages.

Pages are Graph's cursor pagination: ``{"data": [...], "paging": {"cursors": {"before",
"after"}, "next", "previous"}}``; ``next`` is absent on the last page, ``previous`` on
the first, and an empty page has no ``paging`` at all. ``next`` links repeat the request's
parameters (the access token too, as Meta's do). Cursors are opaque base64 strings naming
the item's place in the order, so items added or removed meanwhile do not shift a page.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence
from urllib.parse import urlencode

from sandbox.meta import errors
from sandbox.meta.constants import DEFAULT_LIMIT, MAX_LIMIT

if TYPE_CHECKING:
    from sandbox.meta.tokens import Grant


@dataclass
class Call:
    """A request, from HTTP or from a batch: method, version, path segments, parameters
    (query, form and JSON body together; ``access_token`` taken out into ``token``)."""

    method: str
    version: str
    path: list[str]
    params: dict[str, Any]
    token: str | None
    grant: "Grant | None" = None
    headers: dict[str, str] = field(default_factory=dict)

    def param(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name, default)
        return default if value is None else value

    def obj(self, name: str) -> Any:
        """A parameter that is JSON: sent as an object in a JSON body, or as text in a
        query or form field (``recipient={"id":"..."}``)."""
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise errors.invalid_param(f"param {name} must be a JSON object") from None
        return value


def graph_time(ts: float) -> str:
    """Graph timestamps: ``2021-07-21T21:05:14+0000``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time(value: Any, name: str) -> float:
    """``since``/``until``: Unix seconds, or a date/time Graph's strtotime reads (ISO 8601)."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        raise errors.invalid_param(f"The {name} parameter is not a valid time: {text}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def window(items: Sequence[Any], call: Call, stamp: Callable[[Any], float]) -> list[Any]:
    """Items within ``since`` (inclusive) and ``until`` (inclusive) of the call."""
    since, until = call.params.get("since"), call.params.get("until")
    low = parse_time(since, "since") if since not in (None, "") else None
    high = parse_time(until, "until") if until not in (None, "") else None
    return [i for i in items if (low is None or stamp(i) >= low)
            and (high is None or stamp(i) <= high)]


def cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.b64encode(b"AQH" + raw).decode().rstrip("=")


def read_cursor(text: str) -> list[Any]:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4))
        if not raw.startswith(b"AQH"):
            raise ValueError(text)
        return list(json.loads(raw[3:]))
    except ValueError:
        raise errors.invalid_param("The after/before cursor is not valid") from None


def limit_of(value: Any, default: int = DEFAULT_LIMIT) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise errors.invalid_param("Param limit must be a number") from None
    if number < 0:
        raise errors.invalid_param("Param limit must be a non-negative number")
    return min(number, MAX_LIMIT)


def page(items: Sequence[Any], key: Callable[[Any], Sequence[Any]],
         render: Callable[[Any], dict[str, Any]], *, limit: int,
         after: str | None, before: str | None,
         link: Callable[[dict[str, str]], str]) -> dict[str, Any]:
    """One page of ``items`` (already in the order served; ``key`` grows along it)."""
    if after:
        mark = read_cursor(after)
        rest = [i for i in items if list(key(i)) > mark]
        chosen = rest[:limit]
        earlier = len(items) > len(rest)
        later = len(rest) > len(chosen)
    elif before:
        mark = read_cursor(before)
        rest = [i for i in items if list(key(i)) < mark]
        chosen = rest[-limit:] if limit else []
        earlier = len(rest) > len(chosen)
        later = len(items) > len(rest)
    else:
        chosen = list(items[:limit])
        earlier, later = False, len(items) > len(chosen)
    body: dict[str, Any] = {"data": [render(i) for i in chosen]}
    if not chosen:
        return body
    first, last = cursor(key(chosen[0])), cursor(key(chosen[-1]))
    paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
    if earlier:
        paging["previous"] = link({"before": first})
    if later:
        paging["next"] = link({"after": last})
    body["paging"] = paging
    return body


def link_for(base: str, call: Call, path: str, extra: dict[str, Any] | None = None
             ) -> Callable[[dict[str, str]], str]:
    """A ``next``/``previous`` link maker: the request's parameters, its token, the cursor."""
    kept = {k: v for k, v in call.params.items()
            if k not in ("after", "before", "__sandbox_batch") and isinstance(v, (str, int, float))}
    kept.update(extra or {})

    def make(move: dict[str, str]) -> str:
        query = dict(kept)
        if call.token:
            query = {"access_token": call.token, **query}
        query.update(move)
        return f"{base}/{call.version}/{path}?{urlencode(query)}"
    return make
