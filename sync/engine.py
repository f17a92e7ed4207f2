"""Old import path of the route and its settings; the code lives in sync/route.py and its parts."""
from __future__ import annotations

from sync.checkpoints import checkpoint
from sync.ingest.composer import conversation_key, mention_from_payload, mention_to_payload
from sync.mirror.guards import HeldReply, luhn_valid, public_reply_guard
from sync.mirror.poster import APPROVAL_RECHECK
from sync.policy import backoff, quick_retry
from sync.route import Route
from sync.settings import PRIORITY_ORDER, SOCIALDESK_TAG, RouteSettings, Stats, TicketSettings

__all__ = ["APPROVAL_RECHECK", "PRIORITY_ORDER", "SOCIALDESK_TAG", "HeldReply", "Route",
           "RouteSettings", "Stats", "TicketSettings", "backoff", "checkpoint",
           "conversation_key", "luhn_valid", "mention_from_payload", "mention_to_payload", "public_reply_guard",
           "quick_retry"]
