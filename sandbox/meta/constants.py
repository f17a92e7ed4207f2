"""Meta's figures and vocabulary as the stand-in uses them: versions, windows, limits,
default fields, webhook fields.

Each figure names the vendor fact behind it (shared/contracts/LIMITS.md section 1.4 and
the Meta documentation pages cited there).
"""
from __future__ import annotations

import re

VERSION = "v25.0"
VERSION_RE = re.compile(r"^v\d{1,2}\.\d$")
JSON_TYPE = "application/json; charset=UTF-8"

HOUR = 3600
DAY = 24 * HOUR

# Messenger Platform policy: a RESPONSE (or UPDATE) within 24 hours of the person's last
# message; the HUMAN_AGENT tag up to 7 days after it.
STANDARD_WINDOW = DAY
HUMAN_AGENT_WINDOW = 7 * DAY
# Private Replies: one message per post or comment, within 7 days of its creation.
PRIVATE_REPLY_WINDOW = 7 * DAY
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
# Messenger's message tags; Instagram Messaging accepts HUMAN_AGENT only.
MESSENGER_TAGS = ("CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE",
                  "HUMAN_AGENT")
INSTAGRAM_TAGS = ("HUMAN_AGENT",)
# Send API text limits: Messenger 2,000 characters; Instagram 1,000 bytes (UTF-8).
MESSENGER_TEXT_MAX = 2000
INSTAGRAM_TEXT_BYTES = 1000

# Cursor pages: Graph's default page size is 25; edges accept up to 100 per page.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100

# Batch requests: at most 50 requests per batch, each counted against the limits.
BATCH_MAX = 50

# Rate limiting. Page-token calls fall under Business Use Case limits (Pages: 4,800 calls
# per 24 h times the Page's engaged users; Instagram: 4,800 times impressions); app-token
# calls under Platform limits (200 calls per hour times the app's users). The stand-in
# counts calls against a budget per window: one engaged user, one impression, 50 users.
PAGE_BUDGET = (4800, DAY)
INSTAGRAM_BUDGET = (4800, DAY)
APP_BUDGET = (200 * 50, HOUR)

# Webhooks: a failed delivery is retried, immediately and then less and less often, for
# up to 36 hours, then dropped; up to 1,000 updates ride in one POST.
WEBHOOK_GIVE_UP = 36 * HOUR
WEBHOOK_BATCH_MAX = 1000
# Backoff between attempts (sandbox seconds), the last figure repeating until give-up.
WEBHOOK_BACKOFF = (0.0, 15.0, 60.0, 300.0, 900.0, HOUR, 3 * HOUR, 6 * HOUR)
WEBHOOK_TIMEOUT = 5.0   # Messenger: answer a delivery within 5 seconds
PAGE_WEBHOOK_FIELDS = ("feed", "mention", "messages", "message_echoes", "message_edits")
INSTAGRAM_WEBHOOK_FIELDS = ("comments", "mentions", "messages", "message_edit")

# Signed CDN links (scontent / lookaside): an ``oe`` hex expiry after which the CDN says 403.
CDN_TTL = 3 * DAY

# Default fields of a node read without ``fields=`` (what Graph answers then).
DEFAULT_FIELDS = {
    "Page": ("name", "id"),
    "PagePost": ("created_time", "message", "id"),
    "Comment": ("created_time", "from", "message", "id"),
    "IGUser": ("id",),
    "IGMedia": ("id",),
    "IGComment": ("timestamp", "text", "id"),
    "UnifiedThread": ("id",),
    "Message": ("id", "created_time"),
    "Profile": ("name", "id"),
    "User": ("name", "id"),
    "InstagramUser": ("name", "username", "id"),
}
# Message node fields (Graph API reference, Message): not in the codegen specs.
MESSAGE_FIELDS = frozenset({"id", "created_time", "from", "to", "message", "attachments",
                            "shares", "sticker", "tags", "is_unsupported", "reactions",
                            "story"})
MESSAGE_EDGES = frozenset({"attachments", "shares"})
THREAD_EDGES = frozenset({"messages"})

PERMISSIONS = ("pages_show_list", "pages_read_engagement", "pages_read_user_content",
               "pages_manage_engagement", "pages_manage_metadata", "pages_messaging",
               "instagram_basic", "instagram_manage_comments", "instagram_manage_messages",
               "business_management")
