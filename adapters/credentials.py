"""Credentials between the adapters and the state that keeps them: the grant, the vault.

An adapter that signs in with OAuth keeps its grant in a ``TokenVault`` the application
supplies (the state store: encrypted, shared by replicas); ``adapters.oauth`` renews it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from adapters.base import AuthFailed, RetriableError

# Renew this long before the vendor's expiry, so no call goes out with a dying token.
EARLY = 120.0


class ConsentNeeded(AuthFailed):
    """The stored grant is refused: an admin must run ``socialdesk connect`` again."""


@dataclass(frozen=True)
class Grant:
    """What the vault keeps for an endpoint; times are Unix seconds."""

    access_token: str | None
    expires_at: float | None
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    scope: str | None = None
    obtained_at: float = 0.0
    # What else the vendor said that is not a secret (Salesforce: instance_url, id).
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Grant(access={'****' if self.access_token else None}, expires_at={self.expires_at}, "
                f"refresh={'****' if self.refresh_token else None})")

    @classmethod
    def from_token(cls, token: Mapping[str, Any], now: float, keep_refresh: str | None = None) -> "Grant":
        """A token endpoint's answer; a vendor that does not rotate sends no refresh token
        with a refresh, and the one presented stays."""
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise RetriableError("the token endpoint answered without an access_token")
        expires_in = _seconds(token.get("expires_in"))
        refresh_in = _seconds(token.get("refresh_token_expires_in"))
        refresh = token.get("refresh_token") if isinstance(token.get("refresh_token"), str) else None
        extra = {key: str(token[key]) for key in ("instance_url", "id") if isinstance(token.get(key), str)}
        return cls(access_token=access, expires_at=now + expires_in if expires_in is not None else None,
                   refresh_token=refresh or keep_refresh,
                   refresh_expires_at=now + refresh_in if refresh_in is not None else None,
                   scope=str(token["scope"]) if token.get("scope") else None, obtained_at=now, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "expires_at": self.expires_at,
                "refresh_token": self.refresh_token, "refresh_expires_at": self.refresh_expires_at,
                "scope": self.scope, "obtained_at": self.obtained_at, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Grant":
        return cls(access_token=data.get("access_token"), expires_at=data.get("expires_at"),
                   refresh_token=data.get("refresh_token"), refresh_expires_at=data.get("refresh_expires_at"),
                   scope=data.get("scope"), obtained_at=float(data.get("obtained_at") or 0.0),
                   extra=dict(data.get("extra") or {}))

    def fresh(self, now: float) -> bool:
        """Good for a while yet: not within ``EARLY`` of its expiry."""
        return bool(self.access_token) and (self.expires_at is None or self.expires_at - EARLY > now)

    def live(self, now: float) -> bool:
        """Not expired yet (though perhaps soon)."""
        return bool(self.access_token) and (self.expires_at is None or self.expires_at > now)


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


class TokenVault(Protocol):
    """One endpoint's slot in durable, encrypted storage (the state store implements it)."""

    def load(self) -> tuple[Grant | None, int, str | None]:
        """The stored grant, its version (0: none yet) and why it was refused, if it was."""
        raise NotImplementedError

    def save(self, grant: Grant, version: int) -> bool:
        """Store ``grant`` if the slot is still at ``version``; ends a claim; False if not."""
        raise NotImplementedError

    def claim(self, seconds: float) -> bool:
        """Take the renewal for ``seconds``; False while another process holds it."""
        raise NotImplementedError

    def await_renewal(self, seconds: float) -> bool:
        """Wait up to ``seconds`` while another process holds the renewal; True once it has
        ended (its grant stored, or the claim given up or run out)."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def refuse(self, reason: str, version: int) -> None:
        """Record that the vendor refused the grant at ``version``."""
        raise NotImplementedError


