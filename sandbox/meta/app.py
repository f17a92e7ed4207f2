"""The Flask app of the Meta stand-in: its routes, built from the rooms that serve them."""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask, Response

from sandbox.meta.api_messaging import Messaging
from sandbox.meta.api_reads import Reads
from sandbox.meta.api_writes import Writes
from sandbox.meta.control import Control
from sandbox.meta.gate import Gate
from sandbox.meta.model import MetaState
from sandbox.meta.render_facebook import FacebookNodes
from sandbox.meta.render_inbox import InboxNodes
from sandbox.meta.render_instagram import InstagramNodes

GRAPH_METHODS = ["GET", "POST", "DELETE"]


class MetaApi(Gate, FacebookNodes, InstagramNodes, InboxNodes, Reads, Writes, Messaging,
              Control):
    """Graph API routes (``/{version}/...`` and unversioned), the CDN under ``/cdn/``,
    control routes under ``/_sandbox/``."""

    def __init__(self, state: MetaState) -> None:
        self.state = state
        self.app = app = Flask("sandbox.meta")
        app.extensions["sandbox_state"] = state
        control: list[tuple[str, str, Callable[..., Response]]] = [
            ("/_sandbox/posts", "POST", self.c_create_post),
            ("/_sandbox/posts", "GET", self.c_list_posts),
            ("/_sandbox/reset", "POST", self.c_reset),
        ]
        for path, view in (("clock", self.c_clock), ("usage", self.c_usage),
                           ("tokens", self.c_tokens), ("webhooks", self.c_webhooks),
                           ("cdn", self.c_cdn), ("seed", self.c_seed)):
            control += [(f"/_sandbox/{path}", "GET", view), (f"/_sandbox/{path}", "POST", view)]
        for path, view in (("requests", self.c_requests), ("faults", self.c_faults),
                           ("outage", self.c_outage)):
            control += [(f"/_sandbox/{path}", m, view) for m in ("GET", "POST", "DELETE")]
        for rule, method, view in control:
            app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
        app.add_url_rule("/_sandbox/posts/<post_id>/<any(edit, delete, hide, unhide, unsend):"
                         "action>", "POST change", self.c_change, methods=["POST"])
        app.add_url_rule("/cdn/<path:rest>", "cdn", self.cdn_get, methods=["GET"])
        app.add_url_rule("/", "graph root", self.http, methods=GRAPH_METHODS)
        app.add_url_rule("/<version>/", "graph version root", self.http, methods=GRAPH_METHODS,
                         strict_slashes=False)
        app.add_url_rule("/<version>/<path:rest>", "graph", self.http, methods=GRAPH_METHODS)
        app.after_request(self._log)
        app.register_error_handler(404, self._routing_error)
        app.register_error_handler(405, self._routing_error)


def create_service(settings: dict[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the Meta stand-in. Settings: ``url``, ``version``, ``page_id``, ``page_handle``,
    ``page_name``, ``ig_user_id``, ``ig_handle``, ``app_id``, ``app_secret``,
    ``page_token``, ``verify_token``, ``seed``."""
    state = MetaState(settings)
    api = MetaApi(state)
    return api.app, {"page_id": state.page_id, "page_handle": state.page_handle,
                     "page_name": state.page_name, "page_token": state.tokens.page_token,
                     "ig_user_id": state.ig_user_id, "ig_handle": state.ig_handle,
                     "app_id": state.app_id, "app_secret": state.app_secret,
                     "app_token": state.tokens.app_token, "version": state.version,
                     "verify_token": state.verify_token}
