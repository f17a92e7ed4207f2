"""Serve the sandbox services over real HTTPS with a throwaway certificate authority.

Each service is a Flask app on its own loopback port, served by cheroot over TLS with
HTTP/1.1 keep-alive, as the vendors serve: a client's connection carries many requests
(werkzeug's development server closed every one, so each request paid a TLS handshake on
both sides, a cost no vendor charges). The CA is generated per run (trustme) and written
to a PEM file that the clients are pointed at; nothing else differs between the sandbox
and production. A request's socket is in its environ as ``sandbox.socket`` (the chaos
faults cut connections with it).

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
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import trustme
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

HOST = "127.0.0.1"
THREADS = 16            # requests one account serves at once (idle keep-alive connections hold none)
KEEP_ALIVE = 75         # seconds an idle connection stays open (load balancers' usual 60 s and more)
CONNECTIONS = 1000      # open keep-alive connections per service before new ones close after a request
SOCKET = "sandbox.socket"

log = logging.getLogger("sandbox.http")

# service name -> module with create_service(settings) -> (flask app, public info dict)
SERVICES: dict[str, str] = {
    "zendesk": "sandbox.zendesk",
    "x": "sandbox.x",
    "salesforce": "sandbox.salesforce",
    "meta": "sandbox.meta",
}


def _factory(name: str) -> Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]]:
    return importlib.import_module(SERVICES[name]).create_service


class _Gateway(wsgi.Gateway_10):
    """WSGI 1.0, with the request's socket in the environ (``SOCKET``)."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[SOCKET] = self.req.conn.socket
        return environ


class _Server(wsgi.Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        # A client gone mid-request, a fault cutting a connection: the server's own news,
        # not the service's (the app logs and answers its own errors).
        log.debug("%s", msg, exc_info=traceback)


@dataclass
class _Running:
    server: _Server
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
    _pem: str = ""
    ca_bundle: str = ""

    def start(self) -> "Sandbox":
        for name, count in self.accounts.items():
            if count < 1 or (count > 1 and (name != "zendesk" or name not in self.services)):
                raise ValueError(f"{name} accounts {count}: only a served zendesk has more than one "
                                 f"account, and it has at least one")
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="socialdesk-sandbox-")
            self.workdir = self._tmp.name
        ca = trustme.CA(organization_name="socialdesk sandbox CA")
        cert = ca.issue_cert(HOST, "localhost")
        self.ca_bundle = os.path.join(self.workdir, "sandbox-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        self._pem = os.path.join(self.workdir, "sandbox-server.pem")   # the server's key and certificate
        cert.private_key_and_cert_chain_pem.write_to_path(self._pem)
        for name in self.services:
            self._running[name] = self._serve(name, self.ports.get(name, 0), {})
            self._extra[name] = [self._serve(name, 0, {"subdomain": f"sandbox{k}"})
                                 for k in range(2, self.accounts.get(name, 1) + 1)]
        return self

    def _serve(self, name: str, port: int, account: dict[str, Any]) -> _Running:
        server = _Server((HOST, port), None, numthreads=THREADS, timeout=KEEP_ALIVE,
                         request_queue_size=128, shutdown_timeout=1)
        server.keep_alive_conn_limit = CONNECTIONS
        server.ssl_adapter = BuiltinSSLAdapter(self._pem, self._pem)
        server.prepare()    # bound: the port is known
        url = f"https://{HOST}:{server.bind_addr[1]}"
        app, info = _factory(name)({"url": url, **self.settings.get(name, {}), **account})
        server.wsgi_app = app
        thread = threading.Thread(target=server.serve, name=f"sandbox-{name}", daemon=True)
        thread.start()
        return _Running(server, thread, app, {"url": url, **info})

    def stop(self) -> None:
        for running in [*self._running.values(), *(r for extra in self._extra.values() for r in extra)]:
            running.server.stop()
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
