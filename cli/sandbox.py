"""``socialdesk sandbox``: serve local HTTPS stand-ins for the remote APIs until Ctrl-C."""
from __future__ import annotations

import argparse
import sys

from cli.common import stop_event


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until Ctrl-C; ``--json`` prints what a client needs as the first line."""
    from sandbox.server import SERVICES, Sandbox

    sandbox = Sandbox(services=tuple(args.service or SERVICES)).start()
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
            sys.stdout.flush()
        stop.wait()
    finally:
        sandbox.stop()
    return 0
