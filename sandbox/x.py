"""X API v2 stand-in: the endpoints socialdesk uses, shaped like api.x.com.

Contract: xdk ``latest-openapi.json`` (2.159) plus the tweepy cassettes in
shared/contracts/x. Field selection, expansions, pagination tokens, rate-limit headers
and error bodies (``application/problem+json``) follow the real service; where the
sandbox knowingly differs, the difference is named in the docstring that causes it.

State lives in one :class:`XState` behind a lock (the server is threaded). The
``/_sandbox/`` control API plays everyone else on the network: customers posting,
replying and sending DMs, posts going viral, the clock moving, faults and tight limits.
Nothing here imports ``adapters`` or ``sync``: this is the far side of the wire.
"""
from __future__ import annotations

import http
import itertools
import json
import re
import secrets
import socket
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from flask import Flask, Response, g, request
from twitter_text import extract_urls_with_indices, parse_tweet

from sandbox.common import (
    Chaos,
    ChaosFault,
    Clock,
    Outage,
    RateLimits,
    Snowflake,
    cut_connection,
    hold,
    is_chaos_spec,
    retry_after_seconds,
)

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


def iso(ts: float) -> str:
    """X timestamps: UTC, milliseconds, ``Z`` (``2021-01-06T18:40:40.000Z``)."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> float:
    moment = datetime.fromisoformat(value.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def snowflake_at(ts: float, seq: int) -> int:
    return ((int(ts * 1000) - Snowflake.EPOCH_MS) << 22) | (seq & 0x3FFFFF)


def _base(n: int, alphabet: str) -> str:
    digits = ""
    while True:
        n, r = divmod(n, len(alphabet))
        digits = alphabet[r] + digits
        if n == 0:
            return digits


B36 = string.digits + string.ascii_lowercase
B32HEX = string.digits + "ABCDEFGHIJKLMNOPQRSTUV"


def make_token(direction: str, cursor: str, dm: bool = False) -> str:
    """An opaque page token carrying (direction, cursor id): base36 for tweet timelines,
    base32hex padded with ``Z`` for DM events (spec: PaginationToken32, minLength 16)."""
    number = int(("1" if direction == "next" else "2") + cursor)
    if dm:
        return _base(number, B32HEX) + "ZZZZ"
    return _base(number, B36)


def read_token(token: str, dm: bool = False) -> tuple[str, int] | None:
    try:
        number = int(token.rstrip("Z"), 32) if dm else int(token, 36)
    except ValueError:
        return None
    digits = str(number)
    if len(digits) < 2 or digits[0] not in "12":
        return None
    return ("next" if digits[0] == "1" else "prev"), int(digits[1:])


def detect_lang(text: str) -> str:
    """A script-level guess standing in for X's language detection."""
    bare = MENTION_RE.sub("", STATUS_URL_RE.sub("", text))
    bare = re.sub(r"https?://\S+", "", bare)
    if re.search(r"[\u3040-\u30ff]", bare):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", bare):
        return "ko"
    if re.search(r"[\u4e00-\u9fff]", bare):
        return "zh"
    if re.search(r"[\u0400-\u04ff]", bare):
        return "ru"
    if re.search(r"[\u0600-\u06ff]", bare):
        return "ar"
    if re.search(r"[^\W\d_]", HASHTAG_RE.sub("", bare)):
        return "en"
    return "qme" if MENTION_RE.search(text) else "zxx"


class ApiError(Exception):
    """An error response; raised anywhere inside a request and rendered by the wrapper."""

    def __init__(self, status: int, body: dict[str, Any], content_type: str = PROBLEM_TYPE):
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def generic_problem(status: int, detail: str | None = None) -> dict[str, Any]:
    phrase = http.HTTPStatus(status).phrase
    return {"title": phrase, "type": "about:blank", "status": status, "detail": detail or phrase}


def invalid(name: str | None, value: str | None, message: str) -> ApiError:
    """The invalid-request problem (400), one entry per offending parameter."""
    parameters = {name: [value if value is not None else ""]} if name else {}
    return ApiError(400, {"errors": [{"parameters": parameters, "message": message}],
                          "title": "Invalid Request",
                          "detail": "One or more parameters to your request was invalid.",
                          "type": PROBLEM + "invalid-request"})


def not_found(kind: str, parameter: str, value: str) -> dict[str, Any]:
    """A resource-not-found problem as X puts it in a 200's ``errors`` array."""
    return {"value": value, "detail": f"Could not find {kind} with {parameter}: [{value}].",
            "title": "Not Found Error", "resource_type": kind, "parameter": parameter,
            "resource_id": value, "type": PROBLEM + "resource-not-found"}


@dataclass
class User:
    id: str
    username: str
    name: str
    created_at: float
    description: str = ""
    location: str = ""
    url: str = ""
    protected: bool = False
    verified: bool = False
    followers_count: int = 0
    following_count: int = 0
    listed_count: int = 0


@dataclass
class Post:
    id: str
    author_id: str
    text: str
    submitted_text: str
    created_at: float
    conversation_id: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced: list[tuple[str, str]] = field(default_factory=list)
    urls: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[tuple[int, int, str]] = field(default_factory=list)
    metrics: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRIC_KEYS, 0))
    reply_settings: str = "everyone"
    lang: str = "en"
    deleted: bool = False


@dataclass
class DmEvent:
    id: str
    conversation_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: float
    event_type: str = "MessageCreate"


@dataclass
class Fault:
    """The next ``count`` API calls matching (method, path prefix) misbehave.

    kind ``error``: fail with ``status`` before anything happens; ``error_after_write``:
    apply the call, then answer ``status`` without the result; ``drop_response``: apply
    the call, then close the connection without any response.
    """

    id: int
    path_prefix: str
    status: int = 503
    count: int = 1
    method: str | None = None
    kind: str = "error"

    KINDS = ("error", "error_after_write", "drop_response")

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and path.startswith(self.path_prefix)
                and (self.method is None or self.method.upper() == method.upper()))


def wrap_urls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Replace each URL by a t.co link as X does, returning the url entities."""
    out, urls, last = [], [], 0
    for found in extract_urls_with_indices(text):
        start, end = found["indices"]
        original = found["url"]
        link = "https://t.co/" + "".join(secrets.choice(string.ascii_letters + string.digits)
                                         for _ in range(10))
        out.append(text[last:start])
        begin = sum(len(part) for part in out)
        out.append(link)
        expanded = original if "://" in original else "http://" + original
        display = expanded.split("://", 1)[1]
        display = display.removeprefix("www.")
        if len(display) > 26:
            display = display[:25] + "…"
        urls.append({"start": begin, "end": begin + len(link), "url": link,
                     "expanded_url": expanded, "display_url": display})
        last = end
    out.append(text[last:])
    return "".join(out), urls


def mention_spans(text: str, urls: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, end, username) of each @mention outside URLs, code-point indices."""
    return [(m.start(), m.end(), m.group(1)) for m in MENTION_RE.finditer(text)
            if not any(u["start"] <= m.start() < u["end"] for u in urls)]


class XState:
    """Everything the network knows: accounts, posts, DMs, windows, faults, the call log."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.ids = Snowflake(self.clock)
        self._seq = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self.limits = RateLimits(defaults={**RATE_LIMITS, **{
            k: tuple(v) for k, v in settings.get("rate_limits", {}).items()}})
        self.chaos = Chaos(int(settings.get("seed", 0)))
        self.outage = Outage(self.clock)
        self.tier = "recorded"
        self.brand_handle: str = settings.get("brand_handle", "socialdesk_demo")
        self.token: str = settings.get("token") or secrets.token_urlsafe(64)
        self.app_token: str = (settings.get("app_token")
                               or "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(60))
        self.brand_id: str = str(settings.get("brand_user_id") or self.ids.next())
        self.reset()

    def reset(self) -> None:
        """Forget everything but the brand account and its tokens (the clock keeps its
        offset so ids stay time-ordered)."""
        with self.lock:
            self.users: dict[str, User] = {}
            self.handles: dict[str, str] = {}
            self.posts: dict[str, Post] = {}
            self.by_author: dict[str, list[Post]] = {}
            self.by_mention: dict[str, list[Post]] = {}
            self.dms: dict[str, DmEvent] = {}
            self.faults: list[Fault] = []
            self.calls: list[dict[str, Any]] = []
            self.limits.reset()
            self.tier = "recorded"
            self.chaos.clear()
            self.chaos.reseed(self.chaos.seed)
            self.outage.clear()
            brand = self.add_user(self.brand_handle, user_id=self.brand_id)
            brand.description = "Official support account (sandbox)"
            brand.verified = True
            self.tokens = {self.token: brand.id}

    def new_id(self, at: float | None = None) -> str:
        if at is None:
            return self.ids.next()
        value = snowflake_at(at, next(self._seq))
        while str(value) in self.posts or str(value) in self.dms:
            value += 1
        return str(value)

    def add_user(self, handle: str, user_id: str | None = None) -> User:
        if not USERNAME_RE.match(handle):
            raise ValueError(f"not a valid X handle: {handle!r}")
        with self.lock:
            existing = self.handles.get(handle.lower())
            if existing:
                return self.users[existing]
            name = " ".join(part.capitalize() for part in handle.split("_") if part) or handle
            user = User(id=user_id or self.ids.next(), username=handle, name=name,
                        created_at=self.clock.now())
            self.users[user.id] = user
            self.handles[handle.lower()] = user.id
            return user

    def user_by_handle(self, handle: str) -> User | None:
        uid = self.handles.get(handle.lower())
        return self.users.get(uid) if uid else None

    def live_post(self, post_id: str) -> Post | None:
        post = self.posts.get(post_id)
        return post if post and not post.deleted else None

    def create_post(self, author: User, text: str, *, reply_to: Post | None = None,
                    quote_of: Post | None = None, repost_of: Post | None = None,
                    at: float | None = None, reply_settings: str = "everyone") -> Post:
        with self.lock:
            created = self.clock.now() if at is None else at
            post_id = self.new_id(at)
            if repost_of is not None:
                original = self.users[repost_of.author_id]
                text = f"RT @{original.username}: {repost_of.text}"
            body, urls = wrap_urls(text) if repost_of is None else (text, [])
            post = Post(id=post_id, author_id=author.id, text=body, submitted_text=text,
                        created_at=created, conversation_id=post_id, urls=urls,
                        reply_settings=reply_settings, lang=detect_lang(text),
                        mentions=mention_spans(body, urls))
            if reply_to is not None:
                post.conversation_id = reply_to.conversation_id
                post.in_reply_to_tweet_id = reply_to.id
                post.in_reply_to_user_id = reply_to.author_id
                post.referenced.append(("replied_to", reply_to.id))
                reply_to.metrics["reply_count"] += 1
            if quote_of is not None:
                post.referenced.append(("quoted", quote_of.id))
                quote_of.metrics["quote_count"] += 1
            if repost_of is not None:
                post.referenced.append(("retweeted", repost_of.id))
                repost_of.metrics["retweet_count"] += 1
            self.posts[post.id] = post
            self.by_author.setdefault(author.id, []).append(post)
            for handle in {m[2].lower() for m in post.mentions}:
                self.by_mention.setdefault(handle, []).append(post)
            return post

    def create_dm(self, sender: User, recipient: User, text: str,
                  at: float | None = None) -> DmEvent:
        with self.lock:
            low, high = sorted((sender.id, recipient.id), key=int)
            event = DmEvent(id=self.new_id(at), conversation_id=f"{low}-{high}",
                            sender_id=sender.id, recipient_id=recipient.id, text=text,
                            created_at=self.clock.now() if at is None else at)
            self.dms[event.id] = event
            return event

    def newest_first(self, posts: Iterable[Post]) -> list[Post]:
        return sorted((p for p in posts if not p.deleted), key=lambda p: int(p.id), reverse=True)

    def mentions_of(self, user: User) -> list[Post]:
        return self.newest_first(self.by_mention.get(user.username.lower(), []))

    def posts_by(self, user: User) -> list[Post]:
        return self.newest_first(self.by_author.get(user.id, []))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


class Fields:
    """The field and expansion selection of one request, validated against the spec."""

    def __init__(self, expansions: list[str]) -> None:
        self.tweet = set(_list_param("tweet.fields", TWEET_FIELDS))
        self.user = set(_list_param("user.fields", USER_FIELDS))
        self.dm = set(_list_param("dm_event.fields", DM_FIELDS))
        self.expansions = set(_list_param("expansions", expansions))
        for name in ("media.fields", "poll.fields", "place.fields"):
            _list_param(name, _FIELD_PARAMS[name])


def _check_params(allowed: Iterable[str]) -> None:
    names = list(allowed)
    for key, value in request.args.items():
        if key not in names:
            raise invalid(key, value, f"The query parameter [{key}] is not one of "
                                      f"[{','.join(names)}]")


def _list_param(name: str, enum: list[str]) -> list[str]:
    raw = request.args.get(name)
    if raw is None:
        return []
    values = raw.split(",")
    for value in values:
        if value not in enum:
            raise invalid(name, value, f"The `{name}` query parameter value [{value}] is not "
                                       f"one of [{','.join(enum)}]")
    return values


def _int_param(name: str, low: int, high: int, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", raw) or not low <= int(raw) <= high:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not between "
                                 f"{low} and {high}")
    return int(raw)


def _id_value(name: str, raw: str | None) -> str | None:
    if raw is not None and not ID_RE.match(raw):
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] does not match "
                                 f"^[0-9]{{1,19}}$")
    return raw


def _time_param(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not a valid "
                                 "RFC3339 date-time") from None


def _token_param(name: str, dm: bool = False) -> tuple[str, int] | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    decoded = read_token(raw, dm=dm) if raw and (not dm or len(raw) >= 16) else None
    if decoded is None:
        raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
    return decoded


def paginate(items: list[Any], size: int,
             token: tuple[str, int] | None) -> tuple[list[Any], str | None, str | None]:
    """One page of a newest-first list; (page, cursor for next, cursor for previous)."""
    start = 0
    if token is not None:
        direction, cursor = token
        if direction == "next":
            start = next((i for i, item in enumerate(items) if int(item.id) < cursor),
                         len(items))
        else:
            end = next((i for i, item in enumerate(items) if int(item.id) <= cursor),
                       len(items))
            start = max(0, end - size)
    page = items[start:start + size]
    following = page[-1].id if page and start + size < len(items) else None
    previous = page[0].id if page and token is not None and start > 0 else None
    return page, following, previous


SCHEMA_ID = {"type": "string", "pattern": r"^[0-9]{1,19}$"}
_REPLY_SETTING = {"type": "string",
                  "enum": ["following", "mentionedUsers", "subscribers", "verified"]}
# TweetCreateRequest (2.159); it and every nested object are ``additionalProperties: false``.
_CREATE_PROPERTIES: dict[str, Any] = {
    "card_uri": {"type": "string"},
    "community_id": SCHEMA_ID,
    "direct_message_deep_link": {"type": "string"},
    "edit_options": {"type": "object", "additionalProperties": False,
                     "required": ["previous_post_id"],
                     "properties": {"previous_post_id": SCHEMA_ID}},
    "for_super_followers_only": {"type": "boolean"},
    "geo": {"type": "object", "additionalProperties": False,
            "properties": {"place_id": {"type": "string"}}},
    "media": {"type": "object", "additionalProperties": False, "required": ["media_ids"],
              "properties": {"media_ids": {"type": "array", "minItems": 1, "maxItems": 4,
                                           "items": SCHEMA_ID},
                             "tagged_user_ids": {"type": "array", "minItems": 0,
                                                 "maxItems": 10, "items": SCHEMA_ID}}},
    "nullcast": {"type": "boolean"},
    "poll": {"type": "object", "additionalProperties": False,
             "required": ["options", "duration_minutes"],
             "properties": {"duration_minutes": {"type": "integer", "minimum": 5,
                                                 "maximum": 10080},
                            "options": {"type": "array", "minItems": 2, "maxItems": 4,
                                        "items": {"type": "string", "minLength": 1,
                                                  "maxLength": 25}},
                            "reply_settings": _REPLY_SETTING}},
    "quote_tweet_id": SCHEMA_ID,
    "reply": {"type": "object", "additionalProperties": False,
              "required": ["in_reply_to_tweet_id"],
              "properties": {"auto_populate_reply_metadata": {"type": "boolean"},
                             "exclude_reply_user_ids": {"type": "array", "items": SCHEMA_ID},
                             "in_reply_to_tweet_id": SCHEMA_ID}},
    "reply_settings": _REPLY_SETTING,
    "share_with_followers": {"type": "boolean"},
    "text": {"type": "string"},
}
TWEET_CREATE_SCHEMA = {"type": "object", "additionalProperties": False,
                       "properties": _CREATE_PROPERTIES}
_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The small JSON-Schema subset the request bodies need, worded like X's validator."""
    kind = schema.get("type")
    expected = _JSON_TYPES.get(kind or "")
    if expected and (not isinstance(value, expected)
                     or (kind == "integer" and isinstance(value, bool))):
        found = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
                 float: "number", type(None): "null"}.get(type(value), "unknown")
        return [f"{path}: {found} found, {kind} expected"]
    errors: list[str] = []
    if kind == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: is missing but it is required")
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: is not defined in the schema and the schema does "
                              "not allow additional properties")
    elif kind == "array":
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: there must be a minimum of {schema['minItems']} items in "
                          "the array")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: there must be a maximum of {schema['maxItems']} items in "
                          "the array")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    elif kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match the regex pattern {schema['pattern']}")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: does not have a value in the enumeration "
                          f"[{', '.join(schema['enum'])}]")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: may only be {schema['maxLength']} characters long")
    elif kind == "integer":
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: must have a minimum value of {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: must have a maximum value of {schema['maximum']}")
    return errors


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise ApiError(400, {"errors": [{"parameters": {}, "message": "Request body is not "
                                         "valid JSON"}], "title": "Invalid Request",
                             "detail": "One or more parameters to your request was invalid.",
                             "type": PROBLEM + "invalid-request"}) from None


def _body_problem(messages: list[str]) -> ApiError:
    return ApiError(400, {"errors": [{"parameters": {}, "message": m} for m in messages],
                          "title": "Invalid Request",
                          "detail": "One or more parameters to your request was invalid.",
                          "type": PROBLEM + "invalid-request"})


class QueryError(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message, self.position = message, position


Node = tuple[Any, ...]
_OPERATORS = {"from", "to", "conversation_id", "is", "has", "lang"}
_IS = {"retweet", "reply", "quote", "verified"}
_HAS = {"mentions", "links", "hashtags"}
_INVALID_OPERATOR = ("Reference to invalid operator '{}'. Operator is not available in current "
                     "product or product packaging. Please refer to complete available operator "
                     "list at https://developer.twitter.com/en/docs/twitter-api/enterprise/"
                     "rules-and-filtering/operators-by-product.")


def _query_tokens(query: str) -> list[tuple[str, bool, str, int]]:
    """(kind, negated, text, 1-based position) for ``(``, ``)``, phrases and words."""
    tokens, pos = [], 0
    while pos < len(query):
        if query[pos].isspace():
            pos += 1
            continue
        start, negated = pos, False
        if query[pos] == "-" and pos + 1 < len(query) and not query[pos + 1].isspace():
            negated, pos = True, pos + 1
        char = query[pos]
        if char in "()":
            tokens.append((char, negated, char, start + 1))
            pos += 1
        elif char == '"':
            close = query.find('"', pos + 1)
            if close < 0:
                raise QueryError("Missing closing quote", start + 1)
            tokens.append(("phrase", negated, query[pos + 1:close], start + 1))
            pos = close + 1
        else:
            word = re.compile(r'[^\s()"]+').match(query, pos)
            assert word is not None
            tokens.append(("word", negated, word.group(), start + 1))
            pos = word.end()
    return tokens


class QueryParser:
    """Recent-search rules: implicit AND by space, ``OR`` (AND binds first), ``-`` and
    parentheses, over the operators socialdesk relies on."""

    def __init__(self, query: str) -> None:
        self.tokens = _query_tokens(query)
        self.i = 0

    def parse(self) -> Node:
        node = self._or()
        if self.i < len(self.tokens):
            kind, _, text, pos = self.tokens[self.i]
            raise QueryError(f"missing EOF at '{text}'", pos)
        if not _standalone(node):
            if _has_positive_filter(node):
                raise QueryError("is/has/lang cannot be used as a standalone operator", 1)
            raise QueryError("Rules must contain at least one positive, non-stopword clause", 1)
        return node

    def _is_or(self) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i][:3] == ("word", False, "OR")

    def _or(self) -> Node:
        parts = [self._and()]
        while self._is_or():
            self.i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _and(self) -> Node:
        parts: list[Node] = []
        while self.i < len(self.tokens) and self.tokens[self.i][0] != ")" and not self._is_or():
            if self.tokens[self.i][:3] == ("word", False, "AND"):
                self.i += 1
                continue
            parts.append(self._unary())
        if not parts:
            pos = self.tokens[self.i][3] if self.i < len(self.tokens) else 1
            text = self.tokens[self.i][2] if self.i < len(self.tokens) else "<EOF>"
            raise QueryError(f"no viable alternative at input '{text}'", pos)
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _unary(self) -> Node:
        kind, negated, text, pos = self.tokens[self.i]
        self.i += 1
        if kind == "(":
            node = self._or()
            if self.i >= len(self.tokens) or self.tokens[self.i][0] != ")":
                raise QueryError("Missing closing parenthesis", pos)
            self.i += 1
        elif kind == "phrase":
            node = ("phrase", text.casefold())
        else:
            node = self._term(text, pos)
        return ("not", node) if negated else node

    def _term(self, text: str, pos: int) -> Node:
        if text in ("and", "or"):
            raise QueryError(f"Ambiguous use of {text} as a keyword. Use a space to logically join "
                             f'two clauses, or "{text}" to find occurrences of {text} in text', pos)
        if text[0] in "@＠" and len(text) > 1:
            return ("mention", text[1:].casefold())
        if text[0] in "#＃" and len(text) > 1:
            return ("hashtag", text[1:].casefold())
        operator, colon, argument = text.partition(":")
        if colon and not argument.startswith("//"):
            if operator not in _OPERATORS or not argument \
                    or (operator == "is" and argument not in _IS) \
                    or (operator == "has" and argument not in _HAS):
                raise QueryError(_INVALID_OPERATOR.format(text if operator in ("is", "has")
                                                          else operator), pos)
            return (operator, argument.casefold().lstrip("@"))
        return ("word", text.casefold())


def _standalone(node: Node) -> bool:
    kind = node[0]
    if kind == "and":
        return any(_standalone(n) for n in node[1])
    if kind == "or":
        return all(_standalone(n) for n in node[1])
    return kind not in ("not", "is", "has", "lang")


def _has_positive_filter(node: Node) -> bool:
    if node[0] in ("and", "or"):
        return any(_has_positive_filter(n) for n in node[1])
    return node[0] in ("is", "has", "lang")


def query_matches(node: Node, post: Post, state: XState) -> bool:
    kind = node[0]
    if kind == "and":
        return all(query_matches(n, post, state) for n in node[1])
    if kind == "or":
        return any(query_matches(n, post, state) for n in node[1])
    if kind == "not":
        return not query_matches(node[1], post, state)
    value = node[1]
    haystack = " ".join([post.text] + [u["expanded_url"] for u in post.urls]).casefold()
    author = state.users[post.author_id]
    if kind == "word":
        if re.fullmatch(r"\w+", value):
            return value in re.findall(r"\w+", haystack)
        return value in haystack
    if kind == "phrase":
        return re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", haystack) is not None
    if kind == "mention":
        return value in {m[2].lower() for m in post.mentions}
    if kind == "hashtag":
        return value in {h.casefold() for h in HASHTAG_RE.findall(post.text)}
    if kind == "from":
        return value in (author.username.lower(), author.id)
    if kind == "to":
        target = state.users.get(post.in_reply_to_user_id or "")
        return target is not None and value in (target.username.lower(), target.id)
    if kind == "conversation_id":
        return post.conversation_id == value
    if kind == "lang":
        return post.lang == value
    if kind == "is":
        types = {t for t, _ in post.referenced}
        return {"retweet": "retweeted" in types, "quote": "quoted" in types,
                "reply": post.in_reply_to_tweet_id is not None,
                "verified": author.verified}[value]
    return {"mentions": bool(post.mentions), "links": bool(post.urls),
            "hashtags": bool(HASHTAG_RE.search(post.text))}[value]


class Includes:
    """Collects ``includes`` (and partial ``errors``) for the expansions asked for."""

    def __init__(self, api: "XApi", fields: Fields) -> None:
        self.api, self.fields = api, fields
        self.users: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []

    def user(self, user_id: str | None) -> None:
        user = self.api.state.users.get(user_id or "")
        if user is not None and user.id not in self.users:
            self.users[user.id] = self.api.user_obj(user, self.fields.user)

    def tweet(self, tweet_id: str, parameter: str) -> None:
        post = self.api.state.live_post(tweet_id)
        if post is None:
            self.errors.append(not_found("tweet", parameter, tweet_id))
        elif post.id not in self.tweets:
            self.tweets[post.id] = self.api.tweet_obj(post, self.fields.tweet)

    def expand_post(self, post: Post) -> None:
        wanted = self.fields.expansions
        if "author_id" in wanted:
            self.user(post.author_id)
        if "in_reply_to_user_id" in wanted:
            self.user(post.in_reply_to_user_id)
        if "entities.mentions.username" in wanted:
            for _, _, handle in post.mentions:
                found = self.api.state.user_by_handle(handle)
                self.user(found.id if found else None)
        for _, ref_id in post.referenced:
            if "referenced_tweets.id" in wanted:
                self.tweet(ref_id, "referenced_tweets.id")
            ref = self.api.state.live_post(ref_id)
            if ref is not None and "referenced_tweets.id.author_id" in wanted:
                self.user(ref.author_id)

    def expand_dm(self, event: DmEvent) -> None:
        wanted = self.fields.expansions
        if "sender_id" in wanted:
            self.user(event.sender_id)
        if "referenced_tweets.id" in wanted:
            for tweet_id in STATUS_URL_RE.findall(event.text):
                self.tweet(tweet_id, "referenced_tweets.id")

    def attach(self, body: dict[str, Any]) -> dict[str, Any]:
        includes: dict[str, Any] = {}
        if self.users:
            includes["users"] = list(self.users.values())
        if self.tweets:
            includes["tweets"] = list(self.tweets.values())
        if includes:
            body["includes"] = includes
        if self.errors:
            body["errors"] = self.errors
        return body


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


def _minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class XApi:
    """The Flask app: API routes under ``/2/``, control routes under ``/_sandbox/``."""

    def __init__(self, state: XState) -> None:
        self.state = state
        self.app = app = Flask("sandbox.x")
        app.extensions["sandbox_state"] = state
        tweet_read = _TWEET_READ
        api_routes: list[tuple[str, str, str, bool, View, tuple[str, ...]]] = [
            ("/2/users/me", "GET", "users_me", True, self.users_me,
             ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/by/username/<username>", "GET", "users_by_username", False,
             self.user_by_username, ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/<id>", "GET", "users_by_id", False, self.user_by_id,
             ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/<id>/mentions", "GET", "mentions", False, self.mentions,
             _TIMELINE + tweet_read),
            ("/2/users/<id>/tweets", "GET", "user_tweets", False, self.user_tweets,
             _TIMELINE[:4] + ("exclude",) + _TIMELINE[4:] + tweet_read),
            ("/2/tweets/<id>", "GET", "tweet_lookup", False, self.tweet, tweet_read),
            ("/2/tweets", "GET", "tweets_lookup", False, self.tweets, ("ids",) + tweet_read),
            ("/2/tweets/search/recent", "GET", "search_recent", False, self.search,
             ("query", "start_time", "end_time", "since_id", "until_id", "max_results",
              "next_token", "pagination_token", "sort_order") + tweet_read),
            ("/2/tweets", "POST", "create_tweet", True, self.create_tweet, ()),
            ("/2/tweets/<id>", "DELETE", "delete_tweet", True, self.delete_tweet, ()),
            ("/2/dm_conversations/with/<participant_id>/messages", "POST", "dm_write", True,
             self.dm_send_with, ()),
            ("/2/dm_conversations/<conversation_id>/messages", "POST", "dm_write", True,
             self.dm_send_in, ()),
            ("/2/dm_events", "GET", "dm_read", True, self.dm_events, _DM_READ),
            ("/2/dm_conversations/with/<participant_id>/dm_events", "GET", "dm_read", True,
             self.dm_events_with, _DM_READ),
            ("/2/dm_conversations/<conversation_id>/dm_events", "GET", "dm_read", True,
             self.dm_events_in, _DM_READ),
        ]
        for rule, method, family, user_only, view, params in api_routes:
            app.add_url_rule(rule, f"{method} {rule}", self._endpoint(view, family, user_only,
                                                                       params), methods=[method])
        control: list[tuple[str, str, Callable[..., Response]]] = [
            ("/_sandbox/posts", "POST", self.c_create_post),
            ("/_sandbox/posts", "GET", self.c_list_posts),
            ("/_sandbox/posts/<post_id>/metrics", "POST", self.c_metrics),
            ("/_sandbox/users", "POST", self.c_user),
            ("/_sandbox/reset", "POST", self.c_reset),
            ("/_sandbox/clock", "GET", self.c_clock),
            ("/_sandbox/clock", "POST", self.c_clock),
            ("/_sandbox/limits", "GET", self.c_limits),
            ("/_sandbox/limits", "POST", self.c_limits),
            ("/_sandbox/requests", "GET", self.c_requests),
            ("/_sandbox/requests", "DELETE", self.c_requests),
            ("/_sandbox/faults", "GET", self.c_faults),
            ("/_sandbox/faults", "POST", self.c_faults),
            ("/_sandbox/faults", "DELETE", self.c_faults),
            ("/_sandbox/seed", "GET", self.c_seed),
            ("/_sandbox/seed", "POST", self.c_seed),
            ("/_sandbox/outage", "GET", self.c_outage),
            ("/_sandbox/outage", "POST", self.c_outage),
            ("/_sandbox/outage", "DELETE", self.c_outage),
        ]
        for rule, method, view in control:
            app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
        app.after_request(self._log)
        app.register_error_handler(404, self._routing_error)
        app.register_error_handler(405, self._routing_error)

    # -- plumbing ---------------------------------------------------------------------

    def _endpoint(self, view: View, family: str, user_only: bool,
                  params: tuple[str, ...]) -> Callable[..., Response]:
        def endpoint(**kwargs: str) -> Response:
            return self._serve(view, family, user_only, params, kwargs)
        return endpoint

    def _caller(self) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        if token == self.state.app_token:
            return "app"
        return self.state.tokens.get(token.strip())

    def _serve(self, view: View, family: str, user_only: bool, params: tuple[str, ...],
               kwargs: dict[str, str]) -> Response:
        """Auth, then the rate window, then faults, then the view (under the state lock).

        X sends no rate headers with a 401 (auth happens first; recorded in
        plhery/node-twitter-api-v2#425), every later answer carries them.
        """
        state = self.state
        left = state.outage.refuse()
        if left is not None:
            return self._outage(left)
        caller = self._caller()
        if caller is None:
            return self._render(401, generic_problem(401), PROBLEM_TYPE)
        who = "app" if caller == "app" else f"user:{caller}"
        allowed, limit, remaining, reset = state.limits.take(family, who, state.clock.now())
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
                   "x-rate-limit-reset": str(int(reset))}
        if not allowed:
            return self._render(429, generic_problem(429), PROBLEM_TYPE, headers)
        if user_only and caller == "app":
            return self._render(403, UNSUPPORTED_AUTH, PROBLEM_TYPE, headers)
        fault = g.fault = state.take_fault(request.method, request.path)
        if fault is not None and fault.kind == "error":
            return self._render(fault.status, generic_problem(fault.status), PROBLEM_TYPE,
                                headers)
        chaos = g.chaos = None if fault is not None else state.chaos.draw(request.method,
                                                                            (request.path,))
        if chaos is not None and chaos.kind in ("429", "5xx", "reset"):
            return self._refuse(chaos, headers)
        g.user = state.users.get(caller)
        try:
            with state.lock:
                _check_params(params)
                status, body = view(**kwargs)
            content_type = JSON_TYPE
        except ApiError as error:
            status, body, content_type = error.status, error.body, error.content_type
        if fault is not None and fault.kind == "error_after_write":
            return self._render(fault.status, generic_problem(fault.status), PROBLEM_TYPE,
                                headers)
        if fault is not None and fault.kind == "drop_response":
            return self._dropped(status)
        if chaos is not None and chaos.kind == "drop_response":
            return self._dropped(status)
        return self._render(status, body, content_type, headers)

    def _refuse(self, chaos: ChaosFault, headers: dict[str, str]) -> Response:
        """A probabilistic fault that stops the call before it does anything. X's 429
        carries the x-rate-limit-* headers with nothing remaining and the reset (the
        window's own, or ``retry_after`` from now); X sends no Retry-After."""
        if chaos.kind == "reset":
            return cut_connection()
        if chaos.kind == "5xx":
            status = chaos.status or 503
            return self._render(status, generic_problem(status), PROBLEM_TYPE, headers)
        throttled = dict(headers, **{"x-rate-limit-remaining": "0"})
        if chaos.retry_after is not None:
            throttled["x-rate-limit-reset"] = str(int(self.state.clock.now() + chaos.retry_after))
        return self._render(429, generic_problem(429), PROBLEM_TYPE, throttled)

    def _outage(self, left: float) -> Response:
        """X down: 503 problem to every API call (Retry-After when the end is known)."""
        after = retry_after_seconds(left)
        return self._render(503, generic_problem(503), PROBLEM_TYPE,
                            {"Retry-After": after} if after else None)

    @staticmethod
    def _render(status: int, body: dict[str, Any], content_type: str,
                headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        headers=headers or {}, content_type=content_type)

    @staticmethod
    def _dropped(status: int) -> Response:
        """Close the connection without a byte of response: shut the socket down, then
        raise a connection error, which werkzeug treats as a client that went away."""
        connection = request.environ.get("werkzeug.socket")

        def body() -> Iterator[bytes]:
            if connection is not None:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionAbortedError("sandbox fault: response dropped")
            yield b""  # pragma: no cover
        return Response(body(), status=status)

    def _log(self, response: Response) -> Response:
        if request.path.startswith("/2/"):
            fault = g.get("fault")
            entry: dict[str, Any] = {"method": request.method, "path": request.path,
                                     "query": request.query_string.decode(),
                                     "status": response.status_code,
                                     "at": iso(self.state.clock.now())}
            if request.method in ("POST", "PUT"):
                entry["body"] = request.get_json(silent=True)
            chaos: ChaosFault | None = g.get("chaos")
            if fault is not None:
                entry["fault"] = fault.kind
            elif chaos is not None:
                entry["fault"] = chaos.kind
            with self.state.lock:
                self.state.calls.append(entry)
                del self.state.calls[:-10_000]
            hold(chaos)
        return response

    def _routing_error(self, error: Exception) -> Response:
        status = getattr(error, "code", 404) or 404
        if request.path.startswith("/2/"):
            return self._render(status, generic_problem(status), PROBLEM_TYPE)
        return self._render(status, {"error": http.HTTPStatus(status).phrase}, JSON_TYPE)

    # -- representations --------------------------------------------------------------

    def user_obj(self, user: User, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        counted = fields & {"public_metrics", "most_recent_tweet_id"}
        own = self.state.posts_by(user) if counted else []
        optional: dict[str, Any] = {
            "created_at": lambda: iso(user.created_at),
            "description": lambda: user.description,
            "location": lambda: user.location or None,
            "url": lambda: user.url,
            "protected": lambda: user.protected,
            "verified": lambda: user.verified,
            "verified_type": lambda: "business" if user.verified else "none",
            "profile_image_url": lambda: "https://pbs.twimg.com/profile_images/"
                                         f"{user.id}/avatar_normal.png",
            "public_metrics": lambda: {"followers_count": user.followers_count,
                                       "following_count": user.following_count,
                                       "tweet_count": len(own),
                                       "listed_count": user.listed_count,
                                       "like_count": 0, "media_count": 0},
            "most_recent_tweet_id": lambda: own[0].id if own else None,
        }
        for name, value in optional.items():
            if name in fields and (result := value()) is not None:
                out[name] = result
        return out

    def entities(self, post: Post) -> dict[str, Any]:
        found: dict[str, Any] = {}
        mentions = []
        for start, end, handle in post.mentions:
            entity: dict[str, Any] = {"start": start, "end": end, "username": handle}
            user = self.state.user_by_handle(handle)
            if user is not None:
                entity["id"] = user.id
            mentions.append(entity)
        hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)}
                    for m in HASHTAG_RE.finditer(post.text)]
        for name, items in (("mentions", mentions), ("hashtags", hashtags),
                            ("urls", [dict(u) for u in post.urls])):
            if items:
                found[name] = items
        return found

    def tweet_obj(self, post: Post, fields: set[str]) -> dict[str, Any]:
        """Default fields are exactly id, text, edit_history_tweet_ids (as recorded)."""
        out: dict[str, Any] = {"id": post.id, "text": post.text,
                               "edit_history_tweet_ids": [post.id]}
        optional: dict[str, Callable[[], Any]] = {
            "author_id": lambda: post.author_id,
            "conversation_id": lambda: post.conversation_id,
            "created_at": lambda: iso(post.created_at),
            "in_reply_to_user_id": lambda: post.in_reply_to_user_id,
            "referenced_tweets": lambda: [{"type": t, "id": i} for t, i in post.referenced]
                                         or None,
            "entities": lambda: self.entities(post) or None,
            "lang": lambda: post.lang,
            "public_metrics": lambda: dict(post.metrics),
            "possibly_sensitive": lambda: False,
            "reply_settings": lambda: post.reply_settings,
            "edit_controls": lambda: {
                "edits_remaining": 5,
                "is_edit_eligible": True,
                "editable_until": iso(post.created_at + 3600)},
        }
        for name, value in optional.items():
            if name in fields and (result := value()) is not None:
                out[name] = result
        return out

    def dm_obj(self, event: DmEvent, fields: set[str]) -> dict[str, Any]:
        """Defaults are id, event_type, text; ``participant_ids`` exists only on
        ParticipantsJoin/Leave events (spec), so a MessageCreate never carries it."""
        out: dict[str, Any] = {"id": event.id, "event_type": event.event_type,
                               "text": event.text}
        refs = [{"id": i} for i in STATUS_URL_RE.findall(event.text)]
        optional = {"created_at": iso(event.created_at), "sender_id": event.sender_id,
                    "dm_conversation_id": event.conversation_id,
                    "referenced_tweets": refs or None}
        for name, value in optional.items():
            if name in fields and value is not None:
                out[name] = value
        return out

    def tweet_page(self, items: list[Post], size: int, token: tuple[str, int] | None,
                   fields: Fields, previous: bool = True) -> dict[str, Any]:
        page, following, before = paginate(items, size, token)
        if not page:
            return {"meta": {"result_count": 0}}
        includes = Includes(self, fields)
        for post in page:
            includes.expand_post(post)
        body: dict[str, Any] = {"data": [self.tweet_obj(p, fields.tweet) for p in page]}
        meta: dict[str, Any] = {"newest_id": page[0].id, "oldest_id": page[-1].id,
                                "result_count": len(page)}
        if following:
            meta["next_token"] = make_token("next", following)
        if before and previous:
            meta["previous_token"] = make_token("prev", before)
        body = includes.attach(body)
        body["meta"] = meta
        return body

    def dm_page(self, events: list[DmEvent], fields: Fields) -> dict[str, Any]:
        """Newest first, events of the last 30 days only (DM lookup docs)."""
        size = _int_param("max_results", 1, 100, 100)
        token = _token_param("pagination_token", dm=True)
        types = _list_param("event_types", EVENT_TYPES) or EVENT_TYPES
        floor = self.state.clock.now() - DM_DAYS * 86400
        events = sorted((e for e in events if e.event_type in types and e.created_at >= floor),
                        key=lambda e: int(e.id), reverse=True)
        page, following, before = paginate(events, size, token)
        if not page:
            return {"meta": {"result_count": 0}}
        includes = Includes(self, fields)
        for event in page:
            includes.expand_dm(event)
        body = includes.attach({"data": [self.dm_obj(e, fields.dm) for e in page]})
        meta: dict[str, Any] = {"result_count": len(page)}
        if following:
            meta["next_token"] = make_token("next", following, dm=True)
        if before:
            meta["previous_token"] = make_token("prev", before, dm=True)
        body["meta"] = meta
        return body

    def time_window(self, items: list[Post]) -> list[Post]:
        """since_id/until_id, or else start_time (inclusive)/end_time (exclusive)."""
        since = _id_value("since_id", request.args.get("since_id"))
        until = _id_value("until_id", request.args.get("until_id"))
        start, end = _time_param("start_time"), _time_param("end_time")
        if since is not None:
            items = [p for p in items if int(p.id) > int(since)]
        elif start is not None:
            items = [p for p in items if p.created_at >= start]
        if until is not None:
            items = [p for p in items if int(p.id) < int(until)]
        elif end is not None:
            items = [p for p in items if p.created_at < end]
        return items

    def _user_or_error(self, user_id: str) -> User | None:
        _id_value("id", user_id)
        return self.state.users.get(user_id)

    # -- users ------------------------------------------------------------------------

    def user_payload(self, user: User) -> tuple[int, dict[str, Any]]:
        fields = Fields(USER_EXPANSIONS)
        body: dict[str, Any] = {"data": self.user_obj(user, fields.user)}
        own = self.state.posts_by(user)
        if "most_recent_tweet_id" in fields.expansions and own:
            body["includes"] = {"tweets": [self.tweet_obj(own[0], fields.tweet)]}
        return 200, body

    def users_me(self) -> tuple[int, dict[str, Any]]:
        return self.user_payload(g.user)

    def user_by_username(self, username: str) -> tuple[int, dict[str, Any]]:
        if not USERNAME_RE.match(username):
            raise invalid("username", username, f"The `username` query parameter value "
                                                f"[{username}] does not match "
                                                "^[A-Za-z0-9_]{1,15}$")
        Fields(USER_EXPANSIONS)
        user = self.state.user_by_handle(username)
        if user is None:
            return 200, {"errors": [not_found("user", "username", username)]}
        return self.user_payload(user)

    def user_by_id(self, id: str) -> tuple[int, dict[str, Any]]:
        user = self._user_or_error(id)
        Fields(USER_EXPANSIONS)
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        return self.user_payload(user)

    # -- timelines, lookup, search ----------------------------------------------------

    def mentions(self, id: str) -> tuple[int, dict[str, Any]]:
        """Newest first; only the 800 most recent mentions are reachable at all."""
        user = self._user_or_error(id)
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 5, 100, 10)
        token = _token_param("pagination_token")
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        items = self.time_window(self.state.mentions_of(user)[:MENTIONS_REACH])
        return 200, self.tweet_page(items, size, token, fields)

    def user_tweets(self, id: str) -> tuple[int, dict[str, Any]]:
        """The 3200 most recent posts (800 with exclude=replies), as documented."""
        user = self._user_or_error(id)
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 5, 100, 10)
        token = _token_param("pagination_token")
        exclude = set(_list_param("exclude", ["replies", "retweets"]))
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        items = self.state.posts_by(user)
        if "replies" in exclude:
            items = [p for p in items if p.in_reply_to_tweet_id is None][:TIMELINE_REACH_NO_REPLIES]
        if "retweets" in exclude:
            items = [p for p in items if not any(t == "retweeted" for t, _ in p.referenced)]
        items = self.time_window(items[:TIMELINE_REACH])
        return 200, self.tweet_page(items, size, token, fields)

    def tweet(self, id: str) -> tuple[int, dict[str, Any]]:
        _id_value("id", id)
        fields = Fields(TWEET_EXPANSIONS)
        post = self.state.live_post(id)
        if post is None:
            return 200, {"errors": [not_found("tweet", "id", id)]}
        includes = Includes(self, fields)
        includes.expand_post(post)
        return 200, includes.attach({"data": self.tweet_obj(post, fields.tweet)})

    def tweets(self) -> tuple[int, dict[str, Any]]:
        raw = request.args.get("ids")
        if not raw:
            raise invalid("ids", raw, "The `ids` query parameter can not be empty")
        ids = raw.split(",")
        if len(ids) > 100:
            raise invalid("ids", raw, f"The number of values in the `ids` query parameter list "
                                      f"[{len(ids)}] is not between 1 and 100")
        for value in ids:
            if not ID_RE.match(value):
                raise invalid("ids", value, f"The `ids` query parameter value [{value}] does not "
                                            "match ^[0-9]{1,19}$")
        fields = Fields(TWEET_EXPANSIONS)
        includes = Includes(self, fields)
        data, missing = [], []
        for value in dict.fromkeys(ids):
            post = self.state.live_post(value)
            if post is None:
                missing.append(not_found("tweet", "ids", value))
                continue
            data.append(self.tweet_obj(post, fields.tweet))
            includes.expand_post(post)
        body = includes.attach({"data": data} if data else {})
        if missing:
            body["errors"] = missing + body.get("errors", [])
        return 200, body

    def search(self) -> tuple[int, dict[str, Any]]:
        """Posts of the last 7 days matching the query, newest first (``relevancy`` is
        served in recency order)."""
        query = request.args.get("query")
        if not query:
            raise invalid("query", query, "The `query` query parameter can not be empty")
        if len(query) > 4096:
            raise invalid("query", query, f"The `query` query parameter value [{query}] is not "
                                          "between 1 and 4096 characters")
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 10, 100, 10)
        sort = request.args.get("sort_order")
        if sort is not None and sort not in ("recency", "relevancy"):
            raise invalid("sort_order", sort, f"The `sort_order` query parameter value [{sort}] "
                                              "is not one of [recency,relevancy]")
        token = _token_param("next_token") or _token_param("pagination_token")
        now = self.state.clock.now()
        floor = now - SEARCH_DAYS * 86400
        start, end = _time_param("start_time"), _time_param("end_time")
        if start is not None and start < floor:
            raise invalid("start_time", request.args["start_time"],
                          f"Invalid 'start_time':'{_minute(start)}'. 'start_time' must be on or "
                          f"after {_minute(floor)}")
        if end is not None and end > now - 10:
            raise invalid("end_time", request.args["end_time"],
                          f"Invalid 'end_time':'{_minute(end)}'. 'end_time' must be a minimum of "
                          "10 seconds prior to the request time.")
        since = _id_value("since_id", request.args.get("since_id"))
        oldest_id = snowflake_at(floor, 0)
        if since is not None and int(since) < oldest_id:
            raise invalid("since_id", since, f"'since_id' must be a tweet id created after "
                                             f"{_minute(floor)}. Please use a 'since_id' that is "
                                             f"larger than {oldest_id}")
        try:
            tree = QueryParser(query).parse()
        except QueryError as error:
            raise invalid("query", query, "There were errors processing your request: "
                                          f"{error.message} (at position {error.position})")
        items = [p for p in self.state.newest_first(self.state.posts.values())
                 if p.created_at >= floor and query_matches(tree, p, self.state)]
        return 200, self.tweet_page(self.time_window(items), size, token, fields,
                                    previous=False)

    # -- writes -----------------------------------------------------------------------

    def create_tweet(self) -> tuple[int, dict[str, Any]]:
        """Validation order: schema, media, empty text, reply/quote target, weighted length
        (400 invalid-request, as quoted from real tweepy errors), then duplicate (403)."""
        body = _json_body()
        errors = schema_errors(body, TWEET_CREATE_SCHEMA)
        if errors:
            raise _body_problem(errors)
        if "media" in body:
            raise invalid("media.media_ids", ",".join(body["media"]["media_ids"]),
                          "Your media IDs are invalid.")
        text: str = body.get("text", "")
        if not text.strip() and "poll" not in body:
            raise invalid("text", text, "Post text must not be empty.")
        user: User = g.user
        reply_to = quote = None
        if "reply" in body:
            reply_to = self.state.live_post(body["reply"]["in_reply_to_tweet_id"])
            if reply_to is None:
                raise ApiError(403, generic_problem(403, "You attempted to reply to a Tweet that "
                                                         "is deleted or not visible to you."))
        if "quote_tweet_id" in body:
            quote = self.state.live_post(body["quote_tweet_id"])
            if quote is None:
                raise ApiError(403, generic_problem(403, "You attempted to quote a Tweet that is "
                                                         "deleted or not visible to you."))
        if parse_tweet(text).weightedLength > MAX_WEIGHTED:
            raise invalid("text", text, TOO_LONG)
        if reply_to is not None and body["reply"].get("auto_populate_reply_metadata"):
            text = self._reply_prefix(reply_to, user, body["reply"]) + text
        since = self.state.clock.now() - DUPLICATE_SECONDS
        if any(p.author_id == user.id and p.submitted_text == text and p.created_at >= since
               for p in self.state.posts.values() if not p.deleted):
            raise ApiError(403, dict(DUPLICATE))
        post = self.state.create_post(user, text, reply_to=reply_to, quote_of=quote,
                                      reply_settings=body.get("reply_settings", "everyone"))
        return 201, {"data": {"id": post.id, "text": post.text}}

    def _reply_prefix(self, parent: Post, user: User, reply: dict[str, Any]) -> str:
        """auto_populate_reply_metadata: the parent's author and the people it mentioned."""
        excluded = set(reply.get("exclude_reply_user_ids", [])) | {user.id}
        handles: dict[str, str] = {}
        author = self.state.users[parent.author_id]
        for handle in [author.username] + [m[2] for m in parent.mentions]:
            found = self.state.user_by_handle(handle)
            if found is not None and found.id not in excluded:
                handles.setdefault(found.id, found.username)
        return "".join(f"@{h} " for h in handles.values())

    def _client_reply_prefix(self, parent: Post, author: User, text: str) -> str:
        """What X's apps put in front of a reply: the parent's author and everyone the
        parent mentioned, less the replier and anyone the text already starts with."""
        leading = {m.lower() for m in re.findall(r"@(\w+)", re.match(r"^(?:@\w+\s+)*", text).group(0))}
        handles: dict[str, str] = {}
        for handle in [self.state.users[parent.author_id].username] + [m[2] for m in parent.mentions]:
            found = self.state.user_by_handle(handle)
            if found is not None and found.id != author.id and found.username.lower() not in leading:
                handles.setdefault(found.id, found.username)
        return "".join(f"@{h} " for h in handles.values())

    def delete_tweet(self, id: str) -> tuple[int, dict[str, Any]]:
        _id_value("id", id)
        post = self.state.live_post(id)
        if post is None:
            return 200, {"data": {"deleted": False}}
        if post.author_id != g.user.id:
            raise ApiError(403, generic_problem(403, "You are not allowed to delete this Tweet."))
        post.deleted = True
        for kind, ref_id in post.referenced:
            ref = self.state.posts.get(ref_id)
            counter = {"replied_to": "reply_count", "quoted": "quote_count",
                       "retweeted": "retweet_count"}[kind]
            if ref is not None and ref.metrics[counter] > 0:
                ref.metrics[counter] -= 1
        return 200, {"data": {"deleted": True}}

    def _dm_text(self) -> str:
        body = _json_body()
        if not isinstance(body, dict):
            raise _body_problem(schema_errors(body, {"type": "object"}))
        if "attachments" in body:
            raise invalid("attachments", None, "Your media IDs are invalid.")
        text = body.get("text")
        if not isinstance(text, str):
            raise _body_problem(["$.text: is missing but it is required"] if text is None
                                else schema_errors(text, {"type": "string"}, "$.text"))
        if not text:
            raise _body_problem(["$.text: must be at least 1 characters long"])
        if len(text) > DM_MAX_CHARS:
            raise ApiError(403, generic_problem(403, "The text of your direct message is over "
                                                     "the max character limit."))
        return text

    def _send_dm(self, recipient: User | None) -> tuple[int, dict[str, Any]]:
        text = self._dm_text()
        if recipient is None or recipient.id == g.user.id:
            raise ApiError(403, generic_problem(403, "You cannot send messages to this user."))
        event = self.state.create_dm(g.user, recipient, text)
        return 201, {"data": {"dm_conversation_id": event.conversation_id,
                              "dm_event_id": event.id}}

    def dm_send_with(self, participant_id: str) -> tuple[int, dict[str, Any]]:
        _id_value("participant_id", participant_id)
        return self._send_dm(self.state.users.get(participant_id))

    def _conversation_peer(self, conversation_id: str) -> User | None:
        if not re.match(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$", conversation_id):
            raise invalid("dm_conversation_id", conversation_id,
                          f"The `dm_conversation_id` query parameter value [{conversation_id}] "
                          "does not match ^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")
        members = conversation_id.split("-")
        if len(members) != 2 or g.user.id not in members:
            raise ApiError(403, generic_problem(403, "You are not a participant in this "
                                                     "conversation."))
        other = members[1] if members[0] == g.user.id else members[0]
        return self.state.users.get(other)

    def dm_send_in(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        return self._send_dm(self._conversation_peer(conversation_id))

    def dm_events(self) -> tuple[int, dict[str, Any]]:
        """Every DM event in a conversation the caller is part of, newest first."""
        fields = Fields(DM_EXPANSIONS)
        me = g.user.id
        return 200, self.dm_page([e for e in self.state.dms.values()
                                  if me in (e.sender_id, e.recipient_id)], fields)

    def dm_events_with(self, participant_id: str) -> tuple[int, dict[str, Any]]:
        _id_value("participant_id", participant_id)
        low, high = sorted((g.user.id, participant_id), key=int)
        return self._conversation_events(f"{low}-{high}")

    def dm_events_in(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        self._conversation_peer(conversation_id)
        return self._conversation_events(conversation_id)

    def _conversation_events(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        fields = Fields(DM_EXPANSIONS)
        return 200, self.dm_page([e for e in self.state.dms.values()
                                  if e.conversation_id == conversation_id], fields)

    # -- control API (/_sandbox/) -----------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type=JSON_TYPE)

    def _fail(self, message: str, status: int = 400) -> Response:
        return self._json({"error": message}, status)

    def c_create_post(self) -> Response:
        """A person on the network posts, replies, reposts, quotes or sends a DM.

        Replies get the parent's author and the accounts it mentioned prepended, as X's
        own apps do (see ``_client_reply_prefix``).
        """
        body = request.get_json(force=True, silent=True) or {}
        handle, text = body.get("author"), body.get("text") or ""
        state = self.state
        try:
            at = parse_time(body["created_at"]) if body.get("created_at") else None
            with state.lock:
                author = state.add_user(str(handle or ""))
                if body.get("dm"):
                    if not text:
                        return self._fail("a DM needs text")
                    to = state.add_user(body["to"]) if body.get("to") else \
                        state.users[state.brand_id]
                    event = state.create_dm(author, to, text, at)
                    return self._json({"id": event.id, "dm_conversation_id":
                                       event.conversation_id}, 201)
                targets: dict[str, Post | None] = {}
                for key in ("in_reply_to", "quote_of", "repost_of"):
                    if body.get(key):
                        targets[key] = state.live_post(str(body[key]))
                        if targets[key] is None:
                            return self._fail(f"{key}: no live post {body[key]}", 404)
                reply_to, repost_of = targets.get("in_reply_to"), targets.get("repost_of")
                if not text and repost_of is None:
                    return self._fail("text is required")
                if reply_to is not None:
                    text = self._client_reply_prefix(reply_to, author, text) + text
                post = state.create_post(author, text, reply_to=reply_to,
                                         quote_of=targets.get("quote_of"), repost_of=repost_of,
                                         at=at)
                return self._json({"id": post.id, "text": post.text,
                                   "conversation_id": post.conversation_id}, 201)
        except (ValueError, KeyError) as error:
            return self._fail(str(error))

    def c_list_posts(self) -> Response:
        """What an account posted (tweets, including deleted ones, and DMs sent), newest
        first; everyone's when no ``author`` is given."""
        state = self.state
        with state.lock:
            handle = request.args.get("author")
            author = state.user_by_handle(handle) if handle else None
            if handle and author is None:
                return self._json({"posts": []})
            entries: list[dict[str, Any]] = []
            for post in state.posts.values():
                if author is None or post.author_id == author.id:
                    entry = {"id": post.id, "text": post.text,
                             "submitted_text": post.submitted_text,
                             "author": state.users[post.author_id].username,
                             "in_reply_to": post.in_reply_to_tweet_id, "dm": False,
                             "conversation_id": post.conversation_id,
                             "created_at": iso(post.created_at),
                             "referenced_tweets": [{"type": t, "id": i}
                                                   for t, i in post.referenced],
                             "metrics": dict(post.metrics), "deleted": post.deleted}
                    entries.append(entry)
            for event in state.dms.values():
                if author is None or event.sender_id == author.id:
                    entries.append({"id": event.id, "text": event.text,
                                    "author": state.users[event.sender_id].username,
                                    "in_reply_to": None, "dm": True,
                                    "conversation_id": event.conversation_id,
                                    "created_at": iso(event.created_at),
                                    "dm_recipient": state.users[event.recipient_id].username})
        entries.sort(key=lambda e: int(e["id"]), reverse=True)
        return self._json({"posts": entries})

    def c_metrics(self, post_id: str) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        with self.state.lock:
            post = self.state.posts.get(post_id)
            if post is None:
                return self._fail(f"no post {post_id}", 404)
            unknown = set(body) - set(METRIC_KEYS)
            if unknown or not all(isinstance(v, int) and v >= 0 for v in body.values()):
                return self._fail(f"metrics are non-negative integers among {METRIC_KEYS}")
            post.metrics.update(body)
            return self._json({"id": post.id, "public_metrics": dict(post.metrics)})

    def c_user(self) -> Response:
        """Create or update an account: name, description, location, url, protected,
        verified, followers_count, following_count, listed_count."""
        body = request.get_json(force=True, silent=True) or {}
        editable = {"name", "description", "location", "url", "protected", "verified",
                    "followers_count", "following_count", "listed_count"}
        try:
            with self.state.lock:
                user = self.state.add_user(str(body.get("handle") or ""))
                for key in editable & set(body):
                    setattr(user, key, body[key])
                return self._json(self.user_obj(user, set(USER_FIELDS)), 201)
        except ValueError as error:
            return self._fail(str(error))

    def c_reset(self) -> Response:
        self.state.reset()
        return self._json({"ok": True})

    def c_clock(self) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                self.state.clock.control(body)
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        now = self.state.clock.now()
        return self._json({"now": iso(now), "epoch": now, "speed": self.state.clock.speed})

    def c_limits(self) -> Response:
        limits = self.state.limits
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                if "tier" in body:
                    self._set_tier(str(body["tier"]))
                if "family" in body or "tier" not in body:
                    limits.set(str(body.get("family")), int(body["limit"]),
                               int(body.get("seconds", WINDOW)))
            except KeyError:
                return self._fail(f"family is one of {sorted(limits.defaults)}; limit is required")
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        figures = {name: {"limit": limit, "seconds": seconds}
                   for name, (limit, seconds) in {**limits.defaults, **limits.overrides}.items()}
        return self._json({"families": figures, "tier": self.state.tier})

    def _set_tier(self, tier: str) -> None:
        """An access tier's figures replace the windows it names (the others are kept)."""
        if tier not in TIERS:
            raise ValueError(f"tier is one of {sorted(TIERS)}")
        limits = self.state.limits
        for family in {f for figures in TIERS.values() for f in figures}:
            limit, seconds = TIERS[tier].get(family) or limits.defaults[family]
            limits.set(family, limit, seconds)
        self.state.tier = tier

    def c_requests(self) -> Response:
        with self.state.lock:
            if request.method == "DELETE":
                self.state.calls.clear()
            return self._json({"requests": list(self.state.calls)})

    def c_faults(self) -> Response:
        state = self.state
        with state.lock:
            if request.method == "DELETE":
                state.faults.clear()
                state.chaos.clear()
            elif request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                if is_chaos_spec(body):
                    try:
                        chaos = state.chaos.add(body)
                    except (TypeError, ValueError) as error:
                        return self._fail(str(error))
                    return self._json({"id": chaos.id, "fault": chaos.json()}, 201)
                kind = body.get("kind", "error")
                try:
                    fault = Fault(id=next(state._fault_ids), path_prefix=str(body["path_prefix"]),
                                  status=int(body.get("status", 500 if kind != "error" else 503)),
                                  count=int(body.get("count", 1)), method=body.get("method"),
                                  kind=kind)
                except (KeyError, TypeError, ValueError):
                    return self._fail("path_prefix is required; status and count are integers")
                if kind not in Fault.KINDS or not 400 <= fault.status <= 599:
                    return self._fail(f"kind is one of {Fault.KINDS}; status is 400-599")
                state.faults.append(fault)
                return self._json({"id": fault.id}, 201)
            return self._json({"faults": [vars(f) for f in state.faults], **state.chaos.json()})

    def c_seed(self) -> Response:
        """The seed of the generator that decides probabilistic faults (set: replay a run)."""
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            try:
                self.state.chaos.reseed(int(body.get("seed", 0)))
            except (TypeError, ValueError) as error:
                return self._fail(str(error))
        return self._json({"seed": self.state.chaos.seed})

    def c_outage(self) -> Response:
        """X down for ``seconds`` of sandbox time, or until DELETE."""
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
        try:
            return self._json({"outage": self.state.outage.control(request.method, body)})
        except (TypeError, ValueError) as error:
            return self._fail(str(error))


def create_service(settings: dict[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the X stand-in. Settings: ``brand_handle``, ``brand_user_id``, ``token``,
    ``app_token``, ``rate_limits`` ({family: [limit, seconds]})."""
    state = XState(settings)
    api = XApi(state)
    return api.app, {"brand_handle": state.brand_handle, "brand_user_id": state.brand_id,
                     "token": state.token, "app_token": state.app_token}
