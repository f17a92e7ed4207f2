"""``socialdesk sandbox``: serve local HTTPS stand-ins for the remote APIs until Ctrl-C."""
from __future__ import annotations

import argparse
import sys

from cli.common import stop_event


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until Ctrl-C; ``--json`` prints what a client needs as the first line."""
    from sandbox.server import SERVICES, Sandbox

    x: dict[str, float] = {}
    if args.x_index_lag is not None:
        x["index_lag"] = args.x_index_lag
    if args.x_trailing_empty_page is not None:
        x["trailing_empty_page"] = args.x_trailing_empty_page
    try:
        sandbox = Sandbox(services=tuple(args.service or SERVICES), settings={"x": x},
                          accounts={"zendesk": args.zendesk_accounts}).start()
    except ValueError as err:
        print(f"socialdesk sandbox: {err}", file=sys.stderr)
        return 2
    stop = stop_event()
    try:
        if args.json:
            print(sandbox.info_json(), flush=True)
        else:
            info = sandbox.info()
            print("socialdesk sandbox is serving (Ctrl-C to stop)")
            print(f"  CA bundle: {info['ca_bundle']}")
            for name, service in info["services"].items():
                print(f"  {name:8} {service['url']}")
                for account in info["accounts"][name][1:]:
                    print(f"  {'':8} {account['url']} ({account['subdomain']})")
            sys.stdout.flush()
        stop.wait()
    finally:
        sandbox.stop()
    return 0
