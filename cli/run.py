"""``socialdesk run``: the sync daemon, with its webhook server, optionally on an in-process sandbox."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from typing import Any

from cli.channel import ChannelMount
from cli.common import EXIT_CONFIG, configure_logging, load_mapping, open_store, stop_event
from cli.wiring import sandbox_endpoints, sandbox_subscriptions

REPLICA_ID = re.compile(r"[^\s]{1,200}")


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


def webhooks_said(said: dict[str, str]) -> str:
    """What ``register_push`` did, in words: per lease, what it created, already there, or
    which replica set it up."""
    if not said:
        return "none to set up"
    return "; ".join(f"{lease}: {what}" for lease, what in sorted(said.items()))


def replica_id_problem(value: str | None) -> str | None:
    """Why ``--replica-id`` cannot be used (None: it can; not given, the daemon names itself host:pid)."""
    if value is not None and not REPLICA_ID.fullmatch(value):
        return f"--replica-id must be 1 to 200 characters without spaces; got {value!r}"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (``--once``: one pass and its status); exit 2 when the mapping cannot be used."""
    from adapters.http import share_budgets, watch_calls
    from sync.daemon import Daemon, StateMismatch
    from sync.web import WebServer

    replica = getattr(args, "replica_id", None)
    problem = replica_id_problem(replica)
    if problem:
        print(f"socialdesk: {problem}", file=sys.stderr)
        return EXIT_CONFIG
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
            daemon = Daemon(config, store, sandbox_endpoints(info), watch_calls=watch_calls, replica_id=replica,
                            share_budgets=share_budgets)
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
            daemon = Daemon(config, store, sandbox_endpoints(info), watch_calls=watch_calls, replica_id=replica,
                            share_budgets=share_budgets)
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
            daemon.serve_media(public)
            # Once per account across replicas, by the one holding its lease (a failed setup is
            # said and tried again: polling still mirrors meanwhile).
            said = daemon.register_push(public, sandbox_subscriptions(info, config, daemon.networks, web.url))
            logging.getLogger("socialdesk").info("listening at %s as replica %s; helpdesk webhooks: %s", web.url,
                                                 daemon.replica_id, webhooks_said(said))
        if args.once:
            daemon.run_once()
            print(json.dumps(daemon.status(), default=str), flush=True)
            daemon.stop()
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
