"""How socialdesk logs: to stderr, as text for people or one JSON object per line for log
collectors; the HTTP and scheduler libraries only when something is wrong.

A line may carry fields beside its message: the route and conversation it is about, the
event it tells (``sync/events.py`` names them), ticket, post and comment ids. A route's
work sets the route (and a row's work its conversation) around itself with ``about()``,
so even a line from a library the work calls says which route it came from. Fields are
ids, never text a customer or an agent wrote, never a secret.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from typing import Any, Iterator

NOISY = ("werkzeug", "apscheduler", "urllib3", "zenpy", "waitress")

# The fields a line may carry, in the order they are shown.
FIELDS = ("route", "conversation", "event", "ticket", "post", "comment", "stream", "side", "why")

_about: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("socialdesk_log_about", default={})


@contextlib.contextmanager
def about(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries ``fields`` (None values are left out)."""
    token = _about.set({**_about.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _about.reset(token)


def fields_of(record: logging.LogRecord) -> dict[str, str]:
    """A line's fields: what it was given (``extra=``), else what its work is about."""
    around = _about.get()
    out = {}
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is None:
            value = around.get(name)
        if value is not None:
            out[name] = str(value)
    return out


class _Stamp(logging.Filter):
    """Puts the fields of the work around a line on the line itself (at the handler, so a
    line of any logger gets them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.socialdesk_fields = fields_of(record)
        return True


def _stamped(record: logging.LogRecord) -> dict[str, str]:
    found = getattr(record, "socialdesk_fields", None)
    return found if isinstance(found, dict) else fields_of(record)


class JsonLines(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, msg, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        line.update(_stamped(record))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class Text(logging.Formatter):
    """``time LEVEL logger: message [route=.. conversation=..]``: the fields the message does
    not already say, for people reading along."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        message = record.getMessage()
        shown = [f"{k}={v}" for k, v in _stamped(record).items()
                 if k in ("route", "conversation") and not (k == "route" and _names_route(message, v))]
        if not shown:
            return text
        head, sep, trace = text.partition("\n")
        return f"{head} [{' '.join(shown)}]{sep}{trace}"


def _names_route(message: str, route: str) -> bool:
    """Whether the message opens with the route's name (``route t: ...``, ``route t parked``)."""
    head = f"route {route}"
    return message == head or message.startswith((head + " ", head + ":"))


def handler(fmt: str = "text", stream: Any = None) -> logging.Handler:
    """A handler writing ``fmt`` lines (text or json) to ``stream`` (stderr)."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format is text or json, not {fmt!r}")
    out = logging.StreamHandler(stream or sys.stderr)
    out.addFilter(_Stamp())
    out.setFormatter(JsonLines() if fmt == "json" else Text())
    out.socialdesk = True  # type: ignore[attr-defined]
    return out


def configure(verbose: bool = False, fmt: str = "text") -> None:
    """Set up the root logger for the process (again: the previous set-up is replaced)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "socialdesk", False)]:
        root.removeHandler(old)
    root.addHandler(handler(fmt))
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
