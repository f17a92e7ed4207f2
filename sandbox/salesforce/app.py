"""The Flask app of the Salesforce stand-in: one org, the gate, the API and control routes."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from sandbox.salesforce.api_auth import _install_auth
from sandbox.salesforce.api_collections import _install_collections
from sandbox.salesforce.api_data import _install_data
from sandbox.salesforce.control import _install_control
from sandbox.salesforce.gate import _install_gate
from sandbox.salesforce.model import SalesforceState


def create_service(settings: Mapping[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the Salesforce stand-in for ``settings["url"]``; returns (app, public info)."""
    state = SalesforceState(str(settings["url"]), settings)
    app = Flask("sandbox.salesforce")
    app.url_map.strict_slashes = False
    app.extensions["sandbox_state"] = state
    _install_gate(app, state)
    _install_auth(app, state)
    _install_data(app, state)
    _install_collections(app, state)
    _install_control(app, state)
    state.auth.install_control(app)
    return app, state.info()
