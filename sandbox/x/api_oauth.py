"""OAuth 2.0 routes: the authorize page (approved at once as the brand account: the
sandbox has no login page), the token endpoint (authorization code with PKCE, refresh
token) and revoke.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from sandbox.common import REFUSING_KINDS
from sandbox.oauth import AuthorizeRules, Issued, Refused, client_auth, same_secret, token_params
from sandbox.x.constants import (
    ACCESS_SECONDS,
    BAD_TOKEN_VALUE,
    JSON_TYPE,
    NO_CLIENT_AUTH,
    OAUTH_SCOPES,
)

if TYPE_CHECKING:
    from sandbox.x.model import XState


class OAuthError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _missing(name: str) -> OAuthError:
    return OAuthError(400, {"error": "invalid_request",
                            "error_description": f"Missing required parameter [{name}]."})


class OAuthRoutes:
    """OAuth routes of ``XApi``."""

    state: XState

    def o_authorize(self) -> Response:
        state = self.state
        rules = AuthorizeRules(
            clients=frozenset({state.oauth_client_id, state.oauth_public_client_id}),
            pkce_required=True, methods=("S256", "plain"), default_method="plain",
            default_scope="tweet.read users.read", scopes=OAUTH_SCOPES)
        return state.auth.authorize(rules, state.brand_id)

    def _client(self, params: dict[str, str]) -> str:
        """The calling client: the confidential one by HTTP Basic, the public one by the
        client_id in the body; 401 otherwise."""
        state = self.state
        client_id, secret, basic = client_auth(params)
        if basic:
            if client_id == state.oauth_client_id and same_secret(secret, state.oauth_client_secret):
                return client_id
        elif client_id == state.oauth_public_client_id:
            return client_id
        raise OAuthError(401, NO_CLIENT_AUTH)

    def _guarded(self, handle: Any) -> Response:
        """Outage and the probabilistic refusals first (nothing applied), then ``handle``."""
        left = self.state.outage.refuse()
        if left is not None:
            return self._outage(left)  # type: ignore[attr-defined]
        chaos = self.state.chaos.draw("POST", (request.path,), REFUSING_KINDS)
        if chaos is not None:
            return self._refuse(chaos, {})  # type: ignore[attr-defined]
        try:
            status, body = handle(token_params())
        except OAuthError as error:
            status, body = error.status, error.body
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return self._render(status, body, JSON_TYPE, headers)  # type: ignore[attr-defined]

    def o_token(self) -> Response:
        return self._guarded(self._token)

    def o_revoke(self) -> Response:
        return self._guarded(self._revoke)

    def _token(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = params.get("grant_type", "")
        if not grant:
            raise _missing("grant_type")
        if grant not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, {"error": "unsupported_grant_type",
                                   "error_description": "Grant type is not supported."})
        client_id = self._client(params)
        tokens = self.state.auth.tokens
        if grant == "authorization_code":
            for name in ("code", "redirect_uri", "code_verifier"):
                if not params.get(name):
                    raise _missing(name)
            try:
                code = self.state.auth.codes.redeem(params["code"], client_id=client_id,
                                                    redirect_uri=params["redirect_uri"],
                                                    verifier=params["code_verifier"])
            except Refused:
                raise OAuthError(400, BAD_TOKEN_VALUE) from None
            issued = tokens.issue(code.subject, client_id=client_id, grant=grant,
                                  scope=code.scope, lifetime=ACCESS_SECONDS,
                                  with_refresh="offline.access" in code.scope.split())
        else:
            if not params.get("refresh_token"):
                raise _missing("refresh_token")
            try:
                issued = tokens.refresh(params["refresh_token"], client_id, rotate=True,
                                        retire_access=True, lifetime=ACCESS_SECONDS)
            except Refused:
                raise OAuthError(400, BAD_TOKEN_VALUE) from None
        return 200, _token_body(issued)

    def _revoke(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 7009: a refresh token takes its whole grant with it, an access token goes
        alone; an unknown token is answered the same way."""
        self._client(params)
        if not params.get("token"):
            raise _missing("token")
        self.state.auth.tokens.revoke_value(params["token"])
        return 200, {"revoked": True}


def _token_body(issued: Issued) -> dict[str, Any]:
    body: dict[str, Any] = {"token_type": "bearer", "expires_in": ACCESS_SECONDS,
                            "access_token": issued.access, "scope": issued.access_token.scope}
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh
    return body
