"""The OAuth flows a connected app runs besides the server-to-server ones: the authorize
page (approved at once as the integration user: the sandbox has no login page), the
authorization code grant (PKCE optional) and the refresh token grant. Refresh tokens do
not rotate unless the org's ``refresh_token_rotation`` setting says so; they live until
revoked unless ``refresh_token_expires_in`` sets a policy.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any, Mapping

from flask import Flask, Response

from sandbox.oauth import AuthorizeRules, Issued, Refused, same_secret
from sandbox.salesforce.constants import SESSION_SECONDS
from sandbox.salesforce.errors import oauth_error
from sandbox.salesforce.wire import _json, _route

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState

NO_STORE = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}
DEFAULT_SCOPE = "api refresh_token"
REFRESH_SCOPES = frozenset({"refresh_token", "offline_access", "full"})
EXPIRED = ("invalid_grant", "expired access/refresh token")
CODE_REFUSALS = {"verifier": ("invalid_grant", "invalid code verifier"),
                 "redirect_uri": ("redirect_uri_mismatch", "redirect_uri must match configuration")}


def check_client(state: SalesforceState, client_id: str, secret: str | None) -> None:
    """The connected app's consumer key (and secret, unless None is passed)."""
    if not same_secret(client_id, state.client_id):
        raise oauth_error("invalid_client_id", "client identifier invalid")
    if secret is not None and not same_secret(secret, state.client_secret):
        raise oauth_error("invalid_client", "invalid client credentials")


def token_body(state: SalesforceState, issued: Issued, flow: str) -> dict[str, Any]:
    """A token answer in the shape each flow documents (JWT: no signature or issued_at)."""
    ident = f"{state.base_url}/id/{state.org_id}/{issued.access_token.subject}"
    body: dict[str, Any] = {"access_token": issued.access}
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh
    if flow == "jwt":
        return {**body, "scope": "api", "instance_url": state.base_url, "id": ident,
                "token_type": "Bearer"}
    issued_at = str(int(state.clock.now() * 1000))
    signature = base64.b64encode(hmac.new(state.client_secret.encode(), (ident + issued_at).encode(),
                                          hashlib.sha256).digest()).decode()
    if flow == "password":
        return {**body, "instance_url": state.base_url, "id": ident, "token_type": "Bearer",
                "issued_at": issued_at, "signature": signature}
    return {**body, "signature": signature, "scope": issued.access_token.scope,
            "instance_url": state.base_url, "id": ident, "token_type": "Bearer",
            "issued_at": issued_at}


def code_grant(state: SalesforceState, form: Mapping[str, str], client_id: str,
               secret: str | None) -> dict[str, Any]:
    """grant_type=authorization_code: the secret is required (the connected app's default
    "Require Secret for Web Server Flow"), the verifier when the code has a challenge."""
    check_client(state, client_id, secret or "")
    try:
        code = state.auth.codes.redeem(form.get("code", ""), client_id=client_id,
                                       redirect_uri=form.get("redirect_uri"),
                                       verifier=form.get("code_verifier"))
    except Refused as refused:
        raise oauth_error(*CODE_REFUSALS.get(refused.why, ("invalid_grant",
                                                           "invalid authorization code"))) from None
    issued = state.new_session(code.subject, client_id, "authorization_code", scope=code.scope,
                               with_refresh=bool(REFRESH_SCOPES & set(code.scope.split())))
    return token_body(state, issued, "authorization_code")


def refresh_grant(state: SalesforceState, form: Mapping[str, str], client_id: str,
                  secret: str | None) -> dict[str, Any]:
    """grant_type=refresh_token: a new session; the same refresh token stays valid unless
    rotation is on, when a new one comes back and the one presented is spent."""
    check_client(state, client_id, secret or "")
    try:
        issued = state.auth.tokens.refresh(
            form.get("refresh_token", ""), client_id,
            rotate=bool(state.settings["refresh_token_rotation"]), retire_access=False,
            lifetime=None, idle=SESSION_SECONDS,
            refresh_lifetime=state.settings["refresh_token_expires_in"])
    except Refused:
        raise oauth_error(*EXPIRED) from None
    return token_body(state, issued, "refresh_token")


def _install_authorize(app: Flask, state: SalesforceState) -> None:
    @_route(app, state, "/services/oauth2/authorize", ["GET"])
    def authorize() -> Response:
        rules = AuthorizeRules(clients=frozenset({state.client_id}), pkce_required=False,
                               methods=("S256",), default_method="S256",
                               default_scope=DEFAULT_SCOPE,
                               denied_description="end-user denied authorization")
        return state.auth.authorize(rules, state.user_ids["api"])


def answer(body: dict[str, Any]) -> Response:
    return _json(body, 200, NO_STORE)
