"""Pieces every sandbox service uses: a clock that tests can move, rate windows, ids,
and the Flask plumbing (error answers, fault injection, pending headers) the services share.

The sandbox is the far side of the wire: nothing here is shared with ``adapters/`` or
``sync/``, and nothing imports them.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask import Response, g, request


class Clock:
    """Wall time plus an offset that the control API can advance (never goes back)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
            return time.time() + self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)


@dataclass
class Window:
    """One fixed rate-limit window: ``limit`` calls per ``seconds``."""

    limit: int
    seconds: int
    started: float = 0.0
    used: int = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """Count one call; (allowed, remaining, reset epoch)."""
        if now >= self.started + self.seconds:
            self.started, self.used = now, 0
        reset_at = self.started + self.seconds
        if self.used >= self.limit:
            return False, 0, reset_at
        self.used += 1
        return True, self.limit - self.used, reset_at


@dataclass
class RateLimits:
    """Named windows (per endpoint family and per credential), thread-safe."""

    defaults: dict[str, tuple[int, int]]
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    overrides: dict[str, tuple[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, family: str, who: str, now: float) -> tuple[bool, int, int, float]:
        """(allowed, limit, remaining, reset epoch) for one call of ``family`` by ``who``."""
        limit, seconds = self.overrides.get(family) or self.defaults[family]
        with self.lock:
            window = self.windows.get((family, who))
            if window is None or (window.limit, window.seconds) != (limit, seconds):
                window = self.windows[(family, who)] = Window(limit, seconds)
            allowed, remaining, reset_at = window.take(now)
        return allowed, limit, remaining, reset_at

    def set(self, family: str, limit: int, seconds: int) -> None:
        if family not in self.defaults:
            raise KeyError(family)
        with self.lock:
            self.overrides[family] = (limit, seconds)

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()
            self.overrides.clear()


class Snowflake:
    """Monotonic decimal ids shaped like X's (time-ordered, 19 digits)."""

    EPOCH_MS = 1288834974657

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seq = itertools.count()
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            ms = int(self._clock.now() * 1000) - self.EPOCH_MS
            value = (ms << 22) | (next(self._seq) & 0x3FFFFF)
            if value <= self._last:
                value = self._last + 1
            self._last = value
            return str(value)


# ---------------------------------------------------------------------------- Flask plumbing


class HttpError(Exception):
    """An error answer (status, body, headers, content type); ``JSON_CT`` is the service's default."""

    JSON_CT = "application/json"

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None,
                 content_type: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = self.JSON_CT if content_type is None else content_type


def error_response(err: HttpError, render_json: Callable[..., Response]) -> Response:
    """``err`` as a response: JSON bodies through the service's ``render_json``, others as text."""
    if isinstance(err.body, (dict, list)):
        return render_json(err.body, err.status, err.headers, err.content_type)
    response = Response(str(err.body), status=err.status, content_type=err.content_type)
    for key, value in err.headers.items():
        response.headers[key] = value
    return response


def add_pending_headers(response: Response) -> Response:
    """Add the headers the request gate collected in ``g.headers`` (without overriding any)."""
    for key, value in (getattr(g, "headers", None) or {}).items():
        response.headers.setdefault(key, value)
    return response


def match_fault(faults: Iterable[dict[str, Any]], method: str,
                paths: Iterable[str]) -> dict[str, Any] | None:
    """Take one use of the first armed fault for ``method`` whose prefix one of ``paths`` has."""
    paths = tuple(paths)
    for fault in faults:
        if fault["count"] <= 0:
            continue
        if fault.get("method") not in (None, "", "*") and str(fault["method"]).upper() != method:
            continue
        prefix = fault.get("path_prefix") or "/"
        if not any(path.startswith(prefix) for path in paths):
            continue
        fault["count"] -= 1
        fault["hits"] = fault.get("hits", 0) + 1
        return dict(fault)
    return None


def drop_response(fault: Mapping[str, Any],
                  render_fault: Callable[[Mapping[str, Any]], Response]) -> Response:
    """The answer of a ``drop_response`` fault: status 0 shuts the socket (a bare 500 if it
    survives); any other status is ``render_fault`` of the fault with that status."""
    status = int(fault.get("status") or 0)
    if status == 0:
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return Response(b"", status=500)
    return add_pending_headers(render_fault({**fault, "status": status}))
