"""Graph API errors: the ``{"error": {message, type, code, error_subcode, fbtrace_id}}``
envelope with Meta's codes and wording.

Wording: the Messenger Platform error-code table, the Graph API error-handling page and
recorded bodies (python-facebook's ``base__error_data.json``). Where only the code is
documented and the text comes from public reports, the docstring says so.
"""
from __future__ import annotations

import secrets
import string
from typing import Any

GRAPH_DOCS = "https://developers.facebook.com/docs/graph-api"
RATE_DOCS = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
POLICY = "https://developers.facebook.com/docs/messenger-platform/policy-overview"
_TRACE = string.ascii_letters + string.digits + "_-"


def fbtrace_id() -> str:
    """Meta's request trace id: 23 URL-safe characters (``AQt_hJ68vFybS4TnupatNtX``)."""
    return "A" + "".join(secrets.choice(_TRACE) for _ in range(22))


class GraphError(Exception):
    """One Graph error answer. ``status`` is the HTTP status Meta sends with it (400 for
    most, 403 for permissions, 500/503 for its own failures)."""

    def __init__(self, message: str, code: int, *, subcode: int | None = None,
                 type_: str = "OAuthException", status: int = 400,
                 transient: bool | None = None, headers: dict[str, str] | None = None,
                 user_title: str | None = None, user_msg: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.subcode, self.type = message, code, subcode, type_
        self.status, self.transient = status, transient
        self.headers = dict(headers or {})
        self.user_title, self.user_msg = user_title, user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


# -- objects, fields, paths -----------------------------------------------------------

def unsupported(method: str, object_id: str) -> GraphError:
    """An id that names nothing this token can see (code 100, subcode 33)."""
    return GraphError(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation. "
        f"Please read the Graph API documentation at {GRAPH_DOCS}",
        100, subcode=33, type_="GraphMethodException")


def alias_missing(alias: str) -> GraphError:
    """A non-numeric alias (a username) that resolves to nothing."""
    return GraphError(f"(#803) Some of the aliases you requested do not exist: {alias}", 803)


def nonexisting_field(field: str, node: str) -> GraphError:
    return GraphError(f"(#100) Tried accessing nonexisting field ({field}) on node type "
                      f"({node})", 100)


def unknown_path(rest: str) -> GraphError:
    return GraphError(f"Unknown path components: /{rest}", 2500)


def invalid_param(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(f"(#100) {message}", 100, subcode=subcode)


def syntax_error(message: str) -> GraphError:
    """A ``fields=`` expression Graph cannot parse."""
    return GraphError(f"Syntax error \"{message}\"", 2500)


# -- tokens ---------------------------------------------------------------------------

def _auth(message: str, subcode: int | None = None) -> GraphError:
    header = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
    return GraphError(message, 190, subcode=subcode, headers={"WWW-Authenticate": header})


def token_missing() -> GraphError:
    return GraphError("An access token is required to request this resource.", 104)


def token_unparsable() -> GraphError:
    return _auth("Invalid OAuth access token - Cannot parse access token")


def token_expired(expired_at: str, now: str) -> GraphError:
    """Subcode 463, with the two times in Meta's ``Thursday, 29-Jul-21 10:00:00 PDT`` style."""
    return _auth(f"Error validating access token: Session has expired on {expired_at}. "
                 f"The current time is {now}.", 463)


def token_invalidated() -> GraphError:
    return _auth("Error validating access token: The session has been invalidated because "
                 "the user changed their password or Facebook has changed the session for "
                 "security reasons.", 460)


def app_not_installed(app_id: str) -> GraphError:
    return _auth("Error validating access token: The user has not authorized application "
                 f"{app_id}.", 458)


def bad_proof() -> GraphError:
    return GraphError("Invalid appsecret_proof provided in the API argument", 100,
                      type_="GraphMethodException")


def needs_user() -> GraphError:
    """``/me`` with an app token."""
    return GraphError("An active access token must be used to query information about the "
                      "current user.", 2500)


def needs_app_token() -> GraphError:
    """An app-only call (subscriptions, debug_token) made with another kind of token."""
    return GraphError("(#15) This method must be called with an app access_token.", 15)


def permission(detail: str) -> GraphError:
    return GraphError(f"(#200) {detail}", 200, status=403)


def requires_permission(name: str) -> GraphError:
    return GraphError(f"(#10) Requires {name} permission to manage the object", 10,
                      status=403)


# -- limits ---------------------------------------------------------------------------

def app_limit() -> GraphError:
    return GraphError("(#4) Application request limit reached", 4, transient=True)


def page_buc_limit() -> GraphError:
    return GraphError("(#80001) There have been too many calls to this Page account. Wait a "
                      f"bit and try again. For more info, please refer to {RATE_DOCS}.",
                      80001, transient=True)


def instagram_buc_limit() -> GraphError:
    return GraphError("(#80002) There have been too many calls to this Instagram account. "
                      f"Wait a bit and try again. For more info, please refer to {RATE_DOCS}.",
                      80002, transient=True)


def user_limit() -> GraphError:
    return GraphError("(#17) User request limit reached", 17, transient=True)


def page_limit() -> GraphError:
    return GraphError("(#32) Page request limit reached", 32, transient=True)


def custom_limit() -> GraphError:
    return GraphError("(#613) Calls to this api have exceeded the rate limit.", 613,
                      transient=True)


def blocked() -> GraphError:
    """Code 368, the temporary block Meta puts on behaviour it deems abusive."""
    return GraphError("It looks like you were misusing this feature by going too fast. "
                      "You've been temporarily blocked from using it.", 368,
                      subcode=1390008, user_title="You Can't Use This Feature Right Now",
                      user_msg="It looks like you were misusing this feature by going too "
                               "fast. You've been temporarily blocked from using it.")


def service_unavailable() -> GraphError:
    return GraphError("Service temporarily unavailable", 2, transient=True, status=503,
                      type_="OAuthException")


def unknown_error() -> GraphError:
    return GraphError("An unknown error occurred", 1, transient=True, status=500)


def batch_too_big() -> GraphError:
    """More than 50 requests in a batch. The text and type are as public client tests
    record them; the code is not documented (1 here)."""
    return GraphError("Too many requests in batch message. Maximum batch size is 50", 1,
                      type_="GraphBatchException")


def bad_client_secret() -> GraphError:
    return GraphError("Error validating client secret.", 1)


BY_CODE = {1: unknown_error, 2: service_unavailable, 4: app_limit, 17: user_limit,
           32: page_limit, 368: blocked, 613: custom_limit, 80001: page_buc_limit,
           80002: instagram_buc_limit, 190: token_invalidated}


def by_code(code: int, status: int | None = None) -> GraphError:
    """The error Meta answers with ``code`` (for armed faults); unknown codes get a
    generic message."""
    maker = BY_CODE.get(code)
    error = maker() if maker else GraphError(f"(#{code}) Sandbox fault", code)
    if status:
        error.status = status
    return error


# -- messaging ------------------------------------------------------------------------

def outside_window() -> GraphError:
    return GraphError("(#10) This message is sent outside of allowed window. Learn more "
                      f"about the new policy here: {POLICY}", 10, subcode=2018278)


def no_matching_user() -> GraphError:
    return GraphError("(#100) No matching user found", 100, subcode=2018001)


def already_replied() -> GraphError:
    """A second Private Reply to the same post or comment (code 10900, as reported by
    many integrations; the Messenger table does not list it)."""
    return GraphError("(#10900) Activity already replied to", 10900)


def reply_to_reply() -> GraphError:
    """``POST /{ig-comment-id}/replies`` on a reply (Meta: top-level comments only). The
    wording is the stand-in's own; the code (100) is Graph's invalid-parameter code."""
    return GraphError("(#100) Replies can only be made to top-level comments", 100)


def reply_to_hidden() -> GraphError:
    """Instagram: a hidden comment cannot be replied to (wording the stand-in's own)."""
    return GraphError("(#100) Cannot reply to a hidden comment", 100)
