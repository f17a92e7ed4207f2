"""``socialdesk report``: response times against first-response targets, volumes per network
and route, held replies and why, quarantine and vendor cost, over ``--since``; aligned tables
in the terminal (plain text when the output is not one), ``--json``, ``--html FILE`` with charts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from cli.common import EXIT_CONFIG


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report from the mapping's state and show it; 2 with a short error on bad input."""
    from sync.report import Prices, ReportError, Targets, build_report, parse_span

    try:
        span = parse_span(args.since)
        targets = Targets.parse(getattr(args, "target", None))
        prices = Prices.from_env()
    except ReportError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        return EXIT_CONFIG
    report = _build(args, lambda store, config: build_report(store, config, time.time(), span, route=args.route,
                                                             targets=targets, prices=prices))
    if report is None:
        return EXIT_CONFIG
    if args.html and not _write_html(args.html, report):
        return 1
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print_report(report)
    return 0


def _build(args: argparse.Namespace, build: Any) -> dict[str, Any] | None:
    from cli.common import load_mapping, using_store
    from sync.report import ReportError

    config = load_mapping(args.config, allow_missing_env=True)
    with using_store(config, must_exist=True, write=False) as store:
        try:
            return build(store, config)
        except ReportError as err:
            print(f"socialdesk: {err}", file=sys.stderr)
            return None


def _write_html(path: str, report: Mapping[str, Any]) -> bool:
    from sync.report_page import render_report_html

    try:
        Path(path).write_text(render_report_html(report), encoding="utf-8")
    except OSError as err:
        print(f"socialdesk: cannot write the HTML report to {path}: {err.strerror or type(err).__name__}",
              file=sys.stderr)
        return False
    print(f"socialdesk: report with charts written to {path}", file=sys.stderr)
    return True


# --------------------------------------------------------------------------- terminal


def print_report(report: Mapping[str, Any], out: Any = None) -> None:
    """The report's tables (sync/report_tables.py) through cli/output.py: boxed and coloured on
    a terminal, plain aligned text otherwise."""
    from rich.text import Text

    from cli.output import interactive, show
    from sync.report_tables import parts, title

    tty = interactive(out)
    shown: list[Any] = [Text(f"socialdesk report: {title(report)}", style="bold")]
    for part in parts(report):
        shown += ["", Text(part.heading, style="bold"), _table(part, tty) if part.rows else f"  {part.empty}"]
        if part.note:
            shown.append(Text(part.note, style="dim"))
    show(*shown, stream=out)


def _table(part: Any, tty: bool) -> Any:
    from rich import box
    from rich.table import Table

    from cli.output import cell

    table = Table(box=box.SIMPLE_HEAD if tty else None, show_edge=False, pad_edge=False, collapse_padding=tty,
                  padding=(0, 1), header_style="bold", show_header=True)
    for i, header in enumerate(part.headers):
        table.add_column(header, justify="right" if i in part.numeric else "left", no_wrap=i not in part.fold,
                         overflow="fold" if i in part.fold else "ellipsis")
    for row in part.rows:
        table.add_row(*(cell(c) for c in row))
    return table
