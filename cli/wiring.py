"""Wiring the daemon to a running sandbox: adapter settings from the sandbox's JSON.

The daemon builds each adapter from its mapping entry's settings; an entry marked
``sandbox: true`` takes them from here instead, so ``sync`` never learns the sandbox exists.
The sandbox's Zendesk and X are reached with OAuth, as production is: the consent an
admin gives once (``socialdesk connect``) is given here by the sandbox's authorize page,
which approves at once.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import requests

from adapters.base import FatalError, Secret, SignsInWithOAuth
from adapters.oauth import Consent

# Nothing listens here: the sandbox's authorize page answers with a redirect to this
# address, and the code is read from that redirect.
SANDBOX_REDIRECT = "http://127.0.0.1:9/socialdesk/callback"
# Adapter kinds served by a sandbox service of another name.
SERVICE_OF = {"facebook": "meta", "instagram": "meta"}
# What each pushing network's app subscribes to (Meta's webhook objects and fields).
SUBSCRIPTIONS = {"facebook": ("page", "feed,mention,messages,message_echoes,message_edits"),
                 "instagram": ("instagram", "comments,mentions,messages")}


def sandbox_settings(kind: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """Adapter settings for a ``sandbox: true`` entry, from ``socialdesk sandbox --json``."""
    service = info["services"].get(SERVICE_OF.get(kind, kind))
    if service is None:
        raise FatalError(f"the sandbox has no {kind!r} service")
    if kind in ("facebook", "instagram"):
        values = {"page_id": service["page_id"], "page_token": Secret(service["page_token"], "page_token"),
                  "app_id": service["app_id"], "app_secret": Secret(service["app_secret"], "app_secret"),
                  "verify_token": Secret(service["verify_token"], "verify_token"), "base_url": service["url"],
                  "version": service["version"], "ca_bundle": info["ca_bundle"]}
        return {**values, "ig_user_id": service["ig_user_id"]} if kind == "instagram" else values
    if kind == "zendesk":
        return {"url": service["url"], "auth": "oauth", "client_id": service["oauth_client_id"],
                "client_secret": Secret(service["oauth_client_secret"], "client_secret"),
                "ca_bundle": info["ca_bundle"]}
    if kind == "x":
        return {"auth": "oauth2", "client_id": service["oauth_client_id"],
                "client_secret": Secret(service["oauth_client_secret"], "client_secret"),
                "authorize_url": service["oauth_authorize_url"], "base_url": service["url"],
                "ca_bundle": info["ca_bundle"]}
    if kind == "salesforce":
        return {"login_url": service["login_url"], "auth": "client_credentials",
                "client_id": service["client_id"], "client_secret": Secret(service["client_secret"], "client_secret"),
                "username": service["api_username"], "ca_bundle": info["ca_bundle"]}
    raise FatalError(f"no sandbox settings known for {kind!r}")


def consent_on_sandbox(adapter: Any) -> bool:
    """Give the consent an admin would, for a sandbox entry that signs in with an
    authorization-code grant; True when a grant was stored (in the adapter's vault)."""
    if not isinstance(adapter, SignsInWithOAuth) or adapter.oauth is None:
        return False
    client = adapter.oauth.client
    if client.grant != "authorization_code":
        return False
    consent = Consent.begin(client, SANDBOX_REDIRECT)
    answer = requests.get(consent.url, allow_redirects=False, **client.request_options())
    location = answer.headers.get("Location", "")
    if not location.startswith(SANDBOX_REDIRECT):
        raise FatalError(f"the sandbox's {client.vendor} consent page answered HTTP {answer.status_code}, "
                         f"not a redirect back to socialdesk")
    vault = adapter.oauth.vault
    _, version, _ = vault.load()
    if not vault.save(consent.finish(location), version):
        raise FatalError(f"the sandbox grant of {client.endpoint!r} could not be stored: another process stored one")
    return True


class SandboxEndpoints:
    """The daemon's ``endpoint_settings`` for a running sandbox: sandbox entries wired to
    it (settings, and the consent its OAuth grants need), others as written."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.info = info

    def __call__(self, endpoint: Any) -> Mapping[str, Any]:
        if endpoint.sandbox:   # reached through the sandbox; used as the mapping says (mode)
            return {**sandbox_settings(endpoint.kind, self.info), **endpoint.settings}
        return dict(endpoint.settings)

    def consent(self, endpoint: Any, adapter: Any) -> None:
        if endpoint.sandbox:
            consent_on_sandbox(adapter)


def subscribe_on_sandbox(info: Mapping[str, Any], kind: str, callback_url: str) -> None:
    """Do what an admin does in Meta's App Dashboard: point the app's webhook for this
    network at the daemon (Meta checks it with a GET first) and subscribe the Page."""
    service = info["services"]["meta"]
    graph = f"{service['url']}/{service['version']}"
    obj, fields = SUBSCRIPTIONS[kind]
    answer = requests.post(f"{graph}/{service['app_id']}/subscriptions", verify=info["ca_bundle"], timeout=30, data={
        "object": obj, "callback_url": callback_url, "fields": fields, "verify_token": service["verify_token"],
        "access_token": service["app_token"]})
    if answer.status_code != 200:
        raise FatalError(f"the sandbox's Meta app refused the webhook at {callback_url}: HTTP {answer.status_code} "
                         f"{answer.text[:200]}")
    answer = requests.post(f"{graph}/{service['page_id']}/subscribed_apps", verify=info["ca_bundle"], timeout=30,
                           data={"subscribed_fields": "feed,mention,messages", "access_token": service["page_token"]})
    if answer.status_code != 200:
        raise FatalError(f"the sandbox's Page refused the app's subscription: HTTP {answer.status_code}")


def sandbox_subscriptions(info: Mapping[str, Any] | None, config: Any, networks: Mapping[str, Any],
                          web_url: str) -> dict[str, Callable[[], str]]:
    """The sandbox's Meta app subscriptions to point at this daemon, by the lease the daemon
    holds while one replica does it (``Daemon.register_push``): none without a sandbox."""
    from sync.keeper import subscription_lease

    if info is None:
        return {}
    return {subscription_lease(name): functools.partial(_subscribed, info, network.kind,
                                                        f"{web_url}/hooks/network/{name}")
            for name, network in networks.items()
            if network.kind in SUBSCRIPTIONS and config.networks[name].sandbox}


def _subscribed(info: Mapping[str, Any], kind: str, callback_url: str) -> str:
    subscribe_on_sandbox(info, kind, callback_url)
    return f"subscribed at {callback_url}"


def sandbox_endpoints(info: Mapping[str, Any] | None) -> SandboxEndpoints | None:
    """The daemon's ``endpoint_settings``: sandbox entries wired to ``info``, others as written."""
    return SandboxEndpoints(info) if info is not None else None
