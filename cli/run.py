"""``socialdesk run``: the sync daemon, with its webhook server, optionally on an in-process sandbox."""
from __future__ import annotations

import argparse
import json
import logging
import sys

from cli.common import EXIT_CONFIG, configure_logging, load_mapping, open_store, stop_event
from cli.wiring import sandbox_endpoints


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (``--once``: one pass and its status); exit 2 when the mapping cannot be used."""
    from sync.daemon import Daemon
    from sync.web import WebServer

    configure_logging(args.verbose)
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
    try:
        daemon = Daemon(config, store, sandbox_endpoints(info))
        daemon.prepare()
        listen = config.webhook
        if listen is not None or sandbox is not None:
            host, port = (listen.host, listen.port) if listen else ("127.0.0.1", 0)
            web = WebServer(daemon.web_app(), host, port).start()
            public = (listen.public_url if listen and listen.public_url else web.url)
            if sandbox is not None:
                for name, desk in daemon.helpdesks.items():
                    if desk.kind == "salesforce":
                        sandbox.connect_push("salesforce", f"{web.url}/hooks/salesforce/{name}")
            try:
                created = daemon.setup_push(public)
                logging.getLogger("socialdesk").info("webhooks ready at %s (%s)", web.url, created or "unchanged")
            except Exception as err:  # polling still mirrors; say why push is off
                logging.getLogger("socialdesk").warning("webhook setup failed, polling only: %s", err)
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
        if web is not None:
            web.stop()
        store.close()
        if sandbox is not None:
            sandbox.stop()
    return 0
