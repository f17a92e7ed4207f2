"""Sessions, the daily API allocation, editions and query locators."""
from __future__ import annotations

from typing import Any

from sandbox.oauth import ACCESS, REFRESH, Issued, Refused
from sandbox.salesforce.constants import EDITIONS, LOCATOR_IDLE, SESSION_SECONDS
from sandbox.salesforce.records import _token_chars


class Sessions:
    """Sessions (the org's access tokens, kept in ``self.auth.tokens``) and usage of
    ``SalesforceState``."""

    def mint(self, kind: str) -> str:
        """Salesforce's shapes: ``<org15>!AQ...`` sessions, ``5Aep...`` refresh tokens,
        ``aPrx...`` authorization codes."""
        if kind == ACCESS:
            return f"{self.org15}!AQ{_token_chars(94)}"
        if kind == REFRESH:
            return "5Aep861" + _token_chars(80).replace(".", "A").replace("_", "9")
        return "aPrx" + _token_chars(80).replace(".", "x")

    def new_session(self, user_id: str, client_id: str | None = None, grant: str = "soap_login",
                    with_refresh: bool = False, scope: str = "api") -> Issued:
        """A session that times out after ``SESSION_SECONDS`` idle on the sandbox clock
        (and a refresh token that lives as the org's refresh-token policy says)."""
        return self.auth.tokens.issue(user_id, client_id=client_id, grant=grant, scope=scope,
                                      lifetime=None, idle=SESSION_SECONDS,
                                      with_refresh=with_refresh,
                                      refresh_lifetime=self.settings["refresh_token_expires_in"])

    def authenticate(self, header: str) -> str | None:
        if not header.startswith(("Bearer ", "OAuth ")):
            return None
        try:
            session = self.auth.tokens.access(header.split(" ", 1)[1].strip())
        except Refused:
            return None
        user = self.records["User"].get(session.subject)
        return session.subject if user is not None and user.get("IsActive") else None

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
