"""Access tokens: the Page token and the app token, and what becomes of them.

A Page token obtained from a long-lived user token does not expire (``expires_at`` 0 in
``debug_token``) but stops working when the user changes their password or Meta ends the
session (190/460), when the app is removed (190/458), or at an expiry the control API sets
(190/463). The app token is ``{app-id}|{app-secret}``.
"""
from __future__ import annotations

import hmac
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sandbox.common import Clock
from sandbox.meta import errors
from sandbox.meta.constants import PERMISSIONS

PAGE = "page"
APP = "app"
# Meta writes token times in Pacific time: "Thursday, 29-Jul-21 10:00:00 PDT".
_PACIFIC = (timezone(timedelta(hours=-7), "PDT"), timezone(timedelta(hours=-8), "PST"))


def pacific(ts: float) -> str:
    """A time as Meta's token errors write it (daylight saving by a fixed rule: PDT from
    the second Sunday of March to the first Sunday of November)."""
    utc = datetime.fromtimestamp(ts, tz=timezone.utc)
    year = utc.year
    march = datetime(year, 3, 8, 10, tzinfo=timezone.utc)
    start = march + timedelta(days=(6 - march.weekday()) % 7)
    november = datetime(year, 11, 1, 9, tzinfo=timezone.utc)
    end = november + timedelta(days=(6 - november.weekday()) % 7)
    zone = _PACIFIC[0] if start <= utc < end else _PACIFIC[1]
    local = utc.astimezone(zone)
    return local.strftime("%A, %d-%b-%y %H:%M:%S ") + str(zone.tzname(None))


def _page_token() -> str:
    """Meta's user and Page tokens start ``EAA`` and run to some 200 characters."""
    alphabet = string.ascii_letters + string.digits
    return "EAA" + "".join(secrets.choice(alphabet) for _ in range(190))


@dataclass
class Grant:
    token: str
    kind: str
    issued_at: float
    expires_at: float = 0.0          # 0: never
    state: str = "valid"             # valid | invalidated | uninstalled
    scopes: tuple[str, ...] = PERMISSIONS


class Tokens:
    def __init__(self, clock: Clock, app_id: str, app_secret: str,
                 page_token: str | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.app_id, self.app_secret = app_id, app_secret
        self.page_token = page_token or _page_token()
        self.app_token = f"{app_id}|{app_secret}"
        self.grants: dict[str, Grant] = {}
        self.restore()

    def restore(self) -> None:
        """The fixed Page and app tokens work again; tokens minted since are forgotten."""
        with self._lock:
            now = self._clock.now()
            self.grants = {self.page_token: Grant(self.page_token, PAGE, now),
                           self.app_token: Grant(self.app_token, APP, now)}

    def find(self, token: str) -> Grant | None:
        with self._lock:
            for known, grant in self.grants.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return grant
        return None

    def check(self, token: str | None) -> Grant:
        """The grant a request's token stands for, or the GraphError Meta answers."""
        if not token:
            raise errors.token_missing()
        grant = self.find(token)
        if grant is None:
            raise errors.token_unparsable()
        problem = self.problem(grant)
        if problem is not None:
            raise problem
        return grant

    def problem(self, grant: Grant) -> errors.GraphError | None:
        now = self._clock.now()
        if grant.state == "invalidated":
            return errors.token_invalidated()
        if grant.state == "uninstalled":
            return errors.app_not_installed(self.app_id)
        if grant.expires_at and now >= grant.expires_at:
            return errors.token_expired(pacific(grant.expires_at), pacific(now))
        return None

    def control(self, action: str, which: str = PAGE, seconds: float | None = None) -> Grant:
        """``/_sandbox/tokens``: expire (now, or in ``seconds``), revoke (the session is
        invalidated), uninstall (the app is removed from the Page), restore."""
        grant = self.grants[self.page_token if which == PAGE else self.app_token]
        now = self._clock.now()
        with self._lock:
            if action == "expire":
                grant.expires_at = now + float(seconds or 0)
            elif action == "revoke":
                grant.state = "invalidated"
            elif action == "uninstall":
                grant.state = "uninstalled"
            elif action == "restore":
                grant.state, grant.expires_at = "valid", 0.0
            else:
                raise ValueError("action is one of expire, revoke, uninstall, restore")
        return grant

    def json(self) -> dict[str, object]:
        now = self._clock.now()
        out: dict[str, object] = {}
        for grant in self.grants.values():
            problem = self.problem(grant)
            out[grant.kind] = {"state": grant.state, "expires_at": int(grant.expires_at),
                               "valid": problem is None,
                               "error_subcode": problem.subcode if problem else None,
                               "now": int(now)}
        return out
