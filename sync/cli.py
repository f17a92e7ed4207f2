"""socialdesk: social mentions into your helpdesk, agent answers back to the network.

Commands: demo | run | sandbox | check | setup | status | failed | rules explain.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Sequence

from cli.wiring import sandbox_endpoints

EXIT_CONFIG = 2


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "apscheduler", "urllib3", "zenpy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config(path: str, allow_missing_env: bool = False) -> Any:
    from sync.config import ConfigError, load_config

    try:
        return load_config(path, allow_missing_env=allow_missing_env)
    except FileNotFoundError:
        print(f"socialdesk: no such mapping file: {path}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except ConfigError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def _state_url(config: Any) -> str:
    from adapters.base import Secret

    url = config.state_url
    return url.reveal() if isinstance(url, Secret) else str(url)


def _store(config: Any) -> Any:
    from sync.store import Store

    store = Store(_state_url(config))
    store.migrate()
    return store


# ---------------------------------------------------------------------------- sandbox


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import SERVICES, Sandbox

    sandbox = Sandbox(services=tuple(args.service or SERVICES)).start()
    stop = _stop_event()
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


# ---------------------------------------------------------------------------- run


def _cmd_run(args: argparse.Namespace) -> int:
    from sync.daemon import Daemon
    from sync.web import WebServer

    _logging(args.verbose)
    config = _config(args.config)
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
    store = _store(config)
    web = None
    try:
        daemon = Daemon(config, store, sandbox_endpoints(info))
        daemon.prepare()
        listen = config.webhook
        if listen is not None or sandbox is not None:
            host, port = (listen.host, listen.port) if listen else ("127.0.0.1", 0)
            web = WebServer(daemon.web_app(), host, port).start()
            public = (listen.public_url if listen and listen.public_url else web.url)
            if sandbox is not None:
                for name, desk in daemon.helpdesks.items():
                    if desk.kind == "salesforce":
                        sandbox.connect_push("salesforce", f"{web.url}/hooks/salesforce/{name}")
            try:
                created = daemon.setup_push(public)
                logging.getLogger("socialdesk").info("webhooks ready at %s (%s)", web.url, created or "unchanged")
            except Exception as err:  # polling still mirrors; say why push is off
                logging.getLogger("socialdesk").warning("webhook setup failed, polling only: %s", err)
        if args.once:
            daemon.run_once()
            print(json.dumps(daemon.status(), default=str), flush=True)
            return 0
        stop = _stop_event()
        daemon.start()
        logging.getLogger("socialdesk").info("running %d route(s); Ctrl-C to stop", len(daemon.routes))
        stop.wait()
        daemon.stop()
    finally:
        if web is not None:
            web.stop()
        store.close()
        if sandbox is not None:
            sandbox.stop()
    return 0


# ---------------------------------------------------------------------------- demo


def _cmd_demo(args: argparse.Namespace) -> int:
    from sync.demo import render, run_demo

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    progress = (lambda _: None) if args.json else (lambda line: print(line, flush=True))
    summary = run_demo(args.config, progress, helpdesk=args.helpdesk)
    print(json.dumps(summary) if args.json else render(summary), flush=True)
    return 0 if summary["lost"] == 0 and summary["duplicates"] == 0 else 1


# ---------------------------------------------------------------------------- check


def _cmd_check(args: argparse.Namespace) -> int:
    from adapters.base import SocialdeskError
    from sync.daemon import build_adapter

    config = _config(args.config, allow_missing_env=True)
    print(f"{args.config}: valid (version {config.version}, {len(config.routes)} route(s))")
    if config.missing_env:
        for ref in config.missing_env:
            print(f"  missing environment variable {ref.name} (used by {ref.where})")
        return EXIT_CONFIG
    sandbox = None
    info = None
    if config.uses_sandbox:
        from sandbox.server import Sandbox

        sandbox = Sandbox().start()
        info = sandbox.info()
        print("  sandbox endpoints: checked against a temporary local sandbox")
        if args.sandbox:
            from sandbox.service_levels import seed

            seed(info)
            print("  sandbox helpdesks seeded with SLA policies and triggers like a live account's")
    failures = 0
    try:
        for role, endpoints in (("helpdesk", config.helpdesks), ("social", config.networks)):
            for name, endpoint in endpoints.items():
                try:
                    adapter = build_adapter(role, endpoint, sandbox_endpoints(info))
                    who = adapter.whoami()
                    shown = f"@{who.handle} (id {who.id})" if role == "social" else f"user id {who}"
                    print(f"  {role} {name} ({endpoint.kind}): connected as {shown}")
                    for problem in getattr(adapter, "verify_setup", lambda: [])():
                        failures += 1
                        print(f"  {role} {name} ({endpoint.kind}): FAILED: {problem}")
                except SocialdeskError as err:
                    failures += 1
                    print(f"  {role} {name} ({endpoint.kind}): FAILED: {err}")
        if not failures:
            desks = {name: build_adapter("helpdesk", ep, sandbox_endpoints(info)) for name, ep in config.helpdesks.items()}
            for route in config.routes:
                desk = desks[route.helpdesk]
                failures += _check_names(desk, f"route {route.name}", route.ticket)
                for rule in route.rules:
                    failures += _check_names(desk, f"route {route.name} rule {rule.name!r}", rule.then)
            if not failures:
                from sync.coverage import coverage_report, format_report

                print("SLA coverage (what the helpdesk's own rules do with each kind of social ticket):")
                for line in format_report(coverage_report(config, desks)):
                    print(f"  {line}")
    finally:
        if sandbox is not None:
            sandbox.stop()
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1


def _check_names(desk: Any, label: str, fields: Any) -> int:
    """Resolve the helpdesk names a ticket template or rule action uses; failures found."""
    from adapters.base import SocialdeskError

    failures = 0
    names = [(kind, getattr(fields, attr, None)) for kind, attr in (
        ("group", "group"), ("brand", "brand"), ("form", "form"), ("entitlement", "entitlement"),
        ("form", "record_type"))]
    names += [("field", name) for name in getattr(fields, "custom_fields", {}) or {}]
    for kind, value in names:
        if value is None:
            continue
        try:
            print(f"  {label}: {kind} {value!r} is id {desk.lookup(kind, value)}")
        except SocialdeskError as err:
            failures += 1
            print(f"  {label}: FAILED: {err}")
    return failures


# ---------------------------------------------------------------------------- setup, status, failed


def _cmd_setup(args: argparse.Namespace) -> int:
    from sync.daemon import Daemon

    config = _config(args.config)
    if config.uses_sandbox:
        print("socialdesk: setup configures real helpdesks; sandbox routes are set up by 'run --sandbox'",
              file=sys.stderr)
        return EXIT_CONFIG
    public = args.public_url or (config.webhook.public_url if config.webhook else None)
    if not public:
        print("socialdesk: give --public-url or webhook.public_url: the address the helpdesk calls",
              file=sys.stderr)
        return EXIT_CONFIG
    store = _store(config)
    try:
        daemon = Daemon(config, store)
        for name, created in daemon.setup_push(public).items():
            print(f"{name}: " + (", ".join(f"created {c}" for c in created) if created else "already set up"))
    finally:
        store.close()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    config = _config(args.config, allow_missing_env=True)
    store = _store(config)
    try:
        counts, health, budgets = store.counts(), store.health(), store.budgets()
        if args.json:
            shown = {name: {k: v for k, v in b.items() if k != "calls_per_minute"} for name, b in budgets.items()}
            print(json.dumps({"routes": counts, "health": health, "budgets": shown}, default=str))
            return 0
        for route in config.routes:
            c = counts.get(route.name, {})
            h = health.get(route.name, {"state": "never run"})
            print(f"route {route.name}: {h['state']}" + (f" ({h['reason']})" if h.get("reason") else ""))
            print(f"  inbox   {c.get('inbox', {})}")
            print(f"  outbox  {c.get('outbox', {})}")
            print(f"  tickets {c.get('tickets', 0)}   cursors {c.get('cursors', {})}")
            budget = budgets.get(route.helpdesk)
            if budget:
                used, total = budget.get("org_usage") or (None, None)
                print(f"  API budget ({route.helpdesk}): org {used}/{total} today; socialdesk "
                      f"{budget['socialdesk_calls_24h']} calls in 24 h, share {budget['share']:.0%}"
                      + (f"; polling slowed x{budget['slowdown']:g}, writes batched from "
                         f"{budget.get('batch_from', 2)} pending" if budget.get("slowdown", 1) > 1 else ""))
    finally:
        store.close()
    return 0


def _cmd_failed(args: argparse.Namespace) -> int:
    config = _config(args.config, allow_missing_env=True)
    store = _store(config)
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


# ---------------------------------------------------------------------------- rules explain


def _sample_mention(path: str) -> Any:
    """The Mention written in a JSON file; exit 2 naming the file and the key when it cannot be read."""
    from sync.rules import MentionError, mention_from_dict

    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as err:
        print(f"socialdesk: {path}: cannot read the mention: {err.strerror or err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except json.JSONDecodeError as err:
        print(f"socialdesk: {path}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except UnicodeDecodeError:
        print(f"socialdesk: {path}: the mention file is not UTF-8 text", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    try:
        return mention_from_dict(data)
    except MentionError as err:
        print(f"socialdesk: {path}: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def _explained_route(config: Any, mention: Any, name: str | None) -> Any:
    """``--route NAME``, else the first route reading the mention's network (and stream, if one does)."""
    if name:
        try:
            return config.route(name)
        except KeyError as err:
            print(f"socialdesk: {err.args[0]}", file=sys.stderr)
            raise SystemExit(EXIT_CONFIG)
    candidates = [r for r in config.routes if config.networks[r.network].kind == mention.network]
    if not candidates:
        kinds = sorted({config.networks[r.network].kind for r in config.routes})
        print(f"socialdesk: no route in {config.source} reads a {mention.network!r} network "
              f"(routes read: {', '.join(kinds)}); give --route NAME to evaluate one anyway", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    stream = "dms" if mention.kind == "dm" else "mentions"
    return next((r for r in candidates if stream in r.streams), candidates[0])


def _cmd_rules_explain(args: argparse.Namespace) -> int:
    from sync.rules import evaluate, ticket_fields

    config = _config(args.config, allow_missing_env=True)
    mention = _sample_mention(args.mention)
    route = _explained_route(config, mention, args.route)
    evaluation = evaluate(route, mention)
    desk_kind = config.helpdesks[route.helpdesk].kind
    fields = ticket_fields(evaluation.ticket, mention, desk_kind)
    network_kind = config.networks[route.network].kind
    if args.json:
        print(json.dumps({"route": route.name, "network": route.network, "helpdesk": route.helpdesk,
                          "helpdesk_kind": desk_kind, "rules_match": route.rules_match,
                          "fired": list(evaluation.fired), "stopped_by": evaluation.stopped_by,
                          "explain": evaluation.explain(), "ticket": fields}, default=str))
        return 0
    print(f"route {route.name}: {route.network} ({network_kind}) -> {route.helpdesk} ({desk_kind}); "
          f"rules_match: {route.rules_match}; {len(route.rules)} rule(s)")
    if network_kind != mention.network:
        print(f"  note: this route reads {network_kind}; the mention is from {mention.network}")
    for line in evaluation.explain():
        print(line)
    print("ticket:")
    for key, value in fields.items():
        if key == "custom_fields":
            print("  custom fields:" + ("" if value else " (none)"))
            for name, field_value in value.items():
                print(f"    {name}: {field_value}")
        elif key == "tags":
            print(f"  tags: {', '.join(value) if value else '(none)'}")
        else:
            shown = "-" if value is None else ("true" if value is True else "false" if value is False else value)
            print(f"  {key}: {shown}")
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socialdesk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("SOCIALDESK_CONFIG", "mapping.yaml")

    p = sub.add_parser("demo", help="play a scripted day on the sandbox and print a summary")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--config", help="mapping to use (default: a built-in sandbox mapping)")
    p.add_argument("--helpdesk", choices=["zendesk", "salesforce"], default="zendesk",
                   help="which sandbox helpdesk the built-in mapping uses (default: %(default)s)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run", help="run the sync daemon")
    p.add_argument("--config", default=default_config, help="mapping file (default: %(default)s)")
    p.add_argument("--sandbox", action="store_true",
                   help="serve an in-process sandbox and print its JSON first")
    p.add_argument("--once", action="store_true", help="run every step once, print status, exit")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sandbox", help="serve local HTTPS stand-ins for the remote APIs")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line (CA bundle, URLs, credentials) first")
    p.add_argument("--service", action="append", choices=["zendesk", "x", "salesforce"],
                   help="serve only this service (repeatable; default: all)")
    p.set_defaults(func=_cmd_sandbox)

    p = sub.add_parser("check", help="validate the mapping, connect, say what was found")
    p.add_argument("--config", default=default_config)
    p.add_argument("--sandbox", action="store_true",
                   help="give the sandbox helpdesks the SLA policies and triggers of a live account")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("setup", help="create the helpdesk webhook and trigger (idempotent)")
    p.add_argument("--config", default=default_config)
    p.add_argument("--public-url", help="base URL where the helpdesk reaches this daemon")
    p.set_defaults(func=_cmd_setup)

    p = sub.add_parser("status", help="per-route health, queues and cursors")
    p.add_argument("--config", default=default_config)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("failed", help="list or retry quarantined items and failed replies")
    p.add_argument("action", choices=["list", "retry"])
    p.add_argument("ids", nargs="*", help="ids from 'failed list' (retry)")
    p.add_argument("--route")
    p.add_argument("--config", default=default_config)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_failed)

    p = sub.add_parser("rules", help="see what a route's rules make of a mention")
    rules = p.add_subparsers(dest="rules_command", required=True)
    p = rules.add_parser("explain", help="which rules a sample mention fires, and the ticket it gets")
    p.add_argument("--config", default=default_config, help="mapping file (default: %(default)s)")
    p.add_argument("--mention", required=True, metavar="FILE",
                   help="a JSON mention: id, network, kind, text, author {id, handle, ...}, metrics ...")
    p.add_argument("--route", help="route to evaluate (default: the first one reading the mention's network)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=_cmd_rules_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
