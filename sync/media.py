"""Links to a post's attachments that keep working after the network's own expire.

A network's CDN link to a customer's photo or video stops working within days (Meta's),
so a ticket never shows it: it shows a link to the daemon that names the attachment by
its network object id, sealed with the state key (nobody can forge or read one), and the
daemon answers it with a redirect to a link the network gives it fresh at that moment.
No copy of the file is ever kept.
"""
from __future__ import annotations

from typing import Any

from adapters.base import FatalError, Media

MEDIA_PATH = "/media/"


class MediaLinks:
    """Seals an attachment's (network, ref) into a link, and opens one."""

    def __init__(self, store: Any, public_url: str) -> None:
        self.store = store
        self.base = public_url.rstrip("/") + MEDIA_PATH

    def link(self, network: str, media: Media) -> str:
        return self.base + self.store.sealer.seal({"network": network, "ref": media.ref})

    def open(self, token: str) -> tuple[str, str] | None:
        """(network name, ref) a link names; None when it is not one of ours."""
        try:
            value = self.store.sealer.open(token, "media link")
        except (FatalError, ValueError, TypeError):
            return None
        network, ref = value.get("network"), value.get("ref")
        return (network, ref) if isinstance(network, str) and isinstance(ref, str) else None
