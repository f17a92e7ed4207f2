"""Zendesk Support: the adapter class and the names tests and the registry import."""
from __future__ import annotations

from adapters.helpdesk.zendesk.client import AGENT_ROLES, ZendeskHelpdesk, ZendeskSettings
from adapters.helpdesk.zendesk.jobs import _JobSlots

__all__ = ["AGENT_ROLES", "ZendeskHelpdesk", "ZendeskSettings", "_JobSlots"]
