"""Channel Framework mode wired into ``socialdesk run``: the ``/channel/`` endpoints on the
daemon's web server, an https address for them, and (with ``--sandbox``) the integration
installed in the sandbox's Zendesk as an admin installs it.

Zendesk calls an integration over https only. In production the daemon sits behind the
TLS of ``webhook.public_url``. A local run (the sandbox, a trial) has no such address: the
endpoints are then also served over HTTPS on loopback with a throwaway certificate, which
a local Zendesk stand-in accepts as it accepts a local test service's.
"""
from __future__ import annotations

import logging
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from adapters.base import FatalError

log = logging.getLogger("socialdesk")

SANDBOX_ACCOUNT_NAME = "socialdesk (sandbox)"


class ChannelMount:
    """The daemon's channel service, mounted (a no-op when no helpdesk is in channel mode)."""

    def __init__(self, daemon: Any) -> None:
        from sync.channel import ChannelApp, channel_for

        self.service = channel_for(daemon)
        self.public: str | None = None
        self.app = ChannelApp(self.service, lambda: self.public) if self.service is not None else None
        self._tls: Any = None
        self._tmp: Any = None

    @classmethod
    def of(cls, daemon: Any) -> "ChannelMount":
        return cls(daemon)

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """The daemon's web app with ``/channel/`` mounted."""
        from sync.channel import mount

        return mount(self.app, app) if self.app is not None else app

    def start(self, app: Callable[..., Any], public_url: str, sandbox: Mapping[str, Any] | None = None) -> str | None:
        """Serve the endpoints at an https address, start pushing, and with a sandbox,
        install the integration there; the manifest's URL (None: not in channel mode)."""
        if self.service is None:
            return None
        if urlsplit(public_url).scheme == "https":
            self.public = public_url.rstrip("/")
        else:
            try:
                self.public = self._serve_tls(app, urlsplit(public_url).hostname or "127.0.0.1")
            except FatalError as err:
                log.error("%s; until then Zendesk can neither pull nor send replies, and posts wait", err)
                return None
        self.service.start()
        manifest_url = f"{self.public}/channel/manifest.json"
        log.info("Channel Framework integration at %s", manifest_url)
        if sandbox is not None:
            try:
                instance = install_on_sandbox(sandbox, manifest_url)
                log.info("the sandbox's Zendesk installed the integration: account %s", instance)
            except (FatalError, requests.RequestException) as err:
                log.warning("the Channel Framework integration is not installed on the sandbox (Zendesk neither "
                            "pulls nor sends replies): %s", err)
        return manifest_url

    def _serve_tls(self, app: Callable[..., Any], host: str) -> str:
        import trustme
        from werkzeug.serving import make_server

        if host not in ("127.0.0.1", "localhost", "::1"):
            raise FatalError(f"the Channel Framework needs an https address: set webhook.public_url (the daemon "
                             f"listens on {host} without one)")
        ca = trustme.CA(organization_name="socialdesk local channel")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._tmp = tempfile.TemporaryDirectory(prefix="socialdesk-channel-")
        ca.cert_pem.write_to_path(str(Path(self._tmp.name) / "ca.pem"))
        self._tls = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
        threading.Thread(target=self._tls.serve_forever, name="socialdesk-channel-tls", daemon=True).start()
        url = f"https://127.0.0.1:{self._tls.server_port}"
        log.info("no https public address: the Channel Framework endpoints are also served at %s (loopback, a "
                 "throwaway certificate)", url)
        return url

    @property
    def ca_bundle(self) -> str | None:
        """The throwaway CA of the loopback https address, for a local client to trust."""
        return str(Path(self._tmp.name) / "ca.pem") if self._tmp is not None else None

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
        if self._tls is not None:
            self._tls.shutdown()
            self._tls.server_close()
            self._tls = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def install_on_sandbox(info: Mapping[str, Any], manifest_url: str, account_name: str = SANDBOX_ACCOUNT_NAME) -> int:
    """Do what a Zendesk admin does: install the integration from its manifest URL and add
    an account through socialdesk's admin UI. The account's instance id."""
    service = info["services"]["zendesk"]
    answer = requests.post(f"{service['url']}/_sandbox/channel_integrations", verify=info["ca_bundle"], timeout=60,
                           json={"manifest_url": manifest_url, "form": {"name": account_name}})
    if answer.status_code != 201:
        raise FatalError(f"the sandbox's Zendesk refused the channel integration at {manifest_url}: HTTP "
                         f"{answer.status_code} {answer.text[:300]}")
    made = answer.json()
    if made.get("instance_id") is None:
        raise FatalError(f"the sandbox's Zendesk installed the integration but made no account: {made}")
    return int(made["instance_id"])
