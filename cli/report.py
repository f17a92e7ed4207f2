"""``socialdesk report``: response times against first-response targets, volumes per network
and route, held replies and why, quarantine and vendor cost, over ``--since``; aligned tables
in the terminal (plain text when the output is not one), ``--json``, ``--html FILE`` with charts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

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
    from cli.common import load_mapping, open_store
    from sync.report import ReportError

    config = load_mapping(args.config, allow_missing_env=True)
    store = open_store(config)
    try:
        return build(store, config)
    except ReportError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        return None
    finally:
        store.close()


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
    """The report as aligned tables: boxed and coloured on a terminal, plain text otherwise."""
    from rich.console import Console

    stream = out or sys.stdout
    tty = stream.isatty()
    console = Console(file=stream, highlight=False, **({} if tty else {"width": 200, "color_system": None}))
    for heading, headers, rows, note in sections(report):
        console.print()
        console.print(f"[bold]{heading}[/bold]" if tty else heading, markup=tty)
        if rows:
            console.print(_table(headers, rows, tty))
        elif note:
            console.print(f"  {note}", markup=False)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], tty: bool) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if tty else None, show_edge=False, pad_edge=False,
                  header_style="bold" if tty else "", show_header=True)
    for h in headers:
        table.add_column(h, justify="left" if h in LEFT else "right", overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


LEFT = {"route", "network", "helpdesk", "state", "reply", "ticket / case", "held for", "why", "item", "post", "to retry",
        "routes", "budget"}
Section = tuple[str, Sequence[str], list[Sequence[Any]], str]


def sections(report: Mapping[str, Any]) -> list[Section]:
    """(heading, headers, rows, what to say when there are no rows) for each part of the report."""
    from sync.charts import duration
    from sync.report import HOLDS
    from sync.report_page import at

    routes = list(report.get("routes") or [])
    head = f"socialdesk report: {at(report.get('since'))} to {at(report.get('until'))} ({duration(report.get('span'))})"
    return [
        (f"{head}\n\nVolumes per route", ["route", "network", "helpdesk", "state", "read", "opened", "into tickets/cases",
                                          "filtered", "quarantined", "replies posted", "held", "failed", "waiting"],
         [_volume_row(r) for r in routes], "no routes"),
        ("Volumes per network", ["network", "routes", "read", "conversations opened", "replies posted", "held", "failed"],
         [(k, ", ".join(n["routes"]), n["read"], n["opened"], n["posted"], n["held"], n["failed"])
          for k, n in (report.get("networks") or {}).items()], "no routes"),
        ("Response times (median / p90)", ["route", "mention → ticket", "reply → post", "customer post → reply",
                                           "first response", "met", "breached", "open"],
         [_time_row(r) for r in routes], "no routes"),
        (f"First-response target: {(report.get('targets') or {}).get('source')}", [], [], ""),
        ("Held replies", ["reply", "route", "ticket / case", "held for", "why"],
         [(h["id"], h["route"], h["ticket_id"], HOLDS.get(h.get("hold") or "", h.get("hold")), h.get("why"))
          for h in report.get("held") or []], "none held"),
        ("Failed replies", ["reply", "route", "ticket / case", "why", "to retry"],
         [(f["id"], f["route"], f["ticket_id"], f.get("why"), f"socialdesk failed retry {f['id']}")
          for f in report.get("failed") or []], "none failed"),
        ("Quarantine", ["item", "route", "post", "why"],
         [(q["id"], q["route"], q["key"], q["reason"]) for q in report.get("quarantine") or []], "nothing set aside"),
        _cost_section(report.get("cost") or {}),
    ]


def _volume_row(r: Mapping[str, Any]) -> Sequence[Any]:
    v, h = r["volumes"], r.get("health") or {}
    state = h.get("state") or "never run"
    if h.get("reason"):
        state += f" ({h['reason']})"
    return (r["name"], r["network_kind"], f"{r['helpdesk']} ({r['helpdesk_kind']})", state, v["read"],
            f"{v['opened']} {r['noun']}", v["written"], v["filtered"], v["quarantined"], v["posted"], v["held"],
            v["failed"], v["waiting"])


def _time_row(r: Mapping[str, Any]) -> Sequence[Any]:
    from sync.charts import duration

    def pair(spread: Mapping[str, Any]) -> str:
        return f"{duration(spread['median'])} / {duration(spread['p90'])}" if spread["count"] else "-"

    t, s = r["times"], r["sla"]
    return (r["name"], pair(t["mention_to_ticket"]), pair(t["reply_to_post"]), pair(t["post_to_reply"]),
            pair(t["first_response"]), s["met"], s["breached"], s["open"])


def _cost_section(cost: Mapping[str, Any]) -> Section:
    from sync.report import budget_text

    prices = cost.get("prices") or {}
    heading = (f"X reads this month ({cost.get('month')}): ${cost.get('usd', 0):.2f} at most, at "
               f"${prices.get('posts', 0):g} a post and ${prices.get('dm_events', 0):g} a DM event "
               f"({cost.get('price_source')}; X bills a post once a UTC day, so the bill can be lower)")
    rows = [(name, c["posts"], c["dm_events"], f"${c['usd']:.2f}", budget_text(c.get("budget") or {}))
            for name, c in (cost.get("routes") or {}).items()]
    return heading, ["route", "posts read", "DM events read", "cost at most", "budget"], rows, "no route reads X"

