"""The sandbox's credentials, modelled as the vendors run them (issue 13): authorization
codes with PKCE, tokens that expire by the sandbox clock, refresh tokens that rotate (X,
Zendesk) or stay (Salesforce, unless rotation is switched on), consent an admin revokes,
Zendesk's API-token sunset and Salesforce's JWT audience.

Everything goes over real HTTPS with requests, as a client would; the control API
(``/_sandbox/tokens``, ``/revoke``, ``/consent``, ``/clock``) plays the admin and time.
Each test's docstring ends with what the old, kinder sandbox did instead.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from sandbox.server import Sandbox
import harness

REDIRECT = "http://127.0.0.1:8765/callback"
ZD_INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "The provided authorization grant is invalid, expired, revoked, does not "
                         "match the redirection URI used in the authorization request, or was "
                         "issued to another client."}
ZD_INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for "
                         "other reasons."}
ZD_UNAUTHENTICATED = {"error": "Couldn't authenticate you"}


def pkce() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(response: requests.Response) -> dict[str, str]:
    """The parameters of a redirect's Location, one value each."""
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


class Service:
    """One stand-in over HTTPS: its info, plain requests and its control API."""

    def __init__(self, sb: Sandbox, name: str) -> None:
        self.info = sb.info()["services"][name]
        self.url = self.info["url"]
        self.http = requests.Session()
        self.http.verify = sb.ca_bundle
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the sandbox CA

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock", {"advance": seconds})

    def tokens(self) -> list[dict[str, Any]]:
        return self.control("GET", "tokens")["tokens"]

    def token(self, token_id: str) -> dict[str, Any]:
        return next(t for t in self.tokens() if t["id"] == token_id)

    def issued(self, kind: str) -> list[dict[str, Any]]:
        """Tokens of ``kind`` issued by a flow (not the service's fixed ones), oldest first."""
        return [t for t in self.tokens() if t["kind"] == kind and not t["fixed"]]

    def authorize(self, challenge: str | None = None, **params: str) -> requests.Response:
        base = {"response_type": "code", "client_id": self.info.get("oauth_client_id")
                or self.info["client_id"], "redirect_uri": REDIRECT, "state": "st-123"}
        if challenge is not None:
            base.update(code_challenge=challenge, code_challenge_method="S256")
        return self.http.get(self.info["oauth_authorize_url"], params={**base, **params},
                             allow_redirects=False)

    def bearer(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path,
                                 headers={"Authorization": f"Bearer {token}"}, **kwargs)


def fingerprint(value: str) -> str:
    """How ``/_sandbox/tokens`` names a token: the start of its SHA-256, never the value."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(settings=harness.INSTANT).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


# ---------------------------------------------------------------------------- Zendesk


class ZD(Service):
    def __init__(self, sb: Sandbox) -> None:
        super().__init__(sb, "zendesk")

    def exchange(self, code: str, verifier: str | None, json_body: bool = True,
                 **extra: str) -> requests.Response:
        params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                  "client_id": self.info["oauth_client_id"],
                  "client_secret": self.info["oauth_client_secret"], "scope": "read write",
                  **({"code_verifier": verifier} if verifier else {}), **extra}
        if json_body:
            return self.http.post(self.info["oauth_token_url"], json=params)
        return self.http.post(self.info["oauth_token_url"], data=params)

    def grant(self, **extra: str) -> dict[str, Any]:
        verifier, challenge = pkce()
        code = query(self.authorize(challenge, scope="read write"))["code"]
        response = self.exchange(code, verifier, **extra)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str, **extra: str) -> requests.Response:
        return self.http.post(self.info["oauth_token_url"], data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": self.info["oauth_client_id"],
            "client_secret": self.info["oauth_client_secret"], **extra})

    def me(self, token: str) -> requests.Response:
        return self.bearer("GET", "/api/v2/users/me.json", token)


@pytest.fixture
def zd(sb: Sandbox) -> ZD:
    client = ZD(sb)
    client.control("POST", "reset")
    return client


def assert_zd_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401 and response.json() == ZD_INVALID_TOKEN
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="Zendesk", error="invalid_token"')


def test_zendesk_code_flow_with_pkce(zd: ZD) -> None:
    """Authorize (auto-approved as the admin), exchange with the verifier, call the API.
    Old sandbox: no /oauth/authorizations/new (404), no token endpoint."""
    verifier, challenge = pkce()
    redirect = zd.authorize(challenge, scope="read write")
    params = query(redirect)
    assert redirect.headers["Location"].startswith(REDIRECT + "?")
    assert params["state"] == "st-123" and set(params) == {"code", "state"}
    response = zd.exchange(params["code"], verifier)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "scope", "expires_in", "refresh_token",
                         "refresh_token_expires_in"}
    assert body["token_type"] == "bearer" and body["scope"] == "read write"
    assert body["expires_in"] == 1800 and body["refresh_token_expires_in"] == 30 * 86400
    me = zd.me(body["access_token"])
    assert me.status_code == 200 and me.json()["user"]["id"] == zd.info["api_user_id"]
    access, refresh = zd.token(fingerprint(body["access_token"])), \
        zd.token(fingerprint(body["refresh_token"]))
    assert access["kind"] == "oauth_access" and refresh["kind"] == "oauth_refresh"
    assert access["client_id"] == zd.info["oauth_client_id"] and access["grant"] == "authorization_code"
    assert access["expires_at"] == pytest.approx(access["issued_at"] + 1800)
    assert refresh["expires_at"] == pytest.approx(refresh["issued_at"] + 30 * 86400)
    assert access["pair"] == refresh["id"] and not access["revoked"] and access["uses"] == 1
    # A form body works as well as JSON (the other code is refused: the verifier is wrong).
    _, other = pkce()
    code = query(zd.authorize(other))["code"]
    assert zd.exchange(code, verifier, json_body=False).json() == ZD_INVALID_GRANT


def test_zendesk_wrong_verifier_reused_code_and_other_redirect_are_refused(zd: ZD) -> None:
    """A code is single use and bound to its verifier and redirect URI.
    Old sandbox: no codes at all (404)."""
    verifier, challenge = pkce()
    code = query(zd.authorize(challenge))["code"]
    wrong = zd.exchange(code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json() == ZD_INVALID_GRANT
    assert zd.exchange(code, verifier).json() == ZD_INVALID_GRANT  # spent by the wrong try
    code = query(zd.authorize(challenge))["code"]
    assert zd.exchange(code, verifier).status_code == 200
    reused = zd.exchange(code, verifier)
    assert reused.status_code == 400 and reused.json() == ZD_INVALID_GRANT
    code = query(zd.authorize(challenge))["code"]
    assert zd.exchange(code, verifier, redirect_uri="http://127.0.0.1:9/other").status_code == 400
    code = query(zd.authorize(challenge))["code"]
    zd.advance(121)
    assert zd.exchange(code, verifier).json() == ZD_INVALID_GRANT  # codes live 120 s
    # Without PKCE the client secret is what binds the code: leaving it out is invalid_client.
    code = query(zd.authorize())["code"]
    no_secret = zd.exchange(code, None, client_secret="")
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"


def test_zendesk_refresh_rotates_and_the_spent_token_is_refused(zd: ZD) -> None:
    """A refresh returns a new pair and deletes the old access and refresh tokens; the
    spent refresh token is invalid_grant, and every presentation counts in ``uses``.
    Old sandbox: no refresh tokens (404)."""
    first = zd.grant()
    renewed = zd.refresh(first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert zd.me(second["access_token"]).status_code == 200
    assert_zd_invalid_token(zd.me(first["access_token"]))
    spent = zd.refresh(first["refresh_token"])
    assert spent.status_code == 400 and spent.json() == ZD_INVALID_GRANT
    old = zd.token(fingerprint(first["refresh_token"]))
    assert old["revoked"] and old["reason"] == "rotated" and old["uses"] == 2
    assert old["replaced_by"] == fingerprint(second["refresh_token"])
    old_access = zd.token(fingerprint(first["access_token"]))
    assert old_access["reason"] == "rotated"
    assert old_access["replaced_by"] == fingerprint(second["access_token"])
    assert zd.token(fingerprint(second["refresh_token"]))["uses"] == 0
    # Refreshing needs the client's secret; a wrong one is invalid_client (and spends nothing).
    bad = zd.refresh(second["refresh_token"], client_secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert zd.refresh(second["refresh_token"]).status_code == 200


def test_zendesk_access_token_expires_by_the_sandbox_clock(zd: ZD) -> None:
    """Past expires_in on the sandbox clock the token is refused with invalid_token; a
    refreshed one works. Old sandbox: only fixed OAuth tokens, which never expired."""
    grant = zd.grant()
    zd.advance(1799)
    assert zd.me(grant["access_token"]).status_code == 200
    zd.advance(2)
    assert_zd_invalid_token(zd.me(grant["access_token"]))
    assert zd.token(fingerprint(grant["access_token"]))["reason"] == "expired"
    renewed = zd.refresh(grant["refresh_token"]).json()
    assert zd.me(renewed["access_token"]).status_code == 200
    assert zd.me(zd.info["api_oauth_token"]).status_code == 200  # the fixed token never expires


def test_zendesk_lifetimes_asked_for_are_honoured_within_bounds(zd: ZD) -> None:
    """expires_in 300..172800 s, refresh_token_expires_in 7..90 days, else invalid_request
    (without spending the code); an expired refresh token is invalid_grant.
    Old sandbox: no token endpoint."""
    verifier, challenge = pkce()
    code = query(zd.authorize(challenge))["code"]
    for extra in ({"expires_in": "299"}, {"expires_in": "172801"}, {"expires_in": "soon"},
                  {"refresh_token_expires_in": str(7 * 86400 - 1)},
                  {"refresh_token_expires_in": str(90 * 86400 + 1)}):
        refused = zd.exchange(code, verifier, **extra)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", extra
    asked = zd.exchange(code, verifier, expires_in="300",
                        refresh_token_expires_in=str(7 * 86400))
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["expires_in"] == 300 and body["refresh_token_expires_in"] == 7 * 86400
    zd.advance(301)
    assert_zd_invalid_token(zd.me(body["access_token"]))
    longest = zd.refresh(body["refresh_token"], expires_in="172800",
                         refresh_token_expires_in=str(7 * 86400)).json()
    assert longest["expires_in"] == 172800
    zd.advance(7 * 86400 + 1)
    expired = zd.refresh(longest["refresh_token"])
    assert expired.status_code == 400 and expired.json() == ZD_INVALID_GRANT
    assert zd.token(fingerprint(longest["refresh_token"]))["reason"] == "expired"


def test_zendesk_api_tokens_stop_at_the_sunset(zd: ZD) -> None:
    """API tokens work until the sandbox clock reaches 2027-04-30T00:00:00Z, then 401 like
    any bad credential; OAuth keeps working. Old sandbox: API tokens worked forever."""
    me = f"{zd.url}/api/v2/users/me.json"
    basic = (f"{zd.info['api_email']}/token", zd.info["api_token"])
    assert zd.http.get(me, auth=basic).status_code == 200
    sunset = datetime(2027, 4, 30, tzinfo=timezone.utc).timestamp()
    now = zd.control("GET", "clock")["now"]
    zd.advance(sunset - now - 5)
    assert zd.http.get(me, auth=basic).status_code == 200
    zd.advance(6)
    refused = zd.http.get(me, auth=basic)
    assert refused.status_code == 401 and refused.json() == ZD_UNAUTHENTICATED
    api_tokens = [t for t in zd.tokens() if t["kind"] == "api_token"]
    assert len(api_tokens) == 2 and all(t["expires_at"] == sunset for t in api_tokens)
    assert all(t["reason"] == "expired" and not t["active"] for t in api_tokens)
    grant = zd.grant()
    assert zd.me(grant["access_token"]).status_code == 200
    zd.control("POST", "reset")  # the clock goes back to the wall, the API tokens with it
    assert zd.http.get(me, auth=basic).status_code == 200


def test_zendesk_api_token_sunset_is_a_setting() -> None:
    """A sandbox built with api_token_sunset null keeps its API tokens (for runs past the
    real date). Old sandbox: no such setting, and no sunset to lift."""
    with Sandbox(services=("zendesk",), settings={"zendesk": {"api_token_sunset": None}}) as sb:
        zd = ZD(sb)
        zd.advance(365 * 86400 * 2)
        basic = (f"{zd.info['api_email']}/token", zd.info["api_token"])
        assert zd.http.get(f"{zd.url}/api/v2/users/me.json", auth=basic).status_code == 200
        assert all(t["expires_at"] is None for t in zd.tokens() if t["kind"] == "api_token")


def test_zendesk_revoked_consent_ends_every_issued_token(zd: ZD) -> None:
    """/_sandbox/revoke (an admin revoking the app) and DELETE oauth/tokens/current end
    the issued tokens: API calls 401, refresh invalid_grant; fixed tokens and new consent
    work. Old sandbox: nothing to revoke (404)."""
    zd.control("POST", "revoke", {})  # what earlier tests left (a reset keeps issued tokens)
    one, two = zd.grant(), zd.grant()
    assert zd.control("POST", "revoke", {"client_id": "someone-else"})["revoked"] == 0
    assert zd.control("POST", "revoke", {})["revoked"] == 4
    for grant in (one, two):
        assert_zd_invalid_token(zd.me(grant["access_token"]))
        assert zd.refresh(grant["refresh_token"]).json() == ZD_INVALID_GRANT
    ended = [zd.token(fingerprint(g[k])) for g in (one, two) for k in ("access_token", "refresh_token")]
    assert all(t["revoked"] and t["reason"] == "revoked" for t in ended)
    assert zd.me(zd.info["api_oauth_token"]).status_code == 200
    again = zd.grant()
    assert zd.me(again["access_token"]).status_code == 200
    gone = zd.bearer("DELETE", "/api/v2/oauth/tokens/current.json", again["access_token"])
    assert gone.status_code == 204
    assert_zd_invalid_token(zd.me(again["access_token"]))
    assert zd.refresh(again["refresh_token"]).json() == ZD_INVALID_GRANT


def test_zendesk_consent_denied_once_then_approved(zd: ZD) -> None:
    """POST /_sandbox/consent {"approve": false}: the next authorize redirects with
    access_denied and the state, the one after approves. Old sandbox: 404."""
    zd.control("POST", "consent", {"approve": False})
    denied = query(zd.authorize(pkce()[1]))
    assert denied["error"] == "access_denied" and denied["state"] == "st-123"
    assert "code" not in denied
    assert "code" in query(zd.authorize(pkce()[1]))


def test_zendesk_authorize_refuses_unknown_clients_and_remote_redirects(zd: ZD) -> None:
    """An unknown client_id or a redirect URI that is not loopback http is a 400 page,
    never a redirect. Old sandbox: 404 JSON for the whole path."""
    for params in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"},
                   {"redirect_uri": "http://10.0.0.1/cb"}):
        page = zd.authorize(pkce()[1], **params)
        assert page.status_code == 400 and "Location" not in page.headers, params
        assert page.headers["Content-Type"].startswith("text/html")
    for host in ("localhost:9999", "[::1]:80"):
        assert "code" in query(zd.authorize(pkce()[1], redirect_uri=f"http://{host}/x?y=1"))


def test_zendesk_client_credentials_and_bad_clients(zd: ZD) -> None:
    """client_credentials gives an access token (no refresh token) acting as the admin;
    a wrong secret is 401 invalid_client. Old sandbox: no token endpoint."""
    response = zd.http.post(zd.info["oauth_token_url"], json={
        "grant_type": "client_credentials", "client_id": zd.info["oauth_client_id"],
        "client_secret": zd.info["oauth_client_secret"], "scope": "read"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and body["scope"] == "read" and body["expires_in"] == 1800
    assert zd.me(body["access_token"]).json()["user"]["id"] == zd.info["api_user_id"]
    bad = zd.http.post(zd.info["oauth_token_url"], json={
        "grant_type": "client_credentials", "client_id": zd.info["oauth_client_id"],
        "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    unknown = zd.http.post(zd.info["oauth_token_url"], json={"grant_type": "password"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"


def test_zendesk_tokens_listing_and_request_log_keep_no_secret(zd: ZD) -> None:
    """/_sandbox/tokens names tokens by fingerprint (API tokens included) and the request
    log masks a token request's secrets. Old sandbox: no /_sandbox/tokens (404)."""
    grant = zd.grant()
    listing = zd.control("GET", "tokens")
    text = str(listing)
    for value in (grant["access_token"], grant["refresh_token"], zd.info["api_token"],
                  zd.info["api_oauth_token"], zd.info["oauth_client_secret"]):
        assert value not in text
    kinds = {t["kind"] for t in listing["tokens"]}
    assert kinds == {"api_token", "oauth_access", "oauth_refresh"}
    for token in listing["tokens"]:
        assert {"kind", "issued_at", "expires_at", "revoked", "id", "uses"} <= set(token)
        assert isinstance(token["issued_at"], float) and isinstance(token["revoked"], bool)
    logged = [r for r in zd.control("GET", "requests")["requests"] if r["path"] == "/oauth/tokens"]
    assert logged and all(r["body"]["client_secret"] == "***" and r["body"]["code"] == "***"
                          for r in logged)
    assert grant["access_token"] not in str(zd.control("GET", "requests"))


# ---------------------------------------------------------------------------- X

X_BAD_VALUE = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
X_UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
X_SCOPES = "tweet.read users.read tweet.write offline.access"


class XS(Service):
    def __init__(self, sb: Sandbox) -> None:
        super().__init__(sb, "x")
        self.basic = (self.info["oauth_client_id"], self.info["oauth_client_secret"])

    def exchange(self, code: str, verifier: str, public: bool = False,
                 **extra: str) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": verifier, **extra}
        if public:
            return self.http.post(self.info["oauth_token_url"],
                                  data={**data, "client_id": self.info["oauth_public_client_id"]})
        return self.http.post(self.info["oauth_token_url"], data=data, auth=self.basic)

    def grant(self, scope: str = X_SCOPES, public: bool = False) -> dict[str, Any]:
        verifier, challenge = pkce()
        client = self.info["oauth_public_client_id"] if public else self.info["oauth_client_id"]
        code = query(self.authorize(challenge, scope=scope, client_id=client))["code"]
        response = self.exchange(code, verifier, public=public)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.http.post(self.info["oauth_token_url"], auth=self.basic, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token})

    def me(self, token: str) -> requests.Response:
        return self.bearer("GET", "/2/users/me", token)


@pytest.fixture
def xs(sb: Sandbox) -> XS:
    client = XS(sb)
    client.control("POST", "reset")
    return client


def assert_x_unauthorized(response: requests.Response) -> None:
    assert response.status_code == 401 and response.json() == X_UNAUTHORIZED
    assert response.headers["Content-Type"] == "application/problem+json"


def test_x_code_flow_with_pkce(xs: XS) -> None:
    """Authorize (as the brand account), exchange with HTTP Basic and the verifier, call
    the API; a refresh token only with offline.access; a public client sends its
    client_id instead. Old sandbox: no /i/oauth2/authorize or /2/oauth2/token (404)."""
    body = xs.grant()
    assert set(body) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert set(body["scope"].split()) == set(X_SCOPES.split())
    me = xs.me(body["access_token"])
    assert me.status_code == 200 and me.json()["data"]["id"] == xs.info["brand_user_id"]
    assert "refresh_token" not in xs.grant(scope="tweet.read users.read")
    public = xs.grant(public=True)
    assert xs.me(public["access_token"]).status_code == 200
    access = xs.token(fingerprint(public["access_token"]))
    assert access["client_id"] == xs.info["oauth_public_client_id"]
    assert access["expires_at"] == pytest.approx(access["issued_at"] + 7200)
    assert xs.token(fingerprint(public["refresh_token"]))["expires_at"] is None
    # The confidential client must authenticate with Basic: its client_id in the body is not enough.
    verifier, challenge = pkce()
    code = query(xs.authorize(challenge, scope=X_SCOPES))["code"]
    bare = xs.http.post(xs.info["oauth_token_url"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": xs.info["oauth_client_id"]})
    assert bare.status_code == 401 and bare.json()["error"] == "unauthorized_client"
    # code_challenge_method=plain is accepted too.
    plain = secrets.token_urlsafe(48)
    code = query(xs.authorize(None, scope=X_SCOPES, code_challenge=plain,
                              code_challenge_method="plain"))["code"]
    assert xs.exchange(code, plain).status_code == 200


def test_x_wrong_verifier_reused_code_and_bad_requests_are_refused(xs: XS) -> None:
    """PKCE is required; a wrong verifier, a reused or expired code (30 s) are 400 with
    X's body. Old sandbox: 404."""
    verifier, challenge = pkce()
    code = query(xs.authorize(challenge, scope=X_SCOPES))["code"]
    wrong = xs.exchange(code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json() == X_BAD_VALUE
    code = query(xs.authorize(challenge, scope=X_SCOPES))["code"]
    assert xs.exchange(code, verifier).status_code == 200
    assert xs.exchange(code, verifier).json() == X_BAD_VALUE
    code = query(xs.authorize(challenge, scope=X_SCOPES))["code"]
    xs.advance(31)
    assert xs.exchange(code, verifier).json() == X_BAD_VALUE
    no_pkce = query(xs.authorize(None, scope=X_SCOPES))
    assert no_pkce["error"] == "invalid_request" and no_pkce["state"] == "st-123"
    assert query(xs.authorize(challenge, scope="tweet.read everything"))["error"] == "invalid_scope"
    missing = xs.http.post(xs.info["oauth_token_url"], auth=xs.basic,
                           data={"grant_type": "authorization_code", "code": "x",
                                 "redirect_uri": REDIRECT})
    assert missing.status_code == 400
    assert missing.json()["error_description"] == "Missing required parameter [code_verifier]."


def test_x_refresh_token_is_single_use(xs: XS) -> None:
    """A refresh gives a new pair; the old refresh token and the old access token stop
    working; presenting the spent one again is counted and refused.
    Old sandbox: no refresh tokens (404)."""
    first = xs.grant()
    renewed = xs.refresh(first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert set(second) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"]
    assert xs.me(second["access_token"]).status_code == 200
    assert_x_unauthorized(xs.me(first["access_token"]))
    spent = xs.refresh(first["refresh_token"])
    assert spent.status_code == 400 and spent.json() == X_BAD_VALUE
    old = xs.token(fingerprint(first["refresh_token"]))
    assert old["uses"] == 2 and old["reason"] == "rotated" and old["revoked"]
    assert old["replaced_by"] == fingerprint(second["refresh_token"])
    assert xs.refresh(second["refresh_token"]).status_code == 200
    assert xs.refresh("bm90LWEtdG9rZW4").json() == X_BAD_VALUE


def test_x_access_token_expires_after_two_hours_refresh_tokens_do_not(xs: XS) -> None:
    """Past 2 h on the sandbox clock the access token is a 401 problem; the refresh token
    (no documented lifetime) still works months later. Old sandbox: tokens never expired."""
    grant = xs.grant()
    xs.advance(7199)
    assert xs.me(grant["access_token"]).status_code == 200
    xs.advance(2)
    assert_x_unauthorized(xs.me(grant["access_token"]))
    assert xs.token(fingerprint(grant["access_token"]))["reason"] == "expired"
    xs.advance(200 * 86400)
    renewed = xs.refresh(grant["refresh_token"])
    assert renewed.status_code == 200
    assert xs.me(renewed.json()["access_token"]).status_code == 200
    assert xs.me(xs.info["token"]).status_code == 200  # the fixed user token never expires
    app_only = xs.bearer("GET", f"/2/users/{xs.info['brand_user_id']}", xs.info["app_token"])
    assert app_only.status_code == 200


def test_x_revoke_endpoint(xs: XS) -> None:
    """POST /2/oauth2/revoke: a refresh token takes its access token with it; an access
    token goes alone. Old sandbox: 404."""
    grant = xs.grant()
    revoked = xs.http.post(xs.info["oauth_revoke_url"], auth=xs.basic,
                           data={"token": grant["refresh_token"], "token_type_hint": "refresh_token"})
    assert revoked.status_code == 200 and revoked.json() == {"revoked": True}
    assert_x_unauthorized(xs.me(grant["access_token"]))
    assert xs.refresh(grant["refresh_token"]).json() == X_BAD_VALUE
    other = xs.grant()
    xs.http.post(xs.info["oauth_revoke_url"], auth=xs.basic,
                 data={"token": other["access_token"], "token_type_hint": "access_token"})
    assert_x_unauthorized(xs.me(other["access_token"]))
    assert xs.refresh(other["refresh_token"]).status_code == 200
    stranger = xs.http.post(xs.info["oauth_revoke_url"], data={"token": other["refresh_token"]})
    assert stranger.status_code == 401


def test_x_revoked_consent_and_denied_consent(xs: XS) -> None:
    """/_sandbox/revoke ends every issued token (the fixed ones stay); a denied consent
    redirects with access_denied once. Old sandbox: 404."""
    grant = xs.grant()
    assert xs.control("POST", "revoke", {"client_id": xs.info["oauth_client_id"]})["revoked"] >= 2
    assert_x_unauthorized(xs.me(grant["access_token"]))
    assert xs.refresh(grant["refresh_token"]).json() == X_BAD_VALUE
    assert xs.me(xs.info["token"]).status_code == 200
    xs.control("POST", "consent", {"approve": False})
    denied = query(xs.authorize(pkce()[1], scope=X_SCOPES))
    assert denied == {"error": "access_denied", "state": "st-123"}
    assert xs.me(xs.grant()["access_token"]).status_code == 200


def test_x_tokens_listing(xs: XS) -> None:
    """/_sandbox/tokens lists the fixed tokens (user, app-only, OAuth 1.0a) and everything
    issued, by fingerprint. Old sandbox: 404."""
    grant = xs.grant()
    listing = xs.tokens()
    fixed = [t for t in listing if t["fixed"]]
    assert {t["id"] for t in fixed} == {fingerprint(xs.info[k])
                                        for k in ("token", "app_token", "access_token")}
    assert all(t["kind"] == "oauth_access" and t["expires_at"] is None for t in fixed)
    mine = {t["id"]: t for t in listing}
    assert mine[fingerprint(grant["refresh_token"])]["kind"] == "oauth_refresh"
    assert mine[fingerprint(grant["access_token"])]["grant"] == "authorization_code"
    for value in (grant["access_token"], grant["refresh_token"], xs.info["token"]):
        assert value not in str(listing)
    logged = [r for r in xs.control("GET", "requests")["requests"] if r["path"] == "/2/oauth2/token"]
    assert logged and all(r["body"].get("code_verifier", "***") == "***" for r in logged)
    assert grant["access_token"] not in str(xs.control("GET", "requests"))


# ---------------------------------------------------------------------------- Salesforce

SF_EXPIRED = {"error": "invalid_grant", "error_description": "expired access/refresh token"}
SF_INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
SF_CODE_KEYS = {"access_token", "refresh_token", "signature", "scope", "instance_url", "id",
                "token_type", "issued_at"}


class SFS(Service):
    def __init__(self, sb: Sandbox) -> None:
        super().__init__(sb, "salesforce")

    def post_token(self, **data: str) -> requests.Response:
        return self.http.post(self.info["oauth_token_url"], data=data)

    def exchange(self, code: str, verifier: str | None, **extra: str) -> requests.Response:
        return self.post_token(**{
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": self.info["client_id"], "client_secret": self.info["client_secret"],
            **({"code_verifier": verifier} if verifier else {}), **extra})

    def grant(self, **params: str) -> dict[str, Any]:
        verifier, challenge = pkce()
        code = query(self.authorize(challenge, **params))["code"]
        response = self.exchange(code, verifier)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str, **extra: str) -> requests.Response:
        return self.post_token(**{"grant_type": "refresh_token", "refresh_token": refresh_token,
                                  "client_id": self.info["client_id"],
                                  "client_secret": self.info["client_secret"], **extra})

    def api(self, token: str) -> requests.Response:
        return self.bearer("GET", f"/services/data/v{self.info['api_version']}/limits", token)

    def jwt(self, aud: str) -> requests.Response:
        claims = {"iss": self.info["client_id"], "sub": self.info["api_username"], "aud": aud,
                  "exp": str(int(time.time()) + 180)}
        return self.post_token(grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                               assertion=jwt.encode(claims, self.info["jwt_private_key_pem"],
                                                    algorithm="RS256"))


@pytest.fixture
def sfs(sb: Sandbox) -> SFS:
    client = SFS(sb)
    client.control("POST", "reset")
    return client


def assert_sf_invalid_session(response: requests.Response) -> None:
    assert response.status_code == 401 and response.json() == SF_INVALID_SESSION


def test_salesforce_code_flow_with_pkce(sfs: SFS) -> None:
    """Authorize (as the integration user), exchange code + verifier + secret: a session
    and a refresh token; the session times out idle after 2 h; the refresh token lives
    until revoked. Old sandbox: no /services/oauth2/authorize and grant_type
    authorization_code was unsupported_grant_type."""
    body = sfs.grant()
    assert set(body) == SF_CODE_KEYS
    assert body["scope"] == "api refresh_token" and body["token_type"] == "Bearer"
    assert body["instance_url"] == sfs.url
    assert body["id"].endswith(f"/{sfs.info['api_user_id']}")
    assert body["access_token"].startswith(sfs.info["organization_id"][:15] + "!")
    assert sfs.api(body["access_token"]).status_code == 200
    session, refresh = sfs.token(fingerprint(body["access_token"])), \
        sfs.token(fingerprint(body["refresh_token"]))
    assert session["expires_at"] == pytest.approx(session["issued_at"] + 7200, abs=5)
    assert refresh["expires_at"] is None and refresh["client_id"] == sfs.info["client_id"]
    assert "refresh_token" not in sfs.grant(scope="api")  # no refresh_token scope, none issued


def test_salesforce_codes_are_single_use_and_bound(sfs: SFS) -> None:
    """Wrong verifier, reused or expired code (15 min), another redirect URI and a missing
    secret are refused in Salesforce's words. Old sandbox: unsupported_grant_type."""
    verifier, challenge = pkce()
    code = query(sfs.authorize(challenge))["code"]
    wrong = sfs.exchange(code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    code = query(sfs.authorize(challenge))["code"]
    assert sfs.exchange(code, verifier).status_code == 200
    assert sfs.exchange(code, verifier).json() == {"error": "invalid_grant",
                                                   "error_description": "invalid authorization code"}
    code = query(sfs.authorize(challenge))["code"]
    assert sfs.exchange(code, verifier, redirect_uri="http://localhost/else").json()["error"] == \
        "redirect_uri_mismatch"
    code = query(sfs.authorize(challenge))["code"]
    assert sfs.exchange(code, verifier, client_secret="").json()["error"] == "invalid_client"
    code = query(sfs.authorize(challenge))["code"]
    sfs.advance(15 * 60 + 1)
    assert sfs.exchange(code, verifier).json()["error_description"] == "invalid authorization code"
    unknown = sfs.authorize(challenge, client_id="3MVG9nobody")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    stranger = sfs.exchange("aPrxnothing", verifier, client_id="clïent-ñ")
    assert stranger.status_code == 400 and stranger.json()["error"] == "invalid_client_id"


def test_salesforce_refresh_tokens_do_not_rotate_by_default(sfs: SFS) -> None:
    """Each refresh gives a new session and no new refresh token; the same refresh token
    keeps working and earlier sessions stay valid. Old sandbox: unsupported_grant_type."""
    grant = sfs.grant()
    first = sfs.refresh(grant["refresh_token"])
    second = sfs.refresh(grant["refresh_token"])
    assert first.status_code == second.status_code == 200, first.text
    assert set(first.json()) == SF_CODE_KEYS - {"refresh_token"}
    assert first.json()["access_token"] != second.json()["access_token"]
    for token in (grant["access_token"], first.json()["access_token"], second.json()["access_token"]):
        assert sfs.api(token).status_code == 200
    record = sfs.token(fingerprint(grant["refresh_token"]))
    assert record["uses"] == 2 and record["active"] and record["replaced_by"] is None
    wrong = sfs.refresh(grant["refresh_token"], client_secret="nope")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    assert sfs.refresh("5Aep861nothing").json() == SF_EXPIRED


def test_salesforce_refresh_token_rotation_spends_the_old_one(sfs: SFS) -> None:
    """With the org's refresh_token_rotation on, a refresh returns a new refresh token
    and the one presented is refused afterwards (counted). Old sandbox: no such setting."""
    sfs.control("POST", "settings", {"refresh_token_rotation": True})
    grant = sfs.grant()
    renewed = sfs.refresh(grant["refresh_token"])
    assert renewed.status_code == 200 and set(renewed.json()) == SF_CODE_KEYS
    fresh = renewed.json()["refresh_token"]
    assert fresh != grant["refresh_token"]
    spent = sfs.refresh(grant["refresh_token"])
    assert spent.status_code == 400 and spent.json() == SF_EXPIRED
    old = sfs.token(fingerprint(grant["refresh_token"]))
    assert old["uses"] == 2 and old["reason"] == "rotated" and old["replaced_by"] == fingerprint(fresh)
    assert sfs.refresh(fresh).status_code == 200
    bad = sfs.http.post(f"{sfs.url}/_sandbox/settings", json={"refresh_token_rotation": "yes"})
    assert bad.status_code == 400


def test_salesforce_sessions_time_out_and_refresh_policies_expire(sfs: SFS) -> None:
    """A session idle 2 h on the sandbox clock is INVALID_SESSION_ID; a refresh gives a
    working one; with a refresh-token policy the refresh token expires too.
    Old sandbox: no refresh grant."""
    grant = sfs.grant()
    sfs.advance(7201)
    assert_sf_invalid_session(sfs.api(grant["access_token"]))
    renewed = sfs.refresh(grant["refresh_token"]).json()
    assert sfs.api(renewed["access_token"]).status_code == 200
    sfs.control("POST", "settings", {"refresh_token_expires_in": 3600})
    short = sfs.grant()
    assert sfs.token(fingerprint(short["refresh_token"]))["expires_at"] is not None
    sfs.advance(3601)
    assert sfs.refresh(short["refresh_token"]).json() == SF_EXPIRED
    assert sfs.refresh(grant["refresh_token"]).status_code == 200  # issued under no policy


def test_salesforce_revoke_endpoint_and_revoked_consent(sfs: SFS) -> None:
    """/services/oauth2/revoke with a refresh token ends it and its sessions;
    /_sandbox/revoke ends every token issued to the app (client-credentials sessions
    included) but not the fixed sessions. Old sandbox: only sessions could be revoked."""
    grant = sfs.grant()
    renewed = sfs.refresh(grant["refresh_token"]).json()
    revoked = sfs.http.post(f"{sfs.url}/services/oauth2/revoke", data={"token": grant["refresh_token"]})
    assert revoked.status_code == 200
    assert sfs.refresh(grant["refresh_token"]).json() == SF_EXPIRED
    assert_sf_invalid_session(sfs.api(grant["access_token"]))
    assert_sf_invalid_session(sfs.api(renewed["access_token"]))
    other = sfs.grant()
    machine = sfs.http.post(sfs.info["oauth_token_url"], data={"grant_type": "client_credentials"},
                            auth=(sfs.info["client_id"], sfs.info["client_secret"])).json()
    assert sfs.control("POST", "revoke", {"client_id": sfs.info["client_id"]})["revoked"] >= 3
    assert sfs.refresh(other["refresh_token"]).json() == SF_EXPIRED
    assert_sf_invalid_session(sfs.api(other["access_token"]))
    assert_sf_invalid_session(sfs.api(machine["access_token"]))
    assert sfs.api(sfs.info["api_token"]).status_code == 200
    assert sfs.api(sfs.grant()["access_token"]).status_code == 200  # new consent works


def test_salesforce_consent_denied(sfs: SFS) -> None:
    """A refused consent redirects with access_denied, Salesforce's description and the
    state, once. Old sandbox: 404."""
    sfs.control("POST", "consent", {"approve": False})
    denied = query(sfs.authorize(pkce()[1]))
    assert denied == {"error": "access_denied", "error_description": "end-user denied authorization",
                      "state": "st-123"}
    assert "code" in query(sfs.authorize(pkce()[1]))


def test_salesforce_jwt_audience_is_a_login_host_or_the_community(sfs: SFS) -> None:
    """aud must be https://login.salesforce.com, https://test.salesforce.com or the
    Experience Cloud site; the org's My Domain URL is refused.
    Old sandbox: accepted the My Domain URL."""
    refused = sfs.jwt(sfs.url)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Audience validation failed"}
    assert sfs.jwt(sfs.url + "/").status_code == 400
    for aud in ("https://login.salesforce.com", "https://test.salesforce.com", sfs.info["community_url"]):
        accepted = sfs.jwt(aud)
        assert accepted.status_code == 200, (aud, accepted.text)
        assert sfs.api(accepted.json()["access_token"]).status_code == 200
    assert sfs.info["community_url"] == f"{sfs.url}/support"


def test_salesforce_tokens_listing(sfs: SFS) -> None:
    """/_sandbox/tokens lists the fixed sessions, issued sessions and refresh tokens by
    fingerprint; /_sandbox/sessions still reports sessions. Old sandbox: 404."""
    grant = sfs.grant()
    listing = sfs.tokens()
    fixed = {t["id"] for t in listing if t["fixed"]}
    assert fixed == {fingerprint(sfs.info["api_token"]), fingerprint(sfs.info["token"])}
    kinds = {t["id"]: t["kind"] for t in listing}
    assert kinds[fingerprint(grant["access_token"])] == "oauth_access"
    assert kinds[fingerprint(grant["refresh_token"])] == "oauth_refresh"
    assert grant["refresh_token"] not in str(listing) and sfs.info["api_token"] not in str(listing)
    sessions = sfs.control("GET", "sessions")["sessions"]
    assert sum(1 for s in sessions if s["static"]) == 2
    exchanges = [r for r in sfs.control("GET", "requests")["requests"]
                 if r["path"] == "/services/oauth2/token" and "code" in (r["body"] or {})]
    assert exchanges and all(r["body"]["code"] == "***" and r["body"]["client_secret"] == "***"
                             and r["body"]["grant_type"] == "authorization_code" for r in exchanges)
    assert grant["refresh_token"] not in str(sfs.control("GET", "requests"))


def test_x_oauth1_user_context(xs: XS) -> None:
    """HMAC-SHA1 signed requests (consumer key pair + the brand's access token pair) act
    as the brand; a wrong secret or a replayed nonce is 401. Old sandbox: only Bearer
    tokens, OAuth 1.0a was always 401."""
    from authlib.integrations.requests_client import OAuth1Auth

    info = xs.info
    signed = OAuth1Auth(info["consumer_key"], info["consumer_secret"], info["access_token"],
                        info["access_token_secret"])
    me = xs.http.get(f"{xs.url}/2/users/me", params={"user.fields": "created_at,verified"}, auth=signed)
    assert me.status_code == 200, me.text
    assert me.json()["data"]["id"] == info["brand_user_id"]
    posted = xs.http.post(f"{xs.url}/2/tweets", json={"text": "signed with OAuth 1.0a"}, auth=signed)
    assert posted.status_code == 201, posted.text
    forged = OAuth1Auth(info["consumer_key"], "not-the-secret", info["access_token"],
                        info["access_token_secret"])
    assert_x_unauthorized(xs.http.get(f"{xs.url}/2/users/me", auth=forged))
    once = xs.http.prepare_request(requests.Request("GET", f"{xs.url}/2/users/me", auth=signed))
    assert xs.http.send(once).status_code == 200
    assert_x_unauthorized(xs.http.send(once))  # the same nonce again
    record = xs.token(fingerprint(info["access_token"]))
    assert record["grant"] == "oauth1" and record["fixed"] and record["uses"] >= 3
