"""OAuth routes: the authorize page (approved at once as the admin: the sandbox has no
login page), the token endpoint (authorization code, refresh token, client credentials)
and revoking the token a request carries.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from flask import Flask, Response, request

from sandbox.oauth import AuthorizeRules, Issued, Refused, client_auth, same_secret, token_params
from sandbox.zendesk.constants import (
    ACCESS_MAX,
    ACCESS_MIN,
    ACCESS_SECONDS,
    REFRESH_MAX,
    REFRESH_MIN,
    REFRESH_SECONDS,
)
from sandbox.zendesk.helpers import ApiError, not_found
from sandbox.zendesk.wire import _json

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The standard OAuth server texts (Zendesk quotes only invalid_token's, which is the same family).
OAUTH_ERRORS = {
    "invalid_request": (400, "The request is missing a required parameter, includes an unsupported "
                             "parameter value, or is otherwise malformed."),
    "invalid_client": (401, "Client authentication failed due to unknown client, no client "
                            "authentication included, or unsupported authentication method."),
    "invalid_grant": (400, "The provided authorization grant is invalid, expired, revoked, does not "
                           "match the redirection URI used in the authorization request, or was "
                           "issued to another client."),
    "unsupported_grant_type": (400, "The authorization grant type is not supported by the "
                                    "authorization server."),
}
GRANTS = ("authorization_code", "refresh_token", "client_credentials")


def oauth_error(error: str, description: str | None = None) -> ApiError:
    status, text = OAUTH_ERRORS[error]
    return ApiError(status, {"error": error, "error_description": description or text}, NO_STORE)


def _lifetime(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    """A lifetime the token request may ask for, within Zendesk's bounds."""
    raw = params.get(key, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise oauth_error("invalid_request", f"{key} must be a whole number of seconds") from None
    if not low <= value <= high:
        raise oauth_error("invalid_request", f"{key} must be between {low} and {high} seconds")
    return value


def _install_oauth(app: Flask, state: ZendeskState) -> None:
    auth = state.auth

    @app.route("/oauth/authorizations/new", methods=["GET"])
    def authorize() -> Response:
        rules = AuthorizeRules(
            clients=frozenset({state.oauth_client_id}), pkce_required=False, methods=("S256",),
            default_method="plain", default_scope="read",
            denied_description="The resource owner or authorization server denied the request.")
        return auth.authorize(rules, str(state.api_user_id))

    @app.route("/oauth/tokens", methods=["POST"])
    def token() -> Response:
        params = token_params()
        grant = params.get("grant_type", "")
        if grant not in GRANTS:
            raise oauth_error("unsupported_grant_type" if grant else "invalid_request")
        client_id, secret, _ = client_auth(params)
        if client_id != state.oauth_client_id or (
                secret is not None and not same_secret(secret, state.oauth_client_secret)):
            raise oauth_error("invalid_client")
        lifetime = _lifetime(params, "expires_in", ACCESS_SECONDS, ACCESS_MIN, ACCESS_MAX)
        refresh_lifetime = _lifetime(params, "refresh_token_expires_in", REFRESH_SECONDS,
                                     REFRESH_MIN, REFRESH_MAX)
        issued = _grant(state, grant, params, client_id, secret, lifetime, refresh_lifetime)
        body = {"access_token": issued.access, "token_type": "bearer",
                "scope": issued.access_token.scope, "expires_in": lifetime}
        if issued.refresh is not None:
            body.update(refresh_token=issued.refresh, refresh_token_expires_in=refresh_lifetime)
        return _json(body, 200, NO_STORE)

    @app.route("/api/v2/oauth/tokens/current", methods=["DELETE"])
    def revoke_current() -> Response:
        """Revoke the OAuth token this request carries (with its refresh token)."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise not_found()
        auth.tokens.revoke_value(header[len("Bearer "):].strip(), cascade=True)
        return _json(None, 204)


def _grant(state: ZendeskState, grant: str, params: Mapping[str, str], client_id: str,
           secret: str | None, lifetime: int, refresh_lifetime: int) -> Issued:
    """Carry out one grant. The client secret may be left out only when redeeming a code
    that carries a PKCE challenge."""
    tokens = state.auth.tokens
    if grant == "authorization_code":
        try:
            code = state.auth.codes.redeem(params.get("code", ""), client_id=client_id,
                                           redirect_uri=params.get("redirect_uri"),
                                           verifier=params.get("code_verifier"))
        except Refused:
            raise oauth_error("invalid_grant") from None
        if secret is None and code.challenge is None:
            raise oauth_error("invalid_client")
        return tokens.issue(code.subject, client_id=client_id, grant=grant, scope=code.scope,
                            lifetime=lifetime, refresh_lifetime=refresh_lifetime,
                            with_refresh=True)
    if secret is None:
        raise oauth_error("invalid_client")
    if grant == "refresh_token":
        try:
            return tokens.refresh(params.get("refresh_token", ""), client_id, rotate=True,
                                  retire_access=True, lifetime=lifetime,
                                  refresh_lifetime=refresh_lifetime)
        except Refused:
            raise oauth_error("invalid_grant") from None
    scope = " ".join(params.get("scope", "").split()) or "read"
    return tokens.issue(str(state.api_user_id), client_id=client_id, grant=grant, scope=scope,
                        lifetime=lifetime)
