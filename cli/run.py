"""``socialdesk run``: the sync daemon, with its webhook server, optionally on an in-process sandbox."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

from cli.channel import ChannelMount
from cli.common import EXIT_CONFIG, configure_logging, load_mapping, open_store, stop_event
from cli.wiring import SUBSCRIPTIONS, sandbox_endpoints, subscribe_on_sandbox


def set_aside(store: Any) -> str:
    """Rename an SQLite state (and its WAL files) out of the way; the new name."""
    database = store.engine.url.database
    if store.engine.url.get_backend_name() != "sqlite" or not database:
        raise SystemExit("socialdesk: the state was made with an earlier sandbox and is not an SQLite file: "
                         "point 'state:' at a new database")
    kept = f"{database}.{time.strftime('%Y%m%dT%H%M%S')}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.replace(database + suffix, kept + suffix)
    return kept


def webhooks_said(created: dict[str, list[str]]) -> str:
    """What ``setup_push`` made, in words: per helpdesk, what it created, or already there."""
    if not created:
        return "none to set up"
    return "; ".join(f"{name}: " + (", ".join(made) + " created" if made else "already set up")
                     for name, made in sorted(created.items()))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (``--once``: one pass and its status); exit 2 when the mapping cannot be used."""
    from adapters.http import watch_calls
    from sync.daemon import Daemon, StateMismatch
    from sync.web import WebServer

    configure_logging(args.verbose, getattr(args, "log_format", "text"))
    config = load_mapping(args.config)
    sandbox = None
    info = None
    if args.sandbox:
        from sandbox.server import Sandbox

        sandbox = Sandbox().start()
        info = sandbox.info()
        print(sandbox.info_json(), flush=True)
    elif config.uses_sandbox:
        print(f"socialdesk: {args.config} routes to the sandbox; add --sandbox "
              "(or try 'socialdesk demo')", file=sys.stderr)
        return EXIT_CONFIG
    store = open_store(config)
    web = None
    channel = None
    try:
        try:
            daemon = Daemon(config, store, sandbox_endpoints(info), watch_calls=watch_calls)
            daemon.bind_accounts()
        except StateMismatch as err:
            if sandbox is None:
                print(f"socialdesk: {err}", file=sys.stderr)
                return EXIT_CONFIG
            # A fresh sandbox has fresh accounts: the state of an earlier one would send
            # its replies to that sandbox's posts. It is kept, aside; this run starts afresh.
            store.close()
            kept = set_aside(store)
            print(f"socialdesk: the state was made with an earlier sandbox; kept as {kept}, starting afresh",
                  file=sys.stderr, flush=True)
            store = open_store(config)
            daemon = Daemon(config, store, sandbox_endpoints(info), watch_calls=watch_calls)
            daemon.bind_accounts()
        daemon.prepare()
        listen = config.webhook
        if listen is not None or sandbox is not None:
            host, port = (listen.host, listen.port) if listen else ("127.0.0.1", 0)
            channel = ChannelMount.of(daemon)   # Zendesk's Channel Framework, for a helpdesk in that mode
            app = channel.wrap(daemon.web_app())
            web = WebServer(app, host, port).start()
            public = (listen.public_url if listen and listen.public_url else web.url)
            channel.start(app, public, info)
            if sandbox is not None:
                for name, desk in daemon.helpdesks.items():
                    if desk.kind == "salesforce":
                        sandbox.connect_push("salesforce", f"{web.url}/hooks/salesforce/{name}")
            try:
                if sandbox is not None:
                    for name, network in daemon.networks.items():
                        if network.kind in SUBSCRIPTIONS and config.networks[name].sandbox:
                            subscribe_on_sandbox(info, network.kind, f"{web.url}/hooks/network/{name}")
                daemon.serve_media(public)
                created = daemon.setup_push(public)
                logging.getLogger("socialdesk").info("listening at %s; helpdesk webhooks: %s", web.url,
                                                     webhooks_said(created))
            except Exception as err:  # polling still mirrors; say why push is off
                logging.getLogger("socialdesk").warning(
                    "helpdesk webhook setup failed: agents' replies are read by polling (networks' webhooks are "
                    "still received): %s", err)
        if args.once:
            daemon.run_once()
            print(json.dumps(daemon.status(), default=str), flush=True)
            return 0
        stop = stop_event()
        daemon.start()
        logging.getLogger("socialdesk").info("running %d route(s); Ctrl-C to stop", len(daemon.routes))
        stop.wait()
        daemon.stop()
    finally:
        if channel is not None:
            channel.stop()
        if web is not None:
            web.stop()
        store.close()
        if sandbox is not None:
            sandbox.stop()
    return 0
