"""OAuth as the vendors run it, shared by the three stand-ins.

Issued tokens expire by the sandbox clock; a refresh token either rotates (the one
presented is spent) or stays, as the vendor does; an admin can revoke the app's consent;
an authorization code is single use, short-lived and bound to its client, redirect URI
and PKCE challenge. Each service keeps one ``AuthServer``: a ``TokenBook`` (every
credential the service honours, the fixed ones it starts with included), a ``CodeBook``
and the ``Consent`` switch. The books decide; each service answers in its vendor's words,
from ``Refused.why``.

The books keep no token value: a credential is found by the SHA-256 of its value and
named by a short prefix of that digest, so nothing they list can be replayed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from flask import Flask, Response, request

from sandbox.common import Clock

API_TOKEN, ACCESS, REFRESH = "api_token", "oauth_access", "oauth_refresh"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 section 4.1


class Refused(Exception):
    """A credential or code the server will not take. ``why`` is one of: unknown, expired,
    revoked, rotated, used, client, redirect_uri, verifier."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def fingerprint(value: str) -> str:
    """How the books name a credential: the start of its SHA-256."""
    return _digest(value)[:12]


@dataclass
class Token:
    """One credential as the server remembers it (never its value)."""

    id: str
    kind: str
    subject: str
    issued_at: float
    expires_at: float | None
    client_id: str | None = None
    grant: str = "fixed"
    scope: str = ""
    idle: float | None = None  # an idle timeout that slides with use (Salesforce sessions)
    last_used: float = 0.0
    family: str = ""  # the consent it descends from: revoking the consent ends them all
    pair: str | None = None  # the refresh token it came with / the latest access token issued
    fixed: bool = False  # started with the service, not issued by a flow
    revoked: bool = False
    reason: str | None = None  # rotated | revoked | expired
    replaced_by: str | None = None
    uses: int = 0

    def deadline(self) -> float | None:
        """When time alone ends it (an idle timeout counts from the last use)."""
        if self.idle is None:
            return self.expires_at
        slide = self.last_used + self.idle
        return slide if self.expires_at is None else min(slide, self.expires_at)

    def expired(self, now: float) -> bool:
        deadline = self.deadline()
        return self.reason == "expired" or (deadline is not None and now >= deadline)

    def end(self, reason: str, replaced_by: str | None = None) -> None:
        if not self.revoked:
            self.revoked, self.reason, self.replaced_by = True, reason, replaced_by

    def json(self, now: float) -> dict[str, Any]:
        reason = self.reason or ("expired" if self.expired(now) else None)
        return {"id": self.id, "kind": self.kind, "issued_at": self.issued_at,
                "expires_at": self.deadline(), "revoked": self.revoked, "reason": reason,
                "active": reason is None, "client_id": self.client_id, "grant": self.grant,
                "scope": self.scope, "subject": self.subject, "family": self.family,
                "pair": self.pair, "replaced_by": self.replaced_by, "uses": self.uses,
                "fixed": self.fixed}


@dataclass
class Issued:
    """What a token request hands out: values for the answer, records for the details."""

    access: str
    access_token: Token
    refresh: str | None = None
    refresh_token: Token | None = None


class TokenBook:
    """Every credential a service honours: issue, check, refresh, revoke, list.

    Thread-safe on its own lock; ``mint(kind)`` makes a new value in the vendor's format.
    """

    def __init__(self, clock: Clock, mint: Callable[[str], str]) -> None:
        self._clock = clock
        self._mint = mint
        self._lock = threading.Lock()
        self._by_digest: dict[str, Token] = {}
        self._by_id: dict[str, Token] = {}

    # -- issuing -----------------------------------------------------------------------

    def _record(self, value: str, kind: str, subject: str, now: float, **fields: Any) -> Token:
        digest = _digest(value)
        token = Token(id=digest[:12], kind=kind, subject=subject, issued_at=now, last_used=now,
                      **fields)
        token.family = token.family or token.id
        self._by_digest[digest] = token
        self._by_id[token.id] = token
        return token

    def add(self, value: str, kind: str, subject: str, *, expires_at: float | None = None,
            idle: float | None = None, client_id: str | None = None, grant: str = "fixed",
            scope: str = "", fixed: bool = True) -> Token:
        """Honour a credential made outside the OAuth flows (the service's own tokens, a
        login session)."""
        with self._lock:
            return self._record(value, kind, subject, self._clock.now(), expires_at=expires_at,
                                idle=idle, client_id=client_id, grant=grant, scope=scope,
                                fixed=fixed)

    def _issue(self, kind: str, subject: str, now: float, lifetime: float | None,
               **fields: Any) -> tuple[str, Token]:
        value = self._mint(kind)
        expires_at = None if lifetime is None else now + lifetime
        return value, self._record(value, kind, subject, now, expires_at=expires_at, **fields)

    def issue(self, subject: str, *, client_id: str | None, grant: str, scope: str,
              lifetime: float | None, refresh_lifetime: float | None = None,
              with_refresh: bool = False, idle: float | None = None,
              family: str | None = None) -> Issued:
        """A new access token (and refresh token) for ``subject``; lifetimes in seconds,
        None for no end."""
        with self._lock:
            return self._issue_locked(subject, client_id, grant, scope, lifetime,
                                      refresh_lifetime, with_refresh, idle, family)

    def _issue_locked(self, subject: str, client_id: str | None, grant: str, scope: str,
                      lifetime: float | None, refresh_lifetime: float | None,
                      with_refresh: bool, idle: float | None, family: str | None) -> Issued:
        now = self._clock.now()
        fields = {"client_id": client_id, "grant": grant, "scope": scope}
        access, access_token = self._issue(ACCESS, subject, now, lifetime, idle=idle,
                                           family=family or "", **fields)
        issued = Issued(access, access_token)
        if with_refresh:
            issued.refresh, issued.refresh_token = self._issue(
                REFRESH, subject, now, refresh_lifetime, family=access_token.family, **fields)
            access_token.pair = issued.refresh_token.id
            issued.refresh_token.pair = access_token.id
        return issued

    # -- using -------------------------------------------------------------------------

    def _check(self, token: Token, now: float) -> None:
        if token.revoked:
            raise Refused(token.reason or "revoked")
        if token.expired(now):
            token.reason = "expired"  # stays expired, whatever the clock does later
            raise Refused("expired")

    def lookup(self, value: str) -> Token | None:
        """The record ``value`` names, live or not, without counting a use."""
        with self._lock:
            return self._by_digest.get(_digest(value))

    def access(self, value: str, kinds: Iterable[str] = (ACCESS,)) -> Token:
        """The live token ``value`` names, its use counted and its idle time restarted;
        ``Refused`` when it is unknown, of another kind, revoked or expired."""
        now = self._clock.now()
        with self._lock:
            token = self._by_digest.get(_digest(value))
            if token is None or token.kind not in tuple(kinds):
                raise Refused("unknown")
            token.uses += 1
            self._check(token, now)
            token.last_used = now
            return token

    def refresh(self, value: str, client_id: str, *, rotate: bool, retire_access: bool,
                lifetime: float | None, refresh_lifetime: float | None = None,
                idle: float | None = None) -> Issued:
        """The refresh-token grant. Every presentation counts in ``uses``, refused ones too.
        ``rotate``: a new refresh token comes back and the one presented is spent;
        ``retire_access``: the access token issued with it stops working as well."""
        now = self._clock.now()
        with self._lock:
            old = self._by_digest.get(_digest(value))
            if old is None or old.kind != REFRESH:
                raise Refused("unknown")
            old.uses += 1
            self._check(old, now)
            if old.client_id != client_id:
                raise Refused("client")
            old.last_used = now
            issued = self._issue_locked(old.subject, client_id, "refresh_token", old.scope,
                                        lifetime, refresh_lifetime, rotate, idle, old.family)
            previous = self._by_id.get(old.pair or "")
            if rotate:
                assert issued.refresh_token is not None
                old.end("rotated", issued.refresh_token.id)
            else:
                old.pair, issued.access_token.pair = issued.access_token.id, old.id
            if retire_access and previous is not None:
                previous.end("rotated", issued.access_token.id)
            return issued

    # -- ending ------------------------------------------------------------------------

    def revoke_value(self, value: str, *, cascade: bool = False) -> Token | None:
        """A vendor's revoke endpoint: a refresh token (or any token, with ``cascade``)
        takes every token of its consent with it; an access token alone goes alone.
        None when ``value`` names nothing."""
        with self._lock:
            token = self._by_digest.get(_digest(value))
            if token is None:
                return None
            if token.kind == REFRESH or cascade:
                for other in self._by_id.values():
                    if other.family == token.family:
                        other.end("revoked")
            token.end("revoked")
            return token

    def revoke(self, client_id: str | None = None) -> int:
        """An admin revoking the app's consent: every token issued to a client (to
        ``client_id`` only, when given) ends; the service's fixed tokens stay."""
        count, now = 0, self._clock.now()
        with self._lock:
            for token in self._by_id.values():
                if token.fixed or token.client_id is None or token.revoked or token.expired(now):
                    continue
                if client_id is None or token.client_id == client_id:
                    token.end("revoked")
                    count += 1
        return count

    def expire(self, select: Callable[[Token], bool]) -> int:
        """End the selected tokens as if their time had run out."""
        count = 0
        with self._lock:
            for token in self._by_id.values():
                if select(token) and token.reason is None:
                    token.reason = "expired"
                    count += 1
        return count

    def restore_fixed(self) -> None:
        """The service's fixed tokens work again (a sandbox reset)."""
        with self._lock:
            for token in self._by_id.values():
                if token.fixed:
                    token.revoked, token.reason, token.replaced_by = False, None, None
                    token.last_used = self._clock.now()

    def listing(self) -> list[dict[str, Any]]:
        now = self._clock.now()
        with self._lock:
            return [token.json(now) for token in self._by_id.values()]


def pkce_matches(verifier: str | None, challenge: str, method: str) -> bool:
    """RFC 7636: the verifier's S256 (or plain) transform is the challenge."""
    if not verifier or not VERIFIER_RE.match(verifier):
        return False
    if method == "plain":
        computed = verifier
    else:
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


@dataclass
class Code:
    """An authorization code as the server remembers it (never its value)."""

    id: str
    client_id: str
    redirect_uri: str
    subject: str
    scope: str
    challenge: str | None
    method: str | None
    issued_at: float
    expires_at: float
    used: bool = False

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "client_id": self.client_id, "issued_at": self.issued_at,
                "expires_at": self.expires_at, "used": self.used, "pkce": self.method,
                "scope": self.scope}


class CodeBook:
    """Authorization codes: single use (any presentation spends one), ``lifetime`` seconds."""

    def __init__(self, clock: Clock, lifetime: float, mint: Callable[[str], str]) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self._mint = mint
        self._lock = threading.Lock()
        self._codes: dict[str, Code] = {}

    def issue(self, client_id: str, redirect_uri: str, subject: str, scope: str,
              challenge: str | None, method: str | None) -> str:
        value = self._mint("code")
        now = self._clock.now()
        digest = _digest(value)
        with self._lock:
            self._codes[digest] = Code(digest[:12], client_id, redirect_uri, subject, scope,
                                       challenge, method, now, now + self.lifetime)
        return value

    def redeem(self, value: str, *, client_id: str, redirect_uri: str | None,
               verifier: str | None) -> Code:
        """The code's grant, or ``Refused`` (unknown, used, expired, client, redirect_uri,
        verifier)."""
        now = self._clock.now()
        with self._lock:
            code = self._codes.get(_digest(value))
            if code is None:
                raise Refused("unknown")
            was_used, code.used = code.used, True
            if was_used:
                raise Refused("used")
            if now >= code.expires_at:
                raise Refused("expired")
            if not same_secret(client_id, code.client_id):
                raise Refused("client")
            if redirect_uri != code.redirect_uri:
                raise Refused("redirect_uri")
            if code.challenge is not None and not pkce_matches(verifier, code.challenge,
                                                               code.method or "S256"):
                raise Refused("verifier")
            return code

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [code.json() for code in self._codes.values()]


class Consent:
    """What the (absent) person at the authorize page answers: approve, unless the
    control API said the next one refuses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deny_next = False
        self.denied = 0

    def take(self) -> bool:
        """This request's answer (True: approved); a pending refusal is used up."""
        with self._lock:
            if self.deny_next:
                self.deny_next = False
                self.denied += 1
                return False
            return True

    def set(self, approve: bool) -> None:
        with self._lock:
            self.deny_next = not approve

    def json(self) -> dict[str, Any]:
        return {"deny_next": self.deny_next, "denied": self.denied}


@dataclass(frozen=True)
class AuthorizeRules:
    """What a vendor's authorize endpoint asks of a request."""

    clients: frozenset[str]
    pkce_required: bool
    methods: tuple[str, ...]  # code_challenge_method values accepted
    default_method: str  # when a challenge comes without a method
    default_scope: str
    scopes: frozenset[str] | None = None  # the scopes known (None: any)
    denied_description: str | None = None


def is_loopback(uri: str) -> bool:
    """An http URL on 127.0.0.1, localhost or [::1], any port and path, no fragment."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port  # a bad port raises here
    except ValueError:
        return False
    return parts.scheme == "http" and host in LOOPBACK_HOSTS and not parts.fragment


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def error_page(message: str, status: int = 400) -> Response:
    """What a browser shows when the authorize request cannot even be sent back."""
    body = (f"<!DOCTYPE html><html><head><title>Authorization error</title></head><body>"
            f"<h1>Authorization error</h1><p>{html.escape(message)}</p></body></html>")
    return Response(body, status=status, content_type="text/html; charset=utf-8")


@dataclass
class AuthServer:
    """A service's authorization server: its tokens, its codes and the consent switch."""

    tokens: TokenBook
    codes: CodeBook
    consent: Consent

    @classmethod
    def create(cls, clock: Clock, mint: Callable[[str], str], code_lifetime: float) -> "AuthServer":
        return cls(TokenBook(clock, mint), CodeBook(clock, code_lifetime, mint), Consent())

    def authorize(self, rules: AuthorizeRules, subject: str) -> Response:
        """``GET`` of the authorize page, approved (or refused) at once as ``subject``:
        302 to the redirect URI with ``code`` (or ``error``) and ``state``; an unknown
        client or a redirect URI that is not loopback is a 400 page, no redirect."""
        args = request.args
        client_id, redirect_uri = args.get("client_id", ""), args.get("redirect_uri", "")
        if client_id not in rules.clients:
            return error_page("client_id: no such application")
        if not is_loopback(redirect_uri):
            return error_page("redirect_uri must be an http URL on 127.0.0.1, localhost or [::1]")
        state = {"state": args["state"]} if "state" in args else {}

        def back(**params: str) -> Response:
            response = Response("", status=302)
            response.headers["Location"] = _with_query(redirect_uri, {**params, **state})
            return response

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = args.get("code_challenge") or None
        method = args.get("code_challenge_method") or rules.default_method
        if challenge is None and rules.pkce_required:
            return back(error="invalid_request", error_description="code_challenge is required")
        if challenge is not None and method not in rules.methods:
            return back(error="invalid_request",
                        error_description=f"code_challenge_method must be {' or '.join(rules.methods)}")
        scope = " ".join(args.get("scope", "").split()) or rules.default_scope
        if rules.scopes is not None and not set(scope.split()) <= rules.scopes:
            return back(error="invalid_scope")
        if not self.consent.take():
            denied = {"error_description": rules.denied_description} if rules.denied_description else {}
            return back(error="access_denied", **denied)
        code = self.codes.issue(client_id, redirect_uri, subject, scope, challenge,
                                method if challenge is not None else None)
        return back(code=code)

    def install_control(self, app: Flask, prefix: str = "/_sandbox") -> None:
        """``/_sandbox/tokens`` (GET), ``/_sandbox/revoke`` (POST), ``/_sandbox/consent``."""

        def reply(body: Any, status: int = 200) -> Response:
            return Response(json.dumps(body), status=status, content_type="application/json")

        def spec() -> dict[str, Any]:
            body = request.get_json(silent=True, force=True)
            return body if isinstance(body, dict) else {}

        def tokens() -> Response:
            return reply({"tokens": self.tokens.listing(), "codes": self.codes.listing()})

        def revoke() -> Response:
            client_id = spec().get("client_id")
            if client_id is not None and not isinstance(client_id, str):
                return reply({"error": "client_id must be a string"}, 400)
            return reply({"revoked": self.tokens.revoke(client_id)})

        def consent() -> Response:
            if request.method == "POST":
                approve = spec().get("approve", True)
                if not isinstance(approve, bool):
                    return reply({"error": "approve must be true or false"}, 400)
                self.consent.set(approve)
            return reply({"consent": self.consent.json()})

        app.add_url_rule(f"{prefix}/tokens", "sandbox oauth tokens", tokens, methods=["GET"])
        app.add_url_rule(f"{prefix}/revoke", "sandbox oauth revoke", revoke, methods=["POST"])
        app.add_url_rule(f"{prefix}/consent", "sandbox oauth consent", consent,
                         methods=["GET", "POST"])


def token_params() -> dict[str, str]:
    """A token request's parameters: a form body, or a JSON object (Zendesk takes both)."""
    if request.form:
        return {key: value for key, value in request.form.items()}
    body = request.get_json(silent=True, force=True)
    if isinstance(body, Mapping):
        return {str(k): str(v) for k, v in body.items() if v is not None}
    return {}


def client_auth(params: Mapping[str, str]) -> tuple[str, str | None, bool]:
    """(client_id, client_secret or None, sent with HTTP Basic): the Basic header when
    there is one (its parts form-encoded, RFC 6749 2.3.1), else the body."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return unquote(auth.username or ""), unquote(auth.password or ""), True
    return params.get("client_id", ""), params.get("client_secret"), False


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


SECRET_PARAMS = frozenset({"client_secret", "code", "code_verifier", "refresh_token",
                           "access_token", "token", "password", "assertion"})


def masked(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters fit for a log: every secret one replaced by ``***``."""
    return {key: ("***" if key in SECRET_PARAMS else value) for key, value in params.items()}
