"""``socialdesk connect <name>``: an admin's one-time OAuth consent for a mapping entry.

The consent page opens in a browser (or its address is printed, ``--paste`` for a machine
without one); the vendor sends the browser back to a loopback address where this command
listens, or the admin pastes that address. The grant is stored encrypted in the state
store, where the daemon renews it by itself; a route waiting on a refused grant resumes
at its next re-check. ``socialdesk key`` prints a new state key.
"""
from __future__ import annotations

import argparse
import http.server
import sys
import threading
import webbrowser
from typing import Any, Callable
from urllib.parse import urlsplit

from cli.common import EXIT_CONFIG, load_mapping, using_store

DEFAULT_REDIRECT = "http://127.0.0.1:8765/socialdesk/callback"
WAIT_SECONDS = 300.0


def cmd_key(args: argparse.Namespace) -> int:
    """Print a new key for SOCIALDESK_SECRET_KEY (stored grants stay readable only with
    the key they were sealed with: keep the old one after it, comma-separated)."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from adapters.base import SignsInWithOAuth, SocialdeskError
    from sync.daemon import build_adapter

    config = load_mapping(args.config)
    role, endpoint = _endpoint(config, args.name)
    if endpoint is None:
        names = ", ".join(sorted({*config.helpdesks, *config.networks}))
        print(f"socialdesk: no helpdesk or network named {args.name!r} in {args.config} (there are: {names})",
              file=sys.stderr)
        return EXIT_CONFIG
    if endpoint.sandbox:
        print(f"socialdesk: {args.name!r} is a sandbox entry: 'socialdesk run --sandbox' gives its consent "
              "by itself", file=sys.stderr)
        return EXIT_CONFIG
    with using_store(config) as store:
        try:
            adapter = build_adapter(role, endpoint, None, store)
            if not isinstance(adapter, SignsInWithOAuth) or adapter.oauth is None:
                print(f"socialdesk: {args.name!r} signs in without OAuth (see its auth setting): nothing to connect",
                      file=sys.stderr)
                return EXIT_CONFIG
            source = adapter.oauth
            if source.client.grant == "authorization_code":
                grant = consent(source.client, args.redirect_uri, paste=args.paste, out=print,
                                read=input if args.paste else None)
                store.put_grant(args.name, grant)
            adapter.probe()
        except SocialdeskError as err:
            print(f"socialdesk: connect {args.name}: {err}", file=sys.stderr)
            return 1
    print(f"socialdesk: {args.name} connected; the grant is stored encrypted in the state and renews by itself")
    return 0


def _endpoint(config: Any, name: str) -> tuple[str, Any]:
    if name in config.helpdesks:
        return "helpdesk", config.helpdesks[name]
    if name in config.networks:
        return "social", config.networks[name]
    return "", None


def consent(client: Any, redirect_uri: str, *, paste: bool, out: Callable[[str], None],
            read: Callable[[str], str] | None = None, open_url: Callable[[str], Any] | None = None,
            wait: float = WAIT_SECONDS) -> Any:
    """Run one consent for ``client`` and return its grant.

    Without ``paste``, listen on ``redirect_uri`` (it must be a loopback http address the
    vendor's app registration allows) for the vendor's redirect."""
    from adapters.base import AuthFailed
    from adapters.oauth import Consent

    started = Consent.begin(client, redirect_uri)
    if paste:
        out(f"Open this address, approve, then paste the address your browser is sent to:\n{started.url}")
        assert read is not None
        return started.finish(read("address: ").strip())
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1") or not parts.port:
        raise AuthFailed(f"redirect URI {redirect_uri!r}: listening needs a loopback http address with a port; "
                         "use --paste for any other")
    with _Callback(parts.hostname, parts.port, parts.path or "/") as callback:
        out(f"Approve socialdesk's access in the browser; if none opens, visit:\n{started.url}")
        (open_url or webbrowser.open)(started.url)
        returned = callback.wait(wait)
    if returned is None:
        raise AuthFailed(f"no answer from {client.vendor}'s consent page within {wait:.0f}s")
    return started.finish(returned)


class _Callback:
    """A one-shot loopback server that takes the vendor's redirect."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.path = path
        self.received: str | None = None
        self.done = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if urlsplit(self.path).path != outer.path:
                    self.send_error(404)
                    return
                outer.received = f"http://{host}:{port}{self.path}"
                body = b"socialdesk: done, you can close this tab.\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.done.set()

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
                pass

        self.server = http.server.HTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="socialdesk-callback", daemon=True)

    def __enter__(self) -> "_Callback":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, seconds: float) -> str | None:
        self.done.wait(seconds)
        return self.received
