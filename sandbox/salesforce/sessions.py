"""Sessions, the daily API allocation, editions and query locators."""
from __future__ import annotations

from typing import Any

from sandbox.salesforce.constants import EDITIONS, LOCATOR_IDLE, SESSION_SECONDS
from sandbox.salesforce.records import _token_chars, Session


class Sessions:
    """Sessions and usage of ``SalesforceState``."""

    def new_session(self, user_id: str) -> str:
        token = f"{self.org15}!AQ{_token_chars(94)}"
        now = self.clock.now()
        self.sessions[token] = Session(user_id, now, now)
        return token

    def authenticate(self, header: str) -> str | None:
        if not header.startswith(("Bearer ", "OAuth ")):
            return None
        token = header.split(" ", 1)[1].strip()
        session = self.sessions.get(token)
        now = self.clock.now()
        if session is None or session.expired:
            return None
        if not session.static and now - session.last_used > SESSION_SECONDS:
            session.expired = True
            return None
        session.last_used = now
        user = self.records["User"].get(session.user_id)
        return session.user_id if user is not None and user.get("IsActive") else None

    def take_api_call(self) -> tuple[bool, int, int]:
        """Count one API request against the rolling daily allocation: (allowed, used, max)."""
        now = self.clock.now()
        while self.api_calls and self.api_calls[0] <= now - self.daily_window:
            self.api_calls.popleft()
        if len(self.api_calls) >= self.daily_limit:
            return False, len(self.api_calls), self.daily_limit
        self.api_calls.append(now)
        return True, len(self.api_calls), self.daily_limit

    def set_edition(self, edition: str, licenses: int) -> None:
        """The org's daily allocation as its edition and licence count give it."""
        if edition not in EDITIONS:
            raise ValueError(f"edition must be one of {', '.join(EDITIONS)}")
        if licenses < 0:
            raise ValueError("licenses must be 0 or more")
        base, per_licence = EDITIONS[edition]
        self.edition, self.licenses = edition, licenses
        self.daily_limit = base + per_licence * licenses

    def api_used(self) -> int:
        now = self.clock.now()
        while self.api_calls and self.api_calls[0] <= now - self.daily_window:
            self.api_calls.popleft()
        return len(self.api_calls)

    def store_locator(self, rows: list[dict[str, Any]], total: int) -> str:
        now = self.clock.now()
        for key in [k for k, v in self.locators.items() if now - v["used"] > LOCATOR_IDLE]:
            del self.locators[key]
        locator = self.ids.next("01g")
        self.locators[locator] = {"rows": rows, "total": total, "used": now}
        return locator
