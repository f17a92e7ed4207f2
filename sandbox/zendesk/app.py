"""The Flask app of the Zendesk stand-in: one state, the gate, the API and control routes."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from flask import Flask

from sandbox.zendesk.api_catalog import _install_catalog
from sandbox.zendesk.api_exports import _install_exports
from sandbox.zendesk.api_oauth import _install_oauth
from sandbox.zendesk.api_rules import _install_rules
from sandbox.zendesk.api_tickets import _install_tickets
from sandbox.zendesk.api_users import _install_users
from sandbox.zendesk.api_webhooks import _install_webhooks
from sandbox.zendesk.channel_api import _install_channels
from sandbox.zendesk.control import _install_control
from sandbox.zendesk.gate import _install_gate
from sandbox.zendesk.model import ZendeskState


class _StripJsonSuffix:
    """zenpy appends ``.json``; route every ``/api/...x.json`` as ``/api/...x``."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        environ["sandbox.original_path"] = path
        if path.startswith("/api/") and path.endswith(".json"):
            environ["PATH_INFO"] = path[: -len(".json")]
        return self.app(environ, start_response)


def create_service(settings: Mapping[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the Zendesk stand-in for ``settings["url"]``; returns (app, public info)."""
    base_url = str(settings["url"]).rstrip("/")
    subdomain = str(settings.get("subdomain", "sandbox"))
    state = ZendeskState(base_url, subdomain, settings)
    app = Flask("sandbox.zendesk")
    app.wsgi_app = _StripJsonSuffix(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["sandbox_state"] = state
    _install_gate(app, state)
    _install_tickets(app, state)
    _install_users(app, state)
    _install_exports(app, state)
    _install_catalog(app, state)
    _install_rules(app, state)
    _install_webhooks(app, state)
    _install_control(app, state)
    _install_oauth(app, state)
    _install_channels(app, state)
    state.auth.install_control(app)
    return app, state.info()
