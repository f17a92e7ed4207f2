"""Channel Framework mode (Zendesk any_channel): socialdesk as Zendesk's channel integration.

A mapping's Zendesk helpdesk entry with ``mode: channel`` has Zendesk make its tickets: the
routes into it read posts as ever, each write becomes an external resource that Zendesk
pulls and socialdesk pushes (``ledger``, ``push``), and agents' replies come back through
channelback (``replies``). ``service`` keeps the tenants (one per integration instance)
and answers Zendesk's calls; ``app`` serves them under ``/channel/``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from sync.channel.app import ChannelApp, mount
from sync.channel.pacing import DEFAULT_WAIT, check_wait
from sync.channel.ports import HostsChannel
from sync.channel.replies import Refused
from sync.channel.service import ChannelService

log = logging.getLogger("socialdesk.channel")
_PLUGIN = Path(__file__).resolve().parents[1] / "plugin_manifest.json"   # installed with the package
# The global OAuth client Zendesk makes push tokens for (push docs: the manifest's push_client_id).
PUSH_CLIENT_ENV = "SOCIALDESK_CHANNEL_PUSH_CLIENT_ID"
# Seconds a new resource may wait for others to fill its push (pacing.py), for every account.
PUSH_WAIT_ENV = "SOCIALDESK_CHANNEL_PUSH_WAIT"


def identity() -> dict[str, str]:
    """The integration's name, version and author, as plugin_manifest.json lists them, and
    the OAuth client Zendesk makes push tokens for."""
    try:
        plugin = json.loads(_PLUGIN.read_text())
    except (OSError, ValueError):
        plugin = {}
    author = plugin.get("author") or {}
    return {"name": str(plugin.get("name") or "socialdesk"), "version": str(plugin.get("version") or "0"),
            "author": str(author.get("name") or "socialdesk"),
            "push_client_id": os.environ.get(PUSH_CLIENT_ENV, "socialdesk")}


def channel_for(daemon: Any) -> ChannelService | None:
    """The daemon's channel service, when a helpdesk entry is in Channel Framework mode."""
    desks = {name: desk for name, desk in daemon.helpdesks.items() if isinstance(desk, HostsChannel)}
    if not desks:
        return None
    routes: dict[str, list[str]] = {}
    for route in daemon.config.routes:
        routes.setdefault(route.helpdesk, []).append(route.name)
    return ChannelService(daemon.store, daemon.clock, desks, routes, daemon.routes.get, identity(), push_wait())


def push_wait() -> float:
    """The push wait of every account in Channel Framework mode: ``SOCIALDESK_CHANNEL_PUSH_WAIT``
    seconds (0 to 120), else 3; a value that is not one is logged, naming the variable, and
    the default is used (an account's own ``push_wait`` still wins)."""
    value = os.environ.get(PUSH_WAIT_ENV, "").strip()
    if not value:
        return DEFAULT_WAIT
    try:
        return check_wait(value, PUSH_WAIT_ENV)
    except ValueError as err:
        log.error("%s; pushing with the default wait of %g s", err, DEFAULT_WAIT)
        return DEFAULT_WAIT


__all__ = ["ChannelApp", "ChannelService", "HostsChannel", "Refused", "channel_for", "identity", "mount", "push_wait"]
