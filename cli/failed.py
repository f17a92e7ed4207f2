"""``socialdesk failed``: list quarantined items and failed replies, or queue them again."""
from __future__ import annotations

import argparse
import json
import sys

from cli.common import EXIT_CONFIG, load_mapping, open_store


def cmd_failed(args: argparse.Namespace) -> int:
    """List failed items, or queue the given ids again; 1 when an id was not found."""
    config = load_mapping(args.config, allow_missing_env=True)
    store = open_store(config)
    try:
        if args.action == "list":
            rows = store.failed(args.route)
            if args.json:
                print(json.dumps(rows))
            elif not rows:
                print("nothing failed")
            for row in rows:
                print(f"{row['id']:>8}  {row['route']}  {row['flow']:6}  {row['key']}  "
                      f"attempts={row['attempts']}  {row['reason']}")
            return 0
        if not args.ids:
            print("socialdesk: failed retry needs ids (see 'socialdesk failed list')", file=sys.stderr)
            return EXIT_CONFIG
        status = 0
        for ident in args.ids:
            try:
                ok = store.retry_failed(ident)
            except ValueError as err:
                print(f"socialdesk: {err}", file=sys.stderr)
                status = EXIT_CONFIG
                continue
            print(f"{ident}: " + ("queued again" if ok else "not found among failed items"))
            status = status or (0 if ok else 1)
        return status
    finally:
        store.close()
