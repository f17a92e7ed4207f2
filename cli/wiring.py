"""Wiring the daemon to a running sandbox: adapter settings from the sandbox's JSON.

The daemon builds each adapter from its mapping entry's settings; an entry marked
``sandbox: true`` takes them from here instead, so ``sync`` never learns the sandbox exists.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from adapters.base import FatalError, Secret


def sandbox_settings(kind: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """Adapter settings for a ``sandbox: true`` entry, from ``socialdesk sandbox --json``."""
    service = info["services"].get(kind)
    if service is None:
        raise FatalError(f"the sandbox has no {kind!r} service")
    if kind == "zendesk":
        return {"url": service["url"], "email": service["api_email"],
                "token": Secret(service["api_token"], "token"), "ca_bundle": info["ca_bundle"]}
    if kind == "x":
        return {"token": Secret(service["token"], "token"), "base_url": service["url"],
                "ca_bundle": info["ca_bundle"]}
    if kind == "salesforce":
        return {"login_url": service["login_url"], "auth": "client_credentials",
                "client_id": service["client_id"], "client_secret": Secret(service["client_secret"], "client_secret"),
                "username": service["api_username"], "ca_bundle": info["ca_bundle"]}
    raise FatalError(f"no sandbox settings known for {kind!r}")


def sandbox_endpoints(info: Mapping[str, Any] | None) -> Callable[[Any], Mapping[str, Any]] | None:
    """The daemon's ``endpoint_settings``: sandbox entries wired to ``info``, others as written."""
    if info is None:
        return None

    def settings_for(endpoint: Any) -> Mapping[str, Any]:
        return sandbox_settings(endpoint.kind, info) if endpoint.sandbox else dict(endpoint.settings)

    return settings_for
