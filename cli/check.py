"""``socialdesk check``: validate the mapping, connect to every endpoint, resolve names, report SLA coverage."""
from __future__ import annotations

import argparse
from typing import Any

from cli.common import EXIT_CONFIG, load_mapping, open_store
from cli.wiring import sandbox_endpoints


def cmd_check(args: argparse.Namespace) -> int:
    """Validate, connect, resolve every helpdesk name, report SLA coverage; 1 when any check failed."""
    from adapters.base import ChecksSetup, SocialdeskError
    from sync.daemon import build_adapter

    config = load_mapping(args.config, allow_missing_env=True)
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
    # OAuth grants live in the state (``socialdesk connect`` put them there).
    store = None if config.uses_sandbox else open_store(config)
    try:
        for role, endpoints in (("helpdesk", config.helpdesks), ("social", config.networks)):
            for name, endpoint in endpoints.items():
                try:
                    adapter = build_adapter(role, endpoint, sandbox_endpoints(info), store)
                    who = adapter.whoami()
                    shown = f"@{who.handle} (id {who.id})" if role == "social" else f"user id {who}"
                    print(f"  {role} {name} ({endpoint.kind}): connected as {shown}")
                    for problem in adapter.verify_setup() if isinstance(adapter, ChecksSetup) else []:
                        failures += 1
                        print(f"  {role} {name} ({endpoint.kind}): FAILED: {problem}")
                except SocialdeskError as err:
                    failures += 1
                    print(f"  {role} {name} ({endpoint.kind}): FAILED: {err}")
        if not failures:
            desks = {name: build_adapter("helpdesk", ep, sandbox_endpoints(info), store)
                     for name, ep in config.helpdesks.items()}
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
        if store is not None:
            store.close()
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
