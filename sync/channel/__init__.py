"""Channel Framework mode (Zendesk any_channel): socialdesk as Zendesk's channel integration.

A mapping's Zendesk helpdesk entry with ``mode: channel`` has Zendesk make its tickets: the
routes into it read posts as ever, each write becomes an external resource that Zendesk
pulls and socialdesk pushes (``ledger``, ``push``), and agents' replies come back through
channelback (``replies``). ``service`` keeps the tenants (one per integration instance)
and answers Zendesk's calls; ``app`` serves them under ``/channel/``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sync.channel.app import ChannelApp, mount
from sync.channel.ports import HostsChannel
from sync.channel.replies import Refused
from sync.channel.service import ChannelService

_PLUGIN = Path(__file__).resolve().parents[2] / "plugin_manifest.json"
# The global OAuth client Zendesk makes push tokens for (push docs: the manifest's push_client_id).
PUSH_CLIENT_ENV = "SOCIALDESK_CHANNEL_PUSH_CLIENT_ID"


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
    return ChannelService(daemon.store, daemon.clock, desks, routes, daemon.routes.get, identity())


__all__ = ["ChannelApp", "ChannelService", "HostsChannel", "Refused", "channel_for", "identity", "mount"]
