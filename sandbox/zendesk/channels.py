"""Zendesk's side of the Channel Framework (any_channel) on ``ZendeskState``: installed
integrations, their instances (accounts), the external resources they pulled or pushed as
tickets and comments, and the agents' public comments sent back through channelback.

One room per job, each a ``channel_*`` module: the records (``channel_records``), installs
and accounts, resources imported, the account's widened write path, channelbacks, pulls,
event callbacks and the control listing. Every public method expects ``self.lock`` held;
calls to the integration service are made by ``channel_flows`` outside the lock.
"""
from __future__ import annotations

from sandbox.zendesk.channel_accounts import ChannelAccounts
from sandbox.zendesk.channel_backs import ChannelBacks
from sandbox.zendesk.channel_events import ChannelEvents
from sandbox.zendesk.channel_imports import ChannelImports
from sandbox.zendesk.channel_listing import ChannelListing
from sandbox.zendesk.channel_pulls import ChannelPulls
from sandbox.zendesk.channel_writes import ChannelWrites


class Channels(ChannelAccounts, ChannelImports, ChannelWrites, ChannelBacks, ChannelPulls, ChannelEvents,
               ChannelListing):
    """The Channel Framework on ``ZendeskState`` (the data lives in ``_reset_channels``).

    ``ChannelWrites`` widens ``run_triggers`` and ``ticket_json``: ``ZendeskState`` lists
    ``Channels`` before the classes that define them, so its ``super()`` reaches theirs."""
