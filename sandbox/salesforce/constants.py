"""API versions, editions, caps and namespaces of the Salesforce stand-in, and the
choices made where no source says what Salesforce does (``FIDELITY_NOTES``).
"""
from __future__ import annotations


JSON_CT = "application/json;charset=UTF-8"
XML_CT = "text/xml;charset=UTF-8"
API_VERSION = "59.0"  # simple-salesforce 1.12 DEFAULT_API_VERSION
MIN_VERSION, MAX_VERSION = 20, 62
CREATED_FLAG_VERSION = 46  # upsert bodies carry "created" (and updates answer 200) from v46.0
DAILY_API_DEFAULT = 15_000  # Developer Edition allocation (LIMITS.md §1.2)
DAILY_WINDOW = 24 * 3600
# Edition -> (base allocation, per Salesforce/Platform licence) for 24 h (LIMITS.md §1.2).
EDITIONS: dict[str, tuple[int, int]] = {
    "developer": (15_000, 0), "professional": (100_000, 1_000), "enterprise": (100_000, 1_000),
    "unlimited": (100_000, 5_000), "performance": (100_000, 5_000), "full_sandbox": (5_000_000, 0)}
SESSION_SECONDS = 7200
CODE_SECONDS = 15 * 60  # an authorization code lives 15 minutes (assumed)
QUERY_PAGE = 2000
LOCATOR_IDLE = 15 * 60
COLLECTION_MAX = 200
COMPOSITE_MAX = 25
COMMENT_BYTES = 4000
OM_BATCH = 100
OM_MAX_AGE = 24 * 3600
OM_TIMEOUT = 60.0
OM_RETRY_INITIAL = 1.0
OM_RETRY_MAX = 7200.0
REQUEST_LOG_MAX = 5000
MASTER_RECORD_TYPE = "012000000000000AAA"
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SOCIAL_FIELDS = ("Social_Post_Id__c", "Social_Network__c", "Social_Handle__c", "Social_Post_Url__c",
                 "Social_Tags__c")
ENTITLEMENT_FIELDS = ("EntitlementId", "SlaStartDate", "SlaExitDate", "IsStopped", "StopStartDate",
                      "MilestoneStatus")
NOT_FOUND_MSG = "The requested resource does not exist"

FIDELITY_NOTES: tuple[str, ...] = (
    "no Salesforce OpenAPI exists; shapes follow CumulusCI recordings, restforce fixtures and docs",
    "Case describe: the recorded scratch-org fields verbatim, plus Origin value 'Social', RecordTypeId, "
    "entitlement fields (EntitlementId, SlaStartDate, SlaExitDate, IsStopped, StopStartDate, "
    "MilestoneStatus; metadata assumed, switchable) and the socialdesk custom fields; "
    "childRelationships trimmed to a representative few",
    "describe metadata of objects other than Case is modelled on the Case recording, not recorded",
    "upsert update answers 200 with created:false from API v46.0 and 204 before (boundary assumed to "
    "match the documented 'created' flag); updateOnly=true with no match is a 404 NOT_FOUND",
    "an external-ID field in an upsert body is refused with 400 INVALID_FIELD (documented; wording assumed)",
    "reference checks: malformed id MALFORMED_ID; well-formed id of the wrong object or of no existing "
    "record FIELD_INTEGRITY_EXCEPTION '<label>: id value of incorrect type' (real orgs may say "
    "INVALID_CROSS_REFERENCE_KEY for deleted targets); RecordTypeId INVALID_CROSS_REFERENCE_KEY",
    "Status/Priority/Origin are unrestricted picklists as recorded (any value accepted); "
    "Social_Network__c is restricted (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)",
    "assignment rules run on Case insert and update (see below); no match assigns the Default Case "
    "Owner (the agent user); an unknown rule id in Sforce-Auto-Assign is ignored",
    "daily API allocation: one rolling 24 h window on the sandbox clock, every authenticated "
    "/services/data call counts 1 (composite and collections count 1), refused calls do not count; "
    "REQUEST_LIMIT_EXCEEDED wording as commonly reproduced; no per-app usage or api-bursts",
    "SOQL subset: one object, relationship paths, child subqueries, WHERE with = != <> < > <= >= IN, "
    "NOT IN, LIKE, AND/OR/NOT, date literals (UTC), ORDER BY, LIMIT, OFFSET, COUNT(); no GROUP BY, "
    "aggregates other than COUNT(), semi-joins, TYPEOF, FIELDS(); polymorphic Owner accepts any field "
    "of User or Group",
    "query locators snapshot the rendered rows; they expire after 15 idle minutes of sandbox time",
    "sessions issued by OAuth or SOAP login expire after 2 h idle on the sandbox clock; the tokens in "
    "the sandbox info never expire (unless expired through /_sandbox/sessions); refresh tokens live "
    "until revoked unless the refresh_token_expires_in setting sets a policy, and rotate only with "
    "the refresh_token_rotation setting (the session they were issued with stays valid either way)",
    "authorization codes live 15 minutes (assumed); any presentation spends one; the client secret is "
    "required for the code and refresh grants (the connected app defaults); the authorize page "
    "approves at once as the integration user; any loopback http redirect URI is accepted (a real "
    "app needs its exact callback URL)",
    "loopback callers count as a trusted IP range: passwords work with or without the security token",
    "JWT bearer: exp is checked against the wall clock; aud must be https://login.salesforce.com, "
    "https://test.salesforce.com or the community URL (info community_url), exactly; error texts for "
    "bad signature ('invalid assertion') and expiry ('expired authorization code') are from public "
    "reports",
    "a CaseComment insert/update touches its Case's LastModifiedDate, LastModifiedById, SystemModstamp; "
    "only a comment saved as published or changed to published sends the Case outbound message (the "
    "Socialdesk_Case_Comment_Published flow)",
    "the active Case assignment rule runs on REST updates too (record PATCH, upsert, Collections) when "
    "Sforce-Auto-Assign is absent or TRUE; agents' UI edits run none",
    "CaseComment.CommentBody is updateable (the integration user is assumed to have Modify All)",
    "collections: per-record errors use statusCode (documented); failed entries carry no id; a record "
    "without attributes.type is a per-record INVALID_FIELD (wording assumed)",
    "Outbound Messaging: registered via /_sandbox/outbound (stands in for the Flow + outbound message "
    "definition), Case notifications only, fields chosen at registration; retries back off "
    "exponentially from 1 s (configurable) up to 2 h, dropped after 24 h of sandbox time; HTTP "
    "headers (SOAPAction, User-Agent) assumed; only HTTP 200 with notificationsResponse/Ack=true counts",
    "the identity URL and /services/oauth2/userinfo answer any valid session (OAuth scopes are not "
    "enforced); tokens report scope 'api'",
    "queryAll pages continue under /query/{locator}; COUNT() never pages; Sforce-Query-Options "
    "batchSize is honoured within 200..2000 (and the control page size)",
    "a non-id string compared with Id in SOQL is 400 INVALID_QUERY_FILTER_OPERATOR 'invalid ID field' "
    "(as real SOQL); a non-id path segment under /sobjects/{type}/ is 404 NOT_FOUND 'Provided external "
    "ID field does not exist or is not accessible'",
    "objects beyond Case/Contact/CaseComment/Account/Entitlement are read-only here "
    "(INVALID_TYPE_FOR_OPERATION, wording assumed)",
    "not modelled: Bulk API, SOSL search, Streaming/Platform Events, Metadata API, record locking, "
    "sharing rules, validation rules, triggers/flows, milestones, field history, duplicate rules",
    "outage (control API): 503 SERVER_UNAVAILABLE on every path, the OAuth token endpoint included, with "
    "Retry-After when the end is known (wording and header assumed); chaos '429' is 403 "
    "REQUEST_LIMIT_EXCEEDED, Salesforce having no 429",
    "agents' UI calls (X-Sandbox-Channel: ui) use none of the daily allocation, as UI activity does not",
)
