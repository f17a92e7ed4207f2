"""Salesforce Service Cloud: the adapter class and the names tests and the registry import."""
from __future__ import annotations

from adapters.helpdesk.salesforce.client import API_VERSION, SalesforceHelpdesk, SalesforceSettings

__all__ = ["API_VERSION", "SalesforceHelpdesk", "SalesforceSettings"]
