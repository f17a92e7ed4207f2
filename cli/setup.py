"""``socialdesk setup``: create the helpdesk webhook and trigger on real helpdesks (idempotent)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import EXIT_CONFIG, load_mapping, using_store
from cli.public_url import public_url_problem


def cmd_setup(args: argparse.Namespace) -> int:
    """Create the webhook and trigger each helpdesk calls. Exit 2 for a missing or unusable
    public URL or sandbox routes, 1 when a helpdesk refuses or cannot be reached, 3 for the state."""
    config = load_mapping(args.config)
    if config.uses_sandbox:
        print("socialdesk: setup configures real helpdesks; sandbox routes are set up by 'run --sandbox'",
              file=sys.stderr)
        return EXIT_CONFIG
    public = _public_url(args, config)
    if public is None:
        return EXIT_CONFIG
    with using_store(config) as store:
        return _set_up(config, store, public)


def _public_url(args: argparse.Namespace, config: Any) -> str | None:
    """The address the helpdesk calls, when it is one it can call (else said, and None)."""
    given = args.public_url
    public = given or (config.webhook.public_url if config.webhook else None)
    if not public:
        print("socialdesk: give --public-url or webhook.public_url: the address the helpdesk calls",
              file=sys.stderr)
        return None
    label = "--public-url" if given else f"webhook.public_url in {args.config}"
    problem = public_url_problem(public, allow_private=getattr(args, "allow_private", False), label=label)
    if problem:
        print(f"socialdesk: {problem}", file=sys.stderr)
        return None
    return public


def _set_up(config: Any, store: Any, public: str) -> int:
    """Check each helpdesk's credentials, then create what is missing; one line per helpdesk."""
    from adapters.base import ReceivesWebhooks, SocialdeskError
    from sync.daemon import Daemon

    try:
        daemon = Daemon(config, store)
    except SocialdeskError as err:
        print(f"socialdesk: setup: {err}", file=sys.stderr)
        return EXIT_CONFIG
    receivers = [name for name, desk in daemon.helpdesks.items() if isinstance(desk, ReceivesWebhooks)]
    refused = 0
    for name in receivers:
        try:
            daemon.helpdesks[name].whoami()
        except SocialdeskError as err:
            refused += 1
            print(f"socialdesk: setup: {_refusal(name, config, err)}", file=sys.stderr)
    if refused:
        return 1
    try:
        done = daemon.setup_push(public)
    except SocialdeskError as err:
        # Signed in, yet refused a webhook or trigger (an agent's role, not an admin's?).
        print(f"socialdesk: setup: {_refusal(receivers[0] if len(receivers) == 1 else None, config, err)}",
              file=sys.stderr)
        return 1
    for name, created in done.items():
        print(f"{name}: " + (", ".join(f"created {c}" for c in created) if created else "already set up"))
    return 0


def _refusal(name: str | None, config: Any, err: Exception) -> str:
    """One line: which helpdesk refused or could not be reached, and what to do."""
    from adapters.base import AuthFailed, RetriableError

    endpoint = config.helpdesks[name] if name else None
    where = f"helpdesk {name} ({endpoint.kind} at {_address(endpoint)})" if endpoint else "a helpdesk"
    if isinstance(err, AuthFailed):
        return (f"{where} refused: {err}; fix its credentials (an admin's) in the mapping, or run "
                f"'socialdesk connect {name or 'NAME'}', then run setup again")
    if isinstance(err, RetriableError):
        return f"{where} could not be reached: {err}; try again shortly"
    return f"{where}: {err}"


def _address(endpoint: Any) -> str:
    settings = endpoint.settings
    return str(settings.get("url") or settings.get("login_url") or settings.get("instance_url") or "its URL")
