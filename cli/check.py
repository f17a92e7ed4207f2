"""``socialdesk check``: validate the mapping, check the state store, connect to every endpoint,
resolve names, report SLA coverage. Many routes get a progress bar on a terminal (a status
line now and then elsewhere)."""
from __future__ import annotations

import argparse
from typing import Any

from cli.common import EXIT_CONFIG, load_mapping, state_url
from cli.wiring import sandbox_endpoints

MANY = 5   # routes from which check shows its progress


def cmd_check(args: argparse.Namespace) -> int:
    """Validate, check the state, connect, resolve every helpdesk name, report SLA coverage;
    1 when any check failed, 2 for a missing environment variable."""
    config = load_mapping(args.config, allow_missing_env=True)
    print(f"{args.config}: valid (version {config.version}, {len(config.routes)} route(s))")
    if config.missing_env:
        for ref in config.missing_env:
            print(f"  missing environment variable {ref.name} (used by {ref.where})")
        return EXIT_CONFIG
    failures, store = _check_state(config)
    sandbox = _sandbox(args.sandbox) if config.uses_sandbox else None
    info = sandbox.info() if sandbox is not None else None
    try:
        failures += _check_remote(config, info, store)
    finally:
        if sandbox is not None:
            sandbox.stop()
        if store is not None:
            store.close()
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1


def _sandbox(seeded: bool) -> Any:
    """A temporary sandbox for the mapping's sandbox entries (with ``seeded``: a live account's
    SLA policies and triggers)."""
    from sandbox.server import Sandbox

    sandbox = Sandbox().start()
    print("  sandbox endpoints: checked against a temporary local sandbox")
    if seeded:
        from sandbox.service_levels import seed

        seed(sandbox.info())
        print("  sandbox helpdesks seeded with SLA policies and triggers like a live account's")
    return sandbox


def _check_remote(config: Any, info: Any, store: Any) -> int:
    """Endpoints, then the names routes use, then SLA coverage; failures found."""
    from cli.output import Progress
    from sync.daemon import build_adapter

    steps = len(config.helpdesks) + len(config.networks) + len(config.routes)
    with (Progress("checking", total=steps) if len(config.routes) >= MANY else _Lines()) as progress:
        failures = _check_endpoints(config, info, store, progress)
        desks = {} if failures else {name: build_adapter("helpdesk", ep, sandbox_endpoints(info), store)
                                     for name, ep in config.helpdesks.items()}
        if desks:
            failures += _check_routes(config, desks, progress)
        progress.finish(f"{steps} of {steps} checked" if not failures else f"{failures} failed")
    if not failures:
        from sync.coverage import coverage_report, format_report

        print("SLA coverage (what the helpdesk's own rules do with each kind of social ticket):")
        for line in format_report(coverage_report(config, desks)):
            print(f"  {line}")
    return failures


class _Lines:
    """A few routes: the lines as they come, no progress."""

    def __enter__(self) -> "_Lines":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def say(self, line: str) -> None:
        print(line)

    def advance(self, steps: float = 1, status: str | None = None) -> None:
        pass

    def finish(self, status: str | None = None) -> None:
        pass


def _check_state(config: Any) -> tuple[int, Any]:
    """Check the state store (reachable, intact, schema version, writable): failures found, and
    the store itself when the endpoints need it (OAuth grants live there; sandbox entries
    get theirs from the sandbox and leave the state alone)."""
    from sync.store import StoreError, check_state, open_state

    url = state_url(config)
    store = None
    try:
        # Made (and migrated) first when the endpoints need it, as 'run' would; never for the sandbox.
        store = None if config.uses_sandbox else open_state(url)
        print(f"  state: {check_state(url)}")
        return 0, store
    except StoreError as err:
        if store is not None:
            store.close()
        first, *more = str(err).splitlines()
        print(f"  state: FAILED: {first}")
        for line in more:
            print(f"    {line.strip()}")
        if not config.uses_sandbox:
            print("  (the endpoints below are checked without the state: OAuth grants kept there are not read)")
        return 1, None


def _check_endpoints(config: Any, info: Any, store: Any, progress: Any) -> int:
    """Connect to every helpdesk and network as the daemon would; failures found."""
    from adapters.base import ChecksSetup, SocialdeskError
    from sync.daemon import build_adapter

    failures = 0
    for role, endpoints in (("helpdesk", config.helpdesks), ("social", config.networks)):
        for name, endpoint in endpoints.items():
            progress.advance(status=f"{role} {name}")
            try:
                adapter = build_adapter(role, endpoint, sandbox_endpoints(info), store)
                who = adapter.whoami()
                shown = f"@{who.handle} (id {who.id})" if role == "social" else f"user id {who}"
                progress.say(f"  {role} {name} ({endpoint.kind}): connected as {shown}")
                for problem in adapter.verify_setup() if isinstance(adapter, ChecksSetup) else []:
                    failures += 1
                    progress.say(f"  {role} {name} ({endpoint.kind}): FAILED: {problem}")
            except SocialdeskError as err:
                failures += 1
                progress.say(f"  {role} {name} ({endpoint.kind}): FAILED: {err}")
    return failures


def _check_routes(config: Any, desks: dict[str, Any], progress: Any) -> int:
    """Resolve the helpdesk names each route and rule uses; failures found."""
    failures = 0
    for route in config.routes:
        progress.advance(status=f"route {route.name}")
        desk = desks[route.helpdesk]
        failures += _check_names(desk, f"route {route.name}", route.ticket, progress.say)
        for rule in route.rules:
            failures += _check_names(desk, f"route {route.name} rule {rule.name!r}", rule.then, progress.say)
    return failures


def _check_names(desk: Any, label: str, fields: Any, say: Any = print) -> int:
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
            say(f"  {label}: {kind} {value!r} is id {desk.lookup(kind, value)}")
        except SocialdeskError as err:
            failures += 1
            say(f"  {label}: FAILED: {err}")
    return failures
