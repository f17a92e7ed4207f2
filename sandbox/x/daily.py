"""X's 24-hour caps and the pagination knob, and their control routes.

Besides the 15-minute window of every endpoint, posting and sending DMs have caps per
24 hours, per user and per app, reported on every answer of those endpoints in
``x-user-limit-24hour-*`` and ``x-app-limit-24hour-*`` (CONTRACTS.md 1.5: limit,
remaining, reset as a Unix time, like ``x-rate-limit-*``). A call refused by a spent
24-hour cap is a 429 whose 15-minute headers may still show calls remaining.
"""
from __future__ import annotations

import json
import random
import threading
from typing import TYPE_CHECKING, Any

from flask import Response, request

from sandbox.common import Window
from sandbox.x.constants import DAY, JSON_TYPE

if TYPE_CHECKING:
    from sandbox.x.model import XState

# (family, scope) -> (limit, seconds): LIMITS.md (create post: 10,000 / 24 h per app;
# DMs: 1,000 / 24 h per user, 15,000 / 24 h per app); the per-user post cap is X's
# long-standing 2,400 posts a day (help center, not in the API docs).
DAILY_LIMITS: dict[tuple[str, str], tuple[int, int]] = {
    ("create_tweet", "user"): (2400, DAY),
    ("create_tweet", "app"): (10_000, DAY),
    ("dm_write", "user"): (1000, DAY),
    ("dm_write", "app"): (15_000, DAY),
}
SCOPE_HEADER = {"user": "x-user-limit-24hour", "app": "x-app-limit-24hour"}


class DailyCaps:
    """The 24-hour windows of the families that have them; thread-safe."""

    def __init__(self) -> None:
        self.overrides: dict[tuple[str, str], tuple[int, int]] = {}
        self.windows: dict[tuple[str, str, str], Window] = {}
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.overrides.clear()
            self.windows.clear()

    def set(self, family: str, scope: str, limit: int, seconds: int) -> None:
        if (family, scope) not in DAILY_LIMITS:
            raise KeyError(family)
        if limit < 0 or seconds <= 0:
            raise ValueError("limit is 0 or more and seconds above 0")
        with self.lock:
            self.overrides[(family, scope)] = (limit, seconds)

    def _windows(self, family: str, who: str) -> list[tuple[str, Window]]:
        found = []
        for (fam, scope), figures in DAILY_LIMITS.items():
            if fam != family or (scope == "user" and who == "app"):
                continue
            limit, seconds = self.overrides.get((fam, scope), figures)
            key = (fam, scope, who if scope == "user" else "app")
            window = self.windows.get(key)
            if window is None or (window.limit, window.seconds) != (limit, seconds):
                window = self.windows[key] = Window(limit, seconds)
            found.append((scope, window))
        return found

    def take(self, family: str, who: str, now: float, count: bool) -> tuple[bool, dict[str, str]]:
        """(allowed, headers) for one call of ``family`` by ``who``. A call is counted only
        when ``count`` and every cap has room; the headers tell each cap after it."""
        headers: dict[str, str] = {}
        with self.lock:
            windows = self._windows(family, who)
            for _, window in windows:
                if now >= window.started + window.seconds:
                    window.started, window.used = now, 0
            allowed = all(w.used < w.limit for _, w in windows)
            for scope, window in windows:
                if allowed and count:
                    window.used += 1
                name = SCOPE_HEADER[scope]
                headers[f"{name}-limit"] = str(window.limit)
                headers[f"{name}-remaining"] = str(max(0, window.limit - window.used))
                headers[f"{name}-reset"] = str(int(window.started + window.seconds))
        return allowed, headers


# How often a last page still names a next page, which is then empty: X's pagination
# guide says a ``next_token`` does not promise more results. A tenth of reads by default.
TRAILING_EMPTY_PAGE_DEFAULT = 0.1


class TrailingPages:
    """How often a last page still names a next page (which is then empty)."""

    def __init__(self, seed: int, chance: float = TRAILING_EMPTY_PAGE_DEFAULT) -> None:
        if not 0 <= chance <= 1:
            raise ValueError("trailing_empty_page is a number from 0 to 1")
        self.default = self.chance = float(chance)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def reset(self, seed: int) -> None:
        with self.lock:
            self.chance = self.default
            self.rng.seed(seed)

    def draw(self) -> bool:
        with self.lock:
            return self.chance > 0 and self.rng.random() < self.chance


class FidelityControl:
    """``/_sandbox/daily_limits`` and ``/_sandbox/pagination`` of ``XApi``."""

    state: XState

    @staticmethod
    def _reply(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type=JSON_TYPE)

    def c_daily_limits(self) -> Response:
        """POST ``{"family": "create_tweet" | "dm_write", "scope": "user" | "app", "limit",
        "seconds"?}``; GET the figures."""
        caps = self.state.daily
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                caps.set(str(body.get("family")), str(body.get("scope", "user")),
                         int(body["limit"]), int(body.get("seconds", DAY)))
            except KeyError:
                return self._reply({"error": "family and scope are one of "
                                    f"{sorted(DAILY_LIMITS)}; limit is required"}, 400)
            except (TypeError, ValueError) as error:
                return self._reply({"error": str(error)}, 400)
        figures = [{"family": f, "scope": s, "limit": limit, "seconds": seconds}
                   for (f, s), (limit, seconds) in {**DAILY_LIMITS, **caps.overrides}.items()]
        return self._reply({"caps": figures})

    def c_pagination(self) -> Response:
        """POST ``{"trailing_empty_page": p}``: the chance (0 to 1) that a last page
        still carries a ``next_token`` leading to an empty page (drawn from the seed)."""
        pages = self.state.pages
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            value = body.get("trailing_empty_page")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                return self._reply({"error": "trailing_empty_page is a number from 0 to 1"}, 400)
            with pages.lock:
                pages.chance = float(value)
        return self._reply({"trailing_empty_page": pages.chance})
