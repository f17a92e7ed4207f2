"""Pieces every sandbox service uses: a clock that tests can move, rate windows, ids,
and the Flask plumbing (error answers, fault injection, pending headers) the services share.

The sandbox is the far side of the wire: nothing here is shared with ``adapters/`` or
``sync/``, and nothing imports them.
"""
from __future__ import annotations

import itertools
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask import Response, g, request

MAX_SPEED = 3600.0
# A request carrying this header stands for an agent working in the helpdesk's own UI, not
# an API client: no fault the chaos settings arm touches it, and (as on the real services)
# it does not count against the API plan or allocation. Only the sandbox knows the header.
UI_CHANNEL = ("X-Sandbox-Channel", "ui")


class Clock:
    """Sandbox time: wall time that the control API can advance (never back) and run
    faster than the wall (``speed``), so an hour-long outage or a day of rate windows
    can pass in a test's minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._anchor_wall = time.time()
        self._anchor_now = self._anchor_wall
        self._speed = 1.0

    def _now_locked(self) -> float:
        return self._anchor_now + (time.time() - self._anchor_wall) * self._speed

    def now(self) -> float:
        with self._lock:
            return self._now_locked()

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._anchor_now = self._now_locked() + seconds
            self._anchor_wall = time.time()
            return self._anchor_now

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Sandbox seconds per wall second from now on (1 = real time)."""
        if not 0.0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be above 0 and at most {MAX_SPEED:g}")
        with self._lock:
            self._anchor_now = self._now_locked()
            self._anchor_wall = time.time()
            self._speed = float(speed)

    def reset(self) -> None:
        with self._lock:
            self._anchor_wall = self._anchor_now = time.time()
            self._speed = 1.0

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def control(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a ``/_sandbox/clock`` body (``advance`` seconds, ``speed``); the clock's state."""
        if spec.get("speed") is not None:
            self.set_speed(float(spec["speed"]))
        if spec.get("advance"):
            self.advance(float(spec["advance"]))
        return {"speed": self._speed}


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
        return cut_connection()
    return add_pending_headers(render_fault({**fault, "status": status}))


def from_agent_ui() -> bool:
    """Whether the current request is an agent's UI action (see ``UI_CHANNEL``)."""
    name, value = UI_CHANNEL
    return request.headers.get(name, "").strip().lower() == value


def cut_connection() -> Response:
    """Shut the request's socket without a byte of answer (the client sees the connection
    closed under it); the returned response is what the server fails to write."""
    try:
        request.get_data(cache=True)  # read what was sent first, so the request log still has it
    except Exception:  # noqa: BLE001 - a client already gone: nothing more to read
        pass
    sock = request.environ.get("sandbox.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return Response(b"", status=500)


# ---------------------------------------------------------------------------- chaos faults

# What a probabilistic fault does to a matching call:
#   "429"           refused as the vendor refuses an over-limit call (its own headers and body)
#   "5xx"           refused with a server error (``status``, default 503), nothing applied
#   "slow"          applied, answered after ``delay`` seconds (default SLOW_DELAY)
#   "timeout"       applied, answer held ``delay`` seconds (default TIMEOUT_HOLD), longer than
#                   a client's read timeout, then sent to a client that has given up
#   "reset"         the connection is shut before anything is applied, no answer
#   "drop_response" applied, then the connection is shut: "write applied, response lost"
CHAOS_KINDS = ("429", "5xx", "slow", "timeout", "reset", "drop_response")
REFUSING_KINDS = frozenset({"429", "5xx", "reset"})
HOLDING_KINDS = frozenset({"slow", "timeout"})
SLOW_DELAY = 2.0
TIMEOUT_HOLD = 35.0  # the adapters read with a 30 s timeout
MAX_HOLD = 600.0


@dataclass
class ChaosFault:
    """One armed probabilistic fault: calls matching (method, path prefix) suffer ``kind``
    with ``probability``, at most ``count`` times when a cap is set."""

    id: int
    kind: str
    probability: float
    path_prefix: str = "/"
    method: str | None = None
    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    count: int | None = None
    hits: int = 0

    def matches(self, method: str, paths: tuple[str, ...]) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method not in (None, "", "*") and self.method.upper() != method.upper():
            return False
        return any(path.startswith(self.path_prefix) for path in paths)

    def json(self) -> dict[str, Any]:
        return dict(vars(self))


def is_chaos_spec(spec: Mapping[str, Any]) -> bool:
    """A fault body is probabilistic when it gives a probability or a kind only chaos has
    (``drop_response`` without a probability stays the counted fault it always was)."""
    kind = str(spec.get("kind", ""))
    return "probability" in spec or (kind in CHAOS_KINDS and kind != "drop_response")


def _number(spec: Mapping[str, Any], key: str, default: float | None, low: float,
            high: float) -> float | None:
    value = spec.get(key, default)
    if value is None:
        return None
    number = float(value)
    if not low <= number <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}")
    return number


class Chaos:
    """A service's probabilistic faults and the seeded generator that decides them.

    Every matching call draws from one ``random.Random`` per service, in arrival order,
    so a run that makes the same calls in the same order meets the same faults: set the
    seed through ``/_sandbox/seed`` before a chaos run to replay it.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults: list[ChaosFault] = []

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = int(seed)
            self.rng = random.Random(self.seed)

    def add(self, spec: Mapping[str, Any], default_status: int = 503) -> ChaosFault:
        """Arm a fault from a control-API body; ValueError names what is wrong."""
        kind = str(spec.get("kind", ""))
        if kind not in CHAOS_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CHAOS_KINDS)}")
        probability = _number(spec, "probability", 1.0, 0.0, 1.0)
        default_delay = {"slow": SLOW_DELAY, "timeout": TIMEOUT_HOLD}.get(kind, 0.0)
        delay = _number(spec, "delay", default_delay, 0.0, MAX_HOLD)
        status = None
        if kind == "5xx":
            status = int(spec.get("status") or default_status)
            if not 500 <= status <= 599:
                raise ValueError("a 5xx fault's status must be 500-599")
        count = spec.get("count")
        if count is None and "probability" not in spec:
            count = 1  # "the next matching call", as the counted faults do
        fault = ChaosFault(
            id=next(self._ids), kind=kind, probability=float(probability or 0.0),
            path_prefix=str(spec.get("path_prefix") or "/"), method=spec.get("method") or None,
            delay=float(delay or 0.0), status=status,
            retry_after=_number(spec, "retry_after", None, 0.0, 86400.0),
            count=None if count is None else max(0, int(count)))
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def draw(self, method: str, paths: Iterable[str],
             kinds: Iterable[str] = CHAOS_KINDS) -> ChaosFault | None:
        """Roll for each armed fault of ``kinds`` matching the call, in the order they
        were armed; the first that fires is used up once and returned (as a copy)."""
        paths, kinds = tuple(paths), frozenset(kinds)
        with self._lock:
            for fault in self.faults:
                if fault.kind not in kinds or not fault.matches(method, paths):
                    continue
                if self.rng.random() >= fault.probability:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                return ChaosFault(**vars(fault))
        return None

    def json(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "probabilistic": [f.json() for f in self.faults]}


def hold(fault: ChaosFault | None) -> None:
    """Keep the answer of a ``slow`` or ``timeout`` call back (wall seconds, no lock held)."""
    if fault is not None and fault.kind in HOLDING_KINDS and fault.delay > 0:
        time.sleep(fault.delay)


class Outage:
    """The whole service down: every API call answers the vendor's 503 until a sandbox
    time passes (``seconds`` from the start), or until cleared when no end was given."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.active = False
        self.until: float | None = None
        self.refused = 0

    def start(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive (leave it out for 'until cleared')")
        with self._lock:
            self.active = True
            self.until = None if seconds is None else self._clock.now() + float(seconds)
            self.refused = 0

    def clear(self) -> None:
        with self._lock:
            self.active, self.until = False, None

    def remaining(self) -> float | None:
        """Sandbox seconds left; ``inf`` until cleared; None when the service is up."""
        with self._lock:
            if not self.active:
                return None
            if self.until is None:
                return math.inf
            left = self.until - self._clock.now()
            if left <= 0:
                self.active, self.until = False, None
                return None
            return left

    def refuse(self) -> float | None:
        """Count one refused call when the service is down; the seconds left, as ``remaining``."""
        left = self.remaining()
        if left is not None:
            with self._lock:
                self.refused += 1
        return left

    def control(self, method: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """``/_sandbox/outage``: POST {"seconds": n} (or {} until cleared), DELETE ends it."""
        if method == "POST":
            seconds = spec.get("seconds")
            self.start(None if seconds is None else float(seconds))
        elif method == "DELETE":
            self.clear()
        return self.json()

    def json(self) -> dict[str, Any]:
        left = self.remaining()
        return {"active": left is not None, "until": self.until,
                "remaining": None if left is None or math.isinf(left) else left,
                "refused": self.refused}


def retry_after_seconds(left: float | None) -> str | None:
    """A Retry-After value for an outage with a known end (none for an open-ended one)."""
    if left is None or math.isinf(left):
        return None
    return str(max(1, math.ceil(left)))
