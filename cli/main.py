"""socialdesk: social mentions into your helpdesk, agent answers back to the network.

Commands: demo | run | sandbox | check | setup | status | failed | rules explain | schema | package.
"""
from __future__ import annotations

import argparse
import importlib
import os
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Command:
    """A command's function, named by module and imported only when that command runs:
    ``--help`` and ``status`` never load the sandbox or the daemon."""

    module: str
    function: str

    def __call__(self, args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(self.module), self.function)(args) or 0)


SCHEMA_HELP = """\
Print the JSON Schema of the mapping file (mapping.yaml) on stdout.

Editors use it for completion and checking as you type. Save it next to the
mapping and point the YAML language server at it from the file's first line:

  socialdesk schema > mapping.schema.json
  # yaml-language-server: $schema=./mapping.schema.json
"""


def build_parser() -> argparse.ArgumentParser:
    """Every command, flag and default of ``socialdesk``."""
    parser = argparse.ArgumentParser(prog="socialdesk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("SOCIALDESK_CONFIG", "mapping.yaml")

    p = sub.add_parser("demo", help="play a scripted day on the sandbox and print a summary")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--config", help="mapping to use (default: a built-in sandbox mapping)")
    p.add_argument("--helpdesk", choices=["zendesk", "salesforce"], default="zendesk",
                   help="which sandbox helpdesk the built-in mapping uses (default: %(default)s)")
    p.set_defaults(func=Command("cli.demo", "cmd_demo"))

    p = sub.add_parser("run", help="run the sync daemon")
    p.add_argument("--config", default=default_config, help="mapping file (default: %(default)s)")
    p.add_argument("--sandbox", action="store_true",
                   help="serve an in-process sandbox and print its JSON first")
    p.add_argument("--once", action="store_true", help="run every step once, print status, exit")
    p.add_argument("--replica-id", metavar="ID",
                   help="this daemon's name among replicas sharing a PostgreSQL state (default: host:pid)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each call to the vendors too (DEBUG)")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="text for people, json (one object per line) for log collectors (default: %(default)s)")
    p.set_defaults(func=Command("cli.run", "cmd_run"))

    p = sub.add_parser("sandbox", help="serve local HTTPS stand-ins for the remote APIs")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line (CA bundle, URLs, credentials) first")
    p.add_argument("--service", action="append", choices=["zendesk", "x", "salesforce", "meta"],
                   help="serve only this service (repeatable; default: all)")
    p.add_argument("--x-index-lag", type=float, metavar="SECONDS",
                   help="how late X indexes a post at most (default: 3; 0 serves every post at once)")
    p.add_argument("--x-trailing-empty-page", type=float, metavar="P",
                   help="the chance that X's last page names an empty next one (default: 0.1)")
    p.add_argument("--zendesk-accounts", type=int, default=1, metavar="N",
                   help="serve N Zendesk accounts, each on a port of its own (default: %(default)s)")
    p.set_defaults(func=Command("cli.sandbox", "cmd_sandbox"))

    p = sub.add_parser("check", help="validate the mapping, connect, say what was found")
    p.add_argument("--config", default=default_config)
    p.add_argument("--sandbox", action="store_true",
                   help="give the sandbox helpdesks the SLA policies and triggers of a live account")
    p.set_defaults(func=Command("cli.check", "cmd_check"))

    p = sub.add_parser("setup", help="create the helpdesk webhook and trigger (idempotent)")
    p.add_argument("--config", default=default_config)
    p.add_argument("--public-url", help="base URL where the helpdesk reaches this daemon")
    p.add_argument("--allow-private", action="store_true",
                   help="accept a private, loopback or link-local public URL (a test setup)")
    p.set_defaults(func=Command("cli.setup", "cmd_setup"))

    p = sub.add_parser("connect", help="give socialdesk OAuth access to a helpdesk or network (once)",
                       description="Opens the vendor's consent page; the grant is stored encrypted in the "
                                   "state and renews by itself.")
    p.add_argument("name", help="the helpdesk or network entry of the mapping")
    p.add_argument("--config", default=default_config)
    p.add_argument("--redirect-uri", default="http://127.0.0.1:8765/socialdesk/callback",
                   help="the callback address registered with the vendor's OAuth app (default: %(default)s)")
    p.add_argument("--paste", action="store_true",
                   help="no browser here: print the consent address and read back the address it sends you to")
    p.set_defaults(func=Command("cli.connect", "cmd_connect"))

    p = sub.add_parser("key", help="print a new key for SOCIALDESK_SECRET_KEY (the state's encryption key)")
    p.set_defaults(func=Command("cli.connect", "cmd_key"))

    p = sub.add_parser("status", help="per-route health, queues and cursors")
    p.add_argument("--config", default=default_config)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=Command("cli.status", "cmd_status"))

    p = sub.add_parser("failed", help="list or retry quarantined items and failed replies")
    p.add_argument("action", choices=["list", "retry"])
    p.add_argument("ids", nargs="*", help="ids from 'failed list' (retry)")
    p.add_argument("--route")
    p.add_argument("--config", default=default_config)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=Command("cli.failed", "cmd_failed"))

    p = sub.add_parser("rules", help="see what a route's rules make of a mention")
    rules = p.add_subparsers(dest="rules_command", required=True)
    p = rules.add_parser("explain", help="which rules a sample mention fires, and the ticket it gets")
    p.add_argument("--config", default=default_config, help="mapping file (default: %(default)s)")
    p.add_argument("--mention", required=True, metavar="FILE",
                   help="a JSON mention: id, network, kind, text, author {id, handle, ...}, metrics ...")
    p.add_argument("--route", help="route to evaluate (default: the first one reading the mention's network)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=Command("cli.rules", "cmd_rules_explain"))

    p = sub.add_parser("package", help="write the Zendesk app or the Salesforce metadata generated from "
                                       "plugin_manifest.json, or check one")
    p.add_argument("target", choices=["zendesk", "salesforce"], help="what to package")
    p.add_argument("-o", "--output", default="zendesk_app",
                   help="folder to write (default: zendesk_app; salesforce_package for salesforce)")
    p.add_argument("--daemon-url", help="https address where Zendesk reaches this daemon "
                                        "(default: $SOCIALDESK_PUBLIC_URL)")
    p.add_argument("--check", metavar="DIR", help="check the app in DIR (or a zip) against Zendesk's rules "
                                                  "and plugin_manifest.json instead of writing one")
    p.add_argument("--zip", action="store_true", help="also write DIR.zip, ready to upload")
    p.add_argument("--no-drift", action="store_true", help="with --check: Zendesk's rules only")
    p.add_argument("--outbound-url", help="salesforce: the org's outbound message endpoint, "
                                          "https://<daemon>/hooks/salesforce/<helpdesk> (default: the placeholder)")
    p.add_argument("--integration-user", help="salesforce: username the outbound messages are sent as "
                                              "(default: the placeholder)")
    p.set_defaults(func=Command("cli.package", "cmd_package"))

    p = sub.add_parser("report", help="response times against SLA targets, volumes, held replies, vendor cost")
    p.add_argument("--config", default=default_config)
    p.add_argument("--since", default="7d", help="how far back: 30m, 12h, 7d, 4w (default: %(default)s)")
    p.add_argument("--route", help="one route only")
    p.add_argument("--target", metavar="DURATION", help="first-response target: 1h, or per priority "
                   "urgent=15m,high=1h,normal=4h,low=1d (default: 1h; the helpdesk's own SLA policies are not "
                   "read offline)")
    p.add_argument("--html", metavar="FILE", help="also write the report with charts as one HTML file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=Command("cli.report", "cmd_report"))

    p = sub.add_parser("schema", help="print the mapping's JSON Schema (for editor completion)",
                       description=SCHEMA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=Command("cli.schema", "cmd_schema"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
