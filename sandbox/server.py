"""Serve the sandbox services over real HTTPS with a throwaway certificate authority.

Each service is a Flask app on its own loopback port. The CA is generated per run
(trustme) and written to a PEM file that the clients are pointed at; nothing else
differs between the sandbox and production.

A Zendesk account is a host of its own (``acme.zendesk.com``), with its own tickets,
users, export, tokens and rate windows; ``accounts={"zendesk": 60}`` serves 60 of them,
each a separate app on a port of its own (the hosted, multi-tenant case). The first is
``services["zendesk"]``; ``info()["accounts"]["zendesk"]`` lists them all.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import trustme
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"

# service name -> module with create_service(settings) -> (flask app, public info dict)
SERVICES: dict[str, str] = {
    "zendesk": "sandbox.zendesk",
    "x": "sandbox.x",
    "salesforce": "sandbox.salesforce",
    "meta": "sandbox.meta",
}


def _factory(name: str) -> Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]]:
    return importlib.import_module(SERVICES[name]).create_service


@dataclass
class _Running:
    server: BaseWSGIServer
    thread: threading.Thread
    app: Any
    info: dict[str, Any]


@dataclass
class Sandbox:
    """The set of stand-in services, started together and stopped together."""

    services: tuple[str, ...] = tuple(SERVICES)
    ports: dict[str, int] = field(default_factory=dict)
    workdir: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)   # service -> how many accounts (default 1)
    _running: dict[str, _Running] = field(default_factory=dict)
    _extra: dict[str, list[_Running]] = field(default_factory=dict)   # accounts after the first
    _tmp: Any = None
    ca_bundle: str = ""

    def start(self) -> "Sandbox":
        for name, count in self.accounts.items():
            if name != "zendesk" or name not in self.services or count < 1:
                raise ValueError(f"{name} accounts {count}: only a served zendesk has more than one "
                                 f"account, and it has at least one")
        # One line per request on stderr is noise next to the daemon's own log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="socialdesk-sandbox-")
            self.workdir = self._tmp.name
        ca = trustme.CA(organization_name="socialdesk sandbox CA")
        cert = ca.issue_cert(HOST, "localhost")
        self.ca_bundle = os.path.join(self.workdir, "sandbox-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        for name in self.services:
            self._running[name] = self._serve(name, context, self.ports.get(name, 0), {})
            self._extra[name] = [self._serve(name, context, 0, {"subdomain": f"sandbox{k}"})
                                 for k in range(2, self.accounts.get(name, 1) + 1)]
        return self

    def _serve(self, name: str, context: ssl.SSLContext, port: int, account: dict[str, Any]) -> _Running:
        server = make_server(HOST, port, app=None, threaded=True, ssl_context=context)
        url = f"https://{HOST}:{server.server_port}"
        app, info = _factory(name)({"url": url, **self.settings.get(name, {}), **account})
        server.app = app
        thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{name}", daemon=True)
        thread.start()
        return _Running(server, thread, app, {"url": url, **info})

    def stop(self) -> None:
        for running in [*self._running.values(), *(r for extra in self._extra.values() for r in extra)]:
            running.server.shutdown()
            running.server.server_close()
        self._running.clear()
        self._extra.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def app(self, name: str) -> Any:
        return self._running[name].app

    def url(self, name: str) -> str:
        return self._running[name].info["url"]

    def connect_push(self, service: str, url: str) -> None:
        """Do what an admin's deployment does for push: Salesforce's Flow and outbound
        message, pointed at ``url`` (Zendesk's webhook the daemon creates itself)."""
        state = self.app(service).extensions["sandbox_state"]
        state.register_outbound({"url": url})

    def info(self) -> dict[str, Any]:
        """What a client needs: the CA bundle and, per service, its URL and credentials."""
        return {"ca_bundle": self.ca_bundle,
                "services": {n: dict(r.info) for n, r in self._running.items()},
                "accounts": {n: [dict(r.info) for r in [self._running[n], *self._extra.get(n, [])]]
                             for n in self._running}}

    def info_json(self) -> str:
        return json.dumps(self.info(), sort_keys=True)
