"""Rate limiting and the usage headers.

Page-token calls count against the Business Use Case budget of the object they touch
(``pages`` for the Page, ``instagram`` for the Instagram account) and carry
``X-Business-Use-Case-Usage``; app-token calls count against the app's Platform budget.
Every answer carries ``X-App-Usage``. Figures are percentages of the budget; past 100 %
calls fail (Pages 80001, Instagram 80002, app 4) until the window ends.
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass

from sandbox.common import Clock
from sandbox.meta import errors
from sandbox.meta.constants import APP_BUDGET, INSTAGRAM_BUDGET, PAGE_BUDGET

BUCKETS = {"pages": PAGE_BUDGET, "instagram": INSTAGRAM_BUDGET, "app": APP_BUDGET}


@dataclass
class Bucket:
    calls: int
    seconds: float
    started: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.started + self.seconds:
            self.started, self.used = now, 0

    def percent(self) -> int:
        return min(999, math.ceil(100 * self.used / self.calls)) if self.calls else 100

    def regain_minutes(self, now: float) -> int:
        if self.used < self.calls:
            return 0
        return max(1, math.ceil((self.started + self.seconds - now) / 60))


class Usage:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.budgets: dict[str, tuple[int, float]] = {}
        self.buckets: dict[str, Bucket] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.budgets = {k: (int(v[0]), float(v[1])) for k, v in BUCKETS.items()}
            self.buckets = {k: Bucket(*v) for k, v in self.budgets.items()}

    def set(self, bucket: str, calls: int, seconds: float | None = None) -> None:
        if bucket not in BUCKETS:
            raise ValueError(f"bucket is one of {sorted(BUCKETS)}")
        if calls < 1:
            raise ValueError("calls is a positive number")
        with self._lock:
            seconds = float(seconds or self.budgets[bucket][1])
            self.budgets[bucket] = (int(calls), seconds)
            old = self.buckets[bucket]
            self.buckets[bucket] = Bucket(int(calls), seconds, old.started, old.used)

    def take(self, bucket: str) -> errors.GraphError | None:
        """Count one call against ``bucket``; the error Meta answers when it is spent."""
        now = self._clock.now()
        with self._lock:
            found = self.buckets[bucket]
            found.roll(now)
            if found.used >= found.calls:
                return {"pages": errors.page_buc_limit, "instagram": errors.instagram_buc_limit,
                        "app": errors.app_limit}[bucket]()
            found.used += 1
        return None

    def headers(self, bucket: str, owner: str) -> dict[str, str]:
        """``X-App-Usage`` always; ``X-Business-Use-Case-Usage`` for a BUC bucket. CPU and
        total time are reported as a share of the call count (the stand-in does no work
        worth measuring)."""
        now = self._clock.now()
        with self._lock:
            app = self.buckets["app"]
            app.roll(now)
            out = {"X-App-Usage": json.dumps(_figures(app), separators=(",", ":"))}
            if bucket != "app":
                found = self.buckets[bucket]
                found.roll(now)
                entry = {"type": bucket, **_figures(found),
                         "estimated_time_to_regain_access": found.regain_minutes(now)}
                out["X-Business-Use-Case-Usage"] = json.dumps({owner: [entry]},
                                                              separators=(",", ":"))
        return out

    def json(self) -> dict[str, object]:
        now = self._clock.now()
        with self._lock:
            out = {}
            for name, bucket in self.buckets.items():
                bucket.roll(now)
                out[name] = {"calls": bucket.calls, "seconds": bucket.seconds,
                             "used": bucket.used, "percent": bucket.percent(),
                             "resets_at": bucket.started + bucket.seconds}
            return out


def _figures(bucket: Bucket) -> dict[str, int]:
    share = bucket.percent()
    return {"call_count": share, "total_cputime": share // 4, "total_time": share // 2}
