"""Adapter registry: kind -> "module:Class", imported only when a route uses it."""
from __future__ import annotations

import difflib
import importlib
from typing import Any

from adapters.base import FatalError

REGISTRY: dict[str, tuple[str, str]] = {
    # kind: (role, "module:Class")
    "x": ("social", "adapters.social.x:XNetwork"),
    "facebook": ("social", "adapters.social.facebook:FacebookPage"),
    "instagram": ("social", "adapters.social.instagram:InstagramAccount"),
    "zendesk": ("helpdesk", "adapters.helpdesk.zendesk:ZendeskHelpdesk"),
    "salesforce": ("helpdesk", "adapters.helpdesk.salesforce:SalesforceHelpdesk"),
}


def kinds(role: str | None = None) -> list[str]:
    """Registered adapter kinds, optionally only those of one role."""
    return sorted(k for k, (r, _) in REGISTRY.items() if role is None or r == role)


def resolve(kind: str, role: str | None = None) -> Any:
    """The adapter class registered for ``kind``; a clear error for an unknown one."""
    entry = REGISTRY.get(kind)
    if entry is None or (role is not None and entry[0] != role):
        choices = kinds(role)
        close = difflib.get_close_matches(kind, choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        what = f"{role} adapter" if role else "adapter"
        raise FatalError(f"unknown {what} kind {kind!r}; known: {', '.join(choices)}.{hint}")
    module_name, _, class_name = entry[1].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)
