"""Rate limits, tiers, field and expansion vocabularies, patterns and fixed problem
bodies of the X stand-in.
"""
from __future__ import annotations

import re
from typing import Any, Callable


WINDOW = 15 * 60
# Per-endpoint 15-minute windows (CONTRACTS.md 1.5 and the cassettes' x-rate-limit-limit).
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "users_me": (75, WINDOW),
    "users_by_username": (300, WINDOW),
    "users_by_id": (300, WINDOW),
    "mentions": (450, WINDOW),
    "user_tweets": (1500, WINDOW),
    "tweet_lookup": (300, WINDOW),
    "tweets_lookup": (300, WINDOW),
    "search_recent": (450, WINDOW),
    "create_tweet": (200, WINDOW),
    "delete_tweet": (50, WINDOW),
    "dm_write": (200, WINDOW),
    "dm_read": (300, WINDOW),
}
# Access tiers as per-user 15-minute (or 24-hour) windows (LIMITS.md §1.3); "recorded" are
# the figures the cassettes carry, the default.
DAY = 24 * 3600
TIERS: dict[str, dict[str, tuple[int, int]]] = {
    "recorded": {},
    "pro": {"mentions": (300, WINDOW), "create_tweet": (100, WINDOW), "dm_write": (200, WINDOW)},
    "basic": {"mentions": (10, WINDOW), "create_tweet": (100, DAY), "dm_write": (200, WINDOW)},
}
# OAuth 2.0 (docs.x.com "OAuth 2.0 Authorization Code Flow with PKCE"): access tokens live
# two hours; a refresh token (only with offline.access) is single use and has no documented
# lifetime, so it never expires here; an authorization code lives 30 s (assumed).
ACCESS_SECONDS = 7200
CODE_SECONDS = 30
OAUTH_SCOPES = frozenset(
    "tweet.read tweet.write tweet.moderate.write users.email users.read follows.read "
    "follows.write offline.access space.read mute.read mute.write like.read like.write "
    "list.read list.write block.read block.write bookmark.read bookmark.write dm.read dm.write "
    "media.write".split())
BAD_TOKEN_VALUE = {"error": "invalid_request",
                   "error_description": "Value passed for the token was invalid."}
NO_CLIENT_AUTH = {"error": "unauthorized_client",
                  "error_description": "Missing valid authorization header"}
MENTIONS_REACH = 800
TIMELINE_REACH, TIMELINE_REACH_NO_REPLIES = 3200, 800
SEARCH_DAYS = 7
DM_DAYS = 30
DUPLICATE_SECONDS = 24 * 3600
MAX_WEIGHTED = 280
DM_MAX_CHARS = 10_000

# Enumerations copied from the 2.159 spec; anything else is a 400 like on X.
TWEET_FIELDS = ("article attachments author_id card_uri community_id context_annotations "
                "conversation_id created_at display_text_range edit_controls "
                "edit_history_tweet_ids entities geo id in_reply_to_user_id lang media_metadata "
                "non_public_metrics note_tweet organic_metrics possibly_sensitive "
                "promoted_metrics public_metrics referenced_tweets reply_settings scopes source "
                "suggested_source_links suggested_source_links_with_counts text withheld").split()
USER_FIELDS = ("affiliation confirmed_email connection_status created_at description entities "
               "id is_identity_verified location most_recent_tweet_id name parody "
               "pinned_tweet_id profile_banner_url profile_image_url protected public_metrics "
               "receives_your_dm subscription subscription_type url username verified "
               "verified_followers_count verified_type withheld").split()
TWEET_EXPANSIONS = ("article.cover_media article.media_entities attachments.media_keys "
                    "attachments.media_source_tweet attachments.poll_ids author_id "
                    "edit_history_tweet_ids entities.mentions.username geo.place_id "
                    "in_reply_to_user_id entities.note.mentions.username referenced_tweets.id "
                    "referenced_tweets.id.attachments.media_keys "
                    "referenced_tweets.id.author_id").split()
USER_EXPANSIONS = "affiliation.user_id most_recent_tweet_id pinned_tweet_id".split()
DM_FIELDS = ("attachments created_at dm_conversation_id entities event_type id participant_ids "
             "referenced_tweets sender_id text").split()
DM_EXPANSIONS = "attachments.media_keys participant_ids referenced_tweets.id sender_id".split()
MEDIA_FIELDS = ("alt_text duration_ms height media_key non_public_metrics organic_metrics "
                "preview_image_url promoted_metrics public_metrics type url variants "
                "width").split()
POLL_FIELDS = "duration_minutes end_datetime id options voting_status".split()
PLACE_FIELDS = "contained_within country country_code full_name geo id name place_type".split()
EVENT_TYPES = "MessageCreate ParticipantsJoin ParticipantsLeave".split()
METRIC_KEYS = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count",
               "impression_count")

_FIELD_PARAMS = {"tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS,
                 "media.fields": MEDIA_FIELDS, "poll.fields": POLL_FIELDS,
                 "place.fields": PLACE_FIELDS}
_TWEET_READ = ("tweet.fields", "expansions", "media.fields", "poll.fields", "user.fields",
               "place.fields")
_TIMELINE = ("since_id", "until_id", "max_results", "pagination_token", "start_time",
             "end_time")
_DM_READ = ("max_results", "pagination_token", "event_types", "dm_event.fields", "expansions",
            "media.fields", "user.fields", "tweet.fields")

ID_RE = re.compile(r"^[0-9]{1,19}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_!#$%&*@＠])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")
HASHTAG_RE = re.compile(r"(?<![\w&])[#＃](\w*[^\W\d_]\w*)")
STATUS_URL_RE = re.compile(r"https?://(?:www\.)?(?:x|twitter)\.com/\w+/status/([0-9]{1,19})")

PROBLEM = "https://api.twitter.com/2/problems/"
JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"


UNSUPPORTED_AUTH = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
              "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User "
              "Context].",
    "type": PROBLEM + "unsupported-authentication", "status": 403}
DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
             "type": "about:blank", "title": "Forbidden", "status": 403}
TOO_LONG = ("Your Tweet text is too long. For more information on how Twitter determines text "
            "length see https://github.com/twitter/twitter-text.")
View = Callable[..., tuple[int, dict[str, Any]]]
