"""Plans, rate limits, vocabularies and caps of the Zendesk stand-in, and the choices
made where the contracts are silent (``FIDELITY_NOTES``).
"""
from __future__ import annotations


JSON_CT = "application/json; charset=utf-8"
WEBHOOKS_CT = "application/json"
TEXT_CT = "text/plain; charset=utf-8"

# family -> (limit, seconds). Figures from LIMITS.md §1.1 (Enterprise plan, no add-ons).
LIMIT_DEFAULTS: dict[str, tuple[int, int]] = {
    "account": (700, 60),
    "incremental": (10, 60),
    "tickets_index": (100, 60),
    "ticket_create": (300, 60),
    "ticket_updates": (100, 60),
    "per_ticket_updates": (30, 600),
    "user_updates": (5, 60),
    "webhooks": (100, 60),
}
# Plan -> requests per minute for the account (LIMITS.md §1.1, Suite/Support plans).
PLAN_LIMITS: dict[str, int] = {"essential": 10, "team": 200, "growth": 400, "professional": 400,
                               "enterprise": 700, "enterprise_plus": 2500}
DEFAULT_PLAN = "enterprise"
# The High Volume add-on raises a qualifying plan TO 2,500/min, ticket updates to 300/min and
# incremental exports to 30/min; Enterprise Plus has it built in.
HIGH_VOLUME_PLANS = frozenset({"growth", "professional", "enterprise", "enterprise_plus"})
HIGH_VOLUME_FIGURES: dict[str, tuple[int, int]] = {"account": (2500, 60), "ticket_updates": (300, 60),
                                                   "incremental": (30, 60)}
INCREMENTAL_LAG = 60
INCREMENTAL_PAGE = 1000
PAGE_MAX = 100
BULK_MAX = 100
COMMENT_CAP = 5000
MAX_INFLIGHT_JOBS = 30
JOB_SECONDS = 5.0
IDEMPOTENCY_TTL = 2 * 3600
WEBHOOK_TIMEOUT = 12.0
REQUEST_LOG_MAX = 5000

# OAuth (developer.zendesk.com "OAuth Tokens for Grant Types"): access tokens live 1800 s
# unless the token request asks for 300..172800; refresh tokens 30 days unless it asks for
# 7..90 days. An authorization code lives 120 s (assumed: not found in Zendesk's docs).
ACCESS_SECONDS, ACCESS_MIN, ACCESS_MAX = 1800, 300, 172_800
REFRESH_SECONDS, REFRESH_MIN, REFRESH_MAX = 30 * 86400, 7 * 86400, 90 * 86400
CODE_SECONDS = 120
# API tokens: none issued since 27 Oct 2026, all deactivated on 30 Apr 2027 (00:00 UTC).
API_TOKEN_SUNSET = 1_809_043_200.0
INVALID_TOKEN = ("The access token provided is expired, revoked, malformed or invalid for other "
                 "reasons.")

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("question", "incident", "problem", "task")
TYPE_IDS = {"question": 1, "incident": 2, "problem": 3, "task": 4}
AGENT_ROLES = ("agent", "admin")
VIA_API_ID = 5
WEBHOOK_CONTENT_TYPES = {"json": "application/json; charset=utf-8",
                         "xml": "application/xml; charset=utf-8",
                         "form_encoded": "application/x-www-form-urlencoded; charset=utf-8"}
IDENTITY_TYPES = ("email", "twitter", "facebook", "google", "phone_number", "agent_forwarding",
                  "any_channel", "foreign", "sdk")

FORBIDDEN_BODY = {"error": "Forbidden",
                  "description": "You do not have access to this page. Please contact the account "
                                 "owner of this help desk for further help."}
NOT_FOUND_BODY = {"error": "RecordNotFound", "description": "Not found"}

FIDELITY_NOTES: tuple[str, ...] = (
    "too-recent incremental start_time: 422 InvalidValue 'Too recent start_time. Use a start_time "
    "older than 1 minute' (public clients show 422 + the 5-minute-era wording; 1-minute text assumed)",
    "time-based exports: end_time = last timestamp, +1 when end_of_stream is false (as recorded); "
    "an empty page answers end_time = start_time (assumed)",
    "ticket_events: comment children in the documented sideload shape; other children carry the "
    "field name as key (zenpy sample); top-level via is a display string ('Web service', 'Rule')",
    "cursor export: before_cursor/before_url always null; an empty page after a cursor echoes it",
    "429 bodies are invented plain text; windows are fixed windows on the sandbox clock",
    "webhooks API counts against its own 100/min bucket only and also sends ratelimit-* headers",
    "create responses carry generated_timestamp 0 (as recorded 2024); reads carry the real value",
    "first comment author defaults to the requester on create, to the caller on update; comments "
    "authored by end users are always public",
    "custom fields: unknown ids and invalid drop-down values are dropped (as reported), a "
    "non-numeric integer answers 422 (text invented); integer/decimal values are strings",
    "tags are lower-cased and split on whitespace; drop-down fields and their tags stay in sync",
    "solving without an assignee assigns the acting agent; follow-ups set via.source.rel follow_up",
    "jobs: working at the 1st poll, completed at the 2nd, or by themselves after 5 s of sandbox time",
    "webhooks: JSON:API error bodies, invocation statuses success/terminated/pending/retrying, "
    "short fixed retry delays, no circuit breaker, signature timestamp on the wall clock",
    "placeholders are JSON-escaped for json webhooks; unknown placeholders render empty",
    "triggers: a subset of conditions/actions; unknown condition fields never match",
    "not modelled: search API, attachments/uploads, email, automations, SLA timers, CCs/followers",
    "OAuth: authorization codes live 120 s (assumed); any presentation spends a code; scopes are "
    "recorded, not enforced; error texts are the standard OAuth server ones (only invalid_token's "
    "is quoted by Zendesk); expires_in out of range names the bound (wording assumed)",
    "outage (control API): 503 {error: ServiceUnavailable} with Retry-After when the end is known "
    "(wording and header assumed); chaos 429s reuse the account limit's text",
)
