"""socialdesk command line: sandbox | run | demo | check | status | failed."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Sequence


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import Sandbox

    sandbox = Sandbox(services=tuple(args.service) if args.service else tuple(
        __import__("sandbox.server", fromlist=["SERVICES"]).SERVICES))
    sandbox.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sb = sub.add_parser("sandbox", help="serve local HTTPS stand-ins for the remote APIs")
    sb.add_argument("--json", action="store_true",
                    help="print one JSON line (CA bundle, URLs, credentials) first")
    sb.add_argument("--service", action="append", choices=["zendesk", "x"],
                    help="serve only this service (repeatable; default: all)")
    sb.set_defaults(func=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
