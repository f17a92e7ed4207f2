"""OAuth 2.0 for every adapter: tokens that renew themselves, one grant per endpoint.

An endpoint's grant (access token, refresh token, expiries) lives in a ``TokenVault``
the application supplies: the state store, encrypted at rest. ``TokenSource`` hands out
a valid access token, renewing it before it expires and again when the vendor refuses
it (a 401 from a clock that runs ahead of ours). Renewal is the vendor's refresh-token
grant (Zendesk and X rotate: the old refresh token is spent), or a new token from the
client credentials when the grant has no refresh token.

Rotation makes renewal the one moment a grant can be lost, so it goes:

1. claim the renewal in the vault (a lease, so two processes never spend one token);
2. read the vault again: another process may have renewed already — use its tokens;
3. present the refresh token once;
4. store the answer and end the claim in one transaction.

A refused refresh token (revoked consent, expired, or spent by a process that died
before storing the answer) is recorded in the vault and raised as ``ConsentNeeded``:
the route waits until ``socialdesk connect <name>`` stores a new grant, which the next
renewal reads. The protocol flows themselves (PKCE, token requests, client
authentication) are authlib's.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError

from adapters.base import AuthFailed, FatalError, RetriableError, Secret
from adapters.credentials import ConsentNeeded, Grant, TokenVault

__all__ = ["BearerAuth", "Consent", "ConsentNeeded", "Grant", "MemoryVault", "OAuthClient", "TokenSource",
           "TokenVault"]

log = logging.getLogger("socialdesk.oauth")

# How long one process may hold a renewal before another may take it over.
RENEWAL_LEASE = 60.0
# How long a process that needs a token waits for another's renewal to be stored.
RENEWAL_WAIT = 10.0
# How many times one call is sent again after a 401 while other processes keep renewing
# (the token it took from the store was renewed away under it); after a renewal of its
# own, a 401 is final.
MAX_RESENDS = 3


@dataclass(frozen=True)
class OAuthClient:
    """How socialdesk authenticates to one vendor's authorization server."""

    vendor: str                       # "zendesk", "x", "salesforce": for messages
    endpoint: str                     # the mapping's name for the entry: for messages
    token_url: str
    client_id: str
    client_secret: Secret | None = None
    # client_secret_post | client_secret_basic | none (a public client, PKCE only)
    auth_method: str = "client_secret_post"
    grant: str = "authorization_code"  # authorization_code | client_credentials
    authorize_url: str | None = None
    scope: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)   # sent with every token request
    ca_bundle: str | None = None

    def __repr__(self) -> str:
        return f"OAuthClient({self.vendor} {self.endpoint!r}, client_id={self.client_id!r}, grant={self.grant!r})"

    def request_options(self) -> dict[str, Any]:
        """Per-request options: a per-request ``verify`` wins over REQUESTS_CA_BUNDLE."""
        return {"timeout": (5.0, 30.0), **({"verify": self.ca_bundle} if self.ca_bundle else {})}

    def session(self, **kwargs: Any) -> Any:
        """An authlib session for this client (token requests only)."""
        # authlib's requests integration loads its OpenID and JOSE parts too: loaded only
        # when a token is asked for, it costs a daemon that seldom does nothing.
        from authlib.integrations.requests_client import OAuth2Session

        secret = self.client_secret.reveal() if self.client_secret is not None else None
        session = OAuth2Session(self.client_id, secret, token_endpoint_auth_method=self.auth_method,
                                scope=self.scope, **kwargs)
        if self.ca_bundle:
            session.verify = self.ca_bundle
        session.headers["User-Agent"] = "socialdesk-oauth"
        return session


class MemoryVault:
    """A vault that lives as long as the process: for grants anyone can mint again
    (client credentials), or a single run on the sandbox."""

    def __init__(self) -> None:
        self._grant: Grant | None = None
        self._version = 0
        self._refusal: str | None = None   # why the vendor refused the stored grant, if it did
        self._refused: str | None = None

    def load(self) -> tuple[Grant | None, int, str | None]:
        return self._grant, self._version, self._refused

    def save(self, grant: Grant, version: int) -> bool:
        if version != self._version:
            return False
        self._grant, self._version, self._refused = grant, version + 1, None
        return True

    def claim(self, seconds: float) -> bool:
        return True

    def await_renewal(self, seconds: float) -> bool:
        return True

    def release(self) -> None:
        pass

    def refuse(self, reason: str, version: int) -> None:
        if version == self._version:
            self._refused = reason


class TokenSource:
    """A valid access token for one endpoint, whatever the time and whoever renewed it last."""

    def __init__(self, client: OAuthClient, vault: TokenVault | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.vault: TokenVault = vault if vault is not None else MemoryVault()
        self.clock = clock
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self._version = 0
        self.renewals = 0

    def __repr__(self) -> str:
        return f"TokenSource({self.client!r})"

    @property
    def grant(self) -> Grant | None:
        """The grant last handed out from (non-secret parts: expiry, ``extra``)."""
        return self._grant

    def use_vault(self, vault: TokenVault) -> None:
        with self._lock:
            self.vault, self._grant, self._version, self._refusal = vault, None, 0, None

    def connect_hint(self) -> str:
        return f"run 'socialdesk connect {self.client.endpoint}'"

    # ------------------------------------------------------------------ handing out

    def access_token(self) -> str:
        """A token that the vendor should take now."""
        with self._lock:
            if self._grant is None or not self._grant.fresh(self.clock()):
                self._renew(refused=None)
            assert self._grant is not None and self._grant.access_token
            return self._grant.access_token

    def refused(self, token: str) -> str:
        """The vendor refused ``token``: a renewed one, unless someone already renewed it."""
        with self._lock:
            if self._grant is not None and self._grant.access_token != token and self._grant.fresh(self.clock()):
                return str(self._grant.access_token)
            self._renew(refused=token)
            assert self._grant is not None and self._grant.access_token
            return self._grant.access_token

    # ------------------------------------------------------------------ renewing

    def _adopt_stored(self, refused: str | None) -> bool:
        """Take what the vault holds, if it is usable: True if nothing more is needed."""
        grant, version, why = self.vault.load()
        self._grant, self._version, self._refusal = grant, version, why
        if grant is None:
            return False
        usable = grant.fresh(self.clock()) and grant.access_token != refused
        return usable and why is None

    def _claim(self, refused: str | None) -> bool:
        """Take the renewal: True when this process is to renew; False when another process
        renewed meanwhile (its grant is adopted) or its token still works until it does."""
        if self.vault.claim(RENEWAL_LEASE):
            return True
        if self._usable_meanwhile(refused):
            return False   # another replica renews it early; this one still works until then
        # Another replica is renewing it now: wait for its answer in the vault, once.
        if self.vault.await_renewal(RENEWAL_WAIT):
            if self._adopt_stored(refused):
                return False
            self._renewable()   # it may have been refused meanwhile: never present it again
            if self.vault.claim(RENEWAL_LEASE):
                return True
        raise RetriableError(f"{self.client.vendor} token renewal is under way in another process")

    def _usable_meanwhile(self, refused: str | None) -> bool:
        """The stored token, due for renewal but not expired nor refused, may go out while
        another process renews it."""
        grant = self._grant
        return (grant is not None and self._refusal is None and grant.access_token != refused
                and grant.live(self.clock()))

    def _renewable(self) -> Grant:
        """The stored grant, if a refresh may be presented for it; else ConsentNeeded."""
        grant = self._grant
        if grant is None or not grant.refresh_token:
            raise ConsentNeeded(f"{self.client.vendor} {self.client.endpoint!r} has no stored OAuth grant: "
                                f"{self.connect_hint()}")
        if self._refusal is not None:
            raise ConsentNeeded(f"{self.client.vendor} refused the stored OAuth grant ({self._refusal}): "
                                f"{self.connect_hint()}")
        return grant

    def _renew(self, refused: str | None) -> None:
        if self._adopt_stored(refused):
            return
        if self.client.grant == "client_credentials":
            try:
                token = self._request({"grant_type": "client_credentials"})
            except _Refused as err:
                raise self._client_refused(err) from None
            self._store(token, keep_refresh=None)
            return
        self._renewable()
        if not self._claim(refused):
            return
        try:
            # The claim is ours: read again, another process may have renewed in between.
            if self._adopt_stored(refused):
                return
            # Another process may have recorded a refusal meanwhile: never present it again.
            grant, version = self._renewable(), self._version
            log.info("%s %s: renewing the access token", self.client.vendor, self.client.endpoint)
            try:
                token = self._request({"grant_type": "refresh_token", "refresh_token": grant.refresh_token})
            except _Refused as err:
                if not err.grant:
                    raise self._client_refused(err) from None
                self.vault.refuse(err.reason, version)
                self._grant = None   # until a new consent is stored, no call goes out with the old token
                message = f"{self.client.vendor} refused the stored OAuth grant ({err.reason}): {self.connect_hint()}"
                log.error("%s %s: %s", self.client.vendor, self.client.endpoint, message)   # once: it is recorded
                raise ConsentNeeded(message) from None
            # The refresh token is spent now: nothing may come between the answer and the vault.
            self._store(token, keep_refresh=grant.refresh_token)
        finally:
            self.vault.release()

    def _store(self, token: Mapping[str, Any], keep_refresh: str | None) -> None:
        grant = Grant.from_token(token, self.clock(), keep_refresh=keep_refresh)
        if not self.vault.save(grant, self._version):
            # Someone stored a newer grant while we asked (connect, a replica): theirs wins,
            # ours is still valid for this process's calls.
            log.info("%s %s: a newer grant was stored meanwhile", self.client.vendor, self.client.endpoint)
            self._grant = grant
            return
        self._grant, self._version = grant, self._version + 1
        self.renewals += 1
        log.info("%s %s: access token renewed, valid until %s", self.client.vendor, self.client.endpoint,
                 time.strftime("%H:%M:%S", time.gmtime(grant.expires_at)) if grant.expires_at else "revoked")

    def _client_refused(self, err: _Refused) -> AuthFailed:
        return AuthFailed(f"{self.client.vendor} refused socialdesk's OAuth client {self.client.client_id!r} "
                          f"({err.reason}): check client_id and client_secret of {self.client.endpoint!r}")

    def _request(self, body: dict[str, str]) -> dict[str, Any]:
        """One token request; a refusal is _Refused, a passing fault RetriableError."""
        session = self.client.session()
        try:
            if body["grant_type"] == "refresh_token":
                token = session.refresh_token(self.client.token_url, refresh_token=body["refresh_token"],
                                              **self.client.extra, **self.client.request_options())
            else:
                token = session.fetch_token(self.client.token_url, grant_type=body["grant_type"],
                                            **self.client.extra, **self.client.request_options())
        except requests.RequestException as err:
            raise RetriableError(f"{self.client.vendor} token endpoint: {type(err).__name__}") from None
        except AuthlibBaseError as err:
            if err.error in ("temporarily_unavailable", "server_error", "slow_down"):
                raise RetriableError(f"{self.client.vendor} token endpoint: {err.error}") from None
            raise _refusal(str(err.error or "refused"), err.description) from None
        except ValueError as err:
            raise RetriableError(f"{self.client.vendor} token endpoint: unreadable answer ({err})") from None
        finally:
            session.close()
        return dict(token)


class _Refused(Exception):
    """The token endpoint refused the request; ``grant`` says it was the grant, not the client."""

    def __init__(self, reason: str, grant: bool) -> None:
        super().__init__(reason)
        self.reason, self.grant = reason, grant


def _refusal(error: str, description: str | None) -> _Refused:
    reason = f"{error}: {description}" if description else error
    client_errors = ("invalid_client", "unauthorized_client", "invalid_client_id", "unsupported_grant_type")
    return _Refused(reason, grant=error not in client_errors)


class BearerAuth(requests.auth.AuthBase):
    """requests auth: the source's current token; a 401 renews it once and resends."""

    def __init__(self, source: TokenSource, session: requests.Session | None = None) -> None:
        self.source = source
        self.session = session

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.source.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        sent = response.request
        resent = getattr(sent, "_socialdesk_resent", 0)
        if response.status_code != 401 or resent >= MAX_RESENDS:
            return response
        used = str(sent.headers.get("Authorization", "")).removeprefix("Bearer ")
        renewals = self.source.renewals
        # A refused grant or client raises here, with the message that says what to do
        # (run connect, check the client id); it passes through the HTTP libraries untouched.
        token = self.source.refused(used)
        if token == used:
            return response
        response.content  # read it, so the connection can be reused
        response.close()
        again = sent.copy()
        again.headers["Authorization"] = f"Bearer {token}"
        # A token this process just got is final; one read from the store may have been
        # renewed away by another replica meanwhile, and a 401 then asks the store again.
        again._socialdesk_resent = MAX_RESENDS if self.source.renewals != renewals else resent + 1  # type: ignore[attr-defined]
        sender = self.session.send if self.session is not None else response.connection.send
        answer = sender(again, **kwargs)
        answer.history.append(response)
        return answer


# --------------------------------------------------------------------------- consent


@dataclass
class Consent:
    """One authorization-code consent in progress (``socialdesk connect``)."""

    client: OAuthClient
    redirect_uri: str
    url: str
    state: str
    verifier: str

    @classmethod
    def begin(cls, client: OAuthClient, redirect_uri: str, **params: str) -> "Consent":
        if not client.authorize_url:
            raise FatalError(f"{client.vendor} {client.endpoint!r}: no authorize URL known for a consent")
        verifier = secrets.token_urlsafe(64)
        session = client.session(redirect_uri=redirect_uri, code_challenge_method="S256")
        url, state = session.create_authorization_url(client.authorize_url, code_verifier=verifier, **params)
        session.close()
        return cls(client, redirect_uri, url, state, verifier)

    def finish(self, callback_url: str, clock: Callable[[], float] = time.time) -> Grant:
        """Exchange the code the vendor sent back to ``callback_url`` for a grant; a refusal
        (``error=access_denied``), a missing code or another consent's state is said plainly."""
        answer = parse_qs(urlsplit(callback_url).query)
        if answer.get("error"):
            why = answer["error"][0] + (f" ({answer['error_description'][0]})" if answer.get("error_description") else "")
            raise AuthFailed(f"{self.client.vendor} did not grant access: {why}")
        if not answer.get("code"):
            raise AuthFailed(f"the address given back from {self.client.vendor}'s consent page carries no code: "
                             "paste the whole address the browser was sent to")
        if answer.get("state", [""])[0] != self.state:
            raise AuthFailed(f"the address given back from {self.client.vendor}'s consent page belongs to another "
                             "consent (its state differs): start again")
        session = self.client.session(redirect_uri=self.redirect_uri, state=self.state,
                                      code_challenge_method="S256")
        try:
            token = session.fetch_token(self.client.token_url, grant_type="authorization_code",
                                        code=answer["code"][0], code_verifier=self.verifier,
                                        **self.client.extra, **self.client.request_options())
        except AuthlibBaseError as err:
            raise AuthFailed(f"{self.client.vendor} did not grant access: {err.error}"
                             + (f" ({err.description})" if err.description else "")) from None
        except requests.RequestException as err:
            raise RetriableError(f"{self.client.vendor} token endpoint: {type(err).__name__}") from None
        finally:
            session.close()
        return Grant.from_token(token, clock())
