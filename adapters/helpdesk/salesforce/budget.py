"""socialdesk's share of a Salesforce org's daily API allocation (``MetersApiBudget``)."""
from __future__ import annotations

import collections
from typing import Any, Callable, Mapping

from adapters.base import RateLimited

DAY = 24 * 3600


class SalesforceBudget:
    """Counts socialdesk's own calls over the last 24 hours against its share of the
    allocation the org reports (``Sforce-Limit-Info``)."""

    clock: Callable[[], float]
    settings: Any
    api_usage: tuple[int, int] | None
    _calls: collections.deque[float]

    def _spend(self) -> None:
        """Keep socialdesk's own calls within its share of the daily allocation."""
        now = self.clock()
        while self._calls and self._calls[0] <= now - DAY:
            self._calls.popleft()
        if self.api_usage is not None:
            allowed = int(self.api_usage[1] * self.settings.budget_share)
            if len(self._calls) >= allowed:
                wait = self._calls[0] + DAY - now if self._calls else 3600.0
                raise RateLimited(f"socialdesk's share ({self.settings.budget_share:.0%}) of the "
                                  f"daily API allocation is used", max(wait, 60.0))
        self._calls.append(now)

    def budget_pressure(self) -> float:
        """How much of socialdesk's share of today's allocation is used (0 to 1)."""
        if self.api_usage is None:
            return 0.0
        allowed = max(int(self.api_usage[1] * self.settings.budget_share), 1)
        return min(len(self._calls) / allowed, 1.0)

    def budget(self) -> dict[str, Any]:
        """For ``socialdesk status`` and the next start: org usage and socialdesk's own
        calls in the last 24 hours, with those calls counted per minute so a restarted
        daemon goes on counting instead of starting from zero."""
        per_minute: dict[str, int] = {}
        for at in self._calls:
            minute = str(int(at // 60) * 60)
            per_minute[minute] = per_minute.get(minute, 0) + 1
        return {"org_usage": self.api_usage, "socialdesk_calls_24h": len(self._calls),
                "share": self.settings.budget_share, "calls_per_minute": per_minute}

    def restore_budget(self, report: Mapping[str, Any]) -> int:
        """Take back the calls an earlier run made in the last 24 hours (from ``budget()``)."""
        now = self.clock()
        restored: list[float] = []
        for minute, count in sorted((report.get("calls_per_minute") or {}).items(), key=lambda kv: float(kv[0])):
            at = float(minute)
            if at > now - DAY and isinstance(count, int):
                restored.extend([at] * max(count, 0))
        self._calls = collections.deque(sorted([*restored, *self._calls]))
        usage = report.get("org_usage")
        if self.api_usage is None and isinstance(usage, (list, tuple)) and len(usage) == 2:
            self.api_usage = (int(usage[0]), int(usage[1]))
        return len(restored)
