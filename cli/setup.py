"""``socialdesk setup``: create the helpdesk webhook and trigger on real helpdesks (idempotent)."""
from __future__ import annotations

import argparse
import sys

from cli.common import EXIT_CONFIG, load_mapping, open_store


def cmd_setup(args: argparse.Namespace) -> int:
    """Create the webhook and trigger each helpdesk calls; exit 2 without a public URL or on sandbox routes."""
    from sync.daemon import Daemon

    config = load_mapping(args.config)
    if config.uses_sandbox:
        print("socialdesk: setup configures real helpdesks; sandbox routes are set up by 'run --sandbox'",
              file=sys.stderr)
        return EXIT_CONFIG
    public = args.public_url or (config.webhook.public_url if config.webhook else None)
    if not public:
        print("socialdesk: give --public-url or webhook.public_url: the address the helpdesk calls",
              file=sys.stderr)
        return EXIT_CONFIG
    store = open_store(config)
    try:
        daemon = Daemon(config, store)
        for name, created in daemon.setup_push(public).items():
            print(f"{name}: " + (", ".join(f"created {c}" for c in created) if created else "already set up"))
    finally:
        store.close()
    return 0
