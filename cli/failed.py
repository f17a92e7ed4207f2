"""``socialdesk failed``: list quarantined items and failed replies, or queue them again."""
from __future__ import annotations

import argparse
import json
import sys

import re
from typing import Any

from rich.text import Text

from cli.common import EXIT_CONFIG, load_mapping, using_store
from cli.output import show, table

# What each flow's failed row is, in an operator's words.
WHAT = {"ingest": "mention", "mirror": "reply"}
# A reason starts with the error's class name (``HeldReply: held: ...``): code, not news.
ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z]+: ")


def cmd_failed(args: argparse.Namespace) -> int:
    """List failed items, or queue the given ids again; 1 when an id was not found."""
    config = load_mapping(args.config, allow_missing_env=True)
    with using_store(config, must_exist=True, write=args.action == "retry") as store:
        if args.action == "list":
            rows = store.failed(args.route)
            if args.json:
                print(json.dumps(rows))
            else:
                show(*failed_text(rows))
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


def failed_text(rows: list[dict[str, Any]]) -> list[Any]:
    """``nothing failed``, or a line saying how to retry and a table: id, route, what, tries, why."""
    if not rows:
        return [Text("nothing failed", style="green")]
    held = sum(1 for row in rows if ERROR_CLASS.sub("", row["reason"] or "").startswith("held"))
    counted = f"{len(rows)} item{'s' if len(rows) != 1 else ''} failed or held" + (
        f" ({held} held by a guard)" if held else "")
    return [Text(f"{counted}; queue one again with: socialdesk failed retry ID", style="yellow"),
            table(((row["id"], row["route"], f"{WHAT.get(row['flow'], row['flow'])} {row['key']}", row["attempts"],
                    ERROR_CLASS.sub("", row["reason"] or "")) for row in rows),
                  headers=("id", "route", "what", "tries", "why"))]

